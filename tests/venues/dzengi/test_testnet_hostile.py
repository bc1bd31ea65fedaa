"""Hostile input against the Dzengi testnet, over real HTTP and WebSocket on 127.0.0.1.

Every case must get the venue's own error (``{"code", "msg"}`` / a ``BAD_REQUEST`` envelope),
never a 5xx, never a WebSocket close 1011, never a stall of the event loop, and must change
nothing. Requests are built by hand (exact bytes, signed with the signer module) so the test
checks the wire protocol itself.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trio
import trio_websocket

from venues.dzengi.signer import Credentials, sign_params, sign_ws_payload
from venues.dzengi.testnet import DzengiTestnet

from ..testnet_fixtures import assert_over_limit_frame_closes_1009, http_client, open_order_count, raw_http

ILLEGAL = -1100
DUPLICATE = -1101
FILTER = -1013
SIGNATURE = -1022
MALFORMED = -1000
MALFORMED_PARAM = -1102
FORTY_DIGITS = "1" * 40
THIRTY_DECIMALS = "1000." + "0" * 29 + "1"
ARABIC_INDIC = "\u0660.\u0660\u0661"  # ٠.٠١
FULL_WIDTH = "\uff10.\uff10\uff11"  # ０.０１


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def creds(testnet: DzengiTestnet) -> Credentials:
    account = testnet.accounts["alice"]
    return Credentials(account.api_key, account.secret)


def order_pairs(**overrides: str) -> list[tuple[str, str]]:
    """A LIMIT BUY far below the market (it rests), with ``overrides`` replacing or adding values."""
    base = {"symbol": "BTC/USD", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000"}
    base.update(overrides)
    return list(base.items())


def encode(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def sign_query(testnet: DzengiTestnet, query: str, body: str = "") -> str:
    """``query`` plus timestamp and a signature over ``query + body`` exactly."""
    query = f"{query}&timestamp={now_ms()}" if query else f"timestamp={now_ms()}"
    return f"{query}&signature={sign_params(creds(testnet).secret, query + body)}"


async def post_order(client: httpx.AsyncClient, testnet: DzengiTestnet, query: str, body: bytes = b"",
                     *, sign_body: bool = False) -> httpx.Response:
    signed = sign_query(testnet, query, body.decode("latin-1") if sign_body else "")
    headers = {"X-MBX-APIKEY": creds(testnet).api_key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return await client.post(f"/api/v2/order?{signed}", content=body or None, headers=headers)


@pytest.fixture
async def client(dzengi_quiet_testnet: DzengiTestnet) -> Any:
    async with http_client(dzengi_quiet_testnet) as c:
        yield c


# ---------------------------------------------------------------------------------------------
# REST: one table, every case the venue's error
# ---------------------------------------------------------------------------------------------

# (case id, raw query string of a signed new order, expected HTTP status, expected code)
REST_ORDER_CASES = [
    ("quantity 1e400", encode(order_pairs(quantity="1e400")), 400, ILLEGAL),
    ("price 1e400", encode(order_pairs(price="1e400")), 400, ILLEGAL),
    ("quantity 1e-3 (no exponent on the wire)", encode(order_pairs(quantity="1e-3")), 400, ILLEGAL),
    ("40-digit quantity", encode(order_pairs(quantity=FORTY_DIGITS)), 400, FILTER),
    ("40-digit price", encode(order_pairs(price=FORTY_DIGITS)), 400, FILTER),
    ("29-digit quantity", encode(order_pairs(quantity="9" * 29)), 400, FILTER),
    ("65-character quantity", encode(order_pairs(quantity="0." + "1" * 63)), 400, ILLEGAL),
    ("Arabic-Indic quantity", encode(order_pairs(quantity=ARABIC_INDIC)), 400, ILLEGAL),
    ("full-width price", encode(order_pairs(price="\uff11\uff10\uff10\uff10")), 400, ILLEGAL),
    ("full-width quantity", encode(order_pairs(quantity=FULL_WIDTH)), 400, ILLEGAL),
    ("quantity with a trailing newline", encode(order_pairs(quantity="0.01\n")), 400, ILLEGAL),
    ("price with a leading space", encode(order_pairs(price=" 1000")), 400, ILLEGAL),
    ("quantity NaN", encode(order_pairs(quantity="NaN")), 400, ILLEGAL),
    ("price Infinity", encode(order_pairs(price="Infinity")), 400, ILLEGAL),
    ("two points", encode(order_pairs(quantity="0.0.1")), 400, ILLEGAL),
    ("recvWindow with an underscore", encode(order_pairs(recvWindow="5_000")), 400, ILLEGAL),
    ("duplicate quantity", encode(order_pairs()) + "&quantity=0.002", 400, DUPLICATE),
    ("duplicate symbol", encode(order_pairs()) + "&symbol=ETH%2FUSD", 400, DUPLICATE),
    ("duplicate through an escaped name", encode(order_pairs()) + "&qu%61ntity=0.002", 400, DUPLICATE),
    ("invalid UTF-8 escape", encode(order_pairs()) + "&newClientOrderId=%ff%fe", 400, ILLEGAL),
    ("150 parameters", encode(order_pairs()) + "".join(f"&p{i}=1" for i in range(150)), 400, DUPLICATE),
]


@pytest.mark.parametrize(("query", "status", "code"), [c[1:] for c in REST_ORDER_CASES],
                         ids=[c[0] for c in REST_ORDER_CASES])
async def test_hostile_order_parameters_get_the_venue_error(dzengi_quiet_testnet: DzengiTestnet,
                                                            client: httpx.AsyncClient, query: str, status: int,
                                                            code: int) -> None:
    before = open_order_count(dzengi_quiet_testnet)
    with trio.fail_after(5):
        response = await post_order(client, dzengi_quiet_testnet, query)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert open_order_count(dzengi_quiet_testnet) == before


# (case id, public path with query, expected code)
REST_PUBLIC_CASES = [
    ("limit 1e400000", "/api/v2/depth?symbol=BTC%2FUSD&limit=1e400000", ILLEGAL),
    ("limit 1e400", "/api/v2/klines?symbol=BTC%2FUSD&interval=1m&limit=1e400", ILLEGAL),
    ("limit 10**40", f"/api/v2/aggTrades?symbol=BTC%2FUSD&limit={FORTY_DIGITS}", ILLEGAL),
    ("limit Arabic-Indic", "/api/v2/depth?symbol=BTC%2FUSD&limit=" + quote("\u0665"), ILLEGAL),
    ("limit 5.0", "/api/v2/depth?symbol=BTC%2FUSD&limit=5.0", ILLEGAL),
    ("startTime with a newline", "/api/v2/aggTrades?symbol=BTC%2FUSD&startTime=1%0A", ILLEGAL),
    ("two symbols", "/api/v2/ticker/24hr?symbol=BTC%2FUSD&symbol=ETH%2FUSD", DUPLICATE),
]


@pytest.mark.parametrize(("path", "code"), [c[1:] for c in REST_PUBLIC_CASES], ids=[c[0] for c in REST_PUBLIC_CASES])
async def test_hostile_public_parameters_answer_at_once(client: httpx.AsyncClient, path: str, code: int) -> None:
    with trio.fail_after(1):  # `int(Decimal("1e400000"))` used to hold the event loop for seconds
        response = await client.get(path)
    assert (response.status_code, response.json()["code"]) == (400, code), response.text


async def test_a_30_decimal_price_is_rounded_up(dzengi_quiet_testnet: DzengiTestnet,
                                                client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        response = await post_order(client, dzengi_quiet_testnet, encode(order_pairs(price=THIRTY_DECIMALS)))
    assert response.status_code == 200, response.text
    assert response.json()["price"] == "1000.01"


# ---------------------------------------------------------------------------------------------
# REST: a request is taken whole or refused
# ---------------------------------------------------------------------------------------------


async def test_an_over_limit_body_is_refused_not_dropped(dzengi_quiet_testnet: DzengiTestnet) -> None:
    tn = dzengi_quiet_testnet
    body = b"price=10&side=SELL&" + b"x" * (2 << 20)
    signed = sign_query(tn, encode(order_pairs()))
    head = (f"POST /api/v2/order?{signed} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-MBX-APIKEY: {creds(tn).api_key}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with trio.fail_after(10):
        status, raw = await raw_http(tn.url, head, body)
        # the same without Content-Length (chunked): counted while reading, refused all the same
        chunked = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        status_chunked, raw_chunked = await raw_http(tn.url, chunked, chunks)
    answer, answer_chunked = json.loads(raw), json.loads(raw_chunked)
    assert (status, answer["code"]) == (413, DUPLICATE) and "larger than" in answer["msg"]
    assert (status_chunked, answer_chunked["code"]) == (413, DUPLICATE)
    assert open_order_count(tn) == 0


async def test_an_unsigned_small_body_is_a_bad_signature(dzengi_quiet_testnet: DzengiTestnet,
                                                         client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        response = await post_order(client, dzengi_quiet_testnet, encode(order_pairs()), b"&price=10&side=SELL")
    assert (response.status_code, response.json()["code"]) == (400, SIGNATURE)
    assert open_order_count(dzengi_quiet_testnet) == 0


async def test_a_body_within_the_limit_is_covered_by_the_signature(dzengi_quiet_testnet: DzengiTestnet,
                                                                   client: httpx.AsyncClient) -> None:
    body = b"&newClientOrderId=" + b"a" * 60_000
    with trio.fail_after(5):
        response = await post_order(client, dzengi_quiet_testnet, encode(order_pairs()), body, sign_body=True)
    assert response.status_code == 200, response.text
    assert open_order_count(dzengi_quiet_testnet) == 1


async def test_a_get_body_is_covered_by_the_signature(dzengi_quiet_testnet: DzengiTestnet,
                                                      client: httpx.AsyncClient) -> None:
    signed = sign_query(dzengi_quiet_testnet, "showZeroBalance=true")
    headers = {"X-MBX-APIKEY": creds(dzengi_quiet_testnet).api_key}
    with trio.fail_after(5):
        response = await client.request("GET", f"/api/v2/account?{signed}", content=b"&showZeroBalance=false",
                                        headers=headers)
    assert (response.status_code, response.json()["code"]) == (400, SIGNATURE)


async def test_a_signature_in_query_and_body_is_refused(dzengi_quiet_testnet: DzengiTestnet,
                                                        client: httpx.AsyncClient) -> None:
    with trio.fail_after(5):
        response = await post_order(client, dzengi_quiet_testnet, encode(order_pairs()), b"signature=00")
    assert (response.status_code, response.json()["code"]) == (400, DUPLICATE)


async def test_a_repeated_api_key_header_is_refused(dzengi_quiet_testnet: DzengiTestnet,
                                                    client: httpx.AsyncClient) -> None:
    signed = sign_query(dzengi_quiet_testnet, "")
    headers = [("X-MBX-APIKEY", "someone-else"), ("X-MBX-APIKEY", creds(dzengi_quiet_testnet).api_key)]
    with trio.fail_after(5):
        response = await client.request("GET", f"/api/v2/account?{signed}", headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, -2014)


# ---------------------------------------------------------------------------------------------
# WebSocket: the same inputs through the request/response envelope
# ---------------------------------------------------------------------------------------------


async def ws_exchange(ws: trio_websocket.WebSocketConnection, text: str) -> dict[str, Any]:
    """Send one raw text frame and return the next answer (the quiet testnet pushes nothing)."""
    await ws.send_message(text)
    answer: dict[str, Any] = json.loads(await ws.get_message())
    return answer


def envelope(destination: str, payload: Any, correlation: int = 7) -> str:
    return json.dumps({"destination": destination, "correlationId": correlation, "payload": payload})


def signed_order(testnet: DzengiTestnet, **overrides: Any) -> dict[str, object]:
    payload: dict[str, object] = dict(order_pairs())
    payload.update(overrides)
    return sign_ws_payload(creds(testnet), payload, now_ms())


def ws_cases(testnet: DzengiTestnet) -> list[tuple[str, str, int]]:
    """(case id, frame text, expected errorCode)."""
    order_text = json.dumps(signed_order(testnet))
    return [
        ("quantity 1e400 as a JSON number",
         '{"destination":"/api/v2/order/create","correlationId":7,"payload":' + order_text.replace(
             '"quantity": "0.01"', '"quantity": 1e400') + "}", ILLEGAL),
        ("limit 1e400000 as a JSON number",
         '{"destination":"/api/v2/depth","correlationId":7,"payload":{"symbol":"BTC/USD","limit":1e400000}}',
         ILLEGAL),
        ("limit 1e400000 as a string", envelope("/api/v2/depth", {"symbol": "BTC/USD", "limit": "1e400000"}),
         ILLEGAL),
        ("quantity 1e400 as a string", envelope("/api/v2/order/create", signed_order(testnet, quantity="1e400")),
         ILLEGAL),
        ("40-digit quantity", envelope("/api/v2/order/create", signed_order(testnet, quantity=FORTY_DIGITS)), FILTER),
        ("40-digit price as a JSON integer",
         envelope("/api/v2/order/create", signed_order(testnet, price=int(FORTY_DIGITS))), FILTER),
        ("Arabic-Indic quantity", envelope("/api/v2/order/create", signed_order(testnet, quantity=ARABIC_INDIC)),
         ILLEGAL),
        ("full-width quantity", envelope("/api/v2/order/create", signed_order(testnet, quantity=FULL_WIDTH)),
         ILLEGAL),
        ("quantity with a trailing newline",
         envelope("/api/v2/order/create", signed_order(testnet, quantity="0.01\n")), ILLEGAL),
        ("duplicate payload key",
         '{"destination":"/api/v2/depth","correlationId":7,"payload":{"symbol":"BTC/USD","symbol":"ETH/USD"}}',
         DUPLICATE),
        ("duplicate envelope key",
         '{"destination":"/api/v2/depth","destination":"/api/v2/account","correlationId":7,"payload":{}}',
         DUPLICATE),
        ("JSON nested 100000 deep", "[" * 100_000 + "]" * 100_000, MALFORMED),
        ("payload nested 50000 deep",
         '{"destination":"/api/v2/depth","correlationId":7,"payload":{"symbol":' + "[" * 50_000 + "]" * 50_000
         + "}}", MALFORMED),
        ("NaN literal", '{"destination":"/api/v2/depth","correlationId":7,"payload":{"limit":NaN}}', ILLEGAL),
        ("payload not an object", envelope("/api/v2/depth", ["BTC/USD"]), MALFORMED),
        ("subscription symbols as a boolean", envelope("marketData.subscribe", {"symbols": True}), MALFORMED_PARAM),
        ("OHLC intervals as a number",
         envelope("OHLCMarketData.subscribe", {"symbols": ["BTC/USD"], "intervals": 5}), MALFORMED_PARAM),
        ("unsubscribe symbols as an object", envelope("trades.unsubscribe", {"symbols": {"a": 1}}), MALFORMED_PARAM),
        ("a destination naming no single action", envelope("/api/v2/order", signed_order(testnet)), MALFORMED),
        ("a value that reads as two signed pairs",
         envelope("/api/v2/order/create", signed_order(testnet, newClientOrderId="x&price=1")), SIGNATURE),
    ]


async def test_hostile_websocket_requests_get_the_venue_error(dzengi_quiet_testnet: DzengiTestnet) -> None:
    tn = dzengi_quiet_testnet
    failures = []
    async with trio_websocket.open_websocket_url(tn.ws_url, max_message_size=1 << 22) as ws:
        for case, text, code in ws_cases(tn):
            with trio.fail_after(2):
                answer = await ws_exchange(ws, text)
            payload = answer.get("payload") or {}
            if answer.get("status") == "OK" or payload.get("errorCode") != code:
                failures.append((case, answer))
        with trio.fail_after(2):  # the socket survived all of it
            pong = await ws_exchange(ws, envelope("ping", {}))
    assert failures == []
    assert pong["status"] == "OK"
    assert open_order_count(tn) == 0


async def test_websocket_30_decimal_price_is_rounded_up(dzengi_quiet_testnet: DzengiTestnet) -> None:
    tn = dzengi_quiet_testnet
    async with trio_websocket.open_websocket_url(tn.ws_url) as ws:
        with trio.fail_after(2):
            answer = await ws_exchange(ws, envelope("/api/v2/order/create",
                                                    signed_order(tn, price=THIRTY_DECIMALS)))
    assert answer["status"] == "OK", answer
    assert answer["payload"]["price"] == "1000.01"


async def test_an_over_limit_websocket_message_closes_1009(dzengi_quiet_testnet: DzengiTestnet) -> None:
    await assert_over_limit_frame_closes_1009(dzengi_quiet_testnet.ws_url, envelope("ping", {"pad": "x" * (2 << 20)}))


# ---------------------------------------------------------------------------------------------
# WebSocket answers as the venue gives them
# ---------------------------------------------------------------------------------------------


async def test_websocket_list_answers_are_wrapped_even_for_one_symbol(dzengi_quiet_testnet: DzengiTestnet) -> None:
    tn = dzengi_quiet_testnet
    async with trio_websocket.open_websocket_url(tn.ws_url) as ws:
        with trio.fail_after(5):
            one = await ws_exchange(ws, envelope("/api/v1/ticker/24hr", {"symbol": "BTC/USD"}, 1))
            every = await ws_exchange(ws, envelope("/api/v1/ticker/24hr", {}, 2))
            trades = await ws_exchange(ws, envelope("/api/v1/aggTrades", {"symbol": "BTC/USD", "limit": 1}, 3))
            currencies = await ws_exchange(ws, envelope("/api/v1/currencies", {}, 4))
            depth = await ws_exchange(ws, envelope("/api/v1/depth", {"symbol": "BTC/USD", "limit": 1}, 5))
            lines = await ws_exchange(ws, envelope("/api/v1/klines", {"symbol": "BTC/USD", "interval": "1m",
                                                                      "limit": 1}, 6))
            fills = await ws_exchange(ws, envelope("/api/v1/myTrades", sign_ws_payload(
                creds(tn), {"symbol": "BTC/USD"}, now_ms()), 7))
            positions = await ws_exchange(ws, envelope("/api/v1/tradingPositions", sign_ws_payload(
                creds(tn), {}, now_ms()), 8))
    assert list(one["payload"]) == ["tickers"] and [t["symbol"] for t in one["payload"]["tickers"]] == ["BTC/USD"]
    assert list(every["payload"]) == ["tickers"] and len(every["payload"]["tickers"]) == 4
    assert list(trades["payload"]) == ["aggTrades"] and isinstance(trades["payload"]["aggTrades"], list)
    assert list(currencies["payload"]) == ["currencies"]
    assert set(depth["payload"]) == {"lastUpdateId", "bids", "asks"}  # an object answer stays an object
    assert list(lines["payload"]) == ["lines"] and len(lines["payload"]["lines"]) == 1
    assert list(fills["payload"]) == ["myTrades"]
    assert list(positions["payload"]) == ["positions"]
