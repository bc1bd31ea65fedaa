"""Run the probe against a local testnet under one fault and measure the divergence.

One *session*: start ``triotrade testnet <venue>`` as a subprocess (port 0, seeded, the fault's
flags), write a run config for the probe strategy, start ``triotrade run`` as a subprocess, apply
the scenario's client-side faults (``kill -9`` and restart; SIGSTOP/SIGCONT of the testnet), stop
the client with SIGINT (``cancel_on_exit``), then read the venue's ledger through its REST API and
the client's journal and final status line, and :func:`~tests.campaign.compare.compare` them.

Bounded: every wait has a deadline, every process is SIGKILLed in ``finally``, only 127.0.0.1.
The processes are ``python -m engine.cli`` with this checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import attrs

from .compare import Divergence, compare
from .ledger import LEDGER_READERS, LedgerError, read_client_view

__all__ = ["Scenario", "SCENARIOS", "SessionResult", "HarnessUnavailable", "VENUE_SETUP", "run_session",
           "run_campaign", "format_table", "cli_supports"]

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "campaign" / "probe.py"
API_KEY = "campaign-key"
SECRET = "campaign-secret"  # a throw-away test key of the local testnet, never printed
PROBE_QTY = Decimal("0.01")
STOP_GRACE_S = 20.0
"How long a SIGINTed client may take to cancel, flush and exit before it is SIGKILLed."


_SETTLED = frozenset({"filled", "canceled", "rejected", "expired", "denied"})
"Journal statuses after which an order can no longer change."


class HarnessUnavailable(RuntimeError):
    """A CLI feature the harness needs is missing (the session cannot run)."""


@attrs.frozen
class VenueSetup:
    """How to point the client at one venue's testnet."""

    symbol: str
    ws_path: str
    env_prefix: str
    options: str = ""
    "More ``[venues.options]`` lines (``{url}`` and ``{journal}`` filled in); no ``ws_url`` when ``ws_path`` is empty."


VENUE_SETUP = {
    "dzengi": VenueSetup(symbol="BTC/USD", ws_path="/connect", env_prefix="DZENGI"),
    "ekiden": VenueSetup(symbol="BTC-USD", ws_path="/v1/stream", env_prefix="EKIDEN"),
    "magnr": VenueSetup(symbol="ItBit-XBTUSD", ws_path="", env_prefix="MAGNR", options=(
        'ticker_urls = {{ ItBit = "{url}/itbit" }}\ntonce_file = "{journal}.tonce"\n'
        "poll_fast_s = 0.2\npoll_slow_s = 0.5\nticker_poll_s = 0.2\n")),
}


@attrs.frozen
class Scenario:
    """One row of the campaign: a fault and how it is applied."""

    name: str
    testnet_flags: Callable[[float], list[str]] = lambda seconds: []
    "The testnet's ``--fault-*`` flags for a session of that many seconds."
    kills: int = 0
    "``kill -9`` the client this many times during the session, restarting it each time."
    position_limit: Decimal | None = None
    "``[risk] max_position_qty`` of the client, checked against the venue's position."
    silent_s: float = 0.0
    "SIGSTOP the testnet this long in the middle of the session, then SIGCONT."
    not_injectable: str = ""
    "Why the scenario cannot run yet ('' = it can)."


def _window(seconds: float) -> list[str]:
    return ["--fault-429-window", f"{seconds * 0.25:.1f}", f"{seconds * 0.5:.1f}"]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("none"),
    Scenario("5xx-after-accept", lambda s: ["--fault-5xx-after-order-every", "3"]),
    Scenario("timeout-after-accept", lambda s: ["--fault-timeout-after-order-every", "3"]),
    Scenario("reset-after-accept", lambda s: ["--fault-reset-after-order-every", "3"]),
    Scenario("429-storm", _window),
    Scenario("429-every-3rd", lambda s: ["--fault-429-every", "3"]),
    Scenario("429-random-30%", lambda s: ["--fault-429-probability", "0.3"]),
    Scenario("ws-drop", lambda s: ["--fault-ws-drop-after", f"{max(2.0, s / 4):.1f}"]),
    Scenario("clock+30s", lambda s: ["--fault-clock-offset-ms", "30000"]),
    Scenario("clock-30s", lambda s: ["--fault-clock-offset-ms", "-30000"]),
    Scenario("latency-800ms", lambda s: ["--fault-latency-ms", "800"]),
    Scenario("kill-9-restarts", kills=3),
    Scenario("kill-9-restarts+limit", kills=3, position_limit=2 * PROBE_QTY),
    Scenario("venue-silent-30s", silent_s=30.0),
    Scenario("testnet-restart", not_injectable="the testnet keeps its ledger (--state FILE), "
                                               "but the harness does not restart the testnet yet"),
)


