"""The strategy API: a plain class with synchronous handlers, and the context it acts through.

A strategy never awaits, sleeps or reads the wall clock. It subscribes to data, reacts in its
``on_*`` handlers and acts through ``self.ctx``. The same class runs in backtest, paper and live.

.. code-block:: python

    class Breakout(Strategy):
        class Params:
            instrument: str
            lookback: int = 20
            qty: Decimal = Decimal("0.01")

        def on_start(self) -> None:
            self.inst = self.ctx.instrument(self.params.instrument)
            self.ctx.subscribe_bars(self.inst)

        def on_bar(self, bar: Bar) -> None:
            ...
            self.ctx.buy(self.inst, self.params.qty)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from ._events import Bar, Fill, Quote, Side, Trade, TradingStateChanged
from ._instruments import Instrument
from ._orders import Order, OrderType, OrderUpdate, TimeInForce

if TYPE_CHECKING:
    from ._book import L2Book
    from ._core import Engine
    from ._portfolio import Position

__all__ = ["Strategy", "Context"]


class Strategy:
    """Base class of every strategy. Override the handlers you need; all are optional.

    ``Params`` (optional) is a nested class of annotated fields with defaults; the config's
    ``[strategies.params]`` table is validated against it and the result is ``self.params``.
    """

    Params: ClassVar[type | None] = None

    def __init__(self, ctx: Context, params: Any = None) -> None:
        self.ctx = ctx
        self.params = params

    def on_start(self) -> None:
        """Called once before any data: subscribe and set timers here."""

    def on_stop(self) -> None:
        """Called once at the end of the run (or when the strategy is stopped)."""

    def on_trade(self, trade: Trade) -> None:
        """A trade print on a subscribed instrument."""

    def on_quote(self, quote: Quote) -> None:
        """A top-of-book change on a subscribed instrument."""

    def on_book(self, book: L2Book) -> None:
        """The L2 book of a subscribed instrument changed (``book`` is a live read-only view)."""

    def on_bar(self, bar: Bar) -> None:
        """A bar closed on a subscribed instrument."""

    def on_order(self, update: OrderUpdate) -> None:
        """One of this strategy's orders changed state (every change, DENIED and UNKNOWN included)."""

    def on_fill(self, fill: Fill) -> None:
        """One of this strategy's orders was (partly) executed."""

    def on_timer(self, name: str, now_ns: int) -> None:
        """A timer set with :meth:`Context.set_timer` fired."""

    def on_trading_state(self, change: TradingStateChanged) -> None:
        """The risk module changed the trading state (ACTIVE / REDUCING / HALTED)."""


