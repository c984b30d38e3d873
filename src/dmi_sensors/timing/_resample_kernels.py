"""Numba kernel of :func:`dmi_sensors.timing.resample.resample_uniform`: the grid walk in one pass.

The numpy version it replaced (a ``searchsorted``, two ``isclose`` and five temporaries of
the output's size) is kept as the reference in ``tests/test_timing_resample.py``; the kernel
gives its results bit for bit (the same operations per grid point, in the same order).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def resample_grid(t, dt, bridge_ok, v2, fs_hz, k0, out, valid):
    """Linear interpolation of ``v2`` ``(n, c)`` at times ``t`` onto ``(k0 + i) / fs_hz``.

    For grid point ``i`` (``g = float(k0 + i) / fs_hz``): ``j`` is the last sample with
    ``t[j] <= g`` clipped to ``[0, n - 2]``; ``g`` within 1e-9 s of ``t[j]`` (or of
    ``t[j + 1]``) takes that sample's values; otherwise ``v[j] + (v[j+1] - v[j]) · frac``
    with ``frac = (g - t[j]) / dt[j]``; where the step ``j -> j + 1`` may not be bridged
    (``bridge_ok[j]`` False) and ``g`` is on neither sample, NaN and ``valid[i] = False``.
    Writes ``out`` ``(m, c)`` and ``valid`` ``(m,)``.
    """
    n = t.shape[0]
    c = v2.shape[1]
    m = out.shape[0]
    p = 0  # samples with t <= g (the grid rises, so p only moves forward)
    for i in range(m):
        g = float(k0 + i) / fs_hz
        while p < n and t[p] <= g:
            p += 1
        j = min(max(p - 1, 0), n - 2)
        left = abs(g - t[j]) <= 1e-9
        right = abs(g - t[j + 1]) <= 1e-9
        ok = bridge_ok[j] or left or right
        valid[i] = ok
        if not ok:
            for k in range(c):
                out[i, k] = np.nan
        elif left:
            for k in range(c):
                out[i, k] = v2[j, k]
        elif right:
            for k in range(c):
                out[i, k] = v2[j + 1, k]
        else:
            frac = (g - t[j]) / dt[j]
            for k in range(c):
                out[i, k] = v2[j, k] + (v2[j + 1, k] - v2[j, k]) * frac
    return out
