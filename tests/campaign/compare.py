"""Compare the venue's ledger with the client's view of it: a pure function over plain data.

The venue side (:class:`VenueLedger`) is what the testnet states through its own REST API: the
account's orders (as far as the venue lists them), its fills in time order, its open orders after
the stop. The client side (:class:`ClientView`) is what the client wrote down: the journal's order
rows and, when the run printed one, its final positions. :func:`compare` turns the two into
:class:`Divergence` counters, every one of which must be 0 for the books to agree.

How fills are matched (the journal keeps a cumulative ``filled_qty`` per order, not each fill):
an order's venue fills, taken in time order, are *seen* while their running total stays within
the journal's ``filled_qty``; the rest are *missing*. A journal quantity above the venue's counts
as duplicated fills, in units of that order's fills (at least one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import attrs

__all__ = ["VenueOrder", "VenueFill", "VenueLedger", "JournalRow", "ClientView", "Divergence", "compare",
           "BALANCE_TOLERANCE"]

ZERO = Decimal(0)


@attrs.frozen
class VenueOrder:
    """One order as the venue lists it."""

    venue_order_id: str
    instrument: str
    "``venue:symbol``."
    client_order_id: str = ""
    "The client's id, where the venue keeps and shows it ('' otherwise)."
    open: bool = False
    "Still working at the venue when the ledger was read."


@attrs.frozen
class VenueFill:
    """One execution as the venue states it."""

    fill_id: str
    venue_order_id: str
    instrument: str
    side: str
    "``BUY`` or ``SELL``."
    qty: Decimal
    ts_ms: int = 0


@attrs.frozen
class VenueLedger:
    """The venue's own account of one session."""

    orders: tuple[VenueOrder, ...] = ()
    fills: tuple[VenueFill, ...] = ()
    balances: Mapping[str, Decimal] = attrs.field(factory=dict)
    "Total per asset, as the venue reports it."
    position_costs: Mapping[str, Decimal] = attrs.field(factory=dict)
    "Per settle asset: the open derivative positions' cost (entry price times signed quantity)."

    def positions(self) -> dict[str, Decimal]:
        """Net base quantity per instrument implied by the venue's fills (instruments with fills)."""
        out: dict[str, Decimal] = {}
        for fill in self.fills:
            out[fill.instrument] = out.get(fill.instrument, ZERO) + _signed(fill)
        return out

    def max_abs_position(self) -> dict[str, Decimal]:
        """Largest absolute net position each instrument reached, replaying the fills in time order."""
        running: dict[str, Decimal] = {}
        peak: dict[str, Decimal] = {}
        for fill in sorted(self.fills, key=lambda f: f.ts_ms):
            pos = running.get(fill.instrument, ZERO) + _signed(fill)
            running[fill.instrument] = pos
            peak[fill.instrument] = max(peak.get(fill.instrument, ZERO), abs(pos))
        return peak


@attrs.frozen
class JournalRow:
    """One row of the client's order journal."""

    client_order_id: str
    venue_order_id: str
    instrument: str
    status: str
    "The journal's lowercase status value (``filled``, ``unknown``, ...)."
    filled_qty: Decimal = ZERO


@attrs.frozen
class ClientView:
    """What the client knows after the session."""

    journal: tuple[JournalRow, ...] = ()
    positions: Mapping[str, Decimal] | None = None
    "Final net position per instrument from the run's last status line; None when none was printed."
    balances: Mapping[str, Decimal] | None = None
    "Total per asset the client's journal implies (starting balances plus its fills); None: not read."
    position_costs: Mapping[str, Decimal] = attrs.field(factory=dict)
    "Per settle asset: the open derivative positions' cost the journal implies (its open lots)."


