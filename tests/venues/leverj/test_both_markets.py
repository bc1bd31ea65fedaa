"""One strategy trades Leverj's spot and futures markets at once: a cash-and-carry hedge (long
ETHDAI spot, short the ETHUSD perpetual) run through ``run_live`` against one local testnet serving
both markets, compared with the testnet's ledger afterwards."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from engine import OrderStatus
from engine._live_app import run_live
from engine._runconfig import LiveConfig, RunSettings, StrategyConfig, VenueEntry
from venues._testnet.market import MarketSettings
from venues.leverj import LeverjGateway
from venues.leverj.testnet import open_leverj_testnet

from .conftest import ACCOUNTS
from .test_gateway import config

D = Decimal


def carry() -> StrategyConfig:
    # the synthetic markets start ETH at one mid and walk apart: a basis of −50 bps or more opens the hedge
    return StrategyConfig("strategies.basis:CashAndCarry", "carry",
                          {"spot": "leverj-spot:ETHDAI", "perpetual": "leverj-futures:ETHUSD", "qty": "0.5",
                           "entry_bps": "-50", "exit_bps": "-1000", "leverage": "5"})


async def test_one_strategy_trades_spot_and_futures_at_once(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with open_leverj_testnet(ACCOUNTS, market=MarketSettings(seed=3, step_interval_s=0.1)) as testnet:
            gateways = {g.venue: g for g in (LeverjGateway(config(testnet, "spot")),
                                             LeverjGateway(config(testnet, "futures")))}
            assert set(gateways) == {"leverj-spot", "leverj-futures"}
            live = LiveConfig(venues=[VenueEntry("leverj", {"market": m}) for m in ("spot", "futures")],
                              strategies=[carry()], name="carry", currency="DAI",
                              run=RunSettings(status_interval_s=0, shutdown_grace_s=5, cancel_on_exit=False,
                                              journal=tmp_path / "journal.sqlite"))
            runner = await run_live(live, "live", gateways=gateways, duration_s=6)
    engine = runner.engine
    assert not engine.failures and not engine.alarms
    filled = {o.instrument.key: o for o in engine.orders.values() if o.status is OrderStatus.FILLED}
    assert set(filled) == {"leverj-spot:ETHDAI", "leverj-futures:ETHUSD"}
    spot, perp = (filled[k].instrument for k in ("leverj-spot:ETHDAI", "leverj-futures:ETHUSD"))
    assert engine.portfolio.position(spot).qty == D("0.5") and engine.portfolio.position(perp).qty == D("-0.5")
    # the venue's ledger agrees: the spot leg in ETH, the perpetual short, every fill once
    alice = testnet.accounts["alice"]
    assert alice.balance("ETH").total == D(1000) + D("0.5")
    assert [(p.symbol, p.qty) for p in testnet.exchange.positions(alice)] == [("ETHUSD", D("-0.5"))]
    assert sorted(str(f.trade_id) for f in testnet.exchange.my_fills(alice)) == sorted(f.trade_id for f in engine.fills)
    for asset in ("ETH", "DAI"):
        assert engine.portfolio.balance(asset) == alice.balance(asset).total, asset
