"""The live runner's order truth against a scripted venue (in process, trio's MockClock).

The scripted gateway answers each command or query with what the test queued (an answer, a
venue refusal or a lost outcome) and keeps what the venue "really" did, so every test can say
which evidence arrived in which order and what the engine made of it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs
import trio
import trio.testing

from engine import (
    BalanceUpdate,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OutcomeUnknown,
    PositionUpdate,
    RateLimited,
    Side,
    VenueError,
    Strategy,
    Trade,
    VenueRejected,
)
from engine import DataKind, Gateway, GatewayCapabilities, OrderReport
from engine._journal import JournalFailed, OrderJournal
from engine._live import LiveRunner, LiveSettings, live_engine

S = OrderStatus
INST = Instrument(venue="script", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")

Answer = Callable[[Order], OrderReport | None]
"A queued venue behaviour: returns the answer (None: no such order) or raises."


def report(order: Order, status: OrderStatus, *fills: Fill, filled: Decimal | None = None) -> OrderReport:
    total = filled if filled is not None else sum((f.qty for f in fills), Decimal(0))
    return OrderReport(INST, 0, 0, order.client_order_id, f"v-{order.client_order_id}", status,
                       filled_qty=total, fills=tuple(fills))


def fill(order: Order, trade_id: str, qty: str, price: str = "100") -> Fill:
    return Fill(INST, 0, 0, order.client_order_id, f"v-{order.client_order_id}", trade_id, order.side,
                Decimal(price), Decimal(qty), Decimal(0), "USD", Liquidity.TAKER)


def lost(order: Order) -> OrderReport | None:
    raise OutcomeUnknown("HTTP 500 after the venue booked it", venue="script")


def refused(order: Order) -> OrderReport | None:
    raise VenueRejected(-2011, "Unknown order (already filled)", venue="script")


class ScriptedGateway(Gateway):
    """A venue whose answers are queued by the test, per command kind."""

    venue = "script"
    capabilities = GatewayCapabilities(order_types=frozenset({"market", "limit"}),
                                       time_in_force=frozenset({"GTC", "IOC"}))

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {"submit": [], "cancel": [], "query": []}
        self.calls: list[tuple[str, str]] = []
        self.default_query: Answer | None = None
        self.sink: Any = None
        self.position_list: list[PositionUpdate] = []
        self.trades: list[Fill] = []
        self.open_list: list[OrderReport] = []
        "What ``open_orders`` lists."
        self.balance_list: list[BalanceUpdate] = []
        "What ``balances`` lists."
        self.listings = 0
        "Calls of ``open_orders``."

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return {INST.key: INST}

    async def run(self, sink: Any, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.sink = sink
        task_status.started()
        await trio.sleep_forever()

    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60,
                        depth: int = 10) -> None:
        return None

    async def _answer(self, kind: str, order: Order) -> OrderReport | None:
        self.calls.append((kind, order.client_order_id))
        await trio.sleep(0.01)
        queue = self.answers[kind]
        if queue:
            return queue.pop(0)(order)
        if kind == "query" and self.default_query is not None:
            return self.default_query(order)
        raise AssertionError(f"unscripted {kind} of {order.client_order_id}")

    async def submit_order(self, order: Order) -> OrderReport:
        answer = await self._answer("submit", order)
        assert answer is not None
        return answer

    async def cancel_order(self, order: Order) -> OrderReport:
        answer = await self._answer("cancel", order)
        assert answer is not None
        return answer

    async def query_order(self, order: Order) -> OrderReport | None:
        return await self._answer("query", order)

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        self.listings += 1
        return list(self.open_list)

    async def my_trades(self, instrument: Instrument, *, start_ms: int | None = None) -> list[Fill]:
        self.calls.append(("my_trades", instrument.key))
        return list(self.trades)

    async def balances(self) -> Sequence[BalanceUpdate]:
        return list(self.balance_list)

    async def positions(self) -> Sequence[PositionUpdate]:
        return list(self.position_list)


async def until(predicate: Callable[[], bool], step: float = 0.01) -> None:
    while not predicate():
        await trio.sleep(step)


SETTINGS = LiveSettings(status_interval_s=0, shutdown_grace_s=5.0, equity_interval_s=60.0)


class Session:
    """One runner on one scripted venue; ``async with s.running() as nursery:`` runs it (30 s MockClock bound)."""

    def __init__(self, settings: LiveSettings = SETTINGS, *, gateway: ScriptedGateway | None = None,
                 risk: Any = None) -> None:
        self.gateway = gateway or ScriptedGateway()
        self.engine = live_engine(risk=risk)
        self.runner = LiveRunner(self.engine, {"script": self.gateway}, settings)
        self.shutdown = trio.Event()

    @contextlib.asynccontextmanager
    async def running(self, timeout_s: float = 30) -> AsyncIterator[trio.Nursery]:
        """Start the runner; the body runs while it trades (set :attr:`shutdown` to stop it)."""
        with trio.fail_after(timeout_s):
            async with trio.open_nursery() as nursery:
                await self.start(nursery)
                yield nursery

    def limit_buy(self, qty: str = "0.010") -> Order:
        return self.engine.submit_order("s", INST, Side.BUY, Decimal(qty), type=OrderType.LIMIT,
                                        price=Decimal("100"))

    async def working_buy(self, qty: str = "0.010") -> Order:
        """A limit buy the venue accepts, once it is ACCEPTED here."""
        self.gateway.answers["submit"].append(lambda o: report(o, S.ACCEPTED))
        order = self.limit_buy(qty)
        await until(lambda: order.status is S.ACCEPTED)
        return order

    def statuses(self) -> list[OrderStatus]:
        return [u.status for u in self.updates]

    async def start(self, nursery: trio.Nursery) -> None:
        self.updates: list[Any] = []
        self.engine.order_listeners.append(self.updates.append)
        await nursery.start(self.runner.run, self.shutdown)


def assert_no_alarms(session: Session) -> None:
    assert [a.kind for a in session.engine.alarms] == []


async def test_a_stop_cancels_working_orders_and_books_a_fill_that_beat_the_cancel(
        autojump_clock: trio.testing.MockClock) -> None:
    """cancel_on_exit: the cancel is refused (already filled) → queried → the fill is booked before the stop ends."""
    s = Session()
    async with s.running():
        o1, o2 = s.limit_buy(), s.limit_buy()
        s.gateway.answers["submit"] += [lambda o: report(o, S.ACCEPTED), lambda o: report(o, S.ACCEPTED)]
        await until(lambda: o2.status is S.ACCEPTED)
        s.gateway.answers["cancel"] += [lambda o: report(o, S.CANCELED) if o is o1 else refused(o)] * 2
        s.gateway.answers["query"] += [lambda o: report(o, S.FILLED, fill(o, "t1", "0.010"))]
        s.shutdown.set()
    assert o1.status is S.CANCELED and o2.status is S.FILLED
    assert s.engine.portfolio.position(INST).qty == Decimal("0.010")
    assert ("query", o2.client_order_id) in s.gateway.calls
    assert_no_alarms(s)


async def test_an_unknown_submit_is_resolved_within_seconds_and_never_resent(
        autojump_clock: trio.testing.MockClock) -> None:
    s = Session()
    async with s.running():
        s.gateway.answers["submit"].append(lost)
        # the venue is slow to show it: five queries find nothing definite, then the fill
        s.gateway.answers["query"] += [lost] * 5 + [lambda o: report(o, S.FILLED, fill(o, "t1", "0.010"))]
        started = trio.current_time()
        order = s.limit_buy()
        await until(lambda: order.status is S.FILLED)
        took = trio.current_time() - started
        s.shutdown.set()
    assert took < 10.0  # was 1+2+4+8+16+30 s with the old back-off
    assert [c for c in s.gateway.calls if c[0] == "submit"] == [("submit", order.client_order_id)]
    assert s.statuses() == [S.SUBMITTED, S.UNKNOWN, S.FILLED]
    assert_no_alarms(s)


async def test_a_stop_resolves_unknown_orders_before_it_completes(autojump_clock: trio.testing.MockClock) -> None:
    s = Session(LiveSettings(status_interval_s=0, shutdown_grace_s=5.0, equity_interval_s=60.0,
                             reconcile_interval_s=60.0, reconcile_max_interval_s=60.0))
    async with s.running(300):
        s.gateway.answers["submit"].append(lost)
        order = s.limit_buy()
        await until(lambda: order.status is S.UNKNOWN)
        # the venue has it working: the stop finds it by query, cancels it and waits for the answer
        s.gateway.answers["query"].append(lambda o: report(o, S.ACCEPTED))
        s.gateway.answers["cancel"].append(lambda o: report(o, S.CANCELED, fill(o, "t9", "0.004"),
                                                            filled=Decimal("0.004")))
        s.shutdown.set()
    assert order.status is S.CANCELED and order.filled_qty == Decimal("0.004")
    assert s.engine.portfolio.position(INST).qty == Decimal("0.004")
    assert_no_alarms(s)


async def test_a_fill_during_pending_cancel_and_a_cancel_ack_after_the_fill_raise_no_alarm(
        autojump_clock: trio.testing.MockClock) -> None:
    s = Session()
    async with s.running():
        order = await s.working_buy()

        def filled_while_canceling(o: Order) -> OrderReport:
            s.gateway.sink.send_execution(fill(o, "t1", "0.010"))  # the stream: it filled first
            s.gateway.sink.send_execution(fill(o, "t1", "0.010"))  # and again by the poll
            return report(o, S.CANCELED, filled=Decimal("0.010"))  # the cancel's late answer

        s.gateway.answers["cancel"].append(filled_while_canceling)
        s.engine.cancel_order("s", order)
        await until(lambda: order.is_terminal and ("cancel", order.client_order_id) in s.gateway.calls)
        await trio.sleep(1)
        s.shutdown.set()
    assert order.status is S.FILLED
    assert s.engine.portfolio.position(INST).qty == Decimal("0.010")
    assert len(s.engine.fills) == 1
    assert_no_alarms(s)


async def test_a_filled_answer_without_its_fills_is_queried_until_they_are_booked(
        autojump_clock: trio.testing.MockClock) -> None:
    """A venue ``FILLED`` we did not expect is evidence: the order is asked about until its fills arrive."""
    s = Session()
    async with s.running():
        s.gateway.answers["submit"].append(lambda o: report(o, S.FILLED, filled=Decimal("0.010")))
        s.gateway.answers["query"] += [lambda o: report(o, S.FILLED, filled=Decimal("0.010")),
                                       lambda o: report(o, S.FILLED, fill(o, "t1", "0.006"), fill(o, "t2", "0.004"))]
        order = s.limit_buy()
        await until(lambda: order.status is S.FILLED)
        s.shutdown.set()
    assert s.engine.portfolio.position(INST).qty == Decimal("0.010")
    assert [c[0] for c in s.gateway.calls if c[0] != "my_trades"] == ["submit", "query", "query"]
    assert_no_alarms(s)


async def test_an_open_order_the_venue_no_longer_has_is_closed_with_an_alarm(
        autojump_clock: trio.testing.MockClock) -> None:
    """A 404 for an order we think open is evidence (e.g. after a venue restart), never ignored."""
    s = Session()
    async with s.running():
        order = await s.working_buy()
        s.gateway.answers["cancel"].append(refused)
        s.gateway.answers["query"].append(lambda o: None)
        s.engine.cancel_order("s", order)
        await until(lambda: order.is_terminal)
        s.shutdown.set()
    assert order.status is S.CANCELED
    assert [a.kind for a in s.engine.alarms] == ["order_gone"]


async def test_a_restart_after_kill_books_from_the_journal_and_adopts_what_the_venue_has(
        autojump_clock: trio.testing.MockClock, tmp_path: Any) -> None:
    """Crash-only restart: the journal's orders and fills come back; open ones are asked about before trading."""
    path = tmp_path / "journal.sqlite"
    first = Session()
    journal = OrderJournal(path, in_thread=False)
    first.runner = LiveRunner(first.engine, {"script": first.gateway}, SETTINGS, journal=journal)
    async with first.running() as nursery:
        first.gateway.default_query = lost
        working, lost_order = first.limit_buy(), first.limit_buy()
        first.gateway.answers["submit"] += [
            lambda o: report(o, S.PARTIALLY_FILLED, fill(o, "t1", "0.004")) if o is working else lost(o)] * 2
        await until(lambda: working.filled_raw > 0 and lost_order.status is S.UNKNOWN)
        nursery.cancel_scope.cancel()  # kill -9: no stop, no cancels
    journal.close()

    second = Session()
    journal = OrderJournal(path, in_thread=False)
    second.runner = LiveRunner(second.engine, {"script": second.gateway}, SETTINGS, restore=journal.restore,
                               journal=journal)
    heard: list[str] = []

    class Tracker(Strategy):
        def on_start(self) -> None:
            self.started = True

        def on_order(self, update: Any) -> None:
            heard.append("started" if getattr(self, "started", False) else "before on_start")

    second.engine.add_strategy("s", Tracker)
    second.gateway.answers["query"] += [
        lambda o: report(o, S.FILLED, fill(o, "t1", "0.004"), fill(o, "t2", "0.006")) if o.client_order_id
        == working.client_order_id else None] * 2
    async with second.running():
        before_start = [c for c in second.gateway.calls if c[0] != "my_trades"]
        second.shutdown.set()
    journal.close()
    again = {o.client_order_id: o for o in second.engine.orders.values()}
    assert again[working.client_order_id].status is S.FILLED
    assert again[lost_order.client_order_id].status is S.REJECTED  # the venue never had it: not resent
    assert sorted(before_start) == sorted([("query", working.client_order_id), ("query", lost_order.client_order_id)])
    assert second.engine.portfolio.position(INST).qty == Decimal("0.010")  # t1 once, t2 once
    assert "before on_start" not in heard  # the restored orders settled before the strategy existed for it
    assert_no_alarms(second)


