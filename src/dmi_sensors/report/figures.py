"""Figure functions: plain numpy / pandas in, a matplotlib ``Figure`` out (Agg, report style).

Every function returns a :class:`matplotlib.figure.Figure` whose axes all carry units;
turn it into PNG bytes with :func:`dmi_sensors.report.style.figure_png`.

* :func:`timeline_figure` — signals against session time with exercise bands (coloured by
  the therapist's support point) and repetition marks.
* :func:`stabilogram_figure` — COM displacement (ML horizontal, AP vertical) per exercise
  with its 95 % ellipse (:func:`ellipse_geometry`, numbers from :mod:`dmi_sensors.metrics`).
* :func:`progress_figure` — one metric per panel across sessions, one line per exercise
  at a given support level (one colour per exercise in every panel); plus the support level
  needed per exercise family (greys and black, never an exercise's colour).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError
from dmi_sensors.report._kernels import minmax_buckets_into
from dmi_sensors.report.style import (
    FIG_WIDTH_IN,
    LINESTYLES,
    PALETTE,
    SUPPORT_COLOURS,
    metric_axis_label,
    new_figure,
    report_style,
    unit_label,
    unit_of,
)

__all__ = [
    "FAMILY_STYLES",
    "EllipseGeometry",
    "StabilogramPanel",
    "ellipse_geometry",
    "exercise_styles",
    "minmax_decimate",
    "progress_figure",
    "stabilogram_figure",
    "timeline_figure",
]

#: Largest number of points per trace drawn in a timeline (min/max pairs beyond that).
MAX_TIMELINE_POINTS = 6000


def minmax_decimate(time_s: np.ndarray, values: np.ndarray, max_points: int = MAX_TIMELINE_POINTS):
    """Reduce a trace for drawing while keeping its extremes.

    The samples are cut into ``max_points // 2`` buckets; each bucket contributes its
    minimum and its maximum, in time order. Shorter traces are returned unchanged. NaN
    (gaps) survive: a bucket that is all NaN yields two NaN points, so lines still break.
    """
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n = t.shape[0]
    if n <= max_points:
        return t, v
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    out_t = np.empty(2 * buckets)
    out_v = np.empty(2 * buckets)
    minmax_buckets_into(t, v, edges, out_t, out_v)
    return out_t, out_v


def _exercise_rows(events):
    """Rows of an events table that are exercise intervals (``kind == "exercise"`` or, when
    there is no ``kind``, rows with a duration and no repetition number)."""
    if events is None or len(events) == 0:
        return events
    if contract.KIND in events.columns and events[contract.KIND].notna().any():
        return events[events[contract.KIND] == "exercise"]
    rep = events[contract.REPETITION].fillna(0) if contract.REPETITION in events.columns else 0
    return events[(events[contract.DURATION_S] > 0) & (rep == 0)]


def _repetition_rows(events):
    if events is None or len(events) == 0 or contract.KIND not in events.columns:
        return events.iloc[0:0] if events is not None else None
    return events[events[contract.KIND] == "repetition"]


def timeline_figure(
    time_s: np.ndarray,
    panels: Mapping[str, Mapping[str, np.ndarray]],
    events=None,
    *,
    title: str = "",
    max_points: int = MAX_TIMELINE_POINTS,
    max_named_bands: int = 8,
):
    """Signals against session time with exercise and repetition bands.

    Parameters
    ----------
    time_s
        Sample times, s since session start, shape ``(n,)``; NaN-valued samples (gaps)
        break the lines.
    panels
        Panel label -> {trace name -> values ``(n,)``}. Trace names follow the data
        contract and carry their unit (``com_ap_mm``); all traces in a panel must share
        it. The panel label becomes the y label, with the unit appended.
    events
        Events table (``contract.EVENT_COLUMNS`` + ``kind``): exercise rows are drawn as
        bands coloured by ``support`` and labelled with ``exercise``; repetition rows as
        thin vertical lines at their onsets.
    max_named_bands
        With more exercise rows than this, bands are labelled 1, 2, … (in time order)
        instead of by name, so labels do not collide.
    """
    t = np.asarray(time_s, dtype=np.float64)
    if not panels:
        raise ParameterError("timeline_figure needs at least one panel")
    with report_style():
        fig, axes = new_figure(1.0 + 1.6 * len(panels), nrows=len(panels), ncols=1, sharex=True, squeeze=False)
        axes = axes[:, 0]
        ex = _exercise_rows(events)
        reps = _repetition_rows(events)
        supports_seen: list[str] = []
        for ax, (label, traces) in zip(axes, panels.items(), strict=True):
            units = {unit_of(name) for name in traces}
            if len(units) != 1:
                raise ParameterError(f"panel {label!r} mixes units {sorted(units)}")
            for i, (name, values) in enumerate(traces.items()):
                v = np.asarray(values, dtype=np.float64)
                if v.shape != t.shape:
                    raise ParameterError(f"trace {name!r} has shape {v.shape}, time_s has {t.shape}")
                td, vd = minmax_decimate(t, v, max_points)
                ax.plot(td, vd, color=PALETTE[i % len(PALETTE)], linestyle="-", lw=0.9, label=_trace_label(name))
            ax.set_ylabel(unit_label(label, units.pop()))
            if len(traces) > 1:
                ax.legend(loc="upper right", ncols=len(traces), frameon=True, framealpha=0.85, edgecolor="none")
            if ex is not None:
                for row in ex.itertuples(index=False):
                    support = str(getattr(row, contract.SUPPORT, "none") or "none")
                    colour = SUPPORT_COLOURS.get(support, "#bbbbbb")
                    ax.axvspan(row.onset_s, row.onset_s + row.duration_s, color=colour, alpha=0.18, lw=0)
                    if support not in supports_seen:
                        supports_seen.append(support)
            if reps is not None:
                for onset in reps[contract.ONSET_S].to_numpy(dtype=np.float64):
                    ax.axvline(onset, color="#555555", lw=0.6, ls=":", alpha=0.8)
        top = axes[0]
        if ex is not None and len(ex):
            trans = top.get_xaxis_transform()
            numbered = len(ex) > max_named_bands
            for k, row in enumerate(ex.sort_values(contract.ONSET_S).itertuples(index=False)):
                mid = row.onset_s + row.duration_s / 2
                label = str(k + 1) if numbered else str(row.exercise)
                top.text(
                    mid,
                    1.02 + (0.0 if numbered else 0.09 * (k % 2)),
                    label,
                    transform=trans,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    clip_on=False,
                )
        if supports_seen:
            from matplotlib.patches import Patch

            handles = [Patch(color=SUPPORT_COLOURS.get(s, "#bbbbbb"), alpha=0.35, label=s) for s in supports_seen]
            fig.legend(
                handles=handles,
                loc="outside lower center",
                ncols=min(len(handles), 8),
                title="therapist support (band colour)",
                title_fontsize=8,
                fontsize=8,
            )
        axes[-1].set_xlabel(unit_label("session time", "s"))
        if np.isfinite(t).any():
            axes[-1].set_xlim(float(np.nanmin(t)), float(np.nanmax(t)))
        if title:
            fig.suptitle(title)
    return fig


def _trace_label(name: str) -> str:
    base = name
    for suffix in ("_mm", "_mps2", "_rad", "_deg", "_rps"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("_", " ")


@dataclass(frozen=True)
class EllipseGeometry:
    """A 95 % ellipse of a stabilogram.

    ``centre_ap_mm, centre_ml_mm`` its centre (the mean); ``major_mm, minor_mm`` semi-axes;
    ``angle_rad`` direction of the major axis in the (ML, AP) plane, counter-clockwise
    from +ML; ``area_mm2 = π · major · minor`` (from :func:`dmi_sensors.metrics.ellipse`).
    """

    centre_ap_mm: float
    centre_ml_mm: float
    major_mm: float
    minor_mm: float
    angle_rad: float
    area_mm2: float
    method: str
    n: int

    def outline(self, points: int = 181) -> tuple[np.ndarray, np.ndarray]:
        """``(ml_mm, ap_mm)`` points on the ellipse, closed."""
        phi = np.linspace(0.0, 2.0 * np.pi, points)
        c, s = math.cos(self.angle_rad), math.sin(self.angle_rad)
        u = self.major_mm * np.cos(phi)
        v = self.minor_mm * np.sin(phi)
        return self.centre_ml_mm + c * u - s * v, self.centre_ap_mm + s * u + c * v


def ellipse_geometry(ap_mm: np.ndarray, ml_mm: np.ndarray, method: str = "prediction_F") -> EllipseGeometry:
    """The 95 % ellipse of a COM trace: area and semi-axes from :func:`dmi_sensors.metrics.ellipse`
    (same moments as the stored metric), orientation from the covariance's eigenvectors."""
    from dmi_sensors.metrics import ellipse

    ap = np.asarray(ap_mm, dtype=np.float64)
    ml = np.asarray(ml_mm, dtype=np.float64)
    ok = np.isfinite(ap) & np.isfinite(ml)
    ap, ml = ap[ok], ml[ok]
    n = int(ap.shape[0])
    if n < 3:
        raise ParameterError(f"an ellipse needs at least 3 finite samples, got {n}")
    mu_ap, mu_ml = float(ap.mean()), float(ml.mean())
    dap, dml = ap - mu_ap, ml - mu_ml
    var_ap, var_ml, cov = float(np.mean(dap * dap)), float(np.mean(dml * dml)), float(np.mean(dap * dml))
    area, major, minor = ellipse(var_ap, var_ml, cov, n, method)
    # eigenvector of the (ML, AP) covariance with the larger eigenvalue
    s = np.array([[var_ml, cov], [cov, var_ap]])
    w, vecs = np.linalg.eigh(s)
    v = vecs[:, int(np.argmax(w))]
    return EllipseGeometry(
        centre_ap_mm=mu_ap,
        centre_ml_mm=mu_ml,
        major_mm=float(major),
        minor_mm=float(minor),
        angle_rad=float(math.atan2(v[1], v[0])),
        area_mm2=float(area),
        method=method,
        n=n,
    )


