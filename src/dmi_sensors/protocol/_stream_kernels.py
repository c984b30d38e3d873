"""Numba kernels behind :meth:`dmi_sensors.protocol.stream.StreamDecoder.process`.

The notifications of one sensor arrive as ONE contiguous byte buffer plus per-packet
offsets and lengths (``b"".join`` of the payloads, or a store's blob). Two passes:

1. :func:`classify_packets` gives every packet a code (valid data / other type /
   malformed with a reason) and reads the headers of the valid data packets;
2. :func:`unwrap_into` unwraps counters and device timestamps packet by packet (the rules
   of ``protocol/stream.py``) and writes every sample straight to its row of the SI
   output arrays: ``acc`` / ``gyr`` as ``int16 * scale`` (float64), ``counter``,
   ``device_time_s``, ``host_time_s`` and ``gap_before``.

The caller allocates the outputs between the passes with numpy (which advises huge
pages for large arrays: first-touch page faults dominate a fresh 1e6-row decode).

The arithmetic is exactly that of the numpy implementation it replaced (kept as the
reference in ``tests/protocol_stream_reference.py``): the same IEEE operations in the same
order, no fastmath, so the outputs are bit-identical. Status packets and command responses
(code :data:`OTHER`) are left to the caller, which decodes them one by one in Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dmi_sensors.protocol.constants import (
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
    TIMESTAMP_MODULUS,
    PacketType,
)

__all__ = ["OTHER", "REASONS", "VALID", "classify_packets", "unwrap_into"]

#: Packet codes written by the kernel (``codes[i]``).
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


@njit(cache=True)
def _u16(buf: np.ndarray, o: int) -> np.int64:
    return np.int64(buf[o]) | np.int64(buf[o + 1]) << 8


@njit(cache=True)
def _i16(buf: np.ndarray, o: int) -> np.int64:
    v = np.int64(buf[o]) | np.int64(buf[o + 1]) << 8
    return v - 65536 if v >= 32768 else v


@njit(cache=True)
def classify_packets(
    buf: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    codes: np.ndarray,
    pkt: np.ndarray,
) -> tuple[int, np.int64, np.int64]:
    """Pass 1: a code for every packet; the header fields of the valid data packets, compressed.

    ``codes`` (m,) int8 receives :data:`VALID`, :data:`OTHER` or a malformed code (see
    :data:`REASONS`); ``pkt`` (m, 7) int64 receives, for the k-th valid data packet,
    ``[offset of its first sample in buf, n samples, counter (wire), timestamp (wire),
    config byte, compact, arrival index]``. Returns ``(valid data packets p, total samples,
    OR of the flags byte of the full data packets)``.
    """
    m = offsets.shape[0]
    p = 0
    total = np.int64(0)
    flags = np.int64(0)
    for i in range(m):
        o = offsets[i]
        length = lengths[i]
        if length < 2:
            codes[i] = 2
            continue
        ver = np.int64(buf[o])
        typ = np.int64(buf[o + 1])
        if typ != _DATA and typ != _COMPACT:
            codes[i] = OTHER
            continue
        if (ver >> 4) != PROTOCOL_MAJOR:
            codes[i] = 3
            continue
        newer = (ver & 0x0F) > PROTOCOL_MINOR
        if typ == _DATA:
            if length < DATA_HEADER_SIZE:
                codes[i] = 4
                continue
            n = np.int64(buf[o + 4])
            if n < 1 or n > MAX_SAMPLES_PER_PACKET:
                codes[i] = 5
                continue
            need = DATA_HEADER_SIZE + BYTES_PER_SAMPLE * n
            if not (need == length or (newer and need < length)):
                codes[i] = 6
                continue
            cfg = np.int64(buf[o + 3])
            counter = _u16(buf, o + 6) | _u16(buf, o + 8) << 16
            ts = _u16(buf, o + 10) | _u16(buf, o + 12) << 16
            start = o + DATA_HEADER_SIZE
            compact = 0
        else:
            if length < COMPACT_PACKET_SIZE or not (length == COMPACT_PACKET_SIZE or newer):
                codes[i] = 7
                continue
            n = np.int64(1)
            cfg = np.int64(buf[o + 2])
            counter = _u16(buf, o + 3)
            ts = _u16(buf, o + 5) | np.int64(buf[o + 7]) << 16
            start = o + COMPACT_HEADER_SIZE
            compact = 1
        if (cfg >> 5) >= _N_GYR:
            codes[i] = 8
            continue
        codes[i] = VALID
        if compact == 0:
            flags |= np.int64(buf[o + 2])
        pkt[p, 0] = start
        pkt[p, 1] = n
        pkt[p, 2] = counter
        pkt[p, 3] = ts
        pkt[p, 4] = cfg
        pkt[p, 5] = compact
        pkt[p, 6] = i
        p += 1
        total += n
    return p, total, flags


@njit(cache=True)
def unwrap_into(
    buf: np.ndarray,
    pkt: np.ndarray,
    p: int,
    host: np.ndarray,
    prev_i: np.ndarray,
    prev_f: np.ndarray,
    rates_hz: np.ndarray,
    acc_scale: np.ndarray,
    gyr_scale: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    counter_out: np.ndarray,
    time_out: np.ndarray,
    host_out: np.ndarray,
    gap_out: np.ndarray,
) -> tuple[int, int]:
    """Pass 2: unwrap the ``p`` valid data packets of ``pkt`` and write their samples.

    Parameters
    ----------
    buf
        uint8 bytes of all notifications back to back (as given to :func:`classify_packets`).
    pkt, p
        Header table and count from :func:`classify_packets`.
    host
        (m,) host arrival time of every packet (arrival order), s.
    prev_i, prev_f
        Unwrap state, updated in place: ``prev_i`` int64 ``[has_prev, counter (wire), n,
        unwrapped counter, timestamp (wire), unwrapped timestamp (µs), compact]``,
        ``prev_f`` float64 ``[fs_hz, host_time_s]`` of the last valid data packet, then
        the rate of the first data packet ever seen (set with the state).
    rates_hz, acc_scale, gyr_scale
        Code tables: config bits 0-2 -> Hz, bits 3-4 -> m/s^2 per count, bits 5-7 ->
        rad/s per count.
    acc, gyr, counter_out, time_out, host_out, gap_out
        Outputs, one row per sample (total from :func:`classify_packets`): ``(n, 3)``
        float64 SI, int64 unwrapped counter, float64 device time (s), float64 host time
        (s), bool gap before the sample.

    Returns ``(samples lost, counter resets)``.
    """
    if p == 0:
        return 0, 0
    if prev_i[0] == 0:
        prev_i[0] = 1
        prev_i[1] = pkt[0, 2]
        prev_i[2] = 0
        prev_i[3] = pkt[0, 2]
        prev_i[4] = pkt[0, 3]
        prev_i[5] = pkt[0, 3]
        prev_i[6] = pkt[0, 5]
        prev_f[0] = rates_hz[pkt[0, 4] & 0x07]
        prev_f[1] = host[pkt[0, 6]]
        prev_f[2] = prev_f[0]
    pc = prev_i[1]
    pn = prev_i[2]
    pu = prev_i[3]
    pt = prev_i[4]
    ptu = prev_i[5]
    pcomp = prev_i[6]
    pfs = prev_f[0]
    ph = prev_f[1]
    lost_total = 0
    resets = 0
    row = 0
    for k in range(p):
        start = pkt[k, 0]
        n = pkt[k, 1]
        c = pkt[k, 2]
        t = pkt[k, 3]
        cfg = pkt[k, 4]
        comp = pkt[k, 5]
        h = host[pkt[k, 6]]
        fs = rates_hz[cfg & 0x07]

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
        lost_total += lost
        resets += 1 if reset else 0

        sa = acc_scale[(cfg >> 3) & 0x03]
        sg = gyr_scale[cfg >> 5]
        row0 = row
        for s in range(n):
            o = start + BYTES_PER_SAMPLE * s
            acc[row, 0] = _i16(buf, o) * sa
            acc[row, 1] = _i16(buf, o + 2) * sa
            acc[row, 2] = _i16(buf, o + 4) * sa
            gyr[row, 0] = _i16(buf, o + 6) * sg
            gyr[row, 1] = _i16(buf, o + 8) * sg
            gyr[row, 2] = _i16(buf, o + 10) * sg
            counter_out[row] = u + s
            time_out[row] = (tu + s * 1e6 / fs) / 1e6
            host_out[row] = h
            gap_out[row] = False
            row += 1
        gap_out[row0] = lost > 0 or reset

        pc = c
        pn = n
        pu = u
        pt = t
        ptu = tu
        pcomp = comp
        pfs = fs
        ph = h
    prev_i[1] = pc
    prev_i[2] = pn
    prev_i[3] = pu
    prev_i[4] = pt
    prev_i[5] = ptu
    prev_i[6] = pcomp
    prev_f[0] = pfs
    prev_f[1] = ph
    return lost_total, resets
