"""A stored session as plain tables and a JSON-able metadata dict (shared by every export).

Metadata (``session.json`` in CSV/Parquet exports) carries no names: the subject is its
pseudonymous id with birth year, COM height and diagnosis category.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors import __version__, contract
from dmi_sensors.errors import DataFileError
from dmi_sensors.store.jsontext import to_json
from dmi_sensors.store.records import CalibrationRecord
from dmi_sensors.store.samples import session_samples
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.store.timeutil import utc_now
from dmi_sensors.types import SampleBatch

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "METRICS_LEADING",
    "SessionTables",
    "calibration_reference",
    "collect",
    "metadata_json",
    "read_metadata",
    "samples_from_table",
]

EXPORT_FORMAT = "dmi-sensors session export"
EXPORT_FORMAT_VERSION = 1
#: Leading columns of the exported metrics table (then contract.WINDOW_COLUMNS' and metrics).
METRICS_LEADING = ("result_id",)


@dataclass
class SessionTables:
    """One session as tables: samples (contract.SAMPLE_COLUMNS), events, metrics windows, metadata."""

    metadata: dict[str, Any]
    samples: pd.DataFrame
    events: pd.DataFrame
    metrics: pd.DataFrame
    batches: dict[str, SampleBatch]


def calibration_reference(record: CalibrationRecord) -> dict[str, Any]:
    """A calibration reference as an export writes it: a file or directory path is reduced
    to its name (exports carry no absolute paths); the content is kept whole."""
    ref = record.to_dict()
    path = PurePath(record.reference)
    if path.is_absolute() or len(path.parts) > 1:
        ref["reference"] = path.name
    return ref


def collect(store: SessionStore, session_id: int) -> SessionTables:
    """Gather everything an export needs from the store.

    Samples come from :func:`dmi_sensors.store.samples.session_samples`: for a recorded
    session that is :func:`dmi_sensors.timing.timed_samples`, the path the session analysis
    uses, so exported and analysed sample times are the same numbers.
    """
    info = store.session_info(session_id)
    batches = session_samples(store, session_id)
    placements = {s.sensor_id: s.placement for s in info.sensors}
    frames = [batches[sid].to_dataframe(placements.get(sid, "")) for sid in sorted(batches)]
    samples = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(contract.SAMPLE_COLUMNS))
    results = store.results(session_id)
    windows = []
    for r in results:
        if r.windows is not None and len(r.windows):
            w = r.windows.copy()
            w.insert(0, "result_id", r.result_id)
            windows.append(w)
    metrics = pd.concat(windows, ignore_index=True) if windows else pd.DataFrame(columns=["result_id"])
    sensors = []
    for s in info.sensors:
        batch = batches.get(s.sensor_id)
        sensors.append(
            {
                "sensor_id": s.sensor_id,
                "placement": s.placement,
                "fs_hz": None if batch is None else float(batch.fs_hz),
                "samples": 0 if batch is None else len(batch),
                "packets": s.packets,
                "frame": s.frame,
                "calibrations": [calibration_reference(store.calibration(c)) for c in s.calibration_ids],
            }
        )
    metadata = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_by": f"dmi-sensors {__version__}",
        "exported_utc": utc_now(),
        "session": {
            "session_id": info.session_id,
            "subject_id": info.subject_id,
            "birth_year": info.birth_year,
            "com_height_m": info.com_height_m,
            "diagnosis_category": info.diagnosis_category,
            "body_height_m": info.body_height_m,
            "therapist_id": info.therapist_id,
            "start_utc": info.start_utc,
            "status": info.status,
            "origin": info.origin,
            "package_version": info.package_version,
            "plan_toml": info.plan_toml,
        },
        "sensors": sensors,
        "history": [
            {k: v for k, v in h.to_dict().items() if k not in ("history_id", "session_id")}
            for h in store.history(session_id)
        ],
        "results": [
            {
                "result_id": r.result_id,
                "sensor_id": r.sensor_id,
                "name": r.name,
                "created_utc": r.created_utc,
                "package_version": r.package_version,
                "parameters": r.parameters,
                "summary": r.summary,
            }
            for r in results
        ],
    }
    return SessionTables(metadata, samples, store.events(session_id), metrics, batches)


def metadata_json(metadata: dict[str, Any]) -> str:
    """``session.json`` text: indented, keys in the order written."""
    return to_json(metadata, sort_keys=False, indent=2) + "\n"


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and check an export's ``session.json``; ``DataFileError`` names the problem."""
    if not path.is_file():
        raise DataFileError(path, "", f"the export's metadata file {path.name}", "no such file")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"byte {exc.start}", "UTF-8 JSON", "undecodable bytes") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(path, f"line {exc.lineno}, column {exc.colno}", "JSON", exc.msg) from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise DataFileError(
            path, "key 'format'", repr(EXPORT_FORMAT), repr(meta.get("format") if isinstance(meta, dict) else meta)
        )
    version = meta.get("format_version")
    if version != EXPORT_FORMAT_VERSION:
        raise DataFileError(path, "key 'format_version'", str(EXPORT_FORMAT_VERSION), repr(version))
    session = meta.get("session")
    if not isinstance(session, dict):
        raise DataFileError(path, "key 'session'", "an object", repr(session))
    for key in ("subject_id", "start_utc"):
        if not isinstance(session.get(key), str):
            raise DataFileError(path, f"key 'session.{key}'", "a string", repr(session.get(key)))
    sensors = meta.get("sensors")
    if not isinstance(sensors, list) or not all(isinstance(s, dict) and "sensor_id" in s for s in sensors):
        raise DataFileError(path, "key 'sensors'", "a list of objects with 'sensor_id'", repr(sensors))
    return meta