@attrs.frozen
class Divergence:
    """How far the client's books are from the venue's (every counter is 0 when they agree)."""

    venue_orders: int = 0
    "Orders the venue listed (context, not a divergence)."
    venue_fills: int = 0
    "Fills the venue stated (context)."
    orders_unknown_to_client: int = 0
    "Venue orders no journal row names (neither by venue order id nor by client order id)."
    orders_left_unknown: int = 0
    "Journal rows still UNKNOWN at the end (the client never learnt the outcome)."
    fills_missing: int = 0
    "Venue fills the client's filled quantities do not account for."
    fills_duplicated: int = 0
    "Fill-sized excess of the client's filled quantities over the venue's."
    position_mismatches: int = 0
    "Instruments whose final client position differs from the venue's (-1: not observable)."
    balance_mismatches: int = 0
    "Assets whose balance implied by the client's journal differs from the venue's (-1: not observable)."
    limit_breaches: int = 0
    "Instruments whose venue position ever went above the position limit (0 when there is no limit)."
    orders_left_working: int = 0
    "Orders still working at the venue after the client stopped."

    def total(self) -> int:
        """Sum of the divergence counters (0 = books agree); not-observable counters count 0."""
        return sum(max(0, v) for v in (
            self.orders_unknown_to_client, self.orders_left_unknown, self.fills_missing,
            self.fills_duplicated, self.position_mismatches, self.balance_mismatches, self.limit_breaches,
            self.orders_left_working))


def _signed(fill: VenueFill) -> Decimal:
    return fill.qty if fill.side == "BUY" else -fill.qty


_NOTHING_EXECUTED = frozenset({"rejected", "canceled", "expired"})
"Journal statuses of an order the client settled as having executed nothing."


def _match_orders(ledger: VenueLedger, journal: Iterable[JournalRow]) -> tuple[dict[str, JournalRow], int]:
    """Journal row of each venue order id (where one names it), and how many venue orders had none.

    A venue order that no id names, that has no fill and is no longer working is paired with a
    journal row of the same instrument that never learnt a venue id, executed nothing and is
    settled: an order whose create answer was lost and that expired unfilled, which a venue that
    keeps no client ids and lists no finished unfilled orders (Dzengi) cannot show again — the
    client knows the order, and that nothing came of it (see :func:`untraceable_unfilled`).
    """
    rows = list(journal)
    by_venue_id = {row.venue_order_id: row for row in rows if row.venue_order_id}
    by_client_id = {row.client_order_id: row for row in rows if row.client_order_id}
    matched: dict[str, JournalRow] = {}
    unmatched: list[VenueOrder] = []
    for order in ledger.orders:
        row = by_venue_id.get(order.venue_order_id)
        if row is None and order.client_order_id:
            row = by_client_id.get(order.client_order_id)
        if row is None:
            unmatched.append(order)
        else:
            matched[order.venue_order_id] = row
    paired = untraceable_unfilled(ledger, rows, unmatched, claimed={id(r) for r in matched.values()})
    matched.update(paired)
    return matched, len(unmatched) - len(paired)


def untraceable_unfilled(ledger: VenueLedger, journal: Sequence[JournalRow], unmatched: Iterable[VenueOrder],
                         *, claimed: set[int]) -> dict[str, JournalRow]:
    """Pair unfilled, finished venue orders that no id names with id-less settled journal rows that
    executed nothing, on the same instrument, oldest first (venue order id → row)."""
    filled = {f.venue_order_id for f in ledger.fills}
    spare = [row for row in journal if not row.venue_order_id and row.filled_qty == 0
             and row.status in _NOTHING_EXECUTED and id(row) not in claimed]
    paired: dict[str, JournalRow] = {}
    for order in unmatched:
        if order.open or order.venue_order_id in filled:
            continue
        row = next((r for r in spare if r.instrument == order.instrument), None)
        if row is not None:
            spare.remove(row)
            paired[order.venue_order_id] = row
    return paired


def orders_unknown_to_client(ledger: VenueLedger, journal: Iterable[JournalRow]) -> list[VenueOrder]:
    """The venue orders no journal row accounts for (what :attr:`Divergence.orders_unknown_to_client` counts)."""
    matched, _ = _match_orders(ledger, journal)
    return [o for o in ledger.orders if o.venue_order_id not in matched]


