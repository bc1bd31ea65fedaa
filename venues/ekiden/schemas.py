"""Ekiden wire shapes with the venue's own field names, JSON and ISO-8601 helpers.

The ``TypedDict`` classes document what travels on the wire (``parsers.py`` reads them, the
testnet writes them); nothing is built from them at run time. Conventions of the dialect:

* every JSON key is snake_case; every numeric value is a **string** (prices and quantities with
  up to 18 decimal places, sequences and counts too);
* timestamps are ISO-8601 UTC strings ending in ``Z`` (``2025-05-10T12:34:56.123Z``; fractions
  of a second are optional, up to nanoseconds);
* a success body is ``{"success": true, "data": ...}`` (a page adds ``"next_cursor"``), an error
  body ``{"error_code": 2001, "error_message": "Invalid signature"}``.

Enum fallbacks are the kit's (:mod:`venues._common.schema`): the market's type and status and an
order's type and time in force as *reported* may be ``UNKNOWN``; the state enums are the strict
ones of :mod:`venues.ekiden.constants` (order status, side, liquidity).
"""

from __future__ import annotations

import calendar
import enum
import json
import re
import time
from decimal import Decimal
from typing import Any, NotRequired, TypedDict

from venues._common.schema import Descriptive as Descriptive
from venues._common.schema import loads as loads
from venues._common.schema import BookSides

from .constants import MAX_DECIMALS, Liquidity, OrderStatus, Side

__all__ = ["loads", "dumps", "decimal_str", "iso_from_ms", "iso_from_ns", "ns_from_iso", "ms_from_iso",
           "utc_now_iso", "Descriptive", "ReportedMarketType", "ReportedMarketStatus", "ReportedOrderType",
           "ReportedTimeInForce", "VenueOrderStatus", "VenueSide", "VenueLiquidity", "ErrorBody", "Envelope",
           "Page", "ServerTime", "Market", "OrderBook", "PublicTrade", "Order", "NewOrder", "AmendOrder",
           "Fill", "Position", "Balance", "WsSubscribe", "WsPrivateSubscribe", "WsAck", "WsError", "WsBook",
           "WsTrades", "WsOrderUpdate"]

# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------



