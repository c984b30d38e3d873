"""Automatic trunk-posture detection from the gravity direction in the body frame.

Input: a trunk sensor's specific force in the **body frame** (x forward/anterior, y left,
z up/cranial when upright; see ``docs/data-contract.md``), uniformly sampled. At rest the
accelerometer measures the reaction to gravity, i.e. a vector pointing **up** in the world;
after a zero-phase low-pass (``lowpass_hz``, default 0.5 Hz) its direction ``u`` tells how
the trunk lies:

===============  =====================  ==============================================
posture          ``u`` near             trunk
===============  =====================  ==============================================
``upright``      ``(0, 0, +1)``         vertical, head up (sitting, kneeling, standing)
``supine``       ``(+1, 0, 0)``         horizontal, anterior side up (on the back)
``prone``        ``(-1, 0, 0)``         horizontal, anterior side down (on the belly)
``four_point``   ``(-1, 0, 0)``         as prone, but self-supported: the trunk sways
``side_lying``   ``(0, +-1, 0)``        horizontal, on the right (+y up) or left side
(none)           ``(0, 0, -1)``         head down (inversions): not labelled
===============  =====================  ==============================================

Each (decimated) sample takes the nearest reference direction; with **hysteresis** the
label only changes when the new direction is nearer by more than ``margin_deg`` than the
current one. Runs shorter than ``min_duration_s`` are absorbed by their longer neighbour.

Limits (by physics, not by tuning):

* Sitting, kneeling and standing all have a vertical trunk: a trunk sensor alone reports
  ``upright``. When exercise rows (events with a ``posture`` column, e.g. from the
  :class:`~dmi_sensors.session.tagger.Tagger`) are given, ``upright`` inside an exercise
  whose position implies ``sitting``/``kneeling``/``standing`` takes that label.
* Prone and four-point have the same trunk orientation. Without help they are told apart
  by postural activity: the trunk angular-rate RMS (band ``activity_band_hz``, over
  ``activity_rms_s``), median-filtered over ``activity_median_s`` (so that a movement
  burst of a child lying prone, shorter than half that window, does not count), above
  ``four_point_gyr_rms_rps`` means four-point (a child on hands and knees sways
  continuously; a child lying prone rests on the surface). Without gyroscope data the
  label is ``prone``. The plan's expectation, when given, decides between them.
* Fast transitions (sit-to-stand) shorter than ``min_duration_s`` are not reported.

All detected rows carry ``kind="posture"``, ``source="auto"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors.dsp import moving_rms
from dmi_sensors.errors import ParameterError
from dmi_sensors.session import _signal
from dmi_sensors.session.events import EventRecord, events_frame, normalise_events

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["REFERENCE_DIRECTIONS", "PostureParams", "classify_gravity", "detect_postures", "posture_track"]

#: Reference "up" directions in the body frame and their labels ("" = not labelled).
REFERENCE_DIRECTIONS: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("upright", (0.0, 0.0, 1.0)),
    ("supine", (1.0, 0.0, 0.0)),
    ("prone", (-1.0, 0.0, 0.0)),
    ("side_lying", (0.0, 1.0, 0.0)),
    ("side_lying", (0.0, -1.0, 0.0)),
    ("", (0.0, 0.0, -1.0)),
)
_LABELS = ("upright", "supine", "prone", "side_lying", "")
_DIRS = np.array([d for _, d in REFERENCE_DIRECTIONS])
_DIR_LABEL = np.array([_LABELS.index(name) for name, _ in REFERENCE_DIRECTIONS])
_UPRIGHT_REFINED = ("sitting", "kneeling", "standing", "transition")


@dataclass(frozen=True, slots=True)
class PostureParams:
    """Parameters of :func:`detect_postures` (saved with results)."""

    lowpass_hz: float = 0.5
    decimate_hz: float = 10.0
    margin_deg: float = 10.0
    min_duration_s: float = 2.0
    activity_band_hz: tuple[float, float] = (0.1, 3.0)
    activity_rms_s: float = 0.5
    activity_median_s: float = 6.0
    four_point_gyr_rms_rps: float = 0.05


def classify_gravity(up_body: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest reference direction of each "up" vector (no hysteresis).

    Parameters
    ----------
    up_body
        ``(n, 3)`` vectors (need not be unit length) pointing up, in the body frame; the
        low-passed accelerometer is one.

    Returns
    -------
    labels
        ``(n,)`` object array of posture labels (``""`` for head-down).
    angles_rad
        ``(n, 5)`` angle to the nearest direction of each label of ``("upright", "supine",
        "prone", "side_lying", "")``.
    """
    u = np.asarray(up_body, dtype=np.float64)
    norm = np.linalg.norm(u, axis=1, keepdims=True)
    u = u / np.where(norm > 0, norm, 1.0)
    ang = np.arccos(np.clip(u @ _DIRS.T, -1.0, 1.0))
    per_label = np.full((u.shape[0], len(_LABELS)), np.inf)
    for j, lab in enumerate(_DIR_LABEL):
        per_label[:, lab] = np.minimum(per_label[:, lab], ang[:, j])
    return np.array(_LABELS, dtype=object)[np.argmin(per_label, axis=1)], per_label


