"""Numba kernels for cascaded second-order sections (direct form II transposed).

The arithmetic is written in exactly the order of scipy's ``_sosfilt`` so that results are
bit-identical to :func:`scipy.signal.sosfilt` (each section: ``y = b0*x + z0``,
``z0 = b1*x - a1*y + z1``, ``z1 = b2*x - a2*y``; ``a0`` is 1).

State layout is scipy's ``zi`` for an ``(n_samples, n_channels)`` input filtered along
axis 0: ``zi[section, k, channel]`` with ``k`` in {0, 1}.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["odd_extend", "sos_filter_into", "sos_filter_reverse_into", "sos_row_inplace"]


@njit(cache=True, inline="always")
def sos_row_inplace(sos: np.ndarray, zi: np.ndarray, buf: np.ndarray, i: int) -> None:
    """Run row ``i`` of ``buf`` (n, c) through every section of ``sos`` in place, updating ``zi``.

    The one copy of the direct-form-II-transposed step (scipy's order of operations); the
    forward, reverse and fused-chain kernels all call it (inlined by Numba).
    """
    c = buf.shape[1]
    for s in range(sos.shape[0]):
        b0 = sos[s, 0]
        b1 = sos[s, 1]
        b2 = sos[s, 2]
        a1 = sos[s, 4]
        a2 = sos[s, 5]
        for ch in range(c):
            x_cur = buf[i, ch]
            x_new = b0 * x_cur + zi[s, 0, ch]
            zi[s, 0, ch] = b1 * x_cur - a1 * x_new + zi[s, 1, ch]
            zi[s, 1, ch] = b2 * x_cur - a2 * x_new
            buf[i, ch] = x_new


@njit(cache=True)
def sos_filter_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """Filter ``x`` (n, c) through ``sos`` (s, 6) into ``out`` (n, c), updating ``zi`` (s, 2, c) in place.

    ``out`` may be ``x`` itself (in-place filtering). Returns nothing (returning an array
    from a Numba function costs ~0.2 us per call, which matters for packet-sized calls).
    """
    n = x.shape[0]
    c = x.shape[1]
    for i in range(n):
        for ch in range(c):
            out[i, ch] = x[i, ch]
        sos_row_inplace(sos, zi, out, i)


@njit(cache=True)
def sos_filter_reverse_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """Like :func:`sos_filter_into` but runs from the last sample to the first.

    ``out[i]`` is the filter output after consuming ``x[n-1], ..., x[i]``: the backward pass
    of a forward-backward filter without materialising the reversed array.
    """
    n = x.shape[0]
    c = x.shape[1]
    for i in range(n - 1, -1, -1):
        for ch in range(c):
            out[i, ch] = x[i, ch]
        sos_row_inplace(sos, zi, out, i)


@njit(cache=True)
def odd_extend(x: np.ndarray, edge: int) -> np.ndarray:
    """Odd extension of ``x`` (n, c) by ``edge`` samples at both ends (scipy's ``odd_ext``).

    ``left[k] = 2*x[0] - x[edge-k]``, ``right[k] = 2*x[n-1] - x[n-2-k]``.
    """
    n = x.shape[0]
    c = x.shape[1]
    ext = np.empty((n + 2 * edge, c))
    for k in range(edge):
        for ch in range(c):
            ext[k, ch] = 2 * x[0, ch] - x[edge - k, ch]
    for i in range(n):
        for ch in range(c):
            ext[edge + i, ch] = x[i, ch]
    for k in range(edge):
        for ch in range(c):
            ext[edge + n + k, ch] = 2 * x[n - 1, ch] - x[n - 2 - k, ch]
    return ext
