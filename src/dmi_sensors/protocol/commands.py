"""Control commands (host -> device, CONTROL characteristic) and their responses
(device -> host, notified on the STATUS characteristic).

Command, little-endian::

    off size field
    0   1    version     major << 4 | minor
    1   1    opcode      Opcode (0x41..0x47)
    2   1    seq         chosen by the host, echoed in the response
    3   ...  parameters  per opcode (table below)

    opcode               parameters                                    total bytes
    0x41 START_STREAMING format u8 (0 full, 1 compact),                5
                         samples_per_packet u8 (0 = as many as fit the MTU)
    0x42 STOP_STREAMING  -                                             3
    0x43 SET_RATE        fs_hz u16 (50,100,200,250,400,500,800,1000)   5
    0x44 SET_RANGES      acc_range_g u8 (2,4,8,16),                    6
                         gyr_range_dps u16 (125,250,500,1000,2000)
    0x45 IDENTIFY        duration_s u8 (0 = stop)                      4
    0x46 GET_INFO        -                                             3
    0x47 TIME_SYNC       host_time_us u32 (host clock, low 32 bits)    7

Response::

    0   1    version
    1   1    type        0x20
    2   1    opcode      echoed (also when unknown)
    3   1    seq         echoed
    4   1    result      Result (0 = OK)
    5   ...  body        only when result is OK, per opcode:

    START_STREAMING  format u8, samples_per_packet u8 (actual), fs_hz u16         4 bytes
    GET_INFO         serial u32, fw major u8, minor u8, patch u8, hw_rev u8,
                     fs_hz u16, acc_range_g u8, gyr_range_dps u16, state u8       14 bytes
    TIME_SYNC        host_time_us u32 (echo), device_rx_us u32, device_tx_us u32  12 bytes
    others           (empty)

A message of a newer minor version may carry trailing bytes (ignored here); one of the
same minor version must have exactly the listed length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dmi_sensors.protocol.constants import (
    ACC_RANGES_G,
    GYR_RANGES_DPS,
    MAX_SAMPLES_PER_PACKET,
    PROTOCOL_MINOR,
    RATES_HZ,
    DataFormat,
    Opcode,
    PacketType,
    Result,
    check_version,
    version_byte,
)
from dmi_sensors.protocol.errors import ProtocolError

__all__ = [
    "Command",
    "DeviceInfo",
    "GetInfo",
    "Identify",
    "Response",
    "SetRanges",
    "SetRate",
    "StartStreaming",
    "StopStreaming",
    "StreamingStarted",
    "TimeSync",
    "TimeSyncReply",
    "decode_command",
    "decode_response",
    "encode_command",
    "encode_response",
]


# --- commands ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StartStreaming:
    """Start notifying data packets. ``samples_per_packet`` 0 lets the device fill the MTU."""

    format: int = DataFormat.FULL
    samples_per_packet: int = 0
    seq: int = 0
    opcode = Opcode.START_STREAMING


@dataclass(frozen=True)
class StopStreaming:
    """Stop notifying data packets."""

    seq: int = 0
    opcode = Opcode.STOP_STREAMING


@dataclass(frozen=True)
class SetRate:
    """Set the nominal sample rate, Hz (only while not streaming)."""

    fs_hz: int = 100
    seq: int = 0
    opcode = Opcode.SET_RATE


@dataclass(frozen=True)
class SetRanges:
    """Set the full scales: accelerometer ±g, gyroscope ±deg/s (only while not streaming)."""

    acc_range_g: int = 8
    gyr_range_dps: int = 1000
    seq: int = 0
    opcode = Opcode.SET_RANGES


@dataclass(frozen=True)
class Identify:
    """Blink/vibrate for ``duration_s`` seconds so the therapist finds the sensor (0 = stop)."""

    duration_s: int = 5
    seq: int = 0
    opcode = Opcode.IDENTIFY


@dataclass(frozen=True)
class GetInfo:
    """Ask for serial, firmware version and current settings (:class:`DeviceInfo`)."""

    seq: int = 0
    opcode = Opcode.GET_INFO


@dataclass(frozen=True)
class TimeSync:
    """Time-sync request: the host's clock when sending, µs, low 32 bits (NTP-style probe).

    The device answers with :class:`TimeSyncReply` (t0 echoed, its receive time t1 and send
    time t2 on the data-packet clock); the host notes the arrival time t3. Then
    ``offset = ((t1 - t0) + (t2 - t3)) / 2`` and ``rtt = (t3 - t0) - (t2 - t1)``; keep the
    lowest-RTT probe.
    """

    host_time_us: int = 0
    seq: int = 0
    opcode = Opcode.TIME_SYNC


Command = StartStreaming | StopStreaming | SetRate | SetRanges | Identify | GetInfo | TimeSync

#: opcode -> (parameter struct after the 3-byte command header)
_PARAMS: dict[int, struct.Struct] = {
    Opcode.START_STREAMING: struct.Struct("<BB"),
    Opcode.STOP_STREAMING: struct.Struct("<"),
    Opcode.SET_RATE: struct.Struct("<H"),
    Opcode.SET_RANGES: struct.Struct("<BH"),
    Opcode.IDENTIFY: struct.Struct("<B"),
    Opcode.GET_INFO: struct.Struct("<"),
    Opcode.TIME_SYNC: struct.Struct("<I"),
}

#: Total length of each command of the current minor version, bytes.
COMMAND_SIZES: dict[int, int] = {op: 3 + st.size for op, st in _PARAMS.items()}


def _u8(name: str, v: int) -> int:
    if not isinstance(v, int) or not 0 <= v <= 0xFF:
        raise ProtocolError(f"{name} must be an integer 0-255, got {v!r}")
    return v


def _check_params(cmd: Command, opcode: int | None = None, seq: int | None = None) -> None:
    """Raise ProtocolError(result=INVALID_PARAMETER) if a command's parameters are not valid."""

    def bad(msg: str) -> ProtocolError:
        return ProtocolError(msg, result=Result.INVALID_PARAMETER, opcode=opcode, seq=seq)

    if isinstance(cmd, StartStreaming):
        if cmd.format not in (DataFormat.FULL, DataFormat.COMPACT):
            raise bad(f"START_STREAMING: format {cmd.format} is invalid (0 full, 1 compact)")
        limit = 1 if cmd.format == DataFormat.COMPACT else MAX_SAMPLES_PER_PACKET
        if not 0 <= cmd.samples_per_packet <= limit:
            raise bad(f"START_STREAMING: samples_per_packet {cmd.samples_per_packet} is invalid (0..{limit})")
    elif isinstance(cmd, SetRate):
        if cmd.fs_hz not in RATES_HZ:
            raise bad(f"SET_RATE: {cmd.fs_hz} Hz is not a supported rate {RATES_HZ}")
    elif isinstance(cmd, SetRanges):
        if cmd.acc_range_g not in ACC_RANGES_G:
            raise bad(f"SET_RANGES: accelerometer ±{cmd.acc_range_g} g is not supported {ACC_RANGES_G}")
        if cmd.gyr_range_dps not in GYR_RANGES_DPS:
            raise bad(f"SET_RANGES: gyroscope ±{cmd.gyr_range_dps} deg/s is not supported {GYR_RANGES_DPS}")


