"""All acquired notification sockets of an event loop read together
(``dmi_sensors.ble.acquired.AcquiredSocketPoller``), each datagram with its kernel receive
stamp, so the loop wakes once per pass rather than once per notification and arrival times
stay the times the notifications arrived, not the times they were read.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dmi_sensors.ble.acquired import AcquiredSocketPoller, arrival_times, wall_to_monotonic
from dmi_sensors.errors import ParameterError


def _pairs(n: int) -> list[tuple[socket.socket, socket.socket]]:
    return [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(n)]


def _release(poller: AcquiredSocketPoller, pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    """Stop reading the pairs' read ends, then close both ends of every pair."""
    for _, theirs in pairs:
        poller.remove(theirs.fileno())
    for a, b in pairs:
        a.close()
        b.close()


async def test_a_backlog_on_every_socket_is_read_in_one_pass_with_its_send_stamps():
    """Five sockets, each holding a counted backlog: one pass reads all of it, each socket's
    datagrams in order, each with the kernel's receive stamp mapped onto time.monotonic():
    between the clock just before and just after its send (to within the mapping's error,
    far below 2 ms), and well before the read, which comes 50 ms of the clock later (the
    read time would be after it)."""
    loop = asyncio.get_running_loop()
    poller = AcquiredSocketPoller(loop)
    pairs = _pairs(5)
    got: dict[int, list[tuple[float | None, bytes]]] = {i: [] for i in range(5)}
    calls: dict[int, int] = dict.fromkeys(range(5), 0)
    try:
        for i, (_, theirs) in enumerate(pairs):

            def reader(datagrams, now_s, i=i):
                calls[i] += 1
                assert all(s is not None and s <= now_s for s, _ in datagrams)
                got[i].extend(datagrams)

            poller.add(theirs.fileno(), reader, lambda why: None, delay_s=0.005, max_reads=64)
        sent: list[list[tuple[float, float, bytes]]] = [[] for _ in pairs]
        for k in range(30):
            for i, (ours, _) in enumerate(pairs):
                data = bytes([i, k]) * 10
                before = time.monotonic()
                ours.send(data)
                sent[i].append((before, time.monotonic(), data))
        last_sent = time.monotonic()
        while time.monotonic() < last_sent + 0.05:  # the clock moves on before anything is read
            pass
        before_read = time.monotonic()
        assert poller.passes == 0
        while poller.passes == 0:  # the loop sees the epoll descriptor readable, then one pass
            await asyncio.sleep(0)
        assert poller.passes == 1 and poller.datagrams == 150
        assert calls == dict.fromkeys(range(5), 1)  # one hand-over per socket per pass
        for i in range(5):
            assert [d for _, d in got[i]] == [d for _, _, d in sent[i]]
            for (stamp, _), (t_before, t_after, _) in zip(got[i], sent[i], strict=True):
                assert stamp is not None and t_before - 0.002 <= stamp <= t_after + 0.002
                assert stamp < before_read - 0.04
            stamps = [s for s, _ in got[i]]
            assert stamps == sorted(stamps)
    finally:
        _release(poller, pairs)


def test_the_wall_clock_maps_onto_the_monotonic_clock():
    """``time.time_ns() - offset`` is ``time.monotonic_ns()`` at the same instant: a wall
    reading taken between two monotonic readings maps between them (to within the width of
    the offset's own tightest reading, bounded here by 1 ms)."""
    for _ in range(20):
        offset_ns, now_ns = wall_to_monotonic()
        m1 = time.monotonic_ns()
        w = time.time_ns()
        m2 = time.monotonic_ns()
        assert now_ns <= m1
        assert m1 - 1_000_000 <= w - offset_ns <= m2 + 1_000_000


