"""The Coinpit testnet: handshake, HMAC verification, orders (and their refusals), the band,
cancel, update, patch, inverse PnL in satoshis, the command line."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import httpx
import trio

from venues.coinpit.constants import ALIAS_WEEKLY, API_BASE
from venues.coinpit.testnet import CoinpitTestnet

from .conftest import ALICE, BOB, Caller

D = Decimal


def order(side: str, qty: int, price: str | None = "1200", **extra: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"instrument": ALIAS_WEEKLY, "side": side, "quantity": qty, "orderType": "LMT",
                         "stopPrice": D(2), "targetPrice": "NONE", "clientid": str(uuid.uuid4())}
    if price is None:
        o["orderType"] = "MKT"
    else:
        o["price"] = D(price)
    o.update(extra)
    return o


async def test_handshake_and_public(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    unknown = await alice.http.get("/auth/02" + "11" * 32)
    assert unknown.status_code == 404 and "error" in unknown.json()
    config = (await alice.http.get("/all/config")).json()
    contract = coinpit_testnet.contract
    assert config["instruments"][contract]["type"] == "inverse"
    assert config["instruments"][contract]["contractusdvalue"] == 100
    assert config["config"]["aliases"] == {ALIAS_WEEKLY: contract}
    assert set((await alice.http.get("/all/band")).json()) == {contract}
    assert (await alice.http.get(f"/contract/{ALIAS_WEEKLY}/orderbook")).json()["buy"] == []


async def test_every_mac_is_checked(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    assert (await alice.call("GET", "/order", headers={})).status_code == 401
    now = coinpit_testnet.server_time_ms()
    stale = await alice.call("GET", "/order", headers=alice.headers("GET", "/order", None, now - 20_000))
    assert stale.status_code == 401 and "stale" in stale.json()["error"]
    # a MAC made for another uri, or another body, fails
    other = await alice.call("GET", "/account", headers=alice.headers("GET", "/order", None))
    assert other.status_code == 401 and "mismatch" in other.json()["error"]
    body = [order("buy", 1)]
    signed = alice.headers("POST", "/order", '[{"instrument":"BTCUSDW"}]')
    tampered = await alice.call("POST", "/order", body, headers=signed)
    assert tampered.status_code == 401
    assert await alice.ok("GET", "/order") == []  # nothing was booked
    assert (await alice.call("OPTIONS", "/order")).headers["Server-Time"].isdigit()


async def test_hostile_orders_get_the_venue_error(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    cases = [[order("buy", 0)], [order("buy", 1, "1200.25")], [order("hold", 1)], [order("buy", 1, orderType="XYZ")],
             [order("buy", 1, clientid=None)], [order("buy", 1, instrument="BTCUSD0Z99")], ["junk"], {"a": 1},
             [dict(order("buy", 1), quantity=D("1.5"))], [dict(order("buy", 1), price=D("1e40"))], [dict(order("buy", 1, None), price=1)],
             [order("buy", 1)] * 101]
    for body in cases:
        response = await alice.call("POST", "/order", body)
        assert 400 <= response.status_code < 500 and "error" in response.json(), (body, response.text)
    raw = await alice.http.post("/order", content=b"{not json", headers=alice.headers("POST", "/order", None))
    assert raw.status_code == 400
    assert await alice.ok("GET", "/order") == []
    assert (await alice.call("DELETE", "/order/not-a-uuid")).status_code == 404


async def test_orders_fill_and_book_inverse_pnl_in_satoshis(coinpit_testnet: CoinpitTestnet, alice: Caller,
                                                            bob: Caller) -> None:
    contract = coinpit_testnet.contract
    bid = (await alice.ok("POST", "/order", [order("buy", 10, "1200")]))[0]
    assert (bid["instrument"], bid["status"], bid["userid"]) == (contract, "open", ALICE.userid)
    away = (await alice.ok("POST", "/order", [order("buy", 5, "1190")]))[0]
    assert await alice.ok("DELETE", f"/order/{away['uuid']}") == [away["uuid"]]
    assert (await alice.call("DELETE", f"/order/{away['uuid']}")).status_code == 404
    cancelled = await alice.ok("GET", f"/contract/{ALIAS_WEEKLY}/order/cancelled")
    assert [o["uuid"] for o in cancelled] == [away["uuid"]] and cancelled[0]["status"] == "cancelled"
    ask = (await bob.ok("POST", "/order", [order("sell", 10, "1210")]))[0]
    # the band: index = mid 1205, ±1 %
    band = (await alice.http.get("/all/band")).json()[contract]
    assert (D(str(band["min"])), D(str(band["max"]))) == (D("1193"), D("1217"))
    outside = await alice.call("POST", "/order", [order("buy", 1, "1250")])
    assert outside.status_code == 422 and "band" in outside.json()["error"]
    # bob sells into alice's bid; alice's bid moves up first (PUT: only the price)
    moved = await alice.ok("PUT", "/order", [{"uuid": bid["uuid"], "price": D("1201.5")}])
    assert moved[0]["price"] == D("1201.5")
    taker = (await bob.ok("POST", "/order", [order("sell", 10, None)]))[0]
    assert taker["filled"] == 10 and taker["status"] == "closed"
    account = await alice.ok("GET", "/account")
    assert account["positions"][contract]["quantity"] == 10
    entry = D("1201.5")
    # alice closes at market into a new bid of bob's at 1205 (inside the band around the last price)
    await bob.ok("DELETE", f"/order/{ask['uuid']}")
    await bob.ok("POST", "/order", [order("buy", 10, "1205")])
    await alice.ok("POST", "/order", [order("sell", 5, "1212")])  # an ask keeps the book two-sided
    exit_ = (await alice.ok("POST", "/order", [order("sell", 10, None)]))[0]
    assert exit_["filled"] == 10
    executions = await alice.ok("GET", "/account/execution")
    close = executions[0]
    expected_pnl = (10 * 100 * (1 / entry - 1 / D(1205))).quantize(D("1e-8"), ROUND_HALF_EVEN) * 10**8
    assert close["pnl"] == int(expected_pnl) and isinstance(close["commission"], int)
    fee = (10 * 100 / D(1205) * D("0.0005")).quantize(D("1e-8"), ROUND_HALF_EVEN) * 10**8
    assert close["commission"] == int(fee) and close["liquidity"] == "commission"
    account = await alice.ok("GET", "/account")
    assert account["positions"] == {}
    # the margin account moved by exactly PnL − commissions (the open bid and ask lock the rest)
    paid = sum(e["commission"] for e in executions)
    assert account["accountMargin"] == 10 * 10**8 + int(expected_pnl) - paid
    assert account["pnl"]["pnl"] == int(expected_pnl)


async def test_patch_answers_each_operation(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    first = (await alice.ok("POST", "/order", [order("buy", 1, "1100")]))[0]
    results = await alice.ok("PATCH", "/order", [
        {"op": "remove", "value": [first["uuid"]]}, {"op": "add", "value": [order("buy", 2, "1101")]},
        {"op": "merge", "value": []}])
    assert results[0] == {"op": "remove", "statusCode": 200, "response": [first["uuid"]]}
    assert results[1]["statusCode"] == 200 and results[1]["response"][0]["quantity"] == 2
    assert results[2]["statusCode"] == 400 and "error" in results[2]
    assert [o["quantity"] for o in await alice.ok("GET", "/order")] == [2]


async def test_order_commands_get_the_answer_faults(coinpit_testnet: CoinpitTestnet, alice: Caller) -> None:
    from venues._testnet.faults import FaultSettings

    coinpit_testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
    response = await alice.call("POST", "/order", [order("buy", 1, "1000")])
    assert response.status_code == 500
    coinpit_testnet.faults.configure(FaultSettings())
    assert len(await alice.ok("GET", "/order")) == 1  # booked all the same


async def test_command_line_serves(accounts_file: Path) -> None:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "venues.coinpit.testnet", "--accounts", str(accounts_file), "--port", "0",
         "--no-market"], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        with trio.fail_after(30):
            text = b""
            while b"accounts:" not in text:
                text += await process.stdout.receive_some(1000)
        url = text.decode().splitlines()[0].split()[3]
        async with httpx.AsyncClient(base_url=url.rstrip("/")) as http:
            answer = (await http.get(f"/auth/{BOB.public_key}")).json()
            assert answer["userid"] == BOB.userid
        assert url.endswith(API_BASE + "/")
    finally:
        process.terminate()
        await process.wait()


def test_the_shipped_accounts_file_names_the_key_its_comment_gives() -> None:
    import re

    from venues.coinpit.constants import Network
    from venues.coinpit.signer import identity_of
    from venues.coinpit.testnet import load_coinpit_accounts

    path = Path(__file__).resolve().parents[3] / "configs" / "coinpit_accounts.toml"
    (account,) = load_coinpit_accounts(path)
    key = re.search(r"private key ([0-9a-f]{64})", path.read_text())
    assert key is not None
    identity = identity_of(key.group(1), Network.TESTNET)
    assert identity.public_key == account.public_key and identity.userid in path.read_text()


async def test_the_feb_2017_aliases(coinpit_testnet: CoinpitTestnet, alice: Caller, bob: Caller) -> None:
    base = f"/contract/{ALIAS_WEEKLY}/order/open"
    first = (await alice.ok("POST", base, [order("buy", 2, "1000")]))[0]
    second = (await alice.ok("POST", base, [order("buy", 3, "1001")]))[0]
    assert [o["uuid"] for o in await alice.ok("GET", base)] == [first["uuid"], second["uuid"]]
    assert await alice.ok("DELETE", f"{base}/{first['uuid']}") == [first["uuid"]]
    assert await alice.ok("DELETE", base) == [second["uuid"]]
    assert await alice.ok("DELETE", base) == []
    assert (await alice.call("DELETE", f"{base}/a/b")).status_code == 404
    await bob.ok("POST", "/order", [order("sell", 4, "1000")])
    await alice.ok("POST", base, [order("buy", 4, None)])
    positions = await alice.ok("GET", "/account/position")
    assert positions[coinpit_testnet.contract]["quantity"] == 4
    pnl = await alice.ok("GET", "/account/pnl")
    assert pnl["pnl"]["pnl"] == 0 and isinstance(pnl["pnl"]["commission"], int)
