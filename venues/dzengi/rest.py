"""Dzengi REST client: request → rate-limit scope → sign → send, and the venue's errors in one place.

Layers (like httpx's): :class:`DzengiRest` builds the parameters, takes tokens from the
:class:`RateScope` of the request (waiting first, so a wait never ages a signature), signs the exact
wire bytes with :mod:`venues.dzengi.signer` (timestamp = local clock + the estimated server
offset), then sends it on :class:`Http11Lane`, a lean HTTP/1.1 keep-alive connection pool that
writes pre-built request bytes straight to the socket (httpx costs ~0.5 ms of CPU per request
before the first byte leaves on a small machine; the lane ~30 µs) — or on an
``httpx.AsyncClient`` when a custom transport is plugged in (``httpx.MockTransport`` in tests) or
``lean_http=False`` (e.g. behind an HTTP proxy). Both paths end in the same
two functions, :func:`raise_for_response` and :func:`raise_for_transport`, which are the only
place where the venue's answers become errors:

=========================================  ==================================================
what happened                              raised
=========================================  ==================================================
``{code, msg}`` -1021/-1022/-2014/-2015    :class:`~engine.AuthFailed` (definite; clock resynced on -1021)
other ``{code, msg}`` (any HTTP status)    :class:`~engine.VenueRejected` (definite)
other 4xx                                  :class:`~engine.VenueRejected` with the HTTP status as code
429 / 418 / 403 (WAF)                      :class:`~engine.RateLimited` (``retry_after_s``); scope blocked
5xx                                        :class:`~engine.VenueError`
timeout / connection error                 :class:`~engine.VenueError`
unparseable answer                         :class:`~engine.MalformedMessage`
=========================================  ==================================================

For an **order command** (new order, cancel) everything in the last four rows becomes
:class:`~engine.OutcomeUnknown` instead (``raise ... from`` the original): the request may have
been executed, so the order is reconciled by query and never resent.
"""

from __future__ import annotations

import logging
import select
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import trio

from engine import (
    AuthFailed,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueRejected,
    redact,
)

from .constants import API_KEY_HEADER, MAX_RECV_WINDOW_MS, VENUE, Endpoint, ErrorCode
from .parsers import error_of, malformed, parse_server_time
from .schemas import loads
from .signer import Credentials, encode_params, sign_params, sign_request

__all__ = [
    "AUTH_CODES",
    "ClockRejected",
    "RateScope",
    "RawResponse",
    "TransportFailure",
    "raise_for_response",
    "raise_for_transport",
    "Http11Lane",
    "StreamWrapper",
    "DzengiRest",
]

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



class ClockRejected(AuthFailed):
    """The venue refused our ``timestamp`` (-1021): outside ``recvWindow`` or ahead of its clock.

    Definite (nothing was done). The client marks its clock offset stale and resyncs.
    """


StreamWrapper = Callable[[trio.abc.Stream], trio.abc.Stream]
"Wraps a freshly connected byte stream (benchmarks hook the socket writes through it)."

_FORM = "application/x-www-form-urlencoded"

# Request weights (Binance numbering, which the venue inherited); the scope's budget comes from
# exchangeInfo.rateLimits.
_WEIGHTS: dict[str, int] = {
    Endpoint.EXCHANGE_INFO.value: 1, Endpoint.DEPTH.value: 1, Endpoint.AGG_TRADES.value: 1,
    Endpoint.KLINES.value: 1, Endpoint.TIME.value: 1, Endpoint.ACCOUNT.value: 5, Endpoint.MY_TRADES.value: 5,
    Endpoint.OPEN_ORDERS.value: 1, Endpoint.FETCH_ORDER.value: 1, Endpoint.ORDER.value: 1,
    Endpoint.TRADING_POSITIONS.value: 1, Endpoint.LEVERAGE_SETTINGS.value: 1,
}
_OPEN_ORDERS_ALL_WEIGHT = 40


