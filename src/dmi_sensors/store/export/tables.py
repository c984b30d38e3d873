"""A stored session as plain tables and a JSON-able metadata dict (shared by every export).

Metadata (``session.json`` in CSV/Parquet exports) carries no names: the subject is its
pseudonymous id with birth year, COM height and diagnosis category; no paths (calibration
references by file name) and no Bluetooth addresses (sensors by serial).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors import __version__, contract
from dmi_sensors.errors import DataFileError
from dmi_sensors.protocol.advertising import looks_like_address
from dmi_sensors.session.model import PSEUDONYMOUS_ID_RULE, is_pseudonymous_id
from dmi_sensors.store.jsontext import to_json
from dmi_sensors.store.records import CalibrationRecord
from dmi_sensors.store.samples import CHUNK_PACKETS, SensorSampleStream, stream_sensor_samples
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.store.timeutil import parse_utc, utc_now
from dmi_sensors.types import SampleBatch

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "METRICS_LEADING",
    "SessionExport",
    "calibration_reference",
    "collect",
    "export_sensor_ids",
    "metadata_json",
    "read_metadata",
    "samples_from_table",
]

EXPORT_FORMAT = "dmi-sensors session export"
EXPORT_FORMAT_VERSION = 1
#: Leading columns of the exported metrics table (then contract.WINDOW_COLUMNS' and metrics).
METRICS_LEADING = ("result_id",)


@dataclass
class SessionExport:
    """One session as an export writes it: metadata (``session.json``), the events and
    metrics tables, and each sensor's samples as a stream of chunks (bounded memory).

    ``sensors`` lists ``(stream, sensor id as exported, placement)`` in sensor-id order; a
    sensor id that is a Bluetooth address is exported as ``sensor-<n>`` (exports carry
    serials, never addresses).
    """

    metadata: dict[str, Any]
    events: pd.DataFrame
    metrics: pd.DataFrame
    sensors: list[tuple[SensorSampleStream, str, str]]

    def sample_frames(self) -> Iterator[pd.DataFrame]:
        """contract.SAMPLE_COLUMNS tables, chunk after chunk, sensors one after another."""
        for stream, export_id, placement in self.sensors:
            for chunk in stream:
                if chunk.sensor_id != export_id:
                    chunk = dataclasses.replace(chunk, sensor_id=export_id)
                yield chunk.to_dataframe(placement)


def calibration_reference(record: CalibrationRecord) -> dict[str, Any]:
    """A calibration reference as an export writes it: a file or directory path is reduced
    to its name (exports carry no absolute paths); the content is kept whole."""
    ref = record.to_dict()
    path = PurePath(record.reference)
    if path.is_absolute() or len(path.parts) > 1:
        ref["reference"] = path.name
    return ref


def export_sensor_ids(sensor_ids: list[str]) -> dict[str, str]:
    """``{stored id: exported id}``: serials as they are, a Bluetooth address as ``sensor-<n>``
    (its position among the session's sensors, 1-based)."""
    return {sid: f"sensor-{i + 1}" if looks_like_address(sid) else sid for i, sid in enumerate(sorted(sensor_ids))}


def collect(store: SessionStore, session_id: int, *, chunk_packets: int = CHUNK_PACKETS) -> SessionExport:
    """Gather what an export needs from the store, the samples as streams.

    Samples come from :func:`dmi_sensors.store.samples.stream_sensor_samples`: for a recorded
    session the packets are decoded and timed with the clock fits of
    :func:`dmi_sensors.timing.timed_samples`, the path the session analysis uses, so exported
    and analysed sample times are the same numbers; one sensor's clock is fitted at a time
    and only its counters and arrival times are held for it.
    """
    info = store.session_info(session_id)
    ids = export_sensor_ids([s.sensor_id for s in info.sensors])
    streams: dict[str, SensorSampleStream] = {}
    for s in info.sensors:
        stream = stream_sensor_samples(store, session_id, s.sensor_id, chunk_packets=chunk_packets)
        if stream is not None:
            streams[s.sensor_id] = stream
    placements = {s.sensor_id: s.placement for s in info.sensors}
    results = store.results(session_id)
    windows = []
    for r in results:
        if r.windows is not None and len(r.windows):
            w = r.windows.copy()
            w.insert(0, "result_id", r.result_id)
            windows.append(w)
    metrics = pd.concat(windows, ignore_index=True) if windows else pd.DataFrame(columns=["result_id"])
    if contract.SENSOR_ID in metrics.columns:
        metrics[contract.SENSOR_ID] = metrics[contract.SENSOR_ID].map(lambda v: ids.get(v, v))
    sensors = []
    for s in info.sensors:
        stream = streams.get(s.sensor_id)
        sensors.append(
            {
                "sensor_id": ids[s.sensor_id],
                "placement": s.placement,
                "fs_hz": None if stream is None else float(stream.fs_hz),
                "samples": 0 if stream is None else stream.n_samples,
                "packets": s.packets,
                "frame": s.frame,
                "calibrations": [
                    {**ref, "sensor_id": ids.get(ref["sensor_id"], ref["sensor_id"])}
                    for ref in (calibration_reference(store.calibration(c)) for c in s.calibration_ids)
                ],
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
                "sensor_id": None if r.sensor_id is None else ids.get(r.sensor_id, r.sensor_id),
                "name": r.name,
                "created_utc": r.created_utc,
                "package_version": r.package_version,
                "parameters": r.parameters,
                "summary": r.summary,
            }
            for r in results
        ],
    }
    order = [(streams[sid], ids[sid], placements.get(sid, "")) for sid in sorted(streams)]
    return SessionExport(metadata, store.events(session_id), metrics, order)


