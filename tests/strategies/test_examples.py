"""The example strategies' decisions, driven through a real engine with a recording venue."""

from __future__ import annotations

from decimal import Decimal as D

from engine import Bar, Engine, Instrument, Order, OrderType, Side, SimClock, Trade
from engine import L2Book
from engine import from_mapping, params_class
from engine import BookSnapshot
from strategies.market_maker import MarketMaker
from strategies.sma_cross import SmaCross
from strategies.trade_flow import TradeFlow

INST = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")


class Venue:
    def __init__(self) -> None:
        self.orders: list[Order] = []

    def submit(self, order: Order, now_ns: int) -> None:
        self.orders.append(order)

    def cancel(self, order: Order, now_ns: int) -> None:
        pass


def engine_with(cls: type, **params: object) -> tuple[Engine, Venue, object]:
    engine = Engine(clock=SimClock(0))
    engine.add_instrument(INST)
    venue = Venue()
    engine.execution = venue
    p = from_mapping(params_class(cls), {"instrument": INST.key, **params})
    strategy = engine.add_strategy("s", lambda ctx: cls(ctx, p))
    engine.start()
    return engine, venue, strategy


def bar(close: int) -> Bar:
    return Bar(INST, 0, 0, close, close, close, close, 1)


def test_sma_cross_goes_long_then_reverses_exactly_at_the_cross() -> None:
    engine, venue, _ = engine_with(SmaCross, fast=2, slow=4, qty="1")
    for c in [100, 100, 100, 100]:  # equal averages: a tie decides nothing, no position yet
        engine.on_bar(bar(c))
    assert venue.orders == []
    engine.on_bar(bar(99))  # fast (99.5) < slow (99.75): short
    assert [(o.side, o.qty) for o in venue.orders] == [(Side.SELL, D("1"))]
    engine.portfolio.position(INST).qty_raw = -1000  # as if filled
    engine.on_bar(bar(102))  # fast (100.5) > slow (100.25): long, buy 2 to reverse
    assert [(o.side, o.qty) for o in venue.orders][-1] == (Side.BUY, D("2"))
    assert all(o.type is OrderType.MARKET for o in venue.orders)


def test_sma_cross_tie_keeps_the_previous_side_golden() -> None:
    """The conventional crossover rule, pinned: only a strict cross changes side; ``fast == slow``
    keeps the position (the rule that treated a tie as "below" exited one bar early here)."""
    engine, venue, _ = engine_with(SmaCross, fast=2, slow=4, qty="1")
    closes = [100, 100, 100, 100, 101, 99, 98, 102, 103, 103, 103, 103, 103, 97]
    orders: list[tuple[int, Side, D]] = []
    for i, c in enumerate(closes):
        n = len(venue.orders)
        engine.on_bar(bar(c))
        for o in venue.orders[n:]:
            orders.append((i, o.side, o.qty))
            engine.portfolio.position(INST).qty_raw += o.side * INST.size_raw(o.qty)  # as if filled
    # bar 5 (fast 100 == slow 100) and bar 7 (100 == 100) are ties: no order there
    assert orders == [(4, Side.BUY, D("1")), (6, Side.SELL, D("2")), (8, Side.BUY, D("2")),
                      (13, Side.SELL, D("2"))]


def test_sma_cross_long_only_goes_flat() -> None:
    engine, venue, _ = engine_with(SmaCross, fast=2, slow=4, qty="1", allow_short=False)
    for c in [100, 100, 100, 100, 101]:
        engine.on_bar(bar(c))
    assert [(o.side, o.qty) for o in venue.orders] == [(Side.BUY, D("1"))]


def test_sma_cross_reduce_only_exits_flag_only_the_order_to_flat() -> None:
    for flag in (False, True):
        engine, venue, _ = engine_with(SmaCross, fast=2, slow=4, qty="1", allow_short=False,
                                       reduce_only_exits=flag)
        for c in [100, 100, 100, 100, 101, 95, 110]:
            n = len(venue.orders)
            engine.on_bar(bar(c))
            for o in venue.orders[n:]:
                engine.portfolio.position(INST).qty_raw += o.side * INST.size_raw(o.qty)  # as if filled
        assert [(o.side, o.qty, o.reduce_only) for o in venue.orders] == [
            (Side.BUY, D("1"), False), (Side.SELL, D("1"), flag), (Side.BUY, D("1"), False)]


def test_trade_flow_follows_the_imbalance_and_holds() -> None:
    engine, venue, _ = engine_with(TradeFlow, qty="0.5", threshold="1", half_life_trades=1000, min_hold_trades=3)
    for _ in range(3):
        engine.on_trade(Trade(INST, 0, 0, 10_000, 500, 1))  # 1.5 bought
    assert [(o.side, o.qty) for o in venue.orders] == [(Side.BUY, D("0.5"))]
    engine.portfolio.position(INST).qty_raw = 500
    for _ in range(6):
        engine.on_trade(Trade(INST, 0, 0, 10_000, 1_000, -1))
    assert [(o.side, o.qty) for o in venue.orders][-1] == (Side.SELL, D("1"))


def test_market_maker_quotes_both_sides_post_only_and_skews_with_inventory() -> None:
    engine, venue, _ = engine_with(MarketMaker, qty="0.01", half_spread_bps="10", skew_bps_per_qty="5",
                                   max_inventory="0.02")
    engine.on_book(BookSnapshot(INST, 0, 0, 1, ((1_000_000, 5_000),), ((1_000_200, 5_000),)))
    bid, ask = venue.orders
    assert (bid.side, ask.side) == (Side.BUY, Side.SELL) and bid.post_only and ask.post_only
    mid = D("10001")
    assert bid.price == (mid - mid * D("0.001")).quantize(D("0.01")) and ask.price == (mid + mid * D("0.001")).quantize(D("0.01"))
    # long inventory at the cap: no more bids, asks skewed down
    engine.portfolio.position(INST).qty_raw = 20
    engine.on_book(BookSnapshot(INST, 0, 0, 2, ((1_000_000, 5_000),), ((1_000_200, 5_000),)))
    assert not any(o.side is Side.BUY for o in venue.orders[2:])
