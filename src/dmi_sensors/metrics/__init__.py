"""Postural-control metrics: Prieto 1996 sway measures, ISway, COM excursion, time to stabilise.

Arrays in, dicts / tidy DataFrames out; every metric is registered in :data:`REGISTRY`
with its unit, formula, reference and provenance (``docs/metrics.md``).

* :func:`prieto_measures` — COM displacement (mm): distances, path, velocity, range,
  circle/ellipse areas (``ellipse_method``), sway area, mean frequency, fractal dimension,
  spectral measures.
* :func:`isway_measures` — horizontal trunk acceleration: ISway (Mancini 2012) measures,
  ``jerk_isway_m2_s5`` and the distinct ``jerk_mm2012_mps3``.
* :func:`time_to_stabilise` — four TTS families with explicit "no stable state".
* :func:`window_metrics`, :func:`sliding_windows`, :func:`interval_samples` — window maths on arrays
  (tagging windows with exercises is :mod:`dmi_sensors.session.windows`).

Frames: AP = x forward (+ anterior), ML = y left (+ left), as in ``docs/data-contract.md``.
"""

from dmi_sensors.metrics.com import ComExcursion
from dmi_sensors.metrics.isway import isway_measures
from dmi_sensors.metrics.prieto import ELLIPSE_METHODS, ellipse, ellipse_k, prieto_measures
from dmi_sensors.metrics.registry import REGISTRY, MetricSpec, markdown_table, spec
from dmi_sensors.metrics.spectral import SpectralParams, spectral_measures
from dmi_sensors.metrics.tts import TTS_METHODS, TtsParams, TtsResult, detect_events, time_to_stabilise
from dmi_sensors.metrics.windows import interval_samples, sliding_windows, window_metrics

__all__ = [
    "ELLIPSE_METHODS",
    "REGISTRY",
    "TTS_METHODS",
    "ComExcursion",
    "MetricSpec",
    "SpectralParams",
    "TtsParams",
    "TtsResult",
    "detect_events",
    "ellipse",
    "ellipse_k",
    "interval_samples",
    "isway_measures",
    "markdown_table",
    "prieto_measures",
    "sliding_windows",
    "spec",
    "spectral_measures",
    "time_to_stabilise",
    "window_metrics",
]
