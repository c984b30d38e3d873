"""What can be checked before talking to a sensor: the address given, and the Bluetooth stack.

``dmi-sensors scan`` and ``record`` call these before they scan or connect, so a typo or a
machine without Bluetooth gives one line saying what is wrong and what to do, not an OS
error from deep inside the D-Bus client:

* :func:`check_sensor_address` — a Bluetooth address (``AA:BB:CC:DD:EE:FF``), a macOS
  CoreBluetooth device UUID or a DMI sensor serial (``00D10001`` / ``DMI-00D10001``).
* :func:`bluetooth_stack_problem` — Linux: is there a system D-Bus to reach BlueZ through
  (the socket of ``$DBUS_SYSTEM_BUS_ADDRESS``, default ``/var/run/dbus/system_bus_socket``)?
* :func:`explain_ble_error` — bleak's and the OS's errors when BlueZ is missing, not
  running or has no adapter, as a :class:`~dmi_sensors.errors.DeviceError` naming what is
  missing and what to install.
"""

from __future__ import annotations

import errno
import os
import platform
import socket
from pathlib import Path

from dmi_sensors.errors import DeviceError, ParameterError, ProtocolError
from dmi_sensors.protocol.advertising import looks_like_address, parse_serial

__all__ = [
    "ADDRESS_RULE",
    "INSTALL_HINT",
    "bluetooth_stack_problem",
    "check_sensor_address",
    "explain_ble_error",
    "system_bus_address",
]

#: The system bus address dbus-fast (bleak's D-Bus client) uses when the variable is unset.
DEFAULT_SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket"
#: What to install and start for real sensors (Debian/Ubuntu), and the alternatives.
INSTALL_HINT = (
    "real sensors need BlueZ on the system D-Bus (Debian/Ubuntu: apt-get install dbus bluez, then "
    "systemctl start dbus bluetooth); `dmi-sensors doctor` checks this machine; without hardware use "
    "--simulate-sensors N"
)
#: What a sensor address given on the command line may look like.
ADDRESS_RULE = (
    "a Bluetooth address (AA:BB:CC:DD:EE:FF), a macOS device UUID or a DMI sensor serial (00D10001 or DMI-00D10001)"
)


def _is_serial(text: str) -> bool:
    """A DMI serial as a person types it: all 8 hex digits, ``DMI-`` prefix optional (any case)."""
    try:
        parse_serial(text, width=8)
    except ProtocolError:
        return False
    return True


def check_sensor_address(text: str, where: str = "sensor address") -> str:
    """``text`` stripped if it is :data:`ADDRESS_RULE`; else a one-line ``ParameterError``."""
    address = text.strip()
    if looks_like_address(address) or _is_serial(address):
        return address
    raise ParameterError(f"{where}: expected {ADDRESS_RULE}, found {text!r}")


def system_bus_address() -> str:
    """The system D-Bus address bleak will use (``$DBUS_SYSTEM_BUS_ADDRESS`` or the default)."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS


def _unix_socket(address: str) -> Path | None:
    """The socket path of the first ``unix:path=`` entry of a D-Bus address (None if none)."""
    for entry in address.split(";"):
        kind, _, params = entry.partition(":")
        if kind != "unix":
            continue
        for param in params.split(","):
            key, _, value = param.partition("=")
            if key == "path":
                return Path(value)
    return None


def bluetooth_stack_problem() -> str | None:
    """Why real sensors cannot be reached on this machine, or None (not Linux: None).

    Checks, without D-Bus traffic, that the system bus socket exists and accepts a
    connection. Whether BlueZ itself runs shows on the first call (:func:`explain_ble_error`).
    """
    if platform.system() != "Linux":
        return None
    address = system_bus_address()
    path = _unix_socket(address)
    if path is None:
        return None  # an abstract or TCP address: let the D-Bus client try
    if not path.exists():
        return f"no system D-Bus on this machine ({path} does not exist): {INSTALL_HINT}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(2.0)
        sock.connect(str(path))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"the system D-Bus at {path} does not answer ({reason}; is dbus-daemon running?): {INSTALL_HINT}"
    finally:
        sock.close()
    return None


def explain_ble_error(exc: BaseException) -> DeviceError | None:
    """A :class:`DeviceError` saying what is missing, for errors that mean the Bluetooth
    stack is absent (no D-Bus, no BlueZ, no adapter); None for any other error."""
    text = str(exc)
    name = type(exc).__name__
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno in (errno.ENOENT, errno.ECONNREFUSED)
    ):
        problem = bluetooth_stack_problem()
        if problem is not None:
            return DeviceError(problem)
        return DeviceError(f"cannot reach the system D-Bus at {system_bus_address()} ({exc}): {INSTALL_HINT}")
    if name.startswith("Bleak"):
        if "org.bluez" in text or "ServiceUnknown" in text:
            bus = system_bus_address()
            return DeviceError(f"BlueZ is not running: the system D-Bus ({bus}) has no org.bluez; {INSTALL_HINT}")
        if "adapter" in text.lower():
            return DeviceError(
                f"no Bluetooth adapter ({text.strip()}): plug in or switch on a Bluetooth adapter "
                "(`rfkill unblock bluetooth`, `bluetoothctl power on`); without hardware use --simulate-sensors N"
            )
    return None
