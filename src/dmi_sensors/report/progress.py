"""Progress across sessions of one subject: sway, stabilisation and the support needed.

Three questions, each answered from the stored per-exercise tables (primary sensor, latest
analysis run of every session):

* **Is the child swaying less?** — the 95 % ellipse area and COM RMS of the same exercise
  at the same support level, session by session.
* **Stabilising faster?** — the median time to stabilise after each repetition's movement.
* **Needing less proximal support?** — per exercise *family* (position and surface, e.g.
  standing on the DMI box), the most distal support point practised in each session on
  the proximal -> distal scale of :data:`dmi_sensors.contract.SUPPORT_POINTS`.

Sections of the HTML: ``overview``, ``summary``, ``charts``, ``progress-table``,
``support-table``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.registry import spec
from dmi_sensors.report.html import Column, HtmlReport, format_number, metric_column
from dmi_sensors.report.session import AREA, UPRIGHT_POSTURES
from dmi_sensors.session import Plan

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PROGRESS_COLUMNS",
    "PROGRESS_METRICS",
    "ProgressReport",
    "build_progress_report",
    "progress_table",
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


@dataclass
class ProgressReport:
    html_path: Path
    figures: list[Path]
    sections: list[str]
    table: pd.DataFrame
    trends: pd.DataFrame
    supports: pd.DataFrame


def progress_table(store, subject_id: str):
    """One row per session × exercise (primary sensor, latest run of each analysed session).

    Columns: ``session_id, session_date`` (UTC datetime), ``session_date_text``,
    ``exercise, support, family`` (``position/surface`` from the plan, or the exercise id)
    and the exercise-table metrics as stored.
    """
    import pandas as pd

    from dmi_sensors.analysis.stored_run import latest_run

    frames = []
    for info in store.sessions():
        if info.subject_id != subject_id:
            continue
        run = latest_run(store, info.session_id)
        if run is None or len(run.exercises) == 0:
            continue
        ex = run.exercises
        if run.primary_sensor_id is not None:
            ex = ex[ex[contract.SENSOR_ID] == run.primary_sensor_id]
        ex = ex.copy()
        plan = Plan.from_toml(info.plan_toml) if info.plan_toml else None
        family = {e.exercise_id: f"{e.position} on {e.surface.replace('_', ' ')}" for e in plan} if plan else {}
        ex.insert(0, "session_id", info.session_id)
        date = pd.Timestamp(info.start_utc).tz_localize(None) if info.start_utc else pd.NaT
        ex.insert(1, "session_date", pd.Series(date, index=ex.index, dtype="datetime64[ns]"))
        ex.insert(2, "session_date_text", info.start_utc[:10])
        ex["family"] = [family.get(e, e) for e in ex[contract.EXERCISE]]
        frames.append(ex)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["session_date", "session_id", contract.ONSET_S], kind="stable").reset_index(drop=True)


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
    return pd.DataFrame(rows).sort_values(["family", "session_date", "session_id"]).reset_index(drop=True)


def _sentences(subject_id: str, table, trends, supports) -> list[str]:
    """Plain-language lines; sway comparisons only for upright exercises (pendulum COM model)."""
    n_sessions = table["session_id"].nunique()
    dates = sorted(set(table["session_date_text"]))
    out = [f"{subject_id}: {n_sessions} analysed session(s) from {dates[0]} to {dates[-1]}."]
    if len(trends):
        for r in trends.itertuples(index=False):
            if r.area_change_pct is None or not np.isfinite(r.area_change_pct) or not r.upright:
                continue
            word = "less" if r.area_change_pct < 0 else "more"
            out.append(
                f"{r.exercise} with support at the {r.support}: {format_number(abs(r.area_change_pct), 0)} % "
                f"{word} sway than in the first session ({format_number(r.first_area_mm2, 0)} → "
                f"{format_number(r.last_area_mm2, 0)} {spec(AREA).unit})."
            )
    else:
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


def build_progress_report(store, subject_id: str, out_dir: str | Path, *, stem: str | None = None) -> ProgressReport:
    """Write ``<out_dir>/progress-<subject>.html`` (+ PNG) for one subject's analysed sessions."""
    from dmi_sensors.report.figures import progress_figure
    from dmi_sensors.report.style import figure_png

    table = progress_table(store, subject_id)
    if len(table) == 0:
        raise ParameterError(f"subject {subject_id!r} has no analysed session in {store.path}")
    trends = trend_table(table)
    supports = support_table(table)
    stem = stem or f"progress-{subject_id}"
    rep = HtmlReport(f"Progress report — subject {subject_id}")
    rep.section("Sessions", "overview")
    sessions = table.drop_duplicates("session_id")
    rep.bullets(
        [
            f"Session {int(r.session_id)}: {r.session_date_text}, {int((table['session_id'] == r.session_id).sum())} "
            "exercises"
            for r in sessions.itertuples(index=False)
        ]
    )
    rep.section("Summary", "summary")
    for s in _sentences(subject_id, table, trends, supports):
        rep.paragraph(s, "summary")
    rep.section("Charts", "charts")
    upright = (
        table[table[contract.POSTURE_DETECTED].isin(UPRIGHT_POSTURES)] if contract.POSTURE_DETECTED in table else table
    )
    chart = upright if len(upright) else table
    png = figure_png(progress_figure(chart, PROGRESS_METRICS, supports, title=f"Subject {subject_id}: progress"))
    rep.figure(
        png,
        f"{stem}.png",
        "Progress charts: sway, time to stabilise and support across sessions",
        "One line per exercise at one support level (same colour in every panel; upright exercises only); "
        "last panel: the most distal support practised per exercise family, higher = less help.",
    )
    rep.section("Progress table", "progress-table")
    rep.table(
        table.to_dict("records"),
        PROGRESS_COLUMNS,
        "progress-table",
        caption="Stored per-exercise results (primary sensor), latest analysis of each session",
    )
    rep.heading("First and last session at the same support")
    rep.table(trends.to_dict("records") if len(trends) else [], TREND_COLUMNS, "trend-table")
    rep.section("Support", "support-table")
    rep.table(supports.to_dict("records") if len(supports) else [], SUPPORT_COLUMNS, "support-table")
    path = rep.write(out_dir, stem)
    return ProgressReport(
        path, [Path(out_dir) / f.filename for f in rep.figures], rep.sections, table, trends, supports
    )
