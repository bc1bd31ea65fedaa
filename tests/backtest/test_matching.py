"""The matching engine: priority, order types, time in force, stops, amend, self-trade prevention."""

from __future__ import annotations

import random

import pytest

from backtest.matching import (
    BookResult,
    EventKind,
    Match,
    OrderBook,
    OrderEvent,
    PostOnlyMode,
    SelfTradePrevention,
)
from engine import Liquidity, OrderStatus, OrderType, Side, TimeInForce

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
STOP_MARKET, STOP_LIMIT = OrderType.STOP_MARKET, OrderType.STOP_LIMIT
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


def limit(book: OrderBook, owner: str, side: Side, qty: int, price: int, **kw: object) -> BookResult:
    return book.submit(owner, side, LIMIT, qty, price_raw=price, **kw)  # type: ignore[arg-type]


def market(book: OrderBook, owner: str, side: Side, qty: int, **kw: object) -> BookResult:
    return book.submit(owner, side, MARKET, qty, **kw)  # type: ignore[arg-type]


def fills(result: BookResult) -> list[tuple[int, int, int]]:
    """(maker order id, price, size) of each match."""
    return [(m.maker_order_id, m.price_raw, m.size_raw) for m in result.matches]


def kinds(result: BookResult) -> list[str]:
    return [r.kind.value if type(r) is OrderEvent else "match" for r in result.reports]


# -- priority and matching --------------------------------------------------------------------


def test_price_then_time_priority_and_maker_prices() -> None:
    book = OrderBook()
    a = limit(book, "a", SELL, 3, 101).order_id
    b = limit(book, "b", SELL, 3, 101).order_id
    c = limit(book, "c", SELL, 3, 100).order_id
    d = limit(book, "d", SELL, 3, 101).order_id
    r = market(book, "t", BUY, 10)
    assert fills(r) == [(c, 100, 3), (a, 101, 3), (b, 101, 3), (d, 101, 1)]
    assert r.status is OrderStatus.FILLED and r.ok
    assert book.asks() == [(101, 2)]
    assert book.get(d).leaves_raw == 2 and book.get(d).status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_match_records_both_sides() -> None:
    book = OrderBook()
    maker = limit(book, "mm", SELL, 5, 100, client_id="m-1").order_id
    r = limit(book, "tk", BUY, 7, 100, client_id="t-1", ts=42)
    [m] = r.matches
    assert m == Match(1, 42, 100, 5, BUY, maker, "mm", "m-1", 0, r.order_id, "tk", "t-1", 2)
    assert m.maker_side is SELL
    assert m.liquidity_of(maker) is Liquidity.MAKER and m.liquidity_of(r.order_id) is Liquidity.TAKER
    with pytest.raises(ValueError):
        m.liquidity_of(999)
    assert r.status is OrderStatus.PARTIALLY_FILLED and r.filled_raw == 5
    assert book.bids() == [(100, 2)] and book.asks() == []
    assert kinds(r) == ["accepted", "match"]


def test_trade_ids_count_from_one() -> None:
    book = OrderBook()
    for _ in range(3):
        limit(book, "a", SELL, 1, 100)
    r = market(book, "b", BUY, 3)
    assert [m.trade_id for m in r.matches] == [1, 2, 3]
    limit(book, "a", SELL, 1, 100)
    assert [m.trade_id for m in market(book, "b", BUY, 1).matches] == [4]


def test_limit_takes_only_up_to_its_price_then_rests() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 2, 100)
    limit(book, "a", SELL, 2, 101)
    limit(book, "a", SELL, 2, 102)
    r = limit(book, "b", BUY, 10, 101)
    assert [(p, s) for _, p, s in fills(r)] == [(100, 2), (101, 2)]
    assert book.bids() == [(101, 6)] and book.asks() == [(102, 2)]
    assert book.last_price_raw == 101


def test_resting_limit_that_does_not_cross_is_accepted() -> None:
    book = OrderBook()
    r = limit(book, "a", BUY, 5, 99, ts=7)
    assert r.ok and r.status is OrderStatus.ACCEPTED and r.reason == ""
    assert r.reports == (OrderEvent(EventKind.ACCEPTED, r.order_id, "a", "", 7, 5, ""),)
    assert book.best_bid_raw == 99 and book.best_ask_raw is None


def test_market_without_liquidity_expires() -> None:
    book = OrderBook()
    r = market(book, "a", BUY, 5)
    assert r.status is OrderStatus.EXPIRED and r.ok
    assert kinds(r) == ["accepted", "expired"]
    assert "liquidity" in r.reason
    assert len(book) == 0


