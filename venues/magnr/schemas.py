"""Magnr's wire format: JSON with plain numbers (floats on the wire, read and written exactly).

* create ``{"leverage", "side", "exchange", "pair", "stop_margin", "size", "type", "take"}`` →
  201 ``{"id"}``; list → ``{"trades": [trade, ...]}``; one → ``{"trade": trade}``; delete →
  ``{"id"}``; any error → ``{"errors": ["message", ...]}``;
* the trade object: ``id, side, leverage, size, deposit (BTC), exchange, created_at (unix s),
  closed_at, open_price, close_price, closed_reason, trade_rate, daily_rate (percent),
  trade_fees, daily_fees (BTC), stop_margin, trail_margin, sell_limit (USD), status, profit (BTC)``.

Numbers are written from ``Decimal`` as exact JSON number tokens, never through a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from engine import loads_json

__all__ = ["loads", "dumps_body", "number"]


def loads(data: str | bytes) -> Any:
    """Bounded JSON (depth, number length; no NaN/Infinity; duplicate keys refused); non-integers as exact text."""
    return loads_json(data, reject_duplicate_keys=True)


def number(value: Decimal | int) -> str:
    """A JSON number token for an exact value (``Decimal('0.200')`` → ``0.2``, no exponent)."""
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return text


def dumps_body(fields: Mapping[str, Decimal | int | str]) -> bytes:
    """Compact JSON of ``fields`` in their order; the exact bytes that are signed and sent."""
    parts = []
    for key, value in fields.items():
        token = json.dumps(value) if isinstance(value, str) else number(value)
        parts.append(f"{json.dumps(key)}:{token}")
    return ("{" + ",".join(parts) + "}").encode()
