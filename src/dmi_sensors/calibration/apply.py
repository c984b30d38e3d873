"""Applying calibrations to arrays, sample batches and trials.

Order: accelerometer model ``a = M (a_meas - b)``, gyroscope bias ``w = w_meas - b_g``,
then the sensor-to-body rotation on both (``v_body = R v_sensor``). A sensor with no
alignment stays in the sensor frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dmi_sensors.calibration.library import SensorCalibration
from dmi_sensors.calibration.records import (
    AccelCalibration,
    AlignmentCalibration,
    Calibration,
    GyroCalibration,
)
from dmi_sensors.errors import ParameterError
from dmi_sensors.types import SampleBatch, Trial

__all__ = ["CalibrationLike", "apply", "apply_to_batch", "apply_to_trial"]

#: What the functions here accept: a sensor's bundle, one calibration, or several (one per kind).
CalibrationLike = SensorCalibration | Calibration | Sequence[Calibration]

_KINDS = (AccelCalibration, GyroCalibration, AlignmentCalibration)
_Cal = TypeVar("_Cal", AccelCalibration, GyroCalibration, AlignmentCalibration)


def _bundle(calibration: CalibrationLike) -> SensorCalibration:
    if isinstance(calibration, SensorCalibration):
        return calibration
    given: list[object] = list(calibration) if isinstance(calibration, Sequence) else [calibration]
    items: list[Calibration] = []
    for c in given:
        if not isinstance(c, _KINDS):  # the API is also called from untyped code
            raise TypeError(f"not a calibration: {type(c).__name__}")
        items.append(c)
    serials = {c.sensor_serial for c in items}
    if len(serials) > 1:
        raise ParameterError(f"calibrations of different sensors cannot be combined: {sorted(serials)}")

    def one(kind: type[_Cal]) -> _Cal | None:
        found = [c for c in items if isinstance(c, kind)]
        if len(found) > 1:
            raise ParameterError(f"two {kind.kind} calibrations given; pass one of each kind")
        return found[0] if found else None

    return SensorCalibration(
        serials.pop() if serials else "",
        accel=one(AccelCalibration),
        gyro=one(GyroCalibration),
        alignment=one(AlignmentCalibration),
    )


def apply(
    calibration: CalibrationLike,
    acc_mps2: ArrayLike,
    gyr_rps: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
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


def apply_to_batch(calibration: CalibrationLike, batch: SampleBatch) -> SampleBatch:
    """A new :class:`SampleBatch` with calibrated acc/gyr (counters and times unchanged).

    Raises ``ValueError`` when the calibration belongs to another sensor.
    """
    cal = _bundle(calibration)
    _check_serial(cal, batch.sensor_id)
    acc, gyr = apply(cal, batch.acc_mps2, batch.gyr_rps)
    return dataclasses.replace(batch, acc_mps2=acc, gyr_rps=gyr)


def apply_to_trial(calibration: CalibrationLike, trial: Trial) -> Trial:
    """A new :class:`Trial` with calibrated acc/gyr (body frame when an alignment is given)."""
    cal = _bundle(calibration)
    _check_serial(cal, trial.sensor_id)
    acc, gyr = apply(cal, trial.acc_mps2, trial.gyr_rps)
    return dataclasses.replace(trial, acc_mps2=acc, gyr_rps=gyr)
