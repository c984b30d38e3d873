"""Cohort analysis on Dask (``dmi_sensors.batch``, ``dmi-sensors batch``).

Real parts only: sessions recorded by virtual sensors into a real SQLite store, trial CSVs
and a BIDS export written by the toolkit, a real ``distributed`` LocalCluster (two worker
processes) and, for ``--scheduler``, a scheduler and a worker started as separate processes
on the loopback interface. Interruptions are injected by count (after the n-th finished
session), never by time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_helpers import (
    add_session_without_com_height,
    bits,
    corrupt_trial,
    make_database,
    make_trial_folder,
)

from dmi_sensors import cli, contract
from dmi_sensors.analysis import analyse_session, analyse_trial
from dmi_sensors.analysis.batch import analyse_batch, discover, failures_path_for
from dmi_sensors.errors import ParameterError
from dmi_sensors.session.events import read_events_csv
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import export_session, import_path
from dmi_sensors.store.trial_csv import read_trial_csv

pytestmark = pytest.mark.slow

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two single-threaded worker processes, shared by this module's tests."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A database of three tagged sessions and a trial folder of four trials (two subjects)."""
    root = tmp_path_factory.mktemp("cohort")
    sessions = make_database(root / "study.sqlite", n_children=3)
    trials = make_trial_folder(root / "trials")
    return root, sessions, trials


def _serial_session_rows(db: Path, session_id: int) -> pd.DataFrame:
    """What the one-by-one session analysis gives: repetition rows, and exercises without repetitions."""
    with SessionStore(db, create=False) as store:
        analysis = analyse_session(store, session_id, save=False)
    ex = analysis.exercises
    lone = ex[ex[contract.REPETITIONS] == 0].assign(**{contract.REPETITION: 0}) if len(ex) else ex
    return pd.concat([analysis.repetitions, lone], ignore_index=True)


def _assert_same_numbers(batch_rows: pd.DataFrame, serial_rows: pd.DataFrame, key: list[str]) -> int:
    """Every column of ``serial_rows`` equals the batch's, floats bit for bit; returns the values compared."""
    assert len(batch_rows) == len(serial_rows)
    b = batch_rows.sort_values(key, kind="stable").reset_index(drop=True)
    s = serial_rows.sort_values(key, kind="stable").reset_index(drop=True)
    compared = 0
    for col in s.columns:
        if col in (contract.REPETITIONS, contract.HOLDS, contract.TTS_STABLE):
            continue
        assert col in b.columns, col
        values = s[col]
        if pd.api.types.is_numeric_dtype(values) or values.map(lambda v: v is None or isinstance(v, float)).all():
            np.testing.assert_array_equal(bits(b[col]), bits(values), err_msg=col)
        else:
            assert b[col].tolist() == values.fillna("").astype(str).tolist(), col
        compared += len(values)
    return compared


