"""A session survives its whole life (issue 15): every finding driven through the command line.

Each test runs ``dmi-sensors`` as a therapist, researcher or analyst would (the CLI's
``main`` in this process, or a real process where a pipe or the environment matters) and
checks what the user sees (exit status, the one error line, the report) and what is stored.

1. imported sessions are analysed and reported from their samples, with the numbers of the
   recording they were exported from; a re-analysis never stores an empty run;
2. export -> import works with every optional subject field absent or present;
3. ``sessions edit`` sets the COM height later (history, no silent overwrite), ranges checked;
4. names are refused as ids everywhere;
8. without a Bluetooth stack: clear errors; addresses and placements checked first; closed pipes;
9. ``sessions import TRIAL.csv --events`` uses THE events validator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dmi_sensors import cli
from dmi_sensors.analysis.stored_run import latest_run
from dmi_sensors.errors import ParameterError
from dmi_sensors.report.parse import parse_report
from dmi_sensors.session import CATALOGUE, Plan, Subject
from dmi_sensors.store import SessionStore
from dmi_sensors.store.export import export_session, import_path
from dmi_sensors.store.export.ingest import ingest_session

SUBJECT = Subject("C001", 2020, 0.45)


def run_cli(*args: str) -> SimpleNamespace:
    """``dmi-sensors ARGS`` in this process: exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def small_plan() -> Plan:
    """Two catalogue exercises, 3 repetitions of 8 s each (about a minute of simulated session)."""
    ids = ("sit_table_trunk", "stand_box_knees")
    exercises = [dataclasses.replace(CATALOGUE[k], target_repetitions=3, hold_s=8.0) for k in ids]
    return Plan("Two exercises", exercises)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A recorded session (raw packets of two simulated sensors, tagged by the plan) with a
    therapist's note, as `dmi-sensors record --tag` leaves it, analysed by `dmi-sensors report`."""
    from dmi_sensors.session import EventRecord, events_frame
    from dmi_sensors.sim.session import record_simulated_session

    root = tmp_path_factory.mktemp("recorded")
    db = root / "sessions.sqlite"
    with SessionStore(db) as store:
        sid, _ = record_simulated_session(store, SUBJECT, small_plan(), seed=4, start_utc="2026-03-10T09:30:00Z")
        note = EventRecord(12.5, 0.0, source="manual", kind="note", note="cried briefly")
        store.add_events(sid, events_frame([note]))
    result = run_cli("report", sid, "--db", db, "--out", root / "reports")
    assert result.code == 0, result.err
    return SimpleNamespace(db=db, sid=sid, root=root)


def _exercise_tables(db: Path, session_id: int) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    with SessionStore(db) as store:
        run = latest_run(store, session_id)
    assert run is not None
    return run.exercises, {sid: rec.windows for sid, rec in run.sensors.items()}


# --- 1. imported sessions are analysed from their samples ------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "bids"])
def test_recorded_session_exported_and_reimported_analyses_to_the_same_numbers(recorded, tmp_path, fmt):
    db = tmp_path / "copy.sqlite"
    db.write_bytes(recorded.db.read_bytes())
    assert run_cli("export", recorded.sid, "--format", fmt, "--out", tmp_path / fmt, "--db", db).code == 0
    imported = run_cli("sessions", "import", tmp_path / fmt, "--db", db)
    assert imported.code == 0, imported.err
    assert "as session 2" in imported.out
    again = run_cli("report", 2, "--reanalyse", "--db", db, "--out", tmp_path / "reports")
    assert again.code == 0, again.err
    want_ex, want_windows = _exercise_tables(db, recorded.sid)
    got_ex, got_windows = _exercise_tables(db, 2)
    assert len(want_ex) == 4  # two exercises x two sensors
    exact = fmt != "bids"  # BIDS keeps sample times to one float rounding (docs/store.md)
    if exact:
        pd.testing.assert_frame_equal(got_ex, want_ex)
    else:
        pd.testing.assert_frame_equal(got_ex, want_ex, check_exact=False, rtol=1e-6, atol=1e-9)
    assert set(got_windows) == set(want_windows)
    for sensor_id, windows in want_windows.items():
        pd.testing.assert_frame_equal(got_windows[sensor_id], windows, check_exact=exact, rtol=1e-6, atol=1e-9)
    # the report of the imported session: the timeline, the tables, the link statistics from its samples
    report = parse_report(tmp_path / "reports" / "session-2.html")
    assert "timeline" in report.sections and report.images, report.sections
    assert "No analysable signal" not in (tmp_path / "reports" / "session-2.html").read_text()
    link = {row["sensor_id"][0]: row for row in report.tables["link-table"]}
    with SessionStore(db) as store:
        info = {s.sensor_id: s for s in store.session_info(recorded.sid).sensors}
    assert set(link) == set(info)
    for sensor_id, row in link.items():
        assert row["link_samples_received"][1] == info[sensor_id].samples > 0
        assert row["link_packets_ok"][1] is None  # an imported session has samples, not packets


