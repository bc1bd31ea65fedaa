"""The report of a live or paper run: the same files and statistics as a backtest's.

A :class:`~engine._live.LiveRunner` samples the account while it runs; :func:`live_record`
turns what it saw into a :class:`~backtest.report.RunRecord`, and :func:`write_live_report`
writes it with the backtest's own writer (``fills.csv``, ``orders.csv``, ``trades.csv``,
``equity.csv``, ``stats.json``, ``report.html``). The CLI passes :func:`write_live_report` to the
live commands (``engine`` does not import ``backtest``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from engine import Engine

from .report import RunRecord, compute_stats, format_report, write_outputs

__all__ = ["live_record", "write_live_report"]


def live_record(runner: Any, *, name: str, currency: str) -> RunRecord:
    """What ``runner`` (a started :class:`~engine._live.LiveRunner`) saw, as a backtest record."""
    runner.sample_equity()  # the account as it is now, even after a forced stop
    samples = runner.equity_samples
    engine: Engine = runner.engine
    marks = runner.last_prices
    rates = {inst.base: marks[key] for key, inst in engine.instruments.items()
             if key in marks and inst.quote == currency and inst.base != currency}

    def in_currency(amounts: dict[str, Decimal]) -> Decimal:
        return sum((v if a == currency else v * rates.get(a, Decimal(0)) for a, v in amounts.items()), Decimal(0))

    portfolio = engine.portfolio
    realized: dict[str, Decimal] = {}
    for pos in portfolio.positions.values():
        realized[pos.instrument.settle] = realized.get(pos.instrument.settle, Decimal(0)) + pos.realized_pnl
    start_ns, end_ns = samples[0].ts_ns, samples[-1].ts_ns
    interval_ns = max(int(runner.settings.equity_interval_s * 1e9), 1)
    return RunRecord(
        starting_equity=samples[0].equity,
        final_equity=samples[-1].equity,
        currency=currency,
        realized_pnl=in_currency(realized),
        unrealized_pnl=in_currency(portfolio.unrealized_pnl(marks)),
        fees=in_currency(portfolio.total_fees()),
        equity_ts=[s.ts_ns for s in samples],
        equity=[float(s.equity) for s in samples],
        gross_exposure=[float(s.gross_exposure) for s in samples],
        fills=list(engine.fills),
        orders=list(engine.orders.values()),
        denials=dict(engine.denials),
        strategy_errors=([str(f) for f in engine.failures] + [f"ALARM {a.kind}: {a.detail}" for a in engine.alarms]
                         + list(getattr(runner, "stale_report", list)())),
        events_processed=runner.events_processed,
        wall_time_s=(end_ns - start_ns) / 1e9,
        sample_interval_ns=interval_ns,
        start_ns=start_ns,
        end_ns=end_ns,
        config_name=name,
        seed=0,
    )


def write_live_report(runner: Any, out: Path, *, name: str, currency: str) -> str:
    """Write the run's report files into ``out``; returns the text report (as a backtest prints it)."""
    record = live_record(runner, name=name, currency=currency)
    stats = compute_stats(record)
    write_outputs(record, stats, out)
    return format_report(stats, record)
