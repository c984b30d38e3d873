"""JSON text as the store writes it: numpy scalars and arrays become numbers and lists.

Floats are written with ``repr`` (Python's shortest round trip), so reading them back gives
the same float64 values; NaN is written as ``NaN`` (JSON5 / Python's reading accepts it).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["json_default", "to_json"]


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)``: numpy scalars -> Python numbers, arrays -> lists."""
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def to_json(value: object, *, sort_keys: bool = True, indent: int | None = None) -> str:
    """``value`` as JSON text (:func:`json_default` for numpy values)."""
    return json.dumps(value, default=json_default, sort_keys=sort_keys, indent=indent)
