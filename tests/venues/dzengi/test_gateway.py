"""The Dzengi gateway against the local testnet over loopback (127.0.0.1, port 0).

Market data, every order type, cancel, fetch, open orders, fills by polling, positions, balances;
then each injected fault: latency, dropped WebSocket, 5xx after the order was taken, forced 429,
clock offset; and malformed venue messages (through a proxy transport that corrupts real answers,
and a tiny misbehaving WebSocket server). Every test runs under ``trio.fail_after``.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio_websocket

from venues._testnet.faults import FaultSettings
from engine import (
    AuthFailed,
    BalanceUpdate,
    BookSnapshot,
    ConfigError,
    DataKind,
    Fill,
    Instrument,
    InstrumentKind,
    Liquidity,
    MalformedMessage,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    OutcomeUnknown,
    PositionUpdate,
    Quote,
    RateLimited,
    RiskDenied,
    Rounding,
    Side,
    TimeInForce,
    Trade,
    Unsupported,
    VenueRejected,
    VenueState,
    VenueStatus,
)
from engine import DenyReason
from risk import RateLimitSpec
from venues.dzengi.gateway import DzengiConfig, DzengiGateway
from venues.dzengi.testnet import DzengiTestnet, DzengiTestnetOptions, open_dzengi_testnet

ALICE = ("alice-api-key-0001", "alice-secret-0001")


class RecordingSink:
    """Keeps every event; tests wait for the ones they expect."""

    def __init__(self) -> None:
        self.market: list[Any] = []
        self.execution: list[Any] = []
        self._changed = trio.Event()

    def send_market(self, event: Any) -> None:
        self.market.append(event)
        self._wake()

    def send_execution(self, event: Any) -> None:
        self.execution.append(event)
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def of(self, kind: type, lane: str = "execution") -> list[Any]:
        return [e for e in getattr(self, lane) if isinstance(e, kind)]

    async def wait_for(self, predicate: Callable[[RecordingSink], Any], timeout_s: float = 10.0) -> Any:
        with trio.fail_after(timeout_s):
            while not (found := predicate(self)):
                await self._changed.wait()
            return found


def config_for(testnet: DzengiTestnet, **overrides: Any) -> DzengiConfig:
    values: dict[str, Any] = dict(
        base_url=testnet.url, ws_url=testnet.ws_url, api_key=ALICE[0], secret=ALICE[1], recv_window_ms=1000,
        poll_fast_s=0.2, poll_slow_s=1.0, fast_window_s=3.0, account_poll_s=1.0, reconnect_min_s=0.05,
        reconnect_max_s=0.5, http_timeout_s=5.0,
    )
    values.update(overrides)
    return DzengiConfig(**values)


@asynccontextmanager
async def gateway_on(testnet: DzengiTestnet, **overrides: Any) -> AsyncIterator[tuple[DzengiGateway, RecordingSink]]:
    sink = RecordingSink()
    hooks = {k: overrides.pop(k) for k in ("transport", "ws_stream_wrapper") if k in overrides}
    async with DzengiGateway.open(config_for(testnet, **overrides), sink, **hooks) as gateway:
        yield gateway, sink


@asynccontextmanager
async def rest_side_gateway(config: DzengiConfig, sink: RecordingSink | None = None,
                            **hooks: Any) -> AsyncIterator[DzengiGateway]:
    """A gateway with its REST side only (clock synced, instruments loaded): no stream, no poller,
    no keep-alives, no clock loop — nothing sends a request the test did not make."""
    gateway = DzengiGateway(config, **hooks)
    gateway._sink = sink if sink is not None else RecordingSink()
    await gateway._bootstrap()
    try:
        yield gateway
    finally:
        await gateway.aclose()


def best_bid_ask(testnet: DzengiTestnet, symbol: str) -> tuple[Decimal, Decimal]:
    bid, _, ask, _ = testnet.exchange.best_bid_ask(symbol)
    assert bid is not None and ask is not None
    return bid, ask


def limit(inst: Instrument, cid: str, side: Side, qty: str, price: Decimal, tif: TimeInForce = TimeInForce.GTC,
          **kw: Any) -> Order:
    return Order(cid, inst, side, OrderType.LIMIT, inst.size_raw(Decimal(qty)),
                 price_raw=inst.price_raw(inst.round_price(price, Rounding.DOWN)), time_in_force=tif, **kw)


def market(inst: Instrument, cid: str, side: Side, qty: str, **kw: Any) -> Order:
    return Order(cid, inst, side, OrderType.MARKET, inst.size_raw(Decimal(qty)), **kw)


def alice_orders(testnet: DzengiTestnet, symbol: str | None = None) -> list[Any]:
    account = testnet.accounts["alice"]
    return [o for o in testnet.exchange._orders.values()  # every order the venue ever took from alice
            if o.account == account.name and (symbol is None or o.symbol == symbol)]


# =============================================================================================
# reference and market data
# =============================================================================================


async def test_instruments_with_the_venues_rounding_rules(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            assert set(gw.instruments) == {"dzengi:BTC/USD", "dzengi:ETH/USD", "dzengi:BTC/USD_LEVERAGE",
                                           "dzengi:ETH/USD_LEVERAGE"}
            btc, lev = gw.instrument("BTC/USD"), gw.instrument("BTC/USD_LEVERAGE")
            assert (btc.kind, lev.kind) == (InstrumentKind.SPOT, InstrumentKind.LINEAR)
            assert (btc.tick_size, btc.lot_size, btc.min_notional) == (Decimal("0.01"), Decimal("0.0001"), Decimal(10))
            assert (btc.qty_rounding, btc.price_rounding) == (Rounding.DOWN, Rounding.CEILING)
            assert gw.instruments["dzengi:BTC/USD"] is btc
            # the account snapshot went out on start
            assert {(b.asset, b.free) for b in sink.of(BalanceUpdate)} >= {("USD", 100000), ("BTC", 2)}


async def test_book_snapshot_first_then_stream_updates(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            await gw.subscribe(DataKind.BOOK, inst, depth=5)
            books = sink.of(BookSnapshot, "market")
            assert len(books) == 1  # the REST snapshot, before any stream update
            await sink.wait_for(lambda s: len(s.of(BookSnapshot, "market")) >= 4)
            for book in sink.of(BookSnapshot, "market"):
                assert book.instrument is inst and 0 < len(book.bids) <= 5 and 0 < len(book.asks) <= 5
                assert list(book.bids) == sorted(book.bids, reverse=True) and list(book.asks) == sorted(book.asks)
                assert book.bids[0][0] < book.asks[0][0]
            sequences = [b.sequence for b in sink.of(BookSnapshot, "market")]
            assert sequences == sorted(sequences)


async def test_quotes_trades_and_bars(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            await gw.subscribe(DataKind.QUOTES, inst)
            await gw.subscribe(DataKind.TRADES, inst)
            await gw.subscribe(DataKind.TRADES, inst)  # idempotent
            await gw.subscribe(DataKind.BARS, inst, interval_s=60)
            await sink.wait_for(lambda s: len(s.of(Quote, "market")) >= 3 and len(s.of(Trade, "market")) >= 3)
            quote = sink.of(Quote, "market")[-1]
            assert quote.bid < quote.ask and quote.ts_recv >= quote.ts_event - 10**9
            trade = sink.of(Trade, "market")[-1]
            assert trade.size > 0 and trade.aggressor in (1, -1) and trade.trade_id > 0
            history = await gw.bars(inst, 60, limit=30)
            assert len(history) == 30 and all(b.interval_ns == 60 * 10**9 for b in history)
            assert [b.ts_event for b in history] == sorted(b.ts_event for b in history)
            prints = await gw.recent_trades(inst, limit=5)
            assert 0 < len(prints) <= 5 and all(t.instrument is inst for t in prints)
            with pytest.raises(Unsupported, match="7 s"):
                await gw.subscribe(DataKind.BARS, inst, interval_s=7)
            assert gw.statistics().stream.malformed == 0


def test_a_bar_is_emitted_once_the_next_one_starts() -> None:
    gw = DzengiGateway(DzengiConfig(base_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9/connect"))
    inst = Instrument(venue="dzengi", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.0001")
    gw._by_symbol = {"BTC/USD": inst}
    gw._bar_interval_ns = {"BTC/USD": {60 * 10**9}}
    sink = RecordingSink.__new__(RecordingSink)
    sink.market, sink.execution = [], []
    sink._wake = lambda: None  # type: ignore[method-assign]
    gw._sink = sink

    def bar(t: int, c: str, interval: str = "1m") -> dict[str, Any]:
        return {"symbol": "BTC/USD", "interval": interval, "t": t, "o": "1", "h": "3", "l": "1", "c": c}

    gw._on_ohlc(bar(60_000, "2"), 1)
    gw._on_ohlc(bar(60_000, "2.5"), 2)  # the bar in progress changes: nothing final yet
    gw._on_ohlc(bar(60_000, "9", interval="5m"), 3)  # an interval nobody asked for
    assert sink.market == []
    gw._on_ohlc(bar(120_000, "3"), 4)
    (closed,) = sink.market
    assert (closed.ts_event, closed.close, closed.ts_recv) == (60_000 * 10**6, Decimal("2.5"), 4)


# =============================================================================================
# orders
# =============================================================================================


async def test_limit_order_accept_fetch_list_cancel(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, _ = best_bid_ask(dzengi_testnet, "BTC/USD")
            order = limit(inst, "L-1", Side.BUY, "0.01", bid * Decimal("0.9"))
            report = await gw.submit_order(order)
            assert (report.status, report.client_order_id, report.filled_qty) == (OrderStatus.ACCEPTED, "L-1", Decimal(0))
            (venue_order,) = alice_orders(dzengi_testnet)
            assert report.venue_order_id == venue_order.order_id
            assert venue_order.price == order.price and venue_order.qty == Decimal("0.01")
            order.venue_order_id = report.venue_order_id
            fetched = await gw.query_order(order)
            assert fetched is not None and fetched.status is OrderStatus.ACCEPTED
            listed = await gw.open_orders(inst)
            assert [(r.client_order_id, r.venue_order_id) for r in listed] == [("L-1", report.venue_order_id)]
            canceled = await gw.cancel_order(order)
            assert canceled.status is OrderStatus.CANCELED and canceled.client_order_id == "L-1"
            fetched = await gw.query_order(order)
            assert fetched is not None and fetched.status is OrderStatus.CANCELED
            assert await gw.open_orders() == []
            gone = Order("L-x", inst, Side.BUY, OrderType.LIMIT, 100, price_raw=100)
            gone.venue_order_id = "no-such-order"
            assert await gw.query_order(gone) is None


async def test_order_quantity_and_price_go_out_with_the_venue_rounding(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            fine = attrs.evolve(inst, tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"), price_precision=4,
                                qty_precision=6)
            bid, _ = best_bid_ask(dzengi_testnet, "BTC/USD")
            price = (bid * Decimal("0.9")).quantize(Decimal("0.01")) + Decimal("0.0025")
            order = Order("R-1", fine, Side.BUY, OrderType.LIMIT, fine.size_raw(Decimal("0.012399")),
                          price_raw=fine.price_raw(price))
            await gw.submit_order(order)
            (venue_order,) = alice_orders(dzengi_testnet)
            assert venue_order.qty == Decimal("0.0123")  # down to the lot
            assert venue_order.price == price - Decimal("0.0025") + Decimal("0.01")  # up to the tick
            with pytest.raises(Unsupported, match="rounds to 0"):
                await gw.submit_order(Order("R-2", fine, Side.BUY, OrderType.LIMIT, fine.size_raw(Decimal("0.00005")),
                                            price_raw=fine.price_raw(price)))


async def test_ioc_and_fok_that_cannot_fill_end_at_once(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, _ = best_bid_ask(dzengi_testnet, "BTC/USD")
            for tif in (TimeInForce.IOC, TimeInForce.FOK):
                report = await gw.submit_order(limit(inst, f"T-{tif.value}", Side.BUY, "0.01", bid * Decimal("0.9"),
                                                     tif))
                assert report.status in (OrderStatus.EXPIRED, OrderStatus.CANCELED) and report.filled_qty == 0
            assert await gw.open_orders(inst) == []


async def test_market_order_fills_once_and_balances_follow(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            report = await gw.submit_order(market(inst, "M-1", Side.BUY, "0.05"))
            assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.05")
            assert report.fills and sum(f.qty for f in report.fills) == Decimal("0.05")
            assert all(f.client_order_id == "M-1" and f.liquidity is Liquidity.TAKER for f in report.fills)
            assert report.avg_price is not None and report.avg_price > 0
            await sink.wait_for(lambda s: any(b.asset == "BTC" and b.free == Decimal("2.05")
                                              for b in s.of(BalanceUpdate)))
            await gw.poll_once()
            await gw.poll_once()
            assert sink.of(Fill) == []  # the answer's fills carried the venue trade ids: never twice
            trades = await gw.my_trades(inst)
            assert {t.trade_id for t in trades} == {f.trade_id for f in report.fills}
            assert all(t.client_order_id == "M-1" for t in trades)


async def test_resting_order_filled_later_comes_from_polling(dzengi_quiet_testnet: DzengiTestnet) -> None:
    testnet = dzengi_quiet_testnet
    with trio.fail_after(30):
        async with gateway_on(testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, ask = best_bid_ask(testnet, "BTC/USD")
            price = ask - inst.tick_size
            assert price > bid
            order = limit(inst, "P-1", Side.SELL, "0.02", price)
            report = await gw.submit_order(order)
            assert report.status is OrderStatus.ACCEPTED
            bob = testnet.accounts["bob"]
            testnet.exchange.submit_order(bob, "BTC/USD", Side.BUY, OrderType.MARKET, Decimal("0.02"))
            fill = (await sink.wait_for(lambda s: s.of(Fill)))[0]
            assert (fill.client_order_id, fill.venue_order_id, fill.side, fill.qty, fill.price, fill.liquidity) == (
                "P-1", report.venue_order_id, Side.SELL, Decimal("0.02"), price, Liquidity.MAKER)
            done = await sink.wait_for(lambda s: [r for r in s.of(OrderReport) if r.status is OrderStatus.FILLED])
            assert done[0].client_order_id == "P-1" and done[0].filled_qty == Decimal("0.02")
            await sink.wait_for(lambda s: any(b.asset == "BTC" and b.free == Decimal("1.98")
                                              for b in s.of(BalanceUpdate)))
            await gw.poll_once()
            assert len(sink.of(Fill)) == 1  # de-duplicated by trade id across polls


async def test_leverage_orders_positions_and_stops(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            lev = gw.instrument("BTC/USD_LEVERAGE")
            _, ask = best_bid_ask(dzengi_testnet, "BTC/USD_LEVERAGE")
            order = market(lev, "X-1", Side.BUY, "0.1", leverage=Decimal(5),
                           take_profit=ask * Decimal("1.2"), stop_loss=ask * Decimal("0.8"))
            report = await gw.submit_order(order)
            assert report.status is OrderStatus.FILLED and report.filled_qty == Decimal("0.1")
            (venue_order,) = alice_orders(dzengi_testnet, "BTC/USD_LEVERAGE")
            assert venue_order.leverage == 5 and venue_order.take_profit == lev.round_price(ask * Decimal("1.2"))
            (position,) = await gw.positions()
            assert position.instrument is lev and position.qty == Decimal("0.1") and position.leverage == 5
            fills = await sink.wait_for(lambda s: s.of(Fill))  # leverage answers carry no fills: polled
            assert sum(f.qty for f in fills) == Decimal("0.1") and fills[0].client_order_id == "X-1"
            await sink.wait_for(lambda s: s.of(PositionUpdate))
            stop = Order("S-1", lev, Side.BUY, OrderType.STOP_MARKET, lev.size_raw(Decimal("0.1")),
                         trigger_raw=lev.price_raw(lev.round_price(ask * Decimal("1.5"))))
            stop_report = await gw.submit_order(stop)
            assert stop_report.status is OrderStatus.ACCEPTED
            stop.venue_order_id = stop_report.venue_order_id
            sent = gw.statistics().requests_sent
            with pytest.raises(Unsupported, match="LIMIT orders only"):
                await gw.cancel_order(stop)
            spot = gw.instrument("BTC/USD")
            with pytest.raises(Unsupported, match="leverage symbols only"):
                await gw.submit_order(Order("S-2", spot, Side.BUY, OrderType.STOP_MARKET, 100, trigger_raw=10**9))
            with pytest.raises(Unsupported, match="stop_limit"):
                await gw.submit_order(Order("S-3", lev, Side.BUY, OrderType.STOP_LIMIT, 100, price_raw=1,
                                            trigger_raw=1))
            with pytest.raises(Unsupported, match="leverage symbol"):
                await gw.submit_order(market(spot, "S-4", Side.BUY, "0.01", leverage=Decimal(2)))
            assert gw.statistics().requests_sent == sent  # refused before anything was sent
            with pytest.raises(VenueRejected) as info:  # the venue's own leverage list
                await gw.submit_order(market(lev, "X-2", Side.BUY, "0.1", leverage=Decimal(3)))
            assert info.value.code == -1128


async def test_balances_carry_the_per_asset_account_ids(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            balances = {b.asset: b for b in await gw.balances()}
            alice = dzengi_testnet.accounts["alice"]
            assert balances["USD"].account == str(dzengi_testnet.asset_account_id(alice, "USD"))
            assert balances["ETH"].free == 10 and balances["ETH"].locked == 0


async def test_wrong_credentials_end_the_start_instead_of_retrying(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30), pytest.raises(BaseExceptionGroup) as info:
        async with gateway_on(dzengi_testnet, secret="not-alices-secret"):
            pass  # pragma: no cover - never reached
    assert info.group_contains(AuthFailed, match="-1022")


async def test_market_data_only_without_credentials(dzengi_testnet: DzengiTestnet) -> None:
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet, api_key="", secret="") as (gw, sink):
            inst = gw.instrument("ETH/USD")
            await gw.subscribe(DataKind.QUOTES, inst)
            await sink.wait_for(lambda s: s.of(Quote, "market"))
            assert sink.execution == [] and gw.statistics().polls == 0


# =============================================================================================
# faults
# =============================================================================================


async def test_latency_fault(dzengi_testnet: DzengiTestnet) -> None:
    dzengi_testnet.faults.configure(FaultSettings(latency_ms=40))
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            await gw.subscribe(DataKind.QUOTES, inst)
            bid, _ = best_bid_ask(dzengi_testnet, "BTC/USD")
            order = limit(inst, "D-1", Side.BUY, "0.01", bid * Decimal("0.9"))
            report = await gw.submit_order(order)
            order.venue_order_id = report.venue_order_id
            assert (await gw.query_order(order)) is not None
            await sink.wait_for(lambda s: s.of(Quote, "market"))
    assert dzengi_testnet.faults.injected["latency"] > 0


async def test_dropped_websocket_reconnects_and_resubscribes(dzengi_testnet: DzengiTestnet) -> None:
    dzengi_testnet.faults.configure(FaultSettings(ws_drop_every_n_messages=15))
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            await gw.subscribe(DataKind.QUOTES, inst)
            await gw.subscribe(DataKind.BOOK, inst, depth=3)
            await sink.wait_for(lambda s: gw.statistics().stream.connects >= 3)
            seen = len(sink.of(Quote, "market"))
            await sink.wait_for(lambda s: len(s.of(Quote, "market")) > seen + 2)  # resubscribed: data flows again
            states = [e.state for e in sink.of(VenueStatus, "market")]
            assert VenueState.DISCONNECTED in states and states.count(VenueState.CONNECTED) >= 3
            assert gw.statistics().stream.subscriptions == ("depthMarketData.subscribe", "marketData.subscribe")
    assert dzengi_testnet.faults.injected["ws_drop"] >= 2


async def test_5xx_after_the_venue_took_the_order_is_unknown_then_found(dzengi_testnet: DzengiTestnet) -> None:
    testnet = dzengi_testnet
    with trio.fail_after(40):
        async with gateway_on(testnet) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, _ = best_bid_ask(testnet, "BTC/USD")
            testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
            resting = limit(inst, "U-1", Side.BUY, "0.01", bid * Decimal("0.9"))
            with pytest.raises(OutcomeUnknown, match="HTTP 500"):
                await gw.submit_order(resting)
            taker = market(inst, "U-2", Side.BUY, "0.03")
            with pytest.raises(OutcomeUnknown):
                await gw.submit_order(taker)
            testnet.faults.configure(FaultSettings())
            assert gw.statistics().unresolved_orders == 2
            # reconciliation by query, never by resending
            found = await gw.query_order(resting)
            assert found is not None and found.status is OrderStatus.ACCEPTED
            assert found.client_order_id == "U-1"
            filled = await gw.query_order(taker)
            assert filled is not None and filled.status is OrderStatus.FILLED and filled.filled_qty == Decimal("0.03")
            orders = alice_orders(testnet)
            assert len(orders) == 2  # each sent exactly once
            assert {found.venue_order_id, filled.venue_order_id} == {o.order_id for o in orders}
            # the taker's fills were held back until it was identified, then released under its id
            fills = await sink.wait_for(lambda s: s.of(Fill))
            await gw.poll_once()
            fills = sink.of(Fill)
            assert sum(f.qty for f in fills) == Decimal("0.03") and {f.client_order_id for f in fills} == {"U-2"}
            assert len({f.trade_id for f in fills}) == len(fills)
            assert gw.statistics().unresolved_orders == 0


async def test_an_order_that_never_reached_the_venue_queries_as_none(dzengi_testnet: DzengiTestnet) -> None:
    testnet = dzengi_testnet
    with trio.fail_after(40):
        async with gateway_on(testnet, max_rate_wait_s=0.0) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, _ = best_bid_ask(testnet, "BTC/USD")
            testnet.faults.configure(FaultSettings(force_429_every=1))
            order = limit(inst, "Q-1", Side.BUY, "0.01", bid * Decimal("0.9"))
            with pytest.raises(OutcomeUnknown, match="429") as info:
                await gw.submit_order(order)
            assert isinstance(info.value.__cause__, RateLimited)
            # backing off: the next order is refused locally, nothing sent (no 418 ban provoked)
            with pytest.raises(RiskDenied) as denied:
                await gw.submit_order(limit(inst, "Q-2", Side.BUY, "0.01", bid * Decimal("0.9")))
            assert denied.value.reason is DenyReason.RATE_LIMITED
            testnet.faults.configure(FaultSettings())
            gw._rest.limiter.max_wait_s = 5.0  # from now on requests wait for the pause to end
            assert await gw.query_order(order) is None
            assert alice_orders(testnet) == []
            assert await gw.balances()  # not banned


async def test_forced_429s_are_backed_off_without_a_ban(dzengi_testnet: DzengiTestnet) -> None:
    testnet = dzengi_testnet
    with trio.fail_after(40):
        # the REST side alone (no poller, no keep-alives, no clock loop): every request the testnet
        # counts is one of the calls below, so which of them meet the forced 429s is fixed
        async with rest_side_gateway(config_for(testnet, max_rate_wait_s=2.0)) as gw:
            testnet.faults.configure(FaultSettings(force_429_every=3))
            outcomes: list[str] = []
            waits: list[float] = []
            for _ in range(12):
                started = trio.current_time()
                try:
                    await gw.balances()
                    outcomes.append("ok")
                except RateLimited as e:
                    assert e.retry_after_s == 1.0  # the venue's Retry-After
                    outcomes.append("429")
                waits.append(trio.current_time() - started)
            assert outcomes == ["ok", "ok", "429"] * 4
            # each call after a 429 waited out the venue's hint before anything was sent again
            assert all(waits[i + 1] >= 1.0 for i, outcome in enumerate(outcomes[:-1]) if outcome == "429")
            assert gw._rest.limiter.statistics().rate_limited == 4
            testnet.faults.configure(FaultSettings())
            assert await gw.balances()  # never escalated to a 418 ban
            assert testnet._bans._bans == {}


async def test_published_rate_limits_replace_the_documented_ones(dzengi_accounts_file: Path) -> None:
    options = DzengiTestnetOptions(request_weight_per_minute=600, orders_per_second=20, orders_per_day=5000)
    with trio.fail_after(20):
        async with open_dzengi_testnet(dzengi_accounts_file, market=False, options=options) as testnet:
            async with rest_side_gateway(config_for(testnet, orders_per_s=8)) as gw:
                specs = {(s.scope, s.limit, s.interval_s) for s in gw._rest.limiter.specs()}
    # the venue's 600 per minute; our own budget of 8 orders per second below the venue's 20
    assert specs == {("REQUEST_WEIGHT", 600, 60.0), ("ORDERS", 8, 1.0), ("ORDERS", 5000, 86_400.0)}


@pytest.mark.parametrize("offset_ms", [45_000, -45_000])
async def test_server_clock_offset_does_not_cause_1021(dzengi_testnet: DzengiTestnet, offset_ms: int) -> None:
    dzengi_testnet.faults.configure(FaultSettings(clock_offset_ms=offset_ms))
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet) as (gw, sink):
            assert abs(gw.statistics().server_offset_ms - offset_ms) < 1000
            inst = gw.instrument("ETH/USD")
            report = await gw.submit_order(market(inst, "C-1", Side.BUY, "0.1"))
            assert report.status is OrderStatus.FILLED
            assert await gw.balances() and await gw.open_orders() == []


async def test_a_venue_clock_step_after_start_is_resynced_on_1021(dzengi_quiet_testnet: DzengiTestnet) -> None:
    testnet = dzengi_quiet_testnet
    with trio.fail_after(30):
        async with gateway_on(testnet) as (gw, sink):
            assert abs(gw.statistics().server_offset_ms) < 1000
            testnet.faults.configure(FaultSettings(clock_offset_ms=-120_000))  # the venue's clock steps back
            assert await gw.balances()  # refused (-1021), resynced from new samples only, signed again
            assert abs(gw.statistics().server_offset_ms + 120_000) < 1000
            inst = gw.instrument("ETH/USD")
            assert (await gw.submit_order(market(inst, "S-1", Side.BUY, "0.1"))).status is OrderStatus.FILLED


# =============================================================================================
# malformed messages from the venue
# =============================================================================================


class CorruptingTransport(httpx.AsyncBaseTransport):
    """Forwards to the real testnet and lets a test rewrite chosen answers."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rewrite: dict[tuple[str, str], Callable[[bytes], bytes]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        change = self.rewrite.get((request.method, request.url.path.rsplit("/", 1)[-1]))
        if change is not None:
            body = change(body)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length",
                                                                                     "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


