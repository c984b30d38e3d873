"""A virtual sensor that performs calibration steps on command, for the emulated BlueZ.

:class:`GuidedVirtualSensor` is the protocol-v1 firmware model
(:class:`dmi_sensors.sim.VirtualSensor`: counters, drifting clock, packets, SET_RATE,
link-loss behaviour) whose motion is not a precomputed child but a *hand* following the
calibration instructions: it lies still on the table (``+z`` up) until it is told, through
the emulator's control channel (``act``), to perform a :class:`~dmi_sensors.calibration.guided.Step`.
From the sample being taken at that moment it then plays that step's readings from
:class:`~dmi_sensors.sim.calibration.SimulatedSource` (exact rigid-body motion plus
the simulator's IMU errors: bias, scale, misalignment, noise, mounting) and afterwards
holds the step's final position. The readings are quantised to the stream's ranges like
any other virtual sensor's.

``calibration_sensors`` is the emulator's device factory
(``EmulatedBluez(factory="dmi_sensors.sim.bluez.guided:calibration_sensors", ...)``); the IMU
errors are :func:`~dmi_sensors.sim.calibration.random_imu_errors` of ``seed``, so
the process that started the emulator knows the truth. The sensor is simulated sensor 0 of
:mod:`dmi_sensors.sim.identity` (serial ``00D10001`` at ``D0:31:5E:00:00:01``, the sensor
``record --simulate-sensors`` records first), and its packets reach the host through its
link like any virtual sensor's (:mod:`dmi_sensors.sim.link`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dmi_sensors import protocol
from dmi_sensors.calibration.guided import Step
from dmi_sensors.errors import ParameterError, StateError
from dmi_sensors.sim.bluez.sensor import SensorPeripheral
from dmi_sensors.sim.calibration import SimulatedSource, random_imu_errors
from dmi_sensors.sim.identity import sensor_address, simulated_serial
from dmi_sensors.sim.imu import ImuErrors
from dmi_sensors.sim.simulate import SimResult
from dmi_sensors.sim.virtual_sensor import VirtualSensor

__all__ = ["GuidedSensorPeripheral", "GuidedVirtualSensor", "calibration_sensors"]


class _Motion:
    """Sensor-frame readings by sample index since START_STREAMING (what ``VirtualSensor`` plays)."""

    def __init__(self, acc_mps2: np.ndarray, gyr_rps: np.ndarray) -> None:
        self.acc_mps2 = acc_mps2
        self.gyr_rps = gyr_rps

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])


class GuidedVirtualSensor(VirtualSensor):
    """A :class:`VirtualSensor` moved by a hand that follows calibration steps (module docstring).

    ``timeline_s``: how much motion is kept ahead (samples beyond it wrap, as the base class
    loops its simulation). ``margin_s``: each step is simulated this much longer than its
    ``duration_s`` (the host starts collecting a little after the hand starts moving).
    """

    def __init__(
        self,
        serial: int | str = simulated_serial(0),
        imu_errors: ImuErrors | None = None,
        *,
        fs_hz: int = 100,
        seed: int = 0,
        timeline_s: float = 600.0,
        margin_s: float = 3.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(serial, fs_hz=fs_hz, seed=seed, imu_errors=imu_errors, **kwargs)
        self.timeline_s = float(timeline_s)
        self.margin_s = float(margin_s)
        self._source: SimulatedSource | None = None
        self._motion: _Motion | None = None
        self._motion_fs = 0.0
        self.steps_performed: list[tuple[str, int]] = []  # (step key, first sample index)

    def _new_source(self) -> SimulatedSource:
        return SimulatedSource(
            protocol.format_serial(self.serial), self.imu_errors, fs_hz=float(self.fs_hz), seed=self._seed + 7919
        )

    def _hold(self, acc: np.ndarray, gyr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples holding the last position: the last second of ``acc``/``gyr`` repeated."""
        tail = max(1, min(acc.shape[0], int(self.fs_hz)))
        reps = -(-n // tail)
        return np.tile(acc[-tail:], (reps, 1))[:n], np.tile(gyr[-tail:], (reps, 1))[:n]

    def _readings(self) -> _Motion:
        if self._motion is None or self._motion_fs != self.fs_hz:
            self._source = self._new_source()
            acc, gyr = self._source.record_step(Step("still", "lying on the table", duration_s=2.0))
            n = max(round(self.timeline_s * self.fs_hz), acc.shape[0])
            self._motion = _Motion(*self._hold(acc, gyr, n))
            self._motion_fs = float(self.fs_hz)
        return self._motion

    @property
    def result(self) -> SimResult:
        """Not available: this sensor plays calibration steps (:attr:`readings`), not a simulation."""
        raise StateError("a GuidedVirtualSensor plays calibration steps, not a simulation; see .readings")

    @property
    def readings(self) -> _Motion:
        """The readings being played (index = sample since START_STREAMING)."""
        return self._readings()

    def _start(self, now: float, fmt: Any, spp: int) -> None:
        motion = self._readings()
        if self._next_sample:  # a new stream continues where the hand is now
            k = self._next_sample % len(motion)
            motion.acc_mps2 = np.roll(motion.acc_mps2, -k, axis=0)
            motion.gyr_rps = np.roll(motion.gyr_rps, -k, axis=0)
        super()._start(now, fmt, spp)

    def act(self, action: dict[str, Any], now_s: float) -> dict[str, Any]:
        """Perform ``action`` (a :class:`Step` as a dict) from the sample taken at ``now_s`` on.

        Returns ``{"sample": first sample index of the step, "n": samples simulated}``.
        """
        fields = {f.name for f in dataclasses.fields(Step)}
        step = Step(**{k: v for k, v in action.items() if k in fields})
        self._advance(now_s)
        motion = self._readings()
        assert self._source is not None
        k = self.samples_due(now_s) if self.streaming else 0
        acc, gyr = self._source.record_step(dataclasses.replace(step, duration_s=step.duration_s + self.margin_s))
        n_total = len(motion)
        end = k + acc.shape[0]
        if end > n_total:
            raise ParameterError(f"step {step.key!r} at sample {k} runs past the {self.timeline_s} s timeline")
        hold_acc, hold_gyr = self._hold(acc, gyr, n_total - end)
        motion.acc_mps2[k:end], motion.gyr_rps[k:end] = acc, gyr
        motion.acc_mps2[end:], motion.gyr_rps[end:] = hold_acc, hold_gyr
        self.steps_performed.append((step.key, k))
        return {"sample": int(k), "n": int(acc.shape[0])}


class GuidedSensorPeripheral(SensorPeripheral):
    """:class:`SensorPeripheral` that forwards the emulator's ``act`` to its sensor."""

    def __init__(self, sensor: GuidedVirtualSensor, address: str, **kwargs: Any) -> None:
        super().__init__(sensor, address, **kwargs)
        self.guided = sensor

    def act(self, action: dict[str, Any], now_s: float) -> dict[str, Any]:
        return self.guided.act(action, now_s)


def calibration_sensors(seed: int = 1, fs_hz: int = 100, index: int = 0) -> list[SensorPeripheral]:
    """Emulator device factory: one :class:`GuidedVirtualSensor` with ``random_imu_errors(seed)``,
    simulated sensor ``index`` (:mod:`dmi_sensors.sim.identity`; 0: ``00D10001`` at
    ``D0:31:5E:00:00:01``)."""
    sensor = GuidedVirtualSensor(simulated_serial(index), random_imu_errors(seed), fs_hz=fs_hz, seed=seed)
    return [GuidedSensorPeripheral(sensor, sensor_address(index))]
