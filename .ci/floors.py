"""Print a pip constraints file pinning every dependency of pyproject.toml to its floor.

``name>=X`` becomes ``name==X`` for the runtime dependencies and the ``test`` extra, so one CI step
can prove that the oldest versions the project admits really pass the suite.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_FLOOR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(>=|==)\s*([^,;\s]+)")


def floors(pyproject: Path) -> dict[str, str]:
    """Each runtime and ``test`` requirement's name and its lowest allowed version."""
    project = tomllib.loads(pyproject.read_text())["project"]
    result: dict[str, str] = {}
    for requirement in list(project["dependencies"]) + list(project["optional-dependencies"]["test"]):
        match = _FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"no floor in requirement {requirement!r}")
        name, _, version = match.groups()
        if name.lower() in (known.lower() for known in result):
            raise SystemExit(f"{name} is required twice in {pyproject}")
        result[name] = version
    return result


def _release(version: str) -> tuple[int, ...]:
    """``6.100`` and ``6.100.0`` are one release."""
    parts = [int(p) for p in re.findall(r"\d+", version)]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def main() -> int:
    args = sys.argv[1:]
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    wanted = floors(Path(paths[0] if paths else "pyproject.toml"))
    if not check:
        for name, version in wanted.items():
            print(f"{name}=={version}")
        return 0
    # --check: the environment really holds the floors (a constraint that pip ignored would hide).
    from importlib.metadata import PackageNotFoundError, version as installed_version

    wrong = 0
    for name, version in wanted.items():
        try:
            have = installed_version(name)
        except PackageNotFoundError:
            have = "missing"
        same = have != "missing" and _release(have) == _release(version)
        mark = "ok" if same else "WRONG"
        wrong += not same
        print(f"{mark:5} {name} {have} (floor {version})")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
