"""The Leverj gateway: one market (``spot`` or ``futures``) of one account, on REST and socket.io.

Start-up: calibrate the clock (``OPTIONS`` → ``Server-Time``), load ``all/config`` (instruments
and assets), connect the market's socket and register for private events. Market data is
pushed to every socket (``orderbook``, ``trade``); ``subscribe`` only chooses what reaches the
sink. Orders are signed one by one (:mod:`venues.leverj.signer`) and sent with ``POST /order``;
their answers, the socket's ``order_*`` events and queries all go through the same
:func:`~venues.leverj.parsers.parse_order`. Executions are de-duplicated by ``executionId``.

Futures: ``marginPerFraction`` comes from the leverage the order asks for (else the config's
``leverage``, else the instrument's ``maxLeverage − 1`` as Leverj's own market maker does),
capped by ``maxLeverage``, with the market maker's formula; for a sell the entry estimate is
``max(price, best bid)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import httpx
import trio

from engine import (
    AuthFailed,
    BalanceUpdate,
    ConfigError,
    DataKind,
    EventSink,
    Fill,
    FundingPayment,
    Gateway,
    GatewayCapabilities,
    Instrument,
    MalformedMessage,
    Order,
    OutcomeUnknown,
    OrderReport,
    OrderStatus,
    OrderType,
    PositionUpdate,
    Quote,
    Unsupported,
    VenueError,
    VenueRejected,
    VenueState,
)
from risk import RateLimiter, RateLimitSpec, RiskDenied
from venues._common.config import VenueConfig, positive, url
from venues._common.lifecycle import GatewayBase
from venues._common.orders import OrderTracker

from .constants import HOST_URL, MARKETS, VENUE, AuthType, socket_path, venue_name
from .parsers import F, Market, parse_book, parse_fill, parse_funding, parse_instruments, parse_order, parse_trade, wei
from .rest import LeverjRest
from .signer import address_of, authorization, js_dumps, margin_per_fraction, signed_futures_order, signed_spot_order
from .stream import LeverjStream, stream_url

__all__ = ["LeverjConfig", "LeverjGateway", "GatewayStatistics", "open_leverj_gateway"]

log = logging.getLogger("venues.leverj.gateway")

_WIRE_TYPE = {OrderType.LIMIT: "LMT", OrderType.MARKET: "MKT", OrderType.STOP_LIMIT: "SLMT",
              OrderType.STOP_MARKET: "SMKT"}


def _market(instance: Any, attribute: Any, value: str) -> None:
    if value not in MARKETS:
        raise ValueError(f"must be one of {', '.join(MARKETS)}, got {value!r}")


def _auth(instance: Any, attribute: Any, value: str) -> None:
    if value not in ("NONCE", "SIGN"):
        raise ValueError(f"must be NONCE or SIGN, got {value!r}")


@attrs.frozen
class LeverjConfig(VenueConfig):
    """One Leverj market of one account. ``api_key`` is the api key's address, ``secret`` its
    private key (hex); ``account_id`` the trader's address (default: the api key's)."""

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=HOST_URL, validator=url("http", "https"))
    "The host (REST is ``<host>/<market>/api/v1``): the venue or ``http://127.0.0.1:PORT``."
    ws_url: str = attrs.field(default="", validator=lambda i, a, v: None if not v else url("ws", "wss")(i, a, v))
    "Socket.io origin (default: the host with ws/wss); the path is ``/<market>/socket.io``."
    market: str = attrs.field(default="futures", validator=_market)
    "``spot`` or ``futures``."
    account_id: str = ""
    "The trader's address (default: the api key's address)."
    leverage: int = attrs.field(default=0, validator=lambda i, a, v: None if v >= 0 else positive(i, a, v))
    "Futures leverage when an order asks for none (0: the instrument's maxLeverage − 1)."
    auth_type: str = attrs.field(default="NONCE", validator=_auth)
    "``NONCE`` (what Leverj's own clients send) or ``SIGN`` (method, uri and body signed too)."
    account: str = ""
    "Label of the account in balance updates (default: ``leverj-<market>``)."
    http_timeout_s: float = attrs.field(default=10.0, validator=positive)
    requests_per_s: float = attrs.field(default=10.0, validator=positive)
    "Our own request budget (the venue publishes none)."
    max_rate_wait_s: float = attrs.field(default=10.0, validator=positive)
    ping_interval_s: float = attrs.field(default=25.0, validator=positive)
    reconnect_min_s: float = attrs.field(default=0.5, validator=positive)
    reconnect_max_s: float = attrs.field(default=30.0, validator=positive)


@attrs.frozen(slots=True)
class GatewayStatistics:
    """Counters (for tests and the status line)."""

    requests_sent: int
    malformed: int
    last_malformed: str
    recalibrations: int
    tracked_orders: int
    server_offset_ms: float


class LeverjGateway(GatewayBase):
    """One Leverj market of one account (see the module docstring).

    Start-up (the kit's :meth:`~venues._common.lifecycle.GatewayBase.run`): the clock calibration
    and ``all/config`` are each retried on their own until they succeed (a 429, a 5xx or an
    unreachable venue only delays the start); refused credentials and an unreadable ``all/config``
    end it.
    """

    venue = VENUE
    _fatal_start_errors = (AuthFailed, MalformedMessage)

    def __init__(self, config: LeverjConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.venue = venue_name(config.market)
        super().__init__(config, reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s)
        self.capabilities = GatewayCapabilities(
            order_types=frozenset(t.value for t in ((OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LIMIT,
                                                     OrderType.STOP_MARKET) if config.market == "futures"
                                                    else (OrderType.LIMIT, OrderType.MARKET))),
            time_in_force=frozenset({"GTC"}), post_only=config.market == "futures",
            reduce_only=config.market == "futures",
            private_stream=True, leverage=config.market == "futures")
        credentials = config.credentials()
        self._secret = credentials.secret if credentials is not None else ""
        if credentials is not None:
            try:
                derived = address_of(credentials.secret)
            except ValueError as e:
                raise ConfigError(f"leverj: {e}", key="secret") from None
            if derived.lower() != credentials.api_key.lower():
                raise AuthFailed("the api key is not the address of the secret: the venue would refuse it",
                                 venue=self.venue)
            credentials = type(credentials)(derived, credentials.secret)
        self.account_id = config.account_id or (credentials.api_key if credentials is not None else "")
        limiter = RateLimiter([RateLimitSpec("requests", max(1, int(config.requests_per_s)), 1.0)],
                              max_wait_s=config.max_rate_wait_s, name=f"{VENUE} {config.market}")
        self._rest = LeverjRest(config.base_url, config.market, credentials=credentials, account_id=self.account_id,
                                auth_type=AuthType(config.auth_type), timeout_s=config.http_timeout_s,
                                http=transport, limiter=limiter, venue=self.venue)
        ws_host = config.ws_url or config.base_url.replace("https://", "wss://").replace("http://", "ws://")
        for suffix in (socket_path(config.market) + "/", socket_path(config.market)):
            ws_host = ws_host.removesuffix(suffix)  # a ws_url given with its socket.io path
        self._stream = LeverjStream(
            stream_url(ws_host, socket_path(config.market)), register=self._register if credentials else None,
            ping_interval_s=config.ping_interval_s, request_timeout_s=config.http_timeout_s,
            connect_timeout_s=config.http_timeout_s, reconnect_min_s=config.reconnect_min_s,
            reconnect_max_s=config.reconnect_max_s, on_state=self._on_stream_state,
            on_malformed=self._report_malformed)
        self._stream.handlers.update({"orderbook": self._on_book, "trade": self._on_trade,
                                      "server_time": self._on_server_time, "order_add": self._on_orders,
                                      "order_update": self._on_orders, "order_del": self._on_order_del,
                                      "order_execution": self._on_execution, "funding": self._on_funding})
        self._account = config.account or self.venue
        self._markets: dict[str, Market] = {}
        "Wire id (``1``, ``ETHDAI``) → market."
        self._market_of: dict[str, Market] = {}
        "Symbol (``BTCUSD``) → market."
        self._books_wanted: set[str] = set()
        self._depth: dict[str, int] = {}
        "Symbol → levels per side a book subscription asked for."
        self._quotes_wanted: set[str] = set()
        self._trades_wanted: set[str] = set()
        self._orders = OrderTracker(self._executions)
        "Our orders: uuid ↔ client id, reports emitted only when new, fills exactly once."
        self._best_bid: dict[str, Decimal] = {}
        "Market id → best bid (a futures sell's entry estimate, a market sell's signed price)."
        self._best_ask: dict[str, Decimal] = {}
        "Market id → best ask (a market buy's signed price)."

    # -- lifecycle --------------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        """Calibrate the clock, load ``all/config`` (each step retried on its own), connect the
        socket (and register); then serve."""
        await self._retrying(self._calibrate, "REST not available")
        await self._retrying(self._load_config, "REST not available")
        await nursery.start(self._stream.run)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._rest.aclose()

    async def _calibrate(self) -> None:
        if not self._rest.clock.synced:  # a retry keeps the samples it has
            await self._rest.calibrate()

    async def _load_config(self) -> None:
        config = await self._rest.request("GET", "/all/config")
        markets = parse_instruments(self.config.market, config, venue=self.venue)
        if not markets:
            raise F.malformed("all/config", "no instrument")
        self._markets = {m.id: m for m in markets}
        self._market_of = {m.instrument.symbol: m for m in markets}
        self._set_instruments({m.instrument.symbol: m.instrument for m in markets})

    async def _register(self) -> dict[str, Any]:
        """The signed ``GET /register`` request data (signed like REST: SIGN covers ``{body, params}``)."""
        body = {"accountId": self.account_id, "apiKey": address_of(self._secret)}
        nonce = self._rest.clock.server_now_ms()
        signed = js_dumps({"body": body, "params": {}}) if self.config.auth_type == "SIGN" else None
        header = authorization(self.config.auth_type, self.account_id, self._secret, "GET", "/register", signed, nonce)
        return {"headers": {"Authorization": header, "Nonce": str(nonce)}, "method": "GET", "uri": "/register",
                "params": {}, "body": body}

    def statistics(self) -> GatewayStatistics:
        return GatewayStatistics(self._rest.requests_sent, self._malformed,
                                 self._last_malformed, self._rest.recalibrations, len(self._orders),
                                 self._rest.clock.offset_ms)

    # -- market data ------------------------------------------------------------------------------
    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Pass ``kind`` events of ``instrument`` to the sink (the venue pushes them to every socket)."""
        symbol = instrument.symbol
        if symbol not in self._market_of:
            raise VenueRejected(404, f"leverj {self.config.market} does not list {symbol!r}", venue=self.venue)
        if kind is DataKind.BOOK:
            self._books_wanted.add(symbol)
            self._depth[symbol] = depth
        elif kind is DataKind.QUOTES:
            self._quotes_wanted.add(symbol)
        elif kind is DataKind.TRADES:
            self._trades_wanted.add(symbol)
        else:
            raise Unsupported(f"leverj streams no {kind.value}")
        if kind is DataKind.TRADES:
            return
        market = self._market_of[symbol]
        try:  # a snapshot now: the socket pushes the next book when it changes
            book = await self._rest.request("GET", f"/instrument/{market.id}/orderbook")
        except (VenueError, RiskDenied) as e:
            if isinstance(e, (AuthFailed, MalformedMessage)):
                raise
            log.info("%s: no %s book snapshot now (%s); the socket pushes the next one", self.venue, symbol, e)
            return
        self._on_book({market.id: book}, time.time_ns())

    def _on_book(self, data: Any, ts_recv: int) -> None:
        books = F.as_object(data, "orderbook")
        for wire_id, book in books.items():
            market = self._markets.get(wire_id)
            if market is None:
                continue
            symbol = market.instrument.symbol
            snapshot = parse_book(market, book, ts_recv, ts_recv)
            if snapshot.bids:
                self._best_bid[wire_id] = market.instrument.price_of(snapshot.bids[0][0])
            if snapshot.asks:
                self._best_ask[wire_id] = market.instrument.price_of(snapshot.asks[0][0])
            if symbol not in self._books_wanted and symbol not in self._quotes_wanted:
                continue
            if symbol in self._books_wanted:
                depth = self._depth.get(symbol, 10)
                self._sink.send_market(snapshot._replace(bids=snapshot.bids[:depth], asks=snapshot.asks[:depth]))
            if symbol in self._quotes_wanted and snapshot.bids and snapshot.asks:
                (bid, bid_size), (ask, ask_size) = snapshot.bids[0], snapshot.asks[0]
                self._sink.send_market(Quote(market.instrument, ts_recv, ts_recv, bid, bid_size, ask, ask_size))

    def _on_trade(self, data: Any, ts_recv: int) -> None:
        trade = F.as_object(data, "trade")
        market = self._markets.get(str(trade.get("instrument")))
        if market is None or market.instrument.symbol not in self._trades_wanted:
            return
        self._sink.send_market(parse_trade(market, trade, ts_recv))

    def _on_server_time(self, data: Any, ts_recv: int) -> None:
        if isinstance(data, int) and not isinstance(data, bool):
            self._rest.clock.observe(ts_recv, data, ts_recv)

    # -- private events ---------------------------------------------------------------------------
    def _client_id(self, uuid: str, wire_client_id: object) -> str:
        known = self._orders.client_id_of(uuid)
        if known:
            return known
        return str(wire_client_id) if isinstance(wire_client_id, (str, int)) and not isinstance(wire_client_id, bool) else ""

    def _on_orders(self, data: Any, ts_recv: int) -> None:
        event = F.as_object(data, "order event")
        for obj in F.as_list(event.get("result"), "order event"):
            self._pushed(parse_order(obj, self._markets, ts_recv, self._client_id))

    def _pushed(self, report: OrderReport) -> None:
        tracked = self._orders.find(report.client_order_id, report.venue_order_id)
        if tracked is not None:
            self._orders.update(tracked, report)

    def _on_order_del(self, data: Any, ts_recv: int) -> None:
        event = F.as_object(data, "order_del")
        if isinstance(event.get("order"), dict):
            self._pushed(parse_order(event["order"], self._markets, ts_recv, self._client_id))

    def _on_execution(self, data: Any, ts_recv: int) -> None:
        execution = F.as_object(data, "execution")
        market = self._markets.get(str(execution.get("instrument")))
        if market is None:
            raise F.malformed("execution", "unknown instrument", execution)
        uuid = str(execution.get("orderId", execution.get("orderid")))
        self._orders.consider_fill(parse_fill(market, execution, ts_recv,
                                              self._client_id(uuid, execution.get("clientOrderId"))))

    def _on_funding(self, data: Any, ts_recv: int) -> None:
        market = self._markets.get(str(F.as_object(data, "funding").get("instrument")))
        if market is None:
            raise F.malformed("funding", "unknown instrument", data)
        self._sink.send_execution(parse_funding(market, data, ts_recv))

    def _on_stream_state(self, state: VenueState, detail: str) -> None:
        super()._on_stream_state(state, detail)
        if state is VenueState.CONNECTED and self._stream.registered and self.config.market == "futures" \
                and self._nursery is not None:
            self._nursery.start_soon(self._replay_funding)

    async def _replay_funding(self) -> None:
        """Funding paid while the socket was down (the engine books each payment once)."""
        try:
            for payment in await self.funding_payments():
                self._sink.send_execution(payment)
        except (VenueError, RiskDenied) as e:
            if isinstance(e, AuthFailed):
                raise
            log.info("%s: funding payments not read now (%s); the next connect reads them", self.venue, e)

    async def funding_payments(self) -> list[FundingPayment]:
        """Our recent funding payments on this market (futures), oldest first."""
        if self.config.market != "futures":
            return []
        answer = await self._rest.request("GET", "/account/funding", query="count=200", auth=True)
        now = time.time_ns()
        out = []
        for obj in reversed(F.as_list(answer, "account/funding")):
            market = self._markets.get(str(F.as_object(obj, "funding").get("instrument")))
            if market is not None:
                out.append(parse_funding(market, obj, now))
        return out

    # -- orders -----------------------------------------------------------------------------------
    def _signed(self, order: Order, reference: Decimal | None) -> dict[str, Any]:
        market = self._market_of.get(order.instrument.symbol)
        if market is None:
            raise Unsupported(f"leverj {self.config.market} does not list {order.instrument.symbol!r}")
        wire_type = _WIRE_TYPE.get(order.type)
        if wire_type is None or (not market.futures and wire_type not in ("LMT", "MKT")):
            raise Unsupported(f"leverj {self.config.market} has no {order.type.value} orders")
        if order.take_profit is not None or order.stop_loss is not None:
            raise Unsupported("leverj orders have no take-profit / stop-loss")
        if not self._secret:
            raise AuthFailed("orders need an api key and its secret", venue=self.venue)
        price = order.price if order.price is not None else reference
        if price is None:
            raise Unsupported("a market order needs a price estimate; the book is empty")
        side = "buy" if order.side > 0 else "sell"
        stamp = self._rest.clock.server_now_ms() * 1000 + int(time.time_ns() // 1000 % 1000)
        if not market.futures:
            assert market.base is not None
            return signed_spot_order(account_id=self.account_id, secret=self._secret, instrument=market.id,
                                     base=market.base, quote=market.quote, side=side, order_type=wire_type,
                                     price=price, quantity=order.qty, timestamp_us=stamp,
                                     client_order_id=order.client_order_id)
        leverage = self._leverage(market, order)
        entry = price
        if side == "sell" and order.trigger_price is None:
            bid = self._best_bid.get(market.id)
            entry = max(price, bid) if bid is not None else price
        return signed_futures_order(account_id=self.account_id, secret=self._secret, instrument=market.id,
                                    quote=market.quote, side=side, order_type=wire_type, price=price,
                                    quantity=order.qty,
                                    margin_per_fraction=margin_per_fraction(entry, leverage, market.quote.decimals,
                                                                            market.base_digits),
                                    timestamp_us=stamp, trigger_price=order.trigger_price,
                                    post_only=order.post_only, reduce_only=order.reduce_only,
                                    client_order_id=order.client_order_id)

    def _leverage(self, market: Market, order: Order) -> Decimal:
        wanted = order.leverage if order.leverage is not None else (
            Decimal(self.config.leverage) if self.config.leverage else Decimal(max(1, market.max_leverage - 1)))
        return max(Decimal(1), min(wanted, Decimal(market.max_leverage)))

    async def _reference_price(self, order: Order) -> Decimal | None:
        """The price a market order signs (the venue hashes one): its trigger, else the best
        opposite price (from the stream, else the book now)."""
        if order.price is not None:
            return None
        if order.trigger_price is not None:
            return order.trigger_price
        market = self._market_of.get(order.instrument.symbol)
        if market is None:
            return None
        side = self._best_ask if order.side > 0 else self._best_bid
        if market.id not in side:
            book = await self._rest.request("GET", f"/instrument/{market.id}/orderbook")
            self._on_book({market.id: book}, time.time_ns())
        return side.get(market.id)

    async def submit_order(self, order: Order) -> OrderReport:
        """``POST /order`` with one signed order; the created order."""
        wire = self._signed(order, await self._reference_price(order))
        symbol = order.instrument.symbol
        tracked = self._orders.track(order.client_order_id, order.instrument, side=order.side,
                                     venue_type=str(wire["orderType"]), qty=order.qty, price=order.price,
                                     sent_ms=self._rest.clock.server_now_ms())
        self._orders.begin_send(symbol)
        settle = True
        try:
            answer = await self._rest.request("POST", "/order", body=[wire], auth=True, command=True)
            try:
                created = F.as_list(answer, "POST /order")
                if not created:
                    raise F.malformed("POST /order", "no order in the answer")
                report = parse_order(created[0], self._markets, time.time_ns(),
                                     lambda uuid, _: order.client_order_id)
            except MalformedMessage as e:
                raise OutcomeUnknown("POST /order: unreadable answer after send", venue=self.venue) from e
        except OutcomeUnknown:
            settle = False
            self._orders.mark_unresolved(tracked)  # found by query, never resent
            raise
        except BaseException:
            self._orders.forget(tracked)  # definite: the venue has nothing of it
            raise
        finally:
            self._orders.end_send(symbol, settle=settle)
        self._orders.record(tracked, report)
        return report

    async def cancel_order(self, order: Order) -> OrderReport:
        """``DELETE /order/<uuid>`` (the uuid is found by client id if the submit's answer was lost)."""
        uuid = order.venue_order_id or await self._uuid_of(order)
        if not uuid:
            raise VenueRejected(404, f"no open order {order.client_order_id} at the venue", venue=self.venue)
        await self._rest.request("DELETE", f"/order/{uuid}", auth=True, command=True)
        now = time.time_ns()
        return OrderReport(order.instrument, now, now, order.client_order_id, uuid, OrderStatus.CANCELED)

    async def _uuid_of(self, order: Order) -> str:
        tracked = self._orders.get(order.client_order_id)
        if tracked is not None and tracked.venue_order_id:
            return tracked.venue_order_id
        found = await self._open_by_client_id(order.client_order_id)
        return found.venue_order_id if found is not None else ""

    async def _open_by_client_id(self, client_order_id: str) -> OrderReport | None:
        for report in await self.open_orders():
            if report.client_order_id == client_order_id:
                return report
        return None

    async def query_order(self, order: Order) -> OrderReport | None:
        """Open orders first; a closed order is rebuilt from our executions (None: the venue has none)."""
        tracked = self._orders.get(order.client_order_id)
        uuid = order.venue_order_id or (tracked.venue_order_id if tracked is not None else "")
        if uuid:
            try:
                found = await self._rest.request("GET", f"/order/{uuid}", auth=True)
                items = F.as_list(found, "GET /order")
                if items:
                    return parse_order(items[0], self._markets, time.time_ns(), lambda u, _: order.client_order_id)
            except VenueRejected as e:
                if e.code != 404:
                    raise
        else:
            report = await self._open_by_client_id(order.client_order_id)
            if report is not None:
                if tracked is not None:
                    self._orders.adopt(tracked, report.venue_order_id)
                return report
        fills = [f for f in await self.my_fills() if (uuid and f.venue_order_id == uuid)
                 or f.client_order_id == order.client_order_id]
        if not fills:
            if tracked is not None and tracked.unresolved:
                self._orders.not_found(tracked)  # the venue has no trace of it: it never executed
            return None
        if tracked is not None and tracked.unresolved:
            self._orders.adopt(tracked, fills[0].venue_order_id)
        filled = sum((f.qty for f in fills), Decimal(0))
        notional = sum((f.qty * f.price for f in fills), Decimal(0))
        now = time.time_ns()
        status = OrderStatus.FILLED if filled >= order.qty else OrderStatus.CANCELED
        return OrderReport(order.instrument, now, now, order.client_order_id, fills[0].venue_order_id, status,
                           filled, notional / filled, fills=tuple(fills))

    async def my_fills(self) -> list[Fill]:
        """Our recent executions on this market, oldest first."""
        answer = await self._rest.request("GET", "/account/execution", query="count=200", auth=True)
        now = time.time_ns()
        fills = []
        for obj in reversed(F.as_list(answer, "account/execution")):
            execution = F.as_object(obj, "execution")
            market = self._markets.get(str(execution.get("instrument")))
            if market is None:
                continue
            uuid = str(execution.get("orderId", execution.get("orderid")))
            fills.append(parse_fill(market, execution, now, self._client_id(uuid, execution.get("clientOrderId"))))
        return fills

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        answer = await self._rest.request("GET", "/order", auth=True)
        now = time.time_ns()
        reports = [parse_order(o, self._markets, now, self._client_id) for o in F.as_list(answer, "GET /order")]
        return [r for r in reports if instrument is None or r.instrument == instrument]

    async def balances(self) -> Sequence[BalanceUpdate]:
        answer = F.as_object(await self._rest.request("GET", "/account/balance", auth=True), "account/balance")
        decimals = {m.quote.symbol: m.quote.decimals for m in self._markets.values()}
        decimals.update({m.base.symbol: m.base.decimals for m in self._markets.values() if m.base is not None})
        now = time.time_ns()
        out = []
        for obj in answer.values():
            item = F.as_object(obj, "balance")
            symbol = F.string(item, "symbol", "balance")
            scale = Decimal(10) ** decimals.get(symbol, 18)
            total = Decimal(wei(item, "plasma", "balance")) / scale
            free = Decimal(wei(item, "available", "balance")) / scale
            out.append(BalanceUpdate(self.venue, self._account, symbol, now, now, free, total - free))
        return out

    async def positions(self) -> Sequence[PositionUpdate]:
        if self.config.market != "futures":
            return []
        answer = await self._rest.request("GET", "/account/position", auth=True)
        now = time.time_ns()
        out = []
        for obj in F.as_list(answer, "account/position"):
            item = F.as_object(obj, "position")
            market = self._markets.get(str(item.get("instrument")))
            if market is None:
                continue
            size = F.dec(item, "size", "position")
            if size == 0:
                continue
            notional = Decimal(wei(item, "notional", "position")) / Decimal(10) ** market.quote.decimals
            entry = F.opt_dec(item, "entryPrice", "position") or notional / abs(size)
            out.append(PositionUpdate(market.instrument, now, now, size, entry))
        return out


def open_leverj_gateway(config: LeverjConfig, sink: EventSink, **hooks: Any) -> AbstractAsyncContextManager[LeverjGateway]:
    """``async with open_leverj_gateway(config, sink) as gateway``: connected and loaded on entry."""
    return LeverjGateway.open(config, sink, **hooks)
