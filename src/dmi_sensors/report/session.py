"""The session report: one self-contained HTML page (+ PNG files) for therapist and parents.

Sections (``<section id=...>``):

``overview``          pseudonymous subject, date, duration, sensors, plan, analysis run
``summary``           a plain-language summary for parents
``timeline``          COM and trunk tilt over the session, exercise bands by support point,
                      the therapist's notes marked N1, N2, ... and listed in a table
``exercises``         per-exercise table (primary sensor)
``stabilograms``      COM stabilograms with the 95 % ellipse of every repetition's hold
``therapist``         per-repetition table, other sensors, posture check, methods
``link``              link statistics: packets, samples lost, gaps, clock
``provenance``        every analysis parameter and the package version

Every number in a table is the stored result itself (``data-value`` holds it exactly; the
cell text is rounded for reading). Figures are recomputed from what the store holds (raw
packets, or an imported session's samples) with the run's stored parameters
(:mod:`dmi_sensors.analysis.stored_run`). The therapist's notes (``t`` while recording)
appear in the timeline, in their own table and in the ``Notes`` column of the exercise and
repetition tables (the notes made during that exercise or repetition).
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dmi_sensors import contract
from dmi_sensors.contract import METRICS_ABSENT
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.registry import REGISTRY, floor_name, has_noise_floor, spec
from dmi_sensors.report.html import Column, HtmlReport, format_number, metric_column
from dmi_sensors.session import Plan

__all__ = [
    "EXERCISE_COLUMNS",
    "LINK_COLUMNS",
    "NOTE_COLUMNS",
    "PROTOCOL_COLUMNS",
    "REPETITION_COLUMNS",
    "SECTIONS",
    "SessionReport",
    "build_session_report",
    "exercise_names",
]

SECTIONS = ("overview", "summary", "timeline", "exercises", "stabilograms", "therapist", "link", "provenance")
#: Section shown before ``therapist`` when the session is a standard protocol (analysis ``protocol_scores``).
PROTOCOL_SECTION = "protocol"
PROTOCOL_COLUMNS = (
    Column("score", "Score"),
    Column("condition", "Condition"),
    Column("metric", "From metric"),
    Column("value", "Value", 3),
    Column("value_text", "Level"),
    Column("unit", "Unit"),
    Column("repetitions", "Trials", 0),
    Column("note", "Note"),
)

#: The sway number of the parents' summary, the stabilograms and the progress report.
AREA = "com_ellipse_area_mm2"
AREA_UNIT = spec(AREA).unit

# Metric columns take their header ("label [unit]") from dmi_sensors.metrics.REGISTRY
# (metric_column); the other keys are the data contract's column names.
EXERCISE_COLUMNS = (
    Column(contract.EXERCISE, "Exercise"),
    Column(contract.SUPPORT, "Support"),
    Column(contract.POSTURE_DETECTED, "Posture (detected)"),
    Column(contract.REPETITIONS, "Reps", 0),
    Column(contract.HOLDS, "Holds", 0),
    metric_column("com_range_ap_mm", 1),
    metric_column("com_range_ml_mm", 1),
    metric_column("com_rms_ap_mm", 1),
    metric_column(AREA, 0),
    metric_column(contract.TIME_TO_STABILISE_S, 2),
    Column(contract.TTS_STABLE, "Stabilised reps", 0),
    metric_column("acc_rms_ap_mps2", 3),
    metric_column("acc_rms_ml_mps2", 3),
    metric_column("jerk_isway_m2_s5", 3),
    metric_column("f50_ap_hz", 2),
    metric_column("tilt_rms_ap_deg", 2),
    metric_column("tilt_rms_ml_deg", 2),
    Column("notes", "Notes"),
    Column(METRICS_ABSENT, "Not reported (why)"),
)
REPETITION_COLUMNS = (
    Column(contract.EXERCISE, "Exercise"),
    Column(contract.REPETITION, "Rep", 0),
    Column(contract.SUPPORT, "Support"),
    Column(contract.ONSET_S, "Onset [s]", 1),
    metric_column(contract.DURATION_S, 1),
    metric_column("com_range_ap_mm", 1),
    metric_column("com_range_ml_mm", 1),
    metric_column(AREA, 0),
    metric_column("com_mean_velocity_mm_s", 1),
    metric_column(contract.TIME_TO_STABILISE_S, 2),
    Column(contract.TTS_STATUS, "TTS status"),
    metric_column("acc_rms_ap_mps2", 3),
    metric_column("jerk_isway_m2_s5", 3),
    metric_column("tilt_rms_ap_deg", 2),
    Column("notes", "Notes"),
    Column(METRICS_ABSENT, "Not reported (why)"),
)
#: The therapist's notes: mark in the timeline, time, what was going on, the text.
NOTE_COLUMNS = (
    Column("mark", "Mark"),
    Column("time", "Time [min:s]"),
    Column(contract.ONSET_S, "Onset [s]", 1),
    Column(contract.EXERCISE, "Exercise"),
    Column(contract.REPETITION, "Rep", 0),
    Column(contract.NOTE, "Note"),
)
LINK_COLUMNS = (
    Column(contract.SENSOR_ID, "Sensor"),
    Column(contract.PLACEMENT, "Placement"),
    Column("link_packets_ok", "Packets", 0),
    Column("link_malformed_packets", "Malformed", 0),
    Column("link_samples_received", "Samples received", 0),
    Column("link_samples_lost", "Samples lost", 0),
    Column("link_loss_pct", "Lost [%]", 3),
    Column("link_counter_resets", "Restarts", 0),
    Column("pieces", "Gap-free pieces", 0),
    Column("analysed_s", "Analysed [s]", 1),
    metric_column(contract.DURATION_S, 1),  # recorded (the link table's caption says so)
)
#: Postures in which the inverted-pendulum COM model holds (upright trunk).
UPRIGHT_POSTURES = ("sitting", "standing", "kneeling", "upright", "supported_standing", "half_kneeling")


@dataclass
class SessionReport:
    """Where the report went and what it contains."""

    html_path: Path
    figures: list[Path]
    sections: list[str]
    run_id: str
    tables: dict[str, object] = field(default_factory=dict)


def _notes_in(notes: list[dict], onset_s: float, end_s: float) -> str | None:
    """The notes made in ``[onset_s, end_s)`` as ``"N1: text; N2: text"`` (None when none)."""
    inside = [f"{n['mark']}: {n['note']}" for n in notes if onset_s <= n["onset_s"] < end_s]
    return "; ".join(inside) or None


def _with_notes(rows: list[dict], frame, notes: list[dict]) -> list[dict]:
    """Fill each table row's ``notes`` cell from the notes made during its interval."""
    if not rows or not notes:
        return rows
    for row, rec in zip(rows, frame.to_dict("records"), strict=True):
        onset = float(rec[contract.ONSET_S])
        row["notes"] = _notes_in(notes, onset, onset + float(rec[contract.DURATION_S]))
    return rows


