"""Dzengi WebSocket client for ``/connect``: envelope, request/response, pings, subscriptions.

One socket carries everything, in the venue's envelope::

    → {"destination": "trades.subscribe", "correlationId": 7, "payload": {"symbols": ["BTC/USD"]}}
    ← {"status": "OK", "destination": "trades.subscribe", "correlationId": 7, "payload": {...}}
    ← {"status": "OK", "destination": "internal.trade", "payload": {...}}        (pushed, no id)

:class:`DzengiStream` owns the connection. Its reader dispatches each frame either to the waiter
of its ``correlationId`` or through the ``destination → handler`` dict (:attr:`handlers`);
writes are serialised by a lock; an application ``ping`` goes out every ``ping_interval_s``
(the venue closes a socket idle for 30 s). When the socket drops it reconnects with exponential
backoff and replays every subscription before reporting itself connected again.

Handlers are synchronous and must not block: they run on the reader's hot path — by default on
trio-websocket's own reader task, as soon as a frame is decoded (see :class:`_DirectConnection`).

A frame that cannot be read (not JSON, too deep, an unhashable ``correlationId``, a handler's
:class:`~engine.MalformedMessage`) is dropped and counted in :meth:`DzengiStream.statistics`;
``on_malformed`` gets it (at most ``log_limit`` a window, see :class:`engine.MalformedFrameGuard`)
and the stream goes on. ``resync_after`` malformed frames within ``malformed_window_s`` mark the
venue ``STALE``: the stream drops the socket, reconnects and replays every subscription (the
gateway re-snapshots its books on the ``CONNECTED`` that follows).
"""

from __future__ import annotations

import itertools
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import TextMessage

from engine import MalformedFrameGuard, MalformedMessage, VenueError, VenueState

from .constants import VENUE, WsDestination, WsStatus
from .parsers import malformed
from .rest import StreamWrapper
from .schemas import loads

__all__ = ["Handler", "StreamStatistics", "WsRequestFailed", "ConnectionLost", "DzengiStream"]

log = logging.getLogger("venues.dzengi.stream")

Handler = Callable[[Any, int], None]
"``handler(payload, ts_recv_ns)`` for one pushed destination."


class ConnectionLost(VenueError):
    """The socket closed (or was never open) while a request waited for its answer."""


class WsRequestFailed(VenueError):
    """The venue answered a WebSocket request with a status other than ``OK``."""

    def __init__(self, destination: str, status: str, payload: Any) -> None:
        self.destination = destination
        self.status = status
        self.payload = payload
        super().__init__(f"{destination}: {status} {json.dumps(payload, default=str)[:200]}", venue=VENUE)


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
    "Pushed frames with a destination nobody handles."
    pending_requests: int
    subscriptions: tuple[str, ...]
    malformed_resyncs: int = 0
    "Times the venue was marked stale and resynchronised because of malformed frames."


class _Waiter:
    __slots__ = ("event", "result", "error", "destination")

    def __init__(self, destination: str) -> None:
        self.event = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.destination = destination


class _Dropped(Exception):
    """Internal: the current socket must be abandoned (ping unanswered, reader ended)."""


class _DirectConnection(trio_websocket.WebSocketConnection):
    """A client connection that hands each complete single-frame text message straight to
    ``on_text`` on trio-websocket's own reader task.

    The stock path puts the message in a memory channel and wakes a second task, which runs only
    after the reader went back to the socket: a scheduler round and a syscall on every frame of
    the hot path. Fragmented, binary and oversized messages take the stock path unchanged.
    """

    on_text: Callable[[str, int], None] | None = None

    async def _handle_message_event(self, event: Any) -> None:
        on_text = self.on_text
        if (on_text is not None and type(event) is TextMessage and event.message_finished
                and not self._message_parts and len(event.data) <= self._max_message_size):
            on_text(event.data, time.time_ns())
            return
        await super()._handle_message_event(event)


# the direct path relies on trio-websocket internals that have been stable since 0.9; without
# them the stream uses the public API (wrap_client_stream + get_message) and still works
_DIRECT_OK = all(hasattr(trio_websocket.WebSocketConnection, name)
                 for name in ("_handle_message_event", "_reader_task"))


async def _connect_direct(nursery: trio.Nursery, stream: Any, host: str, resource: str,
                          on_text: Callable[[str, int], None]) -> trio_websocket.WebSocketConnection:
    connection = _DirectConnection(stream, WSConnection(ConnectionType.CLIENT), host=host, path=resource)
    connection.on_text = on_text
    nursery.start_soon(connection._reader_task)
    await connection._open_handshake.wait()
    return connection


_CONNECTION_ERRORS = (trio_websocket.ConnectionClosed, trio_websocket.HandshakeError, OSError,
                      trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, _Dropped)


