"""Appending to a stream in time order, and reporting holes in the data (missing bars, long pauses)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from backtest.data import PAUSE_NS, DatasetWriter, find_gaps, iter_book_events, open_dataset
from backtest.data_cli import add_data_commands, format_duration_ns
from engine import DataError, Instrument

BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.00001")
T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z
MIN = 60_000_000_000
BARS = "sim.BTC-USD.bars-1m"
TRADES = "sim.BTC-USD.trades"


@pytest.fixture(autouse=True)
def _verified_markers_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markers of verified data sets (see open_dataset) go to this test's directory, not the home cache."""
    monkeypatch.setenv("TRIOTRADE_CACHE_DIR", str(tmp_path / "cache"))


def bars(opens: np.ndarray) -> dict[str, np.ndarray]:
    close = 4_200_000 + np.arange(len(opens), dtype=np.int64)
    return {"ts_event": opens, "open": close, "high": close + 5, "low": close - 5, "close": close,
            "volume": np.full(len(opens), 7, dtype=np.int64)}


def trades(ts: np.ndarray, first_id: int) -> dict[str, np.ndarray]:
    n = len(ts)
    return {"ts_event": ts, "price": 4_200_000 + np.arange(n, dtype=np.int64), "size": np.ones(n, dtype=np.int64),
            "aggressor": np.ones(n, dtype=np.int8), "trade_id": first_id + np.arange(n, dtype=np.int64)}


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def test_append_trades_extends_the_stream_with_fresh_checksums(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    first = trades(T0 + np.arange(4, dtype=np.int64), 1)
    second = trades(T0 + 10 + np.arange(3, dtype=np.int64), 5)
    writer.add_trades(BTC, **first)
    info = writer.append_columns(TRADES, second)
    assert (info.rows, info.start_ns, info.end_ns) == (7, T0, T0 + 12)
    ds = open_dataset(tmp_path / "ds", checksums=True)
    got = ds.columns(TRADES)
    for column in ("ts_event", "price", "size", "aggressor", "trade_id"):
        np.testing.assert_array_equal(got[column], np.concatenate([first[column], second[column]]))
    np.testing.assert_array_equal(got["ts_recv"], got["ts_event"])
    assert ds.stream(TRADES) == info
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["meta.json", TRADES]  # nothing left behind


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ("trades", trades(T0 + np.arange(2, dtype=np.int64) + 2, 10)),
     "the rows to append start at ts_recv .*, before the stream's last row .*append in time order"),
    (lambda: ("trades", trades(T0 + 3 + np.arange(2, dtype=np.int64), 4)),
     "the first trade to append has id 4, not above the stream's last trade id 4"),
    (lambda: ("bars", bars(T0 + 3 * MIN + np.arange(2, dtype=np.int64) * MIN)),
     r"the first bar to append opens at .*, less than one interval \(1m\) after the stream's last bar"),
    (lambda: ("trades", {**trades(T0 + 10 + np.arange(2, dtype=np.int64), 10), "price": np.array([5, 0])}),
     "price=0: prices must be positive"),
])
def test_append_out_of_time_order_or_bad_is_refused_and_changes_nothing(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_trades(BTC, **trades(T0 + np.arange(4, dtype=np.int64), 1))
    writer.add_bars(BTC, **bars(T0 + np.arange(4, dtype=np.int64) * MIN), interval_ns=MIN)
    before = snapshot(tmp_path / "ds")
    kind, columns = make()
    with pytest.raises(DataError, match=message):
        writer.append_columns(TRADES if kind == "trades" else BARS, columns)
    assert snapshot(tmp_path / "ds") == before


def test_append_bars_and_book(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_bars(BTC, **bars(T0 + np.arange(3, dtype=np.int64) * MIN), interval_ns=MIN)
    writer.append_columns(BARS, bars(T0 + np.arange(5, 7, dtype=np.int64) * MIN))  # a 2-bar hole is allowed
    book = {"ts_event": np.array([T0, T0 + 5]), "ts_recv": np.array([T0, T0 + 5]), "sequence": np.array([1, 2]),
            "is_snapshot": np.array([1, 0], np.int8), "count": np.array([2, 1], np.int32),
            "lvl_side": np.array([1, -1, 1], np.int8), "lvl_price": np.array([99, 101, 98]),
            "lvl_size": np.array([3, 4, 5])}
    writer.add_book(BTC, **book)
    more = {**book, "ts_event": book["ts_event"] + 10, "ts_recv": book["ts_recv"] + 10,
            "sequence": np.array([3, 4])}
    info = writer.append_columns("sim.BTC-USD.book", more)
    assert (info.rows, info.levels) == (4, 6)
    ds = open_dataset(tmp_path / "ds", checksums=True)
    assert ds.columns(BARS)["ts_event"].tolist() == [T0 + k * MIN for k in (0, 1, 2, 5, 6)]
    events = list(iter_book_events(ds, "sim.BTC-USD.book"))
    assert [(e.sequence, e.bids, e.asks) for e in events] == [
        (1, ((99, 3),), ((101, 4),)), (2, ((98, 5),), ()), (3, ((99, 3),), ((101, 4),)), (4, ((98, 5),), ())]


def test_append_to_a_stream_being_recorded_is_refused(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    app = writer.appender("trades", BTC)
    app.append(ts_event=T0, ts_recv=T0, price=5, size=1, aggressor=0, trade_id=0)
    app.flush()
    with pytest.raises(DataError, match="still being recorded in chunks; finalize it first"):
        writer.append_columns(TRADES, trades(T0 + np.arange(1, 3, dtype=np.int64), 1))


def test_find_gaps_counts_missing_bars_and_long_pauses(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    opens = T0 + np.array([0, 1, 2, 46, 47, 49], dtype=np.int64) * MIN  # 43 bars missing after 02, 1 after 47
    writer.add_bars(BTC, **bars(opens), interval_ns=MIN)
    ts = T0 + np.array([0, MIN, 45 * MIN - 1])
    writer.add_trades(BTC, **trades(ts, 1))
    ds = open_dataset(tmp_path / "ds")
    gaps = find_gaps(ds.stream(BARS), ds.columns(BARS))
    assert (gaps.count, gaps.missing_bars, gaps.threshold_ns) == (2, 44, MIN)
    assert gaps.largest is not None
    assert (gaps.largest.after_ns, gaps.largest.before_ns, gaps.largest.missing_bars) == (T0 + 3 * MIN, T0 + 46 * MIN, 43)
    assert gaps.largest.duration_ns == 43 * MIN
    pauses = find_gaps(ds.stream(TRADES), ds.columns(TRADES))
    assert (pauses.count, pauses.threshold_ns) == (1, PAUSE_NS)
    assert pauses.largest is not None and pauses.largest.duration_ns == 44 * MIN - 1
    assert find_gaps(ds.stream(TRADES), ds.columns(TRADES), min_pause_ns=44 * MIN).count == 0
    assert find_gaps(ds.stream(BARS), {"ts_event": opens[:3]}).count == 0


# -- command line ---------------------------------------------------------------------------------


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="triotrade")
    add_data_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def kline_file(path: Path, start_ms: int, minutes: list[int]) -> Path:
    rows = [f"{start_ms + m * 60_000},42000.5,42010.0,41990.0,42001.25,1.5,{start_ms + m * 60_000 + 59_999},0,1,0,0,0"
            for m in minutes]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cli_imports_monthly_files_one_by_one_with_append_and_reports_a_44_minute_hole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jan = kline_file(tmp_path / "BTCUSDT-1m-2024-01.csv", T0 // 10**6, [m for m in range(120) if not 10 <= m < 54])
    feb_ms = 1_706_745_600_000  # 2024-02-01T00:00:00Z
    feb = kline_file(tmp_path / "BTCUSDT-1m-2024-02.csv", feb_ms, list(range(60)))
    out = str(tmp_path / "ds")
    common = ["data", "import", "--kind", "klines", "--venue", "binance", "--symbol", "BTCUSDT", "--out", out]
    assert run(*common, str(jan)) == 0
    printed = capsys.readouterr().out
    assert ("warning: 1 gap, 44 bars missing; largest 44m from 2024-01-01T00:10:00Z to 2024-01-01T00:54:00Z"
            in printed)

    assert run(*common, str(feb)) == 2
    err = capsys.readouterr().err
    assert "stream 'binance.BTCUSDT.bars-1m' already exists" in err and "--append" in err

    assert run(*common, "--append", str(feb)) == 0
    printed = capsys.readouterr().out
    assert "appended 60 bars 1m rows of binance:BTCUSDT" in printed and "(now 136 rows)" in printed
    assert "2 gaps" in printed  # the hole in January, and the rest of January up to February

    assert run(*common, "--append", str(feb)) == 2  # the same month again overlaps
    assert "append in time order" in capsys.readouterr().err

    assert run("data", "info", out) == 0
    info = capsys.readouterr().out
    assert "136 rows  2024-01-01T00:00:00Z .. 2024-02-01T01:00:00Z" in info
    assert "2 gaps, 44,564 bars missing; largest 30d 22h from 2024-01-01T02:00:00Z to 2024-02-01T00:00:00Z" in info
    assert "source: csv import (klines): BTCUSDT-1m-2024-01.csv + BTCUSDT-1m-2024-02.csv" in info
    assert run("data", "verify", out) == 0
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert [s["rows"] for s in meta["streams"]] == [136]


def test_cli_info_reports_pauses_in_trades(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"{i},42000.5,0.1,4200.05,{T0 // 10**6 + t},true" for i, t in enumerate([0, 1_000, 2_000, 2_642_000])]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    assert run("data", "import", "--kind", "trades", "--venue", "ext", "--symbol", "BTC/USDT", "--append",
               str(tmp_path / "t.csv"), "--out", str(tmp_path / "ds")) == 0  # --append creates a new stream
    assert "warning: 1 pause of 5m or more; largest 44m from 2024-01-01T00:00:02Z to 2024-01-01T00:44:02Z" \
        in capsys.readouterr().out
    assert run("data", "info", str(tmp_path / "ds")) == 0
    assert "1 pause of 5m or more; largest 44m" in capsys.readouterr().out


def test_format_duration_ns() -> None:
    assert [format_duration_ns(n) for n in (44 * MIN, 30 * 86_400 * 10**9 + 22 * 3_600 * 10**9, 90 * 10**9,
                                            2_500_000, 86_400 * 10**9 + 1)] == ["44m", "30d 22h", "1m 30s", "2.5ms", "1d"]
