"""Spectral sway measures (Prieto et al. 1996) with an explicit, recorded PSD estimator.

For a signal x (de-meaned by the estimator's constant detrend) and its one-sided power
spectral density G(f) on bins f_m with spacing Δf, restricted to the analysis band
``[f_lo, f_hi]`` (default 0.15-5 Hz, upper limit clipped to Nyquist):

===========  ==========================================================
power        μ0 = Σ G(f_m)·Δf                    (signal unit²)
μk           Σ f_m^k · G(f_m)·Δf
F50, F95     frequency where the cumulative power reaches 50 % / 95 % of μ0; each bin
             holds its power uniformly over ``[f_m - Δf/2, f_m + Δf/2]`` and the
             crossing is interpolated linearly inside the bin (a pure tone centred on
             a bin gives F50 = its frequency exactly)
CFREQ        sqrt(μ2/μ0)           centroidal frequency
FREQD        sqrt(1 - μ1²/(μ0·μ2)) frequency dispersion (0 pure tone, → 1 broadband)
MPF          μ1/μ0                 mean power frequency (Duarte's ``mpf``; not CFREQ)
===========  ==========================================================

Estimators (the choice shifts median frequencies noticeably — Vieira et al. 2009 — so it is
recorded with every result): ``"welch"`` (default; Hann window, ``nperseg`` = N//2 as in
Duarte's ``psd.py``, 50 % overlap, constant detrend; :func:`welch`, equal to scipy.signal.welch) or
``"periodogram"`` (rectangular window, constant detrend, scipy.signal.periodogram).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["DEFAULT_SPECTRAL", "PSD_METHODS", "SpectralParams", "psd", "spectral_measures", "welch"]

PSD_METHODS = ("welch", "periodogram")
SPECTRAL_KEYS = ("power", "f50", "f95", "cfreq", "freqd", "mpf")


@dataclass(frozen=True)
class SpectralParams:
    """Parameters of the spectral measures (recorded with every result).

    ``nperseg`` (Welch segment length, samples): ``None`` means ``N // 2`` of each signal.
    """

    band_hz: tuple[float, float] = (0.15, 5.0)
    psd_method: str = "welch"
    psd_nperseg: int | None = None

    def __post_init__(self) -> None:
        if self.psd_method not in PSD_METHODS:
            raise ParameterError(f"psd_method must be one of {PSD_METHODS}, got {self.psd_method!r}")
        lo, hi = self.band_hz
        if not (0 <= lo < hi):
            raise ParameterError(f"band_hz must satisfy 0 <= low < high, got {self.band_hz}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["band_hz"] = list(self.band_hz)
        return d


#: the default parameters (Welch, N//2, 0.15-5 Hz)
DEFAULT_SPECTRAL = SpectralParams()


def psd(x: np.ndarray, fs_hz: float, params: SpectralParams = DEFAULT_SPECTRAL) -> tuple[np.ndarray, np.ndarray]:
    """One-sided PSD of ``x`` along its last axis: ``(f_hz, G)`` with G in unit²/Hz."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if params.psd_method == "welch":
        nper = params.psd_nperseg or max(n // 2, 2)
        return welch(x, fs_hz, min(nper, n))
    from scipy import signal  # only here: scipy.signal loads scipy.stats (~50 MB, docs/performance.md)

    return signal.periodogram(x, fs_hz, window="boxcar", detrend="constant", axis=-1)


def hann_periodic(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` samples, bit for bit ``scipy.signal.get_window("hann", n)``
    (tested): scipy's ``general_cosine`` of ``n + 1`` points, ``0.5 + 0.5·cos(φ)`` with ``φ``
    from -π to π, the last point dropped. Here so that the analysis does not import
    ``scipy.signal`` (which loads ``scipy.stats``: ~55 MB of resident memory, docs/performance.md)."""
    if n <= 1:
        return np.ones(max(n, 0))
    fac = np.linspace(-np.pi, np.pi, n + 1)
    w = np.zeros(n + 1)
    for k, a in enumerate(np.asarray([0.5, 1.0 - 0.5])):
        w += a * np.cos(k * fac)
    return w[:-1]


@lru_cache(maxsize=512)
def _psd_window(nperseg: int, fs_hz: float) -> np.ndarray:
    """scipy's periodic Hann window of ``nperseg`` samples scaled for a one-sided density as
    scipy's ``ShortTimeFFT`` scales it, ``w / sqrt(Σw² · fs)`` with ``Σw²`` summed in order
    (read-only), computed once per length and rate (a window analysis asks for the same few
    lengths thousands of times)."""
    win = hann_periodic(nperseg)
    total = 0.0
    for v in (win * win).tolist():
        total = total + v
    win = win * (1 / np.sqrt(total / (1 / fs_hz)))
    win.flags.writeable = False
    return win


def welch(x: np.ndarray, fs_hz: float, nperseg: int, detrend: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch PSD of ``x`` along its last axis: ``(f_hz, G)``, G in unit²/Hz.

    Bit for bit ``scipy.signal.welch(x, fs_hz, "hann", nperseg, nperseg // 2, detrend=...,
    axis=-1)`` for a C-contiguous ``x`` with ``detrend="constant"`` (``detrend=True``: each segment de-meaned) or
    ``detrend=False`` (tested), without importing ``scipy.signal`` (it loads
    ``scipy.stats``: ~50 MB of resident memory, docs/performance.md) and vectorised over
    rows: periodic Hann window scaled to ``1/sqrt(Σw²·fs)``, segments every
    ``nperseg - nperseg // 2`` samples through ``scipy.fft.rfft``, ``|X|²`` doubled except at
    DC (and Nyquist for even ``nperseg``), averaged over the segments as scipy averages them
    (each frequency's segments contiguous)."""
    import scipy.fft  # not scipy.signal (above); scipy.fft is light

    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if not 1 <= nperseg <= n:
        raise ParameterError(f"welch needs 1 <= nperseg <= n along the last axis, got nperseg={nperseg}, n={n}")
    step = nperseg - nperseg // 2
    n_seg = (n - nperseg) // step + 1
    # (..., segment, sample), a view whose segments keep x's sample stride, so each segment's
    # mean is summed (pairwise) along it exactly as scipy sums each slice
    s = x.strides[-1]
    seg = np.lib.stride_tricks.as_strided(
        x, shape=(*x.shape[:-1], n_seg, nperseg), strides=(*x.strides[:-1], step * s, s), writeable=False
    )
    if detrend:
        seg = seg - seg.mean(axis=-1, keepdims=True)
    spec = scipy.fft.rfft(seg * _psd_window(nperseg, float(fs_hz)), axis=-1)
    power = spec.real**2 + spec.imag**2  # (..., segment, frequency)
    power[..., 1 : -1 if nperseg % 2 == 0 else None] *= 2
    if n_seg >= 8:  # scipy averages each frequency's segments contiguous: numpy sums >= 8 pairwise
        return np.fft.rfftfreq(nperseg, 1 / fs_hz), np.ascontiguousarray(np.swapaxes(power, -1, -2)).mean(axis=-1)
    return np.fft.rfftfreq(nperseg, 1 / fs_hz), power.mean(axis=-2)  # < 8: the same sums (tested)


def spectral_measures(
    x: np.ndarray, fs_hz: float, params: SpectralParams = DEFAULT_SPECTRAL
) -> dict[str, np.ndarray | float]:
    """Power, F50, F95, CFREQ, FREQD and MPF of ``x`` (1-D, or 2-D: one row per window).

    Returns a dict with keys ``power, f50, f95, cfreq, freqd, mpf``: floats for a 1-D input,
    arrays of length ``x.shape[0]`` for 2-D input. NaN where the band holds no bin or no
    power (e.g. a window shorter than 1/f_lo cannot resolve the band's low end).
    """
    x = np.asarray(x, dtype=np.float64)
    one = x.ndim == 1
    x2 = x[None, :] if one else x
    rows = x2.shape[0]
    out = {k: np.full(rows, np.nan) for k in SPECTRAL_KEYS}
    if x2.shape[-1] >= 4 and rows:
        f, g = psd(x2, fs_hz, params)
        lo, hi = params.band_hz
        hi = min(hi, fs_hz / 2.0)
        sel = (f >= lo) & (f <= hi)
        if sel.sum() >= 1 and len(f) >= 2:
            df = f[1] - f[0]
            fb = f[sel]
            p = g[:, sel] * df  # power per bin
            mu0 = p.sum(axis=1)
            mu1 = (p * fb).sum(axis=1)
            mu2 = (p * fb**2).sum(axis=1)
            ok = mu0 > 0
            with np.errstate(invalid="ignore", divide="ignore"):
                out["power"] = mu0
                out["cfreq"] = np.where(ok, np.sqrt(mu2 / mu0), np.nan)
                out["freqd"] = np.where(ok, np.sqrt(np.clip(1.0 - mu1**2 / (mu0 * mu2), 0.0, 1.0)), np.nan)
                out["mpf"] = np.where(ok, mu1 / mu0, np.nan)
                cum = np.cumsum(p, axis=1)
                for key, frac in (("f50", 0.50), ("f95", 0.95)):
                    target = frac * mu0
                    j = np.argmax(cum >= target[:, None] * (1 - 1e-12), axis=1)
                    r = np.arange(rows)
                    before = np.where(j > 0, cum[r, np.maximum(j - 1, 0)], 0.0)
                    frac_in_bin = np.clip((target - before) / p[r, j], 0.0, 1.0)
                    out[key] = np.where(ok, fb[j] - df / 2 + df * frac_in_bin, np.nan)
    if one:
        return {k: float(v[0]) for k, v in out.items()}
    return {k: v for k, v in out.items()}  # (a dict of arrays is a dict of "array or float")
