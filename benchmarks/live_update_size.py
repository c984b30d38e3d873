"""Size of the live view's updates, as JSON and deflated (a diagnosis, not a benchmark).

Runs the real command, ``dmi-sensors record --simulate-sensors N --fs-hz 1000 --live``,
reads its WebSocket on loopback (which the server leaves uncompressed) and deflates each
update's JSON on its own, as permessage-deflate without context takeover would (with it, as
browsers negotiate, the wire is smaller still)::

    python -m benchmarks.live_update_size [N_SENSORS] [N_UPDATES]

A page on another machine (a tablet on the clinic's Wi-Fi) gets the deflated size.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path


def deflated_size(text: str) -> int:
    """Bytes of ``text`` (UTF-8) after raw deflate (level 6), flushed as a WebSocket message is."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return len(c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH))


async def measure(n_sensors: int, n_updates: int) -> list[tuple[int, int]]:
    """``(JSON bytes, deflated bytes)`` of ``n_updates`` updates that carry traces."""
    import aiohttp

    with tempfile.TemporaryDirectory() as d:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "dmi_sensors", "record", "--simulate-sensors", str(n_sensors), "--fs-hz", "1000",
            "--duration-s", "40", "--live", "--live-port", "0", "--db", str(Path(d) / "x.sqlite"),
            "--subject-id", "B001", "--com-height-m", "0.55",
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        found = re.search(r"http://\S+", (await proc.stdout.readline()).decode())
        if found is None:
            proc.kill()
            raise RuntimeError("the recorder printed no live view URL")
        sizes: list[tuple[int, int]] = []
        try:
            async with aiohttp.ClientSession() as s, s.ws_connect(found.group(0).rstrip("/") + "/ws") as ws:
                async for msg in ws:
                    data = json.loads(msg.data)
                    if data.get("type") != "update":
                        continue
                    await ws.send_str(json.dumps({"type": "ack", "seq": data["seq"]}))
                    if data.get("traces"):
                        sizes.append((len(msg.data.encode()), deflated_size(msg.data)))
                        if len(sizes) >= n_updates:
                            break
        finally:
            proc.terminate()
            await proc.wait()
    return sizes


def main(argv: list[str]) -> int:
    n_sensors = int(argv[0]) if argv else 16
    n_updates = int(argv[1]) if len(argv) > 1 else 200
    sizes = asyncio.run(measure(n_sensors, n_updates))
    raw = statistics.median(a for a, _ in sizes)
    packed = statistics.median(b for _, b in sizes)
    print(
        f"{len(sizes)} updates of {n_sensors} sensors: JSON median {raw / 1e3:.1f} kB, deflated {packed / 1e3:.1f} kB "
        f"(ratio {raw / packed:.1f}); at 20 updates a second {20 * raw / 1e3:.0f} against {20 * packed / 1e3:.0f} kB/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
