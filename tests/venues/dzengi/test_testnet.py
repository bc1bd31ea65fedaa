"""The Dzengi testnet over real HTTP and WebSocket on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_websocket
import wsproto
import wsproto.events

from engine import Side
from venues._testnet import FaultSettings, MarketSettings
from venues.dzengi.signer import Credentials, sign_params, sign_request, sign_ws_payload
from venues.dzengi.testnet import DzengiTestnet, DzengiTestnetOptions, open_dzengi_testnet

D = Decimal


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def creds(testnet: DzengiTestnet, name: str = "alice") -> Credentials:
    account = testnet.accounts[name]
    return Credentials(account.api_key, account.secret)


async def signed(client: httpx.AsyncClient, testnet: DzengiTestnet, method: str, path: str,
                 params: list[tuple[str, object]], *, body: bool = False, name: str = "alice",
                 timestamp: int | None = None, recv_window: int | None = 5000,
                 version: str = "v2", timeout: float | None = None) -> httpx.Response:
    req = sign_request(creds(testnet, name), params, now_ms() if timestamp is None else timestamp, recv_window,
                       in_body=body)
    url = f"/api/{version}/{path}" + (f"?{req.query}" if req.query else "")
    extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    return await client.request(method, url, content=req.body or None, headers=req.headers, **extra)


@pytest.fixture
async def client(dzengi_quiet_testnet: DzengiTestnet) -> Any:
    async with httpx.AsyncClient(base_url=dzengi_quiet_testnet.url) as c:
        yield c


# ---------------------------------------------------------------------------------------------
# public endpoints
# ---------------------------------------------------------------------------------------------


async def test_public_endpoints_v1_and_v2(dzengi_quiet_testnet: DzengiTestnet, client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        for version in ("v1", "v2"):
            info = (await client.get(f"/api/{version}/exchangeInfo")).json()
            assert [r["limit"] for r in info["rateLimits"]] == [1200, 10, 864000]
            symbols = {s["symbol"]: s for s in info["symbols"]}
            assert set(symbols) == {"BTC/USD", "ETH/USD", "BTC/USD_LEVERAGE", "ETH/USD_LEVERAGE"}
            assert symbols["BTC/USD"]["marketType"] == "SPOT"
            assert symbols["BTC/USD_LEVERAGE"]["marketType"] == "LEVERAGE"
            assert "STOP" in symbols["BTC/USD_LEVERAGE"]["orderTypes"]
            filters = {f["filterType"]: f for f in symbols["BTC/USD"]["filters"]}
            assert filters["LOT_SIZE"]["stepSize"] == "0.0001" and filters["PRICE_FILTER"]["tickSize"] == "0.01"
            assert isinstance(symbols["BTC/USD"]["quotePrecision"], int)
        depth = (await client.get("/api/v2/depth", params={"symbol": "BTC/USD", "limit": 5})).json()
        assert len(depth["bids"]) == 5 and depth["bids"][0][0] < depth["asks"][0][0]
        assert all(isinstance(x, (int, float)) for level in depth["bids"] for x in level)
        klines = (await client.get("/api/v2/klines", params={"symbol": "BTC/USD", "interval": "1h", "limit": 3})).json()
        assert len(klines) == 3 and isinstance(klines[0][0], int) and isinstance(klines[0][1], str)
        for spelling in ("heiken-ashi", "heikin-ashi"):
            ha = (await client.get("/api/v2/klines", params={"symbol": "BTC/USD", "interval": "1h", "limit": 3,
                                                            "type": spelling})).json()
            assert len(ha) == 3 and ha != klines
            # Heiken-Ashi close = average of the classic bar's OHLC
            o, h, low, c = (D(x) for x in klines[-1][1:5])
            assert D(ha[-1][4]) == ((o + h + low + c) / 4).quantize(D("0.01"))
        ticker = (await client.get("/api/v2/ticker/24hr", params={"symbol": "BTC/USD"})).json()
        assert ticker["symbol"] == "BTC/USD" and D(ticker["bidPrice"]) < D(ticker["askPrice"])
        assert len((await client.get("/api/v2/ticker/24hr")).json()) == 4
        assert (await client.get("/api/v2/time")).json()["serverTime"] > 0
        assert {c["name"] for c in (await client.get("/api/v2/currencies")).json()} >= {"USD", "BTC", "ETH"}
        bad = await client.get("/api/v2/depth", params={"symbol": "NOPE/USD"})
        assert bad.status_code == 400 and bad.json() == {"code": -1121, "msg": "Invalid symbol."}


# ---------------------------------------------------------------------------------------------
# authentication and timing
# ---------------------------------------------------------------------------------------------


async def test_signature_query_body_and_mixed_are_accepted(dzengi_quiet_testnet: DzengiTestnet,
                                                           client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    with trio.fail_after(5):
        r = await signed(client, tn, "GET", "account", [("showZeroBalance", "true")])
        assert r.status_code == 200, r.text
        assert {b["asset"] for b in r.json()["balances"]} >= {"USD", "BTC", "ETH"}
        r = await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                       ("quantity", "0.001"), ("price", "20000")], body=True)
        assert r.status_code == 200, r.text
        # mixed: part in the query, part in the body; totalParams = query + body
        query = "symbol=BTC%2FUSD&side=BUY&type=LIMIT"
        body = f"quantity=0.001&price=20000&timestamp={now_ms()}"
        sig = sign_params(creds(tn).secret, query + body)
        r = await client.post(f"/api/v1/order?{query}", content=f"{body}&signature={sig}",
                              headers={"X-MBX-APIKEY": creds(tn).api_key,
                                       "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200, r.text
        # a parameter in both places: the query wins (the body says SELL, the order is a BUY)
        query = f"symbol=BTC%2FUSD&side=BUY&type=LIMIT&quantity=0.001&price=20000&timestamp={now_ms()}"
        body = "side=SELL"
        sig = sign_params(creds(tn).secret, query + body)
        r = await client.post(f"/api/v2/order?{query}&signature={sig}", content=body,
                              headers={"X-MBX-APIKEY": creds(tn).api_key,
                                       "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and r.json()["side"] == "BUY", r.text


async def test_auth_errors(dzengi_quiet_testnet: DzengiTestnet, client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    with trio.fail_after(5):
        req = sign_request(creds(tn), [("symbol", "BTC/USD")], now_ms(), 5000)
        tampered = req.query.replace("symbol=BTC%2FUSD", "symbol=ETH%2FUSD")
        r = await client.get(f"/api/v2/openOrders?{tampered}", headers=req.headers)
        assert r.status_code == 400 and r.json()["code"] == -1022
        r = await client.get(f"/api/v2/openOrders?{req.query}")
        assert r.status_code == 401 and r.json()["code"] == -2014
        r = await client.get(f"/api/v2/openOrders?{req.query}", headers={"X-MBX-APIKEY": "no-such-key"})
        assert r.status_code == 401 and r.json()["code"] == -2015
        r = await signed(client, tn, "GET", "account", [], timestamp=now_ms() - 10_000)
        assert r.status_code == 400 and r.json()["code"] == -1021
        r = await signed(client, tn, "GET", "account", [], timestamp=now_ms() + 5_000)
        assert r.status_code == 400 and r.json()["code"] == -1021
        # a bigger recvWindow makes the old timestamp acceptable, above 60000 is refused
        r = await signed(client, tn, "GET", "account", [], timestamp=now_ms() - 10_000, recv_window=60_000)
        assert r.status_code == 200
        r = await signed(client, tn, "GET", "account", [], recv_window=60_001)
        assert r.status_code == 400 and r.json()["code"] == -1131
        unsigned = await client.get(f"/api/v2/account?timestamp={now_ms()}", headers=req.headers)
        assert unsigned.status_code == 400 and unsigned.json()["code"] == -1102


# ---------------------------------------------------------------------------------------------
# orders
# ---------------------------------------------------------------------------------------------


async def test_order_types_and_time_in_force(dzengi_quiet_testnet: DzengiTestnet, client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    bid, _, ask, _ = tn.exchange.best_bid_ask("BTC/USD")
    assert bid is not None and ask is not None
    with trio.fail_after(5):
        market = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"),
                                                             ("type", "MARKET"), ("quantity", "0.01")])).json()
        assert market["status"] == "FILLED" and market["executedQty"] == "0.01"
        assert market["fills"][0]["price"] == str(ask.normalize()) and market["timeInForce"] == "FOK"
        limit = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                            ("timeInForce", "GTC"), ("quantity", "0.01"),
                                                            ("price", str(bid - 100))])).json()
        assert limit["status"] == "NEW" and "fills" not in limit
        open_orders = (await signed(client, tn, "GET", "openOrders", [("symbol", "BTC/USD")])).json()
        assert [o["orderId"] for o in open_orders] == [limit["orderId"]]
        assert open_orders[0]["working"] is True and open_orders[0]["leverage"] is False
        fetched = (await signed(client, tn, "GET", "fetchOrder", [("symbol", "BTC/USD"),
                                                                 ("orderId", limit["orderId"])])).json()
        assert fetched["quantity"] == 0.01 and fetched["timeInForceType"] == "GTC" and fetched["status"] == "NEW"
        assert tn.accounts["alice"].balance("USD").locked > 0
        canceled = (await signed(client, tn, "DELETE", "order", [("symbol", "BTC/USD"),
                                                                ("orderId", limit["orderId"])])).json()
        assert canceled["status"] == "CANCELED"
        assert tn.accounts["alice"].balance("USD").locked == 0
        again = await signed(client, tn, "DELETE", "order", [("symbol", "BTC/USD"), ("orderId", limit["orderId"])])
        assert again.status_code == 400 and again.json()["code"] == -2011
        ioc = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                          ("timeInForce", "IOC"), ("quantity", "0.01"),
                                                          ("price", str(bid - 100))])).json()
        assert ioc["status"] == "EXPIRED" and ioc["executedQty"] == "0"
        fok = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                          ("timeInForce", "FOK"), ("quantity", "3"),
                                                          ("price", str(ask + 100))])).json()
        assert fok["status"] == "EXPIRED" and fok["executedQty"] == "0"
        crossing = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "SELL"),
                                                               ("type", "LIMIT"), ("quantity", "0.01"),
                                                               ("price", str(bid))])).json()
        assert crossing["status"] == "FILLED"
        stop = await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "STOP"),
                                                          ("quantity", "0.01"), ("price", str(ask + 500))])
        assert stop.status_code == 400 and stop.json()["code"] == -1128
        trades = (await signed(client, tn, "GET", "myTrades", [("symbol", "BTC/USD")])).json()
        assert len(trades) == 2 and {t["isBuyer"] for t in trades} == {True, False}
        assert all(isinstance(t["price"], str) and t["commissionAsset"] == "USD" for t in trades)


async def test_filters_round_or_reject(dzengi_quiet_testnet: DzengiTestnet, client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    with trio.fail_after(5):
        # quantity rounds down to the step, price rounds up to the tick
        r = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                        ("quantity", "0.00159"), ("price", "20000.001")])).json()
        assert r["origQty"] == "0.0015" and r["price"] == "20000.01"
        for params, name in (([("quantity", "0.00009"), ("price", "20000")], "LOT_SIZE"),
                             ([("quantity", "0.0001"), ("price", "20000")], "MIN_NOTIONAL"),
                             ([("quantity", "101"), ("price", "20000")], "LOT_SIZE")):
            bad = await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"),
                                                             ("type", "LIMIT"), *params])
            assert bad.status_code == 400 and bad.json()["code"] == -1013 and name in bad.json()["msg"]
        broke = await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                           ("quantity", "50"), ("price", "20000")], name="bob")
        assert broke.status_code == 400 and broke.json()["code"] == -2010
        illegal = await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"),
                                                             ("type", "LIMIT"), ("quantity", "1"), ("price", "1,5")])
        assert illegal.status_code == 400 and illegal.json()["code"] == -1100


# ---------------------------------------------------------------------------------------------
# leverage
# ---------------------------------------------------------------------------------------------


async def test_leverage_positions_tp_sl_and_close(dzengi_quiet_testnet: DzengiTestnet,
                                                  client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    sym = "BTC/USD_LEVERAGE"
    with trio.fail_after(5):
        settings = (await signed(client, tn, "GET", "leverageSettings", [("symbol", sym)])).json()
        assert settings == {"values": [1, 2, 5, 10, 20], "value": 10}
        spot = await signed(client, tn, "GET", "leverageSettings", [("symbol", "BTC/USD")])
        assert spot.json()["code"] == -1128
        account = (await signed(client, tn, "GET", "account", [])).json()
        usd_account = next(b["accountId"] for b in account["balances"] if b["asset"] == "USD")
        bad_lev = await signed(client, tn, "POST", "order", [("symbol", sym), ("side", "BUY"), ("type", "MARKET"),
                                                             ("quantity", "0.1"), ("leverage", "3")])
        assert bad_lev.json()["code"] == -1128
        order = (await signed(client, tn, "POST", "order", [("symbol", sym), ("side", "BUY"), ("type", "MARKET"),
                                                            ("quantity", "0.1"), ("leverage", "5"),
                                                            ("accountId", usd_account)])).json()
        assert order["status"] == "FILLED" and order["margin"] == 0.2
        positions = (await signed(client, tn, "GET", "tradingPositions", [])).json()["positions"]
        assert len(positions) == 1
        pos = positions[0]
        assert pos["openQuantity"] == 0.1 and pos["margin"] == 0.2 and pos["state"] == "ACTIVE"
        assert pos["accountId"] == usd_account and pos["orderId"] == order["orderId"]
        open_price = D(str(pos["openPrice"]))
        assert tn.accounts["alice"].balance("USD").locked == open_price * D("0.1") / 5
        # a TP/SL on the wrong side is refused; a valid one is set
        wrong = await signed(client, tn, "POST", "updateTradingPosition", [("positionId", pos["id"]),
                                                                           ("takeProfit", str(open_price - 1000))])
        assert wrong.json()["code"] == -1128
        tp = open_price + 30
        ok = (await signed(client, tn, "POST", "updateTradingPosition", [("positionId", pos["id"]),
                                                                         ("takeProfit", str(tp)),
                                                                         ("stopLoss", str(open_price - 3000))])).json()
        assert ok["state"] == "PROCESSED"
        # the market rises through the take-profit: the position closes by itself
        tn.market.mids["BTC"] += 200
        tn.market.step()
        tn.market.trade(sym, Side.BUY, D("0.001"))
        assert (await signed(client, tn, "GET", "tradingPositions", [])).json()["positions"] == []
        history = (await signed(client, tn, "GET", "tradingPositionsHistory", [("symbol", sym)])).json()["history"]
        assert [h["status"] for h in history][0] == "OPENED"
        closed = history[-1]
        assert closed["status"] == "CLOSED" and closed["source"] == "TP" and closed["rpl"] > 0
        assert tn.accounts["alice"].balance("USD").locked == 0
        # a short, closed by hand
        short = (await signed(client, tn, "POST", "order", [("symbol", sym), ("side", "SELL"), ("type", "MARKET"),
                                                            ("quantity", "0.05")])).json()
        assert short["margin"] == 0.1  # default leverage 10
        pos = (await signed(client, tn, "GET", "tradingPositions", [])).json()["positions"][0]
        assert pos["openQuantity"] == -0.05
        closing = (await signed(client, tn, "POST", "closeTradingPosition", [("positionId", pos["id"])])).json()
        assert closing["request"][0]["state"] == "PROCESSED" and closing["request"][0]["positionId"] == pos["id"]
        assert (await signed(client, tn, "GET", "tradingPositions", [])).json()["positions"] == []
        unknown = await signed(client, tn, "POST", "closeTradingPosition", [("positionId", pos["id"])])
        assert unknown.status_code == 400


async def test_leverage_stop_order_triggers_and_can_be_moved(dzengi_quiet_testnet: DzengiTestnet,
                                                             client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    sym = "BTC/USD_LEVERAGE"
    last = tn.exchange.last_price(sym)
    assert last is not None
    with trio.fail_after(5):
        immediate = await signed(client, tn, "POST", "order", [("symbol", sym), ("side", "BUY"), ("type", "STOP"),
                                                               ("quantity", "0.01"), ("price", str(last - 100))])
        assert immediate.json()["code"] == -2010
        stop = (await signed(client, tn, "POST", "order", [("symbol", sym), ("side", "BUY"), ("type", "STOP"),
                                                           ("quantity", "0.01"), ("price", str(last + 500))])).json()
        assert stop["status"] == "NEW" and stop["type"] == "STOP"
        moved = (await signed(client, tn, "POST", "updateTradingOrder", [("orderId", stop["orderId"]),
                                                                         ("newPrice", str(last + 50))])).json()
        assert moved["state"] == "PROCESSED"
        not_cancelable = await signed(client, tn, "DELETE", "order", [("symbol", sym), ("orderId", stop["orderId"])])
        assert "only for LIMIT" in not_cancelable.json()["msg"]
        # the market trades up through the trigger: the stop becomes a market order and fills
        tn.market.mids["BTC"] += 300
        tn.market.step()
        tn.market.trade(sym, Side.BUY, D("0.001"))
        fetched = (await signed(client, tn, "GET", "fetchOrder", [("symbol", sym),
                                                                 ("orderId", stop["orderId"])])).json()
        assert fetched["status"] == "FILLED", fetched
        assert len((await signed(client, tn, "GET", "tradingPositions", [])).json()["positions"]) == 1


# ---------------------------------------------------------------------------------------------
# rate limits and faults
# ---------------------------------------------------------------------------------------------


async def test_429_then_418(dzengi_accounts_file: Path) -> None:
    options = DzengiTestnetOptions(request_weight_per_minute=5, ban_after_violations=2, ban_s=60)
    fixed = 1_800_000_000_000 + 10_000  # well inside one minute window

    async with open_dzengi_testnet(dzengi_accounts_file, market=False, options=options,
                                   clock_ms=lambda: fixed) as tn, httpx.AsyncClient(base_url=tn.url) as c:
        with trio.fail_after(5):
            for _ in range(5):
                assert (await c.get("/api/v2/time")).status_code == 200
            limited = await c.get("/api/v2/time")
            assert limited.status_code == 429 and limited.json()["code"] == -1003
            assert int(limited.headers["Retry-After"]) == 50
            assert (await c.get("/api/v2/time")).status_code == 429  # first violation
            banned = await c.get("/api/v2/time")  # second violation: banned
            assert banned.status_code == 418 and int(banned.headers["Retry-After"]) == 60
            assert (await c.get("/api/v2/exchangeInfo")).status_code == 418


async def test_orders_per_second_limit(dzengi_accounts_file: Path) -> None:
    options = DzengiTestnetOptions(orders_per_second=2)
    async with open_dzengi_testnet(dzengi_accounts_file, options=options, run_market=False,
                                   market=MarketSettings(history_minutes=10)) as tn, \
            httpx.AsyncClient(base_url=tn.url) as c:
        with trio.fail_after(5):
            codes = []
            for _ in range(3):
                r = await signed(c, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                          ("quantity", "0.001"), ("price", "20000")])
                codes.append(r.status_code if r.status_code != 429 else r.json()["code"])
            # the window may roll over once between requests: at most the last one is refused
            assert codes[:2] == [200, 200] or codes[1:] == [200, 200]


async def test_fault_5xx_after_order_keeps_the_order(dzengi_quiet_testnet: DzengiTestnet,
                                                     client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    tn.faults.configure(FaultSettings(error_5xx_after_order_every=1))
    with trio.fail_after(5):
        r = await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                       ("quantity", "0.001"), ("price", "20000")])
        assert r.status_code == 500 and r.json()["code"] == -1000
        tn.faults.configure(FaultSettings())
        open_orders = (await signed(client, tn, "GET", "openOrders", [("symbol", "BTC/USD")])).json()
        assert len(open_orders) == 1 and open_orders[0]["price"] == "20000"


async def test_fault_5xx_probability_is_seeded(dzengi_quiet_testnet: DzengiTestnet,
                                               client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    outcomes = []
    for _ in range(2):
        tn.faults.configure(FaultSettings(error_5xx_after_order_probability=0.5, seed=3))
        outcomes.append([tn.faults.fail_after_order() for _ in range(20)])
    assert outcomes[0] == outcomes[1] and 0 < sum(outcomes[0]) < 20


async def test_fault_timeout_after_order_executes_it_and_holds_the_answer(dzengi_quiet_testnet: DzengiTestnet,
                                                                           client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    tn.faults.configure(FaultSettings(timeout_after_order_every=1, timeout_after_order_s=5.0))
    with trio.fail_after(5):
        with pytest.raises(httpx.ReadTimeout):
            await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "MARKET"),
                                                       ("quantity", "0.01")], timeout=0.3)
        assert tn.faults.injected["timeout"] == 1
        tn.faults.configure(FaultSettings())
        fills = (await signed(client, tn, "GET", "myTrades", [("symbol", "BTC/USD")])).json()
        assert [f["qty"] for f in fills] == ["0.01"]  # executed although the client heard nothing


async def test_fault_reset_after_order_executes_it_and_drops_the_connection(dzengi_quiet_testnet: DzengiTestnet,
                                                                             client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    tn.faults.configure(FaultSettings(reset_after_order_every=2))
    order = [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.001"), ("price", "20000")]
    with trio.fail_after(5):
        assert (await signed(client, tn, "POST", "order", order)).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await signed(client, tn, "POST", "order", order)
        assert tn.faults.injected["reset"] == 1
        open_orders = (await signed(client, tn, "GET", "openOrders", [("symbol", "BTC/USD")])).json()
        assert len(open_orders) == 2  # the second was booked before the connection went


async def test_fault_429_probability_is_seeded(dzengi_quiet_testnet: DzengiTestnet, client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    patterns = []
    for seed in (5, 5, 6):
        tn.faults.configure(FaultSettings(force_429_probability=0.4, seed=seed))
        patterns.append([tn.faults.force_429(0.0) for _ in range(40)])
    assert patterns[0] == patterns[1] and patterns[0] != patterns[2]
    assert 5 < sum(patterns[0]) < 35
    with trio.fail_after(5):
        tn.faults.configure(FaultSettings(force_429_probability=1.0))
        r = await client.get("/api/v2/time")
        assert r.status_code == 429 and r.json()["code"] == -1003 and r.headers["Retry-After"] == "1"


async def test_fault_clock_offset_shifts_trade_and_order_times(dzengi_quiet_testnet: DzengiTestnet,
                                                               client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    tn.faults.configure(FaultSettings(clock_offset_ms=30_000))
    with trio.fail_after(5):
        server = (await client.get("/api/v2/time")).json()["serverTime"]
        assert abs(server - (now_ms() + 30_000)) < 2000
        placed = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"),
                                                             ("type", "MARKET"), ("quantity", "0.01")],
                               timestamp=server)).json()
        assert abs(placed["transactTime"] - server) < 2000
        fills = (await signed(client, tn, "GET", "myTrades", [("symbol", "BTC/USD")], timestamp=server)).json()
        assert abs(fills[0]["time"] - server) < 2000
        trades = (await client.get("/api/v2/aggTrades", params={"symbol": "BTC/USD"})).json()
        assert abs(trades[-1]["T"] - server) < 2000


async def test_fault_forced_429_latency_and_clock_offset(dzengi_quiet_testnet: DzengiTestnet,
                                                         client: httpx.AsyncClient) -> None:
    tn = dzengi_quiet_testnet
    with trio.fail_after(5):
        tn.faults.configure(FaultSettings(force_429_every=2))
        assert [(await client.get("/api/v2/time")).status_code for _ in range(2)] == [200, 429]
        tn.faults.configure(FaultSettings(force_429_from_s=0, force_429_until_s=1e9))
        assert (await client.get("/api/v2/time")).status_code == 429
        tn.faults.configure(FaultSettings(latency_ms=20))
        assert (await client.get("/api/v2/time")).status_code in (200, 429)
        assert tn.faults.injected["latency"] == 1
        await trio.sleep(1.0)  # let the forced 429's Retry-After pass (no ban)
        tn.faults.configure(FaultSettings(clock_offset_ms=-30_000))
        server = (await client.get("/api/v2/time")).json()["serverTime"]
        assert abs(server - (now_ms() - 30_000)) < 2000
        # a timestamp from our clock is now "ahead of the server": -1021; the server's time works
        r = await signed(client, tn, "GET", "account", [])
        assert r.json()["code"] == -1021
        r = await signed(client, tn, "GET", "account", [], timestamp=server)
        assert r.status_code == 200


# ---------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------


async def ws_request(ws: trio_websocket.WebSocketConnection, destination: str, payload: dict[str, Any],
                     correlation: int) -> dict[str, Any]:
    await ws.send_message(json.dumps({"destination": destination, "correlationId": correlation,
                                      "payload": payload}))
    while True:
        message = json.loads(await ws.get_message())
        if message.get("correlationId") == correlation:
            return message


async def test_ws_subscriptions_and_pushes(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(8):
        async with trio_websocket.open_websocket_url(dzengi_testnet.ws_url) as ws:
            ack = await ws_request(ws, "marketData.subscribe", {"symbols": ["BTC/USD", "NOPE"]}, 1)
            assert ack["status"] == "OK" and ack["payload"]["subscriptions"] == {"BTC/USD": "PROCESSED",
                                                                                  "NOPE": "INVALID"}
            await ws_request(ws, "depthMarketData.subscribe", {"symbols": ["BTC/USD"]}, 2)
            await ws_request(ws, "OHLCMarketData.subscribe", {"symbols": ["BTC/USD"], "intervals": ["1m", "M5"]}, 3)
            await ws_request(ws, "trades.subscribe", {"symbols": ["BTC/USD"]}, 4)
            seen: dict[str, dict[str, Any]] = {}
            while len(seen) < 5:
                message = json.loads(await ws.get_message())
                dest = message.get("destination")
                if dest == "ohlc.event":
                    seen[f"ohlc {message['payload']['interval']}"] = message["payload"]
                elif dest in ("internal.quote", "marketdepth.event", "internal.trade"):
                    seen[dest] = message["payload"]
            quote = seen["internal.quote"]
            assert quote["symbolName"] == "BTC/USD" and quote["bid"] < quote["ofr"]
            depth = seen["marketdepth.event"]["data"]
            assert depth["bid"] and depth["ofr"] and isinstance(depth["ts"], int)
            trade = seen["internal.trade"]
            assert trade["symbol"] == "BTC/USD" and trade["size"] > 0 and isinstance(trade["buyer"], bool)
            assert {"ohlc 1m", "ohlc M5"} <= set(seen) and seen["ohlc M5"]["type"] == "classic"
            pong = await ws_request(ws, "ping", {}, 99)
            assert pong["status"] == "OK" and pong["destination"] == "ping"


async def test_ws_rest_over_ws_signed_and_public(dzengi_quiet_testnet: DzengiTestnet) -> None:
    tn = dzengi_quiet_testnet
    with trio.fail_after(5):
        async with trio_websocket.open_websocket_url(tn.ws_url) as ws:
            lines = await ws_request(ws, "/api/v2/klines", {"symbol": "BTC/USD", "interval": "1h", "limit": 2}, 1)
            assert lines["status"] == "OK" and len(lines["payload"]["lines"]) == 2
            payload = sign_ws_payload(creds(tn), {"showZeroBalance": True}, now_ms())
            account = await ws_request(ws, "/api/v2/account", payload, 2)
            assert account["status"] == "OK" and account["payload"]["balances"]
            order = sign_ws_payload(creds(tn), {"symbol": "BTC/USD", "side": "BUY", "type": "LIMIT",
                                                "quantity": "0.001", "price": "20000"}, now_ms())
            created = await ws_request(ws, "/api/v2/order/create", order, 3)
            assert created["status"] == "OK" and created["payload"]["status"] == "NEW"
            tampered = dict(order, price="21000")
            bad = await ws_request(ws, "/api/v2/order/create", tampered, 4)
            assert bad["status"] == "BAD_REQUEST" and bad["payload"]["errorCode"] == -1022
            cancel = sign_ws_payload(creds(tn), {"symbol": "BTC/USD", "orderId": created["payload"]["orderId"]},
                                     now_ms())
            canceled = await ws_request(ws, "/api/v2/order/cancel", cancel, 5)
            assert canceled["payload"]["status"] == "CANCELED"
            orders = await ws_request(ws, "/api/v1/openOrders", sign_ws_payload(creds(tn), {}, now_ms()), 6)
            assert orders["payload"] == {"openOrders": []}


async def close_transport(ws: trio_websocket.WebSocketConnection) -> None:
    # When the *server* closes, trio-websocket waits for the TCP close and its reader may be
    # cancelled first, leaving the socket to the garbage collector; close it ourselves.
    await ws._stream.aclose()


async def test_ws_idle_close_and_drop_fault(dzengi_accounts_file: Path) -> None:
    options = DzengiTestnetOptions(ws_idle_timeout_s=0.3)
    async with open_dzengi_testnet(dzengi_accounts_file, market=False, options=options) as tn:
        with trio.fail_after(5):
            async with trio_websocket.open_websocket_url(tn.ws_url) as ws:
                for i in range(3):  # pings keep it open past the idle time
                    await trio.sleep(0.15)
                    assert (await ws_request(ws, "ping", {}, i))["status"] == "OK"
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1000
                await close_transport(ws)
            tn.faults.configure(FaultSettings(ws_drop_every_n_messages=2))
            async with trio_websocket.open_websocket_url(tn.ws_url) as ws:
                assert (await ws_request(ws, "ping", {}, 1))["status"] == "OK"
                assert (await ws_request(ws, "ping", {}, 2))["status"] == "OK"
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws_request(ws, "ping", {}, 3)
                assert closed.value.reason.code == 1011
                await close_transport(ws)
            assert tn.faults.injected["ws_drop"] == 1
            tn.faults.configure(FaultSettings(ws_drop_after_s=0.2))
            async with trio_websocket.open_websocket_url(tn.ws_url) as ws:
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1011
                await close_transport(ws)


class RawWsClient:
    """A WebSocket client on a bare TCP stream (wsproto), so a test can leave the way a crashed
    or unplugged client does: no close frame, or a TCP reset."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.messages: list[str] = []

    @classmethod
    async def connect(cls, ws_url: str) -> RawWsClient:
        address, _, path = ws_url.removeprefix("ws://").partition("/")
        host, _, port = address.partition(":")
        client = cls(await trio.open_tcp_stream(host, int(port)))
        await client.stream.send_all(client.conn.send(wsproto.events.Request(host=address, target="/" + path)))
        while not await client._read(wsproto.events.AcceptConnection):
            pass
        return client

    async def _read(self, kind: type) -> bool:
        data = await self.stream.receive_some(65536)
        assert data, "the server closed the connection"
        self.conn.receive_data(data)
        found = False
        for event in self.conn.events():
            if isinstance(event, wsproto.events.TextMessage):
                self.messages.append(event.data)
            found = found or isinstance(event, kind)
        return found

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send_all(self.conn.send(wsproto.events.TextMessage(data=json.dumps(message))))

    async def receive_until(self, count: int) -> None:
        while len(self.messages) < count:
            await self._read(wsproto.events.TextMessage)

    async def leave(self, how: str) -> None:
        if how == "close frame":
            await self.stream.send_all(self.conn.send(wsproto.events.CloseConnection(code=1000)))
        elif how == "reset":
            self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()


