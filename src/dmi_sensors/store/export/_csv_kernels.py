"""Numba kernels of the CSV/TSV writer (:mod:`dmi_sensors.store.export.csvtext`).

Cells arrive as byte strings in Arrow's layout (an ``offsets`` array of ``n + 1`` positions
into one ``data`` byte array); the kernels reshape float text into Python's ``repr`` form
and join cells into lines.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["MAX_FLOAT_CHARS", "join_rows", "repr_floats", "take_cells"]

#: Longest ``repr`` of a float64: ``-1.2345678901234567e-308`` (24) or ``-0.0001234567890123456``.
MAX_FLOAT_CHARS = 26

_ZERO = 48  # b"0"
_DOT = 46  # b"."
_MINUS = 45  # b"-"
_PLUS = 43  # b"+"
_E = 101  # b"e"
_N = 110  # b"n" (nan)
_I = 105  # b"i" (inf)


@njit(cache=True)
def repr_floats(
    offsets: np.ndarray, data: np.ndarray, na: np.ndarray, out_offsets: np.ndarray, out_data: np.ndarray
) -> int:
    """Rewrite shortest round-trip float texts (any layout: ``-0``, ``0.00001``, ``1e+16``,
    ``1.5e-7``, ``nan``, ``inf``) as Python's ``repr`` writes the same digits.

    ``repr`` (Python's ``'r'`` format, also numpy's ``str``): with the value written as
    ``d.ddd x 10^k``, positional when ``-4 <= k < 16`` with at least one digit after the
    point (``100.0``, ``0.0001``), otherwise ``d.ddde±XX`` with at least two exponent digits
    (``1e-05``, ``1.5e+16``). ``nan`` becomes the bytes ``na``; ``inf``/``-inf`` stay.
    Writes ``out_offsets`` (n + 1) and ``out_data``; returns the bytes written.
    """
    n = offsets.shape[0] - 1
    digits = np.empty(32, dtype=np.uint8)
    pos = 0
    out_offsets[0] = 0
    for r in range(n):
        a = offsets[r]
        b = offsets[r + 1]
        neg = data[a] == _MINUS
        if neg:
            a += 1
        first = data[a]
        if first == _N:  # nan
            for j in range(na.shape[0]):
                out_data[pos] = na[j]
                pos += 1
            out_offsets[r + 1] = pos
            continue
        if neg:
            out_data[pos] = _MINUS
            pos += 1
        if first == _I:  # inf
            for j in range(a, b):
                out_data[pos] = data[j]
                pos += 1
            out_offsets[r + 1] = pos
            continue
        # mantissa digits (leading zeros dropped), digits before the point, exponent
        nd = 0
        point = -1
        before = 0
        j = a
        while j < b and data[j] != _E:
            ch = data[j]
            if ch == _DOT:
                point = nd
            elif nd == 0 and ch == _ZERO:
                if point < 0:
                    pass  # leading zero before the point: no weight
                else:
                    before -= 1  # 0.00x: each zero after the point moves the first digit down
            else:
                digits[nd] = ch
                nd += 1
            j += 1
        if point < 0:
            point = nd
        exp10 = 0
        if j < b:  # exponent
            j += 1
            eneg = data[j] == _MINUS
            if data[j] == _MINUS or data[j] == _PLUS:
                j += 1
            while j < b:
                exp10 = exp10 * 10 + (data[j] - _ZERO)
                j += 1
            if eneg:
                exp10 = -exp10
        while nd > 0 and digits[nd - 1] == _ZERO:  # trailing zeros carry no digits
            nd -= 1
        if nd == 0:  # zero
            out_data[pos] = _ZERO
            out_data[pos + 1] = _DOT
            out_data[pos + 2] = _ZERO
            pos += 3
            out_offsets[r + 1] = pos
            continue
        k = point + before + exp10 - 1  # value = d.ddd x 10^k
        if -4 <= k < 16:
            if k >= 0:
                for i in range(k + 1):
                    out_data[pos] = digits[i] if i < nd else _ZERO
                    pos += 1
                out_data[pos] = _DOT
                pos += 1
                if nd > k + 1:
                    for i in range(k + 1, nd):
                        out_data[pos] = digits[i]
                        pos += 1
                else:
                    out_data[pos] = _ZERO
                    pos += 1
            else:
                out_data[pos] = _ZERO
                out_data[pos + 1] = _DOT
                pos += 2
                for _ in range(-k - 1):
                    out_data[pos] = _ZERO
                    pos += 1
                for i in range(nd):
                    out_data[pos] = digits[i]
                    pos += 1
        else:
            out_data[pos] = digits[0]
            pos += 1
            if nd > 1:
                out_data[pos] = _DOT
                pos += 1
                for i in range(1, nd):
                    out_data[pos] = digits[i]
                    pos += 1
            out_data[pos] = _E
            out_data[pos + 1] = _MINUS if k < 0 else _PLUS
            pos += 2
            e = -k if k < 0 else k
            if e >= 100:
                out_data[pos] = _ZERO + e // 100
                pos += 1
            out_data[pos] = _ZERO + (e // 10) % 10
            out_data[pos + 1] = _ZERO + e % 10
            pos += 2
        out_offsets[r + 1] = pos
    return pos


@njit(cache=True)
def take_cells(
    codes: np.ndarray, offsets: np.ndarray, data: np.ndarray, out_offsets: np.ndarray, out_data: np.ndarray
) -> int:
    """Cell ``r`` = dictionary entry ``codes[r]`` (``offsets``/``data``); returns the bytes written."""
    pos = 0
    out_offsets[0] = 0
    for r in range(codes.shape[0]):
        c = codes[r]
        for j in range(offsets[c], offsets[c + 1]):
            out_data[pos] = data[j]
            pos += 1
        out_offsets[r + 1] = pos
    return pos


@njit(cache=True)
def join_rows(offsets: np.ndarray, data: np.ndarray, sep: np.ndarray, end: np.ndarray, out: np.ndarray) -> int:
    """Lines of cells: row ``r`` is ``cell(0, r) sep cell(1, r) ... end``.

    ``offsets`` (columns, n + 1) index into ``data`` (all columns' cells, each column's
    offsets already shifted to where its bytes start). Returns the bytes written to ``out``.
    """
    n_cols = offsets.shape[0]
    n = offsets.shape[1] - 1
    pos = 0
    for r in range(n):
        for c in range(n_cols):
            if c:
                for j in range(sep.shape[0]):
                    out[pos] = sep[j]
                    pos += 1
            for j in range(offsets[c, r], offsets[c, r + 1]):
                out[pos] = data[j]
                pos += 1
        for j in range(end.shape[0]):
            out[pos] = end[j]
            pos += 1
    return pos