def json_edit(edit: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    def change(body: bytes) -> bytes:
        return json.dumps(edit(json.loads(body, parse_float=str))).encode()
    return change


async def test_garbled_order_answer_is_unknown_and_the_order_is_not_lost(dzengi_testnet: DzengiTestnet) -> None:
    transport = CorruptingTransport()
    transport.rewrite[("POST", "order")] = lambda body: b'{"symbol": "BTC/USD", "orderId": '  # cut short
    with trio.fail_after(40):
        async with gateway_on(dzengi_testnet, transport=transport) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, _ = best_bid_ask(dzengi_testnet, "BTC/USD")
            order = limit(inst, "G-1", Side.BUY, "0.01", bid * Decimal("0.9"))
            with pytest.raises(OutcomeUnknown, match="unreadable") as info:
                await gw.submit_order(order)
            assert isinstance(info.value.__cause__, MalformedMessage)
            del transport.rewrite[("POST", "order")]
            found = await gw.query_order(order)
            (venue_order,) = alice_orders(dzengi_testnet)
            assert found is not None and found.venue_order_id == venue_order.order_id
            assert found.status is OrderStatus.ACCEPTED


async def test_unknown_status_in_an_order_answer_keeps_the_venue_id(dzengi_testnet: DzengiTestnet) -> None:
    transport = CorruptingTransport()
    transport.rewrite[("POST", "order")] = json_edit(lambda o: dict(o, status="SUSPENDED"))
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet, transport=transport) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, _ = best_bid_ask(dzengi_testnet, "BTC/USD")
            order = limit(inst, "G-2", Side.BUY, "0.01", bid * Decimal("0.9"))
            with pytest.raises(OutcomeUnknown):
                await gw.submit_order(order)
            stats = gw.statistics()
            assert stats.malformed == 1 and "unknown order status 'SUSPENDED'" in stats.last_malformed
            assert stats.unresolved_orders == 0  # the answer named the order: no matching needed
            found = await gw.query_order(order)
            assert found is not None and found.status is OrderStatus.ACCEPTED


