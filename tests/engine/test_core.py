from __future__ import annotations

from decimal import Decimal as D

from engine import (
    Bar,
    Engine,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    SimClock,
    Strategy,
)

INST = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")


class RecordingExecution:
    def __init__(self) -> None:
        self.submitted: list[Order] = []
        self.canceled: list[Order] = []

    def submit(self, order: Order, now_ns: int) -> None:
        self.submitted.append(order)

    def cancel(self, order: Order, now_ns: int) -> None:
        self.canceled.append(order)


class Recorder(Strategy):
    def on_start(self) -> None:
        self.updates: list[OrderUpdate] = []
        self.fills = []
        self.ctx.subscribe_bars(INST)

    def on_order(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_fill(self, fill) -> None:  # type: ignore[no-untyped-def]
        self.fills.append(fill)


def make_engine() -> tuple[Engine, RecordingExecution, Recorder]:
    engine = Engine(clock=SimClock(1_000))
    engine.add_instrument(INST)
    ex = RecordingExecution()
    engine.execution = ex
    strat = engine.add_strategy("rec", lambda ctx: Recorder(ctx))
    engine.start()
    assert isinstance(strat, Recorder)
    return engine, ex, strat


def bar(close: int) -> Bar:
    return Bar(INST, 0, 60, close, close, close, close, 1)


def test_submit_rounds_to_tick_and_lot_with_venue_rule() -> None:
    engine, ex, s = make_engine()
    order = s.ctx.submit(INST, Side.BUY, D("0.0019"), type=OrderType.LIMIT, price=D("100.005"))
    assert order.qty == D("0.001")  # lot rounding: down
    assert order.price == D("100.01")  # tick rounding: half up
    assert [u.status for u in s.updates] == [OrderStatus.SUBMITTED]
    assert ex.submitted == [order]


def test_zero_quantity_is_denied_with_a_reason_not_an_exception() -> None:
    engine, ex, s = make_engine()
    order = s.ctx.buy(INST, D("0.0004"))
    assert order.status is OrderStatus.DENIED
    assert "invalid_qty" in order.reason
    assert engine.denials == {"invalid_qty": 1}
    assert ex.submitted == []
    limit_without_price = s.ctx.submit(INST, Side.BUY, D("1"), type=OrderType.LIMIT)
    assert limit_without_price.status is OrderStatus.DENIED


def test_fills_are_deduplicated_and_drive_the_state_machine() -> None:
    engine, ex, s = make_engine()
    order = s.ctx.buy(INST, D("0.002"))
    engine.on_accepted(order, 2_000, "v1")
    engine.on_fill(order, 3_000, 10_000, 1, Liquidity.TAKER, D("0.01"), "t1")
    engine.on_fill(order, 3_000, 10_000, 1, Liquidity.TAKER, D("0.01"), "t1")  # duplicate
    assert order.status is OrderStatus.PARTIALLY_FILLED
    engine.on_fill(order, 4_000, 10_100, 1, Liquidity.TAKER, D("0.01"), "t2")
    assert order.status is OrderStatus.FILLED
    assert [f.trade_id for f in s.fills] == ["t1", "t2"]
    assert engine.portfolio.position(INST).qty == D("0.002")
    assert engine.portfolio.balance("USD") == -(D("100.00") * D("0.001") + D("101.00") * D("0.001")) - D("0.02")
    assert engine.open_orders() == []


def test_overfill_raises_an_alarm_and_books_what_the_venue_did() -> None:
    engine, ex, s = make_engine()
    order = s.ctx.buy(INST, D("0.001"))
    engine.on_fill(order, 3_000, 10_000, 1, Liquidity.TAKER, D(0), "t1")
    engine.on_fill(order, 3_000, 10_000, 1, Liquidity.TAKER, D(0), "t2")
    assert [a.kind for a in engine.alarms] == ["overfill"]
    assert engine.portfolio.position(INST).qty == D("0.002")


class Exploding(Strategy):
    def on_start(self) -> None:
        self.ctx.subscribe_bars(INST)
        self.resting = self.ctx.limit(INST, Side.BUY, D("1"), D("90"))

    def on_bar(self, bar: Bar) -> None:
        raise ZeroDivisionError("bad strategy code")


def test_a_raising_strategy_is_stopped_its_orders_canceled_and_others_continue() -> None:
    engine = Engine(clock=SimClock(0))
    engine.add_instrument(INST)
    ex = RecordingExecution()
    engine.execution = ex
    bad = engine.add_strategy("bad", lambda ctx: Exploding(ctx))
    good = engine.add_strategy("good", lambda ctx: Recorder(ctx))
    engine.start()
    engine.on_bar(bar(10_000))
    assert [f.strategy_id for f in engine.failures] == ["bad"]
    assert "ZeroDivisionError: bad strategy code" in engine.failures[0].error
    assert ex.canceled == [bad.resting]  # type: ignore[attr-defined]
    assert bad.resting.status is OrderStatus.PENDING_CANCEL  # type: ignore[attr-defined]
    engine.on_bar(bar(10_001))  # no second failure, the other strategy still runs
    assert len(engine.failures) == 1
    later = bad.ctx.buy(INST, D("1"))
    assert later.status is OrderStatus.DENIED and "strategy_stopped" in later.reason
    assert good.ctx.buy(INST, D("1")).status is OrderStatus.SUBMITTED


def test_timers_call_on_timer_with_the_due_time() -> None:
    engine, ex, s = make_engine()
    seen: list[tuple[str, int]] = []
    s.on_timer = lambda name, now: seen.append((name, now))  # type: ignore[method-assign]
    engine.slots["rec"].strategy.on_timer = s.on_timer  # type: ignore[method-assign]
    s.ctx.set_timer("tick", interval_s=1)
    engine.fire_timers(1_000 + 2_500_000_000)
    assert seen == [("tick", 1_000 + 1_000_000_000), ("tick", 1_000 + 2_000_000_000)]


def test_unknown_order_is_not_resent_and_reconciles() -> None:
    engine, ex, s = make_engine()
    order = s.ctx.buy(INST, D("0.001"))
    engine.on_unknown(order, 2_000, "timeout")
    assert order.status is OrderStatus.UNKNOWN and order.is_open
    assert ex.submitted == [order]
    engine.on_accepted(order, 3_000, "v9")
    assert order.status is OrderStatus.ACCEPTED and order.venue_order_id == "v9"


def test_a_funding_payment_is_booked_once_and_told_to_the_listeners() -> None:
    from engine import FundingPayment

    perp = Instrument(venue="sim", symbol="BTC-PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.001",
                      kind="linear")
    engine = Engine(clock=SimClock(0))
    engine.portfolio.set_balance("USD", D("100"))
    heard: list[FundingPayment] = []
    engine.funding_listeners.append(heard.append)
    payment = FundingPayment(perp, 1, 1, "f-1", "USD", D("-0.0487524375"), D("0.013"), D("30001.5"), D("0.000125"))
    assert engine.on_funding(payment) is True
    assert engine.on_funding(payment) is False  # the same payment delivered again (a poll after the push)
    assert engine.on_funding(FundingPayment(perp, 2, 2, "f-2", "USD", D("0.5"))) is True
    assert engine.portfolio.balance("USD") == D("100") - D("0.0487524375") + D("0.5")
    assert [p.payment_id for p in heard] == ["f-1", "f-2"]
    engine.restore_funding(payment)  # already booked: not again
    assert engine.portfolio.balance("USD") == D("100") - D("0.0487524375") + D("0.5")
