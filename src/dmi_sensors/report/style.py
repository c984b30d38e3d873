"""One matplotlib style for every figure of dmi-sensors, readable on screen and in print.

* Backend: figures are created with :class:`matplotlib.figure.Figure` directly and drawn
  by the Agg canvas, so no GUI backend and no global ``pyplot`` state are touched (safe in
  servers, tests and notebooks alike).
* Colours: the Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), which stays
  distinguishable for the common colour-vision deficiencies and in grey-scale print when
  combined with the line styles of :data:`LINESTYLES`.
* Sizes: 9–11 pt text and 1.4 pt lines at 150 dpi on an A4-width figure (16.5 cm), so a
  printed report stays legible without zooming.
* Units: every axis label carries its unit in brackets, ``"COM AP [mm]"``;
  :func:`unit_label` derives it from the metric registry (a metric's unit) or the data
  contract's name suffixes (signals such as ``com_ap_mm``), :func:`metric_axis_label` gives a
  metric's registry label and unit, and :func:`check_units` refuses a figure with an axis
  that has none.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics.registry import REGISTRY

if TYPE_CHECKING:  # annotation only (matplotlib loads when a figure is drawn)
    from matplotlib.typing import RcKeyType

__all__ = [
    "DPI",
    "FIG_WIDTH_IN",
    "LINESTYLES",
    "PALETTE",
    "RC_PARAMS",
    "SUPPORT_COLOURS",
    "UNIT_SUFFIXES",
    "check_units",
    "figure_png",
    "metric_axis_label",
    "new_figure",
    "report_style",
    "unit_label",
    "unit_of",
]

#: Okabe–Ito colour-blind-safe palette (black first for single traces).
PALETTE: Final = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
#: Line styles cycled together with the colours (distinguishable in grey-scale print).
LINESTYLES: Final = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1)), "-", "--")

#: Colour of each DMI support point (proximal -> distal) in bands and progress charts.
SUPPORT_COLOURS: Final = {
    "trunk": "#D55E00",
    "hips": "#E69F00",
    "thighs": "#F0E442",
    "knees": "#009E73",
    "shanks": "#56B4E9",
    "ankles": "#0072B2",
    "feet": "#CC79A7",
    "none": "#999999",
}

#: Figure width, inches (16.5 cm: A4 text width), and resolution of the PNG files.
FIG_WIDTH_IN: Final = 6.5
DPI: Final = 150

RC_PARAMS: Final[dict[RcKeyType, Any]] = {
    "font.size": 10.0,
    "axes.titlesize": 11.0,
    "axes.labelsize": 10.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "legend.fontsize": 9.0,
    "figure.titlesize": 12.0,
    "lines.linewidth": 1.4,
    "lines.markersize": 5.0,
    "axes.linewidth": 0.8,
    "axes.grid": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    "savefig.bbox": "tight",
    "font.family": "DejaVu Sans",
    "svg.fonttype": "none",
}

#: Name suffix (data contract) -> unit shown on axes.
UNIT_SUFFIXES: Final = (
    ("_mm2", "mm²"),
    ("_mm_s", "mm/s"),
    ("_m2_s5", "m²/s⁵"),
    ("_mps3", "m/s³"),
    ("_mps2", "m/s²"),
    ("_rps", "rad/s"),
    ("_rad", "rad"),
    ("_deg", "°"),
    ("_hz", "Hz"),
    ("_mm", "mm"),
    ("_m", "m"),
    ("_s", "s"),
    ("_pct", "%"),
    ("_count", "count"),
)


def unit_of(name: str) -> str:
    """The unit of a name: a registry metric's unit (``"com_rms_ap_mm"`` -> ``"mm"``), else the
    unit its contract suffix encodes (``"tilt_ap_deg"`` -> ``"°"``); ValueError if none."""
    metric = REGISTRY.get(name)
    if metric is not None and metric.unit != "1":
        return metric.unit
    for suffix, unit in UNIT_SUFFIXES:
        if name.endswith(suffix):
            return unit
    raise ParameterError(f"{name!r} carries no unit suffix (expected one of {[s for s, _ in UNIT_SUFFIXES]})")


def unit_label(text: str, name_or_unit: str) -> str:
    """Axis label ``"text [unit]"``; ``name_or_unit`` is a contract name or a unit itself."""
    try:
        unit = unit_of(name_or_unit)
    except ValueError:
        unit = name_or_unit
    if not unit:
        raise ParameterError(f"axis {text!r} needs a unit")
    return f"{text} [{unit}]"


def metric_axis_label(name: str) -> str:
    """Axis label of a registry metric, ``"COM 95 % ellipse area [mm²]"`` (its label and unit,
    as in every report table); other names: their words and the unit of their suffix."""
    metric = REGISTRY.get(name)
    if metric is None:
        return unit_label(name.replace("_", " "), name)
    return unit_label(metric.label, metric.unit)


@contextlib.contextmanager
def report_style() -> Iterator[None]:
    """Context in which figures get :data:`RC_PARAMS` and the colour/line-style cycle."""
    import matplotlib as mpl
    from cycler import cycler

    params: dict[RcKeyType, Any] = dict(RC_PARAMS)
    params["axes.prop_cycle"] = cycler(color=list(PALETTE)) + cycler(linestyle=list(LINESTYLES))
    with mpl.rc_context(params):
        yield


def new_figure(height_in: float, width_in: float = FIG_WIDTH_IN, **subplot_kw):
    """A figure on the Agg canvas (no pyplot state). Call inside :func:`report_style`.

    ``subplot_kw`` are passed to ``Figure.subplots`` (e.g. ``nrows``, ``sharex``); returns
    ``(figure, axes)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(**subplot_kw) if subplot_kw else fig.subplots()
    return fig, axes


def check_units(fig) -> None:
    """Raise ValueError when a visible axis with data has an x or y label without ``[unit]``."""
    for ax in fig.axes:
        if not ax.get_visible() or not ax.has_data():
            continue
        for which, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if "[" not in label or not label.rstrip().endswith("]"):
                # shared x axes only label the bottom axis: accept an unlabelled shared x
                if which == "x" and not label and _shares_labelled_x(fig, ax):
                    continue
                raise ParameterError(f"axis {ax.get_title()!r}: {which} label {label!r} has no [unit]")


def _shares_labelled_x(fig, ax) -> bool:
    siblings = ax.get_shared_x_axes().get_siblings(ax)
    return any(s is not ax and "[" in s.get_xlabel() for s in siblings)


def figure_png(fig) -> bytes:
    """Render a figure to PNG bytes (after :func:`check_units`) and release it."""
    check_units(fig)
    buf = io.BytesIO()
    with report_style():
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": "dmi-sensors"})
    fig.clear()
    return buf.getvalue()
