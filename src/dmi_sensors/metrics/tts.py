"""Time to stabilise (TTS) after an event, four method families, aware of the sensor's noise.

Input: a horizontal acceleration near the centre of mass — ``(n, 2)`` AP/ML in m/s² (or
``(n,)``, one component) — on a uniform grid. The horizontal ground-reaction force divided
by mass equals the COM acceleration, so force-plate TTS methods map onto it; IMU-based TTS
is not validated against a force plate (reference/metrics.md §4.6).

The definition every method estimates
-------------------------------------
Quiet level ``q`` = RMS of ``|a_h|`` over the ``baseline_s`` before the event's onset;
profile ``r(t)`` = 1 s moving RMS of ``|a_h|`` (trailing: over ``[t - 1 s, t]``); the body is
stable again at the first ``t ≥`` event end from which ``r < k·q`` (``k =
threshold_factor`` = 1.5) for ``hold_s`` (1 s). The hold replaces "until the end of the
interval": quiet sway itself crosses 1.5 × now and then (a 1 s RMS of sway with a 1-2 Hz
bandwidth fluctuates by ±35-50 %), and a rule that waits for the last chance crossing
reported 18.8 s for a push whose response was over after 2 s. The simulator's true TTS
(:func:`dmi_sensors.sim.true_time_to_stabilise`) is this rule on its true, noise-free COM
acceleration.

Why the noise matters, and what is done about it
------------------------------------------------
An IMU-derived COM acceleration carries the sensor's noise: with a consumer IMU (0.005 rad/s,
0.07 m/s² RMS at 100 Hz) the pendulum COM acceleration (second derivative of ``h·sin θ``)
has ~0.1 m/s² of noise below 10 Hz at h = 0.91 m, two to three times an adult's quiet
level (0.03-0.05 m/s²). A threshold set on the noisy quiet RMS is then 2-3 × too high and
every TTS too early. Noise adds in power (it is independent of the sway), so each method here
works on **noise-corrected powers**:

1. Both components are low-passed at ``lowpass_hz`` (10 Hz, zero-phase 4th-order
   Butterworth: the definition's band) and split at ``decision_lowpass_hz`` (3 Hz) into a
   low band ``L`` and a high band ``H`` (the rest up to 10 Hz). The gyro-derived noise
   grows with frequency (its power below ``f`` grows as ``f³``), the response to a push is
   slow, so the post-event decision is taken in ``L`` only, where the noise is ~30 × smaller.
2. ``noise`` (:class:`TtsNoise`: the noise's mean-square power in ``L`` and ``H``, measured
   on a noise-only replica of the signal: :func:`tts_noise`) is subtracted from every power:
   quiet powers ``q_L² = ⟨|a_L|²⟩_baseline - n_L²``, ``q_H²`` likewise (clipped at 0),
   ``q² = q_L² + q_H²``; post-event profile ``P(t) = ⟨|a_L|²⟩_1s - n_L²``.
3. The definition ``r² < k² q²`` with a high band that is as quiet after the event as before
   (``|a_H|² ≈ q_H²``) becomes ``P(t) < T = k² q² - q_H²`` in the low band: the decision
   threshold. With the noise exactly known and ``decision_lowpass_hz = lowpass_hz`` this is
   the definition itself (tests: analytic signals, noise-free and noisy).

Every method returns **"not determined: <reason>"** (``stable=False``, ``tts_s`` NaN) rather
than a number it cannot support — never a false 0 or the length of the trial:

* ``no quiet baseline before the event`` (less than one RMS window before the onset),
* ``quiet level below the noise floor`` (nothing left after removing the noise),
* ``response below threshold`` (the corrected profile never exceeds ``T`` within
  ``response_window_s`` after the event's end: no perturbation response to time),
* ``no stable state within the interval`` (the rule is not met, with its hold, before the
  interval ends — the next event or the end of the data),
* ``fit does not describe the response`` (fits: starts below the threshold, R² below
  ``min_fit_r2``, no decay).

Methods (``method=``)
---------------------
``moving_rms`` (default) — the definition above.
``colby`` — sequential averaging (Colby 1999 [R]) of the corrected RMS profile from the
    event's end: TTS = the time after which the running mean stays within mean ±
    ``band_sd``·SD of the whole post-event interval. Its value is set by the interval's
    length (analytic test): compare equal ``trial_after_s`` only.
``polynomial`` — unbounded cubic (Ross & Guskiewicz [R]) fitted by least squares to the
    corrected RMS profile; TTS = first time the fit falls below ``sqrt(T)``.
``exponential`` — ``Y(t) = Y∞ + (Y0 - Y∞)·exp(-t/T)`` (Rabuffetti 2011) fitted to the
    corrected RMS profile by variable projection (closed-form least squares for Y∞, Y0 at each
    time constant, a log grid then golden-section search for T: no numerical derivatives);
    TTS = T·ln 20 (the excess falls to 5 %; dmi-sensors rule).

Every result records the event's onset and end, ``trial_after_s`` (length of the analysed
interval after the event; Fransz 2015 found trial length changes TTS by ~100 %), the
parameters, the noise powers and the fitted values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = [
    "NOT_DETERMINED",
    "TTS_METHODS",
    "TtsNoise",
    "TtsParams",
    "TtsResult",
    "TtsSignal",
    "detect_events",
    "instability_signal",
    "select_decision_band",
    "time_to_stabilise",
    "tts_noise",
    "tts_signal",
]

TTS_METHODS = ("moving_rms", "colby", "polynomial", "exponential")
#: Prefix of every status that is not a TTS value.
NOT_DETERMINED = "not determined"
NO_BASELINE = f"{NOT_DETERMINED}: no quiet baseline before the event"
BELOW_NOISE = f"{NOT_DETERMINED}: quiet level below the noise floor"
NO_RESPONSE = f"{NOT_DETERMINED}: response below threshold"
NO_STABLE = f"{NOT_DETERMINED}: no stable state within the interval"
BAD_FIT = f"{NOT_DETERMINED}: fit does not describe the response"
TOO_SHORT = f"{NOT_DETERMINED}: interval too short"
OUTSIDE = f"{NOT_DETERMINED}: event outside the signal"


@dataclass(frozen=True)
class TtsParams:
    """Parameters of the TTS methods (all recorded with each result).

    Attributes
    ----------
    lowpass_hz
        Upper edge of the definition's band (zero-phase 4th-order Butterworth on each
        component), Hz; None: no filter.
    decision_lowpass_hz
        Edge of the low band in which the post-event profile is judged, Hz; None: the
        whole band (no split).
    decision_candidates_hz, decision_noise_fraction
        Wider decision bands tried by :func:`select_decision_band` (a push's response
        reaches 5 Hz): the widest whose noise power is at most ``decision_noise_fraction``
        × the recording's quiet power is used instead of ``decision_lowpass_hz``.
    extend_to_hz
        The definition's band reaches up to this frequency (at most 0.45 × the sample rate)
        when the recording's quiet power between ``lowpass_hz`` and it exceeds its noise by
        three standard errors (:meth:`TtsSignal.quiet_reference`); None: never.
    rms_window_s
        Moving-RMS window, s.
    threshold_factor
        ``k``: stable below ``k`` × the quiet RMS.
    baseline_s
        Quiet reference before the event's onset, s.
    hold_s
        How long the profile must stay below the threshold, s (0: one sample).
    response_window_s
        The corrected profile must exceed the threshold within this time after the event's
        end, s; otherwise "response below threshold".
    band_sd
        Colby's band, × SD.
    min_fit_r2
        Fits with a lower coefficient of determination are rejected.
    profile
        ``"moving_rms"`` or ``"magnitude"`` (the fits' input: the moving RMS, or the
        corrected instantaneous magnitude).
    rms_alignment
        ``"trailing"`` (RMS at t over [t - w, t], the definition) or ``"centred"``.
    """

    lowpass_hz: float | None = 10.0
    decision_lowpass_hz: float | None = 3.0
    decision_candidates_hz: tuple[float, ...] = (5.0, 8.0)
    decision_noise_fraction: float = 0.05
    extend_to_hz: float | None = 20.0
    rms_window_s: float = 1.0
    threshold_factor: float = 1.5
    baseline_s: float = 5.0
    hold_s: float = 1.0
    response_window_s: float = 2.0
    band_sd: float = 0.25
    min_fit_r2: float = 0.5
    profile: str = "moving_rms"
    rms_alignment: str = "trailing"

    def __post_init__(self) -> None:
        if self.profile not in ("moving_rms", "magnitude"):
            raise ParameterError(f"profile must be 'moving_rms' or 'magnitude', got {self.profile!r}")
        if self.rms_alignment not in ("trailing", "centred"):
            raise ParameterError(f"rms_alignment must be 'trailing' or 'centred', got {self.rms_alignment!r}")
        if self.rms_window_s <= 0 or self.threshold_factor <= 0 or self.baseline_s <= 0 or self.band_sd <= 0:
            raise ParameterError("rms_window_s, threshold_factor, baseline_s and band_sd must be positive")
        if not 0 < self.decision_noise_fraction < 1:
            raise ParameterError(f"decision_noise_fraction must be in (0, 1), got {self.decision_noise_fraction}")
        if any(not f > 0 for f in self.decision_candidates_hz):
            raise ParameterError(f"decision_candidates_hz must be positive, got {self.decision_candidates_hz}")
        if self.hold_s < 0 or self.response_window_s <= 0:
            raise ParameterError("hold_s must be >= 0 and response_window_s > 0")
        for name in ("lowpass_hz", "decision_lowpass_hz", "extend_to_hz"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ParameterError(f"{name} must be positive or None, got {v!r}")
        if (
            self.lowpass_hz is not None
            and self.decision_lowpass_hz is not None
            and self.decision_lowpass_hz >= self.lowpass_hz
        ):
            raise ParameterError(
                f"decision_lowpass_hz ({self.decision_lowpass_hz}) must be below lowpass_hz ({self.lowpass_hz})"
            )


@dataclass(frozen=True)
class TtsNoise:
    """Mean-square noise power of a TTS input in its two bands (m²/s⁴), with its origin.

    ``low_m2_s4``: below ``decision_lowpass_hz``; ``high_m2_s4``: from there to
    ``lowpass_hz``; ``extra_m2_s4``: from ``lowpass_hz`` to ``extend_to_hz``. Zeros mean
    "no noise correction".
    """

    low_m2_s4: float = 0.0
    high_m2_s4: float = 0.0
    extra_m2_s4: float = 0.0
    source: str = "none"

    def __post_init__(self) -> None:
        if not (self.low_m2_s4 >= 0 and self.high_m2_s4 >= 0 and self.extra_m2_s4 >= 0):
            raise ParameterError(
                f"noise powers must be >= 0, got {self.low_m2_s4}, {self.high_m2_s4}, {self.extra_m2_s4}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TtsSignal:
    """A TTS input prepared once per recording (:func:`tts_signal`): instantaneous powers.

    ``low``: ``|a_L|²`` (the decision band), ``high``: ``|a_H|²`` (from there to
    ``lowpass_hz``), ``extra``: the power between ``lowpass_hz`` and ``extra_band_hz[1]``
    (zeros when the band does not exist at this rate), all ``(n,)`` in m²/s⁴, sample ``i`` at
    ``t0_s + i/fs_hz``.
    """

    low: np.ndarray
    high: np.ndarray
    extra: np.ndarray
    fs_hz: float
    t0_s: float = 0.0
    extra_band_hz: tuple[float, float] | None = None

    def quiet_reference(
        self, events: list[tuple[float, float]], noise: TtsNoise | None = None, after_s: float = 5.0
    ) -> dict:
        """The high band's quiet power over the whole recording, noise removed.

        Samples from 1 s before each event's onset to ``after_s`` after its end are left
        out. ``quiet_high_m2_s4`` is ``mean(high) - noise.high`` (clipped at 0) plus, when
        significant, ``mean(extra) - noise.extra``: the extension band counts when that
        difference exceeds three standard errors of the two means (band-limited noise of
        bandwidth B averaged over T s: relative standard error ``1/sqrt(B·T)``). A longer
        reference than one event's baseline halves the error the high band's noise puts
        into the threshold. Returns also ``quiet_low_m2_s4`` (the low band's, noise removed),
        ``extended_to_hz`` (None when not extended),
        ``duration_s`` and ``extra_snr``; ``quiet_high_m2_s4`` is None with less than 5 s.
        """
        noise = noise or TtsNoise()
        n = self.high.shape[0]
        keep = np.ones(n, dtype=bool)
        for onset, end in events:
            a = max(0, math.floor((onset - 1.0 - self.t0_s) * self.fs_hz))
            b = min(n, math.ceil((end + after_s - self.t0_s) * self.fs_hz))
            if b > a:
                keep[a:b] = False
        kept = int(np.count_nonzero(keep))
        out: dict = {"quiet_high_m2_s4": None, "extended_to_hz": None, "duration_s": kept / self.fs_hz}
        out["extra_snr"] = None
        if kept < 5.0 * self.fs_hz:
            return out
        high = max(0.0, float(np.mean(self.high[keep])) - noise.high_m2_s4)
        out["quiet_low_m2_s4"] = max(0.0, float(np.mean(self.low[keep])) - noise.low_m2_s4)
        if self.extra_band_hz is not None:
            lo, hi = self.extra_band_hz
            measured = float(np.mean(self.extra[keep]))
            bt = (hi - lo) * kept / self.fs_hz
            # the replica's mean has the same relative error (it is as long as the recording)
            se = math.hypot(measured, noise.extra_m2_s4) / math.sqrt(bt)
            excess = measured - noise.extra_m2_s4
            out["extra_snr"] = excess / se if se > 0 else None
            if se > 0 and excess > 3.0 * se:
                high += excess
                out["extended_to_hz"] = hi
        out["quiet_high_m2_s4"] = high
        return out


@dataclass
class TtsResult:
    """Outcome of one TTS computation.

    ``tts_s`` is NaN when ``stable`` is False; ``status`` is ``"stable"`` or
    ``"not determined: <reason>"`` (module docs).
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
    """Zero-phase 4th-order Butterworth low-pass along axis 0 (``dsp.filtfilt`` = scipy ``sosfiltfilt``)."""
    if cutoff_hz is None:
        return x
    from dmi_sensors.dsp import butter_lowpass, filtfilt, sosfiltfilt_padlen

    if not (0 < cutoff_hz < fs_hz / 2):
        raise ParameterError(f"TTS low-pass cut-off must be in (0, fs/2 = {fs_hz / 2}) Hz, got {cutoff_hz}")
    sos = butter_lowpass(cutoff_hz, fs_hz, 4)
    if x.shape[0] <= sosfiltfilt_padlen(sos):
        return x
    return filtfilt(sos, x)


def _components(acc: np.ndarray) -> np.ndarray:
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim == 1:
        return a[:, None]
    if a.ndim == 2 and a.shape[1] in (1, 2):
        return a
    raise ParameterError(f"acc must have shape (n,) or (n, 2), got {a.shape}")


def instability_signal(acc: np.ndarray, fs_hz: float, lowpass_hz: float | None = 10.0) -> np.ndarray:
    """Low-passed horizontal acceleration magnitude ``|a_h|`` (m/s²), shape ``(n,)``.

    ``acc`` is ``(n, 2)`` AP/ML (each component filtered, then the magnitude taken) or
    ``(n,)`` (filtered, then its absolute value).
    """
    f = _lowpass(_components(acc), fs_hz, lowpass_hz)
    return np.sqrt(np.sum(f * f, axis=1))


def tts_signal(acc: np.ndarray, fs_hz: float, params: TtsParams = TtsParams(), t0_s: float = 0.0) -> TtsSignal:
    """The band powers every method uses (module docs, step 1), computed once per recording."""
    comp = _components(acc)
    a = _lowpass(comp, fs_hz, params.lowpass_hz)
    if params.decision_lowpass_hz is None:
        low, high = a, np.zeros_like(a)
    else:
        low = _lowpass(a, fs_hz, params.decision_lowpass_hz)
        high = a - low
    extra = np.zeros(comp.shape[0])
    band = None
    if params.lowpass_hz is not None and params.extend_to_hz is not None:
        top = min(params.extend_to_hz, 0.45 * fs_hz)
        if top > params.lowpass_hz * 1.05:
            x = _lowpass(comp, fs_hz, top) - a
            extra = np.sum(x * x, axis=1)
            band = (float(params.lowpass_hz), float(top))
    return TtsSignal(np.sum(low * low, axis=1), np.sum(high * high, axis=1), extra, float(fs_hz), float(t0_s), band)


def tts_noise(noise_acc: np.ndarray, fs_hz: float, params: TtsParams = TtsParams(), source: str = "") -> TtsNoise:
    """:class:`TtsNoise` of a noise-only replica of a TTS input (same sensor noise, same
    pipeline, no motion): the mean band powers, ignoring the first and last 10 % (filter
    and fusion start-up)."""
    s = tts_signal(noise_acc, fs_hz, params)
    n = s.low.shape[0]
    core = slice(n // 10, n - n // 10) if n >= 10 else slice(0, n)
    return TtsNoise(
        float(np.mean(s.low[core])),
        float(np.mean(s.high[core])),
        float(np.mean(s.extra[core])),
        source or "noise-only replica",
    )


def select_decision_band(
    acc: np.ndarray,
    noise_acc: np.ndarray,
    fs_hz: float,
    params: TtsParams = TtsParams(),
    events: list[tuple[float, float]] = (),  # type: ignore[assignment]
    t0_s: float = 0.0,
) -> tuple[TtsParams, dict]:
    """``params`` with the widest decision band the noise allows, and why.

    A push's response has power up to ~5 Hz; the noise of a gyro-derived COM acceleration
    grows with frequency. Starting from ``decision_lowpass_hz``, each of
    ``decision_candidates_hz`` (below ``lowpass_hz``) is taken when the noise power below it
    (from ``noise_acc``, a noise-only replica) is at most ``decision_noise_fraction`` × the
    recording's quiet power (its parts away from ``events``, noise removed, up to
    ``lowpass_hz``). Returns the new parameters and ``{"decision_lowpass_hz", "tried"}``.
    """
    import dataclasses

    info: dict = {"decision_lowpass_hz": params.decision_lowpass_hz, "tried": []}
    if params.decision_lowpass_hz is None or params.lowpass_hz is None:
        return params, info
    base = tts_signal(acc, fs_hz, params, t0_s)
    ref = base.quiet_reference(list(events), tts_noise(noise_acc, fs_hz, params))
    if ref["quiet_high_m2_s4"] is None:
        return params, info
    quiet = ref["quiet_low_m2_s4"] + ref["quiet_high_m2_s4"]
    chosen = params
    for f in sorted(params.decision_candidates_hz):
        if not (params.decision_lowpass_hz < f < params.lowpass_hz):
            continue
        trial = dataclasses.replace(params, decision_lowpass_hz=f)
        n_low = tts_noise(noise_acc, fs_hz, trial).low_m2_s4
        ok = n_low <= params.decision_noise_fraction * quiet
        info["tried"].append({"hz": f, "noise_m2_s4": n_low, "quiet_m2_s4": quiet, "taken": ok})
        if not ok:
            break
        chosen = trial
    info["decision_lowpass_hz"] = chosen.decision_lowpass_hz
    return chosen, info


def _moving_mean(p: np.ndarray, width: int, trailing: bool) -> np.ndarray:
    """Moving mean of ``p`` over ``width`` samples: trailing (NaN until full) or centred (shrunk at the ends)."""
    from dmi_sensors.dsp import moving_mean

    if trailing:
        return moving_mean(p, width, "trailing")
    return moving_mean(p, 2 * max(1, width // 2) + 1, "centred")


def time_to_stabilise(
    acc: np.ndarray | None,
    fs_hz: float,
    event_end_s: float,
    *,
    event_onset_s: float | None = None,
    method: str = "moving_rms",
    params: TtsParams = TtsParams(),
    t0_s: float = 0.0,
    stop_s: float | None = None,
    baseline_from_s: float | None = None,
    noise: TtsNoise | None = None,
    prepared: TtsSignal | None = None,
    quiet_high_m2_s4: float | None = None,
) -> TtsResult:
    """Time to stabilise after an event ending at ``event_end_s``.

    Parameters
    ----------
    acc
        Horizontal COM (or COM-near) acceleration, ``(n, 2)`` AP/ML or ``(n,)``, m/s²
        (None when ``prepared`` is given).
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
    t0_s
        Time of the first sample, s.
    stop_s
        End of the analysed interval (default: end of the signal; pass the next event's
        onset to keep events apart). Recorded as ``trial_after_s = stop_s - event_end_s``.
    baseline_from_s
        The baseline starts no earlier than this (e.g. the previous event's end), s.
    noise
        Noise powers of this signal (:func:`tts_noise`); None: no correction.
    prepared
        :func:`tts_signal` of ``acc`` with the same ``params`` (saves filtering the whole
        signal once per event and method).
    quiet_high_m2_s4
        ``q_H²`` from the quiet parts of the whole recording, noise removed
        (:meth:`TtsSignal.quiet_reference`), instead of the baseline's own: the high band's
        noise power is large and fluctuates, a longer reference halves the error it puts
        into the threshold. None: the baseline's.
    """
    if method not in TTS_METHODS:
        raise ParameterError(f"method must be one of {TTS_METHODS}, got {method!r}")
    if prepared is None:
        if acc is None:
            raise ParameterError("time_to_stabilise needs acc or prepared")
        prepared = tts_signal(acc, fs_hz, params, t0_s)
    sig = prepared
    t0_s = sig.t0_s
    noise = noise or TtsNoise()
    n = sig.low.shape[0]
    onset = event_end_s if event_onset_s is None else event_onset_s
    if onset > event_end_s:
        raise ParameterError(f"event onset {onset} s is after its end {event_end_s} s")
    t_end_data = t0_s + n / fs_hz
    t_stop = t_end_data if stop_s is None else min(stop_s, t_end_data)
    result = TtsResult(
        method=method,
        tts_s=float("nan"),
        stable=False,
        status="",
        event_onset_s=float(onset),
        event_end_s=float(event_end_s),
        trial_after_s=float(t_stop - event_end_s),
        parameters={**asdict(params), "fs_hz": float(fs_hz)},
        fit={"noise_low_m2_s4": noise.low_m2_s4, "noise_high_m2_s4": noise.high_m2_s4, "noise_source": noise.source},
    )
    if not (t0_s <= onset < t_end_data):
        return _not(result, OUTSIDE)
    i_end = max(0, math.ceil((event_end_s - t0_s) * fs_hz - 1e-9))
    i_stop = min(n, math.ceil((t_stop - t0_s) * fs_hz - 1e-9))
    width = max(1, round(params.rms_window_s * fs_hz))
    hold = max(1, round(params.hold_s * fs_hz) + 1)  # samples from t to t + hold_s inclusive
    if i_stop - i_end < max(4, width):
        return _not(result, TOO_SHORT)
    trailing = params.rms_alignment == "trailing"

    # quiet powers over the baseline, noise removed (module docs, step 2)
    i_on = math.floor((onset - t0_s) * fs_hz + 1e-9)
    i_base = max(0, i_on - round(params.baseline_s * fs_hz))
    if baseline_from_s is not None:
        i_base = max(i_base, math.ceil((baseline_from_s - t0_s) * fs_hz - 1e-9))
    result.fit["baseline_s"] = max(0, i_on - i_base) / fs_hz
    if i_on - i_base < width:
        return _not(result, NO_BASELINE)
    raw_low = float(np.mean(sig.low[i_base:i_on]))
    raw_high = float(np.mean(sig.high[i_base:i_on]))
    q_low2 = max(0.0, raw_low - noise.low_m2_s4)
    q_high2 = max(0.0, raw_high - noise.high_m2_s4) if quiet_high_m2_s4 is None else float(quiet_high_m2_s4)
    quiet2 = q_low2 + q_high2
    k2 = params.threshold_factor**2
    decision2 = k2 * quiet2 - q_high2
    result.fit.update(
        {
            "quiet_rms_mps2": math.sqrt(quiet2),
            "quiet_rms_uncorrected_mps2": math.sqrt(raw_low + raw_high),
            "quiet_high_source": "baseline" if quiet_high_m2_s4 is None else "quiet parts of the recording",
            "threshold_mps2": params.threshold_factor * math.sqrt(quiet2),
            "decision_threshold_mps2": math.sqrt(max(decision2, 0.0)),
        }
    )
    if quiet2 <= 0.0 or decision2 <= 0.0:
        return _not(result, BELOW_NOISE)

    # the corrected profile after the event (its windows may reach back before the end)
    head = np.ascontiguousarray(sig.low[:i_stop])
    power = _moving_mean(head, width, trailing)[i_end:i_stop] - noise.low_m2_s4
    tau = (np.arange(i_end, i_stop) / fs_hz + t0_s) - event_end_s  # time since the event's end
    n_resp = min(power.shape[0], max(1, round(params.response_window_s * fs_hz)))
    peak = float(np.nanmax(power[:n_resp])) if np.any(np.isfinite(power[:n_resp])) else float("nan")
    result.fit["response_peak_rms_mps2"] = math.sqrt(max(peak, 0.0)) if math.isfinite(peak) else None
    if not peak > decision2:
        return _not(result, NO_RESPONSE)

    if method == "moving_rms":
        below = power < decision2  # NaN (window not yet full) counts as above
        j = _first_hold(below, hold)
        if j < 0:
            return _not(result, NO_STABLE)
        return _stable(result, float(tau[j]))

    # fits and Colby: the corrected RMS profile (or magnitude) where its window is complete
    # (windows wholly after the event's end: the fits describe the decay, not the push)
    if params.profile == "magnitude":
        prof = np.sqrt(np.maximum(sig.low[i_end:i_stop] - noise.low_m2_s4, 0.0))
        tau_f = tau
    else:
        post = _moving_mean(np.ascontiguousarray(sig.low[i_end:i_stop]), width, trailing) - noise.low_m2_s4
        ok = np.isfinite(post)
        prof = np.sqrt(np.maximum(post[ok], 0.0))
        tau_f = tau[ok]
    if prof.shape[0] < 4:
        return _not(result, TOO_SHORT)
    thr = math.sqrt(decision2)

    if method == "colby":
        running = np.cumsum(prof) / np.arange(1, prof.shape[0] + 1)
        mean, sd = float(prof.mean()), float(prof.std())
        half_band = params.band_sd * sd
        result.fit.update({"mean_mps2": mean, "sd_mps2": sd, "band_mps2": [mean - half_band, mean + half_band]})
        outside = np.flatnonzero(np.abs(running - mean) > half_band)
        if outside.size == 0:
            return _not(result, f"{BAD_FIT} (the running mean never left the band)")
        last = int(outside[-1])
        if last == prof.shape[0] - 1:
            return _not(result, NO_STABLE)
        return _stable(result, float(tau_f[last + 1]))

    if method == "polynomial":
        poly = np.polynomial.Polynomial.fit(tau_f, prof, 3)
        fitted = poly(tau_f)
        r2 = _r2(prof, fitted)
        result.fit["coefficients"] = [float(c) for c in poly.convert().coef]  # p(τ) = c0 + c1 τ + c2 τ² + c3 τ³
        result.fit["r2"] = r2
        if not fitted[0] > thr:
            return _not(result, f"{BAD_FIT} (the fit starts below the threshold)")
        if not r2 >= params.min_fit_r2:
            return _not(result, f"{BAD_FIT} (R² = {r2:.2f})")
        crossing = np.flatnonzero(fitted <= thr)
        if crossing.size == 0:
            return _not(result, NO_STABLE)
        return _stable(result, float(tau_f[crossing[0]]))

    # exponential
    fit = fit_exponential(tau_f, prof)
    if fit is None:
        return _not(result, f"{BAD_FIT} (no finite fit)")
    y_inf, y0, time_constant, r2 = fit
    result.fit.update({"y_inf_mps2": y_inf, "y0_mps2": y0, "time_constant_s": time_constant, "r2": r2})
    if not y0 > y_inf:
        return _not(result, f"{BAD_FIT} (no decay after the event)")
    if not r2 >= params.min_fit_r2:
        return _not(result, f"{BAD_FIT} (R² = {r2:.2f})")
    tts = time_constant * math.log(20.0)
    if tts > result.trial_after_s:
        return _not(result, NO_STABLE)
    return _stable(result, tts)


def _first_hold(below: np.ndarray, hold: int) -> int:
    """First index ``j`` with ``below[j : j + hold]`` all True and inside the array; -1 if none."""
    n = below.shape[0]
    if n < hold:
        return -1
    c = np.concatenate([[0], np.cumsum(below.astype(np.int64))])
    runs = c[hold:] - c[: n - hold + 1]
    hits = np.flatnonzero(runs == hold)
    return int(hits[0]) if hits.size else -1


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot <= 0.0:
        return float("nan")
    return 1.0 - float(np.sum((y - fitted) ** 2)) / ss_tot


def fit_exponential(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float] | None:
    """Least-squares ``y ≈ Y∞ + (Y0 - Y∞)·exp(-t/T)`` by variable projection.

    For a given T the model is linear in ``(Y∞, Y0 - Y∞)``: solved in closed form. T is
    searched on a log grid from 0.5 sample to 10 × the span, then refined by golden-section
    search on log T around the best grid point. ``Y∞, Y0 ≥ 0`` (a negative ``Y∞`` is set to
    0 and ``Y0`` refitted). Returns ``(Y∞, Y0, T, R²)`` or None when the data are degenerate.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if t.shape[0] < 4 or not np.all(np.isfinite(y)):
        return None
    t = t - t[0]
    span = float(t[-1])
    if span <= 0:
        return None
    dt = span / (t.shape[0] - 1)

    def solve(tc: float) -> tuple[float, float, float]:
        e = np.exp(-t / tc)
        # y = a + b e  (a = Y∞, b = Y0 - Y∞)
        se, see, sy, sey, n_ = e.sum(), (e * e).sum(), y.sum(), (e * y).sum(), float(t.shape[0])
        det = n_ * see - se * se
        if det <= 1e-12 * n_ * see:
            a, b = float(y.mean()), 0.0
        else:
            a = (see * sy - se * sey) / det
            b = (n_ * sey - se * sy) / det
        if a < 0.0:
            a = 0.0
            b = max(0.0, sey / see) if see > 0 else 0.0
        elif a + b < 0.0:
            b = -a
        res = y - a - b * e
        return a, b, float(res @ res)

    grid = np.geomspace(0.5 * dt, 10.0 * span, 48)
    sse = np.array([solve(float(tc))[2] for tc in grid])
    k = int(np.argmin(sse))
    lo, hi = math.log(grid[max(k - 1, 0)]), math.log(grid[min(k + 1, grid.shape[0] - 1)])
    g = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = solve(math.exp(x1))[2], solve(math.exp(x2))[2]
    for _ in range(40):
        if f1 < f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - g * (hi - lo)
            f1 = solve(math.exp(x1))[2]
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + g * (hi - lo)
            f2 = solve(math.exp(x2))[2]
    tc = math.exp((lo + hi) / 2.0)
    a, b, s = solve(tc)
    if s > sse[k]:
        tc = float(grid[k])
        a, b, s = solve(tc)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - s / ss_tot if ss_tot > 0 else float("nan")
    return a, a + b, tc, r2


def _stable(result: TtsResult, tts_s: float) -> TtsResult:
    result.tts_s = tts_s
    result.stable = True
    result.status = "stable"
    return result


def _not(result: TtsResult, status: str) -> TtsResult:
    result.tts_s = float("nan")
    result.stable = False
    result.status = status
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
    from dmi_sensors.dsp import moving_rms

    prof = moving_rms(y, 2 * half + 1)
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
