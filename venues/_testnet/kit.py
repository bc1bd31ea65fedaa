"""What every venue dialect of the local testnet shares: state, faults, opening, serving, CLI.

A dialect subclasses :class:`TestnetBase` (its own state in :meth:`TestnetBase.setup`) and
supplies only its protocol: ``handle_http``/``handle_websocket``, paths, field
names, error codes and the signature check. This module gives it

* the exchange clock with the clock-offset fault applied (:meth:`TestnetBase.init_kit`), so every
  timestamp the testnet serves is on the venue's skewed clock, not only its time endpoint;
* the answer faults of an accepted order command (:meth:`TestnetBase.order_answer`);
* :func:`build_exchange`, :func:`open_venue` (tests), :func:`serve_dialect` and the command
  line (:func:`add_common_arguments`, :func:`run_command`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypedDict, TypeVar, Unpack

import attrs
import trio

from backtest.exchange import Account, AccountConfig, Exchange, load_accounts
from engine import ConfigError, Instrument

from .faults import AnswerFault, FaultInjector, FaultSettings, add_fault_arguments, fault_settings_from_args
from .market import MarketSettings, SyntheticMarket
from .server import HttpResponse, run_testnet_main, serve_testnet, ws_url_of
from .state import StateFile

__all__ = [
    "TestnetBase",
    "build_exchange",
    "OpenArgs",
    "open_venue",
    "venue_opener",
    "Opener",
    "serve_dialect",
    "add_common_arguments",
    "run_command",
    "testnet_main",
    "in_trio",
]

T = TypeVar("T", bound="TestnetBase[Any]")
T_co = TypeVar("T_co", bound="TestnetBase[Any]", covariant=True)
O = TypeVar("O")
O_contra = TypeVar("O_contra", contravariant=True)


def in_trio() -> bool:
    """True when called inside a running trio loop."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


class _SkewedClock:
    """The exchange's clock plus the fault injector's current clock offset (read at every call)."""

    def __init__(self, base: Callable[[], int], faults: FaultInjector) -> None:
        self.base = base
        self.faults = faults

    def __call__(self) -> int:
        return self.base() + self.faults.clock_offset_ms


class TestnetBase(Generic[O]):
    """The venue-independent half of a testnet dialect (see the module docstring).

    ``TestnetBase[Options](exchange, faults=..., options=...)``: a dialect names its options class
    in :attr:`options_type` and sets up its own state (limits, counters) in :meth:`setup`.
    """

    options_type: ClassVar[type[Any]]
    "The dialect's options class (called without arguments for the defaults)."

    ws_path: ClassVar[str] = "/"
    "The dialect's WebSocket path (``ws_url`` is the served URL plus this)."

    exchange: Exchange
    faults: FaultInjector
    url: str
    ws_url: str
    market: SyntheticMarket | None
    state: StateFile | None
    app: Callable[..., Any]
    "The ASGI application the dialect built (:func:`~venues._testnet.server.make_asgi_app`)."

    def __init__(self, exchange: Exchange, *, faults: FaultInjector | FaultSettings | None = None,
                 options: O | None = None) -> None:
        self.init_kit(exchange, faults)
        self.options: O = options if options is not None else self.options_type()
        self.setup()

    def setup(self) -> None:
        """The dialect's own state, once :attr:`exchange`, :attr:`faults` and :attr:`options` are set."""

    def restored(self) -> None:
        """The exchange took over a saved ledger (``--state``): rebuild what the dialect derives from it."""

    def dump_dialect_state(self) -> Any:
        """What the dialect keeps beside the exchange, for the ``--state`` file (None: nothing)."""
        return None

    def load_dialect_state(self, raw: Any) -> None:
        """Take back :meth:`dump_dialect_state`'s value from the ``--state`` file (ValueError if malformed)."""

    async def run_background(self) -> None:
        """The dialect's own periodic work while served (e.g. funding intervals); none by default."""

    def keep_state(self, path: Path) -> StateFile:
        """Restore the ledger from ``path`` if it exists; the :class:`StateFile` to run beside the server."""
        self.state = StateFile(path, self.exchange, dialect=self)
        if self.state.load():
            self.restored()
        return self.state

    def init_kit(self, exchange: Exchange, faults: FaultInjector | FaultSettings | None) -> None:
        """Set the shared attributes; put the clock-offset fault on the exchange's clock."""
        self.exchange = exchange
        self.faults = faults if isinstance(faults, FaultInjector) else FaultInjector(faults)
        self.url = ""
        self.ws_url = ""
        self.market = None
        "The :class:`~venues._testnet.market.SyntheticMarket` driving the exchange, if any."
        self.state = None
        "The ``--state`` file keeping the ledger across restarts, if any."
        clock = exchange.clock_ms
        base = clock.base if isinstance(clock, _SkewedClock) else clock
        exchange.clock_ms = _SkewedClock(base, self.faults)
        self.started_at = trio.current_time() if in_trio() else 0.0

    @property
    def accounts(self) -> dict[str, Account]:
        """Trading accounts by name (house accounts of the synthetic market excluded)."""
        return {n: a for n, a in self.exchange.accounts.items() if not a.house}

    def server_time_ms(self) -> int:
        """The venue's clock: the exchange clock, which carries the clock offset fault."""
        return self.exchange.clock_ms()

    def banner(self) -> list[str]:
        """The lines the command prints once the testnet is served (its URLs and accounts)."""
        return [f"testnet {self.url}", f"accounts: {', '.join(self.accounts)}"]

    def limits_clock_ms(self) -> int:
        """The exchange clock without the clock offset fault: rate-limit windows and bans count on it,
        so a clock fault changed at run time does not turn an earlier 429 into a ban."""
        clock = self.exchange.clock_ms
        return clock.base() if isinstance(clock, _SkewedClock) else clock()

    def elapsed_s(self) -> float:
        """Seconds since the testnet was created (the 429 window fault counts from here)."""
        return trio.current_time() - self.started_at

    async def inject_latency(self) -> None:
        """Sleep for the latency fault, if one is configured."""
        if self.faults.latency_s:
            self.faults.note_latency()
            await trio.sleep(self.faults.latency_s)

    def order_answer(self, response: HttpResponse, fault: AnswerFault | None) -> HttpResponse:
        """The answer to an executed order command with a held-back or reset ``fault`` applied.

        (A 5xx fault is the dialect's own error body, so the dialect answers it itself.)
        """
        if fault is AnswerFault.TIMEOUT:
            return attrs.evolve(response, hold_s=self.faults.settings.timeout_after_order_s)
        if fault is AnswerFault.RESET:
            return attrs.evolve(response, reset=True)
        return response

    def note_served(self, url: str) -> None:
        """Record the bound URL (and the WebSocket URL under :attr:`ws_path`)."""
        self.url = url
        self.ws_url = ws_url_of(url, self.ws_path)


