"""Standard balance protocols as plans, beside the DMI catalogue.

Each :class:`Protocol` is a plan (its exercises, ids prefixed by the protocol) plus what each
exercise stands for (its *condition*), so the session analysis can score it
(:mod:`dmi_sensors.analysis.protocols`). ``dmi-sensors plan protocol NAME`` writes the plan
file; a session recorded with it is scored automatically.

* ``isway`` -- ISway-style quiet stance: 30 s standing on the floor, feet together, arms at the
  sides, eyes open, with the sensor at L5 (Mancini et al. 2012, J NeuroEng Rehabil 9:59; APDM
  ISway); three trials so that the MDC of the child's measure is known.
* ``mctsib`` -- modified Clinical Test of Sensory Interaction and Balance: four conditions,
  firm / foam × eyes open / closed, 30 s each, hands at the sides; a child who cannot hold
  30 s gets up to two more attempts and the attempts are averaged (Shumway-Cook & Horak 1986,
  Phys Ther 66(10):1548-1550 [R]; Cohen, Blatchly & Gombash 1993, Phys Ther 73(6):346-351;
  Shirley Ryan AbilityLab Rehabilitation Measures database). Scores: hold time per
  condition, the sway of each, the Romberg ratio eyes closed / eyes open on firm and on foam,
  the surface ratio foam / firm (eyes open).
* ``satco`` -- segmental trunk control, SATCo-style (Butler et al. 2010, Pediatr Phys Ther
  22(3):246-257): the child sits on a bench, pelvis held neutral, and the therapist's firm
  support moves down the trunk level by level; at each level the child holds a neutral
  vertical posture (static condition). The sensor-derived score is the lowest support level
  down to which the trunk stays still (trunk tilt RMS under a criterion for the whole hold):
  a new measure inspired by SATCo, **not** the SATCo score itself, which is the therapist's
  observation of loss of alignment (record it in the session notes). The active and reactive
  conditions (head turns, reaching, nudges) are movements by design; tag them with your own
  exercises. The landmarks of the lumbar levels are not confirmed in the sources read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from dmi_sensors.errors import NotFoundError
from dmi_sensors.session.model import Exercise, Plan

__all__ = ["PROTOCOLS", "SATCO_LEVELS", "Protocol", "protocol", "protocol_for_plan"]

#: SATCo support levels tested, from the top down (support directly beneath the segment tested).
SATCO_LEVELS = ("upper_thoracic", "mid_thoracic", "lower_thoracic", "upper_lumbar", "lower_lumbar", "full")


@dataclass(frozen=True)
class Protocol:
    """A standard protocol: its exercises and, per exercise id, the condition it stands for.

    ``conditions[exercise_id]``: ``{"vision": "eyes_open"|"eyes_closed", "surface": ...}``
    (mCTSIB), ``{"level": ...}`` (SATCo), ``{"stance": "quiet"}`` (ISway).
    """

    protocol_id: str
    name: str
    reference: str
    description: str
    exercises: tuple[Exercise, ...]
    conditions: Mapping[str, Mapping[str, str]]

    def plan(self) -> Plan:
        """The protocol as a session plan (what ``dmi-sensors plan protocol`` writes)."""
        return Plan(self.name, list(self.exercises), f"{self.description} Reference: {self.reference}")

    def condition(self, exercise_id: str) -> Mapping[str, str]:
        return self.conditions[exercise_id]


def _ex(row: tuple[str, str, str, str, str, str, int, float]) -> Exercise:
    return Exercise(*row)


# id, description, milestone, position, surface, support, target repetitions, hold_s
_ISWAY = Protocol(
    "isway",
    "ISway-style 30 s quiet stance",
    "Mancini et al. 2012, J NeuroEng Rehabil 9:59 (ISway, sensor at L5)",
    "Standing on the floor, feet together, arms at the sides, eyes open, looking ahead; three trials of 30 s.",
    (
        _ex(
            (
                "isway_stance",
                "Quiet stance 30 s, feet together, eyes open (ISway)",
                "standing",
                "standing",
                "floor",
                "none",
                3,
                30.0,
            )
        ),
    ),
    MappingProxyType({"isway_stance": MappingProxyType({"stance": "quiet"})}),
)

_CTSIB_ROWS = (
    ("ctsib_firm_eo", "mCTSIB 1: firm surface, eyes open", "floor", "eyes_open"),
    ("ctsib_firm_ec", "mCTSIB 2: firm surface, eyes closed", "floor", "eyes_closed"),
    ("ctsib_foam_eo", "mCTSIB 3: foam, eyes open", "foam", "eyes_open"),
    ("ctsib_foam_ec", "mCTSIB 4: foam, eyes closed", "foam", "eyes_closed"),
)
_MCTSIB = Protocol(
    "mctsib",
    "Modified CTSIB (four conditions)",
    "Shumway-Cook & Horak 1986, Phys Ther 66(10):1548-1550 [R]; Cohen et al. 1993, Phys Ther 73(6):346-351",
    "Standing, hands at the sides, 30 s per condition; a child who cannot hold 30 s gets up to two more "
    "attempts (tag each as a repetition), which are averaged.",
    tuple(_ex((i, name, "standing", "standing", surface, "none", 1, 30.0)) for i, name, surface, _ in _CTSIB_ROWS),
    MappingProxyType(
        {
            i: MappingProxyType({"surface": "firm" if surface == "floor" else "foam", "vision": vision})
            for i, _, surface, vision in _CTSIB_ROWS
        }
    ),
)

_SATCO_NAMES = {
    "upper_thoracic": "support at the axillae (upper thoracic)",
    "mid_thoracic": "support below the scapulae (mid-thoracic)",
    "lower_thoracic": "support at the lower ribs (lower thoracic)",
    "upper_lumbar": "support below the ribs (upper lumbar)",
    "lower_lumbar": "support at the pelvis top (lower lumbar)",
    "full": "pelvis held only (full trunk control)",
}
_SATCO = Protocol(
    "satco",
    "Segmental trunk control (SATCo-style, static)",
    "Butler et al. 2010, Pediatr Phys Ther 22(3):246-257 (SATCo); sensor score: dmi-sensors",
    "Sitting on a bench, knees at 90°, pelvis held neutral; the therapist's support moves down the trunk "
    "level by level; at each level the child holds a neutral vertical posture for 10 s (static condition).",
    tuple(
        _ex(
            (
                f"satco_{level}",
                f"Trunk control, {_SATCO_NAMES[level]}",
                "sitting",
                "sitting",
                "table_top",
                "hips" if level == "full" else "trunk",
                1,
                10.0,
            )
        )
        for level in SATCO_LEVELS
    ),
    MappingProxyType({f"satco_{level}": MappingProxyType({"level": level}) for level in SATCO_LEVELS}),
)

#: id -> Protocol, read-only.
PROTOCOLS: MappingProxyType[str, Protocol] = MappingProxyType({p.protocol_id: p for p in (_ISWAY, _MCTSIB, _SATCO)})


def protocol(protocol_id: str) -> Protocol:
    """The protocol ``protocol_id`` (:class:`NotFoundError` naming the known ones)."""
    try:
        return PROTOCOLS[protocol_id]
    except KeyError:
        raise NotFoundError(f"no protocol {protocol_id!r}; known: {', '.join(PROTOCOLS)}") from None


def protocol_for_plan(exercise_ids) -> Protocol | None:
    """The protocol whose exercises the given exercise ids (a plan's, or a session's tags) use,
    or None (a DMI plan)."""
    ids = set(exercise_ids)
    for p in PROTOCOLS.values():
        if ids & set(p.conditions):
            return p
    return None
