"""The Ekiden testnet as a third-party client sees it: raw HTTP and WebSocket on 127.0.0.1.

Requests are built here by hand (httpx, trio-websocket, the signer module for the HMAC) so the
tests check the wire protocol itself, not the gateway's reading of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

from engine import Instrument
from engine import L2Book
from engine import BookDelta, BookSnapshot
from venues._testnet import FaultSettings, MarketSettings
from venues.ekiden.schemas import iso_from_ms, utc_now_iso
from venues.ekiden.signer import Credentials, request_target, sign_headers, ws_auth_message
from venues.ekiden.testnet import EkidenTestnet, EkidenTestnetOptions, main, open_ekiden_testnet

from .conftest import FAST_LIMITS

ALICE = Credentials("alice-api-key-0001", "alice-secret-0001")
BOB = Credentials("bob-api-key-0002", "bob-secret-0002")


class Client:
    """A minimal hand-written Ekiden client: exact bytes, signed by the signer module."""

    def __init__(self, http: httpx.AsyncClient, creds: Credentials = ALICE, offset_ms: int = 0) -> None:
        self.http = http
        self.creds = creds
        self.offset_ms = offset_ms

    async def public(self, path: str) -> httpx.Response:
        return await self.http.get(path)

    async def private(self, method: str, path: str, body: Any = None, *, timestamp: str | None = None,
                      creds: Credentials | None = None, raw: bytes | None = None) -> httpx.Response:
        payload = raw if raw is not None else (json.dumps(body, separators=(",", ":")).encode() if body is not None
                                               else b"")
        ts = timestamp or utc_now_iso(self.offset_ms)
        target, _, query = path.partition("?")
        headers = sign_headers(creds or self.creds, ts, method, request_target(target, query), payload)
        if payload:
            headers["Content-Type"] = "application/json"
        return await self.http.request(method, path, content=payload or None, headers=headers)

    async def order(self, **fields: Any) -> httpx.Response:
        body = {"market": "ETH-USD", **fields}
        return await self.private("POST", "/v1/orders", body)


@asynccontextmanager
async def client_for(testnet: EkidenTestnet, creds: Credentials = ALICE) -> AsyncIterator[Client]:
    async with httpx.AsyncClient(base_url=testnet.url) as http:
        yield Client(http, creds)


def error(response: httpx.Response) -> tuple[int, int]:
    body = response.json()
    assert set(body) == {"error_code", "error_message"}
    return response.status_code, body["error_code"]


def numbers_are_strings(obj: Any, path: str = "") -> list[str]:
    """Paths of every JSON number in an answer (the dialect allows none outside error codes)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return []
    if isinstance(obj, (int, float)):
        return [path]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in numbers_are_strings(v, f"{path}.{k}")]
    return [p for i, v in enumerate(obj) for p in numbers_are_strings(v, f"{path}[{i}]")]


# =============================================================================================
# public REST
# =============================================================================================


async def test_public_resources_answer_in_envelopes_with_string_numbers(ekiden_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_testnet) as c:
            for path in ("/v1/time", "/v1/markets", "/v1/orderbook?market=ETH-USD", "/v1/trades?market=BTC-USD"):
                response = await c.public(path)
                assert response.status_code == 200, path
                body = response.json()
                assert body["success"] is True and "data" in body
                assert numbers_are_strings(body) == [], path
            markets = (await c.public("/v1/markets")).json()["data"]
            assert [m["market"] for m in markets] == ["ETH-USD", "BTC-USD"]
            assert markets[0]["tick_size"] == "0.01" and markets[0]["type"] == "perpetual"


