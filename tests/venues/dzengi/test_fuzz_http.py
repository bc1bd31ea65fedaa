"""The Dzengi HTTP/1.1 order lane against a real TCP server on 127.0.0.1 answering hostile heads.

A status, chunk size or content-length that is not plain ASCII digits, or a body past
``MAX_BODY_BYTES``, is a ``TransportFailure`` (for an order: outcome unknown) — never a wait for
an exabyte, a negative slice or a ``ValueError`` out of the lane. Fuzzed heads, deterministic.
"""

from __future__ import annotations

import functools

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venues.dzengi.rest import MAX_BODY_BYTES, Http11Lane, RawResponse, TransportFailure

REQUEST = b"GET /api/v2/time HTTP/1.1\r\nHost: x\r\n\r\n"


async def answer_with(raw: bytes, stream: trio.SocketStream) -> None:
    try:
        await stream.receive_some(65536)
        await stream.send_all(raw)
        await stream.aclose()
    except trio.BrokenResourceError:
        pass


async def ask(raw: bytes) -> RawResponse | TransportFailure:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            (listener,) = await nursery.start(functools.partial(
                trio.serve_tcp, functools.partial(answer_with, raw), 0, host="127.0.0.1"))
            port = listener.socket.getsockname()[1]
            lane = Http11Lane(f"http://127.0.0.1:{port}", timeout_s=5.0)
            try:
                result: RawResponse | TransportFailure = await lane.request(REQUEST)
            except TransportFailure as e:
                result = e
            finally:
                await lane.aclose()
            nursery.cancel_scope.cancel()
    return result


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa1\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 \xd9\xa2\xd9\xa0\xd9\xa0 OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 +200 OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{}" % (MAX_BODY_BYTES + 1),
])
async def test_hostile_heads_are_transport_failures(raw: bytes) -> None:
    assert isinstance(await ask(raw), TransportFailure)


async def test_a_plain_answer_still_reads() -> None:
    result = await ask(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert isinstance(result, RawResponse) and (result.status, result.body) == (200, b"{}")
    chunked = await ask(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert isinstance(chunked, RawResponse) and chunked.body == b"{}"


heads = st.tuples(
    st.sampled_from(["200", "500", "20", "2000", "-200", "٢٠٠", "abc", ""]) | st.text(max_size=4),
    st.sampled_from(["Content-Length", "Transfer-Encoding", "Connection", "X"]),
    st.sampled_from(["2", "0", "-1", "chunked", "18446744073709551616", "0x2", " 2", "١"]) | st.text(max_size=6),
    st.binary(max_size=24),
)


@settings(derandomize=True, max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(head=heads)
async def test_fuzzed_heads_give_an_answer_or_a_transport_failure(head: tuple[str, str, str, bytes]) -> None:
    status, name, value, body = head
    raw = f"HTTP/1.1 {status} X\r\n{name}: {value}\r\n\r\n".encode("utf-8", "replace") + body
    result = await ask(raw)
    assert isinstance(result, (RawResponse, TransportFailure))
