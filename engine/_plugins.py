"""Plug-in registration points: the packages built on the engine register here, by entry point.

The engine imports nothing from the packages built on it; they announce themselves in
``pyproject.toml`` and the engine finds them with :func:`importlib.metadata.entry_points`:

``triotrade.commands``
    ``name = "module:register"``: ``register(subparsers)`` adds a CLI command group. Groups are
    registered in name order, before the engine's own ``run``, ``paper`` and ``record``.
``triotrade.venues``
    ``venue = "package"``: a venue package with the uniform interface (``make_gateway``, ...).
``triotrade.live``
    the pieces a live run is composed of, each by name: ``risk`` (``build_risk(table, *,
    source)``), ``kill_switch`` (``async serve(risk)``: the kill-switch signals), ``paper_venue``
    (``factory(paper_settings) -> (engine -> execution client)``), ``recorder`` (the market-data
    recorder class), ``report`` (``writer(runner, out, *, name, currency) -> text``) and
    ``demo_venue`` (the name of the venue ``triotrade demo`` trades on).

Run from a source checkout (``pyproject.toml`` of triotrade beside ``engine/``), the checkout's
own ``pyproject.toml`` is read, so the plug-ins are the ones of the code that runs even where the
installed metadata is older or belongs to another checkout; an installed package uses its metadata.
"""

from __future__ import annotations

import argparse
import functools
import tomllib
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from ._errors import ConfigError, TriotradeError

__all__ = ["COMMANDS", "VENUES", "LIVE", "PluginMissing", "command_groups", "venue_names", "venue_module",
           "live_plugin", "has_live_plugin"]

COMMANDS = "triotrade.commands"
VENUES = "triotrade.venues"
LIVE = "triotrade.live"

_INSTALL_HINT = "is triotrade installed (pip install .) with its entry points?"


class PluginMissing(TriotradeError):
    """No package registered the plug-in a command needs."""


@functools.cache
def _source_tree() -> dict[str, dict[str, str]] | None:
    """The entry points declared by the checkout this engine is imported from (None: not a checkout)."""
    path = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != "triotrade":
        return None
    groups: dict[str, dict[str, str]] = project.get("entry-points", {})
    return groups


def _group(group: str) -> list[EntryPoint]:
    """The entry points of ``group``, in name order (the first distribution of each name wins)."""
    declared = _source_tree()
    if declared is not None:
        found = [EntryPoint(name, value, group) for name, value in declared.get(group, {}).items()]
    else:
        found = list(entry_points(group=group))
    seen: dict[str, EntryPoint] = {}
    for ep in found:
        seen.setdefault(ep.name, ep)
    return [seen[name] for name in sorted(seen)]


def command_groups() -> Iterator[tuple[str, Callable[[argparse._SubParsersAction], Any]]]:  # type: ignore[type-arg]
    """``(name, register)`` for every registered CLI command group, in name order."""
    for ep in _group(COMMANDS):
        yield ep.name, ep.load()


def venue_names() -> list[str]:
    """The registered venue packages, in name order."""
    return [ep.name for ep in _group(VENUES)]


def venue_module(name: str) -> ModuleType:
    """The venue package registered as ``name``; an unknown name is a :class:`~engine.ConfigError`."""
    for ep in _group(VENUES):
        if ep.name == name:
            module = ep.load()
            if not isinstance(module, ModuleType):
                raise PluginMissing(f"entry point {VENUES}:{name} names {ep.value!r}, not a package")
            return module
    available = ", ".join(venue_names()) or f"none registered; {_INSTALL_HINT}"
    raise ConfigError(f"unknown venue {name!r} (available: {available})", key="venue")


def has_live_plugin(name: str) -> bool:
    """True if a package registered the live-run piece ``name``."""
    return any(ep.name == name for ep in _group(LIVE))


def live_plugin(name: str) -> Any:
    """The live-run piece registered as ``name`` in ``triotrade.live`` (see the module docstring)."""
    for ep in _group(LIVE):
        if ep.name == name:
            return ep.load()
    raise PluginMissing(f"no {name!r} registered in entry point group {LIVE}; {_INSTALL_HINT}")
