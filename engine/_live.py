"""The live runner: gateways, the engine and its strategies in one trio nursery.

Data flow: each gateway's reader puts events into :class:`~engine._channels.EventLanes`; the
*pump* task feeds them into the synchronous engine core (the same methods the backtester calls);
order commands the engine admits go to a per-venue *command lane*, where a worker awaits the
gateway and applies the outcome policy:

* an :class:`~engine.OrderReport` is applied to the order;
* :class:`~engine.VenueRejected` rejects it (definite evidence);
* :class:`~engine.OutcomeUnknown` (timeout, 5xx, 429, garbled answer) marks it UNKNOWN and
  the *reconciler* queries the venue until it knows — the command is never resent;
* :class:`~engine.RiskDenied` raised at send time (rate limit, recvWindow) denies it: nothing left.

Periodically (and at start-up) the runner lists each venue's open orders (others' orders are
adopted, canceled or left alone per ``external_orders``, and always counted by risk) and compares
positions and balances with the portfolio (a difference seen twice is an alarm, then the venue's
figure is taken). A venue that answers nothing for ``stale_after_s`` is reported stale, never
assumed to have failed an order, and reconciled as soon as it is heard from again.

In paper mode the execution client is the simulated venue fed by live market data, so fills are
simulated by the same matching engine as in backtests.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import trio

from ._channels import EventLanes
from ._clock import LiveClock
from ._core import LIQUIDATION_STRATEGY_ID, Engine
from ._errors import AuthFailed, OutcomeUnknown, RateLimited, RiskDenied, TriotradeError, VenueError, VenueRejected
from ._events import (
    BalanceUpdate,
    Bar,
    BookDelta,
    BookSnapshot,
    Fill,
    FundingPayment,
    InstrumentUpdate,
    PositionUpdate,
    Quote,
    Side,
    Trade,
    VenueState,
    VenueStatus,
)
from ._gateway import DataKind, Gateway, OrderReport, Unsupported
from ._orders import Order, OrderStatus, OrderType

__all__ = ["LiveSettings", "LiveExecution", "LiveRunner", "EquitySample", "StartupFailed", "StatusLog", "apply_report",
           "fills_outstanding", "plain_error", "external_order", "EXTERNAL_STRATEGY", "EXTERNAL_POLICIES"]

log = logging.getLogger("triotrade.live")

_TRADE_LOOKBACK_MS = 120_000
"How far before an order's creation its fills are looked for in a venue's trade listing (clock skew)."
_MAX_SUSPECT_QUERIES = 8
"Queries of an order whose reported fills are not booked before it is given up with an alarm."

EXTERNAL_STRATEGY = "external"
"The strategy id of adopted external orders (no strategy hears of them; risk and the books do)."
EXTERNAL_POLICIES = ("adopt", "cancel", "leave")
"What ``external_orders`` may say."


@attrs.frozen
class LiveSettings:
    cancel_on_exit: bool = True
    "Cancel every open order on shutdown."
    shutdown_grace_s: float = 5.0
    "How long cancels and final reconciliation may take before the nursery is canceled."
    reconcile_interval_s: float = 0.25
    "First wait before querying an UNKNOWN (or suspect) order; doubles up to ``reconcile_max_interval_s``."
    reconcile_max_interval_s: float = 2.0
    "Longest wait between two queries of an order whose outcome is not known yet."
    status_interval_s: float = 10.0
    "Period of the status summary (0 disables it)."
    open_orders_interval_s: float = 30.0
    "Period of the open-order reconciliation with each venue (0 disables it; it also runs at start-up)."
    conflate_above: int = 1_000
    conflate_trades: bool = False
    startup_timeout_s: float | None = 60.0
    "How long the venues may take to come up (connect, load instruments) before the run fails; None: no bound."
    currency: str = "USD"
    "The account currency equity is sampled in."
    equity_interval_s: float = 1.0
    "Period of the equity samples the run's report is drawn from."
    external_orders: str = "leave"
    "What to do with a venue's open orders that are not ours: ``adopt``, ``cancel`` or ``leave`` (always counted by risk)."
    external_orders_by_venue: Mapping[str, str] = attrs.Factory(dict)
    "Per-venue override of ``external_orders`` (venue name → policy)."
    stale_after_s: float = 30.0
    "A venue that answered nothing (no request, no stream event) for this long is reported stale (0: never; live mode only)."


@attrs.frozen(slots=True)
class EquitySample:
    """The account at one moment of a live or paper run, in the account currency."""

    ts_ns: int
    equity: Decimal
    gross_exposure: Decimal


class StartupFailed(TriotradeError):
    """A venue did not come up within the start-up deadline (the message names it and the last cause)."""


def plain_error(exc: BaseException) -> BaseException:
    """The one error behind ``exc``: an exception group whose leaves are one error (plus
    cancellations) becomes that error; anything else is returned unchanged."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = _leaves(exc)
    meaningful = [e for e in leaves if not isinstance(e, trio.Cancelled)]
    if len(meaningful) == 1:
        return meaningful[0]
    return exc


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out


class StatusLog:
    """The sink a gateway writes to, logging its :class:`~engine.VenueStatus` events at once.

    Connection trouble (start-up retries, reconnects) is logged when it happens, even while the
    engine is not pumping events yet (during start-up); the last status of each venue is kept so
    that a start-up failure can say what was wrong. Everything is forwarded to ``sink``.
    """

    def __init__(self, sink: Any, on_heard: Callable[[str], None] | None = None) -> None:
        self._sink = sink
        self._on_heard = on_heard
        "Told the venue's name on every sign of life (market data, executions, CONNECTED)."
        self.last_status: dict[str, str] = {}
        "Venue → detail of its most recent status."

    def send_market(self, event: Any) -> None:
        """Log a venue status; forward every event."""
        if type(event) is VenueStatus:
            level = logging.INFO if event.state is VenueState.CONNECTED else logging.WARNING
            log.log(level, "%s: %s: %s", event.venue, event.state.value, event.detail)
            self.last_status[event.venue] = event.detail
            if self._on_heard is not None and event.state is VenueState.CONNECTED:
                self._on_heard(event.venue)
        elif self._on_heard is not None:
            instrument = getattr(event, "instrument", None)
            if instrument is not None:
                self._on_heard(instrument.venue)
        self._sink.send_market(event)

    def send_execution(self, event: Any) -> None:
        """Forward order reports, fills, balances and positions unchanged."""
        if self._on_heard is not None:
            instrument = getattr(event, "instrument", None)
            venue = instrument.venue if instrument is not None else getattr(event, "venue", None)
            if venue:
                self._on_heard(venue)
        self._sink.send_execution(event)


