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
