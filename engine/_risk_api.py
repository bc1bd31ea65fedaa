"""The engine's side of the risk contract: typed denial reasons, trading states, the gate protocol.

``risk/`` implements :class:`RiskGate`; the engine calls it for every order command in every mode.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from ._core import Engine
    from ._events import Fill
    from ._orders import Order

__all__ = ["DenyReason", "Denial", "TradingState", "RiskGate"]


class DenyReason(enum.Enum):
    """Why the risk module refused an order command. Reported per reason in every run's report."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    INVALID_QTY = "invalid_qty"
    "Zero, negative, or not representable on the lot after rounding."
    INVALID_PRICE = "invalid_price"
    BELOW_MIN_QTY = "below_min_qty"
    ABOVE_MAX_QTY = "above_max_qty"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_ACCOUNT_NOTIONAL = "max_account_notional"
    MAX_OPEN_ORDERS = "max_open_orders"
    PRICE_BAND = "price_band"
    "Fat-finger guard: price too far from mid/mark/last."
    NO_REFERENCE_PRICE = "no_reference_price"
    LEVERAGE_NOT_ALLOWED = "leverage_not_allowed"
    LEVERAGE_ABOVE_CAP = "leverage_above_cap"
    UNSUPPORTED_ORDER = "unsupported_order"
    "The venue lacks this order type or flag and it is not emulated."
    INSUFFICIENT_BALANCE = "insufficient_balance"
    RATE_LIMITED = "rate_limited"
    "The venue's rate limit would be exceeded and waiting is not allowed (or too long)."
    STALE_TIMESTAMP = "stale_timestamp"
    "The command would reach the venue outside its recvWindow / nonce window."
    TRADING_HALTED = "trading_halted"
    REDUCE_ONLY_STATE = "reduce_only_state"
    "Trading state is REDUCING and the order would not reduce a position."
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    MAX_DRAWDOWN = "max_drawdown"
    STRATEGY_STOPPED = "strategy_stopped"
    "The strategy raised and was stopped; it may not trade any more."
    VENUE_UNAVAILABLE = "venue_unavailable"


@attrs.frozen(slots=True)
class Denial:
    reason: DenyReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}" if self.detail else self.reason.value


class TradingState(enum.Enum):
    """The kill switch."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    ACTIVE = "active"
    REDUCING = "reducing"
    "Only orders that reduce a position are admitted."
    HALTED = "halted"
    "All open orders are canceled; nothing new is admitted."


class RiskGate(Protocol):
    """What the engine needs from the risk module."""

    state: TradingState

    def check_order(self, order: Order, engine: Engine) -> Denial | None:
        """Admit (None) or deny a new order. Called after rounding, before anything is sent."""

    def on_fill(self, fill: Fill, engine: Engine) -> None:
        """Account a fill (loss limits, drawdown)."""
