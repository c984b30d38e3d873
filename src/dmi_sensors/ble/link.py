"""One sensor over BLE: connect, configure, time-sync, stream, and come back after link loss.

:class:`SensorLink` owns one bleak client. Its life::

    connect (bleak-retry-connector) -> read Battery + Device Information
      -> subscribe STATUS (responses, status) and DATA -> GET_INFO
      -> SET_RATE / SET_RANGES if needed -> START_STREAMING -> TIME_SYNC probes
      -> stream ... unexpected disconnect -> back-off -> reconnect -> (resume) ...
      -> stop: STOP_STREAMING (its response arrives after every data packet) -> disconnect

Notifications arrive through BlueZ's ``AcquireNotify`` where the characteristic offers it
(one datagram per notification on a socket: no D-Bus message each) and through
``StartNotify`` otherwise, or when acquiring fails (``notify_method``; see ``docs/ble.md``).
Acquired sockets are read by the loop's :class:`~dmi_sensors.ble.acquired.AcquiredSocketPoller`,
not by bleak's reader (one wake-up of the loop per notification): all links' sockets in one
pass at most ``socket_poll_s`` after a notification, every datagram waiting, each with the
kernel's receive time stamp as its arrival time; then each link drains once.

The notification callbacks only append ``(host arrival time, bytes)`` to a list and, for
the first notification since the last drain, schedule a drain on the event loop
(``coalesce_s`` later; 0: the next loop iteration). So notifications are processed as they
arrive, those that arrive together are processed together, and no callback ever blocks the
loop. A drain hands each notification as a :class:`~dmi_sensors.types.RawPacket` to the
packet sink (raw first), resolves pending commands, feeds the decoder (the protocol's
``StreamDecoder`` or any object with its contract, ``decoder=``), whose counter unwrapping
spans reconnections: a gap while the link was down is counted as ``samples_lost`` and
flagged ``gap_before`` on the first sample after it; then statistics and ``on_batch``.

Everything runs on the caller's event loop (usable from Jupyter); there are no private
loops and no blocking sleeps. The decoder's Numba kernels are loaded once per process in a
worker thread *while* the first connection is made; notifications that arrive before they
are ready are stored raw at once and decoded as soon as they are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection, get_device

from dmi_sensors.ble.acquired import AcquiredSocketPoller, arrival_times
from dmi_sensors.ble.discovery import SensorAdvert, find_sensor
from dmi_sensors.ble.stats import LinkStats, LinkStatsTracker
from dmi_sensors.ble.vendors import VendorSession, VendorSetupError, vendor_session
from dmi_sensors.errors import DeviceError, ParameterError
from dmi_sensors.protocol import (
    BATTERY_LEVEL_CHAR_UUID,
    CONTROL_CHAR_UUID,
    DATA_CHAR_UUID,
    FIRMWARE_REVISION_CHAR_UUID,
    HARDWARE_REVISION_CHAR_UUID,
    MANUFACTURER_NAME_CHAR_UUID,
    MODEL_NUMBER_CHAR_UUID,
    SERIAL_NUMBER_CHAR_UUID,
    STATUS_CHAR_UUID,
    Command,
    DataFormat,
    DeviceInfo,
    DeviceState,
    GetInfo,
    PacketType,
    ProtocolError,
    Response,
    SetRanges,
    SetRate,
    StartStreaming,
    StatusPacket,
    StopStreaming,
    StreamDecoder,
    StreamingStarted,
    TimeSync,
    TimeSyncReply,
    decode,
    encode_command,
    looks_like_address,
)
from dmi_sensors.protocol.stream import warm_up as warm_up_decoder
from dmi_sensors.types import RawPacket, SampleBatch

__all__ = [
    "NOTIFY_METHODS",
    "ClockSync",
    "CommandError",
    "Decoder",
    "PacketSink",
    "ReconnectPolicy",
    "SensorInfo",
    "SensorLink",
    "SensorNotFoundError",
    "StreamConfig",
    "Target",
]

log = logging.getLogger(__name__)

_U32 = 1 << 32


#: What names one sensor: an advert from a scan (best), a bleak device, or an address string.
Target = SensorAdvert | BLEDevice | str


class PacketSink(Protocol):
    """Where raw packets go first (e.g. ``SessionStore.packet_writer(session_id)``)."""

    def append(self, packet: RawPacket) -> None: ...


class Decoder(Protocol):
    """What a link needs of its decoder: the :class:`~dmi_sensors.protocol.StreamDecoder`
    contract (``process(packets) -> SampleBatch`` with state across calls, running totals,
    ``get_params()`` with a ``sensor_id``). Vendor decoders plug in here."""

    @property
    def sensor_id(self) -> str: ...
    @property
    def samples_lost(self) -> int: ...
    @property
    def malformed_packets(self) -> int: ...
    @property
    def counter_resets(self) -> int: ...
    def process(self, packets: Sequence[RawPacket]) -> SampleBatch: ...
    def get_params(self) -> dict[str, Any]: ...


#: ``notify_method`` choices: AcquireNotify where offered (else StartNotify), or StartNotify only.
NOTIFY_METHODS = ("auto", "start_notify")

_warm_lock = threading.Lock()
_warm_future: concurrent.futures.Future[None] | None = None


def decoder_warm_up() -> concurrent.futures.Future[None]:
    """Load the protocol decoder's Numba kernels once per process, in a daemon thread.

    Returns the (shared) future; links await it before their first decode, never before
    connecting, so the first packets are stored while the kernels load.
    """
    global _warm_future
    with _warm_lock:
        if _warm_future is None:
            fut: concurrent.futures.Future[None] = concurrent.futures.Future()

            def work() -> None:
                try:
                    warm_up_decoder()
                except BaseException as exc:  # reported to every link that waits
                    fut.set_exception(exc)
                else:
                    fut.set_result(None)

            threading.Thread(target=work, name="dmi-decoder-warm-up", daemon=True).start()
            _warm_future = fut
        return _warm_future


class CommandError(DeviceError):
    """A control command was refused (``result`` is the protocol's Result code) or never answered."""

    def __init__(self, message: str, result: int | None = None) -> None:
        super().__init__(message)
        self.result = result


class SensorNotFoundError(DeviceError):
    """The sensor was not advertising within the scan timeout."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """What to ask the sensor for: nominal rate (Hz), full scales (±g, ±deg/s), packet size.

    ``samples_per_packet`` 0 lets the firmware fill the MTU (19 samples at ATT_MTU 247).
    """

    fs_hz: int = 200
    acc_range_g: int = 8
    gyr_range_dps: int = 1000
    samples_per_packet: int = 0
    data_format: int = DataFormat.FULL


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Back-off after failures: ``initial_backoff_s * factor**k`` capped at ``max_backoff_s``,
    each wait jittered by ±``jitter`` (fraction) so several sensors do not retry in lockstep.

    ``give_up_after_s``: stop trying when no connection succeeded for this long (``None``:
    keep trying until stopped). ``connect_attempts`` is passed to bleak-retry-connector.
    """

    initial_backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    factor: float = 2.0
    jitter: float = 0.2
    give_up_after_s: float | None = None
    scan_timeout_s: float = 5.0
    connect_attempts: int = 3

    def backoff_s(self, failures: int, rng: random.Random) -> float:
        base = min(self.max_backoff_s, self.initial_backoff_s * self.factor ** max(0, failures - 1))
        return base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """What the sensor told us at the last connection (Device Information + GET_INFO)."""

    address: str
    serial: str
    manufacturer: str
    model: str
    firmware: str
    hardware_revision: str
    fs_hz: int
    acc_range_g: int
    gyr_range_dps: int


@dataclass(frozen=True, slots=True)
class ClockSync:
    """Best (lowest round-trip) TIME_SYNC probe of a connection.

    ``offset_s`` = device clock − host clock (host clock = seconds since the session start),
    ``rtt_s`` its round-trip time (the offset is uncertain by ±rtt/2), ``host_time_s`` when.
    """

    offset_s: float
    rtt_s: float
    host_time_s: float


def clock_sync_from_probe(t0_s: float, t3_s: float, device_rx_us: int, device_tx_us: int) -> ClockSync:
    """One NTP-style TIME_SYNC probe: host send ``t0_s`` / receive ``t3_s`` (s since session start),
    device receive ``t1`` / transmit ``t2`` (u32 µs on the device clock).

    ``rtt = (t3 - t0) - (t2 - t1)``; ``offset = t1 - (t0 + rtt / 2) = ((t1 - t0) + (t2 - t3)) / 2``
    (device - host). ``t2 - t1`` is unwrapped modulo 2**32. A device clock running fast overstates
    its own processing time; when that exceeds the host round trip the raw rtt goes a few µs
    negative, so ``rtt_s`` is clamped at 0 (a round trip cannot be negative); the offset keeps
    the NTP form.
    """
    dev_proc_s = ((device_tx_us - device_rx_us) % _U32) / 1e6
    rtt = (t3_s - t0_s) - dev_proc_s
    offset = device_rx_us / 1e6 - (t0_s + rtt / 2)
    return ClockSync(offset, max(rtt, 0.0), t0_s)


#: Failures after which the link backs off and reconnects. bleak (and BlueZ under it) also
#: raise AttributeError / KeyError when the device object vanishes mid-call (bleak-retry-connector
#: treats AttributeError the same way).
_RETRYABLE: tuple[type[BaseException], ...] = (
    TimeoutError,
    EOFError,
    BrokenPipeError,
    ConnectionError,
    CommandError,
    VendorSetupError,
    SensorNotFoundError,
    ProtocolError,
    BleakError,
    AttributeError,
    KeyError,
)

_Body = TypeVar("_Body", StreamingStarted, DeviceInfo, TimeSyncReply)


def _offers_acquire_notify(client: BleakClient, uuid: str) -> bool:
    """True when BlueZ offers ``AcquireNotify`` on the characteristic (its ``NotifyAcquired``
    property exists: bleak's BlueZ backend keeps ``(path, properties)`` in ``obj``)."""
    services = client.services
    char = services.get_characteristic(uuid) if services is not None else None
    obj = getattr(char, "obj", None)
    return isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], dict) and "NotifyAcquired" in obj[1]


