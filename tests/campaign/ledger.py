"""Read both sides of a session: the venue's ledger (testnet REST API) and the client's view.

The venue side is read as any client of the venue would read it: signed requests with the
project's own signers (:mod:`venues.dzengi.signer`, :mod:`venues.ekiden.signer`), signed with the
*server's* clock (a skewed testnet must still answer), waiting out 429/418 answers (a fault may
force them) within a deadline. Numbers go through :func:`engine.wire_decimal`, JSON through
:func:`engine.loads_json`.

What each venue lets us see: Ekiden lists every order of the account (with the client's order
id) and every fill. Dzengi has no "all orders" endpoint: its ledger is the orders that traded
(``myTrades``) plus those still open (``openOrders``); an order canceled without a fill is not
visible there (nor can it diverge in fills or position).

The client side is the SQLite journal the run wrote and the run's last ``[final]`` status line.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from engine import loads_json, wire_decimal
from venues.dzengi import signer as dzengi_signer
from venues.ekiden import constants as ekiden_constants
from venues.ekiden import signer as ekiden_signer
from venues.ekiden.schemas import iso_from_ms, ns_from_iso

from .compare import ClientView, JournalRow, VenueFill, VenueLedger, VenueOrder

__all__ = ["LedgerError", "read_dzengi_ledger", "read_ekiden_ledger", "read_journal", "parse_final_positions",
           "read_client_view", "LEDGER_READERS"]

_RETRY_STATUSES = frozenset({418, 429, 502, 503, 504})


class LedgerError(RuntimeError):
    """The venue's ledger could not be read before the deadline (the message names the request)."""


def _decimal(value: Any) -> Decimal:
    return wire_decimal(value, allow_exponent=True)


class _Venue:
    """A small synchronous REST caller that retries what a fault may inject, within a deadline."""

    def __init__(self, base_url: str, deadline_s: float) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10.0)
        self.deadline = time.monotonic() + deadline_s

    def __enter__(self) -> _Venue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, build: Callable[[], tuple[str, dict[str, str]]]) -> Any:
        """Send ``method path?query`` (``build`` signs afresh for every attempt) and decode the JSON."""
        last = ""
        while time.monotonic() < self.deadline:
            query, headers = build()
            url = f"{path}?{query}" if query else path
            try:
                response = self.client.request(method, url, headers=headers)
            except httpx.TransportError as exc:
                last = type(exc).__name__
                time.sleep(0.5)
                continue
            if response.status_code in _RETRY_STATUSES:
                last = f"HTTP {response.status_code}"
                time.sleep(min(_retry_after_s(response), max(0.0, self.deadline - time.monotonic())))
                continue
            if response.status_code != 200:
                raise LedgerError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
            return loads_json(response.content)
        raise LedgerError(f"{method} {path}: no answer before the deadline ({last or 'timeout'})")


def _retry_after_s(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.2), 30.0)
    except ValueError:
        return 1.0


# ---------------------------------------------------------------------------------------------
# Dzengi
# ---------------------------------------------------------------------------------------------

def read_dzengi_ledger(base_url: str, api_key: str, secret: str, symbols: list[str], *,
                       deadline_s: float = 60.0) -> VenueLedger:
    """The Dzengi account's traded and open orders, fills of ``symbols`` and balances.

    ``base_url`` is the testnet's root (``http://127.0.0.1:PORT``).
    """
    credentials = dzengi_signer.Credentials(api_key, secret)
    with _Venue(base_url, deadline_s) as venue:
        offset_ms = _dzengi_clock_offset(venue)

        def signed(params: Mapping[str, object]) -> Callable[[], tuple[str, dict[str, str]]]:
            def build() -> tuple[str, dict[str, str]]:
                now = int(time.time() * 1000) + offset_ms
                request = dzengi_signer.sign_request(credentials, params, now, recv_window_ms=60_000)
                return request.query, request.headers
            return build

        fills: list[VenueFill] = []
        orders: dict[str, VenueOrder] = {}
        for symbol in symbols:
            for item in venue.call("GET", "/api/v2/myTrades", signed({"symbol": symbol, "limit": 1000})):
                fill = _dzengi_fill(item)
                fills.append(fill)
                orders.setdefault(fill.venue_order_id, VenueOrder(fill.venue_order_id, fill.instrument))
        for item in venue.call("GET", "/api/v2/openOrders", signed({})):
            order_id = str(item["orderId"])
            orders[order_id] = VenueOrder(order_id, f"dzengi:{item['symbol']}", open=True)
        account = venue.call("GET", "/api/v2/account", signed({}))
        balances = {str(b["asset"]): _decimal(b["free"]) + _decimal(b["locked"]) for b in account["balances"]}
    return VenueLedger(orders=tuple(orders.values()), fills=tuple(fills), balances=balances)


def _dzengi_clock_offset(venue: _Venue) -> int:
    before = int(time.time() * 1000)
    answer = venue.call("GET", "/api/v2/time", lambda: ("", {}))
    return int(answer["serverTime"]) - before


