"""CSV import of public kline and trade files, and the ``triotrade data`` commands."""

from __future__ import annotations

import argparse
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from backtest.csv_import import import_csv, read_klines, read_trades
from backtest.data import DatasetWriter, open_dataset
from backtest.data_cli import add_data_commands, format_time_ns
from engine import DataError, Instrument

KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore\n")
KLINES_MS = KLINE_HEADER + (
    "1704067200000,42283.58000000,42298.62000000,42283.57000000,42298.61000000,35.03439000,1704067259999,"
    "1481678.44,1000,20.0,800000.0,0\n"
    "1704067260000,42298.62000000,42320.00000000,42298.61000000,42320.00000000,21.70729000,1704067319999,"
    "918443.05,800,10.0,400000.0,0\n"
    "\n"
    "1704067320000,42319.99,42331.54,42319.99,42325.5,11.5,1704067379999,487000.4,500,5.0,200000.0,0\n"
)
# the same three bars in microseconds, no header, only the six required fields
KLINES_US = (
    "1704067200000000,42283.58,42298.62,42283.57,42298.61,35.03439\n"
    "1704067260000000,42298.62,42320.00,42298.61,42320.00,21.70729\n"
    "1704067320000000,42319.99,42331.54,42319.99,42325.50,11.50000\n"
)
TRADES = (
    "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n"
    "3355420151,42283.58000000,0.00100000,42.28358000,1704067200000,True,True\n"
    "3355420152,42283.59000000,0.02000000,845.67180000,1704067200001456,false,True\n"
    "3355420153,42283.6,0.0005,21.1418,1704067200002,FALSE\n"
    "3355420154,42283.50,1.5,63425.25,1704067200003,true,True\n"
)
T0 = 1_704_067_200_000_000_000
MIN = 60_000_000_000


