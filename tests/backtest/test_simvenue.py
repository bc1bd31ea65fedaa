"""The simulated venue's fill model, rule by rule, against a sink that applies the order state machine."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from backtest.matching import SelfTradePrevention
from backtest.simvenue import BarFillMode, SimVenue, SimVenueConfig
from engine import Bar, BookDelta, BookSnapshot, Instrument, Liquidity, Order, OrderStatus, OrderType, Quote, Side, TimeInForce, Trade
from engine import L2Book

BUY, SELL = Side.BUY, Side.SELL
MKT, LMT, STP, STL = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT
IOC, FOK = TimeInForce.IOC, TimeInForce.FOK
M, T = Liquidity.MAKER, Liquidity.TAKER

# tick 0.5 (price_scale 1: 100.0 -> 1000), lot 0.001 (size_scale 3: 1.000 -> 1000)
INST = Instrument("sim", "BTC/USD", "BTC", "USD", "0.5", "0.001", kind="linear", maker_fee="0.0002", taker_fee="0.0005",
                  min_qty="0.002", max_qty="100")
INV = Instrument("sim", "BTCUSD-INV", "BTC", "USD", "0.5", "1", kind="inverse", multiplier="100",
                 maker_fee="-0.00025", taker_fee="0.00075")
GHOST = Instrument("elsewhere", "X/Y", "X", "Y", "1", "1")


class Sink:
    """Records every report and applies it to the order, so an invalid transition fails the test."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.fills: list[tuple[str, int, int, int, Liquidity, Decimal, str]] = []

    def on_accepted(self, order: Order, ts_ns: int, venue_order_id: str) -> None:
        order.venue_order_id = venue_order_id
        order.apply(OrderStatus.ACCEPTED, ts_ns)
        self.log.append(("accepted", order.client_order_id, ts_ns, venue_order_id))

    def on_rejected(self, order: Order, ts_ns: int, reason: str) -> None:
        order.apply(OrderStatus.REJECTED, ts_ns, reason)
        self.log.append(("rejected", order.client_order_id, ts_ns, reason))

    def on_canceled(self, order: Order, ts_ns: int, reason: str) -> None:
        order.apply(OrderStatus.CANCELED, ts_ns, reason)
        self.log.append(("canceled", order.client_order_id, ts_ns, reason))

    def on_expired(self, order: Order, ts_ns: int, reason: str) -> None:
        order.apply(OrderStatus.EXPIRED, ts_ns, reason)
        self.log.append(("expired", order.client_order_id, ts_ns, reason))

    def on_cancel_rejected(self, order: Order, ts_ns: int, reason: str) -> None:
        self.log.append(("cancel_rejected", order.client_order_id, ts_ns, reason))

    def on_fill(self, order: Order, ts_ns: int, price_raw: int, size_raw: int, liquidity: Liquidity, fee: Decimal,
                trade_id: str) -> None:
        order.add_fill(price_raw, size_raw)
        status = OrderStatus.FILLED if order.leaves_raw == 0 else OrderStatus.PARTIALLY_FILLED
        if not order.is_terminal and order.status is not OrderStatus.PENDING_CANCEL:
            order.apply(status, ts_ns)
        self.fills.append((order.client_order_id, ts_ns, price_raw, size_raw, liquidity, fee, trade_id))
        self.log.append(("fill", order.client_order_id, ts_ns, price_raw, size_raw, liquidity, fee, trade_id))

    def events(self, cid: str) -> list[str]:
        return [e[0] for e in self.log if e[1] == cid]

    def fills_of(self, cid: str) -> list[tuple[int, int, Liquidity]]:
        """(price, size, liquidity) of each fill of ``cid``."""
        return [(f[2], f[3], f[4]) for f in self.fills if f[0] == cid]

    def reason(self, cid: str) -> str:
        return str([e for e in self.log if e[1] == cid and e[0] not in ("fill", "accepted")][-1][3])


_ids = iter(range(1, 1_000_000))


def order(side: Side, type: OrderType, qty: int, price: int | None = None, trigger: int | None = None, *,
          cid: str | None = None, inst: Instrument = INST, **kw: Any) -> Order:
    o = Order(cid or f"o{next(_ids)}", inst, side, type, qty, price_raw=price, trigger_raw=trigger, **kw)
    o.apply(OrderStatus.SUBMITTED, 0)
    return o


def status(o: Order) -> OrderStatus:
    """``o.status`` read afresh (a plain attribute read keeps mypy's narrowing from an earlier assert)."""
    return o.status


def venue(inst: Instrument = INST, **config: Any) -> tuple[SimVenue, Sink]:
    sink = Sink()
    others = [i for i in (INST, INV) if i is not inst]
    return SimVenue([inst, *others], sink, SimVenueConfig(**config)), sink


def send(sim: SimVenue, o: Order, now: int = 0) -> Order:
    sim.submit(o, now)
    return o


def trade(sim: SimVenue, ts: int, price: int, size: int = 1_000_000, inst: Instrument = INST) -> None:
    sim.advance(ts)
    sim.on_trade(Trade(inst, ts - 1, ts, price, size))


def quote(sim: SimVenue, ts: int, bid: int, bid_size: int, ask: int, ask_size: int) -> None:
    sim.advance(ts)
    sim.on_quote(Quote(INST, ts - 1, ts, bid, bid_size, ask, ask_size))