async def test_answer_fills_without_trade_ids_are_not_counted_twice(dzengi_testnet: DzengiTestnet) -> None:
    transport = CorruptingTransport()
    transport.rewrite[("POST", "order")] = json_edit(
        lambda o: dict(o, fills=[{k: v for k, v in f.items() if k != "tradeId"} for f in o.get("fills", [])]))
    with trio.fail_after(30):
        async with gateway_on(dzengi_testnet, transport=transport) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            report = await gw.submit_order(market(inst, "F-1", Side.BUY, "0.2"))
            assert report.fills and all(f.trade_id.startswith(report.venue_order_id + "#") for f in report.fills)
            assert sum(f.qty for f in report.fills) == Decimal("0.2")
            rows = await gw.my_trades(inst)
            assert sum(r.qty for r in rows) == Decimal("0.2")  # the venue's own ids for the same executions
            await gw.poll_once()
            await gw.poll_once()
            assert sink.of(Fill) == []  # discounted against the quantity the answer already reported


async def test_bad_rows_in_polls_are_reported_and_nothing_is_lost(dzengi_quiet_testnet: DzengiTestnet) -> None:
    testnet = dzengi_quiet_testnet
    transport = CorruptingTransport()
    with trio.fail_after(40):
        async with gateway_on(testnet, transport=transport, poll_fast_s=30.0, poll_slow_s=30.0,
                              account_poll_s=30.0) as (gw, sink):
            inst = gw.instrument("BTC/USD")
            bid, ask = best_bid_ask(testnet, "BTC/USD")
            resting = limit(inst, "B-1", Side.BUY, "0.01", bid * Decimal("0.9"))
            await gw.submit_order(resting)
            seller = limit(inst, "B-2", Side.SELL, "0.03", ask - inst.tick_size)
            await gw.submit_order(seller)
            bob = testnet.accounts["bob"]
            testnet.exchange.submit_order(bob, "BTC/USD", Side.BUY, OrderType.MARKET, Decimal("0.01"))
            testnet.exchange.submit_order(bob, "BTC/USD", Side.BUY, OrderType.MARKET, Decimal("0.01"))
            transport.rewrite[("GET", "openOrders")] = json_edit(
                lambda rows: [dict(r, status="SUSPENDED") for r in rows])
            transport.rewrite[("GET", "myTrades")] = json_edit(
                lambda rows: [{k: v for k, v in r.items() if k != "price"} if i == 0 else r
                              for i, r in enumerate(rows)])
            await gw.poll_once(account=False)
            stats = gw.statistics()
            assert stats.malformed >= 3 and gw._open  # reported; no order taken for gone
            assert not [r for r in sink.of(OrderReport) if r.status.is_terminal]
            assert len(sink.of(Fill)) == 1  # the good row went out, the bad one was skipped
            transport.rewrite.clear()
            await gw.poll_once(account=False)
            assert {o.client_order_id for o in await gw.open_orders(inst)} == {"B-1", "B-2"}
            assert stats.malformed == gw.statistics().malformed


