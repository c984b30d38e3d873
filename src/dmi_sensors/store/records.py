"""Plain records the :class:`~dmi_sensors.store.SessionStore` takes and returns.

The store keeps data, not domain objects: a session's subject as its fields, its plan as
TOML text, a calibration as its reference and JSON content, results as JSON and a table.
Building a :class:`dmi_sensors.session.Plan` or a
:class:`dmi_sensors.calibration.SensorCalibration` from them is the caller's job
(``Plan.from_toml(info.plan_toml)``, :func:`dmi_sensors.analysis.load_calibration`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pandas is imported when a table is read (keeps `dmi-sensors sessions` fast)
    import pandas as pd

__all__ = [
    "CalibrationRecord",
    "HistoryRecord",
    "PlanText",
    "ResultRecord",
    "SensorInfo",
    "SessionInfo",
    "SubjectFields",
]


class SubjectFields(Protocol):
    """What the store keeps of a subject (a :class:`dmi_sensors.session.Subject` has it).

    ``birth_year`` and ``com_height_m`` may be None when unknown (e.g. a recording started
    without them); ``subject_id`` is a pseudonymous id, never a name. An optional
    ``body_height_m`` attribute is kept too when the object has one.
    """

    @property
    def subject_id(self) -> str: ...

    @property
    def birth_year(self) -> int | None: ...

    @property
    def com_height_m(self) -> float | None: ...

    @property
    def diagnosis_category(self) -> str | None: ...


class PlanText(Protocol):
    """A plan the store can keep: anything with ``to_toml()`` (a :class:`dmi_sensors.session.Plan`)."""

    def to_toml(self) -> str: ...


@dataclass(frozen=True)
class SensorInfo:
    """One sensor of a session: its id, where it was worn, the ids of its calibration
    references (see :meth:`SessionStore.calibration`), how many raw packets are stored
    (recorded sessions; 0 for imported ones), how many samples it has (imported sessions:
    the stored samples; recorded sessions: the samples the stored packets carry, counted
    from their headers), and the frame its stored samples are in (``"sensor"`` as the
    sensor reports them, or ``"body"`` for an imported body-aligned trial CSV). ``decoder``:
    for a third-party sensor, ``{"vendor": name, "settings": {...}}`` — the decoder its raw
    notifications need (:func:`dmi_sensors.vendors.stored_decoder`); None for our own protocol."""

    sensor_id: str
    placement: str
    calibration_ids: tuple[int, ...] = ()
    packets: int = 0
    samples: int = 0
    frame: str = "sensor"
    decoder: dict[str, Any] | None = None


@dataclass(frozen=True)
class SessionInfo:
    """What the store knows about one session (no names: the subject is a pseudonymous id).

    ``start_utc`` is ISO-8601 UTC; ``duration_s`` is the host time of the last stored packet
    (imported sessions: of the last sample; 0 when none); ``status`` is ``"incomplete"``
    until :meth:`SessionStore.finalise`; ``plan_toml`` is the exercise plan as TOML text
    (``dmi_sensors.session.Plan.from_toml`` reads it), None when the session has none.
    ``incomplete_reason`` says why a recording is incomplete (it stopped early, a sensor was
    lost for good; None when nothing was said) and ``recording`` is the recorder's summary
    (planned and recorded time, per sensor samples expected / received / lost), None for
    sessions recorded before it was kept or imported. ``notes`` is the number of therapist
    notes among the events; ``edits`` the number of entries in the session's history
    (:meth:`SessionStore.history`).
    """

    session_id: int
    subject_id: str
    birth_year: int | None
    com_height_m: float | None
    diagnosis_category: str | None
    therapist_id: str
    plan_toml: str | None
    start_utc: str
    status: str
    finalised_utc: str | None
    package_version: str
    origin: str
    sensors: tuple[SensorInfo, ...] = field(default_factory=tuple)
    packets: int = 0
    events: int = 0
    results: int = 0
    duration_s: float = 0.0
    incomplete_reason: str | None = None
    recording: dict[str, Any] | None = None
    body_height_m: float | None = None
    notes: int = 0
    edits: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary (``sensors`` as a list of dicts)."""
        d = asdict(self)
        d["sensors"] = [asdict(s) for s in self.sensors]
        return d


@dataclass(frozen=True)
class HistoryRecord:
    """One change of a session's subject fields (:meth:`SessionStore.edit_session`).

    The history is append-only (the database refuses to update or delete its rows):
    ``old_value`` is what the session held before (None = unknown), ``new_value`` what it
    holds since ``changed_utc``; ``note`` says why (free text, no names).
    """

    history_id: int
    session_id: int
    changed_utc: str
    field: str
    old_value: Any
    new_value: Any
    package_version: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary with the attribute names as keys."""
        return asdict(self)


@dataclass(frozen=True)
class CalibrationRecord:
    """A stored calibration reference.

    Attributes
    ----------
    calibration_id
        Its id in the store (``SensorInfo.calibration_ids`` lists a session's).
    sensor_id, kind
        The sensor it belongs to and its kind (``accel``, ``gyro``, ``alignment``, ...).
    reference
        Where it came from: a file or directory path, or an id such as ``inline:gyro``.
    sha256
        Hash of the referenced file when it was stored (None when not a file).
    parameters
        Its content as stored (JSON; for a :mod:`dmi_sensors.calibration` record its whole
        ``to_dict()``, so the session stays reproducible when the file moves).
    created_utc
        When it was stored.
    """

    calibration_id: int
    sensor_id: str
    kind: str
    reference: str
    sha256: str | None
    parameters: dict[str, Any]
    created_utc: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary with the attribute names as keys."""
        return asdict(self)


@dataclass(frozen=True)
class ResultRecord:
    """Stored analysis results with their provenance.

    ``summary`` maps metric names (with units in the name) to numbers; ``windows`` is the
    tidy per-window table (``None`` when not stored); ``parameters`` are the analysis
    parameters; ``package_version`` is the dmi-sensors version that computed them.
    """

    result_id: int
    session_id: int
    sensor_id: str | None
    name: str
    created_utc: str
    package_version: str
    parameters: dict[str, Any]
    summary: dict[str, Any]
    windows: pd.DataFrame | None = None

    def parameters_json(self) -> str:
        return json.dumps(self.parameters, sort_keys=True)
