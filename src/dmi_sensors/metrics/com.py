"""Centre-of-mass (COM) excursion from one trunk IMU: inverted pendulum or strapdown.

Both methods estimate the horizontal COM displacement (mm) relative to its mean position,
AP (+ forward) and ML (+ left), frames as ``docs/data-contract.md``.

``pendulum`` (default)
    The body (standing: about the ankles; sitting: about the hips) is one rigid inverted
    pendulum, so the COM moves by ``x = h_com·sin θ`` where θ is the trunk tilt from the
    orientation filter and ``h_com`` the COM height above the pivot, per subject (children's
    COM is relatively higher; no validated fraction of stature exists — measure it or use
    Jensen's regressions). ``com = h_com·(sin θ - mean sin θ)``. Provenance: Duarte,
    BMClab/BMC ``IP_Model`` / ``cogve.py`` [V-src]. Valid for AP if the body sways as one
    segment; a single trunk IMU is a weak ML estimator (Foulger et al. 2025).
``strapdown``
    Gravity-free horizontal acceleration of the sensor integrated twice with high-pass
    drift control (``dmi_sensors.dsp.integrate_drift_controlled``; Germanotta et al. 2021
    [V-src abstract]), then scaled to the COM by ``h_com / h_sensor`` (same rigid-pendulum
    assumption: displacement grows linearly with height). Motion slower than the high-pass
    cut-off is lost by design.

Single-IMU COM excursion has no peer-reviewed mm-level validation in quiet stance
(reference/metrics.md §3.2): treat it as an estimate and say so in reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["COM_METHODS", "ComExcursion", "com_from_linear_acc", "com_from_tilt"]

COM_METHODS = ("pendulum", "strapdown")


@dataclass(frozen=True)
class ComExcursion:
    """COM displacement (mm) with the method and parameters that produced it."""

    com_ap_mm: np.ndarray
    com_ml_mm: np.ndarray
    method: str
    parameters: dict = field(default_factory=dict)


def _positive(name: str, value: float | None) -> float:
    if value is None or not (float(value) > 0):
        raise ParameterError(f"{name} must be a positive number of metres, got {value!r}")
    return float(value)


def com_from_tilt(
    tilt_ap_rad: np.ndarray, tilt_ml_rad: np.ndarray, com_height_m: float, lever_m: np.ndarray | None = None
) -> ComExcursion:
    """Inverted pendulum: ``com = 1000·h_com·(sin θ - mean(sin θ))`` mm, per axis.

    ``tilt_ap_rad`` + forward lean, ``tilt_ml_rad`` + lean to the left (data contract), so
    the COM moves forward / left with them. ``lever_m`` (per sample, m; NaN where the
    posture has no pendulum: :mod:`dmi_sensors.metrics.levers`) replaces ``com_height_m``:
    ``com = 1000·L(t)·sin θ - its mean over the samples with a lever`` (NaN elsewhere).
    """
    h = _positive("com_height_m", com_height_m)
    sa = np.sin(np.asarray(tilt_ap_rad, dtype=np.float64))
    sm = np.sin(np.asarray(tilt_ml_rad, dtype=np.float64))
    if sa.shape != sm.shape or sa.ndim != 1:
        raise ParameterError(f"tilt arrays must be 1-D of equal length, got {sa.shape} and {sm.shape}")
    if lever_m is None:
        return ComExcursion(
            1000.0 * h * (sa - sa.mean()),
            1000.0 * h * (sm - sm.mean()),
            "pendulum",
            {"com_method": "pendulum", "com_height_m": h, "formula": "x = h_com·(sin θ - mean sin θ)"},
        )
    lever = np.asarray(lever_m, dtype=np.float64)
    if lever.shape != sa.shape:
        raise ParameterError(f"lever_m must have the tilts' shape {sa.shape}, got {lever.shape}")
    ap = 1000.0 * lever * sa
    ml = 1000.0 * lever * sm
    ok = np.isfinite(lever)
    if np.any(ok):
        ap = ap - ap[ok].mean()
        ml = ml - ml[ok].mean()
    return ComExcursion(
        ap,
        ml,
        "pendulum",
        {
            "com_method": "pendulum",
            "com_height_m": h,
            "formula": "x = L(t)·sin θ - mean, L = μ·l of the posture and support (metrics.levers)",
        },
    )


def com_from_linear_acc(
    acc_ap_mps2: np.ndarray,
    acc_ml_mps2: np.ndarray,
    fs_hz: float,
    com_height_m: float,
    sensor_height_m: float | None = None,
    highpass_hz: float = 0.1,
    order: int = 2,
) -> ComExcursion:
    """Strapdown: double integration of the sensor's horizontal linear acceleration.

    ``acc_*`` are gravity-free, heading-frame AP/ML accelerations (m/s²) of the sensor.
    Displacement of the sensor = :func:`dmi_sensors.dsp.integrate_drift_controlled`
    (zero-phase Butterworth high-pass of ``order`` at ``highpass_hz`` before and after
    each trapezoid integral), scaled by ``com_height_m / sensor_height_m`` to the COM
    (``sensor_height_m=None``: the sensor is taken to be at COM height, scale 1).
    """
    from dmi_sensors.dsp import integrate_drift_controlled

    h = _positive("com_height_m", com_height_m)
    hs = None if sensor_height_m is None else _positive("sensor_height_m", sensor_height_m)
    acc = np.column_stack([np.asarray(acc_ap_mps2, float), np.asarray(acc_ml_mps2, float)])
    res = integrate_drift_controlled(acc, fs_hz, highpass_hz, order=order, zero_phase=True)
    scale = 1.0 if hs is None else h / hs
    disp = res.disp * scale
    disp = disp - disp.mean(axis=0)
    params = {
        "com_method": "strapdown",
        "com_height_m": h,
        "sensor_height_m": hs,
        "sensor_to_com_scale": scale,
        "strapdown_highpass_hz": float(highpass_hz),
        "integration": dict(res.parameters),
    }
    return ComExcursion(1000.0 * disp[:, 0], 1000.0 * disp[:, 1], "strapdown", params)
