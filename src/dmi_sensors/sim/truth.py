"""Ground-truth helpers: moving RMS and the true time-to-stabilise after a push.

Time-to-stabilise (TTS), the definition used for the simulator's truth
------------------------------------------------------------------------
Inputs: horizontal COM acceleration ``a(t)`` (AP and ML, m/s^2), the push's onset and end.

1. Quiet level ``q = sqrt(mean |a|^2)`` over ``[onset - quiet_window_s, onset)`` (clipped to
   the data available before the onset; at least one window's worth is required).
2. Trailing moving RMS ``r(t_k) = sqrt(mean_{j=k-W+1..k} |a_j|^2)``, ``W = round(window_s
   fs)`` samples (default 1 s), defined once ``W`` samples are available.
3. TTS = ``t* - end`` where ``t*`` is the first sample time ``>= end`` such that
   ``r(t) < factor * q`` (default 1.5) for every sample from ``t*`` to ``t* + hold_s``
   (default 1 s), all before ``until_s`` (the end of the data, or the next event). ``NaN``
   if that never happens. ``hold_s=None`` requires ``r < factor * q`` from ``t*`` until
   ``until_s`` (the definition before issue 13: quiet sway alone re-crosses 1.5 ``q`` now and
   then, so that variant could report 17 s for a response that was over after 1.5 s).

Because the window trails, ``r`` at ``t*`` covers ``[t* - window_s, t*]``: the TTS includes
the time the window needs to leave the push. Estimators that want the same number must use
the same window alignment, threshold and quiet interval (the metrics layer exposes them as
parameters, Fransz et al. 2015).
"""

from __future__ import annotations

import math

import numpy as np

from dmi_sensors.dsp import moving_mean
from dmi_sensors.errors import ParameterError

__all__ = ["moving_rms", "true_time_to_stabilise"]


def _squared_magnitude(acc: np.ndarray) -> np.ndarray:
    a = np.asarray(acc, dtype=np.float64)
    if a.ndim == 1:
        return a * a
    if a.ndim == 2:
        return np.sum(a * a, axis=1)
    raise ParameterError(f"acceleration must have shape (n,) or (n, k), got {a.shape}")


def moving_rms(acc: np.ndarray, window_n: int) -> np.ndarray:
    """Trailing moving RMS of ``|acc|`` over ``window_n`` samples; NaN for the first
    ``window_n - 1`` (:func:`dmi_sensors.dsp.moving_mean` of ``|acc|²``)."""
    if window_n < 1:
        raise ParameterError(f"window_n must be >= 1, got {window_n}")
    return _rms_of_squares(_squared_magnitude(acc), window_n)


def _rms_of_squares(sq: np.ndarray, window_n: int) -> np.ndarray:
    return np.sqrt(np.maximum(moving_mean(sq, window_n, "trailing"), 0.0))


def true_time_to_stabilise(
    time_s: np.ndarray,
    acc_h_mps2: np.ndarray,
    onset_s: float,
    end_s: float,
    *,
    window_s: float = 1.0,
    factor: float = 1.5,
    quiet_window_s: float = 5.0,
    until_s: float | None = None,
    hold_s: float | None = 1.0,
) -> float:
    """Time from the end of an event until the horizontal acceleration is quiet again, s.

    Parameters
    ----------
    time_s
        Uniform sample times, s, shape ``(n,)``.
    acc_h_mps2
        Horizontal acceleration, ``(n, 2)`` (AP, ML) or ``(n,)``, m/s^2.
    onset_s, end_s
        Start and end of the event (push), s.
    window_s, factor, quiet_window_s, until_s, hold_s
        See the module docstring.

    Returns ``NaN`` when the signal never stays below the threshold before ``until_s``.
    """
    t = np.asarray(time_s, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] < 2:
        raise ParameterError("time_s must be 1-D with at least 2 samples")
    sq = _squared_magnitude(acc_h_mps2)
    if sq.shape[0] != t.shape[0]:
        raise ParameterError(f"time_s ({t.shape[0]}) and acc_h_mps2 ({sq.shape[0]}) lengths differ")
    if not end_s >= onset_s:
        raise ParameterError(f"end_s ({end_s}) must be >= onset_s ({onset_s})")
    fs = 1.0 / float(np.median(np.diff(t)))
    w = max(1, round(window_s * fs))
    quiet = (t >= onset_s - quiet_window_s) & (t < onset_s)
    if np.count_nonzero(quiet) < w:
        raise ParameterError(f"need at least {window_s} s of data before the onset at {onset_s} s for the quiet level")
    q = math.sqrt(float(np.mean(sq[quiet])))
    r = _rms_of_squares(sq, w)  # moving_rms of |acc| (sq already computed)
    until = t[-1] if until_s is None else float(until_s)
    idx = np.flatnonzero((t >= end_s - 1e-12) & (t <= until + 1e-12))
    if idx.size == 0:
        return math.nan
    below = r[idx] < factor * q  # NaN counts as not quiet
    if hold_s is None:
        if not below[-1]:
            return math.nan
        last_above = np.flatnonzero(~below)
        k0 = idx[0] if last_above.size == 0 else idx[last_above[-1] + 1]
        return float(t[k0] - end_s)
    hold = round(hold_s * fs) + 1  # samples from t* to t* + hold_s inclusive
    if below.shape[0] < hold:
        return math.nan
    c = np.concatenate([[0], np.cumsum(below.astype(np.int64))])
    hits = np.flatnonzero(c[hold:] - c[: below.shape[0] - hold + 1] == hold)
    return float(t[idx[hits[0]]] - end_s) if hits.size else math.nan
