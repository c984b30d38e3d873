"""A two-segment body: legs about the ankles (or the held knees) and the upper body about the hips.

The single pendulum of :mod:`~dmi_sensors.sim.pendulum` makes trunk tilt equal body tilt.
Children -- and adults after a push -- also bend at the hip (the "hip strategy", Horak &
Nashner 1986 [R]): the upper body (head, arms, trunk: HAT) turns one way while the legs turn
the other, and the trunk sensor's tilt no longer says where the centre of mass (COM) is. This
module simulates that, as ground truth for the two-sensor COM estimate
(:mod:`dmi_sensors.metrics.com_two_segment`).

Model (one plane; AP and ML are simulated independently, ML as a sagittal-type linkage, which
a real pelvis is not -- Foulger et al. 2025 -- but it gives the estimate a lateral hip
motion to follow)::

    th1   absolute angle of the lower segment from vertical (pivot -> hip), rad
    th2   absolute angle of the upper body (hip -> up), rad;   phi = th2 - th1 the hip angle
    x_COM = A sin th1 + B sin th2,  A = (m1 c1 + m2 L1) / m,  B = m2 c2 / m   (A + B = h upright)

Segments from THE anthropometric table (:mod:`dmi_sensors.metrics.levers`, multiples of the
COM height ``h``): standing free the lower segment is shanks + thighs (feet stay on the
floor), ``L1 = 0.942 h`` (hip), ``m1 = 0.293 m``, its COM at 0.589 h; held at the knees it is
the thighs alone above the knee. The upper body is the HAT, ``m2 = 0.678 m``, its COM
``c2 = 0.278 h`` above the hip: A = 0.811 h, B = 0.189 h standing free. Radii of gyration
about the segment COMs (Winter 2009 via Duarte's BMClab/BMC data [V-src]): total leg 0.326 of
its length, HAT 0.496 of its length (its COM at 0.626 of it from the hip).

Equations of motion (Lagrange, absolute angles; science notes §4.3) and the delayed PD
control at both joints are in :func:`dmi_sensors.sim._kernels.delayed_pd_double_pendulum`.
Gains are normalised: ankle by ``G = G1 + G2 = m g h`` and ``T0 = sqrt(I_total / G)`` with
the body's plane control (:class:`~dmi_sensors.sim.body.PlaneControl`, scaled by
:data:`ANKLE_GAIN_FACTOR` because two segments need a stiffer ankle: upright is statically
stable only if ``K_h > G2`` and ``K_a > G1 + K_h G2 / (K_h - G2)``); hip by ``G2 = m2 g c2``
and ``T2 = sqrt(M22 / G2)`` with ``BodyParams.hip``. Both joints share the feedback delay
and get their own low-pass filtered noise torque (``noise x G`` at the ankle, ``hip.noise x
G2`` at the hip, both times the child's noise factor). Pushes act on the upper body at its
COM (``d = c2`` above the hip): the upper body is thrown over the hip while the legs turn
back -- a visible hip strategy for short, strong pushes; slow sway stays mostly in phase.
The gains are engineering choices (no published paediatric two-joint gains exist; science
notes §9.4); :func:`static_margin` checks the stability condition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.levers import HIP_FRAC, JOINT_FRAC, SEGMENTS
from dmi_sensors.sim._kernels import delayed_pd_double_pendulum
from dmi_sensors.sim.body import BodyParams, PlaneControl, blend_control
from dmi_sensors.sim.jet import Jet
from dmi_sensors.sim.pendulum import noise_torque, sampled_jet, substeps_for

__all__ = [
    "ANKLE_GAIN_FACTOR",
    "TwoSegmentDynamics",
    "TwoSegmentSpec",
    "double_pendulum_reference",
    "simulate_two_segment_plane",
    "static_margin",
    "two_segment_angles",
    "two_segment_spec",
]

#: Leg radius of gyration about its COM, fraction of its length (Winter: total leg 0.326).
LEG_GYRATION = 0.326
#: HAT radius of gyration about its COM, fraction of its length (Winter: 0.496), COM at 0.626.
HAT_GYRATION = 0.496
HAT_COM_FRACTION = 0.626
#: Ankle gains of the two-segment body: the single-pendulum gains times this.
ANKLE_GAIN_FACTOR = 1.35
WARMUP_S = 5.0


@dataclass(frozen=True, slots=True)
class TwoSegmentSpec:
    """Geometry and masses of the two segments (SI units).

    ``pivot``: ``"ankle"`` or ``"knee"``; ``pivot_height_m`` above the ankles; ``m1_kg``,
    ``c1_m`` (COM above the pivot), ``l1_m`` (pivot to hip), ``i1_kgm2`` (about its own COM);
    ``m2_kg``, ``c2_m`` (COM above the hip), ``i2_kgm2``; ``body_mass_kg`` the whole body
    (feet included: they stay on the floor).
    """

    pivot: str
    pivot_height_m: float
    m1_kg: float
    c1_m: float
    l1_m: float
    i1_kgm2: float
    m2_kg: float
    c2_m: float
    i2_kgm2: float
    body_mass_kg: float

    @property
    def a_m(self) -> float:
        """``A = (m1 c1 + m2 L1) / m``: whole-body COM per unit ``sin th1``, m."""
        return (self.m1_kg * self.c1_m + self.m2_kg * self.l1_m) / self.body_mass_kg

    @property
    def b_m(self) -> float:
        """``B = m2 c2 / m``: whole-body COM per unit ``sin th2``, m."""
        return self.m2_kg * self.c2_m / self.body_mass_kg

    @property
    def g1_nm(self) -> float:
        return (self.m1_kg * self.c1_m + self.m2_kg * self.l1_m) * STANDARD_GRAVITY_MPS2

    @property
    def g2_nm(self) -> float:
        return self.m2_kg * self.c2_m * STANDARD_GRAVITY_MPS2

    @property
    def mass_matrix(self) -> tuple[float, float, float]:
        """``(M11, m2 L1 c2, M22)`` of the equations of motion, kg m^2."""
        m11 = self.i1_kgm2 + self.m1_kg * self.c1_m**2 + self.m2_kg * self.l1_m**2
        return m11, self.m2_kg * self.l1_m * self.c2_m, self.i2_kgm2 + self.m2_kg * self.c2_m**2

    @property
    def inertia_total_kgm2(self) -> float:
        """Moment of inertia about the pivot with the hip locked, kg m^2."""
        m11, m12, m22 = self.mass_matrix
        return m11 + 2.0 * m12 + m22


def two_segment_spec(body: BodyParams, pivot: str = "ankle") -> TwoSegmentSpec:
    """The :class:`TwoSegmentSpec` of ``body`` swaying about the ankles or the held knees."""
    if pivot not in ("ankle", "knee"):
        raise ParameterError(f"two-segment pivot must be 'ankle' or 'knee', got {pivot!r}")
    h = body.com_height_m
    mass = body.mass_kg_
    p = JOINT_FRAC[pivot]
    lower = [(m, c) for name, m, c in SEGMENTS if name in ("shanks", "thighs") and c > p]
    m1 = sum(m for m, _ in lower)
    c1 = sum(m * c for m, c in lower) / m1 - p
    l1 = HIP_FRAC - p
    m2, hat_com = next((m, c) for name, m, c in SEGMENTS if name == "hat")
    c2 = hat_com - HIP_FRAC
    hat_len = c2 / HAT_COM_FRACTION
    return TwoSegmentSpec(
        pivot=pivot,
        pivot_height_m=p * h,
        m1_kg=m1 * mass,
        c1_m=c1 * h,
        l1_m=l1 * h,
        i1_kgm2=m1 * mass * (LEG_GYRATION * l1 * h) ** 2,
        m2_kg=m2 * mass,
        c2_m=c2 * h,
        i2_kgm2=m2 * mass * (HAT_GYRATION * hat_len * h) ** 2,
        body_mass_kg=mass,
    )


@dataclass(frozen=True, slots=True)
class TwoSegmentDynamics:
    """Physical gains of one plane (N m/rad, N m s/rad) and the delay (s)."""

    kp_ankle: float
    kd_ankle: float
    k_ankle: float
    b_ankle: float
    kp_hip: float
    kd_hip: float
    k_hip: float
    b_hip: float
    delay_s: float

    @property
    def gains(self) -> np.ndarray:
        return np.array(
            [
                self.kp_ankle,
                self.kd_ankle,
                self.k_ankle,
                self.b_ankle,
                self.kp_hip,
                self.kd_hip,
                self.k_hip,
                self.b_hip,
            ]
        )


def plane_dynamics(spec: TwoSegmentSpec, ankle: PlaneControl, hip: PlaneControl, body: BodyParams, extra: float = 0.0):
    """:class:`TwoSegmentDynamics` from normalised gains (module docstring); ``extra``: support
    stiffness at the pivot, multiple of ``G`` (with damping ``0.3 x extra x G T0``)."""
    g = spec.g1_nm + spec.g2_nm
    t0 = math.sqrt(spec.inertia_total_kgm2 / g)
    g2 = spec.g2_nm
    t2 = math.sqrt(spec.mass_matrix[2] / g2)
    delay = body.effective_delay_s
    a = blend_control(ankle, delay / t0)
    f = ANKLE_GAIN_FACTOR
    return TwoSegmentDynamics(
        kp_ankle=f * a.kp * g,
        kd_ankle=f * a.kd * g * t0,
        k_ankle=(f * a.k_passive + extra) * g,
        b_ankle=(a.b_passive + 0.3 * extra) * g * t0,
        kp_hip=hip.kp * g2,
        kd_hip=hip.kd * g2 * t2,
        k_hip=hip.k_passive * g2,
        b_hip=hip.b_passive * g2 * t2,
        delay_s=delay,
    )


def static_margin(spec: TwoSegmentSpec, dyn: TwoSegmentDynamics) -> float:
    """``K_a - (G1 + K_h G2 / (K_h - G2))`` in N m/rad (total stiffness, passive + active):
    > 0 where upright is statically stable (science notes §4.3); -inf if ``K_h <= G2``."""
    ka = dyn.kp_ankle + dyn.k_ankle
    kh = dyn.kp_hip + dyn.k_hip
    g1, g2 = spec.g1_nm, spec.g2_nm
    if kh <= g2:
        return -math.inf
    return ka - (g1 + kh * g2 / (kh - g2))


def simulate_two_segment_plane(
    spec: TwoSegmentSpec,
    dyn: TwoSegmentDynamics,
    dt_s: float,
    theta_ref: np.ndarray,
    omega_ref: np.ndarray,
    torque_ankle_nm: np.ndarray,
    torque_hip_nm: np.ndarray,
    force_push_n: np.ndarray,
    push_height_m: float,
) -> np.ndarray:
    """Integrate one plane on the internal grid; ``(6, n)``: th1, th1', th1'', th2, th2', th2''."""
    ref, om, ta, th, fp = (
        np.ascontiguousarray(x, dtype=np.float64)
        for x in (theta_ref, omega_ref, torque_ankle_nm, torque_hip_nm, force_push_n)
    )
    n = ref.shape[0]
    if any(x.shape != (n,) for x in (om, ta, th, fp)):
        raise ParameterError("references, torques and push force must have the same length")
    if not dyn.delay_s >= 0.0:
        raise ParameterError(f"feedback delay: expected >= 0 s, found {dyn.delay_s!r}")
    out = np.empty((6, n))
    delayed_pd_double_pendulum(
        float(dt_s),
        np.array(spec.mass_matrix),
        np.array([spec.g1_nm, spec.g2_nm]),
        dyn.gains,
        round(dyn.delay_s / dt_s),
        ref,
        om,
        ta,
        th,
        fp,
        float(spec.l1_m),
        float(push_height_m),
        out,
    )
    return out


def double_pendulum_reference(
    spec: TwoSegmentSpec,
    dyn: TwoSegmentDynamics,
    dt_s: float,
    theta_ref,
    omega_ref,
    torque_ankle_nm,
    torque_hip_nm,
    force_push_n,
    push_height_m: float,
) -> np.ndarray:
    """Pure-Python twin of the Numba kernel (slow; for tests): the same ``(6, n)`` output."""
    n = len(theta_ref)
    m11, m12c, m22 = spec.mass_matrix
    g1, g2 = spec.g1_nm, spec.g2_nm
    kpa, kda, ka, ba, kph, kdh, kh, bh = (float(x) for x in dyn.gains)
    delay = round(dyn.delay_s / dt_s)
    out = np.zeros((6, n))
    th1 = om1 = th2 = om2 = 0.0
    for k in range(n):
        out[0, k], out[1, k], out[3, k], out[4, k] = th1, om1, th2, om2
        j = k - delay
        if j >= 0:
            e1, e1d = out[0, j] - theta_ref[j], out[1, j] - omega_ref[j]
            ph, phd = out[3, j] - out[0, j], out[4, j] - out[1, j]
        else:
            e1, e1d, ph, phd = -theta_ref[0], -omega_ref[0], 0.0, 0.0
        ref = theta_ref[k]
        tau_a = -(g1 + g2) * math.sin(ref) - kpa * e1 - kda * e1d - ka * (th1 - ref) - ba * om1 + torque_ankle_nm[k]
        tau_h = -g2 * math.sin(ref) - kph * ph - kdh * phd - kh * (th2 - th1) - bh * (om2 - om1) + torque_hip_nm[k]
        f = force_push_n[k]
        r1 = g1 * math.sin(th1) - m12c * math.sin(th1 - th2) * om2**2 + tau_a - tau_h + f * spec.l1_m * math.cos(th1)
        r2 = g2 * math.sin(th2) + m12c * math.sin(th1 - th2) * om1**2 + tau_h + f * push_height_m * math.cos(th2)
        m12 = m12c * math.cos(th1 - th2)
        det = m11 * m22 - m12 * m12
        a1, a2 = (m22 * r1 - m12 * r2) / det, (m11 * r2 - m12 * r1) / det
        out[:, k] = (th1, om1, a1, th2, om2, a2)
        om1 += dt_s * a1
        th1 += dt_s * om1
        om2 += dt_s * a2
        th2 += dt_s * om2
    return out


def two_segment_angles(
    spec: TwoSegmentSpec,
    body: BodyParams,
    n: int,
    fs_hz: float,
    rng: np.random.Generator,
    reference: tuple[Jet, np.ndarray] | None,
    pushes,
    extra_stiffness: float = 0.0,
) -> dict[str, tuple[Jet, Jet]]:
    """Simulate both planes; ``{"ap": (th1, th2), "ml": (th1, th2)}`` as jets at the sample times.

    ``reference``: the AP lean reference as ``(jet on the internal grid, internal times)``
    (voluntary leans of the repetitions; both segments lean together), or None. ``pushes``:
    :class:`~dmi_sensors.sim.motion.PushTruth`-like objects (``onset_s, duration_s, force_n,
    direction_deg``) acting on the upper body at its COM.
    """
    sub = substeps_for(fs_hz)
    dt = 1.0 / (fs_hz * sub)
    n_warm = round(WARMUP_S / dt)
    n_int = n * sub
    t_int = (np.arange(n_warm + n_int) - n_warm) * dt
    g = spec.g1_nm + spec.g2_nm
    out: dict[str, tuple[Jet, Jet]] = {}
    for plane, ctrl in (("ap", body.ap), ("ml", body.ml)):
        dyn = plane_dynamics(spec, ctrl, body.hip, body, extra_stiffness)
        factor = body.noise_factor
        n_a = noise_torque(rng, n_warm + n_int, dt, ctrl.noise * factor * g, body.noise_cutoff_hz)
        n_h = noise_torque(rng, n_warm + n_int, dt, body.hip.noise * factor * spec.g2_nm, body.noise_cutoff_hz)
        force = np.zeros(n_warm + n_int)
        for p in pushes:
            inside = (t_int >= p.onset_s) & (t_int <= p.onset_s + p.duration_s)
            comp = math.cos(math.radians(p.direction_deg)) if plane == "ap" else math.sin(math.radians(p.direction_deg))
            force += np.where(inside, p.force_n * comp * np.sin(np.pi * (t_int - p.onset_s) / p.duration_s), 0.0)
        if plane == "ap" and reference is not None:
            theta_ref, omega_ref = reference[0].v, reference[0].d
        else:
            theta_ref = omega_ref = np.zeros(n_warm + n_int)
        res = simulate_two_segment_plane(spec, dyn, dt, theta_ref, omega_ref, n_a, n_h, force, spec.c2_m)
        th1 = Jet(*sampled_jet(res[0], res[1], res[2], n_warm, sub))
        th2 = Jet(*sampled_jet(res[3], res[4], res[5], n_warm, sub))
        out[plane] = (th1, th2)
    return out
