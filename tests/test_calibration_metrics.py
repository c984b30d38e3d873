"""End to end with the simulator: a crooked, miscalibrated virtual sensor, calibrated with the
guided procedures (gyro, six poses) and a sitting forward lean simulated by ``dmi_sensors.sim``,
gives the postural metrics of a correctly mounted, error-free sensor on the same child."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dmi_sensors.calibration import apply, calibrate_alignment, calibrate_gyro, calibrate_six_position
from dmi_sensors.calibration.guided import procedure, run_procedure
from dmi_sensors.sim import ImuErrors, Segment, simulate
from dmi_sensors.sim.calibration import SimulatedSource, error_truth, random_imu_errors

FS = 100.0


def _metrics(acc_body: np.ndarray, gyr_body: np.ndarray) -> dict[str, float]:
    """Tilt from the specific force (signs of docs/data-contract.md) and sway acceleration RMS."""
    tilt_ap = np.degrees(np.arctan2(-acc_body[:, 0], acc_body[:, 2]))  # + forward
    tilt_ml = np.degrees(np.arctan2(-acc_body[:, 1], acc_body[:, 2]))  # + left
    ap = acc_body[:, 0] - acc_body[:, 0].mean()
    ml = acc_body[:, 1] - acc_body[:, 1].mean()
    return {
        "tilt_ap_mean_deg": float(tilt_ap.mean()),
        "tilt_ml_mean_deg": float(tilt_ml.mean()),
        "acc_rms_ap_mps2": float(np.sqrt(np.mean(ap**2))),
        "acc_rms_ml_mps2": float(np.sqrt(np.mean(ml**2))),
        "gyr_mean_ap_rps": float(gyr_body[:, 1].mean()),
    }


def _calibrate(errors: ImuErrors, seed: int):
    bench = SimulatedSource("S", errors, fs_hz=FS, seed=seed, placement_tilt_deg=0.5)
    still = run_procedure(procedure("gyro"), bench, say=lambda s: None)
    gyro = calibrate_gyro(still.acc_mps2, still.gyr_rps, FS, "S")
    poses = run_procedure(procedure("accel"), bench, say=lambda s: None)
    accel = calibrate_six_position(poses.acc_mps2, poses.gyr_rps, FS, "S")
    # sitting child: quiet upright, then a voluntary forward lean (the simulator's sitting repetition)
    lean = simulate(
        [Segment("sitting", 6.0, support="hips"), Segment("sitting", 8.0, support="hips", repetitions=1)],
        fs_hz=FS,
        seed=seed,
        com_height_m=0.6,
        imu_errors=errors,
    )
    acc_i, gyr_i = apply([accel, gyro], lean.acc_mps2, lean.gyr_rps)
    alignment = calibrate_alignment(acc_i, gyr_i, FS, "S", posture="sitting")
    return gyro, accel, alignment


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_calibration_restores_the_metrics_of_a_correctly_mounted_sensor(seed):
    errors = random_imu_errors(seed)
    truth = error_truth(errors)
    gyro, accel, alignment = _calibrate(errors, seed)
    # the recovered parameters (tolerances of the issue)
    assert np.abs(gyro.bias_rps - truth["gyr_bias_rps"]).max() < 1e-3
    assert np.abs(accel.bias_mps2 - truth["acc_bias_mps2"]).max() < 0.01
    assert np.abs(accel.scale / truth["acc_scale"] - 1).max() < 0.002
    assert np.abs(accel.misalignment_deg - truth["acc_misalignment_deg"]).max() < 0.5
    mount = Rotation.from_matrix(truth["rotation_sensor_to_body"])
    assert np.degrees((Rotation.from_matrix(alignment.rotation_sensor_to_body) * mount.inv()).magnitude()) < 1.0

    # the same child standing quietly for 30 s: error-free sensor vs the crooked one
    stance = [Segment("standing", 30.0)]
    ref_run = simulate(stance, fs_hz=FS, seed=seed, com_height_m=0.6, imu_errors=ImuErrors())
    bad_run = simulate(stance, fs_hz=FS, seed=seed, com_height_m=0.6, imu_errors=errors)
    np.testing.assert_array_equal(ref_run.truth.tilt_ap_rad, bad_run.truth.tilt_ap_rad)  # same child, same sway
    ref = _metrics(ref_run.acc_mps2, ref_run.gyr_rps)  # ideal mounting: sensor frame = body frame
    raw = _metrics(bad_run.acc_mps2, bad_run.gyr_rps)
    cal = _metrics(*apply([accel, gyro, alignment], bad_run.acc_mps2, bad_run.gyr_rps))

    assert ref["tilt_ap_mean_deg"] == pytest.approx(np.degrees(ref_run.truth.tilt_ap_rad.mean()), abs=0.2)
    assert cal["tilt_ap_mean_deg"] == pytest.approx(ref["tilt_ap_mean_deg"], abs=0.5)
    assert cal["tilt_ml_mean_deg"] == pytest.approx(ref["tilt_ml_mean_deg"], abs=0.5)
    assert cal["acc_rms_ap_mps2"] == pytest.approx(ref["acc_rms_ap_mps2"], rel=0.05)
    assert cal["acc_rms_ml_mps2"] == pytest.approx(ref["acc_rms_ml_mps2"], rel=0.05)
    assert cal["gyr_mean_ap_rps"] == pytest.approx(ref["gyr_mean_ap_rps"], abs=1e-3)
    # ... which the uncalibrated sensor misses by far (so the test can fail)
    assert max(abs(raw["tilt_ap_mean_deg"] - ref["tilt_ap_mean_deg"]), abs(raw["tilt_ml_mean_deg"])) > 3.0
