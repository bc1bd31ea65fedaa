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

from engine import (BalanceUpdate, BookDelta, BookSnapshot, Fill, Instrument, InstrumentKind, Liquidity,
                    MalformedMessage, OrderStatus, PositionUpdate, Rounding, Side, Trade, WireFormatError,
                    wire_int)
from engine import OrderReport

from venues._common.fields import FieldReader, collect_instruments, shown

from .constants import VENUE
from .schemas import ReportedMarketType, VenueLiquidity, VenueOrderStatus, VenueSide, ns_from_iso

__all__ = ["malformed", "decimal_of", "error_of", "unwrap", "unwrap_page", "parse_server_time",
           "parse_market", "parse_markets", "parse_orderbook", "parse_ws_book", "parse_trade", "parse_trades",
           "map_status", "parse_order", "parse_fill", "parse_order_update", "parse_balances",
           "parse_positions"]

MAX_PRECISION = 30
"The most decimals a market's tick, lot or ``*_decimals`` may have."


# ---------------------------------------------------------------------------------------------
# field access
# ---------------------------------------------------------------------------------------------


F = FieldReader(VENUE, symbol_word="market")
"This venue's field decoders (:class:`venues._common.fields.FieldReader`)."

malformed = F.malformed
decimal_of = F.decimal_of


def _ts(obj: Mapping[str, Any], name: str, what: str) -> int:
    value = F.get(obj, name, what)
    try:
        return ns_from_iso(value)
    except ValueError:
        raise malformed(what, f"field {name!r} is not an ISO-8601 UTC timestamp: {value!r}", obj) from None


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
    b = F.as_object(body, what)
    if b.get("success") is not True:
        raise malformed(what, "success is not true", b)
    if "data" not in b:
        raise malformed(what, "missing field 'data'", b)
    return b["data"]


def unwrap_page(body: object, what: str) -> tuple[list[Any], str | None]:
    """A page ``{"success": true, "data": [...], "next_cursor": ...}`` → ``(items, next cursor or None)``."""
    items = F.as_list(unwrap(body, what), what)
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, (str, int))):
        raise malformed(what, "next_cursor is not a string", body)
    return items, (str(cursor) if cursor not in (None, "") else None)


# ---------------------------------------------------------------------------------------------
# reference data
# ---------------------------------------------------------------------------------------------


def parse_server_time(data: object) -> int:
    """``GET /v1/time`` data → server time in ms."""
    return _ts(F.as_object(data, "time"), "server_time", "time") // 1_000_000


def parse_market(obj: object) -> Instrument:
    """One ``GET /v1/markets`` entry → :class:`Instrument`."""
    what = "market"
    m = F.as_object(obj, what)
    symbol = F.string(m, "market", what)
    what = f"market {symbol!r}"
    market_type = ReportedMarketType(F.string(m, "type", what))
    if market_type is ReportedMarketType.UNKNOWN:
        raise malformed(what, f"unsupported market type {m.get('type')!r}", m)
    perpetual = market_type is ReportedMarketType.PERPETUAL
    price_decimals = m.get("price_decimals")
    size_decimals = m.get("size_decimals")
    for name in ("price_decimals", "size_decimals"):
        if m.get(name) is not None and not 0 <= F.integer(m, name, what) <= MAX_PRECISION:
            raise malformed(what, f"field {name!r} out of range 0..{MAX_PRECISION}", m)
    return F.new_instrument(
        what, m, MAX_PRECISION,
            symbol=symbol,
        base=F.string(m, "base_asset", what),
        quote=F.string(m, "quote_asset", what),
        tick_size=F.dec(m, "tick_size", what),
        lot_size=F.dec(m, "lot_size", what),
        kind=InstrumentKind.LINEAR if perpetual else InstrumentKind.SPOT,
        settle=str(m.get("settle_asset") or ""),
        min_qty=F.opt_dec(m, "min_size", what) or Decimal(0),
        max_qty=F.opt_dec(m, "max_size", what),
        min_notional=F.opt_dec(m, "min_notional", what) or Decimal(0),
        price_precision=F.integer(m, "price_decimals", what) if price_decimals is not None else -1,
        qty_precision=F.integer(m, "size_decimals", what) if size_decimals is not None else -1,
        price_rounding=Rounding.HALF_UP,
        qty_rounding=Rounding.DOWN,
        max_leverage=F.opt_dec(m, "max_leverage", what) if perpetual else None,
        maker_fee=F.opt_dec(m, "maker_fee", what) or Decimal(0),
        taker_fee=F.opt_dec(m, "taker_fee", what) or Decimal(0),
    )


