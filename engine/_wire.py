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
import logging
import re
from decimal import Decimal
from typing import Any, Callable, NamedTuple

__all__ = [
    "MAX_NUMBER_CHARS",
    "MAX_EXPONENT",
    "MAX_JSON_DEPTH",
    "WireFormatError",
    "JsonNumber",
    "wire_decimal",
    "wire_int",
    "wire_scaled",
    "wire_seconds",
    "loads_json",
    "MalformedFrameGuard",
    "GuardVerdict",
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


class JsonNumber(str):
    """The exact text of a non-integer JSON number (``1.5``, ``1e-05``), kept as a string.

    Pass ``parse_float=JsonNumber`` to :func:`loads_json` to tell a JSON number from a JSON
    string: :func:`wire_decimal` allows a (bounded) exponent in a ``JsonNumber`` only, so
    ``"1e1000"`` *as a string* is refused while the JSON number ``1e-05`` is read.
    """

    __slots__ = ()


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


def wire_decimal(text: str | int, *, allow_exponent: bool = False) -> Decimal:
    """Parse ``text`` as an exact decimal, refusing anything a venue would not call a number.

    ``int`` values (JSON integers) are accepted as they are, within the length bound. With
    ``allow_exponent`` — or for a :class:`JsonNumber` — a JSON-number exponent is allowed, its
    magnitude at most :data:`MAX_EXPONENT`.
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
    if allow_exponent or type(text) is JsonNumber:
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
        # 16**d > 10**d: more than 4*d bits is more than d digits (and str() of it is never huge)
        if text.bit_length() > 4 * max_digits or len(str(abs(text))) > max_digits:
            raise WireFormatError("integer too long")
        return text
    if not isinstance(text, str):
        raise WireFormatError(f"expected an integer, got {type(text).__name__}")
    if len(text) > max_digits + 1 or _INTEGER.fullmatch(text) is None:
        raise WireFormatError(f"not an integer: {_shown(text)}")
    return int(text)


_POW10: list[int] = [10**n for n in range(40)]


def wire_scaled(text: str | int, scale: int) -> int:
    """``text * 10**scale`` as an exact int, from a decimal string or a JSON number (the hot path).

    A plain decimal string of ASCII digits is converted without building a ``Decimal``; anything
    else goes through :func:`wire_decimal` (so a :class:`JsonNumber` may carry a bounded
    exponent). Raises :class:`WireFormatError` for what is not a bounded number and
    ``ValueError`` for a value with more decimals than ``scale``.
    """
    if type(text) is int:
        return text * (_POW10[scale] if 0 <= scale < 40 else 10**scale)
    if type(text) is str or type(text) is JsonNumber:
        value: str = text
        whole, _, frac = value.partition(".")
        if (len(frac) <= scale and len(value) <= MAX_NUMBER_CHARS and value.isascii()
                and (not frac or frac.isdigit())
                and (whole.isdigit() or (whole[:1] in ("-", "+") and whole[1:].isdigit()))):
            return int(whole + frac + "0" * (scale - len(frac)))
    return _scaled_exactly(wire_decimal(text), scale)


MAX_WAIT_S = 3600.0
"The longest pause a peer may ask for (``Retry-After``); a longer ask is capped to it."


def wire_seconds(text: str | None, *, maximum: float = MAX_WAIT_S) -> float | None:
    """A peer's delay in seconds (an HTTP ``Retry-After``) within ``0 … maximum``; None if unusable.

    None when absent or not a plain decimal number (``inf``, ``nan``, ``1e308`` and HTTP dates
    included), so the caller applies its own default: a hostile or odd header can neither stall
    the caller forever nor make it spin.
    """
    if not text:
        return None
    try:
        seconds = wire_decimal(text.strip())
    except WireFormatError:
        return None
    return float(min(max(seconds, Decimal(0)), Decimal(str(maximum))))


def _scaled_exactly(value: Decimal, scale: int) -> int:
    # from the digits themselves: Decimal.scaleb would round to the context's 28 digits
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # wire_decimal never returns NaN or Infinity
    units: int = int("".join(map(str, digits)) or "0")
    shift = exponent + scale
    if shift >= 0:
        units *= 10**shift  # shift is an int >= 0
    else:
        units, rest = divmod(units, 10**-shift)
        if rest:
            raise ValueError(f"{value} has more than {scale} decimal places")
    return -units if sign else units


def _refuse_constant(name: str) -> Any:
    raise WireFormatError(f"{name} is not a number")


def _bounded_float(text: str) -> str:
    # JSON's grammar already fixed the form; only the size of the number is left to bound
    # (no Decimal is built here: this runs for every non-integer number of every frame)
    if len(text) > MAX_NUMBER_CHARS:
        raise WireFormatError(f"number longer than {MAX_NUMBER_CHARS} characters: {_shown(text)}")
    if "e" in text or "E" in text:
        cut = max(text.find("e"), text.find("E"))
        if abs(int(text[cut + 1:])) > MAX_EXPONENT:
            raise WireFormatError(f"exponent out of range: {_shown(text)}")
    return text


def _json_number(text: str) -> JsonNumber:
    # _bounded_float inlined for the common case: a short number without an exponent
    if len(text) > 24 or "e" in text or "E" in text:
        _bounded_float(text)
    return JsonNumber(text)


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


_DECODERS: dict[tuple[Callable[[str], Any] | None, bool], json.JSONDecoder] = {}


def _decoder(parse_float: Callable[[str], Any] | None, reject_duplicate_keys: bool) -> json.JSONDecoder:
    """One decoder per hook combination, built once: ``json.loads`` with hooks builds one per call."""
    key = (parse_float, reject_duplicate_keys)
    decoder = _DECODERS.get(key)
    if decoder is None:
        if parse_float is None:
            float_hook: Callable[[str], Any] = _bounded_float
        elif parse_float is JsonNumber:
            float_hook = _json_number
        else:
            def float_hook(text: str, convert: Callable[[str], Any] = parse_float) -> Any:
                return convert(_bounded_float(text))
        decoder = json.JSONDecoder(parse_float=float_hook, parse_int=_bounded_int, parse_constant=_refuse_constant,
                                   object_pairs_hook=_unique_keys if reject_duplicate_keys else None)
        if len(_DECODERS) < 64:  # hooks are module-level functions in practice; never grow unbounded
            _DECODERS[key] = decoder
    return decoder


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
    decoder = _decoder(parse_float, reject_duplicate_keys)
    try:
        value = decoder.decode(text)
    except RecursionError:
        raise WireFormatError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise WireFormatError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError as exc:  # WireFormatError from a hook, or int()'s digit limit
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(f"invalid JSON: {exc}") from None
    # counting brackets (C speed) rules out deep nesting for almost every message without a walk
    if (isinstance(value, (dict, list)) and text.count("[") + text.count("{") > max_depth
            and _depth_exceeds(value, max_depth)):
        raise WireFormatError(f"JSON nested deeper than {max_depth}")
    return value


# ---------------------------------------------------------------------------------------------
# what a stream does with frames it cannot read
# ---------------------------------------------------------------------------------------------


class GuardVerdict(NamedTuple):
    """What to do about one malformed frame (see :meth:`MalformedFrameGuard.record`)."""

    log: bool
    "Log this frame (False once ``log_limit`` frames were logged in the current window)."
    resync: bool
    "This frame reached ``resync_after`` in the window: mark the venue stale and resynchronise."
    suppressed: int
    "Frames of the previous window that were not logged (report the number once, now)."


class MalformedFrameGuard:
    """What a live stream does with the frames it cannot read, counted in windows of ``window_s``.

    The stream drops such a frame and calls :meth:`report` with the error and the current time.
    The guard counts it (:attr:`dropped`), passes it to ``on_malformed`` (the log line naming the
    field) at most ``log_limit`` times a window — a flooding venue cannot flood the log; the
    number left unlogged is logged once when the window ends — and when ``resync_after`` frames
    arrive within one window it calls ``on_stale(detail)`` once: that venue's data can no
    longer be trusted, the stream marks it stale and resynchronises (reconnect, resubscribe,
    fresh snapshots). :meth:`record` is the same decision without the side effects. Time is
    passed in, so the guard works with any clock (trio's, a mock one).
    """

    def __init__(
        self,
        *,
        on_malformed: Callable[[Any], None] = lambda error: None,
        on_stale: Callable[[str], None] = lambda detail: None,
        logger: logging.Logger | None = None,
        resync_after: int = 20,
        window_s: float = 10.0,
        log_limit: int = 5,
    ) -> None:
        if resync_after < 1 or log_limit < 0 or window_s <= 0:
            raise ValueError("resync_after >= 1, log_limit >= 0 and window_s > 0 are required")
        self.resync_after = resync_after
        self.window_s = window_s
        self.log_limit = log_limit
        self.dropped = 0
        "Frames reported since the guard was made."
        self.resyncs = 0
        "Times ``on_stale`` was called."
        self._on_malformed = on_malformed
        self._on_stale = on_stale
        self._log = logger or logging.getLogger(__name__)
        self._window_start: float | None = None
        self._in_window = 0

    def record(self, now: float) -> GuardVerdict:
        """Count one malformed frame seen at ``now`` (seconds, any monotonic clock) and decide."""
        suppressed = 0
        if self._window_start is None or now - self._window_start >= self.window_s:
            suppressed = max(self._in_window - self.log_limit, 0)
            self._window_start = now
            self._in_window = 0
        self._in_window += 1
        self.dropped += 1
        return GuardVerdict(self._in_window <= self.log_limit, self._in_window == self.resync_after, suppressed)

    def report(self, error: Exception, now: float) -> None:
        """One dropped frame: count it, log it within the limit, call ``on_stale`` at the threshold."""
        verdict = self.record(now)
        self._log_suppressed(verdict.suppressed)
        if verdict.log:
            self._on_malformed(error)
        if verdict.resync:
            self.resyncs += 1
            self._on_stale(f"{self.resync_after} malformed frames within {self.window_s:g} s; resynchronising")

    def reset(self) -> None:
        """Start a fresh window (a new connection); logs the count the old one left unlogged."""
        self._log_suppressed(max(self._in_window - self.log_limit, 0))
        self._window_start = None
        self._in_window = 0

    def _log_suppressed(self, count: int) -> None:
        if count:
            self._log.warning("%d more malformed frames were dropped without a log line", count)
