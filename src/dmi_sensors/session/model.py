"""Session model: the subject, the exercises and the plan (standard library only).

No field anywhere holds a person's name: a subject is a pseudonymous id, and optionally a
birth year, a centre-of-mass height, a body height and a diagnosis *category* from a closed
list.

THE rules for values that enter the toolkit (record, import, ``sessions edit``, the API) live
here, so every entry point applies the same ones and says the same thing:

* :func:`check_pseudonymous_id` — subject and therapist ids: 1-32 ASCII letters and digits
  with at least one digit (``C001``, ``P007``, ``T07``). A name ("Anna Schmidt",
  "AnnaSchmidt", "Dr. Hans Meier") is refused with one line saying why.
* :data:`COM_HEIGHT_RANGE`, :data:`BODY_HEIGHT_RANGE`, :func:`check_birth_year` — plausible
  values for children and adults; a value outside is refused with one line naming the
  value and the accepted range.

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

from dmi_sensors.errors import DataFileError, NotFoundError, ParameterError
from dmi_sensors.session import vocab

__all__ = [
    "BIRTH_YEAR_MIN",
    "BODY_HEIGHT_RANGE",
    "COM_HEIGHT_RANGE",
    "EXERCISE_ID_RULE",
    "PLAN_FORMAT",
    "PSEUDONYMOUS_ID_RULE",
    "SUBJECT_FIELDS",
    "Exercise",
    "Plan",
    "PlausibleRange",
    "Subject",
    "check_birth_year",
    "check_heights",
    "check_pseudonymous_id",
    "check_subject_field",
    "check_subject_fields",
    "is_exercise_id",
    "is_pseudonymous_id",
]

#: Version of the plan TOML layout written by :meth:`Plan.to_toml`.
PLAN_FORMAT = 1

_EXERCISE_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
#: What an exercise id looks like (plans, the catalogue, events tables, windows).
EXERCISE_ID_RULE = "lower-case letters, digits and '_', starting with a letter or digit, at most 64"
_MAX_TEXT = 200


class _FieldError(ParameterError):
    """A bad value for one field: ``expected`` and ``found`` are kept for file errors;
    ``why`` (optional) says what is wrong with it in words."""

    def __init__(self, key: str, expected: str, found: object, why: str = "") -> None:
        self.key = key
        self.expected = expected
        self.found = found
        self.why = why
        super().__init__(f"{key}: expected {expected}, found {self.found_text}")

    @property
    def found_text(self) -> str:
        """``repr`` of the value, with the reason when there is one."""
        return f"{self.found!r}" + (f" ({self.why})" if self.why else "")


# --- pseudonymous ids: THE rule for every id that enters (record, import, API) ---------------

#: What a pseudonymous id (subject, therapist) looks like.
PSEUDONYMOUS_ID_RULE = (
    "a pseudonymous code, never a name: 1-32 ASCII letters and digits with at least one digit (e.g. C001, P007, T07)"
)
_PSEUDONYMOUS_ID = re.compile(r"^(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{1,32}$")


def _id_problem(value: object) -> str | None:
    """Why ``value`` is not a pseudonymous id, in words (None when it is one)."""
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not text"
    if _PSEUDONYMOUS_ID.match(value):
        return None
    if not value.strip():
        return "an empty id"
    reasons = []
    if any(c.isspace() for c in value):
        reasons.append("spaces")
    other = sorted({c for c in value if not (c.isascii() and c.isalnum()) and not c.isspace()})
    if other:
        reasons.append(("the character " if len(other) == 1 else "the characters ") + " ".join(map(repr, other)))
    if not any(c.isdigit() for c in value):
        reasons.append("no digit")
    if len(value) > 32:
        reasons.append(f"{len(value)} characters")
    looks_like_name = any(c.isspace() for c in value) or "." in value or not any(c.isdigit() for c in value)
    return ", ".join(reasons) + (": this looks like a name" if looks_like_name else "")


def is_pseudonymous_id(value: object) -> TypeGuard[str]:
    """True if ``value`` follows :data:`PSEUDONYMOUS_ID_RULE`."""
    return isinstance(value, str) and _PSEUDONYMOUS_ID.match(value) is not None


def check_pseudonymous_id(value: object, where: str = "subject id", *, allow_empty: bool = False) -> str:
    """THE pseudonymous-id rule (:data:`PSEUDONYMOUS_ID_RULE`); returns ``value``.

    ``where`` names the value in the error (``"--subject-id"``, ``"Subject.subject_id"``);
    ``allow_empty``: ``""`` (unknown, e.g. no therapist id given) passes.

    Raises
    ------
    ParameterError
        One line naming the value, the rule and what is wrong, e.g. ``--subject-id: expected
        a pseudonymous code, never a name: ..., found 'Anna Schmidt' (spaces, no digit: this
        looks like a name)``.
    """
    if allow_empty and value == "":
        return ""
    why = _id_problem(value)
    if why is not None:
        raise _FieldError(where, PSEUDONYMOUS_ID_RULE, value, why)
    return value  # type: ignore[return-value]  # checked by _id_problem


# --- plausible values: THE ranges for every value that enters ------------------------------


@dataclass(frozen=True)
class PlausibleRange:
    """The closed range of plausible values of one subject field, and whom it covers."""

    name: str
    what: str
    lo: float
    hi: float
    unit: str
    covers: str

    @property
    def expected(self) -> str:
        """``"a centre-of-mass height from 0.05 to 1.5 m (...)"``: the accepted range in words."""
        return f"{self.what} from {self.lo:g} to {self.hi:g} {self.unit} ({self.covers})"

    def check(self, value: object, where: str | None = None) -> float:
        """``value`` as a float if it is a finite number in ``[lo, hi]``; else a
        :class:`~dmi_sensors.errors.ParameterError` naming ``where`` (default: the field's
        name), the value and the range, in one line."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _FieldError(where or self.name, self.expected, value, "not a number")
        x = float(value)
        if not (math.isfinite(x) and self.lo <= x <= self.hi):
            raise _FieldError(where or self.name, self.expected, value)
        return x


