"""The engine core: routes events to strategies, owns orders, portfolio, books, clock and timers.

The core is synchronous. The backtest loop calls it directly (no trio checkpoint per event); the
live runner pumps events from trio memory channels into the same methods. Order commands leave
through an :class:`ExecutionClient` (the simulated venue in a backtest, a gateway task live) after
the :class:`~engine.RiskGate`; execution reports come back through the ``on_*`` sink methods,
which apply the order state machine and the portfolio.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, Protocol

import attrs

from ._clock import Clock, SimClock, TimerQueue
from ._events import Bar, BookDelta, BookSnapshot, Fill, FundingPayment, Liquidity, Quote, Side, Trade, TradingStateChanged
from ._instruments import Instrument
from ._money import to_decimal
from ._orders import (
    _TERMINAL,
    ClientOrderIdFactory,
    InvalidTransition,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    TimeInForce,
    _new_order,
)
from ._portfolio import Portfolio
from ._risk_api import Denial, DenyReason, RiskGate, TradingState
from ._strategy import Context, Strategy

__all__ = ["Engine", "ExecutionClient", "StrategyFailure", "Alarm", "UnknownInstrument", "LIQUIDATION_STRATEGY_ID"]

LIQUIDATION_STRATEGY_ID = "venue"
"Strategy id of the orders a venue creates itself to close a liquidated position."

_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT
_STOP_MARKET, _STOP_LIMIT = OrderType.STOP_MARKET, OrderType.STOP_LIMIT
_SUBMITTED, _ACCEPTED, _DENIED = OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.DENIED
_PARTIALLY_FILLED, _FILLED = OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED
_PENDING_CANCEL, _UNKNOWN = OrderStatus.PENDING_CANCEL, OrderStatus.UNKNOWN

log = logging.getLogger("triotrade.engine")


class UnknownInstrument(KeyError):
    """A strategy asked for an instrument the engine does not know (a ``KeyError``)."""

    def __init__(self, key: str, known: Iterable[str], message: str = "") -> None:
        self.key = key
        self.known = sorted(known)
        super().__init__(message or f"unknown instrument {key!r} (known: {', '.join(self.known) or 'none'})")

    def __str__(self) -> str:
        return str(self.args[0])


class ExecutionClient(Protocol):
    """Where admitted order commands go: the simulated venue, or a live gateway's command lane."""

    def submit(self, order: Order, now_ns: int) -> None: ...

    def cancel(self, order: Order, now_ns: int) -> None: ...


@attrs.frozen
class StrategyFailure:
    """A strategy raised inside a handler and was stopped."""

    strategy_id: str
    ts_ns: int
    handler: str
    error: str
    "``ExceptionType: message at file:line``."
    traceback: str

    def __str__(self) -> str:
        return f"strategy {self.strategy_id} stopped in {self.handler}: {self.error}"


@attrs.frozen
class Alarm:
    """Something that must not happen happened (overfill, fill for an unknown order, ...)."""

    ts_ns: int
    kind: str
    detail: str


class _Slot:
    __slots__ = ("id", "strategy", "ctx", "failed", "wants_order", "wants_fill", "wants_state")

    def __init__(self, sid: str, strategy: Strategy, ctx: Context) -> None:
        self.id = sid
        self.strategy = strategy
        self.ctx = ctx
        self.failed = False
        cls = type(strategy)
        self.wants_order = cls.on_order is not Strategy.on_order
        self.wants_fill = cls.on_fill is not Strategy.on_fill
        self.wants_state = cls.on_trading_state is not Strategy.on_trading_state


_ROUTE_KINDS = ("trades", "quotes", "book", "bars")
_HANDLER_NAME = {"trades": "on_trade", "quotes": "on_quote", "book": "on_book", "bars": "on_bar"}


