"""The two event lanes between gateways and the engine, with explicit back-pressure policies.

* **execution lane** (order reports, fills, positions, balances): FIFO, unbounded, never dropped,
  always delivered before pending market data.
* **market lane** (trades, quotes, books, bars, venue status): FIFO while the consumer keeps up.
  Once more than ``conflate_above`` events wait, *conflatable* events (quotes, full book
  snapshots, mark prices, and trades only if ``conflate_trades``) replace the one still waiting
  for the same (kind, instrument) instead of queueing behind it: a slow strategy sees the latest
  state rather than an ever older backlog. Book deltas and bars are never conflated (a delta
  dropped would corrupt the book; a bar is a summary already).

Senders are synchronous (``send_market`` / ``send_execution`` never block: a gateway's reader
must not stall on a slow strategy); the engine's pump awaits :meth:`EventLanes.receive`.
:meth:`EventLanes.statistics` returns a frozen snapshot of the counters.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs
import trio

from ._events import BookSnapshot, MarkPrice, Quote, Trade

__all__ = ["EventLanes", "LaneStatistics"]


@attrs.frozen
class LaneStatistics:
    market_received: int
    market_delivered: int
    market_conflated: int
    "Market events replaced by a newer one of the same kind and instrument."
    market_waiting: int
    market_max_waiting: int
    execution_received: int
    execution_delivered: int
    execution_waiting: int
    conflate_above: int
    conflate_trades: bool


class _Slot:
    """A queued market event that can be replaced in place while it waits."""

    __slots__ = ("event", "key")

    def __init__(self, event: Any, key: tuple[type, str] | None) -> None:
        self.event = event
        self.key = key


class EventLanes:
    """Implements :class:`~engine.EventSink` for gateways and feeds the engine's pump."""

    def __init__(self, *, conflate_above: int = 1_000, conflate_trades: bool = False) -> None:
        if conflate_above < 1:
            raise ValueError("conflate_above must be at least 1")
        self.conflate_above = conflate_above
        self.conflate_trades = conflate_trades
        self._market: deque[_Slot] = deque()
        self._pending: dict[tuple[type, str], _Slot] = {}
        self._execution: deque[Any] = deque()
        self._wakeup = trio.Event()
        self._closed = False
        self._conflatable: tuple[type, ...] = (Quote, BookSnapshot, MarkPrice) + ((Trade,) if conflate_trades else ())
        self._counts = {"mr": 0, "md": 0, "mc": 0, "mmax": 0, "er": 0, "ed": 0}

    # -- EventSink -------------------------------------------------------------------------
    def send_market(self, event: Any) -> None:
        counts = self._counts
        counts["mr"] += 1
        key: tuple[type, str] | None = None
        if isinstance(event, self._conflatable):
            conflatable: Any = event  # a Quote, BookSnapshot, MarkPrice or Trade
            key = (type(event), conflatable.instrument.key)
            if len(self._market) >= self.conflate_above:
                slot = self._pending.get(key)
                if slot is not None:
                    slot.event = event  # replaced in place, keeps its queue position
                    counts["mc"] += 1
                    return
        slot = _Slot(event, key)
        self._market.append(slot)
        if key is not None:
            self._pending[key] = slot
        if len(self._market) > counts["mmax"]:
            counts["mmax"] = len(self._market)
        self._wakeup.set()

    def send_execution(self, event: Any) -> None:
        self._counts["er"] += 1
        self._execution.append(event)
        self._wakeup.set()

    # -- consumer --------------------------------------------------------------------------
    def receive_nowait(self) -> Any | None:
        """The next event (execution first), or None if nothing waits."""
        if self._execution:
            self._counts["ed"] += 1
            return self._execution.popleft()
        if self._market:
            slot = self._market.popleft()
            if slot.key is not None and self._pending.get(slot.key) is slot:
                del self._pending[slot.key]
            self._counts["md"] += 1
            return slot.event
        return None

    async def receive(self) -> Any:
        """Wait for the next event; raises :class:`trio.EndOfChannel` once closed and drained."""
        while True:
            event = self.receive_nowait()
            if event is not None:
                return event
            if self._closed:
                raise trio.EndOfChannel
            self._wakeup = trio.Event()
            await self._wakeup.wait()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def statistics(self) -> LaneStatistics:
        c = self._counts
        return LaneStatistics(
            market_received=c["mr"], market_delivered=c["md"], market_conflated=c["mc"],
            market_waiting=len(self._market), market_max_waiting=c["mmax"],
            execution_received=c["er"], execution_delivered=c["ed"], execution_waiting=len(self._execution),
            conflate_above=self.conflate_above, conflate_trades=self.conflate_trades,
        )
