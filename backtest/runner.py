"""The backtest loop: replay recorded events through the strategies and the simulated venue.

One short loop per stream kind (advance the clock → fire timers → match resting orders on the
simulated venue → the strategy handles the event). No trio checkpoint per event: the engine core
is synchronous, and the simulated venue calls back into it directly. Single-stream runs with one
subscriber take a specialised loop (the common case, and the benchmark's); anything else is
merged by receive time through the generic path. Both call the same engine and venue methods.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs
import numpy as np

from engine import Bar, DataError, Quote, Trade
from engine._clock import SimClock
from engine._core import Engine
from engine._instruments import Instrument
from engine._orders import ClientOrderIdFactory
from engine._portfolio import Portfolio
from engine._risk_api import RiskGate
from engine._runconfig import StrategySpec
from engine._strategy import Context, Strategy

from .data import Dataset, iter_book_events
from .progress import progress
from .report import RunRecord, Stats, compute_stats
from .simvenue import SimVenue, SimVenueConfig

__all__ = ["StrategySpec", "BacktestSettings", "BacktestResult", "run_backtest"]

log = logging.getLogger("triotrade.backtest")

CHUNK = 65_536
"Rows converted from numpy to Python per step: bounds memory (5M trades stay well under 1 GB)."

_NEW = tuple.__new__


@attrs.frozen
class BacktestSettings:
    account_currency: str = "USD"
    starting_balances: dict[str, Decimal] = attrs.Factory(lambda: {"USD": Decimal(100_000)})
    sim: SimVenueConfig = attrs.Factory(SimVenueConfig)
    seed: int = 0
    start_ns: int | None = None
    end_ns: int | None = None
    sample_interval_ns: int | None = None
    "Equity sampling interval; None picks one from the data span (at most ~20,000 samples)."
    show_progress: bool | None = None
    "None: a progress bar only when attached to a TTY."
    name: str = "backtest"


@attrs.frozen
class BacktestResult:
    record: RunRecord
    stats: Stats
    engine: Engine


class _Stream:
    """One selected stream: its columns (sliced to the time range) and its instrument."""

    def __init__(self, name: str, kind: str, instrument: Instrument, columns: dict[str, np.ndarray],
                 interval_ns: int, start_ns: int | None, end_ns: int | None) -> None:
        self.name = name
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.kind = kind
        self.instrument = instrument
        self.columns = columns
        self.interval_ns = interval_ns
        self.rows = len(columns["ts_recv"])


_NICE_INTERVALS_NS = [int(s * 1e9) for s in (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400)]


def _pick_sample_interval(span_ns: int, floor_ns: int) -> int:
    want = max(floor_ns, span_ns // 20_000, 1)
    for nice in _NICE_INTERVALS_NS:
        if nice >= want:
            return nice
    return _NICE_INTERVALS_NS[-1]


class _EquitySampler:
    """Samples account equity on a regular grid, pricing positions at the last mark ≤ t."""

    def __init__(self, engine: Engine, currency: str, streams: Sequence[_Stream], interval_ns: int, start_ns: int) -> None:
        self.engine = engine
        self.currency = currency
        self.interval_ns = interval_ns
        self.next_ns = start_ns
        self.ts: list[int] = []
        self.equity: list[float] = []
        self.exposure: list[float] = []
        self._marks: dict[str, tuple[np.ndarray, np.ndarray, Instrument]] = {}
        for s in streams:
            cols = s.columns
            if s.kind == "bars":
                self._marks.setdefault(s.instrument.key, (cols["ts_recv"], cols["close"], s.instrument))
            elif s.kind == "trades":
                self._marks[s.instrument.key] = (cols["ts_recv"], cols["price"], s.instrument)
            elif s.kind == "quotes":
                mid2 = cols["bid"].astype(np.int64) + cols["ask"].astype(np.int64)
                self._marks.setdefault(s.instrument.key, (cols["ts_recv"], mid2, s.instrument))
        self._mid2 = {k for k, s in ((s.instrument.key, s) for s in streams) if s.kind == "quotes"
                      and not any(t.kind in ("bars", "trades") and t.instrument.key == k for t in streams)}

    def marks_at(self, t_ns: int) -> dict[str, Decimal]:
        marks: dict[str, Decimal] = {}
        for key, (ts, values, inst) in self._marks.items():
            i = int(np.searchsorted(ts, t_ns, side="right")) - 1
            if i >= 0:
                raw = int(values[i])
                marks[key] = inst.price_of(raw) / 2 if key in self._mid2 else inst.price_of(raw)
        for key, book in self.engine.books.items():
            if key not in marks and book.best_bid_raw is not None and book.best_ask_raw is not None:
                marks[key] = book.mid
        return marks

    def rates(self, marks: dict[str, Decimal]) -> dict[str, Decimal]:
        rates: dict[str, Decimal] = {}
        for key, mark in marks.items():
            inst = self.engine.instruments[key]
            if inst.quote == self.currency and inst.base != self.currency:
                rates.setdefault(inst.base, mark)
        return rates

    def sample(self, now_ns: int) -> None:
        """Record samples for every grid point ≤ ``now_ns`` (before ``now_ns``'s event is applied)."""
        while self.next_ns <= now_ns:
            t = self.next_ns
            self._record(t)
            self.next_ns = t + self.interval_ns

    def _record(self, t: int) -> None:
        marks = self.marks_at(t)
        rates = self.rates(marks)
        portfolio = self.engine.portfolio
        equity = portfolio.equity(self.currency, marks, rates)
        exposure = Decimal(0)
        for pos in portfolio.open_positions():
            mark = marks.get(pos.instrument.key)
            if mark is not None:
                notional = pos.notional(mark)
                settle = pos.instrument.settle
                exposure += notional if settle == self.currency else notional * rates.get(settle, Decimal(0))
        self.ts.append(t)
        self.equity.append(float(equity))
        self.exposure.append(float(exposure))

    def finish(self, end_ns: int) -> None:
        self.sample(end_ns)
        if not self.ts or self.ts[-1] != end_ns:
            self._record(end_ns)


def _select_streams(dataset: Dataset, engine: Engine, start_ns: int | None, end_ns: int | None) -> list[_Stream]:
    selected: list[_Stream] = []
    for (kind, key), opts in engine.subscriptions.items():
        candidates = [s for s in dataset.streams if s.kind == kind and s.instrument == key]
        if kind == "bars":
            want = int(opts.get("interval_s", 60)) * 1_000_000_000
            exact = [s for s in candidates if s.interval_ns == want]
            if candidates and not exact:
                have = ", ".join(f"{s.interval_ns // 1_000_000_000}s" for s in candidates)
                raise DataError(f"a strategy subscribed to {want // 1_000_000_000}s bars of {key}, "
                                f"but the data set has bars of {have}")
            candidates = exact
        if not candidates:
            have = sorted({f"{s.kind} of {s.instrument}" for s in dataset.streams}) or ["nothing"]
            raise DataError(f"a strategy subscribed to {kind} of {key}, but the data set at "
                            f"{dataset.path} has only: {'; '.join(have)}")
        info = candidates[0]
        columns = dataset.select(stream=info.name, start_ns=start_ns, end_ns=end_ns)
        selected.append(_Stream(info.name, kind, engine.instruments[key], columns, info.interval_ns or 0,
                                start_ns, end_ns))
    return selected


def run_backtest(
    dataset: Dataset,
    strategies: Sequence[StrategySpec],
    settings: BacktestSettings = BacktestSettings(),
    *,
    risk: RiskGate | None = None,
) -> BacktestResult:
    """Backtest ``strategies`` on ``dataset``; deterministic for the same inputs and seed."""
    if not strategies:
        raise ValueError("no strategies to run")
    wall0 = time.perf_counter()
    clock = SimClock()
    engine = Engine(
        clock=clock,
        portfolio=Portfolio(settings.starting_balances),
        risk=risk,
        id_factory=ClientOrderIdFactory(prefix="bt", run_id=str(settings.seed)),
    )
    for inst in dataset.instruments.values():
        engine.add_instrument(inst)
    sim = SimVenue(
        dataset.instruments.values(), engine, settings.sim, seed=settings.seed,
        position_of=lambda inst: engine.portfolio.position(inst).qty_raw,
    )
    engine.execution = sim
    for spec in strategies:
        engine.add_strategy(spec.id, _factory(spec))

    # the clock starts at the first event of the selected range, so on_start sees a sane time
    first = [s.start_ns for s in dataset.streams]
    clock.ns = max(min(first), settings.start_ns or 0) if first else (settings.start_ns or 0)
    engine.start()
    streams = _select_streams(dataset, engine, settings.start_ns, settings.end_ns) if engine.subscriptions else []
    total = sum(s.rows for s in streams)
    if streams and total:
        t0 = min(int(s.columns["ts_recv"][0]) for s in streams if s.rows)
        t1 = max(int(s.columns["ts_recv"][-1]) for s in streams if s.rows)
    else:
        t0 = t1 = clock.ns
    bar_floor = max((s.interval_ns for s in streams if s.kind == "bars"), default=1_000_000_000)
    interval = settings.sample_interval_ns or _pick_sample_interval(t1 - t0, bar_floor)
    sampler = _EquitySampler(engine, settings.account_currency, streams, interval, t0)
    engine.mark_source = lambda inst: sampler.marks_at(clock.ns).get(inst.key)

    bar = progress(total, desc=settings.name, enabled=settings.show_progress)
    try:
        if len(streams) == 1 and streams[0].kind in _FAST_LOOPS and len(engine.handlers(streams[0].kind, streams[0].instrument.key)) == 1:
            _FAST_LOOPS[streams[0].kind](engine, sim, sampler, streams[0], bar.update)
        elif streams:
            _generic_loop(engine, sim, sampler, streams, bar.update, dataset)
    finally:
        bar.close()

    end_ns = max(clock.ns, t1)
    engine.stop()
    sampler.finish(end_ns)
    wall = time.perf_counter() - wall0
    marks = sampler.marks_at(end_ns)
    rates = sampler.rates(marks)
    currency = settings.account_currency
    portfolio = engine.portfolio
    starting = portfolio_equity_at_start(settings.starting_balances, currency, sampler.marks_at(t0), sampler.rates(sampler.marks_at(t0)))
    final = portfolio.equity(currency, marks, rates)
    upnl = sum((v * (rates.get(a, Decimal(0)) if a != currency else Decimal(1))
                for a, v in portfolio.unrealized_pnl(marks).items()), Decimal(0))
    fees = sum((v * (rates.get(a, Decimal(0)) if a != currency else Decimal(1))
                for a, v in portfolio.total_fees().items()), Decimal(0))
    realized = Decimal(0)
    for pos in portfolio.positions.values():
        settle = pos.instrument.settle
        realized += pos.realized_pnl if settle == currency else pos.realized_pnl * rates.get(settle, Decimal(0))
    record = RunRecord(
        starting_equity=starting,
        final_equity=final,
        currency=currency,
        realized_pnl=realized,
        unrealized_pnl=upnl,
        fees=fees,
        equity_ts=np.asarray(sampler.ts, dtype=np.int64),
        equity=np.asarray(sampler.equity, dtype=np.float64),
        gross_exposure=np.asarray(sampler.exposure, dtype=np.float64),
        fills=list(engine.fills),
        orders=list(engine.orders.values()),
        denials=dict(engine.denials),
        strategy_errors=[str(f) for f in engine.failures] + [f"ALARM {a.kind}: {a.detail}" for a in engine.alarms],
        events_processed=total,
        wall_time_s=wall,
        sample_interval_ns=interval,
        start_ns=t0,
        end_ns=end_ns,
        config_name=settings.name,
        seed=settings.seed,
    )
    return BacktestResult(record, compute_stats(record), engine)


def portfolio_equity_at_start(balances: dict[str, Decimal], currency: str, marks: dict[str, Decimal],
                              rates: dict[str, Decimal]) -> Decimal:
    return Portfolio(balances).equity(currency, marks, rates)


def _factory(spec: StrategySpec) -> Callable[[Context], Strategy]:
    def make(ctx: Context) -> Strategy:
        return spec.cls(ctx, spec.params)

    return make


# ---------------------------------------------------------------------------------------------
# the loops
# ---------------------------------------------------------------------------------------------


def _chunks(stream: _Stream, names: Sequence[str]) -> Iterator[list[list[int]]]:
    cols = [stream.columns[n] for n in names]
    for start in range(0, stream.rows, CHUNK):
        yield [c[start:start + CHUNK].tolist() for c in cols]


def _bar_loop(engine: Engine, sim: SimVenue, sampler: _EquitySampler, stream: _Stream,
              update: Callable[[int], None]) -> None:
    inst = stream.instrument
    [(slot, handler)] = engine.handlers("bars", inst.key)
    clock = engine.clock
    timers = engine.timers
    for cols in _chunks(stream, ("ts_event", "ts_recv", "open", "high", "low", "close", "volume")):
        for row in zip(itertools.repeat(inst), *cols, itertools.repeat(stream.interval_ns)):
            bar = _NEW(Bar, row)
            now = row[2]
            clock.ns = now  # type: ignore[attr-defined]
            if now >= sampler.next_ns:
                sampler.sample(now)
            if now >= timers.next_due:
                timers.fire_due(now)
            if sim.active:
                sim.advance(now)  # orders sent at the previous close arrive now ...
                sim.on_bar(bar)  # ... and fill on this bar (next-bar-open rule lives in SimVenue)
            if slot.failed:
                continue
            try:
                handler(bar)
            except Exception as exc:
                engine.fail_strategy(slot.id, "on_bar", exc)
        update(len(cols[0]))


def _trade_loop(engine: Engine, sim: SimVenue, sampler: _EquitySampler, stream: _Stream,
                update: Callable[[int], None]) -> None:
    inst = stream.instrument
    [(slot, handler)] = engine.handlers("trades", inst.key)
    clock = engine.clock
    timers = engine.timers
    for cols in _chunks(stream, ("ts_event", "ts_recv", "price", "size", "aggressor", "trade_id")):
        for row in zip(itertools.repeat(inst), *cols):
            trade = _NEW(Trade, row)
            now = row[2]
            clock.ns = now  # type: ignore[attr-defined]
            if now >= sampler.next_ns:
                sampler.sample(now)
            if now >= timers.next_due:
                timers.fire_due(now)
            if sim.active:
                sim.advance(now)
                sim.on_trade(trade)
            if slot.failed:
                continue
            try:
                handler(trade)
            except Exception as exc:
                engine.fail_strategy(slot.id, "on_trade", exc)
        update(len(cols[0]))


def _quote_loop(engine: Engine, sim: SimVenue, sampler: _EquitySampler, stream: _Stream,
                update: Callable[[int], None]) -> None:
    inst = stream.instrument
    [(slot, handler)] = engine.handlers("quotes", inst.key)
    clock = engine.clock
    timers = engine.timers
    for cols in _chunks(stream, ("ts_event", "ts_recv", "bid", "bid_size", "ask", "ask_size")):
        for row in zip(itertools.repeat(inst), *cols):
            quote = _NEW(Quote, row)
            now = row[2]
            clock.ns = now  # type: ignore[attr-defined]
            if now >= sampler.next_ns:
                sampler.sample(now)
            if now >= timers.next_due:
                timers.fire_due(now)
            if sim.active:
                sim.advance(now)
                sim.on_quote(quote)
            if slot.failed:
                continue
            try:
                handler(quote)
            except Exception as exc:
                engine.fail_strategy(slot.id, "on_quote", exc)
        update(len(cols[0]))


_FAST_LOOPS: dict[str, Callable[..., None]] = {"bars": _bar_loop, "trades": _trade_loop, "quotes": _quote_loop}


def _stream_events(stream: _Stream, order: int, dataset: Dataset) -> Iterator[tuple[int, int, Any]]:
    """(ts_recv, stream order, event) for one stream, in chunks."""
    inst = stream.instrument
    kind = stream.kind
    if kind == "book":
        for ev in iter_book_events(dataset, stream.name, start_ns=stream.start_ns, end_ns=stream.end_ns):
            yield ev.ts_recv, order, ev
        return
    if kind == "bars":
        names: tuple[str, ...] = ("ts_event", "ts_recv", "open", "high", "low", "close", "volume")
        cls: type = Bar
        extra: tuple[Any, ...] = (stream.interval_ns,)
    elif kind == "trades":
        names, cls, extra = ("ts_event", "ts_recv", "price", "size", "aggressor", "trade_id"), Trade, ()
    else:
        names, cls, extra = ("ts_event", "ts_recv", "bid", "bid_size", "ask", "ask_size"), Quote, ()
    for cols in _chunks(stream, names):
        for row in zip(*cols):
            yield row[1], order, _NEW(cls, (inst, *row, *extra))


def _generic_loop(engine: Engine, sim: SimVenue, sampler: _EquitySampler, streams: Sequence[_Stream],
                  update: Callable[[int], None], dataset: Dataset) -> None:
    """Any number of streams and subscribers, merged by receive time (ties: stream order)."""
    clock = engine.clock
    timers = engine.timers
    merged = heapq.merge(*(_stream_events(s, i, dataset) for i, s in enumerate(streams)))
    pending = 0
    for now, _, ev in merged:
        clock.ns = now  # type: ignore[attr-defined]
        if now >= sampler.next_ns:
            sampler.sample(now)
        if now >= timers.next_due:
            timers.fire_due(now)
        if sim.active:
            sim.advance(now)
        kind = type(ev)
        if kind is Bar:
            if sim.active:
                sim.on_bar(ev)
            engine.on_bar(ev)
        elif kind is Trade:
            if sim.active:
                sim.on_trade(ev)
            engine.on_trade(ev)
        elif kind is Quote:
            if sim.active:
                sim.on_quote(ev)
            engine.on_quote(ev)
        else:
            book = engine.apply_book(ev)
            if sim.active:
                sim.on_book(book)
            for slot, handler in engine.handlers("book", ev.instrument.key):
                engine._call(slot, "on_book", handler, book)
        pending += 1
        if pending >= CHUNK:
            update(pending)
            pending = 0
    update(pending)