def build_exchange(
    accounts: str | Path | Sequence[AccountConfig],
    instruments: Sequence[Instrument],
    *,
    seed: int,
    clock_ms: Callable[[], int] | None = None,
) -> Exchange:
    """An exchange with ``instruments`` and the accounts of a TOML file (or configs)."""
    configs = load_accounts(accounts) if isinstance(accounts, (str, Path)) else list(accounts)
    kwargs: dict[str, Any] = {"seed": seed}
    if clock_ms is not None:
        kwargs["clock_ms"] = clock_ms
    return Exchange(instruments, configs, **kwargs)


def _start_market(testnet: TestnetBase[Any], nursery: trio.Nursery, settings: MarketSettings,
                  market_data: str | Path | None, run_market: bool) -> None:
    synthetic = SyntheticMarket(testnet.exchange, settings, market_data=market_data)
    synthetic.prime()
    testnet.market = synthetic
    if run_market:
        nursery.start_soon(synthetic.run)


class OpenArgs(TypedDict, total=False):
    """The keyword arguments every dialect's ``open_<venue>_testnet`` takes."""

    seed: int
    "Seed of the exchange, the synthetic market and the faults (default 0)."
    faults: FaultSettings | None
    "Faults to inject (default none)."
    instruments: Sequence[Instrument] | None
    "Instruments to list (default: the dialect's)."
    market: Any
    """``True`` (default) for a synthetic market with default settings, a :class:`MarketSettings`
    for custom ones, ``False`` for an empty exchange (tests place both sides themselves)."""
    market_data: str | Path | None
    "Replay a recorded data set instead of the random walk."
    run_market: bool
    """``False`` primes the market (history, first ladders) but leaves stepping to the caller
    (``testnet.market.step()``), for tests that need a book that moves only when told."""
    clock_ms: Callable[[], int] | None
    "The exchange clock (default the wall clock)."
    port: int
    "Port on 127.0.0.1 (default 0: any free port)."
    state: str | Path | None
    "Keep the ledger in this file across restarts (:mod:`venues._testnet.state`); default none."


class MakeTestnet(Protocol[T_co]):
    """Builds a dialect's testnet around an exchange (the dialect's class, options bound)."""

    def __call__(self, exchange: Exchange, *, faults: FaultSettings | None) -> T_co: ...


@asynccontextmanager
async def open_venue(make: MakeTestnet[T], default_instruments: Sequence[Instrument],
                     accounts: str | Path | Sequence[AccountConfig], **kwargs: Unpack[OpenArgs]) -> AsyncIterator[T]:
    """Build a dialect's testnet and serve it on 127.0.0.1 for the duration of the block.

    ``accounts`` is a TOML file or the account configs; the keyword arguments are :class:`OpenArgs`.
    """
    seed = kwargs.get("seed", 0)
    exchange = build_exchange(accounts, kwargs.get("instruments") or default_instruments, seed=seed,
                              clock_ms=kwargs.get("clock_ms"))
    testnet = make(exchange, faults=kwargs.get("faults"))
    market = kwargs.get("market", True)
    market_data = kwargs.get("market_data")
    async with trio.open_nursery() as nursery:
        state = kwargs.get("state")
        if state is not None:
            nursery.start_soon(testnet.keep_state(Path(state)).run)
        if market is not False or market_data is not None:
            settings = market if isinstance(market, MarketSettings) else MarketSettings(seed=seed)
            _start_market(testnet, nursery, settings, market_data, kwargs.get("run_market", True))
        await nursery.start(partial(serve_dialect, testnet, port=kwargs.get("port", 0)))
        try:
            yield testnet
        finally:
            nursery.cancel_scope.cancel()


