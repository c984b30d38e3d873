"""Notifications through BlueZ's AcquireNotify (a socket per characteristic) and StartNotify
(one D-Bus signal per notification): the emulated BlueZ implements AcquireNotify as BlueZ
documents it, and the sensor links use it where offered, with StartNotify as the fallback.
"""

from __future__ import annotations

import asyncio
import select
import socket
import struct
from pathlib import Path

import pytest
from bluez_helpers import CONTROL, DATA, SERVICE

from dmi_sensors.protocol.constants import PacketType
from dmi_sensors.sim.bluez import FaultProfile

pytestmark = pytest.mark.bluez

HERE = str(Path(__file__).resolve().parent)
CHAR_IFACE = "org.bluez.GattCharacteristic1"


async def _until(cond, timeout_s: float = 20.0) -> None:
    """Wait for a condition (an event), not for a time: ``timeout_s`` only bounds a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def _call(bus, path: str, member: str, signature: str = "", body=None):
    from dbus_fast import Message

    return await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface=CHAR_IFACE,
            member=member,
            signature=signature,
            body=body or [],
        )
    )


async def _prop(bus, path: str, name: str):
    from dbus_fast import Message, MessageType

    reply = await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface="org.freedesktop.DBus.Properties",
            member="Get",
            signature="ss",
            body=[CHAR_IFACE, name],
        )
    )
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    return reply.body[0].value


def _recv_all(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(1024))
        except BlockingIOError:
            return out


async def test_emulated_acquire_notify_follows_the_bluez_api(bluez):
    """Socket pair (SOCK_SEQPACKET, one datagram per notification) passed as a unix fd, the
    MTU beside it, StartNotify / a second AcquireNotify refused while acquired, Value
    untouched, release by closing the fd, EOF + POLLHUP when the link drops."""
    from bleak import BleakClient, BleakScanner
    from dbus_fast import MessageType
    from dbus_fast.aio import MessageBus
    from dbus_fast.constants import BusType

    emu = bluez(factory="bluez_helpers:tick_peripherals", factory_kwargs={"n": 1}, extra_pythonpath=(HERE,))
    device = await BleakScanner.find_device_by_address("C0:FF:EE:00:00:01", timeout=5.0)
    assert device is not None
    client = BleakClient(device)
    await client.connect()
    bus = await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
    try:
        char = client.services.get_characteristic(DATA)
        path, props = char.obj
        assert props["NotifyAcquired"] is False  # present: bleak may use AcquireNotify
        assert "NotifyAcquired" not in client.services.get_characteristic(CONTROL).obj[1]  # write-only

        reply = await _call(bus, path, "AcquireNotify", "a{sv}", [{}])
        assert reply.message_type is MessageType.METHOD_RETURN, reply.body
        assert reply.signature == "hq"
        sock = socket.socket(fileno=reply.unix_fds[reply.body[0]])
        sock.setblocking(False)
        assert reply.body[1] == 247  # the link's ATT MTU
        assert sock.type == socket.SOCK_SEQPACKET and sock.family == socket.AF_UNIX
        assert await _prop(bus, path, "NotifyAcquired") is True

        for member, signature, body in (("StartNotify", "", []), ("AcquireNotify", "a{sv}", [{}])):
            refused = await _call(bus, path, member, signature, body)
            assert refused.message_type is MessageType.ERROR
            assert refused.error_name == "org.bluez.Error.NotPermitted", (member, refused.body)

        await client.write_gatt_char(CONTROL, b"\x01", response=True)
        got: list[bytes] = []
        await _until(lambda: len(got) >= 6 or bool(got.extend(_recv_all(sock))))
        await client.write_gatt_char(CONTROL, b"\x00", response=True)
        counters = [struct.unpack_from("<IB", d) for d in got]
        assert all(len(d) == 5 + 5 for d in got), "one datagram = one whole notification"
        assert [c for c, _ in counters] == list(range(0, 5 * len(got), 5))
        assert await _prop(bus, path, "Value") == b""  # Value is not affected while acquired
        truth = (await emu.atruth())["C0:FF:EE:00:00:01"]
        assert truth["notifications_via_socket"] >= len(got)

        sock.close()  # release: the emulator sees the hang-up
        await _until_async(lambda: _prop(bus, path, "NotifyAcquired"), False)
        started = await _call(bus, path, "StartNotify")
        assert started.message_type is MessageType.METHOD_RETURN, started.body
        await _call(bus, path, "StopNotify")

        # acquired again, then the link drops: the client's end sees EOF and POLLHUP
        reply = await _call(bus, path, "AcquireNotify", "a{sv}", [{}])
        sock = socket.socket(fileno=reply.unix_fds[reply.body[0]])
        await emu.acall("disconnect", address="C0:FF:EE:00:00:01")
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLHUP)
        await _until(lambda: bool(poller.poll(0)))
        assert poller.poll(0)[0][1] & select.POLLHUP
        # notifications already in the socket before the drop are read first (a busy
        # machine may queue one): whole datagrams, then EOF
        sock.setblocking(False)
        tail = [sock.recv(1024) for _ in range(64)]
        assert b"" in tail, tail
        assert all(len(d) == 10 for d in tail[: tail.index(b"")]), tail
        sock.close()
    finally:
        bus.disconnect()
        await client.disconnect()


async def _until_async(get, value, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await get() != value:
        if loop.time() > deadline:
            raise AssertionError(f"never became {value!r}")
        await asyncio.sleep(0.01)


async def test_acquire_notify_refused_where_not_offered(bluez):
    """A BlueZ without AcquireNotify: no NotifyAcquired property, NotSupported."""
    from bleak import BleakClient, BleakScanner
    from dbus_fast import MessageType
    from dbus_fast.aio import MessageBus
    from dbus_fast.constants import BusType

    bluez(
        factory="bluez_helpers:tick_peripherals",
        factory_kwargs={"n": 1},
        extra_pythonpath=(HERE,),
        acquire_notify=False,
    )
    device = await BleakScanner.find_device_by_address("C0:FF:EE:00:00:01", timeout=5.0, service_uuids=[SERVICE])
    client = BleakClient(device)
    await client.connect()
    bus = await MessageBus(bus_type=BusType.SYSTEM, negotiate_unix_fd=True).connect()
    try:
        path, props = client.services.get_characteristic(DATA).obj
        assert "NotifyAcquired" not in props
        reply = await _call(bus, path, "AcquireNotify", "a{sv}", [{}])
        assert reply.message_type is MessageType.ERROR
        assert reply.error_name == "org.bluez.Error.NotSupported"
    finally:
        bus.disconnect()
        await client.disconnect()


@pytest.mark.parametrize(
    ("offered", "fail_first", "expected"),
    [
        (True, 0, "AcquireNotify"),  # offered: used
        (False, 0, "StartNotify"),  # not offered: StartNotify
        (True, 2, "StartNotify"),  # offered but both acquisitions fail: the link falls back
    ],
)
async def test_links_use_acquire_notify_where_offered_and_fall_back(bluez, offered, fail_first, expected):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub, discover

    emu = bluez(
        factory_kwargs={"n": 2, "fs_hz": 200, "seed": 3},
        faults=FaultProfile(acquire_notify_fail_first=fail_first),
        acquire_notify=offered,
    )
    adverts = sorted(await discover(0.6), key=lambda a: a.address)
    assert len(adverts) == 2
    hub = SensorHub(
        zip(adverts, ["trunk", "pelvis"], strict=True),
        policy=ReconnectPolicy(initial_backoff_s=0.1, scan_timeout_s=1.0),
        log_interval_s=None,
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 2
    await _until(lambda: min(s.samples_received for s in hub.stats().values()) >= 400)
    stats = await hub.stop()
    truth = await emu.atruth()
    for link in hub.links:
        s = stats[link.sensor_id]
        t = truth[s.address]
        assert s.notify_method == expected
        assert set(link.notify_methods.values()) == {expected}
        assert s.samples_received == t["samples_sent"] and s.samples_lost == 0 == t["samples_dropped"]
        assert s.reconnects == 0
        if expected == "AcquireNotify":
            assert t["notifications_via_socket"] == t["packets_sent"] + t["other_notifications"]
        else:
            assert t["notifications_via_socket"] == 0
        assert t["acquire_notify_failures"] == (fail_first if offered else 0)
        failed = [e for e in link.events if e[1] == "acquire_notify_failed"]
        assert len(failed) == (fail_first if offered else 0)


async def test_stop_keeps_data_queued_behind_the_stop_response(bluez):
    """With AcquireNotify data and responses come through two sockets; read one datagram per
    loop iteration each (bleak's own reader; the link's with ``max_reads_per_wake=1``),
    STOP_STREAMING's response can be read while data packets sent before it still wait in the
    data socket. The link reads them all before releasing the socket: every sample sent is
    received. The backlog is made by counts, not times: five samples per packet at 1 kHz, the
    event loop held until the emulator has sent 800 more packets, then let through one
    iteration at a time until the emulator has taken the stop command (each iteration reads
    one datagram of the backlog)."""
    import time

    from dmi_sensors.ble import ReconnectPolicy, SensorHub, StreamConfig, discover

    emu = bluez(factory_kwargs={"n": 1, "fs_hz": 1000, "seed": 5})
    adverts = await discover(0.6)
    hub = SensorHub(
        [(adverts[0], "trunk")],
        config=StreamConfig(fs_hz=1000, samples_per_packet=5),
        policy=ReconnectPolicy(initial_backoff_s=0.1, scan_timeout_s=1.0),
        log_interval_s=None,
        max_reads_per_wake=1,
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 1
    await _until(lambda: min(s.samples_received for s in hub.stats().values()) >= 200)
    address = hub.links[0].address
    truth = emu.truth()[address]
    deadline = time.monotonic() + 60.0  # bounds a hang only
    while emu.truth()[address]["packets_sent"] < truth["packets_sent"] + 800:  # the loop is held
        assert time.monotonic() < deadline, "the emulator did not send"
    stopping = asyncio.ensure_future(hub.stop())
    while emu.truth()[address]["writes"] == truth["writes"]:  # one loop iteration at a time
        assert time.monotonic() < deadline, "STOP_STREAMING was not written"
        await asyncio.sleep(0)
    while emu.truth()[address]["other_notifications"] == truth["other_notifications"]:  # held: the response
        assert time.monotonic() < deadline, "STOP_STREAMING was not answered"
    backlog = emu.truth()[address]["samples_sent"] - hub.stats()[hub.links[0].sensor_id].samples_received
    assert backlog > 3000  # the data packets sent before the response, not yet read
    stats = await stopping
    t = (await emu.atruth())[address]
    s = stats[hub.links[0].sensor_id]
    assert s.notify_method == "AcquireNotify"
    assert t["samples_dropped_total"] == 0
    assert s.samples_received == t["samples_sent"] and s.samples_lost == 0


class _ListSink:
    def __init__(self) -> None:
        self.packets: list = []

    def append(self, packet) -> None:
        self.packets.append(packet)


async def _streaming_hub(bluez, sink, offered: bool = True):
    from dmi_sensors.ble import ReconnectPolicy, SensorHub, discover

    emu = bluez(factory_kwargs={"n": 2, "fs_hz": 200, "seed": 7}, acquire_notify=offered)
    adverts = sorted(await discover(0.6), key=lambda a: a.address)
    hub = SensorHub(
        zip(adverts, ["trunk", "pelvis"], strict=True),
        sink=sink,
        policy=ReconnectPolicy(initial_backoff_s=0.1, scan_timeout_s=1.0),
        log_interval_s=None,
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 2
    await _until(lambda: min(s.samples_received for s in hub.stats().values()) >= 200)
    return hub, emu


def _stored_per_sensor(sink) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in sink.packets:
        counts[p.sensor_id] = counts.get(p.sensor_id, 0) + 1
    return counts


async def test_a_notification_after_the_stop_is_neither_stored_nor_counted(bluez):
    """The summary once said 61 packets received and stored while the database held 62 (a
    dead bus: the AcquireNotify socket could not be released, and a datagram still in it was
    delivered after the link's final statistics). After the final drain the books are closed:
    the store and the statistics agree, and the late notification is counted as dropped."""
    sink = _ListSink()
    hub, _ = await _streaming_hub(bluez, sink)
    stats = await hub.stop()
    stored = _stored_per_sensor(sink)
    assert stored == {sid: s.packets_received for sid, s in stats.items()}
    for link in hub.links:  # what bleak's socket reader would do with a late datagram
        data = next(
            p.data
            for p in reversed(sink.packets)
            if p.sensor_id == link.sensor_id and p.data[1] in (PacketType.DATA, PacketType.DATA_COMPACT)
        )
        link._on_data(None, bytearray(data))
    for _ in range(5):  # let any drain the callback might have scheduled run
        await asyncio.sleep(0)
    assert _stored_per_sensor(sink) == stored
    assert {sid: s.packets_received for sid, s in hub.stats().items()} == stored
    assert all(link.notifications_after_stop == 1 for link in hub.links)


async def test_a_shutdown_cut_short_still_stores_and_counts_alike(bluez):
    """A link whose shutdown is cancelled half-way (stop()'s grace ran out: a hung bus) still
    drains what it received once: stored packets == packets received, every one decoded.
    The cancel is driven by an event: the emulator has taken the STOP_STREAMING write."""
    import time

    sink = _ListSink()
    hub, emu = await _streaming_hub(bluez, sink, offered=False)
    deadline = time.monotonic() + 60.0  # bounds a hang only
    for link in hub.links:
        writes = emu.truth()[link.address]["writes"]
        link._stop.set()
        while emu.truth()[link.address]["writes"] == writes:  # one loop iteration at a time
            assert time.monotonic() < deadline, "STOP_STREAMING was not written"
            await asyncio.sleep(0)
        link._task.cancel()  # in the middle of the shutdown (waiting for the stop's answer)
    stats = await hub.stop()
    stored = _stored_per_sensor(sink)
    assert stored == {sid: s.packets_received for sid, s in stats.items()}
    for link in hub.links:
        s = stats[link.sensor_id]
        assert s.state == "stopped" and s.samples_received >= 200 and s.malformed_packets == 0
        assert link._task.cancelled()
    for _ in range(5):
        await asyncio.sleep(0)
    assert _stored_per_sensor(sink) == stored


async def test_an_acquired_socket_is_read_until_empty_at_each_wake_up(bluez):
    """The link reads its AcquireNotify socket itself: every datagram waiting in it per wake-up
    of the event loop (at most ``max_reads_per_wake``), then one drain, where bleak's reader
    takes one datagram per wake-up and drains in the next loop iteration. A backlog is made
    by counts (the loop held until the emulator has sent 300 more packets than were read);
    the first loop iteration that reads any of it reads many, and nothing is lost."""
    import time

    from dmi_sensors.ble import ReconnectPolicy, SensorHub, StreamConfig, discover

    emu = bluez(factory_kwargs={"n": 1, "fs_hz": 1000, "seed": 11})
    adverts = await discover(0.6)
    hub = SensorHub(
        [(adverts[0], "trunk")],
        config=StreamConfig(fs_hz=1000, samples_per_packet=5),
        policy=ReconnectPolicy(initial_backoff_s=0.1, scan_timeout_s=1.0),
        log_interval_s=None,
        max_reads_per_wake=40,
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 1
    await _until(lambda: min(s.samples_received for s in hub.stats().values()) >= 200)
    link = hub.links[0]
    assert link.tracker.notify_method == "AcquireNotify"
    before = link.tracker.packets_received
    sent = emu.truth()[link.address]["packets_sent"]
    deadline = time.monotonic() + 60.0  # bounds a hang only
    while emu.truth()[link.address]["packets_sent"] < sent + 300:  # the loop is held
        assert time.monotonic() < deadline, "the emulator did not send"
    while link.tracker.packets_received == before:  # one loop iteration at a time
        await asyncio.sleep(0)
    # one wake-up: as many datagrams as were waiting, up to max_reads_per_wake, drained at once
    assert link.tracker.packets_received - before >= 40
    stats = await hub.stop()
    t = (await emu.atruth())[link.address]
    s = stats[link.sensor_id]
    assert s.samples_received == t["samples_sent"] and s.samples_lost == 0 == t["samples_dropped_total"]
