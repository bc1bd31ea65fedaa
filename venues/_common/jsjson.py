"""JavaScript's ``JSON.stringify`` and number text, exactly, for venues whose signatures cover it.

Venues built on Node sign ``JSON.stringify`` of a value and verify against their own
re-serialization of the JSON they parsed: every number went through a double and comes back in
its shortest form. A client must therefore sign (and send) what a JS engine would write, and a
verifier rebuild the message the same way. Numbers here are :class:`~decimal.Decimal` or int,
never float; :func:`canonical_number` is what a JS engine makes of a JSON number, :func:`js_number`
its ``Number.prototype.toString``, :func:`js_dumps` the compact ``JSON.stringify`` (key order kept,
non-ASCII unescaped) and :func:`canonical_tree` a parsed value with every number canonicalised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["canonical_number", "canonical_tree", "js_number", "js_dumps"]


def canonical_number(value: Decimal | int) -> Decimal:
    """What a JS engine makes of a JSON number: the shortest decimal form of the nearest double.

    The venue parses every JSON number into a double and hashes its shortest form; the verifier
    does the same so that it checks what the venue checks. Raises ValueError when the number is
    not a finite double.
    """
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{value} is not a finite number")
    try:
        as_double = float(number)
    except OverflowError:
        raise ValueError(f"{value} is out of the range of a JS number") from None
    if as_double in (float("inf"), float("-inf")):
        raise ValueError(f"{value} is out of the range of a JS number")
    return Decimal(repr(as_double))


def js_number(value: Decimal | int) -> str:
    """``value`` as JS's ``Number.prototype.toString`` writes it (``100``, ``0.02``, ``1e-7``, ``1e+21``).

    Raises ValueError when ``value`` is not exactly what the venue will read back (more digits
    than a double keeps): a signed number must reach the venue unchanged.
    """
    number = Decimal(value)
    if not number.is_finite() or canonical_number(number) != number:
        raise ValueError(f"{value} is not exactly representable as a JS number")
    if number == 0:
        return "0"
    sign, digits_t, exponent = number.normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digits_t))
    k = len(digits)
    n = exponent + k  # value = 0.digits × 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return ("-" if sign else "") + text


def js_dumps(value: Any) -> str:
    """JS ``JSON.stringify`` of ``value``: compact, key order kept, non-ASCII unescaped, numbers
    as :func:`js_number` writes them. Floats are refused (numbers are Decimal or int); a
    non-integer number given as ``str`` is a string, as on the wire."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        if abs(value) >= 2**53:
            raise ValueError(f"integer {value} is beyond a JS number's exact range: send it as a string")
        return str(value)
    if isinstance(value, Decimal):
        return js_number(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{js_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(js_dumps(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON (floats are refused: use Decimal)")


def canonical_tree(value: Any) -> Any:
    """``value`` (parsed JSON, numbers Decimal or int) with every Decimal as a JS engine reads it."""
    if isinstance(value, Decimal):
        return canonical_number(value)
    if isinstance(value, Mapping):
        return {k: canonical_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_tree(v) for v in value]
    return value