def _note_rows(events, names: dict[str, str]) -> list[dict]:
    """The therapist's notes of a session, marked N1, N2, ... in time order."""
    from dmi_sensors.session.events import notes_of

    rows = []
    for k, n in enumerate(notes_of(events), start=1):
        minutes, seconds = divmod(int(n["onset_s"]), 60)
        rows.append(
            {
                "mark": f"N{k}",
                "time": f"{minutes}:{seconds:02d}",
                contract.ONSET_S: n["onset_s"],
                contract.EXERCISE: names.get(n["exercise"], n["exercise"]) or None,
                contract.REPETITION: n["repetition"] or None,
                contract.NOTE: n["note"],
            }
        )
    return rows


def _mark_notes(fig, notes: list[dict]) -> None:
    """Dashed vertical lines at the notes' times in every panel, labelled N1, N2, ... on top."""
    if not notes:
        return
    for ax in fig.axes:
        for n in notes:
            ax.axvline(n["onset_s"], color="#000000", lw=0.8, ls=(0, (4, 2)), alpha=0.9, zorder=3)
    top = fig.axes[0]
    trans = top.get_xaxis_transform()
    for n in notes:
        top.text(
            n["onset_s"],
            0.97,
            f" {n['mark']}",
            transform=trans,
            ha="left",
            va="top",
            fontsize=7,
            fontweight="bold",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            zorder=4,
        )


def _records(df, columns: Sequence[Column]) -> list[dict]:
    if df is None or len(df) == 0:
        return []
    keys = [c.key for c in columns]
    keys += [floor_name(k) for k in keys if k in REGISTRY and has_noise_floor(k)]  # "below noise floor" cells
    out = []
    for rec in df.to_dict("records"):
        row = {}
        for key in keys:
            v = rec.get(key)
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            row[key] = v
        out.append(row)
    return out


