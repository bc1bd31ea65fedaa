"""Coinpit signing against the vectors Coinpit's own libraries produced (``data/vectors.json``, a
copy of ``shared/venues/coinpit-vectors.json``): every key, REST request, socket emit, API-key
header, pitfall, documentation example and upstream fixture, in both directions where there is
one (sign, and verify as the testnet does), plus the refusals the testnet relies on."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from venues.coinpit.constants import CONTRACT_USD, SATOSHI_PER_BTC, Network
from venues.coinpit.signer import (
    AuthError,
    CoinpitSigner,
    Credentials,
    accountid_of,
    address_of,
    apikey_authorization,
    authorization,
    b58decode_check,
    b58encode_check,
    canonical_body,
    hmac_hex,
    hmac_message,
    identity_of,
    js_dumps,
    js_key_order,
    network_of_key,
    parse_authorization,
    private_key_bytes,
    public_key_of,
    redeem_script,
    shared_secret,
    sign_message,
    socket_request,
    verify_apikey,
    verify_authorization,
    verify_message,
)
from venues._common.credentials import UnsignedRequest
from venues._common.jsjson import canonical_tree

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text(),
                                     parse_float=Decimal)
KEYS = VECTORS["keys"]
NETWORK = {"testnet": Network.TESTNET, "bitcoin": Network.MAINNET}


def _key(index: int) -> bytes:
    return bytes.fromhex(KEYS[index]["sharedSecret"])


@pytest.mark.parametrize("vector", KEYS, ids=lambda v: v["userSeedLabel"])
def test_key_material(vector: dict[str, Any]) -> None:
    network = NETWORK[vector["network"]]
    for text in (vector["userPrivateKeyWIF"], vector["userPrivateKeyHex"]):
        assert private_key_bytes(text).hex() == vector["userPrivateKeyHex"]
    assert network_of_key(vector["userPrivateKeyWIF"]) is network
    identity = identity_of(vector["userPrivateKeyWIF"])
    assert (identity.network, identity.public_key, identity.userid) == (network, vector["userPublicKey"],
                                                                        vector["userid"])
    assert identity_of(vector["userPrivateKeyHex"], network) == identity
    assert public_key_of(private_key_bytes(vector["serverPrivateKeyWIF"])) == vector["serverPublicKey"]
    assert network_of_key(vector["serverPrivateKeyWIF"]) is network
    assert address_of(vector["serverPublicKey"], network) == vector["serverAddress"]
    assert redeem_script(vector["userPublicKey"], vector["serverPublicKey"]) == vector["redeem"]
    assert accountid_of(vector["userPublicKey"], vector["serverPublicKey"], network) == vector["accountid"]
    user = shared_secret(private_key_bytes(vector["userPrivateKeyWIF"]), vector["serverPublicKey"])
    server = shared_secret(private_key_bytes(vector["serverPrivateKeyHex"]), vector["userPublicKey"])
    assert user.hex() == vector["sharedSecret"] and server.hex() == vector["sharedSecretFromServerSide"]


def test_a_leading_zero_byte_of_the_secret_is_kept() -> None:
    secret = shared_secret(private_key_bytes(KEYS[3]["userPrivateKeyWIF"]), KEYS[3]["serverPublicKey"])
    assert len(secret) == 32 and secret.hex().startswith("0006")


def _body_text(vector: dict[str, Any]) -> str | None:
    return js_dumps(vector["body"]) if vector["bodyPresent"] else None


@pytest.mark.parametrize("vector", VECTORS["rest"], ids=lambda v: f"{v['method']} {v['signedUri'][:40]}")
def test_rest_vectors(vector: dict[str, Any]) -> None:
    key_vector = KEYS[vector["keyIndex"]]
    key = _key(vector["keyIndex"])
    message = hmac_message(vector["method"], vector["signedUri"], _body_text(vector), vector["nonce"])
    assert message.decode() == vector["hmacMessage"]
    header = authorization(key_vector["userid"], key, vector["method"], vector["signedUri"], _body_text(vector),
                           vector["nonce"])
    assert header == vector["headers"]["Authorization"]
    # the same through the REST client's signer, from the WIF and the server key alone
    signer = CoinpitSigner(key_vector["userid"], key_vector["serverPublicKey"])
    path, _, query = vector["fullUrl"].partition("://")[2].partition("/")[2].partition("?")
    body = (_body_text(vector) or "").encode()
    wire = signer.sign(Credentials(key_vector["userPublicKey"], key_vector["userPrivateKeyWIF"]),
                       UnsignedRequest(vector["method"], "/" + path, query, body, dict(vector["headers"])
                                       and {"Content-Type": "application/json"}), vector["nonce"])
    assert wire.headers["Authorization"] == vector["headers"]["Authorization"]
    assert wire.headers["Nonce"] == str(vector["headers"]["Nonce"])
    # and verified as the testnet does, from the parsed body
    parsed = json.loads(body, parse_float=Decimal) if body else None
    auth = parse_authorization(header)
    assert verify_authorization(auth, str(vector["nonce"]), vector["method"], vector["signedUri"], parsed, key=key,
                                now_ms=vector["nonce"] + 9_999, window_ms=10_000) == vector["nonce"]


@pytest.mark.parametrize("vector", VECTORS["socket"], ids=lambda v: f"{v['event']} {v['keyIndex']}")
def test_socket_vectors(vector: dict[str, Any]) -> None:
    key_vector = KEYS[vector["keyIndex"]]
    payload = vector["payload"]
    nonce = payload["headers"]["Nonce"]
    built = socket_request(key_vector["userid"], _key(vector["keyIndex"]), payload["method"], payload["uri"],
                           payload["body"], nonce, params=payload["params"], requestid=payload["headers"].get("requestid"))
    assert js_dumps(built) == js_dumps(payload)
    assert vector["event"] == f"{payload['method']} {payload['uri']}"
    wrapped = js_dumps({"body": payload["body"], "params": payload["params"]})
    assert hmac_message(payload["method"], payload["uri"], wrapped, nonce).decode() == vector["hmacMessage"]
    auth = parse_authorization(payload["headers"]["Authorization"])
    verify_authorization(auth, str(nonce), payload["method"], payload["uri"],
                         {"body": payload["body"], "params": payload["params"]}, key=_key(vector["keyIndex"]),
                         now_ms=nonce, window_ms=10_000)
    with pytest.raises(AuthError, match="HMAC mismatch"):  # the plain body is not what the socket signs
        verify_authorization(auth, str(nonce), payload["method"], payload["uri"], payload["body"],
                             key=_key(vector["keyIndex"]), now_ms=nonce, window_ms=10_000)


@pytest.mark.parametrize("vector", VECTORS["apikey_sign"], ids=lambda v: v["method"])
def test_apikey_vectors(vector: dict[str, Any]) -> None:
    body = js_dumps(vector["body"]) if vector["body"] is not None else None
    message = hmac_message(vector["method"], vector["uri"], body, vector["nonce"])
    assert message.decode() == vector["message"]
    for secret in (vector["secretKeyHex"], vector["ed25519SeedHex"]):
        assert apikey_authorization(vector["userid"], secret, message) == vector["authorization"]
    auth = parse_authorization(vector["authorization"])
    assert (auth.scheme, auth.userid, auth.key_name) == ("SIGN", vector["userid"], vector["keyName"])
    assert verify_apikey(auth, message, vector["publicKeyHex"])
    assert not verify_apikey(auth, message.replace(b'"nonce":1', b'"nonce":2'), vector["publicKeyHex"])


def test_pitfalls_give_other_macs() -> None:
    key = _key(0)
    right, quoted, empty_body = VECTORS["pitfalls"]
    for vector in VECTORS["pitfalls"]:
        assert hmac_hex(key, vector["message"].encode()) == vector["hmac"]
    assert hmac_message("GET", "/account", None, 1492043473117).decode() == right["message"]
    assert hmac_message("GET", "/account", "{}", 1492043473117).decode() == empty_body["message"]
    # the verifier treats an empty object as no body, as the venue does
    assert canonical_body({}) is None and canonical_body(None) is None
    assert quoted["hmac"] != right["hmac"] != empty_body["hmac"]


def test_doc_examples() -> None:
    userid, server, registration = VECTORS["doc_examples_verified"]
    assert address_of(userid["userPublicKey"], Network.TESTNET) == userid["userid"]
    assert address_of(server["serverPublicKey"], Network.TESTNET) == server["serverAddress"]
    assert redeem_script(userid["userPublicKey"], server["serverPublicKey"]) == server["redeem"]
    assert accountid_of(userid["userPublicKey"], server["serverPublicKey"], Network.TESTNET) == server["accountid"]
    signer = "my7hu7RZDhRRBFRHXgqDMbbtCNX8rokGS9"
    assert verify_message(signer, registration["message"], registration["signature"], Network.TESTNET)
    assert not verify_message(signer, registration["message"] + " ", registration["signature"], Network.TESTNET)
    assert not verify_message(userid["userid"], registration["message"], registration["signature"], Network.TESTNET)


def test_signed_messages_round_trip() -> None:
    secret = private_key_bytes(KEYS[0]["userPrivateKeyWIF"])
    message = json.dumps({"publicKey": KEYS[0]["userPublicKey"], "country": "DK", "timestamp": 1487534736607})
    signature = sign_message(secret, message)
    assert verify_message(KEYS[0]["userid"], message, signature, Network.TESTNET)
    assert not verify_message(KEYS[1]["userid"], message, signature, Network.TESTNET)
    assert not verify_message(KEYS[0]["userid"], message, "not base64!", Network.TESTNET)


def test_upstream_fixtures() -> None:
    ecdh, loginless, pycoinpit = VECTORS["upstream_fixture_samples"]
    for private, public in (("privateKey1", "publicKey2"), ("privateKey2", "publicKey1")):
        assert shared_secret(private_key_bytes(ecdh[private]), ecdh[public]).hex() == ecdh["sharedSecret"]
    for fixture in (loginless, pycoinpit):
        key = bytes.fromhex(fixture.get("secret") or fixture["sharedSecret"])
        expected = fixture.get("authorization") or fixture["authorization_computed_by_real_code"]
        userid = fixture.get("userId") or fixture["userid"]
        assert authorization(userid, key, fixture["method"], fixture["uri"], js_dumps(fixture["body"]),
                             fixture["nonce"]) == expected
    identity = identity_of(pycoinpit["privateKeyWIF"])
    assert (identity.public_key, identity.userid) == (pycoinpit["userPublicKey"], pycoinpit["userid"])
    assert shared_secret(private_key_bytes(pycoinpit["privateKeyWIF"]),
                         pycoinpit["serverPublicKey"]).hex() == pycoinpit["sharedSecret"]


def test_inverse_math_checks() -> None:
    """The documentation's numbers with the contract math (satoshi per contract, exact integers)."""
    normalized, margin, max_stop = VECTORS["inverse_contract_math_checks"]

    def n(price: Decimal) -> int:
        value = Decimal(CONTRACT_USD * SATOSHI_PER_BTC) / price
        return int(value.quantize(Decimal(1), rounding="ROUND_HALF_UP"))

    assert n(normalized["price"]) == normalized["normalizedPrice"]
    distance = margin["stopPrice"] + margin["cushion"]
    assert n(margin["price"] - distance) - n(margin["price"]) == margin["marginPerQty"]
    assert n(max_stop["maxStop"]) == max_stop["normalizedMaxStop"]


