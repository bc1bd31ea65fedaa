"""The on-disk data set format: writer, chunked appender, memory-mapped reader, validation."""

from __future__ import annotations

import json
import zlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backtest.data import (
    SCHEMAS,
    DatasetWriter,
    default_stream_name,
    demo_dataset_path,
    format_interval,
    iter_book_events,
    open_dataset,
    parse_interval,
)
from engine import Bar, BookDelta, BookSnapshot, DataError, Instrument, Quote, Trade

BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.00001",
                 min_notional="10", maker_fee="0.0002", taker_fee="0.001")
ETH = Instrument(venue="sim", symbol="ETH/USD", base="ETH", quote="USD", tick_size="0.01", lot_size="0.0001")
T0 = 1_704_067_200_000_000_000
MIN = 60_000_000_000


@pytest.fixture(autouse=True)
def _verified_markers_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markers of verified data sets (see open_dataset) go to this test's directory, not the home cache."""
    monkeypatch.setenv("TRIOTRADE_CACHE_DIR", str(tmp_path / "cache"))


def bars_columns(n: int = 5) -> dict[str, np.ndarray]:
    opens = T0 + np.arange(n, dtype=np.int64) * MIN
    close = 4_200_000 + np.arange(n, dtype=np.int64) * 7
    return {"ts_event": opens, "open": close - 3, "high": close + 10, "low": close - 20, "close": close,
            "volume": np.full(n, 12_345, dtype=np.int64)}


def trades_columns(n: int = 6) -> dict[str, np.ndarray]:
    ts = T0 + np.arange(n, dtype=np.int64) * 1_000
    return {"ts_event": ts, "ts_recv": ts + 500, "price": 4_200_000 + np.arange(n, dtype=np.int64),
            "size": np.arange(1, n + 1, dtype=np.int64) * 10, "aggressor": np.array([1, -1, 0, 1, 1, -1][:n], np.int8),
            "trade_id": np.arange(100, 100 + n, dtype=np.int64)}


def book_columns() -> dict[str, np.ndarray]:
    """A snapshot (2 bids, 2 asks) then two deltas, levels deliberately out of order."""
    return {
        "ts_event": np.array([T0, T0 + 10, T0 + 20]),
        "ts_recv": np.array([T0 + 1, T0 + 11, T0 + 21]),
        "sequence": np.array([7, 8, 9]),
        "is_snapshot": np.array([1, 0, 0], np.int8),
        "count": np.array([4, 2, 1], np.int32),
        "lvl_side": np.array([-1, 1, -1, 1, 1, -1, -1], np.int8),
        "lvl_price": np.array([102, 99, 101, 100, 98, 101, 103]),
        "lvl_size": np.array([5, 6, 7, 8, 3, 0, 4]),
    }


def test_round_trip_every_kind(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC, ETH])
    bars = bars_columns()
    writer.add_bars(BTC, **bars, interval_ns=MIN, source="unit test")
    writer.add_trades(BTC, **trades_columns())
    quotes = {"ts_event": np.array([T0, T0 + 5]), "bid": np.array([100, 101]), "bid_size": np.array([3, 4]),
              "ask": np.array([102, 103]), "ask_size": np.array([5, 6])}
    writer.add_quotes(ETH, **quotes)
    writer.add_book(BTC, **book_columns())

    ds = open_dataset(tmp_path / "ds")
    assert set(ds.instruments) == {"sim:BTC/USD", "sim:ETH/USD"}
    assert ds.instruments["sim:BTC/USD"].to_dict() == BTC.to_dict()
    assert [s.name for s in ds.streams] == ["sim.BTC-USD.bars-1m", "sim.BTC-USD.trades", "sim.ETH-USD.quotes",
                                            "sim.BTC-USD.book"]
    info = ds.stream("sim.BTC-USD.bars-1m")
    assert (info.kind, info.rows, info.interval_ns, info.source) == ("bars", 5, MIN, "unit test")
    assert (info.start_ns, info.end_ns) == (T0, T0 + 5 * MIN)

    got = ds.columns("sim.BTC-USD.bars-1m")
    assert list(got) == list(SCHEMAS["bars"])
    for name, values in bars.items():
        np.testing.assert_array_equal(got[name], values)
    np.testing.assert_array_equal(got["ts_recv"], bars["ts_event"] + MIN)
    for name, values in trades_columns().items():
        np.testing.assert_array_equal(ds.columns("sim.BTC-USD.trades")[name], values)
    q = ds.columns("sim.ETH-USD.quotes")
    np.testing.assert_array_equal(q["ts_recv"], quotes["ts_event"])  # defaults to ts_event
    for kind, schema in SCHEMAS.items():
        for stream in ds.find(kind=kind):
            cols = ds.columns(stream.name)
            assert {n: c.dtype for n, c in cols.items()} == schema
            assert all(not c.flags.writeable for c in cols.values())


