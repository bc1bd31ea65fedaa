"""The one credentials type of every venue, and the protocol its signer follows.

:class:`Credentials` is :class:`engine._secrets.Credentials` (the engine loads key files and
environment variables into it; ``engine`` may not import from ``venues``): an API key and its
secret, validated (no control characters, the key printable ASCII), the key masked and the
secret left out of every repr. Each venue's ``signer.py`` re-exports it; there is no second one.

A signer is sans-I/O (like httpx's auth flow): request parts, credentials and a timestamp the
caller gives in; the exact wire parts (query, body, headers) out. No clock, no network, so the
same module verifies signatures on the venue's local testnet and is tested against the
published vectors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs

from engine import Credentials

__all__ = ["Credentials", "Signer", "UnsignedRequest", "WireRequest"]


@attrs.frozen(slots=True)
class UnsignedRequest:
    """A REST request as the client built it, before authentication."""

    method: str
    "Upper-case HTTP method."
    path: str
    "Path from the host's root (``/v1/orders``), without a query string."
    query: str = ""
    "URL-encoded query string without the leading ``?`` (may be empty)."
    body: bytes = b""
    "The body exactly as it will be sent (empty for none)."
    headers: Mapping[str, str] = attrs.field(factory=dict)
    "Headers the request carries before signing (``Content-Type``)."


@attrs.frozen(slots=True)
class WireRequest:
    """The exact parts a signer hands to the transport: nothing is re-encoded after signing."""

    method: str
    path: str
    query: str
    body: bytes
    headers: Mapping[str, str] = attrs.field(repr=False)
    "Headers to send, the authentication headers included (kept out of ``repr``)."


class Signer(Protocol):
    """Authenticates one request: pure, deterministic, given the timestamp (ms, server clock)."""

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` signed with ``credentials`` at ``timestamp_ms``."""
        ...
