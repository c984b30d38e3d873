"""Live sensors for the guided procedures: calibration steps recorded over Bluetooth LE.

Sits above both :mod:`dmi_sensors.calibration` and :mod:`dmi_sensors.ble` (neither imports
the other); ``dmi-sensors calibrate KIND --sensor ADDRESS`` and ``--via-bluez`` use it.

* :class:`LiveSource` — an :class:`~dmi_sensors.calibration.guided.AsyncStepSource` over a
  :class:`~dmi_sensors.ble.SensorLink` (drift-corrected, uniform, never across lost samples);
The virtual sensor that performs the steps on command in the emulated BlueZ (hardware-free
tests and ``--via-bluez``) is :mod:`dmi_sensors.sim.bluez.guided`.
"""

from dmi_sensors.live.source import IncompleteStepError, LiveCalibrationError, LiveSource, monotonic_link

__all__ = ["IncompleteStepError", "LiveCalibrationError", "LiveSource", "monotonic_link"]
