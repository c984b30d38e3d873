"""THE window tagging (exercise, repetition, support, posture) and the tagged segments.

:func:`make_windows` cuts a time range into fixed windows; :func:`tag_windows` gives every
window (any ``[start_s, end_s)`` interval: sliding windows, repetitions, whole exercises)
the tags of an events table by **majority overlap**:

* **Pauses** (``kind="pause"`` rows) are taken out of the time first: only un-paused time
  counts towards exercise and repetition overlap.
* **exercise / support**: the exercise id with the largest un-paused overlap (summed over
  its ``kind="exercise"`` rows), if that overlap is at least ``min_coverage`` (default 0.5)
  of the window length; else ``exercise = ""``, ``support = ""``. Support (and the expected
  posture) come from that exercise's row with the largest overlap. An exercise id that has
  ``kind="repetition"`` rows but no exercise row (a table of repetitions only) takes its
  repetition rows as its exercise rows.
* **repetition**: among the ``kind="repetition"`` rows of that exercise, the repetition
  number with the largest un-paused overlap if it reaches ``min_coverage`` of the window;
  else 0. Manual (or plan / import) repetition rows are preferred; ``source="auto"``
  repetition rows are used only when the exercise has no others.
* **posture**: the posture label with the largest overlap summed over its
  ``kind="posture"`` rows (pauses do not matter: posture is physical) reaching
  ``min_coverage``; manual rows win over ``source="auto"`` ones. If no label qualifies,
  the exercise row's ``posture`` (the plan's expectation) is used. An ``upright`` label
  inside an exercise whose expected posture is ``sitting``, ``kneeling``, ``standing``
  (or ``transition``) takes that label (a trunk sensor cannot tell them apart, the plan can).

Ties go to the earliest row. With ``min_coverage = 0.5`` a window is tagged with what
covers at least half of it, so a window straddling a change is tagged with the majority side
(or left untagged when nothing has half of it). Rows of other kinds (``note``,
``perturbation``, ``hold``) do not tag windows.

:func:`segments_from_events` turns event rows into sample ranges of one uniform signal
(``dmi_sensors.metrics.interval_samples``) tagged with the row's own values, and says which
rows could not be analysed, or only in part (outside the signal, too short).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.windows import interval_samples
from dmi_sensors.session.events import empty_events, normalise_events

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NOT_SEGMENTS", "TAG_COLUMNS", "EventSegments", "make_windows", "segments_from_events", "tag_windows"]

#: Tag columns of a window row (``contract.WINDOW_COLUMNS`` without sensor_id/start_s/end_s).
TAG_COLUMNS: tuple[str, ...] = tuple(c for c in contract.WINDOW_COLUMNS if c not in ("sensor_id", "start_s", "end_s"))
#: Kinds of events rows that are never analysed as segments (instants and pushes).
NOT_SEGMENTS: tuple[str, ...] = ("note", "perturbation")

_UPRIGHT_REFINED = ("sitting", "kneeling", "standing", "transition")
_Clock = Callable[[np.ndarray], np.ndarray]


def make_windows(
    start_s: float, end_s: float, window_s: float, step_s: float | None = None, *, sensor_id: str | None = None
) -> pd.DataFrame:
    """Windows ``[start_s + k * step_s, start_s + k * step_s + window_s)`` inside ``[start_s, end_s]``.

    Only whole windows are made (the tail shorter than ``window_s`` is dropped). ``step_s``
    defaults to ``window_s`` (no overlap). Returns a table with ``start_s`` and ``end_s``
    (and ``sensor_id`` first when given).
    """
    import pandas as pd

    step = window_s if step_s is None else step_s
    for name, value in (("window_s", window_s), ("step_s", step)):
        if not (np.isfinite(value) and value > 0):
            raise ParameterError(f"{name} must be positive, got {value}")
    if not (np.isfinite(start_s) and np.isfinite(end_s)):
        raise ParameterError("start_s and end_s must be finite")
    span = end_s - start_s - window_s
    count = int(np.floor(span / step + 1e-9)) + 1 if span >= -1e-9 * window_s else 0
    starts = start_s + step * np.arange(max(count, 0), dtype=np.float64)
    data: dict[str, np.ndarray] = {"start_s": starts, "end_s": starts + window_s}
    if sensor_id is not None:
        data = {"sensor_id": np.full(starts.shape[0], sensor_id, dtype=object), **data}
    return pd.DataFrame(data)


def _unpaused_clock(pauses: np.ndarray) -> _Clock | None:
    """F(t) = time elapsed outside pauses since -inf (a monotone piecewise-linear map)."""
    if pauses.shape[0] == 0:
        return None
    order = np.argsort(pauses[:, 0])
    merged: list[list[float]] = []
    for a, b in pauses[order]:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([float(a), float(b)])
    m = np.array(merged)
    paused_before_end = np.cumsum(m[:, 1] - m[:, 0])
    paused_before_start = paused_before_end - (m[:, 1] - m[:, 0])
    xp = np.empty(2 * len(m))
    fp = np.empty(2 * len(m))
    xp[0::2], xp[1::2] = m[:, 0], m[:, 1]
    fp[0::2] = m[:, 0] - paused_before_start
    fp[1::2] = m[:, 1] - paused_before_end

    def clock(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        # left of the first pause F(x) = x; right of the last F(x) = x - total paused
        y = np.interp(x, xp, fp)
        y = np.where(x < xp[0], x, y)
        return np.where(x > xp[-1], x - paused_before_end[-1], y)

    return clock


def _overlap(ws: np.ndarray, we: np.ndarray, es: np.ndarray, ee: np.ndarray, clock: _Clock | None = None) -> np.ndarray:
    """(n_windows, n_rows) overlap durations, optionally in un-paused time."""
    lo = np.maximum(ws[:, None], es[None, :])
    hi = np.minimum(we[:, None], ee[None, :])
    if clock is not None:
        lo, hi = clock(lo), clock(hi)
    return np.clip(hi - lo, 0.0, None)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer code of each value, in order of first appearance, and the distinct values."""
    distinct: dict[object, int] = {}
    codes = np.array([distinct.setdefault(v, len(distinct)) for v in values.tolist()], dtype=np.int64)
    return codes, np.array(list(distinct), dtype=object)


