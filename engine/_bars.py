"""Time bars from trades, with venues' bar boundaries.

Boundaries: a bar of ``interval_ns`` covers ``[open, open + interval_ns)`` of the trades' event
time (the venue's clock), with ``open`` a multiple of the interval since the epoch; weekly bars
start on Monday 00:00 UTC, as venues do. An interval without trades has no bar.

A bar is stamped as the venue publishes it, at its close: ``ts_recv = open + interval_ns`` (the
market-data latency a live bar arrives with is the backtest's order latency, which folds it in).
The backtest aggregates recorded trades with the same rule, vectorised (``backtest.trade_bars``);
:class:`TradeBarAggregator` is the streaming form for a live trade stream, which hands a bar out
when it is known (the first trade of a later interval, or :meth:`~TradeBarAggregator.flush` at
the boundary).
"""

from __future__ import annotations

from ._events import Bar, Trade
from ._instruments import Instrument

__all__ = ["bar_open", "TradeBarAggregator"]

_WEEK_NS = 7 * 86_400 * 10**9
_MONDAY_NS = 4 * 86_400 * 10**9  # the epoch was a Thursday: four days later is a Monday


def bar_open(ts_ns: int, interval_ns: int) -> int:
    """The open time of the bar of ``interval_ns`` that contains ``ts_ns``."""
    offset = _MONDAY_NS if interval_ns == _WEEK_NS else 0
    return ts_ns - (ts_ns - offset) % interval_ns


class TradeBarAggregator:
    """Builds time bars of one instrument from its trades, in arrival order.

    :meth:`add` returns the bar a trade completes (the first trade of a later interval completes
    the current one); :meth:`flush` returns the current bar once ``now_ns`` has passed its end (a
    timer at the boundary, so a quiet market still gets its bar on time). A trade older than the
    current bar's interval (out of order) is counted in the current bar; one older than a bar
    already handed out opens the next interval (a bar, once out, is never changed).
    """

    __slots__ = ("instrument", "interval_ns", "_open", "_floor", "_o", "_h", "_l", "_c", "_v")

    def __init__(self, instrument: Instrument, interval_ns: int) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {interval_ns}")
        self.instrument = instrument
        self.interval_ns = interval_ns
        self._open: int | None = None
        self._floor = -(1 << 62)  # the end of the last bar handed out
        self._o = self._h = self._l = self._c = self._v = 0

    def add(self, trade: Trade) -> Bar | None:
        """Count ``trade``; the bar it completes, if any."""
        price = trade.price_raw
        opened = self._open
        done = None
        if opened is not None and trade.ts_event >= opened + self.interval_ns:
            done = self._bar()
            opened = None
        if opened is None:
            self._open = max(bar_open(trade.ts_event, self.interval_ns), self._floor)
            self._o = self._h = self._l = price
            self._v = 0
        elif price > self._h:
            self._h = price
        elif price < self._l:
            self._l = price
        self._c = price
        self._v += trade.size_raw
        return done

    def flush(self, now_ns: int) -> Bar | None:
        """The current bar if its interval has ended by ``now_ns`` (it is then closed)."""
        if self._open is None or now_ns < self._open + self.interval_ns:
            return None
        bar = self._bar()
        self._open = None
        return bar

    def _bar(self) -> Bar:
        opened: int = self._open  # type: ignore[assignment]
        self._floor = opened + self.interval_ns
        return Bar(self.instrument, opened, opened + self.interval_ns, self._o, self._h, self._l, self._c, self._v,
                   self.interval_ns)
