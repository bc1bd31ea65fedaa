"""The venue's signing recipe, sans-I/O. TEMPLATE: replace the prehash with the venue's.

``signature = hex(HMAC-SHA256(secret, timestamp + METHOD + target + body))``; no clock, no network:
the caller passes the timestamp. The venue's testnet verifies with the same functions.
"""

from __future__ import annotations

import hashlib
import hmac

from venues._common.credentials import Credentials, UnsignedRequest, WireRequest

from .constants import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

__all__ = ["Credentials", "TemplateSigner", "prehash", "verify"]


def prehash(timestamp_ms: int, method: str, target: str, body: bytes) -> bytes:
    """The exact bytes that are signed."""
    return f"{timestamp_ms}{method.upper()}{target}".encode() + body


class TemplateSigner:
    """A :class:`venues._common.Signer`: the three authentication headers of one request."""

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` signed at ``timestamp_ms``."""
        target = f"{request.path}?{request.query}" if request.query else request.path
        digest = hmac.new(credentials.secret.encode(), prehash(timestamp_ms, request.method, target, request.body),
                          hashlib.sha256).hexdigest()
        headers = {**request.headers, API_KEY_HEADER: credentials.api_key, TIMESTAMP_HEADER: str(timestamp_ms),
                   SIGNATURE_HEADER: digest}
        return WireRequest(request.method, request.path, request.query, request.body, headers)


def verify(secret: str, timestamp_ms: int, method: str, target: str, body: bytes, signature: str) -> bool:
    """True iff ``signature`` signs the request as received (constant-time compare)."""
    expected = hmac.new(secret.encode(), prehash(timestamp_ms, method, target, body), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