def test_trial_csv_imported_with_events_is_analysed_and_reported(tmp_path):
    """Finding 1 (trial CSV: "Sensor None", "No analysable signal") and 9 (`--events`)."""
    trial, events = _simulated_trial(tmp_path)
    db = tmp_path / "t.sqlite"
    args = ["--subject-id", "C002", "--com-height-m", "0.5", "--events", events, "--start-utc", "2026-03-01T10:00:00Z"]
    imported = run_cli("sessions", "import", trial, *args, "--db", db)
    assert imported.code == 0, imported.err
    assert "1 sensor(s), 6000 samples" in imported.out
    report = run_cli("report", 1, "--db", db, "--out", tmp_path / "r")
    assert report.code == 0, report.err
    html = (tmp_path / "r" / "session-1.html").read_text()
    assert "Sensor None" not in html and "No analysable signal" not in html
    parsed = parse_report(tmp_path / "r" / "session-1.html")
    assert [r["exercise"][0] for r in parsed.tables["exercise-table"]] == [
        CATALOGUE["sit_table_trunk"].name,
        CATALOGUE["stand_box_knees"].name,
    ]
    (link,) = parsed.tables["link-table"]
    assert link["link_samples_received"][1] == 6000 and link["link_samples_lost"][1] == 0
    with SessionStore(db) as store:
        run = latest_run(store, 1)
        assert run is not None and run.parameters["frames"] == {"trial": "body"}  # a trial CSV is body-aligned


def _simulated_trial(tmp_path: Path) -> tuple[Path, Path]:
    """A 60-s simulated trial CSV (sitting, then supported standing) and its events CSV."""
    from dmi_sensors import write_trial_csv
    from dmi_sensors.sim import Segment, simulate

    sim = simulate(
        [Segment("sitting", 30.0, support="hips"), Segment("supported_standing", 30.0, support="knees")],
        fs_hz=100.0,
        seed=2,
        com_height_m=0.5,
    )
    trial = write_trial_csv(sim.to_trial(), tmp_path / "trial.csv")
    events = tmp_path / "events.csv"
    events.write_text(
        "onset_s,duration_s,exercise,repetition,support,source\n"
        "0,30,sit_table_trunk,0,trunk,manual\n"
        "0,10,sit_table_trunk,1,trunk,manual\n10,10,sit_table_trunk,2,trunk,manual\n"
        "30,30,stand_box_knees,0,knees,manual\n"
        "30,15,stand_box_knees,1,knees,manual\n45,15,stand_box_knees,2,knees,manual\n"
    )
    return Path(trial), events


def test_reanalysis_never_replaces_results_with_an_empty_run(recorded, tmp_path):
    """An imported session whose samples are too short to analyse keeps its stored results."""
    db = tmp_path / "copy.sqlite"
    db.write_bytes(recorded.db.read_bytes())
    with SessionStore(db) as store:
        tables = export_session(store, recorded.sid, tmp_path / "csv", "csv")
        assert tables
        samples = pd.read_csv(tmp_path / "csv" / "samples.csv")
        samples.groupby("sensor_id").head(200).to_csv(tmp_path / "csv" / "samples.csv", index=False)  # 2 s each
        sid = import_path(store, tmp_path / "csv")
        before = [r.result_id for r in store.results(sid)]
        run_before = latest_run(store, sid)
    assert run_before is not None and len(run_before.exercises)
    result = run_cli("report", sid, "--reanalyse", "--db", db, "--out", tmp_path / "r")
    assert result.code == 1
    assert "nothing to analyse" in result.err and "earlier results stay" in result.err
    assert len(result.err.strip().splitlines()) == 1
    with SessionStore(db) as store:
        assert [r.result_id for r in store.results(sid)] == before
        assert latest_run(store, sid).run_id == run_before.run_id


