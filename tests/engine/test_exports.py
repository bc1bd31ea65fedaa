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
