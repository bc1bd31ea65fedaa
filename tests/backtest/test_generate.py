"""The synthetic market generator: determinism, exact grids and microstructure sanity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from backtest.data import SCHEMAS, iter_book_events, open_dataset
from backtest.generate import (
    BTC_USD,
    DEMO_START_NS,
    ETH_USD,
    MINUTE_NS,
    bars_from_trades,
    book_from_quotes,
    generate_bars,
    generate_book,
    generate_dataset,
    generate_quotes,
    generate_tape,
    generate_trades,
    main,
)
from engine import BookSnapshot, DataError

TICK = 1  # sim:BTC/USD: tick 0.01 at price scale 2
LOT = 1  # sim:BTC/USD: lot 0.00001 at size scale 5
HOUR_NS = 3_600 * 10**9


def digest(columns: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(columns):
        h.update(name.encode())
        h.update(np.ascontiguousarray(columns[name]).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tape() -> dict[str, dict[str, np.ndarray]]:
    return generate_tape(BTC_USD, seed=7, duration_ns=6 * HOUR_NS)


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_differs() -> None:
    assert digest(generate_bars(BTC_USD, 5_000, seed=1)) == digest(generate_bars(BTC_USD, 5_000, seed=1))
    assert digest(generate_bars(BTC_USD, 5_000, seed=1)) != digest(generate_bars(BTC_USD, 5_000, seed=2))
    assert digest(generate_trades(BTC_USD, 3_000, seed=1)) == digest(generate_trades(BTC_USD, 3_000, seed=1))
    assert digest(generate_trades(BTC_USD, 3_000, seed=1)) != digest(generate_trades(BTC_USD, 3_000, seed=2))
    assert digest(generate_book(BTC_USD, 2_000, seed=3)) == digest(generate_book(BTC_USD, 2_000, seed=3))
    assert digest(generate_book(BTC_USD, 2_000, seed=3)) != digest(generate_book(BTC_USD, 2_000, seed=4))
    # instruments draw from their own streams
    assert not np.array_equal(generate_bars(BTC_USD, 100, seed=1)["close"] // 100,
                              generate_bars(ETH_USD, 100, seed=1, start_price="42000")["close"] // 100)


def test_generate_dataset_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    def files(path: Path) -> dict[str, bytes]:
        return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}

    args = {"days": 0.5, "tape_hours": 0.25, "kinds": {BTC_USD.key: ("bars", "trades", "quotes", "book"),
                                                       ETH_USD.key: ("bars",)}}
    generate_dataset(tmp_path / "a", seed=11, **args)
    generate_dataset(tmp_path / "b", seed=11, **args)
    generate_dataset(tmp_path / "c", seed=12, **args)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["sim.BTC-USD.trades/price.npy"] != files(tmp_path / "c")["sim.BTC-USD.trades/price.npy"]


def test_counts_are_exact() -> None:
    assert len(generate_trades(BTC_USD, 1234, seed=5)["price"]) == 1234
    assert len(generate_quotes(BTC_USD, 777, seed=5)["bid"]) == 777
    assert len(generate_bars(ETH_USD, 99, seed=5)["close"]) == 99
    assert len(generate_trades(BTC_USD, 0, seed=5)["price"]) == 0
    assert set(generate_trades(BTC_USD, 5, seed=5)) == set(SCHEMAS["trades"])
    assert set(generate_quotes(BTC_USD, 5, seed=5)) == set(SCHEMAS["quotes"])
    assert set(generate_bars(BTC_USD, 5, seed=5)) == set(SCHEMAS["bars"])
    assert set(generate_book(BTC_USD, 5, seed=5)) == set(SCHEMAS["book"])
    assert generate_trades(BTC_USD, 5, seed=5)["trade_id"].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(DataError, match="exactly one of"):
        generate_tape(BTC_USD, seed=1, n_trades=5, n_quotes=5)


# -- bars -----------------------------------------------------------------------------------------


def test_bars_are_on_the_grid_and_consistent() -> None:
    n = 200_000
    bars = generate_bars(BTC_USD, n, seed=3, start_ns=DEMO_START_NS)
    o, h, lo, c, v = (bars[k] for k in ("open", "high", "low", "close", "volume"))
    assert all(bars[k].dtype == np.int64 for k in bars)
    assert np.all(o % TICK == 0) and np.all(h % TICK == 0) and np.all(lo % TICK == 0) and np.all(c % TICK == 0)
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c)) and np.all(lo > 0)
    assert np.all(v > 0) and np.all(v % LOT == 0)
    assert np.array_equal(o[1:], c[:-1]) and o[0] == 4_200_000
    assert np.array_equal(bars["ts_event"], DEMO_START_NS + np.arange(n) * MINUTE_NS)
    assert np.array_equal(bars["ts_recv"], bars["ts_event"] + MINUTE_NS)
    assert np.mean(h > np.maximum(o, c)) > 0.5  # real wicks, not just the body

    r = np.diff(np.log(c.astype(float)))
    annual = np.std(r) * np.sqrt(365.25 * 1440)
    assert 0.55 * 0.6 < annual < 0.55 * 1.6
    # volatility clusters: absolute returns stay autocorrelated over an hour
    a = np.abs(r) - np.mean(np.abs(r))
    assert np.dot(a[:-60], a[60:]) / np.dot(a, a) > 0.1
    # intraday seasonality: 13-17 UTC busier and more volatile than 01-05 UTC
    hour = (bars["ts_event"][1:] // 3_600_000_000_000) % 24
    assert np.mean(np.abs(r)[(hour >= 13) & (hour < 17)]) > 1.3 * np.mean(np.abs(r)[(hour >= 1) & (hour < 5)])
    assert np.mean(v[1:][(hour >= 13) & (hour < 17)]) > 1.3 * np.mean(v[1:][(hour >= 1) & (hour < 5)])


def test_bars_overrides() -> None:
    bars = generate_bars(ETH_USD, 10, seed=1, start_price="1234.56", interval_ns=5 * MINUTE_NS, start_ns=10**18)
    assert bars["open"][0] == 123_456
    assert bars["ts_recv"][0] == 10**18 + 5 * MINUTE_NS


# -- trades and quotes ----------------------------------------------------------------------------


def prevailing_quote(tape: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Index of the last quote strictly before each trade."""
    return np.searchsorted(tape["quotes"]["ts_event"], tape["trades"]["ts_event"], side="left") - 1


