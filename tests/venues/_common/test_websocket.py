"""The kit's reconnecting WebSocket with a minimal line dialect, against a real server on 127.0.0.1.

The dialect: ``{"op": "sub", "topic": T}`` is answered ``{"ack": T}``, ``{"op": "ping"}`` with
``{"ack": "ping"}``; pushed data is ``{"topic": T, "data": ...}``. The server below can drop the
socket, hold back pongs, refuse the login or send garbage, to drive each path of the loop.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
import trio
import trio_websocket

from engine import AuthFailed, MalformedMessage, VenueState
from venues._common.websocket import CONNECTION_ERRORS, ConnectionLost, ReconnectingWebSocket, Waiter


class LineStream(ReconnectingWebSocket):
    """A dialect as small as it gets: acknowledgements by topic, pushed frames by topic."""

    venue = "line"
    connection_errors = (*CONNECTION_ERRORS, AuthFailed)

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.topics: list[str] = []
        self.pushed: list[Any] = []
        self.refuse_login_once = False

    async def subscribe(self, topic: str) -> None:
        self.topics.append(topic)
        if self._ws is not None and self._connected.is_set():
            await self._ask(self._ws, {"op": "sub", "topic": topic}, topic)

    async def hang(self) -> Any:
        """A request the server never answers (to see it fail when the socket drops)."""
        assert self._ws is not None
        return await self._ask(self._ws, {"op": "hang"}, "hang", timeout_s=30)

    async def _ask(self, ws: trio_websocket.WebSocketConnection, frame: dict[str, Any], key: str,
                   timeout_s: float | None = None) -> Any:
        waiter = self._waiters[key] = Waiter(key)
        try:
            return await self.send_and_wait(ws, json.dumps(frame), waiter, timeout_s)
        finally:
            self._waiters.pop(key, None)

    async def replay(self, ws: trio_websocket.WebSocketConnection) -> None:
        answer = await self._ask(ws, {"op": "login"}, "login")
        if answer == "refused":
            raise AuthFailed("login refused", venue=self.venue)
        for topic in self.topics:
            await self._ask(ws, {"op": "sub", "topic": topic}, topic)

    async def send_ping(self, ws: trio_websocket.WebSocketConnection) -> None:
        await self._ask(ws, {"op": "ping"}, "ping", self.request_timeout_s)

    def dispatch(self, message: str | bytes, ts_recv: int) -> None:
        self._messages += 1
        try:
            frame = json.loads(message)
            if "ack" in frame:
                waiter = self._waiters.get(frame["ack"])
                if waiter is not None:
                    waiter.result = frame.get("result")
                    waiter.event.set()
            elif "topic" in frame:
                self.pushed.append(frame["data"])
            else:
                raise ValueError("neither ack nor topic")
        except ValueError as e:
            self.report(MalformedMessage(f"frame: {e}", venue=self.venue))


class Server:
    """Counts connections and logins; ``mode`` decides what it does with each connection."""

    def __init__(self) -> None:
        self.logins = 0
        self.subs: list[str] = []
        self.mode: dict[str, Any] = {}
        self.connections: list[trio_websocket.WebSocketConnection] = []

    async def handle(self, request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        self.connections.append(ws)
        try:
            while True:
                frame = json.loads(await ws.get_message())
                op = frame["op"]
                if op == "login":
                    self.logins += 1
                    refused = self.mode.get("refuse_logins", 0) >= self.logins
                    await ws.send_message(json.dumps({"ack": "login", "result": "refused" if refused else "ok"}))
                elif op == "sub":
                    self.subs.append(frame["topic"])
                    await ws.send_message(json.dumps({"ack": frame["topic"]}))
                    for _ in range(self.mode.get("garbage", 0) if self.logins == 1 else 0):
                        await ws.send_message("not json")
                    await ws.send_message(json.dumps({"topic": frame["topic"], "data": self.logins}))
                elif op == "ping" and not self.mode.get("mute_pings"):
                    await ws.send_message(json.dumps({"ack": "ping"}))
        except trio_websocket.ConnectionClosed:
            pass


async def _start(nursery: trio.Nursery, server: Server, **options: Any) -> LineStream:
    listener = await nursery.start(functools.partial(trio_websocket.serve_websocket, server.handle,
                                                     "127.0.0.1", 0, ssl_context=None))
    states: list[VenueState] = []
    stream = LineStream(f"ws://127.0.0.1:{listener.port}/", reconnect_min_s=0.01,
                        on_state=lambda state, detail: states.append(state), **options)
    stream.states = states  # type: ignore[attr-defined]
    return stream


async def _wait_for(predicate: Any) -> None:
    while not predicate():
        await trio.sleep(0.005)


async def test_a_dropped_socket_fails_waiting_requests_then_reconnects_and_replays() -> None:
    server = Server()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            stream = await _start(nursery, server)
            await nursery.start(stream.run)
            await stream.subscribe("btc")
            await _wait_for(lambda: stream.pushed == [1])
            lost: list[BaseException] = []

            async def hang() -> None:
                try:
                    await stream.hang()
                except ConnectionLost as e:
                    lost.append(e)

            nursery.start_soon(hang)
            await _wait_for(lambda: "hang" in stream._waiters)  # noqa: SLF001
            await server.connections[0].aclose()
            await _wait_for(lambda: stream.pushed == [1, 2] and stream.connected)
            nursery.cancel_scope.cancel()
    assert len(lost) == 1 and "hang: connection lost before the answer" in str(lost[0])
    assert server.subs == ["btc", "btc"] and server.logins == 2
    assert stream.states[:3] == [VenueState.CONNECTED, VenueState.DISCONNECTED,  # type: ignore[attr-defined]
                                 VenueState.CONNECTED]
    assert stream._connects == 2  # noqa: SLF001


async def test_an_unanswered_ping_drops_the_socket() -> None:
    server = Server()
    server.mode["mute_pings"] = True
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            stream = await _start(nursery, server, ping_interval_s=0.02, request_timeout_s=0.05)
            await nursery.start(stream.run)
            await _wait_for(lambda: server.logins >= 3)
            nursery.cancel_scope.cancel()
    assert VenueState.DISCONNECTED in stream.states  # type: ignore[attr-defined]


async def test_too_many_malformed_frames_mark_the_venue_stale_and_resynchronise() -> None:
    server = Server()
    server.mode["garbage"] = 5
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            stream = await _start(nursery, server, resync_after=3, malformed_window_s=60.0)
            stream.topics.append("eth")
            await nursery.start(stream.run)
            await _wait_for(lambda: 2 in stream.pushed and stream.connected)
            nursery.cancel_scope.cancel()
    assert VenueState.STALE in stream.states  # type: ignore[attr-defined]
    assert stream._guard.resyncs == 1 and server.logins == 2  # noqa: SLF001


async def test_an_error_the_subclass_calls_fatal_ends_the_first_connect() -> None:
    class Strict(LineStream):
        def fatal_error(self, leaves: list[BaseException], started: bool) -> BaseException | None:
            return None if started else next((e for e in leaves if isinstance(e, AuthFailed)), None)

    server = Server()
    server.mode["refuse_logins"] = 1
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listener = await nursery.start(functools.partial(trio_websocket.serve_websocket, server.handle,
                                                             "127.0.0.1", 0, ssl_context=None))
            strict = Strict(f"ws://127.0.0.1:{listener.port}/", reconnect_min_s=0.01)
            with pytest.raises(AuthFailed, match="login refused"):
                await strict.run()
            # without the veto the same refusal is one more reconnect
            lenient = LineStream(f"ws://127.0.0.1:{listener.port}/", reconnect_min_s=0.01)
            server.logins, server.mode["refuse_logins"] = 0, 1
            await nursery.start(lenient.run)
            assert lenient.connected and server.logins == 2
            nursery.cancel_scope.cancel()


def test_only_websocket_urls() -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        LineStream("http://127.0.0.1:1/")
