"""``--simulate-vendor``: the vendor names of ``record`` and ``scan`` (no heavy imports: ``--help`` stays fast)."""

from __future__ import annotations

import argparse

__all__ = ["VENDORS", "vendor_list", "vendor_rate"]

#: ``--simulate-vendor`` names (``dmi_sensors.vendors.VENDORS``; not imported: start-up speed).
VENDORS = ("metamotion", "dot", "polar", "witmotion")


def vendor_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in VENDORS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(VENDORS)}, found {text!r}")
    return names


def vendor_rate(text: str) -> tuple[str, float]:
    """``VENDOR=HZ`` of ``record --vendor-rate-hz`` (checked against the device's rates in
    :func:`check_vendor_rates`, which imports the vendors' setup exchanges)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in VENDORS:
        raise argparse.ArgumentTypeError(f"expected VENDOR=HZ with VENDOR one of {', '.join(VENDORS)}, found {text!r}")
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected VENDOR=HZ with HZ a number, found {text!r}") from None
    return name, rate


def check_vendor_rates(pairs: list[tuple[str, float]] | None) -> dict[str, float]:
    """``{vendor: rate_hz}`` from ``--vendor-rate-hz`` pairs; a rate the vendor's device does not
    support, or one vendor given twice, is a :class:`~dmi_sensors.errors.ParameterError`
    naming the rates it does support."""
    from dmi_sensors.ble.vendors import VENDOR_SESSIONS
    from dmi_sensors.errors import ParameterError
    from dmi_sensors.vendors import polar

    out: dict[str, float] = {}
    for name, rate in pairs or []:
        if name in out:
            raise ParameterError(f"--vendor-rate-hz: {name} given twice ({out[name]:g} and {rate:g} Hz)")
        supported = VENDOR_SESSIONS[name].rates_hz
        if rate not in supported:
            listed = ", ".join(f"{r:g}" for r in supported)
            if name == "polar":
                listed = "; ".join(f"{m}: {', '.join(map(str, r))}" for m, r in polar.RATES_HZ.items())
            raise ParameterError(f"--vendor-rate-hz {name}={rate:g}: a {name} sensor streams at {listed} Hz")
        out[name] = rate
    return out
