"""Leverj signing, sans-I/O: request authentication (zka) and order signatures (Gluon).

Request authentication (``shared/venues/leverj-notes.md`` §2)::

    Authorization: <NONCE|SIGN> <accountId>.<apiKey>.<v>.<r>.<s>
    Nonce: <ms>

Both types sign with ``personal_sign``: ``keccak256("\\x19Ethereum Signed Message:\\n" + len(m) + m)``.
``NONCE`` signs ``m`` = the nonce's decimal string; ``SIGN`` signs ``m`` = JS ``JSON.stringify``
of ``{method, uri, body, nonce}`` (``uri`` relative to ``/<market>/api/v1``, query included;
``body`` left out when there is none; ``nonce`` a number). ``v`` is ``27``/``28`` in decimal,
``r``/``s`` ``0x`` + 64 hex digits, the api key its EIP-55 checksum form.

Orders (§3) carry ``signature`` = 65 bytes ``r‖s‖v`` over ``keccak256(solidityPack(fields))``,
signed by the api key either raw or as a 32-byte personal message; the venue accepts both.
Numbers are JS numbers on the wire: the venue scales the shortest decimal form of the double it
parsed, truncating, so the client sends only numbers that survive that trip
(:func:`js_number`) and the verifier canonicalises what it received the same way
(:func:`canonical_number`).

No clock and no network: the caller passes the nonce. The local testnet verifies with the same
functions (:func:`verify_authorization`, :func:`order_signers`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

import attrs
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from venues._common.credentials import Credentials, UnsignedRequest, WireRequest
from venues._common.jsjson import canonical_number, canonical_tree, js_dumps, js_number

from .constants import AUTHORIZATION_HEADER, NONCE_HEADER, AuthType, OrderType, Side

__all__ = [
    "Credentials",
    "AuthError",
    "AuthHeader",
    "Asset",
    "LeverjSigner",
    "address_of",
    "personal_digest",
    "sign_digest",
    "recover",
    "js_number",
    "canonical_number",
    "js_dumps",
    "auth_message",
    "authorization",
    "parse_authorization",
    "verify_authorization",
    "scale",
    "quantity_fraction",
    "margin_per_fraction",
    "spot_order_packed",
    "futures_order_packed",
    "order_hash",
    "sign_order",
    "order_signers",
    "signed_spot_order",
    "signed_futures_order",
]

_HEX64 = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_MAX_UINT = {8: 2**8, 32: 2**32, 64: 2**64, 256: 2**256}


class AuthError(ValueError):
    """A request's authentication is refused; the message is the venue's (``Authentication failed. …``)."""


@attrs.frozen
class Asset:
    """An asset as the order hash needs it: its contract address and decimals."""

    symbol: str
    address: str
    decimals: int


# -- keys and digests ------------------------------------------------------------------------------


def _private_key(secret: str) -> PrivateKey:
    text = secret[2:] if secret.startswith(("0x", "0X")) else secret
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("the api key secret is not a hex private key") from None
    if len(raw) != 32:
        raise ValueError("the api key secret is not a 32-byte private key")
    try:
        return PrivateKey(raw)
    except ValidationError:
        raise ValueError("the api key secret is not a valid secp256k1 private key") from None


def address_of(secret: str) -> str:
    """The checksummed address (the api key) of a private key."""
    return str(_private_key(secret).public_key.to_checksum_address())


def personal_digest(message: bytes) -> bytes:
    """``keccak256("\\x19Ethereum Signed Message:\\n" + len + message)`` (``personal_sign``)."""
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def sign_digest(secret: str, digest: bytes) -> tuple[int, int, int]:
    """``(v, r, s)`` of a deterministic (RFC 6979) signature of ``digest``, ``v`` in {27, 28}."""
    signature = _private_key(secret).sign_msg_hash(digest)
    return int(signature.v) + 27, int(signature.r), int(signature.s)


def recover(digest: bytes, v: int, r: int, s: int) -> str | None:
    """The checksummed address that signed ``digest``, or None for a signature that recovers nothing."""
    if v not in (27, 28) or not (0 < r < 2**256) or not (0 < s < 2**256):
        return None
    try:
        public = Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError):
        return None
    return str(public.to_checksum_address())


# -- request authentication ------------------------------------------------------------------------


def auth_message(auth_type: AuthType | str, method: str, uri: str, body: str | None, nonce: int) -> bytes:
    """The exact bytes an ``Authorization`` header signs (before the personal prefix).

    ``body`` is the request body as JSON text (``JSON.stringify`` form), or None for none.
    """
    if AuthType(auth_type) is AuthType.NONCE:
        return str(nonce).encode()
    parts = [f'"method":{json.dumps(method.upper())}', f'"uri":{json.dumps(uri, ensure_ascii=False)}']
    if body is not None:
        parts.append(f'"body":{body}')
    parts.append(f'"nonce":{nonce}')
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def authorization(auth_type: AuthType | str, account_id: str, secret: str, method: str, uri: str,
                  body: str | None, nonce: int) -> str:
    """The ``Authorization`` header value (``<TYPE> <accountId>.<apiKey>.<v>.<r>.<s>``)."""
    kind = AuthType(auth_type)
    v, r, s = sign_digest(secret, personal_digest(auth_message(kind, method, uri, body, nonce)))
    return f"{kind.value} {account_id}.{address_of(secret)}.{v}.0x{r:064x}.0x{s:064x}"


@attrs.frozen
class AuthHeader:
    """A parsed ``Authorization`` header."""

    type: AuthType
    account_id: str
    api_key: str
    v: int
    r: int
    s: int


def parse_authorization(header: str) -> AuthHeader:
    """Parse ``<TYPE> <accountId>.<apiKey>.<v>.<r>.<s>``; AuthError ``Invalid auth header`` otherwise."""
    parts = header.split(" ")
    if len(parts) != 2:
        raise AuthError("Invalid auth header")
    kind, credentials = parts
    fields = credentials.split(".")
    if kind not in AuthType.__members__ or len(fields) != 5:
        raise AuthError("Invalid auth header")
    account_id, api_key, v, r, s = fields
    if (not _ADDRESS.fullmatch(account_id) or not _ADDRESS.fullmatch(api_key) or v not in ("27", "28")
            or not _HEX64.fullmatch(r) or not _HEX64.fullmatch(s)):
        raise AuthError("Invalid auth header")
    return AuthHeader(AuthType(kind), account_id, api_key, int(v), int(r, 16), int(s, 16))


def verify_authorization(header: str, nonce_header: str, method: str, uri: str, body: Any, *, now_ms: int,
                         window_ms: int) -> AuthHeader:
    """Check a request's authentication as the venue does; the parsed header, or AuthError.

    ``body`` is the parsed request body (None for none; socket requests pass ``{body, params}``);
    the ``SIGN`` message is rebuilt from it with JS semantics. The recovered signer must equal the
    header's api key (exact string compare, so the checksum form); the caller checks that the api
    key belongs to the account.
    """
    auth = parse_authorization(header)
    if not nonce_header.isascii() or not nonce_header.isdigit() or len(nonce_header) > 16:
        raise AuthError(f"Authentication failed. Invalid Nonce {nonce_header[:32]}")
    nonce = int(nonce_header)
    stale = abs(now_ms - nonce)
    if stale > window_ms:
        raise AuthError(f"Authentication failed. Nonce {nonce} stale by {stale}ms")
    try:
        text = None if body is None else js_dumps(canonical_tree(body))
    except (ValueError, TypeError):
        raise AuthError("Authentication failed. SIGN mismatch") from None
    digest = personal_digest(auth_message(auth.type, method, uri, text, nonce))
    if recover(digest, auth.v, auth.r, auth.s) != auth.api_key:
        raise AuthError("Authentication failed. SIGN mismatch")
    return auth


# -- order signatures ------------------------------------------------------------------------------


def scale(value: Decimal | int, decimals: int) -> int:
    """``value × 10^decimals`` truncated toward zero (how the venue scales prices and spot sizes)."""
    with localcontext() as ctx:
        ctx.prec = 120
        return int((Decimal(value) * (Decimal(10) ** decimals)).to_integral_value(ROUND_DOWN))


def quantity_fraction(quantity: Decimal | int) -> tuple[int, int]:
    """A futures quantity as ``(numerator, denominator)``: ``0.02`` → ``(2, 100)``, ``1.5`` → ``(15, 10)``."""
    number = Decimal(quantity).normalize()
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    places = -exponent if exponent < 0 else 0
    return scale(number, places), 10**places


def margin_per_fraction(price: Decimal | int, leverage: Decimal | int, quote_decimals: int,
                        base_significant_digits: int) -> int:
    """Margin per 1 base unit in the quote's smallest unit (Leverj's own market maker's formula):
    ``roundHalfUp(price × 10^(decimals − bsd) / leverage) × 10^bsd``."""
    if Decimal(leverage) <= 0:
        raise ValueError("leverage must be positive")
    with localcontext() as ctx:
        ctx.prec = 120
        scaled = Decimal(price) * Decimal(10) ** (quote_decimals - base_significant_digits) / Decimal(leverage)
        return int(scaled.to_integral_value(ROUND_HALF_UP)) * int(10**base_significant_digits)


def _pack(types_values: Sequence[tuple[str, Any]]) -> bytes:
    out = bytearray()
    for kind, value in types_values:
        if kind == "address":
            text = str(value)
            if not _ADDRESS.fullmatch(text):
                raise ValueError(f"not an address: {text[:50]!r}")
            out += bytes.fromhex(text[2:])
            continue
        bits = int(kind[4:])
        number = int(value)
        if not 0 <= number < _MAX_UINT[bits]:
            raise ValueError(f"{number} does not fit {kind}")
        out += number.to_bytes(bits // 8, "big")
    return bytes(out)


def _number(order: Mapping[str, Any], name: str) -> Decimal:
    value = order.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError(f"order field {name!r} is not a number")
    try:
        return canonical_number(Decimal(value))
    except InvalidOperation:
        raise ValueError(f"order field {name!r} is not a number") from None


def _code(enum_type: type[Side] | type[OrderType], order: Mapping[str, Any], name: str) -> int:
    value = order.get(name)
    if not isinstance(value, str) or value not in enum_type.__members__:
        raise ValueError(f"Invalid order {name}")
    return int(enum_type[value])


def spot_order_packed(order: Mapping[str, Any], base: Asset, quote: Asset) -> bytes:
    """The packed fields of a spot order: accountId, timestamp (µs), orderType, side,
    quantity × 10^base.decimals, price × 10^quote.decimals, base address, quote address."""
    return _pack([
        ("address", order.get("accountId")),
        ("uint64", _number(order, "timestamp")),
        ("uint8", _code(OrderType, order, "orderType")),
        ("uint8", _code(Side, order, "side")),
        ("uint256", scale(_number(order, "quantity"), base.decimals)),
        ("uint256", scale(_number(order, "price"), quote.decimals)),
        ("address", base.address),
        ("address", quote.address),
    ])


def futures_order_packed(order: Mapping[str, Any], quote_decimals: int) -> bytes:
    """The packed fields of a futures order: accountId, timestamp (µs), orderType, side,
    instrument id, price × 10^decimals, marginPerFraction, quote, quantity numerator, denominator."""
    instrument = order.get("instrument")
    margin = order.get("marginPerFraction")
    if not isinstance(instrument, str) or not instrument.isdigit() or len(instrument) > 10:
        raise ValueError("Invalid order instrument")
    if not isinstance(margin, str) or not margin.isdigit() or len(margin) > 78:
        raise ValueError("Invalid order marginPerFraction")
    numerator, denominator = quantity_fraction(_number(order, "quantity"))
    return _pack([
        ("address", order.get("accountId")),
        ("uint64", _number(order, "timestamp")),
        ("uint8", _code(OrderType, order, "orderType")),
        ("uint8", _code(Side, order, "side")),
        ("uint32", int(instrument)),
        ("uint256", scale(_number(order, "price"), quote_decimals)),
        ("uint256", int(margin)),
        ("address", order.get("quote")),
        ("uint64", numerator),
        ("uint64", denominator),
    ])


def order_hash(packed: bytes) -> bytes:
    """``keccak256`` of the packed fields."""
    return keccak(packed)


def _personal32(digest: bytes) -> bytes:
    return keccak(b"\x19Ethereum Signed Message:\n32" + digest)


def sign_order(digest: bytes, secret: str, *, personal: bool = False) -> str:
    """The order's ``signature``: ``0x`` + r‖s‖v hex, over the raw hash (or its personal form)."""
    v, r, s = sign_digest(secret, _personal32(digest) if personal else digest)
    return f"0x{r:064x}{s:064x}{v:02x}"


