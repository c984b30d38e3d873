"""The session pipeline end to end on the quick demo: record -> store -> analyse -> report.

One quick demo run (two simulated sessions of one child, two virtual sensors each) is
shared by every test of this module; the tests then check the stored results against the
simulation's truth and the HTML against the stored results.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from report_helpers import assert_real_figure

from dmi_sensors import cli
from dmi_sensors.analysis import analyse_session
from dmi_sensors.analysis.stored_run import latest_run
from dmi_sensors.report.html import format_number
from dmi_sensors.report.parse import parse_report
from dmi_sensors.report.progress import PROGRESS_COLUMNS, progress_table, trend_table
from dmi_sensors.report.session import EXERCISE_COLUMNS, LINK_COLUMNS, REPETITION_COLUMNS, SECTIONS

pytest.importorskip("dmi_sensors.metrics", reason="needs the metrics layer")
pytest.importorskip("dmi_sensors.dsp", reason="needs the dsp layer")
store_mod = pytest.importorskip("dmi_sensors.store", reason="needs the store layer")
session_mod = pytest.importorskip("dmi_sensors.session", reason="needs the session layer")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``dmi-sensors demo --quick`` through the command line, as a user runs it."""
    import contextlib
    import io
    from types import SimpleNamespace

    from dmi_sensors import cli

    out = tmp_path_factory.mktemp("demo")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["demo", "--quick", "--seed", "3", "--out", str(out)]) == 0
    text = buf.getvalue()
    reports = [out / "session-1.html", out / "session-2.html"]
    for path in [*reports, out / "progress-DEMO01.html", out / "demo.sqlite"]:
        assert path.is_file(), path
        assert str(path) in text
    assert "stand_floor_none" in text  # the short table of the current session
    return SimpleNamespace(
        db_path=out / "demo.sqlite",
        reports=reports,
        progress=out / "progress-DEMO01.html",
        session_ids=[1, 2],
        stdout=text,
    )


@pytest.fixture(scope="module")
def store(demo):
    with store_mod.SessionStore(demo.db_path) as s:
        yield s


def _check_table(parsed_rows, frame, columns, names=None):
    """Every numeric cell's exact value equals the stored value; its text is the rounding of it."""
    assert len(parsed_rows) == len(frame)
    for html_row, stored in zip(parsed_rows, frame.to_dict("records"), strict=True):
        for c in columns:
            text, exact = html_row[c.key]
            value = stored.get(c.key)
            missing = value is None or (isinstance(value, float) and not math.isfinite(value))
            if c.decimals is None:
                expected = "–" if missing else str((names or {}).get(value, value))
                assert text == expected, (c.key, text, expected)
                continue
            if missing:
                assert exact is None and text == "–", (c.key, text)
            else:
                assert exact == float(value), (c.key, exact, value)
                assert text == format_number(value, c.decimals)


def test_session_report_has_every_section_and_real_figures(demo):
    for path in demo.reports:
        parsed = parse_report(path)
        assert parsed.sections == list(SECTIONS)
        assert parsed.external == []
        assert len(parsed.images) == 2
        for name, png in parsed.images:
            assert (path.parent / name).read_bytes() == png
            assert_real_figure(png, 400)
        assert "DEMO01" in parsed.text


