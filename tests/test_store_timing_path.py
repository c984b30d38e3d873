"""One path from stored packets to timed samples: exports and analysis agree after a sensor restart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from timing_helpers import restarted_sensor

from dmi_sensors import protocol
from dmi_sensors.analysis import SessionAnalysisParams, analyse_session
from dmi_sensors.session import Subject
from dmi_sensors.store import SessionStore, session_samples, session_trial
from dmi_sensors.store.export import export_session
from dmi_sensors.timing import fit_clock

SENSOR = "DMI-0001"
RUN_S = 30.0
PAUSE_S = 0.4  # a quick restart: below the 1 s clock-jump threshold


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """A stored session whose sensor restarted streaming (counter back to 0) after 30 s."""
    from dmi_sensors.sim import Segment, simulate

    sim = simulate([Segment("standing", RUN_S)], fs_hz=100.0, seed=4, com_height_m=0.5)
    acc = np.rint(sim.acc_mps2 / protocol.acc_scale_mps2(16)).astype(np.int16)
    gyr = np.rint(sim.gyr_rps / protocol.gyr_scale_rps(2000)).astype(np.int16)
    packets, t_true = restarted_sensor(
        [(5000, 0.5, RUN_S), (0, 0.5 + RUN_S + PAUSE_S, RUN_S)], sensor_id=SENSOR, seed=3, values=(acc, gyr)
    )
    path = tmp_path_factory.mktemp("restart") / "s.sqlite"
    with SessionStore(path) as store:
        sid = store.create_session(Subject("P001", 2019, 0.5), None, {SENSOR: "trunk"}, "T1", "2026-01-02T03:04:05Z")
        store.add_packets(sid, packets)
        store.finalise(sid)
    return path, sid, t_true


def test_export_and_analysis_of_a_restarted_sensor_have_identical_sample_times(restarted, tmp_path):
    path, sid, t_true = restarted
    with SessionStore(path) as store:
        analysis = analyse_session(store, sid, SessionAnalysisParams(min_piece_s=2.0), save=False)
        exported = {}
        for fmt in ("csv", "parquet"):
            export_session(store, sid, tmp_path / fmt, fmt)
            read = pd.read_csv if fmt == "csv" else pd.read_parquet
            samples = read(tmp_path / fmt / f"samples.{fmt}")
            exported[fmt] = samples[samples["sensor_id"] == SENSOR]
        batch = session_samples(store, sid)[SENSOR]
    sig = analysis.sensors[SENSOR].signals
    assert sig.link["counter_resets"] == 1 and len(sig.clock) == 2
    n = int(RUN_S * 100)
    assert sig.sample_time_s.shape == (2 * n,)
    # the same numbers, bit for bit, in the analysis, the CSV and the Parquet export
    for fmt, table in exported.items():
        np.testing.assert_array_equal(table["time_s"].to_numpy(), sig.sample_time_s, err_msg=fmt)
        np.testing.assert_array_equal(table["counter"].to_numpy(), batch.counter, err_msg=fmt)
    np.testing.assert_array_equal(batch.time_s, sig.sample_time_s)
    # and they are right: each run on its own clock (within the latency model's offset floor)
    assert np.abs(sig.sample_time_s - t_true).max() < 0.02
    # one clock for the whole sensor (what the exports did before) is off by about the pause
    one = fit_clock(batch.counter, batch.host_time_s, batch.fs_hz).time_s(batch.counter)
    assert np.abs(one - t_true).max() > 0.2
    # the analysis grid: the second piece starts at the first grid point after the restart
    assert len(sig.pieces) == 2
    second = sig.time_s[sig.pieces[1]]
    assert second[0] == pytest.approx(np.ceil(sig.sample_time_s[n] * 100) / 100, abs=1e-9)
    assert not sig.valid[(sig.time_s > sig.sample_time_s[n - 1]) & (sig.time_s < sig.sample_time_s[n])].any()


def test_session_trial_is_the_analysis_grid(restarted):
    """The store's uniform view of a sensor and the (uncalibrated) analysis resample alike."""
    path, sid, _ = restarted
    with SessionStore(path) as store:
        trial, valid = session_trial(store, sid, SENSOR)
        analysis = analyse_session(
            store, sid, SessionAnalysisParams(min_piece_s=2.0, detect_postures=False), save=False
        )
    sig = analysis.sensors[SENSOR].signals
    assert sig.frame == "sensor" and sig.calibration is None
    np.testing.assert_array_equal(trial.time_s, sig.time_s)
    np.testing.assert_array_equal(valid, sig.valid)
    np.testing.assert_array_equal(trial.acc_mps2, sig.acc_mps2)
    np.testing.assert_array_equal(trial.gyr_rps, sig.gyr_rps)
