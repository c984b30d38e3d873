"""Live link statistics per sensor: what arrived, what was lost, how the link behaves.

:class:`LinkStatsTracker` is fed by :class:`~dmi_sensors.ble.link.SensorLink` after each
drain of the notification queue (with the decoded :class:`~dmi_sensors.types.SampleBatch`
and the running totals of the protocol's ``StreamDecoder``); :meth:`snapshot` returns an
immutable :class:`LinkStats` for the API, the log and the ``record`` summary.

Latency
-------
A notification leaves the sensor right after the last sample it carries. With the device
clock ``d`` (seconds) of that sample and the host arrival time ``h``, ``h - d`` equals the
clock offset plus the latency. The offset is estimated as the minimum of ``h - d`` seen so
far (the lower envelope: the fastest delivery), so the reported latency is the delay *above
the fastest notification* — it measures connection-interval waiting, queuing and host
scheduling, not the constant radio/stack minimum. Clock drift (tens of ppm) moves the
envelope by well under a millisecond per minute.

Samples expected
----------------
Counters show the samples lost *between* two received ones; they cannot show a sensor that
stopped sending for good, nor one that was never found. :func:`account` therefore also
counts from time: a sensor should have streamed from the start of the recording (or its
first sample, if earlier) to the stop (or its last sample, if later), so it was expected to
deliver ``round(fs_hz * that span)`` samples; what it did not deliver before its first or
after its last received sample (``samples_lost_edges``) is lost too, beside the counter gaps
(``samples_lost_gaps``). Sample times come from the device clock (the latency envelope maps
it onto the session clock), so a healthy sensor's expected count equals received + gap
losses to within a sample; each edge is counted from one sample period inside the recording,
so that uncertainty alone never reads as a loss.
"""

from __future__ import annotations

import collections
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["LinkStats", "LinkStatsTracker", "SampleAccount", "account"]

_LATENCY_KEEP = 4096  # latencies a link keeps for its percentiles


