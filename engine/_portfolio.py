"""Positions, balances and PnL, exact.

Realized PnL uses FIFO lots: every fill that opens exposure adds a lot ``(price_raw, size_raw)``;
a fill that reduces exposure consumes the oldest lots first. With scaled integers this is exact
for linear and spot instruments (no division ever happens). For inverse contracts PnL is
``qty * multiplier * (1/entry - 1/exit)`` in the base asset, which is not a finite decimal in
general: each closed lot's PnL is rounded half-even to :data:`INVERSE_PNL_DP` places (one
satoshi for BTC), the same rule the simulated venue applies to inverse fees.

Once a position is flat again, FIFO and average-cost accounting agree on total PnL; they differ
only in how realized PnL is split across partial closes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal

from ._events import Side
from ._instruments import Instrument, InstrumentKind

__all__ = ["Position", "Portfolio", "INVERSE_PNL_DP"]

INVERSE_PNL_DP = 8
_INVERSE_Q = Decimal(1).scaleb(-INVERSE_PNL_DP)
_ZERO = Decimal(0)
_EXACT = Context(prec=80)
_BUY = Side.BUY
_SPOT, _INVERSE = InstrumentKind.SPOT, InstrumentKind.INVERSE


class Position:
    """One instrument's position: signed quantity, FIFO lots, realized PnL and fees paid."""

    __slots__ = ("instrument", "qty_raw", "lots", "realized_pnl", "fees", "ts_last", "fill_count",
                 "traded_notional", "_kind", "_dp", "_pnl_unit",
                 "_notional_unit")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.qty_raw = 0
        "Signed position in size units (positive long, negative short)."
        self.lots: deque[list[int]] = deque()
        "Open lots ``[price_raw, size_raw]`` (size unsigned; the sign is the position's), oldest first."
        self.realized_pnl = _ZERO
        "Realized PnL in the settle asset, before fees."
        self.fees = _ZERO
        "Fees paid in the fee asset (negative = rebates received)."
        self.ts_last = 0
        self.fill_count = 0
        self.traded_notional = _ZERO
        self._kind = instrument.kind
        self._dp = instrument.price_scale + instrument.size_scale
        self._pnl_unit = instrument.multiplier.scaleb(-self._dp, _EXACT)
        "``multiplier * 10**-dp``: realized PnL of linear / spot lots is ``_pnl_unit * units``."
        self._notional_unit = Decimal(1).scaleb(-self._dp)
        "``10**-dp``: a fill's notional is ``_notional_unit * price_raw * size_raw``."

    # -- views -----------------------------------------------------------------------------
    @property
    def qty(self) -> Decimal:
        return self.instrument.size_of(self.qty_raw)

    @property
    def is_flat(self) -> bool:
        return self.qty_raw == 0

    @property
    def avg_price(self) -> Decimal | None:
        """Size-weighted entry price of the open lots (exact quotient, not rounded to the tick)."""
        if not self.lots:
            return None
        size = sum(lot[1] for lot in self.lots)
        cost = sum(lot[0] * lot[1] for lot in self.lots)
        return (Decimal(cost) / Decimal(size)).scaleb(-self.instrument.price_scale)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """PnL of the open lots at ``mark`` in the settle asset."""
        if not self.lots:
            return _ZERO
        inst = self.instrument
        sign = 1 if self.qty_raw > 0 else -1
        if self._kind is InstrumentKind.INVERSE:
            total = _ZERO
            for price_raw, size_raw in self.lots:
                total += self._inverse_pnl(inst.price_of(price_raw), mark, size_raw, sign)
            return total
        mark_raw_exact = mark.scaleb(inst.price_scale)
        pnl_units = sum((mark_raw_exact - p) * s for p, s in self.lots) * sign
        return (pnl_units * inst.multiplier).scaleb(-self._dp)

    def notional(self, mark: Decimal) -> Decimal:
        """Absolute position value at ``mark`` in the settle asset."""
        return abs(self.instrument.notional(mark, self.qty)) if self.qty_raw else _ZERO

    # -- updates ---------------------------------------------------------------------------
    def apply_fill(self, side: Side, price_raw: int, size_raw: int, fee: Decimal, ts: int) -> Decimal:
        """Account one execution; returns the PnL it realized (settle asset, before fees)."""
        self.fill_count += 1
        self.ts_last = ts
        self.fees += fee
        inst = self.instrument
        signed = size_raw if side is _BUY else -size_raw
        qty = self.qty_raw
        realized = _ZERO
        if qty == 0 or (qty > 0) == (signed > 0):
            self.lots.append([price_raw, size_raw])
        else:
            remaining = size_raw
            sign = 1 if qty > 0 else -1  # sign of the position being reduced
            lots = self.lots
            units = 0
            inverse = self._kind is _INVERSE
            while remaining and lots:
                lot = lots[0]
                take = lot[1] if lot[1] <= remaining else remaining
                if inverse:
                    realized += self._inverse_pnl(inst.price_of(lot[0]), inst.price_of(price_raw), take, sign)
                else:
                    units += (price_raw - lot[0]) * take
                remaining -= take
                if take == lot[1]:
                    lots.popleft()
                else:
                    lot[1] -= take
            if not inverse and units:
                units *= sign
                if type(units) is int:
                    # == (Decimal(units) * multiplier).scaleb(-dp): the same product digits, one rounding
                    realized = self._pnl_unit * units
                else:
                    realized = (Decimal(units) * inst.multiplier).scaleb(-self._dp)
            if remaining:  # flipped through zero: the rest opens a new position
                lots.append([price_raw, remaining])
        self.qty_raw = qty + signed
        self.realized_pnl += realized
        return realized

    def _inverse_pnl(self, entry: Decimal, exit_: Decimal, size_raw: int, sign: int) -> Decimal:
        qty = self.instrument.size_of(size_raw) * self.instrument.multiplier
        pnl = qty * (1 / entry - 1 / exit_) * sign
        return pnl.quantize(_INVERSE_Q, rounding=ROUND_HALF_EVEN)

    def __repr__(self) -> str:
        return (f"<Position {self.instrument.key} qty={self.qty} avg={self.avg_price} "
                f"realized={self.realized_pnl} fees={self.fees}>")


