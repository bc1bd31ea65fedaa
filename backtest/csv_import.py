"""Import public CSV market data (klines and trades) into a triotrade data set.

Formats (the layout of the public exchange data dumps, e.g. data.binance.vision)
================================================================================

klines
    ``open_time,open,high,low,close,volume[,close_time,quote_volume,count,taker_buy_volume,
    taker_buy_quote_volume,ignore]``: the first six fields are required, the rest are ignored
    (``close_time``, when present, gives the bar interval if ``interval`` is not passed).
trades
    ``id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]``: ``is_buyer_maker`` is
    ``True``/``False`` (any case); a buyer-maker trade was taken by a seller (aggressor -1),
    otherwise by a buyer (+1). ``quote_qty`` and ``is_best_match`` are ignored.

Times are integers since the epoch in milliseconds, microseconds or nanoseconds, told apart per
value by magnitude (>= 1e17 ns, >= 1e14 µs, >= 1e11 ms; smaller is an error), so files from
before and after a switch of unit import together. A first line that does not start with a number
is a header and is skipped; blank lines are skipped; extra fields are ignored. A ``.zip`` holding
exactly one CSV file (as the dumps are published) is read in place.

Numbers are parsed exactly: a decimal string becomes a scaled integer digit by digit, never via
float. The instrument's tick and lot either come from the caller (or the existing instrument in the
data set), and every price/size must then be a multiple of them, or are **inferred** as the finest
decimal place seen among the significant digits of prices (ticks) and sizes (lots): prices
``42000.10`` and ``42000.25`` give a tick of 0.01. An inferred tick is always a power of ten
no coarser than the real one, so no value is rounded; pass the venue's tick for its real grid.

Parsing is streamed in chunks of lines (numpy's C tokenizer, then vectorised digit parsing), so a
large file never becomes millions of Python objects; the parsed columns are held as int64 arrays
(about 60 bytes per row) until they are written. A bad row raises :class:`~engine.DataError`
naming the file, the line and the problem; with ``skip_bad`` bad rows are counted and skipped.
Bars land with ``ts_recv = open_time + interval``, trades with ``ts_recv = ts_event``.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from engine import DataError, Instrument
from engine import to_decimal, to_scaled

from .data import (
    Dataset,
    DatasetWriter,
    GapReport,
    StreamInfo,
    default_stream_name,
    find_gaps,
    format_interval,
    open_dataset,
)

__all__ = ["ImportResult", "ParsedCsv", "read_klines", "read_trades", "import_csv", "describe", "KINDS",
           "QUOTE_ASSETS", "InstrumentTerms"]

KINDS: Final = ("klines", "trades")
CHUNK_LINES: Final = 200_000
_MAX_PROBLEMS = 5
_INT64_MAX = 2**63 - 1
_POW10 = [10**k for k in range(19)]

Array = npt.NDArray[Any]


# ---------------------------------------------------------------------------------------------
# reading lines
# ---------------------------------------------------------------------------------------------


@contextmanager
def _open_text(path: Path) -> Iterator[tuple[str, io.TextIOBase]]:
    """Open a CSV file, or the one CSV inside a zip; yields (display name, text stream)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
                if len(members) != 1:
                    names = ", ".join(m.filename for m in members) or "nothing"
                    raise DataError(f"{path}: a zip must hold exactly one CSV file; it holds {names}")
                with archive.open(members[0]) as raw:
                    yield f"{path}:{members[0].filename}", io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        else:
            with open(path, encoding="utf-8-sig", newline="") as text:
                yield str(path), text
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text: {e}") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read: {e}") from None


def _is_header(line: str) -> bool:
    first = line.split(",", 1)[0].strip().strip('"').strip()
    return not re.fullmatch(r"-?\d+(\.\d*)?", first)


