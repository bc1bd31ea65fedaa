"""Magnr's REST client: the kit's steps (:mod:`venues._common.rest`) with Magnr's four endpoints.

Steps of every signed request: rate-limit scope → tonce (the venue clock estimate, strictly
increasing: :class:`~venues._common.nonce.NonceSource`) → signer → transport → outcome mapping
(:func:`raise_for_response`) → clock update from the answer's ``Date`` header (Magnr has no time
endpoint). A 401 that refuses the tonce is a :class:`ClockRejected`: the clock estimate is rebuilt
from that answer and the request signed again once with a new tonce.

The underlying exchanges' tickers are public: :class:`TickerClient`, one transport per host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from engine import AuthFailed, OutcomeUnknown, VenueError, VenueRejected
from risk import RateLimiter, RateLimitSpec, ServerClock
from venues._common.credentials import Credentials, UnsignedRequest
from venues._common.rest import (
    TRANSPORT_ERRORS, ClockRejected, HttpxTransport, RawResponse, Transport, decode_body, excerpt,
    raise_for_throttle_or_failure, raise_for_transport, resign_once
)

from .constants import TRADES_PATH, VENUE
from .parsers import F, parse_errors
from .schemas import dumps_body, loads
from .signer import MagnrSigner
from venues._common.nonce import NonceSource

__all__ = ["MagnrRest", "TickerClient", "raise_for_response"]

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def _tonce_refused(messages: list[str]) -> bool:
    return any("tonce" in m.lower() for m in messages)


def raise_for_response(response: RawResponse, *, what: str, command: bool) -> Any:
    """The decoded answer, or Magnr's error for it (the one place answers become errors).

    400/404/409 are definite refusals (:class:`~engine.VenueRejected` with the HTTP status as its
    code); 401 is :class:`~engine.AuthFailed` (:class:`ClockRejected` when the tonce was refused);
    429 and 5xx (500, 504) are :class:`~engine.RateLimited` / :class:`~engine.VenueError` for a
    read and :class:`~engine.OutcomeUnknown` for a command, as is an unreadable answer.
    """
    raise_for_throttle_or_failure(response, what=what, command=command, venue=VENUE)
    decoded, bad = decode_body(response.body, loads)
    if bad is not None:
        malformed = F.malformed(what, f"answer is not JSON: {excerpt(response.body)!r}")
        if command and response.status < 400:
            raise OutcomeUnknown(f"{what}: unreadable answer after send", venue=VENUE) from malformed
        raise malformed from bad
    messages = parse_errors(decoded)
    if response.status == 401:
        if _tonce_refused(messages):
            raise ClockRejected(f"{what}: tonce refused: {'; '.join(messages)}", venue=VENUE)
        raise AuthFailed(f"{what}: authentication failed", venue=VENUE)
    if response.status >= 400:
        text = "; ".join(messages) if messages else excerpt(response.body)
        raise VenueRejected(response.status, text, venue=VENUE)
    if response.status >= 300:
        raise F.malformed(what, f"unexpected HTTP {response.status}")
    if decoded is None and command:
        raise OutcomeUnknown(f"{what}: empty answer after send", venue=VENUE)
    return decoded


class MagnrRest:
    """Signed calls to Magnr (``GET/POST /api/v1/trades/``, ``GET/DELETE /api/v1/trades/:id/``)."""

    def __init__(self, base_url: str, *, credentials: Credentials, timeout_s: float = 10.0,
                 tonce_file: Any = None, requests_per_window: int = 60, window_s: float = 10.0,
                 max_wait_s: float = 10.0, transport: Transport | None = None,
                 http: httpx.AsyncBaseTransport | None = None) -> None:
        self.credentials = credentials
        self._signer = MagnrSigner()
        self._transport = transport or HttpxTransport(base_url, timeout_s=timeout_s, transport=http)
        self.limiter = RateLimiter([RateLimitSpec("requests", requests_per_window, window_s)],
                                   max_wait_s=max_wait_s, name=f"{VENUE} requests")
        self.clock = ServerClock(name=VENUE)
        self.tonces = NonceSource(self.clock.server_now_ms, tonce_file)
        self.requests_sent = 0

    async def aclose(self) -> None:
        """Close the transport."""
        await self._transport.aclose()

    async def request(self, method: str, path: str, *, body: bytes = b"", command: bool = False) -> Any:
        """One signed request; the decoded answer or the mapped error (one re-sign after a refused tonce)."""
        what = f"{method} {path}"
        headers = _JSON if body else {"Accept": "application/json"}

        async def attempt() -> Any:
            await self.limiter.acquire({"requests": 1})  # 1. a wait must not age the tonce
            tonce = self.tonces.next()  # 2.
            wire = self._signer.sign(self.credentials, UnsignedRequest(method, path, "", body, headers), tonce)  # 3.
            sent = self.clock.local_ns()
            self.requests_sent += 1
            try:
                raw = await self._transport.send(method, wire.path, wire.headers, wire.body)  # 4.
            except TRANSPORT_ERRORS as e:
                raise_for_transport(e, what=what, command=command, venue=VENUE)
            received = self.clock.local_ns()
            try:
                return raise_for_response(raw, what=what, command=command)  # 5.
            except ClockRejected:
                self.clock.forget()  # what the venue said before is suspect; this answer's Date is not
                raise
            finally:
                date = raw.headers.get("date")  # 6.
                if date:
                    self.clock.observe_date_header(sent, date, received)

        return await resign_once(attempt, _nothing, what=what)

    # -- endpoints ---------------------------------------------------------------------------
    async def create_trade(self, fields: Mapping[str, Any]) -> Any:
        """``POST /api/v1/trades/`` (a command) → ``{"id"}``."""
        return await self.request("POST", TRADES_PATH, body=dumps_body(fields), command=True)

    async def trades(self) -> Any:
        """``GET /api/v1/trades/`` → ``{"trades": [...]}``."""
        return await self.request("GET", TRADES_PATH)

    async def trade(self, trade_id: str) -> Any:
        """``GET /api/v1/trades/:id/`` → ``{"trade": {...}}``."""
        return await self.request("GET", f"{TRADES_PATH}{trade_id}/")

    async def close_trade(self, trade_id: str) -> Any:
        """``DELETE /api/v1/trades/:id/`` (a command) → ``{"id"}``."""
        return await self.request("DELETE", f"{TRADES_PATH}{trade_id}/", command=True)


async def _nothing() -> None:
    """The resync before the one re-sign: the refused answer's ``Date`` already reset the clock."""


