"""Two-segment COM (issue 14.1): the simulated two-segment body and the trunk + pelvis estimate.

Ground truth: :mod:`dmi_sensors.sim.two_segment` (legs + upper body, delayed control at both
joints). Targets, measured through the analysis path (:func:`signals_and_replica`, as
``analyse_trial`` and the CLI use it):

* a body that sways as one block (single-segment simulator, or the two-segment one; no
  pushes): the two-sensor estimate is no worse than the trunk-only pendulum;
* pushes with a visible hip strategy: the two-sensor estimate is much better than the
  trunk-only one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmi_sensors.analysis.trial import TrialAnalysisParams, analyse_trial, signals_and_replica
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.com_two_segment import ADULT, anthropometry, com_two_segment, hip_deviation
from dmi_sensors.sim import BodyParams, ImuErrors, Perturbation, Segment, simulate
from dmi_sensors.sim.two_segment import (
    double_pendulum_reference,
    plane_dynamics,
    simulate_two_segment_plane,
    static_margin,
    two_segment_spec,
)


def _rmse(est: np.ndarray, truth: np.ndarray) -> float:
    ok = np.isfinite(est) & np.isfinite(truth)
    a, b = est[ok] - est[ok].mean(), truth[ok] - truth[ok].mean()
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _pair(h: float, body: BodyParams, segs, seed: int, pelvis_frac: float = 1.0):
    trunk = simulate(segs, seed=seed, body=body, sensor_height_m=1.25 * h)
    pelvis = simulate(segs, seed=seed, body=body, sensor_height_m=pelvis_frac * h)
    return trunk, pelvis


def _pushes(h: float, frac: float) -> tuple[Perturbation, ...]:
    force = frac * BodyParams(com_height_m=h).mass_kg_ * 9.80665
    return (
        Perturbation(10.0, force_n=force),
        Perturbation(22.0, force_n=force, direction_deg=180.0),
        Perturbation(34.0, force_n=force),
    )


# --- the simulated body -------------------------------------------------------------------------


def test_kernel_matches_python_twin_and_conserves_energy_without_control():
    body = BodyParams(com_height_m=0.6, model="two_segment")
    spec = two_segment_spec(body)
    dyn = plane_dynamics(spec, body.ap, body.hip, body)
    rng = np.random.default_rng(0)
    n, dt = 1500, 1e-3
    ref = 0.02 * np.sin(np.arange(n) * dt * 3.0)
    args = (ref, np.gradient(ref, dt), rng.normal(0, 2, n), rng.normal(0, 1, n), np.where(np.arange(n) < 200, 20.0, 0))
    fast = simulate_two_segment_plane(spec, dyn, dt, *args, spec.c2_m)
    slow = double_pendulum_reference(spec, dyn, dt, *args, spec.c2_m)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)
    # no control, no torques after a short push: a free double inverted pendulum falling;
    # kinetic + potential energy is conserved (Lagrange equations; semi-implicit Euler, small step)
    free = type(dyn)(0, 0, 0, 0, 0, 0, 0, 0, 0.0)
    zero = np.zeros(6000)
    push = np.where(np.arange(6000) < 50, 30.0, 0.0)
    out = simulate_two_segment_plane(spec, free, 1e-4, zero, zero, zero, zero, push, spec.c2_m)
    m11, m12c, m22 = spec.mass_matrix
    th1, om1, th2, om2 = out[0], out[1], out[3], out[4]
    m12 = m12c * np.cos(th1 - th2)
    kinetic = 0.5 * (m11 * om1**2 + 2 * m12 * om1 * om2 + m22 * om2**2)
    potential = spec.g1_nm * np.cos(th1) + spec.g2_nm * np.cos(th2)
    energy = kinetic + potential
    after = energy[100:]  # once the push is over: conserved (semi-implicit Euler, small step)
    assert np.ptp(after) < 2e-3 * np.abs(after).max()


def test_zero_delay_feeds_back_the_current_state_never_the_unwritten_output():
    # with no delay the kernel once read out[:, k] before writing it (np.empty: garbage, at
    # times NaN); poison the buffer so the old bug fails every time, and compare with the twin
    from dmi_sensors.sim._kernels import delayed_pd_double_pendulum

    body = BodyParams(com_height_m=0.6, model="two_segment")
    spec = two_segment_spec(body)
    dyn = plane_dynamics(spec, body.ap, body.hip, body)
    nodelay = type(dyn)(*dyn.gains, 0.0)
    rng = np.random.default_rng(3)
    n, dt = 800, 1e-3
    ref = 0.02 * np.sin(np.arange(n) * dt * 3.0)
    args = (ref, np.gradient(ref, dt), rng.normal(0, 2, n), rng.normal(0, 1, n), np.where(np.arange(n) < 100, 20.0, 0))
    out = np.full((6, n), np.nan)
    masses, grav = np.array(spec.mass_matrix), np.array([spec.g1_nm, spec.g2_nm])
    delayed_pd_double_pendulum(dt, masses, grav, nodelay.gains, 0, *args, spec.l1_m, spec.c2_m, out)
    want = double_pendulum_reference(spec, nodelay, dt, *args, spec.c2_m)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        simulate_two_segment_plane(spec, nodelay, dt, *args, spec.c2_m), want, rtol=1e-9, atol=1e-12
    )
    # the feedback acts: with no delay the controlled body stays near the reference
    assert np.abs(out[0] - ref).max() < 0.05
    with pytest.raises(ParameterError, match="delay"):
        simulate_two_segment_plane(spec, type(dyn)(*dyn.gains, -0.1), dt, *args, spec.c2_m)


def test_anthropometry_of_the_two_segments_is_the_levers_table():
    body = BodyParams(com_height_m=0.91, model="two_segment")
    spec = two_segment_spec(body)
    h = body.com_height_m
    # science notes §4.3: A = 0.811 h, B = 0.189 h, A + B = h
    assert spec.a_m / h == pytest.approx(0.811, abs=2e-3)
    assert spec.b_m / h == pytest.approx(0.189, abs=2e-3)
    assert (spec.a_m + spec.b_m) / h == pytest.approx(1.0, abs=1e-3)  # the table: 0.9997 (rounded fractions)
    assert ADULT.a_over_l1("ankle") == pytest.approx(spec.a_m / spec.l1_m, rel=1e-9)


@pytest.mark.parametrize("h", [0.3, 0.5, 0.91, 1.2])
def test_two_segment_body_is_stable_and_statically_stiff_enough(h):
    for maturity in (0.0, 1.0):
        body = BodyParams(com_height_m=h, model="two_segment", maturity=maturity)
        for pivot in ("ankle", "knee"):
            spec = two_segment_spec(body, pivot)
            for ctrl in (body.ap, body.ml):
                dyn = plane_dynamics(spec, ctrl, body.hip, body)
                assert static_margin(spec, dyn) > 0
                z = np.zeros(15000)
                push = np.where((np.arange(15000) > 100) & (np.arange(15000) < 300), 5.0, 0.0)
                out = simulate_two_segment_plane(spec, dyn, 1e-3, z, z, z, z, push, spec.c2_m)
                early = np.abs(out[[0, 3], 500:3000]).max()
                assert np.abs(out[[0, 3], 12000:]).max() < 0.05 * early


def test_push_gives_a_hip_strategy_and_quiet_stance_mostly_in_phase():
    h = 0.6
    body = BodyParams(com_height_m=h, model="two_segment")
    r = simulate([Segment("standing", 30, perturbations=(Perturbation(15.0),))], seed=2, body=body)
    tr = r.truth
    t = tr.time_s
    hip = tr.tilt_ap_rad - tr.leg_tilt_ap_rad
    quiet = t < 14.5
    push = (t > 15.0) & (t < 16.5)
    # after a forward push at the upper body the hip flexes far beyond its quiet range ...
    assert np.abs(hip[push]).max() > 4 * np.std(hip[quiet])
    # ... and the legs move against the trunk at some point (anti-phase), which never happens with one segment
    assert np.any(np.sign(np.diff(tr.tilt_ap_rad[push])) != np.sign(np.diff(tr.leg_tilt_ap_rad[push])))
    # the truth COM is the two-segment formula of the true angles
    spec = two_segment_spec(body)
    x = spec.a_m * np.sin(tr.leg_tilt_ap_rad) + spec.b_m * np.sin(tr.tilt_ap_rad)
    assert _rmse(1000 * x, tr.com_ap_mm) < 1e-3  # (the ML tilt adds a cos factor of 1 - 1e-5)


def test_pelvis_below_the_hip_rides_on_the_legs():
    h = 0.6
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 10)]
    low = simulate(segs, seed=1, body=body, sensor_height_m=0.8 * h)
    assert np.allclose(low.truth.tilt_ap_rad, low.truth.leg_tilt_ap_rad)
    with pytest.raises(ParameterError):
        simulate(segs, seed=1, body=BodyParams(com_height_m=h), sensor_height_m=0.8 * h)


# --- the estimate ------------------------------------------------------------------------------


def test_hip_deviation_is_exact_on_ideal_signals():
    """δ = ∬(a_pelvis - H2·(sin θ)'') equals L1 (sin θ1 - sin θ2) within the high-pass band."""
    h = 0.6
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 40, perturbations=_pushes(h, 0.12))]
    trunk, pelvis = _pair(h, body, segs, 5)
    tr = trunk.truth
    s = np.column_stack([np.sin(tr.tilt_ap_rad), np.sin(tr.tilt_ml_rad)])
    acc = pelvis.truth.sensor_acc_world_mps2[:, :2]
    delta = hip_deviation(acc, s, h, trunk.fs_hz, highpass_hz=0.3)
    l1 = two_segment_spec(body).l1_m
    true = l1 * (np.sin(tr.leg_tilt_ap_rad) - np.sin(tr.tilt_ap_rad))
    from dmi_sensors.dsp import butter_highpass, filtfilt

    hp3 = true
    for _ in range(3):
        hp3 = filtfilt(butter_highpass(0.3, trunk.fs_hz, 2), hp3)
    assert np.std(delta[:, 0] - hp3) < 0.15 * np.std(hp3)
    # ideal inputs: the two-segment COM beats the trunk-only pendulum by far
    res = com_two_segment(tr.tilt_ap_rad, tr.tilt_ml_rad, acc[:, 0], acc[:, 1], trunk.fs_hz, h, h, gate=False)
    assert _rmse(res.com_ap_mm, tr.com_ap_mm) < 0.5 * _rmse(res.trunk_only_ap_mm, tr.com_ap_mm)


@pytest.mark.parametrize(("h", "seed"), [(0.45, 11), (0.6, 12), (0.91, 13)])
def test_no_worse_than_trunk_only_when_the_body_sways_as_one_block(h, seed):
    segs = [Segment("standing", 45)]
    trunk, pelvis = _pair(h, BodyParams(com_height_m=h), segs, seed)
    p = TrialAnalysisParams(com_height_m=h)
    one, _ = signals_and_replica(trunk.to_trial(), p)
    two, _ = signals_and_replica(trunk.to_trial(), p, pelvis=pelvis.to_trial())
    for axis in ("ap", "ml"):
        truth = getattr(trunk.truth, f"com_{axis}_mm")
        e1 = _rmse(getattr(one, f"com_{axis}_mm"), truth)
        e2 = _rmse(getattr(two, f"com_{axis}_mm"), truth)
        assert e2 <= e1 * 1.10 + 0.03, (axis, e1, e2)


@pytest.mark.parametrize(("h", "frac", "seed"), [(0.45, 0.15, 21), (0.5, 0.12, 22), (0.6, 0.15, 23)])
def test_pushes_with_a_hip_strategy(h, frac, seed):
    """Measured (docs/metrics.md): trunk-only 2.5-3.3 mm, two-segment 1.1-1.7 mm on these trials."""
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 45, perturbations=_pushes(h, frac))]
    trunk, pelvis = _pair(h, body, segs, seed)
    p = TrialAnalysisParams(com_height_m=h)
    one, _ = signals_and_replica(trunk.to_trial(), p)
    two, _ = signals_and_replica(trunk.to_trial(), p, pelvis=pelvis.to_trial())
    truth = trunk.truth.com_ap_mm
    e1, e2 = _rmse(one.com_ap_mm, truth), _rmse(two.com_ap_mm, truth)
    assert e1 > 2.4
    assert e2 < 0.6 * e1
    assert e2 < 1.8
    assert two.parameters["com"]["com_model"] == "two_segment"


def test_a_pelvis_sensor_on_the_legs_and_other_heights():
    """The estimate does not assume where the pelvis sensor sits: below the hip (on the legs)
    δ = H2 (sin θ1 - sin θ2), with H2 close to L1 the same correction."""
    h = 0.55
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 45, perturbations=_pushes(h, 0.15))]
    for frac in (0.9, 1.1):
        trunk, pelvis = _pair(h, body, segs, 31, pelvis_frac=frac)
        p = TrialAnalysisParams(com_height_m=h, pelvis_height_m=frac * h)
        one, _ = signals_and_replica(trunk.to_trial(), p)
        two, _ = signals_and_replica(trunk.to_trial(), p, pelvis=pelvis.to_trial())
        truth = trunk.truth.com_ap_mm
        assert _rmse(two.com_ap_mm, truth) < 0.7 * _rmse(one.com_ap_mm, truth)


def test_analyse_trial_says_which_model_and_sitting_stays_one_segment():
    h = 0.5
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 20, perturbations=(Perturbation(10.0),))]
    trunk, pelvis = _pair(h, body, segs, 41)
    res = analyse_trial(trunk.to_trial(), com_height_m=h, pelvis=pelvis.to_trial())
    assert res.summary["com_model"] == "two_segment"
    two = res.parameters["signals"]["two_segment"]
    assert two["pelvis_height_source"].startswith("default")
    assert two["anthropometry"]["source"].startswith("adult")
    res1 = analyse_trial(trunk.to_trial(), com_height_m=h)
    assert res1.summary["com_model"] == "single_segment"
    sit = analyse_trial(trunk.to_trial(), com_height_m=h, pelvis=pelvis.to_trial(), posture="sitting")
    assert sit.summary["com_model"] == "single_segment"
    # a pelvis on another time base is refused with a clear error
    late = pelvis.to_trial()
    shifted = type(late)(late.time_s + 5.0, late.acc_mps2, late.gyr_rps, late.fs_hz, "p")
    with pytest.raises(ParameterError, match=r"same time base|does not cover"):
        analyse_trial(trunk.to_trial(), com_height_m=h, pelvis=shifted)


def test_paediatric_fractions():
    young = anthropometry(age_years=4.0)
    assert young.legs_mass_fraction < ADULT.legs_mass_fraction
    assert young.hat_mass_fraction > ADULT.hat_mass_fraction
    by_height = anthropometry(body_height_m=1.03)  # ~4 years
    assert by_height.legs_mass_fraction == pytest.approx(young.legs_mass_fraction, rel=0.02)
    assert anthropometry(body_height_m=1.8).a_over_l1() == pytest.approx(ADULT.a_over_l1())
    assert anthropometry() is ADULT
    # science notes §4.2 table (renormalised Jensen): legs incl. feet 0.264 at 4 y, 0.367 at 12 y
    from dmi_sensors.metrics.com_two_segment import jensen_leg_fraction

    _, hat4 = jensen_leg_fraction(4.0)
    assert 1.0 - hat4 == pytest.approx(0.264, abs=0.003)
    assert 1.0 - jensen_leg_fraction(12.0)[1] == pytest.approx(0.367, abs=0.003)
    assert 0.86 < young.a_over_l1() < 0.90 and math.isclose(ADULT.a_over_l1(), 0.861, abs_tol=0.002)


def test_imu_errors_none_gives_the_same_model_choice():
    h = 0.5
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 20)]
    trunk = simulate(segs, seed=1, body=body, sensor_height_m=1.25 * h, imu_errors=ImuErrors.none())
    pelvis = simulate(segs, seed=1, body=body, sensor_height_m=h, imu_errors=ImuErrors.none())
    res = analyse_trial(trunk.to_trial(), com_height_m=h, pelvis=pelvis.to_trial())
    assert res.summary["com_model"] == "two_segment"
    assert np.isfinite(res.summary["com_rms_ap_mm"])


# --- through the CLI and the session analysis --------------------------------------------------


def _cli(*args):
    import contextlib
    import io

    from dmi_sensors import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_cli_analyse_with_a_pelvis_csv(tmp_path):
    import json

    from dmi_sensors.store.trial_csv import write_trial_csv

    h = 0.5
    body = BodyParams(com_height_m=h, model="two_segment")
    segs = [Segment("standing", 30, perturbations=_pushes(h, 0.12)[:2])]
    trunk, pelvis = _pair(h, body, segs, 51, pelvis_frac=1.0)
    t_csv = write_trial_csv(trunk.to_trial(), tmp_path / "trunk.csv")
    p_csv = write_trial_csv(pelvis.to_trial(), tmp_path / "pelvis.csv")
    args = ("analyse", t_csv, "--sensor-height-m", 1.25 * h, "--com-height-m", h)
    code, out, _ = _cli(*args, "--pelvis-csv", p_csv, "--pelvis-height-m", h, "--body-height-m", 1.0,
                        "--json", tmp_path / "two.json")  # fmt: skip
    assert code == 0 and "two-segment model (trunk + pelvis)" in out
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["summary"]["com_model"] == "two_segment"
    seg = two["parameters"]["signals"]["two_segment"]
    assert seg["pelvis_height_m"] == h and seg["anthropometry"]["source"].startswith("child")
    assert two["parameters"]["pelvis_input"].endswith("pelvis.csv")
    code, out, _ = _cli(*args, "--json", tmp_path / "one.json")
    assert code == 0 and "trunk-only pendulum" in out
    one = json.loads((tmp_path / "one.json").read_text())
    assert one["summary"]["com_model"] == "single_segment"
    true_rms = float(np.std(trunk.truth.com_ap_mm))
    # the two-segment RMS is closer to the truth than the trunk-only one
    assert abs(two["summary"]["com_rms_ap_mm"] - true_rms) < abs(one["summary"]["com_rms_ap_mm"] - true_rms)
    code, _, err = _cli(*args, "--pelvis-height-m", h)
    assert code != 0 and "--pelvis-csv" in err


def test_session_analysis_uses_trunk_and_pelvis(tmp_path):
    import dataclasses

    from dmi_sensors import session as session_mod
    from dmi_sensors import store as store_mod
    from dmi_sensors.analysis import SessionAnalysisParams, analyse_session
    from dmi_sensors.sim.session import default_sensors, record_simulated_session

    ex = session_mod.CATALOGUE["stand_floor_none"]
    plan = session_mod.Plan("one", [dataclasses.replace(ex, target_repetitions=2, hold_s=8.0)])
    subject = session_mod.Subject("C014", 2021, 0.5, body_height_m=1.0)
    body = BodyParams(com_height_m=0.5, model="two_segment")
    with store_mod.SessionStore(tmp_path / "s.sqlite") as st:
        sid, sim = record_simulated_session(
            st, subject, plan, seed=4, start_utc="2026-03-01T10:00:00Z", sensors=default_sensors(0.5), body=body
        )
        res = analyse_session(st, sid, save=False)
        only_trunk = analyse_session(st, sid, SessionAnalysisParams(two_segment=False), save=False)
    trunk_id = next(k for k, v in sim.placements.items() if v == "trunk")
    pelvis_id = next(k for k, v in sim.placements.items() if v == "pelvis")
    assert res.sensors[trunk_id].summary["com_model"].startswith("two_segment (trunk + pelvis")
    assert res.sensors[pelvis_id].summary["com_model"].startswith("single_segment")
    assert only_trunk.sensors[trunk_id].summary["com_model"].startswith("single_segment")
    assert res.parameters["analysis"]["age_years"] == pytest.approx(5.5)
    assert res.parameters["analysis"]["body_height_m"] == 1.0
