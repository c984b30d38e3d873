"""Shared helpers for the store tests (synthetic packets, a subject, a fake clock)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dmi_sensors.types import RawPacket


@dataclass(frozen=True)
class FakeClock:
    """A settable monotonic clock for commit-policy tests."""

    now: list

    def __call__(self) -> float:
        return self.now[0]

    def advance(self, dt: float) -> None:
        self.now[0] += dt


def fake_clock(t0: float = 0.0) -> FakeClock:
    return FakeClock([t0])


def synthetic_packets(sensor_id: str, n: int, period_s: float = 0.1, t0_s: float = 0.0) -> list[RawPacket]:
    """``n`` packets whose bytes encode their index and sensor (distinct, checkable payloads)."""
    return [
        RawPacket(sensor_id, t0_s + k * period_s, struct.pack("<I", k) + sensor_id.encode() + bytes(range(k % 7)))
        for k in range(n)
    ]


def assert_events_equal(got, expected) -> None:
    """Events tables equal column by column: floats exactly, missing == missing, text and ints by value."""
    import pandas as pd

    from dmi_sensors import contract

    assert len(got) == len(expected), (len(got), len(expected))
    for col in (*contract.EVENT_COLUMNS, *contract.EVENT_OPTIONAL_COLUMNS):
        if col not in expected.columns:
            continue
        a = got[col].tolist()
        b = expected[col].tolist()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if pd.isna(y):
                assert pd.isna(x), (col, i, x, y)
            elif col in ("onset_s", "duration_s"):
                assert float(x) == float(y), (col, i, x, y)
            elif col == "repetition":
                assert int(x) == int(y), (col, i, x, y)
            else:
                assert x == y, (col, i, x, y)


def synthetic_batch(sensor_id: str, n: int, fs_hz: float, c0: int, drop=(), seed: int = 0, t_start_s: float = 0.8):
    """A SampleBatch with random values, a slightly drifting clock and the given dropped samples."""
    import numpy as np

    from dmi_sensors.types import SampleBatch

    rng = np.random.default_rng(seed)
    c = np.arange(c0, c0 + n)
    keep = np.ones(n, dtype=bool)
    keep[list(drop)] = False
    c = c[keep]
    t = t_start_s + (c - c0) / fs_hz * 1.00002
    gap = np.zeros(len(c), dtype=bool)
    gap[1:] = np.diff(c) > 1
    acc = rng.normal(size=(len(c), 3)) * 0.3 + [0.0, 0.0, 9.81]
    gyr = rng.normal(size=(len(c), 3)) * 0.05
    return SampleBatch(sensor_id, fs_hz, c, t, t + 0.01, acc, gyr, gap, t)


def example_events():
    import pandas as pd

    return pd.DataFrame(
        {
            "onset_s": [1.0, 2.5, 1.3],
            "duration_s": [1.0, 0.0, 0.25],
            "exercise": ["sit_table", None, "sit_table"],
            "repetition": [1, None, 2],
            "support": ["hips", None, "hips"],
            "source": ["manual", "auto", "auto"],
            "kind": ["repetition", "posture", "repetition"],
            "posture": [None, "sitting", None],
            "note": [None, "steady", 'first, then "second"\ttab'],
        }
    )
