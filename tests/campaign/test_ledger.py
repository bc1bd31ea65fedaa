"""Both sides of a session as the campaign reads them: the testnet's state file and the client's journal."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.exchange import Account, Balance, ExchangeOrder, Ledger, OrderFill
from engine import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from venues._testnet.state import encode_ledger
from venues.dzengi.testnet import default_instruments

from .ledger import LedgerError, journal_balances, journal_position_costs, read_journal, read_state_ledger

D = Decimal


def _order(order_id: str, account: str, side: Side, status: OrderStatus, filled: str, cid: str = "") -> ExchangeOrder:
    return ExchangeOrder(order_id, account, "BTC/USD", side, OrderType.LIMIT, D("0.01"), D("30000"), None,
                         TimeInForce.GTC, False, False, 1, client_order_id=cid, status=status, filled_qty=D(filled))


def _fill(trade_id: int, order_id: str, account: str, side: Side, qty: str, price: str, fee: str) -> OrderFill:
    q, p = D(qty), D(price)
    return OrderFill(trade_id, order_id, account, "BTC/USD", side, p, q, p * q, D(fee), "USD", Liquidity.TAKER,
                     1_000 + trade_id)


def _state(path: Path) -> None:
    accounts = [Account("campaign", "", "", balances={"USD": Balance(D("99699.4"), D("300")), "BTC": Balance(D("2.01"))}),
                Account("other", "", "", balances={"USD": Balance(D("5"))})]
    orders = [_order("o1", "campaign", Side.BUY, OrderStatus.FILLED, "0.01", "c1"),
              _order("o2", "campaign", Side.BUY, OrderStatus.ACCEPTED, "0"),
              _order("o3", "other", Side.SELL, OrderStatus.CANCELED, "0")]
    fills = [_fill(7, "o1", "campaign", Side.BUY, "0.004", "30000", "0.24"),
             _fill(8, "o1", "campaign", Side.BUY, "0.006", "30000", "0.36"),
             _fill(9, "o3", "other", Side.SELL, "0.01", "30000", "0")]
    ledger = Ledger(accounts=accounts, orders=orders, fills=fills, positions=[], history=[], next_trade_id=10,
                    next_exec_id=1, id_state=random.Random(1).getstate())
    path.write_text(encode_ledger(ledger))


def test_the_state_file_gives_one_accounts_orders_fills_and_balances(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    _state(path)
    ledger = read_state_ledger(path, "dzengi", "campaign")
    assert [(o.venue_order_id, o.instrument, o.client_order_id, o.open) for o in ledger.orders] == [
        ("o1", "dzengi:BTC/USD", "c1", False), ("o2", "dzengi:BTC/USD", "", True)]
    assert [(f.fill_id, f.venue_order_id, f.side, f.qty) for f in ledger.fills] == [
        ("7", "o1", "BUY", D("0.004")), ("8", "o1", "BUY", D("0.006"))]
    assert ledger.balances == {"USD": D("99699.4"), "BTC": D("2.01")}  # total, locked included
    assert ledger.positions() == {"dzengi:BTC/USD": D("0.010")}


def test_a_missing_or_foreign_state_file_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError):
        read_state_ledger(tmp_path / "none.json", "dzengi", "campaign")
    (tmp_path / "bad.json").write_text('{"format": 0}')
    with pytest.raises(LedgerError):
        read_state_ledger(tmp_path / "bad.json", "dzengi", "campaign")


def _journal(path: Path, fills: list[tuple[str, str, str, str, str, str]],
             funding: list[tuple[str, str, str]] | None = None) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE funding (instrument TEXT, payment_id TEXT, asset TEXT, amount TEXT, position_qty TEXT, "
               "price TEXT, rate TEXT, ts INTEGER, PRIMARY KEY (instrument, payment_id))")
    db.executemany("INSERT INTO funding VALUES (?, ?, ?, ?, '0', '0', '0', ?)",
                   [(inst, str(i), asset, amount, i) for i, (inst, asset, amount) in enumerate(funding or [])])
    db.execute("CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, side TEXT NOT NULL)")
    db.execute("CREATE TABLE fills (instrument TEXT, trade_id TEXT, client_order_id TEXT, price TEXT, qty TEXT, "
               "fee TEXT, fee_asset TEXT, ts INTEGER, PRIMARY KEY (instrument, trade_id))")
    db.executemany("INSERT INTO orders VALUES (?, ?)", [("c1", "BUY"), ("c2", "SELL")])
    db.executemany("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [(inst, str(i), cid, price, qty, fee, "USD", i) for i, (inst, cid, price, qty, fee, _) in
                    enumerate(fills)])
    db.commit()
    db.close()


def test_the_journal_implies_balances_by_replaying_its_fills(tmp_path: Path) -> None:
    instruments = {i.key: i for i in default_instruments()}
    start = {"USD": D("100000"), "BTC": D("2")}
    path = tmp_path / "journal.sqlite"
    _journal(path, [("dzengi:BTC/USD", "c1", "30000", "0.01", "0.6", ""),
                    ("dzengi:BTC/USD", "c2", "30100", "0.004", "0.2", "")])
    assert journal_balances(path, instruments, start) == {
        "USD": D("100000") - D("300") - D("0.6") + D("120.4") - D("0.2"), "BTC": D("2.006")}
    assert journal_balances(tmp_path / "absent.sqlite", instruments, start) == start


def test_journaled_funding_payments_move_the_implied_balances(tmp_path: Path) -> None:
    instruments = {i.key: i for i in default_instruments()}
    path = tmp_path / "journal.sqlite"
    _journal(path, [("dzengi:BTC/USD", "c1", "30000", "0.01", "0.6", "")],
             funding=[("dzengi:BTC/USD", "USD", "-0.03"), ("dzengi:BTC/USD", "USD", "0.01")])
    assert journal_balances(path, instruments, {"USD": D("1000")})["USD"] == D("1000") - D("300.6") - D("0.02")


def test_a_journaled_fill_of_an_unlisted_instrument_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    _journal(path, [("dzengi:NOPE/USD", "c1", "1", "1", "0", "")])
    with pytest.raises(LedgerError):
        journal_balances(path, {i.key: i for i in default_instruments()}, {"USD": D(1)})


def test_the_journal_implies_the_open_derivative_cost_of_its_lots(tmp_path: Path) -> None:
    from venues.ekiden.testnet import default_instruments as ekiden_instruments

    instruments = {i.key: i for i in ekiden_instruments()}
    path = tmp_path / "journal.sqlite"
    _journal(path, [("ekiden:BTC-USD", "c1", "30000", "0.01", "0.1", ""),
                    ("ekiden:BTC-USD", "c1", "30100", "0.01", "0.1", ""),
                    ("ekiden:BTC-USD", "c2", "30200", "0.01", "0.1", "")])
    start = {"USD": D("1000")}
    assert journal_balances(path, instruments, start) == {"USD": D("1000") + D("2") - D("0.3")}  # FIFO: 30000 closed
    assert journal_position_costs(path, instruments, start) == {"USD": D("301")}  # 0.01 open @ 30100


def test_an_orders_filled_quantity_counts_only_as_far_as_its_fills_were_journaled(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (client_order_id TEXT PRIMARY KEY, venue_order_id TEXT, instrument TEXT, "
               "status TEXT, filled_qty TEXT)")
    db.execute("CREATE TABLE fills (client_order_id TEXT, qty TEXT)")
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", [("c1", "v1", "dzengi:BTC/USD", "filled", "0.01"),
                                                                 ("c2", "v2", "dzengi:BTC/USD", "filled", "0.01")])
    db.executemany("INSERT INTO fills VALUES (?, ?)", [("c1", "0.004"), ("c1", "0.006"), ("c2", "0.004")])
    db.commit()
    db.close()
    assert [(r.client_order_id, r.filled_qty) for r in read_journal(path)] == [("c1", D("0.010")), ("c2", D("0.004"))]
