"""Recorded market data on disk: a columnar format of ``.npy`` files that loads by memory map.

Format (``triotrade-data`` version 1)
=====================================

A data set is a directory::

    <dataset>/
      meta.json
      <stream-dir>/<column>.npy      one file per column, little-endian, written by numpy.save

``meta.json``::

    {"format": "triotrade-data", "version": 1,
     "instruments": {"<venue:symbol>": <Instrument.to_dict()>, ...},
     "streams": [{"name": "<stream-dir>", "kind": "bars" | "trades" | "quotes" | "book",
                  "instrument": "<venue:symbol>", "rows": N,
                  "start_ns": <earliest ts_event>, "end_ns": <latest ts_recv>,
                  "interval_ns": <bar length, bars only>,
                  "levels": <rows of the level table, book only>,
                  "chunks": <K, only while a stream is being recorded>,
                  "source": "free text",
                  "price_scale": <instrument's price_scale when written>,
                  "size_scale": <instrument's size_scale when written>,
                  "files": {"<column>.npy": {"bytes": <file size>, "crc32": "<8 hex digits>"}, ...}},
                 ...]}

``price_scale``, ``size_scale`` and ``files`` are written since checks on open were added; data
sets without them still open (every other check applies). ``files`` is absent while a stream is
chunked: :meth:`StreamAppender.finalize` records it. ``crc32`` covers a column's data bytes
(what follows the ``.npy`` header).

Every price is an integer scaled by the instrument's ``price_scale`` and every size by its
``size_scale`` (see :class:`engine.Instrument`); timestamps are int64 nanoseconds since the epoch
(UTC). ``ts_event`` is the venue's time, ``ts_recv`` the time the data became known locally.
Columns, by kind (dtype in brackets, ``i8`` = little-endian int64):

``bars``
    ``ts_event`` (bar open time), ``ts_recv`` (open + interval: when the bar became known),
    ``open``, ``high``, ``low``, ``close``, ``volume`` [i8]
``trades``
    ``ts_event``, ``ts_recv``, ``price``, ``size`` [i8], ``aggressor`` [i1: +1 the buyer took,
    -1 the seller took, 0 unknown], ``trade_id`` [i8, 0 when the venue has none]
``quotes``
    ``ts_event``, ``ts_recv``, ``bid``, ``bid_size``, ``ask``, ``ask_size`` [i8]
``book`` (L2)
    a message table ``ts_event``, ``ts_recv``, ``sequence`` [i8], ``is_snapshot`` [i1: 1 a full
    book, 0 a delta], ``first`` [i8], ``count`` [i4] and a level table ``lvl_side`` [i1: +1 bid,
    -1 ask], ``lvl_price``, ``lvl_size`` [i8]. Message ``i`` owns levels
    ``first[i] : first[i] + count[i]``; levels are stored message by message
    (``first`` is the running sum of ``count``), bids first by descending price, then asks by
    ascending price. In a delta a size of 0 removes the level.

Rows are sorted by ``ts_recv`` (ties keep their recorded order). Bars additionally satisfy
``low <= min(open, close)`` and ``high >= max(open, close)`` and their open times never decrease;
bar and trade prices are positive; sizes are never negative, and trade sizes are positive.

Recording (:class:`StreamAppender`) writes a stream in chunks, ``<column>.<k>.npy`` with a
six-digit ``k``, and rewrites ``meta.json`` atomically after each chunk with the number of complete
chunks. The reader reads exactly the chunks ``meta.json`` names, so a process killed mid-recording
leaves a readable data set of everything flushed so far. :meth:`StreamAppender.finalize` joins the
chunks into the single-file layout above (memory-mapped on load); chunked streams still load, by
concatenation. One writer per data set at a time.

Loading (:func:`open_dataset`) reads ``meta.json``, checks that each instrument still has the
scales its streams were written with (an edited ``price_precision`` would rescale every price),
memory-maps every column (``mmap_mode="r"``) and checks, with vectorised numpy and no per-row
Python, each file's size (against its header and ``files``), that dtypes and lengths match
``meta.json``, the value rules above, that ``ts_recv`` never decreases, that the time range matches
``start_ns``/``end_ns`` and that book level ranges are consistent. The CRC-32s read every byte
(about 20 ms per million trades when cached), so they are compared on the first open after a file
changed (remembered per data set in a marker file in a cache directory) and whenever asked
(``open_dataset(..., checksums=True)``, ``triotrade data verify``). Every problem raises
:class:`engine.DataError` naming the file and the rule broken.

Appending (:meth:`DatasetWriter.append_columns`) extends a finalized stream with rows that come
after it in time; each column is rewritten into ``<stream>.partial/``, which then replaces the
stream directory (the old one is moved to ``<stream>.replaced/`` until ``meta.json`` names the new
rows). :func:`find_gaps` reports missing bars and long pauses.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from engine import Bar, BookDelta, BookSnapshot, DataError, Instrument, Quote, Trade

__all__ = [
    "FORMAT",
    "VERSION",
    "KINDS",
    "SCHEMAS",
    "BOOK_LEVEL_COLUMNS",
    "StreamInfo",
    "FileCheck",
    "Gap",
    "GapReport",
    "find_gaps",
    "crc32_of",
    "PAUSE_NS",
    "Dataset",
    "DatasetWriter",
    "StreamAppender",
    "open_dataset",
    "iter_book_events",
    "default_stream_name",
    "format_interval",
    "parse_interval",
    "demo_dataset_path",
]

FORMAT: Final = "triotrade-data"
VERSION: Final = 1
META_FILE: Final = "meta.json"

_I8 = np.dtype("<i8")
_I4 = np.dtype("<i4")
_I1 = np.dtype("i1")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

SCHEMAS: Final[dict[str, dict[str, np.dtype[Any]]]] = {
    "bars": {
        "ts_event": _I8, "ts_recv": _I8,
        "open": _I8, "high": _I8, "low": _I8, "close": _I8, "volume": _I8,
    },
    "trades": {
        "ts_event": _I8, "ts_recv": _I8, "price": _I8, "size": _I8, "aggressor": _I1, "trade_id": _I8,
    },
    "quotes": {
        "ts_event": _I8, "ts_recv": _I8, "bid": _I8, "bid_size": _I8, "ask": _I8, "ask_size": _I8,
    },
    "book": {
        "ts_event": _I8, "ts_recv": _I8, "sequence": _I8, "is_snapshot": _I1, "first": _I8,
        "count": _I4, "lvl_side": _I1, "lvl_price": _I8, "lvl_size": _I8,
    },
}
"Column names and dtypes of each stream kind, in file order."
KINDS: Final = tuple(SCHEMAS)
BOOK_LEVEL_COLUMNS: Final = ("lvl_side", "lvl_price", "lvl_size")
"Columns of the book level table (the others of a book stream form the message table)."

_SIZE_COLUMNS = {"volume", "size", "bid_size", "ask_size", "lvl_size"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_INTERVAL_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
                   "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}

Columns = dict[str, npt.NDArray[Any]]


# ---------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------


def format_interval(interval_ns: int) -> str:
    """A bar length as a short label: ``60_000_000_000`` → ``"1m"``."""
    for unit in ("w", "d", "h", "m", "s", "ms", "us"):
        size = _INTERVAL_UNITS[unit]
        if interval_ns >= size and interval_ns % size == 0:
            return f"{interval_ns // size}{unit}"
    return f"{interval_ns}ns"


def parse_interval(text: str) -> int:
    """Parse ``"1m"``, ``"15s"``, ``"4h"``, ``"1d"``, ``"1w"``, ``"250ms"`` into nanoseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*(ns|us|ms|s|m|h|d|w)\s*", text)
    if not match or int(match.group(1)) <= 0:
        raise DataError(f"bad interval {text!r}: expected a positive count and a unit, e.g. 1m, 15s, 4h, 1d")
    return int(match.group(1)) * _INTERVAL_UNITS[match.group(2)]


def default_stream_name(kind: str, instrument_key: str, interval_ns: int | None = None) -> str:
    """The directory name a stream gets unless one is given: ``sim.BTC-USD.bars-1m``."""
    venue, _, symbol = instrument_key.partition(":")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{venue}.{symbol.replace('/', '-')}")
    label = f"bars-{format_interval(interval_ns)}" if kind == "bars" and interval_ns else kind
    return f"{safe}.{label}"


def demo_dataset_path() -> Path:
    """The bundled demo data set (see ``backtest/datasets/README.md``)."""
    path = Path(__file__).resolve().parent / "datasets" / "demo"
    if not (path / META_FILE).is_file():
        raise DataError(f"{path}: the demo data set is missing; regenerate it with "
                        "`python -m backtest.generate --demo`")
    return path