async def test_malformed_websocket_frames_are_reported_and_skipped(dzengi_testnet: DzengiTestnet) -> None:
    frames = [
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"status": "OK", "destination": "internal.quote", "payload": {"symbolName": "BTC/USD"}}),
        json.dumps({"status": "OK", "destination": "internal.quote",
                    "payload": {"symbolName": "NOPE/USD", "bid": 1, "bidQty": 1, "ofr": 2, "ofrQty": 1,
                                "timestamp": 1}}),
        json.dumps({"status": "OK", "destination": "internal.quote",
                    "payload": {"symbolName": "BTC/USD", "bid": "1", "bidQty": "1", "ofr": "2", "ofrQty": "1",
                                "timestamp": "whenever"}}),
        json.dumps({"status": "INTERNAL_ERROR", "destination": "internal.quote", "payload": {}}),
        json.dumps({"status": "OK", "destination": "some.new.event", "payload": {}}),
        json.dumps({"status": "OK", "destination": "internal.quote",
                    "payload": {"symbolName": "BTC/USD", "bid": "30000.01", "bidQty": "1", "ofr": "30000.02",
                                "ofrQty": "2", "timestamp": 1700000000000}}),
    ]

    async def misbehave(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        while True:
            message = json.loads(await ws.get_message())
            await ws.send_message(json.dumps({"status": "OK", "destination": message["destination"],
                                              "correlationId": message["correlationId"],
                                              "payload": {"subscriptions": {"BTC/USD": "PROCESSED"}}}))
            if message["destination"] == "marketData.subscribe":
                for frame in frames:
                    await ws.send_message(frame)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(trio_websocket.serve_websocket, misbehave, "127.0.0.1", 0,
                                                           ssl_context=None))
            ws_url = f"ws://127.0.0.1:{server.port}/connect"
            async with gateway_on(dzengi_testnet, ws_url=ws_url) as (gw, sink):
                await gw.subscribe(DataKind.QUOTES, gw.instrument("BTC/USD"))
                (quote,) = await sink.wait_for(lambda s: s.of(Quote, "market"))
                assert quote.bid == Decimal("30000.01")
                stream = gw.statistics().stream
                assert (stream.malformed, stream.unhandled) == (6, 1)
                assert stream.connected and stream.connects == 1  # no crash, no reconnect
                assert "whenever" in gw.statistics().last_malformed or stream.malformed == 6
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("direct", [True, False])
async def test_stream_requests_pushes_and_both_dispatch_paths(dzengi_testnet: DzengiTestnet, direct: bool) -> None:
    from venues.dzengi.stream import DzengiStream, WsRequestFailed

    pushed: list[tuple[Any, int]] = []
    states: list[VenueState] = []
    stream = DzengiStream(dzengi_testnet.ws_url, direct_dispatch=direct, on_state=lambda s, d: states.append(s))
    stream.handlers["internal.quote"] = lambda payload, ts: pushed.append((payload, ts))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(stream.run)
            assert await stream.request("ping", {}) == {}
            ack = await stream.subscribe("marketData.subscribe", {"symbols": ["BTC/USD"]})
            assert ack == {"subscriptions": {"BTC/USD": "PROCESSED"}}
            while len(pushed) < 3:
                await trio.sleep(0.01)
            payload, ts = pushed[-1]
            assert payload["symbolName"] == "BTC/USD" and ts > 0
            with pytest.raises(WsRequestFailed) as info:
                await stream.request("/api/v1/nothingHere", {})
            assert info.value.status == "NOT_FOUND"
            stats = stream.statistics()
            assert stats.connected and stats.subscriptions == ("marketData.subscribe",) and stats.malformed == 0
            nursery.cancel_scope.cancel()
    assert states == [VenueState.CONNECTED]


