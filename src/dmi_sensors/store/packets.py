"""What the store reads from a packet's bytes before storing it: the first sample's counter.

The store keeps every packet's bytes untouched; the counter column only speeds up queries
and gap checks. A packet that is not a firmware data packet (a status packet, a malformed
notification, a third-party format) is stored with ``counter = NULL``: raw first, always.
"""

from __future__ import annotations

from dmi_sensors import protocol

__all__ = ["first_counter"]


def first_counter(data: bytes) -> int | None:
    """The device counter of the first sample in ``data`` (wire width), or None."""
    try:
        packet = protocol.decode(data)
    except protocol.ProtocolError:
        return None
    counter = getattr(packet, "counter", None)
    return None if counter is None else int(counter)
