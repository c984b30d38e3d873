"""The C reference library: its host tests (same vectors) and its packetizer against Python's."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dmi_sensors import protocol as P

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware_protocol"
HAVE_CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(not (HAVE_CC and shutil.which("make")), reason="needs make and a C compiler")


@pytest.fixture(scope="module")
def built() -> Iterator[Path]:
    # a build directory of this process's own: the suite runs in two pytest-xdist workers,
    # and two compilers writing (or one executing what the other writes) build/test_vectors
    # at once would fail at random; the directory is relative (the Makefile runs ./$(BUILD)/...)
    build = f"build/pytest-{os.getpid()}"
    cmd = ["make", "-C", str(FW), "test", f"BUILD={build}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failures: 0" in proc.stdout
    assert "vectors: " in proc.stdout
    yield FW / build / "test_vectors"
    shutil.rmtree(FW / build, ignore_errors=True)


def test_make_test_passes(built):
    assert built.exists()


def _synth(n: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(3, dtype=np.int64)[None, :]
    acc = (i * 7919 + j * 104729) % 65536 - 32768
    gyr = (i * 3571 + j * 15485863) % 65536 - 32768
    return acc, gyr


@pytest.mark.parametrize(
    ("n", "spp", "compact", "first_counter", "first_ts"),
    [(100, 19, 0, 0xFFFFFFF0, 0xFFFF0000), (57, 7, 0, 0, 123), (30, 1, 1, 65530, 16_777_000)],
)
def test_c_packetizer_matches_python_packetize(built, n, spp, compact, first_counter, first_ts):
    args = [str(built), "--packetize", str(n), str(spp), str(compact), str(first_counter), str(first_ts)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout.split()
    c_packets = [bytes.fromhex(line) for line in out]
    acc, gyr = _synth(n)
    py_packets = P.packetize(acc, gyr, first_counter, first_ts, 1000, 16, 2000, spp, compact=bool(compact))
    assert c_packets == py_packets