def test_numbers_in_html_equal_stored_results(demo, store):
    for sid, path in zip(demo.session_ids, demo.reports, strict=True):
        run = latest_run(store, sid)
        parsed = parse_report(path)
        plan = session_mod.Plan.from_toml(store.session_info(sid).plan_toml)
        names = {e.exercise_id: e.name for e in plan}
        primary = run.primary_sensor_id
        ex = run.exercises[run.exercises["sensor_id"] == primary].reset_index(drop=True)
        reps = run.repetitions[run.repetitions["sensor_id"] == primary].reset_index(drop=True)
        _check_table(parsed.tables["exercise-table"], ex, EXERCISE_COLUMNS, names)
        _check_table(parsed.tables["repetition-table"], reps, REPETITION_COLUMNS, names)
        link = [{"sensor_id": k, **v.summary} for k, v in sorted(run.sensors.items())]
        import pandas as pd

        _check_table(parsed.tables["link-table"], pd.DataFrame(link), LINK_COLUMNS)
        other = [k for k in run.sensors if k != primary]
        assert len(other) == 1
        key = [t for t in parsed.tables if t.startswith("exercise-table-")]
        assert len(key) == 1
        ex_o = run.exercises[run.exercises["sensor_id"] == other[0]].reset_index(drop=True)
        _check_table(parsed.tables[key[0]], ex_o, EXERCISE_COLUMNS, names)


def test_report_labels_and_units_are_the_registrys(demo):
    """Every column that shows a registry metric is headed with the registry's label and unit, and
    no header pairs a registry label with another unit (nothing typed again in a report)."""
    from dmi_sensors.metrics import REGISTRY

    by_label = {m.label: m for m in REGISTRY.values()}
    seen = set()
    for path in [*demo.reports, demo.progress]:
        for table_id, headers in parse_report(path).headers.items():
            assert headers, (path.name, table_id)
            for key, text in headers.items():
                if key in REGISTRY:
                    assert text == REGISTRY[key].header, (path.name, table_id, key, text)
                    seen.add(key)
                label, _, unit = text.rpartition(" [")
                label = label.split(": ")[-1]  # "First: COM 95 % ellipse area [mm²]"
                if label in by_label:
                    assert unit == by_label[label].unit + "]", (path.name, table_id, key, text)
    assert {"com_ellipse_area_mm2", "com_rms_ap_mm", "time_to_stabilise_s", "acc_rms_ap_mps2", "f50_ap_hz"} <= seen


def test_exercise_table_follows_the_plan(demo, store):
    from dmi_sensors.demo.run import demo_plans

    plans = demo_plans(quick=True)
    for sid, plan in zip(demo.session_ids, plans, strict=True):
        run = latest_run(store, sid)
        assert run.primary_sensor_id is not None
        for sensor_id in run.sensors:
            ex = run.exercises[run.exercises["sensor_id"] == sensor_id]
            assert list(ex["exercise"]) == [e.exercise_id for e in plan]
            assert list(ex["support"]) == [e.support for e in plan]
            assert list(ex["repetitions"]) == [e.target_repetitions for e in plan]
            assert (ex["holds"] == ex["repetitions"]).all()
            # automatic posture detection agrees with the plan's positions
            for r in ex.itertuples(index=False):
                assert r.posture_detected == r.posture_planned, (r.exercise, r.posture_detected, r.posture_planned)
        assert run.parameters["dmi_sensors_version"]
        assert run.parameters["analysis"]["com_height_m"] == 0.45


def test_link_statistics_match_the_virtual_sensors(tmp_path):
    """Samples lost are counted exactly from the counters (truth: the virtual sensors' lost packets)."""
    from dmi_sensors.demo.run import DEMO_SUBJECT, demo_plans
    from dmi_sensors.sim.session import SimulatedSensor, record_simulated_session

    _, plan = demo_plans(quick=True)
    sensors = [SimulatedSensor(0x0A, "trunk", 0.56, loss_prob=0.02, burst_prob=0.004)]
    with store_mod.SessionStore(tmp_path / "s.sqlite") as st:
        sid, sim = record_simulated_session(
            st, session_mod.Subject(**DEMO_SUBJECT), plan, seed=11, start_utc="2026-01-01T10:00:00Z", sensors=sensors
        )
        vs = next(iter(sim.sensors.values()))
        analysis = analyse_session(st, sid)
    res = next(iter(analysis.sensors.values()))
    spp = vs.samples_per_packet
    lost_truth = len(vs.lost_counters) * spp
    assert lost_truth > 0
    link = res.signals.link
    assert link["samples_received"] + lost_truth == vs.samples_sent
    # losses after the last received packet are invisible to the receiver
    assert lost_truth - 20 * spp <= link["samples_lost"] <= lost_truth
    assert res.summary["pieces"] >= 2  # bursts split the recording; nothing is filtered across a gap
    seg = res.windows[res.windows["window_kind"] == "segment"]
    upright = seg[seg["posture"].isin(["standing", "sitting"])]  # COM has a model there only (issue 13)
    assert len(upright) and np.isfinite(upright["com_rms_ap_mm"].to_numpy(dtype=float)).all()
    assert not np.isfinite(seg.loc[~seg.index.isin(upright.index), "com_rms_ap_mm"].to_numpy(dtype=float)).any()


