"""Ekiden signer: fixed key, fixed timestamps, exact header values.

The expected signatures were computed independently of this package with
``printf '%s' "$PREHASH" | openssl dgst -sha256 -hmac 'ek-test-secret' -binary | base64``.
"""

from __future__ import annotations

import pytest

from venues.ekiden.constants import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from venues.ekiden.signer import (
    Credentials,
    prehash,
    request_target,
    sign_headers,
    signature_of,
    verify,
    verify_ws_auth,
    ws_auth_message,
    ws_prehash,
)

KEY = "ek-test-key"
SECRET = "ek-test-secret"
CREDS = Credentials(KEY, SECRET)
TS = "2025-05-10T12:34:56Z"
TS_MS = "2025-05-10T12:34:56.789Z"
ORDER_BODY = ('{"market":"ETH-USD","side":"buy","type":"limit","size":"0.500","price":"2000.00",'
              '"client_order_id":"tt-1"}')

# (timestamp, method, path, query, body, expected EKIDEN-SIGNATURE)
VECTORS = [
    (TS, "GET", "/v1/balances", "", "", "+JvAih8CG2F1eQAEuuU7K8lpyhwKA94N9SV74aW7Nhk="),
    (TS, "POST", "/v1/orders", "", ORDER_BODY, "aXSfGIqmd2DY2C5PzjE+NfUfr4+8tadFEAXG0aanzvM="),
    (TS_MS, "GET", "/v1/orders", "market=ETH-USD&status=open&limit=100", "",
     "kwM2/+02GNf7yT2dmmV+6w2CEk18/W38a/qp85LORk0="),
    (TS, "DELETE", "/v1/orders/0f1e2d3c", "", "", "Hul8gHWHyrePaRZFE6p15WL8U+c20AuC3iURkYofv2Y="),
    (TS, "PATCH", "/v1/orders/0f1e2d3c", "", '{"price":"2001.00"}', "IYGefmylYLr56DDhaozpsVosa0GkAtoz0kSG9r5b2+I="),
]


@pytest.mark.parametrize(("ts", "method", "path", "query", "body", "expected"), VECTORS)
def test_sign_headers_pins_every_header(ts: str, method: str, path: str, query: str, body: str,
                                        expected: str) -> None:
    headers = sign_headers(CREDS, ts, method, request_target(path, query), body)
    assert headers == {API_KEY_HEADER: KEY, TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: expected}


def test_header_names_are_the_documented_ones() -> None:
    assert (API_KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) == (
        "EKIDEN-API-KEY", "EKIDEN-TIMESTAMP", "EKIDEN-SIGNATURE")


def test_prehash_is_timestamp_method_path_with_query_then_body() -> None:
    assert prehash(TS, "get", "/v1/orders?market=ETH-USD", "") == b"2025-05-10T12:34:56ZGET/v1/orders?market=ETH-USD"
    assert prehash(TS, "POST", "/v1/orders", b'{"a":"1"}') == b'2025-05-10T12:34:56ZPOST/v1/orders{"a":"1"}'
    assert request_target("/v1/fills", "") == "/v1/fills"  # no query: no "?"
    assert request_target("/v1/fills", "limit=5") == "/v1/fills?limit=5"


def test_body_as_bytes_or_text_signs_the_same() -> None:
    assert signature_of(SECRET, prehash(TS, "POST", "/v1/orders", ORDER_BODY)) == \
        signature_of(SECRET, prehash(TS, "POST", "/v1/orders", ORDER_BODY.encode()))


@pytest.mark.parametrize(("ts", "method", "path", "query", "body", "expected"), VECTORS)
def test_verify_accepts_the_vectors(ts: str, method: str, path: str, query: str, body: str, expected: str) -> None:
    assert verify(SECRET, ts, method, request_target(path, query), body, expected)


@pytest.mark.parametrize("change", ["secret", "timestamp", "method", "path", "query", "body", "signature"])
def test_verify_rejects_any_change(change: str) -> None:
    ts, method, path, query, body, sig = VECTORS[1]
    secret = SECRET
    if change == "secret":
        secret = SECRET + "x"
    elif change == "timestamp":
        ts = "2025-05-10T12:34:57Z"
    elif change == "method":
        method = "PATCH"
    elif change == "path":
        path = "/v1/order"
    elif change == "query":
        query = "x=1"
    elif change == "body":
        body = body.replace("0.500", "0.501")
    else:
        sig = sig[:-2] + "A="
    assert not verify(secret, ts, method, request_target(path, query), body, sig)


def test_verify_refuses_garbage_without_raising() -> None:
    assert not verify(SECRET, TS, "GET", "/v1/balances", "", "")
    assert not verify(SECRET, TS, "GET", "/v1/balances", "", "ünïcode")


def test_ws_private_subscription_is_pinned() -> None:
    assert ws_prehash(TS) == b"2025-05-10T12:34:56ZGET/v1/stream"
    frame = ws_auth_message(CREDS, TS)
    assert frame == {
        "type": "subscribe",
        "channel": "orders",
        "apiKey": KEY,
        "signature": "93+N/yOq7Gb6Hf9T8xWxTXmuKPCgvLeHXDNbIKsFsJ8=",
        "timestamp": TS,
    }
    assert verify_ws_auth(SECRET, TS, frame["signature"])
    assert not verify_ws_auth(SECRET, "2025-05-10T12:34:57Z", frame["signature"])


def test_secret_never_in_repr() -> None:
    assert SECRET not in repr(CREDS)
    assert KEY not in repr(CREDS)  # the key is masked too


@pytest.mark.parametrize(("key", "secret"), [("", "s"), ("k", "")])
def test_credentials_refuse_empty_values(key: str, secret: str) -> None:
    with pytest.raises(ValueError):
        Credentials(key, secret)
