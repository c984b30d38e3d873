"""``python -m dmi_sensors.metrics [--write docs/metrics.md]``: print or refresh the registry table."""

from __future__ import annotations

import sys
from pathlib import Path

from dmi_sensors.metrics.registry import markdown_table, update_doc


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        target = Path(argv[1])
        target.write_text(update_doc(target.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    if argv:
        print("usage: python -m dmi_sensors.metrics [--write docs/metrics.md]", file=sys.stderr)
        return 2
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
