"""The order path's shortcuts give exactly what the plain code gives.

Each shortcut (positional order construction, Decimal views by one multiplication, the fee as
one exact product, the quantity fast path) is checked against the straightforward expression it
replaces, digit for digit and exponent for exponent.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import pytest

from backtest.simvenue import SimVenue, SimVenueConfig
from engine import Instrument, Liquidity, Order, OrderType, Side, TimeInForce
from engine import from_scaled, to_decimal
from engine._orders import _new_order
from engine import Portfolio

INSTRUMENTS = [
    Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.00001"),
    Instrument(venue="sim", symbol="PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.001",
               kind="linear", multiplier="0.1"),
    Instrument(venue="sim", symbol="INV", base="BTC", quote="USD", tick_size="0.5", lot_size="1",
               kind="inverse", multiplier="100"),
    Instrument(venue="sim", symbol="WHOLE", base="W", quote="USD", tick_size="5", lot_size="10"),
]


@pytest.mark.parametrize("kw", [
    {},
    {"price_raw": 12345, "time_in_force": TimeInForce.IOC, "post_only": True},
    {"trigger_raw": 999, "reduce_only": True, "leverage": Decimal("3"), "take_profit": Decimal("1"),
     "stop_loss": Decimal("2"), "strategy_id": "s1", "ts_init": 77},
])
def test_positional_order_equals_the_class_call(kw: dict[str, Any]) -> None:
    inst = INSTRUMENTS[0]
    plain = Order("c1", inst, Side.SELL, OrderType.LIMIT, 1500, **kw)
    fast = _new_order("c1", inst, Side.SELL, OrderType.LIMIT, 1500, kw.get("price_raw"), kw.get("trigger_raw"),
                      kw.get("time_in_force", TimeInForce.GTC), kw.get("post_only", False),
                      kw.get("reduce_only", False), kw.get("leverage"), kw.get("take_profit"),
                      kw.get("stop_loss"), kw.get("strategy_id", ""), kw.get("ts_init", 0))
    for name in Order.__slots__:
        assert getattr(fast, name) == getattr(plain, name), name
        assert type(getattr(fast, name)) is type(getattr(plain, name)), name


def _raws(rng: random.Random) -> list[int]:
    return [0, 1, -1, 7, 10**27, 10**28 + 1, -(10**40) - 3] + [rng.randint(-10**rng.randint(1, 32), 10**32)
                                                                 for _ in range(2000)]


@pytest.mark.parametrize("inst", INSTRUMENTS, ids=lambda i: i.symbol)
def test_decimal_views_match_from_scaled(inst: Instrument) -> None:
    for raw in _raws(random.Random(1)):
        for got, scale in ((inst.price_of(raw), inst.price_scale), (inst.size_of(raw), inst.size_scale)):
            want = from_scaled(raw, scale)
            assert got.as_tuple() == want.as_tuple(), (raw, got, want)


def _plain_round_qty_raw(inst: Instrument, qty: Decimal) -> int:
    scaled = to_decimal(qty).scaleb(inst.size_scale)
    if scaled == scaled.to_integral_value():
        raw = int(scaled)
        if raw % inst.lot_raw == 0:
            return raw
    return inst.size_raw(inst.round_qty(qty))


def _outcome(fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except Exception as exc:  # the same error, or the same result
        return type(exc), str(exc)


@pytest.mark.parametrize("inst", INSTRUMENTS, ids=lambda i: i.symbol)
def test_round_qty_raw_fast_path_matches_the_general_rule(inst: Instrument) -> None:
    rng = random.Random(2)
    values: list[object] = [Decimal("0.0100000000000000000000000000001"), Decimal("-0"), Decimal("1E+30"),
                            Decimal("0.00001"), Decimal("NaN"), Decimal("Infinity"), 0.5, "0.01", 3, True]
    values += [Decimal(rng.randint(-10**rng.randint(0, 12), 10**12)).scaleb(rng.randint(-10, 4)) for _ in range(3000)]
    for qty in values:
        assert _outcome(inst.round_qty_raw, qty) == _outcome(_plain_round_qty_raw, inst, qty), qty


_WIDE = Context(prec=80, rounding=ROUND_HALF_EVEN)


@pytest.mark.parametrize("inst", [i for i in INSTRUMENTS if i.kind.value != "inverse"], ids=lambda i: i.symbol)
@pytest.mark.parametrize("rate", ["0.001", "-0.00025", "0.0007"])
def test_fee_is_the_exact_product_of_size_multiplier_price_and_rate(inst: Instrument, rate: str) -> None:
    sim = SimVenue([inst], None, SimVenueConfig(maker_fee=rate, taker_fee=rate))  # type: ignore[arg-type]
    st = sim._insts[inst.key]
    rng = random.Random(3)
    for _ in range(2000):
        price_raw, size_raw = rng.randint(1, 10**12), rng.randint(1, 10**9)
        want = _WIDE.multiply(_WIDE.multiply(_WIDE.multiply(inst.size_of(size_raw), inst.multiplier),
                                             inst.price_of(price_raw)), Decimal(rate))
        for liquidity in ("maker", "taker"):
            got = sim._fee(st, price_raw, size_raw, Liquidity(liquidity))
            assert got.as_tuple() == want.as_tuple(), (price_raw, size_raw, got, want)


def test_realized_pnl_and_spot_notional_match_the_plain_expressions() -> None:
    rng = random.Random(4)
    for inst in INSTRUMENTS[:2] + INSTRUMENTS[3:]:
        portfolio = Portfolio({"USD": Decimal(10**9)})
        pos = portfolio.position(inst)
        dp = inst.price_scale + inst.size_scale
        for _ in range(500):
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            price_raw, size_raw = rng.randint(1, 10**9), rng.randint(1, 10**6)
            qty_before, lots_before = pos.qty_raw, [list(lot) for lot in pos.lots]
            quote_before = portfolio.balance(inst.quote)
            realized = portfolio.apply_fill(inst, side, price_raw, size_raw, Decimal(0), inst.settle, 0)
            # the plain FIFO expression
            units, remaining = 0, size_raw
            if qty_before and (qty_before > 0) != (side > 0):
                for lot_price, lot_size in lots_before:
                    take = min(lot_size, remaining)
                    units += (price_raw - lot_price) * take
                    remaining -= take
                    if not remaining:
                        break
                sign = 1 if qty_before > 0 else -1
                want = (Decimal(units * sign) * inst.multiplier).scaleb(-dp) if units else Decimal(0)
                assert realized.as_tuple() == want.as_tuple()
            if inst.kind.value == "spot":
                notional = Decimal(price_raw * size_raw).scaleb(-dp)
                change = portfolio.balance(inst.quote) - quote_before
                assert change == (-notional if side is Side.BUY else notional)
