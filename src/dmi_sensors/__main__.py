"""``python -m dmi_sensors`` is the same as the ``dmi-sensors`` command."""

from dmi_sensors.cli import main

raise SystemExit(main())
