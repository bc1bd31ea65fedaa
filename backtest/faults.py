"""Old import path of :mod:`venues._testnet.faults` (the local testnets' server kit), kept for callers outside ``venues/``.

The backtester itself never imports this module; new code imports ``venues._testnet``.
"""

from venues._testnet.faults import *  # noqa: F401,F403
from venues._testnet.faults import __all__ as __all__  # noqa: F401