async def test_a_run_starts_from_the_venues_positions(autojump_clock: trio.testing.MockClock) -> None:
    """Positions the venue holds at start-up are in the portfolio (and so in every risk check)
    before the strategies start; without a journal that is adoption, not an alarm."""
    s = Session()
    s.gateway.position_list = [PositionUpdate(INST, 0, 0, Decimal("-0.005"), Decimal("101.5"))]
    seen_at_start: list[Decimal] = []

    class Watch(Strategy):
        def on_start(self) -> None:
            seen_at_start.append(self.ctx.position(INST).qty)

    s.engine.add_strategy("watch", Watch)
    async with s.running():
        s.shutdown.set()
    assert seen_at_start == [Decimal("-0.005")]
    assert s.engine.portfolio.position(INST).avg_price == Decimal("101.5")
    assert_no_alarms(s)


async def test_fills_the_answer_does_not_carry_are_taken_from_the_venues_trade_listing(
        autojump_clock: trio.testing.MockClock) -> None:
    """A FILLED answer without trade ids (fills from before a restart): booked from ``my_trades``, once."""
    s = Session()
    async with s.running():
        s.gateway.answers["submit"].append(lost)
        order = s.limit_buy()
        other = Order("someone-else", INST, Side.SELL, OrderType.MARKET, 5)
        s.gateway.trades = [fill(order, "t1", "0.006"), fill(other, "t8", "0.005"), fill(order, "t2", "0.004")]
        s.gateway.default_query = lambda o: report(o, S.FILLED, filled=Decimal("0.010"))
        await until(lambda: order.status is S.FILLED)
        s.shutdown.set()
    assert s.engine.portfolio.position(INST).qty == Decimal("0.010")
    assert [f.trade_id for f in s.engine.fills] == ["t1", "t2"]
    assert_no_alarms(s)


