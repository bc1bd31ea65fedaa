"""The project installs and tests the same way on a fresh machine as here.

A fresh machine's own Python may carry old packages (trio 0.22.2, whose nurseries do not raise
strict exception groups); the code relies on what newer versions do, so the floors in
``pyproject.toml`` must say so and CI must prove them in a fresh virtual environment.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib.metadata import version as installed_version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _floors() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("ci_floors", ROOT / ".ci" / "floors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    floors: dict[str, str] = module.floors(ROOT / "pyproject.toml")
    return floors


def _tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_every_dependency_has_a_floor() -> None:
    floors = _floors()
    for name in ("trio", "trio-websocket", "httpx", "attrs", "eth-account", "numpy", "pytest",
                 "pytest-trio", "hypothesis"):
        assert name in floors, name


def test_floors_admit_only_versions_with_the_behaviour_the_code_relies_on() -> None:
    floors = _floors()
    # strict exception groups from every nursery (trio 0.25.0 made them the only behaviour)
    assert _tuple(floors["trio"]) >= (0, 25, 0)
    # numpy.strings.partition in the CSV importer
    assert _tuple(floors["numpy"]) >= (2, 1, 0)
    # trio >= 0.25 itself needs attrs >= 23.2
    assert _tuple(floors["attrs"]) >= (23, 2, 0)


def test_the_running_environment_satisfies_the_floors() -> None:
    for name, floor in _floors().items():
        assert _tuple(installed_version(name)) >= _tuple(floor), (name, installed_version(name), floor)


def test_ci_installs_into_fresh_virtual_environments_and_checks_floors_and_types() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "venv" in script
    assert "floors.py --check" in script
    assert "mypy --strict engine strategies venues risk backtest" in script
    assert "|| true" not in script
    assert sys.version_info >= (3, 11)
