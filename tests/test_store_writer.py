"""PacketWriter: commits at most max_latency_s apart (injected clock), on size, on flush and close."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import fake_clock, synthetic_packets

from dmi_sensors import protocol
from dmi_sensors.session import Subject
from dmi_sensors.store import CommitPolicy, SessionStore

SUBJECT = Subject("P001", 2019, 0.42)


def _stored(path, session_id) -> int:
    """Count committed packets through an independent connection (what a crash would leave)."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM raw_packets WHERE session_id = ?", (session_id,)).fetchone()[0]


@pytest.fixture
def store(tmp_path):
    with SessionStore(tmp_path / "w.sqlite") as s:
        yield s


def test_inline_commits_exactly_when_the_oldest_pending_packet_is_half_a_second_old(store):
    sid = store.create_session(SUBJECT)
    clock = fake_clock()
    commits = []
    w = store.packet_writer(sid, threaded=False, clock=clock, on_commit=lambda n, p: commits.append((clock(), n)))
    packets = synthetic_packets("A", 40, period_s=0.04)
    for p in packets:  # one packet every 40 ms of (fake) time
        w.append(p)
        clock.advance(0.04)
    # oldest pending at t=0 -> commit when a packet is appended at t >= 0.5 (13th packet, t=0.52), etc.
    assert [n for _, n in commits] == [14, 28]
    assert [round(t, 9) for t, _ in commits] == [0.52, 1.08]
    assert _stored(store.path, sid) == 28
    assert w.pending == 12
    clock.advance(0.5)
    assert w.poll() is True
    assert _stored(store.path, sid) == 40
    w.close()
    assert store.raw_packets(sid) == packets


@settings(max_examples=30, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=80),
    latency=st.sampled_from([0.1, 0.5, 1.0]),
    max_packets=st.integers(1, 50),
)
def test_policy_never_leaves_a_packet_pending_longer_than_the_latency(tmp_path_factory, gaps, latency, max_packets):
    """Property: at every append, no stored-pending packet is older than max_latency_s (fake time)."""
    path = tmp_path_factory.mktemp("w") / "p.sqlite"
    with SessionStore(path) as store:
        sid = store.create_session(SUBJECT)
        clock = fake_clock()
        w = store.packet_writer(sid, threaded=False, clock=clock, max_latency_s=latency, max_packets=max_packets)
        appended_at = []
        for k, gap in enumerate(gaps):
            clock.advance(gap)
            w.append(synthetic_packets("A", 1, t0_s=float(k))[0])
            appended_at.append(clock())
            committed = w.committed
            pending_times = appended_at[committed:]
            assert w.pending == len(pending_times) < max_packets
            if pending_times:
                assert clock() - pending_times[0] < latency
        w.close()
        assert w.committed == len(gaps) == _stored(path, sid)


def test_thread_commits_on_time_without_further_appends(store):
    sid = store.create_session(SUBJECT)
    clock = fake_clock()
    done = threading.Event()
    w = store.packet_writer(sid, clock=clock, on_commit=lambda n, p: done.set())
    try:
        w.extend(synthetic_packets("A", 5))
        time.sleep(0.3)  # the thread polls several times; fake time has not advanced
        assert w.committed == 0 and _stored(store.path, sid) == 0
        clock.advance(0.5)
        assert done.wait(10.0), "writer thread did not commit after the latency elapsed"
        assert _stored(store.path, sid) == 5 and w.commits == 1
    finally:
        w.close()


def test_thread_commits_on_size_flush_and_close(store):
    sid = store.create_session(SUBJECT)
    clock = fake_clock()
    done = threading.Event()
    w = store.packet_writer(sid, clock=clock, max_packets=10, on_commit=lambda n, p: done.set())
    w.extend(synthetic_packets("A", 10))
    assert done.wait(10.0)
    assert _stored(store.path, sid) == 10
    w.extend(synthetic_packets("A", 3, t0_s=5.0))
    w.flush()
    assert _stored(store.path, sid) == 13
    w.extend(synthetic_packets("B", 2))
    w.close()
    assert _stored(store.path, sid) == 15
    with pytest.raises(RuntimeError, match="closed"):
        w.append(synthetic_packets("A", 1)[0])


