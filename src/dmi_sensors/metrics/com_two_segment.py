"""Whole-body centre of mass (COM) from two sensors: trunk and pelvis, legs and upper body.

A single trunk IMU assumes one rigid pendulum: COM = h·sin θ_trunk. When the child bends at
the hip (the hip strategy: after a push, or a child who has not yet learnt to stand as one
block), the upper body turns one way and the legs the other, and trunk tilt is not body
tilt. In a two-segment model (legs about the pivot, the upper body -- head, arms, trunk:
HAT -- about the hip; science notes §4.3)::

    x_COM = A sin θ1 + B sin θ2        θ1: legs, θ2: upper body (absolute angles)
    A = (m1 c1 + m2 L1) / m,  B = m2 c2 / m,  A + B = h (the COM height above the pivot)

**Why the pelvis's tilt is not used for the legs.** A pelvis sensor (on the sacrum) turns
with the upper body, not with the legs: in a hip strategy the pelvis tilts forward with the
trunk while the legs tilt back. Its *translation* is what carries the leg angle: it sits
near the hip, which moves by ``L1 sin θ1``. The estimate therefore compares the pelvis's
measured displacement with what a rigid body would give it::

    δ(t)  = ∬ a_pelvis dt² - H2 · sin θ_trunk          (H2: pelvis sensor height above the pivot)
          = L1 (sin θ1 - sin θ2)                         (pelvis on the upper body, exactly;
                                                          on the legs: H2 (sin θ1 - sin θ2))
    x_COM = h · sin θ_trunk + (A / L1) · δ

``δ`` is the hip's displacement beyond the rigid-body prediction: zero in a pure ankle
strategy (then the estimate is the trunk-only pendulum exactly), and the leg angle's
deviation otherwise. Neither ``B`` nor the leg length appear: only the COM height ``h`` and
the pelvis height ``H2`` (both per child, given) and the mass ratio ``A / L1 = μ1·(c1/L1) +
μ2`` (0.86 for adults, 0.87-0.89 for young children: :func:`anthropometry`). The double
integral is drift-controlled (:func:`dmi_sensors.dsp.integrate_drift_controlled`:
zero-phase Butterworth high-pass at ``highpass_hz`` before and after each integral) on the
difference acceleration ``a_pelvis - H2·(sin θ_trunk)''`` -- in a rigid sway the two cancel
before any integration, so only the hip motion and the sensor noise are integrated. Hip
motion slower than ``highpass_hz`` (0.3 Hz default) cannot be seen in an accelerometer and
is taken as in phase (Creath et al. 2005 [R]: ankle and hip move in phase below ~1 Hz in
quiet stance); that part of the error is the trunk-only pendulum's.

Supported at the knees the same holds about the knee (legs = thighs above the held knee):
``h`` is replaced by the posture's lever (:func:`dmi_sensors.metrics.levers.com_lever_m`)
and ``H2`` by the pelvis height above the knee. Sitting and held at the hips or trunk the
body above the pivot is the upper body alone: one segment, the trunk-only pendulum.

ML: the same formula on the lateral pelvis displacement; a pelvis in the frontal plane is a
four-bar linkage (Foulger et al. 2025 [V-src abstract]), so ML is approximate.

**Anthropometry.** Mass fractions of the legs and their COM (fraction of the leg length from
the ankle): adults Winter 2009 (Dempster), the table of :mod:`dmi_sensors.metrics.levers`
(legs without feet 0.293, COM 0.625 L1 -> A/L1 = 0.861); children the regressions of Jensen
1986, J Biomech 19(5):359-368 and Jensen 1989, J Biomech 22:529-536 on age (4-12 years;
relatively lighter legs and heavier head and trunk: legs 0.24-0.34 of body mass without the
feet), renormalised to sum 1 (science notes §4.2; the head coefficients are confirmed on the
AIST database, the full set comes from one third-party tabulation: provenance R). The age is
the child's (birth year and session date) or, when only the body height is known, the age at
which that is the median height (WHO 2007 growth reference, approximate [R]).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.levers import HIP_FRAC, JOINT_FRAC, SEGMENTS

__all__ = [
    "ADULT",
    "TWO_SEGMENT_PIVOTS",
    "Anthropometry",
    "TwoSegmentCom",
    "anthropometry",
    "com_two_segment",
    "hip_deviation",
    "jensen_leg_fraction",
]

#: Zero padding on each side of the acceleration difference before integrating, periods of
#: the high-pass corner (the filters' and integrals' start-up transients end inside it).
PAD_PERIODS = 2.0
#: Pivots about which the body is two segments (standing free: ankle; held at the knees: knee).
TWO_SEGMENT_PIVOTS = ("ankle", "knee")


@dataclass(frozen=True)
class Anthropometry:
    """Mass fractions of the segments (of body mass) and the lower segment's COM.

    ``legs_mass_fraction`` μ1 (shanks + thighs, the feet stay on the floor),
    ``legs_com_fraction`` c1/L1 (from the pivot), ``hat_mass_fraction`` μ2; ``source`` says
    where the numbers come from.
    """

    legs_mass_fraction: float
    legs_com_fraction: float
    hat_mass_fraction: float
    source: str

    def a_over_l1(self, pivot: str = "ankle") -> float:
        """``A / L1 = μ1·(c1/L1) + μ2`` about the ankle; about the held knee only the thighs
        sway below the hip (their share of the legs' mass and COM from the levers table)."""
        if pivot == "ankle":
            return self.legs_mass_fraction * self.legs_com_fraction + self.hat_mass_fraction
        if pivot == "knee":
            thigh_share, thigh_com = _thigh_part()
            return self.legs_mass_fraction * thigh_share * thigh_com + self.hat_mass_fraction
        raise ParameterError(f"pivot must be one of {TWO_SEGMENT_PIVOTS}, got {pivot!r}")

    def to_dict(self) -> dict:
        return {
            "legs_mass_fraction": self.legs_mass_fraction,
            "legs_com_fraction": self.legs_com_fraction,
            "hat_mass_fraction": self.hat_mass_fraction,
            "a_over_l1_ankle": self.a_over_l1("ankle"),
            "a_over_l1_knee": self.a_over_l1("knee"),
            "source": self.source,
        }


def _levers_legs() -> tuple[float, float, float]:
    seg = {name: (m, c) for name, m, c in SEGMENTS}
    (ms, cs), (mt, ct) = seg["shanks"], seg["thighs"]
    mu1 = ms + mt
    return mu1, (ms * cs + mt * ct) / mu1 / HIP_FRAC, seg["hat"][0]


def _thigh_part() -> tuple[float, float]:
    """(thighs' share of the legs' mass, thigh COM above the knee as a fraction of knee-hip)."""
    seg = {name: (m, c) for name, m, c in SEGMENTS}
    (ms, _), (mt, ct) = seg["shanks"], seg["thighs"]
    knee = JOINT_FRAC["knee"]
    return mt / (ms + mt), (ct - knee) / (HIP_FRAC - knee)


_MU1, _C1, _MU2 = _levers_legs()
#: Adult fractions (Winter 2009 / Dempster via the levers table).
ADULT = Anthropometry(_MU1, _C1, _MU2, "adult: Winter 2009 (Dempster), the table of metrics.levers")


def jensen_leg_fraction(age_years: float) -> tuple[float, float]:
    """``(legs without feet, upper body)`` as fractions of body mass at ``age_years`` (4-12,
    clamped), from the Jensen 1986/1989 regressions renormalised to sum 1 (module docs)."""
    a = float(np.clip(age_years, 4.0, 12.0))
    head = 0.27881 - 0.02115 * a + 0.0005317 * a * a
    upper_arm = 0.02344 + 0.000696 * a
    forearm_hand = 0.0228 + 0.000261 * a
    upper_torso = 0.15837 - 0.00125 * a
    lower_torso = 0.2733
    thigh = 0.04309 + 0.0088978 * a - 0.00027425 * a * a
    calf_foot = 0.03512 + 0.0063207 * a - 0.00026119 * a * a
    total = head + 2 * upper_arm + 2 * forearm_hand + upper_torso + lower_torso + 2 * thigh + 2 * calf_foot
    legs_with_feet = 2 * (thigh + calf_foot) / total
    # the feet: the adult share of feet in the leg mass (levers table) -- Jensen's calf includes the foot
    feet_share = next(m for name, m, _ in SEGMENTS if name == "feet") / (
        next(m for name, m, _ in SEGMENTS if name == "feet") + _MU1
    )
    legs = legs_with_feet * (1.0 - feet_share)
    return legs, 1.0 - legs_with_feet


#: (body height m, age years): approximate median height-for-age of children, both sexes
#: (WHO 2007 growth reference [R]); used only to pick the mass fractions when no age is known.
_HEIGHT_AGE: tuple[tuple[float, float], ...] = (
    (0.96, 3.0),
    (1.03, 4.0),
    (1.10, 5.0),
    (1.16, 6.0),
    (1.22, 7.0),
    (1.28, 8.0),
    (1.33, 9.0),
)
_HEIGHT_AGE += ((1.39, 10.0), (1.44, 11.0), (1.50, 12.0), (1.57, 13.0), (1.63, 14.0), (1.68, 15.0), (1.72, 17.0))


def anthropometry(age_years: float | None = None, body_height_m: float | None = None) -> Anthropometry:
    """The segment fractions for a child of ``age_years`` (or of ``body_height_m`` when the age
    is unknown); adults (18 years, 1.75 m and above) and unknown children get :data:`ADULT`.

    Between 12 and 18 years the Jensen value at 12 is blended linearly into the adult one.
    """
    how = ""
    if age_years is None and body_height_m is not None:
        hs = [h for h, _ in _HEIGHT_AGE]
        ages = [a for _, a in _HEIGHT_AGE]
        age_years = 18.0 if body_height_m >= 1.75 else float(np.interp(body_height_m, hs, ages))
        how = f" (age {age_years:.1f} y estimated from the body height {body_height_m:g} m: median height-for-age)"
    if age_years is None:
        return ADULT
    if not (0.0 < age_years < 130.0):
        raise ParameterError(f"age_years must be between 0 and 130, got {age_years!r}")
    if age_years >= 18.0:
        return Anthropometry(ADULT.legs_mass_fraction, ADULT.legs_com_fraction, ADULT.hat_mass_fraction, ADULT.source)
    legs, hat = jensen_leg_fraction(min(age_years, 12.0))
    if age_years > 12.0:
        w = (age_years - 12.0) / 6.0
        legs = (1 - w) * legs + w * ADULT.legs_mass_fraction
        hat = (1 - w) * hat + w * ADULT.hat_mass_fraction
    source = f"child {age_years:.1f} y: Jensen 1986/1989 regressions on age (renormalised; R){how}"
    return Anthropometry(legs, ADULT.legs_com_fraction, hat, source)


def hip_deviation(
    pelvis_acc_mps2: np.ndarray,
    sin_tilt: np.ndarray,
    pelvis_height_m: np.ndarray | float,
    fs_hz: float,
    highpass_hz: float = 0.3,
    lowpass_hz: float | None = 5.0,
) -> np.ndarray:
    """``δ = ∬ LP(a_pelvis - H2·(sin θ)'') dt²`` (m), drift-controlled (module docs).

    ``pelvis_acc_mps2``: gravity-free horizontal acceleration of the pelvis sensor, heading
    frame, ``(n, 2)`` (AP, ML); ``sin_tilt``: ``sin`` of the trunk tilt, ``(n, 2)``;
    ``pelvis_height_m``: per sample or one value (height above the pivot). The second
    derivative is by central differences (``np.gradient`` twice). ``lowpass_hz``: zero-phase
    4th-order Butterworth on the difference before integrating (what a 100 Hz sampled
    acceleration holds above the sway band -- impacts, aliased vibration -- is not hip motion).
    """
    from dmi_sensors.dsp import butter_lowpass, filtfilt, integrate_drift_controlled

    a = np.asarray(pelvis_acc_mps2, dtype=np.float64)
    s = np.asarray(sin_tilt, dtype=np.float64)
    if a.shape != s.shape or a.ndim != 2:
        raise ParameterError(f"pelvis acceleration and trunk tilt must be (n, 2) arrays, got {a.shape} and {s.shape}")
    if not 0.0 < highpass_hz < fs_hz / 2:
        raise ParameterError(f"highpass_hz must be in (0, fs/2), got {highpass_hz}")
    if a.shape[0] < 16:
        return np.zeros_like(a)
    h2 = np.asarray(pelvis_height_m, dtype=np.float64)
    s_dd = np.gradient(np.gradient(s, axis=0), axis=0) * (fs_hz * fs_hz)
    diff = a - (h2[:, None] if h2.ndim else h2) * s_dd
    if lowpass_hz is not None and lowpass_hz < fs_hz / 2:
        diff = filtfilt(butter_lowpass(lowpass_hz, fs_hz, 4), diff)
    # zero acceleration difference outside the record (no hip motion beyond the rigid body):
    # the integrals start at rest and the high-passes' edge transients fall into the padding
    pad = round(PAD_PERIODS * fs_hz / highpass_hz)
    padded = np.concatenate([np.zeros((pad, 2)), diff - diff.mean(axis=0), np.zeros((pad, 2))])
    disp = integrate_drift_controlled(padded, fs_hz, highpass_hz, order=2, zero_phase=True).disp
    return np.ascontiguousarray(disp[pad : pad + diff.shape[0]])


def gate_weight(
    delta: np.ndarray, fs_hz: float, noise_ms_m2: float | None = None, window_s: float = 2.0, factor: float = 2.0
):
    """Per-sample weight in [0, 1] of the hip deviation: ``w = clip(1 - (k σ)² / P(t), 0, 1)``.

    ``P(t)``: centred moving mean square of ``δ`` over ``window_s`` (both axes together);
    ``σ²``: its ``quantile`` over the trial (the quiet level: sensor noise and orientation
    error leaking into the double integral, plus any quiet hip sway); ``k = factor``. Where
    the pelvis moves no more than that level (a body swaying as one block) the trunk-only
    pendulum is kept; a hip strategy (a push response) stands far above it and is used in
    full. An engineering choice (Wiener-type shrinkage in time), parameters recorded.
    """
    d = np.asarray(delta, dtype=np.float64)
    n = d.shape[0]
    w_len = max(1, min(n, round(window_s * fs_hz)))
    p = np.sum(d * d, axis=1)
    csum = np.concatenate([[0.0], np.cumsum(p)])
    lo = np.clip(np.arange(n) - w_len // 2, 0, n - w_len)
    local = (csum[lo + w_len] - csum[lo]) / w_len
    level = float(np.quantile(local, 0.2)) if noise_ms_m2 is None else float(noise_ms_m2)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(local > 0, 1.0 - (factor * factor * level) / local, 0.0)
    return np.clip(w, 0.0, 1.0)


@dataclass(frozen=True)
class TwoSegmentCom:
    """COM displacement of the two-segment model (mm, de-meaned) with its parts.

    ``com_ap_mm``, ``com_ml_mm``: the estimate; ``trunk_only_ap_mm``/``_ml_mm``: the
    one-segment pendulum from the same tilt (for comparison); ``hip_deviation_m``: δ, ``(n,
    2)``; ``parameters``: everything that changed the numbers.
    """

    com_ap_mm: np.ndarray
    com_ml_mm: np.ndarray
    trunk_only_ap_mm: np.ndarray
    trunk_only_ml_mm: np.ndarray
    hip_deviation_m: np.ndarray
    parameters: dict = field(default_factory=dict)


def com_two_segment(
    tilt_ap_rad: np.ndarray,
    tilt_ml_rad: np.ndarray,
    pelvis_acc_ap_mps2: np.ndarray,
    pelvis_acc_ml_mps2: np.ndarray,
    fs_hz: float,
    com_height_m: float,
    pelvis_height_m: float,
    *,
    pivot: str = "ankle",
    anthropometry_: Anthropometry = ADULT,
    highpass_hz: float = 0.2,
    gate: bool = True,
    noise_ms_m2: float | None = None,
    gate_factor: float = 2.0,
) -> TwoSegmentCom:
    """Two-segment COM (module docs) of a standing trial: ``1000·(h sin θ + (A/L1)·δ)``, de-meaned.

    ``tilt_*``: trunk tilt (rad; + forward / + left); ``pelvis_acc_*``: the pelvis sensor's
    gravity-free horizontal acceleration in its heading frame (m/s²); ``com_height_m`` ``h``
    and ``pelvis_height_m`` ``H2`` above the pivot (m).
    """
    h = float(com_height_m)
    if not h > 0 or not float(pelvis_height_m) > 0:
        raise ParameterError(f"com_height_m and pelvis_height_m must be > 0, got {com_height_m}, {pelvis_height_m}")
    s = np.column_stack([np.sin(np.asarray(tilt_ap_rad, float)), np.sin(np.asarray(tilt_ml_rad, float))])
    a = np.column_stack([np.asarray(pelvis_acc_ap_mps2, float), np.asarray(pelvis_acc_ml_mps2, float)])
    delta = hip_deviation(a, s, float(pelvis_height_m), fs_hz, highpass_hz)
    if gate:
        delta = delta * gate_weight(delta, fs_hz, noise_ms_m2, factor=gate_factor)[:, None]
    k = anthropometry_.a_over_l1(pivot)
    trunk = 1000.0 * h * s
    com = trunk + 1000.0 * k * delta
    com -= com.mean(axis=0)
    trunk -= trunk.mean(axis=0)
    params = {
        "com_model": "two_segment",
        "com_height_m": h,
        "pelvis_height_m": float(pelvis_height_m),
        "pivot": pivot,
        "two_segment_highpass_hz": float(highpass_hz),
        "a_over_l1": k,
        "anthropometry": anthropometry_.to_dict(),
        "formula": "x = h·sin θ_trunk + (A/L1)·δ, δ = ∬(a_pelvis - H2·(sin θ_trunk)'') (drift-controlled)",
    }
    return TwoSegmentCom(com[:, 0], com[:, 1], trunk[:, 0], trunk[:, 1], delta, params)
