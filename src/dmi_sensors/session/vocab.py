"""The controlled vocabularies of a DMI session (standard library only).

Every enumeration a plan, an events table or a window table may carry lives here, so
that readers, writers and validators agree. Values are lower-case ``snake_case`` strings,
stable on disk: add new values at the end, never rename.
"""

from __future__ import annotations

from typing import Final

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError

__all__ = [
    "DIAGNOSIS_CATEGORIES",
    "EVENT_KINDS",
    "MILESTONES",
    "POSITIONS",
    "POSITION_POSTURE",
    "POSTURES",
    "POSTURE_ALIASES",
    "SUPPORT_POINTS",
    "SURFACES",
    "check_choice",
    "support_rank",
]

#: Gross-motor milestones an exercise works on, in developmental order.
MILESTONES: Final = (
    "head_control",
    "rolling",
    "sitting",
    "four_point",
    "crawling",
    "kneeling",
    "standing",
    "walking",
    "transitions",
)

#: Body position of the child during an exercise.
POSITIONS: Final = (
    "supine",
    "prone",
    "side_lying",
    "sitting",
    "four_point",
    "kneeling",
    "half_kneeling",
    "standing",
    "walking",
    "sit_to_stand",
)

#: What the child is on.
SURFACES: Final = ("table_top", "floor", "dmi_box", "ladder", "foam")

#: Where the therapist holds the child, proximal -> distal; ``none`` = no support.
SUPPORT_POINTS: Final = contract.SUPPORT_POINTS

#: Trunk postures. ``upright`` is what a trunk sensor can tell (trunk vertical); ``sitting``,
#: ``kneeling`` and ``standing`` are ``upright`` refined by the plan (a trunk sensor cannot
#: tell them apart). ``transition`` marks a sit-to-stand or similar movement between them.
POSTURES: Final = contract.POSTURES

#: Other names accepted for a posture in events read from elsewhere (the simulator's names);
#: :func:`dmi_sensors.session.events.normalise_events` maps them.
POSTURE_ALIASES: Final = {"supported_standing": "standing", "sit_to_stand": "transition"}

#: The trunk posture a position implies (what the posture detector should find).
POSITION_POSTURE: Final = {
    "supine": "supine",
    "prone": "prone",
    "side_lying": "side_lying",
    "sitting": "sitting",
    "four_point": "four_point",
    "kneeling": "kneeling",
    "half_kneeling": "kneeling",
    "standing": "standing",
    "walking": "standing",
    "sit_to_stand": "transition",
}

#: Values of the optional ``kind`` column of an events table. ``hold`` is the still part of a
#: repetition after its movement, written by the session analysis (analysed as a segment).
EVENT_KINDS: Final = ("exercise", "repetition", "pause", "note", "posture", "perturbation", "hold")

#: Optional diagnosis categories of a subject (a closed list: no free text about a child).
DIAGNOSIS_CATEGORIES: Final = (
    "cerebral_palsy",
    "down_syndrome",
    "hypotonia",
    "global_developmental_delay",
    "prematurity",
    "typical_development",
    "other",
)


def check_choice(value: object, choices: tuple[str, ...], what: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` naming ``what``."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{what} must be one of {', '.join(choices)}; got {value!r}")
    return value


def support_rank(support: str) -> int:
    """Position of a support point in the proximal -> distal order (``trunk`` = 0, ``none`` last)."""
    return SUPPORT_POINTS.index(check_choice(support, SUPPORT_POINTS, "support"))