#: the packet types a link handles itself (command responses, status), as ints: ``data[1] in``
#: a set of ints is cheaper than comparing with the enum members, once per notification
_CONTROL_TYPES = frozenset({int(PacketType.RESPONSE), int(PacketType.STATUS)})


def _arrival(item: tuple[float, bytes]) -> float:
    return item[0]


def response_body(response: Response, kind: type[_Body], sensor_id: str = "") -> _Body:
    """The body of an OK response, checked to be a ``kind`` (:class:`CommandError` if it is not)."""
    body = response.body
    if not isinstance(body, kind):
        who = f"{sensor_id}: " if sensor_id else ""
        raise CommandError(f"{who}response to opcode {int(response.opcode)} carries {body!r}, not a {kind.__name__}")
    return body


class SensorLink:
    """A self-healing stream from one sensor (see the module docstring).

    Parameters
    ----------
    target
        A :class:`SensorAdvert` from :func:`~dmi_sensors.ble.discover` (best), a bleak
        ``BLEDevice``, or an address string (a scan finds it first).
    placement
        Where the sensor sits (``trunk``, ``pelvis``, ... see ``contract.PLACEMENTS``).
    config
        Rate, ranges and packet size to request.
    policy
        Reconnection back-off.
    sink
        Receives every notification as a :class:`RawPacket`, in arrival order.
    t0_s
        Session start on ``clock`` (host times are seconds since it); default: now.
    clock
        Host monotonic clock, seconds (default ``time.monotonic``).
    scan_lock
        Shared by the links of a hub so only one scans at a time.
    on_batch
        Called with each decoded :class:`SampleBatch` (live views); keep it quick.
    keep_packets
        Also keep every RawPacket in :attr:`packets` (notebooks, tests).
    decoder
        The decoder (``StreamDecoder`` contract, :class:`Decoder`); default a protocol-v1
        ``StreamDecoder``. When the sensor's serial becomes known before anything was
        decoded, a fresh one of the same type is made with that ``sensor_id``.
    notify_method
        ``"auto"``: BlueZ's ``AcquireNotify`` where the characteristic offers it (the
        ``NotifyAcquired`` property), ``StartNotify`` otherwise or if acquiring fails;
        ``"start_notify"``: always ``StartNotify``. Other platforms ignore it.
    coalesce_s
        A drain runs this long after the first notification since the previous drain
        (0: at the next event-loop iteration).
    vendor
        A third-party sensor's setup exchange (:class:`dmi_sensors.ble.vendors.VendorSession`,
        or a vendor name): the link then speaks that vendor's protocol and decodes with its
        decoder (made once the setup chose rate and range). Default: the vendor the scan
        identified (a :class:`SensorAdvert` with ``vendor``), else our own protocol.
    vendor_rates_hz
        Sample rate per vendor name for a vendor found by the scan (default: the vendor's
        common research rate, :data:`dmi_sensors.ble.vendors.VENDOR_RATES_HZ`).
    max_reads_per_wake
        With AcquireNotify, at most this many datagrams are read from a socket per pass of
        the socket poller (then one drain; the rest in the next pass, at once), so one busy
        socket cannot hold the loop.
    socket_poll_s
        With AcquireNotify, the poller's pass over all acquired sockets runs at most this
        long after a notification (0: at once; at most 0.015 s, within the live path's
        latency budget): the loop wakes about once per ``socket_poll_s`` while data flows,
        not once per notification. Arrival times are the kernel's receive stamps, so they
        do not depend on it.
    """

    def __init__(
        self,
        target: Target,
        placement: str = "",
        *,
        config: StreamConfig | None = None,
        policy: ReconnectPolicy | None = None,
        sink: PacketSink | None = None,
        t0_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        scan_lock: asyncio.Lock | None = None,
        on_batch: Callable[[SampleBatch], None] | None = None,
        keep_packets: bool = False,
        command_timeout_s: float = 2.0,
        coalesce_s: float = 0.0,
        time_sync_probes: int = 5,
        adapter: str | None = None,
        decoder: Decoder | None = None,
        notify_method: str = "auto",
        vendor: VendorSession | str | None = None,
        vendor_rates_hz: dict[str, float] | None = None,
        max_reads_per_wake: int = 256,
        socket_poll_s: float = 0.010,
    ) -> None:
        if notify_method not in NOTIFY_METHODS:
            raise ParameterError(f"notify_method must be one of {NOTIFY_METHODS}, got {notify_method!r}")
        if not coalesce_s >= 0:
            raise ParameterError(f"coalesce_s must be >= 0, got {coalesce_s}")
        if max_reads_per_wake < 1:
            raise ParameterError(f"max_reads_per_wake must be >= 1, got {max_reads_per_wake}")
        self.max_reads_per_wake = int(max_reads_per_wake)
        if not 0 <= socket_poll_s <= 0.015:
            raise ParameterError(f"socket_poll_s must be within 0 and 0.015 s, got {socket_poll_s}")
        self.socket_poll_s = float(socket_poll_s)
        # fd -> (the poller reading it, bleak's characteristic path -> fd map, the path)
        self._acquired: dict[int, tuple[AcquiredSocketPoller, dict[str, int], str]] = {}
        self._device: BLEDevice | None = None
        rssi = None
        serial = None
        model = ""
        if isinstance(target, SensorAdvert):
            self.address = target.address
            self._device = target.device
            rssi, serial = target.rssi_dbm, target.serial
            if vendor is None and target.vendor is not None:
                vendor, model = target.vendor, target.model or ""
        elif isinstance(target, str):
            self.address = target.upper()
        else:
            self.address = target.address
            self._device = target
        self.placement = placement
        self.config = config or StreamConfig()
        self.policy = policy or ReconnectPolicy()
        self.sink = sink
        self._clock = clock
        self.t0_s = clock() if t0_s is None else t0_s
        self._scan_lock = scan_lock or asyncio.Lock()
        self.on_batch = on_batch
        self.keep_packets = keep_packets
        self.packets: list[RawPacket] = []
        self.command_timeout_s = command_timeout_s
        self.coalesce_s = float(coalesce_s)
        self.notify_method = notify_method
        #: characteristic UUID -> "AcquireNotify" / "StartNotify" at the last subscription
        self.notify_methods: dict[str, str] = {}
        self.time_sync_probes = time_sync_probes
        self.adapter = adapter
        if isinstance(vendor, str):
            rate = (vendor_rates_hz or {}).get(vendor)
            vendor = vendor_session(vendor, rate, address=self.address, model=model)
        #: the third-party protocol this link speaks (None: our own)
        self.vendor: VendorSession | None = vendor
        self.sensor_id = serial or self.address
        self.tracker = LinkStatsTracker(self.sensor_id, self.address, placement, self._now())
        if vendor is not None:
            self.tracker.vendor = vendor.vendor
        self.tracker.rssi_dbm = rssi
        self.info: SensorInfo | None = None
        self.clock_sync: ClockSync | None = None
        self.events: list[tuple[float, str, str]] = []  # (host_time_s, kind, detail)
        if decoder is not None and decoder.sensor_id != self.sensor_id:
            decoder = type(decoder)(**{**decoder.get_params(), "sensor_id": self.sensor_id})
        self._decoder: Decoder = decoder if decoder is not None else StreamDecoder(self.sensor_id)
        self._decoder_samples = 0
        self._decoder_ready = False
        self._undecoded: list[RawPacket] = []
        self._rx: list[tuple[float, bytes]] = []
        self._rx_merge = False  # _rx holds datagrams of both acquired sockets: sort by arrival
        self._last_arrival_s = -float("inf")  # of the last datagram the poller handed over
        self._n_notifications = 0  # every notification so far (both characteristics)
        # set by the final drain: the link's counts are final, so nothing reaches the sink after
        # it (a late datagram of an AcquireNotify socket whose release failed on a dead bus)
        self._finished = False
        self.notifications_after_stop = 0  #: notifications delivered after the final drain (dropped)
        self._drain_handle: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: BleakClient | None = None
        self._disconnected = asyncio.Event()
        self._streaming = asyncio.Event()
        self._stop = asyncio.Event()
        # seq -> (opcode, future) of the commands awaiting their response
        self._pending: dict[int, tuple[int, asyncio.Future[tuple[Response, float]]]] = {}
        self._seq = 0
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random(self.address)
        self.error: BaseException | None = None
        self._failed = False

    # -- public API --------------------------------------------------------------------
    def _now(self) -> float:
        """Host time, seconds since the session start."""
        return self._clock() - self.t0_s

    @property
    def stats(self) -> LinkStats:
        """Live statistics (see :class:`LinkStats`)."""
        return self.tracker.snapshot(self._now())

    @property
    def state(self) -> str:
        return self.tracker.state

    @property
    def is_streaming(self) -> bool:
        return self._streaming.is_set()

    def start(self) -> asyncio.Task[None]:
        """Start the connect/stream/reconnect supervisor on the running loop; returns its task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"SensorLink {self.address}")
        return self._task

    async def wait_streaming(self, timeout_s: float | None = None) -> None:
        """Wait until data flows (raises ``TimeoutError``)."""
        async with asyncio.timeout(timeout_s):
            await self._streaming.wait()

    async def stop(self, timeout_s: float = 10.0) -> LinkStats:
        """Stop streaming, disconnect, drain; returns the final statistics."""
        self._stop.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
            if not done:
                log.warning("%s: did not stop within %.1f s, cancelling", self.sensor_id, timeout_s)
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        return self.stats

    async def __aenter__(self) -> SensorLink:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- notification callbacks: record, schedule a drain, return -----------------------
    def _on_notification(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._received([(self._clock(), bytes(data))], drain_now=False)

    # one callback for both characteristics: packets keep their arrival order
    _on_data = _on_status = _on_notification

    def _received(self, arrivals: list[tuple[float, bytes]], drain_now: bool, schedule: bool = True) -> None:
        """Notifications arrived (``(host clock time, bytes)`` each, in arrival order): keep
        them, count them and drain: at once (``drain_now``, with ``coalesce_s`` 0), else by a
        drain scheduled for the next loop iteration, or ``coalesce_s`` later, if none is yet
        (``schedule`` False: the caller drains). The one step behind both notification
        paths (bleak's callback, the socket poller)."""
        if self._finished:  # after the recording's end: neither stored nor counted as received
            self.notifications_after_stop += len(arrivals)
            return
        self._rx.extend(arrivals)
        self._n_notifications += len(arrivals)
        if schedule:
            self._schedule_drain(drain_now)

    def _schedule_drain(self, drain_now: bool) -> None:
        """Drain at once (``drain_now``, with ``coalesce_s`` 0), else at the next loop
        iteration, or ``coalesce_s`` later, unless a drain is scheduled already."""
        loop = self._loop
        if loop is None:
            return
        if drain_now and self.coalesce_s == 0:
            if self._drain_handle is not None:  # one scheduled by a notification before: done here
                self._drain_handle.cancel()
            self._drain_scheduled()
        elif self._drain_handle is None:
            if self.coalesce_s > 0:
                self._drain_handle = loop.call_later(self.coalesce_s, self._drain_scheduled)
            else:
                self._drain_handle = loop.call_soon(self._drain_scheduled)

    def _on_datagrams(self, datagrams: list[tuple[float | None, bytes]], monotonic_now_s: float) -> None:
        """The socket poller read these from one of the link's acquired sockets, each with its
        kernel receive stamp on ``time.monotonic()``: the link's clock (``clock``) at arrival,
        by the datagram's age where the link's clock is another
        (:func:`~dmi_sensors.ble.acquired.arrival_times`); drained by :meth:`_after_pass`
        once all sockets were read."""
        if self._rx:  # the other characteristic's datagrams of this pass, or StartNotify's
            self._rx_merge = True
        clock_now = monotonic_now_s if self._clock is time.monotonic else self._clock()
        self._received(arrival_times(datagrams, monotonic_now_s, clock_now), drain_now=False, schedule=False)

    def _after_pass(self) -> None:
        """The poller read all sockets: data and status datagrams in arrival order (by their
        receive stamps: a STOP_STREAMING response after the data sent before it), never
        before an earlier arrival (the clocks' offset is measured anew in each pass, to a
        fraction of a microsecond), then drained."""
        rx = self._rx
        if self._rx_merge:
            rx.sort(key=_arrival)
            self._rx_merge = False
        last = self._last_arrival_s
        for i, (t, data) in enumerate(rx):
            if t < last:
                rx[i] = (last, data)
            else:
                last = t
        self._last_arrival_s = last
        if not self._finished:
            self._schedule_drain(drain_now=True)

    def _own_acquired_socket(self, client: BleakClient, uuid: str) -> bool:
        """Read the characteristic's acquired socket with the loop's
        :class:`~dmi_sensors.ble.acquired.AcquiredSocketPoller` (all acquired sockets read
        together, each datagram with its kernel receive stamp) instead of bleak's reader (one
        wake-up of the loop per notification). bleak keeps the socket in its BlueZ backend's
        ``_notification_fds`` (characteristic path -> fd) and closes it in ``stop_notify``
        (the link hands it back first, :meth:`_release_acquired`); where that is not found
        (another bleak), bleak's reader stays: False."""
        fds = getattr(getattr(client, "_backend", None), "_notification_fds", None)
        services = client.services
        char = services.get_characteristic(uuid) if services is not None else None
        obj = getattr(char, "obj", None)
        if not isinstance(fds, dict) or not isinstance(obj, tuple) or not obj:
            return False
        path = obj[0]
        fd = fds.get(path)
        if not isinstance(fd, int):
            return False
        loop = asyncio.get_running_loop()
        if not loop.remove_reader(fd):
            return False

        def closed(why: str) -> None:
            log.debug("%s: AcquireNotify socket %d: %s; notifications stopped", self.sensor_id, fd, why)
            fds.pop(path, None)
            self._acquired.pop(fd, None)

        poller = AcquiredSocketPoller.for_loop(loop)
        poller.add(
            fd,
            self._on_datagrams,
            closed,
            delay_s=self.socket_poll_s,
            max_reads=self.max_reads_per_wake,
            after_pass=self._after_pass,
        )
        self._acquired[fd] = (poller, fds, path)
        return True

    def _release_acquired(self, close: bool) -> None:
        """Read what the acquired sockets still hold, then stop reading them: before bleak's
        ``stop_notify`` closes them (``close`` False), or, when the client is dropped without
        it, closing them as bleak's reader does at a hang-up (``close`` True)."""
        for fd, (poller, fds, path) in list(self._acquired.items()):
            poller.read_now()
            poller.remove(fd)
            if close and fds.get(path) == fd:
                with contextlib.suppress(OSError):
                    os.close(fd)
                fds.pop(path, None)
        self._acquired.clear()

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is self._client:
            self._disconnected.set()

    # -- draining ----------------------------------------------------------------------
    def _drain_scheduled(self) -> None:
        self._drain_handle = None
        if self._finished:
            return
        try:
            self._drain()
        except Exception as exc:
            # The sink (the store) failed: raw data can no longer be kept, so stop loudly;
            # keep draining without it, so that the shutdown's STOP_STREAMING is answered.
            log.error("%s: packet sink failed (%s); stopping this sensor", self.sensor_id, exc)
            self.error = exc
            self._failed = True
            self.sink = None
            self._stop.set()

    def _decoder_loaded(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            log.error("%s: the decoder could not be loaded: %s", self.sensor_id, fut.exception())
            return
        self._decoder_ready = True
        if self._undecoded and self._loop is not None and self._drain_handle is None:
            self._drain_handle = self._loop.call_soon(self._drain_scheduled)

    def _drain(self) -> None:
        rx, self._rx = self._rx, []
        if not rx and not (self._decoder_ready and self._undecoded):
            return
        sid, t0 = self.sensor_id, self.t0_s
        packets = [RawPacket(sid, t - t0, data) for t, data in rx]
        if self.sink is not None:
            for p in packets:
                self.sink.append(p)
        if self.keep_packets:
            self.packets.extend(packets)
        if self.vendor is not None:
            for p in packets:
                self.vendor.on_packet(p)
        else:
            for p in packets:
                d = p.data
                if len(d) > 1 and d[1] in _CONTROL_TYPES:
                    self._handle_control(p)
        if packets:
            self.tracker.add_packets(self._now(), len(packets))
        if not self._decoder_ready:  # stored already; decoded once the kernels are loaded
            self._undecoded.extend(packets)
            return
        if self._undecoded:
            packets, self._undecoded = self._undecoded + packets, []
        self._account(self._decoder.process(packets), packets[-1].host_time_s if packets else self._now())

    def _account(self, batch: SampleBatch, host_time_s: float) -> None:
        """Statistics, events and ``on_batch`` for what the decoder returned."""
        n = len(batch)
        self._decoder_samples += n
        t = self.tracker
        dec = self._decoder
        lost_before = t.samples_lost
        t.update_decoder(self._decoder_samples, dec.samples_lost, dec.malformed_packets, dec.counter_resets)
        if t.samples_lost > lost_before:
            self.events.append((host_time_s, "gap", f"{t.samples_lost - lost_before} samples lost"))
        if n:
            t.add_timing(batch.host_time_s, batch.device_time_s)
            if self.on_batch is not None:
                try:
                    self.on_batch(batch)
                except Exception:  # a live view must never stop the recording
                    log.exception("%s: on_batch callback failed", self.sensor_id)

    def _handle_control(self, p: RawPacket) -> None:
        try:
            msg = decode(p.data)
        except ProtocolError:
            return  # counted as malformed by the stream decoder
        if isinstance(msg, Response):
            pending = self._pending.get(msg.seq)
            if pending is None:
                return  # late answer to an attempt that timed out
            opcode, fut = pending
            if msg.opcode == opcode and not fut.done():  # a stale answer of another command is not ours
                fut.set_result((msg, p.host_time_s))
        elif isinstance(msg, StatusPacket) and msg.battery_pct is not None:
            self.tracker.battery_pct = msg.battery_pct

    # -- commands ----------------------------------------------------------------------
    async def command(self, cmd: Command, timeout_s: float | None = None, attempts: int = 3) -> Response:
        """Send a control command and wait for its response (retried on timeout).

        Raises :class:`CommandError` when the sensor refuses it or never answers.
        """
        resp, _ = await self._command(cmd, timeout_s, attempts)
        return resp

    async def _command(self, cmd: Command, timeout_s: float | None, attempts: int) -> tuple[Response, float]:
        client = self._client
        if client is None:
            raise CommandError(f"{self.sensor_id}: not connected")
        timeout_s = self.command_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        for attempt in range(1, attempts + 1):
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
            msg = dataclasses.replace(cmd, seq=seq)
            fut: asyncio.Future[tuple[Response, float]] = loop.create_future()
            self._pending[seq] = (msg.opcode, fut)
            try:
                await client.write_gatt_char(CONTROL_CHAR_UUID, encode_command(msg), response=True)
                resp, host_time_s = await asyncio.wait_for(fut, timeout_s)
            except TimeoutError:
                log.info("%s: no response to %s (attempt %d/%d)", self.sensor_id, type(cmd).__name__, attempt, attempts)
                continue
            finally:
                self._pending.pop(seq, None)
            if not resp.ok:
                name = type(cmd).__name__
                raise CommandError(f"{self.sensor_id}: {name} refused: result {resp.result!r}", resp.result)
            return resp, host_time_s
        raise CommandError(f"{self.sensor_id}: no response to {type(cmd).__name__} after {attempts} attempts")

    async def time_sync(self, probes: int | None = None) -> ClockSync:
        """NTP-style TIME_SYNC probes; keeps the lowest-RTT one in :attr:`clock_sync`."""
        best: ClockSync | None = None
        for _ in range(probes or self.time_sync_probes):
            t0 = self._now()
            t0_us = round(t0 * 1e6) % _U32
            resp, t3 = await self._command(TimeSync(host_time_us=t0_us), None, 2)
            reply = response_body(resp, TimeSyncReply, self.sensor_id)
            sync = clock_sync_from_probe(t0, t3, reply.device_rx_us, reply.device_tx_us)
            if best is None or sync.rtt_s < best.rtt_s:
                best = sync
        assert best is not None
        self.clock_sync = best
        return best

    # -- supervisor --------------------------------------------------------------------
    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        # the decoder's Numba kernels load in a worker thread while we connect
        if self.vendor is not None:
            pass  # the vendor's decoder is made once its setup exchange chose the settings
        elif isinstance(self._decoder, StreamDecoder):
            asyncio.wrap_future(decoder_warm_up()).add_done_callback(self._decoder_loaded)
        else:
            self._decoder_ready = True
        failures = 0
        last_ok = self._now()
        connected_once = False
        try:
            while not self._stop.is_set():
                self.tracker.state = "reconnecting" if connected_once else "connecting"
                try:
                    if not await self._unless_stopped(self._connect_and_stream()):
                        break
                except asyncio.CancelledError:
                    raise
                except _RETRYABLE as exc:
                    failures += 1
                    self.error = exc
                    self.events.append((self._now(), "connect_failed", f"{type(exc).__name__}: {exc}"))
                    log.warning("%s: connection failed (%s: %s)", self.sensor_id, type(exc).__name__, exc)
                    await self._drop_client()
                    giving_up = self.policy.give_up_after_s
                    if giving_up is not None and self._now() - last_ok > giving_up:
                        self.tracker.state = "failed"
                        log.error("%s: giving up after %.0f s without a connection", self.sensor_id, giving_up)
                        return
                    await self._sleep_unless_stopped(self.policy.backoff_s(failures, self._rng))
                    continue
                if connected_once:
                    self.tracker.reconnects += 1
                    self.events.append((self._now(), "reconnected", f"after {failures} failed attempts"))
                    log.info("%s: reconnected (%d failed attempts)", self.sensor_id, failures)
                connected_once = True
                failures = 0
                self.tracker.state = "streaming"
                await self._wait_disconnect_or_stop()
                if self._stop.is_set():
                    break
                self._streaming.clear()
                self.tracker.disconnects += 1
                last_ok = self._now()
                self.tracker.state = "reconnecting"
                self.events.append((last_ok, "disconnected", "unexpected"))
                log.warning("%s: disconnected unexpectedly; reconnecting", self.sensor_id)
                await self._drop_client()
                await self._sleep_unless_stopped(self.policy.backoff_s(1, self._rng))
        finally:
            try:
                with contextlib.suppress(Exception):
                    await self._shutdown()
            finally:  # also when stop() cancelled a shutdown that hung (a dead bus)
                await self._final_drain()

    async def _final_drain(self) -> None:
        """Store, count and decode what was received, then close the books: from here on
        nothing reaches the sink, so the final statistics and the store agree."""
        if self._drain_handle is not None:
            self._drain_handle.cancel()
            self._drain_handle = None
        try:
            with contextlib.suppress(Exception):
                if not self._decoder_ready and (self._undecoded or self._rx) and self.vendor is None:
                    # the kernels are still loading: wait for them, so nothing goes undecoded
                    await asyncio.wrap_future(decoder_warm_up())
                    self._decoder_ready = True
        finally:
            self._finished = True  # no await from here on: the drain below is the last one
            with contextlib.suppress(Exception):
                self._drain()
                flush = getattr(self._decoder, "flush", None)
                if self._decoder_ready and flush is not None:  # what a host-arrival clock still holds
                    self._account(flush(), self._now())
            if self._drain_handle is not None:
                self._drain_handle.cancel()
                self._drain_handle = None
            self._streaming.clear()
            if self._failed:
                self.tracker.state = "failed"
            elif self.tracker.state != "failed":
                self.tracker.state = "stopped"

    async def _unless_stopped(self, coro: Coroutine[Any, Any, None]) -> bool:
        """Run ``coro`` unless :meth:`stop` comes first (then cancel it); True if it completed."""
        task = asyncio.ensure_future(coro)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            stop.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        return False

    async def _wait_disconnect_or_stop(self) -> None:
        waits = {asyncio.ensure_future(self._disconnected.wait()), asyncio.ensure_future(self._stop.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _sleep_unless_stopped(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay_s)

    async def _resolve_device(self) -> BLEDevice:
        """A BLEDevice BlueZ knows now (rescanning when the device object went away).

        On Linux BlueZ is asked first, also for a sensor given by address only: one still
        connected (e.g. by a recorder that was killed) does not advertise, yet BlueZ has it."""
        if sys.platform == "linux" and (self._device is not None or looks_like_address(self.address)):
            known = await get_device(self.address)
            if known is not None:
                self._device = known
                return known
        elif self._device is not None:
            return self._device
        async with self._scan_lock:
            if self._stop.is_set():
                raise SensorNotFoundError(f"{self.sensor_id}: stopped")
            advert = await find_sensor(
                self.address, self.policy.scan_timeout_s, adapter=self.adapter, vendors=self.vendor is not None
            )
        if advert is None or advert.device is None:
            raise SensorNotFoundError(f"{self.sensor_id}: not advertising (scanned {self.policy.scan_timeout_s} s)")
        self._device = advert.device
        self.tracker.rssi_dbm = advert.rssi_dbm
        return advert.device

    async def _connect_and_stream(self) -> None:
        device = await self._resolve_device()
        self._disconnected.clear()
        client = await establish_connection(
            BleakClientWithServiceCache,
            device,
            self.sensor_id,
            disconnected_callback=self._on_disconnected,
            max_attempts=self.policy.connect_attempts,
        )
        self._client = client
        if not client.is_connected:
            self._disconnected.set()
        self.events.append((self._now(), "connected", ""))
        if self.vendor is not None:
            await self._vendor_connect(client, self.vendor)
            return
        battery = await client.read_gatt_char(BATTERY_LEVEL_CHAR_UUID)
        self.tracker.battery_pct = int(battery[0]) if battery else None
        if self.info is None:
            dis = {}
            for key, uuid in (
                ("manufacturer", MANUFACTURER_NAME_CHAR_UUID),
                ("model", MODEL_NUMBER_CHAR_UUID),
                ("serial", SERIAL_NUMBER_CHAR_UUID),
                ("firmware", FIRMWARE_REVISION_CHAR_UUID),
                ("hardware_revision", HARDWARE_REVISION_CHAR_UUID),
            ):
                dis[key] = bytes(await client.read_gatt_char(uuid)).decode("utf-8", "replace").strip("\x00 ")
            if dis["serial"] and self.sensor_id == self.address and not self._decoder_samples:
                self._set_sensor_id(dis["serial"])
        await self._subscribe(client, STATUS_CHAR_UUID)
        await self._subscribe(client, DATA_CHAR_UUID)
        info = response_body(await self.command(GetInfo()), DeviceInfo, self.sensor_id)
        if self.info is None:
            self.info = SensorInfo(
                self.address,
                dis["serial"] or f"{info.serial:08X}",
                dis["manufacturer"],
                dis["model"],
                dis["firmware"] or ".".join(map(str, info.firmware)),
                dis["hardware_revision"] or str(info.hardware_revision),
                info.fs_hz,
                info.acc_range_g,
                info.gyr_range_dps,
            )
        cfg = self.config
        streaming = bool(info.state & DeviceState.STREAMING)
        if (
            streaming
            and info.fs_hz == cfg.fs_hz
            and (info.acc_range_g, info.gyr_range_dps)
            == (
                cfg.acc_range_g,
                cfg.gyr_range_dps,
            )
        ):
            # The firmware kept sampling through the link loss: just listen again; the counter
            # gap while we were away is what the decoder reports as lost.
            await self.time_sync()
        else:
            if streaming:
                await self.command(StopStreaming())
            if info.fs_hz != cfg.fs_hz:
                await self.command(SetRate(fs_hz=cfg.fs_hz))
            if (info.acc_range_g, info.gyr_range_dps) != (cfg.acc_range_g, cfg.gyr_range_dps):
                await self.command(SetRanges(acc_range_g=cfg.acc_range_g, gyr_range_dps=cfg.gyr_range_dps))
            await self.command(StartStreaming(format=cfg.data_format, samples_per_packet=cfg.samples_per_packet))
            # probes after the start: the first data does not wait for them (their answers
            # interleave with the data packets)
            await self.time_sync()
        if self._disconnected.is_set():
            raise ConnectionError(f"{self.sensor_id}: link lost during set-up")
        self._streaming.set()
        log.info("%s: streaming at %d Hz", self.sensor_id, cfg.fs_hz)

    async def _vendor_connect(self, client: BleakClient, vendor: VendorSession) -> None:
        """A third-party sensor's connection: its setup exchange, the decoder, the start."""

        async def subscribe(uuid: str) -> str:
            # the sensor is known by its own id before anything of it reaches the store
            if vendor.sensor_id and vendor.sensor_id != self.sensor_id and not self._decoder_ready:
                self.sensor_id = self.tracker.sensor_id = vendor.sensor_id
            method = await self._subscribe(client, uuid)
            self.tracker.notify_method = method
            return method

        info = await vendor.setup(client, subscribe)
        self.tracker.battery_pct = info.battery_pct
        if self.info is None:
            self.info = SensorInfo(
                self.address, info.sensor_id, vendor.vendor, info.model, info.firmware, "", round(info.fs_hz), 0, 0
            )
        if not self._decoder_ready:  # the first connection: the decoder of what the setup chose
            await vendor.start(client)
            info = vendor.info or info  # the start may add settings (Polar's conversion factors)
            self._set_sensor_id(info.sensor_id, vendor.decoder(info.sensor_id))
            self.tracker.fs_hz = info.fs_hz
            self.tracker.loss_accounting = self._decoder_label("loss_accounting")
            self.tracker.decoder_settings = dict(info.settings)
            self._decoder_ready = True
            if self._undecoded and self._loop is not None and self._drain_handle is None:
                self._drain_handle = self._loop.call_soon(self._drain_scheduled)
        else:
            await vendor.start(client)
        if self._disconnected.is_set():
            raise ConnectionError(f"{self.sensor_id}: link lost during set-up")
        self._streaming.set()
        log.info("%s: %s streaming at %g Hz", self.sensor_id, vendor.vendor, info.fs_hz)

    def _decoder_label(self, name: str) -> str | None:
        value = getattr(self._decoder, name, None)
        return value if isinstance(value, str) else None

    async def _subscribe(self, client: BleakClient, uuid: str) -> str:
        """Notifications of ``uuid``: AcquireNotify where offered (``notify_method``), else
        or on failure StartNotify. Returns (and records) the method used."""
        method = "StartNotify"
        if self.notify_method == "auto" and _offers_acquire_notify(client, uuid):
            try:
                await client.start_notify(uuid, self._on_notification, bluez={"use_start_notify": False})
                method = "AcquireNotify"
                self._own_acquired_socket(client, uuid)
            except BleakError as exc:
                self.events.append((self._now(), "acquire_notify_failed", f"{uuid}: {exc}"))
                log.info("%s: AcquireNotify failed on %s (%s); using StartNotify", self.sensor_id, uuid, exc)
        if method == "StartNotify":
            await client.start_notify(uuid, self._on_notification)
        self.notify_methods[uuid] = method
        self.tracker.notify_method = method if uuid == DATA_CHAR_UUID else self.tracker.notify_method
        return method

    def _set_sensor_id(self, serial: str, decoder: Decoder | None = None) -> None:
        self.sensor_id = serial
        self.tracker.sensor_id = serial
        # nothing decoded yet (see the caller): a fresh decoder for the serial, since a
        # decoder's sensor_id is a parameter fixed at construction
        d = self._decoder
        self._decoder = decoder if decoder is not None else type(d)(**{**d.get_params(), "sensor_id": serial})

    async def _drop_client(self) -> None:
        self._release_acquired(close=True)
        client, self._client = self._client, None
        for _, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self.sensor_id}: link closed"))
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 5.0)

    async def _read_queued_notifications(self, quiet_s: float = 0.05, timeout_s: float = 2.0) -> None:
        """Let the loop read every notification already queued before the sockets are released.

        STOP_STREAMING's response follows every data packet over the air, but with
        AcquireNotify data and responses arrive through two sockets: the response can be
        read while data packets sent before it still wait in the data socket (closing it
        would lose them; bleak's reader takes one datagram per socket per loop iteration, the
        poller at most ``max_reads_per_wake`` a pass). A readable socket is read within
        ``socket_poll_s`` (the poller; bleak's reader: in every loop iteration), well inside
        ``quiet_s``, so the queue is empty once ``quiet_s`` passes without a notification
        (the time also covers a sender refilling the socket as it drains); ``timeout_s``
        bounds a sensor that keeps sending. The release then reads the sockets once more.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        seen, quiet_since = self._n_notifications, loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(quiet_s / 10)
            if self._n_notifications != seen:
                seen, quiet_since = self._n_notifications, loop.time()
            elif loop.time() - quiet_since >= quiet_s:
                return

    async def _shutdown(self) -> None:
        """Graceful end: stop streaming (its response follows every data packet), then disconnect."""
        client = self._client
        if client is not None and client.is_connected and self._streaming.is_set() and self.vendor is not None:
            try:
                await self.vendor.stop(client)
            except Exception as exc:
                log.info("%s: stopping the %s stream failed at shutdown: %s", self.sensor_id, self.vendor.vendor, exc)
            self._release_acquired(close=False)
            self._drain()
            for uuid in list(self.notify_methods):
                with contextlib.suppress(Exception):
                    await client.stop_notify(uuid)
        elif client is not None and client.is_connected and self._streaming.is_set():
            try:
                await self.command(StopStreaming(), attempts=2)
            except (CommandError, Exception) as exc:
                log.info("%s: STOP_STREAMING failed at shutdown: %s", self.sensor_id, exc)
            else:
                await self._read_queued_notifications()
            self._release_acquired(close=False)
            self._drain()
            for uuid in (DATA_CHAR_UUID, STATUS_CHAR_UUID):
                with contextlib.suppress(Exception):
                    await client.stop_notify(uuid)
        self._streaming.clear()
        await self._drop_client()