@pytest.mark.parametrize("how", ["close frame", "no close frame", "reset"])
async def test_a_client_leaving_mid_stream_is_not_an_asgi_error(dzengi_testnet: DzengiTestnet, how: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    listeners = len(dzengi_testnet.exchange._listeners)
    with trio.fail_after(10):
        client = await RawWsClient.connect(dzengi_testnet.ws_url)
        symbols = {"symbols": ["BTC/USD", "ETH/USD"]}
        for n, destination in enumerate(("marketData.subscribe", "depthMarketData.subscribe", "trades.subscribe")):
            await client.send({"destination": destination, "correlationId": n, "payload": symbols})
        await client.receive_until(10)  # acks, then pushes from the running market
        assert len(dzengi_testnet.exchange._listeners) == listeners + 1
        await client.leave(how)  # while the server keeps pushing
        while len(dzengi_testnet.exchange._listeners) > listeners:  # the session has ended
            await trio.sleep(0.01)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or "ASGI" in r.getMessage()]
    assert problems == []


# ---------------------------------------------------------------------------------------------
# command line (the uniform venue interface: venues.dzengi.add_testnet_arguments / run_testnet)
# ---------------------------------------------------------------------------------------------


def test_cli_refuses_a_bad_accounts_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import venues.dzengi as package

    bad = tmp_path / "accounts.toml"
    bad.write_text('[[accounts]]\nname = "a"\napi_key = ""\nsecret = "s"\n')
    parser = argparse.ArgumentParser()
    package.add_testnet_arguments(parser)
    args = parser.parse_args(["--accounts", str(bad), "--port", "0", "--no-market"])
    assert package.run_testnet(args) == 2
    assert "accounts[0].api_key" in capsys.readouterr().err


