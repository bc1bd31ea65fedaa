"""Plumbing every local testnet shares: a raw ASGI app served by hypercorn's trio worker.

A venue dialect supplies two coroutines, one for an HTTP request and one for a WebSocket; this
module turns them into an ASGI application (:func:`make_asgi_app`), serves it on 127.0.0.1
(:func:`serve_testnet`, port 0 picks a free port and reports the bound URL through
``task_status``) and offers :func:`open_testnet` for tests.

Raw ASGI rather than a web framework: a testnet must see the query string and body *exactly as
received* (signatures cover those bytes), answer with the venue's own error bodies, and speak a
venue's WebSocket envelope; a framework's routing, parsing and error pages would only sit in the
way. JSON goes out through :func:`dumps_json`, which writes :class:`~decimal.Decimal` values as
exact JSON numbers.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from decimal import Decimal
from typing import Any

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

__all__ = [
    "HttpRequest",
    "HttpResponse",
    "WebSocketConnection",
    "WebSocketClosed",
    "HttpHandler",
    "WebSocketHandler",
    "make_asgi_app",
    "serve_testnet",
    "open_testnet",
    "run_testnet_main",
    "dumps_json",
    "ws_url_of",
    "RateRule",
    "LimitHit",
    "WindowLimiter",
    "BanTracker",
    "MAX_BODY_BYTES",
    "MAX_WS_MESSAGE_BYTES",
]

MAX_BODY_BYTES = 1 << 20
"The largest HTTP request body a testnet takes (1 MiB); a longer one is refused whole, never cut."

MAX_WS_MESSAGE_BYTES = 1 << 20
"The largest WebSocket message a testnet takes (1 MiB); a longer one closes the socket with 1009."

# ---------------------------------------------------------------------------------------------
# JSON with exact decimals
# ---------------------------------------------------------------------------------------------


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(json.dumps(obj, ensure_ascii=False))
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"cannot write {obj} as JSON")
        out.append(format(obj, "f"))
    elif isinstance(obj, float):
        raise TypeError(f"refusing float {obj!r} in a testnet answer; use Decimal")
    elif isinstance(obj, Mapping):
        out.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                out.append(",")
            first = False
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(value, out)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        out.append("[")
        for i, value in enumerate(obj):
            if i:
                out.append(",")
            _encode(value, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def dumps_json(obj: Any) -> str:
    """Compact JSON; Decimals become exact number tokens (``Decimal('0.10')`` → ``0.10``), floats are refused."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# requests, responses, sockets
# ---------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class HttpRequest:
    """One HTTP request as received."""

    method: str
    "Upper-case method."
    path: str
    "Decoded path, without the query string."
    raw_query: str
    "The query string exactly as received (no leading ``?``)."
    body: bytes
    "The body exactly as received."
    headers: Mapping[str, str]
    "Headers with lower-case names (the last value wins if repeated)."
    client_host: str
    "The peer's address (rate limits are per IP)."
    raw_path: str = ""
    "The path exactly as received (still percent-encoded, latin-1 decoded), without the query string."
    repeated_headers: frozenset[str] = frozenset()
    "Lower-case names of headers sent more than once (a dialect refuses those it reads)."


