"""REST client: the kit's steps (:mod:`venues._common.rest`) with this venue's endpoints and errors.

TEMPLATE: add the venue's endpoints as methods; declare every answer → error decision in
``ANSWERS`` (:class:`venues._common.errors.AnswerRules`, the kit's one mapping; a definite rejection is :class:`~engine.VenueRejected`; for an order
command everything not definite is :class:`~engine.OutcomeUnknown`, never resent).
"""

from __future__ import annotations

from typing import Any

import httpx

from risk import RateLimiter, RateLimitSpec, ServerClock
from venues._common.credentials import Credentials, UnsignedRequest
from venues._common.errors import AnswerRules
from venues._common.rest import TRANSPORT_ERRORS, HttpxTransport, Transport, raise_for_transport, resign_once

from .constants import VENUE, ErrorCode
from .parsers import F
from .schemas import loads
from .signer import TemplateSigner

__all__ = ["TemplateRest", "raise_for_response"]


def _error_of(body: object) -> tuple[int, str] | None:
    """TEMPLATE: the venue's error body as ``(code, message)``, else None."""
    if isinstance(body, dict) and type(body.get("code")) is int:
        return body["code"], str(body.get("message", ""))
    return None


ANSWERS = AnswerRules(VENUE, loads, _error_of, clock_codes=frozenset({ErrorCode.TIMESTAMP_OUTSIDE_WINDOW}),
                      auth_codes=frozenset({ErrorCode.AUTHENTICATION_FAILED}),
                      rate_limit_codes=frozenset({ErrorCode.RATE_LIMITED}), auth_statuses=frozenset({401}))
"TEMPLATE: which of the venue's codes and statuses mean what (:class:`venues._common.errors.AnswerRules`)."

raise_for_response = ANSWERS.raise_for_response
"The decoded answer, or the venue's error for it (the one place answers become errors)."


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
