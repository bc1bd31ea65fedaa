"""Seeded synthetic markets: bars, trades, quotes and L2 books with a believable microstructure.

Model
=====

Volatility
    ``sigma(t) = annual_vol * v(t)`` with ``v(t) = exp(h(t)) * regime(t) * season(t)``, scaled so
    that the mean of ``v**2`` is 1 (``annual_vol`` keeps its meaning). ``h`` is a log-volatility
    Ornstein-Uhlenbeck process (half-life about 1.4 h), which clusters volatility the way a
    GARCH(1,1) does; ``regime`` switches between calm (x1) and stormy (x2.2) with exponential
    durations (mean 36 h and 6 h); ``season`` is a UTC intraday cycle peaking at 15:00 (x1.35)
    with a trough at 03:00 (x0.65), and 0.75 at weekends.
Bars (:func:`generate_bars`, fully vectorised)
    Log returns are Gaussian with the bar's ``sigma``; each bar opens at the previous close; high
    and low are drawn from the exact distribution of a Brownian bridge's maximum and minimum given
    the bar's return. Volume follows activity and the size of the move, with lognormal noise.
Tape (:func:`generate_tape`, fully vectorised: trades and top of book together)
    Quote revisions arrive as a Cox process: a Poisson process whose rate follows the season, the
    regime and two log-intensity OU processes (slow, shared with volatility; fast, half-life
    ~14 s, for bursts). A revision is triggered by a trade with probability
    ``1 / (1 + quotes_per_trade)``. The latent log-mid moves by ``sigma`` over the elapsed time
    plus the permanent impact of each trade (``impact_ticks * sqrt(size / median)`` toward the
    aggressor). Each revision re-anchors the top of book around the mid with a spread of
    ``1 + floor(spread_extra_ticks * v * Exp(1))`` ticks and lognormal displayed sizes. A trade executes
    just before its revision against the *prevailing* quote: at the ask for a buyer, at the bid for
    a seller, for at most the displayed size. Aggressor sides persist from trade to trade
    (``aggressor_persistence``) and trade sizes are lognormal, in whole lots.
Book (:func:`book_from_quotes`)
    An L2 book whose top is exactly the quote stream: levels beyond the top are placed
    ``1 + Geometric`` ticks apart (mean ``level_gap_ticks``), persist while the top moves, churn at
    random, and are trimmed to ``depth`` per side. Each quote row publishes a delta (changed levels
    only, size 0 = removed) and every ``snapshot_interval_ns`` a full snapshot follows it; sequence
    numbers are contiguous. The book is never crossed.

Everything is computed in floating point and then snapped to the instrument's grid: every price
is a whole number of ticks and every size a whole number of lots, as exact scaled integers.

Determinism: every draw comes from ``numpy.random.Generator(PCG64(SeedSequence([seed,
crc32(instrument key), part])))``; the same seed, arguments, numpy version and platform give
byte-identical output. The bundled demo data set is ``python -m backtest.generate --demo``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import zlib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from engine import DataError, Instrument
from engine import to_decimal

from .data import KINDS, META_FILE, Dataset, DatasetWriter, format_interval, open_dataset

__all__ = [
    "MarketParams",
    "DEMO_SEED",
    "DEMO_START_NS",
    "BTC_USD",
    "ETH_USD",
    "DEFAULT_PARAMS",
    "params_for",
    "generate_bars",
    "generate_tape",
    "generate_trades",
    "generate_quotes",
    "book_from_quotes",
    "generate_book",
    "bars_from_trades",
    "generate_dataset",
    "generate_demo",
]

Columns = dict[str, npt.NDArray[Any]]

YEAR_S: Final = 365.25 * 86_400
MINUTE_NS: Final = 60_000_000_000
DEMO_SEED: Final = 20240101
DEMO_START_NS: Final = 1_704_067_200_000_000_000
"2024-01-01T00:00:00Z."

BTC_USD: Final = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01",
                            lot_size="0.00001", min_notional="10", maker_fee="0.0002", taker_fee="0.001")
ETH_USD: Final = Instrument(venue="sim", symbol="ETH/USD", base="ETH", quote="USD", tick_size="0.01",
                            lot_size="0.0001", min_notional="10", maker_fee="0.0002", taker_fee="0.001")

# latent-process constants (see the module docstring)
_SLOW_TAU_S = 7_200.0  # OU time constant of log-volatility (half-life ~1.4 h)
_SLOW_STD = 0.35
_FAST_TAU_S = 20.0  # OU time constant of the burst component of activity
_FAST_STD = 0.6
_CALM_MEAN_S, _STORM_MEAN_S, _STORM_MULT = 36 * 3600.0, 6 * 3600.0, 2.2
_ACTIVITY_VOL_EXPONENT = 0.8  # activity ~ vol ** 0.8 (busier when more volatile)

_PARTS = {"bars": 1, "tape": 2, "book": 3}


@attrs.frozen(slots=True)
class MarketParams:
    """Parameters of one synthetic instrument (decimals in instrument units)."""

    start_price: Decimal = attrs.field(converter=to_decimal)
    "Price at the start."
    annual_vol: float = 0.6
    "Annualised volatility of log returns."
    trades_per_s: float = 3.0
    "Mean trade rate."
    quotes_per_trade: float = 1.0
    "Mean quote revisions without a trade, per trade."
    median_trade_size: Decimal = attrs.field(default=Decimal("1"), converter=to_decimal)
    "Median trade size (lognormal)."
    trade_size_sigma: float = 1.1
    "Log-space standard deviation of trade sizes."
    median_top_size: Decimal = attrs.field(default=Decimal("10"), converter=to_decimal)
    "Median displayed size at the best bid/ask and at deeper levels."
    spread_extra_ticks: float = 1.5
    "Mean spread beyond one tick at average volatility."
    impact_ticks: float = 5.0
    "Permanent mid move of a median trade, in ticks."
    aggressor_persistence: float = 0.7
    "Probability that a trade's aggressor side repeats the previous trade's."
    level_gap_ticks: float = 3.0
    "Mean distance between book levels beyond the top, in ticks."
    latency_ms: float = 2.0
    "Median receive latency (ts_recv - ts_event)."


DEFAULT_PARAMS: Final[dict[str, MarketParams]] = {
    BTC_USD.key: MarketParams(start_price="42000", annual_vol=0.55, trades_per_s=2.0, quotes_per_trade=0.5,
                              median_trade_size="0.004", median_top_size="0.35", spread_extra_ticks=2.0,
                              impact_ticks=25.0, level_gap_ticks=250.0),
    ETH_USD.key: MarketParams(start_price="2300", annual_vol=0.7, trades_per_s=2.0, quotes_per_trade=1.0,
                              median_trade_size="0.06", median_top_size="5", spread_extra_ticks=1.5,
                              impact_ticks=4.0, level_gap_ticks=6.0),
}
"Parameters of the demo instruments."


def params_for(instrument: Instrument) -> MarketParams:
    """The demo parameters of ``instrument``, or generic ones (price 100,000 ticks, median trade 100 lots)."""
    known = DEFAULT_PARAMS.get(instrument.key)
    if known is not None:
        return known
    return MarketParams(start_price=instrument.tick_size * 100_000, median_trade_size=instrument.lot_size * 100,
                        median_top_size=instrument.lot_size * 5_000)


def _resolve(instrument: Instrument, params: MarketParams | None, **overrides: Any) -> MarketParams:
    base = params or params_for(instrument)
    changes = {k: v for k, v in overrides.items() if v is not None}
    return attrs.evolve(base, **changes) if changes else base


def _rng(seed: int, instrument: Instrument, part: str) -> np.random.Generator:
    sequence = np.random.SeedSequence([seed, zlib.crc32(instrument.key.encode()), _PARTS[part]])
    return np.random.Generator(np.random.PCG64(sequence))


def _grid(instrument: Instrument) -> tuple[int, int, float, float]:
    """(tick_raw, lot_raw, tick as float, lot as float)."""
    return (instrument.price_raw(instrument.tick_size), instrument.size_raw(instrument.lot_size),
            float(instrument.tick_size), float(instrument.lot_size))


# ---------------------------------------------------------------------------------------------
# latent processes
# ---------------------------------------------------------------------------------------------


def _ou(rng: np.random.Generator, n: int, step_s: float, tau_s: float, std: float) -> npt.NDArray[np.float64]:
    """A stationary OU process sampled every ``step_s`` (AR(1) by FFT convolution, vectorised)."""
    phi = math.exp(-step_s / tau_s)
    k = max(1, min(int(math.ceil(9.0 * tau_s / step_s)), 4 * n + 16))
    noise = rng.standard_normal(n + k)
    if k == 1:
        return noise[k:] * std
    kernel = phi ** np.arange(k) * (std * math.sqrt(1.0 - phi * phi))
    size = 1 << int(math.ceil(math.log2(n + 2 * k)))
    out = np.fft.irfft(np.fft.rfft(noise, size) * np.fft.rfft(kernel, size), size)
    return out[k:k + n]  # the first k outputs are the warm-up


def _regimes(rng: np.random.Generator, n: int, step_s: float) -> npt.NDArray[np.float64]:
    """Two-state volatility regime multiplier per step (calm 1, stormy _STORM_MULT)."""
    total_s = n * step_s
    p_storm = _STORM_MEAN_S / (_CALM_MEAN_S + _STORM_MEAN_S)
    storm = bool(rng.random() < p_storm)
    count = max(4, int(2 * total_s / (_CALM_MEAN_S + _STORM_MEAN_S)) + 4)
    while True:
        durations = rng.exponential(1.0, count)
        means = np.where((np.arange(count) % 2 == 0) == storm, _STORM_MEAN_S, _CALM_MEAN_S)
        ends = np.cumsum(durations * means)
        if ends[-1] >= total_s:
            break
        count *= 2
    step_of_end = np.minimum(np.ceil(ends / step_s).astype(np.int64), n)
    lengths = np.diff(np.concatenate(([0], step_of_end)))
    states = np.where((np.arange(count) % 2 == 0) == storm, _STORM_MULT, 1.0)
    return np.repeat(states, lengths)[:n]


def _season(times_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Intraday (peak 15:00 UTC) and weekend activity multiplier at each time."""
    seconds = times_ns // 1_000_000_000
    hour = (seconds % 86_400) / 3_600.0
    weekday = (seconds // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
    return (1.0 + 0.35 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)) * np.where(weekday >= 5, 0.75, 1.0)


