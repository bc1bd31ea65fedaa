"""A durable order journal in SQLite: every order is written before it is sent.

Live runs record each order when it is created (status SUBMITTED is journaled before the command
reaches the gateway) and again on every state change. After a crash the journal says which orders
may be working at the venue; the live runner reconciles them by query on start.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ._orders import Order, OrderUpdate

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
