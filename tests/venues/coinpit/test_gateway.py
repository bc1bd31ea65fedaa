"""The Coinpit gateway against the local testnet over loopback: handshake, instruments and the
alias, books, orders (rest, fill on the socket, cancel), a lost create found by its clientid and
never resent, balances and positions in BTC exactly."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
import trio

from engine import (AuthFailed, BookSnapshot, DataKind, Fill, InstrumentKind, Order, OrderStatus, OrderType,
                    OutcomeUnknown, Side, VenueRejected)
from venues._testnet.faults import FaultSettings
from venues.coinpit import CoinpitConfig, CoinpitGateway
from venues.coinpit.constants import ALIAS_WEEKLY
from venues.coinpit.gateway import open_coinpit_gateway
from venues.coinpit.testnet import CoinpitTestnet, open_coinpit_testnet

from .conftest import ACCOUNTS, ALICE, ALICE_SECRET, BOB

D = Decimal


class Sink:
    def __init__(self) -> None:
        self.market: list[Any] = []
        self.execution: list[Any] = []
        self.changed = trio.Event()

    def send_market(self, event: Any) -> None:
        self.market.append(event)
        self.changed.set()

    def send_execution(self, event: Any) -> None:
        self.execution.append(event)
        self.changed.set()

    async def wait_for(self, predicate: Any) -> None:
        while not predicate():
            await self.changed.wait()
            self.changed = trio.Event()


def config(testnet: CoinpitTestnet, **extra: Any) -> CoinpitConfig:
    options: dict[str, Any] = {"base_url": testnet.url, "api_key": ALICE.userid, "secret": ALICE_SECRET,
                               "reconnect_min_s": 0.05, "reconnect_max_s": 0.5, "http_timeout_s": 5.0,
                               "requests_per_s": 1000}
    options.update(extra)
    return CoinpitConfig.from_mapping(options)


def order(gateway: CoinpitGateway, side: Side, qty: int, price: str | None, n: int,
          type: OrderType = OrderType.LIMIT) -> Order:
    inst = gateway.alias(ALIAS_WEEKLY)
    return Order(f"tt-{n}", inst, side, type, inst.size_raw(D(qty)),
                 price_raw=None if price is None else inst.price_raw(D(price)))


def bob_of(testnet: CoinpitTestnet) -> Any:
    bob = testnet.exchange.account_by_api_key(BOB.userid)
    assert bob is not None
    return bob


async def test_orders_end_to_end() -> None:
    sink = Sink()
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        with trio.fail_after(20):
            async with open_coinpit_gateway(config(testnet), sink) as gateway:
                inst = gateway.alias()
                assert inst.symbol == testnet.contract and inst.kind is InstrumentKind.INVERSE
                assert (inst.tick_size, inst.lot_size, inst.multiplier, inst.settle) == (D("0.1"), D(1), D(100), "BTC")
                await gateway.subscribe(DataKind.BOOK, inst)
                resting = await gateway.submit_order(order(gateway, Side.BUY, 10, "1200.5", 1))
                assert resting.status is OrderStatus.ACCEPTED and resting.client_order_id == "tt-1"
                await sink.wait_for(lambda: any(isinstance(e, BookSnapshot) and e.bids for e in sink.market))
                # bob takes 4: alice's fill arrives on the socket, once, its fee in BTC
                testnet.exchange.submit_order(bob_of(testnet), inst.symbol, Side.SELL, OrderType.MARKET, D(4))
                await sink.wait_for(lambda: any(isinstance(e, Fill) for e in sink.execution))
                fills = [e for e in sink.execution if isinstance(e, Fill)]
                assert [(f.client_order_id, f.qty, f.price, f.fee_asset) for f in fills] == \
                    [("tt-1", D(4), D("1200.5"), "BTC")]
                positions = await gateway.positions()
                assert [(p.instrument.symbol, p.qty, p.avg_price) for p in positions] == \
                    [(inst.symbol, D(4), D("1200.5"))]
                # the order as the strategy holds it (no venue id): found by its clientid, canceled
                canceled = await gateway.cancel_order(order(gateway, Side.BUY, 10, "1200.5", 1))
                assert canceled.status is OrderStatus.CANCELED and canceled.venue_order_id == resting.venue_order_id
                assert await gateway.open_orders() == []
                with pytest.raises(VenueRejected) as refused:
                    await gateway.submit_order(order(gateway, Side.BUY, 1, "1", 2))  # far outside the band
                assert refused.value.code == 422
                # the margin account in BTC, exact: opening balance minus the maker fee (0) while the
                # position's margin is locked
                (balance,) = await gateway.balances()
                account = testnet.exchange.accounts["alice"].balance("BTC")
                assert balance.asset == "BTC" and balance.total == account.total.quantize(D("1e-8"))
                assert balance.free == (account.free * 10**8).to_integral_value(rounding="ROUND_FLOOR") / 10**8


async def test_a_lost_create_is_found_by_its_clientid_never_resent() -> None:
    sink = Sink()
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        with trio.fail_after(20):
            async with open_coinpit_gateway(config(testnet), sink) as gateway:
                testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
                lost = order(gateway, Side.SELL, 3, "1300", 7)
                with pytest.raises(OutcomeUnknown):
                    await gateway.submit_order(lost)
                testnet.faults.configure(FaultSettings())
                alice = testnet.exchange.accounts["alice"]
                assert len(testnet.exchange.open_orders(alice)) == 1  # booked once, not resent
                found = await gateway.query_order(lost)
                assert found is not None and found.status is OrderStatus.ACCEPTED
                assert found.venue_order_id == testnet.exchange.open_orders(alice)[0].order_id
                # a create that never reached the venue: the query says so
                never = order(gateway, Side.SELL, 3, "1300", 8)
                assert await gateway.query_order(never) is None
                assert len(testnet.exchange.open_orders(alice)) == 1


async def test_inverse_pnl_reaches_the_gateway_in_satoshis() -> None:
    sink = Sink()
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        with trio.fail_after(20):
            async with open_coinpit_gateway(config(testnet), sink) as gateway:
                inst = gateway.alias()
                bob = bob_of(testnet)
                testnet.exchange.submit_order(bob, inst.symbol, Side.SELL, OrderType.LIMIT, D(20), price=D(1200))
                await gateway.submit_order(order(gateway, Side.BUY, 20, None, 1, OrderType.MARKET))
                testnet.exchange.submit_order(bob, inst.symbol, Side.BUY, OrderType.LIMIT, D(20), price=D(1210))
                await gateway.submit_order(order(gateway, Side.SELL, 20, None, 2, OrderType.MARKET))
                await sink.wait_for(lambda: len([e for e in sink.execution if isinstance(e, Fill)]) == 2)
                fills = [e for e in sink.execution if isinstance(e, Fill)]
                fees = sum((f.fee for f in fills), D(0))
                pnl = (20 * 100 * (1 / D(1200) - 1 / D(1210))).quantize(D("1e-8"), ROUND_HALF_EVEN)
                assert await gateway.positions() == []
                (balance,) = await gateway.balances()
                assert balance.total == D(10) + pnl - fees and balance.locked == 0


async def test_a_key_that_is_not_the_userid_is_refused() -> None:
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        with pytest.raises(AuthFailed):
            CoinpitGateway(config(testnet, api_key=BOB.userid))
        # a key the venue has not registered: refused at start, not retried
        sink = Sink()
        with trio.fail_after(20), pytest.raises(BaseException) as failed:
            async with open_coinpit_gateway(config(testnet, api_key=_other().userid, secret=_OTHER), sink):
                pass
        error = _leaf(failed.value)
        assert isinstance(error, AuthFailed) and "not registered" in str(error) and _OTHER not in str(error)


def _leaf(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


_OTHER = "11" * 32


def _other() -> Any:
    from venues.coinpit.constants import Network
    from venues.coinpit.signer import identity_of

    return identity_of(_OTHER, Network.TESTNET)


async def test_readonly_maintenance_halts_the_venue_and_refuses_orders() -> None:
    from engine import VenueState, VenueStatus

    sink = Sink()
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        with trio.fail_after(20):
            async with open_coinpit_gateway(config(testnet), sink) as gateway:
                # the venue refuses (503, definite) even before the gateway hears of it
                testnet.readonly = True
                with pytest.raises(VenueRejected) as refused:
                    await gateway.submit_order(order(gateway, Side.BUY, 1, "1000", 1))
                assert refused.value.code == 503
                testnet.set_readonly(True)
                await sink.wait_for(lambda: gateway.readonly)
                halted = [e for e in sink.market if isinstance(e, VenueStatus) and e.state is VenueState.HALTED]
                assert len(halted) == 1
                sent = gateway.statistics().requests_sent
                with pytest.raises(VenueRejected):
                    await gateway.submit_order(order(gateway, Side.BUY, 1, "1000", 2))
                assert gateway.statistics().requests_sent == sent  # nothing went out
                testnet.set_readonly(False)
                await sink.wait_for(lambda: not gateway.readonly)
                report = await gateway.submit_order(order(gateway, Side.BUY, 1, "1000", 3))
                assert report.status is OrderStatus.ACCEPTED
                alice = testnet.exchange.accounts["alice"]
                assert [o.client_order_id for o in testnet.exchange.open_orders(alice)] == ["tt-3"]
