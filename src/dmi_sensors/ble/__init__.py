"""Bluetooth LE layer: discover DMI sensors, stream from several at once, survive link loss.

asyncio throughout, on the caller's event loop (works inside Jupyter); ``*_sync`` helpers
wrap ``asyncio.run`` for scripts. Built on bleak (Linux BlueZ, macOS CoreBluetooth,
Windows WinRT) and bleak-retry-connector. See ``docs/ble.md``.

* :func:`discover` / :func:`find_sensor` -> :class:`SensorAdvert` (address, name, RSSI,
  serial, protocol version);
* :class:`SensorLink` — one sensor: connect, Battery / Device Information, control
  commands, time-sync, streaming, automatic reconnection, :class:`LinkStats`;
* :class:`SensorHub` / :func:`record` — several sensors with placements on one loop; a
  :class:`RecordingFault` (store failed, D-Bus or BlueZ gone) ends a recording early, and
  :func:`account` gives each sensor's samples expected, received and lost;
* :class:`VendorSession` / :func:`vendor_session` — the setup exchange of a third-party
  sensor (MetaMotion, Movella DOT, Polar, WitMotion) a link plugs in (``docs/vendors.md``).
"""

from dmi_sensors.ble.discovery import SensorAdvert, discover, discover_sync, find_sensor, parse_advert
from dmi_sensors.ble.health import BusWatchdog
from dmi_sensors.ble.hub import RecordingContext, RecordingFault, SensorHub, record, record_sync
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
from dmi_sensors.ble.stats import LinkStats, LinkStatsTracker, SampleAccount, account
from dmi_sensors.ble.vendors import VendorInfo, VendorSession, vendor_session

__all__ = [
    "BusWatchdog",
    "ClockSync",
    "CommandError",
    "LinkStats",
    "LinkStatsTracker",
    "PacketSink",
    "ReconnectPolicy",
    "RecordingContext",
    "RecordingFault",
    "SampleAccount",
    "SensorAdvert",
    "SensorHub",
    "SensorInfo",
    "SensorLink",
    "SensorNotFoundError",
    "StreamConfig",
    "Target",
    "VendorInfo",
    "VendorSession",
    "account",
    "discover",
    "discover_sync",
    "find_sensor",
    "parse_advert",
    "record",
    "record_sync",
    "vendor_session",
]
