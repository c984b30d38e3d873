"""A virtual sensor: the protocol-v1 firmware state machine over simulated physics.

:class:`VirtualSensor` behaves like the firmware in ``firmware_protocol/SPEC.md``: control
commands in (:meth:`~VirtualSensor.handle_control`), responses and data/status packets out,
counters that restart at every START_STREAMING, a free-running drifting 1 MHz device clock,
battery drain, device information. The emulated BlueZ wraps it
(:mod:`dmi_sensors.sim.bluez.sensor`), :class:`dmi_sensors.sim.stream.SensorLink` carries it
in process; tests and notebooks can drive it directly.

Time
----
The sensor lives on one timeline, ``t`` = true seconds since it was switched on (created).
Callers pass that time in: ``handle_control(data, now_s=t)`` and ``sent_until(t)``
(when streaming is started at ``t = 0``, ``t`` is simply the time since streaming started).
Omitting ``now_s`` uses the latest time seen. Sample ``k`` of a stream started at ``t0`` is
taken at ``t0 + k / fs_hz``; a packet is due once its last sample has been taken. The
device clock reads ``boot_time_us + floor(t 1e6 clock_scale)`` (``clock_scale`` from
``ImuErrors.clock_drift_ppm``); the timestamp of sample ``k`` is ``clock(t0) + floor(k 1e6
clock_scale / fs_hz)``, as :func:`dmi_sensors.protocol.packetize` computes it.

Motion
------
The motion is **precomputed** per sample rate with :func:`~dmi_sensors.sim.simulate` (a 60
s segment at 200 Hz takes well under a second) and cached; a stream longer than the
segments loops over them (sample ``k`` uses simulated sample ``k mod N``; counters keep
counting). Readings are kept as floats in the sensor frame and quantised with the ranges
in force when a packet is made, so SET_RANGES takes effect on the next stream.

Packets are made one at a time with ``packetize`` so that any chunking of
``packets_until`` calls yields the same bytes as one call (and, for the first stream of a
sensor with a fixed ``samples_per_packet``, as :meth:`SimResult.packets`). Each packet is
stamped with the instant the firmware finished it (:class:`SentPacket`, ``done_s``: its last
sample taken, or the STOP_STREAMING that flushed it).

The air
-------
This class is the firmware only: it never loses a packet. What happens on the air (which
connection event carries a packet, losses from ``ImuErrors.packet_loss``, host arrival) is
the one link scheduler's job, :class:`dmi_sensors.sim.link.LinkScheduler`; the sensor
carries its link's parameters (``link``, ``link_seed``) and :meth:`VirtualSensor.link_scheduler`
builds the scheduler every carrier uses: :class:`dmi_sensors.sim.stream.SensorLink` in
process, the emulated BlueZ over D-Bus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dmi_sensors import protocol
from dmi_sensors.errors import ParameterError
from dmi_sensors.protocol import DataFlags, DataFormat, DeviceState, Result, StatusErrors
from dmi_sensors.sim.body import BodyParams
from dmi_sensors.sim.imu import ImuErrors, counts_from_si
from dmi_sensors.sim.link import LinkModel, LinkScheduler
from dmi_sensors.sim.segments import Segment
from dmi_sensors.sim.simulate import SimResult, simulate

__all__ = ["Readings", "SentPacket", "VirtualSensor"]

#: battery drain, percent per second
DRAIN_STREAMING_PCT_S = 1.0 / 120.0
DRAIN_IDLE_PCT_S = 1.0 / 1800.0
TIME_SYNC_PROCESSING_US = 150


class Readings(Protocol):
    """Sensor-frame readings by sample index, what a :class:`VirtualSensor` plays
    (a :class:`~dmi_sensors.sim.simulate.SimResult` is one)."""

    acc_mps2: np.ndarray
    gyr_rps: np.ndarray

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SentPacket:
    """A data packet as the firmware sent it: ``done_s`` (true time the firmware finished
    it), the bytes, its first counter (sample index since START_STREAMING) and sample count."""

    done_s: float
    data: bytes
    counter: int
    n_samples: int


class VirtualSensor:
    """Firmware-like virtual sensor.

    Parameters
    ----------
    serial
        32-bit serial number (int) or its name form ``"DMI-00A1B2C3"`` / hex string.
    source
        What the child does: a list of :class:`~dmi_sensors.sim.segments.Segment` or a
        :class:`~dmi_sensors.sim.simulate.SimResult` (its segments, seed, body, sensor height
        and errors are reused; at its own rate it is used as is). Default: 60 s quiet standing.
    fs_hz
        Initial sample rate (a protocol rate; default 100 Hz as the firmware).
    samples_per_packet
        Used when START_STREAMING asks for 0 ("as many as fit"); ``None``: what the MTU allows.
    seed, com_height_m, sensor_height_m, imu_errors, body
        As :func:`~dmi_sensors.sim.simulate` (ignored when ``source`` is a SimResult).
    att_mtu
        Negotiated ATT_MTU (247 typical; 23 means only the compact format fits).
    battery_pct, temperature_c, firmware, hardware_revision, boot_time_us
        Device state at power-on.
    link, link_seed
        The radio link to the host (:class:`~dmi_sensors.sim.link.LinkModel`, default
        ``LinkModel()``) and the seed of its draws (default: the simulation seed, as
        :meth:`SimResult.packets` uses); see :meth:`link_scheduler`.
    """

    def __init__(
        self,
        serial: int | str = 0x00A1B2C3,
        source: Sequence[Segment] | SimResult | None = None,
        *,
        fs_hz: int = 100,
        samples_per_packet: int | None = None,
        seed: int = 0,
        com_height_m: float = 0.91,
        sensor_height_m: float | None = None,
        imu_errors: ImuErrors | None = None,
        body: BodyParams | None = None,
        att_mtu: int = 247,
        battery_pct: float = 96.0,
        temperature_c: float = 31.5,
        firmware: tuple[int, int, int] = (1, 0, 0),
        hardware_revision: int = 1,
        boot_time_us: int = 0,
        link: LinkModel | None = None,
        link_seed: int | None = None,
    ) -> None:
        self.serial = protocol.parse_serial(serial) if isinstance(serial, str) else int(serial)
        self._cache: dict[float, SimResult] = {}
        self._sensor_height_m: float | None
        if isinstance(source, SimResult):
            self._segments = source.segments
            self._seed = source.seed
            self._body = source.body
            self._sensor_height_m = source.sensor_height_m
            self.imu_errors = source.imu_errors
            self._cache[source.fs_hz] = source
        else:
            self._segments = tuple(source) if source is not None else (Segment("standing", 60.0),)
            self._seed = int(seed)
            self._body = body if body is not None else BodyParams(com_height_m=com_height_m)
            self._sensor_height_m = sensor_height_m
            self.imu_errors = imu_errors if imu_errors is not None else ImuErrors()
        protocol.rate_code(fs_hz)
        self.fs_hz = int(fs_hz)
        self.acc_range_g = int(self.imu_errors.acc_range_g)
        self.gyr_range_dps = int(self.imu_errors.gyr_range_dps)
        self.default_samples_per_packet = samples_per_packet
        self.att_mtu = int(att_mtu)
        self.firmware: tuple[int, int, int] = (int(firmware[0]), int(firmware[1]), int(firmware[2]))
        self.hardware_revision = int(hardware_revision)
        self.temperature_c = float(temperature_c)
        self.boot_time_us = int(boot_time_us)
        self._battery_at_now = float(battery_pct)
        self.now_s = 0.0
        # streaming state
        self.streaming = False
        self.format = DataFormat.FULL
        self.samples_per_packet = 0
        self.stream_start_s = 0.0
        self._stream_ts0_us = 0
        self._next_sample = 0  # next sample index (since START_STREAMING) to put into a packet
        self._pending: list[SentPacket] = []
        self.identify_until_s = -1.0
        self.time_synced = False
        # the radio link
        self.link = link if link is not None else LinkModel()
        self.link_seed = self._seed if link_seed is None else int(link_seed)
        # truth
        self.samples_sent = 0
        self.packets_sent = 0

    @property
    def seed(self) -> int:
        """Seed of the simulated motion and IMU errors."""
        return self._seed

    def link_scheduler(self) -> LinkScheduler[Any]:
        """A fresh scheduler of this sensor's radio link (its ``link``, ``link_seed`` and
        ``imu_errors.packet_loss``): whatever carries the sensor's packets to a host uses it."""
        return LinkScheduler(self.link, self.imu_errors.packet_loss, self.link_seed)

    # --- identity --------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Advertised local name, ``DMI-%08X``."""
        return protocol.device_name(self.serial)

    @property
    def manufacturer_data(self) -> dict[int, bytes]:
        """Advertising manufacturer data ``{COMPANY_ID: payload}``."""
        return {protocol.COMPANY_ID: protocol.encode_manufacturer_data(self.serial, protocol.PROTOCOL_VERSION)}

    @property
    def device_information(self) -> dict[str, str]:
        """Device Information service strings by characteristic UUID."""
        return {
            protocol.MANUFACTURER_NAME_CHAR_UUID: "dmi-sensors",
            protocol.MODEL_NUMBER_CHAR_UUID: "DMI-IMU virtual",
            protocol.SERIAL_NUMBER_CHAR_UUID: protocol.format_serial(self.serial),
            protocol.HARDWARE_REVISION_CHAR_UUID: str(self.hardware_revision),
            protocol.FIRMWARE_REVISION_CHAR_UUID: ".".join(str(v) for v in self.firmware),
        }

    # --- clock, battery --------------------------------------------------------------
    def _advance(self, now_s: float | None) -> float:
        if now_s is None:
            return self.now_s
        now = float(now_s)
        if not math.isfinite(now):
            raise ParameterError(f"time must be finite, got {now_s}")
        if now > self.now_s:
            rate = DRAIN_STREAMING_PCT_S if self.streaming else DRAIN_IDLE_PCT_S
            self._battery_at_now = max(0.0, self._battery_at_now - rate * (now - self.now_s))
            self.now_s = now
        return self.now_s

    def device_clock_us(self, t_s: float | None = None) -> int:
        """Device clock (µs, not wrapped) at true time ``t_s`` (default: now)."""
        t = self.now_s if t_s is None else float(t_s)
        return self.boot_time_us + math.floor(t * 1e6 * self.imu_errors.clock_scale)

    @property
    def battery_pct(self) -> int:
        """Battery level, percent (integer, as on the Battery service)."""
        return round(self._battery_at_now)

    @property
    def identifying(self) -> bool:
        return self.now_s < self.identify_until_s

    def _state(self) -> int:
        state = 0
        if self.streaming:
            state |= DeviceState.STREAMING
        if self.identifying:
            state |= DeviceState.IDENTIFYING
        if self.format == DataFormat.COMPACT:
            state |= DeviceState.COMPACT_FORMAT
        return state

    def status_packet(self, now_s: float | None = None) -> bytes:
        """The current status packet (what a read of the Status characteristic returns)."""
        self._advance(now_s)
        errors = 0
        if self.battery_pct < 15:
            errors |= StatusErrors.LOW_BATTERY
        if not self.time_synced:
            errors |= StatusErrors.CLOCK_NOT_SYNCED
        return protocol.encode_status(
            self.battery_pct, self.temperature_c, int(errors), self._state(), self.device_clock_us() % (1 << 32), 0
        )

    # --- simulation ------------------------------------------------------------------
    def _sim(self) -> SimResult:
        fs = float(self.fs_hz)
        if fs not in self._cache:
            self._cache[fs] = simulate(
                self._segments,
                fs_hz=fs,
                seed=self._seed,
                sensor_height_m=self._sensor_height_m,
                imu_errors=self.imu_errors,
                body=self._body,
            )
        return self._cache[fs]

    @property
    def result(self) -> SimResult:
        """The simulation (with ground truth) behind the current sample rate."""
        return self._sim()

    def _readings(self) -> Readings:
        """What the sensor plays at the current rate (subclasses may play something else)."""
        return self._sim()

    def prepare(self) -> None:
        """Compute the readings of the current rate now (not when streaming starts)."""
        self._readings()

    # --- control -----------------------------------------------------------------------
    def handle_control(self, data: bytes, now_s: float | None = None) -> list[bytes]:
        """Handle one write to the Control characteristic; returns the notifications to send
        on the Status characteristic (one response; a STOP also flushes a partial data packet,
        returned by the next :meth:`packets_until`)."""
        now = self._advance(now_s)
        try:
            cmd = protocol.decode_command(data)
        except protocol.ProtocolError as exc:
            result = exc.result if exc.result is not None else Result.INVALID_LENGTH
            return [self._response(exc.opcode or 0, exc.seq or 0, result)]
        op, seq = int(cmd.opcode), cmd.seq
        if isinstance(cmd, protocol.StartStreaming):
            if self.streaming:
                return [self._response(op, seq, Result.INVALID_STATE)]
            if cmd.format == DataFormat.FULL:
                fit = protocol.samples_per_notification(self.att_mtu)
                if fit < 1:
                    return [self._response(op, seq, Result.INVALID_STATE)]
                wanted = cmd.samples_per_packet or self.default_samples_per_packet or fit
                spp = min(int(wanted), fit)
            else:
                spp = 1
            self._start(now, DataFormat(cmd.format), spp)
            body = protocol.StreamingStarted(int(cmd.format), spp, self.fs_hz)
            return [self._response(op, seq, Result.OK, body)]
        if isinstance(cmd, protocol.StopStreaming):
            if self.streaming:
                self._pending.extend(self._make_packets(now, flush=True))
                self.streaming = False
            return [self._response(op, seq, Result.OK)]
        if isinstance(cmd, protocol.SetRate):
            if self.streaming:
                return [self._response(op, seq, Result.INVALID_STATE)]
            self.fs_hz = int(cmd.fs_hz)
            return [self._response(op, seq, Result.OK)]
        if isinstance(cmd, protocol.SetRanges):
            if self.streaming:
                return [self._response(op, seq, Result.INVALID_STATE)]
            self.acc_range_g, self.gyr_range_dps = int(cmd.acc_range_g), int(cmd.gyr_range_dps)
            return [self._response(op, seq, Result.OK)]
        if isinstance(cmd, protocol.Identify):
            self.identify_until_s = now + cmd.duration_s if cmd.duration_s else -1.0
            return [self._response(op, seq, Result.OK)]
        if isinstance(cmd, protocol.GetInfo):
            info = protocol.DeviceInfo(
                self.serial,
                self.firmware,
                self.hardware_revision,
                self.fs_hz,
                self.acc_range_g,
                self.gyr_range_dps,
                self._state(),
            )
            return [self._response(op, seq, Result.OK, info)]
        # TimeSync
        rx = self.device_clock_us()
        self.time_synced = True
        reply = protocol.TimeSyncReply(cmd.host_time_us, rx % (1 << 32), (rx + TIME_SYNC_PROCESSING_US) % (1 << 32))
        return [self._response(op, seq, Result.OK, reply)]

    @staticmethod
    def _response(opcode: int, seq: int, result: int, body: Any = None) -> bytes:
        return protocol.encode_response(protocol.Response(opcode, seq, result, body))

    def _start(self, now: float, fmt: DataFormat, spp: int) -> None:
        self._readings()  # simulate now, not inside the first packets_until
        self.streaming = True
        self.format = fmt
        self.samples_per_packet = spp
        self.stream_start_s = now
        self._stream_ts0_us = self.device_clock_us(now)
        self._next_sample = 0

    # --- data --------------------------------------------------------------------------
    def samples_due(self, now_s: float | None = None) -> int:
        """Samples taken since START_STREAMING by ``now_s`` (0 when not streaming)."""
        t = self.now_s if now_s is None else float(now_s)
        if not self.streaming or t < self.stream_start_s:
            return 0
        return math.floor((t - self.stream_start_s) * self.fs_hz + 1e-9) + 1

    def next_packet_due_s(self) -> float | None:
        """True time at which the next data packet is due (``None`` when not streaming)."""
        if not self.streaming:
            return None
        last = self._next_sample + self.samples_per_packet - 1
        return self.stream_start_s + last / self.fs_hz

    def sent_until(self, device_time_s: float) -> list[SentPacket]:
        """Data packets the firmware sent by ``device_time_s`` (the sensor's timeline, see the
        module docstring) that were not returned before, with the instant each was done."""
        now = self._advance(device_time_s)
        out, self._pending = self._pending, []
        if self.streaming:
            out.extend(self._make_packets(now, flush=False))
        return out

    def packets_until(self, device_time_s: float) -> list[bytes]:
        """The bytes of :meth:`sent_until` (what the firmware put on the air; the link decides
        what reaches the host, and when)."""
        return [p.data for p in self.sent_until(device_time_s)]

    def _make_packets(self, now: float, flush: bool) -> list[SentPacket]:
        sim = self._readings()
        n_sim = len(sim)
        due = self.samples_due(now)
        spp = self.samples_per_packet
        period_us = 1e6 * self.imu_errors.clock_scale / self.fs_hz
        acc_lsb = protocol.acc_scale_mps2(self.acc_range_g)
        gyr_lsb = protocol.gyr_scale_rps(self.gyr_range_dps)
        compact = self.format == DataFormat.COMPACT
        out = []
        while True:
            k0 = self._next_sample
            n = min(spp, due - k0)
            if n <= 0 or (n < spp and not flush):
                break
            idx = np.arange(k0, k0 + n) % n_sim
            acc = counts_from_si(sim.acc_mps2[idx], acc_lsb)
            gyr = counts_from_si(sim.gyr_rps[idx], gyr_lsb)
            flags = 0
            if self.time_synced:
                flags |= DataFlags.TIME_SYNCED
            if self.battery_pct < 15:
                flags |= DataFlags.LOW_BATTERY
            if np.any(np.abs(acc.astype(np.int32)) >= 32767) or np.any(np.abs(gyr.astype(np.int32)) >= 32767):
                flags |= DataFlags.CLIPPED
            ts = self._stream_ts0_us + math.floor(k0 * period_us)
            (packet,) = protocol.packetize(
                acc,
                gyr,
                k0,
                ts,
                self.fs_hz,
                self.acc_range_g,
                self.gyr_range_dps,
                n,
                self.imu_errors.clock_scale,
                flags=0 if compact else int(flags),
                compact=compact,
            )
            done_s = now if n < spp else self.stream_start_s + (k0 + n - 1) / self.fs_hz
            self._next_sample = k0 + n
            self.samples_sent += n
            self.packets_sent += 1
            out.append(SentPacket(done_s, packet, k0, n))
        return out
