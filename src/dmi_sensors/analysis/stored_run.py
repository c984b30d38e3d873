"""Reading a stored analysis back, and recomputing the signals behind it for figures.

:func:`latest_run` gathers the records of the most recent analysis run of a session (all
records share a ``run_id``). The figures of a report need the COM traces the metrics were
computed from; they are not stored (they are derived data), so :func:`sway_pieces`
recomputes them from what the store holds (raw packets, or an imported session's samples)
with the run's stored parameters — the same code path, hence the same numbers (tests check
the ellipse areas against the stored ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dmi_sensors.analysis.calibrations import load_calibration
from dmi_sensors.analysis.session import RESULT_NAMES, pelvis_piece
from dmi_sensors.analysis.signals import CalibrationInput, SensorSignals, stored_sensor_signals
from dmi_sensors.analysis.trial import (
    SwaySignals,
    TrialAnalysisParams,
    signals_and_replica,
    signals_with_gate,
    sway_signals,
)
from dmi_sensors.metrics import interval_samples
from dmi_sensors.metrics.spectral import SpectralParams
from dmi_sensors.metrics.structure import SampEnParams
from dmi_sensors.metrics.tts import TtsParams
from dmi_sensors.store import ResultRecord, SessionStore

__all__ = [
    "StoredRun",
    "concat_pieces",
    "gate_levels",
    "hold_slices",
    "latest_run",
    "load_sensor_signals",
    "metric_params_from_dict",
    "pelvis_signals",
    "sway_pieces",
]


@dataclass
class StoredRun:
    """One analysis run of a session as stored: its parameters and tables (pandas)."""

    session_id: int
    run_id: str
    parameters: dict[str, Any]
    package_version: str
    created_utc: str
    sensors: dict[str, ResultRecord]  # sensor_id -> its record
    exercises: pd.DataFrame
    repetitions: pd.DataFrame
    postures: pd.DataFrame
    protocol_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    record_ids: dict[str, int] = field(default_factory=dict)

    @property
    def primary_sensor_id(self) -> str | None:
        primary = self.parameters.get("primary_sensor_id")
        return None if primary is None else str(primary)


def latest_run(store: SessionStore, session_id: int, *, sensor_windows: bool = True) -> StoredRun | None:
    """The most recent complete analysis run of a session (None when never analysed).

    ``sensor_windows=False``: the sensors' per-window tables are not read (``sensors[id].windows``
    is None; the summaries and the exercise, repetition, posture and protocol tables are read
    as always): what a report or a progress table needs, without parsing the bulk of the run."""
    skip = () if sensor_windows else (RESULT_NAMES["sensor"],)
    records = store.results(session_id, skip_windows=skip)
    runs: dict[str, list[ResultRecord]] = {}
    for r in records:
        run_id = r.parameters.get("run_id") if isinstance(r.parameters, dict) else None
        if run_id and r.name in RESULT_NAMES.values():
            runs.setdefault(run_id, []).append(r)
    if not runs:
        return None
    run_id = max(runs, key=lambda k: max(r.result_id for r in runs[k]))
    recs = runs[run_id]
    by_name = {r.name: r for r in recs if r.sensor_id is None}
    sensors = {r.sensor_id: r for r in recs if r.name == RESULT_NAMES["sensor"] and r.sensor_id is not None}

    def table(key: str) -> pd.DataFrame:
        r = by_name.get(RESULT_NAMES[key])
        return r.windows if r is not None and r.windows is not None else pd.DataFrame()

    first = recs[0]
    return StoredRun(
        session_id=int(session_id),
        run_id=run_id,
        parameters=first.parameters,
        package_version=first.package_version,
        created_utc=first.created_utc,
        sensors=sensors,
        exercises=table("exercises"),
        repetitions=table("repetitions"),
        postures=table("postures"),
        protocol_scores=table("protocol_scores"),
        record_ids={r.name + (f":{r.sensor_id}" if r.sensor_id else ""): r.result_id for r in recs},
    )


def metric_params_from_dict(d: Mapping[str, Any]) -> TrialAnalysisParams:
    """:class:`~dmi_sensors.analysis.trial.TrialAnalysisParams` from its ``to_dict()`` form."""
    kw = dict(d)
    if isinstance(kw.get("spectral"), dict):
        spectral = dict(kw["spectral"])
        for k, v in spectral.items():
            if isinstance(v, list):
                spectral[k] = tuple(v)
        kw["spectral"] = SpectralParams(**spectral)
    if isinstance(kw.get("tts"), dict):
        kw["tts"] = TtsParams(**kw["tts"])
    if isinstance(kw.get("sampen"), dict):
        kw["sampen"] = SampEnParams(**kw["sampen"])
    return TrialAnalysisParams(**kw)


def load_sensor_signals(
    store: SessionStore,
    session_id: int,
    sensor_id: str,
    session_params: Mapping[str, Any],
    calibration: CalibrationInput | None = None,
) -> SensorSignals:
    """Prepare one stored sensor again with a run's session parameters (the stored
    calibration unless ``calibration`` is given), from whatever the store holds (raw
    packets or imported samples: :func:`~dmi_sensors.analysis.signals.stored_sensor_signals`)."""
    cal = calibration or load_calibration(store, session_id, sensor_id)
    return stored_sensor_signals(
        store,
        session_id,
        sensor_id,
        calibration=cal,
        fs_hz=session_params.get("fs_hz"),
        min_piece_s=float(session_params.get("min_piece_s", 5.0)),
    )


def sway_pieces(
    signals: SensorSignals,
    metric_params: TrialAnalysisParams,
    events=None,
    pelvis: SensorSignals | None = None,
    gate_levels: Sequence[float | None] | None = None,
) -> list[SwaySignals]:
    """:func:`dmi_sensors.analysis.trial.sway_signals` of every gap-free piece, in order.

    ``events``: the session's events table, whose exercise rows give each interval's posture
    and support (the COM lever), as in the analysis. ``pelvis``: the pelvis sensor the run's
    two-segment COM used (:func:`pelvis_signals`); a piece it covers gets the two-segment COM,
    as in the analysis. ``gate_levels``: the run's two-segment gate level of each piece
    (:func:`gate_levels`); without them (a run stored before they were) each such piece's
    noise replica is computed again for its level."""
    levels = list(gate_levels) if gate_levels is not None and len(gate_levels) == len(signals.pieces) else None
    out = []
    for k, piece in enumerate(signals.pieces):
        trial = signals.trial(piece)
        p = pelvis_piece(pelvis, float(trial.time_s[0]), float(trial.time_s[-1]))
        if p is None:
            out.append(sway_signals(trial, metric_params, events))
        elif levels is None:
            out.append(signals_and_replica(trial, metric_params, events, p)[0])
        else:
            out.append(signals_with_gate(trial, metric_params, events, p, levels[k]))
    return out


def gate_levels(run: StoredRun, sensor_id: str) -> list[float | None] | None:
    """The two-segment gate level of each of ``sensor_id``'s pieces as the run stored them
    (summary ``com_gate_noise_ms_m2``), or None when the run did not store them."""
    record = run.sensors.get(sensor_id)
    levels = record.summary.get("com_gate_noise_ms_m2") if record is not None else None
    if not isinstance(levels, list):
        return None
    return [None if v is None else float(v) for v in levels]


def pelvis_signals(store: SessionStore, run: StoredRun, sensor_id: str) -> SensorSignals | None:
    """The pelvis sensor whose translation the run's two-segment COM of ``sensor_id`` used
    (summary ``com_pelvis_sensor_id``), prepared again with the run's session parameters; None
    when that sensor's COM was the trunk-only pendulum."""
    record = run.sensors.get(sensor_id)
    pelvis_id = record.summary.get("com_pelvis_sensor_id") if record is not None else None
    if not pelvis_id:
        return None
    return load_sensor_signals(store, run.session_id, str(pelvis_id), run.parameters.get("session", {}))


def hold_slices(pieces: list[SwaySignals], start_s: float, end_s: float) -> tuple[int, slice] | None:
    """``(piece index, sample slice)`` of an analysed interval ``[start_s, end_s)`` as the
    analysis cut it into segments (:func:`dmi_sensors.metrics.interval_samples`, at least 3 samples)."""
    for k, sig in enumerate(pieces):
        t = sig.time_s
        if t.size == 0 or end_s <= t[0] or start_s >= t[-1] + 1.0 / sig.fs_hz:
            continue
        a, b = interval_samples(np.array([start_s]), np.array([end_s]), sig.fs_hz, t.shape[0], float(t[0]))
        if b[0] - a[0] >= 3:
            return k, slice(int(a[0]), int(b[0]))
    return None


def concat_pieces(signals: SensorSignals, pieces: list[SwaySignals], name: str) -> np.ndarray:
    """A per-piece signal (attribute ``name`` of each SwaySignals) on the full session grid,
    NaN outside the analysed pieces (gaps)."""
    out = np.full(signals.time_s.shape[0], np.nan)
    for sl, sig in zip(signals.pieces, pieces, strict=True):
        out[sl] = getattr(sig, name)
    return out
