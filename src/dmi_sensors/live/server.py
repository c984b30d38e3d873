"""The live view: a small web server for the therapist's laptop or a tablet beside the table.

``dmi-sensors record ... --live`` starts a :class:`LiveServer` and prints its URL. The page
(``live/static/``: HTML, CSS and plain JavaScript with its own canvas drawing; nothing is
fetched from anywhere else, so it works without internet) shows per sensor its placement,
connection state, battery, loss so far and a live trace; the exercise, repetition and
support from the plan with a hold timer and a "hold done" cue; each repetition's result
as soon as it ends; and the buttons "Next exercise", "Next repetition", "Pause", "Note"
and "Stop", which act through the same tagger as the terminal keys.

Server: aiohttp (HTTP and WebSocket in one maintained asyncio library, on the recorder's
own event loop: no thread, no second process). Push channel: one WebSocket per page; the
server sends an update at most every ``push_interval_s`` (new trace points, states,
results) and the page acknowledges each after painting it (that is the "screen" latency).
The trace points and running sway are pulled from the hub when an update is made
(:class:`~dmi_sensors.live.hub.LiveView`), not collected packet by packet.

Access: bound to 127.0.0.1 by default (only this computer), where requests must name a
local host (``Host`` header: no DNS rebinding). Bound to any other address (``--live-host
0.0.0.0`` for a tablet on the clinic network) a random token is required: the printed URL
carries it (``?token=...``); the page keeps it in a same-site, HTTP-only cookie; every
request without it (page, assets, WebSocket) gets 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib.resources
import ipaddress
import json
import logging
import math
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from dmi_sensors.errors import DeviceError, ParameterError
from dmi_sensors.live.hub import LiveHub, LiveView
from dmi_sensors.live.metrics import RepetitionResult
from dmi_sensors.session.events import EventRecord

__all__ = ["ACTIONS", "LiveServer", "LiveServerError"]

log = logging.getLogger(__name__)

#: What the page's buttons ask for (the terminal keys n, r, space, t, q).
ACTIONS = ("next_exercise", "next_repetition", "pause", "note", "stop")
COOKIE = "dmi_live_token"
STATIC = {
    "live.js": "application/javascript",
    "live.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class LiveServerError(DeviceError):
    """The live view could not be served (address in use, not allowed, ...)."""


def is_loopback(host: str) -> bool:
    """True for addresses that only this computer can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _asset(name: str) -> bytes:
    return importlib.resources.files("dmi_sensors.live").joinpath("static", name).read_bytes()


