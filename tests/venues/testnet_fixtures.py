"""Set-up every venue's testnet tests share: an HTTP client, raw requests, open orders, frame limits.

Venue-neutral: each helper takes the served testnet (a :class:`venues._testnet.TestnetBase`) or
its URLs; the venue's own test module keeps its cases and its error codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

__all__ = ["assert_over_limit_frame_closes_1009", "http_client", "open_order_count", "raw_http"]


@asynccontextmanager
async def http_client(testnet: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the testnet's URL, for the duration of the block."""
    async with httpx.AsyncClient(base_url=testnet.url) as client:
        yield client


def open_order_count(testnet: Any, account: str = "alice") -> int:
    """Orders of ``account`` working on the testnet's exchange (what a refused request must not change)."""
    return len(testnet.exchange.open_orders(testnet.accounts[account]))


async def raw_http(url: str, head: bytes, body: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a bare TCP stream: the answer's status and body.

    The body is sent beside reading, so an answer that comes before the body is all sent (a 413
    decided from ``Content-Length``) is read rather than lost, and nothing is left half-consumed.
    """
    host, _, port = url.removeprefix("http://").partition(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        async with trio.open_nursery() as nursery:
            async def push() -> None:
                try:
                    await stream.send_all(head + body)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass  # the server answered and closed before reading it all

            nursery.start_soon(push)
            data = b""
            while True:
                header, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    lines = header.decode("latin-1").split("\r\n")
                    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
                    if len(rest) >= int(fields.get("content-length", "0")):
                        break
                chunk = await stream.receive_some(65536)
                assert chunk, "the server closed without an answer"
                data += chunk
            nursery.cancel_scope.cancel()
    return int(lines[0].split()[1]), rest


async def assert_over_limit_frame_closes_1009(ws_url: str, text: str) -> None:
    """Sending ``text`` (over the testnet's frame limit) closes the socket with 1009, within 5 s."""
    async with trio_websocket.open_websocket_url(ws_url) as ws:
        with trio.fail_after(5):
            await ws.send_message(text)
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await ws.get_message()
            # the server closed: trio-websocket may leave the TCP socket to the garbage collector
            await ws._stream.aclose()
    assert closed.value.reason is not None and closed.value.reason.code == 1009