#: Height of the centre of mass above the pivot, m: from a small child's sitting lever
#: (about 0.19 x a standing COM height of 0.3 m) to a tall adult standing (about 0.58 x 2.2 m).
COM_HEIGHT_RANGE = PlausibleRange(
    "com_height_m",
    "a centre-of-mass height above the pivot",
    0.05,
    1.5,
    "m",
    "a small child's sitting lever to a tall adult standing",
)
#: Standing body height (stature), m: an infant to a very tall adult.
BODY_HEIGHT_RANGE = PlausibleRange("body_height_m", "a body height", 0.4, 2.5, "m", "an infant to a very tall adult")
#: Earliest birth year accepted; the latest is the current year.
BIRTH_YEAR_MIN = 1900


def check_birth_year(value: object, where: str = "birth_year") -> int:
    """A birth year (the year only) from :data:`BIRTH_YEAR_MIN` to the current year (UTC)."""
    from datetime import UTC, datetime

    latest = datetime.now(UTC).year
    expected = f"a birth year from {BIRTH_YEAR_MIN} to {latest} (the year only, not a date)"
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(where, expected, value, "not a whole number")
    if not BIRTH_YEAR_MIN <= value <= latest:
        raise _FieldError(where, expected, value)
    return value


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
    return check_pseudonymous_id(value, key)


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

    Only ``subject_id`` is required: a recording may start without the rest, which
    ``dmi-sensors sessions edit`` (:meth:`dmi_sensors.store.SessionStore.edit_session`) adds
    later. Every value is checked by the one rule set of this module.

    Attributes
    ----------
    subject_id
        Pseudonymous id (:data:`PSEUDONYMOUS_ID_RULE`: 1-32 ASCII letters and digits with at
        least one digit, valid as a BIDS participant label, e.g. ``"P007"``). Never a name.
    birth_year
        Year of birth (not the date), :data:`BIRTH_YEAR_MIN` to the current year; None = unknown.
    com_height_m
        Height of the centre of mass above the pivot in the exercise's usual position,
        metres (:data:`COM_HEIGHT_RANGE`, 0.05-1.5 m); used by the inverted-pendulum COM
        model; None = unknown (the analysis needs it).
    diagnosis_category
        Optional, one of :data:`dmi_sensors.session.vocab.DIAGNOSIS_CATEGORIES`.
    body_height_m
        Standing body height (stature), metres (:data:`BODY_HEIGHT_RANGE`, 0.4-2.5 m);
        None = unknown. When both are known the COM height must be below it.
    """

    subject_id: str
    birth_year: int | None = None
    com_height_m: float | None = None
    diagnosis_category: str | None = None
    body_height_m: float | None = None

    _CHECKS: ClassVar[dict[str, Callable[[str, object], Any]]] = {
        "subject_id": _subject_id,
        "birth_year": _optional(lambda key, value: check_birth_year(value, key)),
        "com_height_m": _optional(lambda key, value: COM_HEIGHT_RANGE.check(value, key)),
        "diagnosis_category": _optional(_choice(vocab.DIAGNOSIS_CATEGORIES)),
        "body_height_m": _optional(lambda key, value: BODY_HEIGHT_RANGE.check(value, key)),
    }

    def __post_init__(self) -> None:
        _run_checks(self, self._CHECKS, "Subject.")
        check_heights(self.com_height_m, self.body_height_m, "Subject.com_height_m")

    def replace(self, **changes: Any) -> Subject:
        """A copy with some fields changed (validated)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return Subject(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-able); ``diagnosis_category`` and ``body_height_m`` are omitted when None."""
        d: dict[str, Any] = {
            "subject_id": self.subject_id,
            "birth_year": self.birth_year,
            "com_height_m": self.com_height_m,
        }
        if self.diagnosis_category is not None:
            d["diagnosis_category"] = self.diagnosis_category
        if self.body_height_m is not None:
            d["body_height_m"] = self.body_height_m
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subject:
        """Inverse of :meth:`to_dict`; unknown keys or a missing ``subject_id`` raise
        :class:`~dmi_sensors.errors.ParameterError` naming them."""
        subject = _from_mapping(cls, data, "subject")
        check_heights(subject.com_height_m, subject.body_height_m, "subject.com_height_m")
        return subject


#: The fields of a subject a session keeps (:class:`Subject`), in order.
SUBJECT_FIELDS: tuple[str, ...] = ("subject_id", "birth_year", "com_height_m", "diagnosis_category", "body_height_m")


def check_heights(com_height_m: float | None, body_height_m: float | None, where: str = "com_height_m") -> None:
    """THE rule joining two subject fields: the COM height lies below the top of the head
    (whole-body COM is about 0.55 x stature standing); unknown values (None) pass."""
    if com_height_m is not None and body_height_m is not None and not com_height_m < body_height_m:
        raise _FieldError(where, f"a height below the body height ({body_height_m:g} m)", com_height_m)


def check_subject_field(name: str, value: object, where: str | None = None) -> Any:
    """Check one subject field by THE rules (:class:`Subject`); ``None`` (unknown) passes
    except for ``subject_id``. Returns the value (a float for heights)."""
    if name not in Subject._CHECKS:
        raise ParameterError(f"{name!r} is not a subject field; expected one of {', '.join(SUBJECT_FIELDS)}")
    return Subject._CHECKS[name](where or name, value)


def check_subject_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check the given fields of a subject by :class:`Subject`'s own rules
    (:func:`check_subject_field`, :func:`check_heights`) and return them parsed; fields that
    are absent are not checked (e.g. a lab's trial list without birth years). Unknown keys
    and bad values raise ``ValueError`` (:class:`~dmi_sensors.errors.ParameterError`) naming
    the field."""
    unknown = sorted(set(fields) - set(Subject._CHECKS))
    if unknown:
        raise _FieldError("Subject", "fields " + ", ".join(Subject._CHECKS), ", ".join(unknown))
    out = {key: check_subject_field(key, value, f"Subject.{key}") for key, value in fields.items()}
    check_heights(out.get("com_height_m"), out.get("body_height_m"), "Subject.com_height_m")
    return out


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
