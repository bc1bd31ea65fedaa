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

The campaign itself reads the venue's ledger from the testnet's ``--state FILE`` once the testnet
has stopped (:func:`read_state_ledger`): every order, fill and balance the venue booked, whatever
fault the session injected (a 429 storm or a ban would stand between a REST reader and the
ledger, and Dzengi lists no canceled orders). The REST readers stay as a cross-check.

The client side is the SQLite journal the run wrote (its orders, and the balances its fills
imply, replayed through the engine's own :class:`engine.Portfolio`) and the run's last
``[final]`` status line.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from engine import Instrument, InstrumentKind, Portfolio, Side, loads_json, wire_decimal
from venues._testnet.state import decode_ledger
from venues.dzengi import signer as dzengi_signer
from venues.ekiden import constants as ekiden_constants
from venues.ekiden import signer as ekiden_signer
from venues.ekiden.schemas import iso_from_ms, ns_from_iso

from .compare import ClientView, JournalRow, VenueFill, VenueLedger, VenueOrder

__all__ = ["LedgerError", "read_dzengi_ledger", "read_ekiden_ledger", "read_state_ledger", "read_journal",
           "journal_balances", "journal_position_costs", "parse_final_positions", "read_client_view", "LEDGER_READERS"]

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
# the testnet's state file (any venue)
# ---------------------------------------------------------------------------------------------

def read_state_ledger(path: Path, venue: str, account: str, *, symbols: Collection[str] | None = None) -> VenueLedger:
    """The ledger of ``account`` as the stopped testnet of ``venue`` wrote it to its ``--state`` file.

    ``symbols``: only the orders and fills of these (a testnet serving several markets, each its own
    engine venue, keeps them in one ledger); the balances are the account's whole.
    Raises :class:`LedgerError` when the file is missing or is not a state file.
    """
    try:
        ledger = decode_ledger(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise LedgerError(f"testnet state {path.name}: {exc}") from None
    listed = (lambda symbol: True) if symbols is None else (lambda symbol: symbol in symbols)
    orders = tuple(VenueOrder(o.order_id, f"{venue}:{o.symbol}", o.client_order_id, open=o.is_open)
                   for o in ledger.orders if o.account == account and listed(o.symbol))
    fills = tuple(VenueFill(str(f.trade_id), f.order_id, f"{venue}:{f.symbol}",
                            "BUY" if f.side is Side.BUY else "SELL", f.qty, f.ts_ms)
                  for f in ledger.fills if f.account == account and listed(f.symbol))
    found = next((a for a in ledger.accounts if a.name == account), None)
    balances = {asset: b.total for asset, b in found.balances.items()} if found is not None else {}
    costs: dict[str, Decimal] = {}
    for pos in ledger.positions:
        if pos.account == account and pos.qty and listed(pos.symbol):
            costs[pos.settle] = costs.get(pos.settle, Decimal(0)) + pos.open_price * pos.qty
    return VenueLedger(orders=orders, fills=fills, balances=balances, position_costs=costs)


# ---------------------------------------------------------------------------------------------
# the client's side
# ---------------------------------------------------------------------------------------------

def read_journal(path: Path) -> tuple[JournalRow, ...]:
    """Every row of the run's order journal (empty if the run wrote none).

    An order's filled quantity is what its journaled *fills* add up to (what the client booked),
    never more than the order row's own ``filled_qty``: a filled quantity without its fills was
    not booked, and its fills count as missing.
    """
    if not path.is_file():
        return ()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        orders = db.execute("SELECT client_order_id, venue_order_id, instrument, status, filled_qty FROM orders")
        rows = orders.fetchall()
        booked: dict[str, Decimal] = {}
        for cid, qty in db.execute("SELECT client_order_id, qty FROM fills").fetchall():
            booked[cid] = booked.get(cid, Decimal(0)) + Decimal(qty)
    finally:
        db.close()
    return tuple(JournalRow(c, v or "", i, s, min(Decimal(q), booked.get(c, Decimal(0)))) for c, v, i, s, q in rows)


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


def journal_balances(path: Path, instruments: Mapping[str, Instrument],
                     starting: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The balances the journal's fills imply: ``starting`` with every journaled fill booked in
    time order by :class:`engine.Portfolio` (spot: quote and base move; derivatives: realized PnL;
    fees in their asset), and every journaled funding payment. A fill of an instrument not in ``instruments`` raises :class:`LedgerError`."""
    return dict(_replay(path, instruments, starting).balances)


def journal_position_costs(path: Path, instruments: Mapping[str, Instrument],
                           starting: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Per settle asset, the cost of the open derivative positions the journal's fills leave
    (its open lots: price times signed size); spot positions are in the balances already."""
    costs: dict[str, Decimal] = {}
    for pos in _replay(path, instruments, starting).positions.values():
        inst = pos.instrument
        if inst.kind is InstrumentKind.SPOT or not pos.qty_raw:
            continue
        sign = 1 if pos.qty_raw > 0 else -1
        cost = sum((inst.price_of(price) * inst.size_of(size) for price, size in pos.lots), Decimal(0))
        costs[inst.settle] = costs.get(inst.settle, Decimal(0)) + sign * cost
    return costs


def _replay(path: Path, instruments: Mapping[str, Instrument], starting: Mapping[str, Decimal]) -> Portfolio:
    portfolio = Portfolio(starting)
    if not path.is_file():
        return portfolio
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT f.instrument, o.side, f.price, f.qty, f.fee, f.fee_asset, f.ts FROM fills f "
                          "JOIN orders o ON o.client_order_id = f.client_order_id ORDER BY f.ts, f.rowid").fetchall()
        funding = db.execute("SELECT instrument, asset, amount FROM funding ORDER BY ts, rowid").fetchall()
    finally:
        db.close()
    for key, asset, amount in funding:  # funding payments the client booked move the balance too
        inst = instruments.get(key)
        if inst is None:
            raise LedgerError(f"the journal has funding of {key}, an instrument the venue does not list")
        portfolio.apply_funding(inst, asset, Decimal(amount))
    for key, side, price, qty, fee, fee_asset, ts in rows:
        inst = instruments.get(key)
        if inst is None:
            raise LedgerError(f"the journal has a fill of {key}, an instrument the venue does not list")
        portfolio.apply_fill(inst, Side.BUY if side.upper() == "BUY" else Side.SELL, inst.price_raw(Decimal(price)),
                             inst.size_raw(Decimal(qty)), Decimal(fee), fee_asset, int(ts))
    return portfolio


def read_client_view(journal: Path, final_output: str, *, instruments: Mapping[str, Instrument] | None = None,
                     starting_balances: Mapping[str, Decimal] | None = None) -> ClientView:
    """The client's journal rows, the final positions of its last run and (given the venue's
    ``instruments`` and the account's starting balances) the balances its journal implies."""
    balances = None
    costs: dict[str, Decimal] = {}
    if instruments is not None and starting_balances is not None:
        balances = journal_balances(journal, instruments, starting_balances)
        costs = journal_position_costs(journal, instruments, starting_balances)
    return ClientView(journal=read_journal(journal), positions=parse_final_positions(final_output), balances=balances,
                      position_costs=costs)
