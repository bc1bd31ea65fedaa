"""Which trade belongs to which of our orders, and which fills were already reported (sans-I/O).

Magnr has no client order id: an opening order is tied to its trade by the create's answer, or,
when that answer was lost, by :meth:`Bookkeeping.match` (side, size, exchange and pair, created
after the send, not known before it, not claimed by another order). A closing (reduce-only) order
is tied to the trade it liquidates before the DELETE leaves. Each trade has at most two fills
(``<id>:open`` and ``<id>:close``); :attr:`Bookkeeping.reported` keeps them from being reported
twice in a session (the engine de-duplicates across sessions by trade id).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from engine import Side

from .parsers import MagnrTrade

__all__ = ["Bookkeeping", "OpenIntent"]


@attrs.define(slots=True, eq=False)
class OpenIntent:
    """An opening order: what was asked, when it left, what trades existed before it."""

    client_order_id: str
    symbol: str
    side: Side
    size: Decimal
    sent_s: int
    "Venue-clock second the create left (trades created before it cannot be this order's)."
    known_before: frozenset[str]
    "Trade ids already seen when the create left."
    trade_id: str = ""


class Bookkeeping:
    """Client order ids ↔ Magnr trade ids, and the fills reported so far."""

    def __init__(self) -> None:
        self.opens: dict[str, OpenIntent] = {}
        "Opening orders by client order id."
        self.open_of_trade: dict[str, str] = {}
        "Trade id → the client order id that opened it."
        self.closes: dict[str, str] = {}
        "Closing orders: client order id → the trade id it liquidates."
        self.close_of_trade: dict[str, str] = {}
        self.reported: set[str] = set()
        "Fill ids (``<trade id>:open`` / ``:close``) already reported."

    # -- opening orders --------------------------------------------------------------------------
    def intend_open(self, intent: OpenIntent) -> None:
        self.opens[intent.client_order_id] = intent

    def bind_open(self, client_order_id: str, trade_id: str) -> None:
        """The create answered (or a match was adopted): ``trade_id`` is this order's."""
        intent = self.opens.get(client_order_id)
        if intent is not None:
            intent.trade_id = trade_id
        self.open_of_trade[trade_id] = client_order_id

    def drop_open(self, client_order_id: str) -> None:
        """The create was definitely refused: nothing to tie."""
        intent = self.opens.pop(client_order_id, None)
        if intent is not None and intent.trade_id:
            self.open_of_trade.pop(intent.trade_id, None)

    def match(self, intent: OpenIntent, trades: Iterable[MagnrTrade], *, slack_s: int) -> MagnrTrade | None:
        """The oldest trade that can be ``intent``'s (see the module doc), or None."""
        candidates = [t for t in trades
                      if t.id not in intent.known_before and t.id not in self.open_of_trade
                      and t.symbol == intent.symbol and t.side is intent.side and t.size == intent.size
                      and t.created_at >= intent.sent_s - slack_s]
        if not candidates:
            return None
        return min(candidates, key=lambda t: (t.created_at, len(t.id), t.id))

    # -- closing orders ----------------------------------------------------------------------------
    def intend_close(self, client_order_id: str, trade_id: str) -> None:
        self.closes[client_order_id] = trade_id
        self.close_of_trade[trade_id] = client_order_id

    def drop_close(self, client_order_id: str) -> None:
        trade_id = self.closes.pop(client_order_id, None)
        if trade_id is not None:
            self.close_of_trade.pop(trade_id, None)

    # -- fills -------------------------------------------------------------------------------------
    def first_report(self, fill_id: str) -> bool:
        """True the first time ``fill_id`` is reported this session."""
        if fill_id in self.reported:
            return False
        self.reported.add(fill_id)
        return True

    def unresolved(self) -> bool:
        """An opening order waits for its trade to be found (its create's answer was lost)."""
        return any(not i.trade_id for i in self.opens.values())
