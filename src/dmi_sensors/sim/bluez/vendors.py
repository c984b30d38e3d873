"""Third-party IMUs as peripherals of the emulated BlueZ: MetaMotion, Movella DOT, Polar, WitMotion.

Each class puts one vendor's GATT layout, setup exchange and byte format (the encoders of
:mod:`dmi_sensors.vendors`) over the same simulated body as our own virtual sensors
(:func:`dmi_sensors.sim.simulate` with simulated sensor ``i``'s hardware errors,
:func:`dmi_sensors.sim.calibration.simulated_imu_errors`), and hands the emulator the one
packet scheduler (:meth:`VendorPeripheral.link_scheduler`, a
:class:`~dmi_sensors.sim.link.LinkScheduler` with the sensor's link, losses and seed), so a
vendor sensor reaches bleak on the same rule as a DMI sensor.

================  =======================================================================
``metamotion``    MetaMotion RL (BMI160, Device Information model "5"): service 326A9000,
                  commands on 9001 (accelerometer/gyroscope config, subscribe, enable,
                  power; module info and battery reads answered on 9006), one notification
                  per accelerometer sample and one per gyroscope sample on 9006
``dot``           Movella DOT v2: device info 0x1001 (34 bytes, serial), device control
                  0x1002 (output rate at bytes 24-25), measurement control 0x2001
                  (``01 01 <mode>`` start), payload mode 21 on 0x2003 with a free-running
                  µs clock (wraps at 2**32), battery 0x3001
``polar``         Polar Verity Sense (ACC + GYRO) or H10 (ACC): PMD control point 5C81
                  (read: features; write: settings/start/stop, answered by indications),
                  frames on 5C82 with the u64 ns time of their last sample (Verity: ACC
                  delta frames 0x81 in mG, GYRO delta frames 0x80 with a FACTOR; H10: raw
                  int16 ACC 0x01)
``witmotion``     WT901BLECL: service FFE5, ``55 61`` frames on FFE4 from the connection on
                  (no start command), rate register 0x03 written on FFE9 within 10 s of an
                  unlock and kept by a save; register reads answered with ``55 71``
================  =======================================================================

Sample ``k`` of a stream started at ``t0`` is taken at ``t0 + k / rate`` (true time) and
plays simulated sample ``k mod N`` of a 60 s segment (looped). Device clocks run at the
unit's ``clock_drift_ppm``. On link loss the sensor keeps sampling (what it produces while
the link is down is lost, counted by the emulator's truth); a DOT or Polar sensor found
streaming after a reconnection is stopped and started again by the host.
"""

from __future__ import annotations

import dataclasses
import math
import random
import struct
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.bluez.model import (
    BATTERY_LEVEL_UUID,
    DIS_FIRMWARE_REVISION_UUID,
    DIS_HARDWARE_REVISION_UUID,
    DIS_MANUFACTURER_NAME_UUID,
    DIS_MODEL_NUMBER_UUID,
    DIS_SERIAL_NUMBER_UUID,
    Advertisement,
    CharacteristicSpec,
    GattError,
    Notification,
    ServiceSpec,
    battery_service,
    device_information_service,
)
from dmi_sensors.sim.calibration import simulated_imu_errors
from dmi_sensors.sim.identity import sensor_address, simulated_serial
from dmi_sensors.sim.imu import ImuErrors, PacketLoss
from dmi_sensors.sim.link import LinkModel, LinkScheduler
from dmi_sensors.sim.segments import Segment
from dmi_sensors.sim.simulate import SimResult, simulate
from dmi_sensors.vendors import dot, metamotion, polar, witmotion

__all__ = [
    "VENDOR_PERIPHERALS",
    "DotPeripheral",
    "MetaMotionPeripheral",
    "PolarPeripheral",
    "VendorPeripheral",
    "WitMotionPeripheral",
    "vendor_sensors",
]

G0_MPS2 = 9.80665
_DEG = 180.0 / math.pi
_NOT_PERMITTED = "org.bluez.Error.NotPermitted"


