"""What a backtest produced, as numbers, text and files.

The backtest loop fills a :class:`RunRecord`; :func:`compute_stats` turns it into
:class:`Stats` (a pure function: same record, same stats); :func:`format_report` renders both for
the terminal and :func:`write_outputs` writes CSV/JSON/HTML files.

Money totals (PnL, fees, equity at start and end, closed-trade PnL, traded notional) are exact
Decimals. Statistics over the sampled equity curve (Sharpe, drawdown, exposure, leverage) are
floats, and are never NaN or infinite: a statistic that is undefined for the input is 0, or
None (shown as ``n/a``) for profit factor, expectancy, CAGR and average trade duration.

The text and HTML reports show money at the currency's display precision (:func:`display_places`);
the CSV files and ``stats.json`` keep the exact values. A figure that rests on too little data
(see :data:`MIN_RETURN_SAMPLES` and the thresholds beside it) carries :data:`WARN_MARK` and a note.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import json
import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from engine import Fill, Instrument, InstrumentKind, Liquidity, Order, OrderStatus, Side, to_decimal

__all__ = [
    "RunRecord",
    "ClosedTrade",
    "display_places",
    "format_money",
    "fee_schedule",
    "warning_rows",
    "Stats",
    "compute_stats",
    "closed_trades",
    "closed_trade_table",
    "ClosedTrades",
    "fills_canonical_text",
    "fills_hash",
    "format_report",
    "write_outputs",
    "iso_ns",
    "iso_ns_array",
    "FILL_COLUMNS",
    "ORDER_COLUMNS",
    "TRADE_COLUMNS",
    "EQUITY_COLUMNS",
]

NS_PER_YEAR = 365 * 24 * 3600 * 10**9
INVERSE_PNL_STEP = Decimal("1e-8")
"Closed-trade PnL of inverse instruments is rounded (half even) to 8 decimal places."

DISPLAY_PLACES: Mapping[str, int] = {
    "USD": 2, "USDT": 2, "USDC": 2, "BUSD": 2, "DAI": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0,
    "BTC": 8, "XBT": 8, "ETH": 8,
}
"Decimal places money is shown with in the text and HTML reports, per currency."
DEFAULT_DISPLAY_PLACES = 8
"Display places of a currency that is not in :data:`DISPLAY_PLACES`."

MIN_RETURN_SAMPLES = 30
"Sharpe and Sortino on fewer returns than this are marked as resting on too little data."
MIN_RATIO_SPAN_NS = 86_400 * 10**9
"... or on a run shorter than one day."
MIN_CAGR_SPAN_NS = 30 * 86_400 * 10**9
"CAGR on a run shorter than 30 days is marked."
MIN_TRADES = 30
"Win rate, profit factor and expectancy on fewer closed trades than this are marked."
WARN_MARK = "⚠"
"Appended to a figure that rests on too little data; the report's notes say why."

LABEL_SHARPE = "Sharpe (annualised)"
LABEL_SORTINO = "Sortino (annualised)"
LABEL_CAGR = "CAGR"
LABEL_WIN_RATE = "Win rate"
LABEL_PROFIT_FACTOR = "Profit factor"
LABEL_EXPECTANCY = "Expectancy"
LABEL_FEES = "Fee rates"


def display_places(currency: str) -> int:
    """How many decimal places money in ``currency`` is shown with (2 for USD, 8 for BTC...)."""
    return DISPLAY_PLACES.get(currency.upper(), DEFAULT_DISPLAY_PLACES)


def fee_schedule(
    instruments: Iterable[Instrument], maker_fee: Decimal | None = None, taker_fee: Decimal | None = None
) -> dict[str, tuple[Decimal, Decimal]]:
    """``{instrument key: (maker rate, taker rate)}`` a backtest charges; an override (the
    ``[venue]`` table's ``maker_fee`` / ``taker_fee``) replaces every instrument's own rate."""
    return {
        inst.key: (
            inst.maker_fee if maker_fee is None else maker_fee,
            inst.taker_fee if taker_fee is None else taker_fee,
        )
        for inst in sorted(instruments, key=lambda i: i.key)
    }


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------


def _int64_array(value: Any) -> npt.NDArray[np.int64]:
    return np.ascontiguousarray(np.asarray(value, dtype=np.int64).reshape(-1))


def _float64_array(value: Any) -> npt.NDArray[np.float64]:
    return np.ascontiguousarray(np.asarray(value, dtype=np.float64).reshape(-1))


def _fee_rates(value: Mapping[str, tuple[Decimal, Decimal]] | None) -> dict[str, tuple[Decimal, Decimal]] | None:
    if value is None:
        return None
    return {str(k): (to_decimal(m), to_decimal(t)) for k, (m, t) in sorted(value.items())}


@attrs.frozen(slots=True, eq=False)
class RunRecord:
    """Everything one backtest run collected, as the report needs it."""

    starting_equity: Decimal
    "Account value at the start, in ``currency``."
    final_equity: Decimal
    "Account value at the end (positions marked), in ``currency``."
    currency: str
    "The account currency, e.g. ``USD``."
    realized_pnl: Decimal
    "Realized PnL from the portfolio (exact), in ``currency``."
    unrealized_pnl: Decimal
    "Unrealized PnL of positions open at the end, in ``currency``."
    fees: Decimal
    "Fees paid (negative = net rebates), in ``currency``."
    equity_ts: npt.NDArray[np.int64] = attrs.field(converter=_int64_array)
    "Sample times, ns since the epoch, ascending."
    equity: npt.NDArray[np.float64] = attrs.field(converter=_float64_array)
    "Account value in ``currency`` at each sample time."
    gross_exposure: npt.NDArray[np.float64] = attrs.field(converter=_float64_array)
    "Sum of |position notional| in ``currency`` at each sample time."
    fills: Sequence[Fill]
    "Every fill, in the order they happened."
    orders: Sequence[Order]
    "Every order in its final state, including DENIED and REJECTED ones (with ``reason``)."
    denials: Mapping[str, int]
    "Risk denials counted by reason."
    strategy_errors: Sequence[str]
    "One line per stopped strategy: ``strategy X stopped: ExceptionType: message at file:line``."
    events_processed: int
    "Market-data events replayed."
    wall_time_s: float
    "Wall-clock duration of the replay."
    sample_interval_ns: int
    "Distance between equity samples."
    start_ns: int
    "Start of the replayed period, ns since the epoch."
    end_ns: int
    "End of the replayed period, ns since the epoch."
    config_name: str
    "Name of the run's configuration."
    seed: int
    "Seed of the run's randomness."
    fee_rates: dict[str, tuple[Decimal, Decimal]] | None = attrs.field(default=None, converter=_fee_rates)
    """``{instrument key: (maker rate, taker rate)}`` the simulated venue charged (see
    :func:`fee_schedule`); None when the caller did not record them."""

    def __attrs_post_init__(self) -> None:
        n = len(self.equity_ts)
        if len(self.equity) != n or len(self.gross_exposure) != n:
            raise ValueError(
                f"equity_ts, equity and gross_exposure must have the same length, got "
                f"{n}, {len(self.equity)} and {len(self.gross_exposure)}"
            )
        if not np.all(np.isfinite(self.equity)):
            raise ValueError("equity holds NaN or infinite values")
        if not np.all(np.isfinite(self.gross_exposure)):
            raise ValueError("gross_exposure holds NaN or infinite values")
        if n > 1 and np.any(np.diff(self.equity_ts) < 0):
            raise ValueError("equity_ts must be ascending")
        if self.sample_interval_ns <= 0:
            raise ValueError(f"sample_interval_ns must be positive, got {self.sample_interval_ns}")
        for name in ("starting_equity", "final_equity", "realized_pnl", "unrealized_pnl", "fees"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise TypeError(f"{name} must be a finite Decimal, got {value!r}")


# ---------------------------------------------------------------------------------------------
# closed trades
# ---------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class ClosedTrade:
    """A round trip of one strategy on one instrument: from flat back to flat (or through zero).

    Fills are paired first in, first out, per strategy and instrument: two strategies trading one
    instrument have separate ledgers. ``gross_pnl`` is exact for spot and linear instruments
    and rounded to 8 decimal places for inverse ones; it is in ``pnl_asset`` (the settle asset).
    """

    instrument: str
    "Instrument key."
    side: Side
    "BUY for a long trade, SELL for a short one."
    qty: Decimal
    "Quantity opened (= quantity closed)."
    entry_price: Decimal
    "Volume-weighted entry price."
    exit_price: Decimal
    "Volume-weighted exit price."
    ts_open: int
    ts_close: int
    gross_pnl: Decimal
    fees: Decimal
    "Fees of the trade's fills converted to ``pnl_asset`` (a share of a fill that flips the position)."
    net_pnl: Decimal
    "``gross_pnl - fees``; the trade wins when it is positive."
    pnl_asset: str
    n_fills: int
    fees_unconverted: int = 0
    "Fills whose fee asset could not be converted to ``pnl_asset`` (not in ``fees``)."
    strategy_id: str = ""
    "The strategy whose fills these are."

    @property
    def duration_ns(self) -> int:
        """From the opening fill to the closing fill."""
        return self.ts_close - self.ts_open

    @property
    def is_win(self) -> bool:
        return self.net_pnl > 0


def _fee_in_settle(fill: Fill) -> Decimal | None:
    """The fill's fee in the instrument's settle asset, or None if it cannot be converted."""
    inst = fill.instrument
    if fill.fee == 0 or fill.fee_asset == inst.settle:
        return fill.fee
    if inst.kind is InstrumentKind.INVERSE:
        if fill.fee_asset == inst.quote:  # quote -> base at the fill price
            return (fill.fee / fill.price).quantize(INVERSE_PNL_STEP, rounding=ROUND_HALF_EVEN)
        return None
    if fill.fee_asset == inst.base:  # e.g. spot buy paying the fee in the bought asset: exact
        return fill.fee * fill.price
    return None


class _OpenTrade:
    """A trade being built: FIFO entry lots and accumulated exits."""

    __slots__ = (
        "instrument", "strategy_id", "side", "ts_open", "lots", "entry_qty", "entry_value", "exit_qty",
        "exit_value", "gross", "fees", "n_fills", "unconverted", "inverse",
    )

    def __init__(self, instrument: Instrument, side: Side, ts_open: int, strategy_id: str) -> None:
        self.instrument = instrument
        self.inverse = instrument.kind is InstrumentKind.INVERSE
        self.strategy_id = strategy_id
        self.side = side
        self.ts_open = ts_open
        self.lots: deque[list[Decimal]] = deque()  # [qty remaining, price]
        self.entry_qty = Decimal(0)
        self.entry_value = Decimal(0)
        self.exit_qty = Decimal(0)
        self.exit_value = Decimal(0)
        self.gross = Decimal(0)
        self.fees = Decimal(0)
        self.n_fills = 0
        self.unconverted = 0

    @property
    def open_qty(self) -> Decimal:
        return self.entry_qty - self.exit_qty

    def add_fee(self, fee: Decimal | None) -> None:
        if fee is None:
            self.unconverted += 1
        else:
            self.fees += fee

    def enter(self, price: Decimal, qty: Decimal) -> None:
        if self.inverse:
            self.lots.append([qty, price])
        self.entry_qty += qty
        self.entry_value += qty * price

    def exit(self, price: Decimal, qty: Decimal) -> None:
        """Close ``qty`` against the oldest lots first.

        Spot and linear: a trade's gross PnL is ``(exit value - entry value) * multiplier`` (signed)
        once it is closed, whatever lot each exit meets, so it is taken at :meth:`close`; inverse
        PnL depends on the lots (``1/entry - 1/exit``) and is paired here.
        """
        self.exit_qty += qty
        self.exit_value += qty * price
        if not self.inverse:
            return
        inst = self.instrument
        direction = int(self.side)
        remaining = qty
        while remaining > 0:
            lot = self.lots[0]
            take = min(lot[0], remaining)
            entry = lot[1]
            with localcontext() as ctx:
                ctx.prec = 60  # rounded once, to 8 dp, when the trade closes
                self.gross += take * inst.multiplier * (1 / entry - 1 / price) * direction
            lot[0] -= take
            remaining -= take
            if lot[0] == 0:
                self.lots.popleft()

    def close(self, ts_close: int) -> ClosedTrade:
        inst = self.instrument
        if self.inverse:
            gross = self.gross.quantize(INVERSE_PNL_STEP, rounding=ROUND_HALF_EVEN)
        else:
            gross = (self.exit_value - self.entry_value) * inst.multiplier * int(self.side)
        return ClosedTrade(
            instrument=inst.key,
            side=self.side,
            qty=self.entry_qty,
            entry_price=self.entry_value / self.entry_qty,
            exit_price=self.exit_value / self.exit_qty,
            ts_open=self.ts_open,
            ts_close=ts_close,
            gross_pnl=gross,
            fees=self.fees,
            net_pnl=gross - self.fees,
            pnl_asset=inst.settle,
            n_fills=self.n_fills,
            fees_unconverted=self.unconverted,
            strategy_id=self.strategy_id,
        )


def closed_trades(fills: Iterable[Fill]) -> tuple[list[ClosedTrade], int]:
    """Pair fills FIFO per strategy and instrument into closed trades.

    A trade opens when a position leaves zero and closes when it returns to zero or flips; the
    fill that flips closes one trade and opens the next with the rest of its quantity (and the
    rest of its fee). Returns the closed trades in closing order and the number of trades still
    open at the end.
    """
    table, n_open = closed_trade_table(fills)
    return list(table), n_open


# a closed trade before it is built: the ClosedTrade fields, with values instead of averages
_Row = tuple[str, Side, Decimal, Decimal, Decimal, Decimal, int, int, Decimal, Decimal, Decimal, str, int, int, str]


class ClosedTrades(Sequence[ClosedTrade]):
    """The closed trades of a run, in closing order; each :class:`ClosedTrade` is built when it is
    read (a run may close a trade per fill: the statistics read the columns they need)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[_Row]) -> None:
        self._rows = rows

    @staticmethod
    def _build(row: _Row) -> ClosedTrade:
        inst, side, qty, entry_value, exit_qty, exit_value, ts_open, ts_close, gross, fees, net, asset, n, unc, sid = row
        return ClosedTrade(inst, side, qty, entry_value / qty, exit_value / exit_qty, ts_open, ts_close, gross, fees,
                           net, asset, n, unc, sid)

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._build(r) for r in self._rows[index]]
        return self._build(self._rows[index])

    def __iter__(self) -> Iterator[ClosedTrade]:
        return map(self._build, self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ClosedTrades):
            other = list(other)
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<ClosedTrades {len(self._rows)}>"

    def net_pnl(self) -> list[tuple[str, Decimal]]:
        """``(pnl asset, net PnL)`` of each trade."""
        return [(r[11], r[10]) for r in self._rows]

    def total_duration_ns(self) -> int:
        return sum(r[7] - r[6] for r in self._rows)


