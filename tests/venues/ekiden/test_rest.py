"""Ekiden REST client against ``httpx.MockTransport``: exact wire bytes, the error map, cursors, pacing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from engine import AuthFailed, MalformedMessage, OutcomeUnknown, RateLimited, RiskDenied, VenueError, VenueRejected
from risk import ServerClock
from venues.ekiden.rest import ClockRejected, EkidenRest, rate_limiters
from venues.ekiden.signer import Credentials

FIXED_NS = 1746880496 * 1_000_000_000  # 2025-05-10T12:34:56Z
CREDS = Credentials("ek-test-key", "ek-test-secret")


def ok(data: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "data": data, **extra})


def err(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "error_message": message}, headers=headers)


def client(handler: Callable[[httpx.Request], httpx.Response], *, clock_ns: Callable[[], int] | None = None,
           private_per_window: int = 100_000, max_wait_s: float = 10.0) -> tuple[EkidenRest, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    public, private = rate_limiters(public_per_window=100_000, private_per_window=private_per_window,
                                    max_wait_s=max_wait_s)
    rest = EkidenRest("http://ekiden.test", credentials=CREDS, transport=httpx.MockTransport(record),
                      public_limiter=public, private_limiter=private,
                      clock=ServerClock(now_ns=clock_ns or (lambda: FIXED_NS)))
    return rest, seen


# ---------------------------------------------------------------------------------------------
# exact bytes
# ---------------------------------------------------------------------------------------------


async def test_signed_get_carries_the_pinned_headers() -> None:
    rest, seen = client(lambda r: ok([]))
    with trio.fail_after(5):
        assert await rest.balances() == []
    request = seen[0]
    assert request.method == "GET"
    assert request.url.raw_path == b"/v1/balances"
    assert request.headers["EKIDEN-API-KEY"] == "ek-test-key"
    assert request.headers["EKIDEN-TIMESTAMP"] == "2025-05-10T12:34:56.000Z"
    # printf '%s' '2025-05-10T12:34:56.000ZGET/v1/balances' | openssl dgst -sha256 -hmac ek-test-secret -binary | base64
    assert request.headers["EKIDEN-SIGNATURE"] == "GjoRKgHObzzAq2SrPdTFbuOBnRjFF5sfQfm+icQaz1Y="
    assert request.content == b""


async def test_signed_post_signs_the_exact_json_body() -> None:
    rest, seen = client(lambda r: ok({"order_id": "o1"}))
    body = {"market": "ETH-USD", "side": "buy", "type": "limit", "size": "0.5", "price": "2000.5",
            "time_in_force": "gtc", "post_only": True, "client_order_id": "tt-1", "leverage": "5"}
    with trio.fail_after(5):
        assert await rest.create_order(body) == {"order_id": "o1"}
    request = seen[0]
    assert request.content == (b'{"market":"ETH-USD","side":"buy","type":"limit","size":"0.5","price":"2000.5",'
                               b'"time_in_force":"gtc","post_only":true,"client_order_id":"tt-1","leverage":"5"}')
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["EKIDEN-SIGNATURE"] == "mbbUUvnND74gP3UVE9ODvs9ASiUbHDaXOu6pL7w2Dn8="


async def test_signed_query_is_part_of_the_signature() -> None:
    rest, seen = client(lambda r: ok([], next_cursor=None))
    with trio.fail_after(5):
        assert await rest.orders(status="open") == []
    request = seen[0]
    assert request.url.raw_path == b"/v1/orders?status=open&limit=100"
    assert request.headers["EKIDEN-SIGNATURE"] == "9fo4rC6VfcG6dTvgphATA+XylgoezerWbyfSlIPd3S8="


async def test_public_requests_are_not_signed() -> None:
    rest, seen = client(lambda r: ok([]))
    with trio.fail_after(5):
        await rest.markets()
    assert "EKIDEN-SIGNATURE" not in seen[0].headers and "EKIDEN-API-KEY" not in seen[0].headers


async def test_floats_are_refused_before_anything_is_sent() -> None:
    rest, seen = client(lambda r: ok({}))
    with trio.fail_after(5), pytest.raises(TypeError, match="float"):
        await rest.create_order({"market": "ETH-USD", "size": 0.5})
    assert seen == []


async def test_no_credentials_is_a_clear_auth_error() -> None:
    rest = EkidenRest("http://ekiden.test", transport=httpx.MockTransport(lambda r: ok([])))
    with trio.fail_after(5), pytest.raises(AuthFailed, match="API key and secret"):
        await rest.balances()


# ---------------------------------------------------------------------------------------------
# the error map
# ---------------------------------------------------------------------------------------------

QUERY_CASES = [
    (err(400, 2000, "Invalid request: bad market"), VenueRejected, 2000),
    (err(404, 2004, "Resource not found"), VenueRejected, 2004),
    (err(401, 2001, "Authentication failed: invalid signature"), AuthFailed, None),
    (httpx.Response(401, text="no"), AuthFailed, None),
    (httpx.Response(418, text="teapot"), VenueRejected, 418),
    (httpx.Response(500, text="oops"), VenueError, None),
    (httpx.Response(503, json={"error_code": 2000, "error_message": "internal"}), VenueError, None),
    (httpx.Response(200, text="not json"), MalformedMessage, None),
    (httpx.Response(200, json={"success": False, "data": []}), MalformedMessage, None),
    (httpx.Response(200, json=[1, 2]), MalformedMessage, None),
]


@pytest.mark.parametrize(("response", "expected", "code"), QUERY_CASES)
async def test_query_errors_map_in_one_place(response: httpx.Response, expected: type, code: int | None) -> None:
    rest, _ = client(lambda r: response)
    with trio.fail_after(5), pytest.raises(expected) as info:
        await rest.balances()
    assert type(info.value) is expected or (expected is VenueError and type(info.value) is VenueError)
    if code is not None:
        assert info.value.code == code  # type: ignore[attr-defined]


COMMAND_CASES = [
    (err(400, 2000, "Invalid request: post-only order would take liquidity"), VenueRejected),
    (err(404, 2004, "Resource not found"), VenueRejected),
    (err(401, 2001, "Authentication failed"), AuthFailed),
    (httpx.Response(500, text="oops"), OutcomeUnknown),
    (httpx.Response(502, text=""), OutcomeUnknown),
    (err(429, 2003, "Rate limit exceeded", {"Retry-After": "2"}), OutcomeUnknown),
    (httpx.Response(200, text="{truncated"), OutcomeUnknown),
    (httpx.Response(200, json={"success": True}), OutcomeUnknown),
]


@pytest.mark.parametrize(("response", "expected"), COMMAND_CASES)
async def test_command_errors_follow_the_outcome_policy(response: httpx.Response, expected: type) -> None:
    rest, seen = client(lambda r: response)
    with trio.fail_after(5), pytest.raises(expected):
        await rest.cancel_order("o1")
    assert len(seen) == 1  # never resent


@pytest.mark.parametrize("command", [False, True])
async def test_transport_failure_is_unknown_only_for_commands(command: bool) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    rest, seen = client(fail)
    with trio.fail_after(5), pytest.raises(OutcomeUnknown if command else VenueError) as info:
        if command:
            await rest.create_order({"market": "ETH-USD"})
        else:
            await rest.balances()
    if not command:
        assert not isinstance(info.value, OutcomeUnknown)
    assert len(seen) == 1


async def test_rate_limited_answer_pauses_the_scope_with_the_venues_hint() -> None:
    rest, _ = client(lambda r: err(429, 2003, "Rate limit exceeded", {"Retry-After": "7"}))
    with trio.fail_after(5), pytest.raises(RateLimited) as info:
        await rest.balances()
    assert info.value.retry_after_s == 7.0
    stats = rest.private_limiter.statistics()
    assert stats.rate_limited == 1
    assert rest.public_limiter.statistics().rate_limited == 0  # the other scope is not paused
    assert rest.private_limiter.paused


async def test_rate_limited_command_is_unknown_caused_by_the_429() -> None:
    rest, _ = client(lambda r: err(429, 2003, "Rate limit exceeded", {"Retry-After": "1"}))
    with trio.fail_after(5), pytest.raises(OutcomeUnknown) as info:
        await rest.create_order({"market": "ETH-USD"})
    assert isinstance(info.value.__cause__, RateLimited)
    assert rest.private_limiter.statistics().rate_limited == 1


async def test_secrets_never_reach_error_messages() -> None:
    rest, _ = client(lambda r: httpx.Response(500, text='{"secret": "ek-test-secret", "signature": "abc"}'))
    with trio.fail_after(5), pytest.raises(VenueError) as info:
        await rest.balances()
    assert "ek-test-secret" not in str(info.value)
    assert "abc" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# clock
# ---------------------------------------------------------------------------------------------


async def test_expired_signature_resyncs_the_clock_and_signs_once_more() -> None:
    server_offset_ms = 45_000
    stamps: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/time":
            return ok({"server_time": "2025-05-10T12:35:41.000Z"})  # FIXED + 45 s
        stamps.append(request.headers["EKIDEN-TIMESTAMP"])
        if len(stamps) == 1:
            return err(401, 2002, "Signature expired")
        return ok({"order_id": "o1"})

    rest, seen = client(handler)
    with trio.fail_after(5):
        assert await rest.create_order({"market": "ETH-USD"}) == {"order_id": "o1"}
    assert stamps == ["2025-05-10T12:34:56.000Z", "2025-05-10T12:35:41.000Z"]
    assert rest.clock.offset_ms == server_offset_ms
    assert rest.clock_resyncs == 1


async def test_expired_twice_is_a_definite_clock_rejection() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/time":
            return ok({"server_time": "2025-05-10T12:34:56.000Z"})
        return err(401, 2002, "Signature expired")

    rest, seen = client(handler)
    with trio.fail_after(5), pytest.raises(ClockRejected):
        await rest.balances()
    assert [r.url.path for r in seen].count("/v1/balances") == 2


async def test_sync_time_measures_the_offset() -> None:
    rest, _ = client(lambda r: ok({"server_time": "2025-05-10T12:34:55.250Z"}))
    with trio.fail_after(5):
        offset = await rest.sync_time()
    assert offset == -750
    assert rest.timestamp() == "2025-05-10T12:34:55.250Z"


# ---------------------------------------------------------------------------------------------
# cursors and pacing
# ---------------------------------------------------------------------------------------------


async def test_pages_are_walked_to_the_end() -> None:
    pages = {None: (["a", "b"], "c1"), "c1": (["c"], "c2"), "c2": (["d"], None)}

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        items, nxt = pages[cursor]
        assert request.url.params["limit"] == "100"
        return ok(items, next_cursor=nxt)

    rest, seen = client(handler)
    with trio.fail_after(5):
        assert await rest.fills(market="ETH-USD") == ["a", "b", "c", "d"]
    assert len(seen) == 3


async def test_a_cursor_that_never_ends_is_malformed() -> None:
    rest, seen = client(lambda r: ok(["x"], next_cursor="again"))
    with trio.fail_after(5), pytest.raises(MalformedMessage, match="cursor"):
        await rest.pages("/v1/fills", private=True, max_pages=5)
    assert len(seen) == 5


async def test_over_budget_request_is_refused_locally_and_never_sent() -> None:
    rest, seen = client(lambda r: ok([]), private_per_window=1, max_wait_s=0.5)
    with trio.fail_after(5):
        await rest.balances()
        with pytest.raises(RiskDenied):
            await rest.balances()
    assert len(seen) == 1

