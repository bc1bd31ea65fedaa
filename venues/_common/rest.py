"""The REST plumbing every venue client shares: the transport seam and the outcome rules.

A venue's ``rest.py`` runs each request through the same steps, in this order:

1. **rate-limit scope**: take the request's tokens (waiting at most the limiter's ``max_wait_s``;
   a refusal is a :class:`~engine.RiskDenied`, nothing was sent);
2. **timestamp and window**: the venue-clock time *after* the wait (a wait must not age a
   signature); an order command whose timestamp would miss the venue's window is refused locally;
3. **signer** (sans-I/O, :mod:`venues._common.credentials`): the exact wire parts;
4. **transport** (:class:`Transport`): :class:`HttpxTransport`, or the lean HTTP/1.1 keep-alive
   lane (:class:`venues._common.http11.Http11Lane`); both answer a :class:`RawResponse` or raise
   one of :data:`TRANSPORT_ERRORS`;
5. **outcome mapping**: the venue's ``raise_for_response`` for answers, :func:`raise_for_transport`
   for wire failures: for an order command every non-definite outcome is
   :class:`~engine.OutcomeUnknown` (the order is found by query, never resent);
6. **clock update** from the answer; and after a :class:`ClockRejected` answer (definite: nothing
   was done) one resync and **one** re-signed attempt (:func:`resign_once`), never more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NoReturn, Protocol, TypeVar

import httpx
import trio

from engine import AuthFailed, OutcomeUnknown, RateLimited, VenueError, redact, wire_seconds

__all__ = ["ClockRejected", "HttpxTransport", "RawResponse", "StreamWrapper", "TRANSPORT_ERRORS", "Transport",
           "TransportFailure", "decode_body", "excerpt", "raise_for_throttle_or_failure", "raise_for_transport",
           "resign_once", "retry_after"]

T = TypeVar("T")

StreamWrapper = Callable[[trio.abc.Stream], trio.abc.Stream]
"Wraps a freshly connected byte stream (benchmarks hook the socket writes through it)."


class ClockRejected(AuthFailed):
    """The venue refused our timestamp (outside its window, or ahead of its clock).

    Definite (nothing was done). The client resyncs its clock and signs the request again once.
    """


class RawResponse:
    """Status, lower-case headers and body of one HTTP answer (whichever transport carried it)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class TransportFailure(Exception):
    """The request could not be completed on the wire (``sent`` says whether bytes had left)."""

    def __init__(self, message: str, *, sent: bool, timeout: bool = False) -> None:
        self.sent = sent
        self.timeout = timeout
        super().__init__(message)


TRANSPORT_ERRORS: tuple[type[Exception], ...] = (TransportFailure, httpx.TransportError)
"What a :class:`Transport` raises when no answer came: map it with :func:`raise_for_transport`."


class Transport(Protocol):
    """Carries one request's exact bytes and returns the venue's answer; no retries, no mapping."""

    async def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> RawResponse:
        """``target`` is the path from the host's root with its ``?query``; ``headers`` are complete
        but for Host, User-Agent and Content-Length. Raises one of :data:`TRANSPORT_ERRORS`."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


class HttpxTransport:
    """:class:`Transport` on an ``httpx.AsyncClient`` (``transport``: e.g. ``httpx.MockTransport``)."""

    def __init__(self, base_url: str, *, timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport,
                                        headers={"User-Agent": "triotrade"})

    async def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> RawResponse:
        """One request; httpx's own ``TransportError`` passes through (it is the mapped error's cause)."""
        response = await self.client.request(method, target, content=body or None, headers=headers)
        return RawResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                           response.content)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()


def decode_body(body: bytes, loads: Callable[[bytes], Any]) -> tuple[Any, Exception | None]:
    """``(decoded, None)``, ``(None, None)`` for an empty body, or ``(None, error)`` if it is not JSON."""
    if not body:
        return None, None
    try:
        return loads(body), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, e


def retry_after(headers: Mapping[str, str], default: float) -> float:
    """The answer's ``Retry-After`` in seconds (bounded, see :func:`engine.wire_seconds`), else ``default``."""
    seconds = wire_seconds(headers.get("retry-after"))
    return default if seconds is None else seconds


def excerpt(body: bytes, limit: int = 200) -> str:
    """The start of an answer's body as an error may quote it (secrets redacted)."""
    text = body[:limit].decode("utf-8", "replace")
    return redact(text + ("…" if len(body) > limit else ""))


def raise_for_throttle_or_failure(response: RawResponse, *, what: str, command: bool, venue: str) -> None:
    """The rule for a 429 and a 5xx answer (returns for anything else).

    A read raises :class:`~engine.RateLimited` (with the answer's ``Retry-After``) or
    :class:`~engine.VenueError`; an order command raises :class:`~engine.OutcomeUnknown` from it.
    """
    if response.status == 429:
        limited = RateLimited(f"{what}: rate limited", venue=venue, retry_after_s=retry_after(response.headers, 1.0))
        if command:
            raise OutcomeUnknown(f"{what}: rate limited; the order may or may not have been taken",
                                 venue=venue) from limited
        raise limited
    if response.status >= 500:
        failure = VenueError(f"{what}: HTTP {response.status} {excerpt(response.body)}", venue=venue)
        if command:
            raise OutcomeUnknown(f"{what}: HTTP {response.status}: outcome unknown", venue=venue) from failure
        raise failure


def raise_for_transport(failure: BaseException, *, what: str, command: bool, venue: str) -> NoReturn:
    """Map a timeout or connection failure (always raises, ``from failure``).

    A read is a :class:`~engine.VenueError`; an order command is :class:`~engine.OutcomeUnknown`
    (the request may have been executed): the message says whether bytes had left.
    """
    timed_out = isinstance(failure, (httpx.TimeoutException, trio.TooSlowError)) or getattr(failure, "timeout", False)
    kind = "timed out" if timed_out else "connection failed"
    detail = f"{what}: {kind} ({type(failure).__name__}: {redact(str(failure))})"
    if command:
        where = "after the request was sent" if getattr(failure, "sent", True) else "before the request was complete"
        raise OutcomeUnknown(f"{what}: {kind} {where}; the order may or may not have been taken",
                             venue=venue) from failure
    raise VenueError(detail, venue=venue) from failure


async def resign_once(attempt: Callable[[], Awaitable[T]], resync: Callable[[], Awaitable[Any]], *,
                      what: str, logger: logging.Logger | None = None) -> T:
    """``attempt()`` (scope → timestamp → sign → send → map); after a :class:`ClockRejected`,
    ``resync()`` the clock and run ``attempt()`` once more. A second rejection is raised."""
    try:
        return await attempt()
    except ClockRejected:
        if logger is not None:
            logger.warning("%s: the venue refused our timestamp; resyncing the clock and signing again", what)
        await resync()
    return await attempt()
