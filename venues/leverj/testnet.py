"""The Leverj dialect of the local testnet: both markets on one port, on the shared exchange.

Paths (``<market>`` is ``spot`` or ``futures``; ``*`` = authenticated with ``Authorization`` +
``Nonce``)::

    OPTIONS  /<market>/api/v1/…                200 + Server-Time (the client's clock calibration)
    GET      /<market>/api/v1/all/config        config, instruments, assets
    GET      /<market>/api/v1/all/info          last price, bid, ask, 24 h volume (futures: fundingRate, index)
    GET      /<market>/api/v1/instrument/:id/orderbook | trade | chart/:minutes
  * GET      /<market>/api/v1/order[/:uuid]     open orders (404 when not open)
  * POST     /<market>/api/v1/order             an array of signed orders → the created orders
  * DELETE   /<market>/api/v1/order/:uuids      comma-separated uuids → ``[[uuid, …]]``
  * PATCH    /<market>/api/v1/order             ``[{op: "remove"|"add", value: […]}]`` → ``{result: […]}``
  * GET      /<market>/api/v1/account | account/execution?count= | account/balance | account/position
  * GET      /futures/api/v1/account/funding?count=   funding payments, newest first (see below)
             /<market>/socket.io/               socket.io 2 (Engine.IO 3): public ``orderbook``,
                                                ``trade``, ``index``, ``server_time``; requests as
                                                ``emit("<METHOD> <uri>", {headers, body, params})``;
                                                ``GET /register`` → private ``order_add``,
                                                ``order_update``, ``order_del``, ``order_execution``,
                                                ``account_balance``, ``position``, ``funding``,
                                                ``liquidation``

What it verifies, as the venue does: the ``Authorization`` header (``NONCE`` or ``SIGN``) recovers
the api key it names, the api key belongs to the account, the nonce is within ±10 s of the
server clock (a ``SIGN`` header replayed on another method, uri or body fails); every order's
signature recovers the api key over exactly the fields sent (raw or personal-message hash), else
422 ``M_INV_ORDSIG``; tick, lot, minimum size, post-only and reduce-only (the exchange's rules);
for futures the quote address, the instrument id and ``marginPerFraction`` (the leverage it
implies, ``price × 10^decimals / marginPerFraction``, must not pass ``maxLeverage``; the margin it
locks is the exchange's). Errors are ``{"error": message}`` with 400, 401, 404, 422 or 429.

Futures rules this testnet applies (the venue publishes none; see ``venues/leverj/README.md``):

* **Funding**, every ``funding_interval_s`` (an hour) on the server clock, at the end of the
  window ``all/info`` serves: ``fundingRate.rate`` is what one unit of a long position pays in the
  quote asset's smallest unit (wei of DAI), ``funding_rate`` (a fraction, 0.01 % by default) of the
  index price, rounded to a wei (served as it stands, paid as it stands at the window's end); positive: longs pay shorts. Each open
  position pays ``size × rate`` (rounded to a wei against the account), booked into its DAI
  balance, pushed as the private ``funding`` event and listed by ``GET /account/funding``
  (newest first, ``count=`` as executions) — the venue documents no funding event, so the shape
  is the testnet's: ``{fundingId, instrument, accountId, size, rate, indexPrice, amount (wei,
  signed: positive received), eventTime (ms)}``.
* **Liquidation**: when a position's margin plus its unrealized PnL at the last price falls to
  half of its margin (the maintenance margin, the backtester's rule), the account's working orders
  on the instrument are canceled and the venue closes the whole position at market. Its executions
  carry ``"liquidation": true`` and the order id of the venue's own close; a private
  ``liquidation`` event ``{instrument, accountId, orderId, size, price}`` follows each.
  ``liquidationPrice`` is served by that rule (``entry ∓ margin per unit / 2``),
  ``bankruptcyPrice`` as ``entry ∓ margin per unit``.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Unpack
from urllib.parse import parse_qsl, unquote

import attrs
import trio

from backtest.account import MAINTENANCE_FRACTION
from backtest.exchange import (
    Account,
    AccountConfig,
    BookChanged,
    Exchange,
    ExchangeOrder,
    ExchangeRejected,
    OrderChanged,
    OrderFill,
    RejectReason,
    TradeExecuted,
)
from engine import ConfigError, Instrument, OrderStatus, OrderType, Side, TomlConfig, WireFormatError, load_toml
from venues._testnet.faults import AnswerFault, FaultSettings
from venues._testnet.kit import OpenArgs, TestnetBase, add_common_arguments, open_venue, run_command, testnet_main
from venues._testnet.server import HttpRequest, HttpResponse, RateRule, WebSocketConnection, WindowLimiter, dumps_json, make_asgi_app
from venues._testnet.socketio import SioConnection, SocketIoServer

from . import constants as C
from .parsers import Market, parse_instruments
from .schemas import ASSETS, FEES, FUTURES_INSTRUMENTS, SPOT_INSTRUMENTS, loads_exact
from .signer import AuthError, AuthHeader, address_of, futures_order_packed, order_hash, order_signers, spot_order_packed, verify_authorization

__all__ = [
    "LeverjAccountConfig",
    "LeverjTestnetOptions",
    "LeverjTestnet",
    "default_instruments",
    "default_markets",
    "load_leverj_accounts",
    "open_leverj_testnet",
    "add_testnet_arguments",
    "run_testnet",
    "main",
]

ZERO = Decimal(0)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NO_SECRET = "(none: the server recovers signers)"
_SERVER_TIME_METHODS = frozenset({"PUT", "POST", "DELETE", "OPTIONS", "PATCH"})
_ORDER_TYPES = {"LMT": OrderType.LIMIT, "MKT": OrderType.MARKET, "SLMT": OrderType.STOP_LIMIT,
                "SMKT": OrderType.STOP_MARKET}
_WIRE_TYPES = {v: k for k, v in _ORDER_TYPES.items()}


# =============================================================================================
# markets, accounts, options
# =============================================================================================


def default_markets() -> dict[str, list[Market]]:
    """Spot ``ETHDAI``, ``L2ETH``; futures ``1`` BTCUSD, ``2`` ETHUSD (DAI-margined)."""
    fees = {m: (Decimal(FEES[m]["maker"]), Decimal(FEES[m]["taker"])) for m in C.MARKETS}
    return {"spot": parse_instruments("spot", {"instruments": {i["id"]: i for i in SPOT_INSTRUMENTS}}, fees["spot"]),
            "futures": parse_instruments("futures", {"instruments": {i["id"]: i for i in FUTURES_INSTRUMENTS}},
                                         fees["futures"])}


def default_instruments() -> list[Instrument]:
    """The exchange's instruments: both markets' (symbols ``ETHDAI``, ``L2ETH``, ``BTCUSD``, ``ETHUSD``)."""
    return [m.instrument for markets in default_markets().values() for m in markets]


def _address(instance: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if not _ADDRESS.fullmatch(value):
        raise ValueError(f"{attribute.name} must be an Ethereum address (0x + 40 hex digits)")


def _balances(value: Mapping[str, Any]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in value.items()}


@attrs.frozen
class LeverjAccountConfig:
    """One ``[[accounts]]`` entry: the trader's address, its api key's address, balances by asset."""

    name: str
    account_id: str = attrs.field(validator=_address)
    "The trader's address."
    api_key: str = attrs.field(validator=_address)
    "The api key's checksummed address (the server never needs its secret: it recovers signers)."
    balances: dict[str, Decimal] = attrs.field(factory=dict, converter=_balances)
    """Opening balances by asset symbol, e.g. ``{ ETH = "1000", DAI = "10000000", L2 = "10000000" }``."""

    def exchange_config(self) -> AccountConfig:
        """The exchange's account (the secret field holds no secret: there is none here)."""
        return AccountConfig(name=self.name, api_key=self.api_key, secret=_NO_SECRET, balances=dict(self.balances))