@dataclass(frozen=True)
class StabilogramPanel:
    """One exercise in :func:`stabilogram_figure`.

    ``traces``: one ``(ap_mm, ml_mm)`` pair per hold (or one for the whole exercise);
    ``subtitle``: a second title line (e.g. the stored median ellipse area).
    """

    title: str
    traces: Sequence[tuple[np.ndarray, np.ndarray]]
    support: str = "none"
    subtitle: str = ""


def stabilogram_figure(
    panels: Sequence[StabilogramPanel],
    *,
    ellipse_method: str = "prediction_F",
    ncols: int = 3,
    title: str = "",
    demean: bool = True,
):
    """Stabilograms (ML horizontal, + left; AP vertical, + forward) with 95 % ellipses.

    Each panel overlays its traces (each de-meaned when ``demean``, as the metrics are:
    Prieto eq. 3) and draws the 95 % ellipse of each trace (:func:`ellipse_geometry`).
    All panels share the same axis limits so that sway can be compared across exercises.
    The ellipses are attached as ``fig.ellipses`` (one list per panel) for inspection.
    """
    if not panels:
        raise ParameterError("stabilogram_figure needs at least one panel")
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    width = FIG_WIDTH_IN
    with report_style():
        fig, axes = new_figure(width / ncols * nrows * 1.12 + 0.4, width, nrows=nrows, ncols=ncols, squeeze=False)
        all_traces, all_ellipses = [], []
        lim = 1.0
        for p in panels:
            traces, ellipses = [], []
            for ap, ml in p.traces:
                ap = np.asarray(ap, dtype=np.float64)
                ml = np.asarray(ml, dtype=np.float64)
                if demean:
                    ap = ap - np.nanmean(ap)
                    ml = ml - np.nanmean(ml)
                e = ellipse_geometry(ap, ml, ellipse_method)
                traces.append((ap, ml))
                ellipses.append(e)
                lim = max(lim, float(np.nanmax(np.abs(ap))), float(np.nanmax(np.abs(ml))), e.major_mm)
            all_traces.append(traces)
            all_ellipses.append(ellipses)
        lim = _nice_limit(lim * 1.05)
        for k, ax in enumerate(axes.ravel()):
            if k >= len(panels):
                ax.set_visible(False)
                continue
            p = panels[k]
            for i, ((ap, ml), e) in enumerate(zip(all_traces[k], all_ellipses[k], strict=True)):
                colour = PALETTE[i % len(PALETTE)]
                ax.plot(ml, ap, color=colour, lw=0.5, alpha=0.55, linestyle="-")
                ex, ey = e.outline()
                ax.plot(ex, ey, color=colour, lw=1.5, linestyle="-")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            head = p.title if not p.subtitle else f"{p.title}\n{p.subtitle}"
            ax.set_title(head, fontsize=7.5)
            ax.set_xlabel(unit_label("COM ML (+ left)", "mm"), fontsize=8)
            ax.set_ylabel(unit_label("COM AP (+ fwd)", "mm"), fontsize=8)
            ax.tick_params(labelsize=7)
        if title:
            fig.suptitle(title)
        fig.ellipses = all_ellipses
    return fig


