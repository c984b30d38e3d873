"""What the emulated BlueZ needs from a device: the :class:`Peripheral` interface.

The emulator (:mod:`dmi_sensors.sim.bluez.emulator`) knows D-Bus and BlueZ; a peripheral
knows its GATT table, its advertisement and its firmware behaviour. The two meet here:

* :meth:`Peripheral.services` describes the GATT table (exported as ``GattService1`` /
  ``GattCharacteristic1`` / ``GattDescriptor1`` objects on every connection);
* :meth:`Peripheral.read` / :meth:`Peripheral.write` serve ``ReadValue`` / ``WriteValue``;
  a write may answer with notifications (e.g. a command response);
* :meth:`Peripheral.poll` is called with the device's clock and returns the notifications
  the peripheral finished since the last call (data packets, status), each with the number
  of samples it carries (so the emulator can keep the truth of what was sent and dropped)
  and, when it knows, the instant it finished it (``Notification.done_s``);
* :meth:`Peripheral.corrupt` turns a notification into one the host's decoder must reject
  (fault injection: malformed notifications).

What happens on the air is not the peripheral's business: the emulator sends every
notification through the one packet scheduler (:class:`dmi_sensors.sim.link.LinkScheduler`,
which decides the connection event, losses and arrival time). Two optional members let a
peripheral take part:

* ``link_scheduler() -> LinkScheduler`` -- the peripheral's own link (its parameters, seed
  and losses; a virtual DMI sensor's :meth:`~dmi_sensors.sim.VirtualSensor.link_scheduler`).
  Without it the emulator uses ``LinkModel(connection_interval_s=tick_s)`` without losses;
* ``next_ready_s() -> float | None`` -- when the peripheral will next have something to
  send (``None``: not before a write or a (dis)connection). Without it the emulator polls
  at every connection event.

Standard SIG services shared by every sensor (Battery 0x180F, Device Information 0x180A)
are built by :func:`battery_service` and :func:`device_information_service`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dmi_sensors.errors import EmulatorError

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "CCCD_UUID",
    "DEVICE_INFORMATION_SERVICE_UUID",
    "DIS_FIRMWARE_REVISION_UUID",
    "DIS_HARDWARE_REVISION_UUID",
    "DIS_MANUFACTURER_NAME_UUID",
    "DIS_MODEL_NUMBER_UUID",
    "DIS_SERIAL_NUMBER_UUID",
    "Advertisement",
    "CharacteristicSpec",
    "DescriptorSpec",
    "GattError",
    "Notification",
    "Peripheral",
    "ServiceSpec",
    "battery_service",
    "device_information_service",
    "sig_uuid",
]


def sig_uuid(short: int) -> str:
    """The 128-bit form of a 16-bit Bluetooth SIG UUID, lower case."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


BATTERY_SERVICE_UUID = sig_uuid(0x180F)
BATTERY_LEVEL_UUID = sig_uuid(0x2A19)
DEVICE_INFORMATION_SERVICE_UUID = sig_uuid(0x180A)
DIS_MODEL_NUMBER_UUID = sig_uuid(0x2A24)
DIS_SERIAL_NUMBER_UUID = sig_uuid(0x2A25)
DIS_FIRMWARE_REVISION_UUID = sig_uuid(0x2A26)
DIS_HARDWARE_REVISION_UUID = sig_uuid(0x2A27)
DIS_MANUFACTURER_NAME_UUID = sig_uuid(0x2A29)
#: Client Characteristic Configuration descriptor (present on every notify characteristic).
CCCD_UUID = sig_uuid(0x2902)


class GattError(EmulatorError):
    """Raised by a peripheral to answer a GATT request with a BlueZ error.

    ``name`` is the D-Bus error name (e.g. ``org.bluez.Error.NotPermitted``).
    """

    def __init__(self, name: str, text: str = "") -> None:
        super().__init__(text or name)
        self.name = name
        self.text = text


@dataclass(frozen=True, slots=True)
class DescriptorSpec:
    """One GATT descriptor: UUID and its (static) value."""

    uuid: str
    value: bytes = b""


@dataclass(frozen=True, slots=True)
class CharacteristicSpec:
    """One GATT characteristic.

    ``flags`` use BlueZ's words: ``read``, ``write``, ``write-without-response``, ``notify``,
    ``indicate``. Notify/indicate characteristics get a CCCD (0x2902) automatically.
    """

    uuid: str
    flags: tuple[str, ...]
    descriptors: tuple[DescriptorSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One primary GATT service with its characteristics."""

    uuid: str
    characteristics: tuple[CharacteristicSpec, ...]
    primary: bool = True


@dataclass(frozen=True, slots=True)
class Advertisement:
    """What a scan sees of a peripheral (BlueZ ``Device1`` properties).

    ``manufacturer_data`` maps the 16-bit company id to the payload after it.
    """

    name: str
    service_uuids: tuple[str, ...] = ()
    manufacturer_data: dict[int, bytes] = field(default_factory=dict)
    rssi_dbm: int = -60
    tx_power_dbm: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A value notified on a characteristic; ``samples`` = IMU samples it carries (0 if none).

    ``done_s``: when the peripheral finished it (device clock; ``None``: when it was polled
    or written), the ``t_done`` of the link scheduler's rule.
    """

    char_uuid: str
    data: bytes
    samples: int = 0
    done_s: float | None = None


@runtime_checkable
class Peripheral(Protocol):
    """A BLE peripheral the emulator can serve (see the module docstring).

    ``now_s`` arguments are the device's own clock: seconds since the emulator created it
    (monotonic, shared by every peripheral of one emulator).
    """

    #: Public BD address, ``AA:BB:CC:DD:EE:FF`` (upper case).
    address: str

    def advertisement(self) -> Advertisement: ...

    def services(self) -> list[ServiceSpec]: ...

    def read(self, char_uuid: str, now_s: float) -> bytes: ...

    def write(self, char_uuid: str, data: bytes, now_s: float) -> list[Notification]: ...

    def connected(self, now_s: float) -> None: ...

    def disconnected(self, now_s: float) -> None: ...

    def poll(self, now_s: float) -> list[Notification]: ...

    def corrupt(self, note: Notification, rng: random.Random) -> bytes: ...


def battery_service() -> ServiceSpec:
    """Battery Service 0x180F with Battery Level 0x2A19 (read, notify; uint8 percent)."""
    return ServiceSpec(BATTERY_SERVICE_UUID, (CharacteristicSpec(BATTERY_LEVEL_UUID, ("read", "notify")),))


def device_information_service() -> ServiceSpec:
    """Device Information Service 0x180A: manufacturer, model, serial, firmware, hardware (UTF-8 strings)."""
    uuids = (
        DIS_MANUFACTURER_NAME_UUID,
        DIS_MODEL_NUMBER_UUID,
        DIS_SERIAL_NUMBER_UUID,
        DIS_FIRMWARE_REVISION_UUID,
        DIS_HARDWARE_REVISION_UUID,
    )
    return ServiceSpec(DEVICE_INFORMATION_SERVICE_UUID, tuple(CharacteristicSpec(u, ("read",)) for u in uuids))
