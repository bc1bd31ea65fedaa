"""Hostile input gets the venue's error, never a 5xx, and the testnet keeps serving."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import trio
import trio_websocket

from venues._common.socketio import engineio_query
from venues.leverj.constants import api_base
from venues.leverj.testnet import LeverjTestnet

from .conftest import Caller
from .test_testnet import futures

D = Decimal


async def test_hostile_requests_get_4xx(leverj_testnet: LeverjTestnet, alice_futures: Caller) -> None:
    good = futures(alice_futures, "buy", "30000", "0.01")
    bodies = [
        [dict(good, price=D("1e300"))], [dict(good, quantity=D("-1"))], [dict(good, timestamp=True)],
        [dict(good, marginPerFraction="9" * 200)], [dict(good, marginPerFraction="-5")],
        [dict(good, instrument=["1"])], [dict(good, instrument="9" * 50)], [dict(good, signature="0x" + "00" * 65)],
        [dict(good, signature=12)], [dict(good, clientOrderId={"a": 1})], [dict(good, isPostOnly="yes")],
        [dict(good, orderType="SLMT")], [dict(good, accountId=None)], [None], [1, 2], [good] * 21,
        [dict(good, price=D("0.30000000000000004"))], [dict(good, quote="0x" + "zz" * 20)],
    ]
    for body in bodies:
        response = await alice_futures.call("POST", "/order", body)
        assert 400 <= response.status_code < 500 and "error" in response.json(), (body, response.text)
    for ops in ([{"op": "remove", "value": ["x" * 5000]}], [{"op": None}], [{"op": "add", "value": [None]}], [7]):
        answer = await alice_futures.ok("PATCH", "/order", ops)  # each operation is answered by itself
        assert all(r["statusCode"] >= 400 for r in answer["result"]), answer
    for method, uri, payload in (("PATCH", "/order", {"op": "add"}),
                                 ("DELETE", "/order/" + ",".join(["a"] * 500), None),
                                 ("GET", "/account/execution?count=-1", None), ("GET", "/account/execution?count=x", None),
                                 ("GET", "/order/%00%ff", None), ("PUT", "/order", [])):
        response = await alice_futures.call(method, uri, payload)
        assert 400 <= response.status_code < 500, (method, uri, response.text)
    async with httpx.AsyncClient(base_url=leverj_testnet.url) as http:
        base = api_base("futures")
        raw = [("POST", "/order", b"{" * 5000), ("POST", "/order", b"\xff\xfe"), ("POST", "/order", b'[{"a":1,"a":2}]'),
               ("POST", "/order", b"[NaN]"), ("GET", "/instrument/1/chart/0", b""),
               ("GET", "/instrument/1/chart/99999999999999999999", b""), ("GET", "/all/nothing", b"")]
        for method, path, content in raw:
            response = await http.request(method, base + path, content=content,
                                          headers={"Authorization": "NONCE " + "a" * 10_000, "Nonce": "1" * 500})
            assert 400 <= response.status_code < 500, (path, response.status_code)
        for query in ("EIO=4&transport=polling", "EIO=3&transport=polling&sid=%00", "EIO=3&transport=ftp", ""):
            assert (await http.get("/futures/socket.io/?" + query)).status_code == 400
        assert (await http.get(base + "/all/config")).status_code == 200


async def test_hostile_socket_frames(leverj_testnet: LeverjTestnet) -> None:
    url = leverj_testnet.url.replace("http://", "ws://") + "/spot/socket.io/?" + engineio_query("websocket")
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url) as ws:
            for _ in range(3):
                await ws.get_message()
            for frame in ('42["GET /order",{"headers":{"Authorization":"SIGN x","Nonce":"1"}}]', '42["x"]',
                          '42["POST /order",[1,2]]', '42["nope"]', '421["GET /register"]', '42[' + "[" * 3000 + "]"):
                await ws.send_message(frame)
            await ws.send_message("2")
            while (await ws.get_message()) != "3":
                pass
        async with httpx.AsyncClient() as http:
            assert (await http.get(leverj_testnet.url + api_base("spot") + "/all/info")).status_code == 200
