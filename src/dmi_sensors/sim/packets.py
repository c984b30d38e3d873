"""Offline packets of a simulation: firmware-exact bytes, through the one link scheduler.

Packets are cut by :func:`dmi_sensors.protocol.packetize` exactly as the firmware does
(``firmware_protocol/SPEC.md`` §4): packet ``j`` carries samples ``j s .. j s + s - 1``,
counter ``first_counter + j s`` and device timestamp ``first_timestamp_us + floor(j s 1e6
clock_scale / fs_hz)`` (both wrapped), ``clock_scale = 1 + clock_drift_ppm 1e-6``.

Losses and host arrival times come from :class:`dmi_sensors.sim.link.LinkScheduler` (its
module docstring states the rule) with the simulation's seed and
``ImuErrors.packet_loss``; packet ``j`` is done when its last sample is taken, at
``(j s + n_j - 1) / fs_hz`` s. All packets are scheduled at once: the same scheduler, fed
one packet at a time by a virtual sensor (:class:`dmi_sensors.sim.stream.SensorLink`) or
by the emulated BlueZ, gives the same numbers.

Lost packets are sent by the firmware but never arrive: they are absent from
``PacketStream.packets`` and flagged in ``PacketStream.lost``.

Used by :meth:`dmi_sensors.sim.SimResult.packets` (this module knows nothing of ``SimResult``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmi_sensors import protocol
from dmi_sensors.sim.imu import ImuErrors
from dmi_sensors.sim.link import LinkModel, LinkScheduler
from dmi_sensors.types import RawPacket

__all__ = ["PacketStream", "packet_stream"]


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
    acc_counts: np.ndarray,
    gyr_counts: np.ndarray,
    fs_hz: float,
    imu_errors: ImuErrors,
    seed: int,
    sensor_id: str = "DMI-SIM",
    samples_per_packet: int | None = None,
    link: LinkModel | None = None,
    first_counter: int = 0,
    first_timestamp_us: int = 0,
) -> PacketStream:
    """Packets of int16 ``(n, 3)`` counts sampled at ``fs_hz`` (a protocol rate), see the
    module docstring. ``seed`` seeds the link (the simulation's seed)."""
    errors = imu_errors
    spp = protocol.MAX_SAMPLES_PER_PACKET if samples_per_packet is None else int(samples_per_packet)
    sent = protocol.packetize(
        acc_counts,
        gyr_counts,
        first_counter,
        first_timestamp_us,
        fs_hz,
        errors.acc_range_g,
        errors.gyr_range_dps,
        spp,
        errors.clock_scale,
    )
    n = int(acc_counts.shape[0])
    starts = np.arange(len(sent), dtype=np.int64) * spp
    counts = np.minimum(spp, n - starts)
    done_s = (starts + counts - 1) / fs_hz
    schedule = LinkScheduler[bytes](link, errors.packet_loss, seed).schedule(done_s)
    lost = schedule.lost
    host = np.where(lost, np.nan, schedule.arrival_s)
    packets = [RawPacket(sensor_id, float(host[j]), sent[j]) for j in range(len(sent)) if not lost[j]]
    return PacketStream(sensor_id, spp, sent, starts, counts, lost, host, packets)