def test_market_remainder_expires_after_walking_the_book() -> None:
    book = OrderBook()
    limit(book, "a", BUY, 2, 99)
    limit(book, "a", BUY, 2, 98)
    r = market(book, "b", SELL, 5)
    assert [(p, s) for _, p, s in fills(r)] == [(99, 2), (98, 2)]
    assert r.status is OrderStatus.EXPIRED
    assert r.reports[-1].leaves_raw == 1  # type: ignore[union-attr]
    assert book.bids() == []


def test_ioc_takes_then_expires_the_rest() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 100)
    r = limit(book, "b", BUY, 5, 100, time_in_force=IOC)
    assert fills(r)[0][1:] == (100, 3)
    assert r.status is OrderStatus.EXPIRED and kinds(r) == ["accepted", "match", "expired"]
    assert book.bids() == []
    r = limit(book, "b", BUY, 5, 99, time_in_force=IOC)
    assert r.status is OrderStatus.EXPIRED and r.matches == []


def test_ioc_filled_completely_is_filled() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 5, 100)
    r = limit(book, "b", BUY, 5, 101, time_in_force=IOC)
    assert r.status is OrderStatus.FILLED and kinds(r) == ["accepted", "match"]


def test_fok_without_enough_liquidity_expires_untouched() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 100)
    limit(book, "a", SELL, 3, 102)
    r = limit(book, "b", BUY, 5, 101, time_in_force=FOK)  # only 3 at or below 101
    assert r.status is OrderStatus.EXPIRED and r.matches == []
    assert book.asks() == [(100, 3), (102, 3)]
    r = market(book, "b", BUY, 7, time_in_force=FOK)
    assert r.status is OrderStatus.EXPIRED and book.asks() == [(100, 3), (102, 3)]


def test_fok_fills_completely_across_levels() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 100)
    limit(book, "a", SELL, 3, 102)
    r = limit(book, "b", BUY, 5, 102, time_in_force=FOK)
    assert r.status is OrderStatus.FILLED and r.filled_raw == 5
    assert book.asks() == [(102, 1)]
    assert market(book, "c", BUY, 1, time_in_force=FOK).status is OrderStatus.FILLED


def test_fok_without_any_crossing_liquidity_expires() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 105)
    r = limit(book, "b", BUY, 1, 100, time_in_force=FOK)
    assert r.status is OrderStatus.EXPIRED and book.asks() == [(105, 3)]


def test_fok_counts_liquidity_as_self_trade_prevention_will_see_it() -> None:
    book = OrderBook()  # CANCEL_TAKER
    limit(book, "x", SELL, 3, 100)
    limit(book, "b", SELL, 3, 100)  # b's own order: the taker would be canceled here
    limit(book, "x", SELL, 3, 100)
    r = limit(book, "b", BUY, 5, 100, time_in_force=FOK)
    assert r.status is OrderStatus.EXPIRED and r.matches == []
    assert limit(book, "b", BUY, 3, 100, time_in_force=FOK).status is OrderStatus.FILLED
    maker = OrderBook(self_trade=SelfTradePrevention.CANCEL_MAKER)
    limit(maker, "x", SELL, 3, 100)
    own = limit(maker, "b", SELL, 3, 100).order_id
    limit(maker, "x", SELL, 3, 100)
    r = limit(maker, "b", BUY, 6, 100, time_in_force=FOK)
    assert r.status is OrderStatus.FILLED and own not in maker
    assert ("canceled", own) in [(e.kind.value, e.order_id) for e in r.reports if type(e) is OrderEvent]


# -- post-only --------------------------------------------------------------------------------


def test_post_only_that_would_take_is_rejected() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 100)
    r = limit(book, "b", BUY, 1, 100, post_only=True)
    assert not r.ok and r.status is OrderStatus.REJECTED and "post-only" in r.reason
    assert kinds(r) == ["rejected"]
    assert book.asks() == [(100, 3)] and book.bids() == []
    r = limit(book, "b", BUY, 1, 99, post_only=True)
    assert r.ok and r.status is OrderStatus.ACCEPTED and book.bids() == [(99, 1)]


def test_post_only_reprice_mode_moves_behind_the_touch() -> None:
    book = OrderBook(tick_raw=5, post_only=PostOnlyMode.REPRICE)
    limit(book, "a", SELL, 3, 100)
    limit(book, "a", BUY, 3, 90)
    r = limit(book, "b", BUY, 1, 110, post_only=True)
    assert r.ok and r.matches == [] and book.get(r.order_id).price_raw == 95  # type: ignore[union-attr]
    r = limit(book, "b", SELL, 1, 80, post_only=True)
    assert book.get(r.order_id).price_raw == 100  # type: ignore[union-attr]
    assert book.asks() == [(100, 4)] and book.bids() == [(95, 1), (90, 3)]