class LiveExecution:
    """The engine's execution client live: commands queue per venue, workers await gateways."""

    def __init__(self, venues: Sequence[str]) -> None:
        self._send: dict[str, trio.MemorySendChannel[tuple[str, Order]]] = {}
        self.receive: dict[str, trio.MemoryReceiveChannel[tuple[str, Order]]] = {}
        for venue in venues:
            send, receive = trio.open_memory_channel[tuple[str, Order]](math.inf)  # commands never drop
            self._send[venue] = send
            self.receive[venue] = receive

    def submit(self, order: Order, now_ns: int) -> None:
        self._send[order.instrument.venue].send_nowait(("submit", order))

    def cancel(self, order: Order, now_ns: int) -> None:
        self._send[order.instrument.venue].send_nowait(("cancel", order))


def external_order(report: OrderReport, instrument: Any) -> Order:
    """An order of another client, as the venue lists it, in our terms (strategy :data:`EXTERNAL_STRATEGY`).

    Side and quantity come from the listing where the venue gives them; without them the order
    counts as one open order adding nothing to a position.
    """
    inst = instrument
    known = report.side is not None and report.qty is not None
    side = report.side if report.side is not None else Side.BUY
    qty_raw = inst.size_raw(report.qty) if known and report.qty is not None else 0
    order = Order(report.client_order_id or f"ext-{report.venue_order_id}", inst, side,
                  OrderType.LIMIT if report.price is not None else OrderType.MARKET, qty_raw,
                  price_raw=None if report.price is None else inst.price_raw(report.price),
                  strategy_id=EXTERNAL_STRATEGY, ts_init=report.ts_recv)
    order.venue_order_id = report.venue_order_id
    filled_raw = inst.size_raw(report.filled_qty) if report.filled_qty is not None else 0
    order.filled_raw = min(filled_raw, qty_raw) if qty_raw else 0
    order.status = OrderStatus.PARTIALLY_FILLED if order.filled_raw else OrderStatus.ACCEPTED
    order.ts_last = report.ts_recv
    return order


def apply_report(engine: Engine, report: OrderReport) -> Order | None:
    """Apply a venue's statement about an order to the engine's order (None if we do not know it).

    Venue evidence is accepted in any order: fills are booked whatever state the order is in
    (deduplicated by trade id); a status that the order has already passed (an ack after a fill,
    a cancel-ack after the order filled, a repeated terminal answer) changes nothing and raises
    no alarm. FILLED / PARTIALLY_FILLED follow from fills, never from a status alone: see
    :func:`fills_outstanding` for a report that says more was filled than is booked.
    """
    order = engine.orders.get(report.client_order_id)
    if order is None and report.venue_order_id:
        order = next((o for o in engine.orders.values() if o.venue_order_id == report.venue_order_id), None)
    if order is None:
        log.warning("report for an order this session does not know: %s %s", report.client_order_id,
                    report.venue_order_id)
        return None
    if report.venue_order_id and not order.venue_order_id:
        order.venue_order_id = report.venue_order_id
    ts = report.ts_recv
    for fill in report.fills:
        apply_fill(engine, fill, order)
    if order.is_terminal:
        return order  # stale or repeated evidence: the fills above were all it could add
    status = report.status
    if status in _ENDED and report.filled_qty is not None and \
            order.instrument.size_raw(report.filled_qty) >= order.qty_raw:
        status = OrderStatus.FILLED  # "canceled" after it filled completely: it filled
    if status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
        if order.status in (OrderStatus.SUBMITTED, OrderStatus.UNKNOWN):
            engine.on_accepted(order, ts, report.venue_order_id)
    elif status is OrderStatus.CANCELED:
        engine.on_canceled(order, ts, report.reason)
    elif status is OrderStatus.EXPIRED:
        engine.on_expired(order, ts, report.reason)
    elif status is OrderStatus.REJECTED:
        engine.on_rejected(order, ts, report.reason)
    return order


_ENDED = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED})


def fills_outstanding(order: Order, report: OrderReport) -> bool:
    """True if ``report`` says the venue executed more of ``order`` than the engine has booked."""
    if report.filled_qty is None:
        return report.status is OrderStatus.FILLED and order.filled_raw < order.qty_raw
    return order.instrument.size_raw(report.filled_qty) > order.filled_raw


def _throttled(exc: BaseException) -> bool:
    """True if ``exc`` is, or was raised from, the venue's rate limit (a 429 on a command is an
    unknown outcome whose cause is :class:`~engine.RateLimited`)."""
    return isinstance(exc, RateLimited) or isinstance(exc.__cause__, RateLimited)


def apply_fill(engine: Engine, fill: Fill, order: Order | None = None) -> None:
    """Book a venue fill on its order (found by client or venue order id)."""
    if order is None:
        order = engine.orders.get(fill.client_order_id)
        if order is None and fill.venue_order_id:
            order = next((o for o in engine.orders.values() if o.venue_order_id == fill.venue_order_id), None)
    if order is None and fill.strategy_id == LIQUIDATION_STRATEGY_ID:  # the venue closed a position itself
        inst = fill.instrument
        engine.on_liquidation(inst, fill.side, fill.ts_event, inst.price_raw(fill.price), inst.size_raw(fill.qty),
                              fill.fee, fill.trade_id, f"{inst.venue} closed a position itself ({fill.venue_order_id})")
        return
    if order is None:
        engine._alarm(fill.ts_recv, "unknown_fill", f"fill {fill.trade_id} for an order this session does not know "
                      f"({fill.venue_order_id}); position may differ from the venue's")
        return
    if fill.venue_order_id and not order.venue_order_id:
        order.venue_order_id = fill.venue_order_id  # a fill may be the first to name it (after UNKNOWN)
    inst = fill.instrument
    engine.on_fill(order, fill.ts_event, inst.price_raw(fill.price), inst.size_raw(fill.qty), fill.liquidity,
                   fill.fee, fill.trade_id, fill.fee_asset)


