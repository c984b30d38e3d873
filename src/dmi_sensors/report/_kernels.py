"""Numba kernel of the report figures: min/max decimation of long traces."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["minmax_buckets_into"]


@njit(cache=True)
def minmax_buckets_into(t: np.ndarray, v: np.ndarray, edges: np.ndarray, out_t: np.ndarray, out_v: np.ndarray) -> None:
    """Bucket ``b`` = samples ``edges[b]:edges[b+1]`` -> its minimum and maximum, in time order.

    Exactly ``numpy.nanargmin``/``nanargmax`` per bucket (first occurrence; NaN counts as
    +inf for the minimum and -inf for the maximum); an empty or all-NaN bucket gives two
    NaN values at ``t[lo]`` (NaN time when empty).
    """
    for b in range(edges.shape[0] - 1):
        lo = edges[b]
        hi = edges[b + 1]
        i_min = -1
        i_max = -1
        v_min = np.inf
        v_max = -np.inf
        finite = False
        for i in range(lo, hi):
            x = v[i]
            if x != x:  # NaN
                continue
            finite = True
            if i_min < 0 or x < v_min:
                v_min = x
                i_min = i
            if i_max < 0 or x > v_max:
                v_max = x
                i_max = i
        if not finite:
            tt = t[lo] if hi > lo else np.nan
            out_t[2 * b] = tt
            out_t[2 * b + 1] = tt
            out_v[2 * b] = np.nan
            out_v[2 * b + 1] = np.nan
            continue
        # numpy replaces NaN by +inf (argmin) / -inf (argmax): a NaN before the first
        # infinite extreme wins the tie
        if v_min == np.inf:
            i_min = lo
        if v_max == -np.inf:
            i_max = lo
        a = min(i_min, i_max)
        c = max(i_min, i_max)
        out_t[2 * b] = t[a]
        out_t[2 * b + 1] = t[c]
        out_v[2 * b] = v[a]
        out_v[2 * b + 1] = v[c]
