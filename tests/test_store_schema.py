"""Schema: fresh databases, migrations from an older schema, connection settings, refusals."""

from __future__ import annotations

import sqlite3

import pytest
from store_helpers import synthetic_packets

from dmi_sensors.errors import DataFileError
from dmi_sensors.session import Subject
from dmi_sensors.store import SCHEMA_VERSION, SessionStore, default_db_path
from dmi_sensors.store.db import connect
from dmi_sensors.store.schema import APPLICATION_ID, MIGRATIONS, migrate

SUBJECT = Subject("P001", 2019, 0.42, "down_syndrome")


def test_fresh_database_is_wal_full_sync_and_current(tmp_path):
    path = tmp_path / "s.sqlite"
    with SessionStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert store.integrity_check() == ["ok"]
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "sensors", "raw_packets", "events", "calibrations", "results", "sample_blocks"} <= tables
    assert "sensor_calibrations" in tables


def test_migrations_are_numbered_in_order():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_older_schema_is_migrated_keeping_its_data(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    assert migrate(conn, target=1) == [1]
    conn.execute(
        "INSERT INTO sessions (subject_id, birth_year, com_height_m, therapist_id, start_utc, package_version)"
        " VALUES ('P007', 2018, 0.5, 'T1', '2026-01-02T03:04:05.000000Z', '0.0.1')"
    )
    conn.execute(
        "INSERT INTO raw_packets (session_id, sensor_id, host_time_s, counter, data) VALUES (1, 'A', 0.25, 7, x'0102')"
    )
    conn.execute(
        "INSERT INTO calibrations (sensor_id, kind, reference, created_utc) VALUES ('A', 'gyro', 'g.json', 'x')"
    )
    conn.execute("INSERT INTO sensors (session_id, sensor_id, placement, calibration_id) VALUES (1, 'A', 'trunk', 1)")
    conn.close()
    with SessionStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        info = store.session_info(1)
        assert (info.subject_id, info.birth_year, info.origin, info.status) == ("P007", 2018, "recorded", "incomplete")
        assert [(p.sensor_id, p.host_time_s, p.data) for p in store.raw_packets(1)] == [("A", 0.25, b"\x01\x02")]
        assert [(s.sensor_id, s.placement, s.calibration_ids) for s in info.sensors] == [("A", "trunk", (1,))]
        assert store.integrity_check() == ["ok"]
        assert store._conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # the v2 table works on the migrated file
        store._conn.execute("SELECT count(*) FROM sample_blocks").fetchone()


def test_failed_migration_rolls_back_to_the_previous_version(tmp_path, monkeypatch):
    from dmi_sensors.store import schema

    path = tmp_path / "m.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=1)
    broken = (*schema.MIGRATIONS[:1], schema.Migration(2, "broken", "CREATE TABLE x (a); CREATE TABLE x (a)"))
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'x'").fetchone()[0] == 0
    conn.close()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "new.sqlite"
    SessionStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(DataFileError, match=r"new.sqlite: PRAGMA user_version: expected schema version <= \d"):
        SessionStore(path)
    assert path.read_bytes() == before


def test_other_programs_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (t TEXT)")
        raw.execute("INSERT INTO notes VALUES ('hello')")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(DataFileError, match=r"other\.sqlite: PRAGMA application_id: expected 0x444d4953"):
        SessionStore(path)
    assert path.read_bytes() == before


def test_default_location_follows_env_and_xdg(tmp_path):
    assert default_db_path({"DMI_SENSORS_DB": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    got = default_db_path({"XDG_DATA_HOME": str(tmp_path), "HOME": "/nowhere"}, platform="linux")
    assert got == tmp_path / "dmi-sensors" / "sessions.sqlite"
    assert default_db_path({"HOME": "/home/u"}, platform="linux") == (
        tmp_path.__class__("/home/u/.local/share/dmi-sensors/sessions.sqlite")
    )
    assert default_db_path({"HOME": "/Users/u"}, platform="darwin").parts[-3:] == (
        "Application Support",
        "dmi-sensors",
        "sessions.sqlite",
    )


def test_store_none_uses_env_location(tmp_path, monkeypatch):
    monkeypatch.setenv("DMI_SENSORS_DB", str(tmp_path / "deep" / "db.sqlite"))
    with SessionStore() as store:
        sid = store.create_session(SUBJECT, sensors={"A": "trunk"})
        store.add_packets(sid, synthetic_packets("A", 3))
    assert (tmp_path / "deep" / "db.sqlite").is_file()


def test_connect_missing_without_create(tmp_path):
    with pytest.raises(DataFileError, match="expected an existing dmi-sensors session database"):
        connect(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()