@attrs.frozen
class _AccountsFile(TomlConfig):
    accounts: list[LeverjAccountConfig]


def load_leverj_accounts(path: str | os.PathLike[str]) -> list[LeverjAccountConfig]:
    """Read an accounts file; errors name the file and the key."""
    source = os.fspath(path)
    parsed = _AccountsFile.from_mapping(load_toml(source), source=source)
    if not parsed.accounts:
        raise ConfigError("no [[accounts]] entries", path=source, key="accounts")
    seen: set[str] = set()
    for i, account in enumerate(parsed.accounts):
        for value in (account.name, account.api_key.lower()):
            if value in seen:
                raise ConfigError(f"duplicate name or api_key {value!r}", path=source, key=f"accounts[{i}]")
            seen.add(value)
    return parsed.accounts


@attrs.frozen
class LeverjTestnetOptions:
    """Knobs of the Leverj testnet (the venue publishes no rate limits; these are roomy)."""

    account_ids: Mapping[str, str] = attrs.field(factory=dict)
    "Account name → the trader's address (an account not named here is its own api key's address)."
    nonce_window_ms: int = C.NONCE_WINDOW_MS
    requests_per_window: int = 1200
    rate_window_s: float = 60.0
    max_orders_spot: int = 50
    max_orders_futures: int = 20
    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000
    book_depth: int = 50
    server_time_every_s: float = 5.0
    "Period of the socket's ``server_time`` event (sent with other pushes, never alone)."
    funding_rate: Decimal = attrs.field(default=Decimal("0.0001"), converter=Decimal)
    "Funding per interval as a fraction of the index price (positive: longs pay shorts)."
    funding_interval_s: int = 3600
    "Length of a funding window on the server clock."
    liquidation: bool = True
    "Close positions whose margin falls to maintenance (see the module docstring)."