def test_dask_result_is_bit_identical_to_the_serial_analysis(cohort, client, tmp_path):
    root, sessions, trials = cohort
    out = tmp_path / "cohort.parquet"
    result = analyse_batch([root / "study.sqlite", root / "trials"], out, scheduler=client)
    assert result.complete and result.failed == 0 and result.analysed == 7 and result.resumed == 0
    written = pd.read_parquet(out)
    pd.testing.assert_frame_equal(written, result.table)
    assert list(written.columns[: len(contract.BATCH_KEY_COLUMNS)]) == list(contract.BATCH_KEY_COLUMNS)
    assert list(written.columns[-3:]) == list(contract.BATCH_PROVENANCE_COLUMNS)
    private = [out, *Path(f"{out}.parts").iterdir()]
    assert {oct(p.stat().st_mode & 0o777) for p in private} == {"0o600"}  # health data: owner only
    assert oct(Path(f"{out}.parts").stat().st_mode & 0o777) == "0o700"

    compared = 0
    for s in sessions:
        rows = written[(written[contract.INPUT] == "study.sqlite") & (written[contract.SESSION] == str(s.session_id))]
        assert set(rows[contract.SUBJECT_ID]) == {s.child.subject.subject_id}
        assert set(rows[contract.DIAGNOSIS_CATEGORY]) == {s.child.group}
        assert set(rows[contract.COM_HEIGHT_M]) == {s.child.subject.com_height_m}
        serial = _serial_session_rows(root / "study.sqlite", s.session_id)
        assert len(serial) == 4  # 2 exercises x 2 repetitions
        compared += _assert_same_numbers(rows, serial, [contract.SENSOR_ID, contract.ONSET_S])
        params = json.loads(rows[contract.PARAMETERS].iloc[0])
        assert params["analysis"]["com_height_m"] == s.child.subject.com_height_m
        assert params["session"]["window_s"] == 2.0

    # trial CSVs: the whole-trial summary (analyse_trial, as `dmi-sensors analyse` computes it)
    for spec in trials.to_dict("records"):
        rows = written[(written[contract.INPUT] == "trials") & (written[contract.TRIAL] == spec["file"])]
        trial = read_trial_csv(root / "trials" / spec["file"], sensor_id="trial")
        if spec["events"]:
            events = read_events_csv(root / "trials" / spec["events"])
            result_t = analyse_trial(trial, events, com_height_m=spec["com_height_m"])
            seg = result_t.windows[result_t.windows[contract.WINDOW_KIND] == "segment"]
            assert sorted(rows[contract.REPETITION]) == sorted(seg[contract.REPETITION]) == [1, 2]
            serial = seg.drop(columns=[contract.END_S, contract.WINDOW_KIND, contract.POSTURE, contract.PLACEMENT],
                              errors="ignore").rename(columns={contract.START_S: contract.ONSET_S})  # fmt: skip
            compared += _assert_same_numbers(rows, serial, [contract.ONSET_S])
            continue
        pushes = [float(spec["perturbation_at_s"])] if spec["perturbation_at_s"] != "" else []
        summary = analyse_trial(trial, com_height_m=spec["com_height_m"], perturbations_s=pushes).summary
        assert len(rows) == 1 and rows[contract.REPETITION].iloc[0] == spec["repetition"]
        assert rows["group"].iloc[0] == spec["group"]
        scalars = {k: v for k, v in summary.items() if isinstance(v, int | float) or v is None}
        assert "time_to_stabilise_s" in scalars if pushes else "com_rms_ap_mm" in scalars
        compared += _assert_same_numbers(rows[list(scalars)], pd.DataFrame([scalars]), list(scalars)[:1])
    assert compared > 500


def test_a_corrupt_file_is_reported_and_the_others_are_analysed(client, tmp_path):
    trials = tmp_path / "lab" / "trials"
    make_trial_folder(trials)
    corrupt_trial(trials / "t2.csv", line=50)
    db = tmp_path / "lab" / "clinic.sqlite"
    make_database(db, n_children=1, seed=9)
    add_session_without_com_height(db)
    garbage = tmp_path / "lab" / "broken.sqlite"
    garbage.write_bytes(b"this is not a database" * 50)
    out = tmp_path / "out" / "cohort.parquet"
    result = analyse_batch([trials, db, garbage], out, scheduler=client)

    assert result.complete and result.sessions == 6  # 4 trials + 2 sessions (the garbage file has none)
    failures = result.failures.set_index(contract.TRIAL, drop=False)
    assert len(failures) == 3
    bad_trial = failures.loc["t2.csv"]
    assert bad_trial[contract.STATUS] == "error"
    assert "trials/t2.csv" in bad_trial[contract.REASON] and "line 50" in bad_trial[contract.REASON]
    no_height = result.failures[result.failures[contract.SUBJECT_ID] == "C900"].iloc[0]
    assert no_height[contract.INPUT] == "clinic.sqlite" and "com_height_m" in no_height[contract.REASON]
    broken = result.failures[result.failures[contract.INPUT] == "broken.sqlite"].iloc[0]
    assert "SQLite" in broken[contract.REASON]
    # the others are all there
    assert set(result.table[contract.TRIAL]) == {"", "t1.csv", "t3.csv", "t4.csv"}
    assert set(result.table[contract.INPUT]) == {"trials", "clinic.sqlite"}
    # the failures table is written beside the results, with no absolute path anywhere
    written = pd.read_csv(failures_path_for(out), keep_default_na=False, dtype=str)
    assert written[contract.REASON].tolist() == result.failures[contract.REASON].tolist()
    everything = written.to_csv() + pd.read_parquet(out).to_csv()
    assert str(tmp_path) not in everything