async def test_an_order_canceled_before_its_submit_left_is_never_sent(autojump_clock: trio.testing.MockClock) -> None:
    s = Session()
    async with s.running():
        order = s.limit_buy()
        s.engine.cancel_order("s", order)  # before the command worker got to the submit
        await until(lambda: order.is_terminal)
        s.shutdown.set()
    assert order.status is S.CANCELED
    assert s.gateway.calls == []
    assert_no_alarms(s)


async def test_a_suspect_whose_fills_arrived_by_stream_does_not_hold_up_the_stop(
        autojump_clock: trio.testing.MockClock) -> None:
    """A FILLED answer ahead of its fills makes the order a suspect; the stream's fills settle it, no query needed."""
    s = Session(LiveSettings(status_interval_s=0, shutdown_grace_s=5.0, equity_interval_s=60.0,
                             reconcile_interval_s=30.0, reconcile_max_interval_s=30.0))
    async with s.running(300):
        s.gateway.answers["submit"].append(lambda o: report(o, S.FILLED, filled=Decimal("0.010")))
        order = s.limit_buy()
        await until(lambda: ("submit", order.client_order_id) in s.gateway.calls)
        await trio.sleep(0.1)
        s.gateway.sink.send_execution(fill(order, "t1", "0.010"))
        await until(lambda: order.status is S.FILLED)
        stop_at = trio.current_time()
        s.shutdown.set()
    assert trio.current_time() - stop_at < 1.0
    assert [c[0] for c in s.gateway.calls] == ["submit"]
    assert_no_alarms(s)