class TickerClient:
    """Public tickers of the underlying exchanges: ``get(exchange, path)``, one transport per host."""

    def __init__(self, hosts: Mapping[str, str], *, timeout_s: float = 10.0,
                 http: httpx.AsyncBaseTransport | None = None) -> None:
        self._transports = {exchange: HttpxTransport(url, timeout_s=timeout_s, transport=http)
                            for exchange, url in hosts.items()}

    async def get(self, exchange: str, path: str) -> Any:
        """The decoded ticker (a read: failures are :class:`~engine.VenueError`, garbage is malformed)."""
        what = f"{exchange} ticker"
        transport = self._transports[exchange]
        try:
            raw = await transport.send("GET", path, {"Accept": "application/json"}, b"")
        except TRANSPORT_ERRORS as e:
            raise_for_transport(e, what=what, command=False, venue=VENUE)
        raise_for_throttle_or_failure(raw, what=what, command=False, venue=VENUE)
        if raw.status != 200:
            raise VenueError(f"{what}: HTTP {raw.status} {excerpt(raw.body)}", venue=VENUE)
        decoded, bad = decode_body(raw.body, loads)
        if bad is not None or decoded is None:
            raise F.malformed(what, f"answer is not JSON: {excerpt(raw.body)!r}")
        return decoded

    async def aclose(self) -> None:
        """Close every host's connections."""
        for transport in self._transports.values():
            await transport.aclose()
