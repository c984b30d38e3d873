"""The calibrations of a stored session: kept by the store, read by the calibration layer.

The store keeps a calibration as a record (:class:`dmi_sensors.store.CalibrationRecord`:
kind, reference, file hash, the calibration's whole ``to_dict()`` as JSON) and knows
nothing of what it means. These functions join the two layers:

* :func:`save_calibration` / :func:`save_calibration_file` — a
  :class:`~dmi_sensors.calibration.SensorCalibration` or a calibration JSON file -> records
  linked to a session's sensor;
* :func:`load_calibration` — a session's records for one sensor -> the
  :class:`~dmi_sensors.calibration.SensorCalibration` it used, parsed by
  :func:`dmi_sensors.calibration.calibrations_from_reference` (stored content first, so a
  moved file does not matter; else the referenced directory or file).
"""

from __future__ import annotations

from pathlib import Path

from dmi_sensors.calibration import (
    AccelCalibration,
    AlignmentCalibration,
    Calibration,
    GyroCalibration,
    SensorCalibration,
    calibrations_from_reference,
    read_calibration,
)
from dmi_sensors.store import SessionStore

__all__ = ["load_calibration", "save_calibration", "save_calibration_file"]


def _reference(part: Calibration) -> str | Path:
    return part.path.resolve() if part.path is not None else f"inline:{part.kind}"


def save_calibration(store: SessionStore, session_id: int, calibration: SensorCalibration) -> list[int]:
    """Store every part of ``calibration`` and link it to the session's sensor
    (``calibration.sensor_serial``, registered when the session lacks it); returns the ids.

    Each part is stored with its full content (``to_dict()``), its file (when it was read
    from one) and the file's hash, so the session says exactly which calibration it used
    even after the file moves. All parts are stored, or none.
    """
    ids = []
    with store.atomic("linking a sensor's calibration"):
        for part in calibration.parts():
            ids.append(
                store.add_session_calibration(
                    session_id, calibration.sensor_serial, part.kind, _reference(part), part.to_dict()
                )
            )
    return ids


def save_calibration_file(store: SessionStore, path: str | Path, session_id: int | None = None) -> int:
    """Store a calibration JSON file of :mod:`dmi_sensors.calibration` (kind, sensor, hash and
    its full content); with ``session_id``, link it to that session's sensor. Returns its id.

    The file is read and checked first (:func:`dmi_sensors.calibration.read_calibration`):
    a bad file raises ``DataFileError`` and stores nothing.
    """
    path = Path(path)
    cal = read_calibration(path)
    if session_id is None:
        return store.add_calibration(cal.sensor_serial, cal.kind, path.resolve(), cal.to_dict())
    return store.add_session_calibration(session_id, cal.sensor_serial, cal.kind, path.resolve(), cal.to_dict())


def load_calibration(store: SessionStore, session_id: int, sensor_id: str) -> SensorCalibration | None:
    """The calibration a session used for a sensor, or None when the store links none.

    Each linked record is read by :func:`dmi_sensors.calibration.calibrations_from_reference`
    (its stored content, else a directory of calibration files, the sensor's latest of each
    kind, else a calibration file). When several calibrations of one kind are linked, the
    most recently stored one wins. A reference that can no longer be read raises
    ``DataFileError`` naming the database and the calibration.
    """
    accel: AccelCalibration | None = None
    gyro: GyroCalibration | None = None
    alignment: AlignmentCalibration | None = None
    for record in store.sensor_calibrations(session_id, sensor_id):
        where = f"{store.path} (calibration {record.calibration_id} of sensor {sensor_id!r})"
        for cal in calibrations_from_reference(record.reference, record.parameters, sensor_id, where):
            if isinstance(cal, AccelCalibration):
                accel = cal
            elif isinstance(cal, GyroCalibration):
                gyro = cal
            else:
                alignment = cal
    if accel is None and gyro is None and alignment is None:
        return None
    return SensorCalibration(sensor_id, accel=accel, gyro=gyro, alignment=alignment)
