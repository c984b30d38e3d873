"""Protocol decode throughput: vectorised ``decode_stream`` vs a per-packet ``struct`` loop.

Both produce the same arrays (unwrapped counter, device time, SI acc/gyr) from the same
full-format packets (19 samples, 242 bytes, a counter wrap inside); the loop is what a
straightforward decoder does: ``struct.unpack_from`` per packet, Python unwrap, lists ->
numpy at the end. Reported: packets/s (and samples/s) of each and the speed-up ratio; and
the cost of one ``StreamDecoder.process`` call per packet (a live drain's usual case), µs.
"""

from __future__ import annotations

import math
import struct
import time

import numpy as np

from dmi_sensors import protocol as P
from dmi_sensors.types import RawPacket

N_PACKETS = 20_000
SPP = 19
FS_HZ = 1000

_HDR = struct.Struct("<BBBBBBII")


def _packets(compact: bool = False) -> list[RawPacket]:
    rng = np.random.default_rng(0)
    n = N_PACKETS * (1 if compact else SPP)
    acc = rng.integers(-32768, 32768, (n, 3))
    gyr = rng.integers(-32768, 32768, (n, 3))
    first = 65536 - n // 2 if compact else (1 << 32) - n // 2
    data = P.packetize(acc, gyr, first, 0, FS_HZ, 8, 1000, SPP, compact=compact)
    spp = 1 if compact else SPP
    return [RawPacket("S1", i * spp / FS_HZ, d) for i, d in enumerate(data)]


def struct_loop(packets: list[RawPacket]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-packet reference decoder for full packets (counter/timestamp unwrap, SI)."""
    counters: list[int] = []
    times: list[float] = []
    raw: list[tuple[int, ...]] = []
    scales: list[tuple[float, float]] = []
    last = None
    for p in packets:
        data = p.data
        ver, typ, _flags, cfg, n, _res, cnt, ts = _HDR.unpack_from(data)
        if ver >> 4 != 1 or typ != 1 or len(data) != 14 + 12 * n:
            continue
        fs = P.RATES_HZ[cfg & 7]
        if last is None:
            u, t_us = cnt, ts
        else:
            lu, ln, lc, lt, ltu = last
            d = (cnt - lc - ln) % (1 << 32)
            u = lu + ln + d
            dt = (ts - lt) % (1 << 32)
            t_us = ltu + dt + round(((u - lu) * 1e6 / fs - dt) / (1 << 32)) * (1 << 32)
        last = (u, n, cnt, ts, t_us)
        samples = struct.unpack_from(f"<{6 * n}h", data, 14)
        a = P.ACC_RANGES_G[(cfg >> 3) & 3] * 9.80665 / 32768
        g = P.GYR_RANGES_DPS[cfg >> 5] / 32768 * math.pi / 180
        for k in range(n):
            counters.append(u + k)
            times.append((t_us + k * 1e6 / fs) / 1e6)
            raw.append(samples[6 * k : 6 * k + 6])
            scales.append((a, g))
    arr = np.array(raw, dtype=np.float64)
    sc = np.array(scales)
    return np.array(counters), np.array(times), arr[:, :3] * sc[:, :1], arr[:, 3:] * sc[:, 1:]


def _best(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> dict[str, float | int]:
    packets = _packets()
    compact = _packets(compact=True)
    # same answers first
    out = P.decode_stream(packets, "S1").batch
    c, t, acc, gyr = struct_loop(packets)
    np.testing.assert_array_equal(out.counter, c)
    np.testing.assert_allclose(out.device_time_s, t, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out.acc_mps2, acc, rtol=1e-12)
    np.testing.assert_allclose(out.gyr_rps, gyr, rtol=1e-12)

    t_vec = _best(lambda: P.decode_stream(packets, "S1"), repeat=5)
    t_loop = _best(lambda: struct_loop(packets), repeat=3)
    t_compact = _best(lambda: P.decode_stream(compact, "S1"), repeat=5)
    decoder = P.StreamDecoder("S1")
    one = [[p] for p in packets[:5000]]

    def one_by_one() -> None:
        decoder.reset()
        for p in one:
            decoder.process(p)

    t_one = _best(one_by_one, repeat=5)
    n = len(packets)
    return {
        "packets": n,
        "samples_per_packet": SPP,
        "vectorised_packets_per_s": round(n / t_vec),
        "vectorised_samples_per_s": round(n * SPP / t_vec),
        "struct_loop_packets_per_s": round(n / t_loop),
        "struct_loop_samples_per_s": round(n * SPP / t_loop),
        "speedup_vectorised_vs_struct_loop": round(t_loop / t_vec, 1),
        "vectorised_compact_packets_per_s": round(len(compact) / t_compact),
        "realtime_factor_1khz_one_sensor": round(n * SPP / t_vec / FS_HZ),
        "one_packet_process_us": round(t_one / len(one) * 1e6, 2),
    }
