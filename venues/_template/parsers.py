"""Wire messages → engine events. TEMPLATE: one ``parse_*`` per message the gateway reads.

Every field goes through the venue's :class:`~venues._common.FieldReader`: a missing, null,
mistyped or unbounded field is a :class:`~engine.MalformedMessage` naming the venue, the message
and the field. Nothing here does I/O or reads the clock: ``ts_recv`` is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine import Instrument, Trade
from venues._common.fields import FieldReader

from .constants import VENUE

__all__ = ["F", "parse_trade"]

F = FieldReader(VENUE, symbol_word="market")
"The venue's field decoders."


def parse_trade(obj: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Trade:
    """``{"market", "price", "size", "side" (the taker's), "id", "ts" (ms)}`` → :class:`~engine.Trade`."""
    what = "trade"
    trade = F.as_object(obj, what)
    inst = F.instrument(instruments, trade.get("market"), what, trade)
    side = F.string(trade, "side", what)
    if side not in ("buy", "sell"):
        raise F.malformed(what, f"field 'side' is not buy/sell: {side!r}", trade)
    return Trade(inst, F.integer(trade, "ts", what) * 1_000_000, ts_recv,
                 F.price_raw(inst, F.get(trade, "price", what), "price", what, trade),
                 F.size_raw(inst, F.get(trade, "size", what), "size", what, trade),
                 1 if side == "buy" else -1, F.integer(trade, "id", what))
