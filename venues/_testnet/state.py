"""``--state FILE``: a testnet's ledger kept across a stop and a start, so a venue restart can be drilled.

The file holds the :class:`backtest.exchange.Ledger` of the trading accounts: balances (total and
locked), every order (open ones go back into the book at start), fills, positions, position
history, and the trade/execution counters and id generator state, so ids never repeat; and,
under ``"dialect"``, what a venue's dialect keeps beside the exchange (a broker book of its own,
its id counters, the request nonces it has seen: see :class:`DialectState`). It holds no
credentials: the accounts (and their keys) still come from ``--accounts``, and an
account the file names but the accounts file lacks is a config error.

When it is written: at most every ``interval_s`` (0.25 s by default) while the ledger changed,
and once more when the testnet stops (SIGINT/SIGTERM or cancellation). Each write goes to a
temporary file in the same folder, is flushed to disk and then renamed over the old file, so a
crash (even ``kill -9``) leaves the previous or the new ledger, never a torn one; a ``kill -9``
loses at most the last ``interval_s`` of changes.

JSON with exact decimals (numbers as strings), enums by name.
"""

from __future__ import annotations

import enum
import os
import random
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import trio

from backtest.exchange import (
    Account,
    Balance,
    Exchange,
    ExchangeOrder,
    Ledger,
    OrderFill,
    Position,
    PositionExecution,
)
from engine import ConfigError, WireFormatError, loads_json

from .server import dumps_json

__all__ = ["StateFile", "STATE_FORMAT", "DialectState", "encode_record", "decode_record"]

STATE_FORMAT = 1
"Version of the file's layout."

_RECORDS: dict[str, type[Any]] = {"orders": ExchangeOrder, "fills": OrderFill, "positions": Position,
                                  "history": PositionExecution}


def _encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _record(obj: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {f.name: _encode(getattr(obj, f.name)) for f in attrs.fields(type(obj)) if f.name not in skip}


def _decode(kind: Any, raw: Any) -> Any:
    """``raw`` (from JSON) as a value of the annotated type ``kind``."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return _decode(inner, raw)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind[raw]
    if kind is Decimal:
        if not isinstance(raw, str):
            raise ValueError(f"expected a decimal string, got {raw!r}")
        return Decimal(raw)
    if kind in (int, str, bool) and not isinstance(raw, kind):
        raise ValueError(f"expected {kind.__name__}, got {raw!r}")
    return raw


def _build(cls: type[Any], raw: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name not in raw:
            continue
        if field.name == "fills":  # an order's fills are re-linked from the fill list
            continue
        values[field.name] = _decode(hints[field.name], raw[field.name])
    return cls(**values)


class DialectState(typing.Protocol):
    """What a dialect keeps beside the exchange's ledger, saved and restored with it."""

    def dump_dialect_state(self) -> Any:
        """A JSON-ready value (exact decimals as strings) of the dialect's own state, or None."""

    def load_dialect_state(self, raw: Any) -> None:
        """Take back what :meth:`dump_dialect_state` gave (a ValueError if it is not that)."""


def encode_record(obj: Any) -> dict[str, Any]:
    """An attrs record as JSON-ready fields (decimals as strings, enums by name)."""
    return _record(obj)


def decode_record(cls: type[Any], raw: Any) -> Any:
    """An attrs record of ``cls`` back from :func:`encode_record`'s fields (ValueError if malformed)."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {raw!r}")
    try:
        return _build(cls, raw)
    except (KeyError, TypeError, ArithmeticError, AttributeError) as e:
        raise ValueError(f"malformed {cls.__name__}: {type(e).__name__}: {e}") from None


def encode_ledger(ledger: Ledger, dialect: Any = None) -> str:
    """The state file's text for ``ledger`` (and a dialect's own state, if any)."""
    return dumps_json({
        "format": STATE_FORMAT,
        "accounts": [{"name": a.name, "balances": {asset: {"total": str(b.total), "locked": str(b.locked)}
                                                   for asset, b in a.balances.items()}} for a in ledger.accounts],
        # an order's fills are the fill list's; its book id is the matching engine's, new at restore
        "orders": [_record(o, frozenset({"fills", "book_id"})) for o in ledger.orders],
        "fills": [_record(f) for f in ledger.fills],
        "positions": [_record(p) for p in ledger.positions],
        "history": [_record(e) for e in ledger.history],
        "next_trade_id": ledger.next_trade_id,
        "next_exec_id": ledger.next_exec_id,
        "id_state": _encode_id_state(ledger.id_state),
        **({} if dialect is None else {"dialect": dialect}),
    })


def _encode_id_state(state: Any) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), None if gauss is None else repr(gauss)]


def decode_ledger(text: str | bytes) -> Ledger:
    """A :class:`Ledger` from the state file's text; ValueError (with what is wrong) if it is not one."""
    return _decode_state(text)[0]


