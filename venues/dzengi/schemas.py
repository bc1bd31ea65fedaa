"""Dzengi wire shapes, with the venue's own field names.

The ``TypedDict`` classes document what the venue sends (``parsers.py`` reads them); nothing is
built from them at run time, so the hot path pays nothing for them. Numbers arrive as JSON numbers
or strings depending on endpoint and age of the API: the client decodes JSON with
``parse_float=str`` (see :func:`loads`) so a price is never a float; integers stay ``int``.

Enums follow the kit's rule (:mod:`venues._common.schema`): symbol status, market type and mode,
asset type, position state, order type and time in force as *reported* are :class:`Descriptive`
(an unknown label must not stop a market from loading); order status and side are strict.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, NotRequired, TypedDict

from venues._common.schema import Descriptive as Descriptive
from venues._common.schema import BookSides, Named
from venues._common.schema import loads as loads


__all__ = ["loads", "Descriptive", "SymbolStatus", "MarketType", "MarketMode", "AssetType", "PositionState",
           "ReportedOrderType", "ReportedTimeInForce", "VenueOrderStatus", "VenueSide", "ErrorBody",
           "ServerTime", "Filter", "SymbolInfo", "RateLimitInfo", "ExchangeInfo", "Depth", "AggTrade",
           "KlineRow", "OrderFill", "NewOrderResponse", "CancelOrderResponse", "OpenOrder",
           "FetchOrderResponse", "MyTrade", "AccountBalance", "Account", "Position", "TradingPositions",
           "LeverageSettings", "WsEnvelope", "WsQuote", "WsDepthData", "WsDepth", "WsTrade", "WsOhlc"]



# ---------------------------------------------------------------------------------------------
# enums
# ---------------------------------------------------------------------------------------------


class SymbolStatus(Descriptive):
    TRADING = enum.auto()
    BREAK = enum.auto()
    HALT = enum.auto()
    END_OF_DAY = enum.auto()
    PRE_TRADING = enum.auto()
    POST_TRADING = enum.auto()
    AUCTION_MATCH = enum.auto()
    UNKNOWN = enum.auto()


class MarketType(Descriptive):
    SPOT = enum.auto()
    LEVERAGE = enum.auto()
    UNKNOWN = enum.auto()


class MarketMode(Descriptive):
    REGULAR = enum.auto()
    CLOSE_ONLY = enum.auto()
    LONG_ONLY = enum.auto()
    VIEW_ONLY = enum.auto()
    VIEW_AND_REQUEST = enum.auto()
    HOLIDAY = enum.auto()
    DELISTING = enum.auto()
    CLOSED_FOR_CORPORATE_ACTION = enum.auto()
    UNKNOWN = enum.auto()


class AssetType(Descriptive):
    BOND = enum.auto()
    COMMODITY = enum.auto()
    CREDIT = enum.auto()
    CRYPTOCURRENCY = enum.auto()
    CURRENCY = enum.auto()
    EQUITY = enum.auto()
    ICO = enum.auto()
    INDEX = enum.auto()
    INTEREST_RATE = enum.auto()
    OPT_TOKENS = enum.auto()
    OTHER_ASSET = enum.auto()
    REAL_ESTATE = enum.auto()
    UTILITY_TOKENS = enum.auto()
    UNKNOWN = enum.auto()


class PositionState(Descriptive):
    ACTIVE = enum.auto()
    INACTIVE = enum.auto()
    INVALID = enum.auto()
    UNKNOWN = enum.auto()


class ReportedOrderType(Descriptive):
    """Order type as the venue *reports* it (we only ever send LIMIT, MARKET, STOP)."""

    LIMIT = enum.auto()
    MARKET = enum.auto()
    STOP = enum.auto()
    TRAILING_STOP = enum.auto()
    UNKNOWN = enum.auto()


class ReportedTimeInForce(Descriptive):
    GTC = enum.auto()
    IOC = enum.auto()
    FOK = enum.auto()
    UNKNOWN = enum.auto()


class VenueOrderStatus(Named):
    """Strict: an order status outside this list is a malformed message, not a guess.

    ``CREATED`` and ``MODIFIED`` appear in ``fetchOrder`` answers only.
    """

    NEW = enum.auto()
    CREATED = enum.auto()
    MODIFIED = enum.auto()
    PARTIALLY_FILLED = enum.auto()
    FILLED = enum.auto()
    CANCELED = enum.auto()
    PENDING_CANCEL = enum.auto()
    REJECTED = enum.auto()
    EXPIRED = enum.auto()


class VenueSide(Named):
    """Strict."""

    BUY = enum.auto()
    SELL = enum.auto()


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


class Depth(BookSides[Num]):
    """``GET depth``: the sides' levels are ``[price, qty]``."""

    lastUpdateId: int


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