async def test_a_fill_that_names_an_unknown_order_gives_it_its_venue_order_id(
        autojump_clock: trio.testing.MockClock) -> None:
    """The journal must name the venue's order even when the fill was the first evidence of it."""
    s = Session()
    async with s.running():
        s.gateway.answers["submit"].append(lost)
        s.gateway.default_query = lost
        order = s.limit_buy()
        await until(lambda: order.status is S.UNKNOWN)
        s.gateway.sink.send_execution(fill(order, "t1", "0.010"))
        await until(lambda: order.status is S.FILLED)
        s.shutdown.set()
    assert order.venue_order_id == f"v-{order.client_order_id}"
    assert s.updates[-1].order.venue_order_id == order.venue_order_id


async def test_a_submit_still_in_flight_at_the_stop_is_canceled_once_it_lands(
        autojump_clock: trio.testing.MockClock) -> None:
    """A submit held back (e.g. by the venue's rate budget) past the grace period still gets canceled."""
    s = Session(LiveSettings(status_interval_s=0, shutdown_grace_s=5.0, equity_interval_s=60.0))

    async def slow_submit(order: Order) -> OrderReport:
        s.gateway.calls.append(("submit", order.client_order_id))
        await trio.sleep(7.0)
        return report(order, S.ACCEPTED)

    s.gateway.submit_order = slow_submit  # type: ignore[method-assign]
    async with s.running(300):
        order = s.limit_buy()
        await until(lambda: ("submit", order.client_order_id) in s.gateway.calls)
        s.gateway.answers["cancel"].append(lambda o: report(o, S.CANCELED))
        s.shutdown.set()
    assert order.status is S.CANCELED
    assert ("cancel", order.client_order_id) in s.gateway.calls


class FailureCounter:
    """A risk engine that admits everything and counts the venue failures the runner reports."""

    def __init__(self) -> None:
        self.failures = 0

    def check_order(self, order: Order, engine: Any) -> None:
        return None

    def on_fill(self, fill: Fill, engine: Any) -> None:
        return None

    def record_venue_failure(self, detail: str = "") -> bool:
        self.failures += 1
        return False

    def record_venue_success(self) -> None:
        return None


def throttled(order: Order) -> OrderReport | None:
    try:
        raise RateLimited("submit: rate limited (429)", venue="script", retry_after_s=1.0)
    except RateLimited as limited:
        raise OutcomeUnknown("submit: rate limited (429); the order may or may not have been taken",
                             venue="script") from limited


async def test_a_429_on_a_command_leaves_it_unknown_but_is_no_venue_failure(
        autojump_clock: trio.testing.MockClock) -> None:
    """A 429 storm paces the client; counted as venue failures it would halt trading for good."""
    s = Session()
    risk = FailureCounter()
    s.engine.risk = risk  # type: ignore[assignment]  # a stand-in with the two counters
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await s.start(nursery)
            s.gateway.answers["submit"] += [throttled, lost]
            s.gateway.answers["query"] += [lambda o: None, lambda o: None]
            first, second = s.limit_buy(), s.limit_buy()
            await until(lambda: first.is_terminal and second.is_terminal)
            s.shutdown.set()
    assert S.UNKNOWN in [u.status for u in s.updates if u.order is first]  # never taken as refused
    assert first.status is S.REJECTED and second.status is S.REJECTED  # the venue has neither (reconciled)
    assert risk.failures == 1  # the 5xx counts, the 429 does not


