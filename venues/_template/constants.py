"""The venue's fixed facts. TEMPLATE: every value here is the venue's documented one."""

from __future__ import annotations

import enum
from typing import Final

VENUE: Final = "template"
"The package's name: in events' instrument ids, errors and logs."
REST_URL: Final = "https://api.template.example"
WS_URL: Final = "wss://api.template.example/v1/stream"
"The production hosts (a config's ``base_url`` / ``ws_url`` point elsewhere, e.g. at the local testnet)."

API_KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "TEMPLATE-API-KEY", "TEMPLATE-TIMESTAMP", "TEMPLATE-SIGNATURE"
"The authentication headers' names, as the venue spells them."
TIMESTAMP_WINDOW_MS: Final = 5_000
"How far a signed request's timestamp may be from the venue's clock."


class ErrorCode(enum.IntEnum):
    """The venue's error codes that change what the client does."""

    INVALID_REQUEST = 1000
    AUTHENTICATION_FAILED = 1001
    TIMESTAMP_OUTSIDE_WINDOW = 1002
    RATE_LIMITED = 1003
