"""Sensor calibration: gyro bias, accelerometer six-position / ellipsoid fit, sensor-to-body alignment.

Typical use::

    from dmi_sensors.calibration import CalibrationSet, apply_to_batch

    cals = CalibrationSet.load("calibration/")          # directory of JSON files
    batch = apply_to_batch(cals.for_sensor(batch.sensor_id), batch)

Modules: :mod:`.still` (still-period detection, gyro bias), :mod:`.gyro`, :mod:`.accel`
(six-position, ellipsoid), :mod:`.alignment` (sensor -> body), :mod:`.records` (the JSON
file format), :mod:`.library` (a directory of files), :mod:`.apply`, :mod:`.guided`
(step-by-step procedures with a recording source). Maths and file format:
``docs/calibration.md``; the therapist's procedure: ``calibration/PROCEDURE.md``.
"""

from __future__ import annotations

from dmi_sensors.calibration.accel import (
    POSES,
    CalibrationDataError,
    calibrate_ellipsoid,
    calibrate_six_position,
    design_condition,
    detect_six_poses,
    fit_ellipsoid,
    fit_six_position,
)
from dmi_sensors.calibration.alignment import AlignmentParameters, calibrate_alignment, rotation_from_up_forward
from dmi_sensors.calibration.apply import apply, apply_to_batch, apply_to_trial
from dmi_sensors.calibration.gyro import calibrate_gyro
from dmi_sensors.calibration.library import CalibrationSet, SensorCalibration, calibrations_from_reference
from dmi_sensors.calibration.records import (
    FORMAT_VERSION,
    KINDS,
    AccelCalibration,
    AlignmentCalibration,
    Calibration,
    GyroCalibration,
    calibration_from_dict,
    default_filename,
    read_calibration,
    write_calibration,
)
from dmi_sensors.calibration.still import (
    StillParameters,
    StillSegment,
    detect_still,
    gyro_bias_from_still,
    moving_std,
    still_segments,
)

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "POSES",
    "AccelCalibration",
    "AlignmentCalibration",
    "AlignmentParameters",
    "Calibration",
    "CalibrationDataError",
    "CalibrationSet",
    "GyroCalibration",
    "SensorCalibration",
    "StillParameters",
    "StillSegment",
    "apply",
    "apply_to_batch",
    "apply_to_trial",
    "calibrate_alignment",
    "calibrate_ellipsoid",
    "calibrate_gyro",
    "calibrate_six_position",
    "calibration_from_dict",
    "calibrations_from_reference",
    "default_filename",
    "design_condition",
    "detect_six_poses",
    "detect_still",
    "fit_ellipsoid",
    "fit_six_position",
    "gyro_bias_from_still",
    "moving_std",
    "read_calibration",
    "rotation_from_up_forward",
    "still_segments",
    "write_calibration",
]
