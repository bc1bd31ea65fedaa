"""What the conformance tests share: a served testnet, a running gateway, an event collector.

* :func:`serve` builds a venue's testnet from its adapter, runs a synthetic market (``running``,
  ``quiet`` = primed but still, or ``none`` = empty books) and serves the dialect's ASGI app on
  127.0.0.1 port 0 behind :class:`Mangler`, an ASGI middleware that can push raw frames into open
  WebSockets and garble the next HTTP answer of a route (malformed-message tests, for every venue
  the same way, without touching the venue's code).
* :func:`gateway` runs a gateway for one account in a nursery, its events collected by
  :class:`Collector` from the engine's own :class:`~engine._channels.EventLanes`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import trio

from venues._testnet.faults import FaultSettings
from venues._testnet.market import MarketSettings, SyntheticMarket
from venues._testnet.server import serve_testnet, ws_url_of
from engine import (
    ClientOrderIdFactory,
    DataKind,
    Fill,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from engine import EventLanes
from engine import Gateway, OrderReport

from .venues import ACCOUNTS_TOML, VenueAdapter

ASGIApp = Callable[..., Awaitable[None]]


class Mangler:
    """ASGI middleware between a testnet's app and the server: injects and garbles on request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._sockets: list[list[str]] = []
        self._garble: dict[tuple[str, str], list[tuple[int, bytes]]] = {}

    def inject(self, text: str) -> int:
        """Queue ``text`` on every open WebSocket; it goes out before the socket's next message."""
        for pending in self._sockets:
            pending.append(text)
        return len(self._sockets)

    def garble_next(self, method: str, path: str, body: bytes, status: int = 200) -> None:
        """Replace the next answer to ``method path`` with ``status`` and ``body`` (after it was handled)."""
        self._garble.setdefault((method, path), []).append((status, body))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            pending: list[str] = []
            self._sockets.append(pending)

            async def ws_send(message: dict[str, Any]) -> None:
                if message["type"] == "websocket.send":
                    while pending:
                        await send({"type": "websocket.send", "text": pending.pop(0)})
                await send(message)

            try:
                await self.app(scope, receive, ws_send)
            finally:
                self._sockets.remove(pending)
            return
        if scope["type"] == "http":
            queue = self._garble.get((scope["method"], scope["path"]))
            if queue:
                status, body = queue.pop(0)

                async def http_send(message: dict[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        return  # replaced below, once the real answer is complete
                    if message["type"] == "http.response.body" and not message.get("more_body"):
                        await send({"type": "http.response.start", "status": status,
                                    "headers": [(b"content-type", b"application/json"),
                                                (b"content-length", str(len(body)).encode())]})
                        await send({"type": "http.response.body", "body": body})

                await self.app(scope, receive, http_send)
                return
        await self.app(scope, receive, send)


@asynccontextmanager
async def serve(adapter: VenueAdapter, tmp_path: Path, *, faults: FaultSettings | None = None,
                market: str = "running") -> AsyncIterator[Any]:
    """The venue's testnet on 127.0.0.1:0 with ``.mangler``, ``.market`` (or None), ``.url``, ``.ws_url``."""
    accounts = tmp_path / f"{adapter.name}-accounts.toml"
    accounts.write_text(ACCOUNTS_TOML)
    testnet = adapter.build_testnet(str(accounts), faults or FaultSettings())
    mangler = Mangler(testnet.app)
    testnet.mangler = mangler
    async with trio.open_nursery() as nursery:
        synthetic = None
        if market != "none":
            synthetic = SyntheticMarket(testnet.exchange, MarketSettings(seed=11, step_interval_s=0.05,
                                                                         history_minutes=30))
            synthetic.prime()
            if market == "running":
                nursery.start_soon(synthetic.run)
        testnet.market = synthetic
        url: str = await nursery.start(partial(serve_testnet, mangler))
        testnet.url = url
        testnet.ws_url = ws_url_of(url, adapter.ws_path)
        try:
            yield testnet
        finally:
            nursery.cancel_scope.cancel()


class Collector:
    """Drains an :class:`EventLanes` into a list and wakes the tests that wait for an event."""

    def __init__(self) -> None:
        self.lanes = EventLanes()
        self.events: list[Any] = []
        self._changed = trio.Event()

    async def run(self) -> None:
        while True:
            event = await self.lanes.receive()
            self.events.append(event)
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, predicate: Callable[[Any], bool], *, timeout_s: float = 10.0, start: int = 0) -> Any:
        """The first event (from index ``start``) matching ``predicate``; waits for it up to ``timeout_s``."""
        seen = start
        with trio.fail_after(timeout_s):
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                await self._changed.wait()

    def of_type(self, kind: type, start: int = 0) -> list[Any]:
        return [e for e in self.events[start:] if isinstance(e, kind)]


class Harness:
    """One gateway for one account, with helpers to place orders and watch their outcome."""

    def __init__(self, adapter: VenueAdapter, testnet: Any, gateway: Gateway, collector: Collector) -> None:
        self.adapter = adapter
        self.testnet = testnet
        self.gateway = gateway
        self.collector = collector
        self.ids = ClientOrderIdFactory(prefix="cf")
        self.instrument: Instrument = next(i for i in gateway.instruments.values() if i.symbol == adapter.symbol)

    # -- market ------------------------------------------------------------------------------
    async def quote(self, timeout_s: float = 10.0) -> Quote:
        """The next top of book of the suite's market (subscribes to quotes)."""
        start = len(self.collector.events)
        await self.gateway.subscribe(DataKind.QUOTES, self.instrument)
        return await self.collector.wait_for(  # type: ignore[no-any-return]
            lambda e: isinstance(e, Quote) and e.instrument.key == self.instrument.key, timeout_s=timeout_s,
            start=start)

    def price(self, value: Decimal) -> Decimal:
        return self.instrument.round_price(value)

    # -- orders --------------------------------------------------------------------------------
    def order(self, side: Side, type: OrderType, *, qty: Decimal | None = None, price: Decimal | None = None,
              trigger: Decimal | None = None, tif: TimeInForce = TimeInForce.GTC, post_only: bool = False,
              reduce_only: bool = False) -> Order:
        inst = self.instrument
        order = Order(self.ids(), inst, side, type, inst.size_raw(inst.round_qty(qty or self.adapter.order_qty)),
                      price_raw=None if price is None else inst.price_raw(self.price(price)),
                      trigger_raw=None if trigger is None else inst.price_raw(self.price(trigger)),
                      time_in_force=tif, post_only=post_only, reduce_only=reduce_only)
        order.status = OrderStatus.SUBMITTED
        return order

    async def submit(self, order: Order) -> OrderReport:
        report = await self.gateway.submit_order(order)
        self.apply(order, report)
        return report

    @staticmethod
    def apply(order: Order, report: OrderReport) -> None:
        if report.venue_order_id and not order.venue_order_id:
            order.venue_order_id = report.venue_order_id

    def reports(self, order: Order) -> list[OrderReport]:
        return [e for e in self.collector.events if isinstance(e, OrderReport)
                and (e.client_order_id == order.client_order_id
                     or (order.venue_order_id and e.venue_order_id == order.venue_order_id))]

    def fills(self, order: Order, extra: tuple[OrderReport, ...] = ()) -> dict[str, Fill]:
        """Every fill of ``order`` seen so far (events, reports' fills, ``extra`` reports), by trade id."""
        out: dict[str, Fill] = {}
        for event in self.collector.events:
            if isinstance(event, Fill) and (event.client_order_id == order.client_order_id or (
                    order.venue_order_id and event.venue_order_id == order.venue_order_id)):
                out[event.trade_id] = event
        for report in (*self.reports(order), *extra):
            for fill in report.fills:
                out[fill.trade_id] = fill
        return out

    async def outcome(self, order: Order, statuses: set[OrderStatus], *, filled: Decimal | None = None,
                      timeout_s: float = 10.0) -> OrderReport:
        """Wait until the venue says ``order`` is in one of ``statuses`` (and its fills add up to ``filled``).

        Watches pushed reports and fills, and asks :meth:`Gateway.query_order` every 0.2 s (venues
        without a private stream report through their poller or the query).
        """
        with trio.fail_after(timeout_s):
            while True:
                queried = await self.gateway.query_order(order)
                candidates = [*self.reports(order), *([queried] if queried is not None else [])]
                for report in reversed(candidates):
                    self.apply(order, report)
                    if report.status in statuses:
                        total = sum((f.qty for f in self.fills(order, tuple(candidates)).values()), Decimal(0))
                        if filled is None or total == filled:
                            return report
                await trio.sleep(0.2)


@asynccontextmanager
async def gateway(adapter: VenueAdapter, testnet: Any, account: str = "alice", *,
                  secret: str | None = None, **overrides: Any) -> AsyncIterator[Harness]:
    """A running gateway for ``account`` on ``testnet`` (``secret`` overrides the right one)."""
    api_key, right_secret = adapter.api_keys[account]
    gw = adapter.make_gateway(testnet, api_key, secret if secret is not None else right_secret, overrides)
    collector = Collector()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(collector.run)
        await nursery.start(gw.run, collector.lanes)
        try:
            yield Harness(adapter, testnet, gw, collector)
        finally:
            nursery.cancel_scope.cancel()


def far_below(quote: Quote) -> Decimal:
    """A buy price that will not fill for a while (20 % under the bid)."""
    return quote.bid * Decimal("0.8")


def far_above(quote: Quote) -> Decimal:
    """A sell price that will not fill for a while (20 % over the ask)."""
    return quote.ask * Decimal("1.2")