class Portfolio:
    """Balances per asset and positions per instrument for one account.

    Spot fills move balances (quote out, base in, fee out). Derivative fills move no principal:
    realized PnL and fees are booked to the settle asset's balance.
    """

    def __init__(self, balances: Mapping[str, Decimal] | None = None) -> None:
        self.balances: dict[str, Decimal] = {k: Decimal(v) for k, v in (balances or {}).items()}
        self.starting_balances = dict(self.balances)
        self.positions: dict[str, Position] = {}
        self.realized_pnl = _ZERO
        self.fees_by_asset: dict[str, Decimal] = {}
        self.funding_by_asset: dict[str, Decimal] = {}
        "Funding received (negative: paid) per asset, summed over every payment booked."
        self.funding_by_instrument: dict[str, Decimal] = {}
        "Funding received (negative: paid) per instrument key, in its settle asset."

    def position(self, instrument: Instrument) -> Position:
        pos = self.positions.get(instrument.key)
        if pos is None:
            pos = self.positions[instrument.key] = Position(instrument)
        return pos

    def balance(self, asset: str) -> Decimal:
        return self.balances.get(asset, _ZERO)

    def apply_fill(self, instrument: Instrument, side: Side, price_raw: int, size_raw: int,
                   fee: Decimal, fee_asset: str, ts: int) -> Decimal:
        """Book one execution; returns the realized PnL (before fees)."""
        pos = self.positions.get(instrument.key)
        if pos is None:
            pos = self.position(instrument)
        realized = pos.apply_fill(side, price_raw, size_raw, fee, ts)
        balances = self.balances
        if fee:
            balances[fee_asset] = balances.get(fee_asset, _ZERO) - fee
            fees_by_asset = self.fees_by_asset
            fees_by_asset[fee_asset] = fees_by_asset.get(fee_asset, _ZERO) + fee
        if instrument.kind is _SPOT:
            units = price_raw * size_raw
            if type(units) is int:
                notional = pos._notional_unit * units  # == Decimal(units).scaleb(-(price_scale + size_scale))
            else:
                notional = Decimal(units).scaleb(-(instrument.price_scale + instrument.size_scale))
            qty = instrument.size_of(size_raw)
            if side is _BUY:
                balances[instrument.quote] = balances.get(instrument.quote, _ZERO) - notional
                balances[instrument.base] = balances.get(instrument.base, _ZERO) + qty
            else:
                balances[instrument.quote] = balances.get(instrument.quote, _ZERO) + notional
                balances[instrument.base] = balances.get(instrument.base, _ZERO) - qty
        elif realized:
            balances[instrument.settle] = balances.get(instrument.settle, _ZERO) + realized
        self.realized_pnl += realized
        return realized

    def apply_funding(self, instrument: Instrument, asset: str, amount: Decimal) -> None:
        """Book one funding payment on ``instrument``'s position: ``amount`` (received; negative:
        paid) into the balance of ``asset``, exactly. Positions and their lots are not touched."""
        if not amount:
            return
        balances = self.balances
        balances[asset] = balances.get(asset, _ZERO) + amount
        self.funding_by_asset[asset] = self.funding_by_asset.get(asset, _ZERO) + amount
        key = instrument.key
        self.funding_by_instrument[key] = self.funding_by_instrument.get(key, _ZERO) + amount

    def set_position(self, instrument: Instrument, qty: Decimal, avg_price: Decimal, ts: int = 0) -> Position:
        """Overwrite a position with the venue's figure (start-up adoption, reconciliation): one lot
        of signed ``qty`` at ``avg_price`` (rounded to the tick); balances and PnL are not touched."""
        pos = self.position(instrument)
        size_raw = instrument.size_raw(qty)
        pos.qty_raw = size_raw
        pos.lots.clear()
        if size_raw:
            pos.lots.append([instrument.price_raw(avg_price), abs(size_raw)])
        pos.ts_last = ts
        return pos

    def set_balance(self, asset: str, total: Decimal) -> None:
        """Overwrite a balance with the venue's figure (live reconciliation)."""
        self.balances[asset] = total

    def unrealized_pnl(self, marks: Mapping[str, Decimal]) -> dict[str, Decimal]:
        """Unrealized PnL of derivative positions by settle asset (spot is valued via balances)."""
        out: dict[str, Decimal] = {}
        for key, pos in self.positions.items():
            if pos.instrument.kind is InstrumentKind.SPOT or not pos.qty_raw or key not in marks:
                continue
            settle = pos.instrument.settle
            out[settle] = out.get(settle, _ZERO) + pos.unrealized_pnl(marks[key])
        return out

    def equity(self, currency: str, marks: Mapping[str, Decimal], rates: Mapping[str, Decimal] | None = None) -> Decimal:
        """Account value in ``currency``: balances valued at ``rates`` (asset → price in currency)
        plus unrealized PnL of derivatives. An asset without a rate counts as 0 and is reported by
        :meth:`unvalued_assets`."""
        rates = rates or {}
        total = _ZERO
        amounts = dict(self.balances)
        for asset, upnl in self.unrealized_pnl(marks).items():
            amounts[asset] = amounts.get(asset, _ZERO) + upnl
        for asset, amount in amounts.items():
            if not amount:
                continue
            if asset == currency:
                total += amount
            elif asset in rates:
                total += amount * rates[asset]
        return total

    def unvalued_assets(self, currency: str, rates: Mapping[str, Decimal]) -> list[str]:
        return sorted(a for a, v in self.balances.items() if v and a != currency and a not in rates)

    def open_positions(self) -> Iterable[Position]:
        return (p for p in self.positions.values() if p.qty_raw)

    def total_fees(self) -> dict[str, Decimal]:
        return dict(self.fees_by_asset)
