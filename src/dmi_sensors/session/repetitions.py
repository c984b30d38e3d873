"""Automatic repetition detection from movement bursts.

A DMI repetition starts with a movement (the child is moved into, or moves into, the
position) followed by a hold. Bursts of movement are found on an **envelope**:

1. band-pass each axis (``band_hz``, default 0.3-5 Hz, zero-phase Butterworth; removes
   gyroscope bias and, for the accelerometer, gravity), take the vector magnitude;
2. envelope = centred moving RMS over ``envelope_s`` (default 0.5 s);
3. **quiet baseline** = the ``baseline_quantile`` (default 20 %) of the envelope over the
   analysed stretch; thresholds are relative to it:
   ``on = max(on_ratio * baseline, baseline + min_rise)``,
   ``off = baseline + off_fraction * (on - baseline)``;
4. bursts are envelope peaks at least ``on`` high and standing out from their
   surroundings by at least ``on - baseline`` (peak prominence); a burst's **extent** grows
   from its peak to where the envelope falls below ``max(off, edge_fraction * peak)`` on
   each side, but not past the lowest point towards a neighbouring peak (the relative edge
   keeps a strong burst's filter ringing from swallowing the quiet gap after it);
5. extents closer than ``min_gap_s`` are joined; so is a weak burst (peak below
   ``echo_fraction`` of the previous burst's peak) starting within ``echo_s`` of the end of
   the previous one (the band-pass filter rings after a sudden movement, and small
   after-movements are not a new repetition); bursts shorter than ``min_burst_s`` are
   dropped.

The burst **onset** is the start of its extent. For a burst of steady amplitude the centred
RMS envelope reaches half its plateau a quarter window early, so onsets lead the movement by
about ``envelope_s / 4`` (at most ``envelope_s / 2``).

With an events table, detection runs separately inside each ``kind="exercise"`` row
(baseline per exercise) and repetitions are numbered 1, 2, ... within it and carry its
exercise id and support; without one the whole recording is one stretch with
``exercise=""``. Rows have ``kind="repetition"``, ``source="auto"``.

Limits: a child who never settles between repetitions gives one long burst; a burst that
starts before the stretch starts is cut at its start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors.dsp import moving_rms
from dmi_sensors.errors import ParameterError
from dmi_sensors.session import _signal
from dmi_sensors.session.events import EventRecord, events_frame, normalise_events

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RepetitionParams", "detect_bursts", "detect_repetitions", "movement_envelope"]


@dataclass(frozen=True, slots=True)
class RepetitionParams:
    """Parameters of :func:`detect_repetitions` (saved with results).

    ``min_rise`` is in the unit of the signal used: rad/s for the gyroscope (default
    0.04 rad/s), m/s^2 for the accelerometer (use about 0.3 m/s^2).
    """

    band_hz: tuple[float, float] = (0.3, 5.0)
    envelope_s: float = 0.5
    baseline_quantile: float = 0.2
    on_ratio: float = 2.5
    min_rise: float = 0.04
    off_fraction: float = 0.4
    edge_fraction: float = 0.3
    min_burst_s: float = 0.4
    min_gap_s: float = 0.8
    echo_fraction: float = 0.3
    echo_s: float = 2.0


def movement_envelope(signal_xyz: np.ndarray, fs_hz: float, params: RepetitionParams | None = None) -> np.ndarray:
    """Band-passed vector magnitude's centred moving RMS, shape ``(n,)`` (steps 1-2 above)."""
    p = params or RepetitionParams()
    x = np.asarray(signal_xyz, dtype=np.float64)
    if x.shape[0] < 2:
        return np.zeros(x.shape[0])
    w = _signal.bandpass(x, fs_hz, *p.band_hz)
    return moving_rms(np.linalg.norm(w, axis=1), max(1, round(p.envelope_s * fs_hz)))


