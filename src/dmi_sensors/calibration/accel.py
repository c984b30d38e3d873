"""Accelerometer calibration: six-position method and least-squares ellipsoid fit.

Model (see :class:`~dmi_sensors.calibration.records.AccelCalibration`)::

    a_cal = M @ (a_meas - b)        M = matrix (3x3), b = bias_mps2

**Six-position method** (:func:`calibrate_six_position`). The sensor rests, still, with
each of its axes pointing up and then down (poses ``+x, -x, +y, -y, +z, -z``; ``+x`` means
the x axis points up and reads about +g), e.g. pressed against the faces of a box. The
poses are found automatically in one recording (still periods, :mod:`.still`, classified
by the axis closest to vertical). The fit minimises, over ``M`` and ``b``::

    sum_k (|M (m_k - b)| - g)^2  +  w^2 sum_k |M (m_k - b) - g e_k|^2      (w = 0.01)

where ``m_k`` is the mean reading of pose k and ``e_k`` its nominal axis (+-x, +-y, +-z).
The first term (gravity has magnitude g whatever the orientation) fixes bias and scale
and is insensitive to poses that are not exactly level; the weakly weighted second term
fixes the remaining cross-axis terms and the frame (the calibration frame is the box's
frame). A pose tilted by t degrees therefore shows up as about t/2 degrees of
misalignment, but barely moves bias and scale.

**Ellipsoid fit** (:func:`fit_ellipsoid`), for many (>= 9, well spread) still
orientations of unknown direction: minimises ``sum_k (|M (m_k - b)| - g)^2`` with ``M``
lower triangular (the calibration frame keeps the sensor's x axis and the sensor's
x-y plane; 9 unknowns), started from a linear sphere fit.

Quality figures: ``residual_mps2`` = RMS of ``|a_cal| - g`` over all still samples used
(includes sensor noise); ``condition_number`` = :func:`design_condition` of the
orientations (1.73 for six ideal poses; above ~10 the orientations do not span enough
directions).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dmi_sensors.calibration.records import AccelCalibration
from dmi_sensors.calibration.still import StillParameters, StillSegment, still_segments
from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.errors import CalibrationDataError

__all__ = [
    "POSES",
    "CalibrationDataError",
    "SixPoseDetection",
    "calibrate_ellipsoid",
    "calibrate_six_position",
    "design_condition",
    "detect_six_poses",
    "fit_ellipsoid",
    "fit_six_position",
]

#: Pose names: the sensor axis pointing up (its reading is about +g).
POSES = ("+x", "-x", "+y", "-y", "+z", "-z")
_NOMINAL = {p: (1.0 if p[0] == "+" else -1.0) * np.eye(3)[" xyz".index(p[1]) - 1] for p in POSES}
#: Weight of the direction term of the six-position fit (see the module docstring).
DIRECTION_WEIGHT = 0.01


def design_condition(directions: np.ndarray) -> float:
    """Condition number of the design ``[u_k, 1]`` of orientation unit vectors ``u_k`` (k, 3).

    The linear model ``m_k = A g u_k + b`` is identifiable when this is small: 1.73 for the
    six ideal poses, growing without bound as the orientations cluster or lie in a plane.
    """
    u = np.asarray(directions, dtype=np.float64)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    d = np.hstack([u, np.ones((u.shape[0], 1))])
    s = np.linalg.svd(d, compute_uv=False)
    return float(s[0] / s[-1]) if s[-1] > 0 else float("inf")


@dataclass(frozen=True)
class SixPoseDetection:
    """The six poses found in a recording: pose name -> the still segment used."""

    poses: dict[str, StillSegment]
    tilt_deg: dict[str, float]
    params: StillParameters

    def means(self) -> dict[str, np.ndarray]:
        return {p: s.acc_mean_mps2 for p, s in self.poses.items()}


def _nearest_pose(v: np.ndarray) -> tuple[str, float]:
    u = v / np.linalg.norm(v)
    axis = int(np.argmax(np.abs(u)))
    pose = ("+" if u[axis] > 0 else "-") + "xyz"[axis]
    return pose, float(np.degrees(np.arccos(min(1.0, abs(u[axis])))))


def detect_six_poses(
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
    fs_hz: float,
    params: StillParameters | None = None,
    min_pose_s: float = 3.0,
    max_tilt_deg: float = 20.0,
) -> SixPoseDetection:
    """Find the six static poses in one recording (the longest still period of each).

    A still period (``params``, :mod:`.still`) belongs to pose ``+x`` etc. when its mean
    specific force is within ``max_tilt_deg`` of that axis. Raises
    :class:`CalibrationDataError` listing the missing poses, poses held still for less
    than ``min_pose_s``, and still periods too far from every axis (not distinct).
    """
    p = params or StillParameters()
    acc = np.asarray(acc_mps2, dtype=np.float64)
    n_s = acc.shape[0] / fs_hz
    # Look at every still run (down to 0.3 s) so that short ones can be reported by name.
    loose = dataclasses.replace(p, min_duration_s=min(0.3, p.min_duration_s))
    segs = still_segments(acc, gyr_rps, fs_hz, loose)
    if not segs:
        raise CalibrationDataError(
            f"six-position: no still period at all in {n_s:.1f} s of data ({p.describe()}): the sensor was "
            "moving the whole time. Hold each pose still for a few seconds."
        )
    best: dict[str, StillSegment] = {}
    tilt: dict[str, float] = {}
    off_axis: list[str] = []
    for s in segs:
        pose, t = _nearest_pose(s.acc_mean_mps2)
        if t > max_tilt_deg:
            if s.duration_s >= min_pose_s:
                off_axis.append(
                    f"still period at {s.start_s:.1f} s ({s.duration_s:.1f} s) is {t:.0f} deg from the nearest "
                    f"pose {pose} (max {max_tilt_deg:g} deg)"
                )
            continue
        if pose not in best or s.n > best[pose].n:
            best[pose], tilt[pose] = s, t
    missing = [q for q in POSES if q not in best]
    short = [q for q in POSES if q in best and best[q].duration_s < min_pose_s]
    if missing or short:
        parts = []
        if missing:
            parts.append("missing pose(s) " + ", ".join(missing))
        for q in short:
            parts.append(
                f"pose {q} still for only {best[q].duration_s:.1f} s at {best[q].start_s:.1f} s (need {min_pose_s:g} s)"
            )
        found = ", ".join(f"{q} at {best[q].start_s:.1f} s for {best[q].duration_s:.1f} s" for q in POSES if q in best)
        msg = "six-position: " + "; ".join(parts) + f". Found: {found or 'none'}."
        if off_axis:
            msg += " Not distinct: " + "; ".join(off_axis) + "."
        msg += f" ({p.describe()}; '+x' = x axis pointing up.)"
        raise CalibrationDataError(msg)
    return SixPoseDetection(best, tilt, p)


def _unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x[:9].reshape(3, 3), x[9:12]


def fit_six_position(
    pose_means_mps2: dict[str, np.ndarray], gravity_mps2: float = STANDARD_GRAVITY_MPS2
) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix, bias_mps2)`` from the mean readings of the six poses (module docstring)."""
    missing = [p for p in POSES if p not in pose_means_mps2]
    if missing:
        raise CalibrationDataError("six-position: missing pose(s) " + ", ".join(missing))
    m = np.array([pose_means_mps2[p] for p in POSES], dtype=np.float64)
    e = np.array([_NOMINAL[p] for p in POSES])
    g = float(gravity_mps2)
    # Closed form (Ferraris): column i of A = (m_{+i} - m_{-i}) / 2g, b = mean of the six.
    a0 = np.column_stack([(m[2 * i] - m[2 * i + 1]) / (2 * g) for i in range(3)])
    b0 = m.mean(axis=0)
    if abs(np.linalg.det(a0)) < 1e-3:
        raise CalibrationDataError("six-position: the poses are not distinct (the axes' readings are degenerate)")
    w = DIRECTION_WEIGHT

    def resid(x: np.ndarray) -> np.ndarray:
        mm, b = _unpack(x)
        cal = (m - b) @ mm.T
        return np.concatenate([np.linalg.norm(cal, axis=1) - g, w * (cal - g * e).ravel()])

    x0 = np.concatenate([np.linalg.inv(a0).ravel(), b0])
    from scipy.optimize import least_squares  # here, not at import: scipy.optimize costs ~0.3 s

    sol = least_squares(resid, x0, method="lm", xtol=1e-14, ftol=1e-14, gtol=1e-14)
    return _unpack(sol.x)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _residual_rms(matrix: np.ndarray, bias: np.ndarray, acc: np.ndarray, g: float) -> float:
    cal = (acc - bias) @ matrix.T
    return float(np.sqrt(np.mean((np.linalg.norm(cal, axis=1) - g) ** 2)))


