"""Write an imported session into the store in one transaction (all or nothing).

Events tables are checked before they get here, by THE validator
(:func:`dmi_sensors.session.events.check_events`, or :func:`~dmi_sensors.session.events.read_events_csv`
for CSV files), which names the file and every bad line or row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dmi_sensors.errors import DataFileError, ParameterError
from dmi_sensors.session import Subject
from dmi_sensors.session.model import SUBJECT_FIELDS
from dmi_sensors.store.records import SubjectFields
from dmi_sensors.store.samples import write_sample_blocks
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.types import SampleBatch

__all__ = ["ingest_session", "subject_from_metadata"]


def subject_from_metadata(path: Path, session: dict[str, Any]) -> Subject:
    """The subject of an export's metadata, checked by :class:`dmi_sensors.session.Subject`
    (a pseudonymous id; birth year, COM height, body height plausible or absent); errors
    name ``path``."""
    try:
        fields: dict[str, Any] = {key: session.get(key) for key in SUBJECT_FIELDS}  # Subject checks each one
        return Subject(**fields)
    except (ValueError, TypeError, KeyError) as exc:
        raise DataFileError(path, "subject", "a valid pseudonymous subject", str(exc)) from None


def ingest_session(
    store: SessionStore,
    *,
    subject: SubjectFields,
    start_utc: str,
    batches: dict[str, SampleBatch],
    placements: dict[str, str],
    events: pd.DataFrame | None = None,
    therapist_id: str = "",
    plan_toml: str | None = None,
    results: list[dict[str, Any]] | None = None,
    metrics: pd.DataFrame | None = None,
    calibrations: dict[str, list[dict[str, Any]]] | None = None,
    finalised: bool = True,
    frames: dict[str, str] | None = None,
    history: list[dict[str, Any]] | None = None,
    source: str | Path | None = None,
) -> int:
    """Create an ``origin='import'`` session with samples, events and results, atomically.

    ``source`` (the file or folder imported): a value the store refuses (``ParameterError``,
    e.g. an id that breaks the pseudonymous-id rule) is raised as a ``DataFileError`` naming it.

    ``calibrations`` maps a sensor id to its calibration references as an export writes them
    (``kind``, ``reference``, ``parameters``, ``sha256``); they are stored as they are.
    ``frames`` maps a sensor id to the frame of its samples (default ``"sensor"``);
    ``history`` is the session's history of edits as an export writes it (kept as it is).
    """
    try:
        return _ingest(
            store, subject, start_utc, batches, placements, events, therapist_id, plan_toml, results, metrics,
            calibrations, finalised, frames, history,
        )  # fmt: skip
    except ParameterError as exc:
        if source is None:
            raise
        raise DataFileError(source, "", "a session the store can keep", str(exc)) from None


def _ingest(
    store: SessionStore,
    subject: SubjectFields,
    start_utc: str,
    batches: dict[str, SampleBatch],
    placements: dict[str, str],
    events: pd.DataFrame | None,
    therapist_id: str,
    plan_toml: str | None,
    results: list[dict[str, Any]] | None,
    metrics: pd.DataFrame | None,
    calibrations: dict[str, list[dict[str, Any]]] | None,
    finalised: bool,
    frames: dict[str, str] | None,
    history: list[dict[str, Any]] | None,
) -> int:
    with store.atomic("importing a session"):
        sid = store.create_session(
            subject,
            plan_toml,
            placements,
            therapist_id=therapist_id,
            start_utc=start_utc,
            origin="import",
            frames=frames,
        )
        if history:
            store.add_history(sid, history)
        for batch in batches.values():
            write_sample_blocks(store, sid, batch)
        for sensor_id, refs in (calibrations or {}).items():
            for ref in refs:
                store.add_session_calibration(
                    sid, sensor_id, ref["kind"], ref["reference"], ref.get("parameters") or {}, ref.get("sha256")
                )
        if events is not None and len(events):
            store.add_events(sid, events)
        for r in results or []:
            windows = None
            if metrics is not None and "result_id" in metrics.columns and len(metrics):
                rows = metrics[metrics["result_id"] == r.get("result_id")]
                if len(rows):
                    windows = rows.drop(columns=["result_id"]).reset_index(drop=True)
                    windows = windows.dropna(axis=1, how="all")
            store.save_results(
                sid,
                r.get("summary") or {},
                r.get("parameters") or {},
                windows,
                sensor_id=r.get("sensor_id"),
                name=r.get("name") or "analysis",
                package_version=r.get("package_version"),
                created_utc=r.get("created_utc"),
            )
        if finalised:
            store.finalise(sid)
    return sid
