"""What every venue's ``schemas.py`` shares: the bounded JSON decoder and the enum fallback rule.

Enums follow one rule in every venue: **descriptive** enums (labels the venue may extend: market
type and status, order type and time in force as *reported*) subclass :class:`Descriptive` and
fall back to ``UNKNOWN`` for a value added later; **state** enums that drive our orders (order
status, side, liquidity) are plain and strict: an unknown value is a
:class:`~engine.MalformedMessage`, never a guess.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, TypedDict, TypeVar

from engine import JsonNumber, loads_json

__all__ = ["BookSides", "Descriptive", "Named", "loads"]

N = TypeVar("N")


def loads(text: str | bytes) -> Any:
    """Decode venue JSON, bounded (:func:`engine.loads_json`): a non-integer number stays its exact
    text, as a :class:`engine.JsonNumber` (never a float); integers are ``int``.

    Raises :class:`engine.WireFormatError` (a ``ValueError``) for invalid JSON or UTF-8,
    ``NaN``/``Infinity``, numbers past the bounds and nesting deeper than 64.
    """
    return loads_json(text, parse_float=JsonNumber)


class Named(str, enum.Enum):
    """A wire enum whose members' values are their names, declared ``NAME = enum.auto()``."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return name


class Descriptive(Named):
    """A label the venue may extend: unknown values map to ``UNKNOWN`` instead of failing.

    Members spelt as their names may be declared ``NAME = enum.auto()`` (see :class:`Named`).
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls.__members__["UNKNOWN"]


class BookSides(TypedDict, Generic[N]):
    """The two sides of a book message, as every venue sends them: ``[[price, size], …]`` levels,
    best first (bids highest, asks lowest), the numbers as the venue writes them (``N``)."""

    bids: list[list[N]]
    asks: list[list[N]]
