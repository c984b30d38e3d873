"""``dmi_sensors.ble.record`` keeps the objects that exist once every sensor streams out of
the garbage collector's full passes for the recording (a full collection of the recorder's
objects holds the event loop for tens of milliseconds, delaying every sensor's
notifications), and hands them back at its end."""

from __future__ import annotations

import asyncio
import gc

import pytest

pytestmark = pytest.mark.bluez


@pytest.mark.parametrize("freeze_gc", [True, False])
async def test_record_freezes_the_collector_while_streaming_and_unfreezes_after(bluez, freeze_gc):
    from dmi_sensors.ble import ReconnectPolicy, discover, record

    bluez(factory_kwargs={"n": 1, "fs_hz": 200, "seed": 3})
    adverts = await discover(0.6)
    assert gc.get_freeze_count() == 0
    seen: list[int] = []

    async def observe(ctx) -> None:
        while sum(s.samples_received for s in ctx.hub.stats().values()) < 100:
            await asyncio.sleep(0.01)
        seen.append(gc.get_freeze_count())
        gc.collect(2)  # a full collection while recording: only what was made since the start
        ctx.stop.set()

    stats, _ = await record(
        {adverts[0]: "trunk"},
        60.0,
        policy=ReconnectPolicy(initial_backoff_s=0.1, scan_timeout_s=1.0),
        companions=[observe],
        freeze_gc=freeze_gc,
    )
    assert len(seen) == 1
    assert (seen[0] > 10_000) is freeze_gc  # the modules, links and connections at least
    assert gc.get_freeze_count() == 0
    (s,) = stats.values()
    assert s.samples_lost == 0 and s.samples_received >= 100
