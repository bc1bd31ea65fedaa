"""Coinpit: inverse BTCUSD weekly futures, in the dialect of Coinpit's own libraries (see
``venues/coinpit/README.md``).

What the venue supports, as this package implements it:

* "loginless" authentication: a bitcoin key pair is the user (``userid`` its P2PKH address);
  ``GET /api/v1/auth/:publicKey`` gives the server's key, the ECDH's raw X is the HMAC key of
  ``Authorization: HMAC <userid>:<mac>`` + ``Nonce`` (ms, ±10 s) on every protected request;
* REST under ``/api/v1`` (orders, account, executions), socket.io 2 (Engine.IO 3) at
  ``/socket.io/`` (books, trades, server time; ``GET /register`` for the private order,
  execution and account events);
* inverse contracts of 100 USD (0.1 USD tick, whole contracts), margin, PnL and commission in
  satoshis; the alias ``BTCUSDW`` names the current weekly; LMT and MKT orders, post-only.

Exports the gateway, its config and the uniform venue interface of :mod:`venues`, which
:class:`venues._common.package.VenuePackage` builds (the testnet: :mod:`venues.coinpit.testnet`;
the demo's account is a throw-away private key).
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal

from engine import Credentials
from venues._common.package import VenuePackage

from .constants import VENUE, weekly_symbol
from .gateway import CoinpitConfig as CoinpitConfig, CoinpitGateway as CoinpitGateway

__all__ = ["CoinpitConfig", "CoinpitGateway", "make_gateway", "add_testnet_arguments", "run_testnet",
           "open_local_testnet", "DEMO_SYMBOL", "DEMO_STRATEGY", "demo_credentials"]

PACKAGE = VenuePackage(VENUE, config=CoinpitConfig, gateway=CoinpitGateway, testnet=f"{__name__}.testnet",
                       demo_symbol=weekly_symbol(int(time.time() * 1000))[0],
                       demo_balances={"BTC": Decimal(10)})
make_gateway, add_testnet_arguments, run_testnet, open_local_testnet, DEMO_SYMBOL = PACKAGE.interface()


def demo_credentials() -> Credentials:
    """A throw-away testnet key made now, for the demo's local testnet: ``api_key`` its ``userid``,
    ``secret`` the private key (hex)."""
    from .constants import Network
    from .signer import identity_of

    while True:
        secret = secrets.token_hex(32)
        try:
            return Credentials(identity_of(secret, Network.TESTNET).userid, secret)
        except ValueError:  # outside the curve's order (about 1 in 2**128): draw again
            continue


DEMO_STRATEGY = ("strategies.sma_cross:SmaCross",
                 {"fast": 2, "slow": 4, "interval_s": 1, "qty": "1", "allow_short": False})
"""The demo's strategy here: Coinpit's prints carry no aggressor side (the trade-flow example would
see no imbalance), so the SMA example on one-second bars of the current weekly contract, one
contract (100 USD) long or flat."""
