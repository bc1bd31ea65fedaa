"""Dzengi wire messages → engine events.

Every function takes an already decoded message (see :func:`venues.dzengi.schemas.loads`) and
either returns engine events or raises :class:`~engine.MalformedMessage` naming the message, the
field and what was wrong. Nothing here does I/O or reads the clock: ``ts_recv`` is passed in.

Mapping decisions (also in the package README):

* Instruments: tick from ``PRICE_FILTER.tickSize``, else the symbol's ``tickSize``, else
  ``10**-quotePrecision``; lot from ``LOT_SIZE.stepSize``, else ``10**-baseAssetPrecision``.
  The venue rounds an over-precise quantity **down** and an over-precise price **up**, so the
  instruments carry ``qty_rounding=DOWN`` and ``price_rounding=CEILING``. ``LEVERAGE`` markets are
  linear contracts settled in the quote asset; fees are published in percent.
* Order status is strict; ``NEW``/``CREATED``/``MODIFIED`` with a partial execution is
  ``PARTIALLY_FILLED``. ``executedQty`` is read as an absolute value (SELL answers may be negative).
* ``account.updateTime`` is in seconds; everything else is in milliseconds.
* Positions are netted per symbol (hedged positions on one symbol add up); the ids of the venue
  positions are kept, comma separated, in ``position_id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from engine import (BalanceUpdate, Bar, BookSnapshot, Fill, Instrument, InstrumentKind, Liquidity,
                    MalformedMessage, OrderStatus, PositionUpdate, Quote, Rounding, Side, Trade,
                    WireFormatError, wire_int, wire_scaled)
from engine import OrderReport

from venues._common.fields import FieldReader, collect_instruments, shown

from .constants import INTERVALS_MS, LEVERAGE_SUFFIX, VENUE, WS_INTERVAL_ALIASES
from .schemas import MarketType, VenueOrderStatus, VenueSide, loads

__all__ = ["MS", "malformed", "as_list", "scaled", "decimal_of", "parse_server_time", "parse_rate_limits",
           "parse_instrument", "parse_instruments", "parse_depth", "parse_ws_depth", "parse_agg_trade",
           "parse_ws_trade", "parse_ws_quote", "parse_ws_ohlc", "parse_kline", "interval_name", "interval_ms",
           "map_status", "parse_new_order", "parse_cancel_order", "parse_open_order", "parse_fetch_order",
           "parse_my_trade", "parse_account", "parse_positions", "error_of"]

MS = 1_000_000
"Nanoseconds per millisecond."

MAX_PRECISION = 30
"The largest ``quotePrecision``/``baseAssetPrecision`` (decimal places) an instrument may have."


# ---------------------------------------------------------------------------------------------
# field access
# ---------------------------------------------------------------------------------------------


F = FieldReader(VENUE, signed_int_strings=True)
"This venue's field decoders (:class:`venues._common.fields.FieldReader`)."

malformed = F.malformed
decimal_of = F.decimal_of
as_list = F.as_list


def _precision(obj: Mapping[str, Any], name: str, what: str, default: int | None = None) -> int:
    if default is not None and obj.get(name) is None:
        return default
    value = F.integer(obj, name, what)
    if abs(value) > MAX_PRECISION:
        raise malformed(what, f"field {name!r} out of range: {value}", obj)
    return value


scaled = wire_scaled
"``value * 10**scale`` as an exact int (:func:`engine.wire_scaled`); ``ValueError`` for anything else."


# ---------------------------------------------------------------------------------------------
# reference data
# ---------------------------------------------------------------------------------------------


def parse_server_time(obj: object) -> int:
    """``GET time`` → server time in ms."""
    return F.integer(F.as_object(obj, "time"), "serverTime", "time")


def parse_rate_limits(obj: object) -> dict[str, list[tuple[int, int]]]:
    """``exchangeInfo.rateLimits`` → ``{type: [(limit, window_ms), ...]}``."""
    units = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}
    out: dict[str, list[tuple[int, int]]] = {}
    for item in as_list(F.as_object(obj, "exchangeInfo").get("rateLimits", []), "exchangeInfo.rateLimits"):
        item = F.as_object(item, "exchangeInfo.rateLimits")
        unit = units.get(F.string(item, "interval", "rateLimit"))
        if unit is None:
            continue
        window = unit * F.integer(item, "intervalNum", "rateLimit")
        out.setdefault(F.string(item, "rateLimitType", "rateLimit"), []).append((F.integer(item, "limit", "rateLimit"), window))
    return out


def _step_of_precision(precision: int) -> Decimal:
    return Decimal(1).scaleb(-precision)


def _positive_or_none(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


def parse_instrument(symbol_info: object) -> Instrument:
    """One ``exchangeInfo.symbols`` entry → :class:`Instrument` with the venue's rounding rules."""
    what = "exchangeInfo.symbols[]"
    s = F.as_object(symbol_info, what)
    symbol = F.string(s, "symbol", what)
    what = f"exchangeInfo symbol {symbol!r}"
    filters: dict[str, dict[str, Any]] = {}
    for f in as_list(s.get("filters", []), what):
        f = F.as_object(f, what)
        filters[str(f.get("filterType", ""))] = f
    lot = filters.get("LOT_SIZE", {})
    price_filter = filters.get("PRICE_FILTER", {})
    quote_precision = _precision(s, "quotePrecision", what)
    base_precision = _precision(s, "baseAssetPrecision", what, default=quote_precision)
    tick = (_positive_or_none(F.opt_dec(price_filter, "tickSize", what))
            or _positive_or_none(F.opt_dec(s, "tickSize", what))
            or _step_of_precision(quote_precision))
    step = _positive_or_none(F.opt_dec(lot, "stepSize", what)) or _step_of_precision(base_precision)
    market_type = MarketType(s.get("marketType", "UNKNOWN"))
    leveraged = market_type is MarketType.LEVERAGE or (
        market_type is MarketType.UNKNOWN and symbol.endswith(LEVERAGE_SUFFIX))
    if leveraged:
        maker_pct = F.opt_dec(s, "makerFee", what) or F.opt_dec(s, "tradingFee", what) or Decimal(0)
        taker_pct = F.opt_dec(s, "takerFee", what) or F.opt_dec(s, "tradingFee", what) or Decimal(0)
    else:
        maker_pct = taker_pct = F.opt_dec(s, "exchangeFee", what) or Decimal(0)
    return F.new_instrument(
        what, s, MAX_PRECISION,
            symbol=symbol,
        base=F.string(s, "baseAsset", what),
        quote=F.string(s, "quoteAsset", what),
        tick_size=tick,
        lot_size=step,
        kind=InstrumentKind.LINEAR if leveraged else InstrumentKind.SPOT,
        min_qty=F.opt_dec(lot, "minQty", what) or Decimal(0),
        max_qty=_positive_or_none(F.opt_dec(lot, "maxQty", what)),
        min_notional=F.opt_dec(filters.get("MIN_NOTIONAL", {}), "minNotional", what) or Decimal(0),
        price_precision=max(quote_precision, 0),
        qty_precision=max(base_precision, 0),
        price_rounding=Rounding.CEILING,
        qty_rounding=Rounding.DOWN,
        maker_fee=maker_pct / 100,
        taker_fee=taker_pct / 100,
    )


