"""Progress across sessions of one subject: sway, stabilisation and the support needed.

Three questions, each answered from the stored per-exercise tables (primary sensor, latest
analysis run of every session):

* **Is the child swaying less?** — the 95 % ellipse area and COM RMS of the same exercise
  at the same support level, session by session.
* **Stabilising faster?** — the median time to stabilise after each repetition's movement.
* **Is this change real?** — for every exercise at the same support level in more than one
  session, the change of each metric of :data:`CHANGE_METRICS` against its minimal detectable
  change (MDC95) from the repetitions' own variation
  (:func:`dmi_sensors.metrics.reliability.change_table`): *beyond* or *within measurement
  noise*.
* **Needing less proximal support?** — per exercise *family* (position and surface, e.g.
  standing on the DMI box), the most distal support point practised in each session on
  the proximal -> distal scale of :data:`dmi_sensors.contract.SUPPORT_POINTS`.

Exercises are shown by their names (the session's plan, else the built-in catalogue), with
one colour per exercise in every chart; a table with nothing to show is replaced by a
sentence saying why.

The HTML is built section by section (:data:`SECTIONS`: id and builder, in order): a new
section (e.g. a minimal-detectable-change verdict) is one more builder taking the
:class:`ProgressData` and the :class:`~dmi_sensors.report.html.HtmlReport`. Sections of the
default report: ``overview``, ``summary``, ``charts``, ``progress-table``, ``changes``,
``support-table``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.registry import spec
from dmi_sensors.metrics.reliability import BEYOND, MDC_FACTOR, MIN_REPETITIONS, WITHIN, change_table
from dmi_sensors.report.html import Column, HtmlReport, format_number, metric_column
from dmi_sensors.report.session import AREA, UPRIGHT_POSTURES, exercise_names
from dmi_sensors.session import CATALOGUE, Exercise, Plan

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHANGE_COLUMNS",
    "CHANGE_METRICS",
    "PROGRESS_COLUMNS",
    "PROGRESS_METRICS",
    "SECTIONS",
    "ProgressData",
    "ProgressReport",
    "build_progress_report",
    "change_rows",
    "family_name",
    "progress_data",
    "progress_table",
    "repetition_values",
    "subject_runs",
    "support_table",
    "trend_table",
]

TTS = contract.TIME_TO_STABILISE_S

#: (metric, panel title) of the progress charts; the y axis is the metric's registry header.
PROGRESS_METRICS = (
    (AREA, "Swaying less? (holds)"),
    ("com_rms_ap_mm", "Swaying less? (holds)"),
    (TTS, "Stabilising faster after each movement?"),
)
PROGRESS_COLUMNS = (
    Column("session_date_text", "Date"),
    Column("session_id", "Session", 0),
    Column(contract.EXERCISE, "Exercise"),
    Column(contract.SUPPORT, "Support"),
    Column(contract.REPETITIONS, "Reps", 0),
    metric_column(AREA, 0),
    metric_column("com_rms_ap_mm", 1),
    metric_column("com_rms_ml_mm", 1),
    metric_column(TTS, 2),
    metric_column("acc_rms_ap_mps2", 3),
)

#: Metrics whose change between sessions is judged against the minimal detectable change.
CHANGE_METRICS = (AREA, "com_rms_ap_mm", "com_rms_ml_mm", TTS)
CHANGE_COLUMNS = (
    Column(contract.EXERCISE, "Exercise"),
    Column(contract.SUPPORT, "Support"),
    Column("metric_label", "Measure"),
    Column("from_date", "From"),
    Column("to_date", "To"),
    Column("n_from", "Reps", 0),
    Column("n_to", "Reps", 0),
    Column("value_from", "Before", 2),
    Column("value_to", "After", 2),
    Column("change", "Change", 2),
    Column("change_pct", "Change [%]", 0),
    Column("mdc95", "MDC95", 2),
    Column("mdc95_pct", "MDC95 [%]", 0),
    Column("icc_1_1", "ICC(1,1)", 2),
    Column("verdict", "Verdict"),
)

#: How a position and a surface read in an exercise family's name ("Standing on the DMI box").
POSITION_WORDS = {
    "supine": "Lying on the back",
    "prone": "Lying on the front",
    "side_lying": "Side-lying",
    "sitting": "Sitting",
    "four_point": "Four-point kneeling",
    "kneeling": "Tall kneeling",
    "half_kneeling": "Half-kneeling",
    "standing": "Standing",
    "walking": "Walking",
    "sit_to_stand": "Sit-to-stand",
}
SURFACE_WORDS = {
    "table_top": "the table top",
    "floor": "the floor",
    "dmi_box": "the DMI box",
    "ladder": "a ladder rung",
    "foam": "foam",
}


def _first_last(key: str, metric: str, which: str, decimals: int) -> Column:
    """The first or last session's value of a registry metric, headed from the registry."""
    m = spec(metric)
    return Column(key, f"{which}: {m.header}", decimals)


