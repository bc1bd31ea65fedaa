"""The venues the gateway conformance suite runs against: one :class:`VenueAdapter` entry each.

An entry says how to build the venue's local testnet (an exchange, its dialect object, the ASGI
app), how to point the venue's gateway at it for an account, which market to trade and with
what size, which faults the testnet can inject, and where its balances and order-create requests
go (for the malformed-answer tests). Everything else the suite learns from the gateway itself
(``capabilities``). A later venue joins by adding one entry to :data:`VENUES`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from backtest.exchange import Exchange, load_accounts
from venues._testnet.faults import FaultSettings
from engine import Gateway

__all__ = ["FAULTS", "VenueAdapter", "VENUES", "by_name"]

FAULTS = frozenset({"5xx_after_order", "429", "ws_drop", "clock_offset", "latency"})
"The faults of :class:`venues._testnet.faults.FaultSettings` the suite exercises."


@attrs.frozen
class VenueAdapter:
    """How the conformance suite drives one venue."""

    name: str
    "Venue name (``Gateway.venue``, the instrument keys' prefix)."
    symbol: str
    "The market the suite trades (a leveraged one when the venue has positions)."
    order_qty: Decimal
    "A size that passes the market's lot, minimum and notional rules at the prices used."
    build_testnet: Callable[[str, FaultSettings], Any]
    "``(accounts file, faults) -> testnet object`` with ``.exchange``, ``.faults``, ``.app``, ``.url``, ``.ws_url``."
    ws_path: str
    "The WebSocket path (``ws_url`` = ``ws://host:port`` + this)."
    make_gateway: Callable[[Any, str, str, dict[str, Any]], Gateway]
    "``(testnet, api_key, secret, overrides) -> gateway`` pointed at the testnet."
    api_keys: dict[str, tuple[str, str]]
    "Account name → (api key, secret) as written in the suite's accounts file."
    faults: frozenset[str] = FAULTS
    "Which of :data:`FAULTS` the venue's testnet implements."
    positions: bool = True
    "The traded market keeps positions (``Gateway.positions`` reports them)."
    balances_route: tuple[str, str] = ("GET", "")
    "Method and path of the balances request (a garbled answer must be MalformedMessage)."
    create_route: tuple[str, str] = ("POST", "")
    "Method and path of the order-create request (a garbled answer must be OutcomeUnknown)."
    bad_frames: tuple[str, ...] = ()
    "Venue-shaped WebSocket frames with a bad field (each must be reported as malformed and skipped)."
    malformed_count: Callable[[Gateway], int] = attrs.field(default=lambda gateway: gateway.statistics().malformed)
    "How many venue messages the gateway reported as malformed so far (default: ``statistics().malformed``)."
    xfail: dict[str, str] = attrs.Factory(dict)
    "Test name → reason, for known venue bugs (marked ``xfail(strict=True)``)."
    skip: dict[str, str] = attrs.Factory(dict)
    "Test name → reason, for what the venue cannot do at all (its capability map; the test is skipped)."


ACCOUNTS_TOML = """
[[accounts]]
name = "alice"
api_key = "alice-api-key-0001"
secret = "alice-secret-0001"
balances = { USD = "100000", BTC = "2", ETH = "10" }

