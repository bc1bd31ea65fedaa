"""Suite-wide fixtures: nothing a test runs writes outside its temporary directories."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Data-set verification markers go to a temporary cache (subprocesses inherit it too)."""
    old = os.environ.get("TRIOTRADE_CACHE_DIR")
    os.environ["TRIOTRADE_CACHE_DIR"] = str(tmp_path_factory.mktemp("triotrade-cache"))
    yield
    if old is None:
        os.environ.pop("TRIOTRADE_CACHE_DIR", None)
    else:
        os.environ["TRIOTRADE_CACHE_DIR"] = old
