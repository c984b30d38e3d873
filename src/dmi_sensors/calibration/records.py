"""Calibration records and their JSON file format (format_version 1).

Three kinds of calibration exist, one dataclass each; a file holds exactly one of them:

``accel``      :class:`AccelCalibration`: ``a_cal = matrix @ (a_meas - bias_mps2)``
``gyro``       :class:`GyroCalibration`: ``w_cal = w_meas - bias_rps``
``alignment``  :class:`AlignmentCalibration`: ``v_body = rotation_sensor_to_body @ v_sensor``

Every file is plain JSON (UTF-8, never pickle) with these common keys:

==========================  =====================================================================
``format_version``          integer, currently ``1`` (readers refuse newer versions)
``kind``                    ``"accel"``, ``"gyro"`` or ``"alignment"``
``sensor_serial``           the sensor's serial (``sensor_id`` of its samples), non-empty string
``created_utc``             ISO-8601 UTC time of the calibration, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``
``dmi_sensors_version``     version of the package that computed it
``method``                  how it was computed (e.g. ``"six_position"``, ``"ellipsoid"``)
``source``                  free-form object: input file name, simulation seed, ... (optional)
==========================  =====================================================================

The per-kind keys are listed in each dataclass and in ``docs/calibration.md``. Reading a
bad file raises :class:`dmi_sensors.errors.DataFileError` naming the file and the key.

Values outside physical plausibility are refused when read (:data:`PLAUSIBLE`): a MEMS
accelerometer's zero-g offset is a fraction of a m/s², its sensitivity within a few percent,
its axes within a few degrees; a gyroscope's zero-rate offset a few deg/s; local gravity
9.78-9.83 m/s². A bias of 50 m/s² is a broken file or a broken fit, and applied to a
recording it would only fail much later, far from the file (issue 16).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dmi_sensors import __version__
from dmi_sensors.errors import DataFileError, ParameterError

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "PLAUSIBLE",
    "AccelCalibration",
    "AlignmentCalibration",
    "Calibration",
    "GyroCalibration",
    "calibration_from_dict",
    "read_calibration",
    "utc_now",
    "write_calibration",
]

#: Version of the calibration file format written by this package.
FORMAT_VERSION = 1
#: The kinds of calibration, in the order they are applied.
KINDS = ("accel", "gyro", "alignment")

#: The physically plausible range of each calibration value a reader accepts (module docstring):
#: ``acc_bias_mps2`` per axis, ``acc_scale`` (axis sensitivity, 1 = nominal),
#: ``acc_axis_deg`` (misalignment and non-orthogonality), ``gyr_bias_rps`` per axis,
#: ``gravity_mps2``. Generous on purpose: they catch impossible values, not poor sensors.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "acc_bias_mps2": (-2.0, 2.0),
    "acc_scale": (0.8, 1.25),
    "acc_axis_deg": (0.0, 10.0),
    "gyr_bias_rps": (-0.5, 0.5),
    "gravity_mps2": (9.7, 9.9),
}

_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def utc_now() -> str:
    """The current time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Parse a ``created_utc`` string (see :func:`utc_now`) into an aware datetime."""
    if not isinstance(text, str) or not _UTC_RE.match(text):
        raise ParameterError(f"not an ISO-8601 UTC time ending in 'Z': {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _vec(x: ArrayLike, n: int = 3) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64).reshape(n)


def _mat(x: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64).reshape(3, 3)


@dataclass(frozen=True)
class _Common:
    sensor_serial: str
    created_utc: str = field(default_factory=utc_now, kw_only=True)
    dmi_sensors_version: str = field(default=__version__, kw_only=True)
    method: str = field(default="", kw_only=True)
    source: dict[str, Any] = field(default_factory=dict, kw_only=True)
    #: The file it was read from (not part of the file's content).
    path: Path | None = field(default=None, kw_only=True, compare=False, repr=False)

    kind: ClassVar[str] = ""

    def _common_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "sensor_serial": self.sensor_serial,
            "created_utc": self.created_utc,
            "dmi_sensors_version": self.dmi_sensors_version,
            "method": self.method,
            "source": dict(self.source),
        }

    @property
    def created(self) -> datetime:
        """``created_utc`` as an aware datetime."""
        return parse_utc(self.created_utc)


@dataclass(frozen=True)
class AccelCalibration(_Common):
    """Accelerometer intrinsic calibration.

    Model (sensor frame, m/s^2)::

        a_cal = matrix @ (a_meas - bias_mps2)
        a_meas = inv(matrix) @ a_true + bias_mps2,   inv(matrix) = diag(scale) @ U

    where row ``i`` of ``U`` is the unit vector of sensor axis ``i``'s sensitive direction
    in the calibration frame (``U = I`` for perfectly orthogonal, aligned axes). Hence
    ``scale[i]`` = norm of row ``i`` of ``inv(matrix)`` is the sensitivity of axis ``i``
    (1.0 = nominal; 1.002 reads 0.2 % high), ``misalignment_deg[i]`` is the angle between
    sensitive axis ``i`` and the calibration frame's axis ``i``, and
    ``nonorthogonality_deg`` = (xy, xz, yz) are the deviations from 90 deg of the angles
    between pairs of sensitive axes (independent of how the frame is chosen).

    Attributes (JSON keys): ``bias_mps2`` [3], ``matrix`` 3x3 (row-major nested lists),
    ``scale`` [3], ``misalignment_deg`` [3], ``nonorthogonality_deg`` [3],
    ``residual_mps2`` = RMS of ``|a_cal| - g`` over the still samples used,
    ``condition_number`` of the orientation design (see ``accel.design_condition``;
    ~1.73 for six ideal poses, large when orientations do not span all directions),
    ``n_orientations`` and ``gravity_mps2`` (local g used as the reference).
    """

    bias_mps2: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    matrix: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    residual_mps2: float = 0.0
    condition_number: float = float("nan")
    n_orientations: int = 0
    gravity_mps2: float = 9.80665

    kind: ClassVar[str] = "accel"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bias_mps2", _vec(self.bias_mps2))
        object.__setattr__(self, "matrix", _mat(self.matrix))
        if not np.all(np.isfinite(self.matrix)) or abs(np.linalg.det(self.matrix)) < 1e-6:
            raise ParameterError("accel matrix must be finite and invertible")

    @property
    def sensitivity_matrix(self) -> NDArray[np.float64]:
        """``inv(matrix)`` = ``diag(scale) @ U`` (forward model, see class docstring)."""
        return np.asarray(np.linalg.inv(self.matrix), dtype=np.float64)

    @property
    def scale(self) -> NDArray[np.float64]:
        """Sensitivity of each axis (1 = nominal): row norms of :attr:`sensitivity_matrix`."""
        return np.asarray(np.linalg.norm(self.sensitivity_matrix, axis=1), dtype=np.float64)

    @property
    def axes(self) -> NDArray[np.float64]:
        """Unit sensitive-axis directions (rows) in the calibration frame (``U``)."""
        a = self.sensitivity_matrix
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    @property
    def misalignment_deg(self) -> NDArray[np.float64]:
        """Angle of each sensitive axis from the frame's axis of the same name, degrees."""
        return np.degrees(np.arccos(np.clip(np.diag(self.axes), -1.0, 1.0)))

    @property
    def nonorthogonality_deg(self) -> NDArray[np.float64]:
        """Deviation from 90 deg of the angles between sensitive axes (xy, xz, yz), degrees."""
        u = self.axes
        pairs = ((0, 1), (0, 2), (1, 2))
        return np.array([90.0 - np.degrees(np.arccos(np.clip(u[i] @ u[j], -1, 1))) for i, j in pairs])

    def apply(self, acc_mps2: ArrayLike) -> NDArray[np.float64]:
        """Calibrated specific force, same shape as ``acc_mps2`` (``(..., 3)``)."""
        return (np.asarray(acc_mps2, dtype=np.float64) - self.bias_mps2) @ self.matrix.T

    def to_dict(self) -> dict[str, Any]:
        d = self._common_dict()
        d.update(
            bias_mps2=self.bias_mps2.tolist(),
            scale=self.scale.tolist(),
            matrix=self.matrix.tolist(),
            misalignment_deg=self.misalignment_deg.tolist(),
            nonorthogonality_deg=self.nonorthogonality_deg.tolist(),
            residual_mps2=float(self.residual_mps2),
            condition_number=float(self.condition_number),
            n_orientations=int(self.n_orientations),
            gravity_mps2=float(self.gravity_mps2),
        )
        return d


