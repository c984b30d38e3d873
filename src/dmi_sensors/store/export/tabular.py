"""CSV and Parquet exports of a session, and their imports.

Directory layout (both formats; ``<ext>`` is ``csv`` or ``parquet``)::

    session.json         metadata: subject (pseudonymous), sensors, start_utc, results + parameters
    samples.<ext>        contract.SAMPLE_COLUMNS, one row per sample, sensors one after another
    events.<ext>         contract.EVENT_COLUMNS + kind, posture, note
    metrics.<ext>        result_id, then the per-window metrics table of each stored result

CSV floats are written in Python's shortest round-trip form (``repr``), so reading them
back gives the same float64 values bit for bit (the bytes of pandas' ``to_csv``, written by
:func:`dmi_sensors.store.export.csvtext.write_table`). Existing files are never overwritten. Files
are created ``0600`` (a new directory ``0700``); the samples are written chunk by chunk
(:class:`~dmi_sensors.store.export.tables.SessionExport`), so a 10-hour session exports in
bounded memory (``docs/store.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dmi_sensors import contract
from dmi_sensors.errors import DataFileError
from dmi_sensors.progress_bar import ProgressBar, silent_if_none
from dmi_sensors.session.events import check_events, read_events_csv
from dmi_sensors.store.export.csvtext import write_table
from dmi_sensors.store.export.ingest import ingest_session, subject_from_metadata
from dmi_sensors.store.export.tables import collect, metadata_json, read_metadata, samples_from_table
from dmi_sensors.store.paths import make_private_dir, open_private
from dmi_sensors.store.samples import CHUNK_PACKETS
from dmi_sensors.store.sessionstore import FRAMES, SessionStore

__all__ = ["import_csv_dir", "import_parquet_dir", "write_csv_dir", "write_parquet_dir"]

TABLES = ("samples", "events", "metrics")


def _targets(out_dir: Path, ext: str) -> dict[str, Path]:
    paths = {"session": out_dir / "session.json", **{t: out_dir / f"{t}.{ext}" for t in TABLES}}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing:
        raise FileExistsError(f"refusing to overwrite {', '.join(existing)}")
    make_private_dir(out_dir)
    return paths


def write_csv_dir(
    store: SessionStore,
    session_id: int,
    out_dir: str | Path,
    *,
    progress: ProgressBar | None = None,
    chunk_packets: int = CHUNK_PACKETS,
) -> list[Path]:
    """Export a session as ``session.json`` + three CSV tables in ``out_dir`` (files ``0600``,
    a new directory ``0700``); the samples are written chunk by chunk (bounded memory)."""
    bar = silent_if_none(progress)
    bar.set_total(2 + len(TABLES))
    export = collect(store, session_id, chunk_packets=chunk_packets)
    bar.advance()
    paths = _targets(Path(out_dir), "csv")
    with open_private(paths["session"]) as fh:
        fh.write(metadata_json(export.metadata))
    bar.advance()
    with open_private(paths["samples"], "xb") as fh:
        header = True
        for frame in export.sample_frames():
            write_table(frame, fh, header=header)  # pandas' to_csv bytes, block by block
            header = False
        if header:  # no samples: the header alone
            write_table(pd.DataFrame(columns=list(contract.SAMPLE_COLUMNS)), fh)
    bar.advance()
    for name in ("events", "metrics"):
        with open_private(paths[name], "xb") as fh:
            write_table(getattr(export, name), fh)
        bar.advance()
    return list(paths.values())


def _parquet_table(frame: pd.DataFrame, meta: bytes, schema: pa.Schema | None = None) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False, schema=schema)
    return table.replace_schema_metadata({**(table.schema.metadata or {}), b"dmi_sensors.session": meta})


def write_parquet_dir(
    store: SessionStore,
    session_id: int,
    out_dir: str | Path,
    *,
    progress: ProgressBar | None = None,
    chunk_packets: int = CHUNK_PACKETS,
) -> list[Path]:
    """Export a session as ``session.json`` + three Parquet tables in ``out_dir`` (files
    ``0600``, a new directory ``0700``); the samples go in one row group per chunk (bounded memory)."""
    bar = silent_if_none(progress)
    bar.set_total(2 + len(TABLES))
    export = collect(store, session_id, chunk_packets=chunk_packets)
    bar.advance()
    paths = _targets(Path(out_dir), "parquet")
    meta = metadata_json(export.metadata)
    with open_private(paths["session"]) as fh:
        fh.write(meta)
    bar.advance()
    with open_private(paths["samples"], "xb") as fh:
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        try:
            for frame in export.sample_frames():
                table = _parquet_table(frame, meta.encode(), schema)
                if writer is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(fh, schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no samples: an empty table with the columns
            pq.write_table(_parquet_table(pd.DataFrame(columns=list(contract.SAMPLE_COLUMNS)), meta.encode()), fh)
    bar.advance()
    for name in ("events", "metrics"):
        frame = getattr(export, name)
        if name == "events":
            frame = frame.astype({contract.REPETITION: "Int64"})
        with open_private(paths[name], "xb") as fh:
            pq.write_table(_parquet_table(frame, meta.encode()), fh)
        bar.advance()
    return list(paths.values())


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(path, "", f"the export table {path.name}", "no such file")
    try:
        return pd.read_csv(
            path, keep_default_na=True, na_values=[""], dtype={contract.SENSOR_ID: str, contract.PLACEMENT: str}
        )
    except pd.errors.EmptyDataError:
        raise DataFileError(path, "line 1", "a CSV header", "an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFileError(path, "", "a CSV table", str(exc).strip().splitlines()[0]) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(path, "", f"the export table {path.name}", "no such file")
    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataFileError(path, "", "a complete Parquet file (footer ending in 'PAR1')", str(exc)) from None


def _import_dir(store: SessionStore, directory: Path, ext: str, progress: ProgressBar | None = None) -> int:
    bar = silent_if_none(progress)
    bar.set_total(3)  # read the tables, check the samples, store
    directory = Path(directory)
    meta_path = directory / "session.json"
    meta = read_metadata(meta_path)
    read = _read_csv if ext == "csv" else _read_parquet
    offset = 2 if ext == "csv" else None
    samples_path, events_path, metrics_path = (directory / f"{t}.{ext}" for t in TABLES)
    samples = read(samples_path)
    # THE events validator (the one CSV reader for CSV), values kept as the file has them
    events = (
        read_events_csv(events_path, normalise=False)
        if ext == "csv"
        else check_events(read(events_path), source=events_path)
    )
    metrics = read(metrics_path) if metrics_path.is_file() else None
    bar.advance()
    fs = {s["sensor_id"]: s.get("fs_hz") for s in meta["sensors"]}
    batches, placements = samples_from_table(samples_path, samples, fs, line_offset=offset)
    bar.advance()
    for s in meta["sensors"]:
        placements.setdefault(s["sensor_id"], s.get("placement") or "")
        if s.get("placement"):
            placements[s["sensor_id"]] = s["placement"]
    session = meta["session"]
    sid = ingest_session(
        store,
        subject=subject_from_metadata(meta_path, session),
        start_utc=session["start_utc"],
        batches=batches,
        placements=placements,
        events=events,
        therapist_id=session.get("therapist_id") or "",
        plan_toml=session.get("plan_toml"),
        results=meta.get("results") or [],
        metrics=metrics,
        calibrations=_calibrations(meta_path, meta["sensors"]),
        finalised=session.get("status") == "finalised",
        frames=_frames(meta_path, meta["sensors"]),
        history=_history(meta_path, meta.get("history")),
        source=directory,
    )
    bar.advance()
    return sid


def _frames(path: Path, sensors: list[dict[str, Any]]) -> dict[str, str]:
    """Each sensor's frame (``sensor`` when the export predates the key)."""
    out = {}
    for s in sensors:
        frame = s.get("frame", "sensor")
        if frame not in FRAMES:
            where = f"key 'sensors[{s['sensor_id']!r}].frame'"
            raise DataFileError(path, where, "one of " + ", ".join(FRAMES), repr(frame))
        out[s["sensor_id"]] = frame
    return out


