"""The fault campaign's harness on Magnr: short sessions whose books must agree with the venue's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.campaign.harness import SCENARIOS, cli_supports, format_table, run_session

CASES = ["none", "5xx-after-accept", "kill-9-restarts"]


@pytest.mark.parametrize("scenario_name", CASES)
def test_the_client_agrees_with_magnr(scenario_name: str, tmp_path: Path) -> None:
    missing = cli_supports("magnr")
    if missing:
        pytest.skip(f"campaign harness needs it: {missing}")
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    result = run_session("magnr", scenario, 8.0, tmp_path, seed=1, every_trades=3)
    table = format_table([result])
    print(table)
    assert result.status == "ok", table
    d = result.divergence
    assert d is not None and d.venue_orders > 0, table
    assert (d.orders_unknown_to_client, d.orders_left_unknown, d.fills_missing, d.fills_duplicated,
            d.position_mismatches, d.limit_breaches, d.orders_left_working) == (0, 0, 0, 0, 0, 0, 0), table