def bar(sim: SimVenue, open_ns: int, o: int, h: int, lo: int, c: int, interval: int = 60) -> None:
    """A bar opening at ``open_ns`` and received at its close ``open_ns + interval``."""
    sim.advance(open_ns + interval)
    sim.on_bar(Bar(INST, open_ns, open_ns + interval, o, h, lo, c, 1_000, interval))


class Books:
    """Drives an engine-style L2Book and tells the venue after each update."""

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim
        self.book = L2Book(INST)
        self.seq = 0

    def snapshot(self, ts: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.seq += 1
        self.sim.advance(ts)
        self.book.apply_snapshot(BookSnapshot(INST, ts, ts, self.seq, tuple(bids), tuple(asks)))
        self.sim.on_book(self.book)

    def delta(self, ts: int, bids: list[tuple[int, int]] = (), asks: list[tuple[int, int]] = (), skip: int = 0) -> None:  # type: ignore[assignment]
        self.seq += 1 + skip
        self.sim.advance(ts)
        self.book.apply_delta(BookDelta(INST, ts, ts, self.seq, tuple(bids), tuple(asks)))
        self.sim.on_book(self.book)


# -- commands, latency, activity -------------------------------------------------------------


def test_idle_until_something_is_sent() -> None:
    sim, sink = venue()
    assert not sim.active
    o = send(sim, order(BUY, MKT, 1_000), now=5)
    assert sim.active and sim.pending_commands == 1
    trade(sim, 10, 1000)
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T)]
    assert not sim.active and sim.pending_commands == 0 and sim.open_orders() == []


def test_market_order_fills_at_the_next_trade() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, MKT, 2_000), now=5)
    trade(sim, 10, 1010, size=1)  # the print's size does not limit a market order
    assert sink.log == [
        ("accepted", o.client_order_id, 5, "sim-o1"),
        ("fill", o.client_order_id, 10, 1010, 2_000, T, Decimal("101.0") * Decimal("2.000") * Decimal("0.0005"),
         "sim-1"),
    ]
    assert o.status is OrderStatus.FILLED and o.venue_order_id == "sim-o1"


def test_latency_delays_arrival() -> None:
    sim, sink = venue(order_latency_ns=50)
    o = send(sim, order(BUY, MKT, 1_000), now=100)
    trade(sim, 120, 1000)
    assert sink.log == [] and o.status is OrderStatus.SUBMITTED
    trade(sim, 149, 1001)
    assert sink.log == []
    trade(sim, 150, 1002)  # arrives exactly now: before this print
    assert sink.fills_of(o.client_order_id) == [(1002, 1_000, T)]
    assert sink.log[0] == ("accepted", o.client_order_id, 150, "sim-o1")


def test_commands_are_handled_in_arrival_order() -> None:
    sim, sink = venue(order_latency_ns=10)
    o = send(sim, order(BUY, LMT, 1_000, 990), now=0)
    sim.cancel(o, 5)
    trade(sim, 12, 1000)  # the order arrived at 10 and met the market; the cancel arrives at 15
    assert o.status is OrderStatus.ACCEPTED
    trade(sim, 16, 985)  # cancel handled first (arrived at 15): no fill
    assert sink.events(o.client_order_id) == ["accepted", "canceled"] and sink.fills == []


def test_cancel_of_a_filled_order_is_rejected() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, MKT, 1_000))
    trade(sim, 1, 1000)
    sim.cancel(o, 2)
    sim.advance(2)
    assert sink.log[-1][0] == "cancel_rejected" and "not open" in sink.log[-1][3]
    assert o.status is OrderStatus.FILLED


def test_cancel_before_first_contact() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 1_000, 990))
    sim.cancel(o, 0)
    sim.advance(0)
    assert sink.events(o.client_order_id) == ["canceled"] and not sim.active


def test_cancel_all_for_one_instrument() -> None:
    sim, sink = venue()
    a = send(sim, order(BUY, LMT, 1_000, 990))
    b = send(sim, order(SELL, STP, 1_000, trigger=950))
    c = send(sim, order(BUY, LMT, 1, 5, inst=INV))
    trade(sim, 1, 1000)
    sim.cancel_all(INST, 2)
    sim.advance(2)
    assert a.status is OrderStatus.CANCELED and b.status is OrderStatus.CANCELED
    assert c.status is OrderStatus.SUBMITTED and sim.open_orders() == [c] and sim.open_orders(INST) == []


def test_a_fill_can_beat_a_cancel_still_in_flight() -> None:
    sim, sink = venue(order_latency_ns=10)
    o = send(sim, order(BUY, LMT, 3_000, 990), now=0)
    trade(sim, 10, 1000)
    sim.cancel(o, 11)  # arrives at 21
    trade(sim, 15, 985, size=1_000)  # fills part of it before the cancel arrives
    sim.advance(21)
    assert sink.events(o.client_order_id) == ["accepted", "fill", "canceled"]
    assert o.status is OrderStatus.CANCELED and o.filled_raw == 1_000
    sim.cancel(o, 30)
    sim.advance(40)
    assert sink.log[-1][0] == "cancel_rejected"


def test_instruments_do_not_mix() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, MKT, 1_000))
    trade(sim, 1, 1000, inst=INV)
    assert sink.log == []
    trade(sim, 2, 1005)
    assert sink.fills_of(o.client_order_id) == [(1005, 1_000, T)]


