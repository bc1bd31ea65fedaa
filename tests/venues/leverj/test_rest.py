"""The Leverj REST client on ``httpx.MockTransport``: headers as signed, the answer → error map,
the stale-nonce 401 → OPTIONS → one re-signed retry, never a resend of an unknown outcome."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from engine import AuthFailed, MalformedMessage, OutcomeUnknown, RateLimited, VenueError, VenueRejected
from venues._common.credentials import Credentials
from venues.leverj.rest import LeverjRest
from venues.leverj.signer import address_of, parse_authorization, personal_digest, recover

from .conftest import ALICE_ACCOUNT, ALICE_SECRET

SERVER_MS = 1_800_000_000_000


def client(handler: Any, auth_type: str = "NONCE") -> LeverjRest:
    return LeverjRest("http://venue.test", "futures", credentials=Credentials(address_of(ALICE_SECRET), ALICE_SECRET),
                      account_id=ALICE_ACCOUNT, auth_type=auth_type,  # type: ignore[arg-type]
                      http=httpx.MockTransport(handler))


async def test_signed_request_and_clock_from_server_time() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[], headers={"Server-Time": str(SERVER_MS)})

    rest = client(handler)
    await rest.calibrate()
    assert abs(rest.clock.server_now_ms() - SERVER_MS) < 60_000
    assert await rest.request("POST", "/order", body=[{"a": 1}], auth=True, command=True) == []
    request = seen[-1]
    assert request.url.path == "/futures/api/v1/order" and request.content == b'[{"a":1}]'
    auth = parse_authorization(request.headers["Authorization"])
    digest = personal_digest(request.headers["Nonce"].encode())
    assert recover(digest, auth.v, auth.r, auth.s) == address_of(ALICE_SECRET) == auth.api_key
    assert auth.account_id == ALICE_ACCOUNT
    await rest.aclose()


async def test_a_stale_nonce_is_recalibrated_and_signed_once_more() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "OPTIONS":
            return httpx.Response(200, headers={"Server-Time": str(SERVER_MS)})
        if calls.count("POST") == 1:
            return httpx.Response(401, json={"error": "Authentication failed. Nonce 1 stale by 99999ms"})
        return httpx.Response(200, json=[{"uuid": "u"}], headers={"Server-Time": str(SERVER_MS)})

    rest = client(handler)
    assert await rest.request("POST", "/order", body=[], auth=True, command=True) == [{"uuid": "u"}]
    assert calls == ["POST", "OPTIONS", "OPTIONS", "OPTIONS", "POST"] and rest.recalibrations == 1
    await rest.aclose()


@pytest.mark.parametrize("status, body, read_error, command_error", [
    (401, {"error": "Authentication failed. SIGN mismatch"}, AuthFailed, AuthFailed),
    (422, {"error": "M_INV_ORDSIG"}, VenueRejected, VenueRejected),
    (400, {"error": "Invalid order price"}, VenueRejected, VenueRejected),
    (404, {"error": "Not Found"}, VenueRejected, VenueRejected),
    (429, {"error": "Too Many Requests"}, RateLimited, OutcomeUnknown),
    (500, {"error": "Internal Server Error"}, VenueError, OutcomeUnknown),
    (200, "not json", MalformedMessage, OutcomeUnknown),
])
async def test_answers_map_to_errors(status: int, body: Any, read_error: type[Exception],
                                     command_error: type[Exception]) -> None:
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return httpx.Response(status, content=content)

    rest = client(handler)
    with pytest.raises(read_error):
        await rest.request("GET", "/order", auth=True)
    with pytest.raises(command_error) as caught:
        await rest.request("POST", "/order", body=[], auth=True, command=True)
    if isinstance(caught.value, VenueRejected):
        assert caught.value.code == status
    assert sent.count("POST") == 1  # never resent
    await rest.aclose()


async def test_a_timeout_after_send_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    rest = client(handler)
    with pytest.raises(OutcomeUnknown):
        await rest.request("DELETE", "/order/x", auth=True, command=True)
    with pytest.raises(VenueError):
        await rest.request("GET", "/order", auth=True)
    await rest.aclose()
