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

Exports the gateway and its config, plus the uniform venue interface of :mod:`venues`
(``make_gateway``, ``add_testnet_arguments``, ``run_testnet``). The local testnet itself lives in
:mod:`venues.dzengi.testnet` (imported on demand: it pulls in the simulator).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from .gateway import DzengiConfig as DzengiConfig, DzengiGateway as DzengiGateway

__all__ = ["DzengiConfig", "DzengiGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL"]


def make_gateway(options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                 key: str = "options") -> DzengiGateway:
    """Build the gateway from a ``[venues.options]`` table and credentials (None: market data only).

    Unknown or invalid options raise :class:`~engine.ConfigError` naming ``source`` and ``key``
    (with a "did you mean" for a misspelt key). ``credentials`` has ``api_key`` and ``secret``;
    they override any set in the options.
    """
    data = dict(options)
    if credentials is not None:
        data["api_key"] = credentials.api_key
        data["secret"] = credentials.secret
    return DzengiGateway(DzengiConfig.from_mapping(data, source=source, key=key))


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``triotrade testnet dzengi`` options (accounts file, port, market, faults)."""
    from . import testnet

    testnet.add_testnet_arguments(parser)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the local Dzengi testnet until Ctrl-C; the exit status."""
    from . import testnet

    return testnet.run_testnet(args)


DEMO_SYMBOL = "BTC/USD"
"The instrument the demo trades on this venue's local testnet."


@asynccontextmanager
async def open_local_testnet(api_key: str, secret: str, *, seed: int = 0) -> AsyncIterator[dict[str, Any]]:
    """Serve a local testnet with one funded account for the duration of the block.

    Yields the ``[venues.options]`` table that points this venue's gateway at it (the account's
    credentials are passed to :func:`make_gateway` separately, as in a real run).
    """
    from backtest.exchange import AccountConfig

    from .testnet import open_dzengi_testnet

    account = AccountConfig(name="demo", api_key=api_key, secret=secret, balances={"USD": Decimal(100_000), "BTC": Decimal(2)})
    async with open_dzengi_testnet([account], seed=seed) as testnet:
        yield {"base_url": testnet.url, "ws_url": testnet.ws_url, **{"poll_fast_s": 0.25, "poll_slow_s": 1.0, "account_poll_s": 2.0}}
