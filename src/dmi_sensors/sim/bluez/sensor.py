"""Virtual DMI sensors as BLE peripherals of the emulated BlueZ.

:class:`SensorPeripheral` puts a :class:`dmi_sensors.sim.VirtualSensor` (the firmware
model speaking protocol v1) behind the GATT table a real sensor exposes:

==========================  ===============================================================
Battery 0x180F / 0x2A19     read: the sensor's battery level (uint8 %)
Device Information 0x180A   read: manufacturer, model, serial (8 hex digits), firmware, hw rev
DMI service                 DATA (notify): data packets; CONTROL (write): commands;
                            STATUS (read, notify): command responses and a status packet
                            once per second
==========================  ===============================================================

and advertises the name ``DMI-<serial>``, the DMI service UUID and manufacturer data
(serial, protocol version) under :data:`~dmi_sensors.protocol.COMPANY_ID`.

Emulated firmware behaviour on link loss: the sensor keeps sampling (its sample counter
runs on), and what it produces while the link is down is lost — so the host can count the
gap from the counter after it reconnects and finds the sensor still streaming (GET_INFO).
"""

from __future__ import annotations

import random
from typing import Any

from dmi_sensors import protocol as P
from dmi_sensors.sim.bluez.model import (
    BATTERY_LEVEL_UUID,
    DIS_SERIAL_NUMBER_UUID,
    Advertisement,
    CharacteristicSpec,
    GattError,
    Notification,
    ServiceSpec,
    battery_service,
    device_information_service,
)

__all__ = ["SensorPeripheral", "sensor_address", "virtual_sensors"]

DATA = P.DATA_CHAR_UUID.lower()
CONTROL = P.CONTROL_CHAR_UUID.lower()
STATUS = P.STATUS_CHAR_UUID.lower()


def sensor_address(index: int) -> str:
    """Deterministic public address of emulated sensor ``index`` (0-based)."""
    return f"D0:31:5E:00:{(index + 1) >> 8:02X}:{(index + 1) & 0xFF:02X}"


class SensorPeripheral:
    """A virtual DMI sensor as a :class:`~dmi_sensors.sim.bluez.model.Peripheral`.

    Parameters
    ----------
    sensor
        The firmware model (``dmi_sensors.sim.VirtualSensor``).
    address
        BLE address to appear under.
    rssi_dbm
        Nominal advertised RSSI.
    status_interval_s
        Period of unsolicited status notifications while connected.
    """

    def __init__(self, sensor: Any, address: str, rssi_dbm: int = -55, status_interval_s: float = 1.0) -> None:
        self.sensor = sensor
        self.address = address.upper()
        self.rssi_dbm = rssi_dbm
        self.status_interval_s = status_interval_s
        self._connected = False
        self._next_status_s = 0.0
        self.sensor.result  # noqa: B018 - simulate the motion now, not when streaming starts

    @property
    def serial(self) -> str:
        return P.format_serial(P.parse_serial(self.sensor.serial))

    def advertisement(self) -> Advertisement:
        return Advertisement(
            name=P.device_name(self.serial),
            service_uuids=(P.SERVICE_UUID,),
            manufacturer_data={P.COMPANY_ID: P.encode_manufacturer_data(self.serial)},
            rssi_dbm=self.rssi_dbm,
            tx_power_dbm=0,
        )

    def services(self) -> list[ServiceSpec]:
        dmi = ServiceSpec(
            P.SERVICE_UUID,
            (
                CharacteristicSpec(DATA, ("notify",)),
                CharacteristicSpec(CONTROL, ("write",)),
                CharacteristicSpec(STATUS, ("read", "notify")),
            ),
        )
        return [battery_service(), device_information_service(), dmi]

    def _dis(self) -> dict[str, str]:
        info = {k.lower(): v for k, v in self.sensor.device_information.items()}
        info[DIS_SERIAL_NUMBER_UUID] = self.serial
        return info

    def read(self, char_uuid: str, now_s: float) -> bytes:
        if char_uuid == BATTERY_LEVEL_UUID:
            return bytes([int(self.sensor.battery_pct)])
        if char_uuid == STATUS:
            return self.sensor.status_packet(now_s)
        dis = self._dis()
        if char_uuid in dis:
            return dis[char_uuid].encode()
        raise GattError("org.bluez.Error.NotPermitted", f"read not permitted on {char_uuid}")

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]:
        if char_uuid != CONTROL:
            raise GattError("org.bluez.Error.NotPermitted", f"write not permitted on {char_uuid}")
        # Data due before the command was received goes out first (same firmware queue); a
        # STOP_STREAMING flushes the partial packet, which also precedes the response.
        out = self._data(now_s)
        responses = self.sensor.handle_control(data, now_s)
        out += self._data(now_s)
        out += [Notification(STATUS, r) for r in responses]
        return out

    def connected(self, now_s: float) -> None:
        self._connected = True
        self._next_status_s = now_s + self.status_interval_s

    def disconnected(self, now_s: float) -> None:
        self._connected = False

    def _data(self, now_s: float) -> list[Notification]:
        sensor = self.sensor
        sent_before = sensor.samples_sent
        out = []
        for pkt in sensor.packets_until(now_s):
            n = pkt[4] if pkt[1] == P.PacketType.DATA else 1
            out.append(Notification(DATA, pkt, n))
        # packets the firmware model itself lost on the air (ImuErrors.packet_loss): truth too
        lost = sensor.samples_sent - sent_before - sum(note.samples for note in out)
        if lost > 0:
            out.append(Notification(DATA, b"", lost, lost_on_air=True))
        return out

    def poll(self, now_s: float) -> list[Notification]:
        out = self._data(now_s)
        if self._connected and now_s >= self._next_status_s:
            self._next_status_s = now_s + self.status_interval_s
            out.append(Notification(STATUS, self.sensor.status_packet(now_s)))
        return out

    def corrupt(self, note: Notification, rng: random.Random) -> bytes:
        """Truncate by 1-11 bytes: the length no longer matches the sample count (``bad_length``)."""
        return note.data[: len(note.data) - rng.randint(1, 11)]


def virtual_sensors(
    n: int = 4,
    fs_hz: int = 200,
    seed: int = 0,
    first_serial: int = 0x00D10001,
    **sensor_kwargs: Any,
) -> list[SensorPeripheral]:
    """The default device factory of the emulator: ``n`` virtual DMI sensors (quiet standing,
    60 s of simulated motion looped, different seeds), serials ``first_serial + i``."""
    from dmi_sensors.sim import VirtualSensor

    out = []
    for i in range(n):
        sensor = VirtualSensor(first_serial + i, fs_hz=fs_hz, seed=seed + i, **sensor_kwargs)
        out.append(SensorPeripheral(sensor, sensor_address(i), rssi_dbm=-50 - 3 * i))
    return out
