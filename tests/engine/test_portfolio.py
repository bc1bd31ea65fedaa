from decimal import Decimal as D

import pytest

from engine import Instrument, Portfolio, Side

BTC = Instrument(venue="sim", symbol="BTC/USD", base="BTC", quote="USD", tick_size="0.01", lot_size="0.001")
PERP = Instrument(venue="sim", symbol="BTC-PERP", base="BTC", quote="USD", tick_size="0.5", lot_size="0.001",
                  kind="linear")
INV = Instrument(venue="sim", symbol="XBTUSD", base="BTC", quote="USD", tick_size="0.5", lot_size="1",
                 kind="inverse")


def test_spot_fills_move_balances_exactly() -> None:
    p = Portfolio({"USD": D("1000")})
    p.apply_fill(BTC, Side.BUY, BTC.price_raw(D("100.01")), BTC.size_raw(D("2")), D("0.2"), "USD", 1)
    assert p.balance("USD") == D("1000") - D("200.02") - D("0.2")
    assert p.balance("BTC") == D("2")
    realized = p.apply_fill(BTC, Side.SELL, BTC.price_raw(D("101.00")), BTC.size_raw(D("0.5")), D("0.05"), "USD", 2)
    assert realized == D("0.495")  # (101.00 - 100.01) * 0.5
    assert p.position(BTC).qty == D("1.5")


def test_fifo_lots_and_flip_through_zero() -> None:
    p = Portfolio({"USD": D("0")})
    p.apply_fill(PERP, Side.BUY, PERP.price_raw(D("100")), PERP.size_raw(D("1")), D(0), "USD", 1)
    p.apply_fill(PERP, Side.BUY, PERP.price_raw(D("110")), PERP.size_raw(D("1")), D(0), "USD", 2)
    # sell 3: closes the 100 lot (+10), the 110 lot (0) and opens a 1.0 short at 110
    realized = p.apply_fill(PERP, Side.SELL, PERP.price_raw(D("110")), PERP.size_raw(D("3")), D(0), "USD", 3)
    pos = p.position(PERP)
    assert realized == D("10")
    assert pos.qty == D("-1")
    assert pos.avg_price == D("110")
    assert p.balance("USD") == D("10")  # derivatives book only realized PnL
    assert pos.unrealized_pnl(D("105")) == D("5")


def test_linear_unrealized_and_equity() -> None:
    p = Portfolio({"USD": D("1000")})
    p.apply_fill(PERP, Side.SELL, PERP.price_raw(D("200.5")), PERP.size_raw(D("0.003")), D("0.001"), "USD", 1)
    assert p.unrealized_pnl({PERP.key: D("199.5")}) == {"USD": D("0.003")}
    assert p.equity("USD", {PERP.key: D("199.5")}) == D("1000") - D("0.001") + D("0.003")


def test_inverse_pnl_rounded_half_even_to_satoshi() -> None:
    p = Portfolio({"BTC": D("1")})
    p.apply_fill(INV, Side.BUY, INV.price_raw(D("20000")), 100, D(0), "BTC", 1)
    realized = p.apply_fill(INV, Side.SELL, INV.price_raw(D("21000")), 100, D(0), "BTC", 2)
    assert realized == D("0.00023810")  # 100 * (1/20000 - 1/21000) = 0.000238095...
    assert p.balance("BTC") == D("1.00023810")


def test_equity_values_other_assets_at_rates_and_reports_unvalued() -> None:
    p = Portfolio({"USD": D("10"), "BTC": D("2"), "XYZ": D("5")})
    assert p.equity("USD", {}, {"BTC": D("100")}) == D("210")
    assert p.unvalued_assets("USD", {"BTC": D("100")}) == ["XYZ"]


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_round_trip_total_pnl_is_exact(side: Side) -> None:
    p = Portfolio({"USD": D("0")})
    prices = ["100.01", "100.02", "99.97", "100.50"]
    for i, px in enumerate(prices):
        p.apply_fill(PERP, side, PERP.price_raw(D(px).quantize(D("0.5"))), 7, D(0), "USD", i)
    closing = PERP.price_raw(D("101"))
    p.apply_fill(PERP, side.opposite, closing, 28, D(0), "USD", 9)
    pos = p.position(PERP)
    assert pos.is_flat
    entry = sum(D(px).quantize(D("0.5")) for px in prices) * D("0.007")
    exit_ = D("101") * D("0.028")
    assert pos.realized_pnl == (exit_ - entry) * (1 if side is Side.BUY else -1)


def test_a_funding_payment_moves_only_the_settle_balance_exactly() -> None:
    p = Portfolio({"USD": D("1000")})
    p.apply_fill(PERP, Side.BUY, PERP.price_raw(D("30000.5")), PERP.size_raw(D("0.013")), D("0"), "USD", 1)
    paid = -D("0.013") * D("30001.5") * D("0.000125")  # long pays at a positive rate
    assert paid == D("-0.04875243750")
    p.apply_funding(PERP, "USD", paid)
    p.apply_funding(PERP, "USD", D("0.01"))
    assert p.balance("USD") == D("1000") + paid + D("0.01")
    assert p.funding_by_asset == {"USD": paid + D("0.01")}
    assert p.funding_by_instrument == {PERP.key: paid + D("0.01")}
    pos = p.position(PERP)
    assert pos.qty == D("0.013") and pos.avg_price == D("30000.5") and p.realized_pnl == 0
    p.apply_funding(PERP, "USD", D(0))
    assert p.funding_by_asset == {"USD": paid + D("0.01")}
