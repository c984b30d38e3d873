"""The session analysis pipeline's edges: counter restarts, malformed packets, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from dmi_sensors.analysis import analyse_session, prepare_sensor, save_calibration_file
from dmi_sensors.timing import clock_runs
from dmi_sensors.types import RawPacket

pytest.importorskip("dmi_sensors.metrics", reason="needs the metrics layer")
pytest.importorskip("dmi_sensors.dsp", reason="needs the dsp layer")
store_mod = pytest.importorskip("dmi_sensors.store", reason="needs the store layer")
session_mod = pytest.importorskip("dmi_sensors.session", reason="needs the session layer")


def _packets(sim, first_counter, host_start_s, fs_hz=100.0, spp=10):
    from dmi_sensors import protocol

    acc = np.rint(sim.acc_mps2 / protocol.acc_scale_mps2(8)).astype(np.int16)
    gyr = np.rint(sim.gyr_rps / protocol.gyr_scale_rps(1000)).astype(np.int16)
    data = protocol.packetize(acc, gyr, first_counter, 123_000, fs_hz, 8, 1000, spp)
    return [RawPacket("S1", host_start_s + (k + 1) * spp / fs_hz + 0.01, d) for k, d in enumerate(data)]


def test_restart_and_malformed_packets_are_handled():
    """A streaming restart (counter back to 0 after a 3 s pause) is a new clock run; garbage is counted."""
    from dmi_sensors.sim import Segment, simulate

    sim = simulate([Segment("standing", 10.0)], fs_hz=100.0, seed=4, com_height_m=0.5)
    first = _packets(sim, 5000, 0.0)
    second = _packets(sim, 0, 13.0)
    garbage = [RawPacket("S1", 10.5, b"\x01\x02"), RawPacket("S1", 10.6, bytes(300))]
    sig = prepare_sensor([*first, *garbage, *second], "S1", "trunk", min_piece_s=2.0)
    assert sig.link["malformed_packets"] == 2
    assert sig.link["counter_resets"] == 1
    assert sig.link["samples_received"] == 2000
    assert sig.link["samples_lost"] == 0
    assert len(sig.clock) == 2
    assert len(sig.pieces) == 2
    # the second run's samples are timed from their own arrivals: it starts 13 s into the session
    t_second = sig.time_s[sig.pieces[1]]
    assert t_second[0] == pytest.approx(13.0, abs=0.02)
    assert t_second[-1] - t_second[0] == pytest.approx(9.99, abs=0.02)
    # nothing interpolated across the pause
    assert not sig.valid[(sig.time_s > 10.1) & (sig.time_s < 12.9)].any()


def test_clock_runs_split_only_at_restarts():
    from dmi_sensors.types import SampleBatch

    n = 300
    counter = np.concatenate([np.arange(100), 100 + np.arange(100), 250 + np.arange(100)])
    host = np.concatenate([np.arange(100) / 100, 5.0 + np.arange(100) / 100, 5.0 + (150 + np.arange(100)) / 100])
    gap = np.zeros(n, dtype=bool)
    gap[[100, 200]] = True
    batch = SampleBatch("S", 100.0, counter, host, host, np.zeros((n, 3)), np.zeros((n, 3)), gap)
    runs = clock_runs(batch)
    # at 100 the counter continues but 4 s passed (a restart); at 200, 50 samples lost in 0.5 s (a loss)
    assert runs == [slice(0, 100), slice(100, 300)]


def test_alignment_calibration_from_the_store_is_applied(tmp_path):
    """A sensor mounted turned by 90° about the vertical: with its alignment calibration the
    analysis matches an unrotated sensor; without it AP and ML are swapped."""
    from dmi_sensors.calibration import AlignmentCalibration, write_calibration
    from dmi_sensors.demo.run import DEMO_SUBJECT
    from dmi_sensors.sim import ImuErrors
    from dmi_sensors.sim.session import SimulatedSensor, record_simulated_session

    ex = session_mod.CATALOGUE["stand_box_ankles"]
    import dataclasses

    plan = session_mod.Plan("one", [dataclasses.replace(ex, target_repetitions=2, hold_s=8.0)])
    subject = session_mod.Subject(**DEMO_SUBJECT)
    mount = (0.0, 0.0, 90.0)
    results = {}
    with store_mod.SessionStore(tmp_path / "c.sqlite") as st:
        for name, euler in (("straight", (0.0, 0.0, 0.0)), ("turned", mount), ("turned_calibrated", mount)):
            sensor = SimulatedSensor(0x0C, "trunk", 0.56, mounting_euler_deg=euler)
            sid, sim = record_simulated_session(
                st, subject, plan, seed=9, start_utc="2026-01-01T10:00:00Z", sensors=[sensor]
            )
            if name == "turned_calibrated":
                sensor_id = next(iter(sim.sensors))
                r_m = ImuErrors(mounting_euler_deg=mount).mounting_matrix
                cal = AlignmentCalibration(sensor_id, rotation_sensor_to_body=r_m, method="test")
                path = write_calibration(cal, tmp_path / "align.json")
                save_calibration_file(st, path, session_id=sid)
            results[name] = analyse_session(st, sid)
    straight, turned, fixed = (results[k].exercises.iloc[0] for k in ("straight", "turned", "turned_calibrated"))
    assert results["turned_calibrated"].parameters["frames"] == {next(iter(results["turned"].sensors)): "body"}
    assert fixed["com_rms_ap_mm"] == pytest.approx(straight["com_rms_ap_mm"], rel=0.05)
    assert fixed["com_rms_ml_mm"] == pytest.approx(straight["com_rms_ml_mm"], rel=0.05)
    # uncalibrated: the sensor's x axis points to the child's left, so AP and ML trade places
    assert turned["com_rms_ap_mm"] == pytest.approx(straight["com_rms_ml_mm"], rel=0.1)
    assert turned["com_rms_ml_mm"] == pytest.approx(straight["com_rms_ap_mm"], rel=0.1)


def test_tagged_events_without_data_are_reported_and_postures_tagged_by_majority(tmp_path):
    """Exercises tagged after the recording's end are listed in ``warnings`` (not silently
    dropped); each exercise's detected posture is THE window tagging's majority label."""
    import dataclasses

    from dmi_sensors.demo.run import DEMO_SUBJECT
    from dmi_sensors.session import EventRecord, events_frame
    from dmi_sensors.sim.session import record_simulated_session

    ex = session_mod.CATALOGUE["stand_box_ankles"]
    plan = session_mod.Plan("one", [dataclasses.replace(ex, target_repetitions=2, hold_s=8.0)])
    with store_mod.SessionStore(tmp_path / "w.sqlite") as st:
        sid, sim = record_simulated_session(
            st, session_mod.Subject(**DEMO_SUBJECT), plan, seed=3, start_utc="2026-01-01T10:00:00Z"
        )
        end_s = float(sum(s.duration_s for s in sim.segments))
        late = [
            EventRecord(end_s + 5.0, 10.0, exercise="sit_box_hips", support="hips", kind="exercise"),
            EventRecord(end_s + 5.0, 10.0, exercise="sit_box_hips", repetition=1, support="hips", kind="repetition"),
        ]
        st.add_events(sid, events_frame(late))
        result = analyse_session(st, sid, save=False)
    assert len(result.warnings) == len(sim.sensors) * 2
    assert all(f"at {end_s + 5.0:.3f}-{end_s + 15.0:.3f} s has no analysed data" in w for w in result.warnings)
    assert result.parameters["warnings"] == result.warnings
    assert result.exercises.exercise.tolist() == ["stand_box_ankles"] * len(sim.sensors)  # the late one: no row
    assert set(result.exercises.posture_detected) == {"standing"}  # upright, refined by the plan
    assert set(result.repetitions.posture_detected) == {"standing"}
