"""Time to stabilise (TTS) after an event, four method families.

The input is a horizontal acceleration near the centre of mass — ``(n, 2)`` AP/ML in m/s²
or an already-formed ``(n,)`` non-negative magnitude — on a uniform grid. The horizontal
ground-reaction force divided by mass equals the COM acceleration, so force-plate TTS
methods map onto it; IMU-based TTS is not validated against a force plate
(reference/metrics.md §4.6).

Pre-processing (all methods): each component is low-passed (zero-phase 4th-order
Butterworth at ``lowpass_hz``, default 10 Hz) and the magnitude ``y = |a_h|`` is formed.
Filtering comes first because a typical IMU's noise (~0.07 m/s² RMS at 100 Hz) exceeds
quiet-stance COM acceleration (~0.03-0.04 m/s²). The cut-off is a compromise, recorded with
every result: 10 Hz keeps COM acceleration up to 10 Hz (the simulator's body model has
content there; its ground-truth TTS is matched within 0.07 s, see docs/metrics.md) and
removes 80 % of white noise power; for recordings whose COM acceleration lies below ~2 Hz
(adult quiet stance) 2 Hz removes more noise, but a narrower band makes the 1 s RMS
fluctuate more, so quiet sway crosses the threshold more often. The "instability profile" is the 1 s
moving RMS of y (``profile="moving_rms"``; window ``rms_window_s``, ``rms_alignment``
``"trailing"`` — the default, RMS at t over [t - 1 s, t], the definition of the simulator's
ground truth, so the TTS includes the time the window needs to leave the event — or
``"centred"``, over [t - 0.5 s, t + 0.5 s]) or y itself (``"magnitude"``). The polynomial and
exponential fits use the profile of the post-event samples where the RMS window is complete.

Methods (``method=``):

``moving_rms`` (default) — reference level = RMS of y over ``baseline_s`` before the
    event's onset ("quiet RMS"); TTS = first time t ≥ event end from which the profile
    stays below ``threshold_factor`` × quiet RMS (1.5) until the end of the analysed
    interval. If the profile is above at the interval's last sample: no stable state.
``colby`` — sequential averaging (Colby 1999 [R]): S[k] = mean(y[0..k]) from the event's
    end; TTS = the time after which S stays within mean(y) ± ``band_sd``·SD(y) of the
    whole post-event interval. Always converges by construction (S[-1] = mean): its value
    depends mostly on the interval length.
``polynomial`` — unbounded 3rd-order polynomial (Ross & Guskiewicz [R]) fitted by least
    squares to the profile after the event; TTS = first time the fit falls to
    ``threshold_factor`` × quiet RMS (the reference trials' MRV of the original becomes the
    quiet RMS here). A cubic cannot follow a fast decay followed by a long plateau: on
    long intervals it is biased late; it ignores late bursts.
``exponential`` — Rabuffetti 2011 model ``Y(t) = Y∞ + (Y0 - Y∞)·exp(-t/T)`` fitted to the
    profile (scipy ``curve_fit``); reports Y0, Y∞, T; TTS = T·ln 20 (the excess over Y∞
    falls to 5 %; dmi-sensors rule). No stable state when T·ln 20 exceeds the interval.

Every result records the event's end, the length of the analysed interval after it
(``trial_after_s``: Fransz 2015 found trial length changes TTS by ~100 %), the method's
parameters and its fitted values, and says explicitly when no stable state was reached.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics._kernels import moving_rms_centred, moving_rms_trailing

__all__ = ["TTS_METHODS", "TtsParams", "TtsResult", "detect_events", "instability_signal", "time_to_stabilise"]

TTS_METHODS = ("moving_rms", "colby", "polynomial", "exponential")
NOT_STABLE = "no stable state reached"


@dataclass(frozen=True)
class TtsParams:
    """Parameters of the TTS methods (all recorded with each result)."""

    lowpass_hz: float | None = 10.0
    rms_window_s: float = 1.0
    threshold_factor: float = 1.5
    baseline_s: float = 5.0
    band_sd: float = 0.25
    profile: str = "moving_rms"
    rms_alignment: str = "trailing"

    def __post_init__(self) -> None:
        if self.profile not in ("moving_rms", "magnitude"):
            raise ParameterError(f"profile must be 'moving_rms' or 'magnitude', got {self.profile!r}")
        if self.rms_alignment not in ("trailing", "centred"):
            raise ParameterError(f"rms_alignment must be 'trailing' or 'centred', got {self.rms_alignment!r}")
        if self.rms_window_s <= 0 or self.threshold_factor <= 0 or self.baseline_s <= 0 or self.band_sd <= 0:
            raise ParameterError("rms_window_s, threshold_factor, baseline_s and band_sd must be positive")


@dataclass
class TtsResult:
    """Outcome of one TTS computation.

    ``tts_s`` is NaN when ``stable`` is False; ``status`` then says why
    (``"no stable state reached"``, ``"no quiet baseline before the event"``,
    ``"fit failed: ..."``, ``"interval too short"``).
    """

    method: str
    tts_s: float
    stable: bool
    status: str
    event_onset_s: float
    event_end_s: float
    trial_after_s: float
    parameters: dict = field(default_factory=dict)
    fit: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tts_s"] = None if not math.isfinite(self.tts_s) else self.tts_s
        return d


def _lowpass(x: np.ndarray, fs_hz: float, cutoff_hz: float | None) -> np.ndarray:
    if cutoff_hz is None:
        return x
    from scipy import signal

    if not (0 < cutoff_hz < fs_hz / 2):
        raise ParameterError(f"lowpass_hz must be in (0, fs/2 = {fs_hz / 2}), got {cutoff_hz}")
    sos = signal.butter(4, cutoff_hz, btype="low", fs=fs_hz, output="sos")
    if x.shape[0] <= 3 * (2 * sos.shape[0] + 1):
        return x
    return signal.sosfiltfilt(sos, x, axis=0)


def instability_signal(acc: np.ndarray, fs_hz: float, lowpass_hz: float | None = 10.0) -> np.ndarray:
    """Low-passed horizontal acceleration magnitude ``|a_h|`` (m/s²), shape ``(n,)``.

    ``acc`` is ``(n, 2)`` AP/ML (each component filtered, then the magnitude taken) or
    ``(n,)`` (filtered, then its absolute value).
    """
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 2:
        f = _lowpass(a, fs_hz, lowpass_hz)
        return np.hypot(f[:, 0], f[:, 1])
    if a.ndim == 1:
        return np.abs(_lowpass(a, fs_hz, lowpass_hz))
    raise ParameterError(f"acc must have shape (n,) or (n, 2), got {a.shape}")


def _exp_model(t, y_inf, y0, tau):
    return y_inf + (y0 - y_inf) * np.exp(-t / tau)


def time_to_stabilise(
    acc: np.ndarray,
    fs_hz: float,
    event_end_s: float,
    *,
    event_onset_s: float | None = None,
    method: str = "moving_rms",
    params: TtsParams = TtsParams(),
    t0_s: float = 0.0,
    stop_s: float | None = None,
    y: np.ndarray | None = None,
) -> TtsResult:
    """Time to stabilise after an event ending at ``event_end_s``.

    Parameters
    ----------
    acc
        Horizontal COM (or COM-near) acceleration, ``(n, 2)`` AP/ML or ``(n,)``, m/s².
    fs_hz
        Sample rate, Hz.
    event_end_s
        End of the event (perturbation, landing, transition), s on the signal's clock
        (sample i is at ``t0_s + i/fs_hz``). TTS is measured from here.
    event_onset_s
        Start of the event (default: ``event_end_s``); the quiet baseline is the
        ``baseline_s`` before it.
    method
        One of :data:`TTS_METHODS` (see module docs).
    params
        :class:`TtsParams`.
    stop_s
        End of the analysed interval (default: end of the signal; pass the next event's
        onset to keep events apart). Recorded as ``trial_after_s = stop_s - event_end_s``.
    y
        Pre-computed :func:`instability_signal` of ``acc`` (saves filtering the whole
        signal once per event and method).
    """
    if method not in TTS_METHODS:
        raise ParameterError(f"method must be one of {TTS_METHODS}, got {method!r}")
    if y is None:
        y = instability_signal(acc, fs_hz, params.lowpass_hz)
    n = y.shape[0]
    onset = event_end_s if event_onset_s is None else event_onset_s
    if onset > event_end_s:
        raise ParameterError(f"event onset {onset} s is after its end {event_end_s} s")
    t_stop = t0_s + n / fs_hz if stop_s is None else min(stop_s, t0_s + n / fs_hz)
    i_end = max(0, math.ceil((event_end_s - t0_s) * fs_hz - 1e-9))
    i_stop = min(n, math.ceil((t_stop - t0_s) * fs_hz - 1e-9))
    result = TtsResult(
        method=method,
        tts_s=float("nan"),
        stable=False,
        status="",
        event_onset_s=float(onset),
        event_end_s=float(event_end_s),
        trial_after_s=float(t_stop - event_end_s),
        parameters={**asdict(params), "fs_hz": float(fs_hz)},
    )
    if i_stop - i_end < max(4, round(params.rms_window_s * fs_hz)):
        result.status = "interval too short"
        return result
    tau = (np.arange(i_end, i_stop) / fs_hz + t0_s) - event_end_s  # time since the event's end
    width = max(1, round(params.rms_window_s * fs_hz))
    half = max(1, width // 2)
    trailing = params.rms_alignment == "trailing"

    quiet_rms = float("nan")
    i_on = math.floor((onset - t0_s) * fs_hz + 1e-9)
    i_base = max(0, i_on - round(params.baseline_s * fs_hz))
    if i_on - i_base >= width:  # at least one RMS window of baseline
        quiet_rms = float(np.sqrt(np.mean(y[i_base:i_on] ** 2)))
    result.fit["quiet_rms_mps2"] = quiet_rms
    result.fit["baseline_s"] = (i_on - i_base) / fs_hz

    # fits: the profile of the post-event samples only, where the RMS window is complete
    post = np.ascontiguousarray(y[i_end:i_stop])
    if params.profile == "magnitude":
        prof, full = post, slice(0, post.shape[0])
    elif trailing:
        prof, full = moving_rms_trailing(post, width), slice(width - 1, post.shape[0])
    else:
        prof, full = moving_rms_centred(post, half), slice(half, post.shape[0] - half)
    if prof[full].shape[0] < 4:  # interval hardly longer than one window: fit the magnitude
        prof, full = post, slice(0, post.shape[0])

    if method in ("moving_rms", "polynomial") and not math.isfinite(quiet_rms):
        result.status = "no quiet baseline before the event"
        return result
    threshold = params.threshold_factor * quiet_rms

    if method == "moving_rms":
        # the rule's RMS windows may reach back before the event's end (not past stop_s)
        head = np.ascontiguousarray(y[:i_stop])
        rms = moving_rms_trailing(head, width) if trailing else moving_rms_centred(head, half)
        rule = rms[i_end:]
        result.fit["threshold_mps2"] = threshold
        above = np.flatnonzero(~(rule < threshold))  # NaN (window not yet full) counts as above
        if above.size == 0:
            return _stable(result, 0.0)
        last = int(above[-1])
        if last == rule.shape[0] - 1:
            return _unstable(result)
        return _stable(result, float(tau[last + 1]))

    if method == "colby":
        seg = y[i_end:i_stop]
        running = np.cumsum(seg) / np.arange(1, seg.shape[0] + 1)
        mean, sd = float(seg.mean()), float(seg.std())
        half_band = params.band_sd * sd
        result.fit.update({"mean_mps2": mean, "sd_mps2": sd, "band_mps2": [mean - half_band, mean + half_band]})
        outside = np.flatnonzero(np.abs(running - mean) > half_band)
        if outside.size == 0:
            return _stable(result, 0.0)
        last = int(outside[-1])
        if last == seg.shape[0] - 1:
            return _unstable(result)
        return _stable(result, float(tau[last + 1]))

    if method == "polynomial":
        poly = np.polynomial.Polynomial.fit(tau[full], prof[full], 3)
        result.fit["threshold_mps2"] = threshold
        result.fit["coefficients"] = [float(c) for c in poly.convert().coef]  # p(τ) = c0 + c1 τ + c2 τ² + c3 τ³
        fit = poly(tau)
        below = np.flatnonzero(fit <= threshold)
        if below.size == 0:
            return _unstable(result)
        return _stable(result, float(tau[below[0]]))

    # exponential
    from scipy.optimize import curve_fit

    tau_f, prof_f = tau[full], prof[full]
    tail = prof_f[int(0.8 * prof_f.shape[0]) :]
    y_inf0 = float(np.median(tail))
    y00 = float(prof_f[0])
    target = y_inf0 + (y00 - y_inf0) / math.e
    cross = np.flatnonzero(prof_f <= target) if y00 > y_inf0 else np.array([], dtype=int)
    tau0 = float(tau_f[cross[0]]) if cross.size and tau_f[cross[0]] > 0 else 1.0
    horizon = float(tau[-1]) if tau[-1] > 0 else 1.0 / fs_hz
    try:
        popt, _ = curve_fit(
            _exp_model,
            tau_f,
            prof_f,
            p0=(y_inf0, y00, tau0),
            bounds=([0.0, 0.0, 1e-3], [np.inf, np.inf, 100.0 * horizon]),
            maxfev=5000,
        )
    except (RuntimeError, ValueError) as exc:
        result.status = f"fit failed: {exc}"
        return result
    y_inf, y0, time_constant = (float(v) for v in popt)
    result.fit.update({"y_inf_mps2": y_inf, "y0_mps2": y0, "time_constant_s": time_constant})
    if y0 <= y_inf:
        result.status = NOT_STABLE + " (no decay after the event)"
        return result
    tts = time_constant * math.log(20.0)
    if tts > result.trial_after_s:
        return _unstable(result)
    return _stable(result, tts)


def _stable(result: TtsResult, tts_s: float) -> TtsResult:
    result.tts_s = tts_s
    result.stable = True
    result.status = "stable"
    return result


def _unstable(result: TtsResult) -> TtsResult:
    result.tts_s = float("nan")
    result.stable = False
    result.status = NOT_STABLE
    return result


def detect_events(
    acc: np.ndarray,
    fs_hz: float,
    *,
    threshold_factor: float = 2.2,
    lowpass_hz: float | None = 10.0,
    rms_window_s: float = 0.5,
    min_separation_s: float = 3.0,
    t0_s: float = 0.0,
) -> np.ndarray:
    """Bursts in the horizontal acceleration, for TTS when no event times are given.

    Returns an array ``(k, 2)``: per burst its onset (s; the centred moving RMS of the
    low-passed magnitude first exceeds ``threshold_factor`` × its median over the whole
    signal, the median standing for quiet sway) and its peak (s; the profile's maximum
    before it falls below the threshold again), used as the event's end. Bursts starting
    less than ``min_separation_s`` after the previous onset are merged into it.

    An engineering rule (no citation), tuned on the simulator: with a 0.5 s window, pushes
    reached 2.7-4.4 × the median and quiet sway at most 2.1 ×. Check detections against tags
    where they exist; real quiet sway may cross 2.2 × more often.
    """
    y = instability_signal(acc, fs_hz, lowpass_hz)
    half = max(1, round(rms_window_s * fs_hz / 2))
    prof = moving_rms_centred(np.ascontiguousarray(y), half)
    level = threshold_factor * float(np.median(prof))
    above = prof > level
    rising = np.flatnonzero(above & ~np.concatenate(([False], above[:-1])))
    falling = np.flatnonzero(~above & np.concatenate(([False], above[:-1])))
    events: list[list[float]] = []
    for i in rising:
        later = falling[falling > i]
        j = int(later[0]) if later.size else prof.shape[0]
        k = int(i + np.argmax(prof[i:j]))
        onset, peak = t0_s + i / fs_hz, t0_s + k / fs_hz
        if events and onset - events[-1][0] < min_separation_s:
            if prof[k] > prof[round((events[-1][1] - t0_s) * fs_hz)]:
                events[-1][1] = peak
            continue
        events.append([onset, peak])
    return np.array(events, dtype=np.float64).reshape(-1, 2)
