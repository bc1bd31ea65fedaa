"""The whole path with Magnr: engine → live runner → gateway → testnet, UNKNOWN creates and venue closes."""

from __future__ import annotations

from decimal import Decimal

import trio

from engine import OrderStatus, OrderUpdate, Side
from engine._live import LiveRunner, LiveSettings, live_engine
from venues._testnet.faults import FaultSettings
from venues.magnr import MagnrConfig, MagnrGateway, local_options
from venues.magnr.testnet import open_magnr_testnet

from .conftest import ACCOUNTS, KEY, SECRET

S = OrderStatus


async def test_unknown_create_reconciled_without_resend_then_a_stop_is_booked_as_a_venue_close() -> None:
    with trio.fail_after(20):
        async with open_magnr_testnet(ACCOUNTS, seed=2, faults=FaultSettings(error_5xx_after_order_every=1)) as testnet:
            gateway = MagnrGateway(MagnrConfig.from_mapping({
                **local_options(testnet.url), "api_key": KEY, "secret": SECRET, "tonce_file": "-",
                "poll_fast_s": 0.05, "poll_slow_s": 0.1, "account_poll_s": 0.2}))
            engine = live_engine()
            seen: list[tuple[str, OrderStatus, str]] = []

            def note(update: OrderUpdate) -> None:
                seen.append((update.order.strategy_id, update.status, update.reason))

            engine.order_listeners.append(note)
            runner = LiveRunner(engine, {"magnr": gateway}, LiveSettings(reconcile_interval_s=0.1,
                                                                          status_interval_s=0, shutdown_grace_s=2))
            shutdown = trio.Event()
            async with trio.open_nursery() as nursery:
                await nursery.start(runner.run, shutdown)
                inst = gateway.instruments["magnr:Bitfinex-BTCUSD"]
                order = engine.submit_order("probe", inst, Side.BUY, Decimal("0.2"), leverage=Decimal(2))
                while order.status is not S.FILLED:
                    await trio.sleep(0.02)
                testnet.faults.configure(FaultSettings())
                assert ("probe", S.UNKNOWN, seen[[s for _, s, _ in seen].index(S.UNKNOWN)][2]) in seen
                (trade,) = testnet.trades.values()  # sent once, never resent
                assert order.venue_order_id == str(trade.id) and trade.leverage == 2
                assert engine.portfolio.position(inst).qty == Decimal("0.2")
                trade.stop_margin = Decimal("0.01")  # the venue stops it at the next print
                while engine.portfolio.position(inst).qty != 0:
                    await trio.sleep(0.02)
                shutdown.set()
    venue_updates = [(status, reason) for strategy, status, reason in seen if strategy == "venue"]
    assert venue_updates and all(f"{trade.id}:stop" in reason for _, reason in venue_updates[:2])
    assert [a.kind for a in engine.alarms].count("liquidation") == 1
    assert "unknown_fill" not in [a.kind for a in engine.alarms]
