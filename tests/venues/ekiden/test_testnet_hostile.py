"""Hostile input against the Ekiden testnet, over real HTTP and WebSocket on 127.0.0.1.

Every case must get the venue's own error (``{"error_code", "error_message"}``, 2000 for a bad
request), never a 5xx, never a WebSocket close 1011, never a stall, and must change nothing.
Requests are built by hand and signed with the signer module.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

from venues.ekiden.schemas import utc_now_iso
from venues.ekiden.signer import Credentials, request_target, sign_headers, ws_auth_message
from venues.ekiden.testnet import EkidenTestnet

from ..testnet_fixtures import assert_over_limit_frame_closes_1009, http_client, open_order_count, raw_http

ALICE = Credentials("alice-api-key-0001", "alice-secret-0001")
INVALID = 2000
AUTH = 2001
FORTY_DIGITS = "1" * 40
GOOD_ORDER = {"market": "ETH-USD", "side": "buy", "type": "limit", "size": "0.500", "price": "1000.00"}


def signed_headers(method: str, path: str, body: bytes = b"") -> dict[str, str]:
    target, _, query = path.partition("?")
    headers = sign_headers(ALICE, utc_now_iso(), method, request_target(target, query), body)
    if body:
        headers["Content-Type"] = "application/json"
    return headers


async def private(http: httpx.AsyncClient, method: str, path: str, body: bytes = b"") -> httpx.Response:
    return await http.request(method, path, content=body or None, headers=signed_headers(method, path, body))


def order_body(**overrides: Any) -> bytes:
    return json.dumps({**GOOD_ORDER, **overrides}, separators=(",", ":")).encode()


def error_of(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json().get("error_code", 0)


@pytest.fixture
async def http(ekiden_quiet_testnet: EkidenTestnet) -> Any:
    async with http_client(ekiden_quiet_testnet) as client:
        yield client


# ---------------------------------------------------------------------------------------------
# REST: one table of order bodies, every case 2000 and nothing booked
# ---------------------------------------------------------------------------------------------

NESTED = b'{"market":"ETH-USD","tpsl":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
ORDER_CASES: list[tuple[str, bytes]] = [
    ("size 1e400", order_body(size="1e400")),
    ("price 1e400", order_body(price="1e400")),
    ("40-digit size", order_body(size=FORTY_DIGITS)),
    ("40-digit price", order_body(price=FORTY_DIGITS + ".00")),
    ("29-digit size", order_body(size="9" * 29)),
    ("65-character size", order_body(size="0." + "5" * 63)),
    ("Arabic-Indic size", order_body(size="\u0660.\u0665")),
    ("full-width price", order_body(price="\uff11\uff10\uff10\uff10")),
    ("size with a trailing newline", order_body(size="0.500\n")),
    ("price with a leading space", order_body(price=" 1000.00")),
    ("size Infinity", order_body(size="Infinity")),
    ("size as a JSON number", order_body(size=0.5)),
    ("duplicate size key", order_body()[:-1] + b',"size":"500"}'),
    ("duplicate market key", order_body()[:-1] + b',"market":"BTC-USD"}'),
    ("body nested 50000 deep", NESTED),
    ("body nested 100000 deep", b"[" * 100_000 + b"]" * 100_000),
    ("unquoted 1e400", order_body()[:-1] + b',"leverage":1e400}'),
    ("NaN literal", order_body()[:-1] + b',"leverage":NaN}'),
    ("type as an array", order_body(type=[])),
    ("time_in_force as an object", order_body(time_in_force={})),
    ("invalid UTF-8", order_body(client_order_id="x")[:-2] + b'\xff"}'),
]


@pytest.mark.parametrize("body", [c[1] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES])
async def test_hostile_order_bodies_get_2000(ekiden_quiet_testnet: EkidenTestnet, http: httpx.AsyncClient,
                                             body: bytes) -> None:
    with trio.fail_after(5):
        response = await private(http, "POST", "/v1/orders", body)
    assert error_of(response) == (400, INVALID), response.text
    assert open_order_count(ekiden_quiet_testnet) == 0


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


PUBLIC_CASES = [
    ("limit 1e400000", "/v1/trades?market=ETH-USD&limit=1e400000"),
    ("depth Arabic-Indic", "/v1/orderbook?market=ETH-USD&depth=%D9%A5"),
    ("two markets", "/v1/orderbook?market=ETH-USD&market=BTC-USD"),
    ("a name twice through an escape", "/v1/orderbook?market=ETH-USD&m%61rket=BTC-USD"),
    ("cursor with Arabic-Indic digits", "/v1/trades?market=ETH-USD&cursor=" + cursor_of("before:\u0665")),
    ("cursor 1e400000", "/v1/trades?market=ETH-USD&cursor=" + cursor_of("before:1e400000")),
    ("invalid UTF-8 escape", "/v1/orderbook?market=%ff%fe"),
    ("150 parameters", "/v1/time?" + "&".join(f"p{i}=1" for i in range(150))),
]


@pytest.mark.parametrize("path", [c[1] for c in PUBLIC_CASES], ids=[c[0] for c in PUBLIC_CASES])
async def test_hostile_public_queries_answer_2000_at_once(http: httpx.AsyncClient, path: str) -> None:
    with trio.fail_after(1):
        response = await http.get(path)
    assert error_of(response) == (400, INVALID), response.text


# ---------------------------------------------------------------------------------------------
# REST: a request is taken whole or refused, and the signature covers it as received
# ---------------------------------------------------------------------------------------------


async def raw_post(url: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    """POST on a bare TCP stream (:func:`raw_http`: an answer before the body is all sent is read)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    status, rest = await raw_http(url, ("\r\n".join(lines) + "\r\n\r\n").encode(), body)
    return httpx.Response(status, content=rest)


