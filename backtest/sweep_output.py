"""A sweep's results on disk and on screen: ``runs.csv`` / ``runs.parquet`` (one row per parameter set,
ranked), ``folds.csv`` / ``folds.parquet`` (every run, with a split), ``sweep.json`` and ``sweep.html``
(a heatmap of the metric over two parameters and the best runs' equity curves: inline SVG, no script,
works offline)."""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from .report import iso_ns
from .sweep import (
    FoldPick,
    SweepRun,
    TrialRow,
    Window,
    fold_rows,
    format_value,
    metric_columns,
    short_value,
    table_rows,
    walk_forward,
)
from .sweep_config import SweepSpec

__all__ = ["write_results", "format_summary", "arrow_table"]

TOP_ROWS_HTML = 25
TOP_ROWS_TEXT = 10


def _csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([format_value(v) for v in row] for row in rows)


def _arrow_type(values: Sequence[Any]) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if any(isinstance(v, bool) for v in present) or not all(isinstance(v, (int, float, Decimal)) for v in present):
        return pa.string()
    if all(isinstance(v, int) for v in present):
        return pa.int64() if all(-(2**63) <= v < 2**63 for v in present) else pa.string()
    if any(isinstance(v, float) for v in present):
        return pa.float64()
    scale = 0
    digits = 1
    for v in present:
        sign, ds, exponent = Decimal(v).as_tuple()
        assert isinstance(exponent, int)
        scale = max(scale, -exponent)
        digits = max(digits, len(ds) + max(0, exponent))
    if digits + scale > 38:
        return pa.string()
    return pa.decimal128(digits + scale, scale)


def arrow_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    """The table as a ``pyarrow.Table``: integers int64, figures float64, exact decimals decimal128,
    text as strings (a column that mixes kinds becomes text)."""
    import pyarrow as pa

    arrays = []
    for k, name in enumerate(header):
        values = [row[k] for row in rows]
        kind = _arrow_type(values)
        if kind == pa.string():
            values = [None if v is None else format_value(v) for v in values]
        elif kind == pa.float64():
            values = [None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)
                      for v in values]
        elif pa.types.is_decimal(kind):
            values = [None if v is None else Decimal(v) for v in values]
        arrays.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, names=list(header))


