"""The database schema as an ordered list of migrations.

The schema version is ``PRAGMA user_version``; a fresh database is at 0 and every migration
``k`` (1-based) takes it from ``k - 1`` to ``k`` inside one transaction (SQLite DDL is
transactional, and so is ``user_version``), so a crash mid-migration leaves the previous
version intact. ``PRAGMA application_id`` marks the file as a dmi-sensors session database
so that an unrelated SQLite file is refused instead of being written into.

Never edit a migration that has been released: append a new one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]

#: ``PRAGMA application_id`` of a dmi-sensors session database (ASCII "DMIS").
APPLICATION_ID = 0x444D4953


@dataclass(frozen=True)
class Migration:
    """One schema step: ``sql`` takes the database from ``version - 1`` to ``version``."""

    version: int
    description: str
    sql: str


_V1 = """
CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY,
    subject_id         TEXT NOT NULL,          -- pseudonymous; no name is stored anywhere
    birth_year         INTEGER,
    com_height_m       REAL,
    diagnosis_category TEXT,
    therapist_id       TEXT NOT NULL DEFAULT '',
    plan_toml          TEXT,
    start_utc          TEXT NOT NULL,          -- ISO-8601 UTC, e.g. 2026-11-21T09:30:00.123456Z
    status             TEXT NOT NULL DEFAULT 'incomplete' CHECK (status IN ('incomplete', 'finalised')),
    finalised_utc      TEXT,
    package_version    TEXT NOT NULL
);
CREATE TABLE calibrations (
    id              INTEGER PRIMARY KEY,
    sensor_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,             -- e.g. 'gyro_bias', 'six_position', 'alignment'
    reference       TEXT NOT NULL,             -- calibration file path or identifier
    sha256          TEXT,                      -- of the calibration file's bytes, when a file
    parameters_json TEXT NOT NULL DEFAULT '{}',
    created_utc     TEXT NOT NULL
);
CREATE TABLE sensors (
    session_id     INTEGER NOT NULL REFERENCES sessions(id),
    sensor_id      TEXT NOT NULL,
    placement      TEXT NOT NULL DEFAULT '',
    calibration_id INTEGER REFERENCES calibrations(id),
    PRIMARY KEY (session_id, sensor_id)
);
CREATE TABLE raw_packets (
    id          INTEGER PRIMARY KEY,           -- arrival order
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    sensor_id   TEXT NOT NULL,
    host_time_s REAL NOT NULL,                 -- host arrival, s since session start
    counter     INTEGER,                       -- device counter of the first sample (wire width); NULL if undecodable
    data        BLOB NOT NULL                  -- the notification payload, untouched
);
CREATE INDEX raw_packets_by_sensor ON raw_packets (session_id, sensor_id, id);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    onset_s     REAL NOT NULL,
    duration_s  REAL NOT NULL DEFAULT 0,
    exercise    TEXT,
    repetition  INTEGER,
    support     TEXT,
    source      TEXT NOT NULL,
    kind        TEXT,
    posture     TEXT,
    note        TEXT
);
CREATE INDEX events_by_session ON events (session_id, onset_s);
CREATE TABLE results (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id),
    sensor_id       TEXT,
    name            TEXT NOT NULL,
    created_utc     TEXT NOT NULL,
    package_version TEXT NOT NULL,
    parameters_json TEXT NOT NULL,
    summary_json    TEXT NOT NULL,
    windows_json    TEXT                       -- pandas 'split' orientation; NULL when no windows
);
"""

_V2 = """
ALTER TABLE sessions ADD COLUMN origin TEXT NOT NULL DEFAULT 'recorded';
CREATE TABLE sample_blocks (
    session_id    INTEGER NOT NULL REFERENCES sessions(id),
    sensor_id     TEXT NOT NULL,
    block         INTEGER NOT NULL,
    fs_hz         REAL NOT NULL,
    n             INTEGER NOT NULL,
    counter       BLOB NOT NULL,               -- little-endian int64[n]
    device_time_s BLOB NOT NULL,               -- little-endian float64[n]
    host_time_s   BLOB NOT NULL,               -- little-endian float64[n]
    time_s        BLOB NOT NULL,               -- little-endian float64[n]
    acc_mps2      BLOB NOT NULL,               -- little-endian float64[n, 3], row-major
    gyr_rps       BLOB NOT NULL,               -- little-endian float64[n, 3], row-major
    gap_before    BLOB NOT NULL,               -- uint8[n]
    PRIMARY KEY (session_id, sensor_id, block)
);
"""

_V3 = """
CREATE TABLE sensor_calibrations (
    session_id     INTEGER NOT NULL REFERENCES sessions(id),
    sensor_id      TEXT NOT NULL,
    calibration_id INTEGER NOT NULL REFERENCES calibrations(id),
    PRIMARY KEY (session_id, sensor_id, calibration_id)
);
INSERT INTO sensor_calibrations (session_id, sensor_id, calibration_id)
    SELECT session_id, sensor_id, calibration_id FROM sensors WHERE calibration_id IS NOT NULL;
