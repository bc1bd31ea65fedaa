"""The demo's example reads as a plausible strategy, not one that burns its capital in fees."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from backtest.app import DEMO_SMA_PARAMS, build_risk, demo_specs, open_data
from backtest.config import load_backtest_config
from backtest.runner import BacktestSettings, run_backtest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_the_demo_backtest_is_plausible() -> None:
    result = run_backtest(open_data("builtin:demo"), demo_specs(),
                          BacktestSettings(name="demo-sma-crossover", seed=7, show_progress=False),
                          risk=build_risk({}, source="demo"))
    record, stats = result.record, result.stats
    assert stats.n_rejected == 0 and stats.n_denied == 0 and not record.strategy_errors
    assert 10 <= stats.n_fills <= 100  # a few trades a day at most, not one every few bars
    assert record.fees < D("0.02") * record.starting_equity
    assert abs(stats.total_return_pct) < 5
    assert stats.turnover < 20


def test_the_readme_config_uses_the_demo_parameters() -> None:
    config = load_backtest_config(CONFIGS / "sma_btc.toml")
    [strategy] = config.strategies
    assert {k: strategy.params[k] for k in DEMO_SMA_PARAMS if k != "qty"} == \
        {k: v for k, v in DEMO_SMA_PARAMS.items() if k != "qty"}
    assert D(strategy.params["qty"]) == D(str(DEMO_SMA_PARAMS["qty"]))
