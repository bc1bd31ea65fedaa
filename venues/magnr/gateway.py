"""The Magnr gateway: trades over REST, private state and market data polled.

On the kit's lifecycle (:class:`~venues._common.lifecycle.GatewayBase`) and order tracker
(:class:`~venues._common.orders.OrderTracker`); this module is Magnr's mapping only.

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
  size, exchange and pair created after the send and not listed before it (the tracker's
  matching); none within ``unknown_create_grace_s`` means the venue never took it.
* **Polling** (the kit's :class:`~venues._common.AdaptivePoller`): the trade list every
  ``poll_fast_s`` while something is pending, closing or unresolved, else every ``poll_slow_s``;
  positions every ``account_poll_s``. Market data: :mod:`venues.magnr.market`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import trio

from engine import (
    BalanceUpdate,
    DataKind,
    Fill,
    GatewayCapabilities,
    Instrument,
    InstrumentKind,
    LIQUIDATION_STRATEGY_ID,
    Liquidity,
    MalformedMessage,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    OutcomeUnknown,
    PositionUpdate,
    TimeInForce,
    Unsupported,
    VenueRejected,
)
from venues._common.config import positive, url
from venues._common.nonce import default_nonce_file
from venues._common.lifecycle import GatewayBase, GatewayConfig, GatewayStatistics
from venues._common.orders import AccountTracker, Candidate, OrderTracker, TrackedOrder, match_candidate
from venues._common.orders import resolve_by_matching
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
    TradeStatus,
    split_symbol,
    symbol_of,
)
from .market import TickerFeed
from .parsers import MagnrTrade
from .rest import MagnrRest, TickerClient

__all__ = ["MagnrConfig", "MagnrGateway", "MagnrStatistics", "magnr_instruments"]

_MARKET = "market"
_NS = 1_000_000_000


def _leverage(instance: Any, attribute: Any, value: int) -> None:
    if value not in LEVERAGES:
        raise ValueError(f"must be one of {', '.join(map(str, LEVERAGES))}, got {value}")


def _optional_positive(instance: Any, attribute: Any, value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"must be positive, got {value}")


@attrs.frozen
class MagnrConfig(GatewayConfig):
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
class MagnrStatistics(GatewayStatistics[None]):
    """The kit's counters (no stream) and Magnr's."""

    polls: int = 0
    ticker_polls: int = 0
    adopted: int = 0
    "UNKNOWN creates matched to a listed trade."


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


class MagnrGateway(GatewayBase):
    """One Magnr account (or quotes only, without keys). ``http`` replaces the transports in tests."""

    venue = VENUE
    capabilities = GatewayCapabilities(order_types=frozenset({OrderType.MARKET.value}),
                                       time_in_force=frozenset({TimeInForce.GTC.value}), post_only=False,
                                       reduce_only=True, amend=False, private_stream=False, leverage=True)

    def __init__(self, config: MagnrConfig, *, http: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config, reconnect_min_s=min(config.reconnect_min_s, config.poll_fast_s),
                         reconnect_max_s=config.reconnect_max_s)
        self.config = config
        credentials = config.credentials()
        self._rest: MagnrRest | None = None
        if credentials is not None:
            tonce_file = None if config.tonce_file == "-" else (
                Path(config.tonce_file) if config.tonce_file else default_nonce_file(VENUE, credentials.api_key))
            self._rest = MagnrRest(config.base_url, credentials=credentials, timeout_s=config.http_timeout_s,
                                   tonce_file=tonce_file, requests_per_window=config.requests_per_window,
                                   window_s=config.rate_window_s, max_wait_s=config.max_rate_wait_s, http=http)
        self._tickers = TickerClient({e: u for e, u in config.ticker_urls.items() if e in EXCHANGE_PAIRS},
                                     timeout_s=config.http_timeout_s, http=http)
        self._set_instruments(magnr_instruments())
        self._feed = TickerFeed(self._tickers, self._by_symbol, lambda: self._sink, poll_s=config.ticker_poll_s,
                                logger=self._log)
        self._orders = OrderTracker(self._executions, on_fill=self._note_fill)
        self._account_events = AccountTracker(self._executions)
        self._account_label = config.account or VENUE
        self._trades: dict[str, MagnrTrade] = {}
        "Every trade listed, by id (its last state)."
        self._listed_before: dict[str, frozenset[str]] = {}
        "Client id of an opening order → the trade ids listed before its create left."
        self._wakeup = Wakeup()
        self._account_due = False
        self._polls = 0
        self._adopted = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        """List the trades once (wrong keys raise :class:`~engine.AuthFailed` here), then poll."""
        if self._rest is not None:
            await self._retrying(self._baseline, "the trade list is not available")
            nursery.start_soon(AdaptivePoller(
                self.poll_once, interval_s=self.poll_interval_s, min_spacing_s=min(self.config.poll_fast_s, 0.2),
                account_every_s=self.config.account_poll_s, account_due=lambda: self._account_due,
                wakeup=self._wakeup, name=VENUE, logger=self._log).run)
        nursery.start_soon(self._feed.run)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            if self._rest is not None:
                await self._rest.aclose()
            await self._tickers.aclose()

    def statistics(self) -> MagnrStatistics:
        rest = self._rest
        return MagnrStatistics(None, rest.requests_sent if rest else 0, self._malformed, self._last_malformed,
                               rest.limiter.statistics().rate_limited if rest else 0, len(self._orders),
                               rest.clock.offset_ms if rest else 0.0, self._polls, self._feed.polls, self._adopted)

    def _rest_or_fail(self) -> MagnrRest:
        if self._rest is None:
            raise Unsupported("magnr: no credentials (quotes only)")
        return self._rest

    def _venue_now_ms(self) -> int:
        return self._rest_or_fail().clock.server_now_ms()

    def _note_fill(self) -> None:
        self._account_due = True

    # -- market data ---------------------------------------------------------------------------
    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Quotes and bars of their mid from the underlying exchange's ticker, trades from ItBit's
        (see :mod:`venues.magnr.market`); Magnr publishes no market data of its own."""
        if instrument.symbol not in self._by_symbol:
            raise VenueRejected(404, f"magnr does not list {instrument.symbol!r}", venue=VENUE)
        self._feed.subscribe(kind, instrument.symbol, interval_s)

    # -- private state: the trade list -----------------------------------------------------------
    def poll_interval_s(self) -> float:
        busy = bool(self._orders.unresolved) or bool(self._orders.open) or any(
            t.status in (TradeStatus.PENDING, TradeStatus.CLOSED) for t in self._trades.values())
        return self.config.poll_fast_s if busy else self.config.poll_slow_s

    async def poll_once(self, account: bool = False) -> None:
        """One round: the trade list (fills and order updates from it), and positions if ``account``."""
        self._polls += 1
        for trade in await self._list():
            self._observe(trade)
        if account:
            self._account_due = False
            self._account_events.note_positions(self._positions(), time.time_ns())

    async def _list(self) -> list[MagnrTrade]:
        return P.parse_trades(await self._rest_or_fail().trades(), self._report_malformed)

    async def _baseline(self) -> None:
        """Trades settled before we started are history: their fills are not reported again."""
        for trade in await self._list():
            if trade.status is TradeStatus.SETTLED:
                self._trades[trade.id] = trade
                self._orders.note_seen(trade.symbol, f"{trade.id}:open")
                self._orders.note_seen(trade.symbol, f"{trade.id}:close")
            else:
                self._observe(trade)

    def _observe(self, trade: MagnrTrade) -> None:
        """Record one listed (or fetched) trade; pass on what it says that is new."""
        self._trades[trade.id] = trade
        opening = self._orders.by_venue_id(trade.id)
        if trade.status is not TradeStatus.PENDING:
            self._orders.consider_fill(self._open_fill(trade, opening.client_order_id if opening else ""))
        if opening is not None:  # its fill went out just above: the report says the rest
            self._orders.update(opening, self._open_report(trade, opening.client_order_id, with_fills=False))
        closing = self._orders.by_venue_id(f"{trade.id}:close")
        if trade.status is TradeStatus.SETTLED:
            if closing is not None:
                self._orders.consider_fill(self._close_fill(trade, closing.client_order_id))
            elif self._orders.consider_fill(self._close_fill(trade, "", LIQUIDATION_STRATEGY_ID)):
                self._log.warning("magnr: trade %s closed by the venue (%s)", trade.id, _reason(trade))
        if closing is not None:
            self._orders.update(closing, self._close_report(trade, closing.client_order_id, with_fills=False))

    # -- reports --------------------------------------------------------------------------------------
    def _open_fill(self, trade: MagnrTrade, client_order_id: str) -> Fill:
        assert trade.open_price is not None
        return Fill(self._by_symbol[trade.symbol], trade.created_at * _NS, time.time_ns(), client_order_id,
                    trade.id, f"{trade.id}:open", trade.side, trade.open_price, trade.size, trade.trade_fees,
                    SETTLE_ASSET, Liquidity.TAKER)

    def _close_fill(self, trade: MagnrTrade, client_order_id: str, strategy_id: str = "") -> Fill:
        assert trade.close_price is not None
        venue_order_id = f"{trade.id}:{_reason(trade)}" if strategy_id else f"{trade.id}:close"
        return Fill(self._by_symbol[trade.symbol], (trade.closed_at or trade.created_at) * _NS, time.time_ns(),
                    client_order_id, venue_order_id, f"{trade.id}:close", trade.side.opposite, trade.close_price,
                    trade.size, trade.daily_fees, SETTLE_ASSET, Liquidity.TAKER, strategy_id)

    def _open_report(self, trade: MagnrTrade, client_order_id: str, *, with_fills: bool = True) -> OrderReport:
        inst, now = self._by_symbol[trade.symbol], time.time_ns()
        if trade.status is TradeStatus.PENDING:
            return OrderReport(inst, trade.created_at * _NS, now, client_order_id, trade.id, OrderStatus.ACCEPTED,
                               Decimal(0), reason="pending at the exchange")
        return OrderReport(inst, trade.created_at * _NS, now, client_order_id, trade.id, OrderStatus.FILLED,
                           trade.size, trade.open_price, reason=f"trade {trade.status.value}",
                           fills=(self._open_fill(trade, client_order_id),) if with_fills else ())

    def _close_report(self, trade: MagnrTrade, client_order_id: str, *, with_fills: bool = True) -> OrderReport:
        inst, now, venue_order_id = self._by_symbol[trade.symbol], time.time_ns(), f"{trade.id}:close"
        if trade.status is not TradeStatus.SETTLED:
            return OrderReport(inst, now, now, client_order_id, venue_order_id, OrderStatus.ACCEPTED, Decimal(0),
                               reason=f"trade {trade.status.value}")
        return OrderReport(inst, (trade.closed_at or trade.created_at) * _NS, now, client_order_id, venue_order_id,
                           OrderStatus.FILLED, trade.size, trade.close_price, reason=_reason(trade),
                           fills=(self._close_fill(trade, client_order_id),) if with_fills else ())

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
        fields["type"] = _MARKET
        take = await self._distance(order, order.take_profit, adverse=False) if order.take_profit is not None \
            else self.config.take_usd
        if take is not None:
            fields["take"] = take
        symbol, cid = order.instrument.symbol, order.client_order_id
        tracked = self._orders.track(cid, order.instrument, side=order.side, venue_type=_MARKET, qty=order.qty,
                                     sent_ms=self._venue_now_ms())
        self._listed_before[cid] = frozenset(self._trades)
        self._wakeup.set()
        self._orders.begin_send(symbol)
        try:
            answer = await rest.create_trade(fields)
            trade_id = P.parse_created(answer)
        except MalformedMessage as e:
            self._orders.end_send(symbol, settle=False)
            self._orders.mark_unresolved(tracked)
            raise OutcomeUnknown(f"POST /api/v1/trades/: no id in the answer ({e})", venue=VENUE) from e
        except OutcomeUnknown:
            self._orders.end_send(symbol, settle=False)
            self._orders.mark_unresolved(tracked)  # found by query_order, never resent
            raise
        except BaseException:
            self._orders.end_send(symbol)
            self._orders.forget(tracked)  # definite (or never sent): nothing to find
            self._listed_before.pop(cid, None)
            raise
        now = time.time_ns()
        report = OrderReport(order.instrument, now, now, cid, trade_id, OrderStatus.ACCEPTED, Decimal(0),
                             reason="trade placed")
        self._orders.record(tracked, report)
        self._orders.end_send(symbol)
        return report

    async def _distance(self, order: Order, level: Decimal, *, adverse: bool) -> Decimal:
        """Magnr's USD distance for a stop-loss or take-profit price level, from the touch now."""
        quote = await self._feed.quote(order.instrument.symbol)
        touch = quote.ask if order.side > 0 else quote.bid
        distance = (touch - level) * order.side * (1 if adverse else -1)
        if distance <= 0:
            what = "stop-loss" if adverse else "take-profit"
            raise Unsupported(f"a {what} at {level} is on the wrong side of the price {touch}")
        return order.instrument.round_price(distance)

    async def _close(self, order: Order) -> OrderReport:
        rest = self._rest_or_fail()
        for trade in await self._list():
            self._observe(trade)
        symbol = order.instrument.symbol
        facing = [t for t in self._trades.values() if t.symbol == symbol and t.side is order.side.opposite
                  and t.status in (TradeStatus.OPEN, TradeStatus.PENDING)
                  and self._orders.by_venue_id(f"{t.id}:close") is None]
        whole = sorted((t for t in facing if t.size == order.qty and t.is_open), key=lambda t: (t.created_at, t.id))
        if not whole:
            if any(t.is_open for t in facing):
                sizes = ", ".join(sorted({str(t.size) for t in facing if t.is_open}))
                raise Unsupported(f"magnr liquidates whole trades only: no open trade of {order.qty} "
                                  f"(open: {sizes}); a partial close cannot be expressed")
            pending = " (one is still pending)" if facing else ""
            raise VenueRejected(409, f"no open {symbol} trade to reduce{pending}", venue=VENUE)
        trade = whole[0]
        tracked = self._orders.track(order.client_order_id, order.instrument, side=order.side, venue_type=_MARKET,
                                     qty=order.qty, venue_order_id=f"{trade.id}:close")
        self._wakeup.set()
        try:
            await rest.close_trade(trade.id)
        except OutcomeUnknown:
            raise  # query_order looks at the trade
        except BaseException:
            self._orders.forget(tracked)
            raise
        now = time.time_ns()
        report = OrderReport(order.instrument, now, now, order.client_order_id, f"{trade.id}:close",
                             OrderStatus.ACCEPTED, Decimal(0), reason=f"liquidating trade {trade.id}")
        self._orders.record(tracked, report)
        return report

    async def cancel_order(self, order: Order) -> OrderReport:
        """Magnr trades execute at market: there is nothing resting to cancel."""
        raise Unsupported("magnr has no resting orders to cancel (trades execute at market)")

    async def query_order(self, order: Order) -> OrderReport | None:
        """The venue's view of one of our orders; an UNKNOWN create is matched to a listed trade."""
        cid = order.client_order_id
        tracked = self._orders.get(cid)
        venue_id = order.venue_order_id or (tracked.venue_order_id if tracked is not None else "")
        if order.reduce_only:
            return await self._query_close(order, tracked, venue_id)
        if not venue_id:
            if tracked is None:  # an order of an earlier run: sent at its creation time at the latest
                tracked = self._orders.track(cid, order.instrument, side=order.side, venue_type=_MARKET,
                                             qty=order.qty, sent_ms=order.ts_init // 1_000_000)
                self._orders.mark_unresolved(tracked)
            venue_id = await resolve_by_matching(self._orders, tracked, [self._candidates], self._matches)
            if not venue_id:
                if self._venue_now_ms() - tracked.sent_ms < self.config.unknown_create_grace_s * 1000:
                    now = time.time_ns()
                    return OrderReport(order.instrument, now, now, cid, "", OrderStatus.UNKNOWN,
                                       reason="no matching trade yet")
                self._orders.not_found(tracked)
                return None
            self._adopted += 1
            self._log.warning("magnr: order %s adopted trade %s (matched by side, size, exchange, pair and time)",
                              cid, venue_id)
        trade = await self._get(venue_id)
        if trade is None:
            return None
        if tracked is None:
            tracked = self._orders.track(cid, order.instrument, venue_order_id=venue_id)
        self._observe(trade)
        report = self._open_report(trade, cid)
        self._orders.record(tracked, report)
        return report

    async def _query_close(self, order: Order, tracked: TrackedOrder | None, venue_id: str) -> OrderReport | None:
        trade = await self._get(venue_id.partition(":")[0]) if venue_id else None
        if trade is None or trade.status in (TradeStatus.PENDING, TradeStatus.OPEN):
            if tracked is not None:
                self._orders.forget(tracked)
            return None  # the DELETE did not take: the trade is still open (or gone)
        if tracked is None:
            tracked = self._orders.track(order.client_order_id, order.instrument, side=order.side,
                                         venue_type=_MARKET, qty=order.qty, venue_order_id=f"{trade.id}:close")
        self._observe(trade)
        report = self._close_report(trade, order.client_order_id)
        self._orders.record(tracked, report)
        return report

    def _matches(self, tracked: TrackedOrder, candidate: Candidate) -> bool:
        slack_ms = self.config.create_match_slack_s * 1000
        return match_candidate(tracked, candidate, window_ms=int(self.config.http_timeout_s * 1000),
                               slack_ms=slack_ms, market_type=_MARKET) \
            and candidate.venue_order_id not in self._listed_before.get(tracked.client_order_id, frozenset())

    async def _candidates(self, tracked: TrackedOrder) -> list[Candidate]:
        """Listed trades on the order's market that could be its (the tracker leaves out claimed ones)."""
        out = []
        for trade in await self._list():
            self._trades[trade.id] = trade
            if trade.symbol == tracked.instrument.symbol:
                out.append(Candidate(trade.id, trade.side, _MARKET, trade.size, None, trade.created_at * 1000))
        return out

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
                out.append(self._open_report(trade, self._orders.client_id_of(trade.id)))
            elif trade.status is TradeStatus.CLOSED and self._orders.by_venue_id(f"{trade.id}:close") is not None:
                out.append(self._close_report(trade, self._orders.client_id_of(f"{trade.id}:close")))
        return out

    async def balances(self) -> Sequence[BalanceUpdate]:
        """Magnr publishes no balance: the BTC held as deposits of open trades is the one figure known."""
        trades = await self._list()
        held = sum((t.deposit for t in trades if t.status is not TradeStatus.SETTLED), Decimal(0))
        now = time.time_ns()
        return [BalanceUpdate(VENUE, self._account_label, SETTLE_ASSET, now, now, Decimal(0), held)]

    async def positions(self) -> Sequence[PositionUpdate]:
        """One position per market from the open trades (net size, size-weighted open price)."""
        for trade in await self._list():
            self._observe(trade)
        return self._positions()

    def _positions(self) -> list[PositionUpdate]:
        now = time.time_ns()
        by_symbol: dict[str, list[MagnrTrade]] = {}
        for trade in self._trades.values():
            if trade.status in (TradeStatus.OPEN, TradeStatus.CLOSED):
                by_symbol.setdefault(trade.symbol, []).append(trade)
        out = []
        for symbol, trades in sorted(by_symbol.items()):
            qty = sum((t.size * t.side for t in trades), Decimal(0))
            if not qty:
                continue
            same = [t for t in trades if (t.side > 0) == (qty > 0)]
            avg = sum((t.size * (t.open_price or 0) for t in same), Decimal(0)) / sum((t.size for t in same),
                                                                                        Decimal(0))
            quote = self._feed.quotes.get(symbol)
            upnl = Decimal(0)
            if quote is not None:
                mark = (quote.bid + quote.ask) / 2
                upnl = sum(((mark - (t.open_price or mark)) * t.size * t.side for t in trades), Decimal(0))
            leverages = {t.leverage for t in trades}
            out.append(PositionUpdate(self._by_symbol[symbol], now, now, qty, avg, upnl,
                                      Decimal(leverages.pop()) if len(leverages) == 1 else None,
                                      ",".join(t.id for t in trades)))
        return out


def _reason(trade: MagnrTrade) -> str:
    return trade.closed_reason.value if trade.closed_reason is not None else "user"