def exercise_names(plan: Plan | None = None) -> dict[str, str]:
    """Exercise id -> the human name a report shows: the plan's name, else the built-in
    catalogue's (:data:`dmi_sensors.session.CATALOGUE`); an id in neither shows as itself."""
    from dmi_sensors.session import CATALOGUE

    names = {k: e.name for k, e in CATALOGUE.items()}
    if plan is not None:
        names.update({e.exercise_id: e.name for e in plan})
    return names


def _primary_rows(df, sensor_id: str | None):
    if df is None or len(df) == 0 or sensor_id is None or contract.SENSOR_ID not in df.columns:
        return df
    return df[df[contract.SENSOR_ID] == sensor_id].reset_index(drop=True)


def _age_years(birth_year, start_utc: str) -> str:
    try:
        return f"about {int(start_utc[:4]) - int(birth_year)} years"
    except (TypeError, ValueError):
        return "unknown"


def _fmt_duration(seconds: float) -> str:
    m, s = divmod(round(float(seconds)), 60)
    return f"{m} min {s:02d} s"


def parents_summary(
    subject_id: str, exercises, names: dict[str, str], link_rows: list[dict], previous=None
) -> list[str]:
    """Plain-language sentences for parents from the primary sensor's exercise table.

    ``previous``: the same table of an earlier session (optional) for a comparison.
    """
    if exercises is None or len(exercises) == 0:
        return ["No exercise was tagged in this session, so there is nothing to summarise yet."]
    n_ex = len(exercises)
    n_reps = int(exercises[contract.REPETITIONS].sum())
    order = {s: k for k, s in enumerate(contract.SUPPORT_POINTS)}
    supports = sorted({s for s in exercises[contract.SUPPORT] if s}, key=lambda s: order.get(s, 99))
    out = [f"In this session {subject_id} practised {n_ex} exercises with {n_reps} repetitions in total."]
    if supports:
        if len(supports) == 1:
            out.append(f"The therapist gave support at the {supports[0]} throughout.")
        else:
            out.append(
                f"The therapist's support moved from the {supports[0]} (more help) to "
                f"{'no support' if supports[-1] == 'none' else 'the ' + supports[-1]} (less help)."
            )
    upright = exercises[exercises[contract.POSTURE_DETECTED].isin(UPRIGHT_POSTURES)]
    area = upright.dropna(subset=[AREA])
    if len(area) >= 2:
        best = area.loc[area[AREA].idxmin()]
        worst = area.loc[area[AREA].idxmax()]
        out.append(
            f"While holding a position, the body swayed least in “{names.get(best['exercise'], best['exercise'])}” "
            f"(sway area {format_number(best[AREA], 0)} {AREA_UNIT}) and most in "
            f"“{names.get(worst['exercise'], worst['exercise'])}” "
            f"({format_number(worst[AREA], 0)} {AREA_UNIT})."
            " Less help from the therapist usually means more sway: that is expected."
        )
    tts = [x for x in exercises[contract.TIME_TO_STABILISE_S] if x is not None and np.isfinite(x)]
    if tts:
        med = float(np.median(tts))
        when = "almost at once" if med < 0.5 else f"within about {format_number(med, 1)} s"
        out.append(
            f"After each movement, {subject_id} was steady again {when} (middle value over the exercises; "
            f"{len(tts)} of {n_ex} exercises had a measurable time)."
        )
    if previous is not None and len(previous):
        comparisons = []
        for row in exercises.itertuples(index=False):
            if row.posture_detected not in UPRIGHT_POSTURES:
                continue  # the pendulum COM model (sway) applies to an upright trunk only
            prev = previous[(previous[contract.EXERCISE] == row.exercise) & (previous[contract.SUPPORT] == row.support)]
            if len(prev) and getattr(row, AREA) and prev[AREA].iloc[0]:
                change = 100.0 * (getattr(row, AREA) / prev[AREA].iloc[0] - 1.0)
                word = "less" if change < 0 else "more"
                comparisons.append(
                    f"“{names.get(row.exercise, row.exercise)}”: {format_number(abs(change), 0)} % {word} sway"
                )
        if comparisons:
            out.append("Compared with the previous session at the same support: " + "; ".join(comparisons) + ".")
    if link_rows:
        worst_loss = max(float(r.get("link_loss_pct") or 0.0) for r in link_rows)
        out.append(
            f"Data quality: the sensors delivered at least {format_number(100.0 - worst_loss, 1)} % of their samples."
        )
    return out


