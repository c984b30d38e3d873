"""Timing: drift-corrected sample times under realistic BLE latency, gaps, uniform resampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timing_helpers import ble_arrivals

from dmi_sensors.timing import (
    find_gaps,
    fit_clock,
    resample_uniform,
    sample_times,
)
from dmi_sensors.timing.clock import lower_support_line, theil_sen_slope
from dmi_sensors.types import SampleBatch

HOUR_S = 3600.0


def _max_err_s(fit, d) -> float:
    return float(np.max(np.abs(fit.time_s(d["counter"]) - d["t_true"])))


@pytest.mark.parametrize("drift_ppm", [-200.0, 0.0, 200.0])
def test_hour_of_drift_corrected_within_1ms(drift_ppm):
    d = ble_arrivals(HOUR_S, drift_ppm=drift_ppm, seed=int(drift_ppm) % 7)
    raw_err = d["host_time_s"] - d["t_true"]
    assert raw_err.min() > 0 and raw_err.max() > 0.5  # positive, heavy-tailed latency (incl. stalls)
    fit = fit_clock(d["counter"], d["host_time_s"], d["fs_hz"])
    assert _max_err_s(fit, d) < 1e-3
    assert fit.drift_ppm == pytest.approx(drift_ppm, abs=0.2)
    # the naive answers are far off: arrival times, and ordinary least squares on them
    k = d["counter"].astype(float)
    slope, icpt = np.polyfit(k, d["host_time_s"], 1)
    assert np.max(np.abs(icpt + slope * k - d["t_true"])) > 0.02
    # without drift correction (nominal rate, best offset) 200 ppm is 0.72 s after an hour
    if drift_ppm:
        nominal = fit.offset_s + k / d["fs_hz"]
        assert np.max(np.abs(nominal - d["t_true"])) > 0.3


def test_robust_to_loss_outages_stalls_and_impossible_early_arrivals():
    rng = np.random.default_rng(3)
    n_packets = int(HOUR_S * 100) // 10
    lost = np.concatenate([rng.choice(n_packets, n_packets // 10, replace=False), np.arange(20000, 20600)])
    d = ble_arrivals(HOUR_S, drift_ppm=-150.0, seed=4, stall_p=0.01, lost_packets=lost)
    host = d["host_time_s"].copy()
    # host clock glitch: a handful of packets stamped 80 ms too early (physically impossible)
    bad = rng.choice(len(host) // 10, 5, replace=False) * 10
    for b in bad:
        host[b : b + 10] -= 0.08
    fit = fit_clock(d["counter"], host, d["fs_hz"])
    assert _max_err_s(fit, d) < 1e-3
    gaps = find_gaps(d["counter"])
    assert gaps.samples_lost == len(np.unique(lost)) * 10


def test_constant_latency_floor_is_not_observable_but_can_be_given():
    d = ble_arrivals(600.0, drift_ppm=80.0, seed=5)
    late = d["host_time_s"] + 0.004
    fit = fit_clock(d["counter"], late, d["fs_hz"])
    err = fit.time_s(d["counter"]) - d["t_true"]
    assert 0.003 < np.median(err) < 0.005  # shifted by the unobservable 4 ms
    fit = fit_clock(d["counter"], late, d["fs_hz"], latency_floor_s=0.004)
    assert _max_err_s(fit, d) < 1e-3


def test_sample_times_of_a_sample_batch():
    d = ble_arrivals(300.0, drift_ppm=-120.0, seed=6)
    n = len(d["counter"])
    batch = SampleBatch(
        sensor_id="S1",
        fs_hz=d["fs_hz"],
        counter=d["counter"],
        device_time_s=d["counter"] / d["fs_hz"],
        host_time_s=d["host_time_s"],
        acc_mps2=np.zeros((n, 3)),
        gyr_rps=np.zeros((n, 3)),
    )
    batch.time_s = sample_times(batch)
    assert np.max(np.abs(batch.time_s - d["t_true"])) < 1e-3
    assert np.all(np.diff(batch.time_s) > 0)


def test_bad_counters_are_rejected():
    with pytest.raises(ValueError, match="strictly increasing"):
        fit_clock(np.array([0, 1, 1, 2]), np.array([0.0, 0.1, 0.2, 0.3]), 100.0)
    with pytest.raises(ValueError, match="equal length"):
        fit_clock(np.arange(4), np.zeros(3), 100.0)
    with pytest.raises(ValueError, match="non-finite"):
        fit_clock(np.arange(3), np.array([0.0, np.nan, 1.0]), 100.0)


def test_theil_sen_equals_scipy_and_support_line_equals_linear_program():
    from scipy.optimize import linprog
    from scipy.stats import theilslopes

    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0, 100, 60))
    y = 0.3 * x + rng.exponential(1.0, 60)
    y[[5, 17]] += 50  # outliers
    assert theil_sen_slope(x, y) == pytest.approx(theilslopes(y, x).slope, rel=1e-12)
    slope, icpt = lower_support_line(x, y)
    # LP: maximise sum(a + b x_i) subject to a + b x_i <= y_i
    res = linprog(c=[-len(x), -x.sum()], A_ub=np.column_stack([np.ones_like(x), x]), b_ub=y, bounds=[(None, None)] * 2)
    assert res.success
    assert icpt == pytest.approx(res.x[0], abs=1e-7) and slope == pytest.approx(res.x[1], abs=1e-9)
    assert np.all(y - (icpt + slope * x) >= -1e-12)


# ----------------------------------------------------------------------------- gaps
@settings(max_examples=50, deadline=None)
@given(drops=st.lists(st.integers(min_value=1, max_value=198), max_size=30, unique=True))
def test_find_gaps_counts_every_lost_sample(drops):
    keep = np.ones(200, bool)
    keep[drops] = False
    counter = np.arange(1000, 1200)[keep]
    gaps = find_gaps(counter)
    assert gaps.samples_lost == len(drops)
    # a flag exactly on the first sample after each run of drops
    after = {i + 1 for i in drops} - set(drops)
    expected = np.isin(np.flatnonzero(keep), sorted(after))
    np.testing.assert_array_equal(gaps.gap_before, expected)
    assert sum(s.stop - s.start for s in gaps.segments()) == len(counter)


def test_find_gaps_from_times_when_counters_are_contiguous():
    counter = np.arange(10)
    t = np.arange(10) / 100.0
    t[6:] += 0.05  # 5 samples of time missing although the counter did not jump
    g = find_gaps(counter, time_s=t, fs_hz=100.0)
    assert np.flatnonzero(g.gap_before).tolist() == [6]
    assert g.missing_samples[6] == 5
    assert find_gaps(counter, gap_before_first=True).gap_before[0]


# ----------------------------------------------------------------------------- resampling
def test_resample_reproduces_linear_signals_and_anchors_the_grid():
    rng = np.random.default_rng(8)
    t = 0.0123 + np.cumsum(rng.uniform(0.0095, 0.0105, 500))
    v = np.column_stack([3.0 * t - 1.0, -2.0 * t])
    grid, out, valid = resample_uniform(t, v, 100.0)
    assert valid.all()
    np.testing.assert_allclose(grid * 100.0, np.round(grid * 100.0), atol=1e-9)  # multiples of 1/fs
    assert grid[0] >= t[0] and grid[-1] <= t[-1]
    np.testing.assert_allclose(out[:, 0], 3.0 * grid - 1.0, atol=1e-12)
    np.testing.assert_allclose(out[:, 1], -2.0 * grid, atol=1e-12)
    # a drifting 100.02 Hz sine, resampled to 100 Hz: error of linear interpolation only
    t2 = np.arange(3000) / 100.02
    g2, s2, _ = resample_uniform(t2, np.sin(2 * np.pi * 1.0 * t2), 100.0)
    assert np.max(np.abs(s2 - np.sin(2 * np.pi * g2))) < (2 * np.pi * 0.01) ** 2 / 8 * 1.01


def test_resample_never_interpolates_across_a_gap():
    t = np.arange(100) / 100.0
    keep = np.ones(100, bool)
    keep[40:55] = False  # 150 ms missing
    t, v = t[keep], np.arange(100.0)[keep]
    grid, out, valid = resample_uniform(t, v, 100.0)
    inside = (grid > t[39] + 1e-9) & (grid < t[40] - 1e-9)
    assert inside.sum() == 15
    assert not valid[inside].any() and np.isnan(out[inside]).all()
    assert valid[~inside].all()
    np.testing.assert_allclose(out[~inside], np.round(grid[~inside] * 100.0), atol=1e-9)
    # gap_before blocks interpolation even when the step is short
    t3 = np.arange(10) / 100.0
    gb = np.zeros(10, bool)
    gb[5] = True
    _g, o3, val3 = resample_uniform(t3 + 0.005, np.arange(10.0), 100.0, gap_before=gb)
    assert not val3[4] and np.isnan(o3[4]) and val3[:4].all() and val3[5:].all()


def test_resample_rejects_bad_times():
    with pytest.raises(ValueError, match="strictly increasing"):
        resample_uniform(np.array([0.0, 0.02, 0.01]), np.zeros(3), 100.0)
    with pytest.raises(ValueError, match="match"):
        resample_uniform(np.arange(3.0), np.zeros(4), 100.0)