def _chunks(text: io.TextIOBase, required: int, wanted: int,
            chunk_lines: int) -> Iterator[tuple[Array, Array, Array]]:
    """Yield (fields [rows, width] of str, line numbers, too-short mask) per chunk of lines.

    Blank lines and a header line (a first line not starting with a number) are skipped. The width
    is ``wanted`` if the first data line has that many fields, else ``required``; a row with fewer
    fields than the width is too short.
    """
    line_no = 0
    width = 0
    while True:
        block = list(itertools.islice(text, chunk_lines))
        if not block:
            return
        lines: list[str] = []
        numbers: list[int] = []
        for line in block:
            line_no += 1
            if not line.strip():
                continue
            if not width:
                if _is_header(line):
                    continue
                fields = len(next(csv.reader([line])))
                width = wanted if fields >= wanted else required
            lines.append(line)
            numbers.append(line_no)
        if not lines:
            continue
        try:
            table = np.loadtxt(lines, dtype=str, delimiter=",", usecols=range(width), comments=None,
                               quotechar='"', ndmin=2)
            short = np.zeros(len(lines), dtype=bool)
        except ValueError:
            # some row is malformed: tokenize this chunk row by row to find which
            rows = list(csv.reader(lines))
            short = np.array([len(r) < width for r in rows])
            table = np.array([(r + [""] * width)[:width] for r in rows], dtype=str).reshape(len(rows), width)
        yield table, np.array(numbers, dtype=np.int64), short


# ---------------------------------------------------------------------------------------------
# vectorised field parsing
# ---------------------------------------------------------------------------------------------


