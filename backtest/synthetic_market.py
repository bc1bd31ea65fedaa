"""Old import path of :mod:`venues._testnet.market` (the local testnets' server kit), kept for callers outside ``venues/``.

The backtester itself never imports this module; new code imports ``venues._testnet``.
"""

from venues._testnet.market import *  # noqa: F401,F403
from venues._testnet.market import __all__ as __all__  # noqa: F401
