"""Session-level analysis: stored raw packets -> metrics per tagged exercise and repetition.

For every sensor of a session (:mod:`dmi_sensors.analysis.signals` gives the calibrated,
uniformly resampled, gap-split samples), each gap-free piece is analysed by
:func:`dmi_sensors.analysis.trial.analyse_trial` (orientation, body frame, COM excursion,
Prieto and ISway measures, sliding windows, one segment per tagged exercise and
repetition, time to stabilise). Then:

* **time to stabilise per repetition** — each repetition starts with a voluntary movement
  (reaching, leaning, rising); the TTS clock starts ``repetition_movement_s`` after the
  repetition's onset and runs until the next repetition (``analyse_trial``'s
  perturbation mechanism; tagged pushes, ``kind="perturbation"``, are analysed too).
* **posture** — detected automatically on the trunk sensor
  (:func:`dmi_sensors.session.detect_postures`) and compared with the plan's.
* **tables** — a per-repetition table and a per-exercise table (exercise-level segment
  metrics, number of repetitions analysed, median TTS over the repetitions).

:func:`analyse_session` saves everything with :meth:`SessionStore.save_results`, one record
per table, all sharing a ``run_id`` in their parameters (with the package version and
every analysis parameter), so a report can always show one consistent run.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from dmi_sensors import __version__, contract
from dmi_sensors.analysis.calibrations import load_calibration
from dmi_sensors.analysis.protocols import ProtocolScoreParams, score_session
from dmi_sensors.analysis.signals import CalibrationInput, SensorSignals, stored_sensor_signals
from dmi_sensors.analysis.trial import METRICS_ABSENT, TrialAnalysisParams, absent_note, analyse_trial
from dmi_sensors.errors import ParameterError, StateError
from dmi_sensors.metrics.registry import absent_reason, floor_name, has_noise_floor
from dmi_sensors.progress_bar import ProgressBar, silent_if_none
from dmi_sensors.session.events import empty_events, normalise_events
from dmi_sensors.session.posture import detect_postures
from dmi_sensors.session.windows import tag_windows
from dmi_sensors.store import SessionStore
from dmi_sensors.types import Trial

if TYPE_CHECKING:  # pandas is imported by the functions that build tables
    import pandas as pd

__all__ = [
    "EXERCISE_METRICS",
    "RESULT_NAMES",
    "SessionAnalysis",
    "SessionAnalysisParams",
    "analyse_session",
    "analyse_signals",
    "com_timeline",
    "save_analysis",
]

#: Names of the result records written by :func:`analyse_session`.
RESULT_NAMES = {
    "sensor": "session_analysis",
    "exercises": "exercise_table",
    "repetitions": "repetition_table",
    "postures": "posture_detection",
    "protocol_scores": "protocol_scores",
}

#: Metric columns copied from the exercise-level segment into the per-exercise table.
EXERCISE_METRICS = (
    "com_range_ap_mm",
    "com_range_ml_mm",
    "com_rms_ap_mm",
    "com_rms_ml_mm",
    "com_ellipse_area_mm2",
    "com_mean_velocity_mm_s",
    "com_sway_direction_deg",
    "com_sampen_ap",
    "com_sampen_ml",
    "acc_rms_ap_mps2",
    "acc_rms_ml_mps2",
    "jerk_isway_m2_s5",
    "jerk_isway_per_s_m2_s6",
    "f50_ap_hz",
    "f95_ap_hz",
    "tilt_rms_ap_deg",
    "tilt_rms_ml_deg",
    "tilt_range_ap_deg",
    "tilt_range_ml_deg",
    "tilt_mean_velocity_ap_deg_s",
    "tilt_mean_velocity_ml_deg_s",
)
#: Noise floors copied beside the metrics that have one (registry ``floor_name``).
EXERCISE_FLOORS = tuple(floor_name(m) for m in EXERCISE_METRICS if has_noise_floor(m))
#: Placement preferred for posture detection and the parents' summary.
PRIMARY_PLACEMENTS = ("trunk", "pelvis")


@dataclass(frozen=True)
class SessionAnalysisParams:
    """Parameters of the session analysis (saved with every result).

    Attributes
    ----------
    fs_hz
        Rate of the uniform grid, Hz; None: each sensor's nominal rate.
    min_piece_s
        Gap-free stretches shorter than this are not analysed, s.
    window_s
        Sliding-window length, s.
    repetition_movement_s
        Length of the voluntary movement at the start of each repetition, s: the time to
        stabilise is measured from its end, and the rest of the repetition is its *hold*.
    min_hold_s
        Holds shorter than this are not analysed, s.
    detect_postures
        Run automatic posture detection on the primary (trunk) sensor.
    protocol
        Criteria of the standard protocols' scores (:class:`~dmi_sensors.analysis.protocols.ProtocolScoreParams`).
    two_segment
        With a trunk and a pelvis sensor, the trunk's COM is the two-segment estimate (legs +
        upper body) wherever the pelvis has data (:mod:`dmi_sensors.metrics.com_two_segment`;
        the pelvis height, body height and age come from ``metrics`` and the subject).
    metrics
        Overrides of :class:`dmi_sensors.analysis.trial.TrialAnalysisParams` fields (e.g.
        ``{"com_method": "strapdown", "ellipse_method": "chi2"}``); ``com_height_m``
        comes from the subject, ``window_s`` and ``tts_event_duration_s`` from here.
    """

    fs_hz: float | None = None
    min_piece_s: float = 5.0
    window_s: float = 2.0
    repetition_movement_s: float = 2.0
    min_hold_s: float = 2.0
    detect_postures: bool = True
    two_segment: bool = True
    protocol: ProtocolScoreParams = field(default_factory=ProtocolScoreParams)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fs_hz is not None and not self.fs_hz > 0:
            raise ParameterError(f"fs_hz must be positive, got {self.fs_hz}")
        if not self.min_piece_s > 0 or not self.window_s > 0 or not self.repetition_movement_s >= 0:
            raise ParameterError("min_piece_s and window_s must be > 0, repetition_movement_s >= 0")
        bad = {"com_height_m", "window_s", "tts_event_duration_s"} & set(self.metrics)
        if bad:
            raise ParameterError(f"set {sorted(bad)} through SessionAnalysisParams / the subject, not metrics")

    def metric_params(self, com_height_m: float, **subject: Any) -> TrialAnalysisParams:
        """The :class:`~dmi_sensors.analysis.trial.TrialAnalysisParams` used for every piece
        (``subject``: ``body_height_m``, ``age_years`` of the subject when known and not set in
        ``metrics``)."""
        extra = {k: v for k, v in subject.items() if v is not None and k not in self.metrics}
        return TrialAnalysisParams(
            com_height_m=com_height_m,
            window_s=self.window_s,
            tts_event_duration_s=self.repetition_movement_s,
            **extra,
            **dict(self.metrics),
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["metrics"] = dict(self.metrics)
        return d


@dataclass
class SensorResult:
    """Per-sensor outcome: the data-quality summary and the window table."""

    sensor_id: str
    placement: str
    summary: dict[str, Any]
    windows: pd.DataFrame
    stabilisation: list[dict[str, Any]]
    signals: SensorSignals


@dataclass
class SessionAnalysis:
    """Everything :func:`analyse_signals` computed.

    ``exercises`` / ``repetitions`` / ``postures`` are tidy DataFrames (see
    :func:`exercise_table`); ``protocol_scores``: the scores of a standard protocol the
    session's exercises belong to (:func:`dmi_sensors.analysis.protocols.score_session`, the
    primary sensor's repetitions; empty for a DMI session); ``parameters`` holds every parameter, the package version
    and the ``run_id`` (and ``warnings``); ``result_ids`` the stored record ids (after
    saving). ``warnings``: one line per tagged exercise or repetition a sensor has no
    analysed data for (it lies after the recording's end, before its start or in a gap).
    """

    parameters: dict[str, Any]
    sensors: dict[str, SensorResult]
    events: pd.DataFrame | None
    exercises: pd.DataFrame
    repetitions: pd.DataFrame
    postures: pd.DataFrame
    primary_sensor_id: str | None
    result_ids: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    protocol_scores: Any = None


def _primary(sensors: Sequence[SensorSignals]) -> SensorSignals | None:
    for placement in PRIMARY_PLACEMENTS:
        for s in sensors:
            if s.placement == placement and s.pieces:
                return s
    return next((s for s in sensors if s.pieces), None)


def _pelvis_sensor(sensors: Sequence[SensorSignals]) -> SensorSignals | None:
    """The sensor placed on the pelvis with analysable data (two-segment COM of the trunk)."""
    return next((s for s in sensors if s.placement == "pelvis" and s.pieces), None)


def _tag_events(events, movement_s: float, min_hold_s: float):
    """Exercise, repetition and perturbation rows, plus one ``kind="hold"`` row per
    repetition: from ``movement_s`` after its onset to its end (when at least ``min_hold_s``)."""
    import pandas as pd

    if events is None or len(events) == 0:
        return None
    ev = normalise_events(events)
    ev = ev[ev["kind"].isin(("exercise", "repetition", "perturbation"))].reset_index(drop=True)
    reps = ev[ev["kind"] == "repetition"]
    holds = reps.assign(
        onset_s=reps["onset_s"] + movement_s, duration_s=reps["duration_s"] - movement_s, kind="hold", source="auto"
    )
    holds = holds[holds["duration_s"] >= max(min_hold_s, 0.0)]
    return pd.concat([ev, holds], ignore_index=True).sort_values("onset_s", kind="stable").reset_index(drop=True)


def _detect_postures(primary: SensorSignals | None, events):
    import pandas as pd

    if primary is None:
        return empty_events()
    frames = []
    for piece in primary.pieces:
        t = primary.time_s[piece]
        if t.shape[0] < 4 * primary.fs_hz:
            continue
        frames.append(
            detect_postures(t, primary.acc_mps2[piece], primary.gyr_rps[piece], fs_hz=primary.fs_hz, events=events)
        )
    if not frames:
        return empty_events()
    return pd.concat(frames, ignore_index=True)


def _detected_postures(postures: pd.DataFrame | None, onset_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    """The detected posture of each interval by THE window tagging (majority overlap,
    :func:`dmi_sensors.session.tag_windows`), ``""`` where no posture covers half of it."""
    import pandas as pd

    if postures is None or len(postures) == 0 or len(onset_s) == 0:
        return np.full(len(onset_s), "", dtype=object)
    intervals = pd.DataFrame({contract.START_S: np.asarray(onset_s, float), contract.END_S: np.asarray(end_s, float)})
    return tag_windows(intervals, postures)[contract.POSTURE].to_numpy(dtype=object)


def _unanalysed_events(sig: SensorSignals, tag_events: pd.DataFrame | None) -> list[str]:
    """One line per exercise or repetition row that overlaps none of the sensor's analysed pieces."""
    if tag_events is None or len(tag_events) == 0:
        return []
    rows = tag_events[tag_events[contract.KIND].isin(("exercise", "repetition"))]
    if not sig.pieces and len(rows):
        return [f"sensor {sig.sensor_id}: no analysable data: {len(rows)} tagged exercises/repetitions not analysed"]
    onset = rows[contract.ONSET_S].to_numpy(dtype=np.float64)
    end = onset + rows[contract.DURATION_S].to_numpy(dtype=np.float64)
    covered = np.zeros(len(rows), dtype=bool)
    for piece in sig.pieces:
        t = sig.time_s[piece]
        if t.shape[0]:
            covered |= (end > t[0]) & (onset < t[-1] + 1.0 / sig.fs_hz)
    out = []
    for row, a, b in zip(rows[~covered].to_dict("records"), onset[~covered], end[~covered], strict=True):
        rep = row[contract.REPETITION]
        what = f"{row[contract.KIND]} {row[contract.EXERCISE]!r}" + (f" repetition {rep}" if rep else "")
        out.append(
            f"sensor {sig.sensor_id}: {what} at {a:.3f}-{b:.3f} s has no analysed data "
            "(after the recording's end, before its start or in a gap): not analysed"
        )
    return out


def pelvis_piece(pelvis: SensorSignals | None, t0: float, t1: float) -> Trial | None:
    """The pelvis samples of the analysed piece of the pelvis sensor that covers ``[t0, t1]``
    (the trunk piece), or None (no pelvis sensor, or a gap of the pelvis inside it)."""
    if pelvis is None:
        return None
    tol = 1.0 / pelvis.fs_hz
    for piece in pelvis.pieces:
        t = pelvis.time_s[piece]
        if t.shape[0] >= 2 and t[0] <= t0 + tol and t[-1] >= t1 - tol:
            return pelvis.trial(piece)
    return None


def _analyse_sensor(
    sig: SensorSignals,
    tag_events: pd.DataFrame | None,
    metric_params: TrialAnalysisParams,
    pelvis: SensorSignals | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, Any]]:
    import pandas as pd

    frames: list[pd.DataFrame] = []
    stabilisation: list[dict[str, Any]] = []
    models: list[str] = []
    gates: list[float | None] = []
    for k, piece in enumerate(sig.pieces):
        trial = sig.trial(piece)
        t0, t1 = float(trial.time_s[0]), float(trial.time_s[-1])
        ev = None
        perts: list[float] = []
        if tag_events is not None:
            end = tag_events["onset_s"] + tag_events["duration_s"]
            ev = tag_events[(end > t0) & (tag_events["onset_s"] < t1)]
            reps = ev[(ev["kind"] == "repetition") & (ev["onset_s"] >= t0)]
            perts = [float(x) for x in reps["onset_s"] if x + metric_params.tts_event_duration_s < t1]
            ev = ev if len(ev) else None
        pelvis_trial = pelvis_piece(pelvis, float(trial.time_s[0]), float(trial.time_s[-1]))
        result = analyse_trial(trial, events=ev, perturbations_s=perts, params=metric_params, pelvis=pelvis_trial)
        models.append(str(result.summary.get("com_model", "single_segment")))
        gates.append(result.parameters["signals"].get("two_segment", {}).get("gate_noise_ms_m2"))
        w = result.windows.copy()
        w.insert(0, "piece", k)
        frames.append(w)
        stabilisation.extend({"piece": k, **s} for s in result.stabilisation)
    windows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    summary = {
        "placement": sig.placement,
        "fs_hz": sig.fs_hz,
        "frame": sig.frame,
        "duration_s": sig.duration_s,
        "analysed_s": float(sum((p.stop - p.start) for p in sig.pieces) / sig.fs_hz),
        "pieces": len(sig.pieces),
        **{f"link_{k}": v for k, v in sig.link.items()},
        "clock_drift_ppm": [c["drift_ppm"] for c in sig.clock],
        "clock_latency_median_s": [c["latency_median_s"] for c in sig.clock],
        "com_model": _com_model_text(models, pelvis),
        "com_pelvis_sensor_id": pelvis.sensor_id if pelvis is not None else None,
        # per piece: the two-segment gate's level from the noise replica (None: one segment or
        # no replica), so that the report draws the same COM without the replica
        "com_gate_noise_ms_m2": gates,
    }
    return windows, stabilisation, summary


