"""Numba kernels of the live path: one call per BLE packet for a sensor's time, tilt, COM and
the running sums of the repetition in progress (:class:`dmi_sensors.live.metrics.LiveSensor`).

A 16-sensor recording at 1 kHz drains about 840 packets a second, each one packet of one
sensor (19 samples); every Python or Numba call per packet costs about 0.1 % of a core, so
the per-sample stages run in one call. They call the stages' own kernels
(:func:`~dmi_sensors.timing._clock_kernels.streaming_times_into`,
:func:`~dmi_sensors.dsp._chain_kernels.tilt_com_into`), so the values are those of
:class:`~dmi_sensors.timing.StreamingClock` and :class:`~dmi_sensors.live.LiveSignals`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dmi_sensors.dsp._chain_kernels import tilt_com_into
from dmi_sensors.timing._clock_kernels import streaming_times_into

__all__ = ["live_rows_into", "running_sums_add"]


@njit(cache=True)
def running_sums_add(rows: np.ndarray, i0: int, col: int, sums: np.ndarray) -> None:
    """Add rows ``i0..`` of columns ``col, col + 1`` (AP, ML) to ``sums`` = ``[n, Σap, Σml,
    Σap², Σml²]``, one sample after the other (so the sums do not depend on how the samples
    were split into batches)."""
    for i in range(i0, rows.shape[0]):
        x = rows[i, col]
        y = rows[i, col + 1]
        sums[0] += 1.0
        sums[1] += x
        sums[2] += y
        sums[3] += x * x
        sums[4] += y * y


@njit(cache=True)
def live_rows_into(
    counter: np.ndarray,
    host_s: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    gap: np.ndarray,
    fs_hz: float,
    drift_r: float,
    clock_state: np.ndarray,
    cfg: np.ndarray,
    ostate: np.ndarray,
    q0: np.ndarray,
    sos: np.ndarray,
    zi_unit: np.ndarray,
    zi: np.ndarray,
    lp_started: np.ndarray,
    rows: np.ndarray,
    add_to_sums: bool,
    run_col: int,
    run_sums: np.ndarray,
) -> None:
    """Fill ``rows`` (n, 6) = ``[time s, tilt AP rad, tilt ML rad, COM AP mm, COM ML mm, gap]``
    for the next ``n`` samples and, with ``add_to_sums``, add them all to the running sums.

    ``counter`` (unwrapped), ``host_s`` (arrival times), ``acc``/``gyr`` (n, 3), ``gap``
    (n,) as :class:`~dmi_sensors.types.SampleBatch`; ``fs_hz``, ``drift_r``,
    ``clock_state``: the :class:`~dmi_sensors.timing.StreamingClock`'s;
    ``cfg`` ... ``lp_started``: the :class:`~dmi_sensors.live.LiveSignals`' (see
    :func:`~dmi_sensors.dsp._chain_kernels.tilt_com_into`). ``run_col``: 3 (COM) or 1 (tilt).
    """
    n = counter.shape[0]
    streaming_times_into(counter, host_s, fs_hz, drift_r, clock_state, rows[:, 0])
    tilt_com_into(acc, gyr, gap, cfg, ostate, q0, sos, zi_unit, zi, lp_started, rows[:, 1:3], rows[:, 3:5])
    for i in range(n):
        rows[i, 5] = 1.0 if gap[i] else 0.0
    if add_to_sums:
        running_sums_add(rows, 0, run_col, run_sums)
