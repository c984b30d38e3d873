"""``record --lsl`` timestamps against the toolkit's times: ``python benchmarks/lsl_times.py [SENSORS] [SECONDS]``.

Records emulated sensors at 100 Hz with ``--lsl --lsl-wait-s`` (private LSL configuration on
loopback, tests/lsl_helpers.py), receives every stream with real liblsl inlets, and prints
per sensor: samples received and stored, the largest difference to the live path's clock
on the stored packets, and the difference to the offline clock fit (the session analysis's
times) for the first packet and after it. Prints only; docs/interop.md quotes a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import lsl_helpers  # noqa: F401  (the private loopback configuration, before pylsl is used)
from test_lsl_outlet import _inlet, _live_times, _pull_all

from dmi_sensors.store import SessionStore
from dmi_sensors.store.samples import recorded_samples


def main(n_sensors: str = "2", seconds: str = "20") -> None:
    tmp = Path(tempfile.mkdtemp())
    args = [sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", n_sensors, "--fs-hz", "100",
            "--duration-s", seconds, "--lsl", "--lsl-wait-s", "60", "--subject-id", "C001",
            "--com-height-m", "0.5", "--db", str(tmp / "s.sqlite"), "--json", str(tmp / "summary.json")]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("the recorder ended before publishing: " + proc.stderr.read())
        if line.startswith("lsl: publishing"):
            break
    names = line.removeprefix("lsl: publishing ").strip().split(", ")
    inlets = {n: _inlet(n) for n in names}
    got = _pull_all(inlets, lambda: proc.poll() is not None)
    proc.communicate()
    summary = json.loads((tmp / "summary.json").read_text())
    with SessionStore(tmp / "s.sqlite") as store:
        timed = recorded_samples(store, summary["session_id"])
        live = _live_times(store, summary["session_id"], 0.5)
    for sensor_id, ts in timed.items():
        t = np.asarray(got[f"{sensor_id} IMU"][1]) - summary["lsl"]["t0_lsl_s"]
        b = ts.batch
        d_live = (t - live[sensor_id]) * 1e3
        d_off = (t - b.time_s) * 1e3
        first = int(np.argmax(np.diff(b.host_time_s) > 0)) + 1  # the samples of the first packet
        print(
            f"{sensor_id}: received {len(t)} stored {len(b)}; vs live clock max |d| {np.abs(d_live).max():.3f} ms;"
            f" vs offline fit: first packet ({first} samples) max {np.abs(d_off[:first]).max():.1f} ms,"
            f" after it median {np.median(d_off[first:]):.2f} ms, min {d_off[first:].min():.2f},"
            f" max {d_off[first:].max():.2f} ms"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
