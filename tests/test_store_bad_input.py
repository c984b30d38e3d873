"""Bad files: one clear DataFileError naming the file and the expectation; nothing stored changes."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from store_helpers import example_events, synthetic_batch

from dmi_sensors.errors import DataFileError
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import export_session, import_path
from dmi_sensors.store.export.ingest import ingest_session

SUBJECT = Subject("P001", 2019, 0.42)


@pytest.fixture
def exported(tmp_path):
    """A store with one session, and its CSV, Parquet and BIDS exports."""
    store = SessionStore(tmp_path / "s.sqlite")
    sid = ingest_session(
        store,
        subject=SUBJECT,
        start_utc="2026-01-02T03:04:05Z",
        batches={"A": synthetic_batch("A", 200, 100.0, 0, drop=[50])},
        placements={"A": "trunk"},
        events=example_events(),
    )
    for fmt in ("csv", "parquet", "bids"):
        export_session(store, sid, tmp_path / fmt, fmt)
    yield store, tmp_path
    store.close()


def _db_state(store):
    """Every row of every table (what 'nothing already stored is changed' is checked against)."""
    with sqlite3.connect(store.path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}


def _expect_error(store, path, pattern, **kwargs):
    before = _db_state(store)
    with pytest.raises(DataFileError, match=pattern) as exc:
        import_path(store, path, **kwargs)
    assert _db_state(store) == before
    return exc.value


def test_truncated_parquet(exported):
    store, tmp = exported
    target = tmp / "parquet" / "samples.parquet"
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    err = _expect_error(store, tmp / "parquet", r"samples\.parquet: expected a complete Parquet file")
    assert err.path == target


def test_parquet_with_wrong_columns(exported):
    store, tmp = exported
    target = tmp / "parquet" / "events.parquet"
    pd.read_parquet(target).drop(columns=["support"]).to_parquet(target)
    expected = r"events\.parquet: header: expected columns onset_s,.*found no column 'support'"
    _expect_error(store, tmp / "parquet", expected)


def test_csv_with_wrong_columns(exported):
    store, tmp = exported
    target = tmp / "csv" / "samples.csv"
    frame = pd.read_csv(target).rename(columns={"gyr_y_rps": "gyro_y"})
    frame.to_csv(target, index=False)
    _expect_error(store, tmp / "csv", r"samples\.csv: header: expected columns sensor_id,.*found no column 'gyr_y_rps'")


def test_csv_with_a_bad_cell_names_the_line(exported):
    store, tmp = exported
    target = tmp / "csv" / "samples.csv"
    lines = target.read_text().splitlines()
    cells = lines[10].split(",")
    cells[6] = "abc"  # acc_x_mps2
    lines[10] = ",".join(cells)
    target.write_text("\n".join(lines) + "\n")
    _expect_error(store, tmp / "csv", r"samples\.csv: line 11, column 'acc_x_mps2': expected a number, found 'abc'")


def test_events_with_unknown_source_are_refused_before_anything_is_stored(exported):
    store, tmp = exported
    target = tmp / "csv" / "events.csv"
    frame = pd.read_csv(target)
    frame.loc[1, "source"] = "guessed"
    frame.to_csv(target, index=False)
    _expect_error(store, tmp / "csv", r"events\.csv: line 3, column 'source': expected one of")


def test_broken_session_json(exported):
    store, tmp = exported
    (tmp / "csv" / "session.json").write_text('{"format": "dmi-sensors session export", ')
    _expect_error(store, tmp / "csv", r"session\.json: line 1, column \d+: expected JSON")
    (tmp / "csv" / "session.json").write_text(json.dumps({"format": "something else"}))
    _expect_error(store, tmp / "csv", r"session\.json: key 'format': expected 'dmi-sensors session export'")


def test_trial_csv_with_wrong_columns(exported):
    store, tmp = exported
    bad = tmp / "trial.csv"
    bad.write_text("t,ax,ay,az\n0,1,2,3\n0.01,1,2,3\n")
    _expect_error(store, bad, r"trial\.csv: line 1 \(header\): expected columns time_s,", subject=SUBJECT)


def test_bids_with_wrong_channels_and_truncated_motion(exported):
    store, tmp = exported
    motion = tmp / "bids" / "sub-P001" / "ses-1" / "motion"
    channels = next(motion.glob("*_channels.tsv"))
    original = channels.read_text()
    channels.write_text(original.replace("GYRO", "GYROSCOPE"))
    _expect_error(store, tmp / "bids", r"_channels\.tsv: expected ACCEL and GYRO channels x, y, z, found no GYRO x")
    channels.write_text(original)
    data = next(motion.glob("*_motion.tsv"))
    lines = data.read_text().splitlines()
    lines[7] = "\t".join(lines[7].split("\t")[:4])  # a cut-off row
    data.write_text("\n".join(lines) + "\n")
    _expect_error(store, tmp / "bids", r"_motion\.tsv: line 8: expected 7 tab-separated values")


def test_missing_path(exported):
    store, tmp = exported
    _expect_error(store, tmp / "nothing-here", "no such file or directory")