async def test_cli_serves_the_protocol_and_clients_may_vanish(dzengi_accounts_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "venues.dzengi.testnet", "--accounts", str(dzengi_accounts_file), "--port", "0",
         "--market-interval-ms", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with trio.fail_after(20):
            lines = [await trio.to_thread.run_sync(proc.stdout.readline) for _ in range(2)]  # type: ignore[union-attr]
            assert lines[0].startswith("dzengi testnet REST"), lines
            url = lines[0].split()[-1].removesuffix("/api/v2/")
            ws_url = lines[1].split()[-1]
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/api/v1/time")).json()["serverTime"] > 0
            for how in ("close frame", "no close frame", "reset"):
                client = await RawWsClient.connect(ws_url)
                await client.send({"destination": "depthMarketData.subscribe", "correlationId": 1,
                                   "payload": {"symbols": ["BTC/USD", "ETH/USD"]}})
                await client.receive_until(3)
                await client.leave(how)
            async with httpx.AsyncClient(base_url=url) as http:  # still serving
                assert (await http.get("/api/v1/time")).status_code == 200
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert await trio.to_thread.run_sync(proc.wait) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            await trio.to_thread.run_sync(proc.wait)
        errors = proc.stderr.read()  # type: ignore[union-attr]
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert "Error in ASGI" not in errors and "Traceback" not in errors, errors


# ---------------------------------------------------------------------------------------------
# an unmodified third-party client: python-currencycom 0.2.3 (requests-based, v1, query-string
# signing with the signature pair first), pointed at the testnet by replacing its URL constants
# ---------------------------------------------------------------------------------------------


async def test_third_party_python_currencycom_client(dzengi_quiet_testnet: DzengiTestnet,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    client_module = pytest.importorskip("currencycom.client")
    constants = client_module.CurrencyComConstants
    base = f"{dzengi_quiet_testnet.url}/api/v1/"
    original = constants.BASE_URL
    for name in dir(constants):
        value = getattr(constants, name)
        if isinstance(value, str) and value.startswith(original):
            monkeypatch.setattr(constants, name, base + value[len(original):])
    assert constants.ORDER_ENDPOINT.startswith("http://127.0.0.1:")
    account = dzengi_quiet_testnet.accounts["alice"]
    client = client_module.Client(account.api_key, account.secret)

    def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["time"] = client.get_server_time()
        out["info"] = client.get_exchange_info()
        out["book"] = client.get_order_book("BTC/USD", limit=5)
        out["account"] = client.get_account_info()
        out["market"] = client.new_order("BTC/USD", client_module.OrderSide.BUY, client_module.OrderType.MARKET,
                                         0.01)
        out["limit"] = client.new_order("BTC/USD", client_module.OrderSide.BUY, client_module.OrderType.LIMIT,
                                        0.01, price=20000,
                                        new_order_resp_type=client_module.NewOrderResponseType.RESULT)
        out["open"] = client.get_open_orders("BTC/USD")
        out["cancel"] = client.cancel_order("BTC/USD", out["limit"]["orderId"])
        out["trades"] = client.get_account_trade_list("BTC/USD", limit=100)
        out["settings"] = client.get_leverage_settings("BTC/USD_LEVERAGE")
        out["lev"] = client.new_order("BTC/USD_LEVERAGE", client_module.OrderSide.BUY,
                                      client_module.OrderType.MARKET, 0.01, leverage=2,
                                      new_order_resp_type=client_module.NewOrderResponseType.RESULT)
        out["positions"] = client.list_leverage_trades()
        position_id = out["positions"]["positions"][0]["id"]
        out["close"] = client.close_trading_position(position_id)
        out["klines"] = client.get_klines("BTC/USD", client_module.CandlesticksChartInervals.HOUR, limit=3)
        return out

    with trio.fail_after(10):
        out = await trio.to_thread.run_sync(session)
    assert out["time"]["serverTime"] > 0
    assert len(out["info"]["symbols"]) == 4
    assert len(out["book"]["asks"]) == 5
    assert any(b["asset"] == "USD" for b in out["account"]["balances"])
    assert out["market"]["status"] == "FILLED" and out["market"]["fills"]
    assert out["limit"]["status"] == "NEW"
    assert [o["orderId"] for o in out["open"]] == [out["limit"]["orderId"]]
    assert out["cancel"]["status"] == "CANCELED"
    assert len(out["trades"]) == 1
    assert out["settings"]["value"] == 10
    assert out["lev"]["status"] == "FILLED" and out["lev"]["margin"] == 0.5
    assert out["close"]["request"][0]["state"] == "PROCESSED"
    assert len(out["klines"]) == 3
    assert dzengi_quiet_testnet.exchange.positions(dzengi_quiet_testnet.accounts["alice"]) == []


# ---------------------------------------------------------------------------------------------
# --state: the ledger across a restart
# ---------------------------------------------------------------------------------------------


async def test_state_file_keeps_the_ledger_across_a_restart(dzengi_accounts_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "ledger.json"
    market = MarketSettings(seed=7, history_minutes=5)

    async def ledger_of(tn: DzengiTestnet, client: httpx.AsyncClient) -> dict[str, Any]:
        return {
            "open": (await signed(client, tn, "GET", "openOrders", [])).json(),
            "trades": (await signed(client, tn, "GET", "myTrades", [("symbol", "BTC/USD")])).json(),
            # without the unrealized P&L: it follows the market, which a restart does not keep
            "positions": [{k: v for k, v in p.items() if not k.startswith("upl")}
                          for p in (await signed(client, tn, "GET", "tradingPositions", [])).json()["positions"]],
            "balances": {(b["asset"], b["free"], b["locked"])
                         for b in (await signed(client, tn, "GET", "account", [])).json()["balances"]},
        }

    with trio.fail_after(20):
        async with open_dzengi_testnet(dzengi_accounts_file, seed=7, market=market, run_market=False,
                                       state=state) as tn, httpx.AsyncClient(base_url=tn.url) as client:
            resting = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"),
                                                                  ("type", "LIMIT"), ("quantity", "0.01"),
                                                                  ("price", "20000")])).json()
            await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "MARKET"),
                                                       ("quantity", "0.01")])
            await signed(client, tn, "POST", "order", [("symbol", "BTC/USD_LEVERAGE"), ("side", "BUY"),
                                                       ("type", "MARKET"), ("quantity", "0.1"), ("leverage", "5")])
            before = await ledger_of(tn, client)
        assert state.exists() and not list(tmp_path.glob(".*.tmp"))
        assert [o["orderId"] for o in before["open"]] == [resting["orderId"]] and len(before["positions"]) == 1

        async with open_dzengi_testnet(dzengi_accounts_file, seed=7, market=market, run_market=False,
                                       state=state) as tn, httpx.AsyncClient(base_url=tn.url) as client:
            after = await ledger_of(tn, client)
            assert after == before
            fresh = (await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"),
                                                                ("type", "LIMIT"), ("quantity", "0.01"),
                                                                ("price", "20001")])).json()
            assert fresh["orderId"] not in {o["orderId"] for o in before["open"]}
            canceled = await signed(client, tn, "DELETE", "order", [("symbol", "BTC/USD"),
                                                                    ("orderId", resting["orderId"])])
            assert canceled.json()["status"] == "CANCELED"  # the restored order is in the book again
            trade_ids = {t["id"] for t in before["trades"]}
            await signed(client, tn, "POST", "order", [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "MARKET"),
                                                       ("quantity", "0.01")])
            trades = (await signed(client, tn, "GET", "myTrades", [("symbol", "BTC/USD")])).json()
            assert len({t["id"] for t in trades}) == len(trades) and trade_ids < {t["id"] for t in trades}


