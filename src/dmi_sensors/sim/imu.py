"""The IMU error model: what turns true specific force and angular rate into readings.

Measurement equation (per sample ``k``, sensor frame, SI units)::

    f_s   = R_m^T f_b                              body -> sensor (mounting rotation)
    y     = (I + diag(scale_error)) T_mis f_s + bias + noise
    y_q   = lsb * clip(round(y / lsb), -32768, 32767)     int16 with the full-scale range

``R_m`` rotates sensor vectors into the body frame (``v_body = R_m v_sensor``), built from
``mounting_euler_deg = (roll, pitch, yaw)`` as ``R_z(yaw) R_y(pitch) R_x(roll)``.
``T_mis`` models non-orthogonal sensing axes (x exact, y tilted towards x by ``xy``, z
tilted by ``xz`` and ``yz``; small angles in rad)::

    T_mis = [[1, 0, 0], [xy, 1, 0], [-xz, yz, 1]]

The gyro bias may **drift** like a sensor warming on a child's body: a settle towards
``gyr_bias_drift_rps`` with time constant ``gyr_bias_settle_s`` plus a random walk of
density ``gyr_bias_random_walk_rps_sqrt_s`` (per axis, sensor frame; the truth is
:func:`gyro_bias_track`)::

    bias_g(t) = gyr_bias_rps + gyr_bias_drift_rps · (1 - exp(-t / gyr_bias_settle_s)) + W(t),
    W(t_k) = Σ_j≤k N(0, σ_rw² / fs)      (W(0) = 0)

With ``gyr_bias_settle_s`` much longer than the recording the settle is a ramp of slope
``gyr_bias_drift_rps / gyr_bias_settle_s`` (:meth:`ImuErrors.warming` builds either).

Noise is white Gaussian; its RMS is given at ``noise_reference_fs_hz`` and scales with
``sqrt(fs_hz / noise_reference_fs_hz)`` (constant noise density). The defaults
(0.07 m/s^2 and 0.005 rad/s RMS at 100 Hz) are the project's "realistic" levels for a
body-worn consumer MEMS unit including soft-tissue jitter. The LSB of a range ``R`` is
``R / 32768`` (``R`` in m/s^2 or rad/s; the protocol's scale, :func:`lsb_acc_mps2`); the
ranges must be ones the firmware supports (±2/4/8/16 g, ±125/250/500/1000/2000 deg/s).

Device clock drift and packet loss live here too (they are properties of a sensor and its
link): the device clock runs ``clock_drift_ppm`` fast (device timestamps advance
``1e6 / fs_hz * (1 + ppm 1e-6)`` us per sample while the true sample interval is
``1 / fs_hz``); :class:`PacketLoss` draws which packets never arrive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dmi_sensors import protocol
from dmi_sensors.errors import ParameterError

__all__ = [
    "ImuErrors",
    "PacketLoss",
    "apply_imu_errors",
    "counts_from_si",
    "gyro_bias_track",
    "lsb_acc_mps2",
    "lsb_gyr_rps",
]

Vec3 = tuple[float, float, float]


def lsb_acc_mps2(range_g: float) -> float:
    """Accelerometer LSB, m/s^2, for a full-scale range of +-``range_g`` g (the protocol's scale)."""
    return protocol.acc_scale_mps2(range_g)


def lsb_gyr_rps(range_dps: float) -> float:
    """Gyroscope LSB, rad/s, for a full-scale range of +-``range_dps`` deg/s (the protocol's scale)."""
    return protocol.gyr_scale_rps(range_dps)


def counts_from_si(values: np.ndarray, lsb: float) -> np.ndarray:
    """``clip(round(values / lsb), -32768, 32767)`` as int16 (saturates at full scale)."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) / lsb), -32768, 32767).astype(np.int16)


@dataclass(frozen=True, slots=True)
class PacketLoss:
    """Which packets are lost on the air.

    Attributes
    ----------
    random_prob
        Probability that any one packet is lost independently.
    burst_start_prob
        Probability, per packet, that a burst of consecutive losses starts there.
    burst_mean_packets
        Mean burst length in packets (geometric distribution, >= 1).
    """

    random_prob: float = 0.0
    burst_start_prob: float = 0.0
    burst_mean_packets: float = 5.0

    def __post_init__(self) -> None:
        for name in ("random_prob", "burst_start_prob"):
            v = getattr(self, name)
            if not (0.0 <= v <= 1.0):
                raise ParameterError(f"PacketLoss.{name} must be in [0, 1], got {v}")
        if not (self.burst_mean_packets >= 1.0):
            raise ParameterError(f"PacketLoss.burst_mean_packets must be >= 1, got {self.burst_mean_packets}")

    @property
    def active(self) -> bool:
        return self.random_prob > 0.0 or self.burst_start_prob > 0.0

    def lost_mask(self, n_packets: int, rng: np.random.Generator) -> np.ndarray:
        """Boolean mask, True = packet lost."""
        lost = rng.random(n_packets) < self.random_prob
        starts = np.flatnonzero(rng.random(n_packets) < self.burst_start_prob)
        if starts.size:
            lengths = rng.geometric(1.0 / self.burst_mean_packets, size=starts.size)
            for s, length in zip(starts, lengths, strict=True):
                lost[s : s + int(length)] = True
        return lost


def _vec3(name: str, value) -> Vec3:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ParameterError(f"ImuErrors.{name} must be 3 finite numbers, got {value!r}")
    return (float(arr[0]), float(arr[1]), float(arr[2]))


@dataclass(frozen=True, slots=True)
class ImuErrors:
    """Errors of one simulated IMU (see the module docstring for the equation).

    The default is a realistic noise level with an otherwise ideal sensor; use
    :meth:`none` for exact signals and :meth:`typical` for a plausible uncalibrated unit.
    """

    acc_noise_rms_mps2: float = 0.07
    gyr_noise_rms_rps: float = 0.005
    noise_reference_fs_hz: float = 100.0
    acc_bias_mps2: Vec3 = (0.0, 0.0, 0.0)
    gyr_bias_rps: Vec3 = (0.0, 0.0, 0.0)
    acc_scale_error: Vec3 = (0.0, 0.0, 0.0)
    gyr_scale_error: Vec3 = (0.0, 0.0, 0.0)
    acc_misalignment_rad: Vec3 = (0.0, 0.0, 0.0)
    gyr_misalignment_rad: Vec3 = (0.0, 0.0, 0.0)
    mounting_euler_deg: Vec3 = (0.0, 0.0, 0.0)
    acc_range_g: float = 8.0
    gyr_range_dps: float = 1000.0
    quantise: bool = True
    clock_drift_ppm: float = 0.0
    packet_loss: PacketLoss = field(default_factory=PacketLoss)
    gyr_bias_drift_rps: Vec3 = (0.0, 0.0, 0.0)
    gyr_bias_settle_s: float = 60.0
    gyr_bias_random_walk_rps_sqrt_s: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "acc_bias_mps2",
            "gyr_bias_rps",
            "gyr_bias_drift_rps",
            "acc_scale_error",
            "gyr_scale_error",
            "acc_misalignment_rad",
            "gyr_misalignment_rad",
            "mounting_euler_deg",
        ):
            object.__setattr__(self, name, _vec3(name, getattr(self, name)))
        for name in ("acc_noise_rms_mps2", "gyr_noise_rms_rps"):
            if not (getattr(self, name) >= 0.0):
                raise ParameterError(f"ImuErrors.{name} must be >= 0, got {getattr(self, name)}")
        if not (self.noise_reference_fs_hz > 0.0):
            raise ParameterError(f"ImuErrors.noise_reference_fs_hz must be > 0, got {self.noise_reference_fs_hz}")
        protocol.acc_range_code(self.acc_range_g)  # ProtocolError (a ValueError) unless a firmware range
        protocol.gyr_range_code(self.gyr_range_dps)
        if not (self.gyr_bias_settle_s > 0.0 and math.isfinite(self.gyr_bias_settle_s)):
            raise ParameterError(f"ImuErrors.gyr_bias_settle_s must be > 0, got {self.gyr_bias_settle_s}")
        if not (self.gyr_bias_random_walk_rps_sqrt_s >= 0.0 and math.isfinite(self.gyr_bias_random_walk_rps_sqrt_s)):
            raise ParameterError(
                f"ImuErrors.gyr_bias_random_walk_rps_sqrt_s must be >= 0, got {self.gyr_bias_random_walk_rps_sqrt_s}"
            )
        if not (abs(self.clock_drift_ppm) < 1e5):
            raise ParameterError(f"ImuErrors.clock_drift_ppm must be within +-1e5, got {self.clock_drift_ppm}")

    @classmethod
    def none(cls, acc_range_g: float = 8.0, gyr_range_dps: float = 1000.0) -> ImuErrors:
        """An ideal sensor: no noise, no bias, no quantisation of the float output, no loss."""
        return cls(
            acc_noise_rms_mps2=0.0,
            gyr_noise_rms_rps=0.0,
            quantise=False,
            acc_range_g=acc_range_g,
            gyr_range_dps=gyr_range_dps,
        )

    @classmethod
    def typical(cls) -> ImuErrors:
        """A plausible uncalibrated unit on a child's trunk (fixed values, not random)."""
        return cls(
            acc_bias_mps2=(0.08, -0.05, 0.12),
            gyr_bias_rps=(0.012, -0.008, 0.005),
            acc_scale_error=(0.004, -0.006, 0.003),
            gyr_scale_error=(0.01, -0.005, 0.008),
            acc_misalignment_rad=(0.003, -0.002, 0.004),
            gyr_misalignment_rad=(0.002, 0.003, -0.002),
            mounting_euler_deg=(3.0, -5.0, 8.0),
            clock_drift_ppm=35.0,
            packet_loss=PacketLoss(random_prob=0.003, burst_start_prob=0.001, burst_mean_packets=4.0),
        )

    def warming(
        self,
        drift_rps: Vec3 = (0.01, -0.007, 0.005),
        settle_s: float = 20.0,
        random_walk_rps_sqrt_s: float = 1e-4,
    ) -> ImuErrors:
        """A copy whose gyro bias drifts like a sensor warming on the body (module docs):
        settles by ``drift_rps`` with time constant ``settle_s`` plus a random walk. A
        ``settle_s`` much longer than the recording gives a ramp (``drift_rps / settle_s`` per s)."""
        from dataclasses import replace

        return replace(
            self,
            gyr_bias_drift_rps=drift_rps,
            gyr_bias_settle_s=settle_s,
            gyr_bias_random_walk_rps_sqrt_s=random_walk_rps_sqrt_s,
        )

    @property
    def gyr_bias_drifts(self) -> bool:
        """Whether the gyro bias changes with time."""
        return any(v != 0.0 for v in self.gyr_bias_drift_rps) or self.gyr_bias_random_walk_rps_sqrt_s > 0.0

    # --- derived ---------------------------------------------------------------------
    @property
    def mounting_matrix(self) -> np.ndarray:
        """``R_m``: sensor -> body rotation, 3x3."""
        roll, pitch, yaw = np.radians(self.mounting_euler_deg)
        cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
        rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
        return rz @ ry @ rx

    @staticmethod
    def _sensing_matrix(scale: Vec3, mis: Vec3) -> np.ndarray:
        xy, xz, yz = mis
        t_mis = np.array([[1.0, 0.0, 0.0], [xy, 1.0, 0.0], [-xz, yz, 1.0]])
        return np.diag(1.0 + np.asarray(scale)) @ t_mis

    @property
    def acc_sensing_matrix(self) -> np.ndarray:
        return self._sensing_matrix(self.acc_scale_error, self.acc_misalignment_rad)

    @property
    def gyr_sensing_matrix(self) -> np.ndarray:
        return self._sensing_matrix(self.gyr_scale_error, self.gyr_misalignment_rad)

    @property
    def acc_lsb_mps2(self) -> float:
        return lsb_acc_mps2(self.acc_range_g)

    @property
    def gyr_lsb_rps(self) -> float:
        return lsb_gyr_rps(self.gyr_range_dps)

    @property
    def clock_scale(self) -> float:
        """Device-clock ticks per true tick: ``1 + clock_drift_ppm * 1e-6``."""
        return 1.0 + self.clock_drift_ppm * 1e-6

    def noise_rms_at(self, fs_hz: float) -> tuple[float, float]:
        """(acc m/s^2, gyr rad/s) noise RMS at ``fs_hz``."""
        k = math.sqrt(fs_hz / self.noise_reference_fs_hz)
        return self.acc_noise_rms_mps2 * k, self.gyr_noise_rms_rps * k


def gyro_bias_track(errors: ImuErrors, n: int, fs_hz: float, rng: np.random.Generator, t0_s: float = 0.0) -> np.ndarray:
    """The gyro bias at each of ``n`` samples from ``t0_s`` (sensor frame, rad/s), ``(n, 3)``:
    constant plus settle plus random walk (module docs). The random walk draws ``(n, 3)``
    normals from ``rng`` only when its density is > 0."""
    t = t0_s + np.arange(n) / fs_hz
    bias = np.asarray(errors.gyr_bias_rps, dtype=np.float64) + np.outer(
        1.0 - np.exp(-t / errors.gyr_bias_settle_s), np.asarray(errors.gyr_bias_drift_rps)
    )
    sigma = errors.gyr_bias_random_walk_rps_sqrt_s
    if sigma > 0.0 and n > 0:
        steps = rng.standard_normal((n, 3)) * (sigma / math.sqrt(fs_hz))
        steps[0] = 0.0
        bias = bias + np.cumsum(steps, axis=0)
    return bias


def apply_imu_errors(
    acc_body_mps2: np.ndarray,
    gyr_body_rps: np.ndarray,
    errors: ImuErrors,
    fs_hz: float,
    rng: np.random.Generator,
    t0_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """True body-frame signals -> sensor-frame readings (float; on the LSB grid if ``quantise``).

    ``t0_s``: time of the first sample since the sensor was switched on (the bias settle)."""
    acc = np.asarray(acc_body_mps2, dtype=np.float64)
    gyr = np.asarray(gyr_body_rps, dtype=np.float64)
    rm = errors.mounting_matrix
    # v_sensor = R_m^T v_body; row-vector form: v_body @ R_m
    acc_s = acc @ rm
    gyr_s = gyr @ rm
    acc_y = acc_s @ errors.acc_sensing_matrix.T + np.asarray(errors.acc_bias_mps2)
    gyr_y = gyr_s @ errors.gyr_sensing_matrix.T
    acc_sigma, gyr_sigma = errors.noise_rms_at(fs_hz)
    if acc_sigma > 0:
        acc_y = acc_y + rng.normal(0.0, acc_sigma, acc_y.shape)
    if gyr_sigma > 0:
        gyr_y = gyr_y + rng.normal(0.0, gyr_sigma, gyr_y.shape)
    if errors.gyr_bias_drifts:  # drawn after the noise: a constant bias keeps the old random stream
        gyr_y = gyr_y + gyro_bias_track(errors, gyr_y.shape[0], fs_hz, rng, t0_s)
    else:
        gyr_y = gyr_y + np.asarray(errors.gyr_bias_rps)
    if errors.quantise:
        acc_y = counts_from_si(acc_y, errors.acc_lsb_mps2).astype(np.float64) * errors.acc_lsb_mps2
        gyr_y = counts_from_si(gyr_y, errors.gyr_lsb_rps).astype(np.float64) * errors.gyr_lsb_rps
    return acc_y, gyr_y
