"""Prieto et al. (1996) sway measures of a 2-D displacement (here: the COM, in mm).

Input: AP (x forward, + anterior) and ML (y left, + left) displacement in mm on a uniform
grid of ``fs_hz``. Each signal (or window) is de-meaned first (Prieto eq. 3); T = N/fs.
The formulas of every output are in :data:`dmi_sensors.metrics.REGISTRY` and
``docs/metrics.md``. Provenance: [V-impl] (four independent implementations agree:
Bologna ``trad_parMOD``, Quijoux 2021, Picerno's MATLAB, R PhysioMoCap); the prediction
ellipse: Duarte's ``hyperellipsoid.py`` [V-src].

The 95 % ellipse has three published forms (``ellipse_method``):

``prediction_F`` (default)  covariance S with 1/(n-1), k = 2(n-1)(n+1)/(n(n-2))·F0.95(2, n-2):
    the region that holds 95 % of *new* samples (Chew 1966; Schubert & Kirchner 2014
    recommend the prediction ellipse for posturography);
``chi2``   covariance 1/(n-1), k = χ²0.95(2) = 5.9915 (large-sample approximation);
``prieto`` covariance 1/n, k = 2·F0.95(2, n-2) (AREA-CE).

Area = π·k·sqrt(det S); semi-axes sqrt(k·λ1), sqrt(k·λ2). At N ≥ 1500 all three agree to
< 1 %; note that sway samples are autocorrelated, so n is not an effective sample size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics import _kernels as K
from dmi_sensors.metrics.spectral import DEFAULT_SPECTRAL, SpectralParams, spectral_measures
from dmi_sensors.metrics.structure import DEFAULT_SAMPEN, SAMPEN_MAX_VALUES, SampEnParams, structure_windows

__all__ = ["ELLIPSE_METHODS", "Z95_ONE_SIDED", "ellipse", "ellipse_k", "prieto_from_stats", "prieto_measures"]

ELLIPSE_METHODS = ("prediction_F", "chi2", "prieto")
#: one-sided 95 % normal quantile used by AREA-CC and FD-CC (Prieto: 1.645)
Z95_ONE_SIDED = 1.6448536269514722


@lru_cache(maxsize=4096)
def _f95(n: int) -> float:
    # scipy.stats.f.ppf(0.95, 2, n - 2) is scipy.special.fdtri(2, n - 2, 0.95), the same float
    # (tested); scipy.stats itself is not imported: ~50 MB of resident memory (docs/performance.md)
    from scipy.special import fdtri

    return float(fdtri(2, n - 2, 0.95)) if n > 2 else float("nan")


def _f95_array(n: np.ndarray) -> np.ndarray:
    return np.array([_f95(int(v)) for v in np.asarray(n).ravel()]).reshape(np.shape(n))


def ellipse_k(n: np.ndarray | int, method: str = "prediction_F") -> np.ndarray:
    """The factor k of a 95 % ellipse for ``n`` samples (area = π·k·sqrt(det S))."""
    n = np.asarray(n, dtype=np.float64)
    if method == "prediction_F":
        return 2.0 * (n - 1) * (n + 1) / (n * (n - 2)) * _f95_array(n)
    if method == "chi2":
        return np.full_like(n, 5.991464547107979)  # scipy.stats.chi2.ppf(0.95, 2)
    if method == "prieto":
        return 2.0 * _f95_array(n)
    raise ParameterError(f"ellipse_method must be one of {ELLIPSE_METHODS}, got {method!r}")


def ellipse(var_ap, var_ml, cov, n, method: str = "prediction_F") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area, major and minor semi-axis of the 95 % ellipse from 1/N moments.

    ``var_ap = mean(AP²)``, ``var_ml = mean(ML²)``, ``cov = mean(AP·ML)`` of de-meaned data
    (1/N normalisation, as the kernels return them); rescaled to 1/(n-1) where the method
    asks for it.
    """
    n = np.asarray(n, dtype=np.float64)
    k = ellipse_k(n, method)
    scale = np.where(n > 1, n / np.maximum(n - 1, 1), np.nan) if method in ("prediction_F", "chi2") else 1.0
    a = np.asarray(var_ap) * scale
    c = np.asarray(var_ml) * scale
    b = np.asarray(cov) * scale
    half_tr = 0.5 * (a + c)
    disc = np.sqrt(np.maximum((0.5 * (a - c)) ** 2 + b**2, 0.0))
    lam1 = half_tr + disc
    lam2 = np.maximum(half_tr - disc, 0.0)
    det = np.maximum(a * c - b**2, 0.0)
    return np.pi * k * np.sqrt(det), np.sqrt(k * lam1), np.sqrt(k * lam2)