def _clean(v: Any) -> Any:
    """JSON-safe (NaN/inf -> None)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


@dataclass
class _Pending:
    """What accumulated for the next push (the samples' trace and running sway are pulled
    from the hub's :class:`~dmi_sensors.live.hub.LiveView` when it is made)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    status: bool = False

    def empty(self) -> bool:
        return not (self.results or self.tags or self.status)


class LiveServer:
    """Serve the live view of a :class:`LiveHub` (see the module docstring).

    Parameters
    ----------
    hub
        The live session to show.
    host, port
        Where to listen; port 0 picks a free one (see :attr:`url`).
    token
        Required in every request; default: a random one when ``host`` is not a loopback
        address, none otherwise.
    on_action
        ``on_action(action, text)`` for a button (one of :data:`ACTIONS`; ``text`` for a
        note); return value or awaitable ignored. The recorder maps them to its key tagger.
    push_interval_s
        Shortest time between two updates to a page, s.
    title
        Shown in the page header (e.g. the pseudonymous subject id).
    """

    def __init__(
        self,
        hub: LiveHub,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        on_action: Callable[[str, str | None], Awaitable[None] | None] | None = None,
        push_interval_s: float = 0.05,
        title: str = "",
    ) -> None:
        if not 0 <= port < 65536:
            raise ParameterError(f"port must be in 0..65535, got {port}")
        self.hub = hub
        self.host = host
        self.port = port
        self.loopback = is_loopback(host)
        self.token = token if token is not None else (None if self.loopback else secrets.token_urlsafe(24))
        self.on_action = on_action
        self.push_interval_s = float(push_interval_s)
        self.title = title
        self.clients: set[web.WebSocketResponse] = set()
        self.refused = 0
        self._pending = _Pending()
        self._seq = 0
        self._unacked: dict[int, list[float]] = {}
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._unsubscribe: Callable[[], None] | None = None
        self._view: LiveView | None = None
        self.summary: dict[str, Any] | None = None
        self.bound_port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The URL to open (with the token when one is required)."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.bound_port or self.port}/{query}"

    @property
    def local_url(self) -> str:
        """The URL from this computer (loopback; with the token when one is required)."""
        query = f"?token={self.token}" if self.token else ""
        return f"http://127.0.0.1:{self.bound_port or self.port}/{query}"

    async def start(self) -> str:
        """Listen and start pushing; returns :attr:`url`."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/static/{name}", self._static)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise LiveServerError(
                f"live view: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        addresses = self._runner.addresses
        self.bound_port = int(addresses[0][1]) if addresses else self.port
        self.follow_hub()
        self._pusher = asyncio.get_running_loop().create_task(self._push_loop(), name="live view push")
        return self.url

    async def stop(self, summary: dict[str, Any] | None = None) -> None:
        """Send ``summary`` (the recording's) to every page, then close everything."""
        if summary is not None:
            self.summary = _clean(summary)
            await self._push_now()
            await self._broadcast(json.dumps({"type": "stopped", "summary": self.summary}))
        self.unfollow_hub()
        if self._pusher is not None:
            # the flag ends the loop even where Python 3.11's wait_for swallows the cancel
            # (its inner wait finished in the same loop pass: the link states' last update)
            self._closing = True
            self._wake.set()
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def follow_hub(self) -> None:
        """Pull the hub's samples (a :class:`~dmi_sensors.live.hub.LiveView`) and collect its
        results, tags and link states for the pages (:meth:`start` does it)."""
        if self._view is None:
            self._view = self.hub.open_view()
            self._unsubscribe = self.hub.subscribe(self._collect, kinds=("repetition", "tag", "status"))

    def unfollow_hub(self) -> None:
        """Undo :meth:`follow_hub` (:meth:`stop` does it)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._view is not None:
            self._view.close()
            self._view = None

    # -- access ------------------------------------------------------------------------------
    def _allowed(self, request: web.Request) -> bool:
        if self.token is not None:
            given = request.query.get("token") or request.cookies.get(COOKIE) or ""
            return hmac.compare_digest(given.encode(), self.token.encode())
        # loopback without token: the browser must have asked for a local name (DNS rebinding)
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") else "[::1]"
        return host in _LOCAL_HOSTS

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if not self._allowed(request):
            self.refused += 1
            return web.Response(status=403, text="403: this live view needs the link with its token\n")
        response = await handler(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _index(self, request: web.Request) -> web.Response:
        response = web.Response(body=_asset("index.html"), content_type="text/html", charset="utf-8")
        if self.token is not None and request.query.get("token"):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(body=_asset(name), content_type=STATIC[name])

    # -- WebSocket ---------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        """The first message to a page: everything it needs to draw from scratch."""
        return _clean(
            {
                "type": "hello",
                "title": self.title,
                "actions": list(ACTIONS),
                "params": self.hub.params.to_dict(),
                "sensors": self.hub.link_states,
                "placements": self.hub.placements,
                "tagger": self.hub.tag_state(),
                "results": [r.to_dict() for r in self.hub.results],
                "summary": self.summary,
            }
        )

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        # permessage-deflate only for a page on another machine (a tablet on the clinic's
        # Wi-Fi: updates shrink several-fold); a page on this computer gets them
        # uncompressed, which spares the recorder zlib's work on every update
        remote = request.remote or ""
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=64 * 1024, compress=not is_loopback(remote))
        await ws.prepare(request)
        self.clients.add(ws)
        try:
            await ws.send_str(json.dumps(self.hello()))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if data.get("type") == "ack":
                    self._ack(data.get("seq"))
                elif data.get("type") == "action":
                    await self._action(ws, data)
        finally:
            self.clients.discard(ws)
        return ws

    def _ack(self, seq: Any) -> None:
        if isinstance(seq, int):
            arrivals = self._unacked.pop(seq, None)
            if arrivals:
                self.hub.latency.add("screen", arrivals)
            for old in [s for s in self._unacked if s < seq - 100]:
                del self._unacked[old]

    async def _action(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        action = data.get("action")
        text = data.get("text")
        if action not in ACTIONS or (text is not None and not isinstance(text, str)):
            await ws.send_str(json.dumps({"type": "error", "message": f"unknown action {action!r}"}))
            return
        if self.on_action is None:
            await ws.send_str(json.dumps({"type": "error", "message": "tagging is not available"}))
            return
        try:
            result = self.on_action(action, text[:500] if text else None)
            if asyncio.iscoroutine(result):
                await result
        except Exception as exc:
            log.exception("live view action %s failed", action)
            await ws.send_str(json.dumps({"type": "error", "message": f"{action}: {exc}"}))
        self.hub.tagger_changed()
        self._pending.status = True
        self._wake.set()

    # -- pushing -----------------------------------------------------------------------------
    def _collect(self, message: Any) -> None:
        p = self._pending
        if isinstance(message, RepetitionResult):
            p.results.append(message.to_dict())
            self._wake.set()
        elif isinstance(message, EventRecord):
            p.tags.append(message.to_dict())
            self._wake.set()
        elif isinstance(message, dict):
            if "action" in message:
                p.tags.append(message)
            p.status = True
            self._wake.set()

    async def _push_loop(self) -> None:
        """One update every ``push_interval_s`` while there is something new (new results,
        tags and states wake it early, but never sooner than ``push_interval_s`` after the
        previous update), and the timer and link states at least once a second."""
        loop = asyncio.get_running_loop()
        last_push = last_full = -math.inf
        while not self._closing:
            due = last_push + self.push_interval_s
            # asyncio.timeout, not wait_for: no task per wait (20 a second)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, due - loop.time())):
                    await self._wake.wait()
            rest = due - loop.time()
            if rest > 0 and not self._closing:  # woken early: at most one update per push interval
                await asyncio.sleep(rest)
            if self._closing:
                return
            self._wake.clear()
            now = loop.time()
            last_push = now
            full = now - last_full >= 1.0
            if full or not self._pending.empty() or (self._view is not None and self._view.has_trace()):
                if full:
                    last_full = now
                await self._push_now(full)

    async def _push_now(self, full: bool = True) -> None:
        """Send what accumulated; the link states when one changed or ``full`` (once a second)."""
        p, self._pending = self._pending, _Pending()
        view = self._view
        if not self.clients:  # no page: what is new now is never shown
            if view is not None:
                view.skip()
            return
        traces, running, arrivals = view.pull() if view is not None else ({}, {}, [])
        self._seq += 1
        if arrivals:
            self._unacked[self._seq] = arrivals
        update = {
            "type": "update",
            "seq": self._seq,
            "now_s": self.hub.now_s(),
            "sensors": self.hub.link_states if (full or p.status) else {},
            "traces": traces,
            "running": running,
            "results": p.results,
            "tags": p.tags,
            "tagger": self.hub.tag_state(),
        }
        text = json.dumps(update)
        if "NaN" in text or "Infinity" in text:  # a non-finite float somewhere: JSON null instead
            text = json.dumps(_clean(update))
        await self._broadcast(text)

    async def _broadcast(self, text: str) -> None:
        for ws in list(self.clients):
            try:
                async with asyncio.timeout(2.0):  # no task per send, as wait_for makes
                    await ws.send_str(text)
            except (ConnectionError, TimeoutError, RuntimeError):
                self.clients.discard(ws)
