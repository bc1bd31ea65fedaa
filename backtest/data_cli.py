"""``triotrade data ...``: import public CSV data and inspect data sets from the command line.

:func:`add_data_commands` registers the ``data`` command group on the ``triotrade`` argparse
subparsers; each parser carries ``func=handler`` and a handler returns the process exit code.
Errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np

from engine import DataError, Instrument

from . import csv_import
from .data import Dataset, GapReport, StreamInfo, find_gaps, format_interval, open_dataset, parse_interval

__all__ = ["add_data_commands", "run_import", "run_info", "run_verify", "format_time_ns", "describe_dataset",
           "describe_terms", "describe_gaps", "format_duration_ns"]

EXIT_ERROR = 2


def add_data_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``data import`` and ``data info`` to ``subparsers`` (from ``parser.add_subparsers()``)."""
    data = subparsers.add_parser("data", help="recorded market data: import CSV files, inspect data sets",
                                 description="Recorded market data: import CSV files, inspect data sets.")
    data.set_defaults(func=lambda args: _usage(data))
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND")

    imp = commands.add_parser(
        "import", help="add kline or trade CSV files (or .zip) to a data set",
        description="Parse kline or trade CSV files (plain or a .zip holding one CSV) and add them as one "
                    "stream to a data set, creating it if needed. Decimals are parsed exactly; the tick and "
                    "lot are taken from the flags, the existing instrument, or inferred from the data.")
    imp.add_argument("--kind", required=True, choices=csv_import.KINDS, help="what the files hold")
    imp.add_argument("--venue", required=True, help="venue name of the instrument")
    imp.add_argument("--symbol", required=True, help="venue symbol, e.g. BTC/USD or BTCUSDT")
    imp.add_argument("--base", help="base asset (default: from the symbol: BTC/USD, BTC-USD, or BTCUSDT ending in "
                                    "a common quote asset)")
    imp.add_argument("--quote", help="quote asset (default: from the symbol, as for --base)")
    imp.add_argument("--tick", help="tick size (default: the instrument's, or inferred)")
    imp.add_argument("--lot", help="lot size (default: the instrument's, or inferred)")
    imp.add_argument("--maker-fee", metavar="RATE", help="maker fee rate of a new instrument, e.g. 0.001 for 0.1 %% "
                                                         "(negative: rebate; default 0)")
    imp.add_argument("--taker-fee", metavar="RATE", help="taker fee rate of a new instrument (default 0: fee-free)")
    imp.add_argument("--min-notional", metavar="VALUE", help="smallest order value in the quote asset (default 0)")
    imp.add_argument("--interval", help="bar interval for klines, e.g. 1m, 1h, 1d (default: from the data)")
    imp.add_argument("--name", help="stream name (default: venue.symbol.kind)")
    imp.add_argument("--skip-bad", action="store_true", help="skip and count bad rows instead of stopping")
    imp.add_argument("--append", action="store_true",
                     help="extend the stream if it exists (the rows must come after it in time), e.g. monthly files "
                          "one by one; without it an existing stream is an error")
    imp.add_argument("--out", required=True, metavar="DIR", help="data set directory")
    imp.add_argument("files", nargs="+", metavar="FILE", help="CSV or .zip files, in any order")
    imp.set_defaults(func=run_import)

    info = commands.add_parser("info", help="describe a data set",
                               description="Print a data set's instruments and streams: rows, time range (UTC) "
                                           "and price range.")
    info.add_argument("path", metavar="PATH", help="data set directory")
    info.set_defaults(func=run_info)

    verify = commands.add_parser(
        "verify", help="check a data set byte for byte against its recorded checksums",
        description="Open a data set with every check (sizes, dtypes, value rules, time order) and compare "
                    "each column file's CRC-32 with the one recorded in meta.json when it was written.")
    verify.add_argument("path", metavar="PATH", help="data set directory")
    verify.set_defaults(func=run_verify)
    return data  # type: ignore[no-any-return]


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_ERROR


def _fail(command: str, error: BaseException) -> int:
    print(f"triotrade data {command}: error: {error}", file=sys.stderr)
    return EXIT_ERROR