def _param_values(cmd: Command) -> tuple[int, ...]:
    if isinstance(cmd, StartStreaming):
        return (_u8("format", int(cmd.format)), _u8("samples_per_packet", cmd.samples_per_packet))
    if isinstance(cmd, SetRate):
        return (cmd.fs_hz,)
    if isinstance(cmd, SetRanges):
        return (cmd.acc_range_g, cmd.gyr_range_dps)
    if isinstance(cmd, Identify):
        return (_u8("duration_s", cmd.duration_s),)
    if isinstance(cmd, TimeSync):
        if cmd.host_time_us < 0:
            raise ProtocolError(f"TIME_SYNC: host_time_us must be >= 0, got {cmd.host_time_us}")
        return (cmd.host_time_us % (1 << 32),)
    return ()


def encode_command(cmd: Command) -> bytes:
    """Encode a command for the CONTROL characteristic (write with response)."""
    if not isinstance(cmd, StartStreaming | StopStreaming | SetRate | SetRanges | Identify | GetInfo | TimeSync):
        raise ProtocolError(f"not a protocol command: {cmd!r}")
    _check_params(cmd)
    seq = _u8("seq", cmd.seq)
    try:
        params = _PARAMS[cmd.opcode].pack(*_param_values(cmd))
    except struct.error as exc:
        raise ProtocolError(f"{cmd.opcode.name}: parameters {cmd!r} do not fit the wire format: {exc}") from None
    return bytes([version_byte(), cmd.opcode, seq]) + params


