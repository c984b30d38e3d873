"""The toolkit's exceptions: one base, :class:`DmiSensorsError`, and typed subclasses.

Every error the library raises on purpose derives from :class:`DmiSensorsError`, so a caller
(and the ``dmi-sensors`` command, which prints any of them as one line) can catch them all.
Each subclass also derives from the built-in exception it refines (``ValueError``,
``LookupError``, ``RuntimeError``), so ``except ValueError`` keeps working.

Bad input must produce *one* clear error that names the file, the place in it and what
was expected (see the design notes, "Errors are clear and early").

======================  ===================  =====================================================
class                   also a               raised when
======================  ===================  =====================================================
ParameterError          ValueError           a value passed to the API or the CLI is outside its
                                             domain (names the parameter, the accepted range/values)
DataFileError           ValueError           a file cannot be read as its format (file, place, expectation)
ProtocolError           ValueError           bytes are not a valid protocol message (protocol layer)
CalibrationDataError    ValueError           a recording lacks what a calibration fit needs
NotFoundError           KeyError             a named thing (session, sensor, metric, exercise) does not exist
StateError              RuntimeError         a call does not fit the state (stopped tagger, closed writer)
StoreError              RuntimeError         the session store could not do what was asked (disk full, writer)
DeviceError             RuntimeError         a sensor or the Bluetooth stack failed (not found, refused, link lost)
EmulatorError           RuntimeError         the emulated BlueZ or its private bus failed (tests, simulations)
======================  ===================  =====================================================
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CalibrationDataError",
    "DataFileError",
    "DeviceError",
    "DmiSensorsError",
    "EmulatorError",
    "NotFoundError",
    "ParameterError",
    "ProtocolError",
    "StateError",
    "StoreError",
]


class DmiSensorsError(Exception):
    """Base of every error the toolkit raises on purpose; its message is one readable line."""


class ParameterError(DmiSensorsError, ValueError):
    """A value outside its domain; the message names the parameter, what is accepted and what was given."""


class DataFileError(DmiSensorsError, ValueError):
    """A file could not be read as the expected format.

    Parameters
    ----------
    path
        The file (or directory) that was being read.
    location
        Where in the file the problem is, e.g. ``"row 12, column 'acc_x_mps2'"`` or
        ``"byte 4096"``; empty when the problem concerns the whole file.
    expected
        What the reader expected to find there.
    found
        What it found instead (optional).

    The message reads ``"<path>: <location>: expected <expected>, found <found>"``.
    """

    def __init__(self, path: str | Path, location: str, expected: str, found: str | None = None) -> None:
        self.path = Path(path)
        self.location = location
        self.expected = expected
        self.found = found
        parts = [str(self.path)]
        if location:
            parts.append(location)
        message = f"expected {expected}"
        if found is not None:
            message += f", found {found}"
        parts.append(message)
        super().__init__(": ".join(parts))


class ProtocolError(DmiSensorsError, ValueError):
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


class CalibrationDataError(DmiSensorsError, ValueError):
    """The recording does not contain what the calibration needs (message says what and where)."""


class NotFoundError(DmiSensorsError, KeyError):
    """A named thing does not exist (session, sensor, metric, exercise, calibration)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StateError(DmiSensorsError, RuntimeError):
    """A call that does not fit the object's current state (e.g. a stopped tagger, a closed writer)."""


class StoreError(DmiSensorsError, RuntimeError):
    """The session store could not do what was asked; data already committed stays intact."""


class DeviceError(DmiSensorsError, RuntimeError):
    """A sensor or the Bluetooth stack failed: not found, command refused or unanswered, link lost."""


class EmulatorError(DmiSensorsError, RuntimeError):
    """The emulated BlueZ, its control channel or its private D-Bus daemon failed."""
