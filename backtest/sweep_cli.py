"""``triotrade sweep CONFIG``: run a backtest config over the parameter space of its ``[sweep]`` table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .sweep import (
    DaskExecutor,
    SerialExecutor,
    SweepBase,
    SweepProgress,
    _dataset,
    data_span,
    resolve_data_path,
    run_sweep,
    windows,
)
from .sweep_config import load_sweep_config
from .sweep_output import format_summary, write_results

__all__ = ["add_sweep_command", "run_sweep_config"]

EXIT_INTERRUPTED = 130


def add_sweep_command(sub: Any) -> None:
    """Register ``sweep`` on the ``triotrade`` command line."""
    sw = sub.add_parser(
        "sweep", help="run a backtest config over the parameter space of its [sweep] table",
        description="Backtest every parameter set of the config's [sweep] table (grid or random), on a "
                    "Dask LocalCluster (one worker process per core) or an existing Dask scheduler, rank the runs "
                    "by the chosen metric under the constraints, and write runs.csv, runs.parquet, sweep.json and "
                    "sweep.html. Ctrl-C stops and keeps every finished run.")
    sw.add_argument("config", type=Path, help="a backtest TOML file with a [sweep] table")
    sw.add_argument("--out", type=Path, metavar="DIR", help="folder for the results (overrides [sweep].out)")
    sw.add_argument("--data", metavar="PATH", help="replay this data set instead of the config's [data].path")
    sw.add_argument("--scheduler", metavar="ADDRESS",
                    help="an existing Dask scheduler, e.g. tcp://host:8786 (its workers must see the data set and "
                         "the strategy code at the same paths)")
    sw.add_argument("--workers", type=int, metavar="N", help="worker processes of the local cluster (default: one "
                                                             "per core)")
    sw.add_argument("--serial", action="store_true", help="run every backtest in this process, one after the other")
    sw.add_argument("--no-progress", action="store_true", help="print no progress")

    def handler(args: argparse.Namespace) -> int:
        if args.serial and (args.scheduler or args.workers):
            print("triotrade sweep: --serial runs in this process: it takes no --scheduler or --workers",
                  file=sys.stderr)
            return 2
        if args.workers is not None and args.workers < 1:
            print("triotrade sweep: --workers must be 1 or more", file=sys.stderr)
            return 2
        return run_sweep_config(args.config, out=args.out, data=args.data, scheduler=args.scheduler,
                                workers=args.workers, serial=args.serial,
                                show_progress=False if args.no_progress else None)

    sw.set_defaults(func=handler)


def run_sweep_config(path: Path, *, out: Path | None = None, data: str | None = None, scheduler: str | None = None,
                     workers: int | None = None, serial: bool = False, show_progress: bool | None = None) -> int:
    """Load, run and report a sweep; exit code 0, or 130 when stopped by Ctrl-C (finished runs kept)."""
    from .app import settings_from_config

    loaded = load_sweep_config(path)
    spec, config = loaded.sweep, loaded.backtest
    data_path = resolve_data_path(data or config.data.path, None if data else Path(config.source).parent)
    _dataset(data_path)  # a missing or broken data set stops here, before any worker starts
    settings = settings_from_config(config, show_progress=False)
    wins = windows(spec, data_span(data_path, settings.start_ns, settings.end_ns))
    base = SweepBase(loaded.table, config.source, data_path, spec.params)
    executor: SerialExecutor | DaskExecutor = SerialExecutor() if serial else DaskExecutor(scheduler, workers)
    trials = len(spec.trials())
    with executor:
        print(f"sweep {config.name}: {trials} parameter sets x {len(wins)} windows = {trials * len(wins)} runs "
              f"({spec.method}), on {executor.description}", file=sys.stderr, flush=True)
        progress = SweepProgress(spec, trials * len(wins), show_progress)
        try:
            run = run_sweep(spec, base, wins, executor, on_result=progress.update)
        finally:
            progress.close()
    rows = run.collector.rows()
    if run.interrupted:
        print(f"interrupted: keeping the {run.collector.done} runs that finished", file=sys.stderr)
    print(format_summary(spec, wins, rows, run))
    target = out or spec.out
    if target is not None:
        paths = write_results(target, spec, wins, rows, run, name=config.name, executor=executor.description)
        print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return EXIT_INTERRUPTED if run.interrupted else 0
