"""The simulated venue's cash and margin rules (backtest.account) through the real engine."""

from __future__ import annotations

import random
from decimal import Decimal as D
from pathlib import Path

import pytest

from backtest.data import DatasetWriter, open_dataset
from backtest.generate import BTC_USD, generate_bars
from backtest.runner import BacktestSettings, run_backtest
from backtest.simvenue import SimVenue, SimVenueConfig
from engine import Bar, Instrument, OrderStatus, OrderType, Side, Strategy, Trade
from engine import SimClock
from engine import from_mapping, params_class
from engine._core import LIQUIDATION_STRATEGY_ID, Engine
from engine import OrderUpdate
from engine import Portfolio
from engine import StrategySpec
from strategies.sma_cross import SmaCross

BUY, SELL = Side.BUY, Side.SELL
MINUTE = 60_000_000_000
# spot: tick 0.01, lot 0.001; fees maker 0.1 %, taker 0.2 %
SPOT = Instrument("sim", "BTC/USD", "BTC", "USD", "0.01", "0.001", maker_fee="0.001", taker_fee="0.002")
# linear perpetual, leverage 1..10, no fees (margin figures stay round)
PERP = Instrument("sim", "BTC-PERP", "BTC", "USD", "0.5", "0.001", kind="linear", max_leverage="10")


class Recorder(Strategy):
    """Records every order update it is told about."""

    def on_start(self) -> None:
        self.updates: list[OrderUpdate] = []

    def on_order(self, update: OrderUpdate) -> None:
        self.updates.append(update)


