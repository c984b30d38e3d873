"""Calibration JSON files: exact round trip, latest per serial, one clear error per bad key."""

from __future__ import annotations

import json

import numpy as np
import pytest
from calib_helpers import Errors, random_errors, record, six_pose_orientations
from scipy.spatial.transform import Rotation

from dmi_sensors.calibration import (
    AccelCalibration,
    AlignmentCalibration,
    CalibrationSet,
    GyroCalibration,
    apply,
    apply_to_batch,
    calibrate_six_position,
    default_filename,
    read_calibration,
    write_calibration,
)
from dmi_sensors.errors import DataFileError
from dmi_sensors.types import SampleBatch


def _examples() -> list:
    rot = Rotation.from_euler("ZYX", [20, 5, -3], degrees=True).as_matrix()
    return [
        AccelCalibration(
            "DMI-0001",
            bias_mps2=[0.1, -0.2, 0.05],
            matrix=np.array([[1.01, 0.002, 0], [0.001, 0.99, 0.003], [0, -0.002, 1.002]]),
            residual_mps2=0.012,
            condition_number=1.732,
            n_orientations=6,
            method="six_position",
            created_utc="2026-03-01T10:00:00.000000Z",
        ),
        GyroCalibration(
            "DMI-0001",
            bias_rps=[0.01, -0.02, 0.003],
            bias_stderr_rps=[1e-4, 1e-4, 2e-4],
            still_duration_s=10.0,
            n_samples=1000,
            created_utc="2026-03-01T10:05:00Z",
        ),
        AlignmentCalibration(
            "DMI-0001", rotation_sensor_to_body=rot, lean_deg=25.0, posture="sitting", placement="trunk"
        ),
    ]


@pytest.mark.parametrize("cal", _examples(), ids=lambda c: c.kind)
def test_round_trip_is_exact(tmp_path, cal):
    path = write_calibration(cal, tmp_path / default_filename(cal))
    back = read_calibration(path)
    assert type(back) is type(cal)
    assert back.to_dict() == cal.to_dict()
    data = json.loads(path.read_text())
    assert data["format_version"] == 1 and data["kind"] == cal.kind and data["sensor_serial"] == "DMI-0001"
    for key in ("created_utc", "dmi_sensors_version"):
        assert isinstance(data[key], str)


def test_required_keys_per_kind(tmp_path):
    acc, gyr, ali = (c.to_dict() for c in _examples())
    assert {"bias_mps2", "scale", "matrix", "residual_mps2"} <= acc.keys()
    assert len(acc["bias_mps2"]) == 3 and np.shape(acc["matrix"]) == (3, 3)
    assert {"bias_rps", "bias_stderr_rps"} <= gyr.keys()
    assert {"rotation_sensor_to_body", "euler_zyx_deg", "sensor_tilt_deg"} <= ali.keys()
    np.testing.assert_allclose(ali["euler_zyx_deg"], [20, 5, -3], atol=1e-9)


def test_scale_only_file_is_accepted(tmp_path):
    path = tmp_path / "a.json"
    d = _examples()[0].to_dict()
    del d["matrix"]
    d["scale"] = [1.01, 0.98, 1.0]
    path.write_text(json.dumps(d))
    cal = read_calibration(path)
    np.testing.assert_allclose(cal.scale, [1.01, 0.98, 1.0])
    np.testing.assert_allclose(cal.apply([np.array([1.01, 0.98, 1.0]) + cal.bias_mps2]), [[1, 1, 1]], rtol=1e-12)


def _mutate(d: dict, key: str, value) -> dict:
    d = dict(d)
    if value is KeyError:
        del d[key]
    else:
        d[key] = value
    return d


@pytest.mark.parametrize(
    ("kind", "key", "value", "expected"),
    [
        (0, "bias_mps2", [0.1, 0.2], "a list of 3 numbers"),
        (0, "bias_mps2", KeyError, "it is missing"),
        (0, "matrix", [[1, 0, 0], [0, 1, 0], [0, 0, 0]], "invertible"),
        (0, "matrix", [[1, 0, 0], [0, 1, 0], [0, 0, "x"]], "3x3"),
        (0, "scale", [1, 1, 2], "row norms of inv(matrix)"),
        (0, "residual_mps2", "small", "a finite number"),
        (1, "bias_rps", None, "a list of 3 numbers"),
        (1, "format_version", 2, "upgrade dmi-sensors"),
        (1, "kind", "magnetometer", "one of 'accel'"),
        (1, "sensor_serial", "", "a non-empty string"),
        (1, "created_utc", "yesterday", "ISO-8601 UTC"),
        (2, "rotation_sensor_to_body", np.diag([1.0, 1.0, -1.0]).tolist(), "proper rotation"),
        (2, "rotation_sensor_to_body", (2 * np.eye(3)).tolist(), "proper rotation"),
    ],
)
def test_bad_key_names_file_and_key(tmp_path, kind, key, value, expected):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_mutate(_examples()[kind].to_dict(), key, value)))
    with pytest.raises(DataFileError) as exc:
        read_calibration(path)
    msg = str(exc.value)
    assert str(path) in msg and f"key {key!r}" in msg and expected in msg


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"format_version": 1, "kind": "gyro"', "line 1, column"),
        ("", "line 1, column 1"),
        ("[1, 2, 3]", "top level"),
        ('{"format_version": 1, "bias_rps": [NaN, 0, 0]}', "standard JSON numbers"),
    ],
)
def test_corrupt_json_names_file_and_place(tmp_path, text, where):
    path = tmp_path / "corrupt.json"
    path.write_text(text)
    with pytest.raises(DataFileError, match=where) as exc:
        read_calibration(path)
    assert str(path) in str(exc.value)


