"""Numba kernels for cascaded second-order sections (direct form II transposed).

The arithmetic is written in exactly the order of scipy's ``_sosfilt`` so that results are
bit-identical to :func:`scipy.signal.sosfilt` (each section: ``y = b0*x + z0``,
``z0 = b1*x - a1*y + z1``, ``z1 = b2*x - a2*y``; ``a0`` is 1).

State layout is scipy's ``zi`` for an ``(n_samples, n_channels)`` input filtered along
axis 0: ``zi[section, k, channel]`` with ``k`` in {0, 1}.

How the whole-array kernel is fast (``sos_filter_into``; measured in
``benchmarks/bench_dsp.py``, see ``docs/performance.md``):

* **Cascade order.** Sections run in *pairs*: one pass over the rows takes a group of
  three channels (or one) through two sections, with the four delay registers of each
  channel in local variables (CPU registers) instead of the ``zi`` array. Kept in memory,
  every row stored and reloaded them (a store-to-load forwarding delay inside the
  recursion) and the stores alone took as many cycles as the arithmetic. Section pairs
  after the first pair run as further passes over the output, in place; an odd last
  section and channels left over use the row-by-row kernel. Each section still sees its
  input samples in order, so the order of the passes does not change a single bit.
* **Exact shortcuts for Butterworth sections.** scipy's designs have ``b2 == b0`` in every
  section and ``b0 == b2 == 1`` in every section after the first. Then ``b2*x`` is the
  same product as ``b0*x`` (computed once) and ``1.0*x`` is ``x``: 4 and 3 multiplications
  per section instead of 5, with identical results (the comparison is bitwise, so a
  ``-0.0`` against ``0.0`` takes the general path).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "odd_extend",
    "ready_packet_kernel",
    "sos_filter_into",
    "sos_filter_passes_into",
    "sos_filter_reverse_into",
    "sos_packet_into",
    "sos_row_inplace",
]

#: Shorter inputs (a BLE packet's worth) run row by row: setting up the passes costs more.
PASS_MIN_ROWS = 32
#: Section pair shapes (``_pair_kind``): general, or first section symmetric and second unit.
GENERAL = 0
BUTTER = 1


@njit(cache=True, inline="always")
def sos_row_inplace(sos: np.ndarray, zi: np.ndarray, buf: np.ndarray, i: int) -> None:
    """Run row ``i`` of ``buf`` (n, c) through every section of ``sos`` in place, updating ``zi``.

    The one copy of the direct-form-II-transposed step (scipy's order of operations); the
    row-by-row kernels call it (inlined by Numba).
    """
    _row_sections(sos, 0, sos.shape[0], zi, buf, i, 0, buf.shape[1])


@njit(cache=True, inline="always")
def _row_sections(
    sos: np.ndarray, s_lo: int, s_hi: int, zi: np.ndarray, buf: np.ndarray, i: int, c_lo: int, c_hi: int
) -> None:
    """Sections ``s_lo..s_hi-1`` on channels ``c_lo..c_hi-1`` of row ``i`` of ``buf``, in place."""
    for s in range(s_lo, s_hi):
        b0 = sos[s, 0]
        b1 = sos[s, 1]
        b2 = sos[s, 2]
        a1 = sos[s, 4]
        a2 = sos[s, 5]
        for ch in range(c_lo, c_hi):
            x_cur = buf[i, ch]
            x_new = b0 * x_cur + zi[s, 0, ch]
            zi[s, 0, ch] = b1 * x_cur - a1 * x_new + zi[s, 1, ch]
            zi[s, 1, ch] = b2 * x_cur - a2 * x_new
            buf[i, ch] = x_new


@njit(cache=True)
def _rows_pass(
    sos: np.ndarray,
    s_lo: int,
    s_hi: int,
    x: np.ndarray,
    zi: np.ndarray,
    out: np.ndarray,
    c_lo: int,
    c_hi: int,
    start: int,
    step: int,
) -> None:
    """Row by row (``start``, ``start + step``, ...): copy ``x`` into ``out`` and run sections
    ``s_lo..s_hi-1`` on channels ``c_lo..c_hi-1`` in place (state in ``zi``)."""
    for k in range(x.shape[0]):
        i = start + k * step
        for ch in range(c_lo, c_hi):
            out[i, ch] = x[i, ch]
        _row_sections(sos, s_lo, s_hi, zi, out, i, c_lo, c_hi)


@njit(cache=True)
def _bits_equal(a: float, b: float) -> bool:
    return a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))


@njit(cache=True)
def _pair_kind(sos: np.ndarray, s: int) -> int:
    """``BUTTER`` when section ``s`` has ``b2 == b0`` and section ``s + 1`` ``b0 == b2 == 1``."""
    if _bits_equal(sos[s, 0], sos[s, 2]) and sos[s + 1, 0] == 1.0 and sos[s + 1, 2] == 1.0:
        return BUTTER
    return GENERAL


@njit(cache=True)
def _pair_pass3(
    sos: np.ndarray, s: int, x: np.ndarray, zi: np.ndarray, out: np.ndarray, c0: int, start: int, step: int
) -> None:
    """Channels ``c0..c0+2`` through sections ``s`` and ``s + 1``, rows in the order
    ``start, start + step, ...``, delay registers in locals."""
    n = x.shape[0]
    b0 = sos[s, 0]
    b1 = sos[s, 1]
    b2 = sos[s, 2]
    a1 = sos[s, 4]
    a2 = sos[s, 5]
    e0 = sos[s + 1, 0]
    e1 = sos[s + 1, 1]
    e2 = sos[s + 1, 2]
    f1 = sos[s + 1, 4]
    f2 = sos[s + 1, 5]
    c1 = c0 + 1
    c2 = c0 + 2
    u0, v0, p0, q0 = zi[s, 0, c0], zi[s, 1, c0], zi[s + 1, 0, c0], zi[s + 1, 1, c0]
    u1, v1, p1, q1 = zi[s, 0, c1], zi[s, 1, c1], zi[s + 1, 0, c1], zi[s + 1, 1, c1]
    u2, v2, p2, q2 = zi[s, 0, c2], zi[s, 1, c2], zi[s + 1, 0, c2], zi[s + 1, 1, c2]
    if _pair_kind(sos, s) == BUTTER:
        for k in range(n):
            i = start + k * step
            x0 = x[i, c0]
            x1 = x[i, c1]
            x2 = x[i, c2]
            m0 = b0 * x0  # = b2 * x0
            m1 = b0 * x1
            m2 = b0 * x2
            y0 = m0 + u0
            u0 = b1 * x0 - a1 * y0 + v0
            v0 = m0 - a2 * y0
            y1 = m1 + u1
            u1 = b1 * x1 - a1 * y1 + v1
            v1 = m1 - a2 * y1
            y2 = m2 + u2
            u2 = b1 * x2 - a1 * y2 + v2
            v2 = m2 - a2 * y2
            w0 = y0 + p0  # e0 = e2 = 1
            p0 = e1 * y0 - f1 * w0 + q0
            q0 = y0 - f2 * w0
            w1 = y1 + p1
            p1 = e1 * y1 - f1 * w1 + q1
            q1 = y1 - f2 * w1
            w2 = y2 + p2
            p2 = e1 * y2 - f1 * w2 + q2
            q2 = y2 - f2 * w2
            out[i, c0] = w0
            out[i, c1] = w1
            out[i, c2] = w2
    else:
        for k in range(n):
            i = start + k * step
            x0 = x[i, c0]
            x1 = x[i, c1]
            x2 = x[i, c2]
            y0 = b0 * x0 + u0
            u0 = b1 * x0 - a1 * y0 + v0
            v0 = b2 * x0 - a2 * y0
            y1 = b0 * x1 + u1
            u1 = b1 * x1 - a1 * y1 + v1
            v1 = b2 * x1 - a2 * y1
            y2 = b0 * x2 + u2
            u2 = b1 * x2 - a1 * y2 + v2
            v2 = b2 * x2 - a2 * y2
            w0 = e0 * y0 + p0
            p0 = e1 * y0 - f1 * w0 + q0
            q0 = e2 * y0 - f2 * w0
            w1 = e0 * y1 + p1
            p1 = e1 * y1 - f1 * w1 + q1
            q1 = e2 * y1 - f2 * w1
            w2 = e0 * y2 + p2
            p2 = e1 * y2 - f1 * w2 + q2
            q2 = e2 * y2 - f2 * w2
            out[i, c0] = w0
            out[i, c1] = w1
            out[i, c2] = w2
    zi[s, 0, c0], zi[s, 1, c0], zi[s + 1, 0, c0], zi[s + 1, 1, c0] = u0, v0, p0, q0
    zi[s, 0, c1], zi[s, 1, c1], zi[s + 1, 0, c1], zi[s + 1, 1, c1] = u1, v1, p1, q1
    zi[s, 0, c2], zi[s, 1, c2], zi[s + 1, 0, c2], zi[s + 1, 1, c2] = u2, v2, p2, q2


@njit(cache=True)
def _pair_pass1(
    sos: np.ndarray, s: int, x: np.ndarray, zi: np.ndarray, out: np.ndarray, c0: int, start: int, step: int
) -> None:
    """Like :func:`_pair_pass3` for the one channel ``c0``."""
    n = x.shape[0]
    b0 = sos[s, 0]
    b1 = sos[s, 1]
    b2 = sos[s, 2]
    a1 = sos[s, 4]
    a2 = sos[s, 5]
    e0 = sos[s + 1, 0]
    e1 = sos[s + 1, 1]
    e2 = sos[s + 1, 2]
    f1 = sos[s + 1, 4]
    f2 = sos[s + 1, 5]
    u0, v0, p0, q0 = zi[s, 0, c0], zi[s, 1, c0], zi[s + 1, 0, c0], zi[s + 1, 1, c0]
    if _pair_kind(sos, s) == BUTTER:
        for k in range(n):
            i = start + k * step
            x0 = x[i, c0]
            m0 = b0 * x0
            y0 = m0 + u0
            u0 = b1 * x0 - a1 * y0 + v0
            v0 = m0 - a2 * y0
            w0 = y0 + p0
            p0 = e1 * y0 - f1 * w0 + q0
            q0 = y0 - f2 * w0
            out[i, c0] = w0
    else:
        for k in range(n):
            i = start + k * step
            x0 = x[i, c0]
            y0 = b0 * x0 + u0
            u0 = b1 * x0 - a1 * y0 + v0
            v0 = b2 * x0 - a2 * y0
            w0 = e0 * y0 + p0
            p0 = e1 * y0 - f1 * w0 + q0
            q0 = e2 * y0 - f2 * w0
            out[i, c0] = w0
    zi[s, 0, c0], zi[s, 1, c0], zi[s + 1, 0, c0], zi[s + 1, 1, c0] = u0, v0, p0, q0


@njit(cache=True)
def _filter_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray, start: int, step: int) -> None:
    n_sections = sos.shape[0]
    c = x.shape[1]
    if x.shape[0] == 0:
        return
    if n_sections < 2:
        _rows_pass(sos, 0, n_sections, x, zi, out, 0, c, start, step)
        return
    threes = c - c % 3
    for s in range(0, n_sections - 1, 2):
        src = x if s == 0 else out  # later pairs run in place on the output
        for c0 in range(0, threes, 3):
            _pair_pass3(sos, s, src, zi, out, c0, start, step)
        for c0 in range(threes, c):
            _pair_pass1(sos, s, src, zi, out, c0, start, step)
    if n_sections % 2:
        _rows_pass(sos, n_sections - 1, n_sections, out, zi, out, 0, c, start, step)


@njit(cache=True)
def sos_filter_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """Filter ``x`` (n, c) through ``sos`` (s, 6) into ``out`` (n, c), updating ``zi`` (s, 2, c) in place.

    ``out`` may be ``x`` itself (in-place filtering). Returns nothing (returning an array
    from a Numba function costs ~0.2 us per call, which matters for packet-sized calls).
    Row by row: the kernel for packet-sized calls (:func:`sos_filter_passes_into` is faster
    from ~``PASS_MIN_ROWS`` rows on and gives the same bits).
    """
    n = x.shape[0]
    c = x.shape[1]
    for i in range(n):
        for ch in range(c):
            out[i, ch] = x[i, ch]
        sos_row_inplace(sos, zi, out, i)


#: The Numba types of :func:`sos_packet_into`: C-contiguous float64 arrays only.
_PACKET_SIGNATURE = "int64(float64[:, ::1], float64[:, ::1], float64[:, :, ::1], float64[:, ::1])"


@njit(cache=True)
def sos_packet_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray) -> int:
    """:func:`sos_filter_into` for a packet, with the shape checks done here (cheaper than in Python).

    After :func:`ready_packet_kernel` it runs for C-contiguous float64 arrays only (anything
    else is a ``TypeError`` from the dispatcher). Returns 0 when filtered; 1 when the shapes
    do not fit together and 2 when ``x`` has ``PASS_MIN_ROWS`` rows or more (use
    :func:`sos_filter_passes_into`), in both cases without touching ``zi`` or ``out``.
    """
    n = x.shape[0]
    c = x.shape[1]
    if zi.shape[0] != sos.shape[0] or zi.shape[1] != 2 or zi.shape[2] != c or sos.shape[1] != 6:
        return 1
    if out.shape[0] != n or out.shape[1] != c:
        return 1
    if n >= PASS_MIN_ROWS:
        return 2
    for i in range(n):
        for ch in range(c):
            out[i, ch] = x[i, ch]
        sos_row_inplace(sos, zi, out, i)
    return 0


def ready_packet_kernel() -> None:
    """Compile (or load from the cache) :func:`sos_packet_into` for its one signature and
    switch further compilation off, so that other argument types raise ``TypeError``.

    On first use rather than at import (an explicit signature in ``@njit`` would load the
    kernel, and Numba with it, whenever the module is imported: ~0.15 s of start-up).
    """
    if getattr(sos_packet_into, "_can_compile", False):  # (not with NUMBA_DISABLE_JIT)
        sos_packet_into.compile(_PACKET_SIGNATURE)
        sos_packet_into.disable_compile()


@njit(cache=True)
def sos_filter_passes_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """:func:`sos_filter_into` in passes of section pairs over channel groups (see the module
    docstring): the same output and state, bit for bit, ~1.4x faster on long inputs."""
    _filter_into(sos, x, zi, out, 0, 1)


@njit(cache=True)
def sos_filter_reverse_into(sos: np.ndarray, x: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """Like :func:`sos_filter_into` but runs from the last sample to the first.

    ``out[i]`` is the filter output after consuming ``x[n-1], ..., x[i]``: the backward pass
    of a forward-backward filter without materialising the reversed array.
    """
    _filter_into(sos, x, zi, out, x.shape[0] - 1, -1)


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
