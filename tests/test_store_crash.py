"""Crash safety: a recorder subprocess (virtual sensors from dmi_sensors.sim) killed with SIGKILL mid-session.

The recorder reports every append and every commit on stdout. After the kill: every packet
it reported committed is in the database (byte for byte, in order), only packets appended
in the last ``max_latency_s`` (+ scheduling slack) are missing, ``PRAGMA integrity_check``
passes, the session is ``incomplete``, its packets decode without loss, it analyses
(metrics on the trunk sensor, stored as results) and it finalises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import dmi_sensors
from dmi_sensors import protocol
from dmi_sensors.analysis.trial import analyse_trial
from dmi_sensors.store import SessionStore
from dmi_sensors.store.samples import session_trial

MAX_LATENCY_S = 0.5
#: Extra time allowed on a loaded CI machine for the writer thread to be scheduled and commit.
SLACK_S = 0.3
ARGS = {"sensors": 2, "fs_hz": 100, "duration_s": 60.0, "samples_per_packet": 5, "seed": 3}


def _run_and_kill(db: Path, kill_after_commits: int, appends_after: int) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(Path(dmi_sensors.__file__).parents[1]))
    cmd = [sys.executable, "-m", "dmi_sensors.sim.recorder", "--db", str(db)]
    for key, value in ARGS.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    events = []
    commits = 0
    try:
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "commit":
                commits += 1
                if commits >= kill_after_commits:
                    break
        else:
            pytest.fail(f"recorder ended early: {proc.stderr.read()}")
        # let it append a little more (about 0.4 s of packets) so that some are pending when it dies
        extra = 0
        for line in proc.stdout:
            events.append(json.loads(line))
            extra += events[-1]["event"] == "append"
            if extra >= appends_after:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # lines the recorder wrote before dying are still in the pipe
    events += [json.loads(line) for line in proc.stdout.read().splitlines() if line.strip()]
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return events


def test_sigkill_mid_session_loses_at_most_the_last_half_second(tmp_path):
    db = tmp_path / "crash.sqlite"
    events = _run_and_kill(db, kill_after_commits=3, appends_after=15)
    session_id = events[0]["session_id"]
    appends = [e for e in events if e["event"] == "append"]
    committed = max(e["committed"] for e in events if e["event"] == "commit")
    assert not any(e["event"] == "done" for e in events)
    assert (tmp_path / "crash.sqlite-wal").exists()  # the process died with the database open

    with SessionStore(db) as store:
        assert store.integrity_check() == ["ok"]
        info = store.session_info(session_id)
        assert info.status == "incomplete"
        stored = store.raw_packets(session_id)

    # every reported commit is there, byte for byte and in arrival order
    assert committed <= len(stored) <= len(appends)
    assert [p.sensor_id for p in stored] == [a["sensor_id"] for a in appends[: len(stored)]]
    assert [zlib.crc32(p.data) for p in stored] == [a["crc32"] for a in appends[: len(stored)]]
    reported = [a["host_time_s"] for a in appends[: len(stored)]]
    assert [p.host_time_s for p in stored] == pytest.approx(reported, abs=1e-6)

    # what was lost arrived within the last max_latency_s (+ slack) before the kill
    lost = appends[len(stored) :]
    if lost:
        span_s = appends[-1]["host_time_s"] - lost[0]["host_time_s"]
        assert span_s <= MAX_LATENCY_S + SLACK_S, (len(lost), span_s)
    print(f"committed {committed}, stored {len(stored)}, appended {len(appends)}, lost {len(lost)}")

    # the incomplete session decodes without loss ...
    with SessionStore(db) as store:
        for sensor in info.sensors:
            decoded = protocol.decode_stream(store.raw_packets(session_id, sensor.sensor_id), sensor.sensor_id)
            assert decoded.malformed_packets == 0 and decoded.samples_lost == 0
            counters = decoded.batch.counter
            assert len(counters) == sensor.packets * ARGS["samples_per_packet"]
            np.testing.assert_array_equal(np.diff(counters), 1)  # across the 32-bit wrap too
            assert np.isclose(np.linalg.norm(np.median(decoded.batch.acc_mps2, axis=0)), 9.8, atol=0.3)  # sitting still
            assert store.packet_counters(session_id, sensor.sensor_id)[:3] == [0, 5, 10]
        # ... analyses (trunk sensor on the uniform grid -> metrics), stores the results ...
        trunk = next(s.sensor_id for s in info.sensors if s.placement == "trunk")
        trial, valid = session_trial(store, session_id, trunk)
        assert valid.all() and trial.duration_s > 1.5
        result = analyse_trial(trial, com_height_m=info.com_height_m, window_s=1.0)
        assert result.summary["duration_s"] == pytest.approx(trial.duration_s)
        assert 0 < result.summary["com_rms_mm"] < 50  # a child sitting quietly, held at the hips
        store.save_results(session_id, result.summary, result.parameters, result.windows, sensor_id=trunk)
        # ... and finalises
        store.finalise(session_id)
        assert store.session_info(session_id).status == "finalised"
        assert store.results(session_id)[0].summary["com_rms_mm"] == result.summary["com_rms_mm"]
        assert store.integrity_check() == ["ok"]
