"""The backtest loop: replay recorded events through the strategies and the simulated venue.

One short loop per stream kind (advance the clock → fire timers → match resting orders on the
simulated venue → the strategy handles the event). No trio checkpoint per event: the engine core
is synchronous, and the simulated venue calls back into it directly. Single-stream runs with one
subscriber take a specialised loop (the common case, and the benchmark's); anything else is
merged by receive time through the generic path. Both call the same engine and venue methods.
"""

from __future__ import annotations

import datetime as dt
import gc
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import attrs
import numpy as np

from engine import Bar, ConfigError, DataError, Quote, Trade
from engine import SimClock
from engine import Engine, UnknownInstrument
from engine import Instrument, InstrumentKind
from engine import ClientOrderIdFactory
from engine import Portfolio
from engine import RiskGate
from engine import StrategySpec
from engine import Context, Strategy

from .data import Dataset, iter_book_events
from .progress import progress
from .report import RunRecord, Stats, compute_stats, fee_schedule
from .simvenue import SimVenue, SimVenueConfig
from .trade_bars import bars_from_trades

__all__ = ["StrategySpec", "BacktestSettings", "BacktestResult", "run_backtest"]

log = logging.getLogger("triotrade.backtest")

CHUNK = 65_536
"Rows converted from numpy to Python per step: bounds memory (5M trades stay well under 1 GB)."

_NEW = tuple.__new__
_NEVER = 2**63 - 1


def _start_before_end(instance: BacktestSettings, attribute: Any, value: int | None) -> None:
    if value is not None and instance.start_ns is not None and instance.start_ns >= value:
        raise ValueError(f"the start ({_iso(instance.start_ns)}) must be before the end ({_iso(value)})")


def _iso(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / 1e9, dt.timezone.utc).isoformat().replace("+00:00", "Z")


@attrs.frozen
class BacktestSettings:
    """What a backtest run replays and how (see the README's backtesting section)."""

    account_currency: str = "USD"
    starting_balances: dict[str, Decimal] = attrs.Factory(lambda: {"USD": Decimal(100_000)})
    rates: dict[str, Decimal] = attrs.Factory(dict)
    "Fixed conversion rates: asset → price in ``account_currency`` (e.g. USDT = 1)."
    sim: SimVenueConfig = attrs.Factory(SimVenueConfig)
    seed: int = 0
    start_ns: int | None = None
    end_ns: int | None = attrs.field(default=None, validator=_start_before_end)
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
    post_run_s: float = 0.0
    "Wall time after the replay: the equity curve, the record and the statistics."


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


