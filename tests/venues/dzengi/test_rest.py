"""Dzengi REST client: exact signed bytes, server clock, every error mapping, rate limits, HTTP/1.1 lane.

httpx paths run on ``httpx.MockTransport``; the HTTP/1.1 lane (raw keep-alive) runs against
tiny servers on 127.0.0.1 (port 0) that answer, misbehave or stay silent on purpose.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from engine import AuthFailed, MalformedMessage, OutcomeUnknown, RateLimited, RiskDenied, VenueError, VenueRejected
from engine import DenyReason
from risk import RateLimiter, RateLimitSpec, ServerClock
from venues.dzengi.rest import ClockRejected, DzengiRest, rate_limit_specs, rate_limiter
from venues.dzengi.signer import Credentials
from venues.dzengi.testnet import open_dzengi_testnet

KEY = "test-api-key"
SECRET = "test-secret-NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
WALL_MS = 1_700_000_000_000
SERVER_AHEAD_MS = 5_000
ORDER_PARAMS = "symbol=BTC%2FUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000.5"


def hmac_hex(message: str) -> str:
    return hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


Handler = Callable[[httpx.Request], httpx.Response]


def fixed_clock(wall_ms: int = WALL_MS) -> ServerClock:
    """A server clock whose local time stands still at ``wall_ms`` (round trips take 0 ms)."""
    return ServerClock(now_ns=lambda: wall_ms * 1_000_000)


def make_rest(handler: Handler, *, max_wait_s: float = 2.0, **kw: Any) -> DzengiRest:
    kw.setdefault("credentials", Credentials(KEY, SECRET))
    kw.setdefault("clock", fixed_clock())
    kw.setdefault("limiter", rate_limiter(max_wait_s=max_wait_s))
    return DzengiRest("https://api-adapter.example", transport=httpx.MockTransport(handler), **kw)


def error(status: int, code: int | str, msg: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg}, headers=headers)


# ---------------------------------------------------------------------------------------------
# exact bytes
# ---------------------------------------------------------------------------------------------


async def test_signed_get_signs_the_exact_query_bytes_with_the_server_offset() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/v2/time":
            return httpx.Response(200, json={"serverTime": WALL_MS + SERVER_AHEAD_MS})
        return httpx.Response(200, json=[])

    rest = make_rest(handler, api_version="v2", recv_window_ms=7000)
    with trio.fail_after(5):
        assert await rest.sync_time() == SERVER_AHEAD_MS
        await rest.my_trades("BTC/USD", start_ms=123)
    request = seen[-1]
    query = request.url.query.decode()
    unsigned, _, signature = query.rpartition("&signature=")
    timestamp = WALL_MS + SERVER_AHEAD_MS
    assert unsigned == f"symbol=BTC%2FUSD&startTime=123&limit=1000&recvWindow=7000&timestamp={timestamp}"
    assert signature == hmac_hex(unsigned)
    assert request.headers["X-MBX-APIKEY"] == KEY
    assert request.url.path == "/api/v2/myTrades" and request.content == b""


async def test_new_order_signs_the_exact_body_bytes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"orderId": "o-1", "status": "NEW"})

    rest = make_rest(handler)
    with trio.fail_after(5):
        assert await rest.new_order(ORDER_PARAMS) == {"orderId": "o-1", "status": "NEW"}
    request = seen[0]
    body = request.content.decode()
    unsigned, _, signature = body.rpartition("&signature=")
    assert unsigned == f"{ORDER_PARAMS}&recvWindow=5000&timestamp={WALL_MS}"
    assert signature == hmac_hex(unsigned)
    assert request.method == "POST" and request.url.path == "/api/v1/order" and request.url.query == b""
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["X-MBX-APIKEY"] == KEY


async def test_cancel_sends_signed_params_in_the_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"orderId": "o-1", "status": "CANCELED"})

    rest = make_rest(handler)
    with trio.fail_after(5):
        await rest.cancel_order("BTC/USD_LEVERAGE", "o-1")
    query = seen[0].url.query.decode()
    unsigned, _, signature = query.rpartition("&signature=")
    assert unsigned == f"symbol=BTC%2FUSD_LEVERAGE&orderId=o-1&recvWindow=5000&timestamp={WALL_MS}"
    assert signature == hmac_hex(unsigned) and seen[0].method == "DELETE"


async def test_public_requests_are_not_signed() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"lastUpdateId": 1, "bids": [], "asks": []})

    rest = make_rest(handler, credentials=None)
    with trio.fail_after(5):
        await rest.depth("Oil - Brent.", 10)
    assert seen[0].url.query == b"symbol=Oil+-+Brent.&limit=10"
    assert "X-MBX-APIKEY" not in seen[0].headers


async def test_signed_request_without_credentials_fails_before_sending() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    rest = make_rest(handler, credentials=None)
    with pytest.raises(AuthFailed, match="API key"):
        await rest.account()


def test_recv_window_is_capped_by_the_venue() -> None:
    with pytest.raises(ValueError, match="60000"):
        DzengiRest("https://x", recv_window_ms=60_001)


# ---------------------------------------------------------------------------------------------
# error mapping (the one place)
# ---------------------------------------------------------------------------------------------

DEFINITE = [
    (error(400, -1121, "Invalid symbol."), VenueRejected, -1121),
    (error(400, "-1013", "Filter failure: LOT_SIZE"), VenueRejected, -1013),
    (error(200, -2010, "Account has insufficient balance for requested action."), VenueRejected, -2010),
    (httpx.Response(404, text="<html>not found</html>"), VenueRejected, 404),
    (error(400, -1022, "Signature for this request is not valid."), AuthFailed, None),
    (error(401, -2014, "API-key format invalid."), AuthFailed, None),
    (error(401, -2015, "Invalid API-key, IP, or permissions for action."), AuthFailed, None),
    (error(400, -1021, "Timestamp for this request is outside of the recvWindow."), ClockRejected, None),
]


@pytest.mark.parametrize(("response", "kind", "code"), DEFINITE)
@pytest.mark.parametrize("command", [False, True])
async def test_definite_answers(response: httpx.Response, kind: type[Exception], code: int | None,
                                command: bool) -> None:
    rest = make_rest(lambda request: response)
    with trio.fail_after(5), pytest.raises(kind) as info:
        if command:
            await rest.new_order(ORDER_PARAMS)
        else:
            await rest.open_orders("BTC/USD")
    if code is not None:
        assert isinstance(info.value, VenueRejected) and info.value.code == code
    assert not isinstance(info.value, OutcomeUnknown)


UNKNOWN_AFTER_SEND = [
    (httpx.Response(500, json={"code": -1000, "msg": "An unknown error occured"}), VenueError),
    (httpx.Response(503, text="Service Unavailable"), VenueError),
    (error(429, -1003, "Too many requests", {"Retry-After": "3"}), RateLimited),
    (error(418, -1003, "Way too many requests; IP banned", {"Retry-After": "120"}), RateLimited),
    (httpx.Response(403, text="WAF"), RateLimited),
    (httpx.Response(200, text="{not json"), MalformedMessage),
    (httpx.Response(200, content=b""), MalformedMessage),
    (httpx.Response(408, text="timeout"), VenueError),
]


@pytest.mark.parametrize(("response", "plain_kind"), UNKNOWN_AFTER_SEND)
async def test_unknown_outcomes(response: httpx.Response, plain_kind: type[Exception]) -> None:
    rest = make_rest(lambda request: response, max_wait_s=0.0)
    with trio.fail_after(5), pytest.raises(plain_kind) as plain:
        await rest.open_orders("BTC/USD")
    assert not isinstance(plain.value, OutcomeUnknown)
    rest = make_rest(lambda request: response, max_wait_s=0.0)
    with trio.fail_after(5), pytest.raises(OutcomeUnknown) as command:
        await rest.new_order(ORDER_PARAMS)
    assert isinstance(command.value.__cause__, plain_kind)  # raised `from` the mapped error
    with trio.fail_after(5), pytest.raises(OutcomeUnknown):
        await make_rest(lambda request: response, max_wait_s=0.0).cancel_order("BTC/USD", "o-1")


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"),
                                     httpx.RemoteProtocolError("reset")])
async def test_transport_failures(failure: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with trio.fail_after(5), pytest.raises(VenueError) as plain:
        await make_rest(handler).account()
    assert not isinstance(plain.value, OutcomeUnknown) and plain.value.__cause__ is failure
    with trio.fail_after(5), pytest.raises(OutcomeUnknown) as command:
        await make_rest(handler).new_order(ORDER_PARAMS)
    assert command.value.__cause__ is failure
    assert ("timed out" in str(command.value)) == isinstance(failure, httpx.TimeoutException)


async def test_rate_limited_carries_retry_after_and_blocks_the_scope() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return error(429, -1003, "Too many requests", {"Retry-After": "30"})

    rest = make_rest(handler, max_wait_s=1.0)
    with trio.fail_after(5), pytest.raises(RateLimited) as info:
        await rest.account()
    assert info.value.retry_after_s == 30.0 and calls == 1
    assert rest.limiter.statistics().paused_until - trio.current_time() == pytest.approx(30.0, abs=0.5)
    # backing off: nothing more is sent until Retry-After has passed (no 418 ban provoked)
    with trio.fail_after(5), pytest.raises(RiskDenied) as read:
        await rest.account()
    with pytest.raises(RiskDenied) as command:
        await rest.new_order(ORDER_PARAMS)
    assert read.value.reason is command.value.reason is DenyReason.RATE_LIMITED
    assert calls == 1


async def test_backoff_waits_then_sends(autojump_clock: trio.testing.MockClock) -> None:
    answers = [error(429, -1003, "Too many requests", {"Retry-After": "2"}), httpx.Response(200, json=[])]
    sent_at: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(trio.current_time())
        return answers.pop(0)

    rest = make_rest(handler, max_wait_s=5.0)
    with trio.fail_after(60):
        with pytest.raises(RateLimited):
            await rest.open_orders("BTC/USD")
        assert await rest.open_orders("BTC/USD") == []
    assert sent_at[1] - sent_at[0] >= 2.0


async def test_clock_rejection_resyncs_and_retries_a_read_once() -> None:
    server_ms = WALL_MS + 40_000
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.path.endswith("/time"):
            return httpx.Response(200, json={"serverTime": server_ms})
        timestamp = int(dict(p.split("=") for p in request.url.query.decode().split("&"))["timestamp"])
        if timestamp < server_ms - 5000:
            return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return httpx.Response(200, json={"balances": []})

    rest = make_rest(handler)
    with trio.fail_after(5):
        assert await rest.account() == {"balances": []}
    assert sent == ["/api/v1/account", "/api/v1/time", "/api/v1/time", "/api/v1/time", "/api/v1/account"]
    assert rest.clock.offset_ms == 40_000 and not rest.clock_stale


async def test_after_a_clock_rejection_the_estimate_is_rebuilt_from_new_samples() -> None:
    """The venue's clock steps 40 s after we synced. Round trips are scripted so that three new
    samples would not be enough: the first new one is the fastest of all (it joins the estimate's
    better half and widens its doubt, which resets the disagreement count), the next ones are
    slower than the old ones (which keep the median)."""
    local_ns = [WALL_MS * 1_000_000]
    offset_ms = [0]
    time_rtts_ms = iter([2, 2, 2, 1] + [6] * 60)
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        sent.append(name)
        rtt_ms = next(time_rtts_ms) if name == "time" else 2
        sent_ns = local_ns[0]
        local_ns[0] += rtt_ms * 1_000_000  # the answer arrives rtt later; the venue stamped it halfway
        server_ms = (sent_ns + local_ns[0]) // 2_000_000 + offset_ms[0]
        if name == "time":
            return httpx.Response(200, json={"serverTime": server_ms})
        if abs(server_ms - timestamp_of(request)) > 5000:
            return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return httpx.Response(200, json={"balances": []})

    rest = make_rest(handler, clock=ServerClock(now_ns=lambda: local_ns[0]))
    with trio.fail_after(5):
        assert await rest.sync_time() == 0
        offset_ms[0] = 40_000  # the venue's clock steps
        assert await rest.account() == {"balances": []}  # refused once, resynced, signed again
    assert sent.count("account") == 2 and sent.count("time") > 3 + 3
    assert rest.clock.offset_ms == pytest.approx(40_000, abs=1)
    assert rest.clock.estimate().samples <= sent.count("time") - 3  # only samples taken after the step


async def test_clock_rejection_of_an_order_is_definite_and_never_resent() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")

    rest = make_rest(handler)
    with trio.fail_after(5), pytest.raises(ClockRejected):
        await rest.new_order(ORDER_PARAMS)
    assert sent == ["/api/v1/order"] and rest.clock_stale


async def test_errors_never_show_secrets() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text=f"upstream echoed signature=abcdef0123 secret={SECRET}")

    with trio.fail_after(5), pytest.raises(VenueError) as info:
        await make_rest(handler).account()
    text = str(info.value)
    assert "abcdef0123" not in text and SECRET not in text and "502" in text


# ---------------------------------------------------------------------------------------------
# rate limits (risk.RateLimiter) and the server clock (risk.ServerClock)
# ---------------------------------------------------------------------------------------------


def test_rate_limit_specs_come_from_exchange_info_and_our_budgets_only_lower_them() -> None:
    documented = {(s.scope, s.limit, s.interval_s) for s in rate_limit_specs()}
    assert documented == {("REQUEST_WEIGHT", 1200, 60.0), ("ORDERS", 10, 1.0), ("ORDERS", 864_000, 86_400.0)}
    published = {"REQUEST_WEIGHT": [(600, 60_000)], "ORDERS": [(20, 1000), (5000, 86_400_000)], "RAW": [(0, 1000)]}
    specs = rate_limit_specs(published, request_weight_per_min=900, orders_per_s=8)
    assert {(s.scope, s.limit, s.interval_s) for s in specs} == {
        ("REQUEST_WEIGHT", 600, 60.0), ("ORDERS", 8, 1.0), ("ORDERS", 5000, 86_400.0)}  # no zero limit


def moving_clock() -> ServerClock:
    """A server clock whose local time is trio's (``WALL_MS`` at trio time 0)."""
    return ServerClock(now_ns=lambda: WALL_MS * 1_000_000 + int(trio.current_time() * 1e9))


