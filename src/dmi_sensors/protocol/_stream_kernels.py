"""Numba kernels behind :meth:`dmi_sensors.protocol.stream.StreamDecoder.process`.

One kernel call per :meth:`~dmi_sensors.protocol.stream.StreamDecoder.process`:
:func:`decode_one` for a single notification (the live drain's usual case: its bytes and
arrival time as scalars, nothing to join or index), :func:`decode_packets` for several
(their bytes back to back, ``b"".join`` of the payloads, with their lengths and arrival
times). Both run the same two steps per packet, in arrival order:

1. :func:`_classify` gives the packet a code (valid data / other type / malformed with a
   reason) and reads its header;
2. :func:`_unwrap_write` unwraps the counter and device timestamp of a valid data packet
   against the previous one (the rules of ``protocol/stream.py``) and writes its samples
   straight to their rows of the SI output arrays: ``acc`` / ``gyr`` as ``int16 * scale``
   (float64), ``counter``, ``device_time_s``, ``host_time_s``, ``gap_before`` and
   ``time_s`` (NaN: the timing stage fills it).

The caller allocates the outputs with numpy (which advises huge pages for large arrays:
first-touch page faults dominate a fresh 1e6-row decode), as many rows as the packets'
lengths allow (:func:`max_samples`: exact for valid data packets), and keeps the first
``total`` rows.

The arithmetic is exactly that of the numpy implementation the kernels replaced (kept as
the reference in ``tests/protocol_stream_reference.py``): the same IEEE operations in the
same order, no fastmath, so the outputs are bit-identical. Status packets and command
responses (code :data:`OTHER`) are left to the caller, which decodes them one by one in
Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from dmi_sensors.protocol.constants import (
    ACC_RANGES_G,
    BYTES_PER_SAMPLE,
    COMPACT_COUNTER_MODULUS,
    COMPACT_HEADER_SIZE,
    COMPACT_PACKET_SIZE,
    COMPACT_TIMESTAMP_MODULUS,
    COUNTER_JUMP_SLACK_S,
    COUNTER_MODULUS,
    COUNTER_RATE_TOLERANCE,
    DATA_HEADER_SIZE,
    GYR_RANGES_DPS,
    MAX_SAMPLES_PER_PACKET,
    PROTOCOL_MAJOR,
    PROTOCOL_MINOR,
    RATES_HZ,
    TIMESTAMP_MODULUS,
    PacketType,
    acc_scale_mps2,
    gyr_scale_rps,
)

__all__ = ["OTHER", "REASONS", "VALID", "decode_one", "decode_packets", "max_samples"]

#: Packet codes written by the kernels.
VALID = 0  #: a valid data packet
OTHER = 1  #: not a data packet (status, response, unknown type): decoded by the caller
#: Reason names of the malformed codes 2..8, in the order the numpy decoder counted them
#: within one packet length (this order fixes the insertion order of ``malformed_reasons``).
REASONS = (
    "",
    "",
    "too_short",  # 2: fewer than 2 bytes
    "unsupported_version",  # 3: data packet with another major version
    "too_short",  # 4: full data packet shorter than its header
    "bad_sample_count",  # 5: sample count outside 1..MAX_SAMPLES_PER_PACKET
    "bad_length",  # 6: full data packet length != header + 12 * count (and not a newer minor)
    "bad_length",  # 7: compact packet not 20 bytes (and not a newer minor)
    "bad_config",  # 8: gyro range code out of range
)

_DATA = int(PacketType.DATA)
_COMPACT = int(PacketType.DATA_COMPACT)
_N_GYR = len(GYR_RANGES_DPS)
# code tables (frozen into the compiled kernels): config bits 0-2 -> Hz, bits 3-4 -> m/s^2
# per count, bits 5-7 -> rad/s per count (codes 5-7 are malformed, never read)
_RATES_HZ = np.array(RATES_HZ, dtype=np.float64)
_ACC_SCALE = np.array([acc_scale_mps2(g) for g in ACC_RANGES_G])
_GYR_SCALE = np.array([gyr_scale_rps(d) for d in GYR_RANGES_DPS] + [np.nan] * 3)


#: the kernels' integer results (Python ints or np.int64, as Numba returns them)
_Ints = tuple[Any, ...]


def max_samples(length: int) -> int:
    """Most samples a notification of ``length`` bytes can carry (exact for a valid data
    packet: a full one has ``DATA_HEADER_SIZE + 12 n`` bytes, a compact one 20)."""
    return max(length - COMPACT_HEADER_SIZE, 0) // BYTES_PER_SAMPLE


@njit(cache=True)
def _u16(buf: np.ndarray | bytes, o: int) -> np.int64:
    return np.int64(buf[o]) | np.int64(buf[o + 1]) << 8


@njit(cache=True)
def _i16(buf: np.ndarray | bytes, o: int) -> np.int64:
    v = np.int64(buf[o]) | np.int64(buf[o + 1]) << 8
    return v - 65536 if v >= 32768 else v


@njit(cache=True, inline="always")
def _classify(buf: np.ndarray | bytes, o: int, length: int) -> _Ints:
    """One notification at ``buf[o:o + length]``: ``(code, offset of its first sample, n
    samples, counter (wire), timestamp (wire), config byte, compact, flags byte)``; only the
    code is meaningful unless it is :data:`VALID` (flags: 0 for compact packets)."""
    if length < 2:
        return 2, 0, 0, 0, 0, 0, 0, 0
    ver = np.int64(buf[o])
    typ = np.int64(buf[o + 1])
    if typ != _DATA and typ != _COMPACT:
        return OTHER, 0, 0, 0, 0, 0, 0, 0
    if (ver >> 4) != PROTOCOL_MAJOR:
        return 3, 0, 0, 0, 0, 0, 0, 0
    newer = (ver & 0x0F) > PROTOCOL_MINOR
    if typ == _DATA:
        if length < DATA_HEADER_SIZE:
            return 4, 0, 0, 0, 0, 0, 0, 0
        n = np.int64(buf[o + 4])
        if n < 1 or n > MAX_SAMPLES_PER_PACKET:
            return 5, 0, 0, 0, 0, 0, 0, 0
        need = DATA_HEADER_SIZE + BYTES_PER_SAMPLE * n
        if not (need == length or (newer and need < length)):
            return 6, 0, 0, 0, 0, 0, 0, 0
        cfg = np.int64(buf[o + 3])
        counter = _u16(buf, o + 6) | _u16(buf, o + 8) << 16
        ts = _u16(buf, o + 10) | _u16(buf, o + 12) << 16
        start = o + DATA_HEADER_SIZE
        compact = 0
        flags = np.int64(buf[o + 2])
    else:
        if length < COMPACT_PACKET_SIZE or not (length == COMPACT_PACKET_SIZE or newer):
            return 7, 0, 0, 0, 0, 0, 0, 0
        n = np.int64(1)
        cfg = np.int64(buf[o + 2])
        counter = _u16(buf, o + 3)
        ts = _u16(buf, o + 5) | np.int64(buf[o + 7]) << 16
        start = o + COMPACT_HEADER_SIZE
        compact = 1
        flags = np.int64(0)
    if (cfg >> 5) >= _N_GYR:
        return 8, 0, 0, 0, 0, 0, 0, 0
    return VALID, start, n, counter, ts, cfg, compact, flags


@njit(cache=True, inline="always")
def _unwrap_write(
    buf: np.ndarray | bytes,
    start: int,
    n: int,
    c: int,
    t: int,
    cfg: int,
    comp: int,
    h: float,
    pc: int,
    pn: int,
    pu: int,
    pt: int,
    ptu: int,
    pcomp: int,
    pfs: float,
    ph: float,
    acc: np.ndarray,
    gyr: np.ndarray,
    counter_out: np.ndarray,
    time_out: np.ndarray,
    host_out: np.ndarray,
    gap_out: np.ndarray,
    time_s_out: np.ndarray,
    row: int,
) -> _Ints:
    """Unwrap one valid data packet (header fields ``c`` ... ``h``) against the previous one
    (``pc`` ... ``ph``: the unwrap state's fields, see :func:`decode_packets`) and write its
    ``n`` samples from output row ``row``. Returns ``(samples lost before it, 1 if it is a
    reset else 0, its unwrapped counter, its unwrapped timestamp (µs), its rate)``."""
    fs = _RATES_HZ[cfg & 0x07]
    mod = COMPACT_COUNTER_MODULUS if comp else COUNTER_MODULUS
    d = (c - pc - pn) % mod
    host_dt = h - ph
    host_ok = np.isfinite(host_dt) and host_dt > 0
    wraps_f = np.floor((host_dt * fs - pn - d) / mod + 0.5)
    if not (host_ok and np.isfinite(wraps_f)):
        wraps_f = -1.0 if d >= mod // 2 else 0.0
    wraps = np.int64(min(max(wraps_f, -1.0), float(1 << 20)))
    reset = wraps < 0 or comp != pcomp or fs != pfs
    lost = 0 if reset else d + wraps * mod
    if lost > 0 and np.isfinite(host_dt):
        # a jump the host's clock cannot explain is no gap: corruption or a restart
        span = host_dt if host_dt > 0 else 0.0
        if lost > (span * (1.0 + COUNTER_RATE_TOLERANCE) + COUNTER_JUMP_SLACK_S) * fs:
            reset = True
            lost = 0
    u = pu + (pn + lost)
    tmod = COMPACT_TIMESTAMP_MODULUS if (comp or pcomp) else TIMESTAMP_MODULUS
    delta = (t - pt) % tmod
    # expected advance (µs): after a reset the host arrival difference (or one packet)
    expected = (host_dt * 1e6 if host_ok else pn * 1e6 / pfs) if reset else (u - pu) * 1e6 / pfs
    tw = np.int64(np.rint((expected - delta) / tmod))
    tu = ptu + (delta + tw * tmod)

    sa = _ACC_SCALE[(cfg >> 3) & 0x03]
    sg = _GYR_SCALE[cfg >> 5]
    for s in range(n):
        o = start + BYTES_PER_SAMPLE * s
        r = row + s
        acc[r, 0] = _i16(buf, o) * sa
        acc[r, 1] = _i16(buf, o + 2) * sa
        acc[r, 2] = _i16(buf, o + 4) * sa
        gyr[r, 0] = _i16(buf, o + 6) * sg
        gyr[r, 1] = _i16(buf, o + 8) * sg
        gyr[r, 2] = _i16(buf, o + 10) * sg
        counter_out[r] = u + s
        time_out[r] = (tu + s * 1e6 / fs) / 1e6
        host_out[r] = h
        gap_out[r] = False
        time_s_out[r] = np.nan
    gap_out[row] = lost > 0 or reset
    return lost, 1 if reset else 0, u, tu, fs


@njit(cache=True, inline="always")
def _keep(
    prev_i: np.ndarray,
    prev_f: np.ndarray,
    c: int,
    n: int,
    u: int,
    t: int,
    tu: int,
    comp: int,
    fs: float,
    h: float,
) -> None:
    """Store the last valid data packet's fields as the unwrap state (layout: :func:`decode_packets`)."""
    prev_i[1] = c
    prev_i[2] = n
    prev_i[3] = u
    prev_i[4] = t
    prev_i[5] = tu
    prev_i[6] = comp
    prev_f[0] = fs
    prev_f[1] = h


@njit(cache=True)
def _first(prev_i: np.ndarray, prev_f: np.ndarray, c: int, t: int, cfg: int, comp: int, h: float) -> None:
    """The unwrap state before the first data packet ever: the packet is its own
    predecessor with no samples (so nothing is lost before it and nothing is a reset)."""
    prev_i[0] = 1
    _keep(prev_i, prev_f, c, 0, c, t, t, comp, _RATES_HZ[cfg & 0x07], h)
    prev_f[2] = prev_f[0]


@njit(cache=True)
def decode_one(
    data: bytes,
    h: float,
    prev_i: np.ndarray,
    prev_f: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    counter_out: np.ndarray,
    time_out: np.ndarray,
    host_out: np.ndarray,
    gap_out: np.ndarray,
    time_s_out: np.ndarray,
) -> _Ints:
    """One notification ``data`` that arrived at host time ``h``: :func:`decode_packets` of
    a single packet, without the arrays around it. Returns ``(code, samples written, samples
    lost, counter resets, flags byte)``."""
    code, start, n, c, t, cfg, comp, flags = _classify(data, 0, len(data))
    if code != VALID:
        return code, 0, 0, 0, 0
    if prev_i[0] == 0:
        _first(prev_i, prev_f, c, t, cfg, comp, h)
    lost, reset, u, tu, fs = _unwrap_write(
        data, start, n, c, t, cfg, comp, h, prev_i[1], prev_i[2], prev_i[3], prev_i[4], prev_i[5], prev_i[6],
        prev_f[0], prev_f[1], acc, gyr, counter_out, time_out, host_out, gap_out, time_s_out, 0,
    )  # fmt: skip
    _keep(prev_i, prev_f, c, n, u, t, tu, comp, fs, h)
    return VALID, n, lost, reset, flags


@njit(cache=True)
def decode_packets(
    buf: bytes,
    lengths: np.ndarray,
    host: np.ndarray,
    codes: np.ndarray,
    prev_i: np.ndarray,
    prev_f: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    counter_out: np.ndarray,
    time_out: np.ndarray,
    host_out: np.ndarray,
    gap_out: np.ndarray,
    time_s_out: np.ndarray,
) -> _Ints:
    """Decode notifications given back to back, in arrival order.

    Parameters
    ----------
    buf
        Bytes of all notifications back to back (``b"".join`` of the payloads).
    lengths, host
        (m,) int64 length and float64 host arrival time (s) of every notification.
    codes
        (m,) int8, receives each notification's code: :data:`VALID`, :data:`OTHER` or a
        malformed code (see :data:`REASONS`).
    prev_i, prev_f
        Unwrap state, updated in place: ``prev_i`` int64 ``[has_prev, counter (wire), n,
        unwrapped counter, timestamp (wire), unwrapped timestamp (µs), compact]``,
        ``prev_f`` float64 ``[fs_hz, host_time_s]`` of the last valid data packet, then
        the rate of the first data packet ever seen (set with the state).
    acc, gyr, counter_out, time_out, host_out, gap_out, time_s_out
        Outputs, one row per sample, at least as many rows as the valid data packets carry
        (:func:`max_samples` summed over the notifications): ``(rows, 3)`` float64 SI, int64
        unwrapped counter, float64 device time (s), float64 host time (s), bool gap before
        the sample, float64 NaN.

    Returns ``(valid data packets, samples written, samples lost, counter resets, OR of the
    flags byte of the full data packets)``.
    """
    p = 0
    row = 0
    lost_total = 0
    resets = 0
    flags = np.int64(0)
    o = 0
    started = prev_i[0] != 0
    pc = prev_i[1]
    pn = prev_i[2]
    pu = prev_i[3]
    pt = prev_i[4]
    ptu = prev_i[5]
    pcomp = prev_i[6]
    pfs = prev_f[0]
    ph = prev_f[1]
    for i in range(lengths.shape[0]):
        length = lengths[i]
        code, start, n, c, t, cfg, comp, f = _classify(buf, o, length)
        o += length
        codes[i] = code
        if code != VALID:
            continue
        h = host[i]
        if not started:
            _first(prev_i, prev_f, c, t, cfg, comp, h)
            started = True
            pc, pn, pu, pt, ptu, pcomp, pfs, ph = c, 0, c, t, t, comp, prev_f[0], h
        lost, reset, u, tu, fs = _unwrap_write(
            buf, start, n, c, t, cfg, comp, h, pc, pn, pu, pt, ptu, pcomp, pfs, ph, acc, gyr, counter_out,
            time_out, host_out, gap_out, time_s_out, row,
        )  # fmt: skip
        pc, pn, pu, pt, ptu, pcomp, pfs, ph = c, n, u, t, tu, comp, fs, h
        p += 1
        row += n
        lost_total += lost
        resets += reset
        flags |= f
    if p:
        _keep(prev_i, prev_f, pc, pn, pu, pt, ptu, pcomp, pfs, ph)
    return p, row, lost_total, resets, flags
