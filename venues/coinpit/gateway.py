"""The Coinpit gateway: inverse BTCUSD futures of one user, on REST and socket.io.

Start-up: calibrate the clock (``OPTIONS`` → ``Server-Time``), the loginless handshake
(``GET /auth/:publicKey`` → ``serverPublicKey``, ``userid``; the HMAC key is the raw X of the
ECDH), load ``all/config`` (the active contracts and the aliases: ``BTCUSDW`` names the current
weekly), connect the socket and register for private events. Orders go out with ``POST /order``
(one order, its ``clientid`` our client id) and are cancelled with ``DELETE /order/:uuid``; their
answers, the socket's ``order_update``/``order_del`` events and queries all go through
:func:`~venues.coinpit.parsers.parse_order`. Executions are de-duplicated by ``executionid``.

A create whose outcome is unknown (timeout, 5xx, 429) is never resent: :meth:`query_order` finds it
by its ``clientid`` among the open orders and the contract's closed and cancelled lists, and
adopts its uuid, or reports the venue has none. Positions and margin are BTC, exact (satoshis).
The venue's ``readonly`` event (maintenance) makes the status HALTED and new orders are refused
(``VenueRejected`` 503, nothing sent) until it ends; a 503 read-only answer is definite too.
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

from engine import (AuthFailed, BalanceUpdate, ConfigError, DataKind, EventSink, Fill, GatewayCapabilities, Instrument,
                    MalformedMessage, Order, OrderReport, OrderStatus, OrderType, OutcomeUnknown, PositionUpdate, Quote, TradeBarAggregator,
                    Unsupported, VenueError, VenueRejected, VenueState)
from risk import RateLimiter, RateLimitSpec, RiskDenied
from venues._common.config import positive, url
from venues._common.lifecycle import GatewayBase, GatewayConfig
from venues._common.orders import OrderTracker
from venues._common.sio_stream import stream_url

from .constants import ALIAS_WEEKLY, LIVE_URL, NO_TARGET, SOCKET_PATH, VENUE, Network, WireType
from .parsers import F, parse_book, parse_fill, parse_instruments, parse_order, parse_trade, satoshi
from .rest import CoinpitRest
from .signer import identity_of, private_key_bytes, socket_request
from .stream import CoinpitStream

__all__ = ["CoinpitConfig", "CoinpitGateway", "GatewayStatistics", "open_coinpit_gateway"]

log = logging.getLogger("venues.coinpit.gateway")


def _network(instance: Any, attribute: Any, value: str) -> None:
    if value not in (Network.MAINNET, Network.TESTNET):
        raise ValueError(f"must be mainnet or testnet, got {value!r}")


@attrs.frozen
class CoinpitConfig(GatewayConfig):
    """One Coinpit user. ``api_key`` is the user's ``userid`` (its P2PKH address), ``secret`` its
    private key (WIF: the network follows its first character; or 64 hex digits, on ``network``)."""

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=LIVE_URL, validator=url("http", "https"))
    "The origin (REST is ``<origin>/api/v1``): the venue or ``http://127.0.0.1:PORT``."
    ws_url: str = attrs.field(default="", validator=lambda i, a, v: None if not v else url("ws", "wss")(i, a, v))
    "Socket.io origin (default: the origin with ws/wss); the path is ``/socket.io/``."
    network: str = attrs.field(default="testnet", validator=_network)
    "The network of a hex private key (a WIF says its own)."
    stop_points: Decimal = attrs.field(default=Decimal(2), converter=Decimal)
    "``stopPrice`` of an entry: the protective stop's distance in USD (the contract's default)."
    account: str = ""
    "Label of the account in balance updates (default: ``coinpit``)."
    requests_per_s: float = attrs.field(default=10.0, validator=positive)
    "Our own request budget (the venue publishes none)."
    max_rate_wait_s: float = attrs.field(default=10.0, validator=positive)


@attrs.frozen(slots=True)
class GatewayStatistics:
    """Counters (for tests and the status line)."""

    requests_sent: int
    malformed: int
    last_malformed: str
    recalibrations: int
    tracked_orders: int
    server_offset_ms: float


class CoinpitGateway(GatewayBase):
    """One Coinpit user (see the module docstring)."""

    venue = VENUE
    capabilities = GatewayCapabilities(frozenset({OrderType.LIMIT.value, OrderType.MARKET.value}),
                                       frozenset({"GTC"}), post_only=True, private_stream=True)
    _fatal_start_errors = (AuthFailed, MalformedMessage)

    def __init__(self, config: CoinpitConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config, reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s)
        self.config = config
        credentials = config.credentials()
        if credentials is None:
            raise AuthFailed("coinpit needs the user's private key (there is no public-only mode here)", venue=VENUE)
        try:
            self.identity = identity_of(credentials.secret, Network(config.network))
            private_key_bytes(credentials.secret)
        except ValueError as e:
            raise ConfigError(f"coinpit: {e}", key="secret") from None
        if credentials.api_key != self.identity.userid:
            raise AuthFailed("the api key is not the userid of the private key: the venue would refuse it", venue=VENUE)
        self._credentials = credentials
        limiter = RateLimiter([RateLimitSpec("requests", max(1, int(config.requests_per_s)), 1.0)],
                              max_wait_s=config.max_rate_wait_s, name=VENUE)
        self._rest = CoinpitRest(config.base_url, credentials=credentials, public_key=self.identity.public_key,
                                 timeout_s=config.http_timeout_s, http=transport, limiter=limiter)
        ws_host = config.ws_url or config.base_url.replace("https://", "wss://").replace("http://", "ws://")
        self._stream = CoinpitStream(stream_url(ws_host.removesuffix(SOCKET_PATH), SOCKET_PATH),
                                     register=self._register, **self._stream_options(config))
        self._stream.handlers.update({"orderbook": self._on_book, "trade": self._on_trade,
                                      "server_time": self._on_server_time, "order_update": self._on_orders,
                                      "order_add": self._on_orders, "order_execution": self._on_execution,
                                      "readonly": self._on_readonly})
        self.readonly = False
        "The venue is in read-only maintenance (its ``readonly`` event): the status is HALTED, orders refused."
        self._account = config.account or VENUE
        self._aliases: dict[str, str] = {}
        self._books_wanted: set[str] = set()
        self._depth: dict[str, int] = {}
        self._quotes_wanted: set[str] = set()
        self._trades_wanted: set[str] = set()
        self._bars: dict[str, TradeBarAggregator] = {}
        "Symbol → the bars built from its prints (a bar goes out with the first print after it)."
        self._orders = OrderTracker(self._executions)

    # -- lifecycle --------------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        await self._retrying(self._calibrate, "REST not available")
        await self._retrying(self._handshake, "REST not available")
        await self._retrying(self._load_config, "REST not available")
        await nursery.start(self._stream.run)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._rest.aclose()

    async def _calibrate(self) -> None:
        if not self._rest.clock.synced:
            await self._rest.calibrate()

    async def _handshake(self) -> None:
        await self._rest.handshake()

    async def _load_config(self) -> None:
        instruments, aliases = parse_instruments(await self._rest.request("GET", "/all/config"))
        if not instruments:
            raise F.malformed("all/config", "no active inverse contract")
        self._aliases = aliases
        self._set_instruments(instruments)

    def alias(self, name: str = ALIAS_WEEKLY) -> Instrument:
        """The contract an alias names now (``BTCUSDW``: the current weekly)."""
        symbol = self._aliases.get(name)
        if symbol is None:
            raise VenueRejected(404, f"coinpit names no contract {name!r}", venue=VENUE)
        return self.instrument(symbol)

    async def _register(self) -> dict[str, Any]:
        """The signed ``GET /register`` request data (the MAC covers ``{body, params}``)."""
        signer = self._rest.signer
        if signer is None:
            raise AuthFailed("GET /register before the handshake", venue=VENUE)
        body = {"userid": self.identity.userid, "publicKey": self.identity.public_key}
        return socket_request(self.identity.userid, signer.key(self._credentials), "GET", "/register", body,
                              self._rest.clock.server_now_ms())

    def statistics(self) -> GatewayStatistics:
        return GatewayStatistics(self._rest.requests_sent, self._malformed, self._last_malformed,
                                 self._rest.recalibrations, len(self._orders), self._rest.clock.offset_ms)

    # -- market data ------------------------------------------------------------------------------
    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Pass ``kind`` events of ``instrument`` to the sink (the venue pushes them to every socket)."""
        symbol = self.instrument(instrument.symbol).symbol
        if kind is DataKind.BOOK:
            self._books_wanted.add(symbol)
            self._depth[symbol] = depth
        elif kind is DataKind.QUOTES:
            self._quotes_wanted.add(symbol)
        elif kind is DataKind.TRADES:
            self._trades_wanted.add(symbol)
            return
        elif kind is DataKind.BARS:  # the venue streams no bars: built here from its prints
            self._bars[symbol] = TradeBarAggregator(self.instrument(symbol), interval_s * 1_000_000_000)
            return
        else:
            raise Unsupported(f"coinpit streams no {kind.value}")
        try:  # a snapshot now: the socket pushes the next book when it changes
            book = await self._rest.request("GET", f"/contract/{symbol}/orderbook")
        except (VenueError, RiskDenied) as e:
            if isinstance(e, (AuthFailed, MalformedMessage)):
                raise
            log.info("coinpit: no %s book snapshot now (%s); the socket pushes the next one", symbol, e)
            return
        self._on_book({symbol: book}, time.time_ns())

    def _on_book(self, data: Any, ts_recv: int) -> None:
        for symbol, book in F.as_object(data, "orderbook").items():
            inst = self._by_symbol.get(symbol)
            if inst is None or (symbol not in self._books_wanted and symbol not in self._quotes_wanted):
                continue
            snapshot = parse_book(inst, book, ts_recv, ts_recv)
            if symbol in self._books_wanted:
                depth = self._depth.get(symbol, 10)
                self._sink.send_market(snapshot._replace(bids=snapshot.bids[:depth], asks=snapshot.asks[:depth]))
            if symbol in self._quotes_wanted and snapshot.bids and snapshot.asks:
                (bid, bid_size), (ask, ask_size) = snapshot.bids[0], snapshot.asks[0]
                self._sink.send_market(Quote(inst, ts_recv, ts_recv, bid, bid_size, ask, ask_size))

    def _on_trade(self, data: Any, ts_recv: int) -> None:
        trade = F.as_object(data, "trade")
        symbol = str(trade.get("instrument"))
        bars = self._bars.get(symbol)
        if symbol not in self._trades_wanted and bars is None:
            return
        parsed = parse_trade(self._by_symbol[symbol], trade, ts_recv)
        if symbol in self._trades_wanted:
            self._sink.send_market(parsed)
        if bars is not None:
            bar = bars.add(parsed._replace(ts_event=ts_recv))  # the venue's dates are whole seconds
            if bar is not None:
                self._sink.send_market(bar)

    def _on_server_time(self, data: Any, ts_recv: int) -> None:
        if isinstance(data, int) and not isinstance(data, bool):
            self._rest.clock.observe(ts_recv, data, ts_recv)

    # -- private events ---------------------------------------------------------------------------
    def _client_id(self, uuid: str, wire_client_id: object) -> str:
        return self._orders.client_id_of(uuid) or (wire_client_id if isinstance(wire_client_id, str) else "")

    def _on_orders(self, data: Any, ts_recv: int) -> None:
        event = F.as_object(data, "order event")
        for obj in F.as_list(event.get("result"), "order event"):
            report = parse_order(obj, self._by_symbol, ts_recv, self._client_id)
            tracked = self._orders.find(report.client_order_id, report.venue_order_id)
            if tracked is not None:
                self._orders.update(tracked, report)

    def _on_execution(self, data: Any, ts_recv: int) -> None:
        execution = F.as_object(data, "execution")
        inst = self._by_symbol.get(str(execution.get("instrument")))
        if inst is None:
            raise F.malformed("execution", "unknown instrument", execution)
        uuid = str(execution.get("orderid"))
        self._orders.consider_fill(parse_fill(inst, execution, ts_recv, self._client_id(uuid, None)))

    def _on_readonly(self, data: Any, ts_recv: int) -> None:
        flag = F.as_object(data, "readonly").get("readonly")
        if not isinstance(flag, bool):
            raise F.malformed("readonly", "field 'readonly' is not a boolean", data)
        if flag != self.readonly:
            self.readonly = flag
            self._status(VenueState.HALTED if flag else VenueState.CONNECTED,
                         "read-only maintenance" if flag else "read-only maintenance over")

    # -- orders -----------------------------------------------------------------------------------
    def _wire(self, order: Order) -> dict[str, Any]:
        inst = self.instrument(order.instrument.symbol)
        if order.type not in (OrderType.LIMIT, OrderType.MARKET):
            raise Unsupported(f"coinpit takes no {order.type.value} orders here (LMT and MKT)")
        if order.take_profit is not None or order.stop_loss is not None or order.reduce_only:
            raise Unsupported("coinpit orders here carry no take-profit, stop-loss or reduce-only")
        if order.qty != order.qty.to_integral_value() or order.qty < 1:
            raise VenueRejected(422, f"quantity {order.qty} is invalid: whole contracts only", venue=VENUE)
        wire: dict[str, Any] = {"instrument": inst.symbol, "side": "buy" if order.side > 0 else "sell",
                                "quantity": int(order.qty),
                                "orderType": WireType.LMT if order.type is OrderType.LIMIT else WireType.MKT,
                                "stopPrice": self.config.stop_points, "targetPrice": NO_TARGET,
                                "crossMargin": False, "postOnly": order.post_only,
                                "clientid": order.client_order_id, "userid": self.identity.userid}
        if order.type is OrderType.LIMIT:
            wire["price"] = order.price
        return wire

    async def submit_order(self, order: Order) -> OrderReport:
        """``POST /order`` with one order; the created order."""
        if self.readonly:
            raise VenueRejected(503, "coinpit is in read-only maintenance: no orders now", venue=VENUE)
        wire = self._wire(order)
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
                report = parse_order(created[0], self._by_symbol, time.time_ns(), lambda u, _: order.client_order_id)
            except MalformedMessage as e:
                raise OutcomeUnknown("POST /order: unreadable answer after send", venue=VENUE) from e
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
        """``DELETE /order/<uuid>`` (the uuid found by client id if the submit's answer was lost)."""
        uuid = order.venue_order_id
        if not uuid:
            found = await self.query_order(order)
            uuid = found.venue_order_id if found is not None else ""
        if not uuid:
            raise VenueRejected(404, f"no order {order.client_order_id} at the venue", venue=VENUE)
        await self._rest.request("DELETE", f"/order/{uuid}", auth=True, command=True)
        now = time.time_ns()
        report = OrderReport(order.instrument, now, now, order.client_order_id, uuid, OrderStatus.CANCELED)
        tracked = self._orders.get(order.client_order_id)
        if tracked is not None:
            self._orders.record(tracked, report)
        return report

    async def query_order(self, order: Order) -> OrderReport | None:
        """By uuid, else by ``clientid`` among the open orders and the contract's closed and
        cancelled ones (None: the venue has none; an unresolved create is then known not placed)."""
        tracked = self._orders.get(order.client_order_id)
        uuid = order.venue_order_id or (tracked.venue_order_id if tracked is not None else "")
        client = lambda u, _: order.client_order_id  # noqa: E731
        if uuid:
            try:
                items = F.as_list(await self._rest.request("GET", f"/order/{uuid}", auth=True), "GET /order")
            except VenueRejected as e:
                if e.code != 404:
                    raise
                items = []
            if items:
                return parse_order(items[0], self._by_symbol, time.time_ns(), client)
        symbol = order.instrument.symbol
        for path in ("/order", f"/contract/{symbol}/order/closed", f"/contract/{symbol}/order/cancelled"):
            for obj in F.as_list(await self._rest.request("GET", path, auth=True), path):
                item = F.as_object(obj, path)
                if item.get("clientid") == order.client_order_id and item.get("instrument") == symbol:
                    report = parse_order(item, self._by_symbol, time.time_ns(), client)
                    if tracked is not None and tracked.unresolved:
                        self._orders.adopt(tracked, report.venue_order_id)
                    return report
        if tracked is not None and tracked.unresolved:
            self._orders.not_found(tracked)  # the venue has no trace of it: it was never placed
        return None

    async def my_fills(self) -> list[Fill]:
        """Our recent executions, oldest first."""
        answer = await self._rest.request("GET", "/account/execution", auth=True)
        now = time.time_ns()
        fills = []
        for obj in reversed(F.as_list(answer, "account/execution")):
            execution = F.as_object(obj, "execution")
            inst = self._by_symbol.get(str(execution.get("instrument")))
            if inst is not None:
                fills.append(parse_fill(inst, execution, now, self._client_id(str(execution.get("orderid")), None)))
        return fills

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        answer = await self._rest.request("GET", "/order", auth=True)
        now = time.time_ns()
        reports = [parse_order(o, self._by_symbol, now, self._client_id) for o in F.as_list(answer, "GET /order")]
        return [r for r in reports if instrument is None or r.instrument == instrument]

    async def _account_snapshot(self) -> dict[str, Any]:
        return F.as_object(await self._rest.request("GET", "/account", auth=True), "account")

    async def balances(self) -> Sequence[BalanceUpdate]:
        """The margin account in BTC: ``accountMargin`` total, ``margin`` available (satoshis, exact)."""
        account = await self._account_snapshot()
        total = satoshi(account, "accountMargin", "account")
        free = satoshi(account, "margin", "account")
        now = time.time_ns()
        return [BalanceUpdate(VENUE, self._account, "BTC", now, now, free, total - free)]

    async def positions(self) -> Sequence[PositionUpdate]:
        account = await self._account_snapshot()
        now = time.time_ns()
        out = []
        for symbol, obj in F.as_object(account.get("positions", {}), "account positions").items():
            inst = self._by_symbol.get(symbol)
            position = F.as_object(obj, "position")
            qty = Decimal(F.integer(position, "quantity", "position"))
            if inst is not None and qty:
                out.append(PositionUpdate(inst, now, now, qty, F.dec(position, "averagePrice", "position")))
        return out


def open_coinpit_gateway(config: CoinpitConfig, sink: EventSink, **hooks: Any) -> AbstractAsyncContextManager[CoinpitGateway]:
    """``async with open_coinpit_gateway(config, sink) as gateway``: connected and loaded on entry."""
    return CoinpitGateway.open(config, sink, **hooks)