# ---------------------------------------------------------------------------------------------
# rate limit scopes
# ---------------------------------------------------------------------------------------------


class RateScope:
    """Weighted token buckets for one venue scope (e.g. request weight, or orders).

    Each ``(limit, window_s)`` pair is a bucket of ``limit`` tokens refilled over ``window_s``.
    :meth:`block` (after a 429/418) empties the scope until the venue's ``retry_after``.
    Time is ``trio.current_time()`` so tests run it on a mock clock.
    """

    __slots__ = ("name", "_buckets", "_blocked_until", "max_wait_s")

    def __init__(self, name: str, limits: Sequence[tuple[int, float]], *, max_wait_s: float = 2.0) -> None:
        self.name = name
        self._buckets: list[list[float]] = []
        self._blocked_until = 0.0
        self.max_wait_s = max_wait_s
        "Longest wait accepted before a request is refused locally (nothing sent) with RateLimited."
        self.set_limits(limits)

    def set_limits(self, limits: Sequence[tuple[int, float]]) -> None:
        """Replace the buckets (e.g. with the limits ``exchangeInfo`` publishes)."""
        now = _now()
        # [capacity, tokens, refill per second, last refill time]
        self._buckets = [[float(limit), float(limit), limit / window_s, now] for limit, window_s in limits if limit > 0]

    def wait_s(self, weight: int = 1) -> float:
        """Seconds until ``weight`` tokens are available (0 = now)."""
        now = _now()
        wait = max(0.0, self._blocked_until - now)
        for b in self._buckets:
            tokens = min(b[0], b[1] + (now - b[3]) * b[2])
            if tokens < weight:
                wait = max(wait, (weight - tokens) / b[2])
        return wait

    def fill_ratio(self) -> float:
        """The emptiest bucket's share of tokens left (1.0 = untouched, 0.0 = empty or blocked)."""
        now = _now()
        if self._blocked_until > now:
            return 0.0
        ratio = 1.0
        for b in self._buckets:
            ratio = min(ratio, max(0.0, min(b[0], b[1] + (now - b[3]) * b[2])) / b[0])
        return ratio

    def try_take(self, weight: int = 1) -> bool:
        """Take ``weight`` tokens if they are available right now (never waits, never yields)."""
        now = _now()
        if self._blocked_until > now:
            return False
        buckets = self._buckets
        for b in buckets:
            if min(b[0], b[1] + (now - b[3]) * b[2]) < weight:
                return False
        for b in buckets:
            b[1] = min(b[0], b[1] + (now - b[3]) * b[2]) - weight
            b[3] = now
        return True

    def _take(self, weight: int) -> None:
        now = _now()
        for b in self._buckets:
            b[1] = min(b[0], b[1] + (now - b[3]) * b[2]) - weight
            b[3] = now

    async def acquire(self, weight: int = 1) -> None:
        """Take ``weight`` tokens, waiting up to :attr:`max_wait_s`; else raise RateLimited (nothing sent).

        Does not yield to the scheduler when tokens are available (the hot path).
        """
        wait = self.wait_s(weight)
        while wait > 0:
            if wait > self.max_wait_s:
                raise RateLimited(f"{self.name}: local rate limit, next slot in {wait:.2f} s (nothing was sent)",
                                  venue=VENUE, retry_after_s=wait)
            await trio.sleep(wait)
            wait = self.wait_s(weight)
        self._take(weight)

    def block(self, retry_after_s: float) -> None:
        """Refuse everything for ``retry_after_s`` (the venue said 429/418)."""
        self._blocked_until = max(self._blocked_until, _now() + retry_after_s)

    @property
    def blocked_for_s(self) -> float:
        return max(0.0, self._blocked_until - _now())


def _now() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # outside trio (synchronous tests)
        return time.monotonic()


# ---------------------------------------------------------------------------------------------
# the one place where answers become errors
# ---------------------------------------------------------------------------------------------


