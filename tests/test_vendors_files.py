"""The vendors' own files (Movella DOT CSV, MetaBase CSV, APDM Opal .h5) as trials and sessions.

The test files are written here in each documented format (docs/vendors.md, "Files");
bad files must raise one DataFileError naming the file, the place and what was expected.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmi_sensors.cli import main
from dmi_sensors.errors import DataFileError
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import import_path
from dmi_sensors.store.export.vendor import read_any_trial, read_vendor_trial
from dmi_sensors.store.samples import session_samples
from dmi_sensors.vendors.files import detect_format, read_apdm_h5, read_dot_csv, read_metabase_csv

G0 = 9.80665
DEG = math.pi / 180
SUBJECT = Subject("P7", 2019, 0.45)


# ------------------------------------------------------------------------------ writers
def write_dot_csv(path, n=300, fs=60, drop=(), wrap_at=None, metadata=True, packet_counter=True):
    """A DOT export: metadata lines, a header, one row per sample (trailing commas as the app writes)."""
    lines = []
    if metadata:
        lines += ["DeviceTag:,Movella DOT", "FirmwareVersion:,2.6.0", f"OutputRate:,{fs}Hz", "FilterProfile:,General"]
    cols = ["PacketCounter"] if packet_counter else []
    cols += ["SampleTimeFine", "Quat_W", "Quat_X", "Quat_Y", "Quat_Z"]
    cols += ["Acc_X", "Acc_Y", "Acc_Z", "Gyr_X", "Gyr_Y", "Gyr_Z", "Status"]
    lines.append(",".join(cols) + ",")
    t0 = (1 << 32) - wrap_at * round(1e6 / fs) if wrap_at is not None else 1_000_000
    for i in range(n):
        if i in drop:
            continue
        ts = (t0 + round(i * 1e6 / fs)) % (1 << 32)
        row = [str(i + 5)] if packet_counter else []
        row += [str(ts), "1", "0", "0", "0", f"{0.01 * (i % 7):.4f}", "0.2", "9.81", f"{i % 50}", "-3", "0.5", "0"]
        lines.append(",".join(row) + ",")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_metabase(dirpath, n=400, fs=100, gyro_offset_ms=3, with_gyro=True, drop=()):
    """MetaBase's two files of one export (accelerometer in g, gyroscope in deg/s)."""
    prefix = "MetaWear_2024-03-01T10.15.00.000_C1D2E3F4A5B6"
    epoch0 = 1_709_288_100_000
    acc_rows = ["epoch (ms),time (00:00),elapsed (s),x-axis (g),y-axis (g),z-axis (g)"]
    gyr_rows = ["epoch (ms),time (00:00),elapsed (s),x-axis (deg/s),y-axis (deg/s),z-axis (deg/s)"]
    for i in range(n):
        e = epoch0 + round(i * 1000 / fs)
        if i not in drop:
            acc_rows.append(f"{e},2024-03-01T10.15.00.000,{i / fs:.3f},{0.001 * i:.4f},0.000,1.000")
        g = e + gyro_offset_ms
        gyr_rows.append(f"{g},2024-03-01T10.15.00.000,{i / fs:.3f},{float(i)},2.000,-1.000")
    acc = dirpath / f"{prefix}_Accelerometer_1.7.3.csv"
    acc.write_text("\n".join(acc_rows) + "\n")
    gyr = dirpath / f"{prefix}_Gyroscope_1.7.3.csv"
    if with_gyro:
        gyr.write_text("\n".join(gyr_rows) + "\n")
    return acc, gyr


def write_apdm(path, version=5, n=256, fs=128, labels=("Lumbar", "Sternum"), drop=(), skip=None):
    """An APDM v5 file: /Sensors/<case id>/{Accelerometer, Gyroscope, Time, Configuration}."""
    t_start = 1_700_000_000_000_000  # µs since 1970
    with h5py.File(path, "w") as f:
        f.attrs["FileFormatVersion"] = np.int32(version)
        sensors = f.create_group("Sensors")
        for k, label in enumerate(labels):
            g = sensors.create_group(str(3142 + k))
            keep = np.array([i for i in range(n) if i not in drop])
            idx = keep + 2 * k  # the second monitor starts 2 samples later
            g["Time"] = (t_start + np.round(idx * 1e6 / fs)).astype(np.uint64)
            g["Accelerometer"] = np.column_stack([0.01 * idx, np.zeros(idx.size), np.full(idx.size, G0)])
            if skip != "Gyroscope":
                g["Gyroscope"] = np.column_stack([0.001 * idx, 0.1 * np.ones(idx.size), np.zeros(idx.size)])
            c = g.create_group("Configuration")
            c.attrs["Label 0"] = np.bytes_(label.encode() + b"\x00")
            c.attrs["Sample Rate"] = np.uint16(fs)
    return path


