"""Pure-Python references and signal generators for the metrics tests."""

from __future__ import annotations

import itertools
import math

import numpy as np


def ref_hull_diameter(x, y) -> float:
    """Largest pairwise distance, O(N²) brute force."""
    best = 0.0
    for i, j in itertools.combinations(range(len(x)), 2):
        best = max(best, math.hypot(x[i] - x[j], y[i] - y[j]))
    return best


def ref_planar_stats(ap, ml) -> dict[str, float]:
    """Prieto quantities written straight from the formulas (reference/metrics.md §2)."""
    ap = np.asarray(ap, float) - np.mean(ap)
    ml = np.asarray(ml, float) - np.mean(ml)
    rd = np.sqrt(ap**2 + ml**2)
    d_ap, d_ml = np.diff(ap), np.diff(ml)
    return {
        "n": len(ap),
        "mdist": float(np.mean(rd)),
        "mdist_ap": float(np.mean(np.abs(ap))),
        "mdist_ml": float(np.mean(np.abs(ml))),
        "rdist": float(np.sqrt(np.mean(rd**2))),
        "var_ap": float(np.mean(ap**2)),
        "var_ml": float(np.mean(ml**2)),
        "cov": float(np.mean(ap * ml)),
        "totex": float(np.sum(np.sqrt(d_ap**2 + d_ml**2))),
        "totex_ap": float(np.sum(np.abs(d_ap))),
        "totex_ml": float(np.sum(np.abs(d_ml))),
        "range": ref_hull_diameter(ap, ml),
        "range_ap": float(ap.max() - ap.min()),
        "range_ml": float(ml.max() - ml.min()),
        "cross": float(np.sum(np.abs(ap[1:] * ml[:-1] - ap[:-1] * ml[1:]))),
        "diff2": float(np.sum(d_ap**2 + d_ml**2)),
        "rd_max": float(rd.max()),
        "rd_min": float(rd.min()),
    }


def ref_moving_rms(x, half):
    n = len(x)
    return np.array([np.sqrt(np.mean(np.square(x[max(0, i - half) : min(n, i + half + 1)]))) for i in range(n)])


def circle(r: float, f_hz: float, fs_hz: float, periods: int):
    n = round(periods * fs_hz / f_hz)
    t = np.arange(n) / fs_hz
    return r * np.cos(2 * np.pi * f_hz * t), r * np.sin(2 * np.pi * f_hz * t)


def rotate(ap, ml, angle_rad):
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return c * ap - s * ml, s * ap + c * ml
