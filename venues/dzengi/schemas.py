"""Dzengi wire shapes, with the venue's own field names.

The ``TypedDict`` classes document what the venue sends (``parsers.py`` reads them); nothing is
built from them at run time, so the hot path pays nothing for them. Numbers arrive as JSON numbers
or strings depending on endpoint and age of the API: the client decodes JSON with
``parse_float=str`` (see :func:`loads`) so a price is never a float; integers stay ``int``.

Enums follow one rule:

* **descriptive** enums (symbol status, market type, asset type, position state, order type and
  time in force as *reported*) fall back to ``UNKNOWN`` for a value the venue adds later — an
  unknown label must not stop a market from loading;
* **state** enums that drive our orders (order status, side) are strict: an unknown value is a
  :class:`~engine.MalformedMessage`, never a guess.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, NotRequired, TypedDict

from engine import JsonNumber, loads_json


__all__ = [
    "loads",
    "Descriptive",
    "SymbolStatus",
    "MarketType",
    "MarketMode",
    "AssetType",
    "PositionState",
    "ReportedOrderType",
    "ReportedTimeInForce",
    "VenueOrderStatus",
    "VenueSide",
    "ErrorBody",
    "ServerTime",
    "Filter",
    "SymbolInfo",
    "RateLimitInfo",
    "ExchangeInfo",
    "Depth",
    "AggTrade",
    "KlineRow",
    "OrderFill",
    "NewOrderResponse",
    "CancelOrderResponse",
    "OpenOrder",
    "FetchOrderResponse",
    "MyTrade",
    "AccountBalance",
    "Account",
    "Position",
    "TradingPositions",
    "LeverageSettings",
    "WsEnvelope",
    "WsQuote",
    "WsDepthData",
    "WsDepth",
    "WsTrade",
    "WsOhlc",
]



def loads(text: str | bytes) -> Any:
    """Decode venue JSON, bounded (:func:`engine.loads_json`): a non-integer number stays its exact
    text, as a :class:`engine.JsonNumber` (never a float); integers are ``int``.

    Raises :class:`engine.WireFormatError` (a ``ValueError``) for invalid JSON or UTF-8,
    ``NaN``/``Infinity``, numbers past the bounds and nesting deeper than 64.
    """
    return loads_json(text, parse_float=JsonNumber)


# ---------------------------------------------------------------------------------------------
# enums
# ---------------------------------------------------------------------------------------------


class Descriptive(str, enum.Enum):
    """A label the venue may extend: unknown values map to ``UNKNOWN`` instead of failing."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls.__members__["UNKNOWN"]


class SymbolStatus(Descriptive):
    TRADING = "TRADING"
    BREAK = "BREAK"
    HALT = "HALT"
    END_OF_DAY = "END_OF_DAY"
    PRE_TRADING = "PRE_TRADING"
    POST_TRADING = "POST_TRADING"
    AUCTION_MATCH = "AUCTION_MATCH"
    UNKNOWN = "UNKNOWN"


class MarketType(Descriptive):
    SPOT = "SPOT"
    LEVERAGE = "LEVERAGE"
    UNKNOWN = "UNKNOWN"


class MarketMode(Descriptive):
    REGULAR = "REGULAR"
    CLOSE_ONLY = "CLOSE_ONLY"
    LONG_ONLY = "LONG_ONLY"
    VIEW_ONLY = "VIEW_ONLY"
    VIEW_AND_REQUEST = "VIEW_AND_REQUEST"
    HOLIDAY = "HOLIDAY"
    DELISTING = "DELISTING"
    CLOSED_FOR_CORPORATE_ACTION = "CLOSED_FOR_CORPORATE_ACTION"
    UNKNOWN = "UNKNOWN"


class AssetType(Descriptive):
    BOND = "BOND"
    COMMODITY = "COMMODITY"
    CREDIT = "CREDIT"
    CRYPTOCURRENCY = "CRYPTOCURRENCY"
    CURRENCY = "CURRENCY"
    EQUITY = "EQUITY"
    ICO = "ICO"
    INDEX = "INDEX"
    INTEREST_RATE = "INTEREST_RATE"
    OPT_TOKENS = "OPT_TOKENS"
    OTHER_ASSET = "OTHER_ASSET"
    REAL_ESTATE = "REAL_ESTATE"
    UTILITY_TOKENS = "UTILITY_TOKENS"
    UNKNOWN = "UNKNOWN"


