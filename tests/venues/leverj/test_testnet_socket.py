"""The Leverj testnet's socket.io side, with a real socket.io 2.x client (python-socketio 4.x):
public pushes, ``GET /register`` (signed like REST), private order events, requests as events."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
import trio

from venues.leverj.signer import authorization
from venues.leverj.testnet import LeverjTestnet

from .conftest import ALICE_ACCOUNT, ALICE_KEY, ALICE_SECRET, Caller
from .test_testnet import futures

socketio = pytest.importorskip("socketio")


def _signed(testnet: LeverjTestnet, method: str, uri: str, body: Any, auth_type: str = "SIGN") -> dict[str, Any]:
    from venues.leverj.signer import js_dumps

    nonce = testnet.server_time_ms()
    signed = js_dumps({"body": body, "params": {}}) if auth_type == "SIGN" else None
    header = authorization(auth_type, ALICE_ACCOUNT, ALICE_SECRET, method, uri, signed, nonce)
    return {"headers": {"Authorization": header, "Nonce": str(nonce), "requestid": "r1"}, "method": method,
            "uri": uri, "params": {}, "body": body}


EVENTS = ("server_time", "order_add", "order_del", "order_update", "orderbook", "auth_error", "account_balance",
          "position", "order_execution")


async def _watch_an_order(testnet: LeverjTestnet, caller: Caller, socket_path: str, *,
                          wait_for: str | None) -> dict[str, list[Any]]:
    """Register a real socket.io client on ``socket_path`` (a refused register first), place a
    futures order over REST, and return every event the client got (by name)."""
    got: dict[str, list[Any]] = {}
    registered, arrived, stop = threading.Event(), threading.Event(), threading.Event()
    register = _signed(testnet, "GET", "/register", {"accountId": ALICE_ACCOUNT, "apiKey": ALICE_KEY})
    bad = dict(register, headers=dict(register["headers"], Nonce=str(int(register["headers"]["Nonce"]) + 1)))

    def client() -> None:
        sio = socketio.Client(reconnection=False)
        for name in EVENTS:
            sio.on(name, (lambda n: lambda data: (got.setdefault(n, []).append(data),
                                                   arrived.set() if n == wait_for else None))(name))
        sio.connect(testnet.url, socketio_path=socket_path)
        got["bad"] = [sio.call("GET /register", bad, timeout=5)]
        got["ack"] = [sio.call("GET /register", register, timeout=5)]
        registered.set()
        stop.wait(10)
        sio.disconnect()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, client)
            while not registered.is_set():
                await trio.sleep(0.02)
            await caller.ok("POST", "/order", [futures(caller, "buy", "30000", "0.01")])
            while wait_for is not None and not arrived.is_set():
                await trio.sleep(0.02)
            await trio.sleep(0.3)
            stop.set()
    return got


async def test_register_and_private_events(leverj_testnet: LeverjTestnet, alice_futures: Caller) -> None:
    got = await _watch_an_order(leverj_testnet, alice_futures, "/futures/socket.io", wait_for="order_add")
    assert got["bad"][0]["error"] == "Authentication failed. SIGN mismatch"
    assert got["auth_error"][0]["error"] == "Authentication failed. SIGN mismatch"
    assert got["ack"][0]["accountId"] == ALICE_ACCOUNT
    assert isinstance(got["server_time"][0], int)
    order = got["order_add"][0]["result"][0]
    assert order["price"] == 30000 and order["instrument"] == "1"
    assert "1" in got["orderbook"][-1] and got["orderbook"][-1]["1"]["buy"][0]["price"] == 30000
    assert got["account_balance"]


async def test_orders_over_the_socket(leverj_testnet: LeverjTestnet, alice_futures: Caller) -> None:
    order = futures(alice_futures, "buy", "30000", "0.01")
    results: dict[str, Any] = {}

    def client() -> None:
        from venues.leverj.schemas import dumps

        sio = socketio.Client(reconnection=False)
        done = threading.Event()

        @sio.on("order_add")
        def on_add(data: Any) -> None:
            results["order_add"] = data
            done.set()

        sio.connect(leverj_testnet.url, socketio_path="/futures/socket.io")
        import json
        body = json.loads(dumps([order]))  # JS numbers as JSON numbers
        results["ack"] = sio.call("POST /order", _signed(leverj_testnet, "POST", "/order", body, "NONCE"), timeout=5)
        done.wait(5)
        sio.disconnect()

    with trio.fail_after(30):
        await trio.to_thread.run_sync(client)
    assert results["order_add"]["requestid"] == "r1"
    assert results["order_add"]["result"][0]["status"] == "open"
    assert len(await alice_futures.ok("GET", "/order")) == 1
    assert Decimal(str(results["ack"]["result"][0]["quantity"])) == Decimal("0.01")


async def test_private_events_stay_on_their_market(leverj_testnet: LeverjTestnet, alice_futures: Caller) -> None:
    got = await _watch_an_order(leverj_testnet, alice_futures, "/spot/socket.io", wait_for=None)
    assert got["ack"][0]["accountId"] == ALICE_ACCOUNT
    private = {"order_add", "order_update", "order_del", "order_execution"}
    assert [name for name in got if name in private] == []  # a futures order is no news on the spot socket
