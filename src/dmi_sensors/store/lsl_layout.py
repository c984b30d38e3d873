"""The layout of IMU and marker streams in the Lab Streaming Layer (LSL) and in XDF files.

One place for what the LSL outlet writes (:mod:`dmi_sensors.live.lsl`), what the LSL inlet
and the XDF import recognise as an IMU or a marker stream, and how their channels become SI
samples. Plain data and rules, no LSL library: the XDF import reads the same XML
descriptions from a file.

**An IMU stream** is a numeric stream (``int*``, ``float32``, ``double64``) with a nominal
rate and channels whose labels (``desc/channels/channel/label``; the XDF meta-data
convention) name the accelerometer axes and, optionally, the gyroscope axes:

==================  ===================================  =========================
quantity            labels (case and ``_ -`` ignored)     units (``.../unit``)
==================  ===================================  =========================
specific force      ``AccX``, ``acc_x``, ``accel_x``,     ``m/s^2`` (``m/s²``,
                    ``accelerometer_x``, ... ``Z``        ``m/s/s``, ``ms^-2``), ``g``
angular rate        ``GyrX``, ``gyro_x``,                 ``rad/s``, ``deg/s``
                    ``gyroscope_x``, ... ``Z``            (``°/s``, ``dps``)
==================  ===================================  =========================

Other channels (magnetometer, orientation) are ignored. A stream without gyroscope
channels gives NaN angular rates. The sensor's id is the stream's
``desc/acquisition/serial_number`` when given, else its name (characters outside
``A-Z a-z 0-9 _ . -`` replaced by ``-``; never an address: a MAC-like id becomes
``lsl-<n>``); its placement is ``desc/placement`` when given.

**A marker stream** is a one-channel ``string`` stream (LSL's ``Markers`` type). A marker
that is a JSON object with event fields (``kind``, ``exercise``, ``repetition``,
``duration_s``, ``support``, ``posture``, ``note``, ``source``: what the outlet sends) is
that event, its onset the marker's time; any other marker (another program's text) becomes
a note (kind ``note``, duration 0, the text as note, source ``import``).

**Sample numbers** come from the timestamps at the nominal rate: ``round((t - t0) * fs)``;
a jump of more than one is a gap (samples lost), counted exactly as long as the source's
timestamps jitter by less than half a sample period.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "EVENT_FIELDS",
    "IMU_CHANNELS",
    "MARKER_TYPE",
    "ImuChannels",
    "StreamDesc",
    "describe",
    "imu_channels",
    "is_marker_stream",
    "marker_event",
    "marker_text",
    "safe_sensor_id",
]

#: The outlet's IMU channels: (label, unit, type), in this order.
IMU_CHANNELS: Final = (
    ("AccX", "m/s^2", "Acc"),
    ("AccY", "m/s^2", "Acc"),
    ("AccZ", "m/s^2", "Acc"),
    ("GyrX", "rad/s", "Gyr"),
    ("GyrY", "rad/s", "Gyr"),
    ("GyrZ", "rad/s", "Gyr"),
)
#: LSL type of a marker stream.
MARKER_TYPE: Final = "Markers"
#: Event fields a JSON marker may carry (besides the onset, which is the marker's time).
EVENT_FIELDS: Final = ("duration_s", "exercise", "repetition", "support", "source", "kind", "posture", "note")

G0_MPS2: Final = 9.80665
_ACC = re.compile(r"^(acc|accel|accelerometer|acceleration)([xyz])$")
_GYR = re.compile(r"^(gyr|gyro|gyroscope|angularrate|angularvelocity)([xyz])$")
_ACC_UNITS: Final = {"m/s^2": 1.0, "m/s²": 1.0, "m/s/s": 1.0, "ms^-2": 1.0, "m*s^-2": 1.0, "g": G0_MPS2}
_GYR_UNITS: Final = {
    "rad/s": 1.0,
    "deg/s": math.pi / 180.0,
    "°/s": math.pi / 180.0,
    "dps": math.pi / 180.0,
    "degrees/s": math.pi / 180.0,
}
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")


@dataclass(frozen=True)
class ImuChannels:
    """Where a stream's IMU axes are and how to scale them to SI.

    ``acc`` and ``gyr`` are channel indices in x, y, z order (``gyr`` None when the stream
    has no gyroscope); ``acc_scale`` (to m/s²) and ``gyr_scale`` (to rad/s) multiply the values.
    """

    acc: tuple[int, int, int]
    acc_scale: float
    gyr: tuple[int, int, int] | None
    gyr_scale: float


@dataclass(frozen=True)
class StreamDesc:
    """What a stream's ``<info>`` XML says (an LSL stream info, an XDF StreamHeader)."""

    name: str
    type: str
    channel_format: str
    channel_count: int
    nominal_srate_hz: float
    labels: tuple[str, ...]
    units: tuple[str, ...]
    serial: str
    placement: str

    @property
    def is_markers(self) -> bool:
        """A one-channel string stream (a marker stream by LSL's convention)."""
        return is_marker_stream(self.channel_format, self.channel_count)

    def imu(self) -> ImuChannels | str:
        """:func:`imu_channels` of this stream (a string says why it is not an IMU stream)."""
        if self.channel_format == "string":
            return "a numeric stream, found text"
        return imu_channels(self.labels, self.units)