async def test_venue_trouble_before_a_cancel_is_sent_does_not_end_the_run(
        autojump_clock: trio.testing.MockClock) -> None:
    """A gateway that must look the order up first (its venue id unknown) and times out there raises a
    plain VenueError: the order is asked about and the run goes on (it used to end the run)."""
    s = Session()

    def lookup_timed_out(order: Order) -> OrderReport | None:
        raise VenueError("GET /v1/orders: timed out", venue="script")

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await s.start(nursery)
            order = s.limit_buy()
            s.gateway.answers["submit"].append(lambda o: report(o, S.ACCEPTED))
            await until(lambda: order.status is S.ACCEPTED)
            s.gateway.answers["cancel"] += [lookup_timed_out, lambda o: report(o, S.CANCELED)]
            s.gateway.answers["query"].append(lambda o: report(o, S.ACCEPTED))
            s.engine.cancel_order("s", order)
            await until(lambda: order.status is S.ACCEPTED and ("query", order.client_order_id) in s.gateway.calls)
            s.shutdown.set()  # cancel_on_exit: canceled now
    assert order.status is S.CANCELED
    assert [c[0] for c in s.gateway.calls] == ["submit", "cancel", "query", "cancel"]


async def test_open_order_reconciliation_reports_external_orders_and_asks_about_missing_ones(
        autojump_clock: trio.testing.MockClock) -> None:
    """At start-up and then periodically: a venue order that is not ours is an alarm (once); an
    order of ours the venue no longer lists is asked about and moved by the answer."""
    s = Session(LiveSettings(status_interval_s=0, shutdown_grace_s=5.0, equity_interval_s=60.0,
                             open_orders_interval_s=10.0))
    s.gateway.open_list = [OrderReport(INST, 0, 0, "", "v-elsewhere", S.ACCEPTED)]
    async with s.running(300):
        assert [a.kind for a in s.engine.alarms] == ["external_order"]  # before the strategies start
        order = await s.working_buy()
        s.gateway.open_list.append(report(order, S.ACCEPTED))
        await trio.sleep(15)  # one periodic pass: ours is listed, nothing to ask
        assert ("query", order.client_order_id) not in s.gateway.calls
        s.gateway.open_list.pop()  # it filled while the stream was down
        s.gateway.answers["query"].append(lambda o: report(o, S.FILLED, fill(o, "t1", "0.010")))
        await until(lambda: order.status is S.FILLED)
        s.shutdown.set()
    assert s.engine.portfolio.position(INST).qty == Decimal("0.010")
    assert [a.kind for a in s.engine.alarms] == ["external_order"]
    assert list(s.runner.external_orders) == ["v-elsewhere"]


async def test_an_unnamed_venue_order_is_not_called_external_while_one_of_ours_is_unnamed(
        autojump_clock: trio.testing.MockClock) -> None:
    s = Session(LiveSettings(status_interval_s=0, shutdown_grace_s=1.0, equity_interval_s=60.0,
                             open_orders_interval_s=5.0, reconcile_interval_s=60.0, reconcile_max_interval_s=60.0))
    async with s.running(300) as nursery:
        s.gateway.answers["submit"].append(lost)
        s.gateway.default_query = lost
        order = s.limit_buy()
        await until(lambda: order.status is S.UNKNOWN)
        s.gateway.open_list = [OrderReport(INST, 0, 0, "", "v-maybe-ours", S.ACCEPTED)]  # Dzengi: no client id
        await trio.sleep(12)  # two periodic passes
        nursery.cancel_scope.cancel()
    assert [a.kind for a in s.engine.alarms] == []


