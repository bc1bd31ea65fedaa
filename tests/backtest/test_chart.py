"""The HTML report page: well-formed, self-contained, with the equity and drawdown SVG charts."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest

from backtest.chart import downsample_minmax, nice_ticks, render_html, time_ticks
from backtest.report import RunRecord, compute_stats
from engine import Fill, Instrument, Liquidity, Side

D = Decimal
T0 = 1_704_067_200 * 10**9  # 2024-01-01T00:00:00Z
MINUTE_NS = 60 * 10**9
BTC = Instrument("sim", "BTC/USDT", "BTC", "USDT", tick_size="0.1", lot_size="0.001")

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Checker(HTMLParser):
    """Checks that every element is closed in order, and collects the svg paths and texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.paths: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = {k: v or "" for k, v in attrs}
        if tag == "path":
            self.paths.append(values)
        for key in ("src", "href"):
            if key in values:
                self.urls.append(values[key])

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def make_record(equity: np.ndarray | list[float], **overrides: Any) -> RunRecord:
    eq = np.asarray(equity, dtype=np.float64)
    ts = T0 + np.arange(len(eq), dtype=np.int64) * MINUTE_NS
    fields: dict[str, Any] = dict(
        starting_equity=D("10000"), final_equity=D(repr(float(eq[-1]))) if len(eq) else D("10000"),
        currency="USDT", realized_pnl=D(0), unrealized_pnl=D(0), fees=D("1.25"),
        equity_ts=ts, equity=eq, gross_exposure=np.zeros(len(eq)),
        fills=[], orders=[], denials={}, strategy_errors=[], events_processed=len(eq),
        wall_time_s=0.1, sample_interval_ns=MINUTE_NS, start_ns=T0,
        end_ns=T0 + max(len(eq) - 1, 0) * MINUTE_NS, config_name="chart test", seed=3,
    )
    fields.update(overrides)
    return RunRecord(**fields)