def _history(path: Path, history: object) -> list[dict[str, Any]]:
    """The session's history of edits as exported (none when the export predates the key)."""
    if history is None:
        return []
    if not isinstance(history, list) or not all(
        isinstance(h, dict) and isinstance(h.get("changed_utc"), str) and isinstance(h.get("field"), str)
        for h in history
    ):
        raise DataFileError(path, "key 'history'", "a list of objects with 'changed_utc' and 'field'", repr(history))
    return list(history)


def _calibrations(path: Path, sensors: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in sensors:
        refs = s.get("calibrations") or []
        for i, ref in enumerate(refs):
            ok = isinstance(ref, dict) and isinstance(ref.get("kind"), str) and isinstance(ref.get("reference"), str)
            if not ok:
                where = f"key 'sensors[{s['sensor_id']!r}].calibrations[{i}]'"
                raise DataFileError(path, where, "an object with 'kind' and 'reference'", repr(ref))
        out[s["sensor_id"]] = refs
    return out


def import_csv_dir(store: SessionStore, directory: str | Path, *, progress: ProgressBar | None = None) -> int:
    """Import a CSV export directory as a new session (all or nothing); returns its id."""
    return _import_dir(store, Path(directory), "csv", progress)


def import_parquet_dir(store: SessionStore, directory: str | Path, *, progress: ProgressBar | None = None) -> int:
    """Import a Parquet export directory as a new session (all or nothing); returns its id."""
    return _import_dir(store, Path(directory), "parquet", progress)
