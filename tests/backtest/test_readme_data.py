"""Every command of the README's "Recorded data" section runs as written (on small files named as there)."""

from __future__ import annotations

import re
import shlex
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _verified_markers_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markers of verified data sets (see open_dataset) go to this test's directory, not the home cache."""
    monkeypatch.setenv("TRIOTRADE_CACHE_DIR", str(tmp_path / "cache"))


def section_commands(title: str) -> list[str]:
    """The ``triotrade`` commands in the ```bash blocks of README section ``title`` (continuations joined)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        joined = block.replace("\\\n", " ")
        commands.extend(line.strip() for line in joined.splitlines() if line.strip().startswith("triotrade "))
    return commands


def start_of(name: str) -> int:
    """Epoch ms of the date in a public dump's file name (``BTCUSDT-1m-2024-02.zip``: 2024-02-01)."""
    match = re.search(r"(\d{4})-(\d{2})(?:-(\d{2}))?", name)
    assert match, name
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    return int(datetime(year, month, day, tzinfo=UTC).timestamp()) * 1000


def kline_rows(start_ms: int) -> str:
    rows = []
    for i in range(90):
        t = start_ms + i * 60_000
        o = 42_000 + i
        rows.append(f"{t},{o}.10,{o + 5}.25,{o - 5}.00,{o + 1}.50,1.23456,{t + 59_999},51852.1,12,0.6,25926.0,0")
    return "\n".join(rows) + "\n"


def trade_rows(start_ms: int) -> str:
    rows = [f"{1000 + i},{42_000 + i % 7}.01,0.0{i % 9 + 1},{42 + i}.0,{start_ms + i * 250},{'true' if i % 3 else 'false'},true"
            for i in range(50)]
    return "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n" + "\n".join(rows) + "\n"


def make_input(path: Path, kind: str) -> None:
    text = kline_rows(start_of(path.name)) if kind == "klines" else trade_rows(start_of(path.name))
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(path.with_suffix(".csv").name, text)
    else:
        path.write_text(text)


def test_the_section_has_the_commands_it_documents() -> None:
    commands = section_commands("Recorded data")
    assert any(" data import " in c and "--append" in c for c in commands)
    assert any(" data info " in c for c in commands) and any(" data verify " in c for c in commands)


def test_recorded_data_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "backtest" / "datasets").mkdir(parents=True)
    (tmp_path / "backtest" / "datasets" / "demo").symlink_to(ROOT / "backtest" / "datasets" / "demo")
    monkeypatch.chdir(tmp_path)
    for command in section_commands("Recorded data"):
        argv = shlex.split(command)[1:]
        kind = argv[argv.index("--kind") + 1] if "--kind" in argv else ""
        for arg in argv:
            if arg.endswith((".zip", ".csv")) and not Path(arg).exists():
                make_input(Path(arg), kind)
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 0, f"{command}\n{captured.err}"
    info = main(["data", "info", "data/btc"])
    out = capsys.readouterr().out
    assert info == 0
    assert "binance:BTCUSDT  spot BTC/USDT  tick 0.01  lot 0.00001  maker fee 0.001  taker fee 0.001  min notional 5" in out
    assert "binance.BTCUSDT.bars-1m  bars 1m  binance:BTCUSDT  180 rows" in out
