"""Coinpit's socket.io stream: the kit's :class:`~venues._common.sio_stream.SocketIoStream`.

The socket is ``ws(s)://<origin>/socket.io/?EIO=3&transport=websocket`` (the origin's default
path). Public events (``trade``, ``orderbook``, ``priceband``, ``server_time``, ``alias``) come to
every socket; after each connect the stream emits ``GET /register`` (``{userid, publicKey}``,
signed over ``{body, params}``) for the private ones (``order_update``, ``order_del``,
``order_execution``, ``account``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from venues._common.jsjson import js_dumps
from venues._common.sio_stream import SocketIoStream

from .constants import VENUE
from .parsers import F, loads

__all__ = ["CoinpitStream"]


class CoinpitStream(SocketIoStream):
    """The venue's socket (registered for private events when ``register`` is given)."""

    venue = VENUE

    def __init__(self, url: str, *, register: Callable[[], Awaitable[dict[str, Any]]] | None = None,
                 **options: Any) -> None:
        super().__init__(url, fields=F, dumps=js_dumps, loads=loads, register=register, **options)