class _Marks:
    """Mark prices per instrument: bar closes, trade prices, quote mids, book mids.

    Column-backed series are looked up by binary search (nothing is done per event); book mids
    are noted by the generic loop at most once per sample interval.
    """

    def __init__(self, engine: Engine, streams: Sequence[_Stream], interval_ns: int) -> None:
        self.engine = engine
        self.interval_ns = interval_ns
        self.series: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        "key → (ts_recv, raw values, divisor): mark = raw / divisor in raw price units."
        self.book_ts: dict[str, list[int]] = {}
        self.book_mid2: dict[str, list[int]] = {}
        order = {"trades": 0, "bars": 1, "quotes": 2}
        for s in sorted((s for s in streams if s.kind in order), key=lambda s: order[s.kind]):
            key = s.instrument.key
            if key in self.series:
                continue
            cols = s.columns
            if s.kind == "bars":
                self.series[key] = (cols["ts_recv"], cols["close"], 1)
            elif s.kind == "trades":
                self.series[key] = (cols["ts_recv"], cols["price"], 1)
            else:
                self.series[key] = (cols["ts_recv"], cols["bid"].astype(np.int64) + cols["ask"].astype(np.int64), 2)
        for s in streams:
            if s.kind == "book" and s.instrument.key not in self.series:
                self.book_ts[s.instrument.key] = []
                self.book_mid2[s.instrument.key] = []
        self.next_book_note = 0 if self.book_ts else _NEVER

    def note_books(self, now_ns: int) -> None:
        """Generic loop: remember book mids (once per interval) for the equity curve."""
        for key, ts in self.book_ts.items():
            book = self.engine.books.get(key)
            if book is not None and book.best_bid_raw is not None and book.best_ask_raw is not None:
                ts.append(now_ns)
                self.book_mid2[key].append(book.best_bid_raw + book.best_ask_raw)
        self.next_book_note = now_ns + self.interval_ns

    def finish_books(self) -> None:
        for key, ts in self.book_ts.items():
            self.series[key] = (np.asarray(ts, dtype=np.int64), np.asarray(self.book_mid2[key], dtype=np.int64), 2)

    def at(self, t_ns: int) -> dict[str, Decimal]:
        """Exact marks at ``t_ns`` (last value received at or before it)."""
        marks: dict[str, Decimal] = {}
        for key, (ts, values, div) in self.series.items():
            i = int(np.searchsorted(ts, t_ns, side="right")) - 1
            if i >= 0:
                mark = self.engine.instruments[key].price_of(int(values[i]))
                marks[key] = mark / div if div != 1 else mark
        for key, book in self.engine.books.items():
            if key not in marks and book.best_bid_raw is not None and book.best_ask_raw is not None:
                marks[key] = book.mid
        return marks

    def at_key(self, key: str, t_ns: int) -> Decimal | None:
        """``at(t_ns).get(key)`` for one instrument, without valuing the others (risk checks ask this
        per order)."""
        entry = self.series.get(key)
        if entry is not None:
            ts, values, div = entry
            i = int(ts.searchsorted(t_ns, "right")) - 1
            if i >= 0:
                mark = self.engine.instruments[key].price_of(int(values[i]))
                return mark / div if div != 1 else mark
        book = self.engine.books.get(key)
        if book is not None and book.best_bid_raw is not None and book.best_ask_raw is not None:
            return book.mid  # type: ignore[no-any-return]
        return None

    def on_grid(self, key: str, grid: np.ndarray) -> np.ndarray | None:
        """Marks (float, price units) at each grid time; NaN before the first one."""
        entry = self.series.get(key)
        if entry is None or not len(entry[0]):
            return None
        ts, values, div = entry
        idx = np.searchsorted(ts, grid, side="right") - 1
        scale = float(10 ** self.engine.instruments[key].price_scale) * div
        out = np.where(idx >= 0, values[np.maximum(idx, 0)] / scale, np.nan)
        return out


def _rates(engine: Engine, marks: dict[str, Decimal], currency: str,
           fixed: dict[str, Decimal] | None = None) -> dict[str, Decimal]:
    """Asset → price in ``currency``: the ``fixed`` rates, then instruments quoted in ``currency``,
    then instruments quoted in an asset with a fixed rate."""
    rates: dict[str, Decimal] = dict(fixed or {})
    for via_fixed in (False, True):
        for key, mark in marks.items():
            inst = engine.instruments[key]
            if inst.base == currency or inst.base in rates and not via_fixed:
                continue
            if not via_fixed and inst.quote == currency:
                rates[inst.base] = mark
            elif via_fixed and fixed and inst.quote in fixed and inst.base not in rates:
                rates[inst.base] = mark * fixed[inst.quote]
    return rates


def _valuers(instruments: Iterable[Instrument], currency: str, fixed: dict[str, Decimal]) -> dict[str, Instrument]:
    """Asset → the instrument whose price values it in ``currency`` (directly or via a fixed rate)."""
    found: dict[str, Instrument] = {}
    for inst in sorted(instruments, key=lambda i: i.quote != currency):  # direct quotes first
        if inst.quote == currency or inst.quote in fixed:
            found.setdefault(inst.base, inst)
    return found


