"""The Leverj testnet: public data, request authentication, signed orders (and their refusals),
cancel, patch, account views, and both markets on one port."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from venues.leverj.constants import api_base
from venues.leverj.schemas import ASSETS, loads_exact as loads
from venues.leverj.signer import Asset, margin_per_fraction, signed_futures_order, signed_spot_order
from venues.leverj.testnet import LeverjTestnet

from .conftest import ALICE_ACCOUNT, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET, Caller

D = Decimal
DAI = Asset("DAI", ASSETS["DAI"]["address"], 18)
ETH = Asset("ETH", ASSETS["ETH"]["address"], 18)


def futures(caller: Caller, side: str, price: str, qty: str, *, leverage: int = 10, secret: str | None = None,
            instrument: str = "1", **extra: Any) -> dict[str, Any]:
    return signed_futures_order(account_id=caller.account_id, secret=secret or caller.secret, instrument=instrument,
                                quote=DAI, side=side, order_type=extra.pop("order_type", "LMT"), price=D(price),
                                quantity=D(qty), margin_per_fraction=margin_per_fraction(D(price), leverage, 18, 4),
                                timestamp_us=caller.testnet.server_time_ms() * 1000, **extra)


def spot(caller: Caller, side: str, price: str, qty: str, **extra: Any) -> dict[str, Any]:
    return signed_spot_order(account_id=caller.account_id, secret=caller.secret, instrument="ETHDAI", base=ETH,
                             quote=DAI, side=side, order_type="LMT", price=D(price), quantity=D(qty),
                             timestamp_us=caller.testnet.server_time_ms() * 1000, **extra)


async def test_public_endpoints_of_both_markets(leverj_testnet: LeverjTestnet) -> None:
    async with httpx.AsyncClient(base_url=leverj_testnet.url) as http:
        config = loads((await http.get(api_base("futures") + "/all/config")).content)
        assert set(config["instruments"]) == {"1", "2"}
        assert config["instruments"]["1"]["symbol"] == "BTCUSD" and config["instruments"]["1"]["maxLeverage"] == 100
        spot_config = loads((await http.get(api_base("spot") + "/all/config")).content)
        assert set(spot_config["instruments"]) == {"ETHDAI", "L2ETH"}
        assert spot_config["instruments"]["ETHDAI"]["ticksize"] == 2
        info = loads((await http.get(api_base("futures") + "/all/info")).content)
        assert info["1"]["fundingRate"]["end"] - info["1"]["fundingRate"]["start"] == 3_600_000
        book = loads((await http.get(api_base("spot") + "/instrument/ETHDAI/orderbook")).content)
        assert book["buy"] == [] and book["sell"] == []
        assert (await http.get(api_base("spot") + "/instrument/NOPE/orderbook")).status_code == 404
        assert (await http.get("/other/api/v1/all/info")).status_code == 404
        options = await http.options(api_base("futures") + "/order")
        assert options.status_code == 200 and abs(int(options.headers["server-time"]) -
                                                   leverj_testnet.server_time_ms()) < 5_000


async def test_authentication(leverj_testnet: LeverjTestnet, alice_futures: Caller, bob_futures: Caller) -> None:
    assert await alice_futures.ok("GET", "/order") == []  # NONCE
    assert await bob_futures.ok("GET", "/account/execution?count=5") == []  # SIGN with a query
    now = leverj_testnet.server_time_ms()
    stale = alice_futures.headers("GET", "/order", None, nonce=now - 11_000)
    response = await alice_futures.call("GET", "/order", headers=stale)
    assert response.status_code == 401 and "stale by" in response.json()["error"]
    # a SIGN header replayed on another uri or method
    signed = bob_futures.headers("GET", "/order", None)
    assert (await bob_futures.call("GET", "/account", headers=signed)).status_code == 401
    assert (await bob_futures.call("DELETE", "/order", headers=signed)).status_code in (401, 404)
    assert (await bob_futures.call("GET", "/order", headers=signed)).status_code == 200
    # a key that is not the account's, an account that is not the key's
    intruder = Caller(leverj_testnet, "futures", ALICE_ACCOUNT, BOB_SECRET)
    try:
        response = await intruder.call("GET", "/order")
        assert response.status_code == 401 and response.json()["error"] == "Authentication failed. Unregistered api key"
    finally:
        await intruder.aclose()
    for headers in ({}, {"Authorization": "SIGN x", "Nonce": "1"}, {"Authorization": "NONCE a.b.c.d.e", "Nonce": "x"}):
        response = await alice_futures.call("GET", "/order", headers=headers)
        assert response.status_code == 401 and "error" in response.json()


async def test_futures_orders_are_checked_against_their_signature(leverj_testnet: LeverjTestnet,
                                                                  alice_futures: Caller) -> None:
    order = futures(alice_futures, "buy", "30000", "0.01", client_order_id=7)
    created = await alice_futures.ok("POST", "/order", [order])
    assert len(created) == 1 and created[0]["status"] == "open" and created[0]["clientOrderId"] == 7
    assert created[0]["marginPerFraction"] == order["marginPerFraction"] and created[0]["instrument"] == "1"
    uuid = created[0]["uuid"]
    assert [o["uuid"] for o in await alice_futures.ok("GET", "/order")] == [uuid]
    assert (await alice_futures.ok("GET", f"/order/{uuid}"))[0]["uuid"] == uuid
    # one field changed after signing, or signed by another key: M_INV_ORDSIG, nothing booked
    for tampered in (dict(futures(alice_futures, "buy", "30000", "0.01"), price=D(30001)),
                     dict(futures(alice_futures, "buy", "30000", "0.01"), quantity=D("0.02")),
                     dict(futures(alice_futures, "buy", "30000", "0.01"), side="sell"),
                     dict(futures(alice_futures, "buy", "30000", "0.01", secret=BOB_SECRET), originator=ALICE_KEY)):
        response = await alice_futures.call("POST", "/order", [tampered])
        assert (response.status_code, response.json()) == (422, {"error": "M_INV_ORDSIG"})
    response = await alice_futures.call("POST", "/order", [futures(alice_futures, "buy", "30000", "0.01",
                                                                   secret=BOB_SECRET)])
    assert (response.status_code, response.json()) == (400, {"error": "Invalid order originator"})
    personal = futures(alice_futures, "buy", "29000", "0.01", personal=True)
    assert (await alice_futures.ok("POST", "/order", [personal]))[0]["status"] == "open"
    refusals = [
        (futures(alice_futures, "buy", "30000", "0.01", leverage=200), 400, "leverage"),
        (futures(alice_futures, "buy", "30000.5", "0.01"), 400, "price"),
        (futures(alice_futures, "buy", "30000", "0.00001"), 400, "quantity"),
        (futures(alice_futures, "sell", "30000", "0.01", reduce_only=True), 400, "Reduce-only"),
        (dict(futures(alice_futures, "buy", "30000", "0.01"), quote=ETH.address), 400, "quote"),
        (dict(futures(alice_futures, "buy", "30000", "0.01"), accountId=BOB_KEY), 400, "accountId"),
        (dict(futures(alice_futures, "buy", "30000", "0.01"), orderType="STOP"), 400, "orderType"),
    ]
    for order, status, word in refusals:
        response = await alice_futures.call("POST", "/order", [order])
        assert response.status_code == status and word in response.json()["error"], response.text
    assert len(await alice_futures.ok("GET", "/order")) == 2
    assert (await alice_futures.call("POST", "/order", [])).status_code == 400
    assert (await alice_futures.call("POST", "/order", {"not": "a list"})).status_code == 400


async def test_cancel_patch_and_fills(leverj_testnet: LeverjTestnet, alice_futures: Caller,
                                      bob_futures: Caller) -> None:
    resting = (await alice_futures.ok("POST", "/order", [futures(alice_futures, "buy", "30000", "0.02")]))[0]
    other = (await alice_futures.ok("POST", "/order", [futures(alice_futures, "buy", "29000", "0.01")]))[0]
    assert await alice_futures.ok("DELETE", f"/order/{other['uuid']}") == [[other["uuid"]]]
    missing = await alice_futures.call("DELETE", f"/order/{other['uuid']}")
    assert missing.status_code == 404 and "could not be found" in missing.json()["error"]
    # bob sells into alice's bid: both see the execution
    taker = (await bob_futures.ok("POST", "/order", [futures(bob_futures, "sell", "30000", "0.01")]))[0]
    assert taker["filled"] == D("0.01") and taker["status"] == "done"
    executions = await alice_futures.ok("GET", "/account/execution")
    assert [(e["orderId"], e["quantity"], e["price"], e["liquidity"]) for e in executions] == \
        [(resting["uuid"], D("0.01"), D(30000), "maker")]
    positions = await alice_futures.ok("GET", "/account/position")
    assert [(p["instrument"], p["size"]) for p in positions] == [("1", "0.01")]
    assert int(positions[0]["margin"]) == 30 * 10**18  # 0.01 × 30000 / 10
    balances = await alice_futures.ok("GET", "/account/balance")
    dai = balances[DAI.address]
    assert dai["symbol"] == "DAI" and int(dai["available"]) < int(dai["plasma"])
    # PATCH: remove the rest, add a new order, one bad op answered by itself
    patched = await alice_futures.ok("PATCH", "/order", [
        {"op": "remove", "value": [resting["uuid"]]},
        {"op": "add", "value": [futures(alice_futures, "buy", "28000", "0.01")]},
        {"op": "replace", "value": []}])
    ops = patched["result"]
    assert ops[0] == {"op": "remove", "response": [resting["uuid"]]}
    assert ops[1]["op"] == "add" and ops[1]["response"][0]["price"] == D(28000)
    assert ops[2]["statusCode"] == 400
    assert [o["price"] for o in await alice_futures.ok("GET", "/order")] == [D(28000)]
    account = await alice_futures.ok("GET", "/account")
    assert account["accountId"] == ALICE_ACCOUNT and account["apiKeys"] == {ALICE_KEY: True}


async def test_spot_orders_and_markets_share_balances(leverj_testnet: LeverjTestnet, alice_spot: Caller,
                                                      alice_futures: Caller) -> None:
    order = spot(alice_spot, "buy", "2000.55", "0.5")
    created = await alice_spot.ok("POST", "/order", [order])
    assert created[0]["instrument"] == "ETHDAI" and created[0]["token"] == ETH.address
    tampered = dict(spot(alice_spot, "buy", "2000.55", "0.5"), quantity=D("5"))
    response = await alice_spot.call("POST", "/order", [tampered])
    assert (response.status_code, response.json()["error"]) == (422, "M_INV_ORDSIG")
    # spot orders are not futures orders: the other market does not know the instrument
    response = await alice_futures.call("POST", "/order", [spot(alice_spot, "buy", "2000", "0.5")])
    assert response.status_code == 404
    assert await alice_futures.ok("GET", "/order") == []
    balances = await alice_futures.ok("GET", "/account/balance")
    locked = int(balances[DAI.address]["plasma"]) - int(balances[DAI.address]["available"])
    assert locked == int(D("2000.55") * D("0.5") * 10**18)  # spot fees are 0


async def test_order_commands_get_the_answer_faults(leverj_testnet: LeverjTestnet, alice_futures: Caller) -> None:
    from venues._testnet.faults import FaultSettings

    leverj_testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
    response = await alice_futures.call("POST", "/order", [futures(alice_futures, "buy", "30000", "0.01")])
    assert response.status_code == 500
    assert len(await alice_futures.ok("GET", "/order")) == 1  # booked all the same
    leverj_testnet.faults.configure(FaultSettings(force_429_every=1))
    assert (await alice_futures.call("GET", "/order")).status_code == 429


async def test_command_line_serves_both_markets(accounts_file: Any) -> None:
    import subprocess
    import sys

    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "venues.leverj.testnet", "--accounts", str(accounts_file), "--port", "0",
         "--no-market"], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        with trio.fail_after(30):
            text = b""
            while b"accounts:" not in text:
                text += await process.stdout.receive_some(1000)
        rest = text.decode().splitlines()[0]  # leverj testnet REST      http://127.0.0.1:N/spot/api/v1/ and …
        url = rest.split()[3].removesuffix(api_base("spot") + "/")
        async with httpx.AsyncClient(base_url=url) as http:
            for market in ("spot", "futures"):
                assert (await http.get(api_base(market) + "/all/config")).status_code == 200
    finally:
        process.terminate()
        await process.wait()