async def test_an_over_limit_signed_body_is_413_not_a_bad_signature(ekiden_quiet_testnet: EkidenTestnet) -> None:
    body = order_body(client_order_id="big")[:-1] + b',"pad":"' + b"x" * (2 << 20) + b'"}'
    with trio.fail_after(10):
        response = await raw_post(ekiden_quiet_testnet.url, "/v1/orders", signed_headers("POST", "/v1/orders", body),
                                  body)
    assert error_of(response) == (413, INVALID)
    assert "larger than" in response.json()["error_message"]
    assert open_order_count(ekiden_quiet_testnet) == 0


async def test_a_body_on_a_get_or_delete_is_refused(ekiden_quiet_testnet: EkidenTestnet,
                                                    http: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        created = await private(http, "POST", "/v1/orders", order_body())
        order_id = created.json()["data"]["order_id"]
        listed = await private(http, "GET", "/v1/balances", b'{"sub_account":"other"}')
        canceled = await private(http, "DELETE", f"/v1/orders/{order_id}", b'{"order_id":"another"}')
    assert error_of(listed) == (400, INVALID)
    assert error_of(canceled) == (400, INVALID)
    assert open_order_count(ekiden_quiet_testnet) == 1


async def test_a_repeated_authentication_header_is_refused(http: httpx.AsyncClient) -> None:
    # a bogus signature first, the valid one last: "the last one wins" would let the first pass unread
    headers = [("EKIDEN-SIGNATURE", "AAAA"), *signed_headers("GET", "/v1/balances").items()]
    with trio.fail_after(5):
        response = await http.get("/v1/balances", headers=headers)
    assert error_of(response) == (401, AUTH)


async def test_the_signature_covers_the_path_as_received(ekiden_quiet_testnet: EkidenTestnet,
                                                         http: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        created = await private(http, "POST", "/v1/orders", order_body())
        order_id = created.json()["data"]["order_id"]
        escaped = f"/v1/orders/%{ord(order_id[0]):02X}{order_id[1:]}"  # same resource, other bytes
        fetched = await private(http, "GET", escaped)
        decoded_signed = await http.get(escaped, headers=signed_headers("GET", f"/v1/orders/{order_id}"))
    assert fetched.status_code == 200 and fetched.json()["data"]["order_id"] == order_id
    assert error_of(decoded_signed) == (401, AUTH)


# ---------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------

WS_CASES: list[tuple[str, str, int]] = [
    ("duplicate market key", '{"type":"subscribe","channel":"trades","market":"ETH-USD","market":"BTC-USD"}',
     INVALID),
    ("duplicate type key", '{"type":"ping","type":"subscribe","channel":"trades","market":"ETH-USD"}', INVALID),
    ("frame nested 100000 deep", "[" * 100_000 + "]" * 100_000, INVALID),
    ("field nested 50000 deep", '{"type":"subscribe","channel":' + "[" * 50_000 + "]" * 50_000 + "}", INVALID),
    ("depth 1e400", '{"type":"subscribe","channel":"orderbook","market":"ETH-USD","depth":1e400}', INVALID),
    ("depth 40 digits", '{"type":"subscribe","channel":"orderbook","market":"ETH-USD","depth":' + FORTY_DIGITS + "}",
     INVALID),
    ("depth Arabic-Indic", '{"type":"subscribe","channel":"orderbook","market":"ETH-USD","depth":"\u0665"}',
     INVALID),
    ("NaN literal", '{"type":"subscribe","channel":"orderbook","market":"ETH-USD","depth":NaN}', INVALID),
    # a valid private subscription, plus a second key the server would otherwise not read
    ("apiKey and api_key both", json.dumps({**ws_auth_message(ALICE, utc_now_iso()), "api_key": "someone-else"}),
     AUTH),
]


async def test_hostile_frames_get_the_venue_error_and_the_socket_stays(ekiden_quiet_testnet: EkidenTestnet) -> None:
    failures = []
    async with trio_websocket.open_websocket_url(ekiden_quiet_testnet.ws_url) as ws:
        for case, text, code in WS_CASES:
            with trio.fail_after(2):
                await ws.send_message(text)
                answer = json.loads(await ws.get_message())
            if answer.get("type") != "error" or answer.get("error_code") != code:
                failures.append((case, answer))
        with trio.fail_after(2):
            await ws.send_message(b"\xff\xfe not UTF-8")
            binary = json.loads(await ws.get_message())
            await ws.send_message('{"type":"ping"}')
            pong = json.loads(await ws.get_message())
    assert failures == []
    assert (binary["type"], binary["error_code"]) == ("error", INVALID)
    assert pong == {"type": "pong"}


async def test_an_over_limit_frame_closes_1009(ekiden_quiet_testnet: EkidenTestnet) -> None:
    await assert_over_limit_frame_closes_1009(ekiden_quiet_testnet.ws_url,
                                              '{"type":"ping","pad":"' + "x" * (2 << 20) + '"}')