def _fill_counts(fills: list[VenueFill], client_filled: Decimal) -> tuple[int, int]:
    """(missing, duplicated) fills of one order whose venue fills are ``fills`` (time order)."""
    seen = ZERO
    missing = 0
    for fill in fills:
        if seen + fill.qty <= client_filled:
            seen += fill.qty
        else:
            missing += 1
    venue_total = sum((f.qty for f in fills), ZERO)
    excess = client_filled - venue_total
    if excess <= 0:
        return missing, 0
    unit = min((f.qty for f in fills), default=excess)
    return missing, max(1, int(excess / unit))


def _position_mismatches(ledger: VenueLedger, client: ClientView, instruments: Iterable[str]) -> int:
    if client.positions is None:
        return -1
    venue = ledger.positions()
    keys = set(instruments) | set(venue) | set(client.positions)
    return sum(1 for k in keys if venue.get(k, ZERO) != client.positions.get(k, ZERO))


BALANCE_TOLERANCE = Decimal("1e-12")
"""Largest difference of two balances at cost that still agree: a venue that keeps an average
entry price at 28 significant digits (a non-terminating quotient) books realized PnL rounded there."""


def _at_cost(balances: Mapping[str, Decimal], costs: Mapping[str, Decimal], asset: str) -> Decimal:
    return balances.get(asset, ZERO) - costs.get(asset, ZERO)


def _balance_mismatches(ledger: VenueLedger, client: ClientView) -> int:
    """Assets whose balances *at cost* differ: the balance minus the open derivative positions' cost.

    A derivative's realized PnL depends on how a venue nets lots (average cost, FIFO), the
    balance plus the open positions at cost does not: both are the starting balance plus every
    fill's cash flow less the fees.
    """
    if client.balances is None:
        return -1
    keys = set(ledger.balances) | set(client.balances) | set(ledger.position_costs) | set(client.position_costs)
    return sum(1 for k in keys if abs(_at_cost(ledger.balances, ledger.position_costs, k)
                                      - _at_cost(client.balances, client.position_costs, k)) > BALANCE_TOLERANCE)


def compare(ledger: VenueLedger, client: ClientView, *, position_limit: Decimal | None = None) -> Divergence:
    """Count every way ``client`` disagrees with ``ledger``.

    Venue orders are matched to journal rows by venue order id, else by client order id. The
    fills of an unmatched order are all missing; a journal row with a filled quantity for an
    order the venue does not list counts its quantity as duplicated (one fill). ``position_limit``
    (base units, absolute) is checked against the venue's running position.
    """
    matched, unknown = _match_orders(ledger, client.journal)
    fills_by_order: dict[str, list[VenueFill]] = {}
    for fill in sorted(ledger.fills, key=lambda f: f.ts_ms):
        fills_by_order.setdefault(fill.venue_order_id, []).append(fill)
    listed = {o.venue_order_id for o in ledger.orders}
    missing = duplicated = 0
    for order_id, fills in fills_by_order.items():
        row = matched.get(order_id)
        m, d = _fill_counts(fills, row.filled_qty if row is not None else ZERO)
        missing += m
        duplicated += d
    for row in client.journal:
        if row.filled_qty > 0 and row.venue_order_id not in listed and row.venue_order_id not in fills_by_order:
            if not any(m is row for m in matched.values()):
                duplicated += 1
    breaches = 0
    if position_limit is not None:
        breaches = sum(1 for peak in ledger.max_abs_position().values() if peak > position_limit)
    return Divergence(
        venue_orders=len(ledger.orders),
        venue_fills=len(ledger.fills),
        orders_unknown_to_client=unknown,
        orders_left_unknown=sum(1 for row in client.journal if row.status == "unknown"),
        fills_missing=missing,
        fills_duplicated=duplicated,
        position_mismatches=_position_mismatches(ledger, client, {o.instrument for o in ledger.orders}),
        balance_mismatches=_balance_mismatches(ledger, client),
        limit_breaches=breaches,
        orders_left_working=sum(1 for o in ledger.orders if o.open),
    )
