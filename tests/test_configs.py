"""Every shipped config file loads and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.config import load_backtest_config, resolve_strategies
from engine._runconfig import load_live_config
from engine import resolve_strategies as resolve_live

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LIVE = {"dzengi_local.toml", "both_venues.toml", "magnr_local.toml", "leverj_futures.toml", "leverj_both.toml",
        "coinpit_local.toml"}
ACCOUNTS = {"testnet_accounts.toml", "magnr_accounts.toml", "leverj_accounts.toml", "coinpit_accounts.toml"}


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.toml") if p.name not in ACCOUNTS),
                         ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    if path.name in LIVE:
        config = load_live_config(path)
        assert resolve_live(config.strategies, config.source)
    else:
        assert resolve_strategies(load_backtest_config(path))
        if "[sweep]" in path.read_text():
            from backtest.sweep_config import load_sweep_config

            assert load_sweep_config(path).sweep.trials()
