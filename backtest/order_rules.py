"""The order rules, stated once: what shape an order must have, when it takes, when a stop
triggers, what happens to a remainder, how self-trade prevention and post-only behave.

Three places apply them: the matching engine (:mod:`backtest.matching`, every owner's orders in
every local testnet), the backtest's simulated venue (:mod:`backtest.simvenue`, our orders against
a replayed market) and the testnets' exchange core (:mod:`backtest.exchange`, which turns a
refusal into a venue's error code). Each decides *where* liquidity comes from (the book, a
replayed print, a replayed book level); the rules below decide what an order does with it.

Everything here is pure and works on scaled integers (``*_raw``): no state, no clock.

Rules
-----
* **Shape** (:func:`check_order`): a positive quantity on the lot, within the instrument's
  minimum and maximum; LIMIT and STOP_LIMIT carry a positive price on the tick, others none;
  STOP_MARKET and STOP_LIMIT carry a positive trigger on the tick, others none; post-only only
  on a GTC limit order.
* **Taking** (:func:`crosses`): an order takes when the opposite best price is at its limit or
  better (a market order: whenever there is an opposite side).
* **Post-only** never takes: rejected (:attr:`PostOnlyMode.REJECT`; canceled if it had been
  accepted before, e.g. a triggered stop-limit) or repriced one tick behind the opposite touch
  (:attr:`PostOnlyMode.REPRICE`, :func:`post_only_price`).
* **FOK** (:func:`fok_fills`) fills completely or expires untouched.
* **Remainders** (:func:`remainder`): a market order's remainder expires, an IOC / FOK limit's
  expires, a GTC limit's rests.
* **Stops** (:func:`stop_triggered`): a buy stop triggers when the reference price (last trade,
  or a replayed touch) is at or above its trigger, a sell stop at or below. A stop already past
  its trigger on arrival triggers at once.
* **Self-trade prevention** (:class:`SelfTradePrevention`, :func:`self_trade_cancels`) compares
  owners: which of the two orders is canceled when an order would meet its owner's resting one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple

from engine import OrderType, Side, TimeInForce

__all__ = [
    "SelfTradePrevention",
    "PostOnlyMode",
    "Problem",
    "Refusal",
    "check_order",
    "crosses",
    "stop_triggered",
    "post_only_price",
    "fok_fills",
    "Remainder",
    "remainder",
    "self_trade_cancels",
    "POST_ONLY_TAKES",
    "POST_ONLY_NO_PRICE",
    "FOK_UNFILLED",
    "IOC_REMAINDER",
    "MARKET_NO_LIQUIDITY",
    "SELF_TRADE",
]

_MARKET, _LIMIT = OrderType.MARKET, OrderType.LIMIT
_STOP_MARKET, _STOP_LIMIT = OrderType.STOP_MARKET, OrderType.STOP_LIMIT
_GTC = TimeInForce.GTC

POST_ONLY_TAKES = "post-only order would take liquidity"
POST_ONLY_NO_PRICE = "post-only order has no price that does not take"
FOK_UNFILLED = "fill-or-kill order could not be filled completely"
IOC_REMAINDER = "immediate-or-cancel remainder"
MARKET_NO_LIQUIDITY = "no more liquidity for the market order"
SELF_TRADE = "self-trade prevention"


class SelfTradePrevention(enum.Enum):
    """What happens when an order would match a resting order of the same owner."""

    NONE = "none"
    "Owners may trade with themselves."
    CANCEL_TAKER = "cancel_taker"
    "The incoming order's remainder is canceled; the resting order stays (default)."
    CANCEL_MAKER = "cancel_maker"
    "The resting order is canceled and matching goes on."
    CANCEL_BOTH = "cancel_both"
    "Both are canceled."


class PostOnlyMode(enum.Enum):
    """What happens to a post-only order that would take liquidity."""

    REJECT = "reject"
    "Rejected (canceled, for a triggered stop or an amend that enters again)."
    REPRICE = "reprice"
    "Moved to one tick behind the opposite best price, then rests."


class Problem(enum.Enum):
    """Why an order's shape is refused; :attr:`kind` groups them the way venues' error codes do."""

    BAD_SIDE = "bad_side"
    QTY_NOT_POSITIVE = "qty_not_positive"
    QTY_OFF_LOT = "qty_off_lot"
    QTY_BELOW_MIN = "qty_below_min"
    QTY_ABOVE_MAX = "qty_above_max"
    PRICE_MISSING = "price_missing"
    PRICE_OFF_TICK = "price_off_tick"
    PRICE_NOT_ALLOWED = "price_not_allowed"
    TRIGGER_MISSING = "trigger_missing"
    TRIGGER_OFF_TICK = "trigger_off_tick"
    TRIGGER_NOT_ALLOWED = "trigger_not_allowed"
    POST_ONLY_NOT_GTC_LIMIT = "post_only_not_gtc_limit"

    @property
    def kind(self) -> str:
        """``quantity``, ``price`` or ``parameters``."""
        return _KIND.get(self, "parameters")


_KIND = {Problem.QTY_NOT_POSITIVE: "quantity", Problem.QTY_OFF_LOT: "quantity", Problem.QTY_BELOW_MIN: "quantity",
         Problem.QTY_ABOVE_MAX: "quantity", Problem.PRICE_MISSING: "price", Problem.PRICE_OFF_TICK: "price",
         Problem.TRIGGER_MISSING: "price", Problem.TRIGGER_OFF_TICK: "price"}

_Fmt = Callable[[int], object]


def _raw(value: int) -> object:
    return value


class Refusal(NamedTuple):
    """A shape rule an order breaks: the :class:`Problem`, the order type and the raw figures."""

    problem: Problem
    type: OrderType
    value: object = None
    "The offending quantity / price / trigger (raw), or the side."
    limit: int | None = None
    "The step or bound it breaks (raw)."

    def text(self, size: _Fmt = _raw, price: _Fmt = _raw, units: str = "raw") -> str:
        """The reason in words. ``size`` / ``price`` format raw figures (e.g. the instrument's
        ``size_of`` / ``price_of``); ``units="instrument"`` words steps as the instrument does
        ("lot size", "on the tick"), ``"raw"`` as the book's integer steps."""
        p, t = self.problem, self.type.value
        human = units == "instrument"
        v, lim = self.value, self.limit
        if p is Problem.BAD_SIDE:
            return f"bad side {v!r}"
        if p is Problem.QTY_NOT_POSITIVE:
            return "quantity must be positive"
        if p is Problem.QTY_OFF_LOT:
            return f"quantity {size(v)} is not a multiple of the lot{' size' if human else ''} {size(lim)}"  # type: ignore[arg-type]
        if p is Problem.QTY_BELOW_MIN:
            return f"quantity {size(v)} is below the minimum {size(lim)}"  # type: ignore[arg-type]
        if p is Problem.QTY_ABOVE_MAX:
            return f"quantity {size(v)} is above the maximum {size(lim)}"  # type: ignore[arg-type]
        if p is Problem.PRICE_MISSING:
            return f"{t} order needs a positive price"
        if p is Problem.TRIGGER_MISSING:
            return f"{t} order needs a positive trigger price"
        if p is Problem.PRICE_OFF_TICK or p is Problem.TRIGGER_OFF_TICK:
            name = "price" if p is Problem.PRICE_OFF_TICK else ("trigger price" if human else "trigger")
            step = "on the tick" if human else "a multiple of the tick"
            return f"{name} {price(v)} is not {step} {price(lim)}"  # type: ignore[arg-type]
        if p is Problem.PRICE_NOT_ALLOWED:
            return f"{t} order takes no price"
        if p is Problem.TRIGGER_NOT_ALLOWED:
            return f"{t} order takes no trigger price"
        return "post-only needs a GTC limit order"


