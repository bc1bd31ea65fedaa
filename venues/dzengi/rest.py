"""Dzengi REST client: request → rate limit → timestamp and sign → send, and the venue's errors in one place.

Layers (like httpx's): :class:`DzengiRest` builds the parameters, takes the request's weights
from the account's :class:`risk.RateLimiter` (waiting first, so a wait never ages a signature),
stamps it with the venue's clock as :class:`risk.ServerClock` estimates it — an order command
that would reach the venue outside its ``recvWindow`` is dropped here with
``DenyReason.STALE_TIMESTAMP`` — signs the exact wire bytes with :mod:`venues.dzengi.signer`,
then sends it on :class:`Http11Lane`, a lean HTTP/1.1 keep-alive connection pool that writes
pre-built request bytes straight to the socket (httpx costs ~0.5 ms of CPU per request before
the first byte leaves on a small machine; the lane ~30 µs) — or on an ``httpx.AsyncClient`` when
a custom transport is plugged in (``httpx.MockTransport`` in tests) or ``lean_http=False`` (e.g.
behind an HTTP proxy). Both paths end in the same two functions, :func:`raise_for_response` and
:func:`raise_for_transport`, which are the only place where the venue's answers become errors:

=========================================  ==================================================
what happened                              raised
=========================================  ==================================================
``{code, msg}`` -1021/-1022/-2014/-2015    :class:`~engine.AuthFailed` (definite; clock resynced on -1021)
other ``{code, msg}`` (any HTTP status)    :class:`~engine.VenueRejected` (definite)
other 4xx                                  :class:`~engine.VenueRejected` with the HTTP status as code
429 / 418 / 403 (WAF)                      :class:`~engine.RateLimited` (``retry_after_s``); limiter paused
5xx                                        :class:`~engine.VenueError`
timeout / connection error                 :class:`~engine.VenueError`
unparseable answer                         :class:`~engine.MalformedMessage`
=========================================  ==================================================

For an **order command** (new order, cancel) everything in the last four rows becomes
:class:`~engine.OutcomeUnknown` instead (``raise ... from`` the original): the request may have
been executed, so the order is reconciled by query and never resent.

Before anything is sent, the risk module may refuse a request with :class:`~engine.RiskDenied`:
``RATE_LIMITED`` when its weights would wait longer than the limiter's ``max_wait_s`` (0 = never
wait), ``STALE_TIMESTAMP`` when an order command would arrive outside its window.

Rate limits: the venue meters ``REQUEST_WEIGHT`` (per address and minute) and ``ORDERS`` (per
account, second and day); :func:`rate_limiter` seeds one limiter with the documented limits and
the gateway replaces them with what ``exchangeInfo.rateLimits`` publishes (:func:`rate_limit_specs`).
Each request is charged :func:`~venues.dzengi.constants.request_weight`, the table the local
testnet charges too; a new order also takes one ``ORDERS`` token. Order commands take their
tokens at once when they are there (no scheduler round on the hot path) and otherwise queue in
arrival order; reads wait *without* reserving (``wait_time`` then ``try_acquire``), so a poll
never makes an order queue behind it, and background reads (:meth:`DzengiRest.background`: the
gateway's poller, periodic clock syncs, the lane's keep-alives) also leave
:data:`BACKGROUND_HEADROOM_WEIGHT` in the bucket, so a caller's own read goes before them — right
after a pause too, when they would otherwise race it for the first tokens. A 429/418/403 answer
pauses every bucket for the venue's ``Retry-After`` (:meth:`risk.RateLimiter.on_rate_limited`).

Clock: every ``GET time`` answer (:meth:`DzengiRest.sync_time`, and the lane's keep-alive
requests, about one a second while connections idle) is a sample, corrected by half its round
trip. Other answers' ``serverTime`` (``exchangeInfo``) is not used: a large answer may be stamped
long before it is complete, and one stray sample among the few of a fresh estimate could move
it. The HTTP ``Date`` header of any answer is used only until the first ``serverTime`` sample: the
venue judges timestamps by its ``serverTime``, a ``Date`` header may be written by a front end
with another clock (the local testnet's is, under its clock-offset fault), and it has whole
seconds only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
import trio

from engine import (wire_seconds, AuthFailed, OutcomeUnknown, RateLimited, RiskDenied, VenueError,
                    VenueRejected, redact)
from engine import DenyReason
from risk import PreparedWeights, RateLimiter, RateLimitSpec, ServerClock

from .constants import (API_KEY_HEADER, MAX_RECV_WINDOW_MS, ORDERS, RATE_LIMITS, REQUEST_WEIGHT,
                        TIMESTAMP_AHEAD_TOLERANCE_MS, VENUE, Endpoint, ErrorCode, request_weight)
from venues._common.http11 import MAX_BODY_BYTES, Http11Lane
from venues._common.rest import (TRANSPORT_ERRORS, ClockRejected, HttpxTransport, RawResponse, StreamWrapper,
                                 TransportFailure, raise_for_transport, resign_once)
from venues._common.credentials import UnsignedRequest
from venues._common.errors import AnswerRules

from .parsers import error_of, parse_server_time
from .schemas import loads
from .signer import Credentials, DzengiSigner, encode_params, sign_params

__all__ = ["AUTH_CODES", "ClockRejected", "RawResponse", "TransportFailure", "raise_for_response",
           "raise_for_transport", "rate_limit_specs", "rate_limiter", "BACKGROUND_HEADROOM_WEIGHT",
           "Http11Lane", "MAX_BODY_BYTES", "StreamWrapper", "DzengiRest"]

log = logging.getLogger("venues.dzengi.rest")


class _RedactRequestLines(logging.Filter):
    """httpx logs each request's URL at INFO; signed URLs carry ``signature=``: redact it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _RedactRequestLines) for f in _httpx_log.filters):
    _httpx_log.addFilter(_RedactRequestLines())

