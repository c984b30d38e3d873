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

Third-party sensors: :class:`GuidedVendorMixin` puts the same hand into the vendor
peripherals of :mod:`dmi_sensors.sim.bluez.vendors` (:data:`GUIDED_VENDOR_PERIPHERALS`;
factory ``calibration_vendor_sensors``, used by ``calibrate --via-bluez --simulate-vendor``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from dmi_sensors import protocol
from dmi_sensors.calibration.guided import Step
from dmi_sensors.errors import ParameterError, StateError
from dmi_sensors.sim.bluez.sensor import SensorPeripheral
from dmi_sensors.sim.bluez.vendors import VENDOR_PERIPHERALS, VendorPeripheral
from dmi_sensors.sim.calibration import SimulatedSource, random_imu_errors
from dmi_sensors.sim.identity import sensor_address, simulated_serial
from dmi_sensors.sim.imu import ImuErrors
from dmi_sensors.sim.simulate import SimResult
from dmi_sensors.sim.virtual_sensor import VirtualSensor

__all__ = [
    "GUIDED_VENDOR_PERIPHERALS",
    "GuidedSensorPeripheral",
    "GuidedVendorMixin",
    "GuidedVirtualSensor",
    "calibration_sensors",
    "calibration_vendor_sensors",
]


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


class GuidedVendorMixin:
    """A vendor peripheral (:mod:`dmi_sensors.sim.bluez.vendors`) moved by the calibration hand.

    The vendor peripherals play sample ``k`` of a stream from the simulated readings at grid
    index ``round(t0 × rate) + k`` (true time since the emulator started). Here those
    readings are, per rate the sensor streams at, a timeline of ``timeline_s`` seconds:
    lying still on the table until ``act`` (the emulator's control channel) performs a
    :class:`~dmi_sensors.calibration.guided.Step` from the next grid instant on, with
    :class:`~dmi_sensors.sim.calibration.SimulatedSource` (one per rate: the orientation
    stays continuous across steps), then holding the step's final position. The vendor's
    own encoder then quantises the readings to its byte format (DOT floats, Polar mG,
    MetaWear and WitMotion counts).
    """

    imu_errors: ImuErrors
    serial: int
    seed: int
    streams: dict[str, Any]
    timeline_s: float = 900.0
    margin_s: float = 3.0

    def _guided_state(self) -> tuple[dict[float, _Motion], dict[float, SimulatedSource]]:
        if not hasattr(self, "_guided_motion"):
            self._guided_motion: dict[float, _Motion] = {}
            self._guided_sources: dict[float, SimulatedSource] = {}
            self.steps_performed: list[tuple[str, float]] = []  # (step key, true start time s)
        return self._guided_motion, self._guided_sources

    def readings(self, rate_hz: float) -> _Motion:
        motion, sources = self._guided_state()
        key = float(rate_hz)
        if key not in motion:
            source = SimulatedSource(
                protocol.format_serial(self.serial), self.imu_errors, fs_hz=key, seed=self.seed + 7919
            )
            acc, gyr = source.record_step(Step("still", "lying on the table", duration_s=2.0))
            n = round(self.timeline_s * key)
            tail = max(1, min(acc.shape[0], round(key)))
            reps = -(-n // tail)
            motion[key] = _Motion(np.tile(acc[-tail:], (reps, 1))[:n], np.tile(gyr[-tail:], (reps, 1))[:n])
            sources[key] = source
        return motion[key]

    def act(self, action: dict[str, Any], now_s: float) -> dict[str, Any]:
        """Perform ``action`` (a :class:`Step` as a dict) from the next sample instant after
        ``now_s`` on, at every rate the sensor has readings for.

        Returns ``{"time_s": true start time, "n": samples simulated at the streaming rate}``.
        """
        fields = {f.name for f in dataclasses.fields(Step)}
        step = Step(**{k: v for k, v in action.items() if k in fields})
        motion, sources = self._guided_state()
        longer = dataclasses.replace(step, duration_s=step.duration_s + self.margin_s)
        n_out = 0
        for rate in sorted(motion):
            m, source = motion[rate], sources[rate]
            k = math.ceil(now_s * rate - 1e-9)
            acc, gyr = source.record_step(longer)
            end = k + acc.shape[0]
            if end > len(m):
                raise ParameterError(f"step {step.key!r} at {now_s:.1f} s runs past the {self.timeline_s} s timeline")
            tail = max(1, min(acc.shape[0], round(rate)))
            rest = len(m) - end
            reps = -(-rest // tail) if rest else 0
            m.acc_mps2[k:end], m.gyr_rps[k:end] = acc, gyr
            if rest:
                m.acc_mps2[end:] = np.tile(acc[-tail:], (reps, 1))[:rest]
                m.gyr_rps[end:] = np.tile(gyr[-tail:], (reps, 1))[:rest]
            if any(abs(s.rate_hz - rate) < 1e-9 for s in self.streams.values()):
                n_out = int(acc.shape[0])
        self.steps_performed.append((step.key, float(now_s)))
        return {"time_s": float(now_s), "n": n_out}


def _guided_vendor_class(cls: type[VendorPeripheral]) -> type[VendorPeripheral]:
    return type(f"Guided{cls.__name__}", (GuidedVendorMixin, cls), {"__doc__": GuidedVendorMixin.__doc__})


#: vendor name -> its peripheral moved by the calibration hand
GUIDED_VENDOR_PERIPHERALS: dict[str, type[VendorPeripheral]] = {
    name: _guided_vendor_class(cls) for name, cls in VENDOR_PERIPHERALS.items()
}


def calibration_vendor_sensors(
    vendor: str, seed: int = 1, index: int = 0, model: str | None = None
) -> list[VendorPeripheral]:
    """Emulator device factory: one ``vendor`` peripheral (:data:`GUIDED_VENDOR_PERIPHERALS`)
    with ``random_imu_errors(seed)``, simulated sensor ``index`` (address and serial of
    :mod:`dmi_sensors.sim.identity`), that performs calibration steps on ``act``.
    ``model``: the Polar model (``"Verity Sense"`` default, ``"H10"``: accelerometer only)."""
    try:
        cls = GUIDED_VENDOR_PERIPHERALS[vendor]
    except KeyError:
        raise ParameterError(f"vendor must be one of {', '.join(GUIDED_VENDOR_PERIPHERALS)}, got {vendor!r}") from None
    extra: dict[str, Any] = {"model": model} if model and vendor == "polar" else {}
    return [cls(index, seed=seed, imu_errors=random_imu_errors(seed), **extra)]