def check_order(side: Side | int, type: OrderType, qty: int, price: int | None, trigger: int | None,
                time_in_force: TimeInForce, post_only: bool, *, tick: int, lot: int, min_qty: int = 0,
                max_qty: int | None = None) -> Refusal | None:
    """The first shape rule the order breaks (module docstring), or None."""
    if side != 1 and side != -1:
        return Refusal(Problem.BAD_SIDE, type, side)
    if qty <= 0:
        return Refusal(Problem.QTY_NOT_POSITIVE, type, qty)
    if qty % lot:
        return Refusal(Problem.QTY_OFF_LOT, type, qty, lot)
    if qty < min_qty:
        return Refusal(Problem.QTY_BELOW_MIN, type, qty, min_qty)
    if max_qty is not None and qty > max_qty:
        return Refusal(Problem.QTY_ABOVE_MAX, type, qty, max_qty)
    for value, wanted, problems in ((price, type is _LIMIT or type is _STOP_LIMIT, _PRICE_PROBLEMS),
                                    (trigger, type is _STOP_MARKET or type is _STOP_LIMIT, _TRIGGER_PROBLEMS)):
        if not wanted:
            if value is not None:
                return Refusal(problems[2], type, value)
        elif value is None or value <= 0:
            return Refusal(problems[0], type)
        elif value % tick:
            return Refusal(problems[1], type, value, tick)
    if post_only and (price is None or time_in_force is not _GTC):
        return Refusal(Problem.POST_ONLY_NOT_GTC_LIMIT, type)
    return None


