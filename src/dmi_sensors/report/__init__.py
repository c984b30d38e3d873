"""Figures and HTML reports: a session report for therapist and parents, progress across sessions.

* :mod:`~dmi_sensors.report.style` — one matplotlib style (Agg, Okabe–Ito colours, units on
  every axis, print-readable sizes).
* :mod:`~dmi_sensors.report.figures` — timeline, stabilograms with 95 % ellipses, progress
  charts; plain numpy / pandas in, ``Figure`` out.
* :mod:`~dmi_sensors.report.html` — self-contained HTML (inline CSS, base64 PNG).
* :mod:`~dmi_sensors.report.parse` — read tables and figures back from a report.

Importing this package is cheap; matplotlib loads when a figure is drawn.
"""

from __future__ import annotations

__all__: list[str] = []
