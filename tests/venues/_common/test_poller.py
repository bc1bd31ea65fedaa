"""The kit's adaptive poller on trio's MockClock: schedule, wake-ups, account rounds, failures."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from engine import MalformedMessage, RateLimited, RiskDenied, VenueError
from engine import DenyReason
from venues._common.poller import AdaptivePoller, Wakeup


class Venue:
    """Records when each round ran (and whether it included the account); may fail on cue."""

    def __init__(self) -> None:
        self.rounds: list[tuple[float, bool]] = []
        self.failures: list[BaseException] = []
        self.account_due = False

    async def poll_once(self, account: bool) -> None:
        self.rounds.append((trio.current_time(), account))
        if account:
            self.account_due = False
        if self.failures:
            raise self.failures.pop(0)


def poller(venue: Venue, interval: list[float], **options: object) -> AdaptivePoller:
    return AdaptivePoller(venue.poll_once, interval_s=lambda: interval[0], min_spacing_s=1.0,
                          account_every_s=30.0, account_due=lambda: venue.account_due, **options)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def _run_until(p: AdaptivePoller, t: float) -> None:
    with trio.move_on_at(t):
        await p.run()


async def test_the_interval_is_read_after_every_round(clock: trio.testing.MockClock) -> None:
    venue, interval = Venue(), [10.0]
    p = poller(venue, interval)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_until, p, start + 25)
        await trio.sleep(15)
        interval[0] = 2.0  # became busy: the round at t=20 is followed by fast rounds
    times = [round(t - start) for t, _ in venue.rounds]
    assert times == [0, 10, 20, 22, 24]


async def test_a_wakeup_polls_early_but_never_closer_than_the_spacing(clock: trio.testing.MockClock) -> None:
    venue = Venue()
    p = poller(venue, [10.0])
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_until, p, start + 12)
        await trio.sleep(0.25)
        p.wakeup.set()  # 0.25 s after the first round: the next comes at 1.0 (the spacing)
        await trio.sleep(3)
        p.wakeup.set()  # at 3.25: at once
    times = [round(t - start, 2) for t, _ in venue.rounds]
    assert times == [0, 1.0, 3.25]
    assert not p.wakeup.is_set()


async def test_the_account_every_so_often_or_when_due(clock: trio.testing.MockClock) -> None:
    venue = Venue()
    p = poller(venue, [10.0])
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run_until, p, start + 45)
        await trio.sleep(5)
        venue.account_due = True
    accounts = [round(t - start) for t, account in venue.rounds if account]
    assert accounts == [10, 40]  # due at 5 → the round at 10; then 30 s after it


async def test_failures_never_end_the_loop_and_a_429_waits_the_venues_hint(clock: trio.testing.MockClock) -> None:
    venue = Venue()
    venue.failures = [RateLimited("429", venue="v", retry_after_s=7.0),
                      RiskDenied(DenyReason.RATE_LIMITED, "our budget"),
                      VenueError("HTTP 502", venue="v"),
                      MalformedMessage("bad answer", venue="v")]
    p = poller(venue, [2.0])
    start = trio.current_time()
    await _run_until(p, start + 17)
    times = [round(t - start) for t, _ in venue.rounds]
    # 429 at 0: 7 s hint + 2 s interval; denied at 9: 1 s + 2 s; 502 at 12 and bad at 14: on schedule
    assert times == [0, 9, 12, 14, 16]
    assert p.rounds == 5


async def test_a_wakeup_set_while_polling_is_not_lost(clock: trio.testing.MockClock) -> None:
    wakeup = Wakeup()
    wakeup.set()
    assert await wakeup.wait(100.0) is True and not wakeup.is_set()
    assert await wakeup.wait(1.0) is False
