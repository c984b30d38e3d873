"""Status packets (STATUS characteristic: read, and notified about once per second and on change).

Layout, little-endian, 16 bytes::

    off size field
    0   1    version          major << 4 | minor
    1   1    type             0x10
    2   1    battery_pct      0..100, 255 = unknown
    3   1    state            DeviceState bits (streaming, identifying, charging, compact format)
    4   2    temperature      int16, 0.01 °C; -32768 = unknown
    6   2    error_flags      u16, StatusErrors bits
    8   4    device_time_us   u32, device clock when the packet was made (same clock as data packets)
    12  4    samples_dropped  u32, samples the device could not send since streaming started
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from dmi_sensors.protocol.constants import PROTOCOL_MINOR, PacketType, check_version, version_byte
from dmi_sensors.protocol.errors import ProtocolError

__all__ = ["StatusPacket", "decode_status", "encode_status"]

_STATUS = struct.Struct("<BBBBhHII")
STATUS_SIZE = _STATUS.size  # 16
BATTERY_UNKNOWN = 0xFF
TEMPERATURE_UNKNOWN = -32768


@dataclass(frozen=True)
class StatusPacket:
    """A decoded status packet.

    Attributes
    ----------
    battery_pct
        Battery charge, percent (0-100), ``None`` when the device does not know.
    temperature_c
        Device (IMU die) temperature, °C, 0.01 °C resolution; ``None`` when unknown.
    error_flags
        :class:`~dmi_sensors.protocol.constants.StatusErrors` bits.
    state
        :class:`~dmi_sensors.protocol.constants.DeviceState` bits.
    device_time_us
        Device clock (µs, u32 wrapping) when the packet was made.
    samples_dropped
        Samples the device produced but could not send since streaming started.
    version
        ``(major, minor)``.
    """

    battery_pct: int | None
    temperature_c: float | None
    error_flags: int = 0
    state: int = 0
    device_time_us: int = 0
    samples_dropped: int = 0
    version: tuple[int, int] = (1, 0)


def encode_status(
    battery_pct: int | None,
    temperature_c: float | None,
    error_flags: int = 0,
    state: int = 0,
    device_time_us: int = 0,
    samples_dropped: int = 0,
) -> bytes:
    """Encode a status packet (16 bytes); ``device_time_us`` is reduced modulo 2**32.

    ``temperature_c`` is rounded to 0.01 °C and must lie in [-327.67, 327.67].
    """
    if battery_pct is None:
        bat = BATTERY_UNKNOWN
    elif isinstance(battery_pct, int) and 0 <= battery_pct <= 100:
        bat = battery_pct
    else:
        raise ProtocolError(f"status: battery_pct must be 0-100 or None, got {battery_pct!r}")
    if temperature_c is None:
        temp = TEMPERATURE_UNKNOWN
    else:
        if not math.isfinite(temperature_c):
            raise ProtocolError(f"status: temperature_c must be finite, got {temperature_c}")
        temp = round(temperature_c * 100)
        if not -32767 <= temp <= 32767:
            raise ProtocolError(f"status: temperature {temperature_c} °C outside ±327.67 °C")
    try:
        return _STATUS.pack(
            version_byte(),
            PacketType.STATUS,
            bat,
            state,
            temp,
            error_flags,
            int(device_time_us) % (1 << 32),
            samples_dropped,
        )
    except struct.error as exc:
        raise ProtocolError(f"status: a field does not fit the wire format: {exc}") from None


def decode_status(data: bytes) -> StatusPacket:
    """Decode a status packet; raise :class:`ProtocolError` if malformed.

    A status packet of a newer minor version may be longer; the extra bytes are ignored.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"status: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 1:
        raise ProtocolError("status: empty")
    version = check_version(data[0], "status")
    if len(data) < 2 or data[1] != PacketType.STATUS:
        found = f"0x{data[1]:02X}" if len(data) > 1 else "nothing"
        raise ProtocolError(f"status: packet type (byte 1) should be 0x{PacketType.STATUS:02X}, found {found}")
    if len(data) != STATUS_SIZE and not (version[1] > PROTOCOL_MINOR and len(data) > STATUS_SIZE):
        raise ProtocolError(f"status: expected {STATUS_SIZE} bytes, got {len(data)}")
    _, _, bat, state, temp, errors, t_us, dropped = _STATUS.unpack_from(data)
    if bat > 100 and bat != BATTERY_UNKNOWN:
        raise ProtocolError(f"status: battery {bat} % (byte 2) is out of range 0-100 (255 = unknown)")
    return StatusPacket(
        battery_pct=None if bat == BATTERY_UNKNOWN else bat,
        temperature_c=None if temp == TEMPERATURE_UNKNOWN else temp / 100.0,
        error_flags=errors,
        state=state,
        device_time_us=t_us,
        samples_dropped=dropped,
        version=version,
    )
