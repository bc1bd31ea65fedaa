"""The Coinpit dialect of the local testnet: inverse BTC futures, loginless HMAC, socket.io.

Paths, under ``/api/v1`` (``*`` = ``Authorization: HMAC <userid>:<mac>`` + ``Nonce``)::

    GET      /auth/:publicKey                   {serverPublicKey, userid} of a listed key (404 otherwise)
    GET      /all/info | all/band | all/spec | all/config
    GET      /contract/:symbol/orderbook | trade          (:symbol a contract or the alias BTCUSDW)
    OPTIONS  /…                                 200 + Server-Time (the client's clock calibration)
  * GET      /order | /order/:uuid              open orders (all symbols) | that order (any state)
  * POST     /order                             an array of new orders → the created orders
  * PUT      /order                             ``[{uuid, price}]`` (or ``{orders: […]}``) → the updated orders
  * DELETE   /order/:uuids                      comma-separated → the cancelled uuids
  * PATCH    /order                             ``[{op: add|remove|replace, value: […]}]`` → ``[{op, statusCode, response}]``
  * GET      /contract/:symbol/order/:uuid | open | closed?from= | cancelled?from=
  * GET      /account | account/execution | account/margin
             the Feb-2017 aliases: POST | PUT | PATCH /contract/:symbol/order/open, DELETE
             /contract/:symbol/order/open[/:uuid], GET /account/position, GET /account/pnl
             /socket.io/                        socket.io 2 (Engine.IO 3): requests as
                                                ``emit("<METHOD> <uri>", {headers, method, uri, params, body})``
                                                answered by ``order_add``, ``order_update``, ``order_del``,
                                                ``order_patch`` (with the ``requestid``) or ``order_error``;
                                                ``GET /register`` → private ``order_update``, ``order_del``,
                                                ``order_execution``, ``account``; public ``trade``,
                                                ``orderbook``, ``priceband``, ``server_time``; ``auth_error``

What it verifies, as the venue does: the MAC over ``{method, uri, body, nonce}`` rebuilt from the
request as received (a socket request's ``{body: {body, params}}``), under the shared secret of
the user's registered public key and its server key; the nonce within ±10 s of the server clock;
order fields (side, integer quantity, price on the 0.1 tick, ``clientid``), the trading band
(``all/band``: a limit price outside it is refused, 422), at most 100 orders per request. Errors
are ``{"error": message}`` with 400, 401, 404, 422 or 429; never a 5xx for client input.
In read-only maintenance (:meth:`CoinpitTestnet.set_readonly`) order commands are refused with
503 ``{"error": READONLY_MESSAGE}`` and every socket hears ``readonly: {readonly: true|false}``.

Money: prices in USD (0.1 tick); one contract is worth 100 USD; margin, PnL and commission are
BTC, served as integer satoshis. The testnet's own rules (the venue publishes none): the server key
of a user is derived from its public key (stable across restarts, so the shared secret is); the
margin an order reserves is its value at the contract's ``maxLeverage`` (Coinpit's stop-distance
margin, ``marginPerQty``, is served but not what is reserved); entries carry no STP/TGT legs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Unpack
from urllib.parse import parse_qsl, unquote

import attrs

from backtest.exchange import (Account, AccountConfig, BookChanged, Exchange, ExchangeOrder, ExchangeRejected,
                               OrderChanged, OrderFill, RejectReason, TradeExecuted)
from engine import (ConfigError, Instrument, InstrumentKind, OrderStatus, OrderType, Side, TomlConfig, WireFormatError,
                    load_toml, loads_json)
from venues._testnet.faults import AnswerFault, FaultSettings
from venues._testnet.kit import OpenArgs, TestnetBase, add_common_arguments, open_venue, run_command, testnet_main
from venues._testnet.server import HttpRequest, HttpResponse, RateRule, WebSocketConnection, WindowLimiter, dumps_json, make_asgi_app
from venues._testnet.socketio import SioConnection, SocketIoServer

from . import constants as C
from .constants import Network, weekly_symbol
from .signer import (AuthError, AuthHeader, address_of, identity_of, parse_authorization, public_key_of,
                     shared_secret, verify_authorization)

__all__ = ["CoinpitAccountConfig", "CoinpitTestnetOptions", "CoinpitTestnet", "default_instruments",
           "load_coinpit_accounts", "open_coinpit_testnet", "add_testnet_arguments", "run_testnet", "main"]

ZERO = Decimal(0)
SATOSHI = Decimal(1) / C.SATOSHI_PER_BTC
TICK = Decimal("0.1")
_PUBLIC_KEY = re.compile(r"0[23][0-9a-f]{64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NO_SECRET = "(none: the server derives its key per user)"
_SERVER_TIME_METHODS = frozenset({"PUT", "POST", "DELETE", "OPTIONS", "PATCH"})
_SERVER_KEY_DOMAIN = b"triotrade coinpit testnet server key\x00"


# =============================================================================================
# contracts, accounts, options
# =============================================================================================


def contract_instrument(symbol: str) -> Instrument:
    """One inverse BTCUSD contract: 100 USD, 0.1 USD tick, whole contracts, settled in BTC."""
    return Instrument(C.VENUE, symbol, "BTC", "USD", TICK, Decimal(1), kind=InstrumentKind.INVERSE,
                      multiplier=Decimal(C.CONTRACT_USD), max_leverage=Decimal(100), maker_fee=Decimal(0),
                      taker_fee=Decimal("0.0005"), min_qty=Decimal(1))


def default_instruments() -> list[Instrument]:
    """The current weekly contract (by the wall clock)."""
    from backtest.exchange import wall_clock_ms

    return [contract_instrument(weekly_symbol(wall_clock_ms())[0])]


def _balances(value: Mapping[str, Any]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in value.items()}


def _public_key(instance: Any, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if not _PUBLIC_KEY.fullmatch(value):
        raise ValueError(f"{attribute.name} must be a compressed secp256k1 public key (66 lowercase hex digits)")
    address_of(value, Network.TESTNET)  # on the curve


@attrs.frozen
class CoinpitAccountConfig:
    """One ``[[accounts]]`` entry: ``name``, ``public_key`` (compressed hex) and ``balances`` (``{ BTC = "10" }``)."""

    name: str
    public_key: str = attrs.field(validator=_public_key)
    balances: dict[str, Decimal] = attrs.field(factory=dict, converter=_balances)

    @property
    def userid(self) -> str:
        """The user's testnet P2PKH address."""
        return address_of(self.public_key, Network.TESTNET)

    def exchange_config(self) -> AccountConfig:
        """The exchange's account, keyed by ``userid`` (no secret: the server never needs the private key)."""
        return AccountConfig(name=self.name, api_key=self.userid, secret=_NO_SECRET, balances=dict(self.balances))


