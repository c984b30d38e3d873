"""A sensor link's cost per BLE packet before the live path (a diagnosis, not a benchmark).

Two measurements, each the best and the median of 8 rounds (wall time per packet or pass)::

    python -m benchmarks.link_packet_cost

* **drain**: one :class:`~dmi_sensors.ble.link.SensorLink` gets 19-sample packets (1 kHz) one
  at a time as the socket poller hands them over at 16 sensors x 1 kHz (``_on_datagrams``,
  then ``_after_pass``, which drains at once): arrival times, the raw packet to the
  recorder's sink chain (the hub's guard, the live view's timing sink, a threaded
  :class:`~dmi_sensors.store.PacketWriter` on a real SQLite store, committing 0.25 s after
  arrival), command/status check, statistics, ``StreamDecoder.process``; ``on_batch`` is a
  no-op, so the live path is not in it (``benchmarks.live_packet_cost`` measures that).
  Also ``StreamDecoder.process`` alone, the sink chain's append alone and the drain without
  a sink.
* **poller**: one :class:`~dmi_sensors.ble.acquired.AcquiredSocketPoller` pass over 16
  ``SOCK_SEQPACKET`` socket pairs (as BlueZ's AcquireNotify sockets), 8 of them holding one
  242-byte datagram; the readers do nothing.

One link's state stays in cache here; in a recording sixteen links and the live path take
turns, and the same code takes about twice as long (``benchmarks.live_cpu_split`` measures
it in place).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.live_packet_cost import standing_packets
from dmi_sensors.ble.acquired import AcquiredSocketPoller
from dmi_sensors.ble.hub import _GuardedSink
from dmi_sensors.ble.link import PacketSink, SensorLink
from dmi_sensors.live.latency import LatencyRecorder, TimingSink
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.protocol.stream import warm_up
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.types import RawPacket

ROUNDS, PER_ROUND, WARM_UP = 8, 1000, 500


def _rounds(step: Callable[[int], None]) -> str:
    for i in range(WARM_UP):
        step(i)
    per = []
    for r in range(ROUNDS):
        t0 = time.perf_counter_ns()
        for i in range(WARM_UP + r * PER_ROUND, WARM_UP + (r + 1) * PER_ROUND):
            step(i)
        per.append((time.perf_counter_ns() - t0) / PER_ROUND / 1e3)
    return f"best {min(per):.2f} µs, median {statistics.median(per):.2f} µs"


def _link(sink: PacketSink | None) -> SensorLink:
    link = SensorLink("AA:BB:CC:DD:EE:01", "trunk", sink=sink, on_batch=lambda b: None, t0_s=0.0)
    link._decoder_ready = True
    link._loop = asyncio.new_event_loop()  # never run: with coalesce_s 0, _after_pass drains at once
    return link


def _handover(link: SensorLink, packets: list[bytes]) -> Callable[[int], None]:
    def step(i: int) -> None:
        now = time.monotonic()
        link._on_datagrams([(now - 0.001, packets[i])], now)
        link._after_pass()

    return step


def drain() -> None:
    warm_up()
    n = WARM_UP + ROUNDS * PER_ROUND
    packets = standing_packets(n)
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp) / "x.sqlite")
        writer = store.packet_writer(store.create_session(Subject(subject_id="B001")), max_latency_s=0.25)
        timing = TimingSink(LatencyRecorder()).wrap(writer)
        writer._on_commit = timing.on_commit
        sink = _GuardedSink(timing, lambda exc: None)
        gc.collect()
        gc.freeze()  # as the recorder does while it streams
        try:
            link = _link(sink)
            print("drain, datagram to on_batch, with the sink chain:", _rounds(_handover(link, packets)))
            assert link.tracker.samples_received == n * 19
            decoder = StreamDecoder("S1")
            raws = [[RawPacket("S1", i * 0.019, d)] for i, d in enumerate(packets)]
            print("StreamDecoder.process, one packet:", _rounds(lambda i: decoder.process(raws[i])))
            print("the sink chain's append, one packet:", _rounds(lambda i: sink.append(raws[i][0])))
            print("drain without a sink:", _rounds(_handover(_link(None), packets)))
        finally:
            writer.close()
            gc.unfreeze()


def poller(ready: int = 8) -> None:
    loop = asyncio.new_event_loop()
    poll = AcquiredSocketPoller(loop)
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(16)]
    got = [0]

    def reader(datagrams: list[tuple[float | None, bytes]], _now_s: float) -> None:
        got[0] += len(datagrams)

    for _, theirs in pairs:
        poll.add(theirs.fileno(), reader, lambda why: None, after_pass=lambda: None)
    payload = bytes(242)
    try:
        per = []
        for r in range(ROUNDS + 1):  # the first round warms up
            pass_ns = 0
            for _ in range(PER_ROUND // 4):
                for ours, _ in pairs[:ready]:
                    ours.send(payload)
                t0 = time.perf_counter_ns()
                poll._pass()  # only the pass is timed, not the sends
                pass_ns += time.perf_counter_ns() - t0
            if r:
                per.append(pass_ns / (PER_ROUND // 4) / 1e3)
        assert got[0] == (ROUNDS + 1) * (PER_ROUND // 4) * ready
        print(
            f"poller pass, 16 sockets, {ready} with a datagram: best {min(per):.2f} µs,"
            f" median {statistics.median(per):.2f} µs"
        )
    finally:
        for ours, theirs in pairs:
            poll.remove(theirs.fileno())
            ours.close()
            theirs.close()
        loop.close()


def main(argv: list[str]) -> int:
    drain()
    poller()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
