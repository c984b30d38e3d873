"""Butterworth designs computed by scipy once, then remembered (memory + a small JSON file).

``import scipy.signal`` costs 0.5-1.5 s on a busy 2-core machine — more than everything
else a live session needs before its first processed packet. The coefficients are a pure
function of ``(btype, order, cutoffs, fs_hz)`` (and the scipy version), so they are cached:
first in memory, then in ``<cache dir>/butter-sos.json``. The cache dir is
``$DMI_SENSORS_CACHE_DIR``, else ``$XDG_CACHE_HOME/dmi-sensors``, else
``~/.cache/dmi-sensors``; if it cannot be written the cache is memory-only. Values are the
exact float64 numbers scipy returned (JSON float round trip is exact).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["butter_design", "cache_path", "steady_state_zi"]

_MEMORY: dict[str, dict[str, list]] = {}
_SCIPY_VERSION: str | None = None


def cache_path() -> Path:
    """Where the design cache lives (see module doc)."""
    base = os.environ.get("DMI_SENSORS_CACHE_DIR")
    if base:
        return Path(base) / "butter-sos.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "dmi-sensors" / "butter-sos.json"


def _scipy_version() -> str:
    global _SCIPY_VERSION
    if _SCIPY_VERSION is None:
        from importlib.metadata import version

        _SCIPY_VERSION = version("scipy")
    return _SCIPY_VERSION


def _load() -> dict[str, dict[str, list]]:
    try:
        data = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(key: str, entry: dict[str, list]) -> None:
    path = cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _load()
        data[key] = entry
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".butter-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        Path(tmp).replace(path)
    except OSError:
        pass  # read-only home, full disk: memory cache only


def _valid(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    try:
        sos = np.asarray(entry["sos"], dtype=np.float64)
        zi = np.asarray(entry["zi"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return False
    return sos.ndim == 2 and sos.shape[1] == 6 and zi.shape == (sos.shape[0], 2) and bool(np.all(np.isfinite(sos)))


def butter_design(
    btype: str, order: int, cutoff_hz: float | tuple[float, float], fs_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(sos, zi_unit)`` = ``scipy.signal.butter(order, cutoff_hz, btype, fs=fs_hz, output="sos")``
    and ``scipy.signal.sosfilt_zi(sos)``, from the cache when possible."""
    cut = [float(c) for c in np.atleast_1d(cutoff_hz)]
    key = f"{btype}|{int(order)}|{cut!r}|{float(fs_hz)!r}|scipy-{_scipy_version()}"
    entry = _MEMORY.get(key)
    if entry is None:
        disk = _load().get(key)
        if _valid(disk):
            entry = disk
    if entry is None:
        from scipy.signal import butter, sosfilt_zi

        wn = cut[0] if len(cut) == 1 else cut
        sos = butter(int(order), wn, btype=btype, fs=float(fs_hz), output="sos")
        entry = {"sos": sos.tolist(), "zi": sosfilt_zi(sos).tolist()}
        _store(key, entry)
    _MEMORY[key] = entry
    return np.array(entry["sos"], dtype=np.float64), np.array(entry["zi"], dtype=np.float64)


def steady_state_zi(sos: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfilt_zi(sos)`` (n_sections, 2), cached by the coefficients' exact values."""
    key = "zi|" + json.dumps(np.asarray(sos, dtype=np.float64).tolist()) + f"|scipy-{_scipy_version()}"
    entry = _MEMORY.get(key)
    if entry is None:
        disk = _load().get(key)
        if isinstance(disk, dict) and "zi" in disk:
            entry = disk
    if entry is None:
        from scipy.signal import sosfilt_zi

        entry = {"zi": sosfilt_zi(np.asarray(sos, dtype=np.float64)).tolist()}
        _store(key, entry)
    _MEMORY[key] = entry
    return np.array(entry["zi"], dtype=np.float64)
