"""Run the probe against a local testnet under one fault and measure the divergence.

One *session*: start ``triotrade testnet <venue>`` as a subprocess (a free port, seeded, the
fault's flags, ``--state FILE``), write a run config for the probe strategy, start ``triotrade run``
as a subprocess, apply the scenario's process faults (``kill -9`` of the client and a restart;
SIGSTOP/SIGCONT of the testnet; a testnet stopped and started again on the same port and state
file), stop the client with SIGINT (``cancel_on_exit``), stop the testnet (SIGTERM: it writes its
state file), then read the venue's ledger from that file and the client's journal and final
status line, and :func:`~tests.campaign.compare.compare` them.

Bounded: every wait has a deadline, every process is SIGKILLed in ``finally``, only 127.0.0.1.
The processes are ``python -m engine.cli`` with this checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path

import attrs

from engine import Instrument
from venues.dzengi import testnet as dzengi_testnet
from venues.ekiden import testnet as ekiden_testnet
from venues.leverj import demo_credentials as leverj_credentials
from venues.leverj import testnet as leverj_testnet
from venues.magnr import testnet as magnr_testnet

from .compare import Divergence, compare, orders_unknown_to_client
from .ledger import LEDGER_READERS, LedgerError, read_client_view, read_state_ledger

__all__ = ["Scenario", "SCENARIOS", "SessionResult", "HarnessUnavailable", "VENUE_SETUP", "run_session",
           "run_campaign", "format_table", "session_counters", "cli_supports", "STARTING_BALANCES",
           "NO_STALE_SETTING"]

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "campaign" / "probe.py"
ACCOUNT = "campaign"
API_KEY = "campaign-key"
SECRET = "campaign-secret"  # a throw-away test key of the local testnet, never printed
PROBE_QTY = Decimal("0.01")
STARTING_BALANCES = {"USD": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("20")}
"The campaign account's balances when a session starts."
SHUTDOWN_GRACE_S = 10.0
"""The client's ``[run] shutdown_grace_s``: settling a stop's cancels and queries on a venue that
allows 30 private requests a minute (Ekiden), under a fault that spends part of them, takes seconds."""
STOP_GRACE_S = 4 * SHUTDOWN_GRACE_S
"How long a SIGINTed client may take to cancel, flush and exit before it is SIGKILLed (two grace periods and more)."


_SETTLED = frozenset({"filled", "canceled", "rejected", "expired", "denied"})
"Journal statuses after which an order can no longer change."


class HarnessUnavailable(RuntimeError):
    """A CLI feature the harness needs is missing (the session cannot run)."""


def _leverj_instruments(market: str) -> list[Instrument]:
    """The testnet's instruments of one Leverj market, named as that market's gateway names them."""
    venue = f"leverj-{market}"
    return [attrs.evolve(m.instrument, venue=venue) for m in leverj_testnet.default_markets()[market]]


def _leverj_keys() -> tuple[str, str]:
    pair = leverj_credentials()  # a throw-away secp256k1 key made now: the api key is its address
    return pair.api_key, pair.secret


def _leverj_account(api_key: str, secret: str) -> str:
    del secret  # the server recovers the signer: it never holds the secret
    return f'account_id = "{api_key}"\napi_key = "{api_key}"\n'


@attrs.frozen
class VenueSetup:
    """How to point the client at one venue's testnet."""

    symbol: str
    ws_path: str
    env_prefix: str
    instruments: Callable[[], Sequence[Instrument]]
    "The instruments the testnet lists (to replay the client's journal)."
    ledger_over_rest: bool = False
    "Read the venue's ledger over its REST API before the stop (its ``--state`` file does not hold its trades).\n\n    Such a venue (Magnr) publishes no balances: its balances column is not observable."
    options: str = ""
    "More ``[venues.options]`` lines (``{url}`` and ``{journal}`` filled in); no ``ws_url`` when ``ws_path`` is empty."
    package: str = ""
    """The venue package (``triotrade testnet <package>``, ``[[venues]] venue``) when one package
    serves several markets, each its own engine venue (Leverj: ``leverj-spot``, ``leverj-futures``)."""
    balances: Mapping[str, Decimal] = attrs.field(factory=lambda: dict(STARTING_BALANCES))
    "The campaign account's balances when a session starts."
    keys: Callable[[], tuple[str, str]] = lambda: (API_KEY, SECRET)
    "The account's ``(api_key, secret)`` (a venue whose api key is derived from its secret makes a pair)."
    risk_currency: str = "USD"
    """``[risk] currency`` of the client: notional limits are valued in it, so some market the venue
    lists must quote the venue's settlement asset in it (Leverj settles in DAI and quotes nothing in USD)."""
    account_lines: Callable[[str, str], str] = lambda api_key, secret: f'api_key = "{api_key}"\nsecret = "{secret}"\n'
    "The accounts file's identity lines of the campaign account (the server side of the key)."