@attrs.frozen(slots=True)
class HttpResponse:
    """An answer to send."""

    status: int
    body: bytes = b""
    headers: Sequence[tuple[str, str]] = ()
    hold_s: float = 0.0
    "Wait this long before sending (a held answer: the client's timeout fires first)."
    reset: bool = False
    "Close the connection after the status line instead of sending the body (the answer is lost)."

    @classmethod
    def json(cls, status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
        """A JSON answer (``Decimal`` values as exact numbers)."""
        return cls(status, dumps_json(obj).encode(), (("content-type", "application/json"), *headers))


class WebSocketClosed(Exception):
    """The peer went away (or the server closed the socket)."""


class WebSocketConnection:
    """One accepted WebSocket: text in, text out (writes serialised by a lock)."""

    def __init__(self, scope: Mapping[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                 send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.path: str = scope.get("path", "")
        self.raw_query: str = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client") or ("", 0)
        self.client_host: str = str(client[0])
        self._receive = receive
        self._send = send
        self._send_lock = trio.Lock()
        self.closed = False
        self.messages_sent = 0
        "How many messages the server has sent on this socket."
        self.opened_at = trio.current_time()

    async def receive_message(self) -> str | bytes:
        """The next message as sent: ``str`` for a text frame, ``bytes`` for a binary one.

        Raises :class:`WebSocketClosed` on disconnect. Bytes are not decoded here, so a dialect
        can refuse invalid UTF-8 with its own error instead of reading replacement characters.
        """
        while True:
            if self.closed:
                raise WebSocketClosed()
            message = await self._receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if message.get("text") is not None:
                    return str(message["text"])
                return bytes(message.get("bytes") or b"")
            if kind == "websocket.disconnect":
                self.closed = True
                raise WebSocketClosed()

    async def receive_text(self) -> str:
        """The next text (or UTF-8 bytes) message; raises :class:`WebSocketClosed` on disconnect."""
        message = await self.receive_message()
        if isinstance(message, bytes):
            return message.decode("utf-8", "replace")
        return message

    async def send_text(self, text: str) -> None:
        """Send one text message; raises :class:`WebSocketClosed` if the socket is closed."""
        async with self._send_lock:
            if self.closed:
                raise WebSocketClosed()
            await self._send({"type": "websocket.send", "text": text})
            self.messages_sent += 1

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (idempotent)."""
        async with self._send_lock:
            if self.closed:
                return
            self.closed = True
            await self._send({"type": "websocket.close", "code": code, "reason": reason})


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]
WebSocketHandler = Callable[[WebSocketConnection], Awaitable[None]]

TooLargeHandler = Callable[[int], HttpResponse]
"Builds the answer to a request whose body is over the limit (the limit in bytes is passed)."


def _default_too_large(limit: int) -> HttpResponse:
    return HttpResponse.json(413, {"error": f"request body larger than {limit} bytes"})


class _BodyTooLarge(Exception):
    pass


def _declared_length(scope: Mapping[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None
    return None


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int) -> bytes | None:
    """The whole body, ``None`` if the client went away; raises :class:`_BodyTooLarge` over ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _request_of(scope: Mapping[str, Any], body: bytes) -> HttpRequest:
    headers: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        if key in headers:
            repeated.add(key)
        headers[key] = value.decode("latin-1")
    client = scope.get("client") or ("", 0)
    raw_path = scope.get("raw_path")
    return HttpRequest(
        method=scope["method"].upper(),
        path=scope["path"],
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        body=body,
        headers=headers,
        client_host=str(client[0]),
        raw_path=raw_path.decode("latin-1").partition("?")[0] if raw_path else scope["path"],
        repeated_headers=frozenset(repeated),
    )


async def _send_response(send: Callable[[dict[str, Any]], Awaitable[None]], response: HttpResponse) -> None:
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        + [(b"content-length", str(len(response.body)).encode())],
    })
    await send({"type": "http.response.body", "body": response.body})


async def _send_head_only(send: Callable[[dict[str, Any]], Awaitable[None]], response: HttpResponse) -> None:
    """Start the answer, then end the exchange without its body: the server closes the connection.

    The client reads a status line promising ``Content-Length`` bytes and then the end of the
    stream, so it has no answer (what a reset between the venue booking an order and its reply
    looks like from the client).
    """
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [(b"content-length", str(len(response.body) or 1).encode()), (b"connection", b"close")],
    })


