"""Is the Bluetooth stack still there? A watchdog on the system D-Bus and BlueZ (Linux).

When the D-Bus daemon dies, every bleak call fails and a link would back off and retry for
half a minute before anything said why; when bluetoothd dies, ``org.bluez`` has no owner and
nothing is delivered. :class:`BusWatchdog` holds its own connection to the system bus and:

* sees the connection close the moment the daemon goes (the socket reaches EOF): ``"bus"``;
* watches ``NameOwnerChanged`` for ``org.bluez`` (and asks ``NameHasOwner`` once at start):
  its owner leaving is ``"bluez"``.

Both are events, not polls: the watchdog reports within milliseconds (the documented bound
is 5 s, ``docs/ble.md``). :class:`~dmi_sensors.ble.hub.SensorHub` runs one per recording and
ends the recording with a :class:`~dmi_sensors.ble.hub.RecordingFault`. On macOS and Windows
(no D-Bus) the watchdog does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbus_fast.aio import MessageBus

__all__ = ["BLUEZ_NAME", "BusWatchdog"]

log = logging.getLogger(__name__)

BLUEZ_NAME = "org.bluez"
_DBUS = "org.freedesktop.DBus"


class BusWatchdog:
    """Report the loss of the system D-Bus (``"bus"``) or of BlueZ (``"bluez"``) once.

    ``on_fault(kind, detail)`` is called on the event loop, at most once. :meth:`start`
    connects (an unreachable bus at start is reported as ``"bus"``); :meth:`stop` disconnects.
    """

    def __init__(self, on_fault: Callable[[str, str], None]) -> None:
        self._on_fault = on_fault
        self._bus: MessageBus | None = None
        self._task: asyncio.Task[None] | None = None
        self.fired: str | None = None

    def _fire(self, kind: str, detail: str) -> None:
        if self.fired is None:
            self.fired = kind
            log.debug("%s: %s", kind, detail)
            self._on_fault(kind, detail)

    async def start(self) -> None:
        if sys.platform != "linux" or self._task is not None:
            return
        from dbus_fast import BusType, Message, MessageType
        from dbus_fast.aio import MessageBus

        try:
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        except (OSError, EOFError, ValueError) as exc:
            self._fire("bus", f"cannot connect to it: {type(exc).__name__}: {exc}")
            return
        self._bus = bus

        def on_message(msg: Message) -> None:
            if (
                msg.message_type == MessageType.SIGNAL
                and msg.member == "NameOwnerChanged"
                and msg.body
                and msg.body[0] == BLUEZ_NAME
                and not msg.body[2]
            ):
                self._fire("bluez", f"{BLUEZ_NAME} left the system D-Bus")

        bus.add_message_handler(on_message)
        rule = f"type='signal',sender='{_DBUS}',interface='{_DBUS}',member='NameOwnerChanged',arg0='{BLUEZ_NAME}'"
        try:
            await bus.call(
                Message(
                    destination=_DBUS,
                    path="/org/freedesktop/DBus",
                    interface=_DBUS,
                    member="AddMatch",
                    signature="s",
                    body=[rule],
                )
            )
            reply = await bus.call(
                Message(
                    destination=_DBUS,
                    path="/org/freedesktop/DBus",
                    interface=_DBUS,
                    member="NameHasOwner",
                    signature="s",
                    body=[BLUEZ_NAME],
                )
            )
        except (OSError, EOFError) as exc:
            self._fire("bus", f"it closed our connection: {type(exc).__name__}")
            return
        if reply is not None and reply.message_type == MessageType.METHOD_RETURN and reply.body == [False]:
            self._fire("bluez", f"{BLUEZ_NAME} is not on the system D-Bus")
        self._task = asyncio.get_running_loop().create_task(self._watch(bus), name="BusWatchdog")

    async def _watch(self, bus: MessageBus) -> None:
        try:
            await bus.wait_for_disconnect()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the reason the connection ended
            self._fire("bus", f"its connection closed: {type(exc).__name__}")
            return
        if self._bus is not None:  # not our own stop()
            self._fire("bus", "its connection closed")

    async def stop(self) -> None:
        bus, self._bus = self._bus, None
        task, self._task = self._task, None
        if bus is not None:
            with contextlib.suppress(Exception):
                bus.disconnect()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