def decode_command(data: bytes) -> Command:
    """Decode a command written to the CONTROL characteristic.

    Raises :class:`ProtocolError` whose ``result`` is the code the device answers with
    (UNSUPPORTED_VERSION, UNKNOWN_OPCODE, INVALID_LENGTH or INVALID_PARAMETER) and whose
    ``opcode`` / ``seq`` are set when the bytes carried them.
    """
    data = _as_bytes(data, "command")
    opcode = data[1] if len(data) > 1 else None
    seq = data[2] if len(data) > 2 else None
    if len(data) < 1:
        raise ProtocolError("command: empty", result=Result.INVALID_LENGTH)
    try:
        version = check_version(data[0], "command")
    except ProtocolError as exc:
        raise ProtocolError(str(exc), result=Result.UNSUPPORTED_VERSION, opcode=opcode, seq=seq) from None
    if len(data) < 3:
        raise ProtocolError(
            f"command: {len(data)} bytes is shorter than the 3-byte header (version, opcode, seq)",
            result=Result.INVALID_LENGTH,
            opcode=opcode,
            seq=seq,
        )
    # the header is complete from here on: opcode and seq are known
    opcode, seq = data[1], data[2]
    if opcode not in _PARAMS:
        raise ProtocolError(
            f"command: unknown opcode 0x{opcode:02X}", result=Result.UNKNOWN_OPCODE, opcode=opcode, seq=seq
        )
    op = Opcode(opcode)
    need = COMMAND_SIZES[op]
    if len(data) != need and not (version[1] > PROTOCOL_MINOR and len(data) > need):
        raise ProtocolError(
            f"command {op.name}: expected {need} bytes, got {len(data)}",
            result=Result.INVALID_LENGTH,
            opcode=opcode,
            seq=seq,
        )
    values = _PARAMS[op].unpack_from(data, 3)
    cmd: Command
    if op == Opcode.START_STREAMING:
        cmd = StartStreaming(values[0], values[1], seq)
    elif op == Opcode.STOP_STREAMING:
        cmd = StopStreaming(seq)
    elif op == Opcode.SET_RATE:
        cmd = SetRate(values[0], seq)
    elif op == Opcode.SET_RANGES:
        cmd = SetRanges(values[0], values[1], seq)
    elif op == Opcode.IDENTIFY:
        cmd = Identify(values[0], seq)
    elif op == Opcode.GET_INFO:
        cmd = GetInfo(seq)
    else:
        cmd = TimeSync(values[0], seq)
    _check_params(cmd, opcode, seq)
    if isinstance(cmd, StartStreaming):
        cmd = StartStreaming(DataFormat(cmd.format), cmd.samples_per_packet, seq)
    return cmd


# --- responses --------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamingStarted:
    """Body of an OK START_STREAMING response: what the device will actually send."""

    format: int
    samples_per_packet: int
    fs_hz: int


@dataclass(frozen=True)
class DeviceInfo:
    """Body of an OK GET_INFO response.

    ``serial`` is the 32-bit serial number (advertised name ``DMI-%08X``); ``firmware`` is
    ``(major, minor, patch)``; ``state`` holds :class:`~dmi_sensors.protocol.constants.DeviceState` bits.
    """

    serial: int
    firmware: tuple[int, int, int]
    hardware_revision: int
    fs_hz: int
    acc_range_g: int
    gyr_range_dps: int
    state: int = 0


@dataclass(frozen=True)
class TimeSyncReply:
    """Body of an OK TIME_SYNC response: t0 (host, echoed), t1 / t2 (device receive / send), µs, u32."""

    host_time_us: int
    device_rx_us: int
    device_tx_us: int


@dataclass(frozen=True)
class Response:
    """A response to a command (notified on the STATUS characteristic).

    ``body`` is a :class:`StreamingStarted`, :class:`DeviceInfo` or :class:`TimeSyncReply`
    for OK responses to those opcodes, else ``None`` (raw ``bytes`` for an OK response to an
    opcode this decoder does not know, from a newer minor version).
    """

    opcode: int
    seq: int
    result: int = Result.OK
    body: StreamingStarted | DeviceInfo | TimeSyncReply | bytes | None = None
    version: tuple[int, int] = (1, 0)

    @property
    def ok(self) -> bool:
        return self.result == Result.OK


_BODY: dict[int, tuple[type, struct.Struct]] = {
    Opcode.START_STREAMING: (StreamingStarted, struct.Struct("<BBH")),
    Opcode.GET_INFO: (DeviceInfo, struct.Struct("<IBBBBHBHB")),
    Opcode.TIME_SYNC: (TimeSyncReply, struct.Struct("<III")),
}
RESPONSE_HEADER_SIZE = 5