async def test_orderbook_is_sorted_best_first_and_honours_depth(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            book = (await c.public("/v1/orderbook?market=ETH-USD&depth=3")).json()["data"]
    bids = [Decimal(p) for p, _ in book["bids"]]
    asks = [Decimal(p) for p, _ in book["asks"]]
    assert len(bids) == len(asks) == 3
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert book["sequence"].isdigit() and book["timestamp"].endswith("Z")


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/v1/orderbook", 400, 2000),
    ("/v1/orderbook?market=XRP-USD", 404, 2004),
    ("/v1/orderbook?market=ETH-USD&depth=0", 400, 2000),
    ("/v1/orderbook?market=ETH-USD&depth=ten", 400, 2000),
    ("/v1/trades?market=ETH-USD&limit=501", 400, 2000),
    ("/v1/trades?market=ETH-USD&cursor=%21%21", 400, 2000),
    ("/v1/candles", 404, 2004),
    ("/v2/markets", 404, 2004),
])
async def test_public_errors_have_codes_and_statuses(ekiden_quiet_testnet: EkidenTestnet, path: str, status: int,
                                                     code: int) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            assert error(await c.public(path)) == (status, code)


async def test_wrong_method_is_405_with_allow(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=ekiden_quiet_testnet.url) as http:
            response = await http.delete("/v1/markets")
    assert error(response) == (405, 2000)
    assert response.headers["allow"] == "GET"


async def test_public_trades_page_newest_first_to_the_end(ekiden_quiet_testnet: EkidenTestnet) -> None:
    for _ in range(30):
        ekiden_quiet_testnet.market.step()
    total = len(ekiden_quiet_testnet.exchange.trades("ETH-USD"))
    assert total >= 5
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            ids: list[int] = []
            cursor = ""
            while True:
                page = (await c.public(f"/v1/trades?market=ETH-USD&limit=2{cursor}")).json()
                ids += [int(t["trade_id"]) for t in page["data"]]
                if page["next_cursor"] is None:
                    break
                cursor = f"&cursor={page['next_cursor']}"
    assert len(ids) == total and ids == sorted(ids, reverse=True)


# =============================================================================================
# authentication
# =============================================================================================


async def test_authentication_failures(ekiden_quiet_testnet: EkidenTestnet) -> None:
    testnet = ekiden_quiet_testnet
    with trio.fail_after(10):
        async with client_for(testnet) as c:
            assert (await c.private("GET", "/v1/balances")).status_code == 200
            # no headers at all
            assert error(await c.http.get("/v1/balances")) == (401, 2001)
            # an unknown key
            bad_key = Credentials("nobody", "alice-secret-0001")
            assert error(await c.private("GET", "/v1/balances", creds=bad_key)) == (401, 2001)
            # a wrong secret
            assert error(await c.private("GET", "/v1/balances", creds=Credentials(ALICE.api_key, "x"))) == (401, 2001)
            # outside the window, both ways
            past = iso_from_ms(testnet.server_time_ms() - 31_000)
            future = iso_from_ms(testnet.server_time_ms() + 31_000)
            assert error(await c.private("GET", "/v1/balances", timestamp=past)) == (401, 2002)
            assert error(await c.private("GET", "/v1/balances", timestamp=future)) == (401, 2002)
            # not a timestamp
            assert error(await c.private("GET", "/v1/balances", timestamp="yesterday")) == (400, 2000)
            # the query string is signed: change it after signing
            ts = utc_now_iso()
            headers = sign_headers(ALICE, ts, "GET", "/v1/orders?status=open")
            assert error(await c.http.get("/v1/orders?status=all", headers=headers)) == (401, 2001)
            # the body is signed: change it after signing
            body = b'{"market":"ETH-USD","side":"buy","type":"market","size":"0.010"}'
            headers = sign_headers(ALICE, ts, "POST", "/v1/orders", body)
            tampered = body.replace(b"0.010", b"9.000")
            assert error(await c.http.post("/v1/orders", content=tampered, headers=headers)) == (401, 2001)
    assert testnet.auth_failures == 7  # the unreadable timestamp is a bad request (2000), not an auth failure
    assert testnet.exchange.open_orders(testnet.accounts["alice"]) == []


# =============================================================================================
# orders
# =============================================================================================


