"""Numbers and JSON as they come off a wire: bounded before any arithmetic.

A number from a venue, a client or a file is text first. Python's :class:`~decimal.Decimal` and
:func:`int` accept far more than any venue does — Arabic-Indic or full-width digits, a trailing
newline, ``Infinity``, ``1e400000`` (whose later ``quantize`` or ``int()`` costs seconds of CPU) —
so everything read from outside goes through :func:`wire_decimal` / :func:`wire_int` first:

* only ASCII digits, an optional leading sign and at most one decimal point;
* an exponent (``1e-05``) only where the format has one (JSON numbers), and then bounded;
* at most :data:`MAX_NUMBER_CHARS` characters.

:func:`loads_json` decodes JSON within a size limit, refuses ``NaN``/``Infinity`` literals,
optionally refuses duplicate object keys, and turns too-deep nesting into a
:class:`WireFormatError` instead of a ``RecursionError``.

Every failure is a :class:`WireFormatError` (a ``ValueError``) whose message names what was wrong;
callers map it to their own error (a venue's error code on a server, ``MalformedMessage`` on a
client, ``ConfigError``/``DataError`` for files).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Callable

__all__ = [
    "MAX_NUMBER_CHARS",
    "MAX_EXPONENT",
    "MAX_JSON_DEPTH",
    "WireFormatError",
    "wire_decimal",
    "wire_int",
    "loads_json",
]

MAX_NUMBER_CHARS = 64
"The longest number text accepted (sign, digits, point and exponent together)."

MAX_EXPONENT = 64
"The largest exponent magnitude accepted where a format allows one (``1e-64`` … ``1e64``)."

MAX_JSON_DEPTH = 64
"The deepest nesting of arrays/objects :func:`loads_json` accepts."

_PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_WITH_EXPONENT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


class WireFormatError(ValueError):
    """Text from outside is not a well-formed, bounded number or JSON document."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def wire_decimal(text: str | int, *, allow_exponent: bool = False) -> Decimal:
    """Parse ``text`` as an exact decimal, refusing anything a venue would not call a number.

    ``int`` values (JSON integers) are accepted as they are, within the length bound. With
    ``allow_exponent`` a JSON-number exponent is allowed, its magnitude at most
    :data:`MAX_EXPONENT`.
    """
    if isinstance(text, bool):
        raise WireFormatError("a boolean is not a number")
    if isinstance(text, int):
        if text.bit_length() > 212:  # ~64 decimal digits
            raise WireFormatError("integer too long")
        return Decimal(text)
    if not isinstance(text, str):
        raise WireFormatError(f"expected a number, got {type(text).__name__}")
    if len(text) > MAX_NUMBER_CHARS:
        raise WireFormatError(f"number longer than {MAX_NUMBER_CHARS} characters: {_shown(text)}")
    if allow_exponent:
        match = _WITH_EXPONENT.fullmatch(text)
        if match is None:
            raise WireFormatError(f"not a number: {_shown(text)}")
        exponent = match.group(1)
        if exponent is not None and abs(int(exponent)) > MAX_EXPONENT:
            raise WireFormatError(f"exponent out of range: {_shown(text)}")
    elif _PLAIN.fullmatch(text) is None:
        raise WireFormatError(f"not a plain decimal number: {_shown(text)}")
    return Decimal(text)


def wire_int(text: str | int, *, max_digits: int = 20) -> int:
    """Parse an integer written with ASCII digits only (optional sign), at most ``max_digits`` long."""
    if isinstance(text, bool):
        raise WireFormatError("a boolean is not an integer")
    if isinstance(text, int):
        if text.bit_length() > 4 * max_digits and len(str(abs(text))) > max_digits:
            raise WireFormatError("integer too long")
        return text
    if not isinstance(text, str):
        raise WireFormatError(f"expected an integer, got {type(text).__name__}")
    if len(text) > max_digits + 1 or _INTEGER.fullmatch(text) is None:
        raise WireFormatError(f"not an integer: {_shown(text)}")
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise WireFormatError(f"{name} is not a number")


def _bounded_float(text: str) -> str:
    # JSON's grammar already fixed the form; only the size of the number is left to bound.
    wire_decimal(text, allow_exponent=True)
    return text


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise WireFormatError(f"integer longer than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise WireFormatError(f"duplicate key {_shown(key)}")
            seen.add(key)
    return result


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def loads_json(
    data: str | bytes | bytearray,
    *,
    max_bytes: int | None = None,
    max_depth: int = MAX_JSON_DEPTH,
    reject_duplicate_keys: bool = False,
    parse_float: Callable[[str], Any] | None = None,
) -> Any:
    """Decode one JSON document from outside, bounded.

    Non-integer numbers become what ``parse_float`` returns (default: the exact number text, a
    ``str``, after the bounds of :func:`wire_decimal` with an exponent); integers are ``int``
    (at most :data:`MAX_NUMBER_CHARS` digits). ``NaN``/``Infinity`` literals, bodies larger than
    ``max_bytes``, nesting deeper than ``max_depth``, invalid UTF-8 and — with
    ``reject_duplicate_keys`` — an object naming a key twice are a :class:`WireFormatError`.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise WireFormatError(f"message larger than {max_bytes} bytes")
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise WireFormatError("message is not valid UTF-8") from None
    else:
        text = data
    float_hook = _bounded_float if parse_float is None else (lambda s: parse_float(_bounded_float(s)))
    try:
        value = json.loads(
            text,
            parse_float=float_hook,
            parse_int=_bounded_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys if reject_duplicate_keys else None,
        )
    except RecursionError:
        raise WireFormatError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise WireFormatError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError as exc:  # WireFormatError from a hook, or int()'s digit limit
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(f"invalid JSON: {exc}") from None
    if isinstance(value, (dict, list)) and _depth_exceeds(value, max_depth):
        raise WireFormatError(f"JSON nested deeper than {max_depth}")
    return value
