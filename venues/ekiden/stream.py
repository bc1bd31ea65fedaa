"""Ekiden WebSocket client for ``/v1/stream``: subscriptions, the private channel, pings, reconnects.

One socket carries everything::

    → {"type": "subscribe", "channel": "orderbook", "market": "ETH-USD", "depth": "50"}
    ← {"type": "subscribed", "channel": "orderbook", "market": "ETH-USD"}
    ← {"type": "snapshot", "channel": "orderbook", "market": "ETH-USD", "data": {...}}
    ← {"type": "update", "channel": "orderbook", "market": "ETH-USD", "data": {...}}
    → {"type": "subscribe", "channel": "orders", "apiKey": ..., "signature": ..., "timestamp": ...}
    ← {"type": "update", "channel": "orders", "data": {"order": {...}, "fills": [...]}}
    → {"type": "ping"}                      ← {"type": "pong"}
    ← {"type": "error", "error_code": 2001, "error_message": "...", "channel": "orders"}

:class:`EkidenStream` owns the connection. Its reader dispatches ``snapshot``/``update`` frames
through the ``channel → handler`` dict (:attr:`handlers`) and acknowledgements to the request
that waits for them; writes are serialised by a lock; a ``ping`` goes out every
``ping_interval_s`` (the venue closes a socket idle for 60 s) and an unanswered one drops the
socket. When the socket drops it reconnects with exponential backoff, authenticates the private
channel again with a fresh signature and replays every subscription before reporting itself
connected (``on_state(CONNECTED, ...)``).

Handlers are synchronous and must not block: they run on the reader's hot path.

A frame that cannot be read (not JSON, too deep, an unhashable ``channel``, a handler's
:class:`~engine.MalformedMessage`) is dropped and counted in :meth:`EkidenStream.statistics`;
``on_malformed`` gets it (at most ``log_limit`` a window, see :class:`engine.MalformedFrameGuard`)
and the stream goes on. ``resync_after`` malformed frames within ``malformed_window_s`` mark the
venue ``STALE``: the stream drops the socket, reconnects and replays every subscription (each
``orderbook`` subscription brings a fresh snapshot).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket

from engine import AuthFailed, MalformedFrameGuard, MalformedMessage, VenueError, VenueState

from .constants import VENUE, Channel, ErrorCode, WsType
from .parsers import error_of, malformed
from .schemas import loads

__all__ = ["Handler", "PrivateAuth", "StreamStatistics", "WsRequestFailed", "ConnectionLost", "EkidenStream"]

log = logging.getLogger("venues.ekiden.stream")

Handler = Callable[[dict[str, Any], int], None]
"``handler(frame, ts_recv_ns)`` for one channel's ``snapshot``/``update`` frames."

PrivateAuth = Callable[[bool], Awaitable[dict[str, Any]]]
"Builds a fresh private subscription frame; the argument says the previous one was refused as expired."


class ConnectionLost(VenueError):
    """The socket closed (or was never open) while a request waited for its answer."""


class WsRequestFailed(VenueError):
    """The venue answered a subscription with an ``error`` frame."""

    def __init__(self, what: str, code: int, message: str) -> None:
        self.code = code
        self.venue_message = message
        super().__init__(f"{what}: [{code}] {message}", venue=VENUE)


@attrs.frozen(slots=True)
class StreamStatistics:
    """A snapshot of the stream's counters."""

    connected: bool
    connects: int
    "Successful connections (the first one included)."
    messages: int
    "Frames received."
    malformed: int
    "Frames that could not be decoded or handled (dropped)."
    unhandled: int
    "Frames of a type or channel nobody handles."
    errors: int
    "``error`` frames the venue sent outside a pending request."
    subscriptions: tuple[str, ...]
    private: bool
    "True if the private ``orders`` channel is (to be) subscribed."
    malformed_resyncs: int = 0
    "Times the venue was marked stale and resynchronised because of malformed frames."


class _Waiter:
    __slots__ = ("event", "error", "what")

    def __init__(self, what: str) -> None:
        self.event = trio.Event()
        self.error: BaseException | None = None
        self.what = what


