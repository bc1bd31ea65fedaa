"""The Magnr testnet's dialect over real HTTP: every check, status code and ``{"errors"}`` body."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from venues._testnet.faults import FaultSettings
from venues.magnr.signer import authorization, signature
from venues.magnr.testnet import MagnrTestnet, MagnrTestnetOptions, open_magnr_testnet

from .conftest import ACCOUNTS, KEY, SECRET

GOOD = b'{"leverage":10,"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","stop_margin":500,"size":0.2,"take":1000}'


class Caller:
    def __init__(self, testnet: MagnrTestnet, client: httpx.AsyncClient) -> None:
        self.testnet = testnet
        self.client = client
        self.tonce = int(time.time() * 1000)

    async def call(self, method: str, path: str, body: bytes = b"", *, tonce: int | None = None,
                   secret: str = SECRET, scheme: str = "Basic", headers: dict[str, str] | None = None) -> httpx.Response:
        if tonce is None:
            self.tonce += 1
            tonce = self.tonce
        sig = signature(secret, str(tonce), KEY, body)
        auth = authorization(KEY, sig).replace("Basic", scheme, 1)
        return await self.client.request(method, path, content=body or None,
                                         headers={"Authorization": auth, "Tonce": str(tonce), **(headers or {})})


@asynccontextmanager
async def caller(options: MagnrTestnetOptions | None = None, **kw: Any) -> AsyncIterator[Caller]:
    async with open_magnr_testnet(ACCOUNTS, seed=1, options=options, **kw) as testnet, \
            httpx.AsyncClient(base_url=testnet.url, timeout=5.0) as client:
        yield Caller(testnet, client)


async def test_create_get_list_delete() -> None:
    with trio.fail_after(15):
        async with caller(MagnrTestnetOptions(open_delay_ms=0, settle_delay_ms=0), run_market=False) as c:
            created = await c.call("POST", "/api/v1/trades/", GOOD)
            assert created.status_code == 201 and created.headers["content-type"] == "application/json"
            trade_id = created.json()["id"]
            got = (await c.call("GET", f"/api/v1/trades/{trade_id}/")).json()["trade"]
            assert got["status"] == "open" and got["stop_margin"] == 500 and got["sell_limit"] == 1000
            assert Decimal(str(got["deposit"])) == Decimal("0.02")
            assert set(got) >= {"id", "side", "leverage", "size", "deposit", "exchange", "created_at", "closed_at",
                                "open_price", "close_price", "closed_reason", "trade_rate", "daily_rate",
                                "trade_fees", "daily_fees", "stop_margin", "trail_margin", "sell_limit", "status",
                                "profit"}
            assert (await c.call("GET", "/api/v1/trades/")).json()["trades"][0]["id"] == trade_id
            assert (await c.call("DELETE", f"/api/v1/trades/{trade_id}/")).json() == {"id": trade_id}
            again = await c.call("DELETE", f"/api/v1/trades/{trade_id}/")
            assert again.status_code == 409 and again.json()["errors"]
            assert (await c.call("GET", "/api/v1/trades/99999/")).status_code == 404


@pytest.mark.parametrize("body, word", [
    (b'{"leverage":3,"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":0.2}', "leverage"),
    (b'{"leverage":"10","side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":0.2}', "leverage"),
    (b'{"side":"BUY","exchange":"Bitfinex","pair":"BTCUSD","size":0.2}', "side"),
    (b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":0.2,"type":"limit"}', "market"),
    (b'{"side":"buy","exchange":"Kraken","pair":"BTCUSD","size":0.2}', "exchange"),
    (b'{"side":"buy","exchange":"ItBit","pair":"BTCUSD","size":0.2}', "pair"),
    (b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":0}', "size"),
    (b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":"0.2"}', "size"),
    (b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD"}', "size"),
    (b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":0.2,"stop_margin":99999}', "stop_margin"),
    (b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":0.2,"colour":"red"}', "colour"),
    (b'{"side":"buy","side":"sell","exchange":"Bitfinex","pair":"BTCUSD","size":0.2}', "JSON"),
    (b'[1, 2]', "object"),
    (b'{"size": 1e999999}', "JSON"),
    (b'not json', "JSON"),
])
async def test_bad_creates_are_400(body: bytes, word: str) -> None:
    with trio.fail_after(15):
        async with caller() as c:
            answer = await c.call("POST", "/api/v1/trades/", body)
            assert answer.status_code == 400, answer.text
            assert any(word in e for e in answer.json()["errors"])
            assert not c.testnet.trades


async def test_authentication() -> None:
    with trio.fail_after(15):
        async with caller() as c:
            assert (await c.call("GET", "/api/v1/trades/", scheme="BASIC")).status_code == 200
            used = c.tonce
            assert (await c.call("GET", "/api/v1/trades/", secret="wrong")).status_code == 401
            replay = await c.call("GET", "/api/v1/trades/", tonce=used)
            assert replay.status_code == 401 and "already used" in replay.json()["errors"][0]
            old = await c.call("GET", "/api/v1/trades/", tonce=int(time.time() * 1000) - 301_000)
            assert old.status_code == 401 and "window" in old.json()["errors"][0]
            micro = await c.call("GET", "/api/v1/trades/", tonce=int(time.time() * 1_000_000))
            assert micro.status_code == 401
            for headers in ({"Authorization": "Bearer x", "Tonce": "1"}, {"Authorization": "Basic !!", "Tonce": "1"},
                            {"Tonce": "1"}, {"Authorization": "Basic eDp5"}):
                answer = await c.client.get("/api/v1/trades/", headers=headers)
                assert answer.status_code == 401 and answer.json()["errors"]
            assert c.testnet.auth_failures == 8


async def test_microsecond_tonces_when_allowed() -> None:
    with trio.fail_after(15):
        async with caller(MagnrTestnetOptions(accept_microsecond_tonces=True)) as c:
            assert (await c.call("GET", "/api/v1/trades/", tonce=int(time.time() * 1_000_000))).status_code == 200


async def test_state_conflicts_and_paths() -> None:
    with trio.fail_after(15):
        async with caller(MagnrTestnetOptions(open_delay_ms=60_000)) as c:
            trade_id = (await c.call("POST", "/api/v1/trades/", GOOD)).json()["id"]
            pending = await c.call("DELETE", f"/api/v1/trades/{trade_id}/")
            assert pending.status_code == 409 and "pending" in pending.json()["errors"][0]
            rich = b'{"side":"buy","exchange":"Bitfinex","pair":"BTCUSD","size":100,"leverage":2}'
            poor = await c.call("POST", "/api/v1/trades/", rich)
            assert poor.status_code == 409 and "insufficient funds" in poor.json()["errors"][0]
            assert (await c.call("GET", "/api/v1/trades")).status_code == 404  # paths end with a slash
            assert (await c.call("PUT", "/api/v1/trades/")).status_code == 405


async def test_tickers_have_the_exchanges_shapes() -> None:
    with trio.fail_after(15):
        async with caller() as c:
            bitfinex = (await c.client.get("/bitfinex/v1/pubticker/btcusd")).json()
            assert {"mid", "bid", "ask", "last_price", "timestamp"} <= set(bitfinex)
            bitstamp = (await c.client.get("/bitstamp/api/ticker/")).json()
            assert {"bid", "ask", "last", "timestamp", "vwap", "open"} <= set(bitstamp)
            itbit = (await c.client.get("/itbit/v1/markets/XBTUSD/ticker")).json()
            assert itbit["pair"] == "XBTUSD" and Decimal(itbit["bidAmt"]) > 0 and itbit["serverTimeUTC"].endswith("Z")
            assert Decimal(bitfinex["bid"]) < Decimal(bitfinex["ask"])


async def test_faults_after_an_executed_create() -> None:
    with trio.fail_after(15):
        async with caller(faults=FaultSettings(error_5xx_after_order_every=1)) as c:
            answer = await c.call("POST", "/api/v1/trades/", GOOD)
            assert answer.status_code == 500 and answer.json()["errors"]
            assert len(c.testnet.trades) == 1  # executed anyway
            c.testnet.faults.configure(FaultSettings(force_429_every=1))
            limited = await c.call("GET", "/api/v1/trades/")
            assert limited.status_code == 429 and limited.headers["retry-after"] == "1"


async def test_a_restart_with_state_keeps_the_broker_book_trade_ids_and_seen_tonces(tmp_path: Any) -> None:
    """``--state``: trades (with their fees and status), the id counter and the tonces seen come back,
    so after a venue restart a client finds its trades, new ids never repeat and a replay stays refused."""
    state = tmp_path / "magnr-state.json"
    options = MagnrTestnetOptions(open_delay_ms=0, settle_delay_ms=0)
    with trio.fail_after(20):
        async with caller(options, run_market=False, state=state) as c:
            first = (await c.call("POST", "/api/v1/trades/", GOOD)).json()["id"]
            used_tonce = c.tonce
            before = (await c.call("GET", f"/api/v1/trades/{first}/")).json()["trade"]
            last_tonce = c.tonce
        assert state.is_file()
        async with caller(options, run_market=False, state=state) as c:
            c.tonce = last_tonce
            after = (await c.call("GET", f"/api/v1/trades/{first}/")).json()["trade"]
            assert after == before
            replay = await c.call("GET", "/api/v1/trades/", tonce=used_tonce)
            assert replay.status_code == 401 and "already used" in replay.json()["errors"][0]
            second = (await c.call("POST", "/api/v1/trades/", GOOD)).json()["id"]
            assert second > first
            listed = {t["id"] for t in (await c.call("GET", "/api/v1/trades/")).json()["trades"]}
            assert listed == {first, second}


async def test_a_state_file_naming_an_unknown_account_is_refused(tmp_path: Any) -> None:
    state = tmp_path / "magnr-state.json"
    with trio.fail_after(20):
        async with caller(MagnrTestnetOptions(open_delay_ms=0), run_market=False, state=state) as c:
            await c.call("POST", "/api/v1/trades/", GOOD)
    raw = json.loads(state.read_text())
    raw["dialect"]["trades"][0]["account"] = "someone-else"
    state.write_text(json.dumps(raw))
    from engine import ConfigError
    with pytest.raises(BaseExceptionGroup) as info:
        async with caller(MagnrTestnetOptions(open_delay_ms=0), run_market=False, state=state):
            pass
    assert info.group_contains(ConfigError, match="someone-else")