VENUE_SETUP = {
    "dzengi": VenueSetup(symbol="BTC/USD", ws_path="/connect", env_prefix="DZENGI",
                         instruments=dzengi_testnet.default_instruments),
    "ekiden": VenueSetup(symbol="BTC-USD", ws_path="/v1/stream", env_prefix="EKIDEN",
                         instruments=ekiden_testnet.default_instruments),
    "magnr": VenueSetup(symbol="ItBit-XBTUSD", ws_path="", env_prefix="MAGNR",
                        instruments=magnr_testnet.default_instruments, ledger_over_rest=True, options=(
        'ticker_urls = {{ ItBit = "{url}/itbit" }}\ntonce_file = "{journal}.tonce"\n'
        "poll_fast_s = 0.2\npoll_slow_s = 0.5\nticker_poll_s = 0.2\n")),
    **{f"leverj-{market}": VenueSetup(
        symbol=symbol, ws_path="", env_prefix="LEVERJ", package="leverj",
        instruments=partial(_leverj_instruments, market), options=f'market = "{market}"\n',
        balances={"ETH": Decimal("20"), "DAI": Decimal("100000"), "L2": Decimal("0")},
        keys=_leverj_keys, account_lines=_leverj_account, risk_currency="DAI") for market, symbol in (("spot", "ETHDAI"), ("futures", "BTCUSD"))},
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
    venue_restart: bool = False
    "Stop the testnet (SIGTERM) in the middle of the session and start it again on its port and state."
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
    Scenario("venue-restart", venue_restart=True),
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
    stale_reported: bool | None = None
    "Venue-silent scenarios: whether the client reported the venue stale (None: not such a scenario)."


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
    setup = VENUE_SETUP.get(venue)
    for args in (("testnet", setup.package or venue if setup is not None else venue, "--help"), ("run", "--help")):
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


def _spawn(argv: Sequence[str], out: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout to ``out`` and stderr to ``out``.err."""
    with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
        return subprocess.Popen(list(argv), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)


@contextmanager
def _client(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """``proc``, SIGKILLed on exit if still alive."""
    try:
        yield proc
    finally:
        _kill(proc)


_URL = re.compile(rb"testnet REST\s+(http://127\.0\.0\.1:\d+)/")


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the testnet keeps it across a restart)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


class _Testnet:
    """The venue: one ``triotrade testnet`` process at a time on one port, keeping one state file."""

    def __init__(self, argv: Sequence[str], workdir: Path) -> None:
        self.argv = list(argv)
        self.workdir = workdir
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the testnet; its base URL once it serves."""
        out = self.workdir / f"testnet-{self.starts}.out"
        self.proc = _spawn(self.argv, out, _env())
        self.starts += 1
        return _wait_for_url(self.proc, out)

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, notes: list[str]) -> None:
        """SIGTERM (the testnet writes its state file) and wait; SIGKILL if it does not exit."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            if proc is not None:
                notes.append(f"testnet had exited ({proc.returncode})")
            return
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            notes.append("testnet did not exit after SIGTERM (killed; its state file may be older)")
            _kill(proc)

    def close(self) -> None:
        _kill(self.proc)


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


UP_TIMEOUT_S = 60.0
"How long a client may take to come up (its first status line) before the session goes on anyway."


def _wait_until_up(client: subprocess.Popen[bytes], out: Path, notes: list[str]) -> None:
    """Wait for the client's first ``[status]`` line (its strategies run): a session's trading time
    starts then, so a slow start-up (a rate-limit fault) does not eat it. Notes how long it took;
    raises :class:`HarnessUnavailable` if the client refuses its command line or config (exit 2)."""
    started = time.monotonic()
    deadline = started + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if b"[status]" in out.with_suffix(".err").read_bytes():  # status lines are logged
            notes.append(f"up after {time.monotonic() - started:.0f}s")
            return
        code = client.poll()
        if code == 2:
            err = out.with_suffix(".err").read_text(errors="replace").strip().splitlines()
            raise HarnessUnavailable(f"the client refused its config: {err[-1][-300:] if err else 'exit 2'}")
        if code is not None:
            return
        time.sleep(0.2)
    notes.append(f"client not up {UP_TIMEOUT_S:.0f}s after start")


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

def _write_accounts(path: Path, setup: VenueSetup, api_key: str, secret: str) -> None:
    balances = ", ".join(f'{asset} = "{qty}"' for asset, qty in setup.balances.items())
    path.write_text(
        "[[accounts]]\n"
        f'name = "{ACCOUNT}"\n'
        + setup.account_lines(api_key, secret) +
        f"balances = {{ {balances} }}\n"
    )


STALE_AFTER_S = 10.0
"``[run] stale_after_s`` of the client in a venue-silent session (well inside the silence)."


def _write_config(path: Path, venue: str, url: str, journal: Path, scenario: Scenario, every_trades: int,
                  report_dir: Path, *, stale_after: bool = False) -> None:
    setup = VENUE_SETUP[venue]
    host = url.removeprefix("http://")
    instrument = f"{venue}:{setup.symbol}"
    limit = (f'[risk.instruments."{instrument}"]\nmax_position_qty = "{scenario.position_limit}"\n'
             if scenario.position_limit is not None else "")
    path.write_text(
        f'name = "campaign-{venue}-{scenario.name}"\n\n'
        "[[venues]]\n"
        f'venue = "{setup.package or venue}"\n'
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
        f'currency = "{setup.risk_currency}"\n'
        'max_order_notional = "5000"\n\n'
        f"{limit}\n"
        "[run]\n"
        "cancel_on_exit = true\n"
        "status_interval_s = 2\n"
        f"shutdown_grace_s = {SHUTDOWN_GRACE_S:g}\n"
        f'journal = "{journal}"\n'
        f'report_dir = "{report_dir}"\n'
        + (f"stale_after_s = {STALE_AFTER_S}\n" if stale_after else "")
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
    state = workdir / "venue-state.json"
    api_key, secret = setup.keys()
    _write_accounts(accounts, setup, api_key, secret)
    for stale_file in (journal, state):
        stale_file.unlink(missing_ok=True)
    notes: list[str] = []
    testnet = _Testnet(_cli("testnet", setup.package or venue, "--accounts", str(accounts), "--port",
                            str(_free_port()), "--seed", str(seed), "--state", str(state),
                            *scenario.testnet_flags(seconds)), workdir)
    client_env = _env({f"{setup.env_prefix}_API_KEY": api_key, f"{setup.env_prefix}_SECRET": secret})
    try:
        url = testnet.start()
        def configure(stale_after: bool) -> None:
            _write_config(config, venue, url, journal, scenario, every_trades, workdir / "report",
                          stale_after=stale_after)

        configure(bool(scenario.silent_s))
        last_out = _drive_client(scenario, seconds, workdir, config, client_env, testnet, notes, configure)
        rest_ledger = LEDGER_READERS[venue](url, api_key, secret, [setup.symbol]) if setup.ledger_over_rest else None
        testnet.stop(notes)
    finally:
        testnet.close()
    instruments = {inst.key: inst for inst in setup.instruments()}
    ledger = rest_ledger or read_state_ledger(state, venue, ACCOUNT, symbols={i.symbol for i in instruments.values()})
    client = read_client_view(journal, last_out.read_text(errors="replace"), instruments=instruments,
                              starting_balances=None if setup.ledger_over_rest else setup.balances)
    if not client.journal:
        notes.append("journal empty or missing")
    unsettled = [r for r in client.journal if r.status not in _SETTLED]
    if unsettled:
        notes.append(f"{len(unsettled)} journal row(s) not terminal at the end "
                     f"({', '.join(sorted({r.status for r in unsettled}))})")
    if scenario.silent_s:
        notes.append("stale reported" if _reports_stale(workdir) else "stale NOT reported")
    divergence = compare(ledger, client, position_limit=scenario.position_limit)
    for order in orders_unknown_to_client(ledger, client.journal):  # what to look for, when it happens
        notes.append(f"venue order {order.venue_order_id} (client id {order.client_order_id or '-'}, "
                     f"{'open' if order.open else 'done'}) is in no journal row; the journal has "
                     f"{len(client.journal)} row(s), workdir {workdir}")
    return SessionResult(venue, scenario.name, "ok", divergence, tuple(dict.fromkeys(notes)), stale_reported=
                         _reports_stale(workdir) if scenario.silent_s else None)


_STALE = re.compile(r"venue_stale|\bstale\b", re.IGNORECASE)


def _reports_stale(workdir: Path) -> bool:
    """True if the last client's log or output says a venue went stale."""
    outs = sorted(workdir.glob("client-*.out"), key=lambda p: int(p.stem.split("-")[1]))
    return bool(outs) and any(_STALE.search(p.read_text(errors="replace"))
                              for p in (outs[-1], outs[-1].with_suffix(".err")))


NO_STALE_SETTING = "the client has no [run] stale_after_s: its default applies"


def _start_client(config: Path, out: Path, env: dict[str, str], configure: Callable[[bool], None],
                  notes: list[str]) -> subprocess.Popen[bytes]:
    """Start ``triotrade run`` and wait until it is up; a client that does not know
    ``[run] stale_after_s`` yet runs without it."""
    client = _spawn(_cli("run", str(config)), out, env)
    try:
        _wait_until_up(client, out, notes)
    except HarnessUnavailable as exc:
        if "stale_after_s" not in str(exc):
            raise
        notes.append(NO_STALE_SETTING)
        configure(False)
        return _start_client(config, out, env, configure, notes)
    return client


def _drive_client(scenario: Scenario, seconds: float, workdir: Path, config: Path, env: dict[str, str],
                  testnet: _Testnet, notes: list[str], configure: Callable[[bool], None]) -> Path:
    """Run the client(s) for the session; returns the stdout file of the last incarnation."""
    slice_s = seconds / (scenario.kills + 1)
    for incarnation in range(scenario.kills + 1):
        out = workdir / f"client-{incarnation}.out"
        with _client(_start_client(config, out, env, configure, notes)) as client:
            if incarnation < scenario.kills:
                _sleep_watching(slice_s, client, notes)
                client.kill()  # kill -9: no cleanup, no cancel, no journal flush beyond what is written
                client.wait(timeout=10)
                continue
            if scenario.silent_s:
                _sleep_watching(slice_s / 2, client, notes)
                testnet.signal(signal.SIGSTOP)
                try:
                    _sleep_watching(scenario.silent_s, client, notes)
                finally:
                    testnet.signal(signal.SIGCONT)
                _sleep_watching(slice_s / 2, client, notes)
            elif scenario.venue_restart:
                _sleep_watching(slice_s / 2, client, notes)
                testnet.stop(notes)
                _sleep_watching(1.0, client, notes)  # the venue is away for a moment
                testnet.start()
                _sleep_watching(slice_s / 2, client, notes)
            else:
                _sleep_watching(slice_s, client, notes)
            _stop(client, notes)
    return out


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------

def run_campaign(cases: Sequence[tuple[str, Scenario]], seconds: float, workdir: Path, *,
                 seed: int = 1, every_trades: Mapping[str, int] | None = None, workers: int = 1,
                 progress: Callable[[SessionResult], None] | None = None) -> list[SessionResult]:
    """Every (venue, scenario) session, ``workers`` at a time, each in its own folder under
    ``workdir``; the results in the order of ``cases`` (whatever order they finished in)."""
    steps = every_trades or {}

    def one(case: tuple[str, Scenario]) -> SessionResult:
        venue, scenario = case
        result = run_session(venue, scenario, seconds, workdir / venue / scenario.name, seed=seed,
                             every_trades=steps.get(venue, 10))
        if progress is not None:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, cases))


