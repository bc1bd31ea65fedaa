"""The Ekiden dialect of the local testnet: the conventions-document protocol on 127.0.0.1.

Backed by :class:`backtest.exchange.Exchange` (accounts, books, positions) and driven by
:class:`venues._testnet.market.SyntheticMarket` (or a recorded data set). Paths, field names,
signatures, error bodies and codes are those of ``venues/ekiden/README.md``; the constants,
signer and wire helpers are the same modules the client uses, so client and server cannot drift.

REST (``/v1``; ``*`` = private: signed, metered per API key)::

    GET    /v1/time                         server time
    GET    /v1/markets                      markets
    GET    /v1/orderbook?market=&depth=     book snapshot
    GET    /v1/trades?market=&limit=&cursor=            public trades, newest first
  * GET    /v1/orders?market=&status=&client_order_id=&limit=&cursor=
  * POST   /v1/orders                       create
  * GET    /v1/orders/{order_id}            one order
  * DELETE /v1/orders/{order_id}            cancel
  * PATCH  /v1/orders/{order_id}            amend price and/or size
  * GET    /v1/fills?market=&order_id=&limit=&cursor=   our fills, newest first
  * GET    /v1/positions
  * GET    /v1/balances

WebSocket ``/v1/stream``: ``orderbook`` (snapshot, then level updates with a per-subscription
contiguous ``sequence``) and ``trades`` by market, the private ``orders`` channel, ``ping`` /
``pong``; a socket that sends nothing for ``ws_idle_timeout_s`` is closed.

Limits: public requests per client address and private requests per API key, each counted in
fixed windows (60 and 30 per minute by default); over a limit the answer is HTTP 429, error 2003,
with ``Retry-After`` in seconds. Signed requests outside ``timestamp_window_ms`` of the server's
clock get 401, error 2002.

Hostile input: a body over 1 MiB is HTTP 413, error 2000; duplicate query parameters or JSON keys,
deep nesting and numbers that are not plain bounded ASCII decimals are 2000; the signature is
checked over the path, query and body exactly as received.
"""

from __future__ import annotations

import argparse
import base64
import math
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import attrs

from backtest.exchange import (
    Account, BookChanged, Exchange, ExchangeOrder, ExchangeRejected, OrderChanged, OrderFill, Position,
    PublicTrade, RejectReason, TradeExecuted
)
from engine import WireFormatError, loads_json, wire_decimal
from engine import Side
from engine import Instrument, InstrumentKind
from engine import OrderStatus, OrderType, TimeInForce
from venues._testnet.faults import AnswerFault, FaultSettings
from venues._testnet.kit import Opener, TestnetBase, add_common_arguments, run_command, serve_dialect, testnet_main, venue_opener
from venues._testnet.server import HttpRequest, HttpResponse, RateRule, WebSocketClosed, WebSocketConnection, WindowLimiter, make_asgi_app
from venues._testnet.session import WsSessionBase

from . import constants as C
from .schemas import decimal_str, iso_from_ms, ns_from_iso
from .signer import request_target, verify, verify_ws_auth

__all__ = [
    "EkidenTestnetOptions",
    "EkidenTestnet",
    "EkidenError",
    "default_instruments",
    "open_ekiden_testnet",
    "serve_ekiden_testnet",
    "add_testnet_arguments",
    "run_testnet",
    "main",
]

ZERO = Decimal(0)
MAX_LEVERAGE = 20
DEFAULT_LEVERAGE = 10
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_INTEGER = re.compile(r"[0-9]{1,9}")


# =============================================================================================
# markets and options
# =============================================================================================


def _perpetual(symbol: str, base: str, tick: str, lot: str, max_size: str) -> Instrument:
    return Instrument(
        venue=C.VENUE, symbol=symbol, base=base, quote="USD", tick_size=tick, lot_size=lot,
        kind=InstrumentKind.LINEAR, settle="USD", min_qty=lot, max_qty=max_size, min_notional="10",
        max_leverage=MAX_LEVERAGE, maker_fee="0.0002", taker_fee="0.0005",
    )


def default_instruments() -> list[Instrument]:
    """``ETH-USD`` and ``BTC-USD``: linear perpetuals settled in USD, leverage 1-20 (default 10)."""
    return [
        _perpetual("ETH-USD", "ETH", "0.01", "0.001", "1000"),
        _perpetual("BTC-USD", "BTC", "0.1", "0.0001", "100"),
    ]


@attrs.frozen
class EkidenTestnetOptions:
    """Knobs of the Ekiden testnet (defaults = the venue's published numbers)."""

    public_requests_per_window: int = C.PUBLIC_REQUESTS_PER_MIN
    "Public requests per client address per window."
    private_requests_per_window: int = C.PRIVATE_REQUESTS_PER_MIN
    "Private requests per API key per window."
    rate_window_s: float = C.RATE_WINDOW_S
    timestamp_window_ms: int = C.TIMESTAMP_WINDOW_MS
    ws_idle_timeout_s: float = C.WS_IDLE_TIMEOUT_S
    default_leverage: int = DEFAULT_LEVERAGE
    stream_book_depth: int = 50
    "Levels per side of an ``orderbook`` subscription that does not ask for a depth."


class EkidenError(Exception):
    """An error answer: HTTP status, venue code and message."""

    def __init__(self, code: C.ErrorCode, detail: str = "", *, status: int | None = None,
                 headers: Sequence[tuple[str, str]] = ()) -> None:
        self.code = int(code)
        base = C.ERROR_MESSAGES[code]
        self.message = f"{base}: {detail}" if detail else base
        self.status = status if status is not None else C.HTTP_STATUS[code]
        self.headers = tuple(headers)
        super().__init__(f"{self.status} {self.code} {self.message}")

    def body(self) -> dict[str, Any]:
        return {"error_code": self.code, "error_message": self.message}


