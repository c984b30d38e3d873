"""XDF files (the Lab Streaming Layer's recording format, e.g. from LabRecorder) as sessions.

:func:`import_xdf` stores a file's IMU streams (one sensor each) and its marker streams (as
events) as one new ``origin='import'`` session, all or nothing. Which streams are IMU or
marker streams, and how their channels become SI samples and events, is
:mod:`dmi_sensors.store.lsl_layout` (the same rules as the LSL inlet). Other streams (EEG,
force plates, video frames) are skipped and named in ``skipped``.

**Checked first.** pyxdf reads on past a damaged chunk (it logs and scans for the next
boundary), so :func:`check_xdf` walks the file's chunks by the XDF specification before
pyxdf reads it (magic ``XDF:``; each chunk a 1-byte size of its length field, 1, 4 or 8;
the length, little-endian; a 2-byte tag: 1 FileHeader, 2 StreamHeader, 3 Samples,
4 ClockOffset, 5 Boundary, 6 StreamFooter; stream ids as 4 bytes; sample counts and string
lengths as variable-length integers; each sample a 1-byte timestamp size, 0 or 8, an
optional float64 timestamp, then the channel values). Any deviation raises
:class:`~dmi_sensors.errors.DataFileError` naming the file, the chunk (its number and byte
offset, its tag and stream) and what was expected, before anything is stored.

**Times.** pyxdf maps every stream onto the recording computer's clock with the file's
ClockOffset chunks (``synchronize_clocks``) and keeps the timestamps as recorded (no
dejittering: a gap stays a gap). Session time 0 is the earliest first timestamp of the
imported streams; the session's start (UTC) is the file header's ``datetime`` when given,
else ``start_utc`` or now. Sample numbers come from the timestamps at the stream's nominal
rate (:mod:`~dmi_sensors.store.lsl_layout`), so samples lost before the recorder saw them
are counted as gaps.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from dmi_sensors.errors import DataFileError
from dmi_sensors.session.events import check_events
from dmi_sensors.store.export.ingest import ingest_session
from dmi_sensors.store.lsl_layout import ImuChannels, StreamDesc, describe, marker_event, safe_sensor_id
from dmi_sensors.store.records import PlanText, SubjectFields
from dmi_sensors.store.sessionstore import SessionStore
from dmi_sensors.store.timeutil import format_utc, utc_now
from dmi_sensors.types import SampleBatch
from dmi_sensors.vendors.files import _counter_from_time  # THE rule: sample numbers from times at a rate

__all__ = ["XDF_MAGIC", "XdfRecording", "check_xdf", "import_xdf", "is_xdf_file", "read_xdf"]

XDF_MAGIC: Final = b"XDF:"
_TAGS: Final = {1: "FileHeader", 2: "StreamHeader", 3: "Samples", 4: "ClockOffset", 5: "Boundary", 6: "StreamFooter"}
_VALUE_BYTES: Final = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "double64": 8, "string": 0}


def is_xdf_file(path: str | Path) -> bool:
    """True for a file that starts with the XDF magic ``XDF:``."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        return fh.read(4) == XDF_MAGIC


# ------------------------------------------------------------------------------ structure check
class _Walker:
    def __init__(self, path: Path, data: bytes) -> None:
        self.path = path
        self.data = data
        self.where = ""

    def fail(self, expected: str, found: str) -> None:
        raise DataFileError(self.path, self.where, expected, found)

    def varlen(self, pos: int, end: int, what: str) -> tuple[int, int]:
        if pos >= end:
            self.fail(f"{what} (a variable-length integer)", "the end of the chunk")
        nb = self.data[pos]
        if nb not in (1, 4, 8):
            self.fail(f"{what}: a variable-length integer of 1, 4 or 8 bytes", f"{nb} at byte {pos}")
        if pos + 1 + nb > end:
            self.fail(f"{what}: {nb} bytes", "the end of the chunk")
        return int.from_bytes(self.data[pos + 1 : pos + 1 + nb], "little"), pos + 1 + nb

    def xml(self, content: bytes) -> ET.Element:
        try:
            return ET.fromstring(content)
        except ET.ParseError as exc:
            self.fail("well-formed XML", f"{exc}")
            raise  # unreachable