_COLUMNS = ("venue orders", "venue fills", "unknown to client", "left UNKNOWN", "fills missing",
            "fills duplicated", "position diffs", "balance diffs", "limit breaches", "left working",
            "stale unreported")


def _values(r: SessionResult) -> list[int]:
    d = r.divergence
    assert d is not None
    return [d.venue_orders, d.venue_fills, d.orders_unknown_to_client, d.orders_left_unknown, d.fills_missing,
            d.fills_duplicated, d.position_mismatches, d.balance_mismatches, d.limit_breaches,
            d.orders_left_working, 1 if r.stale_reported is False else 0]


def session_counters(r: SessionResult) -> dict[str, int]:
    """The divergence counters of a measured session by column name (all 0 when the books agree)."""
    return dict(zip(_COLUMNS[2:], _values(r)[2:]))


def format_table(results: Sequence[SessionResult]) -> str:
    """One row per (venue, scenario) with the counters, then the totals and the notes.

    ``n/o``: not observable (the client printed no final positions).
    """
    header = ["venue", "scenario", *_COLUMNS]
    measured = [r for r in results if r.divergence is not None]
    table = [[r.venue, r.scenario, *_cells(_values(r))] for r in measured]
    totals = ["total", f"{len(measured)} runs",
              *[str(sum(max(0, v) for v in column)) for column in zip(*[_values(r) for r in measured])]]
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
            lines.append(_line([r.venue, r.scenario, *_cells(_values(r))], widths))
    lines += [_line(["-" * w for w in widths], widths), _line(totals, widths), "",
              "n/o = not observable (no final status line). Balances: the venue's against those the",
              "client's journal implies (starting balances plus every journaled fill)."]
    notes = [f"  {r.venue}/{r.scenario}: {'; '.join(r.notes)}" for r in results if r.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def _cells(values: Sequence[int]) -> list[str]:
    return ["n/o" if v < 0 else str(v) for v in values]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
