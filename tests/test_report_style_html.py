"""Report style, figures without metrics, and the HTML builder / parser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_helpers import assert_real_figure, png_array

from dmi_sensors.report.figures import minmax_decimate, progress_figure, timeline_figure
from dmi_sensors.report.html import Column, HtmlReport, format_number
from dmi_sensors.report.parse import parse_report
from dmi_sensors.report.style import check_units, figure_png, new_figure, report_style, unit_label, unit_of


def test_units_from_contract_names():
    assert unit_of("com_rms_ap_mm") == "mm"
    assert unit_of("com_ellipse_area_mm2") == "mm²"
    assert unit_of("com_mean_velocity_mm_s") == "mm/s"
    assert unit_of("acc_rms_ap_mps2") == "m/s²"
    assert unit_of("jerk_isway_m2_s5") == "m²/s⁵"
    assert unit_of("gyr_x_rps") == "rad/s"
    assert unit_of("time_to_stabilise_s") == "s"
    assert unit_of("com_height_m") == "m"
    with pytest.raises(ValueError, match="no unit"):
        unit_of("exercise")
    assert unit_label("COM AP", "com_ap_mm") == "COM AP [mm]"


def test_figure_without_units_is_refused():
    with report_style():
        fig, ax = new_figure(2.0)
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("time [s]")
        ax.set_ylabel("something")
    with pytest.raises(ValueError, match="no \\[unit\\]"):
        check_units(fig)


def test_minmax_decimate_keeps_extremes_and_gaps():
    t = np.arange(100_000) / 100.0
    v = np.sin(t)
    v[5000] = 7.0
    v[70_000:71_000] = np.nan
    td, vd = minmax_decimate(t, v, 1000)
    assert td.shape == (1000,)
    assert np.nanmax(vd) == 7.0
    assert np.nanmin(vd) == pytest.approx(-1.0, abs=1e-3)
    assert np.isnan(vd).any()
    assert np.all(np.diff(td[np.isfinite(td)]) >= 0)


def _minmax_reference(t, v, max_points):
    """The per-bucket numpy loop minmax_decimate replaced (nanargmin/nanargmax per bucket)."""
    n = t.shape[0]
    if n <= max_points:
        return t, v
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    out_t, out_v = np.empty(2 * buckets), np.empty(2 * buckets)
    for b in range(buckets):
        lo, hi = edges[b], edges[b + 1]
        seg = v[lo:hi]
        if seg.size == 0 or np.all(np.isnan(seg)):
            out_t[2 * b : 2 * b + 2] = t[lo] if hi > lo else np.nan
            out_v[2 * b : 2 * b + 2] = np.nan
            continue
        a, c = sorted((lo + int(np.nanargmin(seg)), lo + int(np.nanargmax(seg))))
        out_t[2 * b], out_t[2 * b + 1] = t[a], t[c]
        out_v[2 * b], out_v[2 * b + 1] = v[a], v[c]
    return out_t, out_v


@pytest.mark.parametrize("max_points", [7, 100, 999, 5000])
def test_minmax_decimate_equals_the_numpy_loop(max_points):
    rng = np.random.default_rng(max_points)
    t = np.arange(20_000) / 100.0
    v = np.round(rng.standard_normal(t.shape[0]), 1)  # ties: the first occurrence wins
    v[rng.integers(0, t.shape[0], 3000)] = np.nan
    v[1000:1400] = np.nan  # all-NaN buckets
    v[3000:3400] = np.where(rng.random(400) < 0.5, np.nan, np.inf)  # only NaN and +inf
    v[5000:5400] = np.where(rng.random(400) < 0.5, np.nan, -np.inf)
    v[7000], v[7001] = -0.0, 0.0
    got = minmax_decimate(t, v, max_points)
    want = _minmax_reference(t, v, max_points)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()


def _events():
    rows = []
    t = 0.0
    for k, (ex, sup) in enumerate([("sit_trunk", "trunk"), ("stand_hips", "hips"), ("stand_none", "none")]):
        rows.append(
            dict(onset_s=t, duration_s=20.0, exercise=ex, repetition=0, support=sup, source="plan", kind="exercise")
        )
        for r in range(3):
            rows.append(
                dict(
                    onset_s=t + 2 + 6 * r,
                    duration_s=6.0,
                    exercise=ex,
                    repetition=r + 1,
                    support=sup,
                    source="manual",
                    kind="repetition",
                )
            )
        t += 20.0 + k
    return pd.DataFrame(rows)


def test_timeline_figure_is_a_real_png():
    t = np.arange(0, 62, 0.01)
    ap = 5 * np.sin(2 * np.pi * 0.3 * t)
    ml = 3 * np.cos(2 * np.pi * 0.2 * t)
    ml[3000:3100] = np.nan
    fig = timeline_figure(
        t, {"COM": {"com_ap_mm": ap, "com_ml_mm": ml}, "tilt AP": {"tilt_ap_rad": ap / 900}}, _events(), title="test"
    )
    png = figure_png(fig)
    img = assert_real_figure(png, 400)
    assert img.shape[1] > img.shape[0]  # landscape


def test_timeline_rejects_mixed_units_and_bad_shapes():
    t = np.arange(10) / 10.0
    with pytest.raises(ValueError, match="mixes units"):
        timeline_figure(t, {"x": {"com_ap_mm": t, "tilt_ap_rad": t}})
    with pytest.raises(ValueError, match="shape"):
        timeline_figure(t, {"x": {"com_ap_mm": t[:5]}})


def test_progress_figure():
    rows = []
    for s, date in enumerate(pd.to_datetime(["2026-01-10", "2026-02-10", "2026-03-10"])):
        for ex, sup in [("stand_box", "hips"), ("stand_box", "knees"), ("sit", "trunk")]:
            rows.append(
                dict(
                    session_date=date,
                    exercise=ex,
                    support=sup,
                    com_ellipse_area_mm2=900 - 200 * s,
                    time_to_stabilise_s=3.0 - 0.5 * s,
                )
            )
    metrics = [("com_ellipse_area_mm2", "sway area"), ("time_to_stabilise_s", "time to stabilise")]
    png = figure_png(progress_figure(pd.DataFrame(rows), metrics))
    assert_real_figure(png, 300)
    supports = pd.DataFrame(
        {
            "session_date": pd.to_datetime(["2026-01-10", "2026-02-10", "2026-03-10"]),
            "family": ["standing on box"] * 3,
            "support_level": [1, 3, 7],
        }
    )
    assert_real_figure(figure_png(progress_figure(pd.DataFrame(rows), metrics, supports)), 300)
    with pytest.raises(ValueError, match="at least one row"):
        progress_figure(pd.DataFrame(), metrics)


def test_progress_axes_show_the_registry_label_and_unit():
    from dmi_sensors.metrics import REGISTRY
    from dmi_sensors.report.progress import PROGRESS_METRICS

    columns = [m for m, _ in PROGRESS_METRICS]
    table = pd.DataFrame(
        [
            {"session_date": d, "exercise": "stand_box", "support": "knees", **dict.fromkeys(columns, 1.0 + i)}
            for i, d in enumerate(pd.to_datetime(["2026-01-10", "2026-02-10"]))
        ]
    )
    fig = progress_figure(table, PROGRESS_METRICS)
    for ax, column in zip(fig.axes, columns, strict=False):
        m = REGISTRY[column]
        assert ax.get_ylabel() == f"{m.label} [{m.unit}]"
    assert all(unit_of(name) == m.unit for name, m in REGISTRY.items() if m.unit != "1")


def test_html_builder_escapes_and_round_trips(tmp_path):
    rep = HtmlReport("Report <for> S01 & co")
    rep.section("Overview").facts({"subject": "<script>alert(1)</script>", "date": "2026-01-10"})
    rep.paragraph("a < b & c > d")
    rows = [
        {"exercise": "sit<1>", "area": 123.456789, "n": 3, "missing": None},
        {"exercise": "stand", "area": float("nan"), "n": 5, "missing": 1e-9},
    ]
    cols = [
        Column("exercise", "Exercise"),
        Column("area", "Area [mm²]", 1),
        Column("n", "Reps", 0),
        Column("missing", "x", 3),
    ]
    rep.section("Table").table(rows, cols, "t1")
    with report_style():
        fig, ax = new_figure(2.0)
        ax.plot([0, 1], [0, 2])
        ax.set_xlabel("t [s]")
        ax.set_ylabel("y [mm]")
    png = figure_png(fig)
    rep.section("Figure").figure(png, "fig1.png", "a line <1>", "caption & more")
    path = rep.write(tmp_path, "report")
    text = path.read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert (tmp_path / "fig1.png").read_bytes() == png
    parsed = parse_report(path)
    assert parsed.title == "Report <for> S01 & co"
    assert parsed.sections == ["overview", "table", "figure"]
    assert parsed.external == []
    t = parsed.tables["t1"]
    assert t[0]["exercise"] == ("sit<1>", None)
    assert t[0]["area"] == ("123.5", 123.456789)
    assert t[1]["area"] == ("–", None)
    assert t[1]["missing"] == ("0.000", 1e-9)
    assert parsed.images == [("fig1.png", png)]
    assert png_array(parsed.images[0][1]).shape[0] > 100
    with pytest.raises(ValueError, match="not a PNG"):
        rep.figure(b"GIF89a", "x.png", "x")
    with pytest.raises(ValueError, match="file name"):
        rep.figure(png, "../x.png", "x")


def test_format_number():
    assert format_number(None, 2) == "–"
    assert format_number(float("inf"), 2) == "–"
    assert format_number(1.005, 1) == "1.0"
    assert format_number(2, 0) == "2"
