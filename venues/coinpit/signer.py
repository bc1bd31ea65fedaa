"""Coinpit "loginless" signing, sans-I/O: bitcoin keys, ECDH, the HMAC of every request.

A user is a secp256k1 key pair (``shared/venues/coinpit-notes.md`` §2–4):

* the private key as WIF (``c…`` testnet, ``K…``/``L…`` mainnet: the network follows the WIF's
  first character, as Coinpit's own libraries decide it) or as 64 hex digits;
* ``userPublicKey``: the 33-byte compressed public key, hex; ``userid``: its P2PKH address
  (version ``0x6f`` testnet, ``0x00`` mainnet); the server's per-user key gives ``serverAddress``
  (P2PKH) and ``accountid`` (P2SH of the 2-of-2 multisig over both keys sorted as hex);
* the shared secret: the raw 32-byte X coordinate of ``userPriv · serverPub`` (not hashed), the
  HMAC key as those bytes;
* every protected request: ``Authorization: HMAC <userid>:<hex HMAC-SHA256>`` and ``Nonce: <ms>``
  over ``JSON.stringify({method, uri, body, nonce})`` — ``uri`` relative to ``/api/v1`` with its
  query, ``body`` left out when there is none, ``nonce`` a number; a socket message signs
  ``{body: {body, params}}`` instead;
* the API-key mode: ``Authorization: SIGN <userid>.<keyName>:<base64 ed25519 signature>`` over
  the same message (``keyName`` = the first 16 hex digits of the ed25519 public key);
* registration (``POST /auth``) signs its message as a Bitcoin Signed Message.

No clock and no network: the caller passes the nonce. The local testnet verifies with the same
functions (:func:`verify_authorization`). secp256k1 is libsecp256k1 through coincurve (constant
time on the secret); RIPEMD-160 and Ed25519 are pycryptodome's (hashlib's RIPEMD-160 depends on
the OpenSSL build).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import coincurve
from Crypto.Hash import RIPEMD160
from Crypto.Signature import eddsa

from venues._common.credentials import Credentials, UnsignedRequest, WireRequest
from venues._common.jsjson import canonical_tree, js_dumps

from .constants import (
    API_BASE,
    AUTHORIZATION_HEADER,
    NONCE_HEADER,
    P2PKH_VERSION,
    P2SH_VERSION,
    REQUEST_ID_HEADER,
    WIF_VERSION,
    Network,
)

__all__ = [
    "Credentials",
    "AuthError",
    "AuthHeader",
    "Identity",
    "CoinpitSigner",
    "b58encode_check",
    "b58decode_check",
    "hash160",
    "private_key_bytes",
    "network_of_key",
    "public_key_of",
    "address_of",
    "identity_of",
    "redeem_script",
    "accountid_of",
    "shared_secret",
    "js_dumps",
    "js_key_order",
    "hmac_message",
    "hmac_hex",
    "authorization",
    "socket_request",
    "parse_authorization",
    "canonical_body",
    "check_nonce",
    "verify_authorization",
    "apikey_name",
    "apikey_authorization",
    "verify_apikey",
    "sign_message",
    "verify_message",
]

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_HEX64 = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_PUBLIC = re.compile(r"0[23][0-9a-f]{64}")
_MAC = re.compile(r"[0-9a-f]{64}")
_USERID = re.compile(r"[1-9A-HJ-NP-Za-km-z]{25,40}")
_KEY_NAME = re.compile(r"[0-9a-f]{16}")
_SIGNED_MESSAGE_PREFIX = b"Bitcoin Signed Message:\n"


class AuthError(ValueError):
    """A request's authentication is refused; the message is the venue's (``Authentication failed. …``)."""


# -- base58check and hashes ------------------------------------------------------------------------


def _sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    """``RIPEMD160(SHA256(data))``."""
    return RIPEMD160.new(hashlib.sha256(data).digest()).digest()


def b58encode_check(payload: bytes) -> str:
    """Base58Check of ``payload`` (version byte included): payload + the first 4 bytes of SHA256d."""
    data = payload + _sha256d(payload)[:4]
    number = int.from_bytes(data, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _ALPHABET[digit] + text
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + text


def b58decode_check(text: str) -> bytes:
    """The payload of a Base58Check string (version byte included); ValueError if malformed."""
    if not text or len(text) > 120 or any(c not in _INDEX for c in text):
        raise ValueError("not a base58 string")
    number = 0
    for c in text:
        number = number * 58 + _INDEX[c]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    data = b"\0" * (len(text) - len(text.lstrip("1"))) + body
    if len(data) < 5 or _sha256d(data[:-4])[:4] != data[-4:]:
        raise ValueError("base58 checksum mismatch")
    return data[:-4]


# -- keys, addresses, ECDH -------------------------------------------------------------------------


def network_of_key(text: str, default: Network = Network.TESTNET) -> Network:
    """The network of a private key: a WIF's first character (``K``/``L`` → mainnet, any other WIF →
    testnet, as Coinpit's libraries decide); ``default`` for a hex key, which carries none."""
    if _HEX64.fullmatch(text.strip()):
        return default
    return Network.MAINNET if text.strip()[:1] in ("K", "L") else Network.TESTNET