AUTH_CODES = frozenset({ErrorCode.INVALID_TIMESTAMP, ErrorCode.INVALID_SIGNATURE, ErrorCode.BAD_API_KEY_FMT,
                        ErrorCode.REJECTED_MBX_KEY})
"Error codes that mean our credentials, signature or clock were refused."


_FORM = "application/x-www-form-urlencoded"
_MAX_FRESH_ROUNDS = 64
"Most ``GET time`` requests one fresh resync makes (the estimator keeps 16 samples by default)."


# ---------------------------------------------------------------------------------------------
# rate limits: the venue's metered scopes as risk.RateLimitSpec values
# ---------------------------------------------------------------------------------------------


def rate_limit_specs(published: Mapping[str, Sequence[tuple[int, int]]] | None = None, *,
                     request_weight_per_min: int | None = None,
                     orders_per_s: int | None = None) -> list[RateLimitSpec]:
    """The venue's metered limits as :class:`risk.RateLimitSpec` values.

    ``published`` is ``exchangeInfo.rateLimits`` as :func:`~venues.dzengi.parsers.parse_rate_limits`
    reads it (``{type: [(limit, window_ms), ...]}``); without it, the documented limits
    (:data:`~venues.dzengi.constants.RATE_LIMITS`). ``request_weight_per_min`` and ``orders_per_s``
    are our own budgets: they lower the per-minute ``REQUEST_WEIGHT`` and per-second ``ORDERS``
    limits, never raise them. Entries without a positive limit and window are left out.
    """
    if published is None:
        documented: dict[str, list[tuple[int, int]]] = {}
        for r in RATE_LIMITS:
            documented.setdefault(r.rate_limit_type, []).append((r.limit, r.window_ms))
        published = documented
    specs: list[RateLimitSpec] = []
    for scope, limits in published.items():
        for limit, window_ms in limits:
            if scope == REQUEST_WEIGHT and window_ms == 60_000 and request_weight_per_min is not None:
                limit = min(limit, request_weight_per_min)
            elif scope == ORDERS and window_ms == 1000 and orders_per_s is not None:
                limit = min(limit, orders_per_s)
            if limit <= 0 or window_ms <= 0:
                log.warning("dzengi: ignoring rate limit %s %d per %d ms", scope, limit, window_ms)
                continue
            specs.append(RateLimitSpec(scope, limit, window_ms / 1000))
    return specs


BACKGROUND_HEADROOM_WEIGHT = 10
"REQUEST_WEIGHT a background read leaves in the bucket for order commands and callers' own reads."

