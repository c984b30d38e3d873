"""Numba kernel of :mod:`dmi_sensors.metrics.structure`: sample entropy of many windows in one call.

The pure-Python reference (the definition written out) is ``tests/test_structure.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def sampen_windows(x, starts, stops, step, increments, m, r, min_n, out, r_absolute=False):
    """Sample entropy (Richman & Moorman 2000) of each window of ``x``, written to ``out``.

    The window ``[starts[w], stops[w])`` is decimated to every ``step``-th sample; with
    ``increments`` the series is the differences of those samples (Ramdani et al. 2009),
    else the samples themselves. Tolerance ``r·SD`` with the population SD (1/N) of the
    series (``r_absolute``: ``r`` itself, in the series' units); ``N - m`` templates of
    length ``m`` and ``m + 1`` (self-matches excluded); Chebyshev distance; ``-ln(A/B)``.
    NaN when the series has fewer than ``min_n`` values,
    no spread, a non-finite value, or ``A = 0`` / ``B = 0`` (undefined).

    The pairs are found through the templates sorted by their first value: a pair can only
    match if its first values are within ``tol``, so each template is compared with the
    run of its successors in that order whose first value is at most ``tol`` above its own
    (about ``2Φ(r/√2) - 1``, ~11 % of the pairs at ``r = 0.2`` for Gaussian values, instead
    of all of them). Every unordered pair whose first values match is visited exactly
    once and tested with the same comparisons (``|a - b|`` is symmetric and, for sorted
    values, equal to ``b - a`` in floating point; rounding is monotone, so the run ends at
    the first value beyond ``tol``): the counts ``A`` and ``B``, and so the result, are the
    all-pairs definition's exactly (tested against it in ``tests/test_structure.py``).
    """
    n_win = starts.shape[0]
    for w in range(n_win):
        a = starts[w]
        b = stops[w]
        n_dec = (b - a + step - 1) // step
        n = n_dec - 1 if increments else n_dec
        out[w] = np.nan
        if n < min_n or n < m + 2:
            continue
        y = np.empty(n)
        for i in range(n):
            if increments:
                y[i] = x[a + (i + 1) * step] - x[a + i * step]
            else:
                y[i] = x[a + i * step]
        mean = 0.0
        for i in range(n):
            mean += y[i]
        if not math.isfinite(mean):
            continue  # a gap or an absent COM in the window: no value
        mean /= n
        var = 0.0
        for i in range(n):
            var += (y[i] - mean) ** 2
        sd = math.sqrt(var / n)
        if not sd > 0.0:
            continue
        tol = r if r_absolute else r * sd
        n_t = n - m
        order = np.argsort(y[:n_t])
        # cols[k, p] = y[order[p] + k]: the templates' values in sorted order, one contiguous
        # row per position, so the candidates of a template are a contiguous run of columns
        cols = np.empty((m + 1, n_t))
        for p in range(n_t):
            i = order[p]
            for k in range(m + 1):
                cols[k, p] = y[i + k]
        first = cols[0]
        count_b = 0
        count_a = 0
        end = 0
        for p in range(n_t):
            lo = first[p]
            # candidates: q in (p, end), the successors whose first value is at most tol
            # above lo; end never moves back (first is sorted and subtraction is monotone)
            if end < p + 1:
                end = p + 1
            while end < n_t and not (first[end] - lo > tol):
                end += 1
            if m == 1:
                count_b += end - p - 1
                last = cols[1]
                hi = last[p]
                for q in range(p + 1, end):
                    count_a += abs(hi - last[q]) <= tol
            elif m == 2:
                c1 = cols[1]
                c2 = cols[2]
                v1 = c1[p]
                v2 = c2[p]
                for q in range(p + 1, end):
                    ok1 = abs(v1 - c1[q]) <= tol
                    count_b += ok1
                    count_a += ok1 & (abs(v2 - c2[q]) <= tol)
            else:
                for q in range(p + 1, end):
                    ok = True
                    for k in range(1, m):
                        if abs(cols[k, p] - cols[k, q]) > tol:
                            ok = False
                            break
                    if ok:
                        count_b += 1
                        if abs(cols[m, p] - cols[m, q]) <= tol:
                            count_a += 1
        if count_a > 0 and count_b > 0:
            out[w] = -math.log(count_a / count_b)
    return out