def parse_instruments(exchange_info: object, on_error: Callable[[MalformedMessage], None]) -> dict[str, Instrument]:
    """``exchangeInfo`` → instruments by symbol. A bad symbol entry is reported and skipped."""
    info = F.as_object(exchange_info, "exchangeInfo")
    return collect_instruments(as_list(F.get(info, "symbols", "exchangeInfo"), "exchangeInfo.symbols"),
                               parse_instrument, on_error)


# ---------------------------------------------------------------------------------------------
# market data
# ---------------------------------------------------------------------------------------------


def parse_depth(obj: object, inst: Instrument, ts_recv: int, depth: int | None = None) -> BookSnapshot:
    """``GET depth`` → :class:`BookSnapshot` (``sequence`` = ``lastUpdateId``, also its time in ms)."""
    what = f"depth {inst.symbol}"
    d = F.as_object(obj, what)
    seq = F.integer(d, "lastUpdateId", what)
    bids, asks = F.book(inst, d, what, depth, size_name="qty", extra_entries=True)
    return BookSnapshot(inst, seq * MS, ts_recv, seq, bids, asks)


def _side_levels(inst: Instrument, side: object, what: str, obj: object) -> list[tuple[int, int]]:
    if not isinstance(side, dict):
        raise malformed(what, "book side is not an object of price: qty", obj)
    return [(F.price_raw(inst, p, "price", what, obj), F.size_raw(inst, q, "qty", what, obj)) for p, q in side.items()]


