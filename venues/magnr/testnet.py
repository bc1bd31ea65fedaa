"""The Magnr dialect of the local testnet: the trading API and the underlying exchanges' tickers.

Magnr is a broker: a trade is a leveraged position opened at market on an underlying exchange.
Here each underlying market (``Bitfinex-BTCUSD``, ``Bitstamp-BTCUSD``, ``ItBit-XBTUSD``,
``LOCAL-BTCUSD``) is a book of :class:`backtest.exchange.Exchange` driven by the kit's synthetic
(or replayed) market; the trades themselves, their deposits and fees are this dialect's broker
book, settled into the account's ``BTC`` balance of the accounts file.

REST (``*`` = signed: ``Authorization: Basic base64(public key:signature)`` and ``Tonce``)::

  * GET    /api/v1/trades/          {"trades": [trade, ...]} newest first
  * POST   /api/v1/trades/          201 {"id": n}
  * GET    /api/v1/trades/<id>/     {"trade": trade}
  * DELETE /api/v1/trades/<id>/     {"id": n}  (liquidate an open trade)
    GET    /bitfinex/v1/pubticker/btcusd   GET /bitstamp/api/ticker/
    GET    /itbit/v1/markets/XBTUSD/ticker GET /local/v1/pubticker/btcusd

Checks: the signature over the exact bytes received (scheme case-insensitive), the tonce within
``tonce_window_ms`` of the server clock and never seen before for that key (401); leverage in
{2, 5, 10}, side ``buy``/``sell`` (case-sensitive), ``type`` = ``market``, the exchange/pair
whitelist, size > 0, numbers as JSON numbers (400); not enough BTC (409); deleting a trade that
is not open (409) or unknown (404). Errors are ``{"errors": [...]}``.

Life of a trade: ``pending`` for ``open_delay_ms``, then ``open`` at the underlying's touch (a buy
at the ask, a sell at the bid); ``closed`` by a DELETE (``user``) or by the venue: ``stop`` (the
price moved ``stop_margin`` USD against it), ``limit`` (``take`` USD in its favour), ``trail``
(``trail_margin`` USD back from its best price; an extension of the create call), ``insufficient
funds`` (a daily charge the free balance cannot pay); ``settled`` ``settle_delay_ms`` later at the
touch. The formulas (the document's examples are not consistent, so these are chosen):

* ``deposit = size / leverage`` BTC, held from the create until settlement;
* ``trade_fees = deposit * trade_rate / 100`` BTC (open and close), charged at the create;
* a daily charge of ``deposit * daily_rate / 100`` BTC every ``day_ms`` while open (``daily_fees``);
* ``stop_margin`` defaults to (and may not exceed) ``price / leverage`` USD: the move that costs
  the deposit;
* at settlement the gross result ``±size * (close - open) / close`` BTC (at most the deposit lost)
  is credited with the deposit back; ``profit`` = gross − ``trade_fees`` − ``daily_fees``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import attrs

from backtest.exchange import Account, Exchange, TradeExecuted
from engine import Instrument, WireFormatError, loads_json
from venues._testnet.faults import AnswerFault, FaultSettings
from venues._testnet.kit import Opener, TestnetBase, add_common_arguments, run_command, testnet_main, venue_opener
from venues._testnet.server import HttpRequest, HttpResponse, make_asgi_app
from venues._testnet.state import decode_record, encode_record

from . import constants as C
from .constants import ClosedReason, TradeStatus
from .signer import parse_authorization, verify

__all__ = ["MagnrError", "MagnrTestnet", "MagnrTestnetOptions", "TICKER_PREFIXES", "default_instruments",
           "open_magnr_testnet", "add_testnet_arguments", "run_testnet", "main"]

_SATOSHI = Decimal("0.00000001")
_CENT = Decimal("0.01")
_TRADE_PATH = re.compile(r"/api/v1/trades/([0-9]{1,18})/")
_TICKERS = {"/bitfinex/v1/pubticker/btcusd": "Bitfinex", "/local/v1/pubticker/btcusd": "LOCAL",
            "/bitstamp/api/ticker/": "Bitstamp", "/itbit/v1/markets/XBTUSD/ticker": "ItBit"}
TICKER_PREFIXES = {"Bitfinex": "/bitfinex", "LOCAL": "/local", "Bitstamp": "/bitstamp", "ItBit": "/itbit"}
"Where this testnet serves each underlying exchange's ticker (a host prefix for the gateway's ``ticker_urls``)."
_CREATE_FIELDS = frozenset({"leverage", "side", "exchange", "pair", "stop_margin", "margin", "size", "type", "take",
                            "trail_margin"})


def default_instruments() -> list[Instrument]:
    """The underlying markets, one per (exchange, pair): BTC in USD, tick 0.01, lot 0.001."""
    return [Instrument(C.VENUE, C.symbol_of(exchange, pair), "BTC", "USD", C.TICK_SIZE, C.LOT_SIZE,
                       min_qty=C.LOT_SIZE)
            for exchange, pairs in C.EXCHANGE_PAIRS.items() for pair in pairs]


@attrs.frozen
class MagnrTestnetOptions:
    """Knobs of the Magnr testnet."""

    open_delay_ms: int = 100
    "How long a trade stays ``pending`` before it opens."
    settle_delay_ms: int = 100
    "How long a ``closed`` trade waits for its close price."
    trade_rate: Decimal = attrs.field(default=Decimal("0.48"), converter=Decimal)
    "Percent of the deposit charged at the create (covers open and close)."
    daily_rate: Decimal = attrs.field(default=Decimal("0.2"), converter=Decimal)
    "Percent of the deposit charged every ``day_ms`` while a trade is open."
    day_ms: int = 86_400_000
    "Length of the daily-charge period (shorten it to drill ``insufficient funds``)."
    tonce_window_ms: int = C.TONCE_WINDOW_MS
    accept_microsecond_tonces: bool = False
    "Also take 16-digit (µs) tonces, as the early JavaScript example sent them."
    first_trade_id: int = 1001


@attrs.define(eq=False)
class _Trade:
    """One trade of the broker book (mutable)."""

    id: int
    account: str
    side: int
    "+1 buy, -1 sell."
    size: Decimal
    leverage: int
    exchange: str
    pair: str
    stop_margin: Decimal | None
    take: Decimal | None
    trail_margin: Decimal | None
    deposit: Decimal
    trade_fees: Decimal
    trade_rate: Decimal
    daily_rate: Decimal
    created_ms: int
    status: TradeStatus = TradeStatus.PENDING
    open_price: Decimal | None = None
    best_price: Decimal | None = None
    close_price: Decimal | None = None
    closed_ms: int | None = None
    closed_reason: ClosedReason | None = None
    daily_fees: Decimal = Decimal(0)
    days_charged: int = 0
    profit: Decimal | None = None

    @property
    def symbol(self) -> str:
        return C.symbol_of(self.exchange, self.pair)

    def wire(self) -> dict[str, Any]:
        """The trade object as the API serves it."""
        return {
            "id": self.id, "side": "buy" if self.side > 0 else "sell", "leverage": self.leverage,
            "size": self.size, "deposit": self.deposit, "exchange": self.exchange, "pair": self.pair,
            "created_at": self.created_ms // 1000,
            "closed_at": None if self.closed_ms is None else self.closed_ms // 1000,
            "open_price": self.open_price, "close_price": self.close_price,
            "closed_reason": None if self.closed_reason is None else self.closed_reason.value,
            "trade_rate": self.trade_rate, "daily_rate": self.daily_rate, "trade_fees": self.trade_fees,
            "daily_fees": self.daily_fees, "stop_margin": self.stop_margin, "trail_margin": self.trail_margin,
            "sell_limit": self.take, "status": self.status.value, "profit": self.profit,
        }


class MagnrError(Exception):
    """An error answer: HTTP status and messages."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__(f"{status}: {'; '.join(messages)}")
        self.status = status
        self.messages = list(messages)


