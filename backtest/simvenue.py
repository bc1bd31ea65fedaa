"""The backtest's simulated venue: our orders against replayed market data.

The recorded market is replayed as it happened; our orders do not move it. :class:`SimVenue`
decides when and at what price each of our orders would have filled, and reports it through an
:class:`ExecutionSink` (the engine), which applies the order state machine and the portfolio.
It never mutates an :class:`~engine.Order`: it keeps its own record of each one, keyed by the
client order id. Our resting orders — limits, waiting stops, stop-limits that triggered and
rest — live in one :class:`~backtest.matching.OrderBook` per instrument (the same matching engine
the local testnets serve), which keeps price-time priority among them and hands them out, best
first, when the replayed market reaches their prices.

Time
----
A command sent at ``now`` reaches the venue at ``now + order_latency_ns`` and is handled by the
first :meth:`SimVenue.advance` whose ``now`` is at or after that, before the market event of that
``now`` is applied. ``order_latency_ns`` is the *whole* reaction latency: market-data latency is
folded into it. A strategy reacting to data that is ``L_md`` old with an order that takes ``L_o``
to arrive sees and acts exactly as a strategy with fresh data and an order latency of
``L_md + L_o``: in both cases the order reaches the venue ``L_md + L_o`` after the market state
it reacts to, and nothing else in a replay depends on when the strategy saw the data.

Fill rules (the documented assumptions; each is commented where it is applied)
----------------------------------------------------------------------------
The order rules (shape, post-only, FOK / IOC remainders, stop triggering, self-trade prevention)
are those of :mod:`backtest.order_rules`, the same the local testnets apply; what follows is the
fill model: where the liquidity of a replayed market comes from and at what price.

First contact. An order that reaches the venue meets the market at the first market event of its
instrument at or after its arrival: the next trade's price, the next quote's touch, the replayed
L2 book as that update leaves it, or the next bar's open. (The state the strategy reacted to is
already history when its order arrives; and the rule does not depend on whether the replay loop
was calling an idle venue.)

* MARKET: on book data it walks the replayed book level by level (partial fills at each price);
  on quote data it takes the touch, at most the touch size; on trade data it fills completely at
  the next trade's price; on bar data completely at the next bar's open. A GTC market order that
  the visible liquidity did not fill keeps taking at the following updates (a recorded book is a
  finite depth and a quote shows one level: the next update stands for the levels behind); an
  IOC/FOK market order's remainder expires.
* Marketable LIMIT: takes at its limit or better (taker), then rests (GTC) or expires (IOC). On
  trade/bar data a limit is marketable when the print/open is through it (``trade_through``) and
  then fills completely at that price. FOK fills completely or expires untouched. A post-only
  order that would take is rejected.
* Liquidity we take from the replayed book stays taken until that level's displayed size
  changes (the venue then shows a new state of it); a quote's touch likewise.

Resting orders (makers, at their own price):

* Trade data: a resting limit fills when a trade prints through its price — strictly through with
  ``trade_through`` (the default: orders ahead of ours at that price would have taken a print at
  it), at or through without. It fills at its limit price, for at most the trade's size; that
  size is shared by our resting orders in price-time priority; what is left rests for later
  prints (partial fills).
* Book / quote data: a resting limit fills when the opposite replayed touch reaches its price (a
  sell resting at or below our bid would have met our bid first: we were the best bid at that
  price, the replayed market never was), for at most the displayed size of each crossing level.
* Bar data (``bar_fill_mode="intrabar"``): a bar is evaluated with the orders that were working
  for all of it: orders that reached the venue by the bar's open take part, and a cancel that
  reached it before the bar closed takes effect first. The open is a print: a resting limit the open gaps through fills at the open;
  a stop the open gaps past fills at the open. Then the bar is walked as a path open → low → high
  → close or open → high → low → close: a limit fills at its price when the path trades through
  it (buy: low < limit, or ``<=`` without ``trade_through``), a stop triggers when the path
  reaches its trigger and fills at the trigger. The path visits the nearer extreme first
  (ties: the low), except that when a stop could trigger on one side only, that side comes
  first: a stop and a target that both lie inside one bar fill stop first. Nothing ever fills at
  a price the bar did not reach, and bars fill without a volume limit. With
  ``bar_fill_mode="open"`` orders see only bar opens.
* Stops trigger on the last trade price (trade data: the print, and they fill at the print's
  price; bars: as above). On book/quote data a buy stop triggers when the best ask reaches its
  trigger and a sell stop when the best bid does; the triggered order then takes the replayed
  book like a market / limit order.

Reduce-only orders are checked against the position (``position_of``, or the venue's own count of
our fills): one that would open or increase it is rejected on arrival; a fill is cut to what
reduces the position, and when the position is flat every reduce-only order left is canceled.

Fees: ``fee = notional * rate`` (maker or taker rate; the config overrides the instrument's), an
exact Decimal in the instrument's settle asset. Notional is ``qty * multiplier * price``, exact,
or for inverse instruments ``qty * multiplier / price`` rounded half-even to 8 decimal places.

Determinism: no randomness and no wall clock: the same inputs give identical reports. Venue order
ids are ``sim-o<n>`` and trade ids ``sim-<n>``. ``seed`` is recorded but not used: no part of this
fill model draws random numbers.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal
from difflib import get_close_matches
from typing import Any, Protocol

import attrs

from engine import L2Book
from engine import Bar, Liquidity, Quote, Side, Trade
from engine import Instrument, InstrumentKind
from engine import to_decimal
from engine import Order, OrderType, TimeInForce

from .account import INSUFFICIENT, MAINTENANCE_FRACTION, SimAccount, Terms
from . import order_rules as rules
from .matching import EventKind, Match, OrderBook, OrderEvent, SelfTradePrevention

__all__ = ["ExecutionSink", "BarFillMode", "SimVenueConfig", "SimVenue"]

_MAKER = Liquidity.MAKER
_TAKER = Liquidity.TAKER
_BUY, _SELL = Side.BUY, Side.SELL
_GTC, _FOK = TimeInForce.GTC, TimeInForce.FOK
_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT
_STOP_MARKET, _STOP_LIMIT = OrderType.STOP_MARKET, OrderType.STOP_LIMIT  # enum member lookups are slow: bind once
_NEG = -(1 << 62)
_POS = 1 << 62
_OWNER = "sim"
_ZERO = Decimal(0)
_ONE = Decimal(1)
_Dec = Decimal
_Q8 = Decimal("1e-8")
_CTX = Context(prec=80, rounding=ROUND_HALF_EVEN)  # wide enough that products of prices, sizes and rates are exact
_SUBMIT, _CANCEL, _CANCEL_ALL = 0, 1, 2
_CANCELED, _EXPIRED = "canceled", "expired"
_NO_MARKET, _QUOTE, _BOOK = 0, 1, 2


class ExecutionSink(Protocol):
    """Receives the simulated venue's execution reports (the engine implements it)."""

    def on_accepted(self, order: Order, ts_ns: int, venue_order_id: str) -> None: ...

    def on_rejected(self, order: Order, ts_ns: int, reason: str) -> None: ...

    def on_canceled(self, order: Order, ts_ns: int, reason: str) -> None: ...

    def on_expired(self, order: Order, ts_ns: int, reason: str) -> None: ...

    def on_cancel_rejected(self, order: Order, ts_ns: int, reason: str) -> None: ...

    def on_fill(self, order: Order, ts_ns: int, price_raw: int, size_raw: int, liquidity: Liquidity,
                fee: Decimal, trade_id: str) -> Any: ...

    def on_liquidation(self, instrument: Instrument, side: Side, ts_ns: int, price_raw: int, size_raw: int,
                       fee: Decimal, trade_id: str, reason: str) -> Any: ...


