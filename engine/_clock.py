"""Clocks and timers: one interface for live time and simulated time.

Strategies never read the wall clock; they ask their context, which asks the engine's clock. In
a backtest the :class:`SimClock` is advanced by the replay loop to each event's receive time; live,
:class:`LiveClock` reads ``time.time_ns()``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "LiveClock", "SimClock", "TimerQueue"]


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in ns since the epoch."""


class LiveClock:
    """Wall-clock time (UTC ns since the epoch)."""

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """Simulated time, set by the replay loop; never goes backwards."""

    __slots__ = ("ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self.ns = start_ns

    def now_ns(self) -> int:
        return self.ns

    def advance_to(self, ns: int) -> None:
        if ns > self.ns:
            self.ns = ns


class TimerQueue:
    """Named one-shot and repeating timers ordered by due time.

    ``next_due`` is the earliest due time (or a huge number when empty) so a hot loop can test
    ``if now >= timers.next_due`` with a single integer compare.
    """

    NEVER = 2**63 - 1

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, str]] = []
        self._timers: dict[tuple[str, str], tuple[int, int, Callable[[str, int], None]]] = {}
        self._seq = itertools.count()
        self.next_due = self.NEVER

    def set(self, owner: str, name: str, due_ns: int, interval_ns: int, callback: Callable[[str, int], None]) -> None:
        """(Re)arm timer ``name`` of ``owner`` at ``due_ns``, repeating every ``interval_ns`` if > 0."""
        seq = next(self._seq)
        self._timers[(owner, name)] = (seq, interval_ns, callback)
        heapq.heappush(self._heap, (due_ns, seq, owner, name))
        self.next_due = self._heap[0][0]

    def cancel(self, owner: str, name: str) -> bool:
        return self._timers.pop((owner, name), None) is not None

    def cancel_owner(self, owner: str) -> None:
        for key in [k for k in self._timers if k[0] == owner]:
            del self._timers[key]

    def fire_due(self, now_ns: int) -> int:
        """Call every timer due at or before ``now_ns`` in due order; returns how many fired."""
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= now_ns:
            due, seq, owner, name = heapq.heappop(heap)
            entry = self._timers.get((owner, name))
            if entry is None or entry[0] != seq:
                continue  # canceled or re-armed
            _, interval, callback = entry
            if interval > 0:
                nseq = next(self._seq)
                self._timers[(owner, name)] = (nseq, interval, callback)
                heapq.heappush(heap, (due + interval, nseq, owner, name))
            else:
                del self._timers[(owner, name)]
            callback(name, due)
            fired += 1
        self.next_due = heap[0][0] if heap else self.NEVER
        return fired

    def __len__(self) -> int:
        return len(self._timers)
