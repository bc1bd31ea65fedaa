"""Parameter sweeps: one backtest per parameter set and window, run serially or on Dask distributed.

A sweep is a list of :class:`Task` (trial × window). Each task carries the config table (a few
kilobytes), the trial's values, the window and the data set's **path**: the worker opens the data
set memory-mapped once per process and keeps it open, so recorded data is never shipped per task
and every worker shares the page cache. A :class:`Collector` keeps every finished task; a trial is
complete when all its windows are, and only complete trials enter the table, so a sweep stopped
half-way (Ctrl-C) keeps what finished.

The table is deterministic: the runs are (fixed seed, no wall-clock input), and rows are sorted by
(keeps the constraints, the ranking metric, trial number), whatever order the runs finished in.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from engine import ConfigError, DataError

from .config import BUILTIN_PREFIX, backtest_config_from_mapping, resolve_strategies
from .data import Dataset, demo_dataset_path, open_dataset
from .sweep_config import METRICS, SweepSpec, Trial, Value, apply_values

__all__ = ["Window", "Task", "TaskResult", "TrialRow", "Collector", "SerialExecutor", "DaskExecutor",
           "windows", "tasks_for", "run_task", "rank", "resolve_data_path", "data_span", "SweepRun", "run_sweep",
           "SUMMARY_METRICS"]

CURVE_POINTS: Final = 400
"Equity samples kept per run for the results page (evenly spaced over the run)."
SUMMARY_METRICS: Final = ("total_return_pct", "sharpe", "sortino", "max_drawdown_pct", "n_trades", "win_rate_pct",
                          "profit_factor", "fees")
"Figures every results table shows beside the ranking metric and the constrained ones."


@attrs.frozen
class Window:
    """The time range one run replays: the whole period, or a fold's in-sample / out-of-sample part."""

    fold: int
    "1-based fold number (1 without walk-forward)."
    segment: str
    "``all`` (no split), ``is`` (in-sample) or ``oos`` (out-of-sample)."
    start_ns: int | None
    end_ns: int | None


def windows(spec: SweepSpec, span: tuple[int, int]) -> list[Window]:
    """The windows each trial runs on, cut from ``span`` (start, end) in whole seconds.

    ``folds`` consecutive windows of equal length; each one's last ``out_of_sample`` share is held
    out; ``anchored`` in-sample parts all start at the period's start (an expanding window).
    """
    if not spec.split:
        return [Window(1, "all", None, None)]
    start, end = span
    second = 1_000_000_000
    length = (end - start) // spec.folds
    oos = Decimal(spec.out_of_sample)
    result = []
    for k in range(spec.folds):
        lo = start + k * length
        hi = end if k == spec.folds - 1 else lo + length
        cut = lo + int((hi - lo) * (1 - oos)) // second * second
        result.append(Window(k + 1, "is", start if spec.anchored else lo, cut))
        result.append(Window(k + 1, "oos", cut, hi))
    for w in result:
        if w.start_ns is not None and w.end_ns is not None and w.end_ns - w.start_ns < second:
            raise ConfigError(f"fold {w.fold}'s {'in-sample' if w.segment == 'is' else 'out-of-sample'} part is "
                              "shorter than a second: fewer folds or a longer period", path=spec.source,
                              key="sweep.split")
    return result


def resolve_data_path(path: str, base_dir: Path | None) -> str:
    """``builtin:demo`` as is; a folder relative to the config (if it exists there) or cwd, made absolute,
    so a worker in another process or on another machine opens the same files."""
    if path.startswith(BUILTIN_PREFIX):
        return path
    candidate = Path(path)
    if not candidate.is_absolute() and base_dir is not None and (base_dir / candidate).exists():
        candidate = base_dir / candidate
    return str(candidate.resolve())


_DATASETS: dict[str, Dataset] = {}
_DATASETS_LOCK = threading.Lock()