async def test_order_lifecycle_create_amend_cancel(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            created = await c.order(side="buy", type="limit", size="0.500", price="1500.00", client_order_id="c-1")
            assert created.status_code == 200
            order = created.json()["data"]
            assert numbers_are_strings(order) == []
            assert (order["status"], order["price"], order["size"], order["filled_size"], order["client_order_id"],
                    order["time_in_force"], order["leverage"]) == (
                "open", "1500.00", "0.500", "0.000", "c-1", "gtc", "10")
            oid = order["order_id"]
            got = (await c.private("GET", f"/v1/orders/{oid}")).json()["data"]
            assert got["order_id"] == oid
            amended = (await c.private("PATCH", f"/v1/orders/{oid}", {"price": "1501.00", "size": "0.700"})).json()
            assert (amended["data"]["price"], amended["data"]["size"]) == ("1501.00", "0.700")
            assert error(await c.private("PATCH", f"/v1/orders/{oid}", {})) == (400, 2000)
            assert error(await c.private("PATCH", f"/v1/orders/{oid}", {"leverage": "2"})) == (400, 2000)
            canceled = (await c.private("DELETE", f"/v1/orders/{oid}")).json()["data"]
            assert canceled["status"] == "canceled" and canceled["reason"]
            assert error(await c.private("DELETE", f"/v1/orders/{oid}")) == (400, 2000)
            assert error(await c.private("DELETE", "/v1/orders/no-such-order")) == (404, 2004)
            assert error(await c.private("GET", "/v1/orders/no-such-order")) == (404, 2004)


async def test_market_order_fills_and_reports_fills_positions_balances(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            order = (await c.order(side="buy", type="market", size="0.250", client_order_id="m-1")).json()["data"]
            assert (order["status"], order["filled_size"], order["time_in_force"]) == ("filled", "0.250", "ioc")
            fills = (await c.private("GET", f"/v1/fills?order_id={order['order_id']}")).json()
            assert fills["next_cursor"] is None
            (fill,) = fills["data"]
            assert (fill["client_order_id"], fill["size"], fill["liquidity"], fill["fee_asset"]) == (
                "m-1", "0.250", "taker", "USD")
            assert Decimal(fill["price"]) == Decimal(order["average_price"])
            (position,) = (await c.private("GET", "/v1/positions")).json()["data"]
            assert (position["market"], position["side"], position["size"], position["leverage"]) == (
                "ETH-USD", "long", "0.250", "10")
            balances = {b["asset"]: b for b in (await c.private("GET", "/v1/balances")).json()["data"]}
            usd = balances["USD"]
            assert Decimal(usd["locked"]) == Decimal(position["margin"])
            assert Decimal(usd["total"]) == Decimal("100000") - Decimal(fill["fee"])
            assert Decimal(usd["available"]) == Decimal(usd["total"]) - Decimal(usd["locked"])


@pytest.mark.parametrize(("fields", "status", "code"), [
    ({"side": "buy", "type": "limit", "size": 1, "price": "1500.00"}, 400, 2000),  # a number, not a string
    ({"side": "buy", "type": "limit", "size": "0.5", "price": 1500.5}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1500.00", "colour": "red"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.0000000000000000001", "price": "1500"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1500.001"}, 400, 2000),  # off the tick
    ({"side": "buy", "type": "limit", "size": "0.0005", "price": "1500"}, 400, 2000),  # off the lot
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1e3"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5"}, 400, 2000),  # no price
    ({"side": "buy", "type": "market", "size": "0.5", "price": "1500"}, 400, 2000),
    ({"side": "buy", "type": "market", "size": "0.5", "time_in_force": "gtc"}, 400, 2000),
    ({"side": "buy", "type": "stop_market", "size": "0.5"}, 400, 2000),  # no trigger
    ({"side": "hold", "type": "limit", "size": "0.5", "price": "1500"}, 400, 2000),
    ({"side": "buy", "type": "iceberg", "size": "0.5", "price": "1500"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1500", "post_only": "yes"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1500", "leverage": "21"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1500", "leverage": "2.5"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "1500", "client_order_id": "a b"}, 400, 2000),
    ({"side": "buy", "type": "limit", "size": "1000", "price": "1500"}, 400, 2000),  # insufficient margin
    ({"side": "sell", "type": "market", "size": "0.5", "reduce_only": True}, 400, 2000),  # nothing to reduce
    ({"side": "buy", "type": "limit", "size": "0.5", "price": "2100.00", "post_only": True}, 400, 2000),  # crosses
    ({"market": "XRP-USD", "side": "buy", "type": "limit", "size": "1", "price": "1"}, 404, 2004),
])
async def test_bad_orders_are_refused_and_change_nothing(ekiden_quiet_testnet: EkidenTestnet, fields: dict[str, Any],
                                                          status: int, code: int) -> None:
    testnet = ekiden_quiet_testnet
    alice = testnet.accounts["alice"]
    before = {a: (b.total, b.locked) for a, b in alice.balances.items()}
    with trio.fail_after(10):
        async with client_for(testnet) as c:
            assert error(await c.order(**fields)) == (status, code)
    assert testnet.exchange.open_orders(alice) == []
    assert {a: (b.total, b.locked) for a, b in alice.balances.items()} == before


async def test_non_json_and_non_object_bodies_are_invalid(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            assert error(await c.private("POST", "/v1/orders", raw=b"{not json")) == (400, 2000)
            assert error(await c.private("POST", "/v1/orders", raw=b"[1, 2]")) == (400, 2000)


async def test_duplicate_client_order_id_is_refused(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            fields = {"side": "buy", "type": "limit", "size": "0.1", "price": "1500", "client_order_id": "dup"}
            assert (await c.order(**fields)).status_code == 200
            assert error(await c.order(**fields)) == (400, 2000)
            found = (await c.private("GET", "/v1/orders?client_order_id=dup")).json()["data"]
            assert len(found) == 1


async def test_orders_list_filters_and_pages(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            ids = []
            for i in range(5):
                r = await c.order(side="buy", type="limit", size="0.1", price=f"{1500 + i}", client_order_id=f"p-{i}")
                ids.append(r.json()["data"]["order_id"])
            await c.private("DELETE", f"/v1/orders/{ids[0]}")
            seen: list[str] = []
            cursor = ""
            pages = 0
            while True:
                page = (await c.private("GET", f"/v1/orders?limit=2{cursor}")).json()
                seen += [o["order_id"] for o in page["data"]]
                pages += 1
                if page["next_cursor"] is None:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            assert seen == ids[::-1] and pages == 3
            open_ids = [o["order_id"] for o in (await c.private("GET", "/v1/orders?status=open")).json()["data"]]
            assert open_ids == ids[:0:-1]
            closed = (await c.private("GET", "/v1/orders?status=canceled")).json()["data"]
            assert [o["order_id"] for o in closed] == [ids[0]]
            assert error(await c.private("GET", "/v1/orders?status=sleeping")) == (400, 2000)
            # bob sees none of them
            assert (await c.private("GET", "/v1/orders", creds=BOB)).json()["data"] == []
            assert error(await c.private("GET", f"/v1/orders/{ids[1]}", creds=BOB)) == (404, 2004)


async def test_stop_orders_wait_for_their_trigger(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with client_for(ekiden_quiet_testnet) as c:
            stop = await c.order(side="buy", type="stop_market", size="0.1", trigger_price="2500.00")
            assert stop.status_code == 200
            data = stop.json()["data"]
            assert (data["status"], data["trigger_price"], data["price"]) == ("open", "2500.00", None)
            limit = await c.order(side="sell", type="stop_limit", size="0.1", trigger_price="1500.00", price="1499.00")
            assert limit.json()["data"]["status"] == "open"


# =============================================================================================
# limits and faults
# =============================================================================================


async def test_private_and_public_limits_are_separate_and_answer_429(ekiden_accounts_file: Path) -> None:
    options = EkidenTestnetOptions(public_requests_per_window=4, private_requests_per_window=3, rate_window_s=60)
    async with open_ekiden_testnet(ekiden_accounts_file, market=False, options=options) as testnet:
        with trio.fail_after(10):
            async with client_for(testnet) as c:
                for _ in range(3):
                    assert (await c.private("GET", "/v1/balances")).status_code == 200
                limited = await c.private("GET", "/v1/balances")
                assert error(limited) == (429, 2003)
                assert 1 <= int(limited.headers["retry-after"]) <= 60
                # another key has its own budget; public requests count per address
                assert (await c.private("GET", "/v1/balances", creds=BOB)).status_code == 200
                for _ in range(4):
                    assert (await c.public("/v1/time")).status_code == 200
                assert error(await c.public("/v1/time")) == (429, 2003)
        assert testnet.rejected_429 == 2


async def test_5xx_after_an_accepted_order_leaves_it_booked(ekiden_accounts_file: Path) -> None:
    faults = FaultSettings(error_5xx_after_order_every=1)
    async with open_ekiden_testnet(ekiden_accounts_file, market=MarketSettings(seed=1, history_minutes=5),
                                   run_market=False, faults=faults, options=FAST_LIMITS) as testnet:
        with trio.fail_after(10):
            async with client_for(testnet) as c:
                response = await c.order(side="buy", type="limit", size="0.1", price="1500", client_order_id="x-1")
                assert response.status_code == 500
                found = (await c.private("GET", "/v1/orders?client_order_id=x-1")).json()["data"]
                assert [o["status"] for o in found] == ["open"]
        assert testnet.faults.injected["5xx"] == 1


async def test_timeout_and_reset_after_an_accepted_order_leave_it_booked(ekiden_accounts_file: Path) -> None:
    faults = FaultSettings(timeout_after_order_every=2, timeout_after_order_s=5.0, reset_after_order_every=3)
    async with open_ekiden_testnet(ekiden_accounts_file, market=MarketSettings(seed=1, history_minutes=5),
                                   run_market=False, faults=faults, options=FAST_LIMITS) as testnet:
        with trio.fail_after(10):
            async with client_for(testnet) as c:
                order = {"side": "buy", "type": "limit", "size": "0.1", "price": "1500"}
                assert (await c.order(**order, client_order_id="x-1")).status_code == 200
                c.http.timeout = httpx.Timeout(0.3)
                with pytest.raises(httpx.ReadTimeout):
                    await c.order(**order, client_order_id="x-2")  # 2nd: held back
                c.http.timeout = httpx.Timeout(5.0)
                with pytest.raises(httpx.RemoteProtocolError):
                    await c.order(**order, client_order_id="x-3")  # 3rd: the connection goes
                for client_order_id in ("x-2", "x-3"):
                    found = (await c.private("GET", f"/v1/orders?client_order_id={client_order_id}")).json()["data"]
                    assert [o["status"] for o in found] == ["open"]
        assert testnet.faults.injected["timeout"] == 1 and testnet.faults.injected["reset"] == 1


async def test_clock_offset_shifts_fill_and_trade_times(ekiden_accounts_file: Path) -> None:
    from venues.ekiden.schemas import ms_from_iso

    async with open_ekiden_testnet(ekiden_accounts_file, market=MarketSettings(seed=1, history_minutes=5),
                                   run_market=False, faults=FaultSettings(clock_offset_ms=-30_000),
                                   options=FAST_LIMITS) as testnet:
        with trio.fail_after(10):
            async with client_for(testnet) as c:
                server = (await c.public("/v1/time")).json()["data"]["server_time"]
                assert abs(ms_from_iso(server) - (ms_from_iso(utc_now_iso()) - 30_000)) < 2000
                placed = await c.private("POST", "/v1/orders", {"market": "ETH-USD", "side": "buy", "type": "market",
                                                                "size": "0.1"}, timestamp=server)
                assert placed.status_code == 200
                fills = (await c.private("GET", "/v1/fills", timestamp=server)).json()["data"]
                assert abs(ms_from_iso(fills[0]["timestamp"]) - ms_from_iso(server)) < 2000
                trades = (await c.public("/v1/trades?market=ETH-USD")).json()["data"]
                assert abs(ms_from_iso(trades[0]["timestamp"]) - ms_from_iso(server)) < 2000


async def test_forced_429_and_clock_offset_faults(ekiden_accounts_file: Path) -> None:
    faults = FaultSettings(force_429_every=2, clock_offset_ms=45_000)
    async with open_ekiden_testnet(ekiden_accounts_file, market=False, faults=faults, options=FAST_LIMITS) as testnet:
        with trio.fail_after(10):
            async with client_for(testnet) as c:
                server = (await c.public("/v1/time")).json()["data"]["server_time"]
                assert error(await c.public("/v1/time")) == (429, 2003)
                from venues.ekiden.schemas import ms_from_iso, utc_now_iso as now_iso

                assert ms_from_iso(server) - ms_from_iso(now_iso()) > 40_000
                assert error(await c.private("GET", "/v1/balances")) == (401, 2002)  # local clock: 45 s behind
                assert error(await c.private("GET", "/v1/balances", timestamp=server)) == (429, 2003)
                assert (await c.private("GET", "/v1/balances", timestamp=server)).status_code == 200


# =============================================================================================
# WebSocket
# =============================================================================================


@asynccontextmanager
async def stream(testnet: EkidenTestnet) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    async with trio_websocket.open_websocket_url(testnet.ws_url) as ws:
        yield ws


async def close_transport(ws: trio_websocket.WebSocketConnection) -> None:
    # When the *server* closes, trio-websocket waits for the TCP close and its reader may be
    # cancelled first, leaving the socket to the garbage collector; close it ourselves.
    await ws._stream.aclose()


async def recv(ws: trio_websocket.WebSocketConnection, timeout_s: float = 5) -> dict[str, Any]:
    with trio.fail_after(timeout_s):
        return json.loads(await ws.get_message())  # type: ignore[no-any-return]


async def send(ws: trio_websocket.WebSocketConnection, frame: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(frame))


async def test_orderbook_snapshot_then_contiguous_updates_rebuild_the_book(
        ekiden_quiet_testnet: EkidenTestnet) -> None:
    testnet = ekiden_quiet_testnet
    inst: Instrument = testnet.exchange.instruments["ETH-USD"]
    book = L2Book(inst)
    with trio.fail_after(10):
        async with stream(testnet) as ws:
            await send(ws, {"type": "subscribe", "channel": "orderbook", "market": "ETH-USD", "depth": "5"})
            assert await recv(ws) == {"type": "subscribed", "channel": "orderbook", "market": "ETH-USD"}
            snapshot = await recv(ws)
            assert (snapshot["type"], snapshot["channel"], snapshot["market"]) == ("snapshot", "orderbook", "ETH-USD")
            assert numbers_are_strings(snapshot) == []
            book.apply(_book_event(inst, snapshot))
            sequences = [int(snapshot["data"]["sequence"])]
            for _ in range(20):
                testnet.market.step()
                await trio.sleep(0)
            while True:
                with trio.move_on_after(0.3) as idle:
                    frame = json.loads(await ws.get_message())
                if idle.cancelled_caught:
                    break
                assert frame["type"] == "update"
                sequences.append(int(frame["data"]["sequence"]))
                assert book.apply(_book_event(inst, frame))
    assert len(sequences) > 2 and sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    bids, asks = testnet.exchange.depth("ETH-USD", 5)
    assert book.bids() == [(inst.price_raw(p), inst.size_raw(q)) for p, q in bids]
    assert book.asks() == [(inst.price_raw(p), inst.size_raw(q)) for p, q in asks]


def _book_event(inst: Instrument, frame: dict[str, Any]) -> BookSnapshot | BookDelta:
    data = frame["data"]
    levels = {side: tuple((inst.price_raw(Decimal(p)), inst.size_raw(Decimal(q))) for p, q in data[side])
              for side in ("bids", "asks")}
    cls = BookSnapshot if frame["type"] == "snapshot" else BookDelta
    return cls(inst, 0, 0, int(data["sequence"]), levels["bids"], levels["asks"])


async def test_trades_channel_pushes_prints(ekiden_quiet_testnet: EkidenTestnet) -> None:
    testnet = ekiden_quiet_testnet
    with trio.fail_after(10):
        async with stream(testnet) as ws:
            await send(ws, {"type": "subscribe", "channel": "trades", "market": "BTC-USD"})
            assert (await recv(ws))["type"] == "subscribed"
            before = len(testnet.exchange.trades("BTC-USD"))
            while len(testnet.exchange.trades("BTC-USD")) == before:
                testnet.market.step()
            frame = await recv(ws)
    assert (frame["type"], frame["channel"], frame["market"]) == ("update", "trades", "BTC-USD")
    assert numbers_are_strings(frame) == []
    assert {t["side"] for t in frame["data"]} <= {"buy", "sell"}


async def test_ping_errors_and_unsubscribe(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with stream(ekiden_quiet_testnet) as ws:
            await send(ws, {"type": "ping"})
            assert await recv(ws) == {"type": "pong"}
            await ws.send_message("{nope")
            assert (await recv(ws))["error_code"] == 2000
            await send(ws, {"type": "subscribe", "channel": "orderbook", "market": "XRP-USD"})
            assert await recv(ws) == {"type": "error", "error_code": 2004,
                                      "error_message": "Resource not found: unknown market 'XRP-USD'",
                                      "channel": "orderbook", "market": "XRP-USD"}
            await send(ws, {"type": "subscribe", "channel": "candles", "market": "ETH-USD"})
            assert (await recv(ws))["error_code"] == 2000
            await send(ws, {"type": "dance"})
            assert (await recv(ws))["error_code"] == 2000
            await send(ws, {"type": "subscribe", "channel": "trades", "market": "ETH-USD"})
            assert (await recv(ws))["type"] == "subscribed"
            await send(ws, {"type": "unsubscribe", "channel": "trades", "market": "ETH-USD"})
            assert await recv(ws) == {"type": "unsubscribed", "channel": "trades", "market": "ETH-USD"}


async def test_private_orders_channel(ekiden_quiet_testnet: EkidenTestnet) -> None:
    testnet = ekiden_quiet_testnet
    with trio.fail_after(10):
        async with stream(testnet) as ws, client_for(testnet) as c:
            wrong = ws_auth_message(Credentials(ALICE.api_key, "wrong"), utc_now_iso())
            await send(ws, wrong)
            assert (await recv(ws))["error_code"] == 2001
            old = ws_auth_message(ALICE, iso_from_ms(testnet.server_time_ms() - 60_000))
            await send(ws, old)
            assert (await recv(ws))["error_code"] == 2002
            await send(ws, ws_auth_message(ALICE, utc_now_iso()))
            assert await recv(ws) == {"type": "subscribed", "channel": "orders"}
            # bob's orders are not alice's business
            await c.private("POST", "/v1/orders", {"market": "ETH-USD", "side": "buy", "type": "limit",
                                                   "size": "0.1", "price": "1500"}, creds=BOB)
            rested = await c.order(side="buy", type="limit", size="0.2", price="1600.00", client_order_id="w-1")
            update = await recv(ws)
            assert (update["type"], update["channel"]) == ("update", "orders")
            assert update["data"]["order"]["client_order_id"] == "w-1"
            assert (update["data"]["order"]["status"], update["data"]["fills"]) == ("open", [])
            await c.order(side="buy", type="market", size="0.3", client_order_id="w-2")
            update = await recv(ws)
            order, fills = update["data"]["order"], update["data"]["fills"]
            assert (order["client_order_id"], order["status"]) == ("w-2", "filled")
            assert sum(Decimal(f["size"]) for f in fills) == Decimal("0.3")
            assert all(f["client_order_id"] == "w-2" for f in fills)
            assert rested.status_code == 200


async def test_idle_sockets_are_closed(ekiden_accounts_file: Path) -> None:
    options = EkidenTestnetOptions(ws_idle_timeout_s=0.3)
    async with open_ekiden_testnet(ekiden_accounts_file, market=False, options=options) as testnet:
        with trio.fail_after(10):
            async with stream(testnet) as ws:
                for _ in range(3):  # activity keeps it open
                    await trio.sleep(0.15)
                    await send(ws, {"type": "ping"})
                    assert (await recv(ws))["type"] == "pong"
                with pytest.raises(trio_websocket.ConnectionClosed):
                    await recv(ws, 2)
                assert ws.closed is not None and ws.closed.code == 1000
                await close_transport(ws)


async def test_drop_fault_closes_the_socket_abruptly(ekiden_accounts_file: Path) -> None:
    async with open_ekiden_testnet(ekiden_accounts_file, market=MarketSettings(seed=3, step_interval_s=0.02,
                                                                                history_minutes=5),
                                   faults=FaultSettings(ws_drop_every_n_messages=4)) as testnet:
        with trio.fail_after(10):
            async with stream(testnet) as ws:
                await send(ws, {"type": "subscribe", "channel": "orderbook", "market": "ETH-USD"})
                received = 0
                with pytest.raises(trio_websocket.ConnectionClosed):
                    while True:
                        await recv(ws)
                        received += 1
                assert received == 4 and ws.closed is not None and ws.closed.code == 1011
                await close_transport(ws)
        assert testnet.faults.injected["ws_drop"] == 1


async def test_injected_frames_reach_every_socket(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(10):
        async with stream(ekiden_quiet_testnet) as ws:
            await send(ws, {"type": "ping"})
            await recv(ws)
            assert await ekiden_quiet_testnet.inject_frame("garbage") == 1
            assert await ws.get_message() == "garbage"


# =============================================================================================
# command line
# =============================================================================================


def test_cli_refuses_a_bad_accounts_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "accounts.toml"
    bad.write_text('[[accounts]]\nname = "a"\napi_key = ""\nsecret = "s"\n')
    assert main(["--accounts", str(bad)]) == 2
    assert "accounts[0].api_key" in capsys.readouterr().err


async def test_cli_serves_the_protocol(ekiden_accounts_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "venues.ekiden.testnet", "--accounts", str(ekiden_accounts_file), "--port", "0",
         "--no-market"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        with trio.fail_after(15):
            line = await trio.to_thread.run_sync(proc.stdout.readline)  # type: ignore[union-attr]
            assert line.startswith("ekiden testnet REST"), line
            url = line.split()[-1].removesuffix("/v1/")
            async with httpx.AsyncClient(base_url=url) as http:
                markets = (await http.get("/v1/markets")).json()["data"]
                assert {m["market"] for m in markets} == {"ETH-USD", "BTC-USD"}
                assert (await Client(http).private("GET", "/v1/balances")).status_code == 200
    finally:
        proc.terminate()
        await trio.to_thread.run_sync(proc.wait)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


# =============================================================================================
# --state: the ledger across a restart
# =============================================================================================


async def test_state_file_keeps_orders_fills_positions_and_balances(ekiden_accounts_file: Path,
                                                                    tmp_path: Path) -> None:
    state = tmp_path / "ledger.json"
    market = MarketSettings(seed=1, history_minutes=5)

    async def ledger_of(c: Client) -> dict[str, Any]:
        positions = (await c.private("GET", "/v1/positions")).json()["data"]
        return {
            "orders": (await c.private("GET", "/v1/orders")).json()["data"],
            "fills": (await c.private("GET", "/v1/fills")).json()["data"],
            # the mark-dependent fields follow the market, which a restart does not keep
            "positions": [{k: v for k, v in p.items() if "pnl" not in k and "mark" not in k} for p in positions],
            "balances": (await c.private("GET", "/v1/balances")).json()["data"],
        }

    with trio.fail_after(20):
        async with open_ekiden_testnet(ekiden_accounts_file, market=market, run_market=False, options=FAST_LIMITS,
                                       state=state) as testnet, client_for(testnet) as c:
            assert (await c.order(side="buy", type="limit", size="0.1", price="1500",
                                  client_order_id="rest-1")).status_code == 200
            assert (await c.order(side="buy", type="market", size="0.25", client_order_id="m-1")).status_code == 200
            before = await ledger_of(c)
        assert len(before["orders"]) == 2 and len(before["fills"]) >= 1 and len(before["positions"]) == 1

        async with open_ekiden_testnet(ekiden_accounts_file, market=market, run_market=False, options=FAST_LIMITS,
                                       state=state) as testnet, client_for(testnet) as c:
            assert await ledger_of(c) == before
            found = (await c.private("GET", "/v1/orders?client_order_id=rest-1")).json()["data"]
            assert [o["status"] for o in found] == ["open"]
            canceled = await c.private("DELETE", f"/v1/orders/{found[0]['order_id']}")
            assert canceled.status_code == 200 and canceled.json()["data"]["status"] == "canceled"
            again = (await c.order(side="buy", type="limit", size="0.1", price="1500")).json()["data"]
            assert again["order_id"] not in {o["order_id"] for o in before["orders"]}
