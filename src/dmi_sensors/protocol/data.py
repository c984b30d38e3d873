"""Data packets: encode and decode one notification, and packetize a recording.

Full data packet (``PacketType.DATA``), little-endian, ``14 + 12 n`` bytes, n = 1..19::

    off size field
    0   1    version        major << 4 | minor (0x10 for v1.0)
    1   1    type           0x01
    2   1    flags          DataFlags (bits 4-7 reserved)
    3   1    config         bits 0-2 rate code, 3-4 acc range code, 5-7 gyro range code
    4   1    n              samples in this packet (1..19)
    5   1    reserved       sent 0, ignored
    6   4    counter        u32, sample counter of the first sample (wraps 2**32 -> 0)
    10  4    timestamp_us   u32, device clock at the first sample, µs (wraps every 4294.967296 s)
    14  12n  samples        n x (acc x, y, z, gyro x, y, z), int16

Compact data packet (``PacketType.DATA_COMPACT``, degraded mode for a 20-byte payload)::

    0   1    version
    1   1    type           0x02
    2   1    config
    3   2    counter        u16 (wraps 2**16 -> 0)
    5   3    timestamp_us   u24, µs (wraps every 16.777216 s)
    8   12   one sample

Sample k of a packet has counter ``counter + k`` (modulo the wire width) and nominal device
time ``timestamp_us + k * 1e6 / fs_hz``. A packet of a newer minor version may carry
trailing bytes after the samples, which this decoder ignores.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from dmi_sensors.protocol.constants import (
    BYTES_PER_SAMPLE,
    COMPACT_COUNTER_MODULUS,
    COMPACT_HEADER_SIZE,
    COMPACT_PACKET_SIZE,
    COMPACT_TIMESTAMP_MODULUS,
    COUNTER_MODULUS,
    DATA_HEADER_SIZE,
    MAX_SAMPLES_PER_PACKET,
    PROTOCOL_MINOR,
    TIMESTAMP_MODULUS,
    PacketType,
    acc_scale_mps2,
    check_version,
    config_byte,
    gyr_scale_rps,
    parse_config_byte,
    version_byte,
)
from dmi_sensors.protocol.errors import ProtocolError

__all__ = [
    "DataPacket",
    "data_packet_counter",
    "decode_data_packet",
    "encode_compact_packet",
    "encode_data_packet",
    "packetize",
]

_FULL_HEADER = struct.Struct("<BBBBBBII")
_SAMPLE_DTYPE = np.dtype("<i2")


@dataclass(frozen=True, eq=False)
class DataPacket:
    """One decoded data notification (full or compact format).

    Attributes
    ----------
    version
        ``(major, minor)`` from byte 0.
    flags
        :class:`~dmi_sensors.protocol.constants.DataFlags` bits (0 for compact packets, which carry none).
    counter
        Sample counter of the first sample, as on the wire (32-bit, or 16-bit when compact).
    timestamp_us
        Device clock at the first sample, µs, as on the wire (32-bit, or 24-bit when compact).
    fs_hz, acc_range_g, gyr_range_dps
        Nominal rate (Hz) and full scales (±g, ±deg/s) from the config byte.
    acc_counts, gyr_counts
        Raw int16 counts, shape ``(n, 3)``, sensor frame.
    compact
        True for a ``DATA_COMPACT`` packet.
    """

    version: tuple[int, int]
    flags: int
    counter: int
    timestamp_us: int
    fs_hz: int
    acc_range_g: int
    gyr_range_dps: int
    acc_counts: np.ndarray
    gyr_counts: np.ndarray
    compact: bool = False

    @property
    def n_samples(self) -> int:
        return int(self.acc_counts.shape[0])

    @property
    def acc_mps2(self) -> np.ndarray:
        """Specific force, m/s², ``counts * acc_range_g * 9.80665 / 32768``, shape ``(n, 3)``."""
        return self.acc_counts.astype(np.float64) * acc_scale_mps2(self.acc_range_g)

    @property
    def gyr_rps(self) -> np.ndarray:
        """Angular rate, rad/s, ``counts * gyr_range_dps / 32768 * pi / 180``, shape ``(n, 3)``."""
        return self.gyr_counts.astype(np.float64) * gyr_scale_rps(self.gyr_range_dps)

    @property
    def counter_modulus(self) -> int:
        return COMPACT_COUNTER_MODULUS if self.compact else COUNTER_MODULUS

    @property
    def timestamp_modulus(self) -> int:
        return COMPACT_TIMESTAMP_MODULUS if self.compact else TIMESTAMP_MODULUS


def _counts(name: str, counts: np.ndarray) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ProtocolError(f"{name} must have shape (n, 3), got {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < -32768 or arr.max() > 32767):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ProtocolError(f"{name} must be integer counts, got dtype {arr.dtype}")
        raise ProtocolError(f"{name} must lie in int16 range [-32768, 32767], got [{arr.min()}, {arr.max()}]")
    return arr.astype("<i2")


def _samples_bytes(acc: np.ndarray, gyr: np.ndarray) -> bytes:
    return np.concatenate([acc, gyr], axis=1).astype("<i2").tobytes()


def encode_data_packet(
    counter: int,
    timestamp_us: int,
    fs_hz: float,
    acc_range_g: float,
    gyr_range_dps: float,
    acc_counts: np.ndarray,
    gyr_counts: np.ndarray,
    flags: int = 0,
) -> bytes:
    """Encode one full data packet (``14 + 12 n`` bytes, n = 1..19; layout in the module docstring).

    ``counter`` and ``timestamp_us`` are reduced modulo 2**32 (the firmware's wrap-around).
    ``acc_counts`` / ``gyr_counts`` are int16 counts of shape ``(n, 3)``.
    """
    acc = _counts("acc_counts", acc_counts)
    gyr = _counts("gyr_counts", gyr_counts)
    n = acc.shape[0]
    if gyr.shape[0] != n:
        raise ProtocolError(f"acc_counts has {n} samples but gyr_counts has {gyr.shape[0]}")
    if not 1 <= n <= MAX_SAMPLES_PER_PACKET:
        raise ProtocolError(f"a data packet carries 1..{MAX_SAMPLES_PER_PACKET} samples, got {n}")
    if not 0 <= flags <= 0xFF:
        raise ProtocolError(f"flags must fit one byte, got {flags}")
    cfg = config_byte(fs_hz, acc_range_g, gyr_range_dps)
    header = _FULL_HEADER.pack(
        version_byte(),
        PacketType.DATA,
        flags,
        cfg,
        n,
        0,
        int(counter) % COUNTER_MODULUS,
        int(timestamp_us) % TIMESTAMP_MODULUS,
    )
    return header + _samples_bytes(acc, gyr)


def encode_compact_packet(
    counter: int,
    timestamp_us: int,
    fs_hz: float,
    acc_range_g: float,
    gyr_range_dps: float,
    acc_counts: np.ndarray,
    gyr_counts: np.ndarray,
) -> bytes:
    """Encode one compact (degraded-mode) data packet: 20 bytes, one sample.

    ``counter`` is reduced modulo 2**16 and ``timestamp_us`` modulo 2**24.
    """
    acc = _counts("acc_counts", acc_counts)
    gyr = _counts("gyr_counts", gyr_counts)
    if acc.shape[0] != 1 or gyr.shape[0] != 1:
        raise ProtocolError(f"a compact packet carries exactly 1 sample, got {acc.shape[0]} / {gyr.shape[0]}")
    cfg = config_byte(fs_hz, acc_range_g, gyr_range_dps)
    c = int(counter) % COMPACT_COUNTER_MODULUS
    t = int(timestamp_us) % COMPACT_TIMESTAMP_MODULUS
    header = bytes([version_byte(), PacketType.DATA_COMPACT, cfg, c & 0xFF, c >> 8, t & 0xFF, (t >> 8) & 0xFF, t >> 16])
    return header + _samples_bytes(acc, gyr)


def decode_data_packet(data: bytes) -> DataPacket:
    """Decode one data notification (full or compact); raise :class:`ProtocolError` if malformed."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"data packet: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    version, flags, n, counter, ts, cfg, start, compact = _data_header(data)
    fs, acc_g, gyr_dps = cfg
    body = data[start : start + BYTES_PER_SAMPLE * n]
    samples = np.frombuffer(body, dtype=_SAMPLE_DTYPE).reshape(n, 6).astype(np.int16)
    return DataPacket(version, flags, counter, ts, fs, acc_g, gyr_dps, samples[:, :3], samples[:, 3:], compact)


def data_packet_counter(data: bytes) -> int | None:
    """The first sample's counter of a data packet :func:`decode_data_packet` accepts, else None.

    The header alone is checked, by the decoder's own rules (version, type, sample count,
    length, config byte), and the samples are not decoded: the recorder's store writer
    reads this for every notification (about 850 per second at 16 sensors x 1 kHz). None
    for status packets, responses, malformed notifications and other formats.
    """
    try:
        return _data_header(bytes(data))[3]
    except ProtocolError:
        return None


def _data_header(
    data: bytes,
) -> tuple[tuple[int, int], int, int, int, int, tuple[int, int, int], int, bool]:
    """Check a data packet's header: ``(version, flags, n, counter, timestamp, (fs_hz, acc_g,
    gyr_dps), first sample byte, compact)``; raise :class:`ProtocolError` naming the fault."""
    if len(data) < 2:
        raise ProtocolError(f"data packet: {len(data)} bytes is too short for the version and type bytes")
    version = check_version(data[0], "data packet")
    newer = version[1] > PROTOCOL_MINOR
    ptype = data[1]
    if ptype == PacketType.DATA:
        if len(data) < DATA_HEADER_SIZE:
            raise ProtocolError(f"data packet: {len(data)} bytes is shorter than the {DATA_HEADER_SIZE}-byte header")
        _, _, flags, cfg, n, _, counter, ts = _FULL_HEADER.unpack_from(data)
        if not 1 <= n <= MAX_SAMPLES_PER_PACKET:
            raise ProtocolError(f"data packet: sample count (byte 4) is {n}, expected 1..{MAX_SAMPLES_PER_PACKET}")
        need = DATA_HEADER_SIZE + BYTES_PER_SAMPLE * n
        if len(data) != need and not (newer and len(data) > need):
            raise ProtocolError(
                f"data packet: {n} samples need {DATA_HEADER_SIZE} + 12*{n} = {need} bytes, got {len(data)}"
            )
        return (
            version,
            flags,
            n,
            counter,
            ts,
            parse_config_byte(cfg, "data packet: config byte 3"),
            DATA_HEADER_SIZE,
            False,
        )
    if ptype == PacketType.DATA_COMPACT:
        if len(data) != COMPACT_PACKET_SIZE and not (newer and len(data) > COMPACT_PACKET_SIZE):
            raise ProtocolError(f"compact data packet: expected {COMPACT_PACKET_SIZE} bytes, got {len(data)}")
        config = parse_config_byte(data[2], "compact data packet: config byte 2")
        counter = data[3] | data[4] << 8
        ts = data[5] | data[6] << 8 | data[7] << 16
        return version, 0, 1, counter, ts, config, COMPACT_HEADER_SIZE, True
    raise ProtocolError(f"data packet: packet type 0x{ptype:02X} is not a data packet (0x01 or 0x02)")


def packet_timestamps_us(first_timestamp_us: int, sample_index: np.ndarray, fs_hz: float, clock_scale: float = 1.0):
    """Device clock (µs, not wrapped) of the given sample indices, as the firmware model produces it.

    The device timer advances ``1e6 / fs_hz * clock_scale`` µs per sample and is read as an
    integer (truncated): ``first_timestamp_us + floor(k * 1e6 * clock_scale / fs_hz)``.
    """
    period_us = 1e6 * clock_scale / fs_hz
    return int(first_timestamp_us) + np.floor(np.asarray(sample_index, dtype=np.float64) * period_us).astype(np.int64)


def packetize(
    acc_counts: np.ndarray,
    gyr_counts: np.ndarray,
    first_counter: int,
    first_timestamp_us: int,
    fs_hz: float,
    acc_range_g: float,
    gyr_range_dps: float,
    samples_per_packet: int = MAX_SAMPLES_PER_PACKET,
    clock_scale: float = 1.0,
    *,
    flags: int = 0,
    compact: bool = False,
) -> list[bytes]:
    """Cut a recording of int16 counts into data packets exactly as the firmware would.

    Packet j carries samples ``j*s .. j*s+s-1`` (s = ``samples_per_packet``; the last packet
    may be shorter). Its counter is ``(first_counter + j*s) mod M`` and its timestamp is
    ``packet_timestamps_us(first_timestamp_us, j*s, fs_hz, clock_scale) mod T``, with
    ``M, T = 2**32, 2**32`` (full) or ``2**16, 2**24`` (``compact=True``, which forces s = 1).
    ``clock_scale`` models device clock drift: 1 + 50e-6 is a device clock running 50 ppm fast.

    Returns the notification payloads in order. Vectorised (no per-sample Python loop).
    """
    acc = _counts("acc_counts", acc_counts)
    gyr = _counts("gyr_counts", gyr_counts)
    n = acc.shape[0]
    if gyr.shape[0] != n:
        raise ProtocolError(f"acc_counts has {n} samples but gyr_counts has {gyr.shape[0]}")
    if not (math.isfinite(clock_scale) and clock_scale > 0):
        raise ProtocolError(f"clock_scale must be a positive finite number, got {clock_scale}")
    cfg = config_byte(fs_hz, acc_range_g, gyr_range_dps)
    if n == 0:
        return []
    s = 1 if compact else int(samples_per_packet)
    if not 1 <= s <= MAX_SAMPLES_PER_PACKET:
        raise ProtocolError(f"samples_per_packet must be 1..{MAX_SAMPLES_PER_PACKET}, got {samples_per_packet}")
    if not 0 <= flags <= 0xFF:
        raise ProtocolError(f"flags must fit one byte, got {flags}")
    first_counter = int(first_counter) % COUNTER_MODULUS
    first_timestamp_us = int(first_timestamp_us) % TIMESTAMP_MODULUS
    n_packets = -(-n // s)
    starts = np.arange(n_packets, dtype=np.int64) * s
    counts = np.minimum(s, n - starts)
    ts = packet_timestamps_us(first_timestamp_us, starts, fs_hz, clock_scale)
    samples = np.concatenate([acc, gyr], axis=1).astype("<i2")  # (n, 6)
    if compact:
        c = (first_counter + starts) % COMPACT_COUNTER_MODULUS
        t = ts % COMPACT_TIMESTAMP_MODULUS
        hdr = np.empty((n_packets, COMPACT_HEADER_SIZE), dtype=np.uint8)
        hdr[:, 0] = version_byte()
        hdr[:, 1] = PacketType.DATA_COMPACT
        hdr[:, 2] = cfg
        hdr[:, 3] = c & 0xFF
        hdr[:, 4] = c >> 8
        hdr[:, 5] = t & 0xFF
        hdr[:, 6] = (t >> 8) & 0xFF
        hdr[:, 7] = t >> 16
        rows = np.concatenate([hdr, samples.view(np.uint8).reshape(n, BYTES_PER_SAMPLE)], axis=1)
        flat = rows.tobytes()
        return [flat[i : i + COMPACT_PACKET_SIZE] for i in range(0, len(flat), COMPACT_PACKET_SIZE)]
    hdr_dtype = np.dtype(
        [("v", "u1"), ("t", "u1"), ("f", "u1"), ("c", "u1"), ("n", "u1"), ("r", "u1"), ("cnt", "<u4"), ("ts", "<u4")]
    )
    hdr = np.zeros(n_packets, dtype=hdr_dtype)
    hdr["v"] = version_byte()
    hdr["t"] = PacketType.DATA
    hdr["f"] = flags
    hdr["c"] = cfg
    hdr["n"] = counts
    hdr["cnt"] = (first_counter + starts) % COUNTER_MODULUS
    hdr["ts"] = ts % TIMESTAMP_MODULUS
    hdr_bytes = hdr.tobytes()
    body = samples.tobytes()
    out = []
    for j in range(n_packets):  # one Python step per packet, not per sample
        h = DATA_HEADER_SIZE * j
        b = BYTES_PER_SAMPLE * int(starts[j])
        out.append(hdr_bytes[h : h + DATA_HEADER_SIZE] + body[b : b + BYTES_PER_SAMPLE * int(counts[j])])
    return out