@dataclass(frozen=True)
class GyroCalibration(_Common):
    """Gyroscope bias: ``w_cal = w_meas - bias_rps`` (sensor frame, rad/s).

    Attributes (JSON keys): ``bias_rps`` [3]; ``bias_stderr_rps`` [3], the standard error
    of each bias component (sample standard deviation over ``sqrt(n_effective)``, see
    ``still.gyro_bias_from_still``); ``still_duration_s`` and ``n_samples`` used.
    Gyroscope scale and misalignment need a rate table and are not estimated.
    """

    bias_rps: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    bias_stderr_rps: NDArray[np.float64] = field(default_factory=lambda: np.full(3, np.nan))
    still_duration_s: float = 0.0
    n_samples: int = 0

    kind: ClassVar[str] = "gyro"

    def __post_init__(self) -> None:
        object.__setattr__(self, "bias_rps", _vec(self.bias_rps))
        object.__setattr__(self, "bias_stderr_rps", _vec(self.bias_stderr_rps))

    def apply(self, gyr_rps: ArrayLike) -> NDArray[np.float64]:
        """Bias-corrected angular rate, same shape as ``gyr_rps``."""
        return np.asarray(gyr_rps, dtype=np.float64) - self.bias_rps

    def to_dict(self) -> dict[str, Any]:
        d = self._common_dict()
        d.update(
            bias_rps=self.bias_rps.tolist(),
            bias_stderr_rps=self.bias_stderr_rps.tolist(),
            still_duration_s=float(self.still_duration_s),
            n_samples=int(self.n_samples),
        )
        return d


