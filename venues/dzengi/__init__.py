"""Dzengi (formerly Currency.com): spot and leverage (CFD-style) markets, Binance-style REST.

What the venue supports, as this package implements it (details in ``venues/dzengi/README.md``):

* markets from ``exchangeInfo`` (spot ``BTC/USD``, leverage ``BTC/USD_LEVERAGE``); the venue
  rounds an over-precise quantity down to the lot and an over-precise price up to the tick;
* market data over the WebSocket ``/connect``: quotes, full-depth book snapshots (a REST ``depth``
  snapshot first), public trades, bars (final once the next bar starts; no volume on the stream);
  REST ``klines`` and ``aggTrades`` for history;
* orders LIMIT, MARKET, STOP (stop-market, leverage symbols only) with GTC/IOC/FOK; leverage
  orders with ``leverage``, ``takeProfit``, ``stopLoss``; cancel for LIMIT orders only; no amend
  through the engine, no post-only, no reduce-only, no client order ids at the venue;
* **no private stream**: order states, fills, balances and positions are polled (adaptive
  intervals) and emitted as the same events a push venue gives;
* HMAC-SHA256 over the exact query + body bytes, ``X-MBX-APIKEY``, ``timestamp`` from the venue's
  clock as :class:`risk.ServerClock` estimates it (an order that would miss its ``recvWindow`` ≤ 60 s
  is denied before sending), requests paced by one :class:`risk.RateLimiter` over the venue's
  ``REQUEST_WEIGHT`` and ``ORDERS`` scopes; ``{code, msg}`` errors, 429/418, and 5xx meaning "unknown".

Exports the gateway, its config and the uniform venue interface of :mod:`venues`, which
:class:`venues._common.package.VenuePackage` builds (the testnet: :mod:`venues.dzengi.testnet`).
"""

from __future__ import annotations

from decimal import Decimal

from venues._common.package import VenuePackage

from .constants import VENUE
from .gateway import DzengiConfig as DzengiConfig, DzengiGateway as DzengiGateway

__all__ = ["DzengiConfig", "DzengiGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL"]

PACKAGE = VenuePackage(VENUE, config=DzengiConfig, gateway=DzengiGateway, testnet=f"{__name__}.testnet",
                       demo_symbol="BTC/USD", demo_balances={"USD": Decimal(100_000), "BTC": Decimal(2)},
                       demo_options={"poll_fast_s": 0.25, "poll_slow_s": 1.0, "account_poll_s": 2.0})
make_gateway, add_testnet_arguments, run_testnet, open_local_testnet, DEMO_SYMBOL = PACKAGE.interface()
