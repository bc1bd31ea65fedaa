"""One WebSocket session of a local testnet: the parts every venue's stream shares.

:class:`WsSessionBase` listens to the exchange while the socket is open, runs the dialect's
pusher beside the reader, closes an idle socket, applies the latency and drop faults to every
message it sends, and treats the peer going away (or a drop fault) as the session's normal end.
A dialect supplies :meth:`~WsSessionBase.on_event` (record what changed, then :meth:`wake`),
:meth:`~WsSessionBase.push` (send what was recorded) and :meth:`~WsSessionBase.handle_message`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from backtest.exchange import Exchange, PublicTrade

from .faults import FaultInjector
from .server import WebSocketClosed, WebSocketConnection, dumps_json

__all__ = ["WsSessionBase"]


class WsSessionBase:
    """The shared half of a testnet WebSocket session (see the module docstring)."""

    def __init__(self, exchange: Exchange, faults: FaultInjector, ws: WebSocketConnection,
                 *, idle_timeout_s: float) -> None:
        self.ws = ws
        self._exchange = exchange
        self._faults = faults
        self._idle_timeout_s = idle_timeout_s
        self._dirty_books: set[str] = set()
        "Symbols whose book changed since the last push."
        self._pending_trades: list[PublicTrade] = []
        "Trades to push, in order."
        self._wakeup = trio.Event()

    def on_event(self, event: object) -> None:
        """Exchange listener: runs synchronously inside exchange calls; only records and wakes."""

    def wake(self) -> None:
        """Let the pusher run (after :meth:`on_event` recorded something)."""
        self._wakeup.set()

    async def wait_for_work(self) -> None:
        """Sleep until :meth:`wake`; the next call sleeps again."""
        await self._wakeup.wait()
        self._wakeup = trio.Event()

    async def push(self) -> None:
        """Send what :meth:`on_event` recorded, forever (the dialect's pusher)."""
        await trio.sleep_forever()

    async def handle_message(self, text: str | bytes) -> None:
        """Answer one message from the client."""
        raise NotImplementedError

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one JSON message with the latency fault; a drop fault due after it closes the socket."""
        if self._faults.latency_s:
            self._faults.note_latency()
            await trio.sleep(self._faults.latency_s)
        await self.ws.send_text(dumps_json(message))
        open_for = trio.current_time() - self.ws.opened_at
        if self._faults.ws_drop_due(self.ws.messages_sent, open_for):
            await self.ws.close(1011, "connection dropped")
            raise WebSocketClosed()

    async def run(self) -> None:
        """Serve the socket until the peer goes away, it idles out or a drop fault closes it."""
        remove = self._exchange.add_listener(self.on_event)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.push)
                drop_after = self._faults.settings.ws_drop_after_s
                if drop_after:
                    nursery.start_soon(self._drop_later, drop_after)
                try:
                    await self._reader()
                finally:
                    nursery.cancel_scope.cancel()
        except* WebSocketClosed:
            # the peer went away, or a drop fault closed the socket; the nursery wraps it in an
            # exception group, which a plain `except` would let through to hypercorn ("Error in
            # ASGI Framework")
            pass
        finally:
            remove()

    async def _drop_later(self, delay: float) -> None:
        await trio.sleep(delay)
        self._faults.ws_drop_due(0, delay)
        await self.ws.close(1011, "connection dropped")
        raise WebSocketClosed()

    async def _reader(self) -> None:
        while True:
            with trio.move_on_after(self._idle_timeout_s) as scope:
                text = await self.ws.receive_message()
            if scope.cancelled_caught:
                await self.ws.close(1000, "idle timeout")
                return
            await self.handle_message(text)