def test_columns_are_memory_mapped_files(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_trades(BTC, **trades_columns())
    col = open_dataset(tmp_path / "ds").columns("sim.BTC-USD.trades")["price"]
    base = col
    while base.base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, np.memmap)
    header = (tmp_path / "ds" / "sim.BTC-USD.trades" / "price.npy").read_bytes()[:80]
    assert b"'descr': '<i8'" in header


def test_meta_json_is_the_documented_shape(tmp_path: Path) -> None:
    DatasetWriter(tmp_path / "ds", [BTC]).add_bars(BTC, **bars_columns(), interval_ns=MIN)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["format"] == "triotrade-data" and meta["version"] == 1
    assert meta["instruments"] == {"sim:BTC/USD": BTC.to_dict()}
    files = meta["streams"][0].pop("files")
    assert meta["streams"] == [{"name": "sim.BTC-USD.bars-1m", "kind": "bars", "instrument": "sim:BTC/USD",
                                "rows": 5, "start_ns": T0, "end_ns": T0 + 5 * MIN, "interval_ns": MIN, "source": "",
                                "price_scale": 2, "size_scale": 5}]
    assert list(files) == [f"{c}.npy" for c in SCHEMAS["bars"]]
    for file, check in files.items():
        raw = (tmp_path / "ds" / "sim.BTC-USD.bars-1m" / file).read_bytes()
        assert check["bytes"] == len(raw) == 128 + 5 * 8
        assert check["crc32"] == f"{zlib.crc32(raw[128:]):08x}"  # the data after the 128-byte header


def test_writer_sorts_rows_by_ts_recv_keeping_ties_in_order(tmp_path: Path) -> None:
    cols = trades_columns()
    cols["ts_recv"] = np.array([5, 3, 5, 1, 3, 9]) + T0
    DatasetWriter(tmp_path / "ds", [BTC]).add_trades(BTC, **cols)
    got = open_dataset(tmp_path / "ds").columns("sim.BTC-USD.trades")
    np.testing.assert_array_equal(got["ts_recv"] - T0, [1, 3, 3, 5, 5, 9])
    np.testing.assert_array_equal(got["trade_id"], [103, 101, 104, 100, 102, 105])


def test_book_levels_are_laid_out_bids_then_asks(tmp_path: Path) -> None:
    cols = book_columns()
    # give the messages out of receive order: the writer must move their levels with them
    order = [1, 0, 2]
    counts = cols["count"]
    starts = np.cumsum(counts) - counts
    shuffled = {k: cols[k][order] for k in ("ts_event", "ts_recv", "sequence", "is_snapshot", "count")}
    shuffled["first"] = np.array([4, 0, 6])
    shuffled.update({k: cols[k] for k in ("lvl_side", "lvl_price", "lvl_size")})
    assert list(starts) == [0, 4, 6]
    DatasetWriter(tmp_path / "ds", [BTC]).add_book(BTC, **shuffled)
    got = open_dataset(tmp_path / "ds").columns("sim.BTC-USD.book")
    np.testing.assert_array_equal(got["sequence"], [7, 8, 9])
    np.testing.assert_array_equal(got["first"], [0, 4, 6])
    np.testing.assert_array_equal(got["lvl_side"], [1, 1, -1, -1, 1, -1, -1])
    np.testing.assert_array_equal(got["lvl_price"], [100, 99, 101, 102, 98, 101, 103])
    np.testing.assert_array_equal(got["lvl_size"], [8, 6, 7, 5, 3, 0, 4])


