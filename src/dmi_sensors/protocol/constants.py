"""Protocol v1 constants: UUIDs, advertising, packet types, opcodes, rate and range codes.

All values mirror ``firmware_protocol/SPEC.md`` (the reference) and
``firmware_protocol/c/dmi_protocol.h``; change the three together.
"""

from __future__ import annotations

import math
from enum import IntEnum, IntFlag
from typing import Final

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.protocol.errors import ProtocolError

# --- GATT -------------------------------------------------------------------------------
#: Custom 128-bit service; the characteristics share its base (bytes 2-3 differ).
SERVICE_UUID: Final = "6d5f0001-2b8a-4c1e-9d3f-0a7b5c9e1d42"
#: Data characteristic: notify only; carries DATA / DATA_COMPACT packets.
DATA_CHAR_UUID: Final = "6d5f0002-2b8a-4c1e-9d3f-0a7b5c9e1d42"
#: Control characteristic: write with response; carries commands (host -> device).
CONTROL_CHAR_UUID: Final = "6d5f0003-2b8a-4c1e-9d3f-0a7b5c9e1d42"
#: Status characteristic: read + notify; carries STATUS packets and command RESPONSE packets.
STATUS_CHAR_UUID: Final = "6d5f0004-2b8a-4c1e-9d3f-0a7b5c9e1d42"
#: Standard Battery service / Battery Level characteristic (uint8, percent).
BATTERY_SERVICE_UUID: Final = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_CHAR_UUID: Final = "00002a19-0000-1000-8000-00805f9b34fb"
#: Standard Device Information service and the characteristics a sensor exposes (UTF-8 strings).
DEVICE_INFO_SERVICE_UUID: Final = "0000180a-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME_CHAR_UUID: Final = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_CHAR_UUID: Final = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_CHAR_UUID: Final = "00002a25-0000-1000-8000-00805f9b34fb"
HARDWARE_REVISION_CHAR_UUID: Final = "00002a27-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_CHAR_UUID: Final = "00002a26-0000-1000-8000-00805f9b34fb"

# --- advertising ------------------------------------------------------------------------
#: Complete local name = NAME_PREFIX + serial as 8 upper-case hex digits, e.g. "DMI-00A1B2C3".
NAME_PREFIX: Final = "DMI-"
#: Manufacturer-data company identifier (0xFFFF: reserved by the Bluetooth SIG for testing).
COMPANY_ID: Final = 0xFFFF

# --- versioning -------------------------------------------------------------------------
#: (major, minor). On the wire: one byte, ``major << 4 | minor``.
PROTOCOL_VERSION: Final = (1, 0)
PROTOCOL_MAJOR: Final = PROTOCOL_VERSION[0]
PROTOCOL_MINOR: Final = PROTOCOL_VERSION[1]
VERSION_BYTE: Final = PROTOCOL_MAJOR << 4 | PROTOCOL_MINOR


def version_byte(major: int = PROTOCOL_MAJOR, minor: int = PROTOCOL_MINOR) -> int:
    """The wire byte ``major << 4 | minor`` (each 0-15)."""
    if not (0 <= major <= 15 and 0 <= minor <= 15):
        raise ProtocolError(f"version {major}.{minor}: major and minor must each be 0-15")
    return major << 4 | minor


def check_version(byte: int, what: str) -> tuple[int, int]:
    """Split a version byte into ``(major, minor)``; reject an unknown major version.

    A newer *minor* version of major 1 is accepted (it only adds things a v1.0 reader may
    ignore: reserved bits, trailing bytes, new packet types or opcodes).
    """
    major, minor = byte >> 4, byte & 0x0F
    if major != PROTOCOL_MAJOR:
        raise ProtocolError(
            f"{what}: unsupported protocol major version {major} (version byte 0x{byte:02X} = v{major}.{minor}); "
            f"this decoder speaks v{PROTOCOL_MAJOR}.x — update dmi-sensors or use matching sensor firmware",
            result=Result.UNSUPPORTED_VERSION,
        )
    return major, minor


