"""Ekiden REST client: request → rate-limit scope → sign → send, and the venue's errors in one place.

Layers (like httpx's): :class:`EkidenRest` builds the path, query and JSON body, takes a token from
the request's rate-limit scope (``public`` per client address, ``private`` per API key; each a
:class:`risk.RateLimiter`), signs the exact bytes with :mod:`venues.ekiden.signer` (timestamp =
the server's clock as :class:`risk.ServerClock` estimates it, ISO-8601 with milliseconds), and
sends them on the client's transport (:class:`venues._common.rest.HttpxTransport`, the seam
every venue shares; :mod:`venues._common.rest` gives the steps' order). Every answer passes through :func:`raise_for_response`
and every transport failure through :func:`raise_for_transport`, the only places where the venue's
answers become errors:

=================================================  ==============================================
what happened                                      raised
=================================================  ==============================================
``{"error_code": 2001}`` (authentication failed)   :class:`~engine.AuthFailed` (definite)
``{"error_code": 2002}`` (signature expired)       :class:`ClockRejected` (definite; clock resynced, retried once)
``{"error_code": 2000 / 2004}`` (4xx)              :class:`~engine.VenueRejected` (definite)
other 4xx                                          :class:`~engine.VenueRejected` with the HTTP status as code
429 or ``{"error_code": 2003}``                    :class:`~engine.RateLimited` (``retry_after_s``); scope paused
5xx                                                :class:`~engine.VenueError`
timeout / connection error                         :class:`~engine.VenueError`
unparseable answer, ``success`` not true           :class:`~engine.MalformedMessage`
=================================================  ==============================================

For an **order command** (create, cancel, amend) everything in the last four rows becomes
:class:`~engine.OutcomeUnknown` instead (``raise ... from`` the original): the request may have
been executed, so the order is reconciled by query and never resent. A 2002 answer is definite
(nothing was done), so the command is signed again after a clock resync and sent once more: that
is not a resend of an unknown outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from engine import (AuthFailed, MalformedMessage, OutcomeUnknown, RateLimited, RiskDenied, VenueError,
                    VenueRejected)
from engine import DenyReason
from risk import RateLimiter, RateLimitSpec, ServerClock

from .constants import (DEFAULT_PAGE_LIMIT, PRIVATE_REQUESTS_PER_MIN, PUBLIC_REQUESTS_PER_MIN, RATE_WINDOW_S,
                        TIMESTAMP_WINDOW_MS, VENUE, ErrorCode, Path)
from venues._common.rest import (TRANSPORT_ERRORS, ClockRejected, HttpxTransport, RawResponse, Transport,
                                 raise_for_transport, resign_once)
from venues._common.credentials import UnsignedRequest
from venues._common.errors import AnswerRules

from .parsers import error_of, malformed, parse_server_time, unwrap, unwrap_page
from .schemas import dumps, iso_from_ms, loads
from .signer import Credentials, EkidenSigner

__all__ = ["ClockRejected", "RawResponse", "raise_for_response", "raise_for_transport", "rate_limiters",
           "encode_query", "EkidenRest"]

log = logging.getLogger("venues.ekiden.rest")

_JSON = "application/json"
PUBLIC = "public"
PRIVATE = "private"


def _success_problem(body: Any) -> str | None:
    return None if isinstance(body, dict) and body.get("success") is True else "answer is not a success envelope"


ANSWERS = AnswerRules(VENUE, loads, error_of, clock_codes=frozenset({ErrorCode.SIGNATURE_EXPIRED}),
                      auth_codes=frozenset({ErrorCode.AUTHENTICATION_FAILED}),
                      rate_limit_codes=frozenset({ErrorCode.RATE_LIMIT_EXCEEDED}), auth_statuses=frozenset({401}),
                      check_body=_success_problem)
"""How the venue's answers become errors (:class:`venues._common.errors.AnswerRules`; the module doc's
table); the decoded body is returned whole, the caller unwraps ``data``."""

raise_for_response = ANSWERS.raise_for_response
"Decode an answer's JSON body or raise the mapped error; ``command`` is True for order commands."


def rate_limiters(*, public_per_window: int = PUBLIC_REQUESTS_PER_MIN,
                  private_per_window: int = PRIVATE_REQUESTS_PER_MIN, window_s: float = RATE_WINDOW_S,
                  max_wait_s: float = 10.0) -> tuple[RateLimiter, RateLimiter]:
    """The two scopes the venue meters: public requests per address, private requests per API key.

    Separate limiters, so that a 429 on one scope pauses only that scope.
    """
    public = RateLimiter([RateLimitSpec(PUBLIC, public_per_window, window_s)], max_wait_s=max_wait_s,
                         name=f"{VENUE} public")
    private = RateLimiter([RateLimitSpec(PRIVATE, private_per_window, window_s)], max_wait_s=max_wait_s,
                          name=f"{VENUE} private")
    return public, private


def encode_query(params: Sequence[tuple[str, object]] | Mapping[str, object]) -> str:
    """URL-encode ordered ``(key, value)`` pairs; ``None`` values are left out, Decimals plain."""
    pairs = params.items() if isinstance(params, Mapping) else params
    out = []
    for key, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, float):
            raise TypeError(f"refusing float {value!r} in a query string")
        out.append((key, str(value)))
    return urlencode(out, quote_via=quote)


class EkidenRest:
    """Public and signed REST calls to one Ekiden host (one account's credentials, or none).

    ``transport`` plugs an ``httpx`` transport in (``httpx.MockTransport`` in unit tests).
    ``clock`` estimates the server's clock (:meth:`sync_time` feeds it); every signed request is
    stamped with its :meth:`~risk.ServerClock.server_now_ms`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        public_limiter: RateLimiter | None = None,
        private_limiter: RateLimiter | None = None,
        clock: ServerClock | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self.signer = EkidenSigner()
        "The signing recipe (a :class:`venues._common.Signer`)."
        default_public, default_private = rate_limiters()
        self.public_limiter = public_limiter or default_public
        self.private_limiter = private_limiter or default_private
        self.clock = clock or ServerClock(name=VENUE)
        self._transport: Transport = HttpxTransport(self.base_url, timeout_s=timeout_s, transport=transport)
        "Where requests go (the transport seam)."
        self.requests_sent = 0
        "Requests that left (tests and the status line read it)."
        self.clock_resyncs = 0

    # -- lifecycle ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._transport.aclose()

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    # -- clock ----------------------------------------------------------------------------------
    def timestamp(self) -> str:
        """The ``EKIDEN-TIMESTAMP`` value for a request sent now (server time, ms precision)."""
        return iso_from_ms(self.clock.server_now_ms())

    async def sync_time(self, rounds: int = 3) -> float:
        """Estimate the server clock offset from ``GET /v1/time``; returns the offset in ms."""
        for _ in range(rounds):
            sent = self.clock.local_ns()
            data = await self.get_public(Path.TIME.value)
            received = self.clock.local_ns()
            self.clock.observe(sent, parse_server_time(data), received)
        return self.clock.offset_ms

    # -- requests -------------------------------------------------------------------------------
    async def get_public(self, path: str, params: Sequence[tuple[str, object]] = ()) -> Any:
        """An unsigned GET; returns ``data``."""
        body = await self._send("GET", path, encode_query(params), None, private=False, command=False)
        return unwrap(body, f"GET {path}")

    async def get_private(self, path: str, params: Sequence[tuple[str, object]] = ()) -> Any:
        """A signed GET; returns ``data``."""
        body = await self._send("GET", path, encode_query(params), None, private=True, command=False)
        return unwrap(body, f"GET {path}")

    async def pages(self, path: str, params: Sequence[tuple[str, object]] = (), *, private: bool,
                    limit: int = DEFAULT_PAGE_LIMIT, max_pages: int = 1000) -> list[Any]:
        """Every item of a cursor-paginated list, walking ``next_cursor`` to the end."""
        items: list[Any] = []
        cursor: str | None = None
        for _ in range(max_pages):
            query = encode_query([*params, ("limit", limit), ("cursor", cursor)])
            body = await self._send("GET", path, query, None, private=private, command=False)
            page, cursor = unwrap_page(body, f"GET {path}")
            items.extend(page)
            if cursor is None:
                return items
        raise malformed(f"GET {path}", f"more than {max_pages} pages; the cursor does not end")

    async def command(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """An order command (POST/DELETE/PATCH): definite answers return ``data`` or raise
        VenueRejected/AuthFailed; anything else raises OutcomeUnknown."""
        answer = await self._send(method, path, "", body, private=True, command=True)
        try:
            return unwrap(answer, f"{method} {path}")
        except MalformedMessage as e:
            raise OutcomeUnknown(f"{method} {path}: unreadable answer after send", venue=VENUE) from e

    async def _send(self, method: str, path: str, query: str, body: Mapping[str, Any] | None, *,
                    private: bool, command: bool) -> Any:
        what = f"{method} {path}"
        payload = dumps(body) if body is not None else b""

        async def attempt() -> Any:
            limiter = self.private_limiter if private else self.public_limiter
            await limiter.acquire({PRIVATE if private else PUBLIC: 1})
            headers: dict[str, str] = {}
            if payload:
                headers["Content-Type"] = _JSON
            if private:
                creds = self._creds()
                ts_ms = self.clock.server_now_ms()
                if command:
                    denial = self.clock.check_window(ts_ms, TIMESTAMP_WINDOW_MS, max_ahead_ms=TIMESTAMP_WINDOW_MS,
                                                     require_sync=False)
                    if denial is not None:
                        raise RiskDenied(DenyReason.STALE_TIMESTAMP, denial.detail)
                headers = dict(self.signer.sign(creds, UnsignedRequest(method, path, query, payload, headers), ts_ms).headers)
            return await self._exchange(method, path, query, payload, headers, what=what, command=command,
                                        limiter=limiter)

        return await resign_once(attempt, self._resync_after_rejection, what=what, logger=log)

    async def _resync_after_rejection(self) -> None:
        self.clock_resyncs += 1
        self.clock.forget()  # the venue refused our timestamp: rebuild the estimate from new samples
        await self.sync_time()

    async def _exchange(self, method: str, path: str, query: str, payload: bytes, headers: Mapping[str, str], *,
                        what: str, command: bool, limiter: RateLimiter) -> Any:
        url = f"{path}?{query}" if query else path
        self.requests_sent += 1
        try:
            raw = await self._transport.send(method, url, headers, payload)
        except TRANSPORT_ERRORS as e:
            raise_for_transport(e, what=what, command=command, venue=VENUE)
        try:
            return raise_for_response(raw, what=what, command=command)
        except (RateLimited, OutcomeUnknown) as e:
            limited = e if isinstance(e, RateLimited) else e.__cause__
            if isinstance(limited, RateLimited):
                pause = limiter.on_rate_limited(limited.retry_after_s)
                log.warning("%s: rate limited by the venue; %s paused %.1f s", what, limiter.name, pause)
            raise

    def _creds(self) -> Credentials:
        if self._credentials is None:
            raise AuthFailed("this request needs an API key and secret; none are configured", venue=VENUE)
        return self._credentials

    # -- public market data -----------------------------------------------------------------------
    async def server_time(self) -> Any:
        return await self.get_public(Path.TIME.value)

    async def markets(self) -> Any:
        return await self.get_public(Path.MARKETS.value)

    async def orderbook(self, market: str, depth: int = 50) -> Any:
        return await self.get_public(Path.ORDERBOOK.value, [("market", market), ("depth", depth)])

    async def trades(self, market: str, *, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None) -> Any:
        """One page of recent public trades, newest first (the raw page body)."""
        return await self._send("GET", Path.TRADES.value,
                                encode_query([("market", market), ("limit", limit), ("cursor", cursor)]), None,
                                private=False, command=False)

    # -- account ------------------------------------------------------------------------------------
    async def balances(self) -> Any:
        return await self.get_private(Path.BALANCES.value)

    async def positions(self) -> Any:
        return await self.get_private(Path.POSITIONS.value)

    async def orders(self, *, market: str | None = None, status: str | None = None,
                     client_order_id: str | None = None) -> list[Any]:
        """Every order matching the filters (all pages)."""
        return await self.pages(Path.ORDERS.value, [("market", market), ("status", status),
                                                    ("client_order_id", client_order_id)], private=True)

    async def order(self, order_id: str) -> Any:
        return await self.get_private(Path.ORDER.of(order_id))

    async def fills(self, *, market: str | None = None, order_id: str | None = None) -> list[Any]:
        """Every fill of this account matching the filters (all pages)."""
        return await self.pages(Path.FILLS.value, [("market", market), ("order_id", order_id)], private=True)

    # -- order commands -------------------------------------------------------------------------------
    async def create_order(self, body: Mapping[str, Any]) -> Any:
        """``POST /v1/orders``; returns the order object."""
        return await self.command("POST", Path.ORDERS.value, body)

    async def cancel_order(self, order_id: str) -> Any:
        """``DELETE /v1/orders/{id}``; returns the order object."""
        return await self.command("DELETE", Path.ORDER.of(order_id))

    async def amend_order(self, order_id: str, body: Mapping[str, Any]) -> Any:
        """``PATCH /v1/orders/{id}``; returns the order object."""
        return await self.command("PATCH", Path.ORDER.of(order_id), body)
