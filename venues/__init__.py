"""Venue packages, one per venue, all the same shape.

Each ``venues/<venue>/`` package has ``constants.py``, ``signer.py``, ``schemas.py``,
``parsers.py``, ``rest.py``, ``stream.py``, ``gateway.py`` and ``testnet.py``, and its
``__init__.py`` exports this uniform interface (which the CLI and the live runner use, so nothing
outside ``venues/`` names a venue):

``make_gateway(options, credentials, *, source, key) -> engine.Gateway``
    build the gateway from the ``[venues.options]`` table (validated by the venue's config class;
    errors name ``source`` and ``key``) and :class:`engine._secrets.Credentials` (or None for
    public data only).
``add_testnet_arguments(parser)`` / ``run_testnet(args) -> int``
    the ``triotrade testnet <venue>`` command.
``open_local_testnet(api_key, secret, *, seed)``
    async context manager: a local testnet with one funded account; yields the options table
    that points the gateway at it. ``DEMO_SYMBOL`` names the instrument the demo trades there.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

__all__ = ["VENUES", "DEMO_VENUE", "venue_module", "add_venue_commands"]

VENUES: tuple[str, ...] = ("dzengi", "ekiden", "magnr", "leverj")
"Venue packages that implement the uniform interface, in the order the CLI lists them."

DEMO_VENUE = "dzengi"
"The venue whose local testnet ``triotrade demo`` trades against."


def venue_module(name: str) -> ModuleType:
    """Import ``venues.<name>``; an unknown name is a :class:`~engine.ConfigError`."""
    from engine import ConfigError

    if name not in VENUES:
        raise ConfigError(f"unknown venue {name!r} (available: {', '.join(VENUES)})", key="venue")
    return importlib.import_module(f"venues.{name}")


def add_venue_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``testnet <venue>``, ``run``, ``paper`` and ``record`` on the main CLI."""
    from engine import _live_app

    testnet = sub.add_parser("testnet", help="serve a venue's protocol on 127.0.0.1 (local testnet)")
    venues_sub = testnet.add_subparsers(dest="venue", metavar="VENUE")
    for name in VENUES:
        try:
            module = venue_module(name)
        except ImportError:
            continue
        if not hasattr(module, "add_testnet_arguments"):
            continue
        parser = venues_sub.add_parser(name, help=f"local {name} testnet")
        module.add_testnet_arguments(parser)
        parser.set_defaults(func=module.run_testnet)

    from backtest.live_report import write_live_report

    _live_app.add_commands(sub, report_writer=write_live_report)