@dataclass(frozen=True)
class AlignmentCalibration(_Common):
    """Sensor-to-body rotation: ``v_body = rotation_sensor_to_body @ v_sensor``.

    Body frame per ``docs/data-contract.md``: x forward (AP), y left (ML), z up (V) when
    upright. The rotation is proper (orthonormal, det = +1); its rows are the body axes
    written in sensor coordinates.

    Attributes (JSON keys): ``rotation_sensor_to_body`` 3x3; ``euler_zyx_deg`` =
    (yaw, pitch, roll) with ``rotation_sensor_to_body = Rz(yaw) @ Ry(pitch) @ Rx(roll)``
    (intrinsic z-y'-x''); ``sensor_tilt_deg``, the angle between the sensor's z axis and
    body z (vertical); ``lean_deg``, how far the calibration movement leaned;
    ``posture`` (``"standing"`` or ``"sitting"``); ``placement`` (e.g. ``"trunk"``, may be
    empty). An alignment is only valid while the sensor stays where it was mounted.
    """

    rotation_sensor_to_body: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))
    lean_deg: float = float("nan")
    posture: str = "standing"
    placement: str = ""

    kind: ClassVar[str] = "alignment"

    def __post_init__(self) -> None:
        r = _mat(self.rotation_sensor_to_body)
        if not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
            raise ParameterError("rotation_sensor_to_body must be a proper rotation (orthonormal, det=+1)")
        object.__setattr__(self, "rotation_sensor_to_body", r)

    @property
    def euler_zyx_deg(self) -> NDArray[np.float64]:
        """(yaw, pitch, roll), degrees, with ``R = Rz(yaw) Ry(pitch) Rx(roll)``."""
        return euler_zyx_deg(self.rotation_sensor_to_body)

    @property
    def sensor_tilt_deg(self) -> float:
        """Angle between the sensor's z axis and body z, degrees."""
        return float(np.degrees(np.arccos(np.clip(self.rotation_sensor_to_body[2, 2], -1.0, 1.0))))

    def apply(self, v_sensor: ArrayLike) -> NDArray[np.float64]:
        """Vectors ``(..., 3)`` in the sensor frame -> body frame."""
        return np.asarray(v_sensor, dtype=np.float64) @ self.rotation_sensor_to_body.T

    def to_dict(self) -> dict[str, Any]:
        d = self._common_dict()
        d.update(
            rotation_sensor_to_body=self.rotation_sensor_to_body.tolist(),
            euler_zyx_deg=self.euler_zyx_deg.tolist(),
            sensor_tilt_deg=self.sensor_tilt_deg,
            lean_deg=float(self.lean_deg),
            posture=self.posture,
            placement=self.placement,
        )
        return d


