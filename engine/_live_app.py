"""``triotrade run | paper | record``: wire venues, engine, risk and strategies into one nursery.

The venue packages, the risk gate, the paper venue, the recorder and the report writer are
plug-ins (:mod:`engine._plugins`): this module names none of the packages that provide them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import trio

from ._clock import LiveClock
from ._core import Engine
from ._errors import ConfigError
from ._gateway import DataKind, Gateway
from ._live import LiveRunner, LiveSettings, StatusLog, cancel_when_set, plain_error
from ._plugins import has_live_plugin, live_plugin, venue_module
from ._portfolio import Portfolio
from ._runconfig import LiveConfig, StrategySpec, load_live_config, resolve_strategies

__all__ = ["add_commands", "build_gateways", "run_live", "record", "demo_live", "summary", "live_summary",
           "report_folder"]

log = logging.getLogger("triotrade.live")


ReportWriter = Callable[..., str]
"``writer(runner, out, *, name, currency) -> text``: writes a stopped run's report files into ``out``."


def add_commands(sub: argparse._SubParsersAction, *,  # type: ignore[type-arg]
                 report_writer: ReportWriter | None = None) -> None:
    """Register ``run``, ``paper`` and ``record``; ``report_writer`` writes run/paper reports when they
    stop (default: the ``report`` plug-in, if one is registered)."""
    if report_writer is None and has_live_plugin("report"):
        report_writer = live_plugin("report")
    for mode, name, help_text in (("live", "run", "trade live: venues, accounts and strategies from a TOML config"),
                                  ("paper", "paper", "live market data, fills simulated locally (no keys needed)")):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("config", type=Path)
        parser.add_argument("--duration", type=float, help="stop after this many seconds")
        parser.add_argument("--startup-timeout", type=_seconds, metavar="SECONDS",
                            help="give up if the venues are not up after this long "
                                 "(default [run] startup_timeout_s, 60; 0 waits forever)")
        parser.add_argument("--out", type=Path, help="folder for the report written at the stop (default "
                                                     "[run] report_dir, else runs/<name>-<mode>-<UTC time>)")
        parser.set_defaults(func=partial(_main, mode=mode, report_writer=report_writer))

    rec = sub.add_parser("record", help="record live market data into the backtester's format")
    rec.add_argument("config", type=Path)
    rec.add_argument("--out", type=Path, required=True, help="data-set folder to write")
    rec.add_argument("--duration", type=float, help="stop after this many seconds")
    rec.set_defaults(func=_record_main)


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text!r}")
    return value


def build_gateways(config: LiveConfig, *, with_credentials: bool) -> dict[str, Gateway]:
    """One gateway per ``[[venues]]`` entry, built by its registered venue package."""
    gateways: dict[str, Gateway] = {}
    for i, entry in enumerate(config.venues):
        leaked = sorted({"api_key", "secret", "apikey", "private_key"} & {k.lower() for k in entry.options})
        if leaked:
            raise ConfigError(f"credentials do not belong in a config file ({', '.join(leaked)}); use "
                              "[venues.credentials] with api_key_env/secret_env or a 0600 key_file",
                              path=config.source, key=f"venues[{i}].options")
        module = venue_module(entry.venue)
        credentials = None
        if with_credentials:
            if entry.credentials is None:
                raise ConfigError("live trading needs [venues.credentials] (api_key_env/secret_env or key_file)",
                                  path=config.source, key=f"venues[{i}].credentials")
            credentials = entry.credentials.load(f"venues[{i}].credentials")
        gateway = module.make_gateway(entry.options, credentials, source=config.source, key=f"venues[{i}].options")
        if gateway.venue in gateways:
            raise ConfigError(f"venue {gateway.venue!r} configured twice", path=config.source, key=f"venues[{i}]")
        gateways[gateway.venue] = gateway
    return gateways


def _build_risk(config: LiveConfig) -> Any:
    return live_plugin("risk")(config.risk, source=config.source)


def _strategy_factory(spec: StrategySpec):  # type: ignore[no-untyped-def]
    return lambda ctx: spec.cls(ctx, spec.params)


async def run_live(config: LiveConfig, mode: str, *, shutdown: trio.Event | None = None,
                   gateways: dict[str, Gateway] | None = None, duration_s: float | None = None,
                   startup_timeout_s: float | None = None,
                   task_status: trio.TaskStatus[LiveRunner] = trio.TASK_STATUS_IGNORED) -> LiveRunner:
    """Run ``config`` in ``mode`` ("live" or "paper") until ``shutdown``, ``duration_s`` or SIGINT/SIGTERM.

    Any of them stops the run at any moment, start-up included (a second signal skips the
    orderly shutdown). ``task_status`` reports the runner once every venue is up. A venue that is
    not up within ``startup_timeout_s`` (default ``[run] startup_timeout_s``) raises
    :class:`~engine._live.StartupFailed`; errors come out plain, never inside an exception group.
    """
    specs = resolve_strategies(config.strategies, config.source)
    if not specs:
        raise ConfigError("at least one [[strategies]] table is needed", path=config.source, key="strategies")
    if gateways is None:
        gateways = build_gateways(config, with_credentials=(mode == "live"))
    engine = Engine(clock=LiveClock(), portfolio=Portfolio(config.paper.balances if mode == "paper" else {}),
                    risk=_build_risk(config))
    journal = None
    if config.run.journal is not None:
        from ._journal import OrderJournal

        journal = OrderJournal(config.run.journal)
    for spec in specs:
        engine.add_strategy(spec.id, _strategy_factory(spec))
    paper_factory = None
    if mode == "paper":
        paper_factory = _paper_venue_factory(config)
    if startup_timeout_s is None:
        startup_timeout_s = config.run.startup_timeout_s
    settings = LiveSettings(cancel_on_exit=config.run.cancel_on_exit, shutdown_grace_s=config.run.shutdown_grace_s,
                            status_interval_s=config.run.status_interval_s, conflate_above=config.run.conflate_above,
                            startup_timeout_s=startup_timeout_s or None, currency=config.currency,
                            external_orders=config.run.external_orders,
                            external_orders_by_venue={gateway.venue: entry.external_orders for entry, gateway
                                                      in zip(config.venues, gateways.values())
                                                      if entry.external_orders is not None},
                            stale_after_s=config.run.stale_after_s)
    runner = LiveRunner(engine, gateways, settings, paper_venue_factory=paper_factory,
                        status_out=lambda line: print(line, file=sys.stderr, flush=True),
                        restore=journal.restore if journal is not None and mode == "live" else None,
                        journal=journal)
    if shutdown is None:
        shutdown = trio.Event()
    duration_s = duration_s if duration_s is not None else config.run.duration_s
    try:
        async with trio.open_nursery() as nursery:
            _start_stop_triggers(nursery, shutdown, duration_s)
            if _in_main_thread() and has_live_plugin("kill_switch"):  # signals need the main thread
                nursery.start_soon(live_plugin("kill_switch"), engine.risk)  # SIGUSR1 reducing, SIGUSR2 halted
            await runner.run(shutdown, task_status=_Relay(task_status, runner))
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error = plain_error(group)
        if error is group:
            raise
        raise error from None
    finally:
        if journal is not None:
            journal.close()
    return runner


class _Relay:
    """A task status that reports ``value`` to ``target`` whatever the child reports."""

    def __init__(self, target: trio.TaskStatus[Any], value: Any) -> None:
        self._target = target
        self._value = value

    def started(self, value: Any = None) -> None:
        self._target.started(self._value)


def _start_stop_triggers(nursery: trio.Nursery, shutdown: trio.Event, duration_s: float | None) -> None:
    """SIGINT/SIGTERM (main thread only) and ``duration_s`` set ``shutdown``; a second signal
    cancels ``nursery`` at once."""
    if _in_main_thread():
        nursery.start_soon(_watch_signals, shutdown, nursery.cancel_scope)
    if duration_s is not None:
        nursery.start_soon(_stop_after, duration_s, shutdown)


def _paper_venue_factory(config: LiveConfig) -> Callable[[Engine], Any]:
    factory: Callable[[Any], Callable[[Engine], Any]] = live_plugin("paper_venue")
    return factory(config.paper)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


async def _watch_signals(shutdown: trio.Event, force: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not shutdown.is_set():
                log.warning("received %s: shutting down (send it again to stop at once)", name)
                shutdown.set()
            else:
                log.warning("received %s again: stopping at once", name)
                force.cancel()
                return


async def _stop_after(seconds: float, shutdown: trio.Event) -> None:
    await trio.sleep(seconds)
    if not shutdown.is_set():
        log.info("--duration %g s reached: shutting down", seconds)
    shutdown.set()


def _main(args: argparse.Namespace, *, mode: str, report_writer: ReportWriter | None) -> int:
    config = load_live_config(args.config)
    runner = trio.run(partial(run_live, config, mode, duration_s=args.duration,
                              startup_timeout_s=args.startup_timeout))
    if runner.up and report_writer is not None:
        out = args.out or report_folder(config, mode)
        print(report_writer(runner, out, name=f"{config.name} ({mode} run)", currency=config.currency))
        print(f"report written to {out}")
    print(summary(runner))
    return 0


def report_folder(config: LiveConfig, mode: str, now: datetime | None = None) -> Path:
    """Where a run's report goes by default: ``[run] report_dir``, else ``runs/<name>-<mode>-<UTC time>``."""
    if config.run.report_dir is not None:
        return config.run.report_dir
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return Path("runs") / f"{config.name}-{mode}-{stamp}"


