"""Core in-memory types every layer passes along.

Data flows ``RawPacket`` (bytes off the air, stored first) -> ``SampleBatch`` (decoded,
SI units, per-sample device counters and times) -> ``Trial`` (one sensor, uniform time
grid, ready for filters and metrics). All arrays are numpy; units are in the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dmi_sensors import contract
from dmi_sensors.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RawPacket", "SampleBatch", "StreamingAlgorithm", "Trial"]


@dataclass(frozen=True, slots=True)
class RawPacket:
    """One BLE notification exactly as it arrived.

    Attributes
    ----------
    sensor_id
        Stable identifier of the sensor (its serial number, or its address when unknown).
    host_time_s
        Host arrival time, seconds since the session start on the host's monotonic clock.
    data
        The notification payload, untouched.
    """

    sensor_id: str
    host_time_s: float
    data: bytes


_Scalar = TypeVar("_Scalar", bound=np.generic)


def _as_2d(name: str, value: ArrayLike, n: int) -> NDArray[np.float64]:
    arr = np.ascontiguousarray(value, dtype=np.float64)
    if arr.shape != (n, 3):
        raise ParameterError(f"{name} must have shape ({n}, 3), got {arr.shape}")
    return arr


def _as_1d(name: str, value: ArrayLike, n: int, dtype: type[_Scalar]) -> NDArray[_Scalar]:
    arr: NDArray[_Scalar] = np.ascontiguousarray(value, dtype=dtype)
    if arr.shape != (n,):
        raise ParameterError(f"{name} must have shape ({n},), got {arr.shape}")
    return arr


@dataclass(slots=True, init=False)
class SampleBatch:
    """Decoded samples of one sensor, in the sensor frame, SI units.

    Attributes
    ----------
    sensor_id
        Stable identifier of the sensor.
    fs_hz
        Nominal sample rate reported by the device, Hz.
    counter
        Device sample counter, unwrapped (monotonic), int64, shape ``(n,)``.
    device_time_s
        Device clock of each sample, unwrapped, seconds, shape ``(n,)``. Derived from the
        packet's first-sample timestamp plus ``k / fs_hz`` for the k-th sample in it.
    host_time_s
        Host arrival time of the packet that carried each sample, seconds since session
        start, shape ``(n,)`` (equal within one packet).
    acc_mps2
        Specific force, m/s^2, shape ``(n, 3)``. Upright and still reads ``(0, 0, +9.81)``
        in the body frame.
    gyr_rps
        Angular rate, rad/s, right-hand rule, shape ``(n, 3)``.
    gap_before
        True where samples were lost immediately before this sample (from the counter),
        shape ``(n,)``.
    time_s
        Drift-corrected sample time, seconds since session start, shape ``(n,)``; NaN until
        the timing stage has filled it.

    The constructor takes anything array-like and converts it (``gap_before`` defaults to
    all False, ``time_s`` to all NaN); the attributes are then always contiguous arrays of
    the dtypes above.
    """

    sensor_id: str
    fs_hz: float
    counter: NDArray[np.int64]
    device_time_s: NDArray[np.float64]
    host_time_s: NDArray[np.float64]
    acc_mps2: NDArray[np.float64]
    gyr_rps: NDArray[np.float64]
    gap_before: NDArray[np.bool_]
    time_s: NDArray[np.float64]

    def __init__(
        self,
        sensor_id: str,
        fs_hz: float,
        counter: ArrayLike,
        device_time_s: ArrayLike,
        host_time_s: ArrayLike,
        acc_mps2: ArrayLike,
        gyr_rps: ArrayLike,
        gap_before: ArrayLike | None = None,
        time_s: ArrayLike | None = None,
    ) -> None:
        n = int(np.asarray(counter).shape[0])
        self.sensor_id = sensor_id
        self.fs_hz = fs_hz
        self.counter = _as_1d("counter", counter, n, np.int64)
        self.device_time_s = _as_1d("device_time_s", device_time_s, n, np.float64)
        self.host_time_s = _as_1d("host_time_s", host_time_s, n, np.float64)
        self.acc_mps2 = _as_2d("acc_mps2", acc_mps2, n)
        self.gyr_rps = _as_2d("gyr_rps", gyr_rps, n)
        self.gap_before = _as_1d(
            "gap_before", np.zeros(n, dtype=bool) if gap_before is None else gap_before, n, np.bool_
        )
        self.time_s = _as_1d("time_s", np.full(n, np.nan) if time_s is None else time_s, n, np.float64)
        if not (self.fs_hz > 0):
            raise ParameterError(f"fs_hz must be positive, got {self.fs_hz}")

    def __len__(self) -> int:
        return int(self.counter.shape[0])

    @classmethod
    def trusted(
        cls,
        sensor_id: str,
        fs_hz: float,
        counter: NDArray[np.int64],
        device_time_s: NDArray[np.float64],
        host_time_s: NDArray[np.float64],
        acc_mps2: NDArray[np.float64],
        gyr_rps: NDArray[np.float64],
        gap_before: NDArray[np.bool_],
        time_s: NDArray[np.float64],
    ) -> SampleBatch:
        """A batch of arrays taken as they are, without the constructor's conversions and checks.

        For decoders that make the arrays themselves (the live path builds one batch per
        notification, and the checks cost more than the decoding): the caller guarantees
        what the constructor would otherwise ensure, i.e. contiguous arrays of the
        attributes' dtypes, ``(n,)`` and ``(n, 3)`` shapes of one ``n``, ``fs_hz > 0``, and
        that nobody else writes to them. Everything else should call the constructor.
        """
        batch = cls.__new__(cls)
        batch.sensor_id = sensor_id
        batch.fs_hz = fs_hz
        batch.counter = counter
        batch.device_time_s = device_time_s
        batch.host_time_s = host_time_s
        batch.acc_mps2 = acc_mps2
        batch.gyr_rps = gyr_rps
        batch.gap_before = gap_before
        batch.time_s = time_s
        return batch

    @classmethod
    def empty(cls, sensor_id: str, fs_hz: float) -> SampleBatch:
        """A batch with no samples (useful as the neutral element of :meth:`concat`)."""
        z = np.zeros(0)
        return cls(sensor_id, fs_hz, z.astype(np.int64), z, z, np.zeros((0, 3)), np.zeros((0, 3)))

    @classmethod
    def concat(cls, batches: list[SampleBatch]) -> SampleBatch:
        """Join batches of the same sensor in order."""
        if not batches:
            raise ParameterError("concat needs at least one batch")
        first = batches[0]
        for b in batches[1:]:
            if b.sensor_id != first.sensor_id:
                raise ParameterError(f"cannot concat sensors {first.sensor_id!r} and {b.sensor_id!r}")
        return cls(
            first.sensor_id,
            first.fs_hz,
            np.concatenate([b.counter for b in batches]),
            np.concatenate([b.device_time_s for b in batches]),
            np.concatenate([b.host_time_s for b in batches]),
            np.concatenate([b.acc_mps2 for b in batches]),
            np.concatenate([b.gyr_rps for b in batches]),
            np.concatenate([b.gap_before for b in batches]),
            np.concatenate([b.time_s for b in batches]),
        )

    def to_dataframe(self, placement: str = "") -> pd.DataFrame:
        """Tidy table with the columns of :data:`dmi_sensors.contract.SAMPLE_COLUMNS`."""
        # pandas (~0.3 s to import) is loaded on first use: the decoder and the BLE link use
        # these types on the live path and never need it
        import pandas as pd

        data: dict[str, NDArray[np.generic]] = {
            "sensor_id": np.full(len(self), self.sensor_id, dtype=object),
            "placement": np.full(len(self), placement, dtype=object),
            contract.COUNTER: self.counter,
            contract.DEVICE_TIME_S: self.device_time_s,
            contract.HOST_TIME_S: self.host_time_s,
            contract.TIME_S: self.time_s,
        }
        for i, name in enumerate(contract.ACC_SENSOR):
            data[name] = self.acc_mps2[:, i]
        for i, name in enumerate(contract.GYR_SENSOR):
            data[name] = self.gyr_rps[:, i]
        data[contract.GAP_BEFORE] = self.gap_before
        return pd.DataFrame(data, columns=list(contract.SAMPLE_COLUMNS))


@dataclass(slots=True)
class Trial:
    """One sensor's recording on a uniform time grid, ready for filters and metrics.

    Attributes
    ----------
    time_s
        Sample times, seconds since session (or trial) start, shape ``(n,)``, strictly
        increasing with a constant step ``1 / fs_hz`` (within 1e-6 relative).
    acc_mps2
        Specific force in the body-aligned sensor frame (x forward, y left, z up), m/s^2,
        shape ``(n, 3)``.
    gyr_rps
        Angular rate in the same frame, rad/s, shape ``(n, 3)``.
    fs_hz
        Sample rate, Hz.
    sensor_id
        Which sensor this trial came from (empty when unknown).
    """

    time_s: NDArray[np.float64]
    acc_mps2: NDArray[np.float64]
    gyr_rps: NDArray[np.float64]
    fs_hz: float
    sensor_id: str = ""

    def __post_init__(self) -> None:
        n = int(np.asarray(self.time_s).shape[0])
        self.time_s = _as_1d("time_s", self.time_s, n, np.float64)
        self.acc_mps2 = _as_2d("acc_mps2", self.acc_mps2, n)
        self.gyr_rps = _as_2d("gyr_rps", self.gyr_rps, n)
        if not (self.fs_hz > 0):
            raise ParameterError(f"fs_hz must be positive, got {self.fs_hz}")

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def duration_s(self) -> float:
        """Length of the trial, ``n / fs_hz`` seconds."""
        return len(self) / self.fs_hz

    def to_dataframe(self) -> pd.DataFrame:
        """Table with the trial CSV columns (:data:`dmi_sensors.contract.TRIAL_CSV_COLUMNS`)."""
        import pandas as pd  # on first use, see SampleBatch.to_dataframe

        data: dict[str, NDArray[np.generic]] = {contract.TIME_S: self.time_s}
        for i, name in enumerate(contract.ACC_SENSOR):
            data[name] = self.acc_mps2[:, i]
        for i, name in enumerate(contract.GYR_SENSOR):
            data[name] = self.gyr_rps[:, i]
        return pd.DataFrame(data, columns=list(contract.TRIAL_CSV_COLUMNS))


@runtime_checkable
class StreamingAlgorithm(Protocol):
    """The one contract of every streaming or fitted object of the toolkit.

    The DSP objects (:class:`~dmi_sensors.dsp.SosFilter`,
    :class:`~dmi_sensors.dsp.ZeroPhaseSosFilter`, :class:`~dmi_sensors.dsp.Madgwick`,
    :class:`~dmi_sensors.dsp.Mahony`, :class:`~dmi_sensors.dsp.ImuChain`,
    :class:`~dmi_sensors.dsp.DriftControlledIntegrator`) and the protocol's
    :class:`~dmi_sensors.protocol.StreamDecoder` all follow it, and
    ``tests/test_algorithm_contract.py`` checks every one (and fails for a new public class
    with an action method that it does not cover):

    * **Parameters only in** ``__init__``, by keyword, units in their names, documented in
      the class docstring's numpydoc "Parameters" section. They are kept as given (after
      validation) in read-only attributes of the same names, and :meth:`get_params`
      returns them as a JSON-able dict: ``type(obj)(**obj.get_params())`` is an object that
      behaves identically.
    * **One action method,** :meth:`process`. Arrays of both sensors are passed
      ``(acc, gyr)``, in that order, everywhere.
    * :meth:`reset` returns the object to its freshly constructed state (the next
      :meth:`process` output equals a new object's, bit for bit).
    * :attr:`state` is the FULL streaming state as a small frozen dataclass (arrays in it
      are read-only copies). Reading it takes a snapshot; assigning a state read from an
      object with the same parameters makes this object continue exactly where that one
      was: the outputs go on bit-identically.
    * Streaming objects are chunk invariant: any split of the input into :meth:`process`
      calls gives the same output as one call on the whole (bit-exact).
      :class:`~dmi_sensors.dsp.ZeroPhaseSosFilter` is the one offline object: each call is
      one complete segment and its state is empty.
    """

    @property
    def state(self) -> Any:
        """The full streaming state (a frozen dataclass snapshot); assignable."""
        ...

    @state.setter
    def state(self, value: Any) -> None: ...

    def process(self, *args: Any, **kwargs: Any) -> Any:
        """Consume the next samples (or packets) and return the outputs for them."""
        ...

    def reset(self) -> None:
        """Back to the freshly constructed state."""
        ...

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able: ``type(obj)(**obj.get_params())`` rebuilds it."""
        ...
