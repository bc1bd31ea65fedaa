"""The Ekiden gateway: market data and our order updates over the WebSocket, commands over REST.

Ekiden pushes both market data (``orderbook``, ``trades``) and our own order updates with their
fills (the private ``orders`` channel), so nothing is polled. The REST API carries the commands
(create, cancel, amend), the reference data and the reconciliation queries.

* **Instruments** come from ``GET /v1/markets`` (``config.markets`` narrows them).
* **Books**: the ``orderbook`` channel sends a snapshot, then level updates with contiguous
  sequence numbers. A gap (a sequence that does not follow) is reported as ``RESYNCING`` and
  repaired by subscribing again, which makes the venue send a fresh snapshot; the updates in
  between are not forwarded. **Quotes** are the top of that book, sent when it changes.
* **Bars** are built here from the ``trades`` channel (the venue publishes no candles): a bar is
  sent when the first trade of the next interval arrives, or ``bar_grace_s`` after its end.
* **Orders**: MARKET, LIMIT, STOP_MARKET and STOP_LIMIT with GTC/IOC/FOK, post-only, reduce-only,
  whole-number leverage; amend (price and/or size) by ``PATCH``. Take-profit and stop-loss
  levels on an order have no Ekiden field: such orders raise :class:`~engine.Unsupported` before
  anything is sent.
* **Outcome policy** (see :mod:`venues.ekiden.rest`): timeout, connection error, 5xx, 429 or an
  unreadable answer on a command raise :class:`~engine.OutcomeUnknown`; the order is never
  resent. :meth:`EkidenGateway.query_order` finds it by venue id or by our ``client_order_id``
  (the venue echoes and indexes it), with its fills.
* **Reconnects**: after the socket comes back (private channel re-authenticated, subscriptions
  replayed), every order of ours that is not settled yet — not terminal, or its fills not all
  seen — is queried and reported again with its fills; fills are de-duplicated by ``fill_id``
  downstream.
* **Rate limits**: two :class:`risk.RateLimiter` scopes, public and private, sized from the
  venue's published limits (60 and 30 requests per minute); a 429 pauses the scope it hit.
* **Clock**: :class:`risk.ServerClock` is fed by ``GET /v1/time`` at start, every
  ``time_sync_s`` and after any *signature expired* (2002) answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import httpx
import trio

from engine import AuthFailed, BalanceUpdate, Bar, BookDelta, BookSnapshot, ConfigError, Fill, Instrument
from engine import L2Book, MalformedMessage, Order, OrderType, PositionUpdate, Quote, RiskDenied, Trade
from engine import DataKind, GatewayCapabilities, OrderReport, TriotradeError, Unsupported, VenueRejected, VenueState
from venues._common import lifecycle
from venues._common.config import positive as _positive, url as _url
from venues._common.lifecycle import GatewayBase, GatewayConfig
from venues._common.orders import OrderTracker, TrackedOrder

from . import parsers as P
from .constants import (
    PRIVATE_REQUESTS_PER_MIN,
    PUBLIC_REQUESTS_PER_MIN,
    RATE_WINDOW_S,
    REST_URL,
    VENUE,
    WS_URL,
    Channel,
    ErrorCode,
)
from .rest import EkidenRest, rate_limiters
from .schemas import decimal_str
from .signer import ws_auth_message
from .stream import ConnectionLost, EkidenStream, StreamStatistics, WsRequestFailed

__all__ = ["EkidenConfig", "EkidenGateway", "GatewayStatistics"]

log = logging.getLogger("venues.ekiden")

_CLOCK_SAMPLES_AT_START = 3
"Clock samples taken at start-up, one request each."

_NS = 1_000_000_000


# =============================================================================================
# configuration
# =============================================================================================


@attrs.frozen
class EkidenConfig(GatewayConfig):
    """Settings of one Ekiden connection (``EkidenConfig.from_toml("configs/ekiden.toml")``); the
    timeouts, clock sync (also after any 2002), ping (the venue closes sockets idle for 60 s) and
    reconnect pacing are :class:`venues._common.lifecycle.GatewayConfig`'s."""

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=REST_URL, validator=_url("http", "https"))
    "REST host: the venue or a local testnet (``http://127.0.0.1:PORT``); paths start with ``/v1/``."
    ws_url: str = attrs.field(default=WS_URL, validator=_url("ws", "wss"))
    "WebSocket endpoint (``…/v1/stream``)."
    account: str = ""
    "Label of the account in balance updates (default: ``ekiden``)."
    markets: tuple[str, ...] = ()
    "Markets to load (empty: every market the venue lists)."
    public_requests_per_window: int = PUBLIC_REQUESTS_PER_MIN
    "Our budget for public requests per window (the venue's limit: 60 per minute)."
    private_requests_per_window: int = PRIVATE_REQUESTS_PER_MIN
    "Our budget for private requests per window (the venue's limit: 30 per minute per key)."
    rate_window_s: float = attrs.field(default=RATE_WINDOW_S, validator=_positive)
    max_rate_wait_s: float = attrs.field(default=10.0, validator=_positive)
    "Longest a request waits for a rate-limit slot before it is refused locally (nothing sent)."
    bar_grace_s: float = attrs.field(default=1.0, validator=_positive)
    "A bar built from trades is sent this long after its interval ends if no later trade came."