def test_cli_refuses_a_state_file_naming_an_unknown_account(dzengi_accounts_file: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import random

    from venues.dzengi.testnet import main

    state = tmp_path / "ledger.json"
    version, internal, _ = random.Random(0).getstate()
    state.write_text(json.dumps({"format": 1, "accounts": [{"name": "mallory", "balances": {}}], "orders": [],
                                 "fills": [], "positions": [], "history": [], "next_trade_id": 1,
                                 "next_exec_id": 1, "id_state": [version, list(internal), None]}))
    assert main(["--accounts", str(dzengi_accounts_file), "--state", str(state), "--no-market"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error:") and "mallory" in err
    state.write_text("{not json")
    assert main(["--accounts", str(dzengi_accounts_file), "--state", str(state), "--no-market"]) == 2
    assert "config error:" in capsys.readouterr().err


async def test_cli_state_survives_sigterm_and_kill_9(dzengi_accounts_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "ledger.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "venues.dzengi.testnet", "--accounts", str(dzengi_accounts_file), "--port", "0",
            "--seed", "3", "--state", str(state)]
    creds_alice = Credentials("alice-api-key-0001", "alice-secret-0001")

    async def session(stop: signal.Signals, place: bool) -> list[str]:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            line = await trio.to_thread.run_sync(proc.stdout.readline)  # type: ignore[union-attr]
            url = line.split()[-1].removesuffix("/api/v2/")
            async with httpx.AsyncClient(base_url=url) as http:
                if place:
                    req = sign_request(creds_alice, [("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"),
                                                     ("quantity", "0.001"), ("price", "20000")], now_ms(), 5000)
                    assert (await http.post(f"/api/v2/order?{req.query}", headers=req.headers)).status_code == 200
                    if stop is signal.SIGKILL:
                        await trio.sleep(0.6)  # past the 0.25 s write interval: a kill -9 must not lose it
                req = sign_request(creds_alice, [], now_ms(), 5000)
                orders = (await http.get(f"/api/v2/openOrders?{req.query}", headers=req.headers)).json()
            proc.send_signal(stop)
            await trio.to_thread.run_sync(proc.wait)
            return [o["orderId"] for o in orders]
        finally:
            if proc.poll() is None:
                proc.kill()
                await trio.to_thread.run_sync(proc.wait)
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stderr.close()  # type: ignore[union-attr]

    with trio.fail_after(60):
        first = await session(signal.SIGKILL, place=True)  # kill -9 after the periodic write
        second = await session(signal.SIGTERM, place=True)  # the killed run's order is back; stop writes
        assert len(first) == 1 and len(second) == 2 and set(first) < set(second)
        assert sorted(await session(signal.SIGTERM, place=False)) == sorted(second)
