"""Throughput of the matching engine and the L2 book (prints figures; asserts nothing).

    python tests/benchmarks/bench_matching.py

* OrderBook: simple limit submits that rest, and cancels, interleaved (the target is
  >= 200,000 ops/s); a market-making loop (quote both sides, cancel, take); matches.
* L2Book: applying a delta of a few levels (the target is a few µs).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backtest.matching import OrderBook  # noqa: E402
from engine import BookDelta, BookSnapshot, Instrument, OrderType, Side, TimeInForce  # noqa: E402
from engine._book import L2Book  # noqa: E402

LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
BUY, SELL = Side.BUY, Side.SELL


def bench(name: str, ops: int, fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    rate = ops / dt
    print(f"{name:<58} {rate:>12,.0f} ops/s  ({dt * 1e6 / ops:.2f} µs/op)")
    return rate


def limit_cancel(n: int) -> None:
    """Rest n limit orders around a mid (about 100 levels per side), cancelling the oldest
    open order after each submit once 1,000 are open: 2n operations."""
    rng = random.Random(1)
    book = OrderBook()
    submit, cancel = book.submit, book.cancel
    prices = [(BUY, 10_000 - rng.randrange(1, 100)) if rng.random() < 0.5 else (SELL, 10_000 + rng.randrange(1, 100))
              for _ in range(n)]
    open_ids: list[int] = []
    head = 0
    for side, price in prices:
        r = submit("mm", side, LIMIT, 5, price_raw=price)
        open_ids.append(r.order_id)
        if len(open_ids) - head > 1_000:
            cancel(open_ids[head])
            head += 1
    for oid in open_ids[head:]:
        cancel(oid)


def market_maker(n: int) -> None:
    """n rounds of: two owners quote both sides (4 submits), a taker crosses (1 submit, some
    matches), the quotes are cancelled (up to 4 cancels)."""
    rng = random.Random(2)
    book = OrderBook()
    submit, cancel = book.submit, book.cancel
    mid = 10_000
    for _ in range(n):
        mid += rng.choice((-1, 0, 1))
        ids = [
            submit("a", BUY, LIMIT, 10, price_raw=mid - 1).order_id,
            submit("a", SELL, LIMIT, 10, price_raw=mid + 1).order_id,
            submit("b", BUY, LIMIT, 10, price_raw=mid - 2).order_id,
            submit("b", SELL, LIMIT, 10, price_raw=mid + 2).order_id,
        ]
        submit("t", BUY if rng.random() < 0.5 else SELL, MARKET, rng.randrange(1, 25), time_in_force=TimeInForce.IOC)
        for oid in ids:
            cancel(oid)


def l2_deltas(n: int) -> float:
    inst = Instrument("x", "X/Y", "X", "Y", "0.01", "0.001")
    book = L2Book(inst)
    bids = tuple((100_000 - i * 5, 1_000 + i) for i in range(50))
    asks = tuple((100_005 + i * 5, 1_000 + i) for i in range(50))
    book.apply_snapshot(BookSnapshot(inst, 0, 0, 1, bids, asks))
    rng = random.Random(3)
    deltas = []
    for seq in range(2, n + 2):
        # three changed levels near the touch: a size change, a removal and a re-insert
        k = rng.randrange(0, 5)
        p_bid = 100_000 - k * 5
        p_ask = 100_005 + k * 5
        deltas.append(BookDelta(inst, seq, seq, seq, ((p_bid, rng.randrange(0, 3) * 100), (p_bid - 5, 700)),
                                ((p_ask, rng.randrange(1, 3) * 100),)))
    apply = book.apply_delta
    t0 = time.perf_counter()
    for d in deltas:
        apply(d)
    dt = time.perf_counter() - t0
    print(f"{'L2Book.apply_delta (3 levels, 50-level book)':<58} {n / dt:>12,.0f} ops/s  ({dt * 1e6 / n:.2f} µs/op)")
    t0 = time.perf_counter()
    for _ in range(n):
        book.best_bid_raw
        book.best_ask_raw
    dt = time.perf_counter() - t0
    print(f"{'L2Book best_bid_raw + best_ask_raw':<58} {n / dt:>12,.0f} ops/s  ({dt * 1e6 / n:.2f} µs/op)")
    return n / dt


def main() -> None:
    n = 200_000
    bench("OrderBook limit submit (rests) + cancel", 2 * n, lambda: limit_cancel(n))
    rounds = 40_000
    bench("OrderBook market-making round (5 submits, 4 cancels)", 9 * rounds, lambda: market_maker(rounds))
    l2_deltas(200_000)


if __name__ == "__main__":
    main()
