"""Runs that cannot mean anything are errors before they start (exit 2), not empty reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest

from backtest.data import DatasetWriter, open_dataset
from backtest.generate import BTC_USD, generate_bars
from backtest.runner import BacktestSettings, run_backtest
from engine import DataError, Instrument
from engine import from_mapping, params_class
from engine import StrategySpec
from engine.cli import main
from strategies.sma_cross import SmaCross

MINUTE = 60_000_000_000
DZENGI_BTC = Instrument(**{**BTC_USD.to_dict(), "venue": "dzengi"})


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording keyed ``dzengi:BTC/USD`` (what ``triotrade record`` writes)."""
    path = tmp_path_factory.mktemp("rec") / "dzengi"
    w = DatasetWriter(path, [DZENGI_BTC])
    w.add_bars(DZENGI_BTC, **generate_bars(DZENGI_BTC, 600, seed=3), interval_ns=MINUTE)
    return path


def _config(tmp_path: Path, data: Path, *, instrument: str = "dzengi:BTC/USD", qty: str = "0.1",
            data_extra: str = "") -> Path:
    out = tmp_path / "out"
    path = tmp_path / "run.toml"
    path.write_text(f"""
name = "t"
[data]
path = "{data}"
{data_extra}
[account]
balances = {{ USD = "100000" }}
[[strategies]]
id = "sma"
class = "strategies.sma_cross:SmaCross"
[strategies.params]
instrument = "{instrument}"
qty = "{qty}"
allow_short = false
[report]
out = "{out}"
chart = false
""")
    return path


def _run(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["backtest", str(config), "--no-progress"])
    return code, capsys.readouterr().err


def test_an_instrument_key_not_in_the_data_is_a_data_error_naming_both(
        tmp_path: Path, recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text("previous report")
    code, err = _run(_config(tmp_path, recording, instrument="sim:BTC/USD"), capsys)
    assert code == 2
    assert "data error" in err and "'sim:BTC/USD'" in err and "dzengi:BTC/USD" in err
    assert "Traceback" not in err and "KeyError" not in err
    assert (out / "stats.json").read_text() == "previous report"  # nothing overwritten


def test_the_right_key_runs(tmp_path: Path, recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(_config(tmp_path, recording), capsys)
    assert code == 0 and (tmp_path / "out" / "stats.json").is_file()


def test_a_start_after_the_data_is_a_data_error(tmp_path: Path, recording: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(_config(tmp_path, recording, data_extra='start = "2030-01-01T00:00:00Z"'), capsys)
    assert code == 2
    assert "no data to replay between 2030-01-01T00:00:00Z" in err and "covers 2024-01-01" in err
    assert not (tmp_path / "out").exists()


def test_start_after_end_is_a_config_error(tmp_path: Path, recording: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    extra = 'start = "2024-01-02T00:00:00Z"\nend = "2024-01-01T00:00:00Z"'
    code, err = _run(_config(tmp_path, recording, data_extra=extra), capsys)
    assert code == 2 and "data.start" in err and "must be before end" in err
    with pytest.raises(ValueError, match="must be before the end"):
        BacktestSettings(start_ns=2, end_ns=1)


def test_a_negative_qty_is_a_config_error(tmp_path: Path, recording: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(_config(tmp_path, recording, qty="-0.5"), capsys)
    assert code == 2 and "qty must be positive, got -0.5" in err
    assert not (tmp_path / "out").exists()


def test_run_backtest_raises_the_data_error_itself(recording: Path) -> None:
    spec = StrategySpec("sma", SmaCross, from_mapping(params_class(SmaCross), {"instrument": "sim:BTC/USD"}))
    with pytest.raises(DataError, match=r"'sim:BTC/USD'.*it has: dzengi:BTC/USD"):
        run_backtest(open_dataset(recording), [spec], BacktestSettings(show_progress=False))
    start = int(dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    spec = StrategySpec("sma", SmaCross, from_mapping(params_class(SmaCross), {"instrument": "dzengi:BTC/USD",
                                                                                "qty": D("0.1")}))
    with pytest.raises(DataError, match="no data to replay"):
        run_backtest(open_dataset(recording), [spec], BacktestSettings(show_progress=False, start_ns=start))
