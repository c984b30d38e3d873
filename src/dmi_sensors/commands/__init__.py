"""One module per ``dmi-sensors`` sub-command: thin argument parsing over the library.

Import rule: a command module imports at its top only the standard library and the light
modules ``dmi_sensors.errors`` / ``dmi_sensors.contract``; the library (numpy, scipy, numba,
pandas, matplotlib, bleak under it) is imported inside ``run`` and its helpers, so that
``dmi-sensors --help`` and ``dmi-sensors COMMAND --help`` start instantly
(``tests/test_cli.py`` checks both). Annotations name library types under
``TYPE_CHECKING``, which costs nothing at run time.
"""
