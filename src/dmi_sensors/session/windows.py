"""Analysis windows and their tags (exercise, repetition, support, posture).

:func:`make_windows` cuts a time range into fixed windows; :func:`tag_windows` gives every
window the tags of the events table by **overlap**:

* **Pauses** (``kind="pause"`` rows) are taken out of the time first: only un-paused time
  counts towards exercise and repetition overlap.
* **exercise / support**: the ``kind="exercise"`` row with the largest un-paused overlap,
  if that overlap is at least ``min_coverage`` (default 0.5) of the window length; else
  ``exercise = ""``, ``support = ""``. Support comes from that exercise row.
* **repetition**: among the ``kind="repetition"`` rows of that exercise, the one with the
  largest un-paused overlap if it reaches ``min_coverage`` of the window; else 0. Manual
  (or plan / import) repetition rows are preferred; ``source="auto"`` repetition rows are
  used only when the exercise has no others.
* **posture**: the ``kind="posture"`` label with the largest overlap (pauses do not
  matter: posture is physical) reaching ``min_coverage``; manual rows win over
  ``source="auto"`` ones. If no posture row qualifies, the exercise row's ``posture`` (the
  plan's expectation) is used. An ``upright`` label inside an exercise whose expected
  posture is ``sitting``, ``kneeling`` or ``standing`` takes that label (a trunk sensor
  cannot tell them apart, the plan can).

Ties go to the earliest row. With ``min_coverage = 0.5`` a window is tagged with what
covers at least half of it, so a window straddling a change is tagged with the majority side
(or left untagged when nothing has half of it).
"""

from __future__ import annotations

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.session.events import normalise_events

__all__ = ["make_windows", "tag_windows"]

_UPRIGHT_REFINED = ("sitting", "kneeling", "standing", "transition")


def make_windows(
    start_s: float, end_s: float, window_s: float, step_s: float | None = None, *, sensor_id: str | None = None
):  # -> pandas.DataFrame
    """Windows ``[start_s + k * step_s, start_s + k * step_s + window_s)`` inside ``[start_s, end_s]``.

    Only whole windows are made (the tail shorter than ``window_s`` is dropped). ``step_s``
    defaults to ``window_s`` (no overlap). Returns a table with ``start_s`` and ``end_s``
    (and ``sensor_id`` first when given).
    """
    import pandas as pd

    step_s = window_s if step_s is None else step_s
    for name, value in (("window_s", window_s), ("step_s", step_s)):
        if not (np.isfinite(value) and value > 0):
            raise ParameterError(f"{name} must be positive, got {value}")
    if not (np.isfinite(start_s) and np.isfinite(end_s)):
        raise ParameterError("start_s and end_s must be finite")
    span = end_s - start_s - window_s
    count = int(np.floor(span / step_s + 1e-9)) + 1 if span >= -1e-9 * window_s else 0
    starts = start_s + step_s * np.arange(max(count, 0), dtype=np.float64)
    data = {"start_s": starts, "end_s": starts + window_s}
    if sensor_id is not None:
        data = {"sensor_id": np.full(starts.shape[0], sensor_id, dtype=object), **data}
    return pd.DataFrame(data)


