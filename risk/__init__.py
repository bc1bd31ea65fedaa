"""triotrade's risk module: every order command passes it, in every mode.

Layers: configuration (``_config``: limits from TOML) → pre-trade checks and the trading-state
kill switch (``_checks``: :class:`RiskEngine`, the engine's :class:`~engine.RiskGate`) → venue
request pacing for gateways (``_ratelimit``: weighted token buckets per metered scope;
``_clock_skew``: server-clock offset and the recvWindow guard). Public names are re-exported here.
"""

from engine import RiskDenied as RiskDenied
from engine import (
    Denial as Denial,
    DenyReason as DenyReason,
    TradingState as TradingState,
)

from ._checks import (
    RiskEngine as RiskEngine,
    RiskStatistics as RiskStatistics,
    build_risk as build_risk,
    serve_kill_switch as serve_kill_switch,
    serve_kill_switch_signals as serve_kill_switch_signals,
)
from ._clock_skew import (
    ClockEstimate as ClockEstimate,
    ClockSample as ClockSample,
    ServerClock as ServerClock,
)
from ._config import (
    ClockSkewSettings as ClockSkewSettings,
    InstrumentLimits as InstrumentLimits,
    KillSwitchSettings as KillSwitchSettings,
    RateLimitSettings as RateLimitSettings,
    RiskConfig as RiskConfig,
    StrategyLimits as StrategyLimits,
)
from ._ratelimit import (
    PreparedWeights as PreparedWeights,
    RateLimiter as RateLimiter,
    RateLimiterStatistics as RateLimiterStatistics,
    RateLimitSpec as RateLimitSpec,
)