class _Problems:
    """The first problem of each row of a chunk, as a code into a table of (column, text)."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, dtype=np.int16)
        self.kinds: list[tuple[str, str]] = [("", "")]

    def mark(self, mask: Array, column: str, text: str) -> None:
        fresh = mask & (self.code == 0)
        if fresh.any():
            self.kinds.append((column, text))
            self.code[fresh] = len(self.kinds) - 1

    @property
    def bad(self) -> Array:
        bad: Array = self.code != 0
        return bad

    def message(self, i: int, raw: dict[str, Array], where: str) -> str:
        column, text = self.kinds[int(self.code[i])]
        if column in raw:
            return f"{where}: {column} {str(raw[column][i])!r} {text}"
        return f"{where}: {text}"


def _to_int(strings: Array) -> Array:
    """int64 values of strings of at most 19 ASCII digits (checked by the caller), without Python ints.

    Reads the UCS-4 code points as a [rows, width] matrix and accumulates digit by digit (Horner),
    which is several times faster than ``astype(int64)`` on strings.
    """
    text = np.ascontiguousarray(strings, dtype=np.str_)
    width = text.dtype.itemsize // 4
    values = np.zeros(text.shape[0], dtype=np.int64)
    if not width or not text.shape[0]:
        return values
    digits = text.view(np.uint32).reshape(text.shape[0], width).astype(np.int64) - ord("0")
    length = np.strings.str_len(text)
    for k in range(width):
        values = np.where(k < length, values * 10 + digits[:, k], values)
    return values


def _non_ascii(strings: Array) -> Array:
    text = np.ascontiguousarray(strings, dtype=np.str_)
    width = text.dtype.itemsize // 4
    if not width or not text.shape[0]:
        return np.zeros(text.shape[0], dtype=bool)
    found: Array = text.view(np.uint32).reshape(text.shape[0], width).max(axis=1) > 127
    return found


def _int_field(strings: Array, problems: _Problems, column: str, what: str) -> Array:
    """Non-negative int64 values of digit strings; other rows are marked and read as 0."""
    length = np.strings.str_len(strings)
    ok = np.strings.isdecimal(strings) & ((length < 19) | ((length == 19) & (strings <= str(_INT64_MAX))))
    problems.mark(~ok, column, f"is not {what}")
    return _to_int(np.where(ok, strings, "0"))


def _times(strings: Array, problems: _Problems, column: str) -> Array:
    """Epoch times in ms, µs or ns (by magnitude) as ns."""
    value = _int_field(strings, problems, column, "an integer epoch time")
    problems.mark(value < 10**11, column, "is too small for a ms, µs or ns epoch time")
    scale = np.where(value >= 10**17, 1, np.where(value >= 10**14, 1_000, 1_000_000))
    problems.mark(value > _INT64_MAX // scale, column, "is after 2262: does not fit int64 nanoseconds")
    ns: Array = np.where(value > _INT64_MAX // scale, 0, value) * scale
    return ns


@attrs.define
class _DecimalGroup:
    """Columns sharing one scale (all prices, or all sizes), parsed chunk by chunk.

    With a given step, values must have no more decimals than the step's and be multiples of it.
    Without one the scale is the most decimal places seen so far (trailing zeros do not count);
    chunks parsed before the scale grew are rescaled in :meth:`finish`.
    """

    label: str
    "``tick`` or ``lot``."
    step: Decimal | None
    "The given tick/lot, or None to infer it."
    scale: int = 0
    parts: list[tuple[int, dict[str, Array]]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        if self.step is not None:
            exponent = self.step.normalize().as_tuple().exponent
            assert isinstance(exponent, int)
            self.scale = max(0, -exponent)

    def parse(self, raw: dict[str, Array], columns: Sequence[str], problems: _Problems) -> dict[str, Array]:
        split = {}
        for column in columns:
            strings = raw[column]
            whole, _, fraction = np.strings.partition(strings, ".")
            ok = (np.strings.isdecimal(whole) | (whole == "")) & (np.strings.isdecimal(fraction) | (fraction == ""))
            ok &= (whole != "") | (fraction != "")
            problems.mark(~ok, column, "is not a non-negative decimal number")
            whole = np.strings.lstrip(whole, "0")
            fraction = np.strings.rstrip(fraction, "0")
            places = np.strings.str_len(fraction)
            problems.mark(np.strings.str_len(whole) > 18, column, "is too large")
            problems.mark(places > 18, column, "has more than 18 decimal places")
            split[column] = (whole, fraction, places)
        if self.step is None:
            usable = ~problems.bad
            if usable.any():
                self.scale = max([self.scale] + [int(split[c][2][usable].max()) for c in columns])
        else:
            for column in columns:
                problems.mark(split[column][2] > self.scale, column, f"is finer than the {self.label} {self.step}")
        step_raw = to_scaled(self.step, self.scale) if self.step is not None else 1
        out = {}
        for column in columns:
            whole, fraction, _ = split[column]
            usable = ~problems.bad
            w = _to_int(np.where(usable, whole, ""))
            f = np.zeros_like(w)
            if self.scale:
                f = _to_int(np.where(usable, np.strings.ljust(fraction, self.scale, "0"), ""))
            overflow = usable & (w > (_INT64_MAX - f) // _POW10[self.scale])
            problems.mark(overflow, column, "does not fit a 64-bit scaled integer")
            values = np.where(overflow, 0, w) * _POW10[self.scale] + np.where(overflow, 0, f)
            if step_raw != 1:
                problems.mark(values % step_raw != 0, column, f"is not a multiple of the {self.label} {self.step}")
            out[column] = values
        return out

    def keep(self, columns: dict[str, Array]) -> None:
        self.parts.append((self.scale, columns))

    def finish(self, where: Any) -> dict[str, Array]:
        """The kept chunks concatenated at the final scale. ``where(i)`` names row ``i``."""
        out = {}
        for column in (self.parts[0][1] if self.parts else {}):
            pieces = []
            offset = 0
            for scale, cols in self.parts:
                values = cols[column]
                factor = _POW10[self.scale - scale]
                if factor != 1:
                    too_big = values > _INT64_MAX // factor
                    if too_big.any():
                        i = offset + int(np.flatnonzero(too_big)[0])
                        raise DataError(f"{where(i)}: {column} does not fit a 64-bit integer with "
                                        f"{self.scale} decimal places")
                    values = values * factor
                pieces.append(values)
                offset += values.shape[0]
            out[column] = np.concatenate(pieces)
        return out

    @property
    def step_value(self) -> Decimal:
        return self.step if self.step is not None else Decimal(1).scaleb(-self.scale)


# ---------------------------------------------------------------------------------------------
# files → columns
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class ParsedCsv:
    """What the CSV files held: scaled-integer columns, and how they were scaled."""

    kind: str
    "``klines`` or ``trades``."
    columns: dict[str, Array]
    "Columns in the data-set layout of ``bars`` or ``trades``."
    tick: Decimal
    "Tick that scaled the prices (given or inferred)."
    lot: Decimal
    "Lot that scaled the sizes (given or inferred)."
    tick_inferred: bool
    lot_inferred: bool
    interval_ns: int | None
    "Bar interval (klines only)."
    rows: int
    "Rows kept."
    skipped: int
    "Bad rows skipped (only with ``skip_bad``)."
    problems: tuple[str, ...]
    "What was wrong with the first few skipped rows (``file:line: problem``)."


_FIELDS: Final = {
    "klines": ("open_time", "open", "high", "low", "close", "volume", "close_time"),
    "trades": ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
}


def _parse_chunk(kind: str, raw: dict[str, Array], prices: _DecimalGroup, sizes: _DecimalGroup,
                 problems: _Problems) -> tuple[dict[str, Array], dict[str, Array], dict[str, Array]]:
    other: dict[str, Array] = {}
    if kind == "klines":
        other["ts_event"] = _times(raw["open_time"], problems, "open_time")
        if "close_time" in raw:
            other["close_time"] = _times(raw["close_time"], problems, "close_time")
        price_cols = prices.parse(raw, ("open", "high", "low", "close"), problems)
        size_cols = sizes.parse(raw, ("volume",), problems)
        o, h, lo, c = (price_cols[k] for k in ("open", "high", "low", "close"))
        for column in ("open", "high", "low", "close"):
            problems.mark(price_cols[column] == 0, column, "is not positive")
        problems.mark(h < np.maximum(o, c), "high", "is below open or close")
        problems.mark(lo > np.minimum(o, c), "low", "is above open or close")
    else:
        other["trade_id"] = _int_field(raw["id"], problems, "id", "a non-negative integer trade id")
        price_cols = prices.parse(raw, ("price",), problems)
        size_cols = sizes.parse(raw, ("qty",), problems)
        problems.mark(price_cols["price"] == 0, "price", "is not positive")
        problems.mark(size_cols["qty"] == 0, "qty", "is not positive: a trade has a size")
        other["ts_event"] = _times(raw["time"], problems, "time")
        maker = np.strings.lower(raw["is_buyer_maker"])
        problems.mark((maker != "true") & (maker != "false"), "is_buyer_maker", "is not True or False")
        other["aggressor"] = np.where(maker == "true", -1, 1).astype(np.int8)  # buyer maker: a seller took
    return price_cols, size_cols, other


def _read(kind: str, paths: Sequence[str | os.PathLike[str]], *, tick: Decimal | str | None,
          lot: Decimal | str | None, skip_bad: bool, chunk_lines: int) -> tuple[ParsedCsv, dict[str, Array], Any]:
    if not paths:
        raise DataError("no input files")
    fields = _FIELDS[kind]
    prices = _DecimalGroup("tick", None if tick is None else _positive_step(tick, "tick"))
    sizes = _DecimalGroup("lot", None if lot is None else _positive_step(lot, "lot"))
    other: dict[str, list[Array]] = {}
    line_parts: list[Array] = []
    files: list[Array] = []
    names: list[str] = []
    skipped = 0
    problems_seen: list[str] = []
    for file_index, path in enumerate(paths):
        with _open_text(Path(path)) as (name, text):
            names.append(name)
            for table, numbers, short in _chunks(text, 6, len(fields), chunk_lines):
                problems = _Problems(table.shape[0])
                problems.mark(short, "", f"has fewer than {table.shape[1]} fields")
                raw = {f: np.strings.strip(np.strings.strip(table[:, k]), '"') for k, f in enumerate(fields[:table.shape[1]])}
                for column, strings in raw.items():  # numbers are ASCII: other digits are refused
                    problems.mark(_non_ascii(strings), column, "has non-ASCII characters")
                price_cols, size_cols, extra = _parse_chunk(kind, raw, prices, sizes, problems)
                bad = np.flatnonzero(problems.bad)
                if bad.size:
                    if not skip_bad:
                        raise DataError(problems.message(int(bad[0]), raw, f"{name}:{int(numbers[bad[0]])}"))
                    for i in bad[: max(0, _MAX_PROBLEMS - len(problems_seen))]:
                        problems_seen.append(problems.message(int(i), raw, f"{name}:{int(numbers[i])}"))
                    skipped += int(bad.size)
                keep = ~problems.bad
                prices.keep({k: v[keep] for k, v in price_cols.items()})
                sizes.keep({k: v[keep] for k, v in size_cols.items()})
                for k, v in extra.items():
                    other.setdefault(k, []).append(v[keep])
                line_parts.append(numbers[keep])
                files.append(np.full(int(keep.sum()), file_index, dtype=np.int32))
    line_of = np.concatenate(line_parts) if line_parts else np.zeros(0, np.int64)
    file_of = np.concatenate(files) if files else np.zeros(0, np.int32)
    if not line_of.size:
        raise DataError(f"{', '.join(names)}: no data rows" + (f" ({skipped} bad rows skipped)" if skipped else ""))

    def where(i: int) -> str:
        return f"{names[int(file_of[i])]}:{int(line_of[i])}"

    columns = {**prices.finish(where), **sizes.finish(where)}
    for k, parts in other.items():
        if sum(part.shape[0] for part in parts) == line_of.size:  # close_time only when every file had it
            columns[k] = np.concatenate(parts)
    parsed = ParsedCsv(kind=kind, columns={}, tick=prices.step_value, lot=sizes.step_value,
                       tick_inferred=prices.step is None, lot_inferred=sizes.step is None, interval_ns=None,
                       rows=int(line_of.size), skipped=skipped, problems=tuple(problems_seen))
    return parsed, columns, where


def _positive_step(value: Decimal | str, label: str) -> Decimal:
    try:
        step = to_decimal(value)
    except (TypeError, ValueError) as e:
        raise DataError(f"bad {label} {value!r}: {e}") from None
    if step <= 0:
        raise DataError(f"the {label} must be positive, got {value}")
    return step


def read_klines(paths: Sequence[str | os.PathLike[str]], *, tick: Decimal | str | None = None,
                lot: Decimal | str | None = None, interval_ns: int | None = None, skip_bad: bool = False,
                chunk_lines: int = CHUNK_LINES) -> ParsedCsv:
    """Parse kline CSV/zip files into bar columns sorted by open time.

    Without ``interval_ns`` the interval is ``close_time - open_time`` rounded up to whole seconds
    (close_time is one ms/µs before the next open), or else the most common step between opens.
    Two bars with the same open time are an error.
    """
    parsed, cols, where = _read("klines", paths, tick=tick, lot=lot, skip_bad=skip_bad, chunk_lines=chunk_lines)
    opens = cols["ts_event"]
    files = ", ".join(str(p) for p in paths)
    try:
        interval = interval_ns if interval_ns is not None else _infer_interval(opens, cols.get("close_time"))
    except DataError as e:
        raise DataError(f"{files}: {e}") from None
    if interval <= 0:
        raise DataError(f"{files}: the bar interval must be positive")
    order = np.argsort(opens, kind="stable")
    opens = opens[order]
    dup = np.flatnonzero(opens[1:] == opens[:-1])
    if dup.size:
        a, b = int(order[dup[0]]), int(order[dup[0] + 1])
        raise DataError(f"{where(b)}: a bar opening at {int(opens[dup[0]])} ns is already at {where(a)}")
    close = np.flatnonzero(opens[1:] - opens[:-1] < interval)
    if close.size:
        a, b = int(order[close[0]]), int(order[close[0] + 1])
        raise DataError(f"{where(b)}: a bar opening at {int(opens[close[0] + 1])} ns is less than one interval "
                        f"({format_interval(interval)}) after the bar at {where(a)}")
    late = np.flatnonzero(opens > _INT64_MAX - interval)
    if late.size:
        raise DataError(f"{where(int(order[late[0]]))}: the bar's close time does not fit int64 nanoseconds")
    bars = {"ts_event": opens, "ts_recv": opens + interval}
    bars.update({k: cols[k][order] for k in ("open", "high", "low", "close", "volume")})
    return attrs.evolve(parsed, columns=bars, interval_ns=interval)


def _infer_interval(opens: Array, closes: Array | None) -> int:
    if closes is not None:
        candidates = -(-(closes - opens) // 1_000_000_000) * 1_000_000_000
    else:
        candidates = np.diff(np.sort(opens))
    candidates = candidates[candidates > 0]
    if not candidates.size:
        raise DataError("cannot infer the bar interval (one bar and no close_time); pass the interval")
    values, counts = np.unique(candidates, return_counts=True)
    return int(values[np.argmax(counts)])


def read_trades(paths: Sequence[str | os.PathLike[str]], *, tick: Decimal | str | None = None,
                lot: Decimal | str | None = None, skip_bad: bool = False, chunk_lines: int = CHUNK_LINES) -> ParsedCsv:
    """Parse trade CSV/zip files into trade columns (file order; the writer sorts by receive time)."""
    parsed, cols, _ = _read("trades", paths, tick=tick, lot=lot, skip_bad=skip_bad, chunk_lines=chunk_lines)
    trades = {"ts_event": cols["ts_event"], "ts_recv": cols["ts_event"], "price": cols["price"],
              "size": cols["qty"], "aggressor": cols["aggressor"], "trade_id": cols["trade_id"]}
    return attrs.evolve(parsed, columns=trades)


# ---------------------------------------------------------------------------------------------
# into a data set
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class InstrumentTerms:
    """Trading terms of an imported instrument that the CSV files do not hold (None = not given)."""

    maker_fee: Decimal | None = None
    "Maker fee rate (0.001 = 0.1 %; negative is a rebate)."
    taker_fee: Decimal | None = None
    "Taker fee rate."
    min_notional: Decimal | None = None
    "Smallest order value in the quote asset."

    @classmethod
    def parse(cls, maker_fee: Decimal | str | None = None, taker_fee: Decimal | str | None = None,
              min_notional: Decimal | str | None = None) -> InstrumentTerms:
        """Exact decimals from flags or arguments; a fee must be below 1 in size, min_notional >= 0."""
        values: dict[str, Decimal | None] = {}
        for label, value in (("maker_fee", maker_fee), ("taker_fee", taker_fee), ("min_notional", min_notional)):
            if value is None:
                values[label] = None
                continue
            try:
                number = to_decimal(value)
            except (TypeError, ValueError, ArithmeticError) as e:
                raise DataError(f"bad {label} {value!r}: {e}") from None
            if not number.is_finite() or (label == "min_notional" and number < 0) or \
                    (label != "min_notional" and abs(number) >= 1):
                limit = "must be 0 or more" if label == "min_notional" else "is a rate (0.001 = 0.1 %), below 1"
                raise DataError(f"bad {label} {value}: {limit}")
            values[label] = number
        return cls(**values)

    def given(self) -> dict[str, Decimal]:
        """The terms that were given, by :class:`engine.Instrument` field name."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen
