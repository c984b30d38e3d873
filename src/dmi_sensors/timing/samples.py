"""Stored (or received) packets of one sensor -> timed samples: the ONE path.

Exports of a stored session (:mod:`dmi_sensors.store.export`), its analysis
(:func:`dmi_sensors.analysis.prepare_sensor`) and notebooks all time a sensor's packets
with :func:`timed_samples`, so a sample has the same ``time_s`` everywhere:

1. :func:`dmi_sensors.protocol.decode_stream` — bytes -> SI samples in the sensor frame,
   unwrapped counters, ``gap_before`` at lost samples and at counter resets, malformed
   packets counted and skipped;
2. :func:`dmi_sensors.timing.fit_clock_runs` — the samples split into clock runs at
   counter resets and clock jumps, one drift/offset fit per run;
3. ``time_s`` of every sample from its run's fit (NaN in a run of fewer than 2 samples).

Putting the samples on a uniform grid is a separate, later step
(:func:`dmi_sensors.timing.resample_batch`), after calibration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from dmi_sensors.protocol import decode_stream
from dmi_sensors.timing.runs import RESET_JUMP_S, ClockRun, fit_clock_runs, times_from_runs
from dmi_sensors.types import RawPacket, SampleBatch
from dmi_sensors.vendors._base import VendorDecoder, finish

__all__ = ["TimedSamples", "timed_samples"]


@dataclass(frozen=True)
class TimedSamples:
    """One sensor's packets decoded and timed (see the module docstring).

    Attributes
    ----------
    batch
        The samples in arrival order with ``time_s`` filled (drift-corrected, s since
        session start; NaN only in clock runs of fewer than 2 samples).
    runs
        The clock runs and their fits, in order; they cover the batch.
    packets_ok, malformed_packets
        Valid notifications, and notifications that failed to decode (skipped).
    samples_lost
        Samples missing according to counter gaps (resets excluded: unknown).
    counter_resets
        Counter discontinuities the decoder saw (restart, rate or format change).
    malformed_reasons
        Malformed packets per reason (see :class:`dmi_sensors.protocol.DecodedStream`).
    loss_accounting
        ``"exact"`` (from device counters or timestamps) or ``"estimated"`` (a vendor
        sensor without either: from host arrival and the nominal rate).
    """

    batch: SampleBatch
    runs: tuple[ClockRun, ...]
    packets_ok: int
    malformed_packets: int
    samples_lost: int
    counter_resets: int
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    loss_accounting: str = "exact"

    def link(self) -> dict[str, int | float | str | dict[str, int]]:
        """Link statistics: ``packets_ok, malformed_packets, samples_received, samples_lost,
        counter_resets, loss_pct`` (lost / (received + lost) · 100), ``malformed_reasons``
        and ``loss_accounting``."""
        received = len(self.batch)
        lost = self.samples_lost
        return {
            "packets_ok": self.packets_ok,
            "malformed_packets": self.malformed_packets,
            "samples_received": received,
            "samples_lost": lost,
            "counter_resets": self.counter_resets,
            "loss_pct": 100.0 * lost / (received + lost) if received + lost else 0.0,
            "malformed_reasons": dict(self.malformed_reasons),
            "loss_accounting": self.loss_accounting,
        }

    def clock(self) -> list[dict[str, float | int]]:
        """:meth:`ClockRun.summary` of every fitted run, in order."""
        return [run.summary() for run in self.runs if run.fit is not None]


def timed_samples(
    packets: Sequence[RawPacket],
    sensor_id: str,
    reset_jump_s: float = RESET_JUMP_S,
    decoder: VendorDecoder | None = None,
) -> TimedSamples:
    """Decode one sensor's packets (arrival order) and time every sample (module docstring).

    ``decoder``: a fresh third-party decoder (:func:`dmi_sensors.vendors.decoder_for`) for
    a vendor sensor's notifications; default: our own protocol's decoder.
    """
    decoded = decode_stream(list(packets), sensor_id) if decoder is None else finish(decoder, list(packets))
    runs = fit_clock_runs(decoded.batch, reset_jump_s)
    batch = dataclasses.replace(decoded.batch, time_s=times_from_runs(decoded.batch, runs))
    return TimedSamples(
        batch=batch,
        runs=tuple(runs),
        packets_ok=int(decoded.packets_ok),
        malformed_packets=int(decoded.malformed_packets),
        samples_lost=int(decoded.samples_lost),
        counter_resets=int(decoded.counter_resets),
        malformed_reasons=dict(decoded.malformed_reasons),
        loss_accounting=getattr(decoded, "loss_accounting", "exact"),
    )
