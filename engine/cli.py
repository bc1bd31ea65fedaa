"""The ``triotrade`` command line.

Every command returns an exit code; configuration and data problems print one clear message
(no traceback) and exit 2. Commands import what they need lazily so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ._errors import ConfigError, DataError, TriotradeError
from ._live import plain_error

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triotrade",
        description="Event-driven algorithmic trading on trio: one strategy class, run live, paper or backtest.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="backtest the example strategy on the bundled data and print the report")
    demo.add_argument("--out", type=Path, default=Path("triotrade-demo"), help="folder for the report files")
    demo.add_argument("--live-seconds", type=float, default=15.0,
                      help="how long to trade against the local testnet after the backtest (0: skip)")
    demo.set_defaults(func=_cmd_demo)

    bt = sub.add_parser("backtest", help="run a backtest described by a TOML config")
    bt.add_argument("config", type=Path, help="the run's TOML file (see configs/)")
    bt.add_argument("--data", help="replay this data set instead of the config's [data].path")
    bt.add_argument("--out", type=Path, help="folder for the report files (overrides [report].out)")
    bt.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    bt.set_defaults(func=_cmd_backtest)

    from backtest.data_cli import add_data_commands

    add_data_commands(sub)
    _add_venue_commands(sub)
    return parser


def _version() -> str:
    """The installed distribution's version ("unknown" when run from a source tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("triotrade")
    except PackageNotFoundError:
        return "unknown"


def _add_venue_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Commands that talk to venues (live, paper, record, local testnets), if available."""
    try:
        from venues import add_venue_commands
    except ImportError:
        return
    add_venue_commands(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except BaseException as exc:  # noqa: B036 - every error is mapped to one line, or re-raised
        code = _exit_code_of(plain_error(exc))
        if code is None:
            raise
        return code


def _exit_code_of(exc: BaseException) -> int | None:
    """Print the one line ``exc`` deserves and return the exit code; None for a real bug."""
    if isinstance(exc, ConfigError):
        from ._config import format_error

        print(format_error(exc), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, DataError):
        print(f"data error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, TriotradeError):
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return None


def _cmd_backtest(args: argparse.Namespace) -> int:
    from backtest.app import run_backtest_config

    return run_backtest_config(args.config, data=args.data, out=args.out,
                               show_progress=False if args.no_progress else None)


def _cmd_demo(args: argparse.Namespace) -> int:
    from backtest.app import run_demo

    return run_demo(args.out, live_s=args.live_seconds)


if __name__ == "__main__":
    sys.exit(main())