def _invalid(detail: str) -> EkidenError:
    return EkidenError(C.ErrorCode.INVALID_REQUEST, detail)


# =============================================================================================
# wire values
# =============================================================================================

_MAX_QUANT = Decimal(1).scaleb(-C.MAX_DECIMALS)


def _num(value: Decimal) -> str:
    """A decimal on the wire: plain string, at most 18 decimal places (half-even beyond)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > C.MAX_DECIMALS:
        value = value.quantize(_MAX_QUANT, rounding=ROUND_HALF_EVEN).normalize()
    return decimal_str(value)


def _opt_num(value: Decimal | None) -> str | None:
    return None if value is None else _num(value)


def _price(inst: Instrument, value: Decimal) -> str:
    """A price with the market's ``price_decimals`` (``1500`` → ``"1500.00"``)."""
    return format(value.quantize(Decimal(1).scaleb(-inst.price_precision)), "f")


def _opt_price(inst: Instrument, value: Decimal | None) -> str | None:
    return None if value is None else _price(inst, value)


def _size(inst: Instrument, value: Decimal) -> str:
    """A size with the market's ``size_decimals`` (``0.5`` → ``"0.500"``)."""
    return format(value.quantize(Decimal(1).scaleb(-inst.qty_precision)), "f")


def _decimal_field(body: Mapping[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _invalid(f"missing field {name!r}")
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string (every numeric value is a string)")
    return _parse_decimal(value, name)


def _parse_decimal(value: str, name: str) -> Decimal:
    """A decimal string as the venue reads one: ASCII digits, optional sign, one point, bounded."""
    try:
        d = wire_decimal(value)
    except WireFormatError as e:
        raise _invalid(f"{name}: {e}") from None
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > C.MAX_DECIMALS:
        raise _invalid(f"{name} has more than {C.MAX_DECIMALS} decimal places")
    return d


def _bool_field(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(f"{name} must be true or false")
    return value


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"before:{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, number = text.partition(":")
        if tag != "before" or not _INTEGER.fullmatch(number):
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("invalid cursor") from None


def _page(entries: Sequence[tuple[int, dict[str, Any]]], limit: int, cursor: str | None) -> dict[str, Any]:
    """A newest-first page of ``(position, item)`` entries sorted by ascending position."""
    before = _decode_cursor(cursor) if cursor else None
    eligible = [e for e in entries if before is None or e[0] < before]
    chosen = eligible[-limit:] if limit else []
    chosen.reverse()
    next_cursor = _encode_cursor(chosen[-1][0]) if chosen and len(eligible) > len(chosen) else None
    return {"success": True, "data": [item for _, item in chosen], "next_cursor": next_cursor}


_STATUS = {
    OrderStatus.ACCEPTED: C.OrderStatus.OPEN,
    OrderStatus.PARTIALLY_FILLED: C.OrderStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED: C.OrderStatus.FILLED,
    OrderStatus.CANCELED: C.OrderStatus.CANCELED,
    OrderStatus.EXPIRED: C.OrderStatus.EXPIRED,
    OrderStatus.REJECTED: C.OrderStatus.REJECTED,
}
_TYPES = {
    C.OrderType.LIMIT.value: OrderType.LIMIT,
    C.OrderType.MARKET.value: OrderType.MARKET,
    C.OrderType.STOP_MARKET.value: OrderType.STOP_MARKET,
    C.OrderType.STOP_LIMIT.value: OrderType.STOP_LIMIT,
}
_NEW_ORDER_FIELDS = frozenset({"market", "side", "type", "size", "price", "trigger_price", "time_in_force",
                               "post_only", "reduce_only", "client_order_id", "leverage"})
_AMEND_FIELDS = frozenset({"price", "size", "trigger_price"})


def _route(method: str, path: str) -> tuple[str, str | None]:
    """``(resource, order id)`` of a request; raises 2004 / 405."""
    order_id: str | None = None
    if path.startswith(C.Path.ORDERS.value + "/"):
        order_id = path[len(C.Path.ORDERS.value) + 1:]
        if not order_id or "/" in order_id:
            raise EkidenError(C.ErrorCode.NOT_FOUND, f"no resource {path}")
        resource = "order"
    else:
        resource = {
            C.Path.TIME.value: "time", C.Path.MARKETS.value: "markets", C.Path.ORDERBOOK.value: "orderbook",
            C.Path.TRADES.value: "trades", C.Path.ORDERS.value: "orders", C.Path.FILLS.value: "fills",
            C.Path.POSITIONS.value: "positions", C.Path.BALANCES.value: "balances",
        }.get(path.rstrip("/") if path != "/" else path, "")
        if not resource:
            raise EkidenError(C.ErrorCode.NOT_FOUND, f"no resource {path}")
    allowed = {"order": ("GET", "DELETE", "PATCH"), "orders": ("GET", "POST")}.get(resource, ("GET",))
    if method not in allowed:
        raise EkidenError(C.ErrorCode.INVALID_REQUEST, f"method {method} not allowed on {path}", status=405,
                          headers=(("Allow", ", ".join(allowed)),))
    return resource, order_id


_PUBLIC = frozenset({"time", "markets", "orderbook", "trades"})
_AUTH_HEADERS = frozenset(h.lower() for h in (C.API_KEY_HEADER, C.TIMESTAMP_HEADER, C.SIGNATURE_HEADER))
MAX_QUERY_PARAMETERS = 100
"Parameters a query string may carry; more is error 2000 (refused before parsing them)."


def _parse_query(raw: str) -> dict[str, str]:
    """The query string as a dict; a name given twice, bad escapes or too many names are 2000."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=MAX_QUERY_PARAMETERS)
    except UnicodeDecodeError:
        raise _invalid("the query string is not percent-encoded UTF-8") from None
    except ValueError:
        raise _invalid(f"more than {MAX_QUERY_PARAMETERS} query parameters") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise _invalid(f"duplicate query parameter {key!r}")
        query[key] = value
    return query


def _body_too_large(limit: int) -> HttpResponse:
    error = EkidenError(C.ErrorCode.INVALID_REQUEST, f"request body larger than {limit} bytes", status=413)
    return HttpResponse.json(error.status, error.body())


# =============================================================================================
# the testnet
# =============================================================================================


class EkidenTestnet(TestnetBase[EkidenTestnetOptions]):
    """The Ekiden dialect (REST ``/v1``, header signatures, ``{success, error}`` bodies, the
    ``/v1/stream`` socket); ``url``/``ws_url`` are set once :func:`open_ekiden_testnet` serves it.
    """

    options_type = EkidenTestnetOptions

    def setup(self) -> None:
        """Public and private request windows, counters, book versions and the app."""
        o = self.options
        window_ms = int(o.rate_window_s * 1000)
        self._public_limits = WindowLimiter([RateRule("public", window_ms, o.public_requests_per_window)])
        self._private_limits = WindowLimiter([RateRule("private", window_ms, o.private_requests_per_window)])
        self._orders_by_account: dict[str, list[str]] = {}
        self._book_versions: dict[str, int] = {s: 0 for s in self.exchange.instruments}
        self.requests = 0
        "HTTP requests answered."
        self.rejected_429 = 0
        "HTTP 429 answers sent (real limits and injected)."
        self.auth_failures = 0
        "Requests and subscriptions refused with 2001 or 2002."
        self.sessions: list[_WsSession] = []
        "Open WebSocket sessions."
        self.exchange.add_listener(self._on_exchange_event)
        self.app = make_asgi_app(self.handle_http, self.handle_websocket, too_large=_body_too_large)

    ws_path = C.STREAM_PATH

    def restored(self) -> None:
        """Order listings cover the orders of a restored ledger, oldest first."""
        self._orders_by_account = {}
        for order in self.exchange.ledger().orders:
            self._orders_by_account.setdefault(order.account, []).append(order.order_id)

    def banner(self) -> list[str]:
        """URLs, accounts and markets (printed by ``triotrade testnet ekiden``)."""
        return [f"ekiden testnet REST      {self.url}/v1/", f"ekiden testnet WebSocket {self.ws_url}",
                f"accounts: {', '.join(self.accounts)}", f"markets: {', '.join(self.exchange.instruments)}"]

    # -- time -------------------------------------------------------------------------------------
    @staticmethod
    def _iso(exchange_ms: int) -> str:
        # the exchange clock carries the clock offset fault (see TestnetBase.init_kit)
        return iso_from_ms(exchange_ms)

    def _on_exchange_event(self, event: object) -> None:
        if isinstance(event, BookChanged):
            self._book_versions[event.symbol] = self._book_versions.get(event.symbol, 0) + 1

    # -- HTTP -------------------------------------------------------------------------------------
    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one REST request (ASGI entry point)."""
        await self.inject_latency()
        self.requests += 1
        try:
            body, fault = self._handle_http(request)
        except EkidenError as e:
            if e.status == 429:
                self.rejected_429 += 1
            elif e.code in (C.ErrorCode.AUTHENTICATION_FAILED, C.ErrorCode.SIGNATURE_EXPIRED):
                self.auth_failures += 1
            return HttpResponse.json(e.status, e.body(), e.headers)
        return self.order_answer(HttpResponse.json(200, body), fault)

    def _handle_http(self, request: HttpRequest) -> tuple[Any, AnswerFault | None]:
        if not (request.raw_path.isascii() and request.raw_query.isascii()):
            raise _invalid("the path and query must be percent-encoded ASCII")
        resource, order_id = _route(request.method, request.path)
        private = resource not in _PUBLIC
        api_key = request.headers.get(C.API_KEY_HEADER.lower(), "")
        self._check_limits(private, api_key if private and api_key else request.client_host)
        account = self._authenticate(request) if private else None
        query = _parse_query(request.raw_query)
        body: dict[str, Any] = {}
        if request.method in ("POST", "PATCH"):
            body = self._json_body(request.body)
        elif request.body:
            raise _invalid(f"a {request.method} request takes no body")
        try:
            if account is None:
                return self._public(resource, query), None
            result, command = self._private(resource, request.method, order_id, query, body, account)
        except ExchangeRejected as e:
            raise self._map_reject(e) from None
        fault = self.faults.after_order() if command else None
        if fault is AnswerFault.ERROR_5XX:
            raise EkidenError(C.ErrorCode.INVALID_REQUEST, "internal server error", status=500)
        return result, fault

    @staticmethod
    def _json_body(raw: bytes) -> dict[str, Any]:
        try:
            # numbers stay numbers (Decimal / int) so that a numeric value sent unquoted is refused
            body = loads_json(raw, reject_duplicate_keys=True, parse_float=Decimal) if raw else None
        except WireFormatError as e:
            raise _invalid(f"the body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise _invalid("the body must be a JSON object")
        return body

    # -- limits, authentication ---------------------------------------------------------------------
    def _check_limits(self, private: bool, key: str) -> None:
        now = self.limits_clock_ms()
        if self.faults.force_429(self.elapsed_s()):
            raise EkidenError(C.ErrorCode.RATE_LIMIT_EXCEEDED, status=429, headers=(("Retry-After", "1"),))
        limits = self._private_limits if private else self._public_limits
        hit = limits.try_add(key, 1, now)
        if hit is not None:
            retry = max(1, math.ceil(hit.retry_after_ms / 1000))
            raise EkidenError(C.ErrorCode.RATE_LIMIT_EXCEEDED, status=429, headers=(("Retry-After", str(retry)),))

    def _account_for_key(self, api_key: str) -> Account:
        if not api_key:
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, f"missing {C.API_KEY_HEADER}")
        account = self.exchange.account_by_api_key(api_key)
        if account is None or account.house:
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, "invalid API key")
        return account

    def _check_timestamp(self, timestamp: str) -> None:
        try:
            ts_ms = ns_from_iso(timestamp) // 1_000_000
        except ValueError:
            raise _invalid(f"{C.TIMESTAMP_HEADER} is not an ISO-8601 UTC timestamp") from None
        if abs(self.server_time_ms() - ts_ms) > self.options.timestamp_window_ms:
            raise EkidenError(C.ErrorCode.SIGNATURE_EXPIRED,
                              f"timestamp outside the {self.options.timestamp_window_ms} ms window")

    def _authenticate(self, request: HttpRequest) -> Account:
        headers = request.headers
        repeated = sorted(request.repeated_headers & _AUTH_HEADERS)
        if repeated:
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, f"header {repeated[0]} sent more than once")
        account = self._account_for_key(headers.get(C.API_KEY_HEADER.lower(), ""))
        timestamp = headers.get(C.TIMESTAMP_HEADER.lower(), "")
        signature = headers.get(C.SIGNATURE_HEADER.lower(), "")
        if not timestamp or not signature:
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED,
                              f"missing {C.TIMESTAMP_HEADER if not timestamp else C.SIGNATURE_HEADER}")
        # the path as received (still percent-encoded), not its decoded form
        target = request_target(request.raw_path or request.path, request.raw_query)
        if not verify(account.secret, timestamp, request.method, target, request.body, signature):
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, "invalid signature")
        self._check_timestamp(timestamp)
        return account

    @staticmethod
    def _map_reject(e: ExchangeRejected) -> EkidenError:
        if e.reason in (RejectReason.UNKNOWN_ORDER, RejectReason.UNKNOWN_SYMBOL, RejectReason.UNKNOWN_POSITION):
            return EkidenError(C.ErrorCode.NOT_FOUND, str(e))
        return _invalid(str(e))

    # -- shared request parts -----------------------------------------------------------------------
    def _market(self, name: str | None) -> Instrument:
        if not name:
            raise _invalid("missing parameter 'market'")
        inst = self.exchange.instruments.get(name)
        if inst is None:
            raise EkidenError(C.ErrorCode.NOT_FOUND, f"unknown market {name!r}")
        return inst

    @staticmethod
    def _int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
        value = query.get(name)
        if value is None or value == "":
            return default
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise _invalid(f"{name} must be an integer within {low}..{high}")
        return int(value)

    def _limit(self, query: Mapping[str, str]) -> int:
        return self._int_param(query, "limit", C.DEFAULT_PAGE_LIMIT, 1, C.MAX_PAGE_LIMIT)

    # =========================================================================================
    # public resources
    # =========================================================================================

    def _public(self, resource: str, query: Mapping[str, str]) -> Any:
        if resource == "time":
            return {"success": True, "data": {"server_time": iso_from_ms(self.server_time_ms())}}
        if resource == "markets":
            return {"success": True, "data": [self.market_dto(i) for i in self.exchange.instruments.values()]}
        inst = self._market(query.get("market"))
        if resource == "orderbook":
            depth = self._int_param(query, "depth", 50, 1, C.MAX_BOOK_DEPTH)
            return {"success": True, "data": self.book_dto(inst.symbol, depth, self._book_versions[inst.symbol])}
        trades = self.exchange.trades(inst.symbol)
        return _page([(t.trade_id, self.trade_dto(t)) for t in trades], self._limit(query), query.get("cursor"))

    def market_dto(self, inst: Instrument) -> dict[str, Any]:
        perpetual = inst.kind is not InstrumentKind.SPOT
        return {
            "market": inst.symbol,
            "type": C.MarketType.PERPETUAL.value if perpetual else C.MarketType.SPOT.value,
            "base_asset": inst.base,
            "quote_asset": inst.quote,
            "settle_asset": inst.settle,
            "status": C.MarketStatus.ACTIVE.value,
            "tick_size": _num(inst.tick_size),
            "lot_size": _num(inst.lot_size),
            "min_size": _num(inst.min_qty or inst.lot_size),
            "max_size": _opt_num(inst.max_qty),
            "min_notional": _num(inst.min_notional),
            "price_decimals": str(inst.price_precision),
            "size_decimals": str(inst.qty_precision),
            "maker_fee": _num(inst.maker_fee),
            "taker_fee": _num(inst.taker_fee),
            "max_leverage": _opt_num(inst.max_leverage) if perpetual else None,
        }

    def levels(self, symbol: str, depth: int) -> tuple[list[list[str]], list[list[str]]]:
        """Top ``depth`` levels per side as wire strings, best first."""
        inst = self.exchange.instruments[symbol]
        bids, asks = self.exchange.depth(symbol, depth)
        return ([[_price(inst, p), _size(inst, q)] for p, q in bids],
                [[_price(inst, p), _size(inst, q)] for p, q in asks])

    def book_dto(self, symbol: str, depth: int, sequence: int) -> dict[str, Any]:
        bids, asks = self.levels(symbol, depth)
        return {"market": symbol, "sequence": str(sequence), "timestamp": iso_from_ms(self.server_time_ms()),
                "bids": bids, "asks": asks}

    def trade_dto(self, trade: PublicTrade) -> dict[str, Any]:
        inst = self.exchange.instruments[trade.symbol]
        return {"trade_id": str(trade.trade_id), "market": trade.symbol, "price": _price(inst, trade.price),
                "size": _size(inst, trade.qty),
                "side": C.Side.BUY.value if trade.aggressor is Side.BUY else C.Side.SELL.value,
                "timestamp": self._iso(trade.ts_ms)}

    # =========================================================================================
    # private resources
    # =========================================================================================

    def _private(self, resource: str, method: str, order_id: str | None, query: Mapping[str, str],
                 body: Mapping[str, Any], account: Account) -> tuple[Any, bool]:
        """``(answer, is an order command)``."""
        ex = self.exchange
        if resource == "balances":
            return {"success": True, "data": self.balances_dto(account)}, False
        if resource == "positions":
            return {"success": True, "data": [self.position_dto(p) for p in ex.positions(account)]}, False
        if resource == "fills":
            return self._fills(query, account), False
        if resource == "orders":
            if method == "POST":
                order = self._create(body, account)
                self._announce(order)
                return {"success": True, "data": self.order_dto(order)}, True
            return self._orders(query, account), False
        assert order_id is not None
        if method == "GET":
            return {"success": True, "data": self.order_dto(ex.order(account, order_id))}, False
        if method == "DELETE":
            return {"success": True, "data": self.order_dto(ex.cancel_order(account, order_id))}, True
        return {"success": True, "data": self.order_dto(self._amend(order_id, body, account))}, True

    def _announce(self, order: ExchangeOrder) -> None:
        """Push a new order on its owner's private channels (the exchange announces changes only)."""
        for session in self.sessions:
            session.on_event(OrderChanged(order))

    def balances_dto(self, account: Account) -> list[dict[str, Any]]:
        return [{"asset": asset, "total": _num(b.total), "available": _num(b.free), "locked": _num(b.locked)}
                for asset, b in sorted(account.balances.items())]

    def position_dto(self, p: Position) -> dict[str, Any]:
        inst = self.exchange.instruments[p.symbol]
        return {
            "market": p.symbol,
            "side": "long" if p.qty > 0 else "short",
            "size": _size(inst, abs(p.qty)),
            "entry_price": _num(p.open_price),
            "leverage": str(p.leverage),
            "margin": _num(p.margin),
            "unrealized_pnl": _num(p.unrealized_pnl(self.exchange.last_price(p.symbol))),
            "realized_pnl": _num(p.realized_pnl),
            "updated_at": self._iso(p.updated_ms),
        }

    def order_dto(self, order: ExchangeOrder) -> dict[str, Any]:
        inst = self.exchange.instruments[order.symbol]
        status = _STATUS.get(order.status, C.OrderStatus.OPEN)
        if status is C.OrderStatus.OPEN and order.filled_qty > 0:
            status = C.OrderStatus.PARTIALLY_FILLED
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "market": order.symbol,
            "side": C.Side.BUY.value if order.side is Side.BUY else C.Side.SELL.value,
            "type": order.type.value,
            "time_in_force": order.time_in_force.value.lower(),
            "price": _opt_price(inst, order.price),
            "trigger_price": _opt_price(inst, order.trigger_price),
            "size": _size(inst, order.qty),
            "filled_size": _size(inst, order.filled_qty),
            "average_price": _opt_num(order.avg_price),
            "status": status.value,
            "post_only": order.post_only,
            "reduce_only": order.reduce_only,
            "leverage": str(order.leverage) if order.leverage is not None else None,
            "reason": order.reason if status in (C.OrderStatus.CANCELED, C.OrderStatus.EXPIRED,
                                                 C.OrderStatus.REJECTED) else "",
            "created_at": self._iso(order.created_ms),
            "updated_at": self._iso(order.updated_ms),
        }

    def fill_dto(self, fill: OrderFill, client_order_id: str) -> dict[str, Any]:
        inst = self.exchange.instruments[fill.symbol]
        return {
            "fill_id": str(fill.trade_id),
            "order_id": fill.order_id,
            "client_order_id": client_order_id,
            "market": fill.symbol,
            "side": C.Side.BUY.value if fill.side is Side.BUY else C.Side.SELL.value,
            "price": _price(inst, fill.price),
            "size": _size(inst, fill.qty),
            "fee": _num(fill.fee),
            "fee_asset": fill.fee_asset,
            "liquidity": fill.liquidity.value,
            "timestamp": self._iso(fill.ts_ms),
        }

    def _client_id_of(self, account: Account, order_id: str) -> str:
        try:
            return self.exchange.order(account, order_id).client_order_id
        except ExchangeRejected:
            return ""

    def _fills(self, query: Mapping[str, str], account: Account) -> Any:
        market = query.get("market")
        if market:
            self._market(market)
        order_id = query.get("order_id") or None
        entries = [(i, f) for i, f in enumerate(self.exchange.my_fills(account))
                   if (not market or f.symbol == market) and (order_id is None or f.order_id == order_id)]
        return _page([(i, self.fill_dto(f, self._client_id_of(account, f.order_id))) for i, f in entries],
                     self._limit(query), query.get("cursor"))

    def _orders(self, query: Mapping[str, str], account: Account) -> Any:
        market = query.get("market")
        if market:
            self._market(market)
        status = query.get("status") or "all"
        known = {s.value for s in C.OrderStatus} | {"all"}
        if status not in known:
            raise _invalid(f"status must be one of {', '.join(sorted(known))}")
        client_id = query.get("client_order_id") or None
        entries = []
        for i, order_id in enumerate(self._orders_by_account.get(account.name, [])):
            order = self.exchange.order(account, order_id)
            if market and order.symbol != market:
                continue
            if client_id is not None and order.client_order_id != client_id:
                continue
            dto = self.order_dto(order)
            if status == C.OrderStatus.OPEN.value:
                if not order.is_open:
                    continue
            elif status != "all" and dto["status"] != status:
                continue
            entries.append((i, dto))
        return _page(entries, self._limit(query), query.get("cursor"))

    def _create(self, body: Mapping[str, Any], account: Account) -> ExchangeOrder:
        unknown = sorted(set(body) - _NEW_ORDER_FIELDS)
        if unknown:
            raise _invalid(f"unknown field {unknown[0]!r}")
        inst = self._market(body.get("market") if isinstance(body.get("market"), str) else None)
        perpetual = inst.kind is not InstrumentKind.SPOT
        side_raw = body.get("side")
        if side_raw not in (C.Side.BUY.value, C.Side.SELL.value):
            raise _invalid("side must be 'buy' or 'sell'")
        side = Side.BUY if side_raw == C.Side.BUY.value else Side.SELL
        type_raw = body.get("type")
        order_type = _TYPES.get(type_raw) if isinstance(type_raw, str) else None
        if order_type is None:
            raise _invalid(f"type must be one of {', '.join(_TYPES)}")
        size = _decimal_field(body, "size", required=True)
        assert size is not None
        limit_priced = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        stop = order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        price = _decimal_field(body, "price", required=limit_priced)
        if price is not None and not limit_priced:
            raise _invalid(f"a {order_type.value} order takes no price")
        trigger = _decimal_field(body, "trigger_price", required=stop)
        if trigger is not None and not stop:
            raise _invalid(f"a {order_type.value} order takes no trigger_price")
        tif_raw = body.get("time_in_force")
        if tif_raw is None:
            market_like = order_type in (OrderType.MARKET, OrderType.STOP_MARKET)
            tif_raw = C.TimeInForce.IOC.value if market_like else C.TimeInForce.GTC.value
        if not isinstance(tif_raw, str) or tif_raw not in {t.value for t in C.TimeInForce}:
            raise _invalid("time_in_force must be 'gtc', 'ioc' or 'fok'")
        tif = TimeInForce(str(tif_raw).upper())
        if order_type in (OrderType.MARKET, OrderType.STOP_MARKET) and tif is TimeInForce.GTC:
            raise _invalid("a market order cannot rest: time_in_force must be 'ioc' or 'fok'")
        post_only = _bool_field(body, "post_only")
        if post_only and (order_type is not OrderType.LIMIT or tif is not TimeInForce.GTC):
            raise _invalid("post_only needs a gtc limit order")
        reduce_only = _bool_field(body, "reduce_only")
        if reduce_only and not perpetual:
            raise _invalid("reduce_only needs a perpetual market")
        client_id = body.get("client_order_id", "")
        if client_id:
            if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
                raise _invalid("client_order_id must be 1-64 characters of A-Z a-z 0-9 . _ : -")
            try:
                self.exchange.order_by_client_id(account, client_id)
            except ExchangeRejected:
                pass
            else:
                raise _invalid(f"duplicate client_order_id {client_id!r}")
        leverage: int | None = None
        raw_leverage = body.get("leverage")
        if raw_leverage is not None:
            if not perpetual:
                raise _invalid("leverage needs a perpetual market")
            if not isinstance(raw_leverage, str) or not _INTEGER.fullmatch(raw_leverage):
                raise _invalid("leverage must be a whole number as a string")
            leverage = int(raw_leverage)
            if not 1 <= leverage <= int(inst.max_leverage or 1):
                raise _invalid(f"leverage must be within 1..{int(inst.max_leverage or 1)}")
        elif perpetual:
            leverage = min(self.options.default_leverage, int(inst.max_leverage or 1))
        order = self.exchange.submit_order(
            account, inst.symbol, side, order_type, size, price=price, trigger_price=trigger,
            time_in_force=tif, post_only=post_only, reduce_only=reduce_only, leverage=leverage,
            client_order_id=client_id or "",
        )
        self._orders_by_account.setdefault(account.name, []).append(order.order_id)
        return order

    def _amend(self, order_id: str, body: Mapping[str, Any], account: Account) -> ExchangeOrder:
        unknown = sorted(set(body) - _AMEND_FIELDS)
        if unknown:
            raise _invalid(f"unknown field {unknown[0]!r}")
        price = _decimal_field(body, "price")
        size = _decimal_field(body, "size")
        trigger = _decimal_field(body, "trigger_price")
        if price is None and size is None and trigger is None:
            raise _invalid("nothing to amend: give price, size or trigger_price")
        return self.exchange.amend_order(account, order_id, price=price, qty=size, trigger_price=trigger)

    # =========================================================================================
    # WebSocket
    # =========================================================================================

    async def handle_websocket(self, ws: WebSocketConnection) -> None:
        """Serve one ``/v1/stream`` socket until it closes, idles out or a drop fault fires."""
        if ws.path.rstrip("/") != C.STREAM_PATH:
            await ws.close(1008, "unknown path")
            return
        session = _WsSession(self, ws)
        self.sessions.append(session)
        try:
            await session.run()
        finally:
            self.sessions.remove(session)

    def authenticate_stream(self, frame: Mapping[str, Any]) -> Account:
        """Check a private subscription (key, timestamp window, signature); raises EkidenError."""
        if "apiKey" in frame and "api_key" in frame:
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, "both apiKey and api_key given")
        api_key = frame.get("apiKey", frame.get("api_key"))
        account = self._account_for_key(api_key if isinstance(api_key, str) else "")
        timestamp = frame.get("timestamp")
        signature = frame.get("signature")
        if not isinstance(timestamp, str) or not isinstance(signature, str):
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, "missing timestamp or signature")
        if not verify_ws_auth(account.secret, timestamp, signature):
            raise EkidenError(C.ErrorCode.AUTHENTICATION_FAILED, "invalid signature")
        self._check_timestamp(timestamp)
        return account

    async def inject_frame(self, text: str) -> int:
        """Send ``text`` as is on every open socket (tests of malformed messages); returns how many."""
        sent = 0
        for session in list(self.sessions):
            try:
                await session.ws.send_text(text)
                sent += 1
            except WebSocketClosed:
                pass
        return sent