def closed_trade_table(fills: Iterable[Fill]) -> tuple[ClosedTrades, int]:
    """:func:`closed_trades` as a :class:`ClosedTrades` table (the trades built on demand).

    Spot and linear trades keep running sums only (their gross PnL is ``(exit value - entry
    value) * multiplier``, signed, whatever lot each exit meets); inverse trades pair lots FIFO.
    """
    open_trades: dict[tuple[str, str], Any] = {}
    rows: list[_Row] = []
    append = rows.append
    inverse = InstrumentKind.INVERSE
    for fill in fills:
        qty = fill.qty
        if qty <= 0:
            raise ValueError(f"fill {fill.trade_id} has a non-positive quantity {fill.qty}")
        inst = fill.instrument
        key = (fill.strategy_id, inst.key)
        fee: Decimal | None = fill.fee
        if fee and fill.fee_asset != inst.settle:
            fee = _fee_in_settle(fill)
        if inst.kind is inverse:
            _inverse_step(open_trades, rows, key, fill, fee)
            continue
        side = fill.side
        price = fill.price
        t = open_trades.get(key)
        if t is None:  # [side, ts_open, entry_qty, entry_value, exit_qty, exit_value, fees, n_fills, unconverted]
            open_trades[key] = [side, fill.ts_event, qty, qty * price, _ZERO, _ZERO,
                                _ZERO if fee is None else fee, 1, fee is None]
            continue
        if t[0] is side:  # add: entry quantity and value grow
            open_qty = closing = rest = _ZERO
            at, part_fee = 2, fee
        else:
            open_qty = t[2] - t[4]
            closing = qty if qty < open_qty else open_qty
            rest = qty - closing
            # a flipping fill's fee is shared in proportion to quantity; the shares sum to the fee
            at, part_fee = 4, fee if (fee is None or rest == 0) else fee * closing / qty
        part = qty if at == 2 else closing
        t[at] += part
        t[at + 1] += part * price
        t[7] += 1
        if part_fee is None:
            t[8] += 1
        else:
            t[6] += part_fee
        if at == 2 or closing < open_qty:
            continue
        del open_trades[key]
        gross = (t[5] - t[3]) * inst.multiplier * int(t[0])
        append((key[1], t[0], t[2], t[3], t[4], t[5], t[1], fill.ts_event, gross, t[6], gross - t[6], inst.settle,
                t[7], t[8], key[0]))
        if rest > 0:
            rest_fee = None if fee is None or part_fee is None else fee - part_fee
            open_trades[key] = [side, fill.ts_event, rest, rest * price, _ZERO, _ZERO,
                                _ZERO if rest_fee is None else rest_fee, 1, rest_fee is None]
    return ClosedTrades(rows), len(open_trades)


