"""Recorded-data throughput: generate, write, open (memory map + checks), scan, replay, import.

Figures printed:

- generation of 1,000,000 one-minute bars and 5,000,000 trades (``backtest.generate``);
- writing the 5M trades as a data set, then **loading** it: ``open_dataset`` (meta, memory map,
  dtype/length checks, ``ts_recv`` order check) in a fresh process-level state (page cache warm,
  as after a previous run), with rows/s;
- a full scan of the loaded columns (sum of sizes, VWAP) and a ``select`` of one hour;
- the recording path: ``StreamAppender.append`` per row, then ``finalize``;
- replay of an L2 book stream into engine events (``iter_book_events``);
- CSV import of 1,000,000 trade rows written in the public trade-file layout.

Run: ``python tests/benchmarks/bench_data.py [--trades N]`` (default 5,000,000).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backtest.csv_import import import_csv  # noqa: E402
from backtest.data import DatasetWriter, iter_book_events, open_dataset  # noqa: E402
from backtest.generate import BTC_USD, book_from_quotes, generate_bars, generate_quotes, generate_trades  # noqa: E402

T = TypeVar("T")


def timed(label: str, action: Callable[[], T], rows: int | None = None) -> T:
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    rate = f"  {rows / seconds / 1e6:8.2f} M rows/s" if rows else ""
    print(f"{label:<52} {seconds:8.3f} s{rate}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trades", type=int, default=5_000_000)
    parser.add_argument("--bars", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.trades

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        timed(f"generate {args.bars:,} one-minute bars", lambda: generate_bars(BTC_USD, args.bars, seed=1), args.bars)
        trades = timed(f"generate {n:,} trades", lambda: generate_trades(BTC_USD, n, seed=1), n)
        writer = DatasetWriter(root / "ds", [BTC_USD])
        timed(f"write {n:,} trades (6 columns, fsync)", lambda: writer.add_trades(BTC_USD, **trades), n)
        size_mb = sum(f.stat().st_size for f in (root / "ds").rglob("*.npy")) / 1e6
        print(f"{'  on disk':<52} {size_mb:8.1f} MB")
        del trades

        ds = timed(f"open_dataset: mmap + checks, {n:,} trades", lambda: open_dataset(root / "ds"), n)
        cols = ds.columns("sim.BTC-USD.trades")
        timed("  open again (checks only, pages cached)", lambda: open_dataset(root / "ds"), n)
        timed("  open without verify (meta only)", lambda: open_dataset(root / "ds", verify=False), n)

        def scan() -> float:
            size = cols["size"]
            return float(np.sum(cols["price"] * size) / np.sum(size))

        timed("scan: VWAP over price x size", scan, n)
        start = int(cols["ts_recv"][n // 2])
        hour = timed("select one hour by ts_recv (searchsorted)",
                     lambda: ds.select("trades", start_ns=start, end_ns=start + 3_600 * 10**9))
        print(f"{'  rows selected':<52} {len(hour['price']):8,d}")

        rows = min(n, 500_000)
        recorder = DatasetWriter(root / "rec", [BTC_USD], durable=True)
        appender = recorder.appender("trades", BTC_USD, chunk_rows=65_536)
        values = {k: v[:rows].tolist() for k, v in cols.items()}
        names = list(values)

        def record() -> None:
            for row in zip(*values.values()):
                appender.append(**dict(zip(names, row)))

        timed(f"record {rows:,} trades: StreamAppender.append per row", record, rows)
        timed("  finalize (join chunks into single files)", appender.finalize, rows)

        quotes = generate_quotes(BTC_USD, 200_000, seed=2)
        book = timed("generate an L2 book over 200,000 quote rows", lambda: book_from_quotes(BTC_USD, quotes, seed=2),
                     200_000)
        DatasetWriter(root / "book", [BTC_USD]).add_book(BTC_USD, **book)
        book_ds = open_dataset(root / "book")
        messages = len(book["count"])
        timed(f"replay {messages:,} book messages as engine events",
              lambda: sum(1 for _ in iter_book_events(book_ds)), messages)

        csv_rows = min(n, 1_000_000)
        csv_path = root / "trades.csv"
        with open(csv_path, "w") as fh:
            price, size = cols["price"][:csv_rows], cols["size"][:csv_rows]
            for i, (p, s, t, a) in enumerate(zip(price.tolist(), size.tolist(), (cols["ts_event"][:csv_rows] // 1_000_000).tolist(),
                                                 cols["aggressor"][:csv_rows].tolist())):
                fh.write(f"{i},{p // 100}.{p % 100:02d}000000,{s // 100000}.{s % 100000:05d}000,0,{t},{a < 0}\n")
        print(f"{'  CSV file':<52} {csv_path.stat().st_size / 1e6:8.1f} MB")
        timed(f"import {csv_rows:,} CSV trade rows (exact decimals)",
              lambda: import_csv(root / "imported", "trades", [csv_path], venue="ext", symbol="BTC/USD"), csv_rows)


if __name__ == "__main__":
    main()