CREATE TABLE sensors_v3 (
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    sensor_id  TEXT NOT NULL,
    placement  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, sensor_id)
);
INSERT INTO sensors_v3 (session_id, sensor_id, placement) SELECT session_id, sensor_id, placement FROM sensors;
DROP TABLE sensors;
ALTER TABLE sensors_v3 RENAME TO sensors;
"""

# Calibration references keep the file's name only (its hash and content are stored beside
# it): a path names the user's home folder. r = the reference with '\' as '/'; rtrim(r, <every
# character of r but '/'>) is r up to its last '/', so what follows is the file name.
_V4 = """
ALTER TABLE sessions ADD COLUMN incomplete_reason TEXT;  -- why a recording is incomplete (NULL: none given)
ALTER TABLE sessions ADD COLUMN recording_json TEXT;  -- the recorder's summary (JSON)
UPDATE calibrations SET reference = substr(replace(reference, '\\', '/'),
    length(rtrim(replace(reference, '\\', '/'), replace(replace(reference, '\\', '/'), '/', ''))) + 1)
    WHERE instr(replace(reference, '\\', '/'), '/') > 0;
"""

_V5 = """
ALTER TABLE sessions ADD COLUMN body_height_m REAL;
ALTER TABLE sensors ADD COLUMN frame TEXT NOT NULL DEFAULT 'sensor';
CREATE TABLE session_history (
    id              INTEGER PRIMARY KEY,       -- order of the changes
    session_id      INTEGER NOT NULL REFERENCES sessions(id),
    changed_utc     TEXT NOT NULL,
    field           TEXT NOT NULL,             -- a subject field of the session, e.g. 'com_height_m'
    old_value       TEXT NOT NULL,             -- JSON (null = unknown)
    new_value       TEXT NOT NULL,             -- JSON
    package_version TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT ''   -- why (free text, no names)
);
CREATE INDEX session_history_by_session ON session_history (session_id, id);
CREATE TRIGGER session_history_append_only_update BEFORE UPDATE ON session_history
    BEGIN SELECT RAISE(ABORT, 'session_history is append-only'); END;
CREATE TRIGGER session_history_append_only_delete BEFORE DELETE ON session_history
    BEGIN SELECT RAISE(ABORT, 'session_history is append-only'); END;
"""

_V6 = """
-- a third-party sensor's decoder: {"vendor", "settings"}; NULL: our protocol v1
ALTER TABLE sensors ADD COLUMN decoder_json TEXT;
"""

#: Every schema step, in order. ``MIGRATIONS[k - 1].version == k``.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sessions, sensors, calibrations, raw packets, events, results", _V1),
    Migration(2, "imported sessions: sessions.origin and decoded sample blocks", _V2),
    Migration(3, "several calibrations per sensor (accel, gyro, alignment): sensor_calibrations", _V3),
    Migration(4, "why a session is incomplete, the recorder's summary; calibration references by file name", _V4),
    Migration(5, "subject body height, sensor frames, the append-only history of session edits", _V5),
    Migration(6, "third-party sensors: the vendor and decoder settings of their raw notifications", _V6),
)

#: The version this package writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def _statements(sql: str) -> list[str]:
    """The statements of a migration, comments removed; a trigger's ``BEGIN ...; END`` stays
    one statement (pieces are joined until :func:`sqlite3.complete_statement` says so)."""
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    out: list[str] = []
    pending = ""
    for piece in "\n".join(lines).split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending.strip().removesuffix(";").strip())
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending.strip().removesuffix(";").strip())
    return out


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring ``conn``'s database up to schema ``target``; returns the versions applied.

    Each step runs in its own transaction together with its ``user_version`` bump. The
    connection must be in autocommit mode (``isolation_level=None``).
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    applied = []
    for m in MIGRATIONS:
        if m.version <= current or m.version > target:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if m.version == 1:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in _statements(m.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {m.version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(m.version)
    return applied
