"""A durable order journal in SQLite: every order is written before it is sent.

Live runs record each order when it is created (status SUBMITTED), again on every state change,
every fill booked (by venue trade id) and every funding payment booked (by venue payment id). The
writes happen off the event loop: the engine's listeners only queue a row
(:meth:`OrderJournal.on_update`, :meth:`OrderJournal.on_fill`, :meth:`OrderJournal.on_funding`); one
writer thread at a time (``trio.to_thread`` with a limiter of 1) commits everything queued so far
in one transaction (group commit, WAL, ``synchronous=FULL``). The live runner awaits
:meth:`OrderJournal.flush` before a command leaves the process, so the command is durable before
it is sent, and runs :meth:`OrderJournal.run` so venue answers and fills are committed soon after
they are booked. A slow disk delays commands (never other tasks: market data, timers, strategies).

After a crash (``kill -9``) the next run reads it back (:meth:`OrderJournal.restore`): the orders
and fills of earlier runs are booked again without announcing them, so positions carry over and a
fill delivered again is recognised by its trade id; the orders that may still be working come back
UNKNOWN and the live runner reconciles them by query before the strategies start.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from ._events import Fill, FundingPayment, Liquidity, Side
from ._orders import Order, OrderStatus, OrderType, OrderUpdate, TimeInForce

if TYPE_CHECKING:
    from ._core import Engine

__all__ = ["OrderJournal", "JournalFailed"]

log = logging.getLogger("triotrade.journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id TEXT PRIMARY KEY,
    strategy_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT,
    trigger_price TEXT,
    time_in_force TEXT NOT NULL,
    status TEXT NOT NULL,
    venue_order_id TEXT NOT NULL,
    filled_qty TEXT NOT NULL,
    reason TEXT NOT NULL,
    ts_init INTEGER NOT NULL,
    ts_last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    instrument TEXT NOT NULL,
    trade_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    price TEXT NOT NULL,
    qty TEXT NOT NULL,
    fee TEXT NOT NULL,
    fee_asset TEXT NOT NULL,
    liquidity TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (instrument, trade_id)
);
CREATE TABLE IF NOT EXISTS funding (
    instrument TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    asset TEXT NOT NULL,
    amount TEXT NOT NULL,
    position_qty TEXT NOT NULL,
    price TEXT NOT NULL,
    rate TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (instrument, payment_id)
);
"""


_UPSERT_ORDER = (
    "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT(client_order_id) DO UPDATE SET status=excluded.status, "
    "venue_order_id=excluded.venue_order_id, filled_qty=excluded.filled_qty, "
    "reason=excluded.reason, ts_last=excluded.ts_last"
)
_INSERT_FILL = "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?)"
_INSERT_FUNDING = "INSERT OR IGNORE INTO funding VALUES (?,?,?,?,?,?,?,?)"

Row = tuple[str, tuple[Any, ...]]
"A queued write: the statement and its parameters."


class JournalFailed(OSError):
    """The journal could not commit: what was queued is not durable (a command waiting for it is not sent)."""


