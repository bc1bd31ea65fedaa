"""A client written from Magnr's document alone opens and closes a trade on the local testnet."""

from __future__ import annotations

import pytest
import trio

from venues.magnr.testnet import open_magnr_testnet

from .conftest import ACCOUNTS, KEY, SECRET
from .independent_client import MagnrClient, MagnrError


async def _until(client: MagnrClient, trade_id: object, status: str) -> dict[str, object]:
    while True:
        trade = (await trio.to_thread.run_sync(client.get, trade_id))["trade"]
        if trade["status"] == status:
            return trade  # type: ignore[no-any-return]
        await trio.sleep(0.05)


async def _open_and_close(client: MagnrClient) -> None:
    trade_id = await trio.to_thread.run_sync(lambda: client.place(
        side="buy", size="0.2", exchange="ItBit", pair="XBTUSD", leverage=10, margin="500"))
    opened = await _until(client, trade_id, "open")
    assert opened["open_price"] and opened["side"] == "buy" and opened["leverage"] == 10
    listed = (await trio.to_thread.run_sync(client.list))["trades"]
    assert [t["id"] for t in listed] == [trade_id]
    assert (await trio.to_thread.run_sync(client.liquidate, trade_id)) == {"id": trade_id}
    settled = await _until(client, trade_id, "settled")
    assert settled["closed_reason"] == "user" and settled["close_price"] and settled["profit"] is not None
    with pytest.raises(MagnrError) as refused:  # a settled trade cannot be liquidated again
        await trio.to_thread.run_sync(client.liquidate, trade_id)
    assert refused.value.status == 409 and refused.value.errors
    with pytest.raises(MagnrError) as bad:  # the shell example's upper-case side is refused
        await trio.to_thread.run_sync(lambda: client.place(
            side="BUY", size="0.2", exchange="Bitfinex", pair="BTCUSD", leverage=10, margin="5"))
    assert bad.value.status == 400


async def test_an_independent_client_opens_and_closes_a_trade() -> None:
    with trio.fail_after(20):
        async with open_magnr_testnet(ACCOUNTS, seed=5) as testnet:
            client = MagnrClient(testnet.url, KEY, SECRET)
            try:
                await _open_and_close(client)
            finally:
                client.close()
            assert testnet.auth_failures == 0
