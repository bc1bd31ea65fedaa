"""The venue-agnostic exchange core behind every local testnet.

One :class:`Exchange` holds what a venue holds: accounts with balances (``free``/``locked``, exact
Decimal), one :class:`~backtest.matching.OrderBook` per instrument, an order registry with
venue order ids, trade history (public prints and each account's own fills), one-minute bars
aggregated from the prints, and NET leverage positions with margin, realized/unrealized PnL and
take-profit/stop-loss levels the market triggers.

A venue dialect (``venues/<venue>/testnet.py``) parses its wire protocol, applies its own rounding
and error vocabulary, and calls the methods here; nothing in this module knows a venue's spelling.
The order rules (shape, post-only, stops, FOK / IOC, self-trade prevention) are those of
:mod:`backtest.order_rules`, the same the backtest's simulated venue applies; this module adds what
a venue account adds: balances, positions, reduce-only against the position, minimum notional.

Settlement model (stated once, applied everywhere):

* Spot BUY locks ``price * qty * (1 + max(maker, taker) fee)`` of the quote asset; SELL locks
  ``qty`` of the base asset. Each fill releases its share of the lock and settles the real price;
  fees are charged in the quote asset. A MARKET order is checked against the book it will walk
  (nothing can change the book between the check and the execution: no await in between).
* Leverage (non-spot instruments) keeps one NET position per account and instrument. An order
  that opens or increases the position locks ``notional / leverage + fee`` of the settle asset;
  filled, that lock becomes the position's margin (still ``locked``). Reducing fills release
  margin pro rata and book realized PnL into the balance. Fees are charged on every fill.
  An inverse contract (settled in its base asset) books ``qty × multiplier × (1/entry − 1/exit)``
  and its fees rounded half-even to :data:`INVERSE_QUANTUM`; its entry is the harmonic mean of
  the lots' prices.
* Liquidation (opt-in per dialect, :attr:`Exchange.liquidation`): the rule of the simulated venue
  (:mod:`backtest.account`): when a position's margin plus its unrealized PnL at the last price
  falls to the maintenance margin (:data:`~backtest.account.MAINTENANCE_FRACTION` of its margin),
  the account's working orders on the instrument are canceled and a reduce-only MARKET order
  tagged ``source = "LIQUIDATION"`` closes the whole position through the book.
* Funding (:meth:`Exchange.pay_funding`, driven by a dialect's clock): each open position of an
  instrument pays ``qty × per_unit`` of the settle asset (longs pay when ``per_unit`` is positive,
  shorts receive), rounded to the asset's quantum against the account (a payment rounds up, a
  receipt down), booked into the balance.
* Take-profit / stop-loss levels sit on the position and are checked on every print of the
  instrument (last trade price); when touched, a reduce-only MARKET order closes the position.
"""

from __future__ import annotations

import enum
import itertools
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import attrs

from engine import TomlConfig, load_toml
from engine import bar_open
from engine import ConfigError
from engine import Liquidity, Side
from engine import Instrument, InstrumentKind
from engine import OrderStatus, OrderType, TimeInForce

from . import order_rules as rules
from .account import MAINTENANCE_FRACTION
from .matching import EventKind, Match, OrderBook, OrderEvent

__all__ = [
    "Ledger",
    "AccountConfig",
    "AccountsFile",
    "load_accounts",
    "Balance",
    "Account",
    "RejectReason",
    "ExchangeRejected",
    "ExchangeOrder",
    "OrderFill",
    "PublicTrade",
    "Position",
    "PositionExecution",
    "BarStore",
    "FundingPaid",
    "Exchange",
    "wall_clock_ms",
]

ZERO = Decimal(0)
INVERSE_QUANTUM = Decimal("1e-8")
"""Inverse contracts settle in the base asset: fees and realized PnL are rounded half-even to this
(one satoshi of BTC), the rule of the engine's portfolio and of the simulated venue."""
MAX_STEPS = 10**18
"The most lots (or ticks) a quantity (or price) may count: the matching engine's units stay exact."


def wall_clock_ms() -> int:
    """Milliseconds since the epoch from the system clock."""
    return time.time_ns() // 1_000_000


# =============================================================================================
# accounts file
# =============================================================================================


def _non_negative_balances(instance: Any, attribute: attrs.Attribute, value: dict[str, Decimal]) -> None:  # type: ignore[type-arg]
    for asset, amount in value.items():
        if not asset:
            raise ValueError("an asset name must not be empty")
        if amount < 0:
            raise ValueError(f"balance of {asset} must be >= 0, got {amount}")