async def test_the_loop_watches_one_descriptor_and_max_reads_bounds_a_pass():
    """The event loop watches the poller's epoll descriptor, none of the sockets; a socket
    with more than ``max_reads`` waiting is read in several passes that follow at once (no
    datagram is lost or reordered); a hang-up closes the socket and says so."""
    loop = asyncio.get_running_loop()
    poller = AcquiredSocketPoller(loop)
    (ours, theirs), (ours2, theirs2) = _pairs(2)
    got: list[bytes] = []
    closed: list[str] = []
    fd2 = theirs2.fileno()
    try:
        poller.add(theirs.fileno(), lambda d, _w: got.extend(x for _, x in d), closed.append, max_reads=7)
        poller.add(fd2, lambda d, _w: None, closed.append, delay_s=0.0)
        watched = {key.fd for key in loop._selector.get_map().values()}  # type: ignore[attr-defined]
        assert poller._epoll.fileno() in watched
        assert theirs.fileno() not in watched and fd2 not in watched
        for k in range(40):
            ours.send(k.to_bytes(2, "little"))
        while len(got) < 40:
            await asyncio.sleep(0)
        assert poller.passes == 6  # ceil(40 / 7), one after the other
        assert [int.from_bytes(x, "little") for x in got] == list(range(40))
        theirs2.detach()  # the poller closes it at the hang-up
        ours2.close()
        while not closed:
            await asyncio.sleep(0)
        assert closed == ["socket closed"] and len(poller) == 1
    finally:
        poller.remove(theirs.fileno())
        for s in (ours, theirs, ours2):
            s.close()
    assert len(poller) == 0
    assert poller._epoll.fileno() not in {key.fd for key in loop._selector.get_map().values()}  # type: ignore[attr-defined]


def test_a_pass_reads_uneven_backlogs_and_a_hang_up_after_the_last_datagram():
    """Sockets holding 0, 1, 3 and 5 datagrams, one of them closed by its peer after its
    last: one pass delivers every datagram of each socket in order, once per socket (with
    ``max_reads`` 4 the five-datagram socket keeps its fifth for the next pass, which follows
    at once), then the closed socket's hang-up; datagrams sent during the pass, between the
    rounds of reads, are read in it too."""
    loop = asyncio.new_event_loop()
    poller = AcquiredSocketPoller(loop)
    pairs = _pairs(4)
    got: dict[int, list[list[bytes]]] = {i: [] for i in range(4)}
    closed: list[tuple[int, str]] = []
    try:
        for i, (_, theirs) in enumerate(pairs):
            poller.add(
                theirs.fileno(),
                lambda d, _w, i=i: got[i].append([x for _, x in d]),
                lambda why, i=i: closed.append((i, why)),
                max_reads=4,
            )
        for i, n in enumerate([0, 1, 3, 5]):
            for k in range(n):
                pairs[i][0].send(bytes([i, k]))
        pairs[2][0].close()  # after its three datagrams
        reads = 0
        read0 = poller._read

        def read_and_send(entry, into):
            nonlocal reads
            reads += 1
            if reads == 1:  # a late datagram on the idle socket, during the first round
                pairs[0][0].send(b"late")
            return read0(entry, into)

        poller._read = read_and_send  # type: ignore[method-assign]
        poller._pass()
        assert got == {0: [[b"late"]], 1: [[bytes([1, 0])]], 2: [[bytes([2, k]) for k in range(3)]],
                       3: [[bytes([3, k]) for k in range(4)]]}  # fmt: skip
        assert closed == [(2, "socket closed")] and len(poller) == 3
        assert poller._pass_handle is not None  # the fifth datagram: the next pass at once
        poller._pass()
        assert got[3] == [[bytes([3, k]) for k in range(4)], [bytes([3, 4])]]
        assert poller.datagrams == 10
    finally:
        for i, (ours, theirs) in enumerate(pairs):
            if i != 2:
                poller.remove(theirs.fileno())
                theirs.close()
            ours.close()
        loop.close()