def _body_values(body: object) -> tuple[int, ...]:
    if isinstance(body, StreamingStarted):
        return (body.format, body.samples_per_packet, body.fs_hz)
    if isinstance(body, DeviceInfo):
        return (
            body.serial,
            *body.firmware,
            body.hardware_revision,
            body.fs_hz,
            body.acc_range_g,
            body.gyr_range_dps,
            body.state,
        )
    if isinstance(body, TimeSyncReply):
        return (body.host_time_us, body.device_rx_us, body.device_tx_us)
    raise ProtocolError(f"unknown response body {body!r}")


def encode_response(response: Response) -> bytes:
    """Encode a response (header + body for OK responses that carry one)."""
    opcode = _u8("opcode", int(response.opcode))
    seq = _u8("seq", response.seq)
    result = _u8("result", int(response.result))
    out = bytes([version_byte(*response.version), PacketType.RESPONSE, opcode, seq, result])
    expected = _BODY.get(opcode)
    if result != Result.OK or expected is None:
        if response.body is not None:
            raise ProtocolError(f"response to opcode 0x{opcode:02X} with result {result} carries no body")
        return out
    cls, st = expected
    if not isinstance(response.body, cls):
        raise ProtocolError(f"OK response to {Opcode(opcode).name} needs a {cls.__name__} body, got {response.body!r}")
    try:
        return out + st.pack(*_body_values(response.body))
    except struct.error as exc:
        raise ProtocolError(f"response body {response.body!r} does not fit the wire format: {exc}") from None


def decode_response(data: bytes) -> Response:
    """Decode a RESPONSE notification; raise :class:`ProtocolError` if malformed."""
    data = _as_bytes(data, "response")
    if len(data) < 1:
        raise ProtocolError("response: empty")
    version = check_version(data[0], "response")
    newer = version[1] > PROTOCOL_MINOR
    if len(data) < RESPONSE_HEADER_SIZE:
        raise ProtocolError(f"response: {len(data)} bytes is shorter than the {RESPONSE_HEADER_SIZE}-byte header")
    if data[1] != PacketType.RESPONSE:
        raise ProtocolError(f"response: packet type 0x{data[1]:02X} is not 0x{PacketType.RESPONSE:02X}")
    opcode, seq, result = data[2], data[3], data[4]
    if result in Result._value2member_map_:
        result = Result(result)
    elif not newer:
        raise ProtocolError(f"response: unknown result code 0x{result:02X}")
    if opcode in Opcode._value2member_map_:
        opcode = Opcode(opcode)
    expected = _BODY.get(opcode) if result == Result.OK else None
    need = RESPONSE_HEADER_SIZE + (expected[1].size if expected else 0)
    if result == Result.OK and opcode not in _PARAMS and not newer:
        raise ProtocolError(f"response: OK result for unknown opcode 0x{opcode:02X}")
    if len(data) != need and not (newer and len(data) > need):
        raise ProtocolError(
            f"response to opcode 0x{opcode:02X} (result {int(result)}): expected {need} bytes, got {len(data)}"
        )
    body: StreamingStarted | DeviceInfo | TimeSyncReply | bytes | None = None
    if expected is not None:
        cls, st = expected
        v = st.unpack_from(data, RESPONSE_HEADER_SIZE)
        if cls is StreamingStarted:
            if v[2] not in RATES_HZ or v[0] not in (0, 1):
                raise ProtocolError(f"response START_STREAMING: format {v[0]} / rate {v[2]} Hz invalid")
            body = StreamingStarted(DataFormat(v[0]), v[1], v[2])
        elif cls is DeviceInfo:
            if v[5] not in RATES_HZ or v[6] not in ACC_RANGES_G or v[7] not in GYR_RANGES_DPS:
                raise ProtocolError(f"response GET_INFO: rate {v[5]} Hz / ranges ±{v[6]} g, ±{v[7]} deg/s invalid")
            body = DeviceInfo(v[0], (v[1], v[2], v[3]), v[4], v[5], v[6], v[7], v[8])
        else:
            body = TimeSyncReply(*v)
    elif result == Result.OK and opcode not in _PARAMS:
        body = bytes(data[RESPONSE_HEADER_SIZE:])
    return Response(opcode, seq, result, body, version)


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ProtocolError(f"{what}: expected bytes, got {type(data).__name__}")
