"""Shared fixtures of the Magnr tests: a served testnet with one funded account and a gateway on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import trio

from backtest.exchange import AccountConfig
from engine import Order, OrderStatus, OrderType, Side
from venues.magnr import MagnrConfig, MagnrGateway, local_options
from venues.magnr.testnet import MagnrTestnet, MagnrTestnetOptions, open_magnr_testnet

KEY, SECRET = "9ad346e624c50f1db22aa8f5f69fcaaf569bf4a2ac80ed1017fe211399950a1e", "privkey/with+base64=chars=="
ACCOUNTS = [AccountConfig("alice", KEY, SECRET, {"BTC": Decimal("2")})]


class Sink:
    """Collects what the gateway sends; ``wait_for`` waits for a matching event."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = trio.Event()

    def send_market(self, event: Any) -> None:
        self._add(event)

    def send_execution(self, event: Any) -> None:
        self._add(event)

    def _add(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[Any], bool], timeout_s: float = 10.0) -> Any:
        with trio.fail_after(timeout_s):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._changed.wait()


@asynccontextmanager
async def magnr(options: MagnrTestnetOptions | None = None, **gateway_options: Any
                ) -> AsyncIterator[tuple[MagnrTestnet, MagnrGateway, Sink]]:
    """A testnet (synthetic market running) and a started gateway for alice."""
    async with open_magnr_testnet(ACCOUNTS, seed=3, options=options) as testnet:
        config = MagnrConfig.from_mapping({**local_options(testnet.url), "api_key": KEY, "secret": SECRET,
                                           "tonce_file": "-", "poll_fast_s": 0.05, "poll_slow_s": 0.2,
                                           "ticker_poll_s": 0.1, **gateway_options})
        gateway = MagnrGateway(config)
        sink = Sink()
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run, sink)
            try:
                yield testnet, gateway, sink
            finally:
                nursery.cancel_scope.cancel()


def market(gateway: MagnrGateway, side: Side, qty: str, *, symbol: str = "ItBit-XBTUSD", cid: str = "o1",
           **kw: Any) -> Order:
    inst = gateway.instruments[f"magnr:{symbol}"]
    order = Order(cid, inst, side, kw.pop("type", OrderType.MARKET), inst.size_raw(Decimal(qty)), **kw)
    order.status = OrderStatus.SUBMITTED
    return order
