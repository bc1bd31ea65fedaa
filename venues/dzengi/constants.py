"""Dzengi wire constants: hosts, paths, error codes and messages, enums, limits, intervals.

Facts from the venue's documentation and the research notes (``shared/venues/dzengi-notes.md``).
Shared by the client side (gateway) and the local testnet (server side), so both speak the same
spelling.
"""

from __future__ import annotations

import enum
from typing import Final, NamedTuple

from venues._common.schema import Named

__all__ = ["VENUE", "REST_URL", "DEMO_REST_URL", "WS_URL", "DEMO_WS_URL", "API_VERSIONS", "WS_PATH",
           "API_KEY_HEADER", "LEVERAGE_SUFFIX", "DEFAULT_RECV_WINDOW_MS", "MAX_RECV_WINDOW_MS",
           "TIMESTAMP_AHEAD_TOLERANCE_MS", "WS_IDLE_TIMEOUT_S", "Endpoint", "ErrorCode", "ERROR_MESSAGES",
           "NewOrderRespType",
           "PositionType", "PositionSource", "PositionStatus",
           "RequestState", "KlineType", "RateLimit", "RATE_LIMITS", "REQUEST_WEIGHT", "ORDERS",
           "ALL_SYMBOLS_WEIGHT", "request_weight", "INTERVALS_MS", "WS_INTERVAL_ALIASES", "DEPTH_LIMITS",
           "WsDestination", "WsStatus"]

VENUE: Final = "dzengi"

REST_URL: Final = "https://api-adapter.dzengi.com"
DEMO_REST_URL: Final = "https://demo-api-adapter.dzengi.com"
WS_URL: Final = "wss://api-adapter.dzengi.com/connect"
DEMO_WS_URL: Final = "wss://demo-api-adapter.dzengi.com/connect"
API_VERSIONS: Final = ("v1", "v2")
"Both versions serve the same endpoint names (v2 also lists Hong Kong stocks)."
WS_PATH: Final = "/connect"

API_KEY_HEADER: Final = "X-MBX-APIKEY"
LEVERAGE_SUFFIX: Final = "_LEVERAGE"
"``BTC/USD`` trades with leverage as ``BTC/USD_LEVERAGE``; asset-only names are used unchanged."

DEFAULT_RECV_WINDOW_MS: Final = 5000
MAX_RECV_WINDOW_MS: Final = 60000
TIMESTAMP_AHEAD_TOLERANCE_MS: Final = 1000
"Accept iff ``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow``."
WS_IDLE_TIMEOUT_S: Final = 30.0
"The venue closes a socket that sent nothing (no ``ping``) for this long."


class Endpoint(str, enum.Enum):
    """REST endpoint names; the path is ``/api/{v1|v2}/<value>``."""

    TIME = "time"
    "The venue's clock (``serverTime``); its samples feed the client's clock estimate."
    EXCHANGE_INFO = "exchangeInfo"
    "Symbols, their filters and the rate limits the venue applies (``rateLimits``)."
    CURRENCIES = "currencies"
    DEPTH = "depth"
    AGG_TRADES = "aggTrades"
    KLINES = "klines"
    TICKER_24HR = "ticker/24hr"
    "Public market data above; signed (``USER_DATA``) requests below."
    ACCOUNT = "account"
    MY_TRADES = "myTrades"
    ORDER = "order"
    "``POST`` places an order, ``DELETE`` cancels one (LIMIT orders only)."
    OPEN_ORDERS = "openOrders"
    FETCH_ORDER = "fetchOrder"
    LEVERAGE_SETTINGS = "leverageSettings"
    TRADING_POSITIONS = "tradingPositions"
    TRADING_POSITIONS_HISTORY = "tradingPositionsHistory"
    "Leverage positions and their history; the three below change them."
    UPDATE_TRADING_POSITION = "updateTradingPosition"
    UPDATE_TRADING_ORDER = "updateTradingOrder"
    CLOSE_TRADING_POSITION = "closeTradingPosition"

    def path(self, version: str = "v2") -> str:
        """``/api/<version>/<name>``."""
        return f"/api/{version}/{self.value}"