class LiveRunner:
    """Hosts gateways, the engine pump, command workers, the reconciler and the status task."""

    def __init__(self, engine: Engine, gateways: Mapping[str, Gateway], settings: LiveSettings = LiveSettings(),
                 *, paper_venue_factory: Callable[[Engine], Any] | None = None,
                 status_out: Callable[[str], None] | None = None,
                 restore: Callable[[Engine], Sequence[Order]] | None = None,
                 journal: Any = None) -> None:
        self.engine = engine
        self.gateways = dict(gateways)
        self.settings = settings
        self.lanes = EventLanes(conflate_above=settings.conflate_above, conflate_trades=settings.conflate_trades)
        self.status_log = StatusLog(self.lanes, self._heard)
        "What the gateways write to: the lanes, with venue status logged as it happens."
        self.up = False
        "True once every gateway has started (connected and loaded its instruments)."
        self.equity_samples: list[EquitySample] = []
        "Account value over the run, one sample per ``settings.equity_interval_s`` plus one at each end."
        self.events_processed = 0
        "Market and execution events the engine has been fed."
        self.started_ns = 0
        "Wall-clock time the strategies started (0: never)."
        self._paper_factory = paper_venue_factory
        self._restore = restore
        "Books an earlier run's orders and fills (the journal) once instruments are known; returns the open ones."
        self.journal = journal
        "The order journal (:class:`~engine._journal.OrderJournal`): fed every order change and fill, flushed before each command is sent."
        if journal is not None:
            engine.order_listeners.append(journal.on_update)
            engine.fill_listeners.append(journal.on_fill)
            engine.funding_listeners.append(journal.on_funding)
        self.paper_venue: Any = None
        "Paper mode: the simulated venue (built once the gateways have loaded instruments)."
        self.execution = LiveExecution(list(self.gateways))
        engine.execution = self.execution
        self.venue_positions: dict[str, PositionUpdate] = {}
        self._unknown_wakeup = trio.Event()
        self._suspects: dict[str, Order] = {}
        "Orders to ask the venue about although not UNKNOWN: a refused cancel, fills the venue reported but we lack."
        self._suspect_queries: dict[str, int] = {}
        self.external_orders: dict[str, OrderReport] = {}
        "Open orders at the venues that are not this client's (venue order id → the venue's report)."
        self._pending_subscriptions: list[tuple[str, Any, dict[str, Any]]] = []
        self._status_out = status_out or (lambda line: log.warning("%s", line))
        self._order_locks: dict[str, trio.Lock] = {}
        self._started = False
        engine._on_subscribe = self._on_subscribe
        self.last_prices: dict[str, Decimal] = {}
        engine.mark_source = lambda inst: self.last_prices.get(inst.key)
        self._heard_at: dict[str, float] = {}
        "Venue → trio time it last answered or streamed anything."
        self._heard_ns: dict[str, int] = {}
        "Venue → wall-clock time of the same."
        self.stale_since: dict[str, int] = {}
        "Venues that answer nothing: venue → wall-clock time (ns) they were last heard from."
        self._probing: set[str] = set()
        self._resync_wakeup = trio.Event()
        self._account_diffs: dict[tuple[str, str, str], Decimal] = {}
        "Differences with the venue's account seen once (kind, venue, key) → the venue's figure; a second sighting corrects."

    # -- subscriptions (strategies subscribe synchronously; gateways subscribe async) -------
    def _on_subscribe(self, kind: str, instrument: Any, opts: dict[str, Any]) -> None:
        self._pending_subscriptions.append((kind, instrument, opts))
        if self._started:
            self._sub_send.send_nowait(None)

    async def _subscriber(self) -> None:
        async for _ in self._sub_receive:
            while self._pending_subscriptions:
                kind, instrument, opts = self._pending_subscriptions.pop(0)
                gateway = self.gateways[instrument.venue]
                kw = {}
                if kind == "bars":
                    kw["interval_s"] = int(opts.get("interval_s", 60))
                if kind == "book":
                    kw["depth"] = int(opts.get("depth", 10))
                await gateway.subscribe(DataKind(kind), instrument, **kw)

    # -- the nursery -----------------------------------------------------------------------
    async def run(self, shutdown: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until ``shutdown`` is set, then shut down in order (see :meth:`_shutdown`).

        ``shutdown`` set while the venues are still coming up stops at once (``task_status``
        then never reports started). A venue not up within ``settings.startup_timeout_s`` raises
        :class:`StartupFailed`; a venue's definite refusal (e.g. :class:`~engine.AuthFailed`)
        is raised as itself, not inside an exception group.
        """
        self._sub_send, self._sub_receive = trio.open_memory_channel[None](math.inf)
        async with trio.open_nursery() as nursery:
            if not await self._start_gateways(nursery, shutdown):
                nursery.cancel_scope.cancel()
                return
            if self._paper_factory is not None:
                self.paper_venue = self._paper_factory(self.engine)
                self.engine.execution = self.paper_venue
            nursery.start_soon(self._subscriber)
            if self.journal is not None:
                nursery.start_soon(self.journal.run)
            nursery.start_soon(self._pump)
            nursery.start_soon(self._timers)
            if self.settings.stale_after_s > 0 and self.paper_venue is None:  # paper: public data only
                nursery.start_soon(self._watch_venues, nursery)
            if self.paper_venue is None:
                for venue in self.gateways:
                    nursery.start_soon(self._command_worker, venue)
                nursery.start_soon(self._reconciler)
                nursery.start_soon(self._resync)
                await self._load_account()
                if self._restore is not None:
                    with trio.CancelScope() as restoring:
                        nursery.start_soon(cancel_when_set, shutdown, restoring)
                        with self.engine.strategies_unaware():  # not started yet
                            await self._reconcile_restored(self._restore(self.engine))
                    if shutdown.is_set():
                        nursery.cancel_scope.cancel()
                        return
                await self._adopt_venue_positions(restored=bool(self.engine.orders))
                await self.reconcile_open_orders()
                if self.settings.open_orders_interval_s > 0:
                    nursery.start_soon(self._reconcile_open_orders_periodically)
            if self.settings.status_interval_s > 0:
                nursery.start_soon(self._status)
            self._started = True
            self.engine.start()
            self.started_ns = self.engine.clock.now_ns()
            self.sample_equity()
            nursery.start_soon(self._sample_equity_periodically)
            self._sub_send.send_nowait(None)
            task_status.started()
            await shutdown.wait()
            await self._shutdown()
            self.sample_equity()
            nursery.cancel_scope.cancel()

    async def _start_gateways(self, nursery: trio.Nursery, shutdown: trio.Event) -> bool:
        """Start every gateway in ``nursery``; False if ``shutdown`` came first."""
        timeout = self.settings.startup_timeout_s
        deadline = trio.current_time() + timeout if timeout is not None else math.inf
        starting = trio.CancelScope(deadline=deadline)
        nursery.start_soon(cancel_when_set, shutdown, starting)
        venue = ""
        with starting:
            for venue, gateway in self.gateways.items():
                try:
                    await nursery.start(gateway.run, self.status_log)
                except BaseExceptionGroup as group:
                    raise plain_error(group) from None
                log.info("%s: up, %d instruments", venue, len(gateway.instruments))
                self._heard(venue)
                for inst in gateway.instruments.values():
                    self.engine.add_instrument(inst)
            self.up = True
            return True
        if shutdown.is_set():
            log.warning("stopped during start-up (%s was not up yet)", venue)
            return False
        last = self.status_log.last_status.get(venue)
        raise StartupFailed(f"{venue} did not come up within {timeout:g} s"
                            + (f" (last: {last})" if last else "")
                            + "; check the venue's base_url/ws_url or raise [run] startup_timeout_s")

    async def _shutdown(self) -> None:
        """Ordered shutdown, within ``settings.shutdown_grace_s``.

        1. strategies stop first, so nothing new is decided while we unwind;
        2. risk goes HALTED and open orders are canceled (if configured);
        3. until every order is settled: UNKNOWN and suspect orders are queried at once (not
           after the reconciler's back-off), an order the venue says is still working is
           canceled again (a cancel is safe to repeat; a submit is never resent), and the
           venue's answers and late fills are applied — the command workers and the pump must
           still run for that, which is why the nursery is canceled only afterwards;
        4. if a command is still in flight when the grace period ends (a submit waiting for the
           venue's rate budget), one more grace period is given for its answer; what is still
           open then is logged;
        5. the caller cancels the nursery: gateways close their connections.
        """
        self.engine.stop()
        cancel = self.settings.cancel_on_exit
        if cancel:
            set_state = getattr(self.engine.risk, "set_state", None)
            if set_state is not None:  # HALTED: cancels everything and admits nothing new
                from ._risk_api import TradingState

                set_state(TradingState.HALTED, "shutdown", routine=True)
            n = self.engine.cancel_all_orders("shutdown")
            if n:
                log.warning("shutdown: canceling %d open order(s)", n)
        with trio.move_on_after(self.settings.shutdown_grace_s):
            await self._settle_for_stop(cancel)
        if any(self._in_flight(o) for o in self._unsettled(cancel)):
            # a command still on its way (e.g. a submit waiting for the venue's rate budget) may yet
            # reach the venue: one more grace period for its answer, so it can be canceled
            log.warning("shutdown: waiting up to %g s more for commands still in flight", self.settings.shutdown_grace_s)
            with trio.move_on_after(self.settings.shutdown_grace_s):
                await self._settle_for_stop(cancel)
        left = self._unsettled(cancel)
        if left:
            log.error("shutdown: %d order(s) not settled with the venue: %s", len(left),
                      ", ".join(f"{o.client_order_id} ({o.status.value})" for o in left))

    def _in_flight(self, order: Order) -> bool:
        """True while a command or query on ``order`` awaits its answer."""
        lock = self._order_locks.get(order.client_order_id)
        return lock is not None and lock.locked()

    def _unsettled(self, cancel: bool) -> list[Order]:
        """Orders a stop still has to wait for: open ones (if canceling), UNKNOWN ones and suspects."""
        self._drop_settled_suspects()
        orders = {cid: o for cid, o in self.engine.open_order_ids.items()
                  if cancel or o.status is OrderStatus.UNKNOWN}
        orders.update(self._suspects)
        return list(orders.values())

    async def _settle_for_stop(self, cancel: bool) -> None:
        """Query and (re-)cancel until nothing is left to settle (see :meth:`_shutdown`)."""
        step = self.settings.reconcile_interval_s
        first = True
        while self._unsettled(cancel):
            await trio.sleep(step)
            for order in self._unsettled(cancel):
                if first and order.status is OrderStatus.PENDING_CANCEL and order.client_order_id not in self._suspects:
                    continue  # its cancel was just sent: give the answer a moment first
                if not await self.reconcile_order(order):
                    continue
                if cancel and order.is_open and order.status is not OrderStatus.PENDING_CANCEL:
                    self.engine.cancel_order(order.strategy_id, order, force=True)
            first = False
            step = min(step * 2, self.settings.reconcile_max_interval_s)

    async def _reconcile_restored(self, orders: Sequence[Order]) -> None:
        """Ask the venue about every order an earlier run left open, before the strategies start.

        Each is adopted as the venue reports it (working, filled: its new fills booked) or closed
        (the venue never had it / no longer has it). Bounded by ``startup_timeout_s``: what is
        still UNKNOWN then is left to the reconciler.
        """
        if not orders:
            return
        log.warning("restart: %d order(s) of an earlier run may be working; asking the venue", len(orders))
        timeout = self.settings.startup_timeout_s
        step = self.settings.reconcile_interval_s
        with trio.move_on_after(timeout if timeout is not None else math.inf):
            while pending := [o for o in orders if o.status is OrderStatus.UNKNOWN]:
                for order in pending:
                    await self.reconcile_order(order)
                if any(o.status is OrderStatus.UNKNOWN for o in orders):
                    await trio.sleep(step)
                    step = min(step * 2, self.settings.reconcile_max_interval_s)
        for order in orders:
            log.info("restart: %s is %s at the venue (filled %s)", order.client_order_id, order.status.value,
                     order.filled_qty)

    async def _adopt_venue_positions(self, *, restored: bool) -> None:
        """Start from the venue's positions: each goes into the portfolio (and so into every risk
        check). A venue figure that differs from what the journal restored is an alarm, then the
        venue's figure is taken."""
        engine = self.engine
        for gateway in self.gateways.values():
            try:
                positions = await gateway.positions()
            except Exception as exc:  # the run can proceed; the periodic reconcile tries again
                log.warning("%s: could not load positions: %s", gateway.venue, exc)
                continue
            self._heard(gateway.venue)
            for update in positions:
                self.venue_positions[update.instrument.key] = update
                inst = engine.instruments.get(update.instrument.key, update.instrument)
                ours = engine.portfolio.position(inst).qty
                if ours == update.qty:
                    continue
                if restored or ours:
                    engine._alarm(engine.clock.now_ns(), "position_diff",
                                  f"{inst.key}: the venue holds {update.qty}, the journal says {ours}; "
                                  "taking the venue's")
                else:
                    log.warning("%s: adopting the venue's position %s @ %s", inst.key, update.qty, update.avg_price)
                engine.portfolio.set_position(inst, update.qty, update.avg_price, update.ts_recv)

    async def reconcile_open_orders(self, venues: Sequence[str] | None = None) -> None:
        """Compare each venue's open orders with ours.

        An order we think working that the venue does not list is asked about (it may have
        filled, or be gone: see :meth:`reconcile_order`); a venue order that is not ours is
        reported once as external (an ``external_order`` alarm) and, per ``external_orders``,
        adopted (tracked, booked and canceled at a stop like ours), canceled, or left alone and
        kept in :attr:`external_orders`; risk counts it in every case.
        """
        for venue, gateway in self.gateways.items():
            if venues is not None and venue not in venues:
                continue
            try:
                reports = await gateway.open_orders()
            except Exception as exc:  # try again next period
                log.warning("%s: could not list open orders: %s", venue, exc)
                continue
            self._heard(venue)
            to_cancel = self._compare_open_orders(venue, reports)
            if to_cancel:
                await self._cancel_external(venue, to_cancel)

    def _compare_open_orders(self, venue: str, reports: Sequence[OrderReport]) -> list[Order]:
        """Apply one venue listing; returns the external orders to cancel (policy ``cancel``)."""
        engine = self.engine
        policy = self.settings.external_orders_by_venue.get(venue, self.settings.external_orders)
        to_cancel: list[Order] = []
        listed_ids = {r.venue_order_id for r in reports}
        listed_cids = {r.client_order_id for r in reports if r.client_order_id}
        by_venue_id = {o.venue_order_id: o for o in engine.orders.values() if o.venue_order_id}
        working = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        for order in list(engine.open_order_ids.values()):
            if (order.instrument.venue == venue and order.status in working
                    and order.venue_order_id not in listed_ids and order.client_order_id not in listed_cids
                    and not self._in_flight(order)):
                self._suspect(order)
        unnamed = any(o.instrument.venue == venue and not o.venue_order_id for o in engine.open_order_ids.values())
        seen_external = set()
        for report in reports:
            ours = engine.orders.get(report.client_order_id) if report.client_order_id else None
            if ours is None:
                ours = by_venue_id.get(report.venue_order_id)
            if ours is not None:
                continue
            if unnamed and not report.client_order_id:
                continue  # may be ours, not named yet (a submit in flight or UNKNOWN): next time
            vid = report.venue_order_id
            known = engine.external_orders.get(vid)
            if known is not None:  # seen before: keep what it would still add up to date
                seen_external.add(vid)
                self.external_orders[vid] = report
                if report.filled_qty is not None:
                    known.filled_raw = known.instrument.size_raw(report.filled_qty)
                continue
            order = external_order(report, engine.instruments.get(report.instrument.key, report.instrument))
            what = {"adopt": "adopted (tracked and booked as ours)", "cancel": "canceling it",
                    "leave": "left alone"}.get(policy, "left alone")
            engine._alarm(engine.clock.now_ns(), "external_order",
                          f"{venue}: open order {vid} ({report.instrument.key}"
                          f"{f' {order.side.name} {order.leaves_qty}' if order.qty_raw else ', side/qty not listed'})"
                          f" is not this client's; {what}")
            if policy == "adopt":
                engine.restore_order(order)  # now ours: risk counts it, its fills are booked, a stop cancels it
                by_venue_id[vid] = order
                continue
            seen_external.add(vid)
            self.external_orders[vid] = report
            engine.external_orders[vid] = order
            if policy == "cancel":
                to_cancel.append(order)
        for venue_id in [v for v, r in self.external_orders.items()
                         if r.instrument.venue == venue and v not in seen_external]:
            del self.external_orders[venue_id]
            engine.external_orders.pop(venue_id, None)
        return to_cancel

    async def _cancel_external(self, venue: str, orders: Sequence[Order]) -> None:
        """Cancel external orders (policy ``cancel``); each stays counted until the venue stops listing it."""
        gateway = self.gateways[venue]
        for order in orders:
            try:
                await gateway.cancel_order(order)
            except Exception as exc:  # still listed next time: canceled again then
                log.warning("%s: cancel of external order %s: %s", venue, order.venue_order_id, exc)
            else:
                log.warning("%s: external order %s canceled", venue, order.venue_order_id)
                self._heard(venue)

    async def _reconcile_open_orders_periodically(self) -> None:
        while True:
            await trio.sleep(self.settings.open_orders_interval_s)
            await self.reconcile_open_orders()
            await self.reconcile_account()

    async def reconcile_account(self) -> None:
        """Compare each venue's positions and balances with the portfolio.

        Only a venue with none of our orders working or in doubt is compared (a fill on its way
        would look like a difference). A difference seen on two passes in a row, with the same
        venue figure, is an alarm (``position_diff`` / ``balance_diff``), then the venue's figure
        is taken.
        """
        engine = self.engine
        for venue, gateway in self.gateways.items():
            busy = any(o.instrument.venue == venue for o in engine.open_order_ids.values()) or \
                any(o.instrument.venue == venue for o in self._suspects.values())
            if busy:
                self._forget_diffs(venue)
                continue
            try:
                positions = await gateway.positions()
                balances = await gateway.balances()
            except Exception as exc:  # next period
                log.warning("%s: could not load positions and balances: %s", venue, exc)
                continue
            self._heard(venue)
            if any(o.instrument.venue == venue for o in engine.open_order_ids.values()):
                self._forget_diffs(venue)  # an order went out meanwhile
                continue
            seen: set[tuple[str, str, str]] = set()
            for update in positions:
                inst = engine.instruments.get(update.instrument.key, update.instrument)
                ours = engine.portfolio.position(inst).qty
                if ours != update.qty and self._confirmed(("position", venue, inst.key), update.qty, seen):
                    engine._alarm(engine.clock.now_ns(), "position_diff",
                                  f"{inst.key}: the venue holds {update.qty}, the client {ours}; taking the venue's")
                    engine.portfolio.set_position(inst, update.qty, update.avg_price, update.ts_recv)
            for balance in balances:
                ours = engine.portfolio.balance(balance.asset)
                if ours != balance.total and self._confirmed(("balance", venue, balance.asset), balance.total, seen):
                    engine._alarm(engine.clock.now_ns(), "balance_diff",
                                  f"{venue} {balance.asset}: the venue holds {balance.total}, the client {ours}; "
                                  "taking the venue's")
                    engine.portfolio.set_balance(balance.asset, balance.total)
            for key in [k for k in self._account_diffs if k[1] == venue and k not in seen]:
                del self._account_diffs[key]

    def _confirmed(self, key: tuple[str, str, str], venue_figure: Decimal, seen: set[tuple[str, str, str]]) -> bool:
        """True on the second pass in a row that finds the venue at ``venue_figure`` for ``key``."""
        if self._account_diffs.pop(key, None) == venue_figure:
            return True
        self._account_diffs[key] = venue_figure
        seen.add(key)
        return False

    def _forget_diffs(self, venue: str) -> None:
        for key in [k for k in self._account_diffs if k[1] == venue]:
            del self._account_diffs[key]

    async def _load_account(self) -> None:
        for gateway in self.gateways.values():
            try:
                for balance in await gateway.balances():
                    self.engine.portfolio.set_balance(balance.asset, balance.total)
            except Exception as exc:  # the run can proceed; the status line will show what is known
                log.warning("%s: could not load balances: %s", gateway.venue, exc)

    # -- equity --------------------------------------------------------------------------------
    def sample_equity(self) -> EquitySample:
        """Record (and return) the account value and gross exposure now, at the last prices seen."""
        currency = self.settings.currency
        marks = self.last_prices
        rates = {inst.base: marks[key] for key, inst in self.engine.instruments.items()
                 if key in marks and inst.quote == currency and inst.base != currency}
        rates[currency] = Decimal(1)
        portfolio = self.engine.portfolio
        exposure = Decimal(0)
        for pos in portfolio.open_positions():
            mark = marks.get(pos.instrument.key)
            rate = rates.get(pos.instrument.settle)
            if mark is not None and rate is not None:
                exposure += pos.notional(mark) * rate
        sample = EquitySample(self.engine.clock.now_ns(), portfolio.equity(currency, marks, rates), exposure)
        self.equity_samples.append(sample)
        return sample

    async def _sample_equity_periodically(self) -> None:
        while True:
            await trio.sleep(self.settings.equity_interval_s)
            self.sample_equity()

    # -- tasks -----------------------------------------------------------------------------
    async def _pump(self) -> None:
        engine = self.engine
        lanes = self.lanes
        sim = self.paper_venue
        clock = engine.clock
        while True:
            event = await lanes.receive()
            self.events_processed += 1
            kind = type(event)
            if sim is not None and sim.active:
                sim.advance(clock.now_ns())
            if kind is Trade:
                self.last_prices[event.instrument.key] = event.price
                if sim is not None and sim.active:
                    sim.on_trade(event)
                engine.on_trade(event)
            elif kind is Quote:
                self.last_prices[event.instrument.key] = event.mid
                if sim is not None and sim.active:
                    sim.on_quote(event)
                engine.on_quote(event)
            elif kind is BookSnapshot or kind is BookDelta:
                book = engine.apply_book(event)
                if book.best_bid_raw is not None and book.best_ask_raw is not None:
                    self.last_prices[event.instrument.key] = book.mid
                if sim is not None and sim.active:
                    sim.on_book(book)
                for slot, handler in engine.handlers("book", event.instrument.key):
                    engine._call(slot, "on_book", handler, book)
            elif kind is Bar:
                self.last_prices.setdefault(event.instrument.key, event.close)
                if sim is not None and sim.active:
                    sim.on_bar(event)
                engine.on_bar(event)
            elif kind is OrderReport:
                apply_report(engine, event)
            elif kind is Fill:
                apply_fill(engine, event)
            elif kind is FundingPayment:
                engine.on_funding(event)
            elif kind is BalanceUpdate:
                engine.portfolio.set_balance(event.asset, event.total)
            elif kind is PositionUpdate:
                self.venue_positions[event.instrument.key] = event
            elif kind is InstrumentUpdate:
                engine.add_instrument(event.instrument)
            elif kind is VenueStatus:
                pass  # logged when it arrived (StatusLog)
            engine.fire_timers(clock.now_ns())

    async def _timers(self) -> None:
        engine = self.engine
        while True:
            due = engine.timers.next_due
            now = engine.clock.now_ns()
            await trio.sleep(min(max(due - now, 0) / 1e9, 0.1))
            engine.fire_timers(engine.clock.now_ns())

    async def _command_worker(self, venue: str) -> None:
        async with trio.open_nursery() as nursery:
            async for command, order in self.execution.receive[venue]:
                nursery.start_soon(self._execute, venue, command, order)

    async def _execute(self, venue: str, command: str, order: Order) -> None:
        # commands on one order are serialised: a cancel waits for its submit's outcome
        lock = self._order_locks.setdefault(order.client_order_id, trio.Lock())
        async with lock:
            await self._execute_locked(venue, command, order)
        if order.is_terminal:
            self._order_locks.pop(order.client_order_id, None)

    async def _execute_locked(self, venue: str, command: str, order: Order) -> None:
        engine = self.engine
        gateway = self.gateways[venue]
        risk = engine.risk
        now = engine.clock.now_ns
        if command == "submit" and order.status is OrderStatus.PENDING_CANCEL:
            engine.on_canceled(order, now(), "canceled before it was sent")  # nothing left the process
            return
        if self.journal is not None and not await self._journal_durable(command, order):
            return
        try:
            if command == "submit":
                report = await gateway.submit_order(order)
            else:
                if order.is_terminal:
                    return
                report = await gateway.cancel_order(order)
        except VenueRejected as exc:
            _note(risk, "record_venue_success")
            self._heard(venue)
            if command == "submit":
                engine.on_rejected(order, now(), f"[{exc.code}] {exc.venue_message}")
            else:
                engine.on_cancel_rejected(order, now(), f"[{exc.code}] {exc.venue_message}")
                self._suspect(order)  # the order may have filled meanwhile: ask the venue
            return
        except RiskDenied as exc:  # refused at send time: nothing left the process
            reason = f"{getattr(exc.reason, 'value', exc.reason)}: {exc.detail}"
            if command == "submit":
                engine.denials[str(getattr(exc.reason, "value", exc.reason))] = engine.denials.get(
                    str(getattr(exc.reason, "value", exc.reason)), 0) + 1
                engine._transition(order, OrderStatus.DENIED, now(), reason)
            else:
                engine.on_cancel_rejected(order, now(), reason)
            return
        except Unsupported as exc:
            if command == "submit":
                engine._transition(order, OrderStatus.DENIED, now(), f"unsupported_order: {exc}")
            else:
                engine.on_cancel_rejected(order, now(), str(exc))
            return
        except AuthFailed as exc:  # definite: the venue did nothing
            log.error("%s: authentication failed: %s", venue, exc)
            self._heard(venue)
            _note(risk, "record_venue_failure")
            if command == "submit":
                engine.on_rejected(order, now(), f"auth failed: {exc}")
            else:
                engine.on_cancel_rejected(order, now(), f"auth failed: {exc}")
            return
        except (OutcomeUnknown, RateLimited, VenueError, trio.TooSlowError, OSError) as exc:
            # VenueError: any other venue trouble (e.g. a lookup the command needed timed out) is
            # no evidence either way: the order is asked about, and the run goes on
            if not _throttled(exc):  # a 429 paces us (the rate limiter pauses); it is no venue failure
                _note(risk, "record_venue_failure")
            if command == "submit":
                engine.on_unknown(order, now(), f"outcome unknown: {exc}")
            else:
                log.warning("cancel of %s: outcome unknown (%s); will query", order.client_order_id, exc)
                engine.on_unknown(order, now(), f"cancel outcome unknown: {exc}")
            self._wake_reconciler()
            return
        _note(risk, "record_venue_success")
        self._heard(venue)
        self._apply_evidence(order, report)

    async def _journal_durable(self, command: str, order: Order) -> bool:
        """Wait until the journal holds ``order`` as it is now (write before send); False if the
        submit must not go out (the disk refused: nothing left the process)."""
        try:
            await self.journal.flush()
        except OSError as exc:
            if command == "submit":
                engine = self.engine
                engine._transition(order, OrderStatus.DENIED, engine.clock.now_ns(), f"journal_failed: {exc}")
                return False
            log.error("cancel of %s sent although the journal failed: %s", order.client_order_id, exc)
        return True

    def _apply_evidence(self, order: Order, report: OrderReport | None) -> None:
        """Move ``order`` by the venue's answer to a command or query (None: the venue has no such order)."""
        engine = self.engine
        if report is None:
            self._order_gone(order)
            return
        apply_report(engine, report)
        if order.status is OrderStatus.UNKNOWN and report.status is not OrderStatus.UNKNOWN:
            engine.on_accepted(order, report.ts_recv, report.venue_order_id)
        cid = order.client_order_id
        if not fills_outstanding(order, report):
            self._suspects.pop(cid, None)
            self._suspect_queries.pop(cid, None)
            return
        tries = self._suspect_queries[cid] = self._suspect_queries.get(cid, 0) + 1
        if tries <= _MAX_SUSPECT_QUERIES:
            self._suspect(order)  # the venue executed more than is booked: ask until the fills arrive
            return
        self._suspects.pop(cid, None)
        engine._alarm(engine.clock.now_ns(), "fills_missing",
                      f"{cid}: the venue reports {report.filled_qty} filled, {order.filled_qty} booked")

    def _order_gone(self, order: Order) -> None:
        """The venue definitely does not have ``order``: never placed if UNKNOWN, else gone."""
        engine = self.engine
        now = engine.clock.now_ns()
        self._suspects.pop(order.client_order_id, None)
        if order.is_terminal:
            return
        if order.status is OrderStatus.UNKNOWN or order.status is OrderStatus.SUBMITTED:
            engine.on_rejected(order, now, "the venue has no such order (reconciled)")
            return
        if order.status is not OrderStatus.PENDING_CANCEL:
            engine._alarm(now, "order_gone", f"{order.client_order_id} ({order.venue_order_id}) is open here but "
                          "the venue no longer has it; closed as canceled")
        engine.on_canceled(order, now, "the venue no longer has this order (reconciled)")

    def _suspect(self, order: Order) -> None:
        """Ask the venue about ``order`` soon (see :meth:`_reconciler`)."""
        if not order.is_terminal or order.filled_raw < order.qty_raw:
            self._suspects[order.client_order_id] = order
        self._wake_reconciler()

    def _drop_settled_suspects(self) -> None:
        """Forget suspects whose fills have all been booked meanwhile (by stream or poll)."""
        for cid, order in list(self._suspects.items()):
            if order.filled_raw >= order.qty_raw:
                del self._suspects[cid]
                self._suspect_queries.pop(cid, None)

    def _wake_reconciler(self) -> None:
        self._unknown_wakeup.set()

    # -- venue staleness -------------------------------------------------------------------
    def _heard(self, venue: str) -> None:
        """``venue`` answered a request or streamed something: it is alive (and reconciled if it was stale)."""
        self._heard_at[venue] = trio.current_time()
        self._heard_ns[venue] = self.engine.clock.now_ns()
        if venue in self.stale_since:
            since = self.stale_since.pop(venue)
            log.warning("%s: answers again after %.0f s of silence; reconciling", venue,
                        (self._heard_ns[venue] - since) / 1e9)
            self._resync_wakeup.set()
            self._wake_reconciler()

    def is_stale(self, venue: str) -> bool:
        """True while ``venue`` answers nothing (see ``LiveSettings.stale_after_s``)."""
        return venue in self.stale_since

    async def _watch_venues(self, nursery: trio.Nursery) -> None:
        """Mark a silent venue stale (an alarm; nothing is assumed failed); probe a quiet one.

        A venue quiet for half of ``stale_after_s`` is asked for its open orders (the periodic
        reconcile, early): a live venue answers, a hung one stays quiet and goes stale.
        """
        limit = self.settings.stale_after_s
        step = min(limit / 4, 1.0)
        while True:
            await trio.sleep(step)
            now = trio.current_time()
            for venue in self.gateways:
                quiet = now - self._heard_at.get(venue, now)
                if quiet >= limit and venue not in self.stale_since:
                    since = self._heard_ns.get(venue, self.engine.clock.now_ns())
                    self.stale_since[venue] = since
                    self.engine._alarm(self.engine.clock.now_ns(), "venue_stale",
                                       f"{venue}: no answer and no stream event for {quiet:.0f} s (since "
                                       f"{_utc(since)}); open orders are not assumed failed")
                if quiet >= limit / 2 and venue not in self._probing:
                    self._probing.add(venue)
                    nursery.start_soon(self._probe, venue)

    async def _probe(self, venue: str) -> None:
        try:
            await self.reconcile_open_orders([venue])
        finally:
            self._probing.discard(venue)

    async def _resync(self) -> None:
        """When a stale venue answers again: its open orders, positions and balances, now."""
        while True:
            await self._resync_wakeup.wait()
            self._resync_wakeup = trio.Event()
            await self.reconcile_open_orders()
            await self.reconcile_account()

    def _to_reconcile(self) -> list[Order]:
        """UNKNOWN orders, then suspects, in send order."""
        self._drop_settled_suspects()
        unknown = [o for o in self.engine.open_order_ids.values() if o.status is OrderStatus.UNKNOWN]
        ids = {o.client_order_id for o in unknown}
        return unknown + [o for cid, o in list(self._suspects.items()) if cid not in ids]

    async def reconcile_order(self, order: Order) -> bool:
        """Query ``order`` at its venue and apply the answer; False if the venue could not say."""
        gateway = self.gateways[order.instrument.venue]
        lock = self._order_locks.setdefault(order.client_order_id, trio.Lock())
        async with lock:  # never while a command on the same order is in flight
            try:
                report = await gateway.query_order(order)
                if report is not None and fills_outstanding(order, report):
                    await self._fetch_fills(gateway, order)
            except Exception as exc:  # still unknown; try again later
                log.warning("reconcile %s: %s", order.client_order_id, exc)
                return False
            self._heard(order.instrument.venue)
            self._apply_evidence(order, report)
        return True

    async def _fetch_fills(self, gateway: Gateway, order: Order) -> None:
        """Book ``order``'s executions from the venue's trade listing (``my_trades``, where the
        gateway has one): the venue said it filled but the fills did not come with the answer
        (e.g. they happened before a restart, before the gateway's poll window)."""
        my_trades = getattr(gateway, "my_trades", None)
        if my_trades is None or not order.venue_order_id:
            return
        start_ms = order.ts_init // 1_000_000 - _TRADE_LOOKBACK_MS if order.ts_init else None
        for fill in await my_trades(order.instrument, start_ms=start_ms):
            if fill.venue_order_id == order.venue_order_id:
                apply_fill(self.engine, fill, order)

    async def _reconciler(self) -> None:
        """Query every UNKNOWN (and suspect) order until the venue says what happened; never resend.

        The first query goes out ``reconcile_interval_s`` after the trouble, later ones back off
        to at most ``reconcile_max_interval_s``: an outcome is known within seconds.
        """
        settings = self.settings
        delay = settings.reconcile_interval_s
        while True:
            pending = self._to_reconcile()
            if not pending:
                self._unknown_wakeup = trio.Event()
                await self._unknown_wakeup.wait()
                delay = settings.reconcile_interval_s
                continue
            await trio.sleep(delay)
            for order in pending:
                if order.status is OrderStatus.UNKNOWN or order.client_order_id in self._suspects:
                    await self.reconcile_order(order)
            delay = min(delay * 2, settings.reconcile_max_interval_s)

    async def _status(self) -> None:
        while True:
            await trio.sleep(self.settings.status_interval_s)
            self._status_out(self.status_line())

    def status_line(self) -> str:
        """Positions, open orders and PnL in one line."""
        engine = self.engine
        parts = []
        for pos in engine.portfolio.open_positions():
            mark = self.last_prices.get(pos.instrument.key)
            upnl = f" upnl {pos.unrealized_pnl(mark)}" if mark is not None else ""
            parts.append(f"{pos.instrument.key} {pos.qty} @ {pos.avg_price}{upnl}")
        n_open = len(engine.open_order_ids)
        unknown = sum(1 for o in engine.open_order_ids.values() if o.status is OrderStatus.UNKNOWN)
        state = getattr(engine.risk, "state", None)
        state_txt = f" state {state.value}" if state is not None else ""
        external = len(engine.external_orders)
        return (f"[status]{state_txt} positions: {'; '.join(parts) or 'none'} | open orders {n_open}"
                f"{f' ({unknown} unknown)' if unknown else ''}{f' + {external} external' if external else ''}"
                f" | realized {engine.portfolio.realized_pnl}"
                f" | fills {len(engine.fills)} | errors {len(engine.failures)}{self._stale_text()}")

    def _stale_text(self) -> str:
        now = self.engine.clock.now_ns()
        return "".join(f" | {venue} STALE since {_utc(since)} ({(now - since) / 1e9:.0f} s)"
                       for venue, since in sorted(self.stale_since.items()))

    def stale_report(self) -> list[str]:
        """One line per venue that is stale now (for the run's report)."""
        return [f"STALE {venue}: no answer since {_utc(since)}" for venue, since in sorted(self.stale_since.items())]


async def cancel_when_set(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def _utc(ts_ns: int) -> str:
    """A wall-clock time in ns as ``YYYY-MM-DDTHH:MM:SSZ``."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _note(risk: Any, method: str) -> None:
    fn = getattr(risk, method, None)
    if fn is not None:
        fn()


def live_engine(**kw: Any) -> Engine:
    """An engine on wall-clock time."""
    return Engine(clock=LiveClock(), **kw)