class RawResponse:
    """Status, lower-case headers and body of one HTTP answer (whichever path carried it)."""

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


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return default


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return redact(text + ("…" if len(body) > limit else ""))


def raise_for_response(response: RawResponse, *, what: str, command: bool) -> Any:
    """Decode a venue answer or raise the mapped error (see the module doc's table).

    ``command`` is True for order commands: anything but a definite answer is OutcomeUnknown.
    """
    status = response.status
    body = response.body
    try:
        decoded: Any = loads(body) if body else None
        parse_error: Exception | None = None
    except (ValueError, UnicodeDecodeError) as e:
        decoded, parse_error = None, e

    if status == 429 or status == 418 or status == 403:
        kind = {429: "rate limited (429)", 418: "IP banned (418)", 403: "WAF limit (403)"}[status]
        error: VenueError = RateLimited(f"{what}: {kind}", venue=VENUE,
                                        retry_after_s=_retry_after(response.headers, 60.0 if status == 418 else 1.0))
        if command:
            raise OutcomeUnknown(f"{what}: {kind}; the order may or may not have been taken", venue=VENUE) from error
        raise error

    coded = error_of(decoded)
    if coded is not None and (status >= 400 or coded[0] < 0) and status < 500:
        code, msg = coded
        if code == ErrorCode.INVALID_TIMESTAMP:
            raise ClockRejected(f"{what}: [{code}] {msg}", venue=VENUE)
        if code in AUTH_CODES:
            raise AuthFailed(f"{what}: [{code}] {msg}", venue=VENUE)
        raise VenueRejected(code, msg, venue=VENUE)

    if status >= 500:
        failure = VenueError(f"{what}: HTTP {status} {_excerpt(body)}", venue=VENUE)
        if command:
            raise OutcomeUnknown(f"{what}: HTTP {status}: execution status unknown", venue=VENUE) from failure
        raise failure

    if status >= 400:
        if status in (408, 409, 425):
            failure = VenueError(f"{what}: HTTP {status} {_excerpt(body)}", venue=VENUE)
            if command:
                raise OutcomeUnknown(f"{what}: HTTP {status}: execution status unknown", venue=VENUE) from failure
            raise failure
        raise VenueRejected(status, f"HTTP {status} {_excerpt(body)}", venue=VENUE)

    if parse_error is not None or (decoded is None and status != 204):
        bad = malformed(what, f"answer is not JSON: {_excerpt(body)!r}")
        if command:
            raise OutcomeUnknown(f"{what}: unreadable answer after send", venue=VENUE) from bad
        raise bad from parse_error
    return decoded


def raise_for_transport(failure: BaseException, *, what: str, command: bool) -> NoReturn:
    """Map a timeout/connection error (always raises)."""
    kind = "timed out" if isinstance(failure, (httpx.TimeoutException, trio.TooSlowError)) or getattr(
        failure, "timeout", False) else "connection failed"
    sent = getattr(failure, "sent", True)
    detail = f"{what}: {kind} ({type(failure).__name__}: {redact(str(failure))})"
    error = VenueError(detail, venue=VENUE)
    if command:
        where = "after the request was sent" if sent else "before the request was complete"
        raise OutcomeUnknown(f"{what}: {kind} {where}; the order may or may not have been taken",
                             venue=VENUE) from failure
    raise error from failure


# ---------------------------------------------------------------------------------------------
# the lane: raw HTTP/1.1 keep-alive
# ---------------------------------------------------------------------------------------------


class _Conn:
    __slots__ = ("stream", "buffer", "idle_since", "fileno")

    def __init__(self, stream: trio.abc.Stream, fileno: int) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.idle_since = 0.0
        self.fileno = fileno


