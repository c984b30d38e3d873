"""Analysis pipelines that join the layers: one trial, or one stored session.

* :mod:`~dmi_sensors.analysis.trial` — :func:`analyse_trial`: a :class:`~dmi_sensors.types.Trial`
  (one trunk IMU, body-aligned, uniform rate) -> orientation, body frame, COM, Prieto / ISway
  measures per window and per tagged segment, time to stabilise (:class:`TrialAnalysisParams`
  -> :class:`TrialAnalysis`).
* :mod:`~dmi_sensors.analysis.session` — :func:`analyse_session`: a stored session -> decode
  -> timing (drift-corrected times, gaps) -> calibration -> :func:`analyse_trial` per gap-free
  piece, tagged by the session's events -> per-repetition and per-exercise tables, saved in the
  store with parameters and package version (:class:`SessionAnalysisParams` ->
  :class:`SessionAnalysis`). See ``docs/reports.md``.
* :mod:`~dmi_sensors.analysis.batch` — :func:`~dmi_sensors.analysis.batch.analyse_batch`
  (``dmi_sensors.batch``): a cohort of session databases, BIDS datasets and trial lists
  analysed in parallel on Dask (each session by the analyses above) into one tidy table,
  resumable. Import it from its module (it is not loaded with this package).
* :mod:`~dmi_sensors.analysis.stored_run` — reading a stored analysis run back.
* :mod:`~dmi_sensors.analysis.calibrations` — a session's calibrations in the store:
  :func:`save_calibration`, :func:`save_calibration_file`, :func:`load_calibration`.

>>> from dmi_sensors.analysis import analyse_session       # doctest: +SKIP
>>> result = analyse_session(store, session_id)             # doctest: +SKIP
>>> result.exercises[["exercise", "support", "com_ellipse_area_mm2"]]  # doctest: +SKIP
"""

from dmi_sensors.analysis.calibrations import load_calibration, save_calibration, save_calibration_file
from dmi_sensors.analysis.session import (
    EXERCISE_METRICS,
    RESULT_NAMES,
    SessionAnalysis,
    SessionAnalysisParams,
    analyse_session,
    analyse_signals,
    exercise_table,
    repetition_table,
    save_analysis,
)
from dmi_sensors.analysis.signals import SensorSignals, prepare_sensor
from dmi_sensors.analysis.trial import TrialAnalysis, TrialAnalysisParams, analyse_trial, com_excursion

__all__ = [
    "EXERCISE_METRICS",
    "RESULT_NAMES",
    "SensorSignals",
    "SessionAnalysis",
    "SessionAnalysisParams",
    "TrialAnalysis",
    "TrialAnalysisParams",
    "analyse_session",
    "analyse_signals",
    "analyse_trial",
    "com_excursion",
    "exercise_table",
    "load_calibration",
    "prepare_sensor",
    "repetition_table",
    "save_analysis",
    "save_calibration",
    "save_calibration_file",
]
