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

Each data notification carries the instant the firmware finished the packet, and the
peripheral hands the emulator its sensor's link (:meth:`SensorPeripheral.link_scheduler`),
so a virtual sensor reaches bleak through the same packet scheduler, with the same
parameters and draws, as it reaches an in-process host (:mod:`dmi_sensors.sim.stream`).
:func:`virtual_sensors` (the emulator's default device factory) numbers its sensors with
the one scheme of :mod:`dmi_sensors.sim.identity`.
"""

from __future__ import annotations

import dataclasses
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
from dmi_sensors.sim.calibration import simulated_imu_errors
from dmi_sensors.sim.identity import sensor_address, simulated_serial
from dmi_sensors.sim.imu import PacketLoss
from dmi_sensors.sim.link import LinkModel, LinkScheduler
from dmi_sensors.sim.virtual_sensor import VirtualSensor

__all__ = ["SensorPeripheral", "sensor_address", "virtual_sensors"]

DATA = P.DATA_CHAR_UUID.lower()
CONTROL = P.CONTROL_CHAR_UUID.lower()
STATUS = P.STATUS_CHAR_UUID.lower()


class SensorPeripheral:
    """A virtual DMI sensor as a :class:`~dmi_sensors.sim.bluez.model.Peripheral`.

    Parameters
    ----------
    sensor
        The firmware model (:class:`dmi_sensors.sim.VirtualSensor`).
    address
        BLE address to appear under.
    rssi_dbm
        Nominal advertised RSSI.
    status_interval_s
        Period of unsolicited status notifications while connected.
    """

    def __init__(
        self, sensor: VirtualSensor, address: str, rssi_dbm: int = -55, status_interval_s: float = 1.0
    ) -> None:
        self.sensor = sensor
        self.address = address.upper()
        self.rssi_dbm = rssi_dbm
        self.status_interval_s = status_interval_s
        self._connected = False
        self._next_status_s = 0.0
        self.sensor.prepare()  # simulate the motion now, not when streaming starts

    def link_scheduler(self) -> LinkScheduler[Any]:
        """The sensor's radio link (:meth:`dmi_sensors.sim.VirtualSensor.link_scheduler`)."""
        return self.sensor.link_scheduler()

    def next_ready_s(self) -> float | None:
        """When the next data packet is finished or the next status notification is due."""
        times = [self.sensor.next_packet_due_s(), self._next_status_s if self._connected else None]
        due = [t for t in times if t is not None]
        return min(due) if due else None

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
        return [Notification(DATA, p.data, p.n_samples, p.done_s) for p in self.sensor.sent_until(now_s)]

    def poll(self, now_s: float) -> list[Notification]:
        out = self._data(now_s)
        if self._connected and now_s >= self._next_status_s:
            self._next_status_s = now_s + self.status_interval_s
            out.append(Notification(STATUS, self.sensor.status_packet(now_s)))
        return out

    def corrupt(self, note: Notification, rng: random.Random) -> bytes:
        """Truncate by 1-11 bytes: the length no longer matches the sample count (``bad_length``)."""
        return note.data[: len(note.data) - rng.randint(1, 11)]

    def jump_counter(self, note: Notification, delta: int) -> bytes:
        """The data packet well-formed but with its sample counter advanced by ``delta``
        (modulo the wire width): what corrupted firmware or memory would send."""
        packet = P.decode_data_packet(note.data)
        data = bytearray(note.data)
        if packet.compact:
            data[3:5] = ((packet.counter + delta) % packet.counter_modulus).to_bytes(2, "little")
        else:
            data[6:10] = ((packet.counter + delta) % packet.counter_modulus).to_bytes(4, "little")
        return bytes(data)


def virtual_sensors(
    n: int = 4,
    fs_hz: int = 200,
    seed: int = 0,
    first_index: int = 0,
    link: dict[str, Any] | None = None,
    packet_loss: dict[str, float] | None = None,
    **sensor_kwargs: Any,
) -> list[SensorPeripheral]:
    """The default device factory of the emulator: ``n`` virtual DMI sensors (quiet standing,
    60 s of simulated motion looped): simulated sensors ``first_index + i``
    (:mod:`dmi_sensors.sim.identity`), seeds ``seed + i`` (motion, errors and link draws).

    JSON-able (the emulator process gets them on its command line): ``link``, keyword
    arguments of :class:`~dmi_sensors.sim.link.LinkModel` (default ``LinkModel()``);
    ``packet_loss``, of :class:`~dmi_sensors.sim.imu.PacketLoss` (the sensors' air losses,
    default none). Each sensor has its unit's own hardware errors,
    :func:`~dmi_sensors.sim.calibration.simulated_imu_errors` (bias, scale, misalignment,
    mounting: what ``calibrate --simulate`` calibrates). ``sensor_kwargs`` go to
    :class:`~dmi_sensors.sim.VirtualSensor` (an ``imu_errors`` there replaces them).
    """
    model = LinkModel(**link) if link else None
    out = []
    for i in range(n):
        k = first_index + i
        kwargs = dict(sensor_kwargs)
        if "imu_errors" not in kwargs:  # the unit's own hardware errors (sim.identity), plus air losses
            errors = simulated_imu_errors(k)
            if packet_loss:
                errors = dataclasses.replace(errors, packet_loss=PacketLoss(**packet_loss))
            kwargs["imu_errors"] = errors
        sensor = VirtualSensor(simulated_serial(k), fs_hz=fs_hz, seed=seed + i, link=model, **kwargs)
        out.append(SensorPeripheral(sensor, sensor_address(k), rssi_dbm=-50 - 3 * i))
    return out