# =============================================================================================
# fills of orders we cannot name yet (a scripted venue, deterministic)
# =============================================================================================

DATA = Path(__file__).parent / "data"


class ScriptedVenue:
    """Answers the gateway's REST calls from lists the test fills in; ``during_post`` runs mid-order."""

    def __init__(self) -> None:
        self.trades: list[dict[str, Any]] = []
        self.open: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.answer: httpx.Response = httpx.Response(500)
        self.during_post: Callable[[], Any] | None = None
        self.paths: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        self.paths.append(f"{request.method} {name}")
        now = int(time.time() * 1000)
        if name == "time":
            return httpx.Response(200, json={"serverTime": now})
        if name == "exchangeInfo":
            return httpx.Response(200, content=(DATA / "exchange_info.json").read_bytes())
        if name == "myTrades":
            return httpx.Response(200, json=self.trades)
        if name == "openOrders":
            return httpx.Response(200, json=self.open)
        if name == "fetchOrder":
            order_id = dict(httpx.QueryParams(request.url.query))["orderId"]
            if order_id in self.orders:
                return httpx.Response(200, json=self.orders[order_id])
            return httpx.Response(400, json={"code": -2013, "msg": "Order does not exist."})
        if name == "order" and request.method == "POST":
            if self.during_post is not None:
                await self.during_post()
            return self.answer
        if name == "account":
            return httpx.Response(200, json={"balances": []})
        if name == "tradingPositions":
            return httpx.Response(200, json={"positions": []})
        return httpx.Response(404, json={"code": -1000, "msg": "not scripted"})