def _not_blank(instance: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if not value.strip():
        raise ValueError("must not be empty")


@attrs.frozen
class AccountConfig:
    """One ``[[accounts]]`` entry of the accounts file."""

    name: str = attrs.field(validator=_not_blank)
    "Owner name (unique)."
    api_key: str = attrs.field(validator=_not_blank)
    "API key the account signs with (unique)."
    secret: str = attrs.field(repr=False, validator=_not_blank, metadata={"secret": True})
    "API secret; never shown."
    balances: dict[str, Decimal] = attrs.field(factory=dict, validator=_non_negative_balances)
    """Opening balances by asset, e.g. ``{ USD = "100000", BTC = "2" }``."""


@attrs.frozen
class AccountsFile(TomlConfig):
    """The accounts TOML file::

        [[accounts]]
        name = "alice"
        api_key = "..."
        secret = "..."
        balances = { USD = "100000", BTC = "2" }
    """

    accounts: list[AccountConfig]


def load_accounts(path: str | os.PathLike[str]) -> list[AccountConfig]:
    """Read and validate an accounts file; errors name the file and the key (``accounts[1].api_key``)."""
    source = os.fspath(path)
    data = load_toml(source)
    parsed = AccountsFile.from_mapping(data, source=source)
    if not parsed.accounts:
        raise ConfigError("no [[accounts]] entries", path=source, key="accounts")
    names: dict[str, int] = {}
    keys: dict[str, int] = {}
    for i, account in enumerate(parsed.accounts):
        if account.name in names:
            raise ConfigError(f"duplicate account name {account.name!r} (also accounts[{names[account.name]}])",
                              path=source, key=f"accounts[{i}].name")
        if account.api_key in keys:
            raise ConfigError(f"duplicate api_key (also accounts[{keys[account.api_key]}])",
                              path=source, key=f"accounts[{i}].api_key")
        names[account.name] = i
        keys[account.api_key] = i
    return list(parsed.accounts)


# =============================================================================================
# balances and accounts
# =============================================================================================


@attrs.define
class Balance:
    """One asset of one account. ``total = free + locked``; ``free`` may dip below 0 only through
    leverage losses (there is no liquidation)."""

    total: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def free(self) -> Decimal:
        return self.total - self.locked


@attrs.define(eq=False)
class Account:
    """A trading account: owner name, credentials and balances by asset."""

    name: str
    api_key: str
    secret: str = attrs.field(repr=False)
    account_id: int = 0
    "Numeric id, deterministic: 1-based index in creation order plus a venue-chosen base."
    balances: dict[str, Balance] = attrs.field(factory=dict)
    house: bool = False
    "A house account (market maker) is not balance-checked and not settled."

    def balance(self, asset: str) -> Balance:
        """The asset's balance (created empty on first use)."""
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def free(self, asset: str) -> Decimal:
        bal = self.balances.get(asset)
        return bal.free if bal else ZERO


# =============================================================================================
# orders, fills, trades, positions
# =============================================================================================


class RejectReason(enum.Enum):
    """Why the exchange refused a command; each dialect maps these to its own codes."""

    UNKNOWN_SYMBOL = "unknown symbol"
    UNKNOWN_ORDER = "unknown order"
    UNKNOWN_POSITION = "unknown position"
    INVALID_QUANTITY = "invalid quantity"
    INVALID_PRICE = "invalid price"
    MIN_NOTIONAL = "notional below minimum"
    INSUFFICIENT_BALANCE = "insufficient balance"
    POST_ONLY_WOULD_TAKE = "post-only order would take liquidity"
    REDUCE_ONLY = "reduce-only order would not reduce the position"
    INVALID_LEVERAGE = "leverage not allowed"
    LEVERAGE_ONLY = "only allowed on leverage instruments"
    NOT_CANCELABLE = "order cannot be canceled"
    NOT_AMENDABLE = "order cannot be amended"
    NO_LIQUIDITY = "no liquidity on the other side"
    WOULD_TRIGGER_IMMEDIATELY = "stop would trigger immediately"
    INVALID_PARAMETERS = "invalid combination of parameters"


class ExchangeRejected(Exception):
    """A command was refused; nothing changed. ``reason`` is a :class:`RejectReason`."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


@attrs.define(eq=False)
class OrderFill:
    """One execution of one order, as its owner sees it."""

    trade_id: int
    order_id: str
    account: str
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts_ms: int
    realized_pnl: Decimal = ZERO


@attrs.define(eq=False)
class ExchangeOrder:
    """One order in the exchange's registry (mutable; the exchange updates it)."""

    order_id: str
    account: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    time_in_force: TimeInForce
    post_only: bool
    reduce_only: bool
    created_ms: int
    client_order_id: str = ""
    leverage: int | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    expire_ms: int | None = None
    status: OrderStatus = OrderStatus.ACCEPTED
    filled_qty: Decimal = ZERO
    filled_quote: Decimal = ZERO
    fees: Decimal = ZERO
    updated_ms: int = 0
    triggered: bool = False
    "A stop order whose trigger was touched (it now works as market/limit)."
    fills: list[OrderFill] = attrs.field(factory=list)
    reason: str = ""
    position_id: str = ""
    "The position this order opened or changed (leverage)."
    tags: dict[str, Any] = attrs.field(factory=dict)
    "Dialect-owned extras (e.g. guaranteed stop-loss flags), echoed back untouched."
    # settlement bookkeeping
    lock_asset: str = ""
    lock_per_unit: Decimal = ZERO
    lock_remaining: Decimal = ZERO
    book_id: int = 0
    "The matching engine's id of the order."

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.filled_quote / self.filled_qty if self.filled_qty else None

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


@attrs.frozen(slots=True)
class PublicTrade:
    """A print on the tape."""

    trade_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    ts_ms: int
    aggressor: Side
    "Side of the taker."
    maker_order_id: str
    taker_order_id: str
    maker_account: str
    taker_account: str

    @property
    def buyer_is_maker(self) -> bool:
        return self.aggressor is Side.SELL


@attrs.define(eq=False)
class Position:
    """A NET leverage position of one account in one instrument."""

    position_id: str
    account: str
    symbol: str
    qty: Decimal
    "Signed: positive long, negative short."
    open_price: Decimal
    leverage: int
    margin: Decimal
    "Margin held (locked) for the position, in the settle asset."
    opened_ms: int
    open_order_id: str
    settle: str
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    closed_qty: Decimal = ZERO
    close_price: Decimal | None = None
    closed_ms: int | None = None
    updated_ms: int = 0
    tags: dict[str, Any] = attrs.field(factory=dict)

    @property
    def is_open(self) -> bool:
        return self.qty != 0

    @property
    def margin_ratio(self) -> Decimal:
        """``1 / leverage``."""
        return Decimal(1) / Decimal(self.leverage)

    def unrealized_pnl(self, mark: Decimal | None) -> Decimal:
        """``(mark - open) * qty`` (linear); zero without a mark."""
        if mark is None or not self.qty:
            return ZERO
        return (mark - self.open_price) * self.qty


@attrs.frozen(slots=True)
class PositionExecution:
    """One change of a position (opened / modified / closed), for position history."""

    exec_id: int
    position_id: str
    account: str
    symbol: str
    status: str
    "``OPENED``, ``MODIFIED`` or ``CLOSED``."
    source: str
    "``USER``, ``TP``, ``SL`` or ``CLOSE_OUT``."
    price: Decimal
    qty: Decimal
    "Signed quantity executed (positive bought)."
    realized_pnl: Decimal
    fee: Decimal
    ts_ms: int
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None


# =============================================================================================
# bars aggregated from prints
# =============================================================================================

MINUTE_MS = 60_000


class BarStore:
    """One-minute OHLCV bars of one instrument, from prints (and seeded history).

    Larger intervals are aggregated on query; bars are aligned to multiples of the interval since
    the epoch (weeks to Monday 00:00 UTC, as venues do).
    """

    def __init__(self) -> None:
        self._bars: dict[int, list[Decimal]] = {}  # minute open ms -> [o, h, l, c, volume]
        self._sorted: list[int] = []
        self._dirty = False

    def add_print(self, price: Decimal, qty: Decimal, ts_ms: int) -> None:
        minute = ts_ms - ts_ms % MINUTE_MS
        bar = self._bars.get(minute)
        if bar is None:
            self._bars[minute] = [price, price, price, price, qty]
            self._dirty = True
        else:
            if price > bar[1]:
                bar[1] = price
            if price < bar[2]:
                bar[2] = price
            bar[3] = price
            bar[4] += qty

    def seed(self, minute_ms: int, o: Decimal, h: Decimal, low: Decimal, c: Decimal, volume: Decimal) -> None:
        """Put a historical one-minute bar (replaces one at the same minute)."""
        self._bars[minute_ms - minute_ms % MINUTE_MS] = [o, h, low, c, volume]
        self._dirty = True

    def _minutes(self) -> list[int]:
        if self._dirty:
            self._sorted = sorted(self._bars)
            self._dirty = False
        return self._sorted

    @staticmethod
    def align(ts_ms: int, interval_ms: int) -> int:
        # the venues' boundaries (weeks start on Monday), as every bar built from trades
        return bar_open(ts_ms * 1_000_000, interval_ms * 1_000_000) // 1_000_000

    def bars(self, interval_ms: int, start_ms: int | None = None, end_ms: int | None = None,
             limit: int = 500) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
        """``(open_ms, o, h, l, c, volume)`` bars, oldest first; the newest ``limit`` when no start is given."""
        out: list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]] = []
        current: list[Any] | None = None
        for minute in self._minutes():
            bucket = self.align(minute, interval_ms)
            if start_ms is not None and bucket + interval_ms <= start_ms:
                continue
            if start_ms is not None and bucket < self.align(start_ms, interval_ms):
                continue
            if end_ms is not None and bucket > end_ms:
                break
            o, h, low, c, v = self._bars[minute]
            if current is not None and current[0] == bucket:
                current[2] = max(current[2], h)
                current[3] = min(current[3], low)
                current[4] = c
                current[5] += v
            else:
                if current is not None:
                    out.append(tuple(current))
                current = [bucket, o, h, low, c, v]
        if current is not None:
            out.append(tuple(current))
        if not limit:
            return out
        return out[:limit] if start_ms is not None else out[-limit:]

    def last_close(self) -> Decimal | None:
        minutes = self._minutes()
        return self._bars[minutes[-1]][3] if minutes else None


