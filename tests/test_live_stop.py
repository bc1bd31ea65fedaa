"""`run` / `paper` as a user starts and stops them: the real CLI in a subprocess, local testnets.

Every way of stopping (``--duration``, SIGINT, SIGTERM, the start-up deadline, a wrong key) ends
with exit 0 or one clear line, never a traceback, whether or not the venue ever came up.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from engine._live import StartupFailed
from engine._live_app import run_live
from engine._runconfig import LiveConfig, RunSettings, StrategyConfig, VenueEntry
from venues import venue_module

UNREACHABLE = {"base_url": "http://127.0.0.1:1", "ws_url": "ws://127.0.0.1:1/connect"}
SYMBOLS = {"dzengi": "BTC/USD", "ekiden": "BTC-USD"}


def _toml_value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def write_config(path: Path, venue: str, options: Mapping[str, Any], *, credentials: bool = False,
                 extra: str = "") -> Path:
    opts = "\n".join(f"{k} = {_toml_value(v)}" for k, v in options.items())
    creds = '[venues.credentials]\napi_key_env = "TT_KEY"\nsecret_env = "TT_SECRET"\n' if credentials else ""
    path.write_text(f"""
[[venues]]
venue = "{venue}"
[venues.options]
{opts}
{creds}
[[strategies]]
id = "flow"
class = "strategies.trade_flow:TradeFlow"
[strategies.params]
instrument = "{venue}:{SYMBOLS[venue]}"
qty = "0.01"
threshold = "0.02"
half_life_trades = 5.0
min_hold_trades = 5

[run]
status_interval_s = 0
{extra}
""")
    return path


class Cli:
    """``triotrade ARGS`` in a subprocess; stderr is collected as it arrives."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.stderr = ""
        self.stdout = ""
        self._grew = trio.Event()

    async def collect(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read, "stdout")
            nursery.start_soon(self._read, "stderr")

    async def _read(self, name: str) -> None:
        stream = getattr(self.proc, name)
        while chunk := await stream.receive_some(65536):
            setattr(self, name, getattr(self, name) + chunk.decode())
            self._grew.set()
            self._grew = trio.Event()

    async def wait_for(self, text: str, stream: str = "stderr") -> None:
        while text not in getattr(self, stream):
            await self._grew.wait()

    async def finish(self) -> int:
        return await self.proc.wait()


