"""Where the session database lives by default.

Order of precedence (first wins):

1. an explicit path (``SessionStore(path)``, ``--db PATH``);
2. the environment variable ``DMI_SENSORS_DB``;
3. the platform's per-user data directory: ``$XDG_DATA_HOME/dmi-sensors/sessions.sqlite``
   (default ``~/.local/share/dmi-sensors/sessions.sqlite``) on Linux and other Unix,
   ``~/Library/Application Support/dmi-sensors/sessions.sqlite`` on macOS,
   ``%LOCALAPPDATA%\\dmi-sensors\\sessions.sqlite`` on Windows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DB_ENV", "DB_FILENAME", "default_db_path"]

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
