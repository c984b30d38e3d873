"""Window maths on arrays: sliding windows, time intervals as sample ranges, metrics per window.

Windows are sample index ranges ``[start, stop)`` on one uniform signal. All windows of a
recording go to the Numba kernels in one call; spectral measures are computed with one
vectorised PSD per distinct window length. Each window is de-meaned on its own, so a
window's metrics equal :func:`prieto_measures` / :func:`isway_measures` of that slice.

Nothing here knows events or tags: the windows are tagged, and events turned into segments,
by :mod:`dmi_sensors.session.windows` (which uses :func:`interval_samples`).
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics import _kernels as K
from dmi_sensors.metrics.isway import VELOCITY_HIGHPASS_HZ, isway_from_stats, sway_velocity
from dmi_sensors.metrics.prieto import ELLIPSE_METHODS, prieto_from_stats
from dmi_sensors.metrics.spectral import DEFAULT_SPECTRAL, SPECTRAL_KEYS, SpectralParams, spectral_measures
from dmi_sensors.metrics.structure import DEFAULT_SAMPEN, SampEnParams, structure_windows

__all__ = ["channel_spectral_windows", "interval_samples", "sliding_windows", "window_metrics"]


def sliding_windows(
    n_samples: int, fs_hz: float, window_s: float, step_s: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop sample indices of full windows of ``window_s`` every ``step_s``.

    ``step_s`` defaults to ``window_s`` (adjacent, non-overlapping). A trailing part shorter
    than a window is not analysed.
    """
    if window_s <= 0:
        raise ParameterError(f"window_s must be positive, got {window_s}")
    width = round(window_s * fs_hz)
    step = width if step_s is None else round(step_s * fs_hz)
    if width < 3 or step < 1:
        raise ParameterError(f"window_s={window_s} and step_s={step_s} give {width} samples/{step} step at {fs_hz} Hz")
    starts = np.arange(0, max(n_samples - width + 1, 0), step, dtype=np.int64)
    return starts, starts + width