class _SlowDisk(OrderJournal):
    """A journal whose commits wait until the test releases them (a disk that takes forever)."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self.writing = threading.Event()
        self.release = threading.Event()

    def _write(self, batch: Any) -> None:
        self.writing.set()
        assert self.release.wait(timeout=30)
        super()._write(batch)


async def test_a_slow_journal_delays_the_command_but_never_the_event_loop(tmp_path: Any) -> None:
    """Write before send, off the loop: while the disk is stuck the loop keeps running (timers,
    market data), the order is not sent; once the row is durable the venue gets it."""
    s = Session()
    journal = _SlowDisk(tmp_path / "journal.sqlite")
    s.runner = LiveRunner(s.engine, {"script": s.gateway}, SETTINGS, journal=journal)
    at_send: list[Any] = []
    seen: list[Trade] = []

    class Watcher(Strategy):
        def on_start(self) -> None:
            self.ctx.subscribe_trades(INST)

        def on_trade(self, trade: Trade) -> None:
            seen.append(trade)

    s.engine.add_strategy("w", Watcher)
    async with s.running(60):  # a safety net for a hang, not a timing assertion
        s.gateway.answers["submit"].append(
            lambda o: at_send.append(journal.get(o.client_order_id)) or report(o, S.ACCEPTED))
        order = s.limit_buy()
        await trio.to_thread.run_sync(journal.writing.wait)
        ticks = 0
        for _ in range(20):
            await trio.sleep(0.001)
            ticks += 1
        s.runner.status_log.send_market(Trade(INST, 1, 1, INST.price_raw(Decimal("100")), INST.size_raw(Decimal("0.5"))))
        await until(lambda: bool(seen), step=0.001)
        assert ticks == 20 and order.status is S.SUBMITTED
        assert [c for c in s.gateway.calls if c[0] == "submit"] == []  # not durable: not sent
        journal.release.set()
        await until(lambda: order.status is S.ACCEPTED, step=0.001)
        s.gateway.answers["cancel"].append(lambda o: report(o, S.CANCELED))
        s.shutdown.set()
    journal.close()
    assert OrderJournal(tmp_path / "journal.sqlite").get(order.client_order_id)["status"] == "canceled"
    assert at_send and at_send[0] is not None and at_send[0]["status"] == "submitted"
    assert journal.commits >= 1


async def test_a_journal_the_disk_refuses_denies_the_submit_without_sending_it(tmp_path: Any) -> None:
    class FullDisk(OrderJournal):
        def _write(self, batch: Any) -> None:
            raise JournalFailed("disk full")

    s = Session()
    journal = FullDisk(tmp_path / "journal.sqlite")
    s.runner = LiveRunner(s.engine, {"script": s.gateway}, SETTINGS, journal=journal)
    async with s.running(60):
        order = s.limit_buy()
        await until(lambda: order.is_terminal, step=0.001)
        s.shutdown.set()
    assert order.status is S.DENIED and "journal_failed" in order.reason
    assert s.gateway.calls == []


# -- external orders ---------------------------------------------------------------------------

def _external(qty: str = "0.010", side: Side = Side.BUY, vid: str = "v-ext") -> OrderReport:
    """An open order of another client on the account, as the venue lists it."""
    return OrderReport(INST, 0, 0, "", vid, S.ACCEPTED, filled_qty=Decimal(0), side=side, qty=Decimal(qty),
                       price=Decimal("99"))


def _limits(**kw: Any) -> Any:
    from risk import InstrumentLimits, RiskConfig, RiskEngine

    position = kw.pop("max_position_qty", None)
    instruments = {INST.key: InstrumentLimits(max_position_qty=Decimal(position))} if position else {}
    return RiskEngine(RiskConfig(price_band_bps=None, instruments=instruments, **kw))


async def test_an_external_order_left_alone_is_counted_by_risk_and_never_canceled(
        autojump_clock: trio.testing.MockClock) -> None:
    """leave (the default): an alarm, no command, but open-order counts and position limits include it."""
    s = Session(risk=_limits(max_open_orders=2, max_position_qty="0.015"))
    s.gateway.open_list = [_external("0.010")]
    async with s.running():
        assert [a.kind for a in s.engine.alarms] == ["external_order"]
        assert "left alone" in s.engine.alarms[0].detail and "BUY 0.010" in s.engine.alarms[0].detail
        assert list(s.engine.external_orders) == ["v-ext"]
        adds = s.limit_buy("0.010")  # 0.010 external + 0.010 > 0.015 if both filled
        assert adds.status is S.DENIED and "max_position" in adds.reason
        sell = s.engine.submit_order("s", INST, Side.SELL, Decimal("0.010"), type=OrderType.LIMIT,
                                     price=Decimal("101"))
        s.gateway.answers["submit"].append(lambda o: report(o, S.ACCEPTED))
        await until(lambda: sell.status is S.ACCEPTED)
        third = s.engine.submit_order("s", INST, Side.SELL, Decimal("0.001"), type=OrderType.LIMIT,
                                      price=Decimal("101"))
        assert third.status is S.DENIED and "1 external" in third.reason  # 1 ours + 1 external = max 2
        assert "+ 1 external" in s.runner.status_line()
        s.gateway.answers["cancel"].append(lambda o: report(o, S.CANCELED))
        s.shutdown.set()
    assert [c for c in s.gateway.calls if c[0] == "cancel"] == [("cancel", sell.client_order_id)]


async def test_external_orders_policy_cancel_cancels_them_and_stops_counting_once_the_venue_drops_them(
        autojump_clock: trio.testing.MockClock) -> None:
    s = Session(attrs.evolve(SETTINGS, external_orders="cancel", open_orders_interval_s=5.0))
    s.gateway.open_list = [_external()]

    def canceled(o: Order) -> OrderReport:
        s.gateway.open_list.clear()
        return OrderReport(INST, 0, 0, "", o.venue_order_id, S.CANCELED)

    s.gateway.answers["cancel"].append(canceled)
    async with s.running():
        assert ("cancel", "ext-v-ext") in s.gateway.calls
        assert "canceling it" in s.engine.alarms[0].detail
        assert list(s.engine.external_orders) == ["v-ext"]  # counted until the venue stops listing it
        await until(lambda: not s.engine.external_orders)
        s.shutdown.set()
    assert [a.kind for a in s.engine.alarms] == ["external_order"]


async def test_an_adopted_external_order_is_tracked_booked_and_canceled_at_the_stop(
        autojump_clock: trio.testing.MockClock) -> None:
    s = Session(attrs.evolve(SETTINGS, external_orders_by_venue={"script": "adopt"}),
                risk=_limits(max_position_qty="0.015"))
    s.gateway.open_list = [_external("0.010")]
    async with s.running():
        adopted = next(o for o in s.engine.orders.values() if o.venue_order_id == "v-ext")
        assert adopted.strategy_id == "external" and adopted.status is S.ACCEPTED
        assert s.engine.external_orders == {} and s.runner.external_orders == {}
        assert s.limit_buy("0.010").status is S.DENIED  # counted as ours now
        s.gateway.sink.send_execution(Fill(INST, 0, 0, "", "v-ext", "x1", Side.BUY, Decimal("99"),
                                           Decimal("0.004"), Decimal(0), "USD", Liquidity.MAKER))
        await until(lambda: adopted.status is S.PARTIALLY_FILLED)
        s.gateway.answers["cancel"].append(lambda o: OrderReport(INST, 0, 0, "", "v-ext", S.CANCELED,
                                                                 filled_qty=Decimal("0.004")))
        s.shutdown.set()
    assert s.engine.portfolio.position(INST).qty == Decimal("0.004")
    assert adopted.status is S.CANCELED and ("cancel", adopted.client_order_id) in s.gateway.calls
    assert [a.kind for a in s.engine.alarms] == ["external_order"]


# -- positions and balances: the venue's truth ---------------------------------------------------

async def test_a_position_or_balance_that_differs_twice_in_a_row_is_an_alarm_then_the_venues(
        autojump_clock: trio.testing.MockClock) -> None:
    s = Session(attrs.evolve(SETTINGS, open_orders_interval_s=5.0))
    s.engine.portfolio.set_balance("USD", Decimal("1000"))
    s.gateway.balance_list = [BalanceUpdate("script", "", "USD", 0, 0, Decimal("1000"))]
    async with s.running():
        s.gateway.position_list = [PositionUpdate(INST, 0, 0, Decimal("0.020"), Decimal("100"))]
        s.gateway.balance_list = [BalanceUpdate("script", "", "USD", 0, 0, Decimal("990"))]
        await trio.sleep(5.5)  # one pass saw it: could be a fill on its way
        assert s.engine.alarms == [] and s.engine.portfolio.position(INST).qty == 0
        await trio.sleep(5.0)
        assert sorted(a.kind for a in s.engine.alarms) == ["balance_diff", "position_diff"]
        assert s.engine.portfolio.position(INST).qty == Decimal("0.020")
        assert s.engine.portfolio.balance("USD") == Decimal("990")
        await trio.sleep(10.0)
        assert len(s.engine.alarms) == 2  # corrected: nothing more to say
        s.shutdown.set()


async def test_the_account_is_not_corrected_while_an_order_is_working(autojump_clock: trio.testing.MockClock) -> None:
    s = Session(attrs.evolve(SETTINGS, open_orders_interval_s=5.0, cancel_on_exit=False))
    async with s.running():
        order = await s.working_buy()
        s.gateway.open_list = [report(order, S.PARTIALLY_FILLED, filled=Decimal("0.004"))]
        s.gateway.position_list = [PositionUpdate(INST, 0, 0, Decimal("0.004"), Decimal("100"))]
        await trio.sleep(20.0)  # the fill may be on its way: never "corrected" into a double booking
        assert s.engine.portfolio.position(INST).qty == 0
        assert [a.kind for a in s.engine.alarms] == []
        s.shutdown.set()


# -- a venue that stops answering ----------------------------------------------------------------

class HangingGateway(ScriptedGateway):
    """While :attr:`hang` is set every request runs into its timeout and the stream is silent."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = False
        self.list_attempts = 0

    async def _hang(self) -> None:
        if self.hang:
            await trio.sleep(10.0)
            raise OutcomeUnknown("request timed out", venue="script")

    async def _answer(self, kind: str, order: Order) -> OrderReport | None:
        if self.hang:
            self.calls.append((kind, order.client_order_id))
            await self._hang()
        return await super()._answer(kind, order)

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        self.list_attempts += 1
        await self._hang()
        return await super().open_orders(instrument)

    async def positions(self) -> Sequence[PositionUpdate]:
        await self._hang()
        return await super().positions()


