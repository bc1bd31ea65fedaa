"""engine/ imports nothing built on it; what it needs from those packages comes by entry point."""

from __future__ import annotations

import argparse
import ast
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from engine import _plugins

ROOT = Path(__file__).resolve().parents[2]
_ABOVE_ENGINE = ("risk", "backtest", "venues", "strategies")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports, anywhere in it (lazy imports in functions included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_engine_imports_no_package_built_on_it() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in sorted((ROOT / "engine").rglob("*.py"))
                 for line, module in _imports(path)
                 if module.split(".")[0] in _ABOVE_ENGINE]
    assert offenders == []


def test_the_walker_sees_lazy_and_dynamic_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from venues import x\n    import risk.y\n"
                      "    importlib.import_module('backtest.app')\n")
    assert [m for _, m in _imports(sample)] == ["venues", "risk.y", "backtest.app"]


def _declared() -> dict[str, dict[str, str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups: dict[str, dict[str, str]] = project["entry-points"]
    return groups


def test_a_checkout_uses_its_own_declared_entry_points_and_every_one_loads() -> None:
    for group, declared in _declared().items():
        found = {ep.name: ep.value for ep in _plugins._group(group)}
        assert found == declared, group
        for ep in _plugins._group(group):
            assert ep.load() is not None, f"{group}:{ep.name}"


def test_an_installed_package_reads_the_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a checkout's pyproject.toml the entry points come from the distribution's metadata."""
    monkeypatch.setattr(_plugins, "_source_tree", lambda: None)
    installed = {ep.name: ep.value for ep in entry_points(group=_plugins.VENUES)}
    assert {ep.name: ep.value for ep in _plugins._group(_plugins.VENUES)} == installed


def test_registered_venues_are_the_venue_packages() -> None:
    import venues

    assert _plugins.venue_names() == sorted(venues.VENUES)
    assert _plugins.live_plugin("demo_venue") == venues.DEMO_VENUE


def test_an_unknown_venue_names_the_registered_ones() -> None:
    from engine import ConfigError

    with pytest.raises(ConfigError, match=r"unknown venue 'nowhere' \(available: ([a-z]+, )*dzengi, ekiden[,)]"):
        _plugins.venue_module("nowhere")


def test_a_missing_plug_in_says_how_to_register_it() -> None:
    with pytest.raises(_plugins.PluginMissing, match="triotrade.live.*pip install"):
        _plugins.live_plugin("no-such-piece")
    assert not _plugins.has_live_plugin("no-such-piece")


def test_command_groups_register_in_name_order_before_the_live_commands() -> None:
    from engine.cli import build_parser

    assert [name for name, _ in _plugins.command_groups()] == sorted(_declared()["triotrade.commands"])
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices)[:2] == ["demo", "backtest"]
    assert list(sub.choices)[-3:] == ["run", "paper", "record"]
