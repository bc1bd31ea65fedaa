"""The one order tracker: what a gateway knows about its orders, and which venue evidence is news.

Sans-I/O: no trio, no network, no clock of its own. A gateway feeds it every piece of venue
evidence it gets — a command's answer, a stream update, a poll row, a query result, a 404 — and
the tracker keeps the records straight and hands what is new to the sink (``send_execution``):

* **Records** (:class:`TrackedOrder`): client id ↔ venue id, what was sent (side, venue type,
  quantity and price after the venue's rounding, the request's timestamp), the last status and
  cumulative fill, the key of the last report emitted, the unresolved flag, and the quantity an
  answer reported in fills without venue trade ids (*provisional*: the real trades, when polled,
  are counted against it instead of being emitted again).
* **Fills**: de-duplicated by ``(symbol, trade id)`` with a bounded memory; a fill whose order the
  tracker cannot name yet is *held back* while something on its symbol is in flight or
  unresolved, and released when the order is adopted or the symbol settles (it is then someone
  else's, and goes out as it is). So every venue fill is emitted exactly once, whatever the order's
  state: pending cancel, after a refused cancel, after UNKNOWN, from the stream and a poll both.
* **Reports**: emitted only when they say something new (status or cumulative fill changed). A
  venue answer that contradicts our state moves the record: a ``FILLED`` we did not expect is
  recorded and emitted; an order the venue no longer has (404, gone from the open list) is settled
  with :meth:`OrderTracker.gone`.
* **Unresolved orders** (the create answer was lost): counted per symbol, found by client id where
  the venue has one, otherwise by **matching** (:func:`match_candidate`: same side, type,
  quantity and price, created inside the request's window → the earliest candidate no other
  order claims) and adopted, never resent.
* **Account**: :class:`AccountTracker` emits a balance or position only when it changed, and a zero
  position for a symbol that disappeared from the venue's list.

Settled orders are forgotten: terminal ones are kept for ``retired_kept`` more orders (late fills
and reports still find their client id), then dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs

from engine import BalanceUpdate, Fill, Instrument, OrderReport, OrderStatus, PositionUpdate, Side

__all__ = ["AccountTracker", "Candidate", "ExecutionSink", "OrderTracker", "TrackedOrder", "match_candidate",
           "resolve_by_matching"]

_ZERO = Decimal(0)


class ExecutionSink(Protocol):
    """Where the tracker puts what is new (an :class:`engine.EventSink` is one)."""

    def send_execution(self, event: Any) -> None:
        """OrderReport, Fill, BalanceUpdate or PositionUpdate; never blocks."""


@attrs.define(slots=True, eq=False)
class TrackedOrder:
    """What the gateway knows about one order of ours (or one it found at the venue)."""

    client_order_id: str
    instrument: Instrument
    side: Side | None = None
    "As sent (None for an order found at the venue)."
    venue_type: str = ""
    "The venue's name of the order type, as sent."
    qty: Decimal = _ZERO
    "Quantity as sent (after the venue's rounding); 0 if not known."
    price: Decimal | None = None
    "Limit or stop price as sent (None for MARKET or not known)."
    sent_ms: int = 0
    "The request's timestamp (venue clock): the anchor for matching an unresolved order."
    venue_order_id: str = ""
    status: OrderStatus = OrderStatus.SUBMITTED
    filled: Decimal = _ZERO
    "Cumulative filled quantity as the venue last reported it."
    last_key: tuple[OrderStatus, Decimal | None] | None = None
    "(status, filled) of the last report emitted or returned: a report with the same key is not news."
    unresolved: bool = False
    "The create's outcome is unknown and the venue id is not known yet."
    provisional_qty: Decimal = _ZERO
    "Quantity an answer reported in fills that carried no venue trade id."
    fills: dict[str, Decimal] = attrs.Factory(dict)
    "Fills of this order seen (trade id → quantity)."
    retired: bool = False
    "Queued to be forgotten once enough later orders ended."

    @property
    def settled(self) -> bool:
        """Terminal, and every fill the venue reported seen: nothing more can come."""
        return self.status.is_terminal and sum(self.fills.values(), _ZERO) >= self.filled


@attrs.frozen(slots=True)
class Candidate:
    """A venue order that might be the one whose create answer was lost."""

    venue_order_id: str
    side: Side | None
    venue_type: str
    qty: Decimal
    price: Decimal | None
    created_ms: int
    "When the venue created it (venue clock)."


def match_candidate(tracked: TrackedOrder, candidate: Candidate, *, window_ms: int, slack_ms: int,
                    market_type: str = "MARKET") -> bool:
    """True if ``candidate`` looks like what ``tracked`` sent: side, type and quantity equal, the
    price too (unless a market order or either side does not say), and created inside
    ``[sent - slack, sent + window + slack]``."""
    if candidate.side is not tracked.side or candidate.venue_type != tracked.venue_type:
        return False
    if candidate.qty != tracked.qty:
        return False
    if (tracked.price is not None and candidate.price is not None and tracked.venue_type != market_type
            and candidate.price != tracked.price):
        return False
    return tracked.sent_ms - slack_ms <= candidate.created_ms <= tracked.sent_ms + window_ms + slack_ms


CandidateSource = Callable[[TrackedOrder], Awaitable[Sequence[Candidate]]]
"An async query that lists venue orders which might be ``tracked`` (the gateway's I/O)."


async def resolve_by_matching(tracker: OrderTracker, tracked: TrackedOrder, sources: Sequence[CandidateSource],
                              matches: Callable[[TrackedOrder, Candidate], bool]) -> str:
    """Find the venue order of an unresolved ``tracked`` and adopt it; its venue id, or ``""``.

    ``sources`` are asked in turn until one yields a matching candidate; of those, the earliest
    created one no other order claims is adopted (identical orders sent close together pair up in
    time order). Wait until the venue would refuse the request (its window has passed) before
    calling this: what the sources show then is final.
    """
    for source in sources:
        if tracked.venue_order_id:  # found meanwhile (e.g. by a poll)
            return tracked.venue_order_id
        found = [c for c in await source(tracked) if matches(tracked, c)]
        if tracked.venue_order_id:
            return tracked.venue_order_id
        unclaimed = sorted((c.created_ms, c.venue_order_id) for c in found
                           if tracker.by_venue_id(c.venue_order_id) is None)
        if unclaimed:
            venue_id = unclaimed[0][1]
            tracker.adopt(tracked, venue_id)
            return venue_id
    return tracked.venue_order_id


class OrderTracker:
    """The records of one gateway's orders and fills; see the module doc.

    ``on_activity(symbol)`` is called when something happened on a symbol (e.g. to poll it fast),
    ``on_fill()`` after a fill went out (e.g. to poll balances soon).
    """

    def __init__(self, sink: ExecutionSink | None = None, *, fills_kept: int = 200_000, retired_kept: int = 20_000,
                 on_activity: Callable[[str], None] | None = None, on_fill: Callable[[], None] | None = None) -> None:
        self.sink: ExecutionSink = sink if sink is not None else _NullExecutionSink()
        self._fills_kept = fills_kept
        self._retired_kept = retired_kept
        self._on_activity = on_activity or _ignore_symbol
        self._on_fill = on_fill or _ignore
        self._by_client: dict[str, TrackedOrder] = {}
        self._by_venue: dict[str, TrackedOrder] = {}
        self.open: dict[str, TrackedOrder] = {}
        "Orders with a venue id that are not terminal (what a poller watches), by venue id."
        self._retired: deque[TrackedOrder] = deque()
        self._unresolved: list[TrackedOrder] = []
        self._in_flight: dict[str, int] = {}
        self._held: dict[str, dict[str, Fill]] = {}
        self._seen: set[tuple[str, str]] = set()
        self._seen_order: deque[tuple[str, str]] = deque()

    # -- lookups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_client)

    def __iter__(self) -> Iterator[TrackedOrder]:
        return iter(list(self._by_client.values()))

    def get(self, client_order_id: str) -> TrackedOrder | None:
        """The record of our order ``client_order_id``, if tracked."""
        return self._by_client.get(client_order_id)

    def by_venue_id(self, venue_order_id: str) -> TrackedOrder | None:
        """The record holding venue id ``venue_order_id``, if any."""
        return self._by_venue.get(venue_order_id)

    def find(self, client_order_id: str, venue_order_id: str) -> TrackedOrder | None:
        """The record named by either id."""
        return self._by_client.get(client_order_id) or self._by_venue.get(venue_order_id)

    def client_id_of(self, venue_order_id: str) -> str:
        """Our client id of a venue order (``""`` if it is not ours or not known)."""
        tracked = self._by_venue.get(venue_order_id)
        return tracked.client_order_id if tracked is not None else ""

    @property
    def unresolved(self) -> Sequence[TrackedOrder]:
        """Orders whose create outcome is unknown and whose venue id is not known yet."""
        return tuple(self._unresolved)

    def unsettled(self) -> list[TrackedOrder]:
        """Tracked orders whose final state or fills may still come."""
        return [t for t in self._by_client.values() if not t.settled]

    # -- records -------------------------------------------------------------------------------
    def track(self, client_order_id: str, instrument: Instrument, *, side: Side | None = None, venue_type: str = "",
              qty: Decimal = _ZERO, price: Decimal | None = None, sent_ms: int = 0,
              venue_order_id: str = "") -> TrackedOrder:
        """The record of our order (created, or updated with what was sent)."""
        tracked = self._by_client.get(client_order_id)
        if tracked is None:
            tracked = self._by_client[client_order_id] = TrackedOrder(client_order_id, instrument)
        if side is not None:
            tracked.side, tracked.venue_type, tracked.qty, tracked.price = side, venue_type, qty, price
            tracked.sent_ms = sent_ms
        if venue_order_id and not tracked.venue_order_id:
            self._map_venue_id(tracked, venue_order_id)
        return tracked

    def track_found(self, report: OrderReport) -> TrackedOrder:
        """Track an order found at the venue that was not placed through this gateway (or before a
        restart): by venue id, and by client id when the venue echoes one nobody else holds."""
        tracked = TrackedOrder(report.client_order_id, report.instrument)
        if report.client_order_id and report.client_order_id not in self._by_client:
            self._by_client[report.client_order_id] = tracked
        self._map_venue_id(tracked, report.venue_order_id)
        self.set_status(tracked, report.status)
        return tracked

    def forget(self, tracked: TrackedOrder) -> None:
        """Drop the record (e.g. a definite rejection: the venue has nothing to report on it)."""
        if self._by_client.get(tracked.client_order_id) is tracked:
            del self._by_client[tracked.client_order_id]
        if tracked.venue_order_id:
            if self._by_venue.get(tracked.venue_order_id) is tracked:
                del self._by_venue[tracked.venue_order_id]
            self.open.pop(tracked.venue_order_id, None)
        if tracked.unresolved:
            tracked.unresolved = False
            self._unresolved.remove(tracked)

    def set_status(self, tracked: TrackedOrder, status: OrderStatus) -> None:
        """Record a status; keeps the open-order index and retires old terminal orders."""
        tracked.status = status
        venue_id = tracked.venue_order_id
        if status.is_terminal:
            if venue_id:
                self.open.pop(venue_id, None)
            if not tracked.retired:
                self._retire(tracked)
        elif venue_id and self._by_venue.get(venue_id) is tracked:
            self.open[venue_id] = tracked

    def _retire(self, tracked: TrackedOrder) -> None:
        tracked.retired = True
        self._retired.append(tracked)
        while len(self._retired) > self._retired_kept:
            old = self._retired.popleft()
            if old.status.is_terminal:
                self.forget(old)

    def _map_venue_id(self, tracked: TrackedOrder, venue_order_id: str) -> None:
        tracked.venue_order_id = venue_order_id
        self._by_venue[venue_order_id] = tracked

    # -- in flight and unresolved -------------------------------------------------------------
    def begin_send(self, symbol: str) -> None:
        """A create on ``symbol`` is about to go out: fills there may be its, not yet nameable."""
        self._in_flight[symbol] = self._in_flight.get(symbol, 0) + 1

    def end_send(self, symbol: str, *, settle: bool = True) -> None:
        """The create's answer came (or it failed); ``settle=False`` when the caller adopts or marks
        the order unresolved next (which releases or keeps the held fills)."""
        count = self._in_flight.get(symbol, 0) - 1
        if count > 0:
            self._in_flight[symbol] = count
        else:
            self._in_flight.pop(symbol, None)
        if settle:
            self.flush_if_settled(symbol)

    def mark_unresolved(self, tracked: TrackedOrder) -> None:
        """The create's outcome is unknown: UNKNOWN until found by query."""
        self.set_status(tracked, OrderStatus.UNKNOWN)
        if not tracked.unresolved and not tracked.venue_order_id:
            tracked.unresolved = True
            self._unresolved.append(tracked)
        self._on_activity(tracked.instrument.symbol)

    def not_found(self, tracked: TrackedOrder) -> None:
        """An unresolved order the venue definitely does not have: it never executed (REJECTED)."""
        if tracked.unresolved:
            tracked.unresolved = False
            self._unresolved.remove(tracked)
        self.set_status(tracked, OrderStatus.REJECTED)
        self.flush_if_settled(tracked.instrument.symbol)

    def adopt(self, tracked: TrackedOrder, venue_order_id: str) -> None:
        """Map ``venue_order_id`` to our order and release the fills held back for it."""
        if tracked.venue_order_id != venue_order_id:
            if tracked.venue_order_id and self._by_venue.get(tracked.venue_order_id) is tracked:
                del self._by_venue[tracked.venue_order_id]
                self.open.pop(tracked.venue_order_id, None)
            self._map_venue_id(tracked, venue_order_id)
        self.set_status(tracked, tracked.status)
        if tracked.unresolved:
            tracked.unresolved = False
            self._unresolved.remove(tracked)
        held = self._held.pop(venue_order_id, None)
        if held:
            for fill in held.values():
                self.consider_fill(attrs.evolve(fill, client_order_id=tracked.client_order_id))
        self.flush_if_settled(tracked.instrument.symbol)

    def symbol_unsettled(self, symbol: str) -> bool:
        """True while a fill on ``symbol`` might belong to an order we cannot name yet."""
        return self._in_flight.get(symbol, 0) > 0 or any(t.instrument.symbol == symbol for t in self._unresolved)

    def flush_if_settled(self, symbol: str) -> None:
        """Once nothing on ``symbol`` is in flight or unresolved, held fills are someone else's: emit them."""
        if self._held and not self.symbol_unsettled(symbol):
            for venue_id in [v for v, fills in self._held.items()
                             if any(f.instrument.symbol == symbol for f in fills.values())]:
                for fill in self._held.pop(venue_id).values():
                    self.consider_fill(fill)

    @property
    def held_fills(self) -> int:
        """Fills held back until their order is named."""
        return sum(len(fills) for fills in self._held.values())

    # -- fills ---------------------------------------------------------------------------------
    def seen(self, symbol: str, trade_id: str) -> bool:
        """True if the fill was emitted (or otherwise accounted) before."""
        return (symbol, trade_id) in self._seen

    def note_seen(self, symbol: str, trade_id: str) -> bool:
        """Remember a fill as accounted; False if it was before. Memory is bounded (oldest go first)."""
        key = (symbol, trade_id)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._seen_order.append(key)
        if len(self._seen_order) > self._fills_kept:
            self._seen.discard(self._seen_order.popleft())
        return True

    def consider_fill(self, fill: Fill) -> bool:
        """Emit a venue fill once: de-duplicated by trade id, held back while its order is unnamed,
        net of quantity an answer already reported provisionally. True if something went out."""
        symbol = fill.instrument.symbol
        if (symbol, fill.trade_id) in self._seen:
            return False
        tracked = self._by_venue.get(fill.venue_order_id)
        if tracked is None and self.symbol_unsettled(symbol):
            self._held.setdefault(fill.venue_order_id, {})[fill.trade_id] = fill
            return False
        self.note_seen(symbol, fill.trade_id)
        if tracked is not None:
            tracked.fills[fill.trade_id] = fill.qty
            if tracked.client_order_id and fill.client_order_id != tracked.client_order_id:
                fill = attrs.evolve(fill, client_order_id=tracked.client_order_id)
            if tracked.provisional_qty > 0:
                # the order's answer already reported this quantity without venue trade ids
                take = min(tracked.provisional_qty, fill.qty)
                tracked.provisional_qty -= take
                if take == fill.qty:
                    return False
                fill = attrs.evolve(fill, qty=fill.qty - take)
        self.sink.send_execution(fill)
        self._on_fill()
        self._on_activity(symbol)
        return True

    # -- reports -------------------------------------------------------------------------------
    def record(self, tracked: TrackedOrder, report: OrderReport, *,
               provisional: Callable[[Fill], bool] | None = None) -> None:
        """Take in what an answer returned to the caller says (the caller passes the report on, so
        it is not emitted): the venue id, status, cumulative fill, and its fills as accounted —
        those ``provisional`` says carry no venue trade id count against the real trades later."""
        for fill in report.fills:
            if provisional is not None and provisional(fill):
                tracked.provisional_qty += fill.qty
            else:
                self.note_seen(fill.instrument.symbol, fill.trade_id)
                tracked.fills[fill.trade_id] = fill.qty
        if report.venue_order_id and tracked.venue_order_id != report.venue_order_id:
            self.adopt(tracked, report.venue_order_id)
        elif tracked.unresolved and tracked.venue_order_id:
            self.adopt(tracked, tracked.venue_order_id)
        if report.filled_qty is not None and report.filled_qty >= tracked.filled:
            tracked.filled = report.filled_qty
        tracked.last_key = (report.status, report.filled_qty)
        self._move(tracked, report.status)
        self._on_activity(tracked.instrument.symbol)

    def update(self, tracked: TrackedOrder, report: OrderReport) -> bool:
        """Emit ``report`` if it says something new about the order (and record it); True if emitted."""
        key = (report.status, report.filled_qty)
        if key == tracked.last_key:
            return False
        tracked.last_key = key
        if report.filled_qty is not None and report.filled_qty >= tracked.filled:
            tracked.filled = report.filled_qty
        self._move(tracked, report.status)
        if tracked.client_order_id and report.client_order_id != tracked.client_order_id:
            report = attrs.evolve(report, client_order_id=tracked.client_order_id)
        self.sink.send_execution(report)
        self._on_activity(tracked.instrument.symbol)
        return True

    def note(self, report: OrderReport) -> TrackedOrder | None:
        """Record what a report passed on elsewhere says about one of our orders (stream, query):
        ids, status, cumulative fill and its fills; a settled order is forgotten. Its record, if ours."""
        tracked = self.find(report.client_order_id, report.venue_order_id)
        if tracked is None:
            return None
        if report.venue_order_id and not tracked.venue_order_id:
            self.adopt(tracked, report.venue_order_id)
        if report.filled_qty is not None and report.filled_qty >= tracked.filled:
            tracked.filled = report.filled_qty
        self._move(tracked, report.status)
        for fill in report.fills:
            tracked.fills[fill.trade_id] = fill.qty
            self.note_seen(fill.instrument.symbol, fill.trade_id)
        if tracked.settled:
            self.forget(tracked)
        return tracked

    def gone(self, tracked: TrackedOrder, ts: int, reason: str) -> bool:
        """The venue no longer has an order we think open (404, gone from its open list, and no
        final state to be had): FILLED if its whole quantity filled, else CANCELED, emitted."""
        status = OrderStatus.FILLED if tracked.qty and tracked.filled >= tracked.qty else OrderStatus.CANCELED
        report = OrderReport(tracked.instrument, ts, ts, tracked.client_order_id, tracked.venue_order_id, status,
                             tracked.filled, None, reason)
        return self.update(tracked, report)

    def _move(self, tracked: TrackedOrder, status: OrderStatus) -> None:
        # venue evidence moves the record in any order it comes (a fill before the ack, a cancel
        # answer after the fill): a terminal state is final, anything else is the venue's word
        if tracked.status.is_terminal and tracked.status is not OrderStatus.UNKNOWN and not status.is_terminal:
            return
        self.set_status(tracked, status)


