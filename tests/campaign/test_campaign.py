"""The fault campaign, bounded for CI: a few short sessions on both venues whose books must agree.

Each session is the real thing (the testnet and ``triotrade run`` as subprocesses on 127.0.0.1,
the probe strategy, a SIGINT stop with ``cancel_on_exit``, or repeated ``kill -9`` and restarts),
then the testnet's ledger against the client's journal and final positions. Only the scenarios the
client already handles are listed here; each must show every divergence counter at 0.
``tests/benchmarks/fault_campaign.py`` runs every scenario, longer, and prints the whole table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import SCENARIOS, cli_supports, format_table, run_session

SESSION_S = 6.0
EVERY_TRADES = {"dzengi": 3, "ekiden": 6}

CASES = [
    ("dzengi", "none"),
    ("ekiden", "none"),
    ("dzengi", "kill-9-restarts"),
    ("dzengi", "5xx-after-accept"),
    ("ekiden", "5xx-after-accept"),
]


@pytest.mark.parametrize(("venue", "scenario_name"), CASES, ids=[f"{v}-{s}" for v, s in CASES])
def test_the_client_agrees_with_the_venue(venue: str, scenario_name: str, tmp_path: Path) -> None:
    missing = cli_supports(venue)
    if missing:
        pytest.skip(f"campaign harness needs it: {missing}")
    scenario = next(s for s in SCENARIOS if s.name == scenario_name)
    result = run_session(venue, scenario, SESSION_S, tmp_path, seed=1, every_trades=EVERY_TRADES[venue])
    table = format_table([result])
    print(table)
    assert result.status == "ok", table
    d = result.divergence
    assert d is not None and d.venue_orders > 0, table
    assert (d.orders_unknown_to_client, d.orders_left_unknown, d.fills_missing, d.fills_duplicated,
            d.position_mismatches, d.limit_breaches, d.orders_left_working) == (0, 0, 0, 0, 0, 0, 0), table