class OrderJournal:
    """Order and fill rows, queued on the event loop and committed by a writer thread (WAL, synchronous=FULL).

    Without a running event loop (scripts, tests) :meth:`commit` writes the queue in the calling
    thread; :meth:`close` always commits what is still queued. ``in_thread=False`` commits on the
    event loop itself (for tests on trio's MockClock, whose autojump would run ahead while a
    thread writes).
    """

    def __init__(self, path: str | Path, *, in_thread: bool = True) -> None:
        self._in_thread = in_thread
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._db_lock = threading.Lock()
        "One statement sequence at a time on the connection (the writer thread, restore, close)."
        self._queue: list[Row] = []
        self._queued = 0
        "Rows queued since the journal was opened (the sequence number of the last one)."
        self._durable = 0
        "Rows committed (a prefix of the queue's sequence)."
        self._limiter = trio.CapacityLimiter(1)
        self._committing: trio.Event | None = None
        self._wakeup: trio.Event | None = None
        self.commits = 0
        "Transactions committed (each one fsync), for the figures: rows per commit is the batching."

    # -- queueing (on the event loop, never blocks) ------------------------------------------
    def record(self, order: Order) -> None:
        """Queue ``order``'s row (insert or update)."""
        self._push(_UPSERT_ORDER, (
            order.client_order_id, order.strategy_id, order.instrument.key, order.side.name,
            order.type.value, str(order.qty), None if order.price is None else str(order.price),
            None if order.trigger_price is None else str(order.trigger_price),
            order.time_in_force.value, order.status.value, order.venue_order_id,
            str(order.filled_qty), order.reason, order.ts_init, order.ts_last,
        ))

    def on_update(self, update: OrderUpdate) -> None:
        """An engine order listener."""
        self.record(update.order)

    def on_fill(self, fill: Fill) -> None:
        """An engine fill listener: the fill is kept by (instrument, venue trade id)."""
        self._push(_INSERT_FILL, (fill.instrument.key, fill.trade_id, fill.client_order_id, str(fill.price),
                                  str(fill.qty), str(fill.fee), fill.fee_asset, fill.liquidity.name, fill.ts_event))

    def on_funding(self, payment: FundingPayment) -> None:
        """An engine funding listener: the payment is kept by (instrument, venue payment id)."""
        self._push(_INSERT_FUNDING, (payment.instrument.key, payment.payment_id, payment.asset, str(payment.amount),
                                     str(payment.position_qty), str(payment.price), str(payment.rate),
                                     payment.ts_event))

    def _push(self, sql: str, params: tuple[Any, ...]) -> None:
        self._queue.append((sql, params))
        self._queued += 1
        if self._wakeup is not None:
            self._wakeup.set()

    @property
    def pending(self) -> int:
        """Rows queued and not committed yet."""
        return self._queued - self._durable

    # -- committing -------------------------------------------------------------------------
    async def flush(self) -> None:
        """Return once every row queued before the call is committed (the write-before-send point).

        Calls that overlap share one commit (group commit); the commit runs in a worker thread, so
        the event loop goes on meanwhile. Raises :class:`JournalFailed` if the disk refused it.
        """
        target = self._queued
        while self._durable < target:
            if self._committing is not None:
                await self._committing.wait()
                continue
            self._committing = done = trio.Event()
            batch, self._queue = self._queue, []
            upto = self._queued
            try:
                if self._in_thread:
                    await trio.to_thread.run_sync(self._write, batch, limiter=self._limiter)
                else:
                    self._write(batch)
                    await trio.lowlevel.checkpoint()
            except BaseException:
                self._queue[:0] = batch  # not durable: written again with the next commit
                raise
            finally:
                self._committing = None
                done.set()
            self._durable = upto

    async def run(self) -> None:
        """Commit rows soon after they are queued (venue answers and fills that no command waits
        for); run it in the live runner's nursery. Never returns."""
        while True:
            if not self.pending:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
                self._wakeup = None
            try:
                await self.flush()
            except JournalFailed as exc:  # the next command's flush raises it where it matters
                log.error("%s", exc)
                await trio.sleep(1.0)

    def commit(self) -> None:
        """Commit the queue in the calling thread (no event loop needed)."""
        batch, self._queue = self._queue, []
        upto = self._queued
        self._write(batch)
        self._durable = upto

    def _write(self, batch: Sequence[Row]) -> None:
        """One transaction for ``batch`` (runs in the writer thread)."""
        if not batch:
            return
        with self._db_lock:
            try:
                self._db.execute("BEGIN")
                for sql, params in batch:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise JournalFailed(f"order journal {self.path}: {exc}") from None
            self.commits += 1

    def restore(self, engine: Engine) -> list[Order]:
        """Book the journaled orders and fills into ``engine`` (instruments loaded, strategies not started).

        Orders and fills of instruments the engine does not list are skipped. Returns the orders
        that were open when last written, now UNKNOWN: the caller reconciles them with the venue.
        """
        orders: dict[str, Order] = {}
        reopened: list[Order] = []
        for row in self._rows("SELECT * FROM orders ORDER BY ts_init"):
            inst = engine.instruments.get(row["instrument"])
            if inst is None:
                continue
            order = Order(row["client_order_id"], inst, Side[row["side"]], OrderType(row["type"]),
                          inst.size_raw(Decimal(row["qty"])),
                          price_raw=None if row["price"] is None else inst.price_raw(Decimal(row["price"])),
                          trigger_raw=(None if row["trigger_price"] is None
                                       else inst.price_raw(Decimal(row["trigger_price"]))),
                          time_in_force=TimeInForce(row["time_in_force"]), strategy_id=row["strategy_id"],
                          ts_init=int(row["ts_init"]))
            order.venue_order_id = row["venue_order_id"]
            order.reason = row["reason"]
            order.ts_last = int(row["ts_last"])
            status = OrderStatus(row["status"])
            order.status = status if status.is_terminal else OrderStatus.UNKNOWN
            orders[order.client_order_id] = order
            engine.restore_order(order)
            if order.is_open:
                reopened.append(order)
        for row in self._rows("SELECT * FROM fills ORDER BY ts"):
            owner = orders.get(row["client_order_id"])
            if owner is None:
                continue
            inst = owner.instrument
            engine.restore_fill(owner, int(row["ts"]), inst.price_raw(Decimal(row["price"])),
                                inst.size_raw(Decimal(row["qty"])), Liquidity[row["liquidity"]],
                                Decimal(row["fee"]), row["trade_id"], row["fee_asset"])
        for row in self._rows("SELECT * FROM funding ORDER BY ts"):
            inst = engine.instruments.get(row["instrument"])
            if inst is None:
                continue
            ts = int(row["ts"])
            engine.restore_funding(FundingPayment(inst, ts, ts, row["payment_id"], row["asset"], Decimal(row["amount"]),
                                                  Decimal(row["position_qty"]), Decimal(row["price"]),
                                                  Decimal(row["rate"])))
        return reopened

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, str]]:
        with self._db_lock:
            cur = self._db.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def open_orders(self) -> list[dict[str, str]]:
        """Rows of orders that were not terminal when last committed (to reconcile after a restart)."""
        return self._rows("SELECT * FROM orders WHERE status NOT IN ('filled','canceled','rejected','expired','denied')")

    def get(self, client_order_id: str) -> dict[str, str] | None:
        """The committed row of ``client_order_id`` (None: none)."""
        rows = self._rows("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return rows[0] if rows else None

    def close(self) -> None:
        """Commit what is still queued, then close the database."""
        try:
            self.commit()
        finally:
            with self._db_lock:
                self._db.close()