def _socket_of(stream: trio.abc.Stream) -> Any:
    """The socket under a (possibly TLS- or otherwise wrapped) stream, or None."""
    inner: Any = stream
    for _ in range(4):
        sock = getattr(inner, "socket", None)
        if sock is not None:
            return sock
        inner = getattr(inner, "transport_stream", None) or getattr(inner, "inner", None)
        if inner is None:
            break
    return None


def _fileno_of(stream: trio.abc.Stream) -> int:
    sock = _socket_of(stream)
    return int(sock.fileno()) if sock is not None else -1


def _readable_now(fileno: int) -> bool:
    """True if an idle connection has something to read (the peer closed it, or sent garbage)."""
    if fileno < 0:
        return False
    try:
        readable, _, _ = select.select([fileno], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Http11Lane:
    """A small pool of HTTP/1.1 keep-alive connections for latency-critical requests.

    One request in flight per connection (no pipelining). An idle connection is reused if it is
    younger than ``max_idle_s`` and has nothing unread (a readable idle socket means the server
    closed it); otherwise it is replaced. :meth:`warm` opens connections ahead of need and
    :meth:`maintain` keeps ``min_idle`` of them open and warm in the background, so an order
    never pays for a TCP/TLS handshake (a server closing a connection after N requests included).
    """

    def __init__(self, base_url: str, *, timeout_s: float, max_idle_s: float = 4.0, max_connections: int = 8,
                 min_idle: int = 1, stream_wrapper: StreamWrapper | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {base_url!r}")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        default_port = 443 if self._tls else 80
        self.host_header = self._host if self._port == default_port else f"{self._host}:{self._port}"
        self.prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s
        self._max_idle_s = max_idle_s
        self._idle: list[_Conn] = []
        self.min_idle = min_idle
        self._wake = trio.Event()
        self._slots = trio.Semaphore(max_connections)
        self._wrapper = stream_wrapper
        self._ssl_context: ssl.SSLContext | None = ssl.create_default_context() if self._tls else None
        self.connections_opened = 0
        "How many connections were opened (tests check keep-alive through it)."

    async def _connect(self) -> _Conn:
        stream: trio.abc.Stream = await trio.open_tcp_stream(self._host, self._port)
        fileno = _fileno_of(stream)  # trio sets TCP_NODELAY on its socket streams
        if self._ssl_context is not None:
            tls = trio.SSLStream(stream, self._ssl_context, server_hostname=self._host, https_compatible=True)
            try:
                await tls.do_handshake()  # now, not on the first order
            except BaseException:
                _socket_of(stream).close()
                raise
            stream = tls
        if self._wrapper is not None:
            stream = self._wrapper(stream)
        self.connections_opened += 1
        return _Conn(stream, fileno)

    def _checkout(self) -> _Conn | None:
        now = trio.current_time()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.idle_since < self._max_idle_s and not _readable_now(conn.fileno):
                return conn
            self._discard(conn)
            self._wake.set()
        return None

    def _discard(self, conn: _Conn) -> None:
        """Close a connection we no longer trust, abruptly and without awaiting."""
        sock = _socket_of(conn.stream)
        if sock is not None:
            sock.close()

    async def warm(self, count: int = 1) -> None:
        """Open connections now so the next requests do not pay for the handshake."""
        for _ in range(count):
            conn = await self._connect()
            conn.idle_since = trio.current_time()
            self._idle.append(conn)

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def request(self, data: bytes) -> RawResponse:
        """Send one complete request (head + body) and read its answer.

        Raises :class:`TransportFailure` (with ``sent``) on any wire problem or timeout.
        """
        slots = self._slots
        try:
            slots.acquire_nowait()  # the hot path: no scheduler round when a connection slot is free
        except trio.WouldBlock:
            await slots.acquire()
        try:
            conn = self._checkout()
            sent = False
            try:
                if conn is None:
                    with trio.fail_after(self._timeout_s):
                        conn = await self._connect()
                # the write goes first, outside any cancel scope (a scope costs ~10 µs on a small
                # machine): one small request on an idle keep-alive connection never blocks
                await conn.stream.send_all(data)
                sent = True
                with trio.fail_after(self._timeout_s):
                    response, keep = await _read_response(conn)
            except trio.TooSlowError:
                if conn is not None:
                    self._discard(conn)
                raise TransportFailure("no complete answer within the timeout", sent=sent, timeout=True) from None
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, _ProtocolError) as e:
                if conn is not None:
                    self._discard(conn)
                raise TransportFailure(f"{type(e).__name__}: {e}", sent=sent) from e
            except BaseException:  # cancelled mid-request: the connection's state is unknown
                if conn is not None:
                    self._discard(conn)
                raise
            if keep:
                conn.idle_since = trio.current_time()
                self._idle.append(conn)
            else:
                self._discard(conn)
            return response
        finally:
            slots.release()
            if len(self._idle) < self.min_idle:
                self._wake.set()  # the maintainer opens a replacement off the hot path

    async def maintain(self, keepalive_request: bytes, *, refresh_s: float = 2.0,
                       may_send: Callable[[], bool] = lambda: True,
                       on_answer: Callable[[RawResponse], None] = lambda answer: None) -> None:
        """Forever: keep ``min_idle`` idle connections open; send ``keepalive_request`` (a cheap
        request) on any connection idle for ``refresh_s``, so the server does not time it out.
        ``may_send`` asks the rate scope first; ``on_answer`` sees each answer (a 429 to a
        keep-alive request must slow everything down like any other)."""
        while True:
            with trio.move_on_after(refresh_s / 2):
                await self._wake.wait()
            self._wake = trio.Event()
            try:
                while len(self._idle) < self.min_idle:
                    with trio.fail_after(self._timeout_s):
                        conn = await self._connect()
                    conn.idle_since = trio.current_time()
                    self._idle.append(conn)
                now = trio.current_time()
                for conn in [c for c in self._idle if now - c.idle_since >= refresh_s]:
                    if conn not in self._idle or not may_send():
                        continue
                    self._idle.remove(conn)
                    try:
                        await conn.stream.send_all(keepalive_request)
                        with trio.fail_after(self._timeout_s):
                            response, keep = await _read_response(conn)
                    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, _ProtocolError,
                            trio.TooSlowError):
                        self._discard(conn)
                        continue
                    except BaseException:
                        self._discard(conn)
                        raise
                    on_answer(response)
                    if keep and response.status < 500:
                        conn.idle_since = trio.current_time()
                        self._idle.append(conn)
                    else:
                        self._discard(conn)
            except (OSError, trio.TooSlowError) as e:
                log.info("dzengi: order connection maintenance: %s", e)
                await trio.sleep(min(refresh_s, 5.0))

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _aclose_quietly(conn.stream)


