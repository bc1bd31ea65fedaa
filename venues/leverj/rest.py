"""Leverj REST client: the kit's steps (:mod:`venues._common.rest`) with the venue's paths and errors.

Each request: rate-limit scope → nonce (the venue's clock as :class:`risk.ServerClock` estimates
it, calibrated from ``Server-Time``) → :class:`~venues.leverj.signer.LeverjSigner` → transport →
:func:`raise_for_response` → clock update. A 401 that says the nonce is stale is definite
(nothing was done): the client sends ``OPTIONS`` to the same path, recalibrates and signs the
request once more (zka's ``401 → OPTIONS → retry``), also for an order command; every other
answer is mapped once:

==========================================  ==============================================
what happened                               raised
==========================================  ==============================================
401 ``… Nonce … stale by …ms``              :class:`ClockRejected` (recalibrated, signed again once)
401 otherwise                               :class:`~engine.AuthFailed`
422 ``M_INV_ORDSIG``, 400, 404              :class:`~engine.VenueRejected` (the HTTP status as code)
429                                         :class:`~engine.RateLimited`
5xx, 408/409/425, timeout, connection       :class:`~engine.VenueError`
unreadable answer                           :class:`~engine.MalformedMessage`
==========================================  ==============================================

For an order command the last three rows are :class:`~engine.OutcomeUnknown` (found by query,
never resent). The venue's errors carry no codes (a message, the HTTP status), so the kit's
:class:`~venues._common.errors.AnswerRules`, which maps codes, is not used: its order of checks is.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from engine import AuthFailed, OutcomeUnknown, RateLimited, VenueError, VenueRejected, wire_int
from risk import RateLimiter, RateLimitSpec, ServerClock
from venues._common.credentials import Credentials, UnsignedRequest
from venues._common.errors import UNKNOWN_OUTCOME_STATUSES
from venues._common.rest import (
    TRANSPORT_ERRORS,
    ClockRejected,
    HttpxTransport,
    RawResponse,
    Transport,
    decode_body,
    excerpt,
    raise_for_transport,
    resign_once,
    retry_after,
)

from .constants import SERVER_TIME_HEADER, VENUE, AuthType, api_base
from .parsers import F
from .schemas import dumps, loads
from .signer import LeverjSigner

__all__ = ["LeverjRest", "raise_for_response"]

log = logging.getLogger("venues.leverj.rest")

_CALIBRATING = frozenset({"PUT", "POST", "DELETE", "OPTIONS", "PATCH"})


def raise_for_response(response: RawResponse, *, what: str, command: bool, venue: str = VENUE) -> Any:
    """The decoded answer, or the venue's error for it (the one place answers become errors)."""
    decoded, parse_error = decode_body(response.body, loads)
    message = decoded.get("error") if isinstance(decoded, dict) else None
    text = str(message) if message is not None else excerpt(response.body)
    status = response.status
    if status == 429:
        limited = RateLimited(f"{what}: rate limited", venue=venue, retry_after_s=retry_after(response.headers, 1.0))
        if command:
            raise OutcomeUnknown(f"{what}: rate limited (429); the order may or may not have been taken",
                                 venue=venue) from limited
        raise limited
    if status >= 500 or status in UNKNOWN_OUTCOME_STATUSES:
        failure = VenueError(f"{what}: HTTP {status} {excerpt(response.body)}", venue=venue)
        if command:
            raise OutcomeUnknown(f"{what}: HTTP {status}: outcome unknown", venue=venue) from failure
        raise failure
    if status == 401:
        if "Nonce" in text and "stale" in text:
            raise ClockRejected(f"{what}: {text}", venue=venue)
        raise AuthFailed(f"{what}: {text}", venue=venue)
    if status >= 400:
        raise VenueRejected(status, text, venue=venue)
    if parse_error is not None or decoded is None:
        bad = F.malformed(what, f"answer is not JSON: {excerpt(response.body)!r}")
        if command:
            raise OutcomeUnknown(f"{what}: unreadable answer after send", venue=venue) from bad
        raise bad from parse_error
    return decoded