@attrs.frozen
class _AccountsFile(TomlConfig):
    accounts: list[CoinpitAccountConfig]


def load_coinpit_accounts(path: str | os.PathLike[str]) -> list[CoinpitAccountConfig]:
    """Read an accounts file; errors name the file and the key."""
    source = os.fspath(path)
    parsed = _AccountsFile.from_mapping(load_toml(source), source=source)
    if not parsed.accounts:
        raise ConfigError("no [[accounts]] entries", path=source, key="accounts")
    seen: set[str] = set()
    for i, account in enumerate(parsed.accounts):
        for value in (account.name, account.public_key):
            if value in seen:
                raise ConfigError(f"duplicate name or public_key {value!r}", path=source, key=f"accounts[{i}]")
            seen.add(value)
    return parsed.accounts


@attrs.frozen
class CoinpitTestnetOptions:
    """Knobs of the Coinpit testnet (the venue publishes no rate limits; these are roomy)."""

    public_keys: Mapping[str, str] = attrs.field(factory=dict)
    "Account name → its registered public key."
    nonce_window_ms: int = C.NONCE_WINDOW_MS
    requests_per_window: int = 1200
    rate_window_s: float = 60.0
    band_fraction: Decimal = attrs.field(default=Decimal("0.01"), converter=Decimal)
    "Half-width of the trading band as a fraction of the index (``bandUpperLimit``/``bandLowerLimit``)."
    stop_points: Decimal = attrs.field(default=Decimal(2), converter=Decimal)
    "The contract's default stop distance (``stopprice``), for ``marginPerQty``."
    cushion_points: Decimal = attrs.field(default=Decimal(2), converter=Decimal)
    ping_interval_ms: int = 25_000
    ping_timeout_ms: int = 20_000
    book_depth: int = 50
    server_time_every_s: float = 5.0