_BACKGROUND: ContextVar[bool] = ContextVar("dzengi_background_reads", default=False)


def rate_limiter(*, request_weight_per_min: int | None = None, orders_per_s: int | None = None,
                 max_wait_s: float = 2.0, **options: Any) -> RateLimiter:
    """One :class:`risk.RateLimiter` for one Dzengi account and address, seeded with the documented
    limits (see :func:`rate_limit_specs`; replace them with ``limiter.add_spec`` once
    ``exchangeInfo`` arrives). ``max_wait_s``: longest a request may wait for its turn (0 = deny at
    once); ``options`` go to the limiter (``burst_fraction``, ``utilization``, backoff bounds).
    """
    specs = rate_limit_specs(request_weight_per_min=request_weight_per_min, orders_per_s=orders_per_s)
    return RateLimiter(specs, max_wait_s=max_wait_s, name=VENUE, **options)


# ---------------------------------------------------------------------------------------------
# the one place where answers become errors
# ---------------------------------------------------------------------------------------------


def _pause_hint(status: int, headers: Mapping[str, str]) -> float | None:
    """How long the venue asks us to pause after a 429/418/403: its ``Retry-After``, else 60 s for
    a ban (418), else None (the rate limiter's own backoff, doubling while 429s repeat)."""
    seconds = wire_seconds(headers.get("retry-after"))
    if seconds is not None:
        return seconds
    return 60.0 if status == 418 else None


ANSWERS = AnswerRules(
    VENUE, loads, error_of, clock_codes=frozenset({ErrorCode.INVALID_TIMESTAMP}), auth_codes=AUTH_CODES,
    rate_limit_statuses={429: ("rate limited (429)", 1.0), 418: ("IP banned (418)", 60.0), 403: ("WAF limit (403)", 1.0)},
    error_in_ok=lambda code: code < 0)
"How the venue's answers become errors (:class:`venues._common.errors.AnswerRules`; the module doc's table)."

raise_for_response = ANSWERS.raise_for_response
"Decode a venue answer or raise the mapped error; ``command`` is True for order commands."


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


