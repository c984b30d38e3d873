"""From a trial (one trunk IMU, body-aligned frame) to a summary and a tidy window table.

Pipeline of :func:`analyse_trial` (every choice is a recorded parameter):

1. Orientation: gyro bias removed (default: the trial's mean angular rate, which assumes
   no net rotation over a balance trial), initial attitude from a backward pass of the same
   filter over the whole trial (or the mean specific force of the first
   ``initial_attitude_s``: biased by the sway's inertial acceleration), then
   :class:`dmi_sensors.dsp.Mahony` with a low proportional gain (0.3 rad/s: the
   accelerometer corrects only drift slower than ~0.05 Hz) — or Madgwick; quaternions
   body -> world. :func:`dmi_sensors.dsp.body_frame` gives tilt (AP, ML) and the
   gravity-free acceleration in the heading frame (AP, ML, V).
   Why low gains: the accelerometer of a swaying trunk also feels the sway's inertial
   acceleration (h·θ''), so accelerometer-led fusion overstates tilt (by ~50 % at 0.4 Hz
   with the sensor 0.8 m above the ankles, Madgwick at ahrs' default gain 0.033) and leaves
   almost no linear acceleration after gravity removal; too low a gain lets gyro noise
   wander. k_p = 0.3 gave the smallest COM errors on the simulator (docs/metrics.md).
2. COM excursion (mm): ``com_method="pendulum"`` (``h_com·sin θ``) or ``"strapdown"``
   (drift-controlled double integration, scaled by ``h_com/h_sensor``); then a zero-phase
   4th-order Butterworth low-pass at ``com_lowpass_hz`` (Prieto: 5 Hz [R]).
3. Horizontal trunk acceleration for ISway: ``acc_frame="gravity_removed"`` (default; per
   sample from the orientation) or ``"static_tilt"`` (Moe-Nilssen: one rotation from the
   mean acceleration, keeps the dynamic g·sin θ term as the ISway literature does); then
   a zero-phase 4th-order Butterworth low-pass at ``acc_lowpass_hz`` (Mancini: 3.5 Hz [R]).
4. Whole-trial summary (Prieto on COM, ISway on acceleration), per-window and per-segment
   metrics, and time to stabilise after each perturbation on the horizontal COM
   acceleration (pendulum: second derivative of the COM; strapdown: scaled linear acc).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors import __version__, contract
from dmi_sensors.calibration.still import gyro_bias_from_still
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.com import COM_METHODS, ComExcursion, com_from_linear_acc, com_from_tilt
from dmi_sensors.metrics.isway import isway_measures
from dmi_sensors.metrics.prieto import ELLIPSE_METHODS, prieto_measures
from dmi_sensors.metrics.spectral import SpectralParams
from dmi_sensors.metrics.tts import TTS_METHODS, TtsParams, detect_events, instability_signal, time_to_stabilise
from dmi_sensors.metrics.windows import sliding_windows, window_metrics
from dmi_sensors.session.events import normalise_events
from dmi_sensors.session.model import COM_HEIGHT_RANGE
from dmi_sensors.session.windows import TAG_COLUMNS, segments_from_events, tag_windows
from dmi_sensors.types import Trial

if TYPE_CHECKING:  # pandas is imported by the functions that build tables
    import pandas as pd

__all__ = [
    "ACC_FRAMES",
    "SUMMARY_KEYS",
    "SwaySignals",
    "TrialAnalysis",
    "TrialAnalysisParams",
    "analyse_trial",
    "com_excursion",
    "static_tilt_correction",
    "sway_signals",
]

ACC_FRAMES = ("gravity_removed", "static_tilt")
ORIENTATION_FILTERS = ("mahony", "madgwick")
GYRO_BIAS = ("trial_mean", "still", "none")
#: keys every summary has (the CLI's JSON contract); ``time_to_stabilise_s`` when perturbed
SUMMARY_KEYS = (
    "com_rms_ap_mm",
    "com_rms_ml_mm",
    "com_range_ap_mm",
    "com_range_ml_mm",
    "com_path_length_mm",
    "com_mean_velocity_mm_s",
    "com_ellipse_area_mm2",
    "acc_rms_ap_mps2",
    "acc_rms_ml_mps2",
    "jerk_isway_m2_s5",
    "f50_ap_hz",
    "f95_ap_hz",
)


@dataclass(frozen=True)
class TrialAnalysisParams:
    """Every parameter that changes a number (saved with each result).

    ``com_height_m`` — COM height above the pivot (ankles standing, seat sitting), metres,
    per subject: there is deliberately no default; it must lie in the plausible range of
    :data:`dmi_sensors.session.COM_HEIGHT_RANGE` (a small child's sitting lever to a tall adult).
    """

    com_height_m: float
    sensor_height_m: float | None = None
    com_method: str = "pendulum"
    orientation_filter: str = "mahony"
    mahony_kp: float = 0.3
    mahony_ki: float = 0.0
    madgwick_gain: float = 0.001
    gyro_bias: str = "trial_mean"
    initial_attitude: str = "backward_pass"
    initial_attitude_s: float = 1.0
    com_lowpass_hz: float | None = 5.0
    strapdown_highpass_hz: float = 0.1
    acc_frame: str = "gravity_removed"
    acc_lowpass_hz: float | None = 3.5
    window_s: float = 2.0
    step_s: float | None = None
    ellipse_method: str = "prediction_F"
    spectral: SpectralParams = field(default_factory=SpectralParams)
    tts: TtsParams = field(default_factory=TtsParams)
    tts_event_duration_s: float = 0.0
    detect_perturbations: bool = False

    def __post_init__(self) -> None:
        COM_HEIGHT_RANGE.check(self.com_height_m)  # THE plausible range (session model), one clear line
        if self.sensor_height_m is not None and not self.sensor_height_m > 0:
            raise ParameterError(f"sensor_height_m must be positive, got {self.sensor_height_m!r}")
        if self.com_method not in COM_METHODS:
            raise ParameterError(f"com_method must be one of {COM_METHODS}, got {self.com_method!r}")
        if self.acc_frame not in ACC_FRAMES:
            raise ParameterError(f"acc_frame must be one of {ACC_FRAMES}, got {self.acc_frame!r}")
        if self.initial_attitude not in ("backward_pass", "mean_acc"):
            raise ParameterError(
                f"initial_attitude must be 'backward_pass' or 'mean_acc', got {self.initial_attitude!r}"
            )
        if self.gyro_bias not in GYRO_BIAS:
            raise ParameterError(f"gyro_bias must be one of {GYRO_BIAS}, got {self.gyro_bias!r}")
        if self.orientation_filter not in ORIENTATION_FILTERS:
            raise ParameterError(
                f"orientation_filter must be one of {ORIENTATION_FILTERS}, got {self.orientation_filter!r}"
            )
        if self.ellipse_method not in ELLIPSE_METHODS:
            raise ParameterError(f"ellipse_method must be one of {ELLIPSE_METHODS}, got {self.ellipse_method!r}")
        if not self.window_s > 0:
            raise ParameterError(f"window_s must be positive, got {self.window_s!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["spectral"] = self.spectral.to_dict()
        d["tts"] = asdict(self.tts)
        return d


@dataclass
class SwaySignals:
    """The pre-processed signals the metrics are computed from (uniform, one sensor)."""

    time_s: np.ndarray
    fs_hz: float
    com_ap_mm: np.ndarray
    com_ml_mm: np.ndarray
    acc_ap_mps2: np.ndarray
    acc_ml_mps2: np.ndarray
    com_acc_mps2: np.ndarray  # (n, 2) horizontal COM acceleration AP/ML for TTS
    tilt_ap_rad: np.ndarray
    tilt_ml_rad: np.ndarray
    parameters: dict = field(default_factory=dict)


@dataclass
class TrialAnalysis:
    """Result of :func:`analyse_trial`.

    ``summary``: metric name -> value for the whole trial (plus ``time_to_stabilise_s`` and
    the other TTS methods when perturbations were given: a float for one, a list for
    several; None where no stable state was reached). ``windows``: tidy DataFrame, leading
    columns ``contract.WINDOW_COLUMNS`` + ``window_kind`` (``sliding`` / ``segment``), then one
    column per metric. ``parameters``: everything that changed a number, with the package
    version. ``stabilisation``: one dict per perturbation and method (:class:`TtsResult`).
    ``warnings``: one readable line per input the analysis could not use as given (event
    rows outside the trial or clipped to it, perturbations outside it, a gyro bias that
    could not be estimated); the CLI prints them.
    """

    summary: dict
    windows: pd.DataFrame
    parameters: dict
    stabilisation: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json_dict(self) -> dict:
        """JSON-ready dict: ``dmi_sensors_version, parameters, summary, stabilisation, warnings, windows``."""
        windows = []
        metric_cols = [c for c in self.windows.columns if c not in (*contract.WINDOW_COLUMNS, "window_kind")]
        for r in self.windows.to_dict("records"):
            windows.append(
                {
                    "start_s": _clean(r["start_s"]),
                    "end_s": _clean(r["end_s"]),
                    "kind": r["window_kind"],
                    "sensor_id": r["sensor_id"],
                    "tags": {c: _clean(r[c]) for c in TAG_COLUMNS},
                    "metrics": {c: _clean(r[c]) for c in metric_cols},
                }
            )
        return {
            "dmi_sensors_version": __version__,
            "parameters": _clean(self.parameters),
            "summary": _clean(self.summary),
            "stabilisation": _clean(self.stabilisation),
            "warnings": list(self.warnings),
            "windows": windows,
        }


def _clean(v):
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_clean(x) for x in v.tolist()]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return v


def static_tilt_correction(acc_mps2: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Moe-Nilssen (1998) static tilt correction to horizontal AP, ML (m/s²).

    From the mean acceleration (whole signal): ``θa = atan2(mean a_x, sqrt(mean a_z² + mean a_y²))``
    (pitch), ``θm = atan2(mean a_y, mean a_z)`` (roll), then
    ``a_AP = a_x cos θa - a_z sin θa``, ``a_v' = a_x sin θa + a_z cos θa``,
    ``a_ML = a_y cos θm - a_v' sin θm``. The atan2 form is Picerno's SADS-OKC script
    (Millecamps 2015 eqs 1-4) [V-impl]. Only the static mounting/posture tilt is removed:
    the dynamic g·sin θ(t) of sway stays in a_AP, a_ML.
    """
    a = np.asarray(acc_mps2, dtype=np.float64)
    mx, my, mz = a.mean(axis=0)
    th_a = math.atan2(mx, math.sqrt(mz * mz + my * my))
    th_m = math.atan2(my, mz)
    ap = a[:, 0] * math.cos(th_a) - a[:, 2] * math.sin(th_a)
    v1 = a[:, 0] * math.sin(th_a) + a[:, 2] * math.cos(th_a)
    ml = a[:, 1] * math.cos(th_m) - v1 * math.sin(th_m)
    return ap, ml, {"static_pitch_rad": th_a, "static_roll_rad": th_m}


def _lowpass(x: np.ndarray, fs_hz: float, cutoff_hz: float | None) -> np.ndarray:
    if cutoff_hz is None:
        return x
    from dmi_sensors.dsp import butter_lowpass, filtfilt

    if not (0 < cutoff_hz < fs_hz / 2):
        raise ParameterError(f"low-pass cut-off must be in (0, fs/2 = {fs_hz / 2}) Hz, got {cutoff_hz}")
    return filtfilt(butter_lowpass(cutoff_hz, fs_hz, 4), x)


def _orientation(trial: Trial, params: TrialAnalysisParams):
    """Quaternions and body frame from the dsp orientation filter (see TrialAnalysisParams)."""
    from dmi_sensors import dsp

    gyr = trial.gyr_rps
    bias_source = params.gyro_bias
    if params.gyro_bias == "trial_mean":
        bias = gyr.mean(axis=0)
    elif params.gyro_bias == "still":
        try:
            bias = gyro_bias_from_still(trial.acc_mps2, gyr, trial.fs_hz).bias_rps
        except ParameterError as exc:  # not enough still data: say so in the parameters
            bias = np.zeros(3)
            bias_source = f"none (still: {exc})"
    else:
        bias = np.zeros(3)

    def make(q0: np.ndarray):
        if params.orientation_filter == "mahony":
            return dsp.Mahony(trial.fs_hz, k_p=params.mahony_kp, k_i=params.mahony_ki, q0=q0)
        return dsp.Madgwick(trial.fs_hz, gain=params.madgwick_gain, q0=q0)

    n0 = max(1, min(len(trial), round(params.initial_attitude_s * trial.fs_hz)))
    g = gyr - bias
    acc = trial.acc_mps2
    if params.initial_attitude == "backward_pass":
        # run the same filter backwards in time (negated rates) from the end's mean attitude:
        # its final state is a converged estimate of the attitude at the first sample
        q_end = dsp.attitude_from_acc(acc[-n0:].mean(axis=0))
        q0 = make(q_end).process(acc[::-1], -g[::-1])[-1].copy()
    else:
        q0 = dsp.attitude_from_acc(acc[:n0].mean(axis=0))
    q = make(q0).process(acc, g)
    info = {"gyro_bias_rps": bias.tolist(), "gyro_bias_source": bias_source, "initial_attitude_q": q0.tolist()}
    return q, dsp.body_frame(q, acc), info


def com_excursion(
    trial: Trial | None = None,
    *,
    method: str = "pendulum",
    com_height_m: float,
    sensor_height_m: float | None = None,
    tilt_ap_rad: np.ndarray | None = None,
    tilt_ml_rad: np.ndarray | None = None,
    acc_ap_mps2: np.ndarray | None = None,
    acc_ml_mps2: np.ndarray | None = None,
    fs_hz: float | None = None,
    strapdown_highpass_hz: float = 0.1,
    orientation_filter: str = "mahony",
) -> ComExcursion:
    """COM displacement (mm) from a trial, or from tilt / linear-acceleration arrays.

    With ``trial``: orientation by ``orientation_filter`` (dsp), then ``method``. Without:
    ``pendulum`` needs ``tilt_ap_rad, tilt_ml_rad``; ``strapdown`` needs gravity-free
    heading-frame ``acc_ap_mps2, acc_ml_mps2`` and ``fs_hz``. See
    :mod:`dmi_sensors.metrics.com` for the formulas.
    """
    if method not in COM_METHODS:
        raise ParameterError(f"method must be one of {COM_METHODS}, got {method!r}")
    if trial is not None:
        p = TrialAnalysisParams(com_height_m=com_height_m, orientation_filter=orientation_filter)
        _, bf, _ = _orientation(trial, p)
        tilt_ap_rad, tilt_ml_rad = bf.tilt_ap_rad, bf.tilt_ml_rad
        acc_ap_mps2, acc_ml_mps2 = bf.acc_apmlv_mps2[:, 0], bf.acc_apmlv_mps2[:, 1]
        fs_hz = trial.fs_hz
    if method == "pendulum":
        if tilt_ap_rad is None or tilt_ml_rad is None:
            raise ParameterError("the pendulum method needs tilt_ap_rad and tilt_ml_rad (or a trial)")
        return com_from_tilt(tilt_ap_rad, tilt_ml_rad, com_height_m)
    if acc_ap_mps2 is None or acc_ml_mps2 is None or fs_hz is None:
        raise ParameterError("the strapdown method needs acc_ap_mps2, acc_ml_mps2 and fs_hz (or a trial)")
    return com_from_linear_acc(
        acc_ap_mps2, acc_ml_mps2, fs_hz, com_height_m, sensor_height_m, highpass_hz=strapdown_highpass_hz
    )


def sway_signals(trial: Trial, params: TrialAnalysisParams) -> SwaySignals:
    """Steps 1-3 of the pipeline: the signals every metric is computed from."""
    fs = trial.fs_hz
    _, bf, orientation_info = _orientation(trial, params)
    lin_ap, lin_ml = bf.acc_apmlv_mps2[:, 0], bf.acc_apmlv_mps2[:, 1]
    if params.com_method == "pendulum":
        com = com_from_tilt(bf.tilt_ap_rad, bf.tilt_ml_rad, params.com_height_m)
    else:
        com = com_from_linear_acc(
            lin_ap, lin_ml, fs, params.com_height_m, params.sensor_height_m, params.strapdown_highpass_hz
        )
    com_xy = np.column_stack([com.com_ap_mm, com.com_ml_mm])
    com_xy = _lowpass(com_xy, fs, params.com_lowpass_hz)
    extra: dict = {"com": com.parameters, "orientation": orientation_info}
    if params.acc_frame == "gravity_removed":
        acc_ap, acc_ml = lin_ap, lin_ml
    else:
        acc_ap, acc_ml, tilt_info = static_tilt_correction(trial.acc_mps2)
        extra["static_tilt"] = tilt_info
    acc_xy = _lowpass(np.column_stack([acc_ap, acc_ml]), fs, params.acc_lowpass_hz)
    if params.com_method == "pendulum":
        # a_COM = d²x/dt² of the (unfiltered) pendulum COM, m/s²; TTS filters it before use
        x_m = np.column_stack([com.com_ap_mm, com.com_ml_mm]) / 1000.0
        com_acc = np.gradient(np.gradient(x_m, axis=0), axis=0) * fs * fs
        extra["tts_signal"] = "second derivative of the pendulum COM (central differences)"
    else:
        scale = com.parameters["sensor_to_com_scale"]
        com_acc = np.column_stack([lin_ap, lin_ml]) * scale
        extra["tts_signal"] = "gravity-free horizontal sensor acceleration × h_com/h_sensor"
    return SwaySignals(
        time_s=trial.time_s,
        fs_hz=fs,
        com_ap_mm=np.ascontiguousarray(com_xy[:, 0]),
        com_ml_mm=np.ascontiguousarray(com_xy[:, 1]),
        acc_ap_mps2=np.ascontiguousarray(acc_xy[:, 0]),
        acc_ml_mps2=np.ascontiguousarray(acc_xy[:, 1]),
        com_acc_mps2=com_acc,
        tilt_ap_rad=bf.tilt_ap_rad,
        tilt_ml_rad=bf.tilt_ml_rad,
        parameters=extra,
    )


def _perturbations(perturbations_s, events, duration_s: float) -> list[tuple[float, float]]:
    """(onset, end) of every perturbation: given times plus events of kind 'perturbation'."""
    out = [(float(t), float(t) + duration_s) for t in perturbations_s or ()]
    if events is not None and "kind" in events.columns:
        for _, row in events[events["kind"] == "perturbation"].iterrows():
            out.append((float(row["onset_s"]), float(row["onset_s"]) + float(row["duration_s"])))
    return sorted(set(out))


def _window_frame(
    sig: SwaySignals,
    starts: np.ndarray,
    stops: np.ndarray,
    tags: pd.DataFrame,
    kind: str,
    sensor_id: str,
    params: TrialAnalysisParams,
) -> pd.DataFrame:
    import pandas as pd

    metrics = window_metrics(
        sig.fs_hz,
        starts,
        stops,
        com_mm=(sig.com_ap_mm, sig.com_ml_mm),
        acc_mps2=(sig.acc_ap_mps2, sig.acc_ml_mps2),
        ellipse_method=params.ellipse_method,
        spectral=params.spectral,
    )
    no_windows = np.full(len(starts), np.nan)  # window_metrics leaves the spectra out then
    metrics["f50_ap_hz"] = metrics.get("acc_f50_ap_hz", no_windows)
    metrics["f95_ap_hz"] = metrics.get("acc_f95_ap_hz", no_windows)
    start_s, end_s = _window_times(sig, starts, stops)
    head = {
        "sensor_id": [sensor_id] * len(starts),
        "start_s": start_s,
        "end_s": end_s,
        **{c: tags[c].to_numpy() for c in TAG_COLUMNS},
        "window_kind": [kind] * len(starts),
    }
    return pd.DataFrame({**head, **metrics})


def _window_times(sig: SwaySignals, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (time of the first sample) and end (start + length / fs) of sample windows, s."""
    start_s = sig.time_s[starts]
    return start_s, start_s + (stops - starts) / sig.fs_hz


def analyse_trial(
    trial: Trial,
    events=None,
    window_s: float = 2.0,
    com_height_m: float | None = None,
    perturbations_s=(),
    *,
    params: TrialAnalysisParams | None = None,
    **param_overrides,
) -> TrialAnalysis:
    """Analyse one trunk-IMU trial: summary, windows and segments, time to stabilise.

    Parameters
    ----------
    trial
        Uniform samples in the body-aligned sensor frame (x forward, y left, z up).
    events
        Optional events DataFrame (``contract.EVENT_COLUMNS``): segments are analysed per
        row, sliding windows are tagged, rows of kind ``perturbation`` are TTS events.
    window_s
        Sliding-window length, s (adjacent windows unless ``step_s`` is given).
    com_height_m
        COM height above the pivot, m (required unless ``params`` carries it).
    perturbations_s
        Perturbation times, s on the trial clock; TTS is computed after each (event end
        = time + ``tts_event_duration_s``), up to the next one or the trial's end. Events
        of kind ``perturbation`` count too; with neither and ``detect_perturbations=True``
        they are detected in the COM acceleration (:func:`detect_events`).
    params
        Full :class:`TrialAnalysisParams`; ``param_overrides`` replace single fields.
    """
    import dataclasses

    import pandas as pd

    if params is None:
        if com_height_m is None:
            raise ParameterError("com_height_m (COM height above the pivot, m) is required: it differs per subject")
        params = TrialAnalysisParams(com_height_m=com_height_m, window_s=window_s, **param_overrides)
    elif param_overrides:
        params = dataclasses.replace(params, **param_overrides)
    if len(trial) < 3:
        raise ParameterError(f"trial has {len(trial)} samples; need at least 3")
    ev = None if events is None else normalise_events(events)
    sig = sway_signals(trial, params)
    fs = sig.fs_hz
    t0 = float(trial.time_s[0])
    t_end = t0 + len(trial) / fs
    warnings: list[str] = []
    bias_source = sig.parameters["orientation"]["gyro_bias_source"]
    if bias_source != params.gyro_bias:
        warnings.append(f"gyro bias not removed: {bias_source}")

    summary: dict = {}
    summary.update(prieto_measures(sig.com_ap_mm, sig.com_ml_mm, fs, params.ellipse_method, params.spectral))
    summary.update(isway_measures(sig.acc_ap_mps2, sig.acc_ml_mps2, fs, params.spectral))
    summary["f50_ap_hz"] = summary["acc_f50_ap_hz"]
    summary["f95_ap_hz"] = summary["acc_f95_ap_hz"]

    # time to stabilise after each perturbation, each method
    perts = _perturbations(perturbations_s, ev, params.tts_event_duration_s)
    for onset, _ in perts:
        if not t0 <= onset < t_end:
            warnings.append(
                f"perturbation at {onset:.3f} s lies outside the trial ({t0:.3f}-{t_end:.3f} s): no time to stabilise"
            )
    pert_source = "given" if perts else "none"
    if not perts and params.detect_perturbations:
        found = detect_events(sig.com_acc_mps2, fs, lowpass_hz=params.tts.lowpass_hz, t0_s=t0)
        perts = [(float(a), float(b)) for a, b in found]
        pert_source = "detected (dmi_sensors.metrics.detect_events: onset, peak as end)"
    stabilisation: list[dict] = []
    if perts:
        y = instability_signal(sig.com_acc_mps2, fs, params.tts.lowpass_hz)
        per_method: dict[str, list] = {m: [] for m in TTS_METHODS}
        exp_fit: dict[str, list] = {"tts_exp_time_constant_s": [], "tts_exp_y0_mps2": [], "tts_exp_yinf_mps2": []}
        for k, (onset, end) in enumerate(perts):
            stop = perts[k + 1][0] if k + 1 < len(perts) else None
            for method in TTS_METHODS:
                r = time_to_stabilise(
                    sig.com_acc_mps2,
                    fs,
                    end,
                    event_onset_s=onset,
                    method=method,
                    params=params.tts,
                    t0_s=t0,
                    stop_s=stop,
                    y=y,
                )
                per_method[method].append(r.tts_s if r.stable else None)
                if method == "exponential":
                    exp_fit["tts_exp_time_constant_s"].append(r.fit.get("time_constant_s"))
                    exp_fit["tts_exp_y0_mps2"].append(r.fit.get("y0_mps2"))
                    exp_fit["tts_exp_yinf_mps2"].append(r.fit.get("y_inf_mps2"))
                stabilisation.append({"perturbation_index": k, **r.to_dict()})
        one = len(perts) == 1
        names = {
            "moving_rms": "time_to_stabilise_s",
            "colby": "tts_colby_s",
            "polynomial": "tts_polynomial_s",
            "exponential": "tts_exponential_s",
        }
        for method, name in names.items():
            summary[name] = per_method[method][0] if one else per_method[method]
        for name, values in exp_fit.items():
            summary[name] = values[0] if one else values
        summary["time_to_stabilise_status"] = [s["status"] for s in stabilisation if s["method"] == "moving_rms"]

    # windows: sliding, then tagged segments
    frames = []
    starts, stops = sliding_windows(len(trial), fs, params.window_s, params.step_s)
    if len(starts):
        start_s, end_s = _window_times(sig, starts, stops)
        tags = tag_windows(pd.DataFrame({"start_s": start_s, "end_s": end_s}), ev)
        frames.append(_window_frame(sig, starts, stops, tags, "sliding", trial.sensor_id, params))
    if ev is not None:
        segments = segments_from_events(ev, fs, len(trial), t0)
        warnings.extend(segments.warnings(t0, t_end))
        if len(segments.starts):
            frames.append(
                _window_frame(sig, segments.starts, segments.stops, segments.tags, "segment", trial.sensor_id, params)
            )
    windows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=[*contract.WINDOW_COLUMNS, "window_kind"])
    )

    parameters = {
        "dmi_sensors_version": __version__,
        "analysis": params.to_dict(),
        "fs_hz": fs,
        "n_samples": len(trial),
        "duration_s": trial.duration_s,
        "sensor_id": trial.sensor_id,
        "perturbations": [{"onset_s": a, "end_s": b} for a, b in perts],
        "perturbations_source": pert_source,
        "signals": sig.parameters,
        "frames": {
            "input": "body-aligned sensor frame: x forward, y left, z up",
            "ap": "+ forward (heading frame)",
            "ml": "+ left",
        },
    }
    return TrialAnalysis(
        summary=summary, windows=windows, parameters=parameters, stabilisation=stabilisation, warnings=warnings
    )