class Context:
    """What a strategy can do. One context per strategy; created by the engine."""

    def __init__(self, engine: Engine, strategy_id: str) -> None:
        self._engine = engine
        self.strategy_id = strategy_id
        self.log = logging.getLogger(f"triotrade.strategy.{strategy_id}")
        "A logger named after the strategy."

    # -- time ------------------------------------------------------------------------------
    def now_ns(self) -> int:
        """The engine clock: event time in a backtest, wall time live."""
        return self._engine.clock.now_ns()

    def set_timer(self, name: str, *, interval_s: float | None = None, at_ns: int | None = None) -> None:
        """Call ``on_timer(name, now)`` at ``at_ns`` once, or every ``interval_s`` seconds."""
        self._engine.set_timer(self.strategy_id, name, interval_s=interval_s, at_ns=at_ns)

    def cancel_timer(self, name: str) -> None:
        self._engine.timers.cancel(self.strategy_id, name)

    # -- instruments and data --------------------------------------------------------------
    def instrument(self, key: str) -> Instrument:
        """The instrument ``"venue:symbol"`` (or a bare symbol when only one venue has it)."""
        return self._engine.instrument(key)

    @property
    def instruments(self) -> Sequence[Instrument]:
        return list(self._engine.instruments.values())

    def subscribe_trades(self, instrument: Instrument) -> None:
        self._engine.subscribe(self.strategy_id, "trades", instrument)

    def subscribe_quotes(self, instrument: Instrument) -> None:
        self._engine.subscribe(self.strategy_id, "quotes", instrument)

    def subscribe_book(self, instrument: Instrument, depth: int = 10) -> None:
        self._engine.subscribe(self.strategy_id, "book", instrument, depth=depth)

    def subscribe_bars(self, instrument: Instrument, interval_s: int = 60) -> None:
        self._engine.subscribe(self.strategy_id, "bars", instrument, interval_s=interval_s)

    def book(self, instrument: Instrument) -> L2Book | None:
        """The current L2 book (None until the first snapshot)."""
        return self._engine.books.get(instrument.key)

    # -- account ---------------------------------------------------------------------------
    def position(self, instrument: Instrument) -> Position:
        return self._engine.portfolio.position(instrument)

    def balance(self, asset: str) -> Decimal:
        return self._engine.portfolio.balance(asset)

    def open_orders(self, instrument: Instrument | None = None) -> list[Order]:
        """This strategy's open orders (optionally for one instrument)."""
        return self._engine.open_orders(self.strategy_id, instrument)

    # -- orders ----------------------------------------------------------------------------
    def submit(
        self,
        instrument: Instrument,
        side: Side,
        qty: Decimal,
        *,
        type: OrderType = OrderType.MARKET,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        leverage: Decimal | None = None,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
    ) -> Order:
        """Create an order and send it through risk to the venue.

        Price and quantity are rounded to the instrument's tick and lot with the venue's rule.
        The returned order is already tracked; a denial shows as status DENIED (and an
        ``on_order`` update), never as an exception.
        """
        return self._engine.submit_order(
            self.strategy_id, instrument, side, qty, type=type, price=price,
            trigger_price=trigger_price, time_in_force=time_in_force, post_only=post_only,
            reduce_only=reduce_only, leverage=leverage, take_profit=take_profit, stop_loss=stop_loss,
        )

    def buy(self, instrument: Instrument, qty: Decimal, **kw: Any) -> Order:
        """Market buy (pass ``price=`` / ``type=`` for other types)."""
        if "price" in kw and "type" not in kw:
            kw["type"] = OrderType.LIMIT
        return self.submit(instrument, Side.BUY, qty, **kw)

    def sell(self, instrument: Instrument, qty: Decimal, **kw: Any) -> Order:
        """Market sell (pass ``price=`` / ``type=`` for other types)."""
        if "price" in kw and "type" not in kw:
            kw["type"] = OrderType.LIMIT
        return self.submit(instrument, Side.SELL, qty, **kw)

    def limit(self, instrument: Instrument, side: Side, qty: Decimal, price: Decimal, **kw: Any) -> Order:
        return self.submit(instrument, side, qty, type=OrderType.LIMIT, price=price, **kw)

    def stop(self, instrument: Instrument, side: Side, qty: Decimal, trigger_price: Decimal, **kw: Any) -> Order:
        """Stop-market: a market order once the last price touches ``trigger_price``."""
        return self.submit(instrument, side, qty, type=OrderType.STOP_MARKET, trigger_price=trigger_price, **kw)

    def stop_limit(self, instrument: Instrument, side: Side, qty: Decimal, trigger_price: Decimal,
                   price: Decimal, **kw: Any) -> Order:
        return self.submit(instrument, side, qty, type=OrderType.STOP_LIMIT, trigger_price=trigger_price,
                           price=price, **kw)

    def cancel(self, order: Order) -> None:
        """Ask the venue to cancel ``order`` (no-op if it is already terminal)."""
        self._engine.cancel_order(self.strategy_id, order)

    def cancel_all(self, instrument: Instrument | None = None) -> None:
        """Cancel every open order of this strategy (optionally for one instrument)."""
        for order in self.open_orders(instrument):
            self._engine.cancel_order(self.strategy_id, order)
