"""The pre-trade checks and the trading-state kill switch: :class:`RiskEngine`.

The engine calls :meth:`RiskEngine.check_order` for every new order after rounding it to tick and
lot, and before anything is sent, in every mode. Checks run cheapest first and the first failure
wins; the order goes DENIED with a :class:`~engine.Denial` whose reason is typed:

==========================  ======================================================================
trading state               HALTED admits nothing; REDUCING (or a strategy marked ``reduce_only``)
                            admits only orders that, with the open orders on their side, reduce a
                            position without flipping it
instrument rules            venue min/max quantity, configured max order quantity, positive
                            prices (the venue's min notional is checked with the notional limits)
leverage                    a value the venue allows (its discrete values, or up to its maximum)
                            and never above the user's cap
loss limits                 daily loss (UTC day of the engine clock) and drawdown from the peak,
                            both on realized + unrealized PnL − fees; a breach sets HALTED
open orders                 per account and per strategy
price band                  a limit price within ``price_band_bps`` of mid/mark/last (a stop-limit's
                            price within the band of its trigger)
notional                    venue min notional; max order notional; max position (base units and
                            notional) per instrument counting open orders on the same side; gross
                            notional per account; net base units per asset across instruments
rate limit                  optional, for backtests/paper: a bound :class:`RateLimiter`
==========================  ======================================================================

Limits are resolved once per (strategy, instrument) into scaled integers and Decimals, so an
admitted order costs a handful of integer compares and a few Decimal operations.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import attrs
import trio

from engine import Side, TradingStateChanged
from engine import Instrument, InstrumentKind
from engine import Order, OrderType
from engine import Denial, DenyReason, TradingState

from ._config import RiskConfig

if TYPE_CHECKING:
    from engine import Engine
    from engine import Fill
    from engine import Portfolio, Position

    from ._clock_skew import ServerClock
    from ._ratelimit import PreparedWeights, RateLimiter, RateLimitSpec

__all__ = ["RiskEngine", "RiskStatistics", "build_risk", "serve_kill_switch", "serve_kill_switch_signals"]

log = logging.getLogger("triotrade.risk")

DAY_NS = 86_400 * 1_000_000_000
_ZERO = Decimal(0)
_ONE = Decimal(1)
_BPS = 10_000
_HALTED = TradingState.HALTED
_ACTIVE = TradingState.ACTIVE
_REDUCING = TradingState.REDUCING
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP_MARKET = OrderType.STOP_MARKET
_STOP_LIMIT = OrderType.STOP_LIMIT
_BUY = Side.BUY


@attrs.frozen(slots=True)
class RiskStatistics:
    """What the risk module did so far (for status lines and reports)."""

    state: TradingState
    state_reason: str
    checks: int
    "Orders checked."
    admitted: int
    denied: Mapping[str, int]
    "Denials by :class:`~engine.DenyReason` value."
    state_changes: tuple[TradingStateChanged, ...]
    venue_failures: int
    "Venue failures currently counted toward the kill switch."
    pnl: Decimal | None
    "Last evaluated PnL in the account currency (None if loss limits are off and never evaluated)."


def _min(*values: Decimal | int | None) -> Decimal | int | None:
    present = [x for x in values if x is not None]
    return min(present) if present else None


def _ceil_raw(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale).to_integral_value(rounding=ROUND_CEILING))


def _floor_raw(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale).to_integral_value(rounding=ROUND_FLOOR))


class _Rules:
    """Limits of one (strategy, instrument) pair, resolved once into scaled integers and Decimals."""

    __slots__ = (
        "instrument", "key", "min_qty_raw", "venue_max_qty_raw", "user_max_qty_raw", "min_notional",
        "max_order_notional", "max_position_raw", "max_position_notional", "band_bps", "leverage_cap",
        "leverage_values", "strategy_max_open", "reduce_only", "asset_limit", "asset_limit_raw", "scan",
        "needs_notional",
        "inverse", "multiplier", "unit_multiplier", "price_exp", "size_exp", "settle", "in_currency",
    )

    def __init__(self, config: RiskConfig, strategy_id: str, inst: Instrument) -> None:
        s = config.strategy(strategy_id)
        i = config.instrument(inst.key)
        ss = inst.size_scale
        self.instrument = inst
        self.key = inst.key
        self.min_qty_raw = _ceil_raw(inst.min_qty, ss) if inst.min_qty > 0 else 1
        self.venue_max_qty_raw = _floor_raw(inst.max_qty, ss) if inst.max_qty is not None else None
        self.user_max_qty_raw = _floor_raw(i.max_order_qty, ss) if i.max_order_qty is not None else None
        self.min_notional = inst.min_notional if inst.min_notional > 0 else None
        self.max_order_notional = _min(config.max_order_notional, s.max_order_notional, i.max_order_notional)
        self.max_position_raw = _floor_raw(i.max_position_qty, ss) if i.max_position_qty is not None else None
        self.max_position_notional = _min(config.max_position_notional, i.max_position_notional)
        self.band_bps = _min(config.price_band_bps, s.price_band_bps, i.price_band_bps)
        self.leverage_cap = _min(config.max_leverage, s.max_leverage, i.max_leverage)
        # Decimal hashes like int for integral values, so Decimal(5) is found among ints
        self.leverage_values = frozenset(inst.leverage_values)
        self.strategy_max_open = s.max_open_orders
        self.reduce_only = s.reduce_only
        self.asset_limit = config.max_asset_position.get(inst.base)
        # the asset limit in this instrument's size units (base units = qty * multiplier)
        self.asset_limit_raw = (
            int((self.asset_limit / inst.multiplier).scaleb(ss).to_integral_value(rounding=ROUND_FLOOR))
            if self.asset_limit is not None and inst.kind is not InstrumentKind.INVERSE else None
        )
        self.scan = (
            self.strategy_max_open is not None or self.max_position_raw is not None
            or self.max_position_notional is not None or config.max_account_notional is not None
            or self.asset_limit is not None
        )
        self.needs_notional = (
            self.min_notional is not None or self.max_order_notional is not None
            or self.max_position_notional is not None or config.max_account_notional is not None
            or self.asset_limit is not None
        )
        self.inverse = inst.kind is InstrumentKind.INVERSE
        self.multiplier = inst.multiplier
        self.unit_multiplier = inst.multiplier == 1
        self.price_exp = -inst.price_scale
        self.size_exp = -ss
        self.settle = inst.settle
        self.in_currency = inst.settle == config.currency

    def notional(self, price: Decimal, qty_raw: int) -> Decimal:
        """Value of ``qty_raw`` at ``price`` in the settle asset (the instrument's own formula)."""
        qty = Decimal(qty_raw).scaleb(self.size_exp)
        if self.inverse:
            return qty * self.multiplier / price
        value = qty * price
        return value if self.unit_multiplier else value * self.multiplier

    def base_units(self, price: Decimal, qty_raw: int) -> Decimal:
        """Signed exposure of ``qty_raw`` in the base asset (inverse contracts: value / price)."""
        if self.inverse:
            value = self.notional(price, abs(qty_raw))
            return value if qty_raw >= 0 else -value
        qty = Decimal(qty_raw).scaleb(self.size_exp)
        return qty if self.unit_multiplier else qty * self.multiplier


class _OpenPosition:
    """An open position reduced to the constants the checks need, so a mark prices it in O(1).

    Unrealized PnL of FIFO lots ``(p_i, s_i)`` at ``mark`` is ``sign·mult·Σ(mark − p_i)·s_i``, i.e.
    ``mark·a − b`` with ``a = sign·mult·Σs_i`` and ``b = sign·mult·Σp_i·s_i`` (scaled back to
    Decimal), exactly what :meth:`Position.unrealized_pnl` computes lot by lot.
    """

    __slots__ = ("key", "instrument", "position", "base", "settle", "in_currency", "inverse", "a", "b",
                 "abs_units", "base_units", "entry")

    def __init__(self, pos: Position, currency: str) -> None:
        inst = pos.instrument
        ps, ss = inst.price_scale, inst.size_scale
        size = cost = 0
        for price_raw, size_raw in pos.lots:
            size += size_raw
            cost += price_raw * size_raw
        sign = 1 if pos.qty_raw > 0 else -1
        self.key = inst.key
        self.instrument = inst
        self.position = pos
        self.base = inst.base
        self.settle = inst.settle
        self.in_currency = inst.settle == currency
        self.inverse = inst.kind is InstrumentKind.INVERSE
        self.a = (Decimal(size * sign) * inst.multiplier).scaleb(-ss)
        self.b = (Decimal(cost * sign) * inst.multiplier).scaleb(-(ps + ss))
        self.abs_units = abs(pos.qty) * inst.multiplier
        self.base_units = pos.qty * inst.multiplier
        self.entry = pos.avg_price or Decimal(1)

    def unrealized(self, mark: Decimal) -> Decimal:
        if self.inverse:
            return self.position.unrealized_pnl(mark)
        return mark * self.a - self.b

    def value(self, mark: Decimal) -> Decimal:
        """Absolute value at ``mark`` in the settle asset."""
        return self.abs_units / mark if self.inverse else self.abs_units * mark

    def base_at(self, mark: Decimal) -> Decimal:
        if self.inverse:
            value = self.abs_units / mark
            return value if self.base_units > 0 else -value
        return self.base_units


class _Snapshot:
    """What changes only when a fill is booked: closed PnL by asset and the open positions.

    Valid while ``portfolio.realized_pnl`` is the same object: :meth:`Portfolio.apply_fill`
    always rebinds it (``+=`` on a Decimal makes a new one), and the snapshot holds a reference to
    the old one, so the identity cannot be reused.
    """

    __slots__ = ("portfolio", "stamp", "closed_currency", "closed_other", "open", "base_units", "units_by_key",
                 "inverse_bases")

    def __init__(self, portfolio: Portfolio, currency: str) -> None:
        self.portfolio = portfolio
        self.stamp = portfolio.realized_pnl
        closed: dict[str, Decimal] = {}
        opened: list[_OpenPosition] = []
        for pos in portfolio.positions.values():
            if pos.realized_pnl:
                settle = pos.instrument.settle
                closed[settle] = closed.get(settle, _ZERO) + pos.realized_pnl
            if pos.qty_raw:
                opened.append(_OpenPosition(pos, currency))
        for asset, fee in portfolio.fees_by_asset.items():
            if fee:
                closed[asset] = closed.get(asset, _ZERO) - fee
        self.closed_currency = closed.pop(currency, _ZERO)
        self.closed_other = tuple(closed.items())
        self.open = tuple(opened)
        self.base_units: dict[str, Decimal] = {}
        "Net base units per asset over the open linear and spot positions."
        self.units_by_key: dict[str, Decimal] = {}
        self.inverse_bases = frozenset(op.base for op in opened if op.inverse)
        for op in opened:
            if not op.inverse:
                self.base_units[op.base] = self.base_units.get(op.base, _ZERO) + op.base_units
                self.units_by_key[op.key] = op.base_units


class RiskEngine:
    """Implements :class:`~engine.RiskGate`: every check, the kill switch, loss limits.

    One instance per account. ``state`` is the trading state; change it with :meth:`set_state`
    (from the CLI, a signal, a limit, or :meth:`record_venue_failure`), which tells the engine
    and, through it, every strategy.
    """

    def __init__(self, config: RiskConfig | None = None, *, engine: Engine | None = None) -> None:
        self.config = config if config is not None else RiskConfig()
        self.state: TradingState = self.config.state
        self.state_reason = "initial state from configuration" if self.state is not _ACTIVE else ""
        self._engine: Engine | None = None
        self._rules: dict[tuple[str, str], _Rules] = {}
        self._currency = self.config.currency
        self._require_ref = self.config.require_reference_price
        self._max_open = self.config.max_open_orders
        self._gross_limit = self.config.max_account_notional
        self._loss_limits = self.config.daily_loss_limit is not None or self.config.max_drawdown is not None
        self._checks = 0
        self._denied: dict[str, int] = {}
        self._state_changes: list[TradingStateChanged] = []
        self._failures: list[float] = []
        self._order_limiters: dict[str, tuple[RateLimiter, PreparedWeights]] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._clocks: dict[str, ServerClock] = {}
        # PnL tracking
        self._snap: _Snapshot | None = None
        self._day = -1
        self._day_start_pnl = _ZERO
        self._peak_pnl: Decimal | None = None
        self._pnl: Decimal | None = None
        self._last_marks: dict[str, Decimal] = {}
        self._rate_instruments: dict[tuple[str, str], tuple[Instrument, bool] | None] = {}
        self._unvalued_warned: set[str] = set()
        if engine is not None:
            self.attach(engine)

    # -- wiring ----------------------------------------------------------------------------
    def attach(self, engine: Engine) -> None:
        """Use ``engine`` for state announcements, clock, portfolio and marks (done on first use)."""
        self._engine = engine
        self._rate_instruments.clear()
        self._snap = None

    def rate_limiter(self, key: str, specs: Iterable[RateLimitSpec] = ()) -> RateLimiter:
        """The limiter shared by everything sent on one venue account (``"venue:account"``).

        Created on first use with the configured behaviour (``[risk.rate_limits]``); ``specs``
        (the venue's published limits) are added, or update the ones of the same scope/interval.
        """
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = self.config.rate_limits.build_limiter(name=key)
        for spec in specs:
            limiter.add_spec(spec)
        return limiter

    def server_clock(self, key: str) -> ServerClock:
        """The clock-offset estimator of one venue (``"venue"`` or ``"venue:host"``), shared by its signers."""
        clock = self._clocks.get(key)
        if clock is None:
            clock = self._clocks[key] = self.config.clock.build_clock(name=key)
        return clock

    def bind_order_rate_limit(self, venue: str, limiter: RateLimiter, weights: Mapping[str, int]) -> None:
        """Meter orders of ``venue`` in :meth:`check_order` (backtest/paper, where no gateway does).

        An order over the limit is denied with ``RATE_LIMITED`` (a synchronous check cannot wait).
        Give ``limiter`` the engine's simulated time as its clock in a backtest.
        """
        self._order_limiters[venue] = (limiter, limiter.prepare(weights))

    # -- the gate --------------------------------------------------------------------------
    def check_order(self, order: Order, engine: Engine) -> Denial | None:
        """Admit (None) or deny a new order; see the module docstring for the checks."""
        if self._engine is not engine:
            self.attach(engine)
        self._checks += 1
        state = self.state
        if state is _HALTED:
            return self._deny(order, DenyReason.TRADING_HALTED, f"trading is halted: {self.state_reason}")
        inst = order.instrument
        rules = self._rules.get((order.strategy_id, inst.key))
        if rules is None or rules.instrument is not inst:
            rules = self._rules[(order.strategy_id, inst.key)] = _Rules(self.config, order.strategy_id, inst)

        # -- instrument rules (scaled integers) ------------------------------------------------
        qty = order.qty_raw
        if qty < rules.min_qty_raw:
            return self._deny(order, DenyReason.BELOW_MIN_QTY,
                              f"quantity {order.qty} is below the venue's minimum {inst.min_qty}")
        if rules.venue_max_qty_raw is not None and qty > rules.venue_max_qty_raw:
            return self._deny(order, DenyReason.ABOVE_MAX_QTY,
                              f"quantity {order.qty} is above the venue's maximum {inst.max_qty}")
        if rules.user_max_qty_raw is not None and qty > rules.user_max_qty_raw:
            return self._deny(order, DenyReason.ABOVE_MAX_QTY,
                              f"quantity {order.qty} is above max_order_qty "
                              f"{self.config.instrument(inst.key).max_order_qty}")
        price_raw = order.price_raw
        trigger_raw = order.trigger_raw
        if (price_raw is not None and price_raw <= 0) or (trigger_raw is not None and trigger_raw <= 0):
            return self._deny(order, DenyReason.INVALID_PRICE, "prices must be positive")
        if order.leverage is not None:
            denial = self._check_leverage(order, rules)
            if denial is not None:
                return denial

        # -- loss limits (may halt) -----------------------------------------------------------
        snap: _Snapshot | None = None
        marks: list[Decimal] | None = None
        if self._loss_limits:
            snap = self._snap
            portfolio = engine.portfolio
            if snap is None or snap.stamp is not portfolio.realized_pnl or snap.portfolio is not portfolio:
                snap = self._snapshot(engine)
            marks = []
            denial = self._check_losses(engine, self._marks_and_pnl(engine, snap, marks))
            if denial is not None:
                return self._deny(order, denial.reason, denial.detail)

        # -- open orders, reducing state -----------------------------------------------------
        open_orders = engine.open_order_ids
        external = engine.external_orders  # not ours, left alone: they count all the same
        if self._max_open is not None and len(open_orders) + len(external) >= self._max_open:
            return self._deny(order, DenyReason.MAX_OPEN_ORDERS,
                              f"{len(open_orders) + len(external)} orders open on the account"
                              f"{f' ({len(external)} external)' if external else ''} (max_open_orders {self._max_open})")
        reducing = state is _REDUCING or rules.reduce_only
        side = order.side
        leaves_same = 0
        if rules.scan or reducing:
            sid = order.strategy_id
            key = rules.key
            n_strategy = 0
            for o in open_orders.values():
                if o.strategy_id == sid:
                    n_strategy += 1
                if o.side is side and o.instrument.key == key:
                    leaves_same += o.qty_raw - o.filled_raw
            for o in external.values():
                if o.side is side and o.instrument.key == key:
                    leaves_same += o.qty_raw - o.filled_raw
            cap = rules.strategy_max_open
            if cap is not None and n_strategy >= cap:
                return self._deny(order, DenyReason.MAX_OPEN_ORDERS,
                                  f"strategy {sid} has {n_strategy} orders open (max_open_orders {cap})")
        position = engine.portfolio.positions.get(rules.key)
        pos_raw = position.qty_raw if position is not None else 0
        exposure_now = pos_raw if side is _BUY else -pos_raw  # > 0: the order adds to the position
        exposure_after = exposure_now + leaves_same + qty  # worst case in the order's direction
        if reducing and (exposure_now >= 0 or exposure_after > 0):
            why = "trading state is REDUCING" if state is _REDUCING else f"strategy {order.strategy_id} is reduce_only"
            return self._deny(order, DenyReason.REDUCE_ONLY_STATE,
                              f"{why}: {side.name} {order.qty} with {inst.size_of(leaves_same)} open on that side "
                              f"does not reduce position {inst.size_of(pos_raw)}")
        if rules.max_position_raw is not None and exposure_after > rules.max_position_raw:
            return self._deny(order, DenyReason.MAX_POSITION,
                              f"position {inst.size_of(pos_raw)} with {inst.size_of(leaves_same)} open and this "
                              f"{side.name} {order.qty} could reach {inst.size_of(exposure_after)} "
                              f"(max_position_qty {self.config.instrument(inst.key).max_position_qty})")

        # -- price band ------------------------------------------------------------------------
        otype = order.type
        ref: Decimal | None = None
        looked_up = False
        band = rules.band_bps
        if band is not None:
            if otype is _LIMIT:
                source = engine.mark_source
                ref = source(inst) if source is not None else None
                looked_up = True
                if ref is None or ref <= 0:
                    ref = None
                    if self._require_ref:
                        return self._deny(order, DenyReason.NO_REFERENCE_PRICE,
                                          f"no mid/mark/last for {inst.key} to check the price band against")
                else:
                    assert price_raw is not None
                    ref_raw = ref.scaleb(inst.price_scale)
                    if abs(price_raw - ref_raw) * _BPS > band * ref_raw:
                        return self._deny(order, DenyReason.PRICE_BAND,
                                          f"limit {order.price} is {abs(price_raw - ref_raw) * _BPS / ref_raw:.0f} bps "
                                          f"from reference {ref} (band {band} bps)")
            elif otype is _STOP_LIMIT and price_raw is not None and trigger_raw is not None:
                if abs(price_raw - trigger_raw) * _BPS > band * trigger_raw:
                    return self._deny(order, DenyReason.PRICE_BAND,
                                      f"stop-limit price {order.price} is more than {band} bps from its "
                                      f"trigger {order.trigger_price}")

        # -- notional --------------------------------------------------------------------------
        if rules.needs_notional:
            if otype is _MARKET:
                if not looked_up:
                    ref = self._reference(engine, inst)
                    looked_up = True
                price = ref
            elif otype is _STOP_MARKET:
                price = Decimal(trigger_raw).scaleb(rules.price_exp) if trigger_raw is not None else None
            else:
                price = Decimal(price_raw).scaleb(rules.price_exp) if price_raw is not None else None
            if price is None:
                if self._require_ref:
                    return self._deny(order, DenyReason.NO_REFERENCE_PRICE,
                                      f"no mid/mark/last for {inst.key} to value a {otype.value} order")
            else:
                if not looked_up:
                    ref = self._reference(engine, inst)
                mark = ref if ref is not None else price
                denial = self._check_notional(order, engine, rules, price, mark, exposure_now, exposure_after,
                                              pos_raw, leaves_same, snap, marks)
                if denial is not None:
                    return denial

        # -- rate limit (backtest / paper) ---------------------------------------------------
        if self._order_limiters:
            bound = self._order_limiters.get(inst.venue)
            if bound is not None and not bound[0].try_acquire(bound[1]):
                return self._deny(order, DenyReason.RATE_LIMITED,
                                  f"order rate limit of {inst.venue} reached ({bound[0]!r})")
        return None

    def on_fill(self, fill: Fill, engine: Engine) -> None:
        """Account a fill: re-evaluate loss limits (which may halt trading)."""
        if self._engine is not engine:
            self.attach(engine)
        if self._loss_limits:
            self._evaluate(engine)

    # -- pieces of the check ---------------------------------------------------------------
    def _deny(self, order: Order, reason: DenyReason, detail: str) -> Denial:
        self._denied[reason.value] = self._denied.get(reason.value, 0) + 1
        log.info("denied %s (%s, %s %s %s): %s: %s", order.client_order_id, order.strategy_id,
                 order.instrument.key, order.side.name, order.qty, reason.value, detail)
        return Denial(reason, detail)

    def _check_leverage(self, order: Order, rules: _Rules) -> Denial | None:
        inst = order.instrument
        lev = order.leverage
        assert lev is not None
        if rules.leverage_values:
            if lev not in rules.leverage_values:
                allowed = ", ".join(str(x) for x in inst.leverage_values)
                return self._deny(order, DenyReason.LEVERAGE_NOT_ALLOWED,
                                  f"leverage {lev} is not one the venue allows for {inst.key} ({allowed})")
        elif inst.max_leverage is not None:
            if lev < 1 or lev > inst.max_leverage:
                return self._deny(order, DenyReason.LEVERAGE_NOT_ALLOWED,
                                  f"leverage {lev} is outside 1..{inst.max_leverage} for {inst.key}")
        elif lev != 1:
            return self._deny(order, DenyReason.LEVERAGE_NOT_ALLOWED, f"{inst.key} is not leveraged")
        cap = rules.leverage_cap
        if cap is not None and lev > cap:
            return self._deny(order, DenyReason.LEVERAGE_ABOVE_CAP,
                              f"leverage {lev} is above the configured max_leverage {cap}")
        return None

    def _check_notional(
        self, order: Order, engine: Engine, rules: _Rules, price: Decimal, mark: Decimal,
        exposure_now: int, exposure_after: int, pos_raw: int, leaves_same: int,
        snap: _Snapshot | None, marks: list[Decimal] | None,
    ) -> Denial | None:
        """Order value at its own price; exposure values at ``mark`` (mid/mark/last, else the price)."""
        inst = rules.instrument
        notional = rules.notional(price, order.qty_raw)
        if rules.min_notional is not None and notional < rules.min_notional:
            return self._deny(order, DenyReason.BELOW_MIN_NOTIONAL,
                              f"order value {notional} {rules.settle} is below the venue's minimum "
                              f"{rules.min_notional}")
        rate = _ONE
        if not rules.in_currency:
            found = self._rate(engine, rules.settle)
            if found is None:
                if self._require_ref:
                    return self._deny(order, DenyReason.NO_REFERENCE_PRICE,
                                      f"no rate for {rules.settle} in {self._currency}")
                return None
            rate = found
        limit = rules.max_order_notional
        if limit is not None:
            value = notional if rules.in_currency else notional * rate
            if value > limit:
                return self._deny(order, DenyReason.MAX_ORDER_NOTIONAL,
                                  f"order value {value:.2f} {self._currency} is above max_order_notional {limit}")
        asset_limit = rules.asset_limit
        if asset_limit is not None:
            # net base units over every instrument on this base; checked even for an order that
            # reduces its own instrument's position, since it may add to the asset's net exposure
            if snap is None:
                snap = self._snapshot(engine)
            this_after = pos_raw + (leaves_same + order.qty_raw if order.side is _BUY else -leaves_same - order.qty_raw)
            key, base = rules.key, inst.base
            if base in snap.inverse_bases:  # contracts whose base exposure moves with the mark
                if marks is None:
                    marks = self._marks(engine, snap)
                others = _ZERO
                for op, op_mark in zip(snap.open, marks):
                    if op.base == base and op.key != key:
                        others += op.base_at(op_mark)
            else:
                others = snap.base_units.get(base, _ZERO) - snap.units_by_key.get(key, _ZERO)
            limit_raw = rules.asset_limit_raw
            if not others and limit_raw is not None:  # only this instrument holds the asset: integers
                over = abs(this_after) > limit_raw and abs(this_after) > abs(pos_raw)
            else:
                net_after = rules.base_units(mark, this_after) + others
                over = abs(net_after) > asset_limit and abs(net_after) > abs(rules.base_units(mark, pos_raw) + others)
            if over:
                net_after = rules.base_units(mark, this_after) + others
                return self._deny(order, DenyReason.MAX_POSITION,
                                  f"net {base} position over all instruments could reach {net_after} "
                                  f"(max_asset_position {asset_limit})")
        if exposure_after <= 0:
            return None  # with its side's open orders the order only reduces: no exposure limit applies
        limit = rules.max_position_notional
        exposure_value: Decimal | None = None
        if limit is not None:
            exposure_value = rules.notional(mark, exposure_after)
            if not rules.in_currency:
                exposure_value *= rate
            if exposure_value > limit:
                return self._deny(order, DenyReason.MAX_POSITION_NOTIONAL,
                                  f"position could reach {inst.size_of(exposure_after)} worth "
                                  f"{exposure_value:.2f} {self._currency} (max_position_notional {limit})")
        gross_limit = self._gross_limit
        if gross_limit is not None and exposure_after > abs(pos_raw):
            if snap is None or marks is None:
                snap = self._snapshot(engine)
                marks = self._marks(engine, snap)
            if exposure_value is None:
                exposure_value = rules.notional(mark, exposure_after)
                if not rules.in_currency:
                    exposure_value *= rate
            gross = exposure_value
            key = rules.key
            currency = self._currency
            for op, op_mark in zip(snap.open, marks):
                if op.key != key:
                    value = op.value(op_mark)
                    if not op.in_currency:
                        value *= self._rate(engine, op.settle) or _ONE
                    gross += value
            if gross > gross_limit:
                return self._deny(order, DenyReason.MAX_ACCOUNT_NOTIONAL,
                                  f"gross position value could reach {gross:.2f} {currency} "
                                  f"(max_account_notional {gross_limit})")
        return None

    def _reference(self, engine: Engine, inst: Instrument) -> Decimal | None:
        source = engine.mark_source
        if source is None:
            return None
        ref = source(inst)
        if ref is not None and ref <= 0:
            return None
        return ref

    def _rate(self, engine: Engine, asset: str) -> Decimal | None:
        """Price of one ``asset`` in the account currency, from an instrument quoting it."""
        currency = self._currency
        if asset == currency:
            return _ONE
        key = (asset, currency)
        if key in self._rate_instruments:
            found = self._rate_instruments[key]
        else:
            # prefer a spot market quoting the asset, then any contract on it, then the inverse pair
            ranked: list[tuple[int, Instrument, bool]] = []
            for inst in engine.instruments.values():
                spot = inst.kind is InstrumentKind.SPOT
                if inst.base == asset and inst.quote == currency:
                    ranked.append((0 if spot else 1, inst, False))
                elif inst.base == currency and inst.quote == asset:
                    ranked.append((2 if spot else 3, inst, True))
            best = min(ranked, key=lambda r: r[0], default=None)
            found = None if best is None else (best[1], best[2])
            self._rate_instruments[key] = found
        if found is None:
            return None
        inst, inverted = found
        mark = self._reference(engine, inst)
        if mark is None:
            return None
        return 1 / mark if inverted else mark

    # -- PnL, loss limits --------------------------------------------------------------------
    def _snapshot(self, engine: Engine) -> _Snapshot:
        portfolio = engine.portfolio
        snap = self._snap
        if snap is None or snap.stamp is not portfolio.realized_pnl or snap.portfolio is not portfolio:
            snap = self._snap = _Snapshot(portfolio, self._currency)
        return snap

    def _marks(self, engine: Engine, snap: _Snapshot) -> list[Decimal]:
        """Mid/mark/last of each open position (else the last one seen, else the entry price)."""
        source = engine.mark_source
        last = self._last_marks
        marks = []
        for op in snap.open:
            mark = source(op.instrument) if source is not None else None
            if mark is None or mark <= 0:
                mark = last.get(op.key) or op.entry
            else:
                last[op.key] = mark
            marks.append(mark)
        return marks

    def _marks_and_pnl(self, engine: Engine, snap: _Snapshot, marks: list[Decimal]) -> Decimal:
        """PnL in the account currency; appends each open position's mark to ``marks`` on the way."""
        source = engine.mark_source
        last = self._last_marks
        total = snap.closed_currency
        for asset, amount in snap.closed_other:
            total += self._in_currency(engine, asset, amount)
        for op in snap.open:
            mark = source(op.instrument) if source is not None else None
            if mark is None or mark <= 0:
                mark = last.get(op.key) or op.entry
            else:
                last[op.key] = mark
            marks.append(mark)
            if op.inverse:
                upnl = op.position.unrealized_pnl(mark)
            else:
                upnl = mark * op.a - op.b
            total += upnl if op.in_currency else self._in_currency(engine, op.settle, upnl)
        return total

    def _in_currency(self, engine: Engine, asset: str, amount: Decimal) -> Decimal:
        rate = self._rate(engine, asset)
        if rate is None:
            if asset not in self._unvalued_warned:
                self._unvalued_warned.add(asset)
                log.warning("PnL in %s cannot be valued in %s (no instrument quotes it); it is left "
                            "out of the loss limits", asset, self._currency)
            return _ZERO
        return amount * rate

    def _check_losses(self, engine: Engine, pnl: Decimal) -> Denial | None:
        """Daily loss and drawdown at ``pnl``; halts trading and returns the denial on a breach."""
        self._pnl = pnl
        day = engine.clock.now_ns() // DAY_NS
        if day != self._day:
            self._day = day
            self._day_start_pnl = pnl
        peak = self._peak_pnl
        if peak is None or pnl > peak:
            peak = self._peak_pnl = pnl
        limit = self.config.daily_loss_limit
        if limit is not None:
            loss = self._day_start_pnl - pnl
            if loss >= limit:
                detail = f"loss today {loss:.2f} {self._currency} reached daily_loss_limit {limit}"
                self.set_state(_HALTED, detail)
                return Denial(DenyReason.DAILY_LOSS_LIMIT, detail)
        limit = self.config.max_drawdown
        if limit is not None and peak - pnl >= limit:
            detail = (f"drawdown {peak - pnl:.2f} {self._currency} from peak PnL {peak:.2f} "
                      f"reached max_drawdown {limit}")
            self.set_state(_HALTED, detail)
            return Denial(DenyReason.MAX_DRAWDOWN, detail)
        return None

    def _evaluate(self, engine: Engine) -> Denial | None:
        snap = self._snapshot(engine)
        return self._check_losses(engine, self._marks_and_pnl(engine, snap, []))

    def evaluate(self, engine: Engine | None = None) -> Denial | None:
        """Re-check loss limits now; runners call this on mark updates or a timer. Halts on a breach."""
        engine = engine or self._engine
        if engine is None:
            raise RuntimeError("RiskEngine is not attached to an engine")
        if self._engine is not engine:
            self.attach(engine)
        return self._evaluate(engine) if self._loss_limits else None

    def current_pnl(self, engine: Engine | None = None) -> Decimal:
        """Realized + unrealized PnL − fees of the account, in the account currency."""
        engine = engine or self._engine
        if engine is None:
            raise RuntimeError("RiskEngine is not attached to an engine")
        snap = self._snapshot(engine)
        return self._marks_and_pnl(engine, snap, [])

    # -- the kill switch ---------------------------------------------------------------------
    def set_state(self, state: TradingState, reason: str, *, rebaseline: bool = False,
                  routine: bool = False) -> bool:
        """Change the trading state; announces it to the engine (HALTED cancels every open order).

        ``routine=True`` marks a planned transition (the HALTED of a normal stop): it is logged
        at INFO instead of WARNING.

        Returns False if the state was already ``state``. ``rebaseline=True`` (an operator
        resuming after a loss-limit halt) restarts the day's loss and the drawdown peak from the
        current PnL, so the same loss does not halt again at once.
        """
        if rebaseline and self._engine is not None and self._loss_limits:
            pnl = self.current_pnl(self._engine)
            self._day_start_pnl = pnl
            self._peak_pnl = pnl
            self._day = self._engine.clock.now_ns() // DAY_NS
        if state is self.state:
            return False
        previous = self.state
        self.state = state
        self.state_reason = reason
        engine = self._engine
        ts = engine.clock.now_ns() if engine is not None else time.time_ns()
        change = TradingStateChanged(ts, ts, state.value, previous.value, reason)
        self._state_changes.append(change)
        if state is _ACTIVE:
            self._failures.clear()
        log.log(logging.INFO if routine else logging.WARNING, "trading state %s -> %s: %s",
                previous.value, state.value, reason)
        if engine is not None:
            engine.set_trading_state(change)
        return True

    def record_venue_failure(self, detail: str = "") -> bool:
        """Count a venue failure (timeout, 5xx, unknown outcome, lost connection).

        ``kill_switch.venue_failures`` failures within ``failure_window_s`` without a success in
        between set HALTED. Returns True if this failure halted trading.
        """
        settings = self.config.kill_switch
        if settings.venue_failures == 0:
            return False
        now = self._now_s()
        horizon = now - settings.failure_window_s
        self._failures = [t for t in self._failures if t > horizon]
        self._failures.append(now)
        log.info("venue failure %d/%d: %s", len(self._failures), settings.venue_failures, detail)
        if len(self._failures) >= settings.venue_failures and self.state is not _HALTED:
            count = len(self._failures)
            self._failures.clear()
            return self.set_state(_HALTED, f"{count} venue failures within {settings.failure_window_s} s"
                                  + (f"; last: {detail}" if detail else ""))
        return False

    def record_venue_success(self) -> None:
        """A venue command or request succeeded: the failure count starts again."""
        self._failures.clear()

    def _now_s(self) -> float:
        if self._engine is not None:
            return self._engine.clock.now_ns() / 1e9
        return time.monotonic()

    # -- reporting ---------------------------------------------------------------------------
    @property
    def denials(self) -> dict[str, int]:
        """Denials by reason value, counted by this module."""
        return dict(self._denied)

    def statistics(self) -> RiskStatistics:
        denied = sum(self._denied.values())
        return RiskStatistics(
            state=self.state,
            state_reason=self.state_reason,
            checks=self._checks,
            admitted=self._checks - denied,
            denied=dict(self._denied),
            state_changes=tuple(self._state_changes),
            venue_failures=len(self._failures),
            pnl=self._pnl,
        )

    def __repr__(self) -> str:
        return f"<RiskEngine {self.state.value} checks={self._checks} denied={sum(self._denied.values())}>"


def build_risk(table: Mapping[str, Any], *, source: str = "<config>", key: str = "risk") -> RiskEngine:
    """The risk gate for a run from its ``[risk]`` table (the same in backtest, paper and live).

    Raises :class:`~engine.ConfigError` naming ``source`` and the key of every bad value.
    """
    return RiskEngine(RiskConfig.from_mapping(table, source=source, key=key))


_DEFAULT_SIGNALS: Mapping[int, TradingState] = {
    signal.SIGUSR1: TradingState.REDUCING,
    signal.SIGUSR2: TradingState.HALTED,
}


async def serve_kill_switch_signals(
    risk: RiskEngine,
    *,
    signals: Mapping[int, TradingState] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Set the trading state from POSIX signals (default: SIGUSR1 → REDUCING, SIGUSR2 → HALTED).

    Never returns; run it in the engine's nursery (``await nursery.start(...)``). Must run in
    the main thread, as trio's signal handling requires.
    """
    mapping = dict(_DEFAULT_SIGNALS if signals is None else signals)
    with trio.open_signal_receiver(*mapping) as received:
        task_status.started()
        async for signum in received:
            state = mapping[signum]
            risk.set_state(state, f"signal {signal.Signals(signum).name}")



async def serve_kill_switch(gate: object) -> None:
    """The live app's kill-switch plug-in: :func:`serve_kill_switch_signals` if ``gate`` is a
    :class:`RiskEngine` (another gate has no trading state to set), else return at once."""
    if isinstance(gate, RiskEngine):
        await serve_kill_switch_signals(gate)
