"""The end-to-end demo: simulated DMI sessions through record -> store -> analyse -> report.

* :mod:`~dmi_sensors.demo.run` — the ``dmi-sensors demo`` command's work;
* :mod:`~dmi_sensors.demo.bluez` — the same session recorded through bleak and the emulated BlueZ.

The simulated recording itself (virtual sensors streamed into a store as the recorder would,
with the therapist's tags) is :mod:`dmi_sensors.sim.session`.
"""
