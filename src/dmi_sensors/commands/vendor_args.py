"""``--simulate-vendor``: the vendor names of ``record`` and ``scan`` (no heavy imports: ``--help`` stays fast)."""

from __future__ import annotations

import argparse

__all__ = ["VENDORS", "vendor_list"]

#: ``--simulate-vendor`` names (``dmi_sensors.vendors.VENDORS``; not imported: start-up speed).
VENDORS = ("metamotion", "dot", "polar", "witmotion")


def vendor_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in VENDORS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"expected a comma list of {', '.join(VENDORS)}, found {text!r}")
    return names
