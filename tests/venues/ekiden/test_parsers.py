"""Ekiden parsers and wire helpers on stored payloads (``data/*.json``): exact values, strict enums."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import BookDelta, BookSnapshot, InstrumentKind, Liquidity, MalformedMessage, OrderStatus, Rounding, Side
from venues.ekiden import parsers as P
from venues.ekiden.schemas import decimal_str, iso_from_ms, loads, ms_from_iso, ns_from_iso

DATA = Path(__file__).parent / "data"
TS = 1746880496 * 1_000_000_000  # 2025-05-10T12:34:56Z


def load(name: str) -> Any:
    return loads((DATA / name).read_bytes())


@pytest.fixture
def instruments() -> dict[str, Any]:
    errors: list[MalformedMessage] = []
    markets = P.parse_markets(P.unwrap(load("markets.json"), "markets"), errors.append)
    return {**markets, "BTC-USD": P.parse_market({
        "market": "BTC-USD", "type": "perpetual", "base_asset": "BTC", "quote_asset": "USD", "settle_asset": "USD",
        "status": "active", "tick_size": "0.1", "lot_size": "0.0001", "min_size": "0.0001", "max_size": "100",
        "min_notional": "10", "price_decimals": "1", "size_decimals": "4", "maker_fee": "0.0002",
        "taker_fee": "0.0005", "max_leverage": "20"})}


def test_markets_become_instruments_and_bad_entries_are_skipped() -> None:
    errors: list[MalformedMessage] = []
    markets = P.parse_markets(P.unwrap(load("markets.json"), "markets"), errors.append)
    assert list(markets) == ["ETH-USD", "ETH-USDC"]
    eth = markets["ETH-USD"]
    assert (eth.key, eth.kind, eth.base, eth.quote, eth.settle) == (
        "ekiden:ETH-USD", InstrumentKind.LINEAR, "ETH", "USD", "USD")
    assert (eth.tick_size, eth.lot_size, eth.min_qty, eth.max_qty, eth.min_notional) == (
        Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("1000"), Decimal("10"))
    assert (eth.maker_fee, eth.taker_fee, eth.max_leverage) == (Decimal("0.0002"), Decimal("0.0005"), Decimal(20))
    assert (eth.price_rounding, eth.qty_rounding) == (Rounding.HALF_UP, Rounding.DOWN)
    spot = markets["ETH-USDC"]  # an unknown status label does not stop a market from loading
    assert spot.kind is InstrumentKind.SPOT and spot.max_leverage is None and spot.price_scale == 18
    assert len(errors) == 2
    assert "options" in str(errors[0]) and "tick_size" in str(errors[1])


def test_orderbook_snapshot_is_exact_and_sorted(instruments: dict[str, Any]) -> None:
    snap = P.parse_orderbook(P.unwrap(load("orderbook.json"), "orderbook"), instruments["ETH-USD"], 1)
    assert isinstance(snap, BookSnapshot)
    assert snap.sequence == 20
    assert snap.ts_event == TS + 897_000_000
    assert snap.bids == ((199960, 1000), (199920, 1000), (199880, 1000))
    assert snap.asks == ((200040, 999), (200080, 999), (200120, 999))


def test_websocket_update_is_a_delta_with_removals(instruments: dict[str, Any]) -> None:
    frame = {"type": "update", "channel": "orderbook", "market": "ETH-USD",
             "data": {"market": "ETH-USD", "sequence": 21, "timestamp": "2025-05-10T12:34:56.900Z",
                      "bids": [["1999.60", "0"]], "asks": [["2000.30", "0.5"]]}}
    delta = P.parse_ws_book(frame, instruments, 2)
    assert isinstance(delta, BookDelta)
    assert (delta.sequence, delta.bids, delta.asks) == (21, ((199960, 0),), ((200030, 500),))
    frame["type"] = "snapshot"
    assert isinstance(P.parse_ws_book(frame, instruments, 2), BookSnapshot)


def test_order_update_with_fill_is_a_partial_fill_report(instruments: dict[str, Any]) -> None:
    frame = load("orders_update.json")
    report = P.parse_order_update(frame["data"], instruments, 5)
    assert report.status is OrderStatus.PARTIALLY_FILLED  # "open" with a fill
    assert (report.client_order_id, report.venue_order_id) == ("tt-7", "7e62aa0a-1df9-4d78-9c65-39382b0537e6")
    assert (report.filled_qty, report.avg_price) == (Decimal("0.250"), Decimal("2000.40"))
    assert report.ts_event == TS + 1_012_345_000
    (fill,) = report.fills
    assert (fill.trade_id, fill.side, fill.price, fill.qty, fill.fee, fill.fee_asset, fill.liquidity) == (
        "1", Side.BUY, Decimal("2000.40"), Decimal("0.250"), Decimal("0.100020000"), "USD", Liquidity.MAKER)
    assert fill.ts_event == TS + 1_012_345_000 and fill.ts_recv == 5


@pytest.mark.parametrize(("path", "value", "match"), [
    (("order", "status"), "new", "unknown order status"),
    (("order", "side"), "long", "unknown side"),
    (("order", "filled_size"), "0.600", "filled_size"),
    (("order", "size"), None, "null"),
    (("order", "market"), "XRP-USD", "unknown market"),
    (("order", "updated_at"), "2025-05-10T14:34:57+02:00", "ISO-8601"),
    (("fills", 0, "liquidity"), "rebate", "unknown liquidity"),
    (("fills", 0, "size"), "0", "positive"),
    (("fills", 0, "price"), "2000.401", "more than 2 decimal"),
    (("fills", 0, "price"), 2000, None),
])
def test_order_messages_are_strict(instruments: dict[str, Any], path: tuple[Any, ...], value: Any,
                                   match: str | None) -> None:
    data = copy.deepcopy(load("orders_update.json")["data"])
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    if match is None:  # a JSON integer where a string is expected is still an exact number
        assert P.parse_order_update(data, instruments, 0).fills[0].price == Decimal(2000)
        return
    with pytest.raises(MalformedMessage, match=match):
        P.parse_order_update(data, instruments, 0)


def test_malformed_messages_never_show_secrets(instruments: dict[str, Any]) -> None:
    with pytest.raises(MalformedMessage) as info:
        P.parse_order({"order_id": "x", "secret": "hunter2", "signature": "s1gn"}, instruments, 0)
    assert "hunter2" not in str(info.value) and "s1gn" not in str(info.value)


def test_positions_are_signed_and_unknown_markets_skipped(instruments: dict[str, Any]) -> None:
    errors: list[MalformedMessage] = []
    eth, btc = P.parse_positions(P.unwrap(load("positions.json"), "positions"), instruments, 9, errors.append)
    assert (eth.qty, eth.avg_price, eth.unrealized_pnl, eth.leverage) == (
        Decimal("0.250"), Decimal("2000.40"), Decimal("1.25000"), Decimal(10))
    assert (btc.qty, btc.avg_price, btc.unrealized_pnl) == (Decimal("-0.0100"), Decimal("30000.0"), Decimal("-3.000"))
    assert btc.ts_event == TS
    assert len(errors) == 1 and "DOGE-USD" in str(errors[0])


def test_balances_free_is_available() -> None:
    eth, usd = P.parse_balances(P.unwrap(load("balances.json"), "balances"), "alice", 3)
    assert (usd.venue, usd.account, usd.asset) == ("ekiden", "alice", "USD")
    assert (usd.free, usd.locked, usd.total) == (Decimal("99949.739950000"), Decimal("50.010000000"),
                                                 Decimal("99999.749950000"))
    assert eth.total == Decimal(10)


@pytest.mark.parametrize("body", [
    {"success": False, "data": []},
    {"data": []},
    {"success": True},
    [],
])
def test_envelopes_must_say_success(body: Any) -> None:
    with pytest.raises(MalformedMessage):
        P.unwrap(body, "GET /v1/x")


def test_pages_return_the_next_cursor() -> None:
    assert P.unwrap_page({"success": True, "data": [1], "next_cursor": "abc"}, "p") == ([1], "abc")
    assert P.unwrap_page({"success": True, "data": [], "next_cursor": None}, "p") == ([], None)
    assert P.unwrap_page({"success": True, "data": []}, "p") == ([], None)
    with pytest.raises(MalformedMessage):
        P.unwrap_page({"success": True, "data": {}}, "p")


def test_error_bodies() -> None:
    assert P.error_of({"error_code": 2001, "error_message": "Invalid signature"}) == (2001, "Invalid signature")
    assert P.error_of({"error_code": "2003", "error_message": "Rate limit exceeded"}) == (2003, "Rate limit exceeded")
    assert P.error_of({"success": True, "data": {}}) is None
    assert P.error_of({"error_code": True}) is None


# ---------------------------------------------------------------------------------------------
# wire helpers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ns"), [
    ("2025-05-10T12:34:56Z", TS),
    ("2025-05-10T12:34:56.1Z", TS + 100_000_000),
    ("2025-05-10T12:34:56.123456789Z", TS + 123_456_789),
    ("2025-05-10T12:34:56.000+00:00", TS),
    ("2024-02-29T00:00:00Z", 1709164800 * 1_000_000_000),
])
def test_iso_timestamps_parse_exactly(text: str, ns: int) -> None:
    assert ns_from_iso(text) == ns


@pytest.mark.parametrize("text", [
    "2025-05-10T12:34:56", "2025-05-10 12:34:56Z", "2025-02-30T00:00:00Z", "2025-05-10T24:00:00Z",
    "2025-05-10T12:34:56.1234567891Z", "2025-05-10T12:34:56+01:00", "1746880496", "",
])
def test_iso_timestamps_refuse_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        ns_from_iso(text)


def test_iso_round_trip_in_milliseconds() -> None:
    assert iso_from_ms(1746880496789) == "2025-05-10T12:34:56.789Z"
    assert ms_from_iso(iso_from_ms(1746880496007)) == 1746880496007
    assert iso_from_ms(0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("2.000000000000000000"), "2.000000000000000000"),
    (Decimal("1E+3"), "1000"),
    (Decimal("1E-18"), "0.000000000000000001"),
    (Decimal("0.1000000000000000000000"), "0.1"),
    (7, "7"),
])
def test_decimal_strings_have_no_exponent(value: Decimal, text: str) -> None:
    assert decimal_str(value) == text


def test_decimal_strings_refuse_more_than_18_places() -> None:
    with pytest.raises(ValueError, match="18 decimal places"):
        decimal_str(Decimal("1E-19"))


def test_loads_never_makes_floats() -> None:
    assert loads(b'{"a": 1.5, "b": 2}') == {"a": "1.5", "b": 2}
    assert json.loads('{"a": 1.5}')["a"] == 1.5  # the stdlib would have


# ---------------------------------------------------------------------------------------------
# hostile values: only MalformedMessage, naming the field
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["Infinity", "-Infinity", "NaN", "1e1000", "1e400000", "١٢٣", "²", " 1", "1_0"])
def test_hostile_book_prices_are_malformed(instruments: dict[str, Any], price: str) -> None:
    frame = {"type": "snapshot", "channel": "orderbook", "market": "ETH-USD",
             "data": {"sequence": "20", "timestamp": "2025-05-10T12:34:56.897Z", "bids": [[price, "1.000"]],
                      "asks": []}}
    with pytest.raises(MalformedMessage, match="'price'"):  # "Infinity" raised OverflowError
        P.parse_ws_book(frame, instruments, TS)
    frame["data"]["bids"] = [["1999.60", price]]
    with pytest.raises(MalformedMessage, match="'size'"):
        P.parse_ws_book(frame, instruments, TS)


@pytest.mark.parametrize("sequence", ["²", "١٢", "1" * 30, True])
def test_sequences_are_ascii_integers(instruments: dict[str, Any], sequence: object) -> None:
    frame = {"type": "update", "channel": "orderbook", "market": "ETH-USD",
             "data": {"sequence": sequence, "timestamp": "2025-05-10T12:34:56.897Z", "bids": [], "asks": []}}
    with pytest.raises(MalformedMessage, match="'sequence'"):  # "²".isdigit() reached int(): ValueError
        P.parse_ws_book(frame, instruments, TS)


@pytest.mark.parametrize(("field", "value"), [
    ("tick_size", "1e-90"), ("lot_size", "Infinity"), ("price_decimals", "99"), ("size_decimals", 10**12),
    ("maker_fee", "1e1000"), ("market", ["ETH-USD"]),
])
def test_one_bad_market_is_skipped_with_the_field_named(field: str, value: Any) -> None:
    markets = P.unwrap(load("markets.json"), "markets")
    markets[0][field] = value
    errors: list[MalformedMessage] = []
    parsed = P.parse_markets(markets, errors.append)
    assert "ETH-USD" not in parsed and "ETH-USDC" in parsed
    assert any(field in str(e) or "decimals" in str(e) for e in errors)


def test_unhashable_market_and_odd_trade_ids(instruments: dict[str, Any]) -> None:
    trade = {"trade_id": "²", "market": "ETH-USD", "price": "2000.40", "size": "0.250", "side": "buy",
             "timestamp": "2025-05-10T12:34:56.907Z"}
    assert P.parse_trade(trade, instruments, TS).trade_id == 0
    with pytest.raises(MalformedMessage, match="not a string"):
        P.parse_trade({**trade, "market": {"a": 1}}, instruments, TS)
    assert P.error_of({"error_code": "²", "error_message": "x"}) is None
    assert P.error_of({"error_code": "2000", "error_message": "x"}) == (2000, "x")


def test_timestamps_are_ascii_digits() -> None:
    assert ns_from_iso("2025-05-10T12:34:56Z") == 1746880496 * 1_000_000_000
    with pytest.raises(ValueError):  # \d matched Arabic-Indic digits and int() read them
        ns_from_iso("٢٠٢٥-05-10T12:34:56Z")
