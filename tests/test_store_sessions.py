"""Sessions, sensors, calibrations, events and results in the store."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from store_helpers import assert_events_equal, synthetic_packets

from dmi_sensors import __version__, contract
from dmi_sensors.session import Plan, Subject, example_plan
from dmi_sensors.store import SessionStore, UnknownSessionError

SUBJECT = Subject("P001", 2019, 0.42, "down_syndrome")


@pytest.fixture
def store(tmp_path):
    with SessionStore(tmp_path / "s.sqlite") as s:
        yield s


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "onset_s": [0.5, 12.25, 3.0],
            "duration_s": [10.0, 0.0, 2.5],
            "exercise": ["sit_table", None, "sit_table"],
            "repetition": [None, None, 2],
            "support": ["hips", None, "hips"],
            "source": ["manual", "manual", "auto"],
            "kind": ["exercise", "note", "repetition"],
            "posture": [None, None, "sitting"],
            "note": [None, "child tired", None],
        }
    )


def test_session_round_trip_without_names(store):
    plan = example_plan()
    sid = store.create_session(
        SUBJECT, plan, {"DMI-0001": "trunk", "DMI-0002": "pelvis"}, "T07", "2026-03-04T10:11:12.5+01:00"
    )
    info = store.session_info(sid)
    assert info.start_utc == "2026-03-04T09:11:12.500000Z"
    assert (info.subject_id, info.birth_year, info.com_height_m, info.diagnosis_category) == (
        "P001",
        2019,
        0.42,
        "down_syndrome",
    )
    assert info.therapist_id == "T07" and info.status == "incomplete" and info.package_version == __version__
    assert Plan.from_toml(info.plan_toml) == plan
    assert [(s.sensor_id, s.placement) for s in info.sensors] == [("DMI-0001", "trunk"), ("DMI-0002", "pelvis")]
    columns = {r[1] for r in store._conn.execute("PRAGMA table_info(sessions)")}
    assert not any("name" in c and c != "name" for c in columns) and "name" not in columns


def test_packets_are_stored_verbatim_in_arrival_order(store):
    sid = store.create_session(SUBJECT, sensors={"A": "trunk"})
    a = synthetic_packets("A", 20)
    b = synthetic_packets("B", 20, t0_s=0.05)
    interleaved = [p for pair in zip(a, b, strict=True) for p in pair]
    assert store.add_packets(sid, interleaved) == 40
    assert store.raw_packets(sid) == interleaved
    assert store.raw_packets(sid, "B") == b
    assert list(store.iter_raw_packets(sid, "A", chunk=3)) == a
    info = store.session_info(sid)
    assert info.packets == 40 and math.isclose(info.duration_s, b[-1].host_time_s)
    assert {s.sensor_id: s.packets for s in info.sensors} == {"A": 20, "B": 20}  # B registered on first packet


def test_finalise_blocks_further_packets(store):
    sid = store.create_session(SUBJECT)
    store.add_packets(sid, synthetic_packets("A", 2))
    store.finalise(sid)
    store.finalise(sid)  # idempotent
    info = store.session_info(sid)
    assert info.status == "finalised" and info.finalised_utc.endswith("Z")
    with pytest.raises(ValueError, match="finalised"):
        store.add_packets(sid, synthetic_packets("A", 1))
    with pytest.raises(ValueError, match="finalised"):
        store.packet_writer(sid)
    assert len(store.raw_packets(sid)) == 2


def test_unknown_session(store):
    with pytest.raises(UnknownSessionError, match="no session 99"):
        store.session_info(99)
    with pytest.raises(UnknownSessionError):
        store.raw_packets(99)


def test_events_round_trip(store):
    sid = store.create_session(SUBJECT)
    ev = _events()
    assert store.add_events(sid, ev) == 3
    back = store.events(sid)
    assert list(back.columns) == [*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS]
    expected = ev.sort_values("onset_s").reset_index(drop=True)
    assert_events_equal(back, expected)
    assert back["note"].tolist()[2] == "child tired"


def test_events_with_wrong_columns_change_nothing(store):
    sid = store.create_session(SUBJECT)
    store.add_events(sid, _events())
    with pytest.raises(ValueError, match=r"lacks columns \['support'\]"):
        store.add_events(sid, _events().drop(columns=["support"]))
    bad = _events()
    bad.loc[2, "source"] = "guess"
    with pytest.raises(ValueError, match="row 2: source must be one of"):
        store.add_events(sid, bad)
    assert len(store.events(sid)) == 3


def test_results_keep_parameters_and_version(store):
    sid = store.create_session(SUBJECT)
    windows = pd.DataFrame({"sensor_id": ["A", "A"], "start_s": [0.0, 5.0], "com_rms_ap_mm": [1.25, np.nan]})
    params = {"window_s": 5.0, "filter": {"lowpass_hz": np.float64(3.5)}, "ellipse_method": "prediction_F"}
    rid = store.save_results(sid, {"com_rms_ap_mm": np.float64(1.0 / 3.0)}, params, windows, sensor_id="A")
    (rec,) = store.results(sid)
    assert rec.result_id == rid and rec.package_version == __version__ and rec.sensor_id == "A"
    assert rec.parameters == {"window_s": 5.0, "filter": {"lowpass_hz": 3.5}, "ellipse_method": "prediction_F"}
    assert rec.summary["com_rms_ap_mm"] == 1.0 / 3.0  # exact: JSON floats are written with repr
    pd.testing.assert_frame_equal(rec.windows, windows)


def test_calibration_reference(store, tmp_path):
    cal_file = tmp_path / "cal.json"
    cal_file.write_text('{"gyro_bias_rps": [0.01, 0, 0]}')
    cid = store.add_calibration("DMI-0001", "gyro_bias", cal_file, {"gyro_bias_rps": [0.01, 0.0, 0.0]})
    sid = store.create_session(SUBJECT, sensors={"DMI-0001": "trunk"})
    store.set_calibration(sid, "DMI-0001", cid)
    store.set_calibration(sid, "DMI-0001", cid)  # idempotent
    info = store.session_info(sid)
    assert info.sensors[0].calibration_ids == (cid,)
    cal = store.calibration(cid)
    assert cal.sha256 == __import__("hashlib").sha256(cal_file.read_bytes()).hexdigest()
    assert cal.parameters == {"gyro_bias_rps": [0.01, 0.0, 0.0]}
    # the file's name and hash, never its path (a path names the user's home folder)
    assert (cal.calibration_id, cal.sensor_id, cal.kind, cal.reference) == (cid, "DMI-0001", "gyro_bias", "cal.json")
    assert str(tmp_path) not in str(store._conn.execute("SELECT * FROM calibrations").fetchall())
    assert store.sensor_calibrations(sid, "DMI-0001") == [cal]
    with pytest.raises(KeyError):
        store.set_calibration(sid, "nope", cid)


def test_calibration_files_of_all_kinds_link_to_one_sensor(store):
    """The calibration package's example files (accel, gyro, alignment) all attach to SIM-0001."""
    from pathlib import Path

    from dmi_sensors.analysis import save_calibration_file
    from dmi_sensors.calibration import read_calibration

    examples = sorted((Path(__file__).parents[1] / "calibration" / "examples").glob("SIM-0001_*.json"))
    assert len(examples) == 3
    sid = store.create_session(SUBJECT, sensors={"SIM-0001": "trunk"})
    ids = [save_calibration_file(store, p, sid) for p in examples]
    (sensor,) = store.session_info(sid).sensors
    assert sensor.calibration_ids == tuple(ids)
    for cid, path in zip(ids, examples, strict=True):
        ref = store.calibration(cid)
        assert ref.kind == read_calibration(path).kind and ref.reference == path.name
        assert ref.parameters == read_calibration(path).to_dict()  # content kept even if the file moves


