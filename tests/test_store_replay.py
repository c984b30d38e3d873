"""Replay: stored packets come back in arrival order with their original timing."""

from __future__ import annotations

import asyncio

import pytest
from store_helpers import synthetic_packets

from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore


class VirtualTime:
    """A clock and sleep coroutine that only advance when slept on (exact timing checks)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, dt: float) -> None:
        self.sleeps.append(dt)
        self.now += dt
        await asyncio.sleep(0)


@pytest.fixture
def stored(tmp_path):
    with SessionStore(tmp_path / "r.sqlite") as store:
        sid = store.create_session(Subject("P001", 2019, 0.42))
        a = synthetic_packets("A", 30, period_s=0.1, t0_s=1.0)
        b = synthetic_packets("B", 30, period_s=0.1, t0_s=1.03)
        packets = sorted(a + b, key=lambda p: p.host_time_s)
        store.add_packets(sid, packets)
        yield store, sid, packets


@pytest.mark.parametrize("speed", [1.0, 2.5, 10.0])
async def test_replay_keeps_original_timing_on_a_virtual_clock(stored, speed):
    store, sid, packets = stored
    vt = VirtualTime()
    out = []
    async for p in store.replay(sid, speed=speed, clock=vt.clock, sleep=vt.sleep):
        out.append((vt.now - 100.0, p))
    assert [p for _, p in out] == packets
    for t, p in out:
        assert t == pytest.approx((p.host_time_s - packets[0].host_time_s) / speed, abs=1e-9)


async def test_replay_one_sensor_and_as_fast_as_possible(stored):
    store, sid, packets = stored
    vt = VirtualTime()
    out = [p async for p in store.replay(sid, speed=0, sensor_id="B", clock=vt.clock, sleep=vt.sleep)]
    assert out == [p for p in packets if p.sensor_id == "B"]
    assert all(dt == 0 for dt in vt.sleeps)


async def test_replay_on_the_real_loop_is_never_early(stored):
    """Each packet is yielded no earlier than its scheduled time on the loop clock."""
    store, sid, packets = stored
    loop = asyncio.get_running_loop()
    start = loop.time()
    speed = 10.0
    async for p in store.replay(sid, speed=speed):
        assert loop.time() - start >= (p.host_time_s - packets[0].host_time_s) / speed - 1e-6


async def test_negative_speed_is_refused(stored):
    store, sid, _ = stored
    with pytest.raises(ValueError, match="speed"):
        async for _ in store.replay(sid, speed=-1):
            pass


async def test_replayed_session_decodes_like_the_stored_one_through_the_streaming_decoder(tmp_path):
    """A replay is a live stream: feeding it packet by packet to StreamDecoder gives the batch decode_stream gives."""
    import numpy as np

    from dmi_sensors import protocol
    from dmi_sensors.sim import LinkModel
    from dmi_sensors.sim.recorder import packet_schedule
    from dmi_sensors.types import SampleBatch

    with SessionStore(tmp_path / "p.sqlite") as store:
        sid = store.create_session(Subject("P001", 2019, 0.42))
        packets = packet_schedule(2, 100, 2.99, 5, seed=1, link=LinkModel.ideal())  # 2 x 60 whole packets
        store.add_packets(sid, packets)
        decoders = {s: protocol.StreamDecoder(s) for s in sorted({p.sensor_id for p in packets})}
        parts: dict[str, list] = {s: [] for s in decoders}
        async for p in store.replay(sid, speed=0):
            parts[p.sensor_id].append(decoders[p.sensor_id].process([p]))
        for sensor_id, decoder in decoders.items():
            live = SampleBatch.concat(parts[sensor_id])
            whole = protocol.decode_stream(store.raw_packets(sid, sensor_id), sensor_id).batch
            assert len(live) == 300
            for field in ("counter", "device_time_s", "host_time_s", "acc_mps2", "gyr_rps", "gap_before"):
                np.testing.assert_array_equal(getattr(live, field), getattr(whole, field))
            assert decoder.samples_lost == 0 and decoder.malformed_packets == 0
