"""Session-level analysis: stored raw packets -> per-exercise postural-control results.

``protocol.decode_stream`` -> ``timing`` (drift-corrected times, gaps, uniform grid split
at gaps) -> ``calibration`` (when known) -> ``metrics.analyze_trial`` (orientation, body
frame, COM, Prieto / ISway, time to stabilise) per gap-free piece, tagged by the session's
events -> per-repetition and per-exercise tables -> saved in the store with parameters and
package version. See ``docs/reports.md``.

>>> from dmi_sensors.analysis import analyse_session       # doctest: +SKIP
>>> result = analyse_session(store, session_id)             # doctest: +SKIP
>>> result.exercises[["exercise", "support", "com_ellipse_area_mm2"]]  # doctest: +SKIP
"""

from dmi_sensors.analysis.pipeline import (
    EXERCISE_METRICS,
    RESULT_NAMES,
    SessionAnalysis,
    SessionAnalysisParams,
    analyse_session,
    analyse_signals,
    exercise_table,
    load_calibration,
    repetition_table,
    save_analysis,
)
from dmi_sensors.analysis.signals import SensorSignals, clock_runs, prepare_sensor

__all__ = [
    "EXERCISE_METRICS",
    "RESULT_NAMES",
    "SensorSignals",
    "SessionAnalysis",
    "SessionAnalysisParams",
    "analyse_session",
    "analyse_signals",
    "clock_runs",
    "exercise_table",
    "load_calibration",
    "prepare_sensor",
    "repetition_table",
    "save_analysis",
]
