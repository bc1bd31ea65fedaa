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

Exports the gateway, its config and the uniform venue interface of :mod:`venues`, which
:class:`venues._common.package.VenuePackage` builds (the testnet: :mod:`venues.ekiden.testnet`).
"""

from __future__ import annotations

from decimal import Decimal

from venues._common.package import VenuePackage

from .constants import VENUE
from .gateway import EkidenConfig as EkidenConfig, EkidenGateway as EkidenGateway

__all__ = ["EkidenConfig", "EkidenGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL"]

PACKAGE = VenuePackage(VENUE, config=EkidenConfig, gateway=EkidenGateway, testnet=f"{__name__}.testnet",
                       demo_symbol="BTC-USD", demo_balances={"USD": Decimal(100_000)})
make_gateway, add_testnet_arguments, run_testnet, open_local_testnet, DEMO_SYMBOL = PACKAGE.interface()
