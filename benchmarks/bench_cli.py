"""Start-up time of ``dmi-sensors --help`` and ``--version`` (target: under 0.3 s)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def _time(args: list[str], repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dmi_sensors", *args], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> dict[str, float]:
    baseline = _time_python()
    return {
        "help_median_s": round(_time(["--help"]), 4),
        "version_median_s": round(_time(["--version"]), 4),
        "bare_python_median_s": round(baseline, 4),
        "target_s": 0.3,
    }


def _time_python(repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