@dataclasses.dataclass
class _Stream:
    """One sampled stream: started at ``start_s`` (true time), ``per_note`` samples per
    notification, the next sample index to send, and how to make a notification."""

    char_uuid: str
    rate_hz: float
    start_s: float
    per_note: int
    make: Callable[[int, int], bytes]  # (first sample index, count) -> notification bytes
    next_k: int = 0

    def due_s(self) -> float:
        return self.start_s + (self.next_k + self.per_note - 1) / self.rate_hz


class VendorPeripheral:
    """Common machinery of the vendor peripherals (simulated body, clock, streams, battery).

    Parameters
    ----------
    index
        Simulated sensor number (:mod:`dmi_sensors.sim.identity`): address, serial and the
        unit's hardware errors.
    seed
        Seed of the simulated motion and of the link's draws.
    link
        The radio link (:class:`~dmi_sensors.sim.link.LinkModel`, default ``LinkModel()``).
    packet_loss
        Air losses (:class:`~dmi_sensors.sim.imu.PacketLoss` keyword arguments), default none.
    imu_errors
        Replaces the unit's own hardware errors.
    segments
        What the child does (default 60 s of quiet standing, looped).
    """

    vendor: ClassVar[str] = ""
    #: the rate a host gets when it writes none, Hz
    default_rate_hz: ClassVar[float] = 100.0
    #: the rate a host usually sets (its motion is simulated at construction), Hz
    research_rate_hz: ClassVar[float] = 100.0

    def __init__(
        self,
        index: int = 0,
        *,
        seed: int = 0,
        link: LinkModel | None = None,
        packet_loss: dict[str, float] | None = None,
        imu_errors: ImuErrors | None = None,
        segments: tuple[Segment, ...] | None = None,
        rssi_dbm: int = -55,
        battery_pct: int = 87,
    ) -> None:
        self.index = int(index)
        self.address = sensor_address(self.index).upper()
        self.serial = simulated_serial(self.index)
        errors = imu_errors if imu_errors is not None else simulated_imu_errors(self.index)
        if packet_loss:
            errors = dataclasses.replace(errors, packet_loss=PacketLoss(**packet_loss))
        self.imu_errors = errors
        self.seed = int(seed)
        self.link = link if link is not None else LinkModel()
        self.rssi_dbm = int(rssi_dbm)
        self.battery_pct = int(battery_pct)
        self._segments = tuple(segments) if segments is not None else (Segment("standing", 60.0),)
        self._cache: dict[float, SimResult] = {}
        self.streams: dict[str, _Stream] = {}
        self.connected_now = False
        self.samples_sent = 0
        # simulate the motion now, not when streaming starts (the emulator would stall)
        for rate in {self.default_rate_hz, self.research_rate_hz}:
            self.readings(rate)

    # -- physics, clock, link ---------------------------------------------------------
    def readings(self, rate_hz: float) -> SimResult:
        """The simulated sensor-frame readings at ``rate_hz`` (computed once per rate)."""
        key = float(rate_hz)
        if key not in self._cache:
            self._cache[key] = simulate(self._segments, fs_hz=key, seed=self.seed, imu_errors=self.imu_errors)
        return self._cache[key]

    def sample(self, rate_hz: float, t0_s: float, k0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Accelerometer (m/s²) and gyroscope (rad/s) of samples ``k0 .. k0 + n`` of a stream
        whose sample 0 is taken at ``t0_s`` (on the grid, :meth:`grid_s`): the body moves on
        whether the sensor streams or not, so sample ``k`` plays simulated sample
        ``round(t0_s × rate) + k`` (looped)."""
        sim = self.readings(rate_hz)
        base = round(t0_s * rate_hz)
        idx = np.arange(base + k0, base + k0 + n) % len(sim)
        return sim.acc_mps2[idx], sim.gyr_rps[idx]

    @staticmethod
    def grid_s(now_s: float, rate_hz: float) -> float:
        """The first instant at or after ``now_s`` of the sensor's free-running sample clock."""
        return math.ceil(now_s * rate_hz - 1e-9) / rate_hz

    def device_clock_s(self, t_s: float) -> float:
        """The device clock at true time ``t_s`` (runs at the unit's clock drift)."""
        return t_s * self.imu_errors.clock_scale

    def link_scheduler(self) -> LinkScheduler[Any]:
        """The sensor's radio link: the one packet scheduler with its model, losses and seed."""
        return LinkScheduler(self.link, self.imu_errors.packet_loss, self.seed)

    # -- streams ----------------------------------------------------------------------
    def start_stream(self, name: str, stream: _Stream) -> None:
        self.readings(stream.rate_hz)
        self.streams[name] = stream

    def flush_stream(self, name: str, now_s: float) -> list[Notification]:
        """Stop stream ``name``; the samples taken since its last notification go out now
        (a partial notification), as when a device empties its buffer on a stop."""
        stream = self.streams.pop(name, None)
        if stream is None:
            return []
        n = math.floor((now_s - stream.start_s) * stream.rate_hz + 1e-9) + 1 - stream.next_k
        if n <= 0:
            return []
        k0 = stream.next_k
        stream.next_k += n
        self.samples_sent += n
        return [Notification(stream.char_uuid, stream.make(k0, n), n, now_s)]

    def next_ready_s(self) -> float | None:
        due = [s.due_s() for s in self.streams.values()]
        return min(due) if due else None

    def poll(self, now_s: float) -> list[Notification]:
        made: list[tuple[float, int, Notification]] = []
        for order, stream in enumerate(self.streams.values()):
            while stream.due_s() <= now_s + 1e-9:
                k0, n = stream.next_k, stream.per_note
                done = stream.due_s()
                made.append((done, order, Notification(stream.char_uuid, stream.make(k0, n), n, done)))
                stream.next_k += n
                self.samples_sent += n
        made.sort(key=lambda m: (m[0], m[1]))
        return [m[2] for m in made]

    def connected(self, now_s: float) -> None:
        self.connected_now = True

    def disconnected(self, now_s: float) -> None:
        self.connected_now = False

    def corrupt(self, note: Notification, rng: random.Random) -> bytes:
        """Truncate by 1-5 bytes (a length no decoder accepts)."""
        return note.data[: max(0, len(note.data) - rng.randint(1, 5))]

    # -- subclasses -------------------------------------------------------------------
    def advertisement(self) -> Advertisement:
        raise NotImplementedError

    def services(self) -> list[ServiceSpec]:
        raise NotImplementedError

    def read(self, char_uuid: str, now_s: float) -> bytes:
        raise GattError(_NOT_PERMITTED, f"read not permitted on {char_uuid}")

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        raise GattError(_NOT_PERMITTED, f"write not permitted on {char_uuid}")

    def _dis(self, manufacturer: str, model: str, firmware: str) -> dict[str, bytes]:
        return {
            DIS_MANUFACTURER_NAME_UUID: manufacturer.encode(),
            DIS_MODEL_NUMBER_UUID: model.encode(),
            DIS_SERIAL_NUMBER_UUID: f"{self.serial:08X}".encode(),
            DIS_FIRMWARE_REVISION_UUID: firmware.encode(),
            DIS_HARDWARE_REVISION_UUID: b"1",
        }


# -- MetaMotion ---------------------------------------------------------------------------
#: Module info replies of a MetaMotion R (MetaWear-SDK-Cpp test/common.py, research notes §1.4).
_METAWEAR_MODULES = {
    0x03: bytes([0x03, 0x80, 0x01, 0x01]),
    0x13: bytes([0x13, 0x80, 0x00, 0x01]),
    0x11: bytes([0x11, 0x80, 0x00, 0x03]),
    0x09: bytes([0x09, 0x80, 0x00, 0x00, 0x1C]),
}
_ACC_ODR_HZ = (0.78125, 1.5625, 3.125, 6.25, 12.5, 25, 50, 100, 200, 400, 800, 1600)
_ACC_RANGE_G = {0x03: 2, 0x05: 4, 0x08: 8, 0x0C: 16}
_GYR_ODR_HZ = {6: 25, 7: 50, 8: 100, 9: 200, 10: 400, 11: 800, 12: 1600, 13: 3200}
_GYR_RANGE_DPS = {0: 2000, 1: 1000, 2: 500, 3: 250, 4: 125}


class MetaMotionPeripheral(VendorPeripheral):
    """A MetaMotion RL (BMI160) speaking the MetaWear protocol (see the module docstring).

    Board defaults (no config written): 100 Hz, accelerometer ±2 g, gyroscope ±2000 °/s.
    A signal streams once it is subscribed, its data interrupt enabled and powered on.
    Without a ``link`` the connection interval is 7.5 ms, what MbientLab's streaming example
    asks for (``11 09 …``, the setup exchange sends it too).
    """

    vendor = "metamotion"
    default_rate_hz = 100.0
    chip = "bmi160"

    def __init__(self, index: int = 0, **kwargs: Any) -> None:
        if kwargs.get("link") is None:
            kwargs["link"] = LinkModel(connection_interval_s=0.0075)
        super().__init__(index, **kwargs)
        self.acc_rate_hz, self.acc_range_g = 100.0, 2
        self.gyr_rate_hz, self.gyr_range_dps = 100.0, 2000
        self._subscribed = {False: False, True: False}
        self._enabled = {False: False, True: False}

    def advertisement(self) -> Advertisement:
        return Advertisement("MetaWear", (metamotion.SERVICE_UUID,), {}, self.rssi_dbm)

    def services(self) -> list[ServiceSpec]:
        mw = ServiceSpec(
            metamotion.SERVICE_UUID,
            (
                CharacteristicSpec(metamotion.COMMAND_CHAR_UUID, ("write", "write-without-response")),
                CharacteristicSpec(metamotion.NOTIFY_CHAR_UUID, ("notify",)),
            ),
        )
        return [battery_service(), device_information_service(), mw]

    def read(self, char_uuid: str, now_s: float) -> bytes:
        if char_uuid == BATTERY_LEVEL_UUID:
            return bytes([self.battery_pct])
        dis = self._dis("MbientLab Inc", "5", "1.7.3")
        if char_uuid in dis:
            return dis[char_uuid]
        return super().read(char_uuid, now_s)

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        if char_uuid != metamotion.COMMAND_CHAR_UUID:
            return super().write(char_uuid, data, now_s)
        out = self.poll(now_s)  # what was due goes out first
        note = lambda payload: Notification(metamotion.NOTIFY_CHAR_UUID, payload)  # noqa: E731
        if len(data) < 2:
            return out
        module, register = data[0], data[1]
        if register == 0x80:  # module info
            out.append(note(_METAWEAR_MODULES.get(module, bytes([module, 0x80]))))
        elif module == 0x11 and register == 0x8C:
            out.append(note(metamotion.encode_battery(self.battery_pct, 3700 + 5 * self.battery_pct)))
        elif module in (0x03, 0x13):
            gyro = module == 0x13
            self._command(gyro, register, bytes(data[2:]), now_s)
        return out

    def _command(self, gyro: bool, register: int, args: bytes, now_s: float) -> None:
        data_reg = metamotion.signal_header(self.chip, gyro, False)[1]
        if register == 0x03 and len(args) == 2:
            if gyro:
                self.gyr_rate_hz = float(_GYR_ODR_HZ.get(args[0] & 0x0F, self.gyr_rate_hz))
                self.gyr_range_dps = _GYR_RANGE_DPS.get(args[1], self.gyr_range_dps)
            else:
                odr = (args[0] & 0x0F) - 1
                if 0 <= odr < len(_ACC_ODR_HZ):
                    self.acc_rate_hz = float(_ACC_ODR_HZ[odr])
                self.acc_range_g = _ACC_RANGE_G.get(args[1], self.acc_range_g)
        elif register == data_reg and len(args) == 1:
            self._subscribed[gyro] = args[0] == 1
        elif register == 0x02 and len(args) == 2:
            self._enabled[gyro] = args[0] == 1
        elif register == 0x01 and len(args) == 1:
            name = "gyr" if gyro else "acc"
            if args[0] and self._subscribed[gyro] and self._enabled[gyro]:
                rate = self.gyr_rate_hz if gyro else self.acc_rate_hz
                t0 = self.grid_s(now_s, rate)
                self.start_stream(name, _Stream(metamotion.NOTIFY_CHAR_UUID, rate, t0, 1, self._maker(gyro, t0)))
            else:
                self.streams.pop(name, None)

    def _maker(self, gyro: bool, t0: float) -> Callable[[int, int], bytes]:
        if gyro:
            rate, lsb = self.gyr_rate_hz, metamotion.GYR_LSB_PER_DPS[self.gyr_range_dps]
        else:
            rate, lsb = self.acc_rate_hz, metamotion.ACC_LSB_PER_G[self.acc_range_g]

        def make(k0: int, n: int) -> bytes:
            acc, gyr = self.sample(rate, t0, k0, n)
            values = gyr * _DEG * lsb if gyro else acc / G0_MPS2 * lsb
            counts = np.clip(np.rint(values), -32768, 32767).astype(np.int64)
            return metamotion.encode_samples(self.chip, gyro, counts)

        return make


# -- Movella DOT --------------------------------------------------------------------------
class DotPeripheral(VendorPeripheral):
    """A Movella DOT v2 (see the module docstring); default output rate 60 Hz."""

    vendor = "dot"
    default_rate_hz = 60.0
    research_rate_hz = 60.0

    def __init__(self, index: int = 0, **kwargs: Any) -> None:
        super().__init__(index, **kwargs)
        control = bytearray(32)
        tag = b"Movella DOT"
        control[7] = len(tag)
        control[8 : 8 + len(tag)] = tag
        control[24:26] = struct.pack("<H", 60)
        self.device_control = bytes(control)
        self.mode = 21
        # the µs clock starts 2**32 - 5 s before the connection: every test sees it wrap
        self.clock_origin_us = (1 << 32) - 5_000_000

    @property
    def rate_hz(self) -> int:
        return int(struct.unpack_from("<H", self.device_control, 24)[0])

    def advertisement(self) -> Advertisement:
        return Advertisement("Movella DOT", (), {dot.COMPANY_ID: bytes(6)}, self.rssi_dbm)

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                dot.CONFIGURATION_SERVICE_UUID,
                (
                    CharacteristicSpec(dot.DEVICE_INFO_CHAR_UUID, ("read",)),
                    CharacteristicSpec(dot.DEVICE_CONTROL_CHAR_UUID, ("read", "write")),
                ),
            ),
            ServiceSpec(
                dot.MEASUREMENT_SERVICE_UUID,
                (
                    CharacteristicSpec(dot.CONTROL_CHAR_UUID, ("read", "write")),
                    CharacteristicSpec(dot.LONG_PAYLOAD_CHAR_UUID, ("notify",)),
                    CharacteristicSpec(dot.MEDIUM_PAYLOAD_CHAR_UUID, ("notify",)),
                    CharacteristicSpec(dot.SHORT_PAYLOAD_CHAR_UUID, ("notify",)),
                ),
            ),
            ServiceSpec(dot.BATTERY_SERVICE_UUID, (CharacteristicSpec(dot.BATTERY_CHAR_UUID, ("read", "notify")),)),
        ]

    def device_info(self) -> bytes:
        mac = bytes(reversed(bytes.fromhex(self.address.replace(":", ""))))
        return struct.pack("<6sBBBHBBBBBIQ6s", mac, 2, 6, 0, 2024, 3, 1, 12, 0, 0, 0x0101, self.serial, b"XS-T02")

    def read(self, char_uuid: str, now_s: float) -> bytes:
        if char_uuid == dot.DEVICE_INFO_CHAR_UUID:
            return self.device_info()
        if char_uuid == dot.DEVICE_CONTROL_CHAR_UUID:
            return self.device_control
        if char_uuid == dot.CONTROL_CHAR_UUID:
            return bytes([1, 1 if self.streams else 0, self.mode])
        if char_uuid == dot.BATTERY_CHAR_UUID:
            return bytes([self.battery_pct, 0])
        return super().read(char_uuid, now_s)

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        out = self.poll(now_s)
        if char_uuid == dot.DEVICE_CONTROL_CHAR_UUID:
            if len(data) != 32:
                raise GattError("org.bluez.Error.InvalidValueLength", "device control takes 32 bytes")
            if data[0] & 0x10:
                rate = struct.unpack_from("<H", data, 24)[0]
                if self.streams or rate not in dot.RATES_HZ:
                    raise GattError("org.bluez.Error.Failed", f"output rate {rate} refused")
                control = bytearray(self.device_control)
                control[24:26] = data[24:26]
                self.device_control = bytes(control)
            return out
        if char_uuid == dot.CONTROL_CHAR_UUID:
            if len(data) != 3 or data[0] != 1 or data[2] not in dot.MODES:
                raise GattError("org.bluez.Error.Failed", f"measurement control {bytes(data).hex(' ')} refused")
            if data[1] == 1 and not self.streams:
                self.mode = data[2]
                rate = self.rate_hz
                t0 = self.grid_s(now_s, rate)
                start_us = self.clock_origin_us + math.floor(self.device_clock_s(t0) * 1e6)
                scale = self.imu_errors.clock_scale
                mode = self.mode

                def make(k0: int, n: int) -> bytes:
                    acc, gyr = self.sample(rate, t0, k0, 1)
                    stamp = start_us + math.floor(k0 * 1e6 * scale / rate)
                    return dot.encode_measurement(stamp, acc[0], gyr[0] * _DEG, payload_mode=mode)

                self.start_stream("imu", _Stream(dot.payload_char_uuid(mode), rate, t0, 1, make))
            elif data[1] == 0:
                self.streams.clear()
            return out
        return super().write(char_uuid, data, now_s)


