"""Coinpit REST client: the kit's steps (:mod:`venues._common.rest`) with the venue's paths and errors.

Start: ``GET /api/v1/auth/:publicKey`` (unsigned) gives ``serverPublicKey`` and ``userid``; from
then on each protected request: rate-limit scope → nonce (the venue's clock as
:class:`risk.ServerClock` estimates it, from ``Server-Time``) →
:class:`~venues.coinpit.signer.CoinpitSigner` → transport → :func:`raise_for_response` → clock
update. A 401 saying the nonce is stale is definite (nothing was done): ``OPTIONS`` recalibrates
and the request is signed once more (the Node SDK's ``401 → OPTIONS → retry``).

==========================================  ==============================================
what happened                               raised
==========================================  ==============================================
401 ``… Nonce … stale by …ms``              :class:`ClockRejected` (recalibrated, signed again once)
401 otherwise                               :class:`~engine.AuthFailed`
400, 404, 422, 503 read-only maintenance    :class:`~engine.VenueRejected` (the HTTP status as code)
429                                         :class:`~engine.RateLimited`
5xx, 408/409/425, timeout, connection       :class:`~engine.VenueError`
unreadable answer                           :class:`~engine.MalformedMessage`
==========================================  ==============================================

For an order command the last three rows are :class:`~engine.OutcomeUnknown` (found by query,
never resent).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from engine import AuthFailed, OutcomeUnknown, RateLimited, VenueError, VenueRejected, wire_int
from risk import RateLimiter, RateLimitSpec, ServerClock
from venues._common.credentials import Credentials, UnsignedRequest
from venues._common.errors import UNKNOWN_OUTCOME_STATUSES
from venues._common.jsjson import js_dumps
from venues._common.rest import (TRANSPORT_ERRORS, ClockRejected, HttpxTransport, RawResponse, Transport, decode_body,
                                 excerpt, raise_for_transport, resign_once, retry_after)

from .constants import API_BASE, READONLY_MESSAGE, SERVER_TIME_HEADER, VENUE
from .parsers import F, loads
from .signer import CoinpitSigner

__all__ = ["CoinpitRest", "raise_for_response"]

log = logging.getLogger("venues.coinpit.rest")

_CALIBRATING = frozenset({"PUT", "POST", "DELETE", "OPTIONS", "PATCH"})


def raise_for_response(response: RawResponse, *, what: str, command: bool) -> Any:
    """The decoded answer, or the venue's error for it (the one place answers become errors)."""
    decoded, parse_error = decode_body(response.body, loads)
    message = decoded.get("error") if isinstance(decoded, dict) else None
    text = str(message) if message is not None else excerpt(response.body)
    status = response.status
    if status == 429:
        limited = RateLimited(f"{what}: rate limited", venue=VENUE, retry_after_s=retry_after(response.headers, 1.0))
        if command:
            raise OutcomeUnknown(f"{what}: rate limited (429); the order may or may not have been taken",
                                 venue=VENUE) from limited
        raise limited
    if status == 503 and text == READONLY_MESSAGE:  # maintenance: refused, nothing was done
        raise VenueRejected(status, text, venue=VENUE)
    if status >= 500 or status in UNKNOWN_OUTCOME_STATUSES:
        failure = VenueError(f"{what}: HTTP {status} {excerpt(response.body)}", venue=VENUE)
        if command:
            raise OutcomeUnknown(f"{what}: HTTP {status}: outcome unknown", venue=VENUE) from failure
        raise failure
    if status == 401:
        if "Nonce" in text and "stale" in text:
            raise ClockRejected(f"{what}: {text}", venue=VENUE)
        raise AuthFailed(f"{what}: {text}", venue=VENUE)
    if status >= 400:
        raise VenueRejected(status, text, venue=VENUE)
    if parse_error is not None or decoded is None:
        bad = F.malformed(what, f"answer is not JSON: {excerpt(response.body)!r}")
        if command:
            raise OutcomeUnknown(f"{what}: unreadable answer after send", venue=VENUE) from bad
        raise bad from parse_error
    return decoded


