"""The order rules, and the three places that apply them agreeing on them."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from backtest import order_rules as rules
from backtest.exchange import AccountConfig, Exchange, ExchangeRejected, RejectReason
from backtest.matching import OrderBook
from backtest.order_rules import Problem, Remainder, SelfTradePrevention
from backtest.simvenue import SimVenue
from engine import Instrument, Order, OrderType, Side, TimeInForce

BUY, SELL = Side.BUY, Side.SELL
MKT, LMT, STP, STL = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
INST = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.5", lot_size="0.002")


def check(side: int, type: OrderType, qty: int, price: int | None = None, trigger: int | None = None,
          tif: TimeInForce = GTC, post_only: bool = False) -> Problem | None:
    r = rules.check_order(side, type, qty, price, trigger, tif, post_only, tick=5, lot=2, min_qty=4, max_qty=100)
    return None if r is None else r.problem


@pytest.mark.parametrize(("args", "problem"), [
    ((BUY, LMT, 4, 10), None),
    ((SELL, STL, 4, 10, 15), None),
    ((BUY, MKT, 4), None),
    ((0, LMT, 4, 10), Problem.BAD_SIDE),
    ((BUY, LMT, 0, 10), Problem.QTY_NOT_POSITIVE),
    ((BUY, LMT, 5, 10), Problem.QTY_OFF_LOT),
    ((BUY, LMT, 2, 10), Problem.QTY_BELOW_MIN),
    ((BUY, LMT, 102, 10), Problem.QTY_ABOVE_MAX),
    ((BUY, LMT, 4), Problem.PRICE_MISSING),
    ((BUY, LMT, 4, 11), Problem.PRICE_OFF_TICK),
    ((BUY, MKT, 4, 10), Problem.PRICE_NOT_ALLOWED),
    ((BUY, STP, 4), Problem.TRIGGER_MISSING),
    ((BUY, STP, 4, None, 11), Problem.TRIGGER_OFF_TICK),
    ((BUY, LMT, 4, 10, 10), Problem.TRIGGER_NOT_ALLOWED),
    ((BUY, LMT, 4, 10, None, IOC, True), Problem.POST_ONLY_NOT_GTC_LIMIT),
    ((BUY, MKT, 4, None, None, GTC, True), Problem.POST_ONLY_NOT_GTC_LIMIT),
])
def test_shape(args: tuple, problem: Problem | None) -> None:
    assert check(*args) is problem


def test_kinds_group_problems_as_venues_do() -> None:
    assert {p.kind for p in Problem} == {"quantity", "price", "parameters"}
    assert Problem.QTY_OFF_LOT.kind == "quantity" and Problem.TRIGGER_MISSING.kind == "price"
    assert Problem.PRICE_NOT_ALLOWED.kind == "parameters"


def test_taking_stops_remainders_and_self_trade() -> None:
    assert rules.crosses(BUY, 100, 100) and not rules.crosses(BUY, 99, 100) and rules.crosses(BUY, None, 100)
    assert rules.crosses(SELL, 100, 100) and not rules.crosses(SELL, 101, 100) and not rules.crosses(SELL, None, None)
    assert rules.stop_triggered(BUY, 100, 100) and not rules.stop_triggered(BUY, 100, 99)
    assert rules.stop_triggered(SELL, 100, 100) and not rules.stop_triggered(SELL, 100, 101)
    assert not rules.stop_triggered(BUY, 100, None)
    assert rules.post_only_price(BUY, 100, 5) == 95 and rules.post_only_price(SELL, 100, 5) == 105
    assert rules.post_only_price(BUY, 5, 5) is None
    assert rules.fok_fills(True, 10, 10) and not rules.fok_fills(True, 9, 10) and not rules.fok_fills(False, 99, 1)
    assert rules.remainder(None, GTC) == (Remainder.EXPIRE, rules.MARKET_NO_LIQUIDITY)
    assert rules.remainder(100, IOC) == (Remainder.EXPIRE, rules.IOC_REMAINDER)
    assert rules.remainder(100, GTC) == (Remainder.REST, "")
    assert rules.self_trade_cancels(SelfTradePrevention.CANCEL_TAKER) == (False, True)
    assert rules.self_trade_cancels(SelfTradePrevention.CANCEL_BOTH) == (True, True)
    assert rules.self_trade_cancels(SelfTradePrevention.NONE) == (False, False)


# the same bad orders, refused alike by the book, the simulated venue and the exchange core
BAD = [
    (dict(side=BUY, type=LMT, qty="0.003", price="100"), Problem.QTY_OFF_LOT),
    (dict(side=BUY, type=LMT, qty="0.002", price="100.2"), Problem.PRICE_OFF_TICK),
    (dict(side=BUY, type=STP, qty="0.002", trigger="100.2"), Problem.TRIGGER_OFF_TICK),
    (dict(side=BUY, type=LMT, qty="0.002"), Problem.PRICE_MISSING),
    (dict(side=BUY, type=STP, qty="0.002"), Problem.TRIGGER_MISSING),
    (dict(side=BUY, type=LMT, qty="0.002", price="100", tif=IOC, post_only=True), Problem.POST_ONLY_NOT_GTC_LIMIT),
]


class _Sink:
    def __init__(self) -> None:
        self.rejected: list[str] = []

    def on_rejected(self, order: Order, ts_ns: int, reason: str) -> None:
        self.rejected.append(reason)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected report {name}")


@pytest.mark.parametrize(("spec", "problem"), BAD)
def test_every_place_refuses_alike(spec: dict[str, Any], problem: Problem) -> None:
    qty = INST.size_raw(D(spec["qty"]))
    price = INST.price_raw(D(spec["price"])) if "price" in spec else None
    trigger = INST.price_raw(D(spec["trigger"])) if "trigger" in spec else None
    tif, post_only = spec.get("tif", GTC), spec.get("post_only", False)
    refusal = rules.check_order(spec["side"], spec["type"], qty, price, trigger, tif, post_only,
                                tick=INST.price_raw(INST.tick_size), lot=INST.size_raw(INST.lot_size))
    assert refusal is not None and refusal.problem is problem

    # the book, in raw units
    book = OrderBook(tick_raw=INST.price_raw(INST.tick_size), lot_raw=INST.size_raw(INST.lot_size))
    r = book.submit("a", spec["side"], spec["type"], qty, price_raw=price, trigger_raw=trigger, time_in_force=tif,
                    post_only=post_only)
    assert not r.ok and r.reason == refusal.text()

    # the simulated venue, in the instrument's units
    sink = _Sink()
    sim = SimVenue([INST], sink)  # type: ignore[arg-type]
    o = Order("o1", INST, spec["side"], spec["type"], qty, price_raw=price, trigger_raw=trigger, time_in_force=tif,
              post_only=post_only)
    sim.submit(o, 0)
    sim.advance(0)
    assert sink.rejected == [refusal.text(INST.size_of, INST.price_of, "instrument")]

    # the exchange core: the rule's kind as the venue's reason (off-step values are refused at its
    # decimal gate, before any integer exists, with the same reason)
    ex = Exchange([INST], clock_ms=lambda: 0)
    alice = ex.add_account(AccountConfig(name="alice", api_key="k", secret="s", balances={"USD": D(10**6)}))
    with pytest.raises(ExchangeRejected) as refused:
        ex.submit_order(alice, INST.symbol, spec["side"], spec["type"], D(spec["qty"]),
                        price=D(spec["price"]) if "price" in spec else None,
                        trigger_price=D(spec["trigger"]) if "trigger" in spec else None,
                        time_in_force=tif, post_only=post_only)
    expected = {"quantity": RejectReason.INVALID_QUANTITY, "price": RejectReason.INVALID_PRICE,
                "parameters": RejectReason.INVALID_PARAMETERS}[problem.kind]
    assert refused.value.reason is expected
