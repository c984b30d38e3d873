"""Bluetooth LE layer: discover DMI sensors, stream from several at once, survive link loss.

asyncio throughout, on the caller's event loop (works inside Jupyter); ``*_sync`` helpers
wrap ``asyncio.run`` for scripts. Built on bleak (Linux BlueZ, macOS CoreBluetooth,
Windows WinRT) and bleak-retry-connector. See ``docs/ble.md``.

* :func:`discover` / :func:`find_sensor` -> :class:`SensorAdvert` (address, name, RSSI,
  serial, protocol version);
* :class:`SensorLink` — one sensor: connect, Battery / Device Information, control
  commands, time-sync, streaming, automatic reconnection, :class:`LinkStats`;
* :class:`SensorHub` / :func:`record` — several sensors with placements on one loop.
"""

from dmi_sensors.ble.discovery import SensorAdvert, discover, discover_sync, find_sensor, parse_advert
from dmi_sensors.ble.hub import RecordingContext, SensorHub, record, record_sync
from dmi_sensors.ble.link import (
    ClockSync,
    CommandError,
    PacketSink,
    ReconnectPolicy,
    SensorInfo,
    SensorLink,
    SensorNotFoundError,
    StreamConfig,
    Target,
)
from dmi_sensors.ble.stats import LinkStats, LinkStatsTracker

__all__ = [
    "ClockSync",
    "CommandError",
    "LinkStats",
    "LinkStatsTracker",
    "PacketSink",
    "ReconnectPolicy",
    "RecordingContext",
    "SensorAdvert",
    "SensorHub",
    "SensorInfo",
    "SensorLink",
    "SensorNotFoundError",
    "StreamConfig",
    "Target",
    "discover",
    "discover_sync",
    "find_sensor",
    "parse_advert",
    "record",
    "record_sync",
]
