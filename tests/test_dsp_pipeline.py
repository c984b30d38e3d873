"""ImuChain: equals the stages run one after the other, chunk invariant, resets at gaps, accurate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from dsp_helpers import G, SwayTruth
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors.dsp import Madgwick, SosFilter, body_frame, butter_lowpass
from dmi_sensors.dsp.pipeline import ImuChain, apply_affine

FS = 100.0


def _rot_z(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def _raw(n=1500, seed=0, amp_ap_deg=3.0, amp_ml_deg=2.0):
    """Sensor-frame signals of a sway trajectory, mounted rotated 30° about z, with biases."""
    truth = SwayTruth(FS, n / FS, seed=seed, amp_ap_deg=amp_ap_deg, amp_ml_deg=amp_ml_deg, height_m=0.6)
    mount = _rot_z(30.0)  # body = mount @ sensor  ->  sensor = mount.T @ body
    rng = np.random.default_rng(seed + 50)
    acc_b = truth.acc_mps2() + 0.015 * rng.standard_normal((n, 3))
    gyr_b = truth.gyr_rps() + 0.002 * rng.standard_normal((n, 3))
    truth.noisy_body = (acc_b, gyr_b)
    acc_bias, gyr_bias = np.array([0.05, -0.03, 0.08]), np.array([0.004, 0.002, -0.003])
    acc_s = acc_b @ mount + acc_bias
    gyr_s = gyr_b @ mount + gyr_bias
    return truth, acc_s, gyr_s, mount, acc_bias, gyr_bias


def test_chain_equals_stages_one_after_the_other():
    _, acc, gyr, mount, ab, gb = _raw()
    chain = ImuChain(
        FS, lowpass_hz=15.0, gain=0.05, acc_matrix=mount, acc_bias_mps2=ab, gyr_matrix=mount, gyr_bias_rps=gb
    )
    out = chain.process(acc, gyr)
    cal = np.hstack([apply_affine(acc, mount, ab), apply_affine(gyr, mount, gb)])
    filt = SosFilter(butter_lowpass(15.0, FS), n_channels=6, initial="steady").process(cal)
    q = Madgwick(FS, gain=0.05).process(filt[:, :3], filt[:, 3:])
    bf = body_frame(q, filt[:, :3])
    np.testing.assert_array_equal(out.acc_mps2, filt[:, :3])
    np.testing.assert_array_equal(out.gyr_rps, filt[:, 3:])
    np.testing.assert_array_equal(out.q, q)
    np.testing.assert_array_equal(out.tilt_ap_rad, bf.tilt_ap_rad)
    np.testing.assert_array_equal(out.tilt_ml_rad, bf.tilt_ml_rad)
    np.testing.assert_array_equal(out.acc_apmlv_mps2, bf.acc_apmlv_mps2)
    params = chain.get_params()
    assert params["lowpass_hz"] == 15.0 and params["gain"] == 0.05 and params["acc_matrix"] == mount.tolist()


def test_affine_is_matrix_times_debiased_rows():
    rng = np.random.default_rng(1)
    x, m, b = rng.standard_normal((20, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(apply_affine(x, m, b), (x - b) @ m.T, atol=1e-14)


def test_chain_undoes_mounting_and_bias_and_tracks_quiet_stance():
    truth, acc, gyr, mount, ab, gb = _raw(n=3000, seed=2, amp_ap_deg=1.5, amp_ml_deg=0.8)
    kw = {"lowpass_hz": 20.0, "gravity_mps2": G}
    out = ImuChain(FS, acc_matrix=mount, acc_bias_mps2=ab, gyr_matrix=mount, gyr_bias_rps=gb, **kw).process(acc, gyr)
    # the calibrated chain sees exactly the body-frame signals (up to rounding)
    ideal = ImuChain(FS, **kw).process(*truth.noisy_body)
    np.testing.assert_allclose(out.q, ideal.q, atol=1e-9)
    np.testing.assert_allclose(out.acc_apmlv_mps2, ideal.acc_apmlv_mps2, atol=1e-9)
    settle = 200
    for est, ref in ((out.tilt_ap_rad, truth.tilt_ap_rad), (out.tilt_ml_rad, truth.tilt_ml_rad)):
        assert np.sqrt(np.mean(np.degrees(est - ref)[settle:] ** 2)) < 0.5
    err = out.acc_apmlv_mps2[settle:, 2] - truth.lin_acc_world_mps2()[settle:, 2]
    assert np.sqrt(np.mean(err**2)) < 0.05


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=6), initial=st.sampled_from(["zero", "steady"]))
def test_chain_chunk_invariance(cuts, initial):
    _, acc, gyr, mount, ab, gb = _raw(n=700, seed=3)

    def make():
        return ImuChain(FS, filter_initial=initial, acc_matrix=mount, acc_bias_mps2=ab, gyr_bias_rps=gb)

    whole = make().process(acc, gyr)
    chain = make()
    b = [0, *sorted(cuts), len(acc)]
    parts = [chain.process(acc[s:e], gyr[s:e]) for s, e in itertools.pairwise(b)]
    for name in ("acc_mps2", "gyr_rps", "q", "tilt_ap_rad", "tilt_ml_rad", "acc_apmlv_mps2"):
        np.testing.assert_array_equal(np.concatenate([getattr(p, name) for p in parts]), getattr(whole, name))


def test_chain_resets_at_gaps():
    _, acc, gyr, *_ = _raw(n=900, seed=4)
    gap = np.zeros(900, bool)
    gap[400] = True
    out = ImuChain(FS).process(acc, gyr, gap_before=gap)
    fresh = ImuChain(FS).process(acc[400:], gyr[400:])
    np.testing.assert_array_equal(out.q[400:], fresh.q)
    np.testing.assert_array_equal(out.acc_mps2[400:], fresh.acc_mps2)
    # streaming, with the gap flagged on the first sample of a packet
    chain = ImuChain(FS)
    a = chain.process(acc[:400], gyr[:400], gap_before=gap[:400])
    b = chain.process(acc[400:], gyr[400:], gap_before=gap[400:])
    np.testing.assert_array_equal(np.concatenate([a.q, b.q]), out.q)


def test_chain_without_filter_and_bad_input():
    _, acc, gyr, *_ = _raw(n=300, seed=5)
    out = ImuChain(FS, lowpass_hz=None).process(acc, gyr)
    np.testing.assert_array_equal(out.q, Madgwick(FS).process(acc, gyr))
    with pytest.raises(ValueError, match="same length"):
        ImuChain(FS).process(acc, gyr[:-1])
    with pytest.raises(ValueError, match="gap_before"):
        ImuChain(FS).process(acc, gyr, gap_before=np.zeros(3, bool))


def test_chain_from_a_calibration_equals_calibration_apply_then_chain():
    from dmi_sensors.calibration import AccelCalibration, AlignmentCalibration, GyroCalibration, apply
    from dmi_sensors.calibration.library import SensorCalibration

    _, acc, gyr, mount, ab, gb = _raw(n=800, seed=6)
    rng = np.random.default_rng(6)
    m = np.eye(3) + 0.02 * rng.standard_normal((3, 3))
    cal = SensorCalibration(
        "S1",
        accel=AccelCalibration("S1", bias_mps2=ab, matrix=m),
        gyro=GyroCalibration("S1", bias_rps=gb),
        alignment=AlignmentCalibration("S1", rotation_sensor_to_body=mount),
    )
    acc_c, gyr_c = apply(cal, acc, gyr)
    ref = ImuChain(FS).process(acc_c, gyr_c)
    out = ImuChain.from_calibration(FS, cal).process(acc, gyr)
    np.testing.assert_allclose(out.acc_mps2, ref.acc_mps2, atol=1e-12)
    np.testing.assert_allclose(out.gyr_rps, ref.gyr_rps, atol=1e-12)
    np.testing.assert_allclose(out.q, ref.q, atol=1e-10)


def _stage_by_stage(acc, gyr, gap, *, lowpass_hz, initial, q0, mount, ab, gb):
    """The chain as separate stages, fresh stages for every gap-free segment (= reset at a gap)."""
    from dmi_sensors.dsp.segments import gap_segments

    cal = np.hstack([apply_affine(acc, mount, ab), apply_affine(gyr, mount, gb)])
    filt, q = np.empty_like(cal), np.empty((len(acc), 4))
    for s in gap_segments(gap):
        if lowpass_hz is None:
            filt[s] = cal[s]
        else:
            filt[s] = SosFilter(butter_lowpass(lowpass_hz, FS), n_channels=6, initial=initial).process(cal[s])
        q[s] = Madgwick(FS, gain=0.05, q0=q0).process(filt[s, :3], filt[s, 3:])
    return filt, q, body_frame(q, filt[:, :3])


@settings(max_examples=40, deadline=None)
@given(
    n=st.sampled_from([0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 90]),
    gaps=st.lists(st.integers(min_value=0, max_value=89), max_size=3),
    lowpass_hz=st.sampled_from([None, 15.0]),
    initial=st.sampled_from(["zero", "steady"]),
    with_q0=st.booleans(),
)
def test_chain_equals_stages_at_every_length_around_the_pipeline_lag(n, gaps, lowpass_hz, initial, with_q0):
    # the fused kernel runs the stages LAG_ROWS apart: short inputs, gaps near the ends
    _, acc, gyr, mount, ab, gb = _raw(n=max(n, 1), seed=7)
    acc, gyr = acc[:n], gyr[:n]
    gap = np.zeros(n, bool)
    gap[[g for g in gaps if g < n]] = True
    q0 = np.array([0.99, 0.05, -0.1, 0.02]) if with_q0 else None
    kw = {"lowpass_hz": lowpass_hz, "initial": initial, "q0": q0, "mount": mount, "ab": ab, "gb": gb}
    chain = ImuChain(
        FS,
        lowpass_hz=lowpass_hz,
        filter_initial=initial,
        gain=0.05,
        q0=q0,
        acc_matrix=mount,
        acc_bias_mps2=ab,
        gyr_matrix=mount,
        gyr_bias_rps=gb,
    )
    out = chain.process(acc, gyr, gap_before=gap)
    filt, q, bf = _stage_by_stage(acc, gyr, gap, **kw)
    np.testing.assert_array_equal(out.acc_mps2, filt[:, :3])
    np.testing.assert_array_equal(out.gyr_rps, filt[:, 3:])
    np.testing.assert_array_equal(out.q, q)
    np.testing.assert_array_equal(out.tilt_ap_rad, bf.tilt_ap_rad)
    np.testing.assert_array_equal(out.tilt_ml_rad, bf.tilt_ml_rad)
    np.testing.assert_array_equal(out.acc_apmlv_mps2, bf.acc_apmlv_mps2)