@pytest.fixture(autouse=True)
def _verified_markers_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markers of verified data sets (see open_dataset) go to this test's directory, not the home cache."""
    monkeypatch.setenv("TRIOTRADE_CACHE_DIR", str(tmp_path / "cache"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def zipped(tmp_path: Path, name: str, members: dict[str, str]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


def test_klines_ms_with_header_exact(tmp_path: Path) -> None:
    parsed = read_klines([write(tmp_path, "k.csv", KLINES_MS)])
    assert (parsed.tick, parsed.lot, parsed.tick_inferred, parsed.lot_inferred) == (
        Decimal("0.01"), Decimal("0.00001"), True, True)
    assert parsed.interval_ns == MIN and parsed.rows == 3 and parsed.skipped == 0
    bars = parsed.columns
    assert bars["ts_event"].tolist() == [T0, T0 + MIN, T0 + 2 * MIN]
    assert bars["ts_recv"].tolist() == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    assert bars["open"].tolist() == [4_228_358, 4_229_862, 4_231_999]
    assert bars["high"].tolist() == [4_229_862, 4_232_000, 4_233_154]
    assert bars["low"].tolist() == [4_228_357, 4_229_861, 4_231_999]
    assert bars["close"].tolist() == [4_229_861, 4_232_000, 4_232_550]
    assert bars["volume"].tolist() == [3_503_439, 2_170_729, 1_150_000]


def test_klines_us_without_header_or_close_time_match_ms(tmp_path: Path) -> None:
    ms = read_klines([write(tmp_path, "k.csv", KLINES_MS)])
    us = read_klines([write(tmp_path, "u.csv", KLINES_US)])
    assert us.interval_ns == MIN  # from the step between opens
    for name in ms.columns:
        np.testing.assert_array_equal(us.columns[name], ms.columns[name])


def test_zip_with_one_csv(tmp_path: Path) -> None:
    archive = zipped(tmp_path, "BTCUSDT-1m-2024-01.zip", {"BTCUSDT-1m-2024-01.csv": KLINES_MS})
    parsed = read_klines([archive])
    assert parsed.rows == 3 and parsed.columns["close"][-1] == 4_232_550
    two = zipped(tmp_path, "two.zip", {"a.csv": KLINES_MS, "b.csv": KLINES_MS})
    with pytest.raises(DataError, match=r"two\.zip: a zip must hold exactly one CSV file; it holds a\.csv, b\.csv"):
        read_klines([two])


def test_trades_ms_and_us_and_aggressor(tmp_path: Path) -> None:
    parsed = read_trades([write(tmp_path, "t.csv", TRADES)])
    t = parsed.columns
    assert (parsed.tick, parsed.lot) == (Decimal("0.01"), Decimal("0.0001"))
    assert t["trade_id"].tolist() == [3355420151, 3355420152, 3355420153, 3355420154]
    assert t["price"].tolist() == [4_228_358, 4_228_359, 4_228_360, 4_228_350]
    assert t["size"].tolist() == [10, 200, 5, 15_000]
    assert t["ts_event"].tolist() == [T0, T0 + 1_456_000, T0 + 2_000_000, T0 + 3_000_000]
    assert t["aggressor"].tolist() == [-1, 1, 1, -1]  # buyer maker => a seller took
    np.testing.assert_array_equal(t["ts_recv"], t["ts_event"])


def test_inferred_scale_grows_across_chunks(tmp_path: Path) -> None:
    text = ("1,100,1,1,1704067200000,true\n2,100.5,2,1,1704067200001,true\n"
            "3,100.25,0.5,1,1704067200002,false\n4,123456789.123456789,0.001,1,1704067200003,false\n")
    parsed = read_trades([write(tmp_path, "t.csv", text)], chunk_lines=1)
    assert parsed.tick == Decimal("1E-9") and parsed.lot == Decimal("0.001")
    assert parsed.columns["price"].tolist() == [100 * 10**9, 100_500_000_000, 100_250_000_000, 123456789123456789]
    assert parsed.columns["size"].tolist() == [1_000, 2_000, 500, 1]


def test_given_tick_and_lot(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", TRADES)
    parsed = read_trades([path], tick="0.01", lot="0.00001")
    assert not parsed.tick_inferred and parsed.columns["size"].tolist() == [100, 2_000, 50, 150_000]
    with pytest.raises(DataError, match=r"t\.csv:2: price '42283.58000000' is not a multiple of the tick 0.25"):
        read_trades([path], tick="0.25")
    with pytest.raises(DataError, match=r"t\.csv:2: qty '0.00100000' is finer than the lot 0.01"):
        read_trades([path], lot="0.01")
    with pytest.raises(DataError, match="the tick must be positive"):
        read_trades([path], tick="0")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("5,42283.5x,0.1,1,1704067200004,true", r"t\.csv:7: price '42283.5x' is not a non-negative decimal number"),
        ("5,-1,0.1,1,1704067200004,true", r"t\.csv:7: price '-1' is not a non-negative decimal number"),
        ("5,1e5,0.1,1,1704067200004,true", r"price '1e5' is not a non-negative decimal number"),
        ("5,42283.5,0.1,1", r"t\.csv:7: has fewer than 6 fields"),
        ("5,42283.5,0.1,1,1704067200004,maybe", r"t\.csv:7: is_buyer_maker 'maybe' is not True or False"),
        ("5,42283.5,0.1,1,1704067,true", r"t\.csv:7: time '1704067' is too small for a ms, µs or ns epoch time"),
        ("x5,42283.5,0.1,1,1704067200004,true", r"t\.csv:7: id 'x5' is not a non-negative integer trade id"),
        ("5,99999999999999999999,0.1,1,1704067200004,true", r"price '99999999999999999999' is too large"),
        ("5,42283.5,0.1,1,99999999999999999999,true", r"time '99999999999999999999' is not an integer epoch time"),
        ("5,42283.5,0.\u0661,1,1704067200004,true", r"t\.csv:7: qty '0.\u0661' has non-ASCII characters"),
    ],
)
def test_bad_trade_rows_name_file_line_and_problem(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "t.csv", TRADES + "\n" + line + "\n")  # line 7: header, 4 rows, a blank line
    with pytest.raises(DataError, match=message):
        read_trades([path])
    parsed = read_trades([path], skip_bad=True)
    assert parsed.rows == 4 and parsed.skipped == 1 and len(parsed.problems) == 1
    assert parsed.problems[0].startswith(f"{path}:7: ")


def test_bad_kline_rows(tmp_path: Path) -> None:
    bad_high = KLINES_US + "1704067380000000,100,99,90,95,1\n"
    with pytest.raises(DataError, match=r"k\.csv:4: high '99' is below open or close"):
        read_klines([write(tmp_path, "k.csv", bad_high)])
    bad_low = KLINES_US + "1704067380000000,100,110,96,95,1\n"
    with pytest.raises(DataError, match=r"k\.csv:4: low '96' is above open or close"):
        read_klines([write(tmp_path, "k.csv", bad_low)])
    skipped = read_klines([write(tmp_path, "k.csv", bad_low + "oops\n" + bad_low.splitlines()[-1] + "\n")],
                          skip_bad=True)
    assert skipped.rows == 3 and skipped.skipped == 3
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in skipped.problems] == ["4", "5", "6"]


def test_duplicate_bars_across_files_and_out_of_order_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.csv", KLINES_US)
    later = write(tmp_path, "b.csv", "1704067380000000,1,2,1,2,3\n1704067440000000,2,2,1,1,3\n")
    parsed = read_klines([later, first])
    assert parsed.columns["ts_event"].tolist() == [T0 + k * MIN for k in range(5)]
    with pytest.raises(DataError, match=r"c\.csv:1: a bar opening at 1704067260000000000 ns is already at .*a\.csv:2"):
        read_klines([first, write(tmp_path, "c.csv", KLINES_US.splitlines()[1] + "\n"), later])
    with pytest.raises(DataError, match="pass the interval"):
        read_klines([write(tmp_path, "one.csv", KLINES_US.splitlines()[0] + "\n")])
    assert read_klines([write(tmp_path, "one.csv", KLINES_US.splitlines()[0] + "\n")], interval_ns=MIN).rows == 1


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no data rows"):
        read_trades([write(tmp_path, "e.csv", "id,price,qty,quote_qty,time,is_buyer_maker\n\n")])
    with pytest.raises(DataError, match=r"absent\.csv: no such file"):
        read_trades([tmp_path / "absent.csv"])
    (tmp_path / "latin.csv").write_bytes(b"1,1\xe9,1,1,1704067200000,true\n")
    with pytest.raises(DataError, match=r"latin\.csv: not UTF-8 text"):
        read_trades([tmp_path / "latin.csv"])


# -- into a data set ------------------------------------------------------------------------------


def test_import_creates_then_extends_a_data_set(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    result = import_csv(out, "klines", [write(tmp_path, "k.csv", KLINES_MS)], venue="ext", symbol="BTCUSDT",
                        base="BTC", quote="USDT")
    assert result.stream.name == "ext.BTCUSDT.bars-1m" and result.tick_inferred and result.lot_inferred
    inst = open_dataset(out).instruments["ext:BTCUSDT"]
    assert (inst.base, inst.quote, inst.tick_size, inst.lot_size) == ("BTC", "USDT", Decimal("0.01"), Decimal("0.00001"))
    # the second import reuses the instrument's tick and lot
    trades = import_csv(out, "trades", [write(tmp_path, "t.csv", TRADES)], venue="ext", symbol="BTCUSDT")
    assert not trades.tick_inferred and trades.stream.rows == 4
    ds = open_dataset(out)
    assert [s.name for s in ds.streams] == ["ext.BTCUSDT.bars-1m", "ext.BTCUSDT.trades"]
    assert ds.columns("ext.BTCUSDT.trades")["price"].tolist()[0] == 4_228_358
    with pytest.raises(DataError, match="ext:BTCUSDT has tick 0.01, not 0.1"):
        import_csv(out, "trades", [tmp_path / "t.csv"], venue="ext", symbol="BTCUSDT", tick="0.1")
    with pytest.raises(DataError, match="stream 'ext.BTCUSDT.trades' already exists"):
        import_csv(out, "trades", [tmp_path / "t.csv"], venue="ext", symbol="BTCUSDT")
    assert import_csv(out, "trades", [tmp_path / "t.csv"], venue="ext", symbol="BTCUSDT", name="again").stream.rows == 4


def test_import_into_an_existing_instrument_with_coarser_scale(tmp_path: Path) -> None:
    inst = Instrument(venue="ext", symbol="BTC/USDT", base="BTC", quote="USDT", tick_size="0.1", lot_size="0.001")
    DatasetWriter(tmp_path / "ds", [inst])
    with pytest.raises(DataError, match=r"t\.csv:2: price '42283.58000000' is finer than the tick 0.1"):
        import_csv(tmp_path / "ds", "trades", [write(tmp_path, "t.csv", TRADES)], venue="ext", symbol="BTC/USDT")


def test_import_needs_base_and_quote_for_a_glued_symbol_without_a_known_quote(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot tell the base and quote assets of 'FOOBAR'"):
        import_csv(tmp_path / "ds", "trades", [write(tmp_path, "t.csv", TRADES)], venue="ext", symbol="FOOBAR")
    assert not (tmp_path / "ds").exists()
    result = import_csv(tmp_path / "ds", "trades", [tmp_path / "t.csv"], venue="ext", symbol="FOOBAR", base="FOO")
    assert (result.instrument.base, result.instrument.quote) == ("FOO", "BAR")
    result = import_csv(tmp_path / "ds", "trades", [tmp_path / "t.csv"], venue="ext", symbol="BTC-USDT")
    assert (result.instrument.base, result.instrument.quote) == ("BTC", "USDT")


@pytest.mark.parametrize(("symbol", "base", "quote"), [
    ("BTCUSDT", "BTC", "USDT"), ("ETHBTC", "ETH", "BTC"), ("BTCFDUSD", "BTC", "FDUSD"), ("BNBUSD", "BNB", "USD"),
    ("ETHBUSD", "ETH", "BUSD"), ("SOLEUR", "SOL", "EUR"), ("dogeusdc", "doge", "usdc"), ("1000SHIBUSDT", "1000SHIB", "USDT"),
])
def test_glued_symbols_split_at_a_common_quote_asset(tmp_path: Path, symbol: str, base: str, quote: str) -> None:
    result = import_csv(tmp_path / "ds", "trades", [write(tmp_path, "t.csv", TRADES)], venue="binance", symbol=symbol)
    assert (result.instrument.base, result.instrument.quote) == (base, quote)


# -- command line ---------------------------------------------------------------------------------


@pytest.fixture
def cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triotrade")
    add_data_commands(parser.add_subparsers(dest="command"))
    return parser


def run(cli: argparse.ArgumentParser, *argv: str) -> int:
    args = cli.parse_args(list(argv))
    return int(args.func(args))


def test_cli_import_and_info(cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = zipped(tmp_path, "k.zip", {"k.csv": KLINES_MS})
    out = tmp_path / "ds"
    assert run(cli, "data", "import", "--kind", "klines", "--venue", "ext", "--symbol", "BTC/USDT",
               "--tick", "0.01", "--lot", "0.00001", "--interval", "1m", str(archive), "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "imported 3 bars 1m rows of ext:BTC/USDT (tick 0.01, lot 0.00001) as stream ext.BTC-USDT.bars-1m" in printed
    bad = write(tmp_path, "t.csv", TRADES + "5,oops,1,1,1704067200009,true\n")
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "ext", "--symbol", "BTC/USDT", "--skip-bad",
               str(bad), "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "imported 4 trades rows" in printed and "skipped 1 bad rows" in printed and "t.csv:6: price 'oops'" in printed

    assert run(cli, "data", "info", str(out)) == 0
    info = capsys.readouterr().out
    assert "ext:BTC/USDT  spot BTC/USDT  tick 0.01  lot 0.00001" in info
    assert "ext.BTC-USDT.bars-1m  bars 1m  ext:BTC/USDT  3 rows  2024-01-01T00:00:00Z .. 2024-01-01T00:03:00Z" in info
    assert "price 42,283.57 .. 42,331.54" in info
    assert "ext.BTC-USDT.trades  trades  ext:BTC/USDT  4 rows  2024-01-01T00:00:00Z .. 2024-01-01T00:00:00.003Z" in info


def test_cli_errors_are_one_line_and_exit_2(cli: argparse.ArgumentParser, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "t.csv", TRADES + "5,oops,1,1,1704067200009,true\n")
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "ext", "--symbol", "BTC/USDT",
               str(bad), "--out", str(tmp_path / "ds")) == 2
    err = capsys.readouterr().err
    assert err == f"triotrade data import: error: {bad}:6: price 'oops' is not a non-negative decimal number\n"
    assert not (tmp_path / "ds" / "meta.json").exists()  # nothing written on a failed parse
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "ext", "--symbol", "BTC/USDT",
               "--interval", "1m", str(bad), "--out", str(tmp_path / "ds")) == 2
    assert "--interval applies to klines only" in capsys.readouterr().err
    assert run(cli, "data", "info", str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such data set directory" in err and "Traceback" not in err
    assert run(cli, "data") == 2
    assert "usage: triotrade data" in capsys.readouterr().err


def test_format_time_ns() -> None:
    assert format_time_ns(T0) == "2024-01-01T00:00:00Z"
    assert format_time_ns(T0 + 1_500_000) == "2024-01-01T00:00:00.001Z"


def test_cli_import_sets_fees_and_min_notional_and_info_shows_them(
        cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    trades = write(tmp_path, "t.csv", TRADES)
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "binance", "--symbol", "BTCUSDT",
               "--maker-fee", "-0.0001", "--taker-fee", "0.001", "--min-notional", "5", str(trades),
               "--out", str(out)) == 0
    assert "binance:BTCUSDT: maker fee -0.0001  taker fee 0.001  min notional 5" in capsys.readouterr().out
    inst = open_dataset(out).instruments["binance:BTCUSDT"]
    assert (inst.maker_fee, inst.taker_fee, inst.min_notional) == (Decimal("-0.0001"), Decimal("0.001"), Decimal(5))
    assert (inst.base, inst.quote) == ("BTC", "USDT")
    assert run(cli, "data", "info", str(out)) == 0
    assert ("binance:BTCUSDT  spot BTC/USDT  tick 0.01  lot 0.0001  maker fee -0.0001  taker fee 0.001  "
            "min notional 5\n") in capsys.readouterr().out

    # the same terms again are fine, different ones are refused (the instrument is defined once)
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "binance", "--symbol", "BTCUSDT", "--name", "b",
               "--taker-fee", "0.001", str(trades), "--out", str(out)) == 0
    capsys.readouterr()
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "binance", "--symbol", "BTCUSDT", "--name", "c",
               "--taker-fee", "0.002", str(trades), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "binance:BTCUSDT has taker_fee 0.001, not 0.002" in err and err.count("\n") == 1


def test_cli_import_without_fees_says_fee_free(cli: argparse.ArgumentParser, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "ext", "--symbol", "BTC/USDT",
               str(write(tmp_path, "t.csv", TRADES)), "--out", str(out)) == 0
    assert "maker fee 0  taker fee 0 (fee-free: backtests pay no fees" in capsys.readouterr().out
    assert run(cli, "data", "info", str(out)) == 0
    assert "taker fee 0 (fee-free" in capsys.readouterr().out


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--taker-fee", "abc", "bad taker_fee 'abc'"),
    ("--maker-fee", "1.5", "bad maker_fee 1.5: is a rate (0.001 = 0.1 %), below 1"),
    ("--taker-fee", "NaN", "bad taker_fee"),
    ("--min-notional", "-1", "bad min_notional -1: must be 0 or more"),
])
def test_cli_import_refuses_bad_terms(cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      flag: str, value: str, message: str) -> None:
    assert run(cli, "data", "import", "--kind", "trades", "--venue", "ext", "--symbol", "BTC/USDT", flag, value,
               str(write(tmp_path, "t.csv", TRADES)), "--out", str(tmp_path / "ds")) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(("kind", "text", "message"), [
    ("trades", "1,0.00,0.1,0,1704067200000,true\n", r"t\.csv:1: price '0.00' is not positive"),
    ("trades", "1,5.5,0.000,0,1704067200000,true\n", r"t\.csv:1: qty '0.000' is not positive: a trade has a size"),
    ("trades", "1,5.5,1,0,99999999999999,true\n", r"t\.csv:1: time '99999999999999' is after 2262"),
    ("klines", "1704067200000,0,0,0,0,1\n1704067260000,1,1,1,1,1\n", r"t\.csv:1: open '0' is not positive"),
    ("klines", "1704067200000,1,1,1,1,1\n1704067230000,1,1,1,1,1\n1704067260000,1,1,1,1,1\n",
     r"t\.csv:2: a bar opening at 1704067230000000000 ns is less than one interval \(1m\) after the bar at .*t\.csv:1"),
    ("klines", "1704067200000,1,1,1,1,1\n", r"t\.csv: cannot infer the bar interval"),
])
def test_rows_the_data_set_would_refuse_are_named_by_file_and_line(tmp_path: Path, kind: str, text: str,
                                                                   message: str) -> None:
    csv_file = write(tmp_path, "t.csv", text)
    with pytest.raises(DataError, match=message):
        import_csv(tmp_path / "ds", kind, [csv_file], venue="ext", symbol="BTC/USDT", interval_ns=MIN
                   if "less than one interval" in message else None)
    assert not (tmp_path / "ds").exists()
