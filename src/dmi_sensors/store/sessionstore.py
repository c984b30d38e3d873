"""The SQLite session store: sessions, sensors, raw packets (first), events, results.

One database file holds many sessions. Raw packets are stored exactly as they arrived, in
arrival order, with the host arrival time; everything else (samples, metrics) is derived
and can be recomputed. See ``docs/store.md`` for the schema and the guarantees.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePath, PureWindowsPath
from typing import TYPE_CHECKING, Any

import numpy as np

from dmi_sensors import __version__, contract
from dmi_sensors.errors import NotFoundError, ParameterError, StateError, StoreError
from dmi_sensors.session.model import check_heights, check_pseudonymous_id, check_subject_field
from dmi_sensors.store import db
from dmi_sensors.store.jsontext import to_json
from dmi_sensors.store.packets import SAMPLES_SQL
from dmi_sensors.store.paths import default_db_path, open_private
from dmi_sensors.store.records import (
    CalibrationRecord,
    HistoryRecord,
    PlanText,
    ResultRecord,
    SensorInfo,
    SessionInfo,
    SubjectFields,
)
from dmi_sensors.store.replay import replay
from dmi_sensors.store.timeutil import format_utc, parse_utc, utc_now
from dmi_sensors.store.writer import CommitCallback, CommitPolicy, PacketWriter, insert_packets
from dmi_sensors.types import RawPacket

if TYPE_CHECKING:  # pandas is imported when a table is read or written (keeps `dmi-sensors sessions` fast)
    import pandas as pd

__all__ = ["EDITABLE_FIELDS", "FRAMES", "SessionStore", "UnknownSessionError"]

#: Size of the ballast a recorder sets aside beside the database (:meth:`SessionStore.reserve_space`).
RESERVE_BYTES = 1_000_000
STATUS_INCOMPLETE = "incomplete"
STATUS_FINALISED = "finalised"
_EVENT_DB_COLUMNS = (*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS)
#: Subject fields of a session that :meth:`SessionStore.edit_session` may set or correct.
EDITABLE_FIELDS = ("birth_year", "com_height_m", "body_height_m", "diagnosis_category")
#: Frames a sensor's stored samples can be in: as the sensor reports them, or body-aligned.
FRAMES = ("sensor", "body")


class UnknownSessionError(NotFoundError):
    """No session with that id in this database."""


def _none_if_missing(value: Any) -> Any:
    """A cell of a pandas record as a SQLite value: None for every kind of missing value
    (None, NaN, ``pd.NA``, ``NaT``), Python scalars for numpy ones."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError, ImportError):
        pass
    item = getattr(value, "item", None)
    return item() if callable(item) else value