def run_import(args: argparse.Namespace) -> int:
    """Handler of ``triotrade data import``."""
    try:
        interval = parse_interval(args.interval) if args.interval else None
        if interval is not None and args.kind != "klines":
            raise DataError("--interval applies to klines only")
        terms = csv_import.InstrumentTerms.parse(args.maker_fee, args.taker_fee, args.min_notional)
        result = csv_import.import_csv(args.out, args.kind, args.files, venue=args.venue, symbol=args.symbol,
                                       base=args.base, quote=args.quote, tick=args.tick, lot=args.lot,
                                       interval_ns=interval, skip_bad=args.skip_bad, name=args.name, terms=terms,
                                       append=args.append)
    except (DataError, OSError) as e:
        return _fail("import", e)
    print(f"{csv_import.describe(result)} in {args.out}")
    print(f"  {result.instrument.key}: {describe_terms(result.instrument)}")
    if result.gaps is not None and result.gaps.count:
        print(f"  warning: {describe_gaps(result.stream, result.gaps)}")
    if result.skipped:
        print(f"skipped {result.skipped} bad rows, e.g.:")
        for problem in result.problems:
            print(f"  {problem}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Handler of ``triotrade data info``."""
    try:
        dataset = open_dataset(args.path)
        text = describe_dataset(dataset)
    except (DataError, OSError) as e:
        return _fail("info", e)
    print(text)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Handler of ``triotrade data verify``: every check of :func:`open_dataset` plus the checksums."""
    try:
        dataset = open_dataset(args.path, checksums=True)
    except (DataError, OSError) as e:
        return _fail("verify", e)
    for info in dataset.streams:
        if info.files:
            how = f"{len(info.files)} files match their CRC-32"
        elif info.chunks is not None:
            how = "recording in chunks: sizes and values checked (checksums are recorded on finalize)"
        else:
            how = "no checksums recorded (written by an older version): sizes and values checked"
        print(f"  {info.name}  {how}")
    print(f"{dataset.path}: ok ({len(dataset.streams)} streams)")
    return 0


def format_time_ns(ns: int) -> str:
    """ISO-8601 UTC, with milliseconds when they are not zero: ``2024-01-01T00:00:00Z``."""
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    millis = ns % 1_000_000_000 // 1_000_000
    return f"{moment}.{millis:03d}Z" if millis else f"{moment}Z"


def _stream_line(dataset: Dataset, info: StreamInfo) -> str:
    inst = dataset.instruments[info.instrument]
    kind = f"{info.kind} {format_interval(info.interval_ns)}" if info.interval_ns else info.kind
    unit = "messages" if info.kind == "book" else "rows"
    parts = [f"{info.name}", f"{kind}", info.instrument, f"{info.rows:,} {unit}"]
    if info.rows:
        parts.append(f"{format_time_ns(info.start_ns)} .. {format_time_ns(info.end_ns)}")
        cols = dataset.columns(info.name)
        low_high = {"bars": ("low", "high"), "trades": ("price", "price"), "quotes": ("bid", "ask")}.get(info.kind)
        if low_high:
            low, high = int(np.min(cols[low_high[0]])), int(np.max(cols[low_high[1]]))
            parts.append(f"price {inst.price_of(low):,} .. {inst.price_of(high):,}")
        if info.kind == "book":
            parts.append(f"{int(np.sum(cols['is_snapshot'])):,} snapshots, {info.levels:,} levels")
        parts.append(describe_gaps(info, find_gaps(info, cols)))
    if info.chunks is not None:
        parts.append(f"recording in {info.chunks} chunks, not finalized")
    if info.source:
        parts.append(f"source: {info.source}")
    return "  " + "  ".join(parts)


def format_duration_ns(ns: int) -> str:
    """A duration in days, hours, minutes and seconds: ``30d 22h``, ``44m``, ``1m 30s`` (below 1 s: ms)."""
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:g}ms"
    parts = []
    rest = ns // 1_000_000_000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return " ".join(parts)


def describe_gaps(info: StreamInfo, gaps: GapReport) -> str:
    """Holes in a stream in words: missing bars, or pauses of at least :data:`PAUSE_NS` between rows."""
    threshold = format_interval(gaps.threshold_ns)
    if info.kind == "bars":
        if not gaps.count:
            return "no gaps"
        what = f"{gaps.count:,} gap{'s' if gaps.count > 1 else ''}, {gaps.missing_bars:,} bars missing"
    else:
        if not gaps.count:
            return f"no pause of {threshold} or more"
        what = f"{gaps.count:,} pause{'s' if gaps.count > 1 else ''} of {threshold} or more"
    largest = gaps.largest
    assert largest is not None
    return (f"{what}; largest {format_duration_ns(largest.duration_ns)} from {format_time_ns(largest.after_ns)} "
            f"to {format_time_ns(largest.before_ns)}")


def describe_terms(inst: Instrument) -> str:
    """Fees and minimum order value of an instrument, saying so plainly when it trades fee-free."""
    fees = f"maker fee {inst.maker_fee}  taker fee {inst.taker_fee}"
    if inst.maker_fee == 0 and inst.taker_fee == 0:
        fees += " (fee-free: backtests pay no fees; set them with --maker-fee/--taker-fee on import)"
    return f"{fees}  min notional {inst.min_notional}"


def describe_dataset(dataset: Dataset) -> str:
    """The human-readable summary ``triotrade data info`` prints."""
    lines = [f"{dataset.path}  (triotrade-data v1)", "instruments:"]
    for key, inst in dataset.instruments.items():
        lines.append(f"  {key}  {inst.kind.value} {inst.base}/{inst.quote}  tick {inst.tick_size}  lot {inst.lot_size}  "
                     f"{describe_terms(inst)}")
    lines.append("streams:" if dataset.streams else "streams: none")
    lines.extend(_stream_line(dataset, info) for info in dataset.streams)
    return "\n".join(lines)
