"""analyse_trial and COM excursion on an analytic inverted pendulum; the analyze CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from dmi_sensors import __version__
from dmi_sensors.analysis.trial import SUMMARY_KEYS, TrialAnalysisParams, analyse_trial, com_excursion
from dmi_sensors.cli import main
from dmi_sensors.contract import STANDARD_GRAVITY_MPS2 as G
from dmi_sensors.metrics import REGISTRY
from dmi_sensors.metrics.registry import floor_name, has_noise_floor
from dmi_sensors.store.trial_csv import write_trial_csv
from dmi_sensors.types import Trial

FS = 100.0


def pendulum_trial(
    duration_s=40.0, h_sensor=0.8, amp_ap=0.01, f_ap=0.4, amp_ml=0.005, f_ml=0.3, fs=FS
) -> tuple[Trial, np.ndarray, np.ndarray]:
    """A rigid inverted pendulum tilting about the ankle: θ_ap = A sin(2πft) (+ forward, about +y),
    θ_ml = B sin(2πgt) (+ left). Exact IMU signals of a sensor on it at height h_sensor.

    Returns the trial and the true tilts. Small-angle composition is avoided: the attitude is
    R = Ry(θ_ap)·Rx(-θ_ml) and the angular velocity is derived from it exactly.
    """
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    wa, wm = 2 * np.pi * f_ap, 2 * np.pi * f_ml
    th_a = amp_ap * np.sin(wa * t)
    th_m = amp_ml * np.sin(wm * t)
    dth_a = amp_ap * wa * np.cos(wa * t)
    dth_m = amp_ml * wm * np.cos(wm * t)
    ddth_a = -amp_ap * wa**2 * np.sin(wa * t)
    ddth_m = -amp_ml * wm**2 * np.sin(wm * t)

    def ry(a):
        c, s = np.cos(a), np.sin(a)
        z, o = np.zeros_like(a), np.ones_like(a)
        return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)

    def rx(a):
        c, s = np.cos(a), np.sin(a)
        z, o = np.zeros_like(a), np.ones_like(a)
        return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)

    r = ry(th_a) @ rx(-th_m)  # body -> world
    # sensor position p = R @ (0, 0, h): differentiate R numerically-exactly via the chain rule
    e_y = np.array([0.0, 1.0, 0.0])
    e_x = np.array([1.0, 0.0, 0.0])
    # angular velocity (world) = dθa·e_y + Ry(θa)·(-dθm·e_x)
    omega_w = dth_a[:, None] * e_y + np.einsum("nij,j->ni", ry(th_a), e_x) * (-dth_m[:, None])
    omega_b = np.einsum("nji,nj->ni", r, omega_w)
    # position of the sensor and its second derivative by analytic differences of the closed form
    up = np.einsum("nij,j->ni", r, np.array([0.0, 0.0, h_sensor]))
    # p(t) closed form: Ry(a) Rx(-m) (0,0,h) = h (sin a cos m, sin m, cos a cos m)
    a, m = th_a, th_m
    px = h_sensor * np.sin(a) * np.cos(m)
    py = h_sensor * np.sin(m)
    pz = h_sensor * np.cos(a) * np.cos(m)
    assert np.allclose(up, np.column_stack([px, py, pz]))
    # second derivatives of the closed form
    ddpx = h_sensor * (
        (-np.sin(a) * dth_a**2 + np.cos(a) * ddth_a) * np.cos(m)
        - 2 * np.cos(a) * dth_a * np.sin(m) * dth_m
        + np.sin(a) * (-np.cos(m) * dth_m**2 - np.sin(m) * ddth_m)
    )
    ddpy = h_sensor * (-np.sin(m) * dth_m**2 + np.cos(m) * ddth_m)
    ddpz = h_sensor * (
        (-np.cos(a) * dth_a**2 - np.sin(a) * ddth_a) * np.cos(m)
        + 2 * np.sin(a) * dth_a * np.sin(m) * dth_m
        + np.cos(a) * (-np.cos(m) * dth_m**2 - np.sin(m) * ddth_m)
    )
    f_world = np.column_stack([ddpx, ddpy, ddpz + G])
    f_body = np.einsum("nji,nj->ni", r, f_world)
    return Trial(t, f_body, omega_b, fs, "pend"), th_a, th_m


def test_pendulum_trial_generator_is_self_consistent():
    # AP only: the gyro reads dθ/dt about +y, and the specific force is R^T(p'' + g e_z) with
    # p = h(sin θ, 0, cos θ): body x = h θ'' - g sin θ, body z = -h θ'^2 + g cos θ
    h = 0.8
    trial, th_a, _ = pendulum_trial(duration_s=5.0, h_sensor=h, amp_ml=0.0)
    dth = np.gradient(th_a, 1 / FS)
    ddth = np.gradient(dth, 1 / FS)
    core = slice(2, -2)
    np.testing.assert_allclose(trial.gyr_rps[core, 1], dth[core], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(trial.gyr_rps[:, [0, 2]], 0.0, atol=1e-15)
    np.testing.assert_allclose(trial.acc_mps2[core, 0], h * ddth[core] - G * np.sin(th_a[core]), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(trial.acc_mps2[core, 2], -h * dth[core] ** 2 + G * np.cos(th_a[core]), rtol=1e-6)


@pytest.mark.parametrize("method", ["pendulum", "strapdown"])
def test_com_excursion_recovers_the_pendulum_com(method):
    h_com, h_sensor = 0.55, 0.8
    trial, th_a, th_m = pendulum_trial(duration_s=60.0, h_sensor=h_sensor)
    com = com_excursion(trial, method=method, com_height_m=h_com, sensor_height_m=h_sensor)
    true_ap = 1000 * h_com * (np.sin(th_a) - np.sin(th_a).mean())
    true_ml = 1000 * h_com * (np.sin(th_m) - np.sin(th_m).mean())
    # strapdown: integration starts from zero velocity and the 0.1 Hz high-passes need ~10 s
    # at each end to forget it (measured: 14 % error 5 s from the ends, 4 % at 10 s)
    core = slice(1000, -1000)
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    # pendulum: tilt error only; strapdown also integrates the gravity left by that tilt error
    tol = 0.05 if method == "pendulum" else 0.08
    assert rms(com.com_ap_mm[core]) == pytest.approx(rms(true_ap[core]), rel=tol)
    assert rms(com.com_ml_mm[core]) == pytest.approx(rms(true_ml[core]), rel=tol)
    err = rms(com.com_ap_mm[core] - true_ap[core] - np.mean(com.com_ap_mm[core] - true_ap[core]))
    assert err < 2 * tol * rms(true_ap[core])
    assert com.method == method and com.parameters["com_height_m"] == h_com


def test_com_excursion_from_arrays_and_bad_input():
    th = np.linspace(0, 0.02, 100)
    c = com_excursion(method="pendulum", com_height_m=0.5, tilt_ap_rad=th, tilt_ml_rad=-th)
    np.testing.assert_allclose(c.com_ap_mm, 500 * (np.sin(th) - np.sin(th).mean()))
    np.testing.assert_allclose(c.com_ml_mm, -c.com_ap_mm)
    with pytest.raises(ValueError, match="com_height_m"):
        com_excursion(method="pendulum", com_height_m=0.0, tilt_ap_rad=th, tilt_ml_rad=th)
    with pytest.raises(ValueError, match="needs tilt"):
        com_excursion(method="pendulum", com_height_m=0.5)
    with pytest.raises(ValueError, match="method"):
        com_excursion(method="magic", com_height_m=0.5)


def test_analyze_trial_summary_windows_parameters():
    h_com = 0.55
    trial, _, _ = pendulum_trial()
    events = pd.DataFrame(
        {
            "onset_s": [0.0, 10.0],
            "duration_s": [20.0, 4.0],
            "exercise": ["stand", "stand"],
            "repetition": [None, 1],
            "support": ["none", "none"],
            "source": ["manual", "manual"],
        }
    )
    res = analyse_trial(trial, events=events, window_s=2.0, com_height_m=h_com)
    for key in SUMMARY_KEYS:
        assert key in res.summary and math.isfinite(res.summary[key]), key
    floors = {floor_name(n): n for n in REGISTRY if has_noise_floor(n)}
    for key in res.summary:
        assert key in REGISTRY or key in floors or key in ("below_noise_floor", "metrics_absent", "com_model"), key
    assert res.summary["acc_rms_ap_floor_mps2"] > 0 and res.summary["com_rms_ap_floor_mm"] > 0
    true_rms_ap = 1000 * h_com * 0.01 / math.sqrt(2)
    assert res.summary["com_rms_ap_mm"] == pytest.approx(true_rms_ap, rel=0.05)
    assert res.summary["com_rms_ml_mm"] == pytest.approx(true_rms_ap / 2, rel=0.05)
    # the summary's F50 is the literature's static-tilt frame (issue 13 finding 8), acc_f50 the acc_frame's
    assert REGISTRY["f50_ap_hz"].frame.startswith("static_tilt")
    assert res.summary["f50_ap_hz"] != res.summary["acc_f50_ap_hz"]
    w = res.windows
    assert list(w.columns[:8]) == [
        "sensor_id",
        "start_s",
        "end_s",
        "exercise",
        "repetition",
        "support",
        "posture",
        "window_kind",
    ]
    sliding = w[w.window_kind == "sliding"]
    assert len(sliding) == 20 and (sliding.end_s - sliding.start_s).round(9).eq(2.0).all()
    assert sliding.exercise.iloc[0] == "stand" and sliding.exercise.iloc[-1] == ""  # "" = not in an exercise
    assert sliding.repetition.tolist()[5:7] == [1, 1]
    seg = w[w.window_kind == "segment"]
    assert seg.duration_s.tolist() == [20.0, 4.0]
    p = res.parameters
    assert p["dmi_sensors_version"] == __version__
    assert p["analysis"]["com_height_m"] == h_com and p["analysis"]["ellipse_method"] == "prediction_F"
    assert p["analysis"]["spectral"]["psd_method"] == "welch"
    with pytest.raises(ValueError, match="com_height_m"):
        analyse_trial(trial)


def test_static_tilt_keeps_the_gravity_term_and_gravity_removed_does_not():
    trial, _, _ = pendulum_trial(h_sensor=0.8, f_ap=0.3)
    grav = analyse_trial(trial, com_height_m=0.55)
    static = analyse_trial(trial, com_height_m=0.55, acc_frame="static_tilt")
    # body-x specific force ≈ h·θ'' - g·θ = -(h(2πf)² + g)·θ: at 0.3 Hz, 0.8 m the inertial part
    # is 2.84θ and the gravity part 9.81θ, adding up; gravity removal keeps only the first
    w2 = (2 * np.pi * 0.3) ** 2
    amp = 0.01
    assert grav.summary["acc_rms_ap_mps2"] == pytest.approx(0.8 * w2 * amp / math.sqrt(2), rel=0.05)
    assert static.summary["acc_rms_ap_mps2"] == pytest.approx((G + 0.8 * w2) * amp / math.sqrt(2), rel=0.05)


def test_analyze_cli_end_to_end(tmp_path, capsys):
    trial, _, _ = pendulum_trial(duration_s=30.0)
    path = write_trial_csv(trial, tmp_path / "trial.csv")
    out = tmp_path / "out" / "res.json"
    code = main(
        [
            "analyze",
            str(path),
            "--com-height-m",
            "0.55",
            "--window-s",
            "5",
            "--perturbation-at-s",
            "12",
            "--perturbation-at-s",
            "20",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "com_rms_ap_mm" in printed and "time_to_stabilise_s" in printed
    data = json.loads(out.read_text())
    assert data["dmi_sensors_version"] == __version__
    assert set(SUMMARY_KEYS) <= set(data["summary"])
    assert isinstance(data["summary"]["time_to_stabilise_s"], list) and len(data["summary"]["time_to_stabilise_s"]) == 2
    assert len(data["windows"]) == 6
    w0 = data["windows"][0]
    assert w0["start_s"] == 0.0 and w0["end_s"] == pytest.approx(5.0) and "exercise" in w0["tags"]
    assert "com_rms_ap_mm" in w0["metrics"]
    assert data["parameters"]["analysis"]["window_s"] == 5.0
    assert {s["method"] for s in data["stabilisation"]} == {"moving_rms", "colby", "polynomial", "exponential"}


def test_analyze_cli_bad_file_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rps,gyr_y_rps,gyr_z_rps\n"
        "0.00,0,0,9.8,0,0,0\n0.01,0,zz,9.8,0,0,0\n0.02,0,0,9.8,0,0,0\n"
    )
    assert main(["analyze", str(bad), "--com-height-m", "0.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "bad.csv" in err[0] and "line 3" in err[0] and "acc_y_mps2" in err[0]


def test_analysis_params_validation():
    with pytest.raises(ValueError, match="com_method"):
        TrialAnalysisParams(com_height_m=0.5, com_method="magic")
    with pytest.raises(ValueError, match="acc_frame"):
        TrialAnalysisParams(com_height_m=0.5, acc_frame="x")


def test_gyro_bias_still_uses_the_calibration_estimate_and_says_when_there_is_none():
    """``gyro_bias="still"`` is :func:`dmi_sensors.calibration.gyro_bias_from_still` ((acc, gyr)
    order): 8 s of a sensor lying still, then sway, all with a gyro bias of (0.02, -0.015, 0.01)
    rad/s: the bias found is the true one; a trial that is never still removes none and says so."""
    from dmi_sensors.calibration import gyro_bias_from_still

    bias = np.array([0.02, -0.015, 0.01])
    sway, _, _ = pendulum_trial(duration_s=30.0, amp_ap=0.03, f_ap=1.0, amp_ml=0.02, f_ml=0.7)
    rng = np.random.default_rng(2)
    n_still = 800
    acc = np.vstack([np.tile([0.0, 0.0, G], (n_still, 1)), sway.acc_mps2]) + 0.01 * rng.standard_normal(
        (n_still + len(sway), 3)
    )
    gyr = (
        np.vstack([np.zeros((n_still, 3)), sway.gyr_rps]) + bias + 0.002 * rng.standard_normal((n_still + len(sway), 3))
    )
    trial = Trial(np.arange(len(acc)) / FS, acc, gyr, FS, "still")
    res = analyse_trial(trial, com_height_m=0.55, gyro_bias="still")
    orientation = res.parameters["signals"]["orientation"]
    expected = gyro_bias_from_still(trial.acc_mps2, trial.gyr_rps, FS).bias_rps
    np.testing.assert_array_equal(orientation["gyro_bias_rps"], expected)
    np.testing.assert_allclose(expected, bias, atol=5e-4)
    assert orientation["gyro_bias_source"] == "still" and res.warnings == []

    moving = analyse_trial(sway, com_height_m=0.55, gyro_bias="still")
    assert moving.parameters["signals"]["orientation"]["gyro_bias_rps"] == [0.0, 0.0, 0.0]
    assert len(moving.warnings) == 1 and moving.warnings[0].startswith("gyro bias not removed: none (still: gyro bias")


def test_summary_f50_is_in_the_literature_static_tilt_frame():
    """Issue 13 finding 8: the summary's F50 was the gravity-free acceleration's (1.3-1.8 Hz on
    quiet stance), not comparable with ISway/APDM values, which use the static-tilt frame. For a
    pendulum the two frames weight a tilt tone at ω by h·ω² (gravity-free) and g + h·ω² (static
    tilt). Two tones, 0.3 Hz and 1.5 Hz at 1/8 of the amplitude: gravity-free the 1.5 Hz tone
    carries more power (F50 there), static tilt the 0.3 Hz one (F50 there). The summary's
    ``f50_ap_hz`` is the static-tilt value whatever ``acc_frame``; ``acc_f50_ap_hz`` follows
    ``acc_frame``; the registry says which frame each uses."""
    slow, _, _ = pendulum_trial(h_sensor=0.9, amp_ap=0.01, f_ap=0.3, amp_ml=0.0)
    fast, _, _ = pendulum_trial(h_sensor=0.9, amp_ap=0.01 / 8, f_ap=1.5, amp_ml=0.0)
    both = Trial(slow.time_s, slow.acc_mps2 + fast.acc_mps2 - [0.0, 0.0, G], slow.gyr_rps + fast.gyr_rps, FS, "two")
    res = analyse_trial(both, com_height_m=0.55, acc_noise_rms_mps2=0.0, gyr_noise_rms_rps=0.0)
    assert res.summary["acc_f50_ap_hz"] == pytest.approx(1.5, abs=0.1)
    assert res.summary["f50_ap_hz"] == pytest.approx(0.3, abs=0.1)
    lit = analyse_trial(both, com_height_m=0.55, acc_frame="static_tilt", acc_noise_rms_mps2=0.0, gyr_noise_rms_rps=0.0)
    assert lit.summary["acc_f50_ap_hz"] == pytest.approx(res.summary["f50_ap_hz"], abs=1e-9)
    assert lit.summary["f50_ap_hz"] == pytest.approx(res.summary["f50_ap_hz"], abs=1e-9)
    assert "static_tilt" in REGISTRY["f50_ap_hz"].frame and "acc_frame" in REGISTRY["acc_f50_ap_hz"].frame
    sliding = res.windows[res.windows.window_kind == "sliding"]
    assert np.all(np.isfinite(sliding["f50_ap_hz"]))
