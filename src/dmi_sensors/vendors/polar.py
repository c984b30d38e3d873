"""Polar Verity Sense and H10: the Polar Measurement Data (PMD) service, decoder and encoder.

Sources: *Polar Measurement Data*, ``technical_documentation/online_measurement.pdf``,
Version 1.0 – August 2024 ("PMD 2024" below), and *PMD Specification for 3rd Party*
(``technical_documentation/Polar_Measurement_Data_Specification.pdf``, last changed
2021-02-23, "PMD 2021"), both in ``polarofficial/polar-ble-sdk``; the SDK's parsers and
unit tests (``AccData.kt``, ``GyrData.kt``, ``BlePMDClient.kt``, ``PmdSetting.kt``,
``PmdControlPointResponse.kt``) for what the documents leave open.

Service ``FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8``: control point ``…5C81`` (read: feature
bits; write: commands; responses as indications), data ``…5C82`` (notifications).

**Data frame** (PMD 2024 "Data frame"; all fields little-endian)::

    0   u8    measurement type (& 0x3F): 2 ACC, 5 GYRO
    1   u64   timestamp, ns since 2000-01-01T00:00:00Z, of the LAST sample in the frame
    9   u8    frame type: bit 7 = delta-compressed, bits 0-6 = type
    10  ...   samples

Frame types (PMD 2024 Tables 7-12; SDK ``AccData``/``GyrData``):

=======  ======  =========================  =============================================
meas.    frame   payload                    unit
=======  ======  =========================  =============================================
ACC      0x00    n × 3 × int8               G on Verity Sense, mG on other devices
ACC      0x01    n × 3 × int16              mG
ACC      0x02    n × 3 × int24              mG
ACC      0x80    delta, 16-bit              counts × FACTOR × 1000 → mG ("type 0 data in G")
ACC      0x81    delta, 16-bit              mG (× FACTOR when it is not 1)
GYRO     0x80    delta, 16-bit              counts × FACTOR → deg/s
GYRO     0x81    delta, 32-bit IEEE-754     deg/s (× FACTOR when it is not 1)
=======  ======  =========================  =============================================

FACTOR comes in the start response (settings type 5, f32); 1 when absent.

**Delta compression** (PMD 2021 "Delta frame", SDK ``parseDeltaFramesAll``): a reference
sample of ``channels × ceil(resolution / 8)`` bytes (each channel sign-extended from
``resolution`` bits; for 32-bit float the raw bit pattern), then blocks ``[bit width u8]
[count u8][ceil(count × width × channels / 8) bytes]``: one little-endian bit string,
``width``-bit fields taken LSB first, channel-interleaved, each sign-extended; sample k =
sample k-1 + delta (for floats the bit patterns are added). Samples = 1 + Σ counts.

Timing and loss are **exact** from the frame timestamps
(:class:`~dmi_sensors.vendors._timeline.ExactClock`, tick 1 ns): the samples of a frame
end at its timestamp, spaced by the device period measured from loss-free frames; a frame
that ends later than its samples can fill is preceded by lost samples. (The SDK instead
spreads each frame over the time since the previous one, hiding losses.) The Verity
Sense's ACC and GYRO frames share one device clock and are paired on it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dmi_sensors.errors import ParameterError, ProtocolError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors._base import VendorDecoder
from dmi_sensors.vendors._timeline import Chunk, ExactClock, Merger

__all__ = [
    "ACC",
    "COMPANY_ID",
    "CONTROL_POINT_UUID",
    "DATA_UUID",
    "GYRO",
    "MODELS",
    "PMD_SERVICE_UUID",
    "ControlPointResponse",
    "PmdFrame",
    "PolarDecoder",
    "decode_control_point_response",
    "decode_delta_samples",
    "decode_frame",
    "decode_settings",
    "encode_delta_samples",
    "encode_frame",
    "encode_settings",
    "identify",
    "start_command",
    "stop_command",
]

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
#: Bluetooth company identifier of Polar Electro Oy (the SDK's scan filter).
COMPANY_ID = 0x006B

ACC = 2
GYRO = 5
#: Models and whether they have a gyroscope (H10: ACC only; products/PolarH10.md).
MODELS: dict[str, bool] = {"H10": False, "Verity Sense": True}
#: Sample rates per model (H10 ACC: PolarH10.md; Verity Sense ACC/GYRO, SDK mode included: PolarVeritySense.md).
RATES_HZ: dict[str, tuple[int, ...]] = {"H10": (25, 50, 100, 200), "Verity Sense": (26, 52, 104, 208, 416)}

#: Seconds from the Unix epoch to the PMD epoch 2000-01-01T00:00:00Z.
PMD_EPOCH_UNIX_S = 946_684_800
G0_MPS2 = 9.80665
_DEG = math.pi / 180.0

_HEADER = struct.Struct("<BQB")
HEADER_SIZE = _HEADER.size  # 10


@dataclass(frozen=True)
class PmdFrame:
    """One decoded data frame, in the units of the table above (mG, deg/s).

    Attributes
    ----------
    measurement
        Measurement type (2 ACC, 5 GYRO).
    timestamp_ns
        Device time of the last sample, ns since 2000-01-01 UTC.
    frame_type
        The frame type byte (bit 7: compressed).
    samples
        ``(n, 3)`` float64 in mG (ACC) or deg/s (GYRO).
    """

    measurement: int
    timestamp_ns: int
    frame_type: int
    samples: NDArray[np.float64]


def _sign_extend(values: NDArray[np.int64], bits: int) -> NDArray[np.int64]:
    if bits == 0:
        return values
    sign = np.int64(1) << (bits - 1)
    return (values ^ sign) - sign


def decode_delta_samples(payload: bytes, channels: int, resolution: int) -> NDArray[np.int64]:
    """Integer samples ``(n, channels)`` of a delta-compressed payload (module docstring).

    For ``resolution == 32`` the values are the raw 32-bit patterns (unsigned) with
    additions modulo 2**32, so a float channel reads ``.astype(np.uint32).view(np.float32)``.
    Raises :class:`ProtocolError` for a truncated reference sample or block.
    """
    ref_size = channels * math.ceil(resolution / 8)
    if len(payload) < ref_size:
        raise ProtocolError(f"PMD delta frame: reference sample needs {ref_size} bytes, got {len(payload)}")
    width_bytes = ref_size // channels
    ref = np.array(
        [int.from_bytes(payload[i * width_bytes : (i + 1) * width_bytes], "little") for i in range(channels)],
        dtype=np.int64,
    )
    if resolution < 32:
        ref = _sign_extend(ref & ((1 << resolution) - 1), resolution)
    deltas = []
    pos = ref_size
    while pos < len(payload):
        if len(payload) - pos < 2:
            raise ProtocolError(f"PMD delta frame: block header at byte {pos} is cut off")
        width, count = payload[pos], payload[pos + 1]
        if width > 32:
            raise ProtocolError(f"PMD delta frame: bit width {width} at byte {pos} is over 32")
        size = math.ceil(count * width * channels / 8)
        block = payload[pos + 2 : pos + 2 + size]
        if len(block) < size:
            raise ProtocolError(f"PMD delta frame: block at byte {pos} needs {size} bytes, got {len(block)}")
        pos += 2 + size
        if count == 0:
            continue
        if width == 0:
            deltas.append(np.zeros((count, channels), dtype=np.int64))
            continue
        bits = np.unpackbits(np.frombuffer(block, dtype=np.uint8), bitorder="little")[: count * width * channels]
        fields = bits.reshape(count * channels, width).astype(np.int64)
        values = fields @ (np.int64(1) << np.arange(width, dtype=np.int64))
        deltas.append(_sign_extend(values, width).reshape(count, channels))
    d = np.concatenate([np.zeros((1, channels), dtype=np.int64), *deltas])
    out = ref[None, :] + np.cumsum(d, axis=0)
    if resolution >= 32:
        out &= (1 << 32) - 1
    return out


def encode_delta_samples(samples: ArrayLike, resolution: int, block: int = 255) -> bytes:
    """Delta-compress integer samples ``(n, channels)`` (the inverse of :func:`decode_delta_samples`).

    Each block of up to ``block`` deltas uses the smallest bit width that holds them. With
    ``resolution == 32`` the samples are bit patterns and deltas wrap modulo 2**32.
    """
    s = np.asarray(samples, dtype=np.int64)
    if s.ndim != 2 or s.shape[0] == 0:
        raise ParameterError(f"samples must be (n >= 1, channels), got shape {s.shape}")
    if not 1 <= block <= 255:
        raise ParameterError(f"block must be 1..255, got {block}")
    nbytes = math.ceil(resolution / 8)
    out = bytearray()
    for value in s[0]:
        out += int(value % (1 << (8 * nbytes))).to_bytes(nbytes, "little")
    d = np.diff(s, axis=0)
    if resolution >= 32:
        d = ((d + (1 << 31)) % (1 << 32)) - (1 << 31)
    for start in range(0, d.shape[0], block):
        part = d[start : start + block]
        top = int(np.max(np.maximum(part, -part - 1))) if part.size else 0
        width = 0 if not part.any() else top.bit_length() + 1
        out += bytes([width, part.shape[0]])
        if width:
            u = part.reshape(-1) & ((1 << width) - 1)
            bits = ((u[:, None] >> np.arange(width)) & 1).astype(np.uint8).reshape(-1)
            pad = (-bits.size) % 8
            out += np.packbits(np.concatenate([bits, np.zeros(pad, np.uint8)]), bitorder="little").tobytes()
    return bytes(out)


_RAW_SIZES = {0x00: 1, 0x01: 2, 0x02: 3}


def _raw(payload: bytes, size: int) -> NDArray[np.int64]:
    step = 3 * size
    if len(payload) % step:
        raise ProtocolError(f"PMD raw frame: {len(payload)} payload bytes is not a whole number of {step}-byte samples")
    b = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3, size).astype(np.int64)
    v = np.zeros(b.shape[:2], dtype=np.int64)
    for k in range(size):
        v |= b[:, :, k] << (8 * k)
    return _sign_extend(v, 8 * size)


def decode_frame(data: bytes, *, factor: float = 1.0, model: str = "Verity Sense") -> PmdFrame:
    """Decode one ACC or GYRO data frame into mG / deg/s (:class:`ProtocolError` when it is not one).

    ``factor`` is the start response's conversion factor for this measurement; ``model``
    decides the unit of ACC frame type 0 (G on the Verity Sense, mG otherwise).
    """
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"PMD frame: expected at least {HEADER_SIZE} header bytes, got {len(data)}")
    meas, ts, ftype = _HEADER.unpack_from(data)
    meas &= 0x3F
    payload = bytes(data[HEADER_SIZE:])
    compressed = bool(ftype & 0x80)
    kind = ftype & 0x7F
    f = float(factor)
    if meas == ACC:
        if not compressed and kind in _RAW_SIZES:
            v = _raw(payload, _RAW_SIZES[kind]).astype(np.float64)
            if kind == 0 and model == "Verity Sense":
                v = v * 1000.0
        elif compressed and kind == 0:
            v = decode_delta_samples(payload, 3, 16).astype(np.float64) * f * 1000.0
        elif compressed and kind == 1:
            v = decode_delta_samples(payload, 3, 16).astype(np.float64)
            if f != 1.0:
                v = v * f
        else:
            raise ProtocolError(f"PMD frame: unknown ACC frame type 0x{ftype:02X}")
    elif meas == GYRO:
        if compressed and kind == 0:
            v = decode_delta_samples(payload, 3, 16).astype(np.float64) * f
        elif compressed and kind == 1:
            bits = decode_delta_samples(payload, 3, 32).astype(np.uint32)
            v = bits.view(np.float32).astype(np.float64)
            if f != 1.0:
                v = v * f
        else:
            raise ProtocolError(f"PMD frame: unsupported GYRO frame type 0x{ftype:02X}")
    else:
        raise ProtocolError(f"PMD frame: measurement type {meas} is not ACC (2) or GYRO (5)")
    if v.shape[0] == 0:
        raise ProtocolError("PMD frame: no samples")
    return PmdFrame(meas, ts, ftype, np.ascontiguousarray(v, dtype=np.float64))


def encode_frame(measurement: int, timestamp_ns: int, frame_type: int, samples: ArrayLike) -> bytes:
    """A data frame: header + samples (the inverse of :func:`decode_frame` with factor 1).

    ``samples`` are integer counts in the frame type's unit; for GYRO 0x81 they are float
    deg/s (encoded as IEEE-754 bit patterns).
    """
    s = np.asarray(samples)
    header = _HEADER.pack(measurement & 0x3F, int(timestamp_ns), frame_type)
    compressed = bool(frame_type & 0x80)
    kind = frame_type & 0x7F
    if not compressed and kind in _RAW_SIZES and measurement == ACC:
        size = _RAW_SIZES[kind]
        v = np.asarray(np.round(s), dtype=np.int64).reshape(-1)
        return header + b"".join(int(x % (1 << (8 * size))).to_bytes(size, "little") for x in v)
    if compressed and measurement == GYRO and kind == 1:
        bits = np.asarray(s, dtype=np.float32).view(np.uint32).astype(np.int64)
        return header + encode_delta_samples(bits, 32)
    if compressed and kind in (0, 1):
        return header + encode_delta_samples(np.asarray(np.round(s), dtype=np.int64), 16)
    raise ParameterError(f"cannot encode frame type 0x{frame_type:02X} for measurement {measurement}")


# -- control point: settings, start/stop, responses ---------------------------------------
#: Settings TLV types and value sizes (PMD 2024 "Measurement settings"; SDK PmdSetting).
SETTING_SIZES = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4, 6: 16}
SETTING_NAMES = {0: "sample_rate", 1: "resolution", 2: "range", 3: "range_milliunit", 4: "channels", 5: "factor"}


def decode_settings(data: bytes) -> dict[str, list[float]]:
    """Settings TLVs ``<type u8><count u8><count × value>`` -> ``{name: [values]}`` (factor as f32)."""
    out: dict[str, list[float]] = {}
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            raise ProtocolError(f"PMD settings: TLV header at byte {pos} is cut off")
        kind, count = data[pos], data[pos + 1]
        size = SETTING_SIZES.get(kind)
        if size is None:
            raise ProtocolError(f"PMD settings: unknown setting type {kind} at byte {pos}")
        body = data[pos + 2 : pos + 2 + size * count]
        if len(body) < size * count:
            raise ProtocolError(f"PMD settings: type {kind} at byte {pos} needs {size * count} bytes")
        values: list[float] = []
        for k in range(count):
            raw = body[k * size : (k + 1) * size]
            values.append(struct.unpack("<f", raw)[0] if kind == 5 else int.from_bytes(raw, "little"))
        out[SETTING_NAMES.get(kind, f"type_{kind}")] = values
        pos += 2 + size * count
    return out


def encode_settings(settings: Mapping[str, float]) -> bytes:
    """One value per setting as TLVs in the order given (a start request; FACTOR is never sent)."""
    by_name = {v: k for k, v in SETTING_NAMES.items()}
    out = bytearray()
    for name, value in settings.items():
        kind = by_name.get(name)
        if kind is None or kind == 5:
            raise ParameterError(f"setting must be one of {sorted(set(by_name) - {'factor'})}, got {name!r}")
        out += bytes([kind, 1]) + int(value).to_bytes(SETTING_SIZES[kind], "little")
    return bytes(out)


def start_command(measurement: int, settings: Mapping[str, float]) -> bytes:
    """``02 <type> <TLVs>``: start an online measurement."""
    return bytes([0x02, measurement]) + encode_settings(settings)


def stop_command(measurement: int) -> bytes:
    """``03 <type>``: stop an online measurement."""
    return bytes([0x03, measurement])


@dataclass(frozen=True)
class ControlPointResponse:
    """A control point response ``F0 <opcode> <type> <status> <more> <parameters>``."""

    opcode: int
    measurement: int
    status: int
    more: bool
    parameters: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0


def decode_control_point_response(data: bytes) -> ControlPointResponse:
    """Decode a response indication (PMD 2024 "Control point response")."""
    if len(data) < 4 or data[0] != 0xF0:
        raise ProtocolError(f"PMD control point: expected F0 <opcode> <type> <status>..., got {bytes(data).hex(' ')}")
    more = len(data) > 4 and data[4] != 0
    return ControlPointResponse(data[1], data[2], data[3], more, bytes(data[5:]))


def identify(name: str | None, service_uuids: tuple[str, ...], manufacturer_data: dict[int, bytes]) -> str | None:
    """The model if the advertisement is a Polar sensor's, else None.

    Names are ``"Polar <model> <device id>"`` (``Polar H10 1A2B3C4D``, ``Polar Sense
    1A2B3C4D`` for the Verity Sense; SDK ``BleAdvertisementContent``); manufacturer data
    carries company 0x006B.
    """
    words = (name or "").split()
    polar_name = len(words) >= 2 and words[0].lower() == "polar"
    if not (polar_name or COMPANY_ID in manufacturer_data or PMD_SERVICE_UUID in {u.lower() for u in service_uuids}):
        return None
    model = " ".join(words[1:-1]) if polar_name and len(words) >= 3 else ""
    if model.lower() == "sense":
        return "Verity Sense"
    return model or "Polar"


class PolarDecoder(VendorDecoder):
    """PMD ACC (and GYRO) data frames -> SI samples, exact timing from the frame timestamps.

    Parameters
    ----------
    sensor_id
        The sensor whose data-characteristic notifications this decoder takes.
    model
        ``"H10"`` (ACC only) or ``"Verity Sense"`` (ACC and GYRO).
    rate_hz
        The sample rate started (the same for ACC and GYRO when both stream).
    gyroscope
        True when GYRO is streamed too (Verity Sense only); samples are then ACC and
        GYRO paired on the device clock. False: ACC only, the gyroscope columns are NaN.
    acc_factor, gyr_factor
        The conversion FACTOR of each start response (1.0 when it carried none).
    """

    vendor: ClassVar[str] = "polar"

    def __init__(
        self,
        sensor_id: str,
        model: str = "Verity Sense",
        rate_hz: int = 52,
        gyroscope: bool = True,
        acc_factor: float = 1.0,
        gyr_factor: float = 1.0,
    ) -> None:
        super().__init__(
            sensor_id=sensor_id,
            model=model,
            rate_hz=rate_hz,
            gyroscope=gyroscope,
            acc_factor=acc_factor,
            gyr_factor=gyr_factor,
        )
        if model not in MODELS:
            raise ParameterError(f"model must be one of {sorted(MODELS)}, got {model!r}")
        if rate_hz not in RATES_HZ[model] or isinstance(rate_hz, bool):
            raise ParameterError(f"rate_hz for the Polar {model} must be one of {RATES_HZ[model]}, got {rate_hz!r}")
        if gyroscope and not MODELS[model]:
            raise ParameterError(f"the Polar {model} has no gyroscope: gyroscope must be False")
        for name, f in (("acc_factor", acc_factor), ("gyr_factor", gyr_factor)):
            if not (isinstance(f, int | float) and math.isfinite(f) and f > 0):
                raise ParameterError(f"{name} must be a positive number, got {f!r}")
        period_ns = 1e9 / rate_hz
        clocks = [ExactClock(1e-9, period_ns, jump_s=30.0) for _ in range(2 if gyroscope else 1)]
        merger = Merger("pair" if gyroscope else "acc", 1.0 / rate_hz, shared_clock=True, max_pending=30 * rate_hz)
        self._setup(float(rate_hz), clocks, merger, "exact", "device_timestamps")

    def _parse(self, packet: RawPacket) -> list[Chunk]:
        data = packet.data
        if data[:1] == b"\xf0":  # a control-point response (stored with the data): no samples
            self._packets_ok += 1
            return []
        if len(data) < HEADER_SIZE:
            self._malformed("too_short")
            return []
        meas = data[0] & 0x3F
        if (meas == GYRO and not self.gyroscope) or meas not in (ACC, GYRO):
            self._packets_ok += 1  # another measurement on the same characteristic: not ours
            self._extra["ignored_frames"] = self._extra.get("ignored_frames", 0) + 1
            return []
        factor = self.acc_factor if meas == ACC else self.gyr_factor
        try:
            frame = decode_frame(data, factor=factor, model=self.model)
        except ProtocolError as exc:
            text = str(exc)
            self._malformed("unknown_frame_type" if "frame type" in text else "truncated")
            return []
        values = frame.samples * ((G0_MPS2 / 1000.0) if meas == ACC else _DEG)
        if not np.isfinite(values).all():
            self._malformed("non_finite")
            return []
        self._packets_ok += 1
        return [Chunk(0 if meas == ACC else 1, packet.host_time_s, values, frame.timestamp_ns)]
