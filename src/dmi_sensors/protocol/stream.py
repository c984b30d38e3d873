"""Vectorised decoding of many notifications of one sensor into a :class:`SampleBatch`.

Packets are grouped by length; each group is one ``np.frombuffer`` over the concatenated
bytes reshaped to ``(packets, length)``, so headers are numpy columns and samples an int16
view: there is no per-sample Python loop (only one Python step per packet to join bytes).

Unwrap rules (firmware wrap-around, ``SPEC.md`` §Wrap-around), for consecutive data packets
p (previous) and q, with M = 2**32 (full) or 2**16 (compact) and n_p samples in p:

* forward difference ``d = (counter_q - counter_p - n_p) mod M``. When the host arrival
  times increase (``host_dt > 0``), ``k = round((host_dt * fs_hz - n_p - d) / M)`` whole
  wraps passed as well; otherwise ``k = 0`` if ``d < M/2`` and ``k = -1`` if not.
  ``k >= 0``: ``d + k M`` samples were lost (``gap_before`` on q's first sample) and the
  unwrapped counter of q is ``U_p + n_p + d + k M``.
* ``k < 0`` (the counter went back, e.g. streaming restarted), a change of rate or of
  format: a *reset*: ``U_q = U_p + n_p``, ``gap_before`` set, ``counter_resets``
  incremented, nothing added to ``samples_lost`` (unknown).
* device time: ``delta = (ts_q - ts_p) mod T`` with T = 2**32 µs (2**24 µs if either packet
  is compact: both carry the low bits of the same device clock), then the multiple of T
  nearest to the expected advance ``(U_q - U_p) * 1e6 / fs_hz`` (or the host arrival
  difference after a reset) is added.
* Sample k of a packet: counter ``U + k``, device time ``(T_us + k * 1e6 / fs_hz) / 1e6`` s.

Everything is carried across :meth:`StreamDecoder.feed` calls, so feeding packets in chunks
gives the same arrays as feeding them at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.protocol.commands import Response
from dmi_sensors.protocol.constants import (
    ACC_RANGES_G,
    BYTES_PER_SAMPLE,
    COMPACT_COUNTER_MODULUS,
    COMPACT_HEADER_SIZE,
    COMPACT_PACKET_SIZE,
    COMPACT_TIMESTAMP_MODULUS,
    COUNTER_MODULUS,
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
from dmi_sensors.protocol.decode import decode
from dmi_sensors.protocol.errors import ProtocolError
from dmi_sensors.protocol.status import StatusPacket
from dmi_sensors.types import RawPacket, SampleBatch

__all__ = ["DEFAULT_FS_HZ", "DecodedStream", "StreamDecoder", "decode_stream"]

#: fs_hz of an empty batch returned before any data packet was seen.
DEFAULT_FS_HZ = 100.0

_RATES = np.array(RATES_HZ, dtype=np.float64)
_ACC_SCALE = np.array([acc_scale_mps2(g) for g in ACC_RANGES_G])
_GYR_SCALE = np.array([gyr_scale_rps(d) for d in GYR_RANGES_DPS] + [np.nan] * 3)


@dataclass
class DecodedStream:
    """Result of :func:`decode_stream`.

    Attributes
    ----------
    batch
        Samples in arrival order: unwrapped ``counter``, unwrapped ``device_time_s``,
        ``host_time_s`` of the carrying packet, ``acc_mps2`` / ``gyr_rps`` in the SENSOR
        frame, ``gap_before`` from counter gaps and resets.
    packets_ok
        Valid notifications (data, status and responses).
    malformed_packets
        Notifications that failed to decode (counted and skipped).
    samples_lost
        Samples missing according to counter gaps (resets excluded).
    status, responses
        Decoded status packets and command responses found in the stream, in order.
    counter_resets
        Counter discontinuities (counter went back, rate or format changed).
    malformed_reasons
        Count of malformed packets per reason (``too_short``, ``unsupported_version``,
        ``unknown_type``, ``bad_length``, ``bad_sample_count``, ``bad_config``, ``status``,
        ``response``).
    data_flags
        Bitwise OR of the flags of all full data packets (``DataFlags``).
    """

    batch: SampleBatch
    packets_ok: int
    malformed_packets: int
    samples_lost: int
    status: list[StatusPacket] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    counter_resets: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    data_flags: int = 0


@dataclass
class _Prev:
    """Unwrap state: the last valid data packet seen."""

    counter: int  # wire
    n: int
    unwrapped: int
    ts: int  # wire
    ts_unwrapped: int  # µs
    fs_hz: float
    compact: bool
    host_time_s: float


class StreamDecoder:
    """Streaming decoder for one sensor: ``feed(packets) -> SampleBatch``, state across calls.

    Running totals (``packets_ok``, ``malformed_packets``, ``samples_lost``,
    ``counter_resets``, ``malformed_reasons``, ``data_flags``) and the lists ``status`` /
    ``responses`` accumulate over all feeds since the last :meth:`reset`.
    """

    def __init__(self, sensor_id: str) -> None:
        self.sensor_id = sensor_id
        self.reset()

    def reset(self) -> None:
        """Forget the unwrap state and the totals."""
        self._prev: _Prev | None = None
        self.fs_hz: float | None = None
        self.packets_ok = 0
        self.malformed_packets = 0
        self.samples_lost = 0
        self.counter_resets = 0
        self.data_flags = 0
        self.malformed_reasons: Counter[str] = Counter()
        self.status: list[StatusPacket] = []
        self.responses: list[Response] = []

    def _malformed(self, reason: str, count: int = 1) -> None:
        if count:
            self.malformed_packets += count
            self.malformed_reasons[reason] += count

    def feed(self, packets: Sequence[RawPacket]) -> SampleBatch:
        """Decode the next packets of this sensor (arrival order) into SI samples."""
        m = len(packets)
        fs_out = self.fs_hz or DEFAULT_FS_HZ
        if m == 0:
            return SampleBatch.empty(self.sensor_id, fs_out)
        if any(p.sensor_id != self.sensor_id for p in packets):
            others = sorted({p.sensor_id for p in packets} - {self.sensor_id})
            raise ValueError(f"StreamDecoder for sensor {self.sensor_id!r} was fed packets of {others}")
        datas = [p.data for p in packets]
        host = np.fromiter((p.host_time_s for p in packets), dtype=np.float64, count=m)
        lengths = np.fromiter(map(len, datas), dtype=np.int64, count=m)

        # per-packet header fields, filled per length group (arrival order kept by index)
        is_data = np.zeros(m, dtype=bool)
        n = np.zeros(m, dtype=np.int64)
        counter = np.zeros(m, dtype=np.int64)
        ts = np.zeros(m, dtype=np.int64)
        cfg = np.zeros(m, dtype=np.int64)
        compact = np.zeros(m, dtype=bool)
        groups: list[tuple[np.ndarray, np.ndarray]] = []  # (packet indices, (k, L) uint8 rows)
        others: list[int] = []
        whole = b"".join(datas)
        unique_lengths = np.unique(lengths)
        for length in unique_lengths.tolist():
            sel = np.flatnonzero(lengths == length)
            if length < 2:
                self._malformed("too_short", len(sel))
                continue
            blob = whole if len(unique_lengths) == 1 else b"".join([datas[i] for i in sel.tolist()])
            rows = np.frombuffer(blob, dtype=np.uint8).reshape(len(sel), length)
            ver, typ = rows[:, 0], rows[:, 1]
            full = typ == PacketType.DATA
            comp = typ == PacketType.DATA_COMPACT
            dat = full | comp
            others.extend(sel[~dat].tolist())
            if not dat.any():
                continue
            rows, sel, ver, full, comp = rows[dat], sel[dat], ver[dat], full[dat], comp[dat]
            major_ok = (ver >> 4) == PROTOCOL_MAJOR
            newer = (ver & 0x0F) > PROTOCOL_MINOR
            self._malformed("unsupported_version", int((~major_ok).sum()))
            ok = major_ok.copy()
            if length >= DATA_HEADER_SIZE:
                hdr = rows[:, :DATA_HEADER_SIZE]
                n_full = hdr[:, 4].astype(np.int64)
                need = DATA_HEADER_SIZE + BYTES_PER_SAMPLE * n_full
                count_ok = (n_full >= 1) & (n_full <= MAX_SAMPLES_PER_PACKET)
                len_ok = (need == length) | (newer & (need < length))
                cfg_full = hdr[:, 3].astype(np.int64)
                cnt_full = np.ascontiguousarray(hdr[:, 6:10]).view("<u4")[:, 0].astype(np.int64)
                ts_full = np.ascontiguousarray(hdr[:, 10:14]).view("<u4")[:, 0].astype(np.int64)
            else:
                n_full = np.zeros(len(sel), dtype=np.int64)
                count_ok = len_ok = np.zeros(len(sel), dtype=bool)
                cfg_full = cnt_full = ts_full = n_full
            fb = ok & full
            self._malformed(
                "too_short" if length < DATA_HEADER_SIZE else "bad_sample_count", int((fb & ~count_ok).sum())
            )
            self._malformed("bad_length", int((fb & count_ok & ~len_ok).sum()))
            ok &= ~full | (count_ok & len_ok)
            if length >= COMPACT_PACKET_SIZE:
                cfg_c = rows[:, 2].astype(np.int64)
                cnt_c = rows[:, 3].astype(np.int64) | rows[:, 4].astype(np.int64) << 8
                ts_c = (
                    rows[:, 5].astype(np.int64) | rows[:, 6].astype(np.int64) << 8 | rows[:, 7].astype(np.int64) << 16
                )
                clen_ok = np.full(len(sel), length == COMPACT_PACKET_SIZE) | newer
            else:
                cfg_c = cnt_c = ts_c = np.zeros(len(sel), dtype=np.int64)
                clen_ok = np.zeros(len(sel), dtype=bool)
            self._malformed("bad_length", int((ok & comp & ~clen_ok).sum()))
            ok &= ~comp | clen_ok
            c = np.where(full, cfg_full, cfg_c)
            cfg_ok = (c >> 5) < len(GYR_RANGES_DPS)
            self._malformed("bad_config", int((ok & ~cfg_ok).sum()))
            ok &= cfg_ok
            idx = sel[ok]
            is_data[idx] = True
            n[idx] = np.where(full, n_full, 1)[ok]
            counter[idx] = np.where(full, cnt_full, cnt_c)[ok]
            ts[idx] = np.where(full, ts_full, ts_c)[ok]
            cfg[idx] = c[ok]
            compact[idx] = comp[ok]
            if idx.size:
                groups.append((idx, rows[ok]))

        # status, responses, unknown types: rare, decoded one by one
        for i in sorted(others):
            try:
                pkt = decode(datas[i])
            except ProtocolError as exc:
                self._malformed(_reason(datas[i], exc))
                continue
            self.packets_ok += 1
            if isinstance(pkt, StatusPacket):
                self.status.append(pkt)
            elif isinstance(pkt, Response):
                self.responses.append(pkt)

        didx = np.flatnonzero(is_data)
        p = didx.size
        if p == 0:
            return SampleBatch.empty(self.sensor_id, fs_out)
        self.packets_ok += p

        # samples: scatter every group's int16 block to its place in arrival order
        n_d = n[didx]
        start = np.zeros(m, dtype=np.int64)
        start[didx] = np.cumsum(n_d) - n_d
        total = int(n_d.sum())
        samples = np.empty((total, 6), dtype=np.int16)
        for idx, rows in groups:
            hs = np.where(compact[idx], COMPACT_HEADER_SIZE, DATA_HEADER_SIZE)
            for k in np.unique(n[idx]).tolist():
                for h in np.unique(hs).tolist():
                    sub = (n[idx] == k) & (hs == h)
                    block = np.ascontiguousarray(rows[sub, h : h + BYTES_PER_SAMPLE * k]).view("<i2").reshape(-1, 6)
                    pos = (start[idx[sub], None] + np.arange(k)).ravel()
                    samples[pos] = block

        # full data flags (byte 2 of full packets)
        for idx, rows in groups:
            fullrows = ~compact[idx]
            if fullrows.any():
                self.data_flags |= int(np.bitwise_or.reduce(rows[fullrows, 2]))

        # unwrap counters and device time over the data packets
        c = counter[didx]
        t = ts[didx]
        comp = compact[didx]
        h = host[didx]
        fs = _RATES[cfg[didx] & 0x07]
        prev = self._prev
        if prev is None:
            prev = _Prev(int(c[0]), 0, int(c[0]), int(t[0]), int(t[0]), float(fs[0]), bool(comp[0]), float(h[0]))
            self.fs_hz = float(fs[0])
        pc = np.concatenate([[prev.counter], c[:-1]])
        pn = np.concatenate([[prev.n], n_d[:-1]])
        pt = np.concatenate([[prev.ts], t[:-1]])
        pfs = np.concatenate([[prev.fs_hz], fs[:-1]])
        pcomp = np.concatenate([[prev.compact], comp[:-1]])
        ph = np.concatenate([[prev.host_time_s], h[:-1]])
        mod = np.where(comp, COMPACT_COUNTER_MODULUS, COUNTER_MODULUS)
        d = (c - pc - pn) % mod
        host_dt = h - ph
        host_ok = np.isfinite(host_dt) & (host_dt > 0)
        with np.errstate(invalid="ignore", over="ignore"):
            wraps = np.floor((host_dt * fs - pn - d) / mod + 0.5)
        # arrival times decide how many whole wraps passed (negative: the counter went back);
        # without usable arrival times a forward jump of half a wrap or more counts as going back
        wraps = np.where(host_ok & np.isfinite(wraps), wraps, np.where(d >= mod // 2, -1, 0))
        wraps = np.clip(wraps, -1, 1 << 20).astype(np.int64)
        reset = (wraps < 0) | (comp != pcomp) | (fs != pfs)
        lost = np.where(reset, 0, d + wraps * mod)
        inc = pn + lost
        u = prev.unwrapped + np.cumsum(inc)
        tmod = np.where(comp | pcomp, COMPACT_TIMESTAMP_MODULUS, TIMESTAMP_MODULUS)
        delta = (t - pt) % tmod
        pu = np.concatenate([[prev.unwrapped], u[:-1]])
        fallback = pn * 1e6 / pfs
        expected = np.where(
            reset, np.where(np.isfinite(host_dt) & (host_dt > 0), host_dt * 1e6, fallback), (u - pu) * 1e6 / pfs
        )
        tw = np.round((expected - delta) / tmod).astype(np.int64)
        tu = prev.ts_unwrapped + np.cumsum(delta + tw * tmod)
        gap = (lost > 0) | reset

        self.samples_lost += int(lost.sum())
        self.counter_resets += int(reset.sum())
        self._prev = _Prev(
            int(c[-1]), int(n_d[-1]), int(u[-1]), int(t[-1]), int(tu[-1]), float(fs[-1]), bool(comp[-1]), float(h[-1])
        )

        # per-sample arrays
        pkt_start = start[didx]
        k = np.arange(total, dtype=np.int64) - np.repeat(pkt_start, n_d)
        fs_s = np.repeat(fs, n_d)
        gap_s = np.zeros(total, dtype=bool)
        gap_s[pkt_start] = gap
        codes = cfg[didx]
        acc = samples[:, :3] * np.repeat(_ACC_SCALE[(codes >> 3) & 0x03], n_d)[:, None]
        gyr = samples[:, 3:] * np.repeat(_GYR_SCALE[codes >> 5], n_d)[:, None]
        return SampleBatch(
            sensor_id=self.sensor_id,
            fs_hz=self.fs_hz or float(fs[0]),
            counter=np.repeat(u, n_d) + k,
            device_time_s=(np.repeat(tu, n_d) + k * 1e6 / fs_s) / 1e6,
            host_time_s=np.repeat(h, n_d),
            acc_mps2=acc,
            gyr_rps=gyr,
            gap_before=gap_s,
        )

    def result(self, batch: SampleBatch) -> DecodedStream:
        """Wrap ``batch`` with the decoder's running totals."""
        return DecodedStream(
            batch=batch,
            packets_ok=self.packets_ok,
            malformed_packets=self.malformed_packets,
            samples_lost=self.samples_lost,
            status=list(self.status),
            responses=list(self.responses),
            counter_resets=self.counter_resets,
            malformed_reasons=dict(self.malformed_reasons),
            data_flags=self.data_flags,
        )


def _reason(data: bytes, exc: ProtocolError) -> str:
    if len(data) < 2:
        return "too_short"
    if data[0] >> 4 != PROTOCOL_MAJOR:
        return "unsupported_version"
    if data[1] == PacketType.STATUS:
        return "status"
    if data[1] == PacketType.RESPONSE:
        return "response"
    return "unknown_type"


def decode_stream(packets: Sequence[RawPacket], sensor_id: str) -> DecodedStream:
    """Decode a whole recording of one sensor at once (one-shot :class:`StreamDecoder`)."""
    decoder = StreamDecoder(sensor_id)
    return decoder.result(decoder.feed(packets))