# =============================================================================================
# events the exchange announces (listeners run synchronously inside exchange calls)
# =============================================================================================


@attrs.frozen(slots=True)
class BookChanged:
    """The book of ``symbol`` changed (an order rested, was canceled, amended or filled)."""

    symbol: str


@attrs.frozen(slots=True)
class TradeExecuted:
    """A print happened."""

    trade: PublicTrade


@attrs.frozen(slots=True)
class OrderChanged:
    """An order changed state or filled."""

    order: ExchangeOrder


@attrs.frozen(slots=True)
class FundingPaid:
    """A funding payment booked into one account's balance (``amount`` > 0: received)."""

    account: str
    symbol: str
    position_id: str
    qty: Decimal
    "The signed position it was computed on."
    per_unit: Decimal
    "What one unit of a long position paid (negative: received)."
    asset: str
    amount: Decimal
    ts_ms: int


ExchangeEvent = BookChanged | TradeExecuted | OrderChanged | FundingPaid


# =============================================================================================
# the exchange
# =============================================================================================


_REASON_OF_KIND = {"quantity": RejectReason.INVALID_QUANTITY, "price": RejectReason.INVALID_PRICE,
                   "parameters": RejectReason.INVALID_PARAMETERS}
"A shape refusal of :func:`backtest.order_rules.check_order` as the exchange's reason."


def _positive_steps(value: Decimal, step: Decimal) -> bool:
    """``value`` is a finite, positive whole number of ``step`` s, at most :data:`MAX_STEPS` of them.

    Computed exactly whatever the digits (a wide local context; the digits are bounded by the
    wire parsers before they get here, and the comparison with the bound comes first).
    """
    if not value.is_finite() or value <= 0:
        return False
    if value > step * MAX_STEPS:
        return False
    with localcontext() as ctx:
        ctx.prec = 200
        units = value / step
        return units == units.to_integral_value()


@attrs.define(eq=False)
class Ledger:
    """What the venue owes its (non-house) accounts: the part of an exchange that survives a restart.

    Books of house accounts, public trades and bars are market data and are not part of it.
    """

    accounts: list[Account]
    orders: list[ExchangeOrder]
    "Every order of these accounts, open or done (open ones go back into the book on restore)."
    fills: list[OrderFill]
    positions: list[Position]
    "Every position, open or closed."
    history: list[PositionExecution]
    next_trade_id: int
    next_exec_id: int
    id_state: Any
    "The state of the seeded id generator (``random.Random.getstate()``), so ids never repeat."


