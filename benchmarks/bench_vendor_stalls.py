"""False losses of the arrival-estimated vendor decoders (WitMotion, plain MetaMotion streaming)
when the host is late: deterministic, no emulator, no sample ever lost.

A 30-s stream at 100 Hz whose notifications arrive 8 ms + exponential jitter (mean 2 ms)
after they are sampled; 10 s in, one of three host delays (none of them drops a sample):

* ``stall S``: nothing is read for S seconds, then the backlog arrives at once;
* ``lag L for D``: every notification arrives L seconds later than usual for D seconds;
* ``drain S at F``: a stall of S seconds whose backlog is read at F times the sampling pace
  (a host that catches up slowly), so the lag lasts S / (F - 1) seconds.

Every sample counted as lost is a false loss (the decoders' default ``hold_s`` = 0.5 s,
``late_s`` = half a period). Run: ``python -m benchmarks vendor_stalls``.
"""

from __future__ import annotations

import numpy as np

from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import decode_vendor_stream, metamotion, witmotion

RATE_HZ = 100
N = 30 * RATE_HZ
START_S = 10.0
CASES = (
    ("stall", 0.5, 0.0),
    ("stall", 3.0, 0.0),
    ("lag", 0.02, 0.4),
    ("lag", 0.01, 1.0),
    ("lag", 0.02, 1.0),
    ("lag", 0.05, 3.0),
    ("drain", 1.0, 1.2),
    ("drain", 2.0, 1.2),
)


def arrivals(kind: str, a: float, b: float, seed: int = 0) -> np.ndarray:
    """Host arrival times (s) of samples 0 .. N-1 (see the module docstring)."""
    period = 1.0 / RATE_HZ
    rng = np.random.default_rng(seed)
    t = np.arange(N) * period + 0.008 + rng.exponential(0.002, N)
    if kind == "stall":
        t[(t >= START_S) & (t < START_S + a)] = START_S + a
    elif kind == "lag":
        t[(t >= START_S) & (t < START_S + b)] += a
    else:  # drain
        out = START_S + a
        for i in np.flatnonzero(t >= START_S):
            out = max(out + period / b, t[i])
            t[i] = out
    return np.maximum.accumulate(t)


def false_losses(vendor: str, t: np.ndarray) -> int:
    if vendor == "witmotion":
        frame = witmotion.encode_imu_frame([0.0, 0.0, 9.81], [0.0, 0.0, 0.0])
        packets = [RawPacket("w", float(h), frame) for h in t]
        return int(decode_vendor_stream(packets, "witmotion", "w", rate_hz=RATE_HZ).samples_lost)
    acc = metamotion.encode_samples("bmi160", False, [[0, 0, 4096]])
    gyr = metamotion.encode_samples("bmi160", True, [[0, 0, 0]])
    packets = []
    for h in t:
        packets += [RawPacket("m", float(h), acc), RawPacket("m", float(h) + 0.0005, gyr)]
    return int(decode_vendor_stream(packets, "metamotion", "m", rate_hz=RATE_HZ).samples_lost)


def run() -> dict[str, object]:
    out: dict[str, object] = {}
    for kind, a, b in CASES:
        label = {"stall": f"stall {a:g} s", "lag": f"lag {a * 1000:g} ms for {b:g} s"}.get(
            kind, f"drain {a:g} s at {b:g}x"
        )
        t = arrivals(kind, a, b)
        out[label] = {v: false_losses(v, t) for v in ("witmotion", "metamotion")}
    return out