_PRICE_PROBLEMS = (Problem.PRICE_MISSING, Problem.PRICE_OFF_TICK, Problem.PRICE_NOT_ALLOWED)
_TRIGGER_PROBLEMS = (Problem.TRIGGER_MISSING, Problem.TRIGGER_OFF_TICK, Problem.TRIGGER_NOT_ALLOWED)


def crosses(side: Side | int, limit: int | None, opposite_best: int | None) -> bool:
    """Would an order of ``side`` at ``limit`` (None: market) take at ``opposite_best`` (None: empty)?"""
    if opposite_best is None:
        return False
    if limit is None:
        return True
    return opposite_best <= limit if side > 0 else opposite_best >= limit


def stop_triggered(side: Side | int, trigger: int, reference: int | None) -> bool:
    """Does a stop of ``side`` trigger at the reference price (None: no price yet)?"""
    if reference is None:
        return False
    return reference >= trigger if side > 0 else reference <= trigger


def post_only_price(side: Side | int, opposite_best: int, tick: int) -> int | None:
    """A repriced post-only order's price: one tick behind the opposite touch (None: no such price)."""
    price = opposite_best - tick if side > 0 else opposite_best + tick
    return price if price > 0 else None


def fok_fills(takes: bool, available: int, leaves: int) -> bool:
    """A fill-or-kill order goes ahead only when it takes and the liquidity covers all of it."""
    return takes and available >= leaves


class Remainder(enum.Enum):
    """What happens to what an order did not fill on entry."""

    REST = "rest"
    EXPIRE = "expire"


def remainder(limit: int | None, time_in_force: TimeInForce) -> tuple[Remainder, str]:
    """A market order's remainder expires; an IOC / FOK limit's expires; a GTC limit's rests.

    (The simulated venue keeps a GTC *market* remainder taking at the next replayed updates:
    a recorded book is finite depth. That is a fill-model choice and lives there.)
    """
    if limit is None:
        return Remainder.EXPIRE, MARKET_NO_LIQUIDITY
    if time_in_force is not _GTC:
        return Remainder.EXPIRE, IOC_REMAINDER
    return Remainder.REST, ""


def self_trade_cancels(mode: SelfTradePrevention) -> tuple[bool, bool]:
    """``(cancel the resting order, cancel the incoming one)`` when an order meets its owner's."""
    if mode is SelfTradePrevention.CANCEL_TAKER:
        return False, True
    if mode is SelfTradePrevention.CANCEL_MAKER:
        return True, False
    if mode is SelfTradePrevention.CANCEL_BOTH:
        return True, True
    return False, False