def _timeline(signals, pieces, events, primary_id: str, notes: list[dict] | None = None):
    from dmi_sensors.analysis.session import com_timeline
    from dmi_sensors.analysis.stored_run import concat_pieces
    from dmi_sensors.report.figures import timeline_figure

    t = signals.time_s
    com_ap, com_ml = com_timeline(signals, pieces, events)
    panels = {
        # one reference per exercise, across gaps; no line where the posture has no pendulum model
        "COM (standing, sitting)": {"com_ap_mm": com_ap, "com_ml_mm": com_ml},
        "trunk tilt": {
            "tilt_ap_deg": np.degrees(concat_pieces(signals, pieces, "tilt_ap_rad")),
            "tilt_ml_deg": np.degrees(concat_pieces(signals, pieces, "tilt_ml_rad")),
        },
        "horizontal acc.": {
            "acc_ap_mps2": concat_pieces(signals, pieces, "acc_ap_mps2"),
            "acc_ml_mps2": concat_pieces(signals, pieces, "acc_ml_mps2"),
        },
    }
    ev = events
    if ev is not None and len(ev) and contract.KIND in ev.columns:
        ev = ev[ev[contract.KIND].isin(("exercise", "repetition"))]
    fig = timeline_figure(t, panels, ev, title=f"Sensor {primary_id}: session timeline")
    _mark_notes(fig, notes or [])
    return fig


def _stabilograms(pieces, exercises, repetitions, names, ellipse_method: str):
    from dmi_sensors.analysis.stored_run import hold_slices
    from dmi_sensors.report.figures import StabilogramPanel, stabilogram_figure

    panels = []
    upright = exercises[
        exercises[contract.POSTURE_DETECTED].isin(UPRIGHT_POSTURES)
        | ((exercises[contract.POSTURE_DETECTED] == "") & exercises[contract.POSTURE_PLANNED].isin(UPRIGHT_POSTURES))
    ]
    for ex in (upright if len(upright) else exercises).itertuples(index=False):
        reps = repetitions[(repetitions[contract.EXERCISE] == ex.exercise)] if len(repetitions) else repetitions
        if len(reps):
            reps = reps[
                (reps[contract.ONSET_S] >= ex.onset_s - 1e-9) & (reps[contract.ONSET_S] < ex.onset_s + ex.duration_s)
            ]
            reps = reps[reps[contract.HOLD_START_S].notna()]
        spans = (
            [(float(r.hold_start_s), float(r.hold_end_s)) for r in reps.itertuples(index=False)] if len(reps) else []
        )
        if not spans:
            spans = [(float(ex.onset_s), float(ex.onset_s + ex.duration_s))]
        traces = []
        for a, b in spans:
            found = hold_slices(pieces, a, b)
            if found is None:
                continue
            k, sl = found
            if sl.stop - sl.start >= 3:
                traces.append((pieces[k].com_ap_mm[sl], pieces[k].com_ml_mm[sl]))
        if not traces:
            continue
        area = format_number(getattr(ex, AREA), 0)
        panels.append(
            StabilogramPanel(
                textwrap.fill(f"{names.get(ex.exercise, ex.exercise)}", 34),
                traces,
                support=str(ex.support),
                subtitle=f"median ellipse {area} {AREA_UNIT}, {len(traces)} holds",
            )
        )
    if not panels:
        return None
    return stabilogram_figure(panels, ellipse_method=ellipse_method, title="COM stabilograms per exercise")


