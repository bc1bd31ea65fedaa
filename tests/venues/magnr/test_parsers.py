"""Magnr's parsers: the trade object (strict status, side and reason), answers and the three tickers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine import MalformedMessage, Side
from venues.magnr.constants import ClosedReason, TradeStatus
from venues.magnr.gateway import magnr_instruments
from venues.magnr.parsers import (
    parse_bitfinex_ticker,
    parse_bitstamp_ticker,
    parse_created,
    parse_errors,
    parse_itbit_last,
    parse_itbit_ticker,
    parse_trade,
    parse_trade_answer,
    parse_trades,
)
from venues.magnr.schemas import dumps_body, loads

TRADE = ('{"id": 1234, "side": "sell", "leverage": 5, "size": 0.3, "deposit": 0.06, "exchange": "LOCAL",'
         ' "created_at": 1444251389, "closed_at": 1444254989, "open_price": 245.12, "close_price": 246.5,'
         ' "closed_reason": "insufficient funds", "trade_rate": 0.48, "daily_rate": 0.2, "trade_fees": 0.000288,'
         ' "daily_fees": 0.00012, "stop_margin": 20, "trail_margin": null, "sell_limit": null,'
         ' "status": "settled", "profit": -0.0021}')
INST = magnr_instruments()


def test_a_trade_object_is_read_exactly() -> None:
    trade = parse_trade(loads(TRADE))
    assert trade.id == "1234" and trade.side is Side.SELL and trade.size == Decimal("0.3")
    assert trade.exchange == "LOCAL" and trade.pair == "BTCUSD" and trade.symbol == "LOCAL-BTCUSD"
    assert trade.status is TradeStatus.SETTLED and trade.closed_reason is ClosedReason.INSUFFICIENT_FUNDS
    assert trade.trade_fees == Decimal("0.000288") and trade.profit == Decimal("-0.0021")
    assert trade.open_price == Decimal("245.12") and trade.take is None
    assert parse_trade_answer({"trade": loads(TRADE)}) == trade
    assert parse_created({"id": 7}) == "7" == parse_created({"id": "7"})


@pytest.mark.parametrize("change", [
    {"status": "weird"}, {"side": "BUY"}, {"closed_reason": "bored"}, {"exchange": "Kraken"}, {"size": 0},
    {"size": "abc"}, {"size": 1e400}, {"id": None}, {"status": "open", "open_price": None},
    {"status": "settled", "close_price": None}, {"pair": "ETHUSD"}, {"created_at": "soon"},
])
def test_a_bad_trade_is_malformed(change: dict[str, Any]) -> None:
    obj = {**loads(TRADE), **change}
    with pytest.raises(MalformedMessage):
        parse_trade(obj)


def test_one_bad_trade_never_hides_the_others() -> None:
    errors: list[MalformedMessage] = []
    good = loads(TRADE)
    trades = parse_trades({"trades": [good, {**good, "status": "?"}, {**good, "id": 5}]}, errors.append)
    assert [t.id for t in trades] == ["1234", "5"] and len(errors) == 1
    with pytest.raises(MalformedMessage):
        parse_trades({"trade": []}, errors.append)
    assert parse_errors({"errors": ["a", "b"]}) == ["a", "b"] and parse_errors([1]) == []


def test_tickers() -> None:
    bitfinex = loads('{"mid":"244.755","bid":"244.75","ask":"244.76","last_price":"244.82","timestamp":"1444251389.12"}')
    q = parse_bitfinex_ticker(bitfinex, INST["Bitfinex-BTCUSD"], 1)
    assert (q.bid, q.ask, q.bid_size) == (Decimal("244.75"), Decimal("244.76"), 0)
    assert q.ts_event == 1_444_251_389_120_000_000
    bitstamp = loads('{"high":"245","last":"244.8","timestamp":"1444251389","bid":"244.7","vwap":"244","volume":"1",'
                     '"low":"240","ask":"244.9","open":243}')
    assert parse_bitstamp_ticker(bitstamp, INST["Bitstamp-BTCUSD"], 1).ask == Decimal("244.9")
    itbit = loads('{"pair":"XBTUSD","bid":"244.5","bidAmt":"1.2","ask":"244.6","askAmt":"0.5","lastPrice":"244.55",'
                  '"lastAmt":"0.013","serverTimeUTC":"2015-10-07T20:42:35.6160000Z"}')
    q = parse_itbit_ticker(itbit, INST["ItBit-XBTUSD"], 1)
    assert q.bid_size == Decimal("1.2")
    finer = parse_itbit_ticker({**itbit, "bid": "244.504", "bidAmt": "1.23456789"}, INST["ItBit-XBTUSD"], 1)
    assert finer.bid == Decimal("244.50") and finer.bid_size == Decimal("1.234")  # on Magnr's tick and lot
    assert q.ts_event == 1_444_250_555_616_000_000
    last = parse_itbit_last(itbit, INST["ItBit-XBTUSD"], 1, 9)
    assert last is not None and last.price == Decimal("244.55") and last.trade_id == 9
    for bad in ({**itbit, "bid": "245", "ask": "244"}, {**itbit, "serverTimeUTC": "yesterday"},
                {**itbit, "bid": None}, "[]"):
        with pytest.raises(MalformedMessage):
            parse_itbit_ticker(bad, INST["ItBit-XBTUSD"], 1)


def test_bodies_are_exact_compact_json() -> None:
    body = dumps_body({"leverage": 10, "side": "buy", "stop_margin": Decimal("5.00"), "size": Decimal("0.200")})
    assert body == b'{"leverage":10,"side":"buy","stop_margin":5,"size":0.2}'
    assert dumps_body({"size": Decimal("1E-8")}) == b'{"size":0.00000001}'
