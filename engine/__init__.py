"""triotrade's engine: the vocabulary every other package speaks.

Layers, bottom up: money (Decimal / scaled integers) → instruments → events → orders →
portfolio → strategy API → engine core (routing, clock, timers) → runners (backtest loop, trio
nursery for live/paper). Public names are re-exported here from private modules.
"""

from ._errors import (
    AuthFailed as AuthFailed,
    ConfigError as ConfigError,
    DataError as DataError,
    MalformedMessage as MalformedMessage,
    OutcomeUnknown as OutcomeUnknown,
    RateLimited as RateLimited,
    RiskDenied as RiskDenied,
    StrategyError as StrategyError,
    TriotradeError as TriotradeError,
    VenueError as VenueError,
    VenueRejected as VenueRejected,
    redact as redact,
)
from ._bars import TradeBarAggregator as TradeBarAggregator, bar_open as bar_open
from ._events import (
    BalanceUpdate as BalanceUpdate,
    Bar as Bar,
    BookDelta as BookDelta,
    BookSnapshot as BookSnapshot,
    Fill as Fill,
    FundingPayment as FundingPayment,
    FundingRate as FundingRate,
    InstrumentUpdate as InstrumentUpdate,
    Liquidity as Liquidity,
    MarkPrice as MarkPrice,
    PositionUpdate as PositionUpdate,
    Quote as Quote,
    Side as Side,
    Trade as Trade,
    TradingStateChanged as TradingStateChanged,
    VenueState as VenueState,
    VenueStatus as VenueStatus,
)
from ._instruments import (
    Instrument as Instrument,
    InstrumentKind as InstrumentKind,
    instrument_key as instrument_key,
)
from ._money import (
    Rounding as Rounding,
    from_scaled as from_scaled,
    round_to_step as round_to_step,
    to_decimal as to_decimal,
    to_scaled as to_scaled,
)
from ._wire import (
    MAX_NUMBER_CHARS as MAX_NUMBER_CHARS,
    JsonNumber as JsonNumber,
    MalformedFrameGuard as MalformedFrameGuard,
    WireFormatError as WireFormatError,
    loads_json as loads_json,
    wire_decimal as wire_decimal,
    wire_int as wire_int,
    wire_scaled as wire_scaled,
    wire_seconds as wire_seconds,
)
from ._orders import (
    ClientOrderIdFactory as ClientOrderIdFactory,
    InvalidTransition as InvalidTransition,
    Order as Order,
    OrderStatus as OrderStatus,
    OrderType as OrderType,
    OrderUpdate as OrderUpdate,
    TimeInForce as TimeInForce,
)
from ._book import L2Book as L2Book
from ._clock import (
    Clock as Clock,
    LiveClock as LiveClock,
    SimClock as SimClock,
    TimerQueue as TimerQueue,
)
from ._portfolio import (
    Portfolio as Portfolio,
    Position as Position,
)
from ._risk_api import (
    Denial as Denial,
    DenyReason as DenyReason,
    RiskGate as RiskGate,
    TradingState as TradingState,
)
from ._strategy import (
    Context as Context,
    Strategy as Strategy,
)
from ._gateway import (
    DataKind as DataKind,
    EventSink as EventSink,
    Gateway as Gateway,
    GatewayCapabilities as GatewayCapabilities,
    OrderReport as OrderReport,
    Unsupported as Unsupported,
)
from ._core import (
    Alarm as Alarm,
    Engine as Engine,
    ExecutionClient as ExecutionClient,
    LIQUIDATION_STRATEGY_ID as LIQUIDATION_STRATEGY_ID,
    StrategyFailure as StrategyFailure,
    UnknownInstrument as UnknownInstrument,
)
from ._channels import EventLanes as EventLanes
from ._config import (
    TomlConfig as TomlConfig,
    from_mapping as from_mapping,
    load_toml as load_toml,
    params_class as params_class,
)
from ._runconfig import (
    StrategyConfig as StrategyConfig,
    StrategySpec as StrategySpec,
    resolve_strategies as resolve_strategies,
)
from ._secrets import Credentials as Credentials
from ._live_app import (
    demo_live as demo_live,
    live_summary as live_summary,
)
from ._plugins import (
    live_plugin as live_plugin,
    venue_names as venue_names,
)