class MagnrTestnet(TestnetBase[MagnrTestnetOptions]):
    """Magnr's trading API and the underlying tickers over an :class:`Exchange` (see the module doc)."""

    options_type = MagnrTestnetOptions

    def setup(self) -> None:
        self.trades: dict[int, _Trade] = {}
        "Every trade of every account, by id."
        self.next_id = self.options.first_trade_id
        self.requests = 0
        self.auth_failures = 0
        self._seen_tonces: dict[str, dict[int, int]] = {}
        "API key → tonce → when it may be forgotten (server ms)."
        self.exchange.add_listener(self._on_exchange_event)
        self.app = make_asgi_app(self.handle_http, None,
                                 too_large=lambda limit: HttpResponse.json(413, {"errors": ["request too large"]}))

    def dump_dialect_state(self) -> Any:
        """The broker book (every trade), the next trade id and the tonces seen, by account name."""
        names = {a.api_key: a.name for a in self.accounts.values()}
        return {"next_id": self.next_id, "trades": [encode_record(t) for t in self.trades.values()],
                "tonces": {names[key]: [[t, until] for t, until in seen.items()]
                           for key, seen in self._seen_tonces.items() if key in names}}

    def load_dialect_state(self, raw: Any) -> None:
        """Take back the broker book of a ``--state`` file: trade ids and tonces never repeat after a restart."""
        if not isinstance(raw, dict) or not isinstance(raw.get("trades"), list) \
                or not isinstance(raw.get("next_id"), int) or not isinstance(raw.get("tonces"), dict):
            raise ValueError("malformed magnr state: expected next_id, trades and tonces")
        trades = [decode_record(_Trade, item) for item in raw["trades"]]
        unknown = sorted({t.account for t in trades} - set(self.accounts))
        if unknown:
            raise ValueError(f"magnr state names account {unknown[0]!r}, which the accounts file lacks")
        seen: dict[str, dict[int, int]] = {}
        for name, pairs in raw["tonces"].items():
            if name not in self.accounts or not isinstance(pairs, list) \
                    or not all(isinstance(p, list) and len(p) == 2 and all(type(x) is int for x in p) for p in pairs):
                raise ValueError(f"malformed magnr state: tonces of {name!r}")
            seen[self.accounts[name].api_key] = {t: until for t, until in pairs}
        self.trades = {t.id: t for t in trades}
        self.next_id = max([raw["next_id"], *(t.id + 1 for t in trades)])
        self._seen_tonces = seen

    def banner(self) -> list[str]:
        """URLs, accounts and markets (printed by ``triotrade testnet magnr``)."""
        return [f"magnr testnet REST      {self.url}/api/v1/",
                f"tickers: {', '.join(f'{self.url}{p}' for p in TICKER_PREFIXES.values())}",
                f"accounts: {', '.join(self.accounts)}", f"markets: {', '.join(self.exchange.instruments)}"]

    # -- the broker book -------------------------------------------------------------------------
    def _touch(self, symbol: str, side: int) -> Decimal | None:
        """Where a trade of ``side`` executes now: a buy (or a short's close) at the ask, else the bid."""
        bid, _, ask, _ = self.exchange.best_bid_ask(symbol)
        price = ask if side > 0 else bid
        return price if price is not None else self.exchange.last_price(symbol)

    def _on_exchange_event(self, event: object) -> None:
        # prints move the trades; a book mid-requote (the maker's ladder half up) does not
        if type(event) is TradeExecuted and self._live():
            self.advance()

    def _live(self) -> list[_Trade]:
        return [t for t in self.trades.values() if t.status is not TradeStatus.SETTLED]

    def advance(self) -> None:
        """Move every trade as far as the clock and the prices allow (opens, charges, auto-closes, settles)."""
        now = self.exchange.clock_ms()
        for trade in self._live():
            if trade.status is TradeStatus.PENDING and now >= trade.created_ms + self.options.open_delay_ms:
                price = self._touch(trade.symbol, trade.side)
                if price is not None:
                    trade.status, trade.open_price, trade.best_price = TradeStatus.OPEN, price, price
                    if trade.stop_margin is None:
                        trade.stop_margin = _max_stop(price, trade.leverage)
            if trade.status is TradeStatus.OPEN:
                self._charge_days(trade, now)
            if trade.status is TradeStatus.OPEN:
                self._check_auto_close(trade, now)
            if trade.status is TradeStatus.CLOSED and trade.closed_ms is not None \
                    and now >= trade.closed_ms + self.options.settle_delay_ms:
                self._settle(trade)

    def _charge_days(self, trade: _Trade, now: int) -> None:
        days = (now - trade.created_ms) // self.options.day_ms
        balance = self.accounts[trade.account].balance(C.SETTLE_ASSET)
        while trade.days_charged < days and trade.status is TradeStatus.OPEN:
            charge = (trade.deposit * trade.daily_rate / 100).quantize(_SATOSHI, ROUND_UP)
            if balance.free < charge:
                self._close(trade, ClosedReason.INSUFFICIENT_FUNDS, now)
                return
            balance.total -= charge
            trade.daily_fees += charge
            trade.days_charged += 1

    def _check_auto_close(self, trade: _Trade, now: int) -> None:
        price = self._touch(trade.symbol, -trade.side)  # where it would close
        if price is None or trade.open_price is None:
            return
        favour = (price - trade.open_price) * trade.side
        assert trade.best_price is not None
        if (price - trade.best_price) * trade.side > 0:
            trade.best_price = price
        if trade.stop_margin is not None and -favour >= trade.stop_margin:
            self._close(trade, ClosedReason.STOP, now)
        elif trade.take is not None and favour >= trade.take:
            self._close(trade, ClosedReason.LIMIT, now)
        elif trade.trail_margin is not None and (trade.best_price - price) * trade.side >= trade.trail_margin:
            self._close(trade, ClosedReason.TRAIL, now)

    @staticmethod
    def _close(trade: _Trade, reason: ClosedReason, now: int) -> None:
        trade.status, trade.closed_reason, trade.closed_ms = TradeStatus.CLOSED, reason, now

    def _settle(self, trade: _Trade) -> None:
        price = self._touch(trade.symbol, -trade.side)
        if price is None or trade.open_price is None:
            return
        gross = (trade.size * (price - trade.open_price) * trade.side / price).quantize(_SATOSHI, ROUND_DOWN)
        gross = max(gross, -trade.deposit)
        balance = self.accounts[trade.account].balance(C.SETTLE_ASSET)
        balance.locked -= trade.deposit
        balance.total += gross
        trade.status, trade.close_price = TradeStatus.SETTLED, price
        trade.profit = gross - trade.trade_fees - trade.daily_fees

    # -- HTTP ------------------------------------------------------------------------------------
    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one request (ASGI entry point)."""
        await self.inject_latency()
        self.requests += 1
        try:
            status, body, fault = self._handle(request)
        except MagnrError as e:
            if e.status == 401:
                self.auth_failures += 1
            headers = (("Retry-After", "1"),) if e.status == 429 else ()
            return HttpResponse.json(e.status, {"errors": e.messages}, headers)
        return self.order_answer(HttpResponse.json(status, body), fault)

    def _handle(self, request: HttpRequest) -> tuple[int, Any, AnswerFault | None]:
        if self.faults.force_429(self.elapsed_s()):
            raise MagnrError(429, "too many requests")
        exchange = _TICKERS.get(request.path)
        if exchange is not None and request.method == "GET":
            return 200, self._ticker(exchange), None
        if request.path == C.TRADES_PATH:
            trade_id = None
        else:
            match = _TRADE_PATH.fullmatch(request.path)
            if match is None:
                raise MagnrError(404, f"no such endpoint: {request.path}")
            trade_id = int(match.group(1))
        allowed = ("GET", "POST") if trade_id is None else ("GET", "DELETE")
        if request.method not in allowed:
            raise MagnrError(405, f"{request.method} is not allowed here")
        account = self._authenticate(request)
        self.advance()
        if trade_id is None and request.method == "GET":
            mine = sorted((t for t in self.trades.values() if t.account == account.name), key=lambda t: -t.id)
            return 200, {"trades": [t.wire() for t in mine]}, None
        if trade_id is None:
            created = self._create(account, _json_object(request.body))
            return self._command(201, {"id": created.id})
        trade = self.trades.get(trade_id)
        if trade is None or trade.account != account.name:
            raise MagnrError(404, f"trade {trade_id} not found")
        if request.method == "GET":
            return 200, {"trade": trade.wire()}, None
        if trade.status is not TradeStatus.OPEN:
            raise MagnrError(409, f"trade {trade_id} is {trade.status.value}: only an open trade can be liquidated")
        self._close(trade, ClosedReason.USER, self.exchange.clock_ms())
        return self._command(200, {"id": trade.id})

    def _command(self, status: int, body: Any) -> tuple[int, Any, AnswerFault | None]:
        fault = self.faults.after_order()
        if fault is AnswerFault.ERROR_5XX:
            raise MagnrError(500, "the system encountered an error")
        return status, body, fault

    def _authenticate(self, request: HttpRequest) -> Account:
        for name in ("authorization", "tonce"):
            if name in request.repeated_headers:
                raise MagnrError(401, f"repeated {name} header")
        parsed = parse_authorization(request.headers.get("authorization", ""))
        if parsed is None:
            raise MagnrError(401, "missing or malformed Authorization header")
        public_key, sig = parsed
        tonce_text = request.headers.get("tonce", "")
        if not (tonce_text.isascii() and tonce_text.isdigit() and len(tonce_text) <= 19):
            raise MagnrError(401, "missing or malformed Tonce header")
        account = self.exchange.account_by_api_key(public_key)
        if account is None or account.house:
            raise MagnrError(401, "invalid signature")
        if not verify(account.secret, tonce_text, public_key, request.body, sig):
            raise MagnrError(401, "invalid signature")
        tonce = int(tonce_text)
        tonce_ms = tonce // 1000 if self.options.accept_microsecond_tonces and len(tonce_text) >= 16 else tonce
        now = self.server_time_ms()
        window = self.options.tonce_window_ms
        if abs(tonce_ms - now) > window:
            raise MagnrError(401, f"tonce outside the {window // 60_000} minute window around the server time")
        seen = self._seen_tonces.setdefault(public_key, {})
        for old in [t for t, until in seen.items() if until < now]:
            del seen[old]
        if tonce in seen:
            raise MagnrError(401, "tonce already used")
        seen[tonce] = now + 2 * window
        return account

    # -- create ------------------------------------------------------------------------------------
    def _create(self, account: Account, body: dict[str, Any]) -> _Trade:
        unknown = sorted(set(body) - _CREATE_FIELDS)
        if unknown:
            raise MagnrError(400, f"unknown parameter {unknown[0]!r}")
        side = body.get("side")
        if side not in C.SIDES:
            raise MagnrError(400, "side must be buy or sell (case sensitive)")
        leverage = body.get("leverage", C.DEFAULT_LEVERAGE)
        if type(leverage) is not int or leverage not in C.LEVERAGES:
            raise MagnrError(400, "leverage must be 10, 5 or 2")
        if body.get("type", "market") != "market":
            raise MagnrError(400, "type must be market (the only option at present)")
        exchange, pair = body.get("exchange"), body.get("pair")
        if not isinstance(exchange, str) or exchange not in C.EXCHANGE_PAIRS:
            raise MagnrError(400, f"exchange must be one of {', '.join(C.EXCHANGE_PAIRS)}")
        if pair not in C.EXCHANGE_PAIRS[exchange]:
            raise MagnrError(400, f"pair must be {' or '.join(C.EXCHANGE_PAIRS[exchange])} on {exchange}")
        size = _number(body, "size", required=True)
        assert size is not None
        if size.as_tuple().exponent < -8:  # type: ignore[operator]
            raise MagnrError(400, "size has more than 8 decimals")
        stop = _number(body, "stop_margin") if "stop_margin" in body else _number(body, "margin")
        take, trail = _number(body, "take"), _number(body, "trail_margin")
        symbol = C.symbol_of(exchange, pair)
        side_sign = 1 if side == "buy" else -1
        reference = self._touch(symbol, side_sign)
        if reference is None:
            raise MagnrError(500, f"{exchange} has no price: the exchange failed to accept the trade")
        if stop is not None and stop > _max_stop(reference, leverage):
            raise MagnrError(400, f"stop_margin exceeds what the deposit covers ({_max_stop(reference, leverage)})")
        deposit = (size / leverage).quantize(_SATOSHI, ROUND_UP)
        fees = (deposit * self.options.trade_rate / 100).quantize(_SATOSHI, ROUND_UP)
        balance = account.balance(C.SETTLE_ASSET)
        if balance.free < deposit + fees:
            raise MagnrError(409, f"insufficient funds: the trade needs {deposit + fees} BTC, {balance.free} free")
        balance.locked += deposit
        balance.total -= fees
        trade = _Trade(self.next_id, account.name, side_sign, size, leverage, exchange, pair, stop, take, trail,
                       deposit, fees, self.options.trade_rate, self.options.daily_rate, self.exchange.clock_ms())
        self.next_id += 1
        self.trades[trade.id] = trade
        self.advance()  # with no open delay it opens at once
        return trade

    # -- tickers --------------------------------------------------------------------------------
    def _ticker(self, exchange: str) -> dict[str, Any]:
        symbol = C.symbol_of(exchange, C.EXCHANGE_PAIRS[exchange][0])
        bid, bid_qty, ask, ask_qty = self.exchange.best_bid_ask(symbol)
        last = self.exchange.last_price(symbol)
        if bid is None or ask is None or last is None:
            raise MagnrError(503, f"{exchange}: no market")
        now = self.server_time_ms()
        text = {"bid": str(bid), "ask": str(ask), "last": str(last)}
        if exchange == "Bitstamp":
            return {"high": text["last"], "last": text["last"], "timestamp": str(now // 1000), "bid": text["bid"],
                    "vwap": text["last"], "volume": "0", "low": text["last"], "ask": text["ask"], "open": last}
        if exchange == "ItBit":
            prints = self.exchange.trades(symbol)
            last_amt = str(prints[-1].qty) if prints else "0"
            return {"pair": "XBTUSD", "bid": text["bid"], "bidAmt": str(bid_qty), "ask": text["ask"],
                    "askAmt": str(ask_qty), "lastPrice": text["last"], "lastAmt": last_amt, "volume24h": "0",
                    "volumeToday": "0", "high24h": text["last"], "low24h": text["last"],
                    "highToday": text["last"], "lowToday": text["last"], "openToday": text["last"],
                    "vwapToday": text["last"], "vwap24h": text["last"], "serverTimeUTC": _iso(now)}
        return {"mid": str((bid + ask) / 2), "bid": text["bid"], "ask": text["ask"], "last_price": text["last"],
                "low": text["last"], "high": text["last"], "volume": "0", "timestamp": f"{now / 1000:.3f}"}


def _iso(ms: int) -> str:
    import time

    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return f"{whole}.{ms % 1000:03d}0000Z"


def _max_stop(price: Decimal, leverage: int) -> Decimal:
    return (price / leverage).quantize(_CENT, ROUND_DOWN)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = loads_json(raw, reject_duplicate_keys=True, parse_float=Decimal) if raw else None
    except (WireFormatError, ValueError, UnicodeDecodeError) as e:
        raise MagnrError(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise MagnrError(400, "the body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    """A positive JSON number field (None when absent and not required)."""
    value = body.get(name)
    if value is None:
        if required:
            raise MagnrError(400, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise MagnrError(400, f"{name} must be a number")
    number = Decimal(value)
    if not number.is_finite() or number <= 0 or number > Decimal(10) ** 9:
        raise MagnrError(400, f"{name} must be a positive number")
    return number


# =============================================================================================
# opening, serving, command line
# =============================================================================================


open_magnr_testnet: Opener[MagnrTestnet, MagnrTestnetOptions] = venue_opener(MagnrTestnet, default_instruments)
"""``async with open_magnr_testnet(accounts, seed=..., faults=..., options=...) as testnet``: a Magnr
testnet on 127.0.0.1 for the block (:func:`venues._testnet.kit.venue_opener`)."""


def add_testnet_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``triotrade testnet magnr`` options (the kit's, plus the trade life and the rates)."""
    add_common_arguments(parser)
    defaults = MagnrTestnetOptions()
    parser.add_argument("--open-delay-ms", type=int, default=defaults.open_delay_ms, metavar="MS",
                        help="how long a trade stays pending (default %(default)s)")
    parser.add_argument("--settle-delay-ms", type=int, default=defaults.settle_delay_ms, metavar="MS",
                        help="how long a closed trade waits for its close price (default %(default)s)")
    parser.add_argument("--trade-rate", type=Decimal, default=defaults.trade_rate, metavar="PERCENT",
                        help="percent of the deposit charged per trade (default %(default)s)")
    parser.add_argument("--daily-rate", type=Decimal, default=defaults.daily_rate, metavar="PERCENT",
                        help="percent of the deposit charged per day open (default %(default)s)")
    parser.add_argument("--day-ms", type=int, default=defaults.day_ms, metavar="MS",
                        help="length of the daily-charge period (default one day)")
    parser.add_argument("--accept-us-tonces", action="store_true",
                        help="also accept 16-digit microsecond tonces")


def run_testnet(args: argparse.Namespace) -> int:
    """Serve the testnet the parsed ``args`` describe until Ctrl-C (exit code 0; 2 for a bad file)."""
    options = MagnrTestnetOptions(open_delay_ms=args.open_delay_ms, settle_delay_ms=args.settle_delay_ms,
                                  trade_rate=args.trade_rate, daily_rate=args.daily_rate, day_ms=args.day_ms,
                                  accept_microsecond_tonces=args.accept_us_tonces)

    def make(exchange: Exchange, *, faults: FaultSettings | None) -> MagnrTestnet:
        return MagnrTestnet(exchange, faults=faults, options=options)

    return run_command(args, make, default_instruments())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m venues.magnr.testnet --accounts FILE [--port N] ...``; Ctrl-C exits 0."""
    return testnet_main("magnr", add_testnet_arguments, run_testnet, argv)


if __name__ == "__main__":
    raise SystemExit(main())
