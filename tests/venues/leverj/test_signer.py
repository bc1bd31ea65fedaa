"""Leverj signing against the vectors Leverj's own libraries produced (``data/vectors.json``,
a copy of ``shared/venues/leverj-vectors.json``): one test per vector, both directions (sign
and recover), plus the refusals the testnet relies on."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from venues.leverj.signer import (
    Asset,
    AuthError,
    LeverjSigner,
    address_of,
    auth_message,
    authorization,
    canonical_number,
    futures_order_packed,
    js_dumps,
    js_number,
    margin_per_fraction,
    order_hash,
    order_signers,
    parse_authorization,
    personal_digest,
    quantity_fraction,
    recover,
    scale,
    sign_order,
    spot_order_packed,
    verify_authorization,
)
from venues._common.credentials import Credentials, UnsignedRequest

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text(),
                                     parse_float=Decimal)
KEYS = VECTORS["keys"]
AUTH = VECTORS["request_auth"]["vectors"]
SPOT = VECTORS["order_signing"]["spot"]
FUTURES = VECTORS["order_signing"]["futures"]


def _id(vector: dict[str, Any]) -> str:
    return f"{vector['authType']}-{vector['transport']}-{vector['method']}-{vector['uri']}"


def test_api_key_is_the_secrets_address() -> None:
    assert address_of(KEYS["apikey_secret"]) == KEYS["apiKey"]


def _body_text(vector: dict[str, Any]) -> str | None:
    if vector["body_omitted_from_payload"]:
        return None
    if vector["transport"] == "socket" and vector["authType"] == "SIGN":
        return js_dumps({"body": vector["body"], "params": vector["params"]})
    return js_dumps(vector["body"])


@pytest.mark.parametrize("vector", AUTH, ids=_id)
def test_request_auth_vector(vector: dict[str, Any]) -> None:
    body = _body_text(vector)
    message = auth_message(vector["authType"], vector["method"], vector["uri"], body, vector["nonce"])
    assert message.decode() == vector["signed_message_utf8"]
    assert "0x" + personal_digest(message).hex() == vector["digest_hex"]
    header = authorization(vector["authType"], vector["accountId"], vector["private_key"], vector["method"],
                           vector["uri"], body, vector["nonce"])
    assert header == vector["expected_authorization_header"]
    # and the verifier side accepts it, from the parsed body
    parsed_body = None if vector["body_omitted_from_payload"] else (
        {"body": vector["body"], "params": vector["params"]} if vector["transport"] == "socket" else vector["body"])
    auth = verify_authorization(header, vector["expected_nonce_header"], vector["method"], vector["uri"],
                                parsed_body, now_ms=vector["nonce"] + 9_999, window_ms=10_000)
    assert auth.api_key == KEYS["apiKey"] and auth.account_id == vector["accountId"]


def test_doc_example_recovers_the_documented_api_key() -> None:
    example = VECTORS["request_auth"]["doc_example_verification"]
    auth = parse_authorization(example["authorization"])
    digest = personal_digest(example["signed_message_utf8"].encode())
    assert "0x" + digest.hex() == example["digest_hex"]
    assert recover(digest, auth.v, auth.r, auth.s) == example["expected_recovered_apiKey"]


def test_zka_package_fixture() -> None:
    fixture = VECTORS["request_auth"]["zka_package_fixture"]
    body = js_dumps(fixture["body"])
    assert auth_message("SIGN", fixture["method"], fixture["uri"], body, fixture["nonce"]).decode() == \
        fixture["signed_message_utf8"]
    expected = parse_authorization(fixture["expected_authorization"])
    ours = parse_authorization(authorization("SIGN", fixture["accountId"], fixture["private_key"], fixture["method"],
                                             fixture["uri"], body, fixture["nonce"]))
    assert (ours.v, ours.r, ours.s) == (expected.v, expected.r, expected.s)


def _sign_vector() -> dict[str, Any]:
    return AUTH[3]  # SIGN POST /order with a body


def test_sign_header_fails_on_another_uri_method_body_or_nonce() -> None:
    vector = _sign_vector()
    header, nonce = vector["expected_authorization_header"], vector["expected_nonce_header"]
    ok = dict(now_ms=vector["nonce"], window_ms=10_000)
    verify_authorization(header, nonce, "POST", "/order", vector["body"], **ok)
    changed_body = [dict(vector["body"][0], price=Decimal(53864))]
    for method, uri, body in (("PATCH", "/order", vector["body"]), ("POST", "/order/x", vector["body"]),
                              ("POST", "/order", changed_body), ("POST", "/order", None)):
        with pytest.raises(AuthError, match="SIGN mismatch"):
            verify_authorization(header, nonce, method, uri, body, **ok)
    with pytest.raises(AuthError, match="SIGN mismatch"):
        verify_authorization(header, str(vector["nonce"] + 1), "POST", "/order", vector["body"], **ok)


def test_nonce_window_and_malformed_headers() -> None:
    vector = AUTH[6]  # NONCE
    header, nonce = vector["expected_authorization_header"], vector["expected_nonce_header"]
    verify_authorization(header, nonce, "GET", "/anything", None, now_ms=vector["nonce"] - 10_000, window_ms=10_000)
    with pytest.raises(AuthError, match="stale by 10001ms"):
        verify_authorization(header, nonce, "GET", "/x", None, now_ms=vector["nonce"] + 10_001, window_ms=10_000)
    with pytest.raises(AuthError, match="Invalid Nonce"):
        verify_authorization(header, "12a", "GET", "/x", None, now_ms=vector["nonce"], window_ms=10_000)
    for bad in ("", header.replace(" ", "  "), header.replace("NONCE", "BASIC"), header + ".0x00",
                header.replace(".27.", ".29."), "NONCE " + KEYS["accountId"]):
        with pytest.raises(AuthError, match="Invalid auth header"):
            parse_authorization(bad)
    # a header signed by the right key but naming another api key
    other = header.replace(KEYS["apiKey"], "0x" + "11" * 20)
    with pytest.raises(AuthError, match="SIGN mismatch"):
        verify_authorization(other, nonce, "GET", "/x", None, now_ms=vector["nonce"], window_ms=10_000)


def _spot_assets(vector: dict[str, Any]) -> tuple[Asset, Asset]:
    cfg = vector["instrument_config_used"]
    return (Asset(cfg["base"]["symbol"], cfg["base"]["address"], cfg["base"]["decimals"]),
            Asset(cfg["quote"]["symbol"], cfg["quote"]["address"], cfg["quote"]["decimals"]))


def _check_order(packed: bytes, vector: dict[str, Any]) -> None:
    assert "0x" + packed.hex() == vector["packed_hex"]
    digest = order_hash(packed)
    assert "0x" + digest.hex() == vector["keccak256"]
    assert sign_order(digest, vector["private_key"]) == vector["signature_raw_hash"]
    assert sign_order(digest, vector["private_key"], personal=True) == vector["signature_personal_prefixed"]
    personal, raw = order_signers(digest, vector["signature_raw_hash"])
    assert raw == vector["expected_signer"] and personal != vector["expected_signer"]
    personal, raw = order_signers(digest, vector["signature_personal_prefixed"])
    assert personal == vector["expected_signer"] and raw != vector["expected_signer"]


@pytest.mark.parametrize("vector", SPOT, ids=lambda v: v["order_json_as_sent"]["instrument"])
def test_spot_order_vector(vector: dict[str, Any]) -> None:
    _check_order(spot_order_packed(vector["order_json_as_sent"], *_spot_assets(vector)), vector)


@pytest.mark.parametrize("vector", FUTURES, ids=lambda v: f"{v['order_json_as_sent']['orderType']}-"
                                                          f"{v['order_json_as_sent']['instrument']}")
def test_futures_order_vector(vector: dict[str, Any]) -> None:
    order = vector["order_json_as_sent"]
    cfg = vector["instrument_config_used"]
    _check_order(futures_order_packed(order, cfg["quote"]["decimals"]), vector)
    assert str(margin_per_fraction(order["price"], vector["leverage_used_for_marginPerFraction"],
                                   cfg["quote"]["decimals"], cfg["baseSignificantDigits"])) == order["marginPerFraction"]


def test_real_exchange_order_recovers_its_originator() -> None:
    real = VECTORS["order_signing"]["real_exchange_order_verification"]
    digest = order_hash(futures_order_packed(real["order_fields_used"], real["quote_decimals"]))
    assert "0x" + digest.hex() == real["keccak256"]
    personal, raw = order_signers(digest, real["signature"])
    assert raw == real["order_fields_used"]["originator"] and personal != raw


def test_python_library_fixture() -> None:
    fixture = VECTORS["order_signing"]["python_library_fixture"]
    order = dict(fixture["order"], orderType="SLMT")
    digest = order_hash(futures_order_packed(order, fixture["instrument"]["quote"]["decimals"]))
    assert sign_order(digest, fixture["private_key"]) == fixture["expected_signature_raw_hash"]


def test_changed_field_or_other_key_is_not_the_signer() -> None:
    vector = FUTURES[0]
    order = vector["order_json_as_sent"]
    digest = order_hash(futures_order_packed(order, 18))
    signature = sign_order(digest, vector["private_key"])
    for field, value in (("price", Decimal(53864)), ("quantity", Decimal("0.03")), ("side", "sell"),
                         ("marginPerFraction", "1"), ("instrument", "2"), ("timestamp", order["timestamp"] + 1)):
        tampered = order_hash(futures_order_packed(dict(order, **{field: value}), 18))
        assert vector["expected_signer"] not in order_signers(tampered, signature), field
    other = sign_order(digest, "0x" + "42" * 32)
    assert vector["expected_signer"] not in order_signers(digest, other)
    assert order_signers(digest, "0x1234") == (None, None)
    assert order_signers(digest, None) == (None, None)


@pytest.mark.parametrize("vector", VECTORS["margin_per_fraction"], ids=lambda v: f"{v['price']}x{v['leverage']}")
def test_margin_per_fraction_vector(vector: dict[str, Any]) -> None:
    assert str(margin_per_fraction(vector["price"], vector["leverage"], vector["quoteDecimals"],
                                   vector["baseSignificantDigits"])) == vector["marginPerFraction"]


@pytest.mark.parametrize("vector", VECTORS["number_scaling"], ids=lambda v: v["js_number"])
def test_number_scaling_vector(vector: dict[str, Any]) -> None:
    number = canonical_number(Decimal(vector["js_number"]))
    assert js_number(number) == vector["js_number"]
    assert str(scale(number, 18)) == vector["price_or_qty_times_10^18_floor"]
    assert str(scale(number, 6)) == vector["times_10^6_floor"]
    assert quantity_fraction(number) == (int(vector["futures_quantity_numerator"]),
                                         int(vector["futures_quantity_denominator"]))


def test_js_number_refuses_what_a_double_cannot_carry() -> None:
    with pytest.raises(ValueError):
        js_number(Decimal("0.1000000000000000000001"))
    with pytest.raises(ValueError):
        js_dumps(2**53)
    with pytest.raises(TypeError):
        js_dumps(0.5)
    assert js_dumps({"a": [Decimal("-0.5"), 1, None, True, "é"]}) == '{"a":[-0.5,1,null,true,"é"]}'


def test_signer_protocol_signs_the_relative_uri() -> None:
    vector = AUTH[1]  # SIGN GET /account/execution?count=200
    signer = LeverjSigner(vector["accountId"], "/futures/api/v1", auth_type="SIGN")  # type: ignore[arg-type]
    creds = Credentials(KEYS["apiKey"], vector["private_key"])
    wire = signer.sign(creds, UnsignedRequest("GET", "/futures/api/v1/account/execution", "count=200"), vector["nonce"])
    assert wire.headers["Authorization"] == vector["expected_authorization_header"]
    assert wire.headers["Nonce"] == vector["expected_nonce_header"]
    nonce_signer = LeverjSigner(vector["accountId"], "/futures/api/v1")
    wire = nonce_signer.sign(creds, UnsignedRequest("GET", "/futures/api/v1/account/balance"), AUTH[6]["nonce"])
    assert wire.headers["Authorization"] == AUTH[6]["expected_authorization_header"]
