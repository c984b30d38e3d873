"""Posture-aware metrics, trunk tilt measures and the continuous COM timeline (issue 13 finding 7).

A four-point exercise got a pendulum COM RMS of 72 mm ML and a 95 % ellipse of 2968 mm² in
the session report; standing exercises showed TTS "0.00 s"; the timeline's COM was re-centred
on each gap-free piece, so sitting sat at -150 mm and jumped to 0 mid-exercise at a gap.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dmi_sensors import contract
from dmi_sensors.analysis.session import com_timeline
from dmi_sensors.analysis.signals import SensorSignals
from dmi_sensors.analysis.trial import TrialAnalysisParams, analyse_trial, sway_signals
from dmi_sensors.metrics.registry import REGISTRY, absent_reason, valid_in
from dmi_sensors.metrics.tilt import tilt_measures
from dmi_sensors.sim import ImuErrors, Segment, simulate

FS = 100.0


def _session_like(seed=1):
    segs = [
        Segment("standing", 30.0, label="stand"),
        Segment("four_point", 30.0, repetitions=2, label="four_point_rocking"),
        Segment("sitting", 30.0, support="hips", label="sit"),
        Segment("supine", 20.0, label="supine"),
    ]
    return simulate(segs, fs_hz=FS, seed=seed, com_height_m=0.6, imu_errors=ImuErrors.typical())


def test_the_registry_declares_postures_and_says_why():
    assert set(REGISTRY["com_rms_ml_mm"].postures) == {"standing", "sitting"}
    assert set(REGISTRY["com_ellipse_area_mm2"].postures) == {"standing", "sitting"}
    assert set(REGISTRY["acc_rms_ap_mps2"].postures) == {"standing", "sitting"}
    assert set(REGISTRY["time_to_stabilise_s"].postures) == {"standing", "sitting"}
    for name in ("tilt_rms_ap_deg", "tilt_range_ml_deg", "tilt_mean_velocity_ap_deg_s", "duration_s"):
        assert set(REGISTRY[name].postures) == set(contract.POSTURES), name
    assert not valid_in("com_rms_ml_mm", "four_point")
    assert "no inverted-pendulum model" in absent_reason("com_rms_ml_mm", "four_point")
    assert absent_reason("tilt_rms_ap_deg", "four_point") is None
    for name, spec in REGISTRY.items():  # docs/metrics.md states each metric's postures, frame and floor
        assert spec.postures and spec.frame and spec.noise_floor, name


def test_four_point_and_lying_get_trunk_angles_not_a_pendulum_com():
    r = _session_like()
    res = analyse_trial(r.to_trial(), events=r.truth.events, com_height_m=0.6)
    w = res.windows
    seg = w[(w.window_kind == "segment") & (w.repetition == 0)].set_index("exercise")
    for exercise in ("four_point_rocking", "supine"):
        row = seg.loc[exercise]
        assert math.isnan(row["com_rms_ml_mm"]) and math.isnan(row["com_ellipse_area_mm2"])
        assert math.isnan(row["acc_rms_ap_mps2"]) and math.isnan(row["jerk_isway_m2_s5"])
        assert "not reported in" in row["metrics_absent"] and "no inverted-pendulum model" in row["metrics_absent"]
        assert row["tilt_rms_ap_deg"] > 0 and np.isfinite(row["tilt_mean_velocity_ml_deg_s"])
    for exercise in ("stand", "sit"):
        row = seg.loc[exercise]
        assert np.isfinite(row["com_rms_ml_mm"]) and row["metrics_absent"] == ""
    # the whole trial mixes postures with and without a pendulum: its COM summary is absent, with the reason
    assert res.summary["com_rms_ap_mm"] is None
    assert "four_point" in res.summary["metrics_absent"]["com_rms_ap_mm"]


def test_trunk_tilt_measures_analytic_and_against_the_simulated_truth():
    t = np.arange(0, 10, 1 / FS)
    th = np.radians(2.0) * np.sin(2 * np.pi * 0.5 * t)  # science notes §8.2 check values
    for base in (0.0, np.radians(80.0)):  # upright, and the trunk near horizontal (four-point)
        q = np.column_stack([np.cos((base + th) / 2), 0 * t, np.sin((base + th) / 2), 0 * t])
        m = {k: float(v[0]) for k, v in tilt_measures(q, FS).items()}
        assert m["tilt_rms_ap_deg"] == pytest.approx(math.sqrt(2), rel=1e-3)
        assert m["tilt_range_ap_deg"] == pytest.approx(4.0, rel=1e-3)
        assert m["tilt_mean_velocity_ap_deg_s"] == pytest.approx(4.0, rel=2e-3)
        assert m["tilt_rms_ml_deg"] == pytest.approx(0.0, abs=1e-9)
    # ML: a roll about the forward axis, + to the left
    q = np.column_stack([np.cos(-th / 2), np.sin(-th / 2), 0 * t, 0 * t])
    m = {k: float(v[0]) for k, v in tilt_measures(q, FS).items()}
    assert m["tilt_rms_ml_deg"] == pytest.approx(math.sqrt(2), rel=1e-3) and m["tilt_rms_ap_deg"] < 1e-9
    r = simulate([Segment("sitting", 60.0)], fs_hz=FS, seed=2, com_height_m=0.6, imu_errors=ImuErrors.typical())
    s = analyse_trial(r.to_trial(), com_height_m=0.6, posture="sitting").summary
    assert s["tilt_rms_ap_deg"] == pytest.approx(math.degrees(np.std(r.truth.tilt_ap_rad)), rel=0.15)
    assert s["tilt_rms_ml_deg"] == pytest.approx(math.degrees(np.std(r.truth.tilt_ml_rad)), rel=0.15)


def test_a_push_in_four_point_has_no_pendulum_tts():
    r = _session_like()
    res = analyse_trial(r.to_trial(), events=r.truth.events, com_height_m=0.6, perturbations_s=[45.0])
    assert res.summary["time_to_stabilise_s"] is None
    assert res.summary["time_to_stabilise_status"][0].startswith("not determined: not valid in four_point")


def _signals_with_a_gap(sim, gap_s: tuple[float, float]) -> SensorSignals:
    trial = sim.to_trial()
    t = trial.time_s
    valid = ~((t >= gap_s[0]) & (t < gap_s[1]))
    acc = trial.acc_mps2.copy()
    gyr = trial.gyr_rps.copy()
    acc[~valid] = np.nan
    gyr[~valid] = np.nan
    edges = np.flatnonzero(np.diff(np.concatenate([[0], valid.astype(int), [0]])))
    pieces = [slice(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return SensorSignals("S1", "trunk", FS, t, acc, gyr, valid, pieces, {}, frame="body")


def test_the_com_timeline_is_continuous_across_a_gap_inside_an_exercise():
    """Standing then sitting with a 2 s gap in the middle of sitting: the old timeline re-centred
    each gap-free piece (the first holds standing and half the sitting), so sitting jumped at the
    gap; now each exercise has one reference and the line only breaks."""
    r = simulate(
        [Segment("standing", 30.0, label="stand"), Segment("sitting", 40.0, label="sit")],
        fs_hz=FS,
        seed=3,
        com_height_m=0.6,
        imu_errors=ImuErrors.typical(),
    )
    events = r.truth.events
    signals = _signals_with_a_gap(r, (50.0, 52.0))
    params = TrialAnalysisParams(com_height_m=0.6)
    pieces = [sway_signals(signals.trial(p), params, events) for p in signals.pieces]
    ap, ml = com_timeline(signals, pieces, events)
    assert np.all(np.isnan(ml[(signals.time_s >= 50.0) & (signals.time_s < 52.0)]))
    t = signals.time_s
    before = (t >= 46.0) & (t < 50.0)
    after = (t >= 52.0) & (t < 56.0)
    sway = float(np.nanstd(ap[(t >= 35.0) & (t < 70.0)]))
    assert np.all(np.isnan(ap[(t >= 50.0) & (t < 52.0)]))  # the line breaks in the gap
    assert abs(np.nanmean(ap[after]) - np.nanmean(ap[before])) < 3 * sway
    # what each exercise is referred to: its own mean over both pieces
    sit = (t >= 30.0) & (t < 70.0)
    assert np.nanmean(ap[sit]) == pytest.approx(0.0, abs=1e-9)
    # the old per-piece re-centring jumped by the standing/sitting offset
    old = np.full(t.shape, np.nan)
    for sl, sig in zip(signals.pieces, pieces, strict=True):
        old[sl] = sig.com_ap_mm
    jump_old = abs(np.nanmean(old[after]) - np.nanmean(old[before]))
    assert jump_old > 5 * abs(np.nanmean(ap[after]) - np.nanmean(ap[before]))


def test_session_tables_show_only_valid_metrics_and_say_why(tmp_path):
    from dmi_sensors.analysis import analyse_session
    from dmi_sensors.demo.run import DEMO_SUBJECT, demo_plans
    from dmi_sensors.session import Subject
    from dmi_sensors.sim.session import record_simulated_session
    from dmi_sensors.store import SessionStore

    _, plan = demo_plans(quick=True)
    with SessionStore(tmp_path / "s.sqlite") as st:
        sid, _ = record_simulated_session(st, Subject(**DEMO_SUBJECT), plan, seed=3, start_utc="2026-01-01T10:00:00Z")
        analysis = analyse_session(st, sid, save=False)
    ex = analysis.exercises
    lying = ex[ex[contract.POSTURE_PLANNED].isin(["four_point", "prone", "supine", "side_lying"])]
    upright = ex[ex[contract.POSTURE_PLANNED].isin(["standing", "sitting"])]
    assert len(lying) and len(upright)
    assert lying["com_rms_ml_mm"].isna().all() and lying["com_ellipse_area_mm2"].isna().all()
    assert lying["acc_rms_ap_mps2"].isna().all()
    assert lying["metrics_absent"].str.contains("not reported in").all()
    assert lying["tilt_rms_ap_deg"].notna().all()
    assert upright["com_rms_ml_mm"].notna().all() and (upright["metrics_absent"] == "").all()
    reps = analysis.repetitions
    tts = pd.to_numeric(reps[contract.TIME_TO_STABILISE_S], errors="coerce")
    assert not (tts == 0.0).any()  # never "stable at once"
    not_valid = reps[reps[contract.POSTURE_PLANNED].isin(["four_point", "prone", "supine", "side_lying"])]
    assert not_valid[contract.TTS_STATUS].str.startswith("not determined").all()