class CoinpitRest:
    """Signed REST calls under ``/api/v1`` (the signer is set by :meth:`handshake`)."""

    def __init__(self, base_url: str, *, credentials: Credentials | None, public_key: str, timeout_s: float = 10.0,
                 transport: Transport | None = None, limiter: RateLimiter | None = None,
                 http: httpx.AsyncBaseTransport | None = None) -> None:
        self.credentials = credentials
        self.public_key = public_key
        self.signer: CoinpitSigner | None = None
        self._transport = transport or HttpxTransport(base_url, timeout_s=timeout_s, transport=http)
        self.limiter = limiter or RateLimiter([RateLimitSpec("requests", 10, 1.0)], max_wait_s=10.0, name=VENUE)
        self.clock = ServerClock(name=VENUE)
        self.requests_sent = 0
        self.recalibrations = 0

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def handshake(self) -> CoinpitSigner:
        """``GET /auth/:publicKey`` → the signer of this user (its ``userid`` and server key);
        :class:`~engine.AuthFailed` for a key the venue has not registered."""
        try:
            answer = F.as_object(await self.request("GET", f"/auth/{self.public_key}"), "auth")
        except VenueRejected as e:
            if e.code in (400, 404):  # the venue knows no such user: no retry can cure it
                raise AuthFailed(f"GET /auth: the public key is not registered ({e})", venue=VENUE) from None
            raise
        self.signer = CoinpitSigner(F.string(answer, "userid", "auth"), F.string(answer, "serverPublicKey", "auth"))
        return self.signer

    async def request(self, method: str, path: str, *, query: str = "", body: Any = None, auth: bool = False,
                      command: bool = False) -> Any:
        """One request to ``/api/v1<path>``; the decoded answer or the mapped error."""
        what = f"{method} {path}"
        payload = js_dumps(body).encode("utf-8") if body is not None else b""

        async def attempt() -> Any:
            await self.limiter.acquire({"requests": 1})
            headers = {"Content-Type": "application/json"} if payload else {}
            if auth:
                if self.credentials is None or self.signer is None:
                    raise AuthFailed(f"{what} needs a private key; none is configured", venue=VENUE)
                wire = self.signer.sign(self.credentials, UnsignedRequest(method, API_BASE + path, query, payload,
                                                                          headers), self.clock.server_now_ms())
                headers = dict(wire.headers)
            return await self._exchange(method, path, query, payload, headers, what=what, command=command)

        return await resign_once(attempt, self.calibrate, what=what, logger=log)

    async def _exchange(self, method: str, path: str, query: str, payload: bytes, headers: dict[str, str], *,
                        what: str, command: bool) -> Any:
        target = API_BASE + path + (f"?{query}" if query else "")
        self.requests_sent += 1
        sent = self.clock.local_ns()
        try:
            raw = await self._transport.send(method, target, headers, payload)
        except TRANSPORT_ERRORS as e:
            raise_for_transport(e, what=what, command=command, venue=VENUE)
        if method in _CALIBRATING or not self.clock.synced:
            self._observe(sent, raw)
        try:
            return raise_for_response(raw, what=what, command=command)
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
        """``OPTIONS`` on the API: ``Server-Time`` samples (after a stale-nonce 401, from scratch)."""
        self.recalibrations += 1
        self.clock.forget()
        for _ in range(3):
            sent = self.clock.local_ns()
            try:
                raw = await self._transport.send("OPTIONS", API_BASE + "/order", {}, b"")
            except TRANSPORT_ERRORS as e:
                raise_for_transport(e, what="OPTIONS", command=False, venue=VENUE)
            self._observe(sent, raw)
        if not self.clock.synced:
            raise VenueError("OPTIONS: no Server-Time in the answers", venue=VENUE)
