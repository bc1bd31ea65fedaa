"""Dzengi request signing, sans-I/O: parts and a given timestamp in, wire bytes and headers out.

REST (Binance style)::

    totalParams = <query string exactly as sent> + <form body exactly as sent>   (minus signature)
    signature   = hex(HMAC-SHA256(secret, totalParams))                          (lowercase)

Values are URL-encoded *before* signing (``BTC/USD`` is signed as ``BTC%2FUSD``): the signature
covers the bytes on the wire, so the server verifies the bytes it received, never a re-encoding.

WebSocket request/response: ``apiKey`` and ``timestamp`` (optionally ``recvWindow``) join the
payload, every payload pair except ``signature`` is sorted by key and joined raw (not
URL-encoded) as ``key=value`` with ``&``; the hex HMAC of that string goes in
``payload["signature"]``.

No clock and no network here: the caller passes ``timestamp_ms`` (already corrected for the
server offset). The local testnet verifies incoming requests with the same functions.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import attrs

from venues._common.credentials import Credentials, UnsignedRequest, WireRequest

__all__ = ["API_KEY_HEADER", "Credentials", "DzengiSigner", "SignedRequest", "sign_params", "encode_params",
           "sign_request", "strip_signature", "verify", "ws_string_to_sign", "sign_ws_payload",
           "verify_ws_payload"]

API_KEY_HEADER = "X-MBX-APIKEY"
"The header carrying the API key on every keyed request."


@attrs.frozen(slots=True)
class SignedRequest:
    """The exact parts to put on the wire for one signed REST request."""

    query: str
    "URL-encoded query string without the leading ``?`` (may be empty)."
    body: str
    "``application/x-www-form-urlencoded`` body (empty when the params travel in the query)."
    headers: dict[str, str]
    "Headers to add: ``X-MBX-APIKEY`` (and ``Content-Type`` when there is a body)."


def sign_params(secret: str, total_params: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``total_params`` keyed with ``secret``."""
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def _wire_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r} on the wire; pass a str, int or Decimal")
    if isinstance(value, Decimal):
        # no exponent on the wire: Decimal('1E-7') -> '0.0000001'
        return format(value, "f")
    return str(value)


def encode_params(params: Iterable[tuple[str, object]] | Mapping[str, object]) -> str:
    """URL-encode ordered ``(key, value)`` pairs the way the venue's own clients do.

    Same rules as :func:`urllib.parse.urlencode` (``/`` → ``%2F``, space → ``+``); bools become
    ``true``/``false``, Decimals plain notation; ``None`` values are left out.
    """
    pairs = params.items() if isinstance(params, Mapping) else params
    return urlencode([(k, _wire_value(v)) for k, v in pairs if v is not None])


_FORM = "application/x-www-form-urlencoded"


