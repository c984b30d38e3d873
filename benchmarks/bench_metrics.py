"""Windowed sway metrics for 1 h × 8 sensors × 100 Hz in 2 s windows (target: under 2 s).

Per sensor: all Prieto measures of the COM (incl. spectral on RD, AP, ML) and all ISway
measures of the trunk acceleration (incl. spectral on AP, ML) for every adjacent 2 s window
(1800 windows), via :func:`dmi_sensors.metrics.window_metrics`. Inputs are synthetic AR(1)
sway and white-noise acceleration (the numbers do not matter, the work does). The first
call (Numba cache load / compile) is timed separately. Also times the whole-trial
``prieto_measures`` + ``isway_measures`` of one 1 h sensor, and the whole
``analyse_trial`` pipeline (orientation, COM, windows, TTS after 12 pushes) on one
simulated 1 h trial.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

FS_HZ = 100.0
HOURS = 1.0
SENSORS = 8
WINDOW_S = 2.0


def _signals(seed: int, n: int) -> tuple[np.ndarray, ...]:
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    com = lfilter([1.0], [1.0, -0.995], rng.normal(size=(2, n)), axis=1) * 0.2  # mm
    acc = rng.normal(size=(2, n)) * 0.05  # m/s²
    return com[0], com[1], acc[0], acc[1]


def run() -> dict[str, float]:
    from dmi_sensors.metrics import prieto_measures, sliding_windows, window_metrics
    from dmi_sensors.metrics.isway import isway_measures

    n = int(HOURS * 3600 * FS_HZ)
    data = [_signals(s, n) for s in range(SENSORS)]
    starts, stops = sliding_windows(n, FS_HZ, WINDOW_S)

    def all_sensors() -> int:
        cols = 0
        for c_ap, c_ml, a_ap, a_ml in data:
            out = window_metrics(FS_HZ, starts, stops, com_mm=(c_ap, c_ml), acc_mps2=(a_ap, a_ml))
            cols = len(out)
        return cols

    t0 = time.perf_counter()
    n_metrics = all_sensors()
    first = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        all_sensors()
        times.append(time.perf_counter() - t0)

    c_ap, c_ml, a_ap, a_ml = data[0]
    t0 = time.perf_counter()
    prieto_measures(c_ap, c_ml, FS_HZ)
    isway_measures(a_ap, a_ml, FS_HZ)
    whole = time.perf_counter() - t0

    # the whole pipeline on one simulated 1 h trunk-IMU trial: orientation (two passes),
    # COM, filters, summary, 2 s windows, TTS after 12 pushes (4 methods each)
    from dmi_sensors.analysis.trial import analyse_trial
    from dmi_sensors.sim import ImuErrors, Perturbation, Segment, simulate

    pushes = tuple(Perturbation(onset_s=150.0 + 300.0 * k) for k in range(12))
    sim = simulate([Segment("standing", HOURS * 3600, perturbations=pushes)], FS_HZ, 0, 0.6, None, ImuErrors())
    trial = sim.to_trial("bench")
    analyse_trial(trial, com_height_m=0.6, window_s=WINDOW_S)  # warm caches
    t0 = time.perf_counter()
    analyse_trial(trial, com_height_m=0.6, window_s=WINDOW_S, perturbations_s=[p.onset_s for p in pushes])
    pipeline = time.perf_counter() - t0

    return {
        "sensors": SENSORS,
        "hours": HOURS,
        "fs_hz": FS_HZ,
        "window_s": WINDOW_S,
        "windows_per_sensor": len(starts),
        "metrics_per_window": n_metrics,
        "first_call_s": round(first, 3),
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "target_s": 2.0,
        "whole_trial_one_sensor_s": round(whole, 3),
        "analyze_trial_1h_one_sensor_s": round(pipeline, 3),
    }