def test_post_only_reprice_with_no_room_is_rejected() -> None:
    book = OrderBook(tick_raw=5, post_only=PostOnlyMode.REPRICE)
    limit(book, "a", SELL, 3, 5)
    r = limit(book, "b", BUY, 1, 10, post_only=True)
    assert r.status is OrderStatus.REJECTED


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(side=BUY, type=LIMIT, qty_raw=0, price_raw=100), "quantity must be positive"),
        (dict(side=BUY, type=LIMIT, qty_raw=-3, price_raw=100), "quantity must be positive"),
        (dict(side=BUY, type=LIMIT, qty_raw=3, price_raw=100), "not a multiple of the lot"),
        (dict(side=BUY, type=LIMIT, qty_raw=4, price_raw=101), "not a multiple of the tick"),
        (dict(side=BUY, type=LIMIT, qty_raw=4), "needs a positive price"),
        (dict(side=BUY, type=LIMIT, qty_raw=4, price_raw=0), "needs a positive price"),
        (dict(side=BUY, type=MARKET, qty_raw=4, price_raw=100), "takes no price"),
        (dict(side=BUY, type=LIMIT, qty_raw=4, price_raw=100, trigger_raw=100), "takes no trigger"),
        (dict(side=BUY, type=STOP_MARKET, qty_raw=4), "needs a positive trigger"),
        (dict(side=BUY, type=STOP_LIMIT, qty_raw=4, trigger_raw=100), "needs a positive price"),
        (dict(side=BUY, type=STOP_MARKET, qty_raw=4, trigger_raw=101), "trigger 101 is not a multiple"),
        (dict(side=BUY, type=MARKET, qty_raw=4, post_only=True), "post-only needs a GTC limit"),
        (dict(side=BUY, type=LIMIT, qty_raw=4, price_raw=100, post_only=True, time_in_force=IOC), "post-only"),
        (dict(side=0, type=LIMIT, qty_raw=4, price_raw=100), "bad side"),
    ],
)
def test_invalid_orders_are_rejected_with_a_reason(args: dict, message: str) -> None:  # type: ignore[type-arg]
    book = OrderBook(tick_raw=5, lot_raw=2)
    side, type_, qty = args.pop("side"), args.pop("type"), args.pop("qty_raw")
    r = book.submit("a", side, type_, qty, **args)
    assert not r.ok and r.status is OrderStatus.REJECTED and message in r.reason
    assert kinds(r) == ["rejected"] and len(book) == 0


def test_plain_int_sides_are_accepted_as_sides() -> None:
    book = OrderBook()
    r = book.submit("a", 1, LIMIT, 1, price_raw=100, time_in_force=IOC)  # type: ignore[arg-type]
    assert r.status is OrderStatus.EXPIRED
    limit(book, "a", SELL, 1, 100)
    r = book.submit("b", 1, MARKET, 1)  # type: ignore[arg-type]
    assert r.matches[0].taker_side is BUY


def test_bad_book_parameters() -> None:
    with pytest.raises(ValueError):
        OrderBook(tick_raw=0)


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_removes_and_a_second_cancel_fails() -> None:
    book = OrderBook()
    a = limit(book, "a", BUY, 3, 100).order_id
    limit(book, "b", BUY, 2, 100)
    r = book.cancel(a, ts=5, reason="user")
    assert r.ok and r.status is OrderStatus.CANCELED
    assert r.reports == (OrderEvent(EventKind.CANCELED, a, "a", "", 5, 3, "user"),)
    assert book.bids() == [(100, 2)] and a not in book
    r = book.cancel(a)
    assert not r.ok and r.status is None and "not open" in r.reason and r.reports == ()


def test_cancel_of_a_filled_order_fails() -> None:
    book = OrderBook()
    a = limit(book, "a", BUY, 3, 100).order_id
    market(book, "b", SELL, 3)
    assert not book.cancel(a).ok


def test_cancel_last_order_of_a_level_removes_the_level() -> None:
    book = OrderBook()
    a = limit(book, "a", BUY, 3, 100).order_id
    limit(book, "a", BUY, 3, 99)
    book.cancel(a)
    assert book.best_bid_raw == 99 and book.bids() == [(99, 3)]


