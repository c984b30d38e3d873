"""Stored raw packets of one sensor -> calibrated samples on the session's uniform grid.

Steps (each delegated to its layer; nothing is re-implemented here):

1. :func:`dmi_sensors.protocol.decode_stream` — bytes -> SI samples in the sensor frame,
   unwrapped counters, ``gap_before`` at lost samples, malformed packets counted.
2. :func:`dmi_sensors.timing.fit_clock` — drift-corrected sample times from counters and
   host arrival times. A counter reset (streaming restarted) breaks the counter -> time
   relation, so the clock is fitted separately on each *run* between resets (a run starts
   where ``host_time - counter / fs`` jumps by more than ``reset_jump_s``).
3. :func:`dmi_sensors.calibration.apply_to_batch` — bias, scale, misalignment and the
   sensor -> body rotation, when a calibration is known for the sensor.
4. :func:`dmi_sensors.timing.resample_uniform` — onto ``k / fs_hz`` since session start,
   NaN inside gaps; :func:`dmi_sensors.dsp.segments.segments_from_mask` then gives the
   gap-free *pieces* that downstream filters process separately (no filter crosses a gap).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.types import RawPacket, SampleBatch, Trial

__all__ = ["SensorSignals", "clock_runs", "prepare_sensor"]


@dataclass
class SensorSignals:
    """One sensor's samples on the session grid, with link and clock statistics.

    Attributes
    ----------
    sensor_id, placement
        Which sensor, where it was worn (``contract.PLACEMENTS`` or free text).
    fs_hz
        Rate of the uniform grid, Hz.
    time_s
        Grid times ``k / fs_hz``, s since session start, ``(m,)``.
    acc_mps2, gyr_rps
        Calibrated specific force and angular rate, ``(m, 3)``: body frame when the
        calibration includes an alignment, sensor frame otherwise; NaN inside gaps.
    valid
        False where the grid falls into a gap, ``(m,)``.
    pieces
        Gap-free runs of ``valid`` at least ``min_piece_s`` long, as slices of the grid.
    link
        ``packets_ok, malformed_packets, samples_received, samples_lost, counter_resets,
        loss_pct`` (loss = lost / (received + lost) · 100) and ``malformed_reasons``.
    clock
        One dict per clock run: ``drift_ppm, offset_s, latency_median_s, latency_p99_s,
        n_samples``.
    calibration
        Short description of the calibration applied (None when none).
    frame
        ``"body"`` or ``"sensor"``.
    """

    sensor_id: str
    placement: str
    fs_hz: float
    time_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_rps: np.ndarray
    valid: np.ndarray
    pieces: list[slice]
    link: dict
    clock: list[dict] = field(default_factory=list)
    calibration: dict | None = None
    frame: str = "sensor"

    def trial(self, piece: slice) -> Trial:
        """The samples of one gap-free piece as a :class:`~dmi_sensors.types.Trial`."""
        return Trial(self.time_s[piece], self.acc_mps2[piece], self.gyr_rps[piece], self.fs_hz, self.sensor_id)

    @property
    def duration_s(self) -> float:
        return float(self.time_s.shape[0] / self.fs_hz) if self.time_s.size else 0.0


def clock_runs(batch: SampleBatch, reset_jump_s: float = 1.0) -> list[slice]:
    """Slices of ``batch`` between counter resets (see the module docstring)."""
    n = len(batch)
    if n == 0:
        return []
    resid = batch.host_time_s - (batch.counter - batch.counter[0]) / batch.fs_hz
    jump = np.zeros(n, dtype=bool)
    jump[1:] = batch.gap_before[1:] & (np.abs(np.diff(resid)) > reset_jump_s)
    starts = [0, *np.flatnonzero(jump).tolist(), n]
    return [slice(a, b) for a, b in itertools.pairwise(starts) if b > a]


def _fit_times(batch: SampleBatch, reset_jump_s: float) -> tuple[np.ndarray, list[dict]]:
    from dmi_sensors.timing import fit_clock

    time_s = np.full(len(batch), np.nan)
    fits = []
    for run in clock_runs(batch, reset_jump_s):
        c = batch.counter[run]
        if c.shape[0] < 2:
            continue
        fit = fit_clock(c, batch.host_time_s[run], batch.fs_hz)
        time_s[run] = fit.time_s(c)
        fits.append(
            {
                "drift_ppm": float(fit.drift_ppm),
                "offset_s": float(fit.offset_s),
                "latency_median_s": float(fit.latency_median_s),
                "latency_p99_s": float(fit.latency_p99_s),
                "n_samples": int(c.shape[0]),
            }
        )
    return time_s, fits


def _describe_calibration(cal) -> dict:
    """``{"sensor_serial", "kinds"}`` of a SensorCalibration, one calibration or a list of them."""
    items = cal if isinstance(cal, list | tuple) else [cal]
    kinds: list[str] = []
    serial = ""
    for c in items:
        serial = serial or getattr(c, "sensor_serial", "")
        if getattr(c, "kind", ""):
            kinds.append(c.kind)
        else:  # a SensorCalibration bundle
            kinds.extend(k for k in ("accel", "gyro", "alignment") if getattr(c, k, None) is not None)
    return {"sensor_serial": serial, "kinds": kinds}


def prepare_sensor(
    packets: Sequence[RawPacket],
    sensor_id: str,
    placement: str = "",
    *,
    calibration=None,
    fs_hz: float | None = None,
    min_piece_s: float = 5.0,
    reset_jump_s: float = 1.0,
) -> SensorSignals:
    """Decode, time, calibrate and resample one sensor's packets (module docstring).

    Parameters
    ----------
    packets
        The sensor's raw packets in arrival order.
    calibration
        A :class:`dmi_sensors.calibration.SensorCalibration` (or a calibration / list of
        them) for this sensor, or None.
    fs_hz
        Rate of the output grid; default: the sensor's nominal rate.
    min_piece_s
        Gap-free stretches shorter than this are left out of :attr:`SensorSignals.pieces`.
    """
    from dmi_sensors.dsp.segments import segments_from_mask
    from dmi_sensors.protocol import decode_stream
    from dmi_sensors.timing import resample_uniform

    decoded = decode_stream(list(packets), sensor_id)
    batch = decoded.batch
    received = len(batch)
    lost = int(decoded.samples_lost)
    link = {
        "packets_ok": int(decoded.packets_ok),
        "malformed_packets": int(decoded.malformed_packets),
        "samples_received": int(received),
        "samples_lost": lost,
        "counter_resets": int(decoded.counter_resets),
        "loss_pct": 100.0 * lost / (received + lost) if received + lost else 0.0,
        "malformed_reasons": dict(decoded.malformed_reasons),
    }
    rate = float(fs_hz or batch.fs_hz)
    if received < 2:
        empty = np.zeros(0)
        return SensorSignals(
            sensor_id, placement, rate, empty, np.zeros((0, 3)), np.zeros((0, 3)), empty.astype(bool), [], link
        )
    time_s, clock = _fit_times(batch, reset_jump_s)
    batch = dataclasses.replace(batch, time_s=time_s)
    keep = np.isfinite(batch.time_s)
    description = None
    frame = "sensor"
    if calibration is not None:
        from dmi_sensors.calibration import apply_to_batch

        batch = apply_to_batch(calibration, batch)
        description = _describe_calibration(calibration)
        if "alignment" in description["kinds"]:
            frame = "body"
    t = batch.time_s[keep]
    values = np.concatenate([batch.acc_mps2[keep], batch.gyr_rps[keep]], axis=1)
    gap = batch.gap_before[keep]
    # strictly increasing times are required; duplicates (should not happen) are dropped
    order_ok = np.concatenate([[True], np.diff(t) > 0])
    t, values, gap = t[order_ok], values[order_ok], gap[order_ok]
    grid, v, valid = resample_uniform(t, values, rate, gap_before=gap)
    pieces = segments_from_mask(valid, min_length=max(3, round(min_piece_s * rate)))
    return SensorSignals(
        sensor_id=sensor_id,
        placement=placement,
        fs_hz=rate,
        time_s=grid,
        acc_mps2=np.ascontiguousarray(v[:, :3]),
        gyr_rps=np.ascontiguousarray(v[:, 3:]),
        valid=valid,
        pieces=pieces,
        link=link,
        clock=clock,
        calibration=description,
        frame=frame,
    )