def _season_norm(power: float) -> float:
    """Mean of ``season ** power`` over a week."""
    week = np.arange(0, 7 * 86_400, 60, dtype=np.int64) * 1_000_000_000
    return float(np.mean(_season(week) ** power))


_P_STORM = _STORM_MEAN_S / (_CALM_MEAN_S + _STORM_MEAN_S)
_VOL_NORM = math.sqrt(math.exp(2 * _SLOW_STD**2) * (1 - _P_STORM + _P_STORM * _STORM_MULT**2) * _season_norm(2.0))


def _volatility(rng: np.random.Generator, n: int, step_s: float, start_ns: int) -> npt.NDArray[np.float64]:
    """Volatility factor ``v`` per step (the mean of ``v**2`` is 1)."""
    times = start_ns + (np.arange(n, dtype=np.int64) * int(step_s * 1e9))
    log_vol = _ou(rng, n, step_s, _SLOW_TAU_S, _SLOW_STD) + np.log(_regimes(rng, n, step_s))
    return np.exp(log_vol) * _season(times) / _VOL_NORM


def _snap_ticks(price: npt.NDArray[np.float64], tick: float) -> npt.NDArray[np.int64]:
    ticks = np.rint(price / tick)
    if ticks.size and not np.all(np.isfinite(ticks)) or ticks.size and ticks.max() > 2.0**62:
        raise DataError("generated prices overflow int64; lower annual_vol or the number of steps")
    return np.maximum(ticks, 1).astype(np.int64)


