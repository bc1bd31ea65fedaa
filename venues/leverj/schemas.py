"""Leverj's wire format: JSON in and out, and the instrument and asset tables as ``all/config``
writes them (the local testnet serves these; the client reads whatever the venue serves).

Field names stay as they are on the wire. Incoming JSON is bounded and its non-integer numbers
are exact :class:`~decimal.Decimal`; outgoing bodies are JS ``JSON.stringify`` text
(:func:`venues.leverj.signer.js_dumps`), because the venue recomputes hashes and ``SIGN``
messages from the numbers it parsed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from engine import loads_json

from .constants import ETH_ADDRESS
from .signer import js_dumps

__all__ = ["loads", "loads_exact", "dumps", "ASSETS", "SPOT_INSTRUMENTS", "FUTURES_INSTRUMENTS", "FEES"]


def loads(data: str | bytes) -> Any:
    """Bounded JSON (depth, number length; no NaN; duplicate keys refused); a non-integer number
    is its exact text (a ``str``, what the field readers take)."""
    return loads_json(data, reject_duplicate_keys=True)


def loads_exact(data: str | bytes) -> Any:
    """As :func:`loads`, but a non-integer number is a :class:`~decimal.Decimal`, told apart from a
    string: what the verifier needs to rebuild order hashes and ``SIGN`` messages."""
    return loads_json(data, reject_duplicate_keys=True, parse_float=Decimal)


def dumps(value: Any) -> bytes:
    """A request body as ``JSON.stringify`` writes it (what is signed is what is sent)."""
    return js_dumps(value).encode("utf-8")


def _asset(name: str, symbol: str, address: str, decimals: int) -> dict[str, Any]:
    return {"name": name, "address": address, "symbol": symbol, "decimals": decimals}


ASSETS: Final[dict[str, dict[str, Any]]] = {
    "ETH": _asset("Ether", "ETH", ETH_ADDRESS, 18),
    "DAI": _asset("Dai Stablecoin", "DAI", "0x6B175474E89094C44Da98b954EedeAC495271d0F", 18),
    "L2": _asset("L2", "L2", "0xBbff34E47E559ef680067a6B1c980639EEb64D24", 18),
    "USDT": _asset("Tether USD", "USDT", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
}
"The assets of the default instruments (the real mainnet addresses and decimals)."


def _spot(base: str, quote: str, base_digits: int, quote_digits: int) -> dict[str, Any]:
    symbol = base + quote
    return {"id": symbol, "symbol": symbol, "name": f"{base}/{quote}", "status": "active",
            "ticksize": quote_digits, "ticksperpoint": 10**quote_digits, "baseSignificantDigits": base_digits,
            "quoteSignificantDigits": quote_digits, "base": ASSETS[base], "quote": ASSETS[quote],
            "convertSymbol": quote}


def _perpetual(id: str, base: str, tick: str, quote_digits: int, base_digits: int, max_leverage: int) -> dict[str, Any]:
    return {"id": id, "symbol": f"{base}USD", "name": f"{base} perpetual swap", "status": "active",
            "tickSize": Decimal(tick), "quoteSignificantDigits": quote_digits, "baseSignificantDigits": base_digits,
            "baseSymbol": base, "quoteSymbol": "DAI", "maxLeverage": max_leverage, "topic": f"index_{base}USD",
            "quote": ASSETS["DAI"]}


SPOT_INSTRUMENTS: Final = [_spot("ETH", "DAI", 4, 2), _spot("L2", "ETH", 1, 6)]
"Spot ``ETHDAI`` and ``L2ETH`` (``id == symbol``)."
FUTURES_INSTRUMENTS: Final = [_perpetual("1", "BTC", "1", 0, 4, 100), _perpetual("2", "ETH", "0.1", 1, 2, 50)]
"Futures ``1`` BTCUSD and ``2`` ETHUSD, linear perpetuals margined in DAI."
FEES: Final = {"spot": {"maker": 0, "taker": 0}, "futures": {"maker": 0, "taker": 5}}
"Fees in basis points (``factor`` 10000), as the venue's documents give them."
