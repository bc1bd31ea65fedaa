"""Ekiden wire messages → engine events.

Every function takes an already decoded message (see :func:`venues.ekiden.schemas.loads`) and
either returns engine events or raises :class:`~engine.MalformedMessage` naming the message, the
field and what was wrong. Nothing here does I/O or reads the clock: ``ts_recv`` is passed in.

Mapping decisions (also in the package README):

* Markets: ``spot`` → :attr:`~engine.InstrumentKind.SPOT`, ``perpetual`` → ``LINEAR`` settled in
  ``settle_asset``. The venue refuses prices and sizes off the tick/lot (error 2000) rather than
  rounding them, so the engine must round first: instruments carry ``price_rounding=HALF_UP`` and
  ``qty_rounding=DOWN`` (a quantity is never rounded up into more risk than asked).
* Numbers are strings; a JSON number where a string is expected is accepted (integers exactly,
  non-integers are decoded as strings by :func:`~venues.ekiden.schemas.loads`), a float never
  appears. Sequences may be strings or integers.
* Order status is strict. ``open`` with a partial fill is ``PARTIALLY_FILLED``.
* A position is ``side`` (long/short) and an unsigned ``size``; the engine's quantity is signed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from engine import (
    WireFormatError,
    wire_decimal,
    wire_int,
    wire_scaled,
    BalanceUpdate,
    BookDelta,
    BookSnapshot,
    Fill,
    Instrument,
    InstrumentKind,
    Liquidity,
    MalformedMessage,
    OrderStatus,
    PositionUpdate,
    Rounding,
    Side,
    Trade,
    redact,
)
from engine import OrderReport

from venues._common.fields import FieldReader, collect_instruments, shown

from .constants import VENUE
from .schemas import ReportedMarketType, VenueLiquidity, VenueOrderStatus, VenueSide, ns_from_iso

__all__ = [
    "malformed",
    "decimal_of",
    "scaled",
    "error_of",
    "unwrap",
    "unwrap_page",
    "parse_server_time",
    "parse_market",
    "parse_markets",
    "parse_orderbook",
    "parse_ws_book",
    "parse_trade",
    "parse_trades",
    "map_status",
    "parse_order",
    "parse_fill",
    "parse_order_update",
    "parse_balances",
    "parse_positions",
]

MAX_PRECISION = 30
"The most decimals a market's tick, lot or ``*_decimals`` may have."


# ---------------------------------------------------------------------------------------------
# field access
# ---------------------------------------------------------------------------------------------


F = FieldReader(VENUE, symbol_word="market")
"This venue's field decoders (:class:`venues._common.fields.FieldReader`)."

malformed = F.malformed
decimal_of = F.decimal_of
_list = F.as_list
_obj = F.as_object
_get = F.get
_str = F.string
_int = F.integer
_bool = F.boolean
_dec = F.dec
_opt_dec = F.opt_dec
_price_raw = F.price_raw
_size_raw = F.size_raw
_instrument = F.instrument
_shown = shown


def _ts(obj: Mapping[str, Any], name: str, what: str) -> int:
    value = _get(obj, name, what)
    try:
        return ns_from_iso(value)
    except ValueError:
        raise malformed(what, f"field {name!r} is not an ISO-8601 UTC timestamp: {value!r}", obj) from None


scaled = wire_scaled
"``value * 10**scale`` as an exact int (:func:`engine.wire_scaled`); ``ValueError`` for anything else."


# ---------------------------------------------------------------------------------------------
# envelopes and errors
# ---------------------------------------------------------------------------------------------


def error_of(body: object) -> tuple[int, str] | None:
    """``{"error_code", "error_message"}`` → ``(code, message)`` (code may arrive as a string); else None."""
    if not isinstance(body, dict) or "error_code" not in body:
        return None
    code = body.get("error_code")
    if isinstance(code, str):
        try:
            code = wire_int(code)
        except WireFormatError:
            return None
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return code, str(body.get("error_message", ""))


def unwrap(body: object, what: str) -> Any:
    """``{"success": true, "data": ...}`` → ``data``."""
    b = _obj(body, what)
    if b.get("success") is not True:
        raise malformed(what, "success is not true", b)
    if "data" not in b:
        raise malformed(what, "missing field 'data'", b)
    return b["data"]


def unwrap_page(body: object, what: str) -> tuple[list[Any], str | None]:
    """A page ``{"success": true, "data": [...], "next_cursor": ...}`` → ``(items, next cursor or None)``."""
    items = _list(unwrap(body, what), what)
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, (str, int))):
        raise malformed(what, "next_cursor is not a string", body)
    return items, (str(cursor) if cursor not in (None, "") else None)


# ---------------------------------------------------------------------------------------------
# reference data
# ---------------------------------------------------------------------------------------------


def parse_server_time(data: object) -> int:
    """``GET /v1/time`` data → server time in ms."""
    return _ts(_obj(data, "time"), "server_time", "time") // 1_000_000


def parse_market(obj: object) -> Instrument:
    """One ``GET /v1/markets`` entry → :class:`Instrument`."""
    what = "market"
    m = _obj(obj, what)
    symbol = _str(m, "market", what)
    what = f"market {symbol!r}"
    market_type = ReportedMarketType(_str(m, "type", what))
    if market_type is ReportedMarketType.UNKNOWN:
        raise malformed(what, f"unsupported market type {m.get('type')!r}", m)
    perpetual = market_type is ReportedMarketType.PERPETUAL
    price_decimals = m.get("price_decimals")
    size_decimals = m.get("size_decimals")
    for name in ("price_decimals", "size_decimals"):
        if m.get(name) is not None and not 0 <= _int(m, name, what) <= MAX_PRECISION:
            raise malformed(what, f"field {name!r} out of range 0..{MAX_PRECISION}", m)
    try:
        inst = Instrument(
            venue=VENUE,
            symbol=symbol,
            base=_str(m, "base_asset", what),
            quote=_str(m, "quote_asset", what),
            tick_size=_dec(m, "tick_size", what),
            lot_size=_dec(m, "lot_size", what),
            kind=InstrumentKind.LINEAR if perpetual else InstrumentKind.SPOT,
            settle=str(m.get("settle_asset") or ""),
            min_qty=_opt_dec(m, "min_size", what) or Decimal(0),
            max_qty=_opt_dec(m, "max_size", what),
            min_notional=_opt_dec(m, "min_notional", what) or Decimal(0),
            price_precision=_int(m, "price_decimals", what) if price_decimals is not None else -1,
            qty_precision=_int(m, "size_decimals", what) if size_decimals is not None else -1,
            price_rounding=Rounding.HALF_UP,
            qty_rounding=Rounding.DOWN,
            max_leverage=_opt_dec(m, "max_leverage", what) if perpetual else None,
            maker_fee=_opt_dec(m, "maker_fee", what) or Decimal(0),
            taker_fee=_opt_dec(m, "taker_fee", what) or Decimal(0),
        )
    except (TypeError, ValueError, ArithmeticError) as e:
        raise malformed(what, str(e) or type(e).__name__, m) from None
    if inst.price_scale > MAX_PRECISION or inst.size_scale > MAX_PRECISION:
        raise malformed(what, f"tick or lot finer than {MAX_PRECISION} decimals", m)
    return inst


def parse_markets(data: object, on_error: Callable[[MalformedMessage], None]) -> dict[str, Instrument]:
    """``GET /v1/markets`` data → instruments by market name. A bad entry is reported and skipped."""
    return collect_instruments(_list(data, "markets"), parse_market, on_error)


# ---------------------------------------------------------------------------------------------
# market data
# ---------------------------------------------------------------------------------------------


def _levels(inst: Instrument, rows: object, what: str, obj: object) -> list[tuple[int, int]]:
    out = []
    for row in _list(rows, what):
        if not isinstance(row, list) or len(row) != 2:
            raise malformed(what, f"level is not [price, size]: {row!r}", obj)
        out.append((_price_raw(inst, row[0], "price", what, obj), _size_raw(inst, row[1], "size", what, obj)))
    return out


def parse_orderbook(data: object, inst: Instrument, ts_recv: int, depth: int | None = None) -> BookSnapshot:
    """``GET /v1/orderbook`` data (or a WebSocket snapshot's data) → :class:`BookSnapshot`."""
    what = f"orderbook {inst.symbol}"
    d = _obj(data, what)
    bids = sorted(_levels(inst, _get(d, "bids", what), what, d), key=lambda lv: -lv[0])
    asks = sorted(_levels(inst, _get(d, "asks", what), what, d))
    if depth is not None:
        bids, asks = bids[:depth], asks[:depth]
    return BookSnapshot(inst, _ts(d, "timestamp", what), ts_recv, _int(d, "sequence", what), tuple(bids), tuple(asks))


def parse_ws_book(frame: Mapping[str, Any], instruments: Mapping[str, Instrument],
                  ts_recv: int) -> BookSnapshot | BookDelta:
    """An ``orderbook`` frame: ``snapshot`` → :class:`BookSnapshot`, ``update`` → :class:`BookDelta`."""
    what = "orderbook frame"
    inst = _instrument(instruments, _str(frame, "market", what), what, frame)
    data = _obj(_get(frame, "data", what), what)
    if frame.get("type") == "snapshot":
        return parse_orderbook(data, inst, ts_recv)
    bids = tuple(_levels(inst, data.get("bids", []), what, frame))
    asks = tuple(_levels(inst, data.get("asks", []), what, frame))
    return BookDelta(inst, _ts(data, "timestamp", what), ts_recv, _int(data, "sequence", what), bids, asks)


def parse_trade(obj: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Trade:
    """A public trade (REST or WebSocket) → :class:`Trade` (``side`` is the taker's)."""
    what = "trade"
    t = _obj(obj, what)
    inst = _instrument(instruments, _str(t, "market", what), what, t)
    side = t.get("side")
    aggressor = 1 if side == VenueSide.BUY.value else -1 if side == VenueSide.SELL.value else 0
    trade_id = t.get("trade_id")
    tid = trade_id if type(trade_id) is int else (
        int(trade_id) if isinstance(trade_id, str) and trade_id.isascii() and trade_id.isdigit()
        and len(trade_id) <= 20 else 0)
    return Trade(inst, _ts(t, "timestamp", what), ts_recv, _price_raw(inst, _get(t, "price", what), "price", what, t),
                 _size_raw(inst, _get(t, "size", what), "size", what, t), aggressor, tid)


def parse_trades(data: object, instruments: Mapping[str, Instrument], ts_recv: int) -> list[Trade]:
    """A list of public trades (a ``trades`` frame's data or a page)."""
    return [parse_trade(t, instruments, ts_recv) for t in _list(data, "trades")]


# ---------------------------------------------------------------------------------------------
# orders and fills
# ---------------------------------------------------------------------------------------------

_STATUS: dict[VenueOrderStatus, OrderStatus] = {
    VenueOrderStatus.OPEN: OrderStatus.ACCEPTED,
    VenueOrderStatus.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    VenueOrderStatus.FILLED: OrderStatus.FILLED,
    VenueOrderStatus.CANCELED: OrderStatus.CANCELED,
    VenueOrderStatus.EXPIRED: OrderStatus.EXPIRED,
    VenueOrderStatus.REJECTED: OrderStatus.REJECTED,
}


def map_status(value: object, filled: Decimal, size: Decimal, what: str, obj: object = None) -> OrderStatus:
    """Venue order status → engine status, strictly. ``open`` with fills is PARTIALLY_FILLED."""
    try:
        venue_status = VenueOrderStatus(value)
    except ValueError:
        raise malformed(what, f"unknown order status {value!r}", obj) from None
    status = _STATUS[venue_status]
    if status is OrderStatus.ACCEPTED and 0 < filled < size:
        return OrderStatus.PARTIALLY_FILLED
    return status


def _side(value: object, what: str, obj: object) -> Side:
    try:
        return Side.BUY if VenueSide(value) is VenueSide.BUY else Side.SELL
    except ValueError:
        raise malformed(what, f"unknown side {value!r}", obj) from None


def parse_fill(obj: object, instruments: Mapping[str, Instrument], ts_recv: int,
               client_id_of: Callable[[str], str] | None = None) -> Fill:
    """One of our fills (REST page or WebSocket) → :class:`Fill` (``fill_id`` is the dedup key)."""
    what = "fill"
    f = _obj(obj, what)
    inst = _instrument(instruments, _str(f, "market", what), what, f)
    venue_id = _str(f, "order_id", what)
    client_id = str(f.get("client_order_id") or "")
    if not client_id and client_id_of is not None:
        client_id = client_id_of(venue_id)
    try:
        liquidity = Liquidity.MAKER if VenueLiquidity(f.get("liquidity")) is VenueLiquidity.MAKER else Liquidity.TAKER
    except ValueError:
        raise malformed(what, f"unknown liquidity {f.get('liquidity')!r}", f) from None
    size = _dec(f, "size", what)
    if size <= 0:
        raise malformed(what, f"fill size must be positive, got {size}", f)
    price = _dec(f, "price", what)
    # the engine books fills as the instrument's scaled integers: check they fit before it does
    _price_raw(inst, f["price"], "price", what, f)
    _size_raw(inst, f["size"], "size", what, f)
    return Fill(
        instrument=inst,
        ts_event=_ts(f, "timestamp", what),
        ts_recv=ts_recv,
        client_order_id=client_id,
        venue_order_id=venue_id,
        trade_id=_str(f, "fill_id", what),
        side=_side(_get(f, "side", what), what, f),
        price=price,
        qty=size,
        fee=_opt_dec(f, "fee", what) or Decimal(0),
        fee_asset=str(f.get("fee_asset") or ""),
        liquidity=liquidity,
    )


def parse_order(obj: object, instruments: Mapping[str, Instrument], ts_recv: int,
                client_id_of: Callable[[str], str] | None = None,
                fills: tuple[Fill, ...] = ()) -> OrderReport:
    """An order object (any answer or the stream) → :class:`OrderReport`.

    The venue echoes our ``client_order_id``; for an order placed without one, ``client_id_of``
    maps the venue id back (or the id stays empty).
    """
    what = "order"
    o = _obj(obj, what)
    inst = _instrument(instruments, _str(o, "market", what), what, o)
    venue_id = _str(o, "order_id", what)
    size = _dec(o, "size", what)
    filled = _dec(o, "filled_size", what)
    if filled < 0 or filled > size:
        raise malformed(what, f"filled_size {filled} outside 0..{size}", o)
    status = map_status(_get(o, "status", what), filled, size, what, o)
    _side(_get(o, "side", what), what, o)
    client_id = str(o.get("client_order_id") or "")
    if not client_id and client_id_of is not None:
        client_id = client_id_of(venue_id)
    avg = _opt_dec(o, "average_price", what) if filled else None
    ts_event = _ts(o, "updated_at", what) if o.get("updated_at") is not None else ts_recv
    return OrderReport(inst, ts_event, ts_recv, client_id, venue_id, status, filled, avg,
                       str(o.get("reason") or ""), fills)


def parse_order_update(data: object, instruments: Mapping[str, Instrument], ts_recv: int,
                       client_id_of: Callable[[str], str] | None = None) -> OrderReport:
    """A private ``orders`` frame's data ``{"order": ..., "fills": [...]}`` → report with its fills."""
    what = "orders update"
    d = _obj(data, what)
    fills = tuple(parse_fill(f, instruments, ts_recv, client_id_of) for f in _list(d.get("fills", []), what))
    return parse_order(_get(d, "order", what), instruments, ts_recv, client_id_of, fills)


# ---------------------------------------------------------------------------------------------
# account state
# ---------------------------------------------------------------------------------------------


def parse_balances(data: object, account: str, ts_recv: int) -> list[BalanceUpdate]:
    """``GET /v1/balances`` data → one :class:`BalanceUpdate` per asset (free = ``available``)."""
    out = []
    for b in _list(data, "balances"):
        b = _obj(b, "balance")
        out.append(BalanceUpdate(VENUE, account, _str(b, "asset", "balance"), ts_recv, ts_recv,
                                 _dec(b, "available", "balance"), _opt_dec(b, "locked", "balance") or Decimal(0)))
    return out


def parse_positions(data: object, instruments: Mapping[str, Instrument], ts_recv: int,
                    on_error: Callable[[MalformedMessage], None]) -> list[PositionUpdate]:
    """``GET /v1/positions`` data → signed :class:`PositionUpdate` per market. A bad entry is reported and skipped."""
    out = []
    for entry in _list(data, "positions"):
        try:
            p = _obj(entry, "position")
            inst = _instrument(instruments, _str(p, "market", "position"), "position", p)
            side = _str(p, "side", "position")
            if side not in ("long", "short"):
                raise malformed("position", f"unknown side {side!r}", p)
            size = _dec(p, "size", "position")
            ts_event = _ts(p, "updated_at", "position") if p.get("updated_at") is not None else ts_recv
            out.append(PositionUpdate(inst, ts_event, ts_recv, size if side == "long" else -size,
                                      _dec(p, "entry_price", "position"),
                                      _opt_dec(p, "unrealized_pnl", "position") or Decimal(0),
                                      _opt_dec(p, "leverage", "position"), inst.symbol))
        except MalformedMessage as e:
            on_error(e)
    return out