# --- 2. round trips with optional fields absent and present ---------------------------------


def _subjects():
    from datetime import UTC, datetime

    from dmi_sensors.session.model import BODY_HEIGHT_RANGE, COM_HEIGHT_RANGE

    @st.composite
    def build(draw):
        com = draw(st.none() | st.floats(COM_HEIGHT_RANGE.lo, 1.2))
        body = draw(st.none() | st.floats(max(1.25, BODY_HEIGHT_RANGE.lo), BODY_HEIGHT_RANGE.hi))
        return Subject(
            draw(st.from_regex(r"\A[A-Za-z]{0,6}[0-9]{1,4}\Z")),
            draw(st.none() | st.integers(1900, datetime.now(UTC).year)),
            com,
            draw(st.none() | st.sampled_from(["cerebral_palsy", "hypotonia", "other"])),
            body,
        )

    return build()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=_subjects(), therapist=st.sampled_from(["", "T07"]), with_events=st.booleans())
@example(subject=Subject("0", 2001), therapist="", with_events=False)  # found once: born in the corrected year
def test_every_format_round_trips_every_optional_subject_field(tmp_path_factory, subject, therapist, with_events):
    from store_helpers import example_events, synthetic_batch

    root = tmp_path_factory.mktemp("rt")
    with SessionStore(root / "s.sqlite") as store:
        sid = ingest_session(
            store,
            subject=subject,
            start_utc="2026-01-02T03:04:05Z",
            batches={"A": synthetic_batch("A", 120, 100.0, 0)},
            placements={"A": "trunk"},
            events=example_events() if with_events else None,
            therapist_id=therapist,
        )
        # a real correction (an edit to the value already stored changes nothing, records nothing)
        corrected = 2002 if subject.birth_year == 2001 else 2001
        store.edit_session(sid, {"birth_year": corrected}, replace=True, note="checked the records")
        want = store.session_info(sid)
        for fmt in ("csv", "parquet", "bids"):
            export_session(store, sid, root / fmt, fmt)
            got = store.session_info(import_path(store, root / fmt))
            for name in ("subject_id", "birth_year", "com_height_m", "diagnosis_category", "body_height_m"):
                assert getattr(got, name) == getattr(want, name), (fmt, name)
            assert got.events == want.events
            assert [s.samples for s in got.sensors] == [s.samples for s in want.sensors]
            if fmt != "bids":  # BIDS has no place for the therapist or the history of edits
                assert got.therapist_id == want.therapist_id
                assert [h.new_value for h in store.history(got.session_id)] == [corrected]


# --- 3. the COM height set later, ranges checked everywhere ---------------------------------


