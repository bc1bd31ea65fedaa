"""``run``, ``paper``, ``record`` and the demo's path with Magnr, over loopback against its testnet."""

from __future__ import annotations

import secrets
from pathlib import Path

import trio

from backtest.data import open_dataset
from engine import OrderStatus
from engine._live_app import record, run_live
from engine._runconfig import LiveConfig, RunSettings, StrategyConfig, VenueEntry
from venues import venue_module

SYMBOL = "magnr:ItBit-XBTUSD"


def sma() -> StrategyConfig:
    return StrategyConfig("strategies.sma_cross:SmaCross", "sma",
                          {"instrument": SYMBOL, "fast": 2, "slow": 3, "qty": "0.01", "interval_s": 1})


async def test_run_trades_magnr_through_the_engine_like_the_demo() -> None:
    module = venue_module("magnr")
    key, secret = secrets.token_hex(16), secrets.token_hex(32)
    with trio.fail_after(60):
        async with module.open_local_testnet(key, secret, seed=7) as options:
            from engine import Credentials

            gateway = module.make_gateway(options, Credentials(key, secret), source="demo")
            assert f"magnr:{module.DEMO_SYMBOL}" in gateway.instruments
            config = LiveConfig(venues=[VenueEntry("magnr", dict(options))], strategies=[sma()], name="magnr-live",
                                run=RunSettings(status_interval_s=0, shutdown_grace_s=5))
            runner = await run_live(config, "live", gateways={"magnr": gateway}, duration_s=9)
    engine = runner.engine
    filled = [o for o in engine.orders.values() if o.status is OrderStatus.FILLED]
    assert filled, "the strategy should have traded"
    assert not engine.failures and not [a for a in engine.alarms if a.kind != "liquidation"]
    assert all(o.status in (OrderStatus.FILLED, OrderStatus.DENIED) for o in engine.orders.values())


async def test_paper_needs_no_keys() -> None:
    module = venue_module("magnr")
    with trio.fail_after(60):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=4) as options:
            config = LiveConfig(venues=[VenueEntry("magnr", dict(options))], strategies=[sma()],
                                run=RunSettings(status_interval_s=0))
            runner = await run_live(config, "paper", duration_s=7)
    assert runner.engine.fills and all(f.trade_id.startswith("sim-") for f in runner.engine.fills)


async def test_record_quotes_and_bars(tmp_path: Path) -> None:
    module = venue_module("magnr")
    with trio.fail_after(60):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=5) as options:
            config = LiveConfig(venues=[VenueEntry("magnr", dict(options))],
                                record={"instruments": [SYMBOL], "kinds": ["quotes", "bars"], "interval_s": 1})
            rows = await record(config, tmp_path / "rec", duration_s=4)
    assert all(n > 0 for n in rows.values()) and len(rows) == 2
    assert {s.kind for s in open_dataset(tmp_path / "rec").streams} == {"quotes", "bars"}
