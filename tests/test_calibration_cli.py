"""``dmi-sensors calibrate``: simulate -> CSV -> --input round trip, library chaining, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dmi_sensors import cli
from dmi_sensors.calibration import CalibrationSet, read_calibration
from dmi_sensors.sim.calibration import error_truth, random_imu_errors
from dmi_sensors.sim.identity import simulated_sensor_id

SIMULATED = simulated_sensor_id(0)  # calibrate --simulate's sensor: the first of record --simulate-sensors


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = cli.main(["calibrate", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("kind", ["gyro", "accel"])
def test_simulate_then_input_round_trip(tmp_path, capsys, kind):
    sim_json, csv, in_json = tmp_path / "sim.json", tmp_path / "rec.csv", tmp_path / "in.json"
    rc, out, _ = _run(capsys, kind, "--simulate", "--seed", "3", "--json", str(sim_json), "--save-recording", str(csv))
    assert rc == 0, out
    assert "Step 1/" in out and "truth:" in out
    rc, out, _ = _run(capsys, kind, "--input", str(csv), "--serial", SIMULATED, "--json", str(in_json))
    assert rc == 0, out
    a, b = read_calibration(sim_json), read_calibration(in_json)
    assert a.sensor_serial == b.sensor_serial == SIMULATED
    assert b.source == {**{k: v for k, v in a.source.items() if k not in ("simulated", "seed")}, "input": "rec.csv"}
    da, db = a.to_dict(), b.to_dict()
    key = "bias_rps" if kind == "gyro" else "matrix"
    np.testing.assert_allclose(db[key], da[key], rtol=1e-12, atol=1e-12)  # CSV keeps full precision
    truth = error_truth(random_imu_errors(3))
    if kind == "gyro":
        assert np.abs(b.bias_rps - truth["gyr_bias_rps"]).max() < 1e-3
    else:
        assert np.abs(b.bias_mps2 - truth["acc_bias_mps2"]).max() < 0.01
        assert np.abs(b.scale / truth["acc_scale"] - 1).max() < 0.002
        assert np.abs(b.misalignment_deg - truth["acc_misalignment_deg"]).max() < 0.5


def test_library_chain_gyro_accel_then_alignment(tmp_path, capsys):
    lib = tmp_path / "cal"
    for kind in ("gyro", "accel"):
        assert _run(capsys, kind, "--simulate", "--seed", "5", "--library", str(lib))[0] == 0
    rc, out, _ = _run(capsys, "alignment", "--simulate", "--seed", "5", "--library", str(lib), "--posture", "sitting")
    assert rc == 0, out
    assert "applied first: accel" in out
    s = CalibrationSet.load(lib)
    sc = s.for_sensor(SIMULATED)
    assert sc.accel and sc.gyro and sc.alignment
    assert sc.alignment.posture == "sitting"
    assert set(sc.alignment.source["applied"]) == {"accel", "gyro"}
    mount = Rotation.from_matrix(error_truth(random_imu_errors(5))["rotation_sensor_to_body"])
    err = np.degrees((Rotation.from_matrix(sc.alignment.rotation_sensor_to_body) * mount.inv()).magnitude())
    assert err < 1.0
    # a second alignment in the same second never overwrites the first
    assert _run(capsys, "alignment", "--simulate", "--seed", "5", "--library", str(lib))[0] == 0
    assert len(list(lib.glob("*alignment*.json"))) == 2


def test_missing_poses_in_csv_give_one_clear_error(tmp_path, capsys):
    csv = tmp_path / "rec.csv"
    assert _run(capsys, "gyro", "--simulate", "--save-recording", str(csv))[0] == 0  # a still sensor: only +z
    rc, _out, err = _run(capsys, "accel", "--input", str(csv), "--serial", "S1", "--json", str(tmp_path / "x.json"))
    assert rc == 1
    assert "missing pose(s) +x, -x, +y, -y, -z. Found: +z at" in err
    assert not (tmp_path / "x.json").exists()


def test_moving_data_and_bad_library_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    csv = tmp_path / "moving.csv"
    n = 800
    rows = np.column_stack([np.arange(n) / 100, rng.normal(0, 2, (n, 3)), rng.normal(0, 1, (n, 3))])
    header = "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rps,gyr_y_rps,gyr_z_rps"
    np.savetxt(csv, rows, delimiter=",", header=header, comments="")
    rc, _, err = _run(capsys, "gyro", "--input", str(csv), "--serial", "S1")
    assert rc == 1 and "still data" in err
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "S1_gyro_x.json").write_text(json.dumps({"format_version": 1, "kind": "gyro"}))
    rc, _, err = _run(capsys, "alignment", "--simulate", "--library", str(lib))
    assert rc == 1 and "S1_gyro_x.json" in err and "key 'created_utc'" in err


def test_input_needs_serial_and_method_must_fit_kind(tmp_path, capsys):
    rc, _, err = _run(capsys, "gyro", "--input", str(tmp_path / "none.csv"))
    assert rc == 1 and "--serial is required" in err
    rc, _, err = _run(capsys, "gyro", "--simulate", "--method", "ellipsoid")
    assert rc == 1 and "does not apply to gyro" in err