def private_key_bytes(text: str) -> bytes:
    """The 32-byte secret of a WIF or hex private key; ValueError (naming no digits) otherwise."""
    value = text.strip()
    if _HEX64.fullmatch(value):
        raw = bytes.fromhex(value[2:] if value.startswith("0x") else value)
    else:
        try:
            payload = b58decode_check(value)
        except ValueError:
            raise ValueError("the private key is neither WIF nor 64 hex digits") from None
        if payload[:1] not in (bytes([WIF_VERSION[Network.MAINNET]]), bytes([WIF_VERSION[Network.TESTNET]])):
            raise ValueError("the WIF private key has an unknown version byte")
        if len(payload) == 34 and payload[33] == 1:
            raw = payload[1:33]
        elif len(payload) == 33:
            raw = payload[1:]
        else:
            raise ValueError("the WIF private key has a wrong length")
    try:
        coincurve.PrivateKey(raw)
    except ValueError:
        raise ValueError("the private key is not a valid secp256k1 secret") from None
    return raw


def public_key_of(secret: bytes) -> str:
    """The compressed public key (33 bytes, hex) of a 32-byte secret."""
    return coincurve.PrivateKey(secret).public_key.format(compressed=True).hex()


def _public_point(public_key: str) -> coincurve.PublicKey:
    if not isinstance(public_key, str) or not _PUBLIC.fullmatch(public_key):
        raise ValueError("not a compressed public key (66 lowercase hex digits, 02/03 first)")
    try:
        return coincurve.PublicKey(bytes.fromhex(public_key))
    except ValueError:
        raise ValueError("not a point of secp256k1") from None


def address_of(public_key: str, network: Network) -> str:
    """The P2PKH address of a compressed public key (the ``userid``, or the ``serverAddress``)."""
    _public_point(public_key)
    return b58encode_check(bytes([P2PKH_VERSION[network]]) + hash160(bytes.fromhex(public_key)))


def redeem_script(public_a: str, public_b: str) -> str:
    """``OP_2 <pk> <pk> OP_2 OP_CHECKMULTISIG`` over the two keys sorted as hex strings."""
    first, second = sorted((public_a, public_b))
    return "52" + "21" + first + "21" + second + "52ae"


def accountid_of(user_public_key: str, server_public_key: str, network: Network) -> str:
    """The P2SH address of the 2-of-2 multisig redeem script (the user's multisig account)."""
    script = bytes.fromhex(redeem_script(user_public_key, server_public_key))
    return b58encode_check(bytes([P2SH_VERSION[network]]) + hash160(script))


def shared_secret(secret: bytes, peer_public_key: str) -> bytes:
    """ECDH on secp256k1: the raw 32-byte X coordinate of ``secret · peer`` (symmetric)."""
    point = _public_point(peer_public_key).multiply(secret)
    return point.format(compressed=False)[1:33]


@attrs.frozen
class Identity:
    """Who a private key is at Coinpit: network, compressed public key, ``userid``."""

    network: Network
    public_key: str
    userid: str


def identity_of(private_key: str, network: Network | None = None) -> Identity:
    """The identity of a WIF or hex private key (``network`` decides for a hex key; default testnet)."""
    secret = private_key_bytes(private_key)
    chosen = network_of_key(private_key, network or Network.TESTNET)
    public = public_key_of(secret)
    return Identity(chosen, public, address_of(public, chosen))


# -- the signed message ----------------------------------------------------------------------------


def js_key_order(value: Any) -> Any:
    """``value`` with object keys in the order ``JSON.parse`` leaves them: array-index keys
    (``"0"``, ``"635"``) first, ascending, then the others in insertion order (what the venue
    re-serializes before it verifies)."""
    if isinstance(value, Mapping):
        index = sorted((k for k in value if _array_index(k)), key=int)
        rest = [k for k in value if not _array_index(k)]
        return {k: js_key_order(value[k]) for k in [*index, *rest]}
    if isinstance(value, list):
        return [js_key_order(v) for v in value]
    return value


def _array_index(key: object) -> bool:
    return isinstance(key, str) and key.isascii() and key.isdigit() and str(int(key)) == key and int(key) < 2**32 - 1


