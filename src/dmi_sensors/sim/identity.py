"""Who a simulated sensor is: the one numbering of every simulated sensor's serial, address and errors.

Simulated sensor ``i`` (0-based) has the 32-bit serial ``FIRST_SERIAL + i`` (``00D10001``,
``00D10002``, ...; advertised as ``DMI-00D10001``) and, on the emulated BlueZ, the public
address ``D0:31:5E:00:00:01``, ``...:02``, ... Every simulated path numbers its sensors this
way: ``calibrate --simulate`` / ``--via-bluez`` (sensor 0), ``record --simulate-sensors N``
(sensors 0 .. N-1), the simulated DMI session (trunk 0, pelvis 1) and the crash-test
recorder, so a calibration made with simulated sensor ``i`` belongs to the sensor recorded
as ``i``.

Like a real unit, simulated sensor ``i`` also has its own fixed hardware errors (bias,
scale, axis misalignment, mounting on the trunk): ``random_imu_errors(errors_seed(i))``
(:func:`dmi_sensors.sim.calibration.simulated_imu_errors`). ``calibrate --simulate`` /
``--via-bluez`` calibrate exactly those errors and ``record --simulate-sensors`` records
with them, so calibrate -> record -> analyse applies a calibration that fits the sensor
(the simulated DMI sessions of the demo keep ideal sensors: their numbers are compared
with the simulated body).
"""

from __future__ import annotations

from dmi_sensors import protocol
from dmi_sensors.errors import ParameterError

__all__ = [
    "FIRST_SERIAL",
    "errors_seed",
    "sensor_address",
    "simulated_index",
    "simulated_sensor_id",
    "simulated_serial",
]

#: Serial number of simulated sensor 0.
FIRST_SERIAL = 0x00D10001


def _index(index: int) -> int:
    i = int(index)
    if not 0 <= i < 0xFFFF:
        raise ParameterError(f"simulated sensor index must be in [0, 65535), got {index}")
    return i


def simulated_serial(index: int) -> int:
    """32-bit serial number of simulated sensor ``index``."""
    return FIRST_SERIAL + _index(index)


def simulated_sensor_id(index: int) -> str:
    """The sensor id (serial as 8 hex digits, e.g. ``"00D10001"``) of simulated sensor ``index``."""
    return protocol.format_serial(simulated_serial(index))


def sensor_address(index: int) -> str:
    """Public BLE address of simulated sensor ``index`` on the emulated BlueZ."""
    n = _index(index) + 1
    return f"D0:31:5E:00:{n >> 8:02X}:{n & 0xFF:02X}"


def simulated_index(sensor_id: str) -> int | None:
    """The index of the simulated sensor with this id (``"00D10002"`` or ``"DMI-00D10002"`` -> 1),
    None for any other id."""
    text = str(sensor_id).strip().upper().removeprefix("DMI-")
    try:
        serial = int(text, 16)
    except ValueError:
        return None
    index = serial - FIRST_SERIAL
    return index if len(text) == 8 and 0 <= index < 0xFFFF else None


def errors_seed(index: int) -> int:
    """Seed of simulated sensor ``index``'s hardware errors (sensor 0: 1, the default ``--seed``
    of ``dmi-sensors calibrate``)."""
    return 1 + _index(index)
