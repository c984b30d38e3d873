"""MbientLab MetaMotion (MetaWear protocol): command and data bytes, decoder and encoder, identification.

Written from the documented protocol bytes, not from MbientLab's SDK code (the SDK
licence allows no derivative works). Sources: the MetaWear C++ SDK documentation
(``cppdocs/source/accelerometer.rst``, ``dataprocessor.rst``, ``settings.rst``) and the byte
vectors of the SDK's unit tests (``MetaWear-SDK-Cpp`` @ f67699e5 ``test/``; Android SDK @
b20fdd59 ``library/src/test``), as collected in the team's research notes.

Service ``326A9000-85CB-9195-D9DD-464CFBBAE75A``: host → board commands on ``…9001``, every
board → host message on ``…9006``. A message is ``[module][register (| 0x80 on a read
reply)][data…]``; modules: 0x03 accelerometer, 0x09 data processor, 0x11 settings, 0x13
gyroscope.

=================  ======================  ======================  ========================
signal             BMI160 (MetaMotion R/C)  BMI270 (MetaMotion S)   payload
=================  ======================  ======================  ========================
acceleration       ``03 04``               ``03 04``               x, y, z int16
acc packed         ``03 1C``               ``03 05``               3 × (x, y, z int16)
angular rate       ``13 05``               ``13 04``               x, y, z int16
gyro packed        ``13 07``               ``13 05``               3 × (x, y, z int16)
accounter output   ``09 03 <id>``          ``09 03 <id>``          u32 tick/count + source
battery (read)     ``11 8C``               ``11 8C``               charge % u8, mV u16
=================  ======================  ======================  ========================

Scales: acceleration LSB/g 16384, 8192, 4096, 2048 for ±2, 4, 8, 16 g (× g0 = 9.80665 →
m/s²); angular rate LSB per °/s 16.4, 32.8, 65.6, 131.2, 262.4 for ±2000, 1000, 500,
250, 125 °/s (× π/180 → rad/s). Packed notifications carry three samples, taken here as
oldest first (the natural FIFO order; no document says so).

Timing. Plain streaming carries **no device time** (the SDK stamps samples with the host
clock on arrival): counters and loss are **estimated** from host arrival and the nominal
rate (:class:`~dmi_sensors.vendors._timeline.HostClock`), and the accelerometer and
gyroscope streams are paired by arrival. An *accounter* data processor (type 0x11) in
front of each signal prefixes every sample with a u32: in time mode the board clock in
ticks of 48/32768 s (exact timestamps, the two streams paired on the board clock), in
count mode a sample counter (exact loss; the two streams are aligned by arrival once).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors._base import VendorDecoder
from dmi_sensors.vendors._timeline import Chunk, CounterClock, ExactClock, HostClock, Merger

__all__ = [
    "ACC_LSB_PER_G",
    "CHIPS",
    "COMMAND_CHAR_UUID",
    "GYR_LSB_PER_DPS",
    "NOTIFY_CHAR_UUID",
    "RATES_HZ",
    "SERVICE_UUID",
    "TICK_S",
    "TIMING_MODES",
    "MetaMotionDecoder",
    "acc_config_command",
    "chip_for_model",
    "encode_accounter",
    "encode_battery",
    "encode_samples",
    "gyr_config_command",
    "identify",
    "model_name",
    "signal_header",
    "start_commands",
    "stop_commands",
]

SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
COMMAND_CHAR_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
NOTIFY_CHAR_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"
#: Device Information model numbers (characteristic 0x2A24) of the MetaMotion boards.
MODEL_NUMBERS = {"5": "MetaMotion R/RL", "6": "MetaMotion C", "8": "MetaMotion S"}

ACC_MODULE = 0x03
GYR_MODULE = 0x13
PROCESSOR_MODULE = 0x09
SETTINGS_MODULE = 0x11
ACCOUNTER_OUTPUT = 0x03
#: Board clock tick of the accounter (time mode) and of logged entries, s.
TICK_S = 48.0 / 32768.0
G0_MPS2 = 9.80665

CHIPS = ("bmi160", "bmi270")
ACC_LSB_PER_G = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}
GYR_LSB_PER_DPS = {2000: 16.4, 1000: 32.8, 500: 65.6, 250: 131.2, 125: 262.4}
#: Output data rates common to both sensors of both chips, Hz.
RATES_HZ = (25, 50, 100, 200, 400, 800)
TIMING_MODES = ("host", "accounter_time", "accounter_count")

_ACC_ODR = (0.78125, 1.5625, 3.125, 6.25, 12.5, 25, 50, 100, 200, 400, 800, 1600)
_GYR_ODR = {25: 6, 50: 7, 100: 8, 200: 9, 400: 10, 800: 11, 1600: 12, 3200: 13}
_ACC_RANGE_CODE = {"bmi160": {2: 0x03, 4: 0x05, 8: 0x08, 16: 0x0C}, "bmi270": {2: 0, 4: 1, 8: 2, 16: 3}}
_GYR_RANGE_CODE = {2000: 0, 1000: 1, 500: 2, 250: 3, 125: 4}
#: (module, register) of each signal: (acc, acc packed, gyro, gyro packed)
_HEADERS = {
    "bmi160": ((ACC_MODULE, 0x04), (ACC_MODULE, 0x1C), (GYR_MODULE, 0x05), (GYR_MODULE, 0x07)),
    "bmi270": ((ACC_MODULE, 0x04), (ACC_MODULE, 0x05), (GYR_MODULE, 0x04), (GYR_MODULE, 0x05)),
}
_KNOWN_MODULES = frozenset([*range(0x01, 0x1A), 0xFE])
_XYZ = struct.Struct("<3h")


def _chip(chip: str) -> str:
    if chip not in CHIPS:
        raise ParameterError(f"chip must be one of {CHIPS}, got {chip!r}")
    return chip


def signal_header(chip: str, gyroscope: bool, packed: bool) -> bytes:
    """The two header bytes of a data notification (table in the module docstring)."""
    module, register = _HEADERS[_chip(chip)][2 * int(gyroscope) + int(packed)]
    return bytes([module, register])


def acc_config_command(chip: str, rate_hz: float, range_g: int) -> bytes:
    """``03 03 <acc_conf> <acc_range>``: output data rate and range of the accelerometer."""
    chip = _chip(chip)
    try:
        index = _ACC_ODR.index(rate_hz)
        range_code = _ACC_RANGE_CODE[chip][range_g]
    except (ValueError, KeyError):
        raise ParameterError(
            f"accelerometer rate_hz must be one of {_ACC_ODR} and range_g one of {sorted(ACC_LSB_PER_G)},"
            f" got {rate_hz!r}, {range_g!r}"
        ) from None
    under = rate_hz < 12.5
    if chip == "bmi160":
        conf = (index + 1) | (0 if under else 2) << 4 | (1 if under else 0) << 7
    else:
        conf = (index + 1) | 2 << 4 | (0 if under else 1) << 7
    return bytes([ACC_MODULE, 0x03, conf, range_code])


def gyr_config_command(rate_hz: float, range_dps: int) -> bytes:
    """``13 03 <odr | 2 << 4> <range>``: output data rate and range of the gyroscope (both chips)."""
    if rate_hz not in _GYR_ODR or range_dps not in _GYR_RANGE_CODE:
        raise ParameterError(
            f"gyroscope rate_hz must be one of {sorted(_GYR_ODR)} and range_dps one of {sorted(_GYR_RANGE_CODE)},"
            f" got {rate_hz!r}, {range_dps!r}"
        )
    return bytes([GYR_MODULE, 0x03, _GYR_ODR[int(rate_hz)] | 2 << 4, _GYR_RANGE_CODE[range_dps]])


def start_commands(chip: str, gyroscope: bool = True, packed: bool = False) -> list[bytes]:
    """Subscribe, enable the data interrupt and power on, in that order (acc, then gyro)."""
    out = []
    for gyro in (False, True) if gyroscope else (False,):
        module = GYR_MODULE if gyro else ACC_MODULE
        out.append(signal_header(chip, gyro, packed) + b"\x01")
        out.append(bytes([module, 0x02, 0x01, 0x00]))
        out.append(bytes([module, 0x01, 0x01]))
    return out


def stop_commands(chip: str, gyroscope: bool = True, packed: bool = False) -> list[bytes]:
    """Power off, disable the data interrupt and unsubscribe (acc, then gyro)."""
    out = []
    for gyro in (False, True) if gyroscope else (False,):
        module = GYR_MODULE if gyro else ACC_MODULE
        out.append(bytes([module, 0x01, 0x00]))
        out.append(bytes([module, 0x02, 0x00, 0x01]))
        out.append(signal_header(chip, gyro, packed) + b"\x00")
    return out


def encode_samples(chip: str, gyroscope: bool, counts: ArrayLike, packed: bool = False) -> bytes:
    """A data notification of int16 ``counts`` (``(1, 3)``, or ``(3, 3)`` oldest first when packed)."""
    c = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    if c.shape[0] != (3 if packed else 1):
        raise ParameterError(f"counts must be {'3' if packed else '1'} sample(s) of (x, y, z), got {c.shape}")
    if np.any(c < -32768) or np.any(c > 32767):
        raise ParameterError("counts must fit int16")
    return signal_header(chip, gyroscope, packed) + b"".join(_XYZ.pack(*row) for row in c.tolist())


def encode_accounter(processor_id: int, value: int, counts: ArrayLike) -> bytes:
    """``09 03 <id> <u32> <x y z int16>``: an accounter's output (time tick or count)."""
    c = np.asarray(counts, dtype=np.int64).reshape(3).tolist()
    return bytes([PROCESSOR_MODULE, ACCOUNTER_OUTPUT, processor_id]) + struct.pack("<I3h", value % (1 << 32), *c)


