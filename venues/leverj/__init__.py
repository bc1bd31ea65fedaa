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

Exports the gateway, its config and the uniform venue interface of :mod:`venues`, which
:class:`venues._common.package.VenuePackage` builds (the testnet: :mod:`venues.leverj.testnet`;
the demo's account signs with its own key: its secret is a private key).
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from engine import Credentials
from venues._common.package import VenuePackage

from .constants import VENUE
from .gateway import LeverjConfig as LeverjConfig, LeverjGateway as LeverjGateway

__all__ = ["LeverjConfig", "LeverjGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL", "DEMO_STRATEGY", "demo_credentials"]

PACKAGE = VenuePackage(VENUE, config=LeverjConfig, gateway=LeverjGateway, testnet=f"{__name__}.testnet",
                       demo_symbol="BTCUSD", demo_options={"market": "futures"},
                       demo_balances={"ETH": Decimal(1000), "DAI": Decimal(10_000_000), "L2": Decimal(10_000_000)})
make_gateway, add_testnet_arguments, run_testnet, open_local_testnet, DEMO_SYMBOL = PACKAGE.interface()


def demo_credentials() -> Credentials:
    """A throw-away api key made now, for the demo's local testnet: ``api_key`` the key's address,
    ``secret`` its private key (Leverj's keys are secp256k1 key pairs, not random strings)."""
    from .signer import address_of

    while True:
        secret = "0x" + secrets.token_hex(32)
        try:
            return Credentials(address_of(secret), secret)
        except ValueError:  # outside the curve's order (about 1 in 2**128): draw again
            continue


DEMO_STRATEGY = ("strategies.trade_flow:TradeFlow",
                 {"qty": "0.01", "threshold": "0.01", "half_life_trades": 2.0, "min_hold_trades": 3})
"""The demo's strategy here: the trade-flow example on the futures market's BTCUSD prints (the
testnet's synthetic taker trades a few times a second), at the instrument's default leverage."""
