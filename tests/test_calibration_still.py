"""Still detection and gyro bias: exact moving statistics, bias within 0.001 rad/s, honest uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
from calib_helpers import Errors, pose_rotation, record

from dmi_sensors.calibration import (
    StillParameters,
    calibrate_gyro,
    detect_still,
    gyro_bias_from_still,
    moving_std,
    still_segments,
)
from dmi_sensors.calibration.still import effective_sample_count


def _moving_std_reference(x: np.ndarray, window: int) -> np.ndarray:
    n = x.shape[0]
    out = np.empty_like(x)
    for i in range(n):
        lo = max(0, i - window // 2)
        hi = min(n, lo + window) if i - window // 2 >= 0 else min(n, i - window // 2 + window)
        out[i] = x[lo:hi].std(axis=0)
    return out


@pytest.mark.parametrize("window", [1, 4, 5, 50])
def test_moving_std_matches_direct_computation(window):
    rng = np.random.default_rng(window)
    x = rng.normal(3.0, 2.0, size=(120, 3)) + 1e3  # large offset: cumulative sums must stay exact
    np.testing.assert_allclose(moving_std(x, window), _moving_std_reference(x, window), rtol=1e-9, atol=1e-6)


def test_still_segments_find_the_holds_and_not_the_moves():
    _t, acc, gyr = record([pose_rotation("+z"), pose_rotation("+x"), pose_rotation("-y")], hold_s=3.0, move_s=1.0)
    segs = still_segments(acc, gyr, 100.0, StillParameters(min_duration_s=1.0))
    assert len(segs) == 3
    # holds are [0,3), [4,7), [8,11) s; segments lie inside them
    for seg, start in zip(segs, (0.0, 4.0, 8.0), strict=True):
        assert start <= seg.start_s and seg.start_s + seg.duration_s <= start + 3.0 + 1e-9
        assert seg.duration_s > 2.0
    mask = detect_still(acc, gyr, 100.0)
    assert not mask[350:360].any()  # the middle of the first move


def test_gyro_bias_recovered_within_1e_3_rps_with_honest_uncertainty():
    zs = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        bias = rng.uniform(-0.05, 0.05, 3)
        e = Errors(gyr_bias_rps=bias, gyr_noise_rps=0.003)
        # still, move, still: the move must be excluded or the mean rate is biased
        _t, acc, gyr = record([pose_rotation("+z"), pose_rotation("-x")], hold_s=5.0, move_s=1.0, errors=e, seed=seed)
        cal = calibrate_gyro(acc, gyr, 100.0, "S1")
        assert np.abs(cal.bias_rps - bias).max() < 1e-3
        assert 7.5 < cal.still_duration_s <= 10.0
        expected_se = 0.003 / np.sqrt(cal.n_samples)
        np.testing.assert_allclose(cal.bias_stderr_rps, expected_se, rtol=0.25)
        zs.append((cal.bias_rps - bias) / cal.bias_stderr_rps)
    z = np.concatenate(zs)
    assert np.abs(z).max() < 4.5
    assert 0.5 < z.std() < 1.6  # standard errors neither over- nor under-stated


def test_effective_sample_count_white_vs_correlated():
    rng = np.random.default_rng(0)
    white = rng.normal(size=(20000, 1))
    assert effective_sample_count(white)[0] == pytest.approx(20000, rel=0.05)
    ar = np.empty(20000)
    ar[0] = 0
    e = rng.normal(size=20000)
    for i in range(1, 20000):
        ar[i] = 0.8 * ar[i - 1] + e[i]
    assert effective_sample_count(ar)[0] == pytest.approx(20000 * 0.2 / 1.8, rel=0.1)


def test_moving_data_gives_a_clear_error():
    rng = np.random.default_rng(1)
    acc = rng.normal(0, 1.0, (1000, 3)) + np.array([0, 0, 9.81])
    gyr = rng.normal(0, 0.5, (1000, 3))
    with pytest.raises(ValueError, match=r"only 0\.00 s of still data.*need 2 s"):
        calibrate_gyro(acc, gyr, 100.0, "S1")


def test_gyro_bias_from_still_skips_a_movement_in_the_middle_of_a_recording():
    """(acc, gyr) order; 20 s still, 15 s of 1-2 Hz movement, 25 s still: the bias is the mean
    rate over the still samples only, and no still segment touches the movement."""
    fs = 100.0
    rng = np.random.default_rng(8)
    n = int(60 * fs)
    bias = np.array([0.01, -0.02, 0.005])
    gyr = bias + 0.002 * rng.standard_normal((n, 3))
    acc = np.array([0.0, 0.0, 9.81]) + 0.01 * rng.standard_normal((n, 3))
    moving = slice(int(20 * fs), int(35 * fs))
    t = np.arange(n) / fs
    gyr[moving] += 0.5 * np.sin(2 * np.pi * 1.0 * t[moving])[:, None]
    acc[moving] += 1.0 * np.sin(2 * np.pi * 2.0 * t[moving])[:, None]
    est = gyro_bias_from_still(acc, gyr, fs)
    assert all(s.stop <= moving.start or s.start >= moving.stop for s in est.segments)
    assert est.still_duration_s > 43.0 and est.n_samples == round(est.still_duration_s * fs)
    np.testing.assert_allclose(est.bias_rps, bias, atol=4 * est.bias_stderr_rps.max())
    assert est.bias_stderr_rps.max() < 1e-3
    with pytest.raises(ValueError, match="still data"):
        gyro_bias_from_still(acc[moving], gyr[moving], fs)
