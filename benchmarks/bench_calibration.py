"""Calibration: cost of applying a full calibration and of each fit (virtual sensor data)."""

from __future__ import annotations

import time

import numpy as np


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run() -> dict[str, float]:
    from dmi_sensors.calibration import (
        apply,
        calibrate_alignment,
        calibrate_gyro,
        calibrate_six_position,
    )
    from dmi_sensors.calibration.guided import procedure, run_procedure
    from dmi_sensors.sim.calibration import SimulatedSource, random_imu_errors

    source = SimulatedSource("B", random_imu_errors(1), fs_hz=100.0, seed=1)
    quiet = lambda *_: None  # noqa: E731
    still = run_procedure(procedure("gyro"), source, say=quiet)
    poses = run_procedure(procedure("accel"), source, say=quiet)
    bend = run_procedure(procedure("alignment"), source, say=quiet)
    gyro = calibrate_gyro(still.acc_mps2, still.gyr_rps, 100.0, "B")
    accel = calibrate_six_position(poses.acc_mps2, poses.gyr_rps, 100.0, "B")
    alignment = calibrate_alignment(bend.acc_mps2, bend.gyr_rps, 100.0, "B")
    n = 1_000_000
    rng = np.random.default_rng(0)
    acc, gyr = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    t_apply = _best(lambda: apply([accel, gyro, alignment], acc, gyr))
    return {
        "apply_1e6_samples_s": round(t_apply, 4),
        "apply_msamples_per_s": round(n / t_apply / 1e6, 1),
        "gyro_fit_12s_at_100hz_s": round(_best(lambda: calibrate_gyro(still.acc_mps2, still.gyr_rps, 100.0, "B")), 4),
        "six_position_fit_36s_at_100hz_s": round(
            _best(lambda: calibrate_six_position(poses.acc_mps2, poses.gyr_rps, 100.0, "B")), 4
        ),
        "alignment_fit_13s_at_100hz_s": round(
            _best(lambda: calibrate_alignment(bend.acc_mps2, bend.gyr_rps, 100.0, "B")), 4
        ),
    }
