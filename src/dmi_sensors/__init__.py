"""dmi_sensors: wearable IMUs over Bluetooth LE turned into postural-control numbers.

The package root stays import-light on purpose (no numpy, scipy or numba here), so that
``dmi-sensors --help`` and ``--version`` answer instantly. Import the layer you need::

    from dmi_sensors.types import RawPacket, SampleBatch, Trial
    from dmi_sensors import contract            # column names, frames, units

See ``docs/data-contract.md`` for units, frames, sign conventions and column names.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
