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
* counter plausibility: with a finite ``host_dt``, a gap of more than
  ``(max(host_dt, 0) * (1 + COUNTER_RATE_TOLERANCE) + COUNTER_JUMP_SLACK_S) * fs_hz``
  samples cannot be real (a corrupted counter): a reset too, never millions lost.
* device time: ``delta = (ts_q - ts_p) mod T`` with T = 2**32 µs (2**24 µs if either packet
  is compact: both carry the low bits of the same device clock), then the multiple of T
  nearest to the expected advance ``(U_q - U_p) * 1e6 / fs_hz`` (or the host arrival
  difference after a reset) is added.
* Sample k of a packet: counter ``U + k``, device time ``(T_us + k * 1e6 / fs_hz) / 1e6`` s.

Everything is carried across :meth:`StreamDecoder.process` calls (the full state is
:attr:`StreamDecoder.state`, a :class:`StreamDecoderState`), so feeding packets in chunks
gives the same arrays as feeding them at once.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from types import ModuleType
from typing import Any

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.protocol.commands import Response
from dmi_sensors.protocol.constants import BYTES_PER_SAMPLE, COMPACT_HEADER_SIZE, PROTOCOL_MAJOR, PacketType
from dmi_sensors.protocol.decode import decode
from dmi_sensors.protocol.errors import ProtocolError
from dmi_sensors.protocol.status import StatusPacket
from dmi_sensors.types import RawPacket, SampleBatch

__all__ = [
    "DEFAULT_FS_HZ",
    "DecodedStream",
    "LastDataPacket",
    "StreamDecoder",
    "StreamDecoderState",
    "decode_stream",
    "warm_up",
]

#: fs_hz of an empty batch returned before any data packet was seen.
DEFAULT_FS_HZ = 100.0

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


@dataclass(frozen=True)
class LastDataPacket:
    """Unwrap state: what the decoder remembers of the last valid data packet.

    Attributes
    ----------
    counter_wire
        Its sample counter as on the wire (modulo 2**32, or 2**16 for compact packets).
    n_samples
        Its number of samples.
    counter_unwrapped
        Its unwrapped counter (first sample).
    timestamp_wire_us
        Its device timestamp as on the wire, µs (modulo 2**32, or 2**24 for compact packets).
    timestamp_unwrapped_us
        Its unwrapped device timestamp, µs.
    fs_hz
        Its sample rate.
    compact
        True for the compact format.
    host_time_s
        Its host arrival time, s.
    """

    counter_wire: int
    n_samples: int
    counter_unwrapped: int
    timestamp_wire_us: int
    timestamp_unwrapped_us: int
    fs_hz: float
    compact: bool
    host_time_s: float


@dataclass(frozen=True)
class StreamDecoderState:
    """Full state of a :class:`StreamDecoder`: unwrap state and running totals.

    Attributes
    ----------
    last_packet
        The last valid data packet (:class:`LastDataPacket`), ``None`` before the first.
    fs_hz
        Rate of the first data packet ever seen (``None`` before it); every
        :class:`~dmi_sensors.types.SampleBatch` the decoder returns carries it.
    packets_ok, malformed_packets, samples_lost, counter_resets, data_flags
        Running totals since construction or :meth:`StreamDecoder.reset` (see
        :class:`DecodedStream`).
    malformed_reasons
        ``(reason, count)`` pairs in the order the reasons were first seen.
    status, responses
        Decoded status packets and command responses, in order.
    """

    last_packet: LastDataPacket | None
    fs_hz: float | None
    packets_ok: int
    malformed_packets: int
    samples_lost: int
    counter_resets: int
    data_flags: int
    malformed_reasons: tuple[tuple[str, int], ...]
    status: tuple[StatusPacket, ...]
    responses: tuple[Response, ...]