def _hysteresis(per_label: np.ndarray, margin_rad: float) -> np.ndarray:
    n = per_label.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    best = np.argmin(per_label, axis=1)
    cur = int(best[0])
    for i in range(n):
        b = int(best[i])
        if b != cur and per_label[i, cur] - per_label[i, b] > margin_rad:
            cur = b
        out[i] = cur
    return out


def _expected_at(t: np.ndarray, events: pd.DataFrame | None) -> np.ndarray:
    """Posture the plan expects at each time (from exercise rows), "" where none."""
    out = np.full(t.shape[0], "", dtype=object)
    if events is None or len(events) == 0:
        return out
    ev = normalise_events(events)
    ex = ev[(ev["kind"] == "exercise") & (ev["posture"] != "")]
    onsets = ex["onset_s"].to_numpy(dtype=np.float64)
    ends = onsets + ex["duration_s"].to_numpy(dtype=np.float64)
    for onset, end, posture in zip(onsets, ends, ex["posture"].to_numpy(dtype=object), strict=True):
        out[(t >= onset) & (t < end)] = posture
    return out


def posture_track(
    time_s: np.ndarray,
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray | None = None,
    *,
    fs_hz: float,
    events: pd.DataFrame | None = None,
    params: PostureParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Posture label at each decimated time: ``(t_s, labels)`` (see the module docstring)."""
    p = params or PostureParams()
    t, arrs = _signal.check_inputs(time_s, fs_hz, acc_mps2=acc_mps2, gyr_rps=gyr_rps)
    acc, gyr = arrs["acc_mps2"], arrs["gyr_rps"]
    if acc is None:
        raise ParameterError("posture detection needs acc_mps2")
    n = t.shape[0]
    if n == 0:
        return t, np.zeros(0, dtype=object)
    step = max(1, round(fs_hz / p.decimate_hz))
    up = _signal.lowpass(acc, fs_hz, min(p.lowpass_hz, 0.45 * fs_hz))[::step]
    td = t[::step]
    _, per_label = classify_gravity(up)
    labels = np.array(_LABELS, dtype=object)[_hysteresis(per_label, np.deg2rad(p.margin_deg))]

    expected = _expected_at(td, events)
    prone = labels == "prone"
    plan_says = prone & np.isin(expected, ("prone", "four_point"))
    if gyr is not None and n > 1:
        w = _signal.bandpass(gyr, fs_hz, *p.activity_band_hz)
        activity = moving_rms(np.linalg.norm(w, axis=1), max(1, round(p.activity_rms_s * fs_hz)))[::step]
        size = max(1, round(p.activity_median_s * fs_hz / step))
        from scipy.ndimage import median_filter  # here, not at import (start-up time)

        activity = median_filter(activity, size=size, mode="nearest")
        labels[prone & ~plan_says & (activity > p.four_point_gyr_rms_rps)] = "four_point"
    labels[plan_says] = expected[plan_says]
    refine = (labels == "upright") & np.isin(expected, _UPRIGHT_REFINED)
    labels[refine] = expected[refine]

    min_len = max(1, round(p.min_duration_s * fs_hz / step))
    return td, _signal.merge_short_runs(labels, min_len)


def detect_postures(
    time_s: np.ndarray,
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray | None = None,
    *,
    fs_hz: float,
    events: pd.DataFrame | None = None,
    params: PostureParams | None = None,
) -> pd.DataFrame:
    """Posture intervals as an events table (``kind="posture"``, ``source="auto"``).

    Parameters
    ----------
    time_s
        Sample times, s since session start, shape ``(n,)``, uniform at ``fs_hz``.
    acc_mps2
        Trunk specific force in the body frame, m/s^2, shape ``(n, 3)``.
    gyr_rps
        Trunk angular rate, rad/s, shape ``(n, 3)``; optional, separates four-point from prone.
    fs_hz
        Sample rate, Hz (keyword only).
    events
        Optional events table whose ``kind="exercise"`` rows carry the posture the plan
        expects; used to refine ``upright`` and prone/four-point (module docstring).
    params
        :class:`PostureParams`.

    Returns
    -------
    pandas.DataFrame
        One row per posture run; the last run ends at ``time_s[-1] + 1 / fs_hz``.
        Head-down stretches are not reported.
    """
    td, labels = posture_track(time_s, acc_mps2, gyr_rps, fs_hz=fs_hz, events=events, params=params)
    if td.shape[0] == 0:
        return events_frame([])
    end_s = float(np.asarray(time_s, dtype=float)[-1]) + 1.0 / fs_hz
    starts, stops, values = _signal.label_runs(labels)
    records = []
    for a, b, lab in zip(starts, stops, values, strict=True):
        if not lab:
            continue
        onset = float(td[a])
        end = float(td[b]) if b < td.shape[0] else end_s
        records.append(EventRecord(onset, end - onset, source="auto", kind="posture", posture=str(lab)))
    return events_frame(records)
