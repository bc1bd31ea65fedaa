"""Magnr's market data: the underlying exchanges' public tickers, polled (Magnr publishes none).

:class:`TickerFeed` polls the ticker of every subscribed instrument on the kit's
:class:`~venues._common.AdaptivePoller` and sends what changed: quotes (ItBit's carry sizes, the
others' sizes are 0: unknown), bars of the quotes' mid (volume 0: a ticker gives none) and, on
ItBit only, its last print as a trade (sampled at each poll: prints between two polls are not seen).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from engine import Bar, DataKind, EventSink, Instrument, Quote, Unsupported
from venues._common.poller import AdaptivePoller, Wakeup

from . import parsers as P
from .constants import VENUE, split_symbol
from .rest import TickerClient

__all__ = ["TickerFeed"]


class _MidBar:
    """One interval's bar of polled ticker mids."""

    __slots__ = ("interval_ns", "start", "o", "h", "l", "c")

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.start = -1
        self.o = self.h = self.l = self.c = 0

    def add(self, quote: Quote) -> Bar | None:
        """Account ``quote``'s mid; the finished previous bar if ``quote`` opens a new interval."""
        start = quote.ts_event - quote.ts_event % self.interval_ns
        if start < self.start:
            return None  # an older ticker than the bar's: not counted
        done = None
        if start > self.start >= 0:
            done = Bar(quote.instrument, self.start, quote.ts_recv, self.o, self.h, self.l, self.c, 0,
                       self.interval_ns)
        mid = (quote.bid_raw + quote.ask_raw) // 2
        if start > self.start:
            self.start, self.o, self.h, self.l = start, mid, mid, mid
        self.h, self.l, self.c = max(self.h, mid), min(self.l, mid), mid
        return done


class TickerFeed:
    """Subscriptions and the ticker poller; ``sink()`` gives the gateway's current sink."""

    def __init__(self, tickers: TickerClient, instruments: Mapping[str, Instrument], sink: Callable[[], EventSink],
                 *, poll_s: float, logger: logging.Logger) -> None:
        self._tickers = tickers
        self._instruments = instruments
        self._sink = sink
        self._poll_s = poll_s
        self._log = logger
        self.quotes: dict[str, Quote] = {}
        "The last quote of each polled symbol."
        self.polls = 0
        self._polled: set[str] = set()
        self._quotes_sent: set[str] = set()
        self._bars: dict[str, dict[int, _MidBar]] = {}
        self._prints_wanted: set[str] = set()
        self._last_print: dict[str, tuple[int, int]] = {}
        self._prints = 0
        self._wakeup = Wakeup()

    def subscribe(self, kind: DataKind, symbol: str, interval_s: int) -> None:
        """Start ``kind`` for ``symbol``; what a ticker cannot give is :class:`~engine.Unsupported`."""
        if kind is DataKind.BARS:
            interval_ns = int(interval_s) * 1_000_000_000
            if interval_ns <= 0:
                raise Unsupported(f"a bar interval must be positive, got {interval_s}")
            self._bars.setdefault(symbol, {}).setdefault(interval_ns, _MidBar(interval_ns))
        elif kind is DataKind.QUOTES:
            self._quotes_sent.add(symbol)
        elif kind is DataKind.TRADES and split_symbol(symbol)[0] == "ItBit":
            self._prints_wanted.add(symbol)
        else:
            raise Unsupported(f"magnr has no {kind.value} data for {symbol}: quotes and bars of their mid come "
                              "from the underlying exchange's ticker (trades from ItBit's only)")
        if symbol not in self._polled:
            self._polled.add(symbol)
            self._wakeup.set()

    async def run(self) -> None:
        """Poll forever (a nursery task)."""
        await AdaptivePoller(self._poll, interval_s=lambda: self._poll_s, min_spacing_s=self._poll_s / 2,
                             account_every_s=float("inf"), wakeup=self._wakeup, name=f"{VENUE} tickers",
                             logger=self._log).run()

    async def quote(self, symbol: str) -> Quote:
        """The last polled quote of ``symbol``, or a fresh one."""
        known = self.quotes.get(symbol)
        return known if known is not None else (await self._fetch(symbol))[0]

    async def _fetch(self, symbol: str) -> tuple[Quote, Any]:
        exchange, _ = split_symbol(symbol)
        data = await self._tickers.get(exchange, P.TICKER_PATHS[exchange])
        return P.TICKER_PARSERS[exchange](data, self._instruments[symbol], time.time_ns()), data

    async def _poll(self, account: bool) -> None:
        self.polls += 1
        sink = self._sink()
        for symbol in sorted(self._polled):
            quote, data = await self._fetch(symbol)
            previous = self.quotes.get(symbol)
            self.quotes[symbol] = quote
            if symbol in self._quotes_sent and (previous is None or previous[1:] != quote[1:]):
                sink.send_market(quote)
            for builder in self._bars.get(symbol, {}).values():
                bar = builder.add(quote)
                if bar is not None:
                    sink.send_market(bar)
            if symbol in self._prints_wanted:
                self._sample_print(sink, symbol, data, quote.ts_recv)

    def _sample_print(self, sink: EventSink, symbol: str, data: Any, ts_recv: int) -> None:
        """ItBit's last print, sent when it differs from the one seen at the previous poll."""
        trade = P.parse_itbit_last(data, self._instruments[symbol], ts_recv, self._prints + 1)
        if trade is None:
            return
        identity = (trade.price_raw, trade.size_raw)
        if self._last_print.get(symbol) != identity:
            first = symbol not in self._last_print
            self._last_print[symbol] = identity
            if not first:  # the print before the subscription is not news
                self._prints += 1
                sink.send_market(trade)
