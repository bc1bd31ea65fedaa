"""The Magnr gateway: trades over REST, private state and market data polled.

* **Instruments**: one per (underlying exchange, pair): ``Bitstamp-BTCUSD``, ``ItBit-XBTUSD``,
  ``Bitfinex-BTCUSD`` and the sandbox's ``LOCAL-BTCUSD``; BTC in USD, tick 0.01, lot 0.001.
* **Orders** map honestly: a MARKET order opens a trade (leverage, stop margin and take from the
  order — ``leverage``, ``stop_loss`` / ``take_profit`` as price levels, turned into Magnr's USD
  distances from the touch at send time — or from the config); a reduce-only MARKET order whose
  size is exactly an open trade's (other side, same market) liquidates that trade with a DELETE.
  Limit and stop orders, IOC/FOK, post-only and partial closes raise :class:`~engine.Unsupported`
  before anything is sent; a reduce-only order with no open trade to close is refused (409).
* **Fills**: a trade's open is the opening order's fill (``<id>:open``, fee ``trade_fees``), its
  settlement the close's (``<id>:close``, fee ``daily_fees``). A close the venue made itself
  (stop, limit, trail, insufficient funds) is a fill of a venue-initiated order
  (``strategy_id="venue"``, venue order id ``<id>:<reason>``).
* **UNKNOWN creates** (timeout, 5xx, 504, 429, unreadable answer) are never resent:
  :meth:`MagnrGateway.query_order` lists the trades and adopts the oldest one with the same side,
  size, exchange and pair created after the send and not seen before it; none within
  ``unknown_create_grace_s`` means the venue never took it.
* **Polling** (the kit's :class:`~venues._common.AdaptivePoller`): the trade list every
  ``poll_fast_s`` while something is pending, closing or unresolved, else every ``poll_slow_s``;
  positions every ``account_poll_s``. Quotes from the underlying exchanges' public tickers every
  ``ticker_poll_s`` (a second poller).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import trio

from engine import (
    AuthFailed,
    BalanceUpdate,
    Bar,
    DataKind,
    EventSink,
    Fill,
    Gateway,
    GatewayCapabilities,
    Instrument,
    InstrumentKind,
    Liquidity,
    MalformedMessage,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    OutcomeUnknown,
    PositionUpdate,
    Quote,
    RiskDenied,
    TimeInForce,
    Unsupported,
    VenueError,
    VenueRejected,
)
from venues._common.config import VenueConfig, positive, url
from venues._common.poller import AdaptivePoller, Wakeup

from . import parsers as P
from .constants import (
    DEFAULT_LEVERAGE,
    EXCHANGE_PAIRS,
    LEVERAGES,
    LOT_SIZE,
    REST_URL,
    SETTLE_ASSET,
    TICK_SIZE,
    TICKER_URLS,
    VENUE,
    ClosedReason,
    TradeStatus,
    split_symbol,
    symbol_of,
)
from .parsers import MagnrTrade
from .rest import MagnrRest, TickerClient
from .tonce import default_tonce_file
from .tracking import Bookkeeping, OpenIntent

__all__ = ["MagnrConfig", "MagnrGateway", "GatewayStatistics", "magnr_instruments"]

log = logging.getLogger("venues.magnr")

LIQUIDATION_STRATEGY_ID = "venue"
"Strategy id of a fill the venue made on its own (the engine's venue-initiated orders)."


def _leverage(instance: Any, attribute: Any, value: int) -> None:
    if value not in LEVERAGES:
        raise ValueError(f"must be one of {', '.join(map(str, LEVERAGES))}, got {value}")


def _optional_positive(instance: Any, attribute: Any, value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"must be positive, got {value}")


@attrs.frozen
class MagnrConfig(VenueConfig):
    """Settings of one Magnr connection; the credentials are the public key (``api_key``) and the
    private key (``secret``), from the config or the environment, never shown."""

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=REST_URL, validator=url("http", "https"))
    "Magnr's host (``https://sandbox.magnr.com`` for the sandbox, or a local testnet)."
    ticker_urls: dict[str, str] = attrs.field(factory=lambda: dict(TICKER_URLS))
    "Underlying exchange → the host of its public ticker."
    account: str = ""
    "Label of the account in events (default ``magnr``)."
    leverage: int = attrs.field(default=DEFAULT_LEVERAGE, validator=_leverage)
    "Leverage of a trade whose order names none."
    stop_margin_usd: Decimal | None = attrs.field(default=None, validator=_optional_positive)
    "Stop margin of a trade whose order has no stop-loss (default: the largest the deposit allows)."
    take_usd: Decimal | None = attrs.field(default=None, validator=_optional_positive)
    "Take of a trade whose order has no take-profit (default: none)."
    http_timeout_s: float = attrs.field(default=10.0, validator=positive)
    requests_per_window: int = 60
    "Our budget of signed requests per ``rate_window_s`` (Magnr publishes no limit)."
    rate_window_s: float = attrs.field(default=10.0, validator=positive)
    max_rate_wait_s: float = attrs.field(default=10.0, validator=positive)
    poll_fast_s: float = attrs.field(default=0.5, validator=positive)
    "Trade-list period while a trade is pending or closing, or an order unresolved."
    poll_slow_s: float = attrs.field(default=5.0, validator=positive)
    "Trade-list period otherwise."
    account_poll_s: float = attrs.field(default=30.0, validator=positive)
    "Period of the position reports."
    ticker_poll_s: float = attrs.field(default=1.0, validator=positive)
    "Period of the underlying tickers of subscribed instruments."
    tonce_file: str = ""
    "Where the tonce floor is kept across restarts (default: the cache dir; ``-`` for nowhere)."
    unknown_create_grace_s: float = attrs.field(default=10.0, validator=positive)
    "How long an unmatched UNKNOWN create stays UNKNOWN before it counts as never taken."
    create_match_slack_s: int = 5
    "Clock slack when matching a trade's ``created_at`` (venue seconds) to a create's send."


@attrs.frozen(slots=True)
class GatewayStatistics:
    """Counters for tests and the status line."""

    requests_sent: int
    malformed: int
    last_malformed: str
    polls: int
    ticker_polls: int
    adopted: int
    "UNKNOWN creates matched to a listed trade."
    trades_seen: int


def magnr_instruments() -> dict[str, Instrument]:
    """Every Magnr market by symbol (BTC in USD, settled in BTC at the venue)."""
    out = {}
    for exchange, pairs in EXCHANGE_PAIRS.items():
        for pair in pairs:
            symbol = symbol_of(exchange, pair)
            out[symbol] = Instrument(VENUE, symbol, "BTC", "USD", TICK_SIZE, LOT_SIZE, kind=InstrumentKind.LINEAR,
                                     settle="USD", min_qty=LOT_SIZE, leverage_values=LEVERAGES,  # type: ignore[arg-type]
                                     max_leverage=max(LEVERAGES))
    return out


class _MidBar:
    """One interval's bar of polled ticker mids (volume 0: a ticker gives none)."""

    __slots__ = ("interval_ns", "start", "o", "h", "l", "c")

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.start = -1
        self.o = self.h = self.l = self.c = 0

    def add(self, quote: Quote) -> Bar | None:
        """Account ``quote``'s mid; the finished previous bar if ``quote`` opens a new interval."""
        start = quote.ts_event - quote.ts_event % self.interval_ns
        if start < self.start:
            return None  # an older ticker than the bar's: not counted
        done = None
        if start > self.start >= 0:
            done = Bar(quote.instrument, self.start, quote.ts_recv, self.o, self.h, self.l, self.c, 0,
                       self.interval_ns)
        mid = (quote.bid_raw + quote.ask_raw) // 2
        if start > self.start:
            self.start, self.o, self.h, self.l = start, mid, mid, mid
        self.h, self.l, self.c = max(self.h, mid), min(self.l, mid), mid
        return done


