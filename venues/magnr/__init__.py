"""Magnr (magnr.com, formerly BTC.sx), a leveraged-position broker over REST (see ``venues/magnr/README.md``).

What the venue supports, as this package implements it:

* trades: a position opened at market on an underlying exchange (``Bitstamp``, ``ItBit``,
  ``Bitfinex``; ``LOCAL`` in the sandbox) with a leverage of 10, 5 or 2, a ``stop_margin`` and an
  optional ``take`` (USD distances), liquidated by ``DELETE``; create, list, get and delete
  under ``/api/v1/trades/``; the status machine ``pending → open → closed → settled`` with the
  venue's closed reasons;
* no market data of its own: quotes from the underlying exchanges' public tickers, polled;
* no stream and no client order id: the trade list is polled, an UNKNOWN create is matched to a
  listed trade;
* HMAC-SHA512 base64 signatures in ``Authorization: Basic`` with a ``Tonce`` in milliseconds
  (±5 minutes, never repeated), ``{"errors": [...]}`` bodies with 400, 401, 404, 409, 500, 504.

Exports the gateway and its config, plus the uniform venue interface of :mod:`venues`. The
local testnet is :mod:`venues.magnr.testnet` (imported on demand).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from .gateway import MagnrConfig as MagnrConfig, MagnrGateway as MagnrGateway

__all__ = ["MagnrConfig", "MagnrGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "local_options", "DEMO_SYMBOL", "DEMO_STRATEGY"]


def make_gateway(options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                 key: str = "options") -> MagnrGateway:
    """The gateway of a ``[venues.options]`` table and credentials (``api_key`` = the public key,
    ``secret`` = the private key; None: quotes only), see :meth:`~venues._common.VenueConfig.from_options`."""
    return MagnrGateway(MagnrConfig.from_options(options, credentials, source=source, key=key))


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``triotrade testnet magnr`` options."""
    from . import testnet

    testnet.add_testnet_arguments(parser)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the local Magnr testnet until Ctrl-C; the exit status."""
    from . import testnet

    return testnet.run_testnet(args)


DEMO_SYMBOL = "ItBit-XBTUSD"
"The instrument the demo trades on this venue's local testnet (ItBit's ticker carries sizes)."


def local_options(url: str) -> dict[str, Any]:
    """The ``[venues.options]`` that point the gateway (trades and tickers) at a local testnet at ``url``."""
    from .testnet import TICKER_PREFIXES

    return {"base_url": url, "ticker_urls": {e: url + p for e, p in TICKER_PREFIXES.items()}}


@asynccontextmanager
async def open_local_testnet(api_key: str, secret: str, *, seed: int = 0) -> AsyncIterator[dict[str, Any]]:
    """Serve a local testnet with one account holding 10 BTC for the duration of the block; yields
    the ``[venues.options]`` table that points this venue's gateway at it."""
    from backtest.exchange import AccountConfig

    from .testnet import open_magnr_testnet

    account = AccountConfig(name="demo", api_key=api_key, secret=secret, balances={"BTC": Decimal(10)})
    async with open_magnr_testnet([account], seed=seed) as testnet:
        yield {**local_options(testnet.url), "tonce_file": "-"}


DEMO_STRATEGY = ("strategies.sma_cross:SmaCross",
                 {"fast": 2, "slow": 5, "interval_s": 1, "qty": "0.01", "allow_short": False,
                  "reduce_only_exits": True})
"""The demo's strategy here: Magnr publishes no trades of its own (the trade-flow example would see
none), so the SMA example on one-second bars of the polled ticker, long or flat; each exit is a
reduce-only order, which Magnr carries out by liquidating the open trade."""
