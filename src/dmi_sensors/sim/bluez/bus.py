"""A private ``dbus-daemon`` acting as the system bus, for the emulated BlueZ.

bleak's Linux backend talks to ``org.bluez`` on the *system* bus, whose address dbus-fast
takes from ``DBUS_SYSTEM_BUS_ADDRESS``. :class:`PrivateBus` starts a throw-away
``dbus-daemon`` (``<type>system</type>``, a unix socket in a temporary directory, EXTERNAL
auth, allow-all policy) so the emulator can own ``org.bluez`` without root and without
touching the machine's real bus. The daemon runs with ``--nofork`` as our child, is asked to
die with its parent (``PR_SET_PDEATHSIG``) and is terminated and reaped by :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from dmi_sensors.errors import EmulatorError

__all__ = ["BusError", "PrivateBus", "clean_stale_directories", "die_with_parent", "mark_owner"]

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

_PR_SET_PDEATHSIG = 1
#: File in each temporary directory naming the process that made it: "<pid> <start time>".
OWNER_FILE = "owner"
#: Prefixes of the temporary directories of the emulated BlueZ (bus, emulator).
TEMP_PREFIXES = ("dmi-bus-", "dmi-bluez-")


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22): with
    the pid it names one process even after the pid is reused. "" where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return not start or _start_time(pid) in ("", start)


def mark_owner(directory: Path) -> None:
    """Write :data:`OWNER_FILE` into ``directory``: this process made it."""
    pid = os.getpid()
    (directory / OWNER_FILE).write_text(f"{pid} {_start_time(pid)}\n")


def clean_stale_directories(bases: tuple[Path, ...] | None = None) -> list[Path]:
    """Remove the emulator's temporary directories whose owner process is gone (e.g. a recorder
    killed with SIGKILL, which cannot clean up). Directories of live processes, of other users
    and without an owner file are left alone. Returns the directories removed."""
    if bases is None:
        bases = tuple(dict.fromkeys([Path("/tmp"), Path(tempfile.gettempdir())]))
    removed = []
    for base in bases:
        if not base.is_dir():
            continue
        for prefix in TEMP_PREFIXES:
            for d in base.glob(f"{prefix}*"):
                try:
                    if d.is_symlink() or not d.is_dir() or d.stat().st_uid != os.getuid():
                        continue
                    pid_text, _, start = (d / OWNER_FILE).read_text().strip().partition(" ")
                    pid = int(pid_text)
                except (OSError, ValueError):
                    continue
                if not _alive(pid, start.strip()):
                    shutil.rmtree(d, ignore_errors=True)
                    removed.append(d)
    return removed


class BusError(EmulatorError):
    """The private dbus-daemon could not be started."""


def die_with_parent() -> None:
    """``preexec_fn`` for children: get SIGTERM when the parent dies (Linux only, else no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class PrivateBus:
    """A private system bus served by our own ``dbus-daemon`` child process.

    Use as a context manager or call :meth:`start` / :meth:`stop`::

        with PrivateBus() as bus:
            env = {"DBUS_SYSTEM_BUS_ADDRESS": bus.address}

    Attributes
    ----------
    address
        D-Bus address of the bus (``unix:path=...,guid=...``), valid after :meth:`start`.
    pid
        Process id of the daemon, valid after :meth:`start`.
    directory
        Temporary directory holding the config file and the socket (removed by :meth:`stop`).
    """

    def __init__(self, dbus_daemon: str | None = None, start_timeout_s: float = 10.0) -> None:
        exe = dbus_daemon or shutil.which("dbus-daemon")
        if exe is None:
            raise BusError("dbus-daemon not found on PATH (Debian/Ubuntu: apt-get install dbus-daemon)")
        self._exe = exe
        self._start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self.directory: Path | None = None
        self.address = ""
        self.pid = 0

    @property
    def running(self) -> bool:
        """True while the daemon process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PrivateBus:
        """Start the daemon and wait until it prints its address; returns ``self``."""
        if self._proc is not None:
            raise BusError("PrivateBus already started")
        clean_stale_directories()
        # Unix socket paths are limited to ~107 bytes: keep the directory short.
        self.directory = Path(tempfile.mkdtemp(prefix="dmi-bus-", dir="/tmp" if Path("/tmp").is_dir() else None))
        mark_owner(self.directory)
        socket_path = self.directory / "system_bus_socket"
        config = self.directory / "bus.conf"
        config.write_text(_CONFIG.format(socket=socket_path))
        self._proc = subprocess.Popen(
            [self._exe, f"--config-file={config}", "--nofork", "--nopidfile", "--print-address=1", "--print-pid=1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        try:
            lines = self._read_lines(2)
        except BaseException:
            self.stop()
            raise
        self.address, pid_text = lines
        self.pid = int(pid_text)
        if self.pid != self._proc.pid or not self.address.startswith("unix:"):
            self.stop()
            raise BusError(f"unexpected dbus-daemon output: {lines!r}")
        return self

    def _read_lines(self, n: int) -> list[str]:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self._start_timeout_s
        buf = b""
        while buf.count(b"\n") < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BusError(f"dbus-daemon did not print its address within {self._start_timeout_s} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise BusError(f"dbus-daemon exited early with code {self._proc.wait()}")
                buf += chunk
        return [line.strip() for line in buf.decode().splitlines()[:n]]

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate and reap the daemon, remove the temporary directory. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> PrivateBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; stop() is the real API
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(Exception):
                self._proc.kill()
                self._proc.wait(1)
