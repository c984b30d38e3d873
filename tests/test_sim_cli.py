"""``dmi-sensors simulate`` writes a trial CSV the reader accepts and a ground-truth JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dmi_sensors import cli
from dmi_sensors.sim import ImuErrors, simulate
from dmi_sensors.sim.scenarios import SCENARIOS, scenario_segments
from dmi_sensors.store.trial_csv import read_trial_csv


def test_simulate_writes_a_readable_trial_and_truth(tmp_path, capsys):
    out = tmp_path / "trial.csv"
    argv = ["simulate", "--scenario", "perturbation", "--duration-s", "30", "--fs-hz", "50", "--seed", "3"]
    argv += ["--com-height-m", "0.6", "--perturbation-at-s", "12", "--perturbation-at-s", "22", "--out", str(out)]
    assert cli.main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    trial = read_trial_csv(out)
    assert len(trial) == 1500 and trial.fs_hz == pytest.approx(50.0)
    truth = json.loads((tmp_path / "trial.truth.json").read_text())
    assert truth["perturbation_times_s"] == [12.0, 22.0]
    assert all(0.2 < t < 5.0 for t in truth["tts_true_s"])
    assert truth["com_height_m"] == 0.6 and truth["seed"] == 3 and truth["fs_hz"] == 50.0
    assert {e["kind"] for e in truth["events"]} == {"exercise", "perturbation"}
    # the CSV is the simulation's body-aligned trial
    again = simulate(scenario_segments("perturbation", 30.0, [12.0, 22.0]), fs_hz=50, seed=3, com_height_m=0.6)
    np.testing.assert_allclose(trial.acc_mps2, again.to_trial().acc_mps2, rtol=0, atol=1e-12)


def test_typical_errors_trial_is_body_aligned(tmp_path):
    out = tmp_path / "t.csv"
    truth = tmp_path / "truth" / "t.json"
    argv = ["simulate", "--scenario", "quiet-stance", "--duration-s", "10", "--errors", "typical"]
    assert cli.main([*argv, "--out", str(out), "--truth", str(truth)]) == 0
    trial = read_trial_csv(out)
    # mounting rotation removed: gravity on +z; the 0.12 m/s^2 z bias and scale errors remain
    mean = trial.acc_mps2.mean(axis=0)
    assert abs(mean[2] - 9.81) < 0.3 and np.all(np.abs(mean[:2]) < 0.3)
    doc = json.loads(truth.read_text())
    assert doc["imu_errors"]["clock_drift_ppm"] == ImuErrors.typical().clock_drift_ppm


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_builds(name):
    segs = scenario_segments(name, duration_s=40.0)
    assert sum(s.duration_s for s in segs) == pytest.approx(40.0)


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    argv = ["simulate", "--scenario", "sitting", "--perturbation-at-s", "3", "--out", str(tmp_path / "x.csv")]
    assert cli.main(argv) == 1
    assert "standing only" in capsys.readouterr().err
