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

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.protocol.commands import Response
from dmi_sensors.protocol.constants import (
    ACC_RANGES_G,
    GYR_RANGES_DPS,
    PROTOCOL_MAJOR,
    RATES_HZ,
    PacketType,
    acc_scale_mps2,
    gyr_scale_rps,
)
from dmi_sensors.protocol.decode import decode
from dmi_sensors.protocol.errors import ProtocolError
from dmi_sensors.protocol.status import StatusPacket
from dmi_sensors.types import RawPacket, SampleBatch

__all__ = ["DEFAULT_FS_HZ", "DecodedStream", "StreamDecoder", "decode_stream", "warm_up"]

#: fs_hz of an empty batch returned before any data packet was seen.
DEFAULT_FS_HZ = 100.0

_RATES = np.array(RATES_HZ, dtype=np.float64)
_ACC_SCALE = np.array([acc_scale_mps2(g) for g in ACC_RANGES_G])
_GYR_SCALE = np.array([gyr_scale_rps(d) for d in GYR_RANGES_DPS] + [np.nan] * 3)
_SENSOR_ID = attrgetter("sensor_id")
_HOST_TIME = attrgetter("host_time_s")
_DATA = attrgetter("data")


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

    def _prev_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The unwrap state as the kernel's ``prev_i`` / ``prev_f`` arrays."""
        prev = self._prev
        if prev is None:
            return np.zeros(7, dtype=np.int64), np.zeros(3)
        prev_i = np.array(
            [1, prev.counter, prev.n, prev.unwrapped, prev.ts, prev.ts_unwrapped, int(prev.compact)], dtype=np.int64
        )
        return prev_i, np.array([prev.fs_hz, prev.host_time_s, prev.fs_hz])

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
        if set(map(_SENSOR_ID, packets)) != {self.sensor_id}:
            others = sorted(set(map(_SENSOR_ID, packets)) - {self.sensor_id})
            raise ParameterError(f"StreamDecoder for sensor {self.sensor_id!r} was fed packets of {others}")
        datas = list(map(_DATA, packets))
        host = np.fromiter(map(_HOST_TIME, packets), dtype=np.float64, count=m)
        lengths = np.fromiter(map(len, datas), dtype=np.int64, count=m)
        offsets = np.zeros(m, dtype=np.int64)
        np.cumsum(lengths[:-1], out=offsets[1:])
        buf = np.frombuffer(b"".join(datas), dtype=np.uint8)
        return self._decode(buf, offsets, lengths, host, datas)

    def _decode(
        self, buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, host: np.ndarray, datas: Sequence[bytes]
    ) -> SampleBatch:
        """Decode packets given as one byte buffer + offsets/lengths (``datas[i]`` = packet i's bytes)."""
        from dmi_sensors.protocol._stream_kernels import OTHER, REASONS, classify_packets, unwrap_into

        fs_out = self.fs_hz or DEFAULT_FS_HZ
        m = len(offsets)
        codes = np.empty(m, dtype=np.int8)
        headers = np.empty((m, 7), dtype=np.int64)
        p, total, flags = classify_packets(buf, offsets, lengths, codes, headers)

        if p < m:  # something else than valid data packets
            # malformed data packets, counted in the order the per-length numpy decoder did
            bad = np.flatnonzero(codes > OTHER)
            if bad.size:
                keys, counts = np.unique(lengths[bad] * 16 + codes[bad], return_counts=True)
                for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
                    self._malformed(REASONS[key % 16], count)
            # status, responses, unknown types: rare, decoded one by one
            for i in np.flatnonzero(codes == OTHER).tolist():
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

        if p == 0:
            return SampleBatch.empty(self.sensor_id, fs_out)
        prev_i, prev_f = self._prev_arrays()
        acc = np.empty((total, 3))
        gyr = np.empty((total, 3))
        counter = np.empty(total, dtype=np.int64)
        device_time = np.empty(total)
        host_s = np.empty(total)
        gap = np.empty(total, dtype=bool)
        with _quiet_if_interpreted():  # inf/NaN arrival times warn in the interpreted kernel
            lost, resets = unwrap_into(
                buf,
                headers,
                p,
                host,
                prev_i,
                prev_f,
                _RATES,
                _ACC_SCALE,
                _GYR_SCALE,
                acc,
                gyr,
                counter,
                device_time,
                host_s,
                gap,
            )
        self.packets_ok += p
        self.samples_lost += int(lost)
        self.counter_resets += int(resets)
        self.data_flags |= int(flags)
        self._prev = _Prev(
            int(prev_i[1]),
            int(prev_i[2]),
            int(prev_i[3]),
            int(prev_i[4]),
            int(prev_i[5]),
            float(prev_f[0]),
            bool(prev_i[6]),
            float(prev_f[1]),
        )
        if self.fs_hz is None:
            self.fs_hz = float(prev_f[2])  # rate of the first data packet ever seen
        return SampleBatch(
            sensor_id=self.sensor_id,
            fs_hz=self.fs_hz,
            counter=counter,
            device_time_s=device_time,
            host_time_s=host_s,
            acc_mps2=acc,
            gyr_rps=gyr,
            gap_before=gap,
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


def _quiet_if_interpreted() -> contextlib.AbstractContextManager:
    """numpy's warnings off when the kernels run as Python (``NUMBA_DISABLE_JIT=1``)."""
    from numba import config

    return np.errstate(invalid="ignore", over="ignore") if config.DISABLE_JIT else contextlib.nullcontext()


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


def warm_up() -> None:
    """Load (or compile, on the first run after install) the decoder's Numba kernels now.

    The first :meth:`StreamDecoder.feed` of a process otherwise pays this (about 0.4 s with a
    warm cache, over 1 s right after install). Live recorders call it, in a worker thread,
    before connecting, so no notification waits behind it.
    """
    from dmi_sensors.protocol.data import encode_data_packet

    packet = encode_data_packet(0, 0, 100, 2, 250, np.zeros((1, 3), np.int16), np.zeros((1, 3), np.int16))
    StreamDecoder("warm-up").feed([RawPacket("warm-up", 0.0, packet)])


def decode_stream(packets: Sequence[RawPacket], sensor_id: str) -> DecodedStream:
    """Decode a whole recording of one sensor at once (one-shot :class:`StreamDecoder`)."""
    decoder = StreamDecoder(sensor_id)
    return decoder.result(decoder.feed(packets))