def _number(text: str | None, kind: type[int] | type[float]) -> Any:
    try:
        return kind((text or "").strip())
    except ValueError:
        return kind(0)


def describe(info: ET.Element) -> StreamDesc:
    """A stream's description from its ``<info>`` element (name, type, format, rate, the
    channels' labels and units, ``desc/acquisition/serial_number``, ``desc/placement``)."""
    channels = info.findall("./desc/channels/channel")
    return StreamDesc(
        name=(info.findtext("name") or "").strip(),
        type=(info.findtext("type") or "").strip(),
        channel_format=(info.findtext("channel_format") or "").strip(),
        channel_count=_number(info.findtext("channel_count"), int),
        nominal_srate_hz=_number(info.findtext("nominal_srate"), float),
        labels=tuple((c.findtext("label") or "").strip() for c in channels),
        units=tuple((c.findtext("unit") or "").strip() for c in channels),
        serial=(info.findtext("./desc/acquisition/serial_number") or "").strip(),
        placement=(info.findtext("./desc/placement") or "").strip(),
    )


def _key(label: str) -> str:
    return re.sub(r"[\s_\-.]", "", label).lower()


def imu_channels(labels: Sequence[str], units: Sequence[str]) -> ImuChannels | str:
    """The IMU channels among ``labels`` (with their ``units``), or why there are none (a
    sentence for an error message: what was expected and found)."""
    found: dict[str, dict[str, int]] = {"acc": {}, "gyr": {}}
    for i, label in enumerate(labels):
        key = _key(label)
        for name, rule in (("acc", _ACC), ("gyr", _GYR)):
            m = rule.match(key)
            if m:
                found[name][m.group(2)] = i
    if len(found["acc"]) != 3:
        return "channels labelled AccX, AccY, AccZ (and GyrX, GyrY, GyrZ), found labels " + (
            ", ".join(repr(s) for s in labels) if labels else "none"
        )
    acc = (found["acc"]["x"], found["acc"]["y"], found["acc"]["z"])
    acc_scale = _scale(acc, units, _ACC_UNITS, "acceleration")
    if isinstance(acc_scale, str):
        return acc_scale
    if not found["gyr"]:
        return ImuChannels(acc, acc_scale, None, 1.0)
    if len(found["gyr"]) != 3:
        return f"three gyroscope channels (x, y, z), found {sorted(found['gyr'])}"
    gyr = (found["gyr"]["x"], found["gyr"]["y"], found["gyr"]["z"])
    gyr_scale = _scale(gyr, units, _GYR_UNITS, "angular rate")
    if isinstance(gyr_scale, str):
        return gyr_scale
    return ImuChannels(acc, acc_scale, gyr, gyr_scale)


def _scale(idx: tuple[int, int, int], units: Sequence[str], table: dict[str, float], what: str) -> float | str:
    given = {(units[i] if i < len(units) else "").strip().replace(" ", "") for i in idx}
    if len(given) != 1:
        return f"one unit for the three {what} channels, found {sorted(given)}"
    (unit,) = given
    scale = table.get(unit) if unit in table else table.get(unit.lower())
    if scale is None:
        return f"the {what} unit in {sorted(table)}, found {unit!r}" if unit else f"a unit for {what} ({sorted(table)})"
    return scale


def is_marker_stream(channel_format: str, channel_count: int) -> bool:
    """A one-channel string stream (a marker stream by LSL's convention)."""
    return channel_format == "string" and channel_count == 1


def safe_sensor_id(name: str, serial: str, n: int) -> str:
    """The sensor id of the ``n``-th IMU stream (0-based): its serial number, else its name, with
    characters outside ``A-Z a-z 0-9 _ . -`` replaced by ``-``; an address (MAC) or nothing
    gives ``lsl-<n+1>``."""
    raw = (serial or name).strip()
    if not raw or _MAC.match(raw):
        return f"lsl-{n + 1}"
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", raw)[:64]


def marker_text(event: dict[str, Any]) -> str:
    """The marker the outlet sends for an event row: its fields (:data:`EVENT_FIELDS`) as JSON."""
    return json.dumps({k: event[k] for k in EVENT_FIELDS if k in event}, sort_keys=True)


def marker_event(text: str, onset_s: float) -> dict[str, Any]:
    """The events-table row of a marker received at ``onset_s`` (see the module docstring);
    every column of the events table, to be checked by THE events validator."""
    row: dict[str, Any] = {
        "onset_s": onset_s,
        "duration_s": 0.0,
        "exercise": "",
        "repetition": 0,
        "support": "",
        "source": "import",
        "kind": "note",
        "posture": "",
        "note": text,
    }
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and obj and set(obj) <= set(EVENT_FIELDS):
        row.update(kind="", note="")
        row.update(obj)
    return row
