"""Server clock offset: RTT/2 correction, outlier rejection, the recvWindow guard at its edges, and
sessions against a local testnet whose clock is 30 s ahead or behind with zero timestamp rejections."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest
import trio
from trio.testing import MockClock

from venues._testnet.faults import FaultSettings
from risk import ClockSkewSettings, DenyReason, ServerClock
from venues.dzengi.signer import Credentials, sign_request
from venues.dzengi.testnet import open_dzengi_testnet

MS = 1_000_000  # ns


class FakeNs:
    def __init__(self, ms: int = 1_000_000) -> None:
        self.ns = ms * MS

    def __call__(self) -> int:
        return self.ns

    def advance_ms(self, ms: float) -> None:
        self.ns += int(ms * MS)


def test_rtt_half_correction() -> None:
    local = FakeNs()
    clock = ServerClock(now_ns=local)
    # request left at 1000 ms, answer back at 1100 ms: the server stamped it around 1050 ms
    sample = clock.observe(1_000 * MS, 31_050, 1_100 * MS)
    assert sample is not None
    assert sample.offset_ms == 30_000 and sample.rtt_ms == 100 and sample.uncertainty_ms == 50
    assert clock.synced and clock.offset_ms == 30_000 and clock.uncertainty_ms == 50
    local.ns = 2_000 * MS
    assert clock.server_now_ms() == 32_000
    assert clock.estimate().one_way_ms == 50


def test_slow_round_trips_and_stray_server_values_are_rejected() -> None:
    clock = ServerClock(now_ns=FakeNs())
    t = 10_000
    good = [(12, 30_000), (10, 30_002), (14, 29_999), (11, 30_001)]
    for rtt, offset in good:
        clock.observe(t * MS, t + rtt / 2 + offset, (t + rtt) * MS)
        t += 1_000
    # a slow answer (the server stamped it late in a 1.9 s round trip) says +30 900
    clock.observe(t * MS, t + 1_900 + 30_000, (t + 1_900) * MS)
    t += 3_000
    # a fast answer with a stray value (a server clock hiccup) says +35 000
    clock.observe(t * MS, t + 5 + 35_000, (t + 10) * MS)
    est = clock.estimate()
    assert est.samples == 6 and est.used == 3  # the better half by uncertainty
    assert 29_999 <= est.offset_ms <= 30_002  # the median of the fast ones: the stray is ignored
    assert est.uncertainty_ms < 10


def test_impossible_samples_are_refused() -> None:
    clock = ServerClock(now_ns=FakeNs(), max_rtt_ms=2_000)
    assert clock.observe(2_000 * MS, 5_000, 1_999 * MS) is None  # answer before the request
    assert clock.observe(1_000 * MS, 5_000, 3_001 * MS) is None  # just over max_rtt
    assert clock.observe(1_000 * MS, 5_000, 3_000 * MS) is not None  # just inside
    assert clock.observe(1_000 * MS, math.nan, 1_010 * MS) is None
    assert clock.observe_date_header(1_000 * MS, "not a date", 1_010 * MS) is None
    assert clock.rejected == 4


def test_an_http_date_header_counts_with_its_one_second_resolution() -> None:
    clock = ServerClock(now_ns=FakeNs())
    send = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    sample = clock.observe_date_header(send * MS, "Thu, 01 Jan 2026 00:00:30 GMT", (send + 20) * MS)
    assert sample is not None
    # the header truncates to the second: the server's time was 30.000-30.999 s, taken as 30.5
    assert sample.offset_ms == pytest.approx(30_500 - 10)
    assert sample.uncertainty_ms == pytest.approx(10 + 500)


def test_a_clock_step_is_followed_after_three_disagreeing_samples() -> None:
    local = FakeNs()
    clock = ServerClock(now_ns=local)
    for _ in range(8):
        t = local.ns // MS
        clock.observe(t * MS, t + 5 + 1_000, (t + 10) * MS)
        local.advance_ms(1_000)
    assert clock.offset_ms == 1_000
    for i in range(3):  # the venue's clock stepped by +20 s
        t = local.ns // MS
        clock.observe(t * MS, t + 5 + 21_000, (t + 10) * MS)
        local.advance_ms(1_000)
        assert clock.offset_ms == (1_000 if i < 2 else 21_000)


def test_old_samples_age_out() -> None:
    local = FakeNs()
    clock = ServerClock(now_ns=local, max_sample_age_s=60)
    clock.observe(local.ns, local.ns // MS + 5 + 500, local.ns + 10 * MS)
    local.advance_ms(61_000)
    t = local.ns // MS
    clock.observe(t * MS, t + 50 + 700, (t + 100) * MS)  # slower, but the only recent one
    assert clock.estimate().samples == 1 and clock.offset_ms == 700


# ------------------------------------------------------------------------ the window guard


def synced_clock(offset_ms: int = 30_000, rtt_ms: int = 100, margin_ms: int = 250) -> tuple[ServerClock, FakeNs]:
    local = FakeNs()
    clock = ServerClock(now_ns=local, safety_margin_ms=margin_ms)
    t = local.ns // MS
    clock.observe(t * MS, t + rtt_ms // 2 + offset_ms, (t + rtt_ms) * MS)
    local.advance_ms(rtt_ms)
    return clock, local


def test_a_command_that_would_arrive_after_its_window_is_dropped_with_its_own_reason() -> None:
    clock, local = synced_clock()  # uncertainty 50 ms, one-way 50 ms, margin 250 ms
    stamped = clock.server_now_ms()
    assert clock.check_window(stamped, 5_000) is None
    # arrival = now + 50 ms one way; 50 + 250 ms of doubt: it may wait 5000 - 350 = 4650 ms
    local.advance_ms(4_650)
    assert clock.check_window(stamped, 5_000) is None  # just inside
    local.advance_ms(1)
    denial = clock.check_window(stamped, 5_000)  # just outside
    assert denial is not None and denial.reason is DenyReason.STALE_TIMESTAMP
    assert "after its timestamp" in denial.detail and "window 5000 ms" in denial.detail
    # a longer expected send delay (a queue ahead of it) drops it sooner
    local.advance_ms(-4_651 + 4_000)
    assert clock.check_window(stamped, 5_000, expected_send_delay_ms=700) is None
    assert clock.check_window(stamped, 5_000, expected_send_delay_ms=701) is not None


def test_a_timestamp_ahead_of_the_venue_is_dropped_too() -> None:
    clock, _ = synced_clock()
    now = clock.server_now_ms()
    # worst case server time at arrival: now + 50 - 300 → the stamp must be < that + 1000
    assert clock.check_window(now + 749, 5_000) is None
    denial = clock.check_window(now + 750, 5_000)
    assert denial is not None and denial.reason is DenyReason.STALE_TIMESTAMP
    assert "ahead of the venue" in denial.detail
    # a symmetric nonce window (±10 s)
    assert clock.check_window(now + 9_000, 10_000, max_ahead_ms=10_000) is None
    assert clock.check_window(now + 9_751, 10_000, max_ahead_ms=10_000) is not None


def test_an_unsynchronised_clock_drops_signed_commands_unless_told_otherwise() -> None:
    clock = ServerClock(now_ns=FakeNs())
    denial = clock.check_window(clock.server_now_ms(), 5_000)
    assert denial is not None and "not synchronised" in denial.detail
    assert clock.check_window(clock.server_now_ms(), 5_000, require_sync=False) is None
    assert not clock.synced and clock.uncertainty_ms == math.inf


def test_the_configuration_builds_the_estimator() -> None:
    clock = ClockSkewSettings(safety_margin_ms=100, max_samples=4, max_rtt_ms=800).build_clock(name="venue")
    assert clock.safety_margin_ms == 100 and clock.max_rtt_ms == 800 and clock.name == "venue"
    now = clock.local_ns()
    for i in range(6):
        clock.observe(now, now // MS + 10, now + 20 * MS)
    assert clock.estimate().samples == 4


async def test_sync_from_a_time_endpoint(autojump_clock: MockClock) -> None:
    clock = ServerClock(now_ns=lambda: int(trio.current_time() * 1e9))

    async def fetch() -> int:  # 40 ms there, 60 ms back: the asymmetry is within the uncertainty
        await trio.sleep(0.04)
        stamped = int(trio.current_time() * 1000) - 30_000
        await trio.sleep(0.06)
        return stamped

    est = await clock.sync(fetch, rounds=4)
    assert est.used == 2 and est.offset_ms == pytest.approx(-30_010)
    assert abs(est.offset_ms - -30_000) <= est.uncertainty_ms


# ---------------------------------------------------------------------- against the testnet

ACCOUNTS = """
[[accounts]]
name = "alice"
api_key = "alice-api-key-0001"
secret = "alice-secret-0001"
balances = { USD = "1000000" }
"""
CREDS = Credentials("alice-api-key-0001", "alice-secret-0001")
EPOCH_MS = 1_767_225_600_000


def _virtual_ms() -> int:
    return EPOCH_MS + int(trio.current_time() * 1000)


def _local_ns() -> int:
    return EPOCH_MS * MS + int(trio.current_time() * 1e9)


class SigningClient:
    """A gateway's REST client reduced to what matters here: server-clock stamps and the guard."""

    def __init__(self, http: httpx.AsyncClient, clock: ServerClock, *, use_estimate: bool = True) -> None:
        self.http = http
        self.clock = clock
        self.use_estimate = use_estimate
        self.sent = 0
        self.codes: dict[int, int] = {}

    async def sync(self) -> None:
        for _ in range(5):
            sent = self.clock.local_ns()
            answer = await self.http.get("/api/v2/time")
            self.clock.observe(sent, answer.json()["serverTime"], self.clock.local_ns())

    def stamp(self) -> int:
        return self.clock.server_now_ms() if self.use_estimate else self.clock.local_ns() // MS

    async def send_signed(self, method: str, path: str, params: list[tuple[str, object]], stamp: int) -> httpx.Response:
        signed = sign_request(CREDS, params, stamp, 5000)
        self.sent += 1
        answer = await self.http.request(method, f"{path}?{signed.query}", headers=signed.headers)
        code = 0 if answer.status_code == 200 else int(answer.json()["code"])
        self.codes[code] = self.codes.get(code, 0) + 1
        return answer


