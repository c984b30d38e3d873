"""What the store reads from a packet's bytes: the sample count, inside SQLite.

The store keeps every packet's bytes untouched; the counter column (written from
:func:`dmi_sensors.protocol.data_packet_counter`) only speeds up queries and gap checks. A
packet that is not a firmware data packet (a status packet, a malformed notification, a
third-party format) is stored with ``counter = NULL``: raw first, always.

:data:`SAMPLES_SQL` counts the samples a stored packet carries from its header, inside
SQLite (``sessions list|show`` report samples per sensor without decoding anything): byte 4
of a full data packet is its sample count (``protocol.data``), a compact packet carries one.
"""

from __future__ import annotations

from dmi_sensors import protocol

__all__ = ["SAMPLES_SQL"]

#: SQL expression: the samples of the ``raw_packets`` row (0 for packets the store could
#: not read a counter from: status packets, malformed ones, other formats).
SAMPLES_SQL = (
    "CASE WHEN counter IS NULL THEN 0"
    f" WHEN substr(data, 2, 1) = x'{int(protocol.PacketType.DATA):02x}' THEN coalesce(unicode(substr(data, 5, 1)), 0)"
    f" WHEN substr(data, 2, 1) = x'{int(protocol.PacketType.DATA_COMPACT):02x}' THEN 1 ELSE 0 END"
)
