"""Fixtures: an Ekiden testnet on 127.0.0.1 (port 0) with a temporary accounts file.

``ekiden_testnet`` runs the seeded synthetic market in the background (prices move, user orders
fill); ``ekiden_quiet_testnet`` primes the same market (history, ladders) but only moves when a
test calls ``testnet.market.step()``; ``ekiden_empty_testnet`` has no market at all (tests place
both sides). All yield a :class:`venues.ekiden.testnet.EkidenTestnet`: ``.url``, ``.ws_url``,
``.accounts`` (name → account with ``api_key``/``secret``), ``.exchange``, ``.faults``
(``.faults.configure(...)``), ``.market``.

The testnets run with roomy rate limits (``FAST_LIMITS``) so that tests are not paced by the
venue's 30 requests per minute; tests of the limits themselves set their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from venues._testnet.market import MarketSettings
from venues.ekiden.testnet import EkidenTestnet, EkidenTestnetOptions, open_ekiden_testnet

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

FAST_LIMITS = EkidenTestnetOptions(public_requests_per_window=100_000, private_requests_per_window=100_000)
"Testnet options for tests that are not about rate limits."


@pytest.fixture
def ekiden_accounts_file(tmp_path: Path) -> Path:
    """An accounts file with ``alice`` (USD 100000, BTC 2, ETH 10) and ``bob`` (USD 50000)."""
    path = tmp_path / "accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    return path


@pytest.fixture
async def ekiden_testnet(ekiden_accounts_file: Path) -> AsyncIterator[EkidenTestnet]:
    """An Ekiden testnet with a running synthetic market (seed 7, a step every 50 ms)."""
    settings = MarketSettings(seed=7, step_interval_s=0.05, history_minutes=180)
    async with open_ekiden_testnet(ekiden_accounts_file, seed=7, market=settings, options=FAST_LIMITS) as testnet:
        yield testnet


@pytest.fixture
async def ekiden_quiet_testnet(ekiden_accounts_file: Path) -> AsyncIterator[EkidenTestnet]:
    """An Ekiden testnet whose primed market moves only on ``testnet.market.step()``."""
    settings = MarketSettings(seed=7, history_minutes=180)
    async with open_ekiden_testnet(ekiden_accounts_file, seed=7, market=settings, run_market=False,
                                   options=FAST_LIMITS) as testnet:
        yield testnet


@pytest.fixture
async def ekiden_empty_testnet(ekiden_accounts_file: Path) -> AsyncIterator[EkidenTestnet]:
    """An Ekiden testnet with empty books (no synthetic market)."""
    async with open_ekiden_testnet(ekiden_accounts_file, seed=7, market=False, options=FAST_LIMITS) as testnet:
        yield testnet
