"""The Dzengi dialect of the local testnet: Dzengi's REST and WebSocket protocol on 127.0.0.1.

Backed by :class:`backtest.exchange.Exchange` (accounts, books, positions) and driven by
:class:`venues._testnet.market.SyntheticMarket` (or a recorded data set). A third-party Dzengi
client pointed at the URL works unchanged: same paths under ``/api/v1`` and ``/api/v2``, same
parameter rules (query string, form body or both; the query wins), the same HMAC checked over the
exact bytes received, the same ``{"code", "msg"}`` errors and HTTP statuses, the same field names
and JSON types (numbers where the venue sends numbers, strings where it sends strings).

Request weights: the venue publishes the limits, not the weights; the table is
:func:`venues.dzengi.constants.request_weight` (Binance's numbering), which the client's rate
limiter charges as well. ``REQUEST_WEIGHT`` is counted per client IP in fixed one-minute
windows, ``ORDERS`` (new orders and position closes) per account per second and per day. Over a
limit: HTTP 429 with ``Retry-After``; a client that sends ``ban_after_violations`` more requests
before that time is banned: HTTP 418 with ``Retry-After`` for ``ban_s`` (doubling per further ban).

Decisions where the venue's documents are silent (stated so clients know what they test against):

* ``updateTradingPosition``: a missing ``takeProfit``/``stopLoss`` keeps the level, ``0`` removes it.
* Cancel (``DELETE order``) works for LIMIT orders only, as the venue documents; a resting STOP is
  changed with ``updateTradingOrder`` and removed with ``DELETE`` refused.
* MARKET order answers report ``timeInForce: "FOK"`` as the live venue does; the remainder a
  thin book cannot fill expires (status ``EXPIRED``).
* WebSocket idle close: any message from the client (not only ``ping``) keeps the socket open.
* WebSocket errors answer ``{"status": "<STATUS>", ..., "payload": {"errorCode", "errorMessage"}}``.
* A request is taken whole or refused: a body over 1 MiB is HTTP 413 with -1101; a parameter
  named twice in the query or in the body is -1101; numbers are ASCII digits, one point, no
  exponent, at most 64 characters (else -1100); WebSocket frames with duplicate keys are -1101.
"""

from __future__ import annotations

import argparse
import builtins
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any
from urllib.parse import parse_qsl

import attrs

from backtest.exchange import (
    Account,
    BookChanged,
    Exchange,
    ExchangeOrder,
    ExchangeRejected,
    Position,
    PositionExecution,
    PublicTrade,
    RejectReason,
    TradeExecuted,
)
from engine import WireFormatError, loads_json, wire_decimal, wire_int
from engine import Liquidity, Side
from engine import Instrument, InstrumentKind
from engine import Rounding, round_to_step
from engine import OrderStatus, OrderType, TimeInForce
from engine import MAX_NUMBER_CHARS
from venues._testnet.faults import AnswerFault
from venues._testnet.kit import Opener, TestnetBase, add_common_arguments, run_command, serve_dialect, testnet_main, venue_opener
from venues._testnet.server import BanTracker, HttpRequest, HttpResponse, RateRule, WebSocketConnection, WindowLimiter, make_asgi_app
from venues._testnet.session import WsSessionBase

from . import constants as C
from .signer import strip_signature, verify, verify_ws_payload

__all__ = [
    "DzengiTestnetOptions",
    "DzengiTestnet",
    "DzengiError",
    "default_instruments",
    "open_dzengi_testnet",
    "serve_dzengi_testnet",
    "add_testnet_arguments",
    "run_testnet",
    "main",
]

ZERO = Decimal(0)
LEVERAGE_VALUES = (1, 2, 5, 10, 20)
DEFAULT_LEVERAGE = 10
ACCOUNT_ID_BASE = 2376109060084000
"Per-asset account ids are ``ACCOUNT_ID_BASE + 100 * account index + asset index`` (< 2**53)."


# =============================================================================================
# instruments and options
# =============================================================================================


def _instrument(symbol: str, base: str, quote: str, tick: str, lot: str, *, leverage: bool,
                min_notional: str, max_qty: str) -> Instrument:
    # through a dict: the attrs plugin cannot type the field's ``tuple`` converter
    leverage_values: dict[str, Any] = {"leverage_values": LEVERAGE_VALUES if leverage else ()}
    return Instrument(
        venue=C.VENUE,
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        kind=InstrumentKind.LINEAR if leverage else InstrumentKind.SPOT,
        min_qty=lot,
        max_qty=max_qty,
        min_notional=min_notional,
        # the venue rounds a too-precise price up and a too-precise quantity down
        price_rounding=Rounding.CEILING,
        qty_rounding=Rounding.DOWN,
        max_leverage=max(LEVERAGE_VALUES) if leverage else None,
        **leverage_values,
        maker_fee="0.001" if not leverage else "0.0005",
        taker_fee="0.002" if not leverage else "0.0005",
    )


def default_instruments() -> list[Instrument]:
    """BTC/USD and ETH/USD spot, BTC/USD_LEVERAGE and ETH/USD_LEVERAGE (leverage 1-20, default 10)."""
    return [
        _instrument("BTC/USD", "BTC", "USD", "0.01", "0.0001", leverage=False, min_notional="10", max_qty="100"),
        _instrument("ETH/USD", "ETH", "USD", "0.01", "0.001", leverage=False, min_notional="10", max_qty="1000"),
        _instrument("BTC/USD_LEVERAGE", "BTC", "USD", "0.01", "0.0001", leverage=True, min_notional="10",
                    max_qty="100"),
        _instrument("ETH/USD_LEVERAGE", "ETH", "USD", "0.01", "0.001", leverage=True, min_notional="10",
                    max_qty="1000"),
    ]


@attrs.frozen
class DzengiTestnetOptions:
    """Knobs of the Dzengi testnet (defaults = the venue's published numbers)."""

    request_weight_per_minute: int = 1200
    orders_per_second: int = 10
    orders_per_day: int = 864000
    ban_after_violations: int = 3
    "Requests sent before a 429's Retry-After elapsed that lead to a 418 ban."
    ban_s: float = 120.0
    ws_idle_timeout_s: float = C.WS_IDLE_TIMEOUT_S
    default_leverage: int = DEFAULT_LEVERAGE


