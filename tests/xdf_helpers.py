"""An XDF writer for tests, written from the XDF specification (not from pyxdf).

Layout (XDF 1.0): the magic ``XDF:``, then chunks. A chunk is ``NumLengthBytes`` (1 byte: 1,
4 or 8), ``Length`` (that many bytes, little-endian: the tag and the content), ``Tag``
(uint16: 1 FileHeader, 2 StreamHeader, 3 Samples, 4 ClockOffset, 5 Boundary, 6 StreamFooter)
and the content. StreamHeader, Samples, ClockOffset and StreamFooter start with the uint32
stream id. Samples: ``NumSamples`` as a variable-length integer (1 byte giving 1, 4 or 8, then
the value), then per sample ``TimeStampBytes`` (0 or 8), the float64 timestamp, and the
values (numeric: little-endian per channel format; string: per channel a variable-length
length and the bytes). Boundary: a 16-byte UUID. ClockOffset: CollectionTime, OffsetValue
(float64 each).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

BOUNDARY_UUID = bytes.fromhex("4387A84E9E6A4E6EA3E0A4E1C6B7A85E")
_NUMPY = {"int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8", "float32": "<f4", "double64": "<f8"}


def varlen(value: int) -> bytes:
    if value < 256:
        return bytes([1]) + value.to_bytes(1, "little")
    if value < 2**32:
        return bytes([4]) + value.to_bytes(4, "little")
    return bytes([8]) + value.to_bytes(8, "little")


def chunk(tag: int, content: bytes, length_bytes: int | None = None) -> bytes:
    length = len(content) + 2
    nb = length_bytes or (1 if length < 256 else 4 if length < 2**32 else 8)
    return bytes([nb]) + length.to_bytes(nb, "little") + struct.pack("<H", tag) + content


@dataclass
class XdfStream:
    stream_id: int
    name: str
    type: str
    channel_format: str
    nominal_srate: float
    labels: Sequence[str] = ()
    units: Sequence[str] = ()
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    values: list | np.ndarray = field(default_factory=list)  # (n, channels) numeric, or list of strings
    serial: str = ""
    placement: str = ""
    channel_count: int | None = None

    def header_xml(self) -> bytes:
        count = self.channel_count or (len(self.labels) if self.labels else 1)
        chans = "".join(
            f"<channel><label>{escape(lbl)}</label><unit>{escape(u)}</unit></channel>"
            for lbl, u in zip(self.labels, self.units or [""] * len(self.labels), strict=True)
        )
        desc = f"<channels>{chans}</channels>" if chans else ""
        if self.serial:
            desc += f"<acquisition><serial_number>{escape(self.serial)}</serial_number></acquisition>"
        if self.placement:
            desc += f"<placement>{escape(self.placement)}</placement>"
        return (
            "<?xml version='1.0'?><info>"
            f"<name>{escape(self.name)}</name><type>{escape(self.type)}</type>"
            f"<channel_count>{count}</channel_count><nominal_srate>{self.nominal_srate!r}</nominal_srate>"
            f"<channel_format>{self.channel_format}</channel_format>"
            f"<source_id>{escape(self.name)}-src</source_id><created_at>100.0</created_at>"
            f"<uid>{self.stream_id:08d}-uid</uid><session_id>default</session_id>"
            "<hostname>localhost</hostname><v4address/><v4data_port>0</v4data_port>"
            "<v4service_port>0</v4service_port><v6address/><v6data_port>0</v6data_port>"
            f"<v6service_port>0</v6service_port><desc>{desc}</desc></info>"
        ).encode()

    def samples_content(self, lo: int, hi: int) -> bytes:
        out = bytearray(struct.pack("<I", self.stream_id))
        out += varlen(hi - lo)
        for k in range(lo, hi):
            out += bytes([8]) + struct.pack("<d", float(self.times[k]))
            if self.channel_format == "string":
                row = self.values[k]
                for text in [row] if isinstance(row, str) else row:
                    data = text.encode()
                    out += varlen(len(data)) + data
            else:
                out += np.asarray(self.values[k], dtype=_NUMPY[self.channel_format]).tobytes()
        return bytes(out)

    def footer_xml(self) -> bytes:
        n = len(self.times)
        first = float(self.times[0]) if n else 0.0
        last = float(self.times[-1]) if n else 0.0
        return (
            f"<?xml version='1.0'?><info><first_timestamp>{first!r}</first_timestamp>"
            f"<last_timestamp>{last!r}</last_timestamp><sample_count>{n}</sample_count>"
            "<clock_offsets><offset><time>100.0</time><value>0.0</value></offset></clock_offsets></info>"
        ).encode()


def xdf_bytes(
    streams: Sequence[XdfStream],
    *,
    datetime_text: str = "2026-03-10T09:30:00+0100",
    chunk_samples: int = 50,
    clock_offsets: Sequence[tuple[float, float]] = ((100.0, 0.0), (200.0, 0.0)),
) -> bytes:
    """A complete XDF file: header, stream headers, samples in chunks (streams interleaved),
    clock offsets, boundaries, footers (as LabRecorder orders them)."""
    out = bytearray(b"XDF:")
    out += chunk(
        1, f"<?xml version='1.0'?><info><version>1.0</version><datetime>{datetime_text}</datetime></info>".encode()
    )
    for s in streams:
        out += chunk(2, struct.pack("<I", s.stream_id) + s.header_xml())
    longest = max(len(s.times) for s in streams)
    for lo in range(0, longest, chunk_samples):
        for s in streams:
            hi = min(len(s.times), lo + chunk_samples)
            if hi > lo:
                out += chunk(3, s.samples_content(lo, hi))
        out += chunk(5, BOUNDARY_UUID)
    for s in streams:
        for when, offset in clock_offsets:
            out += chunk(4, struct.pack("<Idd", s.stream_id, when, offset))
    for s in streams:
        out += chunk(6, struct.pack("<I", s.stream_id) + s.footer_xml())
    return bytes(out)


def write_xdf(path: Path, streams: Sequence[XdfStream], **kwargs) -> Path:
    path.write_bytes(xdf_bytes(streams, **kwargs))
    return path