def test_binary_and_missing_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b"\x80\x04\x95pickle")
    with pytest.raises(DataFileError, match="UTF-8"):
        read_calibration(path)
    with pytest.raises(DataFileError, match="no such file"):
        read_calibration(tmp_path / "none.json")


def test_calibration_set_returns_latest_per_serial_and_kind(tmp_path):
    older = GyroCalibration("A", bias_rps=[0.1, 0, 0], created_utc="2026-01-01T00:00:00Z")
    newer = GyroCalibration("A", bias_rps=[0.2, 0, 0], created_utc="2026-02-01T00:00:00Z")
    other = GyroCalibration("B", bias_rps=[0.3, 0, 0], created_utc="2026-03-01T00:00:00Z")
    for c in (newer, older, other, *_examples()):
        write_calibration(c, tmp_path / default_filename(c))
    s = CalibrationSet.load(tmp_path)
    assert s.serials() == ["A", "B", "DMI-0001"]
    assert s.latest("A", "gyro").bias_rps[0] == 0.2
    assert s.latest("A", "accel") is None
    sc = s.for_sensor("DMI-0001")
    assert sc.accel is not None and sc.gyro is not None and sc.alignment is not None
    prov = sc.provenance()
    assert prov["gyro"]["file"].startswith("DMI-0001_gyro_20260301T100500Z")
    # a corrupt file stops the load, naming it; strict=False skips and lists it
    (tmp_path / "zz.json").write_text("{")
    with pytest.raises(DataFileError, match=r"zz\.json"):
        CalibrationSet.load(tmp_path)
    lenient = CalibrationSet.load(tmp_path, strict=False)
    assert len(lenient.errors) == 1 and len(lenient.calibrations) == 6


def test_apply_to_batch_undoes_the_sensor_errors():
    rng = np.random.default_rng(5)
    e = random_errors(rng)
    _t, acc, gyr = record(six_pose_orientations(0.2, 5), errors=e, seed=5)
    cal = calibrate_six_position(acc, gyr, 100.0, "DMI-7")
    gyro = GyroCalibration("DMI-7", bias_rps=e.gyr_bias_rps)
    # fresh data from the same sensor in new orientations: calibrated == truth within noise
    ors = list(Rotation.random(3, random_state=1))
    t2, acc2, gyr2 = record(ors, hold_s=2.0, move_s=1.0, errors=e, seed=7)
    _, acc_true, gyr_true = record(ors, hold_s=2.0, move_s=1.0, errors=Errors(acc_noise_mps2=0, gyr_noise_rps=0))
    n = len(t2)
    batch = SampleBatch("DMI-7", 100.0, np.arange(n), t2, t2, acc2, gyr2)
    out = apply_to_batch([cal, gyro], batch)
    assert np.sqrt(np.mean((out.acc_mps2 - acc_true) ** 2)) < 0.02
    assert np.abs((out.gyr_rps - gyr_true).mean(axis=0)).max() < 1e-3
    np.testing.assert_array_equal(out.counter, batch.counter)
    assert batch.acc_mps2 is acc2  # input untouched
    with pytest.raises(ValueError, match="for sensor 'DMI-7'"):
        apply_to_batch(cal, SampleBatch("OTHER", 100.0, np.arange(n), t2, t2, acc2, gyr2))


def test_apply_order_intrinsic_then_rotation():
    acc_cal, gyr_cal, ali = _examples()
    a, w = apply([acc_cal, ali], np.array([[0.3, 0.1, 9.9]]), np.array([[0.1, 0.2, 0.3]]))
    expected = ali.rotation_sensor_to_body @ (acc_cal.matrix @ (np.array([0.3, 0.1, 9.9]) - acc_cal.bias_mps2))
    np.testing.assert_allclose(a[0], expected, rtol=1e-12)
    np.testing.assert_allclose(w[0], ali.rotation_sensor_to_body @ [0.1, 0.2, 0.3], rtol=1e-12)
    with pytest.raises(ValueError, match="two gyro calibrations"):
        apply([gyr_cal, gyr_cal], a, w)
    # any sequence of calibrations (one per kind) is accepted; anything else is named
    a2, _ = apply((acc_cal, ali), np.array([[0.3, 0.1, 9.9]]), np.array([[0.1, 0.2, 0.3]]))
    np.testing.assert_array_equal(a2, a)
    with pytest.raises(TypeError, match="not a calibration: dict"):
        apply([acc_cal, {"kind": "gyro"}], a, w)