def check_valuation(streams: Sequence[_Stream], settings: BacktestSettings) -> None:
    """Every asset the run holds or trades must be valued in the account currency: by being it, by
    a fixed rate, or by the price of a replayed instrument. Otherwise every figure would be wrong
    (an unvalued asset counts as 0): a :class:`ConfigError` naming the asset and the currency."""
    currency, fixed = settings.account_currency, settings.rates
    valued = {currency, *fixed, *_valuers((s.instrument for s in streams), currency, fixed)}
    needs: dict[str, str] = {}
    for s in streams:
        inst = s.instrument
        asset = inst.quote if inst.kind is not InstrumentKind.INVERSE else inst.settle
        what = "quoted" if inst.kind is not InstrumentKind.INVERSE else "settled"
        needs.setdefault(asset, f"{inst.key} is {what} in {asset}")
    for asset, amount in settings.starting_balances.items():
        if amount:
            needs.setdefault(asset, f"the account starts with {amount} {asset}")
    for asset, why in needs.items():
        if asset not in valued:
            raise ConfigError(f"{why}, which cannot be valued in the account currency {currency} (no instrument "
                              f"in the run prices {asset} in {currency}): set [account] currency = \"{asset}\", "
                              f"or a conversion rate, e.g. [account] rates = {{ {asset} = \"1\" }}",
                              key="account.currency")


def _valued_from(engine: Engine, marks: _Marks, settings: BacktestSettings) -> int | None:
    """The first time every asset the account starts with has a price (None: no such asset)."""
    currency, fixed = settings.account_currency, settings.rates
    valuers = _valuers((engine.instruments[k] for k in marks.series), currency, fixed)
    first: list[int] = []
    for asset, amount in settings.starting_balances.items():
        inst = valuers.get(asset)
        if amount and asset != currency and asset not in fixed and inst is not None:
            ts = marks.series[inst.key][0]
            if len(ts):
                first.append(int(ts[0]))
    return max(first) if first else None


def _equity_curve(engine: Engine, marks: _Marks, grid: np.ndarray, balances: dict[str, Decimal],
                  currency: str, fixed: dict[str, Decimal]) -> tuple[np.ndarray, np.ndarray]:
    """Equity and gross exposure in ``currency`` at each grid time, vectorised from the fills.

    Cash-flow identity, per instrument: spot and linear contracts contribute
    ``sum(-side*qty*mult*price) + position(t)*mult*mark(t)`` in the quote asset; inverse contracts
    ``sum(side*qty*mult/price) - position(t)*mult/mark(t)`` in the settle asset; fees are
    subtracted in their asset. Other assets are valued at the mark of the instrument that quotes
    them in ``currency``. This is a float curve for statistics and charts; the report's money
    totals come from the exact portfolio.
    """
    n = len(grid)
    rate_cache: dict[str, np.ndarray] = {}

    def rate(asset: str) -> np.ndarray:
        if asset == currency:
            return np.ones(n)
        if asset in fixed:
            return np.full(n, float(fixed[asset]))
        if asset not in rate_cache:
            series = None
            for quote in (currency, *fixed):  # direct quotes first, then via a fixed rate
                for key, inst in engine.instruments.items():
                    if inst.base == asset and inst.quote == quote:
                        series = marks.on_grid(key, grid)
                        if series is not None:
                            series = series * (1.0 if quote == currency else float(fixed[quote]))
                            break
                if series is not None:
                    break
            rate_cache[asset] = np.zeros(n) if series is None else np.nan_to_num(series)
        return rate_cache[asset]

    equity = np.zeros(n)
    for asset, amount in balances.items():
        if amount:
            equity += float(amount) * rate(asset)
    exposure = np.zeros(n)
    by_inst: dict[str, list[Any]] = {}
    for fill in engine.fills:
        by_inst.setdefault(fill.instrument.key, []).append(fill)
    for key, fills in by_inst.items():
        inst = engine.instruments[key]
        f_ts = np.fromiter((f.ts_event for f in fills), dtype=np.int64, count=len(fills))
        qty = np.fromiter((float(f.qty) * int(f.side) for f in fills), dtype=np.float64, count=len(fills))
        price = np.fromiter((float(f.price) for f in fills), dtype=np.float64, count=len(fills))
        idx = np.searchsorted(f_ts, grid, side="right") - 1
        have = idx >= 0
        at = np.maximum(idx, 0)

        def cum_at(values: np.ndarray) -> np.ndarray:
            return np.where(have, np.cumsum(values)[at], 0.0)

        pos = cum_at(qty)
        mark = marks.on_grid(key, grid)
        mark = np.where(np.isnan(mark), 0.0, mark) if mark is not None else np.zeros(n)
        mult = float(inst.multiplier)
        if inst.kind.value == "inverse":
            value = cum_at(qty * mult / price) - np.where(pos != 0, pos * mult / np.where(mark > 0, mark, 1.0), 0.0)
            equity += value * rate(inst.settle)
            exposure += np.abs(pos) * mult * rate(inst.quote)
        else:
            value = cum_at(-qty * mult * price) + pos * mult * mark
            equity += value * rate(inst.quote)
            exposure += np.abs(pos) * mult * mark * rate(inst.quote)
        for fee_asset in {f.fee_asset for f in fills}:
            fees = np.fromiter((float(f.fee) if f.fee_asset == fee_asset else 0.0 for f in fills),
                               dtype=np.float64, count=len(fills))
            equity -= cum_at(fees) * rate(fee_asset)
    return equity, exposure