def test_stabilogram_ellipses_equal_stored_hold_areas(demo, store):
    """The figure's ellipses are computed from the recomputed signals; they must equal the stored metrics."""
    from dmi_sensors.analysis.stored_run import (
        load_sensor_signals,
        metric_params_from_dict,
        pelvis_signals,
        sway_pieces,
    )
    from dmi_sensors.report.session import _stabilograms

    sid = demo.session_ids[-1]
    run = latest_run(store, sid)
    primary = run.primary_sensor_id
    signals = load_sensor_signals(store, sid, primary, run.parameters["session"])
    params = metric_params_from_dict(run.parameters["analysis"])
    pelvis = pelvis_signals(store, run, primary)
    assert pelvis is not None  # the demo's sessions have a trunk and a pelvis sensor: two-segment COM
    pieces = sway_pieces(signals, params, store.events(sid), pelvis)
    ex = run.exercises[run.exercises["sensor_id"] == primary].reset_index(drop=True)
    reps = run.repetitions[run.repetitions["sensor_id"] == primary].reset_index(drop=True)
    fig = _stabilograms(pieces, ex, reps, {}, params.ellipse_method)
    upright = ex[ex["posture_detected"].isin(["sitting", "standing", "kneeling"])]
    assert len(fig.ellipses) == len(upright) >= 4
    for ellipses, row in zip(fig.ellipses, upright.itertuples(index=False), strict=True):
        stored = reps[(reps["exercise"] == row.exercise) & reps["hold_start_s"].notna()]
        areas = sorted(e.area_mm2 for e in ellipses)
        assert areas == pytest.approx(sorted(stored["com_ellipse_area_mm2"]), rel=1e-9)
        assert float(np.median(areas)) == pytest.approx(row.com_ellipse_area_mm2, rel=1e-9)


def test_report_signals_with_the_stored_gate_levels_equal_the_replicas(demo, store):
    """The run stores each piece's two-segment gate level (what its noise replica gave): the
    report's signals drawn with it equal those recomputed with the replicas, bit for bit."""
    from dmi_sensors.analysis.stored_run import (
        gate_levels,
        load_sensor_signals,
        metric_params_from_dict,
        pelvis_signals,
        sway_pieces,
    )

    sid = demo.session_ids[-1]
    run = latest_run(store, sid)
    primary = run.primary_sensor_id
    signals = load_sensor_signals(store, sid, primary, run.parameters["session"])
    params = metric_params_from_dict(run.parameters["analysis"])
    pelvis = pelvis_signals(store, run, primary)
    levels = gate_levels(run, primary)
    assert levels is not None and len(levels) == len(signals.pieces)
    assert any(v is not None and v > 0 for v in levels)  # two-segment pieces with a replica's level
    events = store.events(sid)
    stored = sway_pieces(signals, params, events, pelvis, levels)
    replicas = sway_pieces(signals, params, events, pelvis)
    assert len(stored) == len(replicas) == len(signals.pieces)
    for a, b in zip(stored, replicas, strict=True):
        for f in dataclasses.fields(b):
            if isinstance(getattr(b, f.name), np.ndarray):
                np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)
        assert a.parameters.get("two_segment", {}).get("gate_noise_ms_m2") == b.parameters.get("two_segment", {}).get(
            "gate_noise_ms_m2"
        )
    # a run without the levels (stored before them) still gets them from the replicas
    assert gate_levels(dataclasses.replace(run, sensors={}), primary) is None


