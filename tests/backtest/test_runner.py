"""The backtest loop end to end on real data-set files."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from backtest.app import build_risk, open_data
from backtest.data import DatasetWriter, demo_dataset_path, open_dataset
from backtest.generate import BTC_USD, ETH_USD, generate_bars, generate_trades
from backtest.runner import BacktestSettings, run_backtest
from backtest.simvenue import SimVenueConfig
from engine import Bar, DataError, Instrument, OrderStatus, Strategy, Trade
from engine import from_mapping, params_class
from engine import StrategySpec
from strategies.sma_cross import SmaCross

MINUTE = 60_000_000_000


def spec(cls: type, sid: str = "s", **params: object) -> StrategySpec:
    return StrategySpec(sid, cls, from_mapping(params_class(cls), params) if getattr(cls, "Params", None) else None)


@pytest.fixture(scope="module")
def bars_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ds") / "bars"
    w = DatasetWriter(path, [BTC_USD, ETH_USD])
    w.add_bars(BTC_USD, **generate_bars(BTC_USD, 5_000, seed=3), interval_ns=MINUTE)
    w.add_bars(ETH_USD, **generate_bars(ETH_USD, 5_000, seed=4), interval_ns=MINUTE)
    w.add_trades(BTC_USD, **generate_trades(BTC_USD, 3_000, seed=5))
    return path


def sma_run(path: Path, seed: int = 0, **settings: object):  # type: ignore[no-untyped-def]
    # long / flat: the account is USD-only spot, a short would be rejected (insufficient BTC)
    return run_backtest(open_dataset(path), [spec(SmaCross, instrument=BTC_USD.key, qty="0.1", allow_short=False)],
                        BacktestSettings(seed=seed, show_progress=False, **settings))  # type: ignore[arg-type]


def test_golden_sma_on_the_bundled_demo() -> None:
    """Pins trades and stats on the committed demo data: any change in fills shows here."""
    result = run_backtest(open_data("builtin:demo"),
                          [spec(SmaCross, instrument="sim:BTC/USD", qty="0.5", allow_short=False)],
                          BacktestSettings(seed=7, show_progress=False))
    stats = result.stats
    assert stats.events_processed == 28_800
    assert stats.n_fills == 1_143 and stats.n_orders == 1_143 and stats.n_rejected == 0
    assert stats.fills_hash == "2da777aea769f24a024642c705454ede348d920ff3149ff4ec33518eaa0532b5"
    assert result.record.final_equity == D("72878.5221950000")
    assert result.record.fees == D("25786.6928050000")


def test_shorts_on_a_usd_only_spot_account_are_rejected_on_the_bundled_demo() -> None:
    """The old golden run: every short sold BTC the account did not hold; now each is rejected."""
    result = run_backtest(open_data("builtin:demo"), [spec(SmaCross, instrument="sim:BTC/USD", qty="0.5")],
                          BacktestSettings(seed=7, show_progress=False))
    stats = result.stats
    assert stats.n_orders == 573 and stats.n_fills == 1
    assert stats.rejected_by_reason == {"insufficient balance (BTC)": 572}
    assert result.record.final_equity == D("101040.5504800000")


def test_same_inputs_give_byte_identical_fills(bars_ds: Path) -> None:
    a, b = sma_run(bars_ds), sma_run(bars_ds)
    assert a.stats.n_fills > 50
    assert a.stats.fills_hash == b.stats.fills_hash
    assert [(f.ts_event, f.price, f.qty) for f in a.record.fills] == [(f.ts_event, f.price, f.qty) for f in b.record.fills]


def test_market_orders_fill_at_the_next_bar_open_with_the_taker_fee(bars_ds: Path) -> None:
    result = sma_run(bars_ds, sim=SimVenueConfig(taker_fee=D("0.001")))
    ds = open_dataset(bars_ds)
    cols = ds.select("bars", BTC_USD.key)
    opens = dict(zip(cols["ts_event"].tolist(), cols["open"].tolist()))
    for fill in result.record.fills[:20]:
        order = result.engine.orders[fill.client_order_id]
        # the order was decided at a bar close (ts_init = that bar's ts_recv = next bar's open time)
        assert fill.price == BTC_USD.price_of(opens[order.ts_init])
        assert fill.fee == fill.price * fill.qty * D("0.001")
        assert fill.liquidity.value == "taker"


def test_equity_curve_matches_the_exact_portfolio_at_the_end(bars_ds: Path) -> None:
    result = sma_run(bars_ds)
    rec = result.record
    assert len(rec.equity) == len(rec.equity_ts) > 100
    assert rec.equity[0] == pytest.approx(float(rec.starting_equity))
    assert rec.equity[-1] == pytest.approx(float(rec.final_equity), rel=1e-9)
    assert np.all(np.diff(rec.equity_ts) > 0)


class Boom(Strategy):
    class Params:
        instrument: str
        at: int = 100

    def on_start(self) -> None:
        self.inst = self.ctx.instrument(self.params.instrument)
        self.n = 0
        self.ctx.subscribe_bars(self.inst)

    def on_bar(self, bar: Bar) -> None:
        self.n += 1
        if self.n == 10:
            self.resting = self.ctx.limit(self.inst, side=__import__("engine").Side.BUY, qty=D("0.1"),
                                          price=bar.close * D("0.5"))
        if self.n == self.params.at:
            raise RuntimeError("strategy bug")


def test_a_raising_strategy_is_stopped_orders_canceled_and_the_run_completes(bars_ds: Path) -> None:
    result = run_backtest(open_dataset(bars_ds), [spec(Boom, instrument=BTC_USD.key)],
                          BacktestSettings(show_progress=False))
    engine = result.engine
    assert len(engine.failures) == 1
    assert "RuntimeError: strategy bug" in result.record.strategy_errors[0]
    boom = engine.slots["s"].strategy
    assert boom.n == 100  # no events after the failure
    assert boom.resting.status is OrderStatus.CANCELED
    assert result.stats.events_processed == 5_000
    from backtest.report import format_report

    assert "STRATEGY ERROR" in format_report(result.stats, result.record)


class TwoStreams(Strategy):
    def on_start(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.ctx.subscribe_trades(self.ctx.instrument(BTC_USD.key))
        self.ctx.subscribe_bars(self.ctx.instrument(ETH_USD.key))
        self.ctx.set_timer("t", interval_s=600)
        self.timer_at: list[int] = []

    def on_trade(self, trade: Trade) -> None:
        self.seen.append(("t", trade.ts_recv))

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(("b", bar.ts_recv))

    def on_timer(self, name: str, now_ns: int) -> None:
        self.timer_at.append(now_ns)


def test_several_streams_merge_in_receive_time_order_and_timers_fire(bars_ds: Path) -> None:
    result = run_backtest(open_dataset(bars_ds), [StrategySpec("two", TwoStreams)], BacktestSettings(show_progress=False))
    s = result.engine.slots["two"].strategy
    times = [t for _, t in s.seen]
    assert times == sorted(times)
    assert {k for k, _ in s.seen} == {"t", "b"}
    assert len(s.seen) == result.stats.events_processed == 8_000
    assert s.timer_at and all(b - a == 600 * 10**9 for a, b in zip(s.timer_at, s.timer_at[1:]))


def test_time_range_selection(bars_ds: Path) -> None:
    ds = open_dataset(bars_ds)
    t0 = int(ds.select("bars", BTC_USD.key)["ts_recv"][1000])
    result = sma_run(bars_ds, start_ns=t0, end_ns=t0 + 500 * MINUTE)
    assert result.stats.events_processed == 500


def test_risk_denials_are_counted_in_the_report(bars_ds: Path) -> None:
    risk = build_risk({"max_order_notional": "100"})
    result = run_backtest(open_dataset(bars_ds), [spec(SmaCross, instrument=BTC_USD.key, qty="0.1")],
                          BacktestSettings(show_progress=False), risk=risk)
    assert result.stats.n_fills == 0
    assert result.stats.n_denied == result.stats.n_orders > 0
    assert set(result.record.denials) == {"max_order_notional"}


def test_subscribing_to_missing_data_is_a_clear_data_error(bars_ds: Path) -> None:
    class WantsQuotes(Strategy):
        def on_start(self) -> None:
            self.ctx.subscribe_quotes(self.ctx.instrument(ETH_USD.key))

    with pytest.raises(DataError, match="subscribed to quotes of sim:ETH/USD"):
        run_backtest(open_dataset(bars_ds), [StrategySpec("q", WantsQuotes)], BacktestSettings(show_progress=False))


def test_book_data_drives_on_book_and_fills(tmp_path: Path) -> None:
    from strategies.market_maker import MarketMaker

    result = run_backtest(open_data("builtin:demo"),
                          [spec(MarketMaker, instrument="sim:BTC/USD", qty="0.01", half_spread_bps="0.3")],
                          BacktestSettings(show_progress=False,
                                           starting_balances={"USD": D(100_000), "BTC": D(1)}))
    assert result.stats.events_processed > 10_000
    assert result.stats.n_fills > 100
    assert all(f.liquidity.value == "maker" for f in result.record.fills)
    assert not result.engine.alarms