def _select_streams(dataset: Dataset, engine: Engine, start_ns: int | None, end_ns: int | None) -> list[_Stream]:
    selected: list[_Stream] = []
    for (kind, key), opts in engine.subscriptions.items():
        candidates = [s for s in dataset.streams if s.kind == kind and s.instrument == key]
        if kind == "bars":
            want = int(opts.get("interval_s", 60)) * 1_000_000_000
            exact = [s for s in candidates if s.interval_ns == want]
            trades = [s for s in dataset.streams if s.kind == "trades" and s.instrument == key]
            if not exact and trades:
                # bars from the recorded trades, with the venue's boundaries (backtest.trade_bars)
                info = trades[0]
                columns = bars_from_trades(dataset.select(stream=info.name, start_ns=start_ns, end_ns=end_ns),
                                           want, start_ns, end_ns)
                selected.append(_Stream(f"{info.name}->bars", kind, engine.instruments[key], columns, want,
                                        start_ns, end_ns))
                continue
            if candidates and not exact:
                have = ", ".join(f"{(s.interval_ns or 0) // 1_000_000_000}s" for s in candidates)
                raise DataError(f"a strategy subscribed to {want // 1_000_000_000}s bars of {key}, "
                                f"but the data set has bars of {have}")
            candidates = exact
        if not candidates:
            found = sorted({f"{s.kind} of {s.instrument}" for s in dataset.streams}) or ["nothing"]
            raise DataError(f"a strategy subscribed to {kind} of {key}, but the data set at "
                            f"{dataset.path} has only: {'; '.join(found)}")
        info = candidates[0]
        columns = dataset.select(stream=info.name, start_ns=start_ns, end_ns=end_ns)
        selected.append(_Stream(info.name, kind, engine.instruments[key], columns, info.interval_ns or 0,
                                start_ns, end_ns))
    return selected


def _unknown_instrument_message(exc: UnknownInstrument, dataset: Dataset) -> str:
    have = ", ".join(sorted(dataset.instruments)) or "none"
    if exc.key in dataset.instruments:
        return str(exc)  # e.g. an ambiguous bare symbol
    return (f"a strategy asked for the instrument {exc.key!r}, which the data set at {dataset.path} does not "
            f"have (it has: {have})")


