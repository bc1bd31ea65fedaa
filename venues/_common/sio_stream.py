"""A socket.io (Engine.IO 3) client stream on the kit's :class:`~venues._common.ReconnectingWebSocket`.

The socket is ``ws(s)://<host><path>/?EIO=3&transport=websocket``, framed by the kit's codec
(:mod:`venues._common.socketio`): the server opens with its handshake and the ``/`` namespace's
connect; we ping (``2`` → ``3``) every ``pingInterval``. After each connect :meth:`replay` emits
the venue's registration request (``GET /register``, with an ack) when one is given, for the
private events. Events go to :attr:`SocketIoStream.handlers` by name; :meth:`SocketIoStream.emit`
sends one event (a request over the socket) on the live connection.

A venue subclasses it with its name (``venue``), its JSON codec and its field reader.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio_websocket

from engine import AuthFailed, MalformedMessage

from .fields import FieldReader
from .socketio import ClientProtocol, ProtocolError, engineio_query
from .websocket import CONNECTION_ERRORS, ConnectionLost, ReconnectingWebSocket, Waiter

__all__ = ["Handler", "SocketIoStream", "stream_url"]

Handler = Callable[[Any, int], None]
"``handler(data, ts_recv_ns)`` for one event."


def stream_url(ws_host: str, socket_path: str) -> str:
    """``ws://host<socket_path>/?EIO=3&transport=websocket``."""
    return f"{ws_host.rstrip('/')}{socket_path.rstrip('/')}/?{engineio_query('websocket')}"


class SocketIoStream(ReconnectingWebSocket):
    """One socket: :meth:`run` keeps it connected (registered for private events when
    ``register`` is given: it returns the signed registration request's data)."""

    connection_errors = (*CONNECTION_ERRORS, AuthFailed)

    def __init__(self, url: str, *, fields: FieldReader, dumps: Callable[[Any], str], loads: Callable[[str], Any],
                 register: Callable[[], Awaitable[dict[str, Any]]] | None = None, **options: Any) -> None:
        super().__init__(url, **options)
        self.fields = fields
        self.handlers: dict[str, Handler] = {}
        "Event name → handler."
        self._register = register
        self._dumps = dumps
        self._loads = loads
        self._protocol = ClientProtocol(dumps=dumps, loads=loads)
        self.registered = False

    async def replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Wait for the handshake and the namespace's connect, then register."""
        self._protocol = ClientProtocol(dumps=self._dumps, loads=self._loads)
        self.registered = False
        waiter = self._waiters["connect"] = Waiter("socket.io connect")
        try:
            with trio.fail_after(self.request_timeout_s):
                await waiter.event.wait()
        finally:
            self._waiters.pop("connect", None)
        handshake = self._protocol.handshake
        if handshake is not None:
            self.ping_interval_s = min(self.ping_interval_s, handshake.ping_interval_ms / 1000)
        if self._register is not None:
            data = await self._register()
            frame, ack_id = self._protocol.emit("GET /register", data, ack=True)
            answer = await self._ask(ws, frame, ("ack", ack_id), "GET /register")
            result = answer[0] if isinstance(answer, list) and answer else None
            if isinstance(result, dict) and "error" in result:
                raise AuthFailed(f"GET /register: {result['error']}", venue=self.venue)
            self.registered = True

    async def emit(self, event: str, *args: Any) -> None:
        """Send one event on the live connection (no ack); :class:`ConnectionLost` when there is none."""
        ws = self._ws
        if ws is None or not self.connected:
            raise ConnectionLost(f"{event}: the socket is not connected", venue=self.venue)
        frame, _ = self._protocol.emit(event, *args)
        try:
            await ws.send_message(frame)
        except trio_websocket.ConnectionClosed as e:
            raise ConnectionLost(f"{event}: the socket closed", venue=self.venue) from e

    async def _ask(self, ws: trio_websocket.WebSocketConnection, frame: str, key: Any, what: str) -> Any:
        waiter = self._waiters[key] = Waiter(what)
        try:
            return await self.send_and_wait(ws, frame, waiter)
        finally:
            self._waiters.pop(key, None)

    async def send_ping(self, ws: trio_websocket.WebSocketConnection) -> None:
        """Engine.IO 3: the client pings, the server answers ``3``."""
        await self._ask(ws, self._protocol.ping(), ("pong",), "ping")

    def fatal_error(self, leaves: list[BaseException], started: bool) -> BaseException | None:
        """Refused credentials end the stream: reconnecting cannot cure them."""
        return next((e for e in leaves if isinstance(e, AuthFailed)), None)

    def dispatch(self, message: str | bytes, ts_recv: int) -> None:
        """One frame: the handshake, a pong or an ack to its waiter, an event to its handler."""
        self._messages += 1
        try:
            got = self._protocol.receive(message)
        except ProtocolError as e:
            self.report(self.fields.malformed("socket.io frame", str(e)))
            return
        if got.kind == "connect":
            self._set("connect", None)
        elif got.kind == "pong":
            self._set(("pong",), None)
        elif got.kind == "ack" and got.packet is not None:
            self._set(("ack", got.packet.id), got.packet.args)
        elif got.kind == "event" and got.packet is not None:
            name = got.packet.event_name
            handler = self.handlers.get(name or "")
            if handler is None:
                self._unhandled += 1
                return
            args = got.packet.args
            try:
                handler(args[0] if args else None, ts_recv)
            except MalformedMessage as e:
                self.report(e)
        elif got.kind in ("disconnect", "close", "error"):
            # the server ended the session: reconnect (the kit's stale path drops and reopens)
            self._mark_stale(f"socket.io {got.kind} from the server")

    def _set(self, key: Any, result: Any) -> None:
        waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.result = result
            waiter.event.set()

    def statistics(self) -> dict[str, int]:
        """Frames received, dropped as malformed, unhandled, and connects."""
        return {"messages": self._messages, "unhandled": self._unhandled, "connects": self._connects}