def _parquet(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    pq.write_table(arrow_table(header, rows), path)


def write_results(out: Path, spec: SweepSpec, wins: Sequence[Window], rows: Sequence[TrialRow],
                  run: SweepRun, *, name: str, executor: str) -> list[Path]:
    """Write every results file into ``out`` (created); returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    header, cells = table_rows(spec, rows)
    for path, write in ((out / "runs.csv", _csv), (out / "runs.parquet", _parquet)):
        write(path, header, cells)
        written.append(path)
    if spec.split:
        fheader, fcells = fold_rows(spec, wins, rows)
        for path, write in ((out / "folds.csv", _csv), (out / "folds.parquet", _parquet)):
            write(path, fheader, fcells)
            written.append(path)
    picks = walk_forward(spec, wins, rows) if spec.split else []
    summary = {
        "name": name,
        "config": spec.source,
        "method": spec.method,
        "seed": spec.seed,
        "metric": spec.metric,
        "direction": "maximize" if spec.maximize else "minimize",
        "constraints": [c.text for c in spec.constraints],
        "params": list(spec.names),
        "windows": [{"fold": w.fold, "segment": w.segment,
                     "start": iso_ns(w.start_ns) if w.start_ns is not None else None,
                     "end": iso_ns(w.end_ns) if w.end_ns is not None else None} for w in wins],
        "trials": len(run.collector.trials),
        "trials_complete": len(rows),
        "runs_done": run.collector.done,
        "runs_total": run.collector.total,
        "interrupted": run.interrupted,
        "executor": executor,
        "best": _best_json(spec, rows),
        "walk_forward": [{"fold": p.fold, "trial": p.trial, "params": dict(zip(spec.names, map(format_value, p.values))),
                          "in_sample": format_value(p.in_sample), "out_of_sample": format_value(p.out_of_sample)}
                         for p in picks],
    }
    (out / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(out / "sweep.json")
    (out / "sweep.html").write_text(render_html(spec, wins, rows, picks, summary), encoding="utf-8")
    written.append(out / "sweep.html")
    return written


def _best_json(spec: SweepSpec, rows: Sequence[TrialRow]) -> dict[str, Any] | None:
    if not rows or not rows[0].feasible:
        return None
    best = rows[0]
    return {"trial": best.trial.index, "params": dict(zip(spec.names, map(format_value, best.trial.values))),
            spec.metric: format_value(best.in_sample[spec.metric]),
            **({f"oos_{spec.metric}": format_value(best.out_of_sample.get(spec.metric))} if spec.split else {})}


# ---------------------------------------------------------------------------------------------
# text
# ---------------------------------------------------------------------------------------------


def format_summary(spec: SweepSpec, wins: Sequence[Window], rows: Sequence[TrialRow], run: SweepRun) -> str:
    """What ``triotrade sweep`` prints: the best runs, and the walk-forward picks with a split."""
    lines = []
    c = run.collector
    feasible = sum(1 for r in rows if r.feasible)
    state = "interrupted" if run.interrupted else "done"
    lines.append(f"Sweep {state}: {c.done}/{c.total} runs in {run.wall_s:.1f} s, {len(rows)} of {len(c.trials)} "
                 f"parameter sets complete, {feasible} keep the constraints")
    direction = "highest" if spec.maximize else "lowest"
    where = "in-sample " if spec.split else ""
    lines.append(f"ranked by {where}{spec.metric} ({direction} first)"
                 + (f"; constraints: {', '.join(x.text for x in spec.constraints)}" if spec.constraints else ""))
    metrics = metric_columns(spec)[:4]
    header = ["rank", "trial", *spec.names, *metrics]
    if spec.split:
        header.append(f"oos_{spec.metric}")
    header.append("ok")
    table = [header]
    for row in rows[:TOP_ROWS_TEXT]:
        cells = [str(row.rank), str(row.trial.index), *(format_value(v) for v in row.trial.values),
                 *(short_value(row.in_sample[m]) for m in metrics)]
        if spec.split:
            cells.append(short_value(row.out_of_sample.get(spec.metric)))
        cells.append("yes" if row.feasible else ("error" if row.error else "no"))
        table.append(cells)
    widths = [max(len(r[k]) for r in table) for k in range(len(header))]
    lines.extend("  " + "  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in table)
    if len(rows) > TOP_ROWS_TEXT:
        lines.append(f"  ... {len(rows) - TOP_ROWS_TEXT} more in runs.csv")
    errors = [r for r in rows if r.error]
    if errors:
        lines.append(f"{len(errors)} parameter sets failed, e.g. trial {errors[0].trial.index}: {errors[0].error}")
    if spec.split:
        lines.append("walk-forward (the best in-sample parameter set of each fold, then its out-of-sample figure):")
        for pick in walk_forward(spec, wins, rows):
            values = ", ".join(f"{n}={format_value(v)}" for n, v in zip(spec.names, pick.values))
            lines.append(f"  fold {pick.fold}: trial {pick.trial} ({values})  {spec.metric} in-sample "
                         f"{short_value(pick.in_sample)}, out-of-sample {short_value(pick.out_of_sample)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#57606a;font-size:13px}
table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f6f8fa;position:sticky;top:0}
td.l,th.l{text-align:left}
.bad{color:#9a6700}.err{color:#cf222e}
.wrap{overflow-x:auto;max-width:100%}
svg text{font-family:inherit}
"""

_PALETTE = ["#0969da", "#1a7f37", "#bf3989", "#9a6700", "#8250df", "#cf222e", "#1b7c83", "#57606a"]


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _axis(values: Sequence[Any]) -> tuple[list[str], list[int]]:
    """Labels of one heatmap axis and each value's position: the distinct values in order, or ten
    equal bins when there are more than 20 distinct numbers."""
    distinct = sorted({format_value(v): v for v in values}.items(),
                      key=lambda kv: (_num(kv[1]) is None, _num(kv[1]) or 0.0, kv[0]))
    numbers = [_num(v) for v in values]
    if len(distinct) > 20 and all(n is not None for n in numbers):
        lo, hi = min(n for n in numbers if n is not None), max(n for n in numbers if n is not None)
        width = (hi - lo) / 10 or 1.0
        labels = [f"{lo + k * width:.4g}–{lo + (k + 1) * width:.4g}" for k in range(10)]
        return labels, [min(9, int(((n or 0.0) - lo) / width)) for n in numbers]
    labels = [label for label, _ in distinct]
    return labels, [labels.index(format_value(v)) for v in values]


def _color(t: float) -> str:
    """0 → red, 0.5 → pale yellow, 1 → green (a diverging scale, colour-blind safe enough with values printed)."""
    stops = [(0.0, (215, 48, 39)), (0.5, (255, 255, 191)), (1.0, (26, 152, 80))]
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            rgb = tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
            return "#%02x%02x%02x" % rgb
    return "#1a9850"


def heatmap_svg(spec: SweepSpec, rows: Sequence[TrialRow]) -> str:
    """The in-sample metric over the two heatmap parameters; a cell holds the best value over the
    other parameters (runs that break a constraint left out; grey: none left)."""
    if spec.heatmap is None:
        return "<p class=sub>One parameter is swept: no heatmap (the table below has every run).</p>"
    xi, yi = spec.names.index(spec.heatmap[0]), spec.names.index(spec.heatmap[1])
    if not rows:
        return "<p class=sub>No complete run.</p>"
    xlabels, xpos = _axis([r.trial.values[xi] for r in rows])
    ylabels, ypos = _axis([r.trial.values[yi] for r in rows])
    cells: dict[tuple[int, int], float] = {}
    for row, x, y in zip(rows, xpos, ypos):
        value = _num(row.in_sample[spec.metric])
        if not row.feasible or value is None:
            continue
        have = cells.get((x, y))
        if have is None or (value > have if spec.maximize else value < have):
            cells[(x, y)] = value
    cw, ch, left, top = max(44, min(90, 900 // max(1, len(xlabels)))), 26, 110, 30
    width, height = left + cw * len(xlabels) + 20, top + ch * len(ylabels) + 60
    lo = min(cells.values(), default=0.0)
    hi = max(cells.values(), default=0.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{_esc(spec.metric)} heatmap">']
    for y, ylabel in enumerate(ylabels):
        parts.append(f'<text x="{left - 6}" y="{top + y * ch + ch / 2 + 4}" text-anchor="end" font-size="11">'
                     f'{_esc(ylabel)}</text>')
        for x in range(len(xlabels)):
            value = cells.get((x, y))
            if value is None:
                fill, text = "#eaeef2", ""
            else:
                t = 0.5 if hi == lo else (value - lo) / (hi - lo)
                fill, text = _color(t if spec.maximize else 1 - t), f"{value:.3g}"
            parts.append(f'<rect x="{left + x * cw}" y="{top + y * ch}" width="{cw - 1}" height="{ch - 1}" '
                         f'fill="{fill}"><title>{_esc(spec.heatmap[0])}={_esc(xlabels[x])}, '
                         f'{_esc(spec.heatmap[1])}={_esc(ylabel)}: {_esc(text or "no run keeps the constraints")}'
                         f'</title></rect>')
            if text and len(xlabels) <= 30:
                parts.append(f'<text x="{left + x * cw + cw / 2}" y="{top + y * ch + ch / 2 + 4}" '
                             f'text-anchor="middle" font-size="10">{_esc(text)}</text>')
    for x, xlabel in enumerate(xlabels):
        parts.append(f'<text x="{left + x * cw + cw / 2}" y="{top + len(ylabels) * ch + 14}" text-anchor="middle" '
                     f'font-size="11">{_esc(xlabel)}</text>')
    parts.append(f'<text x="{left + cw * len(xlabels) / 2}" y="{top + len(ylabels) * ch + 34}" text-anchor="middle" '
                 f'font-size="12" font-weight="600">{_esc(spec.heatmap[0])}</text>')
    parts.append(f'<text x="12" y="{top - 10}" font-size="12" font-weight="600">{_esc(spec.heatmap[1])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def equity_svg(spec: SweepSpec, wins: Sequence[Window], rows: Sequence[TrialRow]) -> str:
    """The best runs' equity as % return from the start of each window (out-of-sample parts shaded)."""
    top = [r for r in rows if r.feasible][: spec.top]
    series = []
    for k, row in enumerate(top):
        for result, window in zip(row.results, wins):
            if len(result.curve_ts) < 2 or result.curve_equity[0] <= 0:
                continue
            pct = (result.curve_equity / result.curve_equity[0] - 1.0) * 100.0
            series.append((k, window, result.curve_ts, pct))
    if not series:
        return "<p class=sub>No run to draw.</p>"
    t0 = min(int(s[2][0]) for s in series)
    t1 = max(int(s[2][-1]) for s in series)
    y0 = min(float(s[3].min()) for s in series)
    y1 = max(float(s[3].max()) for s in series)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 1, y1 + 1
    w, h, left, right, top_pad, bottom = 960, 320, 60, 16, 12, 40
    span = max(1, t1 - t0)

    def sx(t: float) -> float:
        return left + (t - t0) / span * (w - left - right)

    def sy(v: float) -> float:
        return top_pad + (y1 - v) / (y1 - y0) * (h - top_pad - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="equity curves">']
    for window in wins:
        if window.segment == "oos" and window.start_ns is not None and window.end_ns is not None:
            parts.append(f'<rect x="{sx(window.start_ns):.1f}" y="{top_pad}" '
                         f'width="{max(0.0, sx(window.end_ns) - sx(window.start_ns)):.1f}" '
                         f'height="{h - top_pad - bottom}" fill="#f6f8fa"><title>fold {window.fold} '
                         f'out-of-sample</title></rect>')
    for k in range(5):
        v = y0 + (y1 - y0) * k / 4
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#d0d7de" '
                     f'stroke-width="0.5"/><text x="{left - 6}" y="{sy(v) + 4:.1f}" text-anchor="end" '
                     f'font-size="10">{v:.2f}%</text>')
    for k in range(5):
        t = t0 + span * k / 4
        parts.append(f'<text x="{sx(t):.1f}" y="{h - bottom + 16}" text-anchor="middle" font-size="10">'
                     f'{_esc(iso_ns(int(t))[:16].replace("T", " "))}</text>')
    if y0 < 0 < y1:
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" stroke="#57606a" '
                     'stroke-width="0.8"/>')
    for k, _window, ts, pct in series:
        points = " ".join(f"{sx(float(t)):.1f},{sy(float(v)):.1f}" for t, v in zip(ts, pct))
        parts.append(f'<polyline fill="none" stroke="{_PALETTE[k % len(_PALETTE)]}" stroke-width="1.4" '
                     f'points="{points}"/>')
    parts.append("</svg>")
    legend = "".join(
        f'<span style="color:{_PALETTE[k % len(_PALETTE)]};margin-right:14px">&#9632; #{row.rank} trial '
        f'{row.trial.index}: {_esc(", ".join(f"{n}={format_value(v)}" for n, v in zip(spec.names, row.trial.values)))}'
        f'</span>' for k, row in enumerate(top))
    return "".join(parts) + f'<div class=sub>{legend}</div>'


def _table_html(spec: SweepSpec, rows: Sequence[TrialRow]) -> str:
    header, cells = table_rows(spec, rows[:TOP_ROWS_HTML])
    left = {"error", "fills_hash"}
    head = "".join(f'<th class="{"l" if h in left else ""}">{_esc(h)}</th>' for h in header)
    body = []
    for row, values in zip(rows, cells):
        klass = "err" if row.error else ("" if row.feasible else "bad")
        tds = "".join(f'<td class="{"l" if h in left else ""}">'
                      f'{_esc(short_value(v) if isinstance(v, (float, Decimal)) else format_value(v))}</td>'
                      for h, v in zip(header, values))
        body.append(f'<tr class="{klass}">{tds}</tr>')
    return f'<div class=wrap><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _picks_html(spec: SweepSpec, picks: Sequence[FoldPick]) -> str:
    if not picks:
        return "<p class=sub>No fold has a parameter set that keeps the constraints.</p>"
    rows = "".join(
        f"<tr><td>{p.fold}</td><td>{p.trial}</td><td class=l>"
        f"{_esc(', '.join(f'{n}={format_value(v)}' for n, v in zip(spec.names, p.values)))}</td>"
        f"<td>{_esc(short_value(p.in_sample))}</td><td>{_esc(short_value(p.out_of_sample))}</td></tr>" for p in picks)
    return (f"<table><thead><tr><th>fold</th><th>trial</th><th class=l>parameters</th><th>in-sample "
            f"{_esc(spec.metric)}</th><th>out-of-sample {_esc(spec.metric)}</th></tr></thead><tbody>{rows}</tbody></table>")


def render_html(spec: SweepSpec, wins: Sequence[Window], rows: Sequence[TrialRow], picks: Sequence[FoldPick],
                summary: dict[str, Any]) -> str:
    """The whole results page as one self-contained HTML string."""
    direction = "highest" if spec.maximize else "lowest"
    where = "in-sample " if spec.split else ""
    constraints = ", ".join(c.text for c in spec.constraints) or "none"
    windows = "; ".join(f"fold {w.fold} {w.segment} {iso_ns(w.start_ns)[:16]} → {iso_ns(w.end_ns)[:16]}"
                        for w in wins if w.start_ns is not None and w.end_ns is not None) or "the whole period"
    state = " (interrupted: the runs that finished)" if summary["interrupted"] else ""
    sections = [
        f"<h1>Sweep: {_esc(summary['name'])}</h1>",
        f"<div class=sub>{_esc(spec.method)} search over {_esc(', '.join(spec.names))}; "
        f"{summary['trials_complete']} of {summary['trials']} parameter sets, {summary['runs_done']}/"
        f"{summary['runs_total']} runs{_esc(state)}; ranked by {where}{_esc(spec.metric)} ({direction} first); "
        f"constraints: {_esc(constraints)}; windows: {_esc(windows)}; {_esc(summary['executor'])}</div>",
    ]
    if spec.heatmap is not None:
        sections.append(f"<h2>{_esc(where + spec.metric)} by {_esc(spec.heatmap[0])} and {_esc(spec.heatmap[1])}</h2>"
                        f"<div class=sub>each cell: the best over the other parameters; grey: no run keeps the "
                        f"constraints</div>")
    sections.append(heatmap_svg(spec, rows))
    sections.append(f"<h2>Equity of the best {min(spec.top, sum(1 for r in rows if r.feasible))} runs</h2>"
                    "<div class=sub>% return from the start of each window; shaded: out-of-sample</div>")
    sections.append(equity_svg(spec, wins, rows))
    if spec.split:
        sections.append("<h2>Walk-forward</h2><div class=sub>per fold, the best in-sample parameter set and "
                        "what it did out of sample</div>" + _picks_html(spec, picks))
    sections.append(f"<h2>Best {min(TOP_ROWS_HTML, len(rows))} of {len(rows)} (all in runs.csv)</h2>")
    sections.append(_table_html(spec, rows))
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Sweep: "
            f"{_esc(summary['name'])}</title><style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n")
