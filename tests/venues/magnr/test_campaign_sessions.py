"""The fault campaign's harness on Magnr: short sessions whose books must agree with the venue's."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from tests.campaign.harness import SCENARIOS, cli_supports, format_table, run_session

CASES = {"none": 8.0, "5xx-after-accept": 8.0, "kill-9-restarts": 20.0}
"Scenario → session seconds (each of the four incarnations of kill-9-restarts must get to trade)."


@pytest.mark.parametrize("scenario_name", sorted(CASES))
def test_the_client_agrees_with_magnr(scenario_name: str, tmp_path: Path) -> None:
    missing = cli_supports("magnr")
    if missing:
        pytest.skip(f"campaign harness needs it: {missing}")
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    result = run_session("magnr", scenario, CASES[scenario_name], tmp_path, seed=1, every_trades=3)
    table = format_table([result])
    print(table)
    assert result.status == "ok", table
    d = result.divergence
    assert d is not None and d.venue_orders > 0, table
    counters = attrs.asdict(d)
    diverging = {name: counters[name] for name in counters if name not in ("venue_orders", "venue_fills")
                 and counters[name]}
    assert not diverging, table