def parse_markets(data: object, on_error: Callable[[MalformedMessage], None]) -> dict[str, Instrument]:
    """``GET /v1/markets`` data → instruments by market name. A bad entry is reported and skipped."""
    return collect_instruments(F.as_list(data, "markets"), parse_market, on_error)


# ---------------------------------------------------------------------------------------------
# market data
# ---------------------------------------------------------------------------------------------


def parse_orderbook(data: object, inst: Instrument, ts_recv: int, depth: int | None = None) -> BookSnapshot:
    """``GET /v1/orderbook`` data (or a WebSocket snapshot's data) → :class:`BookSnapshot`."""
    what = f"orderbook {inst.symbol}"
    d = F.as_object(data, what)
    bids, asks = F.book(inst, d, what, depth)
    return BookSnapshot(inst, _ts(d, "timestamp", what), ts_recv, F.integer(d, "sequence", what), bids,
                        asks)


def parse_ws_book(frame: Mapping[str, Any], instruments: Mapping[str, Instrument],
                  ts_recv: int) -> BookSnapshot | BookDelta:
    """An ``orderbook`` frame: ``snapshot`` → :class:`BookSnapshot`, ``update`` → :class:`BookDelta`."""
    what = "orderbook frame"
    inst = F.instrument(instruments, F.string(frame, "market", what), what, frame)
    data = F.as_object(F.get(frame, "data", what), what)
    if frame.get("type") == "snapshot":
        return parse_orderbook(data, inst, ts_recv)
    bids = tuple(F.levels(inst, data.get("bids", []), what, frame))
    asks = tuple(F.levels(inst, data.get("asks", []), what, frame))
    return BookDelta(inst, _ts(data, "timestamp", what), ts_recv, F.integer(data, "sequence", what), bids, asks)


