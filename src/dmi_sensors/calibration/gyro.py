"""Gyroscope bias calibration from a still recording (see :mod:`.still`)."""

from __future__ import annotations

import numpy as np

from dmi_sensors.calibration.records import GyroCalibration
from dmi_sensors.calibration.still import StillParameters, gyro_bias_from_still

__all__ = ["calibrate_gyro"]


def calibrate_gyro(
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
    fs_hz: float,
    sensor_serial: str,
    params: StillParameters | None = None,
    min_total_s: float = 2.0,
    source: dict | None = None,
) -> GyroCalibration:
    """Gyro bias (+ standard error) over every still period of the recording.

    Raises ``ValueError`` when less than ``min_total_s`` seconds are still.
    """
    p = params or StillParameters()
    est = gyro_bias_from_still(acc_mps2, gyr_rps, fs_hz, p, min_total_s)
    return GyroCalibration(
        sensor_serial,
        bias_rps=est.bias_rps,
        bias_stderr_rps=est.bias_stderr_rps,
        still_duration_s=est.still_duration_s,
        n_samples=est.n_samples,
        method="still_periods",
        source={**(source or {}), "still": p.describe(), "n_still_periods": len(est.segments)},
    )
