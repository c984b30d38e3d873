"""Control channel of the emulator process: JSON lines over a unix socket.

Each request is one JSON object ``{"op": NAME, ...arguments}`` on a line; each answer is
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. Operations:

``ping``                          -> ``"pong"``
``truth``                         -> ``{address: DeviceTruth.to_dict()}``
``devices``                       -> ``[{"address", "name", "connected", "gone"}]``
``set_faults {faults, address?}`` change a device's (or every device's) fault profile
``disconnect {address}``          unsolicited disconnect now
``disconnect {address,            unsolicited disconnect once ``after_samples`` more samples are on
after_samples, down_samples}``    the air; the device reconnects only after ``down_samples`` samples
                                  produced with the link down (deterministic in samples)
``vanish {address}``              the device is switched off for good
``act {address, action}``         a hand acts on the device: ``peripheral.act(action, now_s)``
                                  (peripherals that have it, e.g. a guided calibration sensor)
``emit_log {enable}``             start (enable=true) / fetch and clear the per-notification
                                  emission log ``{address: [[monotonic_s, blake2b-8 hex], ...]}``
``shutdown``                      stop the emulator
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from dmi_sensors.errors import EmulatorError

__all__ = ["ControlClient", "ControlError"]

#: Longest answer line accepted (emission logs of long runs are large).
_LIMIT = 1 << 28


class ControlError(EmulatorError):
    """The emulator answered a control request with an error (or did not answer)."""


def _unwrap(line: bytes) -> Any:
    if not line:
        raise ControlError("emulator closed the control channel")
    answer = json.loads(line)
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "unknown error"))
    return answer.get("result")


class ControlClient:
    """Talks to the emulator's control socket; :meth:`call` (async) or :meth:`call_sync`.

    Each call opens its own short connection, so the client is safe to use from any event
    loop or thread.
    """

    def __init__(self, path: str | Path, timeout_s: float = 10.0) -> None:
        self.path = str(path)
        self.timeout_s = timeout_s

    async def call(self, op: str, **args: Any) -> Any:
        """Send one request and return its result (raises :class:`ControlError`)."""
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.path, limit=_LIMIT), self.timeout_s)
        try:
            writer.write(json.dumps({"op": op, **args}).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), self.timeout_s)
        finally:
            writer.close()
        return _unwrap(line)

    def call_sync(self, op: str, **args: Any) -> Any:
        """Blocking variant of :meth:`call` for fixtures and scripts (never inside a running loop)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout_s)
            sock.connect(self.path)
            sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return _unwrap(buf)
