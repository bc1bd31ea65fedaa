"""The matching engine: a price-time priority limit order book of one instrument, many owners.

The same engine backs the backtest's simulated venue (our resting orders, in
:mod:`backtest.simvenue`) and the local venue testnets (every account's orders, with an account
layer for balances, positions, reduce-only and fees on top). It knows nothing about money beyond
scaled integers: prices and sizes are the instrument's ``*_raw`` integers. Everything is
deterministic: ids come from counters, there is no clock (callers pass ``ts``) and no randomness.

Rules
-----
The order rules themselves (shape, taking, post-only, FOK / IOC, stops, self-trade prevention)
are stated once in :mod:`backtest.order_rules`; this book applies them to its own orders:

* **Priority.** Best price first; at one price, the order that entered the book first. An order
  loses its place when its price changes, its quantity goes up, or a stop triggers (it enters
  the book as a new order). Lowering the quantity keeps the place.
* **Prices.** A match executes at the resting (maker) order's price.
* **MARKET** walks the opposite side; what the book cannot fill expires (no liquidity → expired).
* **LIMIT** takes what is at its price or better, then rests (GTC) or expires (IOC). **FOK** checks
  the available liquidity first and either fills completely or expires untouched.
* **Post-only** never takes: with :attr:`PostOnlyMode.REJECT` an order that would cross is
  rejected; with :attr:`PostOnlyMode.REPRICE` it is moved one tick behind the opposite touch.
* **Reduce-only** is a flag the book stores and reports; the account layer (which knows
  positions) enforces it.
* **Stops** (STOP_MARKET, STOP_LIMIT) wait off the book and trigger on the last trade price: a buy
  stop when ``last >= trigger``, a sell stop when ``last <= trigger`` (a stop that would trigger
  at once when submitted triggers at once). A triggered stop enters as a market / limit order
  with a new time priority. Stops are checked after every match, queued in the order their
  trigger traded (buys before sells on one print, then by trigger price, then by age), and
  entered one by one once the order being matched is done; their own matches may trigger
  further stops (a cascade), always in that order.
* **Self-trade prevention** (:class:`SelfTradePrevention`) compares owners. The default,
  CANCEL_TAKER, cancels the incoming order's remainder when it would meet its owner's resting
  order: the resting order keeps its place, and the owner never trades with itself. This is the
  most common venue default and the least surprising for a market maker that re-quotes.

Results
-------
Every command returns a :class:`BookResult` whose ``reports`` list, in order, every
:class:`Match` and every :class:`OrderEvent` (accepted, triggered, amended, canceled, expired,
rejected) it caused — including those of other owners' orders (makers filled, stops triggered,
makers canceled by self-trade prevention). An account layer applies them in that order.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right, insort
from collections import deque
from typing import NamedTuple

from engine import Liquidity, Side
from engine import OrderStatus, OrderType, TimeInForce

from . import order_rules as rules
from .order_rules import PostOnlyMode, SelfTradePrevention

__all__ = [
    "SelfTradePrevention",
    "PostOnlyMode",
    "EventKind",
    "OrderEvent",
    "Match",
    "OrderView",
    "BookResult",
    "OrderBook",
]

_ACCEPTED = OrderStatus.ACCEPTED
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELED = OrderStatus.CANCELED
_EXPIRED = OrderStatus.EXPIRED
_REJECTED = OrderStatus.REJECTED
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP_MARKET = OrderType.STOP_MARKET
_STOP_LIMIT = OrderType.STOP_LIMIT
_GTC = TimeInForce.GTC
_FOK = TimeInForce.FOK
_BUY = Side.BUY
_SELL = Side.SELL
_NEW = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot paths only)
_EXPIRE = rules.Remainder.EXPIRE
_BIG = 1 << 62
"Larger than any price or size: the sentinel of 'no stop on this side'."


class EventKind(enum.Enum):
    """A change of an order's state reported by the book."""

    ACCEPTED = "accepted"
    "The order entered the book (resting, or a stop waiting off the book)."
    TRIGGERED = "triggered"
    "A stop triggered; it enters the book now as a market / limit order."
    AMENDED = "amended"
    CANCELED = "canceled"
    EXPIRED = "expired"
    "A market, IOC or FOK order (or its remainder) found no more liquidity."
    REJECTED = "rejected"


