"""Hostile input to the Coinpit testnet, signed as a real client would sign it: seeded random
JSON to every order and account route, odd paths and queries; the venue's error every time
(``{"error": …}``, 4xx), never a 5xx, and nothing booked that should not be."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from venues.coinpit.testnet import CoinpitTestnet

from .conftest import Caller

D = Decimal

_ATOMS: list[Any] = [None, True, False, 0, -1, 1, 2**53 - 1, D("1e-30"), D("1200.05"), D("-0.1"), "", "NONE", "buy",
                     "sell", "LMT", "MKT", "BTCUSDW", "x" * 300, "00000000-0000-1000-8000-000000000000", [], {}]
_KEYS = ["instrument", "side", "quantity", "price", "orderType", "stopPrice", "targetPrice", "clientid", "userid",
         "crossMargin", "postOnly", "uuid", "op", "value", "orders", "0", "__proto__"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(_ATOMS)
    if roll < 0.75:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(_KEYS): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _order_like(rng: random.Random) -> dict[str, Any]:
    base: dict[str, Any] = {"instrument": "BTCUSDW", "side": "buy", "quantity": 1, "price": D("1000"),
                            "orderType": "LMT", "stopPrice": D(2), "targetPrice": "NONE", "clientid": "c-1"}
    for _ in range(rng.randint(1, 3)):
        base[rng.choice(_KEYS)] = _value(rng)
    return base


async def test_random_bodies_get_the_venue_s_errors_never_a_5xx(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    rng = random.Random(1313)
    routes = [("POST", "/order"), ("PUT", "/order"), ("PATCH", "/order"), ("DELETE", "/order/x,y"),
              ("GET", "/order/zzz"), ("GET", "/contract/BTCUSDW/order/closed?from=nope"),
              ("GET", "/contract/NOPE/order/open"), ("GET", "/account/nothing"), ("POST", "/account")]
    statuses: dict[int, int] = {}
    for i in range(300):
        method, uri = rng.choice(routes)
        body: Any = ([_order_like(rng)] if rng.random() < 0.5 else _value(rng)) if method != "GET" else None
        response = await alice.call(method, uri, body)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (method, uri, body, response.text)
        if response.status_code != 200:
            assert isinstance(response.json().get("error"), str)
    assert set(statuses) - {200} and min(statuses) >= 200
    for order in await alice.ok("GET", "/order"):  # whatever was booked is a well-formed order
        assert order["quantity"] >= 1 and order["instrument"] == coinpit_testnet.contract


async def test_odd_requests_never_reach_a_5xx(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    odd = ["/auth/", "/auth/zz", "/all/", "/all/nothing", "/contract//orderbook", "/contract/%00/trade",
           "/order/%2e%2e", "/account/margin/1", "/" + "a/" * 200]
    for path in odd:
        for method in ("GET", "POST", "DELETE"):
            response = await alice.http.request(method, path, headers=alice.headers(method, path, None))
            assert response.status_code < 500 and "error" in response.json(), (method, path, response.text)