[[accounts]]
name = "bob"
api_key = "bob-api-key-0002"
secret = "bob-secret-0002"
balances = { USD = "50000", BTC = "2", ETH = "20" }
"""
"The accounts file every venue's testnet is started with (same layout for all venues)."

KEYS = {"alice": ("alice-api-key-0001", "alice-secret-0001"), "bob": ("bob-api-key-0002", "bob-secret-0002")}


# ---------------------------------------------------------------------------------------------
# Ekiden
# ---------------------------------------------------------------------------------------------


def _ekiden_testnet(accounts: str, faults: FaultSettings) -> Any:
    from venues.ekiden.testnet import EkidenTestnet, EkidenTestnetOptions, default_instruments

    exchange = Exchange(default_instruments(), load_accounts(accounts), seed=7)
    options = EkidenTestnetOptions(public_requests_per_window=100_000, private_requests_per_window=100_000)
    return EkidenTestnet(exchange, faults=faults, options=options)


def _ekiden_gateway(testnet: Any, api_key: str, secret: str, overrides: dict[str, Any]) -> Gateway:
    from venues.ekiden import EkidenConfig, EkidenGateway

    options: dict[str, Any] = {
        "base_url": testnet.url, "ws_url": testnet.ws_url, "api_key": api_key, "secret": secret,
        "public_requests_per_window": 100_000, "private_requests_per_window": 100_000,
        "reconnect_min_s": 0.05, "reconnect_max_s": 0.5, "http_timeout_s": 5.0,
    }
    options.update(overrides)
    return EkidenGateway(EkidenConfig.from_mapping(options))


EKIDEN = VenueAdapter(
    name="ekiden",
    symbol="ETH-USD",
    order_qty=Decimal("0.100"),
    build_testnet=_ekiden_testnet,
    ws_path="/v1/stream",
    make_gateway=_ekiden_gateway,
    api_keys=KEYS,
    balances_route=("GET", "/v1/balances"),
    create_route=("POST", "/v1/orders"),
    bad_frames=(
        '{"type":"update","channel":"trades","market":"ETH-USD","data":[{"trade_id":"1","market":"ETH-USD",'
        '"price":"abc","size":"1.000","side":"buy","timestamp":"2025-05-10T12:34:56Z"}]}',
        '{"type":"update","channel":"orderbook","market":"NOPE-USD","data":{"sequence":"1","bids":[],"asks":[],'
        '"timestamp":"2025-05-10T12:34:56Z"}}',
        '{"type":"update","channel":"orders","data":{"order":{"order_id":"x","market":"ETH-USD","status":"weird"}}}',
    ),
)


# ---------------------------------------------------------------------------------------------
# Dzengi
# ---------------------------------------------------------------------------------------------


def _dzengi_testnet(accounts: str, faults: FaultSettings) -> Any:
    from venues.dzengi.testnet import DzengiTestnet, default_instruments

    exchange = Exchange(default_instruments(), load_accounts(accounts), seed=7)
    return DzengiTestnet(exchange, faults=faults)


def _dzengi_gateway(testnet: Any, api_key: str, secret: str, overrides: dict[str, Any]) -> Gateway:
    from venues.dzengi.gateway import DzengiConfig, DzengiGateway

    options: dict[str, Any] = {
        "base_url": testnet.url, "ws_url": testnet.ws_url, "api_key": api_key, "secret": secret,
        # a short recvWindow keeps the wait before an unknown order is matched short (see its query_order)
        "poll_fast_s": 0.1, "poll_slow_s": 0.5, "account_poll_s": 600.0, "recv_window_ms": 1000,
        "reconnect_min_s": 0.05, "reconnect_max_s": 0.5, "http_timeout_s": 5.0,
    }
    options.update(overrides)
    return DzengiGateway(DzengiConfig.from_mapping(options))


DZENGI = VenueAdapter(
    name="dzengi",
    symbol="ETH/USD_LEVERAGE",
    order_qty=Decimal("0.100"),
    build_testnet=_dzengi_testnet,
    ws_path="/connect",
    make_gateway=_dzengi_gateway,
    api_keys=KEYS,
    balances_route=("GET", "/api/v1/account"),
    create_route=("POST", "/api/v1/order"),
    bad_frames=(
        '{"status":"OK","destination":"internal.trade","payload":{"symbol":"ETH/USD_LEVERAGE","price":"abc",'
        '"size":1,"id":1,"ts":1746880496000,"buyer":true}}',
        '{"status":"OK","destination":"internal.quote","payload":{"symbolName":"NOPE","bid":"1","bidQty":"1",'
        '"ofr":"2","ofrQty":"1","timestamp":1746880496000}}',
    ),
)


# ---------------------------------------------------------------------------------------------
# Magnr
# ---------------------------------------------------------------------------------------------


def _magnr_testnet(accounts: str, faults: FaultSettings) -> Any:
    from venues.magnr.testnet import MagnrTestnet, MagnrTestnetOptions, default_instruments

    exchange = Exchange(default_instruments(), load_accounts(accounts), seed=7)
    return MagnrTestnet(exchange, faults=faults, options=MagnrTestnetOptions(open_delay_ms=50, settle_delay_ms=50))


def _magnr_gateway(testnet: Any, api_key: str, secret: str, overrides: dict[str, Any]) -> Gateway:
    from venues.magnr import MagnrConfig, MagnrGateway, local_options

    options: dict[str, Any] = {**local_options(testnet.url), "api_key": api_key, "secret": secret,
                               "tonce_file": "-", "poll_fast_s": 0.1, "poll_slow_s": 0.5, "ticker_poll_s": 0.1,
                               "http_timeout_s": 5.0, "requests_per_window": 100_000}
    options.update(overrides)
    return MagnrGateway(MagnrConfig.from_mapping(options))


_NO_LIMIT = "magnr trades at market only (no limit orders)"
MAGNR = VenueAdapter(
    name="magnr",
    symbol="ItBit-XBTUSD",
    order_qty=Decimal("0.100"),
    build_testnet=_magnr_testnet,
    ws_path="/",
    make_gateway=_magnr_gateway,
    api_keys=KEYS,
    faults=frozenset({"5xx_after_order", "429", "clock_offset", "latency"}),
    balances_route=("GET", "/api/v1/trades/"),
    create_route=("POST", "/api/v1/trades/"),
    skip={
        "test_book_snapshot_then_updates": "magnr publishes no book (quotes from the underlying ticker)",
        "test_malformed_frames_are_reported_and_skipped": "magnr has no stream",
        "test_limit_order_rests_then_cancels": _NO_LIMIT,
        "test_amend_where_supported": _NO_LIMIT,
        "test_partial_fills_against_another_account": "magnr trades are positions at the broker, not book orders",
        "test_balances_match_the_accounts_file": "magnr publishes no balances",
        "test_5xx_after_accept_is_unknown_then_found_by_query": _NO_LIMIT + "; tests/venues/magnr covers it",
        "test_engine_marks_unknown_and_reconciles_without_resending": _NO_LIMIT + "; tests/venues/magnr covers it",
        "test_429_is_rate_limited_and_a_refused_order_reconciles_as_gone": _NO_LIMIT + "; tests/venues/magnr covers it",
        "test_server_clock_far_from_ours": _NO_LIMIT + "; tests/venues/magnr covers it",
        "test_garbled_answers": _NO_LIMIT + "; tests/venues/magnr covers it",
        "test_start_up_makes_progress_when_every_nth_request_is_refused_with_429":
            "magnr starts with one request (the trade list): no 3rd to refuse; tests/venues/magnr retries it",
    },
)


VENUES: tuple[VenueAdapter, ...] = (EKIDEN, DZENGI, MAGNR)
"Every venue the suite runs against."


def by_name(name: str) -> VenueAdapter:
    return next(v for v in VENUES if v.name == name)


# ---------------------------------------------------------------------------------------------
# Leverj (one entry per market; keys derived from the suite's secrets: sha256(secret) is the key)
# ---------------------------------------------------------------------------------------------


def _leverj_key(secret: str) -> str:
    import hashlib

    return "0x" + hashlib.sha256(secret.encode()).hexdigest()


def _leverj_testnet(accounts: str, faults: FaultSettings) -> Any:
    from backtest.exchange import load_accounts as load
    from venues.leverj.signer import address_of
    from venues.leverj.testnet import LeverjAccountConfig, LeverjTestnet, LeverjTestnetOptions, default_instruments

    configs = []
    for account in load(accounts):  # the suite's file; USD becomes the futures margin asset DAI
        address = address_of(_leverj_key(account.secret))
        balances = {**account.balances, "DAI": account.balances.get("USD", Decimal(0))}
        configs.append(LeverjAccountConfig(account.name, address, address, balances).exchange_config())
    exchange = Exchange(default_instruments(), configs, seed=7)
    return LeverjTestnet(exchange, faults=faults, options=LeverjTestnetOptions(requests_per_window=100_000))


def _leverj_gateway(market: str) -> Callable[[Any, str, str, dict[str, Any]], Gateway]:
    def make(testnet: Any, api_key: str, secret: str, overrides: dict[str, Any]) -> Gateway:
        from venues.leverj import LeverjConfig, LeverjGateway

        options: dict[str, Any] = {"base_url": testnet.url, "market": market, "api_key": api_key,
                                   "secret": secret if secret.startswith("0x") else _leverj_key(secret),
                                   "requests_per_s": 1000, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5,
                                   "http_timeout_s": 5.0}
        options.update(overrides)
        return LeverjGateway(LeverjConfig.from_mapping(options))

    return make


def _leverj_keys() -> dict[str, tuple[str, str]]:
    from venues.leverj.signer import address_of

    return {name: (address_of(_leverj_key(secret)), _leverj_key(secret)) for name, (_, secret) in KEYS.items()}


_LEVERJ_XFAIL = {
    "test_balances_match_the_accounts_file": "Leverj has no USD asset: the suite's USD is credited as DAI",
}

LEVERJ_FUTURES = VenueAdapter(
    name="leverj-futures",
    symbol="ETHUSD",
    order_qty=Decimal("0.10"),
    build_testnet=_leverj_testnet,
    ws_path="/futures/socket.io/",
    make_gateway=_leverj_gateway("futures"),
    api_keys=_leverj_keys(),
    balances_route=("GET", "/futures/api/v1/account/balance"),
    create_route=("POST", "/futures/api/v1/order"),
    bad_frames=(
        '42["trade",{"date":1,"price":"abc","volume":1,"instrument":"2","side":"buy"}]',
        '42["orderbook",{"2":{"buy":[{"price":"x","totalQuantity":1}],"sell":[]}}]',
        '42["order_update",{"result":[{"uuid":"x","instrument":"2","status":"weird"}]}]',
    ),
    xfail=_LEVERJ_XFAIL,
)

LEVERJ_SPOT = VenueAdapter(
    name="leverj-spot",
    symbol="ETHDAI",
    order_qty=Decimal("0.1000"),
    build_testnet=_leverj_testnet,
    ws_path="/spot/socket.io/",
    make_gateway=_leverj_gateway("spot"),
    api_keys=_leverj_keys(),
    positions=False,
    balances_route=("GET", "/spot/api/v1/account/balance"),
    create_route=("POST", "/spot/api/v1/order"),
    bad_frames=(
        '42["trade",{"date":1,"price":"abc","volume":1,"instrument":"ETHDAI","side":"buy"}]',
        '42["orderbook",{"ETHDAI":{"buy":[{"price":"x","totalQuantity":1}],"sell":[]}}]',
    ),
    xfail={"test_balances_match_the_accounts_file": _LEVERJ_XFAIL["test_balances_match_the_accounts_file"]},
)

VENUES = (*VENUES, LEVERJ_FUTURES, LEVERJ_SPOT)


# ---------------------------------------------------------------------------------------------
# Coinpit (keys derived from the suite's secrets: sha256(secret) is the private key; the user is
# its testnet address; the current weekly contract; a wide band, as the suite's prices are far)
# ---------------------------------------------------------------------------------------------


def _coinpit_key(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


def _coinpit_testnet(accounts: str, faults: FaultSettings) -> Any:
    from backtest.exchange import load_accounts as load
    from venues.coinpit.constants import Network
    from venues.coinpit.signer import identity_of
    from venues.coinpit.testnet import CoinpitAccountConfig, CoinpitTestnet, CoinpitTestnetOptions, default_instruments

    configs = [CoinpitAccountConfig(a.name, identity_of(_coinpit_key(a.secret), Network.TESTNET).public_key,
                                    {"BTC": a.balances.get("BTC", Decimal(0))}) for a in load(accounts)]
    exchange = Exchange(default_instruments(), [c.exchange_config() for c in configs], seed=7)
    options = CoinpitTestnetOptions(public_keys={c.name: c.public_key for c in configs}, requests_per_window=100_000,
                                    band_fraction=Decimal("0.5"))
    return CoinpitTestnet(exchange, faults=faults, options=options)


def _coinpit_gateway(testnet: Any, api_key: str, secret: str, overrides: dict[str, Any]) -> Gateway:
    from venues.coinpit import CoinpitConfig, CoinpitGateway

    options: dict[str, Any] = {"base_url": testnet.url, "api_key": api_key,
                               "secret": secret if len(secret) == 64 else _coinpit_key(secret),
                               "requests_per_s": 1000, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5,
                               "http_timeout_s": 5.0}
    options.update(overrides)
    return CoinpitGateway(CoinpitConfig.from_mapping(options))


def _coinpit_keys() -> dict[str, tuple[str, str]]:
    from venues.coinpit.constants import Network
    from venues.coinpit.signer import identity_of

    return {name: (identity_of(_coinpit_key(secret), Network.TESTNET).userid, _coinpit_key(secret))
            for name, (_, secret) in KEYS.items()}


def _coinpit_symbol() -> str:
    import time

    from venues.coinpit.constants import weekly_symbol

    return weekly_symbol(int(time.time() * 1000))[0]


COINPIT = VenueAdapter(
    name="coinpit",
    symbol=_coinpit_symbol(),
    order_qty=Decimal(1),
    build_testnet=_coinpit_testnet,
    ws_path="/socket.io/",
    make_gateway=_coinpit_gateway,
    api_keys=_coinpit_keys(),
    balances_route=("GET", "/api/v1/account"),
    create_route=("POST", "/api/v1/order"),
    bad_frames=(
        '42["trade",{"date":1,"price":"abc","volume":1,"instrument":"%s"}]' % _coinpit_symbol(),
        '42["orderbook",{"%s":{"buy":[{"price":"x","totalQuantity":1}],"sell":[]}}]' % _coinpit_symbol(),
    ),
    xfail={"test_balances_match_the_accounts_file":
           "Coinpit's margin account holds BTC only: the suite's USD and ETH are not credited"},
)

VENUES = (*VENUES, COINPIT)