# ---------------------------------------------------------------------------------------------
# stream descriptions
# ---------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class StreamInfo:
    """One stream of a data set, as ``meta.json`` describes it."""

    name: str
    "Directory of the stream inside the data set."
    kind: str
    "``bars``, ``trades``, ``quotes`` or ``book``."
    instrument: str
    "Instrument key ``venue:symbol``."
    rows: int
    "Number of rows (book: messages)."
    start_ns: int
    "Earliest ``ts_event`` (0 when empty)."
    end_ns: int
    "Latest ``ts_recv`` (0 when empty)."
    interval_ns: int | None = None
    "Bar length (bars only)."
    levels: int | None = None
    "Rows of the level table (book only)."
    chunks: int | None = None
    "Number of complete chunks while the stream is recorded in chunks; None once single-file."
    source: str = ""
    "Where the data came from (free text)."
    price_scale: int | None = None
    "The instrument's ``price_scale`` the prices were written with (None in data sets written before it was recorded)."
    size_scale: int | None = None
    "The instrument's ``size_scale`` the sizes were written with (None likewise)."
    files: tuple[FileCheck, ...] = ()
    "Size and CRC-32 of each column file, as written (empty while chunked and in older data sets)."

    def to_meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "instrument": self.instrument, "rows": self.rows,
            "start_ns": self.start_ns, "end_ns": self.end_ns,
        }
        if self.interval_ns is not None:
            out["interval_ns"] = self.interval_ns
        if self.levels is not None:
            out["levels"] = self.levels
        if self.chunks is not None:
            out["chunks"] = self.chunks
        out["source"] = self.source
        if self.price_scale is not None:
            out["price_scale"] = self.price_scale
        if self.size_scale is not None:
            out["size_scale"] = self.size_scale
        if self.files:
            out["files"] = {check.file: {"bytes": check.size, "crc32": check.crc32} for check in self.files}
        return out

    def check_of(self, file: str) -> FileCheck | None:
        """What the writer recorded of ``file`` (e.g. ``"price.npy"``), if anything."""
        return next((check for check in self.files if check.file == file), None)


@attrs.frozen(slots=True)
class FileCheck:
    """What the writer recorded of one column file: its size in bytes and a CRC-32 of its data."""

    file: str
    "File name inside the stream directory, e.g. ``price.npy``."
    size: int
    "Size of the whole file in bytes (header included)."
    crc32: str
    "CRC-32 of the column's data (the bytes after the ``.npy`` header), 8 lowercase hex digits."


