"""Where the body pivots and how far its centre of mass (COM) moves: posture and support.

A single trunk IMU measures the trunk's tilt θ. The whole-body COM moves horizontally by
``lever · sin θ`` when the part of the body above a pivot sways as one rigid segment:

    lever = μ · l

with μ the mass fraction above the pivot and l the distance from the pivot to that part's
COM. The pivot is the ankle when standing free, the joint the therapist holds when standing
with support (DMI moves the hold from the hips to the knees to the ankles), the hips (on the
seat) when sitting. Supported at the knees, the body above the knees (88 % of the mass, its
COM 0.638 h above the knees) sways about them: the whole-body COM moves 0.560 h·sin θ, not
h·sin θ — the trunk-only pendulum overstated supported-standing COM by 1.79× (issue 13,
4.24 mm measured vs 2.37 mm true).

Anthropometry, all heights multiples of ``h = com_height_m`` (the whole-body COM height above
the ankle joints upright): adult fractions of stature (Winter 2009 via Duarte's
``BMClab/BMC`` ``cogve.py``; knee and hip fractions [R]): knee 0.472 h, hip 0.942 h above the
ankle; segment masses HAT 0.678, thighs 0.200, shanks 0.093, feet 0.029 of body mass (Winter
[V-src]); thigh and shank COM at 0.433 of the segment from the proximal joint; the HAT COM at
1.22 h, which makes the segments' COMs average to exactly 1.00 h. Children's proportions
differ (Jensen 1986, 1989: relatively heavier head and trunk); the table stays adult and the
child's own ``com_height_m`` scales it. The simulator's body (``sim.body``) is built from this
same table.

| posture / support | pivot | μ | l (× h) | lever μ·l (× h) |
|---|---|---|---|---|
| standing, support none / feet / ankles / shanks | ankle | 0.971 | 1.030 | 1.000 |
| standing, support knees / thighs | knee | 0.878 | 0.638 | 0.560 |
| standing, support hips / trunk | hip | 0.678 | 0.278 | 0.188 |
| sitting (any support) | hip (seat) | 0.678 | 0.278 | 0.188 |

Four-point, lying, kneeling and transitions have no such pendulum: :func:`com_lever_m` returns
None there and the COM measures are not reported (the registry's postures).
"""

from __future__ import annotations

from dataclasses import dataclass

from dmi_sensors.contract import SUPPORT_POINTS
from dmi_sensors.errors import ParameterError

__all__ = [
    "HIP_FRAC",
    "JOINT_FRAC",
    "KNEE_FRAC",
    "SEGMENTS",
    "STANDING_PIVOT",
    "Lever",
    "com_lever",
    "com_lever_m",
    "upper_part",
]

KNEE_FRAC = 0.472
HIP_FRAC = 0.942
#: (name, mass fraction, COM height as a multiple of h)
SEGMENTS: tuple[tuple[str, float, float], ...] = (
    ("feet", 0.029, 0.0),
    ("shanks", 0.093, KNEE_FRAC * (1.0 - 0.433)),
    ("thighs", 0.200, HIP_FRAC - 0.433 * (HIP_FRAC - KNEE_FRAC)),
    ("hat", 0.678, 1.22),
)
#: joint -> height above the ankle, multiple of h
JOINT_FRAC: dict[str, float] = {"ankle": 0.0, "knee": KNEE_FRAC, "hip": HIP_FRAC}
#: support point -> the joint the standing body pivots about (the hold fixes what is below it)
STANDING_PIVOT: dict[str, str] = {
    "trunk": "hip",
    "hips": "hip",
    "thighs": "knee",
    "knees": "knee",
    "shanks": "ankle",
    "ankles": "ankle",
    "feet": "ankle",
    "none": "ankle",
}
#: postures with a pendulum (the registry's ``PENDULUM_POSTURES``)
_PENDULUM = ("standing", "sitting")


def upper_part(pivot_frac: float) -> tuple[float, float]:
    """``(μ, COM height as a multiple of h)`` of the segments whose COM lies above a pivot."""
    parts = [(m, c) for _, m, c in SEGMENTS if c > pivot_frac]
    mu = sum(m for m, _ in parts)
    com = sum(m * c for m, c in parts) / mu
    return mu, com


@dataclass(frozen=True)
class Lever:
    """The pendulum of a posture and support, as multiples of h.

    ``pivot``: the joint; ``pivot_frac``: its height above the ankle; ``mass_fraction`` μ;
    ``com_distance_frac`` l; ``lever_frac`` = μ·l.
    """

    posture: str
    support: str
    pivot: str
    pivot_frac: float
    mass_fraction: float
    com_distance_frac: float

    @property
    def lever_frac(self) -> float:
        return self.mass_fraction * self.com_distance_frac


def com_lever(posture: str, support: str = "none") -> Lever | None:
    """The :class:`Lever` of ``posture`` (``"standing"``, ``"sitting"``; ``"supported_standing"``
    is standing) with the therapist's ``support`` (``contract.SUPPORT_POINTS``, ``""`` = none);
    None for postures without a pendulum."""
    posture = "standing" if posture == "supported_standing" else posture
    support = support or "none"
    if support not in SUPPORT_POINTS:
        raise ParameterError(f"support must be one of {', '.join(SUPPORT_POINTS)}; got {support!r}")
    if posture not in _PENDULUM:
        return None
    pivot = "hip" if posture == "sitting" else STANDING_PIVOT[support]
    pivot_frac = JOINT_FRAC[pivot]
    mu, com = upper_part(pivot_frac)
    return Lever(posture, support, pivot, pivot_frac, mu, com - pivot_frac)


def com_lever_m(com_height_m: float, posture: str, support: str = "none") -> float | None:
    """Whole-body COM displacement per unit ``sin θ`` of the trunk, m (module docs); None
    where the posture has no pendulum."""
    lever = com_lever(posture, support)
    return None if lever is None else float(com_height_m) * lever.lever_frac
