"""The command line as a user meets it: help, clean config errors, demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.cli import main


def test_help_lists_every_command(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "backtest", "data", "testnet", "run", "paper", "record"):
        assert command in out


def test_bad_config_is_one_clear_message_and_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[data]\npath = "builtin:demo"\n[[strategies]]\nclass = "strategies.sma_cross:SmaCross"\n'
                   '[strategies.params]\ninstrument = "sim:BTC/USD"\nfast = "ten"\nfsat = 3\n')
    assert main(["backtest", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{cfg}: strategies[0].params.fast: expected an integer, got 'ten'" in err
    assert "did you mean 'fast'" in err


def test_strategy_code_with_a_syntax_error_is_reported_plainly(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mine.py").write_text("class X(:\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\npath = "builtin:demo"\n[[strategies]]\nclass = "mine.py:X"\n')
    assert main(["backtest", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "syntax error in strategy code" in err and "mine.py:1" in err and "Traceback" not in err


def test_unknown_top_level_key(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\npath = "builtin:demo"\n[[strategies]]\nclass = "strategies.sma_cross:SmaCross"\n'
                   '[venu]\norder_latency_ms = 1\n')
    assert main(["backtest", str(cfg)]) == 2
    assert "did you mean 'venue'" in capsys.readouterr().err


def test_demo_runs_from_a_clean_directory(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path / "out"),
                           "--live-seconds", "6"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Fills hash" in proc.stdout
    assert "Live run against the local testnet" in proc.stdout
    assert "[final]" in proc.stdout and "errors 0" in proc.stdout
    for name in ("fills.csv", "orders.csv", "equity.csv", "stats.json", "report.html"):
        assert (tmp_path / "out" / name).is_file()


def test_demo_trades_against_the_local_testnet_of_the_venue_asked_for(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path / "out"),
                           "--live-seconds", "3", "--venue", "ekiden"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "against a local ekiden testnet" in proc.stderr
    assert "[final]" in proc.stdout and "errors 0" in proc.stdout


def test_demo_on_a_venue_without_trades_of_its_own_trades_the_package_s_demo_strategy(tmp_path: Path) -> None:
    """Magnr publishes no trades: its package names the SMA example on one-second ticker bars, whose
    exits are reduce-only (Magnr liquidates the open trade): every order it sends is carried out."""
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path / "out"),
                           "--live-seconds", "12", "--venue", "magnr"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "against a local magnr testnet" in proc.stderr
    live = proc.stdout.split("Live run against the local testnet", 1)[1]
    assert "errors 0" in live and "rejected" not in live.lower() and "denied" not in live.lower()
    orders = int(live.split("orders", 1)[1].split()[0])
    assert orders >= 1 and f"orders                {orders} (filled {orders})" in live


def test_demo_on_leverj_signs_with_a_throw_away_key_pair_and_every_order_fills(tmp_path: Path) -> None:
    """Leverj's keys are secp256k1 pairs (the api key is the address of the secret): the package
    makes one at run time; its trade-flow example trades the futures market's BTCUSD, and every
    order it signs is accepted and filled."""
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path / "out"),
                           "--live-seconds", "10", "--venue", "leverj"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "against a local leverj testnet" in proc.stderr
    live = proc.stdout.split("Live run against the local testnet", 1)[1]
    assert "errors 0" in live and "rejected" not in live.lower() and "denied" not in live.lower()
    orders = int(live.split("orders", 1)[1].split()[0])
    assert orders >= 1 and f"orders                {orders} (filled {orders})" in live
    assert "leverj-futures:BTCUSD @" in live
    assert "0x" not in proc.stdout + proc.stderr  # neither the key nor its address is printed


def test_demo_on_coinpit_trades_inverse_contracts_with_a_throw_away_bitcoin_key(tmp_path: Path) -> None:
    """Coinpit's user is a bitcoin key pair (the api key is the key's address): the package makes
    one at run time; the SMA example trades whole contracts of the current weekly, fees and PnL in BTC."""
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path / "out"),
                           "--live-seconds", "20", "--venue", "coinpit"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "against a local coinpit testnet" in proc.stderr
    live = proc.stdout.split("Live run against the local testnet", 1)[1]
    assert "errors 0" in live and "rejected" not in live.lower() and "denied" not in live.lower()
    orders = int(live.split("orders", 1)[1].split()[0])
    assert orders >= 1 and f"orders                {orders} (filled {orders})" in live
    assert " BTC" in live.split("fills", 1)[1]  # fees in the settle asset


def test_demo_with_an_unknown_venue_is_one_line_naming_the_registered_ones(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "demo", "--out", str(tmp_path / "out"),
                           "--venue", "nosuch"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("triotrade demo: unknown venue 'nosuch' (available: ") and "dzengi, ekiden" in last
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# --version, and where strategy classes are loaded from
# ---------------------------------------------------------------------------------------------

_USER_STRATEGY = '''
from engine import Strategy


class {name}(Strategy):
    def on_start(self) -> None:
        print("{name} started from", __file__, flush=True)
'''


def _triotrade(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as the installed ``triotrade`` script runs it: the current directory is not on sys.path (-P)."""
    return subprocess.run([sys.executable, "-P", "-m", "engine.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _backtest_config(path: Path, cls: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[data]\npath = "builtin:demo"\n[[strategies]]\nclass = "{cls}"\n')
    return path


def test_version_is_the_package_version() -> None:
    import tomllib

    expected = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"triotrade {expected}"


def test_module_form_imports_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "my_strategies").mkdir()
    (tmp_path / "my_strategies" / "__init__.py").write_text("")
    (tmp_path / "my_strategies" / "rsi.py").write_text(_USER_STRATEGY.format(name="RsiRevert"))
    cfg = _backtest_config(tmp_path / "configs" / "c.toml", "my_strategies.rsi:RsiRevert")
    proc = _triotrade(tmp_path, "backtest", str(cfg), "--out", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"RsiRevert started from {tmp_path / 'my_strategies' / 'rsi.py'}" in proc.stdout


def test_a_users_own_strategies_package_wins_over_the_bundled_one(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "__init__.py").write_text("")
    (tmp_path / "strategies" / "mine.py").write_text(_USER_STRATEGY.format(name="Mine"))
    cfg = _backtest_config(tmp_path / "c.toml", "strategies.mine:Mine")
    proc = _triotrade(tmp_path, "backtest", str(cfg), "--out", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"Mine started from {tmp_path / 'strategies' / 'mine.py'}" in proc.stdout


def test_a_strategy_that_is_not_found_says_where_it_looked(tmp_path: Path) -> None:
    cfg = _backtest_config(tmp_path / "configs" / "c.toml", "nowhere.rsi:RsiRevert")
    proc = _triotrade(tmp_path, "backtest", str(cfg))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"looked in {(tmp_path / 'configs').resolve()}, {tmp_path.resolve()} and the installed packages" \
        in proc.stderr
    cfg = _backtest_config(tmp_path / "configs" / "d.toml", "lost/rsi.py:RsiRevert")
    proc = _triotrade(tmp_path, "backtest", str(cfg))
    assert proc.returncode == 2
    assert f"looked for {(tmp_path / 'configs' / 'lost' / 'rsi.py').resolve()}, {tmp_path.resolve() / 'lost' / 'rsi.py'}" \
        in proc.stderr
