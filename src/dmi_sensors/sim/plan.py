"""Turn an exercise plan into simulator segments (``dmi_sensors.sim.Segment``).

Each exercise becomes one segment lasting ``target_repetitions * hold_s`` with the
exercise's support point, its number of repetitions and its id as label. Positions map
onto the simulator's postures:

==================================  ========================================================
position                            sim posture
==================================  ========================================================
supine, prone, side_lying           the same
sitting                             ``sitting``
four_point                          ``four_point``
standing, walking                   ``supported_standing`` (support != none) / ``standing``
kneeling, half_kneeling             ``supported_standing`` / ``standing`` (an upright trunk
                                    over a shorter base; the tags still say kneeling)
sit_to_stand                        ``sit_to_stand``
==================================  ========================================================

Optional rest between exercises (``rest_s``) is a segment in the posture of the exercise
just finished, with ``support="none"``, no repetitions and an empty label.
"""

from __future__ import annotations

from typing import Any

from dmi_sensors.errors import ParameterError
from dmi_sensors.session.model import Exercise, Plan
from dmi_sensors.sim.segments import Segment

__all__ = ["POSITION_TO_SIM_POSTURE", "exercise_to_segment", "plan_to_segments", "sim_posture"]

#: Exercise position -> simulator posture (for supported upright positions see :func:`sim_posture`).
POSITION_TO_SIM_POSTURE: dict[str, str] = {
    "supine": "supine",
    "prone": "prone",
    "side_lying": "side_lying",
    "sitting": "sitting",
    "four_point": "four_point",
    "kneeling": "standing",
    "half_kneeling": "standing",
    "standing": "standing",
    "walking": "standing",
    "sit_to_stand": "sit_to_stand",
}


def sim_posture(exercise: Exercise) -> str:
    """The simulator posture for an exercise (upright positions held by the therapist are
    ``supported_standing``)."""
    posture = POSITION_TO_SIM_POSTURE[exercise.position]
    if posture == "standing" and exercise.support != "none":
        return "supported_standing"
    return posture


def exercise_to_segment(exercise: Exercise, **segment_kwargs: Any) -> Segment:
    """One :class:`dmi_sensors.sim.Segment` for an exercise (extra keyword arguments pass through)."""
    return Segment(
        sim_posture(exercise),
        exercise.target_repetitions * exercise.hold_s,
        support=exercise.support,
        repetitions=exercise.target_repetitions,
        label=exercise.exercise_id,
        **segment_kwargs,
    )


def plan_to_segments(plan: Plan, *, rest_s: float = 0.0) -> list[Segment]:
    """Segments simulating the plan, in order (see the module docstring)."""
    if not rest_s >= 0:
        raise ParameterError(f"rest_s must be >= 0, got {rest_s}")
    segments = []
    for i, ex in enumerate(plan):
        segments.append(exercise_to_segment(ex))
        if rest_s > 0 and i + 1 < len(plan):
            segments.append(Segment(sim_posture(ex), rest_s, support="none", repetitions=0, label=""))
    return segments
