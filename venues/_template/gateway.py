"""The venue's config and gateway, on the kit's lifecycle (:mod:`venues._common.lifecycle`) and
order tracker (:mod:`venues._common.orders`).

TEMPLATE: the gateway writes only the venue's I/O — which request answers what, and how it is
parsed; the records of orders and fills, what is new, what waits for its order to be named, are
the tracker's. Feed the tracker every piece of venue evidence:

* a command's answer: ``orders.record(tracked, report)`` (the caller gets the report);
* a stream update or a query result passed on: ``orders.note(report)`` (push venues) or
  ``orders.update(tracked, report)`` (emitted if new; polling venues);
* a fill from a poll: ``orders.consider_fill(fill)`` (emitted once; held while unnamed);
* a create whose outcome is unknown: ``orders.mark_unresolved(tracked)``, then found by client id
  or by :func:`~venues._common.orders.resolve_by_matching`, and ``orders.adopt(tracked, venue_id)``;
* an order the venue no longer has: ``orders.gone(tracked, ts, reason)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import trio

from engine import BalanceUpdate, DataKind, GatewayCapabilities, Instrument, Order, OrderReport, OutcomeUnknown
from engine import Unsupported, VenueRejected
from venues._common.config import url
from venues._common.lifecycle import GatewayBase, GatewayConfig
from venues._common.orders import AccountTracker, OrderTracker

from .constants import REST_URL, VENUE, WS_URL
from .parsers import parse_trade
from .rest import TemplateRest
from .stream import TemplateStream

__all__ = ["TemplateConfig", "TemplateGateway"]


@attrs.frozen
class TemplateConfig(GatewayConfig):
    """Settings of one connection (``TemplateConfig.from_toml(path)``); credentials, timeouts,
    ping and reconnect pacing from :class:`~venues._common.lifecycle.GatewayConfig`, never shown."""

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=REST_URL, validator=url("http", "https"))
    "REST host: the venue or a local testnet (``http://127.0.0.1:PORT``)."
    ws_url: str = attrs.field(default=WS_URL, validator=url("ws", "wss"))
    "WebSocket endpoint."


class TemplateGateway(GatewayBase):
    """One connection to the venue for one account (TEMPLATE: what it pushes, what it polls)."""

    venue = VENUE
    capabilities = GatewayCapabilities(frozenset({"limit"}), frozenset({"GTC"}))  # TEMPLATE: the venue's

    def __init__(self, config: TemplateConfig) -> None:
        super().__init__(config, reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s)
        self.config = config
        credentials = config.credentials()
        if credentials is None:
            raise Unsupported("TEMPLATE: market data without keys")
        self._rest = TemplateRest(config.base_url, credentials=credentials, timeout_s=config.http_timeout_s)
        self._stream = TemplateStream(config.ws_url, **self._stream_options(config))
        self._stream.handlers["trades"] = self._on_trades
        self._orders = OrderTracker(self._executions)
        self._account = AccountTracker(self._executions)

    async def _start(self, nursery: trio.Nursery) -> None:
        await self._retrying(self._rest.sync_time, "REST not available")
        # TEMPLATE: load the instruments (self._set_instruments), the account and open orders
        await nursery.start(self._stream.run)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._rest.aclose()

    def _on_trades(self, data: Any, ts_recv: int) -> None:
        self._sink.send_market(parse_trade(data, self._by_symbol, ts_recv))

    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        if kind is not DataKind.TRADES:
            raise Unsupported(f"TEMPLATE: {kind}")
        await self._stream.subscribe("trades", instrument.symbol)

    async def submit_order(self, order: Order) -> OrderReport:
        tracked = self._orders.track(order.client_order_id, order.instrument, side=order.side, qty=order.qty,
                                     price=order.price)
        try:
            answer = await self._rest.request("POST", "/v1/orders", body=b"TEMPLATE", command=True)
        except OutcomeUnknown:
            self._orders.mark_unresolved(tracked)  # found by query_order, never resent
            raise
        except VenueRejected:
            self._orders.forget(tracked)
            raise
        report = self._parse_order(answer, order)
        self._orders.record(tracked, report)
        return report

    async def cancel_order(self, order: Order) -> OrderReport:
        raise Unsupported("TEMPLATE: DELETE the order; orders.record(tracked, report)")

    async def query_order(self, order: Order) -> OrderReport | None:
        raise Unsupported("TEMPLATE: by venue id, else by client id (or matching); a 404 of an order we "
                          "think open is orders.gone(tracked, ts, reason)")

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        raise Unsupported("TEMPLATE: the venue's open orders, client ids mapped by orders.client_id_of")

    async def balances(self) -> Sequence[BalanceUpdate]:
        raise Unsupported("TEMPLATE: the venue's balances (a poll passes each to account.note_balance)")

    def _parse_order(self, answer: Any, order: Order) -> OrderReport:
        raise Unsupported("TEMPLATE: parsers.parse_order(answer, ...)")
