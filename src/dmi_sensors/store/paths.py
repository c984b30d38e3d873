"""Where the session database lives by default.

Order of precedence (first wins):

1. an explicit path (``SessionStore(path)``, ``--db PATH``);
2. the environment variable ``DMI_SENSORS_DB``;
3. the platform's per-user data directory: ``$XDG_DATA_HOME/dmi-sensors/sessions.sqlite``
   (default ``~/.local/share/dmi-sensors/sessions.sqlite``) on Linux and other Unix,
   ``~/Library/Application Support/dmi-sensors/sessions.sqlite`` on macOS,
   ``%LOCALAPPDATA%\\dmi-sensors\\sessions.sqlite`` on Windows.

Health data stays private to the user who recorded it: every file the store and the exports
create is created ``0600`` (owner read/write) and every directory they create ``0700``
(:func:`make_private_dir`, :func:`create_private_file`, :func:`open_private`). Existing
files and directories keep their permissions (a folder the user shares on purpose is not
changed behind their back). On Windows the modes are ignored (per-user profile folders).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DB_ENV",
    "DB_FILENAME",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "default_db_path",
    "free_bytes",
    "make_private_dir",
    "open_private",
]

#: Environment variable overriding the default database file.
DB_ENV = "DMI_SENSORS_DB"
#: File name of the database inside the data directory.
DB_FILENAME = "sessions.sqlite"


def default_db_path(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The database file to use when no path is given (see the module docstring)."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get(DB_ENV):
        return Path(env[DB_ENV]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    if platform == "darwin":
        base = home / "Library" / "Application Support"
    elif platform.startswith("win"):
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    else:
        base = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "dmi-sensors" / DB_FILENAME


#: Mode of every file the store and the exports create (owner read/write only).
PRIVATE_FILE_MODE = 0o600
#: Mode of every directory they create (owner only).
PRIVATE_DIR_MODE = 0o700


def make_private_dir(path: str | Path) -> Path:
    """Create ``path`` and its missing parents with mode ``0700``; existing ones are left as they are.

    (``Path.mkdir(parents=True, mode=...)`` gives the mode to the last directory only.)
    """
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if not d.is_dir():
                raise
    return path


def create_private_file(path: str | Path, *, exclusive: bool = False) -> Path:
    """Make sure ``path`` exists; a new file is created empty with mode ``0600`` (its
    missing directories ``0700``). ``exclusive``: an existing file raises ``FileExistsError``."""
    path = Path(path)
    make_private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else 0)
    os.close(os.open(path, flags, PRIVATE_FILE_MODE))
    return path


def open_private(path: str | Path, mode: str = "x", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing a new file created ``0600`` (directories ``0700``).

    ``mode`` is ``"x"``/``"xb"`` (refuse to overwrite, the exports' rule), ``"w"``/``"wb"``
    or ``"a"``/``"ab"``; text modes default to UTF-8.
    """
    path = Path(path)
    make_private_dir(path.parent)
    base = mode.replace("b", "").replace("t", "")
    flags = {"x": os.O_CREAT | os.O_EXCL, "w": os.O_CREAT | os.O_TRUNC, "a": os.O_CREAT | os.O_APPEND}[base]
    fd = os.open(path, os.O_WRONLY | flags, PRIVATE_FILE_MODE)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        return os.fdopen(fd, mode.replace("x", "w"), **kwargs)
    except BaseException:
        os.close(fd)
        raise


def free_bytes(path: str | Path) -> int:
    """Bytes free for an unprivileged writer on the file system holding ``path`` (a file or
    a directory; the nearest existing parent is asked when it does not exist yet)."""
    p = Path(path)
    while not p.exists() and p.parent != p:
        p = p.parent
    return int(shutil.disk_usage(p).free)