def _unpaused_clock(pauses: np.ndarray):
    """F(t) = time elapsed outside pauses since -inf (a monotone piecewise-linear map)."""
    if pauses.shape[0] == 0:
        return lambda x: x
    order = np.argsort(pauses[:, 0])
    merged: list[list[float]] = []
    for a, b in pauses[order]:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    m = np.array(merged)
    paused_before_end = np.cumsum(m[:, 1] - m[:, 0])
    paused_before_start = paused_before_end - (m[:, 1] - m[:, 0])
    xp = np.empty(2 * len(m))
    fp = np.empty(2 * len(m))
    xp[0::2], xp[1::2] = m[:, 0], m[:, 1]
    fp[0::2] = m[:, 0] - paused_before_start
    fp[1::2] = m[:, 1] - paused_before_end

    def f(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        # left of the first pause F(x) = x; right of the last F(x) = x - total paused
        y = np.interp(x, xp, fp)
        y = np.where(x < xp[0], x, y)
        return np.where(x > xp[-1], x - paused_before_end[-1], y)

    return f


def _overlap(ws: np.ndarray, we: np.ndarray, es: np.ndarray, ee: np.ndarray, clock=None) -> np.ndarray:
    """(n_windows, n_events) overlap durations, optionally in un-paused time."""
    lo = np.maximum(ws[:, None], es[None, :])
    hi = np.minimum(we[:, None], ee[None, :])
    if clock is not None:
        lo, hi = clock(lo), clock(hi)
    return np.clip(hi - lo, 0.0, None)


def _pick(overlap: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Index of the best column per row, -1 where the best does not reach ``need``."""
    if overlap.shape[1] == 0:
        return np.full(overlap.shape[0], -1)
    best = np.argmax(overlap, axis=1)
    ok = overlap[np.arange(overlap.shape[0]), best] >= need - 1e-9
    return np.where(ok, best, -1)


def tag_windows(windows, events, *, min_coverage: float = 0.5):  # -> pandas.DataFrame
    """Copy of ``windows`` with ``exercise, repetition, support, posture`` (rules above).

    ``windows`` needs ``start_s`` and ``end_s``; ``events`` is an events table (required
    columns of ``contract.EVENT_COLUMNS``; ``kind`` inferred when absent). The result's
    leading columns follow ``contract.WINDOW_COLUMNS`` (``sensor_id`` only if present).
    """
    if not 0 < min_coverage <= 1:
        raise ParameterError(f"min_coverage must be in (0, 1], got {min_coverage}")
    for col in ("start_s", "end_s"):
        if col not in windows.columns:
            raise ParameterError(f"windows table: missing column {col!r}")
    ev = normalise_events(events)
    out = windows.copy()
    ws = out["start_s"].to_numpy(dtype=np.float64)
    we = out["end_s"].to_numpy(dtype=np.float64)
    need = min_coverage * (we - ws)
    n = ws.shape[0]

    def rows(kind: str):
        sel = ev[ev["kind"] == kind]
        s = sel["onset_s"].to_numpy()
        return sel, s, s + sel["duration_s"].to_numpy()

    _, ps, pe = rows("pause")
    keep = pe > ps
    clock = _unpaused_clock(np.column_stack([ps[keep], pe[keep]]))

    ex, es, ee = rows("exercise")
    ex_idx = _pick(_overlap(ws, we, es, ee, clock), need)
    has_ex = ex_idx >= 0
    ex_ids = ex["exercise"].to_numpy(dtype=object)
    exercise = np.where(has_ex, ex_ids[np.maximum(ex_idx, 0)] if len(ex) else "", "").astype(object)
    support = np.where(has_ex, ex["support"].to_numpy(dtype=object)[np.maximum(ex_idx, 0)] if len(ex) else "", "")
    expected = np.where(has_ex, ex["posture"].to_numpy(dtype=object)[np.maximum(ex_idx, 0)] if len(ex) else "", "")

    reps, rs, re_ = rows("repetition")
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
        r_idx = _pick(ov, need)
        nums = reps["repetition"].to_numpy(dtype=np.int64)
        repetition = np.where(r_idx >= 0, nums[np.maximum(r_idx, 0)], 0)

    post, qs, qe = rows("posture")
    posture = expected.astype(object).copy()
    if len(post):
        labels = post["posture"].to_numpy(dtype=object)
        is_auto = (post["source"] == "auto").to_numpy()
        ov = _overlap(ws, we, qs, qe)
        chosen = np.full(n, "", dtype=object)
        for mask in (is_auto, ~is_auto):  # manual last, so it overrides
            idx = _pick(np.where(mask[None, :], ov, 0.0), need)
            chosen = np.where(idx >= 0, labels[np.maximum(idx, 0)], chosen)
        refine = (chosen == "upright") & np.isin(expected, _UPRIGHT_REFINED)
        chosen = np.where(refine, expected, chosen)
        posture = np.where(chosen != "", chosen, posture)

    out["exercise"] = exercise
    out["repetition"] = repetition
    out["support"] = support.astype(object)
    out["posture"] = posture.astype(object)
    lead = [c for c in contract.WINDOW_COLUMNS if c in out.columns]
    return out[lead + [c for c in out.columns if c not in lead]]
