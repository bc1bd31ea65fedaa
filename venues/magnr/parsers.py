"""Magnr's answers and the underlying exchanges' tickers → exact records and engine events.

Every field goes through the venue's :class:`~venues._common.FieldReader`; a missing, null,
mistyped or unbounded field is a :class:`~engine.MalformedMessage` naming the message and the
field. The trade status, side and closed reason are strict (an unknown value is malformed, never
a guess). Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from engine import Instrument, MalformedMessage, Quote, Side, Trade
from venues._common.fields import FieldReader

from .constants import EXCHANGE_PAIRS, VENUE, ClosedReason, TradeStatus, symbol_of

__all__ = ["F", "MagnrTrade", "parse_created", "parse_trade", "parse_trade_answer", "parse_trades",
           "parse_errors", "TICKER_PARSERS"]

F = FieldReader(VENUE, symbol_word="exchange")
"The venue's field decoders."

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?Z")
_STATUSES = {s.value: s for s in TradeStatus}
_REASONS = {r.value: r for r in ClosedReason}


@attrs.frozen(slots=True)
class MagnrTrade:
    """One Magnr trade (a leveraged position) as the venue describes it; money exact."""

    id: str
    side: Side
    size: Decimal
    "Position size, BTC."
    leverage: int
    exchange: str
    pair: str
    status: TradeStatus
    created_at: int
    "Unix seconds (venue clock)."
    deposit: Decimal = Decimal(0)
    "Margin held, BTC."
    open_price: Decimal | None = None
    close_price: Decimal | None = None
    closed_at: int | None = None
    closed_reason: ClosedReason | None = None
    trade_fees: Decimal = Decimal(0)
    "BTC, open and close."
    daily_fees: Decimal = Decimal(0)
    "BTC accrued."
    stop_margin: Decimal | None = None
    take: Decimal | None = None
    "The take-profit distance (``sell_limit``), USD."
    profit: Decimal | None = None
    "BTC, once settled."

    @property
    def symbol(self) -> str:
        return symbol_of(self.exchange, self.pair)

    @property
    def is_open(self) -> bool:
        """Filled and not closed: a position the owner may liquidate."""
        return self.status is TradeStatus.OPEN


def parse_created(obj: object, what: str = "POST /api/v1/trades/") -> str:
    """``{"id": …}`` (a string in the table, a number in the examples: both accepted) → the trade id."""
    return F.string(F.as_object(obj, what), "id", what)


def _opt_int(obj: Mapping[str, Any], name: str, what: str) -> int | None:
    return None if obj.get(name) is None else F.integer(obj, name, what)


def parse_trade(obj: object) -> MagnrTrade:
    """One trade object (see :mod:`venues.magnr.schemas`)."""
    what = "trade"
    t = F.as_object(obj, what)
    side = t.get("side")
    if side not in ("buy", "sell"):
        raise F.malformed(what, f"field 'side' is not buy/sell: {side!r}", t)
    exchange = F.string(t, "exchange", what)
    pairs = EXCHANGE_PAIRS.get(exchange)
    if pairs is None:
        raise F.malformed(what, f"unknown exchange {exchange!r}", t)
    pair = F.string(t, "pair", what) if t.get("pair") is not None else pairs[0]
    if pair not in pairs:
        raise F.malformed(what, f"unknown pair {pair!r} on {exchange}", t)
    raw_status = t.get("status")
    status = _STATUSES.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise F.malformed(what, f"unknown status {t.get('status')!r}", t)
    raw_reason = t.get("closed_reason")
    reason = None
    if raw_reason is not None:
        reason = _REASONS.get(raw_reason) if isinstance(raw_reason, str) else None
        if reason is None:
            raise F.malformed(what, f"unknown closed_reason {raw_reason!r}", t)
    size = F.dec(t, "size", what)
    if size <= 0:
        raise F.malformed(what, f"size is not positive: {size}", t)
    trade = MagnrTrade(
        id=F.string(t, "id", what), side=Side.BUY if side == "buy" else Side.SELL, size=size,
        leverage=F.integer(t, "leverage", what), exchange=exchange, pair=pair, status=status,
        created_at=F.integer(t, "created_at", what), deposit=F.opt_dec(t, "deposit", what) or Decimal(0),
        open_price=F.opt_dec(t, "open_price", what), close_price=F.opt_dec(t, "close_price", what),
        closed_at=_opt_int(t, "closed_at", what), closed_reason=reason,
        trade_fees=F.opt_dec(t, "trade_fees", what) or Decimal(0),
        daily_fees=F.opt_dec(t, "daily_fees", what) or Decimal(0),
        stop_margin=F.opt_dec(t, "stop_margin", what), take=F.opt_dec(t, "sell_limit", what),
        profit=F.opt_dec(t, "profit", what))
    if status is not TradeStatus.PENDING and trade.open_price is None:
        raise F.malformed(what, f"a {status.value} trade without open_price", t)
    if status is TradeStatus.SETTLED and trade.close_price is None:
        raise F.malformed(what, "a settled trade without close_price", t)
    return trade


def parse_trade_answer(obj: object) -> MagnrTrade:
    """``GET /api/v1/trades/:id/`` → ``{"trade": {...}}``."""
    return parse_trade(F.get(F.as_object(obj, "GET trade"), "trade", "GET trade"))


def parse_trades(obj: object, on_error: Callable[[MalformedMessage], None]) -> list[MagnrTrade]:
    """``GET /api/v1/trades/`` → ``{"trades": [...]}``; a malformed trade goes to ``on_error``, the rest stay."""
    what = "GET /api/v1/trades/"
    items = F.as_list(F.get(F.as_object(obj, what), "trades", what), what)
    out: list[MagnrTrade] = []
    for item in items:
        try:
            out.append(parse_trade(item))
        except MalformedMessage as e:
            on_error(e)
    return out


def parse_errors(obj: object) -> list[str]:
    """The messages of an error body ``{"errors": [...]}`` (``[]`` if it is not one)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("errors"), list):
        return []
    return [str(e) for e in obj["errors"]]