def _empty_range_message(dataset: Dataset, settings: BacktestSettings) -> str:
    first = min((s.start_ns for s in dataset.streams), default=0)
    last = max((s.end_ns for s in dataset.streams), default=0)
    start = "its start" if settings.start_ns is None else _iso(settings.start_ns)
    end = "its end" if settings.end_ns is None else _iso(settings.end_ns)
    return (f"no data to replay between {start} and {end}: the data set at {dataset.path} covers "
            f"{_iso(first)} to {_iso(last)}")


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
        balance_of=engine.portfolio.balance,  # the account's cash and margin rules (backtest.account)
    )
    engine.execution = sim
    for spec in strategies:
        engine.add_strategy(spec.id, _factory(spec))

    # the clock starts at the first event of the selected range, so on_start sees a sane time
    first = [s.start_ns for s in dataset.streams]
    clock.ns = max(min(first), settings.start_ns or 0) if first else (settings.start_ns or 0)
    try:
        engine.start(propagate=(UnknownInstrument,))
    except UnknownInstrument as exc:
        raise DataError(_unknown_instrument_message(exc, dataset)) from None
    streams = _select_streams(dataset, engine, settings.start_ns, settings.end_ns) if engine.subscriptions else []
    total = sum(s.rows for s in streams)
    if streams and not total:
        raise DataError(_empty_range_message(dataset, settings))
    check_valuation(streams, settings)
    if streams and total:
        t0 = min(int(s.columns["ts_recv"][0]) for s in streams if s.rows)
        t1 = max(int(s.columns["ts_recv"][-1]) for s in streams if s.rows)
    else:
        t0 = t1 = clock.ns
    bar_floor = max((s.interval_ns for s in streams if s.kind == "bars"), default=1_000_000_000)
    interval = settings.sample_interval_ns or _pick_sample_interval(t1 - t0, bar_floor)
    marks = _Marks(engine, streams, interval)
    engine.mark_source = lambda inst: marks.at_key(inst.key, clock.ns)

    bar = progress(total, desc=settings.name, enabled=settings.show_progress)
    # The replay allocates millions of short-lived, acyclic tuples: the cyclic collector would
    # rescan the growing young generation over and over for nothing. Pause it for the loop.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if len(streams) == 1 and streams[0].kind in _FAST_LOOPS and len(engine.handlers(streams[0].kind, streams[0].instrument.key)) == 1:
            _FAST_LOOPS[streams[0].kind](engine, sim, streams[0], bar.update)
        elif streams:
            _generic_loop(engine, sim, marks, streams, bar.update, dataset)
    except BaseException:
        if gc_was_enabled:
            gc.enable()
        raise
    finally:
        bar.close()
    try:  # the post-run statistics build short-lived acyclic objects too: the collector stays paused
        return _finish(engine, marks, streams, settings, dataset, clock, total, t0, t1, interval, wall0)
    finally:
        if gc_was_enabled:
            gc.enable()


def _finish(engine: Engine, marks: _Marks, streams: Sequence[_Stream], settings: BacktestSettings,
            dataset: Dataset, clock: SimClock, total: int, t0: int, t1: int, interval: int,
            wall0: float) -> BacktestResult:
    """After the replay: the equity curve, the run record and its statistics."""
    marks.finish_books()
    post0 = time.perf_counter()

    end_ns = max(clock.ns, t1)
    valued_from = _valued_from(engine, marks, settings)
    if valued_from is not None:
        t0 = min(max(t0, valued_from), end_ns)  # equity starts when every asset held has a price
    engine.stop()
    wall = time.perf_counter() - wall0
    currency = settings.account_currency
    grid = np.arange(t0, end_ns, interval, dtype=np.int64)
    grid = np.append(grid, np.int64(end_ns)) if not len(grid) or grid[-1] != end_ns else grid
    equity, exposure = _equity_curve(engine, marks, grid, settings.starting_balances, currency, settings.rates)
    final_marks = marks.at(end_ns)
    rates = _rates(engine, final_marks, currency, settings.rates)
    portfolio = engine.portfolio
    start_marks = marks.at(t0)
    starting = Portfolio(settings.starting_balances).equity(currency, start_marks,
                                                            _rates(engine, start_marks, currency, settings.rates))
    final = portfolio.equity(currency, final_marks, rates)

    def in_currency(amounts: dict[str, Decimal]) -> Decimal:
        return sum((v if a == currency else v * rates.get(a, Decimal(0)) for a, v in amounts.items()), Decimal(0))

    realized: dict[str, Decimal] = {}
    for pos in portfolio.positions.values():
        realized[pos.instrument.settle] = realized.get(pos.instrument.settle, Decimal(0)) + pos.realized_pnl
    record = RunRecord(
        starting_equity=starting,
        final_equity=final,
        currency=currency,
        realized_pnl=in_currency(realized),
        unrealized_pnl=in_currency(portfolio.unrealized_pnl(final_marks)),
        fees=in_currency(portfolio.total_fees()),
        equity_ts=grid,
        equity=equity,
        gross_exposure=exposure,
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
        fee_rates=fee_schedule(dataset.instruments.values(), settings.sim.maker_fee, settings.sim.taker_fee),
    )
    stats = compute_stats(record)
    return BacktestResult(record, stats, engine, time.perf_counter() - post0)