def order_answer(request: httpx.Request) -> httpx.Response:
    if request.method == "GET":
        return httpx.Response(200, json={"balances": []})
    return httpx.Response(200, json={"orderId": "o-1", "status": "NEW"})


def timestamp_of(request: httpx.Request) -> int:
    text = request.content.decode() or request.url.query.decode()
    return int(dict(pair.split("=", 1) for pair in text.split("&"))["timestamp"])


async def test_an_order_waits_for_its_turn_and_is_stamped_after_the_wait(
        autojump_clock: trio.testing.MockClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return order_answer(request)

    rest = make_rest(handler, clock=moving_clock())  # the documented limits: ORDERS 10 per second
    with trio.fail_after(10):
        await rest.new_order(ORDER_PARAMS)
        # the ORDERS bucket holds 10 * 0.95 * 0.1 = 0.95 at once and refills 8.55 per second
        await rest.new_order(ORDER_PARAMS)
    assert trio.current_time() == pytest.approx(1 / 8.55, rel=1e-6)
    first, second = (timestamp_of(r) for r in seen)
    assert second - first >= 116  # signed after the wait, not before it (the wait never ages a signature)
    assert rest.limiter.statistics().waited == 1


async def test_an_order_over_the_rate_limit_is_denied_when_waiting_is_off(
        autojump_clock: trio.testing.MockClock) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return order_answer(request)

    rest = make_rest(handler, max_wait_s=0.0)
    with trio.fail_after(10):
        await rest.new_order(ORDER_PARAMS)
        with pytest.raises(RiskDenied) as info:
            await rest.new_order(ORDER_PARAMS)
    assert info.value.reason is DenyReason.RATE_LIMITED and len(seen) == 1


async def test_a_waiting_read_does_not_hold_up_an_order(autojump_clock: trio.testing.MockClock) -> None:
    sent: list[tuple[float, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((trio.current_time(), request.method))
        return order_answer(request)

    # REQUEST_WEIGHT: a burst of 50, refilled at 5 per second
    limiter = RateLimiter([RateLimitSpec("REQUEST_WEIGHT", 100, 10.0), RateLimitSpec("ORDERS", 100, 1.0)],
                          burst_fraction=0.5, utilization=1.0, max_wait_s=5.0)
    rest = make_rest(handler, limiter=limiter)
    assert limiter.try_acquire({"REQUEST_WEIGHT": 50})
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rest.account)  # weight 5: its turn comes in 1 s
            await trio.sleep(0.5)
            await rest.new_order(ORDER_PARAMS)  # weight 1, refilled meanwhile: goes at once
    assert [method for _, method in sent] == ["POST", "GET"]
    assert sent[0][0] == pytest.approx(0.5) and sent[1][0] == pytest.approx(1.2)  # (2.5 - 1 + 5 * 0.7 = 5)


async def test_background_reads_leave_room_for_the_callers_own(autojump_clock: trio.testing.MockClock) -> None:
    sent: list[tuple[float, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((trio.current_time(), request.url.path.rsplit("/", 1)[-1]))
        return httpx.Response(200, json=[] if "myTrades" in request.url.path else {"balances": []})

    # REQUEST_WEIGHT: a burst of 50, refilled at 5 per second
    limiter = RateLimiter([RateLimitSpec("REQUEST_WEIGHT", 100, 10.0), RateLimitSpec("ORDERS", 100, 1.0)],
                          burst_fraction=0.5, utilization=1.0, max_wait_s=10.0)
    rest = make_rest(handler, limiter=limiter)
    limiter.on_rate_limited(1.0)  # a 429 just paused everything: the buckets refill from empty at 1 s

    async def poll() -> None:
        with rest.background():
            await rest.my_trades("BTC/USD")  # weight 5, waits for 5 + 10 in the bucket

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await trio.sleep(0.01)
            await rest.account()  # weight 5, asked for later: goes first, as soon as 5 are there
    assert [name for _, name in sent] == ["account", "myTrades"]
    assert [at for at, _ in sent] == pytest.approx([2.0, 5.0])


async def test_an_order_that_would_miss_its_window_is_denied_before_sending() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return order_answer(request)

    clock = fixed_clock()
    # one sample that took 4 s: the venue is 2 s away, give or take 2 s
    clock.observe(WALL_MS * 1_000_000 - 4_000_000_000, WALL_MS, WALL_MS * 1_000_000)
    rest = make_rest(handler, clock=clock, recv_window_ms=1000)
    with trio.fail_after(5):
        with pytest.raises(RiskDenied, match="nothing was sent") as info:
            await rest.new_order(ORDER_PARAMS)
        assert info.value.reason is DenyReason.STALE_TIMESTAMP
        with pytest.raises(RiskDenied) as info:
            await rest.cancel_order("BTC/USD", "o-1")
        assert info.value.reason is DenyReason.STALE_TIMESTAMP
        assert seen == []
        # with a window that covers the doubt, the same order goes out
        rest = make_rest(handler, clock=clock, recv_window_ms=10_000)
        await rest.new_order(ORDER_PARAMS)
    assert len(seen) == 1


class RecordingLimiter(RateLimiter):
    """A rate limiter that adds up the weights it admitted, per scope."""

    def __init__(self) -> None:
        super().__init__(rate_limit_specs(), max_wait_s=0.0)
        self.charged: Counter[str] = Counter()

    def try_acquire(self, weights: Any) -> bool:
        admitted = super().try_acquire(weights)
        if admitted:
            self.charged.update(dict(weights.items()))
        return admitted

    async def acquire(self, weights: Any, *, max_wait_s: float | None = None) -> float:
        waited = await super().acquire(weights, max_wait_s=max_wait_s)
        self.charged.update(dict(weights.items()))
        return waited


async def test_requests_are_charged_the_weights_the_testnet_charges(dzengi_accounts_file: Path) -> None:
    frozen_ms = 1_700_000_030_000  # both clocks stand still: the testnet's fixed windows cannot roll over
    limiter = RecordingLimiter()
    async with open_dzengi_testnet(dzengi_accounts_file, market=False, clock_ms=lambda: frozen_ms) as testnet:
        rest = DzengiRest(testnet.url, credentials=Credentials("alice-api-key-0001", "alice-secret-0001"),
                          limiter=limiter, clock=fixed_clock(frozen_ms))
        with trio.fail_after(10):
            await rest.sync_time()
            await rest.exchange_info()
            for limit in (5, 500, 1000):
                await rest.depth("BTC/USD", limit)
            await rest.agg_trades("BTC/USD")
            await rest.klines("BTC/USD", "1m")
            await rest.account()
            await rest.my_trades("BTC/USD")
            await rest.open_orders("BTC/USD")
            await rest.open_orders()
            await rest.trading_positions()
            await rest.leverage_settings("BTC/USD_LEVERAGE")
            placed = await rest.new_order(ORDER_PARAMS)
            await rest.fetch_order("BTC/USD", placed["orderId"])
            await rest.cancel_order("BTC/USD", placed["orderId"])
            await rest.aclose()
        weights = testnet._weights
        orders = testnet._orders
        assert limiter.charged["REQUEST_WEIGHT"] == weights.used("127.0.0.1", weights.rules[0], frozen_ms) == 82
        assert limiter.charged["ORDERS"] == orders.used("alice", orders.rules[0], frozen_ms) == 1


async def test_the_clock_takes_time_answers_and_a_date_header_only_before_them() -> None:
    date = email.utils.formatdate((WALL_MS + 10_000) / 1000, usegmt=True)  # a front end's clock, 10 s ahead

    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[-1]
        if name == "time":
            return httpx.Response(200, json={"serverTime": WALL_MS + 3_000}, headers={"Date": date})
        if name == "exchangeInfo":  # a serverTime outside a time answer is not a sample
            return httpx.Response(200, json={"serverTime": WALL_MS + 99_000, "rateLimits": [], "symbols": []},
                                  headers={"Date": date})
        return httpx.Response(200, json={"balances": []}, headers={"Date": date})

    rest = make_rest(handler)
    with trio.fail_after(5):
        assert not rest.clock.synced
        await rest.account()  # no time answer yet: the Date header is all there is (whole seconds: +0.5 s)
        assert rest.clock.synced and rest.clock.offset_ms == pytest.approx(10_500)
        assert await rest.sync_time() == 3_000  # the venue's own clock wins
        await rest.account()
        await rest.exchange_info()
        assert rest.clock.offset_ms == 3_000
        assert rest.timestamp_ms() == WALL_MS + 3_000


# ---------------------------------------------------------------------------------------------
# the HTTP/1.1 lane against real sockets
# ---------------------------------------------------------------------------------------------

OK_BODY = b'{"orderId":"o-1","status":"NEW"}'


def http_response(body: bytes, *, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " + \
        str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body


async def read_request(stream: trio.SocketStream, buffer: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer += data
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    total = len(head) + 4 + length
    while len(buffer) < total:
        buffer += await stream.receive_some(65536)
    request = bytes(buffer[:total])
    del buffer[:total]
    return request


async def serve(nursery: trio.Nursery, behaviour: Callable[[trio.SocketStream], Awaitable[None]]) -> str:
    listeners = await nursery.start(functools.partial(trio.serve_tcp, behaviour, 0, host="127.0.0.1"))
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"


async def test_lane_writes_exact_bytes_and_keeps_the_connection_alive() -> None:
    requests: list[bytes] = []
    connections = 0

    async def behaviour(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        buffer = bytearray()
        while (request := await read_request(stream, buffer)) is not None:
            requests.append(request)
            await stream.send_all(http_response(OK_BODY))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url + "/prefix", credentials=Credentials(KEY, SECRET), clock=fixed_clock())
            assert rest.lane is not None
            for _ in range(3):
                assert await rest.new_order(ORDER_PARAMS) == {"orderId": "o-1", "status": "NEW"}
            await rest.cancel_order("BTC/USD", "o-1")
            await rest.aclose()
            nursery.cancel_scope.cancel()
    assert connections == 1 and rest.lane.connections_opened == 1
    head, _, body = requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    host = url.removeprefix("http://")
    assert lines[0] == "POST /prefix/api/v1/order HTTP/1.1"
    assert set(lines[1:]) == {f"Host: {host}", f"X-MBX-APIKEY: {KEY}", "User-Agent: triotrade",
                              "Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"}
    unsigned, _, signature = body.decode().rpartition("&signature=")
    assert unsigned == f"{ORDER_PARAMS}&recvWindow=5000&timestamp={WALL_MS}"
    assert signature == hmac_hex(unsigned)
    cancel_line = requests[3].split(b"\r\n", 1)[0].decode()
    assert cancel_line.startswith("DELETE /prefix/api/v1/order?symbol=BTC%2FUSD&orderId=o-1&recvWindow=5000&")


async def test_lane_reads_chunked_and_close_delimited_answers() -> None:
    first, second = b'{"ord', b'erId":"o-2","x":[1,2]}'
    answers = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(first), first) +
        b"%x;ext=1\r\n%s\r\n" % (len(second), second) + b"0\r\nX-Trailer: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"orderId\":\"o-3\"}",
    ]

    async def behaviour(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        while answers and (await read_request(stream, buffer)) is not None:
            answer = answers.pop(0)
            await stream.send_all(answer)
            if b"Connection: close" in answer:
                await stream.aclose()
                return

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url, credentials=Credentials(KEY, SECRET))
            assert await rest.new_order(ORDER_PARAMS) == {"orderId": "o-2", "x": [1, 2]}
            assert await rest.new_order(ORDER_PARAMS) == {"orderId": "o-3"}
            await rest.aclose()
            nursery.cancel_scope.cancel()


async def test_lane_replaces_a_connection_the_server_closed_while_idle() -> None:
    async def behaviour(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        if (await read_request(stream, buffer)) is not None:
            await stream.send_all(http_response(OK_BODY))
        await stream.aclose()  # keep-alive timeout on the server side

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url, credentials=Credentials(KEY, SECRET))
            assert rest.lane is not None
            await rest.new_order(ORDER_PARAMS)
            await trio.sleep(0.05)  # the close reaches us while the connection is idle
            await rest.new_order(ORDER_PARAMS)  # a fresh connection, not an unknown outcome
            assert rest.lane.connections_opened == 2
            await rest.aclose()
            nursery.cancel_scope.cancel()


async def drop_after_reading(stream: trio.SocketStream) -> None:
    await read_request(stream, bytearray())
    await stream.aclose()


async def never_answer(stream: trio.SocketStream) -> None:
    await read_request(stream, bytearray())
    await trio.sleep_forever()


async def garbage(stream: trio.SocketStream) -> None:
    await read_request(stream, bytearray())
    await stream.send_all(b"SMTP ready\r\n\r\n")


async def server_error(stream: trio.SocketStream) -> None:
    await read_request(stream, bytearray())
    await stream.send_all(http_response(b'{"code":-1000,"msg":"An unknown error occured"}',
                                        status="500 Internal Server Error"))


@pytest.mark.parametrize("behaviour", [drop_after_reading, never_answer, garbage, server_error])
async def test_lane_failures_after_send_are_unknown(behaviour: Callable[[trio.SocketStream], Awaitable[None]]) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url, credentials=Credentials(KEY, SECRET), timeout_s=0.5)
            with pytest.raises(OutcomeUnknown) as info:
                await rest.new_order(ORDER_PARAMS)
            assert info.value.__cause__ is not None
            await rest.aclose()
            nursery.cancel_scope.cancel()


async def test_lane_connection_refused_is_unknown_for_an_order() -> None:
    listener = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener[0].socket.getsockname()[1]
    await listener[0].aclose()  # nobody listens there now
    rest = DzengiRest(f"http://127.0.0.1:{port}", credentials=Credentials(KEY, SECRET))
    with trio.fail_after(5), pytest.raises(OutcomeUnknown, match="before the request was complete"):
        await rest.new_order(ORDER_PARAMS)
    await rest.aclose()


async def test_lane_maintenance_keeps_a_warm_connection_ready() -> None:
    request_lines: list[str] = []

    async def behaviour(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        while (request := await read_request(stream, buffer)) is not None:
            line = request.split(b"\r\n", 1)[0].decode()
            request_lines.append(line)
            if line.startswith("GET"):
                await stream.send_all(http_response(b'{"serverTime": 1}'))
            else:  # like a server at its keep-alive request limit: answer, then close
                await stream.send_all(http_response(OK_BODY, extra=b"Connection: close\r\n"))
                await stream.aclose()
                return

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url, credentials=Credentials(KEY, SECRET))
            lane = rest.lane
            assert lane is not None
            nursery.start_soon(functools.partial(lane.maintain, b"GET /api/v1/time HTTP/1.1\r\nHost: x\r\n\r\n",
                                                 refresh_s=0.2))
            while lane.idle_connections < lane.min_idle:
                await trio.sleep(0.01)
            assert lane.connections_opened == lane.min_idle == 2
            await rest.new_order(ORDER_PARAMS)  # on a pre-opened connection, which the server then closes
            assert lane.connections_opened == 2
            while lane.idle_connections < lane.min_idle:
                await trio.sleep(0.01)
            assert lane.connections_opened == 3  # replaced in the background, not on the next order
            while not any(line.startswith("GET /api/v1/time") for line in request_lines):
                await trio.sleep(0.01)  # an idle connection is kept warm
            await rest.new_order(ORDER_PARAMS)
            assert request_lines.count(request_lines[0]) == 2
            await rest.aclose()
            nursery.cancel_scope.cancel()


async def test_request_logs_never_show_signatures_or_keys(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    rest = make_rest(lambda request: httpx.Response(200, json={"balances": []}))
    with trio.fail_after(5):
        await rest.account()
    lines = [r.getMessage() for r in caplog.records]
    assert any("GET" in line and "/api/v1/account" in line for line in lines)
    text = "\n".join(lines)
    assert "signature=***" in text and KEY not in text and SECRET not in text
    assert not any(len(part) == 64 for line in lines for part in line.replace("&", " ").replace("=", " ").split())


class Keepalives:
    """The lane's upkeep run quickly (refresh every 50 ms) with a client's own admission and answer
    handling; ``answers`` gets each keep-alive answer's status once the client has handled it."""

    def __init__(self, nursery: trio.Nursery, rest: DzengiRest) -> None:
        self.rest = rest
        self.sent = 0
        send, self.answers = trio.open_memory_channel[int](100)

        def may_send() -> bool:
            allowed = rest._may_send_keepalive()
            self.sent += allowed
            return allowed

        def on_answer(answer: Any, sent_ns: int, received_ns: int) -> None:
            rest._keepalive_answer(answer, sent_ns, received_ns)
            send.send_nowait(answer.status)

        assert rest.lane is not None
        rest.lane.min_idle = 1
        nursery.start_soon(functools.partial(rest.lane.maintain, b"GET /api/v1/time HTTP/1.1\r\nHost: x\r\n\r\n",
                                             refresh_s=0.05, may_send=may_send, on_answer=on_answer,
                                             now_ns=rest.clock.local_ns))


async def test_a_429_to_a_keepalive_request_pauses_the_rate_limiter() -> None:
    async def behaviour(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        while (await read_request(stream, buffer)) is not None:
            await stream.send_all(http_response(b'{"code":-1003,"msg":"Too many requests"}',
                                                status="429 Too Many Requests", extra=b"Retry-After: 7\r\n"))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url, credentials=Credentials(KEY, SECRET), limiter=rate_limiter(max_wait_s=0.0))
            upkeep = Keepalives(nursery, rest)
            assert await upkeep.answers.receive() == 429
            assert 6.0 < rest.limiter.statistics().paused_until - trio.current_time() <= 7.0
            assert rest.limiter.statistics().rate_limited == 1  # and no further keep-alive while paused
            with pytest.raises(RiskDenied) as info:
                await rest.new_order(ORDER_PARAMS)
            assert info.value.reason is DenyReason.RATE_LIMITED
            await rest.aclose()
            nursery.cancel_scope.cancel()


async def test_keepalive_answers_are_clock_samples() -> None:
    offset_ms = 45_000

    async def behaviour(stream: trio.SocketStream) -> None:
        buffer = bytearray()
        while (await read_request(stream, buffer)) is not None:
            server_ms = time.time_ns() // 1_000_000 + offset_ms
            await stream.send_all(http_response(b'{"serverTime":%d}' % server_ms))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            url = await serve(nursery, behaviour)
            rest = DzengiRest(url, credentials=Credentials(KEY, SECRET))
            upkeep = Keepalives(nursery, rest)
            for _ in range(3):
                assert await upkeep.answers.receive() == 200
            estimate = rest.clock.estimate()
            assert estimate.used >= 1 and abs(estimate.offset_ms - offset_ms) <= estimate.uncertainty_ms + 2
            assert rest.limiter.statistics().admitted == upkeep.sent >= 3  # each one charged to the rate limiter
            await rest.aclose()
            nursery.cancel_scope.cancel()