@dataclass(frozen=True, slots=True)
class LinkStats:
    """A snapshot of one sensor link.

    Attributes
    ----------
    sensor_id, address, placement
        Which sensor (serial as 8 hex digits, or address until known), its BLE address and
        where it sits on the child.
    state
        ``idle``, ``connecting``, ``streaming``, ``reconnecting``, ``stopped`` or ``failed``.
    packets_received
        Notifications received (data, status and responses, malformed included).
    packets_per_s
        Notification rate over the last ``window_s`` seconds.
    samples_received
        Samples decoded from valid data packets.
    samples_lost
        Samples missing according to the device's sample counter (gaps; resets excluded).
    malformed_packets
        Notifications that failed to decode (counted and skipped).
    counter_resets
        Counter discontinuities the decoder could not bridge (samples unknown).
    reconnects
        Successful re-connections after an unexpected disconnect.
    disconnects
        Unexpected disconnects.
    rssi_dbm
        Last advertised signal strength (``None`` if never seen).
    battery_pct
        Last battery level (Battery service at connect, then status packets).
    latency_ms_p50, latency_ms_p99
        Notification latency above the fastest one (see the module docstring), ms.
    elapsed_s
        Seconds since the link was started.
    notify_method
        How data notifications arrive: ``"AcquireNotify"`` (a socket from BlueZ),
        ``"StartNotify"`` (one D-Bus signal each), or ``None`` before the first subscription.
    first_sample_s, last_sample_s
        Session time of the first and of the last sample received (device clock mapped onto
        the session clock by the latency envelope); ``None`` before any sample.
    vendor
        The third-party protocol of the sensor (``metamotion``, ``dot``, ``polar``,
        ``witmotion``; :mod:`dmi_sensors.vendors`), None for our own.
    fs_hz
        The sensor's nominal rate as set up (None: before the setup, or our own sensors,
        whose rate is the recording's).
    loss_accounting
        ``"exact"`` (device counters or timestamps) or ``"estimated"`` (host arrival and
        the nominal rate; WitMotion, plain MetaMotion); None before the setup.
    decoder_settings
        The vendor decoder's settings (:func:`dmi_sensors.vendors.decoder_for`), kept with
        the raw notifications so analysis decodes them the same way; None for our own.
    """

    sensor_id: str
    address: str
    placement: str
    state: str
    packets_received: int
    packets_per_s: float
    samples_received: int
    samples_lost: int
    malformed_packets: int
    counter_resets: int
    reconnects: int
    disconnects: int
    rssi_dbm: int | None
    battery_pct: int | None
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    elapsed_s: float
    notify_method: str | None = None
    first_sample_s: float | None = None
    last_sample_s: float | None = None
    vendor: str | None = None
    fs_hz: float | None = None
    loss_accounting: str | None = None
    decoder_settings: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (NaN-free)."""
        return asdict(self)

    def line(self) -> str:
        """One log line."""
        lat = "-" if self.latency_ms_p50 is None else f"{self.latency_ms_p50:.1f}/{self.latency_ms_p99:.1f}"
        return (
            f"{self.sensor_id} [{self.placement or '-'}] {self.state}: {self.packets_per_s:.1f} pkt/s, "
            f"{self.samples_received} samples, lost {self.samples_lost}, malformed {self.malformed_packets}, "
            f"reconnects {self.reconnects}, rssi {self.rssi_dbm if self.rssi_dbm is not None else '-'} dBm, "
            f"battery {self.battery_pct if self.battery_pct is not None else '-'} %, latency p50/p99 {lat} ms"
        )


class LinkStatsTracker:
    """Mutable counters behind :class:`LinkStats` (one per link; not thread-safe, loop-only)."""

    def __init__(self, sensor_id: str, address: str, placement: str, started_s: float, window_s: float = 5.0) -> None:
        self.sensor_id = sensor_id
        self.address = address
        self.placement = placement
        self.state = "idle"
        self.started_s = started_s
        self.window_s = window_s
        self.packets_received = 0
        self.samples_received = 0
        self.samples_lost = 0
        self.malformed_packets = 0
        self.counter_resets = 0
        self.reconnects = 0
        self.disconnects = 0
        self.rssi_dbm: int | None = None
        self.battery_pct: int | None = None
        self.notify_method: str | None = None
        self.vendor: str | None = None
        self.fs_hz: float | None = None
        self.loss_accounting: str | None = None
        self.decoder_settings: dict[str, Any] | None = None
        self._arrivals: collections.deque[tuple[float, int]] = collections.deque()
        self._arrivals_n = 0  # notifications in _arrivals (the rate's window)
        self._offset_s = math.inf  # lower envelope of host - device time
        # the latest _LATENCY_KEEP latencies (s), a ring: a snapshot's percentiles read it
        # without converting Python floats; they are recomputed only when it changed
        self._latency_s = np.zeros(_LATENCY_KEEP)
        self._latency_n = 0  # latencies added so far (the ring holds the last _LATENCY_KEEP)
        self._latency_pct: tuple[int, float | None, float | None] = (0, None, None)
        self._first_device_s: float | None = None  # device time of the first and last sample received
        self._last_device_s: float | None = None
        self._first_host_s: float | None = None  # their host arrival times (fallback mapping)
        self._last_host_s: float | None = None

    def add_packets(self, now_s: float, n: int) -> None:
        """Count ``n`` notifications drained at host time ``now_s``."""
        if n:
            self.packets_received += n
            self._arrivals.append((now_s, n))
            self._arrivals_n += n
        self._trim(now_s)

    def _trim(self, now_s: float) -> None:
        arrivals = self._arrivals
        while arrivals and arrivals[0][0] < now_s - self.window_s:
            self._arrivals_n -= arrivals.popleft()[1]

    def update_decoder(self, samples_received: int, samples_lost: int, malformed: int, resets: int) -> None:
        """Copy the decoder's running totals."""
        self.samples_received = samples_received
        self.samples_lost = samples_lost
        self.malformed_packets = malformed
        self.counter_resets = resets

    def add_timing(self, host_time_s: np.ndarray, device_time_s: np.ndarray) -> None:
        """Feed per-sample host arrival and device times of a decoded batch (same length)."""
        n = host_time_s.size
        if n == 0:
            return
        if self._first_device_s is None:
            self._first_device_s, self._first_host_s = float(device_time_s[0]), float(host_time_s[0])
        # .item(): a Python float without a numpy scalar in between (once per notification)
        last_h = self._last_host_s = float(host_time_s.item(n - 1))
        last_d = self._last_device_s = float(device_time_s.item(n - 1))
        if host_time_s.item(0) == last_h:  # one packet (the usual drain): no array work
            d = last_h - last_d
            if d < self._offset_s:
                self._offset_s = d
            self._latency_s[self._latency_n % _LATENCY_KEEP] = d - self._offset_s
            self._latency_n += 1
            return
        # The last sample of each packet: where the host time changes (one arrival per packet).
        last = [*np.flatnonzero(host_time_s[1:] != host_time_s[:-1]).tolist(), n - 1]
        diff = host_time_s[last] - device_time_s[last]
        self._offset_s = min(self._offset_s, float(diff.min()))
        lat = (diff - self._offset_s)[-_LATENCY_KEEP:]
        self._latency_s[(self._latency_n + np.arange(lat.size)) % _LATENCY_KEEP] = lat
        self._latency_n += lat.size

    def reset_timing(self) -> None:
        """Forget the latency envelope (e.g. after a device clock reset)."""
        self._offset_s = math.inf
        self._latency_n = 0
        self._latency_pct = (0, None, None)

    def packets_per_s(self, now_s: float) -> float:
        self._trim(now_s)
        if not self._arrivals:
            return 0.0
        span = min(self.window_s, max(now_s - self.started_s, 1e-9))
        return self._arrivals_n / span

    def latency_ms_percentiles(self) -> tuple[float | None, float | None]:
        """p50 and p99 of the latest latencies, ms (None before the first)."""
        n = self._latency_n
        if self._latency_pct[0] != n:
            if n == 0:
                self._latency_pct = (0, None, None)
            else:
                p50, p99 = np.percentile(self._latency_s[: min(n, _LATENCY_KEEP)], [50, 99])
                self._latency_pct = (n, float(p50) * 1e3, float(p99) * 1e3)
        return self._latency_pct[1], self._latency_pct[2]

    def _session_time(self, device_s: float | None, host_s: float | None) -> float | None:
        """A sample's device time on the session clock (offset = the latency envelope)."""
        if device_s is None:
            return None
        mapped = device_s + self._offset_s
        if math.isfinite(mapped):
            return round(mapped, 6)
        return None if host_s is None else round(host_s, 6)

    def snapshot(self, now_s: float) -> LinkStats:
        p50, p99 = self.latency_ms_percentiles()
        return LinkStats(
            sensor_id=self.sensor_id,
            address=self.address,
            placement=self.placement,
            state=self.state,
            packets_received=self.packets_received,
            packets_per_s=round(self.packets_per_s(now_s), 3),
            samples_received=self.samples_received,
            samples_lost=self.samples_lost,
            malformed_packets=self.malformed_packets,
            counter_resets=self.counter_resets,
            reconnects=self.reconnects,
            disconnects=self.disconnects,
            rssi_dbm=self.rssi_dbm,
            battery_pct=self.battery_pct,
            latency_ms_p50=None if p50 is None else round(p50, 3),
            latency_ms_p99=None if p99 is None else round(p99, 3),
            elapsed_s=round(now_s - self.started_s, 3),
            notify_method=self.notify_method,
            first_sample_s=self._session_time(self._first_device_s, self._first_host_s),
            last_sample_s=self._session_time(self._last_device_s, self._last_host_s),
            vendor=self.vendor,
            fs_hz=self.fs_hz,
            loss_accounting=self.loss_accounting,
            decoder_settings=None if self.decoder_settings is None else dict(self.decoder_settings),
        )


