"""The setup exchange of third-party sensors over bleak: the vendor protocol a link plugs in.

A :class:`~dmi_sensors.ble.SensorLink` speaks our own protocol unless it is given a
:class:`VendorSession` (``vendor_session(advert.vendor)`` for a sensor the scan identified).
The link keeps everything else — connection, reconnection with back-off, raw packets to the
store first, statistics, the decoder fed as notifications arrive — and asks the session
for the vendor's part of a connection:

1. :meth:`VendorSession.setup` — read what the sensor is (serial, model, battery), subscribe
   its notifications (through the link, so AcquireNotify is used where BlueZ offers it),
   and write rate and range; returns a :class:`VendorInfo` whose ``settings`` are the
   keyword settings of the vendor's decoder (:func:`dmi_sensors.vendors.decoder_for`);
2. :meth:`VendorSession.start` — start streaming (after the link made the decoder);
3. :meth:`VendorSession.on_packet` — every notification passes here too (answers to
   commands: Polar control-point indications, MetaWear read replies, WitMotion register
   replies);
4. :meth:`VendorSession.stop` — stop streaming at the end of a recording.

==============  ===================================================  ============================
vendor          setup                                                start / stop
==============  ===================================================  ============================
``metamotion``  DIS model number (chip), battery ``11 8C``; acc      subscribe, enable, power on
                ``03 03`` and gyro ``13 03`` config (rate, range)    / power off, disable, unsub.
``dot``         device info 0x1001 (serial, v1/v2), battery 0x3001;  ``01 01 21`` on 0x2001 /
                output rate in device control 0x1002 if it differs   ``01 00 21``
``polar``       DIS (serial), battery 0x2A19, control-point          ``02 02 …`` ACC (``02 05 …``
                features; indications on the control point            GYRO) / ``03 02``, ``03 05``
``witmotion``   unlock, rate register 0x03, save; battery register   streams once notifications
                0x64 (``FF AA 27 64 00``)                            are on / (nothing to stop)
==============  ===================================================  ============================

Sensor ids: ``<vendor>-<serial>`` from the sensor's own serial number (Device Information,
or the DOT's device info); a WitMotion sensor has none, so its id is derived from its
address by a one-way hash (``witmotion-<8 hex digits>``): the address itself, which can be
tracked over the air, is never stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from bleak import BleakClient

from dmi_sensors.errors import DeviceError, ParameterError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import VendorDecoder, decoder_for, dot, metamotion, polar, witmotion

__all__ = [
    "VENDOR_RATES_HZ",
    "VENDOR_SESSIONS",
    "DotSession",
    "MetaMotionSession",
    "PolarSession",
    "VendorInfo",
    "VendorSession",
    "VendorSetupError",
    "WitMotionSession",
    "vendor_session",
]

log = logging.getLogger(__name__)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_UUID = "00002a26-0000-1000-8000-00805f9b34fb"

#: A link's subscription: ``await subscribe(char_uuid)`` (AcquireNotify or StartNotify).
Subscribe = Callable[[str], Awaitable[str]]


class VendorSetupError(DeviceError):
    """The sensor refused or never answered a step of its setup exchange (the link retries)."""


@dataclass(frozen=True)
class VendorInfo:
    """What the setup exchange learned and chose.

    Attributes
    ----------
    sensor_id
        ``<vendor>-<serial>`` (see the module docstring).
    model, firmware
        As the sensor reports them.
    battery_pct
        Battery level, percent (None where the sensor offers none).
    settings
        The decoder's keyword settings (:func:`dmi_sensors.vendors.decoder_for`); also what
        the store keeps beside the raw notifications so analysis decodes them the same way.
    """

    sensor_id: str
    model: str
    firmware: str = ""
    battery_pct: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def fs_hz(self) -> float:
        return float(self.settings["rate_hz"])


class VendorSession:
    """One vendor's setup exchange (see the module docstring); one instance per link.

    Parameters
    ----------
    rate_hz
        Sample rate to set; None: the vendor's common research rate
        (:data:`VENDOR_RATES_HZ`).
    address
        The sensor's address (only WitMotion uses it, for its pseudonymous id).
    model
        The model the scan identified (Polar: ``"H10"`` or ``"Verity Sense"``).
    command_timeout_s
        How long to wait for an answer to a command.
    """

    vendor: ClassVar[str] = ""
    rates_hz: ClassVar[tuple[float, ...]] = ()

    def __init__(
        self, rate_hz: float | None = None, *, address: str = "", model: str = "", command_timeout_s: float = 2.0
    ) -> None:
        rate = VENDOR_RATES_HZ[self.vendor] if rate_hz is None else rate_hz
        if rate not in self.rates_hz:
            raise ParameterError(f"{self.vendor}: rate_hz must be one of {list(self.rates_hz)}, got {rate_hz!r}")
        self.rate_hz = rate
        self.address = address
        self.model = model
        self.command_timeout_s = float(command_timeout_s)
        self.info: VendorInfo | None = None
        #: the sensor's id once known (set before the first subscription)
        self.sensor_id = ""
        self._waiting: list[tuple[Callable[[bytes], bool], asyncio.Future[bytes]]] = []

    # -- what a link calls --------------------------------------------------------------
    async def setup(self, client: BleakClient, subscribe: Subscribe) -> VendorInfo:
        raise NotImplementedError

    async def start(self, client: BleakClient) -> None:
        raise NotImplementedError

    async def stop(self, client: BleakClient) -> None:
        raise NotImplementedError

    def on_packet(self, packet: RawPacket) -> None:
        """A notification arrived: resolve whoever waits for it."""
        data = bytes(packet.data)
        for matches, fut in list(self._waiting):
            if not fut.done() and matches(data):
                fut.set_result(data)
                self._waiting.remove((matches, fut))
                break

    def decoder(self, sensor_id: str) -> VendorDecoder:
        """A fresh decoder for what :meth:`setup` chose."""
        if self.info is None:
            raise DeviceError(f"{self.vendor}: decoder before the setup exchange")
        return decoder_for(self.vendor, sensor_id, **self.info.settings)

    # -- helpers --------------------------------------------------------------------------
    async def _request(
        self, client: BleakClient, uuid: str, data: bytes, matches: Callable[[bytes], bool], response: bool = True
    ) -> bytes:
        """Write ``data`` and wait for the notification ``matches`` accepts."""
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        entry = (matches, fut)
        self._waiting.append(entry)
        try:
            await client.write_gatt_char(uuid, data, response=response)
            return await asyncio.wait_for(fut, self.command_timeout_s)
        except TimeoutError:
            raise VendorSetupError(f"{self.vendor}: no answer to {data.hex(' ')}") from None
        finally:
            if entry in self._waiting:
                self._waiting.remove(entry)

    @staticmethod
    async def _read_text(client: BleakClient, uuid: str) -> str:
        try:
            return bytes(await client.read_gatt_char(uuid)).decode("utf-8", "replace").strip("\x00 ")
        except Exception:  # an optional characteristic the sensor does not have
            return ""


#: ``11 09``: connection parameters 7.5/7.5 ms, latency 0, timeout 6000 ms (settings module).
CONNECTION_PARAMETERS_7_5MS = bytes.fromhex("11 09 06 00 06 00 00 00 58 02")


class MetaMotionSession(VendorSession):
    """MbientLab MetaMotion: accelerometer ±8 g and gyroscope ±2000 °/s at ``rate_hz``,
    streamed plainly (one notification per sample; timing estimated from arrival)."""

    vendor = "metamotion"
    rates_hz = (25, 50, 100, 200)
    acc_range_g = 8
    gyr_range_dps = 2000

    async def setup(self, client: BleakClient, subscribe: Subscribe) -> VendorInfo:
        model_number = await self._read_text(client, MODEL_NUMBER_UUID)
        serial = await self._read_text(client, SERIAL_NUMBER_UUID)
        firmware = await self._read_text(client, FIRMWARE_REVISION_UUID)
        chip = metamotion.chip_for_model(model_number)
        self.sensor_id = f"metamotion-{serial}"
        await subscribe(metamotion.NOTIFY_CHAR_UUID)
        cmd = metamotion.COMMAND_CHAR_UUID
        # connection interval 7.5 ms, latency 0, timeout 6 s (MbientLab's streaming example)
        await client.write_gatt_char(cmd, CONNECTION_PARAMETERS_7_5MS, response=False)
        reply = await self._request(client, cmd, bytes([0x11, 0x8C]), lambda d: d[:2] == b"\x11\x8c", response=False)
        battery = int(reply[2]) if len(reply) >= 3 else None
        for command in (
            metamotion.acc_config_command(chip, self.rate_hz, self.acc_range_g),
            metamotion.gyr_config_command(self.rate_hz, self.gyr_range_dps),
        ):
            await client.write_gatt_char(cmd, command, response=False)
        settings = {
            "chip": chip,
            "rate_hz": int(self.rate_hz),
            "acc_range_g": self.acc_range_g,
            "gyr_range_dps": self.gyr_range_dps,
        }
        self.info = VendorInfo(self.sensor_id, metamotion.model_name(model_number), firmware, battery, settings)
        return self.info

    async def start(self, client: BleakClient) -> None:
        assert self.info is not None
        for command in metamotion.start_commands(self.info.settings["chip"]):
            await client.write_gatt_char(metamotion.COMMAND_CHAR_UUID, command, response=False)

    async def stop(self, client: BleakClient) -> None:
        chip = self.info.settings["chip"] if self.info is not None else "bmi160"
        for command in metamotion.stop_commands(chip):
            await client.write_gatt_char(metamotion.COMMAND_CHAR_UUID, command, response=False)


class DotSession(VendorSession):
    """Movella DOT: payload mode 21 (acceleration m/s², angular velocity deg/s, µs time)."""

    vendor = "dot"
    rates_hz = dot.RATES_HZ
    payload_mode = 21
    _running = False  # the measurement was found running (a reconnection)

    async def setup(self, client: BleakClient, subscribe: Subscribe) -> VendorInfo:
        info = dot.decode_device_info(bytes(await client.read_gatt_char(dot.DEVICE_INFO_CHAR_UUID)))
        self.sensor_id = f"dot-{info.serial:X}"
        battery = bytes(await client.read_gatt_char(dot.BATTERY_CHAR_UUID))
        control = bytes(await client.read_gatt_char(dot.CONTROL_CHAR_UUID))
        self._running = len(control) == 3 and control[1] == 1 and control[2] == self.payload_mode
        if len(control) == 3 and control[1] == 1 and not self._running:  # another mode: stop it
            await client.write_gatt_char(dot.CONTROL_CHAR_UUID, dot.control_bytes(False, control[2]), response=True)
        device_control = bytes(await client.read_gatt_char(dot.DEVICE_CONTROL_CHAR_UUID))
        if not self._running and struct.unpack_from("<H", device_control, 24)[0] != self.rate_hz:
            new = dot.set_output_rate(device_control, int(self.rate_hz))
            await client.write_gatt_char(dot.DEVICE_CONTROL_CHAR_UUID, new, response=True)
        # the spec: enable the payload notification before the start
        await subscribe(dot.payload_char_uuid(self.payload_mode))
        settings = {"payload_mode": self.payload_mode, "rate_hz": int(self.rate_hz)}
        self.info = VendorInfo(
            self.sensor_id, info.model, info.firmware, int(battery[0]) if battery else None, settings
        )
        return self.info

    async def start(self, client: BleakClient) -> None:
        """Start the measurement, unless it kept running through a link loss (a reconnection:
        listening again continues the µs clock, so the samples missed are counted exactly)."""
        if not self._running:
            await client.write_gatt_char(
                dot.CONTROL_CHAR_UUID, dot.control_bytes(True, self.payload_mode), response=True
            )

    async def stop(self, client: BleakClient) -> None:
        await client.write_gatt_char(dot.CONTROL_CHAR_UUID, dot.control_bytes(False, self.payload_mode), response=True)


#: PMD control-point status: the measurement is already running.
ALREADY_STARTED = 6


class PolarSession(VendorSession):
    """Polar PMD: ACC (±8 g, 16 bit) and, on the Verity Sense, GYRO (±2000 °/s) at ``rate_hz``."""

    vendor = "polar"
    rates_hz = (25, 26, 50, 52, 100, 104, 200, 208)

    def __init__(self, rate_hz: float | None = None, **kwargs: Any) -> None:
        model = kwargs.get("model") or "Verity Sense"
        if rate_hz is None and model == "H10":
            rate_hz = 200
        super().__init__(rate_hz, **kwargs)
        if model not in polar.MODELS:
            model = "Verity Sense"
        if self.rate_hz not in polar.RATES_HZ[model]:
            raise ParameterError(f"polar {model}: rate_hz must be one of {list(polar.RATES_HZ[model])}")
        self.model = model

    def _answer(self, op: int, meas: int) -> Callable[[bytes], bool]:
        return lambda d: len(d) >= 4 and d[0] == 0xF0 and d[1] == op and d[2] == meas

    async def _command(self, client: BleakClient, data: bytes) -> polar.ControlPointResponse:
        reply = await self._request(client, polar.CONTROL_POINT_UUID, data, self._answer(data[0], data[1]))
        return polar.decode_control_point_response(reply)

    def _measurements(self) -> list[int]:
        return [polar.ACC, polar.GYRO] if polar.MODELS[self.model] else [polar.ACC]

    async def setup(self, client: BleakClient, subscribe: Subscribe) -> VendorInfo:
        serial = await self._read_text(client, SERIAL_NUMBER_UUID)
        firmware = await self._read_text(client, FIRMWARE_REVISION_UUID)
        battery = bytes(await client.read_gatt_char(BATTERY_LEVEL_UUID))
        features = bytes(await client.read_gatt_char(polar.CONTROL_POINT_UUID))
        self.sensor_id = f"polar-{serial}"
        for meas in self._measurements():
            if len(features) < 2 or not features[1] & (1 << meas):
                raise VendorSetupError(f"polar {self.model}: measurement {meas} not offered ({features.hex(' ')})")
        await subscribe(polar.CONTROL_POINT_UUID)  # responses come as indications
        await subscribe(polar.DATA_UUID)
        settings: dict[str, Any] = {
            "model": self.model,
            "rate_hz": int(self.rate_hz),
            "gyroscope": polar.MODELS[self.model],
        }
        if self.info is not None:  # a reconnection keeps the factors of the first start
            settings = dict(self.info.settings)
        self.info = VendorInfo(self.sensor_id, self.model, firmware, int(battery[0]) if battery else None, settings)
        return self.info

    async def start(self, client: BleakClient) -> None:
        assert self.info is not None
        settings = dict(self.info.settings)
        for meas in self._measurements():
            request = {"sample_rate": int(self.rate_hz), "resolution": 16, "range": 8 if meas == polar.ACC else 2000}
            if meas == polar.ACC:
                request["channels"] = 3
            resp = await self._command(client, polar.start_command(meas, request))
            if resp.status == ALREADY_STARTED and self.info.settings.get("acc_factor") is not None:
                continue  # kept running through a link loss (a reconnection): listening again is enough
            if resp.status == ALREADY_STARTED:  # left running by someone else: its settings are unknown
                await self._command(client, polar.stop_command(meas))
                resp = await self._command(client, polar.start_command(meas, request))
            if not resp.ok:
                raise VendorSetupError(f"polar {self.model}: start of measurement {meas} refused, status {resp.status}")
            factor = polar.decode_settings(resp.parameters).get("factor", [1.0])[0] if resp.parameters else 1.0
            key = "acc_factor" if meas == polar.ACC else "gyr_factor"
            if key not in settings or settings[key] == 1.0:
                settings[key] = float(factor)
        self.info = VendorInfo(
            self.info.sensor_id, self.info.model, self.info.firmware, self.info.battery_pct, settings
        )

    async def stop(self, client: BleakClient) -> None:
        for meas in self._measurements():
            await self._command(client, polar.stop_command(meas))


class WitMotionSession(VendorSession):
    """WitMotion BLE 5.0: rate register written (unlock, write, save); streams by itself."""

    vendor = "witmotion"
    rates_hz = tuple(sorted(r for r in witmotion.RATE_CODES if r >= 10))

    async def setup(self, client: BleakClient, subscribe: Subscribe) -> VendorInfo:
        uuid = witmotion.WRITE_CHAR_UUID
        digest = hashlib.blake2b(self.address.upper().encode(), digest_size=4).hexdigest().upper()
        self.sensor_id = f"witmotion-{digest}"
        for command in (witmotion.unlock(), witmotion.set_rate(self.rate_hz), witmotion.save()):
            await client.write_gatt_char(uuid, command, response=True)
        await subscribe(witmotion.NOTIFY_CHAR_UUID)  # frames flow from now on, at the saved rate
        reply = await self._request(
            client, uuid, witmotion.read_register(0x64), lambda d: d[:4] == bytes([0x55, 0x71, 0x64, 0x00])
        )
        volts = struct.unpack_from("<h", reply, 4)[0] / 100.0 if len(reply) >= 6 else 0.0
        settings = {"rate_hz": self.rate_hz}
        self.info = VendorInfo(self.sensor_id, self.model or "WT901BLECL", "", witmotion_battery_pct(volts), settings)
        return self.info

    async def start(self, client: BleakClient) -> None:
        """Nothing to send: the sensor streams as soon as its notifications are on."""

    async def stop(self, client: BleakClient) -> None:
        """Nothing to send (the link unsubscribes)."""


def witmotion_battery_pct(volts: float) -> int:
    """WitMotion's own voltage -> percent table (DeviceModel.java, research notes §4.3)."""
    for threshold, pct in ((3.96, 100), (3.93, 90), (3.87, 75), (3.82, 60), (3.79, 50), (3.77, 40), (3.73, 30),
                           (3.70, 20), (3.68, 15), (3.50, 10), (3.40, 5)):  # fmt: skip
        if volts >= threshold:
            return pct
    return 0


#: The vendor's common research rate, Hz (``docs/vendors.md``).
VENDOR_RATES_HZ: dict[str, float] = {"metamotion": 100, "dot": 60, "polar": 52, "witmotion": 100.0}

VENDOR_SESSIONS: dict[str, type[VendorSession]] = {
    "metamotion": MetaMotionSession,
    "dot": DotSession,
    "polar": PolarSession,
    "witmotion": WitMotionSession,
}


def vendor_session(vendor: str, rate_hz: float | None = None, **kwargs: Any) -> VendorSession:
    """A fresh setup exchange for ``vendor`` (registry name)."""
    try:
        cls = VENDOR_SESSIONS[vendor]
    except KeyError:
        raise ParameterError(f"vendor must be one of {', '.join(VENDOR_SESSIONS)}, got {vendor!r}") from None
    return cls(rate_hz, **kwargs)
