"""Record a gateway's market data into the backtester's data format, as it arrives.

Events are appended in chunks (:class:`~backtest.data.StreamAppender`), so a recording killed
half-way leaves a readable data set of what was flushed; :meth:`Recorder.close` finalizes it.
The recorded ``ts_recv`` is the local receive time the gateway stamped, so a replay sees the data
in the order (and with the delays) it really arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import EventLanes
from engine import Bar, BookDelta, BookSnapshot, Quote, Trade
from engine import Instrument

from .data import DatasetWriter, StreamAppender

__all__ = ["Recorder"]

_KIND = {Trade: "trades", Quote: "quotes", Bar: "bars", BookSnapshot: "book", BookDelta: "book"}


class Recorder:
    """Owns an :class:`~engine._channels.EventLanes` sink; :meth:`run` writes what arrives."""

    def __init__(self, out: str | Path, *, chunk_rows: int = 65_536) -> None:
        self.lanes = EventLanes(conflate_above=10**9)  # never conflate: a recording keeps everything
        self.writer = DatasetWriter(out)
        self._appenders: dict[tuple[str, str], StreamAppender] = {}
        self._chunk_rows = chunk_rows
        self._instruments: set[str] = set()
        self._book_synced: set[str] = set()

    def add_instrument(self, instrument: Instrument) -> None:
        if instrument.key not in self._instruments:
            self._instruments.add(instrument.key)
            self.writer.add_instrument(instrument)

    def _appender(self, kind: str, event: Any) -> StreamAppender:
        inst: Instrument = event.instrument
        key = (kind, inst.key)
        app = self._appenders.get(key)
        if app is None:
            self.add_instrument(inst)
            kw: dict[str, Any] = {"chunk_rows": self._chunk_rows}
            if kind == "bars":
                kw["interval_ns"] = event.interval_ns
            app = self._appenders[key] = self.writer.appender(kind, inst, **kw)
        return app

    def write(self, event: Any) -> None:
        kind = _KIND.get(type(event))
        if kind is None or event.instrument.key not in self._instruments:
            return
        if kind == "book":
            # a recording must start from a full book so that it replays on its own
            if isinstance(event, BookSnapshot):
                self._book_synced.add(event.instrument.key)
            elif event.instrument.key not in self._book_synced:
                return
        self._appender(kind, event).append_event(event)

    async def run(self) -> None:
        while True:
            self.write(await self.lanes.receive())

    def rows(self) -> dict[str, int]:
        return {app.info.name: app.info.rows + app.buffered_rows for app in self._appenders.values()}

    def close(self) -> None:
        while (event := self.lanes.receive_nowait()) is not None:
            self.write(event)
        for app in self._appenders.values():
            app.finalize()