@attrs.frozen
class SessionResult:
    """What one (venue, scenario) session measured."""

    venue: str
    scenario: str
    status: str
    "``ok``, ``n/a (...)`` or ``error: ...``."
    divergence: Divergence | None = None
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------

def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_SECRET"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def cli_supports(venue: str) -> str:
    """'' if ``testnet <venue>`` and ``run`` exist in this checkout's CLI, else what is missing."""
    for args in (("testnet", venue, "--help"), ("run", "--help")):
        done = subprocess.run(_cli(*args), env=_env(), capture_output=True, timeout=60, cwd=ROOT)
        if done.returncode != 0:
            return f"`triotrade {' '.join(args[:-1])}` is not available"
    return ""


def _kill(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    except ProcessLookupError:
        return
    proc.wait(timeout=10)


@contextmanager
def _process(argv: Sequence[str], out: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess writing stdout to ``out`` and stderr to ``out``.err; SIGKILLed on exit if alive."""
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        proc = subprocess.Popen(list(argv), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                env=env, cwd=ROOT)
        try:
            yield proc
        finally:
            _kill(proc)


_URL = re.compile(rb"testnet REST\s+(http://127\.0\.0\.1:\d+)/")


def _wait_for_url(proc: subprocess.Popen[bytes], out: Path, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = _URL.search(out.read_bytes())
        if m:
            return m.group(1).decode()
        if proc.poll() is not None:
            err = out.with_suffix(".err").read_text(errors="replace")[-500:]
            raise HarnessUnavailable(f"the testnet exited ({proc.returncode}): {err}")
        time.sleep(0.1)
    raise HarnessUnavailable("the testnet printed no URL in time")


def _stop(proc: subprocess.Popen[bytes], notes: list[str]) -> None:
    """SIGINT the client and wait for its orderly exit; SIGKILL after :data:`STOP_GRACE_S`."""
    if proc.poll() is not None:
        notes.append(f"client had exited ({proc.returncode}) before the stop")
        return
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        notes.append(f"client did not exit {STOP_GRACE_S:.0f}s after SIGINT (killed)")
        _kill(proc)
        return
    if code != 0:
        notes.append(f"client exit code {code}")


def _check_started(client: subprocess.Popen[bytes], out: Path, settle_s: float = 1.5) -> None:
    """Raise :class:`HarnessUnavailable` if the client refuses its command line or config (exit 2)."""
    try:
        code = client.wait(timeout=settle_s)
    except subprocess.TimeoutExpired:
        return
    if code == 2:
        err = out.with_suffix(".err").read_text(errors="replace").strip().splitlines()
        raise HarnessUnavailable(f"the client refused its config: {err[-1][-300:] if err else 'exit 2'}")


def _sleep_watching(seconds: float, client: subprocess.Popen[bytes], notes: list[str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client.poll() is not None:
            notes.append(f"client died during the session ({client.returncode})")
            return
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------

def _write_accounts(path: Path) -> None:
    path.write_text(
        "[[accounts]]\n"
        'name = "campaign"\n'
        f'api_key = "{API_KEY}"\n'
        f'secret = "{SECRET}"\n'
        'balances = { USD = "100000", BTC = "2", ETH = "20" }\n'
    )


def _write_config(path: Path, venue: str, url: str, journal: Path, scenario: Scenario, every_trades: int) -> None:
    setup = VENUE_SETUP[venue]
    host = url.removeprefix("http://")
    instrument = f"{venue}:{setup.symbol}"
    limit = (f'[risk.instruments."{instrument}"]\nmax_position_qty = "{scenario.position_limit}"\n'
             if scenario.position_limit is not None else "")
    path.write_text(
        f'name = "campaign-{venue}-{scenario.name}"\n\n'
        "[[venues]]\n"
        f'venue = "{venue}"\n'
        "[venues.options]\n"
        f'base_url = "{url}"\n'
        + (f'ws_url = "ws://{host}{setup.ws_path}"\n' if setup.ws_path else "")
        + setup.options.format(url=url, journal=journal) +
        "[venues.credentials]\n"
        f'api_key_env = "{setup.env_prefix}_API_KEY"\n'
        f'secret_env = "{setup.env_prefix}_SECRET"\n\n'
        "[[strategies]]\n"
        'id = "probe"\n'
        f'class = "{PROBE}:Probe"\n'
        "[strategies.params]\n"
        f'instrument = "{instrument}"\n'
        f'qty = "{PROBE_QTY}"\n'
        f"every_trades = {every_trades}\n\n"
        "[risk]\n"
        'max_order_notional = "5000"\n\n'
        f"{limit}\n"
        "[run]\n"
        "cancel_on_exit = true\n"
        "status_interval_s = 2\n"
        "shutdown_grace_s = 5\n"
        f'journal = "{journal}"\n'
    )


# ---------------------------------------------------------------------------------------------
# one session
# ---------------------------------------------------------------------------------------------

def run_session(venue: str, scenario: Scenario, seconds: float, workdir: Path, *, seed: int = 1,
                every_trades: int = 10) -> SessionResult:
    """Run one (venue, scenario) session in ``workdir`` and measure it (never raises for a failed run)."""
    if scenario.not_injectable:
        return SessionResult(venue, scenario.name, f"n/a (not injectable yet: {scenario.not_injectable})")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run_session(venue, scenario, seconds, workdir, seed, every_trades)
    except (HarnessUnavailable, LedgerError, OSError, subprocess.SubprocessError) as exc:
        return SessionResult(venue, scenario.name, f"error: {type(exc).__name__}: {exc}")


def _run_session(venue: str, scenario: Scenario, seconds: float, workdir: Path, seed: int,
                 every_trades: int) -> SessionResult:
    setup = VENUE_SETUP[venue]
    accounts, config, journal = workdir / "accounts.toml", workdir / "run.toml", workdir / "journal.sqlite"
    _write_accounts(accounts)
    journal.unlink(missing_ok=True)
    notes: list[str] = []
    testnet_argv = _cli("testnet", venue, "--accounts", str(accounts), "--port", "0", "--seed", str(seed),
                        *scenario.testnet_flags(seconds))
    client_env = _env({f"{setup.env_prefix}_API_KEY": API_KEY, f"{setup.env_prefix}_SECRET": SECRET})
    with _process(testnet_argv, workdir / "testnet.out", _env()) as testnet:
        url = _wait_for_url(testnet, workdir / "testnet.out")
        _write_config(config, venue, url, journal, scenario, every_trades)
        last_out = _drive_client(scenario, seconds, workdir, config, client_env, testnet, notes)
        ledger = LEDGER_READERS[venue](url, API_KEY, SECRET, [setup.symbol])
    client = read_client_view(journal, last_out.read_text(errors="replace"))
    if not client.journal:
        notes.append("journal empty or missing")
    unsettled = [r for r in client.journal if r.status not in _SETTLED]
    if unsettled:
        notes.append(f"{len(unsettled)} journal row(s) not terminal at the end "
                     f"({', '.join(sorted({r.status for r in unsettled}))})")
    if scenario.silent_s:
        err = last_out.with_suffix(".err").read_text(errors="replace")
        notes.append("stale reported" if re.search(r"\bstale\b", err, re.IGNORECASE)
                     else "stale not reported (not observable yet)")
    divergence = compare(ledger, client, position_limit=scenario.position_limit)
    return SessionResult(venue, scenario.name, "ok", divergence, tuple(dict.fromkeys(notes)))


def _drive_client(scenario: Scenario, seconds: float, workdir: Path, config: Path, env: dict[str, str],
                  testnet: subprocess.Popen[bytes], notes: list[str]) -> Path:
    """Run the client(s) for the session; returns the stdout file of the last incarnation."""
    slice_s = seconds / (scenario.kills + 1)
    for incarnation in range(scenario.kills + 1):
        out = workdir / f"client-{incarnation}.out"
        with _process(_cli("run", str(config)), out, env) as client:
            _check_started(client, out)
            if incarnation < scenario.kills:
                _sleep_watching(slice_s, client, notes)
                client.kill()  # kill -9: no cleanup, no cancel, no journal flush beyond what is written
                client.wait(timeout=10)
                continue
            if scenario.silent_s:
                _sleep_watching(slice_s / 2, client, notes)
                testnet.send_signal(signal.SIGSTOP)
                try:
                    _sleep_watching(scenario.silent_s, client, notes)
                finally:
                    testnet.send_signal(signal.SIGCONT)
                _sleep_watching(slice_s / 2, client, notes)
            else:
                _sleep_watching(slice_s, client, notes)
            _stop(client, notes)
    return out


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------

def run_campaign(venues: Sequence[str], scenarios: Sequence[Scenario], seconds: float, workdir: Path, *,
                 seed: int = 1, every_trades: int = 10,
                 progress: Callable[[SessionResult], None] | None = None) -> list[SessionResult]:
    """Every (venue, scenario) session in turn, each in its own folder under ``workdir``."""
    results = []
    for venue in venues:
        for scenario in scenarios:
            result = run_session(venue, scenario, seconds, workdir / venue / scenario.name, seed=seed,
                                 every_trades=every_trades)
            results.append(result)
            if progress is not None:
                progress(result)
    return results


_COLUMNS = ("venue orders", "venue fills", "unknown to client", "left UNKNOWN", "fills missing",
            "fills duplicated", "position diffs", "limit breaches", "left working")


def _cells(d: Divergence) -> list[str]:
    values = [d.venue_orders, d.venue_fills, d.orders_unknown_to_client, d.orders_left_unknown, d.fills_missing,
              d.fills_duplicated, d.position_mismatches, d.limit_breaches, d.orders_left_working]
    return ["n/o" if v < 0 else str(v) for v in values]


def format_table(results: Sequence[SessionResult]) -> str:
    """One row per (venue, scenario) with the counters, then the totals and the notes.

    ``n/o``: not observable (the client printed no final positions). Balances are not compared:
    the client does not expose its balances outside the process yet.
    """
    header = ["venue", "scenario", *_COLUMNS]
    measured = [r.divergence for r in results if r.divergence is not None]
    table = [[r.venue, r.scenario, *_cells(r.divergence)] for r in results if r.divergence is not None]
    totals = ["total", f"{len(measured)} runs", *[str(sum(max(0, v) for v in column))
                                                  for column in zip(*[_cells_int(d) for d in measured])]]
    if not measured:
        totals = ["total", "0 runs", *["0"] * len(_COLUMNS)]
    widths = [max(len(row[i]) for row in [header, *table, totals]) for i in range(len(header))]
    for r in results:  # the name columns also fit the unmeasured rows
        widths[0], widths[1] = max(widths[0], len(r.venue)), max(widths[1], len(r.scenario))
    lines = [_line(header, widths), _line(["-" * w for w in widths], widths)]
    for r in results:
        if r.divergence is None:
            lines.append(f"{r.venue:<{widths[0]}}  {r.scenario:<{widths[1]}}  {r.status}")
        else:
            lines.append(_line([r.venue, r.scenario, *_cells(r.divergence)], widths))
    lines += [_line(["-" * w for w in widths], widths), _line(totals, widths), "",
              "n/o = not observable (no final status line). Balances are not compared: the client does not",
              "expose its balances outside the process yet (not observable yet)."]
    notes = [f"  {r.venue}/{r.scenario}: {'; '.join(r.notes)}" for r in results if r.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def _cells_int(d: Divergence) -> list[int]:
    return [d.venue_orders, d.venue_fills, d.orders_unknown_to_client, d.orders_left_unknown, d.fills_missing, d.fills_duplicated,
            d.position_mismatches, d.limit_breaches, d.orders_left_working]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
