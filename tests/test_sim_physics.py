"""Physics of the simulator: kinematics, pendulum sway, supports, pushes, postures, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.sim import BodyParams, ImuErrors, Perturbation, Segment, simulate, true_time_to_stabilise
from dmi_sensors.sim.jet import Jet, bump, minimum_jerk
from dmi_sensors.sim.kinematics import (
    angular_velocity_body,
    rotation_matrix,
    specific_force_body,
    tilt_from_axis,
    trunk_axis,
)
from dmi_sensors.sim.pendulum import PlaneDynamics, noise_torque, pendulum_reference, simulate_plane

G = contract.STANDARD_GRAVITY_MPS2
IDEAL = ImuErrors.none()


def _still(n: int = 50) -> tuple[Jet, Jet]:
    return Jet.zeros(n), Jet.zeros(n)


# --- kinematics ---------------------------------------------------------------------------
def test_upright_still_reads_plus_g_on_z():
    ap, ml = _still()
    rot = rotation_matrix(ap.v, ml.v)
    f = specific_force_body(rot, np.zeros((50, 3)))
    np.testing.assert_allclose(f, np.tile([0.0, 0.0, G], (50, 1)), atol=1e-12)
    np.testing.assert_allclose(angular_velocity_body(ap, ml), 0.0, atol=1e-15)


@pytest.mark.parametrize(
    ("tilt_ap", "tilt_ml", "expected"),
    [
        (np.pi / 2, 0.0, (-G, 0.0, 0.0)),  # prone: chest (x) points down
        (-np.pi / 2, 0.0, (G, 0.0, 0.0)),  # supine: chest up
        (0.0, -np.pi / 2, (0.0, G, 0.0)),  # lying on the right side: left (y) up
        (0.1, 0.0, (-G * np.sin(0.1), 0.0, G * np.cos(0.1))),  # forward lean: x tips down
        (0.0, 0.1, (0.0, -G * np.sin(0.1), G * np.cos(0.1))),  # left lean: y tips down
    ],
)
def test_static_tilts_give_gravity_in_the_documented_directions(tilt_ap, tilt_ml, expected):
    rot = rotation_matrix(np.array([tilt_ap]), np.array([tilt_ml]))
    f = specific_force_body(rot, np.zeros((1, 3)))[0]
    np.testing.assert_allclose(f, expected, atol=1e-12)


def test_forward_lean_moves_trunk_axis_forward_and_left_lean_left():
    u = rotation_matrix(np.array([0.2, 0.0]), np.array([0.0, 0.3]))[:, :, 2]
    assert u[0, 0] > 0 and abs(u[0, 1]) < 1e-15
    assert u[1, 1] > 0 and abs(u[1, 0]) < 1e-15
    ap, ml = tilt_from_axis(u)
    np.testing.assert_allclose(ap, [0.2, 0.0], atol=1e-12)
    np.testing.assert_allclose(ml, [0.0, 0.3], atol=1e-12)


def test_forward_pitch_rate_is_positive_about_y_and_left_lean_rate_negative_about_x():
    n = 3
    ap = Jet(np.zeros(n), np.full(n, 0.5), np.zeros(n))
    ml = Jet.zeros(n)
    np.testing.assert_allclose(angular_velocity_body(ap, ml), [[0.0, 0.5, 0.0]] * n)
    ml = Jet(np.zeros(n), np.full(n, 0.5), np.zeros(n))
    np.testing.assert_allclose(angular_velocity_body(Jet.zeros(n), ml), [[-0.5, 0.0, 0.0]] * n)


def test_angular_velocity_matches_numerical_derivative_of_rotation():
    t = np.linspace(0, 2, 2001)
    ap = Jet(0.7 * np.sin(2 * t), 1.4 * np.cos(2 * t), -2.8 * np.sin(2 * t))
    ml = Jet(0.5 * np.cos(3 * t), -1.5 * np.sin(3 * t), -4.5 * np.cos(3 * t))
    r = rotation_matrix(ap.v, ml.v)
    dr = np.gradient(r, t, axis=0)
    skew = np.einsum("nji,njk->nik", r, dr)
    omega_num = np.stack([skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]], axis=1)
    np.testing.assert_allclose(angular_velocity_body(ap, ml)[5:-5], omega_num[5:-5], atol=2e-5)


def test_jet_product_and_chain_rules_match_numerical_derivatives():
    t = np.linspace(0, 3, 3001)
    wave = Jet(np.sin(3 * t), 3 * np.cos(3 * t), -9 * np.sin(3 * t))
    x = minimum_jerk(t, 0.5, 1.5) * 2.0 + wave * wave
    u = trunk_axis(x, x * 0.5)
    for comp in u:
        np.testing.assert_allclose(np.gradient(comp.v, t)[2:-2], comp.d[2:-2], atol=2e-4)
        np.testing.assert_allclose(np.gradient(comp.d, t)[2:-2], comp.dd[2:-2], atol=2e-2)


# --- pendulum -----------------------------------------------------------------------------
def test_numba_pendulum_kernel_equals_pure_python_reference():
    rng = np.random.default_rng(5)
    n, dt = 600, 1e-3
    dyn = PlaneDynamics(60.0, 500.0, 200.0, 60.0, 400.0, 10.0, 0.15)
    ref = bump(np.arange(n) * dt, 0.1, 0.3) * 0.05
    torque = noise_torque(rng, n, dt, 5.0, 10.0)
    got = simulate_plane(dyn, dt, ref.v, ref.d, torque, theta0=0.01, omega0=-0.02)
    want = pendulum_reference(dyn, dt, list(ref.v), list(ref.d), list(torque), theta0=0.01, omega0=-0.02)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


def test_zero_delay_pendulum_feeds_back_the_current_state():
    # the kernel once read its output at k before writing it when delay_steps == 0
    from dmi_sensors.sim._kernels import delayed_pd_pendulum

    rng = np.random.default_rng(4)
    n, dt = 600, 1e-3
    dyn = PlaneDynamics(60.0, 500.0, 900.0, 200.0, 50.0, 10.0, 0.0)
    ref = bump(np.arange(n) * dt, 0.1, 0.3) * 0.05
    torque = noise_torque(rng, n, dt, 5.0, 10.0)
    out = np.full((3, n), np.nan)
    delayed_pd_pendulum(
        dt, 60.0, 500.0, 900.0, 200.0, 50.0, 10.0, 0, ref.v, ref.d, torque, 0.01, 0.0, out[0], out[1], out[2]
    )
    want = pendulum_reference(dyn, dt, list(ref.v), list(ref.d), list(torque), theta0=0.01)
    assert np.isfinite(out).all()
    for g, w in zip(out, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)
    with pytest.raises(ParameterError, match="delay"):
        simulate_plane(PlaneDynamics(60.0, 500.0, 900.0, 200.0, 50.0, 10.0, -0.01), dt, ref.v, ref.d, torque)


def test_gyro_integration_reproduces_true_tilt():
    segs = [
        Segment("standing", 8.0, repetitions=2),
        Segment("sit_to_stand", 10.0, repetitions=1),
        Segment("supine", 8.0, repetitions=1),
    ]
    r = simulate(segs, fs_hz=100, seed=2, com_height_m=0.6, imu_errors=IDEAL)
    tr = r.truth
    rot_true = rotation_matrix(tr.tilt_ap_rad, tr.tilt_ml_rad)
    dt = 1.0 / r.fs_hz
    rots = [Rotation.from_matrix(rot_true[0])]
    g = r.gyr_rps
    for k in range(len(g) - 1):
        rots.append(rots[-1] * Rotation.from_rotvec(0.5 * (g[k] + g[k + 1]) * dt))
    est = Rotation.concatenate(rots)
    err_deg = np.degrees((Rotation.from_matrix(rot_true).inv() * est).magnitude())
    assert err_deg.max() < 0.1, err_deg.max()
    # and the tilt swings are large enough for the check to mean something
    assert np.ptp(tr.tilt_ap_rad) > 1.0


def test_specific_force_equals_rotated_world_acceleration_minus_gravity():
    quiet = BodyParams(noise_scale=0.0)  # no noise torque: smooth enough to differentiate numerically
    r = simulate([Segment("sit_to_stand", 6.0, repetitions=1)], fs_hz=200, seed=1, imu_errors=IDEAL, body=quiet)
    tr = r.truth
    rot = rotation_matrix(tr.tilt_ap_rad, tr.tilt_ml_rad)
    world = np.einsum("nij,nj->ni", rot, r.acc_mps2) + np.array([0.0, 0.0, -G])
    np.testing.assert_allclose(world, tr.sensor_acc_world_mps2, atol=1e-9)
    # the sensor's world acceleration is the second derivative of its position
    num = np.gradient(np.gradient(tr.sensor_pos_m, tr.time_s, axis=0), tr.time_s, axis=0)
    err = np.abs(num - tr.sensor_acc_world_mps2)[5:-5]
    # (the movement bursts switch their acceleration on and off: a few samples there differ more)
    assert np.percentile(err, 99) < 0.02, np.percentile(err, 99)


def test_quiet_stance_reads_about_g_and_gravity_dominates():
    r = simulate([Segment("standing", 20.0)], fs_hz=100, seed=0, imu_errors=IDEAL)
    mean = r.acc_mps2.mean(axis=0)
    assert abs(mean[2] - G) < 0.01
    assert np.all(np.abs(mean[:2]) < 0.1)


# --- sway magnitudes -------------------------------------------------------------------------
def _com_rms(posture: str, seed: int, com_height_m: float, support: str = "none", duration_s: float = 60.0):
    r = simulate(
        [Segment(posture, duration_s, support=support)],
        fs_hz=50,
        seed=seed,
        com_height_m=com_height_m,
        imu_errors=IDEAL,
    )
    s = r.truth.segments.iloc[0]
    return s["com_rms_ap_mm"], s["com_rms_ml_mm"], s["tilt_rms_ap_rad"], r


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adult_quiet_stance_com_rms_is_a_few_mm(seed):
    ap, ml, _, _ = _com_rms("standing", seed, 0.91)
    assert 2.0 <= ap <= 8.0, ap
    assert 0.8 <= ml <= 5.0, ml
    assert ml < ap


def test_children_sway_more_than_adults():
    adult = np.mean([_com_rms("standing", s, 0.91)[0] for s in range(3)])
    child = np.mean([_com_rms("standing", s, 0.55)[0] for s in range(3)])
    assert child > 1.2 * adult
    assert child < 25.0


def test_sitting_sways_less_than_standing():
    for h in (0.55, 0.91):
        stand = _com_rms("standing", 0, h)
        sit = _com_rms("sitting", 0, h)
        assert sit[0] < 0.5 * stand[0]
        assert sit[1] < stand[1]


def test_support_further_from_the_trunk_gives_more_sway():
    levels = ["hips", "knees", "ankles", "none"]
    rows = [_com_rms("supported_standing", 3, 0.6, support=s, duration_s=40.0) for s in levels]
    com = [r[0] for r in rows]
    tilt = [r[2] for r in rows]
    acc = [r[3].truth.acc_body_mps2[:, 0].std() for r in rows]
    for series in (com, tilt, acc):
        assert all(a < b for a, b in itertools.pairwise(series)), series


def test_push_is_recovered_and_true_tts_is_finite():
    push = Perturbation(onset_s=12.0, duration_s=0.2, direction_deg=0.0)
    r = simulate(
        [Segment("standing", 25.0, perturbations=(push,))], fs_hz=100, seed=4, com_height_m=0.6, imu_errors=IDEAL
    )
    p = r.truth.perturbations.iloc[0]
    assert p["force_n"] == pytest.approx(0.08 * r.body.mass_kg_ * 0.971 * G, rel=1e-6)  # default: 8 % of weight
    assert 0.3 < p["tts_true_s"] < 4.0
    big = Perturbation(onset_s=12.0, duration_s=0.2, force_n=0.25 * r.body.mass_kg_ * G)
    r = simulate(
        [Segment("standing", 25.0, perturbations=(big,))], fs_hz=100, seed=4, com_height_m=0.6, imu_errors=IDEAL
    )
    tr = r.truth
    p = tr.perturbations.iloc[0]
    t = tr.time_s
    during = (t > 12.0) & (t < 13.5)
    before = (t > 7.0) & (t < 12.0)
    after = t > 18.0
    # the push moves the COM forward well beyond quiet sway, then sway returns to its quiet level
    assert tr.com_ap_mm[during].max() - tr.com_ap_mm[before].mean() > 5 * np.std(tr.com_ap_mm[before])
    assert np.std(tr.com_ap_mm[after]) < 2 * np.std(tr.com_ap_mm[before])
    assert 0.3 < p["tts_true_s"] < 4.0
    assert tr.perturbation_times_s.tolist() == [12.0]
    ev = tr.events[tr.events["kind"] == "perturbation"]
    assert ev["onset_s"].tolist() == [12.0] and ev["source"].tolist() == ["truth"]


def test_true_tts_on_an_analytic_signal():
    fs = 100.0
    t = np.arange(0, 20, 1 / fs)
    a = np.where(t < 10, 0.1, np.where(t < 10.5, 2.0, np.where(t < 12.0, 0.5, 0.1)))
    # quiet RMS 0.1 -> threshold 0.15 (mean square 0.0225). A trailing 100-sample window holding
    # k samples of 0.5 and 100 - k of 0.1 has mean square (0.25 k + 0.01 (100 - k)) / 100, below
    # 0.0225 for k <= 5: first at the window ending at index 1294 (t = 12.94 s) -> TTS = 2.44 s.
    tts = true_time_to_stabilise(t, a, 10.0, 10.5)
    assert tts == pytest.approx(2.44, abs=1e-9)
    two_d = np.stack([a * 0.6, a * 0.8], axis=1)
    assert true_time_to_stabilise(t, two_d, 10.0, 10.5) == pytest.approx(tts)
    assert np.isnan(true_time_to_stabilise(t, np.where(t > 10, 1.0, 0.1), 10.0, 10.5))
    # a later burst (16-16.5 s): the 1 s hold is met at 12.94 s; "below until the end" waits for it
    late = np.where((t >= 16.0) & (t < 16.5), 2.0, a)
    assert true_time_to_stabilise(t, late, 10.0, 10.5) == pytest.approx(2.44, abs=1e-9)
    assert true_time_to_stabilise(t, late, 10.0, 10.5, hold_s=None) > 6.0
    # the hold must end inside the data: quiet only in the last 0.5 s is no stable state
    assert np.isnan(true_time_to_stabilise(t, np.where(t < 19.5, np.where(t < 10, 0.1, 1.0), 0.1), 10.0, 10.5))


# --- postures, repetitions, events ----------------------------------------------------------------
def test_lying_and_four_point_orientations():
    segs = [Segment(p, 10.0) for p in ("supine", "prone", "side_lying", "four_point")]
    r = simulate(segs, fs_hz=50, seed=0, imu_errors=IDEAL)
    idx = r.truth.segment_index
    means = [r.acc_mps2[(idx == i)][-150:].mean(axis=0) for i in range(4)]
    assert means[0][0] > 9.0  # supine: +x up
    assert means[1][0] < -9.0  # prone
    assert means[2][1] > 9.0  # on the right side: +y up
    assert means[3][0] < -9.0 and means[3][2] > 0.3  # four-point, head end slightly up


def test_repetitions_are_bursts_followed_by_holds_and_listed_in_events():
    seg = Segment("sitting", 30.0, repetitions=4, label="reach")
    r = simulate([seg], fs_hz=50, seed=1, com_height_m=0.6, imu_errors=IDEAL)
    ev = r.truth.events
    reps = ev[ev["kind"] == "repetition"]
    assert reps["repetition"].tolist() == [1, 2, 3, 4]
    assert set(reps["source"]) == {"truth"} and set(reps["exercise"]) == {"reach"}
    assert list(ev.columns[: len(contract.EVENT_COLUMNS)]) == list(contract.EVENT_COLUMNS)
    gyr = np.abs(r.truth.gyr_body_rps[:, 1])
    t = r.truth.time_s
    for onset, dur in zip(reps["onset_s"], reps["duration_s"], strict=True):
        burst = (t >= onset) & (t < onset + 2.5)
        hold = (t >= onset + 3.5) & (t < onset + dur)
        assert gyr[burst].max() > 5 * np.percentile(gyr[hold], 95)
    plan = ev[ev["kind"] == "exercise"]
    assert plan["source"].tolist() == ["plan"] and plan["posture"].tolist() == ["sitting"]


def test_sit_to_stand_raises_the_sensor_and_bends_the_trunk():
    r = simulate([Segment("sit_to_stand", 12.0, repetitions=1)], fs_hz=50, seed=0, com_height_m=0.6, imu_errors=IDEAL)
    z = r.truth.sensor_pos_m[:, 2]
    body = r.body
    seated = body.knee_height_m + r.sensor_height_m - body.hip_height_m
    assert z[0] == pytest.approx(seated, abs=0.01)
    assert z.max() == pytest.approx(r.sensor_height_m, abs=0.01)
    assert r.truth.tilt_ap_rad.max() > 0.4


def test_segments_join_smoothly():
    segs = [Segment("standing", 5.0), Segment("sitting", 5.0), Segment("supine", 6.0)]
    r = simulate(segs, fs_hz=100, seed=0, imu_errors=IDEAL)
    # the largest step between samples stays physical (no jumps at the boundaries)
    assert np.abs(np.diff(r.truth.sensor_pos_m, axis=0)).max() < 0.02
    assert np.abs(np.diff(r.truth.tilt_ap_rad)).max() < 0.02


def test_determinism_for_a_seed_and_difference_across_seeds():
    segs = [Segment("standing", 6.0, perturbations=(Perturbation(3.0),)), Segment("prone", 5.0, repetitions=1)]
    a = simulate(segs, fs_hz=100, seed=11, imu_errors=ImuErrors.typical())
    b = simulate(segs, fs_hz=100, seed=11, imu_errors=ImuErrors.typical())
    c = simulate(segs, fs_hz=100, seed=12, imu_errors=ImuErrors.typical())
    np.testing.assert_array_equal(a.acc_mps2, b.acc_mps2)
    np.testing.assert_array_equal(a.gyr_rps, b.gyr_rps)
    np.testing.assert_array_equal(a.truth.com_ap_mm, b.truth.com_ap_mm)
    assert not np.array_equal(a.acc_mps2, c.acc_mps2)
    # changing the sensor errors does not change the body's motion
    d = simulate(segs, fs_hz=100, seed=11, imu_errors=IDEAL)
    np.testing.assert_array_equal(a.truth.tilt_ap_rad, d.truth.tilt_ap_rad)


def test_bad_inputs_are_rejected_clearly():
    with pytest.raises(ValueError, match="posture"):
        Segment("handstand", 5.0)
    with pytest.raises(ValueError, match="support"):
        Segment("standing", 5.0, support="elbows")
    with pytest.raises(ValueError, match="does not fit"):
        Segment("standing", 5.0, perturbations=(Perturbation(4.9),))
    with pytest.raises(ValueError, match="pendulum posture"):
        Segment("supine", 5.0, perturbations=(Perturbation(1.0),))
    with pytest.raises(ValueError, match="sensor_height_m"):
        simulate([Segment("standing", 2.0)], sensor_height_m=0.3)
    with pytest.raises(ValueError, match="com_height_m"):
        BodyParams(com_height_m=3.0)
