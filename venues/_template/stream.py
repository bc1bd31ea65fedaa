"""The WebSocket frame codec on the kit's :class:`~venues._common.ReconnectingWebSocket`.

TEMPLATE: the dialect is three methods: ``on_frame`` (one decoded frame, hot path: the kit's
``deliver`` hands data to a handler), ``replay`` (log in and resubscribe after each connect),
``send_ping``. Frames here: ``{"op": "subscribe", "channel",
"market"}`` → ``{"event": "subscribed", "channel", "market"}``; data ``{"channel", "data"}``;
``{"op": "ping"}`` → ``{"event": "pong"}``.
"""

from __future__ import annotations

import json
from typing import Any, Unpack

import trio_websocket

from venues._common.websocket import Handler, ReconnectingWebSocket, StreamOptions, Waiter

from .constants import VENUE

__all__ = ["Handler", "TemplateStream"]


class TemplateStream(ReconnectingWebSocket):
    """The venue's socket: :meth:`run` keeps it connected, :meth:`subscribe` adds channels."""

    venue = VENUE

    def __init__(self, url: str, **options: Unpack[StreamOptions]) -> None:
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

    def on_frame(self, frame: dict[str, Any], ts_recv: int) -> None:
        """One frame: an acknowledgement to its waiter, data to its channel's handler."""
        event = frame.get("event")
        if event is not None:
            key = ("pong",) if event == "pong" else (str(event), str(frame.get("channel")), str(frame.get("market")))
            waiter = self._waiters.get(key)
            if waiter is not None:
                waiter.event.set()
            return
        self.deliver(self.handlers.get(str(frame.get("channel"))), frame.get("data"), ts_recv)