class PositionState(Descriptive):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    INVALID = "INVALID"
    UNKNOWN = "UNKNOWN"


class ReportedOrderType(Descriptive):
    """Order type as the venue *reports* it (we only ever send LIMIT, MARKET, STOP)."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    TRAILING_STOP = "TRAILING_STOP"
    UNKNOWN = "UNKNOWN"


class ReportedTimeInForce(Descriptive):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    UNKNOWN = "UNKNOWN"


class VenueOrderStatus(str, enum.Enum):
    """Strict: an order status outside this list is a malformed message, not a guess.

    ``CREATED`` and ``MODIFIED`` appear in ``fetchOrder`` answers only.
    """

    NEW = "NEW"
    CREATED = "CREATED"
    MODIFIED = "MODIFIED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PENDING_CANCEL = "PENDING_CANCEL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class VenueSide(str, enum.Enum):
    """Strict."""

    BUY = "BUY"
    SELL = "SELL"


# ---------------------------------------------------------------------------------------------
# REST shapes
# ---------------------------------------------------------------------------------------------

Num = int | str
"A JSON number (int, or a non-integer decoded as str) or a numeric string."


class ErrorBody(TypedDict):
    code: int | str
    msg: str


class ServerTime(TypedDict):
    serverTime: int


class Filter(TypedDict, total=False):
    filterType: str
    minQty: Num
    maxQty: Num
    stepSize: Num
    minNotional: Num
    minPrice: Num
    maxPrice: Num
    tickSize: Num


class SymbolInfo(TypedDict):
    symbol: str
    name: NotRequired[str]
    status: str
    baseAsset: str
    baseAssetPrecision: int
    quoteAsset: str
    quoteAssetId: NotRequired[str]
    quotePrecision: int
    orderTypes: NotRequired[list[str]]
    filters: list[Filter]
    marketModes: NotRequired[list[str]]
    marketType: str
    tickSize: NotRequired[Num]
    tickValue: NotRequired[Num]
    exchangeFee: NotRequired[Num]
    "Spot fee in percent."
    tradingFee: NotRequired[Num]
    makerFee: NotRequired[Num]
    "Leverage maker fee in percent."
    takerFee: NotRequired[Num]
    "Leverage taker fee in percent."
    assetType: NotRequired[str]


class RateLimitInfo(TypedDict):
    rateLimitType: str
    interval: str
    intervalNum: int
    limit: int


class ExchangeInfo(TypedDict):
    timezone: str
    serverTime: int
    rateLimits: list[RateLimitInfo]
    exchangeFilters: list[Any]
    symbols: list[SymbolInfo]


class Depth(TypedDict):
    lastUpdateId: int
    bids: list[list[Num]]
    "``[[price, qty], ...]`` best first."
    asks: list[list[Num]]


class AggTrade(TypedDict):
    a: int
    "Aggregate trade id."
    p: Num
    q: Num
    T: int
    "Trade time, ms."
    m: bool
    "True if the buyer was the maker (the seller took)."


KlineRow = list[Any]
"``[openTime ms, open, high, low, close, volume]``."


class OrderFill(TypedDict):
    price: Num
    qty: Num
    commission: Num
    commissionAsset: str
    tradeId: NotRequired[int | str]


class NewOrderResponse(TypedDict):
    symbol: str
    orderId: str
    transactTime: int
    price: Num
    origQty: Num
    executedQty: Num
    "May be negative for SELL orders in some answers: read its absolute value."
    status: str
    timeInForce: str
    type: str
    side: str
    fills: NotRequired[list[OrderFill]]
    "FULL answers only."
    margin: NotRequired[Num]
    expireTimestamp: NotRequired[int]
    takeProfit: NotRequired[Num]
    stopLoss: NotRequired[Num]
    rejectMessage: NotRequired[str]


class CancelOrderResponse(TypedDict):
    symbol: str
    orderId: str
    price: Num
    origQty: Num
    executedQty: Num
    status: str
    timeInForce: str
    type: str
    side: str


class OpenOrder(TypedDict):
    symbol: str
    orderId: str
    accountId: NotRequired[str | int]
    price: Num
    origQty: Num
    executedQty: Num
    status: str
    timeInForce: str
    type: str
    side: str
    time: int
    updateTime: NotRequired[int]
    leverage: NotRequired[bool]
    working: NotRequired[bool]


class FetchOrderResponse(TypedDict):
    """``fetchOrder`` uses other names than ``openOrders`` for the same facts."""

    accountId: NotRequired[str | int]
    orderId: str
    symbol: NotRequired[str]
    quantity: Num
    price: NotRequired[Num]
    timestamp: int
    status: str
    type: str
    timeInForceType: NotRequired[str]
    side: str
    execPrice: NotRequired[Num]
    execQuantity: NotRequired[Num]
    rejectReason: NotRequired[str]
    fills: NotRequired[list[OrderFill]]


class MyTrade(TypedDict):
    symbol: str
    id: int | str
    orderId: str
    price: Num
    qty: Num
    quoteQty: NotRequired[Num]
    commission: Num
    commissionAsset: str
    time: int
    buyer: NotRequired[bool]
    isBuyer: NotRequired[bool]
    maker: NotRequired[bool]
    isMaker: NotRequired[bool]


class AccountBalance(TypedDict):
    accountId: str | int
    collateralCurrency: NotRequired[bool]
    asset: str
    free: Num
    locked: Num
    default: NotRequired[bool]


class Account(TypedDict):
    makerCommission: NotRequired[Num]
    takerCommission: NotRequired[Num]
    canTrade: NotRequired[bool]
    updateTime: NotRequired[int]
    "Seconds, not milliseconds."
    userId: NotRequired[int]
    balances: list[AccountBalance]


class Position(TypedDict):
    accountId: str | int
    id: str
    instrumentId: NotRequired[str | int]
    orderId: NotRequired[str]
    symbol: str
    openQuantity: Num
    "Signed: positive long, negative short."
    openPrice: Num
    closeQuantity: NotRequired[Num]
    closePrice: NotRequired[Num]
    takeProfit: NotRequired[Num]
    stopLoss: NotRequired[Num]
    rpl: NotRequired[Num]
    upl: NotRequired[Num]
    margin: NotRequired[Num]
    "``1 / leverage``."
    state: str
    currency: NotRequired[str]
    createdTimestamp: NotRequired[int]
    openTimestamp: NotRequired[int]
    type: NotRequired[str]


class TradingPositions(TypedDict):
    positions: list[Position]


class LeverageSettings(TypedDict):
    values: list[int]
    value: int


# ---------------------------------------------------------------------------------------------
# WebSocket shapes
# ---------------------------------------------------------------------------------------------


class WsEnvelope(TypedDict):
    """Requests carry ``destination``/``correlationId``/``payload``; answers add ``status``."""

    status: NotRequired[str]
    destination: str
    correlationId: NotRequired[int | str]
    payload: Any


class WsQuote(TypedDict):
    """``internal.quote`` (``ofr`` is the ask)."""

    symbolName: str
    bid: Num
    bidQty: Num
    ofr: Num
    ofrQty: Num
    timestamp: int


class WsDepthData(TypedDict):
    ts: int
    bid: dict[str, Num]
    "``{price: qty}``."
    ofr: dict[str, Num]


class WsDepth(TypedDict):
    """``marketdepth.event``: a full snapshot each time (no sequence numbers)."""

    symbol: str
    data: WsDepthData


class WsTrade(TypedDict):
    """``internal.trade``."""

    symbol: str
    price: Num
    size: Num
    id: int | str
    ts: int
    buyer: NotRequired[bool]
    "True if the buyer took (aggressor side BUY)."
    orderId: NotRequired[str]
    clientOrderId: NotRequired[str]


class WsOhlc(TypedDict):
    """``ohlc.event``: the bar in progress, re-sent as it changes; no volume."""

    symbol: str
    interval: str
    type: NotRequired[Literal["classic", "heiken-ashi", "heikin-ashi"]]
    t: int
    o: Num
    h: Num
    l: Num  # noqa: E741 - the venue's name
    c: Num
