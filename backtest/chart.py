"""A self-contained HTML page for one backtest: equity and drawdown as inline SVG, plus the stats.

No external assets, no JavaScript: the page opens offline in any browser and can be mailed as one
file. Long curves are downsampled to at most ~2000 points keeping each bucket's minimum and
maximum, so peaks and troughs (and the maximum drawdown) survive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from html import escape

import numpy as np
import numpy.typing as npt

from .report import (
    LABEL_SHARPE,
    WARN_MARK,
    RunRecord,
    Stats,
    drawdown_series,
    format_money,
    iso_ns,
    report_sections,
    warning_rows,
)

__all__ = ["render_html", "downsample_minmax", "nice_ticks", "time_ticks"]

MAX_POINTS = 2000
MAX_TRADE_ROWS = 500

_WIDTH = 960
_MARGIN_LEFT = 84
_MARGIN_RIGHT = 20
_MARGIN_TOP = 14
_MARGIN_BOTTOM = 40


# ---------------------------------------------------------------------------------------------
# downsampling and ticks
# ---------------------------------------------------------------------------------------------


def downsample_minmax(
    ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64], max_points: int = MAX_POINTS
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """At most ~``max_points`` points of the curve, keeping each bucket's min and max in time order.

    The first and last samples are always kept. Curves already short enough come back unchanged.
    """
    n = len(values)
    if n <= max_points:
        return ts, values
    buckets = max(1, (max_points - 2) // 2)
    size = -(-n // buckets)  # ceil
    padded = np.concatenate([values, np.full(buckets * size - n, values[-1])]).reshape(buckets, size)
    base = np.arange(buckets) * size
    picks = np.concatenate([base + padded.argmin(axis=1), base + padded.argmax(axis=1), [0, n - 1]])
    keep = np.unique(np.minimum(picks, n - 1))  # sorted: time order
    return ts[keep], values[keep]


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k steps) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    ratio = raw / mag  # the nearest nice step: between ~target-1 and ~target+2 ticks
    step = mag * (1 if ratio < 1.5 else 2 if ratio < 2.25 else 2.5 if ratio < 3.5 else 5 if ratio < 7.5 else 10)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value = first + len(ticks) * step
    return ticks


_FIXED_STEPS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600,
    12 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400,
)
_MONDAY_NS = 4 * 86400 * 10**9  # 1970-01-05, the first Monday: weeks start on it
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 10**9, tz=timezone.utc)


def time_ticks(t0: int, t1: int, target: int = 7) -> list[tuple[int, str]]:
    """Tick positions (ns) and UTC date labels for a time axis from ``t0`` to ``t1``."""
    span_s = (t1 - t0) / 1e9
    if span_s <= 0:
        return [(t0, _utc(t0).strftime("%Y-%m-%d %H:%M:%S"))]
    if span_s / _FIXED_STEPS_S[-1] > target:  # longer than the fixed steps reach: calendar months
        months = next((m for m in _MONTH_STEPS if span_s / (m * 30.4 * 86400) <= target), 120)
        start = _utc(t0)
        year, month = start.year, start.month
        month_index = year * 12 + month - 1
        month_index = -(-month_index // months) * months  # first multiple at or after start
        ticks = []
        while True:
            y, m = divmod(month_index, 12)
            ns = int(datetime(y, m + 1, 1, tzinfo=timezone.utc).timestamp()) * 10**9
            if ns > t1:
                break
            if ns >= t0:
                ticks.append((ns, f"{y:04d}-{m + 1:02d}" if months < 12 else f"{y:04d}"))
            month_index += months
        return ticks
    step = next((s for s in _FIXED_STEPS_S if span_s / s <= target), _FIXED_STEPS_S[-1])
    step_ns = step * 10**9
    offset = _MONDAY_NS if step % (7 * 86400) == 0 else 0
    first = -(-(t0 - offset) // step_ns) * step_ns + offset
    ticks = []
    previous_day = ""
    for ns in range(first, t1 + 1, step_ns):
        moment = _utc(ns)
        day = moment.strftime("%Y-%m-%d")
        if step >= 86400:
            label = day
        elif day != previous_day:
            label = moment.strftime("%Y-%m-%d %H:%M" if step >= 60 else "%m-%d %H:%M:%S")
        else:
            label = moment.strftime("%H:%M" if step >= 60 else "%H:%M:%S")
        previous_day = day
        ticks.append((ns, label))
    return ticks


# ---------------------------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------------------------


def _fmt_number(value: float, step: float) -> str:
    decimals = max(0, min(8, -math.floor(math.log10(step)) if step > 0 else 2))
    return f"{value:,.{decimals}f}"


def _line_chart(
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    *,
    chart_id: str,
    height: int,
    color: str,
    y_label: str,
    y_format: Callable[[float, float], str],
    baseline: float | None = None,
    area_to: str = "bottom",
    markers: Sequence[tuple[int, float, str]] = (),
) -> str:
    """An SVG line chart with a shaded area, a date x axis and a value y axis."""
    if len(values) == 0:
        return (
            f'<svg class="chart" viewBox="0 0 {_WIDTH} 60" role="img">'
            f'<text x="{_WIDTH / 2}" y="34" text-anchor="middle" class="empty">no samples</text></svg>'
        )
    ts, values = downsample_minmax(ts, values)
    t0, t1 = int(ts[0]), int(ts[-1])
    if t1 == t0:
        t1 = t0 + 1
    lo, hi = float(values.min()), float(values.max())
    if baseline is not None:
        lo, hi = min(lo, baseline), max(hi, baseline)
    if hi == lo:
        pad = abs(hi) * 0.01 or 1.0
        lo, hi = (lo - pad, hi + pad) if area_to == "bottom" else (lo - pad, hi)
    else:
        pad = (hi - lo) * 0.05
        lo, hi = (lo - pad, hi + pad) if area_to == "bottom" else (lo - pad, hi + pad * 0.2)
    x0, x1 = _MARGIN_LEFT, _WIDTH - _MARGIN_RIGHT
    y0, y1 = _MARGIN_TOP, height - _MARGIN_BOTTOM

    def x_of(t: float) -> float:
        return x0 + (t - t0) / (t1 - t0) * (x1 - x0)

    def y_of(v: float) -> float:
        return y1 - (v - lo) / (hi - lo) * (y1 - y0)

    xs = x0 + (ts.astype(np.float64) - t0) / (t1 - t0) * (x1 - x0)
    ys = y1 - (values - lo) / (hi - lo) * (y1 - y0)
    points = " L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist()))
    line = f"M{points}"
    floor_y = y_of(0.0) if area_to == "zero" else y1
    area = f"{line} L{xs[-1]:.1f},{floor_y:.1f} L{xs[0]:.1f},{floor_y:.1f} Z"

    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{escape(y_label)}">',
        "<defs>",
        f'<linearGradient id="{chart_id}-fill" x1="0" y1="{"0" if area_to == "bottom" else "1"}" '
        f'x2="0" y2="{"1" if area_to == "bottom" else "0"}">',
        f'<stop offset="0" stop-color="{color}" stop-opacity="0.28"/>',
        f'<stop offset="1" stop-color="{color}" stop-opacity="0.02"/>',
        "</linearGradient>",
        "</defs>",
    ]
    y_ticks = nice_ticks(lo, hi, 5)
    step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else abs(hi - lo) or 1.0
    for v in y_ticks:
        y = y_of(v)
        parts.append(f'<line class="grid" x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{x0 - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(y_format(v, step))}</text>'
        )
    for ns, label in time_ticks(int(ts[0]), int(ts[-1])):
        x = x_of(ns)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y1}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{y1 + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<path class="area" d="{area}" fill="url(#{chart_id}-fill)"/>')
    if baseline is not None:
        by = y_of(baseline)
        parts.append(f'<line class="baseline" x1="{x0}" y1="{by:.1f}" x2="{x1}" y2="{by:.1f}"/>')
    parts.append(f'<path class="line" d="{line}" stroke="{color}"/>')
    if len(values) == 1:
        parts.append(f'<circle cx="{xs[0]:.1f}" cy="{ys[0]:.1f}" r="3" fill="{color}"/>')
    for ns, v, title in markers:
        parts.append(
            f'<circle class="marker" cx="{x_of(ns):.1f}" cy="{y_of(v):.1f}" r="4">'
            f"<title>{escape(title)}</title></circle>"
        )
    parts.append(f'<line class="axis" x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}"/>')
    parts.append(f'<line class="axis" x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}"/>')
    parts.append(
        f'<text class="axis-label" x="14" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(y0 + y1) / 2:.1f})">{escape(y_label)}</text>'
    )
    parts.append(
        f'<text class="axis-label" x="{x1}" y="{height - 4}" text-anchor="end">time (UTC)</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# page
# ---------------------------------------------------------------------------------------------

_CSS = """
:root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ee; --bg:#f6f7fb; --card:#fff;
        --up:#15803d; --down:#b91c1c; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1040px; margin:0 auto; padding:28px 20px 48px; }
