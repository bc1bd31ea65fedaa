"""Magnr's signer against every published vector (both keys, ms and µs tonces, compact and spaced JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from venues._common.credentials import Credentials, UnsignedRequest
from venues.magnr.signer import MagnrSigner, parse_authorization, signature, verify

VECTORS_FILE = Path(__file__).with_name("magnr-vectors.json")
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]


def test_the_vector_file_is_whole() -> None:
    assert len(VECTORS) == 10
    assert {v["keyIndex"] for v in VECTORS} == {0, 1}
    assert {v["tonceConvention"] for v in VECTORS} == {"ms", "us"}
    assert {v["method"] for v in VECTORS} == {"GET", "POST", "DELETE"}


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['method']}-{v['tonce']}-k{v['keyIndex']}" for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert signature(vector["privateKey"], vector["tonce"], vector["publicKey"], body) == vector["signatureB64"]
    wire = MagnrSigner().sign(Credentials(vector["publicKey"], vector["privateKey"]),
                              UnsignedRequest(vector["method"], vector["path"], "", body,
                                              {"Content-Type": "application/json"}), int(vector["tonce"]))
    assert dict(wire.headers) == vector["headers"]
    assert wire.body == body
    assert parse_authorization(vector["authorization"]) == (vector["publicKey"], vector["signatureB64"])
    assert verify(vector["privateKey"], vector["tonce"], vector["publicKey"], body, vector["signatureB64"])


def test_verify_refuses_any_change() -> None:
    v = VECTORS[4]
    body = v["body"].encode()
    args = (v["privateKey"], v["tonce"], v["publicKey"])
    assert not verify(*args, body + b" ", v["signatureB64"])
    assert not verify(v["privateKey"], str(int(v["tonce"]) + 1), v["publicKey"], body, v["signatureB64"])
    assert not verify(v["privateKey"] + "x", v["tonce"], v["publicKey"], body, v["signatureB64"])


def test_authorization_scheme_is_case_insensitive_and_garbage_is_refused() -> None:
    v = VECTORS[0]
    credential = v["authorization"].split(" ", 1)[1]
    assert parse_authorization("BASIC " + credential) == (v["publicKey"], v["signatureB64"])
    for bad in ("", "Basic", "Bearer " + credential, "Basic !!!", "Basic " + "bm9jb2xvbg=="):
        assert parse_authorization(bad) is None
