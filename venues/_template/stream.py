"""The WebSocket frame codec on the kit's :class:`~venues._common.ReconnectingWebSocket`.

TEMPLATE: the dialect is three methods: ``dispatch`` (one frame, hot path), ``replay`` (log in
and resubscribe after each connect), ``send_ping``. Frames here: ``{"op": "subscribe", "channel",
"market"}`` → ``{"event": "subscribed", "channel", "market"}``; data ``{"channel", "data"}``;
``{"op": "ping"}`` → ``{"event": "pong"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio_websocket

from engine import MalformedMessage
from venues._common.websocket import ReconnectingWebSocket, Waiter

from .constants import VENUE
from .parsers import F
from .schemas import loads

__all__ = ["Handler", "TemplateStream"]

Handler = Callable[[Any, int], None]
"``handler(data, ts_recv_ns)`` for one channel."


class TemplateStream(ReconnectingWebSocket):
    """The venue's socket: :meth:`run` keeps it connected, :meth:`subscribe` adds channels."""

    venue = VENUE

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.handlers: dict[str, Handler] = {}
        "Channel → handler."
        self._subscriptions: dict[tuple[str, str], str] = {}

    async def subscribe(self, channel: str, market: str) -> None:
        """Record a subscription (replayed after every reconnect) and send it if connected."""
        frame = json.dumps({"op": "subscribe", "channel": channel, "market": market})
        self._subscriptions[(channel, market)] = frame
        if self._ws is not None and self._connected.is_set():
            await self._ask(self._ws, frame, ("subscribed", channel, market))

    async def _ask(self, ws: trio_websocket.WebSocketConnection, text: str, key: tuple[str, ...]) -> Any:
        waiter = self._waiters[key] = Waiter(" ".join(key))
        try:
            return await self.send_and_wait(ws, text, waiter)
        finally:
            self._waiters.pop(key, None)

    async def replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Resubscribe every channel (TEMPLATE: log in first on a private channel)."""
        for (channel, market), frame in list(self._subscriptions.items()):
            await self._ask(ws, frame, ("subscribed", channel, market))

    async def send_ping(self, ws: trio_websocket.WebSocketConnection) -> None:
        """``ping`` → ``pong`` within ``request_timeout_s``."""
        await self._ask(ws, '{"op":"ping"}', ("pong",))

    def dispatch(self, message: str | bytes, ts_recv: int) -> None:
        """One frame: an acknowledgement to its waiter, data to its channel's handler."""
        self._messages += 1
        try:
            frame = F.as_object(loads(message), "websocket frame")
        except ValueError as e:
            self.report(F.malformed("websocket frame", f"not JSON ({e})"))
            return
        except MalformedMessage as e:
            self.report(e)
            return
        event = frame.get("event")
        if event is not None:
            key = ("pong",) if event == "pong" else (str(event), str(frame.get("channel")), str(frame.get("market")))
            waiter = self._waiters.get(key)
            if waiter is not None:
                waiter.event.set()
            return
        handler = self.handlers.get(frame.get("channel"))  # type: ignore[arg-type]
        if handler is None:
            self._unhandled += 1
            return
        handler(frame.get("data"), ts_recv)
