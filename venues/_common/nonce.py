"""A millisecond nonce (a "tonce") strictly increasing per key, across restarts too.

For venues that refuse a nonce they have seen (or one not above the last). Each nonce is
``max(venue clock now, last + 1)``. To survive a restart without writing a file on every
request, the source reserves a block ahead: it persists a floor ``reserve_ms`` above the nonce it
hands out whenever it passes the floor, and a restarted source starts above the persisted floor.
So no nonce repeats, and a restart moves the nonce at most ``reserve_ms`` ahead of the clock.

The floor lives in ``$TRIOTRADE_CACHE_DIR/<venue>/nonce-<key hash>`` by default
(:func:`default_nonce_file`; the key itself is never written).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["NonceSource", "default_nonce_file"]


def default_nonce_file(venue: str, api_key: str) -> Path:
    """Where the floor of ``api_key``'s nonces on ``venue`` is kept (a hash of the key names the file)."""
    configured = os.environ.get("TRIOTRADE_CACHE_DIR")
    if configured:
        root = Path(configured)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "triotrade"
    digest = hashlib.sha256(api_key.encode()).hexdigest()[:24]
    return root / venue / f"nonce-{digest}"


class NonceSource:
    """Hands out strictly increasing nonces; ``path=None`` keeps them increasing in this process only."""

    def __init__(self, now_ms: Callable[[], int], path: Path | None = None, *, reserve_ms: int = 10_000) -> None:
        self._now_ms = now_ms
        self.path = path
        self.reserve_ms = reserve_ms
        self.last = 0
        "The last nonce handed out (or the persisted floor at start)."
        self._floor = 0
        if path is not None:
            try:
                self.last = self._floor = int(path.read_text().strip() or 0)
            except FileNotFoundError:
                pass
            except (OSError, ValueError):
                self.last = self._floor = 0  # unreadable: the clock alone; a venue refuses a repeat once

    def next(self) -> int:
        """The next nonce (persisting a new floor first when this one reaches the old)."""
        nonce = max(self._now_ms(), self.last + 1)
        if self.path is not None and nonce >= self._floor:
            self._persist(nonce + self.reserve_ms)
        self.last = nonce
        return nonce

    def _persist(self, floor: int) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(str(floor))
            os.replace(tmp, self.path)
            self._floor = floor
        except OSError:
            self._floor = floor  # not persisted: nonces still increase in this process
