"""DzengiStream against a real WebSocket server on 127.0.0.1 that sends hostile frames.

Each frame that used to end the whole run (deep JSON, an unhashable correlationId or destination,
a huge exponent) is now dropped, counted and logged; a venue that keeps sending garbage is marked
stale and resynchronised (the socket is dropped, the stream reconnects and resubscribes).
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

from engine import BookSnapshot, Instrument, Quote, VenueState
from venues.dzengi import parsers as P
from venues.dzengi.schemas import loads
from venues.dzengi.stream import DzengiStream

DATA = Path(__file__).parent / "data"
QUOTE = {"symbolName": "BTC/USD", "bid": "30000.01", "bidQty": "1", "ofr": "30000.02", "ofrQty": "2",
         "timestamp": 1700000000000}


def instruments() -> dict[str, Instrument]:
    return P.parse_instruments(loads((DATA / "exchange_info.json").read_text()), lambda e: None)


def pushed(destination: str, payload: Any) -> str:
    return json.dumps({"status": "OK", "destination": destination, "payload": payload})


HOSTILE: list[str | bytes] = [
    "[" * 100_000 + "]" * 100_000,                                              # RecursionError before
    '{"status": "OK", "destination": "internal.quote", "payload": ' + "[" * 5000 + "]" * 5000 + "}",
    json.dumps({"status": "OK", "correlationId": {"a": 1}, "payload": {}}),     # unhashable: TypeError
    json.dumps({"status": "OK", "correlationId": "²", "payload": {}}),          # "²".isdigit(): ValueError
    json.dumps({"status": "OK", "destination": ["internal.quote"], "payload": QUOTE}),
    pushed("internal.quote", {**QUOTE, "bid": "Infinity"}),
    pushed("internal.quote", {**QUOTE, "ofr": "1e1000"}),
    pushed("marketdepth.event", {"symbol": "BTC/USD", "data": {"ts": 1, "bid": {"1e400000": "1"}, "ofr": {}}}),
    '{"status": "OK", "destination": "internal.quote", "payload": {"bid": 1e400000}}',
    b"\xff\xfe not utf-8",
    "not json at all",
]


async def serve(frames: Callable[[int], list[str | bytes]], subscribes: list[int],
                request: trio_websocket.WebSocketRequest) -> None:
    """Answer every request OK; after each subscribe, push ``frames(n)`` (n: the subscribe count)."""
    ws = await request.accept()
    try:
        while True:
            message = json.loads(await ws.get_message())
            await ws.send_message(json.dumps({"status": "OK", "destination": message["destination"],
                                              "correlationId": message["correlationId"], "payload": {}}))
            if message["destination"].endswith(".subscribe"):
                subscribes.append(1)
                for frame in frames(len(subscribes)):
                    await ws.send_message(frame)
    except trio_websocket.ConnectionClosed:
        pass


def stream_for(url: str, quotes: list[Quote], books: list[BookSnapshot], states: list[VenueState],
               **options: Any) -> DzengiStream:
    by_symbol = instruments()
    stream = DzengiStream(url, on_state=lambda state, detail: states.append(state), reconnect_min_s=0.05,
                          **options)
    stream.handlers["internal.quote"] = lambda payload, ts: quotes.append(P.parse_ws_quote(payload, by_symbol, ts))
    stream.handlers["marketdepth.event"] = lambda payload, ts: books.append(P.parse_ws_depth(payload, by_symbol, ts))
    return stream


@pytest.mark.parametrize("direct", [True, False])
async def test_each_hostile_frame_is_dropped_and_the_stream_goes_on(
        direct: bool, caplog: pytest.LogCaptureFixture) -> None:
    quotes: list[Quote] = []
    books: list[BookSnapshot] = []
    states: list[VenueState] = []
    subscribes: list[int] = []
    frames = [*HOSTILE, pushed("internal.quote", QUOTE)]
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(
                trio_websocket.serve_websocket, functools.partial(serve, lambda n: frames, subscribes),
                "127.0.0.1", 0, ssl_context=None, max_message_size=2**21))
            stream = stream_for(f"ws://127.0.0.1:{server.port}/connect", quotes, books, states,
                                direct_dispatch=direct, log_limit=100)
            with caplog.at_level(logging.WARNING, logger="venues.dzengi.stream"):
                await nursery.start(stream.run)
                await stream.subscribe("marketData.subscribe", {"symbols": ["BTC/USD"]})
                while not quotes:
                    await trio.sleep(0.01)
            stats = stream.statistics()
            nursery.cancel_scope.cancel()
    assert quotes[0].bid == Decimal("30000.01") and not books
    assert stats.malformed == len(HOSTILE) and stats.connects == 1 and stats.connected
    assert stats.malformed_resyncs == 0 and states == [VenueState.CONNECTED]
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(HOSTILE)
    for field in ("'bid'", "'ofr'", "correlationId", "destination", "nested"):
        assert any(field in line for line in logged), field


async def test_a_venue_sending_garbage_is_marked_stale_and_resynchronised(caplog: pytest.LogCaptureFixture) -> None:
    quotes: list[Quote] = []
    books: list[BookSnapshot] = []
    states: list[VenueState] = []
    subscribes: list[int] = []
    garbage: list[str | bytes] = [pushed("internal.quote", {**QUOTE, "bid": "Infinity"})] * 30

    def frames(n: int) -> list[str | bytes]:  # garbage on the first connection, good data after
        return garbage if n == 1 else [pushed("internal.quote", QUOTE)]

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(
                trio_websocket.serve_websocket, functools.partial(serve, frames, subscribes),
                "127.0.0.1", 0, ssl_context=None))
            stream = stream_for(f"ws://127.0.0.1:{server.port}/connect", quotes, books, states,
                                resync_after=10, malformed_window_s=60.0, log_limit=3)
            with caplog.at_level(logging.WARNING, logger="venues.dzengi.stream"):
                await nursery.start(stream.run)
                await stream.subscribe("marketData.subscribe", {"symbols": ["BTC/USD"]})
                while not quotes:
                    await trio.sleep(0.01)
            stats = stream.statistics()
            nursery.cancel_scope.cancel()
    # stale after the 10th bad frame, then reconnected and resubscribed: the good quote came through
    assert states[:4] == [VenueState.CONNECTED, VenueState.STALE, VenueState.DISCONNECTED, VenueState.CONNECTED]
    assert stats.connects == 2 and stats.malformed_resyncs == 1 and len(subscribes) == 2
    assert 10 <= stats.malformed <= 30 and quotes[0].bid == Decimal("30000.01")
    per_frame = [r for r in caplog.records if "Infinity" in r.getMessage()]
    assert len(per_frame) == 3  # rate-limited: log_limit lines per window, then a count
    assert any("without a log line" in r.getMessage() for r in caplog.records)