@asynccontextmanager
async def scripted_gateway(**overrides: Any) -> AsyncIterator[tuple[DzengiGateway, ScriptedVenue, RecordingSink]]:
    venue = ScriptedVenue()
    values: dict[str, Any] = dict(base_url="http://venue.test", ws_url="ws://venue.test/connect", api_key=ALICE[0],
                                  secret=ALICE[1], track_symbols=("BTC/USD",), recv_window_ms=400)
    values.update(overrides)
    sink = RecordingSink()
    async with rest_side_gateway(DzengiConfig(**values), sink, transport=httpx.MockTransport(venue.handle)) as gateway:
        yield gateway, venue, sink


def trade_row(order_id: str, trade_id: int, qty: str = "0.01", price: str = "30000.00") -> dict[str, Any]:
    return {"symbol": "BTC/USD", "id": trade_id, "orderId": order_id, "price": price, "qty": qty,
            "commission": "0.6", "commissionAsset": "USD", "time": int(time.time() * 1000), "isBuyer": True,
            "isMaker": False}


def result_answer(order_id: str, status: str = "FILLED", executed: str = "0.01", **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"symbol": "BTC/USD", "orderId": order_id, "transactTime": int(time.time() * 1000),
                                     "price": "30000.00", "origQty": "0.01", "executedQty": executed,
                                     "status": status, "timeInForce": "GTC", "type": "MARKET", "side": "BUY",
                                     **extra})


