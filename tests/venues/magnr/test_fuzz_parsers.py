"""Property-based fuzz of Magnr's parsers and the testnet's create: hostile input gets an error, never a crash.

The property: a parser returns its record or raises ``MalformedMessage``; the testnet answers a
create body with 201, 400 or 409, never a 5xx or an exception. Deterministic (``derandomize``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.exchange import AccountConfig, Exchange
from engine import MalformedMessage
from venues._testnet.market import MarketSettings, SyntheticMarket
from venues._testnet.server import HttpRequest
from venues.magnr import parsers as P
from venues.magnr.gateway import magnr_instruments
from venues.magnr.schemas import dumps_body, loads
from venues.magnr.signer import authorization, signature
from venues.magnr.testnet import MagnrError, MagnrTestnet, MagnrTestnetOptions, default_instruments

FUZZ = settings(derandomize=True, max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
ATOMS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                  st.sampled_from(["1e999", "NaN", "-1", "0", "0.2", "abc", "", "buy", "sell", "open", "settled",
                                   "ItBit", "XBTUSD", "LOCAL", "2015-10-07T20:42:35Z", "9" * 60]),
                  st.text(max_size=8))
JSON = st.recursive(ATOMS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                    max_leaves=12)
TRADE = loads('{"id": 1, "side": "buy", "leverage": 10, "size": 0.2, "deposit": 0.02, "exchange": "ItBit",'
              ' "created_at": 1, "closed_at": null, "open_price": 245.1, "close_price": null, "closed_reason": null,'
              ' "trade_fees": 0.0001, "daily_fees": 0, "stop_margin": 24, "sell_limit": null, "status": "open",'
              ' "profit": null}')
FIELDS = sorted(TRADE) + ["pair", "trades", "trade", "bid", "ask", "bidAmt", "lastAmt", "serverTimeUTC", "timestamp"]
INST = magnr_instruments()


def _mutate(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {**base, **changes}


@FUZZ
@given(st.one_of(JSON, st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3).map(lambda c: _mutate(TRADE, c))))
def test_parsers_raise_only_malformed(obj: Any) -> None:
    for parse in (P.parse_trade, P.parse_trade_answer, P.parse_created,
                  lambda o: P.parse_trades(o, lambda e: None),
                  lambda o: P.parse_itbit_ticker(o, INST["ItBit-XBTUSD"], 1),
                  lambda o: P.parse_itbit_last(o, INST["ItBit-XBTUSD"], 1, 1),
                  lambda o: P.parse_bitfinex_ticker(o, INST["Bitfinex-BTCUSD"], 1),
                  lambda o: P.parse_bitstamp_ticker(o, INST["Bitstamp-BTCUSD"], 1)):
        try:
            parse(obj)
        except MalformedMessage:
            pass
    P.parse_errors(obj)


CREATE = {"leverage": 10, "side": "buy", "exchange": "ItBit", "pair": "XBTUSD", "size": Decimal("0.1")}
KEY, SECRET = "fuzz-key", "fuzz-secret"


def _testnet() -> MagnrTestnet:
    exchange = Exchange(default_instruments(), [AccountConfig("a", KEY, SECRET, {"BTC": Decimal(1)})], seed=1,
                        clock_ms=lambda: 1_444_251_389_000)
    SyntheticMarket(exchange, MarketSettings(history_minutes=2)).prime()
    return MagnrTestnet(exchange, options=MagnrTestnetOptions(open_delay_ms=0))


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(CREATE) + ["stop_margin", "take", "type", "margin", "trail_margin"]),
                       ATOMS, max_size=3))
def test_the_testnet_answers_any_create_with_a_4xx_or_201(changes: dict[str, Any]) -> None:
    trio.run(_create, changes)


async def _create(changes: dict[str, Any]) -> None:
    testnet = _testnet()
    body = {**CREATE, **changes}
    raw = dumps_body({k: v for k, v in body.items() if isinstance(v, (int, str, Decimal)) and not isinstance(v, bool)})
    tonce = "1444251389000"
    request = HttpRequest("POST", "/api/v1/trades/", "", raw,
                          {"authorization": authorization(KEY, signature(SECRET, tonce, KEY, raw)), "tonce": tonce},
                          "127.0.0.1")
    try:
        status, _, _ = testnet._handle(request)
        assert status == 201
    except MagnrError as e:
        assert e.status in (400, 409) and e.messages
