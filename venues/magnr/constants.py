"""Magnr's fixed facts, as its API document and the research notes give them."""

from __future__ import annotations

import enum
from typing import Final

VENUE: Final = "magnr"
REST_URL: Final = "https://magnr.com"
SANDBOX_URL: Final = "https://sandbox.magnr.com"
API_PREFIX: Final = "/api/v1"
TRADES_PATH: Final = f"{API_PREFIX}/trades/"
"List (GET) and create (POST); one trade is ``TRADES_PATH + id + '/'`` (paths end with a slash)."

AUTHORIZATION_HEADER: Final = "Authorization"
TONCE_HEADER: Final = "Tonce"
TONCE_WINDOW_MS: Final = 300_000
"A tonce must be within 5 minutes of the venue's clock (milliseconds)."

LEVERAGES: Final = (10, 5, 2)
"The leverages a trade may have (the default is 10)."
DEFAULT_LEVERAGE: Final = 10
SIDES: Final = ("buy", "sell")
"Trade sides, case-sensitive."

EXCHANGE_PAIRS: Final[dict[str, tuple[str, ...]]] = {
    "Bitstamp": ("BTCUSD",),
    "ItBit": ("XBTUSD",),
    "Bitfinex": ("BTCUSD",),
    "LOCAL": ("BTCUSD",),
}
"Underlying exchange → the pairs Magnr trades on it (``LOCAL`` is the sandbox's)."

TICKER_URLS: Final[dict[str, str]] = {
    "Bitstamp": "https://www.bitstamp.net",
    "ItBit": "https://api.itbit.com",
    "Bitfinex": "https://api.bitfinex.com",
    "LOCAL": "https://api.bitfinex.com",
}
"Where each underlying exchange's public ticker lives (``LOCAL`` has none; the Bitfinex price stands in)."

TICK_SIZE: Final = "0.01"
"USD price step of every pair."
LOT_SIZE: Final = "0.001"
"BTC size step of a trade (Magnr documents none; 1 mBTC)."
SETTLE_ASSET: Final = "BTC"
"Deposits, fees and profit are in BTC."


class TradeStatus(enum.Enum):
    """A trade's life: sent to the exchange → filled → close requested → close price known."""

    PENDING = "pending"
    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"


class ClosedReason(enum.Enum):
    """Why a trade was closed: by its owner, or by the venue."""

    USER = "user"
    STOP = "stop"
    TRAIL = "trail"
    LIMIT = "limit"
    INSUFFICIENT_FUNDS = "insufficient funds"


def symbol_of(exchange: str, pair: str) -> str:
    """Our instrument symbol for a Magnr (exchange, pair): ``Bitfinex-BTCUSD``."""
    return f"{exchange}-{pair}"


def split_symbol(symbol: str) -> tuple[str, str]:
    """``(exchange, pair)`` of a symbol from :func:`symbol_of` (ValueError if it is not one)."""
    exchange, sep, pair = symbol.partition("-")
    if not sep or pair not in EXCHANGE_PAIRS.get(exchange, ()):
        raise ValueError(f"not a magnr market: {symbol!r}")
    return exchange, pair