class ImportResult:
    """What :func:`import_csv` wrote."""

    stream: StreamInfo
    instrument: Instrument
    tick_inferred: bool
    lot_inferred: bool
    skipped: int
    problems: tuple[str, ...]
    appended: int = 0
    "Rows added to an existing stream (0 when the stream is new)."
    gaps: GapReport | None = None
    "Holes in the stream as it now is: missing bars, or long pauses between trades."


QUOTE_ASSETS: Final = (
    "USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "USDE", "DAI", "USD", "EUR", "GBP", "JPY", "AUD", "TRY",
    "BRL", "ARS", "MXN", "ZAR", "PLN", "RON", "UAH", "IDR", "BIDR", "IDRT", "BTC", "ETH", "BNB",
)
"Assets a glued symbol such as ``BTCUSDT`` may end in (the common quote assets of the public dumps)."


def _split_glued(symbol: str) -> tuple[str, str] | None:
    """``BTCUSDT`` → ``("BTC", "USDT")`` by a known quote asset at the end, or None.

    Of several matches the one whose base is itself a known asset wins (``BNBUSD`` is BNB/USD,
    not BN/BUSD), then the longest quote (``BTCFDUSD`` is BTC/FDUSD).
    """
    upper = symbol.upper()
    splits = [(symbol[:-len(q)], symbol[-len(q):]) for q in QUOTE_ASSETS if upper.endswith(q) and len(upper) > len(q)]
    if not splits:
        return None
    splits.sort(key=lambda bq: (bq[0].upper() not in QUOTE_ASSETS, -len(bq[1])))
    return splits[0]


