"""Advertising: manufacturer-specific data and the device name.

The advertisement carries Flags, the 128-bit service UUID and manufacturer-specific data
under :data:`COMPANY_ID`; the scan response carries the complete local name
``"DMI-" + serial as 8 upper-case hex digits``. Manufacturer data as a scanner reports it
(bleak: ``advertisement_data.manufacturer_data[COMPANY_ID]``, i.e. without the 2-byte
company identifier)::

    off size field
    0   4    serial    u32 little-endian
    4   1    version   protocol version byte, major << 4 | minor

A newer minor version may append bytes (ignored).

The serial is the sensor's identity everywhere data is kept; its Bluetooth address is not
(an address can be tracked over the air): :func:`looks_like_address` tells them apart.
"""

from __future__ import annotations

import re
import struct

from dmi_sensors.protocol.constants import NAME_PREFIX, PROTOCOL_VERSION, check_version, version_byte
from dmi_sensors.protocol.errors import ProtocolError

__all__ = [
    "decode_manufacturer_data",
    "device_name",
    "encode_manufacturer_data",
    "format_serial",
    "looks_like_address",
    "parse_serial",
]

_ADDRESS = re.compile(r"^([0-9A-F]{2}[:-]){5}[0-9A-F]{2}$|^[0-9A-F]{8}-([0-9A-F]{4}-){3}[0-9A-F]{12}$", re.IGNORECASE)


def looks_like_address(text: str) -> bool:
    """A Bluetooth address (``AA:BB:CC:DD:EE:FF``), or the UUID macOS shows instead: not a serial."""
    return bool(_ADDRESS.match(text.strip()))


_MFG = struct.Struct("<IB")
MANUFACTURER_DATA_SIZE = _MFG.size  # 5


def format_serial(serial: int) -> str:
    """Serial number as 8 upper-case hex digits, e.g. ``"00A1B2C3"`` (the sensor_id)."""
    if not isinstance(serial, int) or not 0 <= serial < 1 << 32:
        raise ProtocolError(f"serial must be an integer 0..2**32-1, got {serial!r}")
    return f"{serial:08X}"


def parse_serial(serial: int | str, *, width: int | None = None) -> int:
    """Accept ``0xA1B2C3``, ``"00A1B2C3"`` or ``"DMI-00A1B2C3"``; return the integer serial.

    Text: 1-8 hex digits, optionally after the name prefix (any case). ``width``: exactly that
    many digits (a person naming a sensor types all 8, as the sensor advertises them).
    """
    if isinstance(serial, int):
        format_serial(serial)
        return serial
    if isinstance(serial, str):
        n = len(NAME_PREFIX)
        text = serial[n:] if serial[:n].upper() == NAME_PREFIX else serial
        fits = len(text) == width if width is not None else 1 <= len(text) <= 8
        if fits and len(text) <= 8 and all(c in "0123456789abcdefABCDEF" for c in text):
            return int(text, 16)
    digits = f"{width}" if width is not None else "1-8"
    raise ProtocolError(f"serial {serial!r} is not {digits} hex digits (optionally prefixed {NAME_PREFIX!r})")


def device_name(serial: int | str) -> str:
    """Advertised complete local name, e.g. ``"DMI-00A1B2C3"``."""
    return NAME_PREFIX + format_serial(parse_serial(serial))


def encode_manufacturer_data(serial: int | str, version: tuple[int, int] = PROTOCOL_VERSION) -> bytes:
    """Manufacturer data payload (5 bytes, without the company identifier)."""
    return _MFG.pack(parse_serial(serial), version_byte(*version))


def decode_manufacturer_data(data: bytes) -> tuple[str, tuple[int, int]]:
    """Return ``(serial as 8 hex digits, (major, minor))``; raise :class:`ProtocolError` if malformed.

    An unknown major version raises too: the host cannot talk to that sensor.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"manufacturer data: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < MANUFACTURER_DATA_SIZE:
        raise ProtocolError(
            f"manufacturer data: expected {MANUFACTURER_DATA_SIZE} bytes (serial u32, version), got {len(data)}"
        )
    serial, vbyte = _MFG.unpack_from(data)
    version = check_version(vbyte, "manufacturer data")
    if len(data) > MANUFACTURER_DATA_SIZE and version[1] <= PROTOCOL_VERSION[1]:
        raise ProtocolError(f"manufacturer data: expected {MANUFACTURER_DATA_SIZE} bytes for v1.0, got {len(data)}")
    return format_serial(serial), version