def _dataset(path: str) -> Dataset:
    """The data set at ``path``, opened (memory-mapped, checked) once per process."""
    with _DATASETS_LOCK:
        found = _DATASETS.get(path)
        if found is None:
            if path.startswith(BUILTIN_PREFIX):
                name = path[len(BUILTIN_PREFIX):]
                if name != "demo":
                    raise ConfigError(f"unknown built-in data set {name!r} (available: demo)", key="data.path")
                found = open_dataset(demo_dataset_path())
            else:
                found = open_dataset(path)
            _DATASETS[path] = found
        return found


def data_span(data_path: str, start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
    """The period a split cuts: ``[data] start``/``end`` where given, else the data set's whole span."""
    dataset = _dataset(data_path)
    if not dataset.streams:
        raise DataError(f"the data set at {dataset.path} has no streams")
    lo = min(s.start_ns for s in dataset.streams) if start_ns is None else start_ns
    hi = max(s.end_ns for s in dataset.streams) + 1 if end_ns is None else end_ns
    return lo, hi


@attrs.frozen
class Task:
    """One backtest of a sweep: a trial's values on one window."""

    trial: int
    values: tuple[Value, ...]
    window: Window
    window_index: int


@attrs.frozen
class SweepBase:
    """What every task of a sweep shares (sent to each worker once)."""

    table: dict[str, Any]
    "The config table without ``[sweep]``."
    source: str
    data_path: str
    "Absolute path of the data set (or ``builtin:demo``)."
    params: tuple[Any, ...]
    "The :class:`~backtest.sweep_config.Param` list."


@attrs.frozen
class TaskResult:
    """What a task sends back: figures, not fills or data."""

    trial: int
    window_index: int
    metrics: dict[str, Any]
    "Every figure of :data:`METRICS` (Decimals exact, None where the report says n/a)."
    fills_hash: str
    error: str | None
    "Why the run is not usable: an error before or during the run, or a strategy stopped by an exception."
    curve_ts: npt.NDArray[np.int64]
    curve_equity: npt.NDArray[np.float64]


def tasks_for(trials: Iterable[Trial], wins: Sequence[Window]) -> list[Task]:
    return [Task(t.index, t.values, w, i) for t in trials for i, w in enumerate(wins)]


def _downsample(ts: npt.NDArray[np.int64], equity: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    if len(ts) <= CURVE_POINTS:
        return np.asarray(ts, dtype=np.int64).copy(), np.asarray(equity, dtype=np.float64).copy()
    idx = np.unique(np.linspace(0, len(ts) - 1, CURVE_POINTS).round().astype(np.int64))
    return np.asarray(ts[idx], dtype=np.int64), np.asarray(equity[idx], dtype=np.float64)


def run_task(base: SweepBase, task: Task) -> TaskResult:
    """Run one backtest of the sweep (in a worker, or in this process). Never raises for a bad run:
    the error is in the result, so one failing parameter set does not stop the sweep."""
    from .app import build_risk, settings_from_config
    from .runner import run_backtest

    empty_ts, empty_eq = np.zeros(0, np.int64), np.zeros(0, np.float64)
    try:
        config = backtest_config_from_mapping(apply_values(base.table, base.params, task.values), base.source)
        specs = resolve_strategies(config)
        settings = settings_from_config(config, show_progress=False)
        window = task.window
        if window.start_ns is not None:
            settings = attrs.evolve(settings, start_ns=window.start_ns, end_ns=window.end_ns)
        result = run_backtest(_dataset(base.data_path), specs, settings,
                              risk=build_risk(config.risk, source=config.source))
    except (ConfigError, DataError, ValueError) as exc:
        return TaskResult(task.trial, task.window_index, {m: None for m in METRICS}, "", _one_line(exc),
                          empty_ts, empty_eq)
    stats = result.stats
    metrics = {m: getattr(stats, m) for m in METRICS}
    errors = result.record.strategy_errors
    ts, equity = _downsample(result.record.equity_ts, result.record.equity)
    return TaskResult(task.trial, task.window_index, metrics, stats.fills_hash,
                      errors[0].splitlines()[0] if errors else None, ts, equity)


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


# ---------------------------------------------------------------------------------------------
# executors
# ---------------------------------------------------------------------------------------------


class SerialExecutor:
    """Every task in this process, one after the other (``--serial``; the reference for Dask runs)."""

    description = "serial, in this process"

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, base: SweepBase, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        for task in tasks:
            yield run_task(base, task)


@contextlib.contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """Worker processes started in here ignore SIGINT (the disposition survives exec), so a Ctrl-C
    at the terminal reaches this process alone, which then stops the cluster in order."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DaskExecutor:
    """Tasks on Dask distributed: a ``LocalCluster`` of worker processes (one per core by default,
    one thread each), or the scheduler at ``scheduler`` (``tcp://host:8786``). The config table is
    scattered to every worker once; tasks carry only their values and window."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None) -> None:
        self.scheduler = scheduler
        self.workers = workers or os.cpu_count() or 1
        self.client: Any = None
        self.cluster: Any = None
        self.description = ""

    def __enter__(self) -> DaskExecutor:
        import logging

        from distributed import Client, LocalCluster

        if self.scheduler:
            self.client = Client(self.scheduler, set_as_default=False)  # type: ignore[no-untyped-call]
            count = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"Dask scheduler {self.scheduler} ({count} workers)"
        else:
            with _sigint_ignored_by_children():
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None,
                                            silence_logs=logging.ERROR)  # type: ignore[no-untyped-call]
            self.client = Client(self.cluster, set_as_default=False)  # type: ignore[no-untyped-call]
            self.description = f"Dask LocalCluster, {self.workers} worker processes"
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self.client is not None:
                self.client.close()
        with contextlib.suppress(Exception):
            if self.cluster is not None:
                self.cluster.close()

    def run(self, base: SweepBase, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        from distributed import as_completed

        shared = self.client.scatter(base, broadcast=True, hash=False)
        futures = [self.client.submit(run_task, shared, task, pure=False, retries=0) for task in tasks]
        try:
            for future in as_completed(futures, loop=self.client.loop):  # type: ignore[no-untyped-call]
                yield future.result()
        finally:
            self.client.cancel(futures)


# ---------------------------------------------------------------------------------------------
# collecting and ranking
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class TrialRow:
    """A complete trial: its runs, its ranking figures, whether it keeps the constraints."""

    trial: Trial
    results: tuple[TaskResult, ...]
    "One per window, in window order."
    in_sample: dict[str, Any]
    "Each metric over the in-sample windows (the mean over folds; the run itself without a split)."
    out_of_sample: dict[str, Any]
    "The same over the out-of-sample windows (empty without a split)."
    feasible: bool
    "No error, and every constraint holds in every in-sample window."
    error: str | None
    rank: int = 0


def _mean(values: Sequence[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    if all(isinstance(v, Decimal) for v in present):
        return sum(present, Decimal(0)) / len(present)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present) and sum(present) % len(present) == 0:
        return sum(present) // len(present)
    return float(sum(float(v) for v in present) / len(present))


class Collector:
    """Finished task results, as they come in (any order); the complete trials on demand."""

    def __init__(self, spec: SweepSpec, wins: Sequence[Window]) -> None:
        self.spec = spec
        self.windows = list(wins)
        self.trials: dict[int, Trial] = {}
        self.results: dict[int, dict[int, TaskResult]] = {}
        self.total = 0
        self.done = 0
        self.best: TrialRow | None = None

    def expect(self, trials: Iterable[Trial]) -> None:
        for trial in trials:
            self.trials[trial.index] = trial
            self.results.setdefault(trial.index, {})
            self.total += len(self.windows)

    def add(self, result: TaskResult) -> TrialRow | None:
        """Keep one result; the trial's row when this completed it."""
        runs = self.results[result.trial]
        if result.window_index not in runs:
            self.done += 1
        runs[result.window_index] = result
        if len(runs) < len(self.windows):
            return None
        row = self.row(result.trial)
        if row.feasible and (self.best is None or _sort_key(self.spec, row) < _sort_key(self.spec, self.best)):
            self.best = row
        return row

    def complete(self) -> list[int]:
        return [i for i, runs in self.results.items() if len(runs) == len(self.windows)]

    def row(self, index: int) -> TrialRow:
        results = tuple(self.results[index][k] for k in range(len(self.windows)))
        ins = [r for r, w in zip(results, self.windows) if w.segment in ("all", "is")]
        outs = [r for r, w in zip(results, self.windows) if w.segment == "oos"]
        in_sample = {m: _mean([r.metrics[m] for r in ins]) for m in METRICS}
        out_of_sample = {m: _mean([r.metrics[m] for r in outs]) for m in METRICS} if outs else {}
        error = next((r.error for r in results if r.error), None)
        feasible = error is None and all(c.holds(r.metrics[c.metric]) for r in ins for c in self.spec.constraints)
        return TrialRow(self.trials[index], results, in_sample, out_of_sample, feasible, error)

    def rows(self) -> list[TrialRow]:
        """Every complete trial, ranked (see :func:`rank`)."""
        return rank(self.spec, [self.row(i) for i in self.complete()])


def _metric_key(spec: SweepSpec, value: Any) -> tuple[int, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0)
    number = value if isinstance(value, Decimal) else Decimal(value) if isinstance(value, int) else value
    return (0, -number if spec.maximize else number)


def _sort_key(spec: SweepSpec, row: TrialRow) -> tuple[Any, ...]:
    return (not row.feasible, _metric_key(spec, row.in_sample[spec.metric]), row.trial.index)


def rank(spec: SweepSpec, rows: Iterable[TrialRow]) -> list[TrialRow]:
    """Rows sorted by: keeps the constraints first, then the in-sample metric (best first; n/a last),
    then trial number; ``rank`` 1..n in that order."""
    ordered = sorted(rows, key=lambda r: _sort_key(spec, r))
    return [attrs.evolve(r, rank=i + 1) for i, r in enumerate(ordered)]


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------


class Executor:
    """What :func:`run_sweep` needs of an executor (:class:`SerialExecutor`, :class:`DaskExecutor`)."""

    description: str

    def run(self, base: SweepBase, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        raise NotImplementedError


@attrs.define
class SweepRun:
    """A sweep's outcome: the collector (every finished result) and whether it ran to the end."""

    collector: Collector
    interrupted: bool = False
    wall_s: float = 0.0


def run_sweep(spec: SweepSpec, base: SweepBase, wins: Sequence[Window], executor: Any,
              on_result: Callable[[Collector], None] | None = None) -> SweepRun:
    """Run every task of the sweep on ``executor``; Ctrl-C (KeyboardInterrupt) stops it and keeps
    every finished result (``interrupted`` is then True)."""
    collector = Collector(spec, wins)
    outcome = SweepRun(collector)
    start = time.perf_counter()
    try:
        trials = spec.trials()
        collector.expect(trials)
        for result in executor.run(base, tasks_for(trials, wins)):
            collector.add(result)
            if on_result is not None:
                on_result(collector)
    except KeyboardInterrupt:
        outcome.interrupted = True
    outcome.wall_s = time.perf_counter() - start
    return outcome


def format_value(value: Any) -> str:
    """A figure or parameter as a table cell: exact decimals, shortest float repr, '' for n/a."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def metric_columns(spec: SweepSpec) -> list[str]:
    """The figures a results table shows: the ranking metric, the constrained ones, then the summary set."""
    seen: dict[str, None] = {spec.metric: None}
    for c in spec.constraints:
        seen.setdefault(c.metric)
    for m in SUMMARY_METRICS:
        seen.setdefault(m)
    return list(seen)


def table_rows(spec: SweepSpec, rows: Sequence[TrialRow]) -> tuple[list[str], list[list[Any]]]:
    """The ranked results table (one row per trial): header and typed cells."""
    metrics = metric_columns(spec)
    header = ["rank", "trial", *spec.names, "feasible", *metrics]
    if spec.split:
        header += [f"oos_{m}" for m in metrics]
    else:
        header.append("fills_hash")
    header.append("error")
    out = []
    for row in rows:
        cells: list[Any] = [row.rank, row.trial.index, *row.trial.values, row.feasible]
        cells += [row.in_sample[m] for m in metrics]
        if spec.split:
            cells += [row.out_of_sample.get(m) for m in metrics]
        else:
            cells.append(row.results[0].fills_hash)
        cells.append(row.error or "")
        out.append(cells)
    return header, out


def fold_rows(spec: SweepSpec, wins: Sequence[Window], rows: Sequence[TrialRow]) -> tuple[list[str], list[list[Any]]]:
    """Every run of the sweep (trial × window), in trial then window order, with every figure."""
    from .report import iso_ns

    header = ["trial", *spec.names, "fold", "segment", "start", "end", *METRICS, "fills_hash", "error"]
    out = []
    for row in sorted(rows, key=lambda r: r.trial.index):
        for result, window in zip(row.results, wins):
            out.append([row.trial.index, *row.trial.values, window.fold, window.segment,
                        iso_ns(window.start_ns) if window.start_ns is not None else "",
                        iso_ns(window.end_ns) if window.end_ns is not None else "",
                        *(result.metrics[m] for m in METRICS), result.fills_hash, result.error or ""])
    return header, out


@attrs.frozen
class FoldPick:
    """Walk-forward: the trial that ranked first in one fold's in-sample part, and how it did after."""

    fold: int
    trial: int
    values: tuple[Value, ...]
    in_sample: Any
    out_of_sample: Any


def walk_forward(spec: SweepSpec, wins: Sequence[Window], rows: Sequence[TrialRow]) -> list[FoldPick]:
    """Per fold, the feasible trial best on that fold's in-sample metric and its out-of-sample metric."""
    picks = []
    for fold in range(1, spec.folds + 1):
        ins = next(i for i, w in enumerate(wins) if w.fold == fold and w.segment == "is")
        oos = next(i for i, w in enumerate(wins) if w.fold == fold and w.segment == "oos")
        candidates = [r for r in rows if r.results[ins].error is None and r.results[oos].error is None
                      and all(c.holds(r.results[ins].metrics[c.metric]) for c in spec.constraints)]
        if not candidates:
            continue
        best = min(candidates, key=lambda r: (_metric_key(spec, r.results[ins].metrics[spec.metric]), r.trial.index))
        picks.append(FoldPick(fold, best.trial.index, best.trial.values, best.results[ins].metrics[spec.metric],
                              best.results[oos].metrics[spec.metric]))
    return picks


def _stderr_is_tty() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


class SweepProgress:
    """Runs done / total and the best so far: a tqdm bar on a terminal, else a line per 10 %."""

    def __init__(self, spec: SweepSpec, total: int, enabled: bool | None) -> None:
        """``enabled``: None = a bar on a terminal, else lines; True = a bar; False = nothing."""
        self.spec = spec
        self.total = total
        self.bar: Any = None
        self.mode = ("bar" if _stderr_is_tty() else "lines") if enabled is None else ("bar" if enabled else "off")
        self.next_line = 0
        if self.mode == "bar":
            from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

            self.bar = tqdm(total=total, desc="sweep", unit="run", file=sys.stderr, dynamic_ncols=True,
                            mininterval=0.25, leave=True)

    def best_text(self, collector: Collector) -> str:
        best = collector.best
        if best is None:
            return "no run keeps the constraints yet" if collector.complete() else "none finished yet"
        values = ", ".join(f"{n}={format_value(v)}" for n, v in zip(self.spec.names, best.trial.values))
        return f"best {self.spec.metric} {_short(best.in_sample[self.spec.metric])} (trial {best.trial.index}: {values})"

    def update(self, collector: Collector) -> None:
        if self.bar is not None:
            self.bar.total = collector.total
            self.bar.n = collector.done
            self.bar.set_postfix_str(self.best_text(collector), refresh=True)
            return
        if self.mode == "lines" and collector.done >= self.next_line or collector.done == collector.total:
            print(f"sweep: {collector.done}/{collector.total} runs, {self.best_text(collector)}", file=sys.stderr,
                  flush=True)
            self.next_line = collector.done + max(1, collector.total // 10)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _short(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01"))) if abs(value) >= 1 else str(value.normalize())
    return str(value)


def short_value(value: Any) -> str:
    """A figure rounded for reading (the CSV keeps it whole)."""
    return _short(value)


def mapping_of(spec: SweepSpec, values: Sequence[Value]) -> Mapping[str, Value]:
    return dict(zip(spec.names, values))
