"""`dmi-sensors analyze --calibration`: a miscalibrated sensor's trial, once calibrated, gives the
metrics of the correctly mounted sensor; the calibration used is recorded in the JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dmi_sensors import cli
from dmi_sensors.calibration import AlignmentCalibration, GyroCalibration, write_calibration
from dmi_sensors.sim import ImuErrors, Segment, simulate
from dmi_sensors.store.trial_csv import write_trial_csv
from dmi_sensors.types import Trial


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


def _rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def _analyze(tmp_path, csv, name, *extra):
    out = tmp_path / f"{name}.json"
    assert cli.main(["analyze", str(csv), "--com-height-m", "0.6", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def clean_trial() -> Trial:
    sim = simulate([Segment("standing", 30.0)], fs_hz=100.0, seed=3, com_height_m=0.6, imu_errors=ImuErrors.none())
    return sim.to_trial()


def test_calibration_files_restore_the_mounted_sensors_metrics(tmp_path, clean_trial, capsys):
    rotation = _rot_z(35.0) @ _rot_y(6.0)  # sensor -> body: crooked on the back and turned
    bias = np.array([0.02, -0.015, 0.01])
    crooked = Trial(
        clean_trial.time_s,
        clean_trial.acc_mps2 @ rotation,  # v_sensor = R^T v_body, row-wise
        clean_trial.gyr_rps @ rotation + bias,
        clean_trial.fs_hz,
    )
    clean_csv = write_trial_csv(clean_trial, tmp_path / "clean.csv")
    crooked_csv = write_trial_csv(crooked, tmp_path / "crooked.csv")
    gyro = write_calibration(GyroCalibration("S1", bias_rps=bias), tmp_path / "gyro.json")
    align = write_calibration(AlignmentCalibration("S1", rotation_sensor_to_body=rotation), tmp_path / "align.json")

    clean = _analyze(tmp_path, clean_csv, "clean")["summary"]
    raw = _analyze(tmp_path, crooked_csv, "raw")["summary"]
    fixed_payload = _analyze(tmp_path, crooked_csv, "fixed", "--calibration", str(gyro), "--calibration", str(align))
    fixed = fixed_payload["summary"]
    for key in ("com_rms_ap_mm", "com_rms_ml_mm", "acc_rms_ap_mps2", "acc_rms_ml_mps2", "com_ellipse_area_mm2"):
        assert fixed[key] == pytest.approx(clean[key], rel=1e-6), key
    # without the calibration the AP/ML split is visibly wrong
    assert abs(raw["com_rms_ml_mm"] - clean["com_rms_ml_mm"]) > 0.2 * clean["com_rms_ml_mm"]
    used = fixed_payload["parameters"]["calibration"]
    assert set(used) == {"gyro", "alignment"} and used["gyro"]["sensor_serial"] == "S1"


def test_calibration_of_another_sensor_is_refused(tmp_path, clean_trial, capsys):
    csv = write_trial_csv(clean_trial, tmp_path / "t.csv")
    gyro = write_calibration(GyroCalibration("S1"), tmp_path / "gyro.json")
    code = cli.main(["analyze", str(csv), "--com-height-m", "0.6", "--sensor-id", "S2", "--calibration", str(gyro)])
    assert code == 1
    assert "S1" in capsys.readouterr().err