def encode_battery(charge_pct: int, voltage_mv: int) -> bytes:
    """``11 8C <charge %> <mV u16>``: the settings module's battery read reply."""
    return bytes([SETTINGS_MODULE, 0x8C, charge_pct]) + struct.pack("<H", voltage_mv)


def model_name(model_number: str) -> str:
    """The board name for a Device Information model number (``"5"`` -> ``"MetaMotion R/RL"``)."""
    return MODEL_NUMBERS.get(model_number.strip(), f"MetaWear model {model_number.strip()}")


def chip_for_model(model_number: str) -> str:
    """``"bmi270"`` for the MetaMotion S (model number 8), ``"bmi160"`` otherwise."""
    return "bmi270" if model_number.strip() == "8" else "bmi160"


def identify(name: str | None, service_uuids: tuple[str, ...], manufacturer_data: dict[int, bytes]) -> str | None:
    """``"MetaMotion"`` if the advertisement is a MetaWear board's, else None.

    MetaWear boards advertise the service UUID (the SDKs filter on it) and the name
    ``"MetaWear"`` unless renamed; the exact model is read after connecting
    (Device Information model number, :func:`model_name`).
    """
    if SERVICE_UUID in {u.lower() for u in service_uuids} or (name or "").strip().lower() == "metawear":
        return "MetaMotion"
    return None


