"""The emulated BlueZ as a process: ``python -m dmi_sensors.sim.bluez --bus ADDRESS ...``.

Normally started by :class:`dmi_sensors.sim.bluez.EmulatedBluez` (tests, benchmarks and
``dmi-sensors record --simulate-sensors``), which also starts the private dbus-daemon.
Prints ``READY`` on stdout once ``org.bluez`` is owned and the control socket listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import select
import signal
import socket
import sys
from typing import Any

from dbus_fast.aio import MessageBus

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.bluez.emulator import BluezEmulator
from dmi_sensors.sim.bluez.faults import FaultProfile


def load_factory(spec: str) -> Any:
    """``"package.module:function"`` -> the function."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ParameterError(f"factory must look like 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module_name), attr)


def parse_faults(text: str) -> FaultProfile | dict[str, FaultProfile] | None:
    data = json.loads(text)
    if data is None:
        return None
    if "per_device" in data:
        return {addr.upper(): FaultProfile.from_dict(d) for addr, d in data["per_device"].items()}
    return FaultProfile.from_dict(data)


async def _handle(emu: BluezEmulator, stop: asyncio.Event, req: dict[str, Any]) -> Any:
    op = req.get("op")
    if op == "ping":
        return "pong"
    if op == "truth":
        return emu.truth()
    if op == "devices":
        return [
            {"address": a, "name": d.iface.device_name, "connected": d.iface.connected, "gone": d.gone}
            for a, d in emu.devices.items()
        ]
    if op == "set_faults":
        emu.set_faults(FaultProfile.from_dict(req["faults"]), req.get("address"))
        return None
    if op == "disconnect":
        dev = emu.device(req["address"])
        if "after_samples" in req or "down_samples" in req:
            dev.drop_after(int(req.get("after_samples", 0)), int(req.get("down_samples", 0)))
        else:
            dev.unsolicited_disconnect()
        return None
    if op == "act":
        dev = emu.device(req["address"])
        act = getattr(dev.peripheral, "act", None)
        if act is None:
            raise ParameterError(f"device {dev.address} takes no actions")
        return act(req.get("action") or {}, emu.now_s())
    if op == "vanish":
        emu.device(req["address"]).vanish()
        return None
    if op == "emit_log":
        if req.get("enable"):
            for dev in emu.devices.values():
                dev.emit_log = []
            return None
        out = {a: d.emit_log or [] for a, d in emu.devices.items()}
        for dev in emu.devices.values():
            if dev.emit_log is not None:
                dev.emit_log = []
        return out
    if op == "shutdown":
        stop.set()
        return None
    raise ParameterError(f"unknown op {op!r}")


class _FullSocketTolerant:
    """The emulator's bus socket as dbus-fast sees it, minus one bug.

    dbus-fast 5.x (like dbus-next, altdesktop/python-dbus-next#153) treats ``EAGAIN`` from a
    full socket buffer as a lost connection and drops the bus: with 48 sensors streaming on a
    busy machine the daemon reads slower than the emulator writes, and the emulator died
    ("Bad file descriptor", "Connection reset by peer" at the host). Here a full buffer means
    "nothing written yet": ``send`` returns 0 and dbus-fast's writer waits until the socket
    is writable again, as it does after a partial write. ``sendmsg`` (messages carrying unix
    fds, which dbus-fast would otherwise send again without them) waits for the socket.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: Any) -> int:
        try:
            return self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0

    def sendmsg(self, buffers: Any, ancdata: Any = ()) -> int:
        while True:
            try:
                return self._sock.sendmsg(buffers, ancdata)
            except (BlockingIOError, InterruptedError):
                select.select([], [self._sock], [], 1.0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def tolerate_full_socket(bus: MessageBus) -> bool:
    """Install :class:`_FullSocketTolerant` under ``bus``'s writer; False if dbus-fast changed shape."""
    writer = getattr(bus, "_writer", None)
    sock = getattr(writer, "sock", None)
    if writer is None or not isinstance(sock, socket.socket):
        logging.getLogger(__name__).warning("dbus-fast's writer changed: EAGAIN workaround not installed")
        return False
    writer.sock = _FullSocketTolerant(sock)
    return True


async def serve(args: argparse.Namespace) -> None:
    factory = load_factory(args.factory)
    peripherals = factory(**json.loads(args.factory_kwargs))
    emu = BluezEmulator(
        peripherals,
        faults=parse_faults(args.faults),
        seed=args.seed,
        tick_s=args.tick_s,
        bus_pid=args.bus_pid,
        acquire_notify=not args.no_acquire_notify,
    )
    # unix fd passing: AcquireNotify hands the client a socket
    bus = await MessageBus(bus_address=args.bus, negotiate_unix_fd=True).connect()
    tolerate_full_socket(bus)
    await emu.start(bus)
    stop = asyncio.Event()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    result = await _handle(emu, stop, json.loads(line))
                    answer = {"ok": True, "result": result}
                except Exception as exc:
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_unix_server(client, path=args.control)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    disconnected = asyncio.ensure_future(bus.wait_for_disconnect())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({disconnected, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not stop.is_set():
        # The bus died or was left (a fault): nothing more to emulate, but the control channel
        # keeps answering (truth) until the harness shuts us down.
        logging.getLogger(__name__).warning("the bus is gone; serving the control channel only")
        emu.bus_lost()
        await stopped
    server.close()
    await emu.stop()
    for fut in (disconnected, stopped):
        fut.cancel()
        with contextlib.suppress(BaseException):
            await fut


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dmi_sensors.sim.bluez", description=__doc__)
    p.add_argument("--bus", required=True, help="D-Bus address of the (private) system bus")
    p.add_argument("--control", required=True, help="path of the control unix socket to create")
    p.add_argument("--factory", default="dmi_sensors.sim.bluez.sensor:virtual_sensors", help="module:function")
    p.add_argument("--factory-kwargs", default="{}", help="JSON object of keyword arguments for the factory")
    p.add_argument("--faults", default="null", help="JSON FaultProfile, or {'per_device': {address: profile}}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tick-s", type=float, default=0.015, help="connection interval of peripherals without a link")
    p.add_argument("--bus-pid", type=int, help="pid of the bus daemon (for the kill_bus_after_samples fault)")
    p.add_argument("--no-acquire-notify", action="store_true", help="offer no AcquireNotify (a BlueZ older than 5.46)")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
