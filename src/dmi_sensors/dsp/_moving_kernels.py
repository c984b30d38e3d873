"""Numba kernel of the moving mean (and mean square): one sliding sum for every window profile.

:func:`moving_mean_into` is the arithmetic behind :func:`dmi_sensors.dsp.moving_mean` and
:func:`dmi_sensors.dsp.moving_rms`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["moving_mean_into"]


@njit(cache=True)
def moving_mean_into(x, before, after, full_only, square, out):
    """``out[i, c] = mean(v[j, c])`` over ``j`` in ``[i - before, i + after]`` with ``v = x``
    (or ``x²`` when ``square``), the window shrunk at the ends or NaN where an end cuts it
    (``full_only``). ``x`` and ``out``: ``(n, k)`` float64.

    O(N) per column: a sliding sum, summed afresh every ``before + after + 1`` steps, so its
    round-off (~1e-16 × the values of the last two windows) never grows with N and a quiet
    window after a loud one keeps its relative precision (a cumulative sum over the whole
    signal lost it: 5 % on a mean square of 1.6e-13 after 300 samples of unit size).
    """
    n = x.shape[0]
    width = before + after + 1
    for c in range(x.shape[1]):
        s = 0.0
        lo = 0
        hi = 0
        for i in range(n):
            new_lo = max(0, i - before)
            new_hi = min(n, i + after + 1)
            if i % width == 0:
                s = 0.0
                for j in range(new_lo, new_hi):
                    s += x[j, c] * x[j, c] if square else x[j, c]
            else:
                for j in range(hi, new_hi):
                    s += x[j, c] * x[j, c] if square else x[j, c]
                for j in range(lo, new_lo):
                    s -= x[j, c] * x[j, c] if square else x[j, c]
            lo = new_lo
            hi = new_hi
            if full_only and hi - lo < width:
                out[i, c] = np.nan
            else:
                out[i, c] = s / (hi - lo)