def _diff(old: Sequence[Sequence[str]], new: Sequence[Sequence[str]]) -> list[list[str]]:
    """Changed levels between two level lists: new or resized levels, and ``[price, "0"]`` for removed ones."""
    before = {p: q for p, q in old}
    after = {p: q for p, q in new}
    out = [[p, q] for p, q in new if before.get(p) != q]
    out.extend([p, "0"] for p, _ in old if p not in after)
    return out


# =============================================================================================
# one WebSocket session
# =============================================================================================


class _BookSubscription:
    __slots__ = ("depth", "sequence", "bids", "asks")

    def __init__(self, depth: int, sequence: int) -> None:
        self.depth = depth
        self.sequence = sequence
        self.bids: list[list[str]] = []
        self.asks: list[list[str]] = []


class _WsSession(WsSessionBase):
    """The state of one socket: subscriptions, a conflating push queue, idle and drop timers."""

    def __init__(self, testnet: EkidenTestnet, ws: WebSocketConnection) -> None:
        super().__init__(testnet.exchange, testnet.faults, ws, idle_timeout_s=testnet.options.ws_idle_timeout_s)
        self.testnet = testnet
        self.books: dict[str, _BookSubscription] = {}
        self.trades: set[str] = set()
        self.account: Account | None = None
        self._dirty_orders: dict[str, ExchangeOrder] = {}
        self._fills_sent: dict[str, int] = {}

    def on_event(self, event: object) -> None:
        if isinstance(event, BookChanged):
            if event.symbol in self.books:
                self._dirty_books.add(event.symbol)
                self.wake()
        elif isinstance(event, TradeExecuted):
            if event.trade.symbol in self.trades and len(self._pending_trades) < 10_000:
                self._pending_trades.append(event.trade)
                self.wake()
        elif isinstance(event, OrderChanged):
            if self.account is not None and event.order.account == self.account.name:
                self._dirty_orders[event.order.order_id] = event.order
                self.wake()

    async def _error(self, error: EkidenError, frame: Mapping[str, Any] | None = None) -> None:
        out: dict[str, Any] = {"type": C.WsType.ERROR.value, **error.body()}
        if frame is not None:
            for name in ("channel", "market"):
                if isinstance(frame.get(name), str):
                    out[name] = frame[name]
        if error.code in (C.ErrorCode.AUTHENTICATION_FAILED, C.ErrorCode.SIGNATURE_EXPIRED):
            self.testnet.auth_failures += 1
        await self.send(out)

    async def handle_message(self, text: str | bytes) -> None:
        try:
            frame = loads_json(text, reject_duplicate_keys=True)
        except WireFormatError as e:
            await self._error(_invalid(f"malformed JSON: {e}"))
            return
        if not isinstance(frame, dict):
            await self._error(_invalid("expected a JSON object"))
            return
        kind = frame.get("type")
        try:
            if kind == C.WsType.PING.value:
                await self.send({"type": C.WsType.PONG.value})
            elif kind == C.WsType.SUBSCRIBE.value:
                await self._subscribe(frame)
            elif kind == C.WsType.UNSUBSCRIBE.value:
                await self._unsubscribe(frame)
            else:
                raise _invalid(f"unknown type {kind!r}")
        except EkidenError as e:
            await self._error(e, frame)

    def _market_of(self, frame: Mapping[str, Any]) -> str:
        market = frame.get("market")
        return self.testnet._market(market if isinstance(market, str) else None).symbol

    async def _subscribe(self, frame: Mapping[str, Any]) -> None:
        channel = frame.get("channel")
        if channel == C.Channel.ORDERS.value:
            self.account = self.testnet.authenticate_stream(frame)
            await self.send({"type": C.WsType.SUBSCRIBED.value, "channel": channel})
            return
        if channel not in (C.Channel.ORDERBOOK.value, C.Channel.TRADES.value):
            raise _invalid(f"unknown channel {channel!r}")
        symbol = self._market_of(frame)
        if channel == C.Channel.TRADES.value:
            self.trades.add(symbol)
            await self.send({"type": C.WsType.SUBSCRIBED.value, "channel": channel, "market": symbol})
            return
        depth_raw = frame.get("depth")
        depth = self.testnet.options.stream_book_depth
        if depth_raw is not None:
            if not isinstance(depth_raw, (str, int)) or isinstance(depth_raw, bool) or not _INTEGER.fullmatch(
                    str(depth_raw)) or not 1 <= int(depth_raw) <= C.MAX_BOOK_DEPTH:
                raise _invalid(f"depth must be an integer within 1..{C.MAX_BOOK_DEPTH}")
            depth = int(depth_raw)
        sub = self.books.get(symbol)
        if sub is None:
            sub = self.books[symbol] = _BookSubscription(depth, self.testnet._book_versions[symbol])
        sub.depth = depth
        await self.send({"type": C.WsType.SUBSCRIBED.value, "channel": channel, "market": symbol})
        await self._snapshot(symbol, sub)

    async def _snapshot(self, symbol: str, sub: _BookSubscription) -> None:
        sub.sequence += 1
        sub.bids, sub.asks = self.testnet.levels(symbol, sub.depth)
        await self.send({"type": C.WsType.SNAPSHOT.value, "channel": C.Channel.ORDERBOOK.value, "market": symbol,
                         "data": {"market": symbol, "sequence": str(sub.sequence),
                                  "timestamp": iso_from_ms(self.testnet.server_time_ms()),
                                  "bids": sub.bids, "asks": sub.asks}})

    async def _unsubscribe(self, frame: Mapping[str, Any]) -> None:
        channel = frame.get("channel")
        if channel == C.Channel.ORDERS.value:
            self.account = None
            await self.send({"type": C.WsType.UNSUBSCRIBED.value, "channel": channel})
            return
        if channel not in (C.Channel.ORDERBOOK.value, C.Channel.TRADES.value):
            raise _invalid(f"unknown channel {channel!r}")
        symbol = self._market_of(frame)
        if channel == C.Channel.ORDERBOOK.value:
            self.books.pop(symbol, None)
        else:
            self.trades.discard(symbol)
        await self.send({"type": C.WsType.UNSUBSCRIBED.value, "channel": channel, "market": symbol})

    async def push(self) -> None:
        testnet = self.testnet
        while True:
            await self.wait_for_work()
            trades, self._pending_trades = self._pending_trades, []
            books, self._dirty_books = self._dirty_books, set()
            orders, self._dirty_orders = self._dirty_orders, {}
            # our own orders first: their fills are what a trading client waits for
            account = self.account
            for order in orders.values():
                if account is None:
                    break
                sent = self._fills_sent.get(order.order_id, 0)
                fills = order.fills[sent:]
                self._fills_sent[order.order_id] = len(order.fills)
                await self.send({"type": C.WsType.UPDATE.value, "channel": C.Channel.ORDERS.value, "data": {
                    "order": testnet.order_dto(order),
                    "fills": [testnet.fill_dto(f, order.client_order_id) for f in fills],
                }})
            by_market: dict[str, list[dict[str, Any]]] = {}
            for trade in trades:
                if trade.symbol in self.trades:
                    by_market.setdefault(trade.symbol, []).append(testnet.trade_dto(trade))
            for symbol, items in by_market.items():
                await self.send({"type": C.WsType.UPDATE.value, "channel": C.Channel.TRADES.value, "market": symbol,
                                 "data": items})
            # books conflate: one update per market per wakeup, whatever changed in between
            for symbol in sorted(books):
                sub = self.books.get(symbol)
                if sub is None:
                    continue
                bids, asks = testnet.levels(symbol, sub.depth)
                bid_changes, ask_changes = _diff(sub.bids, bids), _diff(sub.asks, asks)
                if not bid_changes and not ask_changes:
                    continue
                sub.bids, sub.asks = bids, asks
                sub.sequence += 1
                await self.send({"type": C.WsType.UPDATE.value, "channel": C.Channel.ORDERBOOK.value,
                                 "market": symbol, "data": {
                                     "market": symbol, "sequence": str(sub.sequence),
                                     "timestamp": iso_from_ms(testnet.server_time_ms()),
                                     "bids": bid_changes, "asks": ask_changes}})