class StreamDecoder:
    """Streaming decoder for one sensor: ``process(packets) -> SampleBatch``, state across calls.

    Running totals (``packets_ok``, ``malformed_packets``, ``samples_lost``,
    ``counter_resets``, ``malformed_reasons``, ``data_flags``) and the decoded ``status`` /
    ``responses`` accumulate over all calls since construction or the last :meth:`reset`.
    Feeding the packets in any split gives the same samples and totals as feeding them at once.

    Parameters
    ----------
    sensor_id
        The sensor whose packets this decoder takes (every packet's ``sensor_id`` must be it).

    Attributes
    ----------
    state
        :class:`StreamDecoderState` (the last data packet for unwrapping, the first rate,
        the running totals); read it to take a snapshot, assign one to continue from it.
    """

    def __init__(self, sensor_id: str) -> None:
        if not isinstance(sensor_id, str):
            raise ParameterError(f"sensor_id must be a string, got {sensor_id!r}")
        self._sensor_id = sensor_id
        #: kernel unwrap state: int64 [has_prev, counter (wire), n, unwrapped counter,
        #: timestamp (wire), unwrapped timestamp (µs), compact] and float64 [fs_hz,
        #: host_time_s, rate of the first data packet] (see ``_stream_kernels.decode_packets``)
        self._prev_i = np.zeros(7, dtype=np.int64)
        self._prev_f = np.zeros(3)
        self.reset()

    @property
    def sensor_id(self) -> str:
        """The sensor this decoder takes packets of."""
        return self._sensor_id

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {"sensor_id": self._sensor_id}

    def reset(self) -> None:
        """Back to the freshly constructed state: no unwrap state, zero totals."""
        self._prev_i[:] = 0
        self._prev_f[:] = 0.0
        self._fs_hz: float | None = None
        self._packets_ok = 0
        self._malformed_packets = 0
        self._samples_lost = 0
        self._counter_resets = 0
        self._data_flags = 0
        self._malformed_reasons: Counter[str] = Counter()
        self._status: list[StatusPacket] = []
        self._responses: list[Response] = []

    @property
    def state(self) -> StreamDecoderState:
        """Snapshot of the full state; assign a :class:`StreamDecoderState` to continue from it."""
        pi, pf = self._prev_i, self._prev_f
        last = None
        if pi[0]:
            last = LastDataPacket(
                int(pi[1]), int(pi[2]), int(pi[3]), int(pi[4]), int(pi[5]), float(pf[0]), bool(pi[6]), float(pf[1])
            )
        return StreamDecoderState(
            last_packet=last,
            fs_hz=self._fs_hz,
            packets_ok=self._packets_ok,
            malformed_packets=self._malformed_packets,
            samples_lost=self._samples_lost,
            counter_resets=self._counter_resets,
            data_flags=self._data_flags,
            malformed_reasons=tuple(self._malformed_reasons.items()),
            status=tuple(self._status),
            responses=tuple(self._responses),
        )

    @state.setter
    def state(self, value: StreamDecoderState) -> None:
        if not isinstance(value, StreamDecoderState):
            raise ParameterError(f"StreamDecoder.state must be a StreamDecoderState, got {type(value).__name__}")
        if (value.last_packet is None) != (value.fs_hz is None):
            raise ParameterError("StreamDecoder.state: last_packet and fs_hz must both be set or both be None")
        last = value.last_packet
        if last is None:
            self._prev_i[:] = 0
            self._prev_f[:] = 0.0
        else:
            self._prev_i[:] = (
                1,
                last.counter_wire,
                last.n_samples,
                last.counter_unwrapped,
                last.timestamp_wire_us,
                last.timestamp_unwrapped_us,
                int(last.compact),
            )
            self._prev_f[:] = (last.fs_hz, last.host_time_s, last.fs_hz)
        self._fs_hz = None if value.fs_hz is None else float(value.fs_hz)
        self._packets_ok = int(value.packets_ok)
        self._malformed_packets = int(value.malformed_packets)
        self._samples_lost = int(value.samples_lost)
        self._counter_resets = int(value.counter_resets)
        self._data_flags = int(value.data_flags)
        self._malformed_reasons = Counter(dict(value.malformed_reasons))
        self._status = list(value.status)
        self._responses = list(value.responses)

    # running totals, read-only (the state holds them)
    @property
    def fs_hz(self) -> float | None:
        """Rate of the first data packet seen since construction or reset (``None`` before it)."""
        return self._fs_hz

    @property
    def packets_ok(self) -> int:
        """Valid notifications (data, status and responses)."""
        return self._packets_ok

    @property
    def malformed_packets(self) -> int:
        """Notifications that failed to decode (counted and skipped)."""
        return self._malformed_packets

    @property
    def samples_lost(self) -> int:
        """Samples missing according to counter gaps (resets excluded)."""
        return self._samples_lost

    @property
    def counter_resets(self) -> int:
        """Counter discontinuities (counter went back, rate or format changed)."""
        return self._counter_resets

    @property
    def data_flags(self) -> int:
        """Bitwise OR of the flags of all full data packets."""
        return self._data_flags

    @property
    def malformed_reasons(self) -> dict[str, int]:
        """Malformed packets per reason, in the order the reasons were first seen (a copy)."""
        return dict(self._malformed_reasons)

    @property
    def status(self) -> list[StatusPacket]:
        """Decoded status packets, in order (a copy)."""
        return list(self._status)

    @property
    def responses(self) -> list[Response]:
        """Decoded command responses, in order (a copy)."""
        return list(self._responses)

    def _malformed(self, reason: str, count: int = 1) -> None:
        if count:
            self._malformed_packets += count
            self._malformed_reasons[reason] += count

    def process(self, packets: Sequence[RawPacket]) -> SampleBatch:
        """Decode the next packets of this sensor (arrival order) into SI samples."""
        m = len(packets)
        if m == 1:  # a live drain's usual case: one kernel call on the bytes as they are
            packet = packets[0]
            if packet.sensor_id != self._sensor_id:
                raise ParameterError(
                    f"StreamDecoder for sensor {self._sensor_id!r} was fed packets of {[packet.sensor_id]}"
                )
            data = packet.data
            # the kernel's argument types (another type would compile another specialisation)
            return self._decode_one(data if type(data) is bytes else bytes(data), float(packet.host_time_s))
        if m == 0:
            return SampleBatch.empty(self._sensor_id, self._fs_hz or DEFAULT_FS_HZ)
        if set(map(_SENSOR_ID, packets)) != {self._sensor_id}:
            others = sorted(set(map(_SENSOR_ID, packets)) - {self._sensor_id})
            raise ParameterError(f"StreamDecoder for sensor {self._sensor_id!r} was fed packets of {others}")
        k = _kernels()
        datas = list(map(_DATA, packets))
        host = np.fromiter(map(_HOST_TIME, packets), dtype=np.float64, count=m)
        lengths = np.fromiter(map(len, datas), dtype=np.int64, count=m)
        # room for the samples: max_samples of every notification, summed
        room = np.maximum(lengths, COMPACT_HEADER_SIZE)
        room -= COMPACT_HEADER_SIZE
        room //= BYTES_PER_SAMPLE
        rows = int(room.sum())
        codes = np.empty(m, dtype=np.int8)
        out = _outputs(rows)
        with _quiet_if_interpreted():  # inf/NaN arrival times warn in the interpreted kernel
            p, total, lost, resets, flags = k.decode_packets(
                b"".join(datas), lengths, host, codes, self._prev_i, self._prev_f, *out
            )
        if p < m:  # something else than valid data packets
            # malformed data packets, counted in the order the per-length numpy decoder did
            bad = np.flatnonzero(codes > k.OTHER)
            if bad.size:
                keys, counts = np.unique(lengths[bad] * 16 + codes[bad], return_counts=True)
                for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
                    self._malformed(k.REASONS[key % 16], count)
            # status, responses, unknown types: rare, decoded one by one
            for i in np.flatnonzero(codes == k.OTHER).tolist():
                self._decode_other(datas[i])
        return self._batch(p, total, rows, lost, resets, flags, out)

    def _decode_one(self, data: bytes, host_time_s: float) -> SampleBatch:
        """:meth:`process` of one packet."""
        k = _KERNELS or _kernels()
        rows = k.max_samples(len(data))
        out = _outputs(rows)
        with _quiet_if_interpreted():  # inf/NaN arrival times warn in the interpreted kernel
            code, total, lost, resets, flags = k.decode_one(data, host_time_s, self._prev_i, self._prev_f, *out)
        if code == k.VALID:
            return self._batch(1, total, rows, lost, resets, flags, out)
        if code == k.OTHER:
            self._decode_other(data)
        else:
            self._malformed(k.REASONS[code])
        return SampleBatch.empty(self._sensor_id, self._fs_hz or DEFAULT_FS_HZ)

    def _decode_other(self, data: bytes) -> None:
        """A status packet, a command response or an unknown type: decoded in Python."""
        try:
            pkt = decode(data)
        except ProtocolError as exc:
            self._malformed(_reason(data, exc))
            return
        self._packets_ok += 1
        if isinstance(pkt, StatusPacket):
            self._status.append(pkt)
        elif isinstance(pkt, Response):
            self._responses.append(pkt)

    def _batch(self, p: int, total: int, rows: int, lost: int, resets: int, flags: int, out: _Outputs) -> SampleBatch:
        """Totals after ``p`` valid data packets, and their ``total`` samples (the first rows
        of ``out``, which has ``rows``) as a batch."""
        if p == 0:
            return SampleBatch.empty(self._sensor_id, self._fs_hz or DEFAULT_FS_HZ)
        self._packets_ok += p
        self._samples_lost += int(lost)
        self._counter_resets += int(resets)
        self._data_flags |= int(flags)
        if self._fs_hz is None:
            self._fs_hz = float(self._prev_f[2])  # rate of the first data packet ever seen
        acc, gyr, counter, device_time, host, gap, time_s = out
        if total < rows:  # status packets or malformed ones took room: the first rows are the samples
            acc, gyr, counter, device_time = acc[:total], gyr[:total], counter[:total], device_time[:total]
            host, gap, time_s = host[:total], gap[:total], time_s[:total]
        return SampleBatch.trusted(self._sensor_id, self._fs_hz, counter, device_time, host, acc, gyr, gap, time_s)

    def result(self, batch: SampleBatch) -> DecodedStream:
        """Wrap ``batch`` with the decoder's running totals."""
        return DecodedStream(
            batch=batch,
            packets_ok=self._packets_ok,
            malformed_packets=self._malformed_packets,
            samples_lost=self._samples_lost,
            status=list(self._status),
            responses=list(self._responses),
            counter_resets=self._counter_resets,
            malformed_reasons=dict(self._malformed_reasons),
            data_flags=self._data_flags,
        )


