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
trio-websocket's own reader task, as soon as a frame is decoded (``direct_dispatch``, see
:mod:`venues._common.websocket`).

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
from typing import Any, Unpack

import attrs
import trio
import trio_websocket

from engine import VenueError
from venues._common.websocket import ConnectionLost, Handler, ReconnectingWebSocket, StreamCounters, StreamOptions, Waiter

from .constants import VENUE, WsDestination, WsStatus
from .parsers import malformed

__all__ = ["Handler", "StreamStatistics", "WsRequestFailed", "ConnectionLost", "DzengiStream"]

log = logging.getLogger("venues.dzengi.stream")



class WsRequestFailed(VenueError):
    """The venue answered a WebSocket request with a status other than ``OK``."""

    def __init__(self, destination: str, status: str, payload: Any) -> None:
        self.destination, self.status, self.payload = destination, status, payload
        super().__init__(f"{destination}: {status} {json.dumps(payload, default=str)[:200]}", venue=VENUE)


@attrs.frozen(slots=True)
class StreamStatistics(StreamCounters):
    """A snapshot of the stream's counters (:class:`venues._common.websocket.StreamCounters` first)."""

    pending_requests: int
    subscriptions: tuple[str, ...]


class DzengiStream(ReconnectingWebSocket):
    """The venue's WebSocket: :meth:`run` keeps it connected; :meth:`request`/:meth:`subscribe` use it.

    The connection loop (reconnects, pings, the malformed-frame guard) is
    :class:`venues._common.websocket.ReconnectingWebSocket`; this class is Dzengi's envelope.
    """

    venue = VENUE

    def __init__(self, url: str, **options: Unpack[StreamOptions]) -> None:
        """``options``: :class:`venues._common.websocket.StreamOptions`; frames go straight to the
        handlers on the socket reader's task unless ``direct_dispatch=False``."""
        options.setdefault("direct_dispatch", True)
        options.setdefault("logger", log)
        super().__init__(url, **options)
        self.handlers: dict[str, Handler] = {}
        "Pushed destination → handler. Register before :meth:`run`; looked up per frame."
        self._subscriptions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    # -- public ---------------------------------------------------------------------------------
    def statistics(self) -> StreamStatistics:
        """A frozen snapshot of the stream's counters."""
        return StreamStatistics(*self.counters(), len(self._waiters), tuple(sorted(self._subscriptions)))

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

    # -- the dialect ------------------------------------------------------------------------------
    async def replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Resubscribe every destination (a refused one is logged and kept for the next connect)."""
        for destination, payload in list(self._subscriptions.items()):
            try:
                await self._request_on(ws, destination, payload, None)
            except WsRequestFailed as e:
                log.warning("dzengi: resubscribe %s refused: %s", destination, e)

    async def send_ping(self, ws: trio_websocket.WebSocketConnection) -> None:
        """The application ``ping``; an error answer counts as unanswered."""
        try:
            await self._request_on(ws, WsDestination.PING.value, {}, self.request_timeout_s)
        except WsRequestFailed as e:
            raise trio.TooSlowError(f"ping refused ({e.status})") from e

    async def _request_on(self, ws: trio_websocket.WebSocketConnection, destination: str, payload: dict[str, Any],
                          timeout_s: float | None) -> Any:
        correlation_id = next(self._ids)
        waiter = Waiter(destination)
        self._waiters[correlation_id] = waiter
        frame = json.dumps({"destination": destination, "correlationId": correlation_id, "payload": payload},
                           separators=(",", ":"), default=_json_default)
        try:
            return await self.send_and_wait(ws, frame, waiter, timeout_s)
        finally:
            self._waiters.pop(correlation_id, None)

    # -- the reader: the hot path -----------------------------------------------------------
    def on_frame(self, frame: dict[str, Any], ts_recv: int) -> None:
        """One frame: to the waiter of its correlationId, else to its destination's handler."""
        correlation_id = frame.get("correlationId")
        if correlation_id is not None:
            if type(correlation_id) is not int and type(correlation_id) is not str:
                self.report(malformed("websocket frame", "correlationId is not an integer", frame))
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
                    waiter.error = WsRequestFailed(waiter.what, str(status), frame.get("payload"))
                waiter.event.set()
                return
        destination = frame.get("destination")
        if type(destination) is not str:
            self.report(malformed("websocket frame", "destination is not a string", frame))
            return
        handler = self.handlers.get(destination)
        status = frame.get("status", WsStatus.OK.value)
        if handler is not None and status != WsStatus.OK.value:
            self.report(malformed(f"{destination}", f"pushed with status {status!r}", frame))
            return
        self.deliver(handler, frame.get("payload"), ts_recv)


def _json_default(value: object) -> object:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot send {type(value).__name__} in a WebSocket request")