def _meta_int(entry: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> int | None:
    value = entry.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataError(f"{where}: field {key!r} must be an integer, got {value!r}")
    return value


def _stream_from_meta(entry: Any, index: int, meta_path: Path, instruments: Mapping[str, Instrument]) -> StreamInfo:
    where = f"{meta_path}: streams[{index}]"
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object, got {type(entry).__name__}")
    name = entry.get("name")
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise DataError(f"{where}: bad stream name {name!r} (letters, digits, '.', '_', '-')")
    where = f"{meta_path}: stream {name!r}"
    kind = entry.get("kind")
    if kind not in SCHEMAS:
        raise DataError(f"{where}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    key = entry.get("instrument")
    if not isinstance(key, str) or key not in instruments:
        raise DataError(f"{where}: instrument {key!r} is not defined under 'instruments'")
    rows = _meta_int(entry, "rows", where)
    assert rows is not None
    if rows < 0:
        raise DataError(f"{where}: negative row count {rows}")
    interval = _meta_int(entry, "interval_ns", where, optional=kind != "bars")
    if kind == "bars" and (interval is None or interval <= 0):
        raise DataError(f"{where}: bars need a positive 'interval_ns'")
    levels = _meta_int(entry, "levels", where, optional=kind != "book")
    chunks = _meta_int(entry, "chunks", where, optional=True)
    source = entry.get("source", "")
    price_scale = _meta_int(entry, "price_scale", where, optional=True)
    size_scale = _meta_int(entry, "size_scale", where, optional=True)
    _check_scales(where, instruments[key], price_scale, size_scale)
    return StreamInfo(
        name=name, kind=kind, instrument=key, rows=rows,
        start_ns=_meta_int(entry, "start_ns", where) or 0, end_ns=_meta_int(entry, "end_ns", where) or 0,
        interval_ns=interval if kind == "bars" else None, levels=levels if kind == "book" else None,
        chunks=chunks, source=str(source), price_scale=price_scale, size_scale=size_scale,
        files=_file_checks_from_meta(entry.get("files"), where, kind),
    )


def _check_scales(where: str, instrument: Instrument, price_scale: int | None, size_scale: int | None) -> None:
    """Refuse a stream whose instrument now scales values differently from when it was written."""
    for label, recorded, now in (("price_scale", price_scale, instrument.price_scale),
                                 ("size_scale", size_scale, instrument.size_scale)):
        if recorded is not None and recorded != now:
            raise DataError(
                f"{where}: rule 'scale unchanged' broken: the stream was written with {label} {recorded} but "
                f"instrument {instrument.key} now has {label} {now} (tick {instrument.tick_size}, lot "
                f"{instrument.lot_size}, price_precision {instrument.price_precision}, qty_precision "
                f"{instrument.qty_precision}); every value would be off by a factor of "
                f"10**{abs(now - recorded)}. Restore the instrument's definition in meta.json")


_CRC32_TEXT = re.compile(r"^[0-9a-f]{8}$")


def _file_checks_from_meta(raw: Any, where: str, kind: str) -> tuple[FileCheck, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise DataError(f"{where}: 'files' must be an object keyed by file name")
    checks = []
    for file, entry in raw.items():
        column = file.removesuffix(".npy") if isinstance(file, str) else None
        if column not in SCHEMAS[kind] or file != f"{column}.npy":
            raise DataError(f"{where}: 'files' names {file!r}, not a column file of a {kind} stream")
        size = entry.get("bytes") if isinstance(entry, dict) else None
        crc = entry.get("crc32") if isinstance(entry, dict) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(crc, str) \
                or not _CRC32_TEXT.match(crc):
            raise DataError(f"{where}: files[{file!r}] must be {{\"bytes\": <size>, \"crc32\": \"<8 hex digits>\"}}")
        checks.append(FileCheck(file=file, size=size, crc32=crc))
    return tuple(checks)


def _read_meta(path: Path) -> tuple[dict[str, Instrument], list[StreamInfo]]:
    meta_path = path / META_FILE
    if not path.is_dir():
        raise DataError(f"{path}: no such data set directory")
    if not meta_path.is_file():
        raise DataError(f"{path}: no {META_FILE} here; not a triotrade data set")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{meta_path}: cannot read: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: not a {FORMAT} file (format is {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != VERSION:
        raise DataError(f"{meta_path}: unsupported version {meta.get('version')!r} (this reader knows {VERSION})")
    raw_instruments = meta.get("instruments")
    if not isinstance(raw_instruments, dict):
        raise DataError(f"{meta_path}: 'instruments' must be an object keyed by venue:symbol")
    instruments: dict[str, Instrument] = {}
    for key, data in raw_instruments.items():
        try:
            instrument = Instrument.from_dict(data)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise DataError(f"{meta_path}: instrument {key!r}: {e}") from e
        if instrument.key != key:
            raise DataError(f"{meta_path}: instrument listed as {key!r} has key {instrument.key!r}")
        instruments[key] = instrument
    raw_streams = meta.get("streams")
    if not isinstance(raw_streams, list):
        raise DataError(f"{meta_path}: 'streams' must be a list")
    streams = [_stream_from_meta(entry, i, meta_path, instruments) for i, entry in enumerate(raw_streams)]
    names = [s.name for s in streams]
    if len(set(names)) != len(names):
        raise DataError(f"{meta_path}: stream names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    return instruments, streams


# ---------------------------------------------------------------------------------------------
# low-level file helpers
# ---------------------------------------------------------------------------------------------


def _chunk_file(stream_dir: Path, column: str, chunk: int) -> Path:
    return stream_dir / f"{column}.{chunk:06d}.npy"


def _map_npy(file: Path) -> npt.NDArray[Any]:
    """Memory-map a ``.npy`` file, refusing an empty, truncated or over-long one."""
    if not file.is_file():
        raise DataError(f"{file}: column file is missing")
    size = file.stat().st_size
    if size == 0:
        raise DataError(f"{file}: not a readable .npy file: the file is empty (0 bytes)")
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{file}: not a readable .npy file: {e}") from e
    if not isinstance(array, np.memmap):
        raise DataError(f"{file}: not a readable .npy file: not a plain numpy array")
    expected_size = int(array.offset) + int(array.nbytes)
    if size != expected_size:
        raise DataError(f"{file}: rule 'file size' broken: {size} bytes, its header describes {expected_size}")
    return array


def _crc32_update(column: npt.NDArray[Any], crc: int = 0) -> int:
    data = np.ascontiguousarray(column)
    return zlib.crc32(data.data.cast("B"), crc) if data.size else crc


def crc32_of(column: npt.NDArray[Any]) -> str:
    """CRC-32 of a column's data bytes (what :class:`FileCheck` records), as 8 hex digits."""
    return f"{_crc32_update(column):08x}"


def _load_npy(file: Path, expected: np.dtype[Any], length: int, check: FileCheck | None = None) -> npt.NDArray[Any]:
    array = _map_npy(file)
    if array.ndim != 1:
        raise DataError(f"{file}: expected a 1-D column, got shape {array.shape}")
    if array.dtype != expected or array.dtype.byteorder == ">":
        raise DataError(f"{file}: dtype is {array.dtype.str}, the format says {expected.str}")
    if array.shape[0] != length:
        raise DataError(f"{file}: has {array.shape[0]} rows, meta.json says {length}")
    if check is not None and file.stat().st_size != check.size:
        raise DataError(f"{file}: rule 'file size' broken: {file.stat().st_size} bytes, meta.json recorded "
                        f"{check.size}")
    column: npt.NDArray[Any] = array.view(np.ndarray)
    return column


def _check_digests(stream_dir: Path, info: StreamInfo, cols: Columns) -> None:
    """Compare each column's CRC-32 with the one recorded when it was written (reads every byte)."""
    for check in info.files:
        actual = crc32_of(cols[check.file.removesuffix(".npy")])
        if actual != check.crc32:
            raise DataError(f"{stream_dir / check.file}: rule 'checksum' broken: CRC-32 of the data is {actual}, "
                            f"meta.json recorded {check.crc32}; the file was changed after it was written")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _join_into(file: Path, dtype: np.dtype[Any], total: int, parts: Iterable[npt.NDArray[Any]], *,
               durable: bool) -> FileCheck:
    """Write ``parts`` one after another as the column ``file`` (via a temporary file and a rename).

    Streams through a memory map, so the parts never have to fit in memory together; returns the
    new file's size and CRC-32.
    """
    tmp = file.with_name(file.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(total,))
    at = 0
    crc = 0
    for part in parts:
        out[at:at + part.shape[0]] = part
        crc = _crc32_update(out[at:at + part.shape[0]], crc)
        at += part.shape[0]
    if at != total:
        raise DataError(f"{file}: joining {at} rows where {total} were expected")
    out.flush()
    del out
    if durable:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, file)
    return FileCheck(file=file.name, size=file.stat().st_size, crc32=f"{crc:08x}")


def _save_npy(file: Path, array: npt.NDArray[Any], *, durable: bool) -> None:
    """Write ``array`` to ``file`` via a temporary file and an atomic rename."""
    tmp = file.with_name(file.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, file)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


class Dataset:
    """An opened data set. Columns are memory-mapped, read-only numpy arrays."""

    def __init__(self, path: Path, instruments: dict[str, Instrument], streams: list[StreamInfo], *,
                 checksums: bool = False) -> None:
        self.path = path
        "Directory of the data set."
        self.instruments = instruments
        "Instruments by key (``venue:symbol``)."
        self.streams = streams
        "Streams in ``meta.json`` order."
        self._by_name = {s.name: s for s in streams}
        self._cache: dict[str, Columns] = {}
        self._checksums = checksums

    def __repr__(self) -> str:
        return f"Dataset({str(self.path)!r}, streams={[s.name for s in self.streams]})"

    def stream(self, name: str) -> StreamInfo:
        """The stream called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise DataError(f"{self.path}: no stream {name!r} (streams: {', '.join(self._by_name) or 'none'})") from None

    def find(self, kind: str | None = None, instrument: Instrument | str | None = None) -> list[StreamInfo]:
        """Streams of a kind and/or instrument."""
        key = instrument.key if isinstance(instrument, Instrument) else instrument
        if kind is not None and kind not in SCHEMAS:
            raise DataError(f"unknown stream kind {kind!r} (expected one of {', '.join(KINDS)})")
        return [s for s in self.streams if (kind is None or s.kind == kind) and (key is None or s.instrument == key)]

    def resolve(self, kind: str | None = None, instrument: Instrument | str | None = None,
                stream: str | None = None) -> StreamInfo:
        """The one stream named, or the only stream of ``kind``/``instrument``."""
        if stream is not None:
            info = self.stream(stream)
            if kind is not None and info.kind != kind:
                raise DataError(f"{self.path}: stream {stream!r} holds {info.kind}, not {kind}")
            return info
        found = self.find(kind, instrument)
        key = instrument.key if isinstance(instrument, Instrument) else instrument
        what = " ".join(x for x in (kind, key) if x) or "any"
        if not found:
            raise DataError(f"{self.path}: no stream matches {what}")
        if len(found) > 1:
            raise DataError(f"{self.path}: several streams match {what} ({', '.join(s.name for s in found)}); "
                            "name one with stream=")
        return found[0]

    def columns(self, stream: str) -> Columns:
        """All columns of a stream by name (memory-mapped; chunked streams are concatenated)."""
        cached = self._cache.get(stream)
        if cached is None:
            info = self.stream(stream)
            cached = self._load(info)
            self._cache[stream] = cached
        return dict(cached)

    def select(self, kind: str | None = None, instrument: Instrument | str | None = None,
               start_ns: int | None = None, end_ns: int | None = None, *, stream: str | None = None) -> Columns:
        """Columns of one stream limited to ``start_ns <= ts_recv < end_ns`` (views, no copy).

        For a book stream the level table is cut to the selected messages and ``first`` is
        rebased to index into it (``first`` is then a new array).
        """
        info = self.resolve(kind, instrument, stream)
        cols = self.columns(info.name)
        ts_recv = cols["ts_recv"]
        lo = 0 if start_ns is None else int(np.searchsorted(ts_recv, start_ns, side="left"))
        hi = len(ts_recv) if end_ns is None else int(np.searchsorted(ts_recv, end_ns, side="left"))
        hi = max(lo, hi)
        if info.kind != "book":
            return {name: col[lo:hi] for name, col in cols.items()}
        out = {name: col[lo:hi] for name, col in cols.items() if name not in BOOK_LEVEL_COLUMNS}
        first = cols["first"]
        lvl_lo = int(first[lo]) if hi > lo else 0
        lvl_hi = int(first[hi - 1]) + int(cols["count"][hi - 1]) if hi > lo else 0
        out["first"] = out["first"] - lvl_lo
        for name in BOOK_LEVEL_COLUMNS:
            out[name] = cols[name][lvl_lo:lvl_hi]
        return out

    # -- loading and checking ---------------------------------------------------------------
    def _load(self, info: StreamInfo) -> Columns:
        stream_dir = self.path / info.name
        if not stream_dir.is_dir():
            raise DataError(f"{stream_dir}: stream directory is missing")
        schema = SCHEMAS[info.kind]
        cols: Columns = {}
        for column, dtype in schema.items():
            total = info.levels if column in BOOK_LEVEL_COLUMNS else info.rows
            assert total is not None
            if info.chunks is None:
                cols[column] = _load_npy(stream_dir / f"{column}.npy", dtype, total, info.check_of(f"{column}.npy"))
            else:
                cols[column] = self._load_chunks(stream_dir, column, dtype, info.chunks, total)
        _check_loaded(stream_dir, info, cols)
        if self._checksums:
            _check_digests(stream_dir, info, cols)
        return cols

    @staticmethod
    def _load_chunks(stream_dir: Path, column: str, dtype: np.dtype[Any], chunks: int, total: int) -> npt.NDArray[Any]:
        parts = []
        for k in range(chunks):
            file = _chunk_file(stream_dir, column, k)
            if not file.is_file():
                raise DataError(f"{file}: chunk file is missing")
            part = _map_npy(file)
            if part.ndim != 1 or part.dtype != dtype:
                raise DataError(f"{file}: expected a 1-D {dtype.str} column, got {part.dtype.str} {part.shape}")
            parts.append(part)
        array = np.concatenate(parts) if parts else np.zeros(0, dtype)
        if array.shape[0] != total:
            raise DataError(f"{stream_dir / column}.*.npy: chunks hold {array.shape[0]} rows, meta.json says {total}")
        array.setflags(write=False)
        return array


def _check_loaded(stream_dir: Path, info: StreamInfo, cols: Columns) -> None:
    """Check the invariants the writer guarantees, naming the file and the rule broken."""
    ts_recv = cols["ts_recv"]
    if ts_recv.shape[0] > 1:
        drops = ts_recv[1:] < ts_recv[:-1]
        if drops.any():
            i = int(np.flatnonzero(drops)[0]) + 1
            raise DataError(f"{stream_dir}/ts_recv.npy: rule 'ts_recv non-decreasing' broken: not sorted: row {i} "
                            f"({int(ts_recv[i])}) is before row {i - 1} ({int(ts_recv[i - 1])})")
    problem = _domain_problem(info.kind, cols)
    if problem:
        column, i, rule = problem
        raise DataError(f"{stream_dir}/{column}.npy: rule '{rule}' broken: row {i} has {column}={int(cols[column][i])}")
    if info.kind == "bars":
        assert info.interval_ns is not None
        at = _bar_going_back(cols["ts_event"])
        if at is not None:
            raise DataError(f"{stream_dir}/ts_event.npy: rule 'bar open times non-decreasing' broken: "
                            f"row {at} opens at {int(cols['ts_event'][at])}, before row {at - 1} "
                            f"({int(cols['ts_event'][at - 1])})")
    if info.kind == "book":
        _check_book_levels(stream_dir, info, cols)
    _check_time_range(stream_dir, info, cols)


def _check_time_range(stream_dir: Path, info: StreamInfo, cols: Columns) -> None:
    if info.rows == 0:
        return
    start, end = int(cols["ts_event"].min()), int(cols["ts_recv"][-1])
    if (start, end) != (info.start_ns, info.end_ns):
        raise DataError(f"{stream_dir.parent / META_FILE}: stream {info.name!r}: rule 'time range matches the data' "
                        f"broken: meta.json says start_ns={info.start_ns} end_ns={info.end_ns}, the columns hold "
                        f"{start} .. {end}")


def _check_book_levels(stream_dir: Path, info: StreamInfo, cols: Columns) -> None:
    count = cols["count"]
    expected_first = np.cumsum(count, dtype=np.int64) - count
    bad = np.flatnonzero((count < 0) | (cols["first"] != expected_first))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{stream_dir}/first: message {i} has first={int(cols['first'][i])} count={int(count[i])}; "
                        f"levels must be stored message by message (expected first={int(expected_first[i])})")
    used = int(expected_first[-1] + count[-1]) if count.shape[0] else 0
    if used != info.levels:
        raise DataError(f"{stream_dir}/count: messages use {used} levels, the level table has {info.levels}")


def open_dataset(path: str | os.PathLike[str], *, verify: bool = True, checksums: bool | None = None) -> Dataset:
    """Open the data set at ``path``.

    Reads and checks ``meta.json`` (including that each instrument still has the price and size
    scales its streams were written with). With ``verify`` (the default) every stream is
    memory-mapped and checked now: file sizes (against the ``.npy`` header and ``meta.json``),
    dtypes, lengths, value rules (positive prices, non-negative sizes, ``low <= open, close <=
    high``), ``ts_recv`` and bar open order, the time range and book level ranges, so a damaged
    data set fails here rather than halfway through a backtest; otherwise each stream is checked
    on first use.

    ``checksums`` compares every column's CRC-32 with the one recorded in ``meta.json`` (reads every
    byte: about 20 ms per million trades with the pages cached). ``True``: always; ``False``:
    never; ``None`` (the default, with ``verify``): on the first open after any file of the data
    set changed (by size, modification time or inode), remembered in a small marker file under
    ``$TRIOTRADE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/triotrade`` or ``~/.cache/triotrade``), so
    later opens of unchanged files skip it. ``triotrade data verify`` always compares them.
    """
    root = Path(path)
    instruments, streams = _read_meta(root)
    recorded = any(info.files for info in streams)
    state = _files_state(root, streams) if verify and checksums is None and recorded else None
    marker = _verified_marker(root) if state is not None else None
    if checksums is None:
        checksums = verify and recorded and not (marker is not None and _read_marker(marker) == state)
    dataset = Dataset(root, instruments, streams, checksums=checksums)
    if verify:
        for info in streams:
            dataset.columns(info.name)
        if checksums and marker is not None and state is not None:
            _write_marker(marker, root, state)
    return dataset


def _cache_dir() -> Path:
    configured = os.environ.get("TRIOTRADE_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "triotrade"


def _verified_marker(root: Path) -> Path | None:
    """Where the state of ``root`` at its last full verification is remembered (None: no cache dir)."""
    key = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    try:
        return _cache_dir() / "verified" / f"{key}.json"
    except RuntimeError:  # no home directory
        return None


def _files_state(root: Path, streams: Iterable[StreamInfo]) -> str | None:
    """A digest of ``meta.json``'s bytes and every column file's size, mtime and inode; None if unreadable."""
    digest = hashlib.sha256()
    try:
        digest.update((root / META_FILE).read_bytes())
        for info in streams:
            stream_dir = root / info.name
            for file in sorted(stream_dir.glob("*.npy")):
                st = file.stat()
                digest.update(f"{info.name}/{file.name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}\n".encode())
    except OSError:
        return None
    return digest.hexdigest()


def _read_marker(marker: Path) -> str | None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    state = data.get("state") if isinstance(data, dict) else None
    return state if isinstance(state, str) else None


def _write_marker(marker: Path, root: Path, state: str) -> None:
    """Remember a full verification; best effort (a read-only cache only means verifying again)."""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"path": str(root.resolve()), "state": state}), encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        pass


PAUSE_NS: Final = 5 * 60 * 10**9
"Shortest pause between rows of a trades, quotes or book stream that :func:`find_gaps` reports (5 minutes)."


@attrs.frozen(slots=True)
class Gap:
    """A hole in a stream: no row between ``after_ns`` and ``before_ns``."""

    after_ns: int
    "Where the hole starts: the end (open + interval) of the last bar before it, or that row's ``ts_recv``."
    before_ns: int
    "Time of the first row after the hole."
    missing_bars: int = 0
    "Bars missing in the hole (bars only)."

    @property
    def duration_ns(self) -> int:
        """Length of the hole (bars: from the end of the last bar to the next open)."""
        return self.before_ns - self.after_ns


@attrs.frozen(slots=True)
class GapReport:
    """Holes in one stream, as :func:`find_gaps` finds them."""

    count: int
    "Number of holes."
    missing_bars: int
    "Bars missing in all (bars only)."
    largest: Gap | None
    "The longest hole, if any."
    threshold_ns: int
    "Shortest hole counted: one bar interval (a hole is a missing bar), else :data:`PAUSE_NS` or as given."


def find_gaps(info: StreamInfo, cols: Columns, *, min_pause_ns: int = PAUSE_NS) -> GapReport:
    """Holes in a stream: missing bars (opens more than one interval apart), or for trades, quotes
    and book streams pauses of at least ``min_pause_ns`` between consecutive rows (by ``ts_recv``).
    Vectorised, so cheap on millions of rows.
    """
    if info.kind == "bars":
        assert info.interval_ns is not None
        times, step = cols["ts_event"], info.interval_ns
        holes = np.diff(times) > step
        threshold = step
    else:
        times, step = cols["ts_recv"], 0
        holes = np.diff(times) >= min_pause_ns
        threshold = min_pause_ns
    where = np.flatnonzero(holes)
    if not where.size:
        return GapReport(count=0, missing_bars=0, largest=None, threshold_ns=threshold)
    lengths = times[where + 1] - times[where]
    widest = int(where[int(np.argmax(lengths))])
    missing = (lengths // step - 1) if step else np.zeros(0, np.int64)
    largest = Gap(after_ns=int(times[widest]) + step, before_ns=int(times[widest + 1]),
                  missing_bars=int((times[widest + 1] - times[widest]) // step - 1) if step else 0)
    return GapReport(count=int(where.size), missing_bars=int(missing.sum()), largest=largest, threshold_ns=threshold)


def iter_book_events(dataset: Dataset, stream: str | None = None, instrument: Instrument | str | None = None, *,
                     start_ns: int | None = None, end_ns: int | None = None,
                     batch: int = 65_536) -> Iterator[BookSnapshot | BookDelta]:
    """Replay a book stream as engine :class:`~engine.BookSnapshot` / :class:`~engine.BookDelta` events.

    Levels are ``(price_raw, size_raw)`` tuples, bids by descending and asks by ascending price.
    With ``start_ns`` the replay begins at the last snapshot received at or before ``start_ns``
    (or the first one after it), so the first event builds a complete book; it stops before the
    first message received at or after ``end_ns``.
    """
    info = dataset.resolve("book", instrument, stream)
    inst = dataset.instruments[info.instrument]
    cols = dataset.columns(info.name)
    ts_recv, is_snapshot = cols["ts_recv"], cols["is_snapshot"]
    lo, hi = 0, len(ts_recv)
    if start_ns is not None:
        at = int(np.searchsorted(ts_recv, start_ns, side="right"))
        before = np.flatnonzero(is_snapshot[:at])
        if before.size:
            lo = int(before[-1])
        else:
            after = np.flatnonzero(is_snapshot[at:])
            if not after.size:
                return
            lo = at + int(after[0])
    if end_ns is not None:
        hi = max(lo, int(np.searchsorted(ts_recv, end_ns, side="left")))
    first, count = cols["first"], cols["count"]
    # bids come first in each message, so the number of bids is a difference of a running count
    bid_running = np.concatenate(([0], np.cumsum(cols["lvl_side"] > 0, dtype=np.int64)))
    for a in range(lo, hi, batch):
        b = min(hi, a + batch)
        lvl_lo = int(first[a])
        lvl_hi = int(first[b - 1]) + int(count[b - 1])
        pairs = list(zip(cols["lvl_price"][lvl_lo:lvl_hi].tolist(), cols["lvl_size"][lvl_lo:lvl_hi].tolist()))
        firsts = (first[a:b] - lvl_lo).tolist()
        ends = (first[a:b] + count[a:b] - lvl_lo).tolist()
        n_bids = (bid_running[first[a:b] + count[a:b]] - bid_running[first[a:b]]).tolist()
        rows = zip(cols["ts_event"][a:b].tolist(), ts_recv[a:b].tolist(), cols["sequence"][a:b].tolist(),
                   is_snapshot[a:b].tolist(), firsts, ends, n_bids)
        for ts_event, recv, seq, snap, f, e, nb in rows:
            cls = BookSnapshot if snap else BookDelta
            yield cls(inst, ts_event, recv, seq, tuple(pairs[f:f + nb]), tuple(pairs[f + nb:e]))


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def _int_column(kind: str, name: str, values: Any, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """``values`` as a 1-D column of ``dtype``; floats and out-of-range integers are refused."""
    where = f"{kind} column {name!r}"
    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise DataError(f"{where}: expected a 1-D array, got shape {array.shape}")
    if array.dtype.kind == "f" or array.dtype.kind == "c":
        raise DataError(f"{where}: got {array.dtype} values; prices, sizes and times are scaled integers")
    info = np.iinfo(dtype)
    if array.dtype.kind == "O":
        items = array.tolist()
        for i, item in enumerate(items):
            if not isinstance(item, (int, np.integer)):
                raise DataError(f"{where}: row {i}: {item!r} is not an integer")
            if not info.min <= int(item) <= info.max:
                raise DataError(f"{where}: row {i}: {item} does not fit {dtype.name}")
        return np.array([int(x) for x in items], dtype=dtype)
    if array.dtype.kind not in "iub":
        raise DataError(f"{where}: got {array.dtype} values; expected integers")
    if array.size and array.dtype.kind != "b":
        source = np.iinfo(array.dtype)
        if source.min < info.min or source.max > info.max:
            outside = np.flatnonzero((array < info.min) | (array > info.max))
            if outside.size:
                bad = int(outside[0])
                raise DataError(f"{where}: row {bad}: {int(array[bad])} does not fit {dtype.name}")
    return array.astype(dtype, copy=False)


_PRICE_COLUMNS: Final = {"bars": ("open", "high", "low", "close"), "trades": ("price",)}
"Columns whose values must be positive, by kind."


def _range_rules(kind: str) -> list[tuple[str, int | None, int | None, str]]:
    """(column, lowest, highest, rule) of the value ranges of ``kind``, in the order they are checked."""
    rules: list[tuple[str, int | None, int | None, str]] = [
        (column, 0, None, "sizes cannot be negative") for column in SCHEMAS[kind] if column in _SIZE_COLUMNS]
    rules += [(column, 1, None, "prices must be positive") for column in _PRICE_COLUMNS.get(kind, ())]
    if kind == "trades":
        rules += [("size", 1, None, "a trade's size must be positive"),
                  ("aggressor", -1, 1, "aggressor is +1, -1 or 0")]
    if kind == "book":
        rules += [("is_snapshot", 0, 1, "is_snapshot is 0 or 1"), ("count", 0, None, "count cannot be negative"),
                  ("lvl_side", -1, 1, "lvl_side is +1 (bid) or -1 (ask)")]
    return rules


_RANGE_RULES: Final = {kind: _range_rules(kind) for kind in SCHEMAS}


def _first_outside(column: npt.NDArray[Any], lo: int | None, hi: int | None,
                   extremes: dict[tuple[int, str], int], name: str) -> int | None:
    """First row of ``column`` outside ``[lo, hi]``, or None. Min/max reductions (cached per column)
    decide; the row is looked for only when one is outside."""
    if not column.shape[0]:
        return None
    for bound, reduce, outside in ((lo, np.min, np.less), (hi, np.max, np.greater)):
        if bound is None:
            continue
        key = (id(reduce), name)
        if key not in extremes:
            extremes[key] = int(reduce(column))
        if outside(extremes[key], bound):
            return int(np.flatnonzero(outside(column, bound))[0])
    return None


def _domain_problem(kind: str, cols: Columns) -> tuple[str, int, str] | None:
    """The first value rule broken, as (column, row, rule), or None. Vectorised; no per-row Python.

    Rules: sizes are never negative (trade sizes positive), bar and trade prices are positive,
    flags are in range, ``low <= open, close <= high``.
    """
    extremes: dict[tuple[int, str], int] = {}
    for column, lo, hi, rule in _RANGE_RULES[kind]:
        if column in cols:
            row = _first_outside(cols[column], lo, hi, extremes, column)
            if row is not None:
                return column, row, rule
    relations: list[tuple[str, Callable[[], npt.NDArray[np.bool_]], str]] = []
    if kind == "book" and "lvl_side" in cols:
        relations.append(("lvl_side", partial(np.equal, cols["lvl_side"], 0), "lvl_side is +1 (bid) or -1 (ask)"))
    if kind == "bars" and {"open", "high", "low", "close"} <= cols.keys():
        o, h, lo_, c = cols["open"], cols["high"], cols["low"], cols["close"]
        relations.append(("high", partial(_below_either, h, o, c), "high is below open or close"))
        relations.append(("low", partial(_above_either, lo_, o, c), "low is above open or close"))
    for column, broken, rule in relations:
        mask = broken()
        if mask.any():
            return column, int(np.flatnonzero(mask)[0]), rule
    return None


def _below_either(x: npt.NDArray[Any], a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    below: npt.NDArray[np.bool_] = (x < a) | (x < b)
    return below


def _above_either(x: npt.NDArray[Any], a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    above: npt.NDArray[np.bool_] = (x > a) | (x > b)
    return above


def _check_domain(kind: str, cols: Columns) -> None:
    """Refuse columns to be written that break a value rule."""
    problem = _domain_problem(kind, cols)
    if problem:
        column, i, rule = problem
        raise DataError(f"{kind} row {i}: {column}={int(cols[column][i])}: {rule}")


def _bar_going_back(ts_event: npt.NDArray[Any]) -> int | None:
    """First bar that opens before the previous one, or None.

    (Repeated opens are allowed: a live feed may send a forming bar more than once.)
    """
    if ts_event.shape[0] < 2:
        return None
    back = ts_event[1:] < ts_event[:-1]
    return int(np.flatnonzero(back)[0]) + 1 if back.any() else None


# per kind: (column, lowest, highest) with sizes limited to >= 0, for checking one row at a time
_ROW_LIMITS = {
    kind: tuple((name, 0 if name in _SIZE_COLUMNS else int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
                for name, dtype in schema.items())
    for kind, schema in SCHEMAS.items()
}


def _row_problem(kind: str, row: Mapping[str, Any]) -> str | None:
    """What is wrong with one row, or None: the per-row form of the column checks."""
    for name, lo, hi in _ROW_LIMITS[kind]:
        value = row[name]
        if type(value) is not int and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)):
            return f"{name}={value!r} is not an integer"
        if not lo <= value <= hi:
            if lo == 0 and value < 0:
                return f"{name}={value}: sizes cannot be negative"
            return f"{name}={value} does not fit {SCHEMAS[kind][name].name}"
    for name in _PRICE_COLUMNS.get(kind, ()):
        if row[name] <= 0:
            return f"{name}={row[name]}: prices must be positive"
    if kind == "trades" and row["size"] == 0:
        return "size=0: a trade's size must be positive"
    if kind == "trades" and row["aggressor"] not in (-1, 0, 1):
        return f"aggressor={row['aggressor']}: aggressor is +1, -1 or 0"
    if kind == "bars":
        if row["high"] < max(row["open"], row["close"]):
            return f"high={row['high']}: high is below open or close"
        if row["low"] > min(row["open"], row["close"]):
            return f"low={row['low']}: low is above open or close"
    return None


def _prepare(kind: str, columns: Mapping[str, Any], interval_ns: int | None) -> Columns:
    """Validate and convert a whole stream's columns; sort by ts_recv (stable)."""
    schema = SCHEMAS[kind]
    given = dict(columns)
    if kind == "bars" and "ts_recv" not in given and "ts_event" in given and interval_ns is not None:
        opens = _int_column(kind, "ts_event", given["ts_event"], _I8)
        if opens.size and int(opens.max()) > _INT64_MAX - interval_ns:
            raise DataError("bars: ts_event + interval_ns does not fit int64")
        given["ts_recv"] = opens + interval_ns
    if kind == "trades":
        given.setdefault("aggressor", np.zeros(len(given.get("price", ())), _I1))
        given.setdefault("trade_id", np.zeros(len(given.get("price", ())), _I8))
    if kind in ("trades", "quotes") and "ts_recv" not in given and "ts_event" in given:
        given["ts_recv"] = given["ts_event"]
    unknown = set(given) - set(schema)
    missing = [c for c in schema if c not in given and not (kind == "book" and c == "first")]
    if unknown:
        raise DataError(f"{kind}: unknown columns {sorted(unknown)} (columns are {', '.join(schema)})")
    if missing:
        raise DataError(f"{kind}: missing columns {missing}")
    cols = {name: _int_column(kind, name, given[name], dtype) for name, dtype in schema.items() if name in given}
    message_cols = [c for c in cols if c not in BOOK_LEVEL_COLUMNS]
    level_cols = [c for c in cols if c in BOOK_LEVEL_COLUMNS]
    for group in (message_cols, level_cols):
        lengths = {c: cols[c].shape[0] for c in group}
        if len(set(lengths.values())) > 1:
            raise DataError(f"{kind}: columns differ in length: {lengths}")
    _check_domain(kind, cols)
    if kind == "book":
        return _prepare_book(cols)
    ts_recv = cols["ts_recv"]
    if ts_recv.shape[0] > 1 and np.any(ts_recv[1:] < ts_recv[:-1]):
        order = np.argsort(ts_recv, kind="stable")
        cols = {name: col[order] for name, col in cols.items()}
    if kind == "bars":
        back = _bar_going_back(cols["ts_event"])
        if back is not None:
            raise DataError(f"bars: row {back}: bar opening at {int(cols['ts_event'][back])} is before the previous "
                            f"bar's open {int(cols['ts_event'][back - 1])} (in ts_recv order); rule: bar open times "
                            "are non-decreasing")
    return cols


def _refuse_out_of_order(stream_dir: Path, info: StreamInfo, old: Columns, new: Columns) -> None:
    """Refuse rows to append that do not come after the stream's last row."""
    if not old["ts_recv"].shape[0]:
        return
    last_recv, first_recv = int(old["ts_recv"][-1]), int(new["ts_recv"][0])
    if first_recv < last_recv:
        raise DataError(f"{stream_dir}: the rows to append start at ts_recv {first_recv}, before the stream's last row "
                        f"({last_recv}); append in time order (these overlap what is there)")
    if info.kind == "bars":
        assert info.interval_ns is not None
        last_open, first_open = int(old["ts_event"][-1]), int(new["ts_event"][0])
        if first_open - last_open < info.interval_ns:
            raise DataError(f"{stream_dir}: the first bar to append opens at {first_open}, less than one interval "
                            f"({format_interval(info.interval_ns)}) after the stream's last bar ({last_open}); "
                            "append in time order (these overlap what is there)")
    if info.kind == "trades":
        last_id, first_id = int(old["trade_id"][-1]), int(new["trade_id"][0])
        if last_id and first_id and first_id <= last_id:
            raise DataError(f"{stream_dir}: the first trade to append has id {first_id}, not above the stream's last "
                            f"trade id {last_id}; these trades overlap what is there")


def _prepare_book(cols: Columns) -> Columns:
    count = cols["count"]
    n_levels = cols["lvl_side"].shape[0]
    starts = cols["first"] if "first" in cols else np.cumsum(count, dtype=np.int64) - count
    if np.any(starts < 0) or np.any(starts + count > n_levels):
        bad = int(np.flatnonzero((starts < 0) | (starts + count > n_levels))[0])
        raise DataError(f"book message {bad}: levels {int(starts[bad])}:{int(starts[bad] + count[bad])} "
                        f"outside the level table of {n_levels} rows")
    # put messages in ts_recv order, then lay their levels out message by message: bids first by
    # descending price, then asks by ascending price (what iter_book_events relies on)
    order = np.argsort(cols["ts_recv"], kind="stable")
    count = count[order]
    starts = starts[order]
    total = int(count.sum())
    message_of = np.repeat(np.arange(len(order)), count)
    new_first = np.cumsum(count, dtype=np.int64) - count
    source = np.repeat(starts - new_first, count) + np.arange(total, dtype=np.int64)
    side = cols["lvl_side"][source]
    price = cols["lvl_price"][source]
    within = np.lexsort((np.where(side > 0, -price, price), -side.astype(np.int64), message_of))
    source = source[within]
    out = {name: cols[name][order] for name in ("ts_event", "ts_recv", "sequence", "is_snapshot")}
    out["first"] = new_first
    out["count"] = count.astype(_I4)
    for name in BOOK_LEVEL_COLUMNS:
        out[name] = cols[name][source]
    return out


def _time_range(cols: Columns) -> tuple[int, int]:
    if cols["ts_recv"].shape[0] == 0:
        return 0, 0
    return int(cols["ts_event"].min()), int(cols["ts_recv"][-1])


class DatasetWriter:
    """Creates a data set, or adds streams and instruments to an existing one.

    Whole streams go in with :meth:`add_bars` / :meth:`add_trades` / :meth:`add_quotes` /
    :meth:`add_book` (numpy arrays of scaled integers, named as in :data:`SCHEMAS`); a recording
    goes in row by row through :meth:`appender`. ``meta.json`` is rewritten atomically after each
    change, so the data set on disk is readable at every moment.
    """

    def __init__(self, path: str | os.PathLike[str], instruments: Iterable[Instrument] = (), *,
                 durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        "fsync files before renaming them into place (survives power loss, not only a crash)."
        if (self.path / META_FILE).exists():
            self._instruments, self._streams = _read_meta(self.path)
        else:
            if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
                raise DataError(f"{self.path}: exists and is not a data set (no {META_FILE}); "
                                "refusing to write into it")
            self.path.mkdir(parents=True, exist_ok=True)
            self._instruments, self._streams = {}, []
        for instrument in instruments:
            self.add_instrument(instrument, _write=False)
        self._write_meta()

    @property
    def instruments(self) -> dict[str, Instrument]:
        """Instruments of the data set by key."""
        return dict(self._instruments)

    @property
    def streams(self) -> list[StreamInfo]:
        """Streams of the data set so far."""
        return list(self._streams)

    def add_instrument(self, instrument: Instrument, *, _write: bool = True) -> None:
        """Define an instrument; an existing definition must match it field for field."""
        existing = self._instruments.get(instrument.key)
        if existing is not None:
            old, new = existing.to_dict(), instrument.to_dict()
            diff = [f"{k}: {old.get(k)!r} here, {new.get(k)!r} given" for k in new if old.get(k) != new.get(k)]
            if diff:
                raise DataError(f"{self.path}: instrument {instrument.key} is already defined differently ({'; '.join(diff)})")
            return
        self._instruments[instrument.key] = instrument
        if _write:
            self._write_meta()

    def _instrument_key(self, instrument: Instrument | str) -> str:
        if isinstance(instrument, Instrument):
            self.add_instrument(instrument)
            return instrument.key
        if instrument not in self._instruments:
            raise DataError(f"{self.path}: instrument {instrument!r} is not defined; pass the Instrument first")
        return instrument

    def _new_stream_dir(self, kind: str, key: str, name: str | None, interval_ns: int | None) -> tuple[str, Path]:
        name = name or default_stream_name(kind, key, interval_ns)
        if not _SAFE_NAME.match(name) or name.endswith((".partial", ".replaced")):
            raise DataError(f"bad stream name {name!r} (letters, digits, '.', '_', '-')")
        if any(s.name == name for s in self._streams):
            raise DataError(f"{self.path}: stream {name!r} already exists; give the new stream another name, "
                            "or append to it (append_columns, or `triotrade data import --append`)")
        stream_dir = self.path / name
        if stream_dir.exists():
            raise DataError(f"{stream_dir}: exists but is not a stream of this data set; remove it or pick another name")
        return name, stream_dir

    def _write_meta(self) -> None:
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "instruments": {key: inst.to_dict() for key, inst in self._instruments.items()},
            "streams": [s.to_meta() for s in self._streams],
        }
        target = self.path / META_FILE
        tmp = self.path / (META_FILE + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
            fh.write("\n")
            if self.durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        if self.durable:
            _fsync_dir(self.path)

    def _set_stream(self, info: StreamInfo) -> None:
        for i, s in enumerate(self._streams):
            if s.name == info.name:
                self._streams[i] = info
                break
        else:
            self._streams.append(info)
        self._write_meta()

    # -- whole streams ----------------------------------------------------------------------
    def add_columns(self, kind: str, instrument: Instrument | str, columns: Mapping[str, Any], *,
                    name: str | None = None, interval_ns: int | None = None, source: str = "") -> StreamInfo:
        """Write a whole stream of ``kind`` from numpy arrays named as in :data:`SCHEMAS`."""
        if kind not in SCHEMAS:
            raise DataError(f"unknown stream kind {kind!r} (expected one of {', '.join(KINDS)})")
        if kind == "bars" and (interval_ns is None or interval_ns <= 0):
            raise DataError("bars need a positive interval_ns")
        key = self._instrument_key(instrument)
        cols = _prepare(kind, columns, interval_ns)
        name, stream_dir = self._new_stream_dir(kind, key, name, interval_ns)
        partial = self.path / f"{name}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
        files = self._save_columns(partial, kind, cols)
        os.replace(partial, stream_dir)
        start, end = _time_range(cols)
        inst = self._instruments[key]
        info = StreamInfo(name=name, kind=kind, instrument=key, rows=int(cols["ts_recv"].shape[0]),
                          start_ns=start, end_ns=end, interval_ns=interval_ns if kind == "bars" else None,
                          levels=int(cols["lvl_side"].shape[0]) if kind == "book" else None, source=source,
                          price_scale=inst.price_scale, size_scale=inst.size_scale, files=files)
        self._set_stream(info)
        return info

    def _save_columns(self, directory: Path, kind: str, cols: Columns) -> tuple[FileCheck, ...]:
        """Write every column of ``cols`` into ``directory``; their sizes and CRC-32s."""
        checks = []
        for column in SCHEMAS[kind]:
            file = directory / f"{column}.npy"
            _save_npy(file, cols[column], durable=self.durable)
            checks.append(FileCheck(file=file.name, size=file.stat().st_size, crc32=crc32_of(cols[column])))
        return tuple(checks)

    def add_bars(self, instrument: Instrument | str, *, ts_event: Any, open: Any, high: Any, low: Any, close: Any,
                 volume: Any, interval_ns: int, ts_recv: Any = None, name: str | None = None,
                 source: str = "") -> StreamInfo:
        """Write a bar stream. ``ts_event`` is each bar's open time; ``ts_recv`` defaults to open + interval."""
        cols = {"ts_event": ts_event, "open": open, "high": high, "low": low, "close": close, "volume": volume}
        if ts_recv is not None:
            cols["ts_recv"] = ts_recv
        return self.add_columns("bars", instrument, cols, name=name, interval_ns=interval_ns, source=source)

    def add_trades(self, instrument: Instrument | str, *, ts_event: Any, price: Any, size: Any,
                   aggressor: Any = None, trade_id: Any = None, ts_recv: Any = None, name: str | None = None,
                   source: str = "") -> StreamInfo:
        """Write a trade stream (``ts_recv`` defaults to ``ts_event``, aggressor and trade_id to 0)."""
        cols = {"ts_event": ts_event, "price": price, "size": size}
        for column, value in (("aggressor", aggressor), ("trade_id", trade_id), ("ts_recv", ts_recv)):
            if value is not None:
                cols[column] = value
        return self.add_columns("trades", instrument, cols, name=name, source=source)

    def add_quotes(self, instrument: Instrument | str, *, ts_event: Any, bid: Any, bid_size: Any, ask: Any,
                   ask_size: Any, ts_recv: Any = None, name: str | None = None, source: str = "") -> StreamInfo:
        """Write a top-of-book stream (``ts_recv`` defaults to ``ts_event``)."""
        cols = {"ts_event": ts_event, "bid": bid, "bid_size": bid_size, "ask": ask, "ask_size": ask_size}
        if ts_recv is not None:
            cols["ts_recv"] = ts_recv
        return self.add_columns("quotes", instrument, cols, name=name, source=source)

    def add_book(self, instrument: Instrument | str, *, ts_event: Any, ts_recv: Any, sequence: Any, is_snapshot: Any,
                 count: Any, lvl_side: Any, lvl_price: Any, lvl_size: Any, first: Any = None,
                 name: str | None = None, source: str = "") -> StreamInfo:
        """Write an L2 book stream: a message table plus a level table (see the module docstring).

        ``first`` may be omitted when levels are already laid out message by message. Levels are
        reordered within each message to bids (descending) then asks (ascending).
        """
        cols = {"ts_event": ts_event, "ts_recv": ts_recv, "sequence": sequence, "is_snapshot": is_snapshot,
                "count": count, "lvl_side": lvl_side, "lvl_price": lvl_price, "lvl_size": lvl_size}
        if first is not None:
            cols["first"] = first
        return self.add_columns("book", instrument, cols, name=name, source=source)

    # -- recordings -------------------------------------------------------------------------
    def appender(self, kind: str, instrument: Instrument | str, *, name: str | None = None,
                 interval_ns: int | None = None, source: str = "", chunk_rows: int = 65_536) -> StreamAppender:
        """Start a stream recorded row by row; see :class:`StreamAppender`."""
        if kind not in SCHEMAS:
            raise DataError(f"unknown stream kind {kind!r} (expected one of {', '.join(KINDS)})")
        if kind == "bars" and (interval_ns is None or interval_ns <= 0):
            raise DataError("bars need a positive interval_ns")
        if chunk_rows <= 0:
            raise DataError("chunk_rows must be positive")
        key = self._instrument_key(instrument)
        name, stream_dir = self._new_stream_dir(kind, key, name, interval_ns)
        stream_dir.mkdir()
        inst = self._instruments[key]
        info = StreamInfo(name=name, kind=kind, instrument=key, rows=0, start_ns=0, end_ns=0,
                          interval_ns=interval_ns if kind == "bars" else None,
                          levels=0 if kind == "book" else None, chunks=0, source=source,
                          price_scale=inst.price_scale, size_scale=inst.size_scale)
        self._set_stream(info)
        return StreamAppender(self, info, chunk_rows)

    def append_columns(self, name: str, columns: Mapping[str, Any], *, source: str | None = None) -> StreamInfo:
        """Extend the finalized stream ``name`` with rows that come after it in time.

        ``columns`` are as for :meth:`add_columns`. The new rows must not start before the stream
        ends: ``ts_recv`` continues without going back, a bar opens at least one interval after the
        last bar, and a trade id (when both sides have one) is above the last one, so re-importing
        an overlapping file is refused. Each column is rewritten whole (old rows streamed from the
        memory map, then the new ones) into a new directory that replaces the stream's; a gap
        between the stream's end and the new rows is allowed (see :func:`find_gaps`). ``source``, if
        given, replaces the stream's description.
        """
        info = next((s for s in self._streams if s.name == name), None)
        if info is None:
            raise DataError(f"{self.path}: no stream {name!r} to append to")
        if info.chunks is not None:
            raise DataError(f"{self.path}: stream {name!r} is still being recorded in chunks; finalize it first")
        new = _prepare(info.kind, columns, info.interval_ns)
        if not new["ts_recv"].shape[0]:
            return info
        old = Dataset(self.path, self._instruments, self._streams).columns(name)
        _refuse_out_of_order(self.path / name, info, old, new)
        if info.kind == "book":
            new["first"] = new["first"] + (info.levels or 0)
        replaced = self.path / f"{name}.replaced"
        checks = self._rewrite_stream(info, old, new, replaced)
        del old
        inst = self._instruments[info.instrument]
        start, end = _time_range(new)
        info = attrs.evolve(
            info, rows=info.rows + int(new["ts_recv"].shape[0]), start_ns=min(info.start_ns, start) if info.rows else start,
            end_ns=end, levels=(info.levels or 0) + int(new["lvl_side"].shape[0]) if info.kind == "book" else None,
            price_scale=inst.price_scale, size_scale=inst.size_scale, files=tuple(checks),
            source=info.source if source is None else source)
        self._set_stream(info)
        shutil.rmtree(replaced)
        return info

    def _rewrite_stream(self, info: StreamInfo, old: Columns, new: Columns, replaced: Path) -> tuple[FileCheck, ...]:
        """Write old + new rows of every column into ``<name>.partial/``, then swap it in for the
        stream directory (moved to ``replaced``, which the caller removes once meta.json is written)."""
        partial = self.path / f"{info.name}.partial"
        for leftover in (partial, replaced):
            if leftover.exists():
                shutil.rmtree(leftover)
        partial.mkdir()
        checks = []
        for column, dtype in SCHEMAS[info.kind].items():
            parts = (old[column], new[column])
            total = sum(int(part.shape[0]) for part in parts)
            checks.append(_join_into(partial / f"{column}.npy", dtype, total, parts, durable=self.durable))
        os.replace(self.path / info.name, replaced)
        os.replace(partial, self.path / info.name)
        return tuple(checks)

    def finalize_stream(self, name: str) -> StreamInfo:
        """Join the chunks of a stream left chunked (e.g. by a recorder that crashed) into single files."""
        info = next((s for s in self._streams if s.name == name), None)
        if info is None:
            raise DataError(f"{self.path}: no stream {name!r}")
        if info.chunks is None:
            return info
        return StreamAppender(self, info, 1).finalize()

    def dataset(self, *, verify: bool = True) -> Dataset:
        """Open what has been written so far."""
        return open_dataset(self.path, verify=verify)


class StreamAppender:
    """Appends rows to one stream in chunks, for recordings that run for hours.

    Rows are buffered in memory and written as a chunk every ``chunk_rows`` rows (or on
    :meth:`flush`); each chunk is complete on disk before ``meta.json`` names it, so a crash loses
    at most the unflushed buffer. :meth:`finalize` (also on leaving a ``with`` block) flushes and
    joins the chunks into single column files, streaming through a memory map so that a long
    recording never has to fit in memory. Bad rows are refused at append time with
    :class:`~engine.DataError` and nothing of them is kept.
    """

    def __init__(self, writer: DatasetWriter, info: StreamInfo, chunk_rows: int) -> None:
        self._writer = writer
        self._info = info
        self.chunk_rows = chunk_rows
        "Rows per chunk: the most a crash can lose, and about what the buffer holds."
        self._schema = SCHEMAS[info.kind]
        self._buffers: dict[str, list[int]] = {c: [] for c in self._schema}
        self._last_recv = _INT64_MIN
        self._min_event: int | None = None
        self._last_bar_open: int | None = None
        self._finalized = False

    @property
    def info(self) -> StreamInfo:
        """The stream as ``meta.json`` describes it now (flushed rows only)."""
        return self._info

    @property
    def buffered_rows(self) -> int:
        """Rows appended but not yet flushed."""
        return len(self._buffers["ts_recv"])

    def __enter__(self) -> StreamAppender:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finalize()
        elif not self._finalized:
            self.flush()  # keep what was recorded; the stream stays chunked and readable

    # -- appending --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._finalized:
            raise DataError(f"stream {self._info.name!r} is finalized; open a new appender to record more")

    def _check_time(self, ts_event: int, ts_recv: int) -> None:
        for label, value in (("ts_event", ts_event), ("ts_recv", ts_recv)):
            if not isinstance(value, (int, np.integer)) or not _INT64_MIN <= value <= _INT64_MAX:
                raise DataError(f"stream {self._info.name!r}: {label} {value!r} is not an int64 nanosecond time")
        self._check_order(ts_recv)

    def _check_order(self, ts_recv: int) -> None:
        if ts_recv < self._last_recv:
            raise DataError(f"stream {self._info.name!r}: ts_recv {ts_recv} is before the previous row's "
                            f"{self._last_recv}; rows must be appended in receive order")

    def _check_bar_order(self, ts_event: int) -> None:
        opens = self._buffers["ts_event"]
        previous = opens[-1] if opens else self._last_bar_open
        if previous is not None and ts_event < previous:
            raise DataError(f"stream {self._info.name!r}: a bar opening at {ts_event} is before the previous "
                            f"bar's open {previous}; bars must be appended in time order")

    def append(self, **row: int) -> None:
        """Append one row of a bars/trades/quotes stream, columns by name (see :data:`SCHEMAS`)."""
        self._check_open()
        if self._info.kind == "book":
            raise DataError("book streams take rows through append_book() or append_event()")
        if row.keys() != self._schema.keys():
            missing = sorted(set(self._schema) - set(row))
            unknown = sorted(set(row) - set(self._schema))
            raise DataError(f"stream {self._info.name!r}: row has missing columns {missing}, unknown {unknown}")
        problem = _row_problem(self._info.kind, row)
        if problem:
            raise DataError(f"stream {self._info.name!r}: row {self._info.rows + self.buffered_rows}: {problem}")
        self._check_order(row["ts_recv"])
        if self._info.kind == "bars":
            self._check_bar_order(row["ts_event"])
        for name, values in self._buffers.items():
            values.append(row[name])
        self._note_time(row["ts_event"], row["ts_recv"])

    def append_book(self, ts_event: int, ts_recv: int, sequence: int, is_snapshot: bool,
                    bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]]) -> None:
        """Append one book message (levels as ``(price_raw, size_raw)``)."""
        self._check_open()
        if self._info.kind != "book":
            raise DataError(f"stream {self._info.name!r} holds {self._info.kind}, not book")
        self._check_time(ts_event, ts_recv)
        bid_levels = sorted(((int(p), int(s)) for p, s in bids), reverse=True)
        ask_levels = sorted((int(p), int(s)) for p, s in asks)
        for price, size in bid_levels + ask_levels:
            if not _INT64_MIN <= price <= _INT64_MAX or not 0 <= size <= _INT64_MAX:
                raise DataError(f"stream {self._info.name!r}: level ({price}, {size}) does not fit int64 "
                                "or has a negative size")
        if not _INT64_MIN <= sequence <= _INT64_MAX:
            raise DataError(f"stream {self._info.name!r}: sequence {sequence} does not fit int64")
        b = self._buffers
        b["ts_event"].append(int(ts_event))
        b["ts_recv"].append(int(ts_recv))
        b["sequence"].append(int(sequence))
        b["is_snapshot"].append(1 if is_snapshot else 0)
        b["first"].append(0)  # set at flush from the running level count
        b["count"].append(len(bid_levels) + len(ask_levels))
        for side, levels in ((1, bid_levels), (-1, ask_levels)):
            for price, size in levels:
                b["lvl_side"].append(side)
                b["lvl_price"].append(price)
                b["lvl_size"].append(size)
        self._note_time(ts_event, ts_recv)

    def append_event(self, event: Trade | Quote | Bar | BookSnapshot | BookDelta) -> None:
        """Append an engine market-data event of this stream's kind and instrument."""
        if event.instrument.key != self._info.instrument:
            raise DataError(f"stream {self._info.name!r} records {self._info.instrument}, got {event.instrument.key}")
        if isinstance(event, Trade) and self._info.kind == "trades":
            self.append(ts_event=event.ts_event, ts_recv=event.ts_recv, price=event.price_raw, size=event.size_raw,
                        aggressor=event.aggressor, trade_id=event.trade_id)
        elif isinstance(event, Quote) and self._info.kind == "quotes":
            self.append(ts_event=event.ts_event, ts_recv=event.ts_recv, bid=event.bid_raw, bid_size=event.bid_size_raw,
                        ask=event.ask_raw, ask_size=event.ask_size_raw)
        elif isinstance(event, Bar) and self._info.kind == "bars":
            if event.interval_ns != self._info.interval_ns:
                raise DataError(f"stream {self._info.name!r} holds {format_interval(self._info.interval_ns or 0)} "
                                f"bars, got a {format_interval(event.interval_ns)} bar")
            self.append(ts_event=event.ts_event, ts_recv=event.ts_recv, open=event.open_raw, high=event.high_raw,
                        low=event.low_raw, close=event.close_raw, volume=event.volume_raw)
        elif isinstance(event, (BookSnapshot, BookDelta)) and self._info.kind == "book":
            self.append_book(event.ts_event, event.ts_recv, event.sequence, isinstance(event, BookSnapshot),
                             event.bids, event.asks)
        else:
            raise DataError(f"stream {self._info.name!r} holds {self._info.kind}, got {type(event).__name__}")

    def _note_time(self, ts_event: int, ts_recv: int) -> None:
        self._last_recv = ts_recv
        if self._min_event is None or ts_event < self._min_event:
            self._min_event = int(ts_event)
        if len(self._buffers["ts_recv"]) >= self.chunk_rows:
            self.flush()

    # -- chunks -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the buffered rows as one chunk and name it in ``meta.json``."""
        if self._finalized or not self.buffered_rows:
            return
        info = self._info
        assert info.chunks is not None
        stream_dir = self._writer.path / info.name
        cols = {name: np.array(values, dtype=self._schema[name]) for name, values in self._buffers.items()}
        if info.kind == "book":
            assert info.levels is not None
            cols["first"] = info.levels + np.cumsum(cols["count"], dtype=np.int64) - cols["count"]
        for column, array in cols.items():
            _save_npy(_chunk_file(stream_dir, column, info.chunks), array, durable=self._writer.durable)
        rows = int(cols["ts_recv"].shape[0])
        assert self._min_event is not None
        self._info = attrs.evolve(
            info, rows=info.rows + rows, chunks=info.chunks + 1,
            start_ns=self._min_event if info.rows == 0 else min(info.start_ns, self._min_event),
            end_ns=int(cols["ts_recv"][-1]),
            levels=(info.levels or 0) + int(cols["lvl_side"].shape[0]) if info.kind == "book" else None,
        )
        self._writer._set_stream(self._info)
        if info.kind == "bars":
            self._last_bar_open = int(cols["ts_event"][-1])
        for values in self._buffers.values():
            values.clear()
        self._min_event = None

    def finalize(self) -> StreamInfo:
        """Flush, then join the chunks into one ``<column>.npy`` per column. Idempotent."""
        if self._finalized:
            return self._info
        self.flush()
        info = self._info
        assert info.chunks is not None
        stream_dir = self._writer.path / info.name
        checks = []
        for column, dtype in self._schema.items():
            total = info.levels if column in BOOK_LEVEL_COLUMNS else info.rows
            assert total is not None
            parts = [np.load(_chunk_file(stream_dir, column, k), mmap_mode="r") for k in range(info.chunks)]
            checks.append(_join_into(stream_dir / f"{column}.npy", dtype, total, parts, durable=self._writer.durable))
        self._info = attrs.evolve(info, chunks=None, files=tuple(checks))
        self._writer._set_stream(self._info)  # from here the single files are authoritative
        for k in range(info.chunks):
            for column in self._schema:
                _chunk_file(stream_dir, column, k).unlink(missing_ok=True)
        for leftover in stream_dir.glob("*.npy.tmp"):  # from a write a crash interrupted
            leftover.unlink()
        self._finalized = True
        return self._info

