"""The Magnr testnet's ledger for the fault campaign: every trade as its opening (and closing) order and fills."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from tests.campaign.compare import VenueFill, VenueLedger, VenueOrder
from tests.campaign.ledger import _Venue
from venues.magnr.signer import authorization, signature

__all__ = ["read_magnr_ledger"]

def read_magnr_ledger(base_url: str, api_key: str, secret: str, symbols: list[str], *,
                      deadline_s: float = 60.0) -> VenueLedger:
    """Trade ``t`` is order ``t`` (fill ``t:open``) and, once settled, order ``t:close`` (or
    ``t:<reason>`` when the venue closed it; fill ``t:close``). ``symbols`` narrows the markets."""
    trades = _list(base_url, api_key, secret, deadline_s)
    orders: list[VenueOrder] = []
    fills: list[VenueFill] = []
    for t in trades:
        symbol = f"{t['exchange']}-{t['pair']}"
        if symbols and symbol not in symbols:
            continue
        inst, tid, side = f"magnr:{symbol}", str(t["id"]), "BUY" if t["side"] == "buy" else "SELL"
        other = "SELL" if side == "BUY" else "BUY"
        size = Decimal(str(t["size"]))
        orders.append(VenueOrder(tid, inst, open=t["status"] == "pending"))
        if t["status"] != "pending":
            fills.append(VenueFill(f"{tid}:open", tid, inst, side, size, int(t["created_at"]) * 1000))
        if t["status"] in ("closed", "settled"):
            reason = t["closed_reason"]
            close_id = f"{tid}:close" if reason == "user" else f"{tid}:{reason}"
            orders.append(VenueOrder(close_id, inst, open=t["status"] == "closed"))
            if t["status"] == "settled":
                fills.append(VenueFill(f"{tid}:close", close_id, inst, other, size, int(t["closed_at"]) * 1000))
    return VenueLedger(orders=tuple(orders), fills=tuple(fills))


def _list(base_url: str, api_key: str, secret: str, deadline_s: float) -> list[dict[str, Any]]:
    tonce = [int(time.time() * 1000) + 20_000]  # past any tonce the client's reserve may have used

    def signed() -> tuple[str, dict[str, str]]:
        tonce[0] += 1
        sig = signature(secret, str(tonce[0]), api_key, b"")
        return "", {"Authorization": authorization(api_key, sig), "Tonce": str(tonce[0])}

    with _Venue(base_url, deadline_s) as venue:
        return list(venue.call("GET", "/api/v1/trades/", signed)["trades"])
