"""Trunk tilt measures: how much and how fast the trunk's orientation moves, in degrees.

They need no COM height and no pendulum model, so they hold in every posture — sitting-balance
assessment (SATCo-style) reads exactly this, and in four-point and lying they are what is
left. Angles are rotations of the trunk relative to a reference attitude — each window's (or
segment's) mean attitude — expressed in the reference's body axes: **AP** about the left (y)
axis, + forward (flexion when upright), **ML** about the forward (x) axis, + to the left.
Relative to the posture's own reference they stay well defined when the trunk is horizontal,
where angles from the vertical (``dsp.tilt_angles``) are not (science notes §8.2).

Per window (:func:`tilt_measures`, kernel ``_kernels.tilt_window_stats``): RMS about the mean
(``tilt_rms_ap_deg``), range max - min (``tilt_range_ap_deg``) and mean angular speed, the
angle's path per second (``tilt_mean_velocity_ap_deg_s``); the same for ML. Check values:
θ = 2° sin(2π 0.5 t) over whole periods gives RMS 1.414°, range 4°, mean speed 4.0 °/s.
"""

from __future__ import annotations

import math

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics import _kernels as K

__all__ = ["TILT_KEYS", "tilt_measures"]

#: Metric names, in the order of the kernel's statistics.
TILT_KEYS = (
    "tilt_rms_ap_deg",
    "tilt_rms_ml_deg",
    "tilt_range_ap_deg",
    "tilt_range_ml_deg",
    "tilt_mean_velocity_ap_deg_s",
    "tilt_mean_velocity_ml_deg_s",
)


def tilt_measures(
    q: np.ndarray, fs_hz: float, starts: np.ndarray | None = None, stops: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Trunk tilt measures (degrees, °/s) of the attitude ``q`` ``(n, 4)`` (body -> world,
    ``[w, x, y, z]``) in each window ``[starts[i], stops[i])`` (default: the whole signal)."""
    qq = np.ascontiguousarray(q, dtype=np.float64)
    if qq.ndim != 2 or qq.shape[1] != 4:
        raise ParameterError(f"q must have shape (n, 4), got {qq.shape}")
    if not fs_hz > 0:
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    if starts is None or stops is None:
        starts, stops = np.array([0]), np.array([qq.shape[0]])
    st = np.ascontiguousarray(starts, dtype=np.int64)
    sp = np.ascontiguousarray(stops, dtype=np.int64)
    stats = K.tilt_window_stats(qq, st, sp, float(fs_hz), np.empty((st.shape[0], K.N_TILT_STATS)))
    deg = 180.0 / math.pi
    return {name: stats[:, k] * deg for k, name in enumerate(TILT_KEYS)}
