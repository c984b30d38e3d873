"""Small signal helpers shared by posture and repetition detection (offline, zero-phase).

Offline on purpose: detection runs on a recorded stretch (or a replayed one), so zero-phase
filters (:func:`dmi_sensors.dsp.filtfilt`, bit for bit ``scipy.signal.sosfiltfilt``, on the
cached scipy designs of :func:`~dmi_sensors.dsp.butter_lowpass`: no ``scipy.signal`` import
and no filter design per call) avoid onset lags. Intervals are half-open sample ranges
``[start, stop)``.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.dsp import butter_bandpass, butter_lowpass, filtfilt
from dmi_sensors.errors import ParameterError

__all__ = ["bandpass", "check_inputs", "label_runs", "lowpass", "merge_short_runs", "runs"]


def check_inputs(
    time_s: np.ndarray, fs_hz: float, **arrays: np.ndarray | None
) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """Validate a uniformly sampled recording; returns float arrays (None stays None)."""
    t = np.asarray(time_s, dtype=np.float64)
    if t.ndim != 1:
        raise ParameterError(f"time_s must be 1-D, got shape {t.shape}")
    if not (np.isfinite(fs_hz) and fs_hz > 0):
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    out: dict[str, np.ndarray | None] = {}
    for name, arr in arrays.items():
        if arr is None:
            out[name] = None
            continue
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != (t.shape[0], 3):
            raise ParameterError(f"{name} must have shape ({t.shape[0]}, 3), got {a.shape}")
        if not np.isfinite(a).all():
            raise ParameterError(f"{name} contains NaN or infinite values (resample gaps first)")
        out[name] = a
    return t, out


def _pad_ok(n: int, sos: np.ndarray) -> int:
    # sosfiltfilt's default padlen is 3 * (2 * len(sos) + 1); shorten it for short inputs.
    return min(n - 1, 3 * (2 * len(sos) + 1))


def lowpass(x: np.ndarray, fs_hz: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0."""
    sos = butter_lowpass(cutoff_hz, fs_hz, order)
    if x.shape[0] < 2:
        return x.copy()
    return filtfilt(sos, x, padlen=_pad_ok(x.shape[0], sos))


def bandpass(x: np.ndarray, fs_hz: float, low_hz: float, high_hz: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass along axis 0 (high edge clipped below Nyquist)."""
    high_hz = min(high_hz, 0.45 * fs_hz)
    sos = butter_bandpass(low_hz, high_hz, fs_hz, order)
    if x.shape[0] < 2:
        return np.zeros_like(x)
    return filtfilt(sos, x, padlen=_pad_ok(x.shape[0], sos))


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and stops (exclusive) of the runs of True in a boolean array."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def label_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of a label array: (starts, stops, values)."""
    n = labels.shape[0]
    if n == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, labels[:0]
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], change))
    stops = np.concatenate((change, [n]))
    return starts, stops, labels[starts]


def merge_short_runs(labels: np.ndarray, min_len: int) -> np.ndarray:
    """Absorb runs shorter than ``min_len`` samples into a neighbour, shortest first.

    A short run takes the label of its longer neighbour (the earlier one on a tie); runs
    with equal labels then join. Stops when every run is at least ``min_len`` long or only
    one run is left.
    """
    out = labels.copy()
    while True:
        starts, stops, values = label_runs(out)
        lengths = stops - starts
        if len(lengths) <= 1:
            return out
        i = int(np.argmin(lengths))
        if lengths[i] >= min_len:
            return out
        left = lengths[i - 1] if i > 0 else -1
        right = lengths[i + 1] if i + 1 < len(lengths) else -1
        out[starts[i] : stops[i]] = values[i - 1] if left >= right else values[i + 1]
