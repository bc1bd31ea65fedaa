"""Throughput of the matching engine and the L2 book (prints figures; asserts nothing).

    python tests/benchmarks/bench_matching.py

* OrderBook: simple limit submits that rest, and cancels, interleaved (the target is
  >= 200,000 ops/s); a market-making loop (quote both sides, cancel, take); matches.
* L2Book: applying a delta of a few levels (the target is a few µs).
* SimVenue: the per-event cost the replay loop pays while orders rest away from the market
  (``advance`` + ``on_trade`` / ``on_bar``), and a busy run where orders fill all the time.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backtest.matching import OrderBook  # noqa: E402
from backtest.simvenue import SimVenue  # noqa: E402
from engine import Bar, BookDelta, BookSnapshot, Instrument, Order, OrderStatus, OrderType, Side, TimeInForce, Trade  # noqa: E402
from engine import L2Book  # noqa: E402

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


class _Sink:
    def __init__(self) -> None:
        self.fills = 0

    def on_accepted(self, order: Order, ts_ns: int, venue_order_id: str) -> None: ...
    def on_rejected(self, order: Order, ts_ns: int, reason: str) -> None: ...
    def on_canceled(self, order: Order, ts_ns: int, reason: str) -> None: ...
    def on_expired(self, order: Order, ts_ns: int, reason: str) -> None: ...
    def on_cancel_rejected(self, order: Order, ts_ns: int, reason: str) -> None: ...

    def on_fill(self, *args: object) -> None:
        self.fills += 1


def sim_events(n: int) -> None:
    inst = Instrument("x", "X/Y", "X", "Y", "0.01", "0.001", taker_fee="0.0005", maker_fee="0.0002")
    rng = random.Random(4)
    prices = [100_000 + rng.randrange(-50, 51) for _ in range(n)]
    trades = [Trade(inst, i, i, p, 1_000) for i, p in enumerate(prices)]
    bars = [Bar(inst, i * 60, i * 60 + 60, p, p + 30, p - 30, p + 5, 10_000, 60) for i, p in enumerate(prices)]

    def resting(sim: SimVenue) -> None:
        for i, (side, px) in enumerate(((Side.BUY, 90_000), (Side.SELL, 110_000))):
            o = Order(f"r{i}", inst, side, OrderType.LIMIT, 1_000, price_raw=px)
            o.apply(OrderStatus.SUBMITTED, 0)
            sim.submit(o, 0)
        stop = Order("s", inst, Side.SELL, OrderType.STOP_MARKET, 1_000, trigger_raw=80_000)
        stop.apply(OrderStatus.SUBMITTED, 0)
        sim.submit(stop, 0)

    for name, events, handler in (("trade", trades, "on_trade"), ("bar", bars, "on_bar")):
        sim = SimVenue([inst], _Sink())
        resting(sim)
        advance, on_event = sim.advance, getattr(sim, handler)
        advance(0)
        on_event(events[0])  # first contact: the orders rest
        t0 = time.perf_counter()
        for ev in events:
            if sim.active:
                advance(ev.ts_recv)
                on_event(ev)
        dt = time.perf_counter() - t0
        print(f"{'SimVenue advance+' + handler + ', 3 orders resting, none reached':<58} {n / dt:>12,.0f} ev/s   "
              f"({dt * 1e6 / n:.2f} µs/ev)")

    # busy: a market order every 10 trades and a limit 5 ticks away every 10 trades
    sink = _Sink()
    sim = SimVenue([inst], sink)
    t0 = time.perf_counter()
    for i, ev in enumerate(trades):
        if i % 10 == 0:
            o = Order(f"m{i}", inst, Side.BUY if i % 20 else Side.SELL, OrderType.MARKET, 1_000)
            o.apply(OrderStatus.SUBMITTED, 0)
            sim.submit(o, ev.ts_recv)
        elif i % 10 == 5:
            side = Side.BUY if i % 20 < 10 else Side.SELL
            o = Order(f"l{i}", inst, side, OrderType.LIMIT, 1_000, price_raw=ev.price_raw - 5 * side)
            o.apply(OrderStatus.SUBMITTED, 0)
            sim.submit(o, ev.ts_recv)
        if sim.active:
            sim.advance(ev.ts_recv)
            sim.on_trade(ev)
    dt = time.perf_counter() - t0
    print(f"{'SimVenue trades, an order every 5 events, fills ' + str(sink.fills):<58} {n / dt:>12,.0f} ev/s   "
          f"({dt * 1e6 / n:.2f} µs/ev)")


def main() -> None:
    n = 200_000
    bench("OrderBook limit submit (rests) + cancel", 2 * n, lambda: limit_cancel(n))
    rounds = 40_000
    bench("OrderBook market-making round (5 submits, 4 cancels)", 9 * rounds, lambda: market_maker(rounds))
    l2_deltas(200_000)
    sim_events(500_000)


if __name__ == "__main__":
    main()
