"""Gateway conformance, market data: every venue's gateway against its own local testnet.

Instruments, book snapshot and updates, trades, quotes, reconnect with resubscription after a
dropped stream, and malformed venue frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from venues._testnet.faults import FaultSettings
from engine import BookDelta, BookSnapshot, DataKind, Quote, Trade, VenueState, VenueStatus
from engine import L2Book

from .harness import gateway, serve
from .venues import VenueAdapter


async def test_instruments_load(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path, market="quiet") as testnet, gateway(venue, testnet) as h:
            instruments = h.gateway.instruments
    assert instruments, "no instruments"
    assert f"{venue.name}:{venue.symbol}" in instruments
    for key, inst in instruments.items():
        assert inst.key == key and inst.venue == venue.name == h.gateway.venue
        assert inst.tick_size > 0 and inst.lot_size > 0
        assert inst.price_scale >= 0 and inst.size_scale >= 0
    # the suite's order size is valid on the market as the venue describes it
    assert h.instrument.round_qty(venue.order_qty) == venue.order_qty >= h.instrument.min_qty


async def test_book_snapshot_then_updates(venue: VenueAdapter, tmp_path: Path) -> None:
    depth = 5
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            await h.gateway.subscribe(DataKind.BOOK, h.instrument, depth=depth)
            key = h.instrument.key
            first = await h.collector.wait_for(
                lambda e: isinstance(e, (BookSnapshot, BookDelta)) and e.instrument.key == key)
            assert isinstance(first, BookSnapshot), "a book starts with a snapshot"
            index = h.collector.events.index(first)
            await h.collector.wait_for(
                lambda e: isinstance(e, (BookSnapshot, BookDelta)) and e.instrument.key == key and e is not first,
                start=index)
            await trio.sleep(0.3)
            updates = [e for e in h.collector.events[index:]
                       if isinstance(e, (BookSnapshot, BookDelta)) and e.instrument.key == key]
    book = L2Book(h.instrument)
    for update in updates:
        assert book.apply(update), f"update {update.sequence} did not follow {book.sequence}"
    assert book.in_sync and not book.is_crossed
    assert 1 <= len(book.bids()) <= depth and 1 <= len(book.asks()) <= depth
    assert len(updates) >= 2


async def test_trades(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            await h.gateway.subscribe(DataKind.TRADES, h.instrument)
            trade = await h.collector.wait_for(
                lambda e: isinstance(e, Trade) and e.instrument.key == h.instrument.key)
    assert trade.price > 0 and trade.size > 0 and trade.aggressor in (-1, 0, 1)
    assert trade.ts_event > 0 and trade.ts_recv > 0


async def test_quotes(venue: VenueAdapter, tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            quote = await h.quote()
    assert isinstance(quote, Quote)
    assert 0 < quote.bid < quote.ask and quote.bid_size > 0 and quote.ask_size > 0


async def test_reconnect_resubscribes_after_a_dropped_stream(venue: VenueAdapter, tmp_path: Path) -> None:
    if "ws_drop" not in venue.faults:
        pytest.skip(f"{venue.name} testnet cannot drop streams")
    with trio.fail_after(15):
        async with serve(venue, tmp_path, faults=FaultSettings(ws_drop_after_s=0.6)) as testnet, \
                gateway(venue, testnet) as h:
            await h.gateway.subscribe(DataKind.TRADES, h.instrument)
            await h.gateway.subscribe(DataKind.BOOK, h.instrument, depth=5)
            key = h.instrument.key
            down = await h.collector.wait_for(
                lambda e: isinstance(e, VenueStatus) and e.state is VenueState.DISCONNECTED)
            index = h.collector.events.index(down)
            await h.collector.wait_for(lambda e: isinstance(e, VenueStatus) and e.state is VenueState.CONNECTED,
                                       start=index)
            await h.collector.wait_for(lambda e: isinstance(e, Trade) and e.instrument.key == key, start=index)
            await h.collector.wait_for(lambda e: isinstance(e, BookSnapshot) and e.instrument.key == key,
                                       start=index)
        assert testnet.faults.injected["ws_drop"] >= 1


async def test_malformed_frames_are_reported_and_skipped(venue: VenueAdapter, tmp_path: Path) -> None:
    frames = ("this is not json", "[1, 2, 3]", "{}", *venue.bad_frames)
    with trio.fail_after(15):
        async with serve(venue, tmp_path) as testnet, gateway(venue, testnet) as h:
            await h.gateway.subscribe(DataKind.TRADES, h.instrument)
            key = h.instrument.key
            await h.collector.wait_for(lambda e: isinstance(e, Trade) and e.instrument.key == key)
            before = venue.malformed_count(h.gateway)
            for frame in frames:
                assert testnet.mangler.inject(frame) >= 1
            # every frame reported (the empty object may be merely unhandled), and data keeps flowing
            with trio.fail_after(5):
                while venue.malformed_count(h.gateway) < before + len(frames) - 1:
                    await trio.sleep(0.05)
            index = len(h.collector.events)
            await h.collector.wait_for(lambda e: isinstance(e, Trade) and e.instrument.key == key, start=index)
    assert all(t.price > 0 for t in h.collector.of_type(Trade))
