"""The Coinpit testnet's socket.io side, driven by the kit's client stream: orders over the socket
(``POST /order``, ``PUT /order``, ``DELETE /order`` with the ``requestid`` echoed), registration
for private events, ``auth_error`` for a bad MAC, and public books and trades."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import trio

from backtest.exchange import Exchange
from engine import OrderType, Side
from venues._common.sio_stream import stream_url
from venues.coinpit.constants import ALIAS_WEEKLY, SOCKET_PATH
from venues.coinpit.signer import private_key_bytes, shared_secret, socket_request
from venues.coinpit.stream import CoinpitStream
from venues.coinpit.testnet import CoinpitTestnet, open_coinpit_testnet, public_key_of, server_secret

from .conftest import ACCOUNTS, ALICE, ALICE_SECRET, BOB

D = Decimal


class Events:
    def __init__(self) -> None:
        self.got: list[tuple[str, Any]] = []
        self.changed = trio.Event()

    def handler(self, name: str) -> Any:
        def on(data: Any, ts_recv: int) -> None:
            self.got.append((name, data))
            self.changed.set()
        return on

    async def wait_for(self, name: str, predicate: Any = lambda data: True) -> Any:
        while True:
            for got, data in self.got:
                if got == name and predicate(data):
                    return data
            await self.changed.wait()
            self.changed = trio.Event()


def key_for(testnet: CoinpitTestnet) -> bytes:
    return shared_secret(private_key_bytes(ALICE_SECRET), public_key_of(server_secret(ALICE.public_key)))


def request(testnet: CoinpitTestnet, method: str, body: Any, *, key: bytes | None = None,
            requestid: str | None = None) -> dict[str, Any]:
    return socket_request(ALICE.userid, key or key_for(testnet), method, "/order" if method != "GET" else "/register",
                          body, testnet.server_time_ms(), requestid=requestid)


def new_order(side: str, qty: int, price: str) -> dict[str, Any]:
    return {"instrument": ALIAS_WEEKLY, "side": side, "quantity": qty, "price": D(price), "orderType": "LMT",
            "stopPrice": D(2), "targetPrice": "NONE", "clientid": str(uuid.uuid4())}


async def test_orders_over_the_socket() -> None:
    events = Events()
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        register_body = {"userid": ALICE.userid, "publicKey": ALICE.public_key}

        async def register() -> dict[str, Any]:
            return request(testnet, "GET", register_body)

        stream = CoinpitStream(stream_url(testnet.url.replace("http://", "ws://"), SOCKET_PATH), register=register,
                               reconnect_min_s=0.05, reconnect_max_s=0.5, request_timeout_s=5.0)
        names = ("order_add", "order_update", "order_del", "order_error", "order_execution", "account", "auth_error",
                 "orderbook", "trade", "alias", "server_time", "priceband")
        stream.handlers.update({name: events.handler(name) for name in names})
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(stream.run)
                assert stream.registered
                assert (await events.wait_for("alias")) == {ALIAS_WEEKLY: testnet.contract}
                await stream.emit("POST /order", request(testnet, "POST", [new_order("buy", 5, "1200")],
                                                          requestid="r-1"))
                added = await events.wait_for("order_add")
                assert added["requestid"] == "r-1" and added["result"][0]["quantity"] == 5
                order_id = added["result"][0]["uuid"]
                book = await events.wait_for("orderbook", lambda b: b[testnet.contract]["buy"])
                assert book[testnet.contract]["buy"][0]["totalQuantity"] == 5
                # only the price changes: PUT with {orders: [...]}, as coinpit-client sends it
                await stream.emit("PUT /order", request(testnet, "PUT", {"orders": [{"uuid": order_id,
                                                                                     "price": D("1201")}]},
                                                         requestid="r-2"))
                updated = await events.wait_for("order_update", lambda d: d.get("requestid") == "r-2")
                assert D(str(updated["result"][0]["price"])) == D(1201)
                # bob takes 2: a private execution, the account pushed
                bob = testnet.exchange.account_by_api_key(BOB.userid)
                assert bob is not None
                testnet.exchange.submit_order(bob, testnet.contract, Side.SELL, OrderType.MARKET, D(2))
                execution = await events.wait_for("order_execution")
                assert (execution["orderid"], execution["quantity"]) == (order_id, 2)
                assert isinstance(execution["commission"], int)
                await events.wait_for("account", lambda a: a["account"]["positions"])
                # a bad body and a bad MAC: the venue's errors, nothing booked
                await stream.emit("POST /order", request(testnet, "POST", "junk", requestid="r-3"))
                error = await events.wait_for("order_error", lambda d: d.get("requestid") == "r-3")
                assert error["error"]["message"] == "Orders must be a list"
                await stream.emit("POST /order", request(testnet, "POST", [new_order("buy", 1, "1200")], key=b"x" * 32,
                                                          requestid="r-4"))
                refused = await events.wait_for("auth_error")
                assert "mismatch" in refused["error"] and refused["data"]["headers"]["requestid"] == "r-4"
                # cancel over the socket: DELETE /order with [uuid]
                await stream.emit("DELETE /order", request(testnet, "DELETE", [order_id], requestid="r-5"))
                deleted = await events.wait_for("order_del", lambda d: d.get("requestid") == "r-5")
                assert deleted["result"] == [order_id]
                alice = testnet.exchange.accounts["alice"]
                assert testnet.exchange.open_orders(alice) == []
                assert isinstance(testnet.exchange, Exchange)
                nursery.cancel_scope.cancel()
