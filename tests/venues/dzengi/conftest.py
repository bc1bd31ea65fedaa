"""Fixtures: a Dzengi testnet on 127.0.0.1 (port 0) with a temporary accounts file.

``dzengi_testnet`` runs the seeded synthetic market in the background (prices move, user orders
fill); ``dzengi_quiet_testnet`` primes the same market (history, ladders) but only moves when a
test calls ``testnet.market.step()``. Both yield a
:class:`venues.dzengi.testnet.DzengiTestnet`: ``.url``, ``.ws_url``, ``.accounts`` (name →
account with ``api_key``/``secret``), ``.exchange``, ``.faults`` (``.faults.configure(...)``),
``.market``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from venues._testnet.market import MarketSettings
from venues.dzengi.testnet import DzengiTestnet, open_dzengi_testnet

ACCOUNTS_TOML = """
[[accounts]]
name = "alice"
api_key = "alice-api-key-0001"
secret = "alice-secret-0001"
balances = { USD = "100000", BTC = "2", ETH = "10" }

[[accounts]]
name = "bob"
api_key = "bob-api-key-0002"
secret = "bob-secret-0002"
balances = { USD = "50000" }
"""


@pytest.fixture
def dzengi_accounts_file(tmp_path: Path) -> Path:
    """An accounts file with ``alice`` (USD 100000, BTC 2, ETH 10) and ``bob`` (USD 50000)."""
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    return path


@pytest.fixture
async def dzengi_testnet(dzengi_accounts_file: Path) -> AsyncIterator[DzengiTestnet]:
    """A Dzengi testnet with a running synthetic market (seed 7, a step every 50 ms)."""
    settings = MarketSettings(seed=7, step_interval_s=0.05, history_minutes=180)
    async with open_dzengi_testnet(dzengi_accounts_file, seed=7, market=settings) as testnet:
        yield testnet


@pytest.fixture
async def dzengi_quiet_testnet(dzengi_accounts_file: Path) -> AsyncIterator[DzengiTestnet]:
    """A Dzengi testnet whose primed market moves only on ``testnet.market.step()``."""
    settings = MarketSettings(seed=7, history_minutes=180)
    async with open_dzengi_testnet(dzengi_accounts_file, seed=7, market=settings, run_market=False) as testnet:
        yield testnet
