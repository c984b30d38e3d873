"""Stored raw packets of one sensor -> calibrated samples on the session's uniform grid.

Steps (each delegated to its layer; nothing is re-implemented here):

1. :func:`dmi_sensors.timing.timed_samples` — the ONE path from packets to timed samples,
   shared with the exports of the store: decode (SI samples in the sensor frame, unwrapped
   counters, ``gap_before`` at lost samples and counter resets, malformed packets counted),
   then one drift-corrected clock fit per *clock run* between counter resets, so a sensor
   restart does not bend the clock of the samples before or after it.
2. :func:`dmi_sensors.calibration.apply_to_batch` — bias, scale, misalignment and the
   sensor -> body rotation, when a calibration is known for the sensor.
3. :func:`dmi_sensors.timing.resample_batch` — onto ``k / fs_hz`` since session start,
   NaN inside gaps; :func:`dmi_sensors.dsp.segments.segments_from_mask` then gives the
   gap-free *pieces* that downstream filters process separately (no filter crosses a gap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.calibration import Calibration, SensorCalibration, apply_to_batch
from dmi_sensors.dsp.segments import segments_from_mask
from dmi_sensors.timing import RESET_JUMP_S, resample_batch, timed_samples
from dmi_sensors.types import RawPacket, Trial

__all__ = ["CalibrationInput", "SensorSignals", "prepare_sensor"]

#: What :func:`prepare_sensor` accepts as a sensor's calibration.
CalibrationInput = SensorCalibration | Calibration | list[Calibration]


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
    sample_time_s
        Drift-corrected time of every decoded sample before resampling, s (NaN where no
        clock could be fitted): the ``time_s`` the store's exports write for this sensor.
    link
        ``packets_ok, malformed_packets, samples_received, samples_lost, counter_resets,
        loss_pct`` (loss = lost / (received + lost) · 100), ``malformed_reasons`` and
        ``loss_accounting`` (``"exact"``, or ``"estimated"`` for a vendor sensor without counters).
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
    link: dict[str, int | float | str | dict[str, int]]
    clock: list[dict[str, float | int]] = field(default_factory=list)
    calibration: dict[str, str | list[str]] | None = None
    frame: str = "sensor"
    sample_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def trial(self, piece: slice) -> Trial:
        """The samples of one gap-free piece as a :class:`~dmi_sensors.types.Trial`."""
        return Trial(self.time_s[piece], self.acc_mps2[piece], self.gyr_rps[piece], self.fs_hz, self.sensor_id)

    @property
    def duration_s(self) -> float:
        return float(self.time_s.shape[0] / self.fs_hz) if self.time_s.size else 0.0


def _describe_calibration(cal: CalibrationInput) -> dict[str, str | list[str]]:
    """``{"sensor_serial", "kinds"}`` of a SensorCalibration, one calibration or a list of them."""
    if isinstance(cal, SensorCalibration):
        return {"sensor_serial": cal.sensor_serial, "kinds": [c.kind for c in cal.parts()]}
    items = cal if isinstance(cal, list) else [cal]
    serial = next((c.sensor_serial for c in items if c.sensor_serial), "")
    return {"sensor_serial": serial, "kinds": [c.kind for c in items]}


def prepare_sensor(
    packets: Sequence[RawPacket],
    sensor_id: str,
    placement: str = "",
    *,
    calibration: CalibrationInput | None = None,
    fs_hz: float | None = None,
    min_piece_s: float = 5.0,
    reset_jump_s: float = RESET_JUMP_S,
) -> SensorSignals:
    """Time, calibrate and resample one sensor's packets (module docstring).

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
    reset_jump_s
        Clock-run split threshold of :func:`dmi_sensors.timing.clock_runs` (the exports use
        the default).
    """
    timed = timed_samples(packets, sensor_id, reset_jump_s)
    batch = timed.batch
    rate = float(fs_hz or batch.fs_hz)
    description = None
    frame = "sensor"
    if calibration is not None:
        batch = apply_to_batch(calibration, batch)
        description = _describe_calibration(calibration)
        if "alignment" in description["kinds"]:
            frame = "body"
    grid, acc, gyr, valid = resample_batch(batch, rate)
    pieces = segments_from_mask(valid, min_length=max(3, round(min_piece_s * rate))) if grid.size else []
    return SensorSignals(
        sensor_id=sensor_id,
        placement=placement,
        fs_hz=rate,
        time_s=grid,
        acc_mps2=acc,
        gyr_rps=gyr,
        valid=valid,
        pieces=pieces,
        link=timed.link(),
        clock=timed.clock(),
        calibration=description,
        frame=frame,
        sample_time_s=batch.time_s,
    )
