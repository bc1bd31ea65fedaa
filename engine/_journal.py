"""A durable order journal in SQLite: every order is written before it is sent.

Live runs record each order when it is created (status SUBMITTED is journaled before the command
reaches the gateway), again on every state change, and every fill booked (by venue trade id).
After a crash (``kill -9``) the next run reads it back (:meth:`OrderJournal.restore`): the orders
and fills of earlier runs are booked again without announcing them, so positions carry over and a
fill delivered again is recognised by its trade id; the orders that may still be working come back
UNKNOWN and the live runner reconciles them by query before the strategies start.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from decimal import Decimal
from typing import TYPE_CHECKING

from ._events import Fill, Liquidity, Side
from ._orders import Order, OrderStatus, OrderType, OrderUpdate, TimeInForce

if TYPE_CHECKING:
    from ._core import Engine

__all__ = ["OrderJournal"]

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
"""


class OrderJournal:
    """Append/update order rows; synchronous and durable (WAL, synchronous=FULL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def record(self, order: Order) -> None:
        self._db.execute(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(client_order_id) DO UPDATE SET status=excluded.status, "
            "venue_order_id=excluded.venue_order_id, filled_qty=excluded.filled_qty, "
            "reason=excluded.reason, ts_last=excluded.ts_last",
            (
                order.client_order_id, order.strategy_id, order.instrument.key, order.side.name,
                order.type.value, str(order.qty), None if order.price is None else str(order.price),
                None if order.trigger_price is None else str(order.trigger_price),
                order.time_in_force.value, order.status.value, order.venue_order_id,
                str(order.filled_qty), order.reason, order.ts_init, order.ts_last,
            ),
        )

    def on_update(self, update: OrderUpdate) -> None:
        """An engine order listener."""
        self.record(update.order)

    def on_fill(self, fill: Fill) -> None:
        """An engine fill listener: the fill is kept by (instrument, venue trade id)."""
        self._db.execute(
            "INSERT OR IGNORE INTO fills VALUES (?,?,?,?,?,?,?,?,?)",
            (fill.instrument.key, fill.trade_id, fill.client_order_id, str(fill.price), str(fill.qty),
             str(fill.fee), fill.fee_asset, fill.liquidity.name, fill.ts_event),
        )

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
        return reopened

    def _rows(self, sql: str) -> list[dict[str, str]]:
        cur = self._db.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def open_orders(self) -> list[dict[str, str]]:
        """Rows of orders that were not terminal when last written (to reconcile after a restart)."""
        cur = self._db.execute(
            "SELECT * FROM orders WHERE status NOT IN ('filled','canceled','rejected','expired','denied')"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def get(self, client_order_id: str) -> dict[str, str] | None:
        cur = self._db.execute("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        row = cur.fetchone()
        return None if row is None else dict(zip([d[0] for d in cur.description], row))

    def close(self) -> None:
        self._db.close()
