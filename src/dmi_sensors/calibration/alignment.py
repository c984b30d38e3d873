"""Sensor-to-body alignment from an upright posture and a forward movement.

The body frame (``docs/data-contract.md``) has x forward, y left, z up when the child is
upright. Two recordings (or two parts of one) define it:

1. **Upright and quiet** (standing, or sitting upright for children who sit): the mean
   specific force points up, so ``z_body = normalise(mean acc)`` in sensor coordinates.
2. **Forward movement**, one of

   * ``"lean"`` (a forward bend of the trunk, or a forward lean when sitting): leaning
     forward by ``t`` tips the up-vector towards body ``-x`` in the trunk's frame
     (specific force in body coordinates = ``(-sin t, 0, cos t)``), so
     ``x_body = -normalise(sum of the horizontal parts h_k = a_k - (a_k . z) z)`` over the
     samples leaning at least half the maximum lean (low-passed with a ``smooth_s``
     moving average);
   * ``"step"`` (a forward step): the trunk translates forward. The specific force is
     rotated (gyro strapdown from the upright start) into one fixed frame, gravity (its
     mean over the upright period) is removed, and the horizontal acceleration is
     integrated to velocity, whose direction at peak speed is forward. Needs a
     bias-corrected gyroscope; less accurate than a lean.

``x_body`` is made orthogonal to ``z_body``; ``y_body = z_body x x_body``. The rotation
``R = [x_body; y_body; z_body]`` (rows) maps sensor vectors to the body:
``v_body = R @ v_sensor``; it is proper by construction (det = +1).

Apply the accelerometer calibration (and gyro bias) first when available: the
alignment then sits on calibrated axes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.calibration.accel import CalibrationDataError
from dmi_sensors.calibration.records import AlignmentCalibration
from dmi_sensors.calibration.still import StillParameters, _runs, detect_still
from dmi_sensors.errors import ParameterError

__all__ = ["AlignmentParameters", "calibrate_alignment", "rotation_from_up_forward"]


@dataclass(frozen=True)
class AlignmentParameters:
    """Thresholds of the alignment procedure.

    ``quiet``: looser than a table-top still test, because a child's quiet posture sways
    (std over 1 s below 0.35 m/s^2 and 0.25 rad/s); the first quiet run of at least
    ``min_upright_s`` seconds is the upright reference. The lean must reach
    ``min_lean_deg`` from the upright direction; for ``"step"`` the horizontal
    acceleration must reach ``min_step_mps2``. The upright period ends early where the
    smoothed direction departs by more than ``upright_tol_deg`` from its first
    ``min_upright_s`` seconds (a slow lean can look quiet). ``smooth_s``: moving-average
    length applied to the specific force; ``step_reference_s``: longest stretch of the
    upright period (its end) used as the gravity / zero-velocity reference of a step.
    """

    quiet: StillParameters = field(
        default_factory=lambda: StillParameters(
            window_s=1.0,
            acc_std_max_mps2=0.35,
            gyr_std_max_rps=0.25,
            min_duration_s=2.0,
            trim_s=0.2,
            gyr_mean_dev_max_rps=None,
            adaptive=False,
        )
    )
    min_upright_s: float = 2.0
    upright_tol_deg: float = 4.0
    min_lean_deg: float = 10.0
    min_step_mps2: float = 0.5
    smooth_s: float = 0.5
    step_reference_s: float = 10.0


def rotation_from_up_forward(up_sensor: np.ndarray, forward_sensor: np.ndarray) -> np.ndarray:
    """Rotation sensor -> body whose rows are body x (forward), y (left), z (up) in sensor axes.

    ``forward_sensor`` need not be orthogonal to ``up_sensor``; only its horizontal part is
    used. Raises ``ValueError`` when it is (nearly) parallel to ``up_sensor``.
    """
    z = np.asarray(up_sensor, dtype=np.float64)
    z = z / np.linalg.norm(z)
    f = np.asarray(forward_sensor, dtype=np.float64)
    x = f - (f @ z) * z
    nx = float(np.linalg.norm(x))
    if not np.isfinite(nx) or nx < 1e-6 * max(float(np.linalg.norm(f)), 1e-300):
        raise ParameterError("forward direction is parallel to the vertical: cannot define body x")
    x = x / nx
    y = np.cross(z, x)
    return np.vstack([x, y, z])


def _moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, x.shape[0]))
    c = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    idx = np.arange(x.shape[0])
    lo = np.clip(idx - window // 2, 0, x.shape[0])
    hi = np.clip(lo + window, 0, x.shape[0])
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def _integrate_rates(gyr_rps: np.ndarray, fs_hz: float) -> np.ndarray:
    """Rotation matrices (n, 3, 3) taking sensor vectors at sample k to the frame of sample 0.

    First-order quaternion integration of the body rate (``q_k = q_{k-1} * exp(w_k dt / 2)``).
    """
    n = gyr_rps.shape[0]
    out = np.empty((n, 3, 3))
    q = np.array([1.0, 0.0, 0.0, 0.0])
    dt = 1.0 / fs_hz
    for k in range(n):
        if k > 0:
            rv = gyr_rps[k] * dt
            ang = float(np.linalg.norm(rv))
            s = np.sinc(ang / (2 * np.pi)) * 0.5  # sin(ang/2)/ang, safe at 0
            dq = np.array([np.cos(ang / 2), *(s * rv)])
            w0, x0, y0, z0 = q
            w1, x1, y1, z1 = dq
            q = np.array(
                [
                    w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1,
                    w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
                    w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1,
                    w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1,
                ]
            )
            q /= np.linalg.norm(q)
        w, x, y, z = q
        out[k] = [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    return out


def _angle_deg(a: np.ndarray, z: np.ndarray) -> np.ndarray:
    c = (a @ z) / np.linalg.norm(a, axis=-1)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def calibrate_alignment(
    acc_mps2: np.ndarray,
    gyr_rps: np.ndarray,
    fs_hz: float,
    sensor_serial: str,
    method: str = "lean",
    posture: str = "standing",
    placement: str = "",
    params: AlignmentParameters | None = None,
    source: dict | None = None,
) -> AlignmentCalibration:
    """Rotation sensor -> body from one recording: quiet upright first, then the movement.

    ``acc_mps2``/``gyr_rps`` are in the sensor frame (intrinsically calibrated if possible).
    Raises :class:`~dmi_sensors.calibration.accel.CalibrationDataError` when no quiet
    upright period is found, the lean is too small, or the step too weak.
    """
    if method not in ("lean", "step"):
        raise ParameterError(f"method must be 'lean' or 'step', got {method!r}")
    if posture not in ("standing", "sitting"):
        raise ParameterError(f"posture must be 'standing' or 'sitting', got {posture!r}")
    p = params or AlignmentParameters()
    acc = np.asarray(acc_mps2, dtype=np.float64)
    n = acc.shape[0]
    quiet = detect_still(acc, gyr_rps, fs_hz, p.quiet)
    trim = round(p.quiet.trim_s * fs_hz)
    runs = [(a + trim, b - trim) for a, b in _runs(quiet) if (b - a - 2 * trim) >= p.min_upright_s * fs_hz]
    what = "sitting upright" if posture == "sitting" else "standing upright"
    if not runs:
        raise CalibrationDataError(
            f"alignment: no quiet {what} period of {p.min_upright_s:g} s in {n / fs_hz:.1f} s of data "
            f"({p.quiet.describe()}). Start with the child {what} and quiet for a few seconds."
        )
    a0, b0 = runs[0]
    # A slow, small lean can pass the quiet test: the upright period also ends where the
    # (smoothed) direction leaves the first min_upright_s seconds' direction by upright_tol_deg.
    n_ref = round(p.min_upright_s * fs_hz)
    z0 = acc[a0 : a0 + n_ref].mean(axis=0)
    smooth_all = _moving_mean(acc, round(p.smooth_s * fs_hz))
    away = np.flatnonzero(_angle_deg(smooth_all[a0 + n_ref : b0], z0 / np.linalg.norm(z0)) > p.upright_tol_deg)
    if away.size:
        b0 = a0 + n_ref + int(away[0])
    z = acc[a0:b0].mean(axis=0)
    z /= np.linalg.norm(z)
    smooth = smooth_all[b0:n]
    if smooth.shape[0] < 2:
        raise CalibrationDataError(f"alignment: nothing recorded after the upright period ending at {b0 / fs_hz:.1f} s")
    lean = _angle_deg(smooth, z)
    max_lean = float(lean.max())
    info = {"upright_start_s": round(a0 / fs_hz, 3), "upright_duration_s": round((b0 - a0) / fs_hz, 3)}
    if method == "lean":
        if max_lean < p.min_lean_deg:
            raise CalibrationDataError(
                f"alignment: the forward lean after {b0 / fs_hz:.1f} s reaches only {max_lean:.1f} deg from upright "
                f"(need {p.min_lean_deg:g} deg). Ask for a clear forward bend (or forward lean when sitting)."
            )
        sel = lean >= max(p.min_lean_deg, 0.5 * max_lean)
        h = smooth[sel] - np.outer(smooth[sel] @ z, z)
        forward = -h.sum(axis=0)
        resultant = float(np.linalg.norm(forward) / np.linalg.norm(h, axis=1).sum())
        if resultant < 0.8:
            raise CalibrationDataError(
                f"alignment: the lean direction is not consistent (resultant length {resultant:.2f} < 0.8): "
                "lean forward only, not sideways or in circles."
            )
        info["lean_consistency"] = round(resultant, 4)
    else:
        # Strapdown over the upright period and the step, in the frame F0 of the sensor at
        # the start of the reference (upright) window: f0 = R(t) f(t); gravity in F0 = mean of f0 over the upright
        # period (quiet-stance accelerations average out); linear acc = f0 - gravity.
        gyr = np.asarray(gyr_rps, dtype=np.float64)
        s0 = max(a0, b0 - round(p.step_reference_s * fs_hz))  # at most step_reference_s of upright reference
        rots = _integrate_rates(gyr[s0:n], fs_hz)
        f0 = _moving_mean(np.einsum("nij,nj->ni", rots, acc[s0:n]), round(p.smooth_s * fs_hz))
        g0 = f0[: b0 - s0].mean(axis=0)
        z0 = g0 / np.linalg.norm(g0)
        lin = f0 - g0
        lin -= np.outer(lin @ z0, z0)  # horizontal part
        mag = np.linalg.norm(lin[b0 - s0 :], axis=1)
        if mag.max() < p.min_step_mps2:
            raise CalibrationDataError(
                f"alignment: the step after {b0 / fs_hz:.1f} s reaches only {mag.max():.2f} m/s^2 horizontally "
                f"(need {p.min_step_mps2:g} m/s^2). Ask for one clear step forward."
            )
        # Velocity = integral of the horizontal acceleration from the upright start, minus
        # the straight line fitted to it over the upright period (quiet-stance velocity
        # averages to zero: this removes the unknown initial velocity and any residual
        # gravity left in the horizontal acceleration). Forward = the horizontal displacement
        # from the end of the upright period to where the speed first falls below 10 % of
        # its peak.
        vel = np.cumsum(lin, axis=0) / fs_hz
        t = np.arange(vel.shape[0]) / fs_hz
        trend = np.polynomial.polynomial.polyfit(t[: b0 - s0], vel[: b0 - s0], 1)  # (2, 3)
        vel = (vel - trend[0] - np.outer(t, trend[1]))[b0 - s0 :]
        speed = np.linalg.norm(vel, axis=1)
        k = int(np.argmax(speed))
        slow = np.flatnonzero(speed[k:] < 0.1 * speed[k])
        end = k + int(slow[0]) if slow.size else speed.shape[0] - 1
        pos = np.cumsum(vel, axis=0) / fs_hz
        forward = pos[end]
        disp = pos[: end + 1] @ (forward / np.linalg.norm(forward))
        info["peak_speed_mps"] = round(float(speed[k]), 4)
        info["step_displacement_m"] = round(float(disp[-1]), 4)
    rot = rotation_from_up_forward(z, forward)
    return AlignmentCalibration(
        sensor_serial,
        rotation_sensor_to_body=rot,
        lean_deg=max_lean,
        posture=posture,
        placement=placement,
        method=f"upright_{method}",
        source={**(source or {}), **info},
    )
