"""An emulated BlueZ: ``org.bluez`` over dbus-fast on a private ``dbus-daemon``.

bleak's real Linux backend runs against it unchanged (``DBUS_SYSTEM_BUS_ADDRESS`` points it
at the private bus), so scanning, connecting, GATT, notifications, reconnection and fault
handling are tested without Bluetooth hardware. See ``docs/ble.md`` ("The emulator").

Modules (one job each):

* ``harness`` — :class:`EmulatedBluez`: start/stop daemon + emulator process, environment, control;
* ``emulator`` — :class:`BluezEmulator`: the in-process ``org.bluez`` implementation (D-Bus);
* ``objects`` — the ``org.bluez`` D-Bus interfaces (adapter, device, GATT objects);
* ``air`` — a peripheral's notifications through the one packet scheduler (``dmi_sensors.sim.link``);
* ``model`` — :class:`Peripheral`: what a device must provide (GATT table, reads/writes, data);
* ``sensor`` — virtual DMI sensors as peripherals (the emulator's default device factory);
* ``guided`` — the virtual sensor that performs calibration steps on command;
* ``faults`` — :class:`FaultProfile` / :data:`PROFILES`: fault injection;
* ``control`` — the JSON-lines control channel of the emulator process;
* ``bus`` — :class:`PrivateBus`: just the dbus-daemon;
* ``__main__`` — the emulator process.
"""

from dmi_sensors.sim.bluez.bus import BusError, PrivateBus
from dmi_sensors.sim.bluez.emulator import BluezEmulator, DeviceTruth
from dmi_sensors.sim.bluez.faults import PROFILES, FaultProfile, fault_profile
from dmi_sensors.sim.bluez.harness import DEFAULT_FACTORY, EmulatedBluez, EmulatorError, simulated_sensors
from dmi_sensors.sim.bluez.model import Advertisement, Notification, Peripheral, ServiceSpec

__all__ = [
    "DEFAULT_FACTORY",
    "PROFILES",
    "Advertisement",
    "BluezEmulator",
    "BusError",
    "DeviceTruth",
    "EmulatedBluez",
    "EmulatorError",
    "FaultProfile",
    "Notification",
    "Peripheral",
    "PrivateBus",
    "ServiceSpec",
    "fault_profile",
    "simulated_sensors",
]
