"""Metrics per sliding window and per tagged segment, as a tidy table.

Windows are sample index ranges ``[start, stop)`` on one uniform signal. All windows of a
recording go to the Numba kernels in one call; spectral measures are computed with one
vectorised PSD per distinct window length. Each window is de-meaned on its own, so a
window's metrics equal :func:`prieto_measures` / :func:`isway_measures` of that slice.

Tags come from an events table (``contract.EVENT_COLUMNS``): a sliding window takes, for
each tag column, the value of the *shortest* tagged interval containing the window's
midpoint that has a value in that column (so a repetition row nested in an exercise row
wins for ``repetition``, and the exercise row still supplies ``support`` if the repetition
row leaves it empty). A segment is one event row with ``duration_s > 0`` (kinds ``note``
and ``perturbation`` excepted), tagged with its own values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics import _kernels as K
from dmi_sensors.metrics.isway import isway_from_stats
from dmi_sensors.metrics.prieto import ELLIPSE_METHODS, prieto_from_stats
from dmi_sensors.metrics.spectral import DEFAULT_SPECTRAL, SPECTRAL_KEYS, SpectralParams, spectral_measures

__all__ = [
    "TAG_COLUMNS",
    "read_events_csv",
    "segments_from_events",
    "sliding_windows",
    "tag_windows",
    "validate_events",
    "window_metrics",
]

#: tag columns of a window row (contract.WINDOW_COLUMNS without sensor_id/start_s/end_s)
TAG_COLUMNS = tuple(c for c in contract.WINDOW_COLUMNS if c not in ("sensor_id", "start_s", "end_s"))
_NOT_SEGMENTS = ("note", "perturbation")


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


def validate_events(events, source: str = "events table"):
    """Check an events DataFrame: required columns present, numeric onset/duration ≥ 0.

    Returns a copy with ``onset_s``/``duration_s`` as float and the optional columns present.
    Raises ``ValueError`` naming the source, row and column.
    """
    import pandas as pd

    missing = [c for c in contract.EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ParameterError(f"{source}: expected columns {', '.join(contract.EVENT_COLUMNS)}; missing {missing}")
    ev = events.copy()
    for col in ("onset_s", "duration_s"):
        values = pd.to_numeric(ev[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float)) | (values.to_numpy(dtype=float) < 0)
        if bad.any():
            i = int(np.argmax(bad))
            found = ev[col].iloc[i]
            raise ParameterError(f"{source}: row {i + 1}, column {col!r}: expected a number >= 0, found {found!r}")
        ev[col] = values.astype(float)
    for col in contract.EVENT_OPTIONAL_COLUMNS:
        if col not in ev.columns:
            ev[col] = None
    return ev.reset_index(drop=True)


def read_events_csv(path: str | Path):
    """Read an events CSV (header with ``contract.EVENT_COLUMNS``; optional kind, posture, note).

    Raises :class:`dmi_sensors.errors.DataFileError` naming the file, line and column.
    """
    import pandas as pd

    from dmi_sensors.errors import DataFileError

    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "", "an existing events CSV file", "no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataFileError(path, "", "a CSV events table", str(exc).splitlines()[0]) from None
    missing = [c for c in contract.EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFileError(path, "line 1 (header)", "columns " + ",".join(contract.EVENT_COLUMNS), f"no {missing}")
    frame = frame.replace({"": None})
    for col in ("onset_s", "duration_s"):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataFileError(path, f"line {i + 2}, column {col!r}", "a number >= 0", repr(frame[col].iloc[i]))
    return validate_events(frame, str(path))


def _tag_value(v):
    """A tag as plain Python: None for missing/NaN, int for integral numbers (repetitions)."""
    if v is None:
        return None
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return None
        return int(v) if float(v).is_integer() else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _tags_for(mid_s: np.ndarray, events) -> dict[str, list]:
    ev = events[events["duration_s"] > 0]
    out: dict[str, list] = {c: [None] * len(mid_s) for c in TAG_COLUMNS}
    if ev.empty:
        return out
    on = ev["onset_s"].to_numpy(float)
    end = on + ev["duration_s"].to_numpy(float)
    dur = ev["duration_s"].to_numpy(float)
    order = np.argsort(dur, kind="stable")  # shortest first
    for col in TAG_COLUMNS:
        if col not in ev.columns:
            continue
        values = [_tag_value(v) for v in ev[col].to_numpy(object)]
        has = np.array([v is not None for v in values])
        for i, m in enumerate(mid_s):
            inside = (on <= m) & (m < end) & has
            if inside.any():
                j = next(k for k in order if inside[k])
                out[col][i] = values[j]
    return out


def tag_windows(start_s: np.ndarray, end_s: np.ndarray, events=None) -> dict[str, list]:
    """Tags (``exercise, repetition, support, posture``) of windows by the midpoint rule."""
    mid = 0.5 * (np.asarray(start_s, float) + np.asarray(end_s, float))
    if events is None:
        return {c: [None] * len(mid) for c in TAG_COLUMNS}
    return _tags_for(mid, validate_events(events))


def segments_from_events(events, fs_hz: float, n_samples: int, t0_s: float = 0.0):
    """Sample ranges and tags of tagged segments.

    Returns ``(starts, stops, tags)`` with one entry per event row with ``duration_s > 0``
    (kinds ``note``/``perturbation`` excepted), clipped to the signal; rows entirely
    outside the signal are dropped. ``tags`` maps each of :data:`TAG_COLUMNS` to a list.
    """
    ev = validate_events(events)
    keep = (ev["duration_s"] > 0) & ~ev["kind"].isin(_NOT_SEGMENTS)
    ev = ev[keep]
    starts, stops, rows = [], [], []
    for i, row in ev.iterrows():
        a = max(0, round((row["onset_s"] - t0_s) * fs_hz))
        b = min(n_samples, round((row["onset_s"] + row["duration_s"] - t0_s) * fs_hz))
        if b - a >= 3:
            starts.append(a)
            stops.append(b)
            rows.append(i)
    tags = {c: [_tag_value(ev.at[i, c]) if c in ev.columns else None for i in rows] for c in TAG_COLUMNS}
    return np.array(starts, dtype=np.int64), np.array(stops, dtype=np.int64), tags


def _spectral_windows(x: np.ndarray, starts, stops, fs_hz, params: SpectralParams, demean_rd_of=None):
    """Spectral measures per window, one vectorised PSD per distinct window length."""
    out = {k: np.full(len(starts), np.nan) for k in SPECTRAL_KEYS}
    lengths = stops - starts
    for length in np.unique(lengths):
        sel = np.flatnonzero(lengths == length)
        idx = starts[sel, None] + np.arange(length)[None, :]
        if demean_rd_of is None:
            block = x[idx]
        else:
            ap, ml = demean_rd_of
            a = ap[idx]
            m = ml[idx]
            block = np.hypot(a - a.mean(axis=1, keepdims=True), m - m.mean(axis=1, keepdims=True))
        res = spectral_measures(block, fs_hz, params)
        for k in SPECTRAL_KEYS:
            out[k][sel] = res[k]
    return out


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
) -> dict[str, np.ndarray]:
    """Prieto (COM) and ISway (acceleration) metrics of every window, as name -> array.

    ``com_mm = (ap_mm, ml_mm)`` and ``acc_mps2 = (ap_mps2, ml_mps2)`` are whole signals; the
    windows are index ranges into them. Includes ``duration_s`` and ``n_samples``.
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
    if com_mm is not None:
        ap = np.ascontiguousarray(com_mm[0], dtype=np.float64)
        ml = np.ascontiguousarray(com_mm[1], dtype=np.float64)
        stats = K.planar_window_stats(ap, ml, starts, stops, np.empty((n_win, K.N_STATS)))
        out.update(prieto_from_stats(stats, fs_hz, ellipse_method))
        if with_spectral:
            rd = _spectral_windows(None, starts, stops, fs_hz, spectral, (ap, ml))
            out.update(_named_spectral("com", "", rd, "mm2"))
            out.update(_named_spectral("com", "_ap", _spectral_windows(ap, starts, stops, fs_hz, spectral), "mm2"))
            out.update(_named_spectral("com", "_ml", _spectral_windows(ml, starts, stops, fs_hz, spectral), "mm2"))
    if acc_mps2 is not None:
        ap = np.ascontiguousarray(acc_mps2[0], dtype=np.float64)
        ml = np.ascontiguousarray(acc_mps2[1], dtype=np.float64)
        stats = K.planar_window_stats(ap, ml, starts, stops, np.empty((n_win, K.N_STATS)))
        speed = K.integrated_speed_mean(ap, ml, starts, stops, float(fs_hz), np.empty(n_win))
        out.update(isway_from_stats(stats, speed, fs_hz))
        if with_spectral:
            out.update(_named_spectral("acc", "_ap", _spectral_windows(ap, starts, stops, fs_hz, spectral), "m2_s4"))
            out.update(_named_spectral("acc", "_ml", _spectral_windows(ml, starts, stops, fs_hz, spectral), "m2_s4"))
    return out
