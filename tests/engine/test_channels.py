import trio

from engine import BookDelta, Instrument, OrderReport, OrderStatus, Quote, Trade
from engine import EventLanes

A = Instrument(venue="sim", symbol="A", base="A", quote="USD", tick_size="1", lot_size="1")
B = Instrument(venue="sim", symbol="B", base="B", quote="USD", tick_size="1", lot_size="1")


def quote(inst: Instrument, px: int) -> Quote:
    return Quote(inst, px, px, px, 1, px + 1, 1)


def report(i: int) -> OrderReport:
    return OrderReport(A, i, i, f"c{i}", f"v{i}", OrderStatus.ACCEPTED)


def drain(lanes: EventLanes) -> list:
    out = []
    while (ev := lanes.receive_nowait()) is not None:
        out.append(ev)
    return out


def test_fifo_below_threshold_and_execution_first() -> None:
    lanes = EventLanes(conflate_above=10)
    lanes.send_market(quote(A, 1))
    lanes.send_market(quote(A, 2))
    lanes.send_execution(report(1))
    got = drain(lanes)
    assert got[0] == report(1)
    assert [q.bid_raw for q in got[1:]] == [1, 2]


def test_quotes_conflate_per_instrument_when_behind_but_orders_never_drop() -> None:
    lanes = EventLanes(conflate_above=2)
    lanes.send_market(quote(A, 1))
    lanes.send_market(quote(B, 1))
    for px in range(2, 50):
        lanes.send_market(quote(A, px))
        lanes.send_market(quote(B, px))
        lanes.send_execution(report(px))
    lanes.send_market(Trade(A, 0, 0, 7, 1))
    lanes.send_market(BookDelta(A, 0, 0, 1, ((1, 1),), ()))
    got = drain(lanes)
    reports = [e for e in got if isinstance(e, OrderReport)]
    quotes = [e for e in got if isinstance(e, Quote)]
    assert len(reports) == 48  # every one
    assert [(q.instrument.symbol, q.bid_raw) for q in quotes] == [("A", 49), ("B", 49)]
    assert any(isinstance(e, Trade) for e in got) and any(isinstance(e, BookDelta) for e in got)
    stats = lanes.statistics()
    assert stats.market_conflated == 96
    assert stats.execution_delivered == stats.execution_received == 48


async def test_receive_waits_and_close_ends() -> None:
    lanes = EventLanes()
    got = []

    async def consumer() -> None:
        try:
            while True:
                got.append(await lanes.receive())
        except trio.EndOfChannel:
            pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.sleep(0)
        lanes.send_execution(report(1))
        await trio.sleep(0.01)
        lanes.close()
    assert got == [report(1)]
