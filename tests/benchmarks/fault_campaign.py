"""The fault campaign: the probe strategy against each venue's local testnet under each fault.

For every (venue, scenario) it runs one bounded session (see :mod:`tests.campaign.harness`): the
testnet and the client as subprocesses on 127.0.0.1, the scenario's fault, a SIGINT stop with
``cancel_on_exit``, then the venue's ledger (its REST API) against the client's journal and final
positions. It prints one row per session with the counters (every one of them is 0 when the books
agree) and the totals. Scenarios the testnets cannot inject yet print as ``n/a``.

Run: ``nice -n 10 python tests/benchmarks/fault_campaign.py [--venue dzengi|ekiden|all]
[--seconds N] [--scenario NAME ...] [--keep DIR] [--workers N]`` (default: all venues, all
scenarios, 20 s of trading each after the client is up, two sessions at a time; the silent-venue
scenario adds its 30 s of silence). Exit code 0 whatever the counters say: it
measures, it does not judge.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.campaign.harness import (  # noqa: E402
    SCENARIOS,
    VENUE_SETUP,
    SessionResult,
    cli_supports,
    format_table,
    run_campaign,
)

EVERY_TRADES = {"dzengi": 3, "ekiden": 6, "leverj-spot": 3, "leverj-futures": 3}
"Probe step per venue: Ekiden's private limit (30 requests/min per key) is much tighter."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--venue", choices=[*VENUE_SETUP, "all"], default="all")
    parser.add_argument("--seconds", type=float, default=20.0, help="trading time of each session")
    parser.add_argument("--scenario", action="append", choices=[s.name for s in SCENARIOS],
                        help="run only this scenario (repeatable; default: all)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the testnets' markets and faults")
    parser.add_argument("--keep", type=Path, help="keep each session's files (configs, outputs, journals) here")
    parser.add_argument("--workers", type=int, default=2, help="sessions run at the same time (default 2)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.seconds <= 0 or args.seconds > 600:
        print("--seconds must be within (0, 600]", file=sys.stderr)
        return 2
    venues = list(VENUE_SETUP) if args.venue == "all" else [args.venue]
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    for venue in venues:
        missing = cli_supports(venue)
        if missing:
            print(f"cannot run the campaign on {venue}: {missing}", file=sys.stderr)
            return 2
    started = time.monotonic()

    def progress(result: SessionResult) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {result.venue}/{result.scenario}: {result.status}",
              file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="fault-campaign-") as tmp:
        workdir = args.keep or Path(tmp)
        cases = [(venue, scenario) for venue in venues for scenario in scenarios]
        results = run_campaign(cases, args.seconds, workdir, seed=args.seed, every_trades=EVERY_TRADES,
                               workers=args.workers, progress=progress)
    print(f"fault campaign: {args.seconds:g} s sessions (trading time, after start-up), seed {args.seed}, "
          f"{time.monotonic() - started:.0f} s wall time with {args.workers} at a time")
    print(format_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
