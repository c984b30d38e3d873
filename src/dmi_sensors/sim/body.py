"""Body parameters of the simulated child (or adult) and the support model.

Anthropometry
-------------
The table lives in :mod:`dmi_sensors.metrics.levers` (the analysis's COM lever of a
posture and support comes from the same numbers). All heights are given as multiples of
``h = com_height_m``, the height of the whole-body centre of mass (COM) above the ankle
joints in upright stance. Adult fractions of stature ``H`` (Winter 2009, *Biomechanics and
Motor Control of Human Movement*, 4th ed., via Duarte's ``BMClab/BMC``
``functions/cogve.py``): ankle 0.039 H, knee 0.285 H, hip (greater trochanter) 0.530 H,
COM 0.560 H, so above the ankle knee = 0.472 h, hip = 0.942 h. Segment masses (Winter):
head-arms-trunk (HAT) 0.678, thighs 2 x 0.100, shanks 2 x 0.0465, feet 2 x 0.0145 of body
mass; thigh and shank COM at 0.433 of the segment length from the proximal joint. The HAT
COM is placed at 1.22 h, which makes the weighted mean of the segment COMs exactly the
whole-body COM (1.00 h). Children's proportions differ (relatively larger head and trunk;
Jensen 1986, 1989): the model keeps adult fractions and takes the child's own
``com_height_m`` -- measure it or use Jensen's regressions; do not use 0.56 H for young
children.

Moment of inertia of a pendulum of mass ``M`` with its COM at distance ``l`` from the
pivot: ``I = c_I M l^2`` with ``c_I = 1.2`` (adult whole body about the ankles:
``I_a = m (0.0533 H^2 + h^2)`` = 1.196 m h^2, Brenière 1996 as used in ``cogve.py``).

Control (one plane; normalised by the pendulum's gravity stiffness ``mgl = M g l`` and
its time constant ``T0 = sqrt(I / mgl)``)::

    K_passive = k_passive mgl           (N m/rad; intrinsic ankle/hip stiffness)
    B_passive = b_passive mgl T0        (N m s/rad)
    K_p       = kp mgl,  K_d = kd mgl T0  (delayed active feedback)
    tau       = delay_s                  (feedback delay, s)
    torque noise: white noise through a first-order low-pass at ``noise_cutoff_hz``,
              spectral density ``noise mgl`` (N m / sqrt(Hz)) before filtering

Structure after Peterka 2002 (J Neurophysiol 88:1097) and Maurer & Peterka 2005
(J Neurophysiol 93:189): an inverted pendulum with delayed PD feedback and a low-pass
filtered noise torque; passive stiffness below ``mgl`` (Casadio, Morasso & Sanguineti
2005, Gait Posture 21:410; Loram & Lakie 2002) so that active control is needed
[values recalled, not checked against the papers]. The gains here are engineering
choices that keep the loop stable for every pendulum length used, and the noise level is
**tuned** so that adult parameters (h = 0.91 m) give a quiet-stance COM RMS of about
4-5 mm AP and 2-3 mm ML over 60 s with a mean COM sway frequency near 0.2-0.3 Hz
("a few mm", the range of force-plate COM estimates in young adults).

Short pendulums
---------------
When the feedback delay is long compared with the pendulum's time constant (``delta =
tau / T0``; small children sitting, hip-level support) a stiff delayed loop goes unstable.
The normalised gains are then blended towards an intrinsic-dominated set
:data:`ROBUST_CONTROL` (``k_passive 1.0, b_passive 0.4, kp 0.2, kd 0.3``) with weight
``clip((delta - 0.6) / 0.6, 0, 1)``. A scan over pendulum lengths 0.05-1.0 m, delays
0.15-0.2 s and support stiffness 0-1 mgl found every combination stable (engineering
choice; short body segments rely more on intrinsic stiffness and fast reflexes).

Children
--------
``maturity`` in [0, 1] (1 = adult control; default from the COM height,
``clip((h - 0.40) / 0.50, 0, 1)``) scales the noise torque by ``1 + 1.5 (1 - maturity)``
and lengthens the feedback delay by ``0.05 (1 - maturity)`` s. Children sway more and
at higher frequencies than adults (Oba et al. 2015, PLoS ONE 10:e0140235; Riach & Hayes
1987); the factors are engineering choices, not fitted values.

Support model (DMI: support moves from proximal to distal)
----------------------------------------------------------
A therapist's hold at a support level fixes the body below a joint, so the child only has
to control the segments above it, and may add stiffness at that joint::

    support  pivot joint  extra stiffness (x mgl)   upper part that sways
    trunk    hip          1.0                        HAT
    hips     hip          0.0                        HAT
    thighs   knee         0.1                        HAT + thighs
    knees    knee         0.0                        HAT + thighs
    shanks   ankle        0.1                        all but feet
    ankles   ankle        0.05                       all but feet
    feet     ankle        0.02                       all but feet
    none     ankle        0.0                        all but feet

The upper part is one rigid inverted pendulum about the pivot (its mass ``M = mu m`` and
COM distance ``l`` from the segment table); the whole-body COM moves by ``mu l sin(theta)``.
The noise torque (the child's own imperfect control) scales with what is left to control:
``noise x mgl x (l / l_standing)`` (:func:`noise_length_factor`). Support further from
the trunk therefore means a longer, heavier, noisier pendulum and less help: more sway.
With these values trunk tilt RMS, trunk acceleration RMS and COM RMS all increase
monotonically along ``contract.SUPPORT_POINTS`` (trunk < hips < thighs < knees < shanks <
ankles < feet < none; checked for h = 0.6 and 0.91 m, 3 seeds x 40 s). The extra stiffness also gets a matching damping
``0.3 x stiffness x T0``. Sitting is the HAT pendulum about the hips on a seat; there the
support adds stiffness 1.0 (trunk), 0.4 (hips), 0.2 (thighs), 0.1 (knees), 0.05 (shanks),
0.03 (ankles), 0.02 (feet), 0 (none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics import levers as _levers
from dmi_sensors.metrics.levers import HIP_FRAC, KNEE_FRAC, SEGMENTS, upper_part  # noqa: F401 (SEGMENTS: re-export)

__all__ = [
    "BODY_MODELS",
    "ROBUST_CONTROL",
    "BodyParams",
    "PendulumSpec",
    "PlaneControl",
    "blend_control",
    "default_sensor_height_m",
    "pendulum_spec",
]

# --- anthropometry, multiples of h (COM height above ankle): THE table of metrics.levers ----
#: (the analysis computes the COM lever of a posture and support from the same table)
JOINT_FRAC = _levers.JOINT_FRAC
INERTIA_FACTOR = 1.2

#: support level -> (pivot joint, extra stiffness x mgl) when standing
STANDING_SUPPORT: dict[str, tuple[str, float]] = {
    support: (_levers.STANDING_PIVOT[support], extra)
    for support, extra in (
        ("trunk", 1.0),
        ("hips", 0.0),
        ("thighs", 0.1),
        ("knees", 0.0),
        ("shanks", 0.1),
        ("ankles", 0.05),
        ("feet", 0.02),
        ("none", 0.0),
    )
}
#: support level -> extra stiffness x mgl when sitting (pivot: hip)
SITTING_SUPPORT: dict[str, float] = {
    "trunk": 1.0,
    "hips": 0.4,
    "thighs": 0.2,
    "knees": 0.1,
    "shanks": 0.05,
    "ankles": 0.03,
    "feet": 0.02,
    "none": 0.0,
}
SUPPORT_DAMPING_RATIO = 0.3


@dataclass(frozen=True, slots=True)
class PlaneControl:
    """Normalised control parameters of one plane (see the module docstring)."""

    k_passive: float
    b_passive: float
    kp: float
    kd: float
    noise: float


#: Gains for pendulums with a long delay relative to their time constant.
ROBUST_CONTROL = PlaneControl(k_passive=1.0, b_passive=0.4, kp=0.2, kd=0.3, noise=0.0)


def blend_control(ctrl: PlaneControl, delay_over_t0: float) -> PlaneControl:
    """The gains used for a pendulum with ``delta = delay / T0`` (see "Short pendulums")."""
    w = min(1.0, max(0.0, (delay_over_t0 - 0.6) / 0.6))
    r = ROBUST_CONTROL
    return PlaneControl(
        k_passive=(1 - w) * ctrl.k_passive + w * r.k_passive,
        b_passive=(1 - w) * ctrl.b_passive + w * r.b_passive,
        kp=(1 - w) * ctrl.kp + w * r.kp,
        kd=(1 - w) * ctrl.kd + w * r.kd,
        noise=ctrl.noise,
    )


def _default_ap() -> PlaneControl:
    return PlaneControl(k_passive=0.8, b_passive=0.1, kp=0.4, kd=0.9, noise=0.0014)


def _default_ml() -> PlaneControl:
    return PlaneControl(k_passive=1.0, b_passive=0.15, kp=0.4, kd=0.9, noise=0.0010)


def _default_hip() -> PlaneControl:
    # normalised by the upper body's gravity stiffness G2 = m2 g c2 and T2 (sim.two_segment)
    return PlaneControl(k_passive=6.0, b_passive=1.5, kp=0.5, kd=0.1, noise=0.0008)


#: Body models: one rigid pendulum, or legs + upper body (:mod:`dmi_sensors.sim.two_segment`).
BODY_MODELS = ("single_segment", "two_segment")


@dataclass(frozen=True, slots=True)
class BodyParams:
    """A simulated person.

    Attributes
    ----------
    com_height_m
        Whole-body COM height above the ankle joints when upright, m (adult ~0.91 m for
        1.75 m stature; a 5-year-old ~0.55-0.6 m).
    mass_kg
        Body mass, kg. ``None``: ``BMI x H^2`` with ``H = h / 0.521`` and BMI 16 (child)
        to 22 (adult) by ``maturity``. Sway angles do not depend on mass (all torques are
        normalised by ``mgl``); it sets the default push force.
    maturity
        0 (young child) .. 1 (adult control). ``None``: from ``com_height_m``.
    delay_s
        Adult feedback delay, s (children: ``+0.05 (1 - maturity)``).
    noise_cutoff_hz
        Corner of the first-order low-pass applied to the noise torque, Hz.
    noise_scale
        Overall factor on the noise torque (0 = no spontaneous sway; movements and pushes
        still happen).
    ap, ml
        Normalised control parameters per plane.
    model
        ``"single_segment"`` (one rigid pendulum about the pivot, the default) or
        ``"two_segment"``: standing free or held at the knees, legs and upper body are two
        segments joined at the hip with delayed control at both joints
        (:mod:`dmi_sensors.sim.two_segment`); other postures and supports stay one segment.
    hip
        Normalised hip control of the two-segment body (both planes; by the upper body's
        gravity stiffness ``G2`` and time constant ``T2``).
    """

    com_height_m: float = 0.91
    mass_kg: float | None = None
    maturity: float | None = None
    delay_s: float = 0.15
    noise_cutoff_hz: float = 10.0
    noise_scale: float = 1.0
    ap: PlaneControl = field(default_factory=_default_ap)
    ml: PlaneControl = field(default_factory=_default_ml)
    model: str = "single_segment"
    hip: PlaneControl = field(default_factory=_default_hip)

    def __post_init__(self) -> None:
        if self.model not in BODY_MODELS:
            raise ParameterError(f"model must be one of {', '.join(BODY_MODELS)}, got {self.model!r}")
        if not (0.1 <= self.com_height_m <= 1.5):
            raise ParameterError(f"com_height_m must be in [0.1, 1.5] m, got {self.com_height_m}")
        if self.mass_kg is not None and not (1.0 <= self.mass_kg <= 300.0):
            raise ParameterError(f"mass_kg must be in [1, 300] kg, got {self.mass_kg}")
        if self.maturity is not None and not (0.0 <= self.maturity <= 1.0):
            raise ParameterError(f"maturity must be in [0, 1], got {self.maturity}")
        if not (0.0 <= self.delay_s <= 0.5):
            raise ParameterError(f"delay_s must be in [0, 0.5] s, got {self.delay_s}")
        if not (self.noise_scale >= 0.0 and math.isfinite(self.noise_scale)):
            raise ParameterError(f"noise_scale must be >= 0, got {self.noise_scale}")
        if not (self.noise_cutoff_hz > 0.0):
            raise ParameterError(f"noise_cutoff_hz must be > 0, got {self.noise_cutoff_hz}")

    # --- derived -------------------------------------------------------------------
    @property
    def maturity_(self) -> float:
        """The maturity used (given, or ``clip((h - 0.40) / 0.50, 0, 1)``)."""
        if self.maturity is not None:
            return float(self.maturity)
        return float(min(1.0, max(0.0, (self.com_height_m - 0.40) / 0.50)))

    @property
    def mass_kg_(self) -> float:
        """The body mass used, kg."""
        if self.mass_kg is not None:
            return float(self.mass_kg)
        stature_m = self.com_height_m / 0.521
        return (16.0 + 6.0 * self.maturity_) * stature_m**2

    @property
    def hip_height_m(self) -> float:
        """Hip joint height above the ankles when standing, m."""
        return HIP_FRAC * self.com_height_m

    @property
    def knee_height_m(self) -> float:
        """Knee joint height above the ankles, m (also the seat height)."""
        return KNEE_FRAC * self.com_height_m

    @property
    def hat_com_above_hip_m(self) -> float:
        """COM of head-arms-trunk above the hip joint, m."""
        return (1.22 - HIP_FRAC) * self.com_height_m

    @property
    def effective_delay_s(self) -> float:
        return self.delay_s + 0.05 * (1.0 - self.maturity_)

    @property
    def noise_factor(self) -> float:
        """Noise multiplier for immature control: ``noise_scale (1 + 1.5 (1 - maturity))``."""
        return self.noise_scale * (1.0 + 1.5 * (1.0 - self.maturity_))

    def with_(self, **changes) -> BodyParams:
        """A copy with some fields changed."""
        return replace(self, **changes)


def default_sensor_height_m(com_height_m: float) -> float:
    """Default trunk-sensor height above the ankles: ``1.1 com_height_m`` (about L3-L5)."""
    return 1.1 * com_height_m


@dataclass(frozen=True, slots=True)
class PendulumSpec:
    """One inverted pendulum (both planes share the geometry) in physical units.

    Attributes
    ----------
    pivot_height_m
        Height of the pivot joint above the ankles (standing frame), m.
    mass_kg
        Mass of the swaying upper part, kg.
    mass_fraction
        That mass as a fraction of body mass (``mu``).
    com_distance_m
        Distance of the upper part's COM from the pivot, m (``l``).
    inertia_kgm2
        Moment of inertia about the pivot, kg m^2.
    extra_stiffness
        Support stiffness, multiple of ``mgl``.
    """

    pivot_height_m: float
    mass_kg: float
    mass_fraction: float
    com_distance_m: float
    inertia_kgm2: float
    extra_stiffness: float

    @property
    def mgl_nm(self) -> float:
        """Gravity stiffness ``M g l``, N m/rad."""
        return self.mass_kg * STANDARD_GRAVITY_MPS2 * self.com_distance_m

    @property
    def t0_s(self) -> float:
        """Time constant ``sqrt(I / mgl)``, s."""
        return math.sqrt(self.inertia_kgm2 / self.mgl_nm)


#: Exponent of the noise-torque scaling with pendulum length (see "Support model").
NOISE_LENGTH_EXPONENT = 1.0


def noise_length_factor(spec: PendulumSpec, body: BodyParams) -> float:
    """``(l / l_standing) ** NOISE_LENGTH_EXPONENT``: less to control, less noise."""
    full = pendulum_spec(body, "standing", "none").com_distance_m
    return (spec.com_distance_m / full) ** NOISE_LENGTH_EXPONENT


def pendulum_spec(body: BodyParams, posture: str, support: str) -> PendulumSpec:
    """The pendulum of a pendulum posture (``standing``, ``supported_standing``, ``sitting``)."""
    h = body.com_height_m
    if posture == "sitting":
        joint, extra = "hip", SITTING_SUPPORT[support]
    elif posture in ("standing", "supported_standing"):
        joint, extra = STANDING_SUPPORT[support]
    else:
        raise ParameterError(f"no pendulum for posture {posture!r}")
    pivot_frac = JOINT_FRAC[joint]
    mu, com_frac = upper_part(pivot_frac)
    mass = mu * body.mass_kg_
    length = (com_frac - pivot_frac) * h
    return PendulumSpec(
        pivot_height_m=pivot_frac * h,
        mass_kg=mass,
        mass_fraction=mu,
        com_distance_m=length,
        inertia_kgm2=INERTIA_FACTOR * mass * length**2,
        extra_stiffness=extra,
    )
