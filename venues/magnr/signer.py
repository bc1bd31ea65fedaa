"""Magnr's signing recipe, sans-I/O.

``signature = base64(HMAC-SHA512(private key as text, tonce + public key + body))`` with the
body exactly as sent (``""`` for GET and DELETE); the request carries
``Authorization: Basic base64(public key ":" signature)`` and ``Tonce: <tonce>``. The tonce is
the caller's (milliseconds, strictly increasing per key: :mod:`venues.magnr.tonce`). The testnet
verifies with :func:`verify` and :func:`parse_authorization`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from venues._common.credentials import Credentials, UnsignedRequest, WireRequest

from .constants import AUTHORIZATION_HEADER, TONCE_HEADER

__all__ = ["Credentials", "MagnrSigner", "authorization", "parse_authorization", "signature", "verify"]


def signature(private_key: str, tonce: str, public_key: str, body: bytes) -> str:
    """The base64 HMAC-SHA512 of ``tonce + public_key + body`` keyed by the private key's text."""
    mac = hmac.new(private_key.encode(), tonce.encode() + public_key.encode() + body, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def authorization(public_key: str, sig: str) -> str:
    """The ``Authorization`` value: HTTP Basic with user = public key, password = signature."""
    return "Basic " + base64.b64encode(f"{public_key}:{sig}".encode()).decode("ascii")


class MagnrSigner:
    """A :class:`venues._common.Signer`: the ``Authorization`` and ``Tonce`` headers of one request."""

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` signed with tonce ``timestamp_ms``."""
        tonce = str(timestamp_ms)
        sig = signature(credentials.secret, tonce, credentials.api_key, request.body)
        headers = {**request.headers, AUTHORIZATION_HEADER: authorization(credentials.api_key, sig),
                   TONCE_HEADER: tonce}
        return WireRequest(request.method, request.path, request.query, request.body, headers)


def parse_authorization(value: str) -> tuple[str, str] | None:
    """``(public key, signature)`` of an ``Authorization`` value (scheme case-insensitive), else None."""
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() != "basic" or not credential:
        return None
    try:
        decoded = base64.b64decode(credential.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    public_key, sep, sig = decoded.partition(":")
    if not sep or not public_key or not sig:
        return None
    return public_key, sig


def verify(private_key: str, tonce: str, public_key: str, body: bytes, sig: str) -> bool:
    """True iff ``sig`` signs the request as received (the tonce header text verbatim; constant-time)."""
    expected = signature(private_key, tonce, public_key, body)
    return hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))
