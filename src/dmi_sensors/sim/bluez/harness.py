"""Start and stop a complete emulated BlueZ: private dbus-daemon + emulator process.

:class:`EmulatedBluez` is what tests, benchmarks and ``dmi-sensors record
--simulate-sensors`` use::

    with EmulatedBluez(factory_kwargs={"n": 4}) as emu, emu.activated():
        asyncio.run(record(...))          # bleak now talks to the emulator
        print(emu.truth())

It starts (1) a :class:`~dmi_sensors.sim.bluez.bus.PrivateBus`, (2) ``python -m
dmi_sensors.sim.bluez`` on it, waits for ``READY``, and prepares the environment bleak
needs: ``DBUS_SYSTEM_BUS_ADDRESS`` pointing at the private bus and a ``bluetoothctl`` stub
answering ``5.72`` first on ``PATH`` (bleak refuses BlueZ < 5.55 when a real, older
``bluetoothctl`` is installed). :meth:`stop` shuts the emulator down, then the daemon,
reaps both and removes the temporary directory, leaving no process behind. A process killed
with SIGKILL cannot do that: its children die with it (``PR_SET_PDEATHSIG``) and the next
start removes the temporary directories whose owner process is gone
(:func:`~dmi_sensors.sim.bluez.bus.clean_stale_directories`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dmi_sensors
from dmi_sensors.errors import EmulatorError
from dmi_sensors.sim.bluez.bus import PrivateBus, die_with_parent, mark_owner
from dmi_sensors.sim.bluez.control import ControlClient, ControlError
from dmi_sensors.sim.bluez.faults import FaultProfile, fault_setup
from dmi_sensors.sim.identity import sensor_address

__all__ = ["DEFAULT_FACTORY", "EmulatedBluez", "EmulatorError", "simulated_sensors"]

#: Default device factory of the emulator process: virtual DMI sensors speaking protocol v1.
DEFAULT_FACTORY = "dmi_sensors.sim.bluez.sensor:virtual_sensors"
#: The factory of third-party sensors (:func:`dmi_sensors.sim.bluez.vendors.vendor_sensors`).
VENDOR_FACTORY = "dmi_sensors.sim.bluez.vendors:vendor_sensors"

_BLUETOOTHCTL_STUB = "#!/bin/sh\n# stub written by dmi_sensors.sim.bluez: bleak only asks for the version\necho 5.72\n"


class EmulatedBluez:
    """A private system bus with an emulated ``org.bluez`` (see the module docstring).

    Parameters
    ----------
    factory
        ``"module:function"`` returning the list of peripherals (called in the emulator process).
    factory_kwargs
        JSON-able keyword arguments for the factory.
    faults
        A profile for every device, or a mapping address -> profile (``"*"`` = default).
    seed
        Seeds the fault generators.
    tick_s
        Connection interval of peripherals that bring no link of their own, seconds (virtual
        DMI sensors use their own, :meth:`dmi_sensors.sim.VirtualSensor.link_scheduler`).
    extra_pythonpath
        Directories prepended to the emulator's ``PYTHONPATH`` (e.g. a test helper module).
    acquire_notify
        Offer ``AcquireNotify`` on notifying characteristics (BlueZ >= 5.46); False: only
        ``StartNotify``.
    """

    def __init__(
        self,
        factory: str = DEFAULT_FACTORY,
        factory_kwargs: dict[str, Any] | None = None,
        faults: FaultProfile | dict[str, FaultProfile] | None = None,
        seed: int = 0,
        tick_s: float = 0.015,
        extra_pythonpath: tuple[str, ...] = (),
        start_timeout_s: float = 60.0,
        acquire_notify: bool = True,
    ) -> None:
        self.factory = factory
        self.acquire_notify = acquire_notify
        self.factory_kwargs = dict(factory_kwargs or {})
        self.faults = faults
        self.seed = seed
        self.tick_s = tick_s
        self.extra_pythonpath = extra_pythonpath
        self.start_timeout_s = start_timeout_s
        self.bus: PrivateBus | None = None
        self.directory: Path | None = None
        self.control: ControlClient | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def _faults_json(self) -> str:
        f = self.faults
        if f is None:
            return "null"
        if isinstance(f, FaultProfile):
            return json.dumps(f.to_dict())
        return json.dumps({"per_device": {a: p.to_dict() for a, p in f.items()}})

    @property
    def pid(self) -> int:
        """Process id of the emulator (0 when not running)."""
        return self._proc.pid if self._proc is not None else 0

    def start(self) -> EmulatedBluez:
        """Start daemon and emulator; returns ``self`` once ``org.bluez`` is served."""
        if self._proc is not None:
            raise EmulatorError("already started")
        try:
            self.bus = PrivateBus().start()  # also removes what killed recorders left behind
            self.directory = Path(tempfile.mkdtemp(prefix="dmi-bluez-"))
            mark_owner(self.directory)
            stub_dir = self.directory / "bin"
            stub_dir.mkdir()
            stub = stub_dir / "bluetoothctl"
            stub.write_text(_BLUETOOTHCTL_STUB)
            stub.chmod(0o755)
            control_path = self.directory / "control.sock"
            self._stderr_path = self.directory / "emulator.log"
            env = os.environ.copy()
            src = str(Path(dmi_sensors.__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join([*self.extra_pythonpath, src, *filter(None, [env.get("PYTHONPATH")])])
            env["DBUS_SYSTEM_BUS_ADDRESS"] = self.bus.address
            cmd = [
                sys.executable,
                "-m",
                "dmi_sensors.sim.bluez",
                "--bus",
                self.bus.address,
                "--control",
                str(control_path),
                "--factory",
                self.factory,
                "--factory-kwargs",
                json.dumps(self.factory_kwargs),
                "--faults",
                self._faults_json(),
                "--seed",
                str(self.seed),
                "--tick-s",
                str(self.tick_s),
                "--bus-pid",
                str(self.bus.pid),
                *([] if self.acquire_notify else ["--no-acquire-notify"]),
            ]
            with self._stderr_path.open("wb") as err:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env=env,
                    preexec_fn=die_with_parent,
                )
            self._wait_ready()
            self.control = ControlClient(control_path)
        except BaseException:
            self.stop()
            raise
        return self

    def _stderr_tail(self) -> str:
        if self._stderr_path is None or not self._stderr_path.exists():
            return ""
        return self._stderr_path.read_text(errors="replace")[-3000:]

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self.start_timeout_s
        buf = b""
        while b"READY" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EmulatorError(f"emulator not ready within {self.start_timeout_s} s\n{self._stderr_tail()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = self._proc.wait()
                    raise EmulatorError(f"emulator exited with code {code}\n{self._stderr_tail()}")
                buf += chunk

    def stop(self) -> None:
        """Shut down the emulator and the daemon, reap both, remove temporary files. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None and self.control is not None:
                with contextlib.suppress(OSError, ControlError, ValueError):
                    self.control.timeout_s = 2.0
                    self.control.call_sync("shutdown")
            try:
                proc.wait(3.0)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(3.0)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self.control = None
        if self.bus is not None:
            self.bus.stop()
            self.bus = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> EmulatedBluez:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- environment for bleak ---------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """Variables a bleak client process needs to use this emulator."""
        if self.bus is None or self.directory is None:
            raise EmulatorError("not started")
        return {
            "DBUS_SYSTEM_BUS_ADDRESS": self.bus.address,
            "PATH": f"{self.directory / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    @contextlib.contextmanager
    def activated(self) -> Iterator[EmulatedBluez]:
        """Point this process's bleak at the emulator (sets :attr:`env`, restores on exit)."""
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            yield self
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # -- control -----------------------------------------------------------------------
    def _client(self) -> ControlClient:
        if self.control is None:
            raise EmulatorError("not started")
        return self.control

    def truth(self) -> dict[str, dict[str, Any]]:
        """Per-device truth (blocking; see :meth:`atruth` inside an event loop)."""
        return self._client().call_sync("truth")

    async def atruth(self) -> dict[str, dict[str, Any]]:
        """Per-device truth: samples sent, dropped (air, malformed, link down), connects, ..."""
        return await self.acall("truth")

    async def acall(self, op: str, **args: Any) -> Any:
        """Any control operation (see :mod:`dmi_sensors.sim.bluez.control`).

        An emulator that went away is an :class:`EmulatorError` with the end of its log."""
        try:
            return await self._client().call(op, **args)
        except OSError as exc:
            code = self._proc.poll() if self._proc is not None else None
            raise EmulatorError(
                f"emulated BlueZ control {op!r} failed ({exc}); emulator exit code {code}\n{self._stderr_tail()}"
            ) from exc

    def call(self, op: str, **args: Any) -> Any:
        """Blocking :meth:`acall`."""
        return self._client().call_sync(op, **args)


def simulated_sensors(
    n: int,
    fs_hz: int = 200,
    fault_profile: str | FaultProfile = "none",
    seed: int = 0,
    acquire_notify: bool = True,
    vendors: Sequence[str] | None = None,
    **sensor_kwargs: Any,
) -> EmulatedBluez:
    """An (unstarted) emulator serving ``n`` virtual DMI sensors with a named fault profile
    (every sensor) or scenario (one of them; :data:`~dmi_sensors.sim.bluez.faults.SCENARIOS`).

    ``vendors``: third-party sensors instead (:mod:`dmi_sensors.sim.bluez.vendors`), sensor
    ``i`` of vendor ``vendors[i % len(vendors)]`` (e.g. ``["dot", "polar"]``), each at its
    vendor's rate as the host sets it up (``fs_hz`` is not used).

    ``with simulated_sensors(4, fault_profile="flaky") as emu, emu.activated(): ...``
    """
    first = int(sensor_kwargs.get("first_index", 0))
    addresses = [sensor_address(first + i) for i in range(n)]
    faults = fault_setup(fault_profile, addresses) if isinstance(fault_profile, str) else fault_profile
    if vendors:
        names = [vendors[i % len(vendors)] for i in range(n)]
        kw = {"vendors": names, "seed": seed, **sensor_kwargs}
        return EmulatedBluez(VENDOR_FACTORY, kw, faults=faults, seed=seed, acquire_notify=acquire_notify)
    kwargs = {"n": n, "fs_hz": fs_hz, "seed": seed, **sensor_kwargs}
    return EmulatedBluez(factory_kwargs=kwargs, faults=faults, seed=seed, acquire_notify=acquire_notify)
