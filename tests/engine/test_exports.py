"""Each public name is exported once, and no venue's name appears outside venues/."""

from __future__ import annotations

import re
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[2]
VENUE_NAMES = ("dzengi", "ekiden", "leverj", "coinpit", "magnr")


def test_engine_exports_are_public_and_unique() -> None:
    src = (ROOT / "engine" / "__init__.py").read_text()
    names = re.findall(r"as (\w+),", src)
    assert len(names) == len(set(names)), "a name is exported twice"
    for name in names:
        assert hasattr(engine, name)


def test_no_venue_names_outside_venues() -> None:
    offenders = []
    for package in ("engine", "strategies", "risk", "backtest"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text().lower()
            for venue in VENUE_NAMES:
                if venue in text:
                    offenders.append(f"{path.relative_to(ROOT)} mentions {venue}")
    assert not offenders, "\n".join(offenders)


def test_packages_outside_engine_use_its_public_names_only() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("backtest", "strategies", "risk", "venues"):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                modules: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    if node.module.startswith("engine._"):
                        modules.append(node.module)
                    elif node.module == "engine":
                        modules += [f"engine.{a.name}" for a in node.names if a.name.startswith("_")]
                elif isinstance(node, ast.Import):
                    modules += [a.name for a in node.names if a.name.startswith("engine._")]
                offenders += [f"{rel}:{node.lineno} {m}" for m in modules]
    assert offenders == []