# --- packet types (byte 1 of every notification) -----------------------------------------
class PacketType(IntEnum):
    """Byte 1 of every notification on the data and status characteristics."""

    DATA = 0x01  #: full data packet (32-bit counter and timestamp, up to 19 samples)
    DATA_COMPACT = 0x02  #: degraded-mode data packet (16-bit counter, 24-bit timestamp, 1 sample, 20 B)
    STATUS = 0x10  #: status packet (battery, temperature, error flags)
    RESPONSE = 0x20  #: response to a control command


class Opcode(IntEnum):
    """Byte 1 of every control command (host -> device); echoed in the response."""

    START_STREAMING = 0x41
    STOP_STREAMING = 0x42
    SET_RATE = 0x43
    SET_RANGES = 0x44
    IDENTIFY = 0x45
    GET_INFO = 0x46
    TIME_SYNC = 0x47


class Result(IntEnum):
    """Result code of a response (byte 4)."""

    OK = 0x00
    UNKNOWN_OPCODE = 0x01
    INVALID_LENGTH = 0x02
    INVALID_PARAMETER = 0x03
    INVALID_STATE = 0x04  #: e.g. SET_RATE while streaming
    UNSUPPORTED_VERSION = 0x05
    INTERNAL_ERROR = 0x06


class DataFormat(IntEnum):
    """Data packet format chosen with START_STREAMING."""

    FULL = 0  #: PacketType.DATA, 14-byte header, 1-19 samples
    COMPACT = 1  #: PacketType.DATA_COMPACT, 8-byte header, exactly 1 sample (fits a 20-byte payload)


class DataFlags(IntFlag):
    """Byte 2 of a full data packet. Bits 4-7 are reserved (sent 0, ignored on receipt)."""

    TIME_SYNCED = 0x01  #: the device clock was set/checked by a TIME_SYNC since boot
    FIFO_OVERRUN = 0x02  #: the IMU FIFO overflowed before this packet; the counter skipped the lost samples
    CLIPPED = 0x04  #: at least one value in this packet is at int16 full scale
    LOW_BATTERY = 0x08  #: battery below 15 %


class StatusErrors(IntFlag):
    """Error flags of a status packet (u16). Undefined bits are reserved (ignored)."""

    IMU_NOT_RESPONDING = 0x0001
    FIFO_OVERRUN = 0x0002
    LOW_BATTERY = 0x0004
    TX_QUEUE_FULL = 0x0008  #: notifications were dropped because the BLE TX queue was full
    CLOCK_NOT_SYNCED = 0x0010
    SELF_TEST_FAILED = 0x0020
    STORAGE_ERROR = 0x0040


class DeviceState(IntFlag):
    """State byte of status packets and GET_INFO responses."""

    STREAMING = 0x01
    IDENTIFYING = 0x02
    CHARGING = 0x04
    COMPACT_FORMAT = 0x08  #: streaming (or set to stream) DATA_COMPACT packets


# --- sample rates and full scales -------------------------------------------------------
#: Rate code (3 bits, config byte bits 0-2) -> nominal sample rate, Hz.
RATES_HZ: Final = (50, 100, 200, 250, 400, 500, 800, 1000)
#: Accelerometer range code (2 bits, config bits 3-4) -> full scale, ±g.
ACC_RANGES_G: Final = (2, 4, 8, 16)
#: Gyroscope range code (3 bits, config bits 5-7; codes 5-7 invalid) -> full scale, ±deg/s.
GYR_RANGES_DPS: Final = (125, 250, 500, 1000, 2000)
#: One count is full scale / 32768 (so -32768 is exactly -full scale).
FULL_SCALE_COUNTS: Final = 32768


def rate_code(fs_hz: float) -> int:
    """Rate code of a supported nominal rate (50, 100, 200, 250, 400, 500, 800, 1000 Hz)."""
    for code, hz in enumerate(RATES_HZ):
        if fs_hz == hz:
            return code
    raise ProtocolError(f"sample rate {fs_hz} Hz is not supported; supported rates: {RATES_HZ} Hz")


def acc_range_code(acc_range_g: float) -> int:
    """Code of an accelerometer full scale (±2, 4, 8, 16 g)."""
    for code, g in enumerate(ACC_RANGES_G):
        if acc_range_g == g:
            return code
    raise ProtocolError(f"accelerometer range ±{acc_range_g} g is not supported; supported: {ACC_RANGES_G} g")


