"""A seeded background market for the local testnets.

Two house accounts trade in the :class:`~backtest.exchange.Exchange`:

* a **market maker** keeps a two-sided ladder around a mid price that takes a random walk in
  whole ticks (all instruments of one base asset share the walk), re-quoting every step; when
  the mid moves through a user's resting order, the new ladder trades with it;
* a **taker** sends MARKET orders of random size and side with a given probability per step,
  so there are prints, one-minute bars and moving books.

With ``market_data`` the mid follows a recorded data set (``trades`` or ``bars`` streams of
:mod:`backtest.data`, matched to the exchange's instruments by symbol) instead of the walk, one
record per step, and recorded trades are re-sent by the taker with their size and aggressor.

Before serving, :meth:`SyntheticMarket.prime` seeds ``history_minutes`` one-minute bars ending
at the current minute so ``klines`` answers at once, and puts the first ladder up. Everything is
deterministic for a seed (``random.Random(seed)``; prices are integers of ticks, never floats).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import trio

from engine import Side
from engine import Instrument, InstrumentKind
from engine import OrderType, TimeInForce

from backtest.exchange import Account, AccountConfig, Exchange, ExchangeRejected, MINUTE_MS

__all__ = ["MarketSettings", "SyntheticMarket", "MAKER_ACCOUNT", "TAKER_ACCOUNT"]

MAKER_ACCOUNT = "synthetic-maker"
TAKER_ACCOUNT = "synthetic-taker"

_DEFAULT_MIDS = {"BTC": Decimal("30000"), "ETH": Decimal("2000")}


def _mids(value: Mapping[str, Any]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in value.items()}


@attrs.frozen
class MarketSettings:
    """How the synthetic market behaves."""

    seed: int = 0
    step_interval_s: float = 0.25
    "Period of one step (re-quote, maybe a taker trade)."
    start_mids: dict[str, Decimal] = attrs.field(factory=lambda: dict(_DEFAULT_MIDS), converter=_mids)
    "Starting mid by base asset (others start at 100)."
    max_step_bps: int = 5
    "Largest mid move per step, in basis points (rounded to whole ticks, at least one tick)."
    levels: int = 10
    "Ladder levels per side."
    spread_bps: int = 2
    "Distance of the best quotes from the mid, in basis points (at least one tick)."
    level_spacing_bps: int = 2
    "Distance between ladder levels, in basis points (at least one tick)."
    level_notional: Decimal = attrs.field(default=Decimal("20000"), converter=Decimal)
    "Quote-asset value of each ladder level."
    taker_probability: float = 0.5
    "Chance per step and instrument that the taker trades."
    taker_notional: Decimal = attrs.field(default=Decimal("2000"), converter=Decimal)
    "Largest quote-asset value of one taker order."
    history_minutes: int = 24 * 60
    "Seeded one-minute bars before the start."


class SyntheticMarket:
    """Drives an :class:`Exchange` with a house market maker and taker (see the module doc)."""

    def __init__(self, exchange: Exchange, settings: MarketSettings | None = None, *,
                 market_data: str | Path | None = None) -> None:
        self.exchange = exchange
        self.settings = settings or MarketSettings()
        self._rng = random.Random(self.settings.seed)
        self.maker = self._house(MAKER_ACCOUNT)
        self.taker = self._house(TAKER_ACCOUNT)
        bases = sorted({i.base for i in exchange.instruments.values()})
        self.mids: dict[str, Decimal] = {b: self.settings.start_mids.get(b, Decimal(100)) for b in bases}
        self.steps = 0
        self._replay: dict[str, list[tuple[Decimal, Decimal, int]]] = {}
        self._replay_pos = 0
        if market_data is not None:
            self._load_replay(Path(market_data))

    def _house(self, name: str) -> Account:
        existing = self.exchange.accounts.get(name)
        if existing is not None:
            return existing
        key = f"{name}-{self._rng.getrandbits(64):016x}"
        secret = f"{self._rng.getrandbits(128):032x}"
        return self.exchange.add_account(AccountConfig(name, key, secret, {}), house=True)

    # -- replay ----------------------------------------------------------------------------------
    def _load_replay(self, path: Path) -> None:
        from backtest.data import open_dataset

        dataset = open_dataset(path)
        by_symbol = {i.symbol: i for i in self.exchange.instruments.values()}
        for stream in dataset.streams:
            if stream.kind not in ("trades", "bars"):
                continue
            recorded = dataset.instruments[stream.instrument]
            target = by_symbol.get(recorded.symbol)
            if target is None or target.base in self._replay:
                continue
            cols = dataset.columns(stream.name)
            rows: list[tuple[Decimal, Decimal, int]] = []
            if stream.kind == "trades":
                for price, size, aggressor in zip(cols["price"], cols["size"], cols["aggressor"]):
                    rows.append((recorded.price_of(int(price)), recorded.size_of(int(size)), int(aggressor)))
            else:
                for close, volume in zip(cols["close"], cols["volume"]):
                    rows.append((recorded.price_of(int(close)), recorded.size_of(int(volume)), 0))
            if rows:
                self._replay[target.base] = rows
                self.mids[target.base] = rows[0][0]
                self._replay_pos = 1  # the first record sets the opening mid; steps continue from the next

    # -- pricing helpers ------------------------------------------------------------------------
    def _ticks(self, inst: Instrument, mid: Decimal, bps: int) -> Decimal:
        """``bps`` of ``mid`` as a whole number of ticks (at least one)."""
        raw = mid * bps / 10_000
        n = max(1, int(raw / inst.tick_size))
        return inst.tick_size * n

    def _level_qty(self, inst: Instrument, price: Decimal, notional: Decimal) -> Decimal:
        # an inverse contract is worth ``multiplier`` quote units whatever the price
        qty = inst.round_qty(notional / (inst.multiplier if inst.kind is InstrumentKind.INVERSE else price))
        return max(qty, inst.min_qty or inst.lot_size, inst.lot_size)

    # -- setup ---------------------------------------------------------------------------------------
    def prime(self) -> None:
        """Seed the bar history and put the first ladders up."""
        now = self.exchange.clock_ms()
        this_minute = now - now % MINUTE_MS
        minutes = self.settings.history_minutes
        for base, end_mid in self.mids.items():
            insts = [i for i in self.exchange.instruments.values() if i.base == base]
            if not insts:
                continue
            tick = max(i.tick_size for i in insts)
            # walk backwards from the starting mid so the history ends where the market starts
            closes = [end_mid]
            for _ in range(minutes):
                step = self._ticks(insts[0], closes[-1], self.settings.max_step_bps * 4) / tick
                closes.append(closes[-1] - tick * self._rng.randint(-int(step), int(step)))
            closes.reverse()
            prev = closes[0]
            for k, close in enumerate(closes[1:]):
                minute = this_minute - (minutes - k) * MINUTE_MS
                wiggle = tick * self._rng.randint(0, 5)
                high = max(prev, close) + wiggle
                low = max(tick, min(prev, close) - wiggle)
                volume = insts[0].lot_size * self._rng.randint(10, 1000)
                for inst in insts:
                    self.exchange.seed_bar(inst.symbol, minute, prev, high, low, close, volume)
                prev = close
        for inst in self.exchange.instruments.values():
            self._requote(inst)

    # -- running ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Step forever at the configured rate (a ``nursery.start_soon`` target)."""
        while True:
            await trio.sleep(self.settings.step_interval_s)
            self.step()

    def step(self) -> None:
        """One step: move the mids, re-quote every instrument, maybe send taker orders."""
        self.steps += 1
        recorded_trades: dict[str, tuple[Decimal, int]] = {}
        for base in self.mids:
            rows = self._replay.get(base)
            if rows:
                price, size, aggressor = rows[self._replay_pos % len(rows)]
                self.mids[base] = price
                if aggressor:
                    recorded_trades[base] = (size, aggressor)
                continue
            insts = [i for i in self.exchange.instruments.values() if i.base == base]
            if not insts:
                continue
            tick = max(i.tick_size for i in insts)
            max_ticks = int(self._ticks(insts[0], self.mids[base], self.settings.max_step_bps) / tick)
            self.mids[base] = max(tick, self.mids[base] + tick * self._rng.randint(-max_ticks, max_ticks))
        self._replay_pos += 1
        for inst in self.exchange.instruments.values():
            self._requote(inst)
            recorded = recorded_trades.get(inst.base)
            if recorded is not None:
                size, aggressor = recorded
                self._take(inst, Side.BUY if aggressor > 0 else Side.SELL, inst.round_qty(size))
            elif not self._replay and self._rng.random() < self.settings.taker_probability:
                side = Side.BUY if self._rng.random() < 0.5 else Side.SELL
                notional = self.settings.taker_notional * Decimal(self._rng.randint(1, 100)) / 100
                self._take(inst, side, self._level_qty(inst, self.mids[inst.base], notional))

    def trade(self, symbol: str, side: Side, qty: Decimal) -> None:
        """Send one taker MARKET order now (a print at the touch of the other side)."""
        self._take(self.exchange.instrument(symbol), side, qty)

    def _take(self, inst: Instrument, side: Side, qty: Decimal) -> None:
        if qty <= 0:
            return
        try:
            self.exchange.submit_order(self.taker, inst.symbol, side, OrderType.MARKET, qty,
                                       time_in_force=TimeInForce.IOC)
        except ExchangeRejected:
            pass  # e.g. below the minimum notional: skip this print

    def _requote(self, inst: Instrument) -> None:
        ex = self.exchange
        for order in ex.open_orders(self.maker, inst.symbol):
            ex.cancel_order(self.maker, order.order_id)
        mid = inst.round_price(self.mids[inst.base])
        s = self.settings
        half = self._ticks(inst, mid, s.spread_bps)
        spacing = self._ticks(inst, mid, s.level_spacing_bps)
        for i in range(s.levels):
            for side in (Side.BUY, Side.SELL):
                price = mid - half - spacing * i if side is Side.BUY else mid + half + spacing * i
                if price <= 0:
                    continue
                qty = self._level_qty(inst, price, s.level_notional / s.levels)
                try:
                    ex.submit_order(self.maker, inst.symbol, side, OrderType.LIMIT, qty, price=price)
                except ExchangeRejected:
                    pass
