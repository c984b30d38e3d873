"""What the store reads from a packet's bytes: the first sample's counter, the sample count.

The store keeps every packet's bytes untouched; the counter column only speeds up queries
and gap checks. A packet that is not a firmware data packet (a status packet, a malformed
notification, a third-party format) is stored with ``counter = NULL``: raw first, always.

:data:`SAMPLES_SQL` counts the samples a stored packet carries from its header, inside
SQLite (``sessions list|show`` report samples per sensor without decoding anything): byte 4
of a full data packet is its sample count (``protocol.data``), a compact packet carries one.
"""

from __future__ import annotations

from dmi_sensors import protocol
from dmi_sensors.protocol import constants as _wire

__all__ = ["SAMPLES_SQL", "first_counter"]

#: SQL expression: the samples of the ``raw_packets`` row (0 for packets the store could
#: not read a counter from: status packets, malformed ones, other formats).
SAMPLES_SQL = (
    "CASE WHEN counter IS NULL THEN 0"
    f" WHEN substr(data, 2, 1) = x'{int(protocol.PacketType.DATA):02x}' THEN coalesce(unicode(substr(data, 5, 1)), 0)"
    f" WHEN substr(data, 2, 1) = x'{int(protocol.PacketType.DATA_COMPACT):02x}' THEN 1 ELSE 0 END"
)


def first_counter(data: bytes) -> int | None:
    """The device counter of the first sample in ``data`` (wire width), or None.

    Exactly what :func:`dmi_sensors.protocol.decode` says (a data packet's ``counter``;
    None for other packets and for anything it refuses), without decoding the samples: a
    well-formed data packet's header is checked by the decoder's own rules (version, type,
    sample count, length, config byte) and its counter read from bytes 6-9 (compact: 3-4).
    The recorder's store writer calls this for every notification (about 850 per second at
    16 sensors x 1 kHz), and the samples are what a full decode spends its time on.
    Anything else goes through the full decode.
    """
    fast = _data_counter(data)
    if fast is not None:
        return fast
    try:
        packet = protocol.decode(data)
    except protocol.ProtocolError:
        return None
    counter = getattr(packet, "counter", None)
    return None if counter is None else int(counter)


def _data_counter(data: bytes) -> int | None:
    """The counter of a data packet ``protocol.decode`` accepts; None if any header rule fails."""
    size = len(data)
    if size < 2 or data[0] >> 4 != _MAJOR:
        return None
    newer = data[0] & 0x0F > _MINOR
    ptype = data[1]
    if ptype == _DATA:
        if size < _HEADER:
            return None
        n = data[4]
        if not 1 <= n <= _MAX_N:
            return None
        need = _HEADER + _BYTES_PER_SAMPLE * n
        if size != need and not (newer and size > need):
            return None
        if data[3] >> 5 >= _N_GYR_CODES:
            return None
        return data[6] | data[7] << 8 | data[8] << 16 | data[9] << 24
    if ptype == _COMPACT:
        if size != _COMPACT_SIZE and not (newer and size > _COMPACT_SIZE):
            return None
        if data[2] >> 5 >= _N_GYR_CODES:
            return None
        return data[3] | data[4] << 8
    return None


_MAJOR = _wire.PROTOCOL_MAJOR
_MINOR = _wire.PROTOCOL_MINOR
_DATA = int(_wire.PacketType.DATA)
_COMPACT = int(_wire.PacketType.DATA_COMPACT)
_HEADER = _wire.DATA_HEADER_SIZE
_BYTES_PER_SAMPLE = _wire.BYTES_PER_SAMPLE
_MAX_N = _wire.MAX_SAMPLES_PER_PACKET
_COMPACT_SIZE = _wire.COMPACT_PACKET_SIZE
_N_GYR_CODES = len(_wire.GYR_RANGES_DPS)