def random_walk(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 10_000 * np.cumprod(1 + rng.normal(0, 0.002, n))


# ---------------------------------------------------------------------------------------------
# downsampling and ticks
# ---------------------------------------------------------------------------------------------


def test_downsample_keeps_extremes_ends_and_time_order() -> None:
    values = random_walk(250_001)
    values[123_457] = 50_000.0  # a one-sample spike must survive
    values[200_003] = 10.0
    ts = np.arange(len(values), dtype=np.int64) * 1000
    small_ts, small = downsample_minmax(ts, values)
    assert len(small) <= 2000
    assert len(small) >= 1500
    assert small.max() == 50_000.0 and small.min() == 10.0
    assert (small_ts[0], small_ts[-1]) == (ts[0], ts[-1])
    assert np.all(np.diff(small_ts) > 0)
    # every kept point is a real sample
    assert np.array_equal(values[small_ts // 1000], small)


def test_short_series_are_not_downsampled() -> None:
    ts = np.arange(2000, dtype=np.int64)
    values = np.linspace(0, 1, 2000)
    out_ts, out = downsample_minmax(ts, values)
    assert out_ts is ts and out is values


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-0.93, 0.0) == pytest.approx([-0.8, -0.6, -0.4, -0.2, 0.0])
    ticks = nice_ticks(9_871.3, 10_412.9)
    assert ticks == [9_900, 10_000, 10_100, 10_200, 10_300, 10_400]
    assert nice_ticks(5, 5) == [5]


@pytest.mark.parametrize(
    ("span_s", "first", "pattern"),
    [
        (10, "01-01 00:00:00", r"00:00:\d\d"),
        (3 * 3600, "2024-01-01 00:00", r"0\d:\d\d"),
        (20 * 86400, "2024-01-0", r"2024-01-\d\d"),
        (60 * 86400, "2024-01-08", r"2024-0[1-3]-\d\d"),  # weeks start on Monday
        (400 * 86400, "2024-01", r"202[45]-\d\d"),
        (30 * 365 * 86400, "2025", r"20\d\d"),  # every 5 years, on multiples of 5
    ],
)
def test_time_ticks_carry_dates(span_s: int, first: str, pattern: str) -> None:
    end = T0 + span_s * 10**9
    ticks = time_ticks(T0, end)
    assert 3 <= len(ticks) <= 8
    assert all(T0 <= ns <= end for ns, _ in ticks)
    assert ticks[0][1].startswith(first)
    assert all(re.fullmatch(pattern, label) for _, label in ticks[1:])
    # every label names the tick's own time
    for ns, label in ticks:
        moment = datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)
        assert label in moment.strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------


def test_page_is_well_formed_self_contained_and_has_both_charts() -> None:
    values = random_walk(100_000)
    fills = [
        Fill(BTC, T0 + MINUTE_NS, T0 + MINUTE_NS, "c1", "v1", "t1", Side.BUY, D("100.5"), D("1"),
             D("0.1"), "USDT", Liquidity.TAKER),
        Fill(BTC, T0 + 2 * MINUTE_NS, T0 + 2 * MINUTE_NS, "c2", "v2", "t2", Side.SELL, D("101.5"),
             D("1"), D("0.1"), "USDT", Liquidity.TAKER),
    ]
    record = make_record(values, fills=fills, config_name="mean <revert> & co")
    stats = compute_stats(record)
    page = render_html(record, stats)
    checker = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "script" not in checker.tags
    assert checker.urls == []  # no links, no external assets
    assert not re.search(r"https?://", page)
    lines = [p for p in checker.paths if p.get("class") == "line"]
    assert len(lines) == 2  # equity, drawdown
    for path in lines:
        d = path["d"]
        assert d.startswith("M")
        points = d[1:].split(" L")
        assert 100 < len(points) <= 2000
        assert all(re.fullmatch(r"-?\d+\.\d,-?\d+\.\d", p) for p in points)
    assert checker.tags.count("svg") == 2
    text = " ".join(checker.text)
    assert "mean <revert> & co" in text  # escaped in the source, intact once parsed
    assert "mean <revert>" not in page
    assert stats.fills_hash in text
    assert "time (UTC)" in text and "2024-01-" in text
    assert "equity (USDT)" in text and "drawdown (%)" in text
    assert "Sharpe" in text and "Max drawdown" in text
    assert "peak 2024-" in text and "trough 2024-" in text  # drawdown markers
    assert "sim:BTC/USDT" in text  # the trades table
    assert "nan" not in page.lower()


def test_strategy_errors_get_a_banner() -> None:
    error = "strategy s stopped: KeyError: 'x' at s.py:3"
    record = make_record([1.0, 2.0], strategy_errors=[error])
    page = render_html(record, compute_stats(record))
    parse(page)
    assert '<div class="errors">' in page
    assert "1 strategy error(s)" in page
    assert "KeyError: &#x27;x&#x27; at s.py:3" in page


@pytest.mark.parametrize(
    "equity", [[], [10_000.0], [10_000.0] * 50, [0.0, 0.0]], ids=["empty", "single", "flat", "zero"],
)
def test_degenerate_curves_render(equity: list[float]) -> None:
    record = make_record(equity)
    page = render_html(record, compute_stats(record))
    checker = parse(page)
    assert checker.tags.count("svg") == 2
    assert "nan" not in page.lower() and "inf" not in re.sub(r"info", "", page.lower())
    if equity:
        assert len([p for p in checker.paths if p.get("class") == "line"]) == 2
    else:
        assert "no samples" in page


def test_long_trade_lists_are_cut_with_a_note() -> None:
    fills = []
    for i in range(1200):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        fills.append(Fill(BTC, T0 + i, T0 + i, f"c{i}", f"v{i}", f"t{i}", side, D("100"), D("1"),
                          D(0), "USDT", Liquidity.MAKER))
    record = make_record([1.0, 1.0], fills=fills)
    page = render_html(record, compute_stats(record))
    parse(page)
    assert "Showing the last 500 of 600 trades" in page


# ---------------------------------------------------------------------------------------------
# display precision, too-little-data marks, fee rates, strategy column
# ---------------------------------------------------------------------------------------------


def _fill(i: int, side: Side, price: str, sid: str, fee: str = "0.0123456789") -> Fill:
    return Fill(
        instrument=BTC, ts_event=T0 + i * MINUTE_NS, ts_recv=T0 + i * MINUTE_NS, client_order_id=f"c{i}",
        venue_order_id=f"v{i}", trade_id=f"t{i}", side=side, price=D(price), qty=D("1"), fee=D(fee),
        fee_asset="USDT", liquidity=Liquidity.TAKER, strategy_id=sid,
    )


def test_page_shows_money_at_display_precision_and_the_strategy_of_each_trade() -> None:
    fills = [_fill(1, Side.BUY, "100", "alpha"), _fill(3, Side.SELL, "110.5", "alpha"),
             _fill(2, Side.SELL, "105", "beta"), _fill(4, Side.BUY, "101", "beta")]
    fills.sort(key=lambda f: f.ts_event)
    record = make_record(random_walk(90), fills=fills, final_equity=D("10012.3456789"),
                         fees=D("0.0493827156"))
    page = render_html(record, compute_stats(record))
    text = " ".join(parse(page).text)
    assert "+12.35 USDT" in text and "12.3456789" not in text
    assert "0.05 USDT" in text and "0.0493827156" not in text
    assert "+10.48 USDT" in text  # alpha: 10.5 - 2 fees of 0.0123456789
    assert re.search(r"alpha\s*sim:BTC/USDT\s*long", text) and re.search(r"beta\s*sim:BTC/USDT\s*short", text)


def test_page_marks_figures_resting_on_too_little_data() -> None:
    record = make_record(random_walk(90))  # 90 minutes of one-minute samples
    stats = compute_stats(record)
    page = render_html(record, stats)
    assert '<div class="warnings">' in page
    assert page.count('<span class="warn"') >= 4  # Sharpe card, Sharpe and Sortino rows, CAGR row, notes
    text = " ".join(parse(page).text)
    assert "annualised from 89 return sample(s)" in text
    long_run = make_record(random_walk(2 * 24 * 60, seed=8), sample_interval_ns=MINUTE_NS,
                           end_ns=T0 + 40 * 86_400 * 10**9)
    calm = render_html(long_run, compute_stats(long_run))
    assert '<div class="warnings">' not in calm and '<span class="warn"' not in calm


def test_page_lists_the_fee_rates_and_flags_a_fee_free_run() -> None:
    paid = make_record(random_walk(50), fee_rates={BTC.key: (D("0.0002"), D("0.001"))})
    text = " ".join(parse(render_html(paid, compute_stats(paid))).text)
    assert "Fee rates" in text and "maker 0.02 % · taker 0.1 %" in text
    free = make_record(random_walk(50), fee_rates={BTC.key: (D(0), D(0))})
    page = render_html(free, compute_stats(free))
    assert "no fees were charged" in " ".join(parse(page).text)