@pytest.mark.parametrize("offset_ms", [30_000, -30_000])
async def test_a_session_against_a_skewed_testnet_gets_zero_timestamp_rejections(
        tmp_path: Path, mock_clock: MockClock, offset_ms: int) -> None:
    mock_clock.autojump_threshold = 0.002
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)
    faults = FaultSettings(clock_offset_ms=offset_ms, latency_ms=150)  # 150 ms before each answer
    async with open_dzengi_testnet(tmp_path / "accounts.toml", market=False, clock_ms=_virtual_ms,
                                   faults=faults) as testnet:
        with trio.fail_after(3600):
            async with httpx.AsyncClient(base_url=testnet.url, timeout=None) as http:
                # without the estimate every signed request is refused: the test can fail
                naive = SigningClient(http, ServerClock(now_ns=_local_ns), use_estimate=False)
                answer = await naive.send_signed("GET", "/api/v2/account", [], naive.stamp())
                assert answer.status_code == 400 and naive.codes == {-1021: 1}

                client = SigningClient(http, ServerClock(now_ns=_local_ns))
                await client.sync()
                est = client.clock.estimate()
                # the server stamps after its 150 ms delay: RTT/2 puts it 75 ms off, within the doubt
                # (plus the server's whole-millisecond resolution)
                assert abs(est.offset_ms - offset_ms) <= est.uncertainty_ms + 1
                for n in range(120):  # two virtual minutes: orders, account reads, a resync each 30 s
                    if n % 30 == 29:
                        await client.sync()
                    stamp = client.stamp()
                    assert client.clock.check_window(stamp, 5000) is None
                    if n % 3:
                        params: list[tuple[str, object]] = [
                            ("symbol", "BTC/USD"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.01"),
                            ("price", f"{1000 + n}")]
                        await client.send_signed("POST", "/api/v2/order", params, stamp)
                    else:
                        await client.send_signed("GET", "/api/v2/account", [], stamp)
                    await trio.sleep(1)
    assert client.codes == {0: 120}


async def test_a_command_held_past_its_window_is_dropped_before_sending(
        tmp_path: Path, mock_clock: MockClock) -> None:
    mock_clock.autojump_threshold = 0.002
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)
    async with open_dzengi_testnet(tmp_path / "accounts.toml", market=False, clock_ms=_virtual_ms,
                                   faults=FaultSettings(clock_offset_ms=-30_000)) as testnet:
        with trio.fail_after(3600):
            async with httpx.AsyncClient(base_url=testnet.url, timeout=None) as http:
                client = SigningClient(http, ServerClock(now_ns=_local_ns, safety_margin_ms=250))
                await client.sync()  # zero RTT in virtual time: uncertainty 0
                params: list[tuple[str, object]] = [("symbol", "BTC/USD")]

                held_inside = client.stamp()
                await trio.sleep(4.75)  # e.g. queued behind a rate limit: 4750 + 250 margin = 5000
                assert client.clock.check_window(held_inside, 5000) is None
                answer = await client.send_signed("GET", "/api/v2/openOrders", params, held_inside)
                assert answer.status_code == 200

                held_outside = client.stamp()
                await trio.sleep(4.751)
                denial = client.clock.check_window(held_outside, 5000)
                assert denial is not None and denial.reason is DenyReason.STALE_TIMESTAMP
                assert client.sent == 1  # dropped here, not sent to be rejected

                # the guard has a margin: the venue would still take it now, but not 250 ms later
                await trio.sleep(0.25)
                late = await client.send_signed("GET", "/api/v2/openOrders", params, held_outside)
                assert late.status_code == 400 and client.codes[-1021] == 1


def test_forget_rebuilds_the_estimate_from_new_samples_only() -> None:
    from risk import ServerClock

    clock = ServerClock(name="t")
    for i in range(5):
        clock.observe(i * 1_000_000_000, i * 1000 + 0.5, i * 1_000_000_000 + 1_000_000)
    assert abs(clock.offset_ms) < 5
    clock.forget()
    assert not clock.synced
    # one sample after forget() is the whole estimate, however far it is from the old one
    clock.observe(10_000_000_000, 10_000 + 120_000.5, 10_001_000_000)
    assert abs(clock.offset_ms - 120_000) < 5
