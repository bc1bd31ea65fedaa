"""The venue's fixed facts. TEMPLATE: every value here is the venue's documented one."""

from __future__ import annotations

import enum
from typing import Final

VENUE: Final = "template"
REST_URL: Final = "https://api.template.example"
WS_URL: Final = "wss://api.template.example/v1/stream"
API_KEY_HEADER: Final = "TEMPLATE-API-KEY"
TIMESTAMP_HEADER: Final = "TEMPLATE-TIMESTAMP"
SIGNATURE_HEADER: Final = "TEMPLATE-SIGNATURE"
TIMESTAMP_WINDOW_MS: Final = 5_000
"How far a signed request's timestamp may be from the venue's clock."


class ErrorCode(enum.IntEnum):
    """The venue's error codes that change what the client does."""

    INVALID_REQUEST = 1000
    AUTHENTICATION_FAILED = 1001
    TIMESTAMP_OUTSIDE_WINDOW = 1002
    RATE_LIMITED = 1003
