"""REST client: the kit's steps (:mod:`venues._common.rest`) with this venue's endpoints and errors.

TEMPLATE: add the venue's endpoints as methods; keep every answer → error decision in
:func:`raise_for_response` (a definite rejection is :class:`~engine.VenueRejected`; for an order
command everything not definite is :class:`~engine.OutcomeUnknown`, never resent).
"""

from __future__ import annotations

from typing import Any

import httpx

from engine import AuthFailed, OutcomeUnknown, RateLimited, VenueError, VenueRejected
from risk import RateLimiter, RateLimitSpec, ServerClock
from venues._common.credentials import Credentials, UnsignedRequest
from venues._common.rest import (
    TRANSPORT_ERRORS,
    ClockRejected,
    HttpxTransport,
    RawResponse,
    Transport,
    excerpt,
    raise_for_transport,
    resign_once,
    retry_after,
)

from .constants import VENUE, ErrorCode
from .parsers import F
from .schemas import loads
from .signer import TemplateSigner

__all__ = ["TemplateRest", "raise_for_response"]


def raise_for_response(response: RawResponse, *, what: str, command: bool) -> Any:
    """The decoded answer, or the venue's error for it (the one place answers become errors)."""
    try:
        decoded: Any = loads(response.body) if response.body else None
    except ValueError as e:
        bad = F.malformed(what, f"answer is not JSON: {excerpt(response.body)!r}")
        if command:
            raise OutcomeUnknown(f"{what}: unreadable answer after send", venue=VENUE) from bad
        raise bad from e
    code = decoded.get("code") if isinstance(decoded, dict) else None
    if response.status == 429 or code == ErrorCode.RATE_LIMITED:
        limited = RateLimited(f"{what}: rate limited", venue=VENUE, retry_after_s=retry_after(response.headers, 1.0))
        if command:
            raise OutcomeUnknown(f"{what}: rate limited; the order may or may not have been taken",
                                 venue=VENUE) from limited
        raise limited
    if response.status >= 500:
        failure = VenueError(f"{what}: HTTP {response.status} {excerpt(response.body)}", venue=VENUE)
        if command:
            raise OutcomeUnknown(f"{what}: HTTP {response.status}: outcome unknown", venue=VENUE) from failure
        raise failure
    if response.status >= 400:
        if code == ErrorCode.TIMESTAMP_OUTSIDE_WINDOW:
            raise ClockRejected(f"{what}: [{code}] timestamp outside the window", venue=VENUE)
        if code == ErrorCode.AUTHENTICATION_FAILED or response.status == 401:
            raise AuthFailed(f"{what}: authentication failed", venue=VENUE)
        raise VenueRejected(code if isinstance(code, int) else response.status, excerpt(response.body), venue=VENUE)
    return decoded


class TemplateRest:
    """Signed REST calls: scope → timestamp → signer → transport → outcome → clock, one re-sign."""

    def __init__(self, base_url: str, *, credentials: Credentials, timeout_s: float = 10.0,
                 transport: Transport | None = None, limiter: RateLimiter | None = None,
                 clock: ServerClock | None = None, http: httpx.AsyncBaseTransport | None = None) -> None:
        self._credentials = credentials
        self._signer = TemplateSigner()
        self._transport = transport or HttpxTransport(base_url, timeout_s=timeout_s, transport=http)
        self.limiter = limiter or RateLimiter([RateLimitSpec("requests", 10, 1.0)], name=f"{VENUE} requests")
        self.clock = clock or ServerClock(name=VENUE)

    async def aclose(self) -> None:
        """Close the transport."""
        await self._transport.aclose()

    async def request(self, method: str, path: str, *, query: str = "", body: bytes = b"",
                      command: bool = False) -> Any:
        """One signed request; returns the decoded answer or raises the mapped error."""
        what = f"{method} {path}"

        async def attempt() -> Any:
            await self.limiter.acquire({"requests": 1})  # 1. scope first: a wait must not age the signature
            timestamp = self.clock.server_now_ms()  # 2.
            wire = self._signer.sign(self._credentials, UnsignedRequest(method, path, query, body), timestamp)  # 3.
            target = f"{wire.path}?{wire.query}" if wire.query else wire.path
            try:
                raw = await self._transport.send(method, target, wire.headers, wire.body)  # 4.
            except TRANSPORT_ERRORS as e:
                raise_for_transport(e, what=what, command=command, venue=VENUE)
            return raise_for_response(raw, what=what, command=command)  # 5. (6.: feed self.clock from answers)

        return await resign_once(attempt, self.sync_time, what=what)

    async def sync_time(self) -> None:
        """Measure the venue's clock: ``GET /v1/time`` → ``{"server_time_ms": …}`` (TEMPLATE: its path)."""
        sent = self.clock.local_ns()
        try:
            raw = await self._transport.send("GET", "/v1/time", {}, b"")
        except TRANSPORT_ERRORS as e:
            raise_for_transport(e, what="GET /v1/time", command=False, venue=VENUE)
        received = self.clock.local_ns()
        answer = F.as_object(raise_for_response(raw, what="GET /v1/time", command=False), "time")
        self.clock.observe(sent, F.integer(answer, "server_time_ms", "time"), received)