class BarFillMode(enum.Enum):
    """How orders meet bar data."""

    INTRABAR = "intrabar"
    "The open, then a path through low and high to the close (see the module docstring)."
    OPEN = "open"
    "Only the open: orders fill when a bar opens at or through their price."


def _opt_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _non_negative(instance: Any, attribute: Any, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen
class SimVenueConfig:
    """The simulated venue's fill model."""

    order_latency_ns: int = attrs.field(default=0, validator=_non_negative)
    "From the strategy's decision to the order (or cancel) reaching the venue, market-data latency included."
    trade_through: bool = True
    "Resting limits fill on trades / bar ranges only when the price goes strictly through them."
    bar_fill_mode: BarFillMode = attrs.field(default=BarFillMode.INTRABAR, converter=BarFillMode)
    "``intrabar`` (open, then a low/high path) or ``open`` (bar opens only)."
    maker_fee: Decimal | None = attrs.field(default=None, converter=_opt_decimal)
    "Maker fee rate for every instrument (None: each instrument's own)."
    taker_fee: Decimal | None = attrs.field(default=None, converter=_opt_decimal)
    "Taker fee rate for every instrument (None: each instrument's own)."
    self_trade: SelfTradePrevention = attrs.field(default=SelfTradePrevention.CANCEL_TAKER,
                                                  converter=SelfTradePrevention)
    "When our own orders would cross each other: the incoming one is canceled by default."

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimVenueConfig:
        """Build from a mapping (e.g. a TOML table); unknown keys are an error with a suggestion."""
        known = [f.name for f in attrs.fields(cls)]
        for key in data:
            if key not in known:
                close = get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown simulated venue setting {key!r}{hint}")
        return cls(**data)


class _SimOrder:
    """The venue's record of one of our orders."""

    __slots__ = ("order", "cid", "st", "side", "type", "qty", "filled", "price", "trigger", "tif", "post_only",
                 "reduce_only", "arrival", "book_id", "accepted", "triggered", "done", "lock", "leverage")

    def __init__(self, order: Order, st: _Inst, arrival: int) -> None:
        self.order = order
        self.cid = order.client_order_id
        self.st = st
        self.side = order.side
        self.type = order.type
        self.qty = order.qty_raw
        self.filled = 0
        self.price = order.price_raw if order.type in (_LIMIT, _STOP_LIMIT) else None  # None: market-like
        self.trigger = order.trigger_raw if order.type not in (_MARKET, _LIMIT) else None
        self.tif = order.time_in_force
        self.post_only = order.post_only
        self.reduce_only = order.reduce_only
        self.arrival = arrival
        self.book_id = 0  # id in the instrument's OrderBook while resting or waiting as a stop
        self.accepted = False
        self.triggered = False
        self.done = False
        self.lock = 0  # reserved in the pay asset (base for spot sells), asset units; see backtest.account
        self.leverage = _ONE


class _Inst:
    """Per-instrument state: our book, the market state we fill against, cached thresholds."""

    __slots__ = ("instrument", "book", "l2", "quote", "mkt", "taken_bids", "taken_asks", "orders", "by_book_id",
                 "takers", "bid_hi", "ask_lo", "sstop_hi", "bstop_lo", "down_mark", "up_mark", "position",
                 "reduce_only", "maker_fee", "taker_fee", "tick", "lot", "min_qty", "max_qty", "inverse",
                 "maker_unit", "taker_unit", "terms", "margin", "cost", "liq_lo", "liq_hi", "armed")

    def __init__(self, instrument: Instrument, config: SimVenueConfig) -> None:
        self.instrument = instrument
        self.tick = instrument.price_raw(instrument.tick_size)
        self.lot = instrument.size_raw(instrument.lot_size)
        self.min_qty = instrument.size_raw(instrument.min_qty) if instrument.min_qty else 0
        self.max_qty = instrument.size_raw(instrument.max_qty) if instrument.max_qty is not None else None
        self.book = OrderBook(tick_raw=self.tick, lot_raw=self.lot, self_trade=config.self_trade, trigger_stops=False)
        self.l2: L2Book | None = None
        self.quote: Quote | None = None
        self.mkt = _NO_MARKET  # which state first contact uses: none, the last quote, the L2 book
        self.taken_bids: dict[int, tuple[int, int]] = {}  # price -> (displayed size, size we took)
        self.taken_asks: dict[int, tuple[int, int]] = {}
        self.orders: dict[str, _SimOrder] = {}  # every working order, in arrival order
        self.by_book_id: dict[int, _SimOrder] = {}
        self.takers: list[_SimOrder] = []  # waiting for the next market event (done ones are skipped)
        self.position = 0
        self.reduce_only = 0  # working reduce-only orders
        self.maker_fee = instrument.maker_fee if config.maker_fee is None else config.maker_fee
        self.taker_fee = instrument.taker_fee if config.taker_fee is None else config.taker_fee
        # linear / spot: fee = (price_raw * size_raw) * fee_unit, the same exact product as
        # size * multiplier * price * rate (exact products do not depend on the order of factors)
        self.inverse = instrument.kind is InstrumentKind.INVERSE
        scale = -(instrument.price_scale + instrument.size_scale)
        self.maker_unit = _CTX.multiply(instrument.multiplier, self.maker_fee).scaleb(scale, _CTX)
        self.taker_unit = _CTX.multiply(instrument.multiplier, self.taker_fee).scaleb(scale, _CTX)
        # thresholds: a market event needs work only when it reaches one of these
        self.bid_hi = self.sstop_hi = self.down_mark = _NEG
        self.ask_lo = self.bstop_lo = self.up_mark = _POS
        # cash and margin (None: the venue does not check balances)
        self.terms: Terms | None = None
        self.margin = 0  # the position's margin, settle units
        self.cost = 0  # sum of price_raw * size_raw of the open position (average cost)
        self.liq_lo = _NEG  # a long position is liquidated at a price at or below this
        self.liq_hi = _POS  # a short one at or above this
        self.armed = False  # a liquidation price is set


class SimVenue:
    """Simulated venue for backtests (see the module docstring for every fill rule).

    Commands: :meth:`submit`, :meth:`cancel`, :meth:`cancel_all` (queued for the latency), then
    :meth:`advance` hands them to the venue. Market data: :meth:`on_trade`, :meth:`on_quote`,
    :meth:`on_bar`, :meth:`on_book`. While :attr:`active` is False nothing is working or pending
    and the replay loop may skip every call; while it is True every market event of every
    instrument must be delivered (after :meth:`advance` for the event's receive time).
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        sink: ExecutionSink,
        config: SimVenueConfig = SimVenueConfig(),
        *,
        seed: int = 0,
        position_of: Callable[[Instrument], int] | None = None,
        balance_of: Callable[[str], Decimal] | None = None,
    ) -> None:
        """``balance_of`` (asset → balance, e.g. the engine portfolio's ``balance``) turns on the
        cash and margin rules of :mod:`backtest.account`; without it orders are not balance-checked."""
        self.config = config
        self.seed = seed
        self.active = False
        "False when no command is pending and no order is working: the replay loop may skip the venue."
        self._sink = sink
        self._position_of = position_of
        self._insts: dict[str, _Inst] = {inst.key: _Inst(inst, config) for inst in instruments}
        self._account: SimAccount | None = None
        if balance_of is not None:
            self._account = self._open_account(balance_of)
        self._armed = 0  # positions with a liquidation price
        self._orders: dict[str, _SimOrder] = {}
        self._pending: list[tuple[int, int, int, Any]] = []  # heap of (arrival, seq, command, payload)
        self._seq = 0
        self._trades = 0
        self._order_ids = 0
        self._latency = config.order_latency_ns
        self._through = 1 if config.trade_through else 0
        self._intrabar = config.bar_fill_mode is BarFillMode.INTRABAR

    def _open_account(self, balance_of: Callable[[str], Decimal]) -> SimAccount:
        insts = list(self._insts.values())
        scales = SimAccount.scales_for(Terms.scale_needed(st.instrument, st.maker_fee, st.taker_fee) for st in insts)
        for st in insts:
            st.terms = Terms(st.instrument, st.maker_fee, st.taker_fee, scales)
        return SimAccount(balance_of, scales)

    # ---------------------------------------------------------------------------------------
    # commands (queued; they reach the venue after the latency)
    # ---------------------------------------------------------------------------------------
    def submit(self, order: Order, now_ns: int) -> None:
        """Send ``order``; it reaches the venue at ``now_ns + order_latency_ns``."""
        self._push(now_ns, _SUBMIT, order)

    def cancel(self, order: Order, now_ns: int) -> None:
        """Ask to cancel ``order``; answered by ``on_canceled`` or ``on_cancel_rejected``."""
        self._push(now_ns, _CANCEL, order)

    def cancel_all(self, instrument: Instrument, now_ns: int) -> None:
        """Cancel every working order of ``instrument`` (as it stands when the command arrives)."""
        self._push(now_ns, _CANCEL_ALL, instrument)

    def _push(self, now_ns: int, command: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (now_ns + self._latency, self._seq, command, payload))
        self.active = True

    def advance(self, now_ns: int) -> None:
        """Hand the venue every command that has arrived by ``now_ns``, in arrival order."""
        pending = self._pending
        if not pending or pending[0][0] > now_ns:
            return  # the hot path: nothing has arrived
        while pending and pending[0][0] <= now_ns:
            arrival, _, command, payload = heapq.heappop(pending)
            if command == _SUBMIT:
                self._arrive(payload, arrival)
            elif command == _CANCEL:
                so = self._orders.get(payload.client_order_id)
                if so is None:
                    self._sink.on_cancel_rejected(payload, arrival, "order is not open at the venue (filled, "
                                                  "canceled, rejected or never received)")
                else:
                    self._close(so, arrival, _CANCELED, "")
                    self._remark(so.st)
            else:
                st = self._insts.get(payload.key)
                if st is not None:
                    for so in list(st.orders.values()):
                        self._close(so, arrival, _CANCELED, "cancel all")
                    self._remark(st)
        self.active = bool(pending) or bool(self._orders) or bool(self._armed)

    # ---------------------------------------------------------------------------------------
    # market data
    # ---------------------------------------------------------------------------------------
    def on_trade(self, trade: Trade) -> None:
        """A replayed trade print."""
        st = self._insts.get(trade.instrument.key)
        if st is None:
            return
        p = trade.price_raw
        if st.armed and (p <= st.liq_lo or p >= st.liq_hi):
            self._liquidate(st, p, trade.ts_recv)
        if not st.orders:
            return
        if not st.takers and st.down_mark < p < st.up_mark:
            return  # the hot path: nothing to do at this price
        ts = trade.ts_recv
        if st.takers:
            self._takers_at(st, p, ts, None)  # orders that arrived since the last event: market at this print
            self._remark(st)
        moved = False  # until our book moves, the thresholds are current
        if p <= st.down_mark:
            # the print went through our bids / reached our sell stops: bids fill at their own price for
            # at most the print's size, in priority; stops trigger and fill at the print
            self._move(st, -1, p, self._through, trade.size_raw, None, p, ts)
            moved = True
        if p >= st.up_mark:
            self._move(st, 1, p, self._through, trade.size_raw, None, p, ts)
            moved = True
        self._settle(st, moved)

    def on_quote(self, quote: Quote) -> None:
        """A replayed top-of-book update."""
        st = self._insts.get(quote.instrument.key)
        if st is None:
            return
        st.quote = quote
        st.mkt = _QUOTE
        bid = quote.bid_raw if quote.bid_size_raw > 0 else None
        ask = quote.ask_raw if quote.ask_size_raw > 0 else None
        if st.armed:
            self._liquidate_at_touch(st, bid, ask, quote.ts_recv)
        if not st.orders:
            return
        self._touch(st, bid, ask, quote.ts_recv)

    def on_book(self, book: L2Book) -> None:
        """The engine applied a snapshot/delta to ``book`` (shared, read here, never written)."""
        st = self._insts.get(book.instrument.key)
        if st is None:
            return
        st.l2 = book
        st.mkt = _BOOK
        if not book.in_sync:
            return  # an out-of-sync book is not evidence of anything
        if st.armed:
            self._liquidate_at_touch(st, book.best_bid_raw, book.best_ask_raw, book.ts_recv)
        if not st.orders:
            return
        self._touch(st, book.best_bid_raw, book.best_ask_raw, book.ts_recv)

    def on_bar(self, bar: Bar) -> None:
        """A replayed bar (received at its close)."""
        st = self._insts.get(bar.instrument.key)
        if st is None:
            return
        o, h, lo, c = bar.open_raw, bar.high_raw, bar.low_raw, bar.close_raw
        if st.armed:
            # the open when it gapped past the liquidation price, else the price itself on the path
            if lo <= st.liq_lo:
                self._liquidate(st, min(o, st.liq_lo), bar.ts_recv)
            elif h >= st.liq_hi:
                self._liquidate(st, max(o, st.liq_hi), bar.ts_recv)
        if not st.orders:
            return
        if not st.takers and st.down_mark < lo and h < st.up_mark:
            return  # the hot path: the bar reached nothing of ours
        ts = bar.ts_recv
        through = self._through
        if st.takers:
            # orders that reached the venue by the bar's open meet the market at the open ("fill at
            # next bar open"); later ones wait for the next bar
            self._takers_at(st, o, ts, bar.ts_event)
            self._remark(st)
        moved = False  # until our book moves, the thresholds are current
        # a gap: the open is already through resting limits / past stops -> they fill at the open
        if o <= st.down_mark:
            self._move(st, -1, o, through, None, o, o, ts)
            moved = True
        if o >= st.up_mark:
            self._move(st, 1, o, through, None, o, o, ts)
            moved = True
        if self._intrabar:
            if moved:
                self._remark(st)
                moved = False
            if lo <= st.down_mark or h >= st.up_mark:
                moved = True
                sell_stop = st.sstop_hi >= lo
                buy_stop = st.bstop_lo <= h
                if sell_stop != buy_stop:
                    down_first = sell_stop  # stop before target: the side with the stop comes first
                else:
                    down_first = o - lo <= h - o  # the nearer extreme first; a tie goes to the low
                legs = ((-1, lo), (1, h), (-1, c)) if down_first else ((1, h), (-1, lo), (1, c))
                for direction, to in legs:
                    # along a leg, limits fill at their own price when traded through, stops at
                    # their trigger: never at a price the bar did not reach
                    self._move(st, direction, to, through, None, None, None, ts)
        self._settle(st, moved)

    # ---------------------------------------------------------------------------------------
    # queries
    # ---------------------------------------------------------------------------------------
    def open_orders(self, instrument: Instrument | None = None) -> list[Order]:
        """Orders working at the venue (received, not yet filled / canceled / expired), oldest first."""
        if instrument is None:
            return [so.order for so in self._orders.values()]
        st = self._insts.get(instrument.key)
        return [] if st is None else [so.order for so in st.orders.values()]

    def position_raw(self, instrument: Instrument) -> int:
        """Net position from this venue's own fills (scaled; positive long)."""
        return self._insts[instrument.key].position

    @property
    def pending_commands(self) -> int:
        """Commands sent but not yet arrived."""
        return len(self._pending)

    # ---------------------------------------------------------------------------------------
    # arrival
    # ---------------------------------------------------------------------------------------
    def _arrive(self, order: Order, ts: int) -> None:
        st = self._insts.get(order.instrument.key)
        if st is None:
            self._sink.on_rejected(order, ts, f"unknown instrument {order.instrument.key}")
            return
        problem = self._check(st, order)
        if problem:
            self._sink.on_rejected(order, ts, problem)
            return
        so = _SimOrder(order, st, ts)
        self._orders[so.cid] = so
        st.orders[so.cid] = so
        if so.reduce_only:
            st.reduce_only += 1
        # it meets the market at the first market event at or after its arrival (see _takers_at, _touch);
        # our book did not change, so the thresholds stand (every entry point leaves them current)
        st.takers.append(so)

    def _check(self, st: _Inst, order: Order) -> str:
        """Why the venue refuses ``order`` on arrival ("" if it does not)."""
        inst = st.instrument
        kind = order.type
        refusal = rules.check_order(
            order.side, kind, order.qty_raw, order.price_raw if kind is _LIMIT or kind is _STOP_LIMIT else None,
            order.trigger_raw if kind is _STOP_MARKET or kind is _STOP_LIMIT else None, order.time_in_force,
            order.post_only, tick=st.tick, lot=st.lot, min_qty=st.min_qty, max_qty=st.max_qty)
        if refusal is not None:
            return refusal.text(inst.size_of, inst.price_of, "instrument")
        if order.client_order_id in self._orders:
            return f"duplicate client order id {order.client_order_id}"
        if order.reduce_only:
            pos = self._position(st)
            if pos == 0 or (pos > 0) == (order.side > 0):
                return "reduce-only order would increase the position"
        return ""

    # ---------------------------------------------------------------------------------------
    # first contact with the market (arrival, or a stop that just triggered)
    # ---------------------------------------------------------------------------------------
    def _contact(self, st: _Inst, so: _SimOrder, px: int | None, ts: int) -> None:
        """Match ``so`` as a newcomer: ``px`` is a print / bar price with unlimited liquidity, or
        None for the replayed book / quote."""
        if not so.accepted and st.terms is not None:
            problem = self._reserve(st, so, px)  # the cash / margin the order needs (backtest.account)
            if problem:
                self._reject(so, problem)
                return
        if so.trigger is not None and not so.triggered:
            if not self._stop_reached(st, so, px):
                self._accept(so)
                # the stop waits off the book; replayed prices trigger it (see _move and _touch)
                r = st.book.submit(_OWNER, so.side, so.type, so.qty - so.filled, price_raw=so.price,
                                   trigger_raw=so.trigger, time_in_force=so.tif, post_only=so.post_only,
                                   client_id=so.cid, ts=ts)
                if not r.ok:  # cannot happen after _check; never lose an order silently
                    self._close(so, ts, _CANCELED, r.reason)
                    return
                so.book_id = r.order_id
                st.by_book_id[r.order_id] = so
                return
            so.triggered = True  # already past its trigger on arrival: it triggers at once
        limit = so.price
        if limit is None and px is not None and not so.post_only:
            # a market order meets a print / bar open: it takes the whole order there (the general
            # path below does the same through _takes / _take)
            self._accept(so)
            self._fill(so, px, so.qty - so.filled, _TAKER, ts)
            if not so.done:
                self._remainder(st, so, None, ts)
            return
        takes = self._takes(st, so.side, limit, px)
        if so.post_only and (takes or self._crosses_own(st, so.side, limit)):
            # post-only never takes: rejected (a triggered stop-limit was accepted before: canceled)
            reason = rules.POST_ONLY_TAKES
            if so.accepted:
                self._close(so, ts, _CANCELED, reason)  # a triggered post-only stop-limit
            else:
                self._reject(so, reason)
            return
        self._accept(so)
        if so.tif is _FOK and not rules.fok_fills(takes, self._available(st, so.side, limit, px) if takes else 0,
                                                  so.qty - so.filled):
            self._close(so, ts, _EXPIRED, rules.FOK_UNFILLED)  # all or nothing
            return
        if takes:
            self._take(st, so, limit, px, ts)
            if so.done:
                return
        self._remainder(st, so, limit, ts)

    def _remainder(self, st: _Inst, so: _SimOrder, limit: int | None, ts: int) -> None:
        """What ``so`` did not fill on contact: rests (GTC limit: a maker now) or expires."""
        if limit is None and so.tif is _GTC:
            # fill model: a GTC market remainder keeps taking at the next updates (a recorded book is
            # finite depth; the next update stands for the levels behind)
            st.takers.append(so)
            return
        what, reason = rules.remainder(limit, so.tif)
        if what is rules.Remainder.EXPIRE:
            self._close(so, ts, _EXPIRED, reason)
        else:
            self._rest(st, so, ts)

    # ---------------------------------------------------------------------------------------
    # cash and margin (rules in backtest.account)
    # ---------------------------------------------------------------------------------------
    def _reserve(self, st: _Inst, so: _SimOrder, px: int | None) -> str:
        """Reserve what ``so`` needs at first contact; why it is refused ("" if it is not)."""
        terms: Terms = st.terms  # type: ignore[assignment]
        account: SimAccount = self._account  # type: ignore[assignment]
        problem = terms.leverage_problem(so.order.leverage)
        if problem:
            return problem
        qty = so.qty
        if terms.spot and so.side < 0:
            amount = qty * terms.kb
        else:
            notional, ref = self._reference_cost(st, so, px)
            if terms.spot:
                amount = notional + terms.fee(ref, qty, terms.kf_max) if ref else 0
            else:
                so.leverage = so.order.leverage or terms.default_leverage
                pos = self._position(st)
                opening = qty - (min(qty, abs(pos)) if pos * so.side < 0 else 0)
                amount = terms.margin(ref, opening, so.leverage) + terms.fee(ref, qty, terms.kf_max) if ref else 0
        asset = self._lock_asset(terms, so.side)
        if amount > account.free(asset):
            return f"{INSUFFICIENT} ({asset})"
        so.lock = amount
        account.locked[asset] += amount
        return ""

    def _reference_cost(self, st: _Inst, so: _SimOrder, px: int | None) -> tuple[int, int]:
        """(notional in pay units, the worst price) of ``so`` at its reference price; (0, 0) when
        nothing prices it yet (the fill itself is checked then, see :meth:`_pay`)."""
        terms: Terms = st.terms  # type: ignore[assignment]
        ref = so.price or so.trigger or px
        if ref:
            return terms.notional(ref, so.qty), ref
        left, notional, last = so.qty, 0, 0
        for price, avail in self._replay(st, -so.side):  # the levels a market order would walk
            take = avail if avail < left else left
            notional += terms.notional(price, take)
            left -= take
            last = price
            if not left:
                break
        if left and last:
            notional += terms.notional(last, left)  # beyond the visible depth: at the last visible price
        return notional, last

    @staticmethod
    def _lock_asset(terms: Terms, side: int) -> str:
        return terms.base if terms.spot and side < 0 else terms.pay

    def _pay(self, st: _Inst, so: _SimOrder, price: int, size: int, liquidity: Liquidity, ts: int) -> bool:
        """Settle one fill against the order's reserve; False (order canceled) if it cannot be paid."""
        terms: Terms = st.terms  # type: ignore[assignment]
        account: SimAccount = self._account  # type: ignore[assignment]
        leaves = so.qty - so.filled
        share = so.lock if size >= leaves else so.lock * size // leaves  # the reserve is released pro rata
        kf = terms.kf_maker if liquidity is _MAKER else terms.kf_taker
        asset = self._lock_asset(terms, so.side)
        closing = 0
        if terms.spot:
            debit = size * terms.kb if so.side < 0 else terms.notional(price, size) + terms.fee(price, size, kf)
            added = 0
        else:
            pos = self._position(st)
            closing = min(size, abs(pos)) if pos * so.side < 0 else 0
            added = terms.margin(price, size - closing, so.leverage)
            debit = added + terms.fee(price, size, kf)
        if debit > share and debit - share > account.free(asset):
            self._close(so, ts, _CANCELED, f"{INSUFFICIENT} ({asset})")
            return False
        so.lock -= share
        account.locked[asset] -= share
        if not terms.spot:
            self._book_margin(st, so.side, price, size, closing, added)
        return True

    def _book_margin(self, st: _Inst, side: int, price: int, size: int, closing: int, added: int) -> None:
        """A derivative fill moves position margin (average cost) and the liquidation price."""
        terms: Terms = st.terms  # type: ignore[assignment]
        pos = self._position(st)
        released = cost_out = 0
        if closing:
            q = abs(pos)
            released = st.margin if closing == q else st.margin * closing // q
            cost_out = st.cost if closing == q else st.cost * closing // q
        st.margin += added - released
        st.cost += price * (size - closing) - cost_out
        self._account.locked[terms.pay] += added - released  # type: ignore[union-attr]
        self._arm(st, pos + size * side)

    def _arm(self, st: _Inst, pos: int) -> None:
        """Set the liquidation price of the position ``pos`` (module docstring of backtest.account)."""
        was = st.armed
        st.liq_lo, st.liq_hi = _NEG, _POS
        if pos and st.margin > 0:
            terms: Terms = st.terms  # type: ignore[assignment]
            num, den = MAINTENANCE_FRACTION.as_integer_ratio()
            q = abs(pos)
            loss = st.margin * (den - num)  # the loss (times den) that leaves the maintenance margin
            if terms.inverse:
                self._arm_inverse(st, pos, Decimal(loss) / den)
            elif pos > 0:
                st.liq_lo = (st.cost * terms.kn * den - loss) // (q * terms.kn * den)
            else:
                st.liq_hi = -(-(st.cost * terms.kn * den + loss) // (q * terms.kn * den))
        st.armed = st.liq_lo > _NEG or st.liq_hi < _POS
        self._armed += st.armed - was

    def _arm_inverse(self, st: _Inst, pos: int, loss_units: Decimal) -> None:
        inst = st.instrument
        terms: Terms = st.terms  # type: ignore[assignment]
        q = abs(pos)
        contracts = inst.size_of(q) * inst.multiplier
        inv_avg = Decimal(q) / Decimal(st.cost).scaleb(-inst.price_scale)  # 1 / average price
        loss = loss_units.scaleb(-terms.pay_scale) / contracts
        if pos > 0:  # loss = contracts * (1/mark - 1/avg): liquidated at or below this price
            st.liq_lo = int((1 / (inv_avg + loss)).scaleb(inst.price_scale).to_integral_value(ROUND_FLOOR))
        elif inv_avg > loss:  # loss = contracts * (1/avg - 1/mark): at or above
            st.liq_hi = int((1 / (inv_avg - loss)).scaleb(inst.price_scale).to_integral_value(ROUND_CEILING))

    def _liquidate(self, st: _Inst, price: int, ts: int) -> None:
        """Close the whole position at ``price`` (taker fee); the instrument's orders are canceled."""
        for so in list(st.orders.values()):
            self._close(so, ts, _CANCELED, "liquidation")
        pos = self._position(st)
        side = _SELL if pos > 0 else _BUY
        terms: Terms = st.terms  # type: ignore[assignment]
        self._account.locked[terms.pay] -= st.margin  # type: ignore[union-attr]
        st.margin = st.cost = 0
        self._arm(st, 0)
        st.position -= pos
        self._trades += 1
        reason = (f"liquidation of {st.instrument.size_of(abs(pos))} {st.instrument.key} at "
                  f"{st.instrument.price_of(price)}: margin plus unrealized PnL fell to the maintenance margin")
        self._sink.on_liquidation(st.instrument, side, ts, price, abs(pos), self._fee(st, price, abs(pos), _TAKER),
                                  f"sim-{self._trades}", reason)
        self._settle(st)

    def _liquidate_at_touch(self, st: _Inst, bid: int | None, ask: int | None, ts: int) -> None:
        """Book / quote data: a long is closed at the bid, a short at the ask."""
        if bid is not None and bid <= st.liq_lo:
            self._liquidate(st, bid, ts)
        elif ask is not None and ask >= st.liq_hi:
            self._liquidate(st, ask, ts)

    def _stop_reached(self, st: _Inst, so: _SimOrder, px: int | None) -> bool:
        trigger: int = so.trigger  # type: ignore[assignment]
        # book / quote data: a buy stop triggers when the best ask reaches it, a sell stop on the best bid
        return rules.stop_triggered(so.side, trigger, self._touch_price(st, -so.side) if px is None else px)

    def _takes(self, st: _Inst, side: int, limit: int | None, px: int | None) -> bool:
        """Would an order of ``side`` at ``limit`` (None: market) take liquidity now?"""
        if px is None:
            return rules.crosses(side, limit, self._touch_price(st, -side))
        if limit is None:
            return True
        d = self._through
        # a print / open counts as liquidity at a limit only when it is through it (trade_through)
        return px + d <= limit if side > 0 else px - d >= limit

    def _crosses_own(self, st: _Inst, side: int, limit: int | None) -> bool:
        return rules.crosses(side, limit, st.book.best_ask_raw if side > 0 else st.book.best_bid_raw)

    def _available(self, st: _Inst, side: int, limit: int | None, px: int | None) -> int:
        if px is not None:
            return _POS  # a print / open: no depth known, the whole order fills there
        total = 0
        for price, avail in self._replay(st, -side):
            if limit is not None and (price > limit if side > 0 else price < limit):
                break
            total += avail
        return total

    def _take(self, st: _Inst, so: _SimOrder, limit: int | None, px: int | None, ts: int) -> None:
        """Fill ``so`` as a taker: all of it at ``px``, or walking the replayed book / touch."""
        if px is not None:
            self._fill(so, px, so.qty - so.filled, _TAKER, ts)  # a print / open: the whole order at that price
            return
        buy = so.side > 0
        taken = st.taken_asks if buy else st.taken_bids
        for price, avail in self._replay(st, -so.side):
            if limit is not None and (price > limit if buy else price < limit):
                break  # a limit takes at its price or better only
            want = so.qty - so.filled
            size = avail if avail < want else want  # partial fills level by level
            got = self._fill(so, price, size, _TAKER, ts)
            self._note_taken(st, taken, price, got)  # this liquidity stays taken until the level changes
            if so.done or got < size:
                return

    def _replay(self, st: _Inst, side: int) -> Iterator[tuple[int, int]]:
        """Replayed levels of ``side`` (BUY = bids) best first, as ``(price, size not yet taken by us)``."""
        taken = st.taken_bids if side > 0 else st.taken_asks
        if st.mkt == _BOOK and st.l2 is not None and st.l2.in_sync:
            levels: Iterable[tuple[int, int]] = st.l2.iter_bids() if side > 0 else st.l2.iter_asks()
        elif st.mkt == _QUOTE and st.quote is not None:
            q = st.quote
            # a quote is one level: the touch size limits what we take there
            levels = ((q.bid_raw, q.bid_size_raw),) if side > 0 else ((q.ask_raw, q.ask_size_raw),)
        else:
            return
        for price, size in levels:
            if size <= 0:
                continue
            used = taken.get(price)
            avail = size - used[1] if used is not None and used[0] == size else size
            if avail > 0:
                yield price, avail

    def _touch_price(self, st: _Inst, side: int) -> int | None:
        for price, _ in self._replay(st, side):
            return price
        return None

    def _note_taken(self, st: _Inst, taken: dict[int, tuple[int, int]], price: int, got: int) -> None:
        if not got:
            return
        if st.mkt == _BOOK and st.l2 is not None:
            size = st.l2.size_at(_SELL if taken is st.taken_asks else _BUY, price)
        else:
            q = st.quote
            assert q is not None
            size = q.ask_size_raw if taken is st.taken_asks else q.bid_size_raw
        used = taken.get(price)
        before = used[1] if used is not None and used[0] == size else 0
        if len(taken) > 4096:
            taken.clear()  # stale entries of levels long gone
        taken[price] = (size, before + got)

    def _rest(self, st: _Inst, so: _SimOrder, ts: int) -> None:
        r = st.book.submit(_OWNER, so.side, _LIMIT, so.qty - so.filled, price_raw=so.price, client_id=so.cid, ts=ts)
        so.book_id = r.order_id
        st.by_book_id[r.order_id] = so
        # our own orders can meet each other (self-trade prevention per the config)
        for report in r.reports:
            if type(report) is Match:
                self._own_match(st, report, ts)
            elif report.kind in (EventKind.CANCELED, EventKind.EXPIRED, EventKind.REJECTED):  # type: ignore[union-attr]
                self._book_closed(st, report, ts)  # type: ignore[arg-type]

    def _own_match(self, st: _Inst, m: Match, ts: int) -> None:
        for oid, leaves, liquidity in ((m.maker_order_id, m.maker_leaves_raw, _MAKER),
                                       (m.taker_order_id, m.taker_leaves_raw, _TAKER)):
            so = st.by_book_id.get(oid)
            if so is None:
                continue
            if not leaves:
                del st.by_book_id[oid]
                so.book_id = 0
            if not so.done:
                self._fill(so, m.price_raw, m.size_raw, liquidity, ts)

    def _book_closed(self, st: _Inst, event: OrderEvent, ts: int) -> None:
        so = st.by_book_id.pop(event.order_id, None)
        if so is not None:
            so.book_id = 0
            self._close(so, ts, _CANCELED, event.reason)

    # ---------------------------------------------------------------------------------------
    # resting orders meet the market
    # ---------------------------------------------------------------------------------------
    def _takers_at(self, st: _Inst, px: int, ts: int, arrived_by: int | None) -> None:
        takers, st.takers = st.takers, []
        for so in takers:
            if so.done:
                continue
            if arrived_by is not None and so.arrival > arrived_by:
                st.takers.append(so)  # reached the venue after the bar opened: not part of this bar
                continue
            self._contact(st, so, px, ts)

    def _touch(self, st: _Inst, bid: int | None, ask: int | None, ts: int) -> None:
        """Book / quote update: waiting takers, then resting limits the touch crosses, then stops."""
        if (not st.takers and (ask is None or st.bid_hi < ask < st.bstop_lo)
                and (bid is None or st.sstop_hi < bid < st.ask_lo)):
            return  # the hot path: the touch reaches nothing of ours
        if st.takers:
            takers, st.takers = st.takers, []
            for so in takers:
                if not so.done:
                    self._contact(st, so, None, ts)
            self._remark(st)
        if ask is not None and ask <= st.bid_hi:
            self._cross(st, 1, ts)  # sellers at or below our bid would have met our bid first
        if bid is not None and bid >= st.ask_lo:
            self._cross(st, -1, ts)
        if bid is not None and bid <= st.sstop_hi:
            for view in st.book.pop_triggered_stops(_SELL, bid):  # sell stops trigger on the best bid
                self._triggered(st, view.order_id, None, ts)
        if ask is not None and ask >= st.bstop_lo:
            for view in st.book.pop_triggered_stops(_BUY, ask):  # buy stops trigger on the best ask
                self._triggered(st, view.order_id, None, ts)
        self._settle(st)

    def _cross(self, st: _Inst, side: int, ts: int) -> None:
        """Our resting orders of ``side`` against the replayed opposite levels that reach them."""
        book = st.book
        taken = st.taken_asks if side > 0 else st.taken_bids
        for price, avail in self._replay(st, -side):
            best = book.best_bid_raw if side > 0 else book.best_ask_raw
            if best is None or (price > best if side > 0 else price < best):
                return
            got = 0
            for m in book.sweep(_SELL if side > 0 else _BUY, price, avail, ts):
                got += m.size_raw
                self._maker_fill(st, m, None, ts)  # at our own price: we were resting there
            self._note_taken(st, taken, price, got)

    def _move(self, st: _Inst, direction: int, to: int, through: int, budget: int | None,
              limit_px: int | None, stop_px: int | None, ts: int) -> None:
        """The market moves to ``to`` (direction -1: down, our bids fill and sell stops trigger; +1:
        up). Events happen in the order the move meets them, stops first at one price.

        ``through``: 1 when limits need the price strictly through them. ``budget``: size available
        to our limits (a print's size; None: unlimited). ``limit_px`` / ``stop_px``: the fill price
        of limits / stops (None: their own price / their trigger, as on a continuous path).
        """
        book = st.book
        down = direction < 0
        sweep_side = _SELL if down else _BUY
        stop_side = _SELL if down else _BUY
        while True:
            if down:
                p = book.best_bid_raw
                p_ok = p is not None and p - through >= to  # limits: strictly through them with trade_through
                t = book.next_sell_trigger_raw
                t_ok = t is not None and t >= to  # stops: reaching the trigger is enough
            else:
                p = book.best_ask_raw
                p_ok = p is not None and p + through <= to
                t = book.next_buy_trigger_raw
                t_ok = t is not None and t <= to
            if budget is not None and budget <= 0:
                p_ok = False  # the print's size is used up
            if t_ok and (not p_ok or (t >= p if down else t <= p)):  # type: ignore[operator]
                # stops first at a price: stop before target
                for view in book.pop_triggered_stops(stop_side, t):  # type: ignore[arg-type]
                    self._triggered(st, view.order_id, t if stop_px is None else stop_px, ts)
            elif p_ok:
                for m in book.sweep(sweep_side, p, budget, ts):
                    if budget is not None:
                        budget -= m.size_raw
                    self._maker_fill(st, m, limit_px, ts)
            else:
                return

    def _triggered(self, st: _Inst, book_id: int, px: int | None, ts: int) -> None:
        so = st.by_book_id.pop(book_id, None)
        if so is None or so.done:
            return
        so.book_id = 0
        so.triggered = True
        self._contact(st, so, px, ts)  # enters as a market / limit order now

    def _maker_fill(self, st: _Inst, m: Match, px: int | None, ts: int) -> None:
        so = st.by_book_id.get(m.maker_order_id)
        if so is None:
            return
        if not m.maker_leaves_raw:
            del st.by_book_id[m.maker_order_id]
            so.book_id = 0
        if not so.done:
            self._fill(so, m.price_raw if px is None else px, m.size_raw, _MAKER, ts)

    # ---------------------------------------------------------------------------------------
    # reports
    # ---------------------------------------------------------------------------------------
    def _fill(self, so: _SimOrder, price: int, size: int, liquidity: Liquidity, ts: int) -> int:
        """Report one execution; returns the size filled (a reduce-only order may fill less)."""
        st = so.st
        if so.reduce_only:
            pos = self._position(st)
            room = -pos if so.side > 0 else pos
            if room < size:
                # reduce-only: fill what reduces the position, cancel the rest
                got = self._report_fill(so, price, room, liquidity, ts) if room > 0 else 0
                if not so.done:
                    self._close(so, ts, _CANCELED, "reduce-only: the position is smaller than the order")
                if st.reduce_only:
                    self._check_reduce_only(st, ts)
                return got
        got = self._report_fill(so, price, size, liquidity, ts)
        if st.reduce_only:
            self._check_reduce_only(st, ts)
        return got

    def _report_fill(self, so: _SimOrder, price: int, size: int, liquidity: Liquidity, ts: int) -> int:
        st = so.st
        if st.terms is not None and not self._pay(st, so, price, size, liquidity, ts):
            return 0
        so.filled += size
        st.position += size * so.side
        self._trades += 1
        if so.filled >= so.qty:
            self._forget(so)
        self._sink.on_fill(so.order, ts, price, size, liquidity, self._fee(st, price, size, liquidity),
                           f"sim-{self._trades}")
        return size

    def _fee(self, st: _Inst, price_raw: int, size_raw: int, liquidity: Liquidity) -> Decimal:
        maker = liquidity is _MAKER
        rate = st.maker_fee if maker else st.taker_fee
        if not rate:
            return _ZERO
        if not st.inverse:
            # notional * rate, exact: price_raw * size_raw * (multiplier * rate * 10**-(price + size scale))
            return _CTX.multiply(_Dec(price_raw * size_raw), st.maker_unit if maker else st.taker_unit)
        inst = st.instrument
        qty = _CTX.multiply(inst.size_of(size_raw), inst.multiplier)
        # inverse: notional in the base asset, rounded half-even to 8 decimal places
        notional = _CTX.divide(qty, inst.price_of(price_raw)).quantize(_Q8, rounding=ROUND_HALF_EVEN, context=_CTX)
        return _CTX.multiply(notional, rate)

    def _check_reduce_only(self, st: _Inst, ts: int) -> None:
        """After a fill: reduce-only orders that can no longer reduce the position are canceled."""
        pos = self._position(st)
        for so in list(st.orders.values()):
            if so.reduce_only and not so.done and (pos == 0 or (pos > 0) == (so.side > 0)):
                self._close(so, ts, _CANCELED, "reduce-only order would increase the position")

    def _accept(self, so: _SimOrder) -> None:
        if so.accepted:
            return
        so.accepted = True
        self._order_ids += 1
        self._sink.on_accepted(so.order, so.arrival, f"sim-o{self._order_ids}")

    def _reject(self, so: _SimOrder, reason: str) -> None:
        self._forget(so)
        self._sink.on_rejected(so.order, so.arrival, reason)

    def _close(self, so: _SimOrder, ts: int, how: str, reason: str) -> None:
        if so.done:
            return
        self._forget(so)
        if how == _CANCELED:
            self._sink.on_canceled(so.order, ts, reason)
        else:
            self._sink.on_expired(so.order, ts, reason)

    def _forget(self, so: _SimOrder) -> None:
        st = so.st
        so.done = True  # waiting takers are dropped lazily
        del self._orders[so.cid]
        del st.orders[so.cid]
        if so.reduce_only:
            st.reduce_only -= 1
        if so.book_id:
            st.by_book_id.pop(so.book_id, None)
            st.book.cancel(so.book_id)
            so.book_id = 0
        if so.lock:  # what is left of its reserve is free again
            self._account.locked[self._lock_asset(st.terms, so.side)] -= so.lock  # type: ignore[union-attr,arg-type]
            so.lock = 0

    def _position(self, st: _Inst) -> int:
        return st.position if self._position_of is None else self._position_of(st.instrument)

    # ---------------------------------------------------------------------------------------
    # bookkeeping
    # ---------------------------------------------------------------------------------------
    def _remark(self, st: _Inst) -> None:
        """Recompute the thresholds a market event must reach to need any work."""
        extremes = st.book.extremes()
        if extremes is None:  # nothing rests, no stop waits (market orders only): no market event reaches us
            st.bid_hi = st.sstop_hi = st.down_mark = _NEG
            st.ask_lo = st.bstop_lo = st.up_mark = _POS
        else:
            bid, ask, sell_stop, buy_stop = extremes
            st.bid_hi = bid_hi = _NEG if bid is None else bid
            st.ask_lo = ask_lo = _POS if ask is None else ask
            st.sstop_hi = sstop_hi = _NEG if sell_stop is None else sell_stop
            st.bstop_lo = bstop_lo = _POS if buy_stop is None else buy_stop
            d = self._through
            st.down_mark = max(bid_hi - d, sstop_hi)  # a print at or below this needs work
            st.up_mark = min(ask_lo + d, bstop_lo)  # a print at or above this needs work
        if not st.orders:
            st.takers.clear()

    def _settle(self, st: _Inst, moved: bool = True) -> None:
        """End of a market event: thresholds recomputed if our book ``moved``; is the venue still active?"""
        if moved:
            self._remark(st)
        if not self._orders:
            # no working order: active while commands are in flight or a position can be liquidated
            self.active = bool(self._pending) or bool(self._armed)

    def __repr__(self) -> str:
        return (f"<SimVenue {len(self._insts)} instruments, {len(self._orders)} working orders, "
                f"{len(self._pending)} pending commands, {self._trades} fills>")
