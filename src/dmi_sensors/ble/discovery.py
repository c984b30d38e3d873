"""Discovery: which DMI sensors (and third-party IMUs) are advertising nearby.

A sensor advertises the DMI service UUID, the name ``DMI-<serial>`` and manufacturer data
(company id :data:`~dmi_sensors.protocol.COMPANY_ID`) carrying its serial number and
protocol version (see ``dmi_sensors.protocol.advertising``). :func:`discover` scans for a
while and reports every sensor found; :func:`find_sensor` stops as soon as one address or
serial is seen.

With ``vendors=True`` the scan has no service filter and also reports the third-party
sensors :func:`dmi_sensors.vendors.identify` recognises (MetaMotion, Movella DOT, Polar,
WitMotion): their :class:`SensorAdvert` carries ``vendor`` and ``model``, and a
:class:`~dmi_sensors.ble.SensorLink` given such an advert speaks that vendor's protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from dmi_sensors.protocol import COMPANY_ID, NAME_PREFIX, SERVICE_UUID, ProtocolError, decode_manufacturer_data
from dmi_sensors.vendors import identify

__all__ = ["SensorAdvert", "discover", "discover_sync", "find_sensor", "parse_advert"]


@dataclass(frozen=True, slots=True)
class SensorAdvert:
    """One advertising sensor.

    Attributes
    ----------
    address
        BLE address (``AA:BB:CC:DD:EE:FF``; a UUID on macOS).
    name
        Advertised local name (``DMI-<serial>``), if any.
    rssi_dbm
        Received signal strength of the advertisement, dBm.
    serial
        Serial number, 8 upper-case hex digits (the ``sensor_id``), from manufacturer data.
    protocol_version
        ``(major, minor)`` from manufacturer data.
    problem
        Why serial/version are missing (e.g. a firmware speaking an unsupported major version).
    device
        bleak's ``BLEDevice`` (pass it to :class:`~dmi_sensors.ble.SensorLink` to skip a scan).
    vendor, model
        A third-party sensor's vendor (registry name of :mod:`dmi_sensors.vendors`) and
        model as the advertisement tells them; None for our own sensors.
    """

    address: str
    name: str | None
    rssi_dbm: int | None
    serial: str | None
    protocol_version: tuple[int, int] | None
    problem: str | None = None
    device: BLEDevice | None = field(default=None, repr=False, compare=False)
    vendor: str | None = None
    model: str | None = None

    @property
    def sensor_id(self) -> str:
        """Serial when known, else the address."""
        return self.serial or self.address

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "rssi_dbm": self.rssi_dbm,
            "serial": self.serial,
            "protocol_version": ".".join(map(str, self.protocol_version)) if self.protocol_version else None,
            "problem": self.problem,
            "vendor": self.vendor,
            "model": self.model,
        }


def parse_advert(
    device: BLEDevice,
    adv: AdvertisementData,
    service_uuid: str | None = SERVICE_UUID,
    name_prefix: str = NAME_PREFIX,
    vendors: bool = False,
) -> SensorAdvert | None:
    """A :class:`SensorAdvert` if the advertisement is one of ours (or, with ``vendors``, a
    third-party sensor's), else ``None``."""
    uuids = {u.lower() for u in adv.service_uuids}
    name = adv.local_name or device.name
    ours = (service_uuid is not None and service_uuid.lower() in uuids) or bool(name and name.startswith(name_prefix))
    if not ours:
        if vendors:
            found = identify(name, tuple(uuids), {k: bytes(v) for k, v in adv.manufacturer_data.items()})
            if found is not None:
                return SensorAdvert(device.address, name, adv.rssi, None, None, None, device, found.vendor, found.model)
        return None
    serial = version = problem = None
    payload = adv.manufacturer_data.get(COMPANY_ID)
    if payload is None:
        problem = "no manufacturer data"
    else:
        try:
            serial, version = decode_manufacturer_data(bytes(payload))
        except ProtocolError as exc:
            problem = str(exc)
    return SensorAdvert(device.address, name, adv.rssi, serial, version, problem, device)


async def discover(
    timeout_s: float = 5.0,
    *,
    service_uuid: str | None = SERVICE_UUID,
    name_prefix: str = NAME_PREFIX,
    adapter: str | None = None,
    vendors: bool = False,
) -> list[SensorAdvert]:
    """Scan for ``timeout_s`` seconds; return the sensors found, strongest signal first.

    ``service_uuid`` is passed to the OS as a scan filter (BlueZ only reports matching
    devices); set it to ``None`` to match on the name prefix alone. ``vendors``: also the
    third-party sensors (no OS filter then; see the module docstring).
    """
    kwargs: dict[str, Any] = {"service_uuids": [service_uuid]} if service_uuid and not vendors else {}
    if adapter:
        kwargs["bluez"] = {"adapter": adapter}
    found = await BleakScanner.discover(timeout=timeout_s, return_adv=True, **kwargs)
    adverts = [
        a for d, adv in found.values() if (a := parse_advert(d, adv, service_uuid, name_prefix, vendors)) is not None
    ]
    return sorted(adverts, key=lambda a: (-(a.rssi_dbm if a.rssi_dbm is not None else -999), a.address))


def discover_sync(timeout_s: float = 5.0, **kwargs: Any) -> list[SensorAdvert]:
    """:func:`discover` for scripts (runs its own ``asyncio.run``; not inside a running loop)."""
    return asyncio.run(discover(timeout_s, **kwargs))


async def find_sensor(
    address_or_serial: str,
    timeout_s: float = 10.0,
    *,
    service_uuid: str | None = SERVICE_UUID,
    name_prefix: str = NAME_PREFIX,
    adapter: str | None = None,
    vendors: bool = False,
) -> SensorAdvert | None:
    """Scan until the sensor with this address (or serial, or ``DMI-`` name) advertises
    (``vendors``: a third-party sensor too, by address)."""
    key = address_or_serial.upper().removeprefix(name_prefix.upper())
    found: asyncio.Future[SensorAdvert] = asyncio.get_running_loop().create_future()

    def on_advert(device: BLEDevice, adv: AdvertisementData) -> None:
        a = parse_advert(device, adv, service_uuid, name_prefix, vendors)
        if a is not None and not found.done() and key in (a.address.upper(), (a.serial or "").upper()):
            found.set_result(a)

    kwargs: dict[str, Any] = {"service_uuids": [service_uuid]} if service_uuid and not vendors else {}
    if adapter:
        kwargs["bluez"] = {"adapter": adapter}
    async with BleakScanner(on_advert, **kwargs):
        try:
            return await asyncio.wait_for(asyncio.shield(found), timeout_s)
        except TimeoutError:
            return None