@pytest.mark.parametrize("answer_fills", [False, True])
async def test_a_fill_polled_while_its_order_is_in_flight_waits_for_the_answer(answer_fills: bool) -> None:
    with trio.fail_after(10):
        async with scripted_gateway() as (gw, venue, sink):
            inst = gw.instrument("BTC/USD")
            venue.trades = [trade_row("V-1", 5)]
            venue.during_post = functools.partial(gw.poll_once, account=False)
            fills = [{"price": "30000.00", "qty": "0.01", "commission": "0.6", "commissionAsset": "USD",
                      "tradeId": 5}] if answer_fills else []
            venue.answer = result_answer("V-1", fills=fills)
            report = await gw.submit_order(market(inst, "c-1", Side.BUY, "0.01"))
            assert "GET myTrades" in venue.paths  # the poll did run while the order was in flight
            if answer_fills:
                assert [f.trade_id for f in report.fills] == ["5"] and sink.of(Fill) == []
            else:
                (fill,) = sink.of(Fill)  # held back, then released under our id, once
                assert (fill.client_order_id, fill.trade_id) == ("c-1", "5")
            await gw.poll_once(account=False)
            assert len(sink.of(Fill)) == (0 if answer_fills else 1)


async def test_a_fill_of_an_unresolved_order_waits_until_query_finds_the_order() -> None:
    with trio.fail_after(10):
        async with scripted_gateway() as (gw, venue, sink):
            inst = gw.instrument("BTC/USD")
            venue.answer = httpx.Response(502, text="Bad Gateway")
            order = market(inst, "c-2", Side.BUY, "0.01")
            with pytest.raises(OutcomeUnknown):
                await gw.submit_order(order)
            # the venue did take it, and it filled
            venue.trades = [trade_row("V-2", 6), trade_row("V-9", 7)]
            venue.orders["V-2"] = {"orderId": "V-2", "symbol": "BTC/USD", "quantity": "0.01", "price": "0",
                                   "timestamp": int(time.time() * 1000), "status": "FILLED", "type": "MARKET",
                                   "side": "BUY", "execQuantity": "0.01", "execPrice": "30000.00"}
            venue.orders["V-9"] = dict(venue.orders["V-2"], orderId="V-9", quantity="5")  # not ours: other qty
            await gw.poll_once(account=False)
            assert sink.of(Fill) == []  # whose are they? not known yet: held back
            report = await gw.query_order(order)
            assert report is not None and (report.venue_order_id, report.status) == ("V-2", OrderStatus.FILLED)
            assert [(f.client_order_id, f.trade_id) for f in sink.of(Fill)] == [("c-2", "6"), ("", "7")]
            await gw.poll_once(account=False)
            assert len(sink.of(Fill)) == 2