def check_columns(path: Path, columns: list[str], required: tuple[str, ...], where: str = "header") -> None:
    """Raise ``DataFileError`` naming the file and the missing columns."""
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataFileError(
            path, where, "columns " + ",".join(required), "no column " + ", ".join(repr(m) for m in missing)
        )


def numeric_column(path: Path, frame: pd.DataFrame, column: str, *, line_offset: int | None = 2) -> np.ndarray:
    """``frame[column]`` as float64; the first non-numeric cell raises ``DataFileError`` with its row."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        place = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
        raise DataFileError(path, f"{place}, column {column!r}", "a number", repr(raw.iloc[i]))
    return values


def samples_from_table(
    path: Path, frame: pd.DataFrame, fs_by_sensor: Mapping[str, float | None], line_offset: int | None = 2
) -> tuple[dict[str, SampleBatch], dict[str, str]]:
    """Split a long samples table into one :class:`SampleBatch` per sensor (file order kept)."""
    check_columns(path, list(frame.columns), contract.SAMPLE_COLUMNS)
    numeric = {}
    for col in (contract.COUNTER, contract.DEVICE_TIME_S, contract.HOST_TIME_S, contract.TIME_S,
                *contract.ACC_SENSOR, *contract.GYR_SENSOR):  # fmt: skip
        numeric[col] = numeric_column(path, frame, col, line_offset=line_offset)
    for col in (*contract.ACC_SENSOR, *contract.GYR_SENSOR, contract.COUNTER):
        finite = np.isfinite(numeric[col])
        if not finite.all():
            i = int(np.argmin(finite))
            place = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
            raise DataFileError(path, f"{place}, column {col!r}", "a finite number", "an empty or non-finite cell")
    gap_column = frame[contract.GAP_BEFORE]
    if gap_column.dtype != bool:
        text = gap_column.astype(str).str.strip().str.lower()
        mapped = text.map({"true": True, "false": False, "1": True, "0": False})
        if mapped.isna().any():
            i = int(np.argmax(mapped.isna().to_numpy()))
            place = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
            raise DataFileError(
                path, f"{place}, column {contract.GAP_BEFORE!r}", "True or False", repr(gap_column.iloc[i])
            )
        gap_column = mapped.astype(bool)
    gap = gap_column.to_numpy(dtype=bool)
    sensor_ids = frame[contract.SENSOR_ID].astype(str).to_numpy()
    placements: dict[str, str] = {}
    batches: dict[str, SampleBatch] = {}
    for sid in dict.fromkeys(sensor_ids):
        rows = np.flatnonzero(sensor_ids == sid)
        fs_hz = fs_by_sensor.get(sid)
        if not fs_hz:
            raise DataFileError(path, f"sensor {sid!r}", "a sample rate for it in session.json 'sensors'", "none")
        pl = frame[contract.PLACEMENT].iloc[rows[0]]
        placements[sid] = "" if pd.isna(pl) else str(pl)
        counter = numeric[contract.COUNTER][rows]
        batches[sid] = SampleBatch(
            sid,
            float(fs_hz),
            counter.astype(np.int64),
            numeric[contract.DEVICE_TIME_S][rows],
            numeric[contract.HOST_TIME_S][rows],
            np.column_stack([numeric[c][rows] for c in contract.ACC_SENSOR]),
            np.column_stack([numeric[c][rows] for c in contract.GYR_SENSOR]),
            gap[rows],
            numeric[contract.TIME_S][rows],
        )
    return batches, placements
