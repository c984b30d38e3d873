"""XDF import (``dmi-sensors sessions import FILE.xdf``): files written here from the XDF
specification (tests/xdf_helpers.py), read by pyxdf after our chunk check.

A file with two IMU streams (SI units at 100 Hz; g and deg/s at 50 Hz with lost samples), a
marker stream (the outlet's JSON events and another program's text) and an EEG stream
imports as one session with the right sensors, rates, values, losses and events; damaged
files give one DataFileError naming the file and the chunk, and store nothing.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from xdf_helpers import XdfStream, chunk, varlen, write_xdf, xdf_bytes

from dmi_sensors.cli import main
from dmi_sensors.errors import DataFileError
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import import_path
from dmi_sensors.store.export.xdf import check_xdf, read_xdf
from dmi_sensors.store.lsl_layout import IMU_CHANNELS, marker_text
from dmi_sensors.store.samples import session_samples

G0 = 9.80665
DEG = math.pi / 180
T0 = 5000.25  # LSL clock of the first sample (a computer up for 83 minutes)


def _signals(n, fs, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    acc = np.column_stack([0.3 * np.sin(2 * np.pi * 0.5 * t), 0.1 * rng.standard_normal(n), 9.81 + 0 * t])
    gyr = np.column_stack([0.2 * np.cos(2 * np.pi * 0.5 * t), 0.01 * rng.standard_normal(n), 0 * t])
    return acc, gyr


def lab_streams(lost=range(60, 65)):
    """Stream 1: trunk IMU, double64, SI, 100 Hz, 400 samples; stream 2: an IMU in g and deg/s,
    float32, 50 Hz, 200 samples less ``lost``; stream 3: markers; stream 4: 8-channel EEG."""
    acc1, gyr1 = _signals(400, 100.0, 1)
    trunk = XdfStream(
        1,
        "DMI-0001 IMU",
        "IMU",
        "double64",
        100.0,
        labels=[c[0] for c in IMU_CHANNELS],
        units=[c[1] for c in IMU_CHANNELS],
        times=T0 + np.arange(400) / 100.0,
        values=np.hstack([acc1, gyr1]),
        serial="DMI-0001",
        placement="trunk",
    )
    acc2, gyr2 = _signals(200, 50.0, 2)
    keep = np.setdiff1d(np.arange(200), np.asarray(list(lost), dtype=int))
    other = XdfStream(
        2,
        "PhoneIMU",
        "Accelerometer",
        "float32",
        50.0,
        labels=["gyro_x", "gyro_y", "gyro_z", "accel_x", "accel_y", "accel_z", "mag_x"],
        units=["deg/s"] * 3 + ["g"] * 3 + ["uT"],
        # 0.3 ms of jitter on the phone's timestamps, less than half its 20 ms period
        times=T0 + 0.1 + keep / 50.0 + 0.0003 * np.sin(keep),
        values=np.hstack([gyr2[keep] / DEG, acc2[keep] / G0, np.zeros((keep.size, 1))]).astype(np.float32),
    )
    marks = [
        (T0 + 0.5, marker_text({"kind": "exercise", "exercise": "sit_table_trunk", "duration_s": 3.0,
                                "source": "manual"})),
        (T0 + 1.0, marker_text({"kind": "repetition", "exercise": "sit_table_trunk", "repetition": 1,
                                "duration_s": 1.5, "support": "trunk", "source": "manual"})),
        (T0 + 2.25, "stimulus onset"),
    ]  # fmt: skip
    markers = XdfStream(
        3, "Markers", "Markers", "string", 0.0, times=np.array([m[0] for m in marks]), values=[m[1] for m in marks]
    )
    eeg = XdfStream(
        4,
        "EEG",
        "EEG",
        "float32",
        250.0,
        labels=[f"C{i}" for i in range(8)],
        units=["uV"] * 8,
        times=T0 + np.arange(500) / 250.0,
        values=np.zeros((500, 8), np.float32),
    )
    return [trunk, other, markers, eeg], (acc1, gyr1, acc2[keep], gyr2[keep], keep)


def test_read_xdf_streams_rates_units_losses_and_markers(tmp_path):
    streams, (acc1, gyr1, acc2, gyr2, keep) = lab_streams()
    rec = read_xdf(write_xdf(tmp_path / "lab.xdf", streams))
    assert sorted(rec.batches) == ["DMI-0001", "PhoneIMU"]
    assert rec.placements == {"DMI-0001": "trunk", "PhoneIMU": ""}
    assert rec.start_utc == "2026-03-10T08:30:00.000000Z"  # the header's local time with its offset, in UTC
    trunk, phone = rec.batches["DMI-0001"], rec.batches["PhoneIMU"]
    assert trunk.fs_hz == 100.0 and phone.fs_hz == 50.0
    np.testing.assert_array_equal(trunk.acc_mps2, acc1)  # double64 in SI: the values as written
    np.testing.assert_array_equal(trunk.gyr_rps, gyr1)
    np.testing.assert_allclose(phone.acc_mps2, acc2, rtol=1e-6, atol=1e-6)  # float32 in g -> m/s^2
    np.testing.assert_allclose(phone.gyr_rps, gyr2, rtol=1e-6, atol=1e-7)  # deg/s -> rad/s
    np.testing.assert_allclose(trunk.time_s, np.arange(400) / 100.0, atol=1e-9)  # session time 0 = first sample
    np.testing.assert_array_equal(trunk.counter, np.arange(400))
    np.testing.assert_array_equal(phone.counter, keep)  # sample numbers from the times at 50 Hz, jitter rounded off
    assert int(phone.gap_before.sum()) == 1 and int(phone.counter[-1] - phone.counter[0] + 1 - len(phone)) == 5
    assert not trunk.gap_before.any()
    ev = rec.events.sort_values("onset_s").reset_index(drop=True)
    assert ev["onset_s"].tolist() == pytest.approx([0.5, 1.0, 2.25], abs=1e-9)
    assert ev["kind"].tolist() == ["exercise", "repetition", "note"]
    assert ev.loc[1, "exercise"] == "sit_table_trunk" and int(ev.loc[1, "repetition"]) == 1
    assert ev.loc[1, "support"] == "trunk" and ev.loc[1, "duration_s"] == 1.5
    assert ev.loc[2, "note"] == "stimulus onset" and ev.loc[2, "source"] == "import"
    assert len(rec.skipped) == 1 and "'EEG'" in rec.skipped[0]


def test_clock_offsets_move_a_stream_onto_the_recorder_clock(tmp_path):
    """A stream whose computer's clock runs 2 s behind the recorder's (ClockOffset = +2 s) lands
    on the recorder's time line: session time 0 is then the other stream's first sample."""
    streams, _ = lab_streams()
    trunk, markers = streams[0], streams[2]
    trunk.times = trunk.times - 2.0  # its own clock
    data = xdf_bytes([trunk, markers], clock_offsets=())
    # offsets after the samples, as LabRecorder writes them every 5 s
    for sid, offset in ((1, 2.0), (3, 0.0)):
        data += chunk(4, struct.pack("<Idd", sid, T0, offset)) + chunk(4, struct.pack("<Idd", sid, T0 + 5, offset))
    (tmp_path / "sync.xdf").write_bytes(data)
    rec = read_xdf(tmp_path / "sync.xdf")
    np.testing.assert_allclose(rec.batches["DMI-0001"].time_s, np.arange(400) / 100.0, atol=1e-6)
    assert rec.events["onset_s"].tolist() == pytest.approx([0.5, 1.0, 2.25], abs=1e-6)


def test_cli_imports_the_file_as_a_session(tmp_path, capsys):
    streams, _ = lab_streams()
    path = write_xdf(tmp_path / "lab.xdf", streams)
    db = str(tmp_path / "s.sqlite")
    assert main(["sessions", "import", str(path), "--subject-id", "C001", "--com-height-m", "0.45", "--db", db]) == 0
    out = capsys.readouterr()
    assert "as session 1: subject C001, 2 sensor(s), 595 samples, 3 events" in out.out
    assert "not imported: stream 4 'EEG' (type 'EEG'): not an IMU or marker stream" in out.err
    with SessionStore(db) as store:
        info = store.session_info(1)
        assert info.origin == "import" and info.start_utc.startswith("2026-03-10T08:30:00")
        assert {s.sensor_id: (s.placement, s.samples) for s in info.sensors} == {
            "DMI-0001": ("trunk", 400),  # the stream's own desc/placement
            "PhoneIMU": ("", 195),  # two IMU streams: --placement names none of them
        }
        batches = session_samples(store, 1)
        assert int(batches["PhoneIMU"].gap_before.sum()) == 1
        assert set(store.events(1)["kind"]) == {"exercise", "repetition", "note"}
    assert main(["sessions", "show", "1", "--json", "--db", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["events"] == 3 and shown["notes"] == [
        {"onset_s": 2.25, "note": "stimulus onset", "exercise": "", "repetition": 0}
    ]


def test_a_single_imu_stream_takes_sensor_id_and_placement(tmp_path):
    streams, _ = lab_streams()
    streams[1].name = "AA:BB:CC:DD:EE:FF"  # an address as the stream's name is never stored
    path = write_xdf(tmp_path / "one.xdf", [streams[1], streams[2]])
    with SessionStore(tmp_path / "s.sqlite") as store:
        sid = import_path(store, path, subject=Subject("C002"), placement="pelvis")
        assert [(s.sensor_id, s.placement) for s in store.session_info(sid).sensors] == [("lsl-1", "pelvis")]
        sid = import_path(store, path, subject=Subject("C002"), sensor_id="phone", placement="pelvis")
        assert [(s.sensor_id, s.placement) for s in store.session_info(sid).sensors] == [("phone", "pelvis")]


def _corrupt(data: bytes, how: str) -> bytes:
    """Damage a good file; the chunk positions come from walking it."""
    starts = []
    pos = 4
    while pos < len(data):
        nb = data[pos]
        length = int.from_bytes(data[pos + 1 : pos + 1 + nb], "little")
        starts.append((pos, nb, length, int.from_bytes(data[pos + 1 + nb : pos + 3 + nb], "little")))
        pos += 1 + nb + length
    samples = [s for s in starts if s[3] == 3]
    p, nb, length, _ = samples[3]
    if how == "magic":
        return b"XDF " + data[4:]
    if how == "truncated":
        return data[: p + 40]
    if how == "length_bytes":
        return data[:p] + bytes([3]) + data[p + 1 :]
    if how == "tag":
        return data[: p + 1 + nb] + struct.pack("<H", 9) + data[p + 3 + nb :]
    if how == "sample_count":  # one sample more than the chunk holds
        body = p + 1 + nb + 2 + 4
        n = data[body + 1]
        return data[: body + 1] + bytes([n + 1]) + data[body + 2 :]
    if how == "timestamp_bytes":
        body = p + 1 + nb + 2 + 4 + 2
        return data[:body] + bytes([5]) + data[body + 1 :]
    if how == "unknown_stream":
        body = p + 1 + nb + 2
        return data[:body] + struct.pack("<I", 77) + data[body + 4 :]
    if how == "header_xml":
        hp = starts[1][0]
        i = data.index(b"<info>", hp)
        return data[:i] + b"<inf0>" + data[i + 6 :]
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "where", "expected"),
    [
        ("magic", "byte 0", "the XDF magic"),
        ("truncated", "(Samples of stream", "file truncated"),
        ("length_bytes", "chunk", "1, 4 or 8 bytes"),
        ("tag", "chunk", "a chunk tag 1-6"),
        ("sample_count", "(Samples of stream", "samples"),
        ("timestamp_bytes", "(Samples of stream", "a timestamp size of 0 or 8"),
        ("unknown_stream", "(Samples of stream 77)", "a StreamHeader of stream 77"),
        ("header_xml", "chunk 2 at byte", "well-formed XML"),
    ],
)
def test_a_corrupt_file_names_file_and_place_and_stores_nothing(tmp_path, capsys, how, where, expected):
    streams, _ = lab_streams()
    path = tmp_path / "bad.xdf"
    path.write_bytes(_corrupt(xdf_bytes(streams), how))
    with pytest.raises(DataFileError) as err:
        check_xdf(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and where in msg and expected in msg, msg
    db = str(tmp_path / "s.sqlite")
    assert main(["sessions", "import", str(path), "--subject-id", "C001", "--db", db]) != 0
    printed = capsys.readouterr().err.strip().splitlines()
    assert any(str(path) in line and where in line for line in printed), printed
    with SessionStore(db) as store:
        assert store.sessions() == []


def test_a_file_without_an_imu_stream_says_what_it_holds(tmp_path):
    streams, _ = lab_streams()
    path = write_xdf(tmp_path / "eeg.xdf", [streams[3], streams[2]])
    expected = r"eeg\.xdf: expected an IMU stream .*'EEG'.*not an IMU or marker stream \(channels labelled AccX"
    with pytest.raises(DataFileError, match=expected):
        read_xdf(path)


def test_an_imu_stream_with_an_unknown_unit_or_no_rate_is_an_error(tmp_path):
    streams, _ = lab_streams()
    streams[0].units = ["m/s^2"] * 3 + ["rpm"] * 3
    with pytest.raises(DataFileError, match=r"stream 1 'DMI-0001 IMU'.*angular rate unit.*'rpm'"):
        read_xdf(write_xdf(tmp_path / "unit.xdf", streams[:1]))
    streams, _ = lab_streams()
    streams[0].nominal_srate = 0.0
    with pytest.raises(DataFileError, match=r"a nominal rate > 0"):
        read_xdf(write_xdf(tmp_path / "rate.xdf", streams[:1]))


def test_varlen_integers_of_every_width_are_read(tmp_path):
    """The spec's three widths of a variable-length integer and of a chunk length (1, 4, 8 bytes)."""
    streams, _ = lab_streams()
    trunk = streams[0]
    data = bytearray(b"XDF:")
    data += chunk(1, b"<?xml version='1.0'?><info><version>1.0</version></info>", length_bytes=8)
    data += chunk(2, struct.pack("<I", 1) + trunk.header_xml(), length_bytes=4)
    content = trunk.samples_content(0, 400)
    content = content[:4] + bytes([8]) + (400).to_bytes(8, "little") + content[4 + len(varlen(400)) :]
    data += chunk(3, content, length_bytes=8)
    path = tmp_path / "wide.xdf"
    path.write_bytes(bytes(data))
    rec = read_xdf(path)
    assert len(rec.batches["DMI-0001"]) == 400 and rec.start_utc is None