def _com_model_text(models: list[str], pelvis: SensorSignals | None) -> str:
    """Which COM model the sensor's pieces used, in words for the results and reports."""
    if pelvis is None:
        return "single_segment (trunk-only pendulum)"
    two = models.count("two_segment")
    if two == len(models) and models:
        return f"two_segment (trunk + pelvis {pelvis.sensor_id})"
    return f"two_segment (trunk + pelvis {pelvis.sensor_id}) in {two} of {len(models)} pieces, elsewhere single_segment"


def _tts_by_onset(stabilisation: list[dict], method: str = "moving_rms") -> dict[float, dict]:
    return {round(float(s["event_onset_s"]), 6): s for s in stabilisation if s.get("method") == method}


def _clean_float(v) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean_str(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    try:
        import pandas as pd

        if v is pd.NA:
            return ""
    except ImportError:  # pragma: no cover
        pass
    return str(v)


class _Segments:
    """The segment windows of one sensor, indexed once for :meth:`row` (called a few times
    per repetition: the columns are converted once, not per call)."""

    def __init__(self, seg) -> None:
        import pandas as pd

        self.frame = seg
        self._exercise = seg["exercise"].astype(str)
        self._by_exercise: dict[str, np.ndarray] = {}
        self._rep = pd.to_numeric(seg["repetition"], errors="coerce").fillna(0).astype(int).to_numpy()
        self._start = seg["start_s"].to_numpy(dtype=np.float64)
        self._end = seg["end_s"].to_numpy(dtype=np.float64)

    def row(self, exercise: str, repetition: int, onset_s: float, end_s: float):
        """The segment window of a tagged interval: same exercise and repetition, overlapping,
        start closest to the interval's onset (a gap can clip a segment; the longest part of
        an interval split by a gap starts later and is found the same way only when the first
        part was too short to analyse). The window's row of the table, or None."""
        same = self._by_exercise.get(exercise)
        if same is None:
            same = self._by_exercise[exercise] = (self._exercise == exercise).to_numpy(dtype=bool)
        at = np.flatnonzero(same & (self._rep == repetition) & (self._end > onset_s) & (self._start < end_s))
        if at.size == 0:
            return None
        start, end = self._start[at], self._end[at]
        score = np.abs(start - onset_s) - 1e-6 * (end - start)
        return self.frame.iloc[int(at[int(np.argmin(score))])]


def repetition_table(sensor: SensorResult, tag_events, postures):
    """One row per tagged repetition of one sensor.

    Sway metrics (:data:`EXERCISE_METRICS`) are those of the repetition's *hold* (from
    ``repetition_movement_s`` after its onset to its end); ``time_to_stabilise_s`` is the
    moving-RMS time to stabilise after the movement (None with ``tts_status`` when no
    stable state was reached or there was no quiet baseline).
    """
    import pandas as pd

    w = sensor.windows
    if tag_events is None or len(w) == 0:
        return pd.DataFrame()
    seg = _Segments(w[(w[contract.WINDOW_KIND] == "segment")])
    tts = _tts_by_onset(sensor.stabilisation)
    holds = tag_events[tag_events[contract.KIND] == "hold"]
    reps = tag_events[tag_events[contract.KIND] == "repetition"]
    ends = (reps[contract.ONSET_S] + reps[contract.DURATION_S]).to_numpy()
    detected = _detected_postures(postures, reps[contract.ONSET_S].to_numpy(), ends)
    rows = []
    for ev, posture_detected in zip(reps.itertuples(index=False), detected, strict=True):
        onset, end = float(ev.onset_s), float(ev.onset_s + ev.duration_s)
        exercise, rep = str(ev.exercise), int(ev.repetition)
        if seg.row(exercise, rep, onset, end) is None:
            continue  # not covered by any analysed piece
        hold_ev = holds[
            (holds[contract.EXERCISE] == exercise)
            & (holds[contract.REPETITION] == rep)
            & (holds[contract.ONSET_S] > onset)
        ]
        hold_ev = hold_ev[hold_ev[contract.ONSET_S] < end]
        hold = None
        if len(hold_ev):
            h0 = float(hold_ev[contract.ONSET_S].iloc[0])
            hold = seg.row(exercise, rep, h0, h0 + float(hold_ev[contract.DURATION_S].iloc[0]))
            if hold is not None and abs(hold[contract.START_S] - h0) >= abs(hold[contract.START_S] - onset):
                hold = None  # that is the repetition row itself: the hold was not analysed
        t = tts.get(round(onset, 6))
        row = {  # contract.REPETITION_TABLE_COLUMNS, then the metrics
            contract.SENSOR_ID: sensor.sensor_id,
            contract.PLACEMENT: sensor.placement,
            contract.EXERCISE: exercise,
            contract.REPETITION: rep,
            contract.SUPPORT: _clean_str(ev.support),
            contract.POSTURE_PLANNED: _clean_str(getattr(ev, contract.POSTURE, "")),
            contract.POSTURE_DETECTED: posture_detected,
            contract.ONSET_S: onset,
            contract.DURATION_S: end - onset,
            contract.HOLD_START_S: float(hold[contract.START_S]) if hold is not None else None,
            contract.HOLD_END_S: float(hold[contract.END_S]) if hold is not None else None,
            contract.TIME_TO_STABILISE_S: _clean_float(t["tts_s"]) if t else None,
            contract.TTS_STATUS: t["status"] if t else "not analysed",
        }
        source = hold if hold is not None else seg.row(exercise, rep, onset, end)
        for m in (*EXERCISE_METRICS, *EXERCISE_FLOORS):
            row[m] = _clean_float(hold.get(m)) if hold is not None and m in hold else None
        _mark_absent(row, posture_detected, _clean_str(getattr(ev, contract.POSTURE, "")))
        if source is not None and not row[METRICS_ABSENT]:
            row[METRICS_ABSENT] = _clean_str(source.get(METRICS_ABSENT, ""))
        rows.append(row)
    return pd.DataFrame(rows)


def _mark_absent(row: dict, detected: str, planned: str) -> None:
    """Blank the metrics whose model does not hold in the row's posture (the plan's, else the
    detected one) and say why in ``metrics_absent``."""
    posture = planned or detected
    reasons: dict[str, str] = {}
    for m in (*EXERCISE_METRICS, contract.TIME_TO_STABILISE_S):
        reason = absent_reason(m, posture)
        if reason:
            reasons[m] = reason
    for m in reasons:
        row[m] = None
        if m in EXERCISE_METRICS and has_noise_floor(m):
            row[floor_name(m)] = None
    row[METRICS_ABSENT] = absent_note(reasons, posture)


def _median(values) -> float | None:
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else None


def exercise_table(sensor: SensorResult, tag_events, postures, repetitions):
    """One row per tagged exercise of one sensor.

    Each sway metric is the **median over the exercise's repetition holds**
    (:func:`repetition_table`); ``holds`` says over how many. An exercise tagged without
    repetitions uses its whole interval instead (``holds = 0``). ``time_to_stabilise_s``
    is the median over the repetitions that reached a stable state (``tts_stable`` of
    ``repetitions``).
    """
    import pandas as pd

    w = sensor.windows
    if tag_events is None or len(w) == 0:
        return pd.DataFrame()
    seg = _Segments(w[(w[contract.WINDOW_KIND] == "segment")])
    exercises = tag_events[tag_events[contract.KIND] == "exercise"]
    ends = (exercises[contract.ONSET_S] + exercises[contract.DURATION_S]).to_numpy()
    detected = _detected_postures(postures, exercises[contract.ONSET_S].to_numpy(), ends)
    rows = []
    for ev, posture_detected in zip(exercises.itertuples(index=False), detected, strict=True):
        onset, end = float(ev.onset_s), float(ev.onset_s + ev.duration_s)
        exercise = str(ev.exercise)
        whole = seg.row(exercise, 0, onset, end)
        if whole is None:
            continue
        reps = repetitions
        if len(reps):
            reps = reps[
                (reps[contract.EXERCISE] == exercise)
                & (reps[contract.ONSET_S] >= onset - 1e-9)
                & (reps[contract.ONSET_S] < end)
            ]
        with_hold = reps[reps[contract.HOLD_START_S].notna()] if len(reps) else reps
        tts = [x for x in (reps[contract.TIME_TO_STABILISE_S] if len(reps) else []) if x is not None and np.isfinite(x)]
        row = {  # contract.EXERCISE_TABLE_COLUMNS, then the metrics
            contract.SENSOR_ID: sensor.sensor_id,
            contract.PLACEMENT: sensor.placement,
            contract.EXERCISE: exercise,
            contract.SUPPORT: _clean_str(ev.support),
            contract.POSTURE_PLANNED: _clean_str(getattr(ev, contract.POSTURE, "")),
            contract.POSTURE_DETECTED: posture_detected,
            contract.ONSET_S: onset,
            contract.DURATION_S: end - onset,
            contract.REPETITIONS: len(reps),
            contract.HOLDS: len(with_hold),
            contract.TIME_TO_STABILISE_S: _median(tts),
            contract.TTS_STABLE: len(tts),
        }
        for m in (*EXERCISE_METRICS, *EXERCISE_FLOORS):
            if len(with_hold):
                row[m] = _median(with_hold[m]) if m in with_hold else None
            else:
                row[m] = _clean_float(whole.get(m)) if m in whole else None
        _mark_absent(row, posture_detected, _clean_str(getattr(ev, contract.POSTURE, "")))
        rows.append(row)
    return pd.DataFrame(rows)


def analyse_signals(
    sensors: Sequence[SensorSignals],
    events,
    com_height_m: float,
    params: SessionAnalysisParams | None = None,
    *,
    progress: ProgressBar | None = None,
    body_height_m: float | None = None,
    age_years: float | None = None,
) -> SessionAnalysis:
    """Analyse prepared sensors with the session's events (no store involved).

    ``events``: the session's events table (``contract.EVENT_COLUMNS`` + ``kind``, ...);
    ``com_height_m``: the subject's COM height above the pivot, m; ``progress``: told one
    step per sensor analysed; ``body_height_m``, ``age_years``: the subject's, for the
    two-segment COM's segment fractions (a trunk and a pelvis sensor).
    """
    import pandas as pd

    params = params or SessionAnalysisParams()
    metric_params = params.metric_params(com_height_m, body_height_m=body_height_m, age_years=age_years)
    tag_events = _tag_events(events, params.repetition_movement_s, params.min_hold_s)
    primary = _primary(sensors)
    exercise_rows = tag_events[tag_events["kind"] == "exercise"] if tag_events is not None else None
    postures = _detect_postures(primary, exercise_rows) if params.detect_postures else None
    results: dict[str, SensorResult] = {}
    ex_frames, rep_frames = [], []
    warnings: list[str] = []
    pelvis = _pelvis_sensor(sensors) if params.two_segment else None
    for sig in sensors:
        warnings.extend(_unanalysed_events(sig, tag_events))
        partner = (
            pelvis if (pelvis is not None and primary is not None and sig is primary and sig is not pelvis) else None
        )
        windows, stabilisation, summary = _analyse_sensor(sig, tag_events, metric_params, partner)
        res = SensorResult(sig.sensor_id, sig.placement, summary, windows, stabilisation, sig)
        results[sig.sensor_id] = res
        reps = repetition_table(res, tag_events, postures)
        exs = exercise_table(res, tag_events, postures, reps)
        summary["exercises"] = len(exs)
        summary["repetitions"] = len(reps)
        rep_frames.append(reps)
        ex_frames.append(exs)
        silent_if_none(progress).advance()
    parameters = {
        "run_id": uuid.uuid4().hex,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "dmi_sensors_version": __version__,
        "session": params.to_dict(),
        "analysis": metric_params.to_dict(),
        "com_height_m": com_height_m,
        "primary_sensor_id": primary.sensor_id if primary else None,
        "calibrations": {s.sensor_id: s.calibration for s in sensors},
        "frames": {s.sensor_id: s.frame for s in sensors},
        "warnings": warnings,
    }
    non_empty = [f for f in ex_frames if len(f)]
    rep_non_empty = [f for f in rep_frames if len(f)]
    primary_reps = next((f for f, s in zip(rep_frames, sensors, strict=True) if s is primary and len(f)), None)
    scores = score_session(primary_reps, params.protocol)
    parameters["protocol"] = params.protocol.to_dict()
    return SessionAnalysis(
        parameters=parameters,
        sensors=results,
        events=tag_events,
        exercises=pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame(),
        repetitions=pd.concat(rep_non_empty, ignore_index=True) if rep_non_empty else pd.DataFrame(),
        postures=postures if postures is not None else pd.DataFrame(),
        primary_sensor_id=primary.sensor_id if primary else None,
        warnings=warnings,
        protocol_scores=scores,
    )


def analyse_session(
    store: SessionStore,
    session_id: int,
    params: SessionAnalysisParams | None = None,
    *,
    calibrations: Mapping[str, CalibrationInput] | None = None,
    save: bool = True,
    progress: ProgressBar | None = None,
) -> SessionAnalysis:
    """Analyse a stored session and (by default) save the results in the store.

    Each sensor comes from whatever the store holds for it (:func:`dmi_sensors.analysis.signals.stored_sensor_signals`):
    the raw packets of a recorded session, or the samples of an imported one (trial CSV,
    CSV/Parquet export, BIDS-Motion) — the same samples give the same results.
    ``calibrations`` (sensor id -> calibration) overrides what the store links to each
    sensor (:func:`dmi_sensors.analysis.load_calibration`). ``progress``: a
    :class:`~dmi_sensors.progress_bar.ProgressBar` told two steps per sensor (its samples
    timed and calibrated, then analysed).

    Raises
    ------
    ParameterError
        The subject has no COM height (``dmi-sensors sessions edit SESSION --com-height-m H``).
    StateError
        No sensor has analysable data: nothing is stored, so a re-analysis never replaces
        stored results with an empty run.
    """
    params = params or SessionAnalysisParams()
    info = store.session_info(session_id)
    if not info.com_height_m:
        raise ParameterError(
            f"session {session_id}: the subject's COM height (com_height_m) is unknown; the COM metrics need it: "
            f"dmi-sensors sessions edit {session_id} --com-height-m H (SessionStore.edit_session in code)"
        )
    bar = silent_if_none(progress)
    bar.set_total(2 * len(info.sensors))
    sensors = []
    for s in info.sensors:
        cal = (calibrations or {}).get(s.sensor_id) or load_calibration(store, session_id, s.sensor_id)
        sensors.append(
            stored_sensor_signals(
                store, session_id, s.sensor_id, calibration=cal, fs_hz=params.fs_hz, min_piece_s=params.min_piece_s
            )
        )
        bar.advance()
    if not any(sig.pieces for sig in sensors):
        held = ", ".join(f"{s.sensor_id}: {s.samples} samples" for s in info.sensors) or "no sensor"
        raise StateError(
            f"session {session_id} has nothing to analyse ({held}; a gap-free stretch of at least "
            f"{params.min_piece_s:g} s is needed): nothing was analysed or stored, earlier results stay as they are"
        )
    age = None
    if info.birth_year and info.start_utc:
        age = max(0.5, int(info.start_utc[:4]) - int(info.birth_year) + 0.5)  # mid-year: the year only is stored
    analysis = analyse_signals(
        sensors,
        store.events(session_id),
        float(info.com_height_m),
        params,
        progress=bar,
        body_height_m=getattr(info, "body_height_m", None),
        age_years=age,
    )
    analysis.parameters["session_id"] = int(session_id)
    if save:
        save_analysis(store, session_id, analysis)
    return analysis


def com_timeline(signals: SensorSignals, pieces: Sequence, events=None) -> tuple[np.ndarray, np.ndarray]:
    """COM AP and ML (mm) on the session grid for a timeline: continuous across data gaps.

    ``pieces``: :func:`dmi_sensors.analysis.trial.sway_signals` of ``signals.pieces`` (with the
    session's events, so each interval has its posture's lever). The trace is ``lever × sin θ``
    of every piece (NaN in gaps, where the line breaks, and where the posture has no pendulum);
    each tagged exercise is referred to ONE reference, its mean over all its analysed samples
    whatever gaps split it, so a gap inside an exercise moves nothing. Samples outside every
    exercise are referred to the mean of their piece's untagged samples.
    """
    n = signals.time_s.shape[0]
    ap = np.full(n, np.nan)
    ml = np.full(n, np.nan)
    piece_id = np.full(n, -1)
    for k, (sl, sig) in enumerate(zip(signals.pieces, pieces, strict=True)):
        ap[sl] = sig.com_abs_ap_mm
        ml[sl] = sig.com_abs_ml_mm
        piece_id[sl] = k
    t = signals.time_s
    tagged = np.zeros(n, dtype=bool)
    rows = None
    if events is not None and len(events):
        ev = events
        if contract.KIND in ev.columns and ev[contract.KIND].notna().any():
            ev = ev[ev[contract.KIND] == "exercise"]
        rows = ev
    if rows is not None:
        for onset, duration in zip(
            rows[contract.ONSET_S].to_numpy(dtype=np.float64),
            rows[contract.DURATION_S].to_numpy(dtype=np.float64),
            strict=True,
        ):
            sel = (t >= onset) & (t < onset + duration) & ~tagged
            tagged |= sel
            for x in (ap, ml):
                ok = sel & np.isfinite(x)
                if np.any(ok):
                    x[sel] -= x[ok].mean()
    for k in range(len(pieces)):
        sel = (piece_id == k) & ~tagged
        for x in (ap, ml):
            ok = sel & np.isfinite(x)
            if np.any(ok):
                x[sel] -= x[ok].mean()
    return ap, ml


def save_analysis(store: SessionStore, session_id: int, analysis: SessionAnalysis) -> dict[str, int]:
    """Store one record per sensor and one per table (all with the same ``run_id``)."""
    ids: dict[str, int] = {}
    with store.atomic("saving a session analysis"):
        for sid, res in analysis.sensors.items():
            ids[f"sensor:{sid}"] = store.save_results(
                session_id,
                res.summary,
                {**analysis.parameters, "stabilisation": res.stabilisation},
                res.windows if len(res.windows) else None,
                sensor_id=sid,
                name=RESULT_NAMES["sensor"],
            )
        summary = {
            "primary_sensor_id": analysis.primary_sensor_id,
            "exercises": len(analysis.exercises),
            "repetitions": len(analysis.repetitions),
        }
        for key in ("exercises", "repetitions", "postures", "protocol_scores"):
            table = getattr(analysis, key)
            if key == "protocol_scores" and (table is None or not len(table)):
                continue  # a DMI session: no protocol scores
            ids[key] = store.save_results(
                session_id,
                summary,
                analysis.parameters,
                table if len(table) else None,
                name=RESULT_NAMES[key],
            )
    analysis.result_ids = ids
    return ids