class DzengiStream:
    """The venue's WebSocket: :meth:`run` keeps it connected; :meth:`request`/:meth:`subscribe` use it."""

    def __init__(
        self,
        url: str,
        *,
        ping_interval_s: float = 20.0,
        request_timeout_s: float = 10.0,
        connect_timeout_s: float = 10.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        stream_wrapper: StreamWrapper | None = None,
        on_state: Callable[[VenueState, str], None] | None = None,
        on_malformed: Callable[[MalformedMessage], None] | None = None,
        direct_dispatch: bool = True,
        resync_after: int = 20,
        malformed_window_s: float = 10.0,
        log_limit: int = 5,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"a WebSocket URL starts with ws:// or wss://, got {url!r}")
        self.url = url
        self._tls = parts.scheme == "wss"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        self._resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.ping_interval_s = ping_interval_s
        self.request_timeout_s = request_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self._wrapper = stream_wrapper
        self.direct_dispatch = direct_dispatch
        "Handle frames on the socket reader's task (no channel hop); False: the public get_message path."
        self._on_state = on_state or (lambda state, detail: None)
        self._on_malformed = on_malformed or (lambda error: log.warning("%s", error))
        self.handlers: dict[str, Handler] = {}
        "Pushed destination → handler. Register before :meth:`run`; looked up per frame."
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._waiters: dict[int | str, _Waiter] = {}
        self._ids = itertools.count(1)
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._raw_stream: Any = None
        self._write_lock = trio.Lock()
        self._connected = trio.Event()
        self._connects = 0
        self._messages = 0
        self._unhandled = 0
        self._guard = MalformedFrameGuard(on_malformed=self._on_malformed, on_stale=self._mark_stale, logger=log,
                                          resync_after=resync_after, window_s=malformed_window_s,
                                          log_limit=log_limit)
        self._stale = trio.Event()

    # -- public ---------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._ws is not None and self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until the socket is up and every subscription has been replayed."""
        while not self.connected:
            await self._connected.wait()

    def statistics(self) -> StreamStatistics:
        return StreamStatistics(self.connected, self._connects, self._messages, self._guard.dropped, self._unhandled,
                                len(self._waiters), tuple(sorted(self._subscriptions)), self._guard.resyncs)

    async def request(self, destination: str, payload: dict[str, Any], *, timeout_s: float | None = None) -> Any:
        """Send one request and return the answer's payload.

        Raises :class:`WsRequestFailed` if the venue answers with an error status,
        :class:`ConnectionLost` if the socket is down or drops before the answer, and
        ``trio.TooSlowError`` after ``timeout_s``.
        """
        ws = self._ws
        if ws is None:
            raise ConnectionLost(f"{destination}: not connected", venue=VENUE)
        return await self._request_on(ws, destination, payload, timeout_s)

    async def subscribe(self, destination: str, payload: dict[str, Any]) -> Any:
        """Record a subscription (replayed after every reconnect) and send it if connected.

        Returns the venue's acknowledgement payload, or None if not connected right now (the
        subscription goes out when the socket is up). The latest payload per destination wins, so
        callers send the full set (e.g. all symbols) each time.
        """
        self._subscriptions[destination] = payload
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return None
        return await self._request_on(ws, destination, payload, None)

    # -- the connection loop ------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the socket connected forever; ``task_status.started()`` after the first connect."""
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
                    self._connects += 1
                    backoff = self.reconnect_min_s
                    nursery.start_soon(self._reader, ws)
                    await self._replay(ws)
                    self._connected.set()
                    self._on_state(VenueState.CONNECTED, f"websocket connected ({self._connects})")
                    if not started:
                        started = True
                        task_status.started()
                    nursery.start_soon(self._pinger, ws)
                    await trio.sleep_forever()
            except* _CONNECTION_ERRORS as group:
                reason = "; ".join(f"{type(e).__name__}: {e}" for e in _leaves(group))[:300]
                log.info("dzengi websocket down (%s); reconnecting in %.1f s", reason, backoff)
            finally:
                self._drop()
            self._on_state(VenueState.DISCONNECTED, "websocket disconnected; reconnecting")
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.reconnect_max_s)

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if self._connected.is_set():
            self._connected = trio.Event()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.error = ConnectionLost(f"{waiter.destination}: connection lost before the answer", venue=VENUE)
            waiter.event.set()
        raw, self._raw_stream = self._raw_stream, None
        if ws is not None and raw is not None:
            sock = _socket_of(raw)
            if sock is not None:
                sock.close()  # abrupt: the nursery that ran the connection has already ended

    async def _open(self, nursery: trio.Nursery) -> trio_websocket.WebSocketConnection:
        with trio.fail_after(self.connect_timeout_s):
            stream: Any
            if self._tls:
                stream = await trio.open_ssl_over_tcp_stream(self._host, self._port,
                                                             ssl_context=ssl.create_default_context())
            else:
                stream = await trio.open_tcp_stream(self._host, self._port)
            self._raw_stream = stream
            if self._wrapper is not None:
                stream = self._wrapper(stream)
            host = self._host if self._port in (80, 443) else f"{self._host}:{self._port}"
            if self.direct_dispatch and _DIRECT_OK:
                return await _connect_direct(nursery, stream, host, self._resource, self._dispatch)
            return await trio_websocket.wrap_client_stream(nursery, stream, host, self._resource)

    async def _replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        for destination, payload in list(self._subscriptions.items()):
            try:
                await self._request_on(ws, destination, payload, None)
            except WsRequestFailed as e:
                log.warning("dzengi: resubscribe %s refused: %s", destination, e)

    async def _drop_when_stale(self) -> None:
        await self._stale.wait()
        raise _Dropped("too many malformed frames; resynchronising")

    async def _pinger(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            await trio.sleep(self.ping_interval_s)
            try:
                await self._request_on(ws, WsDestination.PING.value, {}, self.request_timeout_s)
            except (trio.TooSlowError, WsRequestFailed) as e:
                raise _Dropped(f"ping unanswered ({type(e).__name__})") from e
            except ConnectionLost as e:
                raise _Dropped("connection lost") from e

    async def _request_on(self, ws: trio_websocket.WebSocketConnection, destination: str, payload: dict[str, Any],
                          timeout_s: float | None) -> Any:
        correlation_id = next(self._ids)
        waiter = _Waiter(destination)
        self._waiters[correlation_id] = waiter
        frame = json.dumps({"destination": destination, "correlationId": correlation_id, "payload": payload},
                           separators=(",", ":"), default=_json_default)
        try:
            with trio.fail_after(timeout_s or self.request_timeout_s):
                async with self._write_lock:
                    try:
                        await ws.send_message(frame)
                    except trio_websocket.ConnectionClosed as e:
                        raise ConnectionLost(f"{destination}: connection closed", venue=VENUE) from e
                await waiter.event.wait()
        finally:
            self._waiters.pop(correlation_id, None)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    # -- the reader: the hot path -----------------------------------------------------------
    async def _reader(self, ws: trio_websocket.WebSocketConnection) -> None:
        dispatch = self._dispatch
        while True:
            message = await ws.get_message()  # raises ConnectionClosed when the socket ends
            dispatch(message, time.time_ns())

    def _dispatch(self, message: str | bytes, ts_recv: int) -> None:
        """One frame: to the waiter of its correlationId, else to its destination's handler."""
        self._messages += 1
        try:
            frame = loads(message)
        except ValueError as e:
            self._report(malformed("websocket frame", f"not JSON ({e})", str(message)[:300]))
            return
        if type(frame) is not dict:
            self._report(malformed("websocket frame", "not a JSON object", frame))
            return
        correlation_id = frame.get("correlationId")
        if correlation_id is not None:
            if type(correlation_id) is not int and type(correlation_id) is not str:
                self._report(malformed("websocket frame", "correlationId is not an integer", frame))
                return
            waiter = self._waiters.get(correlation_id)
            if waiter is None and type(correlation_id) is str and correlation_id.isascii() \
                    and correlation_id.isdigit() and len(correlation_id) <= 20:
                waiter = self._waiters.get(int(correlation_id))
            if waiter is not None:
                status = frame.get("status", WsStatus.OK.value)
                if status == WsStatus.OK.value:
                    waiter.result = frame.get("payload")
                else:
                    waiter.error = WsRequestFailed(waiter.destination, str(status), frame.get("payload"))
                waiter.event.set()
                return
        destination = frame.get("destination")
        if type(destination) is not str:
            self._report(malformed("websocket frame", "destination is not a string", frame))
            return
        handler = self.handlers.get(destination)
        if handler is None:
            self._unhandled += 1
            return
        status = frame.get("status", WsStatus.OK.value)
        if status != WsStatus.OK.value:
            self._report(malformed(f"{destination}", f"pushed with status {status!r}", frame))
            return
        try:
            handler(frame.get("payload"), ts_recv)
        except MalformedMessage as e:
            self._report(e)

    def _report(self, error: MalformedMessage) -> None:
        self._guard.report(error, trio.current_time())

    def _mark_stale(self, detail: str) -> None:
        log.warning("dzengi websocket: %s", detail)
        self._on_state(VenueState.STALE, detail)
        self._stale.set()


def _json_default(value: object) -> object:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot send {type(value).__name__} in a WebSocket request")


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
        inner = getattr(inner, "transport_stream", None) or getattr(inner, "inner", None)
    return None