class _Dropped(Exception):
    """Internal: the current socket must be abandoned (ping unanswered, replay refused)."""


_CONNECTION_ERRORS = (trio_websocket.ConnectionClosed, trio_websocket.HandshakeError, trio_websocket.ConnectionRejected,
                      OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, _Dropped,
                      ConnectionLost, WsRequestFailed, AuthFailed)


def _key(channel: str, market: str | None) -> tuple[str, str]:
    return channel, market or ""


class EkidenStream:
    """The venue's WebSocket: :meth:`run` keeps it connected; :meth:`subscribe` adds channels."""

    def __init__(
        self,
        url: str,
        *,
        ping_interval_s: float = 20.0,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        private_auth: PrivateAuth | None = None,
        on_state: Callable[[VenueState, str], None] | None = None,
        on_malformed: Callable[[MalformedMessage], None] | None = None,
        resync_after: int = 20,
        malformed_window_s: float = 10.0,
        log_limit: int = 5,
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(f"a WebSocket URL starts with ws:// or wss://, got {url!r}")
        self.url = url
        self.ping_interval_s = ping_interval_s
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.private_auth = private_auth
        "Set before :meth:`run` to subscribe the private ``orders`` channel on every connect."
        self._on_state = on_state or (lambda state, detail: None)
        self._on_malformed = on_malformed or (lambda error: log.warning("%s", error))
        self.handlers: dict[str, Handler] = {}
        "Channel → handler. Register before :meth:`run`; looked up per frame."
        self._subscriptions: dict[tuple[str, str], dict[str, Any]] = {}
        self._waiters: dict[tuple[str, ...], _Waiter] = {}
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._raw_stream: Any = None
        self._write_lock = trio.Lock()
        self._connected = trio.Event()
        self._private_expired = False
        self._connects = 0
        self._messages = 0
        self._guard = MalformedFrameGuard(on_malformed=self._on_malformed, on_stale=self._mark_stale, logger=log,
                                          resync_after=resync_after, window_s=malformed_window_s,
                                          log_limit=log_limit)
        self._stale = trio.Event()
        self._unhandled = 0
        self._errors = 0

    # -- public -----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._ws is not None and self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until the socket is up and every subscription has been replayed."""
        while not self.connected:
            await self._connected.wait()

    def statistics(self) -> StreamStatistics:
        return StreamStatistics(self.connected, self._connects, self._messages, self._guard.dropped, self._unhandled,
                                self._errors, tuple(f"{c}:{m}" for c, m in sorted(self._subscriptions)),
                                self.private_auth is not None, self._guard.resyncs)

    async def subscribe(self, channel: str, market: str, *, depth: int | None = None) -> None:
        """Record a public subscription (replayed after every reconnect) and send it if connected.

        Subscribing again to a subscribed ``orderbook`` makes the venue send a fresh snapshot
        (how a sequence gap is repaired). Raises :class:`WsRequestFailed` if the venue refuses it.
        """
        frame: dict[str, Any] = {"type": WsType.SUBSCRIBE.value, "channel": channel, "market": market}
        if depth is not None:
            frame["depth"] = str(depth)
        self._subscriptions[_key(channel, market)] = frame
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return
        await self._request_on(ws, frame, ("subscribed", channel, market))

    async def unsubscribe(self, channel: str, market: str) -> None:
        """Forget a subscription and tell the venue (if connected)."""
        self._subscriptions.pop(_key(channel, market), None)
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return
        await self._request_on(ws, {"type": WsType.UNSUBSCRIBE.value, "channel": channel, "market": market},
                               ("unsubscribed", channel, market))

    async def ping(self, timeout_s: float | None = None) -> None:
        """Send ``ping`` and wait for ``pong`` (raises ConnectionLost if not connected)."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("ping: not connected", venue=VENUE)
        await self._request_on(ws, {"type": WsType.PING.value}, ("pong",), timeout_s)

    # -- the connection loop ------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the socket connected forever; ``task_status.started()`` after the first connect.

        A private subscription refused with *authentication failed* (2001) on the first connect
        raises :class:`~engine.AuthFailed` (wrong key or secret: reconnecting cannot help).
        """
        backoff = self.reconnect_min_s
        started = False
        while True:
            try:
                async with trio.open_nursery() as nursery:
                    self._stale = trio.Event()
                    self._guard.reset()
                    nursery.start_soon(self._drop_when_stale)
                    ws = await self._open(nursery)
                    self._ws = ws
                    nursery.start_soon(self._reader, ws)
                    await self._replay(ws)
                    self._connects += 1
                    backoff = self.reconnect_min_s
                    self._connected.set()
                    self._on_state(VenueState.CONNECTED, f"websocket connected ({self._connects})")
                    if not started:
                        started = True
                        task_status.started()
                    nursery.start_soon(self._pinger, ws)
                    await trio.sleep_forever()
            except BaseExceptionGroup as group:
                leaves = _leaves(group)
                if not all(isinstance(e, _CONNECTION_ERRORS) for e in leaves):
                    raise
                auth = next((e for e in leaves if isinstance(e, AuthFailed)), None)
                if auth is not None and not started:
                    raise auth from None
                reason = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)[:300]
                log.info("ekiden websocket down (%s); reconnecting in %.1f s", reason, backoff)
            except _CONNECTION_ERRORS as e:  # raised before the nursery had children
                if isinstance(e, AuthFailed) and not started:
                    raise
                log.info("ekiden websocket down (%s: %s); reconnecting in %.1f s", type(e).__name__, e, backoff)
            finally:
                self._drop()
            self._on_state(VenueState.DISCONNECTED, "websocket disconnected; reconnecting")
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.reconnect_max_s)

    async def _open(self, nursery: trio.Nursery) -> trio_websocket.WebSocketConnection:
        parts = urlsplit(self.url)
        tls = parts.scheme == "wss"
        host = parts.hostname or ""
        port = parts.port or (443 if tls else 80)
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with trio.fail_after(self.connect_timeout_s):
            stream: Any
            if tls:
                stream = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=ssl.create_default_context())
            else:
                stream = await trio.open_tcp_stream(host, port)
            # kept so that _drop can close the socket itself: after a server-side close the
            # websocket library may leave it to the garbage collector
            self._raw_stream = stream
            host_header = host if port in (80, 443) else f"{host}:{port}"
            return await trio_websocket.wrap_client_stream(nursery, stream, host_header, resource,
                                                           message_queue_size=64)

    def _drop(self) -> None:
        raw, self._raw_stream = self._raw_stream, None
        if raw is not None:
            sock = _socket_of(raw)
            if sock is not None:
                sock.close()  # abrupt: the nursery that ran the connection has already ended
        self._ws = None
        if self._connected.is_set():
            self._connected = trio.Event()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.error = ConnectionLost(f"{waiter.what}: connection lost before the answer", venue=VENUE)
            waiter.event.set()

    async def _replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        if self.private_auth is not None:
            frame = await self.private_auth(self._private_expired)
            try:
                await self._request_on(ws, frame, ("subscribed", Channel.ORDERS.value, ""))
            except WsRequestFailed as e:
                self._private_expired = e.code == ErrorCode.SIGNATURE_EXPIRED
                if e.code == ErrorCode.AUTHENTICATION_FAILED:
                    raise AuthFailed(f"private stream: [{e.code}] {e.venue_message}", venue=VENUE) from e
                raise _Dropped(f"private subscription refused: {e}") from e
            self._private_expired = False
        for (channel, market), frame in list(self._subscriptions.items()):
            try:
                await self._request_on(ws, frame, ("subscribed", channel, market))
            except WsRequestFailed as e:
                log.warning("ekiden: resubscribe %s %s refused: %s", channel, market, e)
                self._subscriptions.pop((channel, market), None)

    async def _drop_when_stale(self) -> None:
        await self._stale.wait()
        raise _Dropped("too many malformed frames; resynchronising")

    async def _pinger(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            await trio.sleep(self.ping_interval_s)
            try:
                await self._request_on(ws, {"type": WsType.PING.value}, ("pong",), self.request_timeout_s)
            except trio.TooSlowError as e:
                raise _Dropped("ping unanswered") from e

    async def _request_on(self, ws: trio_websocket.WebSocketConnection, frame: dict[str, Any], key: tuple[str, ...],
                          timeout_s: float | None = None) -> None:
        what = f"{frame.get('type')} {frame.get('channel', '')} {frame.get('market', '')}".strip()
        waiter = self._waiters.get(key)
        if waiter is None or waiter.event.is_set():
            waiter = self._waiters[key] = _Waiter(what)
        text = json.dumps(frame, separators=(",", ":"))
        try:
            with trio.fail_after(timeout_s or self.request_timeout_s):
                async with self._write_lock:
                    try:
                        await ws.send_message(text)
                    except trio_websocket.ConnectionClosed as e:
                        raise ConnectionLost(f"{what}: connection closed", venue=VENUE) from e
                await waiter.event.wait()
        finally:
            if self._waiters.get(key) is waiter and waiter.event.is_set():
                del self._waiters[key]
        if waiter.error is not None:
            raise waiter.error

    # -- the reader: the hot path ---------------------------------------------------------------------
    async def _reader(self, ws: trio_websocket.WebSocketConnection) -> None:
        dispatch = self._dispatch
        while True:
            message = await ws.get_message()  # raises ConnectionClosed when the socket ends
            dispatch(message, time.time_ns())

    def _dispatch(self, message: str | bytes, ts_recv: int) -> None:
        """One frame: data to its channel's handler, acknowledgements to the request waiting for them."""
        self._messages += 1
        try:
            frame = loads(message)
        except ValueError as e:
            self._report(malformed("websocket frame", f"not JSON ({e})", str(message)[:300]))
            return
        if type(frame) is not dict:
            self._report(malformed("websocket frame", "not a JSON object", frame))
            return
        kind = frame.get("type")
        if kind == "snapshot" or kind == "update":
            channel = frame.get("channel")
            if type(channel) is not str:
                self._report(malformed("websocket frame", "channel is not a string", frame))
                return
            handler = self.handlers.get(channel)
            if handler is None:
                self._unhandled += 1
                return
            try:
                handler(frame, ts_recv)
            except MalformedMessage as e:
                self._report(e)
        elif kind == "subscribed" or kind == "unsubscribed":
            self._resolve((str(kind), str(frame.get("channel", "")), str(frame.get("market") or "")))
        elif kind == "pong":
            self._resolve(("pong",))
        elif kind == "error":
            self._on_error(frame)
        else:
            self._unhandled += 1

    def _resolve(self, key: tuple[str, ...], error: BaseException | None = None) -> bool:
        waiter = self._waiters.get(key)
        if waiter is None or waiter.event.is_set():
            return False
        waiter.error = error
        waiter.event.set()
        return True

    def _on_error(self, frame: dict[str, Any]) -> None:
        coded = error_of(frame) or (int(ErrorCode.INVALID_REQUEST), str(frame.get("error_message", "")))
        channel = str(frame.get("channel", ""))
        market = str(frame.get("market") or "")
        error = WsRequestFailed(f"{channel} {market}".strip()[:100] or "websocket", coded[0], coded[1][:200])
        if channel and (self._resolve(("subscribed", channel, market), error)
                        or self._resolve(("unsubscribed", channel, market), error)):
            return
        self._errors += 1
        log.warning("ekiden websocket error: %s", error)

    def _report(self, error: MalformedMessage) -> None:
        self._guard.report(error, trio.current_time())

    def _mark_stale(self, detail: str) -> None:
        log.warning("ekiden websocket: %s", detail)
        self._on_state(VenueState.STALE, detail)
        self._stale.set()


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        if isinstance(e, BaseExceptionGroup):
            out.extend(_leaves(e))
        else:
            out.append(e)
    return out


def _socket_of(stream: Any) -> Any:
    inner: Any = stream
    for _ in range(4):
        if inner is None:
            return None
        sock = getattr(inner, "socket", None)
        if sock is not None:
            return sock
        inner = getattr(inner, "transport_stream", None)
    return None
