"""Leverj (Gluon) spot and futures, in the dialect of Leverj's own SDKs (see ``venues/leverj/README.md``).

What the venue supports, as this package implements it:

* two markets on one host, chosen per venue entry (``market = "spot" | "futures"``): REST under
  ``/<market>/api/v1``, socket.io 2 (Engine.IO 3) under ``/<market>/socket.io``;
* spot pairs (``ETHDAI``, ``L2ETH``) with LMT and MKT orders; futures linear perpetuals
  (``1`` BTCUSD, ``2`` ETHUSD, DAI-margined) with LMT, MKT, SLMT, SMKT, post-only and
  reduce-only, margin per unit (``marginPerFraction``) from the leverage asked for;
* request authentication ``Authorization: NONCE|SIGN <accountId>.<apiKey>.<v>.<r>.<s>`` and
  ``Nonce`` (ms, ±10 s), and an ECDSA signature on every order, both by the api key;
* pushed books, trades and private order, execution and balance events over socket.io.

Exports the gateway and its config, plus the uniform venue interface of :mod:`venues`
(``make_gateway``, ``add_testnet_arguments``, ``run_testnet``, ``open_local_testnet``). The local
testnet lives in :mod:`venues.leverj.testnet` (imported on demand).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from .gateway import LeverjConfig as LeverjConfig, LeverjGateway as LeverjGateway

__all__ = ["LeverjConfig", "LeverjGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL"]


def make_gateway(options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                 key: str = "options") -> LeverjGateway:
    """Build the gateway from a ``[venues.options]`` table and credentials (None: market data only).

    ``credentials.api_key`` is the api key's address, ``credentials.secret`` its private key.
    """
    data = dict(options)
    if credentials is not None:
        data["api_key"] = credentials.api_key
        data["secret"] = credentials.secret
    return LeverjGateway(LeverjConfig.from_mapping(data, source=source, key=key))


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``triotrade testnet leverj`` options."""
    from . import testnet

    testnet.add_testnet_arguments(parser)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the local Leverj testnet (both markets) until Ctrl-C; the exit status."""
    from . import testnet

    return testnet.run_testnet(args)


DEMO_SYMBOL = "BTCUSD"
"The instrument the demo trades on this venue's local testnet (futures)."


@asynccontextmanager
async def open_local_testnet(api_key: str, secret: str, *, seed: int = 0) -> AsyncIterator[dict[str, Any]]:
    """Serve a local testnet with one funded account (its own api key: ``secret`` is a private key)."""
    from .signer import address_of
    from .testnet import LeverjAccountConfig, open_leverj_testnet

    address = address_of(secret)
    account = LeverjAccountConfig("demo", address, address, {"ETH": Decimal(1000), "DAI": Decimal(10_000_000),
                                                              "L2": Decimal(10_000_000)})
    async with open_leverj_testnet([account], seed=seed) as testnet:
        yield {"base_url": testnet.url, "market": "futures"}