def make_asgi_app(
    handle_http: HttpHandler,
    handle_websocket: WebSocketHandler | None = None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    too_large: TooLargeHandler = _default_too_large,
) -> Callable[..., Any]:
    """Wrap a venue dialect's handlers as an ASGI 3 application (lifespan handled here).

    A request body over ``max_body_bytes`` (declared by ``Content-Length`` or counted while
    reading) never reaches ``handle_http``: the client gets ``too_large(max_body_bytes)``, the
    dialect's own 413 answer. A request is taken whole or refused, never cut.
    """

    async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                  send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif kind == "http":
            declared = _declared_length(scope)
            try:
                if declared is not None and declared > max_body_bytes:
                    raise _BodyTooLarge()
                body = await _read_body(receive, max_body_bytes)
            except _BodyTooLarge:
                await _send_response(send, too_large(max_body_bytes))
                return
            if body is None:
                return
            response = await handle_http(_request_of(scope, body))
            if response.hold_s:
                await trio.sleep(response.hold_s)
            if response.reset:
                await _send_head_only(send, response)
                return
            await _send_response(send, response)
        elif kind == "websocket":
            message = await receive()
            if message["type"] != "websocket.connect":
                return
            if handle_websocket is None:
                await send({"type": "websocket.close", "code": 1008})
                return
            await send({"type": "websocket.accept"})
            ws = WebSocketConnection(scope, receive, send)
            try:
                await handle_websocket(ws)
            except WebSocketClosed:
                pass
            if not ws.closed:
                await ws.close(1000)

    return app


# ---------------------------------------------------------------------------------------------
# serving
# ---------------------------------------------------------------------------------------------


def ws_url_of(http_url: str, path: str = "") -> str:
    """``http://h:p`` → ``ws://h:p<path>``."""
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://"):] + path
    return "ws://" + http_url.removeprefix("http://") + path


