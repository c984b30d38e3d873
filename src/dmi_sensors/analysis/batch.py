"""Cohort analysis: many sessions -> one tidy table, in parallel on ``dask.distributed``.

:func:`analyse_batch` (``dmi_sensors.batch``; ``dmi-sensors batch`` on the command line)
finds every session in its inputs, analyses each one on a Dask worker with the toolkit's
own analyses — :func:`~dmi_sensors.analysis.analyse_session` for stored sessions,
:func:`~dmi_sensors.analysis.analyse_trial` for trial CSVs, nothing re-implemented — and
writes one tidy table. Inputs (``docs/interop.md``):

=====================  =============================================================  ========
input                  recognised by                                                  one job
=====================  =============================================================  ========
session database       a file starting with the SQLite header                         each session in it
BIDS-Motion dataset    a folder with ``dataset_description.json``                     each ``sub-*/ses-*``
export directory       a folder with ``session.json`` (``dmi-sensors export``)        the session
trial list             ``trials.csv`` (or a folder holding it): one row per trial    each trial CSV
=====================  =============================================================  ========

BIDS datasets and export directories are imported into a scratch store on the worker
(:func:`dmi_sensors.store.import_path`) and analysed from there.

**Trial lists.** A folder of trial CSVs needs a ``trials.csv`` (column ``file`` — the trial
CSV relative to the list — and ``subject_id`` are required). The COM height is per child
and has no default: a ``com_height_m`` column, or ``com_height_m={"C01": 0.52, ...}``
(``--com-height-m C01=0.52``) for the subjects whose rows leave it empty; a row without
either is reported as a failure. Optional columns: ``session``, ``exercise``,
``repetition``, ``support``, ``events`` (an events CSV for the trial: then one row per tagged
segment), ``perturbation_at_s`` (one push: its time to stabilise), ``sensor_id``
(default ``trial``), ``placement`` (default ``trunk``), ``birth_year``,
``diagnosis_category``; any other column (e.g. ``group``) is copied into the table.

**The table** (``contract.BATCH_KEY_COLUMNS`` first): one row per subject × session ×
sensor × exercise × repetition — a session's repetition table
(:func:`~dmi_sensors.analysis.session.repetition_table`), plus its exercise-table row as
repetition 0 for an exercise tagged without repetitions; a trial CSV's whole-trial summary,
or its tagged segments. Then the analysis's own columns and metrics, exactly as the
analysis returned them (the same float64 bits), then ``com_height_m``,
``dmi_sensors_version`` and ``parameters`` (every analysis parameter, JSON).

**Failures** (``contract.BATCH_FAILURE_COLUMNS``): a session that raises, or yields no row
(untagged, nothing analysable), is reported with its reason and does not stop the others.

**Resume.** Results are written as they arrive: one Parquet part per session in
``<out>.parts/`` and a line in its ``manifest.jsonl`` (after the part is in place). A run
that is interrupted (Ctrl-C, a closed laptop, ``limit``) and started again with the same
inputs and parameters skips every session whose part is there and whose input has not
changed (a fingerprint of the stored session, or of the files' sizes and times); sessions
that failed are tried again. When every session has an outcome the parts are joined into
``out`` (Parquet, with the parameters in its metadata) and the failures into
``<out stem>.failures.csv``.

**Where it runs.** ``scheduler=None``: a ``LocalCluster`` on this machine, one single-threaded
worker process per core (:func:`machine_workers`; ``workers`` to choose); a scheduler
address (``"tcp://host:8786"``) or a ``distributed.Client``: an existing cluster, whose
workers must have dmi-sensors installed and see the input paths. The client writes all
output files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmi_sensors import __version__, contract
from dmi_sensors.analysis.session import SessionAnalysis, SessionAnalysisParams, analyse_session
from dmi_sensors.analysis.trial import TrialAnalysisParams, analyse_trial
from dmi_sensors.errors import DataFileError, DmiSensorsError, ParameterError
from dmi_sensors.progress_bar import ProgressBar
from dmi_sensors.session.events import read_events_csv
from dmi_sensors.session.model import check_subject_fields, is_exercise_id
from dmi_sensors.store import SessionInfo, SessionStore, import_path
from dmi_sensors.store.db import SQLITE_MAGIC
from dmi_sensors.store.export.tables import read_metadata
from dmi_sensors.store.paths import create_private_file, make_private_dir, open_private
from dmi_sensors.store.trial_csv import read_trial_csv

if TYPE_CHECKING:  # pandas and distributed are imported when a batch runs
    import pandas as pd
    from distributed import Client

__all__ = [
    "TRIAL_LIST",
    "BatchJob",
    "BatchResult",
    "JobOutcome",
    "analyse_batch",
    "discover",
    "machine_workers",
    "run_job",
]

#: File name of a folder's trial list.
TRIAL_LIST = "trials.csv"
#: Columns a trial list must have, and those it may have (others are copied to the table).
TRIAL_LIST_REQUIRED = ("file", "subject_id")
TRIAL_LIST_OPTIONAL = (
    "com_height_m",
    "session",
    "exercise",
    "repetition",
    "support",
    "events",
    "perturbation_at_s",
    "sensor_id",
    "placement",
    "birth_year",
    "diagnosis_category",
)
#: Format tag of a parts directory's manifest (its first line).
PARTS_FORMAT = "dmi-sensors batch parts"
PARTS_FORMAT_VERSION = 1
#: What one job's outcome can be.
OK, NO_ROWS, ERROR = "ok", "no rows", "error"

#: Columns written as text ("" for none) / as integers; every other analysis column is float64.
_TEXT_COLUMNS = frozenset(
    {
        contract.INPUT,
        contract.SUBJECT_ID,
        contract.SESSION,
        contract.TRIAL,
        contract.DIAGNOSIS_CATEGORY,
        contract.START_UTC,
        contract.SENSOR_ID,
        contract.PLACEMENT,
        contract.EXERCISE,
        contract.SUPPORT,
        contract.POSTURE_PLANNED,
        contract.POSTURE_DETECTED,
        contract.TTS_STATUS,
        contract.METRICS_ABSENT,
        contract.PACKAGE_VERSION,
        contract.PARAMETERS,
    }
)
_INPUT_KINDS = "a session database, a BIDS-Motion dataset, an export directory (session.json) or a trial list"


# --- jobs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchJob:
    """One session (or trial) to analyse.

    ``kind``: ``database``, ``bids``, ``export`` or ``trial``; ``input``: the input's label
    (a path relative to the inputs' common folder: never absolute); ``path``: where a worker
    reads it (database file, dataset root, export directory, trial list's folder);
    ``session``/``subject_id``/``trial``: who and what, as the table names them;
    ``options``: what the worker needs (database session id, BIDS labels, the trial list's
    row); ``fingerprint``: changes when the input changes (resume redoes the job then).
    """

    kind: str
    input: str
    path: str
    session: str
    subject_id: str = ""
    trial: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """Identity of the job across runs (the manifest's key)."""
        return "|".join((self.kind, self.input, self.subject_id, self.session, self.trial))

    def describe(self) -> str:
        what = f"session {self.session}" if self.session else "session"
        who = f" of {self.subject_id}" if self.subject_id else ""
        return f"{self.input}: {self.trial or what}{who}"


@dataclass
class JobOutcome:
    """What a worker returns for one job: ``status`` ``ok`` (``table`` holds its rows),
    ``no rows`` (analysed, nothing to tabulate: ``reason`` says why) or ``error``
    (``reason``: the error, one line); ``seconds``: analysis time on the worker."""

    job: BatchJob
    status: str
    table: pd.DataFrame | None = None
    reason: str = ""
    seconds: float = 0.0


def _digest(data: object) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _file_stats(paths: Sequence[Path], root: Path) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of each existing file (the input's fingerprint)."""
    out = []
    for p in sorted(paths):
        if p.is_file():
            st = p.stat()
            out.append((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
    return out


def _labels(paths: Sequence[Path]) -> list[str]:
    """Each input as a path relative to the folder holding them all (no absolute paths in the table)."""
    if len(paths) == 1:
        return [paths[0].name]
    common = Path(os.path.commonpath([str(p.parent) for p in paths]))
    return [p.relative_to(common).as_posix() for p in paths]


def _database_jobs(path: Path, label: str) -> list[BatchJob]:
    with SessionStore(path, create=False) as store:
        infos = store.sessions()
    jobs = []
    for info in infos:
        state = info.to_dict()
        state.pop("results", None)  # saving an analysis in the database does not change its data
        jobs.append(
            BatchJob(
                "database",
                label,
                str(path),
                str(info.session_id),
                info.subject_id,
                options={"session_id": info.session_id},
                fingerprint=_digest(state),
            )
        )
    return jobs


def _bids_jobs(root: Path, label: str) -> list[BatchJob]:
    subjects = sorted(p for p in root.glob("sub-*") if p.is_dir())
    if not subjects:
        raise DataFileError(root, "", "sub-* folders (a BIDS dataset with data)", "none")
    jobs = []
    shared = [root / "dataset_description.json", root / "participants.tsv"]
    for sub_dir in subjects:
        sub = sub_dir.name[4:]
        ses_dirs = sorted(p for p in sub_dir.glob("ses-*") if p.is_dir())
        for ses_dir in ses_dirs or [sub_dir]:
            ses = ses_dir.name[4:] if ses_dirs else ""
            files = [*shared, sub_dir / f"sub-{sub}_sessions.tsv", *ses_dir.rglob("*")]
            jobs.append(
                BatchJob(
                    "bids",
                    label,
                    str(root),
                    ses,
                    sub,
                    options={"subject": sub, "session": ses or None},
                    fingerprint=_digest(_file_stats(files, root)),
                )
            )
    return jobs


def _export_jobs(folder: Path, label: str) -> list[BatchJob]:
    meta = read_metadata(folder / "session.json")
    session = meta["session"]
    sid = session.get("session_id")
    return [
        BatchJob(
            "export",
            label,
            str(folder),
            "" if sid is None else str(sid),
            str(session["subject_id"]),
            fingerprint=_digest(_file_stats(list(folder.iterdir()), folder)),
        )
    ]


def _cell(row: Mapping[str, str], key: str) -> str:
    return str(row.get(key, "") or "").strip()


def _trial_row(
    row: Mapping[str, str],
    folder: Path,
    where: str,
    com_height_m: Mapping[str, float],
    extra: Sequence[str],
) -> dict[str, Any]:
    """Check one trial-list row; returns the job's options. ``ValueError`` names what is wrong."""
    options: dict[str, Any] = {"file": _cell(row, "file")}
    if not options["file"]:
        raise ValueError(f"{where}: column 'file': expected a trial CSV path, found nothing")
    fields: dict[str, Any] = {"subject_id": _cell(row, "subject_id")}
    for key, conv in (("birth_year", int), ("com_height_m", float)):
        text = _cell(row, key)
        if text:
            try:
                fields[key] = conv(text)
            except ValueError:
                raise ValueError(f"{where}: column {key!r}: expected a number, found {text!r}") from None
    if _cell(row, "diagnosis_category"):
        fields["diagnosis_category"] = _cell(row, "diagnosis_category")
    subject = fields["subject_id"]
    given = com_height_m.get(subject)
    if "com_height_m" in fields and given is not None and not math.isclose(fields["com_height_m"], given):
        raise ValueError(
            f"{where}: subject {subject}: com_height_m {fields['com_height_m']} in the list but {given} given"
        )
    if "com_height_m" not in fields:
        if given is None:
            raise ValueError(
                f"{where}: subject {subject!r} has no com_height_m: add it to the list's com_height_m column or "
                f"give --com-height-m {subject or 'SUBJECT'}=M (the child's COM height; there is no default)"
            )
        fields["com_height_m"] = float(given)
    try:
        options.update(check_subject_fields(fields))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    options["diagnosis_category"] = options.get("diagnosis_category") or ""
    options["birth_year"] = options.get("birth_year")
    options["session"] = _cell(row, "session")
    options["exercise"] = _cell(row, "exercise")
    if options["exercise"] and not is_exercise_id(options["exercise"]):
        raise ValueError(f"{where}: column 'exercise': expected an exercise id, found {options['exercise']!r}")
    rep = _cell(row, "repetition") or "0"
    if not rep.isdigit():
        raise ValueError(f"{where}: column 'repetition': expected 0, 1, 2, ..., found {rep!r}")
    options["repetition"] = int(rep)
    options["support"] = _cell(row, "support")
    if options["support"] and options["support"] not in contract.SUPPORT_POINTS:
        raise ValueError(
            f"{where}: column 'support': expected one of {', '.join(contract.SUPPORT_POINTS)}, "
            f"found {options['support']!r}"
        )
    options["sensor_id"] = _cell(row, "sensor_id") or "trial"
    options["placement"] = _cell(row, "placement") or "trunk"
    options["events"] = _cell(row, "events")
    push = _cell(row, "perturbation_at_s")
    options["perturbation_at_s"] = None
    if push:
        try:
            options["perturbation_at_s"] = float(push)
        except ValueError:
            raise ValueError(f"{where}: column 'perturbation_at_s': expected one time, s, found {push!r}") from None
        if options["events"]:
            raise ValueError(f"{where}: perturbation_at_s is for a trial without an events file (tag pushes there)")
    for key in ("file", "events"):
        if options[key] and not (folder / options[key]).is_file():
            raise ValueError(f"{where}: column {key!r}: {options[key]!r}: no such file next to the list")
    options["extra"] = {name: _cell(row, name) for name in extra}
    return options


def _trial_jobs(
    list_path: Path, label: str, com_height_m: Mapping[str, float]
) -> tuple[list[BatchJob], list[dict[str, str]]]:
    import pandas as pd

    try:
        table = pd.read_csv(list_path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataFileError(list_path, "line 1", "a CSV header", "an empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(list_path, "", "a CSV trial list", str(exc).strip().splitlines()[0]) from None
    columns = [str(c).strip() for c in table.columns]
    table.columns = pd.Index(columns)
    missing = [c for c in TRIAL_LIST_REQUIRED if c not in columns]
    if missing:
        raise DataFileError(
            list_path,
            "line 1",
            f"the columns {', '.join(TRIAL_LIST_REQUIRED)} (see docs/interop.md)",
            ", ".join(columns),
        )
    known = {*TRIAL_LIST_REQUIRED, *TRIAL_LIST_OPTIONAL}
    extra = [c for c in columns if c not in known]
    taken = [c for c in extra if c in _TEXT_COLUMNS or c in contract.BATCH_KEY_COLUMNS or c in _ANALYSIS_NAMES]
    if taken:
        raise DataFileError(list_path, "line 1", "extra columns that are not column names of the table", str(taken))
    folder = list_path.parent
    jobs: list[BatchJob] = []
    failures: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, values in enumerate(table.itertuples(index=False, name=None), start=2):
        row = dict(zip(columns, (str(v) for v in values), strict=True))
        where = f"{label}: line {line}"
        try:
            options = _trial_row(row, folder, where, com_height_m, extra)
            key = (options["subject_id"], options["session"], options["file"])
            if key in seen:
                raise ValueError(f"{where}: the same subject, session and file as line {seen[key]}")
            seen[key] = line
        except ValueError as exc:
            failures.append(_failure(label, _cell(row, "subject_id"), _cell(row, "session"),
                                     _cell(row, "file"), ERROR, str(exc)))  # fmt: skip
            continue
        files = [folder / options["file"], *([folder / options["events"]] if options["events"] else [])]
        jobs.append(
            BatchJob(
                "trial",
                label,
                str(folder),
                options["session"],
                options["subject_id"],
                options["file"],
                options=options,
                fingerprint=_digest([options, _file_stats(files, folder)]),
            )
        )
    return jobs, failures


def _discover_one(path: Path, label: str, com_height_m: Mapping[str, float]) -> tuple[list[BatchJob], list[dict]]:
    if not path.exists():
        raise DataFileError(path, "", _INPUT_KINDS, "no such file or directory")
    if path.is_dir():
        if (path / "dataset_description.json").is_file():
            return _bids_jobs(path, label), []
        if (path / "session.json").is_file():
            return _export_jobs(path, label), []
        if (path / TRIAL_LIST).is_file():
            return _trial_jobs(path / TRIAL_LIST, label, com_height_m)
        raise DataFileError(path, "", f"{_INPUT_KINDS} ({TRIAL_LIST})", "a folder with none of these")
    if path.suffix.lower() == ".csv":
        return _trial_jobs(path, label, com_height_m)
    with path.open("rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return _database_jobs(path, label), []
    raise DataFileError(path, "byte 0", f"{_INPUT_KINDS} (a database starts with 'SQLite format 3')", repr(head))


def discover(
    inputs: Sequence[str | os.PathLike[str]], *, com_height_m: Mapping[str, float] | None = None
) -> tuple[list[BatchJob], list[dict[str, str]]]:
    """Every session (or trial) of the inputs, and the failures found while looking.

    An input that cannot be read (missing, corrupt, unknown) is one failure row; so is a
    bad row of a trial list. Raises ``ParameterError`` only for no inputs at all or the same
    session given twice.
    """
    paths = [Path(p) for p in inputs]
    if not paths:
        raise ParameterError("batch: no inputs given (session databases, BIDS datasets, trial lists)")
    resolved = [p.resolve() for p in paths]
    labels = _labels(resolved)
    jobs: list[BatchJob] = []
    failures: list[dict[str, str]] = []
    for path, label in zip(resolved, labels, strict=True):
        try:
            found, bad = _discover_one(path, label, com_height_m or {})
        except (DmiSensorsError, OSError) as exc:
            failures.append(_failure(label, "", "", "", ERROR, _clean_reason(str(exc), path, label)))
            continue
        jobs.extend(found)
        failures.extend(bad)
    seen: dict[str, BatchJob] = {}
    for job in jobs:
        if job.key in seen:
            raise ParameterError(f"batch: {job.describe()} is given twice (the same input twice?)")
        seen[job.key] = job
    return jobs, failures


def machine_workers() -> int:
    """Worker processes for this machine: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# --- the work of one job (runs on a worker) ---------------------------------------------------

#: Column names of the analyses (a trial list's extra column may not take one).
_ANALYSIS_NAMES = frozenset(
    {
        *contract.REPETITION_TABLE_COLUMNS,
        *contract.EXERCISE_TABLE_COLUMNS,
        *contract.BATCH_PROVENANCE_COLUMNS,
        contract.START_S,
        contract.END_S,
        contract.WINDOW_KIND,
        contract.POSTURE,
    }
)


_SCRATCH = re.compile(r"\S*dmi-sensors-batch-[^/\s]+/scratch\.sqlite")


def _clean_reason(text: str, path: Path | str, label: str) -> str:
    """One line, the input's absolute path replaced by its label, a scratch store's by its name
    (no absolute paths in outputs)."""
    line = " ".join(str(text).split())
    return _SCRATCH.sub("the scratch store", line.replace(str(path), label))


def _failure(input_: str, subject: str, session: str, trial: str, status: str, reason: str) -> dict[str, str]:
    return {
        contract.INPUT: input_,
        contract.SUBJECT_ID: subject,
        contract.SESSION: session,
        contract.TRIAL: trial,
        contract.STATUS: status,
        contract.REASON: reason,
    }


def _json(data: object) -> str:
    return json.dumps(data, sort_keys=True, default=str, allow_nan=False, separators=(",", ":"))


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    import pandas as pd

    if value is pd.NA:
        return ""
    return str(value)


def _tidy(rows: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """Column order and dtypes of the cohort table: keys, extra columns, the analysis's columns,
    provenance; text as ``str`` ("" for none), ``repetition`` int64, ``birth_year`` Int64, the
    rest float64 (a value is never rounded: float64 in, the same float64 out)."""
    import pandas as pd

    keys, tail = list(contract.BATCH_KEY_COLUMNS), list(contract.BATCH_PROVENANCE_COLUMNS)
    middle = [c for c in rows.columns if c not in keys and c not in tail and c not in extra]
    rows = rows.reindex(columns=[*keys, *extra, *middle, *tail])
    out: dict[str, Any] = {}
    for col in rows.columns:
        s = rows[col]
        if col in _TEXT_COLUMNS or col in extra:
            out[col] = s.map(_text).astype(str)
        elif col == contract.REPETITION:
            out[col] = pd.to_numeric(s).astype("int64")
        elif col == contract.BIRTH_YEAR:
            out[col] = pd.to_numeric(s).astype("Int64")
        else:
            try:
                out[col] = pd.to_numeric(s).astype("float64")
            except (TypeError, ValueError):  # a text column of a newer analysis: kept as text
                out[col] = s.map(_text).astype(str)
    return pd.DataFrame(out, index=pd.RangeIndex(len(rows)))


def _session_rows(job: BatchJob, info: SessionInfo, analysis: SessionAnalysis) -> tuple[pd.DataFrame | None, str]:
    """The cohort rows of one analysed session (module docstring), or None and why none."""
    import pandas as pd

    parts = []
    if len(analysis.repetitions):
        parts.append(analysis.repetitions)
    ex = analysis.exercises
    if len(ex):
        lone = ex[ex[contract.REPETITIONS] == 0].drop(
            columns=[contract.REPETITIONS, contract.HOLDS, contract.TTS_STABLE], errors="ignore"
        )
        if len(lone):
            parts.append(lone.assign(**{contract.REPETITION: 0}))
    if not parts:
        why = "; ".join(analysis.warnings) or "no tagged exercise or repetition (an untagged session)"
        return None, why
    rows = pd.concat(parts, ignore_index=True, sort=False)
    rows = rows.sort_values([contract.SENSOR_ID, contract.ONSET_S, contract.REPETITION], kind="stable")
    p = analysis.parameters
    per_sensor = {
        sid: _json(
            {
                "session": p.get("session"),
                "analysis": p.get("analysis"),
                "calibration": (p.get("calibrations") or {}).get(sid),
                "frame": (p.get("frames") or {}).get(sid),
            }
        )
        for sid in rows[contract.SENSOR_ID].unique()
    }
    rows = rows.assign(
        **{
            contract.INPUT: job.input,
            contract.SUBJECT_ID: info.subject_id,
            contract.SESSION: job.session,
            contract.TRIAL: "",
            contract.BIRTH_YEAR: info.birth_year,
            contract.DIAGNOSIS_CATEGORY: info.diagnosis_category or "",
            contract.START_UTC: info.start_utc,
            contract.COM_HEIGHT_M: p.get("com_height_m"),
            contract.PACKAGE_VERSION: p.get("dmi_sensors_version", __version__),
            contract.PARAMETERS: rows[contract.SENSOR_ID].map(per_sensor),
        }
    )
    return _tidy(rows), ""


def _trial_rows(job: BatchJob, params: SessionAnalysisParams) -> tuple[pd.DataFrame | None, str]:
    """The cohort rows of one trial CSV (module docstring)."""
    import pandas as pd

    o = job.options
    folder = Path(job.path)
    trial = read_trial_csv(folder / o["file"], sensor_id=o["sensor_id"])
    events = read_events_csv(folder / o["events"]) if o["events"] else None
    trial_params = TrialAnalysisParams(com_height_m=o["com_height_m"], window_s=params.window_s, **dict(params.metrics))
    pushes = [o["perturbation_at_s"]] if o["perturbation_at_s"] is not None else []
    result = analyse_trial(trial, events=events, perturbations_s=pushes, params=trial_params)
    if events is not None:
        w = result.windows
        seg = w[(w[contract.WINDOW_KIND] == "segment") & (w[contract.EXERCISE].astype(str) != "")]
        reps = seg[seg[contract.REPETITION] > 0]
        lone = seg[(seg[contract.REPETITION] == 0) & ~seg[contract.EXERCISE].isin(set(reps[contract.EXERCISE]))]
        rows = pd.concat([reps, lone], ignore_index=True).sort_values(
            [contract.START_S, contract.REPETITION], kind="stable"
        )
        if not len(rows):
            return None, "the events file tags no exercise or repetition inside the trial"
        rows = rows.drop(columns=[contract.END_S, contract.WINDOW_KIND]).rename(
            columns={contract.START_S: contract.ONSET_S, contract.POSTURE: contract.POSTURE_PLANNED}
        )
        rows = rows.assign(**{contract.PLACEMENT: o["placement"]})
    else:
        summary = {k: v for k, v in result.summary.items() if isinstance(v, int | float) or v is None}
        row: dict[str, Any] = {
            contract.SENSOR_ID: trial.sensor_id,
            contract.PLACEMENT: o["placement"],
            contract.EXERCISE: o["exercise"],
            contract.REPETITION: o["repetition"],
            contract.SUPPORT: o["support"],
            contract.ONSET_S: float(trial.time_s[0]),
            **summary,
        }
        if pushes:
            row[contract.TTS_STATUS] = result.summary["time_to_stabilise_status"][0]
        rows = pd.DataFrame([row])
    provenance = _json({"analysis": result.parameters["analysis"], "perturbations": result.parameters["perturbations"]})
    rows = rows.assign(
        **{
            contract.INPUT: job.input,
            contract.SUBJECT_ID: o["subject_id"],
            contract.SESSION: o["session"],
            contract.TRIAL: o["file"],
            contract.BIRTH_YEAR: o["birth_year"],
            contract.DIAGNOSIS_CATEGORY: o["diagnosis_category"],
            contract.START_UTC: "",
            contract.COM_HEIGHT_M: o["com_height_m"],
            contract.PACKAGE_VERSION: result.parameters["dmi_sensors_version"],
            contract.PARAMETERS: provenance,
            **o["extra"],
        }
    )
    return _tidy(rows, extra=list(o["extra"])), ""


def _analyse_job(job: BatchJob, params: SessionAnalysisParams) -> tuple[pd.DataFrame | None, str]:
    if job.kind == "trial":
        return _trial_rows(job, params)
    if job.kind == "database":
        with SessionStore(job.path, create=False) as store:
            sid = int(job.options["session_id"])
            info = store.session_info(sid)
            analysis = analyse_session(store, sid, params, save=False)
        return _session_rows(job, info, analysis)
    # BIDS dataset or export directory: import into a scratch store, analyse from there
    with tempfile.TemporaryDirectory(prefix="dmi-sensors-batch-") as tmp:
        with SessionStore(Path(tmp) / "scratch.sqlite") as store:
            sid = import_path(store, job.path, **dict(job.options))
            info = store.session_info(sid)
            analysis = analyse_session(store, sid, params, save=False)
        return _session_rows(job, info, analysis)


def run_job(job: BatchJob, params: SessionAnalysisParams) -> JobOutcome:
    """Analyse one job (on a Dask worker, or anywhere); never raises for a bad session.

    Any error becomes an ``error`` outcome whose reason is the error's one line (a
    :class:`~dmi_sensors.errors.DmiSensorsError` names the file and place; anything else is
    prefixed with its type), with the input's absolute path replaced by its label.
    """
    t0 = time.perf_counter()
    try:
        table, why = _analyse_job(job, params)
    except Exception as exc:  # one bad session must not stop the cohort: reported with its reason
        text = str(exc) if isinstance(exc, DmiSensorsError) else f"{type(exc).__name__}: {exc}"
        reason = _clean_reason(text, job.path, job.input)
        return JobOutcome(job, ERROR, None, reason, time.perf_counter() - t0)
    if table is None:
        return JobOutcome(job, NO_ROWS, None, _clean_reason(why, job.path, job.input), time.perf_counter() - t0)
    return JobOutcome(job, OK, table, "", time.perf_counter() - t0)


# --- parts directory and manifest (client side) --------------------------------------------


def _write_private(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same folder, created 0600 (the store's rule for health
    data, :mod:`dmi_sensors.store.paths`), then rename it into place: a reader never sees half a file."""
    tmp = create_private_file(path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"), exclusive=True)
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_parquet(frame: pd.DataFrame, path: Path, metadata: Mapping[str, Any] | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        extra = {b"dmi_sensors.batch": _json(metadata).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    _write_private(path, lambda tmp: pq.write_table(table, tmp))


class _Parts:
    """``<out>.parts/``: one Parquet file per finished session and ``manifest.jsonl``.

    The manifest's first line is the header (format, package version, parameters); each
    further line is one outcome (``key, fingerprint, status, part, rows, reason, seconds,
    finished_utc``), appended and fsynced after its part file is in place, so a run killed
    at any moment leaves a manifest that names only complete parts (a torn last line is
    ignored). The latest line of a key wins.
    """

    MANIFEST = "manifest.jsonl"

    def __init__(self, folder: Path, header: Mapping[str, Any], restart: bool) -> None:
        self.folder = folder
        self.manifest = folder / self.MANIFEST
        if folder.exists() and not self.manifest.is_file() and any(folder.iterdir()):
            raise ParameterError(f"batch: {folder} exists and is not a batch's parts folder: choose another --out")
        if restart and self.manifest.is_file():
            shutil.rmtree(folder)
        make_private_dir(folder)
        self.entries: dict[str, dict[str, Any]] = {}
        if self.manifest.is_file():
            lines = self._read()
            if not lines or lines[0].get("format") != PARTS_FORMAT:
                raise ParameterError(f"batch: {self.manifest} is not a batch manifest: choose another --out")
            old = {k: lines[0].get(k) for k in header}
            if old != dict(header):
                raise ParameterError(
                    f"batch: {folder} holds results of other parameters or another dmi-sensors version "
                    f"({_diff(old, header)}): run with --restart to discard them, or choose another --out"
                )
            for entry in lines[1:]:
                self.entries[str(entry.get("key"))] = entry
        else:
            self._append({"format": PARTS_FORMAT, "format_version": PARTS_FORMAT_VERSION, **header})

    def _read(self) -> list[dict[str, Any]]:
        out = []
        for line in self.manifest.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill: its part is redone
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def _append(self, entry: Mapping[str, Any]) -> None:
        with open_private(self.manifest, "a") as fh:
            fh.write(_json(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def part_path(self, job: BatchJob) -> Path:
        return self.folder / f"{hashlib.sha256(job.key.encode()).hexdigest()[:24]}.parquet"

    def finished(self, job: BatchJob) -> dict[str, Any] | None:
        """The manifest entry of a job that need not run again (same input, ok or no rows)."""
        e = self.entries.get(job.key)
        if e is None or e.get("fingerprint") != job.fingerprint:
            return None
        if e.get("status") == NO_ROWS or (e.get("status") == OK and self.part_path(job).is_file()):
            return e
        return None

    def record(self, outcome: JobOutcome) -> dict[str, Any]:
        job = outcome.job
        part = None
        if outcome.status == OK and outcome.table is not None:
            part = self.part_path(job)
            _write_parquet(outcome.table, part)
        entry = {
            "key": job.key,
            "fingerprint": job.fingerprint,
            "status": outcome.status,
            "part": part.name if part else None,
            "rows": 0 if outcome.table is None else len(outcome.table),
            "reason": outcome.reason,
            "seconds": round(outcome.seconds, 6),
            "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        self._append(entry)
        self.entries[job.key] = entry
        return entry

    def read_part(self, job: BatchJob) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(self.part_path(job))


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = [k for k in new if old.get(k) != new.get(k)]
    return "; ".join(f"{k}: {_json(old.get(k))} there, {_json(new.get(k))} now" for k in keys)


# --- running on Dask ---------------------------------------------------------------------------


@contextlib.contextmanager
def _dask_client(scheduler: str | Client | None, workers: int | None, n_jobs: int) -> Iterator[tuple[Client, int]]:
    """A ``distributed.Client``: the given one, one connected to ``scheduler``, or a LocalCluster's."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler, len(scheduler.scheduler_info().get("workers", {}))
        return
    if scheduler:
        if workers is not None:
            raise ParameterError("batch: workers is for the local cluster; an existing scheduler has its own")
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ParameterError(f"batch: cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client, len(client.scheduler_info().get("workers", {}))
        finally:
            client.close()
        return
    if workers is not None and workers < 1:
        raise ParameterError(f"batch: workers must be 1 or more, got {workers}")
    n = max(1, min(workers or machine_workers(), n_jobs))
    with LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster) as client:  # fmt: skip
        yield client, n


def _run_jobs(client: Client, jobs: Sequence[BatchJob], params: SessionAnalysisParams) -> Generator[JobOutcome]:
    """Submit every job; yield outcomes as they finish (a lost worker is an ``error`` outcome)."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:12]
    futures = {
        client.submit(run_job, job, params, key=f"dmi-sensors-batch-{run}-{i}", pure=False): job
        for i, job in enumerate(jobs)
    }
    try:
        for future in as_completed(futures):
            job = futures[future]
            if future.status == "finished":
                outcome = future.result()
            else:
                exc = future.exception()
                outcome = JobOutcome(job, ERROR, None, f"the worker failed: {type(exc).__name__}: {exc}")
            future.release()
            yield outcome
    finally:
        client.cancel(list(futures))


# --- the batch ---------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What :func:`analyse_batch` did.

    ``table``: the cohort table (module docstring) of every finished session, resumed ones
    included; ``failures``: one row per session or input not in it (``status`` ``error`` or
    ``no rows``, ``reason``); ``out`` / ``failures_path``: the files written (None while the
    run is not complete: interrupted or ``limit``); ``parts``: the parts folder; counts:
    ``sessions`` found, ``analysed`` now, ``resumed`` (finished before, not redone),
    ``failed``, ``pending`` (no outcome yet: ``complete`` when 0); ``workers``: Dask
    workers used; ``wall_s``: this call's time.
    """

    table: pd.DataFrame
    failures: pd.DataFrame
    out: Path | None
    failures_path: Path | None
    parts: Path
    sessions: int
    analysed: int
    resumed: int
    failed: int
    pending: int
    complete: bool
    workers: int
    wall_s: float
    parameters: dict[str, Any] = field(default_factory=dict)


def failures_path_for(out: Path) -> Path:
    """Where the failures table of ``out`` goes: ``<stem>.failures.csv`` beside it."""
    return out.with_name(f"{out.stem}.failures.csv")


def analyse_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    params: SessionAnalysisParams | None = None,
    *,
    scheduler: str | Client | None = None,
    workers: int | None = None,
    com_height_m: Mapping[str, float] | None = None,
    restart: bool = False,
    limit: int | None = None,
    progress: bool | ProgressBar | None = None,
    on_outcome: Callable[[JobOutcome], None] | None = None,
) -> BatchResult:
    """Analyse every session of ``inputs`` on Dask into one tidy table at ``out`` (module docstring).

    Parameters
    ----------
    inputs
        Session databases, BIDS-Motion datasets, export directories, trial lists (or folders
        holding ``trials.csv``).
    out
        The cohort table (Parquet). ``<out>.parts/`` keeps the finished sessions (resume);
        ``<stem>.failures.csv`` the failures.
    params
        The session analysis's parameters (:class:`SessionAnalysisParams`); trial CSVs use
        its ``window_s`` and ``metrics`` overrides with each subject's COM height.
    scheduler
        None: a LocalCluster of ``workers`` processes (default :func:`machine_workers`);
        a scheduler address or a ``distributed.Client``: that cluster.
    com_height_m
        Subject id -> COM height, m, for trial-list rows without one.
    restart
        Discard the finished sessions of an earlier run into the same ``out``.
    limit
        Analyse at most this many sessions now (the rest on a later call).
    progress
        A bar over the sessions: None draws it on a terminal or in Jupyter
        (:mod:`dmi_sensors.progress_bar`), True/False force it, or give a
        :class:`~dmi_sensors.progress_bar.ProgressBar`.
    on_outcome
        Called with each :class:`JobOutcome` as it is recorded (in this process).

    Raises ``ParameterError`` for no inputs, a parts folder of other parameters (unless
    ``restart``), an unreachable scheduler. ``KeyboardInterrupt`` stops the run after
    recording what has finished; calling again resumes.
    """
    import pandas as pd

    t_start = time.perf_counter()
    params = params or SessionAnalysisParams()
    if limit is not None and limit < 0:
        raise ParameterError(f"batch: limit must be 0 or more, got {limit}")
    out = Path(out)
    jobs, input_failures = discover(inputs, com_height_m=com_height_m)
    header = {"dmi_sensors_version": __version__, "parameters": json.loads(_json(params.to_dict()))}
    parts = _Parts(Path(f"{out}.parts"), header, restart)
    finished = {job.key for job in jobs if parts.finished(job) is not None}
    todo = [job for job in jobs if job.key not in finished]
    if limit is not None:
        todo = todo[:limit]
    own_bar = not isinstance(progress, ProgressBar)
    if isinstance(progress, ProgressBar):
        bar = progress
    else:
        bar = ProgressBar(len(jobs), "batch", "session", enabled=progress)
    bar.set_total(len(jobs))
    bar.advance(len(finished))
    analysed = failed = workers_used = 0
    try:
        if todo:
            with (
                _dask_client(scheduler, workers, len(todo)) as (client, workers_used),
                contextlib.closing(_run_jobs(client, todo, params)) as outcomes,  # cancels what is left, first
            ):
                for outcome in outcomes:
                    parts.record(outcome)
                    analysed += 1
                    failed += outcome.status != OK
                    bar.advance(1)
                    if failed:
                        bar.set_note(f"{failed} not analysed")
                    if on_outcome is not None:
                        on_outcome(outcome)
    finally:
        if own_bar:
            bar.close()
    frames, failures = [], list(input_failures)
    for job in jobs:
        entry = parts.entries.get(job.key)
        if entry is None or entry.get("fingerprint") != job.fingerprint:
            continue
        if entry["status"] == OK and parts.part_path(job).is_file():
            frames.append(parts.read_part(job))
        elif entry["status"] in (ERROR, NO_ROWS):
            failures.append(
                _failure(job.input, job.subject_id, job.session, job.trial, entry["status"], entry["reason"])
            )
    pending = sum(parts.entries.get(j.key, {}).get("fingerprint") != j.fingerprint for j in jobs)
    complete = pending == 0
    table = _join(frames)
    failure_table = pd.DataFrame(failures, columns=list(contract.BATCH_FAILURE_COLUMNS))
    out_path = fail_path = None
    if complete:
        meta = {
            **header,
            "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "inputs": sorted({j.input for j in jobs} | {f[contract.INPUT] for f in input_failures}),
            "sessions": len(jobs),
            "rows": len(table),
            "failures": len(failure_table),
        }
        make_private_dir(out.parent)
        _write_parquet(table, out, meta)
        out_path = out
        fail_path = failures_path_for(out)
        if len(failure_table):
            _write_private(fail_path, lambda tmp: failure_table.to_csv(tmp, index=False))
        else:
            fail_path.unlink(missing_ok=True)
            fail_path = None
    return BatchResult(
        table=table,
        failures=failure_table,
        out=out_path,
        failures_path=fail_path,
        parts=parts.folder,
        sessions=len(jobs),
        analysed=analysed,
        resumed=len(finished),
        failed=len(failure_table),
        pending=pending,
        complete=complete,
        workers=workers_used,
        wall_s=time.perf_counter() - t_start,
        parameters=header,
    )


def _join(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The parts in job order, one column set (the union): keys, a trial list's own columns,
    the analyses' columns in order of first appearance, provenance; text cells a part did
    not have are ``""``, numbers NaN."""
    import pandas as pd

    if not frames:
        return _tidy(pd.DataFrame(columns=[*contract.BATCH_KEY_COLUMNS, *contract.BATCH_PROVENANCE_COLUMNS]))
    text = {c for f in frames for c in f.columns if pd.api.types.is_string_dtype(f[c].dtype)}
    table = pd.concat(frames, ignore_index=True, sort=False)
    keys, tail = list(contract.BATCH_KEY_COLUMNS), list(contract.BATCH_PROVENANCE_COLUMNS)
    rest = [c for c in table.columns if c not in keys and c not in tail]
    extra = [c for c in rest if c in text and c not in _TEXT_COLUMNS]
    middle = [c for c in rest if c not in extra]
    table = table[[*keys, *extra, *middle, *tail]]
    for c in text:
        if table[c].isna().any():
            table[c] = table[c].fillna("").astype(str)
    return table
