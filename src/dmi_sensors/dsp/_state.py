"""Base of the frozen state dataclasses of the streaming DSP classes (see ``StreamingAlgorithm``).

A state is a snapshot: :class:`ArrayState` copies every array field into a read-only
float64 array when the dataclass is built, so neither the object it came from nor the
holder of the snapshot can change the other. Two states are equal when every field is
equal (arrays element by element, NaN equal to NaN, and of the same shape).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import overload

import numpy as np

from dmi_sensors.errors import ParameterError

__all__ = ["ArrayState", "checked_array", "read_only"]


@dataclass(frozen=True, eq=False)
class ArrayState:
    """Frozen dataclass whose ``np.ndarray`` fields are read-only copies; equality by value."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arr = np.array(value, dtype=np.float64, copy=True)
                arr.flags.writeable = False
                object.__setattr__(self, f.name, arr)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True)):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # holds arrays: equal by value, not hashable


def checked_array(owner: str, name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a float64 array of exactly ``shape``, or a :class:`ParameterError` naming the field."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ParameterError(f"{owner}: state field {name!r} must have shape {shape}, got {arr.shape}")
    return arr


@overload
def read_only(arr: np.ndarray) -> np.ndarray: ...
@overload
def read_only(arr: None) -> None: ...
def read_only(arr: np.ndarray | None) -> np.ndarray | None:
    """A read-only view of ``arr`` (``None`` kept): how the classes expose array parameters."""
    if arr is None:
        return None
    view = arr.view()
    view.flags.writeable = False
    return view
