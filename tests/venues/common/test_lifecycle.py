"""The kit's gateway lifecycle on trio's MockClock: retried start-up steps, one plain start error,
the trackers sending through whatever sink the gateway has now, the template built on it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing

from engine import AuthFailed, BalanceUpdate, DataKind, GatewayCapabilities, Instrument, Order, OrderReport
from engine import VenueError, VenueState, VenueStatus
from venues._common.lifecycle import GatewayBase, GatewayConfig, NullSink
from venues._common.orders import AccountTracker
from venues._template.gateway import TemplateConfig, TemplateGateway


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


class Sink:
    def __init__(self) -> None:
        self.market: list[Any] = []
        self.execution: list[Any] = []

    def send_market(self, event: Any) -> None:
        self.market.append(event)

    def send_execution(self, event: Any) -> None:
        self.execution.append(event)


class Toy(GatewayBase):
    venue = "toy"
    capabilities = GatewayCapabilities(frozenset({"limit"}), frozenset({"GTC"}))

    def __init__(self, config: GatewayConfig, failures: Sequence[BaseException]) -> None:
        super().__init__(config, reconnect_min_s=config.reconnect_min_s, reconnect_max_s=config.reconnect_max_s)
        self.failures = list(failures)
        self.calls: list[float] = []
        self.closed = 0
        self.account = AccountTracker(self._executions)

    async def _load(self) -> None:
        self.calls.append(trio.current_time())
        if self.failures:
            raise self.failures.pop(0)
        self._set_instruments({"A/B": Instrument(venue="toy", symbol="A/B", base="A", quote="B",
                                                 tick_size="0.1", lot_size="1")})

    async def _start(self, nursery: trio.Nursery) -> None:
        await self._retrying(self._load, "REST not available")
        nursery.start_soon(trio.sleep_forever)

    async def aclose(self) -> None:
        self.closed += 1

    async def subscribe(self, kind: DataKind, instrument: Instrument, *, interval_s: int = 60, depth: int = 10) -> None:
        raise NotImplementedError

    async def submit_order(self, order: Order) -> OrderReport:
        raise NotImplementedError

    async def cancel_order(self, order: Order) -> OrderReport:
        raise NotImplementedError

    async def query_order(self, order: Order) -> OrderReport | None:
        raise NotImplementedError

    async def open_orders(self, instrument: Instrument | None = None) -> Sequence[OrderReport]:
        raise NotImplementedError

    async def balances(self) -> Sequence[BalanceUpdate]:
        raise NotImplementedError


CONFIG = GatewayConfig(reconnect_min_s=0.5, reconnect_max_s=1.5)


async def test_a_start_up_step_is_retried_with_backoff_and_reported(clock: trio.testing.MockClock) -> None:
    sink = Sink()
    gateway = Toy(CONFIG, [VenueError("503", venue="toy")] * 3)
    async with Toy.open(CONFIG, Sink(), failures=[]) as opened:
        assert opened.calls == [trio.current_time()] and opened.closed == 0
    assert opened.closed == 1
    async with trio.open_nursery() as nursery:
        await nursery.start(gateway.run, sink)
        assert [round(b - a, 3) for a, b in zip(gateway.calls, gateway.calls[1:])] == [0.5, 1.0, 1.5]
        inst = gateway.instrument("A/B")
        assert (inst.symbol, dict(gateway.instruments)) == ("A/B", {inst.key: inst})
        statuses = [e for e in sink.market if isinstance(e, VenueStatus)]
        assert [s.state for s in statuses] == [VenueState.DISCONNECTED] * 3
        assert "attempt 3, retrying in 1.5 s" in statuses[-1].detail
        nursery.cancel_scope.cancel()
    assert gateway.closed == 1


async def test_wrong_credentials_end_the_start_with_one_plain_error(clock: trio.testing.MockClock) -> None:
    gateway = Toy(CONFIG, [VenueError("503", venue="toy"), AuthFailed("bad key", venue="toy")])
    with pytest.raises(AuthFailed, match="bad key"):
        await gateway.run(Sink())
    assert len(gateway.calls) == 2 and gateway.closed == 1


async def test_the_trackers_send_to_the_sink_the_gateway_has_now() -> None:
    gateway = Toy(CONFIG, [])
    assert isinstance(gateway._sink, NullSink)
    sink = Sink()
    gateway._sink = sink
    balance = BalanceUpdate("toy", "main", "B", 1, 1, Decimal(5))
    gateway.account.note_balance(balance)
    assert sink.execution == [balance]


def test_the_template_builds_on_the_kit() -> None:
    config = TemplateConfig(api_key="template-key-0001", secret="template-secret-0001", http_timeout_s=3.0)
    gateway = TemplateGateway(config)
    assert config.ping_interval_s == 20.0 and "template-secret" not in repr(config)
    assert gateway.venue == "template" and dict(gateway.instruments) == {}
