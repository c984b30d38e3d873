"""8 virtual sensors x 200 Hz for 60 s through bleak and the emulated BlueZ (no faults).

Reports: loss (must be zero, and equal to the emulator's truth), CPU use of the host
process (bleak + dbus-fast + our link code) and of our own notification pipeline alone
(drain: raw packets to the sink, command/status handling, vectorised decoding, statistics),
and notification-to-callback latency: the emulator logs when it emitted each notification
(``time.monotonic``, the same clock in both processes on Linux), the link records when its
bleak callback ran; notifications are matched by content hash.

``DMI_BENCH_BLE_DURATION_S`` / ``DMI_BENCH_BLE_SENSORS`` override 60 s / 8 for quick runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import numpy as np

from benchmarks.bench_live import proc_cpu_s


async def _bench(emu, n_sensors: int, duration_s: float) -> dict[str, object]:
    from dmi_sensors.ble import ReconnectPolicy, SensorHub, discover

    adverts = []
    for _ in range(5):
        adverts = await discover(2.0)
        if len(adverts) >= n_sensors:
            break
    if len(adverts) < n_sensors:
        raise RuntimeError(f"only {len(adverts)} of {n_sensors} sensors found")
    placements = ["trunk", "pelvis", "head", "thigh_left", "thigh_right", "shank_left", "shank_right", "trunk"]
    hub = SensorHub(
        [(a, placements[i % len(placements)]) for i, a in enumerate(adverts[:n_sensors])],
        keep_packets=True,
        log_interval_s=None,
        policy=ReconnectPolicy(),
    )
    pipeline_s = 0.0
    await hub.start()
    for link in hub.links:
        original = link._drain

        def timed(original=original) -> None:
            nonlocal pipeline_s
            t = time.perf_counter()
            original()
            pipeline_s += time.perf_counter() - t

        link._drain = timed
    if await hub.wait_streaming(60) != n_sensors:
        raise RuntimeError("not every sensor streams")
    await emu.acall("emit_log", enable=True)
    pipeline_s = 0.0
    cpu0, wall0 = time.process_time(), time.monotonic()
    emu_cpu0, bus_cpu0 = sum(proc_cpu_s(emu.pid)), sum(proc_cpu_s(emu.bus.pid))
    mark = {link.address: len(link.packets) for link in hub.links}
    await asyncio.sleep(duration_s)
    cpu1, wall1 = time.process_time(), time.monotonic()
    emu_cpu1, bus_cpu1 = sum(proc_cpu_s(emu.pid)), sum(proc_cpu_s(emu.bus.pid))
    pipeline_window_s = pipeline_s
    stats = await hub.stop()
    truth = await emu.atruth()
    emitted = await emu.acall("emit_log")

    latencies = []
    for link in hub.links:
        sent = {h: t for t, h in emitted[link.address]}
        for p in link.packets[mark[link.address] :]:
            t_emit = sent.get(hashlib.blake2b(p.data, digest_size=8).hexdigest())
            if t_emit is not None:
                latencies.append(p.host_time_s + hub.t0_s - t_emit)
    lat_ms = np.asarray(latencies) * 1e3
    wall = wall1 - wall0
    total_received = sum(s.samples_received for s in stats.values())
    return {
        "sensors": n_sensors,
        "fs_hz": 200,
        "duration_s": round(wall, 2),
        "samples_received": total_received,
        "samples_sent_truth": sum(t["samples_sent"] for t in truth.values()),
        "samples_lost": sum(s.samples_lost for s in stats.values()),
        "samples_dropped_truth": sum(t["samples_dropped_total"] for t in truth.values()),
        "malformed_packets": sum(s.malformed_packets for s in stats.values()),
        "reconnects": sum(s.reconnects for s in stats.values()),
        "notifications_per_s": round(sum(s.packets_received for s in stats.values()) / wall, 1),
        "host_process_cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "our_pipeline_cpu_pct_of_one_core": round(100 * pipeline_window_s / wall, 3),
        "our_pipeline_us_per_sample": round(1e6 * pipeline_window_s / max(1, total_received), 3),
        "emulator_cpu_pct_of_one_core": round(100 * (emu_cpu1 - emu_cpu0) / wall, 2),
        "dbus_daemon_cpu_pct_of_one_core": round(100 * (bus_cpu1 - bus_cpu0) / wall, 2),
        "latency_matched_notifications": int(lat_ms.size),
        "notify_to_callback_latency_ms_p50": round(float(np.percentile(lat_ms, 50)), 3) if lat_ms.size else None,
        "notify_to_callback_latency_ms_p99": round(float(np.percentile(lat_ms, 99)), 3) if lat_ms.size else None,
        "notify_to_callback_latency_ms_max": round(float(lat_ms.max()), 3) if lat_ms.size else None,
        "linkstats_latency_above_min_ms_p50_median": float(np.median([s.latency_ms_p50 for s in stats.values()])),
        "linkstats_latency_above_min_ms_p99_median": float(np.median([s.latency_ms_p99 for s in stats.values()])),
    }


def run() -> dict[str, object]:
    from dmi_sensors.sim.bluez import simulated_sensors

    duration_s = float(os.environ.get("DMI_BENCH_BLE_DURATION_S", "60"))
    n = int(os.environ.get("DMI_BENCH_BLE_SENSORS", "8"))
    with simulated_sensors(n, fs_hz=200) as emu, emu.activated():
        result = asyncio.run(_bench(emu, n, duration_s))
    result["zero_loss"] = result["samples_lost"] == 0 and result["samples_received"] == result["samples_sent_truth"]
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