async def _aclose_quietly(stream: trio.abc.AsyncResource) -> None:
    with trio.CancelScope(shield=True):
        with trio.move_on_after(1):
            try:
                await stream.aclose()
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass


class _ProtocolError(Exception):
    """The server's answer is not valid HTTP/1.1."""


async def _fill(conn: _Conn) -> None:
    data = await conn.stream.receive_some(65536)
    if not data:
        raise _ProtocolError("connection closed by the server")
    conn.buffer += data


async def _read_response(conn: _Conn) -> tuple[RawResponse, bool]:
    buf = conn.buffer
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(buf) > 65536:
            raise _ProtocolError("header section too long")
        await _fill(conn)
        buf = conn.buffer
    head = bytes(buf[:end]).decode("latin-1")
    del buf[:end + 4]
    lines = head.split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise _ProtocolError(f"bad status line {lines[0][:80]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise _ProtocolError(f"bad status line {lines[0][:80]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    keep = status_line[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if status in (204, 304) or 100 <= status < 200:
        return RawResponse(status, headers, b""), keep
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            while (line_end := conn.buffer.find(b"\r\n")) < 0:
                await _fill(conn)
            size_text = bytes(conn.buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
            del conn.buffer[:line_end + 2]
            if size == 0:
                while (trailer_end := conn.buffer.find(b"\r\n")) < 0:
                    await _fill(conn)
                while trailer_end != 0:  # skip trailers until the empty line
                    del conn.buffer[:trailer_end + 2]
                    while (trailer_end := conn.buffer.find(b"\r\n")) < 0:
                        await _fill(conn)
                del conn.buffer[:2]
                return RawResponse(status, headers, bytes(body)), keep
            while len(conn.buffer) < size + 2:
                await _fill(conn)
            body += conn.buffer[:size]
            del conn.buffer[:size + 2]
    length_text = headers.get("content-length")
    if length_text is not None:
        try:
            length = int(length_text)
        except ValueError:
            raise _ProtocolError(f"bad content-length {length_text[:20]!r}") from None
        while len(conn.buffer) < length:
            await _fill(conn)
        body_bytes = bytes(conn.buffer[:length])
        del conn.buffer[:length]
        return RawResponse(status, headers, body_bytes), keep
    # no length: the body runs to the end of the connection
    chunks = bytearray(conn.buffer)
    conn.buffer.clear()
    while True:
        data = await conn.stream.receive_some(65536)
        if not data:
            return RawResponse(status, headers, bytes(chunks)), False
        chunks += data


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class DzengiRest:
    """Signed and public REST calls to one Dzengi host (one account's credentials, or none).

    Requests go out on :class:`Http11Lane` (``lean_http``, the default without a custom
    transport) or on an ``httpx.AsyncClient``: ``transport`` plugs an ``httpx`` transport in
    (``httpx.MockTransport`` in unit tests), and ``lean_http=False`` uses httpx for everything
    (e.g. behind an HTTP proxy, which the lane does not speak). The server clock offset
    (:meth:`sync_time`) goes into every ``timestamp``.
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
        request_weight_per_min: int = 1200,
        orders_per_s: int = 10,
        max_rate_wait_s: float = 2.0,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be within 1..{MAX_RECV_WINDOW_MS}, got {recv_window_ms}")
        self.base_url = base_url.rstrip("/")
        self.version = api_version
        self._credentials = credentials
        self.recv_window_ms = recv_window_ms
        self._wall_ms = wall_ms
        self.offset_ms = 0
        "Estimated ``serverTime - local time`` in ms (positive: the server is ahead)."
        self.rtt_ms = 0
        self.safety_ms = 250
        "Timestamps are sent this much behind the estimated server time (the venue refuses the future)."
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, transport=transport,
                                       headers={"User-Agent": "triotrade"})
        use_lane = (transport is None) if lean_http is None else lean_http
        self.lane: Http11Lane | None = (
            Http11Lane(self.base_url, timeout_s=timeout_s, stream_wrapper=stream_wrapper, min_idle=2)
            if use_lane else None)
        self.weights = RateScope("request weight", [(request_weight_per_min, 60.0)], max_wait_s=max_rate_wait_s)
        self.orders = RateScope("orders", [(orders_per_s, 1.0)], max_wait_s=max_rate_wait_s)
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
        """Keep the lane's connections open and warm (``GET time`` on idle ones); never returns."""
        if self.lane is None:
            await trio.sleep_forever()
            return
        request = (f"GET {self.lane.prefix}{Endpoint.TIME.path(self.version)} HTTP/1.1\r\n"
                   f"Host: {self.lane.host_header}\r\nUser-Agent: triotrade\r\n\r\n").encode("latin-1")
        await self.lane.maintain(request, may_send=lambda: self.weights.try_take(1), on_answer=self._keepalive_answer)

    def _keepalive_answer(self, answer: RawResponse) -> None:
        if answer.status in (429, 418, 403):
            self._note_rate_limited(_retry_after(answer.headers, 60.0 if answer.status == 418 else 1.0))

    # -- clock ----------------------------------------------------------------------------
    def timestamp_ms(self) -> int:
        """Local time corrected by the server offset, minus a safety margin."""
        return self._wall_ms() + self.offset_ms - self.safety_ms

    async def sync_time(self) -> int:
        """Measure the server clock offset from ``GET time`` (mid-point of the round trip)."""
        t0 = self._wall_ms()
        server = parse_server_time(await self.get_public(Endpoint.TIME))
        t1 = self._wall_ms()
        self.rtt_ms = t1 - t0
        self.offset_ms = server - (t0 + t1) // 2
        self.safety_ms = min(1000, 100 + self.rtt_ms // 2)
        self._clock_stale = False
        return self.offset_ms

    @property
    def clock_stale(self) -> bool:
        """True after the venue refused a timestamp (-1021) until the next :meth:`sync_time`."""
        return self._clock_stale

    # -- generic requests ---------------------------------------------------------------------
    async def get_public(self, endpoint: Endpoint, params: Sequence[tuple[str, object]] = (), *,
                         weight: int | None = None) -> Any:
        """An unsigned GET."""
        query = encode_params(params)
        await self.weights.acquire(weight or _WEIGHTS.get(endpoint.value, 1))
        return await self._send("GET", self.path(endpoint), query, "", {}, what=f"GET {endpoint.value}",
                                     command=False)

    async def get_signed(self, endpoint: Endpoint, params: Sequence[tuple[str, object]] = (), *,
                         weight: int | None = None) -> Any:
        """A signed GET (USER_DATA); retried once after a clock resync if the venue says -1021."""
        creds = self._creds()
        for attempt in (1, 2):
            # the rate-limit slot first, the timestamp after it: a wait must not age the signature
            await self.weights.acquire(weight or _WEIGHTS.get(endpoint.value, 1))
            signed = sign_request(creds, params, self.timestamp_ms(), self.recv_window_ms)
            try:
                return await self._send("GET", self.path(endpoint), signed.query, "", signed.headers,
                                             what=f"GET {endpoint.value}", command=False)
            except ClockRejected:
                if attempt == 2:
                    raise
                await self.sync_time()
        raise AssertionError("unreachable")

    def _creds(self) -> Credentials:
        if self._credentials is None:
            raise AuthFailed("this request needs an API key and secret; none are configured", venue=VENUE)
        return self._credentials

    async def _send(self, method: str, path: str, query: str, body: str, headers: Mapping[str, str], *,
                         what: str, command: bool) -> Any:
        lane = self.lane
        if lane is not None:
            target = f"{lane.prefix}{path}?{query}" if query else f"{lane.prefix}{path}"
            lines = [f"{method} {target} HTTP/1.1", f"Host: {lane.host_header}", "User-Agent: triotrade"]
            lines.extend(f"{name}: {value}" for name, value in headers.items())
            payload = body.encode()
            if body:
                lines.append(f"Content-Type: {_FORM}")
            if body or method != "GET":
                lines.append(f"Content-Length: {len(payload)}")
            data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
            self.requests_sent += 1
            try:
                raw = await lane.request(data)
            except TransportFailure as e:
                raise_for_transport(e, what=what, command=command)
            return self._decode(raw, what=what, command=command)
        url = f"{path}?{query}" if query else path
        request_headers = dict(headers)
        if body:
            request_headers["Content-Type"] = _FORM
        self.requests_sent += 1
        try:
            response = await self._http.request(method, url, content=body.encode() if body else None,
                                                headers=request_headers)
        except httpx.TransportError as e:
            raise_for_transport(e, what=what, command=command)
        raw = RawResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)
        return self._decode(raw, what=what, command=command)

    def _decode(self, raw: RawResponse, *, what: str, command: bool) -> Any:
        try:
            return raise_for_response(raw, what=what, command=command)
        except RateLimited as e:
            self._note_rate_limited(e.retry_after_s)
            raise
        except OutcomeUnknown as e:
            if isinstance(e.__cause__, RateLimited):
                self._note_rate_limited(e.__cause__.retry_after_s)
            raise
        except ClockRejected:
            self._clock_stale = True
            raise

    def _note_rate_limited(self, retry_after_s: float) -> None:
        self.weights.block(retry_after_s)
        self.orders.block(retry_after_s)
        log.warning("dzengi: rate limited, backing off %.1f s", retry_after_s)

    # -- public market data -------------------------------------------------------------------
    async def time(self) -> Any:
        return await self.get_public(Endpoint.TIME)

    async def exchange_info(self) -> Any:
        return await self.get_public(Endpoint.EXCHANGE_INFO)

    async def depth(self, symbol: str, limit: int = 100) -> Any:
        return await self.get_public(Endpoint.DEPTH, [("symbol", symbol), ("limit", limit)],
                                     weight=1 if limit <= 100 else 5 if limit <= 500 else 10)

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
        return await self.get_signed(Endpoint.MY_TRADES, [("symbol", symbol), ("startTime", start_ms), ("limit", limit)])

    async def open_orders(self, symbol: str | None = None) -> Any:
        return await self.get_signed(Endpoint.OPEN_ORDERS, [("symbol", symbol)],
                                     weight=1 if symbol else _OPEN_ORDERS_ALL_WEIGHT)

    async def fetch_order(self, symbol: str, order_id: str) -> Any:
        return await self.get_signed(Endpoint.FETCH_ORDER, [("symbol", symbol), ("orderId", order_id)])

    async def trading_positions(self) -> Any:
        return await self.get_signed(Endpoint.TRADING_POSITIONS)

    async def leverage_settings(self, symbol: str) -> Any:
        return await self.get_signed(Endpoint.LEVERAGE_SETTINGS, [("symbol", symbol)])

    # -- order commands -------------------------------------------------------------------------
    async def new_order(self, encoded_params: str) -> Any:
        """``POST order`` with already URL-encoded params (the hot path; see :meth:`encode_order`).

        Signs ``params&recvWindow=…&timestamp=…`` in the form body. Only definite answers return
        or raise VenueRejected/AuthFailed; everything else is OutcomeUnknown.
        """
        if not self.orders.try_take(1):
            await self.orders.acquire(1)
        if not self.weights.try_take(1):
            await self.weights.acquire(1)
        creds = self._creds()
        signed = f"{encoded_params}{self._tail}{self.timestamp_ms()}"
        body = f"{signed}&signature={sign_params(creds.secret, signed)}".encode()
        if self.lane is not None:
            data = b"%s%d\r\n\r\n%s" % (self._order_head, len(body), body)
            self.requests_sent += 1
            try:
                raw = await self.lane.request(data)
            except TransportFailure as e:
                raise_for_transport(e, what="POST order", command=True)
            return self._decode(raw, what="POST order", command=True)
        return await self._send("POST", self._order_path, "", body.decode(), {API_KEY_HEADER: creds.api_key},
                                     what="POST order", command=True)

    async def cancel_order(self, symbol: str, order_id: str) -> Any:
        """``DELETE order`` (params in the query string). Unknown outcome → OutcomeUnknown."""
        await self.weights.acquire(1)
        creds = self._creds()
        signed = sign_request(creds, [("symbol", symbol), ("orderId", order_id)], self.timestamp_ms(),
                              self.recv_window_ms)
        return await self._send("DELETE", self._order_path, signed.query, "", signed.headers,
                                     what="DELETE order", command=True)

    @staticmethod
    def encode_order(params: Sequence[tuple[str, object]]) -> str:
        """URL-encode order params with the signer's rules (for callers that cache fragments)."""
        return encode_params(params)
