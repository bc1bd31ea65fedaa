"""The ``venue`` fixture: every conformance test runs once per entry of :data:`venues.VENUES`.

A venue entry may mark a test as a known failure of that venue (``VenueAdapter.xfail``); it is
then ``xfail(strict=True)``: the day the venue is fixed, the suite says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from .venues import VENUES, VenueAdapter


@pytest.fixture(params=VENUES, ids=[v.name for v in VENUES])
def venue(request: pytest.FixtureRequest) -> VenueAdapter:
    """One venue adapter (the test runs once per venue)."""
    return request.param  # type: ignore[no-any-return]


def pytest_collection_modifyitems(config: pytest.Config, items: list[Any]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        adapter = callspec.params.get("venue") if callspec is not None else None
        if isinstance(adapter, VenueAdapter):
            skipped = adapter.skip.get(item.originalname)
            if skipped:
                item.add_marker(pytest.mark.skip(reason=f"{adapter.name}: {skipped}"))
            reason = adapter.xfail.get(item.originalname)
            if reason:
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))
