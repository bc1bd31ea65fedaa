"""The venue-agnostic exchange core: accounts file, settlement, locks, positions, bars."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from backtest.exchange import (
    AccountConfig,
    BarStore,
    Exchange,
    ExchangeRejected,
    RejectReason,
    load_accounts,
)
from engine import ConfigError
from engine import Liquidity, Side
from engine import Instrument, InstrumentKind
from engine import OrderStatus, OrderType, TimeInForce

D = Decimal
NOW = 1_800_000_000_000


def instruments() -> list[Instrument]:
    spot = Instrument(venue="x", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.5", lot_size="0.01",
                      min_qty="0.01", min_notional="10", maker_fee="0.001", taker_fee="0.002")
    perp = Instrument(venue="x", symbol="BTC-PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.01",
                      kind=InstrumentKind.LINEAR, leverage_values=(1, 5, 10), max_leverage="10",
                      maker_fee="0", taker_fee="0.001")
    return [spot, perp]


@pytest.fixture
def ex() -> Exchange:
    exchange = Exchange(instruments(), [
        AccountConfig("alice", "ka", "sa", {"USD": D("100000"), "BTC": D("1")}),
        AccountConfig("bob", "kb", "sb", {"USD": D("100000"), "BTC": D("1")}),
    ], clock_ms=lambda: NOW, seed=1)
    exchange.add_account(AccountConfig("mm", "km", "sm", {}), house=True)
    return exchange


def quote(ex: Exchange, symbol: str, bid: str, ask: str, qty: str = "5") -> None:
    mm = ex.accounts["mm"]
    ex.submit_order(mm, symbol, Side.BUY, OrderType.LIMIT, D(qty), price=D(bid))
    ex.submit_order(mm, symbol, Side.SELL, OrderType.LIMIT, D(qty), price=D(ask))


# -- accounts file --------------------------------------------------------------------------------


def test_accounts_file_loads_and_errors_name_file_and_key(tmp_path: Path) -> None:
    good = tmp_path / "a.toml"
    good.write_text('[[accounts]]\nname = "a"\napi_key = "k"\nsecret = "s3cret"\nbalances = { USD = "10.5" }\n')
    [account] = load_accounts(good)
    assert account.balances == {"USD": D("10.5")} and "s3cret" not in repr(account)
    dup = tmp_path / "dup.toml"
    dup.write_text('[[accounts]]\nname = "a"\napi_key = "k"\nsecret = "s"\n'
                   '[[accounts]]\nname = "b"\napi_key = "k"\nsecret = "s2"\n')
    with pytest.raises(ConfigError, match=r"dup.toml: accounts\[1\].api_key: duplicate api_key"):
        load_accounts(dup)
    typo = tmp_path / "typo.toml"
    typo.write_text('[[accounts]]\nname = "a"\napi_key = "k"\nsecret = "topsecret"\nbalance = {}\n')
    with pytest.raises(ConfigError) as err:
        load_accounts(typo)
    assert "typo.toml" in str(err.value) and "balances" in str(err.value) and "topsecret" not in str(err.value)
    negative = tmp_path / "neg.toml"
    negative.write_text('[[accounts]]\nname = "a"\napi_key = "k"\nsecret = "s"\nbalances = { USD = "-1" }\n')
    with pytest.raises(ConfigError, match="balances"):
        load_accounts(negative)


# -- spot -------------------------------------------------------------------------------------------


def test_spot_limit_locks_then_settles_exactly(ex: Exchange) -> None:
    alice, bob = ex.accounts["alice"], ex.accounts["bob"]
    buy = ex.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, D("0.5"), price=D("20000"))
    assert buy.status is OrderStatus.ACCEPTED
    assert alice.balance("USD").locked == D("20000") * D("0.5") * D("1.002")
    sell = ex.submit_order(bob, "BTC/USD", Side.SELL, OrderType.LIMIT, D("0.2"), price=D("19999.5"))
    # executes at the maker's price; maker fee 0.1 %, taker fee 0.2 %
    assert sell.status is OrderStatus.FILLED and sell.avg_price == D("20000")
    assert buy.status is OrderStatus.PARTIALLY_FILLED and buy.filled_qty == D("0.2")
    assert alice.balance("USD").total == D("100000") - D("4000") - D("4")
    assert alice.balance("BTC").total == D("1.2")
    assert alice.balance("USD").locked == D("20000") * D("0.3") * D("1.002")
    assert bob.balance("USD").total == D("100000") + D("4000") - D("8")
    assert bob.balance("BTC").total == D("0.8") and bob.balance("BTC").locked == 0
    assert [f.liquidity for f in ex.my_fills(alice)] == [Liquidity.MAKER]
    ex.cancel_order(alice, buy.order_id)
    assert alice.balance("USD").locked == 0 and buy.status is OrderStatus.CANCELED
    assert ex.trades("BTC/USD")[-1].aggressor is Side.SELL and ex.last_price("BTC/USD") == D("20000")


def test_spot_rejections_change_nothing(ex: Exchange) -> None:
    alice = ex.accounts["alice"]
    quote(ex, "BTC/USD", "19990", "20010")
    cases = [
        (dict(qty=D("0.015"), price=D("100")), RejectReason.INVALID_QUANTITY),
        (dict(qty=D("0.01"), price=D("100.25")), RejectReason.INVALID_PRICE),
        (dict(qty=D("0.01"), price=D("100")), RejectReason.MIN_NOTIONAL),
        (dict(qty=D("6"), price=D("20000")), RejectReason.INSUFFICIENT_BALANCE),
    ]
    for kwargs, reason in cases:
        with pytest.raises(ExchangeRejected) as err:
            ex.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, kwargs["qty"], price=kwargs["price"])
        assert err.value.reason is reason
    with pytest.raises(ExchangeRejected) as err:
        ex.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, D("0.1"), price=D("20010"), post_only=True)
    assert err.value.reason is RejectReason.POST_ONLY_WOULD_TAKE
    with pytest.raises(ExchangeRejected) as err:
        ex.submit_order(alice, "BTC/USD", Side.SELL, OrderType.MARKET, D("1.5"))
    assert err.value.reason is RejectReason.INSUFFICIENT_BALANCE
    assert alice.balance("USD").total == D("100000") and alice.balance("USD").locked == 0
    assert ex.open_orders(alice) == [] and ex.my_fills(alice) == []


def test_time_in_force_and_market_expiry(ex: Exchange) -> None:
    alice = ex.accounts["alice"]
    quote(ex, "BTC/USD", "19990", "20010", qty="0.5")
    fok = ex.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, D("1"), price=D("20010"),
                          time_in_force=TimeInForce.FOK)
    assert fok.status is OrderStatus.EXPIRED and fok.filled_qty == 0
    ioc = ex.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, D("1"), price=D("20010"),
                          time_in_force=TimeInForce.IOC)
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == D("0.5")
    assert alice.balance("USD").locked == 0
    market = ex.submit_order(alice, "BTC/USD", Side.SELL, OrderType.MARKET, D("0.7"))
    assert market.status is OrderStatus.EXPIRED and market.filled_qty == D("0.5")
    assert alice.balance("BTC").locked == 0 and alice.balance("BTC").total == D("1")


# -- leverage ------------------------------------------------------------------------------------------


def test_leverage_position_margin_pnl_and_flip(ex: Exchange) -> None:
    alice = ex.accounts["alice"]
    quote(ex, "BTC-PERP", "19999.5", "20000")
    ex.submit_order(alice, "BTC-PERP", Side.BUY, OrderType.MARKET, D("1"), leverage=10)
    [pos] = ex.positions(alice)
    assert pos.qty == 1 and pos.open_price == D("20000") and pos.margin == D("2000")
    usd = alice.balance("USD")
    assert usd.locked == D("2000") and usd.total == D("100000") - D("20")  # taker fee 0.1 %
    ex.submit_order(alice, "BTC-PERP", Side.SELL, OrderType.MARKET, D("1.5"), leverage=10)
    # closed 1 at 19999.5 (-0.5 pnl), opened a new 0.5 short
    [short] = ex.positions(alice)
    assert short.position_id != pos.position_id and short.qty == D("-0.5") and short.open_price == D("19999.5")
    assert pos.realized_pnl == D("-0.5") and not pos.is_open
    assert usd.locked == short.margin == D("999.975")
    history = ex.position_history(alice)
    assert [(h.status, h.position_id == pos.position_id) for h in history] == [
        ("OPENED", True), ("CLOSED", True), ("OPENED", False)]
    with pytest.raises(ExchangeRejected) as err:
        ex.submit_order(alice, "BTC-PERP", Side.SELL, OrderType.MARKET, D("0.1"), reduce_only=True, leverage=10)
    assert err.value.reason is RejectReason.REDUCE_ONLY
    with pytest.raises(ExchangeRejected) as err:
        ex.submit_order(alice, "BTC-PERP", Side.BUY, OrderType.MARKET, D("0.1"), leverage=3)
    assert err.value.reason is RejectReason.INVALID_LEVERAGE
    close = ex.close_position(alice, short.position_id)
    assert close.reduce_only and close.status is OrderStatus.FILLED and ex.positions(alice) == []
    assert usd.locked == 0


def test_take_profit_fires_on_the_last_trade(ex: Exchange) -> None:
    alice, bob = ex.accounts["alice"], ex.accounts["bob"]
    quote(ex, "BTC-PERP", "19999.5", "20000")
    ex.submit_order(alice, "BTC-PERP", Side.BUY, OrderType.MARKET, D("0.1"), leverage=5, take_profit=D("20100"),
                    stop_loss=D("19000"))
    [pos] = ex.positions(alice)
    assert (pos.take_profit, pos.stop_loss) == (D("20100"), D("19000"))
    # the market moves up: a new ladder and a print at 20100
    mm = ex.accounts["mm"]
    for order in ex.open_orders(mm, "BTC-PERP"):
        ex.cancel_order(mm, order.order_id)
    quote(ex, "BTC-PERP", "20100", "20100.5")
    ex.submit_order(bob, "BTC-PERP", Side.SELL, OrderType.MARKET, D("0.01"), leverage=5)
    assert ex.positions(alice) == []
    closed = ex.position_history(alice)[-1]
    assert closed.status == "CLOSED" and closed.source == "TP" and closed.realized_pnl == D("10")


def test_stop_market_triggers_on_a_print(ex: Exchange) -> None:
    alice, bob = ex.accounts["alice"], ex.accounts["bob"]
    quote(ex, "BTC-PERP", "19999.5", "20000")
    ex.submit_order(bob, "BTC-PERP", Side.BUY, OrderType.MARKET, D("0.01"), leverage=5)
    with pytest.raises(ExchangeRejected) as err:
        ex.submit_order(alice, "BTC-PERP", Side.BUY, OrderType.STOP_MARKET, D("0.1"), trigger_price=D("19000"),
                        leverage=5)
    assert err.value.reason is RejectReason.WOULD_TRIGGER_IMMEDIATELY
    stop = ex.submit_order(alice, "BTC-PERP", Side.BUY, OrderType.STOP_MARKET, D("0.1"), trigger_price=D("20050"),
                           leverage=5)
    assert stop.status is OrderStatus.ACCEPTED and alice.balance("USD").locked > 0
    quote(ex, "BTC-PERP", "20040", "20050")
    ex.submit_order(bob, "BTC-PERP", Side.BUY, OrderType.MARKET, D("5.01"), leverage=5)
    assert stop.triggered and stop.status is OrderStatus.FILLED
    [pos] = ex.positions(alice)
    assert pos.qty == D("0.1")


# -- bars ----------------------------------------------------------------------------------------------


def test_bar_store_aggregates_minutes_into_intervals() -> None:
    bars = BarStore()
    base = 1_800_000_000_000 - 1_800_000_000_000 % 3_600_000
    bars.seed(base, D(10), D(12), D(9), D(11), D(1))
    bars.add_print(D(13), D(2), base + 60_000 + 5)
    bars.add_print(D(8), D(1), base + 60_000 + 10)
    bars.add_print(D(9), D(1), base + 3_600_000)
    hourly = bars.bars(3_600_000)
    assert hourly == [(base, D(10), D(13), D(8), D(8), D(4)), (base + 3_600_000, D(9), D(9), D(9), D(9), D(1))]
    assert bars.bars(60_000, limit=1) == [(base + 3_600_000, D(9), D(9), D(9), D(9), D(1))]
    assert bars.bars(60_000, start_ms=base, limit=1)[0][0] == base
    assert bars.last_close() == D(9)
