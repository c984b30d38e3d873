"""Error types shared by every layer.

Bad input must produce *one* clear error that names the file, the place in it and what
was expected (see the design notes, "Errors are clear and early").
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DataFileError"]


class DataFileError(ValueError):
    """A file could not be read as the expected format.

    Parameters
    ----------
    path
        The file (or directory) that was being read.
    location
        Where in the file the problem is, e.g. ``"row 12, column 'acc_x_mps2'"`` or
        ``"byte 4096"``; empty when the problem concerns the whole file.
    expected
        What the reader expected to find there.
    found
        What it found instead (optional).

    The message reads ``"<path>: <location>: expected <expected>, found <found>"``.
    """

    def __init__(self, path: str | Path, location: str, expected: str, found: str | None = None) -> None:
        self.path = Path(path)
        self.location = location
        self.expected = expected
        self.found = found
        parts = [str(self.path)]
        if location:
            parts.append(location)
        message = f"expected {expected}"
        if found is not None:
            message += f", found {found}"
        parts.append(message)
        super().__init__(": ".join(parts))
