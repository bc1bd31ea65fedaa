"""The venue template works as written: signer, parser, REST steps with one re-sign, frame codec."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import trio

from engine import Instrument, InstrumentKind, MalformedMessage, Trade, VenueRejected
from venues._common import Credentials
from venues._common.credentials import UnsignedRequest
from venues._template.constants import API_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from venues._template.gateway import TemplateConfig
from venues._template.parsers import parse_trade
from venues._template.rest import TemplateRest
from venues._template.signer import TemplateSigner, verify
from venues._template.stream import TemplateStream

CREDS = Credentials("template-key-0001", "template-secret-0001")
INST = Instrument(venue="template", symbol="BTC-USD", base="BTC", quote="USD", kind=InstrumentKind.SPOT,
                  tick_size=Decimal("0.5"), lot_size=Decimal("0.001"))


def test_the_signer_is_pure_and_verifiable() -> None:
    request = UnsignedRequest("POST", "/v1/orders", "a=1", b'{"size":"1"}', {"Content-Type": "application/json"})
    wire = TemplateSigner().sign(CREDS, request, 1_700_000_000_000)
    assert wire == TemplateSigner().sign(CREDS, request, 1_700_000_000_000)
    assert wire.headers[API_KEY_HEADER] == CREDS.api_key and wire.headers[TIMESTAMP_HEADER] == "1700000000000"
    assert verify(CREDS.secret, 1_700_000_000_000, "POST", "/v1/orders?a=1", b'{"size":"1"}',
                  wire.headers[SIGNATURE_HEADER])
    assert not verify(CREDS.secret, 1_700_000_000_001, "POST", "/v1/orders?a=1", b'{"size":"1"}',
                      wire.headers[SIGNATURE_HEADER])
    assert CREDS.secret not in repr(wire)


def test_the_parser_reads_through_the_kits_field_reader() -> None:
    trade = parse_trade({"market": "BTC-USD", "price": "100.5", "size": "0.002", "side": "sell", "id": 9,
                         "ts": 1_700_000_000_000}, {"BTC-USD": INST}, 5)
    assert trade == Trade(INST, 1_700_000_000_000_000_000, 5, 1005, 2, -1, 9)
    with pytest.raises(MalformedMessage, match="unknown market 'ETH-USD'") as err:
        parse_trade({"market": "ETH-USD"}, {"BTC-USD": INST}, 5)
    assert err.value.venue == "template"


async def test_rest_runs_the_kits_steps_and_signs_again_once_after_a_clock_rejection() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v1/time":
            return httpx.Response(200, json={"server_time_ms": 1_700_000_000_000})
        assert verify(CREDS.secret, int(request.headers[TIMESTAMP_HEADER]), request.method, request.url.path,
                      request.content, request.headers[SIGNATURE_HEADER])
        if seen.count("POST /v1/orders") == 1:
            return httpx.Response(400, json={"code": 1002})
        if seen.count("POST /v1/orders") == 2:
            return httpx.Response(200, json={"id": "o-1"})
        return httpx.Response(400, json={"code": 1000, "message": "bad size"})

    rest = TemplateRest("http://venue.test", credentials=CREDS, http=httpx.MockTransport(handler))
    with trio.fail_after(5):
        assert await rest.request("POST", "/v1/orders", body=b"{}", command=True) == {"id": "o-1"}
        assert seen == ["POST /v1/orders", "GET /v1/time", "POST /v1/orders"]
        with pytest.raises(VenueRejected):
            await rest.request("POST", "/v1/orders", body=b"{}", command=True)
    await rest.aclose()


async def test_the_stream_codec_routes_data_and_counts_garbage() -> None:
    stream = TemplateStream("ws://127.0.0.1:1/v1/stream")
    got: list[object] = []
    stream.handlers["trades"] = lambda data, ts: got.append((data, ts))
    stream.dispatch(json.dumps({"channel": "trades", "data": [1]}), 7)
    stream.dispatch("not json", 8)
    stream.dispatch("[1]", 9)
    stream.dispatch(json.dumps({"channel": "nobody", "data": 1}), 10)
    assert got == [([1], 7)] and stream._guard.dropped == 2 and stream._unhandled == 1  # noqa: SLF001


def test_the_config_is_a_venue_config() -> None:
    assert TemplateConfig(api_key="k" * 10, secret="s" * 10).credentials() == Credentials("k" * 10, "s" * 10)
    assert "s" * 10 not in repr(TemplateConfig(api_key="k" * 10, secret="s" * 10))
