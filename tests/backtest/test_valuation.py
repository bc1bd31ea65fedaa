"""Equity is valued in the account currency, or the run is refused before it starts."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from backtest.app import open_data
from backtest.data import DatasetWriter, open_dataset
from backtest.generate import BTC_USD, generate_bars
from backtest.runner import BacktestSettings, run_backtest
from backtest.simvenue import SimVenueConfig
from engine import ConfigError, Instrument
from engine import from_mapping, params_class
from engine import StrategySpec
from engine.cli import main
from strategies.market_maker import MarketMaker
from strategies.sma_cross import SmaCross

MINUTE = 60_000_000_000
BTCUSDT = Instrument(**{**BTC_USD.to_dict(), "venue": "binance", "symbol": "BTCUSDT", "quote": "USDT",
                        "settle": "USDT"})


@pytest.fixture(scope="module")
def usdt_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usdt") / "binance"
    w = DatasetWriter(path, [BTCUSDT])
    w.add_bars(BTCUSDT, **generate_bars(BTCUSDT, 3_000, seed=3), interval_ns=MINUTE)
    return path


def _sma(path: Path, **settings: object):  # type: ignore[no-untyped-def]
    params = from_mapping(params_class(SmaCross), {"instrument": BTCUSDT.key, "qty": "0.5", "allow_short": False})
    return run_backtest(open_dataset(path), [StrategySpec("sma", SmaCross, params)],
                        BacktestSettings(show_progress=False, sim=SimVenueConfig(taker_fee=D("0.001")),
                                         **settings))  # type: ignore[arg-type]


def test_a_quote_currency_the_account_cannot_value_is_a_config_error(usdt_data: Path) -> None:
    with pytest.raises(ConfigError, match=r"binance:BTCUSDT is quoted in USDT, which cannot be valued in the "
                                          r"account currency USD") as caught:
        _sma(usdt_data, starting_balances={"USDT": D(100_000)})
    assert caught.value.key == "account.currency"


def test_through_the_cli_it_exits_2_naming_both(tmp_path: Path, usdt_data: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.toml"
    config.write_text(f"""
[data]
path = "{usdt_data}"
[account]
currency = "USD"
balances = {{ USDT = "100000" }}
[[strategies]]
class = "strategies.sma_cross:SmaCross"
[strategies.params]
instrument = "binance:BTCUSDT"
""")
    assert main(["backtest", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "USDT" in err and "account currency USD" in err and 'rates = { USDT = "1" }' in err


def test_a_configured_conversion_values_every_figure(usdt_data: Path) -> None:
    in_usdt = _sma(usdt_data, account_currency="USDT", starting_balances={"USDT": D(100_000)})
    in_usd = _sma(usdt_data, starting_balances={"USDT": D(100_000)}, rates={"USDT": D("1")})
    assert in_usdt.record.fees > 0 and in_usdt.record.final_equity != D(100_000)
    assert in_usd.record.final_equity == in_usdt.record.final_equity
    assert in_usd.record.fees == in_usdt.record.fees
    assert in_usd.stats.sharpe == in_usdt.stats.sharpe != 0
    half = _sma(usdt_data, starting_balances={"USDT": D(100_000)}, rates={"USDT": D("0.5")})
    assert half.record.final_equity == in_usdt.record.final_equity / 2


def test_equity_starts_when_every_held_asset_has_a_price() -> None:
    """The bundled market-maker run starts with USD and BTC: no jump from BTC at 0 to its price."""
    params = from_mapping(params_class(MarketMaker), {"instrument": "sim:BTC/USD", "qty": "0.01",
                                                      "half_spread_bps": "0.3", "max_inventory": "0.05"})
    result = run_backtest(open_data("builtin:demo"), [StrategySpec("mm", MarketMaker, params)],
                          BacktestSettings(seed=7, show_progress=False,
                                           starting_balances={"USD": D(100_000), "BTC": D(1)}))
    record = result.record
    assert record.starting_equity > D(140_000)  # 100,000 USD + 1 BTC at its first mid
    assert record.equity[0] == pytest.approx(float(record.starting_equity))
    steps = np.abs(np.diff(record.equity))
    assert steps.max() < 0.01 * float(record.starting_equity)  # no jump anywhere
    assert abs(result.stats.total_return_pct) < 1
