"""The Magnr gateway against its local testnet: open, liquidate, auto-closes, denials, UNKNOWN creates."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from engine import DataKind, Fill, OrderReport, OrderStatus, OrderType, OutcomeUnknown, Quote, Side, TimeInForce, Trade
from engine import Unsupported, VenueRejected
from venues._testnet.faults import FaultSettings
from venues.magnr.testnet import MagnrTestnetOptions

from .conftest import market, magnr

S = OrderStatus


def _filled(cid: str):  # type: ignore[no-untyped-def]
    return lambda e: isinstance(e, OrderReport) and e.client_order_id == cid and e.status is S.FILLED


async def test_quotes_come_from_the_underlying_ticker() -> None:
    with trio.fail_after(15):
        async with magnr() as (testnet, gateway, sink):
            inst = gateway.instruments["magnr:ItBit-XBTUSD"]
            await gateway.subscribe(DataKind.QUOTES, inst)
            quote = await sink.wait_for(lambda e: isinstance(e, Quote))
            bid, _, ask, _ = testnet.exchange.best_bid_ask("ItBit-XBTUSD")
            assert 0 < quote.bid < quote.ask and quote.bid_size > 0
            assert abs(quote.bid - bid) < 200 and abs(quote.ask - ask) < 200  # the market moves meanwhile
            for other in ("Bitfinex-BTCUSD", "Bitstamp-BTCUSD", "LOCAL-BTCUSD"):
                await gateway.subscribe(DataKind.QUOTES, gateway.instruments[f"magnr:{other}"])
            for other in ("Bitfinex-BTCUSD", "Bitstamp-BTCUSD", "LOCAL-BTCUSD"):
                q = await sink.wait_for(lambda e: isinstance(e, Quote) and e.instrument.symbol == other)
                assert 0 < q.bid < q.ask and q.bid_size == 0  # those tickers carry no sizes
            await gateway.subscribe(DataKind.TRADES, inst)  # ItBit's ticker names its last print
            trade = await sink.wait_for(lambda e: isinstance(e, Trade))
            assert trade.price > 0 and trade.size > 0 and trade.aggressor == 0
            with pytest.raises(Unsupported):
                await gateway.subscribe(DataKind.TRADES, gateway.instruments["magnr:Bitfinex-BTCUSD"])
            with pytest.raises(Unsupported):
                await gateway.subscribe(DataKind.BOOK, inst)


async def test_a_market_order_opens_a_trade_and_reduce_only_liquidates_it() -> None:
    with trio.fail_after(20):
        async with magnr() as (testnet, gateway, sink):
            opening = market(gateway, Side.BUY, "0.5", leverage=Decimal(5))
            report = await gateway.submit_order(opening)
            assert report.status is S.ACCEPTED and report.venue_order_id
            await sink.wait_for(_filled("o1"))
            fill = await sink.wait_for(lambda e: isinstance(e, Fill) and e.client_order_id == "o1")
            assert fill.trade_id == f"{report.venue_order_id}:open" and fill.qty == Decimal("0.5")
            assert fill.fee == Decimal("0.00048") and fill.fee_asset == "BTC"  # 0.48 % of the 0.1 deposit
            trade = testnet.trades[int(report.venue_order_id)]
            assert trade.leverage == 5 and trade.deposit == Decimal("0.1") and fill.price == trade.open_price
            (position,) = await gateway.positions()
            assert position.qty == Decimal("0.5") and position.avg_price == trade.open_price
            closing = market(gateway, Side.SELL, "0.5", cid="o2", reduce_only=True)
            closed = await gateway.submit_order(closing)
            assert closed.venue_order_id == f"{report.venue_order_id}:close"
            final = await sink.wait_for(_filled("o2"))
            close_fill = await sink.wait_for(lambda e: isinstance(e, Fill) and e.client_order_id == "o2")
            assert close_fill.trade_id == f"{report.venue_order_id}:close"
            assert close_fill.side is Side.SELL and close_fill.price == trade.close_price
            assert final.reason == "user" and trade.profit is not None
            assert await gateway.positions() == []
            balance = testnet.exchange.accounts["alice"].balance("BTC")
            assert balance.locked == 0 and balance.total == Decimal(2) + trade.profit
    # every fill reported exactly once
    fills = [e for e in sink.events if isinstance(e, Fill)]
    assert sorted(f.trade_id for f in fills) == sorted({f.trade_id for f in fills}) and len(fills) == 2


@pytest.mark.parametrize("build, words", [
    (lambda g: market(g, Side.BUY, "0.1", type=OrderType.LIMIT, price_raw=100), "limit"),
    (lambda g: market(g, Side.BUY, "0.1", time_in_force=TimeInForce.IOC), "IOC"),
    (lambda g: market(g, Side.BUY, "0.1", post_only=True), "post-only"),
    (lambda g: market(g, Side.BUY, "0.1", leverage=Decimal(3)), "leverage"),
])
async def test_what_magnr_cannot_express_is_denied_before_send(build, words) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(15):
        async with magnr() as (testnet, gateway, sink):
            sent = testnet.requests
            with pytest.raises(Unsupported, match=words):
                await gateway.submit_order(build(gateway))
            assert testnet.requests == sent and not testnet.trades


async def test_partial_close_is_denied_and_nothing_to_close_is_refused() -> None:
    with trio.fail_after(15):
        async with magnr() as (testnet, gateway, sink):
            with pytest.raises(VenueRejected):
                await gateway.submit_order(market(gateway, Side.SELL, "0.1", reduce_only=True))
            await gateway.submit_order(market(gateway, Side.BUY, "0.2"))
            await sink.wait_for(_filled("o1"))
            with pytest.raises(Unsupported, match="whole trades"):
                await gateway.submit_order(market(gateway, Side.SELL, "0.1", cid="o2", reduce_only=True))
            assert all(t.status.value == "open" for t in testnet.trades.values())


async def test_a_stop_close_reaches_the_engine_as_a_venue_fill_with_the_reason() -> None:
    with trio.fail_after(15):
        async with magnr() as (testnet, gateway, sink):
            await gateway.submit_order(market(gateway, Side.BUY, "0.1"))
            await sink.wait_for(_filled("o1"))
            (trade,) = testnet.trades.values()
            trade.stop_margin = Decimal("0.01")  # the next adverse tick stops it
            fill = await sink.wait_for(lambda e: isinstance(e, Fill) and e.strategy_id == "venue")
            assert fill.venue_order_id == f"{trade.id}:stop" and fill.side is Side.SELL
            assert trade.closed_reason is not None and trade.closed_reason.value == "stop"
            assert fill.price == trade.close_price


async def test_insufficient_funds_closes_the_trade() -> None:
    with trio.fail_after(15):
        async with magnr(MagnrTestnetOptions(day_ms=300, daily_rate=Decimal(50))) as (testnet, gateway, sink):
            await gateway.submit_order(market(gateway, Side.SELL, "10", cid="o1", leverage=Decimal(10)))
            await sink.wait_for(_filled("o1"))
            testnet.exchange.accounts["alice"].balance("BTC").total = Decimal("1.0049")  # ~nothing free
            fill = await sink.wait_for(lambda e: isinstance(e, Fill) and e.strategy_id == "venue")
            assert fill.venue_order_id.endswith(":insufficient funds")


async def test_an_unknown_create_is_adopted_by_listing_never_resent() -> None:
    with trio.fail_after(15):
        async with magnr() as (testnet, gateway, sink):
            testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
            order = market(gateway, Side.BUY, "0.3")
            with pytest.raises(OutcomeUnknown):
                await gateway.submit_order(order)
            testnet.faults.configure(FaultSettings())
            found = await gateway.query_order(order)
            assert found is not None and found.venue_order_id in {str(i) for i in testnet.trades}
            assert len(testnet.trades) == 1  # sent once
            await sink.wait_for(_filled("o1"))


async def test_an_unknown_create_the_venue_never_took_is_gone_after_the_grace() -> None:
    with trio.fail_after(15):
        async with magnr(unknown_create_grace_s=0.5) as (testnet, gateway, sink):
            testnet.faults.configure(FaultSettings(force_429_every=1))
            order = market(gateway, Side.BUY, "0.3")
            with pytest.raises(OutcomeUnknown):
                await gateway.submit_order(order)
            testnet.faults.configure(FaultSettings())
            first = await gateway.query_order(order)
            assert first is not None and first.status is S.UNKNOWN
            await trio.sleep(1.1)
            assert await gateway.query_order(order) is None
            assert not testnet.trades