def _dzengi_fill(item: Mapping[str, Any]) -> VenueFill:
    return VenueFill(fill_id=str(item["id"]), venue_order_id=str(item["orderId"]),
                     instrument=f"dzengi:{item['symbol']}", side="BUY" if item["isBuyer"] else "SELL",
                     qty=_decimal(item["qty"]), ts_ms=int(item["time"]))


# ---------------------------------------------------------------------------------------------
# Ekiden
# ---------------------------------------------------------------------------------------------

_EKIDEN_OPEN = frozenset({ekiden_constants.OrderStatus.OPEN.value, ekiden_constants.OrderStatus.PARTIALLY_FILLED.value})


def read_ekiden_ledger(base_url: str, api_key: str, secret: str, symbols: list[str], *,
                       deadline_s: float = 90.0) -> VenueLedger:
    """Every order and fill of the Ekiden account (all pages) and its balances.

    ``symbols`` is accepted for symmetry with Dzengi; Ekiden lists all markets at once. The
    private limit is per API key and shared with the client's own requests, so a read right
    after a busy session may wait for the next window.
    """
    del symbols
    credentials = ekiden_signer.Credentials(api_key, secret)
    with _Venue(base_url, deadline_s) as venue:
        answer = venue.call("GET", ekiden_constants.Path.TIME.value, lambda: ("", {}))
        offset_ms = ns_from_iso(answer["data"]["server_time"]) // 1_000_000 - int(time.time() * 1000)

        def signed(path: str, params: Mapping[str, str]) -> Callable[[], tuple[str, dict[str, str]]]:
            query = urlencode(params)

            def build() -> tuple[str, dict[str, str]]:
                stamp = iso_from_ms(int(time.time() * 1000) + offset_ms)
                target = ekiden_signer.request_target(path, query)
                return query, ekiden_signer.sign_headers(credentials, stamp, "GET", target)
            return build

        def pages(path: str) -> list[Mapping[str, Any]]:
            items: list[Mapping[str, Any]] = []
            cursor: str | None = None
            while True:
                params = {"limit": str(ekiden_constants.MAX_PAGE_LIMIT)}
                if cursor:
                    params["cursor"] = cursor
                answer = venue.call("GET", path, signed(path, params))
                items.extend(answer["data"])
                cursor = answer.get("next_cursor")
                if not cursor:
                    return items

        orders = tuple(VenueOrder(str(o["order_id"]), f"ekiden:{o['market']}", str(o["client_order_id"] or ""),
                                  open=o["status"] in _EKIDEN_OPEN) for o in pages(ekiden_constants.Path.ORDERS.value))
        fills = tuple(VenueFill(str(f["fill_id"]), str(f["order_id"]), f"ekiden:{f['market']}",
                                "BUY" if f["side"] == ekiden_constants.Side.BUY.value else "SELL",
                                _decimal(f["size"]), ns_from_iso(f["timestamp"]) // 1_000_000)
                      for f in pages(ekiden_constants.Path.FILLS.value))
        path = ekiden_constants.Path.BALANCES.value
        balances = {str(b["asset"]): _decimal(b["total"]) for b in venue.call("GET", path, signed(path, {}))["data"]}
    return VenueLedger(orders=orders, fills=fills, balances=balances)


def _read_magnr_ledger(*args: Any, **kwargs: Any) -> VenueLedger:
    from tests.venues.magnr.ledger import read_magnr_ledger

    return read_magnr_ledger(*args, **kwargs)


LEDGER_READERS: dict[str, Callable[..., VenueLedger]] = {"dzengi": read_dzengi_ledger, "ekiden": read_ekiden_ledger,
                                                          "magnr": _read_magnr_ledger}
"Venue name → ledger reader ``(base_url, api_key, secret, symbols, *, deadline_s)``."


# ---------------------------------------------------------------------------------------------
# the client's side
# ---------------------------------------------------------------------------------------------

def read_journal(path: Path) -> tuple[JournalRow, ...]:
    """Every row of the run's order journal (empty if the run wrote none)."""
    if not path.is_file():
        return ()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT client_order_id, venue_order_id, instrument, status, filled_qty FROM orders")
        return tuple(JournalRow(c, v or "", i, s, Decimal(q)) for c, v, i, s, q in rows.fetchall())
    finally:
        db.close()


_POSITIONS = re.compile(r"^\[final\].*? positions: (?P<body>.*?) \| open orders", re.MULTILINE)
_POSITION = re.compile(r"^(?P<key>\S+) (?P<qty>-?\d+(?:\.\d+)?) @ ")


def parse_final_positions(output: str) -> dict[str, Decimal] | None:
    """Net positions from the run's last ``[final] ... positions: K Q @ P ...; ... | ...`` line.

    None when the output has no final line (the client was killed, or the format changed).
    """
    matches = list(_POSITIONS.finditer(output))
    if not matches:
        return None
    body = matches[-1].group("body")
    if body == "none":
        return {}
    positions: dict[str, Decimal] = {}
    for part in body.split("; "):
        m = _POSITION.match(part)
        if m is None:
            return None
        positions[m.group("key")] = Decimal(m.group("qty"))
    return positions


def read_client_view(journal: Path, final_output: str) -> ClientView:
    """The client's journal rows and the final positions of its last run."""
    return ClientView(journal=read_journal(journal), positions=parse_final_positions(final_output))
