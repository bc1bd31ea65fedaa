"""The ledger comparison on constructed ledgers: agreeing books count 0, each divergence moves its counter."""

from __future__ import annotations

from decimal import Decimal

import attrs

from .compare import ClientView, Divergence, JournalRow, VenueFill, VenueLedger, VenueOrder, compare, orders_unknown_to_client
from .ledger import parse_final_positions

BTC = "dzengi:BTC/USD"
Q = Decimal("0.01")


def _fill(fill_id: str, order_id: str, side: str = "BUY", qty: Decimal = Q, ts_ms: int = 0) -> VenueFill:
    return VenueFill(fill_id, order_id, BTC, side, qty, ts_ms or int(fill_id))


def _row(cid: str, vid: str, status: str = "filled", filled: Decimal = Q) -> JournalRow:
    return JournalRow(cid, vid, BTC, status, filled)


def _agreeing() -> tuple[VenueLedger, ClientView]:
    """A buy filled in two parts, a sell filled at once, a limit canceled: books agree."""
    ledger = VenueLedger(
        orders=(VenueOrder("v1", BTC, "c1"), VenueOrder("v2", BTC, "c2"), VenueOrder("v3", BTC, "c3")),
        fills=(_fill("1", "v1", qty=Decimal("0.004")), _fill("2", "v1", qty=Decimal("0.006")),
               _fill("3", "v2", "SELL", Decimal("0.005"))),
        balances={"USD": Decimal("99850.25"), "BTC": Decimal("2.005")},
    )
    client = ClientView(
        journal=(_row("c1", "v1"), _row("c2", "v2", filled=Decimal("0.005")),
                 _row("c3", "v3", "canceled", Decimal(0))),
        positions={BTC: Decimal("0.005")},
        balances={"USD": Decimal("99850.25"), "BTC": Decimal("2.005"), "ETH": Decimal(0)},
    )
    return ledger, client


def _divergences(d: Divergence) -> dict[str, int]:
    return {k: v for k, v in attrs.asdict(d).items() if k not in ("venue_orders", "venue_fills")}


def test_agreeing_books_count_nothing() -> None:
    ledger, client = _agreeing()
    d = compare(ledger, client, position_limit=Decimal("0.01"))
    assert (d.venue_orders, d.venue_fills) == (3, 3)
    assert set(_divergences(d).values()) == {0}
    assert d.total() == 0


def test_an_order_missing_from_the_journal_is_unknown_and_its_fill_missing() -> None:
    ledger, client = _agreeing()
    ledger = attrs.evolve(ledger, orders=(*ledger.orders, VenueOrder("v4", BTC, "c4")),
                          fills=(*ledger.fills, _fill("4", "v4", "SELL", Decimal("0.005"))))
    d = compare(ledger, attrs.evolve(client, positions={BTC: Decimal(0)}))
    assert _divergences(d) == {**_divergences(Divergence()), "orders_unknown_to_client": 1, "fills_missing": 1}


def test_an_order_is_matched_by_client_id_when_the_journal_lacks_the_venue_id() -> None:
    ledger, client = _agreeing()
    journal = (_row("c1", ""), *client.journal[1:])  # answer lost (5xx), reconciled later by client id
    assert compare(ledger, attrs.evolve(client, journal=journal)).orders_unknown_to_client == 0
    journal = (_row("c9", ""), *client.journal[1:])  # no id in common: unknown
    assert compare(ledger, attrs.evolve(client, journal=journal)).orders_unknown_to_client == 1


def test_a_row_left_unknown_counts() -> None:
    ledger, client = _agreeing()
    journal = (*client.journal, _row("c5", "", "unknown", Decimal(0)))
    d = compare(ledger, attrs.evolve(client, journal=journal))
    assert _divergences(d) == {**_divergences(Divergence()), "orders_left_unknown": 1}


def test_one_missing_fill_counts_one() -> None:
    ledger, client = _agreeing()
    journal = (_row("c1", "v1", "partially_filled", Decimal("0.004")), *client.journal[1:])
    d = compare(ledger, attrs.evolve(client, journal=journal))
    assert d.fills_missing == 1
    assert d.fills_duplicated == 0


def test_one_duplicated_fill_counts_one() -> None:
    ledger, client = _agreeing()
    journal = (client.journal[0], _row("c2", "v2", filled=Decimal("0.010")), client.journal[2])
    d = compare(ledger, attrs.evolve(client, journal=journal))
    assert d.fills_duplicated == 1
    assert d.fills_missing == 0


def test_a_fill_for_an_order_the_venue_does_not_list_is_duplicated() -> None:
    ledger, client = _agreeing()
    journal = (*client.journal, _row("c7", "v7", "filled", Q))
    assert compare(ledger, attrs.evolve(client, journal=journal)).fills_duplicated == 1


def test_a_position_difference_counts_per_instrument_and_absence_is_not_observable() -> None:
    ledger, client = _agreeing()
    assert compare(ledger, attrs.evolve(client, positions={BTC: Decimal("0.01")})).position_mismatches == 1
    assert compare(ledger, attrs.evolve(client, positions={})).position_mismatches == 1
    other = {BTC: Decimal("0.005"), "dzengi:ETH/USD": Decimal(1)}
    assert compare(ledger, attrs.evolve(client, positions=other)).position_mismatches == 1
    unobserved = compare(ledger, attrs.evolve(client, positions=None))
    assert unobserved.position_mismatches == -1
    assert unobserved.total() == 0


