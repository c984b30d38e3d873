"""End to end: a crooked, miscalibrated virtual sensor, calibrated with the guided procedures,
gives the same postural metrics as a correctly mounted, error-free sensor on the same child."""

from __future__ import annotations

import numpy as np
import pytest

from dmi_sensors.calibration import (
    apply,
    calibrate_alignment,
    calibrate_gyro,
    calibrate_six_position,
)
from dmi_sensors.calibration.guided import Step, procedure, run_procedure
from dmi_sensors.calibration.simulated import SensorErrors, SimulatedSource

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
        "gyr_mean_ap_rps": float(gyr_body[:, 1].mean()),  # pitch rate: zero-mean sway
    }


def _quiet_stance(errors: SensorErrors, seed: int) -> tuple[np.ndarray, np.ndarray]:
    src = SimulatedSource("S", errors, fs_hz=FS, seed=seed, sway_deg=1.5)
    return src.record_step(Step("upright", "", duration_s=20.0))


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_calibration_restores_the_metrics_of_a_correctly_mounted_sensor(seed):
    errors = SensorErrors.random(seed)
    ideal = SensorErrors(acc_noise_mps2=errors.acc_noise_mps2, gyr_noise_rps=errors.gyr_noise_rps)
    # calibrate the crooked sensor with the three guided procedures
    source = SimulatedSource("S", errors, fs_hz=FS, seed=seed + 100)
    still = run_procedure(procedure("gyro"), source, say=lambda s: None)
    gyro = calibrate_gyro(still.acc_mps2, still.gyr_rps, FS, "S")
    poses = run_procedure(procedure("accel"), source, say=lambda s: None)
    accel = calibrate_six_position(poses.acc_mps2, poses.gyr_rps, FS, "S")
    bend = run_procedure(procedure("alignment"), source, say=lambda s: None)
    acc_i, gyr_i = apply([accel, gyro], bend.acc_mps2, bend.gyr_rps)
    alignment = calibrate_alignment(acc_i, gyr_i, FS, "S")

    # the same child, the same sway: once with a perfect sensor, once with the crooked one
    ref = _metrics(*_quiet_stance(ideal, seed))
    raw_acc, raw_gyr = _quiet_stance(errors, seed)
    raw = _metrics(raw_acc, raw_gyr)
    cal = _metrics(*apply([accel, gyro, alignment], raw_acc, raw_gyr))

    # tolerances of the correctly mounted sensor's metrics
    assert cal["tilt_ap_mean_deg"] == pytest.approx(ref["tilt_ap_mean_deg"], abs=0.5)
    assert cal["tilt_ml_mean_deg"] == pytest.approx(ref["tilt_ml_mean_deg"], abs=0.5)
    assert cal["acc_rms_ap_mps2"] == pytest.approx(ref["acc_rms_ap_mps2"], rel=0.05)
    assert cal["acc_rms_ml_mps2"] == pytest.approx(ref["acc_rms_ml_mps2"], rel=0.05)
    assert cal["gyr_mean_ap_rps"] == pytest.approx(ref["gyr_mean_ap_rps"], abs=1e-3)
    # ... which the uncalibrated sensor misses by far (the test can fail)
    assert max(abs(raw["tilt_ap_mean_deg"] - ref["tilt_ap_mean_deg"]), abs(raw["tilt_ml_mean_deg"])) > 3.0
