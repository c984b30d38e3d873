"""Plain records returned by :class:`~dmi_sensors.store.SessionStore` queries."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ResultRecord", "SensorInfo", "SessionInfo"]


@dataclass(frozen=True)
class SensorInfo:
    """One sensor of a session: its id, where it was worn, the ids of its calibration
    references (see :meth:`SessionStore.calibration`), and how many raw packets (recorded
    sessions) or imported samples (imported sessions) are stored."""

    sensor_id: str
    placement: str
    calibration_ids: tuple[int, ...] = ()
    packets: int = 0
    samples: int = 0


@dataclass(frozen=True)
class SessionInfo:
    """What the store knows about one session (no names: the subject is a pseudonymous id).

    ``start_utc`` is ISO-8601 UTC; ``duration_s`` is the host time of the last stored packet
    (0 when none); ``status`` is ``"incomplete"`` until :meth:`SessionStore.finalise`.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary (``sensors`` as a list of dicts)."""
        d = asdict(self)
        d["sensors"] = [asdict(s) for s in self.sensors]
        return d

    def subject(self):  # -> dmi_sensors.session.Subject
        """The session's :class:`dmi_sensors.session.Subject`."""
        from dmi_sensors.session import Subject

        return Subject(
            subject_id=self.subject_id,
            birth_year=self.birth_year,
            com_height_m=self.com_height_m,
            diagnosis_category=self.diagnosis_category,
        )

    def plan(self):  # -> dmi_sensors.session.Plan | None
        """The session's exercise :class:`dmi_sensors.session.Plan` (None when none was stored)."""
        if not self.plan_toml:
            return None
        from dmi_sensors.session import Plan

        return Plan.from_toml(self.plan_toml)


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
    windows: Any = None  # pandas.DataFrame | None

    def parameters_json(self) -> str:
        return json.dumps(self.parameters, sort_keys=True)
