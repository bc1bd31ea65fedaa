"""Ekiden gateway behaviour beyond the shared conformance suite, against the local testnet.

Pacing under the venue's real limits (no 429 provoked), book gap repair, bars built from trades,
fills missed during a disconnect recovered by reconciliation, the order mapping, local refusals,
clock resync on *signature expired*, configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from venues._testnet.faults import FaultSettings
from engine import (
    AuthFailed,
    Bar,
    BookDelta,
    BookSnapshot,
    ConfigError,
    DataKind,
    Order,
    OrderStatus,
    OrderType,
    OutcomeUnknown,
    RateLimited,
    Side,
    TimeInForce,
    Trade,
    VenueRejected,
    VenueState,
    VenueStatus,
)
from engine import EventLanes
from engine import OrderReport, Unsupported
from engine import Credentials as KeyPair
from venues.ekiden import EkidenConfig, EkidenGateway, make_gateway
from venues.ekiden.testnet import EkidenTestnet, EkidenTestnetOptions, open_ekiden_testnet

ALICE = ("alice-api-key-0001", "alice-secret-0001")


class Events:
    """Collects what the gateway sends."""

    def __init__(self) -> None:
        self.lanes = EventLanes()
        self.items: list[Any] = []
        self._changed = trio.Event()

    async def run(self) -> None:
        while True:
            self.items.append(await self.lanes.receive())
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, predicate: Any, *, start: int = 0, timeout_s: float = 10.0) -> Any:
        seen = start
        with trio.fail_after(timeout_s):
            while True:
                for item in self.items[seen:]:
                    if predicate(item):
                        return item
                seen = len(self.items)
                await self._changed.wait()


def config_for(testnet: EkidenTestnet, *, keys: tuple[str, str] | None = ALICE, **overrides: Any) -> EkidenConfig:
    options: dict[str, Any] = {"base_url": testnet.url, "ws_url": testnet.ws_url,
                               "public_requests_per_window": 100_000, "private_requests_per_window": 100_000,
                               "reconnect_min_s": 0.05, "reconnect_max_s": 0.5}
    if keys is not None:
        options["api_key"], options["secret"] = keys
    options.update(overrides)
    return EkidenConfig.from_mapping(options)


@asynccontextmanager
async def running(config: EkidenConfig) -> AsyncIterator[tuple[EkidenGateway, Events]]:
    gateway = EkidenGateway(config)
    events = Events()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(events.run)
        await nursery.start(gateway.run, events.lanes)
        try:
            yield gateway, events
        finally:
            nursery.cancel_scope.cancel()


def order(gateway: EkidenGateway, side: Side, type: OrderType, qty: str, *, price: str | None = None,
          client_id: str, **kw: Any) -> Order:
    inst = gateway.instrument("ETH-USD")
    return Order(client_id, inst, side, type, inst.size_raw(Decimal(qty)),
                 price_raw=None if price is None else inst.price_raw(Decimal(price)), **kw)


# =============================================================================================
# pacing
# =============================================================================================


async def test_requests_are_paced_under_the_venues_limits_without_a_single_429(ekiden_accounts_file: Path) -> None:
    limits: dict[str, Any] = {"public_requests_per_window": 20, "private_requests_per_window": 15, "rate_window_s": 1.0}
    options = EkidenTestnetOptions(public_requests_per_window=20, private_requests_per_window=15, rate_window_s=1.0)
    async with open_ekiden_testnet(ekiden_accounts_file, market=False, options=options) as testnet:
        with trio.fail_after(15):
            async with running(config_for(testnet, **limits)) as (gateway, _):
                async with trio.open_nursery() as burst:
                    for _ in range(30):
                        burst.start_soon(gateway.balances)
                    for _ in range(30):
                        burst.start_soon(gateway.recent_trades, gateway.instrument("ETH-USD"))
                stats = gateway.statistics()
    assert testnet.rejected_429 == 0
    assert stats.rate_limited == 0
    assert testnet.requests >= 60


async def test_a_429_pauses_only_its_scope(ekiden_testnet: EkidenTestnet) -> None:
    with trio.fail_after(15):
        async with running(config_for(ekiden_testnet)) as (gateway, _):
            ekiden_testnet.faults.configure(FaultSettings(force_429_every=1))
            with pytest.raises(RateLimited):
                await gateway.balances()
            ekiden_testnet.faults.configure(FaultSettings())
            assert gateway.statistics().rate_limited == 1
            private = gateway._rest.private_limiter  # noqa: SLF001 - the scope the 429 hit
            public = gateway._rest.public_limiter  # noqa: SLF001
            assert private.paused and not public.paused
            assert await gateway.balances()  # waits out the pause, then goes through


# =============================================================================================
# market data
# =============================================================================================


async def test_a_sequence_gap_is_repaired_with_a_fresh_snapshot(ekiden_quiet_testnet: EkidenTestnet) -> None:
    testnet = ekiden_quiet_testnet
    with trio.fail_after(15):
        async with running(config_for(testnet)) as (gateway, events):
            await gateway.subscribe(DataKind.BOOK, gateway.instrument("ETH-USD"), depth=5)
            first = await events.wait_for(lambda e: isinstance(e, BookSnapshot))
            start = len(events.items)
            bogus = ('{"type":"update","channel":"orderbook","market":"ETH-USD","data":{"market":"ETH-USD",'
                     f'"sequence":"{first.sequence + 1000}","timestamp":"2025-05-10T12:34:56Z",'
                     '"bids":[["1.00","1.000"]],"asks":[]}}')
            assert await testnet.inject_frame(bogus) == 1
            status = await events.wait_for(lambda e: isinstance(e, VenueStatus), start=start)
            assert status.state is VenueState.RESYNCING and status.instrument.symbol == "ETH-USD"
            fresh = await events.wait_for(lambda e: isinstance(e, BookSnapshot), start=start)
            testnet.market.step()
            await events.wait_for(lambda e: isinstance(e, BookDelta), start=events.items.index(fresh))
            assert gateway.statistics().book_resyncs == 1
    forwarded = [e for e in events.items if isinstance(e, BookDelta)]
    assert all(d.sequence != first.sequence + 1000 for d in forwarded)  # the gapped update never left
    assert all(p != 100 for d in forwarded for p, _ in d.bids)


async def test_bars_are_built_from_the_trades(ekiden_testnet: EkidenTestnet) -> None:
    with trio.fail_after(15):
        async with running(config_for(ekiden_testnet, bar_grace_s=0.2)) as (gateway, events):
            inst = gateway.instrument("ETH-USD")
            await gateway.subscribe(DataKind.TRADES, inst)
            await gateway.subscribe(DataKind.BARS, inst, interval_s=1)
            first_trade = await events.wait_for(lambda e: isinstance(e, Trade))
            # the first bar may have begun before we subscribed: check the second complete one
            bars: list[Bar] = []
            while len(bars) < 2:
                bar = await events.wait_for(lambda e: isinstance(e, Bar) and e not in bars)
                bars.append(bar)
    bar = bars[1]
    assert bar.ts_event > first_trade.ts_event and bar.interval_ns == 1_000_000_000
    trades = [t for t in events.items if isinstance(t, Trade) and bar.ts_event <= t.ts_event < bar.ts_event + 10**9]
    assert trades
    assert (bar.open_raw, bar.close_raw) == (trades[0].price_raw, trades[-1].price_raw)
    assert bar.high_raw == max(t.price_raw for t in trades) and bar.low_raw == min(t.price_raw for t in trades)
    assert bar.volume_raw == sum(t.size_raw for t in trades)


# =============================================================================================
# orders
# =============================================================================================


async def test_fills_missed_while_disconnected_are_recovered(ekiden_empty_testnet: EkidenTestnet) -> None:
    testnet = ekiden_empty_testnet
    exchange = testnet.exchange
    with trio.fail_after(15):
        async with running(config_for(testnet, reconnect_min_s=0.3)) as (gateway, events):
            resting = order(gateway, Side.BUY, OrderType.LIMIT, "0.500", price="200.00", client_id="r-1")
            assert (await gateway.submit_order(resting)).status is OrderStatus.ACCEPTED
            (session,) = [s for s in testnet.sessions if s.account is not None]
            start = len(events.items)
            await session.ws.close(1011, "dropped")
            # while alice is away, bob takes her order: nothing can be pushed to her
            exchange.submit_order(exchange.accounts["bob"], "ETH-USD", Side.SELL, OrderType.MARKET, Decimal("0.5"),
                                  time_in_force=TimeInForce.IOC)
            report = await events.wait_for(
                lambda e: isinstance(e, OrderReport) and e.client_order_id == "r-1" and e.fills, start=start)
            assert gateway.statistics().reconciliations >= 1
    assert report.status is OrderStatus.FILLED
    assert sum(f.qty for f in report.fills) == Decimal("0.5")
    assert any(isinstance(e, VenueStatus) and e.state is VenueState.DISCONNECTED for e in events.items[start:])


async def test_order_fields_reach_the_venue(ekiden_quiet_testnet: EkidenTestnet) -> None:
    exchange = ekiden_quiet_testnet.exchange
    alice = exchange.accounts["alice"]
    with trio.fail_after(15):
        async with running(config_for(ekiden_quiet_testnet)) as (gateway, _):
            limit = order(gateway, Side.BUY, OrderType.LIMIT, "0.250", price="1500.50", client_id="f-1",
                          post_only=True, leverage=Decimal(5))
            report = await gateway.submit_order(limit)
            booked = exchange.order(alice, report.venue_order_id)
            assert (booked.client_order_id, booked.price, booked.qty, booked.post_only, booked.leverage,
                    booked.time_in_force) == ("f-1", Decimal("1500.50"), Decimal("0.250"), True, 5, TimeInForce.GTC)
            market = order(gateway, Side.SELL, OrderType.MARKET, "0.100", client_id="f-2")  # engine default: GTC
            report = await gateway.submit_order(market)
            booked = exchange.order(alice, report.venue_order_id)
            assert (booked.type, booked.time_in_force, booked.side) == (OrderType.MARKET, TimeInForce.IOC, Side.SELL)
            stop = order(gateway, Side.SELL, OrderType.STOP_LIMIT, "0.100", price="1400.00", client_id="f-3",
                         trigger_raw=140100)
            report = await gateway.submit_order(stop)
            booked = exchange.order(alice, report.venue_order_id)
            assert (booked.trigger_price, booked.price) == (Decimal("1401.00"), Decimal("1400.00"))


async def test_what_ekiden_cannot_express_is_refused_before_sending(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(15):
        async with running(config_for(ekiden_quiet_testnet)) as (gateway, _):
            before = ekiden_quiet_testnet.requests
            with pytest.raises(Unsupported, match="take-profit"):
                await gateway.submit_order(order(gateway, Side.BUY, OrderType.MARKET, "0.1", client_id="u-1",
                                                 take_profit=Decimal(3000)))
            with pytest.raises(Unsupported, match="whole-number leverage"):
                await gateway.submit_order(order(gateway, Side.BUY, OrderType.MARKET, "0.1", client_id="u-2",
                                                 leverage=Decimal("2.5")))
            with pytest.raises(Unsupported, match="no venue id"):
                await gateway.amend_order(order(gateway, Side.BUY, OrderType.LIMIT, "0.1", price="1500",
                                                client_id="u-3"), price=Decimal(1501))
            assert ekiden_quiet_testnet.requests == before


async def test_cancel_after_a_lost_answer_finds_the_order_by_client_id(ekiden_quiet_testnet: EkidenTestnet) -> None:
    testnet = ekiden_quiet_testnet
    with trio.fail_after(15):
        async with running(config_for(testnet)) as (gateway, _):
            testnet.faults.configure(FaultSettings(error_5xx_after_order_every=1))
            lost = order(gateway, Side.BUY, OrderType.LIMIT, "0.1", price="1500.00", client_id="lost-1")
            with pytest.raises(OutcomeUnknown):
                await gateway.submit_order(lost)
            testnet.faults.configure(FaultSettings())
            fresh_gateway_view = Order("lost-1", lost.instrument, Side.BUY, OrderType.LIMIT, lost.qty_raw,
                                       price_raw=lost.price_raw)  # no venue id known
            report = await gateway.cancel_order(fresh_gateway_view)
    assert report.status is OrderStatus.CANCELED and report.client_order_id == "lost-1"


async def test_clock_drift_after_start_is_resynced_on_signature_expired(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(15):
        async with running(config_for(ekiden_quiet_testnet)) as (gateway, _):
            ekiden_quiet_testnet.faults.configure(FaultSettings(clock_offset_ms=120_000))
            assert await gateway.balances()
            assert gateway._rest.clock_resyncs == 1  # noqa: SLF001
            assert abs(gateway.statistics().server_offset_ms - 120_000) < 1_000


# =============================================================================================
# credentials and configuration
# =============================================================================================


async def test_wrong_secret_fails_at_start_with_a_plain_auth_error(ekiden_quiet_testnet: EkidenTestnet) -> None:
    gateway = EkidenGateway(config_for(ekiden_quiet_testnet, keys=(ALICE[0], "wrong")))
    with trio.fail_after(15), pytest.raises(AuthFailed, match="2001"):
        await gateway.run(EventLanes())  # not an exception group: one clear error


async def test_market_data_only_without_keys(ekiden_testnet: EkidenTestnet) -> None:
    with trio.fail_after(15):
        async with running(config_for(ekiden_testnet, keys=None)) as (gateway, events):
            await gateway.subscribe(DataKind.TRADES, gateway.instrument("BTC-USD"))
            await events.wait_for(lambda e: isinstance(e, Trade))
            assert not gateway.statistics().stream.private
            with pytest.raises(AuthFailed, match="no"):
                await gateway.balances()


def test_config_from_toml_and_the_uniform_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ekiden.toml"
    path.write_text('base_url = "http://127.0.0.1:9"\nws_url = "ws://127.0.0.1:9/v1/stream"\n'
                    'api_key_env = "EK_KEY"\nsecret_env = "EK_SECRET"\nmarkets = ["ETH-USD"]\n')
    monkeypatch.setenv("EK_KEY", "k-123")
    monkeypatch.setenv("EK_SECRET", "s-456")
    config = EkidenConfig.from_toml(path)
    creds = config.credentials()
    assert creds is not None and (creds.api_key, creds.secret) == ("k-123", "s-456")
    assert "s-456" not in repr(config) and "s-456" not in repr(creds)
    assert config.markets == ("ETH-USD",)
    path.write_text('base_url = "http://127.0.0.1:9"\nrecv_window_ms = 5000\n')
    with pytest.raises(ConfigError, match="recv_window_ms"):
        EkidenConfig.from_toml(path)
    with pytest.raises(ConfigError, match="must start with"):
        EkidenConfig.from_mapping({"base_url": "ftp://x"})
    with pytest.raises(ConfigError, match="both an API key and a secret"):
        EkidenConfig(api_key="only-a-key").credentials()
    gateway = make_gateway({"base_url": "http://127.0.0.1:9"}, KeyPair("key-from-file", "secret-from-file"),
                           source="run.toml", key="venues[0].options")
    assert isinstance(gateway, EkidenGateway) and gateway.config.api_key == "key-from-file"
    with pytest.raises(ConfigError, match=r"run.toml: venues\[0\].options.colour"):
        make_gateway({"colour": "red"}, None, source="run.toml", key="venues[0].options")


async def test_unknown_configured_market_is_a_config_error(ekiden_quiet_testnet: EkidenTestnet) -> None:
    gateway = EkidenGateway(config_for(ekiden_quiet_testnet, markets=["ETH-USD", "XRP-USD"]))
    with trio.fail_after(15), pytest.raises(ConfigError, match="XRP-USD"):
        await gateway.run(EventLanes())


async def test_orders_are_tracked_only_until_settled(ekiden_quiet_testnet: EkidenTestnet) -> None:
    with trio.fail_after(15):
        async with running(config_for(ekiden_quiet_testnet)) as (gateway, events):
            with pytest.raises(VenueRejected):  # post-only that would take: refused, nothing to track
                await gateway.submit_order(order(gateway, Side.BUY, OrderType.LIMIT, "0.1", price="2500.00",
                                                 client_id="t-1", post_only=True))
            assert gateway.statistics().tracked_orders == 0
            filled = order(gateway, Side.BUY, OrderType.MARKET, "0.1", client_id="t-2")
            await gateway.submit_order(filled)
            await events.wait_for(lambda e: isinstance(e, OrderReport) and e.client_order_id == "t-2" and e.fills)
            resting = order(gateway, Side.BUY, OrderType.LIMIT, "0.1", price="1000.00", client_id="t-3")
            await gateway.submit_order(resting)
            assert gateway.statistics().tracked_orders == 1  # the filled one is settled, the resting one not
