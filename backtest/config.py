"""The backtest configuration file (TOML), validated strictly.

.. code-block:: toml

    name = "sma-demo"
    seed = 7

    [data]
    path = "builtin:demo"          # or a data-set folder, relative to this file
    start = "2024-01-03T00:00:00Z" # optional, ISO 8601
    end = "2024-01-10T00:00:00Z"   # optional

    [account]
    currency = "USD"
    balances = { USD = "100000" }
    rates = { USDT = "1" }         # optional: fixed prices in `currency` of assets nothing else prices

    [venue]                         # the simulated venue
    order_latency_ms = 0
    trade_through = true

    [[strategies]]
    id = "sma"
    class = "strategies.sma_cross:SmaCross"
    [strategies.params]
    instrument = "sim:BTC/USD"
    qty = "0.5"

    [report]
    out = "out/sma-demo"
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from engine import from_mapping, load_toml
from engine import ConfigError
from engine import StrategyConfig, StrategySpec
from engine import resolve_strategies as _resolve

__all__ = ["BacktestConfig", "DataConfig", "AccountConfig", "VenueConfig", "StrategyConfig",
           "ReportConfig", "load_backtest_config", "backtest_config_from_mapping", "resolve_strategies", "BUILTIN_PREFIX"]

BUILTIN_PREFIX = "builtin:"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


@attrs.frozen
class DataConfig:
    """Which recorded data to replay."""

    path: str
    "A data-set folder (relative to the config file) or ``builtin:demo``."
    start: dt.datetime | None = attrs.field(default=None, converter=_utc)
    "Replay from this time (UTC if no zone is given)."
    end: dt.datetime | None = attrs.field(default=None, converter=_utc)
    "Replay up to (excluding) this time."


def _positive_balances(instance: Any, attribute: Any, value: dict[str, Decimal]) -> None:
    for asset, amount in value.items():
        if amount < 0:
            raise ValueError(f"balance of {asset} must not be negative, got {amount}")


def _positive_rates(instance: Any, attribute: Any, value: dict[str, Decimal]) -> None:
    for asset, rate in value.items():
        if not rate > 0:
            raise ValueError(f"rate of {asset} must be positive, got {rate}")


@attrs.frozen
class AccountConfig:
    """The simulated account."""

    currency: str = "USD"
    "Currency that equity and PnL are reported in."
    balances: dict[str, Decimal] = attrs.field(factory=lambda: {"USD": Decimal(100_000)},
                                               validator=_positive_balances)
    "Starting balances by asset."
    rates: dict[str, Decimal] = attrs.field(factory=dict, validator=_positive_rates)
    """Fixed conversion rates, asset → price in ``currency`` (e.g. ``{ USDT = "1" }``), for assets no
    instrument in the run prices in ``currency``."""


@attrs.frozen
class VenueConfig:
    """The simulated venue's fill model."""

    order_latency_ms: Decimal = Decimal(0)
    "Time from a strategy's order to the venue (market-data latency folded in)."
    market_data_latency_ms: Decimal = Decimal(0)
    "Added to order latency: reacting to data that is this old."
    trade_through: bool = True
    "Resting limits fill on trade data only when a trade prints strictly through their price."
    maker_fee: Decimal | None = None
    "Override every instrument's maker fee rate."
    taker_fee: Decimal | None = None
    "Override every instrument's taker fee rate."


@attrs.frozen
class ReportConfig:
    out: Path | None = None
    "Folder for fills.csv, orders.csv, equity.csv, stats.json and report.html."
    chart: bool = True
    progress: bool | None = None
    "Progress bar: None = only on a TTY."


@attrs.frozen
class BacktestConfig:
    """A whole backtest run."""

    data: DataConfig
    strategies: list[StrategyConfig]
    name: str = "backtest"
    seed: int = 0
    account: AccountConfig = attrs.Factory(AccountConfig)
    venue: VenueConfig = attrs.Factory(VenueConfig)
    report: ReportConfig = attrs.Factory(ReportConfig)
    risk: dict[str, Any] = attrs.Factory(dict)
    "Risk limits (see the README's risk section)."
    source: str = attrs.field(default="<config>", init=False)
    "The file this was read from (set by :func:`load_backtest_config`)."


def load_backtest_config(path: str | Path) -> BacktestConfig:
    """Read and validate a backtest config; raises :class:`ConfigError` naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file not found", path=str(path))
    table = load_toml(path)
    table.pop("sweep", None)  # a sweep's parameter space (``triotrade sweep`` reads and checks it)
    return backtest_config_from_mapping(table, path)


def backtest_config_from_mapping(table: dict[str, Any], path: str | Path) -> BacktestConfig:
    """Validate an already parsed config table read from ``path`` (relative paths resolve next to
    it); the checks of :func:`load_backtest_config`."""
    path = Path(path)
    config = from_mapping(BacktestConfig, table, source=str(path), base_dir=path.parent)
    object.__setattr__(config, "source", str(path))
    if not config.strategies:
        raise ConfigError("at least one [[strategies]] table is needed", path=str(path), key="strategies")
    data = config.data
    if data.start is not None and data.end is not None and data.start >= data.end:
        raise ConfigError(f"start ({data.start.isoformat()}) must be before end ({data.end.isoformat()})",
                          path=str(path), key="data.start")
    return config


def resolve_strategies(config: BacktestConfig) -> list[StrategySpec]:
    """Import each strategy class and validate its parameters (all errors reported together)."""
    return _resolve(config.strategies, config.source)
