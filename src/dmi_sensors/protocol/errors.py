"""The one exception type of the protocol layer (defined with the others in :mod:`dmi_sensors.errors`)."""

from __future__ import annotations

from dmi_sensors.errors import ProtocolError

__all__ = ["ProtocolError"]