TREND_COLUMNS = (
    Column(contract.EXERCISE, "Exercise"),
    Column(contract.SUPPORT, "Support"),
    Column("sessions", "Sessions", 0),
    _first_last("first_area_mm2", AREA, "First", 0),
    _first_last("last_area_mm2", AREA, "Last", 0),
    Column("area_change_pct", f"Change of the {spec(AREA).label} [%]", 0),
    _first_last("first_tts_s", TTS, "First", 2),
    _first_last("last_tts_s", TTS, "Last", 2),
)
SUPPORT_COLUMNS = (
    Column("family", "Exercise family"),
    Column("session_date_text", "Date"),
    Column("session_id", "Session", 0),
    Column("most_distal_support", "Most distal support"),
    Column("support_level", "Level (0 = trunk)", 0),
)


def family_name(exercise: Exercise) -> str:
    """The exercise's family: its position on its surface, in words ("Standing on the DMI box")."""
    position = POSITION_WORDS.get(exercise.position, exercise.position.replace("_", " ").capitalize())
    surface = SURFACE_WORDS.get(exercise.surface, exercise.surface.replace("_", " "))
    return f"{position} on {surface}"


@dataclass
class ProgressReport:
    html_path: Path
    figures: list[Path]
    sections: list[str]
    table: pd.DataFrame
    trends: pd.DataFrame
    supports: pd.DataFrame
    names: dict[str, str] = field(default_factory=dict)
    changes: Any = None


@dataclass
class ProgressData:
    """Everything a section of the progress report may show.

    ``table``: :func:`progress_table`; ``trends``: :func:`trend_table`; ``supports``:
    :func:`support_table`; ``names``: exercise id -> name (plans of the sessions, then the
    catalogue); ``stem``: the report's file stem (figures are named after it); ``changes``:
    :func:`change_rows` (None: not computed).
    """

    subject_id: str
    table: pd.DataFrame
    trends: pd.DataFrame
    supports: pd.DataFrame
    names: dict[str, str]
    stem: str
    changes: Any = None

    def name(self, exercise: str) -> str:
        return self.names.get(exercise, exercise)


def progress_table(store, subject_id: str, runs: list[tuple[Any, Any]] | None = None):
    """One row per session × exercise (primary sensor, latest run of each analysed session).

    Columns: ``session_id, session_date`` (UTC datetime), ``session_date_text``,
    ``exercise, support, family`` (:func:`family_name` from the session's plan, else the
    catalogue's exercise, else the exercise id) and the exercise-table metrics as stored.
    ``runs``: :func:`subject_runs` of the subject, if already loaded.
    """
    import pandas as pd

    frames = []
    for info, ex in _subject_tables(subject_runs(store, subject_id) if runs is None else runs, "exercises"):
        plan = Plan.from_toml(info.plan_toml) if info.plan_toml else None
        known = {**CATALOGUE, **({e.exercise_id: e for e in plan} if plan else {})}
        ex["family"] = [family_name(known[e]) if e in known else e for e in ex[contract.EXERCISE]]
        frames.append(ex)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["session_date", "session_id", contract.ONSET_S], kind="stable").reset_index(drop=True)


def subject_runs(store, subject_id: str) -> list[tuple[Any, Any]]:
    """``(session info, latest stored run)`` of each analysed session of ``subject_id``, in
    the store's session order (each run read once)."""
    from dmi_sensors.analysis.stored_run import latest_run

    out = []
    for info in store.sessions():
        if info.subject_id == subject_id:
            run = latest_run(store, info.session_id, sensor_windows=False)
            if run is not None:
                out.append((info, run))
    return out


def _subject_tables(runs: list[tuple[Any, Any]], table: str):
    """``(session info, table)`` per run of :func:`subject_runs` that has rows in ``table``
    (``"exercises"`` or ``"repetitions"``): the primary sensor's rows (a copy), led by
    ``session_id, session_date, session_date_text``."""
    import pandas as pd

    for info, run in runs:
        if len(getattr(run, table)) == 0:
            continue
        rows = getattr(run, table)
        if run.primary_sensor_id is not None:
            rows = rows[rows[contract.SENSOR_ID] == run.primary_sensor_id]
        rows = rows.copy()
        rows.insert(0, "session_id", info.session_id)
        date = pd.Timestamp(info.start_utc).tz_localize(None) if info.start_utc else pd.NaT
        rows.insert(1, "session_date", pd.Series(date, index=rows.index, dtype="datetime64[ns]"))
        rows.insert(2, "session_date_text", info.start_utc[:10])
        yield info, rows


