from decimal import Decimal as D

import pytest

from engine import ClientOrderIdFactory, Instrument, InvalidTransition, Order, OrderStatus, OrderType, Side

INST = Instrument(venue="sim", symbol="X", base="X", quote="USD", tick_size="0.01", lot_size="0.001")


def make() -> Order:
    return Order("c1", INST, Side.BUY, OrderType.LIMIT, 1500, price_raw=10001)


def test_happy_path_and_views() -> None:
    o = make()
    o.apply(OrderStatus.SUBMITTED, 1)
    o.apply(OrderStatus.ACCEPTED, 2)
    o.add_fill(10001, 500)
    o.apply(OrderStatus.PARTIALLY_FILLED, 3)
    o.add_fill(10000, 1000)
    update = o.apply(OrderStatus.FILLED, 4)
    assert update.previous is OrderStatus.PARTIALLY_FILLED
    assert o.qty == D("1.5") and o.price == D("100.01") and o.filled_qty == D("1.5")
    assert o.avg_price == (D("100.01") * D("0.5") + D("100.00") * 1) / D("1.5")
    assert o.is_terminal and not o.is_open


def test_terminal_states_are_final() -> None:
    o = make()
    o.apply(OrderStatus.DENIED, 1, "no")
    with pytest.raises(InvalidTransition):
        o.apply(OrderStatus.SUBMITTED, 2)


def test_unknown_is_open_and_only_left_by_evidence() -> None:
    o = make()
    o.apply(OrderStatus.SUBMITTED, 1)
    o.apply(OrderStatus.UNKNOWN, 2, "timeout")
    assert o.is_open and not o.is_terminal
    assert not o.can_apply(OrderStatus.DENIED)
    o.apply(OrderStatus.REJECTED, 3, "venue never had it")
    assert o.is_terminal


def test_overfill_is_refused() -> None:
    o = make()
    o.add_fill(10001, 1500)
    with pytest.raises(ValueError, match="overfill"):
        o.add_fill(10001, 1)


def test_client_order_ids_unique_and_reproducible() -> None:
    a = ClientOrderIdFactory(prefix="bt", run_id="7")
    ids = [a() for _ in range(3)]
    assert ids == ["bt7-1", "bt7-2", "bt7-3"]
    live = ClientOrderIdFactory()
    assert len({live() for _ in range(1000)}) == 1000
    assert all(len(live()) <= 36 for _ in range(3))
