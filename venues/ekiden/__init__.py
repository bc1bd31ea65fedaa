"""Ekiden, in the dialect of its published API conventions (see ``venues/ekiden/README.md``).

What the venue supports, as this package implements it:

* markets ``GET /v1/markets`` (spot and linear perpetuals; the local testnet lists ``ETH-USD`` and
  ``BTC-USD`` perpetuals settled in USD), book snapshots, public trades, cursor pagination;
* orders MARKET, LIMIT, STOP_MARKET, STOP_LIMIT; GTC/IOC/FOK; post-only, reduce-only, leverage;
  amend (price and size) with ``PATCH``; cancel with ``DELETE``;
* a WebSocket ``/v1/stream`` with ``orderbook`` and ``trades`` channels and the private
  ``orders`` channel (order updates and fills pushed: nothing is polled);
* HMAC-SHA256 base64 signatures in ``EKIDEN-*`` headers, ISO-8601 timestamps in a ±30 s window,
  decimal strings, ``{success, data}`` envelopes, error codes 2000–2004, 60/30 requests per minute.

Exports the gateway and its config, plus the uniform venue interface of :mod:`venues`
(``make_gateway``, ``add_testnet_arguments``, ``run_testnet``). The local testnet itself lives in
:mod:`venues.ekiden.testnet` (imported on demand: it pulls in the simulator).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from .gateway import EkidenConfig as EkidenConfig, EkidenGateway as EkidenGateway

__all__ = ["EkidenConfig", "EkidenGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL"]


def make_gateway(options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                 key: str = "options") -> EkidenGateway:
    """Build the gateway from a ``[venues.options]`` table and credentials (None: market data only).

    Unknown or invalid options raise :class:`~engine.ConfigError` naming ``source`` and ``key``
    (with a "did you mean" for a misspelt key). ``credentials`` has ``api_key`` and ``secret``;
    they override any set in the options.
    """
    data = dict(options)
    if credentials is not None:
        data["api_key"] = credentials.api_key
        data["secret"] = credentials.secret
    return EkidenGateway(EkidenConfig.from_mapping(data, source=source, key=key))


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``triotrade testnet ekiden`` options (accounts file, port, market, limits, faults)."""
    from . import testnet

    testnet.add_testnet_arguments(parser)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the local Ekiden testnet until Ctrl-C; the exit status."""
    from . import testnet

    return testnet.run_testnet(args)


DEMO_SYMBOL = "BTC-USD"
"The instrument the demo trades on this venue's local testnet."


@asynccontextmanager
async def open_local_testnet(api_key: str, secret: str, *, seed: int = 0) -> AsyncIterator[dict[str, Any]]:
    """Serve a local testnet with one funded account for the duration of the block.

    Yields the ``[venues.options]`` table that points this venue's gateway at it (the account's
    credentials are passed to :func:`make_gateway` separately, as in a real run).
    """
    from backtest.exchange import AccountConfig

    from .testnet import open_ekiden_testnet

    account = AccountConfig(name="demo", api_key=api_key, secret=secret, balances={"USD": Decimal(100_000)})
    async with open_ekiden_testnet([account], seed=seed) as testnet:
        yield {"base_url": testnet.url, "ws_url": testnet.ws_url, **{}}
