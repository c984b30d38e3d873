"""Motion of the trunk and the centre of mass for one segment.

Every posture produces a :class:`Motion`: the trunk tilt angles and the world positions of
the sensor and of the whole-body COM, each as a :class:`~dmi_sensors.sim.jet.Jet` (value,
velocity, acceleration), on the segment's sample times ``t = k / fs_hz``.

Postures
--------
``standing``, ``supported_standing``, ``sitting``
    Delayed-PD inverted pendulum (:mod:`~dmi_sensors.sim.pendulum`, parameters and the
    support model in :mod:`~dmi_sensors.sim.body`), AP and ML planes independent. Pivot:
    ankle / knee / hip (standing, by support level) at ``(0, 0, pivot_height)``, or the
    hip on a seat at knee height (sitting). Sensor at ``sensor_height_m - pivot_height``
    along the trunk axis ``u`` above the pivot; whole-body COM displacement ``mu l u``.
    A 5 s warm-up is simulated and dropped so the segment starts in stationary sway.
    Repetitions are voluntary leans: the controller's reference angle follows a smooth
    out-and-back bump (standing 0.10 rad, supported 0.08 rad over 2 s; sitting 0.35 rad
    over 2.5 s, forward) with an anticipatory gravity feed-forward; the body follows with
    its own delayed dynamics. Pushes: half-sine force pulses at the COM of the swaying part.
``supine`` (tilt_ap = -pi/2), ``prone`` (+pi/2), ``side_lying`` (on the right side,
tilt_ml = -pi/2), ``four_point`` (hands and knees, trunk 0.1 rad above horizontal:
tilt_ap = pi/2 - 0.1)
    Kinematic: the base orientation plus small spontaneous movements (a sum of 12
    sinusoids, 0.05-0.8 Hz, 0.02 rad RMS per plane and 3 mm RMS in position, times the
    child's noise factor) about a pelvis (lying) or hip (four-point) pivot. Repetitions:
    supine roll attempts (tilt_ml +-0.35 rad alternating), prone chest lifts (tilt_ap
    -0.30 rad), side-lying roll-backs (tilt_ml +0.30 rad), four-point rocks (tilt_ap
    -0.12 rad and 6 cm forward), each a 2 s out-and-back bump.
``sit_to_stand``
    Each repetition: rise (1.6 s: trunk flexion bump 0.55 rad, hip moving on a
    minimum-jerk path from the seat -- a thigh length behind the knee at knee height --
    to upright over the ankles, seat-off at 35 % of the rise), standing hold, sit down
    (1.8 s, flexion 0.45 rad, hip back to the seat in the first 70 %), sitting hold.
    0 repetitions = one rise and a standing hold. Sway: the sitting (hip) and standing
    (ankle) pendulums are both simulated and mixed by the standing fraction ``w`` (the
    hip's progress): ``theta_trunk = flex + (1-w) theta_sit + w theta_stand``, ``hip =
    seat..upright + w hip_height (u(theta_stand) - e_z)``, sensor = hip + trunk lever x
    u(theta_trunk). COM during the rise is approximate (HAT and thighs only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.contract import STANDARD_GRAVITY_MPS2
from dmi_sensors.errors import ParameterError
from dmi_sensors.sim import jet
from dmi_sensors.sim.body import (
    STANDING_SUPPORT,
    SUPPORT_DAMPING_RATIO,
    BodyParams,
    PendulumSpec,
    PlaneControl,
    blend_control,
    noise_length_factor,
    pendulum_spec,
)
from dmi_sensors.sim.jet import Jet
from dmi_sensors.sim.kinematics import trunk_axis
from dmi_sensors.sim.pendulum import PlaneDynamics, noise_torque, simulate_plane, substeps_for
from dmi_sensors.sim.segments import LYING_POSTURES, PENDULUM_POSTURES, Segment
from dmi_sensors.sim.two_segment import WARMUP_S as TWO_SEGMENT_WARMUP_S
from dmi_sensors.sim.two_segment import two_segment_angles, two_segment_spec

__all__ = ["Motion", "PushTruth", "segment_motion"]

WARMUP_S = 5.0
DEFAULT_PUSH_FRACTION_OF_WEIGHT = 0.08

#: posture -> (plane, amplitude rad, duration s) of one repetition burst
BURSTS: dict[str, tuple[str, float, float]] = {
    "standing": ("ap", 0.10, 2.0),
    "supported_standing": ("ap", 0.08, 2.0),
    "sitting": ("ap", 0.35, 2.5),
    "supine": ("ml", 0.35, 2.0),
    "prone": ("ap", -0.30, 2.0),
    "side_lying": ("ml", 0.30, 2.0),
    "four_point": ("ap", -0.12, 2.0),
}
#: lying posture -> (tilt_ap, tilt_ml, pivot height as multiple of h (None: fixed m))
LYING_BASE: dict[str, tuple[float, float]] = {
    "supine": (-np.pi / 2, 0.0),
    "prone": (np.pi / 2, 0.0),
    "side_lying": (0.0, -np.pi / 2),
    "four_point": (np.pi / 2 - 0.1, 0.0),
}
RISE_S, SIT_S = 1.6, 1.8


@dataclass(frozen=True, slots=True)
class PushTruth:
    """A push as it happened (times from the segment start)."""

    onset_s: float
    duration_s: float
    force_n: float
    direction_deg: float


@dataclass(slots=True)
class Motion:
    """Trajectories of one segment (world frame; see the module docstring)."""

    tilt_ap: Jet
    tilt_ml: Jet
    sensor: tuple[Jet, Jet, Jet]
    com: tuple[Jet, Jet, Jet]
    #: (onset_s, duration_s) of each repetition cycle, from the segment start
    repetitions: list[tuple[float, float]] = field(default_factory=list)
    pushes: list[PushTruth] = field(default_factory=list)
    #: two-segment body: (tilt_ap, tilt_ml) of the lower segment (legs); None: one segment
    lower_tilt: tuple[Jet, Jet] | None = None


def repetition_schedule(duration_s: float, settle_s: float, repetitions: int) -> list[tuple[float, float]]:
    """Even cycles after the transition: ``(onset_s, cycle_s)`` per repetition."""
    if repetitions <= 0:
        return []
    cycle = (duration_s - settle_s) / repetitions
    return [(settle_s + i * cycle, cycle) for i in range(repetitions)]


def _burst_signal(t: np.ndarray, schedule, amplitude: float, burst_s: float, alternate: bool = False) -> Jet:
    out = Jet.zeros(t.shape[0])
    for i, (onset, cycle) in enumerate(schedule):
        sign = -1.0 if (alternate and i % 2) else 1.0
        out = out + jet.bump(t, onset, min(burst_s, 0.6 * cycle)) * (amplitude * sign)
    return out


def _vec_add(a, b):
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _vec_scale(v, s):
    return tuple(x * s for x in v)


def _const_vec(p, n):
    return tuple(Jet.const(float(c), n) for c in p)


# --- pendulum postures ---------------------------------------------------------------
def _plane_dynamics(spec: PendulumSpec, ctrl: PlaneControl, body: BodyParams) -> PlaneDynamics:
    mgl, t0 = spec.mgl_nm, spec.t0_s
    extra = spec.extra_stiffness
    ctrl = blend_control(ctrl, body.effective_delay_s / t0)
    return PlaneDynamics(
        inertia_kgm2=spec.inertia_kgm2,
        mgl_nm=mgl,
        kp_nm_per_rad=ctrl.kp * mgl,
        kd_nms_per_rad=ctrl.kd * mgl * t0,
        k_passive_nm_per_rad=(ctrl.k_passive + extra) * mgl,
        b_passive_nms_per_rad=(ctrl.b_passive + SUPPORT_DAMPING_RATIO * extra) * mgl * t0,
        delay_s=body.effective_delay_s,
    )


def _pendulum_angles(
    spec: PendulumSpec,
    body: BodyParams,
    n: int,
    fs_hz: float,
    rng: np.random.Generator,
    ref_ap: tuple[float, float, list[tuple[float, float]]] | None,
    pushes: list[PushTruth],
) -> tuple[Jet, Jet]:
    """Simulate both planes; returns (tilt_ap, tilt_ml) jets at the sample times."""
    sub = substeps_for(fs_hz)
    dt = 1.0 / (fs_hz * sub)
    n_warm = round(WARMUP_S / dt)
    n_int = n * sub
    t_int = (np.arange(n_warm + n_int) - n_warm) * dt
    angles = []
    for plane, ctrl in (("ap", body.ap), ("ml", body.ml)):
        dyn = _plane_dynamics(spec, ctrl, body)
        level = ctrl.noise * body.noise_factor * dyn.mgl_nm * noise_length_factor(spec, body)
        noise = noise_torque(rng, n_warm + n_int, dt, level, body.noise_cutoff_hz)
        torque = noise.copy()
        for p in pushes:
            inside = (t_int >= p.onset_s) & (t_int <= p.onset_s + p.duration_s)
            force = np.where(inside, p.force_n * np.sin(np.pi * (t_int - p.onset_s) / p.duration_s), 0.0)
            comp = np.cos(np.radians(p.direction_deg)) if plane == "ap" else np.sin(np.radians(p.direction_deg))
            torque += force * comp * spec.com_distance_m
        if plane == "ap" and ref_ap is not None:
            amplitude, burst_s, schedule = ref_ap
            ref = _burst_signal(t_int, schedule, amplitude, burst_s)
            theta_ref, omega_ref = ref.v, ref.d
        else:
            theta_ref = omega_ref = np.zeros(n_warm + n_int)
        theta, omega, alpha = simulate_plane(dyn, dt, theta_ref, omega_ref, torque)
        sl = slice(n_warm, None, sub)
        angles.append(Jet(theta[sl].copy(), omega[sl].copy(), alpha[sl].copy()))
    return angles[0], angles[1]


def _pushes(seg: Segment, spec: PendulumSpec) -> list[PushTruth]:
    out = []
    for p in seg.perturbations:
        force = (
            p.force_n
            if p.force_n is not None
            else DEFAULT_PUSH_FRACTION_OF_WEIGHT * spec.mass_kg * STANDARD_GRAVITY_MPS2
        )
        out.append(PushTruth(p.onset_s, p.duration_s, float(force), p.direction_deg))
    return out


def two_segment_pivot(body: BodyParams, seg: Segment) -> str | None:
    """The pivot of the two-segment body in ``seg`` (``"ankle"``, ``"knee"``), or None where the
    body sways as one segment (single-segment model, sitting, held at the hips or trunk)."""
    if body.model != "two_segment" or seg.posture not in ("standing", "supported_standing"):
        return None
    joint = STANDING_SUPPORT[seg.support][0]
    return joint if joint in ("ankle", "knee") else None


def _two_segment_motion(
    seg: Segment, n: int, fs_hz: float, body: BodyParams, sensor_height_m: float, rng, settle_s: float, pivot: str
) -> Motion:
    """Legs + upper body (:mod:`~dmi_sensors.sim.two_segment`): the sensor rides on the upper
    body when it is above the hip, else on the legs."""
    spec = two_segment_spec(body, pivot)
    single = pendulum_spec(body, seg.posture, seg.support)
    schedule = repetition_schedule(seg.duration_s, settle_s, seg.repetitions)
    _, amplitude, burst_s = BURSTS[seg.posture]
    pushes = _pushes(seg, single)
    reference = None
    if schedule:
        sub = substeps_for(fs_hz)
        dt = 1.0 / (fs_hz * sub)
        t_int = (np.arange(round(TWO_SEGMENT_WARMUP_S / dt) + n * sub) - round(TWO_SEGMENT_WARMUP_S / dt)) * dt
        reference = (_burst_signal(t_int, schedule, amplitude, burst_s), t_int)
    extra = STANDING_SUPPORT[seg.support][1]
    angles = two_segment_angles(spec, body, n, fs_hz, rng, reference, pushes, extra)
    (l_ap, u_ap), (l_ml, u_ml) = angles["ap"], angles["ml"]
    base = _const_vec((0.0, 0.0, spec.pivot_height_m), n)
    u1 = trunk_axis(l_ap, l_ml)
    u2 = trunk_axis(u_ap, u_ml)
    hip = _vec_add(base, _vec_scale(u1, spec.l1_m))
    above_pivot = sensor_height_m - spec.pivot_height_m
    if above_pivot >= spec.l1_m:
        sensor = _vec_add(hip, _vec_scale(u2, above_pivot - spec.l1_m))
        tilt_ap, tilt_ml = u_ap, u_ml
    else:
        sensor = _vec_add(base, _vec_scale(u1, above_pivot))
        tilt_ap, tilt_ml = l_ap, l_ml
    m = spec.body_mass_kg
    lower_com = _vec_scale(u1, spec.m1_kg * spec.c1_m / m)
    upper_com = _vec_add(_vec_scale(u1, spec.m2_kg * spec.l1_m / m), _vec_scale(u2, spec.m2_kg * spec.c2_m / m))
    com = _vec_add(base, _vec_add(lower_com, upper_com))
    return Motion(tilt_ap, tilt_ml, sensor, com, schedule, pushes, lower_tilt=(l_ap, l_ml))


def _pendulum_motion(
    seg: Segment, n: int, fs_hz: float, body: BodyParams, sensor_height_m: float, rng, settle_s: float
) -> Motion:
    joint = two_segment_pivot(body, seg)
    if joint is not None:
        return _two_segment_motion(seg, n, fs_hz, body, sensor_height_m, rng, settle_s, joint)
    spec = pendulum_spec(body, seg.posture, seg.support)
    schedule = repetition_schedule(seg.duration_s, settle_s, seg.repetitions)
    _, amplitude, burst_s = BURSTS[seg.posture]
    pushes = _pushes(seg, spec)
    ap, ml = _pendulum_angles(spec, body, n, fs_hz, rng, (amplitude, burst_s, schedule) if schedule else None, pushes)
    if seg.posture == "sitting":
        pivot = (0.0, 0.0, body.knee_height_m)
        lever = sensor_height_m - body.hip_height_m
    else:
        pivot = (0.0, 0.0, spec.pivot_height_m)
        lever = sensor_height_m - spec.pivot_height_m
    u = trunk_axis(ap, ml)
    base = _const_vec(pivot, n)
    sensor = _vec_add(base, _vec_scale(u, lever))
    com = _vec_add(base, _vec_scale(u, spec.mass_fraction * spec.com_distance_m))
    return Motion(ap, ml, sensor, com, schedule, pushes)


# --- lying and four-point ------------------------------------------------------------
def _sum_of_sines(t: np.ndarray, rng: np.random.Generator, rms: float, n_comp: int = 12) -> Jet:
    """Smooth random signal with analytic derivatives: RMS ``rms``, 0.05-0.8 Hz."""
    freqs = rng.uniform(0.05, 0.8, n_comp)
    phases = rng.uniform(0.0, 2 * np.pi, n_comp)
    amp = rms * np.sqrt(2.0 / n_comp)
    w = 2 * np.pi * freqs
    arg = np.outer(t, w) + phases
    s, c = np.sin(arg), np.cos(arg)
    return Jet(amp * s.sum(axis=1), amp * (c * w).sum(axis=1), -amp * (s * w**2).sum(axis=1))


def _lying_motion(
    seg: Segment, t: np.ndarray, body: BodyParams, sensor_height_m: float, rng, settle_s: float
) -> Motion:
    n = t.shape[0]
    a0, m0 = LYING_BASE[seg.posture]
    factor = max(body.noise_factor, 0.0)
    ap = _sum_of_sines(t, rng, 0.02 * factor) + a0
    ml = _sum_of_sines(t, rng, 0.02 * factor) + m0
    pos_noise = [_sum_of_sines(t, rng, 0.003 * factor) for _ in range(3)]
    schedule = repetition_schedule(seg.duration_s, settle_s, seg.repetitions)
    plane, amplitude, burst_s = BURSTS[seg.posture]
    burst = _burst_signal(t, schedule, amplitude, burst_s, alternate=seg.posture == "supine")
    if plane == "ap":
        ap = ap + burst
    else:
        ml = ml + burst
    h = body.com_height_m
    if seg.posture == "four_point":
        pivot_z = body.hip_height_m - body.knee_height_m  # hips above the knees on the floor
        shift_x = _burst_signal(t, schedule, 0.06, burst_s)
    else:
        pivot_z = 0.10 * h / 0.91 if seg.posture != "side_lying" else 0.16 * h / 0.91
        shift_x = Jet.zeros(n)
    pivot = _vec_add(_const_vec((0.0, 0.0, pivot_z), n), (pos_noise[0] + shift_x, pos_noise[1], pos_noise[2]))
    u = trunk_axis(ap, ml)
    lever = sensor_height_m - body.hip_height_m
    sensor = _vec_add(pivot, _vec_scale(u, lever))
    com = _vec_add(pivot, _vec_scale(u, body.hat_com_above_hip_m))
    return Motion(ap, ml, sensor, com, schedule, [])


# --- sit to stand --------------------------------------------------------------------
def _sit_to_stand_motion(
    seg: Segment, t: np.ndarray, fs_hz: float, body: BodyParams, sensor_height_m: float, rng, settle_s: float
) -> Motion:
    n = t.shape[0]
    reps = max(seg.repetitions, 1)
    schedule = repetition_schedule(seg.duration_s, settle_s, reps)
    flex = Jet.zeros(n)
    w = Jet.zeros(n)
    for onset, cycle in schedule:
        half = cycle / 2.0
        rise_s = min(RISE_S, 0.8 * half)
        flex = flex + jet.bump(t, onset, rise_s) * 0.55
        w = w + jet.minimum_jerk(t, onset + 0.35 * rise_s, 0.65 * rise_s)
        if seg.repetitions > 0:
            sit_s = min(SIT_S, 0.8 * half)
            flex = flex + jet.bump(t, onset + half, sit_s) * 0.45
            w = w - jet.minimum_jerk(t, onset + half, 0.7 * sit_s)
    stand = pendulum_spec(body, "standing", "none")
    sit = pendulum_spec(body, "sitting", "none")
    st_ap, st_ml = _pendulum_angles(stand, body, n, fs_hz, rng, None, [])
    si_ap, si_ml = _pendulum_angles(sit, body, n, fs_hz, rng, None, [])
    one_minus_w = 1.0 - w
    ap = flex + one_minus_w * si_ap + w * st_ap
    ml = one_minus_w * si_ml + w * st_ml
    thigh = body.hip_height_m - body.knee_height_m
    seat = np.array([-thigh, 0.0, body.knee_height_m])
    upright = np.array([0.0, 0.0, body.hip_height_m])
    u_stand = trunk_axis(st_ap, st_ml)
    hip = tuple(
        one_minus_w * float(seat[i])
        + w * float(upright[i])
        + w * ((u_stand[i] - (1.0 if i == 2 else 0.0)) * body.hip_height_m)
        for i in range(3)
    )
    u = trunk_axis(ap, ml)
    sensor = _vec_add(hip, _vec_scale(u, sensor_height_m - body.hip_height_m))
    hat = _vec_add(hip, _vec_scale(u, body.hat_com_above_hip_m))
    com = tuple(hat[i] * 0.678 + hip[i] * 0.2 for i in range(3))
    com = tuple(c * (1.0 / 0.878) for c in com)
    return Motion(ap, ml, sensor, com, schedule if seg.repetitions > 0 else [], [])


def segment_motion(
    seg: Segment,
    n: int,
    fs_hz: float,
    body: BodyParams,
    sensor_height_m: float,
    rng: np.random.Generator,
    settle_s: float,
) -> Motion:
    """Motion of one segment on ``n`` samples at ``fs_hz`` (times ``k / fs_hz`` from its start).

    ``settle_s`` is the length of the transition into this segment: repetitions start after it.
    """
    t = np.arange(n) / fs_hz
    if seg.posture in PENDULUM_POSTURES:
        return _pendulum_motion(seg, n, fs_hz, body, sensor_height_m, rng, settle_s)
    if seg.posture in LYING_POSTURES:
        return _lying_motion(seg, t, body, sensor_height_m, rng, settle_s)
    if seg.posture == "sit_to_stand":
        return _sit_to_stand_motion(seg, t, fs_hz, body, sensor_height_m, rng, settle_s)
    raise ParameterError(f"unknown posture {seg.posture!r}")  # pragma: no cover - Segment validates
