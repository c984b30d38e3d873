"""Fused Numba kernel for the offline/live chain: calibrate -> low-pass -> Madgwick -> body frame.

One call runs :func:`affine_into`, :func:`~dmi_sensors.dsp._sos_kernels.sos_filter_into`,
:func:`~dmi_sensors.dsp._orientation_kernels.madgwick_imu_into` and
:func:`~dmi_sensors.dsp._bodyframe_kernels.body_frame_into` block by block (the same
kernels, so its output equals running the stages one after the other), keeping every
intermediate in L1 cache and paying the Python/Numba call overhead once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dmi_sensors.dsp._bodyframe_kernels import body_frame_into
from dmi_sensors.dsp._orientation_kernels import madgwick_imu_into
from dmi_sensors.dsp._sos_kernels import sos_filter_into

__all__ = ["affine_into", "imu_chain_into"]


@njit(cache=True)
def _affine(m: np.ndarray, b: np.ndarray, x0: float, x1: float, x2: float) -> tuple[float, float, float]:
    y0 = x0 - b[0]
    y1 = x1 - b[1]
    y2 = x2 - b[2]
    return (
        m[0, 0] * y0 + m[0, 1] * y1 + m[0, 2] * y2,
        m[1, 0] * y0 + m[1, 1] * y1 + m[1, 2] * y2,
        m[2, 0] * y0 + m[2, 1] * y1 + m[2, 2] * y2,
    )


@njit(cache=True)
def affine_into(x: np.ndarray, matrix: np.ndarray, bias: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[i] = matrix @ (x[i] - bias)`` for (n, 3) arrays (bias/scale/misalignment/mounting correction)."""
    for i in range(x.shape[0]):
        a, b, c = _affine(matrix, bias, x[i, 0], x[i, 1], x[i, 2])
        out[i, 0] = a
        out[i, 1] = b
        out[i, 2] = c
    return out


#: Rows per block: each stage runs over a block that stays in L1 before the next stage
#: starts. Faster than a per-sample fusion (tight loops, no register pressure) and exactly
#: the arithmetic of the separate stage kernels.
BLOCK_ROWS = 512


@njit(cache=True)
def imu_chain_into(
    acc: np.ndarray,
    gyr: np.ndarray,
    acc_matrix: np.ndarray,
    acc_bias: np.ndarray,
    gyr_matrix: np.ndarray,
    gyr_bias: np.ndarray,
    sos: np.ndarray,
    zi: np.ndarray,
    zi_unit: np.ndarray,
    gain: float,
    dt_s: float,
    q0: np.ndarray,
    mstate: np.ndarray,
    gravity_mps2: float,
    cal_out: np.ndarray,
    q_out: np.ndarray,
    tilt_out: np.ndarray,
    lin_out: np.ndarray,
) -> None:
    """Run the chain over ``n`` samples, block by block.

    ``acc``/``gyr`` (n, 3) in the sensor frame; ``zi`` (s, 2, 6) filter state over the six
    calibrated channels ``[acc, gyr]``; ``zi_unit`` (s, 2) steady-state unit response, or
    an empty (0, 2) array for zero initial conditions; ``mstate`` (6,) =
    ``[q(4), madgwick initialised, filter initialised]``. Outputs: ``cal_out`` (n, 6)
    calibrated and filtered ``[acc, gyr]``, ``q_out`` (n, 4), ``tilt_out`` (n, 2),
    ``lin_out`` (n, 3) gravity-free acceleration AP/ML/V.
    """
    n = acc.shape[0]
    mad_state = mstate[:5]
    for b0 in range(0, n, BLOCK_ROWS):
        b1 = min(n, b0 + BLOCK_ROWS)
        for i in range(b0, b1):
            cal_out[i, 0], cal_out[i, 1], cal_out[i, 2] = _affine(acc_matrix, acc_bias, acc[i, 0], acc[i, 1], acc[i, 2])
            cal_out[i, 3], cal_out[i, 4], cal_out[i, 5] = _affine(gyr_matrix, gyr_bias, gyr[i, 0], gyr[i, 1], gyr[i, 2])
        if mstate[5] == 0.0:
            if zi_unit.shape[0] > 0:
                for s in range(zi.shape[0]):
                    for k in range(2):
                        for ch in range(6):
                            zi[s, k, ch] = zi_unit[s, k] * cal_out[b0, ch]
            mstate[5] = 1.0
        block = cal_out[b0:b1]
        sos_filter_into(sos, block, zi, block)
        madgwick_imu_into(block[:, 3:], block[:, :3], gain, dt_s, q0, mad_state, q_out[b0:b1])
        body_frame_into(q_out[b0:b1], block[:, :3], gravity_mps2, lin_out[b0:b1], tilt_out[b0:b1])