# -- arrival checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: order(BUY, MKT, 1_000, inst=GHOST), "unknown instrument elsewhere:X/Y"),
        (lambda: order(BUY, MKT, 0), "quantity must be positive"),
        (lambda: order(BUY, MKT, 2_500), None),  # a valid one, for contrast
        (lambda: order(BUY, MKT, 1), "below the minimum"),
        (lambda: order(BUY, MKT, 100_001), "above the maximum"),
        (lambda: order(BUY, LMT, 1_000, 1003), "not on the tick 0.5"),
        (lambda: order(BUY, LMT, 1_000), "needs a positive price"),
        (lambda: order(BUY, STP, 1_000), "needs a positive trigger"),
        (lambda: order(BUY, STP, 1_000, trigger=1001), "trigger price 100.1 is not on the tick"),
        (lambda: order(BUY, MKT, 1_000, post_only=True), "post-only needs a GTC limit"),
        (lambda: order(SELL, LMT, 1_000, 1000, reduce_only=True), "reduce-only order would increase the position"),
    ],
)
def test_arrival_rejections(make: Any, reason: str | None) -> None:
    sim, sink = venue()
    o = send(sim, make())
    sim.advance(0)
    if reason is None:
        assert sink.log == [] and sim.open_orders() == [o]
    else:
        assert sink.log == [("rejected", o.client_order_id, 0, sink.reason(o.client_order_id))]
        assert reason in sink.reason(o.client_order_id) and o.status is OrderStatus.REJECTED


def test_off_lot_quantity_is_rejected() -> None:
    lot = Instrument("sim", "LOT", "A", "B", "1", "0.5")  # lot 0.5 at size_scale 1: raw multiples of 5
    sim = SimVenue([lot], Sink())
    bad = send(sim, order(BUY, MKT, 7, inst=lot))
    good = send(sim, order(BUY, MKT, 15, inst=lot))
    sim.advance(0)
    assert bad.status is OrderStatus.REJECTED and "quantity 0.7 is not a multiple of the lot size 0.5" in bad.reason
    assert good.status is OrderStatus.SUBMITTED and sim.open_orders() == [good]


def test_duplicate_client_order_id_is_rejected() -> None:
    sim, sink = venue()
    send(sim, order(BUY, LMT, 1_000, 990, cid="same"))
    sim.advance(0)
    dup = send(sim, order(BUY, LMT, 1_000, 990, cid="same"))
    sim.advance(0)
    assert dup.status is OrderStatus.REJECTED and "duplicate" in dup.reason


# -- trade data ------------------------------------------------------------------------------


def test_resting_limit_needs_a_print_strictly_through_it() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 3_000, 990))
    trade(sim, 1, 1000)  # first contact: not marketable, rests
    assert o.status is OrderStatus.ACCEPTED
    trade(sim, 2, 990)  # at the price: others were ahead of us
    assert sink.fills == []
    trade(sim, 3, 985, size=1_000)  # through: fills at our price, at most the print's size
    trade(sim, 4, 980, size=5_000)
    assert sink.fills_of(o.client_order_id) == [(990, 1_000, M), (990, 2_000, M)]
    assert status(o) is OrderStatus.FILLED


def test_without_trade_through_a_print_at_the_price_fills() -> None:
    sim, sink = venue(trade_through=False)
    o = send(sim, order(SELL, LMT, 3_000, 1010))
    trade(sim, 1, 1000)
    trade(sim, 2, 1010, size=2_000)
    assert sink.fills_of(o.client_order_id) == [(1010, 2_000, M)]
    assert o.status is OrderStatus.PARTIALLY_FILLED


def test_a_print_is_shared_by_our_resting_orders_in_price_time_priority() -> None:
    sim, sink = venue()
    a = send(sim, order(BUY, LMT, 2_000, 990))
    b = send(sim, order(BUY, LMT, 2_000, 990))
    c = send(sim, order(BUY, LMT, 2_000, 995))
    trade(sim, 1, 1000)
    trade(sim, 2, 980, size=5_000)
    assert [(f[0], f[2], f[3]) for f in sink.fills] == [
        (c.client_order_id, 995, 2_000), (a.client_order_id, 990, 2_000), (b.client_order_id, 990, 1_000)]


def test_marketable_limit_takes_at_the_print_on_first_contact() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 2_000, 1010))
    trade(sim, 1, 1000, size=1)
    assert sink.fills_of(o.client_order_id) == [(1000, 2_000, T)]


def test_limit_at_the_print_is_not_marketable_with_trade_through() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 2_000, 1000))
    trade(sim, 1, 1000)
    assert o.status is OrderStatus.ACCEPTED and sink.fills == []
    sim2, sink2 = venue(trade_through=False)
    o2 = send(sim2, order(BUY, LMT, 2_000, 1000))
    trade(sim2, 1, 1000)
    assert sink2.fills_of(o2.client_order_id) == [(1000, 2_000, T)]


def test_ioc_fok_and_post_only_on_first_contact() -> None:
    sim, sink = venue()
    ioc = send(sim, order(BUY, LMT, 1_000, 990, time_in_force=IOC))
    fok = send(sim, order(BUY, LMT, 1_000, 990, time_in_force=FOK))
    fok_ok = send(sim, order(BUY, LMT, 1_000, 1010, time_in_force=FOK))
    po = send(sim, order(BUY, LMT, 1_000, 1010, post_only=True))
    po_ok = send(sim, order(BUY, LMT, 1_000, 990, post_only=True))
    trade(sim, 1, 1000)
    assert sink.events(ioc.client_order_id) == ["accepted", "expired"]
    assert sink.events(fok.client_order_id) == ["accepted", "expired"]
    assert sink.events(fok_ok.client_order_id) == ["accepted", "fill"]
    assert sink.events(po.client_order_id) == ["rejected"] and "post-only" in po.reason
    assert sink.events(po_ok.client_order_id) == ["accepted"]


