"""Session model: the subject, the exercises and the plan (standard library only).

No field anywhere holds a person's name: a subject is a pseudonymous id, a birth year, a
centre-of-mass height and an optional diagnosis *category* from a closed list.

Plans are read from and written to TOML (``tomllib`` / ``tomli_w``)::

    plan_format = 1
    name = "Sitting to standing, decreasing support"
    description = "optional free text about the plan (no names)"

    [[exercises]]
    exercise_id = "sit_box_hips"
    name = "Sitting on the DMI box, support at the hips"
    milestone = "sitting"
    position = "sitting"
    surface = "dmi_box"
    support = "hips"
    target_repetitions = 5
    hold_s = 10.0

An exercise table may instead start from the built-in catalogue and override fields::

    [[exercises]]
    catalogue = "stand_support_knees"
    target_repetitions = 3

Any problem in a file raises :class:`dmi_sensors.errors.DataFileError` naming the file, the
key (e.g. ``exercises[2].support``) and what was expected.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeGuard, TypeVar

from dmi_sensors.errors import DataFileError, NotFoundError
from dmi_sensors.session import vocab

__all__ = ["EXERCISE_ID_RULE", "PLAN_FORMAT", "Exercise", "Plan", "Subject", "check_subject_fields", "is_exercise_id"]

#: Version of the plan TOML layout written by :meth:`Plan.to_toml`.
PLAN_FORMAT = 1

_SUBJECT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_EXERCISE_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
#: What an exercise id looks like (plans, the catalogue, events tables, windows).
EXERCISE_ID_RULE = "lower-case letters, digits and '_', starting with a letter or digit, at most 64"
_MAX_TEXT = 200


class _FieldError(ValueError):
    """A bad value for one field: ``expected`` and ``found`` are kept for file errors."""

    def __init__(self, key: str, expected: str, found: object) -> None:
        self.key = key
        self.expected = expected
        self.found = found
        super().__init__(f"{key}: expected {expected}, found {found!r}")


# --- field checks (shared by constructors and file readers) ---------------------------------


def _choice(choices: tuple[str, ...]) -> Callable[[str, object], str]:
    def check(key: str, value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _FieldError(key, "one of " + ", ".join(choices), value)
        return value

    return check


def _text(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise _FieldError(key, f"a non-empty string of at most {_MAX_TEXT} characters", value)
    return value


def _free_text(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise _FieldError(key, "a string", value)
    return value


def is_exercise_id(value: object) -> TypeGuard[str]:
    """True if ``value`` is a valid exercise id (:data:`EXERCISE_ID_RULE`): a catalogue id or a free one."""
    return isinstance(value, str) and _EXERCISE_ID.match(value) is not None


def _exercise_id(key: str, value: object) -> str:
    if not is_exercise_id(value):
        raise _FieldError(key, f"an id of {EXERCISE_ID_RULE}", value)
    return value


def _subject_id(key: str, value: object) -> str:
    if not isinstance(value, str) or not _SUBJECT_ID.match(value):
        raise _FieldError(key, "a pseudonymous id of 1-32 ASCII letters and digits (BIDS participant label)", value)
    return value


def _int_range(lo: int, hi: int) -> Callable[[str, object], int]:
    def check(key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _FieldError(key, f"an integer from {lo} to {hi}", value)
        return value

    return check


def _float_range(lo: float, hi: float) -> Callable[[str, object], float]:
    def check(key: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _FieldError(key, f"a number greater than {lo} and at most {hi}", value)
        x = float(value)
        if not (math.isfinite(x) and lo < x <= hi):
            raise _FieldError(key, f"a number greater than {lo} and at most {hi}", value)
        return x

    return check


def _optional(check: Callable[[str, object], Any]) -> Callable[[str, object], Any]:
    def wrapped(key: str, value: object) -> Any:
        return None if value is None else check(key, value)

    return wrapped


def _run_checks(obj: object, checks: Mapping[str, Callable[[str, object], Any]], prefix: str) -> None:
    for name, check in checks.items():
        object.__setattr__(obj, name, check(f"{prefix}{name}", getattr(obj, name)))


_Record = TypeVar("_Record", "Subject", "Exercise")


def _from_mapping(cls: type[_Record], data: Mapping[str, Any], where: str) -> _Record:
    """Build a dataclass from a mapping, with errors naming the key (``where.key``)."""
    if not isinstance(data, Mapping):
        raise _FieldError(where or cls.__name__, "a table", data)
    names = [f.name for f in fields(cls)]
    required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in names:
            raise _FieldError(f"{prefix}{key}", "one of the keys " + ", ".join(names), "an unknown key")
    for key in required:
        if key not in data:
            raise _FieldError(f"{prefix}{key}", "this required key", "nothing")
    obj = object.__new__(cls)
    for f in fields(cls):
        object.__setattr__(obj, f.name, data.get(f.name, f.default))
    _run_checks(obj, cls._CHECKS, prefix)
    return obj


# --- Subject ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subject:
    """The child (or participant) recorded, identified pseudonymously.

    Attributes
    ----------
    subject_id
        Pseudonymous id, 1-32 ASCII letters and digits (valid as a BIDS participant label,
        e.g. ``"P007"``). Never a name.
    birth_year
        Year of birth (not the date), 1900-2200.
    com_height_m
        Height of the centre of mass above the support surface in the exercise's usual
        position, metres (0 < h <= 2.5); used by the inverted-pendulum COM model.
    diagnosis_category
        Optional, one of :data:`dmi_sensors.session.vocab.DIAGNOSIS_CATEGORIES`.
    """

    subject_id: str
    birth_year: int
    com_height_m: float
    diagnosis_category: str | None = None

    _CHECKS: ClassVar[dict[str, Callable[[str, object], Any]]] = {
        "subject_id": _subject_id,
        "birth_year": _int_range(1900, 2200),
        "com_height_m": _float_range(0.0, 2.5),
        "diagnosis_category": _optional(_choice(vocab.DIAGNOSIS_CATEGORIES)),
    }

    def __post_init__(self) -> None:
        _run_checks(self, self._CHECKS, "Subject.")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able); ``diagnosis_category`` is omitted when None."""
        d: dict[str, Any] = {
            "subject_id": self.subject_id,
            "birth_year": self.birth_year,
            "com_height_m": self.com_height_m,
        }
        if self.diagnosis_category is not None:
            d["diagnosis_category"] = self.diagnosis_category
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subject:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ``ValueError`` naming them."""
        return _from_mapping(cls, data, "subject")


def check_subject_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check the given fields of a subject by :class:`Subject`'s own rules and return them
    parsed; fields that are absent are not checked (e.g. a lab's trial list without birth
    years). Unknown keys and bad values raise ``ValueError`` naming the field."""
    unknown = sorted(set(fields) - set(Subject._CHECKS))
    if unknown:
        raise _FieldError("Subject", "fields " + ", ".join(Subject._CHECKS), ", ".join(unknown))
    return {key: Subject._CHECKS[key](f"Subject.{key}", value) for key, value in fields.items()}