def test_verifier_refusals() -> None:
    vector = VECTORS["rest"][0]
    key, header, nonce = _key(0), vector["headers"]["Authorization"], vector["nonce"]
    auth = parse_authorization(header)

    def check(nonce_header: str = str(nonce), uri: str = "/account", method: str = "GET", body: Any = None,
              now: int = nonce) -> int:
        return verify_authorization(auth, nonce_header, method, uri, body, key=key, now_ms=now, window_ms=10_000)

    assert check() == nonce
    with pytest.raises(AuthError, match=r"^Authentication failed. Nonce \d+ stale by 10001ms$"):
        check(now=nonce + 10_001)
    with pytest.raises(AuthError, match="Invalid Nonce"):
        check(nonce_header="12ab")
    with pytest.raises(AuthError, match="HMAC mismatch"):
        check(uri="/account/position")  # a MAC replayed on another uri
    with pytest.raises(AuthError, match="HMAC mismatch"):
        check(method="DELETE")
    with pytest.raises(AuthError, match="HMAC mismatch"):
        check(body=[1])
    with pytest.raises(AuthError, match="HMAC mismatch"):
        verify_authorization(auth, str(nonce), "GET", "/account", None, key=_key(1), now_ms=nonce, window_ms=10_000)
    for bad in ("", "HMAC", "HMAC x", f"HMAC {KEYS[0]['userid']}", f"HMAC {KEYS[0]['userid']}:zz",
                "Bearer abc:def", f"SIGN {KEYS[0]['userid']}:abc", "HMAC " + "1" * 200 + ":" + "a" * 64):
        with pytest.raises(AuthError, match="HMAC authentication needed"):
            parse_authorization(bad)


