"""The live view's push cadence, on a virtual clock (no sleeping, no timed assertions).

The event loop below never waits: its selector advances a virtual clock to the next timer,
so ``asyncio.sleep`` and ``wait_for`` timeouts take no real time and the push times are
exact. That makes the cadence itself testable: with new samples arriving all the time, a
page gets an update every ``push_interval_s`` (not every other interval), an early wake-up
(a repetition result, a tag) never makes two updates closer than ``push_interval_s``, and
with nothing new the timer and link states still go out once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import selectors

import numpy as np
import pytest

from dmi_sensors.live import LiveHub, LiveParams
from dmi_sensors.live.server import LiveServer
from dmi_sensors.session.events import EventRecord
from dmi_sensors.types import SampleBatch


class _VirtualSelector(selectors.DefaultSelector):
    """A selector that never blocks: a wait of ``timeout`` s moves the virtual clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None):  # type: ignore[override]
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self.now += timeout
        return ready


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def _run_virtual(coro):
    loop = _VirtualLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _pushes(
    feed_every_s: float | None,
    duration_s: float,
    wake_at_s: tuple[float, ...] = (),
    state_changes_at_s: tuple[float, ...] = (),
) -> list[tuple[float, dict]]:
    """Push times and updates (as the pages parse them: strict JSON) of a server whose hub
    gets a packet of 19 samples (1 kHz, one trace sample each) every ``feed_every_s``
    (None: never; from 1 s on the gyroscope reads NaN, so the tilt and the running sway of
    the repetition in progress are NaN), a closed tag row at each of ``wake_at_s`` and a link
    state change at each of ``state_changes_at_s``."""
    loop = asyncio.get_running_loop()
    params = LiveParams(trace_hz=1000.0 / 19, repetition_movement_s=0.0)
    hub = LiveHub(params, {"S1": "trunk"}, clock=loop.time)
    server = LiveServer(hub, push_interval_s=0.05)
    sent: list[tuple[float, dict]] = []

    def strict(token: str) -> None:
        raise AssertionError(f"{token} is not JSON (a browser's JSON.parse refuses it)")

    async def broadcast(text: str) -> None:
        sent.append((loop.time(), json.loads(text, parse_constant=strict)))

    server._broadcast = broadcast  # type: ignore[method-assign]  # what the pages would receive
    server.clients.add(object())  # type: ignore[arg-type]  # one page is open
    server.follow_hub()
    packets = itertools.count()
    hub.sensor("S1", 1000.0).start_repetition(
        EventRecord(0.0, 0.0, exercise="x", repetition=99, kind="repetition", posture="four_point")
    )

    def feed() -> None:
        t = loop.time()
        k = next(packets) * 19 + np.arange(19)
        gyr = np.full((19, 3), math.nan if t >= 1.0 else 0.0)
        hub.on_batch(SampleBatch("S1", 1000.0, k, k / 1000.0, np.full(19, t), np.tile([0.0, 0.0, 9.8], (19, 1)), gyr))
        if feed_every_s is not None:
            loop.call_later(feed_every_s, feed)

    if feed_every_s is not None:
        loop.call_soon(feed)
    for at in state_changes_at_s:
        loop.call_at(at, lambda: hub.set_link_state("S1", state="streaming", lost=int(loop.time() * 1000)))
    for k, at in enumerate(wake_at_s):
        loop.call_at(at, lambda k=k: hub.on_tag(EventRecord(loop.time(), 0.0, exercise="x", repetition=k + 1)))
    pusher = loop.create_task(server._push_loop())
    await asyncio.sleep(duration_s)
    pusher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pusher
    server.unfollow_hub()
    return sent