def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return decimal_str(value)
    raise TypeError(f"cannot write {type(value).__name__} in an Ekiden message")


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes in key order as given; Decimals become plain strings, floats are refused.

    The bytes returned are what is signed and what is sent: the signature covers them exactly.
    """
    _refuse_floats(obj)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_default).encode("utf-8")


def _refuse_floats(obj: Any) -> None:
    if isinstance(obj, float):
        raise TypeError(f"refusing float {obj!r} in an Ekiden message; pass a str or Decimal")
    if isinstance(obj, dict):
        for value in obj.values():
            _refuse_floats(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _refuse_floats(value)


def decimal_str(value: Decimal | int) -> str:
    """A decimal as the venue writes it: plain notation, no exponent, at most 18 decimal places.

    Raises ``ValueError`` for a value with more than 18 decimal places (it cannot be sent
    exactly) or a non-finite value.
    """
    d = Decimal(value)
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > MAX_DECIMALS:
        normal = d.normalize()
        n_exp = normal.as_tuple().exponent
        assert isinstance(n_exp, int)
        if -n_exp > MAX_DECIMALS:
            raise ValueError(f"{value} has more than {MAX_DECIMALS} decimal places")
        d = normal
    return format(d, "f")


# ---------------------------------------------------------------------------------------------
# ISO-8601 timestamps
# ---------------------------------------------------------------------------------------------

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|\+00:00|-00:00|\+0000)\Z", re.ASCII)
_NS_PER_S = 1_000_000_000


def iso_from_ms(ms: int) -> str:
    """Milliseconds since the epoch → ``2025-05-10T12:34:56.123Z``."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso_from_ns(ns: int) -> str:
    """Nanoseconds since the epoch → ISO-8601 with millisecond precision (truncated)."""
    return iso_from_ms(ns // 1_000_000)


def ns_from_iso(text: str) -> int:
    """ISO-8601 UTC (``...Z`` or ``+00:00``, optional fraction up to ns) → ns since the epoch.

    Raises ``ValueError`` for anything else (local times, other offsets, out-of-range fields).
    """
    m = _ISO.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"not an ISO-8601 UTC timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 60):
        raise ValueError(f"not a valid date and time: {text!r}")
    fraction = m.group(7) or ""
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return seconds * _NS_PER_S + (int(fraction.ljust(9, "0")) if fraction else 0)


def ms_from_iso(text: str) -> int:
    """ISO-8601 UTC → milliseconds since the epoch (truncated)."""
    return ns_from_iso(text) // 1_000_000


def utc_now_iso(offset_ms: int = 0) -> str:
    """The wall clock (shifted by ``offset_ms``) as ISO-8601 with milliseconds."""
    return iso_from_ms(time.time_ns() // 1_000_000 + offset_ms)


# ---------------------------------------------------------------------------------------------
# enums
# ---------------------------------------------------------------------------------------------


class ReportedMarketType(Descriptive):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    UNKNOWN = "unknown"


class ReportedMarketStatus(Descriptive):
    ACTIVE = "active"
    HALTED = "halted"
    CLOSE_ONLY = "close_only"
    UNKNOWN = "unknown"


class ReportedOrderType(Descriptive):
    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    UNKNOWN = "unknown"


class ReportedTimeInForce(Descriptive):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    UNKNOWN = "unknown"


VenueOrderStatus = OrderStatus
"Strict: the order states of :mod:`venues.ekiden.constants`."
VenueSide = Side
"Strict."
VenueLiquidity = Liquidity
"Strict (it decides which fee applied)."


# ---------------------------------------------------------------------------------------------
# REST shapes
# ---------------------------------------------------------------------------------------------


class ErrorBody(TypedDict):
    error_code: int
    "2000 invalid request, 2001 authentication failed, 2002 signature expired, 2003 rate limit, 2004 not found."
    error_message: str


class Envelope(TypedDict):
    success: bool
    data: Any


class Page(TypedDict):
    success: bool
    data: list[Any]
    next_cursor: str | None
    "Opaque; ``null`` on the last page."


class ServerTime(TypedDict):
    server_time: str


class Market(TypedDict):
    market: str
    "``ETH-USD``."
    type: str
    "``spot`` or ``perpetual`` (linear, settled in ``settle_asset``)."
    base_asset: str
    quote_asset: str
    settle_asset: str
    status: str
    tick_size: str
    lot_size: str
    min_size: str
    max_size: NotRequired[str | None]
    min_notional: str
    price_decimals: str
    size_decimals: str
    maker_fee: str
    "Rate (``0.0002`` = 0.02 %)."
    taker_fee: str
    max_leverage: NotRequired[str | None]


class OrderBook(BookSides[str]):
    """``GET /v1/orderbook`` data (and a WebSocket snapshot's): decimal strings throughout."""

    market: str
    sequence: str
    timestamp: str


class PublicTrade(TypedDict):
    trade_id: str
    market: str
    price: str
    size: str
    side: str
    "The taker's side."
    timestamp: str


class Order(TypedDict):
    order_id: str
    client_order_id: str
    market: str
    side: str
    type: str
    time_in_force: str
    price: str | None
    trigger_price: str | None
    size: str
    filled_size: str
    average_price: str | None
    status: str
    post_only: bool
    reduce_only: bool
    leverage: NotRequired[str | None]
    reason: NotRequired[str]
    created_at: str
    updated_at: str


class NewOrder(TypedDict):
    """``POST /v1/orders`` body."""

    market: str
    side: str
    type: str
    size: str
    price: NotRequired[str]
    trigger_price: NotRequired[str]
    time_in_force: NotRequired[str]
    post_only: NotRequired[bool]
    reduce_only: NotRequired[bool]
    client_order_id: NotRequired[str]
    leverage: NotRequired[str]


class AmendOrder(TypedDict):
    """``PATCH /v1/orders/{order_id}`` body (at least one field)."""

    price: NotRequired[str]
    size: NotRequired[str]
    "The new total size (filled part included)."


class Fill(TypedDict):
    fill_id: str
    order_id: str
    client_order_id: str
    market: str
    side: str
    price: str
    size: str
    fee: str
    fee_asset: str
    liquidity: str
    timestamp: str


class Position(TypedDict):
    market: str
    side: str
    "``long`` or ``short``."
    size: str
    "Unsigned."
    entry_price: str
    leverage: str
    margin: str
    unrealized_pnl: str
    realized_pnl: str
    updated_at: str


class Balance(TypedDict):
    asset: str
    total: str
    available: str
    locked: str


# ---------------------------------------------------------------------------------------------
# WebSocket shapes
# ---------------------------------------------------------------------------------------------


class WsSubscribe(TypedDict):
    type: str
    "``subscribe`` / ``unsubscribe``."
    channel: str
    "``orderbook`` or ``trades``."
    market: str


class WsPrivateSubscribe(TypedDict):
    type: str
    channel: str
    "``orders``."
    apiKey: str
    "Spelled as the conventions document shows it (``api_key`` is accepted too)."
    signature: str
    timestamp: str


class WsAck(TypedDict):
    type: str
    "``subscribed`` / ``unsubscribed`` / ``pong``."
    channel: NotRequired[str]
    market: NotRequired[str]


class WsError(TypedDict):
    type: str
    error_code: int
    error_message: str
    channel: NotRequired[str]
    market: NotRequired[str]


class WsBook(TypedDict):
    type: str
    "``snapshot`` (full book, first after subscribing) or ``update`` (changed levels; size ``0`` removes)."
    channel: str
    market: str
    data: OrderBook


class WsTrades(TypedDict):
    type: str
    channel: str
    market: str
    data: list[PublicTrade]


class WsOrderUpdate(TypedDict):
    type: str
    channel: str
    "``orders``."
    data: dict[str, Any]
    """``{"order": Order, "fills": [Fill, ...]}``: the order after the change and the fills that caused it."""