def prieto_from_stats(
    stats: np.ndarray, fs_hz: float, ellipse_method: str = "prediction_F", prefix: str = "com", unit: str = "mm"
) -> dict[str, np.ndarray]:
    """Prieto time-domain measures from :func:`_kernels.planar_window_stats` rows.

    Names are ``{prefix}_<measure>[_ap|_ml]_{unit}`` as registered (``com_rms_ap_mm``).
    """
    s = np.atleast_2d(stats)
    n = s[:, K.S_N]
    t = n / fs_hz
    mdist, rdist, totex = s[:, K.S_MDIST], s[:, K.S_RDIST], s[:, K.S_TOTEX]
    out: dict[str, np.ndarray] = {}
    u = unit
    with np.errstate(invalid="ignore", divide="ignore"):
        for ax, col_md, col_rms, col_tot, col_rng in (
            ("", K.S_MDIST, K.S_RDIST, K.S_TOTEX, K.S_RANGE),
            ("_ap", K.S_MDIST_AP, None, K.S_TOTEX_AP, K.S_RANGE_AP),
            ("_ml", K.S_MDIST_ML, None, K.S_TOTEX_ML, K.S_RANGE_ML),
        ):
            out[f"{prefix}_mean_dist{ax}_{u}"] = s[:, col_md]
            if col_rms is not None:
                out[f"{prefix}_rms{ax}_{u}"] = s[:, col_rms]
            else:
                out[f"{prefix}_rms{ax}_{u}"] = np.sqrt(s[:, K.S_VAR_AP if ax == "_ap" else K.S_VAR_ML])
            out[f"{prefix}_path_length{ax}_{u}"] = s[:, col_tot]
            out[f"{prefix}_range{ax}_{u}"] = s[:, col_rng]
        if prefix == "com":
            for ax, col in (("", K.S_TOTEX), ("_ap", K.S_TOTEX_AP), ("_ml", K.S_TOTEX_ML)):
                out[f"com_mean_velocity{ax}_{u}_s"] = s[:, col] / t
            s_rd = np.sqrt(np.maximum(rdist**2 - mdist**2, 0.0))
            out[f"com_circle_area_{u}2"] = np.pi * (mdist + Z95_ONE_SIDED * s_rd) ** 2
            area, major, minor = ellipse(s[:, K.S_VAR_AP], s[:, K.S_VAR_ML], s[:, K.S_COV], n, ellipse_method)
            out[f"com_ellipse_area_{u}2"] = area
            out[f"com_ellipse_major_{u}"] = major
            out[f"com_ellipse_minor_{u}"] = minor
            out[f"com_sway_area_{u}2_s"] = s[:, K.S_CROSS] / (2.0 * t)
            out["com_mean_freq_hz"] = totex / (2 * np.pi * mdist * t)
            for ax, col_tot, col_md in (("_ap", K.S_TOTEX_AP, K.S_MDIST_AP), ("_ml", K.S_TOTEX_ML, K.S_MDIST_ML)):
                out[f"com_mean_freq{ax}_hz"] = (s[:, col_tot] / t) / (4 * np.sqrt(2) * s[:, col_md])
            d_cc = 2 * (mdist + Z95_ONE_SIDED * s_rd)
            out["com_fractal_dim_cc"] = np.log(n) / np.log(n * d_cc / totex)
            det_n = np.maximum(s[:, K.S_VAR_AP] * s[:, K.S_VAR_ML] - s[:, K.S_COV] ** 2, 0.0)
            d_ce = np.sqrt(8 * _f95_array(n) * np.sqrt(det_n))
            out["com_fractal_dim_ce"] = np.log(n) / np.log(n * d_ce / totex)
    return out


