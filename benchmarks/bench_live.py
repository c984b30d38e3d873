"""The live path at full load: 16 virtual sensors x 1 kHz for 60 s through the emulated BlueZ.

Each run is the real command, ``dmi-sensors record --simulate-sensors 16 --fs-hz 1000
--live --json ...`` (its own emulated BlueZ, store and live view), with a headless Chromium
(Debian's, through Selenium) showing the live view so that the latency to the screen is a
real browser's. Measured:

* loss: every sensor's samples received equal the emulator's samples sent, none lost;
* recorder CPU: utime + stime of the ``record`` process (all its threads: event loop, store
  writer) over the streaming window, from /proc, in % of one core (and each part: user,
  system = the kernel's work for the process); the emulator, the
  dbus-daemon and the browser are other processes and are not counted, but they share the
  two cores: their CPU over the same window is reported beside it (Chromium's drawing slows
  the recorder's own work measurably);
* latency of every notification to its live metric, to the store and to the screen
  (percentiles, from the record summary's ``live.latency``, written there by the command);
* the same with ``--notify-method start_notify`` (one D-Bus signal per notification);
* warm process to first packet: a fresh Python process (warm disk and Numba caches; the
  emulator already running) from its start to its link's first data notification, five
  times.

Before the recordings a separate process loads the live path's Numba kernels, compiling them
into Numba's cache if they are not there yet, so that every run measures the steady state (a
recording after the first since installing), not the one-off compile.

``DMI_BENCH_LIVE_DURATION_S`` / ``DMI_BENCH_LIVE_SENSORS`` / ``DMI_BENCH_LIVE_FS_HZ``
override 60 s / 16 / 1000 for quick runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import load_average

HERE = Path(__file__).resolve().parent
TARGETS = {
    "metric_p99_ms": 20.0,
    "stored_p99_ms": 500.0,
    "screen_p99_ms": 150.0,
    "cpu_pct": 5.0,
    "first_packet_s": 0.5,
}


def proc_cpu_s(pid: int) -> tuple[float, float]:
    """utime and stime of a process (all its threads), seconds (Linux /proc); the one
    reader of a process's CPU time for the benchmarks (``bench_ble`` uses it too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _descendants(root: int) -> list[int]:
    """``root``'s child processes, their children and so on (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def tree_cpu_s(root: int, include_root: bool = True) -> dict[int, float]:
    """utime + stime of each process of ``root``'s tree, s, by pid (processes that ended
    are missing: compare two readings pid by pid)."""
    out = {}
    for pid in ([root] if include_root else []) + _descendants(root):
        try:
            out[pid] = sum(proc_cpu_s(pid))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _tree_pct(a: dict[int, float], b: dict[int, float], wall_s: float) -> float:
    """% of one core used by the processes present in both readings ``a`` and ``b``."""
    return round(100 * sum(b[p] - a[p] for p in b.keys() & a.keys()) / wall_s, 2)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def _record(method: str, n: int, fs_hz: int, duration_s: float, workdir: Path) -> dict[str, object]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out = workdir / f"summary-{method}.json"
    cmd = [
        sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", str(n), "--fs-hz", str(fs_hz),
        "--duration-s", str(duration_s), "--live", "--live-port", "0", "--db", str(workdir / f"{method}.sqlite"),
        "--com-height-m", "0.55", "--subject-id", "B001", "--notify-method", method, "--json", str(out),
        "--connect-timeout-s", "120",
    ]  # fmt: skip
    log = (workdir / f"record-{method}.log").open("w")
    load_before = load_average()
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True)
    t_stop = None
    driver = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line)
        if url is None:
            raise RuntimeError(f"no live view URL: {line!r}")
        driver = _browser()
        driver.get(url.group(0))
        WebDriverWait(driver, 180, poll_frequency=0.2).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, ".tile[data-state=streaming]")) == n
        )
        # the streaming window: from 2 s after every tile streams to 5 s before the end
        time.sleep(2.0)
        browser_pid = driver.service.process.pid
        others0 = tree_cpu_s(browser_pid), tree_cpu_s(proc.pid, include_root=False)
        cpu0, wall0 = proc_cpu_s(proc.pid), time.monotonic()
        time.sleep(max(1.0, duration_s - 7.0))
        cpu1, wall1 = proc_cpu_s(proc.pid), time.monotonic()
        others1 = tree_cpu_s(browser_pid), tree_cpu_s(proc.pid, include_root=False)
        t_stop = time.monotonic()
        proc.wait(timeout=duration_s + 600)
    finally:
        if driver is not None:
            driver.quit()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log.close()
    if proc.returncode != 0:
        tail = (workdir / f"record-{method}.log").read_text()[-2000:]
        raise RuntimeError(f"record ({method}) exited with {proc.returncode}: {tail}")
    summary = json.loads(out.read_text())
    sensors = summary["sensors"].values()
    received = sum(s["samples_received"] for s in sensors)
    sent = sum(s["samples_sent"] for s in sensors)
    lost = sum(s["samples_lost"] for s in sensors)
    lat = summary["live"]["latency"]
    return {
        "notify_method": sorted({s["notify_method"] for s in sensors}),
        "samples_received": received,
        "samples_sent_truth": sent,
        "samples_lost": lost,
        "zero_loss": lost == 0 and received == sent,
        "load_average_1min_before_after": [load_before, load_average()],
        "recorder_cpu_pct_of_one_core": round(100 * (sum(cpu1) - sum(cpu0)) / (wall1 - wall0), 2),
        "recorder_cpu_user_pct": round(100 * (cpu1[0] - cpu0[0]) / (wall1 - wall0), 2),
        "recorder_cpu_system_pct": round(100 * (cpu1[1] - cpu0[1]) / (wall1 - wall0), 2),
        "cpu_window_s": round(wall1 - wall0, 1),
        # beside the recorder on the same cores, in the same window (not counted above):
        # Chromium showing the page (chromedriver's process tree), and the emulated BlueZ
        # with its sensors and the private D-Bus daemon (the recorder's child processes)
        "browser_cpu_pct_of_one_core": _tree_pct(others0[0], others1[0], wall1 - wall0),
        "emulator_and_bus_cpu_pct_of_one_core": _tree_pct(others0[1], others1[1], wall1 - wall0),
        "end_of_window_to_exit_s": round(time.monotonic() - t_stop, 1) if t_stop else None,
        "latency_ms": lat,
    }


_FIRST_PACKET = r"""
import time
T0 = time.monotonic()
import asyncio, sys
from dmi_sensors.ble import SensorLink, StreamConfig

