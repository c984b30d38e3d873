"""The live path's cost per BLE packet on one sensor (a diagnosis, not a benchmark).

Encodes ``N`` data packets of 19 samples (1 kHz, a standing sensor with noise), then feeds
them one at a time, as a 16-sensor recording's drains do, through ``StreamDecoder.process``
and ``LiveHub.on_batch`` (with a repetition in progress, so the running sway is summed) and
prints the mean wall time of each per packet, after 500 packets of warm-up::

    python -m benchmarks.live_packet_cost [N]

One sensor's state stays in cache here; in a recording 16 sensors take turns, so the same
calls cost more there (``benchmarks.live_cpu_split`` measures them in place).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from dmi_sensors.live.hub import LiveHub
from dmi_sensors.live.metrics import LiveParams
from dmi_sensors.live.metrics import warm_up as warm_up_live
from dmi_sensors.protocol import StreamDecoder
from dmi_sensors.protocol.data import encode_data_packet
from dmi_sensors.session.events import EventRecord
from dmi_sensors.types import RawPacket

WARM_UP = 500


def standing_packets(n: int, seed: int = 1) -> list[bytes]:
    """``n`` consecutive data packets of one sensor at 1 kHz, 19 samples each (±8 g, ±2000
    °/s): upright and still, gravity on +z with a few counts of noise on every axis."""
    rng = np.random.default_rng(seed)
    return [
        encode_data_packet(
            i * 19,
            i * 19_000,
            1000.0,
            8,
            2000,
            np.tile([0, 0, 4096], (19, 1)) + rng.integers(-20, 20, (19, 3)),
            rng.integers(-20, 20, (19, 3)),
        )
        for i in range(n)
    ]


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 4000
    warm_up_live()
    packets = standing_packets(n)
    decoder = StreamDecoder("S1")
    hub = LiveHub(LiveParams(com_height_m=0.55), {"S1": "trunk"})
    decode_ns = hub_ns = 0
    for i, data in enumerate(packets):
        t0 = time.perf_counter_ns()
        batch = decoder.process([RawPacket("S1", i * 0.019 + 0.003, data)])
        t1 = time.perf_counter_ns()
        hub.on_batch(batch)
        t2 = time.perf_counter_ns()
        if i == 10:
            hub.sensors["S1"].start_repetition(
                EventRecord(0.0, 0.0, exercise="x", repetition=1, kind="repetition", posture="standing")
            )
        if i >= WARM_UP:
            decode_ns += t1 - t0
            hub_ns += t2 - t1
    m = max(1, n - WARM_UP)
    print(f"per packet: StreamDecoder.process {decode_ns / m / 1e3:.1f} µs, LiveHub.on_batch {hub_ns / m / 1e3:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
