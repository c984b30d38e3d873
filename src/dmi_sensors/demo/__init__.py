"""The end-to-end demo: simulated DMI sessions through record -> store -> analyse -> report.

* :mod:`~dmi_sensors.demo.simulated` — virtual sensors streamed into a store as the
  recorder would, with the therapist's tags.
* :mod:`~dmi_sensors.demo.run` — the ``dmi-sensors demo`` command's work.
"""
