"""What every gateway's lifecycle shares: the instrument registry, ``open()``/``run()`` around a
venue's start-up, retried start-up steps, status and malformed-message reporting, the null sink
and the statistics every gateway reports.

A venue's gateway subclasses :class:`GatewayBase`, writes ``_start(nursery)`` (its start-up
requests and background tasks; return once serving) and ``aclose()``; ``run`` hosts it::

    class MyVenueGateway(GatewayBase):
        venue = VENUE

        async def _start(self, nursery: trio.Nursery) -> None:
            await self._retrying(self._load_instruments, "REST not available")
            await nursery.start(self._stream.run)
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Generic, Self, TypeVar

import attrs
import trio

from engine import AuthFailed, ConfigError, EventSink, Gateway, Instrument, MalformedMessage, RiskDenied, VenueError
from engine import VenueState, VenueStatus

from .config import VenueConfig, positive

__all__ = ["GatewayBase", "GatewayConfig", "GatewayStatistics", "NullSink"]

_StreamStats = TypeVar("_StreamStats")


@attrs.frozen
class GatewayConfig(VenueConfig):
    """The connection settings every gateway has, beside the credentials (:class:`VenueConfig`:
    from the config or the environment, never in a repr, a log line or an error). A venue's config
    adds its endpoints (``base_url``, ``ws_url``) and its own settings, units in their names."""

    http_timeout_s: float = attrs.field(default=10.0, validator=positive)
    "Timeout of one REST request (and of one WebSocket request's answer)."
    time_sync_s: float = attrs.field(default=300.0, validator=positive)
    "How often the server clock offset is re-measured (also after the venue refuses a timestamp)."
    ping_interval_s: float = attrs.field(default=20.0, validator=positive)
    "WebSocket ping period (below the venue's idle timeout)."
    reconnect_min_s: float = attrs.field(default=0.5, validator=positive)
    "First pause before a reconnect or a retried start-up step; doubled on each failure."
    reconnect_max_s: float = attrs.field(default=30.0, validator=positive)
    "Longest pause between reconnects or retried start-up steps."


class NullSink:
    """A sink that drops everything (a gateway's sink before ``run``)."""

    def send_market(self, event: Any) -> None:
        """Dropped."""

    def send_execution(self, event: Any) -> None:
        """Dropped."""


@attrs.frozen(slots=True)
class GatewayStatistics(Generic[_StreamStats]):
    """The counters every gateway reports; a venue's ``GatewayStatistics`` adds its own."""

    stream: _StreamStats
    requests_sent: int
    malformed: int
    "Venue messages reported as malformed (and skipped)."
    last_malformed: str
    rate_limited: int
    "Times the venue said slow down (and, where the venue counts them, requests our budget refused)."
    tracked_orders: int
    server_offset_ms: float
    "The venue's clock minus ours, as estimated."


class GatewayBase(Gateway):
    """The shared half of a gateway: see the module doc."""

    venue: str
    _start_errors: tuple[type[BaseException], ...] = (AuthFailed, VenueError, ConfigError)
    "Start-up failures raised from ``run`` as one plain error instead of an exception group."
    _fatal_start_errors: tuple[type[BaseException], ...] = (AuthFailed,)
    "Failures of a start-up step that end the start instead of being retried."

    def __init__(self, config: Any, *, reconnect_min_s: float = 0.5, reconnect_max_s: float = 30.0) -> None:
        """``config`` is the venue's config; the ``reconnect_*`` bounds pace retried start-up steps."""
        self._sink: EventSink = NullSink()
        self._nursery: trio.Nursery | None = None
        self._by_symbol: dict[str, Instrument] = {}
        self._by_key: dict[str, Instrument] = {}
        self._malformed = 0
        self._last_malformed = ""
        self._retry_min_s = reconnect_min_s
        self._retry_max_s = reconnect_max_s
        self._log = logging.getLogger(f"venues.{self.venue}")
        self._executions = _ExecutionsOf(self)
        "The execution half of whatever sink the gateway has now (for the order and account trackers)."

    # -- instruments ---------------------------------------------------------------------------
    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self._by_key

    def instrument(self, symbol: str) -> Instrument:
        """The instrument of a venue symbol (``KeyError`` if the venue does not list it)."""
        return self._by_symbol[symbol]

    def _set_instruments(self, instruments: dict[str, Instrument]) -> None:
        """The venue's instruments by its symbol (replacing what was loaded before)."""
        self._by_symbol = instruments
        self._by_key = {inst.key: inst for inst in instruments.values()}

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    @asynccontextmanager
    async def open(cls, config: Any, sink: EventSink, **hooks: Any) -> AsyncIterator[Self]:
        """Run a gateway for the duration of the block (connected and loaded on entry)."""
        gateway = cls(config, **hooks)
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run, sink)
            try:
                yield gateway
            finally:
                nursery.cancel_scope.cancel()

    async def run(self, sink: EventSink, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start (see the venue's ``_start``), then serve until cancelled.

        A start-up failure such as wrong credentials is raised here as one plain error, before
        ``task_status.started()``.
        """
        self._sink = sink
        started = False
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._start(nursery)
                started = True
                task_status.started()
        except BaseExceptionGroup as group:
            first = _first_leaf(group)
            if not started and isinstance(first, self._start_errors):
                raise first from None
            raise
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                await self.aclose()

    async def _start(self, nursery: trio.Nursery) -> None:
        """The venue's start-up: requests, then background tasks in ``nursery``."""
        raise NotImplementedError

    async def _retrying(self, step: Callable[[], Awaitable[None]], what: str) -> None:
        """Run a start-up step until it succeeds; ``_fatal_start_errors`` (wrong credentials) end the
        start instead. Each step is retried on its own, so start-up keeps what it got and makes
        progress under any pattern of refusals (e.g. a 429 on every 3rd request)."""
        delay = self._retry_min_s
        attempt = 0
        while True:
            attempt += 1
            try:
                await step()
                return
            except self._fatal_start_errors:
                raise
            except (VenueError, RiskDenied) as e:  # venue trouble or our own rate budget
                self._status(VenueState.DISCONNECTED, f"{what}: {e}; attempt {attempt}, retrying in {delay:.1f} s")
                await trio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)

    def _stream_options(self, config: GatewayConfig) -> dict[str, Any]:
        """The keyword arguments every venue stream (a :class:`~venues._common.ReconnectingWebSocket`)
        takes from the config and the gateway: ping, request timeout, reconnect pacing and the
        state and malformed-frame callbacks."""
        return {"ping_interval_s": config.ping_interval_s, "request_timeout_s": config.http_timeout_s,
                "reconnect_min_s": config.reconnect_min_s, "reconnect_max_s": config.reconnect_max_s,
                "on_state": self._on_stream_state, "on_malformed": self._report_malformed}

    # -- reporting -----------------------------------------------------------------------------
    def _on_stream_state(self, state: VenueState, detail: str) -> None:
        """The stream's state changed: reported as a :class:`~engine.VenueStatus`."""
        self._status(state, detail)

    def _report_malformed(self, error: MalformedMessage) -> None:
        self._malformed += 1
        self._last_malformed = str(error)
        self._log.warning("%s", error)

    def _status(self, state: VenueState, detail: str, instrument: Instrument | None = None) -> None:
        now = time.time_ns()
        self._sink.send_market(VenueStatus(self.venue, now, now, state, detail, instrument))


class _ExecutionsOf:
    """Forwards to the execution side of a gateway's current sink (``run`` replaces the sink)."""

    __slots__ = ("_gateway",)

    def __init__(self, gateway: GatewayBase) -> None:
        self._gateway = gateway

    def send_execution(self, event: Any) -> None:
        self._gateway._sink.send_execution(event)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first
