"""Opening a data set checks what its writer guaranteed and refuses a corrupt one by file and rule."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import backtest.data
from backtest.data import DatasetWriter, open_dataset
from backtest.data_cli import add_data_commands
from engine import DataError, Instrument

BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.00001")
T0 = 1_704_067_200_000_000_000
MIN = 60_000_000_000
BARS = "sim.BTC-USD.bars-1m"
TRADES = "sim.BTC-USD.trades"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Markers of verified data sets go to a fresh directory per test."""
    monkeypatch.setenv("TRIOTRADE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    opens = T0 + np.arange(6, dtype=np.int64) * MIN
    close = 4_200_000 + np.arange(6, dtype=np.int64) * 7
    writer.add_bars(BTC, ts_event=opens, open=close - 3, high=close + 10, low=close - 20, close=close,
                    volume=np.full(6, 100, dtype=np.int64), interval_ns=MIN)
    ts = T0 + np.arange(6, dtype=np.int64) * 1_000
    writer.add_trades(BTC, ts_event=ts, price=4_200_000 + np.arange(6, dtype=np.int64),
                      size=np.arange(1, 7, dtype=np.int64), aggressor=np.array([1, -1, 0, 1, 1, -1], np.int8),
                      trade_id=np.arange(100, 106, dtype=np.int64))
    return tmp_path / "ds"


def edit_meta(path: Path, change: Callable[[dict], object]) -> None:  # type: ignore[type-arg]
    meta = json.loads((path / "meta.json").read_text())
    change(meta)
    (path / "meta.json").write_text(json.dumps(meta))


def set_value(path: Path, stream: str, column: str, row: int, value: int) -> None:
    """Change one value of a column in place: same file size, same header."""
    file = path / stream / f"{column}.npy"
    values = np.load(file)
    values[row] = value
    np.save(file, values)


def cut_bytes(path: Path, stream: str, column: str, n: int) -> None:
    file = path / stream / f"{column}.npy"
    file.write_bytes(file.read_bytes()[:-n])


def add_bytes(path: Path, stream: str, column: str, extra: bytes) -> None:
    file = path / stream / f"{column}.npy"
    file.write_bytes(file.read_bytes() + extra)


def flip_byte(path: Path, stream: str, column: str, offset_from_end: int, *, keep_mtime: bool = False) -> None:
    """Change one bit of a column file, a second after it was last written (or keeping its mtime)."""
    file = path / stream / f"{column}.npy"
    before = file.stat().st_mtime_ns
    raw = bytearray(file.read_bytes())
    raw[-offset_from_end] ^= 0x01
    file.write_bytes(bytes(raw))
    moment = before if keep_mtime else before + 10**9
    os.utime(file, ns=(moment, moment))


# (corruption, file named in the message, rule or problem named in the message)
CORRUPTIONS: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("price_precision edited", lambda p: edit_meta(p, lambda m: m["instruments"]["sim:BTC/USD"].update(
        price_precision=3)), "meta.json", "written with price_scale 2 but instrument sim:BTC/USD now has price_scale 3"),
    ("tick_size edited to a finer place", lambda p: edit_meta(p, lambda m: m["instruments"]["sim:BTC/USD"].update(
        tick_size="0.001")), "meta.json", "now has price_scale 3"),
    ("qty_precision edited", lambda p: edit_meta(p, lambda m: m["instruments"]["sim:BTC/USD"].update(
        qty_precision=8)), "meta.json", "written with size_scale 5 but instrument sim:BTC/USD now has size_scale 8"),
    ("bar close = -1", lambda p: set_value(p, BARS, "close", 2, -1), f"{BARS}/close.npy",
     "rule 'prices must be positive' broken: row 2 has close=-1"),
    ("bar close > high", lambda p: set_value(p, BARS, "close", 3, 99_999_999), f"{BARS}/high.npy",
     "rule 'high is below open or close' broken: row 3"),
    ("bar open < low", lambda p: set_value(p, BARS, "open", 1, 1), f"{BARS}/low.npy",
     "rule 'low is above open or close' broken: row 1"),
    ("bar volume negative", lambda p: set_value(p, BARS, "volume", 0, -5), f"{BARS}/volume.npy",
     "rule 'sizes cannot be negative' broken: row 0 has volume=-5"),
    ("bar open time moved back", lambda p: set_value(p, BARS, "ts_event", 4, T0 + 2 * MIN), f"{BARS}/ts_event.npy",
     "rule 'bar open times non-decreasing' broken: row 4"),
    ("trade price 0", lambda p: set_value(p, TRADES, "price", 5, 0), f"{TRADES}/price.npy",
     "rule 'prices must be positive' broken: row 5 has price=0"),
    ("trade size 0", lambda p: set_value(p, TRADES, "size", 1, 0), f"{TRADES}/size.npy",
     "rule 'a trade's size must be positive' broken: row 1"),
    ("trade size negative", lambda p: set_value(p, TRADES, "size", 1, -3), f"{TRADES}/size.npy",
     "rule 'sizes cannot be negative' broken"),
    ("trade aggressor 7", lambda p: set_value(p, TRADES, "aggressor", 0, 7), f"{TRADES}/aggressor.npy",
     "rule 'aggressor is +1, -1 or 0' broken"),
    ("trade ts_recv out of order", lambda p: set_value(p, TRADES, "ts_recv", 2, T0), f"{TRADES}/ts_recv.npy",
     "rule 'ts_recv non-decreasing' broken"),
    ("end_ns edited", lambda p: edit_meta(p, lambda m: m["streams"][1].update(end_ns=T0 + 10**12)), "meta.json",
     "stream 'sim.BTC-USD.trades': rule 'time range matches the data' broken"),
    ("start_ns edited", lambda p: edit_meta(p, lambda m: m["streams"][0].update(start_ns=T0 - MIN)), "meta.json",
     "rule 'time range matches the data' broken"),
    ("0-byte column", lambda p: (p / TRADES / "price.npy").write_bytes(b""), f"{TRADES}/price.npy",
     "not a readable .npy file: the file is empty (0 bytes)"),
    ("header only", lambda p: cut_bytes(p, TRADES, "price", 48), f"{TRADES}/price.npy", "not a readable .npy file"),
    ("last value cut off", lambda p: cut_bytes(p, BARS, "low", 3), f"{BARS}/low.npy", "not a readable .npy file"),
    ("bytes appended", lambda p: add_bytes(p, TRADES, "size", b"\0" * 8), f"{TRADES}/size.npy",
     "rule 'file size' broken: 184 bytes, its header describes 176"),
    ("crc32 malformed in meta", lambda p: edit_meta(p, lambda m: m["streams"][1]["files"]["price.npy"].update(
        crc32="xyz")), "meta.json", "files['price.npy'] must be"),
    ("bytes edited in meta", lambda p: edit_meta(p, lambda m: m["streams"][1]["files"]["price.npy"].update(
        bytes=100)), f"{TRADES}/price.npy", "rule 'file size' broken: 176 bytes, meta.json recorded 100"),
    ("files names a foreign file", lambda p: edit_meta(p, lambda m: m["streams"][1]["files"].update(
        {"../x.npy": {"bytes": 1, "crc32": "00000000"}})), "meta.json", "not a column file of a trades stream"),
]