def test_cancel_all_by_owner() -> None:
    book = OrderBook()
    a1 = limit(book, "a", BUY, 1, 100).order_id
    limit(book, "b", BUY, 1, 100)
    a2 = book.submit("a", SELL, STOP_MARKET, 1, trigger_raw=90).order_id
    a3 = limit(book, "a", SELL, 1, 110).order_id
    r = book.cancel_all("a", ts=3)
    assert [(e.kind, e.order_id) for e in r.reports] == [(EventKind.CANCELED, i) for i in (a1, a2, a3)]  # type: ignore[union-attr]
    assert [o.owner for o in book.open_orders()] == ["b"]
    assert book.next_sell_trigger_raw is None
    book.cancel_all()
    assert len(book) == 0 and book.bids() == []


def test_many_cancels_in_one_level_keep_fifo_and_sizes_right() -> None:
    book = OrderBook()
    ids = [limit(book, "a", SELL, 1, 100).order_id for _ in range(200)]
    for oid in ids[:150]:  # the front of the queue goes: forces compaction
        book.cancel(oid)
    for oid in ids[160:190]:  # and some of the middle
        book.cancel(oid)
    live = ids[150:160] + ids[190:]
    assert book.asks() == [(100, len(live))]
    assert [o.order_id for o in book.queue(SELL, 100)] == live
    r = market(book, "b", BUY, len(live))
    assert [m.maker_order_id for m in r.matches] == live
    assert book.asks() == []


# -- amend -------------------------------------------------------------------------------------


def test_amend_quantity_down_keeps_priority() -> None:
    book = OrderBook()
    a = limit(book, "a", SELL, 5, 100).order_id
    b = limit(book, "b", SELL, 5, 100).order_id
    r = book.amend(a, qty_raw=2, ts=9)
    assert r.ok and r.reports == (OrderEvent(EventKind.AMENDED, a, "a", "", 9, 2, ""),)
    assert book.asks() == [(100, 7)]
    assert [m.maker_order_id for m in market(book, "t", BUY, 3).matches] == [a, b]


def test_amend_quantity_up_loses_priority() -> None:
    book = OrderBook()
    a = limit(book, "a", SELL, 5, 100).order_id
    b = limit(book, "b", SELL, 5, 100).order_id
    assert book.amend(a, qty_raw=6).ok
    assert [o.order_id for o in book.queue(SELL, 100)] == [b, a]
    assert book.asks() == [(100, 11)]


def test_amend_price_loses_priority_even_when_moving_back() -> None:
    book = OrderBook()
    a = limit(book, "a", SELL, 5, 100).order_id
    b = limit(book, "b", SELL, 5, 100).order_id
    book.amend(a, price_raw=101)
    assert book.asks() == [(100, 5), (101, 5)]
    book.amend(a, price_raw=100)
    assert [o.order_id for o in book.queue(SELL, 100)] == [b, a]
    assert book.asks() == [(100, 10)]


def test_amend_to_a_marketable_price_matches() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 101)
    b = limit(book, "b", BUY, 5, 99).order_id
    r = book.amend(b, price_raw=101)
    assert kinds(r) == ["amended", "match"] and r.status is OrderStatus.PARTIALLY_FILLED
    assert book.bids() == [(101, 2)] and book.asks() == []
    assert book.get(b).qty_raw == 5 and book.get(b).filled_raw == 3  # type: ignore[union-attr]


def test_amend_after_a_partial_fill() -> None:
    book = OrderBook()
    a = limit(book, "a", SELL, 5, 100).order_id
    market(book, "b", BUY, 2)
    assert not book.amend(a, qty_raw=2).ok  # not above the filled 2
    r = book.amend(a, qty_raw=4)
    assert r.ok and book.get(a).leaves_raw == 2 and book.asks() == [(100, 2)]  # type: ignore[union-attr]
    r = book.amend(a, qty_raw=9)
    assert r.status is OrderStatus.PARTIALLY_FILLED and book.asks() == [(100, 7)]


def test_amend_that_would_make_post_only_take_is_refused() -> None:
    book = OrderBook()
    limit(book, "a", SELL, 3, 101)
    b = limit(book, "b", BUY, 5, 99, post_only=True).order_id
    r = book.amend(b, price_raw=101)
    assert not r.ok and "post-only" in r.reason
    assert book.get(b).price_raw == 99 and book.bids() == [(99, 5)]  # type: ignore[union-attr]


def test_amend_refusals() -> None:
    book = OrderBook(tick_raw=5)
    a = limit(book, "a", SELL, 5, 100).order_id
    assert "not open" in book.amend(12345, qty_raw=1).reason
    assert "tick" in book.amend(a, price_raw=101).reason
    assert "positive" in book.amend(a, qty_raw=0).reason
    assert "no waiting trigger" in book.amend(a, trigger_raw=100).reason
    s = book.submit("a", SELL, STOP_MARKET, 1, trigger_raw=90).order_id
    assert "no price" in book.amend(s, price_raw=95).reason
    r = book.amend(a, qty_raw=5)
    assert r.ok and r.reports == ()  # nothing changed


