"""How the sway is organised, not how much: principal sway direction and sample entropy.

**Principal sway direction** (ellipse orientation). From the covariance of the de-meaned COM
(``s_AP²``, ``s_ML²``, ``s_APML``; the same statistics as the 95 % ellipse), the angle of the
major axis from the AP axis, positive towards +ML (left)::

    φ = ½ · atan2(2 s_APML, s_AP² - s_ML²)          φ ∈ (-90°, 90°]

0° is pure forward-backward sway, ±90° pure side-to-side sway. The sign is kept (Quijoux
et al. 2021's ``principal_sway_direction`` folds it to 0-90°): the side matters for an
asymmetric child (hemiplegia). Check: λ₁ = 4, λ₂ = 1 turned by 30° (``s_AP² = 3.25``,
``s_ML² = 1.75``, ``s_APML = 1.299``) gives 30.0° (science notes §7.2). PCA of the COP in
posturography: Oliveira, Simpson & Nadal 1996, Physiol Meas 17(4):305-312 [R]. Undefined
(NaN) for circular sway (``s_AP² = s_ML²`` and ``s_APML = 0``).

**Sample entropy** (Richman & Moorman 2000, Am J Physiol Heart Circ Physiol
278(6):H2039-H2049): the negative log of the conditional probability that two stretches of
the series that match for ``m`` samples (within ``r·SD``, Chebyshev distance) still match
at the next sample; self-matches excluded, ``N - m`` templates for both lengths::

    SampEn(m, r, N) = -ln(A / B)

Low: regular, predictable sway; high: irregular. Undefined (NaN) when ``A`` or ``B`` is 0 --
recorded as missing, never as an upper bound. Sample entropy depends on the sampling rate and
the signal, so both are parameters (:class:`SampEnParams`) recorded with every result:
the COM is decimated to ``fs_hz`` (25 Hz default, as Quijoux et al. 2021) and by default its
**increments** (velocity) are used, because the COM position is not stationary (Ramdani et
al. 2009, Med Eng Phys 31(8):1023-1031 [R]); ``m = 2``, ``r = 0.2`` (× the population SD of
the series). Windows shorter than ``min_samples`` values of the decimated series (4 s at
25 Hz) get NaN: the estimate needs a few hundred values to be stable. Check values: the
periodic series 1,2,3,1,2,3,... gives 0; Gaussian white noise gives ``-ln(2Φ(r/√2) - 1)``
(2.1851 at r = 0.2; science notes §7.1).

Cost: ``O(N²)`` pairs per window (Numba kernel, all windows in one call), of which only
those whose first values match are compared (the templates sorted by their first value:
~11 % of the pairs at ``r = 0.2``; the same counts as all pairs, bit for bit); the
whole-trial value is computed up to :data:`SAMPEN_MAX_VALUES` values (5 min at 25 Hz).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dmi_sensors.errors import ParameterError
from dmi_sensors.metrics._structure_kernels import sampen_windows

__all__ = [
    "DEFAULT_SAMPEN",
    "SAMPEN_MAX_VALUES",
    "SAMPEN_SIGNALS",
    "SampEnParams",
    "principal_direction_deg",
    "sample_entropy",
    "structure_windows",
]

SAMPEN_SIGNALS = ("increments", "position")
#: Longest decimated series whose sample entropy a whole trial gets (pairs grow as N²).
SAMPEN_MAX_VALUES = 7500


@dataclass(frozen=True)
class SampEnParams:
    """Sample-entropy parameters (module docs): embedding ``m``, tolerance ``r`` (× SD),
    rate ``fs_hz`` the COM is decimated to, ``signal`` (``increments`` / ``position``),
    ``min_samples`` (shortest series given a value)."""

    m: int = 2
    r: float = 0.2
    fs_hz: float = 25.0
    signal: str = "increments"
    min_samples: int = 100

    def __post_init__(self) -> None:
        if not (isinstance(self.m, int) and 1 <= self.m <= 10):
            raise ParameterError(f"sampen m must be an integer 1-10, got {self.m!r}")
        if not (0.0 < self.r < 5.0):
            raise ParameterError(f"sampen r must be in (0, 5) (× SD), got {self.r!r}")
        if not self.fs_hz > 0:
            raise ParameterError(f"sampen fs_hz must be > 0, got {self.fs_hz!r}")
        if self.signal not in SAMPEN_SIGNALS:
            raise ParameterError(f"sampen signal must be one of {SAMPEN_SIGNALS}, got {self.signal!r}")
        if not (isinstance(self.min_samples, int) and self.min_samples >= self.m + 2):
            raise ParameterError(f"sampen min_samples must be an integer >= m + 2, got {self.min_samples!r}")

    def decimation(self, fs_hz: float) -> int:
        """Decimation step from a signal at ``fs_hz`` (at least 1)."""
        return max(1, round(fs_hz / self.fs_hz))

    def to_dict(self) -> dict:
        return asdict(self)


#: The default sample-entropy parameters.
DEFAULT_SAMPEN = SampEnParams()


def principal_direction_deg(var_ap, var_ml, cov) -> np.ndarray:
    """Major-axis angle of the sway from AP, + towards ML (deg, (-90, 90]; module docs)."""
    var_ap = np.asarray(var_ap, dtype=np.float64)
    var_ml = np.asarray(var_ml, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    phi = 0.5 * np.degrees(np.arctan2(2.0 * cov, var_ap - var_ml))
    phi = np.where(phi <= -90.0, phi + 180.0, phi)
    circular = np.isclose(var_ap, var_ml, rtol=1e-12, atol=0.0) & (np.abs(cov) <= 1e-12 * (var_ap + var_ml))
    return np.where(circular | ~np.isfinite(phi), np.nan, phi)


def sample_entropy(x, m: int = 2, r: float = 0.2, *, r_absolute: float | None = None) -> float:
    """``SampEn(m, r, N)`` of the series ``x`` as given (no decimation, no differencing):
    tolerance ``r`` × the population SD of ``x``, or ``r_absolute`` in ``x``'s units.
    NaN when undefined (module docs)."""
    y = np.ascontiguousarray(x, dtype=np.float64)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise ParameterError(f"sample_entropy needs a finite 1-D series, got shape {y.shape}")
    if r_absolute is not None and not float(r_absolute) > 0:
        raise ParameterError(f"sample_entropy r_absolute must be > 0, got {r_absolute!r}")
    out = np.empty(1)
    tol, absolute = (float(r_absolute), True) if r_absolute is not None else (float(r), False)
    # the absolute tolerance goes to the kernel as given (r_absolute / SD × SD can round below it)
    sampen_windows(y, np.array([0]), np.array([y.shape[0]]), 1, False, int(m), tol, m + 2, out, absolute)
    return float(out[0])


def structure_windows(
    ap_mm: np.ndarray,
    ml_mm: np.ndarray,
    fs_hz: float,
    starts: np.ndarray,
    stops: np.ndarray,
    var_ap: np.ndarray,
    var_ml: np.ndarray,
    cov: np.ndarray,
    params: SampEnParams | None = DEFAULT_SAMPEN,
    *,
    max_values: int | None = None,
) -> dict[str, np.ndarray]:
    """``com_sway_direction_deg``, ``com_sampen_ap``, ``com_sampen_ml`` of every window
    (``params`` None: the direction only).

    ``var_ap``, ``var_ml``, ``cov``: the windows' COM covariance (any normalisation, the
    angle does not depend on it). ``max_values``: windows whose decimated series is longer
    get NaN sample entropy (cost guard; None: no limit).
    """
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    stops = np.ascontiguousarray(stops, dtype=np.int64)
    out = {"com_sway_direction_deg": principal_direction_deg(var_ap, var_ml, cov)}
    if params is None:
        return out
    step = params.decimation(fs_hz)
    if max_values is not None:
        too_long = (stops - starts) // step > max_values
        use = ~too_long
    else:
        use = np.ones(starts.shape[0], dtype=bool)
    for name, x in (("com_sampen_ap", ap_mm), ("com_sampen_ml", ml_mm)):
        values = np.full(starts.shape[0], np.nan)
        xs = np.ascontiguousarray(x, dtype=np.float64)
        if np.any(use):
            sub = np.empty(int(use.sum()))
            sampen_windows(
                xs,
                starts[use],
                stops[use],
                step,
                params.signal == "increments",
                params.m,
                float(params.r),
                params.min_samples,
                sub,
            )
            values[use] = sub
        out[name] = values
    return out