def test_com_height_set_after_recording_with_sessions_edit(recorded, tmp_path):
    db = tmp_path / "copy.sqlite"
    with SessionStore(db) as store, SessionStore(recorded.db) as source:
        info = source.session_info(recorded.sid)
        sid = store.create_session(Subject("C003"), info.plan_toml, {s.sensor_id: s.placement for s in info.sensors})
        store.add_packets(sid, source.raw_packets(recorded.sid))
        store.add_events(sid, source.events(recorded.sid))
        store.finalise(sid)
    report = run_cli("report", sid, "--db", db, "--out", tmp_path / "r")
    assert report.code == 1 and f"dmi-sensors sessions edit {sid} --com-height-m" in report.err
    bad = run_cli("sessions", "edit", sid, "--com-height-m", "-1", "--db", db)
    assert bad.code == 1
    assert bad.err.strip() == (
        "dmi-sensors sessions: error: --com-height-m: expected a centre-of-mass height above the pivot from 0.05 to "
        "1.5 m (a small child's sitting lever to a tall adult standing), found -1.0"
    )
    assert run_cli("sessions", "edit", sid, "--body-height-m", "9", "--db", db).err.count("0.4 to 2.5 m") == 1
    ok = run_cli("sessions", "edit", sid, "--com-height-m", "0.45", "--birth-year", "2020", "--db", db)
    assert ok.code == 0 and "com_height_m unknown -> 0.45 m" in ok.out
    refused = run_cli("sessions", "edit", sid, "--com-height-m", "0.5", "--db", db)
    assert refused.code == 1 and "--replace" in refused.err and "already has com_height_m = 0.45" in refused.err
    with SessionStore(db) as store:
        assert store.session_info(sid).com_height_m == 0.45  # nothing silently overwritten
    assert run_cli("report", sid, "--db", db, "--out", tmp_path / "r").code == 0
    first = _exercise_tables(db, sid)[0]
    edit = ["sessions", "edit", sid, "--com-height-m", "0.5", "--replace", "--note", "re-measured"]
    changed = run_cli(*edit, "--db", db)
    assert changed.code == 0 and "0.45 m -> 0.5 m" in changed.out
    again = run_cli("report", sid, "--db", db, "--out", tmp_path / "r")  # the stored run used 0.45 m
    assert again.code == 0 and "COM height" in again.out
    second = _exercise_tables(db, sid)[0]
    ratio = second["com_range_ap_mm"].to_numpy() / first["com_range_ap_mm"].to_numpy()
    with SessionStore(db) as store:
        run = latest_run(store, sid)
    assert run is not None
    models = {k: str(rec.summary.get("com_model", "")) for k, rec in run.sensors.items()}
    one = second["sensor_id"].map(models).str.startswith("single_segment").to_numpy()
    assert one.any() and not one.all()  # trunk + pelvis: the trunk's COM is the two-segment one
    np.testing.assert_allclose(ratio[one], 0.5 / 0.45, rtol=1e-9)  # the pendulum COM scales with its height
    # two segments: h·sin θ scales, the hip's own motion (pelvis translation) does not
    assert np.all((ratio[~one] > 1.0) & (ratio[~one] < 0.5 / 0.45 + 0.05)), ratio
    shown = run_cli("sessions", "show", sid, "--db", db)
    assert "com_height_m: unknown -> 0.45 m" in shown.out and "com_height_m: 0.45 m -> 0.5 m (re-measured)" in shown.out
    history = json.loads(run_cli("sessions", "show", sid, "--json", "--db", db).out)["history"]
    assert [(h["field"], h["old_value"], h["new_value"]) for h in history] == [
        ("com_height_m", None, 0.45),
        ("birth_year", None, 2020),
        ("com_height_m", 0.45, 0.5),
    ]
    with SessionStore(db) as store, pytest.raises(Exception, match="append-only"):
        store._conn.execute("DELETE FROM session_history")


def test_implausible_values_are_refused_where_they_enter(tmp_path):
    trial, _ = _simulated_trial(tmp_path)
    analyse = run_cli("analyze", trial, "--com-height-m", "5")
    assert analyse.code == 1 and "--com-height-m: expected a centre-of-mass height" in analyse.err
    assert "from 0.05 to 1.5 m" in analyse.err and "found 5.0" in analyse.err
    db = tmp_path / "never.sqlite"
    record = run_cli("record", "--simulate-sensors", "1", "--subject-id", "C001", "--com-height-m", "-1", "--db", db)
    assert record.code == 1 and "--com-height-m" in record.err and "found -1.0" in record.err
    assert not db.exists()  # refused before anything started
    imported = run_cli("sessions", "import", trial, "--subject-id", "C1", "--birth-year", "3024", "--db", db)
    assert imported.code == 1 and "--birth-year: expected a birth year from 1900 to" in imported.err
    with pytest.raises(ParameterError, match=r"from 0\.05 to 1\.5 m"):
        from dmi_sensors import analyse_trial, read_trial_csv

        analyse_trial(read_trial_csv(trial), com_height_m=5.0)


# --- 4. one pseudonymous-id rule everywhere --------------------------------------------------