def test_concurrent_reader_sees_committed_packets_while_recording(store):
    """WAL: a second connection reads the committed prefix while the writer keeps writing."""
    sid = store.create_session(SUBJECT)
    with store.packet_writer(sid) as w:
        w.extend(synthetic_packets("A", 50))
        w.flush()
        with SessionStore(store.path) as reader:
            assert len(reader.raw_packets(sid)) == 50
        w.extend(synthetic_packets("A", 5, t0_s=10.0))
    assert len(store.raw_packets(sid)) == 55


def test_policy_validation():
    with pytest.raises(ValueError):
        CommitPolicy(max_latency_s=0)
    with pytest.raises(ValueError):
        CommitPolicy(max_packets=0)


async def test_async_use_from_the_event_loop(store):
    """The recorder's pattern: append from the loop, flush/close awaited without blocking it."""
    import asyncio

    sid = store.create_session(SUBJECT)
    w = store.packet_writer(sid)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for p in synthetic_packets("A", 200):
        w.append(p)
    await w.aflush()
    assert _stored(store.path, sid) == 200
    w.append(synthetic_packets("A", 1, t0_s=99.0)[0])
    await w.aclose()
    task.cancel()
    assert _stored(store.path, sid) == 201 and ticks > 0


def _decoded_counter(data: bytes):
    """The reference: what a full protocol decode says the packet's first counter is."""
    from dmi_sensors import protocol

    try:
        packet = protocol.decode(data)
    except protocol.ProtocolError:
        return None
    counter = getattr(packet, "counter", None)
    return None if counter is None else int(counter)


def _valid_packet(counter: int, n: int, compact: bool) -> bytes:
    import numpy as np

    from dmi_sensors import protocol

    acc = np.arange(3 * n, dtype=np.int16).reshape(n, 3)
    if compact:
        return protocol.encode_compact_packet(counter, 123456, 1000, 8, 1000, acc[:1], -acc[:1])
    return protocol.encode_data_packet(counter, 123456, 1000, 8, 1000, acc, -acc)


@settings(max_examples=400, deadline=None)
@given(
    counter=st.integers(0, 2**32 - 1),
    n=st.integers(1, 19),
    compact=st.booleans(),
    edits=st.lists(st.tuples(st.integers(0, 260), st.integers(0, 255)), max_size=3),
    cut=st.integers(-3, 3),
)
def test_the_stored_counter_is_the_decoders_without_decoding_the_samples(counter, n, compact, edits, cut):
    """protocol.data_packet_counter (header only) (the writer reads it for every notification) equals
    the full decode for valid packets and for packets with changed bytes (version, type,
    sample count, config byte, ...) or a changed length, which the decoder may refuse."""
    data = bytearray(_valid_packet(counter, n, compact))
    assert (
        protocol.data_packet_counter(bytes(data))
        == _decoded_counter(bytes(data))
        == counter % (2**16 if compact else 2**32)
    )
    for at, value in edits:
        if at < len(data):
            data[at] = value
    data = data[: len(data) + cut] if cut < 0 else data + bytes(cut)
    assert protocol.data_packet_counter(bytes(data)) == _decoded_counter(bytes(data))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x10", b"\x20\x01" + bytes(40), b"\x1f\x01" + _valid_packet(7, 2, False)[2:] + b"xx"],
    ids=["empty", "one byte", "major 2", "newer minor with trailing bytes"],
)
def test_the_stored_counter_of_odd_packets_is_the_decoders(data):
    assert protocol.data_packet_counter(data) == _decoded_counter(data)