def test_bad_parameters_are_named():
    loop = asyncio.new_event_loop()
    try:
        poller = AcquiredSocketPoller(loop)
        with pytest.raises(ParameterError, match="delay_s"):
            poller.add(0, lambda d, w: None, lambda why: None, delay_s=-1.0)
        with pytest.raises(ParameterError, match="max_reads"):
            poller.add(0, lambda d, w: None, lambda why: None, max_reads=0)
    finally:
        loop.close()


@given(
    st.lists(st.floats(0.0, 5.0), min_size=1, max_size=20),
    st.floats(1e6, 2e9),
    st.floats(-1e3, 1e6),
    st.floats(-0.01, 0.01),
)
def test_arrival_times_keep_the_ages_and_the_order(ages, wall_now_s, clock_now_s, step_s):
    """A datagram's arrival on another clock is that clock's reading less its age on the
    reference clock; never after the reading; stamps in order give times in order; a missing
    stamp is the reading itself."""
    ages = sorted(ages, reverse=True)
    stamps: list[float | None] = [wall_now_s - a for a in ages]
    datagrams = [(s, bytes([k % 256])) for k, s in enumerate(stamps)]
    got = arrival_times(datagrams, wall_now_s, clock_now_s)
    assert [d for _, d in got] == [d for _, d in datagrams]  # the bytes kept, in order
    times = [t for t, _ in got]
    assert all(t <= clock_now_s for t in times)
    assert times == sorted(times)
    for t, s in zip(times, stamps, strict=True):
        assert s is not None
        assert t == clock_now_s - max(0.0, wall_now_s - s)
    # a wall-clock step back by step_s between stamp and reading: still never after the reading
    assert all(t <= clock_now_s for t, _ in arrival_times(datagrams, wall_now_s + step_s, clock_now_s))
    assert arrival_times([(None, b"x")], wall_now_s, clock_now_s) == [(clock_now_s, b"x")]


@pytest.mark.bluez
async def test_links_share_one_poller_and_keep_the_times_notifications_arrived(bluez):
    """Three sensors through bleak and the emulated BlueZ: their acquired sockets are read by
    one poller (the loop watches none of them); while the loop is held the emulator sends a
    counted backlog to each, and the pass that follows reads every sensor's backlog at once,
    each packet with the time it arrived (before the loop was let go; bleak's reader, and
    the link's own reader before the poller, stamped the read time, after it). Arrival
    times stay in arrival order; nothing is lost."""
    from dmi_sensors.ble import ReconnectPolicy, SensorHub, StreamConfig, discover

    emu = bluez(factory_kwargs={"n": 3, "fs_hz": 1000, "seed": 13})
    adverts = sorted(await discover(0.6), key=lambda a: a.address)
    hub = SensorHub(
        [(a, p) for a, p in zip(adverts, ["trunk", "pelvis", "head"], strict=True)],
        config=StreamConfig(fs_hz=1000, samples_per_packet=5),
        policy=ReconnectPolicy(initial_backoff_s=0.1, scan_timeout_s=1.0),
        log_interval_s=None,
        keep_packets=True,
    )
    await hub.start()
    assert await hub.wait_streaming(30) == 3
    deadline = time.monotonic() + 60.0  # bounds a hang only
    while min(s.samples_received for s in hub.stats().values()) < 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    poller = AcquiredSocketPoller.for_loop(loop)
    watched = {key.fd for key in loop._selector.get_map().values()}  # type: ignore[attr-defined]
    for link in hub.links:
        assert link.tracker.notify_method == "AcquireNotify"
        assert link._acquired and all(p is poller for p, _, _ in link._acquired.values())
        assert not set(link._acquired) & watched
    before = {link.address: len(link.packets) for link in hub.links}
    sent = {a: t["packets_sent"] for a, t in emu.truth().items()}
    while any(emu.truth()[a]["packets_sent"] < sent[a] + 60 for a in sent):  # the loop is held
        assert time.monotonic() < deadline, "the emulator did not send"
    released_s = time.monotonic()
    passes = poller.passes
    while all(len(link.packets) == before[link.address] for link in hub.links):
        await asyncio.sleep(0)
    assert poller.passes == passes + 1
    for link in hub.links:  # the same pass read every sensor's backlog
        new = link.packets[before[link.address] :]
        assert len(new) >= 60
        arrived = [p.host_time_s + link.t0_s for p in new[:60]]
        assert max(arrived) < released_s  # they arrived while the loop was held
        assert arrived == sorted(arrived)
    stats = await hub.stop()
    truth = await emu.atruth()
    for link in hub.links:
        times = [p.host_time_s for p in link.packets]
        assert times == sorted(times)
        s = stats[link.sensor_id]
        assert s.samples_received == truth[link.address]["samples_sent"] and s.samples_lost == 0
        assert not link._acquired
    assert len(poller) == 0