def test_amend_stop_trigger() -> None:
    book = OrderBook()
    s1 = book.submit("a", BUY, STOP_MARKET, 1, trigger_raw=110).order_id
    s2 = book.submit("a", BUY, STOP_MARKET, 1, trigger_raw=120).order_id
    assert book.next_buy_trigger_raw == 110
    book.amend(s1, trigger_raw=130)
    assert book.next_buy_trigger_raw == 120
    book.amend(s2, qty_raw=1)
    r = book.amend(s2, trigger_raw=125, qty_raw=3)
    assert r.ok and book.get(s2).trigger_raw == 125 and book.get(s2).qty_raw == 3  # type: ignore[union-attr]


def test_amend_stop_trigger_to_one_already_reached_triggers_it() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 10, 100)
    market(book, "x", BUY, 1)  # last = 100
    s = book.submit("a", BUY, STOP_MARKET, 2, trigger_raw=105).order_id
    r = book.amend(s, trigger_raw=100)
    assert kinds(r) == ["amended", "triggered", "match"] and r.status is OrderStatus.FILLED


# -- stops ------------------------------------------------------------------------------------


def test_buy_stop_triggers_when_last_reaches_it_and_enters_as_market() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 2, 100)
    limit(book, "m", SELL, 5, 101)
    s = book.submit("s", BUY, STOP_MARKET, 3, trigger_raw=101, ts=1)
    assert s.status is OrderStatus.ACCEPTED and kinds(s) == ["accepted"]
    assert book.next_buy_trigger_raw == 101
    r = market(book, "t", BUY, 2, ts=2)  # trades at 100: not yet
    assert kinds(r) == ["accepted", "match"]
    r = market(book, "t", BUY, 1, ts=3)  # trades at 101: triggers
    assert kinds(r) == ["accepted", "match", "triggered", "match"]
    trig = r.reports[2]
    assert trig.order_id == s.order_id and trig.ts == 3  # type: ignore[union-attr]
    assert r.reports[3].taker_order_id == s.order_id and r.reports[3].size_raw == 3  # type: ignore[union-attr]
    assert s.order_id not in book and book.next_buy_trigger_raw is None


def test_sell_stop_limit_triggers_and_rests_behind_older_orders() -> None:
    book = OrderBook()
    limit(book, "m", BUY, 1, 95)
    old = limit(book, "o", SELL, 4, 96).order_id  # already resting at 96
    s = book.submit("s", SELL, STOP_LIMIT, 3, trigger_raw=95, price_raw=96).order_id
    r = market(book, "t", SELL, 1)  # trades at 95 -> stop triggers, sell limit 96 does not cross (no bids)
    assert kinds(r) == ["accepted", "match", "triggered"]
    view = book.get(s)
    assert view is not None and view.triggered and view.type is STOP_LIMIT and view.status is OrderStatus.ACCEPTED
    assert [o.order_id for o in book.queue(SELL, 96)] == [old, s]


def test_triggered_stop_limit_takes_within_its_limit() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 1, 100)
    limit(book, "m", SELL, 2, 101)
    limit(book, "m", SELL, 2, 103)
    s = book.submit("s", BUY, STOP_LIMIT, 5, trigger_raw=100, price_raw=101).order_id
    r = market(book, "t", BUY, 1)
    assert [(m.taker_order_id, m.price_raw, m.size_raw) for m in r.matches] == [(r.order_id, 100, 1), (s, 101, 2)]
    assert book.bids() == [(101, 3)] and book.get(s).status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_stop_already_reached_when_submitted_triggers_at_once() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 5, 100)
    market(book, "x", BUY, 1)  # last 100
    r = book.submit("s", BUY, STOP_MARKET, 2, trigger_raw=99)
    assert kinds(r) == ["accepted", "triggered", "match"] and r.status is OrderStatus.FILLED
    r = book.submit("s", SELL, STOP_MARKET, 2, trigger_raw=100)  # sell stop: last <= trigger
    assert kinds(r) == ["accepted", "triggered", "expired"]  # no bids


def test_stop_waits_while_there_is_no_last_price() -> None:
    book = OrderBook()
    r = book.submit("s", BUY, STOP_MARKET, 2, trigger_raw=1)
    assert r.status is OrderStatus.ACCEPTED and len(book) == 1