def test_a_balance_difference_counts_per_asset_and_absence_is_not_observable() -> None:
    ledger, client = _agreeing()
    off = {"USD": Decimal("99850.24"), "BTC": Decimal("2.005")}
    assert compare(ledger, attrs.evolve(client, balances=off)).balance_mismatches == 1
    both = {"USD": Decimal("99850.25"), "BTC": Decimal("2.015"), "ETH": Decimal("0.1")}
    assert compare(ledger, attrs.evolve(client, balances=both)).balance_mismatches == 2
    unobserved = compare(ledger, attrs.evolve(client, balances=None))
    assert unobserved.balance_mismatches == -1
    assert unobserved.total() == 0


def test_derivative_balances_are_compared_at_cost_whatever_the_lot_netting() -> None:
    # buy 1 @ 100, buy 1 @ 110, sell 1 @ 120; fees aside. Average cost: realized 15, open 1 @ 105;
    # FIFO: realized 20, open 1 @ 110. Balance minus open cost is 1000 + 15 - 105 = 1000 + 20 - 110.
    ledger = VenueLedger(balances={"USD": Decimal("1015")}, position_costs={"USD": Decimal("105")})
    client = ClientView(balances={"USD": Decimal("1020")}, position_costs={"USD": Decimal("110")})
    assert compare(ledger, client).balance_mismatches == 0
    assert compare(ledger, attrs.evolve(client, position_costs={})).balance_mismatches == 1
    near = attrs.evolve(ledger, balances={"USD": Decimal("1015.0000000000001")})  # a 28-digit average's rounding
    assert compare(near, client).balance_mismatches == 0
    assert compare(attrs.evolve(ledger, balances={"USD": Decimal("1015.00000001")}), client).balance_mismatches == 1


def test_the_limit_is_checked_against_the_venues_running_position() -> None:
    # +0.01 then +0.01 (peak 0.02) then -0.02: the final position is flat, the peak broke 0.015
    ledger = VenueLedger(orders=(VenueOrder("a", BTC), VenueOrder("b", BTC), VenueOrder("c", BTC)),
                         fills=(_fill("1", "a"), _fill("2", "b"), _fill("3", "c", "SELL", 2 * Q)))
    client = ClientView(journal=(_row("a", "a"), _row("b", "b"), _row("c", "c", filled=2 * Q)),
                        positions={}, balances={})
    assert compare(ledger, client, position_limit=Decimal("0.015")).limit_breaches == 1
    assert compare(ledger, client, position_limit=Decimal("0.02")).limit_breaches == 0
    assert compare(ledger, client).limit_breaches == 0


def test_an_order_still_working_at_the_venue_counts() -> None:
    ledger, client = _agreeing()
    ledger = attrs.evolve(ledger, orders=(*ledger.orders[:2], VenueOrder("v3", BTC, "c3", open=True)))
    d = compare(ledger, client)
    assert _divergences(d) == {**_divergences(Divergence()), "orders_left_working": 1}
    assert d.total() == 1


def test_final_positions_are_read_from_the_last_final_line() -> None:
    out = ("[status] state active positions: none | open orders 0 | realized 0 | fills 0 | errors 0\n"
           "[final] state halted positions: dzengi:BTC/USD 0.0100 @ 29979.07 upnl 0.070900; "
           "dzengi:ETH/USD -1.5 @ 2000 | open orders 1 | realized 0 | fills 1 | errors 0\n")
    assert parse_final_positions(out) == {BTC: Decimal("0.0100"), "dzengi:ETH/USD": Decimal("-1.5")}
    assert parse_final_positions("[final] state halted positions: none | open orders 0 | fills 0\n") == {}
    assert parse_final_positions(out.splitlines()[0]) is None  # killed: no final line


def test_the_orders_unknown_to_the_client_are_named() -> None:
    ledger, client = _agreeing()
    stranger = VenueOrder("v-999", ledger.orders[0].instrument, client_order_id="not-ours")
    ledger = attrs.evolve(ledger, orders=(*ledger.orders, stranger))
    assert orders_unknown_to_client(ledger, client.journal) == [stranger]
    assert compare(ledger, client).orders_unknown_to_client == 1


def test_an_unfilled_finished_order_whose_answer_was_lost_pairs_with_the_client_s_settled_row() -> None:
    """A venue without client ids that lists no finished unfilled orders cannot show a lost create that
    expired unfilled: the client settled it as having executed nothing, and that is what happened."""
    ledger, client = _agreeing()
    inst = ledger.orders[0].instrument
    expired = VenueOrder("v-777", inst)
    lost = JournalRow("c-777", "", inst, "rejected")
    ledger = attrs.evolve(ledger, orders=(*ledger.orders, expired))
    assert orders_unknown_to_client(ledger, (*client.journal, lost)) == []
    assert compare(ledger, attrs.evolve(client, journal=(*client.journal, lost))).orders_unknown_to_client == 0
    # not when the venue order is still working, had a fill, or the row still waits for its answer
    for venue_order, row in [(attrs.evolve(expired, open=True), lost),
                             (expired, attrs.evolve(lost, status="unknown")),
                             (expired, attrs.evolve(lost, status="denied")),
                             (expired, attrs.evolve(lost, instrument="other:X"))]:
        other = attrs.evolve(ledger, orders=(*ledger.orders[:-1], venue_order))
        assert compare(other, attrs.evolve(client, journal=(*client.journal, row))).orders_unknown_to_client == 1