class AccountTracker:
    """Balances and positions: emitted only when they changed."""

    def __init__(self, sink: ExecutionSink | None = None) -> None:
        self.sink: ExecutionSink = sink if sink is not None else _NullExecutionSink()
        self._balances: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        self._positions: dict[str, tuple[Instrument, Decimal, Decimal]] = {}

    @property
    def position_symbols(self) -> frozenset[str]:
        """Symbols with a non-zero position as last seen."""
        return frozenset(self._positions)

    def note_balance(self, balance: BalanceUpdate) -> bool:
        """Emit ``balance`` if free or locked changed; True if emitted."""
        key = (balance.account, balance.asset)
        value = (balance.free, balance.locked)
        if self._balances.get(key) == value:
            return False
        self._balances[key] = value
        self.sink.send_execution(balance)
        return True

    def note_position(self, position: PositionUpdate) -> bool:
        """Emit ``position`` if its quantity or average price changed; True if emitted."""
        symbol = position.instrument.symbol
        known = self._positions.get(symbol)
        if known is not None and (known[1], known[2]) == (position.qty, position.avg_price):
            return False
        if position.qty == 0:
            self._positions.pop(symbol, None)
        else:
            self._positions[symbol] = (position.instrument, position.qty, position.avg_price)
        self.sink.send_execution(position)
        return True

    def note_positions(self, positions: Iterable[PositionUpdate], ts: int) -> None:
        """A full list from the venue: changes emitted, and a zero position for each symbol that is
        no longer in it."""
        seen = set()
        for position in positions:
            seen.add(position.instrument.symbol)
            self.note_position(position)
        for symbol in [s for s in self._positions if s not in seen]:
            inst = self._positions[symbol][0]
            self.note_position(PositionUpdate(inst, ts, ts, _ZERO, _ZERO))


class _NullExecutionSink:
    def send_execution(self, event: Any) -> None:
        pass


def _ignore_symbol(symbol: str) -> None:
    pass


def _ignore() -> None:
    pass
