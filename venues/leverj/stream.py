"""Leverj's socket.io stream: the kit's :class:`~venues._common.sio_stream.SocketIoStream`.

The socket is ``ws(s)://<host>/<market>/socket.io/?EIO=3&transport=websocket``. Public events
(``orderbook``, ``trade``, ``index``, ``server_time``) come to every socket; after each connect
the stream emits ``GET /register`` (signed like a REST request, with an ack) for the private ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from venues._common.sio_stream import Handler, SocketIoStream, stream_url

from .constants import VENUE
from .parsers import F
from .schemas import loads
from .signer import js_dumps

__all__ = ["Handler", "LeverjStream", "stream_url"]


class LeverjStream(SocketIoStream):
    """One market's socket (registered for private events when ``register`` is given)."""

    venue = VENUE

    def __init__(self, url: str, *, register: Callable[[], Awaitable[dict[str, Any]]] | None = None,
                 **options: Any) -> None:
        super().__init__(url, fields=F, dumps=js_dumps, loads=loads, register=register, **options)