def test_names_are_refused_as_ids_everywhere(tmp_path, recorded):
    db = tmp_path / "s.sqlite"
    for option, name in (("--subject-id", "Anna Schmidt"), ("--therapist-id", "Dr. Hans Meier")):
        args = {"--subject-id": "C001", option: name}
        result = run_cli("record", "--simulate-sensors", "1", *[x for kv in args.items() for x in kv], "--db", db)
        assert result.code == 1
        assert f"{option}: expected a pseudonymous code, never a name" in result.err
        assert "this looks like a name" in result.err and len(result.err.strip().splitlines()) == 1
    assert not db.exists()
    trial, _ = _simulated_trial(tmp_path)
    imported = run_cli("sessions", "import", trial, "--subject-id", "AnnaSchmidt", "--db", db)
    assert imported.code == 1 and "'AnnaSchmidt' (no digit: this looks like a name)" in imported.err
    # a BIDS dataset whose participant is a name
    with SessionStore(recorded.db) as store:
        export_session(store, recorded.sid, tmp_path / "bids", "bids")
    sub = tmp_path / "bids" / "sub-C001"
    for path in sorted(sub.rglob("*"), key=lambda p: -len(p.parts)):
        path.rename(path.with_name(path.name.replace("sub-C001", "sub-AnnaSchmidt")))
    sub.rename(tmp_path / "bids" / "sub-AnnaSchmidt")
    participants = tmp_path / "bids" / "participants.tsv"
    participants.write_text(participants.read_text().replace("sub-C001", "sub-AnnaSchmidt"))
    bids = run_cli("sessions", "import", tmp_path / "bids", "--db", db)
    assert bids.code == 1 and "'AnnaSchmidt' (no digit: this looks like a name)" in bids.err
    with SessionStore(db) as store:
        assert store.sessions() == []
        with pytest.raises(ParameterError, match="this looks like a name"):
            store.create_session(SimpleNamespace(subject_id="Anna Schmidt", birth_year=None, com_height_m=None,
                                                 diagnosis_category=None))  # fmt: skip
        with pytest.raises(ParameterError, match="therapist id"):
            store.create_session(Subject("C001"), therapist_id="HansMeier")
    with pytest.raises(ParameterError, match=r"Subject\.subject_id"):
        Subject("AnnaSchmidt")


# --- 8. without a Bluetooth stack; addresses; closed pipes ----------------------------------


def test_without_a_bluetooth_stack_scan_and_record_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    db = tmp_path / "s.sqlite"
    for args in (["scan", "--timeout-s", "1"], ["record", "--sensor", "AA:BB:CC:DD:EE:FF=trunk", "--subject-id", "C1"]):
        result = run_cli(*args, "--db", db) if args[0] == "record" else run_cli(*args)
        assert result.code == 1, result
        (line,) = result.err.strip().splitlines()
        assert "no system D-Bus" in line and str(tmp_path / "no-bus") in line
        assert "apt-get install dbus bluez" in line and "--simulate-sensors" in line
        assert "Errno" not in line
    assert not db.exists()
    bad = {
        "ZZ:00=trunk": "the address: expected a Bluetooth address (AA:BB:CC:DD:EE:FF)",
        "AA:BB:CC:DD:EE:FF": "expected ADDRESS=PLACEMENT",
        "AA:BB:CC:DD:EE:FF=elbow": "expected a placement out of trunk, pelvis",
    }
    for sensor, message in bad.items():
        result = run_cli("record", "--sensor", sensor, "--subject-id", "C1", "--db", db)
        assert result.code == 1 and message in result.err, (sensor, result.err)
    assert not db.exists()


def test_bluez_not_running_on_a_system_bus_is_named(monkeypatch):
    pytest.importorskip("dmi_sensors.sim.bluez")
    from dmi_sensors.sim.bluez.bus import PrivateBus

    try:
        bus = PrivateBus().start()
    except Exception as exc:  # no dbus-daemon here
        pytest.skip(f"no private dbus-daemon: {exc}")
    try:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        result = run_cli("scan", "--timeout-s", "1")
    finally:
        bus.stop()
    assert result.code == 1
    assert "BlueZ is not running" in result.err and "apt-get install dbus bluez" in result.err