# -- the underlying exchanges' public tickers ---------------------------------------------------


def _quote(inst: Instrument, t: Mapping[str, Any], what: str, ts_event_ns: int, ts_recv: int,
           bid_size: str | None = None, ask_size: str | None = None) -> Quote:
    bid = _price(inst, t, "bid", what)
    ask = _price(inst, t, "ask", what)
    if bid <= 0 or ask < bid:
        raise F.malformed(what, f"bid {t.get('bid')!r} / ask {t.get('ask')!r} out of order", t)
    bq = _size(inst, t, bid_size, what) if bid_size else 0
    aq = _size(inst, t, ask_size, what) if ask_size else 0
    return Quote(inst, ts_event_ns, ts_recv, bid, bq, ask, aq)


def _price(inst: Instrument, t: Mapping[str, Any], name: str, what: str) -> int:
    """A ticker price on the instrument's tick (an exchange may quote finer than Magnr trades)."""
    return inst.round_price_raw(F.dec(t, name, what))


def _size(inst: Instrument, t: Mapping[str, Any], name: str, what: str) -> int:
    """A ticker size on the instrument's lot, rounded down; never negative."""
    value = F.dec(t, name, what)
    if value < 0:
        raise F.malformed(what, f"field {name!r} is negative", t)
    return inst.round_qty_raw(value)


def _seconds_ns(value: Decimal) -> int:
    return int(value * 1_000_000_000)


def parse_bitfinex_ticker(obj: object, inst: Instrument, ts_recv: int) -> Quote:
    """Bitfinex ``/v1/pubticker/btcusd``: ``{"mid","bid","ask","last_price","timestamp" (s, fractional),…}``.

    The ticker gives no sizes: the quote's sizes are 0 (unknown)."""
    what = "bitfinex pubticker"
    t = F.as_object(obj, what)
    return _quote(inst, t, what, _seconds_ns(F.dec(t, "timestamp", what)), ts_recv)


def parse_bitstamp_ticker(obj: object, inst: Instrument, ts_recv: int) -> Quote:
    """Bitstamp ``/api/ticker/``: ``{"bid","ask","last","timestamp" (s, string),…}``; no sizes (0)."""
    what = "bitstamp ticker"
    t = F.as_object(obj, what)
    return _quote(inst, t, what, _seconds_ns(F.dec(t, "timestamp", what)), ts_recv)


def parse_itbit_ticker(obj: object, inst: Instrument, ts_recv: int) -> Quote:
    """ItBit ``/v1/markets/XBTUSD/ticker``: ``{"pair","bid","bidAmt","ask","askAmt","serverTimeUTC",…}``."""
    what = "itbit ticker"
    t = F.as_object(obj, what)
    match = _ISO.fullmatch(F.string(t, "serverTimeUTC", what))
    if match is None:
        raise F.malformed(what, "field 'serverTimeUTC' is not an ISO-8601 UTC time", t)
    y, mo, d, h, mi, sec, frac = match.groups()
    try:
        whole = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(sec), 0, 0, 0))
    except ValueError:
        raise F.malformed(what, "field 'serverTimeUTC' is not a valid time", t) from None
    ts = whole * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])
    return _quote(inst, t, what, ts, ts_recv, "bidAmt", "askAmt")


def parse_itbit_last(obj: object, inst: Instrument, ts_recv: int, trade_id: int) -> Trade | None:
    """ItBit's last print (``lastPrice``, ``lastAmt``) as a :class:`~engine.Trade` of unknown
    aggressor (None while ``lastAmt`` is 0: no print yet)."""
    what = "itbit ticker"
    t = F.as_object(obj, what)
    size = _size(inst, t, "lastAmt", what)
    if size <= 0:
        return None
    price = _price(inst, t, "lastPrice", what)
    return Trade(inst, parse_itbit_ticker(t, inst, ts_recv).ts_event, ts_recv, price, size, 0, trade_id)


TICKER_PARSERS: dict[str, Callable[[object, Instrument, int], Quote]] = {
    "Bitfinex": parse_bitfinex_ticker,
    "Bitstamp": parse_bitstamp_ticker,
    "ItBit": parse_itbit_ticker,
    "LOCAL": parse_bitfinex_ticker,
}
"Underlying exchange → its ticker's parser."

TICKER_PATHS: dict[str, str] = {
    "Bitfinex": "/v1/pubticker/btcusd",
    "Bitstamp": "/api/ticker/",
    "ItBit": "/v1/markets/XBTUSD/ticker",
    "LOCAL": "/v1/pubticker/btcusd",
}
"Underlying exchange → its ticker's path (from the exchange's own host)."
