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

Exports the gateway, its config and the testnet, plus the uniform venue interface of
:mod:`venues` (``make_gateway``, ``add_testnet_arguments``, ``run_testnet``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .gateway import EkidenConfig as EkidenConfig, EkidenGateway as EkidenGateway
from .testnet import (
    EkidenTestnet as EkidenTestnet,
    EkidenTestnetOptions as EkidenTestnetOptions,
    add_testnet_arguments as add_testnet_arguments,
    open_ekiden_testnet as open_ekiden_testnet,
    run_testnet as run_testnet,
)


def make_gateway(options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                 key: str = "options") -> EkidenGateway:
    """Build the gateway from a ``[venues.options]`` table and credentials (None: market data only).

    Unknown or invalid options raise :class:`~engine.ConfigError` naming ``source`` and ``key``.
    ``credentials`` has ``api_key`` and ``secret`` (see :mod:`engine._secrets`); they override any
    set in the options.
    """
    data = dict(options)
    if credentials is not None:
        data["api_key"] = credentials.api_key
        data["secret"] = credentials.secret
    config = EkidenConfig.from_mapping(data, source=source, key=key)
    return EkidenGateway(config)


__all__ = [
    "EkidenConfig",
    "EkidenGateway",
    "EkidenTestnet",
    "EkidenTestnetOptions",
    "open_ekiden_testnet",
    "make_gateway",
    "add_testnet_arguments",
    "run_testnet",
]