def _lots(rng: np.random.Generator, n: int, median_lots: float, sigma: float) -> npt.NDArray[np.int64]:
    """Lognormal sizes in whole lots (at least one)."""
    draws = rng.standard_normal(n, dtype=np.float32)
    draws *= sigma
    draws += math.log(median_lots)
    np.exp(draws, out=draws)
    draws += 0.5
    return np.maximum(draws.astype(np.int64), 1)


# ---------------------------------------------------------------------------------------------
# bars
# ---------------------------------------------------------------------------------------------


def generate_bars(instrument: Instrument, n: int, *, seed: int, start_ns: int = DEMO_START_NS,
                  interval_ns: int = MINUTE_NS, start_price: Decimal | str | None = None,
                  annual_vol: float | None = None, params: MarketParams | None = None) -> Columns:
    """``n`` OHLCV bars generated directly (vectorised; ~1 s per 10 million bars).

    Returns the bar columns of :data:`backtest.data.SCHEMAS` (``ts_recv`` = open + interval).
    """
    if n < 0 or interval_ns <= 0:
        raise DataError("need n >= 0 bars and a positive interval_ns")
    p = _resolve(instrument, params, start_price=None if start_price is None else to_decimal(start_price),
                 annual_vol=annual_vol)
    rng = _rng(seed, instrument, "bars")
    tick_raw, lot_raw, tick, lot = _grid(instrument)
    step_s = interval_ns / 1e9
    v = _volatility(rng, n, step_s, start_ns)
    sigma = p.annual_vol * math.sqrt(step_s / YEAR_S) * v
    z = rng.standard_normal(n)
    ret = sigma * z - 0.5 * sigma * sigma
    log_close = math.log(float(p.start_price)) + np.cumsum(ret)
    log_open = np.concatenate(([math.log(float(p.start_price))], log_close[:-1]))
    # exact max/min of a Brownian bridge with variance sigma^2 ending at ret (inverse CDF)
    var = sigma * sigma
    up = 0.5 * (ret + np.sqrt(ret * ret - 2.0 * var * np.log(rng.random(n))))
    down = 0.5 * (ret - np.sqrt(ret * ret - 2.0 * var * np.log(rng.random(n))))
    close_t = _snap_ticks(np.exp(log_close), tick)
    open_t = np.concatenate(([_snap_ticks(np.array([float(p.start_price)]), tick)[0]], close_t[:-1]))
    high_t = np.maximum(_snap_ticks(np.exp(log_open + up), tick), np.maximum(open_t, close_t))
    low_t = np.minimum(_snap_ticks(np.exp(log_open + down), tick), np.minimum(open_t, close_t))
    # volume: expected traded amount, busier with activity and with the size of the move
    activity = v**_ACTIVITY_VOL_EXPONENT
    mean_trade = float(p.median_trade_size) * math.exp(0.5 * p.trade_size_sigma**2)
    expected = p.trades_per_s * step_s * mean_trade * activity / (np.mean(activity) if n else 1.0)
    volume_lots = np.rint(expected * (0.5 + 0.5 * np.abs(z)) * rng.lognormal(-0.08, 0.4, n) / lot)
    opens = start_ns + np.arange(n, dtype=np.int64) * interval_ns
    return {
        "ts_event": opens,
        "ts_recv": opens + interval_ns,
        "open": open_t * tick_raw,
        "high": high_t * tick_raw,
        "low": low_t * tick_raw,
        "close": close_t * tick_raw,
        "volume": np.maximum(volume_lots, 1).astype(np.int64) * lot_raw,
    }