# =============================================================================================
# state
# =============================================================================================


@attrs.frozen(slots=True)
class GatewayStatistics(lifecycle.GatewayStatistics[StreamStatistics]):
    """A snapshot of the gateway's counters (for tests and the status line); ``rate_limited``
    counts the 429 answers of both scopes."""

    book_resyncs: int
    "Sequence gaps repaired with a fresh snapshot."
    reconciliations: int
    "Orders queried after a reconnect or an unsettled answer."


_VENUE_TYPE = {OrderType.LIMIT: "limit", OrderType.MARKET: "market", OrderType.STOP_MARKET: "stop_market",
               OrderType.STOP_LIMIT: "stop_limit"}


class _BarBuilder:
    """One interval's bar under construction from trades."""

    __slots__ = ("interval_ns", "start", "o", "h", "l", "c", "v")

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.start = -1
        self.o = self.h = self.l = self.c = self.v = 0

    def add(self, trade: Trade) -> Bar | None:
        """Account ``trade``; returns the finished previous bar if ``trade`` opens a new one."""
        start = trade.ts_event - trade.ts_event % self.interval_ns
        done = None
        if start > self.start >= 0:
            done = self.bar(trade.instrument, trade.ts_recv)
        if start > self.start:
            self.start, self.o, self.h, self.l, self.c, self.v = (start, trade.price_raw, trade.price_raw,
                                                                  trade.price_raw, trade.price_raw, 0)
        elif start < self.start:
            return done  # a late trade of a bar already sent: not counted
        price = trade.price_raw
        if price > self.h:
            self.h = price
        if price < self.l:
            self.l = price
        self.c = price
        self.v += trade.size_raw
        return done

    def bar(self, instrument: Instrument, ts_recv: int) -> Bar:
        return Bar(instrument, self.start, ts_recv, self.o, self.h, self.l, self.c, self.v, self.interval_ns)


# =============================================================================================
# the gateway
# =============================================================================================


