"""Property-based fuzz of every Dzengi parser, of its answer mapping and of its stream's dispatch.

The kit's fuzz (:func:`tests.fuzzing.venue_fuzz_tests`) runs on Dzengi's real payloads, mutated, and
on atoms biased towards Dzengi's own words; the stream also gets its envelope's ``correlationId``, ``destination`` and ``status`` of any type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from hypothesis import example, given
from hypothesis import strategies as st

from engine import Instrument, MalformedMessage
from venues.dzengi import parsers as P
from venues.dzengi.rest import raise_for_response
from venues.dzengi.schemas import loads
from venues.dzengi.stream import DzengiStream, Handler

from ... import fuzzing
from ...fuzzing import FUZZ, HOSTILE_NUMBERS

DATA = Path(__file__).parent / "data"
TS = 1_700_000_000_999_000_000

HOSTILE_TEXT = [*HOSTILE_NUMBERS, "BTC/USD", "M1", "NEW", "BUY", "SELL", "ACTIVE", "LEVERAGE"]
FIELDS = ["symbol", "symbolName", "price", "qty", "size", "bid", "ofr", "bidQty", "ofrQty", "ts", "timestamp",
          "data", "status", "side", "orderId", "tickSize", "stepSize", "filters", "quotePrecision",
          "baseAssetPrecision", "code", "msg", "fills", "margin", "openQuantity", "balances", "positions"]

json_values = fuzzing.json_values(HOSTILE_TEXT, FIELDS)


def mutated(base: Any) -> st.SearchStrategy[Any]:
    return fuzzing.mutated(base, json_values)


def load(name: str) -> Any:
    return loads((DATA / name).read_text())


INSTRUMENTS: dict[str, Instrument] = P.parse_instruments(load("exchange_info.json"), lambda e: None)
BTC = INSTRUMENTS["BTC/USD"]
EXCHANGE_INFO = load("exchange_info.json")
QUOTE = loads('{"symbolName": "BTC/USD", "bid": 29999.99, "bidQty": 1.5, "ofr": 30000.01, "ofrQty": 2,'
              ' "timestamp": 1700000000004}')
WS_TRADE = loads('{"symbol": "BTC/USD", "price": 30000.5, "size": 0.01, "id": 77, "ts": 1700000000001,'
                 ' "orderId": "x", "clientOrderId": "", "buyer": false}')
WS_DEPTH = loads('{"symbol": "BTC/USD", "data": {"ts": 1700000000005, "bid": {"29999.99": 1.5, "29999.98": 2},'
                 ' "ofr": {"30000.01": 0.5}}}')
WS_OHLC = loads('{"symbol": "BTC/USD", "interval": "M1", "type": "classic", "t": 1700000040000,'
                ' "o": 1, "h": "2.5", "l": 0.5, "c": 2}')
DEPTH = {"lastUpdateId": 1700000000000, "bids": [["29999.99", "1.5"]], "asks": [["30000.01", "0.5"]]}
AGG = {"a": 5, "p": "30000.00", "q": "0.5", "T": 1700000000002, "m": True}
KLINE = loads('[1700000040000, "1.00", "2.00", "0.50", "1.50", 12.5]')
OPEN_ORDER = {"symbol": "BTC/USD", "orderId": "o-4", "accountId": "1", "price": "29000.00", "origQty": "0.0100",
              "executedQty": "0", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
              "time": 1700000000000, "updateTime": 1700000000100}
MY_TRADE = {"symbol": "BTC/USD", "id": 31, "orderId": "o-6", "price": "30000.10", "qty": "0.0100",
            "commission": "0.6", "commissionAsset": "USD", "time": 1700000000700, "isBuyer": False, "isMaker": True}
ACCOUNT = loads('{"canTrade": true, "updateTime": 1700000000, "balances": [{"accountId": 2376109060084002,'
                ' "asset": "USD", "free": 17.58, "locked": 0.0}]}')
CANCEL = {"symbol": "BTC/USD", "orderId": "o-1", "origQty": "0.01", "executedQty": "0", "status": "CANCELED"}

ignore = lambda error: None  # noqa: E731

PARSERS: dict[str, tuple[Any, Callable[[Any], object]]] = {
    "server_time": ({"serverTime": 1700000000000}, P.parse_server_time),
    "rate_limits": (EXCHANGE_INFO, P.parse_rate_limits),
    "instrument": (EXCHANGE_INFO["symbols"][0], P.parse_instrument),
    "instruments": (EXCHANGE_INFO, lambda obj: P.parse_instruments(obj, ignore)),
    "depth": (DEPTH, lambda obj: P.parse_depth(obj, BTC, TS, 5)),
    "ws_depth": (WS_DEPTH, lambda obj: P.parse_ws_depth(obj, INSTRUMENTS, TS, 5)),
    "agg_trade": (AGG, lambda obj: P.parse_agg_trade(obj, BTC, TS)),
    "ws_trade": (WS_TRADE, lambda obj: P.parse_ws_trade(obj, INSTRUMENTS, TS)),
    "ws_quote": (QUOTE, lambda obj: P.parse_ws_quote(obj, INSTRUMENTS, TS)),
    "ws_ohlc": (WS_OHLC, lambda obj: P.parse_ws_ohlc(obj, INSTRUMENTS, TS)),
    "kline": (KLINE, lambda obj: P.parse_kline(obj, BTC, 60_000, TS)),
    "new_order": (load("order_full.json"), lambda obj: P.parse_new_order(obj, BTC, "c-1", TS)),
    "cancel_order": (CANCEL, lambda obj: P.parse_cancel_order(obj, BTC, "c-1", TS)),
    "open_order": (OPEN_ORDER, lambda obj: P.parse_open_order(obj, INSTRUMENTS, lambda v: "c", TS)),
    "fetch_order": (load("fetch_order.json"),
                    lambda obj: P.parse_fetch_order(obj, BTC, "c-5", TS, provisional_fills=True)),
    "my_trade": (MY_TRADE, lambda obj: P.parse_my_trade(obj, BTC, lambda v: "c", TS)),
    "account": (ACCOUNT, lambda obj: P.parse_account(obj, TS)),
    "positions": (load("positions.json"), lambda obj: P.parse_positions(obj, INSTRUMENTS, TS, ignore)),
    "map_status": ("NEW", lambda obj: P.map_status(obj, None, None, "order")),
}


def envelope(destination: str, payload: Any) -> st.SearchStrategy[str]:
    return mutated({"status": "OK", "destination": destination, "payload": payload}).map(json.dumps)


def handler(parse: Callable[[Any, dict[str, Instrument], int], object]) -> Handler:
    """A stream handler that parses its payload (and drops the event)."""
    def handle(payload: Any, ts_recv: int) -> None:
        parse(payload, INSTRUMENTS, ts_recv)
    return handle


frames = st.one_of(
    envelope("internal.quote", QUOTE), envelope("internal.trade", WS_TRADE),
    envelope("marketdepth.event", WS_DEPTH), envelope("ohlc.event", WS_OHLC),
    mutated({"status": "OK", "destination": "ping", "correlationId": 1, "payload": {}}).map(json.dumps),
    fuzzing.nested_frames(json_values, "payload"),
)


def _stream(on_malformed: Callable[[MalformedMessage], None]) -> DzengiStream:
    stream = DzengiStream("ws://127.0.0.1:9/connect", on_malformed=on_malformed, log_limit=1000)
    stream.handlers.update({
        "internal.quote": handler(P.parse_ws_quote), "internal.trade": handler(P.parse_ws_trade),
        "marketdepth.event": handler(P.parse_ws_depth), "ohlc.event": handler(P.parse_ws_ohlc),
    })
    return stream


(test_the_fuzz_starts_from_payloads_that_parse, test_parsers_raise_only_malformed_message, test_error_of_never_raises,
 test_answers_map_to_venue_errors_and_bounded_pauses, test_frame_dispatch_never_raises) = fuzzing.venue_fuzz_tests(
    parsers=PARSERS, error_of=P.error_of, error_body={"code": -1121, "msg": "Invalid symbol."},
    raise_for_response=raise_for_response,
    values=json_values, frames=frames, stream=_stream)


envelope_values = st.sampled_from(HOSTILE_TEXT + ["²", "7", "007", "internal.quote", "OK"]) | json_values


@FUZZ
@given(correlation_id=envelope_values, destination=envelope_values, status=envelope_values)
@example(correlation_id={"a": 1}, destination="internal.quote", status="OK")  # unhashable: TypeError once
@example(correlation_id="²", destination="internal.quote", status="OK")  # "²".isdigit(), int() refused it
@example(correlation_id=None, destination=["internal.quote"], status="OK")
async def test_envelope_fields_of_any_type_are_handled(correlation_id: Any, destination: Any, status: Any) -> None:
    errors: list[MalformedMessage] = []
    stream = DzengiStream("ws://127.0.0.1:9/connect", on_malformed=errors.append, log_limit=1000)
    stream.handlers["internal.quote"] = handler(P.parse_ws_quote)
    stream.dispatch(json.dumps({"status": status, "correlationId": correlation_id, "destination": destination,
                                 "payload": QUOTE}), TS)
    assert stream.statistics().malformed == len(errors) <= 1
    await trio.lowlevel.checkpoint()
