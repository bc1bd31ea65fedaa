"""The Leverj gateway against the local testnet: instruments, books, orders (rest, fill, cancel,
query after a lost answer), balances and positions, on both markets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio

from engine import BookSnapshot, DataKind, Fill, Order, OrderReport, OrderStatus, OrderType, Side, VenueRejected
from venues._testnet.faults import FaultSettings
from venues._testnet.market import MarketSettings
from venues.leverj import LeverjConfig, LeverjGateway
from venues.leverj.gateway import open_leverj_gateway
from venues.leverj.testnet import LeverjTestnet, open_leverj_testnet

from .conftest import ACCOUNTS, ALICE_ACCOUNT, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET

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


def config(testnet: LeverjTestnet, market: str, **extra: Any) -> LeverjConfig:
    options: dict[str, Any] = {"base_url": testnet.url, "market": market, "api_key": ALICE_KEY, "secret": ALICE_SECRET,
                               "account_id": ALICE_ACCOUNT, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5,
                               "http_timeout_s": 5.0, "requests_per_s": 1000}
    options.update(extra)
    return LeverjConfig.from_mapping(options)


def order(gateway: LeverjGateway, symbol: str, side: Side, qty: str, price: str | None, n: int,
          type: OrderType = OrderType.LIMIT, **extra: Any) -> Order:
    inst = gateway.instrument(symbol)
    return Order(f"tt-{n}", inst, side, type, inst.size_raw(D(qty)),
                 price_raw=None if price is None else inst.price_raw(D(price)), **extra)


async def test_futures_orders_end_to_end() -> None:
    sink = Sink()
    async with open_leverj_testnet(ACCOUNTS, market=False) as testnet:
        with trio.fail_after(20):
            async with open_leverj_gateway(config(testnet, "futures"), sink) as gateway:
                assert set(gateway._by_symbol) == {"BTCUSD", "ETHUSD"}
                btc = gateway.instrument("BTCUSD")
                assert btc.tick_size == 1 and btc.lot_size == D("0.0001") and btc.max_leverage == 100
                await gateway.subscribe(DataKind.BOOK, btc)
                resting = await gateway.submit_order(order(gateway, "BTCUSD", Side.BUY, "0.01", "30000", 1,
                                                           leverage=D(5)))
                assert resting.status is OrderStatus.ACCEPTED and resting.client_order_id == "tt-1"
                wire = testnet.wire_orders[resting.venue_order_id]
                assert int(wire["marginPerFraction"]) == 6000 * 10**18  # 30000 / 5
                await sink.wait_for(lambda: any(isinstance(e, BookSnapshot) and e.bids for e in sink.market))
                # bob takes it: alice's fill arrives on the socket, once
                bob = testnet.exchange.account_by_api_key(BOB_KEY)
                assert bob is not None
                testnet.exchange.submit_order(bob, "BTCUSD", Side.SELL, OrderType.MARKET, D("0.01"), leverage=10)
                await sink.wait_for(lambda: any(isinstance(e, Fill) for e in sink.execution))
                fills = [e for e in sink.execution if isinstance(e, Fill)]
                assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("tt-1", D("0.01"), D(30000))]
                positions = await gateway.positions()
                assert [(p.instrument.symbol, p.qty, p.avg_price) for p in positions] == [("BTCUSD", D("0.01"), D(30000))]
                # cancel; a second cancel is definite (not open)
                other = await gateway.submit_order(order(gateway, "BTCUSD", Side.BUY, "0.02", "29000", 2))
                canceled = await gateway.cancel_order(order(gateway, "BTCUSD", Side.BUY, "0.02", "29000", 2))
                assert canceled.status is OrderStatus.CANCELED and canceled.venue_order_id == other.venue_order_id
                with pytest.raises(VenueRejected):
                    await gateway.cancel_order(order(gateway, "BTCUSD", Side.BUY, "0.02", "29000", 2))
                filled = await gateway.query_order(order(gateway, "BTCUSD", Side.BUY, "0.01", "30000", 1))
                assert filled is not None and filled.status is OrderStatus.FILLED and filled.filled_qty == D("0.01")
                assert await gateway.query_order(order(gateway, "BTCUSD", Side.BUY, "0.01", "30000", 99)) is None
                balances = {b.asset: b for b in await gateway.balances()}
                assert balances["DAI"].locked > 0 and balances["DAI"].total <= D(10_000_000)
                # too much leverage is capped at maxLeverage, and the venue takes it
                capped = await gateway.submit_order(order(gateway, "BTCUSD", Side.BUY, "0.01", "28000", 3,
                                                          leverage=D(500)))
                assert int(testnet.wire_orders[capped.venue_order_id]["marginPerFraction"]) == 280 * 10**18


async def test_an_order_whose_answer_was_lost_is_found_by_query() -> None:
    sink = Sink()
    async with open_leverj_testnet(ACCOUNTS, market=False) as testnet:
        with trio.fail_after(20):
            async with open_leverj_gateway(config(testnet, "futures"), sink) as gateway:
                from engine import OutcomeUnknown

                testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
                lost = order(gateway, "ETHUSD", Side.SELL, "0.5", "2500", 7)
                with pytest.raises(OutcomeUnknown):
                    await gateway.submit_order(lost)
                testnet.faults.configure(FaultSettings())
                found = await gateway.query_order(lost)
                assert found is not None and found.status is OrderStatus.ACCEPTED and found.client_order_id == "tt-7"
                assert [r.client_order_id for r in await gateway.open_orders()] == ["tt-7"]


async def test_spot_gateway_and_a_stale_clock_is_recalibrated() -> None:
    sink = Sink()
    async with open_leverj_testnet(ACCOUNTS, market=MarketSettings(seed=3, step_interval_s=0.05,
                                                                   history_minutes=5)) as testnet:
        with trio.fail_after(20):
            async with open_leverj_gateway(config(testnet, "spot", auth_type="SIGN"), sink) as gateway:
                eth = gateway.instrument("ETHDAI")
                assert eth.tick_size == D("0.01") and eth.kind.value == "spot"
                await gateway.subscribe(DataKind.QUOTES, eth)
                report = await gateway.submit_order(order(gateway, "ETHDAI", Side.BUY, "0.5", "1000", 1))
                assert report.status is OrderStatus.ACCEPTED
                # the venue's clock jumps 30 s: the next request gets a stale-nonce 401, recalibrates, retries
                testnet.faults.configure(FaultSettings(clock_offset_ms=30_000))
                assert [r.client_order_id for r in await gateway.open_orders()] == ["tt-1"]
                assert gateway.statistics().recalibrations >= 2
                assert await gateway.positions() == []


async def test_the_uniform_interface_serves_the_demo() -> None:
    from engine import Credentials
    from venues.leverj import DEMO_SYMBOL, make_gateway, open_local_testnet
    from venues.leverj.signer import address_of

    secret = "0x" + "17" * 32
    with trio.fail_after(20):
        async with open_local_testnet(address_of(secret), secret, seed=1) as options:
            gateway = make_gateway(options, Credentials(address_of(secret), secret))
            async with trio.open_nursery() as nursery:
                await nursery.start(gateway.run, Sink())
                assert gateway.venue == "leverj-futures" and f"leverj-futures:{DEMO_SYMBOL}" in gateway.instruments
                assert {b.asset: b.total for b in await gateway.balances()}["DAI"] == D(10_000_000)
                nursery.cancel_scope.cancel()
    with pytest.raises(Exception, match="not the address of the secret"):
        make_gateway({"market": "spot"}, Credentials(BOB_KEY, ALICE_SECRET))


@pytest.mark.parametrize(("market", "every"), [("futures", 2), ("futures", 3), ("spot", 3)])
async def test_start_up_and_subscriptions_make_progress_when_every_nth_request_is_refused_with_429(
        market: str, every: int) -> None:
    """Each start-up step is retried on its own (the kit's lifecycle), and a book snapshot the
    venue refuses is skipped (the socket pushes the next book): the gateway comes up, subscribes to
    everything and then sees the market. (With every 2nd refused, ``all/config`` is refused once.)"""
    sink = Sink()
    async with open_leverj_testnet(ACCOUNTS, seed=2, faults=FaultSettings(force_429_every=every)) as testnet:
        with trio.fail_after(40):
            async with open_leverj_gateway(config(testnet, market), sink) as gateway:
                for inst in gateway.instruments.values():
                    for kind in (DataKind.BOOK, DataKind.QUOTES, DataKind.TRADES):
                        await gateway.subscribe(kind, inst)
                await sink.wait_for(lambda: any(isinstance(e, BookSnapshot) for e in sink.market))
    assert testnet.faults.injected["429"] >= 2
    retried = [e.detail for e in sink.market if getattr(e, "detail", "").startswith("REST not available")]
    assert all("attempt" in detail for detail in retried)
    assert bool(retried) is (every == 2)
