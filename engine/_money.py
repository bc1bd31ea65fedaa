"""Exact money: Decimal at the edges, scaled integers on the hot path.

A price of ``Decimal("123.45")`` with ``price_scale = 2`` is the integer ``12345``. Every
instrument fixes its price and size scales, so arithmetic on the replay hot path is plain integer
arithmetic and conversion back to :class:`~decimal.Decimal` is exact.
"""

from __future__ import annotations

import enum
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    InvalidOperation,
)
from functools import lru_cache

__all__ = ["Rounding", "to_decimal", "to_scaled", "from_scaled", "round_to_step", "scale_of", "pow10"]


class Rounding(enum.Enum):
    """How a venue rounds a value that is not a multiple of its step."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    DOWN = "down"  #: toward zero (truncate)
    UP = "up"  #: away from zero
    FLOOR = "floor"  #: toward -infinity
    CEILING = "ceiling"  #: toward +infinity
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    REJECT = "reject"  #: no rounding: an off-step value is an error

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    Rounding.DOWN: ROUND_DOWN,
    Rounding.UP: ROUND_UP,
    Rounding.FLOOR: ROUND_FLOOR,
    Rounding.CEILING: ROUND_CEILING,
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
    Rounding.REJECT: ROUND_DOWN,
}


@lru_cache(maxsize=64)
def pow10(n: int) -> int:
    """``10 ** n`` for small ``n``, cached."""
    result: int = 10**n
    return result


@lru_cache(maxsize=64)
def _decimal_pow10(n: int) -> Decimal:
    return Decimal(1).scaleb(n)


def to_decimal(value: object) -> Decimal:
    """Convert ``str``/``int``/``Decimal`` to Decimal exactly. Floats are refused: they are not money."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return value
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
        if not d.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return d
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r} as money; pass a str or Decimal")
    raise TypeError(f"cannot use {type(value).__name__} as a decimal number")


def scale_of(step: Decimal) -> int:
    """Number of decimal places of ``step`` (``Decimal('0.010')`` → 2, ``Decimal('5')`` → 0)."""
    step = step.normalize()
    exponent = step.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def to_scaled(value: Decimal, scale: int) -> int:
    """Exact ``value * 10**scale`` as int; raises if ``value`` has more decimals than ``scale``."""
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {scale} decimal places")
    return int(scaled)


def from_scaled(raw: int, scale: int) -> Decimal:
    """Inverse of :func:`to_scaled`: ``raw / 10**scale`` as an exact Decimal."""
    return Decimal(raw).scaleb(-scale) if scale else Decimal(raw)


def round_to_step(value: Decimal, step: Decimal, rounding: Rounding) -> Decimal:
    """Round ``value`` to a multiple of ``step`` with the venue's rule.

    With :attr:`Rounding.REJECT` an off-step value raises :class:`ValueError`.
    """
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = value / step
    if rounding is Rounding.REJECT:
        if units != units.to_integral_value():
            raise ValueError(f"{value} is not a multiple of {step}")
        return value
    whole = units.quantize(Decimal(1), rounding=rounding.decimal_mode)
    result = whole * step
    return result.quantize(step)  # keep the step's exponent: str() shows the venue's precision