def _decode_state(text: str | bytes) -> tuple[Ledger, Any]:
    """The ledger and the dialect's state (None if the file holds none)."""
    try:
        raw = loads_json(text, reject_duplicate_keys=True)
    except WireFormatError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(raw, dict) or raw.get("format") != STATE_FORMAT:
        raise ValueError(f"not a testnet state file of format {STATE_FORMAT}")
    return _ledger_of(raw), raw.get("dialect")


def _ledger_of(raw: dict[str, Any]) -> Ledger:
    try:
        accounts = [Account(a["name"], "", "", balances={asset: Balance(Decimal(b["total"]), Decimal(b["locked"]))
                                                        for asset, b in a["balances"].items()})
                    for a in raw["accounts"]]
        records = {name: [_build(cls, item) for item in raw[name]] for name, cls in _RECORDS.items()}
        version, internal, gauss = raw["id_state"]
        id_state = (int(version), tuple(int(x) for x in internal), None if gauss is None else float(gauss))
        random.Random().setstate(id_state)  # refuses a malformed state
        return Ledger(accounts=accounts, orders=records["orders"], fills=records["fills"],
                      positions=records["positions"], history=records["history"],
                      next_trade_id=int(raw["next_trade_id"]), next_exec_id=int(raw["next_exec_id"]),
                      id_state=id_state)
    except (KeyError, TypeError, ArithmeticError, AttributeError) as e:
        raise ValueError(f"malformed testnet state: {type(e).__name__}: {e}") from None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a temporary file beside it, flushed to disk, then renamed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class StateFile:
    """The ``--state`` file of one testnet: read at start, written while it runs and at stop."""

    def __init__(self, path: Path, exchange: Exchange, *, interval_s: float = 0.25,
                 dialect: DialectState | None = None) -> None:
        self.path = path
        self.exchange = exchange
        self.dialect = dialect
        "Saved and restored with the ledger, if given."
        self.interval_s = interval_s
        self.writes = 0
        "How many times the file was written."
        self._last = ""

    def load(self) -> bool:
        """Restore the exchange from the file if it exists (True); a bad file is a :class:`ConfigError`."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as e:
            raise ConfigError(f"cannot read the testnet state {self.path}: {e.strerror}") from None
        try:
            ledger, dialect = _decode_state(text)
            self.exchange.restore(ledger)
            if self.dialect is not None and dialect is not None:
                self.dialect.load_dialect_state(dialect)
        except ValueError as e:
            raise ConfigError(f"{self.path}: {e}") from None
        self._last = self._text()
        return True

    def _text(self) -> str:
        dialect = None if self.dialect is None else self.dialect.dump_dialect_state()
        return encode_ledger(self.exchange.ledger(), dialect)

    def _changed(self) -> str | None:
        text = self._text()
        return None if text == self._last else text

    def _written(self, text: str) -> None:
        self._last = text
        self.writes += 1

    def save(self) -> bool:
        """Write the ledger now if it changed since the last write; True if it wrote."""
        text = self._changed()
        if text is None:
            return False
        write_atomically(self.path, text)
        self._written(text)
        return True

    async def run(self) -> None:
        """Write every ``interval_s`` while the ledger changes, and once more when cancelled.

        The snapshot is taken on the trio thread (consistent); the disk write runs in a worker
        thread so the event loop never waits for ``fsync``.
        """
        try:
            while True:
                await trio.sleep(self.interval_s)
                text = self._changed()
                if text is not None:
                    await trio.to_thread.run_sync(write_atomically, self.path, text)
                    self._written(text)
        finally:
            self.save()
