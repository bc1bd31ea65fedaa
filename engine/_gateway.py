"""The gateway contract: what every venue package provides to the engine.

A gateway turns one venue's wire protocol into engine events and engine order commands into the
venue's signed requests. It owns the venue's REST client, stream client (or poller), signer,
clock offset, rate-limit scopes and parsing. Venue packages subclass :class:`Gateway`.

Events flow out through an :class:`EventSink` (two lanes with explicit policies: market data may
be conflated per instrument when the strategy falls behind; order reports and fills are never
dropped). Commands flow in as awaited method calls whose outcome policy is fixed:

* return an :class:`OrderReport`   – the venue answered and said what it did;
* raise :class:`~engine.VenueRejected` – definite venue evidence that nothing was done;
* raise :class:`~engine.OutcomeUnknown` – timeout, connection error, 5xx, 429 or unparseable
  answer after the request may have left: the engine marks the order UNKNOWN and reconciles it
  with :meth:`Gateway.query_order`. A gateway never resends an order command by itself.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs
import trio

from ._events import BalanceUpdate, Fill, PositionUpdate, Side
from ._instruments import Instrument
from ._orders import Order, OrderStatus

__all__ = ["DataKind", "OrderReport", "EventSink", "Gateway", "GatewayCapabilities", "Unsupported"]


class DataKind(enum.Enum):
    """What a strategy can subscribe to."""

    TRADES = "trades"
    QUOTES = "quotes"
    BOOK = "book"
    BARS = "bars"


class Unsupported(Exception):
    """The venue does not support this command (e.g. amend); raised before anything is sent."""


@attrs.frozen(slots=True)
class OrderReport:
    """A venue's statement about one of our orders (from a command's answer, a stream or a poll)."""

    instrument: Instrument
    ts_event: int
    ts_recv: int
    client_order_id: str
    "Our id; gateways map the venue's order id back to it."
    venue_order_id: str
    status: OrderStatus
    "The venue's state, mapped strictly (an unmapped venue status is a MalformedMessage)."
    filled_qty: Decimal | None = None
    "Cumulative filled quantity as the venue reports it (None if the message does not say)."
    avg_price: Decimal | None = None
    reason: str = ""
    fills: tuple[Fill, ...] = ()
    "Executions carried in the same answer (e.g. a FULL market-order response)."
    side: Side | None = None
    "The order's side, where the venue says (open-order listings: what an external order would add)."
    qty: Decimal | None = None
    "The order's quantity, where the venue says."
    price: Decimal | None = None
    "The order's limit price, where the venue says."


@attrs.frozen(slots=True)
class GatewayCapabilities:
    """What a venue supports; the engine denies (or emulates, labelled) what is missing."""

    order_types: frozenset[str]
    "Names from :class:`~engine.OrderType` values."
    time_in_force: frozenset[str]
    post_only: bool = False
    reduce_only: bool = False
    amend: bool = False
    private_stream: bool = False
    "True if order/fill updates are pushed; False if they are polled."
    leverage: bool = False


class EventSink(Protocol):
    """Where a gateway puts what it learned. Both calls are synchronous and never block."""

    def send_market(self, event: Any) -> None:
        """Market data (trades, quotes, books, bars, venue status). May be conflated per instrument."""

    def send_execution(self, event: Any) -> None:
        """OrderReport, Fill, PositionUpdate, BalanceUpdate. Never dropped, delivered in order."""


class Gateway(abc.ABC):
    """One connection to one venue for one account (or market data only, without keys)."""

    venue: str
    capabilities: GatewayCapabilities

    @property
    @abc.abstractmethod
    def instruments(self) -> Mapping[str, Instrument]:
        """Instruments by key, loaded when :meth:`run` has started."""

    @abc.abstractmethod
    async def run(self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, load instruments, start streams/pollers; ``task_status.started()`` once ready.

        Never returns normally; reconnects on its own and reports :class:`~engine.VenueStatus`.
        """

    @abc.abstractmethod
    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Start delivering ``kind`` events for ``instrument`` to the sink (idempotent)."""

    @abc.abstractmethod
    async def submit_order(self, order: Order) -> OrderReport:
        """Send a new order (already checked by risk, rounded to tick/lot). See the module doc."""

    @abc.abstractmethod
    async def cancel_order(self, order: Order) -> OrderReport:
        """Cancel; a cancel whose outcome is unknown raises OutcomeUnknown (order stays as is)."""

    async def amend_order(self, order: Order, *, price: Decimal | None = None, qty: Decimal | None = None) -> OrderReport:
        """Change price/quantity of a resting order; venues without amend raise :class:`Unsupported`."""
        raise Unsupported(f"{self.venue} does not support amending orders")

    @abc.abstractmethod
    async def query_order(self, order: Order) -> OrderReport | None:
        """The venue's current view of the order; None if the venue definitely does not know it."""

    @abc.abstractmethod
    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        """Every open order the venue holds for this account."""

    @abc.abstractmethod
    async def balances(self) -> Sequence[BalanceUpdate]:
        """Current balances of the account."""

    async def positions(self) -> Sequence[PositionUpdate]:
        """Current positions (venues without derivatives return an empty list)."""
        return []

    async def aclose(self) -> None:
        """Close connections (the nursery cancel does the rest)."""