def test_the_verifier_reads_numbers_and_keys_as_javascript_does() -> None:
    key, userid = _key(0), KEYS[0]["userid"]
    signed = js_dumps([{"price": Decimal("1100"), "stopPrice": Decimal("1e-7")}])
    header = authorization(userid, key, "PUT", "/order", signed, 1)
    # what a Python client would send: 1100.0 and 0.0000001 — the venue reads the same numbers
    body = json.loads('[{"price": 1100.0, "stopPrice": 0.0000001}]', parse_float=Decimal)
    verify_authorization(parse_authorization(header), "1", "PUT", "/order", body, key=key, now_ms=1, window_ms=10)
    assert js_dumps(js_key_order({"b": 1, "635": 2, "a": 3, "7": 4, "07": 5})) == '{"7":4,"635":2,"b":1,"a":3,"07":5}'
    assert js_dumps(canonical_tree([Decimal("1e21"), Decimal("0.1")])) == "[1e+21,0.1]"


def test_bad_keys_are_refused_without_showing_them() -> None:
    wif = KEYS[0]["userPrivateKeyWIF"]
    broken = wif[:-1] + ("A" if wif[-1] != "A" else "B")
    for text in (broken, "00" * 32, "ff" * 32, "xyz", ""):
        with pytest.raises(ValueError) as info:
            private_key_bytes(text)
        assert text not in str(info.value) or not text
    with pytest.raises(ValueError):
        address_of("04" + "00" * 32, Network.TESTNET)
    with pytest.raises(ValueError):
        b58decode_check("0OIl")
    payload = bytes([0x6F]) + bytes(20)
    assert b58decode_check(b58encode_check(payload)) == payload
    signer = CoinpitSigner(KEYS[0]["userid"], KEYS[0]["serverPublicKey"])
    assert KEYS[0]["sharedSecret"] not in repr(signer)
    signer.key(Credentials(KEYS[0]["userPublicKey"], wif))
    assert KEYS[0]["sharedSecret"] not in repr(signer) and wif not in repr(signer)
