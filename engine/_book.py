"""The engine's L2 order book of one instrument, kept from venue snapshots and deltas.

Prices and sizes are the instrument's scaled integers. Each side is a ``dict`` (price → size)
plus a sorted list of keys with the best level at the *end* of the list (bids: prices ascending;
asks: negated prices ascending), so the levels that change most often — the ones near the touch —
are inserted and removed where :func:`bisect.insort` moves the fewest items. Applying a delta of a
few levels costs a few µs (``tests/benchmarks/bench_matching.py`` prints the figure).

Sequence handling (``sequencing``):

* ``"contiguous"`` (default): a delta must carry ``previous + 1``;
* ``"increasing"``: a delta must carry a sequence above the previous one (gaps allowed);
* ``"none"``: sequences are not checked (venues without them).

A delta that fails the check is not applied: the book goes out of sync (:attr:`L2Book.in_sync`
is False, :attr:`L2Book.gaps` counts it) and ignores deltas until a snapshot resyncs it. Before
the first snapshot a sequenced book is not in sync either.

Strategies receive the engine's instance in ``on_book(book)``: a live, read-only view. They must
not call the ``apply_*`` methods.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from decimal import Decimal

from ._events import BookDelta, BookSnapshot, Side
from ._instruments import Instrument

__all__ = ["L2Book"]

_SEQUENCING = ("contiguous", "increasing", "none")


class L2Book:
    """Aggregated price levels of one instrument, with sequence-gap detection.

    Read API (all integers are scaled like the instrument): :attr:`best_bid_raw`,
    :attr:`best_ask_raw`, their sizes, Decimal views :attr:`best_bid`, :attr:`best_ask`,
    :attr:`mid`, :attr:`spread`, level lists :meth:`bids` / :meth:`asks`, iterators
    :meth:`iter_bids` / :meth:`iter_asks`, :meth:`size_at` and the depth walk
    :meth:`cost_to_fill` / :meth:`vwap`.
    """

    __slots__ = (
        "instrument", "sequencing", "sequence", "ts_event", "ts_recv", "in_sync", "gaps", "updates",
        "_bids", "_asks", "_bid_keys", "_ask_keys", "_contiguous", "_checked",
    )

    def __init__(self, instrument: Instrument, *, sequencing: str = "contiguous") -> None:
        if sequencing not in _SEQUENCING:
            raise ValueError(f"sequencing must be one of {', '.join(_SEQUENCING)}, got {sequencing!r}")
        self.instrument = instrument
        "The instrument whose book this is."
        self.sequencing = sequencing
        "How delta sequences are checked: ``contiguous``, ``increasing`` or ``none``."
        self.sequence = 0
        "Sequence of the last applied snapshot or delta."
        self.ts_event = 0
        "Venue time of the last applied update (ns)."
        self.ts_recv = 0
        "Receive time of the last applied update (ns)."
        self.in_sync = sequencing == "none"
        "False before the first snapshot (sequenced books) and after a gap until a snapshot."
        self.gaps = 0
        "How many deltas were refused for a sequence gap (or an out-of-order sequence)."
        self.updates = 0
        "How many snapshots and deltas were applied."
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_keys: list[int] = []  # prices ascending: best bid last
        self._ask_keys: list[int] = []  # negated prices ascending: best ask last
        self._contiguous = sequencing == "contiguous"
        self._checked = sequencing != "none"

    # -- updates (the engine only) -----------------------------------------------------------
    def apply(self, update: BookSnapshot | BookDelta) -> bool:
        """Apply a snapshot or a delta; returns whether it was applied (see :meth:`apply_delta`)."""
        if type(update) is BookSnapshot:
            return self.apply_snapshot(update)
        return self.apply_delta(update)  # type: ignore[arg-type]

    def apply_snapshot(self, snap: BookSnapshot) -> bool:
        """Replace the whole book; always applied, and puts the book in sync. Returns True."""
        self._check_instrument(snap.instrument)
        bids = {p: s for p, s in snap.bids if s > 0}
        asks = {p: s for p, s in snap.asks if s > 0}
        self._bids = bids
        self._asks = asks
        self._bid_keys = sorted(bids)
        self._ask_keys = sorted(-p for p in asks)
        self.sequence = snap.sequence
        self.ts_event = snap.ts_event
        self.ts_recv = snap.ts_recv
        self.in_sync = True
        self.updates += 1
        return True

    def apply_delta(self, delta: BookDelta) -> bool:
        """Apply changed levels (size 0 removes a level).

        Returns False, and leaves the levels untouched, when the delta's sequence does not follow
        the last one (see the module docstring) or the book is already out of sync; the book is
        then out of sync until the next snapshot.
        """
        if delta.instrument is not self.instrument:
            self._check_instrument(delta.instrument)
        if self._checked:
            seq = delta.sequence
            if not self.in_sync:
                return False
            if (seq != self.sequence + 1) if self._contiguous else (seq <= self.sequence):
                self.in_sync = False
                self.gaps += 1
                return False
        if delta.bids:
            book = self._bids
            keys = self._bid_keys
            for price, size in delta.bids:
                if size:
                    if price not in book:
                        insort(keys, price)
                    book[price] = size
                elif price in book:
                    del book[price]
                    del keys[bisect_left(keys, price)]
        if delta.asks:
            book = self._asks
            keys = self._ask_keys
            for price, size in delta.asks:
                if size:
                    if price not in book:
                        insort(keys, -price)
                    book[price] = size
                elif price in book:
                    del book[price]
                    del keys[bisect_left(keys, -price)]
        self.sequence = delta.sequence
        self.ts_event = delta.ts_event
        self.ts_recv = delta.ts_recv
        self.updates += 1
        return True

    def invalidate(self) -> None:
        """Mark the book out of sync (e.g. the stream dropped); deltas are ignored until a snapshot."""
        self.in_sync = False

    def _check_instrument(self, instrument: Instrument) -> None:
        if instrument.key != self.instrument.key:
            raise ValueError(f"update for {instrument.key} applied to the book of {self.instrument.key}")

    # -- the touch ---------------------------------------------------------------------------
    @property
    def best_bid_raw(self) -> int | None:
        """Highest bid price (scaled), or None when there are no bids."""
        keys = self._bid_keys
        return keys[-1] if keys else None

    @property
    def best_ask_raw(self) -> int | None:
        """Lowest ask price (scaled), or None when there are no asks."""
        keys = self._ask_keys
        return -keys[-1] if keys else None

    @property
    def best_bid_size_raw(self) -> int:
        """Size at the best bid (0 when there are no bids)."""
        keys = self._bid_keys
        return self._bids[keys[-1]] if keys else 0

    @property
    def best_ask_size_raw(self) -> int:
        """Size at the best ask (0 when there are no asks)."""
        keys = self._ask_keys
        return self._asks[-keys[-1]] if keys else 0

    @property
    def best_bid(self) -> Decimal | None:
        raw = self.best_bid_raw
        return None if raw is None else self.instrument.price_of(raw)

    @property
    def best_ask(self) -> Decimal | None:
        raw = self.best_ask_raw
        return None if raw is None else self.instrument.price_of(raw)

    @property
    def mid(self) -> Decimal | None:
        """Exact mid price, or None unless both sides have levels."""
        bid, ask = self.best_bid_raw, self.best_ask_raw
        if bid is None or ask is None:
            return None
        return self.instrument.price_of(bid + ask) / 2

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid (negative when the book is crossed), or None."""
        bid, ask = self.best_bid_raw, self.best_ask_raw
        if bid is None or ask is None:
            return None
        return self.instrument.price_of(ask - bid)

    @property
    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (a bad or mid-update feed)."""
        bid, ask = self.best_bid_raw, self.best_ask_raw
        return bid is not None and ask is not None and bid >= ask

    @property
    def bid_depth(self) -> int:
        """Number of bid levels."""
        return len(self._bid_keys)

    @property
    def ask_depth(self) -> int:
        """Number of ask levels."""
        return len(self._ask_keys)

    # -- levels ------------------------------------------------------------------------------
    def bids(self, n: int | None = None) -> list[tuple[int, int]]:
        """The best ``n`` (all when None) bid levels as ``(price_raw, size_raw)``, best first."""
        keys = self._bid_keys
        book = self._bids
        top = keys[::-1] if n is None else keys[:-n - 1:-1] if n > 0 else []
        return [(p, book[p]) for p in top]

    def asks(self, n: int | None = None) -> list[tuple[int, int]]:
        """The best ``n`` (all when None) ask levels as ``(price_raw, size_raw)``, best first."""
        keys = self._ask_keys
        book = self._asks
        top = keys[::-1] if n is None else keys[:-n - 1:-1] if n > 0 else []
        return [(-k, book[-k]) for k in top]

    def iter_bids(self) -> Iterator[tuple[int, int]]:
        """Bid levels best first, lazily (stop early when walking; do not hold across updates)."""
        book = self._bids
        for p in reversed(self._bid_keys):
            yield p, book[p]

    def iter_asks(self) -> Iterator[tuple[int, int]]:
        """Ask levels best first, lazily (stop early when walking; do not hold across updates)."""
        book = self._asks
        for k in reversed(self._ask_keys):
            yield -k, book[-k]

    def levels(self, side: Side) -> Iterator[tuple[int, int]]:
        """Levels of ``side`` (BUY = bids, SELL = asks), best first."""
        return self.iter_bids() if side > 0 else self.iter_asks()

    def size_at(self, side: Side, price_raw: int) -> int:
        """Size resting at ``price_raw`` on ``side`` (BUY = bids), 0 if there is no such level."""
        return (self._bids if side > 0 else self._asks).get(price_raw, 0)

    # -- depth walk --------------------------------------------------------------------------
    def cost_to_fill(self, side: Side, size_raw: int, limit_raw: int | None = None) -> tuple[int, int]:
        """Walk the book as a taker of ``side`` for up to ``size_raw``.

        A BUY walks the asks from the best one up, a SELL the bids from the best one down; with
        ``limit_raw`` the walk stops at levels beyond it. Returns ``(filled_raw, cost_raw)`` where
        ``cost_raw`` is ``sum(price_raw * size_raw)`` over the levels taken (scaled by
        ``price_scale + size_scale``); ``filled_raw < size_raw`` when the book runs out.
        """
        if size_raw <= 0:
            return 0, 0
        filled = cost = 0
        buy = side > 0
        for price, size in (self.iter_asks() if buy else self.iter_bids()):
            if limit_raw is not None and (price > limit_raw if buy else price < limit_raw):
                break
            take = size if size < size_raw - filled else size_raw - filled
            filled += take
            cost += take * price
            if filled == size_raw:
                break
        return filled, cost

    def vwap(self, side: Side, size_raw: int, limit_raw: int | None = None) -> Decimal | None:
        """Exact average price a taker of ``side`` would get for ``size_raw``; None if the book
        (within ``limit_raw``) cannot fill all of it."""
        filled, cost = self.cost_to_fill(side, size_raw, limit_raw)
        if filled < size_raw or filled == 0:
            return None
        return Decimal(cost) / Decimal(filled) / Decimal(10) ** self.instrument.price_scale

    def __repr__(self) -> str:
        state = "in sync" if self.in_sync else "OUT OF SYNC"
        return (f"<L2Book {self.instrument.key} seq {self.sequence} {state} "
                f"bid {self.best_bid} ask {self.best_ask} levels {self.bid_depth}/{self.ask_depth}>")
