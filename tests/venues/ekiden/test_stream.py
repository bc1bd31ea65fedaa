"""EkidenStream against a real WebSocket server on 127.0.0.1 that sends hostile frames.

An ``"Infinity"`` book price or a deeply nested frame used to end the whole run; now each such
frame is dropped, counted and logged, and a venue that keeps sending garbage is marked stale and
resynchronised (reconnect, resubscribe: the venue sends a fresh snapshot).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from engine import BookDelta, BookSnapshot, Instrument, VenueState
from venues.ekiden import parsers as P
from venues.ekiden.schemas import loads
from venues.ekiden.stream import EkidenStream

DATA = Path(__file__).parent / "data"
BOOK = {"sequence": "20", "timestamp": "2025-05-10T12:34:56.897Z",
        "bids": [["1999.60", "1.000"]], "asks": [["2000.40", "0.999"]]}


def instruments() -> dict[str, Instrument]:
    return P.parse_markets(P.unwrap(loads((DATA / "markets.json").read_text()), "markets"), lambda e: None)


def book(kind: str, data: Any, **extra: Any) -> str:
    return json.dumps({"type": kind, "channel": "orderbook", "market": "ETH-USD", "data": data, **extra})


HOSTILE: list[str | bytes] = [
    "[" * 100_000 + "]" * 100_000,                                              # RecursionError before
    '{"type": "snapshot", "channel": "orderbook", "data": ' + "{\"a\":" * 3000 + "1" + "}" * 3000 + "}",
    book("snapshot", {**BOOK, "bids": [["Infinity", "1.000"]]}),                # OverflowError before
    book("update", {**BOOK, "asks": [["1e400000", "1"]]}),
    book("update", {**BOOK, "asks": [["2000.40", "1e1000"]]}),
    book("snapshot", {**BOOK, "sequence": "²"}),
    json.dumps({"type": "snapshot", "channel": ["orderbook"], "market": "ETH-USD", "data": BOOK}),
    '{"type": "update", "channel": "orderbook", "market": "ETH-USD", "data": {"bids": [[1e400000, "1"]]}}',
    b"\xff\xfe not utf-8",
    "[1, 2, 3]",
]


async def serve(frames: Callable[[int], list[str | bytes]], subscribes: list[int],
                request: trio_websocket.WebSocketRequest) -> None:
    """Acknowledge every subscribe and answer pings; after each subscribe push ``frames(n)``."""
    ws = await request.accept()
    try:
        while True:
            message = json.loads(await ws.get_message())
            if message["type"] == "ping":
                await ws.send_message('{"type": "pong"}')
                continue
            await ws.send_message(json.dumps({"type": "subscribed", "channel": message["channel"],
                                              "market": message["market"]}))
            subscribes.append(1)
            for frame in frames(len(subscribes)):
                await ws.send_message(frame)
    except trio_websocket.ConnectionClosed:
        pass


def stream_for(url: str, books: list[BookSnapshot | BookDelta], states: list[VenueState],
               **options: Any) -> EkidenStream:
    by_symbol = instruments()
    stream = EkidenStream(url, on_state=lambda state, detail: states.append(state), reconnect_min_s=0.05,
                          **options)
    stream.handlers["orderbook"] = lambda frame, ts: books.append(P.parse_ws_book(frame, by_symbol, ts))
    return stream


async def test_each_hostile_frame_is_dropped_and_the_stream_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    books: list[BookSnapshot | BookDelta] = []
    states: list[VenueState] = []
    subscribes: list[int] = []
    frames = [*HOSTILE, book("snapshot", BOOK)]
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(
                trio_websocket.serve_websocket, functools.partial(serve, lambda n: frames, subscribes),
                "127.0.0.1", 0, ssl_context=None, max_message_size=2**21))
            stream = stream_for(f"ws://127.0.0.1:{server.port}/v1/stream", books, states, log_limit=100)
            with caplog.at_level(logging.WARNING, logger="venues.ekiden.stream"):
                await nursery.start(stream.run)
                await stream.subscribe("orderbook", "ETH-USD", depth=10)
                while not books:
                    await trio.sleep(0.01)
            stats = stream.statistics()
            nursery.cancel_scope.cancel()
    assert isinstance(books[0], BookSnapshot) and books[0].bids[0][0] == 199960
    assert stats.malformed == len(HOSTILE) and stats.connects == 1 and stats.connected
    assert stats.malformed_resyncs == 0 and states == [VenueState.CONNECTED]
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(HOSTILE)
    for field in ("'price'", "'size'", "'sequence'", "channel", "nested"):
        assert any(field in line for line in logged), field


async def test_a_venue_sending_garbage_is_marked_stale_and_resynchronised(caplog: pytest.LogCaptureFixture) -> None:
    books: list[BookSnapshot | BookDelta] = []
    states: list[VenueState] = []
    subscribes: list[int] = []

    def frames(n: int) -> list[str | bytes]:  # garbage on the first connection, a snapshot after
        if n == 1:
            return [book("update", {**BOOK, "bids": [["Infinity", "1"]]})] * 30
        return [book("snapshot", BOOK)]

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(
                trio_websocket.serve_websocket, functools.partial(serve, frames, subscribes),
                "127.0.0.1", 0, ssl_context=None))
            stream = stream_for(f"ws://127.0.0.1:{server.port}/v1/stream", books, states,
                                resync_after=10, malformed_window_s=60.0, log_limit=3)
            with caplog.at_level(logging.WARNING, logger="venues.ekiden.stream"):
                await nursery.start(stream.run)
                await stream.subscribe("orderbook", "ETH-USD", depth=10)
                while not books:
                    await trio.sleep(0.01)
            stats = stream.statistics()
            nursery.cancel_scope.cancel()
    assert states[:4] == [VenueState.CONNECTED, VenueState.STALE, VenueState.DISCONNECTED, VenueState.CONNECTED]
    assert stats.connects == 2 and stats.malformed_resyncs == 1 and len(subscribes) == 2
    assert 10 <= stats.malformed <= 30 and isinstance(books[0], BookSnapshot)
    assert books[0].asks[0][1] == int(Decimal("0.999") * 10 ** books[0].instrument.size_scale)
    per_frame = [r for r in caplog.records if "Infinity" in r.getMessage()]
    assert len(per_frame) == 3
    assert any("without a log line" in r.getMessage() for r in caplog.records)