# -- Polar --------------------------------------------------------------------------------
#: Control point features (read): byte 0 0x0F, then the measurement types offered as bits.
_POLAR_FEATURES = {"Verity Sense": bytes([0x0F, 0x6E, 0x02]), "H10": bytes([0x0F, 0x05, 0x00])}
#: 2026-01-01T00:00:00Z in ns since the PMD epoch 2000-01-01: where the simulated clocks start.
_POLAR_CLOCK0_NS = (1_767_225_600 - polar.PMD_EPOCH_UNIX_S) * 1_000_000_000
_POLAR_GYR_FACTOR = 2000.0 / 32768.0  # deg/s per count of the GYRO delta frames


class PolarPeripheral(VendorPeripheral):
    """A Polar Verity Sense (``model="Verity Sense"``) or H10 (``model="H10"``), PMD service.

    Frames hold ``rate / 5`` samples (a frame every 0.2 s; H10: 36 raw samples, what fits
    the MTU). Start requests are checked
    against the model's rates (status 8 otherwise); a second start of a running
    measurement answers status 6; GYRO on an H10 answers status 3 (not supported).
    """

    vendor = "polar"
    default_rate_hz = 52.0
    research_rate_hz = 52.0

    def __init__(self, index: int = 0, *, model: str = "Verity Sense", **kwargs: Any) -> None:
        super().__init__(index, **kwargs)
        if model not in polar.MODELS:
            raise ParameterError(f"model must be one of {sorted(polar.MODELS)}, got {model!r}")
        self.model = model
        if model == "H10":
            self.readings(200.0)  # the H10's usual ACC rate

    def advertisement(self) -> Advertisement:
        name = "Sense" if self.model == "Verity Sense" else self.model
        return Advertisement(f"Polar {name} {self.serial:08X}", (), {polar.COMPANY_ID: bytes(4)}, self.rssi_dbm)

    def services(self) -> list[ServiceSpec]:
        pmd = ServiceSpec(
            polar.PMD_SERVICE_UUID,
            (
                CharacteristicSpec(polar.CONTROL_POINT_UUID, ("read", "write", "indicate")),
                CharacteristicSpec(polar.DATA_UUID, ("notify",)),
            ),
        )
        return [battery_service(), device_information_service(), pmd]

    def read(self, char_uuid: str, now_s: float) -> bytes:
        if char_uuid == BATTERY_LEVEL_UUID:
            return bytes([self.battery_pct])
        if char_uuid == polar.CONTROL_POINT_UUID:
            return _POLAR_FEATURES[self.model]
        dis = self._dis("Polar Electro Oy", f"Polar {self.model}", "3.1.1")
        if char_uuid in dis:
            return dis[char_uuid]
        return super().read(char_uuid, now_s)

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        if char_uuid != polar.CONTROL_POINT_UUID:
            return super().write(char_uuid, data, now_s)
        out = self.poll(now_s)
        if len(data) < 2:
            return out
        op, meas = data[0], data[1]
        supported = meas == polar.ACC or (meas == polar.GYRO and polar.MODELS[self.model])
        name = {polar.ACC: "acc", polar.GYRO: "gyr"}.get(meas, "")

        def answer(status: int, params: bytes = b"") -> None:
            out.append(Notification(polar.CONTROL_POINT_UUID, bytes([0xF0, op, meas, status, 0]) + params))

        if not supported:
            answer(3)
        elif op == 0x01:  # get settings
            rates = polar.RATES_HZ[self.model]
            tlv = bytes([0, len(rates)]) + b"".join(struct.pack("<H", r) for r in rates)
            answer(0, tlv + bytes([1, 1, 16, 0, 4, 1, 3]))
        elif op == 0x02:  # start
            try:
                settings = polar.decode_settings(bytes(data[2:]))
            except Exception:
                answer(9)
                return out
            rate = int(settings.get("sample_rate", [0])[0])
            if name in self.streams:
                answer(6)
            elif rate not in polar.RATES_HZ[self.model]:
                answer(8)
            else:
                gyro = meas == polar.GYRO
                factor = _POLAR_GYR_FACTOR if gyro else 1.0
                t0 = self.grid_s(now_s, rate)
                maker = self._maker(meas, rate, t0)
                per_frame = 36 if self.model == "H10" else max(1, rate // 5)  # raw int16 frames: 36 fit the MTU
                self.start_stream(name, _Stream(polar.DATA_UUID, rate, t0, per_frame, maker))
                answer(0, bytes([5, 1]) + struct.pack("<f", factor) if gyro else b"")
        elif op == 0x03:  # stop: the frame in progress goes out first (assumed; not documented)
            out += self.flush_stream(name, now_s)
            answer(0)
        else:
            answer(1)
        return out

    def _maker(self, meas: int, rate: int, start_s: float) -> Callable[[int, int], bytes]:
        scale = self.imu_errors.clock_scale
        start_ns = _POLAR_CLOCK0_NS + math.floor(self.device_clock_s(start_s) * 1e9)
        h10 = self.model == "H10"

        def make(k0: int, n: int) -> bytes:
            acc, gyr = self.sample(rate, start_s, k0, n)
            last_ns = start_ns + math.floor((k0 + n - 1) * 1e9 * scale / rate)
            if meas == polar.GYRO:
                counts = np.rint(gyr * _DEG / _POLAR_GYR_FACTOR).astype(np.int64)
                return polar.encode_frame(polar.GYRO, last_ns, 0x80, counts)
            mg = np.rint(acc / G0_MPS2 * 1000.0).astype(np.int64)
            return polar.encode_frame(polar.ACC, last_ns, 0x01 if h10 else 0x81, mg)

        return make


# -- WitMotion ----------------------------------------------------------------------------
_WIT_RATE_HZ = {code: rate for rate, code in witmotion.RATE_CODES.items()}


class WitMotionPeripheral(VendorPeripheral):
    """A WT901BLECL (see the module docstring); 10 Hz until another rate is saved."""

    vendor = "witmotion"
    default_rate_hz = 10.0

    def __init__(self, index: int = 0, **kwargs: Any) -> None:
        super().__init__(index, **kwargs)
        self.rate_hz = 10.0
        self._pending_rate_hz: float | None = None
        self._unlocked_until_s = -1.0

    def advertisement(self) -> Advertisement:
        return Advertisement(f"WT901BLE{self.serial & 0xFF:02X}", (), {}, self.rssi_dbm)

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                witmotion.SERVICE_UUID,
                (
                    CharacteristicSpec(witmotion.NOTIFY_CHAR_UUID, ("notify",)),
                    CharacteristicSpec(witmotion.WRITE_CHAR_UUID, ("write", "write-without-response")),
                ),
            )
        ]

    def connected(self, now_s: float) -> None:
        super().connected(now_s)
        self._stream(now_s)

    def disconnected(self, now_s: float) -> None:
        super().disconnected(now_s)

    def _stream(self, now_s: float) -> None:
        rate = self.rate_hz
        t0 = self.grid_s(now_s, rate)

        def make(k0: int, n: int) -> bytes:
            acc, gyr = self.sample(rate, t0, k0, 1)
            return witmotion.encode_imu_frame(acc[0], gyr[0])

        self.start_stream("imu", _Stream(witmotion.NOTIFY_CHAR_UUID, rate, t0, 1, make))

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        if char_uuid != witmotion.WRITE_CHAR_UUID:
            return super().write(char_uuid, data, now_s)
        out = self.poll(now_s)
        if len(data) != 5 or data[0] != 0xFF or data[1] != 0xAA:
            return out
        register, value = data[2], struct.unpack_from("<H", data, 3)[0]
        if register == 0x69 and value == 0xB588:
            self._unlocked_until_s = now_s + 10.0
        elif register == 0x27:  # read
            values = [round(3.70 * 100 + self.battery_pct)] if value == 0x64 else []
            out.append(Notification(witmotion.NOTIFY_CHAR_UUID, witmotion.encode_register_reply(value, values)))
        elif now_s <= self._unlocked_until_s:
            if register == 0x03 and value in _WIT_RATE_HZ:
                self._pending_rate_hz = _WIT_RATE_HZ[value]
            elif register == 0x00 and value == 0 and self._pending_rate_hz is not None:
                if self._pending_rate_hz != self.rate_hz:
                    self.rate_hz = self._pending_rate_hz
                    self._stream(now_s)  # the new rate from now on
                self._pending_rate_hz = None
        return out


