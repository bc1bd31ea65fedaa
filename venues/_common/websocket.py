"""A reconnecting WebSocket client: the connection loop every venue stream shares.

:class:`ReconnectingWebSocket` owns one socket and keeps it up: :meth:`~ReconnectingWebSocket.run`
connects (TLS for ``wss://``), starts the reader, lets the venue replay its subscriptions,
reports ``CONNECTED``, pings every ``ping_interval_s`` and, when the socket drops (an error, an
unanswered ping, too many malformed frames), fails every waiting request with
:class:`ConnectionLost`, reports ``DISCONNECTED`` and reconnects with exponential backoff
(``reconnect_min_s`` doubling up to ``reconnect_max_s``). Writes are serialised by one lock.

A venue plugs in its frame codec, its dialect, by subclassing and defining three methods:

* :meth:`~ReconnectingWebSocket.on_frame` ``(frame, ts_recv_ns)``: one received frame, decoded
  (bounded JSON, a JSON object), on the hot path (synchronous, must not block): route it to a
  handler (:meth:`~ReconnectingWebSocket.deliver`) or a waiting request,
  :meth:`~ReconnectingWebSocket.report` what is malformed;
* :meth:`~ReconnectingWebSocket.replay` ``(ws)``: after each connect, authenticate and resubscribe;
* :meth:`~ReconnectingWebSocket.send_ping` ``(ws)``: one application ping and its answer.

Requests wait on a :class:`Waiter` the subclass registers; :meth:`~ReconnectingWebSocket.send_and_wait`
sends the frame under the write lock and waits for the answer under a deadline. Malformed frames
go through an :class:`engine.MalformedFrameGuard`: counted, logged at a bounded rate, and past
``resync_after`` in a window the venue is marked ``STALE`` and the socket dropped and reopened.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, TypedDict
from urllib.parse import urlsplit

import attrs
import trio
import trio_websocket
from wsproto import ConnectionType, WSConnection
from wsproto.events import TextMessage

from engine import JsonNumber, MalformedFrameGuard, MalformedMessage, VenueError, VenueState, loads_json

from .fields import FieldReader

__all__ = ["ConnectionLost", "Handler", "ReconnectingWebSocket", "StreamCounters", "StreamOptions", "StreamWrapper",
           "Waiter", "socket_of"]

StreamWrapper = Callable[[Any], Any]
"Wraps the raw trio stream of a new connection (e.g. to timestamp reads); returns the stream to use."

Handler = Callable[[Any, int], None]
"``handler(data, ts_recv_ns)``: what a stream hands one frame's data to (see :meth:`ReconnectingWebSocket.deliver`)."


class StreamOptions(TypedDict, total=False):
    """The keyword options of :class:`ReconnectingWebSocket` (a venue stream passes them on)."""

    ping_interval_s: float
    request_timeout_s: float
    connect_timeout_s: float
    reconnect_min_s: float
    reconnect_max_s: float
    stream_wrapper: StreamWrapper | None
    direct_dispatch: bool
    message_queue_size: int
    on_state: Callable[[VenueState, str], None] | None
    on_malformed: Callable[[MalformedMessage], None] | None
    resync_after: int
    malformed_window_s: float
    log_limit: int
    logger: logging.Logger | None


@attrs.frozen(slots=True)
class StreamCounters:
    """The counters every stream has; a venue's ``StreamStatistics`` adds its own after them."""

    connected: bool
    connects: int
    "Successful connections (the first one included)."
    messages: int
    "Frames received."
    malformed: int
    "Frames that could not be decoded or handled (dropped)."
    unhandled: int
    "Frames nobody handles."
    malformed_resyncs: int
    "Times the venue was marked stale and resynchronised because of malformed frames."


class ConnectionLost(VenueError):
    """The socket closed (or was never open) while a request waited for its answer."""


class Waiter:
    """One request waiting for its answer: set ``result`` or ``error``, then ``event``."""

    __slots__ = ("event", "result", "error", "what")

    def __init__(self, what: str) -> None:
        self.event = trio.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.what = what
        "What was asked, as error messages name it."


class Dropped(Exception):
    """The current socket must be abandoned (ping unanswered, replay refused, stale); reconnect."""


CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    trio_websocket.ConnectionClosed, trio_websocket.HandshakeError, trio_websocket.ConnectionRejected, OSError,
    trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, Dropped, ConnectionLost)
"Errors that end one connection and lead to a reconnect (anything else ends :meth:`run`)."


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
DIRECT_DISPATCH_AVAILABLE = all(hasattr(trio_websocket.WebSocketConnection, name)
                                for name in ("_handle_message_event", "_reader_task"))


