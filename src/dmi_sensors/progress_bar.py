"""One progress bar for every long job: on a terminal and in Jupyter, silent elsewhere.

The commands (``dmi-sensors batch``, ``export``, ``sessions import``, ``report`` when it
analyses) create a :class:`ProgressBar` and hand it to the library function doing the
work, which reports with :meth:`ProgressBar.advance` (and :meth:`ProgressBar.set_total` once
it knows how much there is). A library function given no bar reports nothing, so scripts
and tests stay quiet unless they ask. :func:`dmi_sensors.batch` makes its own bar (a cohort
run is long wherever it is started).

Whether a bar is drawn (``enabled=None``, the default) is decided once, when it is made:

* ``DMI_SENSORS_PROGRESS=0`` (or ``off``/``false``/``no``): never; ``=1`` (``on``/``true``/
  ``yes``): always (e.g. into a log);
* otherwise: when the output stream (standard error) is a terminal, or inside a Jupyter
  kernel (a widget when ``ipywidgets`` is installed, else a text bar in the cell output).
  Output redirected to a file or a pipe gets no bar.

The drawing is `tqdm <https://tqdm.github.io>`_'s (a maintained, dependency-free bar); it
is imported only when a bar is drawn. This module imports nothing else of the package: any
layer may take a :class:`ProgressBar` argument.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import TracebackType
from typing import IO, Any

__all__ = ["ENV_VAR", "ProgressBar", "in_jupyter", "progress_enabled", "silent_if_none"]

#: Environment variable that switches bars on (``1``) or off (``0``) everywhere.
ENV_VAR = "DMI_SENSORS_PROGRESS"
_ON = ("1", "on", "true", "yes")
_OFF = ("0", "off", "false", "no")


def in_jupyter(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default: standard error) is a Jupyter kernel's output stream."""
    stream = sys.stderr if stream is None else stream
    return type(stream).__module__.startswith("ipykernel")


def progress_enabled(stream: IO[str] | None = None) -> bool:
    """Whether a bar with ``enabled=None`` is drawn on ``stream`` (module docstring)."""
    setting = os.environ.get(ENV_VAR, "").strip().lower()
    if setting in _ON:
        return True
    if setting in _OFF:
        return False
    stream = sys.stderr if stream is None else stream
    if stream is None:  # pythonw, a closed stderr
        return False
    if in_jupyter(stream):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


def _notebook_bar() -> Any:
    """tqdm's widget bar when ipywidgets (which it needs) is installed, else None (a text bar)."""
    if importlib.util.find_spec("ipywidgets") is None:
        return None
    from tqdm.notebook import tqdm as notebook_tqdm

    return notebook_tqdm


class ProgressBar:
    """A progress bar, or nothing when it is not wanted (module docstring).

    Parameters
    ----------
    total
        How much work there is (None: not known yet; :meth:`set_total` later).
    desc
        What is being done, shown before the bar (e.g. ``"batch"``).
    unit
        What one step is (``"session"``, ``"s"`` of recording, ``"file"``).
    enabled
        True / False to force; None decides from the environment and the output stream.
    file
        Where to draw; default standard error.

    Use it as a context manager (the bar is closed at the end) or call :meth:`close`.
    ``done`` counts the steps reported, drawn or not.
    """

    def __init__(
        self,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        *,
        enabled: bool | None = None,
        file: IO[str] | None = None,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.done: float = 0
        stream = sys.stderr if file is None else file
        self.enabled = progress_enabled(stream) if enabled is None else bool(enabled)
        self._bar: Any = None
        if self.enabled:
            from tqdm.std import tqdm as text_tqdm

            cls = (_notebook_bar() if in_jupyter(stream) else None) or text_tqdm
            kwargs: dict[str, Any] = {"total": total, "desc": desc, "unit": unit, "leave": True}
            if cls is text_tqdm:
                kwargs.update(file=stream, dynamic_ncols=True, mininterval=0.2)
            self._bar = cls(**kwargs)

    def advance(self, n: float = 1) -> None:
        """``n`` more steps are done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def set_total(self, total: float | None) -> None:
        """How much work there is, once known (or corrected)."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def set_description(self, desc: str) -> None:
        """Change what the bar says it is doing."""
        self.desc = desc
        if self._bar is not None:
            self._bar.set_description_str(desc)

    def set_note(self, note: str) -> None:
        """A short note after the bar (e.g. ``"2 failed"``)."""
        if self._bar is not None:
            self._bar.set_postfix_str(note)

    def close(self) -> None:
        """Finish the bar (it stays on screen with its final count)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def silent_if_none(progress: ProgressBar | None) -> ProgressBar:
    """The bar a library function was given, or a silent one (so it can always report)."""
    return progress if progress is not None else ProgressBar(enabled=False)
