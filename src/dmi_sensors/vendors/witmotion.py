"""WitMotion BLE 5.0 IMUs (WT901BLECL "BWT901BLE5.0", WT9011DCL-BT5.0): frames, decoder, encoder, identification.

Sources: *WT901BLECL Datasheet* v20-0707 §6.1 (pp. 12-16: the ``0x61`` and ``0x71`` frames,
the commands); WitMotion's BLE 5.0 SDKs (``WITMOTION/WitBluetooth_BWT901BLE5_0`` @ 9efaab0f:
``device_model.py``, ``DeviceModel.java``, ``WT901BLE.cs``) for the UUIDs and the rate
codes; the register map ``REG.h`` of ``WITMOTION/WitStandardProtocol_JY901`` @ e8f4e3af.
All multi-byte fields are little-endian int16.

Service ``0000FFE5-0000-1000-8000-00805F9A34FB`` (note ``…9A34FB``, not the SIG base
``…9B34FB``) with notify ``…FFE4`` and write ``…FFE9``. The sensor streams as soon as
notifications are enabled; one notification normally carries one 20-byte frame:

=====  =============================================  ==========================================
bytes  0x61 frame (datasheet p. 13)                    scale
=====  =============================================  ==========================================
0-1    ``55 61``                                       header
2-7    ax, ay, az int16                                / 32768 × 16 g
8-13   wx, wy, wz int16                                / 32768 × 2000 °/s
14-19  roll, pitch, yaw int16                          / 32768 × 180 °
=====  =============================================  ==========================================

``55 71 RegL RegH`` + 8 × int16 is the reply to a register read ``FF AA 27 <reg> 00``
(datasheet p. 15). There is **no checksum, counter or timestamp**: the decoder
resynchronises on the headers in a byte buffer that spans notifications (a frame split
over two notifications is joined; a partial frame followed by a notification that starts
with a header is dropped as truncated), and timing and loss are **estimated** from host
arrival times and the nominal rate (:class:`~dmi_sensors.vendors._timeline.HostClock`).

Rates (register 0x03 RRATE, ``REG.h`` and the BLE 5.0 SDKs): 0x01 0.2 Hz, 0x02 0.5, 0x03 1,
0x04 2, 0x05 5, 0x06 10 (default), 0x07 20, 0x08 50, 0x09 100, **0x0B 200** (0x0A is 125 Hz,
"only WT931"). Rate change: unlock ``FF AA 69 88 B5``, ``FF AA 03 <code> 00``, save
``FF AA 00 00 00``.
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
from dmi_sensors.vendors._timeline import Chunk, HostClock, Merger

__all__ = [
    "ACC_RANGE_G",
    "FRAME_SIZE",
    "GYR_RANGE_DPS",
    "NOTIFY_CHAR_UUID",
    "RATE_CODES",
    "SERVICE_UUID",
    "WRITE_CHAR_UUID",
    "WitMotionDecoder",
    "WitParserState",
    "decode_imu_frame",
    "encode_imu_frame",
    "encode_register_reply",
    "identify",
    "read_register",
    "save",
    "set_rate",
    "unlock",
    "write_register",
]

SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_CHAR_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_CHAR_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"

FRAME_SIZE = 20
HEADER = 0x55
IMU = 0x61
REGISTERS = 0x71
ACC_RANGE_G = 16.0
GYR_RANGE_DPS = 2000.0
ANGLE_RANGE_DEG = 180.0
G0_MPS2 = 9.80665

#: Output rate (Hz) -> RRATE code (register 0x03), for the WT901BLECL family.
RATE_CODES: dict[float, int] = {
    0.2: 0x01,
    0.5: 0x02,
    1.0: 0x03,
    2.0: 0x04,
    5.0: 0x05,
    10.0: 0x06,
    20.0: 0x07,
    50.0: 0x08,
    100.0: 0x09,
    200.0: 0x0B,
}

_FRAME = struct.Struct("<2B9h")
_REGS = struct.Struct("<2BH8h")
_ACC = ACC_RANGE_G * G0_MPS2 / 32768.0
_GYR = GYR_RANGE_DPS * np.pi / 180.0 / 32768.0


def unlock() -> bytes:
    """``FF AA 69 88 B5``: unlock register writes for about 10 s (register 0x69 KEY = 0xB588)."""
    return write_register(0x69, 0xB588)


def save() -> bytes:
    """``FF AA 00 00 00``: keep the written registers."""
    return write_register(0x00, 0x0000)


def write_register(register: int, value: int) -> bytes:
    """``FF AA <reg> <lo> <hi>``."""
    if not 0 <= register <= 0xFF or not 0 <= value <= 0xFFFF:
        raise ParameterError(f"register must be 0..255 and value 0..65535, got {register!r}, {value!r}")
    return bytes([0xFF, 0xAA, register]) + struct.pack("<H", value)


def read_register(register: int) -> bytes:
    """``FF AA 27 <reg> 00``: the sensor answers with a ``55 71`` frame of 8 registers from ``register``."""
    return write_register(0x27, register)


def set_rate(rate_hz: float) -> bytes:
    """``FF AA 03 <code> 00`` (write it within 10 s of :func:`unlock`, then :func:`save`)."""
    return write_register(0x03, _rate_code(rate_hz))


def _rate_code(rate_hz: float) -> int:
    try:
        return RATE_CODES[float(rate_hz)]
    except (KeyError, TypeError, ValueError):
        raise ParameterError(f"rate_hz must be one of {sorted(RATE_CODES)} Hz, got {rate_hz!r}") from None


@dataclass(frozen=True)
class ImuFrame:
    """One ``0x61`` frame in SI units."""

    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    angles_deg: np.ndarray


def decode_imu_frame(frame: bytes) -> ImuFrame:
    """Decode one 20-byte ``55 61`` frame; :class:`ProtocolError` for anything else."""
    if len(frame) != FRAME_SIZE or frame[0] != HEADER or frame[1] != IMU:
        raise ProtocolError(f"WitMotion: expected a 20-byte frame starting 55 61, got {bytes(frame[:20]).hex(' ')}")
    v = np.array(_FRAME.unpack(frame)[2:], dtype=np.float64)
    return ImuFrame(v[0:3] * _ACC, v[3:6] * _GYR, v[6:9] * (ANGLE_RANGE_DEG / 32768.0))


def encode_imu_frame(acc_mps2: ArrayLike, gyr_rps: ArrayLike, angles_deg: ArrayLike = (0.0, 0.0, 0.0)) -> bytes:
    """The ``55 61`` frame for these values (rounded to the nearest count, clipped to int16)."""
    counts = np.concatenate(
        [
            np.asarray(acc_mps2, dtype=np.float64).reshape(3) / _ACC,
            np.asarray(gyr_rps, dtype=np.float64).reshape(3) / _GYR,
            np.asarray(angles_deg, dtype=np.float64).reshape(3) / (ANGLE_RANGE_DEG / 32768.0),
        ]
    )
    c = np.clip(np.round(counts), -32768, 32767).astype(int).tolist()
    return _FRAME.pack(HEADER, IMU, *c)


def encode_register_reply(register: int, values: ArrayLike) -> bytes:
    """``55 71 RegL RegH`` + 8 int16 registers from ``register`` (fewer values are zero-padded)."""
    v = [int(x) for x in np.asarray(values).reshape(-1)][:8]
    return _REGS.pack(HEADER, REGISTERS, register, *(v + [0] * (8 - len(v))))


def identify(name: str | None, service_uuids: tuple[str, ...], manufacturer_data: dict[int, bytes]) -> str | None:
    """The model if the advertisement looks like a WitMotion BLE 5.0 IMU, else None.

    WitMotion's own scanners accept any name containing ``"WT"`` and filter on nothing
    else; this is stricter: the name must start with ``WT`` followed by a digit (e.g.
    ``WT901BLE68``), or the advertisement lists the FFE5 service. The model is the name's
    product part (``WT9011…`` -> ``WT9011DCL``, ``WT901…`` -> ``WT901BLECL``).
    """
    text = (name or "").strip().upper()
    by_name = len(text) > 2 and text.startswith("WT") and text[2].isdigit()
    by_service = SERVICE_UUID in {u.lower() for u in service_uuids}
    if not (by_name or by_service):
        return None
    if text.startswith("WT9011"):
        return "WT9011DCL"
    if text.startswith("WT901"):
        return "WT901BLECL"
    return text.split()[0] if by_name else "WitMotion BLE 5.0"


@dataclass(frozen=True)
class WitParserState:
    """Bytes of an unfinished frame carried to the next notification, and its arrival time."""

    pending: bytes
    pending_host_s: float


class WitMotionDecoder(VendorDecoder):
    """WitMotion ``55 61`` frames -> SI samples; timing and loss estimated from host arrival.

    Parameters
    ----------
    sensor_id
        The sensor whose notifications this decoder takes.
    rate_hz
        The output rate written with :func:`set_rate` (10 Hz is the factory default).
    late_s
        Arrival later than the on-time envelope by more than this (s; None: half a
        period) holds the stream until it is known whether samples were lost or the link
        only delayed them (see :class:`~dmi_sensors.vendors._timeline.HostClock`).
    hold_s
        How long (host time, s) late frames are held, waiting for one on time, before
        they are taken as following lost samples.
    """

    vendor: ClassVar[str] = "witmotion"

    def __init__(self, sensor_id: str, rate_hz: float = 10.0, late_s: float | None = None, hold_s: float = 0.5) -> None:
        super().__init__(sensor_id=sensor_id, rate_hz=rate_hz, late_s=late_s, hold_s=hold_s)
        _rate_code(rate_hz)
        if not ((late_s is None or late_s > 0) and hold_s > 0):
            raise ParameterError(f"late_s (or None) and hold_s must be positive, got {late_s!r}, {hold_s!r}")
        period = 1.0 / float(rate_hz)
        clock = HostClock(period, late_s=late_s, hold_s=float(hold_s))
        merger = Merger("combined", period, shared_clock=False, max_pending=1)
        self._setup(float(rate_hz), [clock], merger, "estimated", "host_arrival")

    def _reset_parser(self) -> None:
        self._pending = b""
        self._pending_host = 0.0

    def _parser_state(self) -> WitParserState:
        return WitParserState(self._pending, self._pending_host)

    def _set_parser_state(self, value: object) -> None:
        if not isinstance(value, WitParserState):
            raise ParameterError(f"WitMotionDecoder.state: parser must be a WitParserState, got {value!r}")
        self._pending = bytes(value.pending)
        self._pending_host = float(value.pending_host_s)

    def _parse(self, packet: RawPacket) -> list[Chunk]:
        data = bytes(packet.data)
        buf = self._pending
        if buf and len(data) >= 2 and data[0] == HEADER and data[1] in (IMU, REGISTERS):
            self._malformed("truncated")  # a new frame starts: the carried bytes were a cut-off frame
            buf = b""
        buf += data
        frames: list[tuple[int, ...]] = []
        bad = False
        i = 0
        n = len(buf)
        while n - i >= 2:
            if buf[i] != HEADER or buf[i + 1] not in (IMU, REGISTERS):
                j = buf.find(bytes([HEADER]), i + 1)
                while j != -1 and j + 1 < n and buf[j + 1] not in (IMU, REGISTERS):
                    j = buf.find(bytes([HEADER]), j + 1)
                bad = True
                i = n if j == -1 else j
                continue
            if n - i < FRAME_SIZE:
                break
            if buf[i + 1] == IMU:
                frames.append(_FRAME.unpack_from(buf, i))
            else:
                self._registers(buf[i : i + FRAME_SIZE])
            i += FRAME_SIZE
        if bad:
            self._malformed("resync")
        else:
            self._packets_ok += 1
        self._pending = buf[i:]
        self._pending_host = packet.host_time_s
        if not frames:
            return []
        v = np.array([f[2:8] for f in frames], dtype=np.float64)
        values = np.concatenate([v[:, :3] * _ACC, v[:, 3:6] * _GYR], axis=1)
        return [Chunk(0, packet.host_time_s, values)]

    def _registers(self, frame: bytes) -> None:
        _, _, start, *regs = _REGS.unpack(frame)
        for k, value in enumerate(regs):
            reg = start + k
            if reg == 0x64:  # BLE 5.0 battery voltage, 0.01 V
                self._extra["battery_v"] = value / 100.0
            elif reg == 0x03:
                self._extra["rate_code"] = value