h1 { font-size:22px; margin:0 0 2px; }
h2 { font-size:15px; margin:28px 0 10px; color:var(--muted); text-transform:uppercase;
     letter-spacing:.06em; }
.sub { color:var(--muted); margin:0 0 18px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.card .k { color:var(--muted); font-size:12px; }
.card .v { font-size:20px; font-weight:600; margin-top:2px; font-variant-numeric:tabular-nums; }
.up { color:var(--up); } .down { color:var(--down); }
.panel { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:10px 12px; }
svg.chart { width:100%; height:auto; display:block; }
svg .grid { stroke:var(--line); stroke-width:1; }
svg .axis { stroke:#9aa1b1; stroke-width:1; }
svg .tick { fill:var(--muted); font-size:11px; font-variant-numeric:tabular-nums; }
svg .axis-label { fill:var(--muted); font-size:11px; }
svg .line { fill:none; stroke-width:1.6; stroke-linejoin:round; }
svg .area { stroke:none; }
svg .baseline { stroke:#9aa1b1; stroke-dasharray:4 4; }
svg .marker { fill:#fff; stroke:var(--down); stroke-width:2; }
svg .empty { fill:var(--muted); font-size:13px; }
.tables { display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:12px; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; }
td.num { text-align:right; white-space:nowrap; }
caption { text-align:left; font-weight:600; padding:4px 8px 6px; }
.errors { background:#fef2f2; border:1px solid #fecaca; color:var(--down); border-radius:10px;
          padding:12px 16px; margin:0 0 18px; }
.errors strong { display:block; margin-bottom:4px; }
.errors code { display:block; white-space:pre-wrap; word-break:break-word; }
.hash { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; word-break:break-all; }
.note { color:var(--muted); font-size:12px; margin:6px 0 0; }
.warnings { background:#fffbeb; border:1px solid #fde68a; color:#92400e; border-radius:10px;
            padding:12px 16px; margin:0 0 18px; }
.warnings strong { display:block; margin-bottom:4px; }
.warnings ul { margin:0; padding-left:18px; }
.warn { color:#b45309; font-weight:700; cursor:help; }
"""


def _signed_class(value: float | Decimal) -> str:
    return "up" if value > 0 else "down" if value < 0 else ""


def _marked(text: str) -> str:
    """Escaped text with the too-little-data mark styled (its note is in the warnings box)."""
    return escape(text).replace(
        WARN_MARK, f'<span class="warn" title="read with care: see the notes at the top of the page">{WARN_MARK}</span>'
    )


def _card(label: str, value: str, css: str = "") -> str:
    cls = f"v {css}".strip()
    return f'<div class="card"><div class="k">{escape(label)}</div><div class="{cls}">{_marked(value)}</div></div>'


def _section_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th>{_marked(label.strip())}</th><td>{_marked(value)}</td></tr>" for label, value in rows
    )
    return f'<div class="panel"><table><caption>{escape(title)}</caption>{body}</table></div>'


def _trades_table(stats: Stats) -> str:
    trades = stats.trades[-MAX_TRADE_ROWS:]
    if not trades:
        return '<p class="note">No closed trades.</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Closed (UTC)", "Strategy", "Instrument", "Side", "Qty", "Entry", "Exit", "Net PnL", "Fees")
    )
    rows = []
    for t in reversed(trades):
        rows.append(
            "<tr>"
            f"<td>{escape(iso_ns(t.ts_close))}</td><td>{escape(t.strategy_id)}</td><td>{escape(t.instrument)}</td>"
            f"<td>{'long' if t.side > 0 else 'short'}</td>"
            f'<td class="num">{escape(str(t.qty))}</td>'
            f'<td class="num">{escape(_short_decimal(t.entry_price))}</td>'
            f'<td class="num">{escape(_short_decimal(t.exit_price))}</td>'
            f'<td class="num {_signed_class(t.net_pnl)}">{escape(format_money(t.net_pnl, t.pnl_asset, signed=True))}</td>'
            f'<td class="num">{escape(format_money(t.fees, t.pnl_asset))}</td>'
            "</tr>"
        )
    note = ""
    if len(stats.trades) > MAX_TRADE_ROWS:
        note = (
            f'<p class="note">Showing the last {MAX_TRADE_ROWS:,} of {len(stats.trades):,} trades; '
            "all are in trades.csv.</p>"
        )
    return f'<div class="panel"><table><tr>{head}</tr>{"".join(rows)}</table></div>{note}'


def _short_decimal(value: Decimal, places: int = 8) -> str:
    """A volume-weighted price without a 28-digit tail."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return str(value.quantize(Decimal(1).scaleb(-places)).normalize())
    return str(value)


def render_html(record: RunRecord, stats: Stats) -> str:
    """The whole report page as one HTML string (UTF-8, no external resources)."""
    cur = stats.currency
    ts, equity = record.equity_ts, record.equity
    _, dd_frac = drawdown_series(equity)

    def money_tick(v: float, step: float) -> str:
        return _fmt_number(v, step)

    def pct_tick(v: float, step: float) -> str:
        return f"{_fmt_number(v, step)} %"

    markers: list[tuple[int, float, str]] = []
    if stats.max_drawdown_pct > 0 and len(equity):
        peak_i = int(np.searchsorted(ts, stats.max_drawdown_peak_ns))
        trough_i = int(np.searchsorted(ts, stats.max_drawdown_trough_ns))
        markers = [
            (stats.max_drawdown_peak_ns, float(equity[peak_i]), f"peak {iso_ns(stats.max_drawdown_peak_ns)}"),
            (
                stats.max_drawdown_trough_ns,
                float(equity[trough_i]),
                f"trough {iso_ns(stats.max_drawdown_trough_ns)}: -{stats.max_drawdown_pct:.2f} %",
            ),
        ]
    equity_svg = _line_chart(
        ts, equity, chart_id="equity", height=340, color="#2563eb", y_label=f"equity ({cur})",
        y_format=money_tick, baseline=float(stats.starting_equity), markers=markers,
    )
    drawdown_svg = _line_chart(
        ts, dd_frac * 100.0, chart_id="drawdown", height=200, color="#dc2626",
        y_label="drawdown (%)", y_format=pct_tick, area_to="zero",
    )

    ret_cls = _signed_class(stats.total_return)
    cards = "".join([
        _card("Total return", f"{stats.total_return_pct:+.2f} %", ret_cls),
        _card("Net result", format_money(stats.total_return, cur, signed=True), ret_cls),
        _card("Sharpe", f"{stats.sharpe:.2f}" + (f" {WARN_MARK}" if LABEL_SHARPE in stats.warnings else "")),
        _card("Max drawdown", f"{stats.max_drawdown_pct:.2f} %", "down" if stats.max_drawdown_pct else ""),
        _card("Trades / win rate", f"{stats.n_trades:,} / {stats.win_rate_pct:.0f} %" if stats.n_trades else "0 / n/a"),
        _card("Fees", format_money(stats.fees, cur)),
    ])
    warnings = ""
    if stats.warnings:
        items = "".join(f"<li>{_marked(label)}: {escape(note)}</li>" for label, note in warning_rows(stats))
        warnings = (
            f'<div class="warnings"><strong>{WARN_MARK} Read the figures marked {WARN_MARK} with care:'
            f"</strong><ul>{items}</ul></div>"
        )
    errors = ""
    if record.strategy_errors:
        lines = "".join(f"<code>{escape(line)}</code>" for line in record.strategy_errors)
        errors = (
            f'<div class="errors"><strong>{len(record.strategy_errors)} strategy error(s): the results '
            f"below reflect strategies that stopped.</strong>{lines}</div>"
        )
    sections = [
        (name, rows) for name, rows in report_sections(stats, record)
        if name not in ("Fills hash", "Errors") and not name.startswith(WARN_MARK)
    ]
    tables = "".join(_section_table(name, rows) for name, rows in sections)
    title = f"Backtest: {stats.config_name}"
    period = f"{iso_ns(stats.start_ns)} → {iso_ns(stats.end_ns)} · seed {stats.seed} · {cur}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{escape(period)}</p>',
        errors,
        warnings,
        f'<div class="cards">{cards}</div>',
        "<h2>Equity</h2>",
        f'<div class="panel">{equity_svg}</div>',
        "<h2>Drawdown</h2>",
        f'<div class="panel">{drawdown_svg}</div>',
        "<h2>Statistics</h2>",
        f'<div class="tables">{tables}</div>',
        "<h2>Closed trades</h2>",
        _trades_table(stats),
        "<h2>Fills hash</h2>",
        f'<p class="hash">sha256 {escape(stats.fills_hash)}</p>',
        "</main>",
        "</body>",
        "</html>",
        "",
    ])
