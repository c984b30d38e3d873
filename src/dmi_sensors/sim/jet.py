"""Signals carried with their first and second time derivatives ("jets").

Rigid-body kinematics needs positions, velocities and accelerations that agree exactly.
The simulator builds every trajectory from pieces whose derivatives are known in closed
form (pendulum states, minimum-jerk steps, sinusoidal bumps) and combines them with the
product and chain rules here, so the IMU model never differentiates numerically.

A :class:`Jet` holds ``v`` (value), ``d`` (first derivative, per second) and ``dd``
(second derivative, per second squared), numpy arrays of equal shape ``(n,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["Jet", "bump", "cos", "minimum_jerk", "sin"]


@dataclass(frozen=True, slots=True)
class Jet:
    """A time signal with its first and second derivatives (arrays of shape ``(n,)``)."""

    v: np.ndarray
    d: np.ndarray
    dd: np.ndarray

    @classmethod
    def const(cls, value: float, n: int) -> Jet:
        """A constant signal (zero derivatives)."""
        return cls(np.full(n, float(value)), np.zeros(n), np.zeros(n))

    @classmethod
    def zeros(cls, n: int) -> Jet:
        return cls.const(0.0, n)

    def __len__(self) -> int:
        return int(self.v.shape[0])

    def __add__(self, other: Jet | float) -> Jet:
        if isinstance(other, Jet):
            return Jet(self.v + other.v, self.d + other.d, self.dd + other.dd)
        return Jet(self.v + float(other), self.d, self.dd)

    __radd__ = __add__

    def __neg__(self) -> Jet:
        return Jet(-self.v, -self.d, -self.dd)

    def __sub__(self, other: Jet | float) -> Jet:
        return self + (-other)

    def __rsub__(self, other: float) -> Jet:
        return (-self) + other

    def __mul__(self, other: Jet | float) -> Jet:
        if isinstance(other, Jet):
            # product rule: (fg)' = f'g + fg';  (fg)'' = f''g + 2f'g' + fg''
            return Jet(
                self.v * other.v,
                self.d * other.v + self.v * other.d,
                self.dd * other.v + 2.0 * self.d * other.d + self.v * other.dd,
            )
        c = float(other)
        return Jet(self.v * c, self.d * c, self.dd * c)

    __rmul__ = __mul__

    def slice(self, start: int, stop: int) -> Jet:
        return Jet(self.v[start:stop], self.d[start:stop], self.dd[start:stop])

    @staticmethod
    def concat(jets: list[Jet]) -> Jet:
        return Jet(
            np.concatenate([j.v for j in jets]),
            np.concatenate([j.d for j in jets]),
            np.concatenate([j.dd for j in jets]),
        )


def sin(x: Jet) -> Jet:
    """Chain rule: (sin x)' = cos x x';  (sin x)'' = cos x x'' - sin x x'^2."""
    s, c = np.sin(x.v), np.cos(x.v)
    return Jet(s, c * x.d, c * x.dd - s * x.d**2)


def cos(x: Jet) -> Jet:
    """Chain rule: (cos x)' = -sin x x';  (cos x)'' = -sin x x'' - cos x x'^2."""
    s, c = np.sin(x.v), np.cos(x.v)
    return Jet(c, -s * x.d, -s * x.dd - c * x.d**2)


def minimum_jerk(t_s: np.ndarray, start_s: float, duration_s: float) -> Jet:
    """Minimum-jerk step from 0 to 1 (Flash & Hogan 1985): ``s = 10u^3 - 15u^4 + 6u^5``.

    ``u = (t - start) / duration`` clipped to [0, 1]; 0 before the start, 1 after the end.
    Zero velocity and acceleration at both ends.
    """
    if duration_s <= 0:
        raise ParameterError(f"duration_s must be positive, got {duration_s}")
    u = np.clip((np.asarray(t_s, dtype=np.float64) - start_s) / duration_s, 0.0, 1.0)
    inside = (u > 0.0) & (u < 1.0)
    v = u**3 * (10.0 - 15.0 * u + 6.0 * u**2)
    d = np.where(inside, 30.0 * u**2 * (1.0 - u) ** 2 / duration_s, 0.0)
    dd = np.where(inside, 60.0 * u * (1.0 - u) * (1.0 - 2.0 * u) / duration_s**2, 0.0)
    return Jet(v, d, dd)


def bump(t_s: np.ndarray, start_s: float, duration_s: float) -> Jet:
    """Smooth out-and-back movement 0 -> 1 -> 0 over ``duration_s``: ``(1 - cos 2 pi u) / 2``.

    ``u = (t - start) / duration`` in [0, 1]; zero outside. Value and velocity are continuous;
    the acceleration jumps at the ends (like a muscle burst switching on and off).
    """
    if duration_s <= 0:
        raise ParameterError(f"duration_s must be positive, got {duration_s}")
    t = np.asarray(t_s, dtype=np.float64)
    u = (t - start_s) / duration_s
    inside = (u >= 0.0) & (u <= 1.0)
    w = 2.0 * np.pi / duration_s
    phase = w * (t - start_s)
    v = np.where(inside, 0.5 * (1.0 - np.cos(phase)), 0.0)
    d = np.where(inside, 0.5 * w * np.sin(phase), 0.0)
    dd = np.where(inside, 0.5 * w * w * np.cos(phase), 0.0)
    return Jet(v, d, dd)
