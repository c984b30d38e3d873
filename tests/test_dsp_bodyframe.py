"""Body frame: sign conventions, exact analytic truth, quiet-stance accuracy, integration, gaps."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from dsp_helpers import G, SwayTruth, quat_zyx, rot_zyx
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.calibration import gyro_bias_from_still
from dmi_sensors.dsp import (
    DriftControlledIntegrator,
    Madgwick,
    Mahony,
    SosFilter,
    body_frame,
    butter_lowpass,
    filtfilt,
    gap_segments,
    integrate_drift_controlled,
    map_segments,
    process_with_resets,
    remove_gravity,
    segments_from_mask,
    tilt_angles,
    to_ap_ml_v,
)
from dmi_sensors.dsp._bodyframe_kernels import heading_frame_into, tilt_into, trapezoid_into

FS = 100.0
DEG = math.pi / 180


def _axis_angle(axis, angle_rad):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.array([[math.cos(angle_rad / 2), *(math.sin(angle_rad / 2) * axis)]])


# ----------------------------------------------------------------------------- signs
def test_sign_conventions_of_the_data_contract():
    # rotation about +y (right-hand) = forward lean = + tilt_ap
    ap, ml = tilt_angles(_axis_angle([0, 1, 0], 10 * DEG))
    assert ap[0] == pytest.approx(10 * DEG, abs=1e-12) and ml[0] == pytest.approx(0, abs=1e-12)
    # right-hand roll about +x tips the top to the right = - tilt_ml
    ap, ml = tilt_angles(_axis_angle([1, 0, 0], 10 * DEG))
    assert ml[0] == pytest.approx(-10 * DEG, abs=1e-12) and ap[0] == pytest.approx(0, abs=1e-12)


def test_signs_from_what_a_leaning_sensor_reads():
    """Leaning forward, the forward (x) axis dips: specific force has x < 0. Leaning left, y < 0."""
    lean = 12 * DEG
    forward = np.array([[-G * math.sin(lean), 0.0, G * math.cos(lean)]] * 3)
    left = np.array([[0.0, -G * math.sin(lean), G * math.cos(lean)]] * 3)
    zero_gyr = np.zeros((3, 3))
    ap, ml = tilt_angles(Madgwick(FS).process(forward, zero_gyr))
    np.testing.assert_allclose([ap[-1], ml[-1]], [lean, 0.0], atol=1e-12)
    ap, ml = tilt_angles(Madgwick(FS).process(left, zero_gyr))
    np.testing.assert_allclose([ap[-1], ml[-1]], [0.0, lean], atol=1e-12)


def test_tilt_is_independent_of_heading():
    pitch, roll = np.full(5, 0.2), np.full(5, -0.1)
    for yaw in (0.0, 1.0, -2.5):
        ap, ml = tilt_angles(quat_zyx(np.full(5, yaw), pitch, roll))
        np.testing.assert_allclose(ap, 0.2, atol=1e-14)
        np.testing.assert_allclose(ml, 0.1, atol=1e-14)


# ----------------------------------------------------------------------------- exact truth
def test_exact_truth_tilt_gravity_and_heading_frame():
    truth = SwayTruth(FS, 20.0, seed=2, amp_ap_deg=8, amp_ml_deg=5, yaw_rate_rps=0.3, height_m=0.8)
    q = truth.quaternions()
    ap, ml = tilt_angles(q)
    np.testing.assert_allclose(ap, truth.tilt_ap_rad, atol=1e-12)
    np.testing.assert_allclose(ml, truth.tilt_ml_rad, atol=1e-12)
    lin_w = remove_gravity(q, truth.acc_mps2(), gravity_mps2=G)
    np.testing.assert_allclose(lin_w, truth.lin_acc_world_mps2(), atol=1e-12)
    yaw = truth.angles()[0]
    expected = np.einsum("nji,nj->ni", rot_zyx(yaw, 0 * yaw, 0 * yaw), truth.lin_acc_world_mps2())
    apmlv = to_ap_ml_v(q, lin_w)
    np.testing.assert_allclose(apmlv, expected, atol=1e-12)
    fused = body_frame(q, truth.acc_mps2(), gravity_mps2=G)
    np.testing.assert_allclose(fused.acc_apmlv_mps2, apmlv, atol=1e-13)
    np.testing.assert_array_equal(fused.tilt_ap_rad, ap)
    np.testing.assert_array_equal(fused.tilt_ml_rad, ml)


def test_forward_pendulum_acceleration_is_ap_positive():
    """An inverted pendulum accelerating forward gives + AP acceleration in the heading frame."""
    truth = SwayTruth(FS, 10.0, seed=4, amp_ap_deg=4, amp_ml_deg=0.0, yaw_rate_rps=0.0, height_m=1.0)
    apmlv = body_frame(truth.quaternions(), truth.acc_mps2(), gravity_mps2=G).acc_apmlv_mps2
    ddpitch = truth.angles(2)[1]
    # small angles: horizontal acceleration of a point at height h is h * d2(theta)/dt2 forward
    np.testing.assert_allclose(apmlv[:, 0], 1.0 * ddpitch, atol=5e-3)
    np.testing.assert_allclose(apmlv[:, 1], 0.0, atol=1e-12)


def test_kernels_equal_pure_python_references():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((50, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    v = rng.standard_normal((50, 3))
    tilt = tilt_into(q, np.empty((50, 2)))
    head = heading_frame_into(q, v, np.empty((50, 3)))
    for i in range(50):
        w, x, y, z = q[i]
        r = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (w * x + y * z), 1 - 2 * (x * x + y * y)],
        ]
        pitch = math.asin(max(-1.0, min(1.0, -r[2][0])))
        roll = math.atan2(r[2][1], r[2][2])
        assert tilt[i, 0] == pytest.approx(pitch, abs=1e-12)
        assert tilt[i, 1] == pytest.approx(-roll, abs=1e-12)
        psi = math.atan2(r[1][0], r[0][0])
        c, s = math.cos(psi), math.sin(psi)
        ref = [c * v[i, 0] + s * v[i, 1], -s * v[i, 0] + c * v[i, 1], v[i, 2]]
        np.testing.assert_allclose(head[i], ref, atol=1e-12)
    x = rng.standard_normal((40, 2))
    out = trapezoid_into(x, 0.01, np.zeros((2, 3)), np.empty_like(x))
    acc = [0.0, 0.0]
    for i in range(40):
        for ch in range(2):
            if i > 0:
                acc[ch] += 0.5 * (x[i - 1, ch] + x[i, ch]) * 0.01
            assert out[i, ch] == pytest.approx(acc[ch], abs=1e-15)


# ----------------------------------------------------------------------------- quiet stance
def _quiet_stance(seed: int, gyro_bias=(0.004, -0.003, 0.002)):
    """60 s of quiet stance: 1.5° AP / 0.8° ML sway, sensor 0.5 m up the pendulum, realistic noise + bias."""
    truth = SwayTruth(FS, 60.0, seed=seed, amp_ap_deg=1.5, amp_ml_deg=0.8, yaw_rate_rps=0.0, height_m=0.5)
    rng = np.random.default_rng(seed + 100)
    n = len(truth.t)
    acc = truth.acc_mps2() + 0.015 * rng.standard_normal((n, 3))  # ~ 200 ug/sqrt(Hz) at 100 Hz
    gyr = truth.gyr_rps() + np.asarray(gyro_bias) + 0.002 * rng.standard_normal((n, 3))
    return truth, acc, gyr


@pytest.mark.parametrize("make", [lambda: Madgwick(FS, gain=0.033), lambda: Mahony(FS, k_p=1.0, k_i=0.3)])
@pytest.mark.parametrize("seed", [0, 1])
def test_quiet_stance_tilt_error_below_half_degree_rms(make, seed):
    truth, acc, gyr = _quiet_stance(seed)
    q = make().process(acc, gyr)
    ap, ml = tilt_angles(q)
    settle = int(2 * FS)
    err_ap = np.degrees(ap - truth.tilt_ap_rad)[settle:]
    err_ml = np.degrees(ml - truth.tilt_ml_rad)[settle:]
    assert np.sqrt(np.mean(err_ap**2)) < 0.5
    assert np.sqrt(np.mean(err_ml**2)) < 0.5


def test_gyro_bias_removal_from_a_still_start_improves_madgwick():
    truth, acc, gyr = _quiet_stance(3, gyro_bias=(0.02, -0.015, 0.01))
    # 10 s sensor on the table before it is put on: still, upright, same bias
    rng = np.random.default_rng(9)
    still_gyr = np.array([0.02, -0.015, 0.01]) + 0.002 * rng.standard_normal((1000, 3))
    still_acc = np.array([0, 0, G]) + 0.015 * rng.standard_normal((1000, 3))
    est = gyro_bias_from_still(still_acc, still_gyr, FS)
    np.testing.assert_allclose(est.bias_rps, [0.02, -0.015, 0.01], atol=5e-4)
    # a low gain trusts the gyro: a 0.02 rad/s bias then makes the tilt drift by degrees ...
    raw = tilt_angles(Madgwick(FS, gain=0.005).process(acc, gyr))[0]
    fixed = tilt_angles(Madgwick(FS, gain=0.005).process(acc, gyr - est.bias_rps))[0]
    rms = lambda e: np.sqrt(np.mean(np.degrees(e[200:] - truth.tilt_ap_rad[200:]) ** 2))  # noqa: E731
    assert rms(raw) > 5.0
    # ... and with the bias removed it is the most accurate setting (< 0.2 deg RMS)
    assert rms(fixed) < 0.2


# ----------------------------------------------------------------------------- integration
def test_integration_recovers_displacement_and_controls_bias_drift():
    t = np.arange(int(60 * FS)) / FS
    amp_m, f_hz = 0.01, 0.8
    disp = amp_m * np.sin(2 * np.pi * f_hz * t)
    acc = -((2 * np.pi * f_hz) ** 2) * disp + 0.05  # + a 0.05 m/s^2 bias
    res = integrate_drift_controlled(acc, FS, highpass_hz=0.2)
    vel, d = res
    mid = slice(int(10 * FS), int(50 * FS))
    np.testing.assert_allclose(d[mid], disp[mid], atol=0.02 * amp_m)
    np.testing.assert_allclose(vel[mid], amp_m * 2 * np.pi * f_hz * np.cos(2 * np.pi * f_hz * t[mid]), atol=2e-3)
    assert res.parameters["highpass_hz"] == 0.2 and res.parameters["zero_phase"] is True
    # without the high-passes the bias alone would give 0.5 * 0.05 * 60^2 = 90 m
    assert np.max(np.abs(d)) < 2 * amp_m


def test_causal_integration_equals_streaming_class_and_is_chunk_invariant():
    rng = np.random.default_rng(1)
    acc = rng.standard_normal((600, 3))
    res = integrate_drift_controlled(acc, FS, 0.2, zero_phase=False)
    integ = DriftControlledIntegrator(FS, 0.2, n_channels=3)
    parts = [integ.process(acc[a:b]) for a, b in itertools.pairwise([0, 7, 7, 250, 251, 600])]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), res.vel)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), res.disp)
    integ.reset()
    _v2, d2 = integ.process(acc)
    np.testing.assert_array_equal(d2, res.disp)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_integrator_chunk_invariance(cuts):
    acc = np.random.default_rng(2).standard_normal((200, 2))
    v_all, d_all = DriftControlledIntegrator(FS, 0.3, n_channels=2).process(acc)
    integ = DriftControlledIntegrator(FS, 0.3, n_channels=2)
    b = [0, *sorted(cuts), 200]
    parts = [integ.process(acc[s:e]) for s, e in itertools.pairwise(b)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), v_all)
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), d_all)


# ----------------------------------------------------------------------------- gaps
def test_segments_helpers():
    gap = np.zeros(10, bool)
    gap[[0, 4, 7]] = True
    assert gap_segments(gap) == [slice(0, 4), slice(4, 7), slice(7, 10)]
    assert gap_segments(np.zeros(0, bool)) == []
    valid = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1], bool)
    assert segments_from_mask(valid) == [slice(1, 3), slice(4, 7), slice(8, 9)]
    assert segments_from_mask(valid, min_length=3) == [slice(4, 7)]


def test_no_filter_runs_across_a_gap():
    sos = butter_lowpass(5.0, FS)
    x = np.random.default_rng(3).standard_normal((300, 2)) + 1.0
    gap = np.zeros(300, bool)
    gap[120] = gap[200] = True
    y = process_with_resets(SosFilter(sos, n_channels=2, initial="steady"), x, gap_before=gap)
    for s in gap_segments(gap):
        np.testing.assert_array_equal(y[s], SosFilter(sos, n_channels=2, initial="steady").process(x[s]))
    # packet by packet (gap flagged on a packet's first sample) gives the same
    f = SosFilter(sos, n_channels=2, initial="steady")
    parts = [process_with_resets(f, x[a:b], gap_before=gap[a:b]) for a, b in itertools.pairwise([0, 50, 120, 170, 300])]
    np.testing.assert_array_equal(np.concatenate(parts), y)
    # orientation re-initialises from the accelerometer after a gap
    _, acc, gyr = _quiet_stance(5)
    g2 = np.zeros(len(acc), bool)
    g2[3000] = True
    q = process_with_resets(Madgwick(FS), acc, gyr, gap_before=g2)
    np.testing.assert_array_equal(q[3000:], Madgwick(FS).process(acc[3000:], gyr[3000:]))
    # offline: zero-phase per segment
    z = map_segments(lambda a: filtfilt(sos, a), x, gap_before=gap)
    np.testing.assert_allclose(z[120:200], filtfilt(sos, x[120:200]), atol=0)
