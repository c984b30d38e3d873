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
from dmi_sensors.metrics.com_two_segment import TWO_SEGMENT_PIVOTS, anthropometry, gate_weight, hip_deviation
from dmi_sensors.metrics.isway import isway_measures, noise_corrected_speed, sway_velocity
from dmi_sensors.metrics.levers import JOINT_FRAC, STANDING_PIVOT, com_lever_m
from dmi_sensors.metrics.noise import below_noise_floor, sensor_noise_rms
from dmi_sensors.metrics.prieto import ELLIPSE_METHODS, prieto_measures
from dmi_sensors.metrics.registry import (
    REGISTRY,
    absent_reason,
    floor_base,
    floor_name,
    has_noise_floor,
    noise_corrected,
)
from dmi_sensors.metrics.spectral import SpectralParams, spectral_measures
from dmi_sensors.metrics.structure import SampEnParams
from dmi_sensors.metrics.tilt import tilt_measures
from dmi_sensors.metrics.tts import (
    TTS_METHODS,
    TtsNoise,
    TtsParams,
    detect_events,
    select_decision_band,
    time_to_stabilise,
    tts_noise,
    tts_signal,
)
from dmi_sensors.metrics.windows import channel_spectral_windows, sliding_windows, window_metrics
from dmi_sensors.session.events import normalise_events
from dmi_sensors.session.model import BODY_HEIGHT_RANGE, COM_HEIGHT_RANGE
from dmi_sensors.session.vocab import POSTURE_ALIASES
from dmi_sensors.session.windows import TAG_COLUMNS, segments_from_events, tag_windows
from dmi_sensors.types import Trial

if TYPE_CHECKING:  # pandas is imported by the functions that build tables
    import pandas as pd

__all__ = [
    "ACC_FRAMES",
    "SUMMARY_KEYS",
    "SensorNoise",
    "SwaySignals",
    "TrialAnalysis",
    "TrialAnalysisParams",
    "analyse_trial",
    "com_excursion",
    "noise_replica",
    "pelvis_on_grid",
    "sensor_noise",
    "signals_and_replica",
    "static_tilt_correction",
    "sway_signals",
]

