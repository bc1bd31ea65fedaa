"""The venue-independent testnet kit: fault decisions, fault flags, the state file's codec."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.exchange import AccountConfig, Exchange
from engine import ConfigError, Side
from engine import OrderType
from venues._testnet import AnswerFault, FaultInjector, FaultSettings, add_common_arguments, fault_settings_from_args
from venues._testnet.state import StateFile, decode_ledger, encode_ledger
from venues.dzengi.testnet import default_instruments

ALICE = AccountConfig("alice", "alice-key", "alice-secret", {"USD": Decimal("100000")})
BOB = AccountConfig("bob", "bob-key", "bob-secret", {"BTC": Decimal("2")})


def test_answer_faults_every_nth_with_priority() -> None:
    faults = FaultInjector(FaultSettings(error_5xx_after_order_every=6, reset_after_order_every=3,
                                         timeout_after_order_every=2))
    got = [faults.after_order() for _ in range(6)]
    assert got == [None, AnswerFault.TIMEOUT, AnswerFault.RESET, AnswerFault.TIMEOUT, None, AnswerFault.ERROR_5XX]
    assert faults.injected["timeout"] == 2 and faults.injected["reset"] == 1 and faults.injected["5xx"] == 1


def test_seeded_5xx_pattern_does_not_move_when_429_probability_is_added() -> None:
    def five_xx(**extra: float) -> list[bool]:
        faults = FaultInjector(FaultSettings(error_5xx_after_order_probability=0.5, seed=11, **extra))  # type: ignore[arg-type]
        out = []
        for _ in range(30):
            faults.force_429(0.0)
            out.append(faults.fail_after_order())
        return out

    assert five_xx() == five_xx(force_429_probability=0.5)


def test_fault_flags_reach_the_settings() -> None:
    parser = argparse.ArgumentParser()
    add_common_arguments(parser)
    args = parser.parse_args(["--accounts", "a.toml", "--seed", "4", "--fault-timeout-after-order-every", "3",
                              "--fault-timeout-after-order-s", "12.5", "--fault-reset-after-order-probability",
                              "0.2", "--fault-429-probability", "0.3", "--state", "ledger.json"])
    settings = fault_settings_from_args(args, seed=args.seed)
    assert (settings.timeout_after_order_every, settings.timeout_after_order_s) == (3, 12.5)
    assert (settings.reset_after_order_probability, settings.force_429_probability, settings.seed) == (0.2, 0.3, 4)
    assert args.state == "ledger.json"
    with pytest.raises(ValueError):
        FaultSettings(force_429_probability=1.5)


def _traded_exchange() -> Exchange:
    exchange = Exchange(default_instruments(), [ALICE, BOB], seed=3, clock_ms=lambda: 1_700_000_000_000)
    alice, bob = exchange.accounts["alice"], exchange.accounts["bob"]
    exchange.submit_order(bob, "BTC/USD", Side.SELL, OrderType.LIMIT, Decimal("0.5"), price=Decimal("30000"))
    exchange.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, Decimal("0.2"), price=Decimal("30000"),
                          client_order_id="c-1")
    exchange.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, Decimal("0.1"), price=Decimal("25000"))
    return exchange


def test_ledger_round_trip_restores_balances_orders_fills_and_the_book() -> None:
    source = _traded_exchange()
    text = encode_ledger(source.ledger())
    assert "alice-secret" not in text and "bob-secret" not in text  # credentials stay in the accounts file
    target = Exchange(default_instruments(), [ALICE, BOB], seed=99, clock_ms=lambda: 1_700_000_060_000)
    target.restore(decode_ledger(text))
    assert encode_ledger(target.ledger()) == text
    alice = target.accounts["alice"]
    assert target.order_by_client_id(alice, "c-1").filled_qty == Decimal("0.2")
    assert target.depth("BTC/USD")[0] == [(Decimal("25000"), Decimal("0.1"))]
    assert target.depth("BTC/USD")[1] == [(Decimal("30000"), Decimal("0.3"))]
    # ids continue: a new order and a new trade get ids the restored ledger does not have
    known_orders = {o.order_id for o in source.ledger().orders}
    known_trades = {f.trade_id for f in source.ledger().fills}
    taker = target.submit_order(alice, "BTC/USD", Side.BUY, OrderType.MARKET, Decimal("0.1"))
    assert taker.order_id not in known_orders and {f.trade_id for f in taker.fills}.isdisjoint(known_trades)


@pytest.mark.parametrize("mangle", [
    lambda raw: raw.update(format=2),
    lambda raw: raw["accounts"][0]["balances"]["USD"].update(total="lots"),
    lambda raw: raw["orders"][0].update(side="UP"),
    lambda raw: raw.update(id_state=[3, [1, 2], None]),
    lambda raw: raw.pop("fills"),
])
def test_a_malformed_state_file_is_a_config_error(tmp_path: Path, mangle: object) -> None:
    raw = json.loads(encode_ledger(_traded_exchange().ledger()))
    mangle(raw)  # type: ignore[operator]
    path = tmp_path / "ledger.json"
    path.write_text(json.dumps(raw))
    target = Exchange(default_instruments(), [ALICE, BOB])
    with pytest.raises(ConfigError):
        StateFile(path, target).load()
    assert target.ledger().orders == []  # nothing was taken over


def test_save_writes_only_changes_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    exchange = _traded_exchange()
    state = StateFile(tmp_path / "ledger.json", exchange)
    assert state.save() and not state.save()
    alice = exchange.accounts["alice"]
    exchange.submit_order(alice, "BTC/USD", Side.BUY, OrderType.LIMIT, Decimal("0.1"), price=Decimal("20000"))
    assert state.save() and state.writes == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]
    assert len(decode_ledger((tmp_path / "ledger.json").read_bytes()).orders) == 4
    assert not StateFile(tmp_path / "missing.json", exchange).load()
