"""Backtest throughput through the full path (event → handler → order → matching → fill → portfolio).

Two workloads, each in its own process so peak RSS is measured per run:

* ``bars``:   SMA crossover (fast 10, slow 30, fill at next bar open, 0.1 % taker fee) on
              1,000,000 generated 1-minute bars;
* ``trades``: the trade-driven ``TradeFlow`` strategy on 5,000,000 generated trades.

Data is generated and written to a temporary data set by a separate process first, so the
measured process only opens (memory-maps) and replays it: the peak RSS printed is the backtest's.
The figure is events replayed per second of ``run_backtest`` wall time (which includes order
handling, the equity curve and the statistics). The spot account holds 10,000,000 USD and 10 BTC,
so both strategies' short side (selling 0.01 BTC below the held amount) is funded: the cash model
would reject every sell of an account holding no BTC, and the benchmark would then time rejections
instead of the order cycle. It prints the rejection count so that can never pass unseen.

    python tests/benchmarks/bench_backtest.py            # both
    python tests/benchmarks/bench_backtest.py bars 1000000
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from backtest.data import DatasetWriter, open_dataset
from backtest.generate import BTC_USD, generate_bars, generate_trades
from backtest.runner import BacktestSettings, run_backtest
from backtest.simvenue import SimVenueConfig
from engine import from_mapping, params_class
from engine import Instrument
from engine import StrategySpec
from strategies.sma_cross import SmaCross
from strategies.trade_flow import TradeFlow

INST = Instrument(**{**BTC_USD.to_dict(), "taker_fee": "0.001", "maker_fee": "0.001"})


def _generate(kind: str, n: int, path: Path) -> None:
    writer = DatasetWriter(path, [INST])
    if kind == "bars":
        writer.add_bars(INST, **generate_bars(INST, n, seed=1), interval_ns=60_000_000_000)
    else:
        writer.add_trades(INST, **generate_trades(INST, n, seed=1))


def _run(kind: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "generate", kind, str(n), str(Path(tmp) / "ds")], check=True)
        gen_s = time.perf_counter() - t0
        if kind == "bars":
            cls, params = SmaCross, {"instrument": INST.key, "fast": 10, "slow": 30, "qty": "0.01"}
        else:
            cls, params = TradeFlow, {"instrument": INST.key, "qty": "0.01"}
        dataset = open_dataset(Path(tmp) / "ds")
        spec = StrategySpec(kind, cls, from_mapping(params_class(cls), params))
        settings = BacktestSettings(starting_balances={"USD": Decimal(10_000_000), "BTC": Decimal(10)},
                                    sim=SimVenueConfig(taker_fee=Decimal("0.001")), show_progress=False)
        t0 = time.perf_counter()
        result = run_backtest(dataset, [spec], settings)
        wall = time.perf_counter() - t0
        stats = result.stats
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{kind:6s} events={stats.events_processed:,} wall={wall:.2f}s events/s={stats.events_processed / wall:,.0f} "
              f"orders={stats.n_orders:,} fills={stats.n_fills:,} rejected={stats.n_rejected:,} peak_rss={rss_mb:,.0f} MB "
              f"(data generated in another process in {gen_s:.1f}s, not timed) fills_hash={stats.fills_hash[:16]}")


def _without(columns: dict, name: str) -> dict:
    return {k: v for k, v in columns.items() if k != name}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "generate":
        _generate(argv[1], int(argv[2]), Path(argv[3]))
        return
    if len(argv) >= 2:
        _run(argv[0], int(argv[1]))
        return
    for kind, n in (("bars", 1_000_000), ("trades", 5_000_000)):
        subprocess.run([sys.executable, __file__, kind, str(n)], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