def parse_ws_depth(payload: object, instruments: Mapping[str, Instrument], ts_recv: int,
                   depth: int | None = None) -> BookSnapshot:
    """``marketdepth.event`` (a full snapshot) → :class:`BookSnapshot` (``sequence`` = ``data.ts``)."""
    what = "marketdepth.event"
    p = F.as_object(payload, what)
    inst = F.instrument(instruments, F.string(p, "symbol", what), what, p)
    data = F.get(p, "data", what)
    if isinstance(data, str):  # one old client comment shows the data JSON-encoded
        try:
            data = loads(data)
        except ValueError:
            raise malformed(what, "data is not JSON", p) from None
    data = F.as_object(data, what)
    ts = F.integer(data, "ts", what)
    bids = sorted(_side_levels(inst, data.get("bid", {}), what, p), key=lambda lv: -lv[0])
    asks = sorted(_side_levels(inst, data.get("ofr", {}), what, p))
    if depth is not None:
        bids, asks = bids[:depth], asks[:depth]
    return BookSnapshot(inst, ts * MS, ts_recv, ts, tuple(bids), tuple(asks))


def parse_agg_trade(obj: object, inst: Instrument, ts_recv: int) -> Trade:
    """``GET aggTrades`` row → :class:`Trade` (``m`` = buyer was maker, so the seller took)."""
    what = f"aggTrades {inst.symbol}"
    t = F.as_object(obj, what)
    maker = t.get("m")
    aggressor = 0 if not isinstance(maker, bool) else (-1 if maker else 1)
    return Trade(inst, F.integer(t, "T", what) * MS, ts_recv, F.price_raw(inst, F.get(t, "p", what), "p", what, t),
                 F.size_raw(inst, F.get(t, "q", what), "q", what, t), aggressor, F.integer(t, "a", what))


