"""Is this change real? Repeatability (ICC, SEM) and the minimal detectable change (MDC).

Array in, numbers out; the progress report and ``dmi-sensors progress --json`` build their
change table from :func:`change_table`.

ANOVA (n targets × k measurements, Shrout & Fleiss 1979, Psychol Bull 86(2):420-428;
McGraw & Wong 1996, Psychol Methods 1(1):30-46)::

    MS_R = k Σ_i (x̄_i. - x̄)² / (n - 1)           between targets (rows)
    MS_C = n Σ_j (x̄_.j - x̄)² / (k - 1)           between measurements (columns)
    MS_E = (SS_T - SS_R - SS_C) / ((n-1)(k-1))    residual
    MS_W = (SS_T - SS_R) / (n (k - 1))            within targets (one-way)

ICC forms (:func:`icc`; Koo & Li 2016, J Chiropr Med 15(2):155-163 for reporting)::

    ICC(1,1) = (MS_R - MS_W) / (MS_R + (k-1) MS_W)
    ICC(2,1) = (MS_R - MS_E) / (MS_R + (k-1) MS_E + k (MS_C - MS_E) / n)     absolute agreement
    ICC(3,1) = (MS_R - MS_E) / (MS_R + (k-1) MS_E)                           consistency
    ICC(1,k) = (MS_R - MS_W) / MS_R;  ICC(2,k) = (MS_R - MS_E) / (MS_R + (MS_C - MS_E)/n);
    ICC(3,k) = (MS_R - MS_E) / MS_R

Check values (Shrout & Fleiss Table 2, 6 targets × 4 judges): ICC(1,1) 0.1657, ICC(2,1)
0.2898, ICC(3,1) 0.7148, ICC(1,k) 0.4428, ICC(2,k) 0.6201, ICC(3,k) 0.9093 (the tests).

SEM and MDC (Weir 2005, J Strength Cond Res 19(1):231-240): the standard error of
measurement is the within-subject SD, ``SEM = sqrt(MS_W)`` (one-way; ``sqrt(MS_E)`` two-way),
independent of how different the subjects are; the minimal detectable change at 95 %
confidence is ``MDC95 = 1.96 · sqrt(2) · SEM``.

**Per child, per exercise × support level × metric** (:func:`change_table`): the repetitions
of each session are the repeated measurements. ``SEM`` is the pooled within-session SD of
the repetitions over all of the child's sessions of that exercise and support (one-way
ANOVA with sessions as targets: ``SEM = sqrt(MS_W)``, ``df = Σ (n_s - 1)``), and the
one-way ``ICC(1,1)`` of those sessions says how much of the variation lies between
sessions (unequal repetition counts: ``k0 = (N - Σ n_s² / N) / (S - 1)``, Shrout-Fleiss
case 1 generalised). A session's value is the **mean of its repetitions** (at least
:data:`MIN_REPETITIONS`; for sway amplitudes the mean of their logarithms, see
:func:`change_table`), and a change between two sessions is **beyond measurement noise**
when its size exceeds the single-repetition ``MDC95`` -- deliberately the MDC of one
repetition, not the smaller MDC of a mean (``MDC95 / sqrt(n)``):

* with ``MDC95`` known, a difference of two single measurements is flagged in 5 % of the
  cases without any change and in 9 % when the true change is 0.3 × MDC (science notes
  §5.5): too often for "0.3 × MDC is not detected in ≥ 95 % of cases";
* means of ``n ≥ 2`` repetitions against the single-repetition MDC: 0.56 % (n = 2) / 0.07 %
  (n = 3) without change, 2.6 % / 0.87 % at 0.3 × MDC, and still ≈ 100 % at 3 × MDC; the
  SEM estimated from a few repetitions (not known) raises these a little, which the test
  with simulated sessions measures (``tests/test_reliability.py``).

So the verdict is conservative: a change it calls real is larger than what one repetition
would vary by, and averaging the repetitions keeps chance findings rare. Sessions with
fewer repetitions than :data:`MIN_REPETITIONS` get no verdict ("too few repetitions").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = [
    "BEYOND",
    "ICC_FORMS",
    "MDC_FACTOR",
    "MIN_REPETITIONS",
    "WITHIN",
    "Anova",
    "Repeatability",
    "anova",
    "change_table",
    "icc",
    "mdc95",
    "one_way_repeatability",
]

#: 1.96 · sqrt(2): MDC95 = MDC_FACTOR · SEM.
MDC_FACTOR = 1.959963984540054 * math.sqrt(2.0)
#: Fewest repetitions a session needs for its value to enter a verdict.
MIN_REPETITIONS = 2
ICC_FORMS = ("1,1", "2,1", "3,1", "1,k", "2,k", "3,k")
BEYOND = "beyond measurement noise"
WITHIN = "within measurement noise"


@dataclass(frozen=True)
class Anova:
    """Mean squares of an n × k table (module docs) and its size."""

    n: int
    k: int
    ms_r: float
    ms_c: float
    ms_e: float
    ms_w: float


def anova(table: np.ndarray | Sequence[Sequence[float]]) -> Anova:
    """Two-way (and one-way) ANOVA mean squares of a complete ``(n targets, k measurements)`` table."""
    x = np.asarray(table, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2 or not np.all(np.isfinite(x)):
        raise ParameterError(f"anova needs a complete finite table of at least 2 × 2, got shape {x.shape}")
    n, k = x.shape
    grand = x.mean()
    ss_t = float(((x - grand) ** 2).sum())
    ss_r = float(k * ((x.mean(axis=1) - grand) ** 2).sum())
    ss_c = float(n * ((x.mean(axis=0) - grand) ** 2).sum())
    ss_e = ss_t - ss_r - ss_c
    return Anova(n, k, ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1)), (ss_t - ss_r) / (n * (k - 1)))


def icc(table: np.ndarray | Sequence[Sequence[float]], form: str = "3,1") -> float:
    """The intraclass correlation ``ICC(form)`` of a complete table (module docs; Shrout & Fleiss 1979)."""
    a = anova(table)
    n, k = a.n, a.k
    if form == "1,1":
        return (a.ms_r - a.ms_w) / (a.ms_r + (k - 1) * a.ms_w)
    if form == "2,1":
        return (a.ms_r - a.ms_e) / (a.ms_r + (k - 1) * a.ms_e + k * (a.ms_c - a.ms_e) / n)
    if form == "3,1":
        return (a.ms_r - a.ms_e) / (a.ms_r + (k - 1) * a.ms_e)
    if form == "1,k":
        return (a.ms_r - a.ms_w) / a.ms_r
    if form == "2,k":
        return (a.ms_r - a.ms_e) / (a.ms_r + (a.ms_c - a.ms_e) / n)
    if form == "3,k":
        return (a.ms_r - a.ms_e) / a.ms_r
    raise ParameterError(f"ICC form must be one of {', '.join(ICC_FORMS)}, got {form!r}")


def mdc95(sem: float) -> float:
    """``MDC95 = 1.96 · sqrt(2) · SEM`` (Weir 2005)."""
    return MDC_FACTOR * float(sem)


@dataclass(frozen=True)
class Repeatability:
    """One-way repeatability of groups of repeated measurements (sessions × repetitions).

    ``sem``: sqrt(MS_W), the pooled within-group SD; ``df``: its degrees of freedom;
    ``icc_1_1``: one-way ICC(1,1) with ``k0`` for unequal group sizes (None with one group or
    no between-group information); ``mdc95``: 1.96·√2·SEM; ``groups``, ``n``: how many.
    """

    sem: float
    df: int
    icc_1_1: float | None
    mdc95: float
    groups: int
    n: int


def one_way_repeatability(groups: Iterable[Sequence[float]]) -> Repeatability | None:
    """:class:`Repeatability` of the groups with at least :data:`MIN_REPETITIONS` finite values
    (None when no group has; a group's non-finite values are left out)."""
    clean = [g for g in (np.asarray([v for v in grp if v is not None], float) for grp in groups)]
    clean = [g[np.isfinite(g)] for g in clean]
    clean = [g for g in clean if g.size >= MIN_REPETITIONS]
    if not clean:
        return None
    sizes = np.array([g.size for g in clean])
    n_total = int(sizes.sum())
    df_w = int(n_total - len(clean))
    ss_w = float(sum(((g - g.mean()) ** 2).sum() for g in clean))
    ms_w = ss_w / df_w
    icc11: float | None = None
    if len(clean) >= 2:
        grand = np.concatenate(clean).mean()
        ss_b = float(sum(g.size * (g.mean() - grand) ** 2 for g in clean))
        ms_b = ss_b / (len(clean) - 1)
        k0 = (n_total - float((sizes**2).sum()) / n_total) / (len(clean) - 1)
        denom = ms_b + (k0 - 1.0) * ms_w
        icc11 = float((ms_b - ms_w) / denom) if denom > 0 else None
    sem = math.sqrt(ms_w)
    return Repeatability(sem, df_w, icc11, mdc95(sem), len(clean), n_total)


def change_table(
    repetitions,
    metrics: Sequence[str],
    *,
    keys: Sequence[str] = ("exercise", "support"),
    log_metrics: Sequence[str] | None = None,
):
    """One row per (``keys``, metric, consecutive pair of sessions) -- and first -> last when a
    series has more than two sessions -- with the change of the session values, the MDC95 and
    the verdict (module docs).

    ``repetitions``: a tidy DataFrame with ``session_id``, optionally ``session_date`` /
    ``session_date_text``, the ``keys`` columns and one column per metric, one row per
    repetition. ``log_metrics``: the metrics analysed on the log scale (default: every metric
    whose values are all positive): sway amplitudes vary in proportion to their size (a child
    who sways twice as much varies twice as much from repetition to repetition), so their SEM
    and MDC are computed on ``ln(value)`` and read as a ratio (Atkinson & Nevill 1998, Sports
    Med 26(4):217-238); the session value is then the geometric mean of its repetitions.

    Columns: ``keys``, ``metric``, ``scale`` (``log`` / ``linear``), ``from_session``,
    ``to_session``, ``from_date``, ``to_date``, ``n_from``, ``n_to`` (repetitions),
    ``value_from``, ``value_to`` (session values, metric units), ``change`` (``value_to -
    value_from``), ``change_pct``, ``sem`` (in the scale's units: ln units for ``log``),
    ``sem_df``, ``icc_1_1``, ``mdc95`` (in metric units; for ``log`` at ``value_from``:
    ``value_from·(exp(MDC95_ln) - 1)``), ``mdc95_pct`` (for ``log``: ``100·(exp(MDC95_ln) -
    1)``), ``change_over_mdc`` (the change in MDCs, on the scale), ``verdict`` (``beyond
    measurement noise`` / ``within measurement noise`` / ``too few repetitions``), ``beyond``.
    """
    import pandas as pd

    out_cols = [
        *keys,
        "metric",
        "scale",
        "from_session",
        "to_session",
        "from_date",
        "to_date",
        "n_from",
        "n_to",
        "value_from",
        "value_to",
        "change",
        "change_pct",
        "sem",
        "sem_df",
        "icc_1_1",
        "mdc95",
        "mdc95_pct",
        "change_over_mdc",
        "verdict",
        "beyond",
    ]
    if repetitions is None or len(repetitions) == 0:
        return pd.DataFrame(columns=out_cols)
    reps = repetitions
    rows = []
    order = ["session_date", "session_id"] if "session_date" in reps.columns else ["session_id"]
    for key, g in reps.groupby(list(keys), sort=True, dropna=False):
        key_t = key if isinstance(key, tuple) else (key,)
        sessions = g.sort_values(order, kind="stable")["session_id"].drop_duplicates().tolist()
        if len(sessions) < 2:
            continue
        dates = {}
        if "session_date_text" in g.columns:
            dates = dict(zip(g["session_id"], g["session_date_text"], strict=False))
        for metric in metrics:
            if metric not in g.columns:
                continue
            raw = {
                sid: pd.to_numeric(g.loc[g["session_id"] == sid, metric], errors="coerce").dropna().to_numpy(float)
                for sid in sessions
            }
            raw = {sid: v[np.isfinite(v)] for sid, v in raw.items()}
            every = np.concatenate(list(raw.values())) if raw else np.empty(0)
            log = (metric in log_metrics) if log_metrics is not None else bool(every.size and np.all(every > 0))
            log = log and bool(every.size) and bool(np.all(every > 0))
            values = {sid: (np.log(v) if log else v) for sid, v in raw.items()}
            rep = one_way_repeatability(values.values())
            pairs = list(itertools.pairwise(sessions))
            if len(sessions) > 2:
                pairs.append((sessions[0], sessions[-1]))
            for a, b in pairs:
                va, vb = values[a], values[b]
                row: dict = dict(zip(keys, key_t, strict=True))
                row.update(
                    metric=metric,
                    scale="log" if log else "linear",
                    from_session=int(a),
                    to_session=int(b),
                    from_date=str(dates.get(a, "")),
                    to_date=str(dates.get(b, "")),
                    n_from=int(va.size),
                    n_to=int(vb.size),
                )
                mean_a = float(va.mean()) if va.size else None
                mean_b = float(vb.mean()) if vb.size else None
                value_a = None if mean_a is None else (math.exp(mean_a) if log else mean_a)
                value_b = None if mean_b is None else (math.exp(mean_b) if log else mean_b)
                change = value_b - value_a if value_a is not None and value_b is not None else None
                mdc = rep.mdc95 if rep else None
                row.update(
                    value_from=value_a,
                    value_to=value_b,
                    change=change,
                    change_pct=100.0 * change / value_a if change is not None and value_a else None,
                    sem=rep.sem if rep else None,
                    sem_df=rep.df if rep else None,
                    icc_1_1=rep.icc_1_1 if rep else None,
                    mdc95=(value_a * math.expm1(mdc) if log and value_a is not None else mdc)
                    if mdc is not None
                    else None,
                    mdc95_pct=100.0 * math.expm1(mdc) if log and mdc is not None else None,
                )
                enough = va.size >= MIN_REPETITIONS and vb.size >= MIN_REPETITIONS
                if enough and mean_a is not None and mean_b is not None and mdc:
                    diff = mean_b - mean_a  # ln(ratio) on the log scale
                    beyond = abs(diff) > mdc
                    row.update(change_over_mdc=diff / mdc, verdict=BEYOND if beyond else WITHIN, beyond=beyond)
                else:
                    row.update(change_over_mdc=None, verdict="too few repetitions", beyond=None)
                rows.append(row)
    return pd.DataFrame(rows, columns=out_cols)