def repetition_values(store, subject_id: str, runs: list[tuple[Any, Any]] | None = None):
    """One row per tagged repetition (primary sensor, latest run of each analysed session):
    ``session_id, session_date, session_date_text``, then the stored repetition table.
    ``runs``: :func:`subject_runs` of the subject, if already loaded."""
    import pandas as pd

    runs = subject_runs(store, subject_id) if runs is None else runs
    frames = [reps for _, reps in _subject_tables(runs, "repetitions")]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def change_rows(repetitions, metrics: Sequence[str] = CHANGE_METRICS):
    """The change/MDC table of :func:`~dmi_sensors.metrics.reliability.change_table` for
    the subject's repetitions, rows without a value in either session left out, with the
    metric's ``unit`` and ``metric_label`` (registry)."""
    import pandas as pd

    if repetitions is None or len(repetitions) == 0:
        return pd.DataFrame()
    table = change_table(repetitions, [m for m in metrics if m in repetitions.columns])
    if len(table) == 0:
        return table
    table = table[table["value_from"].notna() & table["value_to"].notna()].reset_index(drop=True)
    table.insert(table.columns.get_loc("metric") + 1, "unit", [spec(m).unit for m in table["metric"]])
    table.insert(table.columns.get_loc("metric") + 1, "metric_label", [spec(m).label for m in table["metric"]])
    return table


def trend_table(table):
    """Per (exercise, support) seen in at least two sessions: first and last values and change."""
    import pandas as pd

    rows = []
    if len(table) == 0:
        return pd.DataFrame()
    for (exercise, support), g in table.groupby([contract.EXERCISE, contract.SUPPORT], sort=True):
        g = g.sort_values(["session_date", "session_id"])
        if g["session_id"].nunique() < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        a0, a1 = first[AREA], last[AREA]
        change = 100.0 * (a1 / a0 - 1.0) if a0 and a1 and np.isfinite(a0) and np.isfinite(a1) else None
        rows.append(
            {
                contract.EXERCISE: exercise,
                contract.SUPPORT: support,
                "sessions": int(g["session_id"].nunique()),
                "first_area_mm2": a0,
                "last_area_mm2": a1,
                "area_change_pct": change,
                "first_tts_s": first[contract.TIME_TO_STABILISE_S],
                "last_tts_s": last[contract.TIME_TO_STABILISE_S],
                "upright": bool(str(last.get(contract.POSTURE_DETECTED, "")) in UPRIGHT_POSTURES),
            }
        )
    return pd.DataFrame(rows)


def support_table(table):
    """Per exercise family and session: the most distal support point practised."""
    import pandas as pd

    order = {s: k for k, s in enumerate(contract.SUPPORT_POINTS)}
    rows = []
    if len(table) == 0:
        return pd.DataFrame()
    for (family, sid), g in table.groupby(["family", "session_id"], sort=False):
        levels = [order[s] for s in g[contract.SUPPORT] if s in order]
        if not levels:
            continue
        level = max(levels)
        rows.append(
            {
                "family": family,
                "session_id": int(sid),
                "session_date": g["session_date"].iloc[0],
                "session_date_text": g["session_date_text"].iloc[0],
                "most_distal_support": contract.SUPPORT_POINTS[level],
                "support_level": level,
            }
        )
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).sort_values(["family", "session_date", "session_id"]).reset_index(drop=True)


def progress_data(store, subject_id: str, stem: str | None = None) -> ProgressData:
    """The tables and names of one subject's progress report (:class:`ProgressData`)."""
    runs = subject_runs(store, subject_id)
    table = progress_table(store, subject_id, runs)
    if len(table) == 0:
        analysed = [info.session_id for info, _ in runs]
        if analysed:
            raise ParameterError(
                f"subject {subject_id!r}: sessions {', '.join(map(str, analysed))} are analysed but none has a tagged "
                "exercise to follow across sessions (tag with `record --tag --plan PLAN`, or import with --events)"
            )
        raise ParameterError(f"subject {subject_id!r} has no analysed session in {store.path}")
    names = exercise_names()
    for info in store.sessions():
        if info.subject_id == subject_id and info.plan_toml:
            names.update(exercise_names(Plan.from_toml(info.plan_toml)))
    return ProgressData(
        subject_id,
        table,
        trend_table(table),
        support_table(table),
        names,
        stem or f"progress-{subject_id}",
        change_rows(repetition_values(store, subject_id, runs)),
    )


