"""The Engine.IO 3 / Socket.IO 2 codec (:mod:`venues._common.socketio`) and its server
counterpart (:mod:`venues._testnet.socketio`): packets both ways, payload framings, the
handshake over long-polling, the upgrade, pings, acks; and a real socket.io 2.x client
(python-socketio 4.x, Engine.IO 3) against our server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

from venues._common.socketio import (
    ClientProtocol,
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
    encode_sio,
    engineio_query,
)
from venues._testnet.server import make_asgi_app, open_testnet, HttpRequest, HttpResponse
from venues._testnet.socketio import SioConnection, SocketIoServer


# -- codec -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("packet, text", [
    (SioPacket(SioType.CONNECT), "0"),
    (SioPacket(SioType.CONNECT, "/admin"), "0/admin,"),
    (SioPacket(SioType.DISCONNECT), "1"),
    (SioPacket.event("trade", {"price": 1}), '2["trade",{"price":1}]'),
    (SioPacket.event("GET /register", {"a": "é"}, id=12), '212["GET /register",{"a":"é"}]'),
    (SioPacket.event("x", namespace="/nsp", id=3), '2/nsp,3["x"]'),
    (SioPacket(SioType.ACK, id=7, data=[1, "a"]), '37[1,"a"]'),
    (SioPacket(SioType.ERROR, data="Invalid namespace"), '4"Invalid namespace"'),
])
def test_sio_packets_round_trip(packet: SioPacket, text: str) -> None:
    assert encode_sio(packet) == text
    assert decode_sio(text) == packet


@pytest.mark.parametrize("text", ["", "9", "5-[]", '2{"a":1}', "2[1]", "3[1]", "31{}", "2[", "2/nsp"])
def test_bad_sio_packets_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        decode_sio(text)


def test_eio_packets_and_payloads() -> None:
    packets = [EioPacket(EioType.MESSAGE, '2["a","é😀"]'), EioPacket(EioType.PING), EioPacket(EioType.NOOP)]
    text = encode_payload(packets)
    # the length counts UTF-16 code units, as JS does: the emoji is two
    assert text == '13:42["a","é😀"]1:21:6'
    assert decode_payload(text.encode()) == packets
    assert encode_payload([]) == "0:" and decode_payload(b"0:") == []
    # the XHR2 binary framing python-engineio 3 posts: \x00, the length's digits as bytes, \xff
    body = b"\x00\x09\xff" + b'42["a",1]' + b"\x00\x01\xff2"
    assert decode_payload(body) == [EioPacket(EioType.MESSAGE, '2["a",1]'), EioPacket(EioType.PING)]
    assert decode_packet("2probe") == EioPacket(EioType.PING, "probe")
    assert encode_packet(EioPacket(EioType.PONG, "probe")) == "3probe"


@pytest.mark.parametrize("body", [b"", b"3:42", b"x:4", b"2:", b"\x00\x05\xff4", b"\x00\xff", b"\x01\x01\xff4",
                                  b"\x00\x01\x0a\xff4", b"\xff\xfe", "1:9".encode()])
def test_bad_payloads_are_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(body)


def test_handshake_round_trip_and_refusals() -> None:
    handshake = Handshake("abc", ("websocket",), 25_000, 5_000)
    assert json.loads(handshake.packet().data) == {"sid": "abc", "upgrades": ["websocket"], "pingInterval": 25000,
                                                   "pingTimeout": 5000}
    assert Handshake.of(handshake.packet()) == handshake
    for data in ("{", "[]", '{"sid":1}', '{"sid":"a","upgrades":[],"pingInterval":true,"pingTimeout":1}'):
        with pytest.raises(ProtocolError):
            Handshake.of(EioPacket(EioType.OPEN, data))
    assert engineio_query("polling", "s1") == "EIO=3&transport=polling&sid=s1"


def test_client_protocol() -> None:
    client = ClientProtocol()
    assert client.connect_frame() is None
    got = client.receive(encode_packet(Handshake("s", (), 1000, 500).packet()))
    assert got.kind == "open" and client.handshake is not None and client.handshake.ping_interval_ms == 1000
    assert client.receive("40").kind == "connect" and client.connected
    assert client.ping() == "2" and client.receive("3").kind == "pong"
    frame, ack_id = client.emit("GET /register", {"x": 1}, ack=True)
    assert (frame, ack_id) == ('420["GET /register",{"x":1}]', 0)
    assert client.emit("y")[1] is None and client.emit("z", ack=True)[1] == 1
    ack = client.receive('430[{"ok":true}]')
    assert ack.kind == "ack" and ack.packet is not None and ack.packet.id == 0 and ack.packet.args == [{"ok": True}]
    event = client.receive('42["trade",{"p":1}]')
    assert event.kind == "event" and event.packet is not None and event.packet.event_name == "trade"
    assert client.receive("41").kind == "disconnect" and not client.connected
    assert ClientProtocol(namespace="/x").connect_frame() == "40/x,"
    with pytest.raises(ProtocolError):
        client.receive("9")


# -- the server --------------------------------------------------------------------------------------


class EchoHandler:
    """Echoes ``echo`` as an ack, pushes ``hello`` on connect, records the rest."""

    def __init__(self) -> None:
        self.connected: list[SioConnection] = []
        self.disconnected: list[str] = []
        self.events: list[tuple[str, list[Any]]] = []
        self.changed = trio.Event()

    def on_connect(self, conn: SioConnection) -> None:
        self.connected.append(conn)
        conn.emit("hello", {"sid": conn.sid})

    async def on_event(self, conn: SioConnection, event: str, args: list[Any]) -> list[Any] | None:
        self.events.append((event, args))
        self.changed.set()
        if event == "echo":
            return args
        if event == "push":
            conn.emit("pushed", *args)
        return None

    def on_disconnect(self, conn: SioConnection) -> None:
        self.disconnected.append(conn.sid)
        self.changed.set()


def _app(server: SocketIoServer) -> Any:
    async def http(request: HttpRequest) -> HttpResponse:
        if server.serves(request.path):
            return await server.handle_http(request)
        return HttpResponse.json(404, {"error": "Not Found"})

    async def websocket(ws: Any) -> None:
        if server.serves(ws.path):
            await server.handle_websocket(ws)
        else:
            await ws.close(1008)

    return make_asgi_app(http, websocket)


async def test_polling_handshake_post_poll_and_upgrade() -> None:
    handler = EchoHandler()
    server = SocketIoServer("/spot/socket.io", handler, ping_interval_ms=2_000, ping_timeout_ms=1_000)
    async with open_testnet(_app(server)) as url, httpx.AsyncClient(base_url=url) as http:
        with trio.fail_after(10):
            first = await http.get("/spot/socket.io/?" + engineio_query("polling"))
            packets = decode_payload(first.content)
            handshake = Handshake.of(packets[0])
            assert handshake.upgrades == ("websocket",) and handshake.ping_interval_ms == 2_000
            assert packets[1] == EioPacket(EioType.MESSAGE, "0")
            assert packets[2].data.startswith('2["hello"')
            q = engineio_query("polling", handshake.sid)
            posted = await http.post(f"/spot/socket.io/?{q}", content=encode_payload([
                EioPacket(EioType.PING), EioPacket(EioType.MESSAGE, '21["echo",{"n":1}]')]))
            assert posted.text == "ok"
            polled = decode_payload((await http.get(f"/spot/socket.io/?{q}")).content)
            assert polled == [EioPacket(EioType.PONG), EioPacket(EioType.MESSAGE, '31[{"n":1}]')]
            # errors as engine.io writes them
            bad = await http.get("/spot/socket.io/?" + engineio_query("polling", "nope"))
            assert (bad.status_code, bad.json()) == (400, {"code": 1, "message": "Session ID unknown"})
            assert (await http.get("/spot/socket.io/?EIO=3&transport=carrier")).json()["code"] == 0
            assert (await http.post("/spot/socket.io/?" + engineio_query("polling"))).json()["code"] == 2
            assert (await http.post(f"/spot/socket.io/?{q}", content=b"zz")).json()["code"] == 3
            # upgrade: a poll in flight gets a noop, then the websocket carries everything
            async with trio.open_nursery() as nursery:
                polls: list[list[EioPacket]] = []

                async def poll() -> None:
                    polls.append(decode_payload((await http.get(f"/spot/socket.io/?{q}")).content))

                nursery.start_soon(poll)
                await trio.sleep(0.1)
                ws_url = url.replace("http://", "ws://") + "/spot/socket.io/?" + engineio_query("websocket", handshake.sid)
                async with trio_websocket.open_websocket_url(ws_url) as ws:
                    await ws.send_message("2probe")
                    assert await ws.get_message() == "3probe"
                    await ws.send_message("5")
                    await ws.send_message('42["push",7]')
                    assert await ws.get_message() == '42["pushed",7]'
                    await ws.send_message("2")
                    assert await ws.get_message() == "3"
            assert polls == [[EioPacket(EioType.NOOP)]]
            while handshake.sid not in handler.disconnected:
                await handler.changed.wait()
                handler.changed = trio.Event()


async def test_websocket_session_ping_timeout_and_bad_frames() -> None:
    handler = EchoHandler()
    server = SocketIoServer("/futures/socket.io", handler, ping_interval_ms=300, ping_timeout_ms=200)
    async with open_testnet(_app(server)) as url:
        ws_url = url.replace("http://", "ws://") + "/futures/socket.io/?" + engineio_query("websocket")
        with trio.fail_after(10):
            async with trio_websocket.open_websocket_url(ws_url) as ws:
                handshake = Handshake.of(decode_packet(await ws.get_message()))
                assert handshake.upgrades == ()
                assert await ws.get_message() == "40"
                assert (await ws.get_message()).startswith('42["hello"')
                await ws.send_message('40/other,')
                assert await ws.get_message() == '44/other,"Invalid namespace"'
                await ws.send_message('42["no name"')  # not JSON: an error packet, the session lives
                assert (await ws.get_message()).startswith("44")
                await ws.send_message("2")
                assert await ws.get_message() == "3"
                # silence past pingInterval + pingTimeout closes the socket
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await ws.get_message()
                assert ws.closed is not None and ws.closed.reason == "ping timeout"
                await ws._stream.aclose()  # the server closed: trio-websocket may leave the socket to the GC
            assert handler.disconnected == [handshake.sid]
            async with trio_websocket.open_websocket_url(ws_url) as ws:
                await ws.get_message()
                await ws.send_message("x")
                with pytest.raises(trio_websocket.ConnectionClosed):
                    while True:
                        await ws.get_message()
                assert ws.closed is not None and ws.closed.code == 1003
                await ws._stream.aclose()


async def test_a_real_socketio_2_client_connects_emits_and_gets_acks() -> None:
    socketio = pytest.importorskip("socketio")
    engineio = pytest.importorskip("engineio")
    assert int(socketio.__version__.split(".")[0]) == 4 and int(engineio.__version__.split(".")[0]) == 3
    handler = EchoHandler()
    server = SocketIoServer("/spot/socket.io", handler, ping_interval_ms=25_000, ping_timeout_ms=5_000)
    async with open_testnet(_app(server)) as url:

        def client() -> dict[str, Any]:
            got: dict[str, Any] = {}
            sio = socketio.Client(reconnection=False)
            done = __import__("threading").Event()

            @sio.on("hello")
            def hello(data: Any) -> None:
                got["hello"] = data

            @sio.on("pushed")
            def pushed(*args: Any) -> None:
                got["pushed"] = list(args)
                done.set()

            sio.connect(url, socketio_path="/spot/socket.io", transports=["polling", "websocket"])
            got["transport"] = sio.transport()
            got["ack"] = sio.call("echo", {"price": "1.5", "note": "é"}, timeout=5)
            sio.emit("push", {"n": 2})
            done.wait(5)
            sio.disconnect()
            return got

        with trio.fail_after(30):
            got = await trio.to_thread.run_sync(client)
            while not handler.disconnected:
                await handler.changed.wait()
                handler.changed = trio.Event()
    assert got["hello"]["sid"] == handler.connected[0].sid
    assert got["ack"] == {"price": "1.5", "note": "é"}
    assert got["pushed"] == [{"n": 2}]
    assert got["transport"] == "websocket"