def metadata_json(metadata: dict[str, Any]) -> str:
    """``session.json`` text: indented, keys in the order written."""
    return to_json(metadata, sort_keys=False, indent=2) + "\n"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Json:
    """Typed access to a decoded JSON document, naming the file and the key on error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, value: Any) -> DataFileError:
        return DataFileError(self.path, f"key {key!r}", expected, _short(value))

    def obj(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return value

    def items(self, value: Any, key: str, optional: bool = False) -> list[Any]:
        if value is None and optional:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "a list", value)
        return value

    def text(self, value: Any, key: str, optional: bool = True, nonempty: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or (nonempty and not value.strip()):
            raise self.fail(key, "a non-empty string" if nonempty else "a string", value)
        return value

    def number(self, value: Any, key: str, positive: bool = False) -> float | None:
        if value is None:
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or (positive and value <= 0):
            raise self.fail(key, "a positive finite number" if positive else "a finite number", value)
        return float(value)

    def integer(self, value: Any, key: str, lo: int = -(2**63), hi: int = 2**63 - 1) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.fail(key, f"an integer from {lo} to {hi}", value)
        return value


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and check an export's ``session.json``: every key an import uses has the type it
    needs (or is absent where optional); ``DataFileError`` names the file and the key."""
    if not path.is_file():
        raise DataFileError(path, "", f"the export's metadata file {path.name}", "no such file")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))  # NaN allowed: the store writes it (jsontext)
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"byte {exc.start}", "UTF-8 JSON", "undecodable bytes") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(path, f"line {exc.lineno}, column {exc.colno}", "JSON", exc.msg) from None
    except (ValueError, RecursionError) as exc:
        raise DataFileError(path, "", "standard JSON", str(exc)) from None
    j = _Json(path)
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise DataFileError(
            path, "key 'format'", repr(EXPORT_FORMAT), _short(meta.get("format") if isinstance(meta, dict) else meta)
        )
    version = meta.get("format_version")
    if version != EXPORT_FORMAT_VERSION or isinstance(version, bool):
        raise DataFileError(path, "key 'format_version'", str(EXPORT_FORMAT_VERSION), _short(version))
    session = j.obj(meta.get("session"), "session")
    j.text(session.get("subject_id"), "session.subject_id", optional=False)
    start = j.text(session.get("start_utc"), "session.start_utc", optional=False)
    try:
        parse_utc(str(start))
    except ValueError:
        raise j.fail("session.start_utc", "an ISO-8601 UTC time", start) from None
    for key in ("diagnosis_category", "therapist_id", "plan_toml", "status", "origin", "package_version"):
        j.text(session.get(key), f"session.{key}")
    therapist = session.get("therapist_id") or ""
    if not is_pseudonymous_id(therapist) and therapist != "":
        raise j.fail("session.therapist_id", PSEUDONYMOUS_ID_RULE, therapist)
    j.integer(session.get("birth_year"), "session.birth_year")
    j.integer(session.get("session_id"), "session.session_id")
    j.number(session.get("com_height_m"), "session.com_height_m")
    j.number(session.get("body_height_m"), "session.body_height_m")
    sensors = j.items(meta.get("sensors"), "sensors")
    seen: set[str] = set()
    for i, s in enumerate(sensors):
        where = f"sensors[{i}]"
        j.obj(s, where)
        sensor_id = j.text(s.get("sensor_id"), f"{where}.sensor_id", optional=False, nonempty=True)
        if sensor_id in seen:
            raise j.fail(f"{where}.sensor_id", "a sensor id not listed before", sensor_id)
        seen.add(str(sensor_id))
        j.text(s.get("placement"), f"{where}.placement")
        j.text(s.get("frame"), f"{where}.frame")
        j.number(s.get("fs_hz"), f"{where}.fs_hz", positive=True)
        j.integer(s.get("samples"), f"{where}.samples", lo=0)
        j.integer(s.get("packets"), f"{where}.packets", lo=0)
        for k, ref in enumerate(j.items(s.get("calibrations"), f"{where}.calibrations", optional=True)):
            rwhere = f"{where}.calibrations[{k}]"
            j.obj(ref, rwhere)
            j.text(ref.get("kind"), f"{rwhere}.kind", optional=False, nonempty=True)
            j.text(ref.get("reference"), f"{rwhere}.reference", optional=False)
            j.text(ref.get("sha256"), f"{rwhere}.sha256")
            if ref.get("parameters") is not None:
                j.obj(ref.get("parameters"), f"{rwhere}.parameters")
    for i, r in enumerate(j.items(meta.get("results"), "results", optional=True)):
        where = f"results[{i}]"
        j.obj(r, where)
        j.integer(r.get("result_id"), f"{where}.result_id")
        for key in ("sensor_id", "name", "created_utc", "package_version"):
            j.text(r.get(key), f"{where}.{key}")
        for key in ("summary", "parameters"):
            if r.get(key) is not None:
                j.obj(r.get(key), f"{where}.{key}")
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


#: Largest sample counter a samples table may hold (every whole number up to it is exact in float64).
COUNTER_MAX = 2**53


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
    counter_ok = np.abs(numeric[contract.COUNTER]) <= COUNTER_MAX
    counter_ok &= numeric[contract.COUNTER] == np.floor(numeric[contract.COUNTER])
    if not counter_ok.all():
        i = int(np.argmin(counter_ok))
        place = f"line {i + line_offset}" if line_offset is not None else f"row {i}"
        raise DataFileError(
            path,
            f"{place}, column {contract.COUNTER!r}",
            f"a whole sample count of at most {COUNTER_MAX}",
            repr(frame[contract.COUNTER].iloc[i]),
        )
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