def test_stop_market_triggers_on_the_print_and_fills_there() -> None:
    sim, sink = venue()
    buy = send(sim, order(BUY, STP, 1_000, trigger=1010))
    sell = send(sim, order(SELL, STP, 1_000, trigger=990))
    trade(sim, 1, 1000)
    assert buy.status is OrderStatus.ACCEPTED and sell.status is OrderStatus.ACCEPTED
    trade(sim, 2, 1005)
    assert sink.fills == []
    trade(sim, 3, 1020)  # jumps past the trigger: fills at the print, not the trigger
    trade(sim, 4, 990)  # touches the sell trigger
    assert sink.fills_of(buy.client_order_id) == [(1020, 1_000, T)]
    assert sink.fills_of(sell.client_order_id) == [(990, 1_000, T)]


def test_stop_past_its_trigger_on_arrival_triggers_at_once() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, STP, 1_000, trigger=990))
    trade(sim, 1, 1000)
    assert sink.events(o.client_order_id) == ["accepted", "fill"]
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T)]


def test_stop_limit_triggers_then_rests_then_fills_as_maker() -> None:
    sim, sink = venue()
    o = send(sim, order(SELL, STL, 2_000, 980, 990))  # trigger 99.0, limit 98.0
    trade(sim, 1, 1000)
    trade(sim, 2, 975)  # triggers at 97.5: the limit 98.0 is above the print, so it rests
    assert sink.fills == [] and o.status is OrderStatus.ACCEPTED
    trade(sim, 3, 985, size=1_500)  # through 98.0 from below: fills at 98.0
    assert sink.fills_of(o.client_order_id) == [(980, 1_500, M)]


def test_stop_limit_marketable_when_triggered_takes_at_the_print() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, STL, 2_000, 1030, 1010))
    trade(sim, 1, 1000)
    trade(sim, 2, 1015, size=1)
    assert sink.fills_of(o.client_order_id) == [(1015, 2_000, T)]


def test_one_print_handles_our_orders_in_the_order_the_price_meets_them() -> None:
    sim, sink = venue()
    high_bid = send(sim, order(BUY, LMT, 1_000, 995))
    stop = send(sim, order(SELL, STP, 1_000, trigger=990))
    low_bid = send(sim, order(BUY, LMT, 1_000, 985))
    trade(sim, 1, 1000)
    trade(sim, 2, 980, size=10_000)
    assert [f[0] for f in sink.fills] == [high_bid.client_order_id, stop.client_order_id, low_bid.client_order_id]
    assert sink.fills_of(stop.client_order_id) == [(980, 1_000, T)]


def test_market_on_trade_data_after_a_rest() -> None:
    sim, sink = venue()
    o = send(sim, order(SELL, MKT, 1_000, time_in_force=IOC))
    trade(sim, 1, 1000)
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T)] and o.status is OrderStatus.FILLED


# -- quote data ------------------------------------------------------------------------------


def test_market_takes_the_touch_size_then_waits_for_the_next_quote() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, MKT, 5_000))
    quote(sim, 1, 995, 9_000, 1000, 2_000)
    assert sink.fills_of(o.client_order_id) == [(1000, 2_000, T)]
    quote(sim, 2, 995, 9_000, 1000, 2_000)  # the same touch: what we took is still taken
    assert len(sink.fills) == 1
    quote(sim, 3, 1000, 9_000, 1005, 10_000)
    assert sink.fills_of(o.client_order_id) == [(1000, 2_000, T), (1005, 3_000, T)]
    assert o.status is OrderStatus.FILLED


def test_taken_touch_is_restored_when_its_size_changes() -> None:
    sim, sink = venue()
    a = send(sim, order(BUY, MKT, 2_000))
    quote(sim, 1, 995, 9_000, 1000, 2_000)
    b = send(sim, order(BUY, MKT, 1_000), now=1)
    quote(sim, 2, 995, 9_000, 1000, 2_500)
    assert sink.fills_of(a.client_order_id) == [(1000, 2_000, T)]
    assert sink.fills_of(b.client_order_id) == [(1000, 1_000, T)]


def test_ioc_market_remainder_expires_on_quote_data() -> None:
    sim, sink = venue()
    o = send(sim, order(SELL, MKT, 5_000, time_in_force=IOC))
    quote(sim, 1, 995, 2_000, 1000, 9_000)
    assert sink.fills_of(o.client_order_id) == [(995, 2_000, T)]
    assert o.status is OrderStatus.EXPIRED


def test_resting_limit_fills_when_the_opposite_touch_reaches_it() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 5_000, 995))
    quote(sim, 1, 990, 9_000, 1000, 9_000)
    assert o.status is OrderStatus.ACCEPTED
    quote(sim, 2, 990, 9_000, 995, 3_000)  # a seller at our price: we were the best bid
    assert sink.fills_of(o.client_order_id) == [(995, 3_000, M)]
    quote(sim, 3, 985, 9_000, 990, 1_000)  # even lower: still our price
    assert sink.fills_of(o.client_order_id)[-1] == (995, 1_000, M)


