"""The campaign's probe strategy: exercises the order path often, deterministically given the market.

Every ``every_trades`` trade prints is one *step*. On each step the probe

* moves its position toward a target that alternates between ``qty`` and 0 (odd steps long,
  even steps flat) with one market order, unless a market order of its own is still open;
* keeps one resting limit bid ``offset_bps`` below the last trade price: a step that finds the
  bid open cancels it, a step that finds none places a new one (cancel, then replace).

So a session sends market orders, limit orders and cancels, and some limit bids fill when the
market comes down to them. Only the trade prints drive it (no wall clock, no randomness). Long or
flat only, so it also runs on spot instruments funded in the quote currency.
"""

from __future__ import annotations

from decimal import Decimal

from engine import Order, OrderType, OrderUpdate, Side, Strategy, TimeInForce, Trade

__all__ = ["Probe"]


class Probe(Strategy):
    """Target-position flipper with one cancel/replace limit bid."""

    class Params:
        instrument: str
        qty: Decimal = Decimal("0.01")
        "Size of the target position and of the limit bid (base units)."
        every_trades: int = 10
        "Trade prints per step."
        offset_bps: Decimal = Decimal("5")
        "Distance of the limit bid below the last trade price."

    def on_start(self) -> None:
        p = self.params
        if p.every_trades <= 0:
            raise ValueError("every_trades must be positive")
        self.inst = self.ctx.instrument(p.instrument)
        self.qty = self.inst.round_qty(p.qty)
        self.trades_seen = 0
        self.steps = 0
        self.market_order: Order | None = None
        self.bid: Order | None = None
        self.ctx.subscribe_trades(self.inst)

    def on_trade(self, trade: Trade) -> None:
        self.trades_seen += 1
        if self.trades_seen % self.params.every_trades:
            return
        self.steps += 1
        self._steer_position()
        self._cycle_bid(trade.price)

    def on_order(self, update: OrderUpdate) -> None:
        order = update.order
        if order.is_terminal:
            if order is self.market_order:
                self.market_order = None
            elif order is self.bid:
                self.bid = None

    def _steer_position(self) -> None:
        if self.market_order is not None:
            return  # the last one is still in flight (or UNKNOWN): never stack another
        target = self.qty if self.steps % 2 else Decimal(0)
        delta = target - self.ctx.position(self.inst).qty
        if delta:
            side = Side.BUY if delta > 0 else Side.SELL
            self.market_order = self.ctx.submit(self.inst, side, abs(delta))
            if self.market_order.is_terminal:  # denied at once
                self.market_order = None

    def _cycle_bid(self, last_price: Decimal) -> None:
        if self.bid is not None:
            self.ctx.cancel(self.bid)  # replaced on a later step, once the cancel is confirmed
            return
        price = self.inst.round_price(last_price * (1 - self.params.offset_bps / 10000))
        self.bid = self.ctx.submit(self.inst, Side.BUY, self.qty, type=OrderType.LIMIT, price=price,
                                   time_in_force=TimeInForce.GTC)
        if self.bid.is_terminal:
            self.bid = None