def test_trades_print_at_the_prevailing_quote(tape: dict[str, dict[str, np.ndarray]]) -> None:
    t, q = tape["trades"], tape["quotes"]
    at = prevailing_quote(tape)
    assert np.all(at >= 0)
    buy = t["aggressor"] == 1
    assert set(np.unique(t["aggressor"]).tolist()) == {-1, 1}
    np.testing.assert_array_equal(t["price"][buy], q["ask"][at][buy])
    np.testing.assert_array_equal(t["price"][~buy], q["bid"][at][~buy])
    assert np.all(t["size"][buy] <= q["ask_size"][at][buy])
    assert np.all(t["size"][~buy] <= q["bid_size"][at][~buy])


def test_trade_and_quote_fields(tape: dict[str, dict[str, np.ndarray]]) -> None:
    t, q = tape["trades"], tape["quotes"]
    assert len(t["price"]) > 20_000
    assert np.all(t["price"] % TICK == 0) and np.all(t["size"] > 0) and np.all(t["size"] % LOT == 0)
    assert np.array_equal(t["trade_id"], 1 + np.arange(len(t["price"])))
    for cols in (t, q):
        assert np.all(np.diff(cols["ts_recv"]) >= 0) and np.all(np.diff(cols["ts_event"]) >= 0)
        assert np.all(cols["ts_recv"] >= cols["ts_event"])
        assert np.all(cols["ts_event"] >= DEMO_START_NS) and np.all(cols["ts_event"] < DEMO_START_NS + 6 * HOUR_NS)
    spread = q["ask"] - q["bid"]
    assert spread.min() >= TICK and 1.5 < np.mean(spread) / TICK < 6  # a few ticks
    assert np.all(q["bid_size"] > 0) and np.all(q["ask_size"] > 0)
    # lognormal sizes: right-skewed
    assert np.mean(t["size"]) > 1.3 * np.median(t["size"])