class OrderEvent(NamedTuple):
    """One state change of one order."""

    kind: EventKind
    order_id: int
    owner: str
    client_id: str
    ts: int
    leaves_raw: int
    "Quantity still open after the change (the canceled / expired quantity for those kinds)."
    reason: str = ""


class Match(NamedTuple):
    """One execution between a resting (maker) and an incoming (taker) order.

    ``price_raw`` is the maker's price. For an external sweep (:meth:`OrderBook.sweep`) the taker
    is not an order: ``taker_order_id`` is 0 and ``taker_owner`` is empty.
    """

    trade_id: int
    "Counter from 1, per book."
    ts: int
    price_raw: int
    size_raw: int
    taker_side: Side
    maker_order_id: int
    maker_owner: str
    maker_client_id: str
    maker_leaves_raw: int
    "Maker's open quantity after this match (0: filled)."
    taker_order_id: int
    taker_owner: str
    taker_client_id: str
    taker_leaves_raw: int
    "Taker's open quantity after this match."

    @property
    def maker_side(self) -> Side:
        return Side.SELL if self.taker_side > 0 else Side.BUY

    def liquidity_of(self, order_id: int) -> Liquidity:
        """MAKER or TAKER for one of the two orders of this match."""
        if order_id == self.maker_order_id:
            return Liquidity.MAKER
        if order_id == self.taker_order_id:
            return Liquidity.TAKER
        raise ValueError(f"order {order_id} is not part of trade {self.trade_id}")


class OrderView(NamedTuple):
    """A snapshot of one open order (or of a stop just taken off the book)."""

    order_id: int
    owner: str
    client_id: str
    side: Side
    type: OrderType
    qty_raw: int
    leaves_raw: int
    price_raw: int | None
    trigger_raw: int | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    status: OrderStatus
    triggered: bool
    "A stop order that has triggered (it now rests as a limit order, or was taken off the book)."
    ts: int
    "When it entered the book (or was last amended / triggered)."
    priority: int
    "Time priority: lower is older."

    @property
    def filled_raw(self) -> int:
        return self.qty_raw - self.leaves_raw


class BookResult(NamedTuple):
    """What one command did."""

    ok: bool
    "The command was carried out (False: rejected order, unknown order, invalid amend)."
    order_id: int
    "The order the command was about (0 for book-wide commands)."
    status: OrderStatus | None
    "That order's status afterwards (None when it is not known to the book)."
    reason: str
    "Why it was rejected, canceled or expired; empty otherwise."
    reports: tuple[Match | OrderEvent, ...]
    "Every match and order event the command caused, in order."

    @property
    def matches(self) -> list[Match]:
        return [r for r in self.reports if type(r) is Match]

    @property
    def filled_raw(self) -> int:
        """Quantity of :attr:`order_id` executed by this command."""
        oid = self.order_id
        return sum(r.size_raw for r in self.reports
                   if type(r) is Match and (r.taker_order_id == oid or r.maker_order_id == oid))


class _Order:
    __slots__ = ("order_id", "owner", "client_id", "side", "type", "price", "trigger", "qty", "leaves",
                 "tif", "post_only", "reduce_only", "ts", "seq", "live", "status", "reason", "triggered")

    def __init__(self, order_id: int, owner: str, client_id: str, side: Side, type: OrderType,
                 price: int | None, trigger: int | None, qty: int, tif: TimeInForce, post_only: bool,
                 reduce_only: bool, ts: int, seq: int) -> None:
        self.order_id = order_id
        self.owner = owner
        self.client_id = client_id
        self.side = side
        self.type = type
        self.price = price
        self.trigger = trigger
        self.qty = qty
        self.leaves = qty
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.ts = ts
        self.seq = seq
        self.live = False  # in a level's queue (False: canceled/filled entries are skipped lazily)
        self.status = _ACCEPTED
        self.reason = ""
        self.triggered = False

    def copy(self) -> _Order:
        o = _Order(self.order_id, self.owner, self.client_id, self.side, self.type, self.price, self.trigger,
                   self.qty, self.tif, self.post_only, self.reduce_only, self.ts, self.seq)
        o.leaves = self.leaves
        o.status = self.status
        o.triggered = self.triggered
        return o

    def view(self) -> OrderView:
        return OrderView(self.order_id, self.owner, self.client_id, self.side, self.type, self.qty, self.leaves,
                         self.price, self.trigger, self.tif, self.post_only, self.reduce_only, self.status,
                         self.triggered, self.ts, self.seq)


