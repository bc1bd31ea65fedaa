"""Fixtures: a Leverj testnet on 127.0.0.1 (port 0), both markets, two accounts.

Keys are throwaway: ``sha256(name)`` as private keys. ``alice`` trades with a separate api key
(``ALICE_KEY``) for her account address; ``bob``'s account is its own api key.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from venues.leverj.constants import api_base
from venues.leverj.schemas import dumps, loads_exact as loads
from venues.leverj.signer import address_of, authorization
from venues.leverj.testnet import LeverjAccountConfig, LeverjTestnet, open_leverj_testnet


def key_of(name: str) -> str:
    return "0x" + hashlib.sha256(name.encode()).hexdigest()


ALICE_ACCOUNT = address_of(key_of("alice"))
ALICE_SECRET = key_of("alice-key")
ALICE_KEY = address_of(ALICE_SECRET)
BOB_SECRET = key_of("bob")
BOB_KEY = address_of(BOB_SECRET)

ACCOUNTS = [
    LeverjAccountConfig("alice", ALICE_ACCOUNT, ALICE_KEY, {"ETH": "1000", "DAI": "10000000", "L2": "10000000"}),
    LeverjAccountConfig("bob", BOB_KEY, BOB_KEY, {"ETH": "1000", "DAI": "10000000", "L2": "10000000"}),
]

ACCOUNTS_TOML = f"""
[[accounts]]
name = "alice"
account_id = "{ALICE_ACCOUNT}"
api_key = "{ALICE_KEY}"
balances = {{ ETH = "1000", DAI = "10000000", L2 = "10000000" }}

[[accounts]]
name = "bob"
account_id = "{BOB_KEY}"
api_key = "{BOB_KEY}"
balances = {{ ETH = "1000", DAI = "10000000", L2 = "10000000" }}
"""


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "leverj_accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    return path


@pytest.fixture
async def leverj_testnet() -> AsyncIterator[LeverjTestnet]:
    """No synthetic market: tests place both sides."""
    async with open_leverj_testnet(ACCOUNTS, market=False) as testnet:
        yield testnet


class Caller:
    """Signed REST calls against one market of a testnet (what a client does, by hand)."""

    def __init__(self, testnet: LeverjTestnet, market: str, account_id: str, secret: str,
                 auth_type: str = "NONCE") -> None:
        self.testnet = testnet
        self.market = market
        self.account_id = account_id
        self.secret = secret
        self.auth_type = auth_type
        self.http = httpx.AsyncClient(base_url=testnet.url + api_base(market), timeout=10)

    def headers(self, method: str, uri: str, body: bytes | None, nonce: int | None = None) -> dict[str, str]:
        nonce = self.testnet.server_time_ms() if nonce is None else nonce
        header = authorization(self.auth_type, self.account_id, self.secret, method, uri,
                               body.decode() if body else None, nonce)
        return {"Authorization": header, "Nonce": str(nonce), "Content-Type": "application/json"}

    async def call(self, method: str, uri: str, body: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        payload = dumps(body) if body is not None else None
        return await self.http.request(method, uri, content=payload,
                                       headers=headers if headers is not None else self.headers(method, uri, payload))

    async def ok(self, method: str, uri: str, body: Any = None) -> Any:
        response = await self.call(method, uri, body)
        assert response.status_code == 200, response.text
        return loads(response.content)

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def alice_futures(leverj_testnet: LeverjTestnet) -> AsyncIterator[Caller]:
    caller = Caller(leverj_testnet, "futures", ALICE_ACCOUNT, ALICE_SECRET)
    yield caller
    await caller.aclose()


@pytest.fixture
async def alice_spot(leverj_testnet: LeverjTestnet) -> AsyncIterator[Caller]:
    caller = Caller(leverj_testnet, "spot", ALICE_ACCOUNT, ALICE_SECRET, auth_type="SIGN")
    yield caller
    await caller.aclose()


@pytest.fixture
async def bob_futures(leverj_testnet: LeverjTestnet) -> AsyncIterator[Caller]:
    caller = Caller(leverj_testnet, "futures", BOB_KEY, BOB_SECRET, auth_type="SIGN")
    yield caller
    await caller.aclose()


D = Decimal