class Rig:
    """Engine + portfolio + simulated venue with balance checks, driven event by event."""

    def __init__(self, inst: Instrument, balances: dict[str, str]) -> None:
        self.inst = inst
        self.clock = SimClock()
        self.engine = Engine(clock=self.clock, portfolio=Portfolio({k: D(v) for k, v in balances.items()}))
        self.engine.add_instrument(inst)
        self.venue = SimVenue([inst], self.engine, SimVenueConfig(),
                              position_of=lambda i: self.engine.portfolio.position(i).qty_raw,
                              balance_of=self.engine.portfolio.balance)
        self.engine.execution = self.venue
        self.strategy = self.engine.add_strategy("s", lambda ctx: Recorder(ctx))
        self.engine.start()

    def submit(self, side: Side, qty: str, price: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
        kind = OrderType.LIMIT if price is not None else OrderType.MARKET
        return self.engine.submit_order("s", self.inst, side, D(qty), type=kind,
                                        price=None if price is None else D(price), **kw)  # type: ignore[arg-type]

    def trade(self, price: str, size: str = "100") -> None:
        self.clock.ns += 1_000
        self.venue.advance(self.clock.ns)
        self.venue.on_trade(Trade(self.inst, self.clock.ns, self.clock.ns, self.inst.price_raw(D(price)),
                                  self.inst.size_raw(D(size))))

    def bar(self, o: str, h: str, lo: str, c: str) -> None:
        self.clock.ns += MINUTE
        raw = self.inst.price_raw
        self.venue.advance(self.clock.ns - MINUTE)
        self.venue.on_bar(Bar(self.inst, self.clock.ns - MINUTE, self.clock.ns, raw(D(o)), raw(D(h)), raw(D(lo)),
                              raw(D(c)), 1))

    def rejected(self) -> list[str]:
        updates: list[OrderUpdate] = self.strategy.updates  # type: ignore[attr-defined]
        return [u.reason for u in updates if u.status is OrderStatus.REJECTED]


def test_spot_buy_needs_the_quote_including_the_fee() -> None:
    rig = Rig(SPOT, {"USD": "1000"})
    too_much = rig.submit(BUY, "10", "100")  # 1000 + 0.1 % maker/0.2 % taker reserve > 1000
    fits = rig.submit(BUY, "9.98", "100")  # 998 * 1.002 = 999.996
    rig.trade("99")  # a print through both limits: they take at 99 (taker)
    assert too_much.status is OrderStatus.REJECTED and too_much.reason == "insufficient balance (USD)"
    assert rig.rejected() == ["insufficient balance (USD)"]  # the strategy was told, with the reason
    assert fits.status is OrderStatus.FILLED
    assert rig.engine.portfolio.balance("USD") == D("1000") - D("988.02") - D("1.97604")
    assert rig.engine.portfolio.balance("BTC") == D("9.98")


def test_spot_sell_needs_the_base_asset() -> None:
    rig = Rig(SPOT, {"USD": "100000", "BTC": "1"})
    short = rig.submit(SELL, "1.5")
    rig.trade("100")
    assert short.status is OrderStatus.REJECTED and short.reason == "insufficient balance (BTC)"
    ok = rig.submit(SELL, "1")
    rig.trade("100")
    assert ok.status is OrderStatus.FILLED and rig.engine.portfolio.balance("BTC") == 0


def test_resting_orders_reserve_their_funds_until_they_are_done() -> None:
    rig = Rig(SPOT, {"USD": "1000"})
    first = rig.submit(BUY, "6", "100")
    second = rig.submit(BUY, "6", "100")  # the first one's reserve leaves too little
    rig.trade("101")
    assert first.status is OrderStatus.ACCEPTED and second.status is OrderStatus.REJECTED
    rig.engine.cancel_order("s", first)
    third = rig.submit(BUY, "6", "100")
    rig.trade("101")
    assert first.status is OrderStatus.CANCELED and third.status is OrderStatus.ACCEPTED
    rig.trade("99.99")  # fills the resting buy as maker
    assert third.status is OrderStatus.FILLED
    assert rig.engine.portfolio.balance("USD") == D("1000") - D("600") - D("0.6")


def test_a_market_buy_is_priced_where_it_fills() -> None:
    rig = Rig(SPOT, {"USD": "1000"})
    buy = rig.submit(BUY, "5")
    rig.bar("201", "202", "200", "201")  # next bar open 201: 1005 + fee > 1000
    assert buy.status is OrderStatus.REJECTED
    buy = rig.submit(BUY, "4")
    rig.bar("201", "202", "200", "201")
    assert buy.status is OrderStatus.FILLED
    assert rig.engine.portfolio.balance("USD") == D("1000") - D("804") - D("1.608")


def test_margin_at_the_leverage_and_liquidation_at_half_the_margin_lost() -> None:
    rig = Rig(PERP, {"USD": "1000"})
    big = rig.submit(BUY, "1.001", "100", leverage=D(10))  # margin 100.1 / 10 = 10.01 USD
    rig.trade("100.5")
    assert big.status is OrderStatus.ACCEPTED
    too_big = rig.submit(BUY, "99", "100", leverage=D(10))  # 990 more margin: 989.99 is free
    rig.trade("100.5")
    assert too_big.status is OrderStatus.REJECTED and too_big.reason == "insufficient balance (USD)"
    bad_leverage = rig.submit(BUY, "1", "100", leverage=D(20))
    rig.trade("100.5")
    assert bad_leverage.status is OrderStatus.REJECTED and "leverage 20 not allowed" in bad_leverage.reason
    rig.engine.cancel_order("s", big)
    rig.trade("100.5")
    long = rig.submit(BUY, "10", "100", leverage=D(10))  # margin 100: liquidated at 95 (half of it lost)
    rig.trade("100.5")
    rig.trade("99.5")
    assert long.status is OrderStatus.FILLED and rig.engine.portfolio.position(PERP).qty == 10
    rig.trade("95.5")
    assert rig.engine.portfolio.position(PERP).qty == 10 and not rig.engine.alarms
    rig.trade("94")  # through the liquidation price: closed at the print
    position = rig.engine.portfolio.position(PERP)
    assert position.qty == 0
    [liquidation] = [f for f in rig.engine.fills if f.strategy_id == LIQUIDATION_STRATEGY_ID]
    assert (liquidation.side, liquidation.qty, liquidation.price) == (SELL, D(10), D(94))
    assert [a.kind for a in rig.engine.alarms] == ["liquidation"]
    assert rig.engine.portfolio.balance("USD") == D(1000) - D(60)
    # the margin is free again: an order needing all of the rest fits
    again = rig.submit(BUY, "94", "100", leverage=D(10))  # margin 940
    rig.trade("100.5")
    assert again.status is OrderStatus.ACCEPTED


def test_a_short_is_liquidated_on_a_bar_that_reaches_its_price() -> None:
    rig = Rig(PERP, {"USD": "1000"})
    short = rig.submit(SELL, "10", leverage=D(5))  # margin 200 at 100: liquidated at 110
    rig.bar("100", "101", "99", "100")
    assert short.status is OrderStatus.FILLED
    rig.bar("100", "109.5", "99", "104")
    assert rig.engine.portfolio.position(PERP).qty == -10
    rig.bar("104", "112", "103", "111")  # reaches 110 on the way: closed there
    assert rig.engine.portfolio.position(PERP).qty == 0
    assert rig.engine.fills[-1].price == D(110)
    assert rig.engine.portfolio.balance("USD") == D(900)


def _sma(path: Path, **params: object):  # type: ignore[no-untyped-def]
    spec = StrategySpec("sma", SmaCross, from_mapping(params_class(SmaCross),
                                                      {"instrument": BTC_USD.key, "qty": "1", **params}))
    return run_backtest(open_dataset(path), [spec], BacktestSettings(show_progress=False,
                                                                      sim=SimVenueConfig(taker_fee=D("0.001"))))


def test_a_spot_account_cannot_sell_what_it_does_not_hold_and_the_report_counts_it(tmp_path: Path) -> None:
    """The issue's case: SMA with shorts on a USD-only spot account."""
    w = DatasetWriter(tmp_path / "ds", [BTC_USD])
    w.add_bars(BTC_USD, **generate_bars(BTC_USD, 3_000, seed=3), interval_ns=MINUTE)
    result = _sma(tmp_path / "ds")
    stats = result.stats
    assert stats.n_rejected > 10 and stats.rejected_by_reason == {"insufficient balance (BTC)": stats.n_rejected}
    assert result.engine.portfolio.balance("BTC") >= 0
    assert min(result.record.equity) > 0
    long_only = _sma(tmp_path / "ds", allow_short=False)
    assert long_only.stats.n_rejected == 0 and long_only.stats.n_fills > 50


# inverse perpetual: 100 USD contracts, margin and PnL in BTC, no fees
INVERSE = Instrument("sim", "BTCUSD-INV", "BTC", "USD", "0.5", "1", kind="inverse", multiplier="100",
                     max_leverage="10")


def test_inverse_margin_is_in_the_base_asset_and_liquidation_follows_1_over_price() -> None:
    rig = Rig(INVERSE, {"BTC": "1"})
    too_big = rig.submit(SELL, "5001", leverage=D(10))  # 500,100 USD at 50,000 = 10.002 BTC: margin 1.0002
    rig.trade("50000")
    assert too_big.status is OrderStatus.REJECTED and too_big.reason == "insufficient balance (BTC)"
    short = rig.submit(SELL, "100", leverage=D(10))  # 0.2 BTC of notional: margin 0.02 BTC
    rig.trade("50000")
    assert short.status is OrderStatus.FILLED and rig.engine.portfolio.position(INVERSE).qty == -100
    # liquidated when 10,000 * (1/50,000 - 1/price) loses 0.01 BTC: price >= 52,631.578...
    rig.trade("52631.5")
    assert rig.engine.portfolio.position(INVERSE).qty == -100 and not rig.engine.alarms
    rig.trade("52632")
    assert rig.engine.portfolio.position(INVERSE).qty == 0
    assert [a.kind for a in rig.engine.alarms] == ["liquidation"]
    assert rig.engine.fills[-1].price == D("52632")


def test_a_market_buy_on_quotes_is_priced_at_the_touch_it_takes() -> None:
    from engine import Quote

    rig = Rig(SPOT, {"USD": "1000"})

    def quote(bid: str, ask: str) -> None:
        rig.clock.ns += 1_000
        rig.venue.advance(rig.clock.ns)
        raw = SPOT.price_raw
        rig.venue.on_quote(Quote(SPOT, rig.clock.ns, rig.clock.ns, raw(D(bid)), SPOT.size_raw(D(50)), raw(D(ask)),
                                 SPOT.size_raw(D(50))))

    quote("99", "100")
    buy = rig.submit(BUY, "10")  # meets the next quote: 1,000 at its ask + fee is too much
    quote("99", "100")
    assert buy.status is OrderStatus.REJECTED
    buy = rig.submit(BUY, "10")  # 10 at 99.5 = 995 + 0.2 % reserve = 996.99
    quote("98", "99.5")
    assert buy.status is OrderStatus.FILLED
    assert rig.engine.portfolio.balance("USD") == D("1000") - D("995") - D("1.99")


def test_a_stop_that_gaps_past_its_reserve_is_canceled_unless_the_rest_is_free() -> None:
    rig = Rig(SPOT, {"USD": "1000"})
    stop = rig.engine.submit_order("s", SPOT, BUY, D("9.9"), type=OrderType.STOP_MARKET, trigger_price=D(100))
    rig.bar("99", "99.5", "98", "99")  # accepted; reserves 9.9 * 100 * 1.002 = 991.98
    assert stop.status is OrderStatus.ACCEPTED
    rig.bar("105", "106", "104", "105")  # gaps to 105: 1,039.5 + fee cannot be paid
    assert stop.status is OrderStatus.CANCELED and stop.reason == "insufficient balance (USD)"
    assert rig.engine.portfolio.balance("USD") == D(1000) and not rig.engine.fills
    small = rig.engine.submit_order("s", SPOT, BUY, D("9"), type=OrderType.STOP_MARKET, trigger_price=D(106))
    rig.bar("105", "105.5", "104", "105")
    rig.bar("109", "110", "108", "109")  # gaps to 109: 981 + 1.962 fee is more than reserved but free
    assert small.status is OrderStatus.FILLED
    assert rig.engine.portfolio.balance("USD") == D(1000) - D(981) - D("1.962")


@pytest.mark.parametrize("kind", ["spot", "linear"])
def test_the_same_resting_orders_are_refused_as_on_the_local_testnet_exchange(kind: str) -> None:
    """Seeded random limit orders: the simulated venue refuses exactly those the testnet core refuses."""
    from backtest.exchange import AccountConfig, Exchange, ExchangeRejected, RejectReason

    fees = {"maker_fee": "0.001", "taker_fee": "0.002"}
    inst = (Instrument("x", "BTC/USD", "BTC", "USD", "0.5", "0.01", **fees) if kind == "spot" else
            Instrument("x", "BTC-PERP", "BTC", "USD", "0.5", "0.01", kind="linear", leverage_values=(1, 5, 10),
                       max_leverage="10", **fees))
    balances = {"USD": "2000", "BTC": "3"}
    exchange = Exchange([inst], [AccountConfig("a", "k", "s", {k: D(v) for k, v in balances.items()})],
                        clock_ms=lambda: 1_800_000_000_000)
    account = exchange.accounts["a"]
    rig = Rig(inst, balances)
    rng = random.Random(11)
    testnet: list[bool] = []
    sim: list[bool] = []
    for _ in range(60):
        side = rng.choice([BUY, SELL])
        qty = D(rng.randint(1, 400)) / 100
        price = D(rng.randint(100, 199) if side is BUY else rng.randint(201, 300)) / 2  # never crosses 100
        leverage = rng.choice([1, 5, 10]) if kind == "linear" else None
        try:
            exchange.submit_order(account, inst.symbol, side, OrderType.LIMIT, qty, price=price, leverage=leverage)
            testnet.append(True)
        except ExchangeRejected as exc:
            assert exc.reason is RejectReason.INSUFFICIENT_BALANCE
            testnet.append(False)
        order = rig.submit(side, str(qty), str(price), leverage=None if leverage is None else D(leverage))
        rig.trade("100")
        assert order.status in (OrderStatus.ACCEPTED, OrderStatus.REJECTED)
        sim.append(order.status is OrderStatus.ACCEPTED)
    assert sim == testnet
    assert 5 < sum(sim) < 55  # both kinds of answer happened
