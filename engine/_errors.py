"""The error tree of triotrade.

::

    TriotradeError
    ├── ConfigError            a config file, key or value is wrong (names file, key, expectation)
    ├── DataError              a recorded data set is missing, malformed or inconsistent
    ├── StrategyError          strategy code raised or misused the API
    ├── VenueError             something a venue said or failed to say
    │   ├── AuthFailed         the venue refused our credentials or signature
    │   ├── RateLimited        the venue (or our own bucket) says slow down; carries retry_after_s
    │   ├── VenueRejected      definite venue evidence that a command was refused (code, message)
    │   ├── OutcomeUnknown     the command may or may not have taken effect: reconcile by query
    │   └── MalformedMessage   a venue message could not be parsed into engine events
    └── RiskDenied             the risk module refused a command before it left (typed reason)

Only a definite venue answer becomes :class:`VenueRejected`. Timeouts, connection errors, 5xx, 429
and parse failures after a command was sent become :class:`OutcomeUnknown`. No error's ``repr`` or
message ever contains a secret: venue code maps raw bodies through :func:`redact` first.
"""

from __future__ import annotations

import re

__all__ = [
    "TriotradeError",
    "ConfigError",
    "DataError",
    "StrategyError",
    "VenueError",
    "AuthFailed",
    "RateLimited",
    "VenueRejected",
    "OutcomeUnknown",
    "MalformedMessage",
    "RiskDenied",
    "redact",
]

_SECRET_PATTERNS = [
    re.compile(r"(?i)(signature|secret|api[_-]?key|apikey|x-mbx-apikey|authorization|password)"
               r"([\"']?\s*[:=]\s*[\"']?)([^\"'&\s,}]+)"),
]


def redact(text: str) -> str:
    """Replace values that look like credentials (``signature=…``, ``"secret": …``) with ``***``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return text


class TriotradeError(Exception):
    """Base of every error triotrade raises on purpose."""


class ConfigError(TriotradeError):
    """A configuration file, key or value is invalid.

    The message names the file, the key path and what was expected, so the CLI can print it and
    exit non-zero without a traceback.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ""
        if path and key:
            where = f"{path}: {key}: "
        elif path:
            where = f"{path}: "
        elif key:
            where = f"{key}: "
        super().__init__(where + message)


class DataError(TriotradeError):
    """A recorded data set is missing, malformed or inconsistent with what was asked of it."""


class StrategyError(TriotradeError):
    """Strategy code raised inside a handler or misused the strategy API."""


class VenueError(TriotradeError):
    """Base of everything a venue said, or failed to say."""

    def __init__(self, message: str, *, venue: str = "") -> None:
        self.venue = venue
        super().__init__(redact(f"{venue}: {message}" if venue else message))


class AuthFailed(VenueError):
    """The venue refused our credentials, signature or timestamp (definite; nothing was done)."""


class RateLimited(VenueError):
    """Too many requests. ``retry_after_s`` is the venue's hint (or our estimate).

    On an order command this is *not* a rejection of that order by itself: the gateway reports
    the order UNKNOWN unless the venue's answer proves nothing was done.
    """

    def __init__(self, message: str, *, venue: str = "", retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, venue=venue)


class VenueRejected(VenueError):
    """The venue definitely refused the command, with its own ``code`` and ``message``."""

    def __init__(self, code: int | str, message: str, *, venue: str = "") -> None:
        self.code = code
        self.venue_message = redact(message)
        super().__init__(f"rejected [{code}] {message}", venue=venue)


class OutcomeUnknown(VenueError):
    """The command was (or may have been) sent and its outcome is not known.

    Raised for timeouts, connection errors, 5xx, 429 and unparseable answers after send. The
    order goes to UNKNOWN and is reconciled by query; the command is never resent blindly.
    """


class MalformedMessage(VenueError):
    """A venue message could not be parsed; the message is reported and skipped."""


class RiskDenied(TriotradeError):
    """The risk module refused a command before it left; ``reason`` is a :class:`DenyReason`."""

    def __init__(self, reason: object, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{getattr(reason, 'value', reason)}: {detail}" if detail else str(reason))