_ZERO = Decimal(0)


def _row_of(c: ClosedTrade, entry_value: Decimal, exit_value: Decimal, exit_qty: Decimal) -> _Row:
    return (c.instrument, c.side, c.qty, entry_value, exit_qty, exit_value, c.ts_open, c.ts_close, c.gross_pnl,
            c.fees, c.net_pnl, c.pnl_asset, c.n_fills, c.fees_unconverted, c.strategy_id)


def _inverse_step(open_trades: dict[tuple[str, str], Any], rows: list[_Row], key: tuple[str, str], fill: Fill,
                  fee: Decimal | None) -> None:
    """One fill of an inverse instrument: lots paired FIFO (:class:`_OpenTrade`)."""
    trade = open_trades.get(key)
    if trade is None or trade.side is fill.side:  # open or add
        if trade is None:
            trade = open_trades[key] = _OpenTrade(fill.instrument, fill.side, fill.ts_event, key[0])
        trade.enter(fill.price, fill.qty)
        trade.n_fills += 1
        trade.add_fee(fee)
        return
    closing = min(fill.qty, trade.open_qty)
    rest = fill.qty - closing
    closing_fee = fee if (fee is None or rest == 0) else fee * closing / fill.qty
    trade.exit(fill.price, closing)
    trade.n_fills += 1
    trade.add_fee(closing_fee)
    if trade.open_qty > 0:
        return
    rows.append(_row_of(trade.close(fill.ts_event), trade.entry_value, trade.exit_value, trade.exit_qty))
    del open_trades[key]
    if rest > 0:
        flipped = open_trades[key] = _OpenTrade(fill.instrument, fill.side, fill.ts_event, key[0])
        flipped.enter(fill.price, rest)
        flipped.n_fills += 1
        flipped.add_fee(None if fee is None or closing_fee is None else fee - closing_fee)