def calibrate_six_position(
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
    fs_hz: float,
    sensor_serial: str,
    params: StillParameters | None = None,
    min_pose_s: float = 3.0,
    max_tilt_deg: float = 20.0,
    gravity_mps2: float = STANDARD_GRAVITY_MPS2,
    source: dict | None = None,
) -> AccelCalibration:
    """Detect the six poses in one recording and fit bias, scale and cross-axis terms.

    Returns an :class:`AccelCalibration` (method ``"six_position"``) whose ``source``
    records each pose's start, duration and tilt from the nominal axis after calibration.
    """
    acc = np.asarray(acc_mps2, dtype=np.float64)
    det = detect_six_poses(acc, gyr_rps, fs_hz, params, min_pose_s, max_tilt_deg)
    matrix, bias = fit_six_position(det.means(), gravity_mps2)
    samples = np.concatenate([acc[s.start : s.stop] for s in det.poses.values()])
    cal_means = {p: matrix @ (s.acc_mean_mps2 - bias) for p, s in det.poses.items()}
    poses = {
        p: {
            "start_s": round(det.poses[p].start_s, 3),
            "duration_s": round(det.poses[p].duration_s, 3),
            "raw_tilt_deg": round(det.tilt_deg[p], 3),
            "calibrated_tilt_deg": round(_angle_deg(v, _NOMINAL[p]), 3),
        }
        for p, v in cal_means.items()
    }
    return AccelCalibration(
        sensor_serial,
        bias_mps2=bias,
        matrix=matrix,
        residual_mps2=_residual_rms(matrix, bias, samples, gravity_mps2),
        condition_number=design_condition(np.array(list(cal_means.values()))),
        n_orientations=6,
        gravity_mps2=gravity_mps2,
        method="six_position",
        source={**(source or {}), "poses": poses, "still": det.params.describe()},
    )