def _spectral_named(
    prefix: str,
    axes: tuple[str, ...],
    signals: tuple[np.ndarray, ...],
    fs_hz: float,
    params: SpectralParams,
    power_unit: str,
) -> dict[str, np.ndarray | float]:
    out: dict[str, np.ndarray | float] = {}
    for ax, x in zip(axes, signals, strict=True):
        m = spectral_measures(x, fs_hz, params)
        out[f"{prefix}_power{ax}_{power_unit}"] = m["power"]
        out[f"{prefix}_f50{ax}_hz"] = m["f50"]
        out[f"{prefix}_f95{ax}_hz"] = m["f95"]
        out[f"{prefix}_cfreq{ax}_hz"] = m["cfreq"]
        out[f"{prefix}_freqd{ax}"] = m["freqd"]
        out[f"{prefix}_mpf{ax}_hz"] = m["mpf"]
    return out


def _check(ap: np.ndarray, ml: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    ap = np.ascontiguousarray(ap, dtype=np.float64)
    ml = np.ascontiguousarray(ml, dtype=np.float64)
    if ap.ndim != 1 or ap.shape != ml.shape:
        raise ParameterError(f"AP and ML must be 1-D arrays of equal length, got {ap.shape} and {ml.shape}")
    if ap.shape[0] < 3:
        raise ParameterError(f"need at least 3 samples, got {ap.shape[0]}")
    if not (fs_hz > 0):
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    if not (np.isfinite(ap).all() and np.isfinite(ml).all()):
        raise ParameterError("AP and ML must be finite (resample or cut gaps first)")
    return ap, ml


def prieto_measures(
    ap_mm: np.ndarray,
    ml_mm: np.ndarray,
    fs_hz: float,
    ellipse_method: str = "prediction_F",
    spectral: SpectralParams = DEFAULT_SPECTRAL,
    sampen: SampEnParams | None = DEFAULT_SAMPEN,
) -> dict[str, float]:
    """All Prieto 1996 measures of one COM trajectory, with its principal sway direction and
    sample entropy (:mod:`dmi_sensors.metrics.structure`).

    Parameters
    ----------
    ap_mm, ml_mm
        COM displacement, mm, AP (+ forward) and ML (+ left), uniform rate. Filter before
        calling (Prieto: 5 Hz 4th-order Butterworth); the mean is removed here.
    fs_hz
        Sample rate, Hz.
    ellipse_method
        ``"prediction_F"`` (default), ``"chi2"`` or ``"prieto"`` (see module docs).
    spectral
        Band and PSD estimator of the frequency measures.
    sampen
        Sample-entropy parameters (None: no sample entropy); a trajectory longer than
        :data:`~dmi_sensors.metrics.structure.SAMPEN_MAX_VALUES` decimated values gets NaN
        (the cost grows as N²: use windows).

    Returns
    -------
    dict
        Registered metric names (``com_*``, ``duration_s``, ``n_samples``) -> float.
    """
    if ellipse_method not in ELLIPSE_METHODS:
        raise ParameterError(f"ellipse_method must be one of {ELLIPSE_METHODS}, got {ellipse_method!r}")
    ap, ml = _check(ap_mm, ml_mm, fs_hz)
    n = ap.shape[0]
    stats = K.planar_window_stats(ap, ml, np.array([0]), np.array([n]), np.empty((1, K.N_STATS)))
    out = {"duration_s": n / fs_hz, "n_samples": float(n)}
    out.update({k: float(v[0]) for k, v in prieto_from_stats(stats, fs_hz, ellipse_method).items()})
    var = (stats[:, K.S_VAR_AP], stats[:, K.S_VAR_ML], stats[:, K.S_COV])
    shape = structure_windows(ap, ml, fs_hz, np.array([0]), np.array([n]), *var, sampen, max_values=SAMPEN_MAX_VALUES)
    out.update({k: float(v[0]) for k, v in shape.items()})
    rd = np.hypot(ap - ap.mean(), ml - ml.mean())
    out.update(_spectral_named("com", ("", "_ap", "_ml"), (rd, ap, ml), fs_hz, spectral, "mm2"))
    return out