def test_stops_triggered_by_one_match_enter_by_trigger_then_age() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 1, 100)
    limit(book, "m", SELL, 100, 110)
    s_late = book.submit("a", BUY, STOP_MARKET, 1, trigger_raw=99).order_id
    s_high = book.submit("b", BUY, STOP_MARKET, 1, trigger_raw=100).order_id
    s_low = book.submit("c", BUY, STOP_MARKET, 1, trigger_raw=98).order_id
    s_same = book.submit("d", BUY, STOP_MARKET, 1, trigger_raw=99).order_id
    r = market(book, "t", BUY, 1)  # one print at 100 triggers all four
    triggered = [e.order_id for e in r.reports if type(e) is OrderEvent and e.kind is EventKind.TRIGGERED]
    assert triggered == [s_low, s_late, s_same, s_high]


def test_stop_cascade_is_deterministic() -> None:
    def run() -> list[tuple[str, int, int]]:
        book = OrderBook()
        limit(book, "m", BUY, 1, 100)
        limit(book, "m", BUY, 1, 99)
        limit(book, "m", BUY, 1, 98)
        limit(book, "m", BUY, 5, 90)
        book.submit("s1", SELL, STOP_MARKET, 1, trigger_raw=100)  # triggered by the first print
        book.submit("s2", SELL, STOP_MARKET, 1, trigger_raw=99)  # triggered by s1's print at 99
        book.submit("s3", SELL, STOP_MARKET, 2, trigger_raw=98)  # triggered by s2's print at 98
        r = market(book, "t", SELL, 1)
        return [(e.kind.value, e.order_id, 0) if isinstance(e, OrderEvent) else ("match", e.taker_order_id, e.price_raw)
                for e in r.reports]

    first = run()
    assert first == run()
    assert [x for x in first if x[0] != "accepted"] == [
        ("match", 8, 100), ("triggered", 5, 0), ("match", 5, 99), ("triggered", 6, 0), ("match", 6, 98),
        ("triggered", 7, 0), ("match", 7, 90),
    ]


def test_update_last_price_triggers_stops_from_outside() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 5, 100)
    s = book.submit("s", BUY, STOP_MARKET, 2, trigger_raw=105).order_id
    assert book.update_last_price(104).reports == ()
    r = book.update_last_price(106, ts=8)
    assert r.ok and kinds(r) == ["triggered", "match"] and r.reports[1].taker_order_id == s  # type: ignore[union-attr]
    assert book.last_price_raw == 100  # the stop's own trade


def test_stops_ignore_own_trades_when_trigger_stops_is_off() -> None:
    book = OrderBook(trigger_stops=False)
    limit(book, "m", SELL, 5, 100)
    book.submit("s", BUY, STOP_MARKET, 2, trigger_raw=100)
    r = market(book, "t", BUY, 1)
    assert kinds(r) == ["accepted", "match"] and book.next_buy_trigger_raw == 100
    assert book.update_last_price(100).matches != []


def test_pop_triggered_stops_hands_them_over_in_order() -> None:
    book = OrderBook(trigger_stops=False)
    a = book.submit("x", SELL, STOP_MARKET, 1, trigger_raw=95).order_id
    b = book.submit("x", SELL, STOP_LIMIT, 1, trigger_raw=97, price_raw=96).order_id
    c = book.submit("x", SELL, STOP_MARKET, 1, trigger_raw=90).order_id
    d = book.submit("x", BUY, STOP_MARKET, 1, trigger_raw=120).order_id
    assert book.next_sell_trigger_raw == 97 and book.next_buy_trigger_raw == 120
    assert book.pop_triggered_stops(SELL, 98) == []
    views = book.pop_triggered_stops(SELL, 95)
    assert [v.order_id for v in views] == [b, a] and all(v.triggered for v in views)
    assert views[0].price_raw == 96 and views[0].type is STOP_LIMIT
    assert a not in book and b not in book and c in book and d in book
    assert book.next_sell_trigger_raw == 90
    assert [v.order_id for v in book.pop_triggered_stops(BUY, 130)] == [d]
    assert book.next_buy_trigger_raw is None


def test_cancel_waiting_stop() -> None:
    book = OrderBook()
    s = book.submit("s", SELL, STOP_MARKET, 2, trigger_raw=95).order_id
    assert book.cancel(s).ok and book.next_sell_trigger_raw is None and len(book) == 0


def test_stop_with_ioc_expires_its_remainder_when_triggered() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 1, 100)
    limit(book, "m", SELL, 1, 102)
    s = book.submit("s", BUY, STOP_LIMIT, 3, trigger_raw=100, price_raw=101, time_in_force=IOC).order_id
    r = market(book, "t", BUY, 1)
    assert kinds(r) == ["accepted", "match", "triggered", "expired"]
    assert s not in book