async def test_a_failing_reader_costs_no_other_socket_its_datagrams(caplog):
    """Two sockets in one pass, the first one's owner raises: the second still gets its
    datagrams and its after-pass call, and the poller keeps reading both."""
    loop = asyncio.get_running_loop()
    poller = AcquiredSocketPoller(loop)
    pairs = _pairs(2)
    got: list[bytes] = []
    ends: list[int] = []

    def bad(datagrams, now_s):
        raise RuntimeError("owner failed")

    try:
        poller.add(pairs[0][1].fileno(), bad, lambda why: None, delay_s=0.0)
        poller.add(
            pairs[1][1].fileno(),
            lambda d, _n: got.extend(x for _, x in d),
            lambda why: None,
            delay_s=0.0,
            after_pass=lambda: ends.append(len(got)),
        )
        for k in range(3):
            pairs[0][0].send(b"a%d" % k)
            pairs[1][0].send(b"b%d" % k)
        while len(got) < 3:
            await asyncio.sleep(0)
        assert got == [b"b0", b"b1", b"b2"] and ends == [3]
        assert "its reader failed" in caplog.text
        pairs[1][0].send(b"b3")
        while len(got) < 4:
            await asyncio.sleep(0)
        assert len(poller) == 2
    finally:
        _release(poller, pairs)


async def test_while_data_flows_the_passes_follow_on_the_timer_without_waking_per_readiness():
    """A pass that read something schedules the next one ``delay_s`` later itself: a steady
    stream (one datagram sent by each hand-over, so every pass has one waiting) costs one
    wake-up by readiness in all, not one a pass; a pass that finds nothing returns to
    waiting for readiness, and the next datagram wakes it again. Nothing is lost or
    reordered, and every pass reads what was sent before it."""
    loop = asyncio.get_running_loop()
    poller = AcquiredSocketPoller(loop)
    pairs = _pairs(1)
    (ours, theirs) = pairs[0]
    got: list[int] = []

    def reader(datagrams, _now_s):
        got.extend(int.from_bytes(d, "little") for _, d in datagrams)
        if len(got) < 25:
            ours.send(len(got).to_bytes(2, "little"))  # waiting for the next pass

    try:
        poller.add(theirs.fileno(), reader, lambda why: None, delay_s=0.001)
        ours.send((0).to_bytes(2, "little"))
        while len(got) < 25:
            await asyncio.sleep(0)
        passes_with_data = poller.passes
        while not poller._armed:  # the pass after the last datagram reads nothing: readiness again
            await asyncio.sleep(0)
        assert got == list(range(25))
        assert passes_with_data == 25 and poller.passes == 26
        assert poller.wakeups == 1  # the first datagram's; every other pass came on the timer
        ours.send((99).to_bytes(2, "little"))
        while len(got) < 26:
            await asyncio.sleep(0)
        assert got[-1] == 99 and poller.wakeups == 2
    finally:
        _release(poller, pairs)