@dataclass(frozen=True)
class _Signal:
    gyroscope: bool
    packed: bool


class MetaMotionDecoder(VendorDecoder):
    """MetaWear accelerometer and gyroscope notifications -> SI samples.

    Parameters
    ----------
    sensor_id
        The sensor whose ``…9006`` notifications this decoder takes.
    chip
        ``"bmi160"`` (MetaMotion R, RL, C) or ``"bmi270"`` (MetaMotion S); see
        :func:`chip_for_model`.
    rate_hz
        Output data rate of both sensors (25, 50, 100, 200, 400 or 800 Hz).
    acc_range_g
        Accelerometer range written with :func:`acc_config_command` (2, 4, 8 or 16). The
        boards' own defaults differ (BMI160 ±2 g, BMI270 ±8 g): write it or read it back.
    gyr_range_dps
        Gyroscope range written with :func:`gyr_config_command` (125 … 2000).
    gyroscope
        True (default): accelerometer and gyroscope are both streamed and paired. False:
        accelerometer only, the gyroscope columns are NaN.
    packed
        True when the packed signals (3 samples per notification) are subscribed.
    timing
        ``"host"`` (plain streaming, estimated), ``"accounter_time"`` or
        ``"accounter_count"`` (an accounter processor in front of each signal, exact; not
        with ``packed``, at most 200 Hz).
    acc_processor, gyr_processor
        The accounter processor ids the board assigned (its ``09 02 <id>`` replies).
    late_s, hold_s
        Parameters of the host-arrival clock (``timing="host"``; ``late_s`` None: half a
        period), see :class:`~dmi_sensors.vendors._timeline.HostClock`.
    """

    vendor: ClassVar[str] = "metamotion"

    def __init__(
        self,
        sensor_id: str,
        chip: str = "bmi160",
        rate_hz: int = 100,
        acc_range_g: int = 8,
        gyr_range_dps: int = 2000,
        gyroscope: bool = True,
        packed: bool = False,
        timing: str = "host",
        acc_processor: int = 0,
        gyr_processor: int = 1,
        late_s: float | None = None,
        hold_s: float = 0.5,
    ) -> None:
        super().__init__(
            sensor_id=sensor_id,
            chip=chip,
            rate_hz=rate_hz,
            acc_range_g=acc_range_g,
            gyr_range_dps=gyr_range_dps,
            gyroscope=gyroscope,
            packed=packed,
            timing=timing,
            acc_processor=acc_processor,
            gyr_processor=gyr_processor,
            late_s=late_s,
            hold_s=hold_s,
        )
        _chip(chip)
        if rate_hz not in RATES_HZ or isinstance(rate_hz, bool):
            raise ParameterError(f"rate_hz must be one of {RATES_HZ}, got {rate_hz!r}")
        if acc_range_g not in ACC_LSB_PER_G:
            raise ParameterError(f"acc_range_g must be one of {sorted(ACC_LSB_PER_G)}, got {acc_range_g!r}")
        if gyr_range_dps not in GYR_LSB_PER_DPS:
            raise ParameterError(f"gyr_range_dps must be one of {sorted(GYR_LSB_PER_DPS)}, got {gyr_range_dps!r}")
        if timing not in TIMING_MODES:
            raise ParameterError(f"timing must be one of {TIMING_MODES}, got {timing!r}")
        if timing != "host" and (packed or rate_hz > 200):
            raise ParameterError("accounter timing needs unpacked signals at rate_hz <= 200")
        if not ((late_s is None or late_s > 0) and hold_s > 0):
            raise ParameterError(f"late_s (or None) and hold_s must be positive, got {late_s!r}, {hold_s!r}")
        for name, pid in (("acc_processor", acc_processor), ("gyr_processor", gyr_processor)):
            if not (isinstance(pid, int) and 0 <= pid <= 0xFF):
                raise ParameterError(f"{name} must be a processor id 0..255, got {pid!r}")
        self._acc_scale = G0_MPS2 / ACC_LSB_PER_G[acc_range_g]
        self._gyr_scale = np.pi / 180.0 / GYR_LSB_PER_DPS[gyr_range_dps]
        self._signals = {
            signal_header(chip, g, p): _Signal(g, p)
            for g in ((False, True) if gyroscope else (False,))
            for p in (packed,)
        }
        self._processors = {acc_processor: 0, gyr_processor: 1} if gyroscope else {acc_processor: 0}
        period = 1.0 / rate_hz
        streams = 2 if gyroscope else 1
        clocks: list[ExactClock | CounterClock | HostClock]
        if timing == "host":
            clocks = [HostClock(period, late_s, float(hold_s), stream=s) for s in range(streams)]
            loss, source = "estimated", "host_arrival"
        elif timing == "accounter_time":
            clocks = [ExactClock(TICK_S, period / TICK_S, modulus=1 << 32, jump_s=2.0) for _ in range(streams)]
            loss, source = "exact", "device_timestamps"
        else:
            clocks = [CounterClock(period) for _ in range(streams)]
            loss, source = "exact", "device_counter"
        layout = "pair" if gyroscope else "acc"
        merger = Merger(layout, period, shared_clock=timing == "accounter_time", max_pending=30 * rate_hz)
        self._setup(float(rate_hz), clocks, merger, loss, source)

    def _parse(self, packet: RawPacket) -> list[Chunk]:
        data = packet.data
        if len(data) < 2:
            self._malformed("too_short")
            return []
        if data[0] not in _KNOWN_MODULES:
            self._malformed("unknown_module")
            return []
        header = bytes(data[:2])
        if self.timing != "host":
            if data[0] == PROCESSOR_MODULE and data[1] == ACCOUNTER_OUTPUT:
                return self._accounter(packet)
        else:
            signal = self._signals.get(header)
            if signal is not None:
                return self._samples(packet, signal)
        if data[0] == SETTINGS_MODULE and data[1] == 0x8C and len(data) >= 5:
            self._extra["battery_pct"] = int(data[2])
            self._extra["battery_mv"] = int(struct.unpack_from("<H", data, 3)[0])
        self._packets_ok += 1  # another board message (a response, a read reply): no samples
        return []

    def _counts(self, payload: bytes) -> NDArray[np.float64]:
        return np.frombuffer(payload, dtype="<i2").reshape(-1, 3).astype(np.float64)

    def _samples(self, packet: RawPacket, signal: _Signal) -> list[Chunk]:
        size = 2 + (18 if signal.packed else 6)
        if len(packet.data) != size:
            self._malformed("bad_length")
            return []
        counts = self._counts(packet.data[2:])
        scale = self._gyr_scale if signal.gyroscope else self._acc_scale
        self._packets_ok += 1
        return [Chunk(int(signal.gyroscope), packet.host_time_s, counts * scale)]

    def _accounter(self, packet: RawPacket) -> list[Chunk]:
        data = packet.data
        if len(data) < 3:
            self._malformed("too_short")
            return []
        stream = self._processors.get(data[2])
        if stream is None:
            self._packets_ok += 1  # another processor's output
            return []
        if len(data) != 13:
            self._malformed("bad_length")
            return []
        (value,) = struct.unpack_from("<I", data, 3)
        counts = self._counts(data[7:13])
        scale = self._gyr_scale if stream == 1 else self._acc_scale
        self._packets_ok += 1
        return [Chunk(stream, packet.host_time_s, counts * scale, value)]
