"""A strategy on two instruments at once: the basis between a spot market and a perpetual.

Cash and carry: when the perpetual's bid stands at least ``entry_bps`` above the spot ask, buy
``qty`` spot and sell ``qty`` of the perpetual (delta-neutral: the position earns the basis as
it closes, and the funding a short receives while longs pay); when the basis falls to
``exit_bps`` (perpetual ask over spot bid), unwind both legs. Each leg is a market order; a leg
is not sent while the other has an order working, so the hedge is rebuilt from what filled.

The two instruments may live on two venues (or two markets of one venue); the strategy sees
only their quotes.
"""

from __future__ import annotations

from decimal import Decimal

from engine import Instrument, OrderUpdate, Quote, Side, Strategy

from ._checks import require_positive

_BPS = Decimal(10_000)


class CashAndCarry(Strategy):
    """Long spot, short perpetual while the basis pays; flat otherwise."""

    class Params:
        spot: str
        "Spot instrument key, e.g. ``myvenue-spot:ETHDAI``."
        perpetual: str
        "Perpetual instrument key on the same underlying, e.g. ``myvenue-futures:ETHUSD``."
        qty: Decimal = Decimal("0.1")
        "Base quantity of each leg."
        entry_bps: Decimal = Decimal(20)
        "Open the hedge when perpetual bid / spot ask − 1 is at least this (basis points)."
        exit_bps: Decimal = Decimal(0)
        "Close it when perpetual ask / spot bid − 1 is at most this."
        leverage: Decimal = Decimal(2)
        "Leverage of the perpetual leg."

        def __attrs_post_init__(self) -> None:
            require_positive(self, "qty")
            require_positive(self, "leverage")
            if self.exit_bps > self.entry_bps:
                raise ValueError("exit_bps must not be above entry_bps")

    def on_start(self) -> None:
        p = self.params
        self.spot = self.ctx.instrument(p.spot)
        self.perp = self.ctx.instrument(p.perpetual)
        self.qty = min(self.spot.round_qty(p.qty), self.perp.round_qty(p.qty))
        if self.qty <= 0:
            raise ValueError(f"qty {p.qty} rounds to nothing on {p.spot} or {p.perpetual}")
        self.quotes: dict[str, Quote] = {}
        self.working: set[str] = set()
        "Client ids of this strategy's orders not yet done."
        self.ctx.subscribe_quotes(self.spot)
        self.ctx.subscribe_quotes(self.perp)

    def hedged(self) -> bool:
        """The spot leg is held (the perpetual short beside it)."""
        return self.ctx.position(self.spot).qty > 0

    def on_quote(self, quote: Quote) -> None:
        self.quotes[quote.instrument.key] = quote
        spot, perp = self.quotes.get(self.spot.key), self.quotes.get(self.perp.key)
        if spot is None or perp is None or self.working:
            return
        p = self.params
        if not self.hedged():
            if spot.ask > 0 and (perp.bid / spot.ask - 1) * _BPS >= p.entry_bps:
                self._leg(self.spot, Side.BUY, self.qty)
                self._leg(self.perp, Side.SELL, self.qty, p.leverage)
        elif spot.bid > 0 and (perp.ask / spot.bid - 1) * _BPS <= p.exit_bps:
            self._leg(self.spot, Side.SELL, self.ctx.position(self.spot).qty)
            short = -self.ctx.position(self.perp).qty
            if short > 0:
                self._leg(self.perp, Side.BUY, short, p.leverage, reduce_only=True)

    def _leg(self, instrument: Instrument, side: Side, qty: Decimal, leverage: Decimal | None = None,
             reduce_only: bool = False) -> None:
        order = self.ctx.submit(instrument, side, qty, leverage=leverage, reduce_only=reduce_only)
        if not order.is_terminal:
            self.working.add(order.client_order_id)

    def on_order(self, update: OrderUpdate) -> None:
        if update.order.is_terminal:
            self.working.discard(update.order.client_order_id)