async def start_cli(nursery: trio.Nursery, cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> Cli:
    proc = await trio.lowlevel.open_process([sys.executable, "-m", "engine.cli", *args], cwd=cwd,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env={**os.environ, **(env or {})})
    cli = Cli(proc)
    nursery.start_soon(cli.collect)
    return cli


async def run_cli(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, Cli]:
    async with trio.open_nursery() as nursery:
        cli = await start_cli(nursery, cwd, *args, env=env)
        code = await cli.finish()
    return code, cli


def assert_no_traceback(cli: Cli) -> None:
    assert "Traceback" not in cli.stderr and "ExceptionGroup" not in cli.stderr, cli.stderr


# ---------------------------------------------------------------------------------------------
# a venue that cannot be reached
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", ["dzengi", "ekiden"])
async def test_unreachable_venue_logs_every_attempt_and_gives_up_at_the_startup_deadline(
        venue: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", venue, UNREACHABLE)
    with trio.fail_after(60):
        code, cli = await run_cli(tmp_path, "paper", str(cfg), "--startup-timeout", "2")
    assert code == 1, cli.stderr
    assert_no_traceback(cli)
    assert "attempt 1, retrying in 0.5 s" in cli.stderr and "attempt 2, retrying in 1.0 s" in cli.stderr
    assert "127.0.0.1:1" in cli.stderr  # the cause
    errors = [line for line in cli.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"error: {venue} did not come up within 2 s" in errors[0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_a_run_that_is_still_starting(signum: signal.Signals, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", "dzengi", UNREACHABLE)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            cli = await start_cli(nursery, tmp_path, "paper", str(cfg))
            await cli.wait_for("attempt 2")
            cli.proc.send_signal(signum)
            with trio.fail_after(10):
                code = await cli.finish()
    assert code == 0, cli.stderr
    assert_no_traceback(cli)
    assert f"received {signum.name}: shutting down" in cli.stderr
    assert "stopped during start-up (dzengi was not up yet)" in cli.stderr


async def test_duration_stops_a_run_that_is_still_starting(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", "dzengi", UNREACHABLE)
    with trio.fail_after(60):
        code, cli = await run_cli(tmp_path, "paper", str(cfg), "--duration", "1.5")
    assert code == 0, cli.stderr
    assert_no_traceback(cli)
    assert "stopped during start-up" in cli.stderr and "[final]" in cli.stdout


async def test_record_stops_while_the_venue_is_still_starting(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", "dzengi", UNREACHABLE,
                       extra='[record]\ninstruments = ["dzengi:BTC/USD"]\nkinds = ["trades"]')
    with trio.fail_after(60):
        code, cli = await run_cli(tmp_path, "record", str(cfg), "--out", str(tmp_path / "rec"), "--duration", "1.5")
    assert code == 0, cli.stderr
    assert_no_traceback(cli)
    assert "attempt 1, retrying in" in cli.stderr and "recorded into" in cli.stdout


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "soon"])
async def test_a_bad_startup_timeout_is_a_usage_error(value: str, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", "dzengi", UNREACHABLE)
    with trio.fail_after(60):
        code, cli = await run_cli(tmp_path, "paper", str(cfg), "--startup-timeout", value)
    assert code == 2 and "--startup-timeout: expected" in cli.stderr
    assert_no_traceback(cli)


# ---------------------------------------------------------------------------------------------
# a running session
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_stops_a_running_paper_session_quietly(signum: signal.Signals, tmp_path: Path) -> None:
    module = venue_module("dzengi")
    with trio.fail_after(90):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=4) as options:
            cfg = write_config(tmp_path / "c.toml", "dzengi", options)
            async with trio.open_nursery() as nursery:
                cli = await start_cli(nursery, tmp_path, "-v", "paper", str(cfg))
                await cli.wait_for("dzengi: up")
                await trio.sleep(1)
                cli.proc.send_signal(signum)
                with trio.fail_after(20):
                    code = await cli.finish()
    assert code == 0, cli.stderr
    assert_no_traceback(cli)
    assert "[final]" in cli.stdout
    assert "WARNING triotrade.risk" not in cli.stderr  # a normal stop is not a warning
    assert "trading state active -> halted: shutdown" in cli.stderr  # logged at INFO (-v)


@pytest.mark.parametrize("venue", ["dzengi", "ekiden"])
async def test_a_wrong_secret_is_one_line_naming_the_venue(venue: str, tmp_path: Path) -> None:
    module = venue_module(venue)
    key, secret = secrets.token_hex(8), secrets.token_hex(16)
    wrong = secrets.token_hex(16)
    with trio.fail_after(90):
        async with module.open_local_testnet(key, secret, seed=3) as options:
            cfg = write_config(tmp_path / "c.toml", venue, options, credentials=True)
            code, cli = await run_cli(tmp_path, "run", str(cfg), "--duration", "30",
                                      env={"TT_KEY": key, "TT_SECRET": wrong})
    assert code == 1, cli.stderr
    assert_no_traceback(cli)
    errors = [line for line in cli.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {venue}: "), cli.stderr
    assert wrong not in cli.stderr + cli.stdout


@pytest.mark.parametrize("mode", ["paper", "run"])
async def test_paper_and_live_runs_write_a_backtest_report_and_journal(mode: str, tmp_path: Path) -> None:
    import csv
    import json
    import sqlite3

    module = venue_module("dzengi")
    key, secret = secrets.token_hex(8), secrets.token_hex(16)
    with trio.fail_after(90):
        async with module.open_local_testnet(key, secret, seed=4) as options:
            cfg = write_config(tmp_path / "c.toml", "dzengi", options, credentials=(mode == "run"),
                               extra='journal = "journal.sqlite"')
            code, cli = await run_cli(tmp_path, mode, str(cfg), "--duration", "6",
                                      env={"TT_KEY": key, "TT_SECRET": secret})
    assert code == 0, cli.stderr
    assert_no_traceback(cli)
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith(f"live-{'live' if mode == 'run' else 'paper'}-")
    assert f"report written to {Path('runs') / folders[0].name}" in cli.stdout
    for name in ("fills.csv", "orders.csv", "trades.csv", "equity.csv", "stats.json", "report.html"):
        assert (folders[0] / name).is_file(), name
    with (folders[0] / "fills.csv").open() as fh:
        fills = list(csv.DictReader(fh))
    assert fills, "the strategy trades on the testnet within 6 s"
    assert f"live ({'live' if mode == 'run' else 'paper'} run)" in cli.stdout  # the report says what ran
    stats = json.loads((folders[0] / "stats.json").read_text())
    assert stats["n_fills"] == len(fills)
    with (folders[0] / "equity.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) >= 4  # one sample a second, plus both ends
    with (folders[0] / "orders.csv").open() as fh:
        order_ids = {row["client_order_id"] for row in csv.DictReader(fh)}
    journal = sqlite3.connect(tmp_path / "journal.sqlite")
    assert {r[0] for r in journal.execute("SELECT client_order_id FROM orders")} == order_ids


# ---------------------------------------------------------------------------------------------
# local testnets as commands
# ---------------------------------------------------------------------------------------------

ACCOUNTS = Path(__file__).parents[1] / "configs" / "testnet_accounts.toml"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("venue", ["dzengi", "ekiden"])
async def test_a_signal_stops_a_testnet_cleanly(venue: str, signum: signal.Signals, tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            cli = await start_cli(nursery, tmp_path, "testnet", venue, "--accounts", str(ACCOUNTS))
            await cli.wait_for("accounts:", "stdout")
            cli.proc.send_signal(signum)
            with trio.fail_after(10):
                code = await cli.finish()
    assert code == 0, cli.stderr
    assert_no_traceback(cli)


@pytest.mark.parametrize("venue", ["dzengi", "ekiden"])
async def test_a_testnet_with_missing_market_data_is_one_line(venue: str, tmp_path: Path) -> None:
    with trio.fail_after(60):
        code, cli = await run_cli(tmp_path, "testnet", venue, "--accounts", str(ACCOUNTS),
                                  "--market-data", str(tmp_path / "nonexistent"))
    assert code == 2
    assert_no_traceback(cli)
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("data error: ") and "nonexistent" in lines[0], cli.stderr


# ---------------------------------------------------------------------------------------------
# in process
# ---------------------------------------------------------------------------------------------


def _unreachable_config(startup_timeout_s: float = 60.0) -> LiveConfig:
    strategy = StrategyConfig("strategies.trade_flow:TradeFlow", "flow", {"instrument": "dzengi:BTC/USD", "qty": "0.01"})
    return LiveConfig(venues=[VenueEntry("dzengi", dict(UNREACHABLE))], strategies=[strategy],
                      run=RunSettings(status_interval_s=0, startup_timeout_s=startup_timeout_s))


async def test_startup_deadline_is_the_configured_one(autojump_clock: trio.testing.MockClock,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "triotrade.live")
    start = trio.current_time()
    with pytest.raises(StartupFailed, match=r"dzengi did not come up within 45 s \(last: REST not available"):
        await run_live(_unreachable_config(45), "paper")
    assert 45 <= trio.current_time() - start < 46
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) >= 3 and all(f"attempt {i + 1}," in m for i, m in enumerate(retries))


async def test_run_live_stops_when_the_given_event_is_set_during_startup(
        autojump_clock: trio.testing.MockClock) -> None:
    shutdown = trio.Event()
    runners = []

    async def go() -> None:
        runners.append(await run_live(_unreachable_config(), "paper", shutdown=shutdown))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(go)
        await trio.sleep(5)
        assert not runners
        shutdown.set()
        set_at = trio.current_time()
    assert trio.current_time() - set_at < 1
    assert len(runners) == 1 and not runners[0].up


async def test_run_live_accepts_a_shutdown_event_and_stops_when_it_is_set(tmp_path: Path) -> None:
    module = venue_module("dzengi")
    strategy = StrategyConfig("strategies.trade_flow:TradeFlow", "flow", {"instrument": "dzengi:BTC/USD", "qty": "0.01"})
    shutdown = trio.Event()
    with trio.fail_after(60):
        async with module.open_local_testnet("k" * 16, "s" * 32, seed=4) as options:
            config = LiveConfig(venues=[VenueEntry("dzengi", dict(options))], strategies=[strategy],
                                run=RunSettings(status_interval_s=0))
            async with trio.open_nursery() as nursery:
                runner = await nursery.start(lambda task_status: run_live(config, "paper", shutdown=shutdown,
                                                                          task_status=task_status))
                assert runner.up
                shutdown.set()
    assert runner.engine.instruments and not runner.engine.open_orders()


async def test_a_second_signal_stops_at_once() -> None:
    from engine._live_app import _watch_signals

    shutdown = trio.Event()
    with trio.fail_after(10):
        with trio.CancelScope() as force:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_signals, shutdown, force)
                await trio.testing.wait_all_tasks_blocked()
                os.kill(os.getpid(), signal.SIGINT)
                await shutdown.wait()
                assert not force.cancel_called  # the first signal asks for an orderly shutdown
                os.kill(os.getpid(), signal.SIGINT)
                await trio.sleep_forever()  # an orderly shutdown that would never end
    assert force.cancelled_caught