def test_marketable_limit_on_a_quote_takes_then_rests() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 5_000, 1000))
    quote(sim, 1, 995, 9_000, 1000, 2_000)
    assert sink.fills_of(o.client_order_id) == [(1000, 2_000, T)]
    assert o.status is OrderStatus.PARTIALLY_FILLED
    quote(sim, 2, 995, 9_000, 1000, 2_000)  # unchanged touch: already taken
    assert len(sink.fills) == 1
    quote(sim, 3, 995, 9_000, 1000, 1_000)  # the level changed: a seller meets our resting bid
    assert sink.fills_of(o.client_order_id)[-1] == (1000, 1_000, M)


def test_post_only_that_would_take_the_touch_is_rejected() -> None:
    sim, sink = venue()
    o = send(sim, order(SELL, LMT, 1_000, 995, post_only=True))
    quote(sim, 1, 995, 9_000, 1000, 9_000)
    assert sink.events(o.client_order_id) == ["rejected"]


def test_stops_trigger_on_the_touch_with_quotes() -> None:
    sim, sink = venue()
    buy = send(sim, order(BUY, STP, 3_000, trigger=1010))
    sell = send(sim, order(SELL, STP, 1_000, trigger=985))
    quote(sim, 1, 995, 9_000, 1000, 9_000)
    quote(sim, 2, 1005, 9_000, 1010, 2_000)  # ask reaches the buy trigger
    assert sink.fills_of(buy.client_order_id) == [(1010, 2_000, T)]
    quote(sim, 3, 985, 500, 1015, 9_000)  # bid reaches the sell trigger; the buy remainder takes the ask
    assert sink.fills_of(buy.client_order_id)[-1] == (1015, 1_000, T)
    assert sink.fills_of(sell.client_order_id) == [(985, 500, T)]


def test_quote_with_an_empty_side_triggers_nothing() -> None:
    sim, sink = venue()
    o = send(sim, order(SELL, STP, 1_000, trigger=985))
    quote(sim, 1, 995, 9_000, 1000, 9_000)
    quote(sim, 2, 0, 0, 1000, 9_000)
    assert o.status is OrderStatus.ACCEPTED and sink.fills == []


def test_market_waits_while_the_quote_has_no_offer() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, MKT, 1_000))
    quote(sim, 1, 995, 9_000, 0, 0)
    assert o.status is OrderStatus.ACCEPTED and sink.fills == []
    quote(sim, 2, 995, 9_000, 1000, 9_000)
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T)]


def test_triggered_post_only_stop_limit_that_would_take_is_canceled() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, STL, 1_000, 1010, 1005, post_only=True))
    quote(sim, 1, 995, 9_000, 1000, 9_000)
    assert o.status is OrderStatus.ACCEPTED
    quote(sim, 2, 1000, 9_000, 1005, 9_000)  # triggers; a bid at 101.0 would take the 100.5 offer
    assert sink.events(o.client_order_id) == ["accepted", "canceled"] and "post-only" in o.reason


# -- book data -------------------------------------------------------------------------------


def test_market_walks_the_replayed_book_and_consumes_it() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(995, 5_000)], [(1000, 1_000), (1005, 2_000), (1010, 4_000)])
    a = send(sim, order(BUY, MKT, 2_500), now=1)
    b = send(sim, order(BUY, MKT, 2_000), now=1)
    books.delta(2, bids=[(990, 1_000)])  # an unrelated level changes
    assert sink.fills_of(a.client_order_id) == [(1000, 1_000, T), (1005, 1_500, T)]
    assert sink.fills_of(b.client_order_id) == [(1005, 500, T), (1010, 1_500, T)]  # what a left


def test_gtc_market_remainder_waits_for_the_next_update() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(995, 5_000)], [(1000, 1_000)])
    o = send(sim, order(BUY, MKT, 3_000), now=1)
    books.delta(2, bids=[(990, 1)])
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T)]
    books.delta(3, asks=[(1005, 5_000)])
    assert sink.fills_of(o.client_order_id)[-1] == (1005, 2_000, T) and o.status is OrderStatus.FILLED


def test_limit_takes_levels_up_to_its_price_then_rests() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(995, 5_000)], [(1000, 1_000), (1005, 2_000), (1010, 4_000)])
    o = send(sim, order(BUY, LMT, 5_000, 1005), now=1)
    books.delta(2, bids=[(990, 1)])
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T), (1005, 2_000, T)]
    assert o.status is OrderStatus.PARTIALLY_FILLED
    books.delta(3, asks=[(1005, 500)])  # the level changed: a seller at our price meets our bid
    assert sink.fills_of(o.client_order_id)[-1] == (1005, 500, M)


def test_ioc_limit_against_the_book_expires_its_remainder() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(995, 5_000)], [(1000, 1_000), (1005, 2_000)])
    o = send(sim, order(BUY, LMT, 4_000, 1000, time_in_force=IOC), now=1)
    books.delta(2, bids=[(990, 1)])
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, T)] and o.status is OrderStatus.EXPIRED


def test_fok_against_the_book() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(995, 5_000)], [(1000, 1_000), (1005, 2_000)])
    short = send(sim, order(BUY, LMT, 4_000, 1005, time_in_force=FOK), now=1)
    full = send(sim, order(BUY, LMT, 3_000, 1005, time_in_force=FOK), now=1)
    books.delta(2, bids=[(990, 1)])
    assert sink.events(short.client_order_id) == ["accepted", "expired"]
    assert sink.fills_of(full.client_order_id) == [(1000, 1_000, T), (1005, 2_000, T)]


