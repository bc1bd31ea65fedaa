"""The campaign harness end to end, briefly: one short fault-free session on one venue.

It asserts only that the harness ran (testnet and client processes, ledger and journal read)
and produced a table row; the counters themselves are today's baseline, not asserted here
(``tests/benchmarks/fault_campaign.py`` prints the full table).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import SCENARIOS, cli_supports, format_table, run_session

SESSION_S = 5.0


def test_a_short_fault_free_session_produces_a_table_row(tmp_path: Path) -> None:
    missing = cli_supports("dzengi")
    if missing:
        pytest.skip(f"campaign harness needs it: {missing}")
    none = next(s for s in SCENARIOS if s.name == "none")
    result = run_session("dzengi", none, SESSION_S, tmp_path, seed=3, every_trades=3)
    assert result.status == "ok", result.status
    assert result.divergence is not None
    rows = [line.split() for line in format_table([result]).splitlines()]
    assert ["dzengi", "none"] == rows[2][:2]
    assert len(rows[2]) == 13  # venue, scenario and the eleven columns
    assert (tmp_path / "journal.sqlite").is_file()
