"""``record --live``: the live hub and its web view around one recording.

:class:`LiveRecording` bundles what ``dmi-sensors record --live`` adds to a recording:

* a :class:`~dmi_sensors.live.hub.LiveHub` fed by every link (``on_batch``) from the first
  packet, its sensors' calibrations and the subject's COM height;
* a :class:`~dmi_sensors.live.server.LiveServer` (started before the sensors connect, so
  the page shows them connecting), whose buttons act through the recording's
  :class:`~dmi_sensors.session.KeyTagger` exactly as the terminal keys do;
* link states (placement, connection state, battery, loss) copied into the hub every
  ``status_interval_s`` from the moment the links start;
* the latency of every notification to its live metric, to the store (:class:`TimingSink`
  in front of the packet writer) and to the screen, for the recording's summary.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from dmi_sensors.ble import SensorHub
from dmi_sensors.live.hub import LiveHub
from dmi_sensors.live.latency import TimingSink
from dmi_sensors.live.metrics import LiveParams
from dmi_sensors.live.server import LiveServer
from dmi_sensors.session.keys import KeyTagger

__all__ = ["KEYS", "LiveRecording"]

#: The terminal key of each button of the page (``dmi_sensors.session.keys``).
KEYS = {"next_exercise": "n", "next_repetition": "r", "pause": " ", "stop": "q"}


class LiveRecording:
    """Live metrics and the live view of one recording (see the module docstring).

    Parameters
    ----------
    params
        :class:`LiveParams` (COM height, hold rules, filters).
    placements
        ``{sensor_id: placement}`` known from the scan.
    calibrations
        ``{sensor_id: SensorCalibration}`` applied live.
    host, port, token
        Where the view listens (:class:`LiveServer`).
    title
        Page header (the pseudonymous subject id).
    status_interval_s
        How often link states are copied to the screens, s.
    """

    def __init__(
        self,
        params: LiveParams,
        placements: Mapping[str, str] | None = None,
        calibrations: Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        title: str = "",
        status_interval_s: float = 0.25,
    ) -> None:
        self.hub = LiveHub(params, placements, calibrations)
        self.server = LiveServer(self.hub, host, port, token=token, on_action=self._on_action, title=title)
        self.timing = TimingSink(self.hub.latency)
        self.status_interval_s = status_interval_s
        self.keys: KeyTagger | None = None
        self._sensor_hub: SensorHub | None = None
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Serve the view; returns its URL."""
        return await self.server.start()

    def know_sensors(self, placements: Mapping[str, str], calibrations: Mapping[str, Any] | None = None) -> None:
        """Sensors found by the scan (before any data): placements and calibrations."""
        self.hub.placements.update(placements)
        self.hub.calibrations.update(calibrations or {})

    def on_hub(self, sensor_hub: SensorHub) -> None:
        """``record(on_hub=...)``: the links started; follow their states on the session clock."""
        self._sensor_hub = sensor_hub
        if sensor_hub.t0_s is not None:
            self.hub.set_t0(sensor_hub.t0_s)
        self._poll_once()
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="live link states")

    def attach_keys(self, keys: KeyTagger) -> None:
        """The recording's key tagger: the page's buttons drive it; its tagger feeds the hub."""
        self.keys = keys
        self.hub.attach_tagger(keys.tagger)
        previous = keys.on_action

        def on_action(action: str, tagger: Any) -> None:
            if previous is not None:
                previous(action, tagger)
            self.hub.tagger_changed(action)

        keys.on_action = on_action

    def _on_action(self, action: str, text: str | None) -> None:
        keys = self.keys
        if keys is None:
            raise RuntimeError("tagging has not started yet (waiting for the sensors)")
        if action == "note":
            if not text or not text.strip():
                raise ValueError("a note needs some text")
            # exactly what typing t, the text and Enter in the terminal does
            keys.handle_key("t")
            for ch in text.replace("\r", " ").replace("\n", " "):
                keys.handle_key(ch)
            keys.handle_key("\r")
            return
        keys.handle_key(KEYS[action])

    def _poll_once(self) -> None:
        h = self._sensor_hub
        if h is None:
            return
        for link in h.links:
            # the tracker's counters as they are: a full ``link.stats`` snapshot computes
            # latency percentiles and a packet rate the page does not show (nearly all of
            # this poll's cost in a profile at 16 sensors x 1 kHz)
            t = link.tracker
            self.hub.set_link_state(
                link.sensor_id,
                placement=link.placement,
                state=t.state,
                battery_pct=t.battery_pct,
                samples_received=t.samples_received,
                samples_lost=t.samples_lost,
                reconnects=t.reconnects,
                notify_method=t.notify_method,
            )

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval_s)
            self._poll_once()

    async def stop(self, summary: dict[str, Any] | None = None) -> None:
        """After the recording: final states, pending repetitions measured, summary to the pages, server closed."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        self._poll_once()
        self.hub.finish()
        await self.server.stop(summary)

    def latency_summary(self) -> dict[str, Any]:
        """Notification -> metric / stored / screen latency percentiles (ms)."""
        return self.hub.latency.summary()