# =============================================================================================
# opening and serving
# =============================================================================================


open_ekiden_testnet: Opener[EkidenTestnet, EkidenTestnetOptions] = venue_opener(EkidenTestnet, default_instruments)
"""``async with open_ekiden_testnet(accounts, seed=..., faults=..., options=...) as testnet``: a Ekiden
testnet on 127.0.0.1 for the block (:func:`venues._testnet.kit.venue_opener`, :class:`~venues._testnet.kit.OpenArgs`)."""

serve_ekiden_testnet = serve_dialect
"Serve a testnet until cancelled; ``task_status.started(url)`` (:func:`venues._testnet.kit.serve_dialect`)."


# =============================================================================================
# command line
# =============================================================================================


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``triotrade testnet ekiden`` options (the kit's, plus the request limits)."""
    add_common_arguments(parser)
    parser.add_argument("--public-limit", type=int, default=C.PUBLIC_REQUESTS_PER_MIN, metavar="N",
                        help="public requests per minute per address (default: the venue's 60)")
    parser.add_argument("--private-limit", type=int, default=C.PRIVATE_REQUESTS_PER_MIN, metavar="N",
                        help="private requests per minute per API key (default: the venue's 30)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m venues.ekiden.testnet --accounts FILE [--port N] ...``; Ctrl-C exits 0."""
    return testnet_main("ekiden", add_testnet_arguments, run_testnet, argv)


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the testnet the parsed ``args`` describe until Ctrl-C (exit code 0; 2 for a bad file)."""

    def make(exchange: Exchange, *, faults: FaultSettings | None) -> EkidenTestnet:
        options = EkidenTestnetOptions(public_requests_per_window=args.public_limit,
                                       private_requests_per_window=args.private_limit)
        return EkidenTestnet(exchange, faults=faults, options=options)

    return run_command(args, make, default_instruments())


if __name__ == "__main__":
    raise SystemExit(main())