# ---------------------------------------------------------------------------------------------
# fills hash
# ---------------------------------------------------------------------------------------------


def fills_canonical_text(fills: Iterable[Fill]) -> str:
    """One tab-separated line per fill, in order: ts_event, instrument key, client order id,
    trade id, side, price, qty, fee, liquidity (Decimals as ``str()``)."""
    side, liquidity = _SIDE_NAMES, _LIQUIDITY_NAMES  # enum .name / .value are slow properties
    return "".join([  # f"{d}" of a Decimal is str(d)
        f"{f.ts_event}\t{f.instrument.key}\t{f.client_order_id}\t{f.trade_id}\t{side[f.side]}\t{f.price}\t"
        f"{f.qty}\t{f.fee}\t{liquidity[f.liquidity]}\n"
        for f in fills
    ])


_SIDE_NAMES = {s: s.name for s in Side}
_LIQUIDITY_NAMES = {liq: liq.value for liq in Liquidity}


def fills_hash(fills: Iterable[Fill]) -> str:
    """sha256 hex of :func:`fills_canonical_text`: identical fills give the identical hash."""
    return hashlib.sha256(fills_canonical_text(fills).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Stats:
    """Summary statistics of one run; see :func:`compute_stats` for the definitions.

    Percentages are in percent (``12.5`` = 12.5 %). Money in ``currency`` unless noted.
    """

    config_name: str
    seed: int
    currency: str
    start_ns: int
    end_ns: int
    starting_equity: Decimal
    final_equity: Decimal
    total_return: Decimal
    "``final_equity - starting_equity`` (exact)."
    total_return_pct: float
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    n_fills: int
    n_trades: int
    "Closed round-trip trades."
    n_winning: int
    n_losing: int
    "Trades with net PnL < 0 (a trade at exactly 0 is neither)."
    win_rate_pct: float
    "Winning trades / closed trades (0 with no closed trades)."
    open_trades: int
    "Trades still open at the end."
    net_pnl_by_asset: dict[str, Decimal]
    "Sum of closed-trade net PnL per settle asset."
    sharpe: float
    sortino: float
    max_drawdown_pct: float
    "Largest fall from a running peak, in % of that peak (a positive number)."
    max_drawdown: float
    "The same fall in ``currency``."
    max_drawdown_peak_ns: int
    max_drawdown_trough_ns: int
    exposure_pct: float
    "Share of samples with gross exposure > 0."
    avg_leverage: float
    "Mean gross exposure / equity over samples with exposure."
    max_leverage: float
    traded_notional: Decimal
    "Sum of fill notional in ``currency`` (fills valued in another asset are left out)."
    turnover: float
    "``traded_notional`` / average equity."
    n_orders: int
    orders_by_status: dict[str, int]
    n_denied: int
    denied_by_reason: dict[str, int]
    n_rejected: int
    rejected_by_reason: dict[str, int]
    n_strategy_errors: int
    events_processed: int
    wall_time_s: float
    events_per_s: float
    fills_hash: str
    trades: Sequence[ClosedTrade] = attrs.field(repr=False)
    "The closed trades (written to ``trades.csv``, not to ``stats.json``)."
    profit_factor: float | None = None
    """Sum of the winning trades' net PnL / |sum of the losing trades' net PnL|, over closed trades
    settled in ``currency``; None without a losing trade (no division by zero)."""
    expectancy: Decimal | None = None
    "Mean net PnL per closed trade settled in ``currency``; None without such a trade."
    cagr_pct: float | None = None
    """Compound annual growth rate of equity over the period, in %; None when it cannot be stated
    (no period, no starting equity, or growth too large for a float)."""
    avg_trade_duration_ns: int | None = None
    "Mean time from a closed trade's first fill to its last; None without closed trades."
    warnings: dict[str, str] = attrs.Factory(dict)
    "Report label of a figure resting on too little data -> why (see :data:`MIN_RETURN_SAMPLES`)."
    fee_rates: dict[str, dict[str, Decimal]] | None = None
    """``{instrument key: {"maker": rate, "taker": rate}}`` charged; None when not recorded."""

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: Decimals as strings, without the trade list."""
        out: dict[str, Any] = {}
        for field in attrs.fields(Stats):
            if field.name == "trades":
                continue
            out[field.name] = _jsonable(getattr(self, field.name))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, float):
        return value if math.isfinite(value) else 0.0
    return value


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def _returns(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Simple returns between samples; periods starting at a non-positive equity are dropped."""
    if len(equity) < 2:
        return np.empty(0, dtype=np.float64)
    prev, nxt = equity[:-1], equity[1:]
    ok = prev > 0
    return nxt[ok] / prev[ok] - 1.0


def _cagr_pct(start: Decimal, final: Decimal, span_ns: int) -> float | None:
    """``((final / start) ** (1 / years) - 1) * 100``; None where it cannot be stated."""
    if start <= 0 or span_ns <= 0:
        return None
    if final <= 0:
        return -100.0
    log_growth = math.log(float(final / start)) * NS_PER_YEAR / span_ns
    if log_growth > 700:  # exp() would overflow a float: a short lucky run, not a growth rate
        return None
    return _finite(math.expm1(log_growth) * 100.0)


def _trade_figures(trades: ClosedTrades, currency: str) -> tuple[float | None, Decimal | None, int | None]:
    """(profit factor, expectancy, average duration in ns) of the closed trades."""
    in_currency = [pnl for asset, pnl in trades.net_pnl() if asset == currency]
    won = sum((pnl for pnl in in_currency if pnl > 0), Decimal(0))
    lost = -sum((pnl for pnl in in_currency if pnl < 0), Decimal(0))
    profit_factor = _finite(float(won / lost)) if lost > 0 else None
    expectancy = sum(in_currency, Decimal(0)) / len(in_currency) if in_currency else None
    duration = trades.total_duration_ns() // len(trades) if trades else None
    return profit_factor, expectancy, duration


def _data_warnings(
    n_returns: int, span_ns: int, trades: Sequence[ClosedTrade], figures: tuple[float | None, Decimal | None],
    cagr_pct: float | None, fee_rates: Mapping[str, tuple[Decimal, Decimal]] | None,
) -> dict[str, str]:
    """Report label -> note, for every figure shown that rests on too little data."""
    notes: dict[str, str] = {}
    if n_returns < MIN_RETURN_SAMPLES or span_ns < MIN_RATIO_SPAN_NS:
        why = (
            f"annualised from {n_returns} return sample(s) over {_duration(span_ns)}; it needs at "
            f"least {MIN_RETURN_SAMPLES} samples over at least 1 day to mean anything"
        )
        notes[LABEL_SHARPE] = notes[LABEL_SORTINO] = why
    if cagr_pct is not None and span_ns < MIN_CAGR_SPAN_NS:
        notes[LABEL_CAGR] = (
            f"extrapolated to a year from {_duration(span_ns)}; it needs at least 30 days to mean anything"
        )
    if 0 < len(trades) < MIN_TRADES:
        why = f"from {len(trades)} closed trade(s); it needs at least {MIN_TRADES} to mean anything"
        notes[LABEL_WIN_RATE] = why
        for label, value in zip((LABEL_PROFIT_FACTOR, LABEL_EXPECTANCY), figures):
            if value is not None:
                notes[label] = why
    if fee_rates is not None and all(m == 0 and t == 0 for m, t in fee_rates.values()):
        notes[LABEL_FEES] = "no fees were charged (maker and taker 0): a real venue charges them"
    return notes


def _sharpe_sortino(equity: npt.NDArray[np.float64], sample_interval_ns: int) -> tuple[float, float]:
    """Annualised Sharpe and Sortino (risk-free 0); 0 where undefined."""
    r = _returns(equity)
    if len(r) < 2:
        return 0.0, 0.0
    annual = math.sqrt(NS_PER_YEAR / sample_interval_ns)
    mean = float(r.mean())
    std = float(r.std(ddof=1))
    sharpe = mean / std * annual if std > 0 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    sortino = mean / downside * annual if downside > 0 else 0.0
    return _finite(sharpe), _finite(sortino)


def drawdown_series(equity: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Drawdown from the running peak: (amount ≤ 0 in currency, fraction ≤ 0 of the peak).

    The fraction is 0 where the running peak is not positive.
    """
    if len(equity) == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty
    peak = np.maximum.accumulate(equity)
    amount = equity - peak
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(peak > 0, amount / np.where(peak > 0, peak, 1.0), 0.0)
    return amount, frac


def _max_drawdown(ts: npt.NDArray[np.int64], equity: npt.NDArray[np.float64]) -> tuple[float, float, int, int]:
    """(max drawdown %, its amount, peak ts, trough ts); the deepest fall in % of its peak."""
    if len(equity) == 0:
        return 0.0, 0.0, 0, 0
    amount, frac = drawdown_series(equity)
    trough = int(np.argmin(frac))
    if frac[trough] >= 0:  # never below a peak
        return 0.0, 0.0, int(ts[0]), int(ts[0])
    peak = int(np.argmax(equity[: trough + 1]))  # first sample at the running peak
    return _finite(-frac[trough] * 100.0), _finite(-amount[trough]), int(ts[peak]), int(ts[trough])


def _traded_notional(fills: Iterable[Fill], currency: str) -> Decimal:
    """Sum of the fills' values in ``currency`` where they are known exactly (:func:`_fill_notional`)."""
    linear: dict[str, list[Decimal]] = {}  # instrument key -> [multiplier, sum of qty * price]
    other = Decimal(0)
    for fill in fills:
        entry = linear.get(fill.instrument.key)
        if entry is None:
            inst = fill.instrument
            if inst.kind is InstrumentKind.INVERSE or inst.quote != currency:
                value = _fill_notional(fill, currency)
                if value is not None:
                    other += value
                continue
            entry = linear[inst.key] = [inst.multiplier, Decimal(0)]
        entry[1] += fill.qty * fill.price
    return sum((mult * total for mult, total in linear.values()), other)


def _fill_notional(fill: Fill, currency: str) -> Decimal | None:
    """The fill's value in ``currency`` where it is known exactly, else None."""
    inst = fill.instrument
    if inst.kind is InstrumentKind.INVERSE:
        if inst.quote == currency:  # an inverse contract is worth qty * multiplier quote units
            return fill.qty * inst.multiplier
        if inst.settle == currency:
            return inst.notional(fill.price, fill.qty)
        return None
    if inst.quote == currency:
        return fill.qty * inst.multiplier * fill.price
    return None


def compute_stats(record: RunRecord) -> Stats:
    """All statistics of one run. Pure: reads the record, changes nothing.

    Definitions: returns are simple returns between equity samples; Sharpe = mean/std(ddof=1)
    and Sortino = mean/sqrt(mean(min(r, 0)²)), both times sqrt(periods per year) where periods
    per year = 365·24·3600e9 / ``sample_interval_ns``, risk-free 0, 0 when undefined. Turnover =
    traded notional / mean equity. CAGR = (final / starting equity) ^ (1 / years) − 1 over the
    replayed period. Profit factor = Σ winning net PnL / |Σ losing net PnL| and expectancy = mean
    net PnL per trade, both over closed trades settled in the account currency. Average trade
    duration = mean(ts_close − ts_open) over closed trades.
    """
    equity = record.equity
    ts = record.equity_ts
    start, final = record.starting_equity, record.final_equity
    total_return = final - start
    total_return_pct = _finite(float(total_return / start * 100)) if start != 0 else 0.0

    trades, n_open = closed_trade_table(record.fills)
    pnls = trades.net_pnl()
    n_win = sum(1 for _, pnl in pnls if pnl > 0)
    n_loss = sum(1 for _, pnl in pnls if pnl < 0)
    by_asset: dict[str, Decimal] = {}
    for asset, pnl in pnls:
        by_asset[asset] = by_asset.get(asset, Decimal(0)) + pnl

    sharpe, sortino = _sharpe_sortino(equity, record.sample_interval_ns)
    profit_factor, expectancy, avg_duration = _trade_figures(trades, record.currency)
    span_ns = int(record.end_ns) - int(record.start_ns)
    cagr_pct = _cagr_pct(start, final, span_ns)
    warnings = _data_warnings(
        len(_returns(equity)), span_ns, trades, (profit_factor, expectancy), cagr_pct, record.fee_rates
    )
    fee_rates = None if record.fee_rates is None else {
        key: {"maker": maker, "taker": taker} for key, (maker, taker) in record.fee_rates.items()
    }
    dd_pct, dd_amount, dd_peak, dd_trough = _max_drawdown(ts, equity)

    gross = record.gross_exposure
    in_market = gross > 0
    exposure_pct = _finite(float(in_market.mean()) * 100.0) if len(gross) else 0.0
    lev_mask = in_market & (equity > 0)
    if lev_mask.any():
        leverage = gross[lev_mask] / equity[lev_mask]
        avg_leverage, max_leverage = _finite(float(leverage.mean())), _finite(float(leverage.max()))
    else:
        avg_leverage = max_leverage = 0.0

    traded = _traded_notional(record.fills, record.currency)
    mean_equity = float(equity.mean()) if len(equity) else float(start)
    turnover = _finite(float(traded) / mean_equity) if mean_equity > 0 else 0.0

    status_counts = Counter(o.status for o in record.orders)
    orders_by_status = {s.value: status_counts[s] for s in OrderStatus if status_counts[s]}
    rejected = Counter(o.reason or "(no reason)" for o in record.orders if o.status is OrderStatus.REJECTED)
    denied = dict(sorted((str(k), int(v)) for k, v in record.denials.items()))
    if not denied:  # the risk module's counts are the source; fall back to the orders themselves
        denied = dict(sorted(Counter(
            o.reason or "(no reason)" for o in record.orders if o.status is OrderStatus.DENIED
        ).items()))

    wall = record.wall_time_s
    return Stats(
        config_name=record.config_name,
        seed=record.seed,
        currency=record.currency,
        start_ns=int(record.start_ns),
        end_ns=int(record.end_ns),
        starting_equity=start,
        final_equity=final,
        total_return=total_return,
        total_return_pct=total_return_pct,
        realized_pnl=record.realized_pnl,
        unrealized_pnl=record.unrealized_pnl,
        fees=record.fees,
        n_fills=len(record.fills),
        n_trades=len(trades),
        n_winning=n_win,
        n_losing=n_loss,
        win_rate_pct=n_win / len(trades) * 100.0 if trades else 0.0,
        open_trades=n_open,
        net_pnl_by_asset=dict(sorted(by_asset.items())),
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown_pct=dd_pct,
        max_drawdown=dd_amount,
        max_drawdown_peak_ns=dd_peak,
        max_drawdown_trough_ns=dd_trough,
        exposure_pct=exposure_pct,
        avg_leverage=avg_leverage,
        max_leverage=max_leverage,
        traded_notional=traded,
        turnover=turnover,
        n_orders=len(record.orders),
        orders_by_status=orders_by_status,
        n_denied=sum(denied.values()),
        denied_by_reason=denied,
        n_rejected=sum(rejected.values()),
        rejected_by_reason=dict(sorted(rejected.items())),
        n_strategy_errors=len(record.strategy_errors),
        events_processed=int(record.events_processed),
        wall_time_s=_finite(wall),
        events_per_s=_finite(record.events_processed / wall) if wall > 0 else 0.0,
        fills_hash=fills_hash(record.fills),
        trades=trades,
        profit_factor=profit_factor,
        expectancy=expectancy,
        cagr_pct=cagr_pct,
        avg_trade_duration_ns=avg_duration,
        warnings=warnings,
        fee_rates=fee_rates,
    )


# ---------------------------------------------------------------------------------------------
# terminal report
# ---------------------------------------------------------------------------------------------


def iso_ns(ns: int) -> str:
    """``2024-01-02T03:04:05Z``, with nanoseconds (``.000000001Z``) when they are not zero."""
    seconds, frac = divmod(int(ns), 10**9)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z" if frac else f"{stamp}Z"


def _duration(ns: int) -> str:
    seconds = ns / 1e9
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def format_money(value: Decimal | float, currency: str, *, signed: bool = False) -> str:
    """``44,624.82 USD``: grouped, rounded half-even to :func:`display_places` (display only;
    the files keep exact values). A value that rounds to zero shows no sign."""
    places = display_places(currency)
    shown = Decimal(value) if isinstance(value, float) else value
    with localcontext() as ctx:
        ctx.prec = max(28, shown.adjusted() + places + 2)  # quantize never runs out of digits
        shown = shown.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if shown == 0:
        shown = abs(shown)
    sign = "+" if signed and shown > 0 else ""
    return f"{sign}{shown:,f} {currency}"


def _money(value: Decimal | float, currency: str) -> str:
    return format_money(value, currency)


def _signed_money(value: Decimal, currency: str) -> str:
    return format_money(value, currency, signed=True)


def _percent_rate(rate: Decimal) -> str:
    """A fee rate as a percentage: ``0.001`` -> ``0.1 %``."""
    text = f"{(rate * 100).normalize():f}"
    return f"{text} %" + (" (rebate)" if rate < 0 else "")


def _fee_rows(stats: Stats) -> list[tuple[str, str]]:
    if stats.fee_rates is None:
        return [("", "not recorded by this run")]
    if not stats.fee_rates:
        return [("", "no instruments")]
    return [
        (key, f"maker {_percent_rate(r['maker'])} · taker {_percent_rate(r['taker'])}")
        for key, r in stats.fee_rates.items()
    ]


def _with_warnings(stats: Stats, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Mark the value of every row whose figure rests on too little data."""
    return [
        (label, f"{value}  {WARN_MARK}" if label.strip() in stats.warnings else value) for label, value in rows
    ]


def warning_rows(stats: Stats) -> list[tuple[str, str]]:
    """(figure, note) for every figure the report marks with :data:`WARN_MARK`."""
    return [(f"{WARN_MARK} {label}", note) for label, note in stats.warnings.items()]


def report_sections(stats: Stats, record: RunRecord) -> list[tuple[str, list[tuple[str, str]]]]:
    """The report as (section title, [(label, value), ...]) — shared by text and HTML."""
    cur = stats.currency
    run = [
        ("Config", stats.config_name),
        ("Seed", str(stats.seed)),
        ("Period", f"{iso_ns(stats.start_ns)} → {iso_ns(stats.end_ns)}"),
        ("Duration", _duration(stats.end_ns - stats.start_ns)),
        ("Events", f"{stats.events_processed:,}"),
        ("Wall time", f"{stats.wall_time_s:.2f} s"),
        ("Speed", f"{stats.events_per_s:,.0f} events/s"),
        ("Equity samples", f"{len(record.equity):,} every {_duration(record.sample_interval_ns)}"),
    ]
    perf = [
        ("Starting equity", _money(stats.starting_equity, cur)),
        ("Final equity", _money(stats.final_equity, cur)),
        ("Total return", f"{_signed_money(stats.total_return, cur)}  ({stats.total_return_pct:+.2f} %)"),
        (LABEL_CAGR, _cagr_text(stats.cagr_pct)),
        ("Realized PnL", _signed_money(stats.realized_pnl, cur)),
        ("Unrealized PnL", _signed_money(stats.unrealized_pnl, cur)),
        ("Fees", _money(stats.fees, cur)),
        (LABEL_SHARPE, f"{stats.sharpe:.2f}"),
        (LABEL_SORTINO, f"{stats.sortino:.2f}"),
        ("Max drawdown", f"{stats.max_drawdown_pct:.2f} %  ({_money(stats.max_drawdown, cur)})"),
    ]
    if stats.max_drawdown_pct > 0:
        perf.append(("  peak → trough", f"{iso_ns(stats.max_drawdown_peak_ns)} → {iso_ns(stats.max_drawdown_trough_ns)}"))
    perf += [
        ("Exposure", f"{stats.exposure_pct:.1f} % of samples"),
        ("Leverage avg / max", f"{stats.avg_leverage:.2f}x / {stats.max_leverage:.2f}x"),
        ("Traded notional", _money(stats.traded_notional, cur)),
        ("Turnover", f"{stats.turnover:.2f}x average equity"),
    ]
    trades = [
        ("Fills", f"{stats.n_fills:,}"),
        ("Closed trades", f"{stats.n_trades:,}"),
        (LABEL_WIN_RATE, f"{stats.win_rate_pct:.1f} %  ({stats.n_winning} won, {stats.n_losing} lost)"
         if stats.n_trades else "n/a (no closed trades)"),
        (LABEL_PROFIT_FACTOR, _profit_factor_text(stats)),
        (LABEL_EXPECTANCY, "n/a (no closed trades in " + cur + ")" if stats.expectancy is None
         else f"{_signed_money(stats.expectancy, cur)} per trade"),
        ("Avg trade duration", "n/a (no closed trades)" if stats.avg_trade_duration_ns is None
         else _duration(stats.avg_trade_duration_ns)),
        ("Open at end", f"{stats.open_trades}"),
    ]
    for asset, pnl in stats.net_pnl_by_asset.items():
        trades.append((f"Net trade PnL ({asset})", _signed_money(pnl, asset)))
    orders = [("Orders", f"{stats.n_orders:,}")]
    orders += [(f"  {status}", f"{count:,}") for status, count in stats.orders_by_status.items()]
    risk = [("Denied", f"{stats.n_denied:,}")]
    risk += [(f"  {reason}", f"{count:,}") for reason, count in stats.denied_by_reason.items()]
    risk.append(("Rejected", f"{stats.n_rejected:,}"))
    risk += [(f"  {reason}", f"{count:,}") for reason, count in stats.rejected_by_reason.items()]
    errors = [(f"#{i}", line) for i, line in enumerate(record.strategy_errors, 1)] or [("", "none")]
    sections = [
        ("Run", run),
        ("Performance", _with_warnings(stats, perf)),
        ("Trades", _with_warnings(stats, trades)),
        (LABEL_FEES, _fee_rows(stats) + ([(f"{WARN_MARK} none", stats.warnings[LABEL_FEES])]
                                         if LABEL_FEES in stats.warnings else [])),
        ("Orders", orders),
        ("Risk / denials", risk),
        ("Errors", errors),
    ]
    notes = [(label, note) for label, note in warning_rows(stats) if label != f"{WARN_MARK} {LABEL_FEES}"]
    if notes:
        sections.append((f"{WARN_MARK} Too little data", notes))
    sections.append(("Fills hash", [("sha256", stats.fills_hash)]))
    return sections


def _cagr_text(cagr_pct: float | None) -> str:
    if cagr_pct is None:
        return "n/a"
    return f"{cagr_pct:+,.2f} %" if abs(cagr_pct) < 1e6 else f"{cagr_pct:+.2e} %"  # no 20-digit figures


def _profit_factor_text(stats: Stats) -> str:
    if stats.profit_factor is not None:
        return f"{stats.profit_factor:.2f}"
    if not stats.n_trades:
        return "n/a (no closed trades)"
    return "n/a (no losing trades)" if stats.expectancy is not None else f"n/a (no closed trades in {stats.currency})"


def format_report(stats: Stats, record: RunRecord) -> str:
    """A plain-text report for the terminal, with aligned labels and units."""
    sections = report_sections(stats, record)
    width = max(len(label) for _, rows in sections for label, _ in rows)
    out: list[str] = []
    rule = "=" * 72
    title = f"Backtest report: {stats.config_name}"
    out += [rule, title, rule]
    if record.strategy_errors:
        out += [
            "",
            f"!!! {len(record.strategy_errors)} STRATEGY ERROR(S): results reflect stopped strategies !!!",
        ]
        out += [f"!!! {line}" for line in record.strategy_errors]
    for name, rows in sections:
        out += ["", name, "-" * len(name)]
        for label, value in rows:
            out.append(f"  {label:<{width}}  {value}" if label else f"  {value}")
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------

FILL_COLUMNS = (
    "ts_event", "ts_recv", "time", "instrument", "client_order_id", "venue_order_id", "trade_id",
    "side", "price", "qty", "fee", "fee_asset", "liquidity", "strategy_id",
)
ORDER_COLUMNS = (
    "client_order_id", "strategy_id", "instrument", "side", "type", "qty", "price",
    "trigger_price", "time_in_force", "post_only", "reduce_only", "leverage", "take_profit",
    "stop_loss", "status", "reason", "venue_order_id", "filled_qty", "avg_price", "ts_init",
    "ts_last", "emulated", "tags",
)
TRADE_COLUMNS = (
    "strategy_id", "instrument", "side", "qty", "entry_price", "exit_price", "ts_open", "time_open",
    "ts_close", "time_close", "duration_s", "gross_pnl", "fees", "net_pnl", "pnl_asset", "n_fills",
    "fees_unconverted",
)
EQUITY_COLUMNS = ("ts_ns", "time", "equity", "drawdown", "drawdown_pct", "gross_exposure")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Side):
        return value.name
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _fill_row(f: Fill, when: str) -> list[str]:
    return [
        str(f.ts_event), str(f.ts_recv), when, f.instrument.key, f.client_order_id,
        f.venue_order_id, f.trade_id, f.side.name, str(f.price), str(f.qty), str(f.fee),
        f.fee_asset, f.liquidity.value, f.strategy_id,
    ]


def _order_row(o: Order) -> list[str]:
    values = {
        "client_order_id": o.client_order_id, "strategy_id": o.strategy_id,
        "instrument": o.instrument.key, "side": o.side, "type": o.type, "qty": o.qty,
        "price": o.price, "trigger_price": o.trigger_price, "time_in_force": o.time_in_force,
        "post_only": o.post_only, "reduce_only": o.reduce_only, "leverage": o.leverage,
        "take_profit": o.take_profit, "stop_loss": o.stop_loss, "status": o.status,
        "reason": o.reason, "venue_order_id": o.venue_order_id, "filled_qty": o.filled_qty,
        "avg_price": o.avg_price, "ts_init": o.ts_init, "ts_last": o.ts_last,
        "emulated": o.emulated, "tags": o.tags,
    }
    return [_cell(values[c]) for c in ORDER_COLUMNS]


def _trade_row(t: ClosedTrade) -> list[str]:
    readable = {
        "time_open": iso_ns(t.ts_open),
        "time_close": iso_ns(t.ts_close),
        "duration_s": f"{Decimal(t.duration_ns).scaleb(-9).normalize():f}",
    }
    return [readable[c] if c in readable else _cell(getattr(t, c)) for c in TRADE_COLUMNS]


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def iso_ns_array(ts: npt.NDArray[np.int64]) -> list[str]:
    """:func:`iso_ns` over an array, vectorised (a million timestamps in well under a second)."""
    ts = np.asarray(ts, dtype=np.int64)
    seconds = np.datetime_as_string(ts.astype("datetime64[ns]"), unit="s").tolist()
    frac = (ts % 10**9).tolist()
    return [f"{s}.{f:09d}Z" if f else f"{s}Z" for s, f in zip(seconds, frac)]


def _write_equity_csv(path: Path, record: RunRecord) -> None:
    # numbers and ISO times never need CSV quoting: plain lines are ~2x faster than csv.writer
    amount, frac = drawdown_series(record.equity)
    columns = (
        record.equity_ts.tolist(),
        iso_ns_array(record.equity_ts),
        record.equity.tolist(),
        amount.tolist(),
        (frac * 100.0).tolist(),
        record.gross_exposure.tolist(),
    )
    with path.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(EQUITY_COLUMNS) + "\n")
        fh.writelines(f"{t},{w},{e!r},{d!r},{p!r},{x!r}\n" for t, w, e, d, p, x in zip(*columns))


def write_outputs(
    record: RunRecord, stats: Stats, out_dir: Path | str, *, html: bool = True
) -> dict[str, Path]:
    """Write the run's files into ``out_dir`` (created if missing); returns them by file name.

    ``fills.csv``, ``orders.csv`` and ``trades.csv`` hold Decimals as exact strings;
    ``equity.csv`` has one row per sample with the drawdown; ``stats.json`` is
    :meth:`Stats.to_json_dict`; ``report.html`` (unless ``html=False``) is the self-contained
    chart page.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def path(name: str) -> Path:
        paths[name] = out / name
        return paths[name]

    fill_times = iso_ns_array(np.fromiter((f.ts_event for f in record.fills), np.int64, len(record.fills)))
    _write_csv(path("fills.csv"), FILL_COLUMNS, map(_fill_row, record.fills, fill_times))
    _write_csv(path("orders.csv"), ORDER_COLUMNS, (_order_row(o) for o in record.orders))
    _write_csv(path("trades.csv"), TRADE_COLUMNS, (_trade_row(t) for t in stats.trades))
    _write_equity_csv(path("equity.csv"), record)
    path("stats.json").write_text(
        json.dumps(stats.to_json_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    if html:
        from .chart import render_html

        path("report.html").write_text(render_html(record, stats), encoding="utf-8")
    return paths
