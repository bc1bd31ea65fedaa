"""Ekiden request signing, sans-I/O: request parts + key + a given timestamp in, headers out.

REST (private endpoints)::

    prehash   = timestamp + METHOD + path + body
    signature = base64(HMAC-SHA256(secret, prehash))

* ``timestamp`` is the ``EKIDEN-TIMESTAMP`` header value exactly as sent (ISO-8601 UTC, e.g.
  ``2025-05-10T12:34:56.123Z``);
* ``METHOD`` is upper case (``GET``, ``POST``, ``DELETE``, ``PATCH``);
* ``path`` is the request path from ``/v1/`` on **including the query string** as sent, with its
  ``?`` (``/v1/orders?market=ETH-USD&limit=100``); no query, no ``?``;
* ``body`` is the request body exactly as sent (the compact JSON bytes), empty for a request
  without one (every ``GET`` and ``DELETE``);
* the secret is used as its UTF-8 bytes (it is not base64-decoded first).

Headers: ``EKIDEN-API-KEY``, ``EKIDEN-TIMESTAMP``, ``EKIDEN-SIGNATURE``.

WebSocket private subscription (``{"type": "subscribe", "channel": "orders", "apiKey",
"signature", "timestamp"}``): the same rule applied to the stream's own request line, i.e.
``signature = base64(HMAC-SHA256(secret, timestamp + "GET" + "/v1/stream"))``.

No clock and no network here: the caller passes the timestamp (already corrected for the server
offset). The local testnet verifies incoming requests with the same functions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any


from venues._common.credentials import Credentials, UnsignedRequest, WireRequest

from .constants import API_KEY_HEADER, SIGNATURE_HEADER, STREAM_PATH, TIMESTAMP_HEADER, Channel, WsType
from .schemas import iso_from_ms

__all__ = ["Credentials", "EkidenSigner", "prehash", "signature_of", "sign_headers", "verify",
           "request_target", "ws_prehash", "ws_auth_message", "verify_ws_auth"]


def request_target(path: str, query: str = "") -> str:
    """The signed path: ``path`` plus ``?query`` when there is a query string."""
    return f"{path}?{query}" if query else path


def prehash(timestamp: str, method: str, target: str, body: bytes | str = b"") -> bytes:
    """The exact bytes that are signed: ``timestamp + METHOD + path(?query) + body``."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return timestamp.encode("utf-8") + method.upper().encode("ascii") + target.encode("utf-8") + body


def signature_of(secret: str, message: bytes) -> str:
    """``base64(HMAC-SHA256(secret, message))`` (standard alphabet, with padding)."""
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_headers(credentials: Credentials, timestamp: str, method: str, target: str,
                 body: bytes | str = b"") -> dict[str, str]:
    """The three authentication headers of one private REST request."""
    return {
        API_KEY_HEADER: credentials.api_key,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature_of(credentials.secret, prehash(timestamp, method, target, body)),
    }


class EkidenSigner:
    """A :class:`venues._common.Signer`: the three ``EKIDEN-*`` headers, the timestamp in ISO-8601
    with milliseconds, the target with its query string."""

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` signed at ``timestamp_ms`` (the venue's clock)."""
        headers = {**request.headers, **sign_headers(credentials, iso_from_ms(timestamp_ms), request.method,
                                                     request_target(request.path, request.query), request.body)}
        return WireRequest(request.method, request.path, request.query, request.body, headers)


def verify(secret: str, timestamp: str, method: str, target: str, body: bytes | str, signature: str) -> bool:
    """True iff ``signature`` signs the request exactly as received (constant-time compare)."""
    expected = signature_of(secret, prehash(timestamp, method, target, body))
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace"))


def ws_prehash(timestamp: str) -> bytes:
    """What a private WebSocket subscription signs: ``timestamp + "GET" + "/v1/stream"``."""
    return prehash(timestamp, "GET", STREAM_PATH)


def ws_auth_message(credentials: Credentials, timestamp: str, channel: str = Channel.ORDERS.value) -> dict[str, str]:
    """The private subscription frame, spelled as the conventions document shows it."""
    return {
        "type": WsType.SUBSCRIBE.value,
        "channel": channel,
        "apiKey": credentials.api_key,
        "signature": signature_of(credentials.secret, ws_prehash(timestamp)),
        "timestamp": timestamp,
    }


def verify_ws_auth(secret: str, timestamp: str, signature: str) -> bool:
    """True iff ``signature`` is the WebSocket signature of ``timestamp`` with ``secret``."""
    expected = signature_of(secret, ws_prehash(timestamp))
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace"))
