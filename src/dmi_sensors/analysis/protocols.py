"""Scores of the standard protocols (:mod:`dmi_sensors.session.protocols`) from a session's
repetition table.

One tidy table, one row per score (:data:`SCORE_COLUMNS`): ``protocol``, ``score`` (what),
``condition``, ``metric`` (the registry metric it is built from, or empty), ``value``
(number), ``value_text`` (a level name for SATCo), ``unit``, ``repetitions`` (how many
trials it rests on), ``note``. Stored with the session analysis (``protocol_scores``) and
exported with the other result tables.

* **ISway**: each ISway measure (:data:`ISWAY_SCORES`) of the stance, mean over the trials.
* **mCTSIB**: per condition the hold time (mean of the attempts' durations, each at most
  ``max_hold_s`` = 30 s) and the mean of each of :data:`CTSIB_METRICS`; the **Romberg
  ratio** = metric(eyes closed) / metric(eyes open) on firm and on foam (a quotient, not ×100),
  and the **surface ratio** = metric(foam, eyes open) / metric(firm, eyes open) (science
  notes §6.1). Ratios of amplitude measures are dimensionless.
* **SATCo-style**: per level the trunk tilt RMS (largest of AP and ML, mean over the trials)
  and the hold time; control *holds* at a level when that RMS is at most ``tilt_rms_max_deg``
  over a hold of at least ``min_hold_s``. ``satco_level_controlled`` is the lowest level,
  from the top down, down to which control holds at every level tested (``none`` when it
  fails at the first); ``satco_level_learning`` the first level where it does not (SATCo's
  "level at which control is being learnt"). The criterion is an engineering choice
  (parameters recorded), not Butler et al.'s observed alignment.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.registry import spec
from dmi_sensors.session.protocols import PROTOCOLS, SATCO_LEVELS, Protocol

__all__ = [
    "CTSIB_METRICS",
    "ISWAY_SCORES",
    "SCORE_COLUMNS",
    "ProtocolScoreParams",
    "score_protocol",
    "score_session",
]

ISWAY_SCORES = ("acc_rms_ap_mps2", "acc_rms_ml_mps2", "jerk_isway_m2_s5", "f50_ap_hz", "f95_ap_hz")
CTSIB_METRICS = ("com_ellipse_area_mm2", "com_mean_velocity_mm_s", "com_rms_ap_mm", "acc_rms_ap_mps2")
SCORE_COLUMNS = ("protocol", "score", "condition", "metric", "value", "value_text", "unit", "repetitions", "note")


@dataclass(frozen=True)
class ProtocolScoreParams:
    """``max_hold_s``: the mCTSIB trial length (30 s); ``tilt_rms_max_deg``,
    ``min_hold_s``: the SATCo-style control criterion (module docs)."""

    max_hold_s: float = 30.0
    tilt_rms_max_deg: float = 1.5
    min_hold_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_hold_s", "tilt_rms_max_deg", "min_hold_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise ParameterError(f"ProtocolScoreParams.{name} must be a positive number, got {v!r}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _mean(values) -> float | None:
    v = [float(x) for x in values if x is not None and np.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _row(protocol: str, score: str, condition: str, metric: str, value, unit: str, n: int, note: str = "", text=""):
    return {
        "protocol": protocol,
        "score": score,
        "condition": condition,
        "metric": metric,
        "value": None if value is None or not math.isfinite(float(value)) else float(value),
        "value_text": text,
        "unit": unit,
        "repetitions": int(n),
        "note": note,
    }


def _reps(repetitions, exercise_id: str):
    return repetitions[repetitions[contract.EXERCISE] == exercise_id]


def _isway(p: Protocol, reps) -> list[dict[str, Any]]:
    rows = []
    for ex_id in p.conditions:
        r = _reps(reps, ex_id)
        for m in ISWAY_SCORES:
            if m in r:
                rows.append(_row(p.protocol_id, m, ex_id, m, _mean(r[m]), spec(m).unit, len(r)))
    return rows


def _mctsib(p: Protocol, reps, params: ProtocolScoreParams) -> list[dict[str, Any]]:
    rows = []
    value: dict[tuple[str, str], dict[str, float | None]] = {}
    for ex_id, cond in p.conditions.items():
        r = _reps(reps, ex_id)
        key = (cond["surface"], cond["vision"])
        label = f"{cond['surface']}, {cond['vision'].replace('_', ' ')}"
        hold = _mean(np.minimum(r[contract.DURATION_S].to_numpy(float), params.max_hold_s)) if len(r) else None
        rows.append(
            _row(
                p.protocol_id,
                "hold_s",
                label,
                "",
                hold,
                "s",
                len(r),
                f"mean of the attempts, each at most {params.max_hold_s:g} s",
            )
        )
        value[key] = {}
        for m in CTSIB_METRICS:
            v = _mean(r[m]) if m in r and len(r) else None
            value[key][m] = v
            rows.append(_row(p.protocol_id, m, label, m, v, spec(m).unit, len(r)))
    for m in CTSIB_METRICS:
        for surface in ("firm", "foam"):
            eo, ec = value.get((surface, "eyes_open"), {}).get(m), value.get((surface, "eyes_closed"), {}).get(m)
            ratio = ec / eo if eo and ec is not None and eo > 0 else None
            rows.append(
                _row(
                    p.protocol_id,
                    f"romberg_ratio_{surface}",
                    f"{surface}: eyes closed / eyes open",
                    m,
                    ratio,
                    "1",
                    0,
                    "quotient (not ×100)",
                )
            )
        firm, foam = value.get(("firm", "eyes_open"), {}).get(m), value.get(("foam", "eyes_open"), {}).get(m)
        ratio = foam / firm if firm and foam is not None and firm > 0 else None
        rows.append(_row(p.protocol_id, "surface_ratio", "eyes open: foam / firm", m, ratio, "1", 0))
    return rows


def _satco(p: Protocol, reps, params: ProtocolScoreParams) -> list[dict[str, Any]]:
    rows = []
    controlled: str | None = "none"
    learning: str | None = None
    tested = 0
    for level in SATCO_LEVELS:
        ex_id = f"satco_{level}"
        r = _reps(reps, ex_id)
        if not len(r):
            continue
        tested += 1
        tilt = [
            max(a, b)
            for a, b in zip(r["tilt_rms_ap_deg"], r["tilt_rms_ml_deg"], strict=True)
            if a is not None and b is not None and np.isfinite(a) and np.isfinite(b)
        ]
        rms = float(np.mean(tilt)) if tilt else None
        hold = _mean(r[contract.DURATION_S])
        ok = rms is not None and hold is not None and rms <= params.tilt_rms_max_deg and hold >= params.min_hold_s
        rows.append(
            _row(
                p.protocol_id,
                "tilt_rms_deg",
                level,
                "tilt_rms_ap_deg|tilt_rms_ml_deg",
                rms,
                "deg",
                len(r),
                "larger of AP and ML",
            )
        )
        rows.append(_row(p.protocol_id, "hold_s", level, "", hold, "s", len(r)))
        rule = f"holds: tilt RMS <= {params.tilt_rms_max_deg:g} deg over >= {params.min_hold_s:g} s"
        rows.append(_row(p.protocol_id, "control", level, "", 1.0 if ok else 0.0, "1", len(r), rule))
        if learning is None:
            if ok:
                controlled = level
            else:
                learning = level
    note = f"{tested} of {len(SATCO_LEVELS)} levels tested; sensor criterion, not the therapist's SATCo score"
    rows.append(
        _row(p.protocol_id, "satco_level_controlled", "", "", None, "", tested, note, controlled if tested else "")
    )
    rows.append(_row(p.protocol_id, "satco_level_learning", "", "", None, "", tested, note, learning or ""))
    return rows


def score_protocol(p: Protocol, repetitions, params: ProtocolScoreParams | None = None):
    """The scores of protocol ``p`` from a repetition table (one sensor's rows), a DataFrame
    with :data:`SCORE_COLUMNS`."""
    import pandas as pd

    params = params or ProtocolScoreParams()
    if repetitions is None or len(repetitions) == 0:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    if p.protocol_id == "isway":
        rows = _isway(p, repetitions)
    elif p.protocol_id == "mctsib":
        rows = _mctsib(p, repetitions, params)
    elif p.protocol_id == "satco":
        rows = _satco(p, repetitions, params)
    else:  # pragma: no cover - PROTOCOLS is closed
        raise ParameterError(f"no scoring for protocol {p.protocol_id!r}")
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def score_session(repetitions, params: ProtocolScoreParams | None = None):
    """Scores of every protocol whose exercises the repetition table contains (empty when it
    is a DMI session)."""
    import pandas as pd

    if repetitions is None or len(repetitions) == 0:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    ids = set(repetitions[contract.EXERCISE])
    frames = [score_protocol(p, repetitions, params) for p in PROTOCOLS.values() if ids & set(p.conditions)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(SCORE_COLUMNS))
