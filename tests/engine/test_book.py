"""L2Book: snapshots, deltas, sequence gaps and the read API."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from engine import BookDelta, BookSnapshot, Instrument, Side
from engine import L2Book

INST = Instrument("sim", "BTC/USD", "BTC", "USD", "0.5", "0.001")  # price_scale 1, size_scale 3
OTHER = Instrument("sim", "ETH/USD", "ETH", "USD", "0.5", "0.001")


def snap(seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]], inst: Instrument = INST) -> BookSnapshot:
    return BookSnapshot(inst, seq * 10, seq * 10 + 1, seq, tuple(bids), tuple(asks))


def delta(seq: int, bids: list[tuple[int, int]] = (), asks: list[tuple[int, int]] = ()) -> BookDelta:  # type: ignore[assignment]
    return BookDelta(INST, seq * 10, seq * 10 + 1, seq, tuple(bids), tuple(asks))


def built() -> L2Book:
    book = L2Book(INST)
    assert book.apply_snapshot(snap(1, [(1000, 5), (995, 7), (990, 9)], [(1005, 4), (1010, 6), (1020, 8)]))
    return book


def test_snapshot_levels_sorted_best_first_and_zero_sizes_dropped() -> None:
    book = L2Book(INST)
    book.apply_snapshot(snap(3, [(990, 9), (1000, 5), (995, 0)], [(1010, 6), (1005, 4), (1007, 0)]))
    assert book.bids() == [(1000, 5), (990, 9)]
    assert book.asks() == [(1005, 4), (1010, 6)]
    assert book.best_bid_raw == 1000 and book.best_ask_raw == 1005
    assert book.best_bid_size_raw == 5 and book.best_ask_size_raw == 4
    assert book.sequence == 3 and book.ts_event == 30 and book.ts_recv == 31
    assert book.in_sync and book.updates == 1


def test_snapshot_replaces_everything() -> None:
    book = built()
    book.apply_snapshot(snap(9, [(900, 1)], []))
    assert book.bids() == [(900, 1)]
    assert book.asks() == [] and book.best_ask_raw is None and book.best_ask_size_raw == 0


def test_delta_adds_updates_and_removes_levels() -> None:
    book = built()
    assert book.apply_delta(delta(2, bids=[(1000, 0), (1002, 3), (995, 1)], asks=[(1005, 2), (1015, 1), (1020, 0)]))
    assert book.bids() == [(1002, 3), (995, 1), (990, 9)]
    assert book.asks() == [(1005, 2), (1010, 6), (1015, 1)]
    assert book.sequence == 2 and book.ts_event == 20 and book.ts_recv == 21


def test_removing_a_missing_level_is_a_no_op() -> None:
    book = built()
    assert book.apply_delta(delta(2, bids=[(777, 0)], asks=[(1111, 0)]))
    assert book.bid_depth == 3 and book.ask_depth == 3


def test_bids_and_asks_take_n() -> None:
    book = built()
    assert book.bids(2) == [(1000, 5), (995, 7)]
    assert book.asks(1) == [(1005, 4)]
    assert book.bids(0) == [] and book.asks(10) == book.asks()


def test_contiguous_gap_goes_out_of_sync_until_a_snapshot() -> None:
    book = built()
    assert not book.apply_delta(delta(3, bids=[(1001, 1)]))  # 2 is missing
    assert not book.in_sync and book.gaps == 1
    assert book.best_bid_raw == 1000  # not applied
    assert not book.apply_delta(delta(4, bids=[(1001, 1)]))  # still ignored, not counted again
    assert book.gaps == 1 and book.sequence == 1
    book.apply_snapshot(snap(10, [(999, 1)], [(1001, 1)]))
    assert book.in_sync
    assert book.apply_delta(delta(11, asks=[(1002, 2)]))
    assert book.asks() == [(1001, 1), (1002, 2)]


@pytest.mark.parametrize("seq", [1, 0])
def test_replayed_or_old_delta_is_a_gap(seq: int) -> None:
    book = built()
    assert not book.apply_delta(delta(seq, bids=[(1001, 1)]))
    assert not book.in_sync and book.gaps == 1


def test_delta_before_any_snapshot_is_refused() -> None:
    book = L2Book(INST)
    assert not book.in_sync
    assert not book.apply_delta(delta(1, bids=[(1000, 1)]))
    assert book.bids() == []


def test_increasing_sequencing_allows_holes_but_not_going_back() -> None:
    book = L2Book(INST, sequencing="increasing")
    book.apply_snapshot(snap(5, [(1000, 1)], []))
    assert book.apply_delta(delta(9, bids=[(1000, 2)]))
    assert book.bids() == [(1000, 2)]
    assert not book.apply_delta(delta(9, bids=[(1000, 3)]))
    assert not book.in_sync and book.gaps == 1


def test_no_sequencing_applies_anything() -> None:
    book = L2Book(INST, sequencing="none")
    assert book.in_sync
    assert book.apply_delta(delta(0, bids=[(1000, 1)]))
    assert book.apply_delta(delta(0, bids=[(1000, 4)]))
    assert book.bids() == [(1000, 4)] and book.gaps == 0


def test_bad_sequencing_name() -> None:
    with pytest.raises(ValueError, match="sequencing"):
        L2Book(INST, sequencing="strict")


def test_invalidate_then_snapshot() -> None:
    book = built()
    book.invalidate()
    assert not book.in_sync
    assert not book.apply_delta(delta(2, bids=[(1001, 1)]))
    assert book.apply(snap(3, [(1, 1)], [(2, 1)]))
    assert book.in_sync and book.bids() == [(1, 1)]


def test_apply_dispatches_on_type() -> None:
    book = L2Book(INST)
    assert book.apply(snap(1, [(1000, 1)], []))
    assert book.apply(delta(2, asks=[(1005, 1)]))
    assert book.asks() == [(1005, 1)]


def test_update_for_another_instrument_is_an_error() -> None:
    book = built()
    with pytest.raises(ValueError, match="ETH/USD"):
        book.apply_snapshot(snap(2, [], [], inst=OTHER))
    with pytest.raises(ValueError, match="ETH/USD"):
        book.apply_delta(BookDelta(OTHER, 0, 0, 2, ((1, 1),), ()))


def test_decimal_views() -> None:
    book = built()
    assert book.best_bid == Decimal("100.0") and book.best_ask == Decimal("100.5")
    assert book.mid == Decimal("100.25")
    assert book.spread == Decimal("0.5")
    assert not book.is_crossed
    empty = L2Book(INST)
    assert empty.best_bid is None and empty.best_ask is None and empty.mid is None and empty.spread is None


def test_crossed_book_is_reported() -> None:
    book = L2Book(INST)
    book.apply_snapshot(snap(1, [(1005, 1)], [(1005, 1)]))
    assert book.is_crossed and book.spread == Decimal("0.0")


def test_size_at_and_iterators() -> None:
    book = built()
    assert book.size_at(Side.BUY, 995) == 7 and book.size_at(Side.SELL, 1010) == 6
    assert book.size_at(Side.BUY, 1005) == 0
    assert list(book.iter_bids()) == book.bids()
    assert list(book.iter_asks()) == book.asks()
    assert list(book.levels(Side.SELL)) == book.asks()
    assert list(book.levels(Side.BUY)) == book.bids()


def test_cost_to_fill_walks_levels() -> None:
    book = built()
    assert book.cost_to_fill(Side.BUY, 6) == (6, 4 * 1005 + 2 * 1010)
    assert book.cost_to_fill(Side.SELL, 13) == (13, 5 * 1000 + 7 * 995 + 1 * 990)
    assert book.cost_to_fill(Side.BUY, 100) == (18, 4 * 1005 + 6 * 1010 + 8 * 1020)  # runs out
    assert book.cost_to_fill(Side.BUY, 100, limit_raw=1010) == (10, 4 * 1005 + 6 * 1010)
    assert book.cost_to_fill(Side.SELL, 3, limit_raw=1001) == (0, 0)
    assert book.cost_to_fill(Side.BUY, 0) == (0, 0)


def test_vwap_is_exact_or_none() -> None:
    book = built()
    assert book.vwap(Side.BUY, 6) == (Decimal(4 * 1005 + 2 * 1010) / 6) / 10
    assert book.vwap(Side.BUY, 4) == Decimal("100.5")
    assert book.vwap(Side.BUY, 19) is None
    assert book.vwap(Side.SELL, 6, limit_raw=1000) is None


def test_repr_says_sync_state() -> None:
    book = built()
    assert "in sync" in repr(book) and "BTC/USD" in repr(book)
    book.invalidate()
    assert "OUT OF SYNC" in repr(book)


def test_random_deltas_match_a_plain_dict_model() -> None:
    rng = random.Random(7)
    book = L2Book(INST)
    model: dict[int, dict[int, int]] = {1: {}, -1: {}}
    book.apply_snapshot(snap(1, [], []))
    for seq in range(2, 3_000):
        bids = [(rng.randrange(900, 1000), rng.choice((0, 0, rng.randrange(1, 50)))) for _ in range(rng.randrange(0, 4))]
        asks = [(rng.randrange(1001, 1100), rng.choice((0, 0, rng.randrange(1, 50)))) for _ in range(rng.randrange(0, 4))]
        assert book.apply_delta(delta(seq, bids=bids, asks=asks))
        for side, levels in ((1, bids), (-1, asks)):
            for p, s in levels:
                if s:
                    model[side][p] = s
                else:
                    model[side].pop(p, None)
        if seq % 97 == 0:
            assert book.bids() == sorted(model[1].items(), reverse=True)
            assert book.asks() == sorted(model[-1].items())
    assert book.bids() == sorted(model[1].items(), reverse=True)
    assert book.asks() == sorted(model[-1].items())
    assert book.best_bid_raw == max(model[1]) and book.best_ask_raw == min(model[-1])