def test_com_sway_close_to_simulation_truth(tmp_path):
    """Measured COM RMS (pendulum model, holds) against the simulator's true COM over the same holds."""
    from dmi_sensors.demo.run import DEMO_SUBJECT, demo_plans
    from dmi_sensors.sim.session import SimulatedSensor, record_simulated_session

    _, plan = demo_plans(quick=True)
    with store_mod.SessionStore(tmp_path / "s.sqlite") as st:
        sid, sim = record_simulated_session(
            st,
            session_mod.Subject(**DEMO_SUBJECT),
            plan,
            seed=5,
            start_utc="2026-01-01T10:00:00Z",
            sensors=[SimulatedSensor(0x0B, "trunk", 0.56)],
        )
        analysis = analyse_session(st, sid)
    truth = next(iter(sim.sims.values())).truth
    reps = analysis.repetitions
    standing = reps[reps["posture_detected"] == "standing"]
    assert len(standing) >= 6
    ratios = []
    for r in standing.itertuples(index=False):
        sel = (truth.time_s >= r.hold_start_s) & (truth.time_s < r.hold_end_s)
        true_rms = float(np.std(truth.com_ap_mm[sel]))
        ratios.append(r.com_rms_ap_mm / true_rms)
    # the pendulum model from trunk tilt vs the multi-segment truth: same order, no gross error
    assert 0.5 < float(np.median(ratios)) < 2.0, ratios


def test_progress_report(demo, store):
    from dmi_sensors.report.progress import progress_table

    parsed = parse_report(demo.progress)
    assert parsed.sections == ["overview", "summary", "charts", "progress-table", "changes", "support-table"]
    assert len(parsed.images) == 1
    assert_real_figure(parsed.images[0][1], 400)
    table = progress_table(store, "DEMO01")
    assert sorted(table["session_id"].unique()) == demo.session_ids
    rows = parsed.tables["progress-table"]
    assert len(rows) == len(table)
    for html_row, stored in zip(rows, table.to_dict("records"), strict=True):
        for c in PROGRESS_COLUMNS:
            _text, exact = html_row[c.key]
            if c.decimals is not None and stored[c.key] is not None and math.isfinite(float(stored[c.key])):
                assert exact == float(stored[c.key])
    # the earlier session was simulated with more sway: the shared standing exercises sway less now
    trends = {(r[0][0], r[1][0]): r for r in (list(row.values()) for row in parsed.tables["trend-table"])}
    assert (session_mod.CATALOGUE["stand_box_hips"].name, "hips") in trends  # names, not ids
    support = parsed.tables["support-table"]
    box = [r for r in support if r["family"][0] == "Standing on the DMI box"]
    assert [r["most_distal_support"][0] for r in box] == ["knees", "ankles"]
    assert "less help needed" in parsed.text
    # is this change real? the MDC table of the repetitions, shown as stored, with words for parents
    from dmi_sensors.metrics.reliability import BEYOND, WITHIN
    from dmi_sensors.report.progress import CHANGE_COLUMNS, change_rows, repetition_values

    reps = repetition_values(store, "DEMO01")
    changes = change_rows(reps)
    assert len(changes) > 0
    _check_table(
        parsed.tables["change-table"],
        changes,
        CHANGE_COLUMNS,
        names={k: e.name for k, e in session_mod.CATALOGUE.items()},
    )
    assert set(changes.verdict) <= {BEYOND, WITHIN, "too few repetitions"}
    # the earlier session swayed 1.6 x as much: its sway area (2.6 x) is beyond noise in some exercise
    area = changes[changes.metric == "com_ellipse_area_mm2"]
    assert (area.verdict == BEYOND).any() and (area.change < 0).all()
    assert "beyond measurement noise" in parsed.text and "very likely a real change" in parsed.text
    # every verdict follows from the repetitions: mean of the logs vs the single-repetition MDC
    r = area.iloc[0]
    sel = (reps.exercise == r.exercise) & (reps.support == r.support)
    logs = {s: np.log(reps.loc[sel & (reps.session_id == s), "com_ellipse_area_mm2"].astype(float)) for s in (1, 2)}
    pooled = np.sqrt(sum(((v - v.mean()) ** 2).sum() for v in logs.values()) / sum(len(v) - 1 for v in logs.values()))
    mdc_ln = 1.959963984540054 * np.sqrt(2) * pooled
    assert r.mdc95_pct == pytest.approx(100 * np.expm1(mdc_ln))
    assert (r.verdict == BEYOND) == (abs(logs[2].mean() - logs[1].mean()) > mdc_ln)