async def test_a_silent_venue_is_reported_stale_nothing_is_assumed_failed_and_it_is_reconciled_when_back(
        autojump_clock: trio.testing.MockClock) -> None:
    gateway = HangingGateway()
    s = Session(attrs.evolve(SETTINGS, cancel_on_exit=False, stale_after_s=30.0, open_orders_interval_s=0),
                gateway=gateway)
    lines: list[str] = []
    async with s.running(300):
        working = await s.working_buy()
        gateway.open_list = [report(working, S.ACCEPTED)]
        gateway.hang = True
        in_doubt = s.limit_buy()  # its submit times out: UNKNOWN, never failed, never resent
        await until(lambda: s.runner.is_stale("script"), step=1.0)
        lines.append(s.runner.status_line())
        await trio.sleep(60.0)
        assert working.status is S.ACCEPTED and in_doubt.status is S.UNKNOWN
        assert [c for c in gateway.calls if c == ("submit", in_doubt.client_order_id)] == [
            ("submit", in_doubt.client_order_id)]
        gateway.answers["query"].append(lambda o: report(o, S.ACCEPTED))
        gateway.open_list.append(report(in_doubt, S.ACCEPTED))
        gateway.hang = False
        await until(lambda: not s.runner.is_stale("script"), step=0.1)
        await until(lambda: in_doubt.status is S.ACCEPTED, step=0.1)
        lines.append(s.runner.status_line())
        s.shutdown.set()
    assert "script STALE since " in lines[0] and "STALE" not in lines[1]
    assert [a.kind for a in s.engine.alarms] == ["venue_stale"]
    assert "open orders are not assumed failed" in s.engine.alarms[0].detail
    assert working.status is S.ACCEPTED and in_doubt.status is S.ACCEPTED


