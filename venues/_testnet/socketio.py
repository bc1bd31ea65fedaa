"""A Socket.IO 2 / Engine.IO 3 server for the local testnets, on the kit's raw ASGI app.

:class:`SocketIoServer` serves one socket.io path (``/futures/socket.io/``, say): the
long-polling handshake (``GET ?EIO=3&transport=polling`` → the ``open`` packet and the ``/``
namespace's connect), polls and posts, the upgrade of a polling session to a websocket
(``2probe``/``3probe``/``5``), websocket-only sessions, the client's pings answered, a session
that stopped pinging closed after ``pingInterval + pingTimeout``, events dispatched to the
dialect and their acks sent back, and :meth:`SioConnection.emit` for pushes. The framing is
:mod:`venues._common.socketio`, the client's own codec.

A dialect routes the path's HTTP requests to :meth:`SocketIoServer.handle_http` and its
websockets to :meth:`SocketIoServer.handle_websocket`, and supplies a :class:`SioHandler`.
The kit's latency and drop faults apply to every websocket frame sent.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs

import trio

from venues._common.socketio import (
    EioPacket,
    EioType,
    Handshake,
    ProtocolError,
    SioPacket,
    SioType,
    decode_packet,
    decode_payload,
    decode_sio,
    encode_packet,
    encode_payload,
    message_of,
)

from .faults import FaultInjector
from .server import HttpRequest, HttpResponse, WebSocketClosed, WebSocketConnection

__all__ = ["SioConnection", "SioHandler", "SocketIoServer"]

MAX_OUTBOX = 10_000
"Packets queued for a session that does not read; past this the session is closed."

_ERRORS = {0: "Transport unknown", 1: "Session ID unknown", 2: "Bad handshake method", 3: "Bad request"}


def _error(code: int) -> HttpResponse:
    return HttpResponse.json(400, {"code": code, "message": _ERRORS[code]})


class SioHandler(Protocol):
    """What a dialect does with its socket.io connections."""

    def on_connect(self, conn: SioConnection) -> None:
        """A client joined the ``/`` namespace."""

    async def on_event(self, conn: SioConnection, event: str, args: list[Any]) -> list[Any] | None:
        """One event from the client; a list is sent back as the ack (when the client asked for one)."""

    def on_disconnect(self, conn: SioConnection) -> None:
        """The session ended (closed, timed out, dropped)."""


class SioConnection:
    """One Engine.IO session: its outbox, its transport, the dialect's state in :attr:`data`."""

    def __init__(self, server: SocketIoServer, sid: str, client_host: str) -> None:
        self.server = server
        self.sid = sid
        self.client_host = client_host
        self.transport = "polling"
        self.data: dict[str, Any] = {}
        "The dialect's per-connection state (a registered account, say)."
        self.closed = False
        self.last_seen = trio.current_time()
        self.packets_sent = 0
        self._outbox: list[EioPacket] = []
        self._ready = trio.Event()
        self._polling = False
        self._upgrading = False
        self._ws: WebSocketConnection | None = None

    def wake(self) -> None:
        """Let the writer run the server's ``flush`` hook (the dialect recorded something to send)."""
        self._ready.set()

    def emit(self, event: str, *args: Any) -> None:
        """Queue one event for the client (never blocks; a client that does not read is closed)."""
        self.send_packet(message_of(SioPacket.event(event, *args), self.server.dumps))

    def send_packet(self, packet: EioPacket) -> None:
        """Queue one Engine.IO packet."""
        if self.closed:
            return
        if len(self._outbox) >= MAX_OUTBOX:
            self.server.close(self)
            return
        self._outbox.append(packet)
        self._ready.set()

    def take(self) -> list[EioPacket]:
        """Everything queued (after the server's ``flush`` hook), emptying the outbox."""
        if self.server.flush is not None and not self.closed:
            self.server.flush(self)
        packets, self._outbox = self._outbox, []
        self._ready = trio.Event()
        return packets

    async def wait_ready(self) -> None:
        """Wait until something is queued (or the session closes)."""
        if not self._outbox and not self.closed:
            await self._ready.wait()