_Outputs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_KERNELS: ModuleType | None = None
_INTERPRETED = False


def _kernels() -> ModuleType:
    """The Numba kernels' module, imported on first use (``import numba`` takes a few tenths
    of a second, which a recorder's start must not pay before its first packet)."""
    global _KERNELS, _INTERPRETED
    if _KERNELS is None:
        from numba import config

        from dmi_sensors.protocol import _stream_kernels

        _INTERPRETED = bool(config.DISABLE_JIT)  # type: ignore[attr-defined]  # numba.config sets it at run time
        _KERNELS = _stream_kernels
    return _KERNELS


def _outputs(rows: int) -> _Outputs:
    """Output arrays for ``rows`` samples: acc, gyr (rows, 3), counter, device time, host
    time, gap before, time (the kernels fill every row they use)."""
    return (
        np.empty((rows, 3)),
        np.empty((rows, 3)),
        np.empty(rows, dtype=np.int64),
        np.empty(rows),
        np.empty(rows),
        np.empty(rows, dtype=np.bool_),
        np.empty(rows),
    )


def _quiet_if_interpreted() -> contextlib.AbstractContextManager:
    """numpy's warnings off when the kernels run as Python (``NUMBA_DISABLE_JIT=1``)."""
    return np.errstate(invalid="ignore", over="ignore") if _INTERPRETED else _NULL_CONTEXT


_NULL_CONTEXT = contextlib.nullcontext()


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

    The first :meth:`StreamDecoder.process` of a process otherwise pays this (about 0.4 s with a
    warm cache, over 1 s right after install). Live recorders call it, in a worker thread,
    before connecting, so no notification waits behind it.
    """
    from dmi_sensors.protocol.data import encode_data_packet

    packet = encode_data_packet(0, 0, 100, 2, 250, np.zeros((1, 3), np.int16), np.zeros((1, 3), np.int16))
    StreamDecoder("warm-up").process([RawPacket("warm-up", 0.0, packet)])


def decode_stream(packets: Sequence[RawPacket], sensor_id: str) -> DecodedStream:
    """Decode a whole recording of one sensor at once (one-shot :class:`StreamDecoder`)."""
    decoder = StreamDecoder(sensor_id)
    return decoder.result(decoder.process(packets))
