"""Fuzzing the CSV importer: any bytes in give a sound data set or a DataError naming the file, nothing else.

Bounded and deterministic: ``derandomize=True`` fixes the examples, no example database is kept,
and the example counts keep the whole file to a few seconds.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from backtest.csv_import import import_csv
from backtest.data import open_dataset
from engine import DataError

FUZZ = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

T_MS = 1_704_067_200_000

# fields that are valid, almost valid, or hostile
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["0", "0.0", "-1", "-0.5", "1e5", "1E-3", "NaN", "inf", "", " ", ".", "..1", "1.2.3", "0x10",
                     "１２３", "٣", "9" * 14, "9" * 19, "9" * 40, "0." + "1" * 30, '"42.5"', "+3", "1_000",
                     "\u00a0"]),
)
TIMES = st.one_of(
    st.integers(min_value=T_MS, max_value=T_MS + 10**8).map(str),
    st.integers(min_value=T_MS * 1000, max_value=T_MS * 1000 + 10**11).map(str),
    st.sampled_from(["0", "-1", "1" * 25, "1704067200000.5", "", "abc", str(2**63), str(2**63 - 1), "99999999999999",
                     "9999999999999999", "9223372036854775000"]),
)
FLAGS = st.sampled_from(["True", "False", "true", "FALSE", "yes", "", "1", "0", "tru"])
JUNK = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


def kline_line(draw: st.DrawFn) -> str:
    fields = [draw(TIMES)] + [draw(NUMBERS) for _ in range(5)]
    if draw(st.booleans()):
        fields += [draw(TIMES)] + [draw(NUMBERS) for _ in range(5)]
    return ",".join(fields)


def trade_line(draw: st.DrawFn) -> str:
    return ",".join([draw(NUMBERS), draw(NUMBERS), draw(NUMBERS), draw(NUMBERS), draw(TIMES), draw(FLAGS)])


@st.composite
def csv_texts(draw: st.DrawFn, kind: str) -> bytes:
    """Mostly well-formed rows with hostile fields, headers, blank lines, ragged and junk lines mixed in."""
    line = kline_line if kind == "klines" else trade_line
    lines = [draw(st.sampled_from(["", "open_time,open,high,low,close,volume", "id,price,qty,quote_qty,time,"
                                                                               "is_buyer_maker"]))]
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        choice = draw(st.integers(min_value=0, max_value=9))
        if choice < 7:
            lines.append(line(draw))
        elif choice == 7:
            lines.append(draw(JUNK))
        elif choice == 8:
            lines.append(line(draw).rsplit(",", 1)[0])  # a field short
        else:
            lines.append(line(draw) + "," + draw(JUNK))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return ending.join(lines).encode("utf-8") + draw(st.sampled_from([b"", b"\n", b"\xff", b"\x00"]))


PRICES = st.decimals(min_value="0.01", max_value=10**6, places=2).map(str)
SIZES = st.decimals(min_value="0.001", max_value=10**4, places=3).map(str)


@st.composite
def sound_rows(draw: st.DrawFn, kind: str) -> bytes:
    """Rows that import, one field in a few replaced by a hostile one: reaches the writer and reader."""
    lines = []
    t = draw(st.integers(min_value=T_MS, max_value=T_MS + 10**9)) // 60_000 * 60_000
    for i in range(draw(st.integers(min_value=1, max_value=15))):
        t += draw(st.sampled_from([60_000, 60_000, 60_000, 120_000, 30_000, 0])) if kind == "klines" else \
            draw(st.integers(min_value=0, max_value=5_000))
        if kind == "klines":
            o, c, a, b = (draw(PRICES) for _ in range(4))
            high, low = max(o, c, a, key=float), min(o, c, b, key=float)
            fields = [str(t), o, high, low, c, draw(SIZES), str(t + 59_999)]
        else:
            fields = [str(1000 + i), draw(PRICES), draw(SIZES), "1.0", str(t), draw(FLAGS)]
        if draw(st.integers(min_value=0, max_value=19)) == 0:
            fields[draw(st.integers(min_value=0, max_value=len(fields) - 1))] = draw(NUMBERS)
        lines.append(",".join(fields))
    return ("\n".join(lines) + "\n").encode()


def check_import(raw: bytes, kind: str, *, skip_bad: bool, as_zip: bool = False) -> None:
    """Import ``raw``: either the data set opens (every check and checksum) with the rows imported,
    or a DataError names the file, on one line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("in.zip" if as_zip else "in.csv")
        if as_zip:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr("in.csv", raw)
            path.write_bytes(buffer.getvalue())
        else:
            path.write_bytes(raw)
        out = Path(tmp) / "ds"
        try:
            result = import_csv(out, kind, [path], venue="ext", symbol="BTC/USDT", skip_bad=skip_bad, durable=False)
        except DataError as e:
            message = str(e)
            assert str(path) in message, message
            assert "\n" not in message, message
            event("refused with a DataError")
            return
        event("imported")
        ds = open_dataset(out, checksums=True)
        info = ds.stream(result.stream.name)
        assert info.rows == result.stream.rows > 0
        cols = ds.columns(info.name)
        assert all(len(c) == info.rows for c in cols.values())
        assert np.all(cols["ts_event"] >= 10**17)  # times read as ms/µs/ns since the epoch, never wrapped
        if kind == "trades":
            assert np.all(cols["price"] > 0) and np.all(cols["size"] > 0)


@FUZZ
@given(raw=st.binary(max_size=300), kind=st.sampled_from(["klines", "trades"]), skip_bad=st.booleans())
def test_any_bytes(raw: bytes, kind: str, skip_bad: bool) -> None:
    check_import(raw, kind, skip_bad=skip_bad)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["klines", "trades"]), skip_bad=st.booleans(), as_zip=st.booleans())
def test_csv_like_input(data: st.DataObject, kind: str, skip_bad: bool, as_zip: bool) -> None:
    check_import(data.draw(csv_texts(kind)), kind, skip_bad=skip_bad, as_zip=as_zip)


@settings(FUZZ, max_examples=30)
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_a_zip_archive(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.zip"
        path.write_bytes(b"PK\x03\x04" + raw)
        try:
            import_csv(Path(tmp) / "ds", "trades", [path], venue="ext", symbol="BTC/USDT", durable=False)
        except DataError as e:
            assert str(path) in str(e)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["klines", "trades"]), skip_bad=st.booleans())
def test_mostly_sound_rows(data: st.DataObject, kind: str, skip_bad: bool) -> None:
    check_import(data.draw(sound_rows(kind)), kind, skip_bad=skip_bad)
