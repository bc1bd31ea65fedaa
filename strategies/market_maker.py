"""A market maker: quote both sides around the mid, skewed against inventory.

On every book (or quote) update it computes a reservation price ``mid - skew * inventory`` and
keeps one post-only bid and one post-only ask ``half_spread_bps`` around it. A quote is replaced
only when its ideal price moved by at least ``requote_bps``, to save rate limit. Past
``max_inventory`` the side that would grow the position is not quoted.
"""

from __future__ import annotations

from decimal import Decimal

from engine import Order, OrderType, OrderUpdate, Quote, Side, Strategy, TimeInForce

from ._checks import require_positive


class MarketMaker(Strategy):
    """Two-sided quoting with inventory skew."""

    class Params:
        instrument: str
        qty: Decimal = Decimal("0.01")
        half_spread_bps: Decimal = Decimal("5")
        skew_bps_per_qty: Decimal = Decimal("2")
        "Reservation-price shift in bps per ``qty`` of inventory."
        max_inventory: Decimal = Decimal("0.05")
        requote_bps: Decimal = Decimal("1")
        "Replace a quote only when its ideal price moved this far."
        use_book: bool = True
        "Quote off the L2 book (True) or off top-of-book quotes (False)."

        def __attrs_post_init__(self) -> None:
            require_positive(self, "qty")

    def on_start(self) -> None:
        p = self.params
        self.inst = self.ctx.instrument(p.instrument)
        self.bid: Order | None = None
        self.ask: Order | None = None
        if p.use_book:
            self.ctx.subscribe_book(self.inst, depth=5)
        else:
            self.ctx.subscribe_quotes(self.inst)

    def on_book(self, book) -> None:  # type: ignore[no-untyped-def]
        bid, ask = book.best_bid_raw, book.best_ask_raw
        if bid is not None and ask is not None:
            self._requote(bid, ask)

    def on_quote(self, quote: Quote) -> None:
        self._requote(quote.bid_raw, quote.ask_raw)

    def on_order(self, update: OrderUpdate) -> None:
        order = update.order
        if order.is_terminal:
            if order is self.bid:
                self.bid = None
            elif order is self.ask:
                self.ask = None

    def _requote(self, bid_raw: int, ask_raw: int) -> None:
        p = self.params
        inst = self.inst
        inventory = self.ctx.position(inst).qty
        mid = inst.price_of(bid_raw + ask_raw) / 2
        reservation = mid * (1 - p.skew_bps_per_qty * inventory / p.qty / 10000)
        half = mid * p.half_spread_bps / 10000
        want_bid = inst.round_price(reservation - half, rounding=None)
        want_ask = inst.round_price(reservation + half, rounding=None)
        # never cross the book with a post-only quote
        want_bid = min(want_bid, inst.price_of(ask_raw) - inst.tick_size)
        want_ask = max(want_ask, inst.price_of(bid_raw) + inst.tick_size)
        self.bid = self._place(self.bid, Side.BUY, want_bid, inventory < p.max_inventory)
        self.ask = self._place(self.ask, Side.SELL, want_ask, inventory > -p.max_inventory)

    def _place(self, current: Order | None, side: Side, price: Decimal, allowed: bool) -> Order | None:
        inst = self.inst
        if current is not None and current.is_open:
            current_price = current.price if current.price is not None else price
            moved = abs(price - current_price) * 10000 >= self.params.requote_bps * current_price
            if allowed and not moved:
                return current
            self.ctx.cancel(current)
            return current  # replaced once the cancel is confirmed (see on_order)
        if not allowed:
            return None
        return self.ctx.submit(inst, side, self.params.qty, type=OrderType.LIMIT, price=price,
                               time_in_force=TimeInForce.GTC, post_only=True)
