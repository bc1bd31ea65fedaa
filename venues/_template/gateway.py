"""The venue's config (TEMPLATE: and its gateway, see ``venues/ekiden/gateway.py``)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from venues._common.config import VenueConfig, positive, url

from .constants import REST_URL, VENUE, WS_URL

__all__ = ["TemplateConfig"]


@attrs.frozen
class TemplateConfig(VenueConfig):
    """Settings of one connection (``TemplateConfig.from_toml(path)``); credentials from the
    :class:`~venues._common.VenueConfig` fields, never shown."""

    venue: ClassVar[str] = VENUE

    base_url: str = attrs.field(default=REST_URL, validator=url("http", "https"))
    "REST host: the venue or a local testnet (``http://127.0.0.1:PORT``)."
    ws_url: str = attrs.field(default=WS_URL, validator=url("ws", "wss"))
    "WebSocket endpoint."
    http_timeout_s: float = attrs.field(default=10.0, validator=positive)
    "Timeout of one REST request."
    ping_interval_s: float = attrs.field(default=20.0, validator=positive)
    "WebSocket ping period."
