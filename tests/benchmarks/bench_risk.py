"""Per-order cost of the risk module's full check set (target: p50 <= 20 us).

Every check is switched on: min/max quantity and min notional, max order quantity and notional,
max position in base units and notional, gross account notional, net base units per asset, open
orders per account and per strategy, price band, leverage values and cap, daily loss and drawdown
(PnL re-evaluated on each order, with open positions marked). The account holds two positions
(one built from 50 fills) and 20 open orders. Each row times ``RiskEngine.check_order`` alone,
once per order, with ``time.perf_counter_ns``.

Run: ``python tests/benchmarks/bench_risk.py [orders]``
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import Instrument, Liquidity, Order, OrderType, Side, TimeInForce  # noqa: E402
from engine import SimClock  # noqa: E402
from engine import Engine  # noqa: E402
from engine import Strategy  # noqa: E402
from risk import InstrumentLimits, RateLimiter, RateLimitSpec, RiskConfig, RiskEngine, StrategyLimits  # noqa: E402

BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.0001",
                 min_qty="0.0001", max_qty="100", min_notional="5", kind="linear", max_leverage="50",
                 leverage_values=(1, 2, 5, 10, 20, 50))  # type: ignore[arg-type]
ETH = Instrument(venue="sim", symbol="ETH/USD", base="ETH", quote="USD", tick_size="0.01", lot_size="0.001",
                 min_notional="5")
MARKS = {BTC.key: D("30000.005"), ETH.key: D("2000.5")}


class _Execution:
    def submit(self, order: Order, now_ns: int) -> None:
        pass

    def cancel(self, order: Order, now_ns: int) -> None:
        pass


def full_config() -> RiskConfig:
    return RiskConfig(
        max_order_notional=D("1000000"),
        max_position_notional=D("5000000"),
        max_account_notional=D("10000000"),
        max_asset_position={"BTC": D("150")},
        max_open_orders=500,
        price_band_bps=500,
        max_leverage=D("20"),
        daily_loss_limit=D("100000"),
        max_drawdown=D("200000"),
        strategies={"bench": StrategyLimits(max_open_orders=400, max_order_notional=D("900000"))},
        instruments={BTC.key: InstrumentLimits(max_order_qty=D("50"), max_position_qty=D("120"))},
    )


def build(config: RiskConfig) -> tuple[Engine, RiskEngine]:
    risk = RiskEngine(config)
    engine = Engine(clock=SimClock(1_700_000_000_000_000_000), risk=risk)
    engine.add_instrument(BTC)
    engine.add_instrument(ETH)
    engine.execution = _Execution()
    engine.mark_source = lambda inst: MARKS.get(inst.key)
    engine.add_strategy("bench", Strategy)
    engine.add_strategy("other", Strategy)
    # a position built from 50 fills, another instrument's position, 20 open orders
    for i in range(50):
        order = engine.submit_order("bench", BTC, Side.BUY, D("0.1"), type=OrderType.LIMIT, price=D(29900 + i))
        engine.on_fill(order, engine.clock.now_ns(), order.price_raw or 0, order.qty_raw, Liquidity.MAKER, D("0.1"),
                       f"t{i}")
    order = engine.submit_order("other", ETH, Side.SELL, D("3"), type=OrderType.LIMIT, price=D("2001"))
    engine.on_fill(order, engine.clock.now_ns(), order.price_raw or 0, order.qty_raw, Liquidity.MAKER, D("0.5"), "e1")
    for i in range(20):
        engine.submit_order("bench" if i % 2 else "other", BTC, Side.BUY if i % 3 else Side.SELL, D("0.01"),
                            type=OrderType.LIMIT, price=D(29950 + i))
    assert len(engine.open_order_ids) == 20, engine.denials
    return engine, risk


def make_order(n: int, kind: str) -> Order:
    if kind == "market":
        return Order(f"m{n}", BTC, Side.BUY, OrderType.MARKET, 50, strategy_id="bench")
    return Order(f"l{n}", BTC, Side.BUY if n % 2 else Side.SELL, OrderType.LIMIT, 2500, price_raw=3_000_100 + n % 7,
                 time_in_force=TimeInForce.GTC, leverage=D(10), strategy_id="bench")


def measure(check: Callable[[Order, Engine], object], engine: Engine, kind: str, n: int) -> list[int]:
    orders = [make_order(i, kind) for i in range(n)]
    for order in orders[:1000]:  # warm up caches
        check(order, engine)
    timings = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for order in orders:
            t0 = clock()
            check(order, engine)
            timings.append(clock() - t0)
    finally:
        gc.enable()
    return timings


def report(name: str, timings: list[int]) -> float:
    timings.sort()
    p50 = statistics.median(timings) / 1000
    p99 = timings[int(len(timings) * 0.99)] / 1000
    mean = sum(timings) / len(timings) / 1000
    print(f"{name:<46} p50 {p50:6.2f} us   p99 {p99:6.2f} us   mean {mean:6.2f} us   (n={len(timings):,})")
    return p50


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(f"risk check_order, Python {sys.version.split()[0]}, {n:,} orders per row")
    engine, risk = build(full_config())
    result = risk.check_order(make_order(1, "limit"), engine)
    assert result is None, result
    p50 = report("full check set, limit order (admitted)", measure(risk.check_order, engine, "limit", n))
    report("full check set, market order (admitted)", measure(risk.check_order, engine, "market", n))

    engine2, risk2 = build(full_config())
    limiter = RateLimiter([RateLimitSpec("ORDERS", 10**9, 1)], clock=lambda: engine2.clock.now_ns() / 1e9)
    risk2.bind_order_rate_limit("sim", limiter, {"ORDERS": 1})
    report("full check set + bound order rate limit", measure(risk2.check_order, engine2, "limit", n))

    engine3, risk3 = build(RiskConfig())
    report("default configuration", measure(risk3.check_order, engine3, "limit", n))

    target = 20.0
    verdict = "meets" if p50 <= target else "MISSES"
    print(f"full check set p50 {p50:.2f} us {verdict} the {target:.0f} us target")
    return 0 if p50 <= target else 1


if __name__ == "__main__":
    raise SystemExit(main())