def order_signers(digest: bytes, signature: object) -> tuple[str | None, str | None]:
    """``(personal signer, raw signer)`` a signature recovers over an order hash (None: nothing)."""
    if not isinstance(signature, str) or not re.fullmatch(r"0x[0-9a-fA-F]{130}", signature):
        return None, None
    raw = bytes.fromhex(signature[2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v < 27:
        v += 27
    return recover(_personal32(digest), v, r, s), recover(digest, v, r, s)


# -- the Signer of the REST client -----------------------------------------------------------------


class LeverjSigner:
    """A :class:`venues._common.Signer`: the ``Authorization`` and ``Nonce`` headers of one request.

    ``account_id`` is the trader's address; ``base_path`` the market's ``/<market>/api/v1`` (a
    ``SIGN`` header signs the path relative to it). The body must already be in
    ``JSON.stringify`` form (:func:`js_dumps`): it is signed as sent.
    """

    def __init__(self, account_id: str, base_path: str, auth_type: AuthType = AuthType.NONCE) -> None:
        self.account_id = account_id
        self.base_path = base_path
        self.auth_type = auth_type

    def uri_of(self, path: str, query: str = "") -> str:
        """The signed uri: the path relative to the market's API base, with its ``?query``."""
        relative = path[len(self.base_path):] if path.startswith(self.base_path) else path
        return f"{relative}?{query}" if query else relative

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` with its nonce ``timestamp_ms``."""
        body = request.body.decode("utf-8") if request.body else None
        header = authorization(self.auth_type, self.account_id, credentials.secret, request.method,
                               self.uri_of(request.path, request.query), body, timestamp_ms)
        headers = {**request.headers, AUTHORIZATION_HEADER: header, NONCE_HEADER: str(timestamp_ms)}
        return WireRequest(request.method, request.path, request.query, request.body, headers)


# -- signed orders as the venue takes them ---------------------------------------------------------


def signed_spot_order(*, account_id: str, secret: str, instrument: str, base: Asset, quote: Asset, side: str,
                      order_type: str, price: Decimal, quantity: Decimal, timestamp_us: int,
                      client_order_id: int | str | None = None, personal: bool = False) -> dict[str, Any]:
    """A spot order's JSON, signed (``price`` and ``quantity`` must be exact JS numbers)."""
    order: dict[str, Any] = {"orderType": order_type, "side": side, "price": Decimal(js_number(price)),
                             "quantity": Decimal(js_number(quantity)), "timestamp": timestamp_us,
                             "accountId": account_id, "token": base.address, "instrument": instrument}
    if client_order_id is not None:
        order["clientOrderId"] = client_order_id
    order["signature"] = sign_order(order_hash(spot_order_packed(order, base, quote)), secret, personal=personal)
    return order


def signed_futures_order(*, account_id: str, secret: str, instrument: str, quote: Asset, side: str,
                         order_type: str, price: Decimal, quantity: Decimal, margin_per_fraction: int,
                         timestamp_us: int, trigger_price: Decimal | None = None, post_only: bool = False,
                         reduce_only: bool = False, client_order_id: int | str | None = None,
                         personal: bool = False) -> dict[str, Any]:
    """A futures order's JSON in the official bot's field order, signed by the api key."""
    order: dict[str, Any] = {
        "accountId": account_id, "originator": address_of(secret), "instrument": instrument,
        "price": Decimal(js_number(price)), "quantity": Decimal(js_number(quantity)),
        "marginPerFraction": str(margin_per_fraction), "side": side, "orderType": order_type,
        "timestamp": timestamp_us, "quote": quote.address, "isPostOnly": post_only, "reduceOnly": reduce_only,
    }
    if client_order_id is not None:
        order["clientOrderId"] = client_order_id
    if trigger_price is not None:
        order["triggerPrice"] = Decimal(js_number(trigger_price))
    order["signature"] = sign_order(order_hash(futures_order_packed(order, quote.decimals)), secret, personal=personal)
    return order
