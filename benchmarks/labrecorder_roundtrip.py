"""Manual check with LabRecorder: ``python benchmarks/labrecorder_roundtrip.py PATH/TO/LabRecorderCLI [SECONDS]``.

LabRecorder is not on the package registries, so this is not part of the test suite: build
``LabRecorderCLI`` from its sources (App-LabRecorder with ``-DLABRECORDER_BUILD_GUI=OFF``,
liblsl from source; outside this repository) and point this script at it. It records two
emulated sensors at 100 Hz with ``record --lsl --lsl-wait-s``, lets LabRecorderCLI write
every stream to an XDF file (private LSL configuration on loopback, tests/lsl_helpers.py,
inherited by both programs), imports the file with ``sessions import`` and prints, per
sensor: samples stored, in the XDF file (read with pyxdf, clock offsets applied) and
imported; whether the values are bit-identical; the XDF timestamps against the outlet's
clock replayed on the stored packets and against the offline clock fit; the derived
stream's samples and nominal rate; the markers. docs/interop.md quotes a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyxdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import lsl_helpers  # noqa: F401  (the private loopback configuration: LSLAPICFG for both programs)
from test_lsl_outlet import _outlet_times

from dmi_sensors.store import SessionStore
from dmi_sensors.store.samples import recorded_samples, session_samples


def main(labrecorder_cli: str, seconds: str = "10") -> None:
    tmp = Path(tempfile.mkdtemp())
    xdf = tmp / "lab.xdf"
    args = [sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", "2", "--fs-hz", "100",
            "--duration-s", seconds, "--lsl", "--lsl-wait-s", "60", "--subject-id", "C001",
            "--com-height-m", "0.5", "--db", str(tmp / "rec.sqlite"), "--json", str(tmp / "rec.json")]  # fmt: skip
    rec = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert rec.stderr is not None
    while not (line := rec.stderr.readline()).startswith("lsl: publishing"):
        if not line:
            raise SystemExit("the recorder ended before publishing: " + rec.stderr.read())
    queries = ["type='IMU'", "type='COM'", "type='Markers'"]
    lab = subprocess.Popen([labrecorder_cli, str(xdf), *queries], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    _, err = rec.communicate(timeout=120 + float(seconds))
    if rec.returncode != 0:
        raise SystemExit(f"record failed ({rec.returncode}): {err}")
    lab.communicate(input="\n", timeout=60)  # Enter stops LabRecorderCLI: it closes the file
    print(f"LabRecorderCLI exit {lab.returncode}, {xdf.stat().st_size} bytes")
    imp = subprocess.run([sys.executable, "-m", "dmi_sensors", "sessions", "import", str(xdf), "--subject-id", "C001",
                          "--db", str(tmp / "imp.sqlite")], capture_output=True, text=True)  # fmt: skip
    print(f"sessions import exit {imp.returncode}: {imp.stdout.strip()}")
    summary = json.loads((tmp / "rec.json").read_text())
    t0_lsl = summary["lsl"]["t0_lsl_s"]
    streams, _ = pyxdf.load_xdf(str(xdf), synchronize_clocks=True, dejitter_timestamps=False)
    by_name = {s["info"]["name"][0]: s for s in streams}
    with SessionStore(tmp / "rec.sqlite") as store:
        stored = {k: v.batch for k, v in recorded_samples(store, summary["session_id"]).items()}
        replay = _outlet_times(store, summary["session_id"], summary["lsl"]["delay_s"])
    with SessionStore(tmp / "imp.sqlite") as store:
        imported = session_samples(store, 1)
    for sensor_id, b in stored.items():
        s = by_name[f"{sensor_id} IMU"]
        v, t = np.asarray(s["time_series"]), np.asarray(s["time_stamps"]) - t0_lsl
        m = imported[sensor_id]
        same = np.array_equal(v, np.hstack([b.acc_mps2, b.gyr_rps]))
        dt_ms = np.abs(t - replay[sensor_id]).max() * 1e3
        same_imported = np.array_equal(np.hstack([m.acc_mps2, m.gyr_rps]), np.hstack([b.acc_mps2, b.gyr_rps]))
        d_off = (t - b.time_s) * 1e3
        first = b.host_time_s == b.host_time_s[0]
        com = by_name[f"{sensor_id} com"]
        print(
            f"{sensor_id}: stored {len(b)}, XDF {len(t)}, imported {len(m)}; values bit-identical: XDF {same},"
            f" imported {same_imported}; XDF times vs outlet clock max {dt_ms:.3f} ms;"
            f" vs offline fit: first packet max {d_off[first].max():.2f} ms, median {np.median(d_off):.2f},"
            f" max {d_off.max():.2f} ms; com stream {len(com['time_stamps'])} samples at"
            f" {float(com['info']['nominal_srate'][0]):g} Hz"
        )
    print(f"markers: {len(by_name['dmi-sensors-markers']['time_stamps'])}")


if __name__ == "__main__":
    main(*sys.argv[1:])
