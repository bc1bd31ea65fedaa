"""Orders: types, flags, the state machine and the order-update event.

State machine (DESIGN.md)::

    INITIALIZED ─► SUBMITTED ─► ACCEPTED ─► PARTIALLY_FILLED ─► FILLED
         │             │            │  ▲            │
         ▼             ▼            ▼  │            ▼
       DENIED       REJECTED    PENDING_CANCEL ─► CANCELED / EXPIRED

    UNKNOWN: after a timeout / 5xx / 429 / parse failure on a command whose outcome is not
    known. Only a reconciliation query (or later venue evidence) moves an order out of UNKNOWN.

An :class:`Order` is owned by the engine and mutated only through :meth:`Order.apply`; strategies
read it. Every change is announced as an immutable :class:`OrderUpdate`.
"""

from __future__ import annotations

import enum
import itertools
import os
import time
from decimal import Decimal
from typing import NamedTuple

from ._events import Side
from ._instruments import Instrument

__all__ = [
    "OrderType",
    "TimeInForce",
    "OrderStatus",
    "Order",
    "OrderUpdate",
    "InvalidTransition",
    "ClientOrderIdFactory",
]


class OrderType(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    "Becomes a market order when the last price touches ``trigger_price``."
    STOP_LIMIT = "stop_limit"
    "Becomes a limit order at ``price`` when the last price touches ``trigger_price``."


class TimeInForce(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(enum.Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    INITIALIZED = "initialized"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DENIED = "denied"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Working at the venue (or possibly so): counts against open-order limits."""
        return self in _OPEN


S = OrderStatus
_INITIALIZED = S.INITIALIZED
_TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.DENIED})
_OPEN = frozenset({S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.UNKNOWN})
_LIVE_AT_VENUE = frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED, S.PENDING_CANCEL})

_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset({S.SUBMITTED, S.DENIED}),
    # SUBMITTED -> DENIED: a send-time check (rate limit, recvWindow) stopped it before it left
    S.SUBMITTED: frozenset({S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED,
                            S.EXPIRED, S.UNKNOWN, S.PENDING_CANCEL, S.DENIED}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED,
                           S.UNKNOWN}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED,
                                   S.EXPIRED, S.UNKNOWN}),
    # PENDING_CANCEL -> REJECTED: the order itself was refused before the cancel could act
    S.PENDING_CANCEL: frozenset({S.CANCELED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED, S.ACCEPTED,
                                 S.UNKNOWN, S.REJECTED}),
    # reconciliation may find any venue state (or that the venue never had it: REJECTED)
    S.UNKNOWN: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED,
                          S.REJECTED, S.PENDING_CANCEL, S.UNKNOWN}),
}
for _terminal in _TERMINAL:
    _TRANSITIONS[_terminal] = frozenset()
del S


class InvalidTransition(Exception):
    """An order was asked to move to a state the state machine does not allow from its current one."""


class OrderUpdate(NamedTuple):
    """An order changed state (or filled more). ``order`` is the live engine-owned order."""

    order: Order
    ts_event: int
    ts_recv: int
    status: OrderStatus
    previous: OrderStatus
    reason: str = ""


_new_update = tuple.__new__


class Order:
    """One order, from its creation by a strategy to a terminal state.

    Quantities and prices are kept as scaled integers of the instrument (``*_raw``) with exact
    Decimal views. Strategies read orders; only the engine calls :meth:`apply` and :meth:`fill`.
    """

    __slots__ = (
        "client_order_id", "strategy_id", "instrument", "side", "type", "qty_raw", "price_raw",
        "trigger_raw", "time_in_force", "post_only", "reduce_only", "leverage", "take_profit",
        "stop_loss", "status", "venue_order_id", "filled_raw", "filled_notional_raw", "ts_init",
        "ts_last", "reason", "emulated", "tags",
    )

    def __init__(
        self,
        client_order_id: str,
        instrument: Instrument,
        side: Side,
        type: OrderType,
        qty_raw: int,
        *,
        price_raw: int | None = None,
        trigger_raw: int | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        leverage: Decimal | None = None,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
        strategy_id: str = "",
        ts_init: int = 0,
        tags: tuple[str, ...] = (),
    ) -> None:
        self.client_order_id = client_order_id
        self.strategy_id = strategy_id
        self.instrument = instrument
        self.side = side
        self.type = type
        self.qty_raw = qty_raw
        self.price_raw = price_raw
        self.trigger_raw = trigger_raw
        self.time_in_force = time_in_force
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.leverage = leverage
        self.take_profit = take_profit
        self.stop_loss = stop_loss
        self.status = _INITIALIZED
        self.venue_order_id = ""
        self.filled_raw = 0
        self.filled_notional_raw = 0  # sum of price_raw * size_raw of fills
        self.ts_init = ts_init
        self.ts_last = ts_init
        self.reason = ""
        self.emulated = False
        self.tags = tags

    # -- views ---------------------------------------------------------------------------
    @property
    def qty(self) -> Decimal:
        return self.instrument.size_of(self.qty_raw)

    @property
    def price(self) -> Decimal | None:
        return None if self.price_raw is None else self.instrument.price_of(self.price_raw)

    @property
    def trigger_price(self) -> Decimal | None:
        return None if self.trigger_raw is None else self.instrument.price_of(self.trigger_raw)

    @property
    def filled_qty(self) -> Decimal:
        return self.instrument.size_of(self.filled_raw)

    @property
    def leaves_raw(self) -> int:
        return self.qty_raw - self.filled_raw

    @property
    def leaves_qty(self) -> Decimal:
        return self.instrument.size_of(self.qty_raw - self.filled_raw)

    @property
    def avg_price(self) -> Decimal | None:
        """Exact volume-weighted fill price (may have more decimals than the tick)."""
        if not self.filled_raw:
            return None
        inst = self.instrument
        return Decimal(self.filled_notional_raw) / Decimal(self.filled_raw) / Decimal(10) ** inst.price_scale

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN

    @property
    def is_terminal(self) -> bool:
        return self.status in _TERMINAL

    @property
    def signed_leaves_raw(self) -> int:
        return (self.qty_raw - self.filled_raw) * self.side

    # -- mutation (engine only) -----------------------------------------------------------
    def can_apply(self, status: OrderStatus) -> bool:
        return status in _TRANSITIONS[self.status]

    def apply(self, status: OrderStatus, ts: int, reason: str = "") -> OrderUpdate:
        """Move to ``status``; raises :class:`InvalidTransition` if the state machine forbids it."""
        previous = self.status
        if status not in _TRANSITIONS[previous]:
            raise InvalidTransition(f"order {self.client_order_id}: {previous.value} -> {status.value}")
        self.status = status
        self.ts_last = ts
        if reason:
            self.reason = reason
        # OrderUpdate(...) without the keyword handling of the generated __new__
        return _new_update(OrderUpdate, (self, ts, ts, status, previous, reason))

    def add_fill(self, price_raw: int, size_raw: int) -> None:
        """Account one execution; raises ``ValueError`` on an overfill (an alarm, never clipped)."""
        if size_raw <= 0:
            raise ValueError(f"fill size must be positive, got {size_raw}")
        if self.filled_raw + size_raw > self.qty_raw:
            raise ValueError(
                f"overfill on {self.client_order_id}: {self.instrument.size_of(self.filled_raw + size_raw)}"
                f" > {self.qty}"
            )
        self.filled_raw += size_raw
        self.filled_notional_raw += price_raw * size_raw

    def __repr__(self) -> str:
        price = f" @ {self.price}" if self.price_raw is not None else ""
        trig = f" trigger {self.trigger_price}" if self.trigger_raw is not None else ""
        return (
            f"<Order {self.client_order_id} {self.instrument.key} {self.side.name} {self.type.value} "
            f"{self.qty}{price}{trig} {self.time_in_force.value} {self.status.value} filled {self.filled_qty}>"
        )


def _new_order(
    client_order_id: str, instrument: Instrument, side: Side, type: OrderType, qty_raw: int,
    price_raw: int | None, trigger_raw: int | None, time_in_force: TimeInForce, post_only: bool,
    reduce_only: bool, leverage: Decimal | None, take_profit: Decimal | None, stop_loss: Decimal | None,
    strategy_id: str, ts_init: int,
) -> Order:
    """``Order(...)`` for the engine's submit path: the same order, without the cost of a class
    call with keywords (about a microsecond per order). Sets every slot ``Order.__init__`` sets."""
    o = _new_object(Order)
    o.client_order_id = client_order_id
    o.strategy_id = strategy_id
    o.instrument = instrument
    o.side = side
    o.type = type
    o.qty_raw = qty_raw
    o.price_raw = price_raw
    o.trigger_raw = trigger_raw
    o.time_in_force = time_in_force
    o.post_only = post_only
    o.reduce_only = reduce_only
    o.leverage = leverage
    o.take_profit = take_profit
    o.stop_loss = stop_loss
    o.status = _INITIALIZED
    o.venue_order_id = ""
    o.filled_raw = 0
    o.filled_notional_raw = 0
    o.ts_init = ts_init
    o.ts_last = ts_init
    o.reason = ""
    o.emulated = False
    o.tags = ()
    return o


_new_object = object.__new__


class ClientOrderIdFactory:
    """Unique client order ids: ``<prefix><run id>-<counter>``, ASCII, at most 36 characters.

    The run id comes from the wall clock and the process id at creation, so ids do not repeat
    across restarts; pass ``run_id`` to make them reproducible (backtests).
    """

    def __init__(self, prefix: str = "tt", run_id: str | None = None) -> None:
        if run_id is None:
            run_id = _base36(time.time_ns() // 1_000_000) + _base36(os.getpid() % 1296)
        self._stem = f"{prefix}{run_id}-"
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._stem}{next(self._counter)}"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out