def test_resting_bid_meets_every_crossing_ask_level() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(990, 5_000)], [(1010, 1_000)])
    o = send(sim, order(BUY, LMT, 5_000, 1000), now=1)
    books.delta(2, bids=[(985, 1)])
    assert o.status is OrderStatus.ACCEPTED
    books.delta(3, asks=[(995, 1_000), (1000, 1_500), (1005, 9_000)])
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, M), (1000, 1_500, M)]


def test_an_out_of_sync_book_fills_nothing() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(990, 5_000)], [(1010, 1_000)])
    o = send(sim, order(BUY, LMT, 5_000, 1000), now=1)
    books.delta(2, bids=[(985, 1)])
    books.delta(3, asks=[(995, 1_000)], skip=1)  # gap: not applied, book out of sync
    assert not books.book.in_sync and sink.fills == []
    books.snapshot(4, [(990, 5_000)], [(1000, 700)])
    assert sink.fills_of(o.client_order_id) == [(1000, 700, M)]


def test_sell_stop_triggers_on_the_best_bid_and_walks_the_bids() -> None:
    sim, sink = venue()
    books = Books(sim)
    books.snapshot(1, [(995, 1_000), (990, 5_000)], [(1000, 1_000)])
    o = send(sim, order(SELL, STP, 3_000, trigger=990), now=1)
    books.delta(2, asks=[(1000, 2_000)])
    assert o.status is OrderStatus.ACCEPTED
    books.delta(3, bids=[(995, 0)])
    assert sink.fills_of(o.client_order_id) == [(990, 3_000, T)]


# -- bar data --------------------------------------------------------------------------------


def test_market_fills_at_the_next_bar_open() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, MKT, 1_000), now=60)  # decided at the close of the bar [0, 60)
    bar(sim, 60, 1010, 1030, 1000, 1020)
    assert sink.fills_of(o.client_order_id) == [(1010, 1_000, T)]
    assert sink.fills[0][1] == 120  # reported when the bar is known


def test_an_order_arriving_after_the_open_waits_for_the_next_bar() -> None:
    sim, sink = venue(order_latency_ns=5)
    o = send(sim, order(BUY, MKT, 1_000), now=60)  # arrives at 65, inside the bar [60, 120)
    bar(sim, 60, 1010, 1030, 1000, 1020)
    assert sink.fills == [] and o.status is OrderStatus.SUBMITTED
    bar(sim, 120, 1025, 1030, 1000, 1020)
    assert sink.fills_of(o.client_order_id) == [(1025, 1_000, T)]


def test_bar_limit_needs_the_range_strictly_through_it() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 1_000, 1000))
    bar(sim, 0, 1010, 1020, 1000, 1015)  # low == limit: not through
    assert sink.fills == [] and o.status is OrderStatus.ACCEPTED
    bar(sim, 60, 1010, 1020, 995, 1015)
    assert sink.fills_of(o.client_order_id) == [(1000, 1_000, M)]


def test_bar_limit_at_the_low_fills_without_trade_through() -> None:
    sim, sink = venue(trade_through=False)
    o = send(sim, order(SELL, LMT, 1_000, 1020))
    bar(sim, 0, 1010, 1020, 1000, 1015)
    assert sink.fills_of(o.client_order_id) == [(1020, 1_000, M)]


def test_gap_through_a_resting_limit_fills_at_the_open() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, LMT, 1_000, 1000))
    bar(sim, 0, 1010, 1020, 1005, 1015)
    assert o.status is OrderStatus.ACCEPTED
    bar(sim, 60, 990, 995, 980, 985)  # opens below our bid: filled at the better open
    assert sink.fills_of(o.client_order_id) == [(990, 1_000, M)]


def test_marketable_limit_at_the_open_takes_at_the_open() -> None:
    sim, sink = venue()
    o = send(sim, order(SELL, LMT, 1_000, 1000))
    bar(sim, 0, 1010, 1020, 1005, 1015)
    assert sink.fills_of(o.client_order_id) == [(1010, 1_000, T)]


def test_bar_stop_fills_at_its_trigger_or_at_a_gapped_open() -> None:
    sim, sink = venue()
    a = send(sim, order(SELL, STP, 1_000, trigger=1000))
    b = send(sim, order(SELL, STP, 1_000, trigger=980))
    bar(sim, 0, 1010, 1020, 995, 1005)  # reaches 100.0 inside the bar
    assert sink.fills_of(a.client_order_id) == [(1000, 1_000, T)]
    bar(sim, 60, 970, 975, 960, 965)  # opens below 98.0: fills at the open
    assert sink.fills_of(b.client_order_id) == [(970, 1_000, T)]


def test_new_stop_already_past_its_trigger_at_the_open_fills_at_the_open() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, STP, 1_000, trigger=1000), now=60)
    bar(sim, 60, 1015, 1020, 1010, 1015)
    assert sink.fills_of(o.client_order_id) == [(1015, 1_000, T)]


