"""Property-based fuzz of every Ekiden parser, of its answer mapping and of its stream's dispatch.

The kit's fuzz (:func:`tests.fuzzing.venue_fuzz_tests`) runs on Ekiden's real payloads, mutated, and
on atoms biased towards Ekiden's own words; the stream also gets its frames' ``type``, ``channel`` and ``market`` of any type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio
from hypothesis import example, given
from hypothesis import strategies as st

from engine import Instrument, MalformedMessage
from venues.ekiden import parsers as P
from venues.ekiden.rest import raise_for_response
from venues.ekiden.schemas import loads
from venues.ekiden.stream import EkidenStream, Handler

from ... import fuzzing
from ...fuzzing import FUZZ, HOSTILE_NUMBERS

DATA = Path(__file__).parent / "data"
TS = 1_700_000_000_999_000_000

HOSTILE_TEXT = [*HOSTILE_NUMBERS, "ETH-USD", "open", "buy", "sell", "long", "short", "maker", "perpetual",
                "2025-05-10T12:34:56.907Z", "2025-02-30T00:00:00Z", "9999-12-31T23:59:59.999999999Z"]
FIELDS = ["market", "type", "channel", "data", "price", "size", "sequence", "timestamp", "bids", "asks", "side",
          "status", "order_id", "fill_id", "tick_size", "lot_size", "price_decimals", "size_decimals",
          "error_code", "error_message", "success", "next_cursor", "order", "fills", "filled_size",
          "updated_at", "liquidity", "available", "locked", "entry_price"]

json_values = fuzzing.json_values(HOSTILE_TEXT, FIELDS)


def mutated(base: Any) -> st.SearchStrategy[Any]:
    return fuzzing.mutated(base, json_values)


def load(name: str) -> Any:
    return loads((DATA / name).read_text())


MARKETS = P.unwrap(load("markets.json"), "markets")
INSTRUMENTS: dict[str, Instrument] = P.parse_markets(MARKETS, lambda e: None)
ETH = INSTRUMENTS["ETH-USD"]
ORDERBOOK = P.unwrap(load("orderbook.json"), "orderbook")
ORDERS_UPDATE = load("orders_update.json")
TRADE = {"trade_id": "17", "market": "ETH-USD", "price": "2000.40", "size": "0.250", "side": "buy",
         "timestamp": "2025-05-10T12:34:56.907Z"}
WS_BOOK = {"type": "update", "channel": "orderbook", "market": "ETH-USD",
           "data": {"sequence": 21, "timestamp": "2025-05-10T12:34:56.907Z", "bids": [["1999.60", "0"]],
                    "asks": [["2000.40", "1.5"]]}}
WS_SNAPSHOT = {"type": "snapshot", "channel": "orderbook", "market": "ETH-USD", "data": ORDERBOOK}
PAGE = {"success": True, "data": [TRADE], "next_cursor": "abc"}

ignore = lambda error: None  # noqa: E731

PARSERS: dict[str, tuple[Any, Callable[[Any], object]]] = {
    "unwrap": ({"success": True, "data": {}}, lambda obj: P.unwrap(obj, "x")),
    "unwrap_page": (PAGE, lambda obj: P.unwrap_page(obj, "x")),
    "server_time": ({"server_time": "2025-05-10T12:34:56.907Z"}, P.parse_server_time),
    "market": (MARKETS[0], P.parse_market),
    "markets": (MARKETS, lambda obj: P.parse_markets(obj, ignore)),
    "orderbook": (ORDERBOOK, lambda obj: P.parse_orderbook(obj, ETH, TS, 5)),
    "ws_book": (WS_BOOK, lambda obj: P.parse_ws_book(obj if isinstance(obj, dict) else {}, INSTRUMENTS, TS)),
    "ws_snapshot": (WS_SNAPSHOT, lambda obj: P.parse_ws_book(obj if isinstance(obj, dict) else {}, INSTRUMENTS, TS)),
    "trade": (TRADE, lambda obj: P.parse_trade(obj, INSTRUMENTS, TS)),
    "trades": ([TRADE, TRADE], lambda obj: P.parse_trades(obj, INSTRUMENTS, TS)),
    "fill": (ORDERS_UPDATE["data"]["fills"][0], lambda obj: P.parse_fill(obj, INSTRUMENTS, TS, lambda v: "c")),
    "order": (ORDERS_UPDATE["data"]["order"], lambda obj: P.parse_order(obj, INSTRUMENTS, TS, lambda v: "c")),
    "order_update": (ORDERS_UPDATE["data"], lambda obj: P.parse_order_update(obj, INSTRUMENTS, TS)),
    "balances": (P.unwrap(load("balances.json"), "b"), lambda obj: P.parse_balances(obj, "main", TS)),
    "positions": (P.unwrap(load("positions.json"), "p"), lambda obj: P.parse_positions(obj, INSTRUMENTS, TS, ignore)),
    "map_status": ("open", lambda obj: P.map_status(obj, Decimal(0), Decimal(1), "order")),
}


def handler(parse: Callable[[dict[str, Any], dict[str, Instrument], int], object]) -> Handler:
    """A stream handler that parses its frame (and drops the event)."""
    def handle(frame: dict[str, Any], ts_recv: int) -> None:
        parse(frame, INSTRUMENTS, ts_recv)
    return handle


frames = st.one_of(
    mutated(WS_BOOK).map(json.dumps), mutated(WS_SNAPSHOT).map(json.dumps),
    mutated({"type": "update", "channel": "trades", "market": "ETH-USD", "data": [TRADE]}).map(json.dumps),
    mutated(ORDERS_UPDATE).map(json.dumps),
    mutated({"type": "error", "error_code": 2001, "error_message": "x", "channel": "orders"}).map(json.dumps),
    mutated({"type": "subscribed", "channel": "orderbook", "market": "ETH-USD"}).map(json.dumps),
    fuzzing.nested_frames(json_values, "data"),
)


def _stream(on_malformed: Callable[[MalformedMessage], None]) -> EkidenStream:
    stream = EkidenStream("ws://127.0.0.1:9/v1/stream", on_malformed=on_malformed, log_limit=1000)
    stream.handlers.update({
        "orderbook": handler(P.parse_ws_book),
        "trades": handler(lambda frame, instruments, ts: P.parse_trades(frame.get("data"), instruments, ts)),
        "orders": handler(lambda frame, instruments, ts: P.parse_order_update(frame.get("data"), instruments, ts)),
    })
    return stream


(test_the_fuzz_starts_from_payloads_that_parse, test_parsers_raise_only_malformed_message, test_error_of_never_raises,
 test_answers_map_to_venue_errors_and_bounded_pauses, test_frame_dispatch_never_raises) = fuzzing.venue_fuzz_tests(
    parsers=PARSERS, error_of=P.error_of, error_body={"success": False, "error_code": 2000, "error_message": "bad"},
    raise_for_response=raise_for_response,
    values=json_values, frames=frames, stream=_stream)


envelope_values = st.sampled_from(HOSTILE_TEXT + ["snapshot", "update", "orderbook", "pong", "error"]) | json_values


@FUZZ
@given(kind=envelope_values, channel=envelope_values, market=envelope_values)
@example(kind="snapshot", channel=["orderbook"], market="ETH-USD")  # unhashable channel: TypeError once
@example(kind="update", channel="orderbook", market={"a": 1})
async def test_envelope_fields_of_any_type_are_handled(kind: Any, channel: Any, market: Any) -> None:
    errors: list[MalformedMessage] = []
    stream = EkidenStream("ws://127.0.0.1:9/v1/stream", on_malformed=errors.append, log_limit=1000)
    stream.handlers["orderbook"] = handler(P.parse_ws_book)
    stream.dispatch(json.dumps({"type": kind, "channel": channel, "market": market, "data": WS_BOOK["data"],
                                 "error_code": kind, "error_message": market}), TS)
    assert stream.statistics().malformed == len(errors) <= 1
    await trio.lowlevel.checkpoint()