async def serve_testnet(
    app: Callable[..., Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    quiet: bool = True,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until cancelled; ``task_status.started(url)`` with the bound URL.

    ``port=0`` binds a free port; the URL reports the real one (``http://127.0.0.1:PORT``).
    """
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    if quiet:
        config.errorlog = logging.getLogger("triotrade.testnet.http")
    config.graceful_timeout = 0.5
    config.websocket_max_message_size = MAX_WS_MESSAGE_BYTES
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(hypercorn_serve, app, config)
        task_status.started(binds[0])


@asynccontextmanager
async def open_testnet(
    app: Callable[..., Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    background: Sequence[Callable[..., Awaitable[Any]]] = (),
) -> AsyncIterator[str]:
    """Serve ``app`` for the duration of the block and yield its base URL.

    ``background`` tasks (e.g. a synthetic market) run beside the server and are cancelled with it.
    """
    async with trio.open_nursery() as nursery:
        for task in background:
            nursery.start_soon(task)
        url: str = await nursery.start(partial(serve_testnet, app, host=host, port=port))
        try:
            yield url
        finally:
            nursery.cancel_scope.cancel()


def run_testnet_main(serve: Callable[[], Awaitable[Any]]) -> int:
    """Run a testnet's ``serve()`` coroutine as a command until SIGINT or SIGTERM; the exit code.

    A signal stops the server cleanly (exit 0). A data or config problem (a missing
    ``--market-data`` folder, a bad accounts file) is one line on stderr and exit 2, never a
    traceback; anything else is a bug and is raised.
    """

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_on_signal, nursery.cancel_scope)
            await serve()
            await trio.sleep_forever()

    try:
        trio.run(main)
    except BaseException as exc:  # noqa: B036 - mapped to an exit code, or re-raised
        code = _testnet_exit_code(exc)
        if code is None:
            raise
        return code
    return 0


async def _cancel_on_signal(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            logging.getLogger("triotrade.testnet").info("received %s: stopping", signal.Signals(signum).name)
            scope.cancel()
            return


def _testnet_exit_code(exc: BaseException) -> int | None:
    from engine import ConfigError, DataError

    group = exc if isinstance(exc, BaseExceptionGroup) else BaseExceptionGroup("testnet", [exc])
    _, rest = group.split((KeyboardInterrupt, trio.Cancelled))  # Ctrl-C before the signal receiver was up
    if rest is None:
        return 0
    known, unknown = rest.split((ConfigError, DataError))
    if known is None or unknown is not None:
        return None
    first: BaseException = known
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    label = "data error" if isinstance(first, DataError) else "config error"
    print(f"{label}: {first}", file=sys.stderr)
    return 2


# ---------------------------------------------------------------------------------------------
# rate limits: fixed windows, 429, then a 418 ban for a client that does not back off
# ---------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class RateRule:
    """``limit`` units (request weight, orders) per fixed window of ``window_ms``, aligned to the epoch."""

    name: str
    window_ms: int
    limit: int


@attrs.frozen(slots=True)
class LimitHit:
    """A rule was exceeded: answer 429 and say when to retry."""

    rule: RateRule
    retry_after_ms: int


class WindowLimiter:
    """Counts units per key in fixed windows (a new window starts at each multiple of its length).

    A request that would exceed any rule is refused and counts nothing.
    """

    def __init__(self, rules: Sequence[RateRule]) -> None:
        self.rules = tuple(rules)
        self._used: dict[tuple[str, str], tuple[int, int]] = {}  # (key, rule) -> (window start, used)

    def try_add(self, key: str, units: int, now_ms: int) -> LimitHit | None:
        """Add ``units`` for ``key`` unless a rule would be exceeded (then return the hit)."""
        pending: list[tuple[tuple[str, str], int, int]] = []
        for rule in self.rules:
            start = now_ms - now_ms % rule.window_ms
            window, used = self._used.get((key, rule.name + str(rule.window_ms)), (start, 0))
            if window != start:
                used = 0
            if used + units > rule.limit:
                return LimitHit(rule, start + rule.window_ms - now_ms)
            pending.append(((key, rule.name + str(rule.window_ms)), start, used + units))
        for slot, start, used in pending:
            self._used[slot] = (start, used)
        return None

    def used(self, key: str, rule: RateRule, now_ms: int) -> int:
        """Units used by ``key`` in the current window of ``rule``."""
        start = now_ms - now_ms % rule.window_ms
        window, used = self._used.get((key, rule.name + str(rule.window_ms)), (start, 0))
        return used if window == start else 0


class BanTracker:
    """Escalation to an IP ban for clients that keep sending after a 429.

    After a 429 with ``Retry-After``, every request from the same key that arrives before that
    time is a violation; ``ban_after_violations`` of them ban the key for ``ban_s`` (doubling with
    each further ban, capped at ``ban_max_s``). A banned key gets 418 until the ban ends.
    """

    def __init__(self, *, ban_after_violations: int = 3, ban_s: float = 120.0, ban_max_s: float = 3 * 86400.0) -> None:
        self.ban_after_violations = ban_after_violations
        self.ban_ms = int(ban_s * 1000)
        self.ban_max_ms = int(ban_max_s * 1000)
        self._penalty_until: dict[str, int] = {}
        self._violations: dict[str, int] = {}
        self._banned_until: dict[str, int] = {}
        self._bans: dict[str, int] = {}

    def check(self, key: str, now_ms: int) -> int | None:
        """Count one request; returns the ban's end (ms) if the key is (now) banned, else None."""
        until = self._banned_until.get(key, 0)
        if now_ms < until:
            return until
        if now_ms < self._penalty_until.get(key, 0):
            self._violations[key] = self._violations.get(key, 0) + 1
            if self._violations[key] >= self.ban_after_violations:
                bans = self._bans.get(key, 0)
                length = min(self.ban_ms * (1 << bans), self.ban_max_ms)
                self._bans[key] = bans + 1
                self._violations[key] = 0
                self._penalty_until.pop(key, None)
                until = now_ms + length
                self._banned_until[key] = until
                return until
        else:
            self._violations[key] = 0
        return None

    def note_429(self, key: str, now_ms: int, retry_after_ms: int) -> None:
        """A 429 was sent to ``key``: requests before ``now + retry_after`` are violations."""
        self._penalty_until[key] = max(self._penalty_until.get(key, 0), now_ms + retry_after_ms)
