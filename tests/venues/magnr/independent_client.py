"""A tiny Magnr client written from the API document alone (hashlib, hmac, base64, httpx; no triotrade code).

    client = MagnrClient("http://127.0.0.1:PORT", public_key, private_key)
    trade_id = client.place(side="buy", size="0.1", exchange="ItBit", pair="XBTUSD", leverage=10, margin=200)
    client.get(trade_id); client.list(); client.liquidate(trade_id)

Signing as the document's PHP example does it: ``$sig = base64_encode(hash_hmac("sha512",
$tonce.$pubkey.$data, $privkey, true))`` and ``Authorization: Basic base64($pubkey.":".$sig)``,
``Tonce`` in milliseconds; ``$data`` is the JSON body sent, empty for GET and DELETE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx


class MagnrError(Exception):
    """A non-2xx answer: the status and the ``errors`` list."""

    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__(f"HTTP {status}: {errors}")
        self.status = status
        self.errors = errors


class MagnrClient:
    """Place, get, list and liquidate trades on ``base_url`` (``https://magnr.com`` in production)."""

    def __init__(self, base_url: str, public_key: str, private_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10.0)
        self.public_key = public_key
        self.private_key = private_key
        self._last_tonce = 0

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def _tonce(self) -> str:
        tonce = max(int(time.time() * 1000), self._last_tonce + 1)  # non-repeating, milliseconds
        self._last_tonce = tonce
        return str(tonce)

    def _call(self, method: str, path: str, data: str = "") -> Any:
        tonce = self._tonce()
        mac = hmac.new(self.private_key.encode(), (tonce + self.public_key + data).encode(), hashlib.sha512)
        sig = base64.b64encode(mac.digest()).decode()
        auth = base64.b64encode(f"{self.public_key}:{sig}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}", "Tonce": tonce, "Accept": "application/json"}
        if data:
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, path, content=data.encode() or None, headers=headers)
        body = response.json() if response.content else None
        if not 200 <= response.status_code < 300:
            raise MagnrError(response.status_code, list((body or {}).get("errors", [])))
        return body

    def place(self, *, side: str, size: str, exchange: str, pair: str, leverage: int, margin: str,
              take: str | None = None) -> Any:
        """``POST /api/v1/trades/`` → the trade id (201 CREATED)."""
        params = f'"leverage":{leverage},"side":{json.dumps(side)},"exchange":{json.dumps(exchange)},' \
                 f'"pair":{json.dumps(pair)},"margin":{margin},"size":{size}'
        if take is not None:
            params += f',"take":{take}'
        return self._call("POST", "/api/v1/trades/", "{" + params + "}")["id"]

    def get(self, trade_id: Any) -> Any:
        """``GET /api/v1/trades/<IDENTIFIER>/``."""
        return self._call("GET", f"/api/v1/trades/{trade_id}/")

    def list(self) -> Any:
        """``GET /api/v1/trades/``."""
        return self._call("GET", "/api/v1/trades/")

    def liquidate(self, trade_id: Any) -> Any:
        """``DELETE /api/v1/trades/<IDENTIFIER>/``."""
        return self._call("DELETE", f"/api/v1/trades/{trade_id}/")
