"""Every venue's signer is a :class:`venues._common.Signer`, and its own testnet's check accepts what it signs."""

from __future__ import annotations

import pytest

from venues._common import Credentials, Signer
from venues._common.credentials import UnsignedRequest
from venues.dzengi.signer import DzengiSigner, strip_signature
from venues.dzengi.signer import verify as dzengi_verify
from venues.ekiden.schemas import iso_from_ms
from venues.ekiden.signer import EkidenSigner
from venues.ekiden.signer import verify as ekiden_verify

CREDS = Credentials("k" * 16, "s" * 32)
TS = 1_700_000_000_123


@pytest.mark.parametrize("in_body", [False, True])
def test_dzengi_signer_appends_window_timestamp_and_a_signature_the_testnet_accepts(in_body: bool) -> None:
    signer: Signer = DzengiSigner(5000)
    params = "symbol=BTC%2FUSD&side=BUY"
    request = (UnsignedRequest("POST", "/api/v2/order", body=params.encode()) if in_body
               else UnsignedRequest("GET", "/api/v2/order", params))
    wire = signer.sign(CREDS, request, TS)
    signed = wire.body.decode() if in_body else wire.query
    assert signed.startswith(f"{params}&recvWindow=5000&timestamp={TS}&signature=")
    assert (wire.query if in_body else wire.body) == ("" if in_body else b"")
    assert wire.headers["X-MBX-APIKEY"] == CREDS.api_key
    assert ("Content-Type" in wire.headers) is in_body
    unsigned, signature = strip_signature(signed)
    assert signature is not None and dzengi_verify(CREDS.secret, "" if in_body else unsigned,
                                                   unsigned if in_body else "", signature)
    assert not dzengi_verify("x" * 32, unsigned, "", signature)


def test_ekiden_signer_sets_the_three_headers_and_the_testnet_accepts_them() -> None:
    signer: Signer = EkidenSigner()
    body = b'{"market":"BTC-USD"}'
    wire = signer.sign(CREDS, UnsignedRequest("POST", "/v1/orders", "a=1", body, {"Content-Type": "application/json"}),
                       TS)
    assert (wire.path, wire.query, wire.body) == ("/v1/orders", "a=1", body)
    assert wire.headers["Content-Type"] == "application/json"
    assert wire.headers["EKIDEN-API-KEY"] == CREDS.api_key
    assert wire.headers["EKIDEN-TIMESTAMP"] == iso_from_ms(TS)
    assert ekiden_verify(CREDS.secret, iso_from_ms(TS), "POST", "/v1/orders?a=1", body, wire.headers["EKIDEN-SIGNATURE"])
    assert not ekiden_verify(CREDS.secret, iso_from_ms(TS), "POST", "/v1/orders", body, wire.headers["EKIDEN-SIGNATURE"])