# ------------------------------------------------------------------------------ DOT CSV
def test_dot_csv_units_counters_wrap_and_gaps(tmp_path):
    path = write_dot_csv(tmp_path / "dot.csv", drop=(40, 41, 200), wrap_at=100)
    assert detect_format(path) == "dot_csv"
    rec = read_dot_csv(path)
    b = rec.batches["dot"]
    assert len(b) == 297 and b.fs_hz == 60.0 and rec.metadata["FirmwareVersion"] == "2.6.0"
    assert b.counter[:3].tolist() == [0, 1, 2] and np.count_nonzero(np.diff(b.counter) > 1) == 2
    assert np.flatnonzero(b.gap_before).tolist() == [40, 198]
    np.testing.assert_allclose(b.acc_mps2[:, 2], 9.81)
    np.testing.assert_allclose(b.gyr_rps[:, 1], -3 * DEG)  # deg/s in the file
    np.testing.assert_allclose(np.diff(b.time_s)[:30], 1 / 60, atol=1e-6)  # across the SampleTimeFine wrap
    assert b.time_s[-1] == pytest.approx(299 / 60, abs=1e-5)


def test_dot_csv_without_metadata_or_packet_counter(tmp_path):
    path = write_dot_csv(tmp_path / "bare.csv", metadata=False, packet_counter=False, drop=(10,))
    b = read_dot_csv(path).batches["dot"]
    assert b.fs_hz == pytest.approx(60, rel=1e-3) and b.gap_before.sum() == 1 and b.counter[10] == 11


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda t: t.replace("Gyr_Z,", "Gyr_Q,"), "line 5 (header): expected columns SampleTimeFine"),
        (lambda t: t.replace("\n8,", "\nabc,", 1), "line 9, column 'PacketCounter': expected a number"),
        (lambda t: t.replace("SampleTimeFine", "SampleTime"), "a header line with SampleTimeFine"),
    ],
)
def test_dot_csv_errors_name_the_place(tmp_path, edit, where):
    path = write_dot_csv(tmp_path / "dot.csv")
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataFileError, match=re.escape(where)) as err:
        read_dot_csv(path)
    assert str(path) in str(err.value)


# ------------------------------------------------------------------------------ MetaBase
def test_metabase_pairs_the_gyroscope_file_and_converts_units(tmp_path):
    acc, gyr = write_metabase(tmp_path, drop=(100, 101))
    assert detect_format(acc) == detect_format(gyr) == "metabase_csv"
    for one in (acc, gyr):  # either file of the export finds its partner
        rec = read_metabase_csv(one)
        b = rec.batches["metamotion"]
        assert rec.loss_accounting == "estimated" and b.fs_hz == pytest.approx(100)
        np.testing.assert_allclose(b.acc_mps2[:, 2], G0)
        assert b.gap_before.sum() == 1 and np.diff(b.counter).max() == 3
        # gyroscope 3 ms late: interpolated onto the accelerometer's timestamps (x = sample index in deg/s)
        np.testing.assert_allclose(b.gyr_rps[:, 0] / DEG, b.counter + 0.7, atol=1e-9)  # sample 0 precedes any gyro one
        assert rec.start_utc == "2024-03-01T10:15:00.010000Z"


def test_metabase_accelerometer_only_and_bad_header(tmp_path):
    acc, _ = write_metabase(tmp_path, with_gyro=False)
    b = read_metabase_csv(acc).batches["metamotion"]
    assert np.isnan(b.gyr_rps).all() and len(b) == 400
    with pytest.raises(DataFileError, match="gyroscope data"):
        read_vendor_trial(acc)
    acc.write_text(acc.read_text().replace("z-axis (g)", "z-axis (m/s^2)"))
    with pytest.raises(DataFileError, match=r"line 1 \(header\).*z-axis \(g\)"):
        read_metabase_csv(acc)


# ------------------------------------------------------------------------------ APDM
def test_apdm_h5_monitors_labels_and_common_time(tmp_path):
    path = write_apdm(tmp_path / "rec.h5", drop=(50, 51, 52))
    assert detect_format(path) == "apdm_h5"
    rec = read_apdm_h5(path)
    assert set(rec.batches) == {"apdm-3142", "apdm-3143"}
    assert rec.placements == {"apdm-3142": "Lumbar", "apdm-3143": "Sternum"}
    assert rec.start_utc == "2023-11-14T22:13:20Z"
    a, s = rec.batches["apdm-3142"], rec.batches["apdm-3143"]
    assert a.fs_hz == 128 and len(a) == 253 and a.gap_before.sum() == 1 and a.counter[50] == 53
    assert s.time_s[0] == pytest.approx(2 / 128) and s.counter[0] == 2  # one time base for all monitors
    np.testing.assert_allclose(a.gyr_rps[:, 1], 0.1)  # rad/s in the file
    np.testing.assert_allclose(a.acc_mps2[:, 2], G0)


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"version": 4}, "FileFormatVersion.*5 or later"),
        ({"skip": "Gyroscope"}, "/Sensors/3142/Gyroscope: expected a dataset"),
    ],
)
def test_apdm_errors_name_the_object(tmp_path, kwargs, where):
    path = write_apdm(tmp_path / "bad.h5", **kwargs)
    with pytest.raises(DataFileError, match=where):
        read_apdm_h5(path)