def _protocol_section(rep: HtmlReport, scores) -> None:
    """The scores of the standard protocol(s) the session followed (:mod:`dmi_sensors.analysis.protocols`)."""
    from dmi_sensors.session.protocols import PROTOCOLS

    rep.section("Standard protocol", PROTOCOL_SECTION)
    for pid, g in scores.groupby("protocol", sort=False):
        p = PROTOCOLS.get(str(pid))
        rep.heading(p.name if p is not None else str(pid))
        if p is not None:
            rep.paragraph(f"{p.description} Reference: {p.reference}.", "note")
        if pid == "satco":
            level = g[g["score"] == "satco_level_controlled"]["value_text"]
            learning = g[g["score"] == "satco_level_learning"]["value_text"]
            if len(level):
                text = (str(level.iloc[0]) or "no level tested").replace("_", " ")
                learnt = str(learning.iloc[0]).replace("_", " ") if len(learning) and learning.iloc[0] else ""
                more = f"; control being learnt at: {learnt}." if learnt else "."
                rep.paragraph(f"Trunk still (sensor criterion) with support down to: {text}{more}", "summary")
        if pid == "mctsib":
            firm = g[(g["score"] == "romberg_ratio_firm") & (g["metric"] == "com_ellipse_area_mm2")]["value"]
            if len(firm) and firm.iloc[0] is not None and np.isfinite(firm.iloc[0]):
                rep.paragraph(
                    "Romberg ratio (sway area, eyes closed / eyes open, firm surface): "
                    f"{format_number(firm.iloc[0], 2)}.",
                    "summary",
                )
        rep.table(_records(g, PROTOCOL_COLUMNS), PROTOCOL_COLUMNS, f"protocol-{pid}")


