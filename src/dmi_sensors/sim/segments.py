"""What a simulated recording is made of: a list of :class:`Segment` (one posture each).

A session layer maps an exercise plan onto segments; the simulator turns segments into
motion, IMU signals and ground truth. Nothing here imports numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError

__all__ = ["LYING_POSTURES", "PENDULUM_POSTURES", "POSTURES", "Perturbation", "Segment", "total_duration_s"]

#: Postures the simulator knows.
POSTURES: Final = (
    "standing",
    "sitting",
    "supported_standing",
    "four_point",
    "supine",
    "prone",
    "side_lying",
    "sit_to_stand",
)
#: Postures simulated by the delayed-PD pendulum (sway emerges from the dynamics).
PENDULUM_POSTURES: Final = ("standing", "supported_standing", "sitting")
#: Postures simulated kinematically (orientation + small movements).
LYING_POSTURES: Final = ("four_point", "supine", "prone", "side_lying")


@dataclass(frozen=True, slots=True)
class Perturbation:
    """A push: a horizontal force pulse applied at the centre of mass.

    Attributes
    ----------
    onset_s
        Start of the push, seconds from the start of its segment.
    duration_s
        Length of the pulse, s. The force is a half-sine ``F sin(pi t / duration)``.
    force_n
        Peak force, N. ``None``: 8 % of body weight (``0.08 m g``).
    direction_deg
        Direction of the push in the horizontal plane: 0 = forward (+x, AP), 90 = to the
        left (+y, ML), 180 = backward, 270 = to the right.
    """

    onset_s: float
    duration_s: float = 0.2
    force_n: float | None = None
    direction_deg: float = 0.0

    def __post_init__(self) -> None:
        if not (self.onset_s >= 0 and math.isfinite(self.onset_s)):
            raise ParameterError(f"Perturbation.onset_s must be >= 0, got {self.onset_s}")
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ParameterError(f"Perturbation.duration_s must be > 0, got {self.duration_s}")
        if self.force_n is not None and not (self.force_n >= 0 and math.isfinite(self.force_n)):
            raise ParameterError(f"Perturbation.force_n must be >= 0, got {self.force_n}")


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a recording in one posture.

    Attributes
    ----------
    posture
        One of :data:`POSTURES`.
    duration_s
        Length of the segment, s. The first ``transition_s`` of a segment whose posture
        differs from the previous one is a smooth (minimum-jerk) change of orientation
        and position, taken out of this duration.
    support
        Where the therapist holds the child, one of ``contract.SUPPORT_POINTS``
        (``"none"`` = independent). Used by the pendulum postures.
    repetitions
        Number of movement bursts (each followed by a hold), evenly spread over the
        segment after the transition. 0 = a plain hold.
    label
        Exercise label written into the truth events (``exercise`` column).
    perturbations
        Pushes during this segment (pendulum postures only).
    """

    posture: str
    duration_s: float
    support: str = "none"
    repetitions: int = 0
    label: str = ""
    perturbations: tuple[Perturbation, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.posture not in POSTURES:
            raise ParameterError(f"Segment.posture must be one of {', '.join(POSTURES)}; got {self.posture!r}")
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ParameterError(f"Segment.duration_s must be > 0, got {self.duration_s}")
        if self.support not in contract.SUPPORT_POINTS:
            raise ParameterError(
                f"Segment.support must be one of {', '.join(contract.SUPPORT_POINTS)}; got {self.support!r}"
            )
        if int(self.repetitions) != self.repetitions or self.repetitions < 0:
            raise ParameterError(f"Segment.repetitions must be a non-negative integer, got {self.repetitions}")
        perts = tuple(self.perturbations)
        object.__setattr__(self, "perturbations", perts)
        for p in perts:
            if not isinstance(p, Perturbation):
                raise ParameterError(f"Segment.perturbations must hold Perturbation objects, got {type(p).__name__}")
            if p.onset_s + p.duration_s > self.duration_s:
                raise ParameterError(
                    f"perturbation at {p.onset_s} s (+{p.duration_s} s) does not fit in a {self.duration_s} s segment"
                )
        if perts and self.posture not in PENDULUM_POSTURES:
            raise ParameterError(
                f"perturbations need a pendulum posture ({', '.join(PENDULUM_POSTURES)}); got {self.posture!r}"
            )

    @property
    def exercise(self) -> str:
        """The label, or the posture when no label was given."""
        return self.label or self.posture


def total_duration_s(segments: list[Segment] | tuple[Segment, ...]) -> float:
    """Sum of the segment durations, s."""
    return float(sum(s.duration_s for s in segments))