def _base_quote(symbol: str, base: str | None, quote: str | None) -> tuple[str, str]:
    if base and quote:
        return base, quote
    parts = re.split(r"[/\-_]", symbol)
    if len(parts) == 2 and all(parts):
        return base or parts[0], quote or parts[1]
    if len(parts) == 1:
        if base and symbol.upper().startswith(base.upper()) and len(symbol) > len(base):
            return base, symbol[len(base):]
        if quote and symbol.upper().endswith(quote.upper()) and len(symbol) > len(quote):
            return symbol[:-len(quote)], quote
        glued = _split_glued(symbol)
        if glued is not None and not base and not quote:
            return glued
    raise DataError(f"cannot tell the base and quote assets of {symbol!r}; pass base and quote (--base, --quote)")


def import_csv(dataset: str | os.PathLike[str], kind: str, paths: Sequence[str | os.PathLike[str]], *,
               venue: str, symbol: str, base: str | None = None, quote: str | None = None,
               tick: Decimal | str | None = None, lot: Decimal | str | None = None, interval_ns: int | None = None,
               skip_bad: bool = False, name: str | None = None, source: str | None = None,
               terms: InstrumentTerms | None = None, append: bool = False, durable: bool = True) -> ImportResult:
    """Parse ``paths`` and add them as one stream to the data set at ``dataset`` (created if new).

    If the data set already defines ``venue:symbol``, its tick and lot scale the values (``tick`` /
    ``lot`` and ``terms`` must then agree with it); otherwise the instrument is created from the
    arguments, with tick and lot inferred when not given and fees / min notional from ``terms``
    (0 when not given: a backtest on it is then fee-free).

    With ``append`` the rows extend the stream of that name if it exists (they must come after it
    in time: see :meth:`DatasetWriter.append_columns`), so monthly files can be imported one by
    one; klines then default to the stream's interval. ``durable=False`` skips the fsyncs (for
    scratch data sets).
    """
    if kind not in KINDS:
        raise DataError(f"unknown CSV kind {kind!r} (expected one of {', '.join(KINDS)})")
    root = Path(dataset)
    key = f"{venue}:{symbol}"
    terms = terms or InstrumentTerms()
    current = open_dataset(root, verify=False) if (root / "meta.json").is_file() else None
    existing = current.instruments.get(key) if current is not None else None
    if existing is not None:
        _check_agrees(root, existing, tick, lot, terms)
        tick, lot = existing.tick_size, existing.lot_size
    target = _append_target(current, kind, key, name, interval_ns) if append and current is not None else None
    if target is not None and kind == "klines":
        if interval_ns is not None and interval_ns != target.interval_ns:
            raise DataError(f"{root}: stream {target.name!r} holds {format_interval(target.interval_ns or 0)} bars, "
                            f"not {format_interval(interval_ns)}")
        interval_ns = target.interval_ns
    if kind == "klines":
        parsed = read_klines(paths, tick=tick, lot=lot, interval_ns=interval_ns, skip_bad=skip_bad)
    else:
        parsed = read_trades(paths, tick=tick, lot=lot, skip_bad=skip_bad)
    if existing is not None:
        instrument = existing
    else:
        base_asset, quote_asset = _base_quote(symbol, base, quote)
        instrument = Instrument(venue=venue, symbol=symbol, base=base_asset, quote=quote_asset,
                                tick_size=parsed.tick, lot_size=parsed.lot,
                                maker_fee=_or_zero(terms.maker_fee), taker_fee=_or_zero(terms.taker_fee),
                                min_notional=_or_zero(terms.min_notional))
    writer = DatasetWriter(root, [instrument], durable=durable)
    info = _write_stream(writer, instrument, parsed, target, name, source, [Path(p).name for p in paths])
    gaps = find_gaps(info, writer.dataset(verify=False).columns(info.name))
    return ImportResult(stream=info, instrument=instrument, tick_inferred=parsed.tick_inferred and existing is None,
                        lot_inferred=parsed.lot_inferred and existing is None, skipped=parsed.skipped,
                        problems=parsed.problems, appended=parsed.rows if target is not None else 0, gaps=gaps)


