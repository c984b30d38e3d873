"""The emulated BlueZ daemon: ``org.bluez`` served with dbus-fast on a (private) system bus.

:class:`BluezEmulator` owns the bus name ``org.bluez``, exports one adapter
(``/org/bluez/hci0``) and serves any number of :class:`~dmi_sensors.sim.bluez.model.Peripheral`
devices through it, the way bluetoothd would for bleak:

* **discovery** — ``StartDiscovery`` exports a ``Device1`` per matching peripheral
  (``InterfacesAdded``) or, if already known, announces it again with an ``RSSI``
  ``PropertiesChanged``; while discovering, RSSI updates repeat every ``advert_interval_s``;
* **connection** — ``Device1.Connect`` sets ``Connected``, exports the GATT tree, sets
  ``ServicesResolved`` and returns; ``Disconnect`` (or a fault) reverses it;
* **GATT** — ``ReadValue``/``WriteValue`` go to the peripheral; ``StartNotify`` enables the
  characteristic; notifications are ``PropertiesChanged(GattCharacteristic1, {Value})``;
* **AcquireNotify** — as BlueZ documents it (``org.bluez.GattCharacteristic``): notifying
  characteristics carry the ``NotifyAcquired`` property; ``AcquireNotify(options)``
  returns ``(fd, mtu)``, one end of a ``socketpair(AF_UNIX, SOCK_SEQPACKET)`` passed over
  D-Bus as a unix fd, plus the link's ATT MTU; every notification is then one datagram on
  that socket (no D-Bus message, ``Value`` untouched). ``StartNotify`` on an acquired
  characteristic and a second ``AcquireNotify`` answer ``NotPermitted``; the client
  releases it by closing its end (the emulator sees the hang-up); a disconnect closes the
  emulator's end, which the client sees as EOF + ``POLLHUP``. ``BluezEmulator(acquire_notify=False)``
  models a BlueZ without it (no property, ``NotSupported``), and the fault
  ``acquire_notify_fail_first`` a BlueZ whose first acquisitions fail;
* **the air** — every notification a peripheral sends (data, command responses, status)
  goes through the one packet scheduler (:class:`~dmi_sensors.sim.bluez.air.Air` over the
  peripheral's :class:`~dmi_sensors.sim.link.LinkScheduler`: connection event, per-event
  limit, losses, latency, jitter); each device has a timer that wakes when the peripheral
  has something ready and when a notification arrives, and emits it then (or drops/corrupts
  it per the device's :class:`~dmi_sensors.sim.bluez.faults.FaultProfile`);
* **link drops by sample count** — :meth:`_Device.drop_after` drops the link once a given
  number of further samples is on the air and keeps the device unreachable until it has
  produced ``down_samples`` samples with the link down. Where the drop falls in the stream
  and how many samples it costs at least are then fixed in samples, whatever the host's or
  the emulator's scheduling (a busy machine only delays when they are polled).

It keeps the **truth** per device (:class:`DeviceTruth`): samples sent intact, dropped on
the air, corrupted, or produced while the link was down / notifications were off, so tests
can check the host's counter-based accounting against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import signal
import socket
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import BusType, NameFlag, RequestNameReply

from dmi_sensors.errors import EmulatorError, ParameterError
from dmi_sensors.sim.bluez.air import Air
from dmi_sensors.sim.bluez.faults import FaultProfile
from dmi_sensors.sim.bluez.model import CCCD_UUID, DescriptorSpec, GattError, Notification, Peripheral
from dmi_sensors.sim.bluez.objects import (
    AcquirableCharacteristicInterface,
    AdapterInterface,
    CharacteristicInterface,
    DescriptorInterface,
    DeviceInterface,
    ServiceInterface1,
)
from dmi_sensors.sim.link import Delivery

__all__ = ["ADAPTER_PATH", "BluezEmulator", "DeviceTruth"]

log = logging.getLogger(__name__)

ADAPTER_PATH = "/org/bluez/hci0"
ERROR_FAILED = "org.bluez.Error.Failed"
ERROR_IN_PROGRESS = "org.bluez.Error.InProgress"
ERROR_NOT_CONNECTED = "org.bluez.Error.NotConnected"
ERROR_NOT_PERMITTED = "org.bluez.Error.NotPermitted"
ERROR_NOT_SUPPORTED = "org.bluez.Error.NotSupported"
GATT_CHARACTERISTIC = "org.bluez.GattCharacteristic1"
ABORT_BY_LOCAL = "le-connection-abort-by-local"


@dataclass(slots=True)
class DeviceTruth:
    """What one emulated device really did (all counts since the emulator started).

    Samples that never reached the host intact are counted by cause:
    ``samples_dropped_air`` (notification lost), ``samples_malformed`` (notification
    corrupted) and ``samples_link_down`` (produced while disconnected or while the host had
    notifications off); ``samples_dropped_total`` is their sum.

    ``samples_dropped`` counts those of them that lie *between* two samples delivered
    intact — exactly what a host can detect from sample counters. Losses before the first
    or after the last intact delivery (``samples_dropped_edges``) are invisible to any
    counter-based accounting (e.g. a link that is down when the recording ends).
    """

    address: str
    packets_sent: int = 0
    samples_sent: int = 0
    packets_dropped_air: int = 0
    samples_dropped_air: int = 0
    packets_malformed: int = 0
    samples_malformed: int = 0
    packets_link_down: int = 0
    samples_link_down: int = 0
    other_notifications: int = 0
    connects: int = 0
    connect_aborts: int = 0
    disconnects_unsolicited: int = 0
    disconnects_requested: int = 0
    busy_writes: int = 0
    acquire_notify_failures: int = 0
    notifications_via_socket: int = 0
    writes: int = 0
    reads: int = 0
    vanished: bool = False
    samples_dropped: int = 0
    samples_dropped_edges: int = 0
    _pending_lost: int = 0
    _delivered_any: bool = False

    @property
    def samples_dropped_total(self) -> int:
        return self.samples_dropped_air + self.samples_malformed + self.samples_link_down

    @property
    def packets_dropped(self) -> int:
        return self.packets_dropped_air + self.packets_malformed + self.packets_link_down

    def lost(self, samples: int) -> None:
        """Samples that will not reach the host (cause counted by the caller)."""
        self._pending_lost += samples

    def delivered(self, samples: int) -> None:
        """Samples delivered intact: losses since the previous delivery become countable."""
        if self._delivered_any:
            self.samples_dropped += self._pending_lost
        else:
            self.samples_dropped_edges += self._pending_lost
        self._pending_lost = 0
        self._delivered_any = True
        self.packets_sent += 1
        self.samples_sent += samples

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        d["samples_dropped_edges"] = self.samples_dropped_edges + self._pending_lost
        d["samples_dropped_total"] = self.samples_dropped_total
        d["packets_dropped"] = self.packets_dropped
        return d


def device_path(address: str) -> str:
    """BlueZ object path of a device on the emulated adapter."""
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


@dataclass(slots=True)
class _Gatt:
    """Exported GATT objects of one connection."""

    objects: list[tuple[str, Any]] = field(default_factory=list)  # (path, interface) in export order
    chars: dict[str, CharacteristicInterface] = field(default_factory=dict)  # uuid -> char
    paths: dict[str, CharacteristicInterface] = field(default_factory=dict)  # object path -> char


class _NotifySocket:
    """The emulator's end of one acquired notification socket (SOCK_SEQPACKET, non-blocking).

    One datagram per notification, in order; when the client's buffer is full the datagrams
    wait here (the loop's writer callback sends them on), so nothing is lost on the host side
    of the emulated air. The client's close shows up as a readable end-of-file.
    """

    def __init__(self, sock: socket.socket, on_hangup: Any) -> None:
        self.sock = sock
        self.backlog: deque[bytes] = deque()
        self._loop = asyncio.get_running_loop()
        self._on_hangup = on_hangup
        self._writing = False
        self._loop.add_reader(sock.fileno(), self._readable)

    def send(self, data: bytes) -> None:
        if self.backlog:
            self.backlog.append(data)
            return
        try:
            self.sock.send(data)
        except BlockingIOError:
            self.backlog.append(data)
            self._writing = True
            self._loop.add_writer(self.sock.fileno(), self._flush)
        except OSError:  # the client went away: its hang-up is handled by the reader
            pass

    def _flush(self) -> None:
        while self.backlog:
            try:
                self.sock.send(self.backlog[0])
            except BlockingIOError:
                return
            except OSError:
                self.backlog.clear()
                break
            self.backlog.popleft()
        self._loop.remove_writer(self.sock.fileno())
        self._writing = False

    def _readable(self) -> None:
        try:
            data = self.sock.recv(16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # EOF: the client closed its end (released the notifications)
            self._on_hangup()

    def close(self) -> None:
        fd = self.sock.fileno()
        if fd >= 0:
            self._loop.remove_reader(fd)
            if self._writing:
                self._loop.remove_writer(fd)
        self.sock.close()


class _Device:
    """One emulated peripheral as bluetoothd sees it (Device1 owner + GATT owner)."""

    def __init__(self, emu: BluezEmulator, peripheral: Peripheral, faults: FaultProfile, seed: int) -> None:
        self.emu = emu
        self.peripheral = peripheral
        self.address = peripheral.address.upper()
        self.path = device_path(self.address)
        self.faults = faults
        self.rng = random.Random(f"{seed}:{self.address}")
        self.truth = DeviceTruth(self.address)
        adv = peripheral.advertisement()
        self.iface = DeviceInterface(
            self,
            ADAPTER_PATH,
            self.address,
            adv.name,
            [u.lower() for u in adv.service_uuids],
            dict(adv.manufacturer_data),
            adv.rssi_dbm,
            adv.tx_power_dbm,
        )
        self.base_rssi = adv.rssi_dbm
        self.exported = False
        self.connecting = False
        self.gatt: _Gatt | None = None
        self.connect_attempts = 0
        self.unsolicited_disconnects = 0
        self._fault_tasks: list[asyncio.Task[None]] = []
        self.emit_log: list[tuple[float, str]] | None = None
        self.air = Air(peripheral, emu.tick_s, seed)
        self._timer: asyncio.TimerHandle | None = None
        self._drop_in: int | None = None  # samples still to go on the air before an armed drop
        self._drop_down = 0  # down_samples of the armed drop
        self._down_left = 0  # samples the device must produce with the link down before it reconnects
        self._notify_socks: dict[str, _NotifySocket] = {}  # char uuid -> acquired notification socket
        self._acquire_attempts = 0
        self.on_air_samples = 0  # samples emitted, dropped or corrupted on the air (fault triggers count these)
        self._struck: set[str] = set()  # one-shot faults that already happened
        self.gone = faults.absent  # a device that is never found never advertises

    # -- discovery ---------------------------------------------------------------------
    def matches(self, uuid_filter: list[str]) -> bool:
        return not uuid_filter or bool(set(uuid_filter) & set(self.iface.uuids))

    def announce(self) -> None:
        """Make the device visible to a scan (InterfacesAdded, else an RSSI change)."""
        if self.gone:
            return
        if not self.exported:
            self.emu.bus.export(self.path, self.iface)
            self.exported = True
            return
        if self.iface.connected:
            return  # a connected peripheral does not advertise
        self.iface.rssi_dbm = max(-100, min(-20, self.base_rssi + self.rng.randint(-4, 4)))
        self.iface.emit_properties_changed({"RSSI": self.iface.rssi_dbm})

    # -- connection --------------------------------------------------------------------
    def _set(self, **props: bool) -> None:
        changed = {}
        for name, value in props.items():
            attr = "connected" if name == "Connected" else "services_resolved"
            if getattr(self.iface, attr) != value:
                setattr(self.iface, attr, value)
                changed[name] = value
        if changed and self.exported:
            self.iface.emit_properties_changed(changed)

    async def connect(self) -> None:
        if self.gone:
            raise DBusError("org.freedesktop.DBus.Error.UnknownObject", f"device {self.path} is gone")
        if self.iface.connected and self.gatt is not None:
            return
        if self.connecting:
            raise DBusError(ERROR_IN_PROGRESS, "In Progress")
        self.connecting = True
        try:
            while self._down_left > 0 and not self.gone:  # the link stays down for a number of samples
                await asyncio.sleep(self.emu.tick_s)
            self.connect_attempts += 1
            f = self.faults
            abort = self.connect_attempts <= f.connect_abort_first or self.rng.random() < f.connect_abort_p
            self._set(Connected=True)
            if abort:
                self.truth.connect_aborts += 1
                # BlueZ really connected for a moment: Connected goes back to false after the error.
                asyncio.get_running_loop().call_later(0.02, self._set_disconnected_quietly)
                raise DBusError(ERROR_FAILED, ABORT_BY_LOCAL)
            if f.service_delay_s > 0:
                await asyncio.sleep(f.service_delay_s)
            if not self.iface.connected or self.gone:
                raise DBusError(ERROR_FAILED, "Software caused connection abort")
            self._export_gatt()
            self._set(ServicesResolved=True)
            self.truth.connects += 1
            self.air.up = True
            self.peripheral.connected(self.emu.now_s())
            self.air.invalidate()
            self.kick()
            self._schedule_faults()
        finally:
            self.connecting = False

    def _set_disconnected_quietly(self) -> None:
        if self.gatt is None:
            self._set(Connected=False)

    async def disconnect(self) -> None:
        if self.iface.connected or self.gatt is not None:
            self.truth.disconnects_requested += 1
            self.drop_link()

    def drop_link(self) -> None:
        """Tear the connection down (host request or fault): signals as bluetoothd sends them."""
        for task in self._fault_tasks:
            task.cancel()
        self._fault_tasks.clear()
        was_connected = self.gatt is not None
        if self.gatt is not None:
            for char in self.gatt.chars.values():
                char.notifying = False
                self._release(char, emit=False)
        self._set(ServicesResolved=False, Connected=False)
        if self.gatt is not None:
            for path, iface in reversed(self.gatt.objects):
                self.emu.bus.unexport(path, iface)
            self.gatt = None
        self.air.up = False
        for d in self.air.clear():  # in flight when the link went down: never arrive
            self._link_down(d.item)
        if was_connected:
            self.peripheral.disconnected(self.emu.now_s())
            self.air.invalidate()

    def _schedule_faults(self) -> None:
        f = self.faults
        loop = asyncio.get_running_loop()
        if f.vanish_after_s is not None:
            self._fault_tasks.append(loop.create_task(self._after(f.vanish_after_s, self.vanish)))
        elif f.disconnect_after_s is not None and self.unsolicited_disconnects < f.max_disconnects:
            delay = self.rng.uniform(*f.disconnect_after_s)
            self._fault_tasks.append(loop.create_task(self._after(delay, self.unsolicited_disconnect)))

    async def _after(self, delay_s: float, action: Any) -> None:
        await asyncio.sleep(delay_s)
        self._fault_tasks = [t for t in self._fault_tasks if t is not asyncio.current_task()]
        action()

    def unsolicited_disconnect(self, down_samples: int | None = None) -> None:
        """The link drops (supervision timeout): the host did not ask for it.

        The device then accepts a new connection only after producing ``down_samples``
        samples with the link down (default: the fault profile's ``down_samples``).
        """
        if self.gatt is None:
            return
        self.unsolicited_disconnects += 1
        self.truth.disconnects_unsolicited += 1
        self._down_left = self.faults.down_samples if down_samples is None else int(down_samples)
        self.drop_link()

    def drop_after(self, after_samples: int, down_samples: int) -> None:
        """Drop the link once ``after_samples`` more samples are on the air (delivered, dropped
        or corrupted), counted from the device's present: what has arrived by now is put on
        the air first. The notification that would exceed the count is the first one lost; the
        device reconnects only after ``down_samples`` samples were produced with the link down.
        ``after_samples == 0``: drop now."""
        if after_samples < 0 or down_samples < 0:
            raise ParameterError(f"after_samples and down_samples must be >= 0, got {after_samples}, {down_samples}")
        self.service()
        if after_samples == 0:
            self.unsolicited_disconnect(down_samples)
            return
        self._drop_in = int(after_samples)
        self._drop_down = int(down_samples)

    def vanish(self) -> None:
        """The device is switched off for good: link dropped, Device1 removed, never advertised."""
        if self.gatt is not None:
            self.truth.disconnects_unsolicited += 1
        self.drop_link()
        self.gone = True
        self.cancel()
        self.truth.vanished = True
        if self.exported:
            self.emu.bus.unexport(self.path, self.iface)
            self.exported = False

    def remove(self) -> None:
        """``Adapter1.RemoveDevice``: forget the device (it may be discovered again)."""
        self.drop_link()
        if self.exported:
            self.emu.bus.unexport(self.path, self.iface)
            self.exported = False

    # -- GATT --------------------------------------------------------------------------
    def _export_gatt(self) -> None:
        gatt = _Gatt()
        handle = 0x000C
        mtu = self.emu.mtu
        for spec in self.peripheral.services():
            spath = f"{self.path}/service{handle:04x}"
            service = ServiceInterface1(spec.uuid.lower(), self.path, spec.primary, handle)
            gatt.objects.append((spath, service))
            handle += 1
            for cspec in spec.characteristics:
                cpath = f"{spath}/char{handle:04x}"
                notifies = bool({"notify", "indicate"} & set(cspec.flags))
                kind = AcquirableCharacteristicInterface if self.emu.acquire_notify and notifies else None
                char = (kind or CharacteristicInterface)(
                    self, cspec.uuid.lower(), spath, list(cspec.flags), handle, mtu
                )
                gatt.objects.append((cpath, char))
                gatt.chars[char.uuid] = char
                gatt.paths[cpath] = char
                handle += 2  # declaration + value
                descs = list(cspec.descriptors)
                if {"notify", "indicate"} & set(cspec.flags):
                    descs.append(DescriptorSpec(CCCD_UUID, b"\x00\x00"))
                for dspec in descs:
                    dpath = f"{cpath}/desc{handle:04x}"
                    gatt.objects.append((dpath, DescriptorInterface(dspec.uuid.lower(), cpath, dspec.value, handle)))
                    handle += 1
        for path, iface in gatt.objects:
            self.emu.bus.export(path, iface)
        self.gatt = gatt

    def _check_connected(self) -> None:
        if self.gatt is None:
            raise DBusError(ERROR_NOT_CONNECTED, "Not Connected")

    def read_value(self, char: CharacteristicInterface, options: dict[str, Any]) -> bytes:
        self._check_connected()
        if "read" not in char.flags:
            raise DBusError(ERROR_NOT_PERMITTED, "Read not permitted")
        self.truth.reads += 1
        try:
            value = self.peripheral.read(char.uuid, self.emu.now_s())
        except GattError as exc:
            raise DBusError(exc.name, exc.text or exc.name) from exc
        char.value = value
        return value

    def write_value(self, char: CharacteristicInterface, value: bytes, options: dict[str, Any]) -> None:
        self._check_connected()
        if not {"write", "write-without-response"} & set(char.flags):
            raise DBusError(ERROR_NOT_PERMITTED, "Write not permitted")
        f = self.faults
        self.truth.writes += 1
        if self.truth.writes <= f.busy_write_first or self.rng.random() < f.busy_write_p:
            self.truth.busy_writes += 1
            raise DBusError(ERROR_IN_PROGRESS, "In Progress")
        try:
            down = self.air.write(char.uuid, value, self.emu.now_s())
        except GattError as exc:
            raise DBusError(exc.name, exc.text or exc.name) from exc
        # The ATT write response goes out now; the peripheral's answer follows on the air.
        for note in down:
            self._link_down(note)
        self.kick()

    def start_notify(self, char: CharacteristicInterface) -> None:
        self._check_connected()
        if not {"notify", "indicate"} & set(char.flags):
            raise DBusError(ERROR_NOT_SUPPORTED, "Operation is not supported")
        if char.uuid in self._notify_socks:
            raise DBusError(ERROR_NOT_PERMITTED, "Notify acquired")
        if not char.notifying:
            char.notifying = True
            char.emit_properties_changed({"Notifying": True})

    def stop_notify(self, char: CharacteristicInterface) -> None:
        if char.notifying:
            char.notifying = False
            char.emit_properties_changed({"Notifying": False})

    def acquire_notify(self, char: CharacteristicInterface, options: dict[str, Any]) -> socket.socket:
        """``AcquireNotify``: a SOCK_SEQPACKET socket pair; returns the client's end (the
        caller passes it over D-Bus and closes its copy once sent). Errors as BlueZ's."""
        self._check_connected()
        if not isinstance(char, AcquirableCharacteristicInterface):
            raise DBusError(ERROR_NOT_SUPPORTED, "Operation is not supported")
        if char.uuid in self._notify_socks:
            raise DBusError(ERROR_NOT_PERMITTED, "Notify acquired")
        if char.notifying:
            raise DBusError(ERROR_NOT_PERMITTED, "Notifying")
        self._acquire_attempts += 1
        if self._acquire_attempts <= self.faults.acquire_notify_fail_first:
            self.truth.acquire_notify_failures += 1
            raise DBusError(ERROR_FAILED, "Operation failed")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self._notify_socks[char.uuid] = _NotifySocket(ours, lambda: self._release(char))
        char.acquired = True
        char.emit_properties_changed({"NotifyAcquired": True})
        return theirs

    def _release(self, char: CharacteristicInterface, emit: bool = True) -> None:
        """The notification socket of ``char`` is closed (client released it, or link down)."""
        sock = self._notify_socks.pop(char.uuid, None)
        if sock is None:
            return
        sock.close()
        if isinstance(char, AcquirableCharacteristicInterface):
            char.acquired = False
            if emit:
                char.emit_properties_changed({"NotifyAcquired": False})

    # -- notifications -----------------------------------------------------------------
    def kick(self) -> None:
        """Service the device at the next loop iteration (after a write or a connection)."""
        self._arm(-1.0)

    def _arm(self, at_s: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if at_s is None or self.gone or self.emu.off_bus:
            return
        delay = max(0.0, at_s - self.emu.now_s())
        self._timer = asyncio.get_running_loop().call_later(delay, self.service)

    def service(self) -> None:
        """Poll the peripheral if it has something ready, emit what has arrived, re-arm."""
        self._timer = None
        if self.gone or self.emu.off_bus:
            return
        try:
            down, arrived = self.air.step(self.emu.now_s())
        except Exception:  # a broken peripheral must not stop the emulator
            log.exception("peripheral %s failed in poll", self.address)
            down, arrived = [], self.air.arrived(self.emu.now_s())
        for note in down:
            self._link_down(note)
        for d in arrived:
            self._emit(d)
        self._arm(self.air.next_wake_s())

    def cancel(self) -> None:
        """Stop servicing (emulator shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _link_down(self, note: Notification) -> None:
        if note.samples:
            self.truth.packets_link_down += 1
            self.truth.samples_link_down += note.samples
            self.truth.lost(note.samples)
            if self.gatt is None:
                self._down_left = max(0, self._down_left - note.samples)

    def _stream_faults(self, note: Notification) -> bytes:
        """Faults placed in the stream by sample count (see :mod:`.faults`); returns the bytes
        to send (the notification's own, or with a jumped counter). May drop the link."""
        f = self.faults
        before = self.on_air_samples
        if f.vanish_after_samples is not None and before + note.samples > f.vanish_after_samples:
            self.vanish()  # this notification is the first one lost
            return note.data
        self.on_air_samples = after = before + note.samples
        data = note.data
        if (
            f.counter_jump
            and f.counter_jump_after_samples is not None
            and before >= f.counter_jump_after_samples
            and "counter_jump" not in self._struck
        ):
            jump = getattr(self.peripheral, "jump_counter", None)
            if jump is not None:
                self._struck.add("counter_jump")
                data = jump(note, f.counter_jump)
        if f.kill_bus_after_samples is not None and after >= f.kill_bus_after_samples and "bus" not in self._struck:
            self._struck.add("bus")
            self.emu.kill_bus()
        if (
            f.bluez_exit_after_samples is not None
            and after >= f.bluez_exit_after_samples
            and "bluez" not in self._struck
        ):
            self._struck.add("bluez")
            self.emu.leave_bus()
        return data

    def _emit(self, d: Delivery[Notification]) -> None:
        """Put one arrived notification on the bus, applying the fault profile and keeping the truth."""
        t = self.truth
        f = self.faults
        note = d.item
        if note.samples and self._drop_in is not None:
            if note.samples > self._drop_in:  # an armed drop: this notification is the first lost
                self._drop_in = None
                self.unsolicited_disconnect(self._drop_down)
            else:
                self._drop_in -= note.samples
        data = note.data
        if note.samples and self.gatt is not None:
            data = self._stream_faults(note)
        if self.emu.off_bus:
            return  # the emulator left the bus (bluetoothd "crashed"): nothing reaches the host
        char = self.gatt.chars.get(note.char_uuid.lower()) if self.gatt is not None else None
        sock = self._notify_socks.get(char.uuid) if char is not None else None
        if char is None or not (char.notifying or sock is not None):
            self._link_down(note)
            return
        if note.samples:
            if d.lost or (f.drop_p and self.rng.random() < f.drop_p):
                t.packets_dropped_air += 1
                t.samples_dropped_air += note.samples
                t.lost(note.samples)
                return
            if f.malformed_p and self.rng.random() < f.malformed_p:
                data = self.peripheral.corrupt(note, self.rng)
                t.packets_malformed += 1
                t.samples_malformed += note.samples
                t.lost(note.samples)
            else:
                t.delivered(note.samples)
        else:
            t.other_notifications += 1
        if self.emit_log is not None:  # stamped before the signal is handed to the bus / socket
            self.emit_log.append((time.monotonic(), hashlib.blake2b(data, digest_size=8).hexdigest()))
        if sock is not None:  # acquired: one datagram, Value is not affected
            t.notifications_via_socket += 1
            sock.send(data)
            return
        char.value = data
        char.emit_properties_changed({"Value": data})


class BluezEmulator:
    """``org.bluez`` with one adapter and the given peripherals (see the module docstring).

    Parameters
    ----------
    peripherals
        Devices to serve; addresses must be unique.
    faults
        One profile for every device, or a mapping address -> profile (missing: none).
    seed
        Seeds each device's fault generator (with its address).
    tick_s
        Connection interval of peripherals that bring no link of their own
        (``link_scheduler()``), seconds.
    mtu
        ATT MTU reported on every characteristic (and returned by ``AcquireNotify``).
    acquire_notify
        Offer ``AcquireNotify`` (the ``NotifyAcquired`` property) on notifying
        characteristics, as BlueZ >= 5.46 does; False models an older BlueZ.
    bus_pid
        Process id of the (private) D-Bus daemon, for the ``kill_bus_after_samples`` fault.
    """

    def __init__(
        self,
        peripherals: list[Peripheral],
        faults: FaultProfile | dict[str, FaultProfile] | None = None,
        seed: int = 0,
        tick_s: float = 0.015,
        mtu: int = 247,
        advert_interval_s: float = 0.5,
        adapter_address: str = "00:1A:7D:DA:71:13",
        acquire_notify: bool = True,
        bus_pid: int | None = None,
    ) -> None:
        self.tick_s = tick_s
        self.acquire_notify = bool(acquire_notify)
        self.mtu = mtu
        self.advert_interval_s = advert_interval_s
        self.adapter_address = adapter_address
        self.bus: MessageBus = None  # type: ignore[assignment]
        self._t0 = time.monotonic()
        self._seed = seed
        self._peripherals = list(peripherals)
        self._faults = faults
        self.devices: dict[str, _Device] = {}
        self.adapter: AdapterInterface | None = None
        self.bus_pid = bus_pid
        self.off_bus = False  # True once the emulator left the bus (bluez_exit fault) or lost it
        self._uuid_filter: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    def now_s(self) -> float:
        """The devices' clock: seconds since the emulator was created."""
        return time.monotonic() - self._t0

    def _profile_for(self, address: str) -> FaultProfile:
        f = self._faults
        if f is None:
            return FaultProfile()
        if isinstance(f, FaultProfile):
            return f
        return f.get(address.upper(), f.get("*", FaultProfile()))

    async def start(self, bus: MessageBus | None = None) -> None:
        """Connect to the system bus (``DBUS_SYSTEM_BUS_ADDRESS``), own ``org.bluez``, start ticking."""
        self.bus = bus or await MessageBus(bus_type=BusType.SYSTEM).connect()
        for p in self._peripherals:
            addr = p.address.upper()
            if addr in self.devices:
                raise ParameterError(f"duplicate peripheral address {addr}")
            self.devices[addr] = _Device(self, p, self._profile_for(addr), self._seed)
        self.adapter = AdapterInterface(self, self.adapter_address, "dmi-emulated-hci0")
        self.bus.export(ADAPTER_PATH, self.adapter)
        self.bus.add_message_handler(self._on_message)
        reply = await self.bus.request_name("org.bluez", NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            raise EmulatorError(f"could not own org.bluez on the bus: {reply}")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._advertise())]
        for dev in self.devices.values():
            dev.kick()

    def kill_bus(self) -> None:
        """Fault: the D-Bus daemon dies (SIGKILL to ``bus_pid``)."""
        if self.bus_pid is None:
            log.error("kill_bus fault: the bus daemon's pid is unknown (--bus-pid)")
            return
        log.warning("fault: killing the D-Bus daemon (pid %d)", self.bus_pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.bus_pid, signal.SIGKILL)

    def leave_bus(self) -> None:
        """Fault: bluetoothd crashes: ``org.bluez`` loses its owner (we disconnect from the bus)."""
        log.warning("fault: leaving the bus (org.bluez loses its owner)")
        self.bus_lost()
        if self.bus is not None and self.bus.connected:
            self.bus.disconnect()

    def bus_lost(self) -> None:
        """The bus is gone (left or died): stop emitting; the control channel keeps answering."""
        self.off_bus = True
        for task in self._tasks:
            task.cancel()
        for dev in self.devices.values():
            dev.cancel()

    async def stop(self) -> None:
        """Disconnect every device, stop ticking and leave the bus."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for dev in self.devices.values():
            dev.cancel()
            if not self.off_bus:
                dev.drop_link()
        if self.bus is not None and self.bus.connected:
            self.bus.disconnect()

    async def _advertise(self) -> None:
        while True:
            await asyncio.sleep(self.advert_interval_s)
            if self.adapter is not None and self.adapter.discovering:
                for dev in self.devices.values():
                    if dev.matches(self._uuid_filter):
                        dev.announce()

    def _on_message(self, msg: Message) -> bool:
        """``GattCharacteristic1.AcquireNotify``: reply ``(h fd, q mtu)`` with the fd attached,
        and close the emulator's copy of it once the reply is written (see ``objects``)."""
        if (
            msg.message_type is not MessageType.METHOD_CALL
            or msg.member != "AcquireNotify"
            or msg.interface != GATT_CHARACTERISTIC
        ):
            return False
        char, dev = None, None
        for d in self.devices.values():
            if d.gatt is not None and msg.path in d.gatt.paths:
                char, dev = d.gatt.paths[msg.path], d
                break
        if char is None or dev is None:
            raise DBusError("org.freedesktop.DBus.Error.UnknownObject", f"no characteristic at {msg.path}")
        options = {k: v.value for k, v in (msg.body[0] if msg.body else {}).items()}
        theirs = dev.acquire_notify(char, options)
        fd = theirs.detach()
        reply = Message.new_method_return(msg, "hq", [0, char.mtu], unix_fds=[fd])
        sent = self.bus.send(reply)
        sent.add_done_callback(lambda _f: os.close(fd))
        return True

    # -- Adapter1 owner ----------------------------------------------------------------
    def set_discovery_filter(self, properties: dict[str, Any]) -> None:
        self._uuid_filter = [u.lower() for u in properties.get("UUIDs", [])]

    def start_discovery(self) -> None:
        assert self.adapter is not None
        if not self.adapter.discovering:
            self.adapter.discovering = True
            self.adapter.emit_properties_changed({"Discovering": True})
        for dev in self.devices.values():
            if dev.matches(self._uuid_filter):
                dev.announce()

    def stop_discovery(self) -> None:
        assert self.adapter is not None
        if not self.adapter.discovering:
            raise DBusError("org.bluez.Error.Failed", "No discovery started")
        self.adapter.discovering = False
        self.adapter.emit_properties_changed({"Discovering": False})

    def remove_device(self, path: str) -> None:
        for dev in self.devices.values():
            if dev.path == path:
                dev.remove()
                return
        raise DBusError("org.bluez.Error.DoesNotExist", f"no device {path}")

    # -- control (truth and fault injection) -------------------------------------------
    def device(self, address: str) -> _Device:
        try:
            return self.devices[address.upper()]
        except KeyError:
            raise ParameterError(f"no emulated device {address}") from None

    def truth(self) -> dict[str, dict[str, Any]]:
        """Per device truth, JSON-able, keyed by address."""
        return {addr: dev.truth.to_dict() for addr, dev in self.devices.items()}

    def set_faults(self, profile: FaultProfile, address: str | None = None) -> None:
        """Change the fault profile of one device (or all); applies from the next event."""
        targets = [self.device(address)] if address else list(self.devices.values())
        for dev in targets:
            dev.faults = profile
