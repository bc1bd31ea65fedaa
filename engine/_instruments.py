"""Instrument definitions: what a venue trades and the rules it enforces on prices and sizes."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import attrs

from ._money import Rounding, from_scaled, round_to_step, scale_of, to_decimal, to_scaled

__all__ = ["InstrumentKind", "Instrument", "instrument_key"]


class InstrumentKind(enum.Enum):
    """How positions in the instrument are valued."""

    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python code

    SPOT = "spot"  #: buy base with quote; no leverage unless the venue lends
    LINEAR = "linear"  #: contract settled in quote; PnL = qty * multiplier * (exit - entry)
    INVERSE = "inverse"  #: contract settled in base; PnL = qty * multiplier * (1/entry - 1/exit)


def instrument_key(venue: str, symbol: str) -> str:
    """The engine-wide key of an instrument: ``"venue:symbol"`` (symbols may contain ``/``)."""
    return f"{venue}:{symbol}"


def _dec(value: Any) -> Decimal:
    return to_decimal(value)


def _opt_dec(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _positive(instance: Any, attribute: attrs.Attribute, value: Decimal) -> None:  # type: ignore[type-arg]
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _rounding(value: Any) -> Rounding:
    return value if isinstance(value, Rounding) else Rounding(value)


def _kind(value: Any) -> InstrumentKind:
    return value if isinstance(value, InstrumentKind) else InstrumentKind(value)


@attrs.frozen(slots=True, eq=False)
class Instrument:
    """One tradable instrument on one venue, with the venue's rounding and size rules.

    Prices and sizes on the hot path are scaled integers: ``price_raw = price * 10**price_scale``
    and ``size_raw = size * 10**size_scale``. The scales default to the precision of the tick and
    lot sizes. Instances compare equal by :attr:`key`.
    """

    venue: str
    "Venue name, e.g. ``sim``."
    symbol: str
    "The venue's own symbol, e.g. ``BTC/USD``."
    base: str
    "Base asset (what the quantity counts)."
    quote: str
    "Quote asset (what the price is in)."
    tick_size: Decimal = attrs.field(converter=_dec, validator=_positive)
    "Smallest price increment."
    lot_size: Decimal = attrs.field(converter=_dec, validator=_positive)
    "Smallest quantity increment."
    kind: InstrumentKind = attrs.field(default=InstrumentKind.SPOT, converter=_kind)
    "Spot, linear or inverse."
    settle: str = ""
    "Settlement asset; defaults to quote (base for inverse)."
    min_qty: Decimal = attrs.field(default=Decimal(0), converter=_dec)
    "Smallest order quantity (0 = the lot size)."
    max_qty: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    "Largest order quantity, if the venue has one."
    min_notional: Decimal = attrs.field(default=Decimal(0), converter=_dec)
    "Smallest order value in quote (settle for inverse) units."
    price_precision: int = -1
    "Decimal places of prices on the wire; defaults to the tick size's."
    qty_precision: int = -1
    "Decimal places of quantities on the wire; defaults to the lot size's."
    price_rounding: Rounding = attrs.field(default=Rounding.HALF_UP, converter=_rounding)
    "How the venue rounds an off-tick price."
    qty_rounding: Rounding = attrs.field(default=Rounding.DOWN, converter=_rounding)
    "How the venue rounds an off-lot quantity."
    multiplier: Decimal = attrs.field(default=Decimal(1), converter=_dec, validator=_positive)
    "Contract multiplier (1 for spot)."
    max_leverage: Decimal | None = attrs.field(default=None, converter=_opt_dec)
    "Highest leverage the venue allows, if it is leveraged."
    leverage_values: tuple[int, ...] = attrs.field(default=(), converter=tuple)
    "The discrete leverage values the venue accepts (empty = any up to max_leverage)."
    maker_fee: Decimal = attrs.field(default=Decimal(0), converter=_dec)
    "Maker fee rate (0.001 = 0.1 %); negative is a rebate."
    taker_fee: Decimal = attrs.field(default=Decimal(0), converter=_dec)
    "Taker fee rate."
    price_scale: int = attrs.field(init=False)
    "Scale of raw integer prices."
    size_scale: int = attrs.field(init=False)
    "Scale of raw integer sizes."
    key: str = attrs.field(init=False)
    "``venue:symbol``."
    tick_raw: int = attrs.field(init=False, repr=False)
    "Tick size in raw price units."
    lot_raw: int = attrs.field(init=False, repr=False)
    "Lot size in raw size units."
    _price_unit: Decimal | None = attrs.field(init=False, repr=False)
    "``10**-price_scale`` (None when the scale is 0): ``_price_unit * raw`` is :meth:`price_of`, minus the constructor."
    _size_unit: Decimal | None = attrs.field(init=False, repr=False)
    "``10**-size_scale`` (None when the scale is 0)."
    _size_mult: Decimal = attrs.field(init=False, repr=False)
    "``10**size_scale`` as a one-digit Decimal: ``qty * _size_mult`` is ``qty.scaleb(size_scale)``."

    def __attrs_post_init__(self) -> None:
        set_ = object.__setattr__
        if self.price_precision < 0:
            set_(self, "price_precision", scale_of(self.tick_size))
        if self.qty_precision < 0:
            set_(self, "qty_precision", scale_of(self.lot_size))
        if not self.settle:
            set_(self, "settle", self.base if self.kind is InstrumentKind.INVERSE else self.quote)
        set_(self, "price_scale", max(self.price_precision, scale_of(self.tick_size)))
        set_(self, "size_scale", max(self.qty_precision, scale_of(self.lot_size)))
        set_(self, "key", instrument_key(self.venue, self.symbol))
        set_(self, "tick_raw", to_scaled(self.tick_size, self.price_scale))
        set_(self, "lot_raw", to_scaled(self.lot_size, self.size_scale))
        set_(self, "_price_unit", Decimal(1).scaleb(-self.price_scale) if self.price_scale else None)
        set_(self, "_size_unit", Decimal(1).scaleb(-self.size_scale) if self.size_scale else None)
        set_(self, "_size_mult", Decimal(1).scaleb(self.size_scale))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instrument) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    # -- rounding with the venue's rules ---------------------------------------------------
    def round_price(self, price: Decimal, rounding: Rounding | None = None) -> Decimal:
        """Round ``price`` to the tick with the venue's rule (or the one given)."""
        return round_to_step(to_decimal(price), self.tick_size, rounding or self.price_rounding)

    def round_qty(self, qty: Decimal, rounding: Rounding | None = None) -> Decimal:
        """Round ``qty`` to the lot with the venue's rule (or the one given)."""
        return round_to_step(to_decimal(qty), self.lot_size, rounding or self.qty_rounding)

    # -- rounding straight to scaled integers (the order path) --------------------------------
    def round_price_raw(self, price: Decimal, rounding: Rounding | None = None) -> int:
        """:meth:`round_price` as a scaled integer; an on-tick price takes an integer-only path."""
        scaled = to_decimal(price).scaleb(self.price_scale)
        if scaled == scaled.to_integral_value():
            raw = int(scaled)
            if raw % self.tick_raw == 0:
                return raw
        return self.price_raw(self.round_price(price, rounding))

    def round_qty_raw(self, qty: Decimal, rounding: Rounding | None = None) -> int:
        """:meth:`round_qty` as a scaled integer; an on-lot quantity takes an integer-only path."""
        if type(qty) is Decimal and qty.is_finite():  # the order path: skip the conversion checks
            scaled = qty * self._size_mult  # qty.scaleb(size_scale): same digits, exponent + size_scale
            if scaled == scaled.to_integral_value():
                raw = int(scaled)
                if raw % self.lot_raw == 0:
                    return raw
        scaled = to_decimal(qty).scaleb(self.size_scale)
        if scaled == scaled.to_integral_value():
            raw = int(scaled)
            if raw % self.lot_raw == 0:
                return raw
        return self.size_raw(self.round_qty(qty, rounding))

    # -- scaled integers ---------------------------------------------------------------------
    def price_raw(self, price: Decimal) -> int:
        """``price`` as a scaled integer (exact; raises if finer than the price scale)."""
        return to_scaled(price, self.price_scale)

    def size_raw(self, qty: Decimal) -> int:
        """``qty`` as a scaled integer (exact; raises if finer than the size scale)."""
        return to_scaled(qty, self.size_scale)

    def price_of(self, raw: int) -> Decimal:
        """Decimal price of a scaled integer."""
        unit = self._price_unit
        if unit is not None and type(raw) is int:
            return unit * raw  # == Decimal(raw).scaleb(-price_scale): the same digits and exponent
        return from_scaled(raw, self.price_scale)

    def size_of(self, raw: int) -> Decimal:
        """Decimal size of a scaled integer."""
        unit = self._size_unit
        if unit is not None and type(raw) is int:
            return unit * raw  # == Decimal(raw).scaleb(-size_scale)
        return from_scaled(raw, self.size_scale)

    # -- valuation -----------------------------------------------------------------------
    def notional(self, price: Decimal, qty: Decimal) -> Decimal:
        """Order value in settle units: ``qty*mult*price`` (linear/spot) or ``qty*mult/price`` (inverse)."""
        if self.kind is InstrumentKind.INVERSE:
            return qty * self.multiplier / price
        return qty * self.multiplier * price

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (decimals as strings) that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {}
        for field in attrs.fields(Instrument):
            if not field.init:
                continue
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Instrument:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in attrs.fields(Instrument) if f.init}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown instrument fields: {', '.join(sorted(unknown))}")
        return cls(**data)
