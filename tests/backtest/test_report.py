"""Backtest statistics, report text, output files and the progress counter."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from backtest.progress import progress
from backtest.report import (
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    RunRecord,
    Stats,
    closed_trades,
    compute_stats,
    fills_canonical_text,
    fills_hash,
    format_report,
    iso_ns,
    iso_ns_array,
    write_outputs,
)
from engine import Fill, Instrument, Liquidity, Order, OrderStatus, OrderType, Side

D = Decimal
DAY_NS = 86_400 * 10**9
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z

BTC = Instrument("sim", "BTC/USDT", "BTC", "USDT", tick_size="0.1", lot_size="0.001")
ETH = Instrument("sim", "ETH/USDT-PERP", "ETH", "USDT", tick_size="0.01", lot_size="0.01",
                 kind="linear", multiplier="0.1")
XBT_INV = Instrument("sim", "XBTUSD", "BTC", "USD", tick_size="0.5", lot_size="1", kind="inverse")


def make_fill(
    inst: Instrument, i: int, side: Side, price: str, qty: str, fee: str = "0", *,
    fee_asset: str | None = None, liquidity: Liquidity = Liquidity.TAKER,
) -> Fill:
    return Fill(
        instrument=inst, ts_event=T0 + i * 10**9, ts_recv=T0 + i * 10**9 + 5,
        client_order_id=f"c{i}", venue_order_id=f"v{i}", trade_id=f"t{i}", side=side,
        price=D(price), qty=D(qty), fee=D(fee), fee_asset=fee_asset or inst.settle,
        liquidity=liquidity, strategy_id="s1",
    )


def make_record(
    equity: list[float] | np.ndarray | None = None, *, exposure: list[float] | np.ndarray | None = None,
    interval_ns: int = DAY_NS, **overrides: Any,
) -> RunRecord:
    eq = np.asarray([100.0] if equity is None else equity, dtype=np.float64)
    ts = T0 + np.arange(len(eq), dtype=np.int64) * interval_ns
    fields: dict[str, Any] = dict(
        starting_equity=D("100"), final_equity=D("100"), currency="USDT",
        realized_pnl=D(0), unrealized_pnl=D(0), fees=D(0),
        equity_ts=ts, equity=eq,
        gross_exposure=np.zeros(len(eq)) if exposure is None else np.asarray(exposure, dtype=np.float64),
        fills=[], orders=[], denials={}, strategy_errors=[],
        events_processed=1000, wall_time_s=0.5, sample_interval_ns=interval_ns,
        start_ns=T0, end_ns=T0 + max(len(eq) - 1, 0) * interval_ns, config_name="unit", seed=1,
    )
    fields.update(overrides)
    return RunRecord(**fields)


def all_floats_finite(stats: Stats) -> bool:
    return all(
        math.isfinite(v) for v in (
            stats.total_return_pct, stats.win_rate_pct, stats.sharpe, stats.sortino,
            stats.max_drawdown_pct, stats.max_drawdown, stats.exposure_pct, stats.avg_leverage,
            stats.max_leverage, stats.turnover, stats.wall_time_s, stats.events_per_s,
        )
    )


# ---------------------------------------------------------------------------------------------
# drawdown, Sharpe, Sortino
# ---------------------------------------------------------------------------------------------


def test_max_drawdown_hand_computed() -> None:
    stats = compute_stats(make_record([100, 120, 90, 110, 60, 130]))
    # running peak 120 from sample 1; deepest fall 120 -> 60 at sample 4
    assert stats.max_drawdown_pct == 50.0
    assert stats.max_drawdown == 60.0
    assert stats.max_drawdown_peak_ns == T0 + 1 * DAY_NS
    assert stats.max_drawdown_trough_ns == T0 + 4 * DAY_NS


def test_max_drawdown_is_the_deepest_in_percent_not_in_amount() -> None:
    # 100 -> 50 is -50 % (50 USDT); 1000 -> 600 is -40 % (400 USDT): the percentage decides
    stats = compute_stats(make_record([100, 50, 1000, 600]))
    assert stats.max_drawdown_pct == 50.0
    assert stats.max_drawdown == 50.0
    assert (stats.max_drawdown_peak_ns, stats.max_drawdown_trough_ns) == (T0, T0 + DAY_NS)


def test_rising_equity_has_no_drawdown() -> None:
    stats = compute_stats(make_record([100, 101, 102, 103]))
    assert stats.max_drawdown_pct == 0.0
    assert stats.max_drawdown == 0.0
    assert stats.sortino == 0.0  # no losing period: undefined, reported as 0


def test_sharpe_and_sortino_of_a_known_series() -> None:
    # returns +10 %, -10 %, +10 %: mean 1/30, sample std sqrt(3)/15, downside dev 0.1/sqrt(3)
    stats = compute_stats(make_record([100, 110, 99, 108.9], interval_ns=DAY_NS))
    assert stats.sharpe == pytest.approx(math.sqrt(365) / (2 * math.sqrt(3)), rel=1e-12)
    assert stats.sortino == pytest.approx(math.sqrt(365) * math.sqrt(3) / 3, rel=1e-12)


def test_sharpe_annualises_from_the_sample_interval() -> None:
    daily = compute_stats(make_record([100, 110, 99, 108.9], interval_ns=DAY_NS))
    hourly = compute_stats(make_record([100, 110, 99, 108.9], interval_ns=DAY_NS // 24))
    assert hourly.sharpe == pytest.approx(daily.sharpe * math.sqrt(24), rel=1e-12)


def test_total_return_is_exact() -> None:
    stats = compute_stats(make_record(starting_equity=D("1000.10"), final_equity=D("1100.21")))
    assert stats.total_return == D("100.11")
    assert stats.total_return_pct == pytest.approx(100.11 / 1000.10 * 100, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# closed trades
# ---------------------------------------------------------------------------------------------


def test_flip_closes_one_trade_and_opens_the_next_with_the_rest_of_the_fee() -> None:
    fills = [
        make_fill(BTC, 1, Side.BUY, "100", "1", "0.1"),
        make_fill(BTC, 2, Side.SELL, "110", "2", "0.2"),  # closes the long, opens a 1 short
        make_fill(BTC, 3, Side.BUY, "130", "0.5", "0.05"),
        make_fill(BTC, 4, Side.BUY, "100", "0.5", "0.05"),
        make_fill(BTC, 5, Side.BUY, "100", "1", "0.1"),
        make_fill(BTC, 6, Side.SELL, "100.1", "1", "0.1"),  # +0.1 gross, but -0.1 net of fees
    ]
    trades, still_open = closed_trades(fills)
    assert still_open == 0
    assert [t.side for t in trades] == [Side.BUY, Side.SELL, Side.BUY]
    long1, short, long2 = trades
    assert (long1.gross_pnl, long1.fees, long1.net_pnl) == (D("10"), D("0.2"), D("9.8"))
    assert (long1.ts_open, long1.ts_close, long1.n_fills) == (T0 + 10**9, T0 + 2 * 10**9, 2)
    # short 1 @ 110, covered 0.5 @ 130 (-10) and 0.5 @ 100 (+5)
    assert (short.gross_pnl, short.fees, short.net_pnl) == (D("-5.0"), D("0.20"), D("-5.20"))
    assert (short.qty, short.entry_price, short.exit_price) == (D("1"), D("110"), D("115"))
    assert (long2.gross_pnl, long2.net_pnl) == (D("0.1"), D("-0.1"))

    stats = compute_stats(make_record(fills=fills))
    assert (stats.n_trades, stats.n_winning, stats.n_losing) == (3, 1, 2)
    assert stats.win_rate_pct == pytest.approx(100 / 3, rel=1e-12)
    assert stats.net_pnl_by_asset == {"USDT": D("4.50")}


def test_fifo_pairs_oldest_lots_first() -> None:
    fills = [
        make_fill(BTC, 1, Side.BUY, "100", "1"),
        make_fill(BTC, 2, Side.BUY, "110", "1"),
        make_fill(BTC, 3, Side.SELL, "120", "1.5"),  # 1 @ 100 -> +20, 0.5 @ 110 -> +5
        make_fill(BTC, 4, Side.SELL, "90", "0.5"),  # 0.5 @ 110 -> -10
    ]
    [trade], still_open = closed_trades(fills)
    assert still_open == 0
    assert trade.gross_pnl == D("15")
    assert (trade.qty, trade.entry_price, trade.exit_price) == (D("2"), D("105"), D("112.5"))


def test_linear_pnl_uses_the_multiplier_and_instruments_do_not_mix() -> None:
    fills = [
        make_fill(ETH, 1, Side.SELL, "2000", "3"),
        make_fill(BTC, 2, Side.BUY, "100", "1"),
        make_fill(ETH, 3, Side.BUY, "1900.55", "3"),
    ]
    trades, still_open = closed_trades(fills)
    assert still_open == 1  # the BTC long
    assert [t.instrument for t in trades] == ["sim:ETH/USDT-PERP"]
    assert trades[0].gross_pnl == D("29.835")  # (1900.55 - 2000) * 3 * 0.1 * -1


def _inverse_pnl(qty: int, entry: str, exit_: str, direction: int) -> Decimal:
    exact = Fraction(qty) * (1 / Fraction(entry) - 1 / Fraction(exit_)) * direction
    return (D(exact.numerator) / D(exact.denominator)).quantize(D("1e-8"), rounding=ROUND_HALF_EVEN)


def test_inverse_pnl_to_8_decimal_places() -> None:
    fills = [
        make_fill(XBT_INV, 1, Side.BUY, "30000", "10000", "0.00001"),
        make_fill(XBT_INV, 2, Side.SELL, "33000", "10000", "0.00001"),
        make_fill(XBT_INV, 3, Side.SELL, "30000", "1"),
        make_fill(XBT_INV, 4, Side.BUY, "29000", "1"),
    ]
    (long_, short), _ = closed_trades(fills)
    assert long_.gross_pnl == D("0.03030303") == _inverse_pnl(10000, "30000", "33000", 1)
    assert long_.net_pnl == D("0.03028303")
    assert long_.pnl_asset == "BTC"
    # 1 / 30000 - 1 / 29000 = -1.1494...e-6, short: +0.00000115 after rounding
    assert short.gross_pnl == D("0.00000115") == _inverse_pnl(1, "30000", "29000", -1)


def test_fee_in_another_asset_is_converted_at_the_fill_price() -> None:
    fills = [
        make_fill(BTC, 1, Side.BUY, "100", "1", "0.001", fee_asset="BTC"),  # 0.1 USDT
        make_fill(BTC, 2, Side.SELL, "110", "1", "0.11"),
        make_fill(BTC, 3, Side.BUY, "100", "1", "0.5", fee_asset="BNB"),  # cannot be converted
        make_fill(BTC, 4, Side.SELL, "100", "1"),
    ]
    first, second = closed_trades(fills)[0]
    assert first.fees == D("0.21000")
    assert first.fees_unconverted == 0
    assert (second.fees, second.fees_unconverted) == (D(0), 1)


def test_a_fill_with_no_quantity_is_an_error() -> None:
    with pytest.raises(ValueError, match="non-positive quantity"):
        closed_trades([make_fill(BTC, 1, Side.BUY, "100", "0")])


# ---------------------------------------------------------------------------------------------
# exposure, turnover, orders, denials
# ---------------------------------------------------------------------------------------------


def test_exposure_leverage_and_turnover() -> None:
    fills = [make_fill(BTC, 1, Side.BUY, "100", "1.5"), make_fill(ETH, 2, Side.SELL, "2000", "2")]
    record = make_record(
        [100, 100, 200, 100], exposure=[0, 150, 100, 0], fills=fills,
    )
    stats = compute_stats(record)
    assert stats.exposure_pct == 50.0
    assert stats.avg_leverage == pytest.approx((1.5 + 0.5) / 2)
    assert stats.max_leverage == 1.5
    assert stats.traded_notional == D("550.0")  # 150 + 2 * 0.1 * 2000
    assert stats.turnover == pytest.approx(550 / 125)


def test_inverse_notional_counts_contracts_in_quote() -> None:
    fills = [make_fill(XBT_INV, 1, Side.BUY, "30000", "100")]
    assert compute_stats(make_record(fills=fills, currency="USD")).traded_notional == D("100")
    in_btc = compute_stats(make_record(fills=fills, currency="BTC")).traded_notional
    assert in_btc == D(100) / D(30000)
    assert compute_stats(make_record(fills=fills, currency="EUR")).traded_notional == 0


def _order(coid: str, status_path: list[OrderStatus], reason: str = "") -> Order:
    order = Order(coid, BTC, Side.BUY, OrderType.LIMIT, 1000, price_raw=1000, ts_init=T0)
    for i, status in enumerate(status_path):
        order.apply(status, T0 + i, reason if status in (OrderStatus.DENIED, OrderStatus.REJECTED) else "")
    return order


def test_orders_by_status_and_rejections_by_reason() -> None:
    S = OrderStatus
    orders = [
        _order("a", [S.SUBMITTED, S.ACCEPTED, S.CANCELED]),
        _order("b", [S.DENIED], "max_notional"),
        _order("c", [S.DENIED], "max_notional"),
        _order("d", [S.SUBMITTED, S.REJECTED], "insufficient margin"),
        _order("e", [S.SUBMITTED, S.REJECTED]),
        _order("f", [S.SUBMITTED, S.UNKNOWN]),
    ]
    stats = compute_stats(make_record(orders=orders, denials={"max_notional": 2, "halted": 1}))
    assert stats.n_orders == 6
    assert stats.orders_by_status == {"canceled": 1, "rejected": 2, "denied": 2, "unknown": 1}
    assert stats.denied_by_reason == {"halted": 1, "max_notional": 2}
    assert stats.n_denied == 3
    assert stats.rejected_by_reason == {"(no reason)": 1, "insufficient margin": 1}
    assert stats.n_rejected == 2
    # without counts from the risk module, denials are counted from the orders
    assert compute_stats(make_record(orders=orders)).denied_by_reason == {"max_notional": 2}


def test_compute_stats_is_pure() -> None:
    fills = [make_fill(BTC, 1, Side.BUY, "100", "1", "0.1"), make_fill(BTC, 2, Side.SELL, "90", "1")]
    record = make_record([100, 90, 95], exposure=[0, 100, 0], fills=fills, orders=[_order("a", [])])
    equity_before = record.equity.copy()
    first, second = compute_stats(record), compute_stats(record)
    assert first == second
    assert first.trades == second.trades and first.trades[0].net_pnl == D("-10.1")
    assert np.array_equal(record.equity, equity_before)
    assert record.orders[0].status is OrderStatus.INITIALIZED


def test_events_per_second() -> None:
    assert compute_stats(make_record(events_processed=1000, wall_time_s=0.5)).events_per_s == 2000.0
    assert compute_stats(make_record(events_processed=1000, wall_time_s=0.0)).events_per_s == 0.0


# ---------------------------------------------------------------------------------------------
# fills hash
# ---------------------------------------------------------------------------------------------


def _fills() -> list[Fill]:
    return [
        make_fill(BTC, 1, Side.BUY, "100.5", "0.25", "0.01"),
        make_fill(ETH, 2, Side.SELL, "2000.01", "3", "-0.02", liquidity=Liquidity.MAKER),
    ]


def test_fills_hash_is_stable_for_identical_fills() -> None:
    assert fills_hash(_fills()) == fills_hash(_fills())
    assert fills_canonical_text(_fills()).splitlines()[1] == (
        f"{T0 + 2 * 10**9}\tsim:ETH/USDT-PERP\tc2\tt2\tSELL\t2000.01\t3\t-0.02\tmaker"
    )
    assert fills_hash([]) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"ts_event": T0 + 1}, {"instrument": ETH}, {"client_order_id": "other"}, {"trade_id": "x"},
        {"side": Side.SELL}, {"price": D("100.6")}, {"qty": D("0.26")}, {"fee": D("0.02")},
        {"liquidity": Liquidity.MAKER},
    ],
)
def test_fills_hash_changes_with_every_hashed_field(change: dict[str, Any]) -> None:
    import attrs

    fills = _fills()
    changed = [attrs.evolve(fills[0], **change), fills[1]]
    assert fills_hash(changed) != fills_hash(fills)


def test_fills_hash_depends_on_order() -> None:
    assert fills_hash(_fills()) != fills_hash(list(reversed(_fills())))


def test_stats_carry_the_fills_hash() -> None:
    assert compute_stats(make_record(fills=_fills())).fills_hash == fills_hash(_fills())


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------


def test_fills_csv_round_trips_decimals_exactly(tmp_path: Path) -> None:
    fills = _fills() + [make_fill(BTC, 3, Side.SELL, "100.50", "0.250", "0.0100")]
    record = make_record(fills=fills)
    paths = write_outputs(record, compute_stats(record), tmp_path / "run")
    with paths["fills.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == FILL_COLUMNS
    assert len(rows) == len(fills)
    for row, fill in zip(rows, fills):
        for name in ("price", "qty", "fee"):
            assert row[name] == str(getattr(fill, name))  # trailing zeros kept
            assert D(row[name]) == getattr(fill, name)
        assert int(row["ts_event"]) == fill.ts_event
        assert (row["instrument"], row["side"], row["liquidity"]) == (
            fill.instrument.key, fill.side.name, fill.liquidity.value,
        )
        assert row["time"] == iso_ns(fill.ts_event)


def test_orders_csv_has_every_order_field(tmp_path: Path) -> None:
    S = OrderStatus
    filled = _order("a", [S.SUBMITTED, S.ACCEPTED])
    filled.add_fill(1000, 400)
    filled.add_fill(1010, 600)
    filled.apply(S.FILLED, T0 + 9)
    orders = [filled, _order("b", [S.DENIED], 'price band, "fat finger"')]
    record = make_record(orders=orders)
    paths = write_outputs(record, compute_stats(record), tmp_path)
    # every slot of Order shows up, raw integers as their exact Decimal views
    shown_as = {"qty_raw": "qty", "price_raw": "price", "trigger_raw": "trigger_price",
                "filled_raw": "filled_qty", "filled_notional_raw": "avg_price", "type": "type",
                "instrument": "instrument"}
    assert {shown_as.get(slot, slot) for slot in Order.__slots__} <= set(ORDER_COLUMNS)
    with paths["orders.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows] == ["filled", "denied"]
    assert rows[1]["reason"] == 'price band, "fat finger"'
    assert (rows[0]["qty"], rows[0]["price"], rows[0]["filled_qty"]) == ("1.000", "100.0", "1.000")
    assert D(rows[0]["avg_price"]) == D("100.6")
    assert rows[0]["trigger_price"] == ""
    assert (rows[0]["side"], rows[0]["type"], rows[0]["time_in_force"]) == ("BUY", "limit", "GTC")


def test_equity_csv_and_stats_json(tmp_path: Path) -> None:
    record = make_record([100, 120, 90.125], starting_equity=D("100"), final_equity=D("90.125"),
                         realized_pnl=D("-9.875"), fees=D("0.001"))
    stats = compute_stats(record)
    paths = write_outputs(record, stats, tmp_path)
    with paths["equity.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == EQUITY_COLUMNS
    assert [float(r["equity"]) for r in rows] == [100.0, 120.0, 90.125]
    assert [float(r["drawdown"]) for r in rows] == [0.0, 0.0, -29.875]
    assert float(rows[2]["drawdown_pct"]) == pytest.approx(-29.875 / 120 * 100)
    assert rows[1]["time"] == "2024-01-02T00:00:00Z"

    data = json.loads(paths["stats.json"].read_text(encoding="utf-8"))
    assert data["total_return"] == "-9.875"
    assert data["fees"] == "0.001"
    assert data["realized_pnl"] == "-9.875"
    assert data["fills_hash"] == stats.fills_hash
    assert "trades" not in data
    assert set(paths) == {"fills.csv", "orders.csv", "trades.csv", "equity.csv", "stats.json", "report.html"}
    assert all(p.parent == tmp_path and p.name == name for name, p in paths.items())
    assert paths["report.html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    without_html = write_outputs(record, stats, tmp_path / "plain", html=False)
    assert "report.html" not in without_html and not (tmp_path / "plain" / "report.html").exists()


def test_iso_times_keep_nanoseconds() -> None:
    stamps = [0, 1, 1_700_000_000_123_456_789, T0, -1]
    expected = [
        "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000001Z", "2023-11-14T22:13:20.123456789Z",
        "2024-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z",
    ]
    assert [iso_ns(ns) for ns in stamps] == expected
    assert iso_ns_array(np.array(stamps, dtype=np.int64)) == expected


def test_trades_csv_holds_exact_pnl(tmp_path: Path) -> None:
    fills = [make_fill(XBT_INV, 1, Side.BUY, "30000", "10000"), make_fill(XBT_INV, 2, Side.SELL, "33000", "10000")]
    record = make_record(fills=fills)
    paths = write_outputs(record, compute_stats(record), tmp_path)
    with paths["trades.csv"].open(newline="", encoding="utf-8") as fh:
        [row] = list(csv.DictReader(fh))
    assert (row["side"], row["gross_pnl"], row["pnl_asset"]) == ("BUY", "0.03030303", "BTC")


# ---------------------------------------------------------------------------------------------
# degenerate inputs and validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "equity",
    [[], [100.0], [100.0, 100.0, 100.0], [0.0, 0.0], [100.0, -5.0, 10.0], [-10.0, -20.0]],
    ids=["empty", "single", "flat", "zero", "through-zero", "negative"],
)
def test_degenerate_inputs_give_finite_outputs(equity: list[float], tmp_path: Path) -> None:
    record = make_record(equity, starting_equity=D(0), final_equity=D(0), wall_time_s=0.0)
    stats = compute_stats(record)
    assert all_floats_finite(stats)
    assert stats.n_trades == 0 and stats.win_rate_pct == 0.0
    text = format_report(stats, record)
    assert "nan" not in text.lower() and "inf " not in text.lower()
    paths = write_outputs(record, stats, tmp_path)
    json.loads(paths["stats.json"].read_text(encoding="utf-8"))  # strict JSON: no NaN
    for name in ("stats.json", "equity.csv", "report.html"):
        content = paths[name].read_text(encoding="utf-8").lower()
        assert "nan" not in content.replace("nanoseconds", "")
        assert "infinity" not in content


def test_record_validation_gives_clear_errors() -> None:
    with pytest.raises(ValueError, match="same length"):
        make_record([1.0, 2.0], exposure=[0.0])
    with pytest.raises(ValueError, match="NaN"):
        make_record([1.0, float("nan")])
    with pytest.raises(ValueError, match="sample_interval_ns"):
        make_record([1.0], interval_ns=0)
    with pytest.raises(TypeError, match="final_equity"):
        make_record([1.0], final_equity=100.0)
    with pytest.raises(ValueError, match="ascending"):
        make_record([1.0, 2.0], equity_ts=np.array([T0 + 1, T0], dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# terminal report
# ---------------------------------------------------------------------------------------------


def test_report_text_has_sections_units_and_hash() -> None:
    fills = [make_fill(BTC, 1, Side.BUY, "100", "1", "0.1"), make_fill(BTC, 2, Side.SELL, "110", "1", "0.1")]
    record = make_record([100, 110], fills=fills, final_equity=D("109.8"), fees=D("0.2"),
                         realized_pnl=D("10"), denials={"max_position": 3})
    stats = compute_stats(record)
    text = format_report(stats, record)
    for section in ("Run", "Performance", "Trades", "Orders", "Risk / denials", "Errors", "Fills hash"):
        assert f"\n{section}\n" in text
    assert re.search(r"\n  Total return +\+9\.80 USDT  \(\+9\.80 %\)\n", text)
    assert re.search(r"\n  Fees +0\.20 USDT\n", text)
    assert "max_position" in text
    assert "100.0 %  (1 won, 0 lost)" in text
    assert stats.fills_hash in text
    assert "STRATEGY ERROR" not in text
    # values line up in one column
    rows = [re.match(r"  \s*\S.*?\s{2,}(\S)", line) for line in text.splitlines()]
    starts = {m.start(1) for m in rows if m}
    assert len([m for m in rows if m]) > 30
    assert len(starts) == 1


def test_report_text_puts_strategy_errors_first() -> None:
    error = "strategy momentum stopped: ZeroDivisionError: division by zero at momentum.py:42"
    record = make_record(strategy_errors=[error])
    text = format_report(compute_stats(record), record)
    head = text.split("\nRun\n")[0]
    assert "1 STRATEGY ERROR(S)" in head
    assert error in head


# ---------------------------------------------------------------------------------------------
# progress counter (backtest/progress.py)
# ---------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_no_op_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    with progress(100, desc="replay") as bar:
        bar.update(64)
        bar.update(36)
    assert stream.getvalue() == ""
    assert type(bar).__name__ == "_NullProgress"


def test_progress_shows_tqdm_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr("sys.stderr", stream)
    with progress(200, desc="replay") as bar:
        bar.update(200)
    output = stream.getvalue()
    assert "replay" in output and "200/200" in output


def test_progress_enabled_overrides_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, terminal = io.StringIO(), _Terminal()
    monkeypatch.setattr("sys.stderr", plain)
    with progress(10, desc="forced", enabled=True) as bar:
        bar.update(10)
    assert "forced" in plain.getvalue()
    monkeypatch.setattr("sys.stderr", terminal)
    bar = progress(10, desc="off", enabled=False)
    bar.update(10)
    bar.close()
    assert terminal.getvalue() == ""


def test_progress_refuses_a_negative_total() -> None:
    with pytest.raises(ValueError):
        progress(-1, desc="x")


# ---------------------------------------------------------------------------------------------
# event reprs (what a logged fill looks like)
# ---------------------------------------------------------------------------------------------


def test_a_logged_fill_names_its_instrument_by_key() -> None:
    text = repr(make_fill(BTC, 1, Side.BUY, "100", "1", "0.1"))
    assert "instrument='sim:BTC/USDT'" in text
    assert "tick_size" not in text and "Instrument(" not in text
    assert len(text) < 400
    assert "price=Decimal('100')" in text and "fee=Decimal('0.1')" in text


def test_market_data_and_other_event_reprs_name_the_instrument_by_key() -> None:
    from engine import Bar, BookDelta, MarkPrice, Quote, Trade, VenueState, VenueStatus

    events: list[object] = [
        Trade(BTC, 1, 2, 1000, 5, 1, 7),
        Quote(BTC, 1, 2, 999, 1, 1001, 2),
        Bar(BTC, 1, 2, 1, 2, 3, 4, 5),
        BookDelta(BTC, 1, 2, 3, ((1000, 1),), ()),
        MarkPrice(BTC, 1, 2, D("100.5")),
        VenueStatus("sim", 1, 2, VenueState.STALE, instrument=BTC),
    ]
    for event in events:
        text = repr(event)
        assert text.startswith(type(event).__name__ + "(")
        assert "'sim:BTC/USDT'" in text and "tick_size" not in text, text
    assert repr(events[0]) == (
        "Trade(instrument='sim:BTC/USDT', ts_event=1, ts_recv=2, price_raw=1000, size_raw=5, "
        "aggressor=1, trade_id=7)"
    )
    assert "instrument=None" in repr(VenueStatus("sim", 1, 2, VenueState.STALE))


# ---------------------------------------------------------------------------------------------
# display precision, trade ledgers per strategy, profit factor / CAGR / expectancy / duration
# ---------------------------------------------------------------------------------------------


def strategy_fill(inst: Instrument, i: int, side: Side, price: str, qty: str, sid: str, fee: str = "0") -> Fill:
    return attrs.evolve(make_fill(inst, i, side, price, qty, fee), strategy_id=sid)


def test_money_is_shown_at_the_currency_display_precision() -> None:
    from backtest.report import format_money

    assert format_money(D("44624.8195350000"), "USD") == "44,624.82 USD"
    assert format_money(D("-55375.1804650000"), "USDT", signed=True) == "-55,375.18 USDT"
    assert format_money(D("12.5"), "USD", signed=True) == "+12.50 USD"
    assert format_money(D("-0.001"), "USD") == "0.00 USD"  # rounds to zero: no "-0.00"
    assert format_money(D("0.0303030303"), "BTC") == "0.03030303 BTC"
    assert format_money(D("0.125"), "EUR") == "0.12 EUR"  # half even
    assert format_money(12_345.678, "USD") == "12,345.68 USD"
    assert format_money(D("1e30"), "USD") == f"{10**30:,}.00 USD"


def test_report_text_shows_display_precision_and_the_files_keep_exact_values(tmp_path: Path) -> None:
    record = make_record([100000, 44624.8195350000], currency="USD", starting_equity=D("100000"),
                         final_equity=D("44624.8195350000"), fees=D("51594.3654650000"))
    stats = compute_stats(record)
    text = format_report(stats, record)
    assert "44,624.8195350000" not in text and "51,594.3654650000" not in text
    assert re.search(r"\n  Final equity +44,624\.82 USD\n", text)
    assert re.search(r"\n  Fees +51,594\.37 USD\n", text)
    assert re.search(r"\n  Total return +-55,375\.18 USD  \(-55\.38 %\)\n", text)
    write_outputs(record, stats, tmp_path, html=False)
    saved = json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))
    assert (saved["final_equity"], saved["fees"]) == ("44624.8195350000", "51594.3654650000")


def test_two_strategies_on_one_instrument_keep_separate_trade_ledgers(tmp_path: Path) -> None:
    fills = [
        strategy_fill(BTC, 1, Side.BUY, "100", "1", "a"),   # a opens long
        strategy_fill(BTC, 2, Side.SELL, "105", "1", "b"),  # b opens short (does not close a's)
        strategy_fill(BTC, 4, Side.SELL, "110", "1", "a"),  # a closes +10
        strategy_fill(BTC, 7, Side.BUY, "101", "1", "b"),   # b closes +4
    ]
    trades, still_open = closed_trades(fills)
    assert still_open == 0
    assert [(t.strategy_id, t.side, t.entry_price, t.exit_price, t.net_pnl) for t in trades] == [
        ("a", Side.BUY, D(100), D(110), D(10)),
        ("b", Side.SELL, D(105), D(101), D(4)),
    ]
    record = make_record(fills=fills)
    paths = write_outputs(record, compute_stats(record), tmp_path, html=False)
    with paths["trades.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["strategy_id"], r["instrument"], r["net_pnl"]) for r in rows] == [
        ("a", "sim:BTC/USDT", "10"), ("b", "sim:BTC/USDT", "4"),
    ]
    assert (rows[0]["time_open"], rows[0]["time_close"], rows[0]["duration_s"]) == (
        "2024-01-01T00:00:01Z", "2024-01-01T00:00:04Z", "3",
    )
    assert rows[1]["ts_open"] == str(T0 + 2 * 10**9) and rows[1]["duration_s"] == "5"


def test_profit_factor_expectancy_and_average_duration_hand_computed() -> None:
    fills = [
        make_fill(BTC, 0, Side.BUY, "100", "1"), make_fill(BTC, 10, Side.SELL, "130", "1"),  # +30, 10 s
        make_fill(BTC, 20, Side.BUY, "100", "1"), make_fill(BTC, 40, Side.SELL, "90", "1"),  # -10, 20 s
        make_fill(BTC, 50, Side.SELL, "100", "1"), make_fill(BTC, 80, Side.BUY, "105", "1"),  # -5, 30 s
    ]
    stats = compute_stats(make_record(fills=fills))
    assert stats.profit_factor == 2.0  # 30 / (10 + 5)
    assert stats.expectancy == D(5)  # (30 - 10 - 5) / 3
    assert stats.avg_trade_duration_ns == 20 * 10**9
    text = format_report(stats, make_record(fills=fills))
    assert re.search(r"\n  Profit factor +2\.00  ⚠\n", text)
    assert re.search(r"\n  Expectancy +\+5\.00 USDT per trade  ⚠\n", text)
    assert re.search(r"\n  Avg trade duration +20 s\n", text)


def test_no_trades_and_no_losses_give_na_never_inf(tmp_path: Path) -> None:
    empty = make_record()
    stats = compute_stats(empty)
    assert (stats.profit_factor, stats.expectancy, stats.avg_trade_duration_ns) == (None, None, None)
    text = format_report(stats, empty)
    assert re.search(r"\n  Profit factor +n/a \(no closed trades\)\n", text)
    assert re.search(r"\n  Avg trade duration +n/a \(no closed trades\)\n", text)
    winners = make_record(fills=[make_fill(BTC, 1, Side.BUY, "100", "1"), make_fill(BTC, 2, Side.SELL, "101", "1")])
    won = compute_stats(winners)
    assert won.profit_factor is None and won.expectancy == D(1)
    text = format_report(won, winners)
    assert re.search(r"\n  Profit factor +n/a \(no losing trades\)\n", text)
    assert "inf" not in text.lower().replace("info", "")
    write_outputs(winners, won, tmp_path, html=False)
    saved = json.loads((tmp_path / "stats.json").read_text(encoding="utf-8"))
    assert saved["profit_factor"] is None and saved["expectancy"] == "1"


def test_cagr_hand_computed_and_never_overflowing() -> None:
    two_years = make_record([100, 110, 121], interval_ns=365 * DAY_NS, final_equity=D("121"))
    assert compute_stats(two_years).cagr_pct == pytest.approx(10.0, rel=1e-12)
    bust = make_record([100, 0], interval_ns=365 * DAY_NS, final_equity=D("0"))
    assert compute_stats(bust).cagr_pct == -100.0
    # +50 % in one minute "annualises" past any float: not stated rather than inf or a wrap
    lucky = make_record([100, 150], interval_ns=60 * 10**9, final_equity=D("150"))
    stats = compute_stats(lucky)
    assert stats.cagr_pct is None
    assert re.search(r"\n  CAGR +n/a\n", format_report(stats, lucky))
    assert compute_stats(make_record([100])).cagr_pct is None  # no period
    week = make_record([100, 110], interval_ns=7 * DAY_NS, final_equity=D("110"))  # +10 % a week: ~14,200 %/y
    assert re.search(r"\n  CAGR +\+14,\d{3}\.\d\d %  ⚠\n", format_report(compute_stats(week), week))
    day = make_record([100, 110], interval_ns=DAY_NS, final_equity=D("110"))  # ~1.3e17 %/y
    assert re.search(r"\n  CAGR +\+1\.\d\de\+17 %  ⚠\n", format_report(compute_stats(day), day))


def test_sharpe_on_a_90_minute_run_carries_a_warning() -> None:
    rng = np.random.default_rng(5)
    equity = 100 * np.cumprod(1 + rng.normal(-0.001, 0.001, 91))
    record = make_record(equity, interval_ns=60 * 10**9, final_equity=D(repr(float(equity[-1]))))
    stats = compute_stats(record)
    assert stats.sharpe < -50  # annualised from 90 minutes: a big number that means nothing
    assert set(stats.warnings) >= {"Sharpe (annualised)", "Sortino (annualised)", "CAGR"}
    text = format_report(stats, record)
    assert re.search(r"\n  Sharpe \(annualised\) +-\d+\.\d\d  ⚠\n", text)
    assert "\n⚠ Too little data\n" in text
    assert "annualised from 90 return sample(s) over 90.0 min" in text


def test_enough_data_carries_no_warning() -> None:
    rng = np.random.default_rng(6)
    equity = 100 * np.cumprod(1 + rng.normal(0.0005, 0.01, 61))
    fills = [make_fill(BTC, i, Side.BUY if i % 2 == 0 else Side.SELL, str(100 + i % 3), "1") for i in range(60)]
    record = make_record(equity, final_equity=D(repr(float(equity[-1]))), fills=fills,
                         fee_rates={BTC.key: (D("0.0002"), D("0.001"))})
    stats = compute_stats(record)
    assert stats.n_trades == 30
    assert stats.warnings == {}
    text = format_report(stats, record)
    assert "⚠" not in text


def test_fee_rates_are_printed_and_a_fee_free_run_is_flagged() -> None:
    paid = make_record(fee_rates={ETH.key: (D("-0.0001"), D("0.0005")), BTC.key: (D("0.0002"), D("0.001"))})
    text = format_report(compute_stats(paid), paid)
    assert "\nFee rates\n" in text
    assert re.search(r"\n  sim:BTC/USDT +maker 0\.02 % · taker 0\.1 %\n", text)
    assert re.search(r"\n  sim:ETH/USDT-PERP +maker -0\.01 % \(rebate\) · taker 0\.05 %\n", text)
    assert "no fees were charged" not in text
    free = make_record(fee_rates={BTC.key: (D(0), D(0))})
    free_stats = compute_stats(free)
    assert "Fee rates" in free_stats.warnings
    text = format_report(free_stats, free)
    assert re.search(r"\n  sim:BTC/USDT +maker 0 % · taker 0 %\n  ⚠ none +no fees were charged", text)
    with pytest.raises(TypeError, match="float"):
        make_record(fee_rates={BTC.key: (0.0002, D("0.001"))})  # rates are money: no floats
    unknown = make_record()  # a caller that does not pass the rates still gets a report
    assert re.search(r"\nFee rates\n-+\n  +not recorded by this run\n", format_report(compute_stats(unknown), unknown))


def test_a_backtest_reports_the_fee_rates_it_charged(tmp_path: Path) -> None:
    from backtest.data import DatasetWriter, open_dataset
    from backtest.generate import BTC_USD, generate_bars
    from backtest.runner import BacktestSettings, run_backtest
    from backtest.simvenue import SimVenueConfig
    from engine import from_mapping, params_class
    from engine import StrategySpec
    from strategies.sma_cross import SmaCross

    writer = DatasetWriter(tmp_path / "bars", [BTC_USD])
    writer.add_bars(BTC_USD, **generate_bars(BTC_USD, 300, seed=3), interval_ns=60 * 10**9)
    strategy = StrategySpec("sma", SmaCross, from_mapping(params_class(SmaCross), {"instrument": BTC_USD.key}))
    result = run_backtest(open_dataset(tmp_path / "bars"), [strategy], BacktestSettings(
        show_progress=False, sim=SimVenueConfig(taker_fee=D(0)),
    ))
    assert result.stats.fee_rates == {BTC_USD.key: {"maker": BTC_USD.maker_fee, "taker": D(0)}}
    assert re.search(r"\n  sim:BTC/USD +maker 0\.02 % · taker 0 %\n", format_report(result.stats, result.record))
