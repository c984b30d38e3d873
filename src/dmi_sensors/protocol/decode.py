"""``decode``: one notification from the DATA or STATUS characteristic -> typed packet."""

from __future__ import annotations

from dmi_sensors.protocol.commands import Response, decode_response
from dmi_sensors.protocol.constants import PacketType, check_version
from dmi_sensors.protocol.data import DataPacket, decode_data_packet
from dmi_sensors.protocol.errors import ProtocolError
from dmi_sensors.protocol.status import StatusPacket, decode_status

__all__ = ["decode"]


def decode(data: bytes) -> DataPacket | StatusPacket | Response:
    """Decode one notification by its type byte (byte 1).

    Returns a :class:`DataPacket` (types 0x01, 0x02), :class:`StatusPacket` (0x10) or
    :class:`Response` (0x20). Anything else — too short, unknown major version, unknown
    type, wrong length, invalid codes — raises :class:`ProtocolError` naming the problem.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"notification: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 2:
        raise ProtocolError(f"notification: {len(data)} bytes is too short (need at least version and type)")
    check_version(data[0], "notification")
    ptype = data[1]
    if ptype in (PacketType.DATA, PacketType.DATA_COMPACT):
        return decode_data_packet(data)
    if ptype == PacketType.STATUS:
        return decode_status(data)
    if ptype == PacketType.RESPONSE:
        return decode_response(data)
    raise ProtocolError(f"notification: unknown packet type 0x{ptype:02X} (byte 1)")
