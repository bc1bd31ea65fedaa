"""Backtest throughput through the full path (event → handler → order → matching → fill → portfolio).

Two workloads, each in its own process so peak RSS is measured per run:

* ``bars``:   SMA crossover (fast 10, slow 30, fill at next bar open, 0.1 % taker fee) on
              1,000,000 generated 1-minute bars;
* ``trades``: the trade-driven ``TradeFlow`` strategy on 5,000,000 generated trades;
* ``trade-bars``: the SMA crossover on 1-minute bars aggregated from those 5,000,000 trades
              (the data set holds only trades; the events counted are the bars replayed).

Each run is followed, in the same process, by the same strategy and fill rule written as a bare
Python loop over lists (the yardstick): the benchmark prints both rates, their ratio, the share of
the run spent on post-run statistics, and whether both produced the same fills.

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
from backtest.trade_bars import bars_from_trades
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
    else:  # trades, and trade-bars (bars aggregated from the same trades)
        writer.add_trades(INST, **generate_trades(INST, n, seed=1))


def _run(kind: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "generate", kind, str(n), str(Path(tmp) / "ds")], check=True)
        gen_s = time.perf_counter() - t0
        if kind in ("bars", "trade-bars"):
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
        stats_s = result.post_run_s
        print(f"{kind:6s} events={stats.events_processed:,} wall={wall:.2f}s events/s={stats.events_processed / wall:,.0f} "
              f"orders={stats.n_orders:,} fills={stats.n_fills:,} rejected={stats.n_rejected:,} peak_rss={rss_mb:,.0f} MB "
              f"(data generated in another process in {gen_s:.1f}s, not timed) fills_hash={stats.fills_hash[:16]}")
        # the yardstick: the same strategy and fill rule as a bare Python loop, in this process
        t0 = time.perf_counter()
        if kind == "trade-bars":  # the yardstick aggregates the trades too (the same vectorised rule)
            ref = _bare_bars(bars_from_trades(dataset.select("trades", INST.key), 60_000_000_000))
        else:
            columns = dataset.select(kind, INST.key)
            ref = _bare_trades(columns) if kind == "trades" else _bare_bars(columns)
        bare = time.perf_counter() - t0
        ours = [(f.ts_event, int(f.side), INST.price_raw(f.price), INST.size_raw(f.qty)) for f in result.engine.fills]
        print(f"{kind:6s} bare loop: wall={bare:.2f}s events/s={stats.events_processed / bare:,.0f} -> triotrade is "
              f"{bare / wall:.2f}x the bare loop; post-run statistics {stats_s / wall * 100:.1f} % of the run; "
              f"implementation: {_implementation()}; same fills as the bare loop: {'yes' if ours == ref else 'NO'} "
              f"({len(ref):,} fills)")


def _implementation() -> str:
    import backtest.runner as runner
    return str(getattr(runner, "IMPLEMENTATION", "pure Python"))


def _bare_bars(columns: dict, fast: int = 10, slow: int = 30, qty: int = 0) -> list[tuple[int, int, int, int]]:
    """SMA crossover with next-bar-open fills as a bare loop over lists (ties keep the side)."""
    qty = qty or INST.size_raw(Decimal("0.01"))
    fills: list[tuple[int, int, int, int]] = []
    opens, closes, recv = columns["open"].tolist(), columns["close"].tolist(), columns["ts_recv"].tolist()
    sum_slow = sum(closes[:slow - 1]) if len(closes) >= slow else 0
    sum_fast = sum(closes[slow - fast:slow - 1]) if len(closes) >= slow else 0
    signal = pos = pending = 0
    for i in range(slow - 1, len(closes)):
        if pending:
            fills.append((recv[i], 1 if pending > 0 else -1, opens[i], abs(pending)))
            pos += pending
            pending = 0
        c = closes[i]
        sum_fast += c
        sum_slow += c
        diff = sum_fast * slow - sum_slow * fast
        sum_fast -= closes[i - fast + 1]
        sum_slow -= closes[i - slow + 1]
        if diff:
            s = 1 if diff > 0 else -1
            if s != signal:
                signal = s
                pending = s * qty - pos
    return fills


def _bare_trades(columns: dict, half_life: float = 50.0, threshold: float = 0.15, min_hold: int = 200,
                 qty: int = 0) -> list[tuple[int, int, int, int]]:
    """The trade-flow strategy, fills at the next print, as a bare loop over lists."""
    qty = qty or INST.size_raw(Decimal("0.01"))
    fills: list[tuple[int, int, int, int]] = []
    price, size, aggr, recv = (columns[c].tolist() for c in ("price", "size", "aggressor", "ts_recv"))
    decay = 0.5 ** (1.0 / half_life)
    thr = threshold * 10**INST.size_scale
    imb = 0.0
    since = min_hold
    side = pos = pending = 0
    for i in range(len(price)):
        if pending:
            fills.append((recv[i], 1 if pending > 0 else -1, price[i], abs(pending)))
            pos += pending
            pending = 0
        imb = imb * decay + aggr[i] * size[i]
        since += 1
        if since < min_hold:
            continue
        if imb > thr:
            want = 1
        elif imb < -thr:
            want = -1
        else:
            continue
        if want != side:
            side = want
            since = 0
            pending = want * qty - pos
    return fills


def _without(columns: dict, name: str) -> dict:
    return {k: v for k, v in columns.items() if k != name}


def main(argv: list[str]) -> None:
    if argv and argv[0] == "generate":
        _generate(argv[1], int(argv[2]), Path(argv[3]))
        return
    if len(argv) >= 2:
        _run(argv[0], int(argv[1]))
        return
    for kind, n in (("bars", 1_000_000), ("trades", 5_000_000), ("trade-bars", 5_000_000)):
        subprocess.run([sys.executable, __file__, kind, str(n)], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
