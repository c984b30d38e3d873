"""Metrics against the simulator's ground truth (virtual trunk IMU on a swaying body).

* COM RMS (pendulum method) within 15 % or 1 mm, whichever is larger, standing and sitting,
  child and adult COM heights, realistic and "typical uncalibrated" IMU errors.
* Time to stabilise after a push within 0.3 s of the simulator's true TTS, which is the
  same rule (trailing 1 s RMS, 1.5 × the RMS of the 5 s before the push, until the end)
  applied to the true COM acceleration; our estimator adds only the noise low-pass.
* The analyze CLI end to end on a simulated trial with its events table.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dmi_sensors.analysis.trial import TrialAnalysisParams, analyse_trial, sway_signals
from dmi_sensors.cli import main
from dmi_sensors.metrics import TtsParams, time_to_stabilise
from dmi_sensors.sim import BodyParams, ImuErrors, Perturbation, Segment, simulate
from dmi_sensors.sim.body import pendulum_spec
from dmi_sensors.store.trial_csv import write_trial_csv

FS = 100.0
ERRORS = {"default": ImuErrors, "typical": ImuErrors.typical}


def _effective_com_lever_m(h: float, posture: str, support: str = "none") -> float:
    """Whole-body COM displacement per unit sin(tilt): moving mass fraction × its COM distance
    from the pivot (standing ≈ h; sitting: HAT about the hips)."""
    spec = pendulum_spec(BodyParams(com_height_m=h), posture, support)
    return spec.mass_fraction * spec.com_distance_m


def _within(est: float, true: float) -> bool:
    return abs(est - true) <= 0.15 * true


@pytest.mark.parametrize("errors", ["default", "typical"])
@pytest.mark.parametrize(("posture", "h"), [("standing", 0.6), ("standing", 0.91), ("sitting", 0.6), ("sitting", 0.91)])
def test_com_rms_matches_truth(posture, h, errors):
    r = simulate([Segment(posture, 60.0)], fs_hz=FS, seed=3, com_height_m=h, imu_errors=ERRORS[errors]())
    res = analyse_trial(r.to_trial(), com_height_m=h, posture=posture)
    # the same as giving the effective lever as the COM height of a standing pendulum
    lever = _effective_com_lever_m(h, posture)
    same = analyse_trial(r.to_trial(), com_height_m=lever)
    assert same.summary["com_rms_ap_mm"] == pytest.approx(res.summary["com_rms_ap_mm"], rel=1e-3)
    true_ap = float(np.std(r.truth.com_ap_mm))
    true_ml = float(np.std(r.truth.com_ml_mm))
    est_ap, est_ml = res.summary["com_rms_ap_mm"], res.summary["com_rms_ml_mm"]
    assert _within(est_ap, true_ap), (est_ap, true_ap)
    assert _within(est_ml, true_ml), (est_ml, true_ml)
    if posture == "standing":  # AP, what one trunk IMU estimates best: a few per cent
        assert est_ap == pytest.approx(true_ap, rel=0.06)


#: Simulated people for the TTS checks: (label, COM height m, sway-noise cut-off Hz, rate Hz,
#: IMU errors). The simulator's default sway has COM-acceleration content up to ~30 Hz
#: (quiet RMS 0.07-0.15 m/s²); "quiet" bodies sway below 1.5-2 Hz with an adult's quiet COM
#: acceleration of 0.03 m/s² (the issue's independent check measured 0.030-0.051), where the
#: sensor's noise is 2-3 × the signal.
PUSH_CASES = [
    ("adult", 0.91, 10.0, 100.0, "typical"),
    ("child", 0.6, 10.0, 100.0, "typical"),
    ("quiet adult", 0.91, 1.5, 100.0, "typical"),
    ("quiet child", 0.6, 2.0, 100.0, "default"),
    ("adult 50 Hz", 0.91, 10.0, 50.0, "default"),
    ("child 200 Hz", 0.6, 10.0, 200.0, "default"),
]


def _push_trial(h, cutoff, fs, errors, seed, **push):
    body = BodyParams(com_height_m=h, noise_cutoff_hz=cutoff)
    seg = Segment("standing", 40.0, perturbations=(Perturbation(onset_s=15.0, **push),))
    return simulate([seg], fs_hz=fs, seed=seed, body=body, imu_errors=ERRORS[errors]())


@pytest.mark.parametrize("seed", range(3))
def test_the_truth_is_our_rule_on_the_true_com_acceleration(seed):
    """The simulator's true TTS (trailing 1 s RMS below 1.5 × the 5 s quiet RMS for a 1 s hold)
    is :func:`time_to_stabilise` without filter, band split or noise on the true COM acceleration."""
    r = _push_trial(0.6, 10.0, FS, "typical", seed)
    push = r.truth.perturbations.iloc[0]
    acc_true = np.column_stack([r.truth.com_acc_ap_mps2, r.truth.com_acc_ml_mps2])
    raw = TtsParams(lowpass_hz=None, decision_lowpass_hz=None)
    same = time_to_stabilise(acc_true, FS, push.end_s, event_onset_s=push.onset_s, params=raw)
    assert np.isfinite(push.tts_true_s)
    assert same.tts_s == pytest.approx(float(push.tts_true_s), abs=1e-9)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("label", "h", "cutoff", "fs", "errors"), PUSH_CASES)
def test_time_to_stabilise_after_a_push_matches_truth(label, h, cutoff, fs, errors, seed):
    """Issue 13 finding 1: the TTS from the IMU is within 0.3 s of the true TTS for adult and
    child pushes, quiet and lively sway, 50-200 Hz. Before the noise correction the threshold
    came from the noisy quiet RMS (2-3 × too high for quiet adults) and TTS was early; before
    the hold time quiet sway crossing 1.5 × made it wait up to the end of the trial."""
    r = _push_trial(h, cutoff, fs, errors, seed)
    push = r.truth.perturbations.iloc[0]
    truth = float(push["tts_true_s"])
    assert np.isfinite(truth)
    res = analyse_trial(
        r.to_trial(), com_height_m=h, perturbations_s=[push.onset_s], tts_event_duration_s=float(push.duration_s)
    )
    est = res.summary["time_to_stabilise_s"]
    assert est is not None and abs(est - truth) < 0.3, (label, est, truth, res.summary["time_to_stabilise_status"])
    assert res.perturbation_check["consistent"], res.perturbation_check
    assert not res.warnings
    # finding 2: no method reports "stable at once" (the polynomial gave -2e-13 s in 4 of 12 pushes)
    for row in res.stabilisation:
        if row["stable"]:
            assert row["tts_s"] > 0.2, row
        else:
            assert row["status"].startswith("not determined"), row


def test_a_push_given_where_there_was_none_is_not_determined():
    r = _push_trial(0.91, 1.5, FS, "typical", 0)
    res = analyse_trial(r.to_trial(), com_height_m=0.91, perturbations_s=[15.0, 30.0], tts_event_duration_s=0.2)
    assert res.summary["time_to_stabilise_s"][1] is None
    assert res.summary["time_to_stabilise_status"][1] == "not determined: response below threshold"
    assert res.perturbation_check["without_response_s"] == [30.0]
    assert any("30.000 s: no response" in w for w in res.warnings)


def test_strapdown_recovers_the_high_passed_com_with_an_ideal_imu():
    """Strapdown loses sway below its high-pass (here 24 % of the COM power is below 0.1 Hz),
    integrates noise twice and has ~10 s transients at each end (it starts from zero
    velocity): with an ideal IMU, away from the ends, it matches the equally high-passed truth."""
    from dmi_sensors.dsp import butter_highpass, butter_lowpass, filtfilt

    r = simulate([Segment("standing", 120.0)], fs_hz=FS, seed=0, com_height_m=0.6, imu_errors=ImuErrors.none())
    # a lower fusion gain than the default 0.3 keeps the sway's inertial acceleration out of
    # the attitude, hence out of the gravity removal
    params = TrialAnalysisParams(
        com_height_m=0.6, sensor_height_m=r.sensor_height_m, com_method="strapdown", mahony_kp=0.1
    )
    sig = sway_signals(r.to_trial(), params)
    sos = butter_highpass(0.1, FS, 2)
    hp = filtfilt(sos, filtfilt(sos, filtfilt(sos, r.truth.com_ap_mm)))
    hp = filtfilt(butter_lowpass(5.0, FS, 4), hp)
    core = slice(1500, -1500)
    assert np.std(sig.com_ap_mm[core]) == pytest.approx(float(np.std(hp[core])), rel=0.10)
    assert np.std(sig.com_ap_mm[core] - hp[core]) < 0.35 * np.std(hp[core])
    assert np.std(sig.com_ap_mm[core]) < 0.85 * float(np.std(r.truth.com_ap_mm[core]))
    assert sig.parameters["com"]["com_method"] == "strapdown"


def test_analyze_cli_on_a_simulated_session(tmp_path, capsys):
    segments = [
        Segment("sitting", 30.0, support="hips", repetitions=2, label="sit_reach"),
        Segment("standing", 30.0, perturbations=(Perturbation(onset_s=12.0),)),
    ]
    r = simulate(segments, fs_hz=FS, seed=5, com_height_m=0.6, imu_errors=ImuErrors.typical())
    trial_csv = write_trial_csv(r.to_trial(), tmp_path / "trial.csv")
    events_csv = tmp_path / "events.csv"
    r.truth.events.to_csv(events_csv, index=False)
    out = tmp_path / "res.json"
    code = main(["analyze", str(trial_csv), "--com-height-m", "0.6", "--events", str(events_csv), "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    kinds = {w["kind"] for w in data["windows"]}
    assert kinds == {"sliding", "segment"}
    exercises = {w["tags"]["exercise"] for w in data["windows"] if w["kind"] == "sliding"}
    assert {"sit_reach"} <= exercises
    # the push came from the events table (kind = perturbation): one TTS, a number or null
    assert "time_to_stabilise_s" in data["summary"]
    assert not isinstance(data["summary"]["time_to_stabilise_s"], list)
    assert len(data["parameters"]["perturbations"]) == 1
    # the standing segment's COM RMS agrees with the truth's
    seg = [w for w in data["windows"] if w["kind"] == "segment" and w["tags"]["exercise"] == "standing"]
    assert seg, [w["tags"] for w in data["windows"] if w["kind"] == "segment"]
    printed = capsys.readouterr().out
    assert "com_rms_ap_mm" in printed


def test_analyze_cli_tts_for_several_pushes_matches_truth(tmp_path):
    onsets = (10.0, 25.0, 40.0)
    seg = Segment("standing", 55.0, perturbations=tuple(Perturbation(onset_s=t) for t in onsets))
    r = simulate([seg], fs_hz=FS, seed=2, com_height_m=0.6, imu_errors=ImuErrors.typical())
    pushes = r.truth.perturbations
    trial_csv = write_trial_csv(r.to_trial(), tmp_path / "pushes.csv")
    out = tmp_path / "pushes.json"
    args = ["analyze", str(trial_csv), "--com-height-m", "0.6", "--json", str(out)]
    for t in pushes["onset_s"]:
        args += ["--perturbation-at-s", str(t)]
    args += ["--perturbation-duration-s", str(float(pushes["duration_s"].iloc[0]))]
    assert main(args) == 0
    est = json.loads(out.read_text())["summary"]["time_to_stabilise_s"]
    truth = pushes["tts_true_s"].to_numpy()
    assert len(est) == len(truth) == 3
    assert np.all(np.abs(np.array(est) - truth) < 0.3), (est, truth)


def test_readme_example_one_of_four_pushes_and_a_push_outside_the_trial(tmp_path, capsys):
    """Issue 13 finding 3: the README's old example gave one push of four and reported
    time_to_stabilise_s 46.33; ``--perturbation-at-s 500`` on a 60 s trial showed "—" without a
    word. Now the other three pushes are named in a warning and in the JSON's
    ``perturbation_check``, the given push's TTS is right, and a push outside the trial is said."""
    from dmi_sensors.sim.scenarios import scenario_segments

    r = simulate(scenario_segments("perturbation"), fs_hz=FS, seed=0, com_height_m=0.6, imu_errors=ImuErrors.typical())
    pushes = r.truth.perturbations
    assert len(pushes) == 4
    trial_csv = write_trial_csv(r.to_trial(), tmp_path / "perturbation.csv")
    out = tmp_path / "one.json"
    args = ["analyse", str(trial_csv), "--com-height-m", "0.6", "--perturbation-duration-s", "0.2"]
    assert main([*args, "--perturbation-at-s", "10", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    data = json.loads(out.read_text())
    check = data["perturbation_check"]
    assert not check["consistent"]
    np.testing.assert_allclose(check["detected_not_given_s"], pushes["onset_s"].to_numpy()[1:], atol=0.5)
    assert err.count("looks like a perturbation but none was given") == 3
    assert abs(data["summary"]["time_to_stabilise_s"] - pushes["tts_true_s"].iloc[0]) < 0.3
    # all four given: consistent, each within 0.3 s of its truth
    every = [a for t in pushes["onset_s"] for a in ("--perturbation-at-s", str(t))]
    assert main([*args, *every, "--json", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["perturbation_check"]["consistent"]
    assert np.all(np.abs(np.array(data["summary"]["time_to_stabilise_s"]) - pushes["tts_true_s"]) < 0.3)
    # a push outside the trial
    assert main([*args, "--perturbation-at-s", "500", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    data = json.loads(out.read_text())
    assert "500.000 s lies outside the trial" in err
    assert data["perturbation_check"]["outside_trial_s"] == [500.0]
    assert data["summary"]["time_to_stabilise_s"] is None
    assert data["summary"]["time_to_stabilise_status"] == ["not determined: event outside the signal"]


def test_detected_pushes_and_their_tts(tmp_path):
    """Detection needs clear bursts: the simulator's default push (18.6 N for this child) can
    leave a response barely above 2.2 × the quiet level, so these pushes are 40 N."""
    onsets = (10.0, 25.0, 40.0)
    seg = Segment("standing", 55.0, perturbations=tuple(Perturbation(onset_s=t, force_n=40.0) for t in onsets))
    r = simulate([seg], fs_hz=FS, seed=1, com_height_m=0.6, imu_errors=ImuErrors.typical())
    trial_csv = write_trial_csv(r.to_trial(), tmp_path / "pushes.csv")
    out = tmp_path / "detected.json"
    assert main(["analyze", str(trial_csv), "--com-height-m", "0.6", "--detect-perturbations", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    found = data["parameters"]["perturbations"]
    assert data["parameters"]["perturbations_source"].startswith("detected")
    np.testing.assert_allclose([p["onset_s"] for p in found], onsets, atol=0.4)
    # TTS counted from the detected peak (~0.1 s after the push's end) vs the truth's from the end
    est = np.array(data["summary"]["time_to_stabilise_s"], dtype=float)
    truth = r.truth.perturbations["tts_true_s"].to_numpy()
    assert np.all(np.abs(est - truth) < 0.3), (est, truth)


def _com_rmse_mm(sig, r) -> tuple[float, float]:
    """RMS error of the de-meaned COM traces, AP and ML, mm (the issue's COM RMSE)."""
    out = []
    for est, true in ((sig.com_ap_mm, r.truth.com_ap_mm), (sig.com_ml_mm, r.truth.com_ml_mm)):
        out.append(float(np.sqrt(np.mean(((est - est.mean()) - (true - true.mean())) ** 2))))
    return out[0], out[1]


def _ramp_errors(total_rps: float = 0.01, over_s: float = 60.0) -> ImuErrors:
    """A gyro bias drifting 0 -> ``total_rps`` over ``over_s`` on every axis (a settle 10 × longer
    than the trial is a ramp to 5 %)."""
    settle = 10.0 * over_s
    drift = total_rps / (1.0 - np.exp(-over_s / settle))
    return ImuErrors().warming(drift_rps=(drift, drift, drift), settle_s=settle, random_walk_rps_sqrt_s=0.0)


BIAS_CASES = {
    "ramp 0.01 rad/s per minute": _ramp_errors,
    "warming (settle + random walk), typical errors": lambda: ImuErrors.typical().warming(),
    "constant 0.01 rad/s": lambda: ImuErrors(gyr_bias_rps=(0.01, 0.01, 0.01)),
}


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("h", [0.91, 0.6])
@pytest.mark.parametrize("case", list(BIAS_CASES))
def test_drifting_gyro_bias_keeps_the_com_within_1_5_mm(case, h, seed):
    """Issue 13 finding 5: with a bias drifting 0 -> 0.01 rad/s over a minute the trial-mean bias
    removal left a COM RMSE of ~7 mm (adult) and ~5 mm (child); the rest-phase tracker
    (dsp.GyroBiasTracker, forward and backward) plus the accelerometer anchoring of the tilt at
    long periods keep it under 1.5 mm AP and ML, and a constant bias is no worse than before."""
    r = simulate([Segment("standing", 60.0)], fs_hz=FS, seed=seed, com_height_m=h, imu_errors=BIAS_CASES[case]())
    assert r.truth.gyr_bias_rps is not None
    trial = r.to_trial()
    new = _com_rmse_mm(sway_signals(trial, TrialAnalysisParams(com_height_m=h)), r)
    old = _com_rmse_mm(
        sway_signals(trial, TrialAnalysisParams(com_height_m=h, gyro_bias="trial_mean", tilt_anchor_hz=None)), r
    )
    assert max(new) <= 1.5, (case, new, old)
    if case.startswith("constant"):
        assert new[0] <= 1.05 * old[0] and new[1] <= 1.05 * old[1], (new, old)
    else:
        assert max(old) > 2.5, old  # what the trial mean alone left


def test_the_simulated_bias_drift_is_the_truth_the_readings_carry():
    errors = ImuErrors(quantise=False, acc_noise_rms_mps2=0.0, gyr_noise_rms_rps=0.0).warming()
    r = simulate([Segment("standing", 30.0)], fs_hz=FS, seed=4, com_height_m=0.6, imu_errors=errors)
    true_sensor = r.truth.gyr_body_rps @ errors.mounting_matrix
    np.testing.assert_allclose(r.gyr_rps - true_sensor, r.truth.gyr_bias_rps, atol=1e-12)
    b = r.truth.gyr_bias_rps
    assert np.all(b[0] == 0.0) and np.all(np.abs(b[-1]) > 0.5 * np.abs(errors.gyr_bias_drift_rps))


def _true_sensor_speed_m_s(r) -> float:
    """Mean horizontal speed of the simulated sensor (its world position's derivative)."""
    v = np.gradient(r.truth.sensor_pos_m[:, :2], 1.0 / r.fs_hz, axis=0)
    return float(np.mean(np.hypot(v[:, 0], v[:, 1])))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(
    ("posture", "h"), [("standing", 0.91), ("standing", 0.6), ("standing", 0.45), ("sitting", 0.6)]
)
def test_isway_mean_velocity_is_the_sensor_speed_or_below_the_noise_floor(posture, h, seed):
    """Issue 13 finding 4: MV integrated the noise (0.033-0.037 m/s for true speeds of 0.0071,
    0.0140 and 0.0016 m/s). High-pass, integrate, high-pass and the noise removed in power: within
    20 % of the true sensor speed where the signal is above its noise floor; sitting sway is below
    it, and the result says so for MV, the acceleration RMS and JERK (×2 and ×6 the truth there)."""
    r = simulate([Segment(posture, 60.0)], fs_hz=FS, seed=seed, com_height_m=h, imu_errors=ImuErrors.typical())
    s = analyse_trial(r.to_trial(), com_height_m=h).summary
    true = _true_sensor_speed_m_s(r)
    mv, floor = s["acc_mean_velocity_m_s"], s["acc_mean_velocity_floor_m_s"]
    assert 0.003 < floor < 0.01  # the noise-only replica's MV
    if posture == "standing":
        assert "acc_mean_velocity_m_s" not in s["below_noise_floor"]
        assert mv == pytest.approx(true, rel=0.2), (mv, true, floor)
    else:
        assert true < floor
        assert {"acc_mean_velocity_m_s", "acc_rms_ap_mps2", "jerk_isway_m2_s5"} <= set(s["below_noise_floor"])


@pytest.mark.parametrize("h", [0.91, 0.6])
@pytest.mark.parametrize("support", ["hips", "knees", "ankles"])
def test_supported_standing_com_follows_the_support_point(support, h):
    """Issue 13 finding 6: with support at the knees the body above the knees sways about them
    and the whole-body COM moves μ·l = 0.560 h per unit sin θ, not h: the trunk-only pendulum
    gave 4.24 mm for a true 2.37 mm. With the support point given (parameter, or the events'
    support column) COM RMS is within 15 % of the truth at every support level, so support
    levels compare correctly."""
    r = simulate(
        [Segment("supported_standing", 60.0, support=support)],
        fs_hz=FS,
        seed=1,
        com_height_m=h,
        imu_errors=ImuErrors.typical(),
    )
    true_ap, true_ml = float(np.std(r.truth.com_ap_mm)), float(np.std(r.truth.com_ml_mm))
    by_param = analyse_trial(r.to_trial(), com_height_m=h, posture="standing", support=support).summary
    by_events = analyse_trial(r.to_trial(), events=r.truth.events, com_height_m=h).summary
    for s in (by_param, by_events):
        assert s["com_rms_ap_mm"] == pytest.approx(true_ap, rel=0.15), (s["com_rms_ap_mm"], true_ap)
        assert s["com_rms_ml_mm"] == pytest.approx(true_ml, rel=0.15), (s["com_rms_ml_mm"], true_ml)
    if support != "ankles":  # the old trunk-only lever h: 1.8 × (knees), 5.3 × (hips) too large
        trunk_only = analyse_trial(r.to_trial(), com_height_m=h).summary["com_rms_ap_mm"]
        assert trunk_only > 1.6 * true_ap


def test_support_levels_are_ordered_as_the_truth():
    rms = {}
    for support in ("hips", "knees", "ankles"):
        r = simulate([Segment("supported_standing", 40.0, support=support)], fs_hz=FS, seed=2, com_height_m=0.6)
        est = analyse_trial(r.to_trial(), com_height_m=0.6, posture="standing", support=support).summary
        rms[support] = (est["com_rms_ap_mm"], float(np.std(r.truth.com_ap_mm)))
    assert rms["hips"][0] < rms["knees"][0] < rms["ankles"][0]
    assert rms["hips"][1] < rms["knees"][1] < rms["ankles"][1]


def test_the_lever_table_is_the_simulators():
    from dmi_sensors.metrics.levers import com_lever

    for support in ("trunk", "hips", "thighs", "knees", "shanks", "ankles", "feet", "none"):
        spec = pendulum_spec(BodyParams(com_height_m=0.6), "supported_standing", support)
        lever = com_lever("standing", support)
        assert lever is not None
        assert lever.lever_frac * 0.6 == pytest.approx(spec.mass_fraction * spec.com_distance_m, rel=1e-12)
    assert com_lever("standing", "knees").lever_frac == pytest.approx(0.560, abs=5e-4)  # science notes §4.4
    assert com_lever("sitting", "none").lever_frac == pytest.approx(0.188, abs=5e-4)
    assert com_lever("four_point") is None