@dataclass(frozen=True, slots=True)
class SampleAccount:
    """One sensor's samples over a recording: expected beside received and lost.

    Attributes
    ----------
    samples_expected
        ``round(fs_hz * span)``, the span running from the start of the recording (or the
        sensor's first sample, if earlier) to its stop (or the last sample, if later).
    samples_received
        Samples decoded from valid packets.
    samples_lost
        ``samples_lost_gaps + samples_lost_edges``: never 0 for a sensor that was lost for
        good or never found.
    samples_lost_gaps
        Missing between received samples according to the sample counter (exact).
    samples_lost_edges
        Not received after the start of the recording and before the first sample, or after
        the last sample and before the stop (from time: ``fs_hz`` times the uncovered spans,
        rounded down, each span beginning one sample period inside the recording for the
        timing uncertainty). All of the expected samples for a sensor never heard.
    counter_resets
        Counter discontinuities: samples unknown there (counted in neither loss).
    """

    samples_expected: int
    samples_received: int
    samples_lost: int
    samples_lost_gaps: int
    samples_lost_edges: int
    counter_resets: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def account(stats: LinkStats, fs_hz: float, start_s: float, stop_s: float) -> SampleAccount:
    """Samples expected of one sensor between ``start_s`` and ``stop_s`` (session times, s)
    at the nominal rate ``fs_hz``, beside what it delivered (see the module docstring).

    The start and stop are host-clock instants, the sample times device times mapped onto
    that clock (or arrival estimates, for sensors without a device clock): a sensor whose
    first sample lies within one sample period after the start, or whose last sample ends
    within one period before the stop, started or stopped on time. Each edge therefore counts
    from one period inside the recording (``start_s + 1/fs_hz``, ``stop_s - 1/fs_hz``).

    >>> s = LinkStats("S1", "A", "trunk", "stopped", 0, 0.0, 1000, 0, 0, 0, 0, 1, None, None,
    ...               None, None, 30.0, first_sample_s=1.0, last_sample_s=5.995)
    >>> a = account(s, 200.0, 1.0, 26.0)   # lost for good at 6 s of a recording that ran to 26 s
    >>> a.samples_expected, a.samples_received, a.samples_lost, a.samples_lost_edges
    (4999, 1000, 3999, 3999)
    """
    period_s = 1.0 / fs_hz
    first, last = stats.first_sample_s, stats.last_sample_s
    if first is None or last is None:  # never heard: everything it should have sent is lost
        expected = max(0, round(fs_hz * (stop_s - start_s)))
        return SampleAccount(expected, 0, expected, 0, expected, stats.counter_resets)
    slack_s = min(period_s, max(0.0, stop_s - start_s) / 2)  # one sample of timing uncertainty
    start_s, stop_s = start_s + slack_s, stop_s - slack_s
    begin = min(start_s, first)
    end = max(stop_s, last + period_s)  # the last sample covers one period
    expected = round(fs_hz * (end - begin))
    head = math.floor(fs_hz * max(0.0, first - start_s) + 1e-9)
    tail = math.floor(fs_hz * max(0.0, stop_s - (last + period_s)) + 1e-9)
    edges = head + tail
    gaps = stats.samples_lost
    return SampleAccount(expected, stats.samples_received, gaps + edges, gaps, edges, stats.counter_resets)
