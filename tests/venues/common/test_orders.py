"""The order tracker: every venue fill out once whatever order the evidence comes in, and venue
answers that contradict our state move the record."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given, settings, strategies as st

from engine import BalanceUpdate, Fill, Instrument, Liquidity, OrderReport, OrderStatus, PositionUpdate, Side
from venues._common.orders import (
    AccountTracker,
    Candidate,
    OrderTracker,
    TrackedOrder,
    match_candidate,
    resolve_by_matching,
)

INST = Instrument(venue="test", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")
ETH = Instrument(venue="test", symbol="ETH/USD", base="ETH", quote="USD", tick_size="0.01", lot_size="0.001")
S = OrderStatus


class Sink:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def send_execution(self, event: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if type(e) is kind]


def fill(venue_id: str, trade_id: str, qty: str, inst: Instrument = INST, cid: str = "") -> Fill:
    return Fill(inst, 1, 2, cid, venue_id, trade_id, Side.BUY, Decimal(100), Decimal(qty), Decimal(0), "USD",
                Liquidity.TAKER)


def report(cid: str, venue_id: str, status: OrderStatus, filled: str | None,
           fills: tuple[Fill, ...] = ()) -> OrderReport:
    return OrderReport(INST, 1, 2, cid, venue_id, status, Decimal(filled) if filled is not None else None,
                       fills=fills)


def test_a_fill_of_an_order_in_flight_is_held_until_the_answer_names_it() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    tracker.begin_send("BTC/USD")
    assert not tracker.consider_fill(fill("v1", "t1", "0.5"))  # whose? not known yet
    assert sink.events == [] and tracker.held_fills == 1
    tracker.end_send("BTC/USD", settle=False)
    tracked = tracker.track("c1", INST, side=Side.BUY, venue_type="LIMIT", qty=Decimal(1), price=Decimal(100))
    tracker.record(tracked, report("c1", "v1", S.PARTIALLY_FILLED, "0.5"))
    (out,) = sink.of(Fill)
    assert (out.client_order_id, out.trade_id) == ("c1", "t1")  # released, named
    assert not tracker.consider_fill(fill("v1", "t1", "0.5"))  # the poll brings it again
    assert len(sink.of(Fill)) == 1 and tracker.held_fills == 0


def test_a_held_fill_of_someone_elses_order_goes_out_once_the_symbol_settles() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    tracker.begin_send("BTC/USD")
    tracker.consider_fill(fill("other", "t9", "1"))
    tracker.consider_fill(fill("e1", "t10", "1", inst=ETH))  # another symbol: nothing in flight there
    assert [f.trade_id for f in sink.of(Fill)] == ["t10"]
    tracker.end_send("BTC/USD")  # a definite rejection: nothing of ours on the symbol
    assert [f.trade_id for f in sink.of(Fill)] == ["t10", "t9"]


def test_an_unresolved_order_keeps_fills_back_until_adopted_or_found_absent() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    tracker.begin_send("BTC/USD")
    tracked = tracker.track("c1", INST, side=Side.BUY, venue_type="MARKET", qty=Decimal(1), sent_ms=1000)
    tracker.end_send("BTC/USD", settle=False)
    tracker.mark_unresolved(tracked)
    assert tracked.status is S.UNKNOWN and tracker.unresolved == (tracked,)
    tracker.consider_fill(fill("v7", "t1", "1"))
    assert sink.events == []
    tracker.adopt(tracked, "v7")
    assert [(f.client_order_id, f.qty) for f in sink.of(Fill)] == [("c1", Decimal(1))]
    assert not tracker.unresolved and tracker.client_id_of("v7") == "c1"

    other = tracker.track("c2", INST, side=Side.SELL, venue_type="MARKET", qty=Decimal(1), sent_ms=2000)
    tracker.mark_unresolved(other)
    tracker.consider_fill(fill("v8", "t2", "1"))
    tracker.not_found(other)  # the venue never had it: the held fill is someone else's
    assert other.status is S.REJECTED and sink.of(Fill)[-1].client_order_id == ""


def test_provisional_answer_fills_are_netted_against_the_real_trades() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    tracked = tracker.track("c1", INST, side=Side.BUY, venue_type="MARKET", qty=Decimal(3))
    answer = report("c1", "v1", S.FILLED, "3", fills=(fill("v1", "v1#1", "2", cid="c1"),))
    tracker.record(tracked, answer, provisional=lambda f: f.trade_id.startswith("v1#"))
    assert tracked.provisional_qty == 2
    assert not tracker.consider_fill(fill("v1", "t1", "1.5"))  # inside what the answer said
    assert tracker.consider_fill(fill("v1", "t2", "1.5"))
    assert [f.qty for f in sink.of(Fill)] == [Decimal("1.0")]  # the part the answer did not carry


def test_reports_go_out_only_when_something_changed() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    tracked = tracker.track("c1", INST, venue_order_id="v1")
    assert tracker.update(tracked, report("", "v1", S.ACCEPTED, "0"))
    assert not tracker.update(tracked, report("", "v1", S.ACCEPTED, "0"))
    assert tracker.update(tracked, report("", "v1", S.PARTIALLY_FILLED, "0.2"))
    assert [r.client_order_id for r in sink.of(OrderReport)] == ["c1", "c1"]  # named as ours
    assert tracker.open == {"v1": tracked}


def test_a_filled_answer_we_did_not_expect_moves_the_record() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    tracked = tracker.track("c1", INST, qty=Decimal(1), side=Side.BUY, venue_order_id="v1")
    tracker.update(tracked, report("c1", "v1", S.PENDING_CANCEL, "0"))
    # the cancel is refused: already filled; the venue's answer is the truth
    tracker.record(tracked, report("c1", "v1", S.FILLED, "1"))
    assert tracked.status is S.FILLED and tracked.filled == 1 and "v1" not in tracker.open
    assert tracker.consider_fill(fill("v1", "t1", "1"))  # the fill still goes out, once
    tracker.update(tracked, report("c1", "v1", S.ACCEPTED, "0"))  # a stale poll row
    assert tracked.status is S.FILLED


def test_an_order_the_venue_no_longer_has_is_settled() -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    resting = tracker.track("c1", INST, side=Side.BUY, qty=Decimal(2), venue_order_id="v1")
    tracker.update(resting, report("c1", "v1", S.PARTIALLY_FILLED, "1"))
    assert tracker.gone(resting, 5, "404")
    assert (resting.status, sink.of(OrderReport)[-1].status) == (S.CANCELED, S.CANCELED)
    done = tracker.track("c2", INST, side=Side.BUY, qty=Decimal(2), venue_order_id="v2")
    tracker.update(done, report("c2", "v2", S.PARTIALLY_FILLED, "2"))
    tracker.gone(done, 5, "404")
    assert done.status is S.FILLED and tracker.open == {}


def test_note_forgets_a_settled_order_once_its_fills_are_seen() -> None:
    tracker = OrderTracker()
    tracker.track("c1", INST)
    assert tracker.note(report("c1", "v1", S.FILLED, "1")) is not None
    assert tracker.get("c1") is not None  # FILLED, but the fill itself not seen yet
    tracker.note(report("", "v1", S.FILLED, "1", fills=(fill("v1", "t1", "1"),)))
    assert tracker.get("c1") is None and tracker.note(report("c9", "v9", S.FILLED, "1")) is None
    assert tracker.seen("BTC/USD", "t1")


def test_seen_fill_memory_and_terminal_orders_are_bounded() -> None:
    tracker = OrderTracker(fills_kept=2, retired_kept=1)
    for trade in ("a", "b", "c"):
        assert tracker.note_seen("BTC/USD", trade)
    assert not tracker.seen("BTC/USD", "a") and tracker.seen("BTC/USD", "c")
    first = tracker.track("c1", INST, venue_order_id="v1")
    tracker.set_status(first, S.FILLED)
    second = tracker.track("c2", INST, venue_order_id="v2")
    tracker.set_status(second, S.CANCELED)
    assert tracker.get("c1") is None and tracker.by_venue_id("v1") is None and tracker.get("c2") is second


async def test_matching_adopts_the_earliest_unclaimed_candidate() -> None:
    tracker = OrderTracker()
    claimed = tracker.track("c0", INST, venue_order_id="v0")
    tracked = tracker.track("c1", INST, side=Side.BUY, venue_type="LIMIT", qty=Decimal(1), price=Decimal(100),
                            sent_ms=10_000)
    tracker.mark_unresolved(tracked)

    def cand(venue_id: str, created: int, **kw: Any) -> Candidate:
        base = dict(venue_order_id=venue_id, side=Side.BUY, venue_type="LIMIT", qty=Decimal(1),
                    price=Decimal(100), created_ms=created)
        return Candidate(**{**base, **kw})

    def matches(t: TrackedOrder, c: Candidate) -> bool:
        return match_candidate(t, c, window_ms=5000, slack_ms=2000)

    assert matches(tracked, cand("x", 8000)) and matches(tracked, cand("x", 17_000))
    assert not matches(tracked, cand("x", 7999)) and not matches(tracked, cand("x", 17_001))
    for wrong in (dict(side=Side.SELL), dict(venue_type="MARKET"), dict(qty=Decimal(2)), dict(price=Decimal(101))):
        assert not matches(tracked, cand("x", 10_000, **wrong))
    assert matches(tracked, cand("x", 10_000, price=None))

    asked: list[str] = []

    async def open_list(t: TrackedOrder) -> list[Candidate]:
        asked.append("open")
        return [cand("far", 30_000)]

    async def trades(t: TrackedOrder) -> list[Candidate]:
        asked.append("trades")
        return [cand("v3", 12_000), cand(claimed.venue_order_id, 9_000), cand("v2", 11_000)]

    assert await resolve_by_matching(tracker, tracked, [open_list, trades], matches) == "v2"
    assert asked == ["open", "trades"] and tracked.venue_order_id == "v2" and not tracked.unresolved
    lost = tracker.track("c4", INST, side=Side.BUY, venue_type="LIMIT", qty=Decimal(1), sent_ms=10_000)
    assert await resolve_by_matching(tracker, lost, [open_list], matches) == ""


def test_the_account_emits_changes_and_zeroes_a_position_that_disappeared() -> None:
    sink = Sink()
    account = AccountTracker(sink)
    balance = BalanceUpdate("test", "main", "USD", 1, 1, Decimal(10))
    assert account.note_balance(balance) and not account.note_balance(attrs.evolve(balance, ts_event=9))
    assert account.note_balance(attrs.evolve(balance, locked=Decimal(1)))
    long = PositionUpdate(INST, 1, 1, Decimal("0.5"), Decimal(100))
    account.note_positions([long, PositionUpdate(ETH, 1, 1, Decimal(2), Decimal(10))], 5)
    account.note_positions([long], 6)
    zero = sink.of(PositionUpdate)[-1]
    assert (zero.instrument, zero.qty, zero.ts_event) == (ETH, 0, 6)
    assert account.position_symbols == {"BTC/USD"} and len(sink.of(PositionUpdate)) == 3


# -- random interleavings of venue evidence ---------------------------------------------------

@attrs.define
class VenueOrder:
    cid: str
    venue_id: str
    qty: Decimal
    fills: list[Fill]
    final: OrderStatus
    answer_lost: bool
    provisional: bool

    @property
    def filled(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))


@st.composite
def venue_orders(draw: st.DrawFn) -> list[VenueOrder]:
    orders = []
    for i in range(draw(st.integers(1, 4))):
        sizes = draw(st.lists(st.integers(1, 3), max_size=3))
        qty = Decimal(sum(sizes) + draw(st.integers(0, 2)))
        fills = [fill(f"v{i}", f"t{i}.{k}", str(size)) for k, size in enumerate(sizes)]
        final = S.FILLED if sum(sizes) == qty else draw(st.sampled_from([S.CANCELED, S.ACCEPTED]))
        if final is S.ACCEPTED and sizes:
            final = S.PARTIALLY_FILLED
        orders.append(VenueOrder(f"c{i}", f"v{i}", qty, fills, final, draw(st.booleans()),
                                 draw(st.booleans()) and bool(sizes)))
    return orders


@settings(max_examples=300, deadline=None, derandomize=True)
@given(orders=venue_orders(), data=st.data())
def test_every_venue_fill_goes_out_once_in_any_order_of_evidence(orders: list[VenueOrder], data: st.DataObject) -> None:
    sink = Sink()
    tracker = OrderTracker(sink)
    foreign = fill("x", "foreign", "1")
    for order in orders:
        tracker.begin_send("BTC/USD")
    records: dict[str, TrackedOrder] = {}
    answered_qty: dict[str, Decimal] = {o.cid: Decimal(0) for o in orders}

    def answer(order: VenueOrder) -> None:
        tracked = tracker.track(order.cid, INST, side=Side.BUY, venue_type="LIMIT", qty=order.qty)
        records[order.cid] = tracked
        if order.answer_lost:
            tracker.end_send("BTC/USD", settle=False)
            tracker.mark_unresolved(tracked)
            return
        tracker.end_send("BTC/USD", settle=False)
        fills: tuple[Fill, ...] = ()
        if order.provisional:  # the answer says the first fill happened, without its trade id
            first = order.fills[0]
            fills = (attrs.evolve(first, trade_id=f"{order.venue_id}#1", client_order_id=order.cid),)
            answered_qty[order.cid] = first.qty
        status = S.PARTIALLY_FILLED if fills else S.ACCEPTED
        tracker.record(tracked, report(order.cid, order.venue_id, status, str(sum(f.qty for f in fills)), fills),
                       provisional=lambda f: "#" in f.trade_id)

    def adopted(order: VenueOrder) -> TrackedOrder | None:
        tracked = records.get(order.cid)
        return tracked if tracked is not None and tracked.venue_order_id else None

    # the evidence: each order's answer (and, if lost, its resolution by query), each fill by the
    # stream and again by a poll, final states by poll, a refused cancel, a 404, a foreign fill
    steps: list[tuple[str, Any]] = [("fill", foreign)]
    for order in orders:
        steps.append(("answer", order))
        if order.answer_lost:
            steps.append(("resolve", order))
        for f in order.fills:
            steps += [("fill", f), ("fill", f)]
        steps.append(("final", order))
        if order.final is S.FILLED:
            steps.append(("cancel_refused", order))
        if order.final is S.CANCELED:
            steps.append(("404", order))
    steps = data.draw(st.permutations(steps))
    # an order is answered (or its loss known) before it can be resolved or reported
    for kind, order in steps:
        if kind == "fill":
            tracker.consider_fill(order)
        elif kind == "answer":
            answer(order)
        elif kind == "resolve" and order.cid in records:
            tracker.adopt(records[order.cid], order.venue_id)
        elif kind in ("final", "cancel_refused", "404") and (tracked := adopted(order)) is not None:
            if kind == "404":
                tracker.gone(tracked, 9, "404")
            elif kind == "cancel_refused":
                tracker.record(tracked, report(order.cid, order.venue_id, S.FILLED, str(order.filled)))
            else:
                tracker.update(tracked, report("", order.venue_id, order.final, str(order.filled)))
    # what the engine does afterwards: resolve what is still unknown, and a final reconcile
    for order in orders:
        if order.answer_lost and records[order.cid].unresolved:
            tracker.adopt(records[order.cid], order.venue_id)
        tracker.update(records[order.cid], report("", order.venue_id, order.final, str(order.filled)))
        for f in order.fills:
            tracker.consider_fill(f)
    tracker.consider_fill(foreign)

    emitted = sink.of(Fill)
    assert len({f.trade_id for f in emitted}) == len(emitted)  # nothing twice
    for order in orders:
        mine = [f for f in emitted if f.venue_order_id == order.venue_id]
        assert all(f.client_order_id == order.cid for f in mine)  # every fill named
        assert sum((f.qty for f in mine), Decimal(0)) + answered_qty[order.cid] == order.filled
        tracked = records[order.cid]
        assert (tracked.status, tracked.filled) == (order.final, order.filled)
        assert (order.venue_id in tracker.open) == (not order.final.is_terminal)
    assert [f.client_order_id for f in emitted if f.trade_id == "foreign"] == [""]
    assert tracker.held_fills == 0 and tracker.unresolved == ()
