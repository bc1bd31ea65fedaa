"""The client-side venue kit: what every venue package's client builds on.

Layers, bottom up: :mod:`.fields` (decoding one field of a venue message into an exact value or a
:class:`~engine.MalformedMessage` naming the venue, the message and the field) →
:mod:`.credentials` (the one credentials type and the signer protocol) → :mod:`.config` (the
base of every venue config: credentials from the config or the environment, shared validators)
→ :mod:`.websocket` (the reconnecting WebSocket a venue's stream subclasses with its frame codec)
→ :mod:`.rest` (the REST steps' order, the transport seam, wire-failure mapping, one re-sign after
a clock rejection) with :mod:`.http11` (the lean HTTP/1.1 keep-alive lane, one of the transports)
and :mod:`.errors` (the answer → error rules a venue declares as data)
→ :mod:`.poller` (the adaptive REST poller, for what a venue has no private stream for)
→ :mod:`.package` (a venue package's uniform interface, built from its parts).

A venue package keeps only its dialect: wire names, signing recipe, endpoints and mapping rules.
"""

from .config import VenueConfig as VenueConfig
from .config import non_negative as non_negative
from .config import positive as positive
from .config import url as url
from .credentials import Credentials as Credentials
from .credentials import Signer as Signer
from .fields import FieldReader as FieldReader
from .poller import AdaptivePoller as AdaptivePoller
from .poller import Wakeup as Wakeup
from .websocket import ConnectionLost as ConnectionLost
from .websocket import ReconnectingWebSocket as ReconnectingWebSocket

__all__ = ["AdaptivePoller", "ConnectionLost", "Credentials", "FieldReader", "ReconnectingWebSocket", "Signer", "VenueConfig",
           "Wakeup", "non_negative", "positive", "url"]