def summary(runner: LiveRunner) -> str:
    engine = runner.engine
    lines = [runner.status_line().replace("[status]", "[final]")]
    for failure in engine.failures:
        lines.append(f"  {failure}")
    for alarm in engine.alarms:
        lines.append(f"  ALARM {alarm.kind}: {alarm.detail}")
    lines += [f"  {line}" for line in runner.stale_report()]
    if engine.denials:
        lines.append("  denials: " + ", ".join(f"{k} {v}" for k, v in sorted(engine.denials.items())))
    return "\n".join(lines)


live_summary = summary
"The public name of :func:`summary`: a stopped run's final status line, failures, alarms and denials."


# ---------------------------------------------------------------------------------------------
# recording
# ---------------------------------------------------------------------------------------------

_RECORDABLE = {"trades": DataKind.TRADES, "quotes": DataKind.QUOTES, "book": DataKind.BOOK, "bars": DataKind.BARS}


async def record(config: LiveConfig, out: Path, *, shutdown: trio.Event | None = None,
                 gateways: dict[str, Gateway] | None = None, duration_s: float | None = None,
                 task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> dict[str, int]:
    """Record the ``[record]`` instruments and kinds into a data set at ``out``; returns rows per stream."""
    Recorder = live_plugin("recorder")
    instruments = config.record.get("instruments", [])
    kinds = config.record.get("kinds", ["trades", "book"])
    interval_s = int(config.record.get("interval_s", 60))
    if not instruments:
        raise ConfigError("[record] needs instruments = [\"venue:symbol\", ...]", path=config.source,
                          key="record.instruments")
    unknown = [k for k in kinds if k not in _RECORDABLE]
    if unknown:
        raise ConfigError(f"unknown kinds {unknown} (choose from {sorted(_RECORDABLE)})", path=config.source,
                          key="record.kinds")
    gateways = gateways or build_gateways(config, with_credentials=False)
    if shutdown is None:
        shutdown = trio.Event()
    duration_s = duration_s if duration_s is not None else config.run.duration_s
    recorder = Recorder(out)
    try:
        async with trio.open_nursery() as nursery:
            _start_stop_triggers(nursery, shutdown, duration_s)
            nursery.start_soon(cancel_when_set, shutdown, nursery.cancel_scope)  # start-up included
            sink = StatusLog(recorder.lanes)
            for gateway in gateways.values():
                await nursery.start(gateway.run, sink)
            all_instruments = {k: i for g in gateways.values() for k, i in g.instruments.items()}
            for key in instruments:
                inst = all_instruments.get(key)
                if inst is None:
                    raise ConfigError(f"unknown instrument {key!r} (the venues list {len(all_instruments)})",
                                      path=config.source, key="record.instruments")
                recorder.add_instrument(inst)
                for kind in kinds:
                    kw: dict[str, Any] = {"interval_s": interval_s} if kind == "bars" else {}
                    await gateways[inst.venue].subscribe(_RECORDABLE[kind], inst, **kw)
            nursery.start_soon(recorder.run)
            task_status.started(recorder)
            await shutdown.wait()
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        error = plain_error(group)
        if error is group:
            raise
        raise error from None
    finally:
        recorder.close()
    rows: dict[str, int] = recorder.rows()
    return rows


def _record_main(args: argparse.Namespace) -> int:
    config = load_live_config(args.config)
    rows = trio.run(lambda: record(config, args.out, duration_s=args.duration))
    for name, n in sorted(rows.items()):
        print(f"{name}: {n} rows")
    print(f"recorded into {args.out}")
    return 0


DEMO_STRATEGY: tuple[str, dict[str, Any]] = (
    "strategies.trade_flow:TradeFlow",
    {"qty": "0.01", "threshold": "0.02", "half_life_trades": 5.0, "min_hold_trades": 5})
"""The strategy the live part of the demo trades, and its parameters (``instrument`` is added): a venue
package that publishes no trades names its own in a module attribute ``DEMO_STRATEGY`` of this shape."""


def demo_strategy(module: Any) -> tuple[str, dict[str, Any]]:
    """The live demo's strategy for a venue package: its ``DEMO_STRATEGY``, else :data:`DEMO_STRATEGY`."""
    ref, params = getattr(module, "DEMO_STRATEGY", DEMO_STRATEGY)
    return str(ref), dict(params)


async def demo_live(duration_s: float = 15.0, *, seed: int = 7, venue: str | None = None) -> LiveRunner:
    """Serve a venue's local testnet in this nursery and trade an example strategy on it.

    ``venue`` names a registered venue package (default: the ``triotrade.live:demo_venue`` one). A
    package whose keys are not random strings (a private key and its address, say) gives a
    ``demo_credentials()`` that makes a throw-away pair; it may name its own ``DEMO_STRATEGY``.
    Everything goes over real HTTP and websocket (or socket.io) on 127.0.0.1, signed with a
    throw-away key, through the same gateway, risk checks and engine as a live run.
    """
    import secrets

    from ._runconfig import RunSettings, StrategyConfig, VenueEntry
    from ._secrets import Credentials

    demo_venue: str = venue if venue is not None else live_plugin("demo_venue")
    module = venue_module(demo_venue)
    make_credentials = getattr(module, "demo_credentials", None)
    credentials = (make_credentials() if make_credentials is not None
                   else Credentials(secrets.token_hex(16), secrets.token_hex(32)))
    async with module.open_local_testnet(credentials.api_key, credentials.secret, seed=seed) as options:
        gateway = module.make_gateway(options, credentials, source="demo")
        instrument = f"{gateway.venue}:{module.DEMO_SYMBOL}"
        ref, params = demo_strategy(module)
        config = LiveConfig(
            venues=[VenueEntry(demo_venue, dict(options))],
            strategies=[StrategyConfig(ref, "demo", {"instrument": instrument, **params})],
            name="demo-live",
            run=RunSettings(status_interval_s=5.0, shutdown_grace_s=5.0),
        )
        return await run_live(config, "live", gateways={gateway.venue: gateway}, duration_s=duration_s)