class _NullSink:
    def send_market(self, event: Any) -> None:
        pass

    def send_execution(self, event: Any) -> None:
        pass


class MagnrGateway(Gateway):
    """One Magnr account (or quotes only, without keys). ``http`` replaces the transports in tests."""

    venue = VENUE
    capabilities = GatewayCapabilities(order_types=frozenset({OrderType.MARKET.value}),
                                       time_in_force=frozenset({TimeInForce.GTC.value}), post_only=False,
                                       reduce_only=True, amend=False, private_stream=False, leverage=True)

    def __init__(self, config: MagnrConfig, *, http: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        credentials = config.credentials()
        self._rest: MagnrRest | None = None
        if credentials is not None:
            tonce_file = None if config.tonce_file == "-" else (
                Path(config.tonce_file) if config.tonce_file else default_tonce_file(credentials.api_key))
            self._rest = MagnrRest(config.base_url, credentials=credentials, timeout_s=config.http_timeout_s,
                                   tonce_file=tonce_file, requests_per_window=config.requests_per_window,
                                   window_s=config.rate_window_s, max_wait_s=config.max_rate_wait_s, http=http)
        self._tickers = TickerClient({e: u for e, u in config.ticker_urls.items() if e in EXCHANGE_PAIRS},
                                     timeout_s=config.http_timeout_s, http=http)
        self._by_symbol = magnr_instruments()
        self._by_key = {i.key: i for i in self._by_symbol.values()}
        self._account = config.account or VENUE
        self._sink: EventSink = _NullSink()
        self._book = Bookkeeping()
        self._trades: dict[str, MagnrTrade] = {}
        self._quotes: dict[str, Quote] = {}
        self._quote_wanted: set[str] = set()
        "Symbols whose ticker is polled."
        self._quote_sent: set[str] = set()
        "Symbols whose quotes go to the sink."
        self._bars: dict[str, dict[int, _MidBar]] = {}
        self._trades_wanted: set[str] = set()
        "ItBit symbols whose ticker's last print is sampled as a trade."
        self._last_print: dict[str, tuple[int, int]] = {}
        self._prints = 0
        self._held: set[str] = set()
        "Symbols with a position in the last report."
        self._wakeup = Wakeup()
        self._ticker_wakeup = Wakeup()
        self._account_due = False
        self._malformed = 0
        self._last_malformed = ""
        self._polls = 0
        self._ticker_polls = 0
        self._adopted = 0

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self._by_key

    async def run(self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """List the trades once (wrong keys raise :class:`~engine.AuthFailed` here), then poll."""
        self._sink = sink
        try:
            if self._rest is not None:
                self._baseline(await self._first_list())
            async with trio.open_nursery() as nursery:
                if self._rest is not None:
                    nursery.start_soon(AdaptivePoller(
                        self.poll_once, interval_s=self.poll_interval_s, min_spacing_s=min(self.config.poll_fast_s, 0.2),
                        account_every_s=self.config.account_poll_s, account_due=lambda: self._account_due,
                        wakeup=self._wakeup, name=VENUE, logger=log).run)
                nursery.start_soon(AdaptivePoller(
                    self._poll_tickers, interval_s=lambda: self.config.ticker_poll_s,
                    min_spacing_s=self.config.ticker_poll_s / 2, account_every_s=float("inf"),
                    wakeup=self._ticker_wakeup, name=f"{VENUE} tickers", logger=log).run)
                task_status.started()
        finally:
            await self.aclose()

    async def _first_list(self) -> list[MagnrTrade]:
        """The trade list at start; venue trouble is retried with backoff, wrong keys are raised."""
        delay = min(self.config.poll_fast_s, 0.5)
        while True:
            try:
                return await self._list()
            except (AuthFailed, MalformedMessage):
                raise
            except (VenueError, RiskDenied) as e:
                log.warning("magnr: trade list not available at start (%s); retrying in %.1f s", e, delay)
                await trio.sleep(delay)
                delay = min(delay * 2, self.config.poll_slow_s)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            if self._rest is not None:
                await self._rest.aclose()
            await self._tickers.aclose()

    def statistics(self) -> GatewayStatistics:
        return GatewayStatistics(self._rest.requests_sent if self._rest else 0, self._malformed,
                                 self._last_malformed, self._polls, self._ticker_polls, self._adopted,
                                 len(self._trades))

    def _report_malformed(self, error: MalformedMessage) -> None:
        self._malformed += 1
        self._last_malformed = str(error)
        log.warning("%s", error)

    def _rest_or_fail(self) -> MagnrRest:
        if self._rest is None:
            raise Unsupported("magnr: no credentials (quotes only)")
        return self._rest

    def _venue_now_s(self) -> int:
        rest = self._rest_or_fail()
        return rest.clock.server_now_ms() // 1000

    # =========================================================================================
    # market data: the underlying exchanges' tickers
    # =========================================================================================

    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Quotes, and bars of the quotes' mid (volume 0), from the underlying exchange's ticker
        (Magnr publishes no market data); trades only on ItBit, whose ticker names its last print
        (sampled at each poll: prints between two polls are not seen). No book (:class:`~engine.Unsupported`)."""
        symbol = instrument.symbol
        if symbol not in self._by_symbol:
            raise VenueRejected(404, f"magnr does not list {symbol!r}", venue=VENUE)
        if kind is DataKind.BARS:
            interval_ns = int(interval_s) * 1_000_000_000
            if interval_ns <= 0:
                raise Unsupported(f"a bar interval must be positive, got {interval_s}")
            self._bars.setdefault(symbol, {}).setdefault(interval_ns, _MidBar(interval_ns))
        elif kind is DataKind.QUOTES:
            self._quote_sent.add(symbol)
        elif kind is DataKind.TRADES and split_symbol(symbol)[0] == "ItBit":
            self._trades_wanted.add(symbol)
        else:
            raise Unsupported(f"magnr has no {kind.value} data: quotes (and bars of their mid) come from the "
                              "underlying exchange's ticker")
        if symbol not in self._quote_wanted:
            self._quote_wanted.add(symbol)
            self._ticker_wakeup.set()

    async def _poll_tickers(self, account: bool) -> None:
        self._ticker_polls += 1
        for symbol in sorted(self._quote_wanted):
            quote, data = await self._fetch_quote(symbol)
            if symbol in self._trades_wanted:
                self._sample_print(symbol, data, quote.ts_recv)
            previous = self._quotes.get(symbol)
            self._quotes[symbol] = quote
            if symbol in self._quote_sent and (previous is None or previous[3:] != quote[3:]
                                               or previous[1] != quote[1]):
                self._sink.send_market(quote)
            for builder in self._bars.get(symbol, {}).values():
                bar = builder.add(quote)
                if bar is not None:
                    self._sink.send_market(bar)

    async def _fetch_quote(self, symbol: str) -> tuple[Quote, Any]:
        exchange, _ = split_symbol(symbol)
        data = await self._tickers.get(exchange, P.TICKER_PATHS[exchange])
        return P.TICKER_PARSERS[exchange](data, self._by_symbol[symbol], time.time_ns()), data

    def _sample_print(self, symbol: str, data: Any, ts_recv: int) -> None:
        """ItBit's last print, sent when it differs from the one seen at the previous poll."""
        trade = P.parse_itbit_last(data, self._by_symbol[symbol], ts_recv, self._prints + 1)
        if trade is None:
            return
        identity = (trade.price_raw, trade.size_raw)
        if self._last_print.get(symbol) != identity:
            first = symbol not in self._last_print
            self._last_print[symbol] = identity
            if not first:  # the print before the subscription is not news
                self._prints += 1
                self._sink.send_market(trade)

    # =========================================================================================
    # private state: the trade list
    # =========================================================================================

    def poll_interval_s(self) -> float:
        busy = self._book.unresolved() or bool(self._book.closes) or any(
            t.status in (TradeStatus.PENDING, TradeStatus.CLOSED) for t in self._trades.values())
        return self.config.poll_fast_s if busy else self.config.poll_slow_s

    async def poll_once(self, account: bool = False) -> None:
        """One round: the trade list (fills and order updates from it), and positions if ``account``."""
        self._polls += 1
        trades = await self._list()
        for trade in trades:
            self._observe(trade)
        if account:
            self._account_due = False
            self._send_positions()

    async def _list(self) -> list[MagnrTrade]:
        return P.parse_trades(await self._rest_or_fail().trades(), self._report_malformed)

    def _baseline(self, trades: list[MagnrTrade]) -> None:
        """Trades settled before we started are history: their fills are not reported again."""
        for trade in trades:
            self._trades[trade.id] = trade
            if trade.status is TradeStatus.SETTLED:
                self._book.reported.update({f"{trade.id}:open", f"{trade.id}:close"})
            else:
                self._observe(trade)

    def _observe(self, trade: MagnrTrade) -> None:
        """Record one listed (or fetched) trade; report what it says that was not reported yet."""
        self._trades[trade.id] = trade
        if trade.status is not TradeStatus.PENDING and self._book.first_report(f"{trade.id}:open"):
            self._account_due = True
            self._sink.send_execution(self._open_report(trade))
        if trade.status is TradeStatus.SETTLED and self._book.first_report(f"{trade.id}:close"):
            self._account_due = True
            closing = self._book.close_of_trade.get(trade.id)
            if closing is not None:
                self._sink.send_execution(self._close_report(trade, closing))
                self._book.drop_close(closing)
            else:
                self._sink.send_execution(self._close_fill(trade, "", LIQUIDATION_STRATEGY_ID))
                log.warning("magnr: trade %s closed by the venue (%s)", trade.id, _reason(trade))

    # -- reports --------------------------------------------------------------------------------------
    def _open_fill(self, trade: MagnrTrade, client_order_id: str) -> Fill:
        assert trade.open_price is not None
        return Fill(self._by_symbol[trade.symbol], trade.created_at * 1_000_000_000, time.time_ns(),
                    client_order_id, trade.id, f"{trade.id}:open", trade.side, trade.open_price, trade.size,
                    trade.trade_fees, SETTLE_ASSET, Liquidity.TAKER)

    def _close_fill(self, trade: MagnrTrade, client_order_id: str, strategy_id: str = "") -> Fill:
        assert trade.close_price is not None
        venue_order_id = f"{trade.id}:close" if client_order_id or not strategy_id else f"{trade.id}:{_reason(trade)}"
        ts = (trade.closed_at or trade.created_at) * 1_000_000_000
        return Fill(self._by_symbol[trade.symbol], ts, time.time_ns(), client_order_id, venue_order_id,
                    f"{trade.id}:close", trade.side.opposite, trade.close_price, trade.size, trade.daily_fees,
                    SETTLE_ASSET, Liquidity.TAKER, strategy_id)

    def _open_report(self, trade: MagnrTrade, client_order_id: str | None = None) -> OrderReport:
        cid = client_order_id if client_order_id is not None else self._book.open_of_trade.get(trade.id, "")
        inst = self._by_symbol[trade.symbol]
        if trade.status is TradeStatus.PENDING:
            return OrderReport(inst, trade.created_at * 1_000_000_000, time.time_ns(), cid, trade.id,
                               OrderStatus.ACCEPTED, Decimal(0), reason="pending at the exchange")
        fill = self._open_fill(trade, cid)
        return OrderReport(inst, fill.ts_event, fill.ts_recv, cid, trade.id, OrderStatus.FILLED, trade.size,
                           trade.open_price, reason=f"trade {trade.status.value}", fills=(fill,))

    def _close_report(self, trade: MagnrTrade, client_order_id: str) -> OrderReport:
        inst = self._by_symbol[trade.symbol]
        venue_order_id = f"{trade.id}:close"
        if trade.status is not TradeStatus.SETTLED:
            return OrderReport(inst, time.time_ns(), time.time_ns(), client_order_id, venue_order_id,
                               OrderStatus.ACCEPTED, Decimal(0), reason=f"trade {trade.status.value}")
        fill = self._close_fill(trade, client_order_id)
        return OrderReport(inst, fill.ts_event, fill.ts_recv, client_order_id, venue_order_id, OrderStatus.FILLED,
                           trade.size, trade.close_price, reason=_reason(trade), fills=(fill,))

    # =========================================================================================
    # orders
    # =========================================================================================

    def _check_expressible(self, order: Order) -> None:
        if order.instrument.symbol not in self._by_symbol:
            raise Unsupported(f"magnr does not list {order.instrument.symbol!r}")
        if order.type is not OrderType.MARKET:
            raise Unsupported(f"magnr opens and closes trades at market only: a {order.type.value} order "
                              "cannot be expressed")
        if order.time_in_force is not TimeInForce.GTC:
            raise Unsupported(f"magnr has no time in force: {order.time_in_force.value} cannot be expressed")
        if order.post_only:
            raise Unsupported("magnr has no post-only orders (every trade takes at market)")

    async def submit_order(self, order: Order) -> OrderReport:
        """Open a trade (a market order) or liquidate one (a reduce-only market order for its whole size)."""
        self._check_expressible(order)
        if order.reduce_only:
            return await self._close(order)
        return await self._open(order)

    async def _open(self, order: Order) -> OrderReport:
        rest = self._rest_or_fail()
        exchange, pair = split_symbol(order.instrument.symbol)
        leverage = self.config.leverage
        if order.leverage is not None:
            if order.leverage != order.leverage.to_integral_value() or int(order.leverage) not in LEVERAGES:
                raise Unsupported(f"magnr leverage is 10, 5 or 2, not {order.leverage}")
            leverage = int(order.leverage)
        fields: dict[str, Any] = {"leverage": leverage, "side": "buy" if order.side > 0 else "sell",
                                  "exchange": exchange, "pair": pair}
        stop = await self._distance(order, order.stop_loss, adverse=True) if order.stop_loss is not None \
            else self.config.stop_margin_usd
        if stop is not None:
            fields["stop_margin"] = stop
        fields["size"] = order.qty
        fields["type"] = "market"
        take = await self._distance(order, order.take_profit, adverse=False) if order.take_profit is not None \
            else self.config.take_usd
        if take is not None:
            fields["take"] = take
        cid = order.client_order_id
        self._book.intend_open(OpenIntent(cid, order.instrument.symbol, order.side, order.qty, self._venue_now_s(),
                                          frozenset(self._trades)))
        self._wakeup.set()
        try:
            answer = await rest.create_trade(fields)
        except OutcomeUnknown:
            raise  # the trade may exist: query_order finds it
        except BaseException:
            self._book.drop_open(cid)  # definite (or never sent): nothing to find
            raise
        try:
            trade_id = P.parse_created(answer)
        except MalformedMessage as e:
            raise OutcomeUnknown(f"POST /api/v1/trades/: no id in the answer ({e})", venue=VENUE) from e
        self._book.bind_open(cid, trade_id)
        now = time.time_ns()
        return OrderReport(order.instrument, now, now, cid, trade_id, OrderStatus.ACCEPTED, Decimal(0),
                           reason="trade placed")

    async def _distance(self, order: Order, level: Decimal, *, adverse: bool) -> Decimal:
        """Magnr's USD distance for a stop-loss or take-profit price level, from the touch now."""
        quote = self._quotes.get(order.instrument.symbol) or (await self._fetch_quote(order.instrument.symbol))[0]
        touch = quote.ask if order.side > 0 else quote.bid
        distance = (touch - level) * order.side * (1 if adverse else -1)
        what = "stop-loss" if adverse else "take-profit"
        if distance <= 0:
            raise Unsupported(f"a {what} at {level} is on the wrong side of the price {touch}")
        return order.instrument.round_price(distance)

    async def _close(self, order: Order) -> OrderReport:
        rest = self._rest_or_fail()
        for trade in await self._list():
            self._observe(trade)
        symbol = order.instrument.symbol
        claimed = set(self._book.close_of_trade)
        facing = [t for t in self._trades.values() if t.symbol == symbol and t.side is order.side.opposite
                  and t.status in (TradeStatus.OPEN, TradeStatus.PENDING) and t.id not in claimed]
        whole = sorted((t for t in facing if t.size == order.qty and t.is_open), key=lambda t: (t.created_at, t.id))
        if not whole:
            if any(t.is_open for t in facing):
                sizes = ", ".join(sorted({str(t.size) for t in facing if t.is_open}))
                raise Unsupported(f"magnr liquidates whole trades only: no open trade of {order.qty} "
                                  f"(open: {sizes}); a partial close cannot be expressed")
            pending = " (one is still pending)" if facing else ""
            raise VenueRejected(409, f"no open {symbol} trade to reduce{pending}", venue=VENUE)
        trade = whole[0]
        cid = order.client_order_id
        self._book.intend_close(cid, trade.id)
        self._wakeup.set()
        try:
            await rest.close_trade(trade.id)
        except OutcomeUnknown:
            raise  # query_order looks at the trade
        except BaseException:
            self._book.drop_close(cid)
            raise
        now = time.time_ns()
        return OrderReport(order.instrument, now, now, cid, f"{trade.id}:close", OrderStatus.ACCEPTED, Decimal(0),
                           reason=f"liquidating trade {trade.id}")

    async def cancel_order(self, order: Order) -> OrderReport:
        """Magnr trades execute at market: there is nothing resting to cancel."""
        raise Unsupported("magnr has no resting orders to cancel (trades execute at market)")

    async def query_order(self, order: Order) -> OrderReport | None:
        """The venue's view of one of our orders; an UNKNOWN create is matched to a listed trade."""
        cid = order.client_order_id
        closing = self._book.closes.get(cid)
        if closing is not None or order.reduce_only:
            trade_id = closing or order.venue_order_id.partition(":")[0]
            trade = await self._get(trade_id) if trade_id else None
            if trade is None or trade.status in (TradeStatus.PENDING, TradeStatus.OPEN):
                self._book.drop_close(cid)
                return None  # the DELETE did not take: the trade is still open (or gone)
            self._observe(trade)
            return self._close_report(trade, cid)
        known = self._book.opens.get(cid)
        trade_id = order.venue_order_id or (known.trade_id if known is not None else "")
        if trade_id:
            trade = await self._get(trade_id)
            if trade is None:
                return None
            self._book.bind_open(cid, trade.id)
            self._observe(trade)
            return self._open_report(trade, cid)
        intent = self._book.opens.get(cid)
        if intent is None:  # an order of an earlier run: sent at its creation time at the latest
            intent = OpenIntent(cid, order.instrument.symbol, order.side, order.qty,
                                order.ts_init // 1_000_000_000, frozenset())
            self._book.intend_open(intent)
        trades = await self._list()
        for t in trades:
            self._trades[t.id] = t
        match = self._book.match(intent, trades, slack_s=self.config.create_match_slack_s)
        if match is None:
            if self._venue_now_s() - intent.sent_s < self.config.unknown_create_grace_s:
                now = time.time_ns()
                return OrderReport(order.instrument, now, now, cid, "", OrderStatus.UNKNOWN,
                                   reason="no matching trade yet")
            self._book.drop_open(cid)
            return None
        self._adopted += 1
        log.warning("magnr: order %s adopted trade %s (matched by side, size, exchange, pair and time)", cid,
                    match.id)
        self._book.bind_open(cid, match.id)
        self._observe(match)
        return self._open_report(match, cid)

    async def _get(self, trade_id: str) -> MagnrTrade | None:
        try:
            return P.parse_trade_answer(await self._rest_or_fail().trade(trade_id))
        except VenueRejected as e:
            if e.code == 404:
                return None
            raise

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        """Trades still pending (their opening orders) and trades closing (their closing orders)."""
        out: list[OrderReport] = []
        for trade in await self._list():
            self._observe(trade)
            if instrument is not None and trade.symbol != instrument.symbol:
                continue
            if trade.status is TradeStatus.PENDING:
                out.append(self._open_report(trade))
            elif trade.status is TradeStatus.CLOSED and trade.id in self._book.close_of_trade:
                out.append(self._close_report(trade, self._book.close_of_trade[trade.id]))
        return out

    async def balances(self) -> Sequence[BalanceUpdate]:
        """Magnr publishes no balance: the BTC held as deposits of open trades is the one figure known."""
        trades = await self._list()
        held = sum((t.deposit for t in trades if t.status is not TradeStatus.SETTLED), Decimal(0))
        now = time.time_ns()
        return [BalanceUpdate(VENUE, self._account, SETTLE_ASSET, now, now, Decimal(0), held)]

    async def positions(self) -> Sequence[PositionUpdate]:
        """One position per market from the open trades (net size, size-weighted open price)."""
        for trade in await self._list():
            self._observe(trade)
        return self._positions()

    def _positions(self) -> list[PositionUpdate]:
        now = time.time_ns()
        out = []
        by_symbol: dict[str, list[MagnrTrade]] = {}
        for trade in self._trades.values():
            if trade.status in (TradeStatus.OPEN, TradeStatus.CLOSED):
                by_symbol.setdefault(trade.symbol, []).append(trade)
        for symbol, trades in sorted(by_symbol.items()):
            qty = sum((t.size * t.side for t in trades), Decimal(0))
            if not qty:
                continue
            same = [t for t in trades if (t.side > 0) == (qty > 0)]
            avg = sum((t.size * (t.open_price or 0) for t in same), Decimal(0)) / sum((t.size for t in same),
                                                                                        Decimal(0))
            quote = self._quotes.get(symbol)
            mark = (quote.bid + quote.ask) / 2 if quote is not None else None
            upnl = sum(((mark - (t.open_price or mark)) * t.size * t.side for t in trades), Decimal(0)) \
                if mark is not None else Decimal(0)
            leverages = {t.leverage for t in trades}
            out.append(PositionUpdate(self._by_symbol[symbol], now, now, qty, avg, upnl,
                                      Decimal(leverages.pop()) if len(leverages) == 1 else None,
                                      ",".join(t.id for t in trades)))
        return out

    def _send_positions(self) -> None:
        positions = self._positions()
        now = time.time_ns()
        held = {p.instrument.symbol for p in positions}
        for symbol in self._held - held:
            self._sink.send_execution(PositionUpdate(self._by_symbol[symbol], now, now, Decimal(0), Decimal(0)))
        for position in positions:
            self._sink.send_execution(position)
        self._held = held


def _reason(trade: MagnrTrade) -> str:
    return trade.closed_reason.value if trade.closed_reason is not None else ClosedReason.USER.value
