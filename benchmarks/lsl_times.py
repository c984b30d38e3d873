"""``record --lsl`` timestamps against the toolkit's times:
``python benchmarks/lsl_times.py [SENSORS] [SECONDS] [DELAY_S]``.

Records emulated sensors at 100 Hz with ``--lsl --lsl-wait-s --lsl-delay-s DELAY_S``
(private LSL configuration on loopback, tests/lsl_helpers.py), receives every stream with
real liblsl inlets, and prints per sensor: samples received and stored, the largest
difference to the outlet's clock (``LookaheadClock``) replayed on the stored packets, the
difference to the offline clock fit (the session analysis's times) for the first packet and
over all samples (median, 95th percentile, max, share within 1 ms), the causal live clock's
first-packet difference for comparison, and the offline fit's drift. Prints only;
docs/interop.md quotes a run.
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
from test_lsl_outlet import _inlet, _outlet_times, _pull_all

from dmi_sensors.store import SessionStore
from dmi_sensors.store.samples import recorded_samples
from dmi_sensors.timing import StreamingClock, fit_clock


def main(n_sensors: str = "2", seconds: str = "20", delay_s: str = "2") -> None:
    tmp = Path(tempfile.mkdtemp())
    args = [sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", n_sensors, "--fs-hz", "100",
            "--duration-s", seconds, "--lsl", "--lsl-wait-s", "60", "--lsl-delay-s", delay_s, "--subject-id", "C001",
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
        replay = _outlet_times(store, summary["session_id"], float(delay_s))
    for sensor_id, ts in timed.items():
        t = np.asarray(got[f"{sensor_id} IMU"][1]) - summary["lsl"]["t0_lsl_s"]
        b = ts.batch
        d_replay = (t - replay[sensor_id]) * 1e3
        d_off = (t - b.time_s) * 1e3
        d_causal = (StreamingClock(b.fs_hz).process(b.counter, b.host_time_s) - b.time_s) * 1e3
        first = b.host_time_s == b.host_time_s[0]  # the samples of the first packet
        drift = fit_clock(b.counter, b.host_time_s, b.fs_hz).drift_ppm
        print(
            f"{sensor_id}: received {len(t)} stored {len(b)};"
            f" vs outlet clock replay max |d| {np.abs(d_replay).max():.3f} ms;"
            f" vs offline fit (drift {drift:+.0f} ppm): first packet ({first.sum()} samples)"
            f" max {d_off[first].max():.2f} ms"
            f" (causal live clock {d_causal[first].max():.1f} ms); all samples median {np.median(d_off):.2f},"
            f" p95 {np.percentile(d_off, 95):.2f}, min {d_off.min():.2f}, max {d_off.max():.2f} ms,"
            f" within 1 ms {np.mean(np.abs(d_off) <= 1.0) * 100:.0f} %"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
