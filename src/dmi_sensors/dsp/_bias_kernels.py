"""Numba kernel of the on-line gyro-bias tracker (:class:`dmi_sensors.dsp.GyroBiasTracker`).

State array layout (float64, updated in place so calls chain packet by packet)::

    [0:6]    rest low-pass of the gyro, per axis two DF2T states (z1, z2)   (x, y, z)
    [6:12]   rest low-pass of the accelerometer, the same layout
    [12:15]  bias estimate b (rad/s)
    [15:18]  its variance P (rad²/s²)
    [18]     time spent inside the rest thresholds so far (s)
    [19]     1.0 once initialised (the first sample sets the low-passes' steady state)
    [20]     number of samples judged "at rest"
    [21]     number of samples processed
    [22:28]  measurement low-pass of the gyro (the bias reading), per axis (z1, z2)

Per sample (see the class docs for the equations): low-pass gyro and accelerometer
(2nd-order Butterworth, direct form II transposed), rest test on the deviations, predict
``P += q``, and once at rest for long enough the update ``K = P/(P + r)``,
``b += K (LPm(ω) - b)``, ``P -= K P`` with ``LPm`` the slower measurement low-pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["STATE_SIZE", "gyro_bias_track_into"]

STATE_SIZE = 28


@njit(cache=True)
def _lowpass_step(x: float, b0: float, b1: float, b2: float, a1: float, a2: float, st: np.ndarray, k: int) -> float:
    y = b0 * x + st[k]
    st[k] = b1 * x - a1 * y + st[k + 1]
    st[k + 1] = b2 * x - a2 * y
    return y


@njit(cache=True)
def gyro_bias_track_into(
    acc: np.ndarray,
    gyr: np.ndarray,
    coef: np.ndarray,
    coef_m: np.ndarray,
    dt_s: float,
    th_gyr2: float,
    th_acc2: float,
    rest_min_s: float,
    update_after_s: float,
    clip_rps: float,
    q: float,
    r: float,
    state: np.ndarray,
    out: np.ndarray,
    var_out: np.ndarray,
) -> None:
    """Track the gyro bias over ``n`` samples (``acc``, ``gyr`` ``(n, 3)``).

    ``coef`` = ``[b0, b1, b2, a1, a2]`` of the rest low-pass, ``coef_m`` of the measurement
    low-pass; thresholds are squared; updates need ``update_after_s`` of rest; ``q``, ``r``
    the process and measurement variances per sample. Writes the estimate after
    each sample into ``out`` ``(n, 3)`` and its variance into ``var_out`` (``(n, 3)`` or
    ``(0, 3)`` for none).
    """
    b0 = coef[0]
    b1 = coef[1]
    b2 = coef[2]
    a1 = coef[3]
    a2 = coef[4]
    m0 = coef_m[0]
    m1 = coef_m[1]
    m2 = coef_m[2]
    n1 = coef_m[3]
    n2 = coef_m[4]
    n = gyr.shape[0]
    want_var = var_out.shape[0] == n
    for i in range(n):
        if state[19] == 0.0:
            # steady state of the low-passes for a constant input equal to this sample
            for ax in range(3):
                g = gyr[i, ax]
                a = acc[i, ax]
                state[2 * ax + 1] = (b2 - a2) * g
                state[2 * ax] = (b1 - a1) * g + state[2 * ax + 1]
                state[6 + 2 * ax + 1] = (b2 - a2) * a
                state[6 + 2 * ax] = (b1 - a1) * a + state[6 + 2 * ax + 1]
                state[22 + 2 * ax + 1] = (m2 - n2) * g
                state[22 + 2 * ax] = (m1 - n1) * g + state[22 + 2 * ax + 1]
            state[19] = 1.0
        dev_g = 0.0
        dev_a = 0.0
        lp0 = _lowpass_step(gyr[i, 0], b0, b1, b2, a1, a2, state, 0)
        lp1 = _lowpass_step(gyr[i, 1], b0, b1, b2, a1, a2, state, 2)
        lp2 = _lowpass_step(gyr[i, 2], b0, b1, b2, a1, a2, state, 4)
        y0 = _lowpass_step(gyr[i, 0], m0, m1, m2, n1, n2, state, 22)
        y1 = _lowpass_step(gyr[i, 1], m0, m1, m2, n1, n2, state, 24)
        y2 = _lowpass_step(gyr[i, 2], m0, m1, m2, n1, n2, state, 26)
        d = gyr[i, 0] - lp0
        dev_g += d * d
        d = gyr[i, 1] - lp1
        dev_g += d * d
        d = gyr[i, 2] - lp2
        dev_g += d * d
        for ax in range(3):
            la = _lowpass_step(acc[i, ax], b0, b1, b2, a1, a2, state, 6 + 2 * ax)
            d = acc[i, ax] - la
            dev_a += d * d
        near = abs(lp0 - state[12]) <= clip_rps and abs(lp1 - state[13]) <= clip_rps
        still = dev_g < th_gyr2 and dev_a < th_acc2 and near and abs(lp2 - state[14]) <= clip_rps
        if still:
            state[18] += dt_s
        else:
            state[18] = 0.0
        rest = state[18] >= rest_min_s
        update = state[18] >= update_after_s
        for ax in range(3):
            p = state[15 + ax] + q
            if update:
                y = y0 if ax == 0 else (y1 if ax == 1 else y2)
                k = p / (p + r)
                state[12 + ax] += k * (y - state[12 + ax])
                p = p - k * p
            state[15 + ax] = p
            out[i, ax] = state[12 + ax]
            if want_var:
                var_out[i, ax] = p
        if rest:
            state[20] += 1.0
        state[21] += 1.0
