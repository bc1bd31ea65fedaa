"""An adaptive REST poller: for what a venue has no private stream for (fills, order states, account).

:class:`AdaptivePoller` calls ``poll_once(account)`` in a loop. After each round it waits the
interval ``interval_s()`` gives *now* (a venue makes it fast while orders are open or something
changed recently, slow when idle, longer when the request budget runs low), or less if the
:class:`Wakeup` is set (an order was sent, a fill is expected), but never less than
``min_spacing_s`` between two rounds. The account (balances, positions) is polled every
``account_every_s``, or at the next round when ``account_due()`` says so.

Failures never end the loop: a :class:`~engine.RateLimited` waits the venue's hint (at least
``min_spacing_s``), a :class:`~engine.RiskDenied` (our own budget refused the request: nothing was
sent) waits ``min_spacing_s``, any other venue error or malformed answer is logged and the next
round comes on schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

from engine import MalformedMessage, RateLimited, RiskDenied, VenueError

__all__ = ["AdaptivePoller", "Wakeup"]


class Wakeup:
    """A wake-up call that re-arms itself: :meth:`set` from anywhere, :meth:`wait` in the poller."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        """Wake the waiting poller now (or its next wait, if it is busy polling)."""
        self._event.set()

    def is_set(self) -> bool:
        """True if a wake-up is pending."""
        return self._event.is_set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for a wake-up at most ``timeout_s``; True if woken. Either way it is re-armed."""
        with trio.move_on_after(timeout_s):
            await self._event.wait()
        woken = self._event.is_set()
        self._event = trio.Event()
        return woken


class AdaptivePoller:
    """Runs ``poll_once`` forever on an adaptive schedule (see the module doc)."""

    def __init__(
        self,
        poll_once: Callable[[bool], Awaitable[None]],
        *,
        interval_s: Callable[[], float],
        min_spacing_s: float,
        account_every_s: float,
        account_due: Callable[[], bool] = lambda: False,
        wakeup: Wakeup | None = None,
        name: str = "venue",
        logger: logging.Logger | None = None,
    ) -> None:
        self._poll_once = poll_once
        self._interval_s = interval_s
        self.min_spacing_s = min_spacing_s
        self.account_every_s = account_every_s
        self._account_due = account_due
        self.wakeup = wakeup if wakeup is not None else Wakeup()
        "Set it to poll early (an order went out, something is expected)."
        self.name = name
        self.log = logger or logging.getLogger(f"venues.{name}")
        self.rounds = 0
        "Rounds started (failed ones included)."

    async def run(self) -> NoReturn:
        """Poll forever; cancel the surrounding scope to stop."""
        last_account = trio.current_time()
        while True:
            started = trio.current_time()
            account = self._account_due() or started - last_account >= self.account_every_s
            self.rounds += 1
            if await self._round(account):
                if account:
                    last_account = started
            await self.wakeup.wait(self._interval_s())
            # a wake-up brings the next round early, but never more often than min_spacing_s
            spacing = started + self.min_spacing_s - trio.current_time()
            if spacing > 0:
                await trio.sleep(spacing)

    async def _round(self, account: bool) -> bool:
        """One ``poll_once``; True if it completed. Failures are waited out or logged, never raised."""
        try:
            await self._poll_once(account)
            return True
        except RateLimited as e:  # the rate limiter is paused for the venue's hint meanwhile
            await trio.sleep(max(e.retry_after_s, self.min_spacing_s))
        except RiskDenied as e:  # our own budget refused a poll: nothing was sent
            self.log.info("%s: poll deferred: %s", self.name, e)
            await trio.sleep(self.min_spacing_s)
        except (VenueError, MalformedMessage) as e:
            self.log.warning("%s: poll failed: %s", self.name, e)
        return False
