"""The server side of the venue kit: what every local testnet shares.

* :mod:`.server` — raw ASGI served by hypercorn's trio worker: requests as received, exact-decimal
  JSON, WebSocket sessions, fixed-window rate limits and IP bans, the CLI's signal handling;
* :mod:`.faults` — fault injection (latency, WebSocket drops, 5xx / held answer / reset after an
  accepted order, 429 every Nth, seeded-random or in a window, clock offset);
* :mod:`.market` — the seeded synthetic (or replayed) market;
* :mod:`.kit` — :class:`TestnetBase`, the opening/serving helpers and the command line.

A venue's ``testnet.py`` is only its dialect on top of these; the matching engine and the
account rules are :class:`backtest.exchange.Exchange`. See ``venues/README.md``.
"""

from .faults import AnswerFault, FaultInjector, FaultSettings, add_fault_arguments, fault_settings_from_args
from .kit import OpenArgs, TestnetBase, add_common_arguments, build_exchange, in_trio, open_venue, run_command, serve_dialect
from .market import MarketSettings, SyntheticMarket

__all__ = [
    "AnswerFault",
    "FaultInjector",
    "FaultSettings",
    "add_fault_arguments",
    "fault_settings_from_args",
    "TestnetBase",
    "add_common_arguments",
    "build_exchange",
    "in_trio",
    "OpenArgs",
    "open_venue",
    "run_command",
    "serve_dialect",
    "MarketSettings",
    "SyntheticMarket",
]
