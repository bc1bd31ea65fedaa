"""Leverj wire messages → engine values and events.

Every field goes through the venue's :class:`~venues._common.FieldReader`: a missing, null or
mistyped field is a :class:`~engine.MalformedMessage` naming the venue, the message and the
field. Prices and quantities are JS numbers in human units (read exact, never via float);
balances, margins and notionals are integer strings in the asset's smallest unit.
Nothing here does I/O or reads the clock: ``ts_recv`` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from engine import (
    BookSnapshot,
    Fill,
    FundingPayment,
    LIQUIDATION_STRATEGY_ID,
    Instrument,
    OrderReport,
    OrderStatus,
    InstrumentKind,
    Liquidity,
    Side,
    Trade,
    WireFormatError,
    wire_int,
)
from venues._common.fields import FieldReader

from .constants import VENUE
from .signer import Asset

__all__ = ["F", "Market", "parse_asset", "parse_instruments", "parse_book", "parse_trade", "parse_side",
           "ParsedFill", "parse_execution", "parse_order", "parse_fill", "wei"]

F = FieldReader(VENUE, symbol_word="instrument")
"The venue's field decoders."


@attrs.frozen
class Market:
    """One instrument as the venue defines it: the engine's :class:`~engine.Instrument` and what
    signing an order needs (its wire id, assets, digits, leverage cap)."""

    id: str
    "The wire id (``1`` for futures BTCUSD, the symbol for spot)."
    instrument: Instrument
    base: Asset | None
    "The base asset (spot only; a perpetual has none on the wire)."
    quote: Asset
    base_digits: int
    "``baseSignificantDigits``: decimals of a quantity."
    quote_digits: int
    "``quoteSignificantDigits``: decimals of a price."
    max_leverage: int
    "1 for spot."

    @property
    def futures(self) -> bool:
        return self.instrument.kind is not InstrumentKind.SPOT


def parse_asset(obj: object, what: str) -> Asset:
    """``{symbol, address, decimals}`` → :class:`~venues.leverj.signer.Asset`."""
    asset = F.as_object(obj, what)
    decimals = F.integer(asset, "decimals", what)
    if not 0 <= decimals <= 36:
        raise F.malformed(what, f"field 'decimals' out of range: {decimals}", asset)
    address = F.string(asset, "address", what)
    if len(address) != 42 or not address.startswith("0x"):
        raise F.malformed(what, "field 'address' is not an address", asset)
    return Asset(F.string(asset, "symbol", what), address, decimals)


def _digits(obj: Mapping[str, Any], name: str, what: str) -> int:
    value = F.integer(obj, name, what)
    if not 0 <= value <= 18:
        raise F.malformed(what, f"field {name!r} out of range: {value}", obj)
    return value


def parse_instruments(market: str, config: object, fees_bps: tuple[Decimal, Decimal] | None = None, *,
                      venue: str = VENUE) -> list[Market]:
    """The ``instruments`` of ``all/config`` (a map id → instrument) as :class:`Market` values.

    Spot: ``ticksize`` is the number of price decimals; futures: ``tickSize`` is the increment.
    ``fees_bps`` is ``(maker, taker)`` in basis points (``config.fee.default``); ``venue`` the
    engine's venue name of the instruments (one per market: ``leverj-futures``).
    """
    what = "all/config"
    data = F.as_object(config, what)
    instruments = F.as_object(F.get(data, "instruments", what), what)
    maker, taker = fees_bps if fees_bps is not None else _fees(data)
    out: list[Market] = []
    for key, obj in instruments.items():
        item = F.as_object(obj, "instrument")
        wire_id = F.string(item, "id", "instrument")
        if wire_id != key:
            raise F.malformed("instrument", f"id {wire_id!r} under key {key!r}", item)
        base_digits = _digits(item, "baseSignificantDigits", "instrument")
        quote_digits = _digits(item, "quoteSignificantDigits", "instrument")
        quote = parse_asset(F.get(item, "quote", "instrument"), "instrument quote")
        lot = Decimal(1).scaleb(-base_digits)
        if market == "futures":
            tick = F.dec(item, "tickSize", "instrument")
            if tick <= 0:
                raise F.malformed("instrument", "tickSize must be positive", item)
            max_leverage = F.integer(item, "maxLeverage", "instrument")
            if not 1 <= max_leverage <= 1000:
                raise F.malformed("instrument", f"maxLeverage out of range: {max_leverage}", item)
            base_symbol = F.string(item, "baseSymbol", "instrument")
            inst = Instrument(venue=venue, symbol=F.string(item, "symbol", "instrument"), base=base_symbol,
                              quote=quote.symbol, tick_size=tick, lot_size=lot, kind=InstrumentKind.LINEAR,
                              settle=quote.symbol, min_qty=lot, price_precision=quote_digits, qty_precision=base_digits,
                              max_leverage=max_leverage, maker_fee=maker / 10_000, taker_fee=taker / 10_000)
            out.append(Market(wire_id, inst, None, quote, base_digits, quote_digits, max_leverage))
        else:
            base = parse_asset(F.get(item, "base", "instrument"), "instrument base")
            tick = Decimal(1).scaleb(-_digits(item, "ticksize", "instrument"))
            inst = Instrument(venue=venue, symbol=F.string(item, "symbol", "instrument"), base=base.symbol,
                              quote=quote.symbol, tick_size=tick, lot_size=lot, min_qty=lot,
                              price_precision=quote_digits, qty_precision=base_digits,
                              maker_fee=maker / 10_000, taker_fee=taker / 10_000)
            out.append(Market(wire_id, inst, base, quote, base_digits, quote_digits, 1))
    return out


def _fees(data: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    config = F.as_object(F.get(data, "config", "all/config"), "all/config")
    fee = F.as_object(F.get(config, "fee", "all/config fee"), "all/config fee")
    default = F.as_object(F.get(fee, "default", "all/config fee"), "all/config fee")
    return F.dec(default, "maker", "all/config fee"), F.dec(default, "taker", "all/config fee")


def parse_side(value: object, what: str, obj: object = None) -> Side:
    """``"buy"``/``"sell"`` → :class:`~engine.Side`."""
    if value == "buy":
        return Side.BUY
    if value == "sell":
        return Side.SELL
    raise F.malformed(what, f"side is not buy/sell: {value!r}", obj)


def _levels(market: Market, value: object, what: str) -> tuple[tuple[int, int], ...]:
    inst = market.instrument
    levels = []
    for obj in F.as_list(value, what):
        level = F.as_object(obj, what)
        levels.append((F.price_raw(inst, F.get(level, "price", what), "price", what, level),
                       F.size_raw(inst, F.get(level, "totalQuantity", what), "totalQuantity", what, level)))
    return tuple(levels)


def parse_book(market: Market, obj: object, ts_event: int, ts_recv: int, sequence: int = 0) -> BookSnapshot:
    """``{bid, ask, buy:[{price, numberOfOrders, totalQuantity}], sell:[…]}`` → a snapshot."""
    what = "orderbook"
    book = F.as_object(obj, what)
    return BookSnapshot(market.instrument, ts_event, ts_recv, sequence,
                        _levels(market, F.get(book, "buy", what), what), _levels(market, F.get(book, "sell", what), what))


def parse_trade(market: Market, obj: object, ts_recv: int, trade_id: int = 0) -> Trade:
    """``{date (s), price, volume, instrument, side}`` → :class:`~engine.Trade`."""
    what = "trade"
    trade = F.as_object(obj, what)
    inst = market.instrument
    side = parse_side(trade.get("side"), what, trade)
    date = F.dec(trade, "date", what)
    return Trade(inst, int(date * 1_000_000_000), ts_recv,
                 F.price_raw(inst, F.get(trade, "price", what), "price", what, trade),
                 F.size_raw(inst, F.get(trade, "volume", what), "volume", what, trade), int(side), trade_id)


@attrs.frozen
class ParsedFill:
    """One execution of ours, as the venue reports it."""

    execution_id: str
    order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    commission: Decimal
    liquidity: Liquidity
    ts_event: int
    liquidation: bool = False
    "The venue's own close of a liquidated position (the testnet's ``\"liquidation\": true``)."


def parse_execution(obj: object) -> ParsedFill:
    """``{executionId|executionid, orderId|orderid, side, price, quantity, commission, liquidity,
    eventTime (µs)}`` → :class:`ParsedFill` (both casings the venue has used)."""
    what = "execution"
    ex = F.as_object(obj, what)
    exec_id = ex.get("executionId", ex.get("executionid"))
    order_id = ex.get("orderId", ex.get("orderid"))
    if not isinstance(exec_id, (str, int)) or isinstance(exec_id, bool) or not isinstance(order_id, str):
        raise F.malformed(what, "executionId/orderId missing", ex)
    liquidity = ex.get("liquidity", "taker")
    return ParsedFill(str(exec_id), order_id, parse_side(ex.get("side"), what, ex), F.dec(ex, "price", what),
                      F.dec(ex, "quantity", what), F.dec(ex, "commission", what) if "commission" in ex else Decimal(0),
                      Liquidity.MAKER if liquidity == "maker" else Liquidity.TAKER,
                      F.integer(ex, "eventTime", what) * 1_000, ex.get("liquidation") is True)


_STATUS = {"open": OrderStatus.ACCEPTED, "pending": OrderStatus.SUBMITTED, "done": OrderStatus.FILLED,
           "cancelled": OrderStatus.CANCELED, "deleted": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED,
           "failed": OrderStatus.REJECTED}


def parse_order(obj: object, markets: Mapping[str, Market], ts_recv: int,
                client_id_of: Callable[[str, object], str]) -> OrderReport:
    """An order object (``{uuid, status, quantity, filled, averagePrice, instrument, eventTime (µs), …}``)
    → :class:`~engine.OrderReport`; ``client_id_of(uuid, clientOrderId)`` gives our id."""
    what = "order"
    order = F.as_object(obj, what)
    uuid = F.string(order, "uuid", what)
    market = markets.get(str(order.get("instrument")))
    if market is None:
        raise F.malformed(what, f"unknown instrument {order.get('instrument')!r}", order)
    wire_status = order.get("status")
    status = _STATUS.get(wire_status) if isinstance(wire_status, str) else None
    if status is None:
        raise F.malformed(what, f"unknown status {wire_status!r}", order)
    filled = F.dec(order, "filled", what) if order.get("filled") is not None else None
    if status is OrderStatus.ACCEPTED and filled:
        status = OrderStatus.PARTIALLY_FILLED
    average = F.opt_dec(order, "averagePrice", what)
    event_us = order.get("eventTime", order.get("entryTime", 0))
    ts_event = int(event_us) * 1_000 if isinstance(event_us, int) and not isinstance(event_us, bool) else ts_recv
    return OrderReport(market.instrument, ts_event, ts_recv, client_id_of(uuid, order.get("clientOrderId")), uuid,
                       status, filled, average if average else None)


def parse_fill(market: Market, obj: object, ts_recv: int, client_order_id: str) -> Fill:
    """An execution → :class:`~engine.Fill` (fee in the quote asset)."""
    parsed = parse_execution(obj)
    return Fill(market.instrument, parsed.ts_event, ts_recv, client_order_id, parsed.order_id, parsed.execution_id,
                parsed.side, parsed.price, parsed.quantity, parsed.commission, market.quote.symbol, parsed.liquidity,
                LIQUIDATION_STRATEGY_ID if parsed.liquidation else "")


def parse_funding(market: Market, obj: object, ts_recv: int) -> FundingPayment:
    """A funding payment ``{fundingId, instrument, size, rate, indexPrice, amount, eventTime (ms)}``
    (``rate`` and ``amount`` in the quote's smallest unit; ``amount`` > 0 received) →
    :class:`~engine.FundingPayment` in the quote asset, exact."""
    what = "funding"
    item = F.as_object(obj, what)
    payment_id = item.get("fundingId")
    if not isinstance(payment_id, (str, int)) or isinstance(payment_id, bool) or not str(payment_id):
        raise F.malformed(what, "fundingId missing", item)
    scale = Decimal(10) ** market.quote.decimals
    index = F.opt_dec(item, "indexPrice", what)
    per_unit = Decimal(wei(item, "rate", what)) / scale
    ts = F.integer(item, "eventTime", what) * 1_000_000
    return FundingPayment(market.instrument, ts, ts_recv, str(payment_id), market.quote.symbol,
                          Decimal(wei(item, "amount", what)) / scale, F.dec(item, "size", what),
                          index or Decimal(0), per_unit / index if index else Decimal(0))


def wei(obj: Mapping[str, Any], name: str, what: str) -> int:
    """An amount in an asset's smallest unit: an integer string (up to 78 digits, uint256)."""
    value = F.get(obj, name, what)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise F.malformed(what, f"field {name!r} is not an integer string", obj)
    try:
        return wire_int(value, max_digits=78)
    except WireFormatError:
        raise F.malformed(what, f"field {name!r} is not an integer: {str(value)[:40]!r}", obj) from None
