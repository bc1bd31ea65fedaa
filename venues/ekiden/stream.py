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
from collections.abc import Awaitable, Callable
from typing import Any, Unpack

import attrs
import trio_websocket

from engine import AuthFailed, VenueError
from venues._common.websocket import (CONNECTION_ERRORS, ConnectionLost, Dropped, ReconnectingWebSocket, StreamCounters,
                                      StreamOptions, Waiter)

from .constants import VENUE, Channel, ErrorCode, WsType
from .parsers import error_of, malformed

__all__ = ["Handler", "PrivateAuth", "StreamStatistics", "WsRequestFailed", "ConnectionLost", "EkidenStream"]

log = logging.getLogger("venues.ekiden.stream")

Handler = Callable[[dict[str, Any], int], None]
"``handler(frame, ts_recv_ns)`` for one channel's ``snapshot``/``update`` frames."

PrivateAuth = Callable[[bool], Awaitable[dict[str, Any]]]
"Builds a fresh private subscription frame; the argument says the previous one was refused as expired."


class WsRequestFailed(VenueError):
    """The venue answered a subscription with an ``error`` frame."""

    def __init__(self, what: str, code: int, message: str) -> None:
        self.code = code
        self.venue_message = message
        super().__init__(f"{what}: [{code}] {message}", venue=VENUE)


@attrs.frozen(slots=True)
class StreamStatistics(StreamCounters):
    """A snapshot of the stream's counters (:class:`venues._common.websocket.StreamCounters` first)."""

    errors: int
    "``error`` frames the venue sent outside a pending request."
    subscriptions: tuple[str, ...]
    private: bool
    "True if the private ``orders`` channel is (to be) subscribed."


def _key(channel: str, market: str | None) -> tuple[str, str]:
    return channel, market or ""


class EkidenStream(ReconnectingWebSocket):
    """The venue's WebSocket: :meth:`run` keeps it connected; :meth:`subscribe` adds channels.

    The connection loop (reconnects, pings, the malformed-frame guard) is
    :class:`venues._common.websocket.ReconnectingWebSocket`; this class is Ekiden's frames.
    """

    venue = VENUE
    connection_errors = (*CONNECTION_ERRORS, WsRequestFailed, AuthFailed)

    def __init__(self, url: str, *, private_auth: PrivateAuth | None = None, **options: Unpack[StreamOptions]) -> None:
        """``options``: :class:`venues._common.websocket.StreamOptions` (frames queue up to 64 deep)."""
        options.setdefault("message_queue_size", 64)
        options.setdefault("logger", log)
        super().__init__(url, **options)
        self.private_auth = private_auth
        "Set before :meth:`run` to subscribe the private ``orders`` channel on every connect."
        self.handlers: dict[str, Handler] = {}
        "Channel → handler. Register before :meth:`run`; looked up per frame."
        self._subscriptions: dict[tuple[str, str], dict[str, Any]] = {}
        self._private_expired = False
        self._errors = 0

    # -- public -----------------------------------------------------------------------------------
    def statistics(self) -> StreamStatistics:
        """A frozen snapshot of the stream's counters."""
        return StreamStatistics(*self.counters(), self._errors, tuple(f"{c}:{m}" for c, m in sorted(self._subscriptions)),
                                self.private_auth is not None)

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

    # -- the dialect --------------------------------------------------------------------------------
    def fatal_error(self, leaves: list[BaseException], started: bool) -> BaseException | None:
        """A private subscription refused with *authentication failed* (2001) on the first connect
        is :class:`~engine.AuthFailed` (wrong key or secret: reconnecting cannot help)."""
        if started:
            return None
        return next((e for e in leaves if isinstance(e, AuthFailed)), None)

    async def send_ping(self, ws: trio_websocket.WebSocketConnection) -> None:
        """The keep-alive ``ping``; its ``pong`` must come within ``request_timeout_s``."""
        await self._request_on(ws, {"type": WsType.PING.value}, ("pong",), self.request_timeout_s)

    async def replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Authenticate the private channel with a fresh signature, then resubscribe every market."""
        if self.private_auth is not None:
            frame = await self.private_auth(self._private_expired)
            try:
                await self._request_on(ws, frame, ("subscribed", Channel.ORDERS.value, ""))
            except WsRequestFailed as e:
                self._private_expired = e.code == ErrorCode.SIGNATURE_EXPIRED
                if e.code == ErrorCode.AUTHENTICATION_FAILED:
                    raise AuthFailed(f"private stream: [{e.code}] {e.venue_message}", venue=VENUE) from e
                raise Dropped(f"private subscription refused: {e}") from e
            self._private_expired = False
        for (channel, market), frame in list(self._subscriptions.items()):
            try:
                await self._request_on(ws, frame, ("subscribed", channel, market))
            except WsRequestFailed as e:
                log.warning("ekiden: resubscribe %s %s refused: %s", channel, market, e)
                self._subscriptions.pop((channel, market), None)

    async def _request_on(self, ws: trio_websocket.WebSocketConnection, frame: dict[str, Any], key: tuple[str, ...],
                          timeout_s: float | None = None) -> None:
        what = f"{frame.get('type')} {frame.get('channel', '')} {frame.get('market', '')}".strip()
        waiter = self._waiters.get(key)
        if waiter is None or waiter.event.is_set():
            waiter = self._waiters[key] = Waiter(what)
        text = json.dumps(frame, separators=(",", ":"))
        try:
            await self.send_and_wait(ws, text, waiter, timeout_s)
        finally:
            if self._waiters.get(key) is waiter and waiter.event.is_set():
                del self._waiters[key]

    # -- the reader: the hot path ---------------------------------------------------------------------
    def on_frame(self, frame: dict[str, Any], ts_recv: int) -> None:
        """One frame: data to its channel's handler, acknowledgements to the request waiting for them."""
        kind = frame.get("type")
        if kind == "snapshot" or kind == "update":
            channel = frame.get("channel")
            if type(channel) is not str:
                self.report(malformed("websocket frame", "channel is not a string", frame))
                return
            self.deliver(self.handlers.get(channel), frame, ts_recv)
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
