"""Bars aggregated from trades: the venue's boundaries, streaming and vectorised alike, and a
strategy subscribing to bars on a trade data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backtest.data import DatasetWriter, open_dataset
from backtest.generate import BTC_USD, generate_trades
from backtest.runner import BacktestSettings, run_backtest
from backtest.trade_bars import bars_from_trades
from engine import Bar, StrategySpec, Trade, TradeBarAggregator, bar_open
from engine import from_mapping, params_class
from strategies.sma_cross import SmaCross

S = 1_000_000_000
MINUTE = 60 * S


def trade(ts: int, price: int, size: int = 1, recv: int | None = None) -> Trade:
    return Trade(BTC_USD, ts, ts if recv is None else recv, price, size, 1)


def test_boundaries_are_epoch_multiples_and_weeks_start_on_monday() -> None:
    assert bar_open(MINUTE * 10 + 5, MINUTE) == MINUTE * 10
    assert bar_open(MINUTE * 10, MINUTE) == MINUTE * 10
    week = 7 * 86_400 * S
    monday = 4 * 86_400 * S  # 1970-01-05 was a Monday
    assert bar_open(monday + week + 3, week) == monday + week
    assert bar_open(monday - 1, week) == monday - week


def test_streaming_bars() -> None:
    agg = TradeBarAggregator(BTC_USD, MINUTE)
    assert agg.add(trade(5 * S, 100, 2)) is None
    assert agg.add(trade(20 * S, 104, 1)) is None
    assert agg.add(trade(59 * S, 99, 3, recv=61 * S)) is None  # received after the boundary: still this bar
    done = agg.add(trade(MINUTE + 1, 101, 1))
    assert done == Bar(BTC_USD, 0, MINUTE, 100, 104, 99, 99, 6, MINUTE)  # stamped at its close
    assert agg.flush(2 * MINUTE - 1) is None
    assert agg.flush(2 * MINUTE) == Bar(BTC_USD, MINUTE, 2 * MINUTE, 101, 101, 101, 101, 1, MINUTE)
    assert agg.flush(10 * MINUTE) is None  # nothing traded since: no bar
    assert agg.add(trade(MINUTE + 5, 95)) is None  # late for a bar already out: the next interval
    assert agg.flush(3 * MINUTE) == Bar(BTC_USD, 2 * MINUTE, 3 * MINUTE, 95, 95, 95, 95, 1, MINUTE)
    assert agg.add(trade(5 * MINUTE, 90)) is None  # a gap of quiet minutes makes no bars
    assert agg.flush(6 * MINUTE) == Bar(BTC_USD, 5 * MINUTE, 6 * MINUTE, 90, 90, 90, 90, 1, MINUTE)


@pytest.mark.parametrize("seed", [1, 2])
def test_vectorised_bars_equal_the_streaming_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5_000
    ts = np.cumsum(rng.integers(0, 3 * S, n)).astype(np.int64)
    ts[rng.integers(0, n, 50)] -= 20 * S  # some trades arrive out of order
    cols = {"ts_event": ts, "ts_recv": np.maximum.accumulate(ts + rng.integers(0, S, n)),
            "price": rng.integers(1_000, 1_100, n), "size": rng.integers(1, 10, n)}
    agg = TradeBarAggregator(BTC_USD, MINUTE)
    streamed = []
    for i in range(n):
        done = agg.add(trade(int(ts[i]), int(cols["price"][i]), int(cols["size"][i]), int(cols["ts_recv"][i])))
        if done is not None:
            streamed.append(done)
    last = agg.flush(1 << 62)
    assert last is not None
    streamed.append(last)
    out = bars_from_trades(cols, MINUTE)
    vectorised = [Bar(BTC_USD, *(int(out[c][i]) for c in ("ts_event", "ts_recv", "open", "high", "low", "close",
                                                              "volume")), MINUTE) for i in range(len(out["open"]))]
    assert vectorised == streamed
    assert len(streamed) > 100


def test_bars_cut_by_the_range_are_left_out() -> None:
    cols = {"ts_event": np.array([10 * S, 70 * S, 130 * S], dtype=np.int64),
            "price": np.array([1, 2, 3]), "size": np.array([1, 1, 1])}
    cols["ts_recv"] = cols["ts_event"]
    out = bars_from_trades(cols, MINUTE, start_ns=30 * S, end_ns=150 * S)
    assert out["ts_event"].tolist() == [MINUTE]  # the first opened before the start, the last ends after the end


def test_sma_on_trades_equals_sma_on_the_same_bars_recorded(tmp_path: Path) -> None:
    trades = generate_trades(BTC_USD, 60_000, seed=11)
    w = DatasetWriter(tmp_path / "trades", [BTC_USD])
    w.add_trades(BTC_USD, **trades)
    bars = bars_from_trades(trades, MINUTE)
    w = DatasetWriter(tmp_path / "bars", [BTC_USD])
    w.add_bars(BTC_USD, **bars, interval_ns=MINUTE)
    p = from_mapping(params_class(SmaCross), {"instrument": BTC_USD.key, "fast": 3, "slow": 8, "qty": "0.01",
                                              "allow_short": False})
    results = [run_backtest(open_dataset(tmp_path / name), [StrategySpec("s", SmaCross, p)],
                            BacktestSettings(show_progress=False)) for name in ("trades", "bars")]
    on_trades, on_bars = (r.stats for r in results)
    assert on_trades.events_processed == len(bars["open"]) > 50  # bars replayed, not trades
    assert on_trades.n_fills > 4
    assert on_trades.fills_hash == on_bars.fills_hash
    assert results[0].record.final_equity == results[1].record.final_equity
