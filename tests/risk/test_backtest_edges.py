"""Every risk check at its edge, just inside and just outside, through a real engine.

A small strategy submits orders through its context on a simulated clock; the engine rounds them,
asks the :class:`~risk.RiskEngine`, and either sends them to a recording execution client or
reports them DENIED. Each test checks the typed reason reaches the strategy as a DENIED update, is
counted in ``engine.denials``, and that the order just inside the limit was sent.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from engine import Instrument, Liquidity, Order, OrderStatus, OrderType, OrderUpdate, Side, TradingStateChanged
from engine import SimClock
from engine import Engine
from engine import Strategy
from risk import (
    DenyReason,
    InstrumentLimits,
    RateLimiter,
    RateLimitSpec,
    RiskConfig,
    RiskEngine,
    StrategyLimits,
    TradingState,
)

T0 = 1_767_268_800_000_000_000  # 2026-01-01T12:00:00Z
DAY = 86_400 * 10**9

PERP = Instrument(venue="sim", symbol="BTC-PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.001",
                  kind="linear", min_qty="0.002", max_qty="10", min_notional="5", max_leverage="20",
                  leverage_values=(1, 2, 5, 10, 20))  # type: ignore[arg-type]
BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.0001")
ETH = Instrument(venue="sim", symbol="ETH/USD", base="ETH", quote="USD", tick_size="0.01", lot_size="0.001")
INV = Instrument(venue="sim", symbol="BTC-INV", base="BTC", quote="USD", tick_size="0.5", lot_size="1",
                 kind="inverse")


class RecordingExecution:
    def __init__(self) -> None:
        self.submitted: list[Order] = []
        self.canceled: list[Order] = []

    def submit(self, order: Order, now_ns: int) -> None:
        self.submitted.append(order)

    def cancel(self, order: Order, now_ns: int) -> None:
        self.canceled.append(order)


class Trader(Strategy):
    """Submits what the test asks for and records every order update and trading-state change."""

    def on_start(self) -> None:
        self.updates: list[OrderUpdate] = []
        self.states: list[TradingStateChanged] = []

    def on_order(self, update: OrderUpdate) -> None:
        self.updates.append(update)

    def on_trading_state(self, change: TradingStateChanged) -> None:
        self.states.append(change)

    def buy(self, inst: Instrument, qty: str, price: str | None = None, **kw: Any) -> Order:
        return self._send(inst, Side.BUY, qty, price, **kw)

    def sell(self, inst: Instrument, qty: str, price: str | None = None, **kw: Any) -> Order:
        return self._send(inst, Side.SELL, qty, price, **kw)

    def _send(self, inst: Instrument, side: Side, qty: str, price: str | None, **kw: Any) -> Order:
        if price is not None and "type" not in kw:
            kw["type"] = OrderType.LIMIT
        return self.ctx.submit(inst, side, D(qty), price=None if price is None else D(price), **kw)


class Harness:
    def __init__(self, config: RiskConfig, *, strategies: tuple[str, ...] = ("t",)) -> None:
        self.clock = SimClock(T0)
        self.risk = RiskEngine(config)
        self.engine = Engine(clock=self.clock, risk=self.risk)
        for inst in (PERP, BTC, ETH, INV):
            self.engine.add_instrument(inst)
        self.execution = RecordingExecution()
        self.engine.execution = self.execution
        self.marks: dict[str, D] = {}
        self.engine.mark_source = lambda inst: self.marks.get(inst.key)
        self.traders = {sid: self.engine.add_strategy(sid, Trader) for sid in strategies}
        self.engine.start()
        self.trades = 0
        self.mark(PERP, "20000")
        self.mark(BTC, "20000")
        self.mark(ETH, "2000")
        self.mark(INV, "20000")

    @property
    def t(self) -> Trader:
        trader = self.traders["t"]
        assert isinstance(trader, Trader)
        return trader

    def mark(self, inst: Instrument, price: str) -> None:
        self.marks[inst.key] = D(price)

    def advance(self, ns: int) -> None:
        self.clock.advance_to(self.clock.ns + ns)

    def fill(self, order: Order, price: str | None = None, qty: str | None = None) -> None:
        inst = order.instrument
        if price is not None:
            price_raw = inst.price_raw(D(price))
        else:
            price_raw = order.price_raw or inst.price_raw(self.marks[inst.key])
        size_raw = inst.size_raw(D(qty)) if qty is not None else order.leaves_raw
        self.trades += 1
        self.engine.on_fill(order, self.clock.ns, price_raw, size_raw, Liquidity.TAKER, D(0), f"x{self.trades}")

    def hold(self, inst: Instrument, qty: str, price: str | None = None, strategy: str = "t") -> None:
        """Open a position of ``qty`` (negative = short) at ``price`` (default: the mark)."""
        trader = self.traders[strategy]
        assert isinstance(trader, Trader)
        amount = D(qty)
        order = (trader.buy if amount > 0 else trader.sell)(inst, str(abs(amount)))
        assert order.status is OrderStatus.SUBMITTED, order.reason
        self.fill(order, price)


def admitted(h: Harness, order: Order) -> None:
    assert order.status is OrderStatus.SUBMITTED, order.reason
    assert h.execution.submitted[-1] is order


def denied(h: Harness, order: Order, reason: DenyReason, *, strategy: str = "t", count: int = 1) -> str:
    assert order.status is OrderStatus.DENIED
    assert order not in h.execution.submitted
    trader = h.traders[strategy]
    assert isinstance(trader, Trader)
    update = trader.updates[-1]
    assert update.order is order and update.status is OrderStatus.DENIED
    assert update.reason.startswith(reason.value + ":"), update.reason
    assert h.engine.denials[reason.value] == count
    assert h.risk.denials[reason.value] == count
    return update.reason


# ------------------------------------------------------------------------------ instrument rules


def test_venue_min_qty() -> None:
    h = Harness(RiskConfig())
    admitted(h, h.t.buy(PERP, "0.002"))
    reason = denied(h, h.t.buy(PERP, "0.0019"), DenyReason.BELOW_MIN_QTY)  # rounds down to 0.001
    assert "below the venue's minimum 0.002" in reason


def test_venue_max_qty() -> None:
    h = Harness(RiskConfig())
    admitted(h, h.t.buy(PERP, "10"))
    denied(h, h.t.buy(PERP, "10.001"), DenyReason.ABOVE_MAX_QTY)


def test_configured_max_order_qty() -> None:
    h = Harness(RiskConfig(instruments={PERP.key: InstrumentLimits(max_order_qty=D("2"))}))
    admitted(h, h.t.sell(PERP, "2"))
    assert "max_order_qty 2" in denied(h, h.t.sell(PERP, "2.001"), DenyReason.ABOVE_MAX_QTY)


def test_venue_min_notional() -> None:
    h = Harness(RiskConfig())
    inst = Instrument(venue="sim", symbol="XBT-PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.001",
                      min_notional="60")
    h.engine.add_instrument(inst)
    h.mark(inst, "20000")
    admitted(h, h.t.buy(inst, "0.003", "20000"))  # 60.000
    denied(h, h.t.buy(inst, "0.003", "19999.5"), DenyReason.BELOW_MIN_NOTIONAL)  # 59.9985


def test_a_price_that_rounds_to_zero_is_invalid() -> None:
    h = Harness(RiskConfig(price_band_bps=None))
    admitted(h, h.t.buy(ETH, "1", "0.005"))  # half-up to the tick: 0.01
    denied(h, h.t.buy(ETH, "1", "0.0049"), DenyReason.INVALID_PRICE)  # 0.00


# ---------------------------------------------------------------------------------- leverage


def test_only_the_leverage_values_the_venue_allows() -> None:
    h = Harness(RiskConfig())
    admitted(h, h.t.buy(PERP, "0.01", leverage=D(20)))
    assert "(1, 2, 5, 10, 20)" in denied(h, h.t.buy(PERP, "0.01", leverage=D(15)), DenyReason.LEVERAGE_NOT_ALLOWED)
    denied(h, h.t.buy(ETH, "1", leverage=D(2)), DenyReason.LEVERAGE_NOT_ALLOWED, count=2)  # spot
    admitted(h, h.t.buy(ETH, "1", leverage=D(1)))


def test_leverage_up_to_the_venue_maximum_when_any_value_is_allowed() -> None:
    h = Harness(RiskConfig())
    inst = Instrument(venue="sim", symbol="ETH-PERP", base="ETH", quote="USD", tick_size="0.01", lot_size="0.01",
                      kind="linear", max_leverage="25")
    h.engine.add_instrument(inst)
    h.mark(inst, "2000")
    admitted(h, h.t.buy(inst, "1", leverage=D("25")))
    denied(h, h.t.buy(inst, "1", leverage=D("25.5")), DenyReason.LEVERAGE_NOT_ALLOWED)


def test_never_above_the_users_leverage_cap() -> None:
    h = Harness(RiskConfig(max_leverage=D(10), strategies={"t": StrategyLimits(max_leverage=D(5))},
                           instruments={PERP.key: InstrumentLimits(max_leverage=D(20 // 2))}))
    admitted(h, h.t.buy(PERP, "0.01", leverage=D(5)))
    reason = denied(h, h.t.buy(PERP, "0.01", leverage=D(10)), DenyReason.LEVERAGE_ABOVE_CAP)
    assert "max_leverage 5" in reason


# ----------------------------------------------------------------------------------- notional


def test_max_order_notional() -> None:
    h = Harness(RiskConfig(max_order_notional=D("1000")))
    admitted(h, h.t.buy(PERP, "0.05", "20000"))  # 1000.00
    denied(h, h.t.buy(PERP, "0.05", "20000.5"), DenyReason.MAX_ORDER_NOTIONAL)  # 1000.025
    # a market order is valued at the reference price
    h.mark(PERP, "20001")
    denied(h, h.t.buy(PERP, "0.05"), DenyReason.MAX_ORDER_NOTIONAL, count=2)


def test_a_strategy_limit_tightens_the_accounts() -> None:
    h = Harness(RiskConfig(max_order_notional=D("1000"), strategies={"t": StrategyLimits(max_order_notional=D("400"))}),
                strategies=("t", "u"))
    admitted(h, h.t.buy(PERP, "0.02", "20000"))
    denied(h, h.t.buy(PERP, "0.021", "20000"), DenyReason.MAX_ORDER_NOTIONAL)
    other = h.traders["u"]
    assert isinstance(other, Trader)
    admitted(h, other.buy(PERP, "0.05", "20000"))


def test_max_position_qty_counts_open_orders_on_the_same_side() -> None:
    h = Harness(RiskConfig(instruments={PERP.key: InstrumentLimits(max_position_qty=D("1"))}))
    h.hold(PERP, "0.6")
    admitted(h, h.t.buy(PERP, "0.3", "19900"))  # resting: 0.9 could be long
    admitted(h, h.t.buy(PERP, "0.1", "19900"))  # exactly 1
    reason = denied(h, h.t.buy(PERP, "0.002", "19900"), DenyReason.MAX_POSITION)
    assert "could reach 1.002" in reason
    admitted(h, h.t.sell(PERP, "1.6"))  # reducing and flipping to short 1.0 is fine
    denied(h, h.t.sell(PERP, "1.601"), DenyReason.MAX_POSITION, count=2)


def test_max_position_notional_at_the_mark() -> None:
    h = Harness(RiskConfig(max_position_notional=D("20000")))
    h.hold(PERP, "0.5")
    admitted(h, h.t.buy(PERP, "0.5", "19000"))  # long 1.0 if it fills, valued at the mark 20000
    denied(h, h.t.buy(PERP, "0.002", "19000"), DenyReason.MAX_POSITION_NOTIONAL)  # 1.002: 20040
    h.mark(PERP, "19960")
    admitted(h, h.t.buy(PERP, "0.002", "19000"))  # 1.002 at 19960: 19999.92
    denied(h, h.t.buy(PERP, "0.002", "19000"), DenyReason.MAX_POSITION_NOTIONAL, count=2)  # 1.004: 20039.84


def test_max_position_notional_short_side_edge() -> None:
    h = Harness(RiskConfig(max_position_notional=D("20000")))
    h.hold(PERP, "-0.5")
    admitted(h, h.t.sell(PERP, "0.5"))  # short 1.0 at 20000 = 20000
    denied(h, h.t.sell(PERP, "0.002"), DenyReason.MAX_POSITION_NOTIONAL)  # 20040 with the open one
    admitted(h, h.t.buy(PERP, "1.5"))  # buying back through zero: long 1.0 at most
    denied(h, h.t.buy(PERP, "0.002"), DenyReason.MAX_POSITION_NOTIONAL, count=2)


def test_max_account_notional_is_gross_over_instruments() -> None:
    h = Harness(RiskConfig(max_account_notional=D("30000")))
    h.hold(ETH, "-5")  # short 5 ETH at 2000: 10000 gross
    admitted(h, h.t.buy(PERP, "1"))  # + 20000 = 30000
    h.fill(h.execution.submitted[-1])
    denied(h, h.t.buy(BTC, "0.0001"), DenyReason.MAX_ACCOUNT_NOTIONAL)
    admitted(h, h.t.buy(ETH, "5"))  # closing the ETH short never adds gross
    h.mark(ETH, "2000.5")  # the ETH short now weighs 10002.5: no room left for the smallest perp order
    denied(h, h.t.buy(PERP, "0.002"), DenyReason.MAX_ACCOUNT_NOTIONAL, count=2)


def test_max_asset_position_nets_instruments_on_the_same_base() -> None:
    h = Harness(RiskConfig(max_asset_position={"BTC": D("1")}))
    h.hold(BTC, "0.4")
    admitted(h, h.t.buy(PERP, "0.6"))  # 0.4 spot + 0.6 perp = 1.0
    denied(h, h.t.buy(PERP, "0.601"), DenyReason.MAX_POSITION)
    h.fill(h.execution.submitted[-1])
    # a hedge on one instrument reduces the net, whatever it does to its own position
    admitted(h, h.t.sell(BTC, "1.4"))  # spot -1.0, perp +0.6: net -0.4


def test_max_asset_position_on_a_single_instrument() -> None:
    h = Harness(RiskConfig(max_asset_position={"BTC": D("1")}))
    admitted(h, h.t.sell(PERP, "1", "20000"))  # short 1.0 if it fills
    denied(h, h.t.sell(PERP, "0.002", "20000"), DenyReason.MAX_POSITION)
    admitted(h, h.t.buy(PERP, "1"))  # the other side is checked on its own: long 1.0 at most


def test_max_asset_position_counts_inverse_contracts_at_the_mark() -> None:
    h = Harness(RiskConfig(max_asset_position={"BTC": D("0.05")}))
    admitted(h, h.t.buy(INV, "1000"))  # 1000 USD of contracts at 20000: 0.05 BTC
    h.fill(h.execution.submitted[-1])
    denied(h, h.t.buy(INV, "1"), DenyReason.MAX_POSITION)  # 0.05005 BTC
    denied(h, h.t.buy(BTC, "0.0001"), DenyReason.MAX_POSITION, count=2)  # the spot adds to the same BTC
    h.mark(INV, "20041")  # the contracts are worth less BTC as the price rises: 0.0498977
    admitted(h, h.t.buy(BTC, "0.0001"))  # 0.0499977
    denied(h, h.t.buy(BTC, "0.0001"), DenyReason.MAX_POSITION, count=3)  # with the open one: 0.0500977


# -------------------------------------------------------------------------------- open orders


def test_max_open_orders_per_account_and_per_strategy() -> None:
    h = Harness(RiskConfig(max_open_orders=3, strategies={"t": StrategyLimits(max_open_orders=2)}),
                strategies=("t", "u"))
    other = h.traders["u"]
    assert isinstance(other, Trader)
    admitted(h, h.t.buy(PERP, "0.01", "19900"))
    admitted(h, h.t.buy(PERP, "0.01", "19900"))
    assert "strategy t has 2" in denied(h, h.t.buy(PERP, "0.01", "19900"), DenyReason.MAX_OPEN_ORDERS)
    admitted(h, other.buy(PERP, "0.01", "19900"))
    denied(h, other.buy(PERP, "0.01", "19900"), DenyReason.MAX_OPEN_ORDERS, strategy="u", count=2)
    h.engine.on_canceled(h.execution.submitted[0], h.clock.ns)
    admitted(h, other.buy(PERP, "0.01", "19900"))


# ---------------------------------------------------------------------------------- price band


def test_price_band_against_the_mid() -> None:
    h = Harness(RiskConfig(price_band_bps=500))
    admitted(h, h.t.buy(PERP, "0.01", "21000"))  # +500 bps
    denied(h, h.t.buy(PERP, "0.01", "21000.5"), DenyReason.PRICE_BAND)
    admitted(h, h.t.sell(PERP, "0.01", "19000"))  # -500 bps
    reason = denied(h, h.t.sell(PERP, "0.01", "18999.5"), DenyReason.PRICE_BAND, count=2)
    assert "from reference 20000 (band 500 bps)" in reason
    h.mark(PERP, "20000.25")  # a mid between ticks works the same
    denied(h, h.t.buy(PERP, "0.01", "21000.5"), DenyReason.PRICE_BAND, count=3)  # 500.1 bps
    admitted(h, h.t.buy(PERP, "0.01", "21000"))  # 499.9 bps


def test_a_stop_limit_price_is_banded_against_its_trigger() -> None:
    h = Harness(RiskConfig(price_band_bps=100))
    stop = dict(type=OrderType.STOP_LIMIT, trigger_price=D("22000"))
    admitted(h, h.t.buy(PERP, "0.01", "22220", **stop))
    denied(h, h.t.buy(PERP, "0.01", "22220.5", **stop), DenyReason.PRICE_BAND)


def test_no_reference_price() -> None:
    h = Harness(RiskConfig())
    del h.marks[PERP.key]
    reason = denied(h, h.t.buy(PERP, "0.01", "20000"), DenyReason.NO_REFERENCE_PRICE)
    assert "price band" in reason
    denied(h, h.t.buy(PERP, "0.01"), DenyReason.NO_REFERENCE_PRICE, count=2)  # min notional needs a price
    lenient = Harness(RiskConfig(require_reference_price=False))
    del lenient.marks[PERP.key]
    admitted(lenient, lenient.t.buy(PERP, "0.01", "20000"))
    admitted(lenient, lenient.t.buy(PERP, "0.01"))


# ------------------------------------------------------------------------------- loss limits


def test_daily_loss_limit_halts_and_cancels() -> None:
    h = Harness(RiskConfig(daily_loss_limit=D("100")))
    h.hold(PERP, "1", "20000")
    resting = h.t.sell(PERP, "0.01", "20900")
    h.mark(PERP, "19900.5")  # loss 99.5
    admitted(h, h.t.buy(PERP, "0.002"))
    h.mark(PERP, "19900")  # loss 100.0
    reason = denied(h, h.t.buy(PERP, "0.002"), DenyReason.DAILY_LOSS_LIMIT)
    assert "loss today 100.00 USD reached daily_loss_limit 100" in reason
    assert h.risk.state is TradingState.HALTED
    assert [(c.previous, c.state) for c in h.t.states] == [("active", "halted")]
    assert resting in h.execution.canceled
    # from now on nothing new, with its own reason
    denied(h, h.t.sell(PERP, "1"), DenyReason.TRADING_HALTED)


def test_the_daily_loss_restarts_at_the_utc_day_boundary() -> None:
    h = Harness(RiskConfig(daily_loss_limit=D("100")))
    h.hold(PERP, "1", "20000")
    h.mark(PERP, "19910")  # -90 today
    admitted(h, h.t.buy(PERP, "0.002"))
    h.advance(DAY // 2 - 1)  # 23:59:59.999999999
    h.mark(PERP, "19900")
    denied(h, h.t.buy(PERP, "0.002"), DenyReason.DAILY_LOSS_LIMIT)
    # a second account, same path, crossing midnight before the extra loss
    h2 = Harness(RiskConfig(daily_loss_limit=D("100")))
    h2.hold(PERP, "1", "20000")
    h2.mark(PERP, "19910")
    admitted(h2, h2.t.buy(PERP, "0.002"))
    h2.advance(DAY // 2)  # 00:00 UTC: the day's baseline is now -90
    admitted(h2, h2.t.buy(PERP, "0.002"))
    h2.mark(PERP, "19820.5")  # -89.5 today (about -180 in total)
    admitted(h2, h2.t.buy(PERP, "0.002"))
    h2.mark(PERP, "19810")  # -100 today
    denied(h2, h2.t.buy(PERP, "0.002"), DenyReason.DAILY_LOSS_LIMIT)


def test_max_drawdown_from_the_peak() -> None:
    h = Harness(RiskConfig(max_drawdown=D("150")))
    h.hold(PERP, "1", "20000")
    h.mark(PERP, "20200")  # peak +200
    admitted(h, h.t.buy(PERP, "0.002"))
    h.mark(PERP, "20050.5")  # 149.5 below the peak
    admitted(h, h.t.buy(PERP, "0.002"))
    h.mark(PERP, "20050")
    reason = denied(h, h.t.buy(PERP, "0.002"), DenyReason.MAX_DRAWDOWN)
    assert "drawdown 150.00 USD from peak PnL 200.00" in reason
    assert h.risk.state is TradingState.HALTED


def test_a_losing_fill_halts_at_once() -> None:
    h = Harness(RiskConfig(daily_loss_limit=D("50")))
    h.hold(PERP, "1", "20000")
    close = h.t.sell(PERP, "1")
    h.fill(close, "19949.5")  # realized -50.5
    assert h.risk.state is TradingState.HALTED
    assert h.t.states[-1].reason.startswith("loss today 50.50 USD")


# ------------------------------------------------------------------------ trading state switch


def test_halted_admits_nothing_and_active_again_admits() -> None:
    h = Harness(RiskConfig())
    resting = h.t.buy(PERP, "0.01", "19900")
    assert h.risk.set_state(TradingState.HALTED, "operator")
    assert resting in h.execution.canceled
    denied(h, h.t.sell(PERP, "0.01"), DenyReason.TRADING_HALTED)
    assert not h.risk.set_state(TradingState.HALTED, "again")  # no change, no event
    h.risk.set_state(TradingState.ACTIVE, "operator")
    admitted(h, h.t.buy(PERP, "0.01"))
    assert [(c.state, c.reason) for c in h.t.states] == [("halted", "operator"), ("active", "operator")]


def test_reducing_admits_only_orders_that_reduce() -> None:
    h = Harness(RiskConfig())
    h.hold(PERP, "1")
    h.risk.set_state(TradingState.REDUCING, "operator")
    assert h.execution.canceled == []  # REDUCING does not cancel
    denied(h, h.t.buy(PERP, "0.002"), DenyReason.REDUCE_ONLY_STATE)
    denied(h, h.t.sell(PERP, "1.001"), DenyReason.REDUCE_ONLY_STATE, count=2)  # would flip
    admitted(h, h.t.sell(PERP, "0.5", "20100"))
    admitted(h, h.t.sell(PERP, "0.5"))  # with the open one: exactly flat
    denied(h, h.t.sell(PERP, "0.002"), DenyReason.REDUCE_ONLY_STATE, count=3)
    denied(h, h.t.buy(ETH, "1"), DenyReason.REDUCE_ONLY_STATE, count=4)  # no position at all


def test_a_reduce_only_strategy() -> None:
    h = Harness(RiskConfig(strategies={"t": StrategyLimits(reduce_only=True)}), strategies=("t", "u"))
    h.hold(PERP, "-1", strategy="u")
    admitted(h, h.t.buy(PERP, "1"))
    reason = denied(h, h.t.buy(PERP, "0.002"), DenyReason.REDUCE_ONLY_STATE)
    assert "strategy t is reduce_only" in reason


def test_repeated_venue_failures_halt_trading() -> None:
    h = Harness(RiskConfig())  # 5 failures within 60 s
    for _ in range(4):
        assert not h.risk.record_venue_failure("timeout")
    h.risk.record_venue_success()
    for _ in range(4):
        h.risk.record_venue_failure("timeout")
    h.advance(61 * 10**9)  # the first four are too old now
    assert not h.risk.record_venue_failure("timeout")
    for _ in range(3):
        assert not h.risk.record_venue_failure("5xx")
    assert h.risk.record_venue_failure("5xx")
    assert h.risk.state is TradingState.HALTED
    assert h.t.states[-1].reason == "5 venue failures within 60 s; last: 5xx"
    denied(h, h.t.buy(PERP, "0.01"), DenyReason.TRADING_HALTED)


# --------------------------------------------------------------------------------- rate limit


def test_a_bound_order_rate_limit_in_simulated_time() -> None:
    h = Harness(RiskConfig())
    # seconds since the start: epoch seconds as a float would blur sub-microsecond steps
    limiter = RateLimiter([RateLimitSpec("ORDERS", 10, 1)], burst_fraction=0.2, utilization=1.0,
                          clock=lambda: (h.clock.now_ns() - T0) / 1e9)
    h.risk.bind_order_rate_limit("sim", limiter, {"ORDERS": 1})
    admitted(h, h.t.buy(PERP, "0.01"))
    admitted(h, h.t.buy(PERP, "0.01"))
    denied(h, h.t.buy(PERP, "0.01"), DenyReason.RATE_LIMITED)
    h.advance(125_000_000 - 1_000)  # one more token takes 125 ms
    denied(h, h.t.buy(PERP, "0.01"), DenyReason.RATE_LIMITED, count=2)
    h.advance(1_000)
    admitted(h, h.t.buy(PERP, "0.01"))
    # a denial for another reason takes no token
    denied(h, h.t.buy(PERP, "0.001"), DenyReason.BELOW_MIN_QTY)
    h.advance(125_000_000)
    admitted(h, h.t.buy(PERP, "0.01"))


def test_denials_are_counted_by_reason() -> None:
    h = Harness(RiskConfig(max_order_notional=D("100")))
    for _ in range(3):
        h.t.buy(PERP, "1")
    h.t.buy(PERP, "0.001")
    assert h.engine.denials == {"max_order_notional": 3, "below_min_qty": 1}
    stats = h.risk.statistics()
    assert stats.checks == 4 and stats.admitted == 0 and stats.denied == h.engine.denials



# ------------------------------------------------------------------------- a whole backtest run


class Pusher(Strategy):
    """Buys every bar and also offers far above the market: runs into both limits."""

    class Params:
        instrument: str = ""
        qty: D = D("0.01")

    def on_start(self) -> None:
        self.inst = self.ctx.instrument(self.params.instrument)
        self.ctx.subscribe_bars(self.inst)
        self.denials: list[str] = []

    def on_bar(self, bar: Any) -> None:
        self.ctx.buy(self.inst, self.params.qty)
        self.ctx.sell(self.inst, self.params.qty, price=bar.close * D("1.2"))

    def on_order(self, update: OrderUpdate) -> None:
        if update.status is OrderStatus.DENIED:
            self.denials.append(update.reason.split(":")[0])


def test_a_backtest_run_counts_every_denial_in_its_report(tmp_path: Any) -> None:
    from backtest.data import DatasetWriter, open_dataset
    from backtest.generate import BTC_USD, generate_bars
    from backtest.report import format_report
    from backtest.runner import BacktestSettings, run_backtest
    from engine import from_mapping, params_class
    from engine import StrategySpec
    from risk import build_risk

    writer = DatasetWriter(tmp_path / "ds", [BTC_USD])
    writer.add_columns("bars", BTC_USD, generate_bars(BTC_USD, 300, seed=3), interval_ns=60_000_000_000)
    dataset = open_dataset(tmp_path / "ds")
    params = from_mapping(params_class(Pusher), {"instrument": BTC_USD.key, "qty": "0.01"})
    risk = build_risk({"price_band_bps": 1000, "instruments": {BTC_USD.key: {"max_position_qty": "0.05"}}},
                      source="test.toml")
    settings = BacktestSettings(starting_balances={"USD": D(10_000_000)}, show_progress=False)
    result = run_backtest(dataset, [StrategySpec("push", Pusher, params)], settings, risk=risk)
    strategy = result.engine.slots["push"].strategy
    assert isinstance(strategy, Pusher)
    by_reason = {reason: strategy.denials.count(reason) for reason in set(strategy.denials)}
    assert by_reason["price_band"] == 300  # every far offer
    assert by_reason["max_position"] >= 290  # five buys fit under 0.05, the rest are denied
    assert result.record.denials == result.engine.denials == risk.denials == by_reason
    assert result.stats.denied_by_reason == by_reason
    assert abs(result.engine.portfolio.position(BTC_USD).qty) <= D("0.05")
    report = format_report(result.stats, result.record)
    assert "price_band" in report and "max_position" in report
