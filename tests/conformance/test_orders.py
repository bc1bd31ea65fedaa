"""Gateway conformance, orders and account state: every venue's gateway against its own testnet.

Every order type and flag the gateway declares (``capabilities``), cancel, amend where supported
(``Unsupported`` where not), partial fills against a second account, balances and positions.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from engine import OrderStatus, OrderType, Side, TimeInForce, VenueRejected
from engine import OrderReport, Unsupported

from .harness import Harness, far_above, far_below, gateway, serve
from .venues import VenueAdapter

S = OrderStatus
GONE = {S.EXPIRED, S.CANCELED}
"How venues report an IOC/FOK that found nothing: expired or canceled, never filled."


async def test_limit_order_rests_then_cancels(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            quote = await h.quote()
            order = h.order(Side.BUY, OrderType.LIMIT, price=far_below(quote))
            report = await h.submit(order)
            assert report.status is S.ACCEPTED and report.venue_order_id
            assert report.client_order_id == order.client_order_id
            assert order.venue_order_id in {r.venue_order_id for r in await h.gateway.open_orders(h.instrument)}
            canceled = await h.gateway.cancel_order(order)
            assert canceled.status in {S.CANCELED, S.PENDING_CANCEL}
            await h.outcome(order, {S.CANCELED})
            assert order.venue_order_id not in {r.venue_order_id for r in await h.gateway.open_orders()}


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_market_order_fills_completely(venue: VenueAdapter, tmp_path: Path, side: Side) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            await h.quote()
            order = h.order(side, OrderType.MARKET)
            await h.submit(order)
            final = await h.outcome(order, {S.FILLED}, filled=venue.order_qty)
            fills = h.fills(order, (final,))
    assert sum(f.qty for f in fills.values()) == venue.order_qty
    assert all(f.side is side and f.price > 0 and f.instrument.key == h.instrument.key for f in fills.values())
    assert final.venue_order_id == order.venue_order_id


@attrs.frozen
class Case:
    """One order type / flag combination and what the venue must make of it."""

    name: str
    needs: Callable[[Any], bool]
    "Whether the gateway's capabilities include what the case uses."
    build: Callable[[Harness, Any], Any]
    "``(harness, quote) -> order``."
    expect: frozenset[OrderStatus] | None
    "Final statuses accepted; None = the venue must refuse it (VenueRejected or REJECTED)."
    filled: bool = False
    "The order fills completely."


def _has(*types: OrderType, tif: str = "GTC") -> Callable[[Any], bool]:
    return lambda caps: all(t.value in caps.order_types for t in types) and tif in caps.time_in_force


CASES = [
    Case("limit_ioc_nothing_to_take", _has(OrderType.LIMIT, tif="IOC"),
         lambda h, q: h.order(Side.BUY, OrderType.LIMIT, price=far_below(q), tif=TimeInForce.IOC), frozenset(GONE)),
    Case("limit_fok_nothing_to_take", _has(OrderType.LIMIT, tif="FOK"),
         lambda h, q: h.order(Side.BUY, OrderType.LIMIT, price=far_below(q), tif=TimeInForce.FOK), frozenset(GONE)),
    Case("limit_ioc_marketable", _has(OrderType.LIMIT, tif="IOC"),
         lambda h, q: h.order(Side.BUY, OrderType.LIMIT, price=q.ask * Decimal("1.05"), tif=TimeInForce.IOC),
         frozenset({S.FILLED}), filled=True),
    Case("limit_fok_marketable", _has(OrderType.LIMIT, tif="FOK"),
         lambda h, q: h.order(Side.SELL, OrderType.LIMIT, price=q.bid * Decimal("0.95"), tif=TimeInForce.FOK),
         frozenset({S.FILLED}), filled=True),
    Case("stop_market_waits", _has(OrderType.STOP_MARKET),
         lambda h, q: h.order(Side.BUY, OrderType.STOP_MARKET, trigger=far_above(q)), frozenset({S.ACCEPTED})),
    Case("stop_limit_waits", _has(OrderType.STOP_LIMIT),
         lambda h, q: h.order(Side.SELL, OrderType.STOP_LIMIT, trigger=far_below(q), price=far_below(q)),
         frozenset({S.ACCEPTED})),
    Case("post_only_rests", lambda caps: caps.post_only,
         lambda h, q: h.order(Side.BUY, OrderType.LIMIT, price=far_below(q), post_only=True), frozenset({S.ACCEPTED})),
    Case("post_only_would_take", lambda caps: caps.post_only,
         lambda h, q: h.order(Side.BUY, OrderType.LIMIT, price=q.ask * Decimal("1.01"), post_only=True), None),
    Case("reduce_only_without_position", lambda caps: caps.reduce_only,
         lambda h, q: h.order(Side.SELL, OrderType.MARKET, reduce_only=True), None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_order_types_and_flags(venue: VenueAdapter, tmp_path: Path, case: Case) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            if not case.needs(h.gateway.capabilities):
                pytest.skip(f"{venue.name} does not declare what {case.name} needs")
            order = case.build(h, await h.quote())
            try:
                report = await h.submit(order)
            except VenueRejected as e:
                assert case.expect is None, f"refused: {e}"
                assert e.venue == venue.name
                return
            if case.expect is None:
                final = await h.outcome(order, {S.REJECTED, S.CANCELED, S.EXPIRED})
                assert not h.fills(order, (final,)), "a refused order must not fill"
                return
            assert report.status is not S.REJECTED
            final = await h.outcome(order, set(case.expect), filled=venue.order_qty if case.filled else None)
            fills = h.fills(order, (final,))
    if case.filled:
        assert sum(f.qty for f in fills.values()) == venue.order_qty
    elif final.status in GONE:
        assert not fills


async def test_reduce_only_reduces_a_position(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            if not h.gateway.capabilities.reduce_only:
                pytest.skip(f"{venue.name} has no reduce-only orders")
            await h.quote()
            opening = h.order(Side.BUY, OrderType.MARKET)
            await h.submit(opening)
            await h.outcome(opening, {S.FILLED}, filled=venue.order_qty)
            closing = h.order(Side.SELL, OrderType.MARKET, reduce_only=True)
            await h.submit(closing)
            await h.outcome(closing, {S.FILLED}, filled=venue.order_qty)


async def test_amend_where_supported(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            quote = await h.quote()
            order = h.order(Side.BUY, OrderType.LIMIT, price=far_below(quote))
            await h.submit(order)
            if not h.gateway.capabilities.amend:
                with pytest.raises(Unsupported):
                    await h.gateway.amend_order(order, price=far_below(quote) - h.instrument.tick_size)
                return
            smaller = await h.gateway.amend_order(order, qty=venue.order_qty / 2)
            assert smaller.status is S.ACCEPTED and smaller.venue_order_id == order.venue_order_id
            # a new price that crosses the book: the amended order trades at once
            marketable = await h.gateway.amend_order(order, price=quote.ask * Decimal("1.05"))
            assert marketable.venue_order_id == order.venue_order_id
            final = await h.outcome(order, {S.FILLED}, filled=venue.order_qty / 2)
    assert sum(f.qty for f in h.fills(order, (final,)).values()) == venue.order_qty / 2


async def test_partial_fills_against_another_account(venue: VenueAdapter, tmp_path: Path) -> None:
    qty = venue.order_qty
    price = Decimal(200)
    with trio.fail_after(15):
        async with serve(venue, tmp_path, market="none") as testnet, \
                gateway(venue, testnet, "alice") as alice, gateway(venue, testnet, "bob") as bob:
            resting = alice.order(Side.BUY, OrderType.LIMIT, qty=3 * qty, price=price)
            assert (await alice.submit(resting)).status is S.ACCEPTED
            first = bob.order(Side.SELL, OrderType.MARKET, qty=qty)
            await bob.submit(first)
            await bob.outcome(first, {S.FILLED}, filled=qty)
            partial = await alice.outcome(resting, {S.PARTIALLY_FILLED}, filled=qty)
            assert partial.filled_qty in (None, qty)
            rest = bob.order(Side.SELL, OrderType.MARKET, qty=2 * qty)
            await bob.submit(rest)
            final = await alice.outcome(resting, {S.FILLED}, filled=3 * qty)
            fills = alice.fills(resting, (final,))
    assert sorted(f.qty for f in fills.values()) == [qty, 2 * qty]
    assert all(f.price == price and f.side is Side.BUY for f in fills.values())
    assert len({f.trade_id for f in fills.values()}) == 2


async def test_balances_match_the_accounts_file(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path, market="quiet") as testnet, gateway(venue, testnet) as h:
            balances = await h.gateway.balances()
    totals: dict[str, Decimal] = {}
    for b in balances:
        assert b.venue == venue.name and b.free >= 0 and b.locked >= 0
        totals[b.asset] = totals.get(b.asset, Decimal(0)) + b.total
    assert totals.get("USD") == Decimal(100000)
    assert totals.get("ETH", Decimal(10)) == Decimal(10)


async def test_positions_follow_fills(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            if not venue.positions:
                assert await h.gateway.positions() == []
                return
            assert [p for p in await h.gateway.positions() if p.qty] == []
            await h.quote()
            order = h.order(Side.SELL, OrderType.MARKET)
            await h.submit(order)
            final = await h.outcome(order, {S.FILLED}, filled=venue.order_qty)
            positions = [p for p in await h.gateway.positions() if p.instrument.key == h.instrument.key]
            balances = await h.gateway.balances()
    (position,) = positions
    assert position.qty == -venue.order_qty
    fills = h.fills(order, (final,))
    vwap = sum(f.price * f.qty for f in fills.values()) / venue.order_qty
    assert position.avg_price == vwap
    usd = sum(b.total for b in balances if b.asset == "USD")
    assert usd < Decimal(100000)  # the fee was paid


def _statuses(reports: list[OrderReport]) -> list[OrderStatus]:
    return [r.status for r in reports]
