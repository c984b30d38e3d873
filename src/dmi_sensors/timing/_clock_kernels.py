"""Numba kernels behind :func:`dmi_sensors.timing.fit_clock` and :func:`~dmi_sensors.timing.clock_runs`.

They walk the samples once and allocate nothing per sample, so fitting the clock of a
10-hour recording (7.2 million samples at 200 Hz) needs its counters and arrival times and
one array of latencies, not a dozen temporaries (exports stream in bounded memory,
``docs/store.md``). The arithmetic is that of the numpy expressions they replaced, in the
same order, without fastmath, so the results are bit-identical (``tests/test_faults_units.py``
checks them against those numpy expressions).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["first_not_increasing", "latencies", "run_starts", "streaming_times_into", "window_minima"]


@njit(cache=True)
def first_not_increasing(c: np.ndarray) -> int:
    """Index ``i >= 1`` of the first ``c[i] <= c[i-1]``, or -1 when ``c`` strictly increases."""
    for i in range(1, c.shape[0]):
        if c[i] <= c[i - 1]:
            return i
    return -1


@njit(cache=True)
def window_minima(
    c: np.ndarray,
    h: np.ndarray,
    c_ref: int,
    fs_hz: float,
    slope: float,
    detrend: bool,
    width: int,
    out_c: np.ndarray,
    out_y: np.ndarray,
) -> int:
    """Per window of ``width`` counter values, the (first) minimum of
    ``y = h - k / fs_hz`` (``detrend``: ``y - slope * k``), ``k = c - c_ref`` as float.

    Writes the window minima's ``k`` (int64) and ``y`` to ``out_c`` / ``out_y`` (at least
    as long as the number of windows) and returns how many. ``c`` strictly increasing.
    """
    n = c.shape[0]
    m = 0
    if n == 0:
        return 0
    w_cur = (c[0] - c_ref) // width
    best_y = 0.0
    best_k = 0
    have = False
    for i in range(n):
        ki = c[i] - c_ref
        kf = float(ki)
        yi = h[i] - kf / fs_hz
        if detrend:
            yi = yi - slope * kf
        w = ki // width
        if w != w_cur:
            out_c[m] = best_k
            out_y[m] = best_y
            m += 1
            w_cur = w
            have = False
        if not have or yi < best_y:
            best_y = yi
            best_k = ki
            have = True
    out_c[m] = best_k
    out_y[m] = best_y
    return m + 1


@njit(cache=True)
def latencies(c: np.ndarray, h: np.ndarray, c_ref: int, offset: float, period: float, out: np.ndarray) -> None:
    """``out = h - (offset + period * k)``, ``k = c - c_ref`` as float."""
    for i in range(c.shape[0]):
        out[i] = h[i] - (offset + period * float(c[i] - c_ref))


@njit(cache=True)
def run_starts(c: np.ndarray, h: np.ndarray, gap: np.ndarray, fs_hz: float, jump_s: float, out: np.ndarray) -> int:
    """Sample indices ``i > 0`` where a new clock run starts (``timing.runs``): ``gap[i]`` and
    (the counter stepped by exactly 1: a reset; or ``|resid[i] - resid[i-1]| > jump_s`` with
    ``resid = h - (c - c[0]) / fs_hz``). Writes them to ``out``, returns how many."""
    n = c.shape[0]
    m = 0
    if n == 0:
        return 0
    c0 = c[0]
    prev = h[0] - float(c[0] - c0) / fs_hz
    for i in range(1, n):
        resid = h[i] - float(c[i] - c0) / fs_hz
        if gap[i] and (c[i] - c[i - 1] == 1 or abs(resid - prev) > jump_s):
            out[m] = i
            m += 1
        prev = resid
    return m


@njit(cache=True)
def streaming_times_into(
    c: np.ndarray, h: np.ndarray, fs_hz: float, r: float, state: np.ndarray, out: np.ndarray
) -> None:
    """:class:`~dmi_sensors.timing.StreamingClock`'s causal times of the next samples, in place.

    ``c``: unwrapped counters, ``h``: host arrival times, s (``n`` each); ``state`` ``(2,)`` =
    ``[running minimum of y - r·host in the current run, last counter]``, updated; ``out``
    ``(n,)`` (any stride). Per sample, in the order of the numpy expressions it replaced:
    ``base = c / fs``, ``z = (h - base) - r·h``; a counter not above the last starts a new
    run (minimum ``inf``); ``m = minimum(m, z)`` (NaN propagates, as ``np.minimum``);
    ``out = (base + r·h) + m``.
    """
    m = state[0]
    last = state[1]
    for i in range(c.shape[0]):
        ci = c[i]
        hi = h[i]
        if ci <= last:
            m = np.inf
        base = ci / fs_hz
        z = (hi - base) - r * hi
        if z < m or z != z:
            m = z
        out[i] = (base + r * hi) + m
        last = ci
    state[0] = m
    state[1] = last