def _write_stream(writer: DatasetWriter, instrument: Instrument, parsed: ParsedCsv, target: StreamInfo | None,
                  name: str | None, source: str | None, files: Sequence[str]) -> StreamInfo:
    """Add the parsed rows as a new stream, or append them to ``target``."""
    if target is not None:
        return writer.append_columns(target.name, parsed.columns,
                                     source=source if source is not None else f"{target.source} + {', '.join(files)}")
    label = source if source is not None else f"csv import ({parsed.kind}): " + ", ".join(files)
    if parsed.kind == "klines":
        return writer.add_columns("bars", instrument, parsed.columns, name=name, interval_ns=parsed.interval_ns,
                                  source=label)
    return writer.add_columns("trades", instrument, parsed.columns, name=name, source=label)


def _append_target(dataset: Dataset, kind: str, key: str, name: str | None,
                   interval_ns: int | None) -> StreamInfo | None:
    """The existing stream an ``append`` import extends, or None to create it."""
    stream_kind = "bars" if kind == "klines" else "trades"
    if name is None:
        if interval_ns is None and stream_kind == "bars":
            candidates = dataset.find("bars", key)
            if len(candidates) > 1:
                raise DataError(f"{dataset.path}: several bar streams of {key} "
                                f"({', '.join(s.name for s in candidates)}); name one (--name) or pass --interval")
            return candidates[0] if candidates else None
        name = default_stream_name(stream_kind, key, interval_ns)
    info = next((s for s in dataset.streams if s.name == name), None)
    if info is not None and (info.kind != stream_kind or info.instrument != key):
        raise DataError(f"{dataset.path}: stream {name!r} holds {info.kind} of {info.instrument}, "
                        f"not {stream_kind} of {key}")
    return info