ACC_FRAMES = ("gravity_removed", "static_tilt")
ORIENTATION_FILTERS = ("mahony", "madgwick")
GYRO_BIAS = ("online", "trial_mean", "still", "none")
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
    gyro_bias: str = "online"
    initial_attitude: str = "backward_pass"
    initial_attitude_s: float = 1.0
    com_lowpass_hz: float | None = 5.0
    posture: str = "standing"
    support: str = "none"
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
    tilt_anchor_hz: float | None = 0.07
    velocity_highpass_hz: float = 0.1
    check_perturbations: bool = True
    perturbation_tolerance_s: float = 1.0
    acc_noise_rms_mps2: float | None = None
    gyr_noise_rms_rps: float | None = None
    pelvis_height_m: float | None = None
    body_height_m: float | None = None
    age_years: float | None = None
    two_segment_highpass_hz: float = 0.3
    two_segment_gate: float = 1.0
    sampen: SampEnParams = field(default_factory=SampEnParams)

    def __post_init__(self) -> None:
        COM_HEIGHT_RANGE.check(self.com_height_m)  # THE plausible range (session model), one clear line
        if self.pelvis_height_m is not None and not 0 < self.pelvis_height_m < 3:
            raise ParameterError(f"pelvis_height_m must be a height above the ankles, m; got {self.pelvis_height_m!r}")
        if self.body_height_m is not None:
            BODY_HEIGHT_RANGE.check(self.body_height_m)
        if self.age_years is not None and not 0 < self.age_years < 130:
            raise ParameterError(f"age_years must be between 0 and 130, got {self.age_years!r}")
        if not self.two_segment_highpass_hz > 0 or not self.two_segment_gate >= 0:
            raise ParameterError("two_segment_highpass_hz must be > 0 and two_segment_gate >= 0")
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
        if self.posture not in (*contract.POSTURES, "supported_standing"):
            raise ParameterError(f"posture must be one of {', '.join(contract.POSTURES)}, got {self.posture!r}")
        if self.support not in contract.SUPPORT_POINTS:
            raise ParameterError(f"support must be one of {', '.join(contract.SUPPORT_POINTS)}, got {self.support!r}")
        for name in ("acc_noise_rms_mps2", "gyr_noise_rms_rps"):
            v = getattr(self, name)
            if v is not None and not (v >= 0 and math.isfinite(v)):
                raise ParameterError(f"{name} must be a finite number >= 0 or None (estimate it), got {v!r}")
        if not self.perturbation_tolerance_s > 0:
            raise ParameterError(f"perturbation_tolerance_s must be positive, got {self.perturbation_tolerance_s!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["spectral"] = self.spectral.to_dict()
        d["tts"] = asdict(self.tts)
        d["sampen"] = self.sampen.to_dict()
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
    acc_static_ap_mps2: np.ndarray  # static-tilt (Moe-Nilssen) frame, low-passed: the literature's ISway frame
    acc_static_ml_mps2: np.ndarray
    vel_ap_mps: np.ndarray  # drift-free velocity of acc_ap/ml (ISway mean velocity), m/s
    vel_ml_mps: np.ndarray
    q: np.ndarray  # (n, 4) attitude body -> world (trunk tilt measures)
    lever_m: np.ndarray  # (n,) COM lever of each sample's posture and support, NaN: no pendulum
    posture: np.ndarray  # (n,) posture of each sample (object)
    com_abs_ap_mm: np.ndarray  # lever × sin θ, not de-meaned (one reference across pieces: the timeline)
    com_abs_ml_mm: np.ndarray
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
    perturbation_check: dict = field(default_factory=dict)

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
            "perturbation_check": _clean(self.perturbation_check),
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


#: The rest-phase tracking is used when at least this fraction of the trial is "at rest".
REST_COVERAGE_FOR_TRACKING = 0.6
#: The trunk counts as upright for the accelerometer anchoring within this tilt, rad (45°).
ANCHOR_UPRIGHT_RAD = math.pi / 4


def _anchor_residual_bias(q: np.ndarray, acc: np.ndarray, fs_hz: float, params: TrialAnalysisParams):
    """The gyro bias left after tracking, from the accelerometer at long periods (rad/s, ``(n, 3)``).

    The fused tilt ``θ`` and the accelerometer's own tilt ``θ_a`` (:func:`dmi_sensors.dsp.tilt_from_acc`)
    differ by the sway's inertial acceleration (fast, zero-mean: h·ω²/g of the tilt, 0.6 %
    at 0.05 Hz) and by the orientation's error (slow: a bias residual δb leaves ``e`` with
    ``ė = δb - k_p e`` in a Mahony filter). A zero-phase 2nd-order Butterworth low-pass at
    ``tilt_anchor_hz`` (0.07 Hz; the ends mirror-extended by one period) keeps the slow part,
    ``e``, and the residual is ``δb = ė + k_p e`` per tilt axis: gyro y for AP, -x for ML
    (upright trunk; samples tilted more than 45° contribute nothing). Only the tilt axes are
    observable. Returns None when no sample is upright or the trial is shorter than the
    filter's padding.
    """
    from dmi_sensors import dsp

    tilt_ap, tilt_ml = dsp.tilt_angles(q)
    acc_ap, acc_ml = dsp.tilt_from_acc(acc)
    upright = (np.abs(tilt_ap) < ANCHOR_UPRIGHT_RAD) & (np.abs(tilt_ml) < ANCHOR_UPRIGHT_RAD)
    upright &= np.isfinite(acc_ap) & np.isfinite(acc_ml)
    if not np.any(upright):
        return None
    fc = float(params.tilt_anchor_hz or 0.0)
    n = acc.shape[0]
    if not (0.0 < fc < fs_hz / 2) or n < 16:
        return None
    diff = np.column_stack([tilt_ap - acc_ap, tilt_ml - acc_ml])
    diff[~upright] = 0.0
    e = dsp.filtfilt(dsp.butter_lowpass(fc, fs_hz, 2), diff, padlen=min(n - 1, round(fs_hz / fc)), padtype="even")
    e_dot = np.gradient(e, 1.0 / fs_hz, axis=0)
    d = e_dot + params.mahony_kp * e
    d[~upright] = 0.0
    residual = np.zeros((acc.shape[0], 3))
    residual[:, 1] = d[:, 0]
    residual[:, 0] = -d[:, 1]
    return residual


def _orientation(trial: Trial, params: TrialAnalysisParams):
    """Quaternions and body frame from the dsp orientation filter (see TrialAnalysisParams)."""
    from dmi_sensors import dsp

    gyr = trial.gyr_rps
    bias_source = params.gyro_bias
    extra_info: dict = {}
    if params.gyro_bias == "online":
        # rest-phase tracking forward and backward, fused (dsp.track_gyro_bias_offline),
        # starting from the trial's mean rate: a drifting bias is followed, a constant one kept
        # Used where the trial is mostly at rest: short "rest" episodes inside a child's lively
        # sway read the sway's own slow rate as bias; the accelerometer anchoring below then
        # follows the drift instead, from the trial's mean rate.
        tracked = dsp.track_gyro_bias_offline(trial.acc_mps2, gyr, trial.fs_hz, gyr.mean(axis=0))
        coverage = min(tracked.rest_fraction_forward, tracked.rest_fraction_backward)
        if coverage >= REST_COVERAGE_FOR_TRACKING:
            bias = tracked.bias_rps
            bias_source = "online (rest-phase tracking, forward and backward)"
        else:
            bias = gyr.mean(axis=0)
            bias_source = f"online: trial mean (rest on {100 * coverage:.0f} % of the trial only)"
        extra_info = {
            "gyro_bias_rest_fraction": [tracked.rest_fraction_forward, tracked.rest_fraction_backward],
            "gyro_bias_range_rps": (np.ptp(bias, axis=0) if bias.ndim == 2 else np.zeros(3)).tolist(),
        }
    elif params.gyro_bias == "trial_mean":
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
    acc = trial.acc_mps2

    def fuse(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if params.initial_attitude == "backward_pass":
            # run the same filter backwards in time (negated rates) from the end's mean attitude:
            # its final state is a converged estimate of the attitude at the first sample
            q_end = dsp.attitude_from_acc(acc[-n0:].mean(axis=0))
            q0 = make(q_end).process(acc[::-1], -g[::-1])[-1].copy()
        else:
            q0 = dsp.attitude_from_acc(acc[:n0].mean(axis=0))
        return make(q0).process(acc, g), q0

    g = gyr - bias
    q, q0 = fuse(g)
    if params.tilt_anchor_hz is not None and params.orientation_filter == "mahony" and len(trial) > 3:
        residual = _anchor_residual_bias(q, acc, trial.fs_hz, params)
        if residual is not None:
            q, q0 = fuse(g - residual)
            extra_info["tilt_anchor_residual_mean_rps"] = residual.mean(axis=0).tolist()
            extra_info["tilt_anchor_residual_rms_rps"] = np.sqrt(np.mean(residual**2, axis=0)).tolist()
    mean_bias = bias.mean(axis=0) if bias.ndim == 2 else bias
    info = {
        "gyro_bias_rps": mean_bias.tolist(),
        "gyro_bias_source": bias_source,
        "initial_attitude_q": q0.tolist(),
        **extra_info,
    }
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


def com_levers(time_s: np.ndarray, params: TrialAnalysisParams, events=None) -> tuple[np.ndarray, np.ndarray]:
    """The COM lever (m) and the posture at every sample.

    Default: ``params.posture`` / ``params.support``. Every exercise row of ``events`` (kind
    ``exercise``, or any row with a duration and no repetition when there is no ``kind``)
    that names a posture sets its own for ``[onset, onset + duration)``, with its ``support``
    (empty: none). The lever is :func:`dmi_sensors.metrics.levers.com_lever_m` of the
    subject's ``com_height_m``; NaN where the posture has no pendulum (four-point, lying, ...).
    """
    lever, posture, _ = _sample_models(time_s, params, events)
    return lever, posture


def _pivot_of(posture: str, support: str) -> str:
    """The joint a posture and support sway about (``""``: no pendulum)."""
    if posture == "sitting":
        return "hip"
    if posture in ("standing", "supported_standing"):
        return STANDING_PIVOT.get(support or "none", "ankle")
    return ""


def _sample_models(time_s: np.ndarray, params: TrialAnalysisParams, events=None):
    """``(lever_m, posture, pivot)`` per sample (:func:`com_levers`; ``pivot``: the joint, or "")."""
    n = time_s.shape[0]
    default = com_lever_m(params.com_height_m, params.posture, params.support)
    lever = np.full(n, np.nan if default is None else default)
    posture = np.full(n, params.posture, dtype=object)
    pivot = np.full(n, _pivot_of(params.posture, params.support), dtype=object)
    if events is None or len(events) == 0 or contract.POSTURE not in events.columns:
        return lever, posture, pivot
    ev = events
    if contract.KIND in ev.columns and ev[contract.KIND].notna().any():
        ev = ev[ev[contract.KIND] == "exercise"]
    else:
        rep = pd_numeric(ev[contract.REPETITION]) if contract.REPETITION in ev.columns else 0
        ev = ev[(ev[contract.DURATION_S] > 0) & (rep == 0)]
    for row in ev.itertuples(index=False):
        p = getattr(row, contract.POSTURE, "")
        if not isinstance(p, str) or not p:
            continue
        p = POSTURE_ALIASES.get(p, p)
        sup = getattr(row, contract.SUPPORT, "")
        sup = sup if isinstance(sup, str) and sup else "none"
        onset = float(getattr(row, contract.ONSET_S))
        sel = (time_s >= onset) & (time_s < onset + float(getattr(row, contract.DURATION_S)))
        value = com_lever_m(params.com_height_m, p, sup)
        lever[sel] = np.nan if value is None else value
        posture[sel] = p
        pivot[sel] = _pivot_of(p, sup) if value is not None else ""
    return lever, posture, pivot


def pelvis_on_grid(trial: Trial, pelvis: Trial) -> Trial:
    """The pelvis samples on the trunk trial's time grid (linear interpolation of each channel;
    both trials on one clock). Raises :class:`ParameterError` unless the pelvis covers the trunk
    trial's time span (to within one sample)."""
    t = trial.time_s
    tp = pelvis.time_s
    if len(pelvis) < 2 or tp[0] > t[0] + 1.0 / trial.fs_hz or tp[-1] < t[-1] - 1.0 / trial.fs_hz:
        span = f"{tp[0]:.3f}-{tp[-1]:.3f} s" if len(pelvis) else "no samples"
        raise ParameterError(
            f"the pelvis recording ({span}) does not cover the trunk trial ({t[0]:.3f}-{t[-1]:.3f} s): "
            "both CSVs must share one time base (time_s since the same start)"
        )
    if len(pelvis) == len(trial) and np.allclose(tp, t, atol=1e-9):
        return pelvis
    acc = np.column_stack([np.interp(t, tp, pelvis.acc_mps2[:, i]) for i in range(3)])
    gyr = np.column_stack([np.interp(t, tp, pelvis.gyr_rps[:, i]) for i in range(3)])
    return Trial(t.copy(), acc, gyr, trial.fs_hz, pelvis.sensor_id)


@dataclass
class TwoSegmentInput:
    """The pelvis side of a two-segment COM: the pelvis trial on the trunk's grid and, from a
    noise-only replica, the mean square of the hip deviation that noise alone gives (m², the
    gate's level; None: the trial's own quiet level)."""

    pelvis: Trial
    noise_ms_m2: float | None = None


def _two_segment_delta(
    trial: Trial, params: TrialAnalysisParams, two: TwoSegmentInput, s_raw: np.ndarray, pivot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(δ (n, 2) m, k(t) = A/L1 per sample (0: one segment), parameters)``."""
    _, bf_p, p_info = _orientation(two.pelvis, params)
    h = params.com_height_m
    h2 = float(params.pelvis_height_m) if params.pelvis_height_m is not None else h
    anth = anthropometry(params.age_years, params.body_height_m)
    k = np.zeros(len(trial))
    h2_pivot = np.full(len(trial), h2)
    for joint in TWO_SEGMENT_PIVOTS:
        sel = pivot == joint
        k[sel] = anth.a_over_l1(joint)
        h2_pivot[sel] = h2 - JOINT_FRAC[joint] * h
    h2_pivot = np.maximum(h2_pivot, 0.05 * h)
    delta = hip_deviation(bf_p.acc_apmlv_mps2[:, :2], s_raw, h2_pivot, trial.fs_hz, params.two_segment_highpass_hz)
    delta[k == 0] = 0.0
    two_rows = k > 0
    raw_ms = float(np.mean(np.sum(delta[two_rows] ** 2, axis=1))) if np.any(two_rows) else 0.0
    w = np.ones(len(trial))
    if params.two_segment_gate > 0:
        w = gate_weight(delta, trial.fs_hz, two.noise_ms_m2, factor=params.two_segment_gate)
    info = {
        "com_model": "two_segment" if np.any(k > 0) else "single_segment",
        "two_segment_fraction": float(np.mean(k > 0)),
        "pelvis_height_m": h2,
        "pelvis_height_source": "given" if params.pelvis_height_m is not None else "default: com_height_m (sacrum)",
        "two_segment_highpass_hz": params.two_segment_highpass_hz,
        "two_segment_gate": params.two_segment_gate,
        "gate_noise_ms_m2": two.noise_ms_m2,
        "hip_deviation_ms_raw_m2": raw_ms,
        "gate_mean_weight": float(np.mean(w[k > 0])) if np.any(k > 0) else 0.0,
        "anthropometry": anth.to_dict(),
        "pelvis_orientation": p_info,
        "formula": "x = L(t)·sin θ_trunk + (A/L1)·w(t)·δ, δ = ∬ LP(a_pelvis - H2·(sin θ_trunk)'') "
        "(metrics.com_two_segment)",
    }
    return delta * w[:, None], k, info


def pd_numeric(values) -> np.ndarray:
    """A column as floats, missing values as 0."""
    import pandas as pd

    return pd.to_numeric(values, errors="coerce").fillna(0).to_numpy(dtype=np.float64)


def sway_signals(
    trial: Trial, params: TrialAnalysisParams, events=None, two_segment: TwoSegmentInput | None = None
) -> SwaySignals:
    """Steps 1-3 of the pipeline: the signals every metric is computed from.

    ``events`` (optional): exercise rows with a posture and support set the COM lever of
    their samples (:func:`com_levers`); where the posture has no pendulum the COM is NaN.
    ``two_segment`` (optional, pendulum method): a pelvis sensor on the same grid -- standing
    free or held at the knees the COM is the two-segment estimate
    (:mod:`dmi_sensors.metrics.com_two_segment`), elsewhere the trunk-only pendulum.
    """
    fs = trial.fs_hz
    q, bf, orientation_info = _orientation(trial, params)
    lin_ap, lin_ml = bf.acc_apmlv_mps2[:, 0], bf.acc_apmlv_mps2[:, 1]
    lever, posture, pivot = _sample_models(trial.time_s, params, events)
    valid = np.isfinite(lever)
    extra: dict = {"orientation": orientation_info}
    hip_m: np.ndarray | None = None
    if params.com_method == "pendulum":
        # the low-pass on sin θ (finite everywhere), then the lever (NaN where no pendulum)
        s_raw = np.column_stack([np.sin(bf.tilt_ap_rad), np.sin(bf.tilt_ml_rad)])
        s_xy = _lowpass(s_raw, fs, params.com_lowpass_hz)
        com_abs = 1000.0 * lever[:, None] * s_xy
        if two_segment is not None:
            delta, k, two_info = _two_segment_delta(trial, params, two_segment, s_raw, pivot)
            hip_m = k[:, None] * delta
            hip_mm = 1000.0 * _lowpass(hip_m, fs, params.com_lowpass_hz)
            com_abs = com_abs + hip_mm
            extra["two_segment"] = two_info
            extra["hip_deviation_rms_mm"] = (1000.0 * np.sqrt(np.mean(delta**2, axis=0))).tolist()
        com = com_from_tilt(s_xy[:, 0], s_xy[:, 1], params.com_height_m, lever_m=lever)
        com_xy = np.column_stack([com.com_ap_mm, com.com_ml_mm])
        if two_segment is not None:
            com_xy = com_abs - np.nanmean(com_abs[valid], axis=0) if np.any(valid) else com_abs
            com_xy[~valid] = np.nan
    else:
        com = com_from_linear_acc(
            lin_ap, lin_ml, fs, params.com_height_m, params.sensor_height_m, params.strapdown_highpass_hz
        )
        com_xy = _lowpass(np.column_stack([com.com_ap_mm, com.com_ml_mm]), fs, params.com_lowpass_hz)
        com_xy[~valid] = np.nan
        com_abs = com_xy.copy()
    extra["com"] = {
        **com.parameters,
        "com_model": extra.get("two_segment", {}).get("com_model", "single_segment"),
        "posture": params.posture,
        "support": params.support,
        "lever_m": [round(float(v), 6) for v in np.unique(lever[valid])],
    }
    vel: tuple[np.ndarray, np.ndarray]
    st_ap, st_ml, tilt_info = static_tilt_correction(trial.acc_mps2)
    extra["static_tilt"] = tilt_info
    st_xy = _lowpass(np.column_stack([st_ap, st_ml]), fs, params.acc_lowpass_hz)
    if params.acc_frame == "gravity_removed":
        acc_xy = _lowpass(np.column_stack([lin_ap, lin_ml]), fs, params.acc_lowpass_hz)
    else:
        acc_xy = st_xy
    vel = sway_velocity(acc_xy[:, 0], acc_xy[:, 1], fs, params.velocity_highpass_hz)
    if params.com_method == "pendulum":
        # a_COM = L·d²(sin θ)/dt² of the (unfiltered) pendulum COM, m/s²; 0 where there is no
        # pendulum (a TTS there is "not determined"); TTS filters it before use
        s_raw = np.column_stack([np.sin(bf.tilt_ap_rad), np.sin(bf.tilt_ml_rad)])
        com_acc = np.gradient(np.gradient(s_raw, axis=0), axis=0) * fs * fs * np.where(valid, lever, 0.0)[:, None]
        if hip_m is not None:  # + (A/L1)·δ'' of the two-segment model
            com_acc = com_acc + np.gradient(np.gradient(hip_m, axis=0), axis=0) * fs * fs
        extra["tts_signal"] = "second derivative of the pendulum COM (central differences)"
    else:
        scale = com.parameters["sensor_to_com_scale"]
        com_acc = np.column_stack([lin_ap, lin_ml]) * scale
        com_acc[~valid] = 0.0
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
        acc_static_ap_mps2=np.ascontiguousarray(st_xy[:, 0]),
        acc_static_ml_mps2=np.ascontiguousarray(st_xy[:, 1]),
        vel_ap_mps=vel[0],
        vel_ml_mps=vel[1],
        q=q,
        lever_m=lever,
        posture=posture,
        com_abs_ap_mm=np.ascontiguousarray(com_abs[:, 0]),
        com_abs_ml_mm=np.ascontiguousarray(com_abs[:, 1]),
        parameters=extra,
    )


def _perturbations(perturbations_s, events, duration_s: float) -> list[tuple[float, float]]:
    """(onset, end) of every perturbation: given times plus events of kind 'perturbation'."""
    out = [(float(t), float(t) + duration_s) for t in perturbations_s or ()]
    if events is not None and "kind" in events.columns:
        for _, row in events[events["kind"] == "perturbation"].iterrows():
            out.append((float(row["onset_s"]), float(row["onset_s"]) + float(row["duration_s"])))
    return sorted(set(out))


@dataclass(frozen=True)
class SensorNoise:
    """White-noise RMS per sample of the trial's accelerometer (m/s²) and gyroscope (rad/s)
    axes, and where the numbers came from (``"high band"`` of the trial's own PSD,
    ``"given"``)."""

    acc_rms_mps2: tuple[float, float, float]
    gyr_rms_rps: tuple[float, float, float]
    source: str

    @property
    def any(self) -> bool:
        return max(*self.acc_rms_mps2, *self.gyr_rms_rps) > 0.0

    def to_dict(self) -> dict:
        return {"acc_rms_mps2": list(self.acc_rms_mps2), "gyr_rms_rps": list(self.gyr_rms_rps), "source": self.source}


def sensor_noise(trial: Trial, params: TrialAnalysisParams) -> SensorNoise:
    """The trial's sensor noise: ``params.acc_noise_rms_mps2`` / ``gyr_noise_rms_rps`` when
    given (same on every axis), else estimated from the trial's own high band
    (:func:`dmi_sensors.metrics.noise.sensor_noise_rms`)."""
    sources = []
    if params.acc_noise_rms_mps2 is not None:
        a = np.full(3, float(params.acc_noise_rms_mps2))
        sources.append("acc given")
    else:
        a = sensor_noise_rms(trial.acc_mps2, trial.fs_hz)
        sources.append("acc from the high band (0.6-0.95 × Nyquist)")
    if params.gyr_noise_rms_rps is not None:
        g = np.full(3, float(params.gyr_noise_rms_rps))
        sources.append("gyr given")
    else:
        g = sensor_noise_rms(trial.gyr_rps, trial.fs_hz)
        sources.append("gyr from the high band (0.6-0.95 × Nyquist)")
    acc = (float(a[0]), float(a[1]), float(a[2]))
    gyr = (float(g[0]), float(g[1]), float(g[2]))
    return SensorNoise(acc, gyr, "; ".join(sources))


#: Seed of the noise-only replica (fixed: the same trial always gets the same noise floors).
REPLICA_SEED = 0x5EED


def noise_replica(
    trial: Trial,
    params: TrialAnalysisParams,
    noise: SensorNoise,
    events=None,
    pelvis: Trial | None = None,
    pelvis_noise: SensorNoise | None = None,
) -> SwaySignals:
    """:func:`sway_signals` of a noise-only replica of ``trial``: the same length, rate and
    mean specific force (the same static attitude), no motion, white Gaussian noise of the
    trial's sensor noise on every axis (seed :data:`REPLICA_SEED`). Every metric of it is
    that metric's noise floor for this trial (:mod:`dmi_sensors.metrics.noise`). With a
    ``pelvis`` (on the trial's grid) it gets its own replica (``pelvis_noise``) and the COM is
    the two-segment estimate of the two replicas, its gate at the replica's own hip-deviation
    level; ``parameters["hip_deviation_ms_m2"]`` then holds that level (the trial's gate)."""
    rng = np.random.default_rng(REPLICA_SEED)
    replica = _replica_trial(trial, noise, rng)
    if pelvis is None:
        return sway_signals(replica, params, events)
    p_rep = _replica_trial(pelvis, pelvis_noise or noise, rng)
    out = sway_signals(replica, params, events, TwoSegmentInput(p_rep))
    out.parameters["hip_deviation_ms_m2"] = out.parameters["two_segment"]["hip_deviation_ms_raw_m2"]
    return out


def signals_and_replica(
    trial: Trial,
    params: TrialAnalysisParams,
    events=None,
    pelvis: Trial | None = None,
    noise: SensorNoise | None = None,
) -> tuple[SwaySignals, SwaySignals | None]:
    """:func:`sway_signals` of the trial and of its noise-only replica (None without sensor
    noise). With a ``pelvis`` sensor (pendulum method) the COM is the two-segment estimate,
    its gate at the replica's hip-deviation level (:mod:`dmi_sensors.metrics.com_two_segment`)."""
    noise = noise if noise is not None else sensor_noise(trial, params)
    pelvis_noise: SensorNoise | None = None
    if pelvis is not None and params.com_method == "pendulum":
        pelvis = pelvis_on_grid(trial, pelvis)
        pelvis_noise = sensor_noise(pelvis, params)
    else:
        pelvis = None
    replica = noise_replica(trial, params, noise, events, pelvis, pelvis_noise) if noise.any else None
    two = None
    if pelvis is not None:
        level = replica.parameters.get("hip_deviation_ms_m2") if replica is not None else None
        two = TwoSegmentInput(pelvis, level)
    return sway_signals(trial, params, events, two), replica


def signals_with_gate(
    trial: Trial, params: TrialAnalysisParams, events, pelvis: Trial, gate_noise_ms_m2: float | None
) -> SwaySignals:
    """:func:`signals_and_replica`'s trial signals (its first element) when the two-segment gate's
    level is already known (``gate_noise_ms_m2``: what the replica gave, stored by the session
    analysis, summary ``com_gate_noise_ms_m2``): the same arrays, without sway signals of a
    replica. ``pelvis``: the pelvis piece covering the trial."""
    two = TwoSegmentInput(pelvis_on_grid(trial, pelvis), gate_noise_ms_m2) if params.com_method == "pendulum" else None
    return sway_signals(trial, params, events, two)


def _replica_trial(trial: Trial, noise: SensorNoise, rng: np.random.Generator) -> Trial:
    n = len(trial)
    g = trial.acc_mps2.mean(axis=0)
    acc = g + rng.standard_normal((n, 3)) * np.asarray(noise.acc_rms_mps2)
    gyr = rng.standard_normal((n, 3)) * np.asarray(noise.gyr_rms_rps)
    return Trial(trial.time_s.copy(), acc, gyr, trial.fs_hz, trial.sensor_id)


def _stabilisation(
    sig: SwaySignals,
    params: TrialAnalysisParams,
    perts: list[tuple[float, float]],
    t0: float,
    t_end: float,
    replica: SwaySignals | None,
) -> tuple[list[dict], dict, list[str]]:
    """Every TTS method after every perturbation, plus the perturbation check.

    The check (``params.check_perturbations``): bursts are detected in the same signal
    (:func:`detect_events`); a given perturbation outside the trial, one with no response
    above the threshold, and a detected burst with no given perturbation within
    ``perturbation_tolerance_s`` are each reported (warning + the JSON ``perturbation_check``).
    Each perturbation is analysed up to the next one, given or detected.
    """
    fs = sig.fs_hz
    tol = params.perturbation_tolerance_s
    warnings: list[str] = []
    detected = np.empty((0, 2))
    if params.check_perturbations:
        detected = detect_events(sig.com_acc_mps2, fs, lowpass_hz=params.tts.lowpass_hz, t0_s=t0)
    events = [*perts, *((float(a), float(b)) for a, b in detected)]
    tts_params = params.tts
    band_info: dict = {"decision_lowpass_hz": params.tts.decision_lowpass_hz, "tried": []}
    if replica is not None:
        tts_params, band_info = select_decision_band(sig.com_acc_mps2, replica.com_acc_mps2, fs, params.tts, events, t0)
    noise = (
        tts_noise(replica.com_acc_mps2, fs, tts_params, "noise-only replica of the trial (same pipeline)")
        if replica is not None
        else TtsNoise()
    )
    given_onsets = np.array([a for a, _ in perts], dtype=np.float64)
    unmatched = [
        (float(a), float(b)) for a, b in detected if not (given_onsets.size and np.min(np.abs(given_onsets - a)) <= tol)
    ]
    outside = [a for a, _ in perts if not t0 <= a < t_end]
    for a in outside:
        warnings.append(
            f"perturbation at {a:.3f} s lies outside the trial ({t0:.3f}-{t_end:.3f} s): no time to stabilise"
        )
    prepared = tts_signal(sig.com_acc_mps2, fs, tts_params, t0)
    reference = prepared.quiet_reference(events, noise)
    boundaries = sorted({a for a, _ in perts} | {a for a, _ in unmatched})
    stabilisation: list[dict] = []
    no_response: list[float] = []
    prev_end: float | None = None
    for k, (onset, end) in enumerate(perts):
        later = [b for b in boundaries if b > onset + 1e-9]
        stop = later[0] if later else None
        i_on = int(np.clip(round((onset - t0) * fs), 0, len(sig.lever_m) - 1))
        invalid = absent_reason("time_to_stabilise_s", str(sig.posture[i_on])) if t0 <= onset < t_end else None
        for method in TTS_METHODS:
            if invalid:  # no pendulum, no COM acceleration to time
                stabilisation.append(
                    {
                        "perturbation_index": k,
                        "method": method,
                        "tts_s": None,
                        "stable": False,
                        "status": f"not determined: {invalid}",
                        "event_onset_s": onset,
                        "event_end_s": end,
                        "trial_after_s": (stop if stop is not None else t_end) - end,
                        "parameters": {},
                        "fit": {},
                    }
                )
                continue
            r = time_to_stabilise(
                None,
                fs,
                end,
                event_onset_s=onset,
                method=method,
                params=tts_params,
                stop_s=stop,
                baseline_from_s=prev_end,
                noise=noise,
                prepared=prepared,
                quiet_high_m2_s4=reference["quiet_high_m2_s4"],
            )
            if method == "moving_rms" and r.status.endswith("response below threshold") and t0 <= onset < t_end:
                no_response.append(onset)
            stabilisation.append({"perturbation_index": k, **r.to_dict()})
        prev_end = end if prev_end is None else max(prev_end, end)
    for a in no_response:
        warnings.append(
            f"perturbation at {a:.3f} s: no response above the quiet level's threshold within "
            f"{params.tts.response_window_s:g} s (is the time right?): time to stabilise not determined"
        )
    if params.check_perturbations and perts:
        for a, _ in unmatched:
            warnings.append(
                f"a burst at {a:.3f} s looks like a perturbation but none was given within {tol:g} s: "
                "give its time too (--perturbation-at-s) or use --detect-perturbations"
            )
    check = {
        "checked": bool(params.check_perturbations),
        "given_onsets_s": [a for a, _ in perts],
        "detected_onsets_s": [float(a) for a, _ in detected],
        "tolerance_s": tol,
        "outside_trial_s": outside,
        "without_response_s": no_response,
        "detected_not_given_s": [a for a, _ in unmatched] if perts else [],
        "quiet_reference": reference,
        "decision_band": band_info,
        "tts_noise": noise.to_dict(),
    }
    check["consistent"] = not (outside or no_response or check["detected_not_given_s"])
    return stabilisation, check, warnings


def _summary_floors(summary: dict, replica: SwaySignals | None, params: TrialAnalysisParams) -> dict:
    """``<metric>_floor<unit>`` for every summary metric with a reported noise floor (the
    metric of the noise-only replica), and ``below_noise_floor``: the metrics whose value is
    under 1.25 × its floor (frequency measures follow their signal's band power)."""
    if replica is None:
        return {"below_noise_floor": []}
    fs = replica.fs_hz
    floors: dict = {}
    if np.all(np.isfinite(replica.com_ap_mm)):
        floors.update(prieto_measures(replica.com_ap_mm, replica.com_ml_mm, fs, params.ellipse_method, params.spectral))
    floors.update(
        isway_measures(replica.acc_ap_mps2, replica.acc_ml_mps2, fs, params.spectral, params.velocity_highpass_hz)
    )
    floors.update({k: float(v[0]) for k, v in tilt_measures(replica.q, fs).items()})
    out: dict = {}
    below: list[str] = []
    for name, value in summary.items():
        if name in REGISTRY and has_noise_floor(name) and name in floors:
            out[floor_name(name)] = floors[name]
            if below_noise_floor(value, floors[name], squared="²" in REGISTRY[name].unit):
                below.append(name)
    for name in summary:
        spec_ = REGISTRY.get(name)
        if spec_ is None or has_noise_floor(name) or not spec_.noise_floor.startswith("none of its own"):
            continue
        for power in _band_power_of(name):
            if power in below:
                below.append(name)
                break
    out["below_noise_floor"] = below
    for name, value in summary.items():  # RMS and mean speed: the noise adds in power
        if name in REGISTRY and noise_corrected(name) and name in floors and value is not None:
            out[name] = float(noise_corrected_speed(value, floors[name]))
    return out


#: Column of the window table (and key of a summary) saying which metrics are absent and why.
METRICS_ABSENT = contract.METRICS_ABSENT


def absent_note(reasons: dict[str, str], posture: str) -> str:
    """One line for a table: which families of metrics are absent and why, in short
    (``"COM, ISway not reported in four_point: no inverted-pendulum model; ..."``; ``""``: none)."""
    if not reasons:
        return ""
    families: list[str] = []
    why: list[str] = []
    for name, reason in reasons.items():
        fam = (
            "TTS"
            if (name.startswith("t") and "stabilise" in name) or name.startswith("tts_")
            else ("COM" if name.startswith("com_") else "ISway")
        )
        if fam not in families:
            families.append(fam)
        short = reason.split(": ", 1)[-1].split(" (")[0].split(";")[0]
        if short not in why:
            why.append(short)
    return f"{', '.join(families)} not reported in {posture}: " + "; ".join(why)


def _absent(names: list[str], postures: list[str]) -> dict[str, str]:
    """Metric name -> why it is not reported, for every registered metric among ``names`` whose
    model does not hold in one of ``postures`` (and its noise floor, which goes with it)."""
    out: dict[str, str] = {}
    for name in names:
        base = name if name in REGISTRY else floor_base(name)
        if base is None:
            continue
        for posture in postures:
            reason = absent_reason(base, posture)
            if reason:
                out[name] = reason
                break
    return out


def _band_power_of(name: str) -> tuple[str, ...]:
    """The amplitude measures whose being below the noise floor makes frequency measure ``name`` noise too."""
    prefix = "com" if name.startswith("com_") else "acc"
    axis = "_ap" if "_ap" in name else "_ml" if "_ml" in name else ""
    unit = "mm2" if prefix == "com" else "m2_s4"
    if prefix == "com" and axis == "":
        return ("com_rms_mm",)
    if name in ("acc_mean_freq_hz",):
        return ("acc_rms_mps2",)
    if name in ("f50_ap_hz", "f95_ap_hz"):
        return ("acc_power_ap_m2_s4",)
    return (f"{prefix}_power{axis}_{unit}",)


def _window_frame(
    sig: SwaySignals,
    starts: np.ndarray,
    stops: np.ndarray,
    tags: pd.DataFrame,
    kind: str,
    sensor_id: str,
    params: TrialAnalysisParams,
    replica: SwaySignals | None = None,
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
        velocity_mps=(sig.vel_ap_mps, sig.vel_ml_mps),
        sampen=params.sampen,
    )
    static = channel_spectral_windows(sig.acc_static_ap_mps2, starts, stops, sig.fs_hz, params.spectral)
    metrics["f50_ap_hz"] = static["f50"]
    metrics["f95_ap_hz"] = static["f95"]
    metrics.update(tilt_measures(sig.q, sig.fs_hz, starts, stops))
    if replica is not None:
        floors = window_metrics(
            replica.fs_hz,
            starts,
            stops,
            com_mm=(replica.com_ap_mm, replica.com_ml_mm),
            acc_mps2=(replica.acc_ap_mps2, replica.acc_ml_mps2),
            ellipse_method=params.ellipse_method,
            spectral=params.spectral,
            velocity_mps=(replica.vel_ap_mps, replica.vel_ml_mps),
            sampen=None,  # no noise floor of its own (a shape, registry)
        )
        floors.update(tilt_measures(replica.q, replica.fs_hz, starts, stops))
        for name in [m for m in metrics if m in REGISTRY and has_noise_floor(m)]:
            metrics[floor_name(name)] = floors[name]
            if noise_corrected(name):  # RMS and mean speed: the noise adds in power
                metrics[name] = noise_corrected_speed(metrics[name], floors[name])
    # posture of each window: its tag, else the posture of its middle sample
    mid = np.clip((starts + stops) // 2, 0, max(len(sig.posture) - 1, 0))
    tagged = tags[contract.POSTURE].to_numpy(dtype=object) if len(tags) else np.array([], dtype=object)
    postures = [str(t) if isinstance(t, str) and t else str(sig.posture[m]) for t, m in zip(tagged, mid, strict=True)]
    absent_col = []
    by_posture: dict[str, dict[str, str]] = {}
    names = list(metrics)
    for w, posture in enumerate(postures):
        if posture not in by_posture:
            by_posture[posture] = _absent(names, [posture])
        reasons = by_posture[posture]
        for name in reasons:
            metrics[name] = np.array(metrics[name], dtype=np.float64)
            metrics[name][w] = np.nan
        absent_col.append(absent_note(reasons, posture))
    start_s, end_s = _window_times(sig, starts, stops)
    head = {
        "sensor_id": [sensor_id] * len(starts),
        "start_s": start_s,
        "end_s": end_s,
        **{c: tags[c].to_numpy() for c in TAG_COLUMNS},
        "window_kind": [kind] * len(starts),
    }
    return pd.DataFrame({**head, **metrics, METRICS_ABSENT: absent_col})


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
    pelvis: Trial | None = None,
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
    pelvis
        Optional second sensor on the pelvis (sacrum), body-aligned, on the same clock (its
        samples are interpolated onto the trunk's grid): standing free or held at the knees
        the COM is then the two-segment estimate (legs + upper body,
        :mod:`dmi_sensors.metrics.com_two_segment`; ``pelvis_height_m``, ``body_height_m``,
        ``age_years``, ``two_segment_*`` parameters). ``summary["com_model"]`` says which model
        gave the COM (``two_segment`` / ``single_segment``).
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
    # sensor noise -> noise-only replica (noise floors, the TTS signal's noise; with a pelvis
    # sensor also the two-segment gate's level) -> the trial's signals
    noise = sensor_noise(trial, params)
    sig, replica = signals_and_replica(trial, params, ev, pelvis, noise)
    fs = sig.fs_hz
    t0 = float(trial.time_s[0])
    t_end = t0 + len(trial) / fs
    warnings: list[str] = []
    bias_source = sig.parameters["orientation"]["gyro_bias_source"]
    if bias_source.startswith("none ("):
        warnings.append(f"gyro bias not removed: {bias_source}")
    if pelvis is not None and params.com_method != "pendulum":
        warnings.append("pelvis sensor not used: the two-segment COM needs com_method='pendulum'")

    summary: dict = {}
    com_ok = bool(np.all(np.isfinite(sig.com_ap_mm)))
    if com_ok:
        summary.update(
            prieto_measures(sig.com_ap_mm, sig.com_ml_mm, fs, params.ellipse_method, params.spectral, params.sampen)
        )
    else:  # part of the trial has no pendulum model: the COM summary is absent (the segments have theirs)
        summary.update({"duration_s": len(trial) / fs, "n_samples": float(len(trial))})
        summary.update({n: float("nan") for n in REGISTRY if n.startswith("com_")})
    summary.update(isway_measures(sig.acc_ap_mps2, sig.acc_ml_mps2, fs, params.spectral, params.velocity_highpass_hz))
    static = spectral_measures(sig.acc_static_ap_mps2, fs, params.spectral)
    summary["f50_ap_hz"] = float(static["f50"])
    summary["f95_ap_hz"] = float(static["f95"])
    summary.update({k: float(v[0]) for k, v in tilt_measures(sig.q, fs).items()})
    summary.update(_summary_floors(summary, replica, params))
    absent = _absent(list(summary), sorted({str(p) for p in sig.posture if p}))
    for name in absent:
        summary[name] = None
    summary["metrics_absent"] = absent
    summary["com_model"] = sig.parameters["com"]["com_model"]

    # time to stabilise after each perturbation, each method
    perts = _perturbations(perturbations_s, ev, params.tts_event_duration_s)
    pert_source = "given" if perts else "none"
    if not perts and params.detect_perturbations:
        found = detect_events(sig.com_acc_mps2, fs, lowpass_hz=params.tts.lowpass_hz, t0_s=t0)
        perts = [(float(a), float(b)) for a, b in found]
        pert_source = "detected (dmi_sensors.metrics.detect_events: onset, peak as end)"
    stabilisation: list[dict] = []
    perturbation_check: dict = {}
    if perts:
        stabilisation, perturbation_check, pert_warnings = _stabilisation(sig, params, perts, t0, t_end, replica)
        if pert_source != "given":
            perturbation_check = {**perturbation_check, "checked": False, "consistent": True}
            pert_warnings = [w for w in pert_warnings if "outside the trial" in w]
        warnings.extend(pert_warnings)
        by_method: dict[str, list[dict]] = {m: [s for s in stabilisation if s["method"] == m] for m in TTS_METHODS}
        one = len(perts) == 1
        names = {
            "moving_rms": "time_to_stabilise_s",
            "colby": "tts_colby_s",
            "polynomial": "tts_polynomial_s",
            "exponential": "tts_exponential_s",
        }
        for method, name in names.items():
            values = [s["tts_s"] if s["stable"] else None for s in by_method[method]]
            summary[name] = values[0] if one else values
        exp_rows = by_method["exponential"]
        for name, key in (
            ("tts_exp_time_constant_s", "time_constant_s"),
            ("tts_exp_y0_mps2", "y0_mps2"),
            ("tts_exp_yinf_mps2", "y_inf_mps2"),
        ):
            values = [s["fit"].get(key) for s in exp_rows]
            summary[name] = values[0] if one else values
        summary["time_to_stabilise_status"] = [s["status"] for s in by_method["moving_rms"]]

    # windows: sliding, then tagged segments
    frames = []
    starts, stops = sliding_windows(len(trial), fs, params.window_s, params.step_s)
    if len(starts):
        start_s, end_s = _window_times(sig, starts, stops)
        tags = tag_windows(pd.DataFrame({"start_s": start_s, "end_s": end_s}), ev, normalised=True)
        frames.append(_window_frame(sig, starts, stops, tags, "sliding", trial.sensor_id, params, replica))
    if ev is not None:
        segments = segments_from_events(ev, fs, len(trial), t0, normalised=True)
        warnings.extend(segments.warnings(t0, t_end))
        if len(segments.starts):
            frames.append(
                _window_frame(
                    sig, segments.starts, segments.stops, segments.tags, "segment", trial.sensor_id, params, replica
                )
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
        "perturbation_check": perturbation_check,
        "sensor_noise": noise.to_dict(),
        "signals": sig.parameters,
        "frames": {
            "input": "body-aligned sensor frame: x forward, y left, z up",
            "ap": "+ forward (heading frame)",
            "ml": "+ left",
        },
    }
    return TrialAnalysis(
        summary=summary,
        windows=windows,
        parameters=parameters,
        stabilisation=stabilisation,
        warnings=warnings,
        perturbation_check=perturbation_check,
    )
