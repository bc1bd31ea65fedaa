"""The risk configuration (TOML, defaults, validation), PnL accounting behind the loss limits,
currency conversion, inverse contracts, the kill switch's state machine and its signals."""

from __future__ import annotations

import logging
import os
import signal
import tomllib
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio

from engine import ConfigError, Instrument, Liquidity, Order, OrderStatus, OrderType, Side
from engine import SimClock
from engine._config import InvalidConfig, dump_defaults, load_toml
from engine import Engine
from engine import Strategy
from risk import (
    DenyReason,
    InstrumentLimits,
    KillSwitchSettings,
    RateLimitSettings,
    RiskConfig,
    RiskEngine,
    StrategyLimits,
    TradingState,
    build_risk,
    serve_kill_switch_signals,
)

T0 = 1_767_268_800_000_000_000

LINEAR = Instrument(venue="sim", symbol="BTC-PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.001",
                    kind="linear", multiplier="1")
SPOT = Instrument(venue="sim", symbol="ETH/USD", base="ETH", quote="USD", tick_size="0.01", lot_size="0.001")
BTCUSD = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.0001")
INVERSE = Instrument(venue="sim", symbol="BTCUSD-INV", base="BTC", quote="USD", tick_size="0.5", lot_size="1",
                     kind="inverse", multiplier="1", min_notional="0.001")


# ------------------------------------------------------------------------------ configuration


def test_defaults_are_permissive_but_sane_and_documented() -> None:
    config = RiskConfig()
    assert config.state is TradingState.ACTIVE
    assert config.max_open_orders == 200 and config.price_band_bps == 1000
    assert config.max_order_notional is None and config.daily_loss_limit is None
    assert config.rate_limits.on_limit == "wait" and config.rate_limits.max_wait_ms == 5000
    assert config.kill_switch.venue_failures == 5
    # the commented skeleton of the defaults reads back as the defaults
    skeleton = dump_defaults(RiskConfig)
    assert RiskConfig.from_mapping(tomllib.loads(skeleton, parse_float=D)) == config
    assert RiskConfig.from_mapping({}) == config