def _sentences(data: ProgressData) -> list[str]:
    """Plain-language lines; sway comparisons only for upright exercises (pendulum COM model)."""
    table, trends, supports = data.table, data.trends, data.supports
    n_sessions = table["session_id"].nunique()
    dates = sorted(set(table["session_date_text"]))
    if n_sessions == 1:
        out = [f"{data.subject_id}: one analysed session so far ({dates[0]}); progress shows from the second one."]
    else:
        out = [f"{data.subject_id}: {n_sessions} analysed sessions from {dates[0]} to {dates[-1]}."]
    if len(trends):
        for r in _rows(trends):
            change = r["area_change_pct"]
            if change is None or not np.isfinite(change) or not r["upright"]:
                continue
            word = "less" if change < 0 else "more"
            out.append(
                f"{data.name(r[contract.EXERCISE])}: {format_number(abs(change), 0)} % "
                f"{word} sway than in the first session ({format_number(r['first_area_mm2'], 0)} → "
                f"{format_number(r['last_area_mm2'], 0)} {spec(AREA).unit})."
            )
    elif n_sessions > 1:
        out.append("No exercise was repeated at the same support level yet, so sway cannot be compared directly.")
    if len(supports):
        for family, g in supports.groupby("family", sort=True):
            if g["session_id"].nunique() < 2:
                continue
            first, last = g.iloc[0], g.iloc[-1]
            if last.support_level > first.support_level:
                out.append(
                    f"{family}: support moved from the {first.most_distal_support} to "
                    f"{'no support' if last.most_distal_support == 'none' else 'the ' + last.most_distal_support}"
                    " — less help needed."
                )
            elif last.support_level < first.support_level:
                out.append(f"{family}: more proximal support than before ({last.most_distal_support}).")
            else:
                out.append(f"{family}: same support level ({last.most_distal_support}).")
    return out


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as plain dicts (column name -> value)."""
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _named(rows: list[dict[str, Any]], data: ProgressData) -> list[dict[str, Any]]:
    """The rows with the exercise shown by its name."""
    for r in rows:
        r[contract.EXERCISE] = data.name(str(r[contract.EXERCISE]))
    return rows


# --- sections: (id, builder) in order; a builder adds its section to the report -------------

Section = Callable[[HtmlReport, ProgressData], None]


def overview_section(rep: HtmlReport, data: ProgressData) -> None:
    rep.section("Sessions", "overview")
    ids = [int(x) for x in data.table["session_id"].tolist()]
    dates = [str(x) for x in data.table["session_date_text"].tolist()]
    rep.bullets([f"Session {sid}: {dates[ids.index(sid)]}, {ids.count(sid)} exercises" for sid in dict.fromkeys(ids)])


def summary_section(rep: HtmlReport, data: ProgressData) -> None:
    rep.section("Summary", "summary")
    for s in _sentences(data):
        rep.paragraph(s, "summary")


def charts_section(rep: HtmlReport, data: ProgressData) -> None:
    from dmi_sensors.report.figures import progress_figure
    from dmi_sensors.report.style import figure_png

    rep.section("Charts", "charts")
    table = data.table
    upright = (
        table[table[contract.POSTURE_DETECTED].isin(UPRIGHT_POSTURES)] if contract.POSTURE_DETECTED in table else table
    )
    chart = upright if len(upright) else table
    supports = data.supports if len(data.supports) else None
    title = f"Subject {data.subject_id}: progress"
    fig = progress_figure(chart, PROGRESS_METRICS, supports, title=title, names=data.names)
    rep.figure(
        figure_png(fig),
        f"{data.stem}.png",
        "Progress charts: sway, time to stabilise and support across sessions",
        "One line per exercise, in the same colour in every panel (upright exercises only; another line style: "
        "the same exercise at another support level); last panel, in greys: the most distal support practised "
        "per exercise family, higher = less help.",
    )


def progress_table_section(rep: HtmlReport, data: ProgressData) -> None:
    rep.section("Progress table", "progress-table")
    rep.table(
        _named(_rows(data.table), data),
        PROGRESS_COLUMNS,
        "progress-table",
        caption="Stored per-exercise results (primary sensor), latest analysis of each session",
    )
    rep.heading("First and last session at the same support")
    if len(data.trends):
        rep.table(_named(_rows(data.trends), data), TREND_COLUMNS, "trend-table")
    else:
        rep.paragraph(
            "No exercise has been practised at the same support level in two sessions yet: "
            "this comparison appears from the second session that repeats one.",
            "note",
        )


def change_sentences(data: ProgressData) -> list[str]:
    """One line per exercise × support for the sway area (first -> last session), in plain words."""
    changes = data.changes
    if changes is None or len(changes) == 0:
        return []
    out = []
    area = changes[(changes["metric"] == AREA) & changes["beyond"].notna()]
    for (exercise, support), g in area.groupby([contract.EXERCISE, contract.SUPPORT], sort=True):
        r = g.iloc[-1]  # consecutive pairs first, then first -> last
        word = "less" if r["change"] < 0 else "more"
        pct = format_number(abs(r["change_pct"]), 0)
        name = data.name(str(exercise))
        if str(support) not in name:
            name += f" (support: {support})"
        if r["verdict"] == BEYOND:
            meaning = (
                "beyond measurement noise: larger than the usual difference between repetitions, "
                "so very likely a real change"
            )
        else:
            meaning = (
                "within measurement noise: no larger than the usual difference between repetitions, "
                "so it cannot be told apart from chance yet"
            )
        if r["scale"] == "log":
            factor = 1.0 + float(r["mdc95_pct"]) / 100.0
            limit = f"here only a change by more than a factor of {format_number(factor, 1)}, up or down, stands out"
        else:
            limit = f"here only a change of more than {format_number(r['mdc95'], 0)} {spec(AREA).unit} stands out"
        out.append(f"{name}: {pct} % {word} sway from {r['from_date']} to {r['to_date']}, {meaning} ({limit}).")
    return out


def changes_section(rep: HtmlReport, data: ProgressData) -> None:
    rep.section("Is this change real?", "changes")
    changes = data.changes
    if changes is None or len(changes) == 0:
        rep.paragraph(
            f"No exercise has been measured at the same support level in two sessions with at least "
            f"{MIN_REPETITIONS} repetitions each yet: the comparison appears once one has.",
            "note",
        )
        return
    rep.paragraph(
        "A child never does a repetition exactly the same way twice. From how much the repetitions within "
        "each session differ, we work out the smallest change that the measurement can tell apart from "
        f"chance (the minimal detectable change, MDC95). A change larger than that is '{BEYOND}': very likely "
        f"real. A smaller one is '{WITHIN}': it may be real, but these measurements cannot show it yet.",
        "explain",
    )
    rep.bullets(change_sentences(data), "summary")
    rows = _named(_rows(changes), data)
    rep.table(
        rows,
        CHANGE_COLUMNS,
        "change-table",
        caption=(
            "Session value: mean of the repetitions (geometric mean for amplitudes and times, whose MDC is a "
            f"percentage); MDC95 = {MDC_FACTOR / 2**0.5:.2f}·√2·SEM, SEM = the within-session SD of one "
            "repetition pooled over the sessions (Weir 2005); a change is beyond measurement noise when it "
            "exceeds the MDC95 of one repetition."
        ),
    )


def support_section(rep: HtmlReport, data: ProgressData) -> None:
    rep.section("Support", "support-table")
    if len(data.supports):
        rep.table(_rows(data.supports), SUPPORT_COLUMNS, "support-table")
    else:
        rep.paragraph("No exercise was tagged with a support point, so the support needed cannot be followed.", "note")


#: The sections of the progress report, in order: ``(id, builder)``.
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("overview", overview_section),
    ("summary", summary_section),
    ("charts", charts_section),
    ("progress-table", progress_table_section),
    ("changes", changes_section),
    ("support-table", support_section),
)


def build_progress_report(
    store,
    subject_id: str,
    out_dir: str | Path,
    *,
    stem: str | None = None,
    sections: Sequence[tuple[str, Section]] = SECTIONS,
) -> ProgressReport:
    """Write ``<out_dir>/progress-<subject>.html`` (+ PNG) for one subject's analysed sessions.

    ``sections``: the section builders in order (default :data:`SECTIONS`).
    """
    data = progress_data(store, subject_id, stem)
    rep = HtmlReport(f"Progress report — subject {subject_id}")
    for _section_id, build in sections:
        build(rep, data)
    path = rep.write(out_dir, data.stem)
    return ProgressReport(
        path,
        [Path(out_dir) / f.filename for f in rep.figures],
        rep.sections,
        data.table,
        data.trends,
        data.supports,
        data.names,
        data.changes,
    )