class Sink:
    def __init__(self):
        self.first = None
        self.done = asyncio.Event()
    def append(self, p):
        if self.first is None and len(p.data) > 1 and p.data[1] in (1, 2):
            self.first = time.monotonic()
            self.done.set()

async def main():
    sink = Sink()
    link = SensorLink(sys.argv[1], "trunk", config=StreamConfig(fs_hz=int(sys.argv[2])), sink=sink)
    link.start()
    await asyncio.wait_for(sink.done.wait(), 30)
    print(T0, sink.first, flush=True)
    await link.stop()

asyncio.run(main())
"""


def _first_packet(fs_hz: int, runs: int = 6) -> dict[str, object]:
    from dmi_sensors.protocol import PacketType
    from dmi_sensors.sim.bluez import simulated_sensors

    assert (PacketType.DATA, PacketType.DATA_COMPACT) == (1, 2)  # what the child script looks for
    times = []
    with simulated_sensors(1, fs_hz=fs_hz) as emu, emu.activated():
        address = next(iter(emu.truth()))
        env = {**os.environ, **emu.env}
        for _ in range(runs):
            t_spawn = time.monotonic()
            res = subprocess.run(
                [sys.executable, "-c", _FIRST_PACKET, address, str(fs_hz)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            t_start, t_first = (float(x) for x in res.stdout.split())
            times.append((t_first - t_spawn, t_first - t_start))
    warm = np.array(times[1:])  # the first run warms the caches
    return {
        "runs": len(warm),
        "spawn_to_first_packet_s_median": round(float(np.median(warm[:, 0])), 3),
        "spawn_to_first_packet_s_max": round(float(warm[:, 0].max()), 3),
        "python_start_to_first_packet_s_median": round(float(np.median(warm[:, 1])), 3),
        "cold_first_run_s": round(times[0][0], 3),
    }


def run() -> dict[str, object]:
    duration_s = float(os.environ.get("DMI_BENCH_LIVE_DURATION_S", "60"))
    n = int(os.environ.get("DMI_BENCH_LIVE_SENSORS", "16"))
    fs_hz = int(os.environ.get("DMI_BENCH_LIVE_FS_HZ", "1000"))
    result: dict[str, object] = {"sensors": n, "fs_hz": fs_hz, "duration_s": duration_s, "targets": TARGETS}
    # Steady state, not the first run after installing: Numba compiles the live path's
    # kernels into its cache once (a few seconds, in the recorder's warm-up thread, which
    # then holds up the event loop for about a second), and every later process loads them.
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", "from dmi_sensors.live.metrics import warm_up; warm_up()"], check=True)
    result["numba_cache_warm_up_s"] = round(time.monotonic() - t, 2)
    with tempfile.TemporaryDirectory(prefix="dmi-bench-live-") as tmp:
        for method in os.environ.get("DMI_BENCH_LIVE_METHODS", "auto,start_notify").split(","):
            try:
                result[method] = _record(method, n, fs_hz, duration_s, Path(tmp))
            except Exception as exc:  # report what failed beside what worked
                result[method] = {"error": f"{type(exc).__name__}: {exc}"[:3000]}
            print(method, json.dumps(result[method]), flush=True)
    result["first_packet"] = _first_packet(fs_hz)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
