"""run / paper / record against a local testnet over loopback, as the CLI runs them."""

from __future__ import annotations

import os
import secrets
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest
import trio

from backtest.data import open_dataset
from backtest.runner import BacktestSettings, run_backtest
from engine import ConfigError, OrderStatus
from engine._live_app import record, run_live
from engine._runconfig import LiveConfig, RunSettings, StrategyConfig, VenueEntry, load_live_config, resolve_strategies
from venues import venue_module

VENUES = ["dzengi", "ekiden"]


def flow(instrument: str) -> StrategyConfig:
    return StrategyConfig("strategies.trade_flow:TradeFlow", "flow",
                          {"instrument": instrument, "qty": "0.01", "threshold": "0.02", "half_life_trades": 5.0,
                           "min_hold_trades": 5})


@pytest.mark.parametrize("venue", VENUES)
async def test_run_trades_live_and_journals_every_order(venue: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    module = venue_module(venue)
    key, secret = secrets.token_hex(8), secrets.token_hex(16)
    monkeypatch.setenv("TT_KEY", key)
    monkeypatch.setenv("TT_SECRET", secret)
    with trio.fail_after(60):
        async with module.open_local_testnet(key, secret, seed=3) as options:
            opts = "\n".join(f'{k} = {v!r}' if not isinstance(v, str) else f'{k} = "{v}"' for k, v in options.items())
            cfg = tmp_path / "live.toml"
            cfg.write_text(f"""
[[venues]]
venue = "{venue}"
[venues.options]
{opts}
[venues.credentials]
api_key_env = "TT_KEY"
secret_env = "TT_SECRET"

[[strategies]]
id = "flow"
class = "strategies.trade_flow:TradeFlow"
[strategies.params]
instrument = "{venue}:{module.DEMO_SYMBOL}"
qty = "0.01"
threshold = "0.02"
half_life_trades = 5.0
min_hold_trades = 5

[run]
status_interval_s = 0
journal = "journal.sqlite"
""")
            config = load_live_config(cfg)
            runner = await run_live(config, "live", duration_s=8)
    engine = runner.engine
    assert engine.orders, "the strategy should have traded"
    assert not engine.failures and not engine.alarms
    assert all(o.status in (OrderStatus.FILLED, OrderStatus.CANCELED) for o in engine.orders.values())
    rows = sqlite3.connect(tmp_path / "journal.sqlite").execute("SELECT client_order_id, status FROM orders").fetchall()
    assert {r[0] for r in rows} == set(engine.orders)
    assert secret not in (tmp_path / "journal.sqlite").read_bytes().decode("latin-1")


async def test_paper_needs_no_keys_and_fills_locally(tmp_path: Path) -> None:
    module = venue_module("dzengi")
    with trio.fail_after(60):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=4) as options:
            config = LiveConfig(venues=[VenueEntry("dzengi", dict(options))], strategies=[flow("dzengi:BTC/USD")],
                                run=RunSettings(status_interval_s=0))
            runner = await run_live(config, "paper", duration_s=6)
    engine = runner.engine
    assert engine.fills, "paper fills come from the local simulated venue"
    assert all(f.trade_id.startswith("sim-") for f in engine.fills)
    assert engine.portfolio.balance("USD") != D(100_000)


async def test_record_then_replay_in_a_backtest(tmp_path: Path) -> None:
    module = venue_module("dzengi")
    out = tmp_path / "rec"
    with trio.fail_after(60):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=5) as options:
            config = LiveConfig(venues=[VenueEntry("dzengi", dict(options))],
                                record={"instruments": ["dzengi:BTC/USD"], "kinds": ["trades", "book", "quotes"]})
            rows = await record(config, out, duration_s=4)
    assert all(n > 0 for n in rows.values()) and len(rows) == 3
    ds = open_dataset(out)
    kinds = {s.kind for s in ds.streams}
    assert kinds == {"trades", "book", "quotes"}
    specs = resolve_strategies([flow("dzengi:BTC/USD")], "<test>")
    result = run_backtest(ds, specs, BacktestSettings(show_progress=False))
    assert result.stats.events_processed == sum(s.rows for s in ds.streams if s.kind == "trades")


def test_credentials_in_options_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[venues]]\nvenue = "dzengi"\n[venues.options]\napi_key = "abc"\n'
                   '[[strategies]]\nclass = "strategies.sma_cross:SmaCross"\n[strategies.params]\ninstrument = "x"\n')
    from engine._live_app import build_gateways

    with pytest.raises(ConfigError, match="credentials do not belong in a config file") as err:
        build_gateways(load_live_config(cfg), with_credentials=False)
    assert "abc" not in str(err.value)


def test_run_without_credentials_is_a_config_error(tmp_path: Path) -> None:
    from engine._live_app import build_gateways

    config = LiveConfig(venues=[VenueEntry("dzengi", {})])
    with pytest.raises(ConfigError, match=r"needs \[venues.credentials\]"):
        build_gateways(config, with_credentials=True)
    os.environ.pop("NOPE_KEY", None)


async def test_a_recording_drives_the_local_testnet_market(tmp_path: Path) -> None:
    """`triotrade testnet dzengi --market-data PATH`: the recorded prices drive the testnet's market."""
    from venues.dzengi.testnet import open_dzengi_testnet

    module = venue_module("dzengi")
    out = tmp_path / "rec"
    with trio.fail_after(60):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=6) as options:
            config = LiveConfig(venues=[VenueEntry("dzengi", dict(options))],
                                record={"instruments": ["dzengi:BTC/USD"], "kinds": ["trades"]})
            await record(config, out, duration_s=3)
        recorded = open_dataset(out)
        prices = [recorded.instruments["dzengi:BTC/USD"].price_of(int(p))
                  for p in recorded.select("trades", "dzengi:BTC/USD")["price"][:5]]
        from backtest.exchange import AccountConfig

        account = AccountConfig(name="a", api_key="k" * 16, secret="s" * 32, balances={"USD": D(1000)})
        async with open_dzengi_testnet([account], market_data=out, run_market=False) as testnet:
            seen = [testnet.market.mids["BTC"]]
            for _ in range(4):
                testnet.market.step()
                seen.append(testnet.market.mids["BTC"])
    assert seen == prices


async def test_one_strategy_class_on_two_venues_at_once() -> None:
    dz, ek = venue_module("dzengi"), venue_module("ekiden")
    key, secret = "k" * 16, "s" * 32
    from engine import Credentials

    with trio.fail_after(60):
        async with dz.open_local_testnet(key, secret, seed=8) as dz_opts, \
                ek.open_local_testnet(key, secret, seed=9) as ek_opts:
            creds = Credentials(key, secret)
            gateways = {"dzengi": dz.make_gateway(dz_opts, creds), "ekiden": ek.make_gateway(ek_opts, creds)}
            config = LiveConfig(venues=[VenueEntry("dzengi", dict(dz_opts)), VenueEntry("ekiden", dict(ek_opts))],
                                strategies=[StrategyConfig("strategies.trade_flow:TradeFlow", "a",
                                                           flow(f"dzengi:{dz.DEMO_SYMBOL}").params),
                                            StrategyConfig("strategies.trade_flow:TradeFlow", "b",
                                                           flow(f"ekiden:{ek.DEMO_SYMBOL}").params)],
                                run=RunSettings(status_interval_s=0))
            runner = await run_live(config, "live", gateways=gateways, duration_s=8)
    venues_traded = {o.instrument.venue for o in runner.engine.orders.values()}
    assert venues_traded == {"dzengi", "ekiden"}
    assert not runner.engine.failures and not runner.engine.alarms