class _Level:
    """Orders at one price, in time priority. Removed orders stay in the deque (``live`` False)
    until they reach the front or the level is compacted: cancel is O(1)."""

    __slots__ = ("orders", "size", "count", "dead")

    def __init__(self) -> None:
        self.orders: deque[_Order] = deque()
        self.size = 0  # open quantity of the live orders
        self.count = 0  # live orders
        self.dead = 0  # removed orders still in the deque


_EV_ACCEPTED = EventKind.ACCEPTED
_EV_CANCELED = EventKind.CANCELED
_EVENT_OF = {_CANCELED: EventKind.CANCELED, _EXPIRED: EventKind.EXPIRED, _REJECTED: EventKind.REJECTED}


class OrderBook:
    """Price-time priority order book of one instrument shared by many owners.

    ``tick_raw`` / ``lot_raw``: prices and quantities must be multiples of them (the instrument's
    tick and lot as scaled integers). ``trigger_stops``: whether this book's own matches move the
    last price that triggers stops (a simulator that drives stops from another price source sets
    it False and calls :meth:`pop_triggered_stops` / :meth:`update_last_price`).
    """

    def __init__(
        self,
        *,
        tick_raw: int = 1,
        lot_raw: int = 1,
        self_trade: SelfTradePrevention = SelfTradePrevention.CANCEL_TAKER,
        post_only: PostOnlyMode = PostOnlyMode.REJECT,
        trigger_stops: bool = True,
    ) -> None:
        if tick_raw <= 0 or lot_raw <= 0:
            raise ValueError("tick_raw and lot_raw must be positive")
        self.tick_raw = tick_raw
        self.lot_raw = lot_raw
        self.self_trade = self_trade
        self.post_only_mode = post_only
        self.trigger_stops = trigger_stops
        self.last_price_raw: int | None = None
        "Price of the last match (or the last :meth:`update_last_price`)."
        self.last_trade_ts = 0
        self._orders: dict[int, _Order] = {}
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_keys: list[int] = []  # prices ascending: best bid last
        self._ask_keys: list[int] = []  # negated prices ascending: best ask last
        self._buy_stops: list[tuple[int, int, _Order]] = []  # (trigger, seq): next to trigger first
        self._sell_stops: list[tuple[int, int, _Order]] = []  # (-trigger, seq): next to trigger first
        self._buy_trig = _BIG  # lowest buy-stop trigger
        self._sell_trig = -_BIG  # highest sell-stop trigger
        self._triggered: deque[_Order] = deque()
        self._next_id = 1
        self._next_trade = 1
        self._seq = 0

    # ---------------------------------------------------------------------------------------
    # commands
    # ---------------------------------------------------------------------------------------
    def submit(
        self,
        owner: str,
        side: Side,
        type: OrderType,
        qty_raw: int,
        *,
        price_raw: int | None = None,
        trigger_raw: int | None = None,
        time_in_force: TimeInForce = _GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        client_id: str = "",
        ts: int = 0,
    ) -> BookResult:
        """Enter a new order; it is matched at once. Invalid input is rejected with a reason."""
        oid = self._next_id
        self._next_id = oid + 1
        if (type is _LIMIT and time_in_force is _GTC and not post_only and trigger_raw is None
                and price_raw is not None and price_raw > 0 and qty_raw > 0 and (side is _BUY or side is _SELL)
                and not price_raw % self.tick_raw and not qty_raw % self.lot_raw):
            # the hot path: a valid plain GTC limit order that does not cross rests at once
            self._seq = seq = self._seq + 1
            o = _Order(oid, owner, client_id, side, type, price_raw, None, qty_raw, _GTC, False, reduce_only, ts, seq)
            if side is _BUY:
                keys = self._ask_keys
                crosses = keys and -keys[-1] <= price_raw
            else:
                keys = self._bid_keys
                crosses = keys and keys[-1] >= price_raw
            if not crosses:
                self._rest(o)
                return _NEW(BookResult, (True, oid, _ACCEPTED, "", (
                    _NEW(OrderEvent, (_EV_ACCEPTED, oid, owner, client_id, ts, qty_raw, "")),)))
        else:
            problem = self._check_new(side, type, qty_raw, price_raw, trigger_raw, time_in_force, post_only)
            if problem:
                return BookResult(False, oid, _REJECTED, problem,
                                  (OrderEvent(EventKind.REJECTED, oid, owner, client_id, ts, 0, problem),))
            if side is not _BUY and side is not _SELL:
                side = Side(side)
            self._seq += 1
            o = _Order(oid, owner, client_id, side, type, price_raw, trigger_raw, qty_raw, time_in_force, post_only,
                       reduce_only, ts, self._seq)
        reports: list[Match | OrderEvent] = []
        if trigger_raw is not None:
            reports.append(OrderEvent(EventKind.ACCEPTED, oid, owner, client_id, ts, qty_raw))
            last = self.last_price_raw
            if self.trigger_stops and rules.stop_triggered(side, trigger_raw, last):
                self._triggered.append(o)
            else:
                self._add_stop(o)
        else:
            self._execute(o, reports, ts, False)
        if self._triggered:
            self._cascade(reports, ts)
        return _NEW(BookResult, (o.status is not _REJECTED, oid, o.status, o.reason, tuple(reports)))

    def cancel(self, order_id: int, ts: int = 0, reason: str = "") -> BookResult:
        """Cancel an open order (resting or a waiting stop)."""
        o = self._orders.get(order_id)
        if o is None:
            return BookResult(False, order_id, None, "order is not open (unknown, filled or closed)", ())
        self._remove(o)
        o.status = _CANCELED
        o.reason = reason
        return _NEW(BookResult, (True, order_id, _CANCELED, reason, (
            _NEW(OrderEvent, (_EV_CANCELED, order_id, o.owner, o.client_id, ts, o.leaves, reason)),)))

    def cancel_all(self, owner: str | None = None, ts: int = 0, reason: str = "") -> BookResult:
        """Cancel every open order (of ``owner`` when given), oldest id first."""
        reports: list[Match | OrderEvent] = []
        for oid in sorted(self._orders):
            o = self._orders[oid]
            if owner is not None and o.owner != owner:
                continue
            self._remove(o)
            o.status = _CANCELED
            reports.append(OrderEvent(EventKind.CANCELED, oid, o.owner, o.client_id, ts, o.leaves, reason))
        return BookResult(True, 0, None, "", tuple(reports))

    def amend(
        self,
        order_id: int,
        *,
        qty_raw: int | None = None,
        price_raw: int | None = None,
        trigger_raw: int | None = None,
        ts: int = 0,
    ) -> BookResult:
        """Change an open order's total quantity, price and/or trigger.

        ``qty_raw`` is the new *total* quantity and must stay above what is already filled. Only a
        lower quantity keeps time priority; a new price, a higher quantity or a new trigger
        re-enter the order (a marketable new price matches at once). An amend that would make a
        post-only order take is refused (REJECT mode) and the order stays as it was.
        """
        o = self._orders.get(order_id)
        if o is None:
            return BookResult(False, order_id, None, "order is not open (unknown, filled or closed)", ())
        problem = self._check_amend(o, qty_raw, price_raw, trigger_raw)
        if problem:
            return BookResult(False, order_id, o.status, problem, ())
        filled = o.qty - o.leaves
        qty = o.qty if qty_raw is None else qty_raw
        price = o.price if price_raw is None else price_raw
        trigger = o.trigger if trigger_raw is None else trigger_raw
        if qty == o.qty and price == o.price and trigger == o.trigger:
            return BookResult(True, order_id, o.status, "", ())
        waiting_stop = o.trigger is not None and not o.triggered
        reports: list[Match | OrderEvent] = []
        if price == o.price and trigger == o.trigger and qty < o.qty:
            # quantity down: keeps its place
            cut = o.qty - qty
            o.qty = qty
            o.leaves -= cut
            if not waiting_stop:
                level = (self._bids if o.side > 0 else self._asks)[o.price]  # type: ignore[index]
                level.size -= cut
            o.ts = ts
            reports.append(OrderEvent(EventKind.AMENDED, order_id, o.owner, o.client_id, ts, o.leaves))
            return BookResult(True, order_id, o.status, "", tuple(reports))
        if o.post_only and not waiting_stop and self.post_only_mode is PostOnlyMode.REJECT and self._crosses(o.side, price):
            return BookResult(False, order_id, o.status, f"{rules.POST_ONLY_TAKES} at the new price", ())
        self._remove(o)
        n = o.copy()
        o.status = _CANCELED  # the old entry is gone for good; ``n`` carries the order on
        n.qty = qty
        n.leaves = qty - filled
        n.price = price
        n.trigger = trigger
        n.ts = ts
        self._seq += 1
        n.seq = self._seq
        reports.append(OrderEvent(EventKind.AMENDED, order_id, n.owner, n.client_id, ts, n.leaves))
        if waiting_stop:
            last = self.last_price_raw
            if self.trigger_stops and rules.stop_triggered(n.side, trigger, last):  # type: ignore[arg-type]
                self._triggered.append(n)
            else:
                self._add_stop(n)
        else:
            self._execute(n, reports, ts, True)
        if self._triggered:
            self._cascade(reports, ts)
        return BookResult(True, order_id, n.status, n.reason, tuple(reports))

    def update_last_price(self, price_raw: int, ts: int = 0) -> BookResult:
        """Set the last trade price from outside the book (e.g. the venue's replayed prints) and
        trigger the stops it reaches, with their cascade."""
        self.last_price_raw = price_raw
        self.last_trade_ts = ts
        self._collect_triggered(price_raw)
        reports: list[Match | OrderEvent] = []
        if self._triggered:
            self._cascade(reports, ts)
        return BookResult(True, 0, None, "", tuple(reports))

    def pop_triggered_stops(self, side: Side, price_raw: int) -> list[OrderView]:
        """Take off the book, and return, the stops of ``side`` that a trade at ``price_raw``
        triggers (buy: trigger <= price; sell: trigger >= price), next-to-trigger first and then
        oldest first. They are not entered: the caller executes them elsewhere (a simulator
        filling stops against replayed market data)."""
        out = []
        for o in self._pop_stops(side, price_raw):
            o.triggered = True
            out.append(o.view())
        return out

    def sweep(self, side: Side, limit_raw: int | None, size_raw: int | None = None, ts: int = 0) -> list[Match]:
        """Match resting orders against external liquidity that is not an order of this book.

        An aggressor of ``side`` (SELL meets the bids) takes, in priority order, resting orders
        priced at ``limit_raw`` or better (None: any price), up to ``size_raw`` (None: all of
        them). No self-trade prevention applies, the last price does not move and no stop
        triggers: a simulator uses this to fill our resting orders from replayed market data.
        """
        if size_raw is None:
            size_raw = self._liquidity(side, limit_raw)
        if size_raw <= 0:
            return []
        taker = _Order(0, "", "", side, _LIMIT, limit_raw, None, size_raw, _GTC, False, False, ts, 0)
        reports: list[Match | OrderEvent] = []
        self._take(taker, limit_raw, reports, ts, True)
        return reports  # type: ignore[return-value]  # external takers only produce matches

    # ---------------------------------------------------------------------------------------
    # queries
    # ---------------------------------------------------------------------------------------
    @property
    def best_bid_raw(self) -> int | None:
        keys = self._bid_keys
        return keys[-1] if keys else None

    @property
    def best_ask_raw(self) -> int | None:
        keys = self._ask_keys
        return -keys[-1] if keys else None

    @property
    def next_buy_trigger_raw(self) -> int | None:
        """Lowest trigger of the waiting buy stops."""
        return self._buy_stops[0][0] if self._buy_stops else None

    @property
    def next_sell_trigger_raw(self) -> int | None:
        """Highest trigger of the waiting sell stops."""
        return -self._sell_stops[0][0] if self._sell_stops else None

    def extremes(self) -> tuple[int | None, int | None, int | None, int | None] | None:
        """``(best bid, best ask, next sell trigger, next buy trigger)`` in one call, or None when
        nothing rests and no stop waits: what a simulator re-reads after every change."""
        bids, asks, sells, buys = self._bid_keys, self._ask_keys, self._sell_stops, self._buy_stops
        if not (bids or asks or sells or buys):
            return None
        return (bids[-1] if bids else None, -asks[-1] if asks else None,
                -sells[0][0] if sells else None, buys[0][0] if buys else None)

    @property
    def order_count(self) -> int:
        """Open orders: resting plus waiting stops."""
        return len(self._orders)

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def get(self, order_id: int) -> OrderView | None:
        """The open order ``order_id``, or None."""
        o = self._orders.get(order_id)
        return None if o is None else o.view()

    def open_orders(self, owner: str | None = None) -> list[OrderView]:
        """Open orders (of ``owner`` when given), by order id."""
        return [o.view() for oid, o in sorted(self._orders.items()) if owner is None or o.owner == owner]

    def bids(self, n: int | None = None) -> list[tuple[int, int]]:
        """Aggregated bid levels ``(price_raw, size_raw)``, best first (``n`` levels, or all)."""
        keys = self._bid_keys[::-1] if n is None else self._bid_keys[:-n - 1:-1] if n > 0 else []
        return [(p, self._bids[p].size) for p in keys]

    def asks(self, n: int | None = None) -> list[tuple[int, int]]:
        """Aggregated ask levels ``(price_raw, size_raw)``, best first (``n`` levels, or all)."""
        keys = self._ask_keys[::-1] if n is None else self._ask_keys[:-n - 1:-1] if n > 0 else []
        return [(-k, self._asks[-k].size) for k in keys]

    def depth(self, n: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, asks)`` as :meth:`bids` and :meth:`asks`."""
        return self.bids(n), self.asks(n)

    def queue(self, side: Side, price_raw: int) -> list[OrderView]:
        """The open orders resting at one price, in time priority."""
        level = (self._bids if side > 0 else self._asks).get(price_raw)
        return [] if level is None else [o.view() for o in level.orders if o.live]

    # ---------------------------------------------------------------------------------------
    # internals
    # ---------------------------------------------------------------------------------------
    def _check_new(self, side: Side, type: OrderType, qty: int, price: int | None, trigger: int | None,
                   tif: TimeInForce, post_only: bool) -> str:
        refusal = rules.check_order(side, type, qty, price, trigger, tif, post_only, tick=self.tick_raw,
                                    lot=self.lot_raw)
        return "" if refusal is None else refusal.text()

    def _check_amend(self, o: _Order, qty: int | None, price: int | None, trigger: int | None) -> str:
        if qty is not None:
            if qty <= 0 or qty % self.lot_raw:
                return f"quantity {qty} must be a positive multiple of the lot {self.lot_raw}"
            if qty <= o.qty - o.leaves:
                return "new quantity must be above the quantity already filled"
        if price is not None:
            if o.price is None:
                return "the order has no price to amend"
            if price <= 0 or price % self.tick_raw:
                return f"price {price} must be a positive multiple of the tick {self.tick_raw}"
        if trigger is not None:
            if o.trigger is None or o.triggered:
                return "the order has no waiting trigger to amend"
            if trigger <= 0 or trigger % self.tick_raw:
                return f"trigger {trigger} must be a positive multiple of the tick {self.tick_raw}"
        return ""

    def _crosses(self, side: Side, price: int | None) -> bool:
        """Would an order of ``side`` at ``price`` (None: market) meet the opposite best price?"""
        return rules.crosses(side, price, self.best_ask_raw if side > 0 else self.best_bid_raw)

    def _execute(self, o: _Order, reports: list[Match | OrderEvent], ts: int, entered: bool) -> None:
        """Match a new (or re-entering: ``entered``) market/limit order, then rest or expire it."""
        limit = o.price
        crosses = self._crosses(o.side, limit)
        if o.post_only and crosses:
            if self.post_only_mode is PostOnlyMode.REJECT:
                self._end(o, _CANCELED if entered else _REJECTED, rules.POST_ONLY_TAKES, reports, ts)
                return
            # REPRICE: one tick behind the opposite touch, the best price that does not take
            limit = rules.post_only_price(o.side, -self._ask_keys[-1] if o.side > 0 else self._bid_keys[-1],
                                          self.tick_raw)
            if limit is None:
                self._end(o, _CANCELED if entered else _REJECTED, rules.POST_ONLY_NO_PRICE, reports, ts)
                return
            o.price = limit
            crosses = False
        if not entered:
            reports.append(_NEW(OrderEvent, (_EV_ACCEPTED, o.order_id, o.owner, o.client_id, ts, o.leaves, "")))
        if o.tif is _FOK and not rules.fok_fills(crosses, self._available(o, limit) if crosses else 0, o.leaves):
            self._end(o, _EXPIRED, rules.FOK_UNFILLED, reports, ts)
            return
        if crosses:
            self._take(o, limit, reports, ts, False)
            if o.status is _CANCELED:  # self-trade prevention canceled the taker
                return
        if not o.leaves:
            o.status = _FILLED
            return
        what, reason = rules.remainder(limit, o.tif)
        if what is _EXPIRE:
            self._end(o, _EXPIRED, reason, reports, ts)
        else:
            o.status = _PARTIAL if o.leaves < o.qty else _ACCEPTED
            self._rest(o)

    def _end(self, o: _Order, status: OrderStatus, reason: str, reports: list[Match | OrderEvent], ts: int) -> None:
        o.status = status
        o.reason = reason
        reports.append(_NEW(OrderEvent, (_EVENT_OF[status], o.order_id, o.owner, o.client_id, ts, o.leaves, reason)))

    def _available(self, o: _Order, limit: int | None) -> int:
        """Quantity ``o`` could take now up to ``limit``, honouring self-trade prevention."""
        need = o.leaves
        buy = o.side > 0
        keys, levels = (self._ask_keys, self._asks) if buy else (self._bid_keys, self._bids)
        stp = self.self_trade
        total = 0
        for key in reversed(keys):
            price = -key if buy else key
            if limit is not None and (price > limit if buy else price < limit):
                break
            level = levels[price]
            if stp is SelfTradePrevention.NONE:
                total += level.size
            else:
                for m in level.orders:
                    if not m.live:
                        continue
                    if m.owner == o.owner:
                        if rules.self_trade_cancels(stp)[1]:
                            return total  # the taker would be canceled here
                        continue  # the maker would be canceled and skipped
                    total += m.leaves
                    if total >= need:
                        return total
            if total >= need:
                return total
        return total

    def _liquidity(self, side: Side, limit: int | None) -> int:
        buy = side > 0
        keys, levels = (self._ask_keys, self._asks) if buy else (self._bid_keys, self._bids)
        total = 0
        for key in reversed(keys):
            price = -key if buy else key
            if limit is not None and (price > limit if buy else price < limit):
                break
            total += levels[price].size
        return total

    def _take(self, o: _Order, limit: int | None, reports: list[Match | OrderEvent], ts: int, external: bool) -> None:
        """Match ``o`` against the opposite side up to ``limit`` (None: any price)."""
        buy = o.side > 0
        if buy:
            levels, keys = self._asks, self._ask_keys
        else:
            levels, keys = self._bids, self._bid_keys
        stp = self.self_trade
        cancel_maker, cancel_taker = rules.self_trade_cancels(stp)
        check_owner = stp is not SelfTradePrevention.NONE and not external
        auto = self.trigger_stops and not external
        owner = o.owner
        orders = self._orders
        side = o.side
        last = None
        while o.leaves and keys:
            price = -keys[-1] if buy else keys[-1]
            if limit is not None and (price > limit if buy else price < limit):
                break
            level = levels[price]
            q = level.orders
            while o.leaves and level.count:
                m = q[0]
                if not m.live:
                    q.popleft()
                    level.dead -= 1
                    continue
                if check_owner and m.owner == owner:
                    if cancel_maker:
                        q.popleft()
                        level.count -= 1
                        level.size -= m.leaves
                        m.live = False
                        del orders[m.order_id]
                        self._end(m, _CANCELED, rules.SELF_TRADE, reports, ts)
                    if cancel_taker:
                        self._end(o, _CANCELED, rules.SELF_TRADE, reports, ts)
                        break
                    continue
                size = o.leaves if o.leaves < m.leaves else m.leaves
                m.leaves -= size
                o.leaves -= size
                level.size -= size
                if m.leaves:
                    m.status = _PARTIAL
                else:
                    q.popleft()
                    level.count -= 1
                    m.live = False
                    m.status = _FILLED
                    del orders[m.order_id]
                tid = self._next_trade
                self._next_trade = tid + 1
                reports.append(_NEW(Match, (tid, ts, price, size, side, m.order_id, m.owner, m.client_id, m.leaves,
                                            o.order_id, owner, o.client_id, o.leaves)))
                last = price
                if auto and (price >= self._buy_trig or price <= self._sell_trig):
                    self._collect_triggered(price)
            if not level.count:
                del levels[price]
                keys.pop()
            if o.status is _CANCELED:
                break
        if last is not None and not external:
            self.last_price_raw = last
            self.last_trade_ts = ts

    def _rest(self, o: _Order) -> None:
        price: int = o.price  # type: ignore[assignment]
        if o.side > 0:
            levels, keys, key = self._bids, self._bid_keys, price
        else:
            levels, keys, key = self._asks, self._ask_keys, -price
        level = levels.get(price)
        if level is None:
            level = levels[price] = _Level()
            insort(keys, key)
        level.orders.append(o)
        level.size += o.leaves
        level.count += 1
        o.live = True
        self._orders[o.order_id] = o

    def _remove(self, o: _Order) -> None:
        """Take an open order out of the book (its level, or the waiting stops)."""
        del self._orders[o.order_id]
        if not o.live:
            self._remove_stop(o)
            return
        o.live = False
        price: int = o.price  # type: ignore[assignment]
        if o.side > 0:
            levels, keys, key = self._bids, self._bid_keys, price
        else:
            levels, keys, key = self._asks, self._ask_keys, -price
        level = levels[price]
        level.count -= 1
        level.size -= o.leaves
        if not level.count:
            del levels[price]
            del keys[bisect_left(keys, key)]
            return
        level.dead += 1
        if level.dead > 32 and level.dead > level.count:
            level.orders = deque(m for m in level.orders if m.live)
            level.dead = 0

    def _add_stop(self, o: _Order) -> None:
        trigger: int = o.trigger  # type: ignore[assignment]
        if o.side > 0:
            insort(self._buy_stops, (trigger, o.seq, o))  # seq is unique: the order itself is never compared
            self._buy_trig = self._buy_stops[0][0]
        else:
            insort(self._sell_stops, (-trigger, o.seq, o))
            self._sell_trig = -self._sell_stops[0][0]
        self._orders[o.order_id] = o

    def _remove_stop(self, o: _Order) -> None:
        trigger: int = o.trigger  # type: ignore[assignment]
        if o.side > 0:
            stops, key = self._buy_stops, trigger
        else:
            stops, key = self._sell_stops, -trigger
        i = bisect_left(stops, (key, o.seq))
        if i < len(stops) and stops[i][2] is o:
            del stops[i]
        self._update_triggers()

    def _update_triggers(self) -> None:
        self._buy_trig = self._buy_stops[0][0] if self._buy_stops else _BIG
        self._sell_trig = -self._sell_stops[0][0] if self._sell_stops else -_BIG

    def _pop_stops(self, side: Side, price: int) -> list[_Order]:
        if side > 0:
            stops, key = self._buy_stops, price
        else:
            stops, key = self._sell_stops, -price
        if not stops or stops[0][0] > key:
            return []
        k = bisect_right(stops, (key, _BIG))
        out = [entry[2] for entry in stops[:k]]
        del stops[:k]
        for o in out:
            del self._orders[o.order_id]
        self._update_triggers()
        return out

    def _collect_triggered(self, price: int) -> None:
        if price >= self._buy_trig:
            self._triggered.extend(self._pop_stops(Side.BUY, price))
        if price <= self._sell_trig:
            self._triggered.extend(self._pop_stops(Side.SELL, price))

    def _cascade(self, reports: list[Match | OrderEvent], ts: int) -> None:
        """Enter triggered stops one by one, in trigger order, including those they trigger."""
        queue = self._triggered
        while queue:
            s = queue.popleft()
            s.triggered = True
            self._seq += 1
            s.seq = self._seq
            s.ts = ts
            reports.append(OrderEvent(EventKind.TRIGGERED, s.order_id, s.owner, s.client_id, ts, s.leaves))
            self._execute(s, reports, ts, True)

    def __repr__(self) -> str:
        return (f"<OrderBook bid {self.best_bid_raw} ask {self.best_ask_raw} orders {len(self._orders)} "
                f"last {self.last_price_raw}>")