def _factory(spec: StrategySpec) -> Callable[[Context], Strategy]:
    def make(ctx: Context) -> Strategy:
        strategy: Strategy = spec.cls(ctx, spec.params)
        return strategy

    return make


# ---------------------------------------------------------------------------------------------
# the loops
# ---------------------------------------------------------------------------------------------


def _chunks(stream: _Stream, names: Sequence[str]) -> Iterator[list[list[int]]]:
    cols = [stream.columns[n] for n in names]
    for start in range(0, stream.rows, CHUNK):
        yield [c[start:start + CHUNK].tolist() for c in cols]


def _noop(event: Any) -> None:
    """Stands in for a stopped strategy's handler, so the loop needs no per-event flag."""


def _fast_loop(kind: str, event_cls: type, names: tuple[str, ...], extra: tuple[Any, ...],
               on_event: str) -> Callable[..., None]:
    """Build the specialised loop of one stream kind with a single subscriber.

    Per event: build the record, advance the clock, fire due timers, let the simulated venue
    match what rests (fills at this event's prices happen *before* the strategy sees the event),
    then call the handler. Nothing else runs per event.
    """

    def loop(engine: Engine, sim: SimVenue, stream: _Stream, update: Callable[[int], None]) -> None:
        inst = stream.instrument
        [(slot, handler)] = engine.handlers(kind, inst.key)
        sim_on_event = getattr(sim, on_event)
        advance = sim.advance
        clock = engine.clock
        timers = engine.timers
        tail = extra if kind != "bars" else (stream.interval_ns,)
        event: Any
        for cols in _chunks(stream, names):
            # the records are built in C: tuple.__new__(event_cls, (inst, *row, *tail)) per row
            rows = zip(itertools.repeat(inst), *cols, *(itertools.repeat(x) for x in tail))
            for event in map(_NEW, itertools.repeat(event_cls), rows):
                now = event[2]  # ts_recv
                clock.ns = now  # type: ignore[attr-defined]
                if now >= timers.next_due:
                    timers.fire_due(now)
                if sim.active:
                    advance(now)  # commands whose latency has elapsed arrive ...
                    sim_on_event(event)  # ... and match against this event (rules in SimVenue)
                try:
                    handler(event)
                except Exception as exc:
                    engine.fail_strategy(slot.id, kind, exc)
                    handler = _noop
            update(len(cols[0]))

    loop.__name__ = f"_{kind}_loop"
    return loop


_FAST_LOOPS: dict[str, Callable[..., None]] = {
    "bars": _fast_loop("bars", Bar, ("ts_event", "ts_recv", "open", "high", "low", "close", "volume"), (), "on_bar"),
    "trades": _fast_loop("trades", Trade, ("ts_event", "ts_recv", "price", "size", "aggressor", "trade_id"), (),
                         "on_trade"),
    "quotes": _fast_loop("quotes", Quote, ("ts_event", "ts_recv", "bid", "bid_size", "ask", "ask_size"), (),
                         "on_quote"),
}


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


def _generic_loop(engine: Engine, sim: SimVenue, marks: _Marks, streams: Sequence[_Stream],
                  update: Callable[[int], None], dataset: Dataset) -> None:
    """Any number of streams and subscribers, merged by receive time (ties: stream order)."""
    clock = engine.clock
    timers = engine.timers
    merged = heapq.merge(*(_stream_events(s, i, dataset) for i, s in enumerate(streams)))
    pending = 0
    for now, _, ev in merged:
        clock.ns = now  # type: ignore[attr-defined]
        if now >= timers.next_due:
            timers.fire_due(now)
        if sim.active:
            sim.advance(now)
        if now >= marks.next_book_note:
            marks.note_books(now)
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