def test_aggressor_persists_and_moves_the_mid(tape: dict[str, dict[str, np.ndarray]]) -> None:
    t, q = tape["trades"], tape["quotes"]
    side = t["aggressor"]
    repeat = np.mean(side[1:] == side[:-1])
    assert 0.65 < repeat < 0.75  # aggressor_persistence = 0.7
    at = prevailing_quote(tape)
    mid = (q["bid"] + q["ask"]) / 2
    move = mid[np.minimum(at + 1, len(mid) - 1)] - mid[at]
    assert np.corrcoef(side, move)[0, 1] > 0.05


def test_spread_widens_with_volatility(tape: dict[str, dict[str, np.ndarray]]) -> None:
    q = tape["quotes"]
    minute = (q["ts_event"] - DEMO_START_NS) // MINUTE_NS
    mid = (q["bid"] + q["ask"]) / 2
    moves = np.abs(np.diff(mid))
    per_minute_vol = np.bincount(minute[1:], weights=moves) / np.maximum(np.bincount(minute[1:]), 1)
    per_minute_spread = np.bincount(minute, weights=q["ask"] - q["bid"]) / np.maximum(np.bincount(minute), 1)
    assert np.corrcoef(per_minute_vol, per_minute_spread)[0, 1] > 0.2


def test_arrivals_cluster(tape: dict[str, dict[str, np.ndarray]]) -> None:
    per_10s = np.bincount((tape["trades"]["ts_event"] - DEMO_START_NS) // 10**10)
    assert per_10s.var() > 2 * per_10s.mean()  # a plain Poisson process would give about 1


# -- book -----------------------------------------------------------------------------------------


def test_book_is_consistent_with_quotes_and_never_crossed(tmp_path: Path) -> None:
    from backtest.data import DatasetWriter

    quotes = generate_quotes(BTC_USD, 20_000, seed=9)
    book = book_from_quotes(BTC_USD, quotes, seed=9, depth=10, snapshot_interval_ns=MINUTE_NS)
    writer = DatasetWriter(tmp_path / "ds", [BTC_USD], durable=False)
    writer.add_book(BTC_USD, **book)
    ds = open_dataset(tmp_path / "ds")
    stored = ds.columns("sim.BTC-USD.book")
    np.testing.assert_array_equal(stored["lvl_price"], book["lvl_price"])  # already in the stored layout
    assert np.array_equal(np.diff(stored["sequence"]), np.ones(len(stored["sequence"]) - 1))

    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    snapshots = deltas = 0
    for i, event in enumerate(iter_book_events(ds)):
        if isinstance(event, BookSnapshot):
            if i:  # a snapshot follows a delta and must equal the book the deltas built
                assert dict(event.bids) == bids and dict(event.asks) == asks
            bids, asks = dict(event.bids), dict(event.asks)
            snapshots += 1
            assert all(s > 0 for _, s in event.bids + event.asks)
        else:
            deltas += 1
            for levels, side in ((event.bids, bids), (event.asks, asks)):
                for price, size in levels:
                    if size:
                        side[price] = size
                    else:
                        del side[price]
        assert 1 <= len(bids) <= 10 and 1 <= len(asks) <= 10
        best_bid, best_ask = max(bids), min(asks)
        assert best_bid < best_ask
        row = int(np.searchsorted(quotes["ts_event"], event.ts_event, side="right")) - 1
        assert (best_bid, bids[best_bid], best_ask, asks[best_ask]) == (
            quotes["bid"][row], quotes["bid_size"][row], quotes["ask"][row], quotes["ask_size"][row])
        assert all(p % TICK == 0 for p in bids) and all(p % TICK == 0 for p in asks)
    assert deltas == 19_999
    minutes = (quotes["ts_event"][-1] - quotes["ts_event"][0]) / MINUTE_NS
    assert minutes - 1 <= snapshots <= minutes + 2  # one per minute


# -- bars from trades and whole data sets ---------------------------------------------------------


def test_bars_from_trades_by_hand() -> None:
    m = MINUTE_NS
    trades = {"ts_event": np.array([5, 10, 20, m + 1, 3 * m + 2]), "price": np.array([100, 105, 95, 101, 99]),
              "size": np.array([1, 2, 3, 4, 5])}
    bars = bars_from_trades(trades, interval_ns=m, start_ns=0, end_ns=5 * m)
    assert bars["open"].tolist() == [100, 101, 101, 99, 99]
    assert bars["high"].tolist() == [105, 101, 101, 99, 99]
    assert bars["low"].tolist() == [95, 101, 101, 99, 99]
    assert bars["close"].tolist() == [95, 101, 101, 99, 99]
    assert bars["volume"].tolist() == [6, 4, 0, 5, 0]
    assert bars["ts_event"].tolist() == [0, m, 2 * m, 3 * m, 4 * m]
    assert bars["ts_recv"].tolist() == [m, 2 * m, 3 * m, 4 * m, 5 * m]


def test_dataset_bars_agree_with_its_trades(tmp_path: Path) -> None:
    ds = generate_dataset(tmp_path / "ds", [BTC_USD], seed=5, days=1, tape_hours=1, kinds=("bars", "trades"))
    assert [s.name for s in ds.streams] == ["sim.BTC-USD.trades", "sim.BTC-USD.bars-1m"]
    bars = ds.columns("sim.BTC-USD.bars-1m")
    trades = ds.columns("sim.BTC-USD.trades")
    assert len(bars["close"]) == 1440
    tail = bars_from_trades(trades, interval_ns=MINUTE_NS, start_ns=int(bars["ts_event"][-60]),
                            end_ns=int(bars["ts_recv"][-1]))
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(bars[name][-60:], tail[name])
    # the tape continues from the last generated close (within a few spreads)
    assert abs(int(trades["price"][0]) - int(bars["close"][-61])) < 0.002 * bars["close"][-61]
    assert np.all(trades["ts_event"] >= bars["ts_event"][-60])


def test_generate_dataset_kinds_and_errors(tmp_path: Path) -> None:
    ds = generate_dataset(tmp_path / "q", [ETH_USD], seed=1, days=0.1, tape_hours=0.1, kinds=("quotes",))
    assert [s.kind for s in ds.streams] == ["quotes"]
    with pytest.raises(DataError, match="unknown kinds"):
        generate_dataset(tmp_path / "x", [ETH_USD], seed=1, days=0.1, kinds=("candles",))
    with pytest.raises(DataError, match="exists and is not empty"):
        generate_dataset(tmp_path / "q", [ETH_USD], seed=1, days=0.1)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "cli"), "--days", "0.2", "--tape-hours", "0.05", "--kinds", "bars,trades"]) == 0
    out = capsys.readouterr().out
    assert "sim.BTC-USD.bars-1m: 288 bars 1m" in out and f"wrote {tmp_path / 'cli'}" in out
    assert main([str(tmp_path / "cli")]) == 2
    assert "exists and is not empty" in capsys.readouterr().err


def test_any_instrument_grid() -> None:
    from engine import Instrument

    odd = Instrument(venue="x", symbol="FOO", base="F", quote="U", tick_size="0.5", lot_size="3")
    tape = generate_tape(odd, seed=1, n_trades=2_000)
    bars = generate_bars(odd, 2_000, seed=1)
    book = generate_book(odd, 500, seed=1)
    for prices in (tape["trades"]["price"], tape["quotes"]["bid"], tape["quotes"]["ask"], bars["low"], bars["high"],
                   book["lvl_price"]):
        assert np.all(prices % 5 == 0) and np.all(prices > 0)  # tick 0.5 at price scale 1
    for sizes in (tape["trades"]["size"], tape["quotes"]["bid_size"], bars["volume"], book["lvl_size"]):
        assert np.all(sizes % 3 == 0)