async def test_a_quiet_venue_that_answers_its_probe_is_never_stale(autojump_clock: trio.testing.MockClock) -> None:
    s = Session(attrs.evolve(SETTINGS, stale_after_s=30.0, open_orders_interval_s=0))
    async with s.running(600):
        await trio.sleep(300.0)  # no market data, no orders: only the probes talk to it
        s.shutdown.set()
    assert s.engine.alarms == [] and s.gateway.listings >= 300 // 30


async def test_a_stale_venue_heard_from_again_is_reconciled_at_once(autojump_clock: trio.testing.MockClock) -> None:
    """The stream comes back first: the open orders are listed right away, not at the next period."""
    gateway = HangingGateway()
    s = Session(attrs.evolve(SETTINGS, stale_after_s=30.0, open_orders_interval_s=0), gateway=gateway)
    async with s.running(300):
        gateway.hang = True
        await until(lambda: s.runner.is_stale("script"), step=1.0)
        await trio.sleep(10.5)  # the probe in flight runs into its timeout
        attempts = gateway.list_attempts
        gateway.hang = False
        gateway.sink.send_market(Trade(INST, 1, 1, INST.price_raw(Decimal("100")), INST.size_raw(Decimal("0.5"))))
        with trio.fail_after(0.5):  # no probe now (it was just heard from): only the recovery lists
            await until(lambda: gateway.list_attempts > attempts, step=0.01)
        assert not s.runner.is_stale("script")
        s.shutdown.set()


async def test_a_venue_still_stale_at_the_stop_is_named_in_the_summary_and_the_report(
        autojump_clock: trio.testing.MockClock) -> None:
    from backtest.live_report import live_record
    from engine._live_app import summary

    gateway = HangingGateway()
    s = Session(attrs.evolve(SETTINGS, stale_after_s=30.0), gateway=gateway)
    async with s.running(300):
        gateway.hang = True
        await until(lambda: s.runner.is_stale("script"), step=1.0)
        s.shutdown.set()
    assert "script STALE since" in summary(s.runner)
    assert "  STALE script: no answer since 20" in summary(s.runner)
    errors = live_record(s.runner, name="t", currency="USD").strategy_errors
    assert any(e.startswith("ALARM venue_stale: script: no answer") for e in errors)
    assert any(e.startswith("STALE script: no answer since ") for e in errors)


async def test_a_funding_payment_from_the_venue_is_booked_journaled_and_restored_once(
        autojump_clock: trio.testing.MockClock, tmp_path: Any) -> None:
    """The venue pays funding: the balance moves by its exact amount, once (a repeat is a duplicate);
    the journal keeps it, and a restarted run books it again from the journal (not twice)."""
    from engine import FundingPayment

    perp = Instrument(venue="script", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001",
                      kind="linear")
    payment = FundingPayment(perp, 5, 5, "f-1", "USD", Decimal("-0.0487524375"), Decimal("0.013"),
                             Decimal("30001.5"), Decimal("0.000125"))
    path = tmp_path / "journal.sqlite"
    first = Session()
    first.gateway.balance_list = [BalanceUpdate("script", "main", "USD", 0, 0, Decimal("100"), Decimal(0))]
    journal = OrderJournal(path, in_thread=False)
    first.runner = LiveRunner(first.engine, {"script": first.gateway}, SETTINGS, journal=journal)
    async with first.running() as nursery:
        first.gateway.sink.send_execution(payment)
        first.gateway.sink.send_execution(payment)  # the stream, then a poll
        await until(lambda: first.engine.portfolio.balance("USD") != Decimal("100"))
        await trio.sleep(0.1)
        await journal.flush()
        nursery.cancel_scope.cancel()
    journal.close()
    assert first.engine.portfolio.balance("USD") == Decimal("100") - Decimal("0.0487524375")
    assert first.engine.portfolio.funding_by_asset == {"USD": Decimal("-0.0487524375")}

    second = Session()
    journal = OrderJournal(path, in_thread=False)
    second.runner = LiveRunner(second.engine, {"script": second.gateway}, SETTINGS, restore=journal.restore,
                               journal=journal)
    async with second.running() as nursery:
        await until(lambda: second.runner._started)
        second.gateway.sink.send_execution(payment)  # delivered again after the restart: a duplicate
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    journal.close()
    assert second.engine.portfolio.funding_by_asset == {"USD": Decimal("-0.0487524375")}