class Engine:
    """One account's trading state and the strategies acting on it."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        portfolio: Portfolio | None = None,
        risk: RiskGate | None = None,
        id_factory: Callable[[], str] | None = None,
        on_subscribe: Callable[[str, Instrument, dict[str, Any]], None] | None = None,
    ) -> None:
        self.clock: Clock = clock or SimClock()
        self.portfolio = portfolio or Portfolio()
        self.risk = risk
        attach = getattr(risk, "attach", None)
        if attach is not None:  # a gate that changes the trading state announces it through us
            attach(self)
        self.execution: ExecutionClient | None = None
        self.next_client_order_id = id_factory or ClientOrderIdFactory()
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, Any] = {}
        self.timers = TimerQueue()
        self.orders: dict[str, Order] = {}
        self.open_order_ids: dict[str, Order] = {}
        self.external_orders: dict[str, Order] = {}
        "Open orders at a venue that are not this client's and not adopted (venue order id → order):" \
            " never sent, canceled or booked here, but counted by risk (open orders, exposure if filled)."
        self.routes: dict[str, dict[str, list[tuple[_Slot, Callable[[Any], None]]]]] = {k: {} for k in _ROUTE_KINDS}
        self.subscriptions: dict[tuple[str, str], dict[str, Any]] = {}
        self.slots: dict[str, _Slot] = {}
        self.failures: list[StrategyFailure] = []
        self.alarms: list[Alarm] = []
        self.denials: dict[str, int] = {}
        self.fills: list[Fill] = []
        self.keep_fills = True
        self._seen_trade_ids: set[tuple[str, str]] = set()
        self._on_subscribe = on_subscribe
        self.mark_source: Callable[[Instrument], Decimal | None] | None = None
        "Supplies reference prices (mid/mark/last) to risk checks; set by the runner."
        self.order_listeners: list[Callable[[OrderUpdate], None]] = []
        "Extra observers of every order update (journals, status lines)."
        self.fill_listeners: list[Callable[[Fill], None]] = []
        self.funding_listeners: list[Callable[[FundingPayment], None]] = []
        "Observers of every funding payment booked (the journal)."
        self._seen_funding: set[tuple[str, str]] = set()

    # -- setup -----------------------------------------------------------------------------
    def add_instrument(self, instrument: Instrument) -> None:
        self.instruments[instrument.key] = instrument

    def instrument(self, key: str) -> Instrument:
        """Look up ``venue:symbol``, or a bare symbol if exactly one venue lists it."""
        inst = self.instruments.get(key)
        if inst is not None:
            return inst
        matches = [i for i in self.instruments.values() if i.symbol == key]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UnknownInstrument(key, self.instruments, f"symbol {key!r} is on several venues; use one of "
                                    f"{', '.join(m.key for m in matches)}")
        raise UnknownInstrument(key, self.instruments)

    def add_strategy(self, strategy_id: str, factory: Callable[[Context], Strategy]) -> Strategy:
        if strategy_id in self.slots:
            raise ValueError(f"duplicate strategy id {strategy_id!r}")
        ctx = Context(self, strategy_id)
        strategy = factory(ctx)
        self.slots[strategy_id] = _Slot(strategy_id, strategy, ctx)
        return strategy

    def start(self, *, propagate: tuple[type[BaseException], ...] = ()) -> None:
        """Call every strategy's ``on_start``. An exception of a ``propagate`` type is raised to
        the caller (e.g. a backtest's :class:`UnknownInstrument`: a data error, not a strategy bug);
        any other stops that strategy."""
        for slot in list(self.slots.values()):
            try:
                slot.strategy.on_start()
            except propagate:
                raise
            except Exception as exc:
                self.fail_strategy(slot.id, "on_start", exc)

    def stop(self) -> None:
        """Call every running strategy's ``on_stop``."""
        for slot in list(self.slots.values()):
            if not slot.failed:
                self._call(slot, "on_stop", slot.strategy.on_stop)

    # -- subscriptions ---------------------------------------------------------------------
    def subscribe(self, strategy_id: str, kind: str, instrument: Instrument, **opts: Any) -> None:
        slot = self.slots[strategy_id]
        key = instrument.key
        if key not in self.instruments:
            raise UnknownInstrument(key, self.instruments)
        handler = getattr(slot.strategy, _HANDLER_NAME[kind])
        routes = self.routes[kind].setdefault(key, [])
        if all(s is not slot for s, _ in routes):
            routes.append((slot, handler))
        self.subscriptions[(kind, key)] = opts
        if self._on_subscribe is not None:
            self._on_subscribe(kind, instrument, opts)

    def handlers(self, kind: str, key: str) -> list[tuple[_Slot, Callable[[Any], None]]]:
        return self.routes[kind].get(key, [])

    # -- market data in --------------------------------------------------------------------
    def on_trade(self, trade: Trade) -> None:
        for slot, handler in self.routes["trades"].get(trade.instrument.key, ()):
            self._call(slot, "on_trade", handler, trade)

    def on_quote(self, quote: Quote) -> None:
        for slot, handler in self.routes["quotes"].get(quote.instrument.key, ()):
            self._call(slot, "on_quote", handler, quote)

    def on_bar(self, bar: Bar) -> None:
        for slot, handler in self.routes["bars"].get(bar.instrument.key, ()):
            self._call(slot, "on_bar", handler, bar)

    def apply_book(self, event: BookSnapshot | BookDelta) -> Any:
        """Apply a snapshot/delta to the engine's L2 book; returns the book."""
        from ._book import L2Book

        key = event.instrument.key
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = L2Book(event.instrument)
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event)
        else:
            book.apply_delta(event)
        return book

    def on_book(self, event: BookSnapshot | BookDelta) -> None:
        book = self.apply_book(event)
        for slot, handler in self.routes["book"].get(event.instrument.key, ()):
            self._call(slot, "on_book", handler, book)

    def fire_timers(self, now_ns: int) -> None:
        self.timers.fire_due(now_ns)

    # -- handlers, failures ----------------------------------------------------------------
    def _call(self, slot: _Slot, name: str, fn: Callable[..., None], *args: Any) -> None:
        if slot.failed:
            return
        try:
            fn(*args)
        except Exception as exc:  # a strategy bug must not take the process down
            self.fail_strategy(slot.id, name, exc)

    def fail_strategy(self, strategy_id: str, handler: str, exc: BaseException) -> None:
        """Stop a strategy that raised: log it, unroute it, cancel its open orders."""
        slot = self.slots[strategy_id]
        if slot.failed:
            return
        slot.failed = True
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {tb[-1].filename}:{tb[-1].lineno}" if tb else ""
        failure = StrategyFailure(
            strategy_id, self.clock.now_ns(), handler, f"{type(exc).__name__}: {exc}{where}",
            "".join(traceback.format_exception(exc)),
        )
        self.failures.append(failure)
        log.error("strategy %s raised in %s; it is stopped and its orders canceled\n%s",
                  strategy_id, handler, failure.traceback)
        for kind_routes in self.routes.values():
            for key, routes in kind_routes.items():
                kind_routes[key] = [(s, h) for s, h in routes if s is not slot]
        self.timers.cancel_owner(strategy_id)
        for order in list(self.open_order_ids.values()):
            if order.strategy_id == strategy_id:
                self.cancel_order(strategy_id, order, force=True)

    # -- orders out ------------------------------------------------------------------------
    def submit_order(
        self,
        strategy_id: str,
        instrument: Instrument,
        side: Side,
        qty: Decimal,
        *,
        type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        leverage: Decimal | None = None,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
    ) -> Order:
        """Create, round, risk-check and send an order. Never raises for a denial."""
        now = self.clock.now_ns()
        inst = instrument
        problem = ""
        qty_raw = price_raw = trigger_raw = 0
        priced = type is _LIMIT or type is _STOP_LIMIT
        triggered = type is _STOP_MARKET or type is _STOP_LIMIT
        try:
            qty_raw = inst.round_qty_raw(qty)
            if priced:
                if price is None:
                    problem = f"{type.value} order needs a price"
                else:
                    price_raw = inst.round_price_raw(price)
            if triggered:
                if trigger_price is None:
                    problem = f"{type.value} order needs a trigger_price"
                else:
                    trigger_raw = inst.round_price_raw(trigger_price)
        except (ValueError, TypeError) as exc:
            problem = str(exc)
        order = _new_order(  # Order(...), positional
            self.next_client_order_id(), inst, side, type, qty_raw,
            price_raw if priced and price is not None else None,
            trigger_raw if triggered and trigger_price is not None else None,
            time_in_force, post_only, reduce_only, leverage, take_profit, stop_loss, strategy_id, now,
        )
        cid = order.client_order_id
        self.orders[cid] = order
        slot = self.slots.get(strategy_id)
        denial: Denial | None = None
        if slot is not None and slot.failed:
            denial = Denial(DenyReason.STRATEGY_STOPPED, f"strategy {strategy_id} was stopped after an error")
        elif problem:
            denial = Denial(DenyReason.INVALID_PRICE if "price" in problem else DenyReason.INVALID_QTY, problem)
        elif qty_raw <= 0:
            denial = Denial(DenyReason.INVALID_QTY, f"quantity {qty} rounds to {inst.size_of(qty_raw)} on lot {inst.lot_size}")
        elif self.risk is not None:
            denial = self.risk.check_order(order, self)
        if denial is not None:
            self.denials[denial.reason.value] = self.denials.get(denial.reason.value, 0) + 1
            self._emit_order(order.apply(_DENIED, now, str(denial)))
            return order
        self.open_order_ids[cid] = order
        self._emit_order(order.apply(_SUBMITTED, now))
        execution = self.execution
        if execution is None:
            raise RuntimeError("engine has no execution client")
        execution.submit(order, now)
        return order

    def cancel_order(self, strategy_id: str, order: Order, *, force: bool = False) -> None:
        if order.is_terminal or order.status is OrderStatus.PENDING_CANCEL:
            return
        if not force and order.strategy_id != strategy_id:
            raise ValueError(f"order {order.client_order_id} belongs to strategy {order.strategy_id!r}")
        now = self.clock.now_ns()
        if order.status is not OrderStatus.UNKNOWN:
            self._emit_order(order.apply(OrderStatus.PENDING_CANCEL, now))
        assert self.execution is not None
        self.execution.cancel(order, now)

    def cancel_all_orders(self, reason: str = "") -> int:
        """Cancel every open order of every strategy (kill switch). Returns how many were asked."""
        orders = [o for o in self.open_order_ids.values() if not o.is_terminal]
        for order in orders:
            self.cancel_order(order.strategy_id, order, force=True)
        return len(orders)

    def open_orders(self, strategy_id: str | None = None, instrument: Instrument | None = None) -> list[Order]:
        return [o for o in self.open_order_ids.values()
                if (strategy_id is None or o.strategy_id == strategy_id)
                and (instrument is None or o.instrument.key == instrument.key)]

    def set_timer(self, strategy_id: str, name: str, *, interval_s: float | None = None, at_ns: int | None = None) -> None:
        slot = self.slots[strategy_id]
        now = self.clock.now_ns()
        if (interval_s is None) == (at_ns is None):
            raise ValueError("set_timer needs exactly one of interval_s or at_ns")
        interval_ns = 0 if interval_s is None else int(interval_s * 1_000_000_000)
        if interval_s is not None and interval_ns <= 0:
            raise ValueError("interval_s must be positive")
        due = at_ns if at_ns is not None else now + interval_ns

        def fire(timer_name: str, due_ns: int) -> None:
            self._call(slot, "on_timer", slot.strategy.on_timer, timer_name, due_ns)

        self.timers.set(strategy_id, name, due, interval_ns, fire)

    def set_trading_state(self, change: TradingStateChanged) -> None:
        """Announce a trading-state change to every strategy; HALTED cancels all open orders."""
        if change.state == TradingState.HALTED.value:
            self.cancel_all_orders("halted")
        for slot in list(self.slots.values()):
            if slot.wants_state:
                self._call(slot, "on_trading_state", slot.strategy.on_trading_state, change)

    # -- execution reports in (the ExecutionSink) ------------------------------------------
    def _emit_order(self, update: OrderUpdate) -> None:
        order = update[0]
        if update[3] in _TERMINAL:  # update.status.is_terminal
            self.open_order_ids.pop(order.client_order_id, None)
        if self.order_listeners:
            for listener in self.order_listeners:
                listener(update)
        slot = self.slots.get(order.strategy_id)
        if slot is not None and slot.wants_order:
            self._call(slot, "on_order", slot.strategy.on_order, update)

    def _transition(self, order: Order, status: OrderStatus, ts: int, reason: str = "") -> None:
        if order.status is status and status is not _PARTIALLY_FILLED:
            return
        if order.status in _TERMINAL:
            return  # late evidence for a settled order (a cancel-ack after the fill): nothing to move
        try:
            update = order.apply(status, ts, reason)
        except InvalidTransition as exc:
            self._alarm(ts, "invalid_transition", str(exc))
            return
        self._emit_order(update)

    def on_accepted(self, order: Order, ts_ns: int, venue_order_id: str) -> None:
        if venue_order_id:
            order.venue_order_id = venue_order_id
        status = order.status
        if status is _SUBMITTED or status is _UNKNOWN:
            self._emit_order(order.apply(_ACCEPTED, ts_ns))  # always allowed from these two

    def on_rejected(self, order: Order, ts_ns: int, reason: str) -> None:
        self._transition(order, OrderStatus.REJECTED, ts_ns, reason)

    def on_canceled(self, order: Order, ts_ns: int, reason: str = "") -> None:
        self._transition(order, OrderStatus.CANCELED, ts_ns, reason)

    def on_expired(self, order: Order, ts_ns: int, reason: str = "") -> None:
        self._transition(order, OrderStatus.EXPIRED, ts_ns, reason)

    def on_cancel_rejected(self, order: Order, ts_ns: int, reason: str) -> None:
        if order.status is OrderStatus.PENDING_CANCEL:
            back = OrderStatus.PARTIALLY_FILLED if order.filled_raw else OrderStatus.ACCEPTED
            self._transition(order, back, ts_ns, f"cancel rejected: {reason}")

    def on_unknown(self, order: Order, ts_ns: int, reason: str) -> None:
        """A command's outcome is unknown: UNKNOWN until a query reconciles it."""
        self._transition(order, OrderStatus.UNKNOWN, ts_ns, reason)

    def on_fill(self, order: Order, ts_ns: int, price_raw: int, size_raw: int, liquidity: Liquidity,
                fee: Decimal, trade_id: str, fee_asset: str | None = None) -> Fill | None:
        """Book one execution of ``order``; duplicates (same trade id) are ignored."""
        inst = order.instrument
        dedup_key = (inst.key, trade_id)
        seen = self._seen_trade_ids
        if dedup_key in seen:
            return None
        seen.add(dedup_key)
        filled = order.filled_raw + size_raw
        if filled > order.qty_raw:
            self._alarm(ts_ns, "overfill", f"{order.client_order_id}: fill {inst.size_of(size_raw)} on "
                        f"{order.filled_qty} of {order.qty} (trade {trade_id})")
            order.filled_raw = filled
            order.filled_notional_raw += price_raw * size_raw
        else:
            order.add_fill(price_raw, size_raw)
        side = order.side
        fee_asset = fee_asset or inst.settle
        fill = Fill(inst, ts_ns, ts_ns, order.client_order_id, order.venue_order_id, trade_id, side,
                    inst.price_of(price_raw), inst.size_of(size_raw), fee, fee_asset, liquidity, order.strategy_id)
        self.portfolio.apply_fill(inst, side, price_raw, size_raw, fee, fee_asset, ts_ns)
        if self.keep_fills:
            self.fills.append(fill)
        status = order.status
        if status in _TERMINAL:
            pass  # a late fill of a canceled/expired order (polling venues): booked, state kept
        elif order.filled_raw >= order.qty_raw:
            self._transition(order, _FILLED, ts_ns)
        elif status is not _PENDING_CANCEL:
            self._transition(order, _PARTIALLY_FILLED, ts_ns)
        # else: still pending cancel; the fill is booked and announced below
        if self.risk is not None:
            self.risk.on_fill(fill, self)
        if self.fill_listeners:
            for listener in self.fill_listeners:
                listener(fill)
        slot = self.slots.get(order.strategy_id)
        if slot is not None and slot.wants_fill:
            self._call(slot, "on_fill", slot.strategy.on_fill, fill)
        return fill

    @contextlib.contextmanager
    def strategies_unaware(self) -> Iterator[None]:
        """Inside, order updates and fills reach the listeners (journal) but no strategy: for
        settling an earlier run's orders before the strategies have started."""
        slots, self.slots = self.slots, {}
        try:
            yield
        finally:
            self.slots = slots

    def restore_order(self, order: Order) -> None:
        """Take back an order of an earlier run (journal read-back): known by its client id, open
        orders counted by risk; nothing is announced and nothing is sent."""
        self.orders[order.client_order_id] = order
        if order.is_open:
            self.open_order_ids[order.client_order_id] = order

    def restore_fill(self, order: Order, ts_ns: int, price_raw: int, size_raw: int, liquidity: Liquidity,
                     fee: Decimal, trade_id: str, fee_asset: str) -> None:
        """Book a fill of an earlier run into the order and the portfolio without announcing it;
        the same trade delivered again by the venue is then a duplicate."""
        key = (order.instrument.key, trade_id)
        if key in self._seen_trade_ids:
            return
        self._seen_trade_ids.add(key)
        order.filled_raw += size_raw
        order.filled_notional_raw += price_raw * size_raw
        self.portfolio.apply_fill(order.instrument, order.side, price_raw, size_raw, fee, fee_asset, ts_ns)

    def on_funding(self, payment: FundingPayment) -> bool:
        """Book a funding payment into the portfolio once (de-duplicated by instrument and payment
        id) and tell the funding listeners; False for a payment already booked."""
        key = (payment.instrument.key, payment.payment_id)
        if key in self._seen_funding:
            return False
        self._seen_funding.add(key)
        self.portfolio.apply_funding(payment.instrument, payment.asset, payment.amount)
        for listener in self.funding_listeners:
            listener(payment)
        return True

    def restore_funding(self, payment: FundingPayment) -> None:
        """Book a funding payment of an earlier run (journal read-back) without announcing it; the
        same payment delivered again by the venue is then a duplicate."""
        key = (payment.instrument.key, payment.payment_id)
        if key in self._seen_funding:
            return
        self._seen_funding.add(key)
        self.portfolio.apply_funding(payment.instrument, payment.asset, payment.amount)

    def on_liquidation(self, instrument: Instrument, side: Side, ts_ns: int, price_raw: int, size_raw: int,
                       fee: Decimal, trade_id: str, reason: str) -> Fill | None:
        """The venue closed a position (liquidation): booked as a filled venue-initiated market
        order (strategy id ``"venue"``) and raised as an alarm with ``reason``."""
        order = _new_order(self.next_client_order_id(), instrument, side, _MARKET, size_raw, None, None,
                           TimeInForce.IOC, False, True, None, None, None, LIQUIDATION_STRATEGY_ID, ts_ns)
        self.orders[order.client_order_id] = order
        self._emit_order(order.apply(_SUBMITTED, ts_ns, reason))
        self._emit_order(order.apply(_ACCEPTED, ts_ns, reason))
        self._alarm(ts_ns, "liquidation", reason)
        return self.on_fill(order, ts_ns, price_raw, size_raw, Liquidity.TAKER, fee, trade_id)

    def _alarm(self, ts: int, kind: str, detail: str) -> None:
        self.alarms.append(Alarm(ts, kind, detail))
        log.error("ALARM %s: %s", kind, detail)

    # -- reporting helpers -----------------------------------------------------------------
    def all_orders(self) -> Iterable[Order]:
        return self.orders.values()