class ErrorCode(enum.IntEnum):
    """Error codes in ``{"code": ..., "msg": ...}`` bodies (Binance numbering)."""

    UNKNOWN = -1000
    TOO_MANY_REQUESTS = -1003
    FILTER_FAILURE = -1013
    TOO_MANY_ORDERS = -1015
    INVALID_TIMESTAMP = -1021
    INVALID_SIGNATURE = -1022
    INVALID_PRICE = -1030
    ILLEGAL_CHARS = -1100
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
    BAD_SYMBOL = -1121
    INVALID_PARAMETER_COMBINATION = -1128
    BAD_RECV_WINDOW = -1131
    NEW_ORDER_REJECTED = -2010
    CANCEL_REJECTED = -2011
    NO_SUCH_ORDER = -2013
    BAD_API_KEY_FMT = -2014
    REJECTED_MBX_KEY = -2015


ERROR_MESSAGES: Final[dict[ErrorCode, str]] = {
    ErrorCode.UNKNOWN: "An unknown error occured while processing the request.",
    ErrorCode.TOO_MANY_REQUESTS: "Too many requests; current limit is {limit} request weight per 1 MINUTE.",
    ErrorCode.FILTER_FAILURE: "Filter failure: {filter}",
    ErrorCode.TOO_MANY_ORDERS: "Too many new orders; current limit is {limit} orders per {interval}.",
    ErrorCode.INVALID_TIMESTAMP: "Timestamp for this request is outside of the recvWindow.",
    ErrorCode.INVALID_SIGNATURE: "Signature for this request is not valid.",
    ErrorCode.INVALID_PRICE: "You mentioned an invalid value for the price parameter.",
    ErrorCode.ILLEGAL_CHARS: "Illegal characters found in parameter '{name}'; legal range is '{legal}'.",
    ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED:
        "Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    ErrorCode.BAD_SYMBOL: "Invalid symbol.",
    ErrorCode.INVALID_PARAMETER_COMBINATION: "Combination of parameters invalid.",
    ErrorCode.BAD_RECV_WINDOW: "recvWindow must be less than 60000",
    ErrorCode.NEW_ORDER_REJECTED: "Account has insufficient balance for requested action.",
    ErrorCode.CANCEL_REJECTED: "UNKNOWN_ORDER",
    ErrorCode.NO_SUCH_ORDER: "Order does not exist.",
    ErrorCode.BAD_API_KEY_FMT: "API-key format invalid.",
    ErrorCode.REJECTED_MBX_KEY: "Invalid API-key, IP, or permissions for action.",
}
"Default message per code; ``{name}`` placeholders are filled by the sender."


class NewOrderRespType(Named):
    RESULT = enum.auto()
    FULL = enum.auto()
    ACK = enum.auto()
    "No longer supported by the venue (rejected)."


class PositionType(Named):
    NET = enum.auto()
    HEDGE = enum.auto()


class PositionSource(Named):
    """Who caused a position execution (``tradingPositionsHistory.source``)."""

    USER = enum.auto()
    SL = enum.auto()
    TP = enum.auto()
    CLOSE_OUT = enum.auto()
    DEALER = enum.auto()
    SYSTEM = enum.auto()


class PositionStatus(Named):
    """What happened to a position (``tradingPositionsHistory.status``)."""

    OPENED = enum.auto()
    MODIFIED = enum.auto()
    CLOSED = enum.auto()
    SWAP = enum.auto()
    DIVIDEND = enum.auto()
    MODIFY_REJECT = enum.auto()


class RequestState(Named):
    """State of an ``updateTradingPosition`` / ``updateTradingOrder`` / close request."""

    PENDING = enum.auto()
    PROCESSED = enum.auto()
    CANCELLED = enum.auto()


class KlineType(str, enum.Enum):
    CLASSIC = "classic"
    HEIKEN_ASHI = "heiken-ashi"
    "The REST change log spells it ``heiken-ashi``; the WebSocket docs ``heikin-ashi``: accept both."


class RateLimit(NamedTuple):
    rate_limit_type: str
    interval: str
    interval_num: int
    limit: int

    @property
    def window_ms(self) -> int:
        unit = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}[self.interval]
        return unit * self.interval_num


