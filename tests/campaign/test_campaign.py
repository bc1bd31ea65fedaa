"""The fault campaign, bounded for CI: every fault kind once, on one venue or both, books must agree.

Each session is the real thing (the testnet and ``triotrade run`` as subprocesses on 127.0.0.1,
the probe strategy, a SIGINT stop with ``cancel_on_exit``; ``kill -9`` and restarts of the client;
SIGSTOP/SIGCONT or a stop and start of the testnet), then the testnet's ledger (its state file)
against the client's journal, final positions and the balances its journal implies. The sessions
run a few at a time (a thread pool; each is two processes that mostly wait), once per module;
each case then asserts its own row: every divergence counter 0, and orders were placed.
``tests/benchmarks/fault_campaign.py`` runs every scenario on both venues, longer, and prints the
whole table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import (
    NO_STALE_SETTING,
    SCENARIOS,
    SessionResult,
    cli_supports,
    format_table,
    run_campaign,
    session_counters,
)

SESSION_S = 6.0
"Trading time of a session (after the client is up)."
WORKERS = 4
EVERY_TRADES = {"dzengi": 3, "ekiden": 6, "leverj-spot": 3, "leverj-futures": 3}

CASES = [
    ("dzengi", "none"),
    ("ekiden", "none"),
    ("dzengi", "5xx-after-accept"),
    ("ekiden", "5xx-after-accept"),
    ("ekiden", "timeout-after-accept"),
    ("dzengi", "reset-after-accept"),
    ("ekiden", "429-storm"),
    ("dzengi", "429-every-3rd"),
    ("dzengi", "ws-drop"),
    ("ekiden", "clock+30s"),
    ("dzengi", "clock-30s"),
    ("ekiden", "latency-800ms"),
    ("dzengi", "kill-9-restarts"),
    ("ekiden", "kill-9-restarts+limit"),
    ("dzengi", "venue-silent-30s"),
    ("ekiden", "venue-restart"),
    ("leverj-spot", "none"),
    ("leverj-futures", "none"),
    ("leverj-spot", "5xx-after-accept"),
    ("leverj-futures", "5xx-after-accept"),
]
_BY_NAME = {s.name: s for s in SCENARIOS}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], SessionResult]:
    for venue in sorted({v for v, _ in CASES}):
        missing = cli_supports(venue)
        if missing:
            pytest.skip(f"campaign harness needs it: {missing}")
    workdir = tmp_path_factory.mktemp("campaign")
    # the longest session first, so the pool is not left waiting for it at the end
    order = sorted(CASES, key=lambda case: -_BY_NAME[case[1]].silent_s)
    results = run_campaign([(v, _BY_NAME[s]) for v, s in order], SESSION_S, workdir, seed=1,
                           every_trades=EVERY_TRADES, workers=WORKERS)
    return {(r.venue, r.scenario): r for r in results}


def test_every_fault_kind_is_covered() -> None:
    missing = set(_BY_NAME) - {s for _, s in CASES}
    assert missing <= {"429-random-30%"}, missing  # a seeded variant of 429-every-3rd


@pytest.mark.parametrize(("venue", "scenario_name"), CASES, ids=[f"{v}-{s}" for v, s in CASES])
def test_the_client_agrees_with_the_venue(campaign: dict[tuple[str, str], SessionResult], venue: str,
                                          scenario_name: str) -> None:
    result = campaign[(venue, scenario_name)]
    table = format_table([result])
    print(table)
    assert result.status == "ok", table
    assert result.divergence is not None and result.divergence.venue_orders > 0, table
    counters = session_counters(result)
    stale = counters.pop("stale unreported")
    assert counters == dict.fromkeys(counters, 0), table
    if stale and NO_STALE_SETTING in result.notes:
        pytest.xfail("this client has no stale-venue reporting ([run] stale_after_s) yet")
    assert stale == 0, table


def test_the_table_has_a_row_per_session_with_every_counter(campaign: dict[tuple[str, str], SessionResult]) -> None:
    results = [campaign[case] for case in CASES[:2]]
    rows = [line.split() for line in format_table(results).splitlines()]
    assert [row[:2] for row in rows[2:4]] == [["dzengi", "none"], ["ekiden", "none"]]
    assert {len(row) for row in rows[2:4]} == {13}  # venue, scenario, 2 context columns and 9 counters
    assert rows[5][:3] == ["total", "2", "runs"]