# --- Exercise -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exercise:
    """One exercise of a plan.

    Attributes
    ----------
    exercise_id
        Short stable id (lower-case letters, digits, ``_``), unique within a plan; this is
        what the ``exercise`` column of events and windows carries.
    name
        Human-readable description (no names of people).
    milestone
        Gross-motor milestone worked on (:data:`~dmi_sensors.session.vocab.MILESTONES`).
    position
        The child's position (:data:`~dmi_sensors.session.vocab.POSITIONS`).
    surface
        What the child is on (:data:`~dmi_sensors.session.vocab.SURFACES`).
    support
        Where the therapist holds the child (:data:`dmi_sensors.contract.SUPPORT_POINTS`,
        proximal -> distal; ``none`` = unsupported).
    target_repetitions
        How many repetitions are planned (1-100).
    hold_s
        Planned duration of one repetition, seconds (0 < hold_s <= 600).
    """

    exercise_id: str
    name: str
    milestone: str
    position: str
    surface: str
    support: str
    target_repetitions: int = 5
    hold_s: float = 10.0

    _CHECKS: ClassVar[dict[str, Callable[[str, object], Any]]] = {
        "exercise_id": _exercise_id,
        "name": _text,
        "milestone": _choice(vocab.MILESTONES),
        "position": _choice(vocab.POSITIONS),
        "surface": _choice(vocab.SURFACES),
        "support": _choice(vocab.SUPPORT_POINTS),
        "target_repetitions": _int_range(1, 100),
        "hold_s": _float_range(0.0, 600.0),
    }

    def __post_init__(self) -> None:
        _run_checks(self, self._CHECKS, "Exercise.")

    @property
    def expected_posture(self) -> str:
        """The trunk posture this position implies (:data:`~dmi_sensors.session.vocab.POSITION_POSTURE`)."""
        return vocab.POSITION_POSTURE[self.position]

    def replace(self, **changes: Any) -> Exercise:
        """A copy with some fields changed (validated)."""
        data = self.to_dict()
        data.update(changes)
        return Exercise.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with every field (JSON- and TOML-able)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exercise:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise ``ValueError`` naming them."""
        return _from_mapping(cls, data, "exercise")


# --- Plan ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """An ordered list of exercises for one session.

    Exercise ids must be unique within a plan (the events table refers to them).
    """

    name: str
    exercises: list[Exercise] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        _text("Plan.name", self.name)
        _free_text("Plan.description", self.description)
        self.exercises = list(self.exercises)
        seen: set[str] = set()
        for i, ex in enumerate(self.exercises):
            if not isinstance(ex, Exercise):
                raise _FieldError(f"Plan.exercises[{i}]", "an Exercise", ex)
            if ex.exercise_id in seen:
                raise _FieldError(
                    f"Plan.exercises[{i}].exercise_id", "an id not used before in this plan", ex.exercise_id
                )
            seen.add(ex.exercise_id)

    def __len__(self) -> int:
        return len(self.exercises)

    def __iter__(self) -> Iterator[Exercise]:
        return iter(self.exercises)

    def exercise(self, exercise_id: str) -> Exercise:
        """The exercise with this id (``KeyError`` if absent)."""
        for ex in self.exercises:
            if ex.exercise_id == exercise_id:
                return ex
        raise NotFoundError(exercise_id)

    # -- dict / TOML --

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (the TOML document as Python data)."""
        d: dict[str, Any] = {"plan_format": PLAN_FORMAT, "name": self.name}
        if self.description:
            d["description"] = self.description
        d["exercises"] = [ex.to_dict() for ex in self.exercises]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming the offending key.

        An entry of ``exercises`` may hold ``catalogue = "<id>"``: it starts from that
        :data:`~dmi_sensors.session.catalogue.CATALOGUE` exercise and overrides the other
        keys given (``exercise_id`` defaults to the catalogue id).
        """
        if not isinstance(data, Mapping):
            raise _FieldError("plan", "a table", data)
        allowed = ("plan_format", "name", "description", "exercises")
        for key in data:
            if key not in allowed:
                raise _FieldError(key, "one of the keys " + ", ".join(allowed), "an unknown key")
        fmt = data.get("plan_format", PLAN_FORMAT)
        if fmt != PLAN_FORMAT or isinstance(fmt, bool):
            raise _FieldError("plan_format", f"{PLAN_FORMAT}", fmt)
        if "name" not in data:
            raise _FieldError("name", "this required key", "nothing")
        name = _text("name", data["name"])
        description = _free_text("description", data.get("description", ""))
        raw = data.get("exercises", [])
        if not isinstance(raw, list):
            raise _FieldError("exercises", "an array of tables ([[exercises]])", raw)
        exercises: list[Exercise] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(raw):
            where = f"exercises[{i}]"
            if isinstance(item, Mapping) and "catalogue" in item:
                item = _resolve_catalogue(item, where)
            ex = _from_mapping(Exercise, item, where)
            if ex.exercise_id in seen:
                raise _FieldError(
                    f"{where}.exercise_id",
                    f"an id not used before (exercises[{seen[ex.exercise_id]}] has it)",
                    ex.exercise_id,
                )
            seen[ex.exercise_id] = i
            exercises.append(ex)
        return cls(name=name, exercises=exercises, description=description)

    def to_toml(self) -> str:
        """The plan as a TOML document (every exercise field written out)."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, source: str | Path = "<string>") -> Plan:
        """Parse a TOML document; errors are :class:`DataFileError` naming ``source`` and the key."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise DataFileError(source, "", "valid TOML", str(exc)) from exc
        try:
            return cls.from_dict(data)
        except _FieldError as exc:
            raise DataFileError(source, f"key {exc.key!r}", exc.expected, repr(exc.found)) from exc

    @classmethod
    def read(cls, path: str | Path) -> Plan:
        """Read a plan TOML file (UTF-8)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise DataFileError(path, "", "an existing plan file", "no such file") from exc
        except UnicodeDecodeError as exc:
            raise DataFileError(path, f"byte {exc.start}", "UTF-8 text", "undecodable bytes") from exc
        return cls.from_toml(text, source=path)

    def write(self, path: str | Path) -> None:
        """Write the plan as TOML (UTF-8), replacing the file atomically."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_toml(), encoding="utf-8")
        tmp.replace(path)


def _resolve_catalogue(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    from dmi_sensors.session.catalogue import CATALOGUE

    key = item["catalogue"]
    if not isinstance(key, str) or key not in CATALOGUE:
        raise _FieldError(f"{where}.catalogue", "an id of the built-in catalogue (see docs/sessions.md)", key)
    merged = CATALOGUE[key].to_dict()
    merged.update({k: v for k, v in item.items() if k != "catalogue"})
    return merged