def parse_ws_trade(payload: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Trade:
    """``internal.trade`` → :class:`Trade`."""
    try:  # the hot path: a well-formed message; anything unusual takes the careful path below
        inst = instruments[payload["symbol"]]  # type: ignore[index]
        ts = payload["ts"]  # type: ignore[index]
        buyer = payload["buyer"]  # type: ignore[index]
        trade_id = payload["id"]  # type: ignore[index]
        if type(ts) is int and type(buyer) is bool and type(trade_id) is int:
            return Trade(inst, ts * MS, ts_recv, scaled(payload["price"], inst.price_scale),  # type: ignore[index]
                         scaled(payload["size"], inst.size_scale), 1 if buyer else -1, trade_id)  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        pass
    return _parse_ws_trade(payload, instruments, ts_recv)


def _parse_ws_trade(payload: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Trade:
    what = "internal.trade"
    p = F.as_object(payload, what)
    inst = F.instrument(instruments, F.string(p, "symbol", what), what, p)
    buyer = p.get("buyer")
    aggressor = 0 if not isinstance(buyer, bool) else (1 if buyer else -1)
    trade_id = p.get("id")
    tid = trade_id if type(trade_id) is int else _id_number(trade_id)
    return Trade(inst, F.integer(p, "ts", what) * MS, ts_recv, F.price_raw(inst, F.get(p, "price", what), "price", what, p),
                 F.size_raw(inst, F.get(p, "size", what), "size", what, p), aggressor, tid)


def _id_number(value: object) -> int:
    """A numeric id sent as a string (``"42"``) as an int; 0 for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return 0


def parse_ws_quote(payload: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Quote:
    """``internal.quote`` → :class:`Quote` (``ofr`` is the ask)."""
    try:  # the hot path: a well-formed message; anything unusual takes the careful path below
        inst = instruments[payload["symbolName"]]  # type: ignore[index]
        ts = payload["timestamp"]  # type: ignore[index]
        if type(ts) is int:
            ps, ss = inst.price_scale, inst.size_scale
            return Quote(inst, ts * MS, ts_recv, scaled(payload["bid"], ps),  # type: ignore[index]
                         scaled(payload["bidQty"], ss), scaled(payload["ofr"], ps),  # type: ignore[index]
                         scaled(payload["ofrQty"], ss))  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        pass
    return _parse_ws_quote(payload, instruments, ts_recv)


def _parse_ws_quote(payload: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Quote:
    what = "internal.quote"
    p = F.as_object(payload, what)
    inst = F.instrument(instruments, F.string(p, "symbolName", what), what, p)
    return Quote(inst, F.integer(p, "timestamp", what) * MS, ts_recv,
                 F.price_raw(inst, F.get(p, "bid", what), "bid", what, p),
                 F.size_raw(inst, F.get(p, "bidQty", what), "bidQty", what, p),
                 F.price_raw(inst, F.get(p, "ofr", what), "ofr", what, p),
                 F.size_raw(inst, F.get(p, "ofrQty", what), "ofrQty", what, p))


def interval_name(interval_s: int) -> str:
    """Seconds → the venue's interval name (``60`` → ``1m``); ``ValueError`` if the venue lacks it."""
    for name, ms in INTERVALS_MS.items():
        if ms == interval_s * 1000:
            return name
    raise ValueError(f"dzengi has no {interval_s} s bar interval; it has {', '.join(INTERVALS_MS)}")


def interval_ms(name: str) -> int:
    """Interval name in either spelling (``1m`` or ``M1``) → milliseconds."""
    return INTERVALS_MS[WS_INTERVAL_ALIASES.get(name, name)]


def parse_ws_ohlc(payload: object, instruments: Mapping[str, Instrument], ts_recv: int) -> Bar:
    """``ohlc.event`` → :class:`Bar` (the venue sends no volume: ``volume_raw`` is 0)."""
    what = "ohlc.event"
    p = F.as_object(payload, what)
    inst = F.instrument(instruments, F.string(p, "symbol", what), what, p)
    name = F.string(p, "interval", what)
    try:
        step_ms = interval_ms(name)
    except KeyError:
        raise malformed(what, f"unknown interval {name!r}", p) from None
    return Bar(inst, F.integer(p, "t", what) * MS, ts_recv,
               F.price_raw(inst, F.get(p, "o", what), "o", what, p), F.price_raw(inst, F.get(p, "h", what), "h", what, p),
               F.price_raw(inst, F.get(p, "l", what), "l", what, p), F.price_raw(inst, F.get(p, "c", what), "c", what, p),
               0, step_ms * MS)


def parse_kline(row: object, inst: Instrument, interval_ms_: int, ts_recv: int) -> Bar:
    """``GET klines`` row ``[openTime, o, h, l, c, volume]`` → :class:`Bar`."""
    what = f"klines {inst.symbol}"
    r = as_list(row, what)
    if len(r) < 6 or isinstance(r[0], bool) or not isinstance(r[0], int):
        raise malformed(what, "row is not [openTime, o, h, l, c, volume]", r)
    return Bar(inst, r[0] * MS, ts_recv, F.price_raw(inst, r[1], "open", what, r), F.price_raw(inst, r[2], "high", what, r),
               F.price_raw(inst, r[3], "low", what, r), F.price_raw(inst, r[4], "close", what, r),
               F.size_raw(inst, r[5], "volume", what, r), interval_ms_ * MS)


# ---------------------------------------------------------------------------------------------
# orders and fills
# ---------------------------------------------------------------------------------------------

_STATUS: dict[VenueOrderStatus, OrderStatus] = {
    VenueOrderStatus.NEW: OrderStatus.ACCEPTED,
    VenueOrderStatus.CREATED: OrderStatus.ACCEPTED,
    VenueOrderStatus.MODIFIED: OrderStatus.ACCEPTED,
    VenueOrderStatus.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    VenueOrderStatus.FILLED: OrderStatus.FILLED,
    VenueOrderStatus.CANCELED: OrderStatus.CANCELED,
    VenueOrderStatus.PENDING_CANCEL: OrderStatus.PENDING_CANCEL,
    VenueOrderStatus.REJECTED: OrderStatus.REJECTED,
    VenueOrderStatus.EXPIRED: OrderStatus.EXPIRED,
}


def map_status(value: object, filled: Decimal | None, qty: Decimal | None, what: str, obj: object = None) -> OrderStatus:
    """Venue order status → engine status, strictly. A working order with fills is PARTIALLY_FILLED."""
    return F.order_status(_STATUS, VenueOrderStatus, value, bool(filled and qty and 0 < filled < qty), what, obj)


def _side(value: object, what: str, obj: object) -> Side:
    return Side.BUY if F.member(VenueSide, value, "side", what, obj) is VenueSide.BUY else Side.SELL


def _exact(inst: Instrument, price: Decimal, qty: Decimal, what: str, obj: object) -> None:
    """A fill the engine cannot book exactly (finer than the instrument's scales) is malformed."""
    try:
        inst.price_raw(price)
        inst.size_raw(qty)
    except ValueError as e:
        raise malformed(what, f"finer than the instrument allows: {e}", obj) from None


def _fills(raw: object, inst: Instrument, client_order_id: str, venue_order_id: str, side: Side,
           ts_event: int, ts_recv: int, what: str, obj: object, provisional: bool = True) -> tuple[Fill, ...]:
    """Fills carried in an order answer.

    A fill without a venue ``tradeId`` is named ``<orderId>#<n>`` when ``provisional`` (the
    gateway then discounts its quantity from the ``myTrades`` rows of that order), else skipped
    (``myTrades`` will report it with its real id).
    """
    if raw is None:
        return ()
    out = []
    for n, f in enumerate(as_list(raw, what), 1):
        f = F.as_object(f, what)
        trade_id = f.get("tradeId")
        if trade_id in (None, "") and not provisional:
            continue
        price, qty = F.dec(f, "price", what), abs(F.dec(f, "qty", what))
        _exact(inst, price, qty, what, f)
        out.append(Fill(
            instrument=inst, ts_event=ts_event, ts_recv=ts_recv, client_order_id=client_order_id,
            venue_order_id=venue_order_id,
            trade_id=str(trade_id) if trade_id not in (None, "") else f"{venue_order_id}#{n}",
            side=side, price=price, qty=qty,
            fee=F.opt_dec(f, "commission", what) or Decimal(0), fee_asset=str(f.get("commissionAsset") or ""),
            liquidity=Liquidity.TAKER,  # FULL answers exist for MARKET orders only: always taker
        ))
    return tuple(out)


def _vwap(fills: Iterable[Fill]) -> Decimal | None:
    qty = Decimal(0)
    notional = Decimal(0)
    for f in fills:
        qty += f.qty
        notional += f.qty * f.price
    return notional / qty if qty else None


def parse_new_order(obj: object, inst: Instrument, client_order_id: str, ts_recv: int) -> OrderReport:
    """``POST order`` answer (RESULT or FULL) → :class:`OrderReport` (with fills if FULL)."""
    what = "order answer"
    o = F.as_object(obj, what)
    venue_id = F.string(o, "orderId", what)
    qty = abs(F.dec(o, "origQty", what))
    filled = abs(F.dec(o, "executedQty", what))
    status = map_status(F.get(o, "status", what), filled, qty, what, o)
    side = _side(F.get(o, "side", what), what, o)
    ts_event = F.integer(o, "transactTime", what) * MS if "transactTime" in o else ts_recv
    fills = _fills(o.get("fills"), inst, client_order_id, venue_id, side, ts_event, ts_recv, what, o)
    avg = _vwap(fills)
    if avg is None and filled > 0:
        avg = _positive_or_none(F.opt_dec(o, "price", what))
    reason = str(o.get("rejectMessage") or o.get("rejectReason") or "")
    return OrderReport(inst, ts_event, ts_recv, client_order_id, venue_id, status, filled, avg, reason, fills)


def parse_cancel_order(obj: object, inst: Instrument, client_order_id: str, ts_recv: int) -> OrderReport:
    """``DELETE order`` answer → :class:`OrderReport`."""
    what = "cancel answer"
    o = F.as_object(obj, what)
    qty = F.opt_dec(o, "origQty", what)
    filled = F.opt_dec(o, "executedQty", what)
    filled = abs(filled) if filled is not None else None
    status = map_status(F.get(o, "status", what), filled, abs(qty) if qty is not None else None, what, o)
    return OrderReport(inst, ts_recv, ts_recv, client_order_id, F.string(o, "orderId", what), status, filled)


def parse_open_order(obj: object, instruments: Mapping[str, Instrument], client_id_of: Callable[[str], str],
                     ts_recv: int) -> OrderReport:
    """``openOrders`` item → :class:`OrderReport` (``client_id_of`` maps the venue id back)."""
    what = "openOrders item"
    o = F.as_object(obj, what)
    inst = F.instrument(instruments, F.string(o, "symbol", what), what, o)
    venue_id = F.string(o, "orderId", what)
    qty = abs(F.dec(o, "origQty", what))
    filled = abs(F.dec(o, "executedQty", what))
    status = map_status(F.get(o, "status", what), filled, qty, what, o)
    _side(F.get(o, "side", what), what, o)
    ts = o.get("updateTime") or o.get("time")
    ts_event = ts * MS if isinstance(ts, int) and not isinstance(ts, bool) else ts_recv
    return OrderReport(inst, ts_event, ts_recv, client_id_of(venue_id), venue_id, status, filled)


def parse_fetch_order(obj: object, inst: Instrument, client_order_id: str, ts_recv: int, *,
                      provisional_fills: bool = False) -> OrderReport:
    """``fetchOrder`` answer (its own field names) → :class:`OrderReport`.

    Fills without a venue trade id are left out unless ``provisional_fills`` (see ``_fills``).
    """
    what = "fetchOrder answer"
    o = F.as_object(obj, what)
    venue_id = F.string(o, "orderId", what)
    qty = abs(F.dec(o, "quantity", what))
    filled_value = F.opt_dec(o, "execQuantity", what)
    filled = abs(filled_value) if filled_value is not None else Decimal(0)
    status = map_status(F.get(o, "status", what), filled, qty, what, o)
    side = _side(F.get(o, "side", what), what, o)
    ts_event = F.integer(o, "timestamp", what) * MS if "timestamp" in o else ts_recv
    fills = _fills(o.get("fills"), inst, client_order_id, venue_id, side, ts_event, ts_recv, what, o,
                   provisional_fills)
    avg = _positive_or_none(F.opt_dec(o, "execPrice", what)) if filled else None
    return OrderReport(inst, ts_event, ts_recv, client_order_id, venue_id, status, filled, avg,
                       str(o.get("rejectReason") or ""), fills)


def _flag(obj: Mapping[str, Any], names: tuple[str, ...], what: str) -> bool:
    for name in names:
        value = obj.get(name)
        if isinstance(value, bool):
            return value
    raise malformed(what, f"missing boolean {' or '.join(repr(n) for n in names)}", obj)


def parse_my_trade(obj: object, inst: Instrument, client_id_of: Callable[[str], str], ts_recv: int) -> Fill:
    """``myTrades`` item → :class:`Fill` (``id`` is the venue's trade id, the de-duplication key)."""
    what = f"myTrades {inst.symbol}"
    t = F.as_object(obj, what)
    venue_id = F.string(t, "orderId", what)
    price, qty = F.dec(t, "price", what), abs(F.dec(t, "qty", what))
    _exact(inst, price, qty, what, t)
    return Fill(
        instrument=inst,
        ts_event=F.integer(t, "time", what) * MS,
        ts_recv=ts_recv,
        client_order_id=client_id_of(venue_id),
        venue_order_id=venue_id,
        trade_id=F.string(t, "id", what),
        side=Side.BUY if _flag(t, ("isBuyer", "buyer"), what) else Side.SELL,
        price=price,
        qty=qty,
        fee=F.opt_dec(t, "commission", what) or Decimal(0),
        fee_asset=str(t.get("commissionAsset") or ""),
        liquidity=Liquidity.MAKER if _flag(t, ("isMaker", "maker"), what) else Liquidity.TAKER,
    )


# ---------------------------------------------------------------------------------------------
# account state
# ---------------------------------------------------------------------------------------------


def parse_account(obj: object, ts_recv: int) -> list[BalanceUpdate]:
    """``account`` → one :class:`BalanceUpdate` per asset (``account`` = the asset's ``accountId``)."""
    what = "account"
    a = F.as_object(obj, what)
    update = a.get("updateTime")
    ts_event = update * 1_000_000_000 if isinstance(update, int) and not isinstance(update, bool) and update else ts_recv
    out = []
    for b in as_list(F.get(a, "balances", what), what):
        b = F.as_object(b, "account balance")
        out.append(BalanceUpdate(VENUE, F.string(b, "accountId", "account balance"), F.string(b, "asset", "account balance"),
                                 ts_event, ts_recv, F.dec(b, "free", "account balance"),
                                 F.opt_dec(b, "locked", "account balance") or Decimal(0)))
    return out


def _leverage_of(margin: Decimal | None, obj: object) -> Decimal | None:
    """``margin`` is the fraction of the notional held (0.05 = 20x); None when absent or zero."""
    if not margin:
        return None
    try:
        return (1 / margin).quantize(Decimal("0.01")).normalize()
    except ArithmeticError:
        raise malformed("position", f"margin out of range: {margin}", obj) from None


def parse_positions(obj: object, instruments: Mapping[str, Instrument], ts_recv: int,
                    on_error: Callable[[MalformedMessage], None]) -> list[PositionUpdate]:
    """``tradingPositions`` → active positions netted per symbol. A bad entry is reported and skipped."""
    what = "tradingPositions"
    body = F.as_object(obj, what)
    net: dict[str, list[tuple[Decimal, Decimal, Decimal, Decimal | None, str]]] = {}
    for entry in as_list(F.get(body, "positions", what), what):
        try:
            p = F.as_object(entry, "position")
            if str(p.get("state", "ACTIVE")) != "ACTIVE":
                continue
            symbol = F.string(p, "symbol", "position")
            F.instrument(instruments, symbol, "position", p)
            margin = F.opt_dec(p, "margin", "position")
            leverage = _leverage_of(margin, p)
            net.setdefault(symbol, []).append((F.dec(p, "openQuantity", "position"), F.dec(p, "openPrice", "position"),
                                               F.opt_dec(p, "upl", "position") or Decimal(0), leverage,
                                               F.string(p, "id", "position")))
        except MalformedMessage as e:
            on_error(e)
    out = []
    for symbol, legs in net.items():
        qty = sum((leg[0] for leg in legs), Decimal(0))
        gross = sum((abs(leg[0]) for leg in legs), Decimal(0))
        avg = sum((abs(leg[0]) * leg[1] for leg in legs), Decimal(0)) / gross if gross else Decimal(0)
        leverages = {leg[3] for leg in legs if leg[3] is not None}
        out.append(PositionUpdate(instruments[symbol], ts_recv, ts_recv, qty, avg,
                                  sum((leg[2] for leg in legs), Decimal(0)),
                                  leverages.pop() if len(leverages) == 1 else None,
                                  ",".join(leg[4] for leg in legs)))
    return out


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def error_of(obj: object) -> tuple[int, str] | None:
    """``{"code": ..., "msg": ...}`` → ``(code, msg)`` (the code may arrive as a string); else None."""
    if not isinstance(obj, dict) or "code" not in obj:
        return None
    code = obj.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, str):
        try:
            code = wire_int(code)
        except WireFormatError:
            return None
    if not isinstance(code, int):
        return None
    if code >= 0 and "msg" not in obj:
        return None
    return code, str(obj.get("msg", ""))
