"""Fixtures: a Coinpit testnet on 127.0.0.1 (port 0), no synthetic market, two users.

Keys are throwaway: ``sha256(name)`` as private keys (hex; testnet addresses).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from venues._common.jsjson import js_dumps
from venues.coinpit.constants import API_BASE, Network
from venues.coinpit.signer import authorization, identity_of, private_key_bytes, shared_secret
from venues.coinpit.testnet import CoinpitAccountConfig, CoinpitTestnet, _loads as loads, open_coinpit_testnet


def key_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


ALICE_SECRET = key_of("coinpit-alice")
BOB_SECRET = key_of("coinpit-bob")
ALICE = identity_of(ALICE_SECRET, Network.TESTNET)
BOB = identity_of(BOB_SECRET, Network.TESTNET)

ACCOUNTS = [CoinpitAccountConfig("alice", ALICE.public_key, {"BTC": "10"}),
            CoinpitAccountConfig("bob", BOB.public_key, {"BTC": "10"})]

ACCOUNTS_TOML = f"""
[[accounts]]
name = "alice"
public_key = "{ALICE.public_key}"
balances = {{ BTC = "10" }}

[[accounts]]
name = "bob"
public_key = "{BOB.public_key}"
balances = {{ BTC = "10" }}
"""


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "coinpit_accounts.toml"
    path.write_text(ACCOUNTS_TOML)
    return path


@pytest.fixture
async def coinpit_testnet() -> AsyncIterator[CoinpitTestnet]:
    """No synthetic market: tests place both sides."""
    async with open_coinpit_testnet(ACCOUNTS, market=False) as testnet:
        yield testnet


class Caller:
    """Signed REST calls as a client makes them, by hand: the handshake, then HMAC on each call."""

    def __init__(self, testnet: CoinpitTestnet, secret: str) -> None:
        self.testnet = testnet
        self.secret = secret
        self.identity = identity_of(secret, Network.TESTNET)
        self.http = httpx.AsyncClient(base_url=testnet.url + API_BASE, timeout=10)
        self.key = b""

    async def login(self) -> None:
        answer = (await self.http.get(f"/auth/{self.identity.public_key}")).json()
        assert answer["userid"] == self.identity.userid
        self.key = shared_secret(private_key_bytes(self.secret), answer["serverPublicKey"])

    def headers(self, method: str, uri: str, body: str | None, nonce: int | None = None) -> dict[str, str]:
        nonce = self.testnet.server_time_ms() if nonce is None else nonce
        return {"Authorization": authorization(self.identity.userid, self.key, method, uri, body, nonce),
                "Nonce": str(nonce), "Content-Type": "application/json"}

    async def call(self, method: str, uri: str, body: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
        text = js_dumps(body) if body is not None else None
        return await self.http.request(method, uri, content=text.encode() if text else None,
                                       headers=headers if headers is not None else self.headers(method, uri, text))

    async def ok(self, method: str, uri: str, body: Any = None) -> Any:
        response = await self.call(method, uri, body)
        assert response.status_code == 200, response.text
        return loads(response.content)

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def alice(coinpit_testnet: CoinpitTestnet) -> AsyncIterator[Caller]:
    caller = Caller(coinpit_testnet, ALICE_SECRET)
    await caller.login()
    yield caller
    await caller.aclose()


@pytest.fixture
async def bob(coinpit_testnet: CoinpitTestnet) -> AsyncIterator[Caller]:
    caller = Caller(coinpit_testnet, BOB_SECRET)
    await caller.login()
    yield caller
    await caller.aclose()
