"""Corrupt databases: one clear error naming the file and the expectation; the file is untouched."""

from __future__ import annotations

import os
import sqlite3

import pytest
from store_helpers import synthetic_packets

from dmi_sensors.errors import DataFileError
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore


def _snapshot(path):
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def _good_database(path, n_packets=400):
    with SessionStore(path) as store:
        sid = store.create_session(Subject("P001", 2019, 0.42), sensors={"A": "trunk"})
        store.add_packets(sid, synthetic_packets("A", n_packets))
    with sqlite3.connect(path) as conn:  # fold the WAL into the main file, leave no -wal
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return path


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.sqlite"
    path.write_bytes(os.urandom(3000))
    before = _snapshot(path)
    with pytest.raises(DataFileError) as exc:
        SessionStore(path)
    assert str(exc.value).startswith(f"{path}: byte 0: expected an SQLite 3 database (header 'SQLite format 3')")
    assert _snapshot(path) == before


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("subject,notes\n")
    before = _snapshot(path)
    with pytest.raises(DataFileError, match=r"notes\.txt: byte 0: expected an SQLite 3 database"):
        SessionStore(path)
    assert _snapshot(path) == before


@pytest.mark.parametrize("keep", [0.5, 50])
def test_truncated_file(tmp_path, keep):
    path = _good_database(tmp_path / "cut.sqlite")
    data = path.read_bytes()
    cut = int(len(data) * keep) if keep < 1 else keep
    path.write_bytes(data[:cut])
    before = _snapshot(path)
    with pytest.raises(DataFileError, match=r"cut.sqlite: .*expected .*(truncated|header)") as exc:
        SessionStore(path)
    assert "cut.sqlite" in str(exc.value)
    assert _snapshot(path) == before


@pytest.mark.parametrize("wal", [False, True])
def test_corrupted_pages_inside_give_one_clear_error(tmp_path, wal):
    path = _good_database(tmp_path / "bad.sqlite")
    if wal:
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : 4 * page] = os.urandom(3 * page)  # smash the tables' first pages (page 1 = schema survives)
    path.write_bytes(bytes(data))
    before = _snapshot(path)
    expected = r"bad\.sqlite: .*expected an intact (dmi-sensors session|SQLite) database"
    with pytest.raises(DataFileError, match=expected), SessionStore(path) as store:
        store.raw_packets(1)
    assert _snapshot(path) == before


def test_integrity_check_reports_damage(tmp_path):
    path = _good_database(tmp_path / "d.sqlite", n_packets=3000)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    n_pages = len(data) // page
    data[(n_pages - 3) * page : (n_pages - 1) * page] = os.urandom(2 * page)  # data pages near the end
    path.write_bytes(bytes(data))
    try:
        with SessionStore(path) as store:
            problems = store.integrity_check()
    except DataFileError as exc:  # damage may already show when the store reads the schema
        assert "d.sqlite" in str(exc)
        return
    assert problems != ["ok"]


def test_a_locked_database_is_not_reported_as_damaged(tmp_path):
    """A busy writer elsewhere gives SQLite's own 'locked' error, not a bad-file error."""
    path = _good_database(tmp_path / "busy.sqlite")
    with SessionStore(path) as store:
        store._conn.execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                store.create_session(Subject("P002", 2019, 0.4))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert len(store.sessions()) == 1
