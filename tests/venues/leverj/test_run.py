"""``paper`` and ``record`` on both Leverj markets at once, over loopback against one testnet
(``run`` on both: ``test_both_markets.py``; the demo: ``tests/test_cli.py``)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from backtest.data import open_dataset
from engine._live_app import record, run_live
from engine._runconfig import LiveConfig, PaperSettings, RunSettings, VenueEntry
from venues._testnet.market import MarketSettings
from venues.leverj.testnet import open_leverj_testnet

from .conftest import ACCOUNTS
from .test_both_markets import carry


def venues(url: str) -> list[VenueEntry]:
    return [VenueEntry("leverj", {"base_url": url, "market": m}) for m in ("spot", "futures")]


async def test_paper_trades_both_markets_without_keys() -> None:
    with trio.fail_after(60):
        async with open_leverj_testnet(ACCOUNTS, market=MarketSettings(seed=5, step_interval_s=0.1)) as testnet:
            config = LiveConfig(venues=venues(testnet.url), strategies=[carry()], currency="DAI",
                                run=RunSettings(status_interval_s=0),
                                paper=PaperSettings(balances={"DAI": Decimal(100_000), "ETH": Decimal(0)}))
            runner = await run_live(config, "paper", duration_s=6)
            assert not [f for f in testnet.exchange.my_fills(testnet.accounts["alice"])]  # nothing reached the venue
    fills = runner.engine.fills
    assert {f.instrument.key for f in fills} == {"leverj-spot:ETHDAI", "leverj-futures:ETHUSD"}
    assert all(f.trade_id.startswith("sim-") for f in fills)


async def test_record_both_markets(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with open_leverj_testnet(ACCOUNTS, market=MarketSettings(seed=6, step_interval_s=0.1)) as testnet:
            config = LiveConfig(venues=venues(testnet.url),
                                record={"instruments": ["leverj-spot:ETHDAI", "leverj-futures:BTCUSD"],
                                        "kinds": ["trades", "quotes"]})
            rows = await record(config, tmp_path / "rec", duration_s=4)
    assert len(rows) == 4 and all(n > 0 for n in rows.values()), rows
    streams = open_dataset(tmp_path / "rec").streams
    assert {(s.instrument, s.kind) for s in streams} >= {("leverj-spot:ETHDAI", "trades"),
                                                          ("leverj-futures:BTCUSD", "quotes")}