def test_sessions_list_into_a_closed_pipe_exits_quietly(tmp_path):
    db = tmp_path / "many.sqlite"
    with SessionStore(db) as store:
        for _ in range(400):  # ~150 kB of JSON: more than a pipe buffer
            store.create_session(Subject("C001"))
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmi_sensors.cli", "sessions", "list", "--json", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == b"["  # `| head -1`: read one line, then close the pipe
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b"", err


# --- 9. events of a trial CSV import: THE validator ------------------------------------------


def test_trial_csv_import_checks_its_events_file_with_the_one_validator(tmp_path):
    trial, _ = _simulated_trial(tmp_path)
    events = tmp_path / "bad.csv"
    events.write_text(
        "onset_s,duration_s,exercise,repetition,support,source\n"
        "1,5,sit_table_trunk,0,trunk,manual\n"
        "1,5\n"
        "2,3,sit_table_trunk,one,elbows,manual\n"
    )
    db = tmp_path / "s.sqlite"
    result = run_cli("sessions", "import", trial, "--subject-id", "C1", "--events", events, "--db", db)
    assert result.code == 1
    assert "bad.csv: 3 problems: line 3: expected 6 comma-separated fields" in result.err
    assert "line 4, column 'repetition'" in result.err and "line 4, column 'support'" in result.err
    with SessionStore(db) as store:
        assert store.sessions() == []  # nothing stored
    late = tmp_path / "late.csv"
    late.write_text("onset_s,duration_s,exercise,repetition,support,source\n100,5,stand_box_knees,0,knees,manual\n")
    result = run_cli("sessions", "import", trial, "--subject-id", "C1", "--events", late, "--db", db)
    assert result.code == 0
    assert "stand_box_knees at 100.000 s lies outside the trial (0.000-60.000 s)" in result.err


# --- 5. notes shown; sample counts right ----------------------------------------------------


def test_notes_are_shown_in_sessions_show_and_in_the_report(recorded):
    from dmi_sensors.timing import timed_samples

    shown = run_cli("sessions", "show", recorded.sid, "--db", recorded.db)
    assert "(1 notes)" in shown.out and "note         [0:12] cried briefly" in shown.out
    data = json.loads(run_cli("sessions", "show", recorded.sid, "--json", "--db", recorded.db).out)
    assert [n["note"] for n in data["notes"]] == ["cried briefly"] and data["notes"][0]["onset_s"] == 12.5
    with SessionStore(recorded.db) as store:
        for sensor in data["sensors"]:
            decoded = timed_samples(store.raw_packets(recorded.sid, sensor["sensor_id"]), sensor["sensor_id"])
            assert sensor["samples"] == len(decoded.batch) > 0  # not 0 for a recorded session
        events = store.events(recorded.sid)
    html_path = recorded.root / "reports" / f"session-{recorded.sid}.html"
    report = parse_report(html_path)
    (note,) = report.tables["notes-table"]
    assert note["mark"][0] == "N1" and note["time"][0] == "0:12" and note["note"][0] == "cried briefly"
    assert "Dashed lines N1, N2, ...: the therapist's notes" in report.text
    # the exercise (and repetition) during which the note was typed carries it in its Notes cell
    ex = events[(events["kind"] == "exercise") & (events["onset_s"] <= 12.5)]
    ex = ex[ex["onset_s"] + ex["duration_s"] > 12.5]
    noted = [r for r in report.tables["exercise-table"] if r["notes"][0] != "–"]
    if len(ex):
        assert [r["notes"][0] for r in noted] == ["N1: cried briefly"]
        assert noted[0]["exercise"][0] == CATALOGUE[ex["exercise"].iloc[0]].name
    else:  # between two exercises: in no exercise's row
        assert noted == []


# --- 6. progress report: colours, names, dates, tables, no warnings -------------------------


@pytest.fixture(scope="module")
def two_sessions(recorded, tmp_path_factory):
    """The recorded session and a later one of the same child (another plan, a month later)."""
    from dmi_sensors.sim.session import record_simulated_session

    root = tmp_path_factory.mktemp("two")
    db = root / "two.sqlite"
    db.write_bytes(recorded.db.read_bytes())
    later = Plan("Later", [dataclasses.replace(CATALOGUE[k], target_repetitions=3, hold_s=8.0)
                           for k in ("stand_box_knees", "stand_box_ankles", "four_point_floor_hips")])  # fmt: skip
    with SessionStore(db) as store:
        record_simulated_session(store, SUBJECT, later, seed=9, start_utc="2026-04-14T10:00:00Z")
    return db


def _progress_figure_of(db: Path, subject: str):
    """The figure `dmi-sensors progress` draws, for its axes and lines."""
    from dmi_sensors.report.figures import progress_figure
    from dmi_sensors.report.progress import PROGRESS_METRICS, progress_data

    with SessionStore(db) as store:
        data = progress_data(store, subject)
    return progress_figure(data.table, PROGRESS_METRICS, data.supports, names=data.names), data


def test_progress_report_reads_well_for_one_session_and_for_many(recorded, two_sessions, tmp_path):
    import warnings

    import matplotlib.dates as mdates

    for db, n_sessions in ((recorded.db, 1), (two_sessions, 2)):
        out = tmp_path / f"p{n_sessions}"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no matplotlib (or other) warning while drawing it
            result = run_cli("progress", "C001", "--db", db, "--out", out)
        assert result.code == 0, result.err
        assert result.err == ""
        report = parse_report(out / "progress-C001.html")
        for table_id, rows in report.tables.items():
            assert rows, f"empty table {table_id}"  # no empty tables
        if n_sessions == 1:
            assert "trend-table" not in report.tables
            assert "this comparison appears from the second session" in report.text
            assert "nothing to compare" in result.out
        else:
            assert "trend-table" in report.tables
            assert f"{CATALOGUE['stand_box_knees'].name}: sway area" in result.out
        shown = {r["exercise"][0] for r in report.tables["progress-table"]}
        assert CATALOGUE["stand_box_knees"].name in shown and "stand_box_knees" not in shown  # names, not ids
        fig, data = _progress_figure_of(db, "C001")
        *metric_axes, support_ax = fig.axes
        colours: dict[str, str] = {}
        for ax in metric_axes:
            for line in ax.get_lines():
                # one colour per exercise, the same in every panel
                assert colours.setdefault(line.get_label(), line.get_color()) == line.get_color()
        assert set(colours) == {data.names[e] for e in data.table["exercise"].unique()}
        assert len(set(colours.values())) == len(colours)
        family_colours = {line.get_color() for line in support_ax.get_lines()}
        assert not family_colours & set(colours.values())  # the support panel never reuses an exercise colour
        assert {t.get_text() for t in support_ax.get_legend().get_texts()} == set(data.supports["family"])
        lo, hi = (mdates.num2date(x) for x in support_ax.get_xlim())
        dates = sorted(data.table["session_date"].unique())
        span_days = (hi - lo).days
        assert lo.replace(tzinfo=None) < dates[0] and hi.replace(tzinfo=None) > dates[-1]
        if n_sessions == 1:
            assert span_days <= 6  # not 2025-2029
        else:
            assert span_days <= 1.2 * (dates[-1] - dates[0]).days + 5
        ticks = [mdates.num2date(t).date() for t in support_ax.get_xticks()]
        assert ticks == sorted({d.date() for d in data.table["session_date"]})


# --- 7. simulated sensors: calibrate -> record -> analyse with the calibration applied -------


def test_calibrate_record_analyse_with_simulated_sensors(tmp_path):
    import shutil

    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon not installed (Debian/Ubuntu: apt-get install dbus-daemon)")
    from dmi_sensors.analysis.signals import stored_sensor_signals
    from dmi_sensors.analysis.stored_run import load_sensor_signals

    cal = tmp_path / "calibration"
    for kind in ("gyro", "accel", "alignment"):
        done = run_cli("calibrate", kind, "--simulate", "--library", cal)
        assert done.code == 0, done.err
    db = tmp_path / "s.sqlite"
    record = run_cli(
        "record", "--simulate-sensors", "2", "--duration-s", "8", "--scan-timeout-s", "1",
        "--calibration-dir", cal, "--subject-id", "C001", "--com-height-m", "0.9", "--db", db,
    )  # fmt: skip
    assert record.code == 0, record.err
    # the second sensor has no calibration in the folder: said loudly, once
    (warning,) = [line for line in record.err.splitlines() if "WARNING" in line]
    assert "no calibration for sensor 00D10002" in warning and "UNCALIBRATED" in warning
    assert run_cli("report", 1, "--db", db, "--out", tmp_path / "r").code == 0
    with SessionStore(db) as store:
        run = latest_run(store, 1)
        assert run.parameters["frames"] == {"00D10001": "body", "00D10002": "sensor"}
        assert run.parameters["calibrations"]["00D10001"]["kinds"] == ["accel", "gyro", "alignment"]
        used = load_sensor_signals(store, 1, "00D10001", run.parameters["session"])
        raw = stored_sensor_signals(store, 1, "00D10001")
    # the virtual sensor stands upright: calibrated, gravity lies along body +z and the gyro
    # bias is gone; raw, the mounting tilts it and the bias shows (the unit's known errors)
    from dmi_sensors.sim.calibration import simulated_imu_errors

    truth = simulated_imu_errors(0)

    def tilt_deg(sig) -> float:
        g = sig.acc_mps2[sig.valid].mean(axis=0)
        return float(np.degrees(np.arccos(g[2] / np.linalg.norm(g))))

    assert tilt_deg(used) < 1.0 < 5.0 < tilt_deg(raw)
    assert np.abs(used.gyr_rps[used.valid].mean(axis=0)).max() < 0.003
    np.testing.assert_allclose(raw.gyr_rps[raw.valid].mean(axis=0), truth.gyr_bias_rps, atol=0.003)


# --- 10. analyse of a whole DMI session: the per-exercise table ------------------------------


def test_analyse_with_events_prints_the_per_exercise_table(tmp_path):
    trial, events = _simulated_trial(tmp_path)
    out = tmp_path / "out.json"
    result = run_cli("analyse", trial, "--com-height-m", "0.5", "--events", events, "--json", out)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("per tagged exercise"))
    whole = next(i for i, line in enumerate(lines) if line.startswith("whole trial"))
    table = lines[head + 2 : whole]
    assert [row.split()[0] for row in table] == ["sit_table_trunk", "stand_box_knees"]
    segments = [w for w in json.loads(out.read_text())["windows"] if w["kind"] == "segment"]
    for row in table:
        words = row.split()
        (seg,) = [w for w in segments if w["tags"]["exercise"] == words[0] and w["tags"]["repetition"] == 0]
        assert words[5] == "2"  # repetitions tagged inside it
        assert float(words[6]) == pytest.approx(seg["metrics"]["com_rms_ap_mm"], rel=5e-4)  # COM RMS AP [mm]
    assert "COM RMS AP [mm]" in lines[head + 1]


