"""Sensor-to-body alignment: any mounting rotation recovered within 1 degree."""

from __future__ import annotations

import numpy as np
import pytest
from calib_helpers import Errors, record
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from dmi_sensors.calibration import CalibrationDataError, calibrate_alignment, rotation_from_up_forward

G = 9.80665


def _angle_deg(r_est: np.ndarray, r_true: Rotation) -> float:
    return float(np.degrees((Rotation.from_matrix(r_est) * r_true.inv()).magnitude()))


def _bend_recording(r_sensor_to_body: Rotation, lean_deg: float = 25.0, seed: int = 0, sway_deg: float = 0.0):
    """Upright, lean forward (rotation about body +y), back upright; sensor->world = body->world * sensor->body."""
    rng = np.random.default_rng(seed)
    upright = [Rotation.from_euler("xy", rng.normal(0, sway_deg, 2), degrees=True) for _ in range(2)]
    body = [upright[0], Rotation.from_euler("y", lean_deg, degrees=True), upright[1]]
    return record([b * r_sensor_to_body for b in body], hold_s=3.0, move_s=1.5, errors=Errors(), seed=seed)


@settings(max_examples=25, deadline=None)
@given(
    quat=st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.2),
    lean=st.floats(12, 60),
    seed=st.integers(0, 1000),
)
def test_random_mounting_recovered_within_1_deg(quat, lean, seed):
    mount = Rotation.from_quat(quat)
    _t, acc, gyr = _bend_recording(mount, lean, seed)
    cal = calibrate_alignment(acc, gyr, 100.0, "S1")
    r = cal.rotation_sensor_to_body
    assert _angle_deg(r, mount) < 1.0
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-12)
    assert cal.lean_deg == pytest.approx(lean, abs=1.5)


def test_angles_in_degrees_follow_the_documented_convention():
    mount = Rotation.from_euler("ZYX", [30, -10, 5], degrees=True)  # R = Rz(30) Ry(-10) Rx(5)
    _t, acc, gyr = _bend_recording(mount)
    cal = calibrate_alignment(acc, gyr, 100.0, "S1", posture="sitting", placement="trunk")
    np.testing.assert_allclose(cal.euler_zyx_deg, [30, -10, 5], atol=0.3)
    assert cal.sensor_tilt_deg == pytest.approx(np.degrees(np.arccos(mount.as_matrix()[2, 2])), abs=0.3)
    d = cal.to_dict()
    assert d["posture"] == "sitting" and d["placement"] == "trunk"


def test_forward_step_defines_forward():
    mount = Rotation.from_euler("ZYX", [-70, 8, -12], degrees=True)
    fs = 100.0
    n_up, n_step, n_end = 400, 150, 200
    # body accelerates forward then decelerates (a 0.4 m step in 1.5 s), trunk stays upright
    tt = np.arange(n_step) / fs
    a_fwd = 0.4 * (2 * np.pi / 1.5**2) * np.sin(2 * np.pi * tt / 1.5)
    acc_body = np.tile([0.0, 0.0, G], (n_up + n_step + n_end, 1))
    acc_body[n_up : n_up + n_step, 0] += a_fwd
    rng = np.random.default_rng(0)
    acc = mount.inv().apply(acc_body) + rng.normal(0, 0.02, acc_body.shape)
    gyr = rng.normal(0, 0.003, acc.shape)
    cal = calibrate_alignment(acc, gyr, fs, "S1", method="step")
    # a step is a weaker cue than a lean (double integration): documented accuracy ~2 deg
    assert _angle_deg(cal.rotation_sensor_to_body, mount) < 2.0
    assert cal.source["step_displacement_m"] == pytest.approx(0.4, rel=0.1)


def test_rotation_from_up_forward_is_proper():
    r = rotation_from_up_forward([0, 0, 2.0], [1.0, 0.0, 5.0])
    np.testing.assert_allclose(r, np.eye(3), atol=1e-15)
    with pytest.raises(ValueError, match="parallel"):
        rotation_from_up_forward([0, 0, 1.0], [0, 0, 3.0])


def test_too_small_lean_is_refused_with_numbers():
    _t, acc, gyr = _bend_recording(Rotation.identity(), lean_deg=5.0)
    with pytest.raises(CalibrationDataError, match=r"reaches only [45]\.\d deg from upright \(need 10 deg\)"):
        calibrate_alignment(acc, gyr, 100.0, "S1")


def test_no_quiet_upright_is_refused():
    rng = np.random.default_rng(3)
    acc = rng.normal(0, 1.5, (1500, 3)) + np.array([0, 0, G])
    gyr = rng.normal(0, 0.8, (1500, 3))
    with pytest.raises(CalibrationDataError, match="no quiet sitting upright period"):
        calibrate_alignment(acc, gyr, 100.0, "S1", posture="sitting")


def test_sideways_lean_mixed_with_forward_is_refused():
    body = [
        Rotation.identity(),
        Rotation.from_euler("y", 25, degrees=True),
        Rotation.identity(),
        Rotation.from_euler("x", 25, degrees=True),
        Rotation.identity(),
    ]
    _t, acc, gyr = record(body, hold_s=3.0, move_s=1.5)
    with pytest.raises(CalibrationDataError, match="lean direction is not consistent"):
        calibrate_alignment(acc, gyr, 100.0, "S1")


def test_simulator_sitting_lean_gives_the_mounting_and_small_standing_lean_is_refused():
    from dmi_sensors.sim import ImuErrors, Segment, simulate

    errors = ImuErrors(mounting_euler_deg=(12.0, -18.0, 140.0))  # roll, pitch, yaw (sim convention)
    sit = [Segment("sitting", 6.0, support="hips"), Segment("sitting", 8.0, support="hips", repetitions=1)]
    r = simulate(sit, fs_hz=100.0, seed=4, com_height_m=0.6, imu_errors=errors)
    cal = calibrate_alignment(r.acc_mps2, r.gyr_rps, 100.0, "S1", posture="sitting")
    assert _angle_deg(cal.rotation_sensor_to_body, Rotation.from_matrix(errors.mounting_matrix)) < 1.0
    np.testing.assert_allclose(cal.euler_zyx_deg, [140.0, -18.0, 12.0], atol=1.0)
    # the simulator's standing repetition is a ~6 deg voluntary lean: too small to define forward
    stand = [Segment("standing", 6.0), Segment("standing", 8.0, repetitions=1)]
    r = simulate(stand, fs_hz=100.0, seed=4, com_height_m=0.6, imu_errors=errors)
    with pytest.raises(CalibrationDataError, match=r"reaches only \d\.\d deg from upright \(need 10 deg\)"):
        calibrate_alignment(r.acc_mps2, r.gyr_rps, 100.0, "S1")