RATE_LIMITS: Final = (
    RateLimit("REQUEST_WEIGHT", "MINUTE", 1, 1200),
    RateLimit("ORDERS", "SECOND", 1, 10),
    RateLimit("ORDERS", "DAY", 1, 864000),
)
"What ``exchangeInfo.rateLimits`` advertises."

REQUEST_WEIGHT: Final = "REQUEST_WEIGHT"
"Scope metered per client address: the sum of request weights per minute."
ORDERS: Final = "ORDERS"
"Scope metered per account: new orders (and position closes) per second and per day."

_HEAVY_ENDPOINTS: Final = frozenset({"account", "myTrades", "tradingPositions", "tradingPositionsHistory"})
ALL_SYMBOLS_WEIGHT: Final = 40
"Weight of ``ticker/24hr`` and ``openOrders`` without a symbol."


def request_weight(endpoint: str, *, symbol: bool = True, depth_limit: int = 100) -> int:
    """``REQUEST_WEIGHT`` of one request (the venue publishes limits, not weights; Binance's numbering).

    ``symbol``: whether the request names one (``ticker/24hr`` and ``openOrders`` cost
    :data:`ALL_SYMBOLS_WEIGHT` without one); ``depth_limit``: the ``limit`` of a ``depth`` request.
    The client charges its rate limiter and the local testnet charges its clients with this one table::

        time, exchangeInfo, currencies, aggTrades, klines, leverageSettings            1
        depth               1 (limit <= 100), 5 (<= 500), 10 (<= 1000), 50 (more)
        ticker/24hr         1 with a symbol, 40 without
        openOrders          1 with a symbol, 40 without
        account, myTrades, tradingPositions, tradingPositionsHistory                     5
        order (POST/PUT/DELETE), fetchOrder, update*/closeTradingPosition                1
    """
    if endpoint == "depth":
        return 1 if depth_limit <= 100 else 5 if depth_limit <= 500 else 10 if depth_limit <= 1000 else 50
    if endpoint in ("ticker/24hr", "openOrders"):
        return 1 if symbol else ALL_SYMBOLS_WEIGHT
    if endpoint in _HEAVY_ENDPOINTS:
        return 5
    return 1

INTERVALS_MS: Final[dict[str, int]] = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}
"Kline intervals (REST spelling)."

WS_INTERVAL_ALIASES: Final[dict[str, str]] = {
    "M1": "1m", "M5": "5m", "M15": "15m", "M30": "30m", "H1": "1h", "H4": "4h", "D1": "1d", "W1": "1w",
}
"Older WebSocket clients spell intervals ``M1``…``W1``; both spellings are in use."

DEPTH_LIMITS: Final = (5, 10, 20, 50, 100, 500, 1000, 5000)


class WsDestination(str, enum.Enum):
    """WebSocket destinations: subscriptions, pushed events, ping."""

    PING = "ping"
    "The keep-alive request (the venue closes a socket that sent nothing for 30 s)."
    MARKET_DATA_SUBSCRIBE = "marketData.subscribe"
    MARKET_DATA_UNSUBSCRIBE = "marketData.unsubscribe"
    "Quotes, the best bid and offer: pushed as ``internal.quote``."
    DEPTH_SUBSCRIBE = "depthMarketData.subscribe"
    DEPTH_UNSUBSCRIBE = "depthMarketData.unsubscribe"
    OHLC_SUBSCRIBE = "OHLCMarketData.subscribe"
    OHLC_UNSUBSCRIBE = "OHLCMarketData.unsubscribe"
    "Full-depth books (``marketdepth.event``) and bars (``ohlc.event``, without volume)."
    TRADES_SUBSCRIBE = "trades.subscribe"
    TRADES_UNSUBSCRIBE = "trades.unsubscribe"
    "Subscriptions above; what the venue pushes below."
    QUOTE_EVENT = "internal.quote"
    DEPTH_EVENT = "marketdepth.event"
    OHLC_EVENT = "ohlc.event"
    TRADE_EVENT = "internal.trade"


class WsStatus(Named):
    OK = enum.auto()
    BAD_REQUEST = enum.auto()
    UNAUTHORIZED = enum.auto()
    FORBIDDEN = enum.auto()
    NOT_FOUND = enum.auto()
    TOO_MANY_REQUESTS = enum.auto()
    INTERNAL_ERROR = enum.auto()
