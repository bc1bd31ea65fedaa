"""Cash and margin on the simulated venue: what an order needs before the venue takes it.

The rules are the local testnets' (:mod:`backtest.exchange`), kept in scaled integers so that the
checks on the order path are integer comparisons:

* Spot BUY reserves ``price * qty * (1 + max(maker, taker, 0) fee)`` of the quote asset; SELL
  reserves ``qty`` of the base asset.
* Derivatives (linear, inverse) reserve ``notional(reference, opening qty) / leverage +
  notional(reference, qty) * max fee`` of the settle asset, where the opening qty is what the
  order adds to the position (the part that reduces it needs no margin). Filled, the reserve
  becomes the position's margin; reducing fills release margin pro rata.
* The reference price is the limit price, else the stop's trigger, else (a market order) what it
  meets at first contact: the print / bar open, or the replayed levels it would walk (beyond the
  visible depth at the last visible price).
* ``free = balance - reserves of working orders - position margins``. An order whose reserve is
  more than ``free`` is rejected ``insufficient balance (ASSET)``. A fill that costs more than its
  order's reserve (a stop that gapped past its trigger, a market remainder taking worse levels)
  needs the difference free, or the order is canceled with that reason.
* Liquidation (isolated, per position): when the position's margin plus its unrealized PnL at the
  market price falls to the maintenance margin, half of the position's margin, the venue closes
  the whole position at that price (taker fee) and cancels the instrument's working orders.

Amounts are integers in units of ``10**-scale`` of their asset; every asset has one scale, wide
enough for the exact notionals and fees of every instrument that uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal

from engine import Instrument, InstrumentKind

__all__ = ["Terms", "SimAccount", "INSUFFICIENT", "MAINTENANCE_FRACTION"]

INSUFFICIENT = "insufficient balance"
MAINTENANCE_FRACTION = Decimal("0.5")
"Maintenance margin as a fraction of the position's margin (see the module docstring)."
_CTX = Context(prec=80)
_MIN_SCALE = 8


def _digits(value: Decimal) -> int:
    """Decimal places of ``value`` (0 for integers)."""
    exponent = value.normalize(_CTX).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _units(value: Decimal, digits: int) -> int:
    return int(value.scaleb(digits, _CTX))


class Terms:
    """One instrument's precomputed factors: amounts of its assets per ``price_raw * size_raw``."""

    __slots__ = ("instrument", "spot", "inverse", "pay", "base", "kn", "kf_maker", "kf_taker", "kf_max", "kb",
                 "pay_scale", "leverages", "max_leverage", "default_leverage")

    def __init__(self, instrument: Instrument, maker_fee: Decimal, taker_fee: Decimal, scales: dict[str, int]) -> None:
        inst = self.instrument = instrument
        self.spot = inst.kind is InstrumentKind.SPOT
        self.inverse = inst.kind is InstrumentKind.INVERSE
        self.pay = inst.quote if self.spot else inst.settle
        "The asset orders pay with (quote for spot, settle for derivatives)."
        self.base = inst.base
        self.pay_scale = scales[self.pay]
        n = inst.price_scale + inst.size_scale + _digits(inst.multiplier)
        m = _units(inst.multiplier, _digits(inst.multiplier))
        rs = max(_digits(maker_fee), _digits(taker_fee))
        shift = self.pay_scale - n
        self.kn: int = m * 10**shift
        "Notional units of the pay asset per ``price_raw * size_raw`` (linear / spot)."
        self.kf_maker: int = m * _units(maker_fee, rs) * 10**(shift - rs)
        self.kf_taker: int = m * _units(taker_fee, rs) * 10**(shift - rs)
        self.kf_max = max(self.kf_maker, self.kf_taker, 0)
        self.kb: int = 10**(scales[inst.base] - inst.size_scale) if self.spot else 0
        "Base units per ``size_raw`` (spot)."
        self.leverages = tuple(Decimal(v) for v in inst.leverage_values)
        self.max_leverage = inst.max_leverage or (max(self.leverages) if self.leverages else Decimal(1))
        self.default_leverage = self.leverages[-1] if self.leverages else self.max_leverage

    @staticmethod
    def scale_needed(instrument: Instrument, maker_fee: Decimal, taker_fee: Decimal) -> dict[str, int]:
        """The scale each asset of ``instrument`` needs for exact notionals and fees."""
        inst = instrument
        n = inst.price_scale + inst.size_scale + _digits(inst.multiplier)
        fee_scale = n + max(_digits(maker_fee), _digits(taker_fee))
        if inst.kind is InstrumentKind.SPOT:
            return {inst.quote: fee_scale, inst.base: inst.size_scale}
        return {inst.settle: fee_scale}

    def notional(self, price_raw: int, size_raw: int) -> int:
        """Exact notional in pay units (inverse: rounded up to the pay scale)."""
        if not self.inverse:
            return price_raw * size_raw * self.kn
        inst = self.instrument
        value = inst.size_of(size_raw) * inst.multiplier / inst.price_of(price_raw)
        return int(value.scaleb(self.pay_scale, _CTX).to_integral_value(rounding=ROUND_CEILING))

    def fee(self, price_raw: int, size_raw: int, factor: int) -> int:
        """Fee in pay units at the fee factor ``factor`` (``kf_maker`` / ``kf_taker`` / ``kf_max``)."""
        if not self.inverse:
            return price_raw * size_raw * factor
        return -(-self.notional(price_raw, size_raw) * factor // self.kn) if self.kn else 0

    def margin(self, price_raw: int, size_raw: int, leverage: Decimal) -> int:
        """Initial margin of ``size_raw`` at ``price_raw`` and ``leverage``, rounded up."""
        if not size_raw:
            return 0
        num, den = leverage.as_integer_ratio()
        return -(-self.notional(price_raw, size_raw) * den // num)

    def leverage_problem(self, leverage: Decimal | None) -> str:
        """Why the venue refuses ``leverage`` on this instrument ("" if it does not)."""
        if leverage is None:
            return ""
        if self.spot:
            return "" if leverage == 1 else "leverage needs a leverage instrument"
        allowed = leverage in self.leverages if self.leverages else 0 < leverage <= self.max_leverage
        return "" if allowed else f"leverage {leverage} not allowed on {self.instrument.key}"


class SimAccount:
    """Reserves and position margins of the simulated account, against balances read from
    ``balance_of`` (the engine's portfolio: in a backtest it is the account's ledger)."""

    def __init__(self, balance_of: Callable[[str], Decimal], scales: dict[str, int]) -> None:
        self._balance_of = balance_of
        self.scales = scales
        self.locked: dict[str, int] = dict.fromkeys(scales, 0)
        "Per asset: reserves of working orders plus position margins, in asset units."

    @staticmethod
    def scales_for(needs: Iterable[dict[str, int]]) -> dict[str, int]:
        """One scale per asset: the widest any instrument needs (at least 8 places)."""
        scales: dict[str, int] = {}
        for need in needs:
            for asset, scale in need.items():
                scales[asset] = max(scales.get(asset, _MIN_SCALE), scale)
        return scales

    def free(self, asset: str) -> int:
        """Balance minus what is reserved or held as margin, in asset units (balance floored)."""
        balance = self._balance_of(asset).scaleb(self.scales[asset], _CTX)
        return int(balance.to_integral_value(rounding=ROUND_FLOOR)) - self.locked[asset]

    def amount(self, asset: str, units: int) -> Decimal:
        """``units`` of ``asset`` as a Decimal (for messages)."""
        return Decimal(units).scaleb(-self.scales[asset]).normalize(_CTX)
