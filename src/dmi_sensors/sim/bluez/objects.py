"""dbus-fast ``ServiceInterface`` classes of the emulated ``org.bluez`` object tree.

Only what bleak 3.1's BlueZ backend uses is implemented (see ``docs/ble.md``): properties
are read by bleak from ``GetManagedObjects`` / ``InterfacesAdded`` / ``PropertiesChanged``,
never with ``Properties.Get``; methods delegate to an owner object (the emulator's adapter
or device state) so that this module holds no behaviour, only the D-Bus shape::

    /org/bluez/hci0                                   org.bluez.Adapter1
    /org/bluez/hci0/dev_AA_BB_CC_DD_EE_01             org.bluez.Device1
    .../dev_.../service000c                           org.bluez.GattService1
    .../dev_.../service000c/char000d                  org.bluez.GattCharacteristic1
    .../dev_.../service000c/char000d/desc000f         org.bluez.GattDescriptor1

``AcquireNotify`` (a characteristic with the ``NotifyAcquired`` property,
:class:`AcquirableCharacteristicInterface`) returns a file descriptor; its reply is built by
the emulator's message handler (``BluezEmulator._on_message``) rather than by a
``dbus_method`` here, because the emulator must close its own copy of that descriptor only
once the reply carrying it has been written to the bus, and only the message handler sees
that moment.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from dbus_fast import DBusError, PropertyAccess, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

__all__ = [
    "AcquirableCharacteristicInterface",
    "AdapterInterface",
    "CharacteristicInterface",
    "DescriptorInterface",
    "DeviceInterface",
    "ServiceInterface1",
]

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusPathList = Annotated[list[str], DBusSignature("ao")]
DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]

READ = PropertyAccess.READ


class AdapterOwner(Protocol):
    def set_discovery_filter(self, properties: dict[str, Any]) -> None: ...
    def start_discovery(self) -> None: ...
    def stop_discovery(self) -> None: ...
    def remove_device(self, path: str) -> None: ...


class DeviceOwner(Protocol):
    async def connect(self) -> None: ...
    async def disconnect(self) -> None: ...


class CharacteristicOwner(Protocol):
    def read_value(self, char: CharacteristicInterface, options: dict[str, Any]) -> bytes: ...
    def write_value(self, char: CharacteristicInterface, value: bytes, options: dict[str, Any]) -> None: ...
    def start_notify(self, char: CharacteristicInterface) -> None: ...
    def stop_notify(self, char: CharacteristicInterface) -> None: ...


class AdapterInterface(ServiceInterface):
    """``org.bluez.Adapter1`` of one emulated controller (powered, central role)."""

    def __init__(self, owner: AdapterOwner, address: str, name: str) -> None:
        super().__init__("org.bluez.Adapter1")
        self._owner = owner
        self.address = address
        self.adapter_name = name  # (``self.name`` is the D-Bus interface name)
        self.discovering = False

    @dbus_property(READ)
    def Address(self) -> DBusStr:
        return self.address

    @dbus_property(READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(READ)
    def Name(self) -> DBusStr:
        return self.adapter_name

    @dbus_property(READ)
    def Alias(self) -> DBusStr:
        return self.adapter_name

    @dbus_property(READ)
    def Powered(self) -> DBusBool:
        return True

    @dbus_property(READ)
    def Discoverable(self) -> DBusBool:
        return False

    @dbus_property(READ)
    def Pairable(self) -> DBusBool:
        return True

    @dbus_property(READ)
    def Discovering(self) -> DBusBool:
        return self.discovering

    @dbus_property(READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_property(READ)
    def UUIDs(self) -> DBusStrList:
        return []

    @dbus_method()
    def SetDiscoveryFilter(self, properties: DBusDict):
        self._owner.set_discovery_filter({k: v.value for k, v in properties.items()})

    @dbus_method()
    def StartDiscovery(self):
        self._owner.start_discovery()

    @dbus_method()
    def StopDiscovery(self):
        self._owner.stop_discovery()

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath):
        self._owner.remove_device(device)

    @dbus_method()
    def GetDiscoveryFilters(self) -> DBusStrList:
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"]


class DeviceInterface(ServiceInterface):
    """``org.bluez.Device1`` of one emulated peripheral."""

    def __init__(
        self,
        owner: DeviceOwner,
        adapter_path: str,
        address: str,
        name: str,
        uuids: list[str],
        manufacturer_data: dict[int, bytes],
        rssi_dbm: int,
        tx_power_dbm: int | None,
    ) -> None:
        super().__init__("org.bluez.Device1")
        self._owner = owner
        self.adapter_path = adapter_path
        self.address = address
        self.device_name = name  # (``self.name`` is the D-Bus interface name)
        self.uuids = uuids
        self.manufacturer_data = manufacturer_data
        self.rssi_dbm = rssi_dbm
        self.tx_power_dbm = tx_power_dbm if tx_power_dbm is not None else 0
        self.connected = False
        self.services_resolved = False

    @dbus_property(READ)
    def Address(self) -> DBusStr:
        return self.address

    @dbus_property(READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(READ)
    def Name(self) -> DBusStr:
        return self.device_name

    @dbus_property(READ)
    def Alias(self) -> DBusStr:
        return self.device_name

    @dbus_property(READ)
    def Adapter(self) -> DBusObjectPath:
        return self.adapter_path

    @dbus_property(READ)
    def Paired(self) -> DBusBool:
        return False

    @dbus_property(READ)
    def Bonded(self) -> DBusBool:
        return False

    @dbus_property(READ)
    def Trusted(self) -> DBusBool:
        return False

    @dbus_property(READ)
    def Blocked(self) -> DBusBool:
        return False

    @dbus_property(READ)
    def LegacyPairing(self) -> DBusBool:
        return False

    @dbus_property(READ)
    def Connected(self) -> DBusBool:
        return self.connected

    @dbus_property(READ)
    def ServicesResolved(self) -> DBusBool:
        return self.services_resolved

    @dbus_property(READ)
    def UUIDs(self) -> DBusStrList:
        return list(self.uuids)

    @dbus_property(READ)
    def RSSI(self) -> DBusInt16:
        return self.rssi_dbm

    @dbus_property(READ)
    def TxPower(self) -> DBusInt16:
        return self.tx_power_dbm

    @dbus_property(READ)
    def ManufacturerData(self) -> DBusManufacturerData:
        return {k: Variant("ay", v) for k, v in self.manufacturer_data.items()}

    @dbus_property(READ)
    def ServiceData(self) -> DBusDict:
        return {}

    @dbus_method()
    async def Connect(self):
        await self._owner.connect()

    @dbus_method()
    async def Disconnect(self):
        await self._owner.disconnect()

    @dbus_method()
    def Pair(self):
        raise DBusError("org.bluez.Error.NotSupported", "pairing is not emulated")

    @dbus_method()
    def CancelPairing(self):
        raise DBusError("org.bluez.Error.DoesNotExist", "no pairing in progress")


class ServiceInterface1(ServiceInterface):
    """``org.bluez.GattService1``."""

    def __init__(self, uuid: str, device_path: str, primary: bool, handle: int) -> None:
        super().__init__("org.bluez.GattService1")
        self.uuid = uuid
        self.device_path = device_path
        self.primary = primary
        self.handle = handle

    @dbus_property(READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(READ)
    def Device(self) -> DBusObjectPath:
        return self.device_path

    @dbus_property(READ)
    def Primary(self) -> DBusBool:
        return self.primary

    @dbus_property(READ)
    def Includes(self) -> DBusPathList:
        return []

    @dbus_property(READ)
    def Handle(self) -> DBusUInt16:
        return self.handle


class CharacteristicInterface(ServiceInterface):
    """``org.bluez.GattCharacteristic1``; notifications are ``PropertiesChanged(Value)``."""

    def __init__(
        self, owner: CharacteristicOwner, uuid: str, service_path: str, flags: list[str], handle: int, mtu: int
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self._owner = owner
        self.uuid = uuid
        self.service_path = service_path
        self.flags = flags
        self.handle = handle
        self.mtu = mtu
        self.value = b""
        self.notifying = False

    @dbus_property(READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(READ)
    def Service(self) -> DBusObjectPath:
        return self.service_path

    @dbus_property(READ)
    def Flags(self) -> DBusStrList:
        return list(self.flags)

    @dbus_property(READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(READ)
    def Notifying(self) -> DBusBool:
        return self.notifying

    @dbus_property(READ)
    def MTU(self) -> DBusUInt16:
        return self.mtu

    @dbus_property(READ)
    def Handle(self) -> DBusUInt16:
        return self.handle

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        return self._owner.read_value(self, {k: v.value for k, v in options.items()})

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict):
        self._owner.write_value(self, bytes(value), {k: v.value for k, v in options.items()})

    @dbus_method()
    def StartNotify(self):
        self._owner.start_notify(self)

    @dbus_method()
    def StopNotify(self):
        self._owner.stop_notify(self)


class AcquirableCharacteristicInterface(CharacteristicInterface):
    """A notifying ``org.bluez.GattCharacteristic1`` that also offers ``AcquireNotify``.

    BlueZ (>= 5.46) adds the ``NotifyAcquired`` property to characteristics with the
    ``notify`` or ``indicate`` flag; its mere presence tells bleak the method exists.
    ``acquired`` is True while a client holds the notification socket.
    """

    def __init__(
        self, owner: CharacteristicOwner, uuid: str, service_path: str, flags: list[str], handle: int, mtu: int
    ) -> None:
        super().__init__(owner, uuid, service_path, flags, handle, mtu)
        self.acquired = False

    @dbus_property(READ)
    def NotifyAcquired(self) -> DBusBool:
        return self.acquired


class DescriptorInterface(ServiceInterface):
    """``org.bluez.GattDescriptor1`` (static value)."""

    def __init__(self, uuid: str, char_path: str, value: bytes, handle: int) -> None:
        super().__init__("org.bluez.GattDescriptor1")
        self.uuid = uuid
        self.char_path = char_path
        self.value = value
        self.handle = handle

    @dbus_property(READ)
    def UUID(self) -> DBusStr:
        return self.uuid

    @dbus_property(READ)
    def Characteristic(self) -> DBusObjectPath:
        return self.char_path

    @dbus_property(READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_property(READ)
    def Flags(self) -> DBusStrList:
        return ["read"]

    @dbus_property(READ)
    def Handle(self) -> DBusUInt16:
        return self.handle

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        return self.value
