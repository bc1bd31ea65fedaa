"""Leverj futures funding and liquidation, the whole path: testnet → socket.io / REST → gateway →
live runner → engine portfolio, compared with the testnet's own ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import trio

from backtest.exchange import AccountConfig, Exchange
from engine import FundingPayment, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce
from engine._live import LiveRunner, LiveSettings, live_engine
from venues.leverj import LeverjGateway
from venues.leverj.testnet import LeverjTestnet, LeverjTestnetOptions, open_leverj_testnet

from .conftest import ACCOUNTS
from .test_gateway import Sink, config

D = Decimal
BTC = "BTCUSD"


def house(exchange: Exchange, name: str) -> Any:
    return exchange.add_account(AccountConfig(name=name, api_key=f"{name}-key", secret="-", balances={}), house=True)


async def wait_until(predicate: Any, what: str) -> None:
    with trio.fail_after(10):
        while not predicate():
            await trio.sleep(0.01)


def venue_dai(testnet: LeverjTestnet) -> Decimal:
    return testnet.accounts["alice"].balance("DAI").total


async def test_funding_is_paid_at_the_window_and_booked_once_then_a_liquidation_closes_the_position() -> None:
    options = LeverjTestnetOptions(funding_rate=D("0.0001"), funding_interval_s=3600)
    async with open_leverj_testnet(ACCOUNTS, market=False, options=options) as testnet:
        ex = testnet.exchange
        mm, taker = house(ex, "mm"), house(ex, "taker")
        ex.submit_order(mm, BTC, Side.SELL, OrderType.LIMIT, D("0.01"), price=D(30000), leverage=10)
        gateway = LeverjGateway(config(testnet, "futures"))
        engine = live_engine()
        updates: list[OrderUpdate] = []
        engine.order_listeners.append(updates.append)
        booked: list[FundingPayment] = []
        engine.funding_listeners.append(booked.append)
        runner = LiveRunner(engine, {gateway.venue: gateway},
                            LiveSettings(reconcile_interval_s=0.2, status_interval_s=0, shutdown_grace_s=2,
                                         cancel_on_exit=False))
        shutdown = trio.Event()
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(runner.run, shutdown)
                inst = gateway.instrument(BTC)
                start_dai = engine.portfolio.balance("DAI")
                assert start_dai == venue_dai(testnet) == D(10_000_000)
                buy = engine.submit_order("probe", inst, Side.BUY, D("0.01"), type=OrderType.LIMIT, price=D(30000),
                                         leverage=D(50))
                await wait_until(lambda: buy.status is OrderStatus.FILLED, "the buy filled")
                position = ex.positions(testnet.accounts["alice"])[0]
                assert position.qty == D("0.01") and position.margin == D(6)  # 300 DAI of notional at 50×
                resting = engine.submit_order("probe", inst, Side.BUY, D("0.01"), type=OrderType.LIMIT,
                                             price=D(20000), leverage=D(50))
                await wait_until(lambda: resting.status is OrderStatus.ACCEPTED, "the bid rested")

                # funding: the index is the book's mid (29990 / 30010 → 30000); 0.01 % of it per BTC
                ex.submit_order(mm, BTC, Side.BUY, OrderType.LIMIT, D(1), price=D(29990), leverage=10)
                ex.submit_order(mm, BTC, Side.SELL, OrderType.LIMIT, D(1), price=D(30010), leverage=10)
                before = venue_dai(testnet)
                (record,) = testnet.settle_funding()
                assert record["rate"] == str(3 * 10**18) and record["amount"] == str(-3 * 10**16)
                assert testnet.settle_funding() == []  # once per window
                assert venue_dai(testnet) == before - D("0.03")
                await wait_until(lambda: booked, "the funding event reached the engine")
                (payment,) = booked
                assert (payment.amount, payment.asset, payment.position_qty, payment.price) == \
                    (D("-0.03"), "DAI", D("0.01"), D(30000))
                assert engine.portfolio.funding_by_asset == {"DAI": D("-0.03")}
                # a reconnect reads /account/funding again: the engine books the payment once
                replayed = await gateway.funding_payments()
                assert [p.payment_id for p in replayed] == [payment.payment_id]
                assert not engine.on_funding(replayed[0])

                # liquidation: a print at 29500 leaves 6 − 5 = 1 DAI of margin, below half of 6
                ex.cancel_order(mm, ex.open_orders(mm, BTC)[0].order_id)
                ex.submit_order(mm, BTC, Side.BUY, OrderType.LIMIT, D(1), price=D(29500), leverage=10)
                ex.submit_order(taker, BTC, Side.SELL, OrderType.MARKET, D("0.001"), leverage=10,
                                time_in_force=TimeInForce.IOC)
                assert ex.positions(testnet.accounts["alice"]) == []
                await wait_until(lambda: engine.portfolio.position(inst).qty == 0, "the venue's close was booked")
                await wait_until(lambda: resting.status is OrderStatus.CANCELED, "the working bid was canceled")
                shutdown.set()
    kinds = [a.kind for a in engine.alarms]
    assert kinds.count("liquidation") == 1 and "unknown_fill" not in kinds
    venue_closes = [u for u in updates if u.order.strategy_id == "venue"]
    assert venue_closes and venue_closes[-1].status is OrderStatus.FILLED
    # the books agree with the venue's: every fill, the funding, to the wei
    alice = testnet.accounts["alice"]
    venue_fills = ex.my_fills(alice)
    assert len(venue_fills) == 2 and sorted(f.trade_id for f in venue_fills) == \
        sorted(int(f.trade_id) for f in engine.fills)
    assert engine.portfolio.balance("DAI") == venue_dai(testnet)
    fees = sum((f.fee for f in venue_fills), D(0))
    pnl = sum((f.realized_pnl for f in venue_fills), D(0))
    assert venue_dai(testnet) == D(10_000_000) - fees + pnl - D("0.03")


async def test_the_testnet_settles_funding_on_its_clock_and_serves_the_rate() -> None:
    sink = Sink()
    options = LeverjTestnetOptions(funding_rate=D("0.0002"), funding_interval_s=1)
    async with open_leverj_testnet(ACCOUNTS, market=False, options=options) as testnet:
        ex = testnet.exchange
        mm = house(ex, "mm")
        bob = testnet.accounts["bob"]
        ex.submit_order(mm, BTC, Side.BUY, OrderType.LIMIT, D(1), price=D(40000), leverage=10)
        ex.submit_order(mm, BTC, Side.SELL, OrderType.LIMIT, D(1), price=D(40002), leverage=10)
        ex.submit_order(bob, BTC, Side.SELL, OrderType.MARKET, D("0.0003"), leverage=10,
                        time_in_force=TimeInForce.IOC)  # bob is short 0.0003: he receives
        with trio.fail_after(15):
            async with LeverjGateway.open(config(testnet, "futures"), sink) as gateway:
                info = await gateway._rest.request("GET", "/all/info")
                rate = info["1"]["fundingRate"]
                assert rate["rate"] == str(8 * 10**18 + 2 * 10**14) and rate["end"] - rate["start"] == 1000
                await wait_until(lambda: testnet.funding.get("bob"), "a window ended")
    (first, *_) = testnet.funding["bob"]
    # 0.0003 × 8.0002 DAI = 0.00240006 DAI, received (a receipt rounds down to the wei: exact here)
    assert first["amount"] == str(240006 * 10**10) and first["size"] == "-0.0003"
    fees = sum((f.fee for f in testnet.exchange.my_fills(bob)), D(0))
    received = sum((D(r["amount"]) for r in testnet.funding["bob"]), D(0)) / 10**18
    assert received > 0 and bob.balance("DAI").total == D(10_000_000) - fees + received
    assert "alice" not in testnet.funding  # no position, no payment


def test_funding_rounds_against_the_account_and_liquidation_is_opt_in() -> None:
    from venues.leverj.testnet import default_instruments

    ex = Exchange(default_instruments(), [AccountConfig(n, f"k{n}", "-", {"DAI": D(1000)}) for n in "abc"],
                  clock_ms=lambda: 1)
    a, b, c = (ex.accounts[n] for n in "abc")
    ex.submit_order(c, BTC, Side.SELL, OrderType.LIMIT, D("0.001"), price=D(30000), leverage=50)
    ex.submit_order(a, BTC, Side.BUY, OrderType.LIMIT, D("0.001"), price=D(30000), leverage=50)
    quantum = D("1e-18")
    before = a.balance("DAI").total, c.balance("DAI").total
    paid = ex.pay_funding(BTC, D("1.5e-16"), quantum)  # 0.15 wei owed by the long, due to the short
    assert [(p.account, p.amount) for p in paid] == [("a", -quantum)]  # a payment rounds up, a receipt down
    assert (a.balance("DAI").total, c.balance("DAI").total) == (before[0] - quantum, before[1])
    # a print at 29000: a's 0.6 DAI of margin is gone (−1 DAI); without liquidation (the default) it stays open
    ex.submit_order(c, BTC, Side.BUY, OrderType.LIMIT, D("0.001"), price=D(29000), leverage=50)
    ex.submit_order(b, BTC, Side.SELL, OrderType.LIMIT, D("0.001"), price=D(29000), leverage=50)
    assert [p.qty for p in ex.positions(a)] == [D("0.001")]
    ex.liquidation = True
    ex.submit_order(a, BTC, Side.SELL, OrderType.LIMIT, D("0.001"), price=D(35000), leverage=50)  # a working order
    ex.submit_order(c, BTC, Side.BUY, OrderType.LIMIT, D("0.0015"), price=D(29000), leverage=50)
    ex.submit_order(b, BTC, Side.SELL, OrderType.LIMIT, D("0.0005"), price=D(29000), leverage=50)
    assert ex.positions(a) == [] and ex.open_orders(a) == []
    closes = [e for e in ex.position_history(a) if e.status == "CLOSED"]
    assert [(e.source, e.price, e.qty) for e in closes] == [("LIQUIDATION", D(29000), D("-0.001"))]


async def test_a_restart_with_state_keeps_signed_orders_and_funding(tmp_path: Any) -> None:
    from .test_gateway import order

    state = tmp_path / "leverj-state.json"
    sink = Sink()
    with trio.fail_after(30):
        async with open_leverj_testnet(ACCOUNTS, market=False, state=state) as testnet:
            ex = testnet.exchange
            mm = house(ex, "mm")
            ex.submit_order(mm, BTC, Side.SELL, OrderType.LIMIT, D("0.01"), price=D(30000), leverage=10)
            ex.submit_order(mm, BTC, Side.BUY, OrderType.LIMIT, D(1), price=D(29000), leverage=10)
            async with LeverjGateway.open(config(testnet, "futures"), sink) as gateway:
                await gateway.submit_order(order(gateway, BTC, Side.BUY, "0.01", "30000", 1, leverage=D(10)))
                resting = await gateway.submit_order(order(gateway, BTC, Side.BUY, "0.02", "29500", 2,
                                                           leverage=D(10)))
                ex.submit_order(mm, BTC, Side.SELL, OrderType.LIMIT, D(1), price=D(31000), leverage=10)
                (paid,) = testnet.settle_funding()
        async with open_leverj_testnet(ACCOUNTS, market=False, state=state) as again:
            assert again.funding == {"alice": [paid]} and again.next_funding_id == int(paid["fundingId"]) + 1
            assert again.settle_funding() == []  # the window was settled before the restart
            mm = house(again.exchange, "mm")
            async with LeverjGateway.open(config(again, "futures"), sink) as gateway:
                (listed,) = await gateway.open_orders()
                assert listed.venue_order_id == resting.venue_order_id and listed.client_order_id == "tt-2"
                assert [p.payment_id for p in await gateway.funding_payments()] == [paid["fundingId"]]
                sink.execution.clear()
                again.exchange.submit_order(mm, BTC, Side.SELL, OrderType.MARKET, D("0.02"), leverage=10,
                                            time_in_force=TimeInForce.IOC)
                await sink.wait_for(lambda: any(getattr(e, "venue_order_id", "") == resting.venue_order_id
                                                and hasattr(e, "trade_id") for e in sink.execution))