def hmac_message(method: str, uri: str, body: str | None, nonce: int) -> bytes:
    """The exact bytes signed: ``{"method":…,"uri":…,"body":…,"nonce":…}`` compact, ``body`` (JSON
    text, ``JSON.stringify`` form) left out when None, ``nonce`` a number."""
    parts = [f'"method":{json.dumps(method.upper())}', f'"uri":{json.dumps(uri, ensure_ascii=False)}']
    if body is not None:
        parts.append(f'"body":{body}')
    parts.append(f'"nonce":{int(nonce)}')
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def hmac_hex(key: bytes, message: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``message`` under the shared secret's bytes."""
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def authorization(userid: str, key: bytes, method: str, uri: str, body: str | None, nonce: int) -> str:
    """The ``Authorization`` header value: ``HMAC <userid>:<hex>``."""
    return f"HMAC {userid}:{hmac_hex(key, hmac_message(method, uri, body, nonce))}"


def socket_request(userid: str, key: bytes, method: str, uri: str, body: Any, nonce: int, *,
                   params: Mapping[str, Any] | None = None, requestid: str | None = None) -> dict[str, Any]:
    """The payload of a socket emit ``"<METHOD> <uri>"``: headers (``requestid``, ``Authorization``,
    ``Nonce``), method, uri, params, body; the MAC covers ``{body: {body, params}}``."""
    wrapped = js_dumps({"body": body, "params": dict(params or {})})
    headers: dict[str, Any] = {}
    if requestid is not None:
        headers[REQUEST_ID_HEADER] = requestid
    headers[AUTHORIZATION_HEADER] = authorization(userid, key, method, uri, wrapped, nonce)
    headers[NONCE_HEADER] = nonce
    return {"headers": headers, "method": method.upper(), "uri": uri, "params": dict(params or {}), "body": body}


# -- verifying (the testnet) -----------------------------------------------------------------------


@attrs.frozen
class AuthHeader:
    """A parsed ``Authorization`` header: ``HMAC <userid>:<mac>`` or ``SIGN <userid>.<keyName>:<sig>``."""

    scheme: str
    userid: str
    key_name: str
    proof: str = attrs.field(repr=False)


def parse_authorization(header: str) -> AuthHeader:
    """Parse the header; AuthError ``HMAC authentication needed`` for anything else."""
    refused = AuthError(f"HMAC authentication needed {header[:80]}")
    scheme, _, rest = header.partition(" ")
    who, colon, proof = rest.partition(":")
    if not colon or scheme not in ("HMAC", "SIGN"):
        raise refused
    if scheme == "HMAC":
        if not _USERID.fullmatch(who) or not _MAC.fullmatch(proof):
            raise refused
        return AuthHeader(scheme, who, "", proof)
    userid, dot, key_name = who.partition(".")
    if not dot or not _USERID.fullmatch(userid) or not _KEY_NAME.fullmatch(key_name) or len(proof) > 100:
        raise refused
    return AuthHeader(scheme, userid, key_name, proof)


def canonical_body(body: Any) -> str | None:
    """The body as the venue re-serializes it before verifying (None, ``{}`` and ``""``: no body)."""
    if body is None or body == {} or body == "":
        return None
    try:
        return js_dumps(js_key_order(canonical_tree(body)))
    except (ValueError, TypeError):
        raise AuthError("Authentication failed. HMAC mismatch: the body is not JSON the venue can sign") from None


def check_nonce(nonce_header: str, *, now_ms: int, window_ms: int) -> int:
    """The nonce as a number, within ``window_ms`` of ``now_ms``; AuthError with the venue's words."""
    text = nonce_header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        raise AuthError(f"Authentication failed. Invalid Nonce {text[:32]}")
    nonce = int(text)
    stale = abs(now_ms - nonce)
    if stale > window_ms:
        raise AuthError(f"Authentication failed. Nonce {nonce} stale by {stale}ms")
    return nonce


def verify_authorization(auth: AuthHeader, nonce_header: str, method: str, uri: str, body: Any, *, key: bytes,
                         now_ms: int, window_ms: int) -> int:
    """Check an ``HMAC`` header as the venue does (nonce first, then the MAC, constant time); the
    nonce, or AuthError. ``body`` is the parsed request body (socket requests pass ``{body,
    params}``); the message is rebuilt from it with JS semantics, so a MAC made for another
    method, uri, body or nonce fails."""
    nonce = check_nonce(nonce_header, now_ms=now_ms, window_ms=window_ms)
    expected = hmac_hex(key, hmac_message(method, uri, canonical_body(body), nonce))
    if auth.scheme != "HMAC" or not hmac.compare_digest(expected, auth.proof):
        raise AuthError(f"Authentication failed. HMAC mismatch {auth.scheme} {auth.userid}")
    return nonce


# -- API-key mode (ed25519) ------------------------------------------------------------------------


def _ed25519_seed(secret_key: str) -> bytes:
    raw = bytes.fromhex(secret_key) if re.fullmatch(r"[0-9a-fA-F]{64}|[0-9a-fA-F]{128}", secret_key) else b""
    if not raw:
        raise ValueError("the api secret key is not 64 or 128 hex digits (tweetnacl seed or seed‖public)")
    return raw[:32]


def apikey_name(public_key: str) -> str:
    """``keyName``: the first 16 hex digits of the ed25519 public key."""
    return public_key[:16].lower()


def apikey_authorization(userid: str, secret_key: str, message: bytes) -> str:
    """``SIGN <userid>.<keyName>:<base64 ed25519 signature of message>`` (``secret_key`` as tweetnacl keeps it)."""
    key = eddsa.import_private_key(_ed25519_seed(secret_key))
    public = key.public_key().export_key(format="raw").hex()
    signature = eddsa.new(key, "rfc8032").sign(message)
    return f"SIGN {userid}.{apikey_name(public)}:{base64.b64encode(signature).decode()}"


def verify_apikey(auth: AuthHeader, message: bytes, public_key: str) -> bool:
    """True iff ``auth`` is a ``SIGN`` header whose signature over ``message`` verifies with ``public_key``."""
    if auth.scheme != "SIGN" or auth.key_name != apikey_name(public_key):
        return False
    try:
        signature = base64.b64decode(auth.proof, validate=True)
        eddsa.new(eddsa.import_public_key(bytes.fromhex(public_key)), "rfc8032").verify(message, signature)
    except (ValueError, binascii.Error):
        return False
    return True


# -- Bitcoin Signed Message (registration) ---------------------------------------------------------


def _message_digest(message: str) -> bytes:
    data = message.encode("utf-8")
    return _sha256d(_varint(len(_SIGNED_MESSAGE_PREFIX)) + _SIGNED_MESSAGE_PREFIX + _varint(len(data)) + data)


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")


def sign_message(secret: bytes, message: str) -> str:
    """A Bitcoin Signed Message (compressed key): base64 of the header byte, r and s."""
    raw = coincurve.PrivateKey(secret).sign_recoverable(_message_digest(message), hasher=None)
    return base64.b64encode(bytes([31 + raw[64]]) + raw[:64]).decode()


def verify_message(address: str, message: str, signature: str, network: Network) -> bool:
    """True iff ``signature`` (base64 Bitcoin Signed Message) signs ``message`` by ``address``'s key."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    if len(raw) != 65 or not 27 <= raw[0] <= 34:
        return False
    recid, compressed = (raw[0] - 27) % 4, raw[0] >= 31
    try:
        public = coincurve.PublicKey.from_signature_and_message(raw[1:] + bytes([recid]), _message_digest(message),
                                                                hasher=None)
    except ValueError:
        return False
    encoded = public.format(compressed=compressed)
    return b58encode_check(bytes([P2PKH_VERSION[network]]) + hash160(encoded)) == address


# -- the Signer of the REST client -----------------------------------------------------------------


class CoinpitSigner:
    """A :class:`venues._common.Signer`: the ``Authorization`` and ``Nonce`` headers of one request.

    Built after the handshake with the user's ``userid`` and the ``serverPublicKey``; the shared
    secret is computed from the credentials' private key once and kept (never shown). The body
    must already be in ``JSON.stringify`` form (:func:`js_dumps`): it is signed as sent.
    """

    def __init__(self, userid: str, server_public_key: str, base_path: str = API_BASE) -> None:
        _public_point(server_public_key)
        self.userid = userid
        self.server_public_key = server_public_key
        self.base_path = base_path
        self._key: tuple[str, bytes] | None = None

    def __repr__(self) -> str:
        return f"CoinpitSigner(userid={self.userid!r})"

    def key(self, credentials: Credentials) -> bytes:
        """The HMAC key (the shared secret's bytes) of ``credentials``' private key."""
        if self._key is None or self._key[0] != credentials.secret:
            self._key = (credentials.secret, shared_secret(private_key_bytes(credentials.secret),
                                                           self.server_public_key))
        return self._key[1]

    def uri_of(self, path: str, query: str = "") -> str:
        """The signed uri: the path relative to ``/api/v1``, with its ``?query``."""
        relative = path[len(self.base_path):] if path.startswith(self.base_path) else path
        return f"{relative}?{query}" if query else relative

    def sign(self, credentials: Credentials, request: UnsignedRequest, timestamp_ms: int) -> WireRequest:
        """The wire form of ``request`` with its nonce ``timestamp_ms``."""
        body = request.body.decode("utf-8") if request.body else None
        header = authorization(self.userid, self.key(credentials), request.method,
                               self.uri_of(request.path, request.query), body, timestamp_ms)
        headers = {**request.headers, AUTHORIZATION_HEADER: header, NONCE_HEADER: str(timestamp_ms)}
        return WireRequest(request.method, request.path, request.query, request.body, headers)
