"""Dzengi wire → engine events: instruments and rounding, market data, orders, fills, account state.

Payloads are the venue's shapes (``data/*.json`` and inline), with its mixed JSON numbers and
strings; every malformed case must raise a MalformedMessage that names what was wrong.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine import (
    JsonNumber,
    Instrument,
    InstrumentKind,
    Liquidity,
    MalformedMessage,
    OrderStatus,
    Rounding,
    Side,
)
from venues.dzengi import parsers as P
from venues.dzengi.schemas import (
    AssetType,
    MarketMode,
    MarketType,
    ReportedOrderType,
    SymbolStatus,
    VenueOrderStatus,
    VenueSide,
    loads,
)

DATA = Path(__file__).parent / "data"
TS = 1_700_000_000_999_000_000


def load(name: str) -> Any:
    return loads((DATA / name).read_text())


@pytest.fixture(scope="module")
def instruments() -> dict[str, Instrument]:
    errors: list[MalformedMessage] = []
    out = P.parse_instruments(load("exchange_info.json"), errors.append)
    assert len(errors) == 1 and "BROKEN/USD" in str(errors[0]) and "quotePrecision" in str(errors[0])
    return out


@pytest.fixture(scope="module")
def btc(instruments: dict[str, Instrument]) -> Instrument:
    return instruments["BTC/USD"]


# ---------------------------------------------------------------------------------------------
# decoding and numbers
# ---------------------------------------------------------------------------------------------


def test_loads_keeps_non_integer_numbers_exact() -> None:
    decoded = loads(b'{"p": 0.1, "q": 30000.10, "n": 7, "s": "1.5", "e": 1e-7}')
    assert decoded == {"p": "0.1", "q": "30000.10", "n": 7, "s": "1.5", "e": "1e-7"}


@pytest.mark.parametrize(("value", "scale", "raw"), [
    (7, 2, 700), ("7", 2, 700), ("0.1", 2, 10), ("30000.10", 2, 3000010), ("-1.25", 2, -125),
    ("1.", 1, 10), (".5", 1, 5), (JsonNumber("1e-7"), 8, 10), ("1.500000000", 2, 150), ("+2.5", 1, 25),
])
def test_scaled_is_exact(value: object, scale: int, raw: int) -> None:
    assert P.scaled(value, scale) == raw


@pytest.mark.parametrize("value", ["0.123", "abc", "1.2.3", "", "nan", "1e-7", "Infinity", "1e1000", "١٢"])
def test_scaled_refuses_what_it_cannot_represent(value: str) -> None:
    with pytest.raises(ValueError):
        P.scaled(value, 2)


@pytest.mark.parametrize("value", [0.5, True, None, [1]])
def test_scaled_refuses_non_numbers(value: object) -> None:
    with pytest.raises(ValueError):
        P.scaled(value, 2)


# ---------------------------------------------------------------------------------------------
# enums
# ---------------------------------------------------------------------------------------------


def test_descriptive_enums_fall_back_to_unknown() -> None:
    assert SymbolStatus("A_STATUS_ADDED_LATER") is SymbolStatus.UNKNOWN
    assert MarketType("FUTURES") is MarketType.UNKNOWN
    assert MarketMode("SOME_NEW_MODE") is MarketMode.UNKNOWN
    assert AssetType("A_NEW_ASSET_TYPE") is AssetType.UNKNOWN
    assert ReportedOrderType("ICEBERG") is ReportedOrderType.UNKNOWN
    assert SymbolStatus("HALT") is SymbolStatus.HALT


def test_order_status_and_side_are_strict() -> None:
    with pytest.raises(ValueError):
        VenueOrderStatus("SUSPENDED")
    with pytest.raises(ValueError):
        VenueSide("HOLD")


# ---------------------------------------------------------------------------------------------
# instruments
# ---------------------------------------------------------------------------------------------


def test_spot_instrument_from_filters(btc: Instrument) -> None:
    assert btc.key == "dzengi:BTC/USD"
    assert (btc.base, btc.quote, btc.kind) == ("BTC", "USD", InstrumentKind.SPOT)
    assert btc.tick_size == Decimal("0.01") and btc.lot_size == Decimal("0.0001")
    assert btc.min_qty == Decimal("0.0001") and btc.max_qty == Decimal("100")
    assert btc.min_notional == Decimal("10")
    assert (btc.price_scale, btc.size_scale) == (2, 4)
    assert btc.maker_fee == btc.taker_fee == Decimal("0.002")  # 0.2 percent


def test_venue_rounding_rules_quantity_down_price_up(btc: Instrument) -> None:
    assert btc.qty_rounding is Rounding.DOWN and btc.price_rounding is Rounding.CEILING
    assert btc.round_qty(Decimal("0.12349")) == Decimal("0.1234")
    assert btc.round_price(Decimal("30000.001")) == Decimal("30000.01")
    assert btc.round_price(Decimal("30000.01")) == Decimal("30000.01")


def test_leverage_instrument(instruments: dict[str, Instrument]) -> None:
    lev = instruments["BTC/USD_LEVERAGE"]
    assert lev.kind is InstrumentKind.LINEAR and lev.settle == "USD"
    assert lev.tick_size == Decimal("0.05")  # no PRICE_FILTER: the symbol's own tickSize
    assert lev.maker_fee == Decimal("0.0004") and lev.taker_fee == Decimal("0.0006")
    assert lev.round_price(Decimal("100.01")) == Decimal("100.05")


def test_unknown_labels_do_not_stop_an_instrument_from_loading(instruments: dict[str, Instrument]) -> None:
    brent = instruments["Oil - Brent."]
    assert brent.kind is InstrumentKind.SPOT  # unknown market type, no _LEVERAGE suffix
    assert brent.tick_size == Decimal("0.001") and brent.lot_size == Decimal("0.1")  # from the precisions


def test_exchange_info_without_symbols_is_malformed() -> None:
    with pytest.raises(MalformedMessage, match="symbols"):
        P.parse_instruments({"timezone": "UTC"}, lambda e: None)


def test_rate_limits() -> None:
    limits = P.parse_rate_limits(load("exchange_info.json"))
    assert limits == {"REQUEST_WEIGHT": [(1200, 60_000)], "ORDERS": [(10, 1000), (864000, 86_400_000)]}


# ---------------------------------------------------------------------------------------------
# market data
# ---------------------------------------------------------------------------------------------


def test_rest_depth_to_book_snapshot(btc: Instrument) -> None:
    payload = loads('{"lastUpdateId": 1700000000500, "asks": [[30001.5, 0.5], [30001, 1.25]],'
                    ' "bids": [["29999.99", "2"], [30000, 0.0001], [29990, 3]]}')
    book = P.parse_depth(payload, btc, TS, depth=2)
    assert book.sequence == 1700000000500 and book.ts_event == 1700000000500 * P.MS and book.ts_recv == TS
    assert book.bids == ((3000000, 1), (2999999, 20000))
    assert book.asks == ((3000100, 12500), (3000150, 5000))


def test_ws_depth_event_full_snapshot(instruments: dict[str, Instrument]) -> None:
    text = '{"ts": 1700000000600, "bid": {"29999.5": 1, "30000": "0.5"}, "ofr": {"30002": 0.25, "30001.25": 2}}'
    payload = {"symbol": "BTC/USD", "data": loads(text)}
    book = P.parse_ws_depth(payload, instruments, TS)
    assert book.sequence == 1700000000600
    assert [p for p, _ in book.bids] == [3000000, 2999950]
    assert [p for p, _ in book.asks] == [3000125, 3000200]
    encoded = dict(payload, data=text)  # one old client shows the data JSON-encoded
    assert P.parse_ws_depth(encoded, instruments, TS) == book


def test_ws_trade_and_agg_trade_aggressor(instruments: dict[str, Instrument], btc: Instrument) -> None:
    trade = P.parse_ws_trade(loads('{"symbol": "BTC/USD", "price": 30000.5, "size": 0.01, "id": 77, "ts": 1700000000001,'
                                   ' "orderId": "x", "clientOrderId": "", "buyer": false}'), instruments, TS)
    assert (trade.price, trade.size, trade.aggressor, trade.trade_id) == (Decimal("30000.5"), Decimal("0.01"), -1, 77)
    agg = P.parse_agg_trade({"a": 5, "p": "30000.00", "q": "0.5", "T": 1700000000002, "m": True}, btc, TS)
    assert agg.aggressor == -1 and agg.trade_id == 5 and agg.ts_event == 1700000000002 * P.MS
    agg = P.parse_agg_trade({"a": 6, "p": "30000.00", "q": "0.0", "T": 1700000000003, "m": False}, btc, TS)
    assert agg.aggressor == 1 and agg.size_raw == 0


def test_ws_quote(instruments: dict[str, Instrument]) -> None:
    quote = P.parse_ws_quote(loads('{"symbolName": "BTC/USD", "bid": 29999.99, "bidQty": 1.5, "ofr": 30000.01,'
                                   ' "ofrQty": 2, "timestamp": 1700000000004}'), instruments, TS)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
        Decimal("29999.99"), Decimal("30000.01"), Decimal("1.5"), Decimal("2"))
    assert quote.ts_event == 1700000000004 * P.MS


@pytest.mark.parametrize(("payload", "problem"), [
    ({"symbolName": "BTC/USD", "bid": 1, "bidQty": 1, "ofrQty": 1, "timestamp": 1}, "missing field 'ofr'"),
    ({"symbolName": "BTC/USD", "bid": 1, "bidQty": 1, "ofr": None, "ofrQty": 1, "timestamp": 1}, "'ofr' is null"),
    ({"symbolName": "DOGE/USD", "bid": 1, "bidQty": 1, "ofr": 1, "ofrQty": 1, "timestamp": 1}, "unknown symbol"),
    ({"symbolName": "BTC/USD", "bid": "1.001", "bidQty": 1, "ofr": 1, "ofrQty": 1, "timestamp": 1}, "'bid'"),
    ({"symbolName": "BTC/USD", "bid": "x", "bidQty": 1, "ofr": 1, "ofrQty": 1, "timestamp": 1}, "'bid'"),
    ({"symbolName": "BTC/USD", "bid": 1, "bidQty": 1, "ofr": 1, "ofrQty": 1, "timestamp": "soon"}, "'timestamp'"),
    (["not", "an", "object"], "expected a JSON object"),
])
def test_malformed_quotes_say_what_is_wrong(instruments: dict[str, Instrument], payload: Any, problem: str) -> None:
    with pytest.raises(MalformedMessage, match="internal.quote") as info:
        P.parse_ws_quote(payload, instruments, TS)
    assert problem in str(info.value)


def test_floats_are_refused_even_if_a_caller_passes_them(instruments: dict[str, Instrument]) -> None:
    with pytest.raises(MalformedMessage, match="'bid'"):
        P.parse_ws_quote({"symbolName": "BTC/USD", "bid": 0.1, "bidQty": 1, "ofr": 1, "ofrQty": 1, "timestamp": 1},
                         instruments, TS)


def test_ohlc_event_and_klines(instruments: dict[str, Instrument], btc: Instrument) -> None:
    bar = P.parse_ws_ohlc(loads('{"symbol": "BTC/USD", "interval": "M1", "type": "classic", "t": 1700000040000,'
                                ' "o": 1, "h": "2.5", "l": 0.5, "c": 2}'), instruments, TS)
    assert bar.interval_ns == 60 * 10**9
    assert (bar.open, bar.high, bar.low, bar.close) == (Decimal(1), Decimal("2.5"), Decimal("0.5"), Decimal(2))
    assert bar.volume_raw == 0
    with pytest.raises(MalformedMessage, match="unknown interval"):
        P.parse_ws_ohlc({"symbol": "BTC/USD", "interval": "7m", "t": 1, "o": 1, "h": 1, "l": 1, "c": 1},
                        instruments, TS)
    kline = P.parse_kline(loads('[1700000040000, "1.00", "2.00", "0.50", "1.50", 12.5]'), btc, 300_000, TS)
    assert kline.volume == Decimal("12.5") and kline.interval_ns == 300 * 10**9
    with pytest.raises(MalformedMessage, match="klines"):
        P.parse_kline([1700000040000, "1.00"], btc, 60_000, TS)


def test_interval_names() -> None:
    assert P.interval_name(60) == "1m" and P.interval_name(14_400) == "4h"
    assert P.interval_ms("H1") == P.interval_ms("1h") == 3_600_000
    with pytest.raises(ValueError, match="7 s"):
        P.interval_name(7)


# ---------------------------------------------------------------------------------------------
# orders and fills
# ---------------------------------------------------------------------------------------------


def test_full_market_order_answer_carries_fills(btc: Instrument) -> None:
    report = P.parse_new_order(load("order_full.json"), btc, "c-1", TS)
    assert report.status is OrderStatus.FILLED and report.client_order_id == "c-1"
    assert report.venue_order_id == "00000000-0000-0003-0000-000000000001"
    assert report.filled_qty == Decimal("0.01")
    assert report.avg_price == (Decimal("30001.00") * Decimal("0.004") + Decimal("30002.25") * Decimal("0.006")) / \
        Decimal("0.010")
    assert [f.trade_id for f in report.fills] == ["901", "902"]
    first = report.fills[0]
    assert (first.side, first.price, first.qty, first.fee, first.fee_asset, first.liquidity) == (
        Side.BUY, Decimal("30001.00"), Decimal("0.004"), Decimal("0.24"), "USD", Liquidity.TAKER)
    assert first.ts_event == 1700000000123 * P.MS


def test_fills_without_trade_ids_get_provisional_ids(btc: Instrument) -> None:
    answer = load("order_full.json")
    for fill in answer["fills"]:
        del fill["tradeId"]
    report = P.parse_new_order(answer, btc, "c-1", TS)
    assert [f.trade_id for f in report.fills] == [f"{report.venue_order_id}#1", f"{report.venue_order_id}#2"]


def test_result_answers_and_partial_fills(btc: Instrument) -> None:
    new = {"symbol": "BTC/USD", "orderId": "o-2", "transactTime": 1, "price": "29000", "origQty": "0.5",
           "executedQty": "-0.2", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "SELL"}
    report = P.parse_new_order(new, btc, "c-2", TS)
    assert report.status is OrderStatus.PARTIALLY_FILLED and report.filled_qty == Decimal("0.2")
    assert report.avg_price == Decimal("29000") and report.fills == ()
    resting = dict(new, executedQty="0")
    assert P.parse_new_order(resting, btc, "c-2", TS).status is OrderStatus.ACCEPTED
    rejected = dict(new, status="REJECTED", executedQty="0", rejectMessage="INSUFFICIENT_FUNDS")
    assert P.parse_new_order(rejected, btc, "c-2", TS).reason == "INSUFFICIENT_FUNDS"


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("status", "SUSPENDED", "unknown order status 'SUSPENDED'"),
    ("side", "HOLD", "unknown side 'HOLD'"),
    ("orderId", None, "'orderId' is null"),
    ("origQty", "lots", "'origQty' is not a number"),
])
def test_order_answers_are_strict(btc: Instrument, field: str, value: Any, problem: str) -> None:
    answer = load("order_full.json")
    answer[field] = value
    with pytest.raises(MalformedMessage, match="order answer") as info:
        P.parse_new_order(answer, btc, "c-1", TS)
    assert problem in str(info.value)


def test_fill_finer_than_the_instrument_is_malformed(btc: Instrument) -> None:
    answer = load("order_full.json")
    answer["fills"][0]["qty"] = "0.00001"
    with pytest.raises(MalformedMessage, match="finer than the instrument"):
        P.parse_new_order(answer, btc, "c-1", TS)


def test_cancel_answer(btc: Instrument) -> None:
    report = P.parse_cancel_order({"symbol": "BTC/USD", "orderId": "o-3", "price": "1", "origQty": "1",
                                   "executedQty": "0.25", "status": "CANCELED", "timeInForce": "GTC",
                                   "type": "LIMIT", "side": "BUY"}, btc, "c-3", TS)
    assert (report.status, report.filled_qty, report.venue_order_id) == (OrderStatus.CANCELED, Decimal("0.25"), "o-3")


def test_open_order_maps_the_client_id(instruments: dict[str, Instrument]) -> None:
    item = {"symbol": "BTC/USD", "orderId": "o-4", "accountId": "1", "price": "29000.00", "origQty": "0.0100",
            "executedQty": "0", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY",
            "time": 1700000000000, "updateTime": 1700000000100, "leverage": False, "working": True}
    report = P.parse_open_order(item, instruments, {"o-4": "mine"}.get, TS)  # type: ignore[arg-type]
    assert (report.client_order_id, report.status, report.ts_event) == ("mine", OrderStatus.ACCEPTED,
                                                                        1700000000100 * P.MS)
    assert P.parse_open_order(item, instruments, lambda v: "", TS).client_order_id == ""


def test_fetch_order_uses_its_own_field_names(btc: Instrument) -> None:
    report = P.parse_fetch_order(load("fetch_order.json"), btc, "c-5", TS)
    assert report.status is OrderStatus.PARTIALLY_FILLED
    assert report.filled_qty == Decimal("0.005") and report.avg_price == Decimal("29000.5")
    assert report.ts_event == 1700000000456 * P.MS
    with_fills = dict(load("fetch_order.json"), fills=[{"price": "29000.5", "qty": "0.005", "commission": "0",
                                                        "commissionAsset": "USD"}])
    assert P.parse_fetch_order(with_fills, btc, "c-5", TS).fills == ()  # no trade id: myTrades reports it
    assert len(P.parse_fetch_order(with_fills, btc, "c-5", TS, provisional_fills=True).fills) == 1
    assert P.parse_fetch_order(dict(load("fetch_order.json"), status="CREATED", execQuantity=0), btc, "c",
                               TS).status is OrderStatus.ACCEPTED


def test_my_trade_to_fill(btc: Instrument) -> None:
    row = {"symbol": "BTC/USD", "id": 31, "orderId": "o-6", "price": "30000.10", "qty": "0.0100",
           "quoteQty": "300.001", "commission": "0.6", "commissionAsset": "USD", "time": 1700000000700,
           "buyer": False, "maker": True, "isBuyer": False, "isMaker": True}
    fill = P.parse_my_trade(row, btc, {"o-6": "c-6"}.get, TS)  # type: ignore[arg-type]
    assert (fill.trade_id, fill.client_order_id, fill.venue_order_id) == ("31", "c-6", "o-6")
    assert (fill.side, fill.liquidity, fill.qty, fill.price) == (Side.SELL, Liquidity.MAKER, Decimal("0.0100"),
                                                                 Decimal("30000.10"))
    only_old_names = {k: v for k, v in row.items() if k not in ("isBuyer", "isMaker")}
    only_old_names.update(buyer=True, maker=False)
    fill = P.parse_my_trade(only_old_names, btc, lambda v: "", TS)
    assert (fill.side, fill.liquidity) == (Side.BUY, Liquidity.TAKER)
    with pytest.raises(MalformedMessage, match="'isBuyer' or 'buyer'"):
        P.parse_my_trade({k: v for k, v in row.items() if k not in ("buyer", "isBuyer")}, btc, lambda v: "", TS)


# ---------------------------------------------------------------------------------------------
# account state
# ---------------------------------------------------------------------------------------------


def test_account_balances_update_time_is_in_seconds() -> None:
    balances = P.parse_account(loads('{"canTrade": true, "updateTime": 1700000000, "balances": ['
                                     '{"accountId": 2376109060084002, "collateralCurrency": true, "asset": "USD",'
                                     ' "free": 17.58, "locked": 0.0, "default": true},'
                                     '{"accountId": "2376109060084000", "asset": "BTC", "free": "1.5",'
                                     ' "locked": "0.25"}]}'), TS)
    assert [(b.account, b.asset, b.free, b.locked) for b in balances] == [
        ("2376109060084002", "USD", Decimal("17.58"), Decimal("0.0")),
        ("2376109060084000", "BTC", Decimal("1.5"), Decimal("0.25"))]
    assert balances[0].ts_event == 1_700_000_000 * 10**9 and balances[1].total == Decimal("1.75")


def test_positions_are_netted_per_symbol(instruments: dict[str, Instrument]) -> None:
    errors: list[MalformedMessage] = []
    positions = P.parse_positions(load("positions.json"), instruments, TS, errors.append)
    assert len(errors) == 1 and "openQuantity" in str(errors[0])  # pos-4 reported and skipped
    (position,) = positions
    assert position.qty == Decimal("0.2")
    assert position.avg_price == (Decimal("0.3") * 30000 + Decimal("0.1") * 30600) / Decimal("0.4")
    assert position.unrealized_pnl == Decimal("10.0") and position.leverage == Decimal("10")
    assert position.position_id == "pos-1,pos-2"


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ({"code": -1121, "msg": "Invalid symbol."}, (-1121, "Invalid symbol.")),
    ({"code": "-2010", "msg": "Account has insufficient balance"}, (-2010, "Account has insufficient balance")),
    ({"code": 200, "data": 1}, None),
    ({"code": "abc", "msg": "x"}, None),
    ([1, 2], None),
    ({"symbol": "BTC/USD"}, None),
])
def test_error_bodies(body: Any, expected: Any) -> None:
    assert P.error_of(body) == expected


def test_malformed_messages_never_show_secrets() -> None:
    error = P.malformed("account", "bad", {"apiKey": "abcd", "signature": "feedbeef", "free": 1})
    assert "feedbeef" not in str(error) and "abcd" not in str(error) and "dzengi: account: bad" in str(error)


# ---------------------------------------------------------------------------------------------
# hostile values: only MalformedMessage, naming the field
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("baseAssetPrecision", "4x"), ("quotePrecision", 10**12),
    ("quotePrecision", "²"), ("filters", [{"filterType": "PRICE_FILTER", "tickSize": "1e-90"}]),
    ("filters", [{"filterType": "LOT_SIZE", "stepSize": "Infinity"}]), ("exchangeFee", "1e1000"),
])
def test_one_bad_symbol_in_exchange_info_is_skipped_with_the_field_named(field: str, value: Any) -> None:
    info = load("exchange_info.json")
    info["symbols"][0][field] = value
    errors: list[MalformedMessage] = []
    instruments = P.parse_instruments(info, errors.append)
    assert "BTC/USD" not in instruments and "BTC/USD_LEVERAGE" in instruments
    assert any("'BTC/USD'" in str(e) for e in errors)
    assert any(field in str(e) or "decimals" in str(e) for e in errors)


@pytest.mark.parametrize("price", ["Infinity", "-Infinity", "NaN", "1e1000", "1e400000", "١٢٣", "1_000", " 1"])
def test_hostile_numbers_in_string_fields_are_malformed(instruments: dict[str, Instrument], price: str) -> None:
    quote = {"symbolName": "BTC/USD", "bid": price, "bidQty": "1", "ofr": "2", "ofrQty": "1", "timestamp": 1}
    with pytest.raises(MalformedMessage, match="'bid'"):
        P.parse_ws_quote(quote, instruments, TS)
    depth = {"symbol": "BTC/USD", "data": {"ts": 1, "bid": {price: "1"}, "ofr": {}}}
    with pytest.raises(MalformedMessage, match="'price'"):
        P.parse_ws_depth(depth, instruments, TS)
    with pytest.raises(MalformedMessage, match="'qty'"):
        P.parse_my_trade({"orderId": "o", "price": "1", "qty": price, "time": 1, "id": 1, "isBuyer": True,
                          "isMaker": False}, instruments["BTC/USD"], lambda v: "", TS)


def test_a_null_base_precision_reads_as_absent() -> None:
    info = load("exchange_info.json")
    info["symbols"][0]["baseAssetPrecision"] = None  # a bare int() raised TypeError out of start-up
    instruments = P.parse_instruments(info, lambda e: None)
    assert instruments["BTC/USD"].qty_precision == info["symbols"][0]["quotePrecision"]


def test_json_numbers_may_carry_a_bounded_exponent(instruments: dict[str, Instrument]) -> None:
    quote = loads('{"symbolName": "BTC/USD", "bid": 3.000001e4, "bidQty": 1E0, "ofr": 30000.02, "ofrQty": 2,'
                  ' "timestamp": 1}')
    assert P.parse_ws_quote(quote, instruments, TS).bid == Decimal("30000.01")
    with pytest.raises(ValueError):  # WireFormatError: the exponent bound, before any arithmetic
        loads('{"bid": 1e400000}')


def test_deep_json_is_a_value_error_not_a_recursion_error() -> None:
    with pytest.raises(ValueError, match="nested"):
        loads("[" * 100_000 + "]" * 100_000)


def test_a_huge_margin_is_a_malformed_position(instruments: dict[str, Instrument]) -> None:
    body = load("positions.json")
    body["positions"][0]["margin"] = "0.000000000000000000000000000000000000000000000001"
    baseline: list[MalformedMessage] = []
    P.parse_positions(load("positions.json"), instruments, TS, baseline.append)
    errors: list[MalformedMessage] = []
    P.parse_positions(body, instruments, TS, errors.append)
    assert len(errors) == len(baseline) + 1 and "margin out of range" in str(errors[0])


def test_error_codes_are_ascii_integers() -> None:
    assert P.error_of({"code": "-1121", "msg": "x"}) == (-1121, "x")
    assert P.error_of({"code": "١٢", "msg": "x"}) is None
    assert P.error_of({"code": "1" * 40, "msg": "x"}) is None