def test_resume_after_interruption_does_not_redo_finished_sessions(cohort, client, tmp_path):
    root, _, _ = cohort
    inputs = [root / "study.sqlite", root / "trials"]
    out = tmp_path / "cohort.parquet"
    seen = []

    def interrupt_after_three(outcome):
        seen.append(outcome.job.key)
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of the run

    with pytest.raises(KeyboardInterrupt):
        analyse_batch(inputs, out, scheduler=client, on_outcome=interrupt_after_three)
    assert not out.exists()  # nothing joined from an unfinished run
    parts = sorted(Path(f"{out}.parts").glob("*.parquet"))
    assert len(parts) == 3
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts}
    manifest = Path(f"{out}.parts/manifest.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in manifest[1:]] == seen

    analysed = []
    result = analyse_batch(inputs, out, scheduler=client, on_outcome=lambda o: analysed.append(o.job.key))
    assert result.complete and result.resumed == 3 and result.analysed == 4
    assert not set(analysed) & set(seen) and len(analysed) == 4
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in Path(f"{out}.parts").glob("*.parquet")}
    assert {k: after[k] for k in before} == before  # the finished parts were not rewritten

    # the resumed table is the table of an uninterrupted run, bit for bit
    fresh = analyse_batch(inputs, tmp_path / "fresh.parquet", scheduler=client)
    pd.testing.assert_frame_equal(result.table, fresh.table)
    # a third call has nothing left to do
    again = analyse_batch(inputs, out, scheduler=client)
    assert again.analysed == 0 and again.resumed == 7


def test_a_changed_input_is_analysed_again_and_other_parameters_need_restart(client, tmp_path):
    from dmi_sensors.analysis import SessionAnalysisParams

    trials = tmp_path / "trials"
    make_trial_folder(trials)
    out = tmp_path / "t.parquet"
    assert analyse_batch([trials], out, scheduler=client).analysed == 4
    (trials / "t1.csv").write_text((trials / "t2.csv").read_text())  # another recording under t1's name
    analysed = []
    second = analyse_batch([trials], out, scheduler=client, on_outcome=lambda o: analysed.append(o.job.trial))
    assert analysed == ["t1.csv"] and second.resumed == 3
    t1, t2 = (second.table[second.table[contract.TRIAL] == f] for f in ("t1.csv", "t2.csv"))
    np.testing.assert_array_equal(bits(t1["com_rms_ap_mm"]), bits(t2["com_rms_ap_mm"]))

    with pytest.raises(ParameterError, match="--restart"):
        analyse_batch([trials], out, SessionAnalysisParams(window_s=3.0), scheduler=client)
    redo = analyse_batch([trials], out, SessionAnalysisParams(window_s=3.0), scheduler=client, restart=True)
    assert redo.analysed == 4 and redo.resumed == 0
    assert {json.loads(p)["analysis"]["window_s"] for p in redo.table[contract.PARAMETERS]} == {3.0}