def test_triggered_post_only_stop_limit_that_would_take_is_canceled() -> None:
    book = OrderBook()
    limit(book, "m", SELL, 1, 100)
    limit(book, "m", SELL, 1, 101)
    s = book.submit("s", BUY, STOP_LIMIT, 1, trigger_raw=100, price_raw=101, post_only=True).order_id
    r = market(book, "t", BUY, 1)
    assert kinds(r)[-2:] == ["triggered", "canceled"] and s not in book


# -- self-trade prevention ---------------------------------------------------------------------


def test_cancel_taker_is_the_default() -> None:
    book = OrderBook()
    other = limit(book, "x", SELL, 2, 100).order_id
    own = limit(book, "a", SELL, 2, 100).order_id
    limit(book, "x", SELL, 2, 100)
    r = limit(book, "a", BUY, 5, 100)
    assert fills(r) == [(other, 100, 2)]
    assert r.status is OrderStatus.CANCELED and r.reason == "self-trade prevention"
    assert kinds(r) == ["accepted", "match", "canceled"]
    assert own in book and book.bids() == [] and book.asks() == [(100, 4)]


def test_cancel_maker_cancels_resting_and_goes_on() -> None:
    book = OrderBook(self_trade=SelfTradePrevention.CANCEL_MAKER)
    limit(book, "x", SELL, 2, 100)
    own = limit(book, "a", SELL, 2, 100).order_id
    last = limit(book, "x", SELL, 2, 100).order_id
    r = limit(book, "a", BUY, 5, 100)
    assert kinds(r) == ["accepted", "match", "canceled", "match"]
    assert r.reports[2].order_id == own  # type: ignore[union-attr]
    assert r.reports[3].maker_order_id == last  # type: ignore[union-attr]
    assert own not in book and book.bids() == [(100, 1)] and r.status is OrderStatus.PARTIALLY_FILLED


def test_cancel_both() -> None:
    book = OrderBook(self_trade=SelfTradePrevention.CANCEL_BOTH)
    own = limit(book, "a", SELL, 2, 100).order_id
    limit(book, "x", SELL, 2, 100)
    r = limit(book, "a", BUY, 5, 100)
    assert kinds(r) == ["accepted", "canceled", "canceled"]
    assert own not in book and r.status is OrderStatus.CANCELED and book.asks() == [(100, 2)]


def test_no_self_trade_prevention_trades_with_itself() -> None:
    book = OrderBook(self_trade=SelfTradePrevention.NONE)
    own = limit(book, "a", SELL, 2, 100).order_id
    r = limit(book, "a", BUY, 2, 100)
    assert fills(r) == [(own, 100, 2)] and r.status is OrderStatus.FILLED
    m = r.matches[0]
    assert m.maker_owner == m.taker_owner == "a"


# -- external sweeps --------------------------------------------------------------------------


def test_sweep_matches_in_priority_without_moving_last_or_triggering() -> None:
    book = OrderBook()
    a = limit(book, "a", BUY, 2, 100).order_id
    b = limit(book, "a", BUY, 2, 100).order_id
    c = limit(book, "a", BUY, 2, 99).order_id
    limit(book, "a", BUY, 2, 98)
    book.submit("a", SELL, STOP_MARKET, 1, trigger_raw=100)
    ms = book.sweep(SELL, 99, 5, ts=4)
    assert [(m.maker_order_id, m.price_raw, m.size_raw) for m in ms] == [(a, 100, 2), (b, 100, 2), (c, 99, 1)]
    assert all(m.taker_order_id == 0 and m.taker_owner == "" and m.ts == 4 for m in ms)
    assert book.last_price_raw is None and book.next_sell_trigger_raw == 100
    assert book.bids() == [(99, 1), (98, 2)]
    assert [m.size_raw for m in book.sweep(SELL, 99)] == [1]  # all at or above 99
    assert book.sweep(SELL, 99) == [] and book.sweep(BUY, None, 3) == []
    assert book.bids() == [(98, 2)]


def test_sweep_ignores_self_trade_prevention() -> None:
    book = OrderBook()
    limit(book, "", SELL, 2, 100)  # even an owner named like the sweep's empty owner
    assert [m.size_raw for m in book.sweep(BUY, 100, 10)] == [2]


# -- queries and determinism ------------------------------------------------------------------


def test_depth_and_views() -> None:
    book = OrderBook()
    a = limit(book, "a", BUY, 2, 100, client_id="c1", reduce_only=True, ts=3).order_id
    limit(book, "b", BUY, 3, 100)
    limit(book, "b", BUY, 1, 98)
    limit(book, "a", SELL, 4, 103)
    bids, asks = book.depth()
    assert bids == [(100, 5), (98, 1)] and asks == [(103, 4)]
    assert book.depth(1) == ([(100, 5)], [(103, 4)])
    v = book.get(a)
    assert v is not None and v.client_id == "c1" and v.reduce_only and v.ts == 3 and v.side is BUY
    assert v.filled_raw == 0 and v.time_in_force is GTC
    assert book.get(999) is None
    assert [o.order_id for o in book.open_orders("a")] == [a, 4]
    assert book.order_count == 4 and len(book.open_orders()) == 4
    assert book.queue(SELL, 50) == []
    assert "OrderBook" in repr(book)