class DzengiSigner:
    """A :class:`venues._common.Signer`: ``recvWindow`` (if set), ``timestamp`` and ``signature``
    appended to the request's URL-encoded params, in the form body when the request has one (or
    says ``Content-Type: application/x-www-form-urlencoded``), else in the query string."""

    def __init__(self, recv_window_ms: int | None = None) -> None:
        self.recv_window_ms = recv_window_ms

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` signed at ``timestamp_ms``, with the ``X-MBX-APIKEY`` header."""
        in_body = bool(request.body) or request.headers.get("Content-Type") == _FORM
        params = request.body.decode() if in_body else request.query
        window = f"recvWindow={self.recv_window_ms}&" if self.recv_window_ms is not None else ""
        encoded = f"{params}&{window}timestamp={timestamp_ms}" if params else f"{window}timestamp={timestamp_ms}"
        signed = f"{encoded}&signature={sign_params(credentials.secret, encoded)}"
        headers = {**request.headers, API_KEY_HEADER: credentials.api_key}
        if in_body:
            headers["Content-Type"] = _FORM
            return WireRequest(request.method, request.path, request.query, signed.encode(), headers)
        return WireRequest(request.method, request.path, signed, request.body, headers)


def sign_request(
    credentials: Credentials,
    params: Iterable[tuple[str, object]] | Mapping[str, object],
    timestamp_ms: int,
    recv_window_ms: int | None = None,
    *,
    in_body: bool = False,
) -> SignedRequest:
    """Build the signed wire form of ``params`` (:class:`DzengiSigner`'s recipe).

    ``recvWindow`` (if given) and ``timestamp`` are appended after the params in that order, then
    ``signature``. With ``in_body=True`` everything goes in the form body (ccxt's way), otherwise
    in the query string (the Rust SDK's and python-currencycom's way).
    """
    encoded = encode_params(params)
    request = (UnsignedRequest("POST", "", body=encoded.encode(), headers={"Content-Type": _FORM}) if in_body
               else UnsignedRequest("GET", "", query=encoded))
    wire = DzengiSigner(recv_window_ms).sign(credentials, request, timestamp_ms)
    headers = {API_KEY_HEADER: credentials.api_key, **({"Content-Type": _FORM} if in_body else {})}
    return SignedRequest(query=wire.query, body=wire.body.decode(), headers=headers)


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Split a raw query string or form body into (itself without the ``signature`` pair, signature).

    The other pairs are kept byte for byte, so the result is what the client signed. Returns
    ``None`` as the signature when there is none (the last one wins if sent twice).
    """
    if not raw:
        return "", None
    kept: list[str] = []
    signature: str | None = None
    for pair in raw.split("&"):
        key, sep, value = pair.partition("=")
        if key == "signature":
            signature = value
        else:
            kept.append(pair)
    return "&".join(kept), signature


def verify(secret: str, query_without_sig: str, body_without_sig: str, signature: str) -> bool:
    """True iff ``signature`` (any letter case) signs ``query + body`` exactly as received."""
    expected = sign_params(secret, query_without_sig + body_without_sig)
    return hmac.compare_digest(expected, signature.strip().lower())


def _ws_value(value: object) -> str:
    # JavaScript's String(value): the official WebSocket examples build the string in JS.
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return ",".join(_ws_value(v) for v in value)
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r} in a signed payload; pass a str, int or Decimal")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def ws_string_to_sign(payload: Mapping[str, object]) -> str:
    """The WebSocket string to sign: payload pairs but ``signature``, sorted by key, raw ``k=v`` joined by ``&``."""
    return "&".join(f"{k}={_ws_value(payload[k])}" for k in sorted(payload) if k != "signature")


def sign_ws_payload(
    credentials: Credentials,
    payload: Mapping[str, object],
    timestamp_ms: int,
    recv_window_ms: int | None = None,
) -> dict[str, object]:
    """A copy of ``payload`` with ``apiKey``, ``timestamp``, optional ``recvWindow`` and ``signature``."""
    out: dict[str, object] = {k: v for k, v in payload.items() if k != "signature"}
    out["apiKey"] = credentials.api_key
    out["timestamp"] = timestamp_ms
    if recv_window_ms is not None:
        out["recvWindow"] = recv_window_ms
    out["signature"] = sign_params(credentials.secret, ws_string_to_sign(out))
    return out


def _ws_unambiguous(payload: Mapping[str, object]) -> bool:
    # ``k=v`` pairs joined by ``&`` are one reading only if no key holds ``=``/``&`` and no
    # value holds ``&``: {"a": "1&b=2"} and {"a": "1", "b": "2"} would sign the same string
    return all("=" not in k and "&" not in k and "&" not in _ws_value(v)
               for k, v in payload.items() if k != "signature")


def verify_ws_payload(secret: str, payload: Mapping[str, object]) -> bool:
    """True iff ``payload["signature"]`` signs the rest of ``payload`` (WebSocket rule).

    A payload whose string to sign could be read as another payload (a key with ``=`` or
    ``&``, a value with ``&``) is never verified: the signature must cover what is executed.
    """
    signature = payload.get("signature")
    if not isinstance(signature, str) or not _ws_unambiguous(payload):
        return False
    expected = sign_params(secret, ws_string_to_sign(payload))
    return hmac.compare_digest(expected, signature.strip().lower())
