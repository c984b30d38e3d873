"""``dmi-sensors record --lsl-source``: real liblsl on loopback (tests/lsl_helpers.py).

The test owns the outlets and their timestamps; the recorder runs as a subprocess (the real
command). Everything waits for events (the recorder's ready line, samples committed in the
database), never for a fixed time; the waits have generous bounds only so a broken build
fails instead of hanging.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import lsl_helpers
import numpy as np
import pytest
from lsl_helpers import imu_outlet, imu_values, marker_outlet, pylsl

from dmi_sensors.cli import main
from dmi_sensors.store import SessionStore
from dmi_sensors.store.lsl_layout import marker_text
from dmi_sensors.store.samples import session_samples

FS = 100.0
BOUND_S = 60.0  # the longest any wait may take before the test fails


def _start(tmp_path, *sources: str) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "dmi_sensors", "record", "--subject-id", "C001", "--db", str(tmp_path / "s.sqlite")]
    for s in sources:
        args += ["--lsl-source", s]
    args += ["--duration-s", "120", "--json", str(tmp_path / "summary.json")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # blocks until the recorder has resolved and opened its inlets
    assert line.startswith("lsl: recording"), line + (proc.stderr.read() if proc.poll() is not None else "")
    return proc


def _wait(what, condition) -> None:
    end = time.monotonic() + BOUND_S
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"waited {BOUND_S:g} s for {what}")
        time.sleep(0.05)


def _stored(db, sensor_id: str) -> int:
    with SessionStore(db) as store:
        rows = store._query("SELECT coalesce(sum(n), 0) FROM sample_blocks WHERE sensor_id = ?", (sensor_id,))
        return int(rows[0][0])


def _events(db) -> int:
    with SessionStore(db) as store:
        return int(store._query("SELECT count(*) FROM events")[0][0])


def _push(outlet, values: np.ndarray, times: np.ndarray, chunk: int = 25) -> None:
    for lo in range(0, len(times), chunk):
        outlet.push_chunk(values[lo : lo + chunk].tolist(), times[lo : lo + chunk].tolist())


def test_an_lsl_outlet_is_recorded_with_exact_counts_times_and_markers(tmp_path):
    db = tmp_path / "s.sqlite"
    imu = imu_outlet("TestIMU", FS, serial="VEND-77")
    markers = marker_outlet("TestMarkers")
    proc = _start(tmp_path, "TestIMU=pelvis", "TestMarkers")
    try:
        assert imu.wait_for_consumers(BOUND_S) and markers.wait_for_consumers(BOUND_S)
        n = 1000
        values = imu_values(n, seed=3)
        t0 = pylsl.local_clock()
        times = t0 + np.arange(n) / FS
        _push(imu, values, times)
        exercise = {"kind": "repetition", "exercise": "stand_floor_none", "repetition": 1, "duration_s": 2.5,
                    "support": "hips", "source": "manual"}  # fmt: skip
        markers.push_sample([marker_text(exercise)], t0 + 1.25)
        markers.push_sample(["door opened"], t0 + 4.0)
        _wait("1000 samples committed", lambda: _stored(db, "VEND-77") == n)
        _wait("2 markers committed", lambda: _events(db) == 2)
    finally:
        del imu, markers  # the outlets go: the recorder ends (every IMU stream has ended)
        out, err = proc.communicate(timeout=BOUND_S)
    assert proc.returncode == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    row = summary["sensors"]["VEND-77"]
    assert (row["samples_expected"], row["samples_received"], row["samples_lost"]) == (n, n, 0)
    assert summary["stopped_by"] == "streams ended" and summary["events"] == 2
    with SessionStore(db) as store:
        info = store.session_info(summary["session_id"])
        assert info.status == "finalised" and info.origin == "import" and info.subject_id == "C001"
        assert [(s.sensor_id, s.placement, s.samples) for s in info.sensors] == [("VEND-77", "pelvis", n)]
        batch = session_samples(store, info.session_id)["VEND-77"]
        np.testing.assert_array_equal(batch.acc_mps2, values[:, :3])  # double64: every value as sent
        np.testing.assert_array_equal(batch.gyr_rps, values[:, 3:])
        np.testing.assert_array_equal(batch.counter, np.arange(n))
        assert not batch.gap_before.any()
        # session time 0 = the first sample; LSL's clock synchronisation on one machine: < 1 ms
        assert np.max(np.abs(batch.time_s - (times - t0))) < 1e-3
        ev = store.events(info.session_id).sort_values("onset_s").reset_index(drop=True)
        assert ev["onset_s"].tolist() == pytest.approx([1.25, 4.0], abs=1e-3)
        assert ev.loc[0, "kind"] == "repetition" and ev.loc[0, "exercise"] == "stand_floor_none"
        assert ev.loc[1, "kind"] == "note" and ev.loc[1, "note"] == "door opened"
        assert info.recording["source"] == "lsl" and info.recording["sensors"]["VEND-77"]["samples_lost"] == 0
    assert "VEND-77" in out and "exit status 0" in out


def test_a_stream_that_stops_and_a_gap_are_reported_as_loss(tmp_path):
    """Two IMU outlets of one type: A loses 10 samples in a gap, B stops half-way while A goes on."""
    db = tmp_path / "s.sqlite"
    a = imu_outlet("ImuA", FS, serial="A1")
    b = imu_outlet("ImuB", FS, serial="B1")
    proc = _start(tmp_path, "IMU")
    try:
        assert a.wait_for_consumers(BOUND_S) and b.wait_for_consumers(BOUND_S)
        n = 600
        t0 = pylsl.local_clock()
        times = t0 + np.arange(n) / FS
        keep = np.r_[0:100, 110:n]  # A: samples 100..109 never sent
        _push(a, imu_values(n, 1)[keep], times[keep])
        _push(b, imu_values(n, 2)[:300], times[:300])
        _wait("B's 300 samples committed", lambda: _stored(db, "B1") == 300)
        del b  # B's outlet goes; A still streams
        _wait("A's samples committed", lambda: _stored(db, "A1") == len(keep))
    finally:
        del a
        out, err = proc.communicate(timeout=BOUND_S)
    assert proc.returncode == 3, out + err
    summary = json.loads((tmp_path / "summary.json").read_text())
    ra, rb = summary["sensors"]["A1"], summary["sensors"]["B1"]
    assert (ra["samples_expected"], ra["samples_received"], ra["samples_lost"], ra["gaps"]) == (n, 590, 10, 1)
    assert (rb["samples_expected"], rb["samples_received"], rb["samples_lost"]) == (n, 300, 300)
    assert rb["samples_lost_after_stop"] == 300 and rb["state"] == "lost"
    assert "ImuB" in summary["streams_lost"]
    with SessionStore(db) as store:
        info = store.session_info(summary["session_id"])
        assert info.status == "incomplete"
        assert "'ImuB': 300 of 600 samples lost (300 after it stopped)" in info.incomplete_reason
        assert "'ImuA': 10 of 600 samples lost" in info.incomplete_reason
        batch = session_samples(store, info.session_id)["A1"]
        assert int(batch.gap_before.sum()) == 1 and batch.counter[100] == 110
    assert "300 of 600 samples lost" in err


def test_sources_that_are_missing_or_not_imu_streams_are_refused(tmp_path, capsys):
    db = str(tmp_path / "s.sqlite")
    base = ["record", "--subject-id", "C001", "--db", db, "--lsl-timeout-s", "0.5"]
    assert main([*base, "--lsl-source", "NoSuchStream"]) == 1
    assert "expected an LSL stream of that name or type on the network within 0.5 s, found none" in (
        capsys.readouterr().err
    )
    info = pylsl.StreamInfo("TestEEG", "EEG", 4, 250.0, pylsl.cf_float32, "eeg-source")
    eeg = pylsl.StreamOutlet(info)
    assert main([*base, "--lsl-source", "TestEEG"]) == 1
    err = capsys.readouterr().err
    assert "stream 'TestEEG' (type 'EEG') is neither an IMU stream nor a marker stream" in err
    assert main([*base, "--lsl-source", "TestIMU=elbow"]) == 1
    assert "expected a placement out of" in capsys.readouterr().err
    del eeg
    with SessionStore(db) as store:
        assert store.sessions() == []
    assert lsl_helpers.CONFIG  # the private loopback configuration is in force


def test_a_killed_lsl_recorder_leaves_a_readable_incomplete_session(tmp_path):
    """SIGKILL mid-recording: every committed block is there, as sent, and every command reads it."""
    db = tmp_path / "s.sqlite"
    imu = imu_outlet("KillIMU", FS, serial="K1")
    proc = _start(tmp_path, "KillIMU")
    try:
        assert imu.wait_for_consumers(BOUND_S)
        n = 3000
        values = imu_values(n, seed=5)
        times = pylsl.local_clock() + np.arange(n) / FS
        _push(imu, values, times)
        _wait("some samples committed", lambda: _stored(db, "K1") >= 500)
    finally:
        proc.kill()
        proc.communicate(timeout=BOUND_S)
        del imu
    with SessionStore(db) as store:
        assert store._query("PRAGMA integrity_check")[0][0] == "ok"
        (info,) = store.sessions()
        assert info.status == "incomplete"
        batch = session_samples(store, info.session_id)["K1"]
        k = len(batch)
        assert k >= 500
        np.testing.assert_array_equal(batch.counter, np.arange(k))  # a prefix of what was sent, nothing missing
        np.testing.assert_array_equal(batch.acc_mps2, values[:k, :3])
    assert main(["sessions", "show", str(info.session_id), "--db", str(db)]) == 0


def test_a_marker_that_reaches_the_recorder_before_any_imu_sample_does_not_set_time_zero(tmp_path):
    """The marker stream's sample is pulled and a commit falls due before the IMU's first
    sample has arrived (the order in which two inlets deliver is not the order of the
    timestamps): the marker waits, uncommitted, and session time 0 is still the earliest
    timestamp once an IMU sample is there, here the IMU's first sample, 1 s before the
    marker. Driven by what was pulled, not by time."""
    from dmi_sensors.live.lsl_inlet import LslRecorder, resolve_lsl_sources
    from dmi_sensors.session import Subject

    imu = imu_outlet("EarlyIMU", FS, serial="EARLY-1")
    markers = marker_outlet("EarlyMarkers")
    streams = resolve_lsl_sources([("EarlyIMU", "pelvis"), ("EarlyMarkers", "")], timeout_s=BOUND_S)
    store = SessionStore(tmp_path / "s.sqlite")
    sid = store.create_session(Subject("C001"), None, {"EARLY-1": "pelvis"}, origin="import")
    recorder = LslRecorder(store, sid, streams, commit_s=1e9)  # commits only when called here
    try:
        assert imu.wait_for_consumers(BOUND_S) and markers.wait_for_consumers(BOUND_S)
        t0 = pylsl.local_clock()
        markers.push_sample(["door opened"], t0 + 1.0)
        pulled = 0
        end = time.monotonic() + BOUND_S
        while pulled == 0 and time.monotonic() < end:
            pulled = recorder.poll(timeout_s=0.05)
        assert pulled == 1
        recorder.commit()  # the marker alone: nothing stored, time 0 not set
        assert recorder.t0 is None and recorder.events_stored == 0
        n = 300
        times = t0 + np.arange(n) / FS
        _push(imu, imu_values(n, seed=5), times)
        while pulled < 1 + n and time.monotonic() < end:
            pulled += recorder.poll(timeout_s=0.05)
        assert pulled == 1 + n
        recorder.commit()
        assert recorder.events_stored == 1
        recorder.drain(grace_s=0.0)
        batch = session_samples(store, sid)["EARLY-1"]
        assert np.max(np.abs(batch.time_s - (times - t0))) < 1e-3  # time 0: the IMU's first sample
        ev = store.events(sid)
        assert ev["onset_s"].tolist() == pytest.approx([1.0], abs=1e-3) and ev["note"].tolist() == ["door opened"]
    finally:
        recorder.close()
        store.close()
        del imu, markers