def gyr_range_code(gyr_range_dps: float) -> int:
    """Code of a gyroscope full scale (±125, 250, 500, 1000, 2000 deg/s)."""
    for code, dps in enumerate(GYR_RANGES_DPS):
        if gyr_range_dps == dps:
            return code
    raise ProtocolError(f"gyroscope range ±{gyr_range_dps} deg/s is not supported; supported: {GYR_RANGES_DPS} deg/s")


def config_byte(fs_hz: float, acc_range_g: float, gyr_range_dps: float) -> int:
    """Pack the config byte: bits 0-2 rate code, bits 3-4 acc range code, bits 5-7 gyro range code."""
    return rate_code(fs_hz) | acc_range_code(acc_range_g) << 3 | gyr_range_code(gyr_range_dps) << 5


def parse_config_byte(byte: int, what: str = "config byte") -> tuple[int, int, int]:
    """Unpack a config byte into ``(fs_hz, acc_range_g, gyr_range_dps)``."""
    gcode = byte >> 5
    if gcode >= len(GYR_RANGES_DPS):
        raise ProtocolError(
            f"{what} 0x{byte:02X}: gyroscope range code {gcode} is invalid (0-{len(GYR_RANGES_DPS) - 1})"
        )
    return RATES_HZ[byte & 0x07], ACC_RANGES_G[(byte >> 3) & 0x03], GYR_RANGES_DPS[gcode]


def acc_scale_mps2(acc_range_g: float) -> float:
    """m/s² per count: ``acc_range_g * 9.80665 / 32768``."""
    return acc_range_g * STANDARD_GRAVITY_MPS2 / FULL_SCALE_COUNTS


def gyr_scale_rps(gyr_range_dps: float) -> float:
    """rad/s per count: ``gyr_range_dps / 32768 * pi / 180``."""
    return gyr_range_dps / FULL_SCALE_COUNTS * math.pi / 180.0


# --- sizes ------------------------------------------------------------------------------
#: ATT payload of one notification at the default ATT_MTU 23 and at ATT_MTU 247.
NOTIFY_PAYLOAD_MIN: Final = 20
NOTIFY_PAYLOAD_MAX: Final = 244
BYTES_PER_SAMPLE: Final = 12  #: acc x,y,z then gyro x,y,z, int16 little-endian
DATA_HEADER_SIZE: Final = 14
COMPACT_HEADER_SIZE: Final = 8
#: Samples per full data packet: (244 - 14) // 12 = 19 -> 242 bytes.
MAX_SAMPLES_PER_PACKET: Final = (NOTIFY_PAYLOAD_MAX - DATA_HEADER_SIZE) // BYTES_PER_SAMPLE
COMPACT_PACKET_SIZE: Final = COMPACT_HEADER_SIZE + BYTES_PER_SAMPLE  # 20
#: Counter and timestamp moduli (wrap-around) of the two data formats.
COUNTER_MODULUS: Final = 1 << 32
TIMESTAMP_MODULUS: Final = 1 << 32  # µs: wraps every 4294.967296 s (71.6 min)
COMPACT_COUNTER_MODULUS: Final = 1 << 16
COMPACT_TIMESTAMP_MODULUS: Final = 1 << 24  # µs: wraps every 16.777216 s
#: Counter plausibility (host unwrap, SPEC §4.5): a forward jump of the sample counter is a
#: gap of lost samples only if the host's clock allows it: at most
#: ``(Δhost × (1 + COUNTER_RATE_TOLERANCE) + COUNTER_JUMP_SLACK_S) × fs`` samples. The slack
#: covers delivery jitter (a packet that waited in a queue); the tolerance a fast crystal
#: with room to spare (real ones are within 200 ppm). A larger jump cannot be real: it is
#: corruption or a restart and counts as a reset (samples unknown), never as millions lost.
COUNTER_JUMP_SLACK_S: Final = 2.0
COUNTER_RATE_TOLERANCE: Final = 0.01


def samples_per_notification(att_mtu: int) -> int:
    """How many samples a full data packet can carry at a negotiated ATT_MTU (0 if none)."""
    return max(0, min(MAX_SAMPLES_PER_PACKET, (att_mtu - 3 - DATA_HEADER_SIZE) // BYTES_PER_SAMPLE))