class CoinpitError(Exception):
    """An answer ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def server_secret(public_key: str) -> bytes:
    """The server's private key for one user (derived from the user's key; see the module docstring)."""
    return hashlib.sha256(_SERVER_KEY_DOMAIN + bytes.fromhex(public_key)).digest()


def satoshis(amount: Decimal, rounding: str = ROUND_HALF_EVEN) -> int:
    """A BTC amount as integer satoshis."""
    return int((amount * C.SATOSHI_PER_BTC).to_integral_value(rounding))


def normalized_price(price: Decimal) -> int:
    """``N(p)``: satoshis one 100 USD contract is worth at ``price`` (notes §7.8)."""
    return int((Decimal(C.CONTRACT_USD * C.SATOSHI_PER_BTC) / price).to_integral_value(ROUND_HALF_EVEN))


# =============================================================================================
# the dialect
# =============================================================================================


class CoinpitTestnet(TestnetBase[CoinpitTestnetOptions]):
    """Coinpit's inverse weekly BTCUSD futures on one port (see the module docstring)."""

    options_type = CoinpitTestnetOptions
    ws_path = C.SOCKET_PATH

    def setup(self) -> None:
        self.contract = next(iter(self.exchange.instruments))
        "The current contract's symbol (the alias ``BTCUSDW`` names it)."
        self.limiter = WindowLimiter([RateRule("requests", self.options.requests_per_window,
                                               int(self.options.rate_window_s * 1000))])
        self.users: dict[str, tuple[Account, str, bytes]] = {}
        "userid → (account, public key, HMAC key)."
        for name, account in self.accounts.items():
            public = self.options.public_keys.get(name)
            if public is None:
                continue
            key = shared_secret(server_secret(public), public)
            self.users[account.api_key] = (account, public, key)
        self.wire_orders: dict[str, dict[str, Any]] = {}
        "Order uuid → the order's own fields as received (clientid, stopPrice, targetPrice, …)."
        self.fills_seen: dict[str, int] = {}
        self.readonly = False
        "Maintenance: order commands are refused (503) while it is set (:meth:`set_readonly`)."
        self.socket = SocketIoServer(C.SOCKET_PATH, _Sockets(self), faults=self.faults,
                                     ping_interval_ms=self.options.ping_interval_ms,
                                     ping_timeout_ms=self.options.ping_timeout_ms, dumps=dumps_json,
                                     loads=_loads, flush=self._flush)
        self.exchange.add_listener(self._on_exchange_event)
        self.app = make_asgi_app(self.handle_http, self.handle_websocket,
                                 too_large=lambda limit: HttpResponse.json(413, {"error": "Payload Too Large"}))

    def banner(self) -> list[str]:
        """What ``triotrade testnet coinpit`` prints once served."""
        return [f"coinpit testnet REST      {self.url}{C.API_BASE}/", f"coinpit testnet socket.io {self.url}{C.SOCKET_PATH}",
                f"accounts: {', '.join(self.accounts)}", f"contracts: {self.contract} (alias {C.ALIAS_WEEKLY})"]

    def dump_dialect_state(self) -> Any:
        """The orders' own fields as received (for ``--state``)."""
        return {"wire_orders": {uuid: dumps_json(wire) for uuid, wire in self.wire_orders.items()}}

    def load_dialect_state(self, raw: Any) -> None:
        """Take back :meth:`dump_dialect_state`."""
        if not isinstance(raw, dict) or not isinstance(raw.get("wire_orders"), dict):
            raise ValueError("malformed coinpit state: expected wire_orders")
        try:
            self.wire_orders = {str(k): _loads(v) for k, v in raw["wire_orders"].items()}
        except (WireFormatError, ValueError, TypeError) as e:
            raise ValueError(f"malformed coinpit state: an order: {e}") from None

    def restored(self) -> None:
        """Fills booked before the restart are not pushed again."""
        self.fills_seen = {o.order_id: len(o.fills) for o in self.exchange.ledger().orders}

    def set_readonly(self, readonly: bool) -> None:
        """Enter or leave read-only maintenance; every socket hears ``readonly``."""
        self.readonly = readonly
        for conn in self.socket.connections:
            conn.emit("readonly", {"readonly": readonly})

    def symbol_of(self, name: str) -> str:
        """A contract or the alias → the contract (404 for anything else)."""
        if name == C.ALIAS_WEEKLY:
            return self.contract
        if name not in self.exchange.instruments:
            raise CoinpitError(404, f"Unknown instrument {name[:40]}")
        return name

    # -- HTTP -------------------------------------------------------------------------------------
    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Route one request: a socket.io poll, an API call, or 404."""
        await self.inject_latency()
        if self.socket.serves(request.path):
            return await self.socket.handle_http(request)
        if not request.path.startswith(C.API_BASE + "/"):
            return HttpResponse.json(404, {"error": "Not Found"})
        headers = [(C.SERVER_TIME_HEADER, str(self.server_time_ms()))] if request.method in _SERVER_TIME_METHODS else []
        if self.faults.force_429(self.elapsed_s()) or self.limiter.try_add(
                request.client_host, 1, self.limits_clock_ms()) is not None:
            return HttpResponse.json(429, {"error": "Too Many Requests"}, [*headers, ("retry-after", "1")])
        if request.method == "OPTIONS":
            return HttpResponse(200, b"", headers)
        raw_path = request.raw_path or request.path
        uri = raw_path[len(C.API_BASE):] + (f"?{request.raw_query}" if request.raw_query else "")
        try:
            body = _loads(request.body) if request.body else None
        except (WireFormatError, ValueError):
            return HttpResponse.json(400, {"error": "Invalid JSON body"}, headers)
        try:
            answer, command = self.api(request.method, request.path[len(C.API_BASE):], uri, request.headers, body,
                                       request.raw_query)
        except CoinpitError as e:
            return HttpResponse.json(e.status, {"error": e.message}, headers)
        response = HttpResponse.json(200, answer, headers)
        if not command:
            return response
        fault = self.faults.after_order()
        if fault is AnswerFault.ERROR_5XX:
            return HttpResponse.json(500, {"error": "Internal Server Error"}, headers)
        return self.order_answer(response, fault)

    def api(self, method: str, path: str, uri: str, headers: Mapping[str, str], body: Any, raw_query: str, *,
            signed: Any = None) -> tuple[Any, bool]:
        """One API call (REST or over the socket): ``(answer, whether it was an order command)``.
        ``signed`` is what the MAC covers when it is not the body (a socket request's ``{body, params}``)."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        if method == "GET" and len(parts) == 2 and parts[0] == "auth":
            return self.handshake(parts[1]), False
        if method == "GET" and parts[0] == "all":
            return self.public(parts), False
        if method == "GET" and len(parts) == 3 and parts[0] == "contract" and parts[2] in ("orderbook", "trade"):
            symbol = self.symbol_of(parts[1])
            return (self.book_dto(symbol) if parts[2] == "orderbook" else
                    [self.trade_dto(t.symbol, t.ts_ms, t.price, t.qty) for t in
                     reversed(self.exchange.trades(symbol)[-100:])]), False
        userid, account = self.authenticate(headers, method, uri, body if signed is None else signed)
        if self.readonly and method in ("POST", "PUT", "DELETE", "PATCH") and parts[0] == "order":
            raise CoinpitError(503, C.READONLY_MESSAGE)
        if parts == ["order"]:
            if method == "GET":
                return [self.order_dto(o) for o in self.exchange.open_orders(account)], False
            if method == "POST":
                return self.create(account, userid, body), True
            if method == "PUT":
                return self.update(account, body), True
            if method == "PATCH":
                return self.patch(account, userid, body), True
        if len(parts) == 2 and parts[0] == "order":
            if method == "GET":
                return [self.order_dto(self._order(account, parts[1]))], False
            if method == "DELETE":
                return self.remove(account, parts[1].split(",")), True
        if method == "DELETE" and parts == ["order"] and isinstance(signed, Mapping):
            return self.remove(account, body if isinstance(body, list) else []), True
        if len(parts) >= 4 and parts[0] == "contract" and parts[2:4] == ["order", "open"] and method != "GET":
            return self.feb_2017(account, userid, method, self.symbol_of(parts[1]), parts[4:], body), True
        if method == "GET" and parts == ["account", "position"]:
            return {s: dto for s in self.exchange.instruments if (dto := self.position_dto(account, s))}, False
        if method == "GET" and parts == ["account", "pnl"]:
            return {"pnl": self.account_dto(account, userid)["pnl"]}, False
        if method == "GET" and len(parts) == 4 and parts[0] == "contract" and parts[2] == "order":
            return self.contract_orders(account, self.symbol_of(parts[1]), parts[3], query.get("from")), False
        if method == "GET" and parts == ["account"]:
            return self.account_dto(account, userid), False
        if method == "GET" and parts == ["account", "execution"]:
            return [self.execution_dto(f) for f in reversed(self.exchange.my_fills(account))][:100], False
        if method == "GET" and parts == ["account", "margin"]:
            return {"value": satoshis(account.balance("BTC").total, ROUND_FLOOR)}, False
        raise CoinpitError(404, "Not Found")

    def handshake(self, public_key: str) -> dict[str, str]:
        """``GET /auth/:publicKey``: the server's key for this user and its ``userid``."""
        for userid, (_, public, _) in self.users.items():
            if public == public_key:
                return {"serverPublicKey": public_key_of(server_secret(public)), "userid": userid}
        raise CoinpitError(404, "User not registered")

    def authenticate(self, headers: Mapping[str, str], method: str, uri: str, body: Any) -> tuple[str, Account]:
        """The user's ``userid`` and account, or 401 in the venue's words."""
        header = headers.get("authorization")
        nonce = headers.get("nonce")
        if header is None:
            raise CoinpitError(401, "HMAC authentication needed undefined")
        try:
            auth: AuthHeader = parse_authorization(header)
            user = self.users.get(auth.userid)
            if user is None:
                raise AuthError(f"Authentication failed. Unknown user {auth.userid}")
            if nonce is None:
                raise AuthError("Authentication failed. Invalid Nonce undefined")
            verify_authorization(auth, nonce, method, uri, body, key=user[2], now_ms=self.server_time_ms(),
                                 window_ms=self.options.nonce_window_ms)
        except AuthError as e:
            raise CoinpitError(401, str(e)) from None
        return auth.userid, user[0]

    # -- public -----------------------------------------------------------------------------------
    def public(self, parts: list[str]) -> Any:
        if parts == ["all", "info"]:
            return {s: self.info_dto(s) for s in self.exchange.instruments}
        if parts == ["all", "band"]:
            return {s: self.band_dto(s) for s in self.exchange.instruments}
        if parts == ["all", "spec"]:
            return {"instruments": list(self.exchange.instruments),
                    "parameter": {s: self.spec_dto(s) for s in self.exchange.instruments}}
        if parts == ["all", "config"]:
            return {"instruments": {s: self.spec_dto(s) for s in self.exchange.instruments},
                    "config": {"network": "testnet", "maxLeverage": 100, "maxOrdersCreateUpdate": C.MAX_ORDERS_PER_REQUEST,
                               "maxPositionsMerge": 20, "reservedTicks": 2, "aliases": {C.ALIAS_WEEKLY: self.contract}}}
        raise CoinpitError(404, "Not Found")

    def spec_dto(self, symbol: str) -> dict[str, Any]:
        _, expiry = weekly_symbol(self.server_time_ms())
        inst = self.exchange.instruments[symbol]
        return {"symbol": symbol, "type": "inverse", "template": "BTCUSD", "status": "active",
                "start": expiry - 7 * 86_400_000, "expiry": expiry, "expiryClass": "weekly",
                "contractusdvalue": C.CONTRACT_USD, "ticksize": 1, "ticksperpoint": 10, "commission": inst.taker_fee,
                "reward": inst.maker_fee, "stopcushion": self.options.cushion_points, "stopprice": self.options.stop_points,
                "targetprice": 3, "bandUpperLimit": self.options.band_fraction,
                "bandLowerLimit": self.options.band_fraction, "maxLeverage": 100, "uplDecimalPlaces": 8,
                "disabled": False}

    def index_price(self, symbol: str) -> Decimal | None:
        """The index the testnet serves: the book's mid (the last price without one), on the tick."""
        bid, _, ask, _ = self.exchange.best_bid_ask(symbol)
        if bid is not None and ask is not None:
            return ((bid + ask) / 2 / TICK).to_integral_value(ROUND_FLOOR) * TICK
        return self.exchange.last_price(symbol)

    def band(self, symbol: str) -> tuple[Decimal, Decimal, Decimal] | None:
        """``(index, min, max)``: limit prices outside ``[min, max]`` are refused."""
        index = self.index_price(symbol)
        if index is None:
            return None
        width = index * self.options.band_fraction
        low = ((index - width) / TICK).to_integral_value(ROUND_CEILING) * TICK
        high = ((index + width) / TICK).to_integral_value(ROUND_FLOOR) * TICK
        return index, low, high

    def band_dto(self, symbol: str) -> dict[str, Any]:
        band = self.band(symbol)
        if band is None:
            return {"price": None, "min": None, "max": None, "instrument": symbol}
        return {"price": band[0], "min": band[1], "max": band[2], "instrument": symbol}

    def info_dto(self, symbol: str) -> dict[str, Any]:
        bid, _, ask, _ = self.exchange.best_bid_ask(symbol)
        now = self.server_time_ms()
        volume = sum((t.qty for t in self.exchange.trades(symbol) if t.ts_ms >= now - 86_400_000), ZERO)
        return {"lastPrice": self.exchange.last_price(symbol), "bid": bid, "ask": ask,
                "indexPrice": self.index_price(symbol), "vol24H": {"instrument": symbol, "qty": volume}}

    def book_dto(self, symbol: str) -> dict[str, Any]:
        bids, asks = self.exchange.depth(symbol, self.options.book_depth)
        return {"bid": bids[0][0] if bids else None, "ask": asks[0][0] if asks else None,
                "buy": [{"price": p, "numberOfOrders": 1, "totalQuantity": q, "instrument": symbol} for p, q in bids],
                "sell": [{"price": p, "numberOfOrders": 1, "totalQuantity": q, "instrument": symbol} for p, q in asks]}

    @staticmethod
    def trade_dto(symbol: str, ts_ms: int, price: Decimal, qty: Decimal) -> dict[str, Any]:
        return {"date": ts_ms // 1000, "price": price, "volume": qty, "instrument": symbol}

    # -- orders -----------------------------------------------------------------------------------
    def _order(self, account: Account, uuid: str) -> ExchangeOrder:
        if not _UUID.fullmatch(uuid):
            raise CoinpitError(404, f"Order {uuid[:40]} not found")
        try:
            return self.exchange.order(account, uuid)
        except ExchangeRejected:
            raise CoinpitError(404, f"Order {uuid} not found") from None

    def create(self, account: Account, userid: str, body: Any) -> list[dict[str, Any]]:
        """``POST /order``: every order checked first (nothing booked if one is refused), then booked in order."""
        if not isinstance(body, list) or not body:
            raise CoinpitError(400, "Orders must be a list")
        if len(body) > C.MAX_ORDERS_PER_REQUEST:
            raise CoinpitError(422, f"at most {C.MAX_ORDERS_PER_REQUEST} orders per request")
        checked = [self.check_order(userid, o) for o in body]
        return [self.book(account, wire, fields) for wire, fields in checked]

    def check_order(self, userid: str, wire: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate one new order as the venue does: ``(wire, submit arguments)`` or 422."""
        if not isinstance(wire, dict):
            raise CoinpitError(422, "order must be an object")
        instrument = wire.get("instrument")
        if not isinstance(instrument, str):
            raise CoinpitError(422, "instrument is required")
        symbol = self.symbol_of(instrument)
        side = wire.get("side")
        if side not in ("buy", "sell"):
            raise CoinpitError(422, f"side {str(side)[:20]} is invalid")
        qty = wire.get("quantity")
        if type(qty) is not int or not 0 < qty <= 10**9:
            raise CoinpitError(422, f"quantity {str(qty)[:40]} is invalid. quantity should be a positive integer")
        kind = wire.get("orderType")
        if kind not in (C.WireType.LMT, C.WireType.MKT):
            raise CoinpitError(422, f"orderType {str(kind)[:20]} is not supported")
        price = wire.get("price")
        if kind == C.WireType.MKT:
            if price is not None:
                raise CoinpitError(422, "market order must not carry a price")
        else:
            if isinstance(price, bool) or not isinstance(price, (int, Decimal)) or not 0 < price < 10**9 \
                    or (Decimal(price) / TICK) % 1:
                raise CoinpitError(422, f"price {str(price)[:40]} is invalid. price should be multiple of {TICK}")
            band = self.band(symbol)
            if band is not None and not band[1] <= price <= band[2]:
                raise CoinpitError(422, f"price {price} is outside the band {band[1]} - {band[2]}")
        for name in ("stopPrice", "targetPrice"):
            value = wire.get(name)
            if value is None or (name == "targetPrice" and value == C.NO_TARGET):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or not 0 <= value < 10**6 \
                    or (Decimal(value) / TICK) % 1:
                raise CoinpitError(422, f"{name} {str(value)[:40]} is invalid")
        for name in ("crossMargin", "postOnly"):
            if not isinstance(wire.get(name, False), bool):
                raise CoinpitError(422, f"{name} must be a boolean")
        clientid = wire.get("clientid")
        if not isinstance(clientid, str) or not 0 < len(clientid) <= 64:
            raise CoinpitError(422, "clientid is required")
        if wire.get("userid", userid) != userid:
            raise CoinpitError(422, "userid does not match the authenticated user")
        fields = {"symbol": symbol, "side": Side.BUY if side == "buy" else Side.SELL,
                  "type": OrderType.LIMIT if kind == C.WireType.LMT else OrderType.MARKET, "qty": Decimal(qty),
                  "price": None if price is None else Decimal(price), "post_only": wire.get("postOnly", False) is True,
                  "client_order_id": clientid}
        return wire, fields

    def book(self, account: Account, wire: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Submit one checked order; the created order object."""
        try:
            order = self.exchange.submit_order(account, **fields)
        except ExchangeRejected as e:
            raise CoinpitError(422, _reject_message(e)) from None
        self.wire_orders[order.order_id] = {k: wire[k] for k in ("clientid", "stopPrice", "targetPrice", "crossMargin")
                                            if k in wire}
        return self.order_dto(order)

    def update(self, account: Account, body: Any) -> list[dict[str, Any]]:
        """``PUT /order``: ``[{uuid, price}]`` (or ``{orders: [...]}``): only the price changes."""
        if isinstance(body, dict) and isinstance(body.get("orders"), list):
            body = body["orders"]
        if not isinstance(body, list) or not body or len(body) > C.MAX_ORDERS_PER_REQUEST:
            raise CoinpitError(400, "Orders must be a list")
        changes = []
        for item in body:
            if not isinstance(item, dict) or not isinstance(item.get("uuid"), str):
                raise CoinpitError(422, "uuid is required")
            order = self._order(account, item["uuid"])
            price = item.get("price")
            if isinstance(price, bool) or not isinstance(price, (int, Decimal)) or not 0 < price < 10**9 \
                    or (Decimal(price) / TICK) % 1:
                raise CoinpitError(422, f"price {str(price)[:40]} is invalid. price should be multiple of {TICK}")
            band = self.band(order.symbol)
            if band is not None and not band[1] <= price <= band[2]:
                raise CoinpitError(422, f"price {price} is outside the band {band[1]} - {band[2]}")
            if not order.is_open or order.type is not OrderType.LIMIT:
                raise CoinpitError(422, f"Order {order.order_id} cannot be updated")
            changes.append((order, Decimal(price)))
        out = []
        for order, price in changes:
            try:
                self.exchange.amend_order(account, order.order_id, price=price)
            except ExchangeRejected as e:
                raise CoinpitError(422, _reject_message(e)) from None
            out.append(self.order_dto(order))
        return out

    def remove(self, account: Account, uuids: Sequence[Any]) -> list[str]:
        """Cancel open orders; the uuids cancelled (404 if one is not open)."""
        if not uuids or len(uuids) > C.MAX_ORDERS_PER_REQUEST or not all(isinstance(u, str) for u in uuids):
            raise CoinpitError(400, "Invalid order ids")
        orders = [self._order(account, u) for u in uuids]
        for order in orders:
            if not order.is_open:
                raise CoinpitError(404, f"Order {order.order_id} is not open")
        for order in orders:
            self.exchange.cancel_order(account, order.order_id)
        return [o.order_id for o in orders]

    def patch(self, account: Account, userid: str, body: Any) -> list[dict[str, Any]]:
        """``PATCH /order``: ``add``, ``remove``, ``replace`` in order, each answered by itself."""
        if not isinstance(body, list) or not body or len(body) > 2 * C.MAX_ORDERS_PER_REQUEST:
            raise CoinpitError(400, "Operations must be a list")
        results: list[dict[str, Any]] = []
        for op in body:
            name = op.get("op") if isinstance(op, dict) else None
            value = op.get("value") if isinstance(op, dict) else None
            try:
                if name == "add":
                    response: Any = self.create(account, userid, value)
                elif name == "remove" and isinstance(value, list):
                    response = self.remove(account, value)
                elif name == "replace":
                    response = self.update(account, value)
                else:
                    raise CoinpitError(400, f"Invalid operation {str(name)[:20]}")
                results.append({"op": name, "statusCode": 200, "response": response})
            except CoinpitError as e:
                results.append({"op": name, "statusCode": e.status, "error": e.message})
        return results

    def feb_2017(self, account: Account, userid: str, method: str, symbol: str, rest: list[str],
                 body: Any) -> Any:
        """The Feb-2017 aliases under ``/contract/:symbol/order/open``: POST (create), PUT (update),
        PATCH, ``DELETE …/open/:uuid`` (one) and ``DELETE …/open`` (every open order of the contract)."""
        if method == "DELETE":
            if len(rest) > 1:
                raise CoinpitError(404, "Not Found")
            if rest:
                return self.remove(account, rest[0].split(","))
            open_ids = [o.order_id for o in self.exchange.open_orders(account, symbol)]
            return self.remove(account, open_ids) if open_ids else []
        if rest:
            raise CoinpitError(404, "Not Found")
        if method == "POST":
            return self.create(account, userid, body)
        if method == "PUT":
            return self.update(account, body)
        if method == "PATCH":
            return self.patch(account, userid, body)
        raise CoinpitError(405, "Method Not Allowed")

    def contract_orders(self, account: Account, symbol: str, which: str, after: str | None) -> list[dict[str, Any]]:
        """``/contract/:symbol/order/open|closed|cancelled|:uuid``; closed and cancelled newest first,
        100 a page, ``from=<uuid>`` the last of the previous page."""
        if which == "open":
            return [self.order_dto(o) for o in self.exchange.open_orders(account, symbol)]
        if which not in ("closed", "cancelled"):
            order = self._order(account, which)
            if order.symbol != symbol:
                raise CoinpitError(404, f"Order {which} not found")
            return [self.order_dto(order)]
        done = [o for o in reversed(self.exchange.ledger().orders) if o.account == account.name and o.symbol == symbol
                and not o.is_open and (o.filled_qty > 0) == (which == "closed")]
        if after:
            ids = [o.order_id for o in done]
            if after not in ids:
                raise CoinpitError(400, f"from {after[:40]} is not an order of this list")
            done = done[ids.index(after) + 1:]
        return [self.order_dto(o) for o in done[:C.PAGE_SIZE]]

    # -- objects as the venue writes them ----------------------------------------------------------
    def order_dto(self, order: ExchangeOrder) -> dict[str, Any]:
        wire = self.wire_orders.get(order.order_id, {})
        ended = not order.is_open
        cancelled = order.leaves_qty if ended and order.status is not OrderStatus.FILLED else ZERO
        status = (C.Status.OPEN if not ended else C.Status.CLOSED if order.filled_qty > 0 else C.Status.CANCELLED)
        price = order.price if order.price is not None else "NONE"
        reference = order.price or self.index_price(order.symbol)
        dto: dict[str, Any] = {
            "uuid": order.order_id, "userid": self.exchange.accounts[order.account].api_key,
            "instrument": order.symbol, "side": "buy" if order.side is Side.BUY else "sell",
            "quantity": int(order.qty), "filled": int(order.filled_qty), "cancelled": int(cancelled), "price": price,
            "averagePrice": order.avg_price or ZERO, "orderType": C.WireType.LMT if order.type is OrderType.LIMIT
            else C.WireType.MKT, "status": status, "entryTime": order.created_ms * 1000,
            "eventTime": order.updated_ms * 1000, "stopPrice": wire.get("stopPrice", self.options.stop_points),
            "targetPrice": wire.get("targetPrice", C.NO_TARGET), "crossMargin": wire.get("crossMargin", False),
            "clientid": order.client_order_id, "entryOrder": {}, "postOnly": order.post_only,
            "commission": self.exchange.instruments[order.symbol].taker_fee, "reward": ZERO,
            "cushion": self.options.cushion_points, "reservedTicks": 2,
        }
        if reference:
            stop = self.options.stop_points + self.options.cushion_points
            worse = reference - stop if order.side is Side.BUY else reference + stop
            dto["normalizedPrice"] = normalized_price(reference)
            dto["marginPerQty"] = abs(normalized_price(reference) - normalized_price(worse)) if worse > 0 else 0
        if order.status is OrderStatus.CANCELED and order.reason:
            dto["reason"] = order.reason
        return dto

    def execution_dto(self, fill: OrderFill) -> dict[str, Any]:
        account = self.exchange.accounts[fill.account]
        try:
            order: ExchangeOrder | None = self.exchange.order(account, fill.order_id)
        except ExchangeRejected:
            order = None
        entry = normalized_price(fill.price) * int(fill.qty) * (-1 if fill.side is Side.BUY else 1)
        return {"userid": account.api_key, "executionid": str(fill.trade_id), "orderid": fill.order_id,
                "side": "buy" if fill.side is Side.BUY else "sell",
                "orderType": C.WireType.MKT if order is not None and order.type is OrderType.MARKET else C.WireType.LMT,
                "price": fill.price, "quantity": int(fill.qty),
                "liquidity": "reward" if fill.liquidity.value == "maker" else "commission",
                "commission": satoshis(fill.fee), "eventTime": fill.ts_ms * 1000, "instrument": fill.symbol,
                "entryAmount": entry, "pnl": satoshis(fill.realized_pnl)}

    def position_dto(self, account: Account, symbol: str) -> dict[str, Any] | None:
        positions = self.exchange.positions(account, symbol)
        if not positions:
            return None
        p = positions[0]
        return {"userid": account.api_key, "instrument": symbol, "averagePrice": p.open_price, "quantity": int(p.qty),
                "entryAmount": -satoshis(p.qty * C.CONTRACT_USD / p.open_price), "commission": satoshis(p.fees)}

    def account_dto(self, account: Account, userid: str) -> dict[str, Any]:
        orders: dict[str, dict[str, Any]] = {}
        for order in self.exchange.open_orders(account):
            orders.setdefault(order.symbol, {})[order.order_id] = self.order_dto(order)
        positions = {s: dto for s in self.exchange.instruments if (dto := self.position_dto(account, s)) is not None}
        pnl = sum((f.realized_pnl for f in self.exchange.my_fills(account)), ZERO)
        commission = sum((f.fee for f in self.exchange.my_fills(account)), ZERO)
        balance = account.balance("BTC")
        _, public, _ = self.users[userid]
        return {"userid": userid, "publicKey": public, "orders": orders, "positions": positions,
                "pnl": {"userid": userid, "pnl": satoshis(pnl), "commission": satoshis(commission)},
                "margin": satoshis(balance.free, ROUND_FLOOR), "displayMargin": satoshis(balance.free, ROUND_FLOOR),
                "accountMargin": satoshis(balance.total, ROUND_FLOOR)}

    # -- the socket -------------------------------------------------------------------------------
    async def handle_websocket(self, ws: WebSocketConnection) -> None:
        if self.socket.serves(ws.path):
            await self.socket.handle_websocket(ws)
            return
        await ws.close(1008, "Not Found")

    def _registered(self, account_name: str) -> list[SioConnection]:
        return [c for c in self.socket.connections if c.data.get("account") == account_name]

    def _push_private(self, account_name: str, event: str, payload: Any) -> None:
        for conn in self._registered(account_name):
            conn.emit(event, payload)

    def _on_exchange_event(self, event: object) -> None:
        """Exchange listener (synchronous): record what changed and wake the sockets."""
        if isinstance(event, BookChanged):
            for conn in self.socket.connections:
                conn.data.setdefault("books", set()).add(event.symbol)
                conn.wake()
        elif isinstance(event, TradeExecuted):
            t = event.trade
            dto = self.trade_dto(t.symbol, t.ts_ms, t.price, t.qty)
            for conn in self.socket.connections:
                conn.emit("trade", dto)
        elif isinstance(event, OrderChanged):
            self._order_changed(event.order)

    def _order_changed(self, order: ExchangeOrder) -> None:
        account = self.exchange.accounts.get(order.account)
        if account is None or account.house:
            return
        seen = self.fills_seen.get(order.order_id, 0)
        for fill in order.fills[seen:]:
            self._push_private(account.name, "order_execution", self.execution_dto(fill))
        self.fills_seen[order.order_id] = len(order.fills)
        if order.is_open or order.status is OrderStatus.FILLED or order.filled_qty > 0:
            self._push_private(account.name, "order_update", {"result": [self.order_dto(order)]})
        else:
            self._push_private(account.name, "order_del", {"result": [order.order_id]})
        for conn in self._registered(account.name):
            conn.data["account_dirty"] = True
            conn.wake()

    def _flush(self, conn: SioConnection) -> None:
        """Before a socket sends: the books that changed, the band, the account, the time."""
        books: set[str] = conn.data.pop("books", set())
        for symbol in sorted(books):
            conn.emit("orderbook", {symbol: self.book_dto(symbol)})
            conn.emit("priceband", {symbol: self.band_dto(symbol)})
        account_name = conn.data.get("account")
        userid = conn.data.get("userid")
        if conn.data.pop("account_dirty", False) and account_name in self.exchange.accounts and userid:
            conn.emit("account", {"account": self.account_dto(self.exchange.accounts[account_name], userid)})
        last = conn.data.get("server_time_at", 0.0)
        clock = self.elapsed_s()
        if clock - last >= self.options.server_time_every_s or not last:
            conn.data["server_time_at"] = clock or 1e-9
            conn.emit("server_time", self.server_time_ms())


_RESPONSE_EVENTS = {"POST": "order_add", "PUT": "order_update", "DELETE": "order_del", "PATCH": "order_patch"}


class _Sockets:
    """The socket.io side: requests as events, registration, errors."""

    def __init__(self, testnet: CoinpitTestnet) -> None:
        self.testnet = testnet

    def on_connect(self, conn: SioConnection) -> None:
        conn.emit("server_time", self.testnet.server_time_ms())
        conn.emit("alias", {C.ALIAS_WEEKLY: self.testnet.contract})
        if self.testnet.readonly:
            conn.emit("readonly", {"readonly": True})

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
            conn.emit("order_error", {"error": {"message": "Unknown request"}, "requestid": requestid})
            return None
        signed = {"body": body, "params": params}
        path, _, raw_query = uri.partition("?")
        testnet = self.testnet
        try:
            if path in ("/register", "/unregister"):
                userid, account = testnet.authenticate(headers, method, uri, signed)
                if path == "/register":
                    conn.data.update(account=account.name, userid=userid, account_dirty=True)
                    conn.wake()
                else:
                    conn.data.pop("account", None)
                return None
            answer, command = testnet.api(method, path, uri, headers, body, raw_query, signed=signed)
        except CoinpitError as e:
            if e.status == 401:
                conn.emit("auth_error", {"error": e.message, "data": data, "server_time": testnet.server_time_ms()})
            else:
                conn.emit("order_error", {"error": {"message": e.message}, "requestid": requestid})
            return None
        if command:
            fault = testnet.faults.after_order()
            if fault is not None:  # the command was carried out; its answer is lost
                return None
        conn.emit(_RESPONSE_EVENTS.get(method, "response"), {"result": answer, "requestid": requestid})
        return None


def _loads(data: str | bytes) -> Any:
    """JSON with exact decimals (non-integers as Decimal), duplicate keys refused."""
    return loads_json(data, reject_duplicate_keys=True, parse_float=Decimal)


def _reject_message(e: ExchangeRejected) -> str:
    messages = {RejectReason.INSUFFICIENT_BALANCE: "Insufficient margin",
                RejectReason.INVALID_QUANTITY: "quantity is invalid",
                RejectReason.INVALID_PRICE: "price is invalid",
                RejectReason.POST_ONLY_WOULD_TAKE: "Post-only order would take liquidity",
                RejectReason.NO_LIQUIDITY: "No liquidity for a market order"}
    text = messages.get(e.reason, "Order rejected")
    return f"{text}: {e.detail}" if e.detail else text


# =============================================================================================
# opening, serving, the command line
# =============================================================================================


def _coinpit_account(account: CoinpitAccountConfig | AccountConfig) -> CoinpitAccountConfig:
    if isinstance(account, CoinpitAccountConfig):
        return account
    # an account of the kit's shape (the demo's): its secret is the user's private key (WIF or hex)
    return CoinpitAccountConfig(account.name, identity_of(account.secret).public_key, dict(account.balances))


def _configs(accounts: str | Path | Sequence[CoinpitAccountConfig | AccountConfig]) -> list[CoinpitAccountConfig]:
    if isinstance(accounts, (str, Path)):
        return load_coinpit_accounts(accounts)
    return [_coinpit_account(a) for a in accounts]


def open_coinpit_testnet(accounts: str | Path | Sequence[CoinpitAccountConfig | AccountConfig], *,
                         options: CoinpitTestnetOptions | None = None,
                         **kwargs: Unpack[OpenArgs]) -> AbstractAsyncContextManager[CoinpitTestnet]:
    """``async with open_coinpit_testnet(accounts, seed=..., faults=...) as testnet``: served on
    127.0.0.1 for the block (``accounts``: a TOML file or :class:`CoinpitAccountConfig`)."""
    configs = _configs(accounts)
    options = attrs.evolve(options or CoinpitTestnetOptions(),
                           public_keys={**{a.name: a.public_key for a in configs},
                                        **(options.public_keys if options else {})})

    def make(exchange: Exchange, *, faults: FaultSettings | None) -> CoinpitTestnet:
        return CoinpitTestnet(exchange, faults=faults, options=options)

    return open_venue(make, default_instruments(), [a.exchange_config() for a in configs], **kwargs)


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """``triotrade testnet coinpit`` options: the kit's (port, accounts, market, state, faults)."""
    add_common_arguments(parser)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; the exit status (2 for a bad accounts file)."""
    try:
        configs = load_coinpit_accounts(args.accounts)
    except (ConfigError, ValueError) as e:
        print(f"config error: {e}", flush=True)
        return 2
    options = CoinpitTestnetOptions(public_keys={a.name: a.public_key for a in configs})

    def make(exchange: Exchange, *, faults: FaultSettings | None) -> CoinpitTestnet:
        return CoinpitTestnet(exchange, faults=faults, options=options)

    return run_command(args, make, default_instruments(), load=lambda path: [a.exchange_config() for a in configs])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m venues.coinpit.testnet --accounts FILE [--port N]``."""
    return testnet_main(C.VENUE, add_testnet_arguments, run_testnet, argv)


if __name__ == "__main__":
    raise SystemExit(main())
