"""Fused Numba kernel for the offline/live chain: calibrate -> low-pass -> Madgwick -> body frame.

One call runs the arithmetic of :func:`affine_into`,
:func:`~dmi_sensors.dsp._sos_kernels.sos_filter_into`,
:func:`~dmi_sensors.dsp._orientation_kernels.madgwick_imu_into` and
:func:`~dmi_sensors.dsp._bodyframe_kernels.body_frame_into` in one software-pipelined loop
(so its output equals running the stages one after the other), keeping every
intermediate in L1 cache and paying the Python/Numba call overhead once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from dmi_sensors.dsp._bodyframe_kernels import linear_step, tilt_step
from dmi_sensors.dsp._orientation_kernels import _initialise, madgwick_imu_into, madgwick_step, mahony_imu_into
from dmi_sensors.dsp._sos_kernels import PASS_MIN_ROWS, sos_filter_into, sos_filter_passes_into

__all__ = ["MADGWICK", "MAHONY", "affine_into", "imu_chain_into", "tilt_com_into"]

#: ``tilt_com_into``'s orientation filters (``cfg[0]``)
MAHONY = 0.0
MADGWICK = 1.0


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


#: Rows by which the front stage (calibrate + low-pass) runs ahead of Madgwick, and Madgwick
#: ahead of the gravity removal. Madgwick is one serial chain of ~130 cycles per sample
#: (two square roots and two divisions on its critical path); when the other stages work
#: on rows whose inputs are long ready, the out-of-order core runs them in the shadow of
#: that chain. Without the lag (every stage on the same row) the fused loop is slower than
#: stage-by-stage blocks.
LAG_ROWS = 16


@njit(cache=True)
def _initialise_from_row0(cal_out: np.ndarray, q0: np.ndarray, mstate: np.ndarray) -> None:
    _initialise(cal_out[0:1, 0:3], q0, mstate, 4)


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
    """Run the chain over ``n`` samples: one software-pipelined loop, then the tilts.

    ``acc``/``gyr`` (n, 3) in the sensor frame; ``zi`` (s, 2, 6) filter state over the six
    calibrated channels ``[acc, gyr]``; ``zi_unit`` (s, 2) steady-state unit response, or
    an empty (0, 2) array for zero initial conditions; ``mstate`` (6,) =
    ``[q(4), madgwick initialised, filter initialised]``. Outputs: ``cal_out`` (n, 6)
    calibrated and filtered ``[acc, gyr]``, ``q_out`` (n, 4), ``tilt_out`` (n, 2),
    ``lin_out`` (n, 3) gravity-free acceleration AP/ML/V.

    Iteration ``i`` calibrates and filters row ``i``, runs Madgwick on row
    ``i - LAG_ROWS`` and the gravity removal on row ``i - 2 LAG_ROWS``; the tilt angles
    (two libm calls per row, which crowd the out-of-order window when fused) follow in a
    second pass. Every row goes through exactly the arithmetic of :func:`affine_into`,
    :func:`~dmi_sensors.dsp._sos_kernels.sos_filter_into`,
    :func:`~dmi_sensors.dsp._orientation_kernels.madgwick_imu_into` and
    :func:`~dmi_sensors.dsp._bodyframe_kernels.body_frame_into`, each stage in sample
    order, so the outputs equal the stages run one after the other, bit for bit.
    """
    n = acc.shape[0]
    n_sections = sos.shape[0]
    # the calibration in registers (loaded from the arrays inside the loop, they would be
    # re-read every row: the compiler cannot rule out that the outputs alias them)
    am00, am01, am02 = acc_matrix[0, 0], acc_matrix[0, 1], acc_matrix[0, 2]
    am10, am11, am12 = acc_matrix[1, 0], acc_matrix[1, 1], acc_matrix[1, 2]
    am20, am21, am22 = acc_matrix[2, 0], acc_matrix[2, 1], acc_matrix[2, 2]
    gm00, gm01, gm02 = gyr_matrix[0, 0], gyr_matrix[0, 1], gyr_matrix[0, 2]
    gm10, gm11, gm12 = gyr_matrix[1, 0], gyr_matrix[1, 1], gyr_matrix[1, 2]
    gm20, gm21, gm22 = gyr_matrix[2, 0], gyr_matrix[2, 1], gyr_matrix[2, 2]
    ab0, ab1, ab2 = acc_bias[0], acc_bias[1], acc_bias[2]
    gb0, gb1, gb2 = gyr_bias[0], gyr_bias[1], gyr_bias[2]
    fresh = mstate[4] == 0.0
    qw = mstate[0]
    qx = mstate[1]
    qy = mstate[2]
    qz = mstate[3]
    for i in range(n + 2 * LAG_ROWS):
        # 1. calibrate (_affine) and low-pass (sos_filter_into's row body, in place) row i
        if i < n:
            y0 = acc[i, 0] - ab0
            y1 = acc[i, 1] - ab1
            y2 = acc[i, 2] - ab2
            cal_out[i, 0] = am00 * y0 + am01 * y1 + am02 * y2
            cal_out[i, 1] = am10 * y0 + am11 * y1 + am12 * y2
            cal_out[i, 2] = am20 * y0 + am21 * y1 + am22 * y2
            y0 = gyr[i, 0] - gb0
            y1 = gyr[i, 1] - gb1
            y2 = gyr[i, 2] - gb2
            cal_out[i, 3] = gm00 * y0 + gm01 * y1 + gm02 * y2
            cal_out[i, 4] = gm10 * y0 + gm11 * y1 + gm12 * y2
            cal_out[i, 5] = gm20 * y0 + gm21 * y1 + gm22 * y2
            if mstate[5] == 0.0:
                if zi_unit.shape[0] > 0:
                    for s in range(n_sections):
                        for k in range(2):
                            for ch in range(6):
                                zi[s, k, ch] = zi_unit[s, k] * cal_out[i, ch]
                mstate[5] = 1.0
            # sos_row_inplace's step with the channel count fixed at 6: Numba unrolls it here,
            # and calling the shared helper (runtime width) cost the chain ~20 % (9.5 vs 11 M rows/s)
            for s in range(n_sections):
                b0 = sos[s, 0]
                b1 = sos[s, 1]
                b2 = sos[s, 2]
                a1 = sos[s, 4]
                a2 = sos[s, 5]
                for ch in range(6):
                    x_cur = cal_out[i, ch]
                    x_new = b0 * x_cur + zi[s, 0, ch]
                    zi[s, 0, ch] = b1 * x_cur - a1 * x_new + zi[s, 1, ch]
                    zi[s, 1, ch] = b2 * x_cur - a2 * x_new
                    cal_out[i, ch] = x_new
        # 2. Madgwick on row r (the first row of a fresh state sets the attitude)
        r = i - LAG_ROWS
        if 0 <= r < n:
            if r == 0 and fresh:
                _initialise_from_row0(cal_out, q0, mstate)
                qw = mstate[0]
                qx = mstate[1]
                qy = mstate[2]
                qz = mstate[3]
            else:
                qw, qx, qy, qz = madgwick_step(
                    qw,
                    qx,
                    qy,
                    qz,
                    cal_out[r, 3],
                    cal_out[r, 4],
                    cal_out[r, 5],
                    cal_out[r, 0],
                    cal_out[r, 1],
                    cal_out[r, 2],
                    gain,
                    dt_s,
                )
            q_out[r, 0] = qw
            q_out[r, 1] = qx
            q_out[r, 2] = qy
            q_out[r, 3] = qz
        # 3. gravity removal in the heading frame on row j
        j = i - 2 * LAG_ROWS
        if 0 <= j < n:
            lin_out[j, 0], lin_out[j, 1], lin_out[j, 2] = linear_step(
                q_out[j, 0],
                q_out[j, 1],
                q_out[j, 2],
                q_out[j, 3],
                cal_out[j, 0],
                cal_out[j, 1],
                cal_out[j, 2],
                gravity_mps2,
            )
    mstate[0] = qw
    mstate[1] = qx
    mstate[2] = qy
    mstate[3] = qz
    for i in range(n):
        tilt_out[i, 0], tilt_out[i, 1] = tilt_step(q_out[i, 0], q_out[i, 1], q_out[i, 2], q_out[i, 3])


@njit(cache=True)
def tilt_com_into(
    acc: np.ndarray,
    gyr: np.ndarray,
    gap: np.ndarray,
    cfg: np.ndarray,
    ostate: np.ndarray,
    q0: np.ndarray,
    sos: np.ndarray,
    zi_unit: np.ndarray,
    zi: np.ndarray,
    lp_started: np.ndarray,
    tilt_out: np.ndarray,
    com_out: np.ndarray,
) -> None:
    """Causal tilt and pendulum COM of ``n`` samples, streaming (the arithmetic of
    :class:`dmi_sensors.live.LiveSignals`), in one call.

    ``acc`` (n, 3) m/s², ``gyr`` (n, 3) rad/s, ``gap`` (n,) bool: every stage restarts
    before a flagged sample. ``cfg`` = ``[filter (MAHONY or MADGWICK), k_p, k_i, madgwick
    gain, dt_s, COM scale 1000·h_com mm (0: no COM, outputs NaN), low-pass (1.0 or 0.0)]``;
    ``ostate`` the orientation kernel's state (Mahony (8,), Madgwick (5,); zeros = not
    initialised); ``q0`` empty (attitude from the first sample's accelerometer); ``sos``
    (s, 6), ``zi_unit`` (s, 2) its steady state, ``zi`` (s, 2, 2) delay registers (AP, ML),
    ``lp_started`` (1,) 1.0 once the low-pass has its first sample. Outputs ``tilt_out``
    (n, 2) AP, ML rad and ``com_out`` (n, 2) AP, ML mm (any strides).

    Per gap-free segment, in order: :func:`mahony_imu_into` or :func:`madgwick_imu_into`,
    ``tilt_step`` per row (:func:`~dmi_sensors.dsp.body_frame`'s tilt), ``COM = scale ·
    sin(tilt)``, then the COM low-pass as :class:`dmi_sensors.dsp.SosFilter` with
    ``initial="steady"`` runs it (:func:`sos_filter_into` below ``PASS_MIN_ROWS`` rows,
    :func:`sos_filter_passes_into` from there): the same kernels on the same segments, so
    the outputs equal those stages run one after the other, bit for bit.
    """
    n = acc.shape[0]
    if n == 0:
        return
    q = np.empty((n, 4))
    com = np.empty((n, 2))
    madgwick = cfg[0] == MADGWICK
    scale = cfg[5]
    lowpass = cfg[6] != 0.0
    a = 0
    while a < n:
        b = a + 1
        while b < n and not gap[b]:
            b += 1
        if gap[a]:
            ostate[:] = 0.0
            zi[:] = 0.0
            lp_started[0] = 0.0
        if madgwick:
            madgwick_imu_into(gyr[a:b], acc[a:b], cfg[3], cfg[4], q0, ostate, q[a:b])
        else:
            mahony_imu_into(gyr[a:b], acc[a:b], cfg[1], cfg[2], cfg[4], q0, ostate, q[a:b])
        for i in range(a, b):
            ap, ml = tilt_step(q[i, 0], q[i, 1], q[i, 2], q[i, 3])
            tilt_out[i, 0] = ap
            tilt_out[i, 1] = ml
            if scale > 0.0:
                com[i, 0] = math.sin(ap) * scale
                com[i, 1] = math.sin(ml) * scale
            else:
                com_out[i, 0] = np.nan
                com_out[i, 1] = np.nan
        if scale > 0.0:
            if lowpass:
                if lp_started[0] == 0.0:
                    for s in range(sos.shape[0]):
                        for k in range(2):
                            for ch in range(2):
                                zi[s, k, ch] = zi_unit[s, k] * com[a, ch]
                    lp_started[0] = 1.0
                if b - a < PASS_MIN_ROWS:
                    sos_filter_into(sos, com[a:b], zi, com_out[a:b])
                else:
                    sos_filter_passes_into(sos, com[a:b], zi, com_out[a:b])
            else:
                for i in range(a, b):
                    com_out[i, 0] = com[i, 0]
                    com_out[i, 1] = com[i, 1]
        a = b