def _or_zero(value: Decimal | None) -> Decimal:
    return Decimal(0) if value is None else value


def _check_agrees(root: Path, existing: Instrument, tick: Decimal | str | None, lot: Decimal | str | None,
                  terms: InstrumentTerms) -> None:
    """Refuse a tick, lot, fee or min notional that differs from the instrument already defined."""
    for label, given, have in (("tick", tick, existing.tick_size), ("lot", lot, existing.lot_size)):
        if given is not None and _positive_step(given, label) != have:
            raise DataError(f"{root}: {existing.key} has {label} {have}, not {given}")
    for field, value in terms.given().items():
        have = getattr(existing, field)
        if value != have:
            raise DataError(f"{root}: {existing.key} has {field} {have}, not {value} (the instrument is defined "
                            "once per data set; import into a new data set to change it)")


def describe(result: ImportResult) -> str:
    """One human line about an import."""
    inst = result.instrument
    tick = f"tick {inst.tick_size}" + (" (inferred)" if result.tick_inferred else "")
    lot = f"lot {inst.lot_size}" + (" (inferred)" if result.lot_inferred else "")
    interval = f" {format_interval(result.stream.interval_ns)}" if result.stream.interval_ns else ""
    if result.appended:
        return f"appended {result.appended} {result.stream.kind}{interval} rows of {inst.key} ({tick}, {lot}) " \
               f"to stream {result.stream.name} (now {result.stream.rows} rows)"
    return f"imported {result.stream.rows} {result.stream.kind}{interval} rows of {inst.key} ({tick}, {lot}) " \
           f"as stream {result.stream.name}"
