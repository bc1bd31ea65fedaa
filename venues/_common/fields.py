"""Field decoders shared by every venue's ``parsers.py``.

A :class:`FieldReader` is made once per venue module (``F = FieldReader(VENUE)``) and reads one
field of an already decoded JSON message: present, not null, of the right kind, and for numbers
bounded and exact (:func:`engine.wire_decimal`, :func:`engine.wire_int`, :func:`engine.wire_scaled`:
ASCII digits only, never via float). Anything else is a :class:`~engine.MalformedMessage` naming
the venue, the message kind (``what``), the field and a redacted excerpt of the message. Nothing
here does I/O or reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from engine import Instrument, MalformedMessage, OrderStatus, WireFormatError, redact, wire_decimal, wire_int, wire_scaled

__all__ = ["FieldReader", "Level", "SNIPPET_CHARS", "collect_instruments", "shown"]

E = TypeVar("E")

Level = tuple[int, int]
"One book level: ``(price, size)`` as the instrument's scaled integers."

SNIPPET_CHARS = 300
"The most characters of a message quoted in a :class:`~engine.MalformedMessage`."


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a field value quoted in an error."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def snippet(obj: object, limit: int = SNIPPET_CHARS) -> str:
    """A message as an error may quote it: JSON, cut to ``limit`` characters, secrets redacted."""
    try:
        text = json.dumps(obj, default=str)
    except (TypeError, ValueError):
        text = repr(obj)
    if len(text) > limit:
        text = text[:limit] + "…"
    return redact(text)


class FieldReader:
    """Reads fields of one venue's messages; every failure names the venue, message and field.

    ``signed_int_strings`` says whether an integer written as a string may carry a sign
    (``"-5"``); a venue whose integers are never negative leaves it False, so ``"-5"`` is refused.
    ``symbol_word`` is how the venue calls an instrument in "unknown …" errors.
    """

    __slots__ = ("venue", "signed_int_strings", "symbol_word")

    def __init__(self, venue: str, *, signed_int_strings: bool = False, symbol_word: str = "symbol") -> None:
        self.venue = venue
        self.signed_int_strings = signed_int_strings
        self.symbol_word = symbol_word

    # -- errors ----------------------------------------------------------------------------

    def malformed(self, what: str, problem: str, obj: object = None) -> MalformedMessage:
        """A :class:`MalformedMessage` naming the message kind, the problem and a redacted excerpt."""
        tail = f" in {snippet(obj)}" if obj is not None else ""
        return MalformedMessage(f"{what}: {problem}{tail}", venue=self.venue)

    # -- containers ------------------------------------------------------------------------

    def as_object(self, value: object, what: str) -> dict[str, Any]:
        """``value`` if it is a JSON object, else a :class:`MalformedMessage` naming ``what``."""
        if not isinstance(value, dict):
            raise self.malformed(what, f"expected a JSON object, got {type(value).__name__}", value)
        return value

    def as_list(self, value: object, what: str) -> list[Any]:
        """``value`` if it is a JSON array, else a :class:`MalformedMessage` naming ``what``."""
        if not isinstance(value, list):
            raise self.malformed(what, f"expected a JSON array, got {type(value).__name__}", value)
        return value

    # -- scalar fields ---------------------------------------------------------------------

    def get(self, obj: Mapping[str, Any], name: str, what: str) -> Any:
        """Field ``name`` of ``obj``: present and not null."""
        try:
            value = obj[name]
        except KeyError:
            raise self.malformed(what, f"missing field {name!r}", obj) from None
        if value is None:
            raise self.malformed(what, f"field {name!r} is null", obj)
        return value

    def string(self, obj: Mapping[str, Any], name: str, what: str) -> str:
        """Field ``name`` as a string (a JSON integer is accepted and written in decimal)."""
        value = self.get(obj, name, what)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.malformed(what, f"field {name!r} is not a string", obj)
        return str(value)

    def integer(self, obj: Mapping[str, Any], name: str, what: str) -> int:
        """Field ``name`` as an integer: a JSON integer or a bounded string of ASCII digits."""
        value = self.get(obj, name, what)
        if isinstance(value, bool):
            raise self.malformed(what, f"field {name!r} is not an integer", obj)
        if type(value) is int:
            return value
        if isinstance(value, str) and (self.signed_int_strings or (value.isascii() and value.isdigit())):
            try:
                return wire_int(value)
            except WireFormatError as e:
                raise self.malformed(what, f"field {name!r}: {e}", obj) from None
        raise self.malformed(what, f"field {name!r} is not an integer: {shown(value)}", obj)

    def boolean(self, obj: Mapping[str, Any], name: str, what: str, default: bool = False) -> bool:
        """Field ``name`` as a JSON boolean (``default`` when absent)."""
        value = obj.get(name, default)
        if not isinstance(value, bool):
            raise self.malformed(what, f"field {name!r} is not a boolean", obj)
        return value

    def decimal_of(self, value: object, name: str = "value", what: str = "message", obj: object = None) -> Decimal:
        """Exact Decimal of a JSON number or numeric string, bounded (:func:`engine.wire_decimal`); never via float."""
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise self.malformed(what, f"field {name!r} is not finite: {value!r}", obj)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.malformed(what, f"field {name!r} is not a number: {shown(value)}", obj)
        try:
            return wire_decimal(value)
        except WireFormatError as e:
            raise self.malformed(what, f"field {name!r} is not a number: {e}", obj) from None

    def dec(self, obj: Mapping[str, Any], name: str, what: str) -> Decimal:
        """Field ``name`` as an exact Decimal (present, not null)."""
        return self.decimal_of(self.get(obj, name, what), name, what, obj)

    def opt_dec(self, obj: Mapping[str, Any], name: str, what: str) -> Decimal | None:
        """Field ``name`` as an exact Decimal, or None when absent, null or ``""``."""
        value = obj.get(name)
        if value is None or value == "":
            return None
        return self.decimal_of(value, name, what, obj)

    # -- instrument-scaled fields ----------------------------------------------------------

    def price_raw(self, inst: Instrument, value: object, name: str, what: str, obj: object) -> int:
        """A price as the instrument's scaled integer (exact, else malformed)."""
        try:
            return wire_scaled(value, inst.price_scale)  # type: ignore[arg-type]
        except ValueError as e:
            raise self.malformed(what, f"field {name!r}: {e}", obj) from None

    def size_raw(self, inst: Instrument, value: object, name: str, what: str, obj: object) -> int:
        """A size as the instrument's scaled integer (exact, else malformed)."""
        try:
            return wire_scaled(value, inst.size_scale)  # type: ignore[arg-type]
        except ValueError as e:
            raise self.malformed(what, f"field {name!r}: {e}", obj) from None

    def instrument(self, instruments: Mapping[str, Instrument], symbol: object, what: str,
                   obj: object) -> Instrument:
        """The instrument a message names, else malformed ("unknown <symbol_word> …")."""
        inst = instruments.get(symbol) if isinstance(symbol, str) else None
        if inst is None:
            raise self.malformed(what, f"unknown {self.symbol_word} {symbol!r}", obj)
        return inst

    def new_instrument(self, what: str, obj: object, max_decimals: int, **fields: Any) -> Instrument:
        """``Instrument(venue=<this venue>, **fields)``; one the engine refuses, or whose tick or lot
        needs more than ``max_decimals`` decimals, is malformed."""
        try:
            inst = Instrument(venue=self.venue, **fields)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise self.malformed(what, str(e) or type(e).__name__, obj) from None
        if inst.price_scale > max_decimals or inst.size_scale > max_decimals:
            raise self.malformed(what, f"tick or lot finer than {max_decimals} decimals", obj)
        return inst

    # -- enums and books -------------------------------------------------------------------

    def member(self, enum_type: Callable[[Any], E], value: object, noun: str, what: str, obj: object) -> E:
        """``enum_type(value)``, strictly: an unknown value is malformed ("unknown <noun> …")."""
        try:
            return enum_type(value)
        except ValueError:
            raise self.malformed(what, f"unknown {noun} {value!r}", obj) from None

    def order_status(self, table: Mapping[E, OrderStatus], enum_type: Callable[[Any], E], value: object,
                     partly_filled: bool, what: str, obj: object) -> OrderStatus:
        """A venue order status → the engine's through ``table``, strictly; a working (ACCEPTED) order
        that is ``partly_filled`` is PARTIALLY_FILLED."""
        status = table[self.member(enum_type, value, "order status", what, obj)]
        if status is OrderStatus.ACCEPTED and partly_filled:
            return OrderStatus.PARTIALLY_FILLED
        return status

    def levels(self, inst: Instrument, rows: object, what: str, obj: object, *, size_name: str = "size",
               extra_entries: bool = False) -> list[Level]:
        """A book side ``[[price, size], …]`` as scaled levels, in the venue's order; ``extra_entries``
        lets a level carry more than its two entries (ignored)."""
        out = []
        for row in self.as_list(rows, what):
            if not isinstance(row, list) or (len(row) < 2 if extra_entries else len(row) != 2):
                raise self.malformed(what, f"level is not [price, {size_name}]: {row!r}", obj)
            out.append((self.price_raw(inst, row[0], "price", what, obj),
                        self.size_raw(inst, row[1], size_name, what, obj)))
        return out

    def book(self, inst: Instrument, obj: Mapping[str, Any], what: str, depth: int | None, *,
             size_name: str = "size", extra_entries: bool = False) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """``bids`` (best, the highest, first) and ``asks`` (lowest first) of a book message, each cut
        to ``depth`` levels (None: all)."""
        bids = sorted(self.levels(inst, self.get(obj, "bids", what), what, obj, size_name=size_name,
                                  extra_entries=extra_entries), key=lambda lv: -lv[0])
        asks = sorted(self.levels(inst, self.get(obj, "asks", what), what, obj, size_name=size_name,
                                  extra_entries=extra_entries))
        return tuple(bids[:depth]), tuple(asks[:depth])


def collect_instruments(entries: Iterable[object], parse: Callable[[object], Instrument],
                        on_error: Callable[[MalformedMessage], None]) -> dict[str, Instrument]:
    """``symbol → instrument`` of every entry ``parse`` reads; a malformed one goes to ``on_error``
    and is left out (one bad market never hides the others)."""
    out: dict[str, Instrument] = {}
    for entry in entries:
        try:
            inst = parse(entry)
        except MalformedMessage as e:
            on_error(e)
            continue
        out[inst.symbol] = inst
    return out