class LeverjRest:
    """Signed REST calls to one market (``/<market>/api/v1``), one recalibration after a stale nonce."""

    def __init__(self, host_url: str, market: str, *, credentials: Credentials | None, account_id: str,
                 auth_type: AuthType = AuthType.NONCE, timeout_s: float = 10.0, transport: Transport | None = None,
                 limiter: RateLimiter | None = None, clock: ServerClock | None = None,
                 http: httpx.AsyncBaseTransport | None = None, max_rate_wait_s: float = 10.0,
                 venue: str = VENUE) -> None:
        self.market = market
        self.venue = venue
        "The name errors carry (one per market: ``leverj-futures``)."
        self.base = api_base(market)
        self.credentials = credentials
        self.signer = LeverjSigner(account_id, self.base, auth_type)
        self._transport = transport or HttpxTransport(host_url, timeout_s=timeout_s, transport=http)
        self.limiter = limiter or RateLimiter([RateLimitSpec("requests", 10, 1.0)], max_wait_s=max_rate_wait_s,
                                              name=f"{VENUE} {market}")
        self.clock = clock or ServerClock(name=f"{VENUE} {market}")
        self.requests_sent = 0
        self.recalibrations = 0

    async def aclose(self) -> None:
        """Close the transport."""
        await self._transport.aclose()

    async def request(self, method: str, path: str, *, query: str = "", body: Any = None, auth: bool = False,
                      command: bool = False) -> Any:
        """One request to ``<base><path>``; the decoded answer or the mapped error."""
        what = f"{method} {path}"
        payload = dumps(body) if body is not None else b""

        async def attempt() -> Any:
            await self.limiter.acquire({"requests": 1})
            headers = {"Content-Type": "application/json"} if payload else {}
            if auth:
                if self.credentials is None:
                    raise AuthFailed(f"{what} needs an api key and its secret; none are configured", venue=self.venue)
                wire = self.signer.sign(self.credentials, UnsignedRequest(method, self.base + path, query, payload,
                                                                          headers), self.clock.server_now_ms())
                headers = dict(wire.headers)
            return await self._exchange(method, path, query, payload, headers, what=what, command=command)

        return await resign_once(attempt, self.calibrate, what=what, logger=log)

    async def _exchange(self, method: str, path: str, query: str, payload: bytes, headers: dict[str, str], *,
                        what: str, command: bool) -> Any:
        target = self.base + path + (f"?{query}" if query else "")
        self.requests_sent += 1
        sent = self.clock.local_ns()
        try:
            raw = await self._transport.send(method, target, headers, payload)
        except TRANSPORT_ERRORS as e:
            raise_for_transport(e, what=what, command=command, venue=self.venue)
        if method in _CALIBRATING or not self.clock.synced:
            self._observe(sent, raw)
        try:
            return raise_for_response(raw, what=what, command=command, venue=self.venue)
        except (RateLimited, OutcomeUnknown) as e:
            limited = e if isinstance(e, RateLimited) else e.__cause__
            if isinstance(limited, RateLimited):
                self.limiter.on_rate_limited(limited.retry_after_s)
            raise

    def _observe(self, sent: int, raw: RawResponse) -> None:
        value = raw.headers.get(SERVER_TIME_HEADER.lower())
        if value is None:
            return
        try:
            server_ms = wire_int(value)
        except ValueError:
            return
        self.clock.observe(sent, server_ms, self.clock.local_ns())

    async def calibrate(self) -> None:
        """``OPTIONS`` on the API: a ``Server-Time`` sample (after a stale-nonce 401, from scratch)."""
        self.recalibrations += 1
        self.clock.forget()
        for _ in range(3):
            sent = self.clock.local_ns()
            try:
                raw = await self._transport.send("OPTIONS", self.base + "/all/config", {}, b"")
            except TRANSPORT_ERRORS as e:
                raise_for_transport(e, what="OPTIONS", command=False, venue=self.venue)
            self._observe(sent, raw)