def test_never_fills_at_a_price_the_bar_did_not_reach() -> None:
    sim, sink = venue(trade_through=False)
    sell = send(sim, order(SELL, LMT, 1_000, 1025))
    buy = send(sim, order(BUY, LMT, 1_000, 995))
    stop = send(sim, order(BUY, STP, 1_000, trigger=1030))
    bar(sim, 0, 1010, 1020, 1000, 1015)
    bar(sim, 60, 1015, 1024, 996, 1000)
    assert sink.fills == []
    assert all(o.status is OrderStatus.ACCEPTED for o in (sell, buy, stop))


def _long_position(sim: SimVenue, qty: int = 1_000) -> None:
    entry = send(sim, order(BUY, MKT, qty))
    bar(sim, 0, 1000, 1000, 1000, 1000)
    assert entry.status is OrderStatus.FILLED


def test_stop_before_target_inside_one_bar() -> None:
    sim, sink = venue()
    _long_position(sim)
    stop = send(sim, order(SELL, STP, 1_000, trigger=980, reduce_only=True), now=60)
    target = send(sim, order(SELL, LMT, 1_000, 1020, reduce_only=True), now=60)
    bar(sim, 60, 1000, 1010, 990, 1005)  # neither reached
    assert stop.status is OrderStatus.ACCEPTED and target.status is OrderStatus.ACCEPTED
    bar(sim, 120, 1000, 1050, 950, 1040)  # both inside the bar; the high is nearer the open
    assert sink.fills_of(stop.client_order_id) == [(980, 1_000, T)]
    assert status(target) is OrderStatus.CANCELED and "reduce-only" in target.reason
    assert sim.position_raw(INST) == 0


def test_stop_before_target_for_a_short() -> None:
    sim, sink = venue()
    entry = send(sim, order(SELL, MKT, 1_000))
    bar(sim, 0, 1000, 1000, 1000, 1000)
    stop = send(sim, order(BUY, STP, 1_000, trigger=1020), now=60)
    target = send(sim, order(BUY, LMT, 1_000, 980), now=60)  # not reduce-only: it fills too, after
    bar(sim, 60, 1000, 1030, 960, 990)  # the low is nearer the open, the stop still comes first
    assert [f[0] for f in sink.fills] == [entry.client_order_id, stop.client_order_id, target.client_order_id]
    assert sink.fills_of(stop.client_order_id) == [(1020, 1_000, T)]
    assert sink.fills_of(target.client_order_id) == [(980, 1_000, M)]


def test_without_stops_the_nearer_extreme_comes_first() -> None:
    for o_, h, lo, first in ((1000, 1010, 950, "sell"), (1000, 1050, 985, "buy")):
        sim, sink = venue()
        buy = send(sim, order(BUY, LMT, 1_000, 990))
        sell = send(sim, order(SELL, LMT, 1_000, 1005))
        bar(sim, 0, o_, h, lo, 1000)
        names = {buy.client_order_id: "buy", sell.client_order_id: "sell"}
        assert [names[f[0]] for f in sink.fills] == [first, "buy" if first == "sell" else "sell"]


def test_stop_limit_triggered_on_one_leg_fills_on_a_later_one() -> None:
    sim, sink = venue()
    o = send(sim, order(BUY, STL, 1_000, 1005, 1010))  # trigger 101.0, limit 100.5
    bar(sim, 0, 1000, 1000, 1000, 1000)
    # up first (the high is nearer): triggers at 101.0 (the limit is below: rests), then the path falls
    # to 99.0 through 100.5: fills at the limit as a maker
    bar(sim, 60, 1000, 1015, 990, 995)
    assert sink.fills_of(o.client_order_id) == [(1005, 1_000, M)]


def test_open_only_bar_mode() -> None:
    sim, sink = venue(bar_fill_mode="open")
    a = send(sim, order(BUY, LMT, 1_000, 1000))
    bar(sim, 0, 1010, 1020, 900, 1015)  # the range goes through, but only opens count
    assert sink.fills == [] and a.status is OrderStatus.ACCEPTED
    bar(sim, 60, 995, 1000, 990, 995)
    assert sink.fills_of(a.client_order_id) == [(995, 1_000, M)]


# -- reduce-only, position, self-trades --------------------------------------------------------


def test_reduce_only_fill_is_cut_to_the_position() -> None:
    sim, sink = venue()
    _long_position(sim, 2_000)
    o = send(sim, order(SELL, LMT, 5_000, 1010, reduce_only=True), now=60)
    bar(sim, 60, 1000, 1020, 995, 1015)
    assert sink.fills_of(o.client_order_id) == [(1010, 2_000, M)]
    assert o.status is OrderStatus.CANCELED and "smaller than the order" in o.reason


def test_position_of_callback_is_the_position_used() -> None:
    sink = Sink()
    sim = SimVenue([INST], sink, position_of=lambda inst: -3_000)
    o = send(sim, order(BUY, MKT, 1_000, reduce_only=True))
    bad = send(sim, order(SELL, MKT, 1_000, reduce_only=True))
    trade(sim, 1, 1000)
    assert o.status is OrderStatus.FILLED and bad.status is OrderStatus.REJECTED


def test_our_own_orders_do_not_trade_with_each_other_by_default() -> None:
    sim, sink = venue()
    ask = send(sim, order(SELL, LMT, 1_000, 1010))
    trade(sim, 1, 1000)
    bid = send(sim, order(BUY, LMT, 1_000, 1010), now=1)
    trade(sim, 2, 1010)  # a print at 101.0 is not through the new bid (it rests), which meets our ask
    assert bid.status is OrderStatus.CANCELED and bid.reason == "self-trade prevention"
    assert ask.status is OrderStatus.ACCEPTED


