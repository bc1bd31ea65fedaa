"""Ekiden wire constants: hosts, paths, headers, error codes, enums, limits, windows.

The dialect is the one Ekiden's published *API conventions* document describes (see
``venues/ekiden/README.md`` for why, and for every detail that document leaves open and this
package chose). Shared by the client side (gateway) and the local testnet (server side), so both
speak the same spelling and cannot drift.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["VENUE", "REST_URL", "WS_URL", "API_PREFIX", "STREAM_PATH", "API_KEY_HEADER", "TIMESTAMP_HEADER",
           "SIGNATURE_HEADER", "TIMESTAMP_WINDOW_MS", "PUBLIC_REQUESTS_PER_MIN", "PRIVATE_REQUESTS_PER_MIN",
           "RATE_WINDOW_S", "WS_IDLE_TIMEOUT_S", "MAX_DECIMALS", "DEFAULT_PAGE_LIMIT", "MAX_PAGE_LIMIT",
           "MAX_BOOK_DEPTH", "Path", "PUBLIC_PATHS", "ErrorCode", "HTTP_STATUS", "ERROR_MESSAGES", "Side",
           "OrderType", "TimeInForce", "OrderStatus", "MarketType", "MarketStatus", "Liquidity", "WsType",
           "Channel"]

VENUE: Final = "ekiden"

REST_URL: Final = "https://api.ekiden.exchange"
"Production REST host (the conventions document names only the WebSocket host; this one is its sibling)."
WS_URL: Final = "wss://ws.ekiden.exchange/v1/stream"
"Production WebSocket endpoint, as the conventions document states it."

API_PREFIX: Final = "/v1"
"URI versioning: every path starts with ``/v1/``."
STREAM_PATH: Final = "/v1/stream"

API_KEY_HEADER: Final = "EKIDEN-API-KEY"
TIMESTAMP_HEADER: Final = "EKIDEN-TIMESTAMP"
SIGNATURE_HEADER: Final = "EKIDEN-SIGNATURE"

TIMESTAMP_WINDOW_MS: Final = 30_000
"A signed request (or private subscription) is accepted iff ``|server time - timestamp| <= 30 s``."

PUBLIC_REQUESTS_PER_MIN: Final = 60
"Public endpoints: 60 requests per minute (per client address)."
PRIVATE_REQUESTS_PER_MIN: Final = 30
"Private endpoints: 30 requests per minute per API key."
RATE_WINDOW_S: Final = 60.0
"Length of the rate-limit window the published limits are counted in."

WS_IDLE_TIMEOUT_S: Final = 60.0
"The venue closes a socket that sent nothing (no ``ping``) for this long."

MAX_DECIMALS: Final = 18
"Quantities and prices are strings with up to 18 decimal places."

DEFAULT_PAGE_LIMIT: Final = 100
MAX_PAGE_LIMIT: Final = 500
MAX_BOOK_DEPTH: Final = 500


class Path(str, enum.Enum):
    """REST resource paths (``{}`` is an order id)."""

    TIME = "/v1/time"
    "The venue's clock; public, like the three after it (:data:`PUBLIC_PATHS`)."
    MARKETS = "/v1/markets"
    ORDERBOOK = "/v1/orderbook"
    TRADES = "/v1/trades"
    ORDERS = "/v1/orders"
    "Our orders: ``GET`` lists them, ``POST`` creates one."
    ORDER = "/v1/orders/{}"
    "One order (:meth:`of`): ``GET`` reads, ``PATCH`` amends, ``DELETE`` cancels it."
    FILLS = "/v1/fills"
    POSITIONS = "/v1/positions"
    BALANCES = "/v1/balances"

    def of(self, order_id: str) -> str:
        """The path of one order (``/v1/orders/<id>``)."""
        return self.value.format(order_id)


PUBLIC_PATHS: Final = frozenset({Path.TIME.value, Path.MARKETS.value, Path.ORDERBOOK.value, Path.TRADES.value})
"Everything else under ``/v1/`` is private (signed, per-key rate limit)."


class ErrorCode(enum.IntEnum):
    """``error_code`` values of ``{"error_code", "error_message"}`` bodies."""

    INVALID_REQUEST = 2000
    AUTHENTICATION_FAILED = 2001
    SIGNATURE_EXPIRED = 2002
    RATE_LIMIT_EXCEEDED = 2003
    NOT_FOUND = 2004


HTTP_STATUS: Final[dict[ErrorCode, int]] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.AUTHENTICATION_FAILED: 401,
    ErrorCode.SIGNATURE_EXPIRED: 401,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.NOT_FOUND: 404,
}
"The HTTP status that goes with each error code."

ERROR_MESSAGES: Final[dict[ErrorCode, str]] = {
    ErrorCode.INVALID_REQUEST: "Invalid request",
    ErrorCode.AUTHENTICATION_FAILED: "Authentication failed",
    ErrorCode.SIGNATURE_EXPIRED: "Signature expired",
    ErrorCode.RATE_LIMIT_EXCEEDED: "Rate limit exceeded",
    ErrorCode.NOT_FOUND: "Resource not found",
}
"Default ``error_message`` per code (the testnet appends a detail after a colon)."


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"


class OrderType(str, enum.Enum):
    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"
    "Becomes a market order when the last trade price touches ``trigger_price``."
    STOP_LIMIT = "stop_limit"
    "Becomes a limit order at ``price`` when the last trade price touches ``trigger_price``."


class TimeInForce(str, enum.Enum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(str, enum.Enum):
    """Order states as the venue spells them."""

    OPEN = "open"
    "Working (resting, or a stop waiting for its trigger), nothing filled yet."
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    "Canceled by the owner, or the unfilled rest of an IOC/market order."
    EXPIRED = "expired"
    "A FOK that could not fill completely."
    REJECTED = "rejected"
    "Refused after acceptance (e.g. a stop that could not be placed when triggered)."


class MarketType(str, enum.Enum):
    SPOT = "spot"
    PERPETUAL = "perpetual"
    "Linear perpetual settled in the quote asset."


class MarketStatus(str, enum.Enum):
    ACTIVE = "active"
    HALTED = "halted"
    CLOSE_ONLY = "close_only"


class Liquidity(str, enum.Enum):
    MAKER = "maker"
    TAKER = "taker"


class WsType(str, enum.Enum):
    """The ``type`` of a WebSocket frame."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PING = "ping"
    PONG = "pong"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    SNAPSHOT = "snapshot"
    UPDATE = "update"
    ERROR = "error"


class Channel(str, enum.Enum):
    ORDERBOOK = "orderbook"
    TRADES = "trades"
    ORDERS = "orders"
    "Private: order updates and our fills."
