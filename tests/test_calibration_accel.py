"""Six-position and ellipsoid accelerometer calibration against a known forward model."""

from __future__ import annotations

import numpy as np
import pytest
from calib_helpers import Errors, axis_angle_deg, pose_rotation, random_errors, record, six_pose_orientations
from scipy.spatial.transform import Rotation

from dmi_sensors.calibration import (
    CalibrationDataError,
    calibrate_ellipsoid,
    calibrate_six_position,
    design_condition,
    fit_six_position,
)

G = 9.80665


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_six_position_recovers_bias_scale_misalignment(seed):
    e = random_errors(np.random.default_rng(seed))
    _t, acc, gyr = record(six_pose_orientations(tilt_deg=0.2, seed=seed), errors=e, seed=seed)
    cal = calibrate_six_position(acc, gyr, 100.0, "S1")
    assert np.abs(cal.bias_mps2 - e.acc_bias_mps2).max() < 0.01
    assert np.abs(cal.scale / e.acc_scale - 1).max() < 0.002
    assert axis_angle_deg(cal.axes, e.axes).max() < 0.5
    np.testing.assert_allclose(cal.misalignment_deg, e.misalignment_deg, atol=0.5)
    assert cal.condition_number == pytest.approx(np.sqrt(3), rel=1e-3)
    assert cal.residual_mps2 == pytest.approx(e.acc_noise_mps2, rel=0.2)  # only noise remains
    assert set(cal.source["poses"]) == {"+x", "-x", "+y", "-y", "+z", "-z"}
    # the calibrated data now read |a| = g in every pose
    a = cal.apply(acc[100:300])
    assert np.abs(np.linalg.norm(a, axis=1).mean() - G) < 0.005


def test_noiseless_exact_poses_are_recovered_exactly():
    e = random_errors(np.random.default_rng(9))
    means = {
        p: e.sensitivity @ pose_rotation(p).inv().apply([0, 0, G]) + e.acc_bias_mps2
        for p in ("+x", "-x", "+y", "-y", "+z", "-z")
    }
    matrix, bias = fit_six_position(means)
    np.testing.assert_allclose(bias, e.acc_bias_mps2, atol=1e-9)
    np.testing.assert_allclose(np.linalg.inv(matrix), e.sensitivity, atol=1e-9)


def test_bias_and_scale_insensitive_to_poses_that_are_not_level():
    # 2 deg tilts: the plain Ferraris average of the six poses would be off by ~0.05 m/s^2
    worst_b, worst_s = 0.0, 0.0
    for seed in range(4):
        e = random_errors(np.random.default_rng(seed))
        _t, acc, gyr = record(six_pose_orientations(tilt_deg=2.0, seed=seed + 10), errors=e, seed=seed)
        cal = calibrate_six_position(acc, gyr, 100.0, "S1")
        worst_b = max(worst_b, np.abs(cal.bias_mps2 - e.acc_bias_mps2).max())
        worst_s = max(worst_s, np.abs(cal.scale / e.acc_scale - 1).max())
    assert worst_b < 0.01
    assert worst_s < 0.002


def test_ellipsoid_fit_many_orientations():
    e = random_errors(np.random.default_rng(4))
    _t, acc, gyr = record(list(Rotation.random(16, random_state=4)), hold_s=2.5, move_s=1.0, errors=e, seed=4)
    cal = calibrate_ellipsoid(acc, gyr, 100.0, "S1")
    assert cal.n_orientations == 16
    assert np.abs(cal.bias_mps2 - e.acc_bias_mps2).max() < 0.01
    assert np.abs(cal.scale / e.acc_scale - 1).max() < 0.002
    # the ellipsoid fixes the frame only up to a rotation: compare the frame-free angles between axes
    u = e.axes
    true_nonorth = [90 - np.degrees(np.arccos(u[i] @ u[j])) for i, j in ((0, 1), (0, 2), (1, 2))]
    np.testing.assert_allclose(cal.nonorthogonality_deg, true_nonorth, atol=0.5)
    assert np.allclose(np.triu(cal.matrix, 1), 0)  # documented gauge: lower triangular
    assert cal.condition_number < 4


def test_ellipsoid_refuses_clustered_orientations():
    base = Rotation.from_euler("x", 5, degrees=True)
    ors = [
        Rotation.from_euler("xy", [a, b], degrees=True) * base
        for a, b in np.random.default_rng(0).uniform(-15, 15, (12, 2))
    ]
    _t, acc, gyr = record(ors, hold_s=2.0, move_s=0.8)
    with pytest.raises(CalibrationDataError, match="do not span enough directions"):
        calibrate_ellipsoid(acc, gyr, 100.0, "S1")


def test_design_condition_of_six_poses():
    assert design_condition(np.vstack([np.eye(3), -np.eye(3)])) == pytest.approx(np.sqrt(3))
    assert design_condition(np.array([[0, 0, 1.0]] * 5 + [[0, 0.1, 1.0]])) > 100


def test_missing_pose_is_named():
    ors = [pose_rotation(p) for p in ("+z", "-z", "+x", "-x", "+y")]  # no -y
    _t, acc, gyr = record(ors)
    with pytest.raises(CalibrationDataError, match=r"missing pose\(s\) -y\. Found: \+x at"):
        calibrate_six_position(acc, gyr, 100.0, "S1")


def test_short_pose_is_named_with_its_duration():
    ors = [pose_rotation(p) for p in ("+z", "-z", "+x", "-x", "+y", "-y")]
    _t, acc, gyr = record(ors, hold_s=4.5)
    # cut the last pose (-y) short: 1.5 s of it
    n_cut = len(_t) - round(4.5 * 100) + 150
    with pytest.raises(CalibrationDataError, match=r"pose -y still for only 1\.\d s at .* \(need 3 s\)"):
        calibrate_six_position(acc[:n_cut], gyr[:n_cut], 100.0, "S1")


def test_moving_recording_is_refused():
    rng = np.random.default_rng(2)
    acc = rng.normal(0, 2.0, (2000, 3))
    gyr = rng.normal(0, 1.0, (2000, 3))
    with pytest.raises(CalibrationDataError, match="no still period at all"):
        calibrate_six_position(acc, gyr, 100.0, "S1")


def test_pose_between_axes_is_reported_as_not_distinct():
    ors = [pose_rotation(p) for p in ("+z", "-z", "+x", "-x", "+y")]
    ors.append(Rotation.from_euler("x", 45, degrees=True))  # halfway between +z and -y
    _t, acc, gyr = record(ors)
    with pytest.raises(CalibrationDataError, match=r"missing pose\(s\) -y.*Not distinct: still period at .* 45 deg"):
        calibrate_six_position(acc, gyr, 100.0, "S1")


def test_identity_sensor_gives_identity_calibration():
    _t, acc, gyr = record(six_pose_orientations(), errors=Errors(acc_noise_mps2=0.005))
    cal = calibrate_six_position(acc, gyr, 100.0, "S1")
    np.testing.assert_allclose(cal.matrix, np.eye(3), atol=2e-4)
    np.testing.assert_allclose(cal.bias_mps2, 0, atol=3e-3)
