"""Order journal cost per order, on the event loop and to durability: before (a synchronous
SQLite commit on the trio thread per row) and after (rows queued on the loop, group-committed by
one writer thread; each command awaits its row's durability before it is sent).

For each way it prints, per order: the time the event loop spent on the journal (p50 / p99 /
max), the time until the order's row was durable, the commits made (one fsync each), and the
longest the loop went without running a heartbeat task (a stalled loop shows here). Orders come
in bursts (``burst`` orders decided in one engine callback, as a strategy placing a ladder does).

Run: ``python tests/benchmarks/bench_journal.py [orders] [burst]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from decimal import Decimal as D
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import Instrument, Order, OrderType, Side  # noqa: E402
from engine._journal import OrderJournal  # noqa: E402

INST = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")


def _order(i: int) -> Order:
    return Order(f"cid-{i}", INST, Side.BUY, OrderType.LIMIT, INST.size_raw(D("0.010")),
                 price_raw=INST.price_raw(D("100")), strategy_id="bench", ts_init=i)


async def _heartbeat(gaps: list[float]) -> None:
    last = time.perf_counter()
    while True:
        await trio.sleep(0)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def _run(journal: OrderJournal, n: int, burst: int, threaded: bool) -> dict[str, object]:
    on_loop: list[float] = []
    durable: list[float] = []
    gaps: list[float] = []

    async def send(order: Order, t0: float) -> None:
        if threaded:
            await journal.flush()
        durable.append(time.perf_counter() - t0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_heartbeat, gaps)
        if threaded:
            nursery.start_soon(journal.run)
        for start in range(0, n, burst):
            async with trio.open_nursery() as commands:
                for i in range(start, min(start + burst, n)):
                    t0 = time.perf_counter()
                    journal.record(_order(i))
                    if not threaded:
                        journal.commit()  # before: the commit (and its fsync) on the loop itself
                    on_loop.append(time.perf_counter() - t0)
                    commands.start_soon(send, _order(i), t0)
        nursery.cancel_scope.cancel()
    return {"on_loop": on_loop, "durable": durable, "gaps": gaps, "commits": journal.commits}


def _us(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6:9.0f}"


def main(n: int = 500, burst: int = 10) -> None:
    print(f"order journal, {n} orders in bursts of {burst} (SQLite WAL, synchronous=FULL)")
    print(f"{'':28s}{'loop p50 us':>12s}{'loop p99 us':>12s}{'loop max us':>12s}"
          f"{'durable p50 us':>15s}{'commits':>9s}{'loop stall max us':>19s}")
    for label, threaded in (("before: commit on the loop", False), ("after: writer thread", True)):
        with tempfile.TemporaryDirectory() as tmp:
            journal = OrderJournal(Path(tmp) / "j.sqlite")
            figures = trio.run(_run, journal, n, burst, threaded)
            journal.close()
        on_loop = figures["on_loop"]
        durable = figures["durable"]
        gaps = figures["gaps"]
        assert isinstance(on_loop, list) and isinstance(durable, list) and isinstance(gaps, list)
        print(f"{label:28s}{_us(on_loop, 0.5):>12s}{_us(on_loop, 0.99):>12s}{max(on_loop) * 1e6:12.0f}"
              f"{statistics.median(durable) * 1e6:15.0f}{figures['commits']:9d}{max(gaps) * 1e6:19.0f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
