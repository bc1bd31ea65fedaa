"""Leverj wire constants, shared by the client (gateway) and the local testnet (server side).

The dialect is the one ``shared/venues/leverj-notes.md`` reconstructs from Leverj's own SDKs
(zka, adapter, gluon-plasma, leverj-ordersigner) and bots: paths, headers, auth types, order
codes, error texts. Both sides import these names, so they cannot drift.
"""

from __future__ import annotations

import enum
from typing import Final

VENUE: Final = "leverj"

HOST_URL: Final = "https://live.leverj.io"
"Production host; the REST base is ``<host>/<market>/api/v1``."
MARKETS: Final = ("spot", "futures")
"The two markets one host serves."
API_SUFFIX: Final = "/api/v1"
SOCKET_SUFFIX: Final = "/socket.io"


def api_base(market: str) -> str:
    """``/<market>/api/v1``: the path every signed ``uri`` is relative to."""
    return f"/{market}{API_SUFFIX}"


def venue_name(market: str) -> str:
    """The engine's name of one market's gateway and instruments: ``leverj-spot``, ``leverj-futures``
    (two names, so that one run can trade both markets at once)."""
    return f"{VENUE}-{market}"


def socket_path(market: str) -> str:
    """``/<market>/socket.io``: the socket.io path of one market."""
    return f"/{market}{SOCKET_SUFFIX}"


AUTHORIZATION_HEADER: Final = "Authorization"
NONCE_HEADER: Final = "Nonce"
SERVER_TIME_HEADER: Final = "Server-Time"
"Sent on the answers to PUT, POST, DELETE and OPTIONS (ms)."

NONCE_WINDOW_MS: Final = 10_000
"A request's nonce is accepted iff ``|server time - nonce| <= 10 s`` (zka's default tolerance)."

ETH_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
"The asset address of ether."


class AuthType(enum.StrEnum):
    """What the ``Authorization`` header signs: the nonce alone, or method, uri, body and nonce."""

    NONCE = "NONCE"
    SIGN = "SIGN"


class Side(enum.IntEnum):
    """Side codes in the order hash."""

    buy = 1
    sell = 2


class OrderType(enum.IntEnum):
    """Order-type codes in the order hash (spot knows only LMT and MKT)."""

    LMT = 1
    MKT = 2
    SLMT = 3
    SMKT = 4


class Status(enum.StrEnum):
    """Order status values."""

    OPEN = "open"
    PENDING = "pending"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"
    DELETED = "deleted"
    EXPIRED = "expired"


INVALID_ORDER_SIGNATURE: Final = "M_INV_ORDSIG"
"The error of an order whose signature does not recover its api key (HTTP 422)."