def test_a_file_of_no_known_format(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataFileError, match=r"expected a trial CSV|expected columns"):
        read_any_trial(path)


# ------------------------------------------------------------------------------ trials and sessions
def test_vendor_trial_is_the_longest_gap_free_stretch(tmp_path):
    path = write_apdm(tmp_path / "rec.h5", drop=(50,), n=400)
    with pytest.raises(DataFileError, match=r"apdm-3142 \(Lumbar\), apdm-3143 \(Sternum\)"):
        read_vendor_trial(path)
    trial = read_vendor_trial(path, sensor="Lumbar")
    assert trial.fs_hz == 128 and len(trial) in (348, 349) and trial.time_s[0] == 0.0  # 349 after the gap; µs times
    np.testing.assert_allclose(np.diff(trial.time_s), 1 / 128)


def test_import_path_stores_each_format_as_a_session(tmp_path):
    dot_path = write_dot_csv(tmp_path / "dot.csv", drop=(10,))
    acc, _ = write_metabase(tmp_path)
    h5 = write_apdm(tmp_path / "rec.h5")
    with SessionStore(tmp_path / "s.sqlite") as store:
        ids = [
            import_path(store, dot_path, subject=SUBJECT, placement="pelvis"),
            import_path(store, acc, subject=SUBJECT, sensor_id="mm1"),
            import_path(store, h5, subject=SUBJECT),
        ]
        samples = [session_samples(store, sid) for sid in ids]
        infos = [store.session_info(sid) for sid in ids]
    assert list(samples[0]) == ["dot"] and len(samples[0]["dot"]) == 299 and samples[0]["dot"].gap_before.sum() == 1
    assert list(samples[1]) == ["mm1"] and infos[1].start_utc.startswith("2024-03-01T10:15:00")
    assert sorted(samples[2]) == ["apdm-3142", "apdm-3143"]
    placements = {s.sensor_id: s.placement for s in infos[2].sensors}
    assert placements == {"apdm-3142": "Lumbar", "apdm-3143": "Sternum"}
    np.testing.assert_allclose(samples[2]["apdm-3142"].gyr_rps[:, 1], 0.1)


def test_cli_imports_a_vendor_file_and_analyses_one(tmp_path, capsys):
    h5 = write_apdm(tmp_path / "rec.h5", n=128 * 40)
    db = str(tmp_path / "cli.sqlite")
    args = ["--subject-id", "P9", "--birth-year", "2018", "--com-height-m", "0.5", "--db", db]
    assert main(["sessions", "import", str(h5), *args]) == 0
    assert "as session 1" in capsys.readouterr().out
    assert main(["sessions", "show", "1", "--json", "--db", db]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(s["sensor_id"] for s in shown["sensors"]) == ["apdm-3142", "apdm-3143"]
    dot_path = write_dot_csv(tmp_path / "dot.csv", n=60 * 40)
    out = tmp_path / "out.json"
    assert main(["analyse", str(dot_path), "--com-height-m", "0.5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["parameters"]["input"] == str(dot_path)
    assert main(["analyse", str(h5), "--com-height-m", "0.5", "--sensor", "Sternum", "--json", str(out)]) == 0
    assert main(["analyse", str(h5), "--com-height-m", "0.5"]) == 1 and "apdm-3142 (Lumbar)" in capsys.readouterr().err


# ------------------------------------------------------------------------------ fuzzing the readers
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["dot", "metabase", "apdm"]),
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
)
def test_damaged_files_raise_only_data_file_errors(tmp_path, kind, cut, flips):
    """Valid files cut short and with bytes overwritten: read, or one DataFileError; nothing else."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    if kind == "dot":
        path = write_dot_csv(folder / "d.csv", n=60)
    elif kind == "metabase":
        path, _ = write_metabase(folder, n=60)
    else:
        path = write_apdm(folder / "r.h5", n=64)
    data = bytearray(path.read_bytes())
    for where, value in flips:
        data[where % len(data)] = value
    path.write_bytes(bytes(data[: max(1, len(data) - cut)]))
    try:
        rec = read_any_trial(path) if kind != "apdm" else read_apdm_h5(path)
    except DataFileError as exc:
        assert str(path) in str(exc)
    else:
        assert rec is not None