def parse_trade(obj: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Trade:
    """A public trade (REST or WebSocket) → :class:`Trade` (``side`` is the taker's)."""
    what = "trade"
    t = F.as_object(obj, what)
    inst = F.instrument(instruments, F.string(t, "market", what), what, t)
    side = t.get("side")
    aggressor = 1 if side == VenueSide.BUY.value else -1 if side == VenueSide.SELL.value else 0
    trade_id = t.get("trade_id")
    tid = trade_id if type(trade_id) is int else (
        int(trade_id) if isinstance(trade_id, str) and trade_id.isascii() and trade_id.isdigit()
        and len(trade_id) <= 20 else 0)
    return Trade(inst, _ts(t, "timestamp", what), ts_recv, F.price_raw(inst, F.get(t, "price", what), "price", what, t),
                 F.size_raw(inst, F.get(t, "size", what), "size", what, t), aggressor, tid)


def parse_trades(data: object, instruments: Mapping[str, Instrument], ts_recv: int) -> list[Trade]:
    """A list of public trades (a ``trades`` frame's data or a page)."""
    return [parse_trade(t, instruments, ts_recv) for t in F.as_list(data, "trades")]


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
    return F.order_status(_STATUS, VenueOrderStatus, value, 0 < filled < size, what, obj)


def _side(value: object, what: str, obj: object) -> Side:
    return Side.BUY if F.member(VenueSide, value, "side", what, obj) is VenueSide.BUY else Side.SELL


def parse_fill(obj: object, instruments: Mapping[str, Instrument], ts_recv: int,
               client_id_of: Callable[[str], str] | None = None) -> Fill:
    """One of our fills (REST page or WebSocket) → :class:`Fill` (``fill_id`` is the dedup key)."""
    what = "fill"
    f = F.as_object(obj, what)
    inst = F.instrument(instruments, F.string(f, "market", what), what, f)
    venue_id = F.string(f, "order_id", what)
    client_id = str(f.get("client_order_id") or "")
    if not client_id and client_id_of is not None:
        client_id = client_id_of(venue_id)
    try:
        liquidity = Liquidity.MAKER if VenueLiquidity(f.get("liquidity")) is VenueLiquidity.MAKER else Liquidity.TAKER
    except ValueError:
        raise malformed(what, f"unknown liquidity {f.get('liquidity')!r}", f) from None
    size = F.dec(f, "size", what)
    if size <= 0:
        raise malformed(what, f"fill size must be positive, got {size}", f)
    price = F.dec(f, "price", what)
    # the engine books fills as the instrument's scaled integers: check they fit before it does
    F.price_raw(inst, f["price"], "price", what, f)
    F.size_raw(inst, f["size"], "size", what, f)
    return Fill(
        instrument=inst,
        ts_event=_ts(f, "timestamp", what),
        ts_recv=ts_recv,
        client_order_id=client_id,
        venue_order_id=venue_id,
        trade_id=F.string(f, "fill_id", what),
        side=_side(F.get(f, "side", what), what, f),
        price=price,
        qty=size,
        fee=F.opt_dec(f, "fee", what) or Decimal(0),
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
    o = F.as_object(obj, what)
    inst = F.instrument(instruments, F.string(o, "market", what), what, o)
    venue_id = F.string(o, "order_id", what)
    size = F.dec(o, "size", what)
    filled = F.dec(o, "filled_size", what)
    if filled < 0 or filled > size:
        raise malformed(what, f"filled_size {filled} outside 0..{size}", o)
    status = map_status(F.get(o, "status", what), filled, size, what, o)
    _side(F.get(o, "side", what), what, o)
    client_id = str(o.get("client_order_id") or "")
    if not client_id and client_id_of is not None:
        client_id = client_id_of(venue_id)
    avg = F.opt_dec(o, "average_price", what) if filled else None
    ts_event = _ts(o, "updated_at", what) if o.get("updated_at") is not None else ts_recv
    return OrderReport(inst, ts_event, ts_recv, client_id, venue_id, status, filled, avg,
                       str(o.get("reason") or ""), fills)


def parse_order_update(data: object, instruments: Mapping[str, Instrument], ts_recv: int,
                       client_id_of: Callable[[str], str] | None = None) -> OrderReport:
    """A private ``orders`` frame's data ``{"order": ..., "fills": [...]}`` → report with its fills."""
    what = "orders update"
    d = F.as_object(data, what)
    fills = tuple(parse_fill(f, instruments, ts_recv, client_id_of) for f in F.as_list(d.get("fills", []), what))
    return parse_order(F.get(d, "order", what), instruments, ts_recv, client_id_of, fills)


# ---------------------------------------------------------------------------------------------
# account state
# ---------------------------------------------------------------------------------------------


def parse_balances(data: object, account: str, ts_recv: int) -> list[BalanceUpdate]:
    """``GET /v1/balances`` data → one :class:`BalanceUpdate` per asset (free = ``available``)."""
    out = []
    for b in F.as_list(data, "balances"):
        b = F.as_object(b, "balance")
        out.append(BalanceUpdate(VENUE, account, F.string(b, "asset", "balance"), ts_recv, ts_recv,
                                 F.dec(b, "available", "balance"), F.opt_dec(b, "locked", "balance") or Decimal(0)))
    return out


def parse_positions(data: object, instruments: Mapping[str, Instrument], ts_recv: int,
                    on_error: Callable[[MalformedMessage], None]) -> list[PositionUpdate]:
    """``GET /v1/positions`` data → signed :class:`PositionUpdate` per market. A bad entry is reported and skipped."""
    out = []
    for entry in F.as_list(data, "positions"):
        try:
            p = F.as_object(entry, "position")
            inst = F.instrument(instruments, F.string(p, "market", "position"), "position", p)
            side = F.string(p, "side", "position")
            if side not in ("long", "short"):
                raise malformed("position", f"unknown side {side!r}", p)
            size = F.dec(p, "size", "position")
            ts_event = _ts(p, "updated_at", "position") if p.get("updated_at") is not None else ts_recv
            out.append(PositionUpdate(inst, ts_event, ts_recv, size if side == "long" else -size,
                                      F.dec(p, "entry_price", "position"),
                                      F.opt_dec(p, "unrealized_pnl", "position") or Decimal(0),
                                      F.opt_dec(p, "leverage", "position"), inst.symbol))
        except MalformedMessage as e:
            on_error(e)
    return out
