"""A directory of calibration files: the latest calibration of each kind per sensor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from dmi_sensors.calibration.records import (
    AccelCalibration,
    AlignmentCalibration,
    Calibration,
    GyroCalibration,
    _nan_to_none,
    calibration_from_dict,
    default_filename,
    read_calibration,
    write_calibration,
)
from dmi_sensors.errors import DataFileError

__all__ = ["CalibrationSet", "SensorCalibration", "calibrations_from_reference"]


@dataclass(frozen=True)
class SensorCalibration:
    """The calibrations applied to one sensor's samples (any may be None).

    Order of application (:func:`dmi_sensors.calibration.apply.apply`): accelerometer
    intrinsic model, gyroscope bias, then the sensor-to-body rotation on both.
    """

    sensor_serial: str
    accel: AccelCalibration | None = None
    gyro: GyroCalibration | None = None
    alignment: AlignmentCalibration | None = None

    def parts(self) -> list[Calibration]:
        return [c for c in (self.accel, self.gyro, self.alignment) if c is not None]

    def provenance(self) -> dict[str, dict[str, str]]:
        """What to store with a session: per kind, created_utc, method and file (if known)."""
        out: dict[str, dict[str, str]] = {}
        for c in self.parts():
            out[c.kind] = {"created_utc": c.created_utc, "method": c.method, "file": c.path.name if c.path else ""}
        return out


class CalibrationSet:
    """Calibrations loaded from ``*.json`` files in a directory (not recursive).

    Every file must be a valid calibration: a bad file raises
    :class:`~dmi_sensors.errors.DataFileError` naming it and the key (pass
    ``strict=False`` to skip bad files instead and list them in :attr:`errors`).
    """

    def __init__(self, calibrations: list[Calibration] | None = None) -> None:
        self.calibrations: list[Calibration] = list(calibrations or [])
        self.errors: list[str] = []
        self.directory: Path | None = None

    @classmethod
    def load(cls, directory: str | Path, strict: bool = True) -> CalibrationSet:
        directory = Path(directory)
        if not directory.is_dir():
            raise DataFileError(directory, "", "a directory of calibration JSON files", "no such directory")
        out = cls()
        out.directory = directory
        for path in sorted(directory.glob("*.json")):
            try:
                cal = read_calibration(path)
            except DataFileError as exc:
                if strict:
                    raise
                out.errors.append(str(exc))
                continue
            out.calibrations.append(cal)
        return out

    def serials(self) -> list[str]:
        return sorted({c.sensor_serial for c in self.calibrations})

    @overload
    def latest(self, sensor_serial: str, kind: Literal["accel"]) -> AccelCalibration | None: ...
    @overload
    def latest(self, sensor_serial: str, kind: Literal["gyro"]) -> GyroCalibration | None: ...
    @overload
    def latest(self, sensor_serial: str, kind: Literal["alignment"]) -> AlignmentCalibration | None: ...
    @overload
    def latest(self, sensor_serial: str, kind: str) -> Calibration | None: ...
    def latest(self, sensor_serial: str, kind: str) -> Calibration | None:
        """The most recent (by ``created_utc``) calibration of ``kind`` for the sensor, or None."""
        found = [c for c in self.calibrations if c.sensor_serial == sensor_serial and c.kind == kind]
        return max(found, key=lambda c: c.created) if found else None

    def for_sensor(self, sensor_serial: str) -> SensorCalibration:
        """The latest accel, gyro and alignment calibrations of a sensor (None where absent)."""
        return SensorCalibration(
            sensor_serial,
            accel=self.latest(sensor_serial, "accel"),
            gyro=self.latest(sensor_serial, "gyro"),
            alignment=self.latest(sensor_serial, "alignment"),
        )

    @overload
    def add(self, calibration: Calibration, directory: str | Path) -> Path: ...
    @overload
    def add(self, calibration: Calibration, directory: None = None) -> Path | None: ...
    def add(self, calibration: Calibration, directory: str | Path | None = None) -> Path | None:
        """Add a calibration; with a directory (or the one loaded from) also write its file.

        The file is named :func:`~dmi_sensors.calibration.records.default_filename`; an
        existing file is never overwritten (a ``-2``, ``-3`` ... suffix is added).
        """
        self.calibrations.append(calibration)
        target = Path(directory) if directory is not None else self.directory
        if target is None:
            return None
        path = target / default_filename(calibration)
        k = 2
        while path.exists():  # never overwrite an earlier calibration
            path = target / default_filename(calibration).replace(".json", f"-{k}.json")
            k += 1
        return write_calibration(calibration, path)


def calibrations_from_reference(
    reference: str, content: Mapping[str, object] | None, sensor_serial: str, where: str
) -> list[Calibration]:
    """The calibrations one stored calibration reference stands for.

    ``content`` is what was stored with the reference (a calibration's ``to_dict()``; NaN
    where a file writes null is accepted): when it names a ``kind`` it is the calibration,
    wherever the file went. Otherwise ``reference`` is read as a directory of calibration
    files (the sensor's latest of each kind) or as one calibration file. ``where`` names the
    stored reference in errors (e.g. ``"<db>: calibration 3 of sensor 'S1'"``): bad content
    or a reference that can no longer be read raises :class:`DataFileError`.
    """
    if content and content.get("kind"):
        return [calibration_from_dict(_nan_to_none(dict(content)), where)]
    path = Path(reference)
    if path.is_dir():
        return CalibrationSet.load(path).for_sensor(sensor_serial).parts()
    if path.is_file():
        return [read_calibration(path)]
    raise DataFileError(where, "", "stored calibration content or an existing calibration file or directory", reference)