def _lower(x: np.ndarray) -> np.ndarray:
    m = np.zeros((3, 3))
    m[np.tril_indices(3)] = x[:6]
    return m


def fit_ellipsoid(
    acc_means_mps2: np.ndarray,
    gravity_mps2: float = STANDARD_GRAVITY_MPS2,
    max_condition: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix, bias_mps2)`` from mean readings in >= 9 still orientations (k, 3).

    ``matrix`` is lower triangular (module docstring). Raises
    :class:`CalibrationDataError` when there are fewer than 9 orientations or their
    :func:`design_condition` exceeds ``max_condition``.
    """
    m = np.asarray(acc_means_mps2, dtype=np.float64)
    g = float(gravity_mps2)
    if m.ndim != 2 or m.shape[1] != 3 or m.shape[0] < 9:
        raise CalibrationDataError(
            f"ellipsoid fit: need at least 9 still orientations, got {m.shape[0] if m.ndim == 2 else 0}"
        )
    # Linear sphere fit: |m|^2 = 2 b.m + (r^2 - |b|^2).
    design = np.hstack([2 * m, np.ones((m.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(design, (m * m).sum(axis=1), rcond=None)
    b0 = coef[:3]
    r2 = coef[3] + b0 @ b0
    cond = design_condition(m - b0)
    if not np.isfinite(cond) or cond > max_condition or r2 <= 0:
        raise CalibrationDataError(
            f"ellipsoid fit: the {m.shape[0]} orientations do not span enough directions "
            f"(condition number {cond:.1f} > {max_condition:g}); turn the sensor to face many different ways"
        )
    x0 = np.concatenate([(g / np.sqrt(r2)) * np.eye(3)[np.tril_indices(3)], b0])

    def resid(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm((m - x[6:]) @ _lower(x).T, axis=1) - g

    from scipy.optimize import least_squares  # here, not at import: scipy.optimize costs ~0.3 s

    sol = least_squares(resid, x0, method="lm", xtol=1e-14, ftol=1e-14, gtol=1e-14)
    matrix = _lower(sol.x)
    signs = np.sign(np.diag(matrix))  # a row sign flip is a 180-deg gauge; keep the diagonal positive
    return matrix * signs[:, None], sol.x[6:]


def calibrate_ellipsoid(
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
    fs_hz: float,
    sensor_serial: str,
    params: StillParameters | None = None,
    gravity_mps2: float = STANDARD_GRAVITY_MPS2,
    max_condition: float = 10.0,
    source: dict | None = None,
) -> AccelCalibration:
    """Ellipsoid fit over every still period of a recording (one orientation each)."""
    acc = np.asarray(acc_mps2, dtype=np.float64)
    p = params or StillParameters()
    segs = still_segments(acc, gyr_rps, fs_hz, p)
    means = np.array([s.acc_mean_mps2 for s in segs]).reshape(-1, 3)
    matrix, bias = fit_ellipsoid(means, gravity_mps2, max_condition)
    samples = np.concatenate([acc[s.start : s.stop] for s in segs])
    return AccelCalibration(
        sensor_serial,
        bias_mps2=bias,
        matrix=matrix,
        residual_mps2=_residual_rms(matrix, bias, samples, gravity_mps2),
        condition_number=design_condition((means - bias) @ matrix.T),
        n_orientations=len(segs),
        gravity_mps2=gravity_mps2,
        method="ellipsoid",
        source={**(source or {}), "still": p.describe()},
    )
