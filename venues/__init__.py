"""Venue packages, one per venue, all the same shape.

Each ``venues/<venue>/`` package has ``constants.py``, ``signer.py``, ``schemas.py``,
``parsers.py``, ``rest.py``, ``stream.py``, ``gateway.py`` and ``testnet.py``, and its
``__init__.py`` exports this uniform interface (which the CLI and the live runner use, so nothing
outside ``venues/`` names a venue; each package is registered in ``pyproject.toml`` under the
``triotrade.venues`` entry points, which is how the engine finds it):

``make_gateway(options, credentials, *, source, key) -> engine.Gateway``
    build the gateway from the ``[venues.options]`` table (validated by the venue's config class;
    errors name ``source`` and ``key``) and :class:`engine.Credentials` (or None for
    public data only).
``add_testnet_arguments(parser)`` / ``run_testnet(args) -> int``
    the ``triotrade testnet <venue>`` command.
``open_local_testnet(api_key, secret, *, seed)``
    async context manager: a local testnet with one funded account; yields the options table
    that points the gateway at it. ``DEMO_SYMBOL`` names the instrument the demo trades there.
``demo_credentials()`` and ``DEMO_STRATEGY`` (optional)
    a throw-away key pair of the venue's own kind, and the demo's strategy ``("pkg.mod:Class",
    {params})`` when the default (trade flow on trades) does not fit the venue.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

__all__ = ["VENUES", "DEMO_VENUE", "venue_module", "add_testnet_commands"]

VENUES: tuple[str, ...] = ("dzengi", "ekiden", "magnr", "leverj", "coinpit")
"Venue packages that implement the uniform interface, in the order the CLI lists them."

DEMO_VENUE = "dzengi"
"The venue whose local testnet ``triotrade demo`` trades against."


def venue_module(name: str) -> ModuleType:
    """Import ``venues.<name>``; an unknown name is a :class:`~engine.ConfigError`."""
    from engine import ConfigError

    if name not in VENUES:
        raise ConfigError(f"unknown venue {name!r} (available: {', '.join(VENUES)})", key="venue")
    return importlib.import_module(f"venues.{name}")


def add_testnet_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``testnet <venue>`` on the main CLI (entry point ``triotrade.commands:testnet``).

    The venue packages themselves are registered in ``triotrade.venues`` (the live app builds
    gateways from there), and :data:`DEMO_VENUE` as ``triotrade.live:demo_venue``.
    """
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