def detect_bursts(envelope: np.ndarray, fs_hz: float, params: RepetitionParams | None = None) -> list[tuple[int, int]]:
    """Bursts as half-open sample ranges ``[start, stop)`` of one envelope (steps 3-5)."""
    p = params or RepetitionParams()
    env = np.asarray(envelope, dtype=np.float64)
    if env.shape[0] == 0:
        return []
    base = float(np.quantile(env, p.baseline_quantile))
    on = max(p.on_ratio * base, base + p.min_rise)
    off = base + p.off_fraction * (on - base)
    from scipy.signal import find_peaks  # here, not at import: scipy.signal costs ~0.3 s of start-up

    peaks, _ = find_peaks(env, height=on, prominence=on - base)
    extents: list[tuple[int, int, float]] = []
    for i, k in enumerate(peaks):
        # bounds: the lowest point between this peak and each neighbouring peak
        lo = int(peaks[i - 1] + np.argmin(env[peaks[i - 1] : k])) if i > 0 else 0
        hi = int(k + np.argmin(env[k : peaks[i + 1]])) if i + 1 < len(peaks) else env.shape[0]
        level = max(off, p.edge_fraction * float(env[k]))
        below_left = np.flatnonzero(env[lo:k] < level)
        below_right = np.flatnonzero(env[k:hi] < level)
        start = lo + int(below_left[-1]) + 1 if below_left.size else lo
        stop = int(k) + int(below_right[0]) if below_right.size else hi
        extents.append((start, stop, float(env[k])))
    merged: list[tuple[int, int]] = []
    merged_peaks: list[float] = []
    min_gap, echo = p.min_gap_s * fs_hz, p.echo_s * fs_hz
    for a, b, peak in extents:
        if merged:
            gap = a - merged[-1][1]
            if gap < echo and peak < p.echo_fraction * merged_peaks[-1]:
                continue  # an echo: part of the previous burst, which keeps its extent
            if gap < min_gap:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
                merged_peaks[-1] = max(merged_peaks[-1], peak)
                continue
        merged.append((a, b))
        merged_peaks.append(peak)
    return [(a, b) for a, b in merged if b - a >= p.min_burst_s * fs_hz]


def detect_repetitions(
    time_s: np.ndarray,
    acc_mps2: np.ndarray | None = None,
    gyr_rps: np.ndarray | None = None,
    *,
    fs_hz: float,
    events: pd.DataFrame | None = None,
    params: RepetitionParams | None = None,
) -> pd.DataFrame:
    """Repetitions as an events table (``kind="repetition"``, ``source="auto"``).

    Parameters
    ----------
    time_s
        Sample times, s since session start, uniform at ``fs_hz``, shape ``(n,)``.
    acc_mps2, gyr_rps
        Trunk specific force (m/s^2) or angular rate (rad/s), shape ``(n, 3)``; the
        gyroscope is used when given (it has no gravity and little noise), else the
        accelerometer (then set ``params.min_rise`` in m/s^2).
    fs_hz
        Sample rate, Hz (keyword only).
    events
        Optional events table: detection runs within each ``kind="exercise"`` row.
    params
        :class:`RepetitionParams`.

    Returns
    -------
    pandas.DataFrame
        One row per repetition: onset = burst onset, duration = until the next burst's
        onset (or the end of the stretch), so repetitions tile the stretch from the first
        burst on.
    """
    p = params or RepetitionParams()
    t, arrs = _signal.check_inputs(time_s, fs_hz, acc_mps2=acc_mps2, gyr_rps=gyr_rps)
    x = arrs["gyr_rps"] if arrs["gyr_rps"] is not None else arrs["acc_mps2"]
    if x is None:
        raise ParameterError("detect_repetitions needs gyr_rps or acc_mps2")
    n = t.shape[0]
    if n == 0:
        return events_frame([])
    end_s = float(t[-1]) + 1.0 / fs_hz
    stretches: list[tuple[float, float, str, str]] = []
    if events is not None and len(events):
        ev = normalise_events(events)
        ex = ev[ev["kind"] == "exercise"]
        ex_onsets = ex["onset_s"].to_numpy(dtype=np.float64)
        ex_ends = ex_onsets + ex["duration_s"].to_numpy(dtype=np.float64)
        for onset, end, exercise, support in zip(
            ex_onsets, ex_ends, ex["exercise"].tolist(), ex["support"].tolist(), strict=True
        ):
            stretches.append((float(onset), float(end), str(exercise), str(support)))
    else:
        stretches.append((float(t[0]), end_s, "", ""))
    records: list[EventRecord] = []
    for t0, t1, exercise, support in stretches:
        a, b = np.searchsorted(t, [t0, t1], side="left")
        if b - a < 2:
            continue
        env = movement_envelope(x[a:b], fs_hz, p)
        onsets = [float(t[a + i]) for i, _ in detect_bursts(env, fs_hz, p)]
        for k, onset in enumerate(onsets):
            stop = onsets[k + 1] if k + 1 < len(onsets) else min(t1, end_s)
            records.append(
                EventRecord(
                    onset,
                    stop - onset,
                    exercise=exercise,
                    repetition=k + 1,
                    support=support,
                    source="auto",
                    kind="repetition",
                )
            )
    return events_frame(records)
