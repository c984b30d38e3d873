"""Each vendor's emulated sensor streamed 60 s through bleak at its research rate, without faults.

For MetaMotion (100 Hz), Movella DOT (60 Hz), Polar Verity Sense (52 Hz) and WitMotion
(100 Hz), one sensor at a time: discovery, the vendor's setup exchange, then streaming until
60 s of samples arrived (the emulator runs in real time; ``tests/test_ble_vendors.py`` streams
3 s). Measured per vendor: samples received, lost (exact or estimated, as the vendor allows),
malformed, the emulator's truth of samples dropped, notifications per second and the
latency percentiles of the link statistics. ``DMI_BENCH_VENDORS_DURATION_S`` overrides 60.
"""

from __future__ import annotations

import asyncio
import os
import time

RATE_HZ = {"metamotion": 100, "dot": 60, "polar": 52, "witmotion": 100}


async def _one(emu, vendor: str, duration_s: float) -> dict[str, object]:
    from dmi_sensors.ble import SensorLink, discover

    adverts = await discover(3.0, vendors=True)
    link = SensorLink(adverts[0], "trunk")
    link.start()
    await link.wait_streaming(30.0)
    t0 = time.monotonic()
    want = int(duration_s * RATE_HZ[vendor])
    while link.stats.samples_received < want and link.state != "failed":
        await asyncio.sleep(0.1)
    streamed_s = time.monotonic() - t0
    s = await link.stop()
    truth = (await emu.atruth())[adverts[0].address.upper()]
    return {
        "rate_hz": RATE_HZ[vendor],
        "streamed_s": round(streamed_s, 2),
        "samples_received": s.samples_received,
        "samples_lost": s.samples_lost,
        "loss_accounting": s.loss_accounting,
        "malformed_packets": s.malformed_packets,
        "truth_samples_dropped": truth["samples_dropped"],
        "notifications_per_s": s.packets_per_s,
        "latency_ms_p50": s.latency_ms_p50,
        "latency_ms_p99": s.latency_ms_p99,
        "notify_method": s.notify_method,
    }


def run() -> dict[str, object]:
    from dmi_sensors.sim.bluez import simulated_sensors

    duration_s = float(os.environ.get("DMI_BENCH_VENDORS_DURATION_S", "60"))
    out: dict[str, object] = {"duration_s": duration_s}
    for vendor in RATE_HZ:
        with simulated_sensors(1, vendors=[vendor]) as emu, emu.activated():
            out[vendor] = asyncio.run(_one(emu, vendor, duration_s))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