def test_reports_refuse_unanalysed_sessions(tmp_path):
    from dmi_sensors.report.session import build_session_report

    with store_mod.SessionStore(tmp_path / "x.sqlite") as st:
        sid = st.create_session(session_mod.Subject("X1", 2020, 0.5), None, {"DMI-00000001": "trunk"})
        with pytest.raises(ValueError, match="no stored analysis") as e:
            build_session_report(st, sid, tmp_path)
    # the advice names a command the CLI has, for a stored session
    advice = re.search(r"`dmi-sensors (\w+) (\d+)`", str(e.value))
    assert advice is not None and advice.group(1) in cli.COMMANDS and int(advice.group(2)) == sid


@pytest.mark.bluez
@pytest.mark.slow
def test_demo_recording_through_bleak_and_emulated_bluez(tmp_path):
    """``demo --via-bluez`` path: bleak discovers and records the emulated session; tags are pressed live."""
    import dataclasses
    import shutil

    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon")
    pytest.importorskip("dmi_sensors.ble", reason="needs the BLE layer")
    from dmi_sensors.demo.bluez import record_via_bluez
    from dmi_sensors.demo.run import DEMO_SUBJECT

    ex = dataclasses.replace(session_mod.CATALOGUE["stand_box_knees"], target_repetitions=2, hold_s=4.0)
    plan = session_mod.Plan("tiny", [ex])
    with store_mod.SessionStore(tmp_path / "b.sqlite") as st:
        sid = record_via_bluez(st, session_mod.Subject(**DEMO_SUBJECT), plan, seed=2, start_utc="2026-03-01T10:00:00Z")
        info = st.session_info(sid)
        assert info.status == "finalised"
        assert {s.placement for s in info.sensors} == {"trunk", "pelvis"}
        events = st.events(sid)
        assert list(events[events["kind"] == "repetition"]["repetition"]) == [1, 2]
        analysis = analyse_session(st, sid)
    for res in analysis.sensors.values():
        assert res.summary["link_samples_received"] >= 0.9 * 100 * 8.0
    ex_rows = analysis.exercises
    assert list(ex_rows["repetitions"]) == [2, 2]
    assert (ex_rows["posture_detected"] == "standing").all()


