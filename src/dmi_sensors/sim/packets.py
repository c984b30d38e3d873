"""Firmware-exact data packets of a simulation, with host arrival times and air losses.

Packets are cut by :func:`dmi_sensors.protocol.packetize` exactly as the firmware does
(``firmware_protocol/SPEC.md`` §4): packet ``j`` carries samples ``j s .. j s + s - 1``,
counter ``first_counter + j s`` and device timestamp ``first_timestamp_us + floor(j s 1e6
clock_scale / fs_hz)`` (both wrapped), ``clock_scale = 1 + clock_drift_ppm 1e-6``.

Host arrival (:class:`LinkModel`), in true seconds since the first sample:

1. the packet is ready when its last sample has been taken, ``t_ready = (k_last) / fs_hz +
   processing_s``;
2. it goes out at the next BLE connection event ``phase_s + e * connection_interval_s`` with
   ``e >= ceil((t_ready - phase_s) / interval)``, at most ``max_packets_per_event`` per event
   (later packets wait for the next event);
3. the host sees it ``latency_s + Exp(jitter_s)`` later; arrival times are made
   non-decreasing (the host stack delivers notifications in order).

Lost packets (:class:`~dmi_sensors.sim.imu.PacketLoss`, drawn from the simulation seed) are
sent by the firmware but never arrive: they are absent from ``PacketStream.packets`` and
listed in ``PacketStream.lost``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.sim.imu import PacketLoss
from dmi_sensors.types import RawPacket

if TYPE_CHECKING:  # pragma: no cover
    from dmi_sensors.sim.simulate import SimResult

__all__ = ["LOSS_SEED_KEY", "LinkModel", "LossDraw", "PacketStream", "host_arrival_times", "packet_stream"]

#: Extra entropy mixed into the simulation seed for the packet-loss and link random streams.
LOSS_SEED_KEY = 0x10557
LINK_SEED_KEY = 0x11A7


LOSS_BLOCK_PACKETS = 4096


class LossDraw:
    """Which packets of a sensor's life are lost: drawn in blocks of 4096 packets from the
    stream ``SeedSequence([seed, LOSS_SEED_KEY])``, so the answer for packet ``j`` does not
    depend on how the packets were requested (bursts do not cross block boundaries)."""

    def __init__(self, loss: PacketLoss, seed: int) -> None:
        self.loss = loss
        self._rng = np.random.default_rng(np.random.SeedSequence([int(seed), LOSS_SEED_KEY]))
        self._mask = np.zeros(0, dtype=bool)

    def mask(self, n_packets: int) -> np.ndarray:
        """Lost flags of packets ``0 .. n_packets - 1``."""
        if not self.loss.active:
            return np.zeros(n_packets, dtype=bool)
        while self._mask.shape[0] < n_packets:
            self._mask = np.concatenate([self._mask, self.loss.lost_mask(LOSS_BLOCK_PACKETS, self._rng)])
        return self._mask[:n_packets].copy()

    def lost(self, packet_index: int) -> bool:
        return bool(self.mask(packet_index + 1)[packet_index])


@dataclass(frozen=True, slots=True)
class LinkModel:
    """Timing of a BLE link as seen by the host (see the module docstring). Times in s."""

    connection_interval_s: float = 0.015
    max_packets_per_event: int = 4
    processing_s: float = 0.0005
    latency_s: float = 0.002
    jitter_s: float = 0.003
    phase_s: float | None = None
    host_offset_s: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0075 <= self.connection_interval_s <= 4.0):
            raise ParameterError(f"connection_interval_s must be in [7.5 ms, 4 s], got {self.connection_interval_s}")
        if self.max_packets_per_event < 1:
            raise ParameterError(f"max_packets_per_event must be >= 1, got {self.max_packets_per_event}")
        for name in ("processing_s", "latency_s", "jitter_s"):
            if not getattr(self, name) >= 0.0:
                raise ParameterError(f"LinkModel.{name} must be >= 0, got {getattr(self, name)}")


def host_arrival_times(ready_s: np.ndarray, link: LinkModel, rng: np.random.Generator) -> np.ndarray:
    """Host arrival time of each packet, s (true time + ``link.host_offset_s``)."""
    ready = np.asarray(ready_s, dtype=np.float64)
    ci = link.connection_interval_s
    phase = rng.uniform(0.0, ci) if link.phase_s is None else float(link.phase_s)
    first_event = np.ceil((ready - phase) / ci - 1e-12).astype(np.int64)
    events = np.empty_like(first_event)
    last, used = -(1 << 62), 0
    for j, e in enumerate(first_event):  # one step per packet
        if e > last:
            last, used = int(e), 1
        elif used < link.max_packets_per_event:
            used += 1
        else:
            last, used = last + 1, 1
        events[j] = last
    jitter = rng.exponential(link.jitter_s, ready.shape[0]) if link.jitter_s > 0 else np.zeros(ready.shape[0])
    arrival = phase + events * ci + link.latency_s + jitter
    return np.maximum.accumulate(arrival) + link.host_offset_s


@dataclass(slots=True)
class PacketStream:
    """The packets of a simulation as the firmware sent them and as the host got them.

    Attributes
    ----------
    packets
        Delivered packets, in arrival order, as :class:`~dmi_sensors.types.RawPacket`.
    sent
        Every packet the firmware sent (bytes), lost ones included.
    first_sample
        Index of each sent packet's first sample in the simulation, ``(n_sent,)``.
    n_samples
        Samples in each sent packet.
    lost
        True for sent packets that never arrived.
    host_time_s
        Arrival time of each sent packet (NaN for lost ones).
    """

    sensor_id: str
    samples_per_packet: int
    sent: list[bytes]
    first_sample: np.ndarray
    n_samples: np.ndarray
    lost: np.ndarray
    host_time_s: np.ndarray
    packets: list[RawPacket]

    @property
    def lost_sample_indices(self) -> np.ndarray:
        """Simulation sample indices carried by lost packets (sorted)."""
        idx = [np.arange(s, s + n) for s, n, x in zip(self.first_sample, self.n_samples, self.lost, strict=True) if x]
        return np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)

    @property
    def delivered_sample_indices(self) -> np.ndarray:
        """Simulation sample indices that reached the host, in order."""
        keep = ~self.lost
        idx = [np.arange(s, s + n) for s, n in zip(self.first_sample[keep], self.n_samples[keep], strict=True)]
        return np.concatenate(idx) if idx else np.zeros(0, dtype=np.int64)


def packet_stream(
    result: SimResult,
    sensor_id: str = "DMI-SIM",
    samples_per_packet: int | None = None,
    link: LinkModel | None = None,
    first_counter: int = 0,
    first_timestamp_us: int = 0,
) -> PacketStream:
    """Packets of ``result`` (see the module docstring). ``fs_hz`` must be a protocol rate."""
    from dmi_sensors import protocol

    errors = result.imu_errors
    spp = protocol.MAX_SAMPLES_PER_PACKET if samples_per_packet is None else int(samples_per_packet)
    acc_c, gyr_c = result.counts()
    sent = protocol.packetize(
        acc_c,
        gyr_c,
        first_counter,
        first_timestamp_us,
        result.fs_hz,
        errors.acc_range_g,
        errors.gyr_range_dps,
        spp,
        errors.clock_scale,
    )
    n = len(result)
    starts = np.arange(len(sent), dtype=np.int64) * spp
    counts = np.minimum(spp, n - starts)
    lost = LossDraw(errors.packet_loss, result.seed).mask(len(sent))
    ready = (starts + counts - 1) / result.fs_hz + (link or LinkModel()).processing_s
    arrival = host_arrival_times(
        ready, link or LinkModel(), np.random.default_rng(np.random.SeedSequence([result.seed, LINK_SEED_KEY]))
    )
    host = np.where(lost, np.nan, arrival)
    packets = [RawPacket(sensor_id, float(host[j]), sent[j]) for j in range(len(sent)) if not lost[j]]
    return PacketStream(sensor_id, spp, sent, starts, counts, lost, host, packets)