def _nice_limit(x: float) -> float:
    """Round up to 1, 2, 2.5 or 5 times a power of ten."""
    if not x > 0:
        return 1.0
    p = 10.0 ** math.floor(math.log10(x))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if x <= m * p + 1e-12:
            return m * p
    return 10.0 * p


#: Line styles of the exercise families in the support panel: greys and black with their own
#: markers, so no family shares a colour with an exercise of the other panels.
FAMILY_STYLES: tuple[tuple[str, str, str | tuple], ...] = (
    ("#000000", "s", "-"),
    ("#6b6b6b", "D", "--"),
    ("#333333", "^", "-."),
    ("#8c8c8c", "v", ":"),
    ("#1a1a1a", "o", (0, (5, 1, 1, 1))),
    ("#555555", "P", (0, (3, 1))),
)


def exercise_styles(exercises: Sequence[str]) -> dict[str, tuple[str, str | tuple]]:
    """One ``(colour, line style)`` per exercise id, the same in every panel of a progress
    figure: the colour-blind-safe palette in the order given, then the next line style."""
    out: dict[str, tuple[str, str | tuple]] = {}
    for i, ex in enumerate(dict.fromkeys(exercises)):
        out[ex] = (PALETTE[i % len(PALETTE)], LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)])
    return out


