"""Firmware protocol v1: the byte-exact codec for dmi-sensors' own BLE IMU firmware.

The specification is ``firmware_protocol/SPEC.md``; a portable C99 implementation and the
shared test vectors live beside it. Modules, one job each:

``constants``    UUIDs, advertising, version byte, packet types, opcodes, rate/range codes
``data``         data packets (full 244-byte and compact 20-byte formats), ``packetize``
``commands``     control commands and responses
``status``       status packets (battery, temperature, error flags)
``advertising``  manufacturer data, device name
``decode``       ``decode(bytes)`` for one notification
``stream``       vectorised ``StreamDecoder`` / ``decode_stream`` for many packets

Every malformed input raises :class:`ProtocolError` (a ``ValueError``), never another type.
"""

from dmi_sensors.protocol.advertising import (
    decode_manufacturer_data,
    device_name,
    encode_manufacturer_data,
    format_serial,
    looks_like_address,
    parse_serial,
)
from dmi_sensors.protocol.commands import (
    Command,
    DeviceInfo,
    GetInfo,
    Identify,
    Response,
    SetRanges,
    SetRate,
    StartStreaming,
    StopStreaming,
    StreamingStarted,
    TimeSync,
    TimeSyncReply,
    decode_command,
    decode_response,
    encode_command,
    encode_response,
)
from dmi_sensors.protocol.constants import (
    ACC_RANGES_G,
    BATTERY_LEVEL_CHAR_UUID,
    BATTERY_SERVICE_UUID,
    COMPANY_ID,
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    DEVICE_INFO_SERVICE_UUID,
    FIRMWARE_REVISION_CHAR_UUID,
    GYR_RANGES_DPS,
    HARDWARE_REVISION_CHAR_UUID,
    MANUFACTURER_NAME_CHAR_UUID,
    MAX_SAMPLES_PER_PACKET,
    MODEL_NUMBER_CHAR_UUID,
    NAME_PREFIX,
    PROTOCOL_VERSION,
    RATES_HZ,
    SERIAL_NUMBER_CHAR_UUID,
    SERVICE_UUID,
    STATUS_CHAR_UUID,
    DataFlags,
    DataFormat,
    DeviceState,
    Opcode,
    PacketType,
    Result,
    StatusErrors,
    acc_range_code,
    acc_scale_mps2,
    gyr_range_code,
    gyr_scale_rps,
    rate_code,
    samples_per_notification,
)
from dmi_sensors.protocol.data import (
    DataPacket,
    decode_data_packet,
    encode_compact_packet,
    encode_data_packet,
    packetize,
)
from dmi_sensors.protocol.decode import decode
from dmi_sensors.protocol.errors import ProtocolError
from dmi_sensors.protocol.status import StatusPacket, decode_status, encode_status
from dmi_sensors.protocol.stream import DecodedStream, LastDataPacket, StreamDecoder, StreamDecoderState, decode_stream

__all__ = [
    "ACC_RANGES_G",
    "BATTERY_LEVEL_CHAR_UUID",
    "BATTERY_SERVICE_UUID",
    "COMPANY_ID",
    "CONTROL_CHAR_UUID",
    "DATA_CHAR_UUID",
    "DEVICE_INFO_SERVICE_UUID",
    "FIRMWARE_REVISION_CHAR_UUID",
    "GYR_RANGES_DPS",
    "HARDWARE_REVISION_CHAR_UUID",
    "MANUFACTURER_NAME_CHAR_UUID",
    "MAX_SAMPLES_PER_PACKET",
    "MODEL_NUMBER_CHAR_UUID",
    "NAME_PREFIX",
    "PROTOCOL_VERSION",
    "RATES_HZ",
    "SERIAL_NUMBER_CHAR_UUID",
    "SERVICE_UUID",
    "STATUS_CHAR_UUID",
    "Command",
    "DataFlags",
    "DataFormat",
    "DataPacket",
    "DecodedStream",
    "DeviceInfo",
    "DeviceState",
    "GetInfo",
    "Identify",
    "LastDataPacket",
    "Opcode",
    "PacketType",
    "ProtocolError",
    "Response",
    "Result",
    "SetRanges",
    "SetRate",
    "StartStreaming",
    "StatusErrors",
    "StatusPacket",
    "StopStreaming",
    "StreamDecoder",
    "StreamDecoderState",
    "StreamingStarted",
    "TimeSync",
    "TimeSyncReply",
    "acc_range_code",
    "acc_scale_mps2",
    "decode",
    "decode_command",
    "decode_data_packet",
    "decode_manufacturer_data",
    "decode_response",
    "decode_status",
    "decode_stream",
    "device_name",
    "encode_command",
    "encode_compact_packet",
    "encode_data_packet",
    "encode_manufacturer_data",
    "encode_response",
    "encode_status",
    "format_serial",
    "gyr_range_code",
    "gyr_scale_rps",
    "looks_like_address",
    "packetize",
    "parse_serial",
    "rate_code",
    "samples_per_notification",
]
