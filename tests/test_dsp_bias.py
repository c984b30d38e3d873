"""The on-line gyro-bias tracker (dsp.GyroBiasTracker): its kernel against a pure-Python
reference, the Kalman gain and lag it promises, rest detection, and the offline fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from dmi_sensors.dsp import GyroBiasTracker, track_gyro_bias_offline
from dmi_sensors.errors import ParameterError

FS = 100.0
G = 9.80665


def _still(n: int, bias=(0.01, -0.02, 0.005), seed: int = 0, acc_noise=0.02, gyr_noise=0.002):
    rng = np.random.default_rng(seed)
    acc = np.tile([0.0, 0.0, G], (n, 1)) + rng.normal(size=(n, 3)) * acc_noise
    gyr = np.asarray(bias) + rng.normal(size=(n, 3)) * gyr_noise
    return acc, gyr


def reference_track(acc, gyr, tracker: GyroBiasTracker):
    """Pure-Python twin of the Numba kernel (module docs of dsp.bias), sample by sample."""
    cutoff = math.sqrt(2.0) / (2.0 * math.pi * tracker.rest_filter_tau_s)
    b, a = signal.butter(2, cutoff, fs=tracker.fs_hz)
    dt = 1.0 / tracker.fs_hz
    k = 1.0 - math.exp(-dt / tracker.rest_time_constant_s)
    r = tracker.rest_noise_rps**2
    q = r * k * k / (1.0 - k)
    zi_g = np.outer(signal.lfilter_zi(b, a), gyr[0])  # steady state for the first sample
    zi_a = np.outer(signal.lfilter_zi(b, a), acc[0])
    lp_g, _ = signal.lfilter(b, a, gyr, axis=0, zi=zi_g)
    lp_a, _ = signal.lfilter(b, a, acc, axis=0, zi=zi_a)
    bm, am = signal.butter(2, math.sqrt(2.0) / (2.0 * math.pi * tracker.bias_filter_tau_s), fs=tracker.fs_hz)
    lp_m, _ = signal.lfilter(bm, am, gyr, axis=0, zi=np.outer(signal.lfilter_zi(bm, am), gyr[0]))
    est = np.zeros(3) if tracker.b0_rps is None else np.array(tracker.b0_rps)
    p = np.full(3, tracker.bias_sigma_init_rps**2)
    rest_t = 0.0
    out = np.empty_like(gyr)
    for i in range(gyr.shape[0]):
        still = (
            np.sum((gyr[i] - lp_g[i]) ** 2) < tracker.rest_gyr_rps**2
            and np.sum((acc[i] - lp_a[i]) ** 2) < tracker.rest_acc_mps2**2
            and np.all(np.abs(lp_g[i] - est) <= tracker.rest_clip_rps)
        )
        rest_t = rest_t + dt if still else 0.0
        p = p + q
        if rest_t >= tracker.rest_min_s + 2 * tracker.bias_filter_tau_s:
            gain = p / (p + r)
            est = est + gain * (lp_m[i] - est)
            p = p - gain * p
        out[i] = est
    return out


def test_kernel_equals_the_pure_python_reference():
    acc, gyr = _still(800)
    # a movement burst in the middle (not rest) and back to rest
    t = np.arange(800) / FS
    burst = (t > 3.0) & (t < 4.0)
    gyr[burst] += 0.5 * np.sin(2 * np.pi * 2 * t[burst])[:, None]
    kw = {"rest_time_constant_s": 2.0, "bias_filter_tau_s": 0.5, "b0_rps": [0.0, 0.0, 0.001]}
    tracker = GyroBiasTracker(FS, **kw)
    ref = reference_track(acc, gyr, GyroBiasTracker(FS, **kw))
    np.testing.assert_allclose(tracker.process(acc, gyr), ref, rtol=0, atol=1e-12)


def test_constant_bias_is_captured_and_the_steady_gain_is_the_time_constants():
    acc, gyr = _still(3000)
    tracker = GyroBiasTracker(FS)
    var = np.empty((3000, 3))
    est = tracker.process(acc, gyr, variance_out=var)
    np.testing.assert_allclose(est[-1], [0.01, -0.02, 0.005], atol=5e-4)
    assert tracker.rest_fraction == pytest.approx(1 - 1.5 * FS / 3000, abs=0.01)
    assert np.all(est[: round(9.5 * FS) - 1] == 0.0)  # no update before 1.5 s + 2 × 4 s of rest
    # at the steady state the prior variance P + q gives K = (P+q)/(P+q+r) = 1 - exp(-dt/τ)
    k = 1 - math.exp(-1 / (FS * 5.0))
    r = 0.005**2
    q = r * k * k / (1 - k)
    steady = var[-1, 0] + q
    assert steady / (steady + r) == pytest.approx(k, rel=1e-3)  # the Riccati recursion converges as (1-K)^2n


def test_a_ramp_is_followed_with_the_first_order_lag_and_the_offline_fusion_removes_it():
    n = 6000
    t = np.arange(n) / FS
    slope = 0.01 / 60.0  # 0 -> 0.01 rad/s over a minute
    acc, gyr = _still(n, bias=(0.0, 0.0, 0.0), gyr_noise=0.001)
    true = np.outer(slope * t, [1.0, -1.0, 0.5])
    gyr = gyr + true
    est = GyroBiasTracker(FS, rest_time_constant_s=5.0).process(acc, gyr)
    mid = slice(2500, 3500)  # both directions converged (each waits 9.5 s, then ~2 τ)
    lag = (true[mid] - est[mid]) / np.array([1.0, -1.0, 0.5])
    # a first-order tracker (τ = 5 s) behind a 2nd-order Butterworth whose corner is √2/(2π τ_m)
    # (its delay at DC √2/ω_c = τ_m = 4 s): a ramp is followed slope × (τ + τ_m) behind
    assert np.median(lag) == pytest.approx(slope * (5.0 + 4.0), rel=0.1)
    off = track_gyro_bias_offline(acc, gyr, FS, gyr.mean(axis=0))
    assert np.max(np.abs(off.bias_rps[mid] - true[mid])) < 0.1 * slope * (5.0 + 4.0)
    assert off.rest_fraction_forward > 0.9 and off.rest_fraction_backward > 0.9


def test_movement_is_not_rest_and_the_estimate_is_held():
    acc, gyr = _still(2000)
    t = np.arange(2000) / FS
    moving = t > 8.0
    gyr[moving] += 0.6 * np.sin(2 * np.pi * 1.5 * t[moving])[:, None]  # a reach: 35 °/s
    acc[moving] += 2.0 * np.sin(2 * np.pi * 1.5 * t[moving])[:, None]
    tracker = GyroBiasTracker(FS)
    est = tracker.process(acc, gyr)
    assert np.allclose(est[moving], est[np.flatnonzero(moving)[0] - 1], atol=2e-3)
    assert tracker.state.rest_time_s == 0.0


def test_chunks_and_state_round_trip_are_bit_identical():
    acc, gyr = _still(900, seed=3)
    whole = GyroBiasTracker(FS).process(acc, gyr)
    parts = GyroBiasTracker(FS)
    cut = np.concatenate([parts.process(acc[:317], gyr[:317]), parts.process(acc[317:], gyr[317:])])
    np.testing.assert_array_equal(whole, cut)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="rest_time_constant_s"):
        GyroBiasTracker(FS, rest_time_constant_s=0.0)
    with pytest.raises(ParameterError, match="b0_rps"):
        GyroBiasTracker(FS, b0_rps=[1.0, 2.0])
    with pytest.raises(ParameterError, match="same length"):
        GyroBiasTracker(FS).process(np.zeros((3, 3)), np.zeros((4, 3)))
