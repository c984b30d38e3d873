"""Vendor recording files (Movella DOT CSV, MetaBase CSV, APDM .h5) as sessions or trials.

The readers are :mod:`dmi_sensors.vendors.files`; this module stores what they read
(:func:`import_vendor_file`, one ``origin='import'`` session per file, all or nothing) and
puts one sensor of a file on a uniform time grid for trial analysis
(:func:`read_vendor_trial`). :func:`read_any_trial` is the trial reader of
``dmi-sensors analyse --trial``: a trial CSV, or a vendor file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from dmi_sensors.errors import DataFileError
from dmi_sensors.store.export.ingest import ingest_session
from dmi_sensors.store.records import PlanText, SubjectFields
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.store.timeutil import format_utc, utc_now
from dmi_sensors.store.trial_csv import read_trial_csv
from dmi_sensors.timing import resample_batch
from dmi_sensors.types import Trial
from dmi_sensors.vendors.files import VendorRecording, detect_format, read_vendor_file

__all__ = ["import_vendor_file", "is_vendor_file", "read_any_trial", "read_vendor_trial"]


def is_vendor_file(path: str | Path) -> bool:
    """True for a file :mod:`dmi_sensors.vendors.files` reads (by its content, not its name)."""
    return detect_format(path) is not None


def import_vendor_file(
    store: SessionStore,
    path: str | Path,
    *,
    subject: SubjectFields,
    sensor_id: str | None = None,
    placement: str = "trunk",
    start_utc: str | datetime | None = None,
    events: pd.DataFrame | None = None,
    therapist_id: str = "",
    plan: PlanText | str | None = None,
) -> int:
    """Read a vendor file and store it as a new finalised session; returns its id.

    ``sensor_id`` and ``placement`` name the sensor of a single-sensor file (DOT, MetaBase);
    an APDM file keeps its monitors' ids (``apdm-<case id>``) and their ``Label 0`` as
    placements. The session starts at the file's first sample when the file has absolute
    time (MetaBase, APDM), else at ``start_utc`` or now. Bad files raise
    :class:`~dmi_sensors.errors.DataFileError` before anything is written.
    """
    rec = read_vendor_file(path)
    batches = dict(rec.batches)
    placements = dict(rec.placements)
    if len(batches) == 1 and sensor_id:
        (old,) = batches
        batch = batches.pop(old)
        batch.sensor_id = sensor_id
        batches[sensor_id] = batch
        placements = {sensor_id: placements.get(old, placement)}
    for sid in batches:
        placements.setdefault(sid, placement if len(batches) == 1 else "")
    if start_utc is None:
        start = rec.start_utc or utc_now()
    else:
        start = start_utc if isinstance(start_utc, str) else format_utc(start_utc)
    plan_toml = plan if plan is None or isinstance(plan, str) else plan.to_toml()
    return ingest_session(
        store,
        subject=subject,
        start_utc=start,
        batches=batches,
        placements=placements,
        events=events,
        therapist_id=therapist_id,
        plan_toml=plan_toml,
    )


def read_vendor_trial(path: str | Path, sensor_id: str = "", sensor: str | None = None) -> Trial:
    """One sensor of a vendor file on the uniform grid ``k / fs`` (the file's nominal rate).

    ``sensor`` picks the sensor of a multi-sensor file (its id, ``apdm-<case id>``, or its
    placement label); the only one by default. Nothing is interpolated across a gap: the
    longest gap-free stretch is the trial. A file without gyroscope data is an error
    (the trial analysis needs both sensors).
    """
    path = Path(path)
    rec = read_vendor_file(path)
    batch = _pick(rec, sensor)
    if np.isnan(batch.gyr_rps).all():
        raise DataFileError(path, "", "gyroscope data (for MetaBase: the Gyroscope file beside the Accelerometer one)")
    t, acc, gyr, valid = resample_batch(batch)
    if t.shape[0] < 2:
        raise DataFileError(path, "", "at least 2 samples on the time grid", str(t.shape[0]))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(np.int8), [0]])))
    starts, stops = edges[::2], edges[1::2]
    k = int(np.argmax(stops - starts))
    sl = slice(int(starts[k]), int(stops[k]))
    return Trial(
        time_s=t[sl] - t[sl][0],
        acc_mps2=acc[sl],
        gyr_rps=gyr[sl],
        fs_hz=batch.fs_hz,
        sensor_id=sensor_id or batch.sensor_id,
    )


def _pick(rec: VendorRecording, sensor: str | None):
    if sensor is None:
        if len(rec.batches) == 1:
            return next(iter(rec.batches.values()))
        raise DataFileError(
            rec.path, "", "one sensor, or a choice among " + ", ".join(_choices(rec)), f"{len(rec.batches)} sensors"
        )
    for sid, batch in rec.batches.items():
        if sensor in (sid, sid.removeprefix("apdm-"), rec.placements.get(sid)):
            return batch
    raise DataFileError(rec.path, "", "a sensor among " + ", ".join(_choices(rec)), repr(sensor))


def _choices(rec: VendorRecording) -> list[str]:
    return [f"{sid} ({rec.placements[sid]})" if sid in rec.placements else sid for sid in rec.batches]


def read_any_trial(path: str | Path, sensor_id: str = "", sensor: str | None = None) -> Trial:
    """A trial CSV (:func:`~dmi_sensors.store.trial_csv.read_trial_csv`) or a vendor file
    (:func:`read_vendor_trial`), told apart by their content."""
    if is_vendor_file(path):
        return read_vendor_trial(path, sensor_id=sensor_id, sensor=sensor)
    return read_trial_csv(path, sensor_id=sensor_id)