def test_bad_calibration_file_changes_nothing(store, tmp_path):
    from dmi_sensors.analysis import save_calibration_file
    from dmi_sensors.errors import DataFileError

    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "kind": "gyro"')
    sid = store.create_session(SUBJECT, sensors={"SIM-0001": "trunk"})
    with pytest.raises(DataFileError, match=r"bad\.json"):
        save_calibration_file(store, bad, sid)
    assert store.session_info(sid).sensors[0].calibration_ids == ()
    assert store._conn.execute("SELECT count(*) FROM calibrations").fetchone()[0] == 0


def test_load_calibration_rebuilds_what_the_session_used(store, tmp_path, monkeypatch):
    """Inline content (with NaN fields), a moved file and a directory reference all come back."""
    from dmi_sensors.analysis import load_calibration, save_calibration
    from dmi_sensors.calibration import GyroCalibration, SensorCalibration, read_calibration, write_calibration
    from dmi_sensors.errors import DataFileError

    sid = store.create_session(SUBJECT, sensors={"S1": "trunk"})
    assert load_calibration(store, sid, "S1") is None
    gyro = GyroCalibration("S1", bias_rps=[0.01, -0.02, 0.003])  # bias_stderr_rps stays NaN
    (cid,) = save_calibration(store, sid, SensorCalibration("S1", gyro=gyro))
    assert store.calibration(cid).reference == "inline:gyro"  # the store keeps the content, not an object
    back = load_calibration(store, sid, "S1").gyro
    np.testing.assert_array_equal(back.bias_rps, gyro.bias_rps)
    assert np.isnan(back.bias_stderr_rps).all()

    # a plain reference to a directory of calibration files: the sensor's latest of each kind
    # (stored by its name, so it is found from the working directory)
    monkeypatch.chdir(tmp_path)
    cal_dir = tmp_path / "cals"
    cal_dir.mkdir()
    newer = GyroCalibration("S1", bias_rps=[0.5, 0.5, 0.5], created_utc="2030-01-01T00:00:00Z")
    write_calibration(newer, cal_dir / "g.json")
    cid = store.add_calibration("S1", "gyro", cal_dir)
    store.set_calibration(sid, "S1", cid)
    np.testing.assert_array_equal(load_calibration(store, sid, "S1").gyro.bias_rps, [0.5, 0.5, 0.5])
    assert read_calibration(cal_dir / "g.json").bias_rps.tolist() == [0.5, 0.5, 0.5]

    # a reference that can no longer be read is one clear error naming the database
    (cal_dir / "g.json").unlink()
    cal_dir.rmdir()
    with pytest.raises(DataFileError, match=r"s\.sqlite.*calibration"):
        load_calibration(store, sid, "S1")
