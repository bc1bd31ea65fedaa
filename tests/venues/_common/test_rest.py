"""The kit's REST plumbing: one re-sign after a clock rejection, the transport seam, wire failures."""

from __future__ import annotations

import functools

import httpx
import pytest
import trio

from engine import OutcomeUnknown, VenueError, VenueRejected
from venues._common.http11 import Http11Lane
from venues._common.rest import (
    ClockRejected,
    HttpxTransport,
    TransportFailure,
    raise_for_transport,
    resign_once,
)


async def test_a_clock_rejection_is_resynced_and_signed_again_exactly_once() -> None:
    calls: list[str] = []

    async def attempt() -> str:
        calls.append("attempt")
        if calls.count("attempt") == 1:
            raise ClockRejected("[-1021] outside recvWindow", venue="v")
        return "answer"

    async def resync() -> None:
        calls.append("resync")

    assert await resign_once(attempt, resync, what="GET x") == "answer"
    assert calls == ["attempt", "resync", "attempt"]


async def test_a_second_clock_rejection_is_raised_and_other_errors_are_never_retried() -> None:
    attempts = 0

    async def always_rejected() -> None:
        nonlocal attempts
        attempts += 1
        raise ClockRejected("still outside", venue="v")

    async def resync() -> None:
        pass

    with pytest.raises(ClockRejected):
        await resign_once(always_rejected, resync, what="GET x")
    assert attempts == 2

    async def rejected() -> None:
        nonlocal attempts
        attempts += 1
        raise VenueRejected(-2010, "insufficient balance", venue="v")

    attempts = 0
    with pytest.raises(VenueRejected):
        await resign_once(rejected, resync, what="POST order")
    assert attempts == 1


async def test_httpx_transport_sends_the_exact_bytes_and_lower_cases_the_answers_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, headers={"X-Used-Weight": "7"}, content=b'{"ok":1}')

    transport = HttpxTransport("http://venue.test/api", timeout_s=1.0, transport=httpx.MockTransport(handler))
    raw = await transport.send("POST", "/v1/order?a=b%2Fc", {"Content-Type": "text/plain"}, b"x=1")
    await transport.aclose()
    assert (raw.status, raw.headers["x-used-weight"], raw.body) == (201, "7", b'{"ok":1}')
    assert seen[0].url.raw_path == b"/api/v1/order?a=b%2Fc" and seen[0].content == b"x=1"
    assert seen[0].headers["user-agent"] == "triotrade"


async def test_the_lean_lane_is_a_transport_too() -> None:
    received: list[bytes] = []

    async def serve(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"x=1"):
            data += await stream.receive_some(4096)
        received.append(data)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(functools.partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            lane = Http11Lane(f"http://127.0.0.1:{port}/api", timeout_s=2.0)
            raw = await lane.send("POST", "/v1/order?q=1", {"Content-Type": "application/x-www-form-urlencoded"},
                                  b"x=1")
            await lane.aclose()
            nursery.cancel_scope.cancel()
    assert (raw.status, raw.body, raw.headers.get("x-a")) == (200, b"{}", "b")
    assert received[0] == (b"POST /api/v1/order?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: triotrade\r\n"
                           b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nx=1" % port)


def test_a_get_without_body_has_no_content_length() -> None:
    lane = Http11Lane("https://venue.test", timeout_s=1.0)
    assert lane.encode("GET", "/time", {}, b"") == b"GET /time HTTP/1.1\r\nHost: venue.test\r\nUser-Agent: triotrade\r\n\r\n"
    assert lane.encode("DELETE", "/o?id=1", {}, b"").endswith(b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(("failure", "kind", "where"), [
    (httpx.ReadTimeout("slow"), "timed out", "after the request was sent"),
    (TransportFailure("reset", sent=False), "connection failed", "before the request was complete"),
    (TransportFailure("no answer", sent=True, timeout=True), "timed out", "after the request was sent"),
])
def test_wire_failures_are_unknown_for_commands_and_plain_errors_for_reads(failure: Exception, kind: str,
                                                                           where: str) -> None:
    with pytest.raises(OutcomeUnknown, match=f"{kind} {where}") as command:
        raise_for_transport(failure, what="POST order", command=True, venue="v")
    assert command.value.__cause__ is failure and command.value.venue == "v"
    with pytest.raises(VenueError, match=kind) as read:
        raise_for_transport(failure, what="GET account", command=False, venue="v")
    assert not isinstance(read.value, OutcomeUnknown) and read.value.__cause__ is failure


def test_decode_body_tells_empty_from_unreadable() -> None:
    import json

    from venues._common.rest import decode_body

    assert decode_body(b"", json.loads) == (None, None)
    assert decode_body(b'{"a":1}', json.loads) == ({"a": 1}, None)
    decoded, error = decode_body(b"{trunc", json.loads)
    assert decoded is None and isinstance(error, ValueError)
    assert isinstance(decode_body(b"\xff", lambda b: b.decode())[1], UnicodeDecodeError)