class EkidenGateway(GatewayBase):
    """One connection to Ekiden for one account (or market data only, without credentials).

    Host it in a nursery (``await nursery.start(gateway.run, sink)``) or use
    ``async with EkidenGateway.open(config, sink) as gateway:``. ``transport`` replaces the HTTP
    transport (``httpx.MockTransport`` in unit tests).
    """

    venue = VENUE
    capabilities = GatewayCapabilities(
        order_types=frozenset(t.value for t in _VENUE_TYPE),
        time_in_force=frozenset({"GTC", "IOC", "FOK"}),
        post_only=True,
        reduce_only=True,
        amend=True,
        private_stream=True,
        leverage=True,
    )

    _fatal_start_errors = (AuthFailed, MalformedMessage)

    def __init__(self, config: EkidenConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config, reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s)
        self.config = config
        credentials = config.credentials()
        public, private = rate_limiters(public_per_window=config.public_requests_per_window,
                                        private_per_window=config.private_requests_per_window,
                                        window_s=config.rate_window_s, max_wait_s=config.max_rate_wait_s)
        self._rest = EkidenRest(config.base_url, credentials=credentials, timeout_s=config.http_timeout_s,
                                transport=transport, public_limiter=public, private_limiter=private)
        self._stream = EkidenStream(
            config.ws_url,
            connect_timeout_s=config.http_timeout_s,
            private_auth=self._private_auth if credentials is not None else None,
            **self._stream_options(config),
        )
        self._stream.handlers.update({
            Channel.ORDERBOOK.value: self._on_book,
            Channel.TRADES.value: self._on_trades,
            Channel.ORDERS.value: self._on_orders,
        })
        self._account = config.account or VENUE
        self._jobs_send, self._jobs_receive = trio.open_memory_channel[Callable[[], Any]](1000)
        # market data
        self._book_depth: dict[str, int] = {}
        self._book_wanted: set[str] = set()
        self._quote_wanted: set[str] = set()
        self._books: dict[str, L2Book] = {}
        self._last_quote: dict[str, tuple[int, int, int, int]] = {}
        self._trades_wanted: set[str] = set()
        self._bars: dict[str, dict[int, _BarBuilder]] = {}
        self._resyncing: set[str] = set()
        self._orders = OrderTracker(self._executions)
        # counters
        self._book_resyncs = 0
        self._reconciliations = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        """Sync the clock, load markets, connect the stream (private channel first); then serve.

        Wrong credentials (2001 on the private subscription) raise :class:`~engine.AuthFailed`
        from ``run``, before ``task_status.started()``.
        """
        await self._bootstrap()
        await nursery.start(self._stream.run)
        nursery.start_soon(self._job_worker)
        nursery.start_soon(self._clock_loop)
        nursery.start_soon(self._bar_loop)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._rest.aclose()

    async def _bootstrap(self) -> None:
        """Clock samples, then markets, each request retried on its own (:meth:`_retrying`)."""
        async def sample_clock() -> None:
            await self._rest.sync_time(rounds=1)

        answers: list[Any] = []

        async def load_markets() -> None:
            answers.append(await self._rest.markets())

        for _ in range(_CLOCK_SAMPLES_AT_START):
            await self._retrying(sample_clock, "REST not available")
        await self._retrying(load_markets, "REST not available")
        markets = answers[-1]
        instruments = P.parse_markets(markets, self._report_malformed)
        if self.config.markets:
            missing = [m for m in self.config.markets if m not in instruments]
            if missing:
                raise ConfigError(f"ekiden does not list {', '.join(missing)} (it lists {', '.join(instruments)})",
                                  key="markets")
            instruments = {m: instruments[m] for m in self.config.markets}
        if not instruments:
            raise P.malformed("markets", "no usable market")
        self._set_instruments(instruments)

    async def _private_auth(self, expired: bool) -> dict[str, Any]:
        if expired:
            try:
                await self._rest.sync_time()
            except TriotradeError as e:  # sign with what we know; the next attempt tries again
                log.warning("ekiden: clock sync before the private subscription failed: %s", e)
        creds = self._rest.credentials
        assert creds is not None
        return ws_auth_message(creds, self._rest.timestamp())

    async def _clock_loop(self) -> None:
        while True:
            await trio.sleep(self.config.time_sync_s)
            try:
                await self._rest.sync_time(rounds=1)
            except TriotradeError as e:  # venue trouble or our own rate budget: try again later
                log.warning("ekiden: clock sync failed: %s", e)

    async def _job_worker(self) -> None:
        async for job in self._jobs_receive:
            try:
                await job()
            except TriotradeError as e:  # venue trouble or our own rate budget: logged, not fatal
                log.warning("ekiden: background request failed: %s", e)

    def _schedule(self, job: Callable[[], Any]) -> None:
        try:
            self._jobs_send.send_nowait(job)
        except trio.WouldBlock:
            log.warning("ekiden: background queue full; dropping a job")

    def statistics(self) -> GatewayStatistics:
        return GatewayStatistics(
            stream=self._stream.statistics(),
            requests_sent=self._rest.requests_sent,
            malformed=self._malformed,
            last_malformed=self._last_malformed,
            rate_limited=(self._rest.public_limiter.statistics().rate_limited
                          + self._rest.private_limiter.statistics().rate_limited),
            book_resyncs=self._book_resyncs,
            reconciliations=self._reconciliations,
            tracked_orders=len(self._orders),
            server_offset_ms=self._rest.clock.offset_ms,
        )

    # -- reporting -------------------------------------------------------------------------------
    def _on_stream_state(self, state: VenueState, detail: str) -> None:
        super()._on_stream_state(state, detail)
        if state is VenueState.CONNECTED and self._stream.statistics().connects > 1:
            self._schedule(self._reconcile_unsettled)

    # =========================================================================================
    # market data
    # =========================================================================================

    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Start ``kind`` events for ``instrument`` (idempotent)."""
        symbol = instrument.symbol
        if symbol not in self._by_symbol:
            raise VenueRejected(int(ErrorCode.NOT_FOUND), f"ekiden does not list {symbol!r}", venue=VENUE)
        if kind is DataKind.BOOK or kind is DataKind.QUOTES:
            if depth <= 0:
                raise ValueError(f"book depth must be positive, got {depth}")
            (self._book_wanted if kind is DataKind.BOOK else self._quote_wanted).add(symbol)
            wanted = max(depth if kind is DataKind.BOOK else 1, self._book_depth.get(symbol, 0))
            if wanted != self._book_depth.get(symbol):
                self._book_depth[symbol] = wanted
                await self._subscribe(Channel.ORDERBOOK.value, symbol, depth=wanted)
        elif kind is DataKind.TRADES or kind is DataKind.BARS:
            if kind is DataKind.TRADES:
                self._trades_wanted.add(symbol)
            else:
                if interval_s <= 0:
                    raise ValueError(f"bar interval must be positive, got {interval_s}")
                self._bars.setdefault(symbol, {}).setdefault(interval_s * _NS, _BarBuilder(interval_s * _NS))
            await self._subscribe(Channel.TRADES.value, symbol)
        else:  # pragma: no cover - DataKind is closed
            raise Unsupported(f"ekiden has no {kind} data")

    async def _subscribe(self, channel: str, symbol: str, *, depth: int | None = None) -> None:
        try:
            await self._stream.subscribe(channel, symbol, depth=depth)
        except WsRequestFailed as e:
            raise VenueRejected(e.code, e.venue_message, venue=VENUE) from e
        except (ConnectionLost, trio.TooSlowError):
            return  # recorded: it goes out again when the socket is back

    async def book_snapshot(self, instrument: Instrument, depth: int = 50) -> BookSnapshot:
        """The order book from ``GET /v1/orderbook``."""
        data = await self._rest.orderbook(instrument.symbol, depth)
        return P.parse_orderbook(data, instrument, time.time_ns(), depth)

    async def recent_trades(self, instrument: Instrument, *, limit: int = 100) -> list[Trade]:
        """The most recent public trades from ``GET /v1/trades`` (oldest first)."""
        page = await self._rest.trades(instrument.symbol, limit=limit)
        items, _ = P.unwrap_page(page, "GET /v1/trades")
        trades = P.parse_trades(items, self._by_symbol, time.time_ns())
        trades.reverse()
        return trades

    # -- pushed events (the reader's hot path: synchronous, no awaits) -----------------------
    def _on_book(self, frame: dict[str, Any], ts_recv: int) -> None:
        event = P.parse_ws_book(frame, self._by_symbol, ts_recv)
        inst = event.instrument
        symbol = inst.symbol
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = L2Book(inst)
        if type(event) is BookSnapshot:
            book.apply_snapshot(event)
            self._resyncing.discard(symbol)
        else:
            assert type(event) is BookDelta
            if not book.apply_delta(event):
                if symbol not in self._resyncing:
                    self._resyncing.add(symbol)
                    self._book_resyncs += 1
                    self._status(VenueState.RESYNCING, f"orderbook {symbol}: sequence {event.sequence} after "
                                 f"{book.sequence}; asking for a fresh snapshot", inst)
                    self._schedule(lambda: self._resubscribe_book(symbol))
                return
        if symbol in self._book_wanted:
            self._sink.send_market(event)
        if symbol in self._quote_wanted:
            bid, ask = book.best_bid_raw, book.best_ask_raw
            if bid is not None and ask is not None:
                top = (bid, book.best_bid_size_raw, ask, book.best_ask_size_raw)
                if self._last_quote.get(symbol) != top:
                    self._last_quote[symbol] = top
                    self._sink.send_market(Quote(inst, event.ts_event, ts_recv, *top))

    async def _resubscribe_book(self, symbol: str) -> None:
        depth = self._book_depth.get(symbol)
        if depth is not None:
            await self._subscribe(Channel.ORDERBOOK.value, symbol, depth=depth)

    def _on_trades(self, frame: dict[str, Any], ts_recv: int) -> None:
        trades = P.parse_trades(frame.get("data"), self._by_symbol, ts_recv)
        for trade in trades:
            symbol = trade.instrument.symbol
            if symbol in self._trades_wanted:
                self._sink.send_market(trade)
            builders = self._bars.get(symbol)
            if builders:
                for builder in builders.values():
                    bar = builder.add(trade)
                    if bar is not None:
                        self._sink.send_market(bar)

    async def _bar_loop(self) -> None:
        """Send bars whose interval ended ``bar_grace_s`` ago without a later trade."""
        grace_ns = int(self.config.bar_grace_s * _NS)
        while True:
            await trio.sleep(min(self.config.bar_grace_s, 1.0))
            now = time.time_ns() + int(self._rest.clock.offset_ms * 1_000_000)
            for symbol, builders in self._bars.items():
                for builder in builders.values():
                    if builder.start >= 0 and now >= builder.start + builder.interval_ns + grace_ns:
                        self._sink.send_market(builder.bar(self._by_symbol[symbol], time.time_ns()))
                        builder.start = -1

    def _on_orders(self, frame: dict[str, Any], ts_recv: int) -> None:
        report = P.parse_order_update(frame.get("data"), self._by_symbol, ts_recv, self._orders.client_id_of)
        self._orders.note(report)
        self._sink.send_execution(report)

    # =========================================================================================
    # orders
    # =========================================================================================

    def _track(self, order: Order) -> TrackedOrder:
        return self._orders.track(order.client_order_id, order.instrument, side=order.side,
                                  venue_type=_VENUE_TYPE.get(order.type, ""), qty=order.qty, price=order.price,
                                  venue_order_id=order.venue_order_id)

    def _order_body(self, order: Order) -> dict[str, Any]:
        if order.take_profit is not None or order.stop_loss is not None:
            raise Unsupported("ekiden orders have no take-profit / stop-loss fields")
        venue_type = _VENUE_TYPE.get(order.type)
        if venue_type is None:
            raise Unsupported(f"ekiden has no {order.type.value} orders")
        inst = order.instrument
        if inst.symbol not in self._by_symbol:
            raise Unsupported(f"ekiden does not list {inst.symbol!r}")
        body: dict[str, Any] = {"market": inst.symbol, "side": "buy" if order.side > 0 else "sell",
                                "type": venue_type, "size": decimal_str(order.qty)}
        if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            if order.price is None:
                raise Unsupported(f"a {order.type.value} order needs a price")
            body["price"] = decimal_str(order.price)
        if order.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            if order.trigger_price is None:
                raise Unsupported(f"a {order.type.value} order needs a trigger price")
            body["trigger_price"] = decimal_str(order.trigger_price)
        tif = order.time_in_force.value.lower()
        if order.type in (OrderType.MARKET, OrderType.STOP_MARKET) and tif == "gtc":
            tif = "ioc"  # a market order never rests; GTC is the engine's default, not a request
        body["time_in_force"] = tif
        if order.post_only:
            body["post_only"] = True
        if order.reduce_only:
            body["reduce_only"] = True
        body["client_order_id"] = order.client_order_id
        if order.leverage is not None:
            if order.leverage != order.leverage.to_integral_value() or order.leverage < 1:
                raise Unsupported(f"ekiden takes whole-number leverage, got {order.leverage}")
            body["leverage"] = str(int(order.leverage))
        return body

    async def submit_order(self, order: Order) -> OrderReport:
        """``POST /v1/orders`` with our ``client_order_id``; see the module doc for the outcome policy."""
        body = self._order_body(order)
        tracked = self._track(order)
        try:
            data = await self._rest.create_order(body)
        except (VenueRejected, AuthFailed, RiskDenied):
            self._orders.forget(tracked)  # definite: the venue has nothing to report on it
            raise
        report = self._report_of(data, order)
        self._orders.note(report)
        return report

    async def cancel_order(self, order: Order) -> OrderReport:
        """``DELETE /v1/orders/{id}`` (the id is looked up by client id if the submit's answer was lost)."""
        venue_id = order.venue_order_id or self._track(order).venue_order_id
        if not venue_id:
            found = await self._find_by_client_id(order.client_order_id)
            if found is None:
                raise VenueRejected(int(ErrorCode.NOT_FOUND), f"no order {order.client_order_id} at the venue",
                                    venue=VENUE)
            venue_id = found.venue_order_id
        data = await self._rest.cancel_order(venue_id)
        report = self._report_of(data, order)
        self._orders.note(report)
        return report

    async def amend_order(self, order: Order, *, price: Decimal | None = None,
                          qty: Decimal | None = None) -> OrderReport:
        """``PATCH /v1/orders/{id}`` with a new price and/or total size (a new price loses priority)."""
        if price is None and qty is None:
            raise ValueError("amend needs a new price or quantity")
        venue_id = order.venue_order_id or self._track(order).venue_order_id
        if not venue_id:
            raise Unsupported(f"order {order.client_order_id} has no venue id yet; query it first")
        body: dict[str, Any] = {}
        if price is not None:
            body["price"] = decimal_str(order.instrument.round_price(price))
        if qty is not None:
            body["size"] = decimal_str(order.instrument.round_qty(qty))
        data = await self._rest.amend_order(venue_id, body)
        report = self._report_of(data, order)
        self._orders.note(report)
        return report

    def _report_of(self, data: Any, order: Order) -> OrderReport:
        return self._parse_order(data, order.client_order_id)

    def _parse_order(self, data: Any, client_order_id: str) -> OrderReport:
        report = P.parse_order(data, self._by_symbol, time.time_ns(), self._orders.client_id_of)
        if not report.client_order_id:
            report = attrs.evolve(report, client_order_id=client_order_id)
        return report

    async def _find_by_client_id(self, client_order_id: str) -> OrderReport | None:
        items = await self._rest.orders(client_order_id=client_order_id)
        ts = time.time_ns()
        for item in items:
            report = P.parse_order(item, self._by_symbol, ts, self._orders.client_id_of)
            if report.client_order_id == client_order_id:
                return report
        return None

    async def query_order(self, order: Order) -> OrderReport | None:
        """The venue's view of the order with all its fills; None if the venue does not know it."""
        tracked = self._track(order)
        return await self._query(order.instrument, order.client_order_id,
                                 order.venue_order_id or tracked.venue_order_id)

    async def _query(self, instrument: Instrument, client_order_id: str, venue_id: str) -> OrderReport | None:
        report: OrderReport | None
        if venue_id:
            try:
                data = await self._rest.order(venue_id)
            except VenueRejected as e:
                if e.code == ErrorCode.NOT_FOUND:
                    return None
                raise
            report = self._parse_order(data, client_order_id)
        else:
            report = await self._find_by_client_id(client_order_id)
            if report is None:
                return None
        if report.filled_qty:
            fills = await self.order_fills(instrument, report.venue_order_id)
            report = attrs.evolve(report, fills=tuple(fills))
        self._orders.note(report)
        return report

    async def order_fills(self, instrument: Instrument, venue_order_id: str) -> list[Fill]:
        """Every fill of one order (``GET /v1/fills?order_id=``, all pages), oldest first."""
        items = await self._rest.fills(market=instrument.symbol, order_id=venue_order_id)
        ts = time.time_ns()
        fills = [P.parse_fill(item, self._by_symbol, ts, self._orders.client_id_of) for item in items]
        fills.reverse()
        return fills

    async def my_fills(self, instrument: Instrument | None = None) -> list[Fill]:
        """Every fill of this account (optionally of one market), oldest first."""
        items = await self._rest.fills(market=instrument.symbol if instrument is not None else None)
        ts = time.time_ns()
        fills = [P.parse_fill(item, self._by_symbol, ts, self._orders.client_id_of) for item in items]
        fills.reverse()
        return fills

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        items = await self._rest.orders(market=instrument.symbol if instrument is not None else None, status="open")
        ts = time.time_ns()
        return [P.parse_order(item, self._by_symbol, ts, self._orders.client_id_of) for item in items]

    async def balances(self) -> Sequence[BalanceUpdate]:
        return P.parse_balances(await self._rest.balances(), self._account, time.time_ns())

    async def positions(self) -> Sequence[PositionUpdate]:
        return P.parse_positions(await self._rest.positions(), self._by_symbol, time.time_ns(),
                                 self._report_malformed)

    async def _reconcile_unsettled(self) -> None:
        """After a reconnect: query every order whose final state or fills we may have missed. An
        order the venue acknowledged but no longer has (e.g. lost in a venue restart) is settled as
        gone, not left open."""
        for tracked in self._orders.unsettled():
            self._reconciliations += 1
            try:
                report = await self._query(tracked.instrument, tracked.client_order_id, tracked.venue_order_id)
            except TriotradeError as e:
                log.warning("ekiden: reconcile %s failed: %s", tracked.client_order_id, e)
                continue
            if report is not None:
                self._sink.send_execution(report)
                continue
            if tracked.venue_order_id and not tracked.status.is_terminal:
                self._orders.gone(tracked, time.time_ns(), "unknown to the venue (404) on reconcile")
            self._orders.forget(tracked)  # the venue never had it; the engine's reconciler says so too
        for balance in await self.balances():
            self._sink.send_execution(balance)
