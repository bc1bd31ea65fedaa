"""Coinpit wire constants, shared by the client (gateway) and the local testnet (server side).

The dialect is the one ``shared/venues/coinpit-notes.md`` reconstructs from Coinpit's own
libraries (loginless, coinpit-client, pycoinpit, coinpit-common) and bots: hosts, paths,
headers, order types, the nonce window. Both sides import these names, so they cannot drift.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Final

VENUE: Final = "coinpit"

LIVE_URL: Final = "https://live.coinpit.io"
"Mainnet origin; REST is ``<origin>/api/v1``, socket.io at the origin's default path."
TESTNET_URL: Final = "https://live.coinpit.me"
"Coinpit's own testnet origin (testnet keys)."
API_BASE: Final = "/api/v1"
"The path every signed ``uri`` is relative to."
SOCKET_PATH: Final = "/socket.io/"

AUTHORIZATION_HEADER: Final = "Authorization"
NONCE_HEADER: Final = "Nonce"
SERVER_TIME_HEADER: Final = "Server-Time"
"Sent on the answers to PUT, POST, DELETE, PATCH and OPTIONS (ms)."
REQUEST_ID_HEADER: Final = "requestid"
"A socket request's id, echoed in its answer event."

NONCE_WINDOW_MS: Final = 10_000
"A request's nonce is accepted iff ``|server time - nonce| <= 10 s`` (loginless' default tolerance)."

SATOSHI_PER_BTC: Final = 100_000_000
CONTRACT_USD: Final = 100
"The USD value of one inverse contract (``contractusdvalue``)."

MAX_ORDERS_PER_REQUEST: Final = 100
"``config.maxOrdersCreateUpdate``: orders per create or update request."
PAGE_SIZE: Final = 100
"Closed and cancelled orders per page (``from=<uuid>`` for the next)."


class Network(enum.StrEnum):
    """Which chain a key belongs to: the address version bytes and the venue's host follow from it."""

    MAINNET = "mainnet"
    TESTNET = "testnet"


P2PKH_VERSION: Final = {Network.MAINNET: 0x00, Network.TESTNET: 0x6F}
P2SH_VERSION: Final = {Network.MAINNET: 0x05, Network.TESTNET: 0xC4}
WIF_VERSION: Final = {Network.MAINNET: 0x80, Network.TESTNET: 0xEF}


class WireType(enum.StrEnum):
    """Order types on the wire: four a client submits, two the venue makes (a position's legs)."""

    LMT = "LMT"
    MKT = "MKT"
    STM = "STM"
    "stop-market"
    SLM = "SLM"
    "stop-limit"
    STP = "STP"
    "the protective stop of a position (venue-made)"
    TGT = "TGT"
    "the target (take-profit) of a position (venue-made)"


CLIENT_TYPES: Final = frozenset({WireType.LMT, WireType.MKT, WireType.STM, WireType.SLM})


class Status(enum.StrEnum):
    """Order status values."""

    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


NO_TARGET: Final = "NONE"
"``targetPrice`` of an order without a target."

READONLY_MESSAGE: Final = "Exchange is in read-only mode for maintenance"
"The error of an order command during read-only maintenance (503): definite, nothing was done."

ALIAS_WEEKLY: Final = "BTCUSDW"
"The alias of the current weekly contract."

_MONTHS: Final = "FGHJKMNQUVXZ"


def weekly_symbol(now_ms: int) -> tuple[str, int]:
    """The weekly contract trading at ``now_ms``: ``(symbol, expiry ms)``, expiring Friday 17:15 UTC
    (``BTCUSD`` + the year's last digit + the CME month letter + the day, ``BTCUSD7J28``)."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    expiry = (now + timedelta(days=(4 - now.weekday()) % 7)).replace(hour=17, minute=15, second=0, microsecond=0)
    if expiry <= now:
        expiry += timedelta(days=7)
    return f"BTCUSD{expiry.year % 10}{_MONTHS[expiry.month - 1]}{expiry.day:02d}", int(expiry.timestamp() * 1000)