def check_xdf(path: str | Path) -> dict[int, ET.Element]:
    """Walk an XDF file's chunks by the specification (module docstring); returns each
    stream's header ``<info>`` by stream id. Raises DataFileError at the first deviation."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(path, "", "a readable XDF file", exc.strerror or str(exc)) from None
    w = _Walker(path, data)
    w.where = "byte 0"
    if data[:4] != XDF_MAGIC:
        w.fail("the XDF magic 'XDF:'", repr(data[:4]))
    headers: dict[int, ET.Element] = {}
    pos, n, size = 4, 0, len(data)
    while pos < size:
        n += 1
        w.where = f"chunk {n} at byte {pos}"
        length, body = w.varlen(pos, size, "the chunk's length")
        end = body + length
        if length < 2:
            w.fail("a chunk length of at least 2 (the tag)", str(length))
        if body + 2 > size:
            w.fail("a chunk tag (2 bytes)", "the end of the file (file truncated?)")
        tag = int.from_bytes(data[body : body + 2], "little")
        if tag not in _TAGS:
            w.fail("a chunk tag 1-6 (FileHeader, StreamHeader, Samples, ClockOffset, Boundary, StreamFooter)", str(tag))
        w.where += f" ({_TAGS[tag]}"
        if tag not in (1, 5) and body + 6 <= size:
            w.where += f" of stream {int.from_bytes(data[body + 2 : body + 6], 'little')}"
        w.where += ")"
        if end > size:
            w.fail(f"{length} bytes of chunk", f"{size - body} bytes left (file truncated?)")
        if n == 1 and tag != 1:
            w.fail("a FileHeader chunk first", _TAGS[tag])
        content = data[body + 2 : end]
        if tag == 1:
            w.xml(content)
        elif tag == 5:
            if len(content) != 16:
                w.fail("a 16-byte boundary UUID", f"{len(content)} bytes")
        else:
            if len(content) < 4:
                w.fail("a 4-byte stream id", f"{len(content)} bytes")
            sid = int.from_bytes(content[:4], "little")
            if tag == 2:
                if sid in headers:
                    w.fail("one StreamHeader per stream", "a second one")
                headers[sid] = _stream_header(w, w.xml(content[4:]))
            elif sid not in headers:
                w.fail(f"a StreamHeader of stream {sid} before its {_TAGS[tag]}", "none")
            elif tag == 3:
                _check_samples(w, body + 6, end, headers[sid])
            elif tag == 4:
                if len(content) != 20:
                    w.fail("a ClockOffset of 20 bytes (stream id, two float64)", f"{len(content)} bytes")
            else:
                w.xml(content[4:])
        pos = end
    if n == 0:
        w.where = "byte 4"
        w.fail("a FileHeader chunk", "the end of the file")
    return headers


def _stream_header(w: _Walker, info: ET.Element) -> ET.Element:
    fmt = (info.findtext("channel_format") or "").strip()
    if fmt not in _VALUE_BYTES:
        w.fail(f"channel_format in {sorted(_VALUE_BYTES)}", repr(fmt))
    try:
        count = int((info.findtext("channel_count") or "").strip())
    except ValueError:
        count = 0
    if count < 1:
        w.fail("channel_count >= 1", repr(info.findtext("channel_count")))
    return info


def _check_samples(w: _Walker, pos: int, end: int, info: ET.Element) -> None:
    data = w.data
    fmt = (info.findtext("channel_format") or "").strip()
    count = int((info.findtext("channel_count") or "").strip())
    value_bytes = _VALUE_BYTES[fmt] * count
    n, pos = w.varlen(pos, end, "the number of samples")
    for k in range(n):
        if pos >= end:
            w.fail(f"{n} samples", f"{k} (the chunk ends)")
        ts = data[pos]
        if ts not in (0, 8):
            w.fail(f"sample {k}: a timestamp size of 0 or 8", f"{ts} at byte {pos}")
        pos += 1 + ts
        if fmt == "string":
            for _ in range(count):
                length, pos = w.varlen(pos, end, f"sample {k}: a string length")
                pos += length
        else:
            pos += value_bytes
        if pos > end:
            w.fail(f"sample {k} of {n} inside the chunk", "the chunk ends first")
    if pos != end:
        w.fail(f"the chunk to end after its {n} samples", f"{end - pos} bytes more")


# ------------------------------------------------------------------------------ reading
@dataclass
class XdfRecording:
    """What an XDF file holds for a session: samples per IMU stream, events from marker streams."""

    path: Path
    batches: dict[str, SampleBatch]
    placements: dict[str, str]
    events: pd.DataFrame
    start_utc: str | None
    streams: dict[str, str] = field(default_factory=dict)  # sensor id -> the stream's name
    skipped: list[str] = field(default_factory=list)  # streams not imported, with why


def _text(info: dict[str, Any], key: str) -> str:
    value = info.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def _start(header: dict[str, Any]) -> str | None:
    info = header.get("info") if isinstance(header, dict) else None
    text = _text(info, "datetime").strip() if isinstance(info, dict) else ""
    if not text:
        return None
    for parse in (datetime.fromisoformat, lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            when = parse(text)
        except ValueError:
            continue
        if when.tzinfo is None:
            return None  # a local time without its zone: not a UTC instant
        return format_utc(when.astimezone(UTC))
    return None


def read_xdf(path: str | Path, *, placement: str = "trunk", sensor_id: str | None = None) -> XdfRecording:
    """Read the IMU and marker streams of an XDF file (checked by :func:`check_xdf` first).

    ``placement`` is the placement of a file's only IMU stream when the stream does not say
    (``desc/placement``); ``sensor_id`` renames that only stream's sensor.
    """
    import pyxdf

    path = Path(path)
    headers = check_xdf(path)
    try:
        streams, header = pyxdf.load_xdf(
            str(path), synchronize_clocks=True, dejitter_timestamps=False, handle_clock_resets=True
        )
    except Exception as exc:  # pyxdf raises plain exceptions; the structure was checked above
        raise DataFileError(path, "", "an XDF file pyxdf can read", f"{type(exc).__name__}: {exc}") from None
    imu: list[tuple[StreamDesc, np.ndarray, np.ndarray, ImuChannels]] = []
    markers: list[tuple[np.ndarray, list[str]]] = []
    skipped: list[str] = []
    for stream in streams:
        number = int(_text(stream["info"], "stream_id") or -1)
        desc = describe(headers[number])
        label = f"stream {number} {desc.name!r} (type {desc.type!r})"
        t = np.asarray(stream["time_stamps"], dtype=np.float64)
        if desc.is_markers:
            markers.append((t, [str(row[0]) for row in stream["time_series"]]))
            continue
        layout = desc.imu()
        if isinstance(layout, str):
            if desc.channel_format != "string" and any(_key_is_imu(s) for s in desc.labels):
                raise DataFileError(path, label, layout)
            skipped.append(f"{label}: not an IMU or marker stream ({layout})")
            continue
        if not (desc.nominal_srate_hz > 0.0 and np.isfinite(desc.nominal_srate_hz)):
            raise DataFileError(
                path, label, "a nominal rate > 0 (an IMU stream is sampled regularly)", repr(desc.nominal_srate_hz)
            )
        if t.size == 0:
            skipped.append(f"{label}: no samples")
            continue
        values = np.asarray(stream["time_series"], dtype=np.float64).reshape(t.size, -1)
        imu.append((desc, t, values, layout))
    if not imu:
        raise DataFileError(
            path, "", "an IMU stream (channels labelled AccX, AccY, AccZ ...)", "; ".join(skipped) or "no streams"
        )
    starts = [float(s[1][0]) for s in imu] + [float(t[0]) for t, _ in markers if t.size]
    t0 = float(min(starts))
    batches: dict[str, SampleBatch] = {}
    placements: dict[str, str] = {}
    names: dict[str, str] = {}
    for n, (desc, t, values, layout) in enumerate(imu):
        fs_hz = desc.nominal_srate_hz
        sid = safe_sensor_id(desc.name, desc.serial, n)
        if len(imu) == 1 and sensor_id:
            sid = sensor_id
        if sid in batches:
            sid = f"{sid}-{n + 1}"
        counter = _counter_from_time(path, f"stream {desc.name!r} sample", t, fs_hz)
        acc = values[:, list(layout.acc)] * layout.acc_scale
        gyr = values[:, list(layout.gyr)] * layout.gyr_scale if layout.gyr is not None else np.full_like(acc, np.nan)
        gap = np.zeros(t.size, dtype=bool)
        gap[1:] = np.diff(counter) > 1
        batches[sid] = SampleBatch(
            sensor_id=sid,
            fs_hz=fs_hz,
            counter=counter,
            device_time_s=t,
            host_time_s=t - t0,
            acc_mps2=acc,
            gyr_rps=gyr,
            gap_before=gap,
            time_s=t - t0,
        )
        placements[sid] = desc.placement or (placement if len(imu) == 1 else "")
        names[sid] = desc.name
    rows = [marker_event(text, float(ts) - t0) for t, texts in markers for ts, text in zip(t, texts, strict=True)]
    events = pd.DataFrame(rows)
    if len(events):
        events = check_events(events, source=path)
    return XdfRecording(path, batches, placements, events, _start(header), names, skipped)


def _key_is_imu(label: str) -> bool:
    low = label.lower()
    return low.startswith(("acc", "gyr"))


def import_xdf(
    store: SessionStore,
    path: str | Path,
    *,
    subject: SubjectFields,
    sensor_id: str | None = None,
    placement: str = "trunk",
    start_utc: str | datetime | None = None,
    events: pd.DataFrame | None = None,
    therapist_id: str = "",
    plan: PlanText | str | None = None,
    skipped: list[str] | None = None,
) -> int:
    """Read an XDF file (:func:`read_xdf`) and store it as a new finalised session; returns its id.

    ``events`` (an events table, checked) are stored beside the file's markers; ``skipped``,
    when a list, receives one line per stream not imported. Bad files raise
    :class:`~dmi_sensors.errors.DataFileError` before anything is written.
    """
    rec = read_xdf(path, placement=placement, sensor_id=sensor_id)
    if skipped is not None:
        skipped.extend(rec.skipped)
    if start_utc is None:
        start = rec.start_utc or utc_now()
    else:
        start = start_utc if isinstance(start_utc, str) else format_utc(start_utc)
    table = rec.events
    if events is not None and len(events):
        table = pd.concat([table, events], ignore_index=True) if len(table) else events
    plan_toml = plan if plan is None or isinstance(plan, str) else plan.to_toml()
    return ingest_session(
        store,
        subject=subject,
        start_utc=start,
        batches=rec.batches,
        placements=rec.placements,
        events=table if len(table) else None,
        therapist_id=therapist_id,
        plan_toml=plan_toml,
        source=path,
    )
