"""Measurement rules shared by the benchmarks (a sceptic's checklist, see ``docs/performance.md``).

* **Interleaved rounds.** :func:`interleave` runs every case once per round, the order
  rotated from round to round, so a burst of load from another process hits all cases
  alike instead of one side of an A/B comparison.
* **Warm-up excluded.** Each case runs ``warmup`` times before the first round (Numba
  cache loads, first-touch allocations, caches of scipy and the OS); those runs are not
  counted.
* **Medians and spread.** Every figure is the median over the rounds with its min, max
  and quartiles; a ratio between two cases is the median of the *per-round* ratios (both
  sides measured seconds apart), with its spread.
* **CPU time.** The machine is shared: ``time.process_time`` (this process's CPU time)
  is the primary clock, which another process's load inflates far less than wall time;
  wall time is recorded beside it, and the 1-minute load average around each benchmark.
* **Correctness in the same run.** The benchmarks check that the cases compute the same
  thing (bit for bit where that is the contract) with the very inputs they time.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Stats", "child_run", "interleave", "load_average", "ratio", "summary"]


@dataclass
class Stats:
    """Times of one case over the rounds (seconds)."""

    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)

    @property
    def cpu_median_s(self) -> float:
        return statistics.median(self.cpu_s)

    @property
    def wall_median_s(self) -> float:
        return statistics.median(self.wall_s)


def interleave(cases: Mapping[str, Callable[[], object]], rounds: int = 7, warmup: int = 1) -> dict[str, Stats]:
    """Run ``cases`` in ``rounds`` interleaved rounds (order rotated per round) after ``warmup`` runs each."""
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            cases[name]()
    out = {name: Stats() for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            c0, w0 = time.process_time(), time.perf_counter()
            cases[name]()
            c1, w1 = time.process_time(), time.perf_counter()
            out[name].cpu_s.append(c1 - c0)
            out[name].wall_s.append(w1 - w0)
    return out


def _spread(values: Sequence[float], digits: int) -> dict[str, float]:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {
        "median": round(statistics.median(values), digits),
        "p25": round(q[0], digits),
        "p75": round(q[2], digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def summary(stats: Stats, per: float = 1.0, digits: int = 6) -> dict[str, Any]:
    """Median/quartiles/min/max of CPU and wall time, each divided by ``per`` (e.g. calls)."""
    return {
        "cpu_s": _spread([t / per for t in stats.cpu_s], digits),
        "wall_s": _spread([t / per for t in stats.wall_s], digits),
        "rounds": len(stats.cpu_s),
    }


def ratio(slow: Stats, fast: Stats, slow_per: float = 1.0, fast_per: float = 1.0, digits: int = 2) -> dict[str, Any]:
    """Per-round ratio of ``slow`` to ``fast`` CPU time (each normalised by its work unit,
    e.g. samples), as median with spread."""
    r = [(s / slow_per) / (f / fast_per) for s, f in zip(slow.cpu_s, fast.cpu_s, strict=True)]
    return _spread(r, digits)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def child_run(code: str, args: Sequence[str] = (), timeout_s: float = 1800.0) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it must print one JSON object as its last line.

    Adds what the parent measures: ``child_cpu_s`` (user + sys of the child, from
    ``getrusage``), ``child_wall_s`` (launch to exit). The child reports its own peak RSS
    (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) when it wants it: the parent's
    ``RUSAGE_CHILDREN`` maximum spans every child ever waited for.
    """
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["child_cpu_s"] = round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 3)
    result["child_wall_s"] = round(wall, 3)
    return result
