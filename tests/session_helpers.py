"""Synthetic trunk signals with known postures and movement bursts (for session tests)."""

from __future__ import annotations

import numpy as np

G = 9.80665

#: "up" direction in the body frame for each posture (what a still accelerometer reads / g).
UP = {
    "upright": (0.0, 0.0, 1.0),
    "supine": (1.0, 0.0, 0.0),
    "prone": (-1.0, 0.0, 0.0),
    "four_point": (-1.0, 0.0, 0.0),
    "side_lying": (0.0, 1.0, 0.0),
    "side_lying_left": (0.0, -1.0, 0.0),
}


def tilt(up, angle_rad: float, axis_angle_rad: float) -> np.ndarray:
    """Rotate the unit vector ``up`` by ``angle_rad`` towards a perpendicular direction."""
    u = np.asarray(up, dtype=float)
    u = u / np.linalg.norm(u)
    a = np.cross(u, [0.0, 0.0, 1.0] if abs(u[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(u, a)
    perp = np.cos(axis_angle_rad) * a + np.sin(axis_angle_rad) * b
    return np.cos(angle_rad) * u + np.sin(angle_rad) * perp


def posture_recording(segments, fs_hz: float, seed: int = 0, sway_rps: float = 0.15):
    """Trunk acc/gyr (body frame) for ``[(posture, duration_s), ...]``.

    Still postures have small noise; ``four_point`` adds trunk sway (band 0.3-2 Hz angular
    rate, RMS ``sway_rps``) with the prone orientation. Changes are 1-s linear blends of
    the up direction centred on the boundary. Returns ``time_s, acc, gyr, truth`` where
    truth is a list of ``(label, onset_s, end_s)``.
    """
    rng = np.random.default_rng(seed)
    ups, sway, truth = [], [], []
    t0 = 0.0
    for name, dur in segments:
        n = round(dur * fs_hz)
        ups.append(np.tile(UP[name], (n, 1)))
        sway.append(np.full(n, name == "four_point"))
        label = "side_lying" if name.startswith("side_lying") else name
        truth.append((label, t0, t0 + dur))
        t0 += dur
    up = np.concatenate(ups)
    is_sway = np.concatenate(sway)
    n = up.shape[0]
    # blend changes over 1 s
    k = int(fs_hz)
    kernel = np.ones(k) / k
    up = np.column_stack(
        [np.convolve(np.pad(up[:, i], (k // 2, k - k // 2 - 1), mode="edge"), kernel, "valid") for i in range(3)]
    )
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    time_s = np.arange(n) / fs_hz
    gyr = rng.normal(0.0, 0.005, (n, 3))
    # band-limited sway: sum of sinusoids 0.3-2 Hz with random phases
    freqs = rng.uniform(0.3, 2.0, (6, 3))
    phases = rng.uniform(0, 2 * np.pi, (6, 3))
    sw = np.sin(2 * np.pi * freqs[None] * time_s[:, None, None] + phases[None]).sum(axis=1)
    sw *= sway_rps / np.sqrt(np.mean(np.sum(sw**2, axis=1)))
    gyr += np.where(is_sway[:, None], sw, 0.0)
    acc = G * up + rng.normal(0.0, 0.05, (n, 3))
    return time_s, acc, gyr, truth


def burst_recording(onsets_s, duration_s: float, fs_hz: float, burst_s=1.5, amp_rps=0.8, seed=0):
    """Quiet trunk gyro (noise + slow sway) with movement bursts starting at ``onsets_s``.

    Each burst is ``burst_s`` of a 1.2 Hz rotation about a random axis, amplitude
    ``amp_rps``, starting abruptly at its onset.
    """
    rng = np.random.default_rng(seed)
    n = round(duration_s * fs_hz)
    t = np.arange(n) / fs_hz
    gyr = rng.normal(0.0, 0.01, (n, 3)) + 0.02 * np.sin(2 * np.pi * 0.2 * t)[:, None]
    gyr += np.array([0.01, -0.02, 0.005])  # gyro bias: detection must ignore it
    for onset in onsets_s:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        inside = (t >= onset) & (t < onset + burst_s)
        gyr[inside] += amp_rps * np.sin(2 * np.pi * 1.2 * (t[inside] - onset) + np.pi / 2)[:, None] * axis
    return t, gyr
