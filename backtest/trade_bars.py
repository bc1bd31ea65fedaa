"""Time bars aggregated from recorded trades, vectorised.

A strategy that subscribes to bars of an instrument whose recorded data is trades gets time bars
built from them with the venue's boundaries and the rule of :func:`engine.bar_open` /
:class:`engine.TradeBarAggregator` (the streaming form the live side uses): trades bucketed by
event time into epoch-aligned intervals, ``ts_recv`` the bar's close (as the venue publishes it;
market-data latency is part of the order latency), no bar for an interval without trades, a late
trade counts in the current bar. A bar cut by the selected time range (it opens before the range's
start, or is known only after its end) is left out: it would not hold the venue's bar.
"""

from __future__ import annotations

import numpy as np

from engine import bar_open

__all__ = ["bars_from_trades"]

Columns = dict[str, np.ndarray]


def bars_from_trades(trades: Columns, interval_ns: int, start_ns: int | None = None,
                     end_ns: int | None = None) -> Columns:
    """Bar columns (the ``bars`` schema of :data:`backtest.data.SCHEMAS`) from trade columns."""
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be positive, got {interval_ns}")
    ts = np.asarray(trades["ts_event"], dtype=np.int64)
    price = np.asarray(trades["price"], dtype=np.int64)
    size = np.asarray(trades["size"], dtype=np.int64)
    if not len(ts):
        return {name: np.empty(0, dtype=np.int64)
                for name in ("ts_event", "ts_recv", "open", "high", "low", "close", "volume")}
    opened: np.ndarray = bar_open(ts, interval_ns)  # type: ignore[arg-type,assignment]  # the same formula on an array
    # a trade older than the current bar (out of order) counts in the current bar, as it does
    # for the streaming aggregator: a bar, once done, is not opened again
    opens = np.maximum.accumulate(opened)
    starts = np.ones(len(opens), dtype=bool)
    starts[1:] = opens[1:] != opens[:-1]
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(opens)) - 1
    bar_ts = opens[first]
    out: Columns = {
        "ts_event": bar_ts,
        "ts_recv": bar_ts + interval_ns,
        "open": price[first],
        "high": np.maximum.reduceat(price, first),
        "low": np.minimum.reduceat(price, first),
        "close": price[last],
        "volume": np.add.reduceat(size, first),
    }
    keep = np.ones(len(bar_ts), dtype=bool)
    if start_ns is not None:
        keep &= bar_ts >= start_ns
    if end_ns is not None:
        keep &= out["ts_recv"] < end_ns
    if not keep.all():
        out = {name: col[keep] for name, col in out.items()}
    return out
