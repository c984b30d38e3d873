"""The one vendor decoder machinery: notifications -> chunks -> clocks -> merger -> SampleBatch.

Each vendor module subclasses :class:`VendorDecoder` with its ``__init__`` parameters (the
settings of its setup exchange), a ``_parse`` that turns one notification into
:class:`~dmi_sensors.vendors._timeline.Chunk` objects (counting what is malformed), and
the clocks and merger layout that fit its time information. Everything else — the
algorithm contract (``process``/``reset``/``state``/``get_params``), running totals, the
link-statistics interface of :class:`dmi_sensors.protocol.StreamDecoder` — lives here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, ClassVar

from dmi_sensors.errors import ParameterError
from dmi_sensors.protocol.stream import DecodedStream
from dmi_sensors.types import RawPacket, SampleBatch
from dmi_sensors.vendors._timeline import (
    Chunk,
    CounterClock,
    CounterClockState,
    Emitted,
    ExactClock,
    ExactClockState,
    HostClock,
    HostClockState,
    Merger,
    MergerState,
    Placed,
)

__all__ = ["LOSS_ACCOUNTING", "TIMING_SOURCES", "VendorDecodedStream", "VendorDecoder", "VendorDecoderState"]

#: How a decoder knows about lost samples: from device counters/timestamps, or estimated.
LOSS_ACCOUNTING = ("exact", "estimated")
#: Where sample times come from.
TIMING_SOURCES = ("device_timestamps", "device_counter", "host_arrival")

_SENSOR_ID = attrgetter("sensor_id")


@dataclass
class VendorDecodedStream(DecodedStream):
    """:class:`~dmi_sensors.protocol.DecodedStream` of a vendor decoder, with its labels.

    Attributes
    ----------
    loss_accounting
        ``"exact"`` (from the vendor's counters or timestamps) or ``"estimated"`` (from
        host arrival times and the nominal rate).
    timing_source
        ``"device_timestamps"``, ``"device_counter"`` or ``"host_arrival"``.
    vendor
        The registry name of the vendor.
    """

    loss_accounting: str = "exact"
    timing_source: str = "device_timestamps"
    vendor: str = ""


@dataclass(frozen=True)
class VendorDecoderState:
    """Full state of a vendor decoder.

    Attributes
    ----------
    parser
        What the notification parser carries between notifications (WitMotion: the bytes
        of an unfinished frame), or None.
    clocks
        The state of each stream's clock (see :mod:`dmi_sensors.vendors._timeline`).
    merger
        Alignment of the streams and the samples awaiting their partner.
    packets_ok, malformed_packets
        Running totals since construction or :meth:`VendorDecoder.reset`.
    malformed_reasons
        ``(reason, count)`` pairs in the order the reasons were first seen.
    extra
        Vendor values decoded on the way (e.g. the last battery reading), as ``(key, value)``.
    """

    parser: Any
    clocks: tuple[ExactClockState | CounterClockState | HostClockState, ...]
    merger: MergerState
    packets_ok: int
    malformed_packets: int
    malformed_reasons: tuple[tuple[str, int], ...]
    extra: tuple[tuple[str, Any], ...] = ()


class VendorDecoder:
    """Base of the vendor decoders: ``process(packets) -> SampleBatch`` with state across calls.

    Subclasses document their parameters; they are read-only attributes of the same names.
    The interface matches :class:`dmi_sensors.protocol.StreamDecoder` (``sensor_id``,
    ``fs_hz``, ``packets_ok``, ``malformed_packets``, ``malformed_reasons``,
    ``samples_lost``, ``counter_resets``, :meth:`result`), so a link or
    :func:`dmi_sensors.timing.timed_samples` takes either. Decoders that hold samples back
    (a gyroscope sample waiting for its accelerometer partner, chunks held by a
    :class:`~dmi_sensors.vendors._timeline.HostClock`) release them with later packets;
    :meth:`flush` releases what can be decided at the end of a recording.
    """

    #: registry name (``metamotion``, ``dot``, ``polar``, ``witmotion``)
    vendor: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        object.__setattr__(self, "_params", dict(params))
        sensor_id = params.get("sensor_id")
        if not isinstance(sensor_id, str):
            raise ParameterError(f"sensor_id must be a string, got {sensor_id!r}")

    # -- parameters: read-only attributes ---------------------------------------------
    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("_params", {}):
            raise AttributeError(f"{type(self).__name__}.{name} is a parameter: set it in __init__")
        object.__setattr__(self, name, value)

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able: ``type(obj)(**obj.get_params())`` rebuilds it."""
        return dict(self._params)

    # -- set up by subclasses ---------------------------------------------------------
    def _setup(
        self,
        fs_hz: float,
        clocks: Sequence[ExactClock | CounterClock | HostClock],
        merger: Merger,
        loss_accounting: str,
        timing_source: str,
    ) -> None:
        self._fs_hz = float(fs_hz)
        self._clocks = list(clocks)
        self._merger = merger
        self._loss_accounting = loss_accounting
        self._timing_source = timing_source
        self.reset()

    def _reset_parser(self) -> None:
        """Forget what the parser carries between notifications (override with state)."""

    def _parser_state(self) -> Any:
        return None

    def _set_parser_state(self, value: Any) -> None:
        if value is not None:
            raise ParameterError(f"{type(self).__name__}.state: parser must be None, got {value!r}")

    def _parse(self, packet: RawPacket) -> list[Chunk]:
        raise NotImplementedError

    # -- the contract -----------------------------------------------------------------
    def reset(self) -> None:
        """Back to the freshly constructed state: no clocks, nothing pending, zero totals."""
        for clock in self._clocks:
            clock.reset()
        self._merger.reset()
        self._reset_parser()
        self._packets_ok = 0
        self._malformed_packets = 0
        self._malformed_reasons: Counter[str] = Counter()
        self._extra: dict[str, Any] = {}

    @property
    def state(self) -> VendorDecoderState:
        """Snapshot of the full state; assign a :class:`VendorDecoderState` to continue from it."""
        return VendorDecoderState(
            parser=self._parser_state(),
            clocks=tuple(c.state for c in self._clocks),
            merger=self._merger.state,
            packets_ok=self._packets_ok,
            malformed_packets=self._malformed_packets,
            malformed_reasons=tuple(self._malformed_reasons.items()),
            extra=tuple(sorted(self._extra.items())),
        )

    @state.setter
    def state(self, value: VendorDecoderState) -> None:
        name = type(self).__name__
        if not isinstance(value, VendorDecoderState):
            raise ParameterError(f"{name}.state must be a VendorDecoderState, got {type(value).__name__}")
        if len(value.clocks) != len(self._clocks):
            raise ParameterError(f"{name}.state must have {len(self._clocks)} clock state(s), got {len(value.clocks)}")
        for clock, s in zip(self._clocks, value.clocks, strict=True):
            want = {ExactClock: ExactClockState, CounterClock: CounterClockState, HostClock: HostClockState}[
                type(clock)
            ]
            if not isinstance(s, want):
                raise ParameterError(f"{name}.state: clock state must be a {want.__name__}, got {type(s).__name__}")
        if not isinstance(value.merger, MergerState):
            raise ParameterError(f"{name}.state: merger must be a MergerState, got {type(value.merger).__name__}")
        self._set_parser_state(value.parser)
        for clock, s in zip(self._clocks, value.clocks, strict=True):
            clock.state = s
        self._merger.state = value.merger
        self._packets_ok = int(value.packets_ok)
        self._malformed_packets = int(value.malformed_packets)
        self._malformed_reasons = Counter(dict(value.malformed_reasons))
        self._extra = dict(value.extra)

    def process(self, packets: Sequence[RawPacket]) -> SampleBatch:
        """Decode the next notifications of this sensor (arrival order) into SI samples."""
        if packets and set(map(_SENSOR_ID, packets)) != {self.sensor_id}:
            others = sorted(set(map(_SENSOR_ID, packets)) - {self.sensor_id})
            raise ParameterError(f"{type(self).__name__} for sensor {self.sensor_id!r} was fed packets of {others}")
        for packet in packets:
            for chunk in self._parse(packet):
                self._feed(chunk)
        return self._batch(self._merger.emit())

    def flush(self) -> SampleBatch:
        """End of the stream: decide what the clocks hold and return the samples that completes.

        Samples still waiting for a partner that never came stay pending (they are not
        counted as lost: nothing after them was received).
        """
        for clock in self._clocks:
            if isinstance(clock, HostClock):
                for placed in clock.flush():
                    self._merger.add(placed)
        return self._batch(self._merger.emit())

    # -- internals --------------------------------------------------------------------
    def _malformed(self, reason: str, count: int = 1) -> None:
        if count:
            self._malformed_packets += count
            self._malformed_reasons[reason] += count

    def _feed(self, chunk: Chunk) -> None:
        clock = self._clocks[chunk.stream]
        placed: list[Placed]
        if isinstance(clock, HostClock):
            placed = clock.place(chunk)
        else:
            result = clock.place(chunk)
            if isinstance(result, str):  # a repeated notification (one chunk each): not ok after all
                self._packets_ok -= 1
                self._malformed(result)
                return
            placed = [result]
        for p in placed:
            self._merger.add(p)

    def _batch(self, em: Emitted) -> SampleBatch:
        return SampleBatch(
            sensor_id=self.sensor_id,
            fs_hz=self._fs_hz,
            counter=em.counter,
            device_time_s=em.device_time_s,
            host_time_s=em.host_time_s,
            acc_mps2=em.acc_mps2,
            gyr_rps=em.gyr_rps,
            gap_before=em.gap_before,
        )

    # -- running totals and labels (read-only) ----------------------------------------
    @property
    def fs_hz(self) -> float:
        """The nominal sample rate of the output, Hz."""
        return self._fs_hz

    @property
    def loss_accounting(self) -> str:
        """``"exact"`` or ``"estimated"`` (see :data:`LOSS_ACCOUNTING`)."""
        return self._loss_accounting

    @property
    def timing_source(self) -> str:
        """``"device_timestamps"``, ``"device_counter"`` or ``"host_arrival"``."""
        return self._timing_source

    @property
    def packets_ok(self) -> int:
        """Notifications decoded without a problem."""
        return self._packets_ok

    @property
    def malformed_packets(self) -> int:
        """Malformed notifications (or garbage runs in a byte stream), counted and skipped."""
        return self._malformed_packets

    @property
    def malformed_reasons(self) -> dict[str, int]:
        """Malformed packets per reason, in the order first seen (a copy)."""
        return dict(self._malformed_reasons)

    @property
    def samples_lost(self) -> int:
        """Samples missing between output samples (exact or estimated: :attr:`loss_accounting`)."""
        return self._merger.samples_lost

    @property
    def counter_resets(self) -> int:
        """Discontinuities where the number of missing samples is unknown (a new clock run)."""
        return self._merger.counter_resets

    @property
    def samples_received(self) -> int:
        """Output samples so far."""
        return self._merger.samples_out

    @property
    def extra(self) -> dict[str, Any]:
        """Vendor values decoded on the way (e.g. ``battery_pct``), a copy."""
        return dict(self._extra)

    def result(self, batch: SampleBatch) -> VendorDecodedStream:
        """Wrap ``batch`` with the decoder's running totals and labels."""
        return VendorDecodedStream(
            batch=batch,
            packets_ok=self._packets_ok,
            malformed_packets=self._malformed_packets,
            samples_lost=self.samples_lost,
            counter_resets=self.counter_resets,
            malformed_reasons=dict(self._malformed_reasons),
            loss_accounting=self._loss_accounting,
            timing_source=self._timing_source,
            vendor=self.vendor,
        )


def finish(decoder: VendorDecoder, packets: Sequence[RawPacket]) -> VendorDecodedStream:
    """Decode a whole recording with ``decoder`` (process everything, then flush)."""
    first = decoder.process(packets)
    last = decoder.flush()
    batch = SampleBatch.concat([first, last]) if len(last) else first
    return decoder.result(batch)
