"""The wire format. TEMPLATE: the venue's field names stay as they are on the wire."""

from __future__ import annotations

from typing import Any

from engine import loads_json

__all__ = ["loads"]


def loads(data: str | bytes) -> Any:
    """Bounded JSON (depth, number length; no NaN/Infinity; duplicate keys refused)."""
    return loads_json(data, reject_duplicate_keys=True)