def test_with_samples_arriving_all_the_time_a_page_gets_an_update_every_push_interval():
    sent = _run_virtual(_pushes(feed_every_s=0.019, duration_s=2.0))
    times = [t for t, _ in sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(sent) >= 38  # 2 s / 50 ms = 40 (the first at the start, the last may fall after 2 s)
    assert min(gaps) == pytest.approx(0.05, abs=1e-9)
    assert max(gaps) == pytest.approx(0.05, abs=1e-9)
    # every sample message reached a page: the trace points of 2 s of messages, in order
    points = [p for _, u in sent for p in u["traces"].get("S1", {}).get("t", [])]
    assert points == sorted(points) and len(points) >= 100


def test_an_early_wake_up_never_brings_two_updates_closer_than_the_push_interval():
    wake = (0.301, 0.302, 0.7, 0.7499)
    sent = _run_virtual(_pushes(feed_every_s=None, duration_s=1.5, wake_at_s=wake))
    times = [t for t, _ in sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.05 - 1e-9
    # each tag row goes out in the first update allowed after it: at most one interval late
    for k, at in enumerate(wake):
        first = next(t for t, u in sent if any(tag["repetition"] == k + 1 for tag in u["tags"]))
        assert at <= first <= at + 0.05 + 1e-9


def test_with_nothing_new_the_timer_and_states_go_out_once_a_second():
    sent = _run_virtual(_pushes(feed_every_s=None, duration_s=3.5))
    times = [t for t, _ in sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(sent) == 4  # at 0 s, then about every second
    assert all(1.0 - 1e-9 <= g <= 1.05 + 1e-9 for g in gaps)


async def _stop_while_woken() -> tuple[bool, int]:
    """Stop a server whose push loop is waiting, in the loop pass where a last link state
    woke it (what ``record --live`` does at its end: final states, then ``stop``)."""
    loop = asyncio.get_running_loop()
    hub = LiveHub(LiveParams(), {"S1": "trunk"}, clock=loop.time)
    server = LiveServer(hub, push_interval_s=0.05)
    server._unsubscribe = hub.subscribe(server._collect)
    server._pusher = loop.create_task(server._push_loop())
    await asyncio.sleep(0.225)  # the loop waits for its next update (due at 0.25 s)
    hub.set_link_state("S1", state="stopped")  # wakes it ...
    stopping = loop.create_task(server.stop())  # ... and the stop cancels it in the same pass
    done, _ = await asyncio.wait({stopping}, timeout=60.0)  # virtual seconds
    return stopping in done, len(server.clients)


def test_the_view_stops_when_a_last_state_update_and_the_stop_meet():
    """Python 3.11's wait_for returns the finished inner wait and drops the cancel when both
    happen in one loop pass; the push loop then ran forever and ``record --live`` without
    an open page never exited after its recording ended."""
    stopped, clients = _run_virtual(_stop_while_woken())
    assert stopped and clients == 0


def test_link_states_go_out_once_a_second_and_when_one_changes_not_with_every_update():
    changes = (0.512, 1.3001)
    sent = _run_virtual(_pushes(feed_every_s=0.019, duration_s=3.0, state_changes_at_s=changes))
    with_states = [t for t, u in sent if u["sensors"]]  # (none before the first change at 0.512 s)
    after_change = [t for t in with_states if any(at <= t <= at + 0.05 + 1e-9 for at in changes)]
    assert len(after_change) == len(changes)  # the first update after each change
    once_a_second = [round(t, 6) for t in with_states if t not in after_change]
    assert once_a_second == [1.0, 2.0]
    # the others carry the samples but not the unchanged states
    assert sum(1 for _, u in sent if not u["sensors"] and u["traces"]) >= 50
    # a NaN running value reaches the page as null (the page's JSON.parse refuses NaN)
    assert any(u["running"].get("S1", {}).get("rms_ap", 0) is None for _, u in sent)


async def _acked_arrivals() -> tuple[list[float], list[float], list[dict], dict]:
    """A server pulling from a hub fed packets (sometimes two in one batch) every 7 ms for
    2 s, with one page open that acknowledges every update."""
    loop = asyncio.get_running_loop()
    hub = LiveHub(LiveParams(com_height_m=0.55), {"S1": "trunk", "S2": "shank"}, clock=loop.time)
    server = LiveServer(hub, push_interval_s=0.05)
    sent: list[dict] = []
    carried: list[float] = []

    async def broadcast(text: str) -> None:
        update = json.loads(text)
        sent.append(update)
        carried.extend(server._unacked.get(update["seq"], []))
        server._ack(update["seq"])  # the page painted it

    server._broadcast = broadcast  # type: ignore[method-assign]
    server.clients.add(object())  # type: ignore[arg-type]
    server.follow_hub()
    fed: list[float] = []
    packets = itertools.count()

    def feed() -> None:
        t = loop.time()
        for sid in ("S1", "S2"):
            m = 2 if next(packets) % 5 == 0 else 1  # a drain of two packets now and then
            k = next(packets) * 19 + np.arange(19 * m)
            host = np.repeat([t - 0.003, t][-m:], 19)
            acc = np.tile([0.0, 0.0, 9.8], (19 * m, 1))
            hub.on_batch(SampleBatch(sid, 1000.0, k, k / 1000.0, host, acc, np.zeros((19 * m, 3))))
            fed.extend([t - 0.003, t][-m:])
        if t < 2.0:
            loop.call_later(0.007, feed)

    loop.call_soon(feed)
    pusher = loop.create_task(server._push_loop())
    await asyncio.sleep(2.2)
    pusher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pusher
    server.unfollow_hub()
    return fed, carried, sent, hub.latency.summary()


def test_every_packet_is_in_the_screen_latency_once_with_the_update_that_carried_its_data():
    """The screen latency runs from a notification's arrival to the painting of the update
    that carries its data: each packet's arrival goes with exactly one update (the first
    made after it), none lost or counted twice, also for drains of two packets."""
    fed, carried, sent, latency = _run_virtual(_acked_arrivals())
    assert carried == fed  # every arrival once, in order
    assert latency["screen"]["n"] == latency["metric"]["n"] == len(fed)
    assert all(u["traces"] for u in sent if u["running"])  # 50 ms of packets hold trace samples (every 40th)
    # each update carries what arrived before it, never later (the virtual clock: 0 s latency to the metric)
    assert latency["screen"]["max_ms"] <= 50.0 + 7.0 + 1e-6


async def _page_opened_late() -> list[dict]:
    loop = asyncio.get_running_loop()
    hub = LiveHub(LiveParams(), {"S1": "trunk"}, clock=loop.time)
    server = LiveServer(hub, push_interval_s=0.05)
    sent: list[dict] = []

    async def broadcast(text: str) -> None:
        sent.append(json.loads(text))

    server._broadcast = broadcast  # type: ignore[method-assign]
    server.follow_hub()

    def feed(k: int) -> None:
        c = k * 19 + np.arange(19)
        host = np.full(19, k * 0.019)
        hub.on_batch(
            SampleBatch("S1", 1000.0, c, c / 1000.0, host, np.tile([0.0, 0.0, 9.8], (19, 1)), np.zeros((19, 3)))
        )

    for k in range(10):
        feed(k)
    await server._push_now()  # no page open: nothing sent, nothing kept
    server.clients.add(object())  # type: ignore[arg-type]  # a page opens
    for k in range(10, 15):
        feed(k)
    await server._push_now()
    server.unfollow_hub()
    return sent


def test_a_page_opened_later_gets_only_what_came_after_the_last_update():
    """Without a page an update is not made and what was new is dropped (as before the pull):
    the first update to a page that opens later carries the samples since then only."""
    (update,) = _run_virtual(_page_opened_late())
    # the trace samples (every 40th at 1 kHz) of packets 10 to 14: samples 200, 240, 280
    t = update["traces"]["S1"]["t"]
    assert len(t) == 3 and np.diff(t) == pytest.approx([0.04, 0.04]) and t[0] == pytest.approx(0.2, abs=0.02)
    assert list(update["running"]) == ["S1"]