class DzengiRest:
    """Signed and public REST calls to one Dzengi host (one account's credentials, or none).

    Requests go out on :class:`Http11Lane` (``lean_http``, the default without a custom
    transport) or on an ``httpx.AsyncClient``: ``transport`` plugs an ``httpx`` transport in
    (``httpx.MockTransport`` in unit tests), and ``lean_http=False`` uses httpx for everything
    (e.g. behind an HTTP proxy, which the lane does not speak).

    ``limiter`` paces every request (default: :func:`rate_limiter`, the documented limits);
    share one between everything that uses the same account and address. ``clock`` estimates the
    venue's clock (every ``GET time`` answer feeds it, see :meth:`sync_time`); every signed
    request is stamped with its :meth:`~risk.ServerClock.server_now_ms`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_version: str = "v1",
        credentials: Credentials | None = None,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        lean_http: bool | None = None,
        stream_wrapper: StreamWrapper | None = None,
        limiter: RateLimiter | None = None,
        clock: ServerClock | None = None,
    ) -> None:
        if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be within 1..{MAX_RECV_WINDOW_MS}, got {recv_window_ms}")
        self.base_url = base_url.rstrip("/")
        self.version = api_version
        self._credentials = credentials
        self.recv_window_ms = recv_window_ms
        self.signer = DzengiSigner(recv_window_ms)
        "The signing recipe (a :class:`venues._common.Signer`); the create-order hot path inlines it."
        self.limiter = limiter if limiter is not None else rate_limiter()
        "The venue's metered scopes for this account and address (shared by reads and commands)."
        self.clock = clock if clock is not None else ServerClock(name=VENUE)
        "The venue's clock as estimated from its answers; signers take their timestamps from it."
        self._http = HttpxTransport(self.base_url, timeout_s=timeout_s, transport=transport)
        use_lane = (transport is None) if lean_http is None else lean_http
        self.lane: Http11Lane | None = (
            Http11Lane(self.base_url, timeout_s=timeout_s, stream_wrapper=stream_wrapper, min_idle=2)
            if use_lane else None)
        self._transport: Http11Lane | HttpxTransport = self.lane if self.lane is not None else self._http
        "Where every request but a new order goes (the transport seam: the lane or httpx)."
        self._read_weights: dict[int, PreparedWeights] = {}
        self._order_weights = self.limiter.prepare({ORDERS: 1, REQUEST_WEIGHT: request_weight(Endpoint.ORDER.value)})
        self._cancel_weights = self.limiter.prepare({REQUEST_WEIGHT: request_weight(Endpoint.ORDER.value)})
        self._clock_stale = False
        # hot path: a pre-built request head for new orders
        self._order_path = Endpoint.ORDER.path(api_version)
        self._order_head = b""
        if self.lane is not None and credentials is not None:
            self._order_head = (
                f"POST {self.lane.prefix}{self._order_path} HTTP/1.1\r\nHost: {self.lane.host_header}\r\n"
                f"{API_KEY_HEADER}: {credentials.api_key}\r\nContent-Type: {_FORM}\r\n"
                f"User-Agent: triotrade\r\nContent-Length: "
            ).encode("latin-1")
        self._tail = f"&recvWindow={recv_window_ms}&timestamp="
        self.requests_sent = 0

    # -- lifecycle ------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._http.aclose()
        if self.lane is not None:
            await self.lane.aclose()

    @property
    def has_credentials(self) -> bool:
        return self._credentials is not None

    def path(self, endpoint: Endpoint) -> str:
        return endpoint.path(self.version)

    async def maintain_lane(self) -> None:
        """Keep the lane's connections open and warm (``GET time`` on idle ones); never returns.

        The keep-alive requests are charged to the rate limiter like reads (skipped while it has
        no room), a 429 to one pauses the limiter, and each answer's ``serverTime`` is a clock sample.
        """
        if self.lane is None:
            await trio.sleep_forever()
            return
        request = (f"GET {self.lane.prefix}{Endpoint.TIME.path(self.version)} HTTP/1.1\r\n"
                   f"Host: {self.lane.host_header}\r\nUser-Agent: triotrade\r\n\r\n").encode("latin-1")
        await self.lane.maintain(request, may_send=self._may_send_keepalive, on_answer=self._keepalive_answer,
                                 now_ns=self.clock.local_ns)

    def _may_send_keepalive(self) -> bool:
        weight = request_weight(Endpoint.TIME.value)
        limiter = self.limiter
        return (limiter.wait_time(self._admission_weights(weight, background=True)) <= 0
                and limiter.try_acquire(self._read_weight(weight)))

    def _keepalive_answer(self, answer: RawResponse, sent_ns: int, received_ns: int) -> None:
        if answer.status in (429, 418, 403):
            self._note_rate_limited(answer, "keep-alive GET time")
        elif answer.status == 200:
            try:
                decoded = loads(answer.body)
            except (ValueError, UnicodeDecodeError):
                return
            self._observe_clock(decoded, answer.headers, sent_ns, received_ns, time_answer=True)

    # -- clock ----------------------------------------------------------------------------
    def timestamp_ms(self) -> int:
        """The venue's time now as estimated (what a signed request is stamped with)."""
        return self.clock.server_now_ms()

    async def sync_time(self, rounds: int = 3, *, fresh: bool = False) -> float:
        """Sample the venue's clock from ``GET time`` ``rounds`` times; returns the estimated offset in ms.

        ``fresh`` (after the venue refused a timestamp: the samples before are suspect) keeps
        sampling until every sample in the estimator's window was taken now (at most
        ``_MAX_FRESH_ROUNDS``). Three rounds are not always enough for that: a new sample that
        disagrees with the estimate still joins its window, and with the wrong round trips the
        old samples keep the median while the disagreement counter resets.
        """
        clock = self.clock
        rejected_before = clock.rejected
        taken = 0
        while True:
            parse_server_time(await self.get_public(Endpoint.TIME))  # _send observed it
            taken += 1
            if taken < rounds:
                continue
            if not fresh or taken >= _MAX_FRESH_ROUNDS:
                break
            accepted = taken - (clock.rejected - rejected_before)
            if clock.estimate().samples <= accepted:
                break
        self._clock_stale = False
        return clock.offset_ms

    @property
    def clock_stale(self) -> bool:
        """True after the venue refused a timestamp (-1021) until the next :meth:`sync_time`."""
        return self._clock_stale

    def _observe_clock(self, answer: Any, headers: Mapping[str, str], sent_ns: int, received_ns: int, *,
                       time_answer: bool) -> None:
        """Feed the clock from an answer: a ``GET time`` answer's ``serverTime``, or while there is
        none yet, any answer's ``Date`` header."""
        server_ms = answer.get("serverTime") if time_answer and isinstance(answer, dict) else None
        if type(server_ms) is int:
            self.clock.observe(sent_ns, server_ms, received_ns)
        elif not self.clock.synced:
            date = headers.get("date")
            if date:
                self.clock.observe_date_header(sent_ns, date, received_ns)

    # -- rate limits ----------------------------------------------------------------------
    def _read_weight(self, weight: int) -> PreparedWeights:
        prepared = self._read_weights.get(weight)
        if prepared is None:
            prepared = self._read_weights[weight] = self.limiter.prepare({REQUEST_WEIGHT: weight})
        return prepared

    @contextmanager
    def background(self) -> Iterator[None]:
        """Reads this task makes inside the block are background reads: each takes its weight only
        while :data:`BACKGROUND_HEADROOM_WEIGHT` more would remain (callers' own reads and order
        commands go first). The gateway runs its poller and periodic clock syncs this way."""
        token = _BACKGROUND.set(True)
        try:
            yield
        finally:
            _BACKGROUND.reset(token)

    def _admission_weights(self, weight: int, *, background: bool) -> PreparedWeights:
        """What must be in the bucket before a read of ``weight`` goes (its weight, plus the headroom
        for a background read, within the venue's whole limit)."""
        if background:
            whole = min((s.limit for s in self.limiter.specs() if s.scope == REQUEST_WEIGHT), default=weight)
            weight = max(weight, min(weight + BACKGROUND_HEADROOM_WEIGHT, whole))
        return self._read_weight(weight)

    async def _acquire_read(self, weight: int) -> None:
        """Take a read's ``REQUEST_WEIGHT`` without reserving while it waits.

        Sleeps until the weight (plus the headroom, for a background read) is there, then takes
        the weight; an order command arriving meanwhile takes its tokens first (commands reserve
        their turn, reads do not). A read that would wait longer than the limiter's ``max_wait_s``
        is refused by the limiter itself (:class:`~engine.RiskDenied`, ``RATE_LIMITED``; nothing sent).
        """
        limiter = self.limiter
        weights = self._read_weight(weight)
        gate = self._admission_weights(weight, background=_BACKGROUND.get())
        wait = limiter.wait_time(gate)
        if wait <= 0 and limiter.try_acquire(weights):
            return
        deadline = trio.current_time() + limiter.max_wait_s
        while True:
            now = trio.current_time()
            if now + wait > deadline:
                # over the bound: the limiter denies it (counted and logged there), or, if room
                # appeared at this very moment, admits it
                await limiter.acquire(weights, max_wait_s=max(0.0, deadline - now))
                return
            await trio.sleep(max(wait, 0.001))
            wait = limiter.wait_time(gate)
            if wait <= 0 and limiter.try_acquire(weights):
                return

    async def _acquire_command(self, weights: PreparedWeights) -> None:
        """Take an order command's tokens: at once when they are there (no scheduler round), else
        its turn in arrival order, waiting at most the limiter's ``max_wait_s``."""
        # (a miss here counts as a denial in the limiter's statistics even if the command then
        # gets its turn: the price of keeping the common case to one call)
        if not self.limiter.try_acquire(weights):
            await self.limiter.acquire(weights)

    def weight_budget(self) -> float:
        """Share of the ``REQUEST_WEIGHT`` burst left now: 1.0 untouched, 0.0 spent, owed to waiting
        commands, or paused after a 429 (pollers slow down as it falls)."""
        limiter = self.limiter
        if limiter.paused:
            return 0.0
        tokens = limiter.statistics().tokens
        ratio = 1.0
        for spec in limiter.specs():
            if spec.scope == REQUEST_WEIGHT:
                # the bucket's capacity, as risk.RateLimiter sizes it
                capacity = spec.limit * limiter.utilization * limiter.burst_fraction
                left = tokens.get(f"{spec.scope}/{spec.interval_s:g}s", capacity)
                ratio = min(ratio, max(0.0, left / capacity))
        return ratio

    def _note_rate_limited(self, answer: RawResponse, what: str) -> None:
        pause = self.limiter.on_rate_limited(_pause_hint(answer.status, answer.headers))
        log.info("dzengi: %s answered %d; every rate limit paused %.1f s", what, answer.status, pause)

    # -- generic requests ---------------------------------------------------------------------
    async def get_public(self, endpoint: Endpoint, params: Sequence[tuple[str, object]] = (), *,
                         weight: int | None = None) -> Any:
        """An unsigned GET (``weight``: its ``REQUEST_WEIGHT`` if not the endpoint's default)."""
        query = encode_params(params)
        await self._acquire_read(weight if weight is not None else request_weight(endpoint.value))
        return await self._send("GET", self.path(endpoint), query, "", {}, what=f"GET {endpoint.value}",
                                command=False, time_answer=endpoint is Endpoint.TIME)

    async def get_signed(self, endpoint: Endpoint, params: Sequence[tuple[str, object]] = (), *,
                         weight: int | None = None) -> Any:
        """A signed GET (USER_DATA); retried once after a clock resync if the venue says -1021."""
        creds = self._creds()

        async def attempt() -> Any:
            # the rate-limit turn first, the timestamp after it: a wait must not age the signature
            await self._acquire_read(weight if weight is not None else request_weight(endpoint.value))
            path = self.path(endpoint)
            wire = self.signer.sign(creds, UnsignedRequest("GET", path, encode_params(params)), self.clock.server_now_ms())
            return await self._send("GET", path, wire.query, "", wire.headers, what=f"GET {endpoint.value}", command=False)

        return await resign_once(attempt, lambda: self.sync_time(fresh=True), what=f"GET {endpoint.value}")

    def _creds(self) -> Credentials:
        if self._credentials is None:
            raise AuthFailed("this request needs an API key and secret; none are configured", venue=VENUE)
        return self._credentials

    def _command_timestamp(self, what: str) -> int:
        """The venue-clock timestamp for an order command sent now; refused if it would miss the window."""
        clock = self.clock
        timestamp = clock.server_now_ms()
        denial = clock.check_window(timestamp, self.recv_window_ms, max_ahead_ms=TIMESTAMP_AHEAD_TOLERANCE_MS,
                                    require_sync=False)
        if denial is not None:
            raise RiskDenied(DenyReason.STALE_TIMESTAMP, f"{what}: {denial.detail}; nothing was sent")
        return timestamp

    async def _send(self, method: str, path: str, query: str, body: str, headers: Mapping[str, str], *,
                    what: str, command: bool, time_answer: bool = False) -> Any:
        clock = self.clock
        target = f"{path}?{query}" if query else path
        request_headers = dict(headers)
        if body:
            request_headers["Content-Type"] = _FORM
        self.requests_sent += 1
        sent_ns = clock.local_ns()
        try:
            raw = await self._transport.send(method, target, request_headers, body.encode())
        except TRANSPORT_ERRORS as e:
            raise_for_transport(e, what=what, command=command, venue=VENUE)
        received_ns = clock.local_ns()
        answer = self._decode(raw, what=what, command=command)
        self._observe_clock(answer, raw.headers, sent_ns, received_ns, time_answer=time_answer)
        return answer

    def _decode(self, raw: RawResponse, *, what: str, command: bool) -> Any:
        try:
            return raise_for_response(raw, what=what, command=command)
        except RateLimited:
            self._note_rate_limited(raw, what)
            raise
        except OutcomeUnknown as e:
            if isinstance(e.__cause__, RateLimited):
                self._note_rate_limited(raw, what)
            raise
        except ClockRejected:
            self._clock_stale = True
            raise

    # -- public market data -------------------------------------------------------------------
    async def time(self) -> Any:
        return await self.get_public(Endpoint.TIME)

    async def exchange_info(self) -> Any:
        return await self.get_public(Endpoint.EXCHANGE_INFO)

    async def depth(self, symbol: str, limit: int = 100) -> Any:
        return await self.get_public(Endpoint.DEPTH, [("symbol", symbol), ("limit", limit)],
                                     weight=request_weight(Endpoint.DEPTH.value, depth_limit=limit))

    async def agg_trades(self, symbol: str, *, start_ms: int | None = None, end_ms: int | None = None,
                         limit: int = 500) -> Any:
        return await self.get_public(Endpoint.AGG_TRADES, [("symbol", symbol), ("startTime", start_ms),
                                                           ("endTime", end_ms), ("limit", limit)])

    async def klines(self, symbol: str, interval: str, *, start_ms: int | None = None, end_ms: int | None = None,
                     limit: int = 500) -> Any:
        return await self.get_public(Endpoint.KLINES, [("symbol", symbol), ("interval", interval),
                                                       ("startTime", start_ms), ("endTime", end_ms), ("limit", limit)])

    # -- account ----------------------------------------------------------------------------------
    async def account(self) -> Any:
        return await self.get_signed(Endpoint.ACCOUNT, [("showZeroBalance", True)])

    async def my_trades(self, symbol: str, *, start_ms: int | None = None, limit: int = 1000) -> Any:
        return await self.get_signed(Endpoint.MY_TRADES, [("symbol", symbol), ("startTime", start_ms),
                                                          ("limit", limit)])

    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self.get_signed(Endpoint.OPEN_ORDERS, [("symbol", symbol)],
                                     weight=request_weight(Endpoint.OPEN_ORDERS.value, symbol=symbol is not None))

    async def fetch_order(self, symbol: str, order_id: str) -> Any:
        return await self.get_signed(Endpoint.FETCH_ORDER, [("symbol", symbol), ("orderId", order_id)])

    async def trading_positions(self) -> Any:
        return await self.get_signed(Endpoint.TRADING_POSITIONS)

    async def leverage_settings(self, symbol: str) -> Any:
        return await self.get_signed(Endpoint.LEVERAGE_SETTINGS, [("symbol", symbol)])

    # -- order commands -------------------------------------------------------------------------
    async def new_order(self, encoded_params: str, stamp: list[int] | None = None) -> Any:
        """``POST order`` with already URL-encoded params (the hot path; see :meth:`encode_order`).

        Takes one ``ORDERS`` token and the request weight, then stamps and signs
        ``params&recvWindow=…&timestamp=…`` in the form body (the timestamp is appended to
        ``stamp`` when given: the venue-clock anchor for finding the order if its outcome is
        unknown). Raises :class:`~engine.RiskDenied` before sending (rate limit, recvWindow); only
        definite answers return or raise VenueRejected/AuthFailed; everything else is OutcomeUnknown.
        """
        creds = self._creds()
        limiter = self.limiter
        if not limiter.try_acquire(self._order_weights):  # inlined _acquire_command: the hot path
            await limiter.acquire(self._order_weights)
        timestamp = self._command_timestamp("POST order")
        if stamp is not None:
            stamp.append(timestamp)
        signed = f"{encoded_params}{self._tail}{timestamp}"
        body = f"{signed}&signature={sign_params(creds.secret, signed)}".encode()
        if self.lane is not None:
            data = b"%s%d\r\n\r\n%s" % (self._order_head, len(body), body)
            self.requests_sent += 1
            try:
                raw = await self.lane.request(data)
            except TransportFailure as e:
                raise_for_transport(e, what="POST order", command=True, venue=VENUE)
            return self._decode(raw, what="POST order", command=True)
        return await self._send("POST", self._order_path, "", body.decode(), {API_KEY_HEADER: creds.api_key},
                                what="POST order", command=True)

    async def cancel_order(self, symbol: str, order_id: str) -> Any:
        """``DELETE order`` (params in the query string). Unknown outcome → OutcomeUnknown."""
        creds = self._creds()
        await self._acquire_command(self._cancel_weights)
        request = UnsignedRequest("DELETE", self._order_path, encode_params([("symbol", symbol), ("orderId", order_id)]))
        wire = self.signer.sign(creds, request, self._command_timestamp("DELETE order"))
        return await self._send("DELETE", self._order_path, wire.query, "", wire.headers, what="DELETE order",
                                command=True)

    @staticmethod
    def encode_order(params: Sequence[tuple[str, object]]) -> str:
        """URL-encode order params with the signer's rules (for callers that cache fragments)."""
        return encode_params(params)