class Opener(Protocol[T_co, O_contra]):
    """A dialect's ``open_<venue>_testnet(accounts, *, options=None, **OpenArgs)`` (see :func:`venue_opener`)."""

    def __call__(self, accounts: str | Path | Sequence[AccountConfig], *, options: O_contra | None = None,
                 **kwargs: Unpack[OpenArgs]) -> AbstractAsyncContextManager[T_co]: ...


class _DialectClass(Protocol[T_co, O_contra]):
    def __call__(self, exchange: Exchange, *, faults: FaultSettings | None,
                 options: O_contra | None = None) -> T_co: ...


def venue_opener(cls: _DialectClass[T, O], default_instruments: Callable[[], Sequence[Instrument]]) -> Opener[T, O]:
    """The ``open_<venue>_testnet`` of a dialect class: ``async with open(accounts, ...) as testnet``.

    It builds the exchange (``accounts``: a TOML file or account configs; the dialect's instruments
    unless ``instruments`` is given), the dialect's testnet with ``options``, and serves it on
    127.0.0.1 for the duration of the block; the other keyword arguments are :class:`OpenArgs`.
    """

    def open_testnet(accounts: str | Path | Sequence[AccountConfig], *, options: O | None = None,
                     **kwargs: Unpack[OpenArgs]) -> AbstractAsyncContextManager[T]:
        return open_venue(partial(cls, options=options), default_instruments(), accounts, **kwargs)

    return open_testnet


async def serve_dialect(
    testnet: TestnetBase[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``testnet`` until cancelled; ``task_status.started(url)`` with the bound URL."""
    async with trio.open_nursery() as nursery:
        url: str = await nursery.start(partial(serve_testnet, testnet.app, host=host, port=port))
        testnet.note_served(url)
        nursery.start_soon(testnet.run_background)
        task_status.started(url)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every ``triotrade testnet <venue>`` takes (port, accounts, market, state, faults)."""
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--accounts", required=True, metavar="FILE", help="accounts TOML file")
    parser.add_argument("--market-data", metavar="PATH", default=None, help="replay a recorded data set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic market and faults")
    parser.add_argument("--no-market", action="store_true", help="no synthetic market (empty books)")
    parser.add_argument("--market-interval-ms", type=int, default=250, help="synthetic market step period")
    parser.add_argument("--state", metavar="FILE", default=None,
                        help="keep the ledger (balances, positions, orders, fills, ids) in FILE across a "
                             "stop and start: read at start, written atomically at most every 0.25 s "
                             "while it changes and on stop")
    add_fault_arguments(parser)


def testnet_main(venue: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], int], argv: Sequence[str] | None = None) -> int:
    """``python -m venues.<venue>.testnet --accounts FILE [--port N] ...``; Ctrl-C exits 0."""
    parser = argparse.ArgumentParser(prog=f"triotrade testnet {venue}",
                                     description=f"Local {venue.capitalize()} testnet on 127.0.0.1.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run_command(args: argparse.Namespace, make: MakeTestnet[TestnetBase[Any]], instruments: Sequence[Instrument],
                *, load: Callable[[str], Sequence[AccountConfig]] = load_accounts) -> int:
    """Serve the testnet the parsed ``args`` describe until Ctrl-C (exit 0; 2 for a bad file or flag).

    ``load`` reads the accounts file (a dialect whose file has other fields gives its own).
    Once served it prints the testnet's :meth:`TestnetBase.banner`.
    """
    try:
        configs = load(args.accounts)
        faults = fault_settings_from_args(args, seed=args.seed)
        testnet = make(build_exchange(configs, instruments, seed=args.seed), faults=faults)
        if args.state:
            testnet.keep_state(Path(args.state))
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    async def run() -> None:
        testnet.started_at = trio.current_time()
        async with trio.open_nursery() as nursery:
            if testnet.state is not None:
                nursery.start_soon(testnet.state.run)
            if not args.no_market or args.market_data:
                settings = MarketSettings(seed=args.seed, step_interval_s=args.market_interval_ms / 1000)
                _start_market(testnet, nursery, settings, args.market_data, True)
            await nursery.start(partial(serve_dialect, testnet, port=args.port))
            for line in testnet.banner():
                print(line, flush=True)

    return run_testnet_main(run)

