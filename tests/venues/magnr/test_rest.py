"""Magnr's REST client on ``httpx.MockTransport``: outcome mapping, the one re-sign, the tonce."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from engine import AuthFailed, MalformedMessage, OutcomeUnknown, RateLimited, VenueError, VenueRejected
from venues._common.credentials import Credentials
from venues.magnr.rest import MagnrRest
from venues.magnr.signer import parse_authorization, verify
from venues._common.nonce import NonceSource

KEY, SECRET = "pub-key", "priv/key+="


def rest(handler, tonce_file: Path | None = None) -> MagnrRest:  # type: ignore[no-untyped-def]
    return MagnrRest("http://magnr.test", credentials=Credentials(KEY, SECRET), tonce_file=tonce_file,
                     http=httpx.MockTransport(handler))


def _errors(status: int, *messages: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": list(messages)})


@pytest.mark.parametrize("answer, command, error", [
    (_errors(400, "side must be buy or sell"), True, VenueRejected),
    (_errors(409, "insufficient funds"), True, VenueRejected),
    (_errors(404, "not found"), False, VenueRejected),
    (_errors(401, "invalid signature"), True, AuthFailed),
    (_errors(500, "the system encountered an error"), True, OutcomeUnknown),
    (_errors(504, "exchange timeout"), True, OutcomeUnknown),
    (_errors(500, "boom"), False, VenueError),
    (httpx.Response(429, headers={"Retry-After": "2"}), False, RateLimited),
    (httpx.Response(429), True, OutcomeUnknown),
    (httpx.Response(201, content=b"<html>"), True, OutcomeUnknown),
    (httpx.Response(200, content=b"<html>"), False, MalformedMessage),
])
async def test_outcome_mapping(answer: httpx.Response, command: bool, error: type[Exception]) -> None:
    client = rest(lambda request: answer)
    with pytest.raises(error):
        if command:
            await client.create_trade({"side": "buy"})
        else:
            await client.trades()
    await client.aclose()


async def test_a_timeout_on_a_command_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = rest(handler)
    with pytest.raises(OutcomeUnknown):
        await client.close_trade("7")
    with pytest.raises(VenueError):
        await client.trade("7")


async def test_the_request_is_signed_over_the_exact_body_and_a_refused_tonce_is_signed_again_once() -> None:
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        key, sig = parse_authorization(request.headers["authorization"]) or ("", "")
        tonce = request.headers["tonce"]
        assert key == KEY and verify(SECRET, tonce, KEY, request.content, sig)
        seen.append((tonce, request.content.decode()))
        if len(seen) == 1:
            return _errors(401, "tonce already used")
        return httpx.Response(201, json={"id": 42})

    client = rest(handler)
    answer = await client.create_trade({"leverage": 10, "side": "buy", "size": Decimal("0.200")})
    assert answer == {"id": 42}
    assert [body for _, body in seen] == ['{"leverage":10,"side":"buy","size":0.2}'] * 2
    assert int(seen[1][0]) > int(seen[0][0])


async def test_tonces_increase_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "tonce"
    now = [1_000]
    first = NonceSource(lambda: now[0], path, reserve_ms=50)
    handed = [first.next() for _ in range(120)]  # the clock stands still: +1 each
    assert handed == sorted(set(handed)) and handed[0] == 1_000
    restarted = NonceSource(lambda: now[0], path, reserve_ms=50)
    assert restarted.next() > handed[-1]
    now[0] = 10_000_000
    assert NonceSource(lambda: now[0], path).next() == 10_000_000
    assert NonceSource(lambda: now[0], None).next() == 10_000_000
