"""dmi_sensors: wearable IMUs over Bluetooth LE turned into postural-control numbers.

The front door for notebooks and scripts: every name below is importable from the package
root and loaded on first use (the root itself imports no numpy, scipy or numba, so
``dmi-sensors --help`` stays instant)::

    import dmi_sensors as dmi

    trial = dmi.read_trial_csv("trial.csv")                     # Trial: time_s, acc_mps2, gyr_rps
    result = dmi.analyse_trial(trial, dmi.TrialAnalysisParams(com_height_m=0.55))
    result.summary["com_rms_ap_mm"], result.windows              # dict, tidy DataFrame

    store = dmi.SessionStore("sessions.sqlite")
    session = dmi.analyse_session(store, 1)                      # per exercise and repetition
    dmi.REGISTRY["com_rms_ap_mm"].unit                           # every metric's unit, formula, source
    cohort = dmi.batch(["study.sqlite", "bids/"], "cohort.parquet")  # many sessions on Dask -> one table

========================  ==================================================================
reading data              :func:`read_trial_csv`, :func:`write_trial_csv`, :class:`Trial`,
                          :class:`SampleBatch`, :class:`RawPacket`, :class:`SessionStore`
analyses                  :func:`analyse_trial` (:class:`TrialAnalysisParams`),
                          :func:`analyse_session` (:class:`SessionAnalysisParams`),
                          :func:`batch` (a cohort on Dask, :class:`BatchResult`)
streaming DSP             :class:`SosFilter`, :class:`Madgwick`, :class:`Mahony`,
                          :class:`ImuChain`, :class:`StreamDecoder`
metrics                   :data:`REGISTRY`, :func:`prieto_measures`, :func:`isway_measures`,
                          :func:`time_to_stabilise`
sessions                  :class:`Subject`, :class:`Plan`, :class:`Tagger`
calibration               :class:`CalibrationSet`
errors                    :class:`DmiSensorsError` (base of every error the toolkit raises)
========================  ==================================================================

Simulation (virtual sensors, simulated trials) is :mod:`dmi_sensors.sim`. Units, frames and
column names: ``docs/data-contract.md`` and :mod:`dmi_sensors.contract`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access); ``"module:name"`` when the
#: module's own name differs
_LAZY: dict[str, str] = {
    # data and files
    "RawPacket": "dmi_sensors.types",
    "SampleBatch": "dmi_sensors.types",
    "Trial": "dmi_sensors.types",
    "read_trial_csv": "dmi_sensors.store.trial_csv",
    "write_trial_csv": "dmi_sensors.store.trial_csv",
    "SessionStore": "dmi_sensors.store.sessionstore",
    # analyses
    "analyse_trial": "dmi_sensors.analysis.trial",
    "TrialAnalysisParams": "dmi_sensors.analysis.trial",
    "TrialAnalysis": "dmi_sensors.analysis.trial",
    "analyse_session": "dmi_sensors.analysis.session",
    "SessionAnalysisParams": "dmi_sensors.analysis.session",
    "SessionAnalysis": "dmi_sensors.analysis.session",
    "batch": "dmi_sensors.analysis.batch:analyse_batch",
    "BatchResult": "dmi_sensors.analysis.batch",
    # streaming DSP and decoding
    "SosFilter": "dmi_sensors.dsp.filters",
    "Madgwick": "dmi_sensors.dsp.orientation",
    "Mahony": "dmi_sensors.dsp.orientation",
    "ImuChain": "dmi_sensors.dsp.pipeline",
    "StreamDecoder": "dmi_sensors.protocol.stream",
    # metrics
    "REGISTRY": "dmi_sensors.metrics.registry",
    "prieto_measures": "dmi_sensors.metrics.prieto",
    "isway_measures": "dmi_sensors.metrics.isway",
    "time_to_stabilise": "dmi_sensors.metrics.tts",
    # sessions and calibration
    "Subject": "dmi_sensors.session.model",
    "Plan": "dmi_sensors.session.model",
    "Tagger": "dmi_sensors.session.tagger",
    "CalibrationSet": "dmi_sensors.calibration.library",
    # errors
    "DmiSensorsError": "dmi_sensors.errors",
}

__all__ = [
    "REGISTRY",
    "BatchResult",
    "CalibrationSet",
    "DmiSensorsError",
    "ImuChain",
    "Madgwick",
    "Mahony",
    "Plan",
    "RawPacket",
    "SampleBatch",
    "SessionAnalysis",
    "SessionAnalysisParams",
    "SessionStore",
    "SosFilter",
    "StreamDecoder",
    "Subject",
    "Tagger",
    "Trial",
    "TrialAnalysis",
    "TrialAnalysisParams",
    "__version__",
    "analyse_session",
    "analyse_trial",
    "batch",
    "isway_measures",
    "prieto_measures",
    "read_trial_csv",
    "time_to_stabilise",
    "write_trial_csv",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from dmi_sensors.analysis.batch import BatchResult
    from dmi_sensors.analysis.batch import analyse_batch as batch
    from dmi_sensors.analysis.session import SessionAnalysis, SessionAnalysisParams, analyse_session
    from dmi_sensors.analysis.trial import TrialAnalysis, TrialAnalysisParams, analyse_trial
    from dmi_sensors.calibration.library import CalibrationSet
    from dmi_sensors.dsp.filters import SosFilter
    from dmi_sensors.dsp.orientation import Madgwick, Mahony
    from dmi_sensors.dsp.pipeline import ImuChain
    from dmi_sensors.errors import DmiSensorsError
    from dmi_sensors.metrics.isway import isway_measures
    from dmi_sensors.metrics.prieto import prieto_measures
    from dmi_sensors.metrics.registry import REGISTRY
    from dmi_sensors.metrics.tts import time_to_stabilise
    from dmi_sensors.protocol.stream import StreamDecoder
    from dmi_sensors.session.model import Plan, Subject
    from dmi_sensors.session.tagger import Tagger
    from dmi_sensors.store.sessionstore import SessionStore
    from dmi_sensors.store.trial_csv import read_trial_csv, write_trial_csv
    from dmi_sensors.types import RawPacket, SampleBatch, Trial


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'dmi_sensors' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
