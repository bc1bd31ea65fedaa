"""Coinpit wire messages → engine values and events.

Every field goes through the venue's :class:`~venues._common.FieldReader`: a missing, null or
mistyped field is a :class:`~engine.MalformedMessage` naming the venue, the message and the
field. Prices are USD JS numbers, quantities whole contracts, margin, PnL and commission
integer satoshis (read exact, never via float). Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from engine import (BookSnapshot, Fill, Instrument, InstrumentKind, Liquidity, OrderReport, OrderStatus, Side, Trade,
                    WireFormatError, loads_json, wire_int)
from venues._common.fields import FieldReader

from .constants import CONTRACT_USD, SATOSHI_PER_BTC, VENUE, Status

__all__ = ["F", "loads", "satoshi", "parse_instruments", "parse_book", "parse_trade", "parse_order", "parse_fill",
           "parse_side"]

F = FieldReader(VENUE, symbol_word="instrument")
"The venue's field decoders."

SATOSHI = Decimal(1) / SATOSHI_PER_BTC


def loads(data: str | bytes) -> Any:
    """Bounded JSON (duplicate keys refused); a non-integer number is its exact text (a ``str``,
    what the field readers take)."""
    return loads_json(data, reject_duplicate_keys=True)


def satoshi(obj: Mapping[str, Any], name: str, what: str) -> Decimal:
    """An integer satoshi field as BTC, exact."""
    value = F.get(obj, name, what)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise F.malformed(what, f"field {name!r} is not an integer of satoshis", obj)
    try:
        return wire_int(value, max_digits=20) * SATOSHI
    except WireFormatError:
        raise F.malformed(what, f"field {name!r} is not an integer: {str(value)[:40]!r}", obj) from None


def parse_instruments(config: object, *, venue: str = VENUE) -> tuple[dict[str, Instrument], dict[str, str]]:
    """``all/config`` → (symbol → inverse instrument, alias → contract). ``ticksperpoint`` gives the
    tick (10 → 0.1 USD), ``contractusdvalue`` the multiplier, ``commission`` the taker rate."""
    what = "all/config"
    data = F.as_object(config, what)
    out: dict[str, Instrument] = {}
    for key, obj in F.as_object(F.get(data, "instruments", what), what).items():
        spec = F.as_object(obj, "instrument")
        symbol = F.string(spec, "symbol", "instrument")
        if symbol != key or spec.get("type") != "inverse" or spec.get("status", "active") != "active":
            continue
        ticks = F.integer(spec, "ticksperpoint", "instrument")
        usd = F.integer(spec, "contractusdvalue", "instrument")
        if not 1 <= ticks <= 10_000 or usd != CONTRACT_USD:
            raise F.malformed("instrument", f"ticksperpoint {ticks} / contractusdvalue {usd} out of range", spec)
        max_leverage = F.integer(spec, "maxLeverage", "instrument") if "maxLeverage" in spec else 100
        out[symbol] = Instrument(venue, symbol, "BTC", "USD", Decimal(1) / ticks, Decimal(1),
                                 kind=InstrumentKind.INVERSE, multiplier=Decimal(usd), min_qty=Decimal(1),
                                 max_leverage=Decimal(max_leverage),
                                 maker_fee=-F.dec(spec, "reward", "instrument") if "reward" in spec else Decimal(0),
                                 taker_fee=F.dec(spec, "commission", "instrument"))
    settings = data.get("config")
    aliases = settings.get("aliases") if isinstance(settings, dict) else None
    alias_map = {str(k): str(v) for k, v in aliases.items() if str(v) in out} if isinstance(aliases, dict) else {}
    return out, alias_map


def parse_side(value: object, what: str, obj: object) -> Side:
    if value == "buy":
        return Side.BUY
    if value == "sell":
        return Side.SELL
    raise F.malformed(what, f"unknown side {value!r}", obj)


def _levels(inst: Instrument, value: object, what: str) -> tuple[tuple[int, int], ...]:
    levels = []
    for obj in F.as_list(value, what):
        level = F.as_object(obj, what)
        levels.append((F.price_raw(inst, F.get(level, "price", what), "price", what, level),
                       F.size_raw(inst, F.get(level, "totalQuantity", what), "totalQuantity", what, level)))
    return tuple(levels)


def parse_book(inst: Instrument, obj: object, ts_event: int, ts_recv: int) -> BookSnapshot:
    """``{bid, ask, buy:[{price, numberOfOrders, totalQuantity}], sell:[…]}`` → a snapshot."""
    book = F.as_object(obj, "orderbook")
    return BookSnapshot(inst, ts_event, ts_recv, 0, _levels(inst, F.get(book, "buy", "orderbook"), "orderbook"),
                        _levels(inst, F.get(book, "sell", "orderbook"), "orderbook"))


def parse_trade(inst: Instrument, obj: object, ts_recv: int) -> Trade:
    """``{date (s), price, volume, instrument}`` → :class:`~engine.Trade` (no aggressor on the wire: 0)."""
    trade = F.as_object(obj, "trade")
    return Trade(inst, int(F.dec(trade, "date", "trade") * 1_000_000_000), ts_recv,
                 F.price_raw(inst, F.get(trade, "price", "trade"), "price", "trade", trade),
                 F.size_raw(inst, F.get(trade, "volume", "trade"), "volume", "trade", trade), 0, 0)


def parse_order(obj: object, instruments: Mapping[str, Instrument], ts_recv: int,
                client_id_of: Callable[[str, object], str]) -> OrderReport:
    """An order object (``{uuid, status, quantity, filled, cancelled, averagePrice, instrument,
    eventTime (µs), clientid}``) → :class:`~engine.OrderReport`."""
    what = "order"
    order = F.as_object(obj, what)
    uuid = F.string(order, "uuid", what)
    inst = instruments.get(str(order.get("instrument")))
    if inst is None:
        raise F.malformed(what, f"unknown instrument {order.get('instrument')!r}", order)
    wire_status = order.get("status")
    filled = Decimal(F.integer(order, "filled", what))
    quantity = Decimal(F.integer(order, "quantity", what))
    if wire_status == Status.OPEN:
        status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED
    elif wire_status == Status.CLOSED:
        status = OrderStatus.FILLED if filled >= quantity else OrderStatus.CANCELED
    elif wire_status == Status.CANCELLED:
        status = OrderStatus.CANCELED
    else:
        raise F.malformed(what, f"unknown status {wire_status!r}", order)
    average = F.opt_dec(order, "averagePrice", what)
    event_us = order.get("eventTime", order.get("entryTime", 0))
    ts_event = int(event_us) * 1_000 if isinstance(event_us, int) and not isinstance(event_us, bool) else ts_recv
    return OrderReport(inst, ts_event, ts_recv, client_id_of(uuid, order.get("clientid")), uuid, status, filled,
                       average if average else None)


def parse_fill(inst: Instrument, obj: object, ts_recv: int, client_order_id: str) -> Fill:
    """An execution ``{executionid, orderid, side, price, quantity, liquidity, commission (sat),
    eventTime (µs)}`` → :class:`~engine.Fill` (fee in BTC, exact)."""
    what = "execution"
    ex = F.as_object(obj, what)
    exec_id = ex.get("executionid")
    order_id = ex.get("orderid")
    if not isinstance(exec_id, (str, int)) or isinstance(exec_id, bool) or not isinstance(order_id, str):
        raise F.malformed(what, "executionid/orderid missing", ex)
    liquidity = Liquidity.MAKER if ex.get("liquidity") == "reward" else Liquidity.TAKER
    return Fill(inst, F.integer(ex, "eventTime", what) * 1_000, ts_recv, client_order_id, order_id, str(exec_id),
                parse_side(ex.get("side"), what, ex), F.dec(ex, "price", what),
                Decimal(F.integer(ex, "quantity", what)), satoshi(ex, "commission", what), "BTC", liquidity)