class LeverjError(Exception):
    """An answer ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


# =============================================================================================
# the dialect
# =============================================================================================


class LeverjTestnet(TestnetBase[LeverjTestnetOptions]):
    """Both Leverj markets on one port (see the module docstring)."""

    options_type = LeverjTestnetOptions
    ws_path = C.socket_path("futures") + "/"

    def setup(self) -> None:
        self.markets: dict[str, dict[str, Market]] = {name: {m.id: m for m in markets}
                                                      for name, markets in default_markets().items()}
        self.markets = {name: {m.id: m for m in self._listed(markets.values())} for name, markets in self.markets.items()}
        self.market_of_symbol: dict[str, tuple[str, Market]] = {
            m.instrument.symbol: (name, m) for name, markets in self.markets.items() for m in markets.values()}
        self.limiter = WindowLimiter([RateRule("requests", self.options.requests_per_window,
                                               int(self.options.rate_window_s * 1000))])
        self.wire_orders: dict[str, dict[str, Any]] = {}
        "Order uuid → the signed fields as received (served back as the venue does)."
        self.fills_seen: dict[str, int] = {}
        self.sockets = {name: SocketIoServer(C.socket_path(name), _Sockets(self, name), faults=self.faults,
                                             ping_interval_ms=self.options.ping_interval_ms,
                                             ping_timeout_ms=self.options.ping_timeout_ms, dumps=dumps_json,
                                             loads=loads_exact, flush=self._flush)
                        for name in C.MARKETS}
        self.last_server_time: dict[str, float] = {}
        self.funding: dict[str, list[dict[str, Any]]] = {}
        "Account name → its funding payments as served (oldest first)."
        self.next_funding_id = 1
        self.funding_paid_until = 0
        "End (server ms) of the last funding window settled."
        self.exchange.liquidation = self.options.liquidation
        self.exchange.add_listener(self._on_exchange_event)
        self.app = make_asgi_app(self.handle_http, self.handle_websocket,
                                 too_large=lambda limit: HttpResponse.json(413, {"error": "Payload Too Large"}))

    def _listed(self, markets: Any) -> list[Market]:
        """The default markets the exchange lists (tests may give the exchange fewer instruments)."""
        return [m for m in markets if m.instrument.symbol in self.exchange.instruments]

    def account_id_of(self, account: Account) -> str:
        """The trader's address of an exchange account."""
        return self.options.account_ids.get(account.name, account.api_key)

    def banner(self) -> list[str]:
        """URLs of both markets, accounts and markets (printed by ``triotrade testnet leverj``)."""
        return [f"leverj testnet REST      {self.url}{C.api_base('spot')}/ and {self.url}{C.api_base('futures')}/",
                f"leverj testnet socket.io {self.url}{C.socket_path('spot')}/ and {self.url}{C.socket_path('futures')}/",
                f"accounts: {', '.join(self.accounts)}", f"markets: {', '.join(self.exchange.instruments)}"]

    def dump_dialect_state(self) -> Any:
        """The signed orders as received, the funding payments and counters (for ``--state``)."""
        return {"wire_orders": {uuid: dumps_json(wire) for uuid, wire in self.wire_orders.items()},
                "funding": self.funding_records(), "next_funding_id": self.next_funding_id,
                "funding_paid_until": self.funding_paid_until}

    def load_dialect_state(self, raw: Any) -> None:
        """Take back :meth:`dump_dialect_state`: restored orders are served (and pushed) as before."""
        if not isinstance(raw, dict) or not isinstance(raw.get("wire_orders"), dict) \
                or not isinstance(raw.get("funding"), dict) or type(raw.get("next_funding_id")) is not int \
                or type(raw.get("funding_paid_until")) is not int:
            raise ValueError("malformed leverj state: expected wire_orders, funding and the funding counters")
        try:
            wire_orders = {str(k): loads_exact(v) for k, v in raw["wire_orders"].items()}
        except (WireFormatError, ValueError, TypeError) as e:
            raise ValueError(f"malformed leverj state: a signed order: {e}") from None
        unknown = sorted(set(raw["funding"]) - set(self.accounts))
        if unknown:
            raise ValueError(f"leverj state names account {unknown[0]!r}, which the accounts file lacks")
        funding = {}
        for name, records in raw["funding"].items():
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise ValueError(f"malformed leverj state: funding of {name!r}")
            funding[name] = list(records)
        self.wire_orders = wire_orders
        self.funding = funding
        self.next_funding_id = raw["next_funding_id"]
        self.funding_paid_until = raw["funding_paid_until"]

    def restored(self) -> None:
        """Fills booked before the restart are not pushed again."""
        self.fills_seen = {o.order_id: len(o.fills) for o in self.exchange.ledger().orders}

    def funding_records(self) -> dict[str, list[dict[str, Any]]]:
        """Every account's funding payments as served (JSON-ready)."""
        return {name: [dict(r) for r in records] for name, records in self.funding.items()}

    # -- funding ----------------------------------------------------------------------------------
    def funding_window(self, now_ms: int | None = None) -> tuple[int, int]:
        """``(start, end)`` in server ms of the funding window holding ``now_ms``."""
        now = self.server_time_ms() if now_ms is None else now_ms
        length = self.options.funding_interval_s * 1000
        start = now - now % length
        return start, start + length

    def funding_rate_wei(self, m: Market) -> int:
        """What one unit of a long pays this window, in the quote's smallest unit (0 without an index)."""
        index = self.index_price(m)
        if index is None:
            return 0
        scaled = self.options.funding_rate * index * Decimal(10) ** m.quote.decimals
        return int(scaled.to_integral_value())

    def settle_funding(self, window_end: int | None = None) -> list[dict[str, Any]]:
        """Pay the funding of the window ending at ``window_end`` (default: the current window) on
        every futures market, once per window; the payments made to non-house accounts."""
        start, end = self.funding_window() if window_end is None else self.funding_window(window_end - 1)
        if self.funding_paid_until >= end:
            return []
        self.funding_paid_until = end
        payments = []
        for m in self.markets["futures"].values():
            rate = self.funding_rate_wei(m)
            if not rate:
                continue
            scale = Decimal(10) ** m.quote.decimals
            index = self.index_price(m)
            for paid in self.exchange.pay_funding(m.instrument.symbol, rate / scale, 1 / scale):
                account = self.exchange.accounts[paid.account]
                if account.house:
                    continue
                record = {"fundingId": str(self.next_funding_id), "instrument": m.id,
                          "accountId": self.account_id_of(account), "size": _plain(paid.qty), "rate": str(rate),
                          "indexPrice": _plain(index) if index is not None else None,
                          "amount": str(int(paid.amount * scale)), "eventTime": paid.ts_ms, "start": start, "end": end}
                self.next_funding_id += 1
                self.funding.setdefault(account.name, []).append(record)
                payments.append(record)
                self._push_private(account, "funding", record, "futures")
                for _, conn in self._registered(account.name):
                    conn.data["account_dirty"] = True
                    conn.wake()
        return payments

    async def run_background(self) -> None:
        """Settle each funding window when the server clock reaches its end."""
        while True:
            _, end = self.funding_window()
            await trio.sleep(max(0.0, (end - self.server_time_ms()) / 1000) + 0.001)
            if self.server_time_ms() >= end:
                self.settle_funding(end)

    # -- HTTP -------------------------------------------------------------------------------------
    def _time_header(self) -> tuple[str, str]:
        return C.SERVER_TIME_HEADER, str(self.server_time_ms())

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Route one request: a socket.io poll, an API call, or 404."""
        await self.inject_latency()
        for server in self.sockets.values():
            if server.serves(request.path):
                return await server.handle_http(request)
        market = next((m for m in C.MARKETS if request.path.startswith(C.api_base(m) + "/")), None)
        if market is None:
            return HttpResponse.json(404, {"error": "Not Found"})
        headers = [self._time_header()] if request.method in _SERVER_TIME_METHODS else []
        if self.faults.force_429(self.elapsed_s()) or self.limiter.try_add(
                request.client_host, 1, self.limits_clock_ms()) is not None:
            return HttpResponse.json(429, {"error": "Too Many Requests"}, [*headers, ("retry-after", "1")])
        if request.method == "OPTIONS":
            return HttpResponse(200, b"", headers)
        raw_path = request.raw_path or request.path
        uri = raw_path[len(C.api_base(market)):] + (f"?{request.raw_query}" if request.raw_query else "")
        try:
            body = loads_exact(request.body) if request.body else None
        except (WireFormatError, ValueError):
            return HttpResponse.json(400, {"error": "Invalid JSON body"}, headers)
        try:
            answer, command = await self.api(market, request.method, request.path[len(C.api_base(market)):], uri,
                                             request.headers, body, request.raw_query)
        except LeverjError as e:
            return HttpResponse.json(e.status, {"error": e.message}, headers)
        response = HttpResponse.json(200, answer, headers)
        if not command:
            return response
        fault = self.faults.after_order()
        if fault is AnswerFault.ERROR_5XX:
            return HttpResponse.json(500, {"error": "Internal Server Error"}, headers)
        return self.order_answer(response, fault)

    async def api(self, market: str, method: str, path: str, uri: str, headers: Mapping[str, str], body: Any,
                  raw_query: str, *, signed: Any = None) -> tuple[Any, bool]:
        """One API call (REST or over the socket): ``(answer, whether it was an order command)``.

        ``signed`` is what a ``SIGN`` header covers when it is not the body (a socket request's
        ``{body, params}``).
        """
        parts = [unquote(p) for p in path.strip("/").split("/")]
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        if method == "GET" and parts[0] in ("all", "instrument"):
            return self.public(market, parts), False
        auth, account = self.authenticate(headers, method, uri, body if signed is None else signed)
        if parts == ["order"] and method == "GET":
            return [self.order_dto(o) for o in self._open_orders(account, market)], False
        if parts[0] == "order" and len(parts) == 2 and method == "GET":
            order = self._find(account, market, parts[1])
            if order is None or not order.is_open:
                raise LeverjError(404, "Not Found")
            return [self.order_dto(order)], False
        if parts == ["order"] and method == "POST":
            return self.create(market, auth, account, body), True
        if parts[0] == "order" and len(parts) == 2 and method == "DELETE":
            return [self.remove(market, account, parts[1].split(","))], True
        if parts == ["order"] and method == "PATCH":
            return self.patch(market, auth, account, body), True
        if parts == ["account"] and method == "GET":
            return self.account_dto(market, auth, account), False
        if parts == ["account", "execution"] and method == "GET":
            count = query.get("count", "50")
            if not count.isdigit() or not 1 <= int(count) <= 1000:
                raise LeverjError(400, "Invalid count")
            return self.executions(market, account)[:int(count)], False
        if parts == ["account", "balance"] and method == "GET":
            return self.balances_dto(account), False
        if parts == ["account", "position"] and method == "GET" and market == "futures":
            return self.positions_dto(account), False
        if parts == ["account", "funding"] and method == "GET" and market == "futures":
            count = query.get("count", "50")
            if not count.isdigit() or not 1 <= int(count) <= 1000:
                raise LeverjError(400, "Invalid count")
            return list(reversed(self.funding.get(account.name, [])))[:int(count)], False
        raise LeverjError(404, "Not Found")

    def authenticate(self, headers: Mapping[str, str], method: str, uri: str, body: Any) -> tuple[AuthHeader, Account]:
        """The verified header and its account, or 401."""
        header = headers.get("authorization")
        nonce = headers.get("nonce")
        if header is None or nonce is None:
            raise LeverjError(401, "Authentication failed. Missing Authorization or Nonce")
        try:
            auth = verify_authorization(header, nonce, method, uri, body, now_ms=self.server_time_ms(),
                                        window_ms=self.options.nonce_window_ms)
        except AuthError as e:
            raise LeverjError(401, str(e)) from None
        account = self.exchange.account_by_api_key(auth.api_key)
        if account is None or account.house or self.account_id_of(account) != auth.account_id:
            raise LeverjError(401, "Authentication failed. Unregistered api key")
        return auth, account

    # -- public -----------------------------------------------------------------------------------
    def _market(self, market: str, wire_id: str) -> Market:
        found = self.markets[market].get(wire_id)
        if found is None:
            raise LeverjError(404, f"Unknown instrument {wire_id[:40]}")
        return found

    def public(self, market: str, parts: list[str]) -> Any:
        if parts == ["all", "config"]:
            return self.config_dto(market)
        if parts == ["all", "info"]:
            return {m.id: self.info_dto(market, m) for m in self.markets[market].values()}
        if len(parts) >= 3 and parts[0] == "instrument":
            m = self._market(market, parts[1])
            if parts[2:] == ["orderbook"]:
                return self.book_dto(m)
            if parts[2:] == ["trade"]:
                return [self.trade_dto(m, t.ts_ms, t.price, t.qty, t.aggressor)
                        for t in reversed(self.exchange.trades(m.instrument.symbol)[-100:])]
            if len(parts) == 4 and parts[2] == "chart" and parts[3].isdigit() and 1 <= int(parts[3]) <= 1440:
                interval = int(parts[3]) * 60_000
                bars = self.exchange.bars(m.instrument.symbol).bars(interval, limit=200)
                return [{"t": t // 1000, "o": o, "h": h, "l": low, "c": c, "v": v, "s": m.instrument.symbol, "i": parts[3]}
                        for t, o, h, low, c, v in reversed(bars)]
        raise LeverjError(404, "Not Found")

    def config_dto(self, market: str) -> dict[str, Any]:
        source = SPOT_INSTRUMENTS if market == "spot" else FUTURES_INSTRUMENTS
        instruments = {i["id"]: i for i in source if i["id"] in self.markets[market]}
        return {"config": {"maxOrdersCreateUpdate": self._max_orders(market), "maxInputs": 8,
                           "fee": {"default": FEES[market], "factor": 10_000}, "maintenance": False,
                           "tradingDisabled": False, "default": {"instrument": next(iter(instruments), "")},
                           "markets": {"DAI": True, "ETH": True}, "network": {"id": 1337}},
                "instruments": instruments, "assets": ASSETS, "user": {"ip": "127.0.0.1", "country": ""}}

    def _max_orders(self, market: str) -> int:
        return self.options.max_orders_spot if market == "spot" else self.options.max_orders_futures

    def info_dto(self, market: str, m: Market) -> dict[str, Any]:
        symbol = m.instrument.symbol
        bid, _, ask, _ = self.exchange.best_bid_ask(symbol)
        last = self.exchange.last_price(symbol)
        now = self.server_time_ms()
        volume = sum((t.qty for t in self.exchange.trades(symbol) if t.ts_ms >= now - 86_400_000), ZERO)
        info: dict[str, Any] = {"vol24H": {"qty": volume, "instrument": m.id}, "lastPrice": last, "bid": bid, "ask": ask}
        if market == "futures":
            index = self.index_price(m)
            start, end = self.funding_window(now)
            info["fundingRate"] = {"rate": str(self.funding_rate_wei(m)), "start": start, "end": end,
                                   "instrument": m.id, "indexPrice": index, "futurePrice": last}
            info["index"] = {"date": now // 1000, "price": index, "topic": f"index_{symbol}"}
        return info

    def index_price(self, m: Market) -> Decimal | None:
        """The index the testnet serves: the book's mid (the last price without one)."""
        bid, _, ask, _ = self.exchange.best_bid_ask(m.instrument.symbol)
        if bid is not None and ask is not None:
            tick = m.instrument.tick_size
            return ((bid + ask) / 2 / tick).to_integral_value(ROUND_DOWN) * tick
        return self.exchange.last_price(m.instrument.symbol)

    def book_dto(self, m: Market) -> dict[str, Any]:
        bids, asks = self.exchange.depth(m.instrument.symbol, self.options.book_depth)
        return {"instrument": m.id, "bid": bids[0][0] if bids else None, "ask": asks[0][0] if asks else None,
                "buy": [{"price": p, "numberOfOrders": 1, "totalQuantity": q, "instrument": m.id} for p, q in bids],
                "sell": [{"price": p, "numberOfOrders": 1, "totalQuantity": q, "instrument": m.id} for p, q in asks]}

    @staticmethod
    def trade_dto(m: Market, ts_ms: int, price: Decimal, qty: Decimal, aggressor: Side) -> dict[str, Any]:
        return {"date": ts_ms // 1000, "price": price, "volume": qty, "instrument": m.id,
                "side": "buy" if aggressor is Side.BUY else "sell"}

    # -- orders -----------------------------------------------------------------------------------
    def _open_orders(self, account: Account, market: str) -> list[ExchangeOrder]:
        symbols = {m.instrument.symbol for m in self.markets[market].values()}
        return [o for o in self.exchange.open_orders(account) if o.symbol in symbols]

    def _find(self, account: Account, market: str, uuid: str) -> ExchangeOrder | None:
        try:
            order = self.exchange.order(account, uuid)
        except ExchangeRejected:
            return None
        return order if self.market_of_symbol[order.symbol][0] == market else None

    def create(self, market: str, auth: AuthHeader, account: Account, body: Any) -> list[dict[str, Any]]:
        """``POST /order``: check every order of the array first (nothing is booked if one is
        refused), then book them in order."""
        if not isinstance(body, list) or not body:
            raise LeverjError(400, "Invalid request: a non-empty array of orders is required")
        if len(body) > self._max_orders(market):
            raise LeverjError(400, f"Too many orders: at most {self._max_orders(market)}")
        checked = [self.check_order(market, auth, o) for o in body]
        created = []
        for wire, m, fields in checked:
            created.append(self.book(account, wire, m, fields))
        return created

    def check_order(self, market: str, auth: AuthHeader, wire: Any) -> tuple[dict[str, Any], Market, dict[str, Any]]:
        """Validate one signed order as the venue does; ``(wire, market, submit arguments)``."""
        if not isinstance(wire, dict):
            raise LeverjError(400, "Invalid order")
        m = self._market(market, str(wire.get("instrument"))[:40]) if isinstance(wire.get("instrument"), str) else None
        if m is None:
            raise LeverjError(400, "Invalid order instrument")
        if wire.get("accountId") != auth.account_id:
            raise LeverjError(400, "Invalid order accountId")
        kind = wire.get("orderType")
        allowed = ("LMT", "MKT", "SLMT", "SMKT") if m.futures else ("LMT", "MKT")
        if kind not in allowed:
            raise LeverjError(400, "Invalid order orderType")
        if wire.get("side") not in ("buy", "sell"):
            raise LeverjError(400, "Invalid order side")
        for name in ("price", "quantity", "timestamp"):
            value = wire.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value <= 0:
                raise LeverjError(400, f"Invalid order {name}")
        price, qty = Decimal(wire["price"]), Decimal(wire["quantity"])
        fields: dict[str, Any] = {"side": Side.BUY if wire["side"] == "buy" else Side.SELL, "type": _ORDER_TYPES[str(kind)],
                                  "qty": qty, "price": None if kind in ("MKT", "SMKT") else price}
        client_id = wire.get("clientOrderId")
        if client_id is not None:
            if isinstance(client_id, bool) or not isinstance(client_id, (int, str)) or len(str(client_id)) > 64:
                raise LeverjError(400, "Invalid order clientOrderId")
            fields["client_order_id"] = str(client_id)
        if m.futures:
            self._check_futures(m, auth, wire, price, fields)
        elif "isPostOnly" in wire or "reduceOnly" in wire:
            fields["post_only"] = wire.get("isPostOnly") is True
            if wire.get("reduceOnly") is True:
                raise LeverjError(400, "Invalid order reduceOnly: spot orders cannot be reduce-only")
        try:
            packed = (futures_order_packed(wire, m.quote.decimals) if m.futures
                      else spot_order_packed(wire, m.base or m.quote, m.quote))
        except ValueError as e:
            raise LeverjError(400, str(e) if str(e).startswith("Invalid order") else f"Invalid order: {e}") from None
        if auth.api_key not in order_signers(order_hash(packed), wire.get("signature")):
            raise LeverjError(422, C.INVALID_ORDER_SIGNATURE)
        return wire, m, fields

    def _check_futures(self, m: Market, auth: AuthHeader, wire: Mapping[str, Any], price: Decimal,
                       fields: dict[str, Any]) -> None:
        if wire.get("quote") != m.quote.address:
            raise LeverjError(400, "Invalid order quote")
        originator = wire.get("originator", auth.api_key)
        if originator != auth.api_key:
            raise LeverjError(400, "Invalid order originator")
        for name in ("isPostOnly", "reduceOnly"):
            if not isinstance(wire.get(name, False), bool):
                raise LeverjError(400, f"Invalid order {name}")
        fields["post_only"] = wire.get("isPostOnly", False)
        fields["reduce_only"] = wire.get("reduceOnly", False)
        if wire["orderType"] in ("SLMT", "SMKT"):
            trigger = wire.get("triggerPrice")
            if isinstance(trigger, bool) or not isinstance(trigger, (int, Decimal)) or trigger <= 0:
                raise LeverjError(400, "Invalid order triggerPrice")
            fields["trigger_price"] = Decimal(trigger)
        margin = int(wire["marginPerFraction"])
        if margin <= 0:
            raise LeverjError(400, "Invalid order marginPerFraction")
        # the leverage the margin implies: price per unit over margin per unit
        leverage = (price * Decimal(10) ** m.quote.decimals / margin).to_integral_value(ROUND_DOWN)
        if leverage > m.max_leverage * Decimal("1.01"):
            raise LeverjError(400, f"Invalid order marginPerFraction: leverage {leverage} above {m.max_leverage}")
        fields["leverage"] = max(1, min(m.max_leverage, int(leverage)))

    def book(self, account: Account, wire: dict[str, Any], m: Market, fields: dict[str, Any]) -> dict[str, Any]:
        """Submit one checked order to the exchange; the created order object."""
        try:
            order = self.exchange.submit_order(account, m.instrument.symbol, **fields)
        except ExchangeRejected as e:
            raise LeverjError(400, _reject_message(e)) from None
        self.wire_orders[order.order_id] = wire
        dto = self.order_dto(order)
        self._push_private(account, "order_add", {"result": [dto]}, self.market_of_symbol[order.symbol][0])
        return dto

    def remove(self, market: str, account: Account, uuids: Sequence[str]) -> list[str]:
        """Cancel open orders; the uuids removed (404 if one is not open)."""
        if not uuids or len(uuids) > 100:
            raise LeverjError(400, "Invalid order ids")
        orders = []
        for uuid in uuids:
            order = self._find(account, market, uuid) if _UUID.fullmatch(uuid) else None
            if order is None or not order.is_open:
                raise LeverjError(404, f"Order with specified id: {uuid[:40]} could not be found")
            orders.append(order)
        for order in orders:
            self.exchange.cancel_order(account, order.order_id)
        return [o.order_id for o in orders]

    def patch(self, market: str, auth: AuthHeader, account: Account, body: Any) -> dict[str, Any]:
        """``PATCH /order``: ``remove`` and ``add`` operations in order, each answered by itself."""
        if not isinstance(body, list) or not body or len(body) > 2 * self._max_orders(market):
            raise LeverjError(400, "Invalid request: a non-empty array of operations is required")
        results: list[dict[str, Any]] = []
        for op in body:
            name = op.get("op") if isinstance(op, dict) else None
            value = op.get("value") if isinstance(op, dict) else None
            try:
                if name == "remove" and isinstance(value, list) and all(isinstance(v, str) for v in value):
                    results.append({"op": name, "response": self.remove(market, account, value)})
                elif name == "add":
                    results.append({"op": name, "response": self.create(market, auth, account, value)})
                else:
                    raise LeverjError(400, f"Invalid operation {str(name)[:20]}")
            except LeverjError as e:
                results.append({"op": name, "statusCode": e.status, "error": e.message, "response": []})
        return {"result": results}

    # -- objects as the venue writes them ----------------------------------------------------------
    def order_dto(self, order: ExchangeOrder) -> dict[str, Any]:
        market, m = self.market_of_symbol[order.symbol]
        wire = self.wire_orders.get(order.order_id, {})
        cancelled = order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
        status = ("open" if order.is_open else "cancelled" if cancelled
                  else "done" if order.status is OrderStatus.FILLED else "failed")
        created_us = order.created_ms * 1000
        dto: dict[str, Any] = {
            "uuid": order.order_id, "accountId": self.account_id_of(self.exchange.accounts[order.account]),
            "side": "buy" if order.side is Side.BUY else "sell", "quantity": order.qty, "filled": order.filled_qty,
            "averagePrice": order.avg_price or ZERO, "cancelled": order.leaves_qty if cancelled else ZERO,
            "price": wire.get("price", order.price), "entryTime": created_us, "eventTime": order.updated_ms * 1000,
            "status": status, "orderType": wire.get("orderType", _WIRE_TYPES.get(order.type, "LMT")),
            "instrument": m.id, "timestamp": wire.get("timestamp", created_us), "signature": wire.get("signature", ""),
            "clientOrderId": wire.get("clientOrderId"), "originator": wire.get("originator", ""),
        }
        if market == "futures":
            dto.update({"triggerPrice": order.trigger_price, "marginPerFraction": wire.get("marginPerFraction", "0"),
                        "isPostOnly": order.post_only, "quote": m.quote.address, "triggered": order.triggered,
                        "reduceOnly": order.reduce_only})
        else:
            dto["token"] = m.base.address if m.base else ""
        return dto

    def execution_dto(self, fill: OrderFill) -> dict[str, Any]:
        market, m = self.market_of_symbol[fill.symbol]
        account = self.exchange.accounts[fill.account]
        try:
            order: ExchangeOrder | None = self.exchange.order(account, fill.order_id)
        except ExchangeRejected:
            order = None
        dto = {"instrument": m.id, "accountId": self.account_id_of(account),
               "executionId": str(fill.trade_id), "side": "buy" if fill.side is Side.BUY else "sell",
               "orderType": _WIRE_TYPES.get(order.type, "LMT") if order else "LMT", "orderId": fill.order_id,
               "price": fill.price, "quantity": fill.qty, "commission": fill.fee,
               "liquidity": fill.liquidity.value, "pnl": fill.realized_pnl, "eventTime": fill.ts_ms * 1000}
        if order is not None and _liquidation(order):
            dto["liquidation"] = True
        return dto

    def executions(self, market: str, account: Account) -> list[dict[str, Any]]:
        symbols = {m.instrument.symbol for m in self.markets[market].values()}
        return [self.execution_dto(f) for f in reversed(self.exchange.my_fills(account)) if f.symbol in symbols]

    def account_dto(self, market: str, auth: AuthHeader, account: Account) -> dict[str, Any]:
        orders: dict[str, dict[str, Any]] = {}
        for order in self._open_orders(account, market):
            dto = self.order_dto(order)
            orders.setdefault(dto["instrument"], {})[order.order_id] = dto
        return {"accountId": auth.account_id, "apiKeys": {auth.api_key: True}, "orders": orders,
                "preference": {}, "exited": {}}

    def balances_dto(self, account: Account) -> dict[str, Any]:
        out = {}
        for symbol, asset in ASSETS.items():
            balance = account.balance(symbol)
            scale = Decimal(10) ** asset["decimals"]
            out[asset["address"]] = {"accountId": self.account_id_of(account), "assetAddress": asset["address"],
                                     "symbol": symbol, "plasma": str(int(balance.total * scale)),
                                     "available": str(int(balance.free * scale)), "pending": "0"}
        return out

    def positions_dto(self, account: Account) -> list[dict[str, Any]]:
        out = []
        for position in self.exchange.positions(account):
            market, m = self.market_of_symbol[position.symbol]
            if market != "futures":
                continue
            scale = Decimal(10) ** m.quote.decimals
            notional = abs(position.qty) * position.open_price
            per_unit = position.margin / abs(position.qty) if position.qty else ZERO
            direction = 1 if position.qty > 0 else -1
            bankruptcy = position.open_price - direction * per_unit
            liquidation = position.open_price - direction * per_unit * (1 - MAINTENANCE_FRACTION)
            out.append({"accountId": self.account_id_of(account), "instrument": m.id, "size": _plain(position.qty),
                        "entryPrice": position.open_price, "notional": str(int(notional * scale)),
                        "margin": str(int(position.margin * scale)), "bankruptcyPrice": _plain(bankruptcy),
                        "liquidationPrice": _plain(liquidation),
                        "eventTime": position.updated_ms, "reservedFees": "0"})
        return out

    # -- the sockets ------------------------------------------------------------------------------
    async def handle_websocket(self, ws: WebSocketConnection) -> None:
        for server in self.sockets.values():
            if server.serves(ws.path):
                await server.handle_websocket(ws)
                return
        await ws.close(1008, "Not Found")

    def _registered(self, account_name: str) -> list[tuple[str, SioConnection]]:
        return [(name, conn) for name, server in self.sockets.items() for conn in server.connections
                if conn.data.get("account") == account_name]

    def _push_private(self, account: Account, event: str, payload: Any, market: str | None = None) -> None:
        for name, conn in self._registered(account.name):
            if market is None or name == market:
                conn.emit(event, payload)

    def _on_exchange_event(self, event: object) -> None:
        """Exchange listener (synchronous): record what changed and wake the sockets."""
        if isinstance(event, BookChanged):
            entry = self.market_of_symbol.get(event.symbol)
            if entry is None:
                return
            for conn in self.sockets[entry[0]].connections:
                conn.data.setdefault("books", set()).add(event.symbol)
                conn.wake()
        elif isinstance(event, TradeExecuted):
            trade = event.trade
            entry = self.market_of_symbol.get(trade.symbol)
            if entry is None:
                return
            dto = self.trade_dto(entry[1], trade.ts_ms, trade.price, trade.qty, trade.aggressor)
            for conn in self.sockets[entry[0]].connections:
                conn.emit("trade", dto)
        elif isinstance(event, OrderChanged):
            self._order_changed(event.order)

    def _order_changed(self, order: ExchangeOrder) -> None:
        account = self.exchange.accounts.get(order.account)
        venue_close = _liquidation(order)
        if account is None or account.house or (order.order_id not in self.wire_orders and not venue_close):
            return
        market = self.market_of_symbol[order.symbol][0]
        seen = self.fills_seen.get(order.order_id, 0)
        for fill in order.fills[seen:]:
            self._push_private(account, "order_execution", self.execution_dto(fill), market)
            if venue_close:
                _, m = self.market_of_symbol[order.symbol]
                self._push_private(account, "liquidation", {
                    "instrument": m.id, "accountId": self.account_id_of(account), "orderId": order.order_id,
                    "size": _plain(fill.qty * fill.side), "price": fill.price}, market)
        self.fills_seen[order.order_id] = len(order.fills)
        if venue_close:
            for _, conn in self._registered(account.name):
                conn.data["account_dirty"] = True
                conn.wake()
            return
        if order.is_open:
            self._push_private(account, "order_update", {"result": [self.order_dto(order)]}, market)
        else:
            self._push_private(account, "order_del", {"result": [order.order_id], "order": self.order_dto(order)},
                               market)
        for _, conn in self._registered(account.name):
            conn.data["account_dirty"] = True
            conn.wake()

    def _flush(self, conn: SioConnection) -> None:
        """Before a socket sends: the books that changed, the account that changed, the time."""
        market = str(conn.data.get("market"))
        now = self.server_time_ms()
        books: set[str] = conn.data.pop("books", set())
        for symbol in sorted(books):
            m = self.market_of_symbol[symbol][1]
            conn.emit("orderbook", {m.id: self.book_dto(m)})
            if market == "futures":
                conn.emit("index", {"date": now // 1000, "price": self.index_price(m), "topic": f"index_{symbol}",
                                    "stale": False})
        account_name = conn.data.get("account")
        if conn.data.pop("account_dirty", False) and account_name in self.exchange.accounts:
            account = self.exchange.accounts[account_name]
            conn.emit("account_balance", self.balances_dto(account))
            if market == "futures":
                for position in self.positions_dto(account):
                    conn.emit("position", position)
        last = conn.data.get("server_time_at", 0.0)
        clock = self.elapsed_s()
        if clock - last >= self.options.server_time_every_s or not last:
            conn.data["server_time_at"] = clock or 1e-9
            conn.emit("server_time", now)