@pytest.mark.parametrize(("corrupt", "file", "rule"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_corruption_is_refused_naming_file_and_rule(ds: Path, corrupt: Callable[[Path], None], file: str,
                                                     rule: str) -> None:
    open_dataset(ds)  # sound before
    corrupt(ds)
    with pytest.raises(DataError) as caught:
        open_dataset(ds)
    message = str(caught.value)
    assert f"{ds}/{file}" in message and rule in message
    assert "\n" not in message


def test_changed_bytes_that_keep_the_rules_are_found_by_the_checksum(ds: Path) -> None:
    open_dataset(ds)  # verified once: remembered
    flip_byte(ds, TRADES, "trade_id", 8)  # the lowest byte of the last trade id: still a valid value
    with pytest.raises(DataError, match=rf"{TRADES}/trade_id\.npy: rule 'checksum' broken: CRC-32 of the data is "
                                        r"[0-9a-f]{8}, meta\.json recorded [0-9a-f]{8}"):
        open_dataset(ds)  # the file changed since: this open reads every byte
    with pytest.raises(DataError, match="rule 'checksum' broken"):
        open_dataset(ds, checksums=True)
    open_dataset(ds, checksums=False)  # sizes and value rules hold: without the digests it cannot tell


def test_checksums_are_compared_on_the_first_open_after_a_change_only(ds: Path, cache_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = backtest.data.crc32_of

    def counting(column: np.ndarray) -> str:
        calls.append(len(column))
        return real(column)

    monkeypatch.setattr(backtest.data, "crc32_of", counting)
    open_dataset(ds)
    assert len(calls) == 13  # 7 bar columns + 6 trade columns
    assert len(list((cache_dir / "verified").iterdir())) == 1
    calls.clear()
    open_dataset(ds)
    open_dataset(ds, verify=False).columns(TRADES)
    assert calls == []  # unchanged since verified
    file = ds / BARS / "volume.npy"
    os.utime(file, ns=(file.stat().st_mtime_ns + 10**9,) * 2)  # touched: maybe changed
    open_dataset(ds)
    assert len(calls) == 13
    calls.clear()
    open_dataset(ds, checksums=True)
    assert len(calls) == 13  # asked for: always


def test_a_change_that_keeps_size_and_mtime_is_found_by_verify_only(ds: Path) -> None:
    open_dataset(ds)
    flip_byte(ds, TRADES, "trade_id", 8, keep_mtime=True)
    open_dataset(ds)  # looks unchanged since the last full check: the documented limit
    with pytest.raises(DataError, match="rule 'checksum' broken"):
        open_dataset(ds, checksums=True)


def test_without_a_usable_cache_every_open_compares_checksums(ds: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv("TRIOTRADE_CACHE_DIR", str(tmp_path / "not-a-dir"))
    open_dataset(ds)
    flip_byte(ds, TRADES, "price", 1, keep_mtime=True)
    with pytest.raises(DataError, match="price\\.npy: rule 'checksum' broken"):
        open_dataset(ds)


def test_data_set_without_recorded_checks_still_opens_with_sizes_and_rules_checked(ds: Path) -> None:
    """A data set written before sizes, checksums and scales were recorded in meta.json."""
    def strip(meta: dict) -> None:  # type: ignore[type-arg]
        for stream in meta["streams"]:
            for key in ("files", "price_scale", "size_scale"):
                del stream[key]

    edit_meta(ds, strip)
    opened = open_dataset(ds, checksums=True)
    assert [s.files for s in opened.streams] == [(), ()]
    assert opened.columns(TRADES)["price"].tolist()[:2] == [4_200_000, 4_200_001]
    set_value(ds, BARS, "close", 0, -1)
    with pytest.raises(DataError, match=rf"{BARS}/close\.npy: rule 'prices must be positive' broken"):
        open_dataset(ds)
    add_bytes(ds, TRADES, "size", b"junk")
    with pytest.raises(DataError, match=rf"{TRADES}/size\.npy: rule 'file size' broken"):
        open_dataset(ds, verify=False).columns(TRADES)


def test_finalized_recording_records_checksums(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    with writer.appender("trades", BTC, chunk_rows=2) as app:
        for i in range(5):
            app.append(ts_event=T0 + i, ts_recv=T0 + i, price=100 + i, size=1, aggressor=1, trade_id=i + 1)
        app.flush()
        assert app.info.files == ()  # chunks carry no checksums
    info = open_dataset(tmp_path / "ds", checksums=True).stream(TRADES)
    assert [c.file for c in info.files] == [f"{c}.npy" for c in ("ts_event", "ts_recv", "price", "size",
                                                                  "aggressor", "trade_id")]
    flip_byte(tmp_path / "ds", TRADES, "price", 1)
    with pytest.raises(DataError, match=r"price\.npy: rule 'checksum' broken"):
        open_dataset(tmp_path / "ds", checksums=True)


def test_writer_and_appender_refuse_what_the_reader_would_refuse(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    ts = T0 + np.arange(3, dtype=np.int64)
    with pytest.raises(DataError, match="trades row 1: price=0: prices must be positive"):
        writer.add_trades(BTC, ts_event=ts, price=np.array([5, 0, 5]), size=np.array([1, 1, 1]))
    with pytest.raises(DataError, match="trades row 2: size=0: a trade's size must be positive"):
        writer.add_trades(BTC, ts_event=ts, price=np.array([5, 5, 5]), size=np.array([1, 1, 0]))
    with pytest.raises(DataError, match="bars: row 1: bar opening at .* is before the previous bar's open"):
        writer.add_bars(BTC, ts_event=np.array([T0 + MIN, T0]), ts_recv=np.array([T0 + 2 * MIN, T0 + 2 * MIN + 1]),
                        open=[5, 5], high=[5, 5], low=[5, 5], close=[5, 5], volume=[0, 0], interval_ns=MIN)
    with pytest.raises(DataError, match="bars row 0: low=-1: prices must be positive"):
        writer.add_bars(BTC, ts_event=np.array([T0]), open=[5], high=[5], low=[-1], close=[5], volume=[0],
                        interval_ns=MIN)
    app = writer.appender("bars", BTC, interval_ns=MIN, chunk_rows=1)
    app.append(ts_event=T0, ts_recv=T0 + MIN, open=5, high=5, low=5, close=5, volume=0)
    app.append(ts_event=T0, ts_recv=T0 + MIN + 1, open=5, high=6, low=5, close=6, volume=1)  # the bar again, updated
    with pytest.raises(DataError, match="is before the previous bar's open"):
        app.append(ts_event=T0 - MIN, ts_recv=T0 + MIN + 2, open=5, high=5, low=5, close=5, volume=0)
    with pytest.raises(DataError, match="low=-1: prices must be positive"):
        app.append(ts_event=T0 + MIN, ts_recv=T0 + 2 * MIN, open=5, high=5, low=-1, close=-1, volume=0)
    app.finalize()
    assert open_dataset(tmp_path / "ds").stream(BARS).rows == 2


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="triotrade")
    add_data_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_cli_reports_corruption_in_one_line_with_exit_2(ds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("data", "verify", str(ds)) == 0
    out = capsys.readouterr().out
    assert f"{BARS}  7 files match their CRC-32" in out and f"{ds}: ok (2 streams)" in out
    flip_byte(ds, TRADES, "trade_id", 8)
    for command in ("info", "verify"):
        assert run_cli("data", command, str(ds)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"triotrade data {command}: error: {ds}/{TRADES}/trade_id.npy: rule 'checksum' broken")
        assert err.count("\n") == 1
    set_value(ds, BARS, "close", 2, -1)
    for command in ("info", "verify"):
        assert run_cli("data", command, str(ds)) == 2
        err = capsys.readouterr().err
        assert f"{BARS}/close.npy: rule 'prices must be positive' broken" in err and err.count("\n") == 1
