"""Import a trial CSV (contract format, one sensor, uniform rate) into a new session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from dmi_sensors.progress_bar import ProgressBar, silent_if_none
from dmi_sensors.session.events import check_events
from dmi_sensors.store.export.ingest import ingest_session
from dmi_sensors.store.records import PlanText, SubjectFields
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.store.timeutil import format_utc, parse_utc, utc_now
from dmi_sensors.store.trial_csv import read_trial_csv
from dmi_sensors.types import SampleBatch, Trial

__all__ = ["import_trial_csv", "trial_batch"]


def trial_batch(trial: Trial, sensor_id: str) -> SampleBatch:
    """A trial as a :class:`SampleBatch`: counter 0..n-1, every time column = the file's ``time_s``."""
    n = len(trial)
    return SampleBatch(
        sensor_id,
        trial.fs_hz,
        np.arange(n, dtype=np.int64),
        trial.time_s,
        trial.time_s,
        trial.acc_mps2,
        trial.gyr_rps,
        np.zeros(n, dtype=bool),
        trial.time_s,
    )


def import_trial_csv(
    store: SessionStore,
    path: str | Path,
    *,
    subject: SubjectFields,
    sensor_id: str = "trial",
    placement: str = "trunk",
    start_utc: str | datetime | None = None,
    events: pd.DataFrame | None = None,
    therapist_id: str = "",
    plan: PlanText | str | None = None,
    trial: Trial | None = None,
    progress: ProgressBar | None = None,
) -> int:
    """Read a trial CSV (:func:`dmi_sensors.store.trial_csv.read_trial_csv`) into a new finalised session.

    The samples are stored as read, in the body frame (a trial CSV is body-aligned by the
    data contract; no calibration is applied). ``events`` is an optional events DataFrame
    (contract.EVENT_COLUMNS) to store with it, checked by THE events validator; ``trial``
    the file already read (it is not read again). Bad files raise ``DataFileError`` before
    anything is written.
    """
    bar = silent_if_none(progress)
    bar.set_total(2)  # read, store
    if trial is None:
        trial = read_trial_csv(path, sensor_id=sensor_id)
    if events is not None:
        events = check_events(events)
    bar.advance()
    if start_utc is None:
        start = utc_now()
    else:
        start = format_utc(parse_utc(start_utc) if isinstance(start_utc, str) else start_utc)
    plan_toml = plan if plan is None or isinstance(plan, str) else plan.to_toml()
    sid = ingest_session(
        store,
        subject=subject,
        start_utc=start,
        batches={sensor_id: trial_batch(trial, sensor_id)},
        placements={sensor_id: placement},
        events=events,
        therapist_id=therapist_id,
        plan_toml=plan_toml,
        frames={sensor_id: "body"},
        source=path,
    )
    bar.advance()
    return sid
