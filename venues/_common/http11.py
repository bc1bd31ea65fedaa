"""A lean HTTP/1.1 keep-alive lane: the lowest-latency :class:`~venues._common.rest.Transport`.

A small pool of raw HTTP/1.1 connections (TLS for ``https://``), one request in flight per
connection, bounded answer parsing (``Content-Length`` or chunked, :data:`MAX_BODY_BYTES`). Used by a
venue client for latency-critical requests (order commands) and, via :meth:`Http11Lane.send`, for
anything else; ``httpx`` remains the transport behind a proxy and in unit tests.
"""

from __future__ import annotations

import logging
import re
import select
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import trio

from .rest import RawResponse, StreamWrapper, TransportFailure

__all__ = ["Http11Lane", "MAX_BODY_BYTES"]

log = logging.getLogger("venues._common.http11")


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

    def encode(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """The request's bytes: request line, Host, User-Agent, ``headers``, Content-Length, body."""
        lines = [f"{method} {self.prefix}{target} HTTP/1.1", f"Host: {self.host_header}", "User-Agent: triotrade"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if body or method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> RawResponse:
        """:meth:`venues._common.rest.Transport.send` on the lane (``target`` without the URL's path prefix)."""
        return await self.request(self.encode(method, target, headers, body))

    async def maintain(self, keepalive_request: bytes, *, refresh_s: float = 2.0,
                       may_send: Callable[[], bool] = lambda: True,
                       on_answer: Callable[[RawResponse, int, int], None] = lambda answer, sent, received: None,
                       now_ns: Callable[[], int] = time.monotonic_ns) -> None:
        """Forever: keep ``min_idle`` idle connections open; send ``keepalive_request`` (a cheap
        request) on any connection idle for ``refresh_s``, so the server does not time it out.
        ``may_send`` asks the rate limiter first; ``on_answer(answer, sent_ns, received_ns)`` sees
        each answer with the ``now_ns`` times the request left and its answer arrived (a 429 to a
        keep-alive request must slow everything down like any other; a server time in it is a
        clock sample)."""
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
                        sent_ns = now_ns()
                        await conn.stream.send_all(keepalive_request)
                        with trio.fail_after(self._timeout_s):
                            response, keep = await _read_response(conn)
                        received_ns = now_ns()
                    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, _ProtocolError,
                            trio.TooSlowError):
                        self._discard(conn)
                        continue
                    except BaseException:
                        self._discard(conn)
                        raise
                    on_answer(response, sent_ns, received_ns)
                    if keep and response.status < 500:
                        conn.idle_since = trio.current_time()
                        self._idle.append(conn)
                    else:
                        self._discard(conn)
            except (OSError, trio.TooSlowError) as e:
                log.info("order connection maintenance: %s", e)
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
    """The server's answer is not valid HTTP/1.1 (or is larger than :data:`MAX_BODY_BYTES`)."""


MAX_BODY_BYTES = 32 * 1024 * 1024
"The largest answer body the HTTP/1.1 lane reads (declared, chunked or to the end of the stream)."

_DECIMAL = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-fA-F]{1,12}")


def _bounded_size(text: str, pattern: re.Pattern[str], base: int, what: str) -> int:
    """A body or chunk size in ASCII digits of ``base``, at most :data:`MAX_BODY_BYTES`."""
    if pattern.fullmatch(text) is None:
        raise _ProtocolError(f"bad {what} {text[:20]!r}")
    size = int(text, base)
    if size > MAX_BODY_BYTES:
        raise _ProtocolError(f"{what} {size} is over the {MAX_BODY_BYTES}-byte limit")
    return size


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
    if len(status_line[1]) != 3 or not status_line[1].isascii() or not status_line[1].isdigit():
        raise _ProtocolError(f"bad status line {lines[0][:80]!r}")
    status = int(status_line[1])
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
            size_text = bytes(conn.buffer[:line_end]).split(b";", 1)[0].strip().decode("latin-1")
            size = _bounded_size(size_text, _HEX, 16, "chunk size")
            if len(body) + size > MAX_BODY_BYTES:
                raise _ProtocolError(f"chunked body over the {MAX_BODY_BYTES}-byte limit")
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
        length = _bounded_size(length_text, _DECIMAL, 10, "content-length")
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
        if len(chunks) > MAX_BODY_BYTES:
            raise _ProtocolError(f"body over the {MAX_BODY_BYTES}-byte limit")
