"""A vectorised model of BLE packet arrival for the timing tests.

Truth: sample k is taken at host-clock time ``t0 + k / fs * (1 + drift_ppm * 1e-6)``.
A packet of ``spp`` samples is ready when its last sample is taken and leaves at the next
connection event (events every ``ci_s`` on the radio's own clock, which runs at
``radio_ppm`` against the host), plus a geometric number of extra intervals
(retransmissions), plus rare Pareto-tailed stalls; delivery is in order; the host adds a
small exponential scheduling delay. Every latency is positive.
"""

from __future__ import annotations

import numpy as np


def ble_arrivals(
    duration_s: float,
    fs_hz: float = 100.0,
    spp: int = 10,
    drift_ppm: float = 0.0,
    ci_s: float = 0.03,
    radio_ppm: float = 15.0,
    retx_p: float = 0.15,
    stall_p: float = 0.002,
    host_jitter_s: float = 2e-4,
    t0_s: float = 0.5,
    seed: int = 0,
    lost_packets: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_packets = int(duration_s * fs_hz) // spp
    n = n_packets * spp
    k = np.arange(n, dtype=np.int64)
    t_true = t0_s + k / fs_hz * (1 + drift_ppm * 1e-6)
    ready = t_true[spp - 1 :: spp]  # time the last sample of each packet is taken
    ci_host = ci_s * (1 + radio_ppm * 1e-6)
    phase = rng.uniform(0, ci_host)
    event = phase + np.ceil((ready - phase) / ci_host) * ci_host
    extra = rng.geometric(1 - retx_p, size=n_packets) - 1  # 0, 1, 2, ... retransmission intervals
    stall = np.where(rng.random(n_packets) < stall_p, (rng.pareto(1.5, size=n_packets) + 1) * 0.1, 0.0)
    send = event + extra * ci_host + stall
    send = np.maximum.accumulate(send)  # in-order delivery
    arrival = send + rng.exponential(host_jitter_s, size=n_packets)
    host = np.repeat(arrival, spp)
    keep = np.ones(n_packets, dtype=bool)
    if lost_packets is not None:
        keep[lost_packets] = False
    keep_s = np.repeat(keep, spp)
    return {"counter": k[keep_s], "host_time_s": host[keep_s], "t_true": t_true[keep_s], "fs_hz": fs_hz}