#: vendor name -> peripheral class
VENDOR_PERIPHERALS: dict[str, type[VendorPeripheral]] = {
    "metamotion": MetaMotionPeripheral,
    "dot": DotPeripheral,
    "polar": PolarPeripheral,
    "witmotion": WitMotionPeripheral,
}


def vendor_sensors(
    vendors: list[str],
    seed: int = 0,
    first_index: int = 0,
    link: dict[str, Any] | None = None,
    packet_loss: dict[str, float] | None = None,
    **kwargs: Any,
) -> list[VendorPeripheral]:
    """A device factory of the emulator: sensor ``i`` is a peripheral of ``vendors[i]``
    (simulated sensor ``first_index + i``, seed ``seed + i``), e.g. ``["dot", "polar"]``.

    JSON-able like :func:`dmi_sensors.sim.bluez.sensor.virtual_sensors`: ``link`` are
    :class:`~dmi_sensors.sim.link.LinkModel` keyword arguments, ``packet_loss`` of
    :class:`~dmi_sensors.sim.imu.PacketLoss`; ``kwargs`` go to every peripheral (e.g.
    ``model="H10"`` for the Polar ones)."""
    model = LinkModel(**link) if link else None
    out: list[VendorPeripheral] = []
    for i, name in enumerate(vendors):
        try:
            cls = VENDOR_PERIPHERALS[name]
        except KeyError:
            raise ParameterError(f"vendor must be one of {', '.join(VENDOR_PERIPHERALS)}, got {name!r}") from None
        extra = {k: v for k, v in kwargs.items() if k != "model" or cls is PolarPeripheral}
        out.append(
            cls(
                first_index + i,
                seed=seed + i,
                link=model,
                packet_loss=packet_loss,
                rssi_dbm=-50 - 3 * i,
                **extra,
            )
        )
    return out