class DzengiError(Exception):
    """An error answer: HTTP status, venue code and message."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = tuple(headers)
        super().__init__(f"{status} {code} {msg}")


def _err(code: C.ErrorCode, status: int = 400, **fmt: Any) -> DzengiError:
    return DzengiError(int(code), C.ERROR_MESSAGES[code].format(**fmt), status)


def _missing(name: str) -> DzengiError:
    return _err(C.ErrorCode.MANDATORY_PARAM_EMPTY_OR_MALFORMED, name=name)


def _bad_combo(msg: str) -> DzengiError:
    return DzengiError(int(C.ErrorCode.INVALID_PARAMETER_COMBINATION), msg)


# =============================================================================================
# parameters
# =============================================================================================

TOO_MANY_PARAMETERS = -1101
"Binance's code for a duplicated parameter or too many of them (the venue's constants lack it)."
MAX_PARAMETERS = 100
"Parameters one query string or form body may carry; more is -1101 (parsed without stalling)."
MAX_PRICE = Decimal(10_000_000)
"``PRICE_FILTER.maxPrice`` of every symbol."
_LEGAL_DECIMAL = r"^-?([0-9]{1,20})(\.[0-9]{1,30})?$"
_LEGAL_INTEGER = r"^-?[0-9]{1,20}$"


def _illegal(name: str, legal: str) -> DzengiError:
    return _err(C.ErrorCode.ILLEGAL_CHARS, name=name, legal=legal)


def _duplicate(name: str) -> DzengiError:
    return DzengiError(TOO_MANY_PARAMETERS, f"Duplicate values for a parameter detected: '{name}'.")


class Params:
    """Merged request parameters (the query string wins over the body).

    Numbers are read with :func:`engine.wire_decimal` / :func:`engine.wire_int`: ASCII digits,
    an optional sign and one point only, bounded in length, no exponent; anything else is -1100.
    """

    def __init__(self, values: Mapping[builtins.str, builtins.str]) -> None:
        self.values = dict(values)

    def __contains__(self, name: builtins.str) -> bool:
        return bool(self.values.get(name, ""))

    def str(self, name: builtins.str, default: builtins.str | None = None, *,
            required: bool = False) -> builtins.str | None:
        """The text of ``name`` (missing or empty → ``default``, or -1102 if ``required``)."""
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise _missing(name)
            return default
        return value

    def req(self, name: builtins.str) -> builtins.str:
        """The text of a mandatory parameter."""
        value = self.str(name, required=True)
        assert value is not None
        return value

    def decimal(self, name: builtins.str, *, required: bool = False) -> Decimal | None:
        """An exact decimal (missing → ``None``); a malformed or unbounded number is -1100."""
        raw = self.str(name, required=required)
        if raw is None:
            return None
        try:
            return wire_decimal(raw)
        except WireFormatError:
            raise _illegal(name, _LEGAL_DECIMAL) from None

    def int(self, name: builtins.str, default: builtins.int | None = None, *,
            required: bool = False) -> builtins.int | None:
        """A whole number of at most 20 ASCII digits (missing → ``default``); otherwise -1100."""
        raw = self.str(name, required=required)
        if raw is None:
            return default
        try:
            return wire_int(raw)
        except WireFormatError:
            raise _illegal(name, _LEGAL_INTEGER) from None

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        """``true``/``1`` or ``false``/``0`` (any case); anything else is -1102."""
        raw = self.str(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise _missing(name)


def _parse_form(raw: str) -> dict[str, str]:
    """One query string or form body as a dict; a name given twice is -1101, a bad escape -1100."""
    if not raw.isascii():
        raise _illegal("request", "percent-encoded ASCII")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError:
        raise _illegal("request", "percent-encoded UTF-8") from None
    except ValueError:
        raise DzengiError(TOO_MANY_PARAMETERS, f"Too many parameters; at most {MAX_PARAMETERS} are read.") from None
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in values:
            raise _duplicate(key)
        values[key] = value
    return values


def _form_text(body: bytes) -> str:
    """A form body as text; raw non-ASCII bytes are -1100 (a form body is percent-encoded)."""
    if not body.isascii():
        raise _illegal("request", "percent-encoded ASCII")
    return body.decode("ascii")


def _body_too_large(limit: int) -> HttpResponse:
    return HttpResponse.json(413, {"code": TOO_MANY_PARAMETERS,
                                   "msg": f"Request body larger than {limit} bytes; nothing was read."})


def _merge_params(raw_query: str, body: str) -> Params:
    merged = _parse_form(body)
    merged.update(_parse_form(raw_query))  # the query string wins (the venue's rule)
    return Params(merged)


def _to_step(value: Decimal, step: Decimal, rounding: Rounding) -> Decimal:
    """``value`` rounded to a multiple of ``step`` exactly, whatever its number of digits.

    Decimal's default 28-digit context would first round a 30-decimal price *down* (to nearest),
    so the venue's round-up could be lost; wire numbers are bounded, so a wide context is cheap.
    """
    with localcontext() as ctx:
        ctx.prec = 4 * MAX_NUMBER_CHARS
        return round_to_step(value, step, rounding)


def _price_of(raw: Decimal, inst: Instrument) -> Decimal:
    """A positive price rounded up to the tick (the venue's rule), within ``PRICE_FILTER``."""
    if raw <= 0:
        raise DzengiError(int(C.ErrorCode.INVALID_PRICE), C.ERROR_MESSAGES[C.ErrorCode.INVALID_PRICE])
    if raw > MAX_PRICE:
        raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: PRICE_FILTER")
    price = _to_step(raw, inst.tick_size, Rounding.CEILING)
    if price > MAX_PRICE:
        raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: PRICE_FILTER")
    return price


def _level_of(value: Decimal | None) -> Decimal | None:
    """A take-profit / stop-loss level or distance as given; beyond ``maxPrice`` is PRICE_FILTER."""
    if value is not None and abs(value) > MAX_PRICE:
        raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: PRICE_FILTER")
    return value


# =============================================================================================
# number formatting
# =============================================================================================


def _plain(value: Decimal) -> str:
    """Plain notation without an exponent and without trailing zeros (``100`` not ``1E+2``)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def _num(value: Decimal | None) -> Decimal:
    """A JSON number (exact) for an optional decimal (missing → 0)."""
    if value is None:
        return ZERO
    return Decimal(_plain(value))


# =============================================================================================
# the testnet
# =============================================================================================


@attrs.frozen
class _EndpointSpec:
    methods: frozenset[str]
    signed: bool
    handler: str
    orders: bool = False
    "Counts against the ORDERS limits (a command that creates an order)."
    order_command: bool = False
    "A command whose answer may be replaced by a 5xx after it took effect (fault injection)."
    ws_list_key: str = ""
    "Over the WebSocket, a list answer is wrapped in an object under this key."


_ENDPOINTS: dict[str, _EndpointSpec] = {
    "time": _EndpointSpec(frozenset({"GET"}), False, "_time"),
    "exchangeInfo": _EndpointSpec(frozenset({"GET"}), False, "_exchange_info"),
    "currencies": _EndpointSpec(frozenset({"GET"}), False, "_currencies", ws_list_key="currencies"),
    "depth": _EndpointSpec(frozenset({"GET"}), False, "_depth"),
    "aggTrades": _EndpointSpec(frozenset({"GET"}), False, "_agg_trades", ws_list_key="aggTrades"),
    "klines": _EndpointSpec(frozenset({"GET"}), False, "_klines", ws_list_key="lines"),
    "ticker/24hr": _EndpointSpec(frozenset({"GET"}), False, "_ticker", ws_list_key="tickers"),
    "account": _EndpointSpec(frozenset({"GET"}), True, "_account"),
    "myTrades": _EndpointSpec(frozenset({"GET"}), True, "_my_trades", ws_list_key="myTrades"),
    "openOrders": _EndpointSpec(frozenset({"GET"}), True, "_open_orders", ws_list_key="openOrders"),
    "fetchOrder": _EndpointSpec(frozenset({"GET"}), True, "_fetch_order"),
    "order": _EndpointSpec(frozenset({"POST", "DELETE", "PUT"}), True, "_order", orders=True, order_command=True),
    "leverageSettings": _EndpointSpec(frozenset({"GET"}), True, "_leverage_settings"),
    "tradingPositions": _EndpointSpec(frozenset({"GET"}), True, "_trading_positions"),
    "tradingPositionsHistory": _EndpointSpec(frozenset({"GET"}), True, "_positions_history"),
    "updateTradingPosition": _EndpointSpec(frozenset({"POST"}), True, "_update_position", order_command=True),
    "updateTradingOrder": _EndpointSpec(frozenset({"POST"}), True, "_update_order", order_command=True),
    "closeTradingPosition": _EndpointSpec(frozenset({"POST"}), True, "_close_position", orders=True,
                                          order_command=True),
}

_PATH = re.compile(r"^/api/(v1|v2)/(.+?)/?$")
# WebSocket request destinations that are not plain endpoint names
_WS_ALIASES = {"order/create": ("order", "POST"), "order/cancel": ("order", "DELETE"),
               "order/edit": ("order", "PUT")}


def _weight(name: str, method: str, params: Params) -> int:
    """The request's ``REQUEST_WEIGHT``: the table the client's rate limiter charges too."""
    return C.request_weight(name, symbol="symbol" in params, depth_limit=params.int("limit", 100) or 100)


class DzengiTestnet(TestnetBase[DzengiTestnetOptions]):
    """The Dzengi dialect: ``/api/v1|v2`` endpoints, HMAC query signatures, ``{code, msg}`` errors,
    request weight and order limits with 418 bans, and the ``/connect`` WebSocket destinations.

    Open with :func:`open_dzengi_testnet` (tests) or serve with :func:`serve_dzengi_testnet`.
    """

    options_type = DzengiTestnetOptions

    def setup(self) -> None:
        """Weight and order windows, the ban tracker, the per-asset account ids and the app."""
        o = self.options
        self.rate_limits = (
            C.RateLimit("REQUEST_WEIGHT", "MINUTE", 1, o.request_weight_per_minute),
            C.RateLimit("ORDERS", "SECOND", 1, o.orders_per_second),
            C.RateLimit("ORDERS", "DAY", 1, o.orders_per_day),
        )
        self._weights = WindowLimiter([RateRule("REQUEST_WEIGHT", 60_000, o.request_weight_per_minute)])
        self._orders = WindowLimiter([RateRule("ORDERS", 1000, o.orders_per_second),
                                      RateRule("ORDERS", 86_400_000, o.orders_per_day)])
        self._bans = BanTracker(ban_after_violations=o.ban_after_violations, ban_s=o.ban_s)
        self._request_ids = 242000
        assets = sorted({a for i in self.exchange.instruments.values() for a in (i.base, i.quote, i.settle)}
                        | {a for acc in self.exchange.accounts.values() for a in acc.balances})
        self._assets = assets
        self.app = make_asgi_app(self.handle_http, self.handle_websocket, too_large=_body_too_large)

    ws_path = C.WS_PATH

    def banner(self) -> list[str]:
        """The REST and WebSocket URLs and the accounts (printed by ``triotrade testnet dzengi``)."""
        return [f"dzengi testnet REST      {self.url}/api/v2/", f"dzengi testnet WebSocket {self.ws_url}",
                f"accounts: {', '.join(self.accounts)}"]

    # -- accounts -------------------------------------------------------------------------------
    def asset_account_id(self, account: Account, asset: str) -> int:
        """The venue's per-asset account id (what ``accountId`` means in leverage orders)."""
        if asset not in self._assets:
            self._assets.append(asset)
        index = list(self.exchange.accounts).index(account.name)
        return ACCOUNT_ID_BASE + 100 * index + self._assets.index(asset)

    def _account_of_id(self, account: Account, account_id: str) -> str | None:
        for asset in self._assets:
            if str(self.asset_account_id(account, asset)) == account_id.strip():
                return asset
        return None

    # -- HTTP -----------------------------------------------------------------------------------
    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one REST request (ASGI entry point)."""
        await self.inject_latency()
        try:
            body, fault = self._handle_http(request)
        except DzengiError as e:
            return HttpResponse.json(e.status, {"code": e.code, "msg": e.msg}, e.headers)
        return self.order_answer(HttpResponse.json(200, body), fault)

    def _handle_http(self, request: HttpRequest) -> tuple[Any, AnswerFault | None]:
        match = _PATH.match(request.path)
        if not match or match.group(2) not in _ENDPOINTS:
            raise DzengiError(int(C.ErrorCode.UNKNOWN), f"No endpoint {request.method} {request.path}", 404)
        name = match.group(2)
        spec = _ENDPOINTS[name]
        if request.method not in spec.methods:
            raise DzengiError(int(C.ErrorCode.UNKNOWN), f"Request method '{request.method}' not supported", 405)
        # the body counts for every method: what is not read would not be covered by the signature
        body = _form_text(request.body)
        params = _merge_params(request.raw_query, body)
        self._check_limits(request.client_host, _weight(name, request.method, params))
        account = None
        if spec.signed:
            account = self._authenticate_rest(request, body, params)
            if spec.orders and request.method == "POST":
                self._check_order_limits(account)
        result = self._call(name, spec, request.method, params, account)
        fault = self.faults.after_order() if spec.order_command else None
        if fault is AnswerFault.ERROR_5XX:
            raise DzengiError(int(C.ErrorCode.UNKNOWN), C.ERROR_MESSAGES[C.ErrorCode.UNKNOWN], 500)
        return result, fault

    def _call(self, name: str, spec: _EndpointSpec, method: str, params: Params, account: Account | None) -> Any:
        handler: Callable[..., Any] = getattr(self, spec.handler)
        try:
            if spec.signed:
                if name == "order":
                    return handler(method, params, account)
                return handler(params, account)
            return handler(params)
        except ExchangeRejected as e:
            raise self._map_reject(e) from None

    # -- limits ------------------------------------------------------------------------------------
    def _check_limits(self, client: str, weight: int) -> None:
        now = self.limits_clock_ms()
        banned_until = self._bans.check(client, now)
        if banned_until is not None:
            retry = max(1, math.ceil((banned_until - now) / 1000))
            raise DzengiError(int(C.ErrorCode.TOO_MANY_REQUESTS),
                              f"Way too many requests; IP banned until {banned_until}.", 418,
                              (("Retry-After", str(retry)),))
        if self.faults.force_429(self.elapsed_s()):
            self._bans.note_429(client, now, 1000)
            raise DzengiError(int(C.ErrorCode.TOO_MANY_REQUESTS),
                              C.ERROR_MESSAGES[C.ErrorCode.TOO_MANY_REQUESTS].format(
                                  limit=self.options.request_weight_per_minute), 429, (("Retry-After", "1"),))
        hit = self._weights.try_add(client, weight, now)
        if hit is not None:
            self._bans.note_429(client, now, hit.retry_after_ms)
            raise DzengiError(int(C.ErrorCode.TOO_MANY_REQUESTS),
                              C.ERROR_MESSAGES[C.ErrorCode.TOO_MANY_REQUESTS].format(limit=hit.rule.limit), 429,
                              (("Retry-After", str(max(1, math.ceil(hit.retry_after_ms / 1000)))),))

    def _check_order_limits(self, account: Account) -> None:
        now = self.limits_clock_ms()
        hit = self._orders.try_add(account.name, 1, now)
        if hit is not None:
            interval = "SECOND" if hit.rule.window_ms == 1000 else "DAY"
            raise DzengiError(int(C.ErrorCode.TOO_MANY_ORDERS),
                              C.ERROR_MESSAGES[C.ErrorCode.TOO_MANY_ORDERS].format(limit=hit.rule.limit,
                                                                                   interval=interval),
                              429, (("Retry-After", str(max(1, math.ceil(hit.retry_after_ms / 1000)))),))

    # -- authentication ------------------------------------------------------------------------------
    def _account_for_key(self, api_key: str | None) -> Account:
        if not api_key or not api_key.strip():
            raise _err(C.ErrorCode.BAD_API_KEY_FMT, 401)
        account = self.exchange.account_by_api_key(api_key)
        if account is None or account.house:
            raise _err(C.ErrorCode.REJECTED_MBX_KEY, 401)
        return account

    def _authenticate_rest(self, request: HttpRequest, body: str, params: Params) -> Account:
        if C.API_KEY_HEADER.lower() in request.repeated_headers:
            raise _err(C.ErrorCode.BAD_API_KEY_FMT, 401)
        account = self._account_for_key(request.headers.get(C.API_KEY_HEADER.lower()))
        # the signature covers the query and the body exactly as received, minus its own pair
        query_rest, query_sig = strip_signature(request.raw_query)
        body_rest, body_sig = strip_signature(body)
        if query_sig is not None and body_sig is not None:
            raise _duplicate("signature")
        signature = query_sig if query_sig is not None else body_sig
        if not signature:
            raise _missing("signature")
        if not verify(account.secret, query_rest, body_rest, signature):
            raise _err(C.ErrorCode.INVALID_SIGNATURE)
        self._check_timestamp(params)
        return account

    def _check_timestamp(self, params: Params) -> None:
        recv_window = params.int("recvWindow", C.DEFAULT_RECV_WINDOW_MS)
        assert recv_window is not None
        if recv_window > C.MAX_RECV_WINDOW_MS or recv_window <= 0:
            raise _err(C.ErrorCode.BAD_RECV_WINDOW)
        timestamp = params.int("timestamp", required=True)
        assert timestamp is not None
        server_time = self.server_time_ms()
        if not (timestamp < server_time + C.TIMESTAMP_AHEAD_TOLERANCE_MS and server_time - timestamp <= recv_window):
            if timestamp >= server_time + C.TIMESTAMP_AHEAD_TOLERANCE_MS:
                raise DzengiError(int(C.ErrorCode.INVALID_TIMESTAMP),
                                  "Timestamp for this request was 1000ms ahead of the server's time.")
            raise _err(C.ErrorCode.INVALID_TIMESTAMP)

    # -- mapping exchange rejections ---------------------------------------------------------------
    @staticmethod
    def _map_reject(e: ExchangeRejected) -> DzengiError:
        R = RejectReason
        code = C.ErrorCode
        detail = e.detail
        if e.reason is R.UNKNOWN_SYMBOL:
            return _err(code.BAD_SYMBOL)
        if e.reason in (R.INVALID_QUANTITY,):
            return DzengiError(int(code.FILTER_FAILURE), f"Filter failure: LOT_SIZE{': ' + detail if detail else ''}")
        if e.reason is R.INVALID_PRICE:
            return DzengiError(int(code.FILTER_FAILURE), f"Filter failure: PRICE_FILTER{': ' + detail if detail else ''}")
        if e.reason is R.MIN_NOTIONAL:
            return DzengiError(int(code.FILTER_FAILURE), "Filter failure: MIN_NOTIONAL")
        if e.reason is R.INSUFFICIENT_BALANCE:
            return DzengiError(int(code.NEW_ORDER_REJECTED), "Account has insufficient balance for requested action.")
        if e.reason is R.WOULD_TRIGGER_IMMEDIATELY:
            return DzengiError(int(code.NEW_ORDER_REJECTED), "Order would trigger immediately.")
        if e.reason is R.NO_LIQUIDITY:
            return DzengiError(int(code.NEW_ORDER_REJECTED), "Not enough liquidity to execute the order.")
        if e.reason is R.UNKNOWN_ORDER:
            return DzengiError(int(code.NO_SUCH_ORDER), "Order does not exist.")
        if e.reason is R.NOT_CANCELABLE:
            return DzengiError(int(code.CANCEL_REJECTED), detail or "Unknown order sent.")
        if e.reason is R.UNKNOWN_POSITION:
            return _bad_combo("POSITION_NOT_FOUND")
        if e.reason is R.INVALID_LEVERAGE:
            return _bad_combo(f"Invalid leverage{': ' + detail if detail else ''}")
        if e.reason is R.LEVERAGE_ONLY:
            return _bad_combo(detail or "Only leverage symbol allowed here")
        return DzengiError(int(code.NEW_ORDER_REJECTED), f"{e.reason.value}{': ' + detail if detail else ''}")

    # =========================================================================================
    # public endpoints
    # =========================================================================================

    def _symbol(self, params: Params, *, required: bool = True) -> Instrument | None:
        symbol = params.str("symbol", required=required)
        if symbol is None:
            return None
        inst = self.exchange.instruments.get(symbol)
        if inst is None:
            raise _err(C.ErrorCode.BAD_SYMBOL)
        return inst

    def _time(self, params: Params) -> Any:
        return {"serverTime": self.server_time_ms()}

    def _exchange_info(self, params: Params) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": self.server_time_ms(),
            "rateLimits": [
                {"rateLimitType": r.rate_limit_type, "interval": r.interval, "intervalNum": r.interval_num,
                 "limit": r.limit}
                for r in self.rate_limits
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(inst) for inst in self.exchange.instruments.values()],
        }

    def _symbol_info(self, inst: Instrument) -> dict[str, Any]:
        leverage = inst.kind is not InstrumentKind.SPOT
        info: dict[str, Any] = {
            "symbol": inst.symbol,
            "name": f"{inst.base} / {inst.quote}",
            "status": "TRADING",
            "baseAsset": inst.base,
            "baseAssetPrecision": inst.qty_precision,
            "quoteAsset": inst.quote,
            "quoteAssetId": inst.quote + (C.LEVERAGE_SUFFIX if leverage else ""),
            "quotePrecision": inst.price_precision,
            "orderTypes": ["LIMIT", "MARKET", "STOP"] if leverage else ["LIMIT", "MARKET"],
            "filters": [
                {"filterType": "LOT_SIZE", "minQty": _plain(inst.min_qty or inst.lot_size),
                 "maxQty": _plain(inst.max_qty or Decimal("1000000000")), "stepSize": _plain(inst.lot_size)},
                {"filterType": "MIN_NOTIONAL", "minNotional": _plain(inst.min_notional)},
                {"filterType": "PRICE_FILTER", "minPrice": _plain(inst.tick_size), "maxPrice": "10000000",
                 "tickSize": _plain(inst.tick_size)},
            ],
            "marketModes": ["REGULAR"],
            "marketType": "LEVERAGE" if leverage else "SPOT",
            "country": "",
            "sector": "",
            "industry": "",
            "tradingHours": "UTC; Mon 00:00 - 24:00; Tue 00:00 - 24:00; Wed 00:00 - 24:00; Thu 00:00 - 24:00; "
                            "Fri 00:00 - 24:00; Sat 00:00 - 24:00; Sun 00:00 - 24:00",
            "tickSize": _num(inst.tick_size),
            "tickValue": _num(inst.tick_size * inst.multiplier),
            "assetType": "CRYPTOCURRENCY",
        }
        if leverage:
            info.update({
                "tradingFee": _num(inst.taker_fee * 100),
                "makerFee": _num(inst.maker_fee * 100),
                "takerFee": _num(inst.taker_fee * 100),
                "longRate": ZERO,
                "shortRate": ZERO,
                "swapChargeInterval": 1440,
                "maxSLGap": Decimal(50),
                "minSLGap": Decimal("0.1"),
                "maxTPGap": Decimal(50),
                "minTPGap": Decimal("0.1"),
            })
        else:
            info["exchangeFee"] = _num(inst.taker_fee * 100)
        return info

    def _currencies(self, params: Params) -> Any:
        out = []
        for asset in self._assets:
            fiat = asset in ("USD", "EUR", "GBP")
            out.append({
                "name": asset,
                "displaySymbol": asset,
                "precision": 2 if fiat else 8,
                "type": "FIAT" if fiat else "CRYPTO",
                "minWithdrawal": Decimal(10) if fiat else Decimal("0.001"),
                "maxWithdrawal": Decimal(1000000),
                "commissionMin": ZERO,
                "commissionPercent": ZERO,
                "commissionFixed": ZERO,
                "minDeposit": Decimal(10) if fiat else Decimal("0.001"),
            })
        return out

    def _depth(self, params: Params) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        limit = params.int("limit", 100) or 100
        if limit <= 0:
            raise _missing("limit")
        limit = min(limit, 1000)
        bids, asks = self.exchange.depth(inst.symbol, limit)
        return {
            "lastUpdateId": self.server_time_ms(),
            "asks": [[_num(p), _num(q)] for p, q in asks],
            "bids": [[_num(p), _num(q)] for p, q in bids],
        }

    def _agg_trades(self, params: Params) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        limit = min(max(params.int("limit", 500) or 500, 1), 1000)
        start = params.int("startTime")
        end = params.int("endTime")
        if start is not None and end is not None and end - start >= 3_600_000:
            raise _bad_combo("If both startTime and endTime are sent, time between them must be less than 1 hour.")
        trades = [t for t in self.exchange.trades(inst.symbol)
                  if (start is None or t.ts_ms >= start) and (end is None or t.ts_ms <= end)]
        trades = trades[:limit] if start is not None else trades[-limit:]
        return [{"a": t.trade_id, "p": _plain(t.price), "q": _plain(t.qty), "T": t.ts_ms, "m": t.buyer_is_maker}
                for t in trades]

    def _klines(self, params: Params) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        interval = params.req("interval")
        interval = C.WS_INTERVAL_ALIASES.get(interval, interval)
        if interval not in C.INTERVALS_MS:
            raise DzengiError(-1120, "Invalid interval.")
        kind = (params.str("type") or "classic").lower()
        if kind not in ("classic", "heiken-ashi", "heikin-ashi"):
            raise _missing("type")
        limit = min(max(params.int("limit", 500) or 500, 1), 1000)
        bars = self.exchange.bars(inst.symbol).bars(C.INTERVALS_MS[interval], params.int("startTime"),
                                                    params.int("endTime"), limit)
        if kind != "classic":
            bars = _heiken_ashi(bars, inst.tick_size)
        return [[t, _plain(o), _plain(h), _plain(low), _plain(c), _num(v)] for t, o, h, low, c, v in bars]

    def _ticker(self, params: Params) -> Any:
        inst = self._symbol(params, required=False)
        if inst is not None:
            return self._ticker_of(inst)
        return [self._ticker_of(i) for i in self.exchange.instruments.values()]

    def _ticker_of(self, inst: Instrument) -> dict[str, Any]:
        now = self.exchange.clock_ms()
        open_ms = now - 86_400_000
        bars = [b for b in self.exchange.bars(inst.symbol).bars(60_000, open_ms, now, 0) if b[0] >= open_ms - 60_000]
        bid, _, ask, _ = self.exchange.best_bid_ask(inst.symbol)
        trades = self.exchange.trades(inst.symbol)
        last = trades[-1] if trades else None
        if bars:
            o = bars[0][1]
            h = max(b[2] for b in bars)
            low = min(b[3] for b in bars)
            c = bars[-1][4]
            volume = sum((b[5] for b in bars), ZERO)
            quote_volume = sum((b[5] * b[4] for b in bars), ZERO)
        else:
            o = h = low = c = last.price if last else ZERO
            volume = quote_volume = ZERO
        last_price = last.price if last else c
        change = last_price - o
        pct = (change / o * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN) if o else ZERO
        wavg = (quote_volume / volume).quantize(inst.tick_size, ROUND_HALF_EVEN) if volume else last_price
        return {
            "symbol": inst.symbol,
            "priceChange": _plain(change),
            "priceChangePercent": _plain(pct),
            "weightedAvgPrice": _plain(wavg),
            "prevClosePrice": _plain(o),
            "lastPrice": _plain(last_price),
            "lastQty": _plain(last.qty) if last else "0",
            "bidPrice": _plain(bid) if bid is not None else "0",
            "askPrice": _plain(ask) if ask is not None else "0",
            "openPrice": _plain(o),
            "highPrice": _plain(h),
            "lowPrice": _plain(low),
            "volume": _plain(volume),
            "quoteVolume": _plain(quote_volume),
            "openTime": open_ms,
            "closeTime": now,
        }

    # =========================================================================================
    # account endpoints
    # =========================================================================================

    def _account(self, params: Params, account: Account) -> Any:
        show_zero = params.bool("showZeroBalance", False)
        spot_fees = [i.taker_fee for i in self.exchange.instruments.values() if i.kind is InstrumentKind.SPOT]
        fee = _num(max(spot_fees, default=ZERO) * 100)
        balances = []
        assets = self._assets if show_zero else sorted(account.balances)
        for asset in assets:
            bal = account.balances.get(asset)
            if bal is None and not show_zero:
                continue
            free = bal.free if bal else ZERO
            locked = bal.locked if bal else ZERO
            if not show_zero and free == 0 and locked == 0:
                continue
            balances.append({
                "accountId": str(self.asset_account_id(account, asset)),
                "collateralCurrency": asset == "USD",
                "asset": asset,
                "free": _num(free),
                "locked": _num(locked),
                "default": asset == "USD",
            })
        return {
            "makerCommission": fee,
            "takerCommission": fee,
            "buyerCommission": fee,
            "sellerCommission": fee,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": self.exchange.clock_ms() // 1000,
            "userId": ACCOUNT_ID_BASE // 1000 + list(self.exchange.accounts).index(account.name),
            "balances": balances,
        }

    def _my_trades(self, params: Params, account: Account) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        start = params.int("startTime")
        end = params.int("endTime")
        limit = min(max(params.int("limit", 500) or 500, 1), 1000)
        fills = [f for f in self.exchange.my_fills(account, inst.symbol)
                 if (start is None or f.ts_ms >= start) and (end is None or f.ts_ms <= end)]
        fills = fills[:limit] if start is not None else fills[-limit:]
        return [{
            "symbol": f.symbol,
            "id": str(f.trade_id),
            "orderId": f.order_id,
            "price": _plain(f.price),
            "qty": _plain(f.qty),
            "quoteQty": _plain(f.quote_qty),
            "commission": _plain(f.fee),
            "commissionAsset": f.fee_asset,
            "time": f.ts_ms,
            "buyer": f.side is Side.BUY,
            "maker": f.liquidity is Liquidity.MAKER,
            "isBuyer": f.side is Side.BUY,
            "isMaker": f.liquidity is Liquidity.MAKER,
        } for f in fills]

    # =========================================================================================
    # orders
    # =========================================================================================

    @staticmethod
    def _wire_status(order: ExchangeOrder) -> str:
        return {
            OrderStatus.ACCEPTED: "NEW",
            OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED",
            OrderStatus.FILLED: "FILLED",
            OrderStatus.CANCELED: "CANCELED",
            OrderStatus.EXPIRED: "EXPIRED",
            OrderStatus.REJECTED: "REJECTED",
            OrderStatus.PENDING_CANCEL: "PENDING_CANCEL",
        }.get(order.status, "NEW")

    @staticmethod
    def _wire_type(order: ExchangeOrder) -> str:
        return {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT"}.get(order.type, "STOP")

    @staticmethod
    def _wire_tif(order: ExchangeOrder) -> str:
        return "FOK" if order.type is OrderType.MARKET else order.time_in_force.value

    @staticmethod
    def _wire_price(order: ExchangeOrder) -> Decimal:
        if order.type is OrderType.MARKET:
            return order.avg_price or ZERO
        if order.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            return order.trigger_price or ZERO
        return order.price or ZERO

    def _is_leverage(self, symbol: str) -> bool:
        return self.exchange.instruments[symbol].kind is not InstrumentKind.SPOT

    def _margin_of(self, order: ExchangeOrder) -> Decimal:
        return _num(Decimal(1) / Decimal(order.leverage)) if order.leverage else ZERO

    def _order_result(self, order: ExchangeOrder, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "transactTime": order.created_ms,
            "price": _plain(self._wire_price(order)),
            "origQty": _plain(order.qty),
            "executedQty": _plain(order.filled_qty),
            "status": self._wire_status(order),
            "timeInForce": self._wire_tif(order),
            "type": self._wire_type(order),
            "side": order.side.name,
            "margin": self._margin_of(order),
            "expireTimestamp": order.expire_ms or 0,
            "guaranteedStopLoss": bool(order.tags.get("guaranteedStopLoss", False)),
            "trailingStopLoss": bool(order.tags.get("trailingStopLoss", False)),
            "stopLoss": _num(order.stop_loss),
            "takeProfit": _num(order.take_profit),
            "profitDistance": _num(order.tags.get("profitDistance")),
            "stopDistance": _num(order.tags.get("stopDistance")),
            "rejectMessage": order.reason,
        }
        if full:
            out["fills"] = [{"price": _plain(f.price), "qty": _plain(f.qty), "commission": _plain(f.fee),
                             "commissionAsset": f.fee_asset, "tradeId": str(f.trade_id)} for f in order.fills]
        return out

    def _order(self, method: str, params: Params, account: Account) -> Any:
        if method == "POST":
            return self._new_order(params, account)
        if method == "DELETE":
            return self._cancel_order(params, account)
        return self._edit_order(params, account)

    def _new_order(self, params: Params, account: Account) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        leverage_symbol = inst.kind is not InstrumentKind.SPOT
        side_raw = params.req("side").upper()
        if side_raw not in ("BUY", "SELL"):
            raise _missing("side")
        side = Side.BUY if side_raw == "BUY" else Side.SELL
        type_raw = params.req("type").upper()
        if type_raw not in ("LIMIT", "MARKET", "STOP"):
            raise _missing("type")
        if type_raw == "STOP" and not leverage_symbol:
            raise _bad_combo(f"STOP order is allowed only for leverage symbols: {inst.symbol}")
        tif_raw = (params.str("timeInForce") or "GTC").upper()
        if tif_raw not in ("GTC", "IOC", "FOK"):
            raise _missing("timeInForce")
        resp_type = (params.str("newOrderRespType") or ("FULL" if type_raw == "MARKET" else "RESULT")).upper()
        if resp_type not in ("RESULT", "FULL"):
            raise _bad_combo(f"newOrderRespType {resp_type} is not supported")

        # quantities with too many decimals are rounded down, prices up (venue rule); then filters
        qty = params.decimal("quantity", required=True)
        assert qty is not None
        if qty <= 0:
            raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: LOT_SIZE")
        if inst.max_qty is not None and qty > inst.max_qty:
            raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: LOT_SIZE")
        qty = _to_step(qty, inst.lot_size, Rounding.DOWN)
        if qty <= 0 or qty < inst.min_qty:
            raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: LOT_SIZE")
        price: Decimal | None = None
        if type_raw in ("LIMIT", "STOP"):
            raw_price = params.decimal("price", required=True)
            assert raw_price is not None
            price = _price_of(raw_price, inst)
        reference = price if price is not None else self.exchange.reference_price(inst.symbol, side)
        if reference is not None and reference * qty < inst.min_notional:
            raise DzengiError(int(C.ErrorCode.FILTER_FAILURE), "Filter failure: MIN_NOTIONAL")

        leverage: int | None = None
        take_profit = stop_loss = None
        tags: dict[str, Any] = {}
        if leverage_symbol:
            leverage = params.int("leverage", self.options.default_leverage)
            assert leverage is not None
            if leverage not in inst.leverage_values:
                raise _bad_combo(f"Invalid leverage {leverage}; allowed: {list(inst.leverage_values)}")
            account_id = params.str("accountId")
            if account_id is not None and self._account_of_id(account, account_id) is None:
                raise _bad_combo(f"Can not find account: {account_id}")
            take_profit = _level_of(params.decimal("takeProfit"))
            stop_loss = _level_of(params.decimal("stopLoss"))
            tags = {"guaranteedStopLoss": params.bool("guaranteedStopLoss"),
                    "trailingStopLoss": params.bool("trailingStopLoss"),
                    "profitDistance": _level_of(params.decimal("profitDistance")),
                    "stopDistance": _level_of(params.decimal("stopDistance"))}
            self._check_levels(side, reference, take_profit, stop_loss)
        elif any(k in params for k in ("takeProfit", "stopLoss", "leverage")):
            raise _bad_combo("Combination of optional parameters invalid: takeProfit/stopLoss/leverage need a "
                             "leverage symbol")

        order_type = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET, "STOP": OrderType.STOP_MARKET}[type_raw]
        order = self.exchange.submit_order(
            account, inst.symbol, side, order_type, qty,
            price=price if order_type is OrderType.LIMIT else None,
            trigger_price=price if order_type is OrderType.STOP_MARKET else None,
            time_in_force=TimeInForce(tif_raw) if order_type is OrderType.LIMIT else TimeInForce.IOC,
            leverage=leverage,
            take_profit=take_profit,
            stop_loss=stop_loss,
            expire_ms=params.int("expireTimestamp"),
            client_order_id=params.str("newClientOrderId") or "",
            tags=tags,
        )
        return self._order_result(order, full=resp_type == "FULL" and not leverage_symbol)

    @staticmethod
    def _check_levels(side: Side, reference: Decimal | None, take_profit: Decimal | None,
                      stop_loss: Decimal | None) -> None:
        if reference is None:
            return
        if take_profit is not None and take_profit > 0 and (take_profit - reference) * side <= 0:
            raise _bad_combo(f"Invalid take profit {take_profit}: must be {'above' if side is Side.BUY else 'below'} "
                             f"{reference}")
        if stop_loss is not None and stop_loss > 0 and (reference - stop_loss) * side <= 0:
            raise _bad_combo(f"Invalid stop loss {stop_loss}: must be {'below' if side is Side.BUY else 'above'} "
                             f"{reference}")

    def _find_order(self, params: Params, account: Account) -> ExchangeOrder:
        order_id = params.str("orderId")
        client_id = params.str("origClientOrderId")
        if order_id is None and client_id is None:
            raise _missing("orderId")
        try:
            if order_id is not None:
                return self.exchange.order(account, order_id)
            assert client_id is not None
            return self.exchange.order_by_client_id(account, client_id)
        except ExchangeRejected:
            raise DzengiError(int(C.ErrorCode.CANCEL_REJECTED), "Unknown order sent.") from None

    def _cancel_order(self, params: Params, account: Account) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        order = self._find_order(params, account)
        if order.symbol != inst.symbol or not order.is_open:
            raise DzengiError(int(C.ErrorCode.CANCEL_REJECTED), "Unknown order sent.")
        if order.type is not OrderType.LIMIT:
            raise DzengiError(int(C.ErrorCode.CANCEL_REJECTED),
                              "FIELD_VALIDATION_ERROR Cancel is available only for LIMIT order")
        order = self.exchange.cancel_order(account, order.order_id)
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "price": _plain(self._wire_price(order)),
            "origQty": _plain(order.qty),
            "executedQty": _plain(order.filled_qty),
            "status": "CANCELED",
            "timeInForce": self._wire_tif(order),
            "type": self._wire_type(order),
            "side": order.side.name,
        }

    def _edit_order(self, params: Params, account: Account) -> Any:
        order = self._find_order(params, account)
        price = params.decimal("price")
        inst = self.exchange.instruments[order.symbol]
        kwargs: dict[str, Any] = {}
        if price is not None:
            kwargs["price"] = _price_of(price, inst)
        if "expireTimestamp" in params:
            kwargs["expire_ms"] = params.int("expireTimestamp")
        if not kwargs:
            raise _bad_combo("Nothing to change: send price and/or expireTimestamp")
        order = self.exchange.amend_order(account, order.order_id, **kwargs)
        return {"orderId": order.order_id}

    def _open_order_item(self, order: ExchangeOrder, account: Account) -> dict[str, Any]:
        inst = self.exchange.instruments[order.symbol]
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "accountId": str(self.asset_account_id(account, inst.settle if self._is_leverage(order.symbol)
                                                   else inst.quote)),
            "price": _plain(self._wire_price(order)),
            "origQty": _plain(order.qty),
            "executedQty": _plain(order.filled_qty),
            "status": self._wire_status(order),
            "timeInForce": self._wire_tif(order),
            "type": self._wire_type(order),
            "side": order.side.name,
            "time": order.created_ms,
            "updateTime": order.updated_ms or order.created_ms,
            "leverage": self._is_leverage(order.symbol),
            "working": order.type is OrderType.LIMIT or order.triggered,
            "margin": self._margin_of(order),
            "takeProfit": _num(order.take_profit),
            "stopLoss": _num(order.stop_loss),
            "guaranteedStopLoss": bool(order.tags.get("guaranteedStopLoss", False)),
            "trailingStopLoss": bool(order.tags.get("trailingStopLoss", False)),
            "expireTimestamp": order.expire_ms or 0,
            "icebergQty": "0",
        }

    def _open_orders(self, params: Params, account: Account) -> Any:
        inst = self._symbol(params, required=False)
        orders = self.exchange.open_orders(account, inst.symbol if inst else None)
        return [self._open_order_item(o, account) for o in orders]

    def _fetch_order(self, params: Params, account: Account) -> Any:
        inst = self._symbol(params)
        assert inst is not None
        order_id = params.req("orderId")
        try:
            order = self.exchange.order(account, order_id)
        except ExchangeRejected:
            raise DzengiError(int(C.ErrorCode.NO_SUCH_ORDER), "Order does not exist.") from None
        if order.symbol != inst.symbol:
            raise DzengiError(int(C.ErrorCode.NO_SUCH_ORDER), "Order does not exist.")
        asset = inst.settle if self._is_leverage(inst.symbol) else inst.quote
        return {
            "accountId": self.asset_account_id(account, asset),
            "orderId": order.order_id,
            "symbol": order.symbol,
            "quantity": _num(order.qty),
            "price": _num(self._wire_price(order)),
            "timestamp": order.created_ms,
            "status": self._wire_status(order),
            "type": self._wire_type(order),
            "timeInForceType": self._wire_tif(order),
            "side": order.side.name,
            "margin": self._margin_of(order),
            "takeProfit": _num(order.take_profit),
            "takeProfitType": "LEVEL",
            "stopLoss": _num(order.stop_loss),
            "stopLossType": "LEVEL",
            "guaranteedStopLoss": bool(order.tags.get("guaranteedStopLoss", False)),
            "trailingStopLoss": bool(order.tags.get("trailingStopLoss", False)),
            "expireTime": order.expire_ms or 0,
            "execPrice": _num(order.avg_price),
            "execQuantity": _num(order.filled_qty),
            "rejectReason": order.reason,
        }

    # =========================================================================================
    # leverage
    # =========================================================================================

    def _leverage_symbol(self, params: Params) -> Instrument:
        inst = self._symbol(params)
        assert inst is not None
        if inst.kind is InstrumentKind.SPOT:
            raise _bad_combo(f"Only leverage symbol allowed here: {inst.symbol}")
        return inst

    def _leverage_settings(self, params: Params, account: Account) -> Any:
        inst = self._leverage_symbol(params)
        return {"values": list(inst.leverage_values), "value": self.options.default_leverage}

    def _instrument_id(self, symbol: str) -> int:
        return 45076691096786100 + list(self.exchange.instruments).index(symbol)

    def _position_dto(self, position: Position, account: Account) -> dict[str, Any]:
        mark = self.exchange.last_price(position.symbol)
        upl = position.unrealized_pnl(mark)
        out: dict[str, Any] = {
            "accountId": str(self.asset_account_id(account, position.settle)),
            "id": position.position_id,
            "instrumentId": self._instrument_id(position.symbol),
            "orderId": position.open_order_id,
            "symbol": position.symbol,
            "openQuantity": _num(position.qty),
            "openPrice": _num(position.open_price),
            "closeQuantity": _num(position.closed_qty),
            "closePrice": _num(position.close_price),
            "guaranteedStopLoss": False,
            "trailingStopLoss": False,
            "rpl": _num(position.realized_pnl),
            "rplConverted": _num(position.realized_pnl),
            "upl": _num(upl),
            "uplConverted": _num(upl),
            "swap": ZERO,
            "swapConverted": ZERO,
            "fee": _num(-position.fees),
            "dividend": ZERO,
            "margin": _num(position.margin_ratio),
            "state": "ACTIVE" if position.is_open else "INACTIVE",
            "currency": position.settle,
            "createdTimestamp": position.opened_ms,
            "openTimestamp": position.opened_ms,
            "type": "NET",
            "cost": _num(position.margin),
        }
        if position.take_profit is not None:
            out["takeProfit"] = _num(position.take_profit)
        if position.stop_loss is not None:
            out["stopLoss"] = _num(position.stop_loss)
        if position.closed_ms is not None:
            out["closeTimestamp"] = position.closed_ms
        return out

    def _trading_positions(self, params: Params, account: Account) -> Any:
        return {"positions": [self._position_dto(p, account) for p in self.exchange.positions(account)]}

    def _execution_dto(self, e: PositionExecution, account: Account) -> dict[str, Any]:
        inst = self.exchange.instruments[e.symbol]
        out: dict[str, Any] = {
            "positionId": e.position_id,
            "execId": str(e.exec_id),
            "execTimestamp": e.ts_ms,
            "createdTimestamp": e.ts_ms,
            "accountId": str(self.asset_account_id(account, inst.settle)),
            "accountCurrency": inst.settle,
            "currency": inst.settle,
            "instrumentId": str(self._instrument_id(e.symbol)),
            "symbol": e.symbol,
            "source": e.source,
            "status": e.status,
            "state": "PROCESSED",
            "price": _num(e.price),
            "quantity": _num(e.qty),
            "rpl": _num(e.realized_pnl),
            "rplConverted": _num(e.realized_pnl),
            "swap": ZERO,
            "swapConverted": ZERO,
            "fee": _num(-e.fee),
            "fxRate": Decimal(1),
        }
        if e.take_profit is not None:
            out["takeProfit"] = _num(e.take_profit)
        if e.stop_loss is not None:
            out["stopLoss"] = _num(e.stop_loss)
        return out

    def _positions_history(self, params: Params, account: Account) -> Any:
        inst = self._symbol(params, required=False)
        start = params.int("from")
        end = params.int("to")
        limit = min(max(params.int("limit", 500) or 500, 1), 1000)
        rows = [e for e in self.exchange.position_history(account, inst.symbol if inst else None)
                if (start is None or e.ts_ms >= start) and (end is None or e.ts_ms <= end)]
        return {"history": [self._execution_dto(e, account) for e in rows[-limit:]]}

    def _next_request_id(self) -> int:
        self._request_ids += 1
        return self._request_ids

    def _update_position(self, params: Params, account: Account) -> Any:
        position_id = params.req("positionId")
        position = self.exchange.position(account, position_id)
        # a level not sent is kept; 0 removes it
        new_take_profit = new_stop_loss = None
        if "takeProfit" in params:
            new_take_profit = _level_of(params.decimal("takeProfit")) or None
        if "stopLoss" in params:
            new_stop_loss = _level_of(params.decimal("stopLoss")) or None
        side = Side.BUY if position.qty > 0 else Side.SELL
        self._check_levels(side, self.exchange.last_price(position.symbol), new_take_profit, new_stop_loss)
        self.exchange.set_position_levels(
            account, position_id,
            take_profit=new_take_profit if "takeProfit" in params else position.take_profit,
            stop_loss=new_stop_loss if "stopLoss" in params else position.stop_loss,
        )
        return {"requestId": self._next_request_id(), "state": "PROCESSED"}

    def _update_order(self, params: Params, account: Account) -> Any:
        order = self._find_order(params, account)
        if not order.is_open:
            raise DzengiError(int(C.ErrorCode.NO_SUCH_ORDER), "Order does not exist.")
        inst = self.exchange.instruments[order.symbol]
        kwargs: dict[str, Any] = {}
        new_price = params.decimal("newPrice")
        if new_price is not None:
            new_price = _price_of(new_price, inst)
            if order.type is OrderType.LIMIT:
                kwargs["price"] = new_price
            else:
                kwargs["trigger_price"] = new_price
        if "takeProfit" in params:
            kwargs["take_profit"] = _level_of(params.decimal("takeProfit")) or None
        if "stopLoss" in params:
            kwargs["stop_loss"] = _level_of(params.decimal("stopLoss")) or None
        if "expireTimestamp" in params:
            kwargs["expire_ms"] = params.int("expireTimestamp")
        self.exchange.amend_order(account, order.order_id, **kwargs)
        return {"requestId": self._next_request_id(), "state": "PROCESSED"}

    def _close_position(self, params: Params, account: Account) -> Any:
        position_id = params.req("positionId")
        position = self.exchange.position(account, position_id)
        order = self.exchange.close_position(account, position_id)
        return {"request": [{
            "id": self._next_request_id(),
            "accountId": str(self.asset_account_id(account, position.settle)),
            "instrumentId": str(self._instrument_id(position.symbol)),
            "orderId": order.order_id,
            "positionId": position_id,
            "rqType": "ORDER_NEW",
            "state": "PROCESSED",
            "createdTimestamp": order.created_ms,
        }]}

    # =========================================================================================
    # WebSocket
    # =========================================================================================

    async def handle_websocket(self, ws: WebSocketConnection) -> None:
        """Serve one ``/connect`` socket until it closes, idles out or a drop fault fires."""
        if ws.path.rstrip("/") != C.WS_PATH:
            await ws.close(1008, "unknown path")
            return
        session = _WsSession(self, ws)
        await session.run()

    def _ws_request(self, destination: str, payload: Mapping[str, Any], client: str) -> tuple[str, Any]:
        """Answer a REST-over-WebSocket request: (status, payload)."""
        path = destination if destination.startswith("/") else "/" + destination
        match = _PATH.match(path)
        if not match:
            raise DzengiError(int(C.ErrorCode.UNKNOWN), f"Unknown destination {destination}", 404)
        name = match.group(2)
        method = "GET"
        if name in _WS_ALIASES:
            name, method = _WS_ALIASES[name]
        elif name not in _ENDPOINTS:
            raise DzengiError(int(C.ErrorCode.UNKNOWN), f"Unknown destination {destination}", 404)
        spec = _ENDPOINTS[name]
        if method not in spec.methods:
            if len(spec.methods) != 1:  # `/api/v1/order`: create, cancel or edit? say which
                raise DzengiError(int(C.ErrorCode.UNKNOWN),
                                  f"Unknown destination {destination}; use order/create, order/cancel or order/edit",
                                  404)
            (method,) = spec.methods
        params = Params({k: _ws_param(v) for k, v in payload.items()})
        self._check_limits(client, _weight(name, method, params))
        account = None
        if spec.signed:
            account = self._account_for_key(params.str("apiKey"))
            if not verify_ws_payload(account.secret, payload):
                if "signature" not in params:
                    raise _missing("signature")
                raise _err(C.ErrorCode.INVALID_SIGNATURE)
            self._check_timestamp(params)
            if spec.orders and method == "POST":
                self._check_order_limits(account)
        result = self._call(name, spec, method, params, account)
        if spec.order_command and self.faults.fail_after_order():
            raise DzengiError(int(C.ErrorCode.UNKNOWN), C.ERROR_MESSAGES[C.ErrorCode.UNKNOWN], 500)
        return "OK", _ws_shape(spec, name, result)

    # -- event payloads -----------------------------------------------------------------------------
    def quote_payload(self, symbol: str) -> dict[str, Any] | None:
        bid, bid_qty, ask, ask_qty = self.exchange.best_bid_ask(symbol)
        if bid is None and ask is None:
            return None
        return {"symbolName": symbol, "bid": _num(bid), "bidQty": _num(bid_qty), "ofr": _num(ask),
                "ofrQty": _num(ask_qty), "timestamp": self.server_time_ms()}

    def depth_payload(self, symbol: str) -> dict[str, Any]:
        bids, asks = self.exchange.depth(symbol, 50)
        return {"symbol": symbol, "data": {
            "ts": self.server_time_ms(),
            "bid": {_plain(p): _num(q) for p, q in bids},
            "ofr": {_plain(p): _num(q) for p, q in asks},
        }}

    def ohlc_payload(self, symbol: str, interval: str, kind: str) -> dict[str, Any] | None:
        rest_interval = C.WS_INTERVAL_ALIASES.get(interval, interval)
        bars = self.exchange.bars(symbol).bars(C.INTERVALS_MS[rest_interval], None, None, 2)
        if not bars:
            return None
        if kind != "classic":
            bars = _heiken_ashi(bars, self.exchange.instruments[symbol].tick_size)
        t, o, h, low, c, _ = bars[-1]
        return {"symbol": symbol, "interval": interval, "type": kind, "t": t, "o": _num(o), "h": _num(h),
                "l": _num(low), "c": _num(c)}

    @staticmethod
    def trade_payload(trade: PublicTrade) -> dict[str, Any]:
        return {"symbol": trade.symbol, "price": _num(trade.price), "size": _num(trade.qty), "id": trade.trade_id,
                "ts": trade.ts_ms, "orderId": trade.taker_order_id, "clientOrderId": "",
                "buyer": trade.aggressor is Side.BUY}


def _string_list(payload: Mapping[str, Any], name: str, default: list[str]) -> list[str]:
    """A subscription field: one string or a list of strings (missing/empty → ``default``); else -1102."""
    value = payload.get(name)
    if value is None or value == "" or value == []:
        return list(default)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise _missing(name)


def _ws_shape(spec: _EndpointSpec, name: str, result: Any) -> Any:
    """A REST answer as the WebSocket gives it: list-shaped answers wrapped under their list key.

    The wrapping depends on the destination, not on how many items there are: ``ticker/24hr``
    for one symbol is ``{"tickers": [{...}]}`` although REST answers it with the bare object.
    """
    if spec.ws_list_key:
        return {spec.ws_list_key: result if isinstance(result, list) else [result]}
    if isinstance(result, list):
        return {name: result}
    return result


def _ws_format_code(error: WireFormatError) -> int:
    """The venue code for a WebSocket message that is not well-formed, bounded JSON."""
    text = str(error)
    if text.startswith("duplicate key"):
        return TOO_MANY_PARAMETERS
    if "number" in text or "exponent" in text or "integer" in text:
        return int(C.ErrorCode.ILLEGAL_CHARS)
    return int(C.ErrorCode.UNKNOWN)


def _ws_param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_ws_param(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _heiken_ashi(bars: Sequence[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]],
                 tick: Decimal) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    """Heiken-Ashi bars from classic ones (rounded to the tick, half-even)."""
    out: list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]] = []
    prev_open = prev_close = None
    for t, o, h, low, c, v in bars:
        ha_close = ((o + h + low + c) / 4).quantize(tick, ROUND_HALF_EVEN)
        if prev_open is None or prev_close is None:
            ha_open = ((o + c) / 2).quantize(tick, ROUND_HALF_EVEN)
        else:
            ha_open = ((prev_open + prev_close) / 2).quantize(tick, ROUND_HALF_EVEN)
        out.append((t, ha_open, max(h, ha_open, ha_close), min(low, ha_open, ha_close), ha_close, v))
        prev_open, prev_close = ha_open, ha_close
    return out


# =============================================================================================
# one WebSocket session
# =============================================================================================

_SUBSCRIBE = {
    C.WsDestination.MARKET_DATA_SUBSCRIBE.value: "quote",
    C.WsDestination.DEPTH_SUBSCRIBE.value: "depth",
    C.WsDestination.OHLC_SUBSCRIBE.value: "ohlc",
    C.WsDestination.TRADES_SUBSCRIBE.value: "trades",
}
_UNSUBSCRIBE = {
    C.WsDestination.MARKET_DATA_UNSUBSCRIBE.value: "quote",
    C.WsDestination.DEPTH_UNSUBSCRIBE.value: "depth",
    C.WsDestination.OHLC_UNSUBSCRIBE.value: "ohlc",
    C.WsDestination.TRADES_UNSUBSCRIBE.value: "trades",
}
_WS_STATUS = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 418: "TOO_MANY_REQUESTS",
              429: "TOO_MANY_REQUESTS", 500: "INTERNAL_ERROR"}


class _WsSession(WsSessionBase):
    """The state of one socket: subscriptions, a conflating push queue, idle and drop timers."""

    def __init__(self, testnet: DzengiTestnet, ws: WebSocketConnection) -> None:
        super().__init__(testnet.exchange, testnet.faults, ws, idle_timeout_s=testnet.options.ws_idle_timeout_s)
        self.testnet = testnet
        self.quotes: set[str] = set()
        self.depths: set[str] = set()
        self.trades: set[str] = set()
        self.ohlc: dict[str, set[tuple[str, str]]] = {}  # symbol -> {(interval as given, type)}
        self._overflow = False

    def on_event(self, event: object) -> None:
        if isinstance(event, BookChanged):
            if event.symbol in self.quotes or event.symbol in self.depths:
                self._dirty_books.add(event.symbol)
                self.wake()
        elif isinstance(event, TradeExecuted):
            symbol = event.trade.symbol
            if symbol in self.trades or symbol in self.ohlc:
                if len(self._pending_trades) < 10_000:
                    self._pending_trades.append(event.trade)
                else:
                    self._overflow = True
                self.wake()

    async def _bad_request(self, code: int, message: str, envelope: Mapping[str, Any] | None = None) -> None:
        reply: dict[str, Any] = {"status": "BAD_REQUEST"}
        if envelope is not None:
            reply["destination"] = str(envelope.get("destination", ""))
            if envelope.get("correlationId") is not None:
                reply["correlationId"] = envelope["correlationId"]
        reply["payload"] = {"errorCode": code, "errorMessage": message}
        await self.send(reply)

    async def handle_message(self, text: str | bytes) -> None:
        try:
            message = loads_json(text, reject_duplicate_keys=True, parse_float=Decimal)
        except WireFormatError as e:
            await self._bad_request(_ws_format_code(e), f"Malformed request: {e}")
            return
        if not isinstance(message, dict):
            await self._bad_request(int(C.ErrorCode.UNKNOWN), "Expected a JSON object")
            return
        destination = str(message.get("destination", ""))
        correlation = message.get("correlationId")
        payload = message.get("payload")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            await self._bad_request(int(C.ErrorCode.UNKNOWN), "payload must be a JSON object", message)
            return
        reply: dict[str, Any] = {"status": "OK", "destination": destination}
        if correlation is not None:
            reply["correlationId"] = correlation
        try:
            if destination == C.WsDestination.PING.value:
                reply["payload"] = {}
            elif destination in _SUBSCRIBE:
                reply["payload"] = self._subscribe(_SUBSCRIBE[destination], payload)
            elif destination in _UNSUBSCRIBE:
                reply["payload"] = self._unsubscribe(_UNSUBSCRIBE[destination], payload)
            else:
                status, result = self.testnet._ws_request(destination, payload, self.ws.client_host)
                reply["status"] = status
                reply["payload"] = result
        except DzengiError as e:
            reply["status"] = _WS_STATUS.get(e.status, "BAD_REQUEST")
            reply["payload"] = {"errorCode": e.code, "errorMessage": e.msg}
        await self.send(reply)
        if destination in _SUBSCRIBE and reply["status"] == "OK":
            await self._initial_push(_SUBSCRIBE[destination], payload)

    def _symbols(self, payload: Mapping[str, Any]) -> list[str]:
        return _string_list(payload, "symbols", [])

    def _subscribe(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, str] = {}
        instruments = self.testnet.exchange.instruments
        intervals = _string_list(payload, "intervals", ["1m"])
        ohlc_type = str(payload.get("type") or "classic").lower()
        bad_interval = [i for i in intervals if C.WS_INTERVAL_ALIASES.get(str(i), str(i)) not in C.INTERVALS_MS]
        for symbol in self._symbols(payload):
            if symbol not in instruments:
                result[symbol] = "INVALID"
                continue
            if kind == "quote":
                self.quotes.add(symbol)
            elif kind == "depth":
                self.depths.add(symbol)
            elif kind == "trades":
                self.trades.add(symbol)
            else:
                if bad_interval or ohlc_type not in ("classic", "heiken-ashi", "heikin-ashi"):
                    result[symbol] = "INVALID"
                    continue
                self.ohlc.setdefault(symbol, set()).update((str(i), ohlc_type) for i in intervals)
            result[symbol] = "PROCESSED"
        out: dict[str, Any] = {"subscriptions": result}
        if any(v != "PROCESSED" for v in result.values()):
            out["errorCode"] = "INVALID_SYMBOL" if not bad_interval else "INVALID_INTERVAL"
        return out

    def _unsubscribe(self, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, str] = {}
        for symbol in self._symbols(payload):
            target = {"quote": self.quotes, "depth": self.depths, "trades": self.trades}.get(kind)
            if target is not None:
                target.discard(symbol)
            else:
                self.ohlc.pop(symbol, None)
            result[symbol] = "PROCESSED"
        return {"subscriptions": result}

    async def _initial_push(self, kind: str, payload: Mapping[str, Any]) -> None:
        for symbol in self._symbols(payload):
            if symbol not in self.testnet.exchange.instruments:
                continue
            if kind == "quote" and symbol in self.quotes:
                quote = self.testnet.quote_payload(symbol)
                if quote:
                    await self.send({"status": "OK", "destination": C.WsDestination.QUOTE_EVENT.value,
                                     "payload": quote})
            elif kind == "depth" and symbol in self.depths:
                await self.send({"status": "OK", "destination": C.WsDestination.DEPTH_EVENT.value,
                                 "payload": self.testnet.depth_payload(symbol)})
            elif kind == "ohlc":
                for interval, ohlc_type in sorted(self.ohlc.get(symbol, ())):
                    bar = self.testnet.ohlc_payload(symbol, interval, ohlc_type)
                    if bar:
                        await self.send({"status": "OK", "destination": C.WsDestination.OHLC_EVENT.value,
                                         "payload": bar})

    async def push(self) -> None:
        while True:
            await self.wait_for_work()
            trades, self._pending_trades = self._pending_trades, []
            books, self._dirty_books = self._dirty_books, set()
            for trade in trades:
                if trade.symbol in self.trades:
                    await self.send({"status": "OK", "destination": C.WsDestination.TRADE_EVENT.value,
                                     "payload": self.testnet.trade_payload(trade)})
            ohlc_symbols = sorted({t.symbol for t in trades if t.symbol in self.ohlc})
            for symbol in ohlc_symbols:
                for interval, ohlc_type in sorted(self.ohlc.get(symbol, ())):
                    bar = self.testnet.ohlc_payload(symbol, interval, ohlc_type)
                    if bar:
                        await self.send({"status": "OK", "destination": C.WsDestination.OHLC_EVENT.value,
                                         "payload": bar})
            # books conflate: one snapshot per symbol per wakeup, whatever changed in between
            for symbol in sorted(books):
                if symbol in self.quotes:
                    quote = self.testnet.quote_payload(symbol)
                    if quote:
                        await self.send({"status": "OK", "destination": C.WsDestination.QUOTE_EVENT.value,
                                         "payload": quote})
                if symbol in self.depths:
                    await self.send({"status": "OK", "destination": C.WsDestination.DEPTH_EVENT.value,
                                     "payload": self.testnet.depth_payload(symbol)})


# =============================================================================================
# opening, serving and the command line: the kit's
# =============================================================================================

open_dzengi_testnet: Opener[DzengiTestnet, DzengiTestnetOptions] = venue_opener(DzengiTestnet, default_instruments)
"""``async with open_dzengi_testnet(accounts, seed=..., faults=..., options=...) as testnet``: a Dzengi
testnet on 127.0.0.1 for the block (:func:`venues._testnet.kit.venue_opener`, :class:`~venues._testnet.kit.OpenArgs`)."""

serve_dzengi_testnet = serve_dialect
"Serve a testnet until cancelled; ``task_status.started(url)`` (:func:`venues._testnet.kit.serve_dialect`)."

add_testnet_arguments = add_common_arguments
"The ``triotrade testnet dzengi`` options: the kit's (port, accounts file, market, faults)."


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the testnet the parsed ``args`` describe until Ctrl-C (exit code 0; 2 for a bad file)."""
    return run_command(args, DzengiTestnet, default_instruments())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m venues.dzengi.testnet --accounts FILE [--port N] ...``; Ctrl-C exits 0."""
    return testnet_main("dzengi", add_testnet_arguments, run_testnet, argv)


if __name__ == "__main__":
    raise SystemExit(main())