def _majority(
    overlap: np.ndarray, codes: np.ndarray, n_codes: int, need: np.ndarray, *, with_row: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per window: the value (code) with the largest overlap summed over its rows and (with
    ``with_row``) that value's row with the largest overlap; -1 where the best does not reach ``need``."""
    n, m = overlap.shape
    none = np.full(n, -1, dtype=np.int64)
    if m == 0 or n == 0:
        return none, none
    if n_codes == m:  # every row its own value (codes count up in order of first appearance)
        per_value = overlap
    else:
        onehot = np.zeros((m, n_codes))
        onehot[np.arange(m), codes] = 1.0
        per_value = overlap @ onehot
    best = np.argmax(per_value, axis=1)
    got = per_value[np.arange(n), best]
    ok = (got > 0) & (got >= need - 1e-9)
    code = np.where(ok, best, -1)
    if not with_row:
        return code, none
    row = best if n_codes == m else np.argmax(np.where(codes[None, :] == best[:, None], overlap, -1.0), axis=1)
    return code, np.where(ok, row, -1)


def tag_windows(
    windows: pd.DataFrame, events: pd.DataFrame | None, *, min_coverage: float = 0.5, normalised: bool = False
) -> pd.DataFrame:
    """Copy of ``windows`` with ``exercise, repetition, support, posture`` (rules above).

    ``windows`` needs ``start_s`` and ``end_s``; ``events`` is an events table checked by
    :func:`~dmi_sensors.session.events.normalise_events` (None: no tags). Untagged values
    are ``""`` and repetition 0. The result's leading columns follow
    ``contract.WINDOW_COLUMNS`` (``sensor_id`` only if present). ``normalised=True``:
    ``events`` is a table :func:`~dmi_sensors.session.events.normalise_events` returned
    (unchanged since), used as it is instead of being checked again (the result is the same:
    normalising is idempotent, tested).
    """
    if not 0 < min_coverage <= 1:
        raise ParameterError(f"min_coverage must be in (0, 1], got {min_coverage}")
    for col in ("start_s", "end_s"):
        if col not in windows.columns:
            raise ParameterError(f"windows table: missing column {col!r}")
    out = windows.copy()
    ws = out["start_s"].to_numpy(dtype=np.float64)
    we = out["end_s"].to_numpy(dtype=np.float64)
    n = ws.shape[0]
    exercise = np.full(n, "", dtype=object)
    repetition = np.zeros(n, dtype=np.int64)
    support = np.full(n, "", dtype=object)
    posture = np.full(n, "", dtype=object)
    if events is not None and len(events) and n:
        ev = events if normalised else normalise_events(events)
        need = min_coverage * (we - ws)
        exercise, repetition, support, posture = _tags(ev, ws, we, need)
    out["exercise"] = exercise
    out["repetition"] = repetition
    out["support"] = support
    out["posture"] = posture
    lead = [c for c in contract.WINDOW_COLUMNS if c in out.columns]
    return out[lead + [c for c in out.columns if c not in lead]]


def _rows(ev: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    sel = ev[ev["kind"] == kind]
    s = sel["onset_s"].to_numpy(dtype=np.float64)
    return sel, s, s + sel["duration_s"].to_numpy(dtype=np.float64)


def _tags(
    ev: pd.DataFrame, ws: np.ndarray, we: np.ndarray, need: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    n = ws.shape[0]
    _, ps, pe = _rows(ev, "pause")
    keep = pe > ps
    clock = _unpaused_clock(np.column_stack([ps[keep], pe[keep]]))

    # exercise rows, plus the repetition rows of exercises that have no exercise row
    reps, rs, re_ = _rows(ev, "repetition")
    ex = ev[ev["kind"] == "exercise"]
    implied = reps[(reps["exercise"] != "") & ~reps["exercise"].isin(set(ex["exercise"]))]
    ex = pd.concat([ex, implied]).sort_values("onset_s", kind="stable") if len(implied) else ex
    es = ex["onset_s"].to_numpy(dtype=np.float64)
    ee = es + ex["duration_s"].to_numpy(dtype=np.float64)
    ex_codes, ex_ids = _codes(ex["exercise"].to_numpy(dtype=object))
    ex_id, ex_row = _majority(_overlap(ws, we, es, ee, clock), ex_codes, len(ex_ids), need, with_row=True)
    has_ex = ex_id >= 0
    exercise = np.full(n, "", dtype=object)
    support = np.full(n, "", dtype=object)
    expected = np.full(n, "", dtype=object)
    if has_ex.any():
        exercise[has_ex] = ex_ids[ex_id[has_ex]]
        support[has_ex] = ex["support"].to_numpy(dtype=object)[ex_row[has_ex]]
        expected[has_ex] = ex["posture"].to_numpy(dtype=object)[ex_row[has_ex]]

    repetition = np.zeros(n, dtype=np.int64)
    if len(reps):
        rep_ex = reps["exercise"].to_numpy(dtype=object)
        rep_auto = (reps["source"] == "auto").to_numpy()
        ov = _overlap(ws, we, rs, re_, clock)
        # only repetitions of the window's exercise; auto rows only where the exercise has no other rows
        same = rep_ex[None, :] == exercise[:, None]
        manual_exists = {e for e, a in zip(rep_ex, rep_auto, strict=True) if not a}
        allowed = same & ~(rep_auto[None, :] & np.isin(exercise, list(manual_exists))[:, None])
        ov = np.where(allowed & has_ex[:, None], ov, 0.0)
        nums = reps["repetition"].to_numpy(dtype=np.int64)
        codes, values = _codes(nums)
        r_code, _ = _majority(ov, codes, len(values), need)
        repetition = np.where(r_code >= 0, values[np.maximum(r_code, 0)], 0).astype(np.int64)

    post, qs, qe = _rows(ev, "posture")
    posture = expected.copy()
    if len(post):
        codes, labels = _codes(post["posture"].to_numpy(dtype=object))
        is_auto = (post["source"] == "auto").to_numpy()
        ov = _overlap(ws, we, qs, qe)
        chosen = np.full(n, "", dtype=object)
        for mask in (is_auto, ~is_auto):  # manual last, so it overrides
            code, _ = _majority(np.where(mask[None, :], ov, 0.0), codes, len(labels), need)
            chosen = np.where(code >= 0, labels[np.maximum(code, 0)], chosen)
        refine = (chosen == "upright") & np.isin(expected, _UPRIGHT_REFINED)
        chosen = np.where(refine, expected, chosen)
        posture = np.where(chosen != "", chosen, posture)
    return exercise, repetition, support, posture.astype(object)


@dataclass(frozen=True)
class EventSegments:
    """Event rows as sample ranges of one signal (:func:`segments_from_events`).

    ``starts``/``stops``: sample index ranges ``[start, stop)`` of the analysed rows;
    ``tags``: those rows (normalised events table) in the same order, whose
    ``exercise, repetition, support, posture`` are the segments' tags; ``skipped``: rows
    not analysed or analysed only in part, with a ``reason`` column (``after the end``,
    ``before the start``, ``clipped to the signal``, ``too short``).
    """

    starts: np.ndarray
    stops: np.ndarray
    tags: pd.DataFrame
    skipped: pd.DataFrame

    def warnings(self, signal_start_s: float, signal_end_s: float) -> list[str]:
        """One readable line per skipped or clipped row (for a CLI or a report)."""
        out = []
        signal = f"the signal ({signal_start_s:.3f}-{signal_end_s:.3f} s)"
        for row in self.skipped.to_dict("records"):
            what = f"{row['kind']} event"
            if row["exercise"]:
                what += f" {row['exercise']!r}"
            if row["repetition"]:
                what += f" repetition {row['repetition']}"
            onset, duration = float(row["onset_s"]), float(row["duration_s"])
            reason = str(row["reason"])
            if reason == "clipped to the signal":
                tail = f"analysed only inside {signal}"
            elif reason == "too short":
                tail = f"too short to analyse inside {signal}"
            else:
                tail = f"{reason} of {signal}: not analysed"
            out.append(f"{what} at {onset:.3f}-{onset + duration:.3f} s: {tail}")
        return out


def segments_from_events(
    events: pd.DataFrame | None,
    fs_hz: float,
    n_samples: int,
    t0_s: float = 0.0,
    *,
    min_samples: int = 3,
    normalised: bool = False,
) -> EventSegments:
    """Sample ranges and tags of the tagged segments of one uniform signal.

    One segment per events row with ``duration_s > 0`` (kinds :data:`NOT_SEGMENTS`
    excepted): ``[onset_s, onset_s + duration_s)`` on a signal whose sample 0 is at
    ``t0_s``, clipped to its ``n_samples`` (:func:`dmi_sensors.metrics.interval_samples`);
    rows with fewer than ``min_samples`` inside are not analysed. Rows outside the signal,
    clipped or too short are listed in ``skipped`` (never dropped silently). ``normalised``:
    as in :func:`tag_windows`.
    """
    import pandas as pd

    ev = empty_events() if events is None else events if normalised else normalise_events(events)
    ev = ev[(ev["duration_s"] > 0) & ~ev["kind"].isin(NOT_SEGMENTS)].reset_index(drop=True)
    onset = ev["onset_s"].to_numpy(dtype=np.float64)
    end = onset + ev["duration_s"].to_numpy(dtype=np.float64)
    a, b = interval_samples(onset, end, fs_hz, n_samples, t0_s)
    signal_end_s = t0_s + n_samples / fs_hz
    reason = np.full(len(ev), "", dtype=object)
    clipped = (onset < t0_s - 0.5 / fs_hz) | (end > signal_end_s + 0.5 / fs_hz)
    reason[clipped] = "clipped to the signal"
    reason[b - a < min_samples] = "too short"
    reason[onset >= signal_end_s] = "after the end"
    reason[end <= t0_s] = "before the start"
    ok = b - a >= min_samples
    skipped = ev.assign(reason=reason)[reason != ""].reset_index(drop=True)
    return EventSegments(a[ok], b[ok], ev[ok].reset_index(drop=True), pd.DataFrame(skipped))
