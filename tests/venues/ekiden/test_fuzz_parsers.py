"""Property-based fuzz of every Ekiden parser and of the stream's frame dispatch.

The property: whatever a venue sends, a parser returns its event or raises ``MalformedMessage``
(``error_of`` never raises), and the stream's dispatch never lets an exception out — it counts
the frame as malformed or hands it on. Inputs are what ``schemas.loads`` can produce (``str``,
``JsonNumber``, bounded ``int``, ``bool``, ``None``, lists and string-keyed dicts), biased
towards hostile atoms and towards real payloads with one to three fields replaced.
Deterministic: ``derandomize=True`` and a bounded example count per test.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine import Instrument, JsonNumber, MalformedMessage, OutcomeUnknown, RateLimited, VenueError
from venues.ekiden import parsers as P
from venues.ekiden.rest import RawResponse, raise_for_response
from venues.ekiden.schemas import loads
from venues.ekiden.stream import EkidenStream, Handler

DATA = Path(__file__).parent / "data"
TS = 1_700_000_000_999_000_000
FUZZ = settings(derandomize=True, max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HOSTILE_TEXT = ["Infinity", "-Infinity", "NaN", "nan", "inf", "1e1000", "1e400000", "-1e-400000", "1E5", "١٢",
                "１２", "²", "12\n", " 1", "", "-", "+", ".", "0x10", "1_000", "9" * 70, "0." + "0" * 40 + "1",
                "1" + "0" * 63, "-0", "ETH-USD", "open", "buy", "sell", "long", "short", "maker", "perpetual",
                "2025-05-10T12:34:56.907Z", "2025-02-30T00:00:00Z", "9999-12-31T23:59:59.999999999Z"]
FIELDS = ["market", "type", "channel", "data", "price", "size", "sequence", "timestamp", "bids", "asks", "side",
          "status", "order_id", "fill_id", "tick_size", "lot_size", "price_decimals", "size_decimals",
          "error_code", "error_message", "success", "next_cursor", "order", "fills", "filled_size",
          "updated_at", "liquidity", "available", "locked", "entry_price"]

atoms = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**64) + 1, max_value=10**64 - 1),
    st.sampled_from([0, -1, 1, 10**63, 2**63, 10**20]),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=12),
    st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,20})?", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True).map(JsonNumber),
)
json_values = st.recursive(
    atoms,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=5),
    max_leaves=16,
)


def _slots(obj: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside ``obj``."""
    out: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in keys:
            out.append((item, key))
            stack.append(item[key])
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """``base`` with 1-3 values replaced by fuzz (or a key deleted), or a fuzz value instead of it."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(obj)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if isinstance(container, dict) and draw(st.integers(0, 4)) == 0:
            del container[key]
        else:
            container[key] = draw(json_values)
    return obj


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


def test_the_fuzz_starts_from_payloads_that_parse() -> None:
    for name, (base, parse) in PARSERS.items():
        assert parse(copy.deepcopy(base)) is not None, name


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_parsers_raise_only_malformed_message(name: str, data: st.DataObject) -> None:
    base, parse = PARSERS[name]
    message = data.draw(mutated(base))
    try:
        parse(message)
    except MalformedMessage as e:
        assert str(e)  # names what was wrong


@FUZZ
@given(body=json_values | mutated({"success": False, "error_code": 2000, "error_message": "bad"}))
def test_error_of_never_raises(body: Any) -> None:
    coded = P.error_of(body)
    assert coded is None or (type(coded[0]) is int and isinstance(coded[1], str))


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
    json_values.map(json.dumps),
    st.integers(60, 5000).map(lambda n: "[" * n + "]" * n),
    st.integers(60, 5000).map(lambda n: '{"data":' * n + "1" + "}" * n),
    st.text(max_size=40), st.binary(max_size=40),
)


@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=3))
async def test_frame_dispatch_never_raises(batch: list[str | bytes]) -> None:
    errors: list[MalformedMessage] = []
    stream = EkidenStream("ws://127.0.0.1:9/v1/stream", on_malformed=errors.append, log_limit=1000)
    stream.handlers.update({
        "orderbook": handler(P.parse_ws_book),
        "trades": handler(lambda frame, instruments, ts: P.parse_trades(frame.get("data"), instruments, ts)),
        "orders": handler(lambda frame, instruments, ts: P.parse_order_update(frame.get("data"), instruments, ts)),
    })
    for frame in batch:
        stream.dispatch(frame, TS)
    stats = stream.statistics()
    assert stats.messages == len(batch) and stats.malformed == len(errors) <= len(batch)
    await trio.lowlevel.checkpoint()


answers = st.builds(
    RawResponse,
    st.sampled_from([200, 201, 204, 400, 401, 403, 404, 408, 409, 418, 425, 429, 500, 502, 503]),
    st.dictionaries(st.just("retry-after"), st.sampled_from(["1", "0.5", "-3", "inf", "nan", "1e308", "99999999",
                                                             "Wed, 21 Oct 2015 07:28:00 GMT", ""]) | st.text(max_size=8)),
    st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=30),
              st.integers(60, 3000).map(lambda n: b"[" * n + b"]" * n)),
)


@FUZZ
@given(answer=answers, command=st.booleans())
def test_answers_map_to_venue_errors_and_bounded_pauses(answer: RawResponse, command: bool) -> None:
    try:
        raise_for_response(answer, what="fuzz", command=command)
    except RateLimited as e:
        assert 0 <= e.retry_after_s <= 3600
    except VenueError as e:
        assert str(e)
        if command and answer.status >= 500:
            assert isinstance(e, OutcomeUnknown)  # unknown is not failed


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
