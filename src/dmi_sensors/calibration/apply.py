"""Applying calibrations to arrays, sample batches and trials.

Order: accelerometer model ``a = M (a_meas - b)``, gyroscope bias ``w = w_meas - b_g``,
then the sensor-to-body rotation on both (``v_body = R v_sensor``). A sensor with no
alignment stays in the sensor frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dmi_sensors.calibration.library import SensorCalibration
from dmi_sensors.calibration.records import (
    AccelCalibration,
    AlignmentCalibration,
    Calibration,
    GyroCalibration,
)
from dmi_sensors.errors import ParameterError
from dmi_sensors.types import SampleBatch, Trial

__all__ = ["apply", "apply_to_batch", "apply_to_trial"]


def _bundle(calibration: SensorCalibration | Calibration | list[Calibration]) -> SensorCalibration:
    if isinstance(calibration, SensorCalibration):
        return calibration
    items = calibration if isinstance(calibration, list) else [calibration]
    parts: dict[str, Calibration] = {}
    serials = {c.sensor_serial for c in items}
    if len(serials) > 1:
        raise ParameterError(f"calibrations of different sensors cannot be combined: {sorted(serials)}")
    for c in items:
        if not isinstance(c, AccelCalibration | GyroCalibration | AlignmentCalibration):
            raise TypeError(f"not a calibration: {type(c).__name__}")
        if c.kind in parts:
            raise ParameterError(f"two {c.kind} calibrations given; pass one of each kind")
        parts[c.kind] = c
    return SensorCalibration(serials.pop() if serials else "", **parts)  # type: ignore[arg-type]


def apply(
    calibration: SensorCalibration | Calibration | list[Calibration],
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated ``(acc_mps2, gyr_rps)`` arrays ``(n, 3)`` (new arrays; inputs untouched)."""
    cal = _bundle(calibration)
    acc = np.array(acc_mps2, dtype=np.float64)
    gyr = np.array(gyr_rps, dtype=np.float64)
    if acc.shape[-1:] != (3,) or gyr.shape[-1:] != (3,):
        raise ParameterError(f"acc and gyr must have 3 columns, got {acc.shape} and {gyr.shape}")
    if cal.accel is not None:
        acc = cal.accel.apply(acc)
    if cal.gyro is not None:
        gyr = cal.gyro.apply(gyr)
    if cal.alignment is not None:
        acc = cal.alignment.apply(acc)
        gyr = cal.alignment.apply(gyr)
    return acc, gyr


def _check_serial(cal: SensorCalibration, sensor_id: str) -> None:
    if cal.sensor_serial and sensor_id and cal.sensor_serial != sensor_id:
        raise ParameterError(f"calibration is for sensor {cal.sensor_serial!r}, samples are from {sensor_id!r}")


def apply_to_batch(calibration: SensorCalibration | Calibration | list[Calibration], batch: SampleBatch) -> SampleBatch:
    """A new :class:`SampleBatch` with calibrated acc/gyr (counters and times unchanged).

    Raises ``ValueError`` when the calibration belongs to another sensor.
    """
    cal = _bundle(calibration)
    _check_serial(cal, batch.sensor_id)
    acc, gyr = apply(cal, batch.acc_mps2, batch.gyr_rps)
    return dataclasses.replace(batch, acc_mps2=acc, gyr_rps=gyr)


def apply_to_trial(calibration: SensorCalibration | Calibration | list[Calibration], trial: Trial) -> Trial:
    """A new :class:`Trial` with calibrated acc/gyr (body frame when an alignment is given)."""
    cal = _bundle(calibration)
    _check_serial(cal, trial.sensor_id)
    acc, gyr = apply(cal, trial.acc_mps2, trial.gyr_rps)
    return dataclasses.replace(trial, acc_mps2=acc, gyr_rps=gyr)