class SocketIoServer:
    """The Engine.IO 3 / Socket.IO 2 server of one path (see the module docstring)."""

    def __init__(self, path: str, handler: SioHandler, *, faults: FaultInjector | None = None,
                 ping_interval_ms: int = 25_000, ping_timeout_ms: int = 20_000,
                 dumps: Callable[[Any], str] = lambda v: json.dumps(v, separators=(",", ":")),
                 loads: Callable[[str], Any] = json.loads,
                 flush: Callable[[SioConnection], None] | None = None) -> None:
        self.path = path.rstrip("/") + "/"
        self.handler = handler
        self.faults = faults
        self.ping_interval_ms = ping_interval_ms
        self.ping_timeout_ms = ping_timeout_ms
        self.dumps = dumps
        self.loads = loads
        self.flush = flush
        "Called before a session's queued packets are sent: the dialect emits what it conflated."
        self.sessions: dict[str, SioConnection] = {}

    def serves(self, path: str) -> bool:
        """True for this server's path (with or without its trailing slash)."""
        return path == self.path or path == self.path.rstrip("/")

    @property
    def connections(self) -> list[SioConnection]:
        """Open sessions that joined ``/``."""
        return [c for c in self.sessions.values() if not c.closed]

    # -- sessions ------------------------------------------------------------------------------
    def _open(self, client_host: str, transport: str) -> SioConnection:
        self._sweep()
        conn = SioConnection(self, secrets.token_urlsafe(15), client_host)
        conn.transport = transport
        self.sessions[conn.sid] = conn
        conn.send_packet(Handshake(conn.sid, ("websocket",) if transport == "polling" else (),
                                   self.ping_interval_ms, self.ping_timeout_ms).packet())
        conn.send_packet(message_of(SioPacket(SioType.CONNECT), self.dumps))
        self.handler.on_connect(conn)
        return conn

    def close(self, conn: SioConnection) -> None:
        """End a session (idempotent); the dialect hears of it once."""
        if conn.closed:
            return
        conn.closed = True
        conn._ready.set()
        self.sessions.pop(conn.sid, None)
        self.handler.on_disconnect(conn)

    def _sweep(self) -> None:
        """Close the sessions that stopped pinging (``pingInterval + pingTimeout`` of silence)."""
        limit = (self.ping_interval_ms + self.ping_timeout_ms) / 1000
        now = trio.current_time()
        for conn in list(self.sessions.values()):
            if now - conn.last_seen > limit:
                self.close(conn)

    async def _packet(self, conn: SioConnection, packet: EioPacket) -> None:
        conn.last_seen = trio.current_time()
        if packet.type is EioType.PING:
            conn.send_packet(EioPacket(EioType.PONG, packet.data))
        elif packet.type is EioType.CLOSE:
            self.close(conn)
        elif packet.type is EioType.MESSAGE:
            await self._message(conn, packet.data)

    async def _message(self, conn: SioConnection, text: str) -> None:
        try:
            sio = decode_sio(text, self.loads)
        except ProtocolError as e:
            conn.send_packet(message_of(SioPacket(SioType.ERROR, data=str(e)), self.dumps))
            return
        if sio.type is SioType.CONNECT:
            if sio.namespace.split("?")[0] == "/":
                conn.send_packet(message_of(SioPacket(SioType.CONNECT), self.dumps))
            else:
                conn.send_packet(message_of(SioPacket(SioType.ERROR, sio.namespace, "Invalid namespace"), self.dumps))
        elif sio.type is SioType.DISCONNECT:
            self.close(conn)
        elif sio.type is SioType.EVENT and sio.namespace == "/":
            name = sio.event_name
            assert name is not None
            answer = await self.handler.on_event(conn, name, sio.args)
            if sio.id is not None:
                conn.send_packet(message_of(SioPacket(SioType.ACK, id=sio.id, data=answer or []), self.dumps))

    # -- HTTP long-polling ------------------------------------------------------------------------
    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """A polling request of this path: handshake, poll (GET) or post (POST)."""
        query = {k: v[-1] for k, v in parse_qs(request.raw_query, keep_blank_values=True).items()}
        if query.get("EIO") != "3":
            return _error(3)
        if query.get("transport") != "polling":
            return _error(0)
        sid = query.get("sid")
        if sid is None:
            if request.method != "GET":
                return _error(2)
            return self._payload(self._open(request.client_host, "polling").take())
        conn = self.sessions.get(sid)
        if conn is None or conn.closed:
            return _error(1)
        if conn.transport != "polling" and request.method == "POST":
            return _error(3)
        conn.last_seen = trio.current_time()
        if request.method == "POST":
            try:
                packets = decode_payload(request.body)
            except ProtocolError:
                return _error(3)
            for packet in packets:
                await self._packet(conn, packet)
            return HttpResponse(200, b"ok", (("content-type", "text/html"),))
        if request.method != "GET" or conn._polling:
            return _error(3)
        if conn._upgrading:
            return self._payload([EioPacket(EioType.NOOP)])
        conn._polling = True
        try:
            with trio.move_on_after(self.ping_interval_ms / 1000):
                await conn.wait_ready()
        finally:
            conn._polling = False
        if conn.closed:
            return self._payload([EioPacket(EioType.CLOSE)])
        if conn.transport != "polling" or conn._upgrading:
            return self._payload([EioPacket(EioType.NOOP)])  # the upgrade ends the poll in flight
        return self._payload(conn.take() or [EioPacket(EioType.NOOP)])

    @staticmethod
    def _payload(packets: list[EioPacket]) -> HttpResponse:
        return HttpResponse(200, encode_payload(packets).encode("utf-8"),
                            (("content-type", "text/plain; charset=UTF-8"),))

    # -- websocket --------------------------------------------------------------------------------
    async def handle_websocket(self, ws: WebSocketConnection) -> None:
        """A websocket of this path: an upgrade of a polling session (``sid``) or a new session."""
        query = {k: v[-1] for k, v in parse_qs(ws.raw_query, keep_blank_values=True).items()}
        if query.get("EIO") != "3" or query.get("transport") != "websocket":
            await ws.close(1008, "bad engine.io query")
            return
        sid = query.get("sid")
        if sid is not None:
            known = self.sessions.get(sid)
            if known is None or known.closed or not await self._upgrade(ws, known):
                await ws.close(1008, "Session ID unknown")
                return
            conn = known
        else:
            conn = self._open(ws.client_host, "websocket")
        conn._ws = ws
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, ws, conn)
                await self._reader(ws, conn)
                nursery.cancel_scope.cancel()
        except* WebSocketClosed:
            pass
        finally:
            self.close(conn)

    async def _upgrade(self, ws: WebSocketConnection, conn: SioConnection) -> bool:
        try:
            return await self._probe(ws, conn)
        except ProtocolError:
            return False

    async def _probe(self, ws: WebSocketConnection, conn: SioConnection) -> bool:
        with trio.move_on_after(self.ping_timeout_ms / 1000):
            probe = decode_packet(await ws.receive_message())
            if probe != EioPacket(EioType.PING, "probe"):
                return False
            await ws.send_text(encode_packet(EioPacket(EioType.PONG, "probe")))
            conn._upgrading = True
            conn._ready.set()  # a poll in flight answers a noop, so that the client can pause polling
            try:
                upgrade = decode_packet(await ws.receive_message())
            finally:
                conn._upgrading = False
            if upgrade.type is not EioType.UPGRADE:
                return False
            conn.transport = "websocket"
            conn.last_seen = trio.current_time()
            conn._ready.set()
            return True
        return False

    async def _reader(self, ws: WebSocketConnection, conn: SioConnection) -> None:
        timeout = (self.ping_interval_ms + self.ping_timeout_ms) / 1000
        while not conn.closed:
            with trio.move_on_after(timeout) as scope:
                frame = await ws.receive_message()
            if scope.cancelled_caught:
                await ws.close(1000, "ping timeout")
                return
            try:
                packet = decode_packet(frame)
            except ProtocolError:
                await ws.close(1003, "not an engine.io packet")
                return
            await self._packet(conn, packet)

    async def _writer(self, ws: WebSocketConnection, conn: SioConnection) -> None:
        while True:
            await conn.wait_ready()
            if conn.closed:
                await ws.close(1000)
                raise WebSocketClosed()
            for packet in conn.take():
                await self._send_frame(ws, conn, encode_packet(packet))

    async def _send_frame(self, ws: WebSocketConnection, conn: SioConnection, text: str) -> None:
        faults = self.faults
        if faults is not None and faults.latency_s:
            faults.note_latency()
            await trio.sleep(faults.latency_s)
        await ws.send_text(text)
        conn.packets_sent += 1
        if faults is not None and faults.ws_drop_due(ws.messages_sent, trio.current_time() - ws.opened_at):
            await ws.close(1011, "connection dropped")
            raise WebSocketClosed()

