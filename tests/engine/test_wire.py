"""engine._wire: bounded numbers and JSON from outside, and the malformed-frame guard."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from engine import (
    JsonNumber,
    MalformedFrameGuard,
    WireFormatError,
    loads_json,
    wire_decimal,
    wire_int,
    wire_scaled,
    wire_seconds,
)


@pytest.mark.parametrize(("text", "value"), [
    ("0", Decimal(0)), ("-1.25", Decimal("-1.25")), ("+2.", Decimal(2)), (".5", Decimal("0.5")), (7, Decimal(7)),
])
def test_wire_decimal_reads_plain_numbers(text: str | int, value: Decimal) -> None:
    assert wire_decimal(text) == value


@pytest.mark.parametrize("text", [
    "Infinity", "-inf", "NaN", "1e1000", "1e5", "1e400000", "١٢", "１２", "12\n", " 12", "1.2.3", "", ".", "-",
    "1" * 65, True, None, 1.5,
])
def test_wire_decimal_refuses_what_no_venue_calls_a_number(text: object) -> None:
    with pytest.raises(WireFormatError):
        wire_decimal(text)  # type: ignore[arg-type]


def test_exponents_only_in_json_numbers_and_bounded() -> None:
    assert wire_decimal(JsonNumber("1e-05")) == Decimal("0.00001")
    assert wire_decimal("1E+3", allow_exponent=True) == Decimal(1000)
    for text in ("1e65", "1e-65", "1e400000"):
        with pytest.raises(WireFormatError, match="exponent"):
            wire_decimal(JsonNumber(text))


def test_wire_int_counts_digits_of_json_integers() -> None:
    assert wire_int(10**20 - 1) == 10**20 - 1
    assert wire_int("-42") == -42
    with pytest.raises(WireFormatError):
        wire_int(10**20)  # 21 digits: used to pass while its bit length was under 4 * 20
    for text in ("²", "١", "4 2", "", "1" * 22):
        with pytest.raises(WireFormatError):
            wire_int(text)


@pytest.mark.parametrize(("text", "scale", "raw"), [
    ("30000.10", 2, 3000010), ("-1.5", 1, -15), (7, 3, 7000), (JsonNumber("1e-7"), 8, 10),
    (JsonNumber("1.5E3"), 0, 1500), ("123456789012345678901234567890.25", 2, 12345678901234567890123456789025),
    (JsonNumber("1234567890123456789012345678901.5e1"), 0, 12345678901234567890123456789015),
])
def test_wire_scaled_is_exact(text: str | int, scale: int, raw: int) -> None:
    assert wire_scaled(text, scale) == raw


@pytest.mark.parametrize("text", ["Infinity", "1e1000", "١٢", "1e-7", "0.123", None, 1.5, True, [1]])
def test_wire_scaled_raises_only_value_errors(text: object) -> None:
    with pytest.raises(ValueError):
        wire_scaled(text, 2)  # type: ignore[arg-type]


def test_a_huge_exponent_costs_no_cpu() -> None:
    started = time.perf_counter()
    for _ in range(100):
        with pytest.raises(ValueError):
            wire_scaled(JsonNumber("1e400000"), 8)
        with pytest.raises(WireFormatError):
            loads_json('{"bid": 1e400000}', parse_float=JsonNumber)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("header", "seconds"), [
    ("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("999999", 3600.0), ("inf", None), ("nan", None), ("1e308", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None), ("", None), (None, None),
])
def test_wire_seconds_is_bounded(header: str | None, seconds: float | None) -> None:
    assert wire_seconds(header) == seconds


def test_loads_json_turns_deep_nesting_into_a_wire_format_error() -> None:
    for depth in (65, 5000, 200_000):
        with pytest.raises(WireFormatError, match="nested"):
            loads_json("[" * depth + "]" * depth)
    assert loads_json("[" * 64 + "]" * 64) is not None


def test_loads_json_keeps_json_numbers_apart_from_strings() -> None:
    decoded = loads_json(b'{"p": 1.50, "s": "1.50", "n": 3}', parse_float=JsonNumber)
    assert type(decoded["p"]) is JsonNumber and type(decoded["s"]) is str and decoded["n"] == 3
    for bad in (b'{"p": NaN}', b'{"p": Infinity}', b'{"p": 1e999}', b"\xff", b'{"a": 1', "1" * 70):
        with pytest.raises(WireFormatError):
            loads_json(bad)


def test_guard_logs_within_its_limit_and_asks_for_one_resync_per_window() -> None:
    logged: list[object] = []
    stale: list[str] = []
    guard = MalformedFrameGuard(on_malformed=logged.append, on_stale=stale.append,
                                resync_after=5, window_s=10.0, log_limit=2)
    for n in range(8):
        guard.report(ValueError(n), now=100.0 + n * 0.1)
    assert [str(e) for e in logged] == ["0", "1"]
    assert len(stale) == 1 and "5 malformed frames within 10 s" in stale[0]
    assert guard.dropped == 8 and guard.resyncs == 1
    verdict = guard.record(now=111.0)  # a new window: the 6 unlogged frames are reported once
    assert verdict.suppressed == 6 and verdict.log and not verdict.resync


def test_guard_spread_out_garbage_never_resyncs() -> None:
    stale: list[str] = []
    guard = MalformedFrameGuard(on_stale=stale.append, resync_after=3, window_s=1.0)
    for n in range(20):
        guard.report(ValueError(n), now=float(n))
    assert not stale and guard.dropped == 20
