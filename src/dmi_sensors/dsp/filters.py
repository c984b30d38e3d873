"""Butterworth design helpers and second-order-section filters, streaming and zero-phase.

* :class:`SosFilter` — causal, streaming: ``process(x)`` on ``(n_samples, n_channels)``
  float64 arrays, state carried between calls (:attr:`SosFilter.state`, a
  :class:`SosFilterState` whose ``zi`` has scipy's layout ``(n_sections, 2, n_channels)``).
  Output is bit-identical to ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)`` however the
  input is split into calls.
* :func:`filtfilt` / :class:`ZeroPhaseSosFilter` — offline forward-backward filtering equal
  to ``scipy.signal.sosfiltfilt(sos, x, axis=0)`` (odd padding of ``3 * ntaps`` samples,
  steady-state initial conditions, the same as scipy's defaults).

Neither runs across a gap in the data on its own: split the recording at gaps
(:func:`dmi_sensors.dsp.segments.gap_segments`) or call :meth:`SosFilter.reset` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from dmi_sensors.dsp._design import butter_design, steady_state_zi
from dmi_sensors.dsp._moving_kernels import moving_mean_into
from dmi_sensors.dsp._sos_kernels import (
    PASS_MIN_ROWS,
    odd_extend,
    ready_packet_kernel,
    sos_filter_into,
    sos_filter_passes_into,
    sos_filter_reverse_into,
    sos_packet_into,
)
from dmi_sensors.dsp._state import ArrayState, checked_array, read_only
from dmi_sensors.errors import ParameterError

__all__ = [
    "SosFilter",
    "SosFilterState",
    "ZeroPhaseSosFilter",
    "ZeroPhaseSosFilterState",
    "butter_bandpass",
    "butter_highpass",
    "butter_lowpass",
    "filtfilt",
    "moving_mean",
    "sosfiltfilt_padlen",
]


def _check_fs(cutoff_hz: float, fs_hz: float) -> None:
    if not fs_hz > 0:
        raise ParameterError(f"fs_hz must be positive, got {fs_hz}")
    if not 0 < cutoff_hz < fs_hz / 2:
        raise ParameterError(f"cutoff {cutoff_hz} Hz must lie strictly between 0 and Nyquist ({fs_hz / 2} Hz)")


def butter_lowpass(cutoff_hz: float, fs_hz: float, order: int = 4) -> np.ndarray:
    """Butterworth low-pass as second-order sections.

    Equal to ``scipy.signal.butter(order, cutoff_hz, "lowpass", fs=fs_hz, output="sos")``
    (computed by scipy once, then cached: see :mod:`dmi_sensors.dsp._design`).
    """
    _check_fs(cutoff_hz, fs_hz)
    return butter_design("lowpass", order, cutoff_hz, fs_hz)[0]


def butter_highpass(cutoff_hz: float, fs_hz: float, order: int = 4) -> np.ndarray:
    """Butterworth high-pass as second-order sections (scipy ``butter(..., "highpass", output="sos")``)."""
    _check_fs(cutoff_hz, fs_hz)
    return butter_design("highpass", order, cutoff_hz, fs_hz)[0]


def butter_bandpass(low_hz: float, high_hz: float, fs_hz: float, order: int = 4) -> np.ndarray:
    """Butterworth band-pass ``[low_hz, high_hz]`` as sections; ``order`` per edge (2*order poles)."""
    _check_fs(low_hz, fs_hz)
    _check_fs(high_hz, fs_hz)
    if not low_hz < high_hz:
        raise ParameterError(f"band-pass needs low_hz < high_hz, got {low_hz} >= {high_hz}")
    return butter_design("bandpass", order, (low_hz, high_hz), fs_hz)[0]


_F64 = np.dtype(np.float64)


def _validate_sos(sos: np.ndarray) -> np.ndarray:
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6 or sos.shape[0] < 1:
        raise ParameterError(f"sos must have shape (n_sections, 6), got {sos.shape}")
    if not np.all(sos[:, 3] == 1.0):
        raise ParameterError("sos[:, 3] (a0 of every section) must be 1")
    return sos


def _as_samples(x: np.ndarray, n_channels: int | None = None) -> np.ndarray:
    """``x`` as a C-contiguous float64 ``(n_samples, n_channels)`` array (1-D -> one channel)."""
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ParameterError(f"expected an array of shape (n_samples, n_channels), got {arr.shape}")
    if n_channels is not None and arr.shape[1] != n_channels:
        raise ParameterError(f"expected {n_channels} channels, got an array of shape {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class SosFilterState(ArrayState):
    """Full state of a :class:`SosFilter`.

    Attributes
    ----------
    zi
        ``(n_sections, 2, n_channels)`` float64: the sections' delay registers, scipy's
        ``zi`` layout for ``axis=0`` (``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)``).
    started
        False until the first sample after construction or :meth:`SosFilter.reset`; with
        ``initial="steady"`` that sample first sets ``zi`` to the steady state.
    """

    zi: np.ndarray
    started: bool


class SosFilter:
    """Causal streaming filter made of second-order sections.

    Parameters
    ----------
    sos
        ``(n_sections, 6)`` coefficients, e.g. from :func:`butter_lowpass` (``a0`` of every
        section is 1).
    n_channels
        Number of columns every call to :meth:`process` receives.
    initial
        ``"zero"``: the filter starts at rest (``zi = 0``), exactly ``scipy.signal.sosfilt``.
        ``"steady"``: at the first sample after construction or :meth:`reset` the state is set
        to the steady state for a constant input equal to that sample
        (``scipy.signal.sosfilt_zi(sos) * x[0]``), which avoids the start-up transient.

    Attributes
    ----------
    state
        :class:`SosFilterState` (``zi`` in scipy's layout, ``started``); read it to take a
        snapshot, assign one to continue from it.

    Notes
    -----
    ``process`` on any split of an input gives output bit-identical to one call on the whole.
    The parameters are read-only; :meth:`get_params` returns them.
    """

    def __init__(self, sos: np.ndarray, *, n_channels: int = 1, initial: Literal["zero", "steady"] = "zero") -> None:
        if initial not in ("zero", "steady"):
            raise ParameterError(f"initial must be 'zero' or 'steady', got {initial!r}")
        if int(n_channels) != n_channels or n_channels < 1:
            raise ParameterError(f"n_channels must be an integer >= 1, got {n_channels}")
        self._sos = _validate_sos(sos)
        self._n_channels = int(n_channels)
        self._initial: Literal["zero", "steady"] = initial
        self._zi = np.zeros((self._sos.shape[0], 2, self._n_channels))
        ready_packet_kernel()
        self._zi_unit = np.ascontiguousarray(steady_state_zi(self._sos)) if initial == "steady" else None
        self._started = False

    @property
    def sos(self) -> np.ndarray:
        """The ``(n_sections, 6)`` coefficients (read-only)."""
        return read_only(self._sos)

    @property
    def n_channels(self) -> int:
        """Number of columns per sample."""
        return self._n_channels

    @property
    def initial(self) -> Literal["zero", "steady"]:
        """``"zero"`` or ``"steady"`` start (see the class docstring)."""
        return self._initial

    @property
    def n_sections(self) -> int:
        """Number of second-order sections."""
        return int(self._sos.shape[0])

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able (``sos`` as nested lists)."""
        return {"sos": self._sos.tolist(), "n_channels": self._n_channels, "initial": self._initial}

    @property
    def state(self) -> SosFilterState:
        """Snapshot of the full state; assign a :class:`SosFilterState` to continue from it."""
        return SosFilterState(zi=self._zi, started=self._started)

    @state.setter
    def state(self, value: SosFilterState) -> None:
        if not isinstance(value, SosFilterState):
            raise ParameterError(f"SosFilter.state must be a SosFilterState, got {type(value).__name__}")
        self._zi[...] = checked_array("SosFilter", "zi", value.zi, self._zi.shape)
        self._started = bool(value.started)

    def reset(self) -> None:
        """Back to the freshly constructed state: ``zi = 0``, steady-state start re-armed if chosen."""
        self._zi[...] = 0.0
        self._started = False

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Filter the next samples ``x`` ``(n_samples, n_channels)``; returns ``out`` (new array if None).

        ``out`` may be a preallocated float64 array of the same shape (or ``x`` itself, for
        in-place filtering). 1-D input is accepted when ``n_channels == 1``.
        """
        # this is called once per BLE packet, so the common case (a started filter, C-contiguous
        # float64 arrays) runs on as little Python as possible: sos_packet_into checks the
        # shapes, and its dispatcher rejects any other array type (TypeError) -> _checked
        if self._started:
            given = out
            try:
                if out is None:
                    out = np.empty(x.shape)
                elif out.dtype is not _F64:  # (the kernel's types say so too, unless NUMBA_DISABLE_JIT)
                    return self._checked(x, out)
                status = sos_packet_into(self._sos, x, self._zi, out)
            except (TypeError, AttributeError, IndexError):  # IndexError: NUMBA_DISABLE_JIT, 1-D x
                return self._checked(x, given)
            if status == 0:
                return out
            if status == 2:
                sos_filter_passes_into(self._sos, x, self._zi, out)
                return out
            return self._checked(x, given)  # raises the error that names the misfit
        return self._checked(x, out)

    def _checked(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """:meth:`process` with every argument checked and converted (and the first sample's start)."""
        x = _as_samples(x, self._n_channels)
        if out is None:
            out = np.empty_like(x)
        elif type(out) is not np.ndarray or out.shape != x.shape or out.dtype is not _F64:
            raise ParameterError(f"out must be a float64 array of shape {x.shape}")
        n = x.shape[0]
        if not self._started and n > 0:
            if self._zi_unit is not None:
                self._zi[...] = self._zi_unit[:, :, None] * x[0][None, None, :]
            self._started = True
        if n < PASS_MIN_ROWS:
            sos_filter_into(self._sos, x, self._zi, out)
        else:
            sos_filter_passes_into(self._sos, x, self._zi, out)
        return out


def sosfiltfilt_padlen(sos: np.ndarray) -> int:
    """Default pad length of ``scipy.signal.sosfiltfilt``: ``3 * (2*n_sections + 1 - trailing zeros)``."""
    sos = _validate_sos(sos)
    ntaps = 2 * sos.shape[0] + 1
    ntaps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


def filtfilt(sos: np.ndarray, x: np.ndarray, padlen: int | None = None, padtype: str = "odd") -> np.ndarray:
    """Zero-phase forward-backward filtering along axis 0, equal to ``scipy.signal.sosfiltfilt``.

    Uses odd (or ``padtype="even"``: mirror) extension by ``padlen`` samples at each end
    (default :func:`sosfiltfilt_padlen`), steady-state initial conditions scaled by the first
    sample of each pass, exactly as scipy does. ``x`` is ``(n_samples,)`` or
    ``(n_samples, n_channels)``; the output has the same shape. Needs ``n_samples > padlen``.
    Even extension suits a high-pass of a signal that wanders (an integral): an odd extension
    about a far-off end value puts a kink there that the filter rings on.
    """
    sos = _validate_sos(sos)
    if padtype not in ("odd", "even"):
        raise ParameterError(f"padtype must be 'odd' or 'even', got {padtype!r}")
    x_in = np.asarray(x)
    arr = _as_samples(x_in)
    edge = sosfiltfilt_padlen(sos) if padlen is None else int(padlen)
    if arr.shape[0] <= edge:
        raise ParameterError(f"the input must be longer than padlen = {edge} samples, got {arr.shape[0]}")
    zi_unit = np.ascontiguousarray(steady_state_zi(sos))
    if edge == 0:
        ext = arr.copy()
    elif padtype == "odd":
        ext = odd_extend(arr, edge)
    else:
        ext = np.ascontiguousarray(np.concatenate([arr[edge:0:-1], arr, arr[-2 : -edge - 2 : -1]]))
    zi = zi_unit[:, :, None] * ext[0][None, None, :]
    sos_filter_passes_into(sos, ext, zi, ext)
    y = ext
    zi = zi_unit[:, :, None] * y[-1][None, None, :]
    sos_filter_reverse_into(sos, y, zi, y)
    y = y[edge : y.shape[0] - edge] if edge > 0 else y
    y = np.ascontiguousarray(y)
    return y.reshape(x_in.shape) if x_in.ndim == 1 else y


@dataclass(frozen=True, eq=False)
class ZeroPhaseSosFilterState(ArrayState):
    """State of a :class:`ZeroPhaseSosFilter`: empty (each call filters one complete segment)."""


class ZeroPhaseSosFilter:
    """Offline zero-phase filter object: :meth:`process` applies :func:`filtfilt`.

    Not a streaming filter: each :meth:`process` call filters one complete, gap-free
    segment, independently of the calls before it (its :attr:`state` is empty).

    Parameters
    ----------
    sos
        ``(n_sections, 6)`` coefficients, e.g. from :func:`butter_lowpass`.
    padlen
        Samples of odd extension at each end; ``None``: scipy's default
        (:func:`sosfiltfilt_padlen`). Every input must be longer than this.
    """

    def __init__(self, sos: np.ndarray, *, padlen: int | None = None) -> None:
        self._sos = _validate_sos(sos)
        if padlen is not None and (int(padlen) != padlen or padlen < 0):
            raise ParameterError(f"padlen must be None or an integer >= 0, got {padlen!r}")
        self._padlen = None if padlen is None else int(padlen)
        self._edge = sosfiltfilt_padlen(self._sos) if padlen is None else int(padlen)

    @property
    def sos(self) -> np.ndarray:
        """The ``(n_sections, 6)`` coefficients (read-only)."""
        return read_only(self._sos)

    @property
    def padlen(self) -> int | None:
        """The ``padlen`` parameter as given (``None``: scipy's default)."""
        return self._padlen

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` parameters, JSON-able."""
        return {"sos": self._sos.tolist(), "padlen": self._padlen}

    @property
    def state(self) -> ZeroPhaseSosFilterState:
        """The (empty) state; assignable for uniformity with the streaming classes."""
        return ZeroPhaseSosFilterState()

    @state.setter
    def state(self, value: ZeroPhaseSosFilterState) -> None:
        if not isinstance(value, ZeroPhaseSosFilterState):
            raise ParameterError(
                f"ZeroPhaseSosFilter.state must be a ZeroPhaseSosFilterState, got {type(value).__name__}"
            )

    def reset(self) -> None:
        """Nothing to forget: every call is independent."""

    def process(self, x: np.ndarray) -> np.ndarray:
        """Zero-phase filtered copy of ``x`` (``(n,)`` or ``(n, c)``, ``n > padlen``)."""
        return filtfilt(self._sos, x, self._edge)


def _moving(x: np.ndarray, width: int, alignment: str, square: bool) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if int(width) != width or width < 1:
        raise ParameterError(f"width must be an integer >= 1, got {width}")
    width = int(width)
    if alignment not in ("centred", "trailing"):
        raise ParameterError(f"alignment must be 'centred' or 'trailing', got {alignment!r}")
    if a.ndim not in (1, 2):
        raise ParameterError(f"moving mean: x must have shape (n,) or (n, k), got {a.shape}")
    cols = np.ascontiguousarray(a.reshape(a.shape[0], -1))
    out = np.empty(cols.shape)
    if alignment == "trailing":
        moving_mean_into(cols, width - 1, 0, True, square, out)
    else:
        moving_mean_into(cols, width // 2, width - width // 2 - 1, False, square, out)
    return out.reshape(a.shape)


def moving_mean(x: np.ndarray, width: int, alignment: str = "centred") -> np.ndarray:
    """Moving mean over ``width`` samples along axis 0 of ``x`` ``(n,)`` or ``(n, k)`` (a
    boxcar filter; unit of ``x``).

    ``alignment="centred"``: the mean of ``x[i - width//2 .. i - width//2 + width - 1]``
    (for an odd width ``2h + 1``: ``x[i - h .. i + h]``), the window shrunk at the ends (no
    padding, no transient); ``"trailing"``: the mean of ``x[i - width + 1 .. i]``, NaN until
    the first full window. One O(N) Numba sliding sum, summed afresh every window, so a quiet
    stretch after a loud one keeps its relative precision (a cumulative sum does not).
    """
    return _moving(x, width, alignment, False)


def moving_rms(x: np.ndarray, width: int, alignment: str = "centred") -> np.ndarray:
    """Moving RMS ``sqrt(mean(x²))`` over the windows of :func:`moving_mean` (same
    ``alignment`` rules; unit of ``x``): the square root of the moving mean square, its
    round-off below zero clipped to 0. Used by the time-to-stabilise profile, the repetition
    envelope, the posture activity and the simulator's true time to stabilise."""
    ms = _moving(x, width, alignment, True)
    return np.sqrt(np.maximum(ms, 0.0))  # NaN (an incomplete trailing window) stays NaN
