"""Closed trades: running sums give the FIFO-paired trades exactly."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from backtest.report import ClosedTrades, closed_trade_table, closed_trades
from engine import Fill, Instrument, Liquidity, Side

BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")
ETH = Instrument(venue="sim", symbol="ETH-PERP", base="ETH", quote="USD", tick_size="0.05", lot_size="0.01",
                 kind="linear", settle="USD", multiplier="0.1")


def random_fills(seed: int, n: int = 800) -> list[Fill]:
    rng = random.Random(seed)
    fills = []
    pos: dict[tuple[str, str], int] = {}
    for i in range(n):
        inst = rng.choice([BTC, ETH])
        sid = rng.choice(["a", "b"])
        lots = rng.randint(1, 4)
        p = pos.get((sid, inst.key), 0)
        # mostly back towards flat: many trades close, some flip, some add
        side = (Side.SELL if p > 0 else Side.BUY) if p and rng.random() < 0.7 else rng.choice([Side.BUY, Side.SELL])
        pos[(sid, inst.key)] = p + lots * side
        qty = inst.size_of(lots * inst.size_raw(inst.lot_size))
        price = inst.price_of(rng.randint(900, 1100) * inst.price_raw(inst.tick_size))
        fee = (qty * price * D("0.0007")).quantize(D("1e-9")) if rng.random() < 0.8 else D(0)
        fills.append(Fill(inst, i * 10, i * 10, f"c{i}", f"v{i}", f"t{i}", side, price, qty, fee, "USD",
                          Liquidity.TAKER, sid))
    return fills


def fifo_reference(fills: list[Fill]) -> tuple[list[tuple[str, str, Side, D, D, D, int, int]], int]:
    """Lots paired first in, first out, one by one: (strategy, instrument, side, qty, gross, fees,
    ts_open, ts_close) per closed trade."""
    books: dict[tuple[str, str], list] = {}  # key -> [side, lots [[qty, price]], gross, fees, qty, ts_open]
    out = []
    for f in fills:
        key = (f.strategy_id, f.instrument.key)
        mult = f.instrument.multiplier
        t = books.get(key)
        if t is None or t[0] is f.side:
            if t is None:
                t = books[key] = [f.side, [], D(0), D(0), D(0), f.ts_event]
            t[1].append([f.qty, f.price])
            t[3] += f.fee
            t[4] += f.qty
            continue
        left = f.qty
        open_qty = sum(lot[0] for lot in t[1])
        closing = min(left, open_qty)
        fee_close = f.fee * closing / f.qty if closing < f.qty else f.fee
        t[3] += fee_close
        while left and t[1]:
            lot = t[1][0]
            take = min(lot[0], left)
            t[2] += (f.price - lot[1]) * take * mult * int(t[0])
            lot[0] -= take
            left -= take
            if not lot[0]:
                t[1].pop(0)
        if not t[1]:
            out.append((key[0], key[1], t[0], t[4], t[2], t[3], t[5], f.ts_event))
            del books[key]
            if left:
                books[key] = [f.side, [[left, f.price]], D(0), f.fee - fee_close, left, f.ts_event]
    return out, len(books)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_running_sums_equal_fifo_pairing(seed: int) -> None:
    fills = random_fills(seed)
    table, n_open = closed_trade_table(fills)
    ref, ref_open = fifo_reference(fills)
    assert len(table) == len(ref) > 100
    got = [(t.strategy_id, t.instrument, t.side, t.qty, t.gross_pnl, t.fees, t.ts_open, t.ts_close) for t in table]
    assert got == ref
    assert all(t.net_pnl == t.gross_pnl - t.fees for t in table)
    assert n_open == ref_open


def test_flip_splits_the_fee_and_opens_the_next_trade() -> None:
    def fill(i: int, side: Side, qty: str, price: str, fee: str) -> Fill:
        return Fill(BTC, i, i, f"c{i}", "", f"t{i}", side, D(price), D(qty), D(fee), "USD", Liquidity.TAKER, "s")

    fills = [fill(1, Side.BUY, "1.000", "100.00", "0.4"), fill(2, Side.SELL, "3.000", "110.00", "0.9"),
             fill(3, Side.BUY, "2.000", "105.00", "0.2")]
    table, n_open = closed_trade_table(fills)
    assert isinstance(table, ClosedTrades) and n_open == 0
    long, short = table
    assert (long.side, long.qty, long.gross_pnl, long.fees, long.net_pnl) == (Side.BUY, D(1), D(10), D("0.7"), D("9.3"))
    assert (short.side, short.qty, short.gross_pnl, short.fees) == (Side.SELL, D(2), D(10), D("0.8"))
    assert short.ts_open == 2 and short.ts_close == 3 and short.n_fills == 2
    assert closed_trades(fills) == ([long, short], 0)
    assert table == [long, short] and table[-1:] == [short]


def test_an_open_trade_is_counted_not_closed() -> None:
    f = Fill(BTC, 1, 1, "c", "", "t", Side.BUY, D("100.00"), D("1.000"), D("0.001"), "BTC", Liquidity.TAKER, "s")
    assert closed_trade_table([f]) == (ClosedTrades([]), 1)