def _script(seed: int) -> list[object]:
    rng = random.Random(seed)
    book = OrderBook(tick_raw=1)
    out: list[object] = []
    open_ids: list[int] = []
    for i in range(2_000):
        roll = rng.random()
        owner = rng.choice("abc")
        side = rng.choice((BUY, SELL))
        if roll < 0.45:
            r = limit(book, owner, side, rng.randrange(1, 10), rng.randrange(95, 106), ts=i)
        elif roll < 0.55:
            r = market(book, owner, side, rng.randrange(1, 15), ts=i)
        elif roll < 0.62:
            r = book.submit(owner, side, STOP_MARKET, rng.randrange(1, 5), trigger_raw=rng.randrange(95, 106), ts=i)
        elif roll < 0.85 and open_ids:
            r = book.cancel(rng.choice(open_ids), ts=i)
        elif open_ids:
            r = book.amend(rng.choice(open_ids), qty_raw=rng.randrange(1, 12), ts=i)
        else:
            continue
        if r.ok and r.order_id and r.order_id in book:
            open_ids.append(r.order_id)
        out.append(r)
    out.append(book.depth())
    return out


def test_same_commands_give_identical_results() -> None:
    assert repr(_script(5)) == repr(_script(5))


class _Resting:
    def __init__(self, oid: int, owner: str, side: int, price: int, seq: int, leaves: int) -> None:
        self.oid, self.owner, self.side, self.price, self.seq, self.leaves = oid, owner, side, price, seq, leaves


class _Reference:
    """A deliberately naive book: a dict of resting orders, sorted on demand, cancel-taker STP."""

    def __init__(self) -> None:
        self.orders: dict[int, _Resting] = {}
        self.seq = 0

    def submit(self, oid: int, owner: str, side: int, qty: int, price: int | None, tif: TimeInForce) -> list[tuple[int, int, int]]:
        out: list[tuple[int, int, int]] = []
        opposite = sorted((o for o in self.orders.values() if o.side == -side),
                          key=lambda o: (o.price if side > 0 else -o.price, o.seq))
        for o in opposite:
            if qty == 0 or (price is not None and (o.price > price if side > 0 else o.price < price)):
                break
            if o.owner == owner:  # cancel-taker
                return out
            size = min(qty, o.leaves)
            qty -= size
            o.leaves -= size
            out.append((o.oid, o.price, size))
            if o.leaves == 0:
                del self.orders[o.oid]
        if qty and price is not None and tif is GTC:
            self.seq += 1
            self.orders[oid] = _Resting(oid, owner, side, price, self.seq, qty)
        return out

    def levels(self, side: int) -> list[tuple[int, int]]:
        agg: dict[int, int] = {}
        for o in self.orders.values():
            if o.side == side:
                agg[o.price] = agg.get(o.price, 0) + o.leaves
        return sorted(agg.items(), reverse=side > 0)


def test_random_commands_match_a_naive_reference() -> None:
    rng = random.Random(11)
    book, ref = OrderBook(), _Reference()
    for _ in range(3_000):
        roll = rng.random()
        if roll < 0.2 and ref.orders:
            oid = rng.choice(sorted(ref.orders))
            assert book.cancel(oid).ok
            del ref.orders[oid]
            continue
        if roll < 0.3 and ref.orders:
            resting = ref.orders[rng.choice(sorted(ref.orders))]
            if resting.leaves > 1:
                view = book.get(resting.oid)
                assert view is not None
                assert book.amend(resting.oid, qty_raw=view.qty_raw - 1).ok  # keeps its place
                resting.leaves -= 1
            continue
        owner = rng.choice("abcd")
        side = rng.choice((BUY, SELL))
        qty = rng.randrange(1, 20)
        tif = rng.choice((GTC, GTC, GTC, IOC))
        price: int | None = None
        if rng.random() < 0.15:
            r = market(book, owner, side, qty)
        else:
            price = rng.randrange(90, 111)
            r = limit(book, owner, side, qty, price, time_in_force=tif)
        assert fills(r) == ref.submit(r.order_id, owner, int(side), qty, price, tif)
    assert book.bids() == ref.levels(1)
    assert book.asks() == ref.levels(-1)
