"""Sweep speed-up: the same sweep serially and on a Dask LocalCluster, same table.

The workload: the SMA crossover on 1,000,000 generated 1-minute bars (written to a temporary data
set first, not timed), a grid of 4 × 4 parameter sets, no split. It prints the wall time of the
serial sweep (in this process) and of the LocalCluster (workers = cores by default, cluster start
included), the speed-up, and whether both wrote byte-identical tables.

    python tests/benchmarks/bench_sweep.py [--bars N] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backtest.data import DatasetWriter  # noqa: E402
from backtest.generate import BTC_USD, generate_bars  # noqa: E402
from backtest.sweep_cli import run_sweep_config  # noqa: E402

CONFIG = """name = "bench-sweep"
seed = 1

[data]
path = "{data}"

[account]
currency = "USD"
balances = {{ USD = "10000000", BTC = "10" }}

[venue]
taker_fee = 0.001

[[strategies]]
id = "sma"
class = "strategies.sma_cross:SmaCross"
[strategies.params]
instrument = "{key}"
fast = 10
slow = 30
qty = "0.01"

[sweep]
metric = "total_return_pct"

[sweep.params]
fast = [5, 10, 20, 40]
slow = [60, 120, 240, 480]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bars"
        writer = DatasetWriter(data, [BTC_USD])
        writer.add_bars(BTC_USD, **generate_bars(BTC_USD, args.bars, seed=1), interval_ns=60_000_000_000)
        config = Path(tmp) / "sweep.toml"
        config.write_text(CONFIG.format(data=data, key=BTC_USD.key))
        timings = {}
        for label, kwargs in (("serial", {"serial": True}), ("dask", {"workers": args.workers})):
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                code = run_sweep_config(config, out=Path(tmp) / label, show_progress=False, **kwargs)
            timings[label] = time.perf_counter() - t0
            assert code == 0, f"{label} sweep exited {code}"
        same = (Path(tmp) / "serial" / "runs.csv").read_bytes() == (Path(tmp) / "dask" / "runs.csv").read_bytes()
        print(f"sweep of 16 runs on {args.bars:,} bars: serial {timings['serial']:.2f}s, Dask LocalCluster with "
              f"{args.workers} workers {timings['dask']:.2f}s (cluster start included) -> speed-up "
              f"{timings['serial'] / timings['dask']:.2f}x on {os.cpu_count()} cores; same table: "
              f"{'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
