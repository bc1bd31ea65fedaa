"""SMA crossover on bars: long when the fast average is above the slow one, short (or flat) below.

A tie (``fast == slow``, exactly) keeps the previous side, the conventional crossover rule: the
position changes only when the fast average crosses strictly to the other side. Before the first
strict decision the strategy stays out of the market.

The averages are kept as running sums of scaled-integer closes over a window of the last ``slow``
closes, so the crossover test ``sum_fast * slow > sum_slow * fast`` is exact integer arithmetic
(no float rounding can flip a signal). Orders are market orders; in a backtest they fill at the
next bar's open.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from engine import Bar, Side, Strategy

from ._checks import require_positive

_BUY, _SELL = Side.BUY, Side.SELL  # an enum member lookup costs more than a global


class SmaCross(Strategy):
    """Moving-average crossover."""

    class Params:
        instrument: str
        "The instrument to trade, ``venue:symbol``."
        fast: int = 10
        "Bars in the fast average."
        slow: int = 30
        "Bars in the slow average."
        qty: Decimal = Decimal("0.01")
        "Position size held while in the market."
        allow_short: bool = True
        "Hold ``-qty`` when the fast average is below the slow one (else stay flat)."
        interval_s: int = 60
        "Bar interval to subscribe to."
        reduce_only_exits: bool = False
        "Send an order that takes the position to flat as reduce-only (a venue that keeps each entry as its "
        "own position then closes the entry instead of opening an opposite one)."

        def __attrs_post_init__(self) -> None:
            require_positive(self, "qty")

    def on_start(self) -> None:
        p = self.params
        if not 0 < p.fast < p.slow:
            raise ValueError(f"need 0 < fast < slow, got fast={p.fast} slow={p.slow}")
        self.inst = self.ctx.instrument(p.instrument)
        self.qty_raw = self.inst.size_raw(self.inst.round_qty(p.qty))
        if self.qty_raw <= 0:
            raise ValueError(f"qty {p.qty} rounds to zero on lot {self.inst.lot_size}")
        self._fast, self._slow = p.fast, p.slow
        self._window = deque([0] * p.slow, maxlen=p.slow)
        self._warmup = p.slow - 1  # bars to see before the first signal
        self._sum_fast = 0
        self._sum_slow = 0
        self._signal = 0  # +1 long, -1 short/flat, 0 undecided
        self._target_raw = 0
        self.ctx.subscribe_bars(self.inst, interval_s=p.interval_s)

    def on_bar(self, bar: Bar) -> None:
        close = bar.close_raw
        window = self._window  # the last ``slow`` closes, oldest first (zeros until full)
        fast = self._fast
        # the oldest close leaves the slow sum; the one ``fast`` back leaves the fast sum
        sum_slow = self._sum_slow + close - window[0]
        sum_fast = self._sum_fast + close - window[-fast]
        window.append(close)  # a bounded deque: drops the oldest
        self._sum_slow = sum_slow
        self._sum_fast = sum_fast
        if self._warmup:
            self._warmup -= 1
            return
        diff = sum_fast * self._slow - sum_slow * fast
        if not diff:
            return  # a tie keeps the previous side (before the first decision: stays out)
        signal = 1 if diff > 0 else -1
        if signal != self._signal:
            self._signal = signal
            self._rebalance(self.qty_raw if signal > 0 else (-self.qty_raw if self.params.allow_short else 0))

    def _rebalance(self, target_raw: int) -> None:
        inst = self.inst
        delta = target_raw - self.ctx.position(inst).qty_raw
        if delta:
            side = _BUY if delta > 0 else _SELL
            if target_raw == 0 and self.params.reduce_only_exits:
                self.ctx.submit(inst, side, inst.size_of(abs(delta)), reduce_only=True)
            else:
                self.ctx.submit(inst, side, inst.size_of(abs(delta)))
