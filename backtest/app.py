"""What ``triotrade backtest`` and ``triotrade demo`` do: config → data → run → report."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import ConfigError, Engine, demo_live, from_mapping, live_plugin, live_summary, params_class, venue_names

from .config import BUILTIN_PREFIX, BacktestConfig, load_backtest_config, resolve_strategies
from .data import Dataset, demo_dataset_path, open_dataset
from .report import format_report, write_outputs
from .runner import BacktestResult, BacktestSettings, StrategySpec, run_backtest
from .simvenue import SimVenue, SimVenueConfig

__all__ = ["run_backtest_config", "run_demo", "open_data", "settings_from_config", "build_risk", "add_commands",
           "paper_venue_factory"]

_NS_PER_MS = Decimal(1_000_000)


def add_commands(sub: Any) -> None:
    """Register ``demo`` and ``backtest`` on the ``triotrade`` command line (entry point
    ``triotrade.commands:backtest``)."""
    import argparse

    demo = sub.add_parser("demo", help="backtest the example strategy on the bundled data and print the report")
    demo.add_argument("--out", type=Path, default=Path("triotrade-demo"), help="folder for the report files")
    demo.add_argument("--live-seconds", type=float, default=15.0,
                      help="how long to trade against the local testnet after the backtest (0: skip)")
    demo.add_argument("--venue", metavar="NAME",
                      help="the venue whose local testnet the live part trades against "
                           f"(one of: {', '.join(venue_names())}; default {live_plugin('demo_venue')})")
    demo.set_defaults(func=lambda args: run_demo(args.out, live_s=args.live_seconds, venue=args.venue))

    bt = sub.add_parser("backtest", help="run a backtest described by a TOML config")
    bt.add_argument("config", type=Path, help="the run's TOML file (see configs/)")
    bt.add_argument("--data", help="replay this data set instead of the config's [data].path")
    bt.add_argument("--out", type=Path, help="folder for the report files (overrides [report].out)")
    bt.add_argument("--no-progress", action="store_true", help="never show a progress bar")

    def backtest(args: argparse.Namespace) -> int:
        return run_backtest_config(args.config, data=args.data, out=args.out,
                                   show_progress=False if args.no_progress else None)

    bt.set_defaults(func=backtest)

    from .sweep_cli import add_sweep_command

    add_sweep_command(sub)


def paper_venue_factory(paper: Any) -> Any:
    """The live app's paper venue (entry point ``triotrade.live:paper_venue``): from the run's
    ``[paper]`` settings, a factory of the simulated venue that fills paper orders on live data."""
    latency_ns = int(paper.order_latency_ms * _NS_PER_MS)

    def make(engine: Engine) -> SimVenue:
        return SimVenue(engine.instruments.values(), engine, SimVenueConfig(order_latency_ns=latency_ns),
                        position_of=lambda inst: engine.portfolio.position(inst).qty_raw)

    return make


def open_data(path: str, base_dir: Path | None = None) -> Dataset:
    """Open ``builtin:demo`` or a data-set folder (relative paths against ``base_dir``, then cwd)."""
    if path.startswith(BUILTIN_PREFIX):
        name = path[len(BUILTIN_PREFIX):]
        if name != "demo":
            raise ConfigError(f"unknown built-in data set {name!r} (available: demo)", key="data.path")
        return open_dataset(demo_dataset_path())
    candidate = Path(path)
    if not candidate.is_absolute() and base_dir is not None and (base_dir / candidate).exists():
        candidate = base_dir / candidate
    return open_dataset(candidate)


def settings_from_config(config: BacktestConfig, *, show_progress: bool | None = None) -> BacktestSettings:
    venue = config.venue
    latency_ns = int((venue.order_latency_ms + venue.market_data_latency_ms) * _NS_PER_MS)
    if latency_ns < 0:
        raise ConfigError("latencies must not be negative", path=config.source, key="venue.order_latency_ms")
    data = config.data
    return BacktestSettings(
        account_currency=config.account.currency,
        starting_balances=dict(config.account.balances),
        rates=dict(config.account.rates),
        sim=SimVenueConfig(order_latency_ns=latency_ns, trade_through=venue.trade_through,
                           maker_fee=venue.maker_fee, taker_fee=venue.taker_fee),
        seed=config.seed,
        start_ns=int(data.start.timestamp() * 1_000_000) * 1_000 if data.start else None,
        end_ns=int(data.end.timestamp() * 1_000_000) * 1_000 if data.end else None,
        show_progress=config.report.progress if show_progress is None else show_progress,
        name=config.name,
    )


def build_risk(table: dict[str, Any], *, source: str = "<config>") -> Any:
    """The risk gate for a run: the same :mod:`risk` module and limits as live trading."""
    from risk import build_risk as _build

    return _build(table, source=source)


def _finish(result: BacktestResult, out: Path | None, chart: bool = True) -> int:
    print(format_report(result.stats, result.record))
    if out is not None:
        paths = write_outputs(result.record, result.stats, out, html=chart)
        print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    return 0


def run_backtest_config(path: Path, *, data: str | None = None, out: Path | None = None,
                        show_progress: bool | None = None) -> int:
    config = load_backtest_config(path)
    specs = resolve_strategies(config)
    dataset = open_data(data or config.data.path, base_dir=None if data else Path(config.source).parent)
    risk = build_risk(config.risk, source=config.source)
    result = run_backtest(dataset, specs, settings_from_config(config, show_progress=show_progress), risk=risk)
    return _finish(result, out or config.report.out, config.report.chart)


DEMO_SMA_PARAMS = {"instrument": "sim:BTC/USD", "fast": 240, "slow": 960, "qty": "0.5", "allow_short": False}
"""The demo's example parameters (as in configs/sma_btc.toml): slow averages of 4 and 16 hours of
1-minute closes, long or flat on a USD-only spot account; an example, not advice."""


def demo_specs() -> Sequence[StrategySpec]:
    from strategies.sma_cross import SmaCross

    params = from_mapping(params_class(SmaCross), DEMO_SMA_PARAMS, source="demo")
    return [StrategySpec("sma", SmaCross, params)]


def run_demo(out: Path, *, live_s: float = 15.0, venue: str | None = None) -> int:
    """Backtest the SMA crossover on the bundled data set (report to ``out``), then trade an example
    strategy for ``live_s`` seconds against a local testnet of ``venue`` (default: the demo venue)
    served in-process."""
    import trio

    if venue is not None and venue not in venue_names():
        print(f"triotrade demo: unknown venue {venue!r} (available: {', '.join(venue_names())})", file=sys.stderr)
        return 2

    dataset = open_dataset(demo_dataset_path())
    print("triotrade demo 1/2: backtest of the SMA crossover example (4 h / 16 h averages of 1-minute closes, "
          f"long or flat) on the bundled synthetic data set {dataset.path}; an example, not trading advice",
          file=sys.stderr)
    settings = BacktestSettings(name="demo-sma-crossover", seed=7)
    result = run_backtest(dataset, demo_specs(), settings, risk=build_risk({}, source="demo"))
    code = _finish(result, out)
    if live_s <= 0:
        return code
    where = f"a local {venue} testnet" if venue else "a local testnet"
    print(f"\ntriotrade demo 2/2: an example strategy for {live_s:g} s against {where} on "
          "127.0.0.1 (the venue's real protocol over loopback, signed requests)", file=sys.stderr)
    runner = trio.run(lambda: demo_live(live_s, venue=venue))
    engine = runner.engine
    print("\nLive run against the local testnet")
    print("----------------------------------")
    by_status: dict[str, int] = {}
    for order in engine.orders.values():
        by_status[order.status.value] = by_status.get(order.status.value, 0) + 1
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))
    print(f"  orders                {sum(by_status.values())}" + (f" ({statuses})" if statuses else ""))
    print(f"  fills                 {len(engine.fills)}")
    for fill in engine.fills[-5:]:
        print(f"    {fill.side.name:4s} {fill.qty} {fill.instrument.key} @ {fill.price} fee {fill.fee} {fill.fee_asset}")
    print(live_summary(runner))
    return code
