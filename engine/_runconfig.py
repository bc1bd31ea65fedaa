"""Config pieces shared by every mode, and the live/paper/record run config.

.. code-block:: toml

    name = "sma-live"

    [[venues]]
    venue = "<venue package name>"      # a package in venues/
    [venues.options]                    # the venue's own settings (URLs, recv window, ...)
    base_url = "http://127.0.0.1:8080"
    [venues.credentials]                # never the secret itself
    api_key_env = "VENUE_API_KEY"
    secret_env = "VENUE_SECRET"
    # key_file = "~/.config/triotrade/venue.toml"   (mode 0600)

    [[strategies]]
    class = "strategies.sma_cross:SmaCross"
    [strategies.params]
    instrument = "<venue>:BTC/USD"

    [run]
    cancel_on_exit = true
    status_interval_s = 10
    journal = "runs/sma-live.sqlite"
    external_orders = "leave"           # others' open orders: "adopt" | "cancel" | "leave"

    [paper]                             # used by `triotrade paper` only
    balances = { USD = "100000" }
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs

from ._config import InvalidConfig, from_mapping, load_toml, params_class
from ._errors import ConfigError
from ._loader import load_strategy_class
from ._secrets import Credentials, load_credentials

__all__ = ["StrategyConfig", "StrategySpec", "resolve_strategies", "CredentialsConfig", "VenueEntry",
           "RunSettings", "PaperSettings", "LiveConfig", "load_live_config"]


@attrs.frozen
class StrategySpec:
    """A strategy to run: its id, class and validated parameters."""

    id: str
    cls: type
    params: Any = None


@attrs.frozen
class StrategyConfig:
    """One strategy instance."""

    cls: str = attrs.field(metadata={"toml": "class"})
    "``package.module:Class`` or ``path/to/file.py:Class``."
    id: str = ""
    "Unique id (defaults to the class name)."
    params: dict[str, Any] = attrs.Factory(dict)
    "Validated against the class's ``Params``."


def resolve_strategies(strategies: list[StrategyConfig], source: str) -> list[StrategySpec]:
    """Import each strategy class and validate its parameters (all errors reported together)."""
    base_dir = Path(source).parent
    specs: list[StrategySpec] = []
    errors: list[ConfigError] = []
    seen: set[str] = set()
    for i, sc in enumerate(strategies):
        key = f"strategies[{i}]"
        try:
            cls = load_strategy_class(sc.cls, base_dir=base_dir, source=source, key=f"{key}.class")
            params = from_mapping(params_class(cls), sc.params, source=source, key=f"{key}.params", base_dir=base_dir)
        except InvalidConfig as exc:
            errors.extend(exc.errors)
            continue
        except ConfigError as exc:
            errors.append(exc)
            continue
        sid = sc.id or cls.__name__
        if sid in seen:
            errors.append(ConfigError(f"duplicate strategy id {sid!r}", path=source, key=f"{key}.id"))
        seen.add(sid)
        specs.append(StrategySpec(sid, cls, params))
    if errors:
        raise InvalidConfig(errors, source=source)
    return specs


@attrs.frozen
class CredentialsConfig:
    """Where to find a venue account's key: environment variables or a private key file."""

    api_key_env: str | None = None
    secret_env: str | None = None
    key_file: Path | None = None

    def load(self, where: str) -> Credentials:
        return load_credentials(api_key_env=self.api_key_env, secret_env=self.secret_env,
                                key_file=self.key_file, where=where)


ExternalOrders = Literal["adopt", "cancel", "leave"]
"What to do with an account's open orders that this client did not place (always counted by risk)."


@attrs.frozen
class VenueEntry:
    """One venue connection (one account)."""

    venue: str
    "Package name in venues/."
    options: dict[str, Any] = attrs.Factory(dict)
    "The venue's own settings, validated by its config class."
    credentials: CredentialsConfig | None = None
    "Needed by ``run``; ``paper`` and ``record`` use public data only."
    external_orders: ExternalOrders | None = None
    "This venue's policy for open orders that are not ours (default: ``[run] external_orders``)."


@attrs.frozen
class RunSettings:
    cancel_on_exit: bool = True
    "Cancel every open order on shutdown (SIGINT/SIGTERM)."
    shutdown_grace_s: float = 5.0
    status_interval_s: float = 10.0
    "Period of the status line (0 = off)."
    journal: Path | None = None
    "SQLite order journal; orders are written before they are sent."
    conflate_above: int = 1000
    "Market events waiting before quotes/books of one instrument are conflated."
    duration_s: float | None = None
    "Stop by itself after this long (None: until a signal)."
    report_dir: Path | None = None
    "Folder for the report ``run``/``paper`` write when they stop (default runs/<name>-<mode>-<UTC time>)."
    startup_timeout_s: float = 60.0
    "Give up (exit 1, naming the venue and the last error) if the venues are not up after this long (0: wait forever)."
    external_orders: ExternalOrders = "leave"
    "Open orders of the account that are not ours: ``adopt`` (track and book them), ``cancel`` them, or ``leave`` them."
    stale_after_s: float = 30.0
    "Report a venue stale after this long without an answer or stream event (0: never)."


@attrs.frozen
class PaperSettings:
    balances: dict[str, Decimal] = attrs.Factory(lambda: {"USD": Decimal(100_000)})
    order_latency_ms: Decimal = Decimal(0)


@attrs.frozen
class LiveConfig:
    venues: list[VenueEntry]
    strategies: list[StrategyConfig] = attrs.Factory(list)
    name: str = "live"
    currency: str = "USD"
    risk: dict[str, Any] = attrs.Factory(dict)
    run: RunSettings = attrs.Factory(RunSettings)
    paper: PaperSettings = attrs.Factory(PaperSettings)
    record: dict[str, Any] = attrs.Factory(dict)
    "For ``triotrade record``: ``instruments = [...]``, ``kinds = [\"trades\", \"book\", ...]``."
    source: str = attrs.field(default="<config>", init=False)


def load_live_config(path: str | Path) -> LiveConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("file not found", path=str(path))
    config = from_mapping(LiveConfig, load_toml(path), source=str(path), base_dir=path.parent)
    if not config.venues:
        raise ConfigError("at least one [[venues]] table is needed", path=str(path), key="venues")
    object.__setattr__(config, "source", str(path))
    return config