class SessionStore:
    """A session database (SQLite, WAL, versioned schema).

    Parameters
    ----------
    path
        The database file; created (with its directory) if absent. ``None`` uses
        :func:`~dmi_sensors.store.paths.default_db_path` (``$DMI_SENSORS_DB`` or the platform
        data directory).
    create
        Create the file when absent (default); with False a missing file raises ``DataFileError``.

    Raises
    ------
    DataFileError
        If the file is not an intact dmi-sensors session database (nothing is written then).
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._conn = db.connect(self.path, create=create)
        self._depth = 0

    # -- life cycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as exc:
            if not db.is_damage(exc):  # e.g. "database is locked": not a bad file
                raise
            raise db.database_error(self.path, exc, doing) from None

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        if self._depth:  # inside atomic(): the outer transaction commits or rolls back
            yield self._conn
            return
        with self._errors(doing):
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            self._conn.execute("COMMIT")

    @contextmanager
    def atomic(self, doing: str = "writing") -> Iterator[SessionStore]:
        """Group several store writes into one transaction: all of them are stored, or none.

        Used by the importers so that a bad file never leaves a half-imported session.
        """
        with self._transaction(doing):
            yield self

    def _query(self, sql: str, params: Iterable[object] = (), doing: str = "reading") -> list[tuple[Any, ...]]:
        with self._errors(doing):
            return self._conn.execute(sql, tuple(params)).fetchall()

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    @property
    def reserve_path(self) -> Path:
        """The ballast file beside the database (``<name>-reserve``, see :meth:`reserve_space`)."""
        return self.path.with_name(self.path.name + "-reserve")

    def reserve_space(self, n_bytes: int = RESERVE_BYTES) -> bool:
        """Set ``n_bytes`` of disk aside beside the database (a ballast file, ``0600``).

        A recorder does this before it starts: when another program fills the disk, the
        packet writer fails, and :meth:`release_space` gives the room back so that the
        session can still be told why it stopped. False when even that much is not free.
        """
        try:
            with open_private(self.reserve_path, "wb") as fh:
                fh.write(bytes(int(n_bytes)))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            self.reserve_path.unlink(missing_ok=True)
            return False
        return True

    def release_space(self) -> None:
        """Delete the ballast (:meth:`reserve_space`) and move the WAL into the database file
        (``wal_checkpoint(TRUNCATE)``, best effort), so that small writes fit again after the
        disk filled up or a file-size limit was reached. Harmless when nothing is reserved."""
        self.reserve_path.unlink(missing_ok=True)
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` messages; ``["ok"]`` for an intact database."""
        return [row[0] for row in self._query("PRAGMA integrity_check", doing="checking integrity")]

    # -- sessions --------------------------------------------------------------------------
    def create_session(
        self,
        subject: SubjectFields,
        plan: PlanText | str | None = None,
        sensors: dict[str, str] | None = None,
        therapist_id: str = "",
        start_utc: str | datetime | None = None,
        *,
        origin: str = "recorded",
        frames: Mapping[str, str] | None = None,
    ) -> int:
        """Create an incomplete session and return its id.

        ``subject`` is a :class:`dmi_sensors.session.Subject` (or any object with
        ``subject_id``, ``birth_year``, ``com_height_m``, ``diagnosis_category`` and
        optionally ``body_height_m``; all but the id may be None); ``plan`` a
        :class:`dmi_sensors.session.Plan` (stored as its ``to_toml()`` text), its TOML text,
        or None; ``sensors`` maps sensor id -> placement
        (:data:`dmi_sensors.contract.PLACEMENTS` or free text); ``frames`` maps sensor id ->
        the frame of its samples (:data:`FRAMES`, default ``"sensor"``); ``start_utc``
        defaults to now.

        Every id and value is checked by the session model's rules before anything is
        stored (:func:`dmi_sensors.session.check_pseudonymous_id` for the subject and
        therapist ids, the plausible ranges of :class:`dmi_sensors.session.Subject`):
        a :class:`~dmi_sensors.errors.ParameterError` names the bad one.
        """
        subject_id = check_pseudonymous_id(subject.subject_id, "subject id")
        therapist_id = check_pseudonymous_id(therapist_id, "therapist id", allow_empty=True)
        values = {
            name: check_subject_field(name, getattr(subject, name, None))
            for name in ("birth_year", "com_height_m", "diagnosis_category", "body_height_m")
        }
        check_heights(values["com_height_m"], values["body_height_m"])
        frames = dict(frames or {})
        for sensor_id, frame in frames.items():
            if frame not in FRAMES:
                raise ParameterError(f"frame of sensor {sensor_id!r}: expected one of {FRAMES}, found {frame!r}")
        plan_toml = plan if plan is None or isinstance(plan, str) else plan.to_toml()
        if start_utc is None:
            start = utc_now()
        elif isinstance(start_utc, datetime):
            start = format_utc(start_utc)
        else:
            start = format_utc(parse_utc(start_utc))
        with self._transaction("creating a session") as conn:
            cur = conn.execute(
                "INSERT INTO sessions (subject_id, birth_year, com_height_m, diagnosis_category, therapist_id,"
                " plan_toml, start_utc, status, package_version, origin, body_height_m)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    subject_id,
                    values["birth_year"],
                    values["com_height_m"],
                    values["diagnosis_category"],
                    therapist_id,
                    plan_toml,
                    start,
                    STATUS_INCOMPLETE,
                    __version__,
                    origin,
                    values["body_height_m"],
                ),
            )
            session_id = _row_id(cur)
            for sensor_id, placement in (sensors or {}).items():
                conn.execute(
                    "INSERT INTO sensors (session_id, sensor_id, placement, frame) VALUES (?, ?, ?, ?)",
                    (session_id, str(sensor_id), str(placement or ""), frames.get(str(sensor_id), "sensor")),
                )
        return session_id

    # -- editing a session's subject fields: recorded in its append-only history ------------
    def edit_session(
        self,
        session_id: int,
        changes: Mapping[str, object],
        *,
        replace: bool = False,
        note: str = "",
    ) -> list[HistoryRecord]:
        """Set or correct subject fields of a session (:data:`EDITABLE_FIELDS`); every change
        is appended to the session's history (:meth:`history`) in the same transaction.

        Never silently overwriting: a field that already holds a different value is changed
        only with ``replace=True`` (its old value stays in the history); a value equal to the
        stored one changes nothing. Values are checked by the session model's rules (plausible
        ranges; the COM height below the body height). Returns the history entries written.

        Raises
        ------
        ParameterError
            An unknown field, a missing value (values can be corrected, not removed) or an
            implausible one (one line naming the value and the accepted range).
        StateError
            A field already set to another value and ``replace`` is False.
        """
        unknown = [k for k in changes if k not in EDITABLE_FIELDS]
        if unknown:
            raise ParameterError(f"cannot edit {unknown}; editable fields: {', '.join(EDITABLE_FIELDS)}")
        if not isinstance(note, str):
            raise ParameterError(f"note: expected text, found {note!r}")
        new: dict[str, Any] = {}
        for name, value in changes.items():
            if value is None:
                raise ParameterError(f"{name}: expected a value (a field can be corrected, not removed), found None")
            new[name] = check_subject_field(name, value)
        with self._transaction("editing a session") as conn:
            self._require(session_id)
            current = dict(
                zip(
                    EDITABLE_FIELDS,
                    conn.execute(
                        f"SELECT {', '.join(EDITABLE_FIELDS)} FROM sessions WHERE id = ?", (int(session_id),)
                    ).fetchone(),
                    strict=True,
                )
            )
            changed = {k: v for k, v in new.items() if current[k] != v}
            blocked = [k for k in changed if current[k] is not None]
            if blocked and not replace:
                what = ", ".join(f"{k} = {current[k]!r} (not {changed[k]!r})" for k in blocked)
                raise StateError(
                    f"session {session_id} already has {what}: to change it pass replace=True "
                    "(on the command line --replace); the old value stays in the session's history"
                )
            after = {**current, **changed}
            check_heights(after["com_height_m"], after["body_height_m"])
            now = utc_now()
            written: list[HistoryRecord] = []
            for name, value in changed.items():
                conn.execute(f"UPDATE sessions SET {name} = ? WHERE id = ?", (value, int(session_id)))
                cur = conn.execute(
                    "INSERT INTO session_history (session_id, changed_utc, field, old_value, new_value,"
                    " package_version, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (int(session_id), now, name, to_json(current[name]), to_json(value), __version__, note),
                )
                written.append(
                    HistoryRecord(_row_id(cur), int(session_id), now, name, current[name], value, __version__, note)
                )
        return written

    def history(self, session_id: int) -> list[HistoryRecord]:
        """The session's history of edits (:meth:`edit_session`), oldest first."""
        self._require(session_id)
        rows = self._query(
            "SELECT id, session_id, changed_utc, field, old_value, new_value, package_version, note"
            " FROM session_history WHERE session_id = ? ORDER BY id",
            (int(session_id),),
            f"reading the history of session {session_id}",
        )
        return [
            HistoryRecord(int(i), int(sid), when, name, json.loads(old), json.loads(new), version, note)
            for i, sid, when, name, old, new, version, note in rows
        ]

    def add_history(self, session_id: int, records: Iterable[Mapping[str, Any]]) -> int:
        """Append history entries as they are (an import keeps its session's history:
        ``changed_utc, field, old_value, new_value, package_version, note``); returns the count."""
        self._require(session_id)
        rows = []
        for i, r in enumerate(records):
            try:
                rows.append(
                    (
                        int(session_id),
                        str(r["changed_utc"]),
                        str(r["field"]),
                        to_json(r.get("old_value")),
                        to_json(r.get("new_value")),
                        str(r.get("package_version") or __version__),
                        str(r.get("note") or ""),
                    )
                )
            except (KeyError, TypeError) as exc:
                raise ParameterError(f"history entry {i}: expected changed_utc and field, found {r!r}") from exc
        with self._transaction("storing a session's history") as conn:
            conn.executemany(
                "INSERT INTO session_history (session_id, changed_utc, field, old_value, new_value,"
                " package_version, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def _require(self, session_id: int) -> str:
        rows = self._query(
            "SELECT status FROM sessions WHERE id = ?", (int(session_id),), f"looking up session {session_id}"
        )
        if not rows:
            raise UnknownSessionError(f"{self.path}: no session {session_id}")
        return rows[0][0]

    def _has_sensor(self, session_id: int, sensor_id: str) -> bool:
        sql = "SELECT 1 FROM sensors WHERE session_id = ? AND sensor_id = ?"
        return bool(self._query(sql, (int(session_id), sensor_id)))

    def add_sensor(
        self, session_id: int, sensor_id: str, placement: str = "", decoder: Mapping[str, Any] | None = None
    ) -> None:
        """Register a sensor of a session, or update its placement (and decoder).

        ``decoder``: a third-party sensor's ``{"vendor": name, "settings": {...}}`` (what its
        raw notifications need to be decoded, :func:`dmi_sensors.vendors.stored_decoder`);
        None: our own protocol.
        """
        self._require(session_id)
        spec = None
        if decoder is not None:
            if not isinstance(decoder.get("vendor"), str) or not isinstance(decoder.get("settings", {}), Mapping):
                raise ParameterError(f"decoder must be {{'vendor': name, 'settings': {{...}}}}, got {decoder!r}")
            spec = to_json({"vendor": decoder["vendor"], "settings": dict(decoder.get("settings", {}))})
        with self._transaction("adding a sensor") as conn:
            conn.execute(
                "INSERT INTO sensors (session_id, sensor_id, placement, decoder_json) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (session_id, sensor_id) DO UPDATE SET placement = excluded.placement,"
                " decoder_json = coalesce(excluded.decoder_json, decoder_json)",
                (int(session_id), sensor_id, placement, spec),
            )

    def add_calibration(
        self,
        sensor_id: str,
        kind: str,
        reference: str | Path,
        parameters: Mapping[str, object] | None = None,
        sha256: str | None = None,
    ) -> int:
        """Store a calibration reference (file or id, its hash, its content); returns its id.

        A file or directory path is stored by its name only (a path names the user's home
        folder): the content (``parameters``) and, for a file, its SHA-256 say exactly which
        calibration it was. When ``reference`` is an existing file and ``sha256`` is None,
        the file's hash is computed. ``parameters`` is kept as JSON (numpy values converted).
        The store does not read or check calibration content: :mod:`dmi_sensors.calibration` does.
        """
        if sha256 is None and Path(reference).is_file():
            sha256 = hashlib.sha256(Path(reference).read_bytes()).hexdigest()
        with self._transaction("adding a calibration") as conn:
            cur = conn.execute(
                "INSERT INTO calibrations (sensor_id, kind, reference, sha256, parameters_json, created_utc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sensor_id, kind, reference_name(reference), sha256, to_json(dict(parameters or {})), utc_now()),
            )
            return _row_id(cur)

    def set_calibration(self, session_id: int, sensor_id: str, calibration_id: int) -> None:
        """Link a stored calibration reference to a session's sensor (a sensor may have several)."""
        self._require(session_id)
        if not self._has_sensor(session_id, sensor_id):
            raise NotFoundError(f"session {session_id} has no sensor {sensor_id!r}")
        with self._transaction("linking a calibration") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sensor_calibrations (session_id, sensor_id, calibration_id) VALUES (?, ?, ?)",
                (int(session_id), sensor_id, int(calibration_id)),
            )

    def add_session_calibration(
        self,
        session_id: int,
        sensor_id: str,
        kind: str,
        reference: str | Path,
        parameters: Mapping[str, object] | None = None,
        sha256: str | None = None,
    ) -> int:
        """:meth:`add_calibration` and :meth:`set_calibration` in one transaction; the sensor
        is registered when the session does not have it yet. Returns the calibration id."""
        with self.atomic("adding a session's calibration"):
            self._require(session_id)
            if not self._has_sensor(session_id, sensor_id):
                self.add_sensor(session_id, sensor_id)
            cid = self.add_calibration(sensor_id, kind, reference, parameters, sha256)
            self.set_calibration(session_id, sensor_id, cid)
        return cid

    def calibration(self, calibration_id: int) -> CalibrationRecord:
        """A stored calibration reference (``parameters`` decoded from JSON)."""
        rows = self._query(
            "SELECT id, sensor_id, kind, reference, sha256, parameters_json, created_utc"
            " FROM calibrations WHERE id = ?",
            (int(calibration_id),),
        )
        if not rows:
            raise NotFoundError(f"{self.path}: no calibration {calibration_id}")
        return _calibration_record(rows[0])

    def sensor_calibrations(self, session_id: int, sensor_id: str) -> list[CalibrationRecord]:
        """The calibration references linked to a session's sensor, in the order they were stored.

        :func:`dmi_sensors.analysis.load_calibration` builds the calibration they stand for.
        """
        self._require(session_id)
        rows = self._query(
            "SELECT c.id, c.sensor_id, c.kind, c.reference, c.sha256, c.parameters_json, c.created_utc"
            " FROM sensor_calibrations AS l JOIN calibrations AS c ON c.id = l.calibration_id"
            " WHERE l.session_id = ? AND l.sensor_id = ? ORDER BY c.id",
            (int(session_id), sensor_id),
            f"reading the calibrations of session {session_id}",
        )
        return [_calibration_record(row) for row in rows]

    def finalise(self, session_id: int) -> None:
        """Mark a session finalised (idempotent). Its raw packets can no longer be appended."""
        status = self._require(session_id)
        if status == STATUS_FINALISED:
            return
        with self._transaction("finalising a session") as conn:
            conn.execute(
                "UPDATE sessions SET status = ?, finalised_utc = ? WHERE id = ?",
                (STATUS_FINALISED, utc_now(), int(session_id)),
            )

    def mark_incomplete(self, session_id: int, reason: str) -> None:
        """Say why a session is incomplete (a recording stopped early, a sensor lost for good).

        The session must still be ``incomplete`` (a finalised one raises ``ParameterError``);
        the reason is one line of text for people (no addresses or paths: it is exported).
        A second call replaces the reason.
        """
        status = self._require(session_id)
        if status != STATUS_INCOMPLETE:
            raise ParameterError(f"session {session_id} is {status}: only an incomplete session takes a reason")
        with self._transaction("marking a session incomplete") as conn:
            conn.execute("UPDATE sessions SET incomplete_reason = ? WHERE id = ?", (str(reason), int(session_id)))

    def save_recording(self, session_id: int, summary: Mapping[str, object]) -> None:
        """Keep the recorder's summary with the session (JSON: planned and recorded time, per
        sensor samples expected / received / lost; see ``dmi-sensors record``). Replaces an
        earlier one."""
        self._require(session_id)
        with self._transaction("storing the recording summary") as conn:
            conn.execute(
                "UPDATE sessions SET recording_json = ? WHERE id = ?", (to_json(dict(summary)), int(session_id))
            )

    def session_ids(self) -> list[int]:
        return [int(r[0]) for r in self._query("SELECT id FROM sessions ORDER BY id")]

    def sessions(self) -> list[SessionInfo]:
        """Every session, oldest first."""
        return [self.session_info(i) for i in self.session_ids()]

    def session_info(self, session_id: int) -> SessionInfo:
        """Everything stored about one session except its data."""
        rows = self._query(
            "SELECT id, subject_id, birth_year, com_height_m, diagnosis_category, therapist_id, plan_toml, start_utc,"
            " status, finalised_utc, package_version, origin, incomplete_reason, recording_json, body_height_m"
            " FROM sessions WHERE id = ?",
            (int(session_id),),
        )
        if not rows:
            raise UnknownSessionError(f"{self.path}: no session {session_id}")
        counts: dict[str, int] = {}
        sample_counts: dict[str, int] = {}
        for sensor_id, n_packets, n_samples in self._query(
            f"SELECT sensor_id, count(*), sum({SAMPLES_SQL}) FROM raw_packets WHERE session_id = ? GROUP BY sensor_id",
            (session_id,),
        ):
            counts[sensor_id] = int(n_packets)
            sample_counts[sensor_id] = int(n_samples or 0)
        imported_counts = dict(
            self._query(
                "SELECT sensor_id, sum(n) FROM sample_blocks WHERE session_id = ? GROUP BY sensor_id", (session_id,)
            )
        )
        for sensor_id, n in imported_counts.items():
            sample_counts[sensor_id] = sample_counts.get(sensor_id, 0) + int(n or 0)
        links: dict[str, list[int]] = {}
        for sid, cid in self._query(
            "SELECT sensor_id, calibration_id FROM sensor_calibrations WHERE session_id = ? ORDER BY calibration_id",
            (session_id,),
        ):
            links.setdefault(sid, []).append(int(cid))
        sensors = tuple(
            SensorInfo(
                sid,
                placement,
                tuple(links.get(sid, ())),
                int(counts.get(sid, 0)),
                int(sample_counts.get(sid, 0)),
                frame,
                None if decoder_json is None else json.loads(decoder_json),
            )
            for sid, placement, frame, decoder_json in self._query(
                "SELECT sensor_id, placement, frame, decoder_json FROM sensors WHERE session_id = ? ORDER BY sensor_id",
                (session_id,),
            )
        )
        last = self._query("SELECT max(host_time_s) FROM raw_packets WHERE session_id = ?", (session_id,))[0][0]
        if last is None and imported_counts:
            last = self._imported_duration_s(session_id)
        n_events, n_notes = self._query(
            "SELECT count(*), coalesce(sum(kind = 'note' OR (coalesce(kind, '') = '' AND coalesce(note, '') != '')), 0)"
            " FROM events WHERE session_id = ?",
            (session_id,),
        )[0]
        n_results = self._query("SELECT count(*) FROM results WHERE session_id = ?", (session_id,))[0][0]
        n_edits = self._query("SELECT count(*) FROM session_history WHERE session_id = ?", (session_id,))[0][0]
        (sid, subject_id, birth_year, com_height_m, diagnosis, therapist, plan_toml, start, status, fin, version,
         origin, reason, recording, body_height_m) = rows[0]  # fmt: skip
        return SessionInfo(
            session_id=int(sid),
            subject_id=subject_id,
            birth_year=birth_year,
            com_height_m=com_height_m,
            diagnosis_category=diagnosis,
            therapist_id=therapist,
            plan_toml=plan_toml,
            start_utc=start,
            status=status,
            finalised_utc=fin,
            package_version=version,
            origin=origin,
            sensors=sensors,
            packets=int(sum(counts.values())),
            events=int(n_events),
            results=int(n_results),
            duration_s=float(last or 0.0),
            incomplete_reason=reason,
            recording=None if recording is None else json.loads(recording),
            body_height_m=body_height_m,
            notes=int(n_notes),
            edits=int(n_edits),
        )

    def _imported_duration_s(self, session_id: int) -> float:
        end = 0.0
        for (blob,) in self._query(
            "SELECT time_s FROM sample_blocks WHERE session_id = ? ORDER BY sensor_id, block", (session_id,)
        ):
            t = np.frombuffer(blob, dtype="<f8")
            if t.size:
                end = max(end, float(np.nanmax(t)) if np.isfinite(t).any() else 0.0)
        return end

    # -- raw packets -----------------------------------------------------------------------
    def packet_writer(
        self,
        session_id: int,
        *,
        max_latency_s: float = 0.5,
        max_packets: int = 2000,
        threaded: bool = True,
        clock: Callable[[], float] | None = None,
        on_commit: CommitCallback | None = None,
    ) -> PacketWriter:
        """A :class:`~dmi_sensors.store.writer.PacketWriter` appending to an incomplete session."""
        status = self._require(session_id)
        if status != STATUS_INCOMPLETE:
            raise ParameterError(f"session {session_id} is {status}: raw packets can only be added while incomplete")
        policy = CommitPolicy(max_latency_s, max_packets)
        if clock is None:
            return PacketWriter(self.path, session_id, policy=policy, threaded=threaded, on_commit=on_commit)
        return PacketWriter(self.path, session_id, policy=policy, clock=clock, threaded=threaded, on_commit=on_commit)

    def add_packets(self, session_id: int, packets: Iterable[RawPacket]) -> int:
        """Store packets in one transaction (bulk import; recorders use :meth:`packet_writer`)."""
        status = self._require(session_id)
        if status != STATUS_INCOMPLETE:
            raise ParameterError(f"session {session_id} is {status}: raw packets can only be added while incomplete")
        known = {r[0] for r in self._query("SELECT sensor_id FROM sensors WHERE session_id = ?", (session_id,))}
        with self._transaction("storing packets") as conn:
            return insert_packets(conn, int(session_id), packets, known)

    def iter_raw_packets(self, session_id: int, sensor_id: str | None = None, chunk: int = 4096) -> Iterator[RawPacket]:
        """Stored packets in arrival order, read ``chunk`` rows at a time."""
        self._require(session_id)
        last_id = 0
        sql = "SELECT id, sensor_id, host_time_s, data FROM raw_packets WHERE session_id = ? AND id > ?"
        params: tuple[object, ...] = (int(session_id),)
        if sensor_id is not None:
            sql += " AND sensor_id = ?"
        sql += " ORDER BY id LIMIT ?"
        while True:
            args = (*params, last_id, *(() if sensor_id is None else (sensor_id,)), chunk)
            rows = self._query(sql, args, doing="reading raw packets")
            if not rows:
                return
            for _row_id, sid, host_time_s, data in rows:
                yield RawPacket(sid, float(host_time_s), bytes(data))
            last_id = rows[-1][0]

    def raw_packets(self, session_id: int, sensor_id: str | None = None) -> list[RawPacket]:
        """All stored packets of a session (or one sensor), in arrival order."""
        return list(self.iter_raw_packets(session_id, sensor_id))

    def packet_counters(self, session_id: int, sensor_id: str) -> list[int | None]:
        """The stored first-sample counters of one sensor's packets, in arrival order."""
        return [
            r[0]
            for r in self._query(
                "SELECT counter FROM raw_packets WHERE session_id = ? AND sensor_id = ? ORDER BY id",
                (int(session_id), sensor_id),
            )
        ]

    def replay(
        self,
        session_id: int,
        speed: float = 1.0,
        sensor_id: str | None = None,
        *,
        chunk: int = 1024,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> AsyncIterator[RawPacket]:
        """Play a stored session back as a live stream; see :func:`dmi_sensors.store.replay.replay`."""
        if sleep is None:
            return replay(self, session_id, speed=speed, sensor_id=sensor_id, chunk=chunk, clock=clock)
        return replay(self, session_id, speed=speed, sensor_id=sensor_id, chunk=chunk, clock=clock, sleep=sleep)

    # -- events ----------------------------------------------------------------------------
    def add_events(self, session_id: int, events: pd.DataFrame) -> int:
        """Append rows of an events DataFrame (contract.EVENT_COLUMNS [+ kind, posture, note]).

        Raises ``ValueError`` naming the missing columns or a bad ``source``. Returns the count.
        """
        self._require(session_id)
        missing = [c for c in contract.EVENT_COLUMNS if c not in events.columns]
        if missing:
            raise ParameterError(f"events table lacks columns {missing}; expected {list(contract.EVENT_COLUMNS)}")
        rows = []
        for i, rec in enumerate(events.to_dict("records")):
            source = rec["source"]
            if source not in contract.EVENT_SOURCES:
                raise ParameterError(f"events row {i}: source must be one of {contract.EVENT_SOURCES}, got {source!r}")
            onset = float(rec["onset_s"])
            duration = _none_if_missing(rec["duration_s"])
            if not math.isfinite(onset):
                raise ParameterError(f"events row {i}: onset_s must be finite, got {onset}")
            rep = _none_if_missing(rec["repetition"])
            values = {c: _none_if_missing(rec.get(c)) for c in _EVENT_DB_COLUMNS}
            values["onset_s"] = onset
            values["duration_s"] = 0.0 if duration is None else float(duration)
            values["repetition"] = None if rep is None else int(rep)
            rows.append((int(session_id), *(values[c] for c in _EVENT_DB_COLUMNS)))
        cols = ", ".join(_EVENT_DB_COLUMNS)
        marks = ", ".join("?" * (len(_EVENT_DB_COLUMNS) + 1))
        with self._transaction("storing events") as conn:
            conn.executemany(f"INSERT INTO events (session_id, {cols}) VALUES ({marks})", rows)
        return len(rows)

    def events(self, session_id: int) -> pd.DataFrame:
        """The session's events, ordered by onset, with every required and optional column."""
        import pandas as pd

        self._require(session_id)
        rows = self._query(
            f"SELECT {', '.join(_EVENT_DB_COLUMNS)} FROM events WHERE session_id = ? ORDER BY onset_s, id",
            (int(session_id),),
        )
        frame = pd.DataFrame(rows, columns=list(_EVENT_DB_COLUMNS))
        frame["onset_s"] = frame["onset_s"].astype("float64")
        frame["duration_s"] = frame["duration_s"].astype("float64")
        frame["repetition"] = frame["repetition"].astype("Int64")
        return frame

    # -- results ---------------------------------------------------------------------------
    def save_results(
        self,
        session_id: int,
        summary: Mapping[str, object],
        parameters: Mapping[str, object],
        windows: pd.DataFrame | None = None,
        *,
        sensor_id: str | None = None,
        name: str = "analysis",
        package_version: str | None = None,
        created_utc: str | None = None,
    ) -> int:
        """Store metrics with their parameters and this package's version; returns the result id.

        ``summary`` maps metric names to numbers, ``parameters`` the analysis parameters
        (JSON-able; numpy scalars are converted), ``windows`` an optional per-window DataFrame.
        Results are appended, never overwritten: re-analysis adds a new record.
        ``package_version`` / ``created_utc`` default to this package and now (importers
        pass the original ones to keep provenance).
        """
        self._require(session_id)
        windows_json = None
        if windows is not None:
            split = windows.to_dict(orient="split")
            windows_json = to_json({"columns": list(split["columns"]), "data": split["data"]})
        with self._transaction("storing results") as conn:
            cur = conn.execute(
                "INSERT INTO results (session_id, sensor_id, name, created_utc, package_version, parameters_json,"
                " summary_json, windows_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    int(session_id),
                    sensor_id,
                    name,
                    created_utc or utc_now(),
                    package_version or __version__,
                    to_json(dict(parameters)),
                    to_json(dict(summary)),
                    windows_json,
                ),
            )
            return _row_id(cur)

    def results(self, session_id: int, *, skip_windows: Collection[str] = ()) -> list[ResultRecord]:
        """Stored results of a session, oldest first.

        ``skip_windows``: result names whose window tables are not read (their records have
        ``windows=None``): a per-window table is the bulk of a stored analysis, and a reader
        that needs only the summaries (a report) need not parse it."""
        import pandas as pd

        self._require(session_id)
        skip = sorted({str(n) for n in skip_windows})
        windows_col = (
            f"CASE WHEN name IN ({', '.join('?' * len(skip))}) THEN NULL ELSE windows_json END"
            if skip
            else "windows_json"
        )
        out = []
        for rid, sid, sensor, name, created, version, params, summary, windows in self._query(
            "SELECT id, session_id, sensor_id, name, created_utc, package_version, parameters_json, summary_json, "
            + windows_col
            + " FROM results WHERE session_id = ? ORDER BY id",
            (*skip, int(session_id)),
        ):
            frame = None
            if windows is not None:
                w = json.loads(windows)
                frame = pd.DataFrame(w["data"], columns=w["columns"])
            out.append(
                ResultRecord(rid, sid, sensor, name, created, version, json.loads(params), json.loads(summary), frame)
            )
        return out


def reference_name(reference: str | Path) -> str:
    """What the store keeps of a calibration reference: a path's file (or directory) name,
    an id (``inline:gyro``) as it is."""
    text = str(reference)
    if isinstance(reference, Path) or "/" in text or "\\" in text:
        return PureWindowsPath(text).name if "\\" in text else PurePath(text).name
    return text


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just wrote."""
    row_id = cursor.lastrowid
    if row_id is None:  # only after a statement that inserted nothing
        raise StoreError("INSERT stored no row")
    return int(row_id)


def _calibration_record(row: tuple[Any, ...]) -> CalibrationRecord:
    cid, sensor_id, kind, reference, sha256, params, created = row
    return CalibrationRecord(int(cid), sensor_id, kind, reference, sha256, json.loads(params), created)