async def test_query_of_an_order_that_left_no_trace_is_none_and_releases_held_fills() -> None:
    with trio.fail_after(10):
        async with scripted_gateway() as (gw, venue, sink):
            inst = gw.instrument("BTC/USD")
            order = limit(inst, "c-3", Side.BUY, "0.01", Decimal("100"))
            with pytest.raises(OutcomeUnknown):
                await gw.submit_order(order)
            venue.trades = [trade_row("V-3", 8)]
            venue.orders["V-3"] = {"orderId": "V-3", "symbol": "BTC/USD", "quantity": "0.01", "price": "30000.00",
                                   "timestamp": int(time.time() * 1000), "status": "FILLED", "type": "LIMIT",
                                   "side": "BUY"}  # a different price: not the order we sent
            await gw.poll_once(account=False)
            assert sink.of(Fill) == []
            assert await gw.query_order(order) is None
            assert [(f.client_order_id, f.venue_order_id) for f in sink.of(Fill)] == [("", "V-3")]
            assert gw.statistics().unresolved_orders == 0
            assert [p for p in venue.paths if p.startswith("POST")] == ["POST order"]  # never resent


# =============================================================================================
# adaptive polling and configuration
# =============================================================================================


async def test_poll_interval_adapts_to_activity_and_budget(autojump_clock: trio.testing.MockClock) -> None:
    gw = DzengiGateway(DzengiConfig(base_url="http://127.0.0.1:9", ws_url="ws://127.0.0.1:9/connect",
                                    poll_fast_s=0.5, poll_slow_s=8.0, fast_window_s=10.0))
    assert gw.poll_interval_s() == 8.0  # idle
    gw._touch("BTC/USD")
    assert gw.poll_interval_s() == 0.5  # something just happened
    await trio.sleep(11)
    assert gw.poll_interval_s() == 8.0
    gw._open["o-1"] = object()  # type: ignore[assignment]
    assert gw.poll_interval_s() == 0.5  # an open order
    limiter = gw._rest.limiter
    limiter.add_spec(RateLimitSpec("REQUEST_WEIGHT", 1000, 60.0))  # a burst of 1000 * 0.95 * 0.1 = 95
    assert limiter.try_acquire({"REQUEST_WEIGHT": 50})
    assert gw.poll_interval_s() == 1.0  # less than half the burst left
    assert limiter.try_acquire({"REQUEST_WEIGHT": 25})
    assert gw.poll_interval_s() == 2.0  # less than a quarter left
    limiter.on_rate_limited(3.0)
    assert gw.poll_interval_s() == 2.0  # paused after a 429
    await trio.sleep(3.0 + 60.0)
    assert gw.poll_interval_s() == 0.5  # refilled


def test_config_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dzengi.toml"
    path.write_text('base_url = "http://127.0.0.1:8000"\nws_url = "ws://127.0.0.1:8000/connect"\n'
                    'api_version = "v2"\nrecv_window_ms = 3000\napi_key_env = "DZ_KEY"\nsecret_env = "DZ_SECRET"\n'
                    'track_symbols = ["BTC/USD"]\n')
    monkeypatch.setenv("DZ_KEY", "key-from-env")
    monkeypatch.setenv("DZ_SECRET", "secret-from-env")
    config = DzengiConfig.from_toml(path)
    assert (config.api_version, config.recv_window_ms, config.track_symbols) == ("v2", 3000, ("BTC/USD",))
    credentials = config.credentials()
    assert credentials is not None and credentials.api_key == "key-from-env"
    assert "secret-from-env" not in repr(credentials)
    shown = repr(DzengiConfig(api_key="k-123", secret="s-456"))
    assert "k-123" not in shown and "s-456" not in shown


@pytest.mark.parametrize(("text", "problem"), [
    ("recv_window_ms = 60001\n", "recv_window_ms"),
    ("recv_windw_ms = 100\n", "did you mean"),
    ('api_version = "v3"\n', "api_version"),
    ('ws_url = "http://127.0.0.1/connect"\n', "ws_url"),
    ("poll_fast_s = 0\n", "poll_fast_s"),
])
def test_config_errors_name_the_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "dzengi.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        DzengiConfig.from_toml(path)


def test_config_needs_both_key_and_secret() -> None:
    assert DzengiConfig().credentials() is None
    with pytest.raises(ConfigError, match="both"):
        DzengiConfig(api_key="only-a-key").credentials()


def test_uniform_venue_interface() -> None:
    import venues.dzengi as package

    class Creds:
        api_key, secret = "key-1", "secret-1"

    gateway = package.make_gateway({"base_url": "http://127.0.0.1:9", "ws_url": "ws://127.0.0.1:9/connect",
                                    "api_version": "v2"}, Creds())
    assert isinstance(gateway, DzengiGateway) and gateway.venue == "dzengi"
    assert gateway.config.credentials() is not None and gateway.config.api_version == "v2"
    assert not gateway.capabilities.private_stream and gateway.capabilities.leverage
    with pytest.raises(ConfigError, match=r"run.toml: venues\[0\].options.poll_fast: unknown key, did you mean"):
        package.make_gateway({"poll_fast": 1}, None, source="run.toml", key="venues[0].options")
    assert {"DzengiConfig", "DzengiGateway", "make_gateway", "add_testnet_arguments", "run_testnet"} <= set(
        package.__all__)
