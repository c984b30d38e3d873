"""Movella (Xsens) DOT: measurement payloads, their decoder and encoder, identification.

Source: *Xsens DOT BLE Services Specifications*, document XD0506P, Revision F (28 Oct
2021), and *Movella DOT BLE Service Specification* XD0506P Revision C (July 2023) for
payload mode 26; *Xsens DOT User Manual* XD0502P Revision E (16 July 2021) §4.2. Section
numbers below are those of XD0506P Rev F. All fields are little-endian.

Measurement service ``0x2000`` (base UUID ``1517xxxx-4947-11E9-8646-D663BD873D93``): the
control characteristic ``0x2001`` takes ``[type=1, action (0 stop / 1 start), payload
mode]`` (§3.1, Table 13); each notification on the payload characteristic that fits the
mode (§3.2–3.4) is one sample. The modes with calibrated inertial data (Table 15 and Rev C):

====  ===================================  ====  ==========================================
mode  name                                 size  layout (byte offset)
====  ===================================  ====  ==========================================
20    Rate quantities (with mag)           34    timestamp 0, acc 4, gyr 16, mag 28
21    Rate quantities                      28    timestamp 0, acc 4, gyr 16
26    Custom mode 5 (Rev C)                44    timestamp 0, quaternion 4, acc 20, gyr 32
====  ===================================  ====  ==========================================

Timestamp: u32 µs of the sensor's 1 MHz clock ("SampleTimeFine"), wrapping at 2**32
(~71.6 min; user manual §4.2.5). Acceleration: 3 × IEEE-754 f32, m/s², sensor frame;
angular velocity: 3 × f32, **deg/s** (Table 17); magnetic field: 3 × int16 fixed point,
÷ 2**12 → a.u. (1 a.u. ≈ 40 µT). Unused trailing bytes are 0x00: a notification may be
longer than its mode and the rest is ignored.

Timing and loss are **exact**: every sample carries its device timestamp
(:class:`~dmi_sensors.vendors._timeline.ExactClock`, tick 1 µs).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike

from dmi_sensors.errors import ParameterError, ProtocolError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors._base import VendorDecoder
from dmi_sensors.vendors._timeline import Chunk, ExactClock, Merger

__all__ = [
    "COMPANY_ID",
    "CONTROL_CHAR_UUID",
    "DEVICE_CONTROL_CHAR_UUID",
    "DEVICE_INFO_CHAR_UUID",
    "MEASUREMENT_SERVICE_UUID",
    "MODES",
    "RATES_HZ",
    "DotDecoder",
    "DotDeviceInfo",
    "DotMode",
    "control_bytes",
    "decode_device_info",
    "encode_measurement",
    "encode_message",
    "identify",
    "message_checksum_ok",
    "payload_char_uuid",
    "set_output_rate",
]


def uuid16(short: int) -> str:
    """A DOT UUID from its 16-bit part (§1: base ``1517xxxx-4947-11E9-8646-D663BD873D93``)."""
    return f"1517{short:04x}-4947-11e9-8646-d663bd873d93"


CONFIGURATION_SERVICE_UUID = uuid16(0x1000)
DEVICE_INFO_CHAR_UUID = uuid16(0x1001)
DEVICE_CONTROL_CHAR_UUID = uuid16(0x1002)
MEASUREMENT_SERVICE_UUID = uuid16(0x2000)
CONTROL_CHAR_UUID = uuid16(0x2001)
LONG_PAYLOAD_CHAR_UUID = uuid16(0x2002)
MEDIUM_PAYLOAD_CHAR_UUID = uuid16(0x2003)
SHORT_PAYLOAD_CHAR_UUID = uuid16(0x2004)
BATTERY_SERVICE_UUID = uuid16(0x3000)
BATTERY_CHAR_UUID = uuid16(0x3001)
MESSAGE_SERVICE_UUID = uuid16(0x7000)

#: Bluetooth company identifier of Movella Technologies B.V. (formerly Xsens; Rev C §1.4).
COMPANY_ID = 0x0886

#: Output rates of real-time streaming (user manual Table 6; device control §2.2). 120 Hz is recording only.
RATES_HZ = (1, 4, 10, 12, 15, 20, 30, 60)

#: a.u. per count of the magnetic field (the official example server divides by 2**12)
MAG_AU_PER_COUNT = 1.0 / 4096.0


@dataclass(frozen=True)
class DotMode:
    """Byte layout of one payload mode with calibrated inertial data (offsets in bytes)."""

    mode: int
    name: str
    size: int
    acc_offset: int
    gyr_offset: int
    mag_offset: int | None = None
    quat_offset: int | None = None


#: The payload modes this decoder reads (XD0506P Rev F Table 15; mode 26 from Rev C).
MODES: dict[int, DotMode] = {
    20: DotMode(20, "Rate quantities (with mag)", 34, 4, 16, mag_offset=28),
    21: DotMode(21, "Rate quantities", 28, 4, 16),
    26: DotMode(26, "Custom mode 5", 44, 20, 32, quat_offset=4),
}

_TS = struct.Struct("<I")
_VEC = struct.Struct("<3f")
_MAG = struct.Struct("<3h")
_QUAT = struct.Struct("<4f")
_DEG = np.pi / 180.0


def payload_char_uuid(payload_mode: int) -> str:
    """The payload characteristic that carries ``payload_mode`` (long > 40 B, medium 21-40 B, short ≤ 20 B)."""
    size = _mode(payload_mode).size
    if size > 40:
        return LONG_PAYLOAD_CHAR_UUID
    return MEDIUM_PAYLOAD_CHAR_UUID if size > 20 else SHORT_PAYLOAD_CHAR_UUID


def _mode(payload_mode: int) -> DotMode:
    try:
        return MODES[int(payload_mode)]
    except (KeyError, TypeError, ValueError):
        raise ParameterError(
            f"payload_mode must be one of {sorted(MODES)} (the DOT modes with calibrated acceleration and angular"
            f" velocity), got {payload_mode!r}"
        ) from None


def control_bytes(start: bool, payload_mode: int = 21) -> bytes:
    """The 3-byte write to the measurement control ``0x2001`` (§3.1, Table 13): ``01 <action> <mode>``."""
    return bytes([1, 1 if start else 0, _mode(payload_mode).mode])


def set_output_rate(device_control: bytes, rate_hz: int) -> bytes:
    """The 32-byte device control (``0x1002``) that sets the output rate (§2.2, Table 7).

    ``device_control`` is the value read from the sensor; visit index b4 (``0x10``) is set
    and the rate written as u16 at bytes 24-25. The rate is kept by the sensor (flash).
    """
    if len(device_control) != 32:
        raise ProtocolError(f"DOT device control: expected 32 bytes, got {len(device_control)}")
    if rate_hz not in RATES_HZ:
        raise ParameterError(f"rate_hz must be one of {RATES_HZ} for real-time streaming, got {rate_hz!r}")
    out = bytearray(device_control)
    out[0] = 0x10
    out[24:26] = struct.pack("<H", rate_hz)
    return bytes(out)


@dataclass(frozen=True)
class DotDeviceInfo:
    """The 34-byte device info characteristic ``0x1001`` (§2.1, Table 6)."""

    address: str
    firmware: str
    build: str
    softdevice_version: int
    serial: int
    product_code: str

    @property
    def model(self) -> str:
        """``"DOT v1"`` (``XS-T01``), ``"DOT v2"`` (``XS-T02``) or the product code."""
        return {"XS-T01": "DOT v1", "XS-T02": "DOT v2"}.get(self.product_code, self.product_code or "DOT")


_INFO = struct.Struct("<6sBBBHBBBBBIQ6s")


def decode_device_info(data: bytes) -> DotDeviceInfo:
    """Decode the device info characteristic; :class:`ProtocolError` when it is not 34 bytes."""
    if len(data) != _INFO.size:
        raise ProtocolError(f"DOT device info: expected {_INFO.size} bytes, got {len(data)}")
    mac, vmaj, vmin, vrev, year, month, day, hour, minute, second, sd, serial, code = _INFO.unpack(data)
    return DotDeviceInfo(
        address=":".join(f"{b:02X}" for b in reversed(mac)),
        firmware=f"{vmaj}.{vmin}.{vrev}",
        build=f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}",
        softdevice_version=sd,
        serial=serial,
        product_code=code.rstrip(b"\x00").decode("ascii", "replace"),
    )


def encode_message(mid: int, data: bytes = b"") -> bytes:
    """A message-service message ``MID LEN DATA CHECKSUM`` (Rev C §5): all bytes sum to 0 mod 256."""
    body = bytes([mid & 0xFF, len(data) & 0xFF]) + bytes(data)
    return body + bytes([(-sum(body)) & 0xFF])


def message_checksum_ok(message: bytes) -> bool:
    """True when ``message`` is ``MID LEN DATA CHECKSUM`` with a matching length and checksum."""
    return len(message) >= 3 and message[1] == len(message) - 3 and sum(message) % 256 == 0


def encode_measurement(
    timestamp_us: int,
    acc_mps2: ArrayLike,
    gyr_dps: ArrayLike,
    *,
    payload_mode: int = 21,
    mag_au: ArrayLike | None = None,
    quat: ArrayLike | None = None,
    length: int | None = None,
) -> bytes:
    """One measurement notification of ``payload_mode`` (the inverse of :class:`DotDecoder`).

    ``gyr_dps`` is in deg/s as on the wire. ``length`` pads with zero bytes (the spec's
    "unused bytes are 0x00"); default: the mode's size.
    """
    mode = _mode(payload_mode)
    out = bytearray(mode.size if length is None else length)
    if len(out) < mode.size:
        raise ParameterError(f"length must be at least {mode.size} for payload mode {mode.mode}, got {length}")
    _TS.pack_into(out, 0, int(timestamp_us) % (1 << 32))
    _VEC.pack_into(out, mode.acc_offset, *np.asarray(acc_mps2, dtype=np.float64).reshape(3))
    _VEC.pack_into(out, mode.gyr_offset, *np.asarray(gyr_dps, dtype=np.float64).reshape(3))
    if mode.mag_offset is not None:
        mag = np.zeros(3) if mag_au is None else np.asarray(mag_au, dtype=np.float64).reshape(3)
        counts = np.clip(np.round(mag / MAG_AU_PER_COUNT), -32768, 32767).astype(int)
        _MAG.pack_into(out, mode.mag_offset, *counts.tolist())
    if mode.quat_offset is not None:
        q = np.array([1.0, 0.0, 0.0, 0.0]) if quat is None else np.asarray(quat, dtype=np.float64).reshape(4)
        _QUAT.pack_into(out, mode.quat_offset, *q)
    return bytes(out)


def identify(name: str | None, service_uuids: tuple[str, ...], manufacturer_data: dict[int, bytes]) -> str | None:
    """The model if the advertisement is a DOT's, else None.

    A DOT advertises the name ``"Movella DOT"`` (firmware 2.x; ``"Xsens DOT"`` up to
    2.4.0; users may rename it) and manufacturer data under company 0x0886 (Rev C §1.2,
    §1.4: filter on both). The generation is only known after connecting
    (:func:`decode_device_info`).
    """
    lowered = (name or "").strip().lower()
    named = lowered.startswith(("movella dot", "xsens dot"))
    if COMPANY_ID in manufacturer_data or named or MEASUREMENT_SERVICE_UUID in {u.lower() for u in service_uuids}:
        return "DOT"
    return None


class DotDecoder(VendorDecoder):
    """Movella DOT measurement notifications -> SI samples, exact timing from the µs timestamps.

    Parameters
    ----------
    sensor_id
        The sensor whose notifications this decoder takes.
    payload_mode
        The payload mode started with :func:`control_bytes`: 20, 21 (default) or 26
        (the modes with calibrated acceleration and angular velocity, see :data:`MODES`).
    rate_hz
        The output rate set in the device control: 1, 4, 10, 12, 15, 20, 30 or 60 (default).
    """

    vendor: ClassVar[str] = "dot"

    def __init__(self, sensor_id: str, payload_mode: int = 21, rate_hz: int = 60) -> None:
        super().__init__(sensor_id=sensor_id, payload_mode=payload_mode, rate_hz=rate_hz)
        self._layout = _mode(payload_mode)
        if rate_hz not in RATES_HZ or isinstance(rate_hz, bool):
            raise ParameterError(f"rate_hz must be one of {RATES_HZ} (DOT real-time streaming), got {rate_hz!r}")
        clock = ExactClock(tick_s=1e-6, period_ticks=1e6 / rate_hz, modulus=1 << 32, jump_s=2.0)
        merger = Merger("combined", 1.0 / rate_hz, shared_clock=True, max_pending=1)
        self._setup(float(rate_hz), [clock], merger, "exact", "device_timestamps")

    def _parse(self, packet: RawPacket) -> list[Chunk]:
        data = packet.data
        mode = self._layout
        if len(data) < mode.size:
            self._malformed("too_short")
            return []
        (ts,) = _TS.unpack_from(data, 0)
        acc = _VEC.unpack_from(data, mode.acc_offset)
        gyr = _VEC.unpack_from(data, mode.gyr_offset)
        values = np.array([[*acc, gyr[0] * _DEG, gyr[1] * _DEG, gyr[2] * _DEG]], dtype=np.float64)
        if not np.isfinite(values).all():
            self._malformed("non_finite")
            return []
        self._packets_ok += 1
        return [Chunk(0, packet.host_time_s, values, ts)]
