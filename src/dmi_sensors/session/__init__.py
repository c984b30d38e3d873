"""DMI sessions: subjects, exercise plans, events, tagging, posture and repetition detection, windows.

The model (``Subject``, ``Exercise``, ``Plan``, ``CATALOGUE``) and the ``Tagger`` import only
the standard library; the signal-based parts (posture and repetition detection, windows)
load numpy/pandas/scipy when first used. See ``docs/sessions.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

from dmi_sensors.session.catalogue import CATALOGUE, example_plan, example_plan_text
from dmi_sensors.session.events import (
    ALL_EVENT_COLUMNS,
    EventRecord,
    check_events,
    empty_events,
    events_frame,
    normalise_events,
    read_events_csv,
)
from dmi_sensors.session.model import (
    BODY_HEIGHT_RANGE,
    COM_HEIGHT_RANGE,
    PLAN_FORMAT,
    PSEUDONYMOUS_ID_RULE,
    Exercise,
    Plan,
    PlausibleRange,
    Subject,
    check_birth_year,
    check_pseudonymous_id,
    check_subject_field,
)
from dmi_sensors.session.tagger import Tagger
from dmi_sensors.session.vocab import (
    DIAGNOSIS_CATEGORIES,
    EVENT_KINDS,
    MILESTONES,
    POSITIONS,
    POSTURES,
    SUPPORT_POINTS,
    SURFACES,
)

#: Public names loaded on first use (they need numpy / pandas / scipy).
_LAZY = {
    "KeyTagger": "dmi_sensors.session.keys",
    "detect_postures": "dmi_sensors.session.posture",
    "classify_gravity": "dmi_sensors.session.posture",
    "PostureParams": "dmi_sensors.session.posture",
    "detect_repetitions": "dmi_sensors.session.repetitions",
    "RepetitionParams": "dmi_sensors.session.repetitions",
    "make_windows": "dmi_sensors.session.windows",
    "tag_windows": "dmi_sensors.session.windows",
    "segments_from_events": "dmi_sensors.session.windows",
    "EventSegments": "dmi_sensors.session.windows",
    "TAG_COLUMNS": "dmi_sensors.session.windows",
}

__all__ = [
    "ALL_EVENT_COLUMNS",
    "BODY_HEIGHT_RANGE",
    "CATALOGUE",
    "COM_HEIGHT_RANGE",
    "DIAGNOSIS_CATEGORIES",
    "EVENT_KINDS",
    "MILESTONES",
    "PLAN_FORMAT",
    "POSITIONS",
    "PSEUDONYMOUS_ID_RULE",
    "POSTURES",
    "SUPPORT_POINTS",
    "SURFACES",
    "EventRecord",
    "Exercise",
    "Plan",
    "PlausibleRange",
    "Subject",
    "Tagger",
    "check_birth_year",
    "check_pseudonymous_id",
    "check_subject_field",
    "empty_events",
    "events_frame",
    "example_plan",
    "check_events",
    "example_plan_text",
    "normalise_events",
    "read_events_csv",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dmi_sensors.session' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