_RESPONSE_EVENTS = {("POST", "order"): "order_add", ("PATCH", "order"): "order_patch",
                    ("DELETE", "order"): "order_del", ("GET", "order"): "order"}


class _Sockets:
    """The socket.io side of one market: requests as events, registration, errors."""

    def __init__(self, testnet: LeverjTestnet, market: str) -> None:
        self.testnet = testnet
        self.market = market

    def on_connect(self, conn: SioConnection) -> None:
        conn.data["market"] = self.market
        conn.emit("server_time", self.testnet.server_time_ms())

    def on_disconnect(self, conn: SioConnection) -> None:
        conn.data.pop("account", None)

    async def on_event(self, conn: SioConnection, event: str, args: list[Any]) -> list[Any] | None:
        method, _, uri = event.partition(" ")
        data = args[0] if args and isinstance(args[0], dict) else {}
        given = data.get("headers")
        headers = {str(k).lower(): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
        requestid = headers.get("requestid")
        body = data.get("body")
        params = data.get("params") if isinstance(data.get("params"), dict) else {}
        if method not in ("GET", "POST", "PUT", "DELETE", "PATCH") or not uri.startswith("/"):
            return [{"error": "Unknown request"}]
        signed_body = {"body": body, "params": params}
        path, _, raw_query = uri.partition("?")
        if path in ("/register", "/unregister"):
            try:
                auth, account = self.testnet.authenticate(headers, method, uri, signed_body)
            except LeverjError as e:
                conn.emit("auth_error", {"error": e.message, "data": data, "server_time": self.testnet.server_time_ms()})
                return [{"error": e.message}]
            if path == "/register":
                conn.data["account"] = account.name
                conn.data["account_dirty"] = True
                conn.wake()
            else:
                conn.data.pop("account", None)
            return [{"result": "ok", "accountId": auth.account_id}]
        name = _RESPONSE_EVENTS.get((method, path.strip("/").split("/")[0]), "response")
        try:
            answer, command = await self.testnet.api(self.market, method, path, uri, headers, body, raw_query,
                                                     signed=signed_body)
        except LeverjError as e:
            if e.status == 401:
                conn.emit("auth_error", {"error": e.message, "data": data, "server_time": self.testnet.server_time_ms()})
            else:
                conn.emit("order_error", {"error": {"message": e.message}, "requestid": requestid})
            return [{"error": e.message}]
        if command:
            self.testnet.faults.after_order()  # counted like a REST command (its answer here is an event)
        conn.emit(name, {"result": answer, "requestid": requestid})
        return [{"result": answer}]


def _liquidation(order: ExchangeOrder) -> bool:
    """The order is the venue's own close of a liquidated position."""
    return order.tags.get("source") == "LIQUIDATION"


def _plain(value: Decimal) -> str:
    """A decimal string without exponent or trailing zeros (``0.0100`` → ``0.01``)."""
    return f"{value.normalize():f}"


def _reject_message(e: ExchangeRejected) -> str:
    messages = {RejectReason.INSUFFICIENT_BALANCE: "Insufficient balance",
                RejectReason.INVALID_QUANTITY: "Invalid order quantity",
                RejectReason.INVALID_PRICE: "Invalid order price",
                RejectReason.POST_ONLY_WOULD_TAKE: "Post-only order would take liquidity",
                RejectReason.REDUCE_ONLY: "Reduce-only order would not reduce the position",
                RejectReason.WOULD_TRIGGER_IMMEDIATELY: "Stop order would trigger immediately",
                RejectReason.NO_LIQUIDITY: "No liquidity"}
    return f"{messages.get(e.reason, 'Order rejected')}: {e.detail}" if e.detail else messages.get(e.reason, "Order rejected")


# =============================================================================================
# opening, serving, the command line
# =============================================================================================


def _leverj_account(account: LeverjAccountConfig | AccountConfig) -> LeverjAccountConfig:
    if isinstance(account, LeverjAccountConfig):
        return account
    # an account of the kit's shape (the demo's): its secret is the api key's private key, and the
    # account is its own api key
    address = account.api_key if _ADDRESS.fullmatch(account.api_key) else address_of(account.secret)
    return LeverjAccountConfig(account.name, address, address, dict(account.balances))


def _configs(accounts: str | Path | Sequence[LeverjAccountConfig | AccountConfig]) -> list[LeverjAccountConfig]:
    if isinstance(accounts, (str, Path)):
        return load_leverj_accounts(accounts)
    return [_leverj_account(a) for a in accounts]


def open_leverj_testnet(accounts: str | Path | Sequence[LeverjAccountConfig | AccountConfig], *,
                        options: LeverjTestnetOptions | None = None,
                        **kwargs: Unpack[OpenArgs]) -> AbstractAsyncContextManager[LeverjTestnet]:
    """``async with open_leverj_testnet(accounts, seed=..., faults=...) as testnet``: both markets
    served on 127.0.0.1 for the block (``accounts``: a TOML file or :class:`LeverjAccountConfig`)."""
    configs = _configs(accounts)
    options = attrs.evolve(options or LeverjTestnetOptions(),
                           account_ids={**{a.name: a.account_id for a in configs}, **(options.account_ids if options else {})})

    def make(exchange: Exchange, *, faults: FaultSettings | None) -> LeverjTestnet:
        return LeverjTestnet(exchange, faults=faults, options=options)

    return open_venue(make, default_instruments(), [a.exchange_config() for a in configs], **kwargs)


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """``triotrade testnet leverj`` options: the kit's (port, accounts, market, state, faults)."""
    add_common_arguments(parser)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve both markets until Ctrl-C; the exit status (2 for a bad accounts file)."""
    try:
        configs = load_leverj_accounts(args.accounts)
    except (ConfigError, ValueError) as e:
        print(f"config error: {e}", flush=True)
        return 2
    options = LeverjTestnetOptions(account_ids={a.name: a.account_id for a in configs})

    def make(exchange: Exchange, *, faults: FaultSettings | None) -> LeverjTestnet:
        return LeverjTestnet(exchange, faults=faults, options=options)

    return run_command(args, make, default_instruments(), load=lambda path: [a.exchange_config() for a in configs])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m venues.leverj.testnet --accounts FILE [--port N]``."""
    return testnet_main(C.VENUE, add_testnet_arguments, run_testnet, argv)


if __name__ == "__main__":
    raise SystemExit(main())