def test_iter_book_events_yields_engine_events(tmp_path: Path) -> None:
    DatasetWriter(tmp_path / "ds", [BTC]).add_book(BTC, **book_columns())
    ds = open_dataset(tmp_path / "ds")
    events = list(iter_book_events(ds, instrument=BTC))
    assert events == [
        BookSnapshot(BTC, T0, T0 + 1, 7, ((100, 8), (99, 6)), ((101, 7), (102, 5))),
        BookDelta(BTC, T0 + 10, T0 + 11, 8, ((98, 3),), ((101, 0),)),
        BookDelta(BTC, T0 + 20, T0 + 21, 9, (), ((103, 4),)),
    ]
    assert type(events[0]) is BookSnapshot and type(events[1]) is BookDelta
    # small batches give the same events
    assert list(iter_book_events(ds, "sim.BTC-USD.book", batch=1)) == events
    # a start inside the deltas begins at the snapshot before it; an end excludes later messages
    assert list(iter_book_events(ds, start_ns=T0 + 15)) == events
    assert list(iter_book_events(ds, end_ns=T0 + 21)) == events[:2]


def test_select_slices_by_receive_time(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_trades(BTC, **trades_columns())
    writer.add_book(BTC, **book_columns())
    ds = open_dataset(tmp_path / "ds")
    got = ds.select("trades", BTC, start_ns=T0 + 1_500, end_ns=T0 + 3_500)
    np.testing.assert_array_equal(got["ts_recv"] - T0, [1_500, 2_500])  # start inclusive, end exclusive
    assert got["price"].base is not None  # a view, not a copy
    assert len(ds.select("trades", "sim:BTC/USD")["price"]) == 6
    assert len(ds.select("trades", start_ns=T0 + 10**9)["price"]) == 0

    book = ds.select("book", start_ns=T0 + 5, end_ns=T0 + 30)
    np.testing.assert_array_equal(book["sequence"], [8, 9])
    np.testing.assert_array_equal(book["first"], [0, 2])
    np.testing.assert_array_equal(book["lvl_price"], [98, 101, 103])


def test_select_needs_one_stream(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_trades(BTC, **trades_columns())
    writer.add_trades(BTC, **trades_columns(), name="second")
    ds = open_dataset(tmp_path / "ds")
    with pytest.raises(DataError, match=r"several streams match trades \(sim.BTC-USD.trades, second\); name one with stream="):
        ds.select("trades")
    assert len(ds.select(stream="second")["price"]) == 6
    with pytest.raises(DataError, match="no stream matches quotes"):
        ds.select("quotes")
    with pytest.raises(DataError, match="unknown stream kind 'candles'"):
        ds.select("candles")
    with pytest.raises(DataError, match="no stream 'third'"):
        ds.columns("third")


# -- validation on open ---------------------------------------------------------------------------


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_trades(BTC, **trades_columns())
    writer.add_book(BTC, **book_columns())
    return tmp_path / "ds"


def edit_meta(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    meta = json.loads((path / "meta.json").read_text())
    change(meta)
    (path / "meta.json").write_text(json.dumps(meta))


def test_missing_meta(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no meta\.json here; not a triotrade data set"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DataError, match="no such data set directory"):
        open_dataset(tmp_path / "absent")


def test_meta_not_json(dataset_dir: Path) -> None:
    (dataset_dir / "meta.json").write_text("{not json")
    with pytest.raises(DataError, match=r"meta\.json: cannot read"):
        open_dataset(dataset_dir)


def test_wrong_format_and_version(dataset_dir: Path) -> None:
    edit_meta(dataset_dir, lambda m: m.update(version=2))
    with pytest.raises(DataError, match=r"meta\.json: unsupported version 2 \(this reader knows 1\)"):
        open_dataset(dataset_dir)
    edit_meta(dataset_dir, lambda m: m.update(format="other", version=1))
    with pytest.raises(DataError, match="not a triotrade-data file"):
        open_dataset(dataset_dir)


def test_unknown_kind(dataset_dir: Path) -> None:
    edit_meta(dataset_dir, lambda m: m["streams"][0].update(kind="candles"))
    with pytest.raises(DataError, match=r"stream 'sim.BTC-USD.trades': unknown kind 'candles' \(expected one of"):
        open_dataset(dataset_dir)


def test_undefined_instrument_and_bad_instrument(dataset_dir: Path) -> None:
    edit_meta(dataset_dir, lambda m: m["streams"][0].update(instrument="sim:XRP/USD"))
    with pytest.raises(DataError, match="instrument 'sim:XRP/USD' is not defined"):
        open_dataset(dataset_dir)
    edit_meta(dataset_dir, lambda m: m["instruments"]["sim:BTC/USD"].update(tick_size="-1"))
    with pytest.raises(DataError, match="instrument 'sim:BTC/USD': tick_size must be positive"):
        open_dataset(dataset_dir)


def test_row_count_mismatch_with_meta(dataset_dir: Path) -> None:
    edit_meta(dataset_dir, lambda m: m["streams"][0].update(rows=7))
    with pytest.raises(DataError, match=r"trades/ts_event\.npy: has 6 rows, meta\.json says 7"):
        open_dataset(dataset_dir)


def test_column_length_mismatch(dataset_dir: Path) -> None:
    np.save(dataset_dir / "sim.BTC-USD.trades" / "size.npy", np.arange(5, dtype=np.int64))
    with pytest.raises(DataError, match=r"size\.npy: has 5 rows, meta\.json says 6"):
        open_dataset(dataset_dir)


def test_missing_column_file(dataset_dir: Path) -> None:
    (dataset_dir / "sim.BTC-USD.trades" / "aggressor.npy").unlink()
    with pytest.raises(DataError, match=r"aggressor\.npy: column file is missing"):
        open_dataset(dataset_dir)


def test_wrong_dtype(dataset_dir: Path) -> None:
    np.save(dataset_dir / "sim.BTC-USD.trades" / "price.npy", np.arange(6, dtype=np.float64))
    with pytest.raises(DataError, match=r"price\.npy: dtype is <f8, the format says <i8"):
        open_dataset(dataset_dir)


def test_unsorted_ts_recv(dataset_dir: Path) -> None:
    np.save(dataset_dir / "sim.BTC-USD.trades" / "ts_recv.npy", np.array([1, 2, 3, 2, 5, 6], dtype=np.int64))
    with pytest.raises(DataError, match=r"ts_recv\.npy: rule 'ts_recv non-decreasing' broken: not sorted: row 3 \(2\) is before row 2 \(3\)"):
        open_dataset(dataset_dir)
    # without verify the problem surfaces on first use of the stream
    ds = open_dataset(dataset_dir, verify=False)
    with pytest.raises(DataError, match="not sorted"):
        ds.columns("sim.BTC-USD.trades")


def test_book_level_ranges(dataset_dir: Path) -> None:
    np.save(dataset_dir / "sim.BTC-USD.book" / "first.npy", np.array([0, 3, 6], dtype=np.int64))
    with pytest.raises(DataError, match="message 1 has first=3 count=2"):
        open_dataset(dataset_dir)


def test_not_a_npy_file(dataset_dir: Path) -> None:
    (dataset_dir / "sim.BTC-USD.trades" / "price.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"price\.npy: not a readable \.npy file"):
        open_dataset(dataset_dir)


# -- validation on write --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price": np.array([1.5] * 6)}, "trades column 'price': got float64 values; prices, sizes and times are scaled integers"),
        ({"price": [1, 2, 3, 4, 5, 2**63]}, r"trades column 'price': row 5: 9223372036854775808 does not fit int64"),
        ({"size": np.array([1, 2, 3, 4, 5, 2**63], dtype=np.uint64)}, "row 5: 9223372036854775808 does not fit int64"),
        ({"price": np.arange(5)}, "columns differ in length"),
        ({"aggressor": np.array([1, 2, 0, 0, 0, 0])}, "trades row 1: aggressor=2: aggressor is"),
        ({"size": np.array([1, -2, 3, 4, 5, 6])}, "trades row 1: size=-2: sizes cannot be negative"),
        ({"price": ["1", "2", "3", "4", "5", "6"]}, "row 0: '1' is not an integer"),
        ({"colour": np.arange(6)}, r"unknown columns \['colour'\]"),
    ],
)
def test_writer_refuses_bad_columns(tmp_path: Path, change: dict, message: str) -> None:
    cols = {**trades_columns(), **change}
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    with pytest.raises(DataError, match=message):
        writer.add_columns("trades", BTC, cols)
    assert open_dataset(tmp_path / "ds").streams == []  # nothing half-written


def test_writer_refuses_inconsistent_bars(tmp_path: Path) -> None:
    cols = bars_columns()
    cols["high"] = cols["high"].copy()
    cols["high"][2] = cols["close"][2] - 1
    with pytest.raises(DataError, match="bars row 2: high=.*: high is below open or close"):
        DatasetWriter(tmp_path / "ds", [BTC]).add_bars(BTC, **cols, interval_ns=MIN)
    with pytest.raises(DataError, match="bars need a positive interval_ns"):
        DatasetWriter(tmp_path / "ds2", [BTC]).add_columns("bars", BTC, bars_columns())


def test_writer_refuses_foreign_directory_and_conflicts(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="exists and is not a data set"):
        DatasetWriter(tmp_path / "other", [BTC])
    writer = DatasetWriter(tmp_path / "ds", [BTC])
    writer.add_trades(BTC, **trades_columns())
    with pytest.raises(DataError, match="stream 'sim.BTC-USD.trades' already exists"):
        writer.add_trades(BTC, **trades_columns())
    changed = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.1", lot_size="0.00001")
    with pytest.raises(DataError, match=r"sim:BTC/USD is already defined differently \(tick_size: '0.01' here, '0.1' given"):
        DatasetWriter(tmp_path / "ds", [changed])
    with pytest.raises(DataError, match="instrument 'sim:XRP/USD' is not defined"):
        writer.add_trades("sim:XRP/USD", **trades_columns())
    with pytest.raises(DataError, match="bad stream name"):
        writer.add_trades(BTC, **trades_columns(), name="../escape")


def test_reopening_adds_streams_to_an_existing_data_set(tmp_path: Path) -> None:
    DatasetWriter(tmp_path / "ds", [BTC]).add_trades(BTC, **trades_columns())
    DatasetWriter(tmp_path / "ds", [ETH]).add_bars(ETH, **bars_columns(), interval_ns=MIN)
    ds = open_dataset(tmp_path / "ds")
    assert [s.name for s in ds.streams] == ["sim.BTC-USD.trades", "sim.ETH-USD.bars-1m"]
    assert set(ds.instruments) == {BTC.key, ETH.key}


# -- chunked recording ----------------------------------------------------------------------------


def trade_rows(n: int, start: int = 0) -> list[dict[str, int]]:
    return [{"ts_event": T0 + i, "ts_recv": T0 + i + 3, "price": 4_200_000 + i, "size": 10 + i,
             "aggressor": 1 if i % 2 else -1, "trade_id": i} for i in range(start, start + n)]


def test_appender_flushes_chunks_readable_before_finalize(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC], durable=False)
    app = writer.appender("trades", BTC, chunk_rows=4)
    for row in trade_rows(10):
        app.append(**row)
    assert app.buffered_rows == 2
    ds = open_dataset(tmp_path / "ds")
    info = ds.stream("sim.BTC-USD.trades")
    assert (info.rows, info.chunks) == (8, 2)
    np.testing.assert_array_equal(ds.columns(info.name)["trade_id"], np.arange(8))
    assert sorted(p.name for p in (tmp_path / "ds" / info.name).iterdir())[:2] == ["aggressor.000000.npy",
                                                                                   "aggressor.000001.npy"]
    final = app.finalize()
    assert (final.rows, final.chunks, final.start_ns, final.end_ns) == (10, None, T0, T0 + 12)
    files = sorted(p.name for p in (tmp_path / "ds" / info.name).iterdir())
    assert files == sorted(f"{c}.npy" for c in SCHEMAS["trades"])
    got = open_dataset(tmp_path / "ds").columns(info.name)
    np.testing.assert_array_equal(got["price"], 4_200_000 + np.arange(10))
    np.testing.assert_array_equal(got["aggressor"], [-1, 1] * 5)
    assert app.finalize() == final  # idempotent
    with pytest.raises(DataError, match="is finalized"):
        app.append(**trade_rows(1, 10)[0])


def test_appender_refuses_bad_rows_and_keeps_nothing_of_them(tmp_path: Path) -> None:
    app = DatasetWriter(tmp_path / "ds", [BTC], durable=False).appender("trades", BTC)
    app.append(**trade_rows(1, 5)[0])
    with pytest.raises(DataError, match="ts_recv .* is before the previous row's"):
        app.append(**trade_rows(1, 0)[0])
    with pytest.raises(DataError, match="row 1: aggressor=3"):
        app.append(**{**trade_rows(1, 6)[0], "aggressor": 3})
    with pytest.raises(DataError, match="row 1: price=9223372036854775808 does not fit int64"):
        app.append(**{**trade_rows(1, 6)[0], "price": 2**63})
    with pytest.raises(DataError, match=r"missing columns \['trade_id'\]"):
        app.append(**{k: v for k, v in trade_rows(1, 6)[0].items() if k != "trade_id"})
    assert app.buffered_rows == 1
    assert app.finalize().rows == 1


def test_appender_takes_engine_events_and_book_messages(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC], durable=False)
    events = [
        BookSnapshot(BTC, T0, T0 + 1, 1, ((100, 8), (99, 6)), ((101, 7), (102, 5))),
        BookDelta(BTC, T0 + 2, T0 + 3, 2, ((99, 0),), ()),
        BookDelta(BTC, T0 + 4, T0 + 5, 3, ((100, 1), (98, 2)), ((101, 9),)),
    ]
    with writer.appender("book", BTC, chunk_rows=2) as book:
        for event in events:
            book.append_event(event)
    with writer.appender("trades", BTC) as trades:
        trades.append_event(Trade(BTC, T0, T0 + 1, 4_200_000, 5, -1, 77))
    with writer.appender("quotes", BTC) as quotes:
        quotes.append_event(Quote(BTC, T0, T0 + 1, 100, 1, 101, 2))
    with writer.appender("bars", BTC, interval_ns=MIN) as bars:
        bars.append_event(Bar(BTC, T0, T0 + MIN, 100, 110, 90, 105, 3))
        with pytest.raises(DataError, match="holds 1m bars, got a 5m bar"):
            bars.append_event(Bar(BTC, T0 + MIN, T0 + 2 * MIN, 100, 110, 90, 105, 3, 5 * MIN))
        with pytest.raises(DataError, match="holds bars, got Trade"):
            bars.append_event(Trade(BTC, T0, T0 + 1, 1, 1))
    ds = open_dataset(tmp_path / "ds")
    assert list(iter_book_events(ds, instrument=BTC)) == events
    assert ds.stream("sim.BTC-USD.book").levels == 8
    assert ds.columns("sim.BTC-USD.trades")["trade_id"].tolist() == [77]
    assert ds.columns("sim.BTC-USD.quotes")["ask_size"].tolist() == [2]
    assert ds.columns("sim.BTC-USD.bars-1m")["high"].tolist() == [110]
    with pytest.raises(DataError, match="records sim:BTC/USD, got sim:ETH/USD"):
        DatasetWriter(tmp_path / "ds").appender("trades", BTC, name="x").append_event(Trade(ETH, T0, T0, 1, 1))


def test_crash_mid_recording_leaves_what_was_flushed(tmp_path: Path) -> None:
    """A recorder process dies without finalizing: the data set holds every flushed chunk."""
    target = tmp_path / "ds"
    script = textwrap.dedent(f"""
        import os
        from backtest.data import DatasetWriter
        from engine import Instrument
        btc = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.00001")
        app = DatasetWriter({str(target)!r}, [btc]).appender("trades", btc, chunk_rows=1000)
        for i in range(2500):
            app.append(ts_event=i, ts_recv=i, price=100 + i, size=1, aggressor=1, trade_id=i)
        # leave a half-written chunk behind, as a kill during a flush would
        open({str(target / "sim.BTC-USD.trades" / "price.000002.npy.tmp")!r}, "wb").write(b"partial")
        os._exit(9)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert done.returncode == 9
    ds = open_dataset(target)
    info = ds.stream("sim.BTC-USD.trades")
    assert (info.rows, info.chunks) == (2000, 2)
    np.testing.assert_array_equal(ds.columns(info.name)["price"], 100 + np.arange(2000))
    # recovery: join the chunks into the single-file layout
    final = DatasetWriter(target).finalize_stream("sim.BTC-USD.trades")
    assert (final.rows, final.chunks) == (2000, None)
    assert sorted(p.name for p in (target / "sim.BTC-USD.trades").iterdir()) == sorted(
        f"{c}.npy" for c in SCHEMAS["trades"])
    np.testing.assert_array_equal(open_dataset(target).columns(info.name)["price"], 100 + np.arange(2000))


def test_chunk_written_but_not_named_in_meta_is_ignored(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC], durable=False)
    app = writer.appender("trades", BTC, chunk_rows=3)
    for row in trade_rows(3):
        app.append(**row)
    # a chunk whose meta update never happened (crash between the two)
    for column in SCHEMAS["trades"]:
        np.save(tmp_path / "ds" / "sim.BTC-USD.trades" / f"{column}.000001.npy", np.zeros(3, SCHEMAS["trades"][column]))
    assert open_dataset(tmp_path / "ds").stream("sim.BTC-USD.trades").rows == 3
    assert len(open_dataset(tmp_path / "ds").columns("sim.BTC-USD.trades")["price"]) == 3


def test_missing_chunk_is_reported(tmp_path: Path) -> None:
    app = DatasetWriter(tmp_path / "ds", [BTC], durable=False).appender("trades", BTC, chunk_rows=2)
    for row in trade_rows(4):
        app.append(**row)
    (tmp_path / "ds" / "sim.BTC-USD.trades" / "size.000001.npy").unlink()
    with pytest.raises(DataError, match=r"size\.000001\.npy: chunk file is missing"):
        open_dataset(tmp_path / "ds")


def test_leaving_with_block_on_error_keeps_the_rows(tmp_path: Path) -> None:
    writer = DatasetWriter(tmp_path / "ds", [BTC], durable=False)
    with pytest.raises(RuntimeError):
        with writer.appender("trades", BTC) as app:
            for row in trade_rows(5):
                app.append(**row)
            raise RuntimeError("recorder failed")
    info = open_dataset(tmp_path / "ds").stream("sim.BTC-USD.trades")
    assert (info.rows, info.chunks) == (5, 1)


# -- names and the demo ---------------------------------------------------------------------------


def test_interval_names() -> None:
    assert [format_interval(x) for x in (MIN, 3600 * 10**9, 86_400 * 10**9, 15 * 10**9, 250_000_000, 7)] == \
        ["1m", "1h", "1d", "15s", "250ms", "7ns"]
    assert parse_interval("5m") == 5 * MIN and parse_interval(" 1d ") == 86_400 * 10**9
    for bad in ("", "0m", "5 minutes", "m"):
        with pytest.raises(DataError, match="bad interval"):
            parse_interval(bad)
    assert default_stream_name("bars", "sim:BTC/USD", MIN) == "sim.BTC-USD.bars-1m"
    assert default_stream_name("book", "x:A B") == "x.A_B.book"


def test_demo_data_set_is_bundled_and_valid() -> None:
    path = demo_dataset_path()
    ds = open_dataset(path)
    assert {s.name for s in ds.streams} == {"sim.BTC-USD.bars-1m", "sim.ETH-USD.bars-1m", "sim.BTC-USD.trades",
                                            "sim.BTC-USD.quotes", "sim.BTC-USD.book"}
    assert ds.stream("sim.BTC-USD.bars-1m").rows == 20 * 1440
    assert all(s.chunks is None for s in ds.streams)
    assert sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) < 8 * 1024 * 1024
    # its meta.json records every column's size and CRC-32, and they match
    verified = open_dataset(path, checksums=True)
    assert all(len(s.files) == len(SCHEMAS[s.kind]) and s.price_scale is not None for s in verified.streams)