def interval_samples(
    onset_s: np.ndarray, end_s: np.ndarray, fs_hz: float, n_samples: int, t0_s: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Sample index ranges ``[start, stop)`` of time intervals ``[onset_s, end_s)`` on one signal.

    The signal is uniform at ``fs_hz`` with sample 0 at ``t0_s`` and ``n_samples`` samples:
    ``start = round((onset_s - t0_s) * fs_hz)``, ``stop = round((end_s - t0_s) * fs_hz)``
    (round half to even), both clipped to ``[0, n_samples]``. An interval wholly outside the
    signal gives ``stop <= start``.
    """
    if not (np.isfinite(fs_hz) and fs_hz > 0):
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    on = np.asarray(onset_s, dtype=np.float64)
    off = np.asarray(end_s, dtype=np.float64)
    start = np.clip(np.rint((on - t0_s) * fs_hz), 0, n_samples).astype(np.int64)
    stop = np.clip(np.rint((off - t0_s) * fs_hz), 0, n_samples).astype(np.int64)
    return start, stop


def _spectral_windows(
    signal: np.ndarray | tuple[np.ndarray, np.ndarray],
    starts: np.ndarray,
    stops: np.ndarray,
    fs_hz: float,
    params: SpectralParams,
) -> dict[str, np.ndarray]:
    """Spectral measures per window of one signal (:func:`_spectral_windows_many` of one)."""
    return _spectral_windows_many([signal], starts, stops, fs_hz, params)[0]


def _spectral_windows_many(
    signals: list[np.ndarray | tuple[np.ndarray, np.ndarray]],
    starts: np.ndarray,
    stops: np.ndarray,
    fs_hz: float,
    params: SpectralParams,
) -> list[dict[str, np.ndarray]]:
    """Spectral measures per window of several signals: one vectorised PSD per distinct window
    length for all of them (the windows of every signal stacked as rows).

    A signal is one channel, or ``(ap, ml)``: then the resultant distance of each window's
    de-meaned AP/ML. How many rows share a PSD call changes the last bits of numpy's FFT and
    means (vectorised over rows), so a window's measures equal its own
    :func:`spectral_measures` to rounding (relative 1e-12, tested), not bit for bit.
    """
    n_win = len(starts)
    outs = [{k: np.full(n_win, np.nan) for k in SPECTRAL_KEYS} for _ in signals]
    lengths = stops - starts
    for length in np.unique(lengths):
        sel = np.flatnonzero(lengths == length)
        idx = starts[sel, None] + np.arange(length)[None, :]
        blocks = []
        for signal in signals:
            if isinstance(signal, tuple):
                a = signal[0][idx]
                m = signal[1][idx]
                blocks.append(np.hypot(a - a.mean(axis=1, keepdims=True), m - m.mean(axis=1, keepdims=True)))
            else:
                blocks.append(signal[idx])
        res = spectral_measures(np.concatenate(blocks) if len(blocks) > 1 else blocks[0], fs_hz, params)
        k = len(sel)
        for i, out in enumerate(outs):
            for key in SPECTRAL_KEYS:
                out[key][sel] = np.asarray(res[key])[i * k : (i + 1) * k]
    return outs


def channel_spectral_windows(
    x: np.ndarray, starts: np.ndarray, stops: np.ndarray, fs_hz: float, params: SpectralParams = DEFAULT_SPECTRAL
) -> dict[str, np.ndarray]:
    """Spectral measures (``SPECTRAL_KEYS``: power, f50, f95, cfreq, freqd, mpf) of one channel
    in every window ``[starts[i], stops[i])``, each window de-meaned."""
    return _spectral_windows(
        np.ascontiguousarray(x, dtype=np.float64),
        np.asarray(starts, dtype=np.int64),
        np.asarray(stops, dtype=np.int64),
        fs_hz,
        params,
    )


def _named_spectral(prefix, ax, res, power_unit):
    return {
        f"{prefix}_power{ax}_{power_unit}": res["power"],
        f"{prefix}_f50{ax}_hz": res["f50"],
        f"{prefix}_f95{ax}_hz": res["f95"],
        f"{prefix}_cfreq{ax}_hz": res["cfreq"],
        f"{prefix}_freqd{ax}": res["freqd"],
        f"{prefix}_mpf{ax}_hz": res["mpf"],
    }


def window_metrics(
    fs_hz: float,
    starts: np.ndarray,
    stops: np.ndarray,
    *,
    com_mm: tuple[np.ndarray, np.ndarray] | None = None,
    acc_mps2: tuple[np.ndarray, np.ndarray] | None = None,
    ellipse_method: str = "prediction_F",
    spectral: SpectralParams = DEFAULT_SPECTRAL,
    with_spectral: bool = True,
    velocity_mps: tuple[np.ndarray, np.ndarray] | None = None,
    velocity_highpass_hz: float = VELOCITY_HIGHPASS_HZ,
    sampen: SampEnParams | None = DEFAULT_SAMPEN,
) -> dict[str, np.ndarray]:
    """Prieto (COM) and ISway (acceleration) metrics of every window, as name -> array.

    ``com_mm = (ap_mm, ml_mm)`` and ``acc_mps2 = (ap_mps2, ml_mps2)`` are whole signals; the
    windows are index ranges into them. Includes ``duration_s`` and ``n_samples``. The ISway
    mean velocity is the mean speed of ``velocity_mps`` (the whole signal's drift-free
    velocity, :func:`dmi_sensors.metrics.isway.sway_velocity`) in each window when given, else
    of each window's own drift-free velocity (then equal to :func:`isway_measures` of the
    slice; a 0.1 Hz high-pass means little in a 2 s window: pass the whole signal's).
    With ``com_mm`` also the principal sway direction and, unless ``sampen`` is None, the
    COM's sample entropy (:mod:`dmi_sensors.metrics.structure`).
    """
    if ellipse_method not in ELLIPSE_METHODS:
        raise ParameterError(f"ellipse_method must be one of {ELLIPSE_METHODS}, got {ellipse_method!r}")
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    stops = np.ascontiguousarray(stops, dtype=np.int64)
    n_win = starts.shape[0]
    out: dict[str, np.ndarray] = {
        "duration_s": (stops - starts) / fs_hz,
        "n_samples": (stops - starts).astype(np.float64),
    }
    if n_win == 0:
        return out
    com = acc = None
    if com_mm is not None:
        com = (np.ascontiguousarray(com_mm[0], dtype=np.float64), np.ascontiguousarray(com_mm[1], dtype=np.float64))
    if acc_mps2 is not None:
        acc = (np.ascontiguousarray(acc_mps2[0], dtype=np.float64), np.ascontiguousarray(acc_mps2[1], dtype=np.float64))
    # every spectrum of every window in one pass per distinct window length
    spectral_inputs: list[np.ndarray | tuple[np.ndarray, np.ndarray]] = []
    if with_spectral:
        spectral_inputs += [com, com[0], com[1]] if com is not None else []
        spectral_inputs += [acc[0], acc[1]] if acc is not None else []
    spectra = iter(_spectral_windows_many(spectral_inputs, starts, stops, fs_hz, spectral) if spectral_inputs else [])
    if com is not None:
        ap, ml = com
        stats = K.planar_window_stats(ap, ml, starts, stops, np.empty((n_win, K.N_STATS)))
        out.update(prieto_from_stats(stats, fs_hz, ellipse_method))
        var_ap, var_ml, cov = stats[:, K.S_VAR_AP], stats[:, K.S_VAR_ML], stats[:, K.S_COV]
        out.update(structure_windows(ap, ml, fs_hz, starts, stops, var_ap, var_ml, cov, sampen))
        if with_spectral:
            out.update(_named_spectral("com", "", next(spectra), "mm2"))
            out.update(_named_spectral("com", "_ap", next(spectra), "mm2"))
            out.update(_named_spectral("com", "_ml", next(spectra), "mm2"))
    if acc is not None:
        ap, ml = acc
        stats = K.planar_window_stats(ap, ml, starts, stops, np.empty((n_win, K.N_STATS)))
        if velocity_mps is not None:
            v_ap = np.ascontiguousarray(velocity_mps[0], dtype=np.float64)
            v_ml = np.ascontiguousarray(velocity_mps[1], dtype=np.float64)
            speed = K.speed_mean(v_ap, v_ml, starts, stops, np.empty(n_win))
        else:
            speed = np.empty(n_win)
            for w in range(n_win):
                a, b = int(starts[w]), int(stops[w])
                if b - a < 3:
                    speed[w] = np.nan
                    continue
                v_ap, v_ml = sway_velocity(ap[a:b], ml[a:b], fs_hz, velocity_highpass_hz)
                speed[w] = float(np.mean(np.hypot(v_ap, v_ml)))
        out.update(isway_from_stats(stats, speed, fs_hz))
        if with_spectral:
            out.update(_named_spectral("acc", "_ap", next(spectra), "m2_s4"))
            out.update(_named_spectral("acc", "_ml", next(spectra), "m2_s4"))
    return out