async def _connect_direct(nursery: trio.Nursery, stream: Any, host: str, resource: str,
                          on_text: Callable[[str, int], None]) -> trio_websocket.WebSocketConnection:
    connection = _DirectConnection(stream, WSConnection(ConnectionType.CLIENT), host=host, path=resource)
    connection.on_text = on_text
    nursery.start_soon(connection._reader_task)
    await connection._open_handshake.wait()
    return connection


class ReconnectingWebSocket:
    """Keeps one venue WebSocket connected; a subclass supplies the venue's frame codec (see module doc)."""

    venue: str = "venue"
    "The venue's name, in errors and log lines."
    connection_errors: tuple[type[BaseException], ...] = CONNECTION_ERRORS
    "Errors that lead to a reconnect; a subclass may add its own."

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
        direct_dispatch: bool = False,
        message_queue_size: int = 1,
        on_state: Callable[[VenueState, str], None] | None = None,
        on_malformed: Callable[[MalformedMessage], None] | None = None,
        resync_after: int = 20,
        malformed_window_s: float = 10.0,
        log_limit: int = 5,
        logger: logging.Logger | None = None,
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
        self._message_queue_size = message_queue_size
        self.log = logger or logging.getLogger(f"venues.{self.venue}.stream")
        self._on_state = on_state or (lambda state, detail: None)
        self._on_malformed = on_malformed or (lambda error: self.log.warning("%s", error))
        self._waiters: dict[Any, Waiter] = {}
        self._ws: trio_websocket.WebSocketConnection | None = None
        self._raw_stream: Any = None
        self._write_lock = trio.Lock()
        self._connected = trio.Event()
        self._connects = 0
        self._messages = 0
        self._unhandled = 0
        self._guard = MalformedFrameGuard(on_malformed=self._on_malformed, on_stale=self._mark_stale,
                                          logger=self.log, resync_after=resync_after, window_s=malformed_window_s,
                                          log_limit=log_limit)
        self._stale = trio.Event()
        self.fields = FieldReader(self.venue)
        "The venue's field reader, for frames' errors."

    # -- the dialect: a subclass defines these ----------------------------------------------------
    def on_frame(self, frame: dict[str, Any], ts_recv: int) -> None:
        """One received JSON object frame (hot path, synchronous): route it, :meth:`report` what is malformed."""
        raise NotImplementedError

    def dispatch(self, message: str | bytes, ts_recv: int) -> None:
        """One received frame (hot path, synchronous): :meth:`decode_object`, then :meth:`on_frame`.

        A venue whose frames are not JSON objects overrides this instead (and counts ``_messages``).
        """
        frame = self.decode_object(message)
        if frame is not None:
            self.on_frame(frame, ts_recv)

    async def replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        """After each connect: authenticate and resubscribe (raise :class:`Dropped` to reconnect)."""
        raise NotImplementedError

    async def send_ping(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Send one application ping and wait for its answer (``trio.TooSlowError`` if none)."""
        raise NotImplementedError

    def fatal_error(self, leaves: list[BaseException], started: bool) -> BaseException | None:
        """An error among ``leaves`` that reconnecting cannot cure (e.g. bad credentials), else None."""
        return None

    # -- public -----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while the socket is up and every subscription has been replayed."""
        return self._ws is not None and self._connected.is_set()

    async def wait_connected(self) -> None:
        """Wait until the socket is up and every subscription has been replayed."""
        while not self.connected:
            await self._connected.wait()

    # -- the connection loop ------------------------------------------------------------------------
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
                    # also with direct dispatch: fragmented and binary messages take the stock path
                    nursery.start_soon(self._reader, ws)
                    await self.replay(ws)
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
                if not all(isinstance(e, self.connection_errors) for e in leaves):
                    raise
                fatal = self.fatal_error(leaves, started)
                if fatal is not None:
                    raise fatal from None
                reason = "; ".join(f"{type(e).__name__}: {e}" for e in leaves)[:300]
                self.log.info("%s websocket down (%s); reconnecting in %.1f s", self.venue, reason, backoff)
            finally:
                self._drop()
            self._on_state(VenueState.DISCONNECTED, "websocket disconnected; reconnecting")
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.reconnect_max_s)

    async def _open(self, nursery: trio.Nursery) -> trio_websocket.WebSocketConnection:
        with trio.fail_after(self.connect_timeout_s):
            stream: Any
            if self._tls:
                stream = await trio.open_ssl_over_tcp_stream(self._host, self._port,
                                                             ssl_context=ssl.create_default_context())
            else:
                stream = await trio.open_tcp_stream(self._host, self._port)
            # kept so that _drop can close the socket itself: after a server-side close the
            # websocket library may leave it to the garbage collector
            self._raw_stream = stream
            if self._wrapper is not None:
                stream = self._wrapper(stream)
            host = self._host if self._port in (80, 443) else f"{self._host}:{self._port}"
            if self.direct_dispatch and DIRECT_DISPATCH_AVAILABLE:
                return await _connect_direct(nursery, stream, host, self._resource, self.dispatch)
            return await trio_websocket.wrap_client_stream(nursery, stream, host, self._resource,
                                                           message_queue_size=self._message_queue_size)

    def _drop(self) -> None:
        raw, self._raw_stream = self._raw_stream, None
        if raw is not None:
            sock = socket_of(raw)
            if sock is not None:
                sock.close()  # abrupt: the nursery that ran the connection has already ended
        self._ws = None
        if self._connected.is_set():
            self._connected = trio.Event()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.error = ConnectionLost(f"{waiter.what}: connection lost before the answer", venue=self.venue)
            waiter.event.set()

    async def _drop_when_stale(self) -> None:
        await self._stale.wait()
        raise Dropped("too many malformed frames; resynchronising")

    async def _pinger(self, ws: trio_websocket.WebSocketConnection) -> None:
        while True:
            await trio.sleep(self.ping_interval_s)
            try:
                await self.send_ping(ws)
            except trio.TooSlowError as e:
                raise Dropped("ping unanswered") from e
            except ConnectionLost as e:
                raise Dropped("connection lost") from e

    async def send_and_wait(self, ws: trio_websocket.WebSocketConnection, text: str, waiter: Waiter,
                            timeout_s: float | None = None) -> Any:
        """Send ``text`` under the write lock and wait for ``waiter``'s answer; its result or its error.

        Raises :class:`ConnectionLost` if the socket is closed, ``trio.TooSlowError`` after
        ``timeout_s`` (default ``request_timeout_s``). The caller registers and removes the waiter.
        """
        with trio.fail_after(timeout_s or self.request_timeout_s):
            async with self._write_lock:
                try:
                    await ws.send_message(text)
                except trio_websocket.ConnectionClosed as e:
                    raise ConnectionLost(f"{waiter.what}: connection closed", venue=self.venue) from e
            await waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    # -- the reader: the hot path ---------------------------------------------------------------------
    async def _reader(self, ws: trio_websocket.WebSocketConnection) -> None:
        dispatch = self.dispatch
        while True:
            message = await ws.get_message()  # raises ConnectionClosed when the socket ends
            dispatch(message, time.time_ns())

    def decode_object(self, message: str | bytes) -> dict[str, Any] | None:
        """Count one received frame and decode it: bounded JSON, exact numbers (:func:`engine.loads_json`,
        non-integers as :class:`engine.JsonNumber`). None, and the frame reported, unless a JSON object."""
        self._messages += 1
        try:
            frame = loads_json(message, parse_float=JsonNumber)
        except ValueError as e:
            self.report(self.fields.malformed("websocket frame", f"not JSON ({e})", str(message)[:300]))
            return None
        if type(frame) is not dict:
            self.report(self.fields.malformed("websocket frame", "not a JSON object", frame))
            return None
        return frame

    def deliver(self, handler: Handler | None, data: Any, ts_recv: int) -> None:
        """Hand one frame's ``data`` to ``handler``: none is an unhandled frame, a
        :class:`~engine.MalformedMessage` it raises is reported (the stream goes on)."""
        if handler is None:
            self._unhandled += 1
            return
        try:
            handler(data, ts_recv)
        except MalformedMessage as e:
            self.report(e)

    def counters(self) -> tuple[bool, int, int, int, int, int]:
        """The :class:`StreamCounters` fields, in order (a venue's statistics start with them)."""
        return self.connected, self._connects, self._messages, self._guard.dropped, self._unhandled, self._guard.resyncs

    def report(self, error: MalformedMessage) -> None:
        """Count and (rate-limited) log one malformed frame; too many in a window mark the venue stale."""
        self._guard.report(error, trio.current_time())

    def _mark_stale(self, detail: str) -> None:
        self.log.warning("%s websocket: %s", self.venue, detail)
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


def socket_of(stream: Any) -> Any:
    """The OS socket under a trio stream (through TLS and wrapper layers), or None."""
    inner: Any = stream
    for _ in range(4):
        if inner is None:
            return None
        sock = getattr(inner, "socket", None)
        if sock is not None:
            return sock
        inner = getattr(inner, "transport_stream", None) or getattr(inner, "inner", None)
    return None