def _date_axis(ax, dates) -> None:
    """Dates on the x axis that fit one session as well as many: a few days' margin around
    the sessions, a tick under each day's first session (at most 8 days, else evenly spaced
    ticks), ISO dates."""
    import matplotlib.dates as mdates
    import pandas as pd
    from matplotlib.ticker import FixedLocator, NullLocator

    stamps = sorted(pd.Timestamp(d) for d in dates if not pd.isna(d))
    if not stamps:
        return
    first_of_day: dict[pd.Timestamp, pd.Timestamp] = {}
    for t in stamps:
        first_of_day.setdefault(t.normalize(), t)  # a tick under each day's first session
    pad = max((stamps[-1] - stamps[0]) * 0.06, pd.Timedelta(days=2))
    ax.set_xlim(stamps[0] - pad, stamps[-1] + pad)
    if len(first_of_day) <= 8:
        ticks = [t.to_pydatetime() for t in first_of_day.values()]
        ax.xaxis.set_major_locator(FixedLocator(mdates.date2num(ticks)))
    else:
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")


def progress_figure(
    table,
    metrics: Sequence[tuple[str, str]],
    supports=None,
    *,
    x: str = "session_date",
    title: str = "",
    names: Mapping[str, str] | None = None,
):
    """Progress across sessions: one panel per metric, one line per exercise (and support).

    Parameters
    ----------
    table
        Tidy DataFrame, one row per session × exercise, with columns ``x`` (session date as
        ``datetime64`` or a session number), ``exercise``, ``support`` and each metric
        column named in ``metrics``.
    metrics
        ``(column, panel title)``; the y axis is the column's label and unit from the
        metric registry (:func:`metric_axis_label`: ``com_ellipse_area_mm2`` ->
        ``"COM 95 % ellipse area [mm²]"``).
    supports
        Optional DataFrame with columns ``x``, ``family`` and ``support_level`` (index in
        :data:`dmi_sensors.contract.SUPPORT_POINTS`): drawn in a last panel, one grey or
        black line per exercise family (up = more distal = less help needed). Without it,
        the support of each exercise is drawn (in the exercise's colour).
    names
        Exercise id -> the name the legend shows (default: the id).

    One colour per exercise in every panel (:func:`exercise_styles`); an exercise practised at
    several support levels keeps its colour with another line style. Dates: a few days'
    margin around the sessions and ticks at their days, so one session and many both read
    well (no date locator warnings).
    """
    import pandas as pd

    if table is None or len(table) == 0:
        raise ParameterError("progress_figure needs at least one row")
    df = table.copy()
    names = dict(names or {})
    dates = pd.api.types.is_datetime64_any_dtype(df[x])
    n_panels = len(metrics) + 1
    styles = exercise_styles(sorted(df[contract.EXERCISE].astype(str).unique(), key=lambda e: names.get(e, e)))
    with report_style():
        fig, axes = new_figure(1.0 + 1.9 * n_panels, nrows=n_panels, ncols=1, sharex=True, squeeze=False)
        axes = axes[:, 0]
        groups = list(df.groupby([contract.EXERCISE, contract.SUPPORT], sort=True, dropna=False))
        supports_of: dict[str, list[str]] = {}
        for exercise, support in (k for k, _ in groups):
            supports_of.setdefault(str(exercise), []).append(str(support))
        for ax, (column, panel_title) in zip(axes, metrics, strict=False):
            for (exercise, support), g in groups:
                colour, style = styles[str(exercise)]
                k = supports_of[str(exercise)].index(str(support))
                if k:
                    style = LINESTYLES[(LINESTYLES.index(style) + k) % len(LINESTYLES)]
                label = names.get(str(exercise), str(exercise))
                if len(supports_of[str(exercise)]) > 1:
                    label += f" (support: {support})"
                g = g.sort_values(x)
                y = pd.to_numeric(g[column], errors="coerce")
                ax.plot(g[x], y, marker="o", color=colour, linestyle=style, label=label)
            ax.set_ylabel(metric_axis_label(column))
            ax.set_title(panel_title, loc="left", fontsize=9.5)
        ax = axes[-1]
        order = {s: k for k, s in enumerate(contract.SUPPORT_POINTS)}
        if supports is None:
            for (exercise, _support), g in groups:
                colour, style = styles[str(exercise)]
                g = g.sort_values(x)
                ax.plot(g[x], g[contract.SUPPORT].map(order), marker="s", color=colour, linestyle=style)
            ax.set_title("support practised per exercise (higher = less help)", loc="left", fontsize=9.5)
        else:
            for i, (family, g) in enumerate(supports.groupby("family", sort=True)):
                colour, marker, style = FAMILY_STYLES[i % len(FAMILY_STYLES)]
                g = g.sort_values(x)
                ax.plot(
                    g[x], g["support_level"], marker=marker, color=colour, linestyle=style, label=str(family), lw=1.2
                )
            heading = "most distal support practised per exercise family (higher = less help)"
            ax.set_title(heading, loc="left", fontsize=9.5)
            ax.legend(
                loc="upper center",
                bbox_to_anchor=(0.5, -0.66),
                fontsize=7.5,
                ncols=2,
                title="exercise family (last panel)",
                title_fontsize=8,
            )
        ax.set_yticks(range(len(contract.SUPPORT_POINTS)), list(contract.SUPPORT_POINTS), fontsize=7)
        ax.set_ylim(-0.5, len(contract.SUPPORT_POINTS) - 0.5)
        ax.set_ylabel(unit_label("support", "point"))
        ax.set_xlabel(unit_label("session date", "UTC") if dates else unit_label("session", "number"))
        if dates:
            _date_axis(ax, df[x])
        else:
            values = sorted(pd.to_numeric(df[x]).unique())
            ax.set_xticks(values)
            ax.set_xlim(values[0] - 0.5, values[-1] + 0.5)
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncols=1, fontsize=7.5, title="exercise (colour)")
        if title:
            fig.suptitle(title)
    return fig
