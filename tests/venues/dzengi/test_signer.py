"""Dzengi signer: both official examples reproduce exactly, in the query and in the body."""

from __future__ import annotations

from decimal import Decimal

import pytest

from venues.dzengi.signer import (
    API_KEY_HEADER,
    Credentials,
    encode_params,
    sign_params,
    sign_request,
    sign_ws_payload,
    strip_signature,
    verify,
    verify_ws_payload,
    ws_string_to_sign,
)

DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_CREDS = Credentials(DOC_KEY, DOC_SECRET)

SPOT_PARAMS = [
    ("symbol", "LTC/BTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
    ("quantity", "1"), ("price", "0.1"),
]
SPOT_TOTAL = ("symbol=LTC%2FBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
              "&recvWindow=5000&timestamp=1499827319559")
SPOT_SIG = "ebec6528b2beb508b2417fa33453a4ad28c1aae8097bb243caa60d0524036f50"

LEVERAGE_PARAMS = [
    ("symbol", "BTC/USD_LEVERAGE"), ("side", "BUY"), ("type", "MARKET"), ("timeInForce", "GTC"),
    ("quantity", Decimal("0.01")), ("leverage", 2), ("accountId", "2376109060084932"),
    ("takeProfit", 8000), ("stopLoss", 6000),
]
LEVERAGE_TOTAL = ("symbol=BTC%2FUSD_LEVERAGE&side=BUY&type=MARKET&timeInForce=GTC&quantity=0.01"
                  "&leverage=2&accountId=2376109060084932&takeProfit=8000&stopLoss=6000"
                  "&recvWindow=60000&timestamp=1586942164000")
LEVERAGE_SIG = "05fc9fd19c2b1a11215025c5dfa56da2204b04181add67670d4f92049b439f7b"


def test_sign_params_reproduces_both_official_examples() -> None:
    assert sign_params(DOC_SECRET, SPOT_TOTAL) == SPOT_SIG
    assert sign_params(DOC_SECRET, LEVERAGE_TOTAL) == LEVERAGE_SIG


@pytest.mark.parametrize("in_body", [False, True])
def test_sign_request_builds_the_official_spot_wire_bytes(in_body: bool) -> None:
    signed = sign_request(DOC_CREDS, SPOT_PARAMS, 1499827319559, 5000, in_body=in_body)
    wire = signed.body if in_body else signed.query
    assert wire == f"{SPOT_TOTAL}&signature={SPOT_SIG}"
    assert (signed.query if in_body else signed.body) == ""
    assert signed.headers[API_KEY_HEADER] == DOC_KEY
    assert ("Content-Type" in signed.headers) is in_body


@pytest.mark.parametrize("in_body", [False, True])
def test_sign_request_builds_the_official_leverage_wire_bytes(in_body: bool) -> None:
    signed = sign_request(DOC_CREDS, LEVERAGE_PARAMS, 1586942164000, 60000, in_body=in_body)
    wire = signed.body if in_body else signed.query
    assert wire == f"{LEVERAGE_TOTAL}&signature={LEVERAGE_SIG}"


def test_encoding_matters_unencoded_slash_signs_differently() -> None:
    assert sign_params(DOC_SECRET, SPOT_TOTAL.replace("%2F", "/")) != SPOT_SIG
    # Binance's original example (no slash in the symbol)
    assert sign_params(DOC_SECRET, SPOT_TOTAL.replace("LTC%2FBTC", "LTCBTC")) == (
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_verify_accepts_any_case_and_split_between_query_and_body() -> None:
    query, body = SPOT_TOTAL[:40], SPOT_TOTAL[40:]
    assert verify(DOC_SECRET, query, body, SPOT_SIG)
    assert verify(DOC_SECRET, SPOT_TOTAL, "", SPOT_SIG.upper())
    assert not verify(DOC_SECRET, SPOT_TOTAL.replace("quantity=1", "quantity=2"), "", SPOT_SIG)
    assert not verify("wrong-secret", SPOT_TOTAL, "", SPOT_SIG)


def test_strip_signature_keeps_the_other_bytes_exactly() -> None:
    raw = f"{SPOT_TOTAL}&signature={SPOT_SIG}"
    assert strip_signature(raw) == (SPOT_TOTAL, SPOT_SIG)
    assert strip_signature(f"signature={SPOT_SIG}&{SPOT_TOTAL}") == (SPOT_TOTAL, SPOT_SIG)
    assert strip_signature(SPOT_TOTAL) == (SPOT_TOTAL, None)
    assert strip_signature("") == ("", None)


def test_encode_params_rules() -> None:
    assert encode_params([("a", True), ("b", None), ("c", Decimal("1E-7")), ("d", "x y/z")]) == (
        "a=true&c=0.0000001&d=x+y%2Fz"
    )
    with pytest.raises(TypeError):
        encode_params([("price", 0.1)])


def test_ws_signature_sorted_raw_pairs() -> None:
    payload = {"symbol": "ETH/USD", "limit": 5}
    signed = sign_ws_payload(Credentials("my-key", "my-secret"), payload, 1700000000000)
    assert ws_string_to_sign(signed) == "apiKey=my-key&limit=5&symbol=ETH/USD&timestamp=1700000000000"
    assert signed["signature"] == sign_params(
        "my-secret", "apiKey=my-key&limit=5&symbol=ETH/USD&timestamp=1700000000000"
    )
    assert verify_ws_payload("my-secret", signed)
    assert not verify_ws_payload("my-secret", {**signed, "limit": 6})
    assert not verify_ws_payload("my-secret", payload)
    assert payload == {"symbol": "ETH/USD", "limit": 5}  # input untouched


def test_credentials_repr_hides_secret() -> None:
    creds = Credentials("key-1", "super-secret-value")
    assert "super-secret-value" not in repr(creds)
    assert "key-1" not in repr(creds)  # the key is masked too
    with pytest.raises(ValueError):
        Credentials("key", "")
