"""The ``triotrade`` command line.

Every command returns an exit code; configuration and data problems print one clear message
(no traceback) and exit 2. Command groups are plug-ins (entry point group ``triotrade.commands``,
see :mod:`engine._plugins`), registered in name order; the engine's own ``run``, ``paper`` and
``record`` come last, when a venue package is registered.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from ._errors import ConfigError, DataError, TriotradeError
from ._live import plain_error
from ._plugins import command_groups, venue_names

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

    for _name, register in command_groups():
        register(sub)
    if venue_names():
        from ._live_app import add_commands

        add_commands(sub)
    return parser


def _version() -> str:
    """The installed distribution's version ("unknown" when run from a source tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("triotrade")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        if not venue_names():
            print("\nno command groups are registered: is triotrade installed (pip install .)?",
                  file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