def test_a_toml_file_with_every_table(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("""
[risk]
currency = "USDT"
state = "reducing"
max_order_notional = "25000"
max_position_notional = 50000
max_account_notional = 100000.5
max_asset_position = { BTC = "2", ETH = 30 }
max_open_orders = 50
price_band_bps = 500
max_leverage = 10
daily_loss_limit = "1000"
max_drawdown = "2500"

[risk.rate_limits]
on_limit = "deny"

[risk.clock]
safety_margin_ms = 100

[risk.kill_switch]
venue_failures = 3
failure_window_s = 30

[risk.strategies.mm]
max_open_orders = 10
reduce_only = true

[risk.instruments."sim:BTC-PERP"]
max_position_qty = "1.5"
max_leverage = 5
""")
    config = RiskConfig.from_mapping(load_toml(path)["risk"], source=str(path), key="risk")
    assert config.currency == "USDT" and config.state is TradingState.REDUCING
    assert config.max_order_notional == D("25000") and config.max_account_notional == D("100000.5")
    assert config.max_asset_position == {"BTC": D(2), "ETH": D(30)}
    assert config.rate_limits.max_wait_s == 0
    assert config.clock.safety_margin_ms == 100
    assert config.kill_switch == KillSwitchSettings(venue_failures=3, failure_window_s=30)
    assert config.strategy("mm") == StrategyLimits(max_open_orders=10, reduce_only=True)
    assert config.strategy("other") == StrategyLimits()
    assert config.instrument("sim:BTC-PERP").max_position_qty == D("1.5")
    risk = build_risk(load_toml(path)["risk"], source=str(path))
    assert risk.state is TradingState.REDUCING and risk.state_reason == "initial state from configuration"


def test_every_bad_value_is_reported_with_file_and_key() -> None:
    wrong_types = {
        "max_order_notional": "lots",
        "state": "paused",
        "rate_limits": {"on_limit": "sleep"},
        "strategies": {"mm": {"max_open_orders": "ten"}},
    }
    with pytest.raises(InvalidConfig) as caught:
        RiskConfig.from_mapping(wrong_types, source="configs/live.toml", key="risk")
    text = str(caught.value)
    for key in ("risk.max_order_notional", "risk.state", "risk.rate_limits.on_limit",
                "risk.strategies.mm.max_open_orders"):
        assert f"configs/live.toml: {key}: " in text, key
    assert "expected one of 'active', 'reducing', 'halted', got 'paused'" in text
    out_of_range = {"max_open_orders": 0, "price_band_bps": -5, "daily_loss_limit": "-1", "max_leverage": "0.5"}
    with pytest.raises(InvalidConfig) as caught:
        RiskConfig.from_mapping(out_of_range, source="configs/live.toml", key="risk")
    text = str(caught.value)
    for key in ("risk.max_open_orders", "risk.price_band_bps", "risk.daily_loss_limit", "risk.max_leverage"):
        assert f"configs/live.toml: {key}: " in text, key
    assert "max_leverage must be at least 1, got 0.5" in text
    nested = {"rate_limits": {"burst_fraction": 1.5}, "clock": {"max_samples": 0},
              "kill_switch": {"failure_window_s": 0}}
    with pytest.raises(InvalidConfig) as caught:
        RiskConfig.from_mapping(nested, source="configs/live.toml", key="risk")
    text = str(caught.value)
    for key in ("risk.rate_limits.burst_fraction", "risk.clock.max_samples", "risk.kill_switch.failure_window_s"):
        assert f"configs/live.toml: {key}: " in text, key


def test_unknown_keys_get_a_suggestion() -> None:
    with pytest.raises(InvalidConfig, match=r"risk\.max_oder_notional: unknown key, did you mean 'max_order_notional'"):
        RiskConfig.from_mapping({"max_oder_notional": "1"}, source="x.toml", key="risk")
    with pytest.raises(InvalidConfig, match=r"risk\.kill_switch\.failures: unknown key, did you mean 'venue_failures'"):
        RiskConfig.from_mapping({"kill_switch": {"failures": 3}}, source="x.toml", key="risk")


def test_overrides_may_only_tighten() -> None:
    with pytest.raises(ConfigError) as caught:
        RiskConfig.from_mapping({
            "max_order_notional": "1000",
            "price_band_bps": 300,
            "strategies": {"mm": {"max_order_notional": "1000.01"}},
            "instruments": {"sim:BTC-PERP": {"price_band_bps": 301}, "BTC-PERP": {}},
        }, source="x.toml", key="risk")
    text = str(caught.value)
    assert "strategies.mm.max_order_notional (1000.01) is above the account's max_order_notional (1000)" in text
    assert 'instruments."sim:BTC-PERP".price_band_bps (301) is above the account\'s price_band_bps (300)' in text
    assert 'instruments."BTC-PERP": expected a "venue:symbol" key' in text
    # equal is fine, and an override with no account limit is fine
    RiskConfig(max_order_notional=D(1000), strategies={"mm": StrategyLimits(max_order_notional=D(1000))},
               instruments={"sim:X": InstrumentLimits(max_position_notional=D(5))})


def test_rate_limit_settings_are_checked_together() -> None:
    with pytest.raises(ValueError, match="default_backoff_ms .* exceeds max_backoff_ms"):
        RateLimitSettings(default_backoff_ms=5000, max_backoff_ms=1000)


# ------------------------------------------------------------------------------ PnL accounting


class Recorder(Strategy):
    def on_start(self) -> None:
        self.states: list[str] = []

    def on_trading_state(self, change) -> None:  # type: ignore[no-untyped-def]
        self.states.append(change.state)


class Execution:
    def __init__(self) -> None:
        self.canceled: list[Order] = []

    def submit(self, order: Order, now_ns: int) -> None:
        pass

    def cancel(self, order: Order, now_ns: int) -> None:
        self.canceled.append(order)


def make(config: RiskConfig, *instruments: Instrument) -> tuple[Engine, RiskEngine, dict[str, D]]:
    risk = RiskEngine(config)
    engine = Engine(clock=SimClock(T0), risk=risk)
    for inst in instruments or (LINEAR, SPOT, BTCUSD, INVERSE):
        engine.add_instrument(inst)
    engine.execution = Execution()
    marks: dict[str, D] = {}
    engine.mark_source = lambda inst: marks.get(inst.key)
    engine.add_strategy("s", Recorder)
    engine.start()
    return engine, risk, marks


_trade = 0


def trade(engine: Engine, inst: Instrument, side: Side, qty: str, price: str, fee: str = "0") -> Order:
    global _trade
    order = engine.submit_order("s", inst, side, D(qty), type=OrderType.LIMIT, price=D(price))
    assert order.status is OrderStatus.SUBMITTED, order.reason
    _trade += 1
    engine.on_fill(order, engine.clock.now_ns(), inst.price_raw(D(price)), order.qty_raw, Liquidity.TAKER, D(fee),
                   f"f{_trade}", None)
    return order


def test_pnl_is_realized_plus_unrealized_minus_fees_across_kinds() -> None:
    engine, risk, marks = make(RiskConfig(price_band_bps=None))
    marks.update({LINEAR.key: D("20000"), SPOT.key: D("2000"), BTCUSD.key: D("20000"), INVERSE.key: D("20000")})
    trade(engine, LINEAR, Side.BUY, "1", "20000", fee="4")
    trade(engine, LINEAR, Side.BUY, "1", "20100", fee="4")
    trade(engine, LINEAR, Side.SELL, "0.5", "20300", fee="2")  # FIFO: +150 realized
    trade(engine, SPOT, Side.SELL, "2", "2000", fee="1")  # short 2 ETH
    trade(engine, INVERSE, Side.BUY, "1000", "20000")  # 1000 USD of contracts, settled in BTC
    marks.update({LINEAR.key: D("20050"), SPOT.key: D("1990"), BTCUSD.key: D("25000"), INVERSE.key: D("25000")})
    portfolio = engine.portfolio
    upnl = portfolio.unrealized_pnl(marks)  # derivatives only
    spot = portfolio.positions[SPOT.key]
    expected = (portfolio.positions[LINEAR.key].realized_pnl + spot.realized_pnl + spot.unrealized_pnl(marks[SPOT.key])
                + upnl["USD"] - portfolio.total_fees()["USD"] + upnl["BTC"] * marks[BTCUSD.key])
    assert risk.current_pnl() == expected == D("384")
    assert upnl["USD"] == D("0.5") * 50 + D(1) * -50  # open lots 0.5@20000 and 1@20100 at 20050
    assert spot.unrealized_pnl(marks[SPOT.key]) == 20  # short 2 ETH from 2000 to 1990
    assert upnl["BTC"] == D("0.01")  # 1000 * (1/20000 - 1/25000), valued at the BTC/USD spot mark


def test_pnl_in_an_asset_without_a_rate_is_left_out_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    odd = Instrument(venue="sim", symbol="SOL/EUR", base="SOL", quote="EUR", tick_size="0.01", lot_size="0.01")
    engine, risk, marks = make(RiskConfig(price_band_bps=None, daily_loss_limit=D("100")), LINEAR, odd)
    marks.update({LINEAR.key: D("20000"), odd.key: D("100")})
    trade(engine, odd, Side.BUY, "10", "100")
    trade(engine, LINEAR, Side.BUY, "1", "20000")
    marks.update({odd.key: D("50"), LINEAR.key: D("19950")})
    with caplog.at_level(logging.WARNING, logger="triotrade.risk"):
        assert risk.current_pnl() == D("-50")  # the EUR loss (-500 EUR) cannot be valued in USD
        risk.evaluate()
        risk.evaluate()
    warnings = [r for r in caplog.records if "cannot be valued" in r.getMessage()]
    assert len(warnings) == 1 and "EUR" in warnings[0].getMessage()


def test_inverse_contracts_are_valued_in_their_settle_asset_and_converted() -> None:
    engine, risk, marks = make(RiskConfig(max_order_notional=D("2000")))
    marks.update({INVERSE.key: D("20000"), BTCUSD.key: D("20000")})
    # 1999 contracts of 1 USD: 0.09995 BTC, worth 1999 USD at the BTC/USD mark
    ok = engine.submit_order("s", INVERSE, Side.BUY, D("1999"), type=OrderType.LIMIT, price=D("20000"))
    assert ok.status is OrderStatus.SUBMITTED, ok.reason
    over = engine.submit_order("s", INVERSE, Side.BUY, D("2001"), type=OrderType.LIMIT, price=D("20000"))
    assert over.status is OrderStatus.DENIED and over.reason.startswith("max_order_notional")
    # the venue's min notional is in BTC: 20 contracts at 20000 = 0.001 BTC, 19 are below
    assert engine.submit_order("s", INVERSE, Side.BUY, D("20"), type=OrderType.LIMIT,
                               price=D("20000")).status is OrderStatus.SUBMITTED
    small = engine.submit_order("s", INVERSE, Side.BUY, D("19"), type=OrderType.LIMIT, price=D("20000"))
    assert small.reason.startswith("below_min_notional: order value 0.00095 BTC")
    # without a BTC/USD reference the USD limit cannot be checked
    del marks[BTCUSD.key]
    none = engine.submit_order("s", INVERSE, Side.BUY, D("100"), type=OrderType.LIMIT, price=D("20000"))
    assert none.reason == "no_reference_price: no rate for BTC in USD"


def test_rules_follow_an_instrument_update() -> None:
    engine, risk, marks = make(RiskConfig(), LINEAR)
    marks[LINEAR.key] = D("20000")
    assert engine.submit_order("s", LINEAR, Side.BUY, D("5")).status is OrderStatus.SUBMITTED
    tighter = Instrument(**{**LINEAR.to_dict(), "max_qty": "4"})
    engine.add_instrument(tighter)
    order = engine.submit_order("s", tighter, Side.BUY, D("5"))
    assert order.reason.startswith("above_max_qty: quantity 5.000 is above the venue's maximum 4")


def test_no_mark_source_at_all_denies_what_needs_a_reference() -> None:
    engine, risk, _ = make(RiskConfig(), LINEAR)
    engine.mark_source = None
    order = engine.submit_order("s", LINEAR, Side.BUY, D("1"), type=OrderType.LIMIT, price=D("20000"))
    assert order.reason.startswith("no_reference_price")
    # a market order with no notional limits and no venue minimum needs no price
    assert engine.submit_order("s", LINEAR, Side.BUY, D("1")).status is OrderStatus.SUBMITTED


# ------------------------------------------------------------------------------ kill switch


def test_resuming_after_a_loss_halt_needs_a_new_baseline() -> None:
    engine, risk, marks = make(RiskConfig(daily_loss_limit=D("100"), price_band_bps=None), LINEAR)
    marks[LINEAR.key] = D("20000")
    trade(engine, LINEAR, Side.BUY, "1", "20000")
    marks[LINEAR.key] = D("19890")
    assert risk.evaluate() is not None and risk.state is TradingState.HALTED
    risk.set_state(TradingState.ACTIVE, "operator")  # the same loss halts again at once
    assert engine.submit_order("s", LINEAR, Side.BUY, D("0.01")).reason.startswith("daily_loss_limit")
    risk.set_state(TradingState.ACTIVE, "operator, new baseline", rebaseline=True)
    assert engine.submit_order("s", LINEAR, Side.BUY, D("0.01")).status is OrderStatus.SUBMITTED
    marks[LINEAR.key] = D("19790.5")  # 99.5 more: inside the fresh day budget
    assert engine.submit_order("s", LINEAR, Side.BUY, D("0.01")).status is OrderStatus.SUBMITTED
    slot = engine.slots["s"].strategy
    assert isinstance(slot, Recorder)
    assert slot.states == ["halted", "active", "halted", "active"]


def test_the_kill_switch_can_be_turned_off() -> None:
    engine, risk, _ = make(RiskConfig(kill_switch=KillSwitchSettings(venue_failures=0)), LINEAR)
    for _ in range(100):
        assert not risk.record_venue_failure("timeout")
    assert risk.state is TradingState.ACTIVE and risk.statistics().venue_failures == 0


def test_statistics() -> None:
    engine, risk, marks = make(RiskConfig(max_order_notional=D("100")), LINEAR)
    marks[LINEAR.key] = D("20000")
    engine.submit_order("s", LINEAR, Side.BUY, D("0.001"))
    engine.submit_order("s", LINEAR, Side.BUY, D("1"))
    risk.set_state(TradingState.REDUCING, "operator")
    stats = risk.statistics()
    assert (stats.checks, stats.admitted) == (2, 1)
    assert stats.denied == {"max_order_notional": 1}
    assert stats.state is TradingState.REDUCING and stats.state_reason == "operator"
    assert [c.state for c in stats.state_changes] == ["reducing"]
    assert repr(risk) == "<RiskEngine reducing checks=2 denied=1>"


async def _wait_for_state(risk: RiskEngine, state: TradingState) -> None:
    while risk.state is not state:
        await trio.sleep(0.001)


async def test_signals_set_the_trading_state() -> None:
    engine, risk, _ = make(RiskConfig(), LINEAR)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_kill_switch_signals, risk)
            os.kill(os.getpid(), signal.SIGUSR1)
            await _wait_for_state(risk, TradingState.REDUCING)
            assert risk.state_reason == "signal SIGUSR1"
            os.kill(os.getpid(), signal.SIGUSR2)
            await _wait_for_state(risk, TradingState.HALTED)
            nursery.cancel_scope.cancel()
    slot = engine.slots["s"].strategy
    assert isinstance(slot, Recorder) and slot.states == ["reducing", "halted"]
    assert DenyReason.TRADING_HALTED.value in engine.submit_order("s", LINEAR, Side.BUY, D("1")).reason