# ---------------------------------------------------------------------------------------------
# tape: trades and quotes
# ---------------------------------------------------------------------------------------------


def _trade_flags(rng: np.random.Generator, n_trades: int, p_trade: float) -> npt.NDArray[np.bool_]:
    """Which revisions a trade triggers, cut just after the ``n_trades``-th (revision 0 never)."""
    expected = n_trades / p_trade
    size = int(expected + 6 * math.sqrt(expected) + 16)
    while True:
        flags = rng.random(size) < p_trade
        flags[0] = False
        at = np.flatnonzero(flags)
        if at.size >= n_trades:
            return flags[: int(at[n_trades - 1]) + 1]
        size *= 2


def _arrivals(rng: np.random.Generator, p: MarketParams, start_ns: int, *, events: int | None,
              duration_s: float | None) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Revision times (seconds from start) of a Cox process, and the volatility of each minute.

    The rate, on a 1-second grid, follows the season, the volatility regime, the slow log-vol and a
    fast (burst) log-intensity OU process; unit-rate exponential gaps are mapped through the
    inverse of the integrated rate.
    """
    rate = p.trades_per_s * (1.0 + p.quotes_per_trade)
    horizon = int(math.ceil(duration_s)) if duration_s is not None else int(1.25 * (events or 0) / rate) + 600
    while True:
        minutes = -(-horizon // 60)
        v = _volatility(rng, minutes, 60.0, start_ns)
        intensity = np.repeat(v**_ACTIVITY_VOL_EXPONENT, 60)[:horizon]
        intensity *= np.exp(_ou(rng, horizon, 1.0, _FAST_TAU_S, _FAST_STD))
        intensity *= rate / float(np.mean(intensity))
        cumulative = np.concatenate(([0.0], np.cumsum(intensity)))
        if events is None:
            gaps = rng.exponential(1.0, int(cumulative[-1] + 6 * math.sqrt(cumulative[-1]) + 16))
            positions = np.cumsum(gaps)
            positions = positions[positions < cumulative[-1]]
        else:
            positions = np.cumsum(rng.exponential(1.0, events))
            if events and positions[-1] >= cumulative[-1]:
                horizon *= 2
                continue
        return np.interp(positions, cumulative, np.arange(horizon + 1, dtype=np.float64)), v


def generate_tape(instrument: Instrument, *, seed: int, n_trades: int | None = None, n_quotes: int | None = None,
                  duration_ns: int | None = None, start_ns: int = DEMO_START_NS,
                  start_price: Decimal | str | None = None, annual_vol: float | None = None,
                  params: MarketParams | None = None, first_trade_id: int = 1) -> dict[str, Columns]:
    """Trades and top-of-book quotes from one simulation (vectorised; see the module docstring).

    Give exactly one of ``n_trades`` (the tape ends with that many trades), ``n_quotes`` (that many
    quote rows) or ``duration_ns``. Returns ``{"trades": columns, "quotes": columns}`` in the layout
    of :data:`backtest.data.SCHEMAS`. Every trade prints at the best ask (buyer aggressor) or best
    bid (seller) of the quote row before it, for at most that quote's displayed size.
    """
    if sum(x is not None for x in (n_trades, n_quotes, duration_ns)) != 1:
        raise DataError("give exactly one of n_trades, n_quotes or duration_ns")
    if any(x is not None and x < 0 for x in (n_trades, n_quotes, duration_ns)):
        raise DataError("counts and durations cannot be negative")
    p = _resolve(instrument, params, start_price=None if start_price is None else to_decimal(start_price),
                 annual_vol=annual_vol)
    rng = _rng(seed, instrument, "tape")
    tick_raw, lot_raw, tick, lot = _grid(instrument)
    p_trade = 1.0 / (1.0 + p.quotes_per_trade)

    if n_trades is not None:
        flags = _trade_flags(rng, n_trades, p_trade) if n_trades else np.zeros(0, bool)
        t, v_minute = _arrivals(rng, p, start_ns, events=flags.size, duration_s=None)
    elif n_quotes is not None:
        flags = rng.random(n_quotes) < p_trade
        flags[:1] = False
        t, v_minute = _arrivals(rng, p, start_ns, events=n_quotes, duration_s=None)
    else:
        assert duration_ns is not None
        t, v_minute = _arrivals(rng, p, start_ns, events=None, duration_s=duration_ns / 1e9)
        flags = rng.random(t.size) < p_trade
        flags[:1] = False
    n_events = t.size
    at_trade = np.flatnonzero(flags)
    n_tr = at_trade.size

    # volatility at each revision, and what the book shows after it
    v = np.append(v_minute, v_minute[-1:])[(t * (1.0 / 60.0)).astype(np.int64)]  # t < 60 * minutes
    spread = 1 + (p.spread_extra_ticks * v * rng.standard_exponential(n_events, dtype=np.float32)).astype(np.int64)
    median_top_lots = float(p.median_top_size) / lot
    bid_lots = _lots(rng, n_events, median_top_lots, 0.8)
    ask_lots = _lots(rng, n_events, median_top_lots, 0.8)

    # trades: persistent aggressor side, lognormal size capped by the size shown at that side
    flips = rng.random(n_tr) < (1.0 - p.aggressor_persistence)
    first_side = 1 if rng.random() < 0.5 else -1
    side = (first_side * (1 - 2 * (np.cumsum(flips, dtype=np.int64) & 1))).astype(np.int8)
    median_trade_lots = float(p.median_trade_size) / lot
    wanted = _lots(rng, n_tr, median_trade_lots, p.trade_size_sigma)
    shown = np.where(side > 0, ask_lots[at_trade - 1], bid_lots[at_trade - 1])
    size_lots = np.minimum(wanted, shown)

    # latent log-mid: diffusion over elapsed time plus permanent impact toward the aggressor
    dt = np.diff(t, prepend=t[:1]) if n_events else t
    sigma = p.annual_vol * v * np.sqrt(dt / YEAR_S)
    step = sigma * rng.standard_normal(n_events) - 0.5 * sigma * sigma
    price0 = float(p.start_price)
    step[at_trade] += side * (p.impact_ticks * tick / price0) * np.sqrt(size_lots / median_trade_lots)
    mid_ticks = np.exp(math.log(price0) + np.cumsum(step)) / tick
    bid_t = _snap_ticks(mid_ticks - 0.5 * spread, 1.0)
    ask_t = bid_t + spread

    # timestamps: a trade prints shortly before the revision it triggers, after the previous one
    t_ns = start_ns + np.rint(t * 1e9).astype(np.int64)
    gap = t_ns[at_trade] - t_ns[at_trade - 1]
    lead = np.minimum(rng.integers(50_000, 1_000_000, n_tr), gap // 2)
    trade_ns = t_ns[at_trade] - lead
    latency = (p.latency_ms * 1e6 * np.exp(0.5 * rng.standard_normal(n_events, dtype=np.float32))).astype(np.int64)
    trades: Columns = {
        "ts_event": trade_ns,
        "ts_recv": np.maximum.accumulate(trade_ns + latency[at_trade]) if n_tr else trade_ns,
        "price": np.where(side > 0, ask_t[at_trade - 1], bid_t[at_trade - 1]) * tick_raw,
        "size": size_lots * lot_raw,
        "aggressor": side,
        "trade_id": first_trade_id + np.arange(n_tr, dtype=np.int64),
    }
    quotes: Columns = {
        "ts_event": t_ns,
        "ts_recv": np.maximum.accumulate(t_ns + latency) if n_events else t_ns,
        "bid": bid_t * tick_raw,
        "bid_size": bid_lots * lot_raw,
        "ask": ask_t * tick_raw,
        "ask_size": ask_lots * lot_raw,
    }
    return {"trades": trades, "quotes": quotes}


def generate_trades(instrument: Instrument, n: int, *, seed: int, **kwargs: Any) -> Columns:
    """``n`` trades (the trades of :func:`generate_tape` with ``n_trades=n``)."""
    return generate_tape(instrument, seed=seed, n_trades=n, **kwargs)["trades"]


def generate_quotes(instrument: Instrument, n: int, *, seed: int, **kwargs: Any) -> Columns:
    """``n`` top-of-book quote rows (the quotes of :func:`generate_tape` with ``n_quotes=n``)."""
    return generate_tape(instrument, seed=seed, n_quotes=n, **kwargs)["quotes"]


# ---------------------------------------------------------------------------------------------
# L2 book
# ---------------------------------------------------------------------------------------------


class _Draws:
    """Random numbers handed out one at a time from numpy batches (cheap inside a Python loop)."""

    def __init__(self, draw: Any, batch: int = 65_536) -> None:
        self._draw = draw
        self._batch = batch
        self._values: list[Any] = []
        self._at = 0

    def __call__(self) -> Any:
        if self._at == len(self._values):
            self._values = self._draw(self._batch).tolist()
            self._at = 0
        value = self._values[self._at]
        self._at += 1
        return value


class _BookSide:
    """One side of the simulated book: price_raw -> size_raw, plus the changes of one message."""

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids (better = higher), -1 asks (better = lower)
        self.levels: dict[int, int] = {}
        self.before: dict[int, int] = {}  # price -> size before this message (0 = absent)

    def set(self, price: int, size: int) -> None:
        if price not in self.before:
            self.before[price] = self.levels.get(price, 0)
        if size:
            self.levels[price] = size
        else:
            self.levels.pop(price, None)

    def worst(self) -> int:
        return min(self.levels) if self.sign > 0 else max(self.levels)

    def changes(self) -> list[tuple[int, int]]:
        out = [(price, self.levels.get(price, 0)) for price, old in self.before.items()
               if self.levels.get(price, 0) != old]
        self.before.clear()
        return sorted(out, reverse=self.sign > 0)

    def snapshot(self) -> list[tuple[int, int]]:
        self.before.clear()
        return sorted(self.levels.items(), reverse=self.sign > 0)


def book_from_quotes(instrument: Instrument, quotes: Mapping[str, npt.NDArray[np.int64]], *, seed: int,
                     depth: int = 10, snapshot_interval_ns: int = MINUTE_NS, level_gap_ticks: float | None = None,
                     median_level_size: Decimal | str | None = None, churn: float = 0.3,
                     first_sequence: int = 1, params: MarketParams | None = None) -> Columns:
    """An L2 book (snapshots and deltas) whose best levels are exactly ``quotes``.

    A snapshot at the first quote row; then a delta per row that changed the book, followed, at the
    first row of each ``snapshot_interval_ns`` period (aligned to the epoch), by a snapshot of the
    same state with the next sequence number. Returns the book columns of
    :data:`backtest.data.SCHEMAS` including ``first``. A Python loop (about 40k rows/s).
    """
    if depth < 1:
        raise DataError("depth must be at least 1")
    p = params or params_for(instrument)
    rng = _rng(seed, instrument, "book")
    tick_raw, lot_raw, _, lot = _grid(instrument)
    gap_mean = max(1.0, level_gap_ticks if level_gap_ticks is not None else p.level_gap_ticks)
    median_lots = float(to_decimal(median_level_size) if median_level_size is not None else p.median_top_size) / lot
    gaps = _Draws(lambda k: rng.geometric(1.0 / gap_mean, k) * tick_raw)
    sizes = _Draws(lambda k: np.maximum(1, np.rint(median_lots * rng.lognormal(0.0, 0.8, k))).astype(np.int64) * lot_raw)
    uniform = _Draws(lambda k: rng.random(k))

    bids, asks = _BookSide(1), _BookSide(-1)
    out: dict[str, list[int]] = {name: [] for name in
                                 ("ts_event", "ts_recv", "sequence", "is_snapshot", "count", "lvl_side", "lvl_price", "lvl_size")}
    sequence = first_sequence
    next_snapshot = None
    quote_rows = zip(quotes["ts_event"].tolist(), quotes["ts_recv"].tolist(), quotes["bid"].tolist(),
                     quotes["bid_size"].tolist(), quotes["ask"].tolist(), quotes["ask_size"].tolist())
    for ts_event, ts_recv, best_bid, bid_size, best_ask, ask_size in quote_rows:
        for book, best, size in ((bids, best_bid, bid_size), (asks, best_ask, ask_size)):
            sign = book.sign
            for price in [x for x in book.levels if (x - best) * sign > 0]:
                book.set(price, 0)  # levels better than the new best are gone (taken or pulled)
            book.set(best, size)
            if len(book.levels) > 1 and uniform() < churn:  # one deeper level changes or leaves
                price = list(book.levels)[int(uniform() * len(book.levels))]
                if price != best:
                    book.set(price, sizes() if uniform() < 0.7 else 0)
            while len(book.levels) < depth:
                price = book.worst() - sign * gaps()
                if price <= 0:
                    break
                book.set(price, sizes())
            while len(book.levels) > depth:
                book.set(book.worst(), 0)
        messages = []
        if next_snapshot is not None:
            delta = (0, bids.changes(), asks.changes())
            if delta[1] or delta[2]:
                messages.append(delta)
        if next_snapshot is None or ts_event >= next_snapshot:
            messages.append((1, bids.snapshot(), asks.snapshot()))
            next_snapshot = (ts_event // snapshot_interval_ns + 1) * snapshot_interval_ns
        for is_snapshot, bid_levels, ask_levels in messages:
            out["ts_event"].append(ts_event)
            out["ts_recv"].append(ts_recv)
            out["sequence"].append(sequence)
            out["is_snapshot"].append(is_snapshot)
            out["count"].append(len(bid_levels) + len(ask_levels))
            for side, levels in ((1, bid_levels), (-1, ask_levels)):
                for price, size in levels:
                    out["lvl_side"].append(side)
                    out["lvl_price"].append(price)
                    out["lvl_size"].append(size)
            sequence += 1
    columns: Columns = {name: np.array(values, dtype=np.int64) for name, values in out.items()}
    columns["is_snapshot"] = columns["is_snapshot"].astype(np.int8)
    columns["lvl_side"] = columns["lvl_side"].astype(np.int8)
    columns["count"] = columns["count"].astype(np.int32)
    columns["first"] = np.cumsum(columns["count"], dtype=np.int64) - columns["count"]
    return columns


def generate_book(instrument: Instrument, n: int, *, seed: int, depth: int = 10,
                  snapshot_interval_ns: int = MINUTE_NS, **kwargs: Any) -> Columns:
    """An L2 book over ``n`` quote revisions of :func:`generate_tape` (one message each)."""
    quotes = generate_quotes(instrument, n, seed=seed, **kwargs)
    return book_from_quotes(instrument, quotes, seed=seed, depth=depth, snapshot_interval_ns=snapshot_interval_ns,
                            params=kwargs.get("params"))


# ---------------------------------------------------------------------------------------------
# bars from trades
# ---------------------------------------------------------------------------------------------


def bars_from_trades(trades: Mapping[str, npt.NDArray[np.int64]], *, interval_ns: int = MINUTE_NS,
                     start_ns: int | None = None, end_ns: int | None = None) -> Columns:
    """Aggregate trades into bars by ``ts_event`` over ``[start_ns, end_ns)`` (vectorised).

    ``start_ns``/``end_ns`` default to the interval boundaries around the trades. An interval
    without trades repeats the previous close with volume 0 (the first trade's price if none yet).
    """
    ts = np.asarray(trades["ts_event"])
    order = np.argsort(ts, kind="stable")
    ts, price, size = ts[order], np.asarray(trades["price"])[order], np.asarray(trades["size"])[order]
    if start_ns is None or end_ns is None:
        if not ts.size:
            raise DataError("no trades to aggregate and no start_ns/end_ns")
        start_ns = int(ts[0]) // interval_ns * interval_ns if start_ns is None else start_ns
        end_ns = (int(ts[-1]) // interval_ns + 1) * interval_ns if end_ns is None else end_ns
    n = max(0, (end_ns - start_ns + interval_ns - 1) // interval_ns)
    keep = (ts >= start_ns) & (ts < start_ns + n * interval_ns)
    ts, price, size = ts[keep], price[keep], size[keep]
    opens = start_ns + np.arange(n, dtype=np.int64) * interval_ns
    if not ts.size:
        raise DataError("no trades inside the requested bar range")
    bins = (ts - start_ns) // interval_ns
    present, starts = np.unique(bins, return_index=True)
    ends = np.append(starts[1:], ts.size)
    close_at = np.full(n, -1, dtype=np.int64)
    close_at[present] = price[ends - 1]
    filled = np.zeros(n, dtype=bool)
    filled[present] = True
    last = np.maximum.accumulate(np.where(filled, np.arange(n), -1))
    previous_close = np.where(last >= 0, close_at[np.maximum(last, 0)], price[0])
    cols = {name: previous_close.copy() for name in ("open", "high", "low", "close")}
    cols["open"][present] = price[starts]
    cols["high"][present] = np.maximum.reduceat(price, starts)
    cols["low"][present] = np.minimum.reduceat(price, starts)
    cols["close"][present] = price[ends - 1]
    volume = np.zeros(n, dtype=np.int64)
    volume[present] = np.add.reduceat(size, starts)
    return {"ts_event": opens, "ts_recv": opens + interval_ns, **cols, "volume": volume}


# ---------------------------------------------------------------------------------------------
# whole data sets
# ---------------------------------------------------------------------------------------------


def _kinds_for(kinds: Iterable[str] | Mapping[str, Iterable[str]], key: str) -> set[str]:
    chosen = set(kinds.get(key, ()) if isinstance(kinds, Mapping) else kinds)
    unknown = chosen - set(KINDS)
    if unknown:
        raise DataError(f"unknown kinds {sorted(unknown)} (expected {', '.join(KINDS)})")
    return chosen


def generate_dataset(path: str | Path, instruments: Sequence[Instrument] = (BTC_USD, ETH_USD), *,
                     seed: int = DEMO_SEED, days: float = 20, kinds: Iterable[str] | Mapping[str, Iterable[str]] = KINDS,
                     start_ns: int = DEMO_START_NS, tape_hours: float = 2.0, interval_ns: int = MINUTE_NS,
                     book_depth: int = 10, snapshot_interval_ns: int = MINUTE_NS,
                     params: Mapping[str, MarketParams] | None = None) -> Dataset:
    """Write a synthetic data set to ``path`` (a new directory) and open it.

    Per instrument: ``days`` of bars from ``start_ns``; trades, quotes and book (whichever
    ``kinds`` names; a mapping gives kinds per instrument key) over the last ``tape_hours`` of
    that period. When the tape is generated, the bars of its window are aggregated from its
    trades, which continue from the last generated close, so bars and trades agree.
    """
    target = Path(path)
    if target.exists() and any(target.iterdir()):
        raise DataError(f"{target}: exists and is not empty; generate into a new directory")
    if interval_ns <= 0 or days <= 0:
        raise DataError("days and interval_ns must be positive")
    total_bars = int(days * 86_400e9 // interval_ns)
    end_ns = start_ns + total_bars * interval_ns
    tape_ns = min(int(tape_hours * 3600e9) // interval_ns * interval_ns, total_bars * interval_ns)
    writer = DatasetWriter(target, instruments)
    label = f"synthetic: backtest.generate seed={seed}"
    for instrument in instruments:
        chosen = _kinds_for(kinds, instrument.key)
        p = (params or {}).get(instrument.key) or params_for(instrument)
        tape_kinds = chosen & {"trades", "quotes", "book"}
        window = tape_ns if tape_kinds and tape_ns > 0 else 0
        direct = total_bars - window // interval_ns
        bars = generate_bars(instrument, direct, seed=seed, start_ns=start_ns, interval_ns=interval_ns, params=p) \
            if "bars" in chosen or window else None
        if window:
            tape_start = end_ns - window
            tape_price = instrument.price_of(int(bars["close"][-1])) if bars is not None and direct else p.start_price
            tape = generate_tape(instrument, seed=seed, duration_ns=window, start_ns=tape_start,
                                 params=attrs.evolve(p, start_price=tape_price))
            if bars is not None and "bars" in chosen:
                tail = bars_from_trades(tape["trades"], interval_ns=interval_ns, start_ns=tape_start, end_ns=end_ns)
                bars = {name: np.concatenate((bars[name], tail[name])) for name in bars}
            for kind in ("trades", "quotes"):
                if kind in chosen:
                    writer.add_columns(kind, instrument, tape[kind], source=label)
            if "book" in chosen:
                book = book_from_quotes(instrument, tape["quotes"], seed=seed, depth=book_depth,
                                        snapshot_interval_ns=snapshot_interval_ns, params=p)
                writer.add_columns("book", instrument, book, source=f"{label} depth={book_depth}")
        if bars is not None and "bars" in chosen:
            writer.add_columns("bars", instrument, bars, interval_ns=interval_ns, source=label)
    return open_dataset(target)


DEMO_KINDS: Final = {BTC_USD.key: KINDS, ETH_USD.key: ("bars",)}
"What the bundled demo holds: everything for BTC/USD, bars only for ETH/USD."


def generate_demo(path: str | Path | None = None) -> Dataset:
    """(Re)generate the bundled demo data set (default: ``backtest/datasets/demo``).

    20 days of 1-minute bars for ``sim:BTC/USD`` and ``sim:ETH/USD`` from 2024-01-01 UTC, and the
    last 90 minutes of ``sim:BTC/USD`` as trades, quotes and a depth-10 book; seed :data:`DEMO_SEED`.
    An existing data set at ``path`` is replaced.
    """
    target = Path(path) if path is not None else Path(__file__).resolve().parent / "datasets" / "demo"
    if target.exists():
        if not (target / META_FILE).is_file():
            raise DataError(f"{target}: exists and is not a data set; not replacing it")
        shutil.rmtree(target)
    return generate_dataset(target, (BTC_USD, ETH_USD), seed=DEMO_SEED, days=20, kinds=DEMO_KINDS,
                            start_ns=DEMO_START_NS, tape_hours=1.5)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m backtest.generate``: write the demo or a custom synthetic data set."""
    parser = argparse.ArgumentParser(prog="python -m backtest.generate", description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", help="directory to create (default for --demo: backtest/datasets/demo)")
    parser.add_argument("--demo", action="store_true", help="(re)generate the bundled demo data set")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--days", type=float, default=20)
    parser.add_argument("--tape-hours", type=float, default=2.0, help="hours of trades/quotes/book at the end")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: bars,trades,quotes,book")
    args = parser.parse_args(argv)
    try:
        if args.demo:
            dataset = generate_demo(args.out)
        elif not args.out:
            parser.error("give an output directory or --demo")
        else:
            kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
            dataset = generate_dataset(args.out, seed=args.seed, days=args.days, kinds=kinds, tape_hours=args.tape_hours)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for info in dataset.streams:
        extra = f" {format_interval(info.interval_ns)}" if info.interval_ns else ""
        print(f"{info.name}: {info.rows} {info.kind}{extra}")
    print(f"wrote {dataset.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
