"""Risk configuration: account limits, per-strategy and per-instrument overrides, rate-limit
behaviour, clock-skew guard and kill-switch settings, as frozen attrs classes read from TOML.

The same table configures backtest, paper, testnet and live::

    [risk]
    currency = "USD"
    max_order_notional = "25000"
    max_open_orders = 50
    price_band_bps = 500
    daily_loss_limit = "1000"

    [risk.strategies.mm]
    max_open_orders = 10

    [risk.instruments."sim:BTC/USD"]
    max_position_qty = "2"

Overrides only tighten: a strategy's or an instrument's limit is combined with the account's by
taking the smaller, and a value above the account's is a configuration error. Every limit that
is not set is not checked. Notional limits and PnL limits are in ``currency``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import attrs
from attrs import validators as v

from engine import TomlConfig
from engine import TradingState

if TYPE_CHECKING:
    from ._clock_skew import ServerClock
    from ._ratelimit import RateLimiter, RateLimitSpec

__all__ = [
    "RiskConfig",
    "StrategyLimits",
    "InstrumentLimits",
    "RateLimitSettings",
    "ClockSkewSettings",
    "KillSwitchSettings",
]

def _positive_dec(instance: object, attribute: attrs.Attribute[Any], value: Decimal | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _positive_int(instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value}")


def _leverage_cap(instance: object, attribute: attrs.Attribute[Any], value: Decimal | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


@attrs.frozen
class InstrumentLimits(TomlConfig):
    """Limits for one instrument: ``[risk.instruments."venue:symbol"]``. Unset = the account's."""

    max_order_qty: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest order quantity in base units (the venue's own maximum applies as well)."
    max_position_qty: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest absolute position in base units, counting open orders on the same side."
    max_order_notional: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest order value in the account currency."
    max_position_notional: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest absolute position value (with open orders on the same side) in the account currency."
    price_band_bps: int | None = attrs.field(default=None, validator=_positive_int)
    "Fat-finger band: a limit price at most this many basis points from mid/mark/last."
    max_leverage: Decimal | None = attrs.field(default=None, validator=_leverage_cap)
    "User cap on leverage (the venue's allowed values apply as well)."


@attrs.frozen
class StrategyLimits(TomlConfig):
    """Limits for one strategy's orders: ``[risk.strategies.<id>]``. Unset = the account's."""

    max_order_notional: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest order value in the account currency."
    max_open_orders: int | None = attrs.field(default=None, validator=_positive_int)
    "Most orders this strategy may have open at once."
    price_band_bps: int | None = attrs.field(default=None, validator=_positive_int)
    "Fat-finger band for this strategy's limit orders."
    max_leverage: Decimal | None = attrs.field(default=None, validator=_leverage_cap)
    "User cap on leverage for this strategy."
    reduce_only: bool = False
    "Admit only orders that reduce a position, whatever the trading state."


@attrs.frozen
class RateLimitSettings(TomlConfig):
    """What a command over a venue's rate limit does: ``[risk.rate_limits]``."""

    on_limit: Literal["wait", "deny"] = "wait"
    "``wait`` (up to ``max_wait_ms``, then deny) or ``deny`` at once."
    max_wait_ms: int = attrs.field(default=5000, validator=v.ge(0))
    "Longest a command may wait for its turn before it is denied with ``rate_limited``."
    burst_fraction: float = attrs.field(default=0.1, validator=[v.gt(0.0), v.lt(1.0)])
    "Share of a limit that may go out at once; the rest is spread evenly over the interval."
    utilization: float = attrs.field(default=0.95, validator=[v.gt(0.0), v.le(1.0)])
    "Share of the venue's published limit the buckets use (headroom for network jitter)."
    default_backoff_ms: int = attrs.field(default=1000, validator=v.gt(0))
    "Pause after a 429 without a retry hint (doubled for each further 429)."
    max_backoff_ms: int = attrs.field(default=60_000, validator=v.gt(0))
    "Longest pause after repeated 429s without a hint."

    def __attrs_post_init__(self) -> None:
        if self.default_backoff_ms > self.max_backoff_ms:
            raise ValueError(f"default_backoff_ms ({self.default_backoff_ms}) exceeds max_backoff_ms "
                             f"({self.max_backoff_ms})")

    @property
    def max_wait_s(self) -> float:
        """The wait bound :meth:`RateLimiter.acquire` uses (0 when ``on_limit = "deny"``)."""
        return 0.0 if self.on_limit == "deny" else self.max_wait_ms / 1000

    def build_limiter(self, specs: Iterable[RateLimitSpec] = (), *, name: str = "") -> RateLimiter:
        """A :class:`RateLimiter` for a venue's published limits, with these settings."""
        from ._ratelimit import RateLimiter

        return RateLimiter(
            specs, burst_fraction=self.burst_fraction, utilization=self.utilization,
            max_wait_s=self.max_wait_s, default_backoff_s=self.default_backoff_ms / 1000,
            max_backoff_s=self.max_backoff_ms / 1000, name=name,
        )


@attrs.frozen
class ClockSkewSettings(TomlConfig):
    """Server-clock estimation and the recvWindow guard: ``[risk.clock]``."""

    safety_margin_ms: int = attrs.field(default=250, validator=v.ge(0))
    "Added to the estimate's uncertainty before deciding a command would miss its window."
    max_samples: int = attrs.field(default=16, validator=v.ge(1))
    "Recent samples kept."
    max_sample_age_s: int = attrs.field(default=600, validator=v.gt(0))
    "Samples older than this are forgotten (local clock drift)."
    max_rtt_ms: int = attrs.field(default=5000, validator=v.gt(0))
    "A sample whose round trip took longer is rejected."

    def build_clock(self, *, name: str = "") -> ServerClock:
        """A :class:`ServerClock` with these settings."""
        from ._clock_skew import ServerClock

        return ServerClock(
            max_samples=self.max_samples, max_sample_age_s=self.max_sample_age_s,
            max_rtt_ms=self.max_rtt_ms, safety_margin_ms=self.safety_margin_ms, name=name,
        )


@attrs.frozen
class KillSwitchSettings(TomlConfig):
    """When repeated venue failures halt trading: ``[risk.kill_switch]``."""

    venue_failures: int = attrs.field(default=5, validator=v.ge(0))
    "Failures (timeouts, 5xx, unknown outcomes) without a success in between that halt; 0 = never."
    failure_window_s: int = attrs.field(default=60, validator=v.gt(0))
    "Only failures within this many seconds count."


@attrs.frozen
class RiskConfig(TomlConfig):
    """The account's risk limits (``[risk]``). Defaults are permissive but sane; unset = unchecked."""

    currency: str = attrs.field(default="USD", validator=v.min_len(1))
    "Account currency of notional and PnL limits; other assets are converted at mid/mark/last."
    state: TradingState = TradingState.ACTIVE
    "Trading state at start: ``active``, ``reducing`` or ``halted``."
    max_order_notional: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest order value."
    max_position_notional: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest absolute position value per instrument, counting open orders on the same side."
    max_account_notional: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Largest gross position value over all instruments."
    max_asset_position: dict[str, Decimal] = attrs.Factory(dict)
    "Largest net position per base asset over all instruments, in base units (``{BTC = 2}``)."
    max_open_orders: int | None = attrs.field(default=200, validator=_positive_int)
    "Most orders open at once on the account."
    price_band_bps: int | None = attrs.field(default=1000, validator=_positive_int)
    "Fat-finger band: a limit price at most this many basis points (1000 = 10 %) from mid/mark/last."
    max_leverage: Decimal | None = attrs.field(default=None, validator=_leverage_cap)
    "User cap on leverage; orders also need a value the venue allows."
    daily_loss_limit: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Loss since the start of the UTC day (realized + unrealized − fees) that halts trading."
    max_drawdown: Decimal | None = attrs.field(default=None, validator=_positive_dec)
    "Fall from the highest PnL seen (realized + unrealized − fees) that halts trading."
    require_reference_price: bool = True
    "Deny an order whose checks need mid/mark/last when there is none (else skip those checks)."
    rate_limits: RateLimitSettings = attrs.Factory(RateLimitSettings)
    clock: ClockSkewSettings = attrs.Factory(ClockSkewSettings)
    kill_switch: KillSwitchSettings = attrs.Factory(KillSwitchSettings)
    strategies: dict[str, StrategyLimits] = attrs.Factory(dict)
    "Per-strategy overrides by strategy id."
    instruments: dict[str, InstrumentLimits] = attrs.Factory(dict)
    "Per-instrument overrides by ``venue:symbol``."

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        for asset, limit in self.max_asset_position.items():
            if limit <= 0:
                problems.append(f"max_asset_position.{asset} must be positive, got {limit}")
        account = {
            "max_order_notional": self.max_order_notional,
            "max_position_notional": self.max_position_notional,
            "max_open_orders": self.max_open_orders,
            "price_band_bps": self.price_band_bps,
            "max_leverage": self.max_leverage,
        }
        tables: list[tuple[str, Mapping[str, object]]] = []
        for sid, s in self.strategies.items():
            tables.append((f"strategies.{sid}", attrs.asdict(s)))
        for key, i in self.instruments.items():
            if ":" not in key:
                problems.append(f'instruments."{key}": expected a "venue:symbol" key')
            tables.append((f'instruments."{key}"', attrs.asdict(i)))
        for where, values in tables:
            for name, cap in account.items():
                value = values.get(name)
                if value is not None and cap is not None and value > cap:  # type: ignore[operator]
                    problems.append(f"{where}.{name} ({value}) is above the account's {name} ({cap}); "
                                    "overrides may only tighten")
        if problems:
            raise ValueError("; ".join(problems))

    def strategy(self, strategy_id: str) -> StrategyLimits:
        """The overrides of ``strategy_id`` (empty if it has none)."""
        return self.strategies.get(strategy_id, _NO_STRATEGY_LIMITS)

    def instrument(self, key: str) -> InstrumentLimits:
        """The overrides of instrument ``venue:symbol`` (empty if it has none)."""
        return self.instruments.get(key, _NO_INSTRUMENT_LIMITS)


_NO_STRATEGY_LIMITS = StrategyLimits()
_NO_INSTRUMENT_LIMITS = InstrumentLimits()
