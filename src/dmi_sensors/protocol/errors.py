"""The one exception type of the protocol layer."""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(ValueError):
    """Bytes that do not form a valid protocol-v1 message (or values that cannot be encoded).

    Every decoder in :mod:`dmi_sensors.protocol` raises this, and only this, on bad input;
    the message names the message kind, the byte offset or field and what was expected.

    Attributes
    ----------
    result
        The result code a device should answer with when this error came from decoding a
        control command (:class:`~dmi_sensors.protocol.constants.Result`), e.g.
        ``Result.INVALID_LENGTH``; ``None`` for errors that are not about commands.
    opcode
        The command opcode, when the bytes were long enough to carry one (else ``None``).
    seq
        The command sequence number, when the bytes were long enough to carry one.
    """

    def __init__(self, message: str, *, result: int | None = None, opcode: int | None = None, seq: int | None = None):
        super().__init__(message)
        self.result = result
        self.opcode = opcode
        self.seq = seq
