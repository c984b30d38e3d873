"""Opening a session database safely: check the file first, write nothing until it is ours.

A file that is not a dmi-sensors session database (garbage bytes, a truncated copy, another
program's SQLite file, a newer schema) raises :class:`~dmi_sensors.errors.DataFileError`
naming the file and what was expected, *before* any write: the file's bytes are untouched.
Opening writes to an existing file only to switch it to WAL or to migrate its schema, and
then only after ``PRAGMA quick_check`` passed. Damage inside an already-current WAL
database shows up as a ``DataFileError`` when the damaged part is read (opening does not
scan the whole file; :meth:`SessionStore.integrity_check` does).

Connection settings (every connection, including the packet writer's):

``journal_mode=WAL``
    Readers (``dmi-sensors sessions list``, a live view) never block the recorder's writer
    and vice versa; a commit appends to the ``-wal`` file, which survives a killed process.
``synchronous=FULL``
    Each commit also fsyncs the WAL, so committed packets survive a power cut or a flat
    laptop battery, not only a killed process (``NORMAL`` would be crash-safe for the
    process but may lose the last commits on power loss). The packet writer commits about
    twice a second, so the cost is two fsyncs per second.
``foreign_keys=ON``, ``busy_timeout=10000`` ms.
``secure_delete=ON``
    What is deleted or rewritten (e.g. the calibration paths schema 4 reduces to file
    names) is overwritten with zeros instead of lingering in free pages of the file.

A new database file is created ``0600`` in directories created ``0700``
(:func:`dmi_sensors.store.paths.create_private_file`); SQLite gives its ``-wal`` and
``-shm`` files the database file's mode.

The header check counts the ``-wal`` file: after a failed checkpoint (e.g. the disk filled
up) the main file can hold a header announcing more pages than it has, while those pages
are intact in the WAL, where SQLite reads them. Such a file is opened, not refused.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dmi_sensors.errors import DataFileError
from dmi_sensors.store.paths import create_private_file
from dmi_sensors.store.schema import APPLICATION_ID, SCHEMA_VERSION, migrate

__all__ = ["SQLITE_MAGIC", "check_database_file", "connect", "database_error", "is_damage", "wal_path"]

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100
_BUSY_TIMEOUT_MS = 10_000


def wal_path(path: Path) -> Path:
    """The write-ahead log next to a database file (``<name>-wal``)."""
    return path.with_name(path.name + "-wal")


def _has_wal(path: Path) -> bool:
    try:
        return wal_path(path).stat().st_size > 0
    except OSError:
        return False


def check_database_file(path: Path) -> None:
    """Raise ``DataFileError`` unless ``path`` looks like a whole SQLite 3 file (read-only check).

    An absent or empty file passes (SQLite treats it as a new database). A main file shorter
    than its header says passes when a non-empty ``-wal`` file lies beside it (the missing
    pages are in the WAL: a checkpoint was cut short, e.g. by a full disk).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    if path.is_dir():
        raise DataFileError(path, "", "an SQLite database file", "a directory")
    with path.open("rb") as fh:
        header = fh.read(_HEADER_BYTES)
    if not header.startswith(SQLITE_MAGIC[: len(header)]) or len(header) < len(SQLITE_MAGIC):
        raise DataFileError(path, "byte 0", "an SQLite 3 database (header 'SQLite format 3')", f"{header[:16]!r}")
    if len(header) < _HEADER_BYTES:
        raise DataFileError(
            path, "", f"at least a {_HEADER_BYTES}-byte SQLite header (file truncated)", f"{size} bytes"
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise DataFileError(path, "byte 16", "a power-of-two page size of 512..65536", str(page_size))
    change_counter = int.from_bytes(header[24:28], "big")
    pages = int.from_bytes(header[28:32], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    if pages and change_counter == valid_for and size < pages * page_size and not _has_wal(path):
        raise DataFileError(
            path,
            "",
            f"{pages * page_size} bytes ({pages} pages of {page_size}) as its header says (file truncated?)",
            f"{size} bytes",
        )


_DAMAGE = ("malformed", "not a database", "disk image", "corrupt", "encrypted", "truncated", "short read")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """True when an SQLite error means the file is damaged (not busy, locked, or read-only)."""
    text = str(exc).lower()
    return type(exc) is sqlite3.DatabaseError or any(word in text for word in _DAMAGE)


def database_error(path: Path, exc: sqlite3.DatabaseError, doing: str) -> DataFileError:
    """Turn an SQLite error met while ``doing`` something into a ``DataFileError`` naming the file."""
    return DataFileError(path, doing, "an intact dmi-sensors session database", f"SQLite error: {exc}")


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA secure_delete = ON")


def connect(path: str | Path, *, create: bool = True, upgrade: bool = True) -> sqlite3.Connection:
    """Open (and if needed create or migrate) the session database at ``path``.

    Returns an autocommit connection (``isolation_level=None``): transactions are explicit.
    Raises ``DataFileError`` for a file that is not an intact dmi-sensors database, for a
    schema newer than this package understands, and (``create=False``) for a missing file.
    """
    path = Path(path)
    exists = path.exists() and path.stat().st_size > 0
    if not exists and not create:
        raise DataFileError(path, "", "an existing dmi-sensors session database", "no such file")
    check_database_file(path)
    if not exists:
        create_private_file(path)  # 0600 in 0700 directories: health data of children
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        raise DataFileError(path, "", "an SQLite database file that can be opened", str(exc)) from None
    try:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            n_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise database_error(path, exc, "reading the schema") from None
        fresh = app_id == 0 and version == 0 and n_objects == 0
        if not fresh and app_id != APPLICATION_ID:
            raise DataFileError(
                path,
                "PRAGMA application_id",
                f"{APPLICATION_ID:#x} (a dmi-sensors session database)",
                f"{app_id:#x} (another program's SQLite file)",
            )
        if version > SCHEMA_VERSION:
            raise DataFileError(
                path,
                "PRAGMA user_version",
                f"schema version <= {SCHEMA_VERSION} (written by a newer dmi-sensors; upgrade the package)",
                str(version),
            )
        if version < SCHEMA_VERSION and not upgrade:
            raise DataFileError(path, "PRAGMA user_version", f"schema version {SCHEMA_VERSION}", str(version))
        try:
            current_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if not fresh and (current_mode != "wal" or version < SCHEMA_VERSION):
                # About to write (journal mode switch or migration): make sure we would not
                # write into a damaged file.
                problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
                if problems != ["ok"]:
                    raise DataFileError(path, "PRAGMA quick_check", "an intact SQLite database", "; ".join(problems))
        except sqlite3.DatabaseError as exc:
            raise database_error(path, exc, "checking before the first write") from None
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            _configure(conn)
            migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise database_error(path, exc, "opening") from None
        if str(mode).lower() != "wal":
            raise DataFileError(path, "PRAGMA journal_mode", "WAL", str(mode))
    except BaseException:
        conn.close()
        raise
    return conn
