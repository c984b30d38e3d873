"""48 emulated sensors for 60 s, five times (issue 16, finding 8).

Each run is ``dmi-sensors record --simulate-sensors 48 --duration-s 60`` in a fresh process
(200 Hz, raw packets into a session database, ``--json`` summary): the CLI as a user runs
it, bleak's real BlueZ backend against the emulated BlueZ on a private dbus-daemon. A run
holds when it exits 0 with all 48 sensors streaming to the end, every sensor's received
samples equal to what the emulator sent, nothing lost, and no temporary folder left behind.

Run: ``python -m benchmarks faults_emulator`` (about 6 minutes; ``DMI_BENCH_RUNS`` and
``DMI_BENCH_SENSORS`` change the numbers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("DMI_BENCH_RUNS", "5"))
SENSORS = int(os.environ.get("DMI_BENCH_SENSORS", "48"))
DURATION_S = 60.0


def _temp_folders(pid: int) -> list[str]:
    """The emulator's temporary folders made by process ``pid`` (their owner file names it;
    other programs' folders on a shared machine do not count)."""
    out = []
    for base in {Path("/tmp"), Path(tempfile.gettempdir())}:
        for prefix in ("dmi-bus-", "dmi-bluez-"):
            for p in base.glob(f"{prefix}*"):
                try:
                    if int((p / "owner").read_text().split()[0]) == pid:
                        out.append(str(p))
                except (OSError, ValueError, IndexError):
                    pass
    return out


def _one(run: int, tmp: Path) -> dict[str, object]:
    db, summary_path = tmp / f"run{run}.sqlite", tmp / f"run{run}.json"
    cmd = [sys.executable, "-m", "dmi_sensors.cli", "record", "--simulate-sensors", str(SENSORS)]
    cmd += ["--duration-s", str(DURATION_S), "--scan-timeout-s", "5", "--connect-timeout-s", "60", "--seed", str(run)]
    cmd += ["--db", str(db), "--json", str(summary_path), "--subject-id", "B048"]
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        _, stderr = proc.communicate(timeout=600)
    wall = time.perf_counter() - t0
    left = _temp_folders(proc.pid)
    out: dict[str, object] = {"rc": proc.returncode, "wall_s": round(wall, 1), "temp_folders_left": len(left)}
    if not summary_path.exists():
        out["error"] = stderr.strip().splitlines()[-1:] if stderr.strip() else "no summary"
        out["held"] = False
        return out
    summary = json.loads(summary_path.read_text())
    rows = summary["sensors"].values()
    mismatched = [sid for sid, r in summary["sensors"].items() if r["samples_received"] != r.get("samples_sent")]
    out.update(
        status=summary["status"],
        sensors=len(summary["sensors"]),
        streaming_at_end=sum(r["state"] == "streaming" for r in rows),
        samples_received=sum(r["samples_received"] for r in rows),
        samples_lost=sum(r["samples_lost"] for r in rows),
        received_ne_sent=len(mismatched),
        packets_stored=summary["packets_stored"],
        packets_received=summary["packets_received"],
        commit_latency_max_s=summary["commit_latency_max_s"],
    )
    out["held"] = (
        proc.returncode == 0
        and out["sensors"] == SENSORS
        and out["streaming_at_end"] == SENSORS
        and not mismatched
        and out["samples_lost"] == 0
        and out["packets_stored"] == out["packets_received"]
        and not left
    )
    return out


def run() -> dict[str, object]:
    results: dict[str, object] = {"sensors": SENSORS, "duration_s": DURATION_S, "fs_hz": 200, "runs": RUNS}
    held = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(RUNS):
            one = _one(k, Path(tmp))
            held += bool(one["held"])
            results[f"run{k}"] = json.dumps(one, sort_keys=True)
            print(f"   run {k}: {one}", flush=True)
    results["held"] = f"{held}/{RUNS}"
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
