"""The Dzengi gateway: market data over the WebSocket, orders over REST, account state by polling.

Dzengi pushes market data only; there is no private stream. So order, fill, balance and position
changes are **polled** (``myTrades``, ``openOrders``, ``fetchOrder``, ``account``,
``tradingPositions``) and emitted as the same :class:`~engine.OrderReport`, :class:`~engine.Fill`,
:class:`~engine.BalanceUpdate` and :class:`~engine.PositionUpdate` events a push venue gives.
The poll interval adapts: ``poll_fast_s`` while orders are open or something changed within
``fast_window_s``, ``poll_slow_s`` when idle, and longer when the request-weight budget runs low.

Every request is paced by one :class:`risk.RateLimiter` for the account (the venue's
``REQUEST_WEIGHT`` and ``ORDERS`` scopes, shared by market data, polls and orders; seeded with the
documented limits, replaced by what ``exchangeInfo`` publishes) and stamped from one
:class:`risk.ServerClock` (synced from ``GET time`` at start, every ``time_sync_s`` and after any
-1021, and by the keep-alive ``GET time`` answers). An order command over the rate limit
waits up to ``max_rate_wait_s`` or is denied (``RiskDenied``, ``rate_limited``); one that would
reach the venue outside its ``recvWindow`` is denied (``stale_timestamp``). Nothing is sent then.

Orders:

* LIMIT, MARKET and STOP (stop-market, leverage symbols only) with GTC/IOC/FOK; leverage orders
  carry ``accountId`` (the settlement asset's account, from ``account``), ``leverage``,
  ``takeProfit`` and ``stopLoss``. Quantities and prices go out as exact decimal strings rounded
  with the venue's rules (quantity down to the lot, price up to the tick).
* Dzengi assigns order ids; the gateway maps them to our client order ids.
* Only LIMIT orders can be cancelled (the venue's rule): other cancels raise
  :class:`~engine.Unsupported` before anything is sent.
* Outcome policy: a timeout, connection error, 5xx, 429 or unreadable answer on a command raises
  :class:`~engine.OutcomeUnknown`; the order is never resent. :meth:`DzengiGateway.query_order`
  then finds it — by its venue id if known, otherwise by **matching** (see
  :meth:`DzengiGateway.query_order`).
* Fills are de-duplicated by the venue's trade id; a fill of an order whose submit is still in
  flight or unresolved is held back until the order is identified, so the engine never sees a
  fill it cannot place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import attrs
import httpx
import trio

from engine import BalanceUpdate, Bar, BookSnapshot, Fill, Instrument, InstrumentKind, MalformedMessage, Order
from engine import OrderStatus, OrderType, OutcomeUnknown, PositionUpdate, RiskDenied, Rounding, Side, Trade
from engine import DataKind, GatewayCapabilities, OrderReport, Unsupported, VenueError, VenueRejected, VenueState
from venues._common import lifecycle
from venues._common.config import non_negative as _non_negative, positive as _positive, url as _url
from venues._common.lifecycle import GatewayBase, GatewayConfig
from venues._common.orders import AccountTracker, Candidate, OrderTracker, TrackedOrder, match_candidate
from venues._common.orders import resolve_by_matching
from venues._common.poller import AdaptivePoller, Wakeup
from risk import ServerClock

from . import parsers as P
from .constants import DEPTH_LIMITS, MAX_RECV_WINDOW_MS, REST_URL, VENUE, WS_URL, ErrorCode, WsDestination
from .rest import DzengiRest, StreamWrapper, rate_limit_specs, rate_limiter
from .signer import encode_params
from .stream import ConnectionLost, DzengiStream, StreamStatistics, WsRequestFailed

__all__ = ["DzengiConfig", "DzengiGateway", "GatewayStatistics", "InvalidOrder"]

log = logging.getLogger("venues.dzengi")

MATCH_SLACK_MS = 2000
"How far outside ``[sent, sent + recvWindow]`` a venue order time may lie and still match."
FILL_CURSOR_OVERLAP_MS = 1000
"Each ``myTrades`` poll re-reads this much of the previous window (duplicates are dropped)."
_SEEN_FILLS_KEPT = 200_000
_RETIRED_KEPT = 20_000
"Terminal orders remembered (venue id ↔ client id) for late fills and reports."
_CLOCK_SAMPLES_AT_START = 3
"Clock samples taken at start-up, one request (and one retry loop) each."


# =============================================================================================
# configuration
# =============================================================================================


CLOCK_SAFETY_MARGIN_MS = 250
"Added to the clock estimate's doubt before an order command is judged to arrive inside its recvWindow."


def _recv_window(instance: Any, attribute: attrs.Attribute, value: int) -> None:  # type: ignore[type-arg]
    if not CLOCK_SAFETY_MARGIN_MS < value <= MAX_RECV_WINDOW_MS:
        raise ValueError(f"must be more than {CLOCK_SAFETY_MARGIN_MS} ms (the clock guard's safety margin: a "
                         f"shorter window denies every order) and at most {MAX_RECV_WINDOW_MS} ms (the venue's "
                         f"maximum), got {value}")


@attrs.frozen
class DzengiConfig(GatewayConfig):
    """Settings of one Dzengi connection (``DzengiConfig.from_toml("configs/dzengi.toml")``).

    Beside the endpoints, polling and budgets below, :class:`venues._common.lifecycle.GatewayConfig`
    has the timeouts, the clock sync (also after any -1021), the application ping (the venue drops
    sockets idle for 30 s) and the reconnect pacing.
    """

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=REST_URL, validator=_url("http", "https"))
    "REST host: the venue, its demo host or a local testnet (``http://127.0.0.1:PORT``)."
    ws_url: str = attrs.field(default=WS_URL, validator=_url("ws", "wss"))
    "WebSocket endpoint (``…/connect``)."
    api_version: Literal["v1", "v2"] = "v1"
    "REST API version (the demo host serves v1 only; v2 adds Hong Kong stocks)."
    recv_window_ms: int = attrs.field(default=5000, validator=_recv_window)
    "How long after its timestamp a signed request stays valid (venue maximum 60000)."
    poll_fast_s: float = attrs.field(default=1.0, validator=_positive)
    "Poll interval while orders are open or something changed recently."
    poll_slow_s: float = attrs.field(default=10.0, validator=_positive)
    "Poll interval when idle."
    fast_window_s: float = attrs.field(default=15.0, validator=_positive)
    "How long a symbol stays on the fast poll after its last order activity."
    account_poll_s: float = attrs.field(default=30.0, validator=_positive)
    "Balances and positions are polled at least this often (and after every fill)."
    request_weight_per_min: int = attrs.field(default=1200, validator=_positive)
    "Our own REQUEST_WEIGHT budget per minute (the lower of this and the venue's published limit applies)."
    orders_per_s: int = attrs.field(default=10, validator=_positive)
    "Our own ORDERS budget per second (the lower of this and the venue's published limit applies)."
    max_rate_wait_s: float = attrs.field(default=2.0, validator=_non_negative)
    "Longest a request waits for its rate-limit turn before it is denied locally (nothing sent); 0 = deny at once."
    lean_http: bool = True
    "Requests on the gateway's own HTTP/1.1 keep-alive pool (lowest latency and CPU); False: httpx for all."
    track_symbols: tuple[str, ...] = ()
    "Symbols whose fills are polled even if no order was placed through this gateway."
    leverage_account_id: str = ""
    "``accountId`` for leverage orders; default: the settlement asset's account from ``account``."



# =============================================================================================
# state
# =============================================================================================


class InvalidOrder(Unsupported):
    """The order cannot be expressed on Dzengi (e.g. its quantity rounds to zero); nothing was sent."""


@attrs.frozen(slots=True)
class GatewayStatistics(lifecycle.GatewayStatistics[StreamStatistics]):
    """A snapshot of the gateway's counters (for tests and the status line); ``rate_limited``
    counts the venue's slow-downs (429/418/403) plus requests our rate budget refused."""

    polls: int
    open_orders: int
    unresolved_orders: int
    "Orders whose submit outcome is unknown and whose venue id is not known yet."
    order_connections_opened: int


_SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}


def _candidate(row: dict[str, Any], venue_id: str, qty_field: str, time_field: str, what: str) -> Candidate | None:
    """A venue order (an ``openOrders`` row or a ``fetchOrder`` answer) as a matching candidate;
    None if it is unreadable."""
    if not venue_id:
        return None
    try:
        qty = abs(P.decimal_of(row.get(qty_field), qty_field, what, row))
        price_value = row.get("price")
        price = P.decimal_of(price_value, "price", what, row) if price_value is not None else None
        created = int(row.get(time_field, 0))
    except (MalformedMessage, TypeError, ValueError):
        return None
    return Candidate(venue_id, _SIDE.get(str(row.get("side"))), str(row.get("type")), qty, price, created)


def _raw_to_str(raw: int, scale: int) -> str:
    """A positive scaled integer as a plain decimal string without trailing zeros."""
    if scale == 0:
        return str(raw)
    digits = str(raw).rjust(scale + 1, "0")
    frac = digits[-scale:].rstrip("0")
    return f"{digits[:-scale]}.{frac}" if frac else digits[:-scale]


def _round_raw(raw: int, step: int, rounding: Rounding) -> int:
    """Round a positive scaled integer to a multiple of ``step`` with the venue's rule."""
    rem = raw % step
    if not rem:
        return raw
    if rounding in (Rounding.DOWN, Rounding.FLOOR):
        return raw - rem
    if rounding in (Rounding.UP, Rounding.CEILING):
        return raw - rem + step
    if rounding is Rounding.HALF_UP:
        return raw - rem + (step if 2 * rem >= step else 0)
    if rounding is Rounding.HALF_EVEN:
        if 2 * rem > step or (2 * rem == step and (raw // step) % 2):
            return raw - rem + step
        return raw - rem
    raise InvalidOrder(f"{raw} is not a multiple of the step {step} and the venue does not round")


class _SymbolWire:
    """Per-instrument values pre-computed for the order hot path."""

    __slots__ = ("instrument", "param", "lot_raw", "tick_raw", "leveraged")

    def __init__(self, inst: Instrument) -> None:
        self.instrument = inst
        self.param = encode_params([("symbol", inst.symbol)])
        self.lot_raw = inst.size_raw(inst.lot_size)
        self.tick_raw = inst.price_raw(inst.tick_size)
        self.leveraged = inst.kind is not InstrumentKind.SPOT


_VENUE_TYPE = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.STOP_MARKET: "STOP"}


# =============================================================================================
# the gateway
# =============================================================================================


class DzengiGateway(GatewayBase):
    """One connection to Dzengi for one account (or market data only, without credentials).

    Host it in a nursery (``await nursery.start(gateway.run, sink)``) or use
    ``async with DzengiGateway.open(config, sink) as gateway:``.

    Hooks for tests and benchmarks: ``transport`` replaces the HTTP transport (orders then go
    through httpx too); ``ws_stream_wrapper``/``http_stream_wrapper`` wrap freshly connected
    byte streams (e.g. to timestamp socket reads and writes).
    """

    venue = VENUE
    # no post-only or reduce-only flag, no amend, no private stream (polled instead)
    capabilities = GatewayCapabilities(frozenset(t.value for t in _VENUE_TYPE), frozenset({"GTC", "IOC", "FOK"}),
                                       leverage=True)

    def __init__(
        self,
        config: DzengiConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        ws_stream_wrapper: StreamWrapper | None = None,
        http_stream_wrapper: StreamWrapper | None = None,
    ) -> None:
        super().__init__(config, reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s)
        self.config = config
        self._rest = DzengiRest(
            config.base_url,
            api_version=config.api_version,
            credentials=config.credentials(),
            recv_window_ms=config.recv_window_ms,
            timeout_s=config.http_timeout_s,
            transport=transport,
            lean_http=None if config.lean_http else False,
            stream_wrapper=http_stream_wrapper,
            limiter=rate_limiter(request_weight_per_min=config.request_weight_per_min,
                                 orders_per_s=config.orders_per_s, max_wait_s=config.max_rate_wait_s),
            clock=ServerClock(safety_margin_ms=CLOCK_SAFETY_MARGIN_MS, name=VENUE),
        )
        self._stream = DzengiStream(config.ws_url, stream_wrapper=ws_stream_wrapper, **self._stream_options(config))
        self._stream.handlers.update({
            WsDestination.QUOTE_EVENT.value: self._on_quote,
            WsDestination.TRADE_EVENT.value: self._on_trade,
            WsDestination.DEPTH_EVENT.value: self._on_depth,
            WsDestination.OHLC_EVENT.value: self._on_ohlc,
        })
        # instruments
        self._wire: dict[str, _SymbolWire] = {}
        # market data subscriptions
        self._quote_symbols: set[str] = set()
        self._trade_symbols: set[str] = set()
        self._book_depth: dict[str, int] = {}
        self._bar_intervals: dict[str, set[str]] = {}
        self._bar_interval_ns: dict[str, set[int]] = {}
        self._open_bars: dict[tuple[str, int], Bar] = {}
        # orders and fills
        self._orders = OrderTracker(self._executions, fills_kept=_SEEN_FILLS_KEPT, retired_kept=_RETIRED_KEPT,
                                    on_activity=self._touch, on_fill=self._fill_seen)
        self._open = self._orders.open
        "Orders with a venue id that are not terminal (what the poller watches)."
        self._fill_cursor: dict[str, int] = {}
        self._active_until: dict[str, float] = {}
        self._kick = Wakeup()
        self._account_due = True
        # account state
        self._account_ids: dict[str, str] = {}
        self._account = AccountTracker(self._executions)
        self._started_ms = 0
        # counters
        self._polls = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def _start(self, nursery: trio.Nursery) -> None:
        """Load instruments, sync the clock, connect the stream, start the pollers; then serve."""
        await self._bootstrap()
        await nursery.start(self._stream.run)
        if self._rest.has_credentials:
            await self._load_account_state()
            nursery.start_soon(self._poll_loop)
        nursery.start_soon(self._clock_loop)
        if self._rest.lane is not None and self._rest.has_credentials:
            with trio.move_on_after(self.config.http_timeout_s):
                try:
                    await self._rest.lane.warm(1)
                except OSError as e:
                    log.info("dzengi: could not pre-open an order connection: %s", e)
            nursery.start_soon(self._rest.maintain_lane)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._rest.aclose()

    async def _bootstrap(self) -> None:
        """Clock samples and instruments, each request retried on its own: start-up keeps what it
        got, so it makes progress under any pattern of refusals (e.g. a 429 on every 3rd request)."""
        async def sample_clock() -> None:
            await self._rest.sync_time(rounds=1)

        async def load_instruments() -> None:
            self._load_instruments(await self._rest.exchange_info())

        for _ in range(_CLOCK_SAMPLES_AT_START):
            await self._retrying(sample_clock, "REST not available")
        await self._retrying(load_instruments, "REST not available")
        self._started_ms = self._server_now_ms()

    def _load_instruments(self, info: Any) -> None:
        instruments = P.parse_instruments(info, self._report_malformed)
        if not instruments:
            raise P.malformed("exchangeInfo", "no usable symbols")
        self._set_instruments(instruments)
        self._wire = {symbol: _SymbolWire(inst) for symbol, inst in instruments.items()}
        # the published limits replace the documented ones the limiter was seeded with (same
        # scope and interval; a seed the venue no longer publishes stays, as an extra bound)
        published = P.parse_rate_limits(info)
        for spec in rate_limit_specs(published, request_weight_per_min=self.config.request_weight_per_min,
                                     orders_per_s=self.config.orders_per_s):
            self._rest.limiter.add_spec(spec)

    async def _load_account_state(self) -> None:
        """Balances, positions and open orders, each request retried on its own (see :meth:`_bootstrap`)."""
        await self._retrying(self._load_balances, "account state")
        await self._retrying(self._load_positions, "account state")
        await self._retrying(self._load_open_orders, "account state")

    async def _load_balances(self) -> None:
        for balance in await self.balances():
            self._account.note_balance(balance)

    async def _load_positions(self) -> None:
        try:
            for position in await self.positions():
                self._account.note_position(position)
        except VenueRejected as e:  # accounts without leverage trading
            log.info("dzengi: positions not available: %s", e)

    async def _load_open_orders(self) -> None:
        for report in await self.open_orders():
            tracked = self._orders.by_venue_id(report.venue_order_id)
            if tracked is None:
                tracked = self._orders.track_found(report)
            self._orders.update(tracked, report)

    async def _clock_loop(self) -> None:
        with self._rest.background():
            await self._keep_clock_synced()

    async def _keep_clock_synced(self) -> None:
        last = trio.current_time()
        while True:
            await trio.sleep(1.0)
            stale = self._rest.clock_stale  # the venue refused a timestamp (-1021): start the estimate over
            if stale or trio.current_time() - last >= self.config.time_sync_s:
                try:
                    await self._rest.sync_time(fresh=stale)
                    last = trio.current_time()
                except (VenueError, RiskDenied) as e:  # venue trouble or our own rate budget
                    log.warning("dzengi: clock sync failed: %s", e)

    def _server_now_ms(self) -> int:
        return self._rest.clock.server_now_ms()

    def statistics(self) -> GatewayStatistics:
        lane = self._rest.lane
        limits = self._rest.limiter.statistics()
        return GatewayStatistics(
            stream=self._stream.statistics(),
            requests_sent=self._rest.requests_sent,
            polls=self._polls,
            malformed=self._malformed,
            last_malformed=self._last_malformed,
            rate_limited=limits.rate_limited + limits.denied,
            tracked_orders=len(self._orders),
            open_orders=len(self._open),
            unresolved_orders=len(self._orders.unresolved),
            server_offset_ms=self._rest.clock.offset_ms,
            order_connections_opened=lane.connections_opened if lane is not None else 0,
        )

    # -- reporting -------------------------------------------------------------------------------
    def _on_stream_state(self, state: VenueState, detail: str) -> None:
        super()._on_stream_state(state, detail)
        if state is VenueState.CONNECTED and self._book_depth and self._nursery is not None:
            self._nursery.start_soon(self._resync_books)

    async def _resync_books(self) -> None:
        with self._rest.background():
            for symbol, depth in list(self._book_depth.items()):
                try:
                    self._sink.send_market(await self.book_snapshot(self._by_symbol[symbol], depth))
                except (VenueError, RiskDenied) as e:
                    log.warning("dzengi: book snapshot for %s failed: %s", symbol, e)

    # =========================================================================================
    # market data
    # =========================================================================================

    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        """Start ``kind`` events for ``instrument`` (idempotent). BOOK sends a REST snapshot first."""
        symbol = instrument.symbol
        if symbol not in self._by_symbol:
            raise VenueRejected(ErrorCode.BAD_SYMBOL.value, f"dzengi does not list {symbol!r}", venue=VENUE)
        if kind is DataKind.QUOTES:
            self._quote_symbols.add(symbol)
            await self._subscribe(WsDestination.MARKET_DATA_SUBSCRIBE, {"symbols": sorted(self._quote_symbols)}, symbol)
        elif kind is DataKind.TRADES:
            self._trade_symbols.add(symbol)
            await self._subscribe(WsDestination.TRADES_SUBSCRIBE, {"symbols": sorted(self._trade_symbols)}, symbol)
        elif kind is DataKind.BOOK:
            if depth <= 0:
                raise ValueError(f"book depth must be positive, got {depth}")
            self._book_depth[symbol] = max(depth, self._book_depth.get(symbol, 0))
            self._sink.send_market(await self.book_snapshot(instrument, self._book_depth[symbol]))
            await self._subscribe(WsDestination.DEPTH_SUBSCRIBE, {"symbols": sorted(self._book_depth)}, symbol)
        elif kind is DataKind.BARS:
            try:
                name = P.interval_name(interval_s)
            except ValueError as e:
                raise Unsupported(str(e)) from None
            self._bar_intervals.setdefault(symbol, set()).add(name)
            self._bar_interval_ns.setdefault(symbol, set()).add(interval_s * 1_000_000_000)
            intervals = sorted(set().union(*self._bar_intervals.values()), key=P.interval_ms)
            await self._subscribe(WsDestination.OHLC_SUBSCRIBE,
                                  {"symbols": sorted(self._bar_intervals), "intervals": intervals}, symbol)
        else:  # pragma: no cover - DataKind is closed
            raise Unsupported(f"dzengi has no {kind} data")

    async def _subscribe(self, destination: WsDestination, payload: dict[str, Any], symbol: str) -> None:
        try:
            ack = await self._stream.subscribe(destination.value, payload)
        except WsRequestFailed as e:
            raise VenueRejected(e.status, f"{destination.value}: {e.payload}", venue=VENUE) from e
        except (ConnectionLost, trio.TooSlowError):
            return  # recorded: it goes out again when the socket is back
        subscriptions = ack.get("subscriptions") if isinstance(ack, dict) else None
        state = subscriptions.get(symbol) if isinstance(subscriptions, dict) else None
        if state is not None and state != "PROCESSED":
            code = ack.get("errorCode", "") if isinstance(ack, dict) else ""
            raise VenueRejected(str(code or state), f"{destination.value} {symbol}: {state}", venue=VENUE)

    async def book_snapshot(self, instrument: Instrument, depth: int = 100) -> BookSnapshot:
        """The order book from ``GET depth`` (limit: the smallest venue limit ≥ ``depth``)."""
        limit = next((n for n in DEPTH_LIMITS if n >= depth), DEPTH_LIMITS[-1])
        answer = await self._rest.depth(instrument.symbol, min(limit, 1000))
        return P.parse_depth(answer, instrument, time.time_ns(), depth)

    async def recent_trades(self, instrument: Instrument, *, start_ms: int | None = None,
                            limit: int = 500) -> list[Trade]:
        """Public trades from ``GET aggTrades`` (oldest first)."""
        rows = await self._rest.agg_trades(instrument.symbol, start_ms=start_ms, limit=limit)
        ts = time.time_ns()
        return [P.parse_agg_trade(row, instrument, ts) for row in P.as_list(rows, "aggTrades")]

    async def bars(self, instrument: Instrument, interval_s: int = 60, *, start_ms: int | None = None,
                   end_ms: int | None = None, limit: int = 500) -> list[Bar]:
        """Historical bars from ``GET klines`` (oldest first)."""
        name = P.interval_name(interval_s)
        rows = await self._rest.klines(instrument.symbol, name, start_ms=start_ms, end_ms=end_ms, limit=limit)
        ts = time.time_ns()
        return [P.parse_kline(row, instrument, P.interval_ms(name), ts) for row in P.as_list(rows, "klines")]

    # -- pushed events (the reader's hot path: synchronous, no awaits) -----------------------
    def _on_quote(self, payload: Any, ts_recv: int) -> None:
        self._sink.send_market(P.parse_ws_quote(payload, self._by_symbol, ts_recv))

    def _on_trade(self, payload: Any, ts_recv: int) -> None:
        self._sink.send_market(P.parse_ws_trade(payload, self._by_symbol, ts_recv))

    def _on_depth(self, payload: Any, ts_recv: int) -> None:
        symbol = payload.get("symbol") if isinstance(payload, dict) else None
        depth = self._book_depth.get(symbol) if isinstance(symbol, str) else None
        if depth is None:
            if symbol is None:
                raise P.malformed("marketdepth.event", "missing field 'symbol'", payload)
            return  # a book we did not ask for
        self._sink.send_market(P.parse_ws_depth(payload, self._by_symbol, ts_recv, depth))

    def _on_ohlc(self, payload: Any, ts_recv: int) -> None:
        bar = P.parse_ws_ohlc(payload, self._by_symbol, ts_recv)
        symbol = bar.instrument.symbol
        if bar.interval_ns not in self._bar_interval_ns.get(symbol, ()):
            return
        key = (symbol, bar.interval_ns)
        previous = self._open_bars.get(key)
        if previous is not None and bar.ts_event > previous.ts_event:
            # the venue re-sends the bar in progress; a bar is final once the next one starts
            self._sink.send_market(previous._replace(ts_recv=ts_recv))
        if previous is None or bar.ts_event >= previous.ts_event:
            self._open_bars[key] = bar

    # =========================================================================================
    # orders
    # =========================================================================================

    def _wire_of(self, inst: Instrument) -> _SymbolWire:
        wire = self._wire.get(inst.symbol)
        if wire is not None and wire.instrument is inst:
            return wire
        if inst.symbol not in self._by_symbol:
            raise InvalidOrder(f"dzengi does not list {inst.symbol!r}")
        # an equal instrument object with other scales (e.g. rebuilt elsewhere): its own raw units
        wire = self._wire[inst.symbol] = _SymbolWire(inst)
        return wire

    def _order_params(self, order: Order) -> tuple[str, str, int, int | None]:
        """(URL-encoded params, venue type, raw quantity sent, raw price sent). Raises before any I/O."""
        inst = order.instrument
        wire = self._wire_of(inst)
        venue_type = _VENUE_TYPE.get(order.type)
        if venue_type is None:
            raise Unsupported(f"dzengi has no {order.type.value} orders (LIMIT, MARKET and STOP only)")
        if order.post_only or order.reduce_only:
            raise Unsupported("dzengi has no post-only or reduce-only flag")
        qty_raw = _round_raw(order.qty_raw, wire.lot_raw, inst.qty_rounding)
        if qty_raw <= 0:
            raise InvalidOrder(f"quantity {order.qty} rounds to 0 on the lot {inst.lot_size}")
        qty_text = _raw_to_str(qty_raw, inst.size_scale)
        parts = [wire.param, "&side=", "BUY" if order.side is Side.BUY else "SELL", "&type=", venue_type,
                 "&timeInForce=", order.time_in_force.value, "&quantity=", qty_text]
        price_raw: int | None = None
        if venue_type == "LIMIT":
            price_raw = order.price_raw
            if price_raw is None:
                raise InvalidOrder("a LIMIT order needs a price")
        elif venue_type == "STOP":
            if not wire.leveraged:
                raise Unsupported(f"dzengi accepts STOP orders on leverage symbols only, not {inst.symbol}")
            price_raw = order.trigger_raw
            if price_raw is None:
                raise InvalidOrder("a STOP order needs a trigger price")
        if price_raw is not None:
            if price_raw <= 0:
                raise InvalidOrder(f"price must be positive, got {inst.price_of(price_raw)}")
            price_raw = _round_raw(price_raw, wire.tick_raw, inst.price_rounding)
            parts += ("&price=", _raw_to_str(price_raw, inst.price_scale))
        if wire.leveraged:
            account_id = self.config.leverage_account_id or self._account_ids.get(inst.settle, "")
            if account_id:
                parts += ("&accountId=", account_id)
            if order.leverage is not None:
                if order.leverage != order.leverage.to_integral_value() or order.leverage <= 0:
                    raise InvalidOrder(f"dzengi leverage is a positive whole number, got {order.leverage}")
                parts += ("&leverage=", str(int(order.leverage)))
            for name, level in (("takeProfit", order.take_profit), ("stopLoss", order.stop_loss)):
                if level is not None:
                    parts += (f"&{name}=", format(inst.round_price(level), "f"))
        elif order.leverage is not None or order.take_profit is not None or order.stop_loss is not None:
            raise Unsupported(f"leverage, take-profit and stop-loss need a leverage symbol, not {inst.symbol}")
        parts += ("&newOrderRespType=", "FULL" if venue_type == "MARKET" and not wire.leveraged else "RESULT")
        return "".join(parts), venue_type, qty_raw, price_raw

    async def submit_order(self, order: Order) -> OrderReport:
        """Send a new order; see the module doc for the outcome policy. Never resends."""
        params, venue_type, qty, price = self._order_params(order)
        symbol = order.instrument.symbol
        stamp: list[int] = []  # the request's timestamp: the anchor for matching it if unresolved
        orders = self._orders
        orders.begin_send(symbol)
        try:
            answer = await self._rest.new_order(params, stamp)
        except OutcomeUnknown:
            orders.end_send(symbol, settle=False)
            orders.mark_unresolved(self._track_sent(order, venue_type, qty, price, stamp[0]))
            raise
        except BaseException:  # definite rejection, denied before the send (RiskDenied), or cancelled
            orders.end_send(symbol)
            raise
        orders.end_send(symbol, settle=False)
        ts_recv = time.time_ns()
        tracked = self._track_sent(order, venue_type, qty, price, stamp[0])
        try:
            report = P.parse_new_order(answer, order.instrument, order.client_order_id, ts_recv)
        except MalformedMessage as e:
            self._report_malformed(e)
            venue_id = answer.get("orderId") if isinstance(answer, dict) else None
            if isinstance(venue_id, str) and venue_id:
                orders.adopt(tracked, venue_id)
            else:
                orders.mark_unresolved(tracked)
            orders.set_status(tracked, OrderStatus.UNKNOWN)
            raise OutcomeUnknown(f"order {order.client_order_id}: the venue's answer is unreadable ({e})",
                                 venue=VENUE) from e
        # the answer's fills count first (a fill without a venue trade id is provisional: the real
        # trade, when polled, is netted against it); then adopting the venue id releases the fills
        # a poll may already hold for this order
        provisional_prefix = f"{report.venue_order_id}#"
        orders.record(tracked, report, provisional=lambda fill: fill.trade_id.startswith(provisional_prefix))
        self._account_due = True  # balances (and positions) moved or were locked
        return report

    async def cancel_order(self, order: Order) -> OrderReport:
        """Cancel a LIMIT order (the venue cancels nothing else). Unknown outcome → OutcomeUnknown."""
        if order.type is not OrderType.LIMIT:
            raise Unsupported(f"dzengi cancels LIMIT orders only; {order.client_order_id} is "
                              f"{order.type.value} (nothing was sent)")
        tracked = self._orders.get(order.client_order_id)
        venue_id = order.venue_order_id or (tracked.venue_order_id if tracked else "")
        if not venue_id:
            raise OutcomeUnknown(f"cancel {order.client_order_id}: its venue order id is not known yet (the submit's "
                                 "outcome is unknown); nothing was sent — reconcile with query_order first",
                                 venue=VENUE)
        answer = await self._rest.cancel_order(order.instrument.symbol, venue_id)
        try:
            report = P.parse_cancel_order(answer, order.instrument, order.client_order_id, time.time_ns())
        except MalformedMessage as e:
            self._report_malformed(e)
            raise OutcomeUnknown(f"cancel {order.client_order_id}: the venue's answer is unreadable ({e})",
                                 venue=VENUE) from e
        if tracked is not None:
            if not tracked.venue_order_id:
                self._orders.adopt(tracked, venue_id)
            self._orders.record(tracked, report)
        self._account_due = True
        self._touch(order.instrument.symbol)
        return report

    async def query_order(self, order: Order) -> OrderReport | None:
        """The venue's view of ``order``; None if the venue definitely does not have it.

        With a venue order id this is ``fetchOrder`` ("Order does not exist" → None). Without one
        (the submit's outcome was unknown) the order is found by matching, never by resending:

        1. wait until the request's ``recvWindow`` has passed — after that the venue refuses it,
           so what we see next is final;
        2. candidates are venue orders on the symbol not mapped to any other order of ours, with
           the same side, type and quantity (and price, for LIMIT/STOP), created within
           ``[sent - 2 s, sent + recvWindow + 2 s]`` (venue clock): first ``openOrders``, then
           the orders behind ``myTrades`` executions since ``sent - 2 s`` (checked with
           ``fetchOrder``);
        3. the earliest-created candidate is adopted. (Two identical orders sent within one
           recvWindow cannot be told apart; the engine reconciles in send order, so they pair
           up in time order.)
        4. no candidate → None. (An order that expired unfilled leaves no trace on Dzengi; for
           it None is also what matters: nothing was executed.)
        """
        tracked = self._orders.get(order.client_order_id)
        venue_id = order.venue_order_id or (tracked.venue_order_id if tracked else "")
        if not venue_id:
            if tracked is None:
                tracked = self._track_from_order(order)
            venue_id = await self._resolve(tracked)
            if not venue_id:
                if tracked.unresolved:
                    self._orders.not_found(tracked)
                return None
        try:
            answer = await self._rest.fetch_order(order.instrument.symbol, venue_id)
        except VenueRejected as e:
            if e.code == ErrorCode.NO_SUCH_ORDER:
                return None
            raise
        report = P.parse_fetch_order(answer, order.instrument, order.client_order_id, time.time_ns(),
                                     provisional_fills=False)
        if tracked is None:
            for fill in report.fills:
                self._orders.note_seen(order.instrument.symbol, fill.trade_id)
        else:
            if not tracked.venue_order_id:
                self._orders.adopt(tracked, venue_id)
            self._orders.record(tracked, report)
        return report

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        """Every open order the venue holds (client ids mapped; ``""`` for orders placed elsewhere)."""
        rows = await self._rest.open_orders(instrument.symbol if instrument else None)
        ts = time.time_ns()
        out = []
        for row in P.as_list(rows, "openOrders"):
            try:
                out.append(P.parse_open_order(row, self._by_symbol, self._orders.client_id_of, ts))
            except MalformedMessage as e:
                self._report_malformed(e)
        return out

    async def balances(self) -> Sequence[BalanceUpdate]:
        """Balances per asset (``account`` is the venue's per-asset account id)."""
        updates = P.parse_account(await self._rest.account(), time.time_ns())
        for b in updates:
            current = self._account_ids.get(b.asset)
            if current is None:
                self._account_ids[b.asset] = b.account
        return updates

    async def positions(self) -> Sequence[PositionUpdate]:
        """Open leverage positions, netted per symbol."""
        return P.parse_positions(await self._rest.trading_positions(), self._by_symbol, time.time_ns(),
                                 self._report_malformed)

    async def my_trades(self, instrument: Instrument, *, start_ms: int | None = None) -> list[Fill]:
        """Our executions on ``instrument`` from ``myTrades`` (the venue keeps about the last 1000)."""
        rows = await self._rest.my_trades(instrument.symbol, start_ms=start_ms)
        ts = time.time_ns()
        out = []
        for row in P.as_list(rows, "myTrades"):
            try:
                out.append(P.parse_my_trade(row, instrument, self._orders.client_id_of, ts))
            except MalformedMessage as e:
                self._report_malformed(e)
        return out

    async def leverage_settings(self, instrument: Instrument) -> tuple[tuple[int, ...], int]:
        """(allowed leverage values, default) of a leverage symbol."""
        answer = await self._rest.leverage_settings(instrument.symbol)
        if not isinstance(answer, dict) or not isinstance(answer.get("values"), list):
            raise P.malformed("leverageSettings", "missing 'values'", answer)
        try:
            return tuple(int(v) for v in answer["values"]), int(answer.get("value", 0))
        except (TypeError, ValueError):
            raise P.malformed("leverageSettings", "values are not integers", answer) from None

    # -- order bookkeeping --------------------------------------------------------------------
    def _track_sent(self, order: Order, venue_type: str, qty_raw: int, price_raw: int | None,
                    sent_ms: int) -> TrackedOrder:
        inst = order.instrument
        return self._orders.track(order.client_order_id, inst, side=order.side, venue_type=venue_type,
                                  qty=inst.size_of(qty_raw),
                                  price=inst.price_of(price_raw) if price_raw is not None else None, sent_ms=sent_ms)

    def _track_from_order(self, order: Order) -> TrackedOrder:
        """Rebuild what we sent from the engine's order (e.g. after a restart)."""
        venue_type = _VENUE_TYPE.get(order.type, "")
        price_raw = order.trigger_raw if venue_type == "STOP" else order.price_raw
        inst = order.instrument
        wire = self._wire_of(inst)
        qty = inst.size_of(_round_raw(order.qty_raw, wire.lot_raw, inst.qty_rounding))
        price = (inst.price_of(_round_raw(price_raw, wire.tick_raw, inst.price_rounding))
                 if price_raw is not None and venue_type != "MARKET" else None)
        sent_ms = (order.ts_init // 1_000_000 + int(self._rest.clock.offset_ms) if order.ts_init
                   else self._started_ms)
        tracked = self._orders.track(order.client_order_id, inst, side=order.side, venue_type=venue_type, qty=qty,
                                     price=price, sent_ms=sent_ms)
        self._orders.mark_unresolved(tracked)
        return tracked

    def _fill_seen(self) -> None:
        self._account_due = True

    def _touch(self, symbol: str) -> None:
        """Something happened on ``symbol``: poll it fast for a while, starting now."""
        try:
            self._active_until[symbol] = trio.current_time() + self.config.fast_window_s
        except RuntimeError:
            return
        self._kick.set()

    # -- matching an order whose submit outcome is unknown ------------------------------------
    def _matches(self, tracked: TrackedOrder, candidate: Candidate) -> bool:
        return match_candidate(tracked, candidate, window_ms=self._rest.recv_window_ms, slack_ms=MATCH_SLACK_MS)

    async def _resolve(self, tracked: TrackedOrder) -> str:
        # after the request's window (by the venue's clock, give or take our estimate's doubt) the
        # venue refuses it: what we see then is final
        clock = self._rest.clock
        doubt_ms = min(clock.uncertainty_ms, 1000.0) + clock.safety_margin_ms
        wait_ms = tracked.sent_ms + self._rest.recv_window_ms + doubt_ms + 500 - self._server_now_ms()
        if wait_ms > 0:
            await trio.sleep(wait_ms / 1000)
        return await resolve_by_matching(self._orders, tracked,
                                         [self._candidates_from_open_orders, self._candidates_from_trades],
                                         self._matches)

    async def _candidates_from_open_orders(self, tracked: TrackedOrder) -> list[Candidate]:
        rows = P.as_list(await self._rest.open_orders(tracked.instrument.symbol), "openOrders")
        found = (_candidate(row, str(row.get("orderId", "")), "origQty", "time", "openOrders item")
                 for row in rows if isinstance(row, dict))
        return [c for c in found if c is not None and self._orders.by_venue_id(c.venue_order_id) is None]

    async def _candidates_from_trades(self, tracked: TrackedOrder) -> list[Candidate]:
        symbol = tracked.instrument.symbol
        rows = await self._rest.my_trades(symbol, start_ms=tracked.sent_ms - MATCH_SLACK_MS)
        order_ids: list[str] = []
        for row in P.as_list(rows, "myTrades"):
            if isinstance(row, dict):
                venue_id = str(row.get("orderId", ""))
                if venue_id and self._orders.by_venue_id(venue_id) is None and venue_id not in order_ids:
                    order_ids.append(venue_id)
        candidates = []
        for venue_id in order_ids[:20]:
            try:
                answer = await self._rest.fetch_order(symbol, venue_id)
            except VenueRejected:
                continue
            if isinstance(answer, dict):
                candidate = _candidate(answer, venue_id, "quantity", "timestamp", "fetchOrder answer")
                if candidate is not None:
                    candidates.append(candidate)
        return candidates

    # =========================================================================================
    # polling: the private stream Dzengi does not have
    # =========================================================================================

    def _poll_symbols(self) -> list[str]:
        now = trio.current_time()
        symbols = {t.instrument.symbol for t in self._open.values()}
        symbols.update(t.instrument.symbol for t in self._orders.unresolved)
        symbols.update(s for s, until in self._active_until.items() if until > now)
        symbols.update(s for s in self.config.track_symbols if s in self._by_symbol)
        return sorted(symbols)

    def poll_interval_s(self) -> float:
        """The next poll interval: fast when busy, slow when idle, longer when the weight budget is low."""
        now = trio.current_time()
        busy = (bool(self._open) or bool(self._orders.unresolved)
                or any(until > now for until in self._active_until.values()))
        interval = self.config.poll_fast_s if busy else self.config.poll_slow_s
        budget = self._rest.weight_budget()
        if budget < 0.25:
            interval *= 4
        elif budget < 0.5:
            interval *= 2
        return interval

    async def _poll_loop(self) -> None:
        with self._rest.background():  # polls leave room for orders and callers' own reads
            await self._poll_forever()

    async def _poll_forever(self) -> None:
        poller = AdaptivePoller(lambda account: self.poll_once(account=account), interval_s=self.poll_interval_s,
                                min_spacing_s=self.config.poll_fast_s, account_every_s=self.config.account_poll_s,
                                account_due=lambda: self._account_due, wakeup=self._kick, name=VENUE, logger=log)
        await poller.run()

    async def poll_once(self, *, account: bool = True) -> None:
        """One poll round: fills, then order states, then (if asked) balances and positions."""
        self._polls += 1
        symbols = self._poll_symbols()
        for symbol in symbols:
            await self._poll_fills(symbol)
        for symbol in symbols:
            await self._poll_orders(symbol)
        if account:
            self._account_due = False
            for balance in await self.balances():
                self._account.note_balance(balance)
            try:
                positions = await self.positions()
            except VenueRejected:
                positions = []
            self._account.note_positions(positions, time.time_ns())

    async def _poll_fills(self, symbol: str) -> None:
        inst = self._by_symbol[symbol]
        start = self._fill_cursor.get(symbol, self._started_ms - FILL_CURSOR_OVERLAP_MS)
        for _page in range(5):
            rows = P.as_list(await self._rest.my_trades(symbol, start_ms=start), "myTrades")
            ts = time.time_ns()
            newest = start
            for row in rows:
                try:
                    fill = P.parse_my_trade(row, inst, self._orders.client_id_of, ts)
                except MalformedMessage as e:
                    self._report_malformed(e)
                    continue
                newest = max(newest, fill.ts_event // 1_000_000)
                self._orders.consider_fill(fill)
            self._fill_cursor[symbol] = max(start, newest - FILL_CURSOR_OVERLAP_MS)
            if len(rows) < 1000 or newest <= start:
                return
            start = newest

    async def _poll_orders(self, symbol: str) -> None:
        rows = P.as_list(await self._rest.open_orders(symbol), "openOrders")
        ts = time.time_ns()
        present: set[str] = set()
        for row in rows:
            if isinstance(row, dict) and row.get("orderId") is not None:
                present.add(str(row["orderId"]))  # even if the rest of the row is unreadable
            try:
                report = P.parse_open_order(row, self._by_symbol, self._orders.client_id_of, ts)
            except MalformedMessage as e:
                self._report_malformed(e)
                continue
            tracked = self._orders.by_venue_id(report.venue_order_id)
            if tracked is None:
                if self._orders.symbol_unsettled(symbol):
                    continue  # possibly ours, still in flight or unresolved: look again next round
                tracked = self._orders.track_found(report)
            self._orders.update(tracked, report)
        gone = [t for t in self._open.values() if t.instrument.symbol == symbol and t.venue_order_id not in present]
        for tracked in gone:
            await self._settle_gone(tracked)

    async def _settle_gone(self, tracked: TrackedOrder) -> None:
        """An order left ``openOrders``: ask ``fetchOrder`` how it ended."""
        inst = tracked.instrument
        try:
            answer = await self._rest.fetch_order(inst.symbol, tracked.venue_order_id)
        except VenueRejected as e:
            if e.code != ErrorCode.NO_SUCH_ORDER:
                raise
            self._orders.gone(tracked, time.time_ns(), "gone from openOrders and unknown to fetchOrder")
            return
        try:
            report = P.parse_fetch_order(answer, inst, tracked.client_order_id, time.time_ns(), provisional_fills=False)
        except MalformedMessage as e:
            self._report_malformed(e)
            return
        if not report.status.is_terminal and report.status is not OrderStatus.PENDING_CANCEL:
            return  # still working (e.g. created after the list was taken)
        self._orders.update(tracked, attrs.evolve(report, fills=()))