def test_trial_list_needs_a_com_height_per_child(tmp_path):
    trials = tmp_path / "trials"
    make_trial_folder(trials, list_heights=False)  # A02 has no com_height_m in the list
    jobs, failures = discover([trials])
    assert {j.subject_id for j in jobs} == {"A01"}
    assert len(failures) == 2 and all("--com-height-m A02=M" in f[contract.REASON] for f in failures)
    assert all("line" in f[contract.REASON] for f in failures)
    jobs, failures = discover([trials], com_height_m={"A02": 0.45})
    assert len(jobs) == 4 and not failures
    assert {j.options["com_height_m"] for j in jobs if j.subject_id == "A02"} == {0.45}
    _, failures = discover([trials], com_height_m={"A01": 0.6})  # the list says 0.50
    assert len(failures) == 4 and "0.5 in the list but 0.6 given" in failures[0][contract.REASON]
    table = pd.read_csv(trials / "trials.csv", dtype=str, keep_default_na=False)
    table.loc[0, "subject_id"] = "Anna Schmidt"  # a name, not a pseudonymous id
    table.loc[1, "repetition"] = "two"
    table.to_csv(trials / "trials.csv", index=False)
    _, failures = discover([trials], com_height_m={"A02": 0.45})
    reasons = [f[contract.REASON] for f in failures]
    assert "line 2" in reasons[0] and "pseudonymous" in reasons[0]
    assert "line 3" in reasons[1] and "repetition" in reasons[1]


def test_bids_sessions_are_found_and_a_corrupt_one_is_reported(cohort, client, tmp_path):
    root, sessions, _ = cohort
    bids = tmp_path / "bids"
    with SessionStore(root / "study.sqlite", create=False) as store:
        for s in sessions[:2]:
            export_session(store, s.session_id, bids, "bids")
    jobs, failures = discover([bids])
    assert not failures
    assert sorted((j.subject_id, j.session) for j in jobs) == [("C001", "1"), ("C002", "1")]  # BIDS ses labels
    motion = next((bids / "sub-C002" / "ses-1" / "motion").glob("*_motion.tsv"))
    lines = motion.read_text().splitlines()
    lines[10] = "garbage\tcells"
    motion.write_text("\n".join(lines) + "\n")
    result = analyse_batch([bids], tmp_path / "b.parquet", scheduler=client)
    bad = result.failures[result.failures[contract.SUBJECT_ID] == "C002"].iloc[0]
    assert bad[contract.STATUS] == "error" and motion.name in bad[contract.REASON]
    assert str(tmp_path) not in bad[contract.REASON] and "bids/sub-C002" in bad[contract.REASON]