def test_self_trade_prevention_off_lets_our_orders_match() -> None:
    sim, sink = venue(self_trade="none")
    ask = send(sim, order(SELL, LMT, 1_000, 1010))
    trade(sim, 1, 1000)
    bid = send(sim, order(BUY, LMT, 1_000, 1010), now=1)
    trade(sim, 2, 1010)
    assert sink.fills_of(ask.client_order_id) == [(1010, 1_000, M)]
    assert sink.fills_of(bid.client_order_id) == [(1010, 1_000, T)]
    assert sim.position_raw(INST) == 0


# -- fees ------------------------------------------------------------------------------------


def test_linear_fees_are_exact() -> None:
    sim, sink = venue()
    taker = send(sim, order(BUY, MKT, 3))
    maker = send(sim, order(SELL, LMT, 7, 1015))
    trade(sim, 1, 1005, size=10)
    trade(sim, 2, 1020, size=10)
    fees = {f[0]: f[5] for f in sink.fills}
    assert fees[taker.client_order_id] == Decimal("100.5") * Decimal("0.003") * Decimal("0.0005") == Decimal("0.00015075")
    assert fees[maker.client_order_id] == Decimal("101.5") * Decimal("0.007") * Decimal("0.0002")


def test_inverse_fees_round_the_notional_to_8_places() -> None:
    sim, sink = venue(INV)
    o = send(sim, order(BUY, MKT, 3, inst=INV))  # 3 contracts of 100 USD
    trade(sim, 1, 1005, inst=INV)  # at 100.5
    notional = (Decimal(300) / Decimal("100.5")).quantize(Decimal("1e-8"))
    assert notional == Decimal("2.98507463")
    assert sink.fills[0][5] == notional * Decimal("0.00075")
    maker = send(sim, order(SELL, LMT, 1, 1010, inst=INV), now=1)
    trade(sim, 2, 1000, inst=INV)
    trade(sim, 3, 1015, inst=INV)
    assert sink.fills_of(maker.client_order_id) == [(1010, 1, M)]
    assert sink.fills[-1][5] == (Decimal(100) / Decimal(101)).quantize(Decimal("1e-8")) * Decimal("-0.00025")


def test_config_fee_overrides_and_zero_fees() -> None:
    sim, sink = venue(maker_fee="0", taker_fee="0.001")
    a = send(sim, order(BUY, MKT, 1_000))
    b = send(sim, order(SELL, LMT, 1_000, 1010))
    trade(sim, 1, 1000)
    trade(sim, 2, 1020)
    fees = {f[0]: f[5] for f in sink.fills}
    assert fees[a.client_order_id] == Decimal("0.1000000") and fees[b.client_order_id] == 0


# -- config, determinism ---------------------------------------------------------------------


def test_config_validation_and_from_dict() -> None:
    with pytest.raises(ValueError, match="negative"):
        SimVenueConfig(order_latency_ns=-1)
    with pytest.raises(ValueError, match="did you mean 'trade_through'"):
        SimVenueConfig.from_dict({"trade_thru": False})
    cfg = SimVenueConfig.from_dict({"bar_fill_mode": "open", "self_trade": "cancel_maker", "maker_fee": "0.001"})
    assert cfg.bar_fill_mode is BarFillMode.OPEN and cfg.self_trade is SelfTradePrevention.CANCEL_MAKER
    assert cfg.maker_fee == Decimal("0.001") and cfg.taker_fee is None


def _scenario(seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    sim, sink = venue(order_latency_ns=3)
    books = Books(sim)
    books.snapshot(0, [(995, 5_000), (990, 5_000)], [(1000, 5_000), (1005, 5_000)])
    mid = 1000
    orders: list[Order] = []
    for t in range(1, 1_500):
        kind = rng.random()
        if kind < 0.1:
            o = order(rng.choice((BUY, SELL)), rng.choice((MKT, LMT, LMT, STP)), rng.randrange(1, 5) * 1_000,
                      cid=f"c{t}")
            if o.type is LMT:
                o.price_raw = mid + rng.randrange(-6, 7) * 5
            if o.type is STP:
                o.trigger_raw = mid + (10 if o.side > 0 else -10)
            orders.append(send(sim, o, now=t))
        elif kind < 0.13 and orders:
            o = rng.choice(orders)
            if o.is_open:
                sim.cancel(o, t)
        mid += rng.choice((-5, 0, 5))
        r = rng.random()
        if r < 0.4:
            trade(sim, t, mid + rng.choice((-5, 0, 5)), size=rng.randrange(1, 4) * 1_000)
        elif r < 0.7:
            quote(sim, t, mid - 5, rng.randrange(1, 9) * 1_000, mid, rng.randrange(1, 9) * 1_000)
        elif r < 0.9:
            books.delta(t, bids=[(mid - 5, rng.randrange(0, 9) * 1_000)], asks=[(mid, rng.randrange(1, 9) * 1_000)])
        else:
            bar(sim, t * 100, mid, mid + 20, mid - 20, mid + 5)
    return sink.log


def test_same_inputs_give_identical_reports() -> None:
    first = _scenario(3)
    assert len([e for e in first if e[0] == "fill"]) > 50
    assert first == _scenario(3)
    ids = [e[7] for e in first if e[0] == "fill"]
    assert ids == [f"sim-{i}" for i in range(1, len(ids) + 1)]
