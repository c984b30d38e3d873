"""The analysis runs without ``scipy.signal`` and ``scipy.stats`` (issue 20, memory): importing
``scipy.signal`` loads ``scipy.stats`` with it, ~55 MB of resident memory that a session
analysis paid for three functions. Their replacements give scipy's floats bit for bit."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal, stats

from dmi_sensors.demo.run import DEMO_SUBJECT
from dmi_sensors.metrics import prieto
from dmi_sensors.metrics.spectral import hann_periodic, welch
from dmi_sensors.session import CATALOGUE, Plan, Subject
from dmi_sensors.sim.session import record_simulated_session
from dmi_sensors.store import SessionStore


def test_hann_window_is_scipys_bit_for_bit():
    for n in [*range(1, 1200), 1999, 2000, 4096, 7561, 13917]:
        assert np.array_equal(hann_periodic(n), signal.get_window("hann", n)), n


@pytest.mark.parametrize(
    ("n", "nperseg", "fs_hz", "k"),
    [(255_400, 400, 100.0, 3), (5000, 400, 100.0, 3), (1003, 400, 100.0, 1), (300, 300, 100.0, 2),
     (4001, 201, 50.0, 3), (20_000, 1000, 250.0, 3), (16, 16, 100.0, 3), (917, 64, 52.0, 6)],
)  # fmt: skip
def test_welch_is_scipys_bit_for_bit_with_and_without_detrend(n, nperseg, fs_hz, k):
    rng = np.random.default_rng(n + nperseg)
    a = 9.81 + 0.01 * rng.standard_normal((n, k)) + 0.2 * np.sin(np.arange(n) / 40.0)[:, None]
    a = a - a.mean(axis=0)
    f_want, p_want = signal.welch(a, fs=fs_hz, nperseg=nperseg, axis=0, detrend=False)
    f_got, p_got = welch(np.ascontiguousarray(a.T), fs_hz, nperseg, detrend=False)
    assert np.array_equal(f_got, f_want)
    assert p_got.T.shape == p_want.shape and np.array_equal(p_got.T, p_want)
    rows = np.ascontiguousarray(a.T)  # scipy's per-segment mean depends on the layout: pass the same
    f_got, p_got = welch(rows, fs_hz, nperseg)
    f_want, p_want = signal.welch(rows, fs=fs_hz, nperseg=nperseg, detrend="constant")
    assert np.array_equal(f_got, f_want)
    assert p_got.shape == p_want.shape and np.array_equal(p_got, p_want)


def test_ellipse_f_quantile_is_scipy_stats_bit_for_bit():
    prieto._f95.cache_clear()
    for n in [3, 4, 5, 10, 57, 200, 1001, 25_541, 10**6]:
        assert prieto._f95(n) == float(stats.f.ppf(0.95, 2, n - 2)), n
    assert np.isnan(prieto._f95(2))


_ANALYSE = """
import json, sys
from dmi_sensors.analysis import analyse_session
from dmi_sensors.store import SessionStore
with SessionStore(sys.argv[1]) as store:
    result = analyse_session(store, int(sys.argv[2]), save=False)
print(json.dumps({"repetitions": len(result.repetitions),
                  "scipy": sorted(m for m in sys.modules if m.startswith("scipy."))}))
"""


def test_session_analysis_loads_neither_scipy_signal_nor_stats(tmp_path):
    """Once the Butterworth designs are cached (``dsp._design``: scipy computes each design
    once per machine), an analysis in a fresh interpreter loads neither module. The first
    interpreter fills an empty design cache of its own; the second is the one checked."""
    import os

    plan = Plan("one", [dataclasses.replace(CATALOGUE["sit_box_hips"], target_repetitions=2, hold_s=8.0)])
    db = tmp_path / "s.sqlite"
    with SessionStore(db) as st:
        sid, _ = record_simulated_session(st, Subject(**DEMO_SUBJECT), plan, seed=2, start_utc="2026-01-01T10:00:00Z")
    env = {**os.environ, "DMI_SENSORS_CACHE_DIR": str(tmp_path / "design-cache")}
    outs = []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", _ANALYSE, str(db), str(sid)], capture_output=True, text=True, timeout=600, env=env
        )
        assert run.returncode == 0, run.stderr
        outs.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert (tmp_path / "design-cache" / "butter-sos.json").is_file()
    assert all(out["repetitions"] == 2 * 2 for out in outs)  # two sensors, two repetitions: the analysis ran
    assert "scipy.signal" in outs[0]["scipy"]  # the empty cache was filled by scipy: the check below means something
    loaded = set(outs[1]["scipy"])
    assert "scipy.signal" not in loaded and "scipy.stats" not in loaded, sorted(loaded)