class Exchange:
    """Accounts, books, orders, positions and trade history of one simulated venue.

    All methods are synchronous and complete atomically (no await inside), so a dialect can
    check and act without the market moving in between.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        accounts: Iterable[AccountConfig] = (),
        *,
        clock_ms: Callable[[], int] = wall_clock_ms,
        seed: int = 0,
        max_trades_kept: int = 100_000,
    ) -> None:
        self.clock_ms = clock_ms
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.accounts: dict[str, Account] = {}
        self._by_key: dict[str, Account] = {}
        self._books = {symbol: OrderBook(tick_raw=inst.price_raw(inst.tick_size), lot_raw=inst.size_raw(inst.lot_size))
                       for symbol, inst in self.instruments.items()}
        self._orders: dict[str, ExchangeOrder] = {}
        self._by_client_id: dict[tuple[str, str], ExchangeOrder] = {}
        self._open: dict[str, dict[str, ExchangeOrder]] = {}  # account -> open orders by id
        self._fills: dict[str, list[OrderFill]] = {}
        self._trades: dict[str, list[PublicTrade]] = {s: [] for s in self.instruments}
        self._bars: dict[str, BarStore] = {s: BarStore() for s in self.instruments}
        self._last: dict[str, Decimal] = {}
        self._positions: dict[tuple[str, str], Position] = {}
        self._positions_by_id: dict[str, Position] = {}
        self._history: dict[str, list[PositionExecution]] = {}
        self._listeners: list[Callable[[ExchangeEvent], None]] = []
        self._rng = random.Random(seed)
        self._trade_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._max_trades = max_trades_kept
        self._depth_guard = 0
        self.liquidation = False
        "Close positions whose margin falls to maintenance (see the module docstring); off unless a dialect asks."
        for config in accounts:
            self.add_account(config)

    # -- accounts ----------------------------------------------------------------------------------
    def add_account(self, config: AccountConfig, *, house: bool = False) -> Account:
        """Open an account with its opening balances (``house`` = unlimited market-maker account)."""
        if config.name in self.accounts:
            raise ValueError(f"duplicate account name {config.name!r}")
        if config.api_key in self._by_key:
            raise ValueError(f"duplicate api key for account {config.name!r}")
        account = Account(config.name, config.api_key, config.secret, account_id=len(self.accounts) + 1, house=house)
        for asset, amount in config.balances.items():
            account.balance(asset).total = Decimal(amount)
        self.accounts[config.name] = account
        self._by_key[config.api_key] = account
        self._fills[config.name] = []
        self._open[config.name] = {}
        self._history[config.name] = []
        return account

    def account_by_api_key(self, api_key: str) -> Account | None:
        return self._by_key.get(api_key)

    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise ExchangeRejected(RejectReason.UNKNOWN_SYMBOL, symbol)
        return inst

    # -- listeners ---------------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[ExchangeEvent], None]) -> Callable[[], None]:
        """Call ``listener(event)`` on every event; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _emit(self, event: ExchangeEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- market views ---------------------------------------------------------------------------
    def depth(self, symbol: str, limit: int = 100) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """``(bids best first, asks best first)`` as ``(price, total qty)`` levels."""
        inst = self.instrument(symbol)
        bids, asks = self._books[symbol].depth(limit)
        return ([(inst.price_of(p), inst.size_of(q)) for p, q in bids],
                [(inst.price_of(p), inst.size_of(q)) for p, q in asks])

    def best_bid_ask(self, symbol: str) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
        """``(bid, bid_qty, ask, ask_qty)``; ``None`` for an empty side."""
        bids, asks = self.depth(symbol, 1)
        bid, bid_qty = bids[0] if bids else (None, None)
        ask, ask_qty = asks[0] if asks else (None, None)
        return bid, bid_qty, ask, ask_qty

    def last_price(self, symbol: str) -> Decimal | None:
        """Last trade price (or the last seeded bar's close before the first print)."""
        last = self._last.get(symbol)
        return last if last is not None else self._bars[symbol].last_close()

    def reference_price(self, symbol: str, side: Side) -> Decimal | None:
        """Best price a MARKET order of ``side`` would meet first (else the last price)."""
        bid, _, ask, _ = self.best_bid_ask(symbol)
        best = ask if side is Side.BUY else bid
        return best if best is not None else self.last_price(symbol)

    def trades(self, symbol: str) -> list[PublicTrade]:
        """Recent prints of ``symbol``, oldest first."""
        self.instrument(symbol)
        return self._trades[symbol]

    def bars(self, symbol: str) -> BarStore:
        self.instrument(symbol)
        return self._bars[symbol]

    # -- queries --------------------------------------------------------------------------------
    def order(self, account: Account, order_id: str) -> ExchangeOrder:
        order = self._orders.get(order_id)
        if order is None or order.account != account.name:
            raise ExchangeRejected(RejectReason.UNKNOWN_ORDER, order_id)
        return order

    def order_by_client_id(self, account: Account, client_order_id: str) -> ExchangeOrder:
        order = self._by_client_id.get((account.name, client_order_id))
        if order is None:
            raise ExchangeRejected(RejectReason.UNKNOWN_ORDER, client_order_id)
        return order

    def open_orders(self, account: Account, symbol: str | None = None) -> list[ExchangeOrder]:
        return [o for o in self._open[account.name].values() if symbol is None or o.symbol == symbol]

    def my_fills(self, account: Account, symbol: str | None = None) -> list[OrderFill]:
        return [f for f in self._fills[account.name] if symbol is None or f.symbol == symbol]

    def positions(self, account: Account, symbol: str | None = None) -> list[Position]:
        """Open positions of ``account``."""
        return [p for (name, sym), p in self._positions.items()
                if name == account.name and (symbol is None or sym == symbol)]

    def position(self, account: Account, position_id: str) -> Position:
        position = self._positions_by_id.get(position_id)
        if position is None or position.account != account.name:
            raise ExchangeRejected(RejectReason.UNKNOWN_POSITION, position_id)
        return position

    def position_history(self, account: Account, symbol: str | None = None) -> list[PositionExecution]:
        return [e for e in self._history[account.name] if symbol is None or e.symbol == symbol]

    # -- ledger across restarts ------------------------------------------------------------------
    def ledger(self) -> Ledger:
        """A snapshot of what the non-house accounts hold (see :class:`Ledger`); the objects are live."""
        users = [a for a in self.accounts.values() if not a.house]
        names = {a.name for a in users}
        next_trade, next_exec = next(self._trade_ids), next(self._exec_ids)
        self._trade_ids, self._exec_ids = itertools.count(next_trade), itertools.count(next_exec)
        return Ledger(
            accounts=users,
            orders=[o for o in self._orders.values() if o.account in names],
            fills=[f for a in users for f in self._fills[a.name]],
            positions=[p for p in self._positions_by_id.values() if p.account in names],
            history=[e for a in users for e in self._history[a.name]],
            next_trade_id=next_trade, next_exec_id=next_exec, id_state=self._rng.getstate())

    def restore(self, ledger: Ledger) -> None:
        """Take over a :class:`Ledger` (before trading starts): the balances of its accounts (which
        must exist here: credentials come from the accounts file), orders (open ones back in the
        book), fills, positions and the id counters. Raises ValueError for an unknown account."""
        unknown = [a.name for a in ledger.accounts if a.name not in self.accounts or self.accounts[a.name].house]
        unknown += [o.symbol for o in ledger.orders if o.symbol not in self.instruments]
        if unknown:
            raise ValueError(f"the ledger names {', '.join(sorted(set(unknown)))}, which this exchange does not have")
        for saved in ledger.accounts:
            self.accounts[saved.name].balances = {asset: Balance(b.total, b.locked) for asset, b in saved.balances.items()}
        for order in ledger.orders:
            self._orders[order.order_id] = order
            if order.client_order_id:
                self._by_client_id[(order.account, order.client_order_id)] = order
            if order.is_open:
                self._rest_again(order)
        for fill in ledger.fills:
            self._fills[fill.account].append(fill)
            owner = self._orders.get(fill.order_id)
            if owner is not None and all(f.trade_id != fill.trade_id for f in owner.fills):
                owner.fills.append(fill)
        for position in ledger.positions:
            self._positions_by_id[position.position_id] = position
            if position.is_open:
                self._positions[(position.account, position.symbol)] = position
        for execution in ledger.history:
            self._history[execution.account].append(execution)
        self._trade_ids = itertools.count(max(ledger.next_trade_id, next(self._trade_ids)))
        self._exec_ids = itertools.count(max(ledger.next_exec_id, next(self._exec_ids)))
        self._rng.setstate(ledger.id_state)

    def _rest_again(self, order: ExchangeOrder) -> None:
        inst = self.instrument(order.symbol)
        type = order.type
        if order.triggered and type is OrderType.STOP_LIMIT:
            type = OrderType.LIMIT
        result = self._books[order.symbol].submit(
            order.account, order.side, type, inst.size_raw(order.leaves_qty),
            price_raw=None if order.price is None else inst.price_raw(order.price),
            trigger_raw=None if order.trigger_price is None or order.triggered else inst.price_raw(order.trigger_price),
            time_in_force=order.time_in_force, post_only=order.post_only, reduce_only=order.reduce_only,
            client_id=order.order_id, ts=order.created_ms)
        order.book_id = result.order_id
        self._open[order.account][order.order_id] = order

    # -- ids ---------------------------------------------------------------------------------------
    def _new_id(self) -> str:
        """A UUID-4-shaped id from the seeded generator (reproducible runs)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # =========================================================================================
    # orders
    # =========================================================================================

    def submit_order(
        self,
        account: Account,
        symbol: str,
        side: Side,
        type: OrderType,
        qty: Decimal,
        *,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        leverage: int | None = None,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
        expire_ms: int | None = None,
        client_order_id: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> ExchangeOrder:
        """Validate, lock funds, match and settle one order; returns it in its state after matching.

        Raises :class:`ExchangeRejected` (nothing changed) for a bad or unaffordable order. A
        MARKET/IOC remainder that finds no liquidity expires; a FOK that cannot fill whole expires
        untouched.
        """
        inst = self.instrument(symbol)
        leveraged = inst.kind is not InstrumentKind.SPOT
        self._validate(inst, type, qty, price, trigger_price)
        qty_raw = inst.size_raw(qty)
        price_raw = None if price is None else inst.price_raw(price)
        trigger_raw = None if trigger_price is None else inst.price_raw(trigger_price)
        book = self._books[symbol]
        refusal = rules.check_order(side, type, qty_raw, price_raw, trigger_raw, time_in_force, post_only,
                                    tick=book.tick_raw, lot=book.lot_raw)
        if refusal is not None:
            raise ExchangeRejected(_REASON_OF_KIND[refusal.problem.kind],
                                   refusal.text(inst.size_of, inst.price_of, "instrument"))
        last = self.last_price(symbol) if trigger_raw is not None else None
        if trigger_raw is not None and last is not None and rules.stop_triggered(side, trigger_raw,
                                                                                 inst.price_raw(last)):
            # this venue refuses a stop that would trigger at once (the rules would trigger it)
            raise ExchangeRejected(RejectReason.WOULD_TRIGGER_IMMEDIATELY, f"trigger {trigger_price} vs last {last}")
        if leveraged:
            if leverage is None:
                leverage = int(inst.max_leverage or 1) if not inst.leverage_values else inst.leverage_values[-1]
            allowed = inst.leverage_values or tuple(range(1, int(inst.max_leverage or 1) + 1))
            if leverage not in allowed:
                raise ExchangeRejected(RejectReason.INVALID_LEVERAGE, f"{leverage} not in {list(allowed)}")
        elif leverage is not None or reduce_only:
            raise ExchangeRejected(RejectReason.LEVERAGE_ONLY, "leverage and reduce-only need a leverage instrument")
        position = self._positions.get((account.name, symbol))
        if reduce_only:
            if position is None or position.qty * side >= 0 or qty > abs(position.qty):
                raise ExchangeRejected(RejectReason.REDUCE_ONLY,
                                       f"position {position.qty if position else 0}, order {side.name} {qty}")
        if post_only and type is OrderType.LIMIT and rules.crosses(
                side, price_raw, book.best_ask_raw if side > 0 else book.best_bid_raw):
            raise ExchangeRejected(RejectReason.POST_ONLY_WOULD_TAKE, f"{side.name} at {price}")

        now = self.clock_ms()
        order = ExchangeOrder(
            order_id=self._new_id(), account=account.name, symbol=symbol, side=side, type=type, qty=qty,
            price=price, trigger_price=trigger_price, time_in_force=time_in_force, post_only=post_only,
            reduce_only=reduce_only, created_ms=now, client_order_id=client_order_id, leverage=leverage,
            take_profit=take_profit, stop_loss=stop_loss, expire_ms=expire_ms, updated_ms=now,
            tags=dict(tags or {}),
        )
        if not account.house:
            self._lock_for(account, inst, order, position)
        self._orders[order.order_id] = order
        self._open[account.name][order.order_id] = order
        if client_order_id:
            self._by_client_id[(account.name, client_order_id)] = order
        result = book.submit(
            account.name, side, type, qty_raw, price_raw=price_raw, trigger_raw=trigger_raw,
            time_in_force=time_in_force, post_only=post_only, reduce_only=reduce_only,
            client_id=order.order_id, ts=now)
        order.book_id = result.order_id
        if not result.ok:
            # the book refused it: nothing happened, undo the registration and the lock
            self._release_lock(account, order, order.lock_remaining)
            del self._orders[order.order_id]
            self._open[account.name].pop(order.order_id, None)
            if client_order_id:
                self._by_client_id.pop((account.name, client_order_id), None)
            reason = (RejectReason.POST_ONLY_WOULD_TAKE if result.reason == rules.POST_ONLY_TAKES
                      else RejectReason.INVALID_PARAMETERS)
            raise ExchangeRejected(reason, result.reason)
        self._apply_reports(inst, result.reports)
        self._after_trades(inst)
        return order

    def _validate(self, inst: Instrument, type: OrderType, qty: Decimal, price: Decimal | None,
                  trigger: Decimal | None) -> None:
        # bounds first, then exact step checks: a 40-digit value must be refused, not overflow
        # the 28-digit decimal context (InvalidOperation) or the matching engine's integers
        if not _positive_steps(qty, inst.lot_size):
            raise ExchangeRejected(RejectReason.INVALID_QUANTITY, f"{qty} is not a positive multiple of {inst.lot_size}")
        if qty < inst.min_qty or (inst.max_qty is not None and qty > inst.max_qty):
            raise ExchangeRejected(RejectReason.INVALID_QUANTITY,
                                   f"{qty} outside [{inst.min_qty}, {inst.max_qty if inst.max_qty else 'inf'}]")
        for name, value in (("price", price), ("trigger price", trigger)):
            if value is not None and not _positive_steps(value, inst.tick_size):
                raise ExchangeRejected(RejectReason.INVALID_PRICE,
                                       f"{name} {value} is not a positive multiple of {inst.tick_size} "
                                       f"(at most {MAX_STEPS} of them)")
        reference = price if price is not None else trigger
        if reference is not None and inst.min_notional and inst.notional(reference, qty) < inst.min_notional:
            raise ExchangeRejected(RejectReason.MIN_NOTIONAL, f"{inst.notional(reference, qty)} < {inst.min_notional}")

    # -- locking funds ------------------------------------------------------------------------
    def _walk_cost(self, symbol: str, side: Side, qty: Decimal) -> tuple[Decimal, Decimal]:
        """(notional, filled qty) a MARKET order of ``qty`` would meet on the other side now."""
        bids, asks = self.depth(symbol, 10_000)
        levels = asks if side is Side.BUY else bids
        left = qty
        notional = ZERO
        for price, level_qty in levels:
            take = min(left, level_qty)
            notional += take * price
            left -= take
            if not left:
                break
        return notional, qty - left

    def _lock_for(self, account: Account, inst: Instrument, order: ExchangeOrder, position: Position | None) -> None:
        fee_rate = max(inst.maker_fee, inst.taker_fee, ZERO)
        side, qty = order.side, order.qty
        if inst.kind is InstrumentKind.SPOT:
            if side is Side.SELL:
                asset, amount = inst.base, qty
            elif order.type is OrderType.LIMIT:
                assert order.price is not None
                asset, amount = inst.quote, order.price * qty * (1 + fee_rate)
            else:
                notional, _ = self._walk_cost(inst.symbol, side, qty)
                # a market buy locks nothing: it settles in this same call; check it can pay
                if notional * (1 + fee_rate) > account.free(inst.quote):
                    raise ExchangeRejected(RejectReason.INSUFFICIENT_BALANCE,
                                           f"needs {notional * (1 + fee_rate)} {inst.quote}, free {account.free(inst.quote)}")
                return
        else:
            reference = order.price or order.trigger_price
            if reference is None:
                notional, filled = self._walk_cost(inst.symbol, side, qty)
                reference = notional / filled if filled else self.last_price(inst.symbol)
                if reference is None:
                    raise ExchangeRejected(RejectReason.NO_LIQUIDITY, inst.symbol)
            reducing = ZERO
            if position is not None and position.qty * side < 0:
                reducing = min(qty, abs(position.qty))
            opening = qty - reducing
            assert order.leverage is not None
            asset = inst.settle
            amount = inst.notional(reference, opening) / Decimal(order.leverage) + inst.notional(reference, qty) * fee_rate
        if amount > account.free(asset):
            raise ExchangeRejected(RejectReason.INSUFFICIENT_BALANCE, f"needs {amount} {asset}, free {account.free(asset)}")
        account.balance(asset).locked += amount
        order.lock_asset, order.lock_remaining = asset, amount

    def _release_lock(self, account: Account, order: ExchangeOrder, amount: Decimal) -> None:
        if order.lock_asset and amount:
            account.balance(order.lock_asset).locked -= amount
            order.lock_remaining -= amount

    # -- matching results ------------------------------------------------------------------------
    def _apply_reports(self, inst: Instrument, reports: Sequence[Match | OrderEvent]) -> None:
        """Apply the book's reports in order: prints and fills, then state changes."""
        if not reports:
            return
        for report in reports:
            if type(report) is Match:
                self._apply_match(inst, report)
            else:
                assert isinstance(report, OrderEvent)
                order = self._orders.get(report.client_id)
                if order is None or not order.is_open:
                    continue
                if report.kind is EventKind.TRIGGERED:
                    order.triggered = True
                    order.updated_ms = self.clock_ms()
                    self._emit(OrderChanged(order))
                elif report.kind is EventKind.CANCELED:
                    self._set_status(order, OrderStatus.CANCELED, report.reason)
                elif report.kind is EventKind.EXPIRED:
                    self._set_status(order, OrderStatus.EXPIRED, report.reason or "no liquidity")
                elif report.kind is EventKind.REJECTED:
                    self._set_status(order, OrderStatus.REJECTED, report.reason)
        self._emit(BookChanged(inst.symbol))

    def _apply_match(self, inst: Instrument, match: Match) -> None:
        now = self.clock_ms()
        price, qty = inst.price_of(match.price_raw), inst.size_of(match.size_raw)
        trade = PublicTrade(next(self._trade_ids), inst.symbol, price, qty, now, match.taker_side,
                            match.maker_client_id, match.taker_client_id, match.maker_owner, match.taker_owner)
        trades = self._trades[inst.symbol]
        trades.append(trade)
        if len(trades) > self._max_trades:
            del trades[: len(trades) - self._max_trades]
        self._bars[inst.symbol].add_print(price, qty, now)
        self._last[inst.symbol] = price
        for order_id, liquidity in ((match.maker_client_id, Liquidity.MAKER), (match.taker_client_id, Liquidity.TAKER)):
            order = self._orders.get(order_id)
            if order is not None:
                self._fill(inst, order, price, qty, liquidity, trade.trade_id, now)
        self._emit(TradeExecuted(trade))

    def _owner(self, order_id: str) -> str:
        order = self._orders.get(order_id)
        return order.account if order else ""

    def _fill(self, inst: Instrument, order: ExchangeOrder, price: Decimal, qty: Decimal, liquidity: Liquidity,
              trade_id: int, now: int) -> None:
        account = self.accounts[order.account]
        if order.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            order.triggered = True
        leaves_before = order.leaves_qty
        order.filled_qty += qty
        order.filled_quote += price * qty
        order.updated_ms = now
        rate = inst.maker_fee if liquidity is Liquidity.MAKER else inst.taker_fee
        notional = inst.notional(price, qty)
        fee = notional * rate
        if inst.kind is InstrumentKind.INVERSE:
            fee = fee.quantize(INVERSE_QUANTUM, ROUND_HALF_EVEN)
        pnl = ZERO
        if not account.house:
            self._release_lock(account, order, order.lock_remaining * qty / leaves_before)
            if inst.kind is InstrumentKind.SPOT:
                base, quote = account.balance(inst.base), account.balance(inst.quote)
                if order.side is Side.BUY:
                    quote.total -= notional + fee
                    base.total += qty
                else:
                    base.total -= qty
                    quote.total += notional - fee
            else:
                pnl = self._apply_position_fill(account, inst, order, price, qty, fee, now)
        order.fees += fee
        fill = OrderFill(trade_id, order.order_id, account.name, inst.symbol, order.side, price, qty, notional, fee,
                         inst.settle if inst.kind is not InstrumentKind.SPOT else inst.quote, liquidity, now, pnl)
        if not account.house:
            order.fills.append(fill)
            self._fills[account.name].append(fill)
        if order.filled_qty >= order.qty:
            self._set_status(order, OrderStatus.FILLED)
        else:
            self._set_status(order, OrderStatus.PARTIALLY_FILLED)

    def _set_status(self, order: ExchangeOrder, status: OrderStatus, reason: str = "") -> None:
        order.status = status
        if reason:
            order.reason = reason
        order.updated_ms = self.clock_ms()
        account = self.accounts[order.account]
        if not order.is_open:
            if order.lock_remaining:
                self._release_lock(account, order, order.lock_remaining)
            self._open[account.name].pop(order.order_id, None)
            if account.house:
                # nobody queries a house order once it is done: keep the registry small
                self._orders.pop(order.order_id, None)
        self._emit(OrderChanged(order))

    # -- leverage positions ------------------------------------------------------------------------
    def _apply_position_fill(self, account: Account, inst: Instrument, order: ExchangeOrder, price: Decimal,
                             qty: Decimal, fee: Decimal, now: int) -> Decimal:
        settle = account.balance(inst.settle)
        settle.total -= fee
        source = str(order.tags.get("source", "USER"))
        key = (account.name, inst.symbol)
        position = self._positions.get(key)
        signed = qty * order.side
        pnl = ZERO
        if position is None:
            self._open_position(account, inst, order, price, signed, fee, now, source)
            return pnl
        position.fees += fee
        position.updated_ms = now
        inverse = inst.kind is InstrumentKind.INVERSE
        if position.qty * signed > 0:
            new_qty = position.qty + signed
            if inverse:  # the entry whose value is the lots' value: the harmonic mean of the prices
                position.open_price = abs(new_qty) / (abs(position.qty) / position.open_price + qty / price)
            else:
                position.open_price = (position.open_price * abs(position.qty) + price * qty) / abs(new_qty)
            added = inst.notional(price, qty) / Decimal(position.leverage)
            position.margin += added
            settle.locked += added
            position.qty = new_qty
            self._record(position, "MODIFIED", source, price, signed, ZERO, fee, now)
            self._levels_from(order, position)
            return pnl
        closing = min(qty, abs(position.qty))
        direction = 1 if position.qty > 0 else -1
        if inverse:
            pnl = (closing * direction * inst.multiplier * (1 / position.open_price - 1 / price)).quantize(
                INVERSE_QUANTUM, ROUND_HALF_EVEN)
        else:
            pnl = (price - position.open_price) * closing * direction * inst.multiplier
        released = position.margin * closing / abs(position.qty)
        position.margin -= released
        settle.locked -= released
        settle.total += pnl
        position.realized_pnl += pnl
        position.qty -= closing * direction
        position.closed_qty += closing
        position.close_price = price
        if position.qty == 0:
            position.closed_ms = now
            settle.locked -= position.margin  # rounding dust, if any
            position.margin = ZERO
            del self._positions[key]
            self._record(position, "CLOSED", source, price, closing * order.side, pnl, fee, now)
        else:
            self._record(position, "MODIFIED", source, price, closing * order.side, pnl, fee, now)
        remainder = qty - closing
        if remainder:
            self._open_position(account, inst, order, price, remainder * order.side, ZERO, now, source)
        return pnl

    def _open_position(self, account: Account, inst: Instrument, order: ExchangeOrder, price: Decimal,
                       signed: Decimal, fee: Decimal, now: int, source: str) -> None:
        assert order.leverage is not None
        margin = inst.notional(price, abs(signed)) / Decimal(order.leverage)
        position = Position(self._new_id(), account.name, inst.symbol, signed, price, order.leverage, margin, now,
                            order.order_id, inst.settle, fees=fee, updated_ms=now)
        self._levels_from(order, position)
        account.balance(inst.settle).locked += margin
        self._positions[(account.name, inst.symbol)] = position
        self._positions_by_id[position.position_id] = position
        order.position_id = position.position_id
        self._record(position, "OPENED", source, price, signed, ZERO, fee, now)

    @staticmethod
    def _levels_from(order: ExchangeOrder, position: Position) -> None:
        if order.reduce_only:
            return
        if order.take_profit is not None:
            position.take_profit = order.take_profit or None
        if order.stop_loss is not None:
            position.stop_loss = order.stop_loss or None

    def _record(self, position: Position, status: str, source: str, price: Decimal, qty: Decimal, pnl: Decimal,
                fee: Decimal, now: int) -> None:
        self._history[position.account].append(PositionExecution(
            next(self._exec_ids), position.position_id, position.account, position.symbol, status, source, price,
            qty, pnl, fee, now, position.take_profit, position.stop_loss))

    def set_position_levels(self, account: Account, position_id: str, *, take_profit: Decimal | None,
                            stop_loss: Decimal | None) -> Position:
        """Replace the take-profit / stop-loss levels of an open position (``None`` removes one)."""
        position = self.position(account, position_id)
        if not position.is_open:
            raise ExchangeRejected(RejectReason.UNKNOWN_POSITION, f"{position_id} is closed")
        position.take_profit = take_profit
        position.stop_loss = stop_loss
        now = self.clock_ms()
        position.updated_ms = now
        self._record(position, "MODIFIED", "USER", position.open_price, ZERO, ZERO, ZERO, now)
        self._after_trades(self.instruments[position.symbol])
        return position

    def close_position(self, account: Account, position_id: str, *, source: str = "USER") -> ExchangeOrder:
        """Close an open position with a reduce-only MARKET order for its whole quantity."""
        position = self.position(account, position_id)
        if not position.is_open:
            raise ExchangeRejected(RejectReason.UNKNOWN_POSITION, f"{position_id} is closed")
        side = Side.SELL if position.qty > 0 else Side.BUY
        return self.submit_order(account, position.symbol, side, OrderType.MARKET, abs(position.qty),
                                 time_in_force=TimeInForce.IOC, reduce_only=True, leverage=position.leverage,
                                 tags={"source": source})

    def _after_trades(self, inst: Instrument) -> None:
        """Trigger take-profit / stop-loss levels touched by the last price (one level of recursion)."""
        if self._depth_guard or inst.kind is InstrumentKind.SPOT:
            return
        last = self.last_price(inst.symbol)
        if last is None:
            return
        self._depth_guard += 1
        try:
            for (name, symbol), position in list(self._positions.items()):
                if symbol != inst.symbol or not position.is_open:
                    continue
                long = position.qty > 0
                source = ""
                if position.take_profit is not None and (last >= position.take_profit if long
                                                         else last <= position.take_profit):
                    source = "TP"
                elif position.stop_loss is not None and (last <= position.stop_loss if long
                                                         else last >= position.stop_loss):
                    source = "SL"
                elif self.liquidation and self._below_maintenance(position, last):
                    source = "LIQUIDATION"
                    account = self.accounts[name]
                    for order in self.open_orders(account, symbol):
                        self.cancel_order(account, order.order_id)
                if source:
                    try:
                        self.close_position(self.accounts[name], position.position_id, source=source)
                    except ExchangeRejected:
                        pass  # nothing to trade against: the level fires again on the next print
        finally:
            self._depth_guard -= 1

    @staticmethod
    def _below_maintenance(position: Position, last: Decimal) -> bool:
        """Margin plus unrealized PnL at ``last`` is at or below the maintenance margin."""
        equity = position.margin + position.unrealized_pnl(last)
        return equity <= position.margin * MAINTENANCE_FRACTION

    def pay_funding(self, symbol: str, per_unit: Decimal, quantum: Decimal) -> list[FundingPaid]:
        """Book one funding interval of ``symbol``: every open position pays ``qty × per_unit``
        of its settle asset (see the module docstring), rounded to ``quantum`` against the account.
        Announces and returns the payments."""
        now = self.clock_ms()
        paid = []
        for (name, held), position in list(self._positions.items()):
            if held != symbol or not position.is_open:
                continue
            owed = position.qty * per_unit  # > 0: the account pays; rounded up, against the account either way
            amount = -(owed / quantum).to_integral_value(ROUND_CEILING) * quantum
            if not amount:
                continue
            self.accounts[name].balance(position.settle).total += amount
            event = FundingPaid(name, symbol, position.position_id, position.qty, per_unit, position.settle, amount, now)
            paid.append(event)
            self._emit(event)
        return paid

    # -- cancel / amend ------------------------------------------------------------------------
    def cancel_order(self, account: Account, order_id: str) -> ExchangeOrder:
        """Cancel a working order (its locked funds return)."""
        order = self.order(account, order_id)
        if not order.is_open:
            raise ExchangeRejected(RejectReason.NOT_CANCELABLE, f"order is {order.status.value}")
        inst = self.instruments[order.symbol]
        result = self._books[order.symbol].cancel(order.book_id, self.clock_ms(), "canceled by the owner")
        if not result.ok:
            raise ExchangeRejected(RejectReason.NOT_CANCELABLE, result.reason)
        self._apply_reports(inst, result.reports)
        return order

    def amend_order(self, account: Account, order_id: str, *, price: Decimal | None = None,
                    trigger_price: Decimal | None = None, qty: Decimal | None = None,
                    take_profit: Any = attrs.NOTHING, stop_loss: Any = attrs.NOTHING,
                    expire_ms: Any = attrs.NOTHING) -> ExchangeOrder:
        """Change a working order. A new price, trigger or larger quantity re-queues it (and may
        match at once); a smaller quantity keeps its place. Locked funds follow the new terms."""
        order = self.order(account, order_id)
        if not order.is_open:
            raise ExchangeRejected(RejectReason.NOT_AMENDABLE, f"order is {order.status.value}")
        inst = self.instruments[order.symbol]
        if take_profit is not attrs.NOTHING:
            order.take_profit = take_profit
        if stop_loss is not attrs.NOTHING:
            order.stop_loss = stop_loss
        if expire_ms is not attrs.NOTHING:
            order.expire_ms = expire_ms
        if price is None and trigger_price is None and qty is None:
            order.updated_ms = self.clock_ms()
            self._emit(OrderChanged(order))
            return order
        if price is not None and order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            raise ExchangeRejected(RejectReason.NOT_AMENDABLE, "only a limit order has a price")
        if trigger_price is not None and (order.trigger_price is None or order.triggered):
            raise ExchangeRejected(RejectReason.NOT_AMENDABLE, "only a waiting stop has a trigger")
        new_qty = qty if qty is not None else order.qty
        new_price = price if price is not None else order.price
        new_trigger = trigger_price if trigger_price is not None else order.trigger_price
        self._validate(inst, order.type, new_qty, new_price, new_trigger)
        if new_qty <= order.filled_qty:
            raise ExchangeRejected(RejectReason.INVALID_QUANTITY, f"{new_qty} <= filled {order.filled_qty}")
        saved = (order.qty, order.price, order.trigger_price, order.lock_asset, order.lock_remaining)

        def restore() -> None:
            order.qty, order.price, order.trigger_price = saved[0], saved[1], saved[2]
            if order.lock_asset:
                account.balance(order.lock_asset).locked -= order.lock_remaining
            order.lock_asset, order.lock_remaining = saved[3], saved[4]
            if saved[3]:
                account.balance(saved[3]).locked += saved[4]

        if not account.house and order.lock_asset:
            # lock for the new terms (the remaining quantity); refused = the old terms stay
            self._release_lock(account, order, order.lock_remaining)
            order.lock_asset = ""
            order.qty, order.price, order.trigger_price = new_qty - order.filled_qty, new_price, new_trigger
            try:
                self._lock_for(account, inst, order, self._positions.get((account.name, order.symbol)))
            except ExchangeRejected:
                restore()
                raise
        order.qty, order.price, order.trigger_price = new_qty, new_price, new_trigger
        result = self._books[order.symbol].amend(
            order.book_id,
            qty_raw=inst.size_raw(new_qty) if qty is not None else None,
            price_raw=inst.price_raw(price) if price is not None else None,
            trigger_raw=inst.price_raw(trigger_price) if trigger_price is not None else None,
            ts=self.clock_ms())
        if not result.ok:
            restore()
            raise ExchangeRejected(RejectReason.NOT_AMENDABLE, result.reason)
        order.updated_ms = self.clock_ms()
        self._emit(OrderChanged(order))
        self._apply_reports(inst, result.reports)
        self._after_trades(inst)
        return order

    # -- history seeding (synthetic market / replay) -----------------------------------------------
    def seed_bar(self, symbol: str, minute_ms: int, o: Decimal, h: Decimal, low: Decimal, c: Decimal,
                 volume: Decimal) -> None:
        """Put a historical one-minute bar; the book's last price follows the newest close."""
        inst = self.instrument(symbol)
        self._bars[symbol].seed(minute_ms, o, h, low, c, volume)
        if symbol not in self._last:
            self._books[symbol].last_price_raw = inst.price_raw(self._bars[symbol].last_close() or c)