def test_simulate_writes_the_true_events_for_analyse_and_import(tmp_path):
    """The README's researcher path without any file at hand: simulate -> analyse --events -> import --events."""
    from dmi_sensors.session import read_events_csv

    result = run_cli("simulate", "--scenario", "perturbation", "--duration-s", "30", "--out", tmp_path / "t.csv")
    assert result.code == 0 and "t.events.csv" in result.out
    events = read_events_csv(tmp_path / "t.events.csv")  # THE validator reads it back
    truth = json.loads((tmp_path / "t.truth.json").read_text())["events"]
    assert list(events["onset_s"]) == sorted(e["onset_s"] for e in truth) and len(events) > 0
    analyse = run_cli("analyse", tmp_path / "t.csv", "--com-height-m", "0.9", "--events", tmp_path / "t.events.csv")
    assert analyse.code == 0, analyse.err
    db = tmp_path / "s.sqlite"
    imported = run_cli(
        "sessions", "import", tmp_path / "t.csv", "--subject-id", "C1", "--events", tmp_path / "t.events.csv",
        "--db", db,
    )  # fmt: skip
    assert imported.code == 0 and f"{len(events)} events" in imported.out


def test_progress_of_analysed_sessions_without_exercises_says_why(tmp_path):
    from store_helpers import synthetic_batch

    db = tmp_path / "s.sqlite"
    with SessionStore(db) as store:
        ingest_session(
            store,
            subject=Subject("C7", com_height_m=0.5),
            start_utc="2026-01-02T03:04:05Z",
            batches={"A": synthetic_batch("A", 1200, 100.0, 0)},
            placements={"A": "trunk"},
        )
    assert run_cli("report", 1, "--db", db, "--out", tmp_path / "r").code == 0
    result = run_cli("progress", "C7", "--db", db, "--out", tmp_path / "r")
    assert result.code == 1
    assert "sessions 1 are analysed but none has a tagged exercise" in result.err and "--events" in result.err