Calibration = AccelCalibration | GyroCalibration | AlignmentCalibration


def euler_zyx_deg(rotation: ArrayLike) -> NDArray[np.float64]:
    """(yaw, pitch, roll) in degrees with ``rotation = Rz(yaw) @ Ry(pitch) @ Rx(roll)``."""
    r = _mat(rotation)
    pitch = math.asin(max(-1.0, min(1.0, -r[2, 0])))
    if abs(r[2, 0]) < 1.0 - 1e-12:
        yaw = math.atan2(r[1, 0], r[0, 0])
        roll = math.atan2(r[2, 1], r[2, 2])
    else:  # gimbal lock: put everything in yaw
        yaw = math.atan2(-r[0, 1], r[1, 1])
        roll = 0.0
    return np.degrees([yaw, pitch, roll])


# --- reading with key-level validation ------------------------------------------------


class _Reader:
    """Pulls typed values out of a decoded JSON object, naming the file and the key on error."""

    def __init__(self, data: Any, path: Path) -> None:
        self.path = path
        if not isinstance(data, dict):
            raise DataFileError(path, "top level", "a JSON object", type(data).__name__)
        self.data = data

    def _get(self, key: str, required: bool = True, default: Any = None) -> Any:
        if key not in self.data:
            if required:
                raise DataFileError(self.path, f"key {key!r}", f"the key {key!r}", "it is missing")
            return default
        return self.data[key]

    def string(self, key: str, required: bool = True, default: str = "", nonempty: bool = False) -> str:
        v = self._get(key, required, default)
        if not isinstance(v, str) or (nonempty and not v.strip()):
            raise DataFileError(self.path, f"key {key!r}", "a non-empty string" if nonempty else "a string", repr(v))
        return v

    def number(self, key: str, required: bool = True, default: float = float("nan"), positive: bool = False) -> float:
        v = self._get(key, required, default)
        if v is None and not required:
            return default
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (positive and v <= 0):
            raise DataFileError(
                self.path, f"key {key!r}", "a positive finite number" if positive else "a finite number", repr(v)
            )
        return float(v)

    def integer(self, key: str, required: bool = True, default: int = 0) -> int:
        v = self._get(key, required, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise DataFileError(self.path, f"key {key!r}", "a non-negative integer", repr(v))
        return v

    def array(
        self, key: str, shape: tuple[int, ...], required: bool = True, allow_nan: bool = False
    ) -> NDArray[np.float64]:
        v = self._get(key, required)
        if v is None and not required:
            return np.full(shape, np.nan)
        what = "a list of 3 numbers" if shape == (3,) else "a 3x3 nested list of numbers"
        try:
            arr = np.array(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataFileError(self.path, f"key {key!r}", what, repr(v)) from None
        if arr.shape != shape or (isinstance(v, list) and any(isinstance(x, bool) for x in np.ravel(v))):
            raise DataFileError(self.path, f"key {key!r}", what, repr(v))
        if not allow_nan and not np.all(np.isfinite(arr)):
            raise DataFileError(self.path, f"key {key!r}", what.replace("numbers", "finite numbers"), repr(v))
        return arr

    def mapping(self, key: str) -> dict[str, Any]:
        v = self._get(key, False, {})
        if not isinstance(v, dict):
            raise DataFileError(self.path, f"key {key!r}", "a JSON object", repr(v))
        return v


class _CommonFields(TypedDict):
    """The keys every kind shares (the constructor arguments of :class:`_Common`)."""

    sensor_serial: str
    created_utc: str
    dmi_sensors_version: str
    method: str
    source: dict[str, Any]


def _plausible(path: Path, key: str, name: str, values: ArrayLike) -> None:
    """``DataFileError`` unless every value lies in ``PLAUSIBLE[name]``."""
    lo, hi = PLAUSIBLE[name]
    v = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if not (np.all(np.isfinite(v)) and np.all(v >= lo) and np.all(v <= hi)):
        shown = v.tolist() if v.size > 1 else float(v[0])
        raise DataFileError(path, f"key {key!r}", f"a physically plausible value within [{lo:g}, {hi:g}]", repr(shown))


def _check_plausible(cal: Calibration, path: Path) -> Calibration:
    if isinstance(cal, AccelCalibration):
        _plausible(path, "bias_mps2", "acc_bias_mps2", cal.bias_mps2)
        # an absurd matrix overflows on the way (inf or nan): refused below, without numpy's warnings
        with np.errstate(all="ignore"):
            scale, misalignment, nonorthogonality = cal.scale, cal.misalignment_deg, cal.nonorthogonality_deg
        _plausible(path, "matrix", "acc_scale", scale)
        _plausible(path, "matrix", "acc_axis_deg", np.abs(misalignment))
        _plausible(path, "matrix", "acc_axis_deg", np.abs(nonorthogonality))
        _plausible(path, "gravity_mps2", "gravity_mps2", cal.gravity_mps2)
    elif isinstance(cal, GyroCalibration):
        _plausible(path, "bias_rps", "gyr_bias_rps", cal.bias_rps)
    return cal


def calibration_from_dict(data: Any, path: str | Path = "<dict>") -> Calibration:
    """Validate a decoded calibration JSON object and build its record.

    Raises :class:`DataFileError` naming ``path`` and the offending key, also for values
    outside physical plausibility (:data:`PLAUSIBLE`).
    """
    path = Path(path)
    return _check_plausible(_calibration_from_dict(data, path), path)


def _calibration_from_dict(data: Any, path: Path) -> Calibration:
    path = Path(path)
    r = _Reader(data, path)
    version = r.integer("format_version")
    if version < 1 or version > FORMAT_VERSION:
        raise DataFileError(
            path,
            "key 'format_version'",
            f"a version between 1 and {FORMAT_VERSION} (upgrade dmi-sensors)",
            str(version),
        )
    kind = r.string("kind")
    if kind not in KINDS:
        raise DataFileError(path, "key 'kind'", "one of " + ", ".join(map(repr, KINDS)), repr(kind))
    created = r.string("created_utc")
    try:
        parse_utc(created)
    except ValueError:
        raise DataFileError(
            path, "key 'created_utc'", "an ISO-8601 UTC time like 2026-01-31T09:30:00Z", repr(created)
        ) from None
    common: _CommonFields = {
        "sensor_serial": r.string("sensor_serial", nonempty=True),
        "created_utc": created,
        "dmi_sensors_version": r.string("dmi_sensors_version"),
        "method": r.string("method", required=False),
        "source": r.mapping("source"),
    }
    if kind == "accel":
        bias = r.array("bias_mps2", (3,))
        if "matrix" in data:
            matrix = r.array("matrix", (3, 3))
            if abs(np.linalg.det(matrix)) < 1e-6:
                raise DataFileError(path, "key 'matrix'", "an invertible 3x3 matrix", repr(data["matrix"]))
        elif "scale" in data:
            scale = r.array("scale", (3,))
            if np.any(scale <= 0):
                raise DataFileError(path, "key 'scale'", "3 positive numbers", repr(data["scale"]))
            matrix = np.diag(1.0 / scale)
        else:
            raise DataFileError(path, "key 'matrix'", "the key 'matrix' (3x3) or 'scale' (3 numbers)", "neither")
        if "matrix" in data and "scale" in data:
            scale = r.array("scale", (3,))
            with np.errstate(all="ignore"):  # an absurd matrix gives inf/nan: refused just below
                implied = np.linalg.norm(np.linalg.inv(matrix), axis=1)
            if not np.allclose(scale, implied, rtol=1e-6, atol=1e-9):
                raise DataFileError(
                    path, "key 'scale'", f"the row norms of inv(matrix) {implied.round(9).tolist()}", scale.tolist()
                )
        return AccelCalibration(
            bias_mps2=bias,
            matrix=matrix,
            residual_mps2=r.number("residual_mps2"),
            condition_number=r.number("condition_number", required=False),
            n_orientations=r.integer("n_orientations", required=False),
            gravity_mps2=r.number("gravity_mps2", required=False, default=9.80665, positive=True),
            **common,
        )
    if kind == "gyro":
        return GyroCalibration(
            bias_rps=r.array("bias_rps", (3,)),
            bias_stderr_rps=r.array("bias_stderr_rps", (3,), required=False, allow_nan=True),
            still_duration_s=r.number("still_duration_s", required=False, default=0.0),
            n_samples=r.integer("n_samples", required=False),
            **common,
        )
    rot = r.array("rotation_sensor_to_body", (3, 3))
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-6) or np.linalg.det(rot) < 0:
        raise DataFileError(
            path, "key 'rotation_sensor_to_body'", "a proper rotation matrix (orthonormal, det=+1)", rot.tolist()
        )
    posture = r.string("posture", required=False, default="standing")
    return AlignmentCalibration(
        rotation_sensor_to_body=rot,
        lean_deg=r.number("lean_deg", required=False),
        posture=posture,
        placement=r.string("placement", required=False),
        **common,
    )


def read_calibration(path: str | Path) -> Calibration:
    """Read one calibration JSON file (any kind). Bad files raise :class:`DataFileError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(path, "", "an existing calibration JSON file", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(path, "", "a readable UTF-8 calibration JSON file", str(exc)) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataFileError(path, f"line {exc.lineno}, column {exc.colno}", "valid JSON", exc.msg) from None
    except ValueError as exc:
        raise DataFileError(path, "", "standard JSON numbers", str(exc)) from None
    cal = calibration_from_dict(data, path)
    object.__setattr__(cal, "path", path)
    return cal


def _reject_constant(name: str) -> float:
    raise ParameterError(f"non-standard constant {name}")


def write_calibration(calibration: Calibration, path: str | Path) -> Path:
    """Write ``calibration`` as indented JSON; returns the path. NaN is written as ``null``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _nan_to_none(calibration.to_dict())
    text = json.dumps(data, indent=2, allow_nan=False)
    # one line per vector / matrix row: lists holding only numbers (or null) are written inline
    text = _NUMBER_LIST_RE.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    path.write_text(text + "\n", encoding="utf-8")
    return path


_NUMBER_LIST_RE = re.compile(r"\[\s*((?:-?[0-9][0-9.eE+-]*|null)(?:,\s*(?:-?[0-9][0-9.eE+-]*|null))*)\s*\]")


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x


def default_filename(calibration: Calibration) -> str:
    """``<serial>_<kind>_<YYYYmmddTHHMMSSZ>.json`` (serial characters outside [A-Za-z0-9-] -> '_')."""
    serial = re.sub(r"[^A-Za-z0-9-]", "_", calibration.sensor_serial)
    stamp = calibration.created.strftime("%Y%m%dT%H%M%SZ")
    return f"{serial}_{calibration.kind}_{stamp}.json"