def build_session_report(
    store,
    session_id: int,
    out_dir: str | Path,
    *,
    previous_exercises=None,
    stem: str | None = None,
) -> SessionReport:
    """Write ``<out_dir>/session-<id>.html`` (+ PNG figures) from the session's latest stored analysis.

    Raises :class:`~dmi_sensors.errors.ParameterError` when the session was never analysed:
    ``dmi-sensors report SESSION`` analyses it first (``--reanalyse`` appends a new run), as
    does :func:`dmi_sensors.analysis.analyse_session`.
    ``previous_exercises``: the primary sensor's exercise table of an earlier session, for
    the parents' comparison (the ``report`` command finds it by itself).
    """
    import pandas as pd

    from dmi_sensors.analysis.stored_run import (
        gate_levels,
        latest_run,
        load_sensor_signals,
        metric_params_from_dict,
        pelvis_signals,
        sway_pieces,
    )
    from dmi_sensors.report.style import figure_png

    info = store.session_info(session_id)
    run = latest_run(store, session_id, sensor_windows=False)
    if run is None:
        raise ParameterError(
            f"session {session_id} has no stored analysis: `dmi-sensors report {session_id}` analyses it "
            f"before writing the report (or call dmi_sensors.analysis.analyse_session(store, {session_id}))"
        )
    plan = Plan.from_toml(info.plan_toml) if info.plan_toml else None
    names = exercise_names(plan)
    primary = run.primary_sensor_id
    ex_all = run.exercises
    rep_all = run.repetitions
    ex_primary = _primary_rows(ex_all, primary)
    rep_primary = _primary_rows(rep_all, primary)
    stem = stem or f"session-{session_id}"
    events = store.events(session_id)
    notes = _note_rows(events, names)
    link_rows = []
    for sid, rec in sorted(run.sensors.items()):
        link_rows.append({contract.SENSOR_ID: sid, **rec.summary})

    rep = HtmlReport(f"DMI session report — subject {info.subject_id}, {info.start_utc[:10]}")
    # -- overview
    rep.section("Session overview", "overview")
    rep.facts(
        {
            "Subject (pseudonymous id)": info.subject_id,
            "Age at session": _age_years(info.birth_year, info.start_utc),
            "Diagnosis category": info.diagnosis_category or "not recorded",
            "COM height": f"{info.com_height_m} m" if info.com_height_m else "unknown",
            "Body height": f"{info.body_height_m} m" if info.body_height_m else "not recorded",
            "Therapist": info.therapist_id or "not recorded",
            "Session start (UTC)": info.start_utc,
            "Duration": _fmt_duration(info.duration_s),
            "Status": info.status,
            "Sensors": ", ".join(f"{s.sensor_id} ({s.placement or 'unplaced'})" for s in info.sensors) or "none",
            "Primary sensor": f"{primary}" if primary else "none",
            "Plan": plan.name if plan is not None else "no plan stored",
            "Therapist's notes": str(len(notes)) if notes else "none",
        }
    )
    if plan is not None:
        rep.bullets(
            [
                f"{e.name} — {e.position}, {e.surface}, support: {e.support}, {e.target_repetitions} repetitions"
                for e in plan
            ]
        )
    # -- parents
    rep.section("Summary for parents", "summary")
    prev = _primary_rows(previous_exercises, None) if previous_exercises is not None else None
    for sentence in parents_summary(info.subject_id, ex_primary, names, link_rows, prev):
        rep.paragraph(sentence, "summary")
    rep.raw_note(
        "Sway is measured by a small motion sensor on the trunk. Smaller numbers mean a steadier body; "
        "the numbers are most useful when compared with the same exercise in earlier sessions."
    )
    # -- figures need the signals again
    figures: list[Path] = []
    fig_timeline = fig_stab = None
    if primary is not None:
        signals = load_sensor_signals(store, session_id, primary, run.parameters.get("session", {}))
        mparams = metric_params_from_dict(run.parameters["analysis"])
        pelvis = pelvis_signals(store, run, primary)
        pieces = sway_pieces(signals, mparams, store.events(session_id), pelvis, gate_levels(run, primary))
        if pieces:
            fig_timeline = figure_png(_timeline(signals, pieces, events, primary, notes))
            if len(ex_primary):
                f = _stabilograms(pieces, ex_primary, rep_primary, names, mparams.ellipse_method)
                fig_stab = figure_png(f) if f is not None else None
    rep.section("Timeline", "timeline")
    if fig_timeline:
        caption = (
            "Centre-of-mass displacement (pendulum model), trunk tilt and horizontal trunk acceleration; "
            "bands: tagged exercises coloured by the therapist's support point; dotted lines: repetition starts; "
            "breaks in the lines: lost data."
        )
        if notes:
            caption += " Dashed lines N1, N2, ...: the therapist's notes (table below)."
        ex_events = _exercise_events(events)
        if len(ex_events) > 8:
            caption += (
                " Band numbers: "
                + "; ".join(f"{k} = {names.get(e, e)}" for k, e in enumerate(ex_events[contract.EXERCISE], start=1))
                + "."
            )
        rep.figure(
            fig_timeline,
            f"{stem}-timeline.png",
            "Timeline of COM displacement, trunk tilt and acceleration with exercise bands",
            caption,
        )
    else:
        rep.paragraph("No analysable signal (no sensor with enough gap-free data).")
    if notes:
        rep.heading("Therapist's notes")
        rep.table(notes, NOTE_COLUMNS, "notes-table", caption="Notes typed during the session (key t), in time order")
    else:
        rep.paragraph("No notes were made during this session.", "note")
    # -- per-exercise table
    rep.section("Exercises", "exercises")
    rows = _with_notes(_records(ex_primary, EXERCISE_COLUMNS), ex_primary, notes)
    for r in rows:
        r[contract.EXERCISE] = names.get(r[contract.EXERCISE], r[contract.EXERCISE])
    caption = f"Sensor {primary}: one row per exercise" if primary else "No sensor had analysable data"
    rep.table(rows, EXERCISE_COLUMNS, "exercise-table", caption=caption)
    rep.raw_note(
        "COM and ISway values are medians over the exercise's repetition holds (the part of each repetition "
        "after the movement); time to stabilise is the median over repetitions that reached a stable state. "
        "COM values use an inverted-pendulum model that holds for an upright trunk; for lying and four-point "
        "exercises they describe trunk movement, not balance."
    )
    # -- stabilograms
    rep.section("Stabilograms", "stabilograms")
    if fig_stab:
        rep.figure(
            fig_stab,
            f"{stem}-stabilograms.png",
            "COM stabilograms per exercise with 95 % ellipses",
            "Each colour is one repetition's hold, centred on its mean; the closed curve is its 95 % "
            "prediction ellipse. All panels share the same scale. Upright exercises only (the pendulum COM "
            "model does not apply to lying or four-point positions).",
        )
    else:
        rep.paragraph("No exercise with analysable holds.")
    # -- a standard protocol's scores
    scores = run.protocol_scores
    if scores is not None and len(scores):
        _protocol_section(rep, scores)
    # -- therapist
    rep.section("Details for the therapist", "therapist")
    rep.heading("Repetitions (primary sensor)")
    reps_rows = _with_notes(_records(rep_primary, REPETITION_COLUMNS), rep_primary, notes)
    for r in reps_rows:
        r[contract.EXERCISE] = names.get(r[contract.EXERCISE], r[contract.EXERCISE])
    rep.table(reps_rows, REPETITION_COLUMNS, "repetition-table")
    others = [sid for sid in sorted(run.sensors) if sid != primary]
    for sid in others:
        ex_other = _primary_rows(ex_all, sid)
        rows_o = _with_notes(_records(ex_other, EXERCISE_COLUMNS), ex_other, notes)
        for r in rows_o:
            r[contract.EXERCISE] = names.get(r[contract.EXERCISE], r[contract.EXERCISE])
        placement = run.sensors[sid].summary.get(contract.PLACEMENT, "")
        rep.heading(f"Exercises, sensor {sid} ({placement})")
        rep.table(rows_o, EXERCISE_COLUMNS, f"exercise-table-{_css_id(sid)}")
    if len(ex_primary):
        mismatch = ex_primary[
            (ex_primary[contract.POSTURE_DETECTED] != "")
            & (ex_primary[contract.POSTURE_DETECTED] != ex_primary[contract.POSTURE_PLANNED])
            & ~(
                (ex_primary[contract.POSTURE_DETECTED] == "upright")
                & ex_primary[contract.POSTURE_PLANNED].isin(UPRIGHT_POSTURES)
            )
        ]
        if len(mismatch):
            rep.paragraph(
                "Posture check: detected posture differs from the plan in "
                + ", ".join(
                    f"{names.get(r.exercise, r.exercise)} (planned {r.posture_planned}, detected {r.posture_detected})"
                    for r in mismatch.itertuples(index=False)
                )
                + ".",
                "warning",
            )
        else:
            rep.paragraph("Posture check: the automatically detected posture agrees with the plan for every exercise.")
    a = run.parameters.get("analysis", {})
    s = run.parameters.get("session", {})
    rep.heading("Methods")
    rep.bullets(
        [
            f"Orientation: {a.get('orientation_filter')} filter; COM by the {a.get('com_method')} method "
            f"(COM height {run.parameters.get('com_height_m')} m), low-pass {a.get('com_lowpass_hz')} Hz.",
            f"95 % ellipse: {a.get('ellipse_method')}; ISway acceleration frame: {a.get('acc_frame')}, "
            f"low-pass {a.get('acc_lowpass_hz')} Hz.",
            f"Holds start {s.get('repetition_movement_s')} s after each tagged repetition start; time to stabilise "
            "(moving RMS) is measured from there until the next repetition.",
            f"Sliding windows of {s.get('window_s')} s; gap-free pieces shorter than {s.get('min_piece_s')} s "
            "are not analysed.",
            "Frames: " + ", ".join(f"{k}: {v}" for k, v in (run.parameters.get("frames") or {}).items()),
        ]
    )
    # -- link
    rep.section("Link statistics", "link")
    rep.table(
        link_rows,
        LINK_COLUMNS,
        "link-table",
        caption="Duration: recorded seconds; analysed: in gap-free pieces long enough to analyse. "
        "Samples lost are counted from the sensors' counters"
        + ("; an imported session has samples, not packets (–)" if info.origin == "import" else ""),
    )
    for r in link_rows:
        if r.get("link_malformed_reasons"):
            rep.paragraph(f"{r['sensor_id']}: malformed packets by reason {r['link_malformed_reasons']}", "note")
    # -- provenance
    rep.section("Provenance", "provenance")
    rep.facts(
        {
            "Analysis run": run.run_id,
            "Computed (UTC)": run.created_utc,
            "dmi-sensors version": run.package_version,
            "Stored result ids": ", ".join(f"{k}={v}" for k, v in sorted(run.record_ids.items())),
        }
    )
    params_text = json.dumps({k: v for k, v in run.parameters.items() if k != "stabilisation"}, indent=1, default=str)
    rep.parts.append(f"<details><summary>All parameters</summary><pre>{_escape(params_text)}</pre></details>")

    path = rep.write(out_dir, stem)
    for f in rep.figures:
        figures.append(Path(out_dir) / f.filename)
    return SessionReport(
        html_path=path,
        figures=figures,
        sections=rep.sections,
        run_id=run.run_id,
        tables={
            "exercise-table": ex_primary,
            "repetition-table": rep_primary,
            "link-table": pd.DataFrame(link_rows),
            "notes-table": pd.DataFrame(notes),
        },
    )


def _exercise_events(events):
    if events is None or len(events) == 0 or contract.KIND not in events.columns:
        return events.iloc[0:0] if events is not None else None
    return events[events[contract.KIND] == "exercise"].sort_values(contract.ONSET_S)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _css_id(text: str) -> str:
    from dmi_sensors.report.html import slug

    return slug(text)
