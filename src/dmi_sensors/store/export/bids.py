"""BIDS-Motion export and import (BIDS >= 1.9, Motion-BIDS: Jeung et al. 2024, Sci Data 11:716).

Layout written for one session (``<sub>`` = the pseudonymous subject id, ``<n>`` = the
session's ordinal for that subject in the store, ``<imu>`` = ``imu`` + the placement)::

    dataset_description.json, README, participants.tsv/.json     (created or extended)
    sub-<sub>/sub-<sub>_sessions.tsv                              session_id, acq_time (session start)
    sub-<sub>/ses-<n>/sub-<sub>_ses-<n>_scans.tsv                 filename, acq_time (first sample)
    sub-<sub>/ses-<n>/motion/sub-<sub>_ses-<n>_task-dmi_tracksys-<imu>_motion.tsv
                                                   ..._motion.json, ..._channels.tsv,
                                                   ..._events.tsv, ..._events.json

One tracking system per sensor (each sensor has its own clock and sample count). The motion
TSV has no header and one row per device sample counter from the first to the last sample:
samples lost on the air are rows of ``n/a`` (``MissingValues``). Channels: ``acc_x/y/z``
(ACCEL, m/s^2), ``gyr_x/y/z`` (GYRO, rad/s) in the sensor frame as stored, and ``latency``
(LATENCY, s): each sample's drift-corrected time minus the file's start.

Time: the file's start ``t0`` is the first sample's session time rounded to whole
microseconds, so that ``acq_time = start_utc + t0`` is exact in ISO-8601; event onsets are
relative to ``t0`` (BIDS: relative to the data file's start). On import,
``time_s = t0 + latency`` and ``onset_s = t0 + onset``, which reproduces the stored values
to within one float64 rounding (< 1e-9 s for sessions shorter than a day); sensor values are
written with Python's shortest round-trip repr and come back bit for bit. BIDS TSV has no
quoting, so tabs and line breaks inside free-text event cells are written as spaces. ``host_time_s``
and ``device_time_s`` have no place in BIDS-Motion: on import both are set to ``time_s``.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors import __version__, contract
from dmi_sensors.errors import DataFileError, ParameterError
from dmi_sensors.progress_bar import ProgressBar, silent_if_none
from dmi_sensors.session import Subject
from dmi_sensors.session.events import check_events
from dmi_sensors.store.export.csvtext import write_table
from dmi_sensors.store.export.ingest import ingest_session
from dmi_sensors.store.export.tables import collect
from dmi_sensors.store.paths import make_private_dir, open_private
from dmi_sensors.store.samples import CHUNK_PACKETS, SensorSampleStream
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.store.timeutil import format_utc, parse_utc
from dmi_sensors.types import SampleBatch

__all__ = ["BIDS_VERSION", "TASK_LABEL", "import_bids", "write_bids"]

BIDS_VERSION = "1.10.0"
TASK_LABEL = "dmi"
NA = "n/a"
CHANNEL_COLUMNS = ("name", "component", "type", "tracked_point", "units", "placement")
_CHANNELS = (
    ("acc_x", "x", "ACCEL", "m/s^2"),
    ("acc_y", "y", "ACCEL", "m/s^2"),
    ("acc_z", "z", "ACCEL", "m/s^2"),
    ("gyr_x", "x", "GYRO", "rad/s"),
    ("gyr_y", "y", "GYRO", "rad/s"),
    ("gyr_z", "z", "GYRO", "rad/s"),
    ("latency", NA, "LATENCY", "s"),
)
#: Non-standard motion.json keys this package writes (and reads back).
COUNTER_KEY = "DeviceCounterFirstSample"
EVENT_EXTRA = (*contract.EVENT_COLUMNS[2:], *contract.EVENT_OPTIONAL_COLUMNS)

_EVENTS_SIDECAR = {
    "onset": {"Description": "Start of the event, seconds from the first sample of the motion file", "Units": "s"},
    "duration": {"Description": "Length of the event; 0 for an instant", "Units": "s"},
    "trial_type": {"Description": "The exercise id, or the event kind when no exercise applies"},
    contract.EXERCISE: {"Description": "Exercise id from the session's DMI plan"},
    contract.REPETITION: {"Description": "Repetition number within the exercise (1-based)"},
    contract.SUPPORT: {
        "Description": "Therapist's support point, proximal to distal",
        "Levels": {s: s for s in contract.SUPPORT_POINTS},
    },
    contract.SOURCE: {
        "Description": "Who made the tag",
        "Levels": {
            "plan": "from the exercise plan",
            "manual": "therapist key press",
            "auto": "automatic posture or repetition detection",
            "import": "imported from another file",
        },
    },
    contract.KIND: {"Description": "exercise, repetition, pause, note, posture or perturbation"},
    contract.POSTURE: {"Description": "Detected or tagged posture"},
    contract.NOTE: {"Description": "Free-text note (no names)"},
}
_PARTICIPANTS_SIDECAR = {
    "participant_id": {"Description": "Pseudonymous subject id (no names are stored)"},
    "birth_year": {"Description": "Year of birth", "Units": "year"},
    "com_height_m": {
        "Description": "Height of the centre of mass above the pivot at the subject's first exported session "
        "(per session: the sessions file)",
        "Units": "m",
    },
    "diagnosis_category": {"Description": "Diagnosis category (e.g. cerebral_palsy, down_syndrome)"},
    "body_height_m": {"Description": "Standing body height at the subject's first exported session", "Units": "m"},
}
_SESSIONS_SIDECAR = {
    "acq_time": {"Description": "Start of the session (UTC)"},
    "com_height_m": {"Description": "Height of the centre of mass above the pivot in this session", "Units": "m"},
    "body_height_m": {"Description": "Standing body height at this session", "Units": "m"},
}
#: Subject fields kept per session in ``sub-<label>_sessions.tsv`` (they change as a child grows).
SESSION_FIELDS = ("com_height_m", "body_height_m")


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", str(text))


def _fmt(values: np.ndarray) -> list[str]:
    return [NA if not np.isfinite(v) else repr(float(v)) for v in values]


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return NA
    if isinstance(value, float | np.floating):
        return repr(float(value))
    # BIDS TSV has no quoting: tabs and line breaks inside free text become spaces
    return re.sub(r"[\t\r\n]", " ", str(value))


def _tsv(path: Path, frame: pd.DataFrame, header: bool = True) -> None:
    """Write a BIDS TSV: tab-separated, no quoting, ``n/a`` for missing values, LF line ends."""
    lines = ["\t".join(map(str, frame.columns))] if header else []
    lines += ["\t".join(_cell(v) for v in row) for row in frame.itertuples(index=False, name=None)]
    _write(path, "\n".join(lines) + "\n")


def _session_label(store: SessionStore, session_id: int, subject_id: str) -> str:
    rows = store._query(
        "SELECT id FROM sessions WHERE subject_id = ? ORDER BY start_utc, id", (subject_id,), "numbering sessions"
    )
    return str([r[0] for r in rows].index(session_id) + 1)


def _merge_tsv(path: Path, frame: pd.DataFrame, key: str) -> None:
    """Append rows whose ``key`` is not yet in the TSV at ``path`` (create it if absent)."""
    if path.exists():
        old = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
        new = frame[~frame[key].isin(old[key])].astype(object)
        frame = pd.concat([old, new], ignore_index=True)  # a column the old file lacks: n/a in its rows
    _tsv(path, frame)


def write_bids(
    store: SessionStore,
    session_id: int,
    root: str | Path,
    *,
    session_label: str | None = None,
    task: str = TASK_LABEL,
    progress: ProgressBar | None = None,
    chunk_packets: int = CHUNK_PACKETS,
) -> list[Path]:
    """Write (or add to) a BIDS-Motion dataset at ``root``; returns the files written or extended.

    New files are ``0600`` and new directories ``0700``; the motion files are written chunk
    by chunk (bounded memory, also for a 10-hour session)."""
    root = Path(root)
    bar = silent_if_none(progress)
    export = collect(store, session_id, chunk_packets=chunk_packets)
    bar.set_total(1 + len(export.sensors))  # read and time the samples, then one step per sensor
    bar.advance()
    meta = export.metadata["session"]
    sub = _label(meta["subject_id"])
    if not sub:
        raise ParameterError(f"subject id {meta['subject_id']!r} has no letters or digits for a BIDS label")
    ses = _label(session_label) if session_label else _session_label(store, session_id, meta["subject_id"])
    start = parse_utc(meta["start_utc"])
    sub_dir = root / f"sub-{sub}"
    ses_dir = sub_dir / f"ses-{ses}"
    motion_dir = ses_dir / "motion"
    if ses_dir.exists():
        raise FileExistsError(f"refusing to overwrite {ses_dir}")
    make_private_dir(motion_dir)
    written: list[Path] = []

    desc = root / "dataset_description.json"
    if not desc.exists():
        _write(
            desc,
            json.dumps(
                {
                    "Name": "dmi-sensors sessions",
                    "BIDSVersion": BIDS_VERSION,
                    "DatasetType": "raw",
                    "GeneratedBy": [{"Name": "dmi-sensors", "Version": __version__}],
                },
                indent=2,
            )
            + "\n",
        )
        written.append(desc)
    readme = root / "README"
    if not readme.exists():
        _write(
            readme,
            "Wearable IMU recordings of Dynamic Movement Intervention (DMI) sessions and balance trials,\n"
            "exported by dmi-sensors. Subjects are identified by pseudonymous ids only.\n",
        )
        written.append(readme)
    participants = pd.DataFrame(
        {
            "participant_id": [f"sub-{sub}"],
            "birth_year": [meta["birth_year"]],
            "com_height_m": [meta["com_height_m"]],
            "diagnosis_category": [meta["diagnosis_category"]],
            "body_height_m": [meta.get("body_height_m")],
        }
    )
    _merge_tsv(root / "participants.tsv", participants, "participant_id")
    _write(root / "participants.json", json.dumps(_PARTICIPANTS_SIDECAR, indent=2) + "\n")
    written += [root / "participants.tsv", root / "participants.json"]
    sessions = pd.DataFrame(
        {"session_id": [f"ses-{ses}"], "acq_time": [format_utc(start)], **{k: [meta.get(k)] for k in SESSION_FIELDS}}
    )
    _merge_tsv(sub_dir / f"sub-{sub}_sessions.tsv", sessions, "session_id")
    _write(sub_dir / f"sub-{sub}_sessions.json", json.dumps(_SESSIONS_SIDECAR, indent=2) + "\n")
    written += [sub_dir / f"sub-{sub}_sessions.tsv", sub_dir / f"sub-{sub}_sessions.json"]

    events = export.events
    used: set[str] = set()
    scans = []
    stem0 = f"sub-{sub}_ses-{ses}_task-{task}"
    for stream, sensor_id, placement_text in export.sensors:
        tracksys = "imu" + _label(placement_text)
        if tracksys in used or tracksys == "imu":
            tracksys = "imu" + _label(sensor_id)
        used.add(tracksys)
        stem = f"{stem0}_tracksys-{tracksys}"
        motion = _write_motion(motion_dir / f"{stem}_motion.tsv", stream)
        t0, c0, n_rows = motion.t0, stream.counter_first, stream.counter_last - stream.counter_first + 1
        placement = placement_text or NA
        channels = pd.DataFrame(
            [(name, comp, typ, placement, units, placement) for name, comp, typ, units in _CHANNELS],
            columns=list(CHANNEL_COLUMNS),
        )
        channels.loc[channels["type"] == "LATENCY", ["tracked_point", "placement"]] = NA
        _tsv(motion_dir / f"{stem}_channels.tsv", channels)
        valid = stream.n_samples
        duration = (motion.t_last - motion.t_first) if valid > 1 else 0.0
        sidecar = {
            "TaskName": task,
            "TaskDescription": "DMI therapy session or balance trial recorded with dmi-sensors",
            "SamplingFrequency": float(stream.fs_hz),
            "SamplingFrequencyEffective": float((valid - 1) / duration) if duration > 0 else float(stream.fs_hz),
            "ACCELChannelCount": 3,
            "GYROChannelCount": 3,
            "LATENCYChannelCount": 1,
            "MotionChannelCount": 7,
            "TrackedPointsCount": 1,
            "TrackingSystemName": tracksys,
            "MissingValues": NA,
            "DeviceSerialNumber": sensor_id,
            "SoftwareVersions": f"dmi-sensors {__version__}",
            "RecordingDuration": float(n_rows / stream.fs_hz),
            COUNTER_KEY: c0,
        }
        _write(motion_dir / f"{stem}_motion.json", json.dumps(sidecar, indent=2) + "\n")
        written += [motion_dir / f"{stem}_{s}" for s in ("motion.tsv", "channels.tsv", "motion.json")]
        if len(events):
            ev = events.copy()
            trial_type = ev[contract.EXERCISE].where(ev[contract.EXERCISE].notna(), ev[contract.KIND])
            out = pd.DataFrame(
                {
                    "onset": _fmt(ev[contract.ONSET_S].to_numpy(np.float64) - t0),
                    "duration": _fmt(ev[contract.DURATION_S].to_numpy(np.float64)),
                    "trial_type": trial_type,
                }
            )
            for col in EVENT_EXTRA:
                out[col] = ev[col].astype(object).where(ev[col].notna(), None)
            _tsv(motion_dir / f"{stem}_events.tsv", out)
            _write(motion_dir / f"{stem}_events.json", json.dumps(_EVENTS_SIDECAR, indent=2) + "\n")
            written += [motion_dir / f"{stem}_events.tsv", motion_dir / f"{stem}_events.json"]
        acq = start + timedelta(microseconds=round(t0 * 1e6))
        scans.append({"filename": f"motion/{stem}_motion.tsv", "acq_time": format_utc(acq)})
        bar.advance()
    _tsv(ses_dir / f"sub-{sub}_ses-{ses}_scans.tsv", pd.DataFrame(scans, columns=["filename", "acq_time"]))
    written.append(ses_dir / f"sub-{sub}_ses-{ses}_scans.tsv")
    return written


@dataclass(frozen=True)
class _Motion:
    t0: float  # the file's start: first sample's session time to the microsecond
    t_first: float
    t_last: float


#: Rows of ``n/a`` written at a time for a long stretch of lost samples.
_NA_BLOCK = 65536


def _write_motion(path: Path, stream: SensorSampleStream) -> _Motion:
    """The motion TSV of one sensor, chunk by chunk: one row per device counter from the first
    to the last sample, lost samples as rows of ``n/a`` (see the module docstring)."""
    t0: float | None = None
    t_first = t_last = 0.0
    expected = stream.counter_first  # counter of the next row
    with open_private(path, "xb") as fh:

        def rows(values: np.ndarray) -> None:
            # numbers only: shortest round-trip repr, n/a for NaN (pandas' to_csv bytes, written faster)
            write_table(pd.DataFrame(values), fh, sep="\t", na_rep=NA, header=False)

        done = 0  # samples written so far
        for chunk in stream:
            c = chunk.counter
            back = np.flatnonzero(np.diff(c) <= 0)
            if c[0] < expected or back.size:
                i = done if c[0] < expected else done + int(back[0]) + 1
                raise ParameterError(f"sensor {chunk.sensor_id}: counters must increase for BIDS export (sample {i})")
            done += len(c)
            if t0 is None:
                t_first = float(chunk.time_s[0])
                t0 = round(t_first, 6) if np.isfinite(t_first) else 0.0
            for start in range(expected, int(c[0]), _NA_BLOCK):  # a long gap, in blocks
                rows(np.full((min(_NA_BLOCK, int(c[0]) - start), 7), np.nan))
            n = int(c[-1] - c[0] + 1)
            values = np.full((n, 7), np.nan)
            at = (c - c[0]).astype(np.int64)
            values[at, 0:3] = chunk.acc_mps2
            values[at, 3:6] = chunk.gyr_rps
            values[at, 6] = chunk.time_s - t0
            rows(values)
            expected = int(c[-1]) + 1
            t_last = float(chunk.time_s[-1])
    return _Motion(0.0 if t0 is None else t0, t_first, t_last)


def _write(path: Path, text: str) -> None:
    """Write a dataset file: created ``0600``; an existing one (dataset-level files that
    several exports share) keeps its mode."""
    with open_private(path, "w") as fh:
        fh.write(text)


# ----------------------------------------------------------------------------- import
def _read_tsv(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    if not path.is_file():
        raise DataFileError(path, "", "a BIDS TSV file", "no such file")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFileError(path, "", "a tab-separated table with a header", str(exc).strip()) from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFileError(path, "line 1 (header)", "columns " + ",".join(required), "no column " + ", ".join(missing))
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataFileError(path, "", "a BIDS JSON sidecar", "no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFileError(path, "", "JSON", str(exc)) from None
    if not isinstance(data, dict):
        raise DataFileError(path, "", "a JSON object", type(data).__name__)
    return data


def _only(paths: list[Path], what: str, root: Path, chosen: str | None) -> Path:
    if chosen is not None:
        for p in paths:
            if p.name.split("-", 1)[1] == chosen:
                return p
        raise DataFileError(root, "", f"{what}-{chosen}", "labels " + ", ".join(p.name for p in paths))
    if len(paths) != 1:
        found = ", ".join(p.name for p in paths) or "none"
        raise DataFileError(root, "", f"exactly one {what}-* directory (or choose one)", found)
    return paths[0]


def _na_float(path: Path, frame: pd.DataFrame, column: str, line_offset: int = 2) -> np.ndarray:
    text = frame[column].astype(str).str.strip()
    out = np.full(len(text), np.nan)
    for i, cell in enumerate(text):
        if cell == NA:
            continue
        try:
            out[i] = float(cell)
        except ValueError:
            place = f"line {i + line_offset}, column {column!r}"
            raise DataFileError(path, place, f"a number or {NA}", repr(cell)) from None
    return out


def _read_motion(motion_tsv: Path, start_utc: datetime, acq_time: str) -> tuple[SampleBatch, str]:
    stem = motion_tsv.name[: -len("_motion.tsv")]
    channels_path = motion_tsv.with_name(f"{stem}_channels.tsv")
    channels = _read_tsv(channels_path, ("name", "component", "type", "tracked_point", "units"))
    sidecar_path = motion_tsv.with_name(f"{stem}_motion.json")
    sidecar = _read_json(sidecar_path)
    fs = sidecar.get("SamplingFrequency")
    if not isinstance(fs, int | float) or not fs > 0:
        raise DataFileError(sidecar_path, "key 'SamplingFrequency'", "a positive number in Hz", repr(fs))
    wanted = {
        ("ACCEL", "x"): 0,
        ("ACCEL", "y"): 1,
        ("ACCEL", "z"): 2,
        ("GYRO", "x"): 3,
        ("GYRO", "y"): 4,
        ("GYRO", "z"): 5,
    }
    scale = {"m/s^2": 1.0, "g": contract.STANDARD_GRAVITY_MPS2, "rad/s": 1.0, "deg/s": np.pi / 180}
    index: dict[int, tuple[int, float]] = {}
    latency_col = None
    kinds, components, units = (channels[c].str.strip().tolist() for c in ("type", "component", "units"))
    for i, key in enumerate(zip(kinds, components, strict=True)):
        if key in wanted and wanted[key] not in index:
            unit = units[i]
            if unit not in scale:
                raise DataFileError(channels_path, f"line {i + 2}, column 'units'", "m/s^2, g, rad/s or deg/s", unit)
            index[wanted[key]] = (i, scale[unit])
        elif key[0] == "LATENCY" and latency_col is None:
            latency_col = i
    if len(index) != 6:
        absent = [f"{t} {c}" for (t, c), k in wanted.items() if k not in index]
        raise DataFileError(channels_path, "", "ACCEL and GYRO channels x, y, z", "no " + ", ".join(absent))
    try:
        values = pd.read_csv(
            motion_tsv, sep="\t", header=None, dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE
        )
    except pd.errors.EmptyDataError:
        raise DataFileError(motion_tsv, "line 1", "motion samples", "an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(motion_tsv, "", "tab-separated motion samples", str(exc).strip()) from None
    if values.shape[1] != len(channels):
        raise DataFileError(
            motion_tsv, "line 1", f"{len(channels)} columns (one per row of {channels_path.name})", str(values.shape[1])
        )
    short = (values == "").any(axis=1).to_numpy()
    if short.any():
        line = int(np.argmax(short)) + 1
        expected = f"{len(channels)} tab-separated values (a number or {NA})"
        raise DataFileError(motion_tsv, f"line {line}", expected, "fewer")
    values.columns = [str(k) for k in range(values.shape[1])]
    cols = {k: _na_float(motion_tsv, values, str(ci), 1) * s for k, (ci, s) in index.items()}
    data = np.column_stack([cols[k] for k in range(6)])
    present = np.isfinite(data).all(axis=1)
    rows = np.flatnonzero(present)
    if not len(rows):
        raise DataFileError(motion_tsv, "", "at least one complete sample", "only n/a rows")
    c0 = sidecar.get(COUNTER_KEY, 0)
    t0 = (parse_utc(acq_time) - start_utc) / timedelta(microseconds=1) / 1e6
    if latency_col is not None:
        latency = _na_float(motion_tsv, values, str(latency_col), 1)[rows]
        time_s = t0 + latency
    else:
        time_s = t0 + rows / float(fs)
    gap = np.zeros(len(rows), dtype=bool)
    gap[1:] = np.diff(rows) > 1
    if len(rows) and rows[0] > 0:
        gap[0] = True
    sensor_id = str(sidecar.get("DeviceSerialNumber") or stem.split("tracksys-")[1])
    placement = channels["placement"].iloc[0] if "placement" in channels.columns else ""
    batch = SampleBatch(
        sensor_id,
        float(fs),
        int(c0) + rows.astype(np.int64),
        time_s,
        time_s,
        data[rows, 0:3],
        data[rows, 3:6],
        gap,
        time_s,
    )
    return batch, ("" if placement == NA else placement)


def _read_events(path: Path, t0: float) -> pd.DataFrame:
    frame = _read_tsv(path, ("onset", "duration"))
    onset = _na_float(path, frame, "onset")
    duration = _na_float(path, frame, "duration")
    out = pd.DataFrame({contract.ONSET_S: t0 + onset, contract.DURATION_S: np.nan_to_num(duration, nan=0.0)})
    for col in EVENT_EXTRA:
        if col in frame.columns:
            out[col] = frame[col].where(frame[col] != NA, None)
        else:
            out[col] = None
    if contract.SOURCE not in frame.columns:
        out[contract.SOURCE] = "import"
    if contract.EXERCISE not in frame.columns and "trial_type" in frame.columns:
        out[contract.EXERCISE] = frame["trial_type"].where(frame["trial_type"] != NA, None)
    # BIDS TSV: header on line 1, one row per line after it
    return check_events(out, source=path, lines=range(2, 2 + len(out)))


_PARTICIPANT_COLUMNS: dict[str, type] = {
    "birth_year": int,
    "com_height_m": float,
    "diagnosis_category": str,
    "body_height_m": float,
}


def _subject_cells(path: Path, row: pd.Series, columns: dict[str, type]) -> dict[str, Any]:
    """The subject fields a participants/sessions row holds (``n/a`` or empty = unknown: left out)."""
    out: dict[str, Any] = {}
    for key, conv in columns.items():
        if key in row and row[key] not in (NA, "", "nan", "None"):
            try:
                out[key] = int(float(row[key])) if conv is int else conv(row[key])
            except ValueError:
                raise DataFileError(path, f"column {key!r}", f"a {conv.__name__} or {NA}", repr(row[key])) from None
    return out


def import_bids(
    store: SessionStore,
    root: str | Path,
    *,
    subject: str | None = None,
    session: str | None = None,
    progress: ProgressBar | None = None,
) -> int:
    """Import one session of a BIDS-Motion dataset into a new session; returns its id.

    ``subject``/``session`` are BIDS labels (without ``sub-``/``ses-``), needed only when the
    dataset holds several. Everything is read and checked before anything is stored.
    """
    root = Path(root)
    _read_json(root / "dataset_description.json")
    sub_dir = _only(sorted(p for p in root.glob("sub-*") if p.is_dir()), "sub", root, subject)
    sub = sub_dir.name[4:]
    ses_dirs = sorted(p for p in sub_dir.glob("ses-*") if p.is_dir())
    ses_dir = _only(ses_dirs, "ses", sub_dir, session) if ses_dirs else sub_dir
    prefix = f"sub-{sub}" + (f"_{ses_dir.name}" if ses_dirs else "")
    participants = _read_tsv(root / "participants.tsv", ("participant_id",))
    match = participants[participants["participant_id"] == f"sub-{sub}"]
    fields: dict[str, Any] = {"subject_id": sub}
    if len(match):
        fields.update(_subject_cells(root / "participants.tsv", match.iloc[0], _PARTICIPANT_COLUMNS))
    scans_path = ses_dir / f"{prefix}_scans.tsv"
    scans = _read_tsv(scans_path, ("filename", "acq_time"))
    acq = dict(zip(scans["filename"], scans["acq_time"], strict=True))
    start_text = None
    sessions_path = sub_dir / f"sub-{sub}_sessions.tsv"
    if ses_dirs and sessions_path.is_file():
        sessions = _read_tsv(sessions_path, ("session_id",))
        hit = sessions[sessions["session_id"] == ses_dir.name]
        if len(hit) and "acq_time" in hit.columns and hit.iloc[0]["acq_time"] not in ("", NA):
            start_text = hit.iloc[0]["acq_time"]
        if len(hit):  # this session's own values win over the participant's first ones
            fields.update(_subject_cells(sessions_path, hit.iloc[0], {k: float for k in SESSION_FIELDS}))
    try:
        subj = Subject(**fields)
    except (TypeError, ValueError) as exc:
        raise DataFileError(root / "participants.tsv", f"sub-{sub}", "a valid subject", str(exc)) from None
    if start_text is None:
        start_text = min(acq.values()) if acq else "1970-01-01T00:00:00Z"
    try:
        start = parse_utc(start_text)
    except ValueError:
        raise DataFileError(
            sessions_path, f"session {ses_dir.name}, column 'acq_time'", "ISO-8601", start_text
        ) from None
    batches: dict[str, SampleBatch] = {}
    placements: dict[str, str] = {}
    events = None
    motion_files = sorted((ses_dir / "motion").glob(f"{prefix}_*_motion.tsv"))
    if not motion_files:
        raise DataFileError(ses_dir / "motion", "", "at least one *_motion.tsv file", "none")
    bar = silent_if_none(progress)
    bar.set_total(len(motion_files) + 1)  # each motion file read, then stored
    for motion_tsv in motion_files:
        rel = f"motion/{motion_tsv.name}"
        if rel not in acq:
            raise DataFileError(scans_path, "column 'filename'", f"a row for {rel}", "none")
        try:
            t_acq = parse_utc(acq[rel])
        except ValueError:
            raise DataFileError(scans_path, f"row {rel}, column 'acq_time'", "ISO-8601", acq[rel]) from None
        batch, placement = _read_motion(motion_tsv, start, acq[rel])
        batches[batch.sensor_id] = batch
        placements[batch.sensor_id] = placement
        ev_path = motion_tsv.with_name(motion_tsv.name.replace("_motion.tsv", "_events.tsv"))
        if events is None and ev_path.is_file():
            t0 = (t_acq - start) / timedelta(microseconds=1) / 1e6
            events = _read_events(ev_path, t0)
        bar.advance()
    sid = ingest_session(
        store,
        subject=subj,
        start_utc=format_utc(start),
        batches=batches,
        placements=placements,
        events=events,
        source=root,
    )
    bar.advance()
    return sid
