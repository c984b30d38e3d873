"""The previous, pure numpy implementation of ``StreamDecoder.process``, kept as the reference.

``ReferenceStreamDecoder`` is the numpy decoder that ``dmi_sensors.protocol.stream`` used
before the Numba kernel (``protocol/_stream_kernels.py``) replaced it: packets grouped by
length, one ``np.frombuffer`` per group, unwrap by vectorised differences and cumulative
sums. The fast decoder must give bit-identical arrays, the same totals and the same
``malformed_reasons`` (including their order) on any input, and the same
:class:`StreamDecoderState` (kept here by its own bookkeeping, not the fast decoder's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from dmi_sensors.protocol.commands import Response
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
from dmi_sensors.protocol.decode import decode
from dmi_sensors.protocol.errors import ProtocolError
from dmi_sensors.protocol.status import StatusPacket
from dmi_sensors.protocol.stream import (
    DEFAULT_FS_HZ,
    LastDataPacket,
    StreamDecoderState,
    _reason,
)
from dmi_sensors.types import RawPacket, SampleBatch

# the code tables, as the numpy decoder built them: config bits 0-2 -> Hz, 3-4 -> m/s^2 per
# count, 5-7 -> rad/s per count
_RATES = np.array(RATES_HZ, dtype=np.float64)
_ACC_SCALE = np.array([acc_scale_mps2(g) for g in ACC_RANGES_G])
_GYR_SCALE = np.array([gyr_scale_rps(d) for d in GYR_RANGES_DPS] + [np.nan] * 3)


class ReferenceStreamDecoder:
    """The previous numpy decoder: same outputs, same totals, same ``state`` as ``StreamDecoder``."""

    def __init__(self, sensor_id: str) -> None:
        self.sensor_id = sensor_id
        self._prev: LastDataPacket | None = None
        self.fs_hz: float | None = None
        self.packets_ok = 0
        self.malformed_packets = 0
        self.samples_lost = 0
        self.counter_resets = 0
        self.data_flags = 0
        self.malformed_reasons: Counter[str] = Counter()
        self.status: list = []
        self.responses: list = []

    @property
    def state(self) -> StreamDecoderState:
        return StreamDecoderState(
            last_packet=self._prev,
            fs_hz=self.fs_hz,
            packets_ok=self.packets_ok,
            malformed_packets=self.malformed_packets,
            samples_lost=self.samples_lost,
            counter_resets=self.counter_resets,
            data_flags=self.data_flags,
            malformed_reasons=tuple(self.malformed_reasons.items()),
            status=tuple(self.status),
            responses=tuple(self.responses),
        )

    def _malformed(self, reason: str, count: int = 1) -> None:
        if count:
            self.malformed_packets += count
            self.malformed_reasons[reason] += count

    def process(self, packets: Sequence[RawPacket]) -> SampleBatch:
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
            prev = LastDataPacket(
                int(c[0]), 0, int(c[0]), int(t[0]), int(t[0]), float(fs[0]), bool(comp[0]), float(h[0])
            )
            self.fs_hz = float(fs[0])
        pc = np.concatenate([[prev.counter_wire], c[:-1]])
        pn = np.concatenate([[prev.n_samples], n_d[:-1]])
        pt = np.concatenate([[prev.timestamp_wire_us], t[:-1]])
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
        # counter plausibility: a jump the host's clock cannot explain is a reset
        span = np.where(np.isfinite(host_dt) & (host_dt > 0), host_dt, 0.0)
        with np.errstate(invalid="ignore"):
            implausible = (
                (lost > 0)
                & np.isfinite(host_dt)
                & (lost > (span * (1.0 + COUNTER_RATE_TOLERANCE) + COUNTER_JUMP_SLACK_S) * fs)
            )
        reset = reset | implausible
        lost = np.where(reset, 0, lost)
        inc = pn + lost
        u = prev.counter_unwrapped + np.cumsum(inc)
        tmod = np.where(comp | pcomp, COMPACT_TIMESTAMP_MODULUS, TIMESTAMP_MODULUS)
        delta = (t - pt) % tmod
        pu = np.concatenate([[prev.counter_unwrapped], u[:-1]])
        fallback = pn * 1e6 / pfs
        expected = np.where(
            reset, np.where(np.isfinite(host_dt) & (host_dt > 0), host_dt * 1e6, fallback), (u - pu) * 1e6 / pfs
        )
        tw = np.round((expected - delta) / tmod).astype(np.int64)
        tu = prev.timestamp_unwrapped_us + np.cumsum(delta + tw * tmod)
        gap = (lost > 0) | reset

        self.samples_lost += int(lost.sum())
        self.counter_resets += int(reset.sum())
        self._prev = LastDataPacket(
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
