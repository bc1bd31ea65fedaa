"""A strategy driven by trade prints: follow the order-flow imbalance.

The imbalance is an exponentially weighted sum of signed trade sizes (buyer-initiated minus
seller-initiated). When it crosses ``+threshold`` the strategy goes long, below ``-threshold`` short;
a position is held for at least ``min_hold_trades`` prints. The indicator is a float (it is a
statistic); order quantities are exact.
"""

from __future__ import annotations

from decimal import Decimal

from engine import Side, Strategy, Trade

from ._checks import require_positive

_BUY, _SELL = Side.BUY, Side.SELL  # an enum member lookup costs more than a global


class TradeFlow(Strategy):
    """Order-flow imbalance follower on trade prints."""

    class Params:
        instrument: str
        half_life_trades: float = 50.0
        "Half-life of the imbalance average, in trades."
        threshold: Decimal = Decimal("0.15")
        "Imbalance (in base units) that flips the position."
        qty: Decimal = Decimal("0.01")
        min_hold_trades: int = 200
        "Trades to wait after a flip before the next one."

        def __attrs_post_init__(self) -> None:
            require_positive(self, "qty")

    def on_start(self) -> None:
        p = self.params
        if p.half_life_trades <= 0:
            raise ValueError("half_life_trades must be positive")
        self.inst = self.ctx.instrument(p.instrument)
        self.qty_raw = self.inst.size_raw(self.inst.round_qty(p.qty))
        self._decay = 0.5 ** (1.0 / p.half_life_trades)
        self._threshold = float(p.threshold) * 10**self.inst.size_scale  # in raw size units
        self._imbalance = 0.0
        self._since_flip = p.min_hold_trades
        self._min_hold = p.min_hold_trades
        self._side = 0
        self.ctx.subscribe_trades(self.inst)

    def on_trade(self, trade: Trade) -> None:
        imb = self._imbalance * self._decay + trade.aggressor * trade.size_raw
        self._imbalance = imb
        since = self._since_flip + 1
        self._since_flip = since
        if since < self._min_hold:
            return
        threshold = self._threshold
        if imb > threshold:
            want = 1
        elif imb < -threshold:
            want = -1
        else:
            return
        if want != self._side:
            self._side = want
            self._since_flip = 0
            inst = self.inst
            delta = want * self.qty_raw - self.ctx.position(inst).qty_raw
            if delta:
                self.ctx.submit(inst, _BUY if delta > 0 else _SELL, inst.size_of(abs(delta)))
