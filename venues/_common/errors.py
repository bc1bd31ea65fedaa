"""How a venue's REST answers become errors: one set of rules, each venue's codes as data.

A venue declares its :class:`AnswerRules` (which error codes mean a refused clock, refused
credentials or a rate limit; which HTTP statuses are rate limits; what a success body looks like)
and its ``rest.py`` exports ``raise_for_response = RULES.raise_for_response``. The checks, in
order, for every venue:

1. **rate limited**: a status of ``rate_limit_statuses`` or a code of ``rate_limit_codes`` →
   :class:`~engine.RateLimited` (``retry_after_s`` from ``Retry-After``, else the status's default);
2. **5xx** → :class:`~engine.VenueError`;
3. **the venue's error body** in a 4xx answer (or in any answer, where ``error_in_ok`` says the
   code is an error there too): ``clock_codes`` → :class:`~venues._common.rest.ClockRejected`,
   ``auth_codes`` → :class:`~engine.AuthFailed`, any other code → :class:`~engine.VenueRejected`;
4. **other 4xx**: 408/409/425 as a 5xx (the venue may have acted), ``auth_statuses`` →
   :class:`~engine.AuthFailed`, else :class:`~engine.VenueRejected` with the status as its code;
5. **unreadable** (not JSON, no body where one is due, or ``check_body`` names a problem) →
   :class:`~engine.MalformedMessage`.

For an order command (``command=True``) every outcome of 1, 2, 4's first case and 5 is
:class:`~engine.OutcomeUnknown` instead (``raise ... from`` the original): the request may have
been executed, so the order is found by query and never resent. 3 and the rest of 4 are definite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from engine import AuthFailed, OutcomeUnknown, RateLimited, VenueError, VenueRejected

from .fields import FieldReader
from .rest import ClockRejected, RawResponse, decode_body, excerpt, retry_after

__all__ = ["AnswerRules", "UNKNOWN_OUTCOME_STATUSES"]

UNKNOWN_OUTCOME_STATUSES = frozenset({408, 409, 425})
"4xx statuses after which the venue may still have acted (treated as a 5xx)."

_RATE_LIMITED_429: Mapping[int, tuple[str, float]] = MappingProxyType({429: ("rate limited (429)", 1.0)})


@attrs.frozen
class AnswerRules:
    """One venue's answer rules (see the module doc for the order they apply in).

    ``loads`` decodes a body, ``error_of`` reads the venue's error body as ``(code, message)``
    (None if it is not one); ``rate_limit_statuses`` maps a status to how errors name it and the
    default ``retry_after_s``.
    """

    venue: str
    loads: Callable[[bytes], Any]
    error_of: Callable[[object], tuple[int, str] | None]
    clock_codes: frozenset[int] = frozenset()
    "Codes meaning our timestamp was refused (definite: resync, sign again once)."
    auth_codes: frozenset[int] = frozenset()
    "Codes meaning our key or signature was refused."
    rate_limit_codes: frozenset[int] = frozenset()
    "Codes meaning a rate limit, in any answer."
    rate_limit_statuses: Mapping[int, tuple[str, float]] = _RATE_LIMITED_429
    auth_statuses: frozenset[int] = frozenset()
    "4xx statuses meaning refused credentials even without an error body."
    error_in_ok: Callable[[int], bool] | None = None
    "Whether an error code is an error in a 2xx/3xx answer too (None: never)."
    check_body: Callable[[Any], str | None] | None = None
    "The problem with a decoded success body, or None if it is one (None: any JSON is)."

    def raise_for_response(self, response: RawResponse, *, what: str, command: bool) -> Any:
        """Decode a venue answer or raise the mapped error; ``command`` for order commands."""
        status, body, venue = response.status, response.body, self.venue
        decoded, parse_error = decode_body(body, self.loads)
        coded = self.error_of(decoded)

        limit = self.rate_limit_statuses.get(status)
        if limit is not None or (coded is not None and coded[0] in self.rate_limit_codes):
            kind, default_s = limit or (f"rate limited ({status})", 1.0)
            limited = RateLimited(f"{what}: {kind}", venue=venue, retry_after_s=retry_after(response.headers, default_s))
            if command:
                raise OutcomeUnknown(f"{what}: {kind}; the order may or may not have been taken", venue=venue) from limited
            raise limited

        if status >= 500:
            failure = VenueError(f"{what}: HTTP {status} {excerpt(body)}", venue=venue)
            if command:
                raise OutcomeUnknown(f"{what}: HTTP {status}: execution status unknown", venue=venue) from failure
            raise failure

        if coded is not None and (status >= 400 or (self.error_in_ok is not None and self.error_in_ok(coded[0]))):
            code, message = coded
            if code in self.clock_codes:
                raise ClockRejected(f"{what}: [{code}] {message}", venue=venue)
            if code in self.auth_codes:
                raise AuthFailed(f"{what}: [{code}] {message}", venue=venue)
            raise VenueRejected(code, message, venue=venue)

        if status >= 400:
            if status in UNKNOWN_OUTCOME_STATUSES:
                failure = VenueError(f"{what}: HTTP {status} {excerpt(body)}", venue=venue)
                if command:
                    raise OutcomeUnknown(f"{what}: HTTP {status}: execution status unknown", venue=venue) from failure
                raise failure
            if status in self.auth_statuses:
                raise AuthFailed(f"{what}: HTTP {status} {excerpt(body)}", venue=venue)
            raise VenueRejected(status, f"HTTP {status} {excerpt(body)}", venue=venue)

        problem: str | None = None
        if parse_error is not None or (decoded is None and status != 204):
            problem = f"answer is not JSON: {excerpt(body)!r}"
        elif self.check_body is not None:
            problem = self.check_body(decoded)
        if problem is not None:
            bad = FieldReader(venue).malformed(what, problem, decoded)
            if command:
                raise OutcomeUnknown(f"{what}: unreadable answer after send", venue=venue) from bad
            raise bad from parse_error
        return decoded