def test_report_and_progress_commands(demo, tmp_path):
    """`dmi-sensors report` reuses the stored run; --reanalyse appends a new one; `progress` writes its page."""
    import contextlib
    import io
    import shutil

    from dmi_sensors import cli

    db = tmp_path / "copy.sqlite"
    shutil.copy(demo.db_path, db)
    out = tmp_path / "out"
    with store_mod.SessionStore(db) as st:
        before = latest_run(st, 2).run_id
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["report", "2", "--db", str(db), "--out", str(out)]) == 0
        assert (
            cli.main(
                ["report", "2", "--db", str(db), "--out", str(out / "chi2"), "--reanalyse", "--ellipse-method", "chi2"]
            )
            == 0
        )
        assert cli.main(["progress", "DEMO01", "--db", str(db), "--out", str(out), "--json", str(out / "ch.json")]) == 0
    text = buf.getvalue()
    import json
    import stat

    from dmi_sensors.report.progress import change_rows, repetition_values

    doc = json.loads((out / "ch.json").read_text())
    assert stat.S_IMODE((out / "ch.json").stat().st_mode) == 0o600
    with store_mod.SessionStore(db) as st:
        expected = change_rows(repetition_values(st, "DEMO01"))
    assert doc["subject_id"] == "DEMO01" and len(doc["changes"]) == len(expected) > 0
    for got, want in zip(doc["changes"], expected.to_dict("records"), strict=True):
        for key in ("exercise", "support", "metric", "change", "mdc95", "verdict", "from_session", "to_session"):
            assert got[key] == want[key], key
        assert got["exercise_name"] == session_mod.CATALOGUE[got["exercise"]].name
    assert "1.96 * sqrt(2) * SEM" in doc["method"]["mdc95"]
    assert f"report: {out / 'session-2.html'}" in text
    assert f"progress report: {out / 'progress-DEMO01.html'}" in text
    # one printed line per trend row: exercise, support, the change of sway area (or '-'), sessions
    with store_mod.SessionStore(db) as st:
        trends = trend_table(progress_table(st, "DEMO01"))
    lines = [line.strip() for line in text.splitlines() if " sway area " in line]
    assert len(trends) > 0 and len(lines) == len(trends)
    for line, row in zip(lines, trends.to_dict("records"), strict=True):
        pct = row["area_change_pct"]
        change = "-" if pct is None or not math.isfinite(pct) else f"{pct:+.0f} %"
        name = session_mod.CATALOGUE[row["exercise"]].name  # the catalogue names the support too
        assert line == f"{name}: sway area {change} over {row['sessions']} sessions"
    with store_mod.SessionStore(db) as st:
        run = latest_run(st, 2)
        assert run.run_id != before
        assert run.parameters["analysis"]["ellipse_method"] == "chi2"
        n_runs = {r.parameters.get("run_id") for r in st.results(2)}
        assert len(n_runs) == 2  # nothing overwritten
    parsed = parse_report(out / "chi2" / "session-2.html")
    assert run.run_id in parsed.text
    assert cli.main(["report", "99", "--db", str(db), "--out", str(out)]) == 1  # unknown session: one error line


def test_latest_run_without_sensor_windows_is_the_same_run(store):
    """A report reads the run without the sensors' per-window tables (the bulk of a stored
    analysis): everything else is what the full read gives, and the store's ``skip_windows``
    leaves only the named records' tables unread."""
    import pandas as pd

    for sid in (1, 2):
        full = latest_run(store, sid)
        lean = latest_run(store, sid, sensor_windows=False)
        assert full is not None and lean is not None
        assert all(len(rec.windows) > 0 for rec in full.sensors.values())
        assert all(rec.windows is None for rec in lean.sensors.values())
        assert lean.sensors.keys() == full.sensors.keys()
        for k, rec in full.sensors.items():
            assert lean.sensors[k].summary == rec.summary and lean.sensors[k].parameters == rec.parameters
        assert (lean.run_id, lean.parameters, lean.record_ids) == (full.run_id, full.parameters, full.record_ids)
        for table in ("exercises", "repetitions", "postures", "protocol_scores"):
            pd.testing.assert_frame_equal(getattr(lean, table), getattr(full, table))
        records = store.results(sid, skip_windows=["session_analysis"])
        every = store.results(sid)
        assert [r.result_id for r in records] == [r.result_id for r in every]
        for r, e in zip(records, every, strict=True):
            if r.name == "session_analysis":
                assert r.windows is None
            elif e.windows is not None:
                pd.testing.assert_frame_equal(r.windows, e.windows)
