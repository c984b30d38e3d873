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


def restarted_sensor(
    runs: list[tuple[int, float, float]],
    sensor_id: str = "S1",
    fs_hz: float = 100.0,
    spp: int = 10,
    drift_ppm: float = 150.0,
    seed: int = 0,
    values: tuple[np.ndarray, np.ndarray] | None = None,
):
    """Firmware-exact packets of one sensor that restarts streaming, with the true sample times.

    ``runs``: ``(first_counter, t0_s, duration_s)`` per streaming run; the device restarts its
    counter at ``first_counter`` and its timestamp at 0 for each. Sample k of a run is taken at
    ``t0_s + k / fs_hz * (1 + drift_ppm * 1e-6)`` and its packet arrives as
    :func:`ble_arrivals` models. ``values``: optional ``(acc_counts, gyr_counts)`` int16
    ``(n, 3)`` to cut each run's samples from (zeros and +1 g otherwise).
    Returns ``(packets, t_true)``, ``t_true`` one time per sample in arrival order.
    """
    from dmi_sensors import protocol
    from dmi_sensors.types import RawPacket

    packets, truth = [], []
    for i, (first_counter, t0_s, duration_s) in enumerate(runs):
        d = ble_arrivals(duration_s, fs_hz, spp, drift_ppm=drift_ppm, t0_s=t0_s, seed=seed + i)
        n = len(d["counter"])
        if values is None:
            acc = np.zeros((n, 3), np.int16)
            acc[:, 2] = round(1 / 16 * 32768)  # +1 g at the 16 g range
            gyr = np.zeros((n, 3), np.int16)
        else:
            acc, gyr = values[0][:n], values[1][:n]
        data = protocol.packetize(acc, gyr, first_counter, 0, fs_hz, 16, 2000, spp, clock_scale=1 + drift_ppm * 1e-6)
        host = d["host_time_s"][::spp]
        packets += [RawPacket(sensor_id, float(h), b) for h, b in zip(host, data, strict=True)]
        truth.append(d["t_true"])
    return packets, np.concatenate(truth)