def test_bids_rows_equal_the_analysis_of_the_imported_session(cohort, client, tmp_path):
    root, sessions, _ = cohort
    bids = tmp_path / "bids"
    with SessionStore(root / "study.sqlite", create=False) as store:
        export_session(store, sessions[0].session_id, bids, "bids")
    result = analyse_batch([bids], tmp_path / "b.parquet", scheduler=client)
    with SessionStore(tmp_path / "import.sqlite") as store:
        sid = import_path(store, bids)
    serial = _serial_session_rows(tmp_path / "import.sqlite", sid)
    assert len(serial) > 0
    _assert_same_numbers(result.table, serial, [contract.SENSOR_ID, contract.ONSET_S])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``dmi-sensors batch ...`` as its own process (output not a terminal: no progress bar)."""
    env = {**os.environ, "PYTHONPATH": SRC, "DMI_SENSORS_PROGRESS": ""}
    return subprocess.run(
        [sys.executable, "-m", "dmi_sensors", "batch", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def _cli_here(capsys, monkeypatch, cwd: Path, *args: str) -> tuple[int, str]:
    """``dmi-sensors batch ...`` in this process (for runs on the module's cluster: no start-up per run)."""
    monkeypatch.chdir(cwd)
    code = cli.main(["batch", *args])
    out = capsys.readouterr()
    assert "%|" not in out.err  # no progress bar when the output is not a terminal
    return code, out.out


def test_cli_on_a_local_cluster_limit_and_resume(cohort, client, tmp_path, capsys, monkeypatch):
    root, _, _ = cohort
    first = _cli(str(root / "trials"), "--out", "r.parquet", "--workers", "1", "--limit", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 sessions (2 analysed now, 0 finished before), 1 workers (local cluster)" in first.stdout
    assert "partial: 2 sessions left" in first.stdout and not (tmp_path / "r.parquet").exists()
    assert "%|" not in first.stderr  # no progress bar when the output is not a terminal
    address = client.scheduler.address
    code, out = _cli_here(capsys, monkeypatch, tmp_path, str(root / "trials"), "--out", "r.parquet",
                          "--scheduler", address)  # fmt: skip
    assert code == 0
    assert f"4 sessions (2 analysed now, 2 finished before), 2 workers (scheduler {address})" in out
    assert "results: r.parquet (5 rows)" in out
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 5


def test_cli_reports_failures_with_exit_status_1(client, tmp_path, capsys, monkeypatch):
    make_trial_folder(tmp_path / "trials", list_heights=False)
    address = client.scheduler.address
    code, out = _cli_here(capsys, monkeypatch, tmp_path, "trials", "--out", "r.parquet", "--scheduler", address)
    assert code == 1
    assert "not analysed: 2 (table: r.failures.csv)" in out
    assert "trials: t3.csv (A02): error: trials: line 4: subject 'A02' has no com_height_m" in out
    code, out = _cli_here(capsys, monkeypatch, tmp_path, "trials", "--out", "r.parquet", "--scheduler", address,
                          "--com-height-m", "A02=0.45")  # fmt: skip
    assert code == 0, out
    assert "(2 analysed now, 2 finished before)" in out and not (tmp_path / "r.failures.csv").exists()
    with pytest.raises(SystemExit):
        cli.main(["batch", "trials", "--out", "r.parquet", "--com-height-m", "A02"])
    assert "expected SUBJECT=METRES (e.g. C01=0.52), got 'A02'" in capsys.readouterr().err


def test_cli_with_a_separately_started_scheduler_and_worker(cohort, client, tmp_path, capsys, monkeypatch):
    """``--scheduler ADDRESS``: a scheduler and a worker started as their own processes on loopback."""
    from distributed import Client

    root, _, _ = cohort
    env = {**os.environ, "PYTHONPATH": SRC}
    dask = Path(sys.executable).with_name("dask")
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = [str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    worker = [str(dask), "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--nworkers", "1"]
    worker += ["--no-dashboard", "--host", "127.0.0.1"]
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([*scheduler, "--scheduler-file", str(scheduler_file)], **quiet)]
    try:
        with Client(scheduler_file=str(scheduler_file), timeout="60s") as probe:  # waits for the file
            procs.append(subprocess.Popen(worker, **quiet))
            probe.wait_for_workers(1, timeout=120)
            address = probe.scheduler.address
        assert address.startswith("tcp://127.0.0.1:")
        code, out = _cli_here(capsys, monkeypatch, tmp_path, str(root / "study.sqlite"), "--out", "remote.parquet",
                              "--scheduler", address)  # fmt: skip
        assert code == 0, out
        assert f"3 sessions (3 analysed now, 0 finished before), 1 workers (scheduler {address})" in out
        local = analyse_batch([root / "study.sqlite"], tmp_path / "local.parquet", scheduler=client)
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "remote.parquet"), local.table)
        with pytest.raises(ParameterError, match="workers is for the local cluster"):
            analyse_batch([root / "study.sqlite"], tmp_path / "x.parquet", scheduler=address, workers=2)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def test_cli_draws_a_progress_bar_on_a_terminal(cohort, client, tmp_path):
    from test_progress_bar import run_on_terminal

    root, _, _ = cohort
    code, shown = run_on_terminal(
        ["batch", str(root / "trials"), "--out", "r.parquet", "--scheduler", client.scheduler.address], tmp_path
    )
    assert code == 0, shown
    assert "batch: 100%" in shown and "4/4 [" in shown and "session/s" in shown
