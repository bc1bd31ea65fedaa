"""Every shell command in README.md runs as written (or is on an explicit skip list with a reason).

The README is read when the tests are collected, so a command added, changed or removed there is
picked up without touching this file. Commands come from the fenced ``bash``/``sh``/``shell``/
``console`` blocks: ``\\``-continued lines are joined, ``# comments`` dropped and ``a && b`` run as
two commands. Each one runs as a user would run it, in a subprocess, offline, in a temporary
working directory that sees the repository's files (so ``configs/...`` resolves and ``--out``
lands in the temporary directory):

- ``triotrade`` is this tree's CLI (``python -m engine.cli``), ``python`` this interpreter;
- upper-case placeholders (``DIR``, ``PATH``, ``FILE``, ``PORT``) after an option get a small
  generated value (a generated bar data set, an accounts file, port 0);
- input files a ``data import`` names are generated (a few rows in the public CSV layouts);
- ``triotrade demo`` gets ``--live-seconds 2`` unless the README gives a duration, and a command
  that serves (``triotrade testnet``) must still be serving after :data:`SERVE_S` seconds;
- a command passes when it exits 0 without a traceback.

A serving command must also print its 127.0.0.1 address and accept a TCP connection there.

The untagged ``triotrade ...`` synopsis block (the "Command line" section) is checked too: every
subcommand it names exists and every option it names appears in that subcommand's ``--help``.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import trio

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
COMMAND_TIMEOUT_S = 120
SERVE_S = 2.0
DEMO_LIVE_SECONDS = "2"

SKIP: dict[str, str] = {
    "python3 -m venv": "makes the virtual environment these tests already run in",
    ". .venv/bin/activate": "enters the virtual environment these tests already run in",
    "python -m pip install": "installs the package into the environment; these tests run the tree itself",
    "python -m pytest": "the test suite itself",
    "triotrade run ": "live trading: needs the real venue (or a testnet at the configured URL) and API keys",
    "triotrade paper ": "needs the venue's market data at the URL in the config (a fixed port, not a test's)",
    "triotrade record ": "needs the venue's market data at the URL in the config (a fixed port, not a test's)",
    "triotrade backtest my_flow.toml --data data/dzengi-rec":
        "the user's own config, replaying the recording that the skipped `triotrade record` command makes",
}
"Command prefix -> why it is not run. Keep it small: every entry must still match a README command."


# ---------------------------------------------------------------------------------------------
# extracting commands
# ---------------------------------------------------------------------------------------------


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    blocks: list[tuple[str, str]] = []
    language: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and language is None:
            language, body = fence.group(1).lower(), []
        elif fence:
            blocks.append((language or "", "\n".join(body)))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def shell_commands(text: str) -> list[str]:
    """Every command of the README's shell blocks, normalised to single spaces."""
    commands: list[str] = []
    for language, body in fenced_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            part: list[str] = []
            for word in [*shlex.split(line, comments=True), "&&"]:
                if word != "&&":
                    part.append(word)
                elif part:
                    commands.append(shlex.join(part))
                    part = []
    return commands


def synopsis_lines(text: str) -> list[str]:
    """The ``triotrade ...`` lines of untagged blocks (the CLI synopsis), comments dropped."""
    lines: list[str] = []
    for language, body in fenced_blocks(text):
        if language:
            continue
        for line in body.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("triotrade"):
                lines.append(line)
    return lines


def skip_reason(command: str) -> str | None:
    return next((reason for prefix, reason in SKIP.items() if command.startswith(prefix)), None)


README_TEXT = README.read_text(encoding="utf-8")
COMMANDS = shell_commands(README_TEXT)
SYNOPSIS = synopsis_lines(README_TEXT)


# ---------------------------------------------------------------------------------------------
# a working directory with small generated inputs, shared by every command
# ---------------------------------------------------------------------------------------------

OUTPUT_NAMES = frozenset({"out", "runs", "data", "triotrade-demo", "build", "dist"})
"Where README commands write: never linked from the repository, so outputs stay in the temp dir."
COPIED = frozenset({"configs"})
"Copied rather than linked: paths in a config resolve next to the config file."

ACCOUNTS = """\
[[accounts]]
name = "readme"
api_key = "readme-key"
secret = "readme-secret-not-real"
balances = { USD = "100000", BTC = "2" }
"""


def _start_ms(name: str, default_ms: int) -> int:
    """The first moment of the month (or day) a public file's name gives (``…-2024-02.zip``)."""
    found = re.search(r"(\d{4})-(\d{2})(?:-(\d{2}))?", name)
    if found is None:
        return default_ms
    year, month, day = int(found.group(1)), int(found.group(2)), int(found.group(3) or 1)
    return int(datetime(year, month, day, tzinfo=timezone.utc).timestamp() * 1000)


def _klines_csv(rows: int = 120, start_ms: int = 1_704_067_200_000) -> str:
    lines = []
    for i in range(rows):
        price = 42_000 + (i * 37) % 500
        lines.append(f"{start_ms + i * 60_000},{price}.10,{price + 5}.25,{price - 5}.05,{price + 1}.20,"
                     f"1.{i % 100:02d}001,{start_ms + i * 60_000 + 59_999},0,1,0,0,0")
    return "\n".join(lines) + "\n"


def _trades_csv(rows: int = 200, start_ms: int = 1_704_153_600_000) -> str:
    lines = ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"]
    for i in range(rows):
        lines.append(f"{1000 + i},{42_000 + i % 17}.{i % 100:02d},0.{(i % 9) + 1:05d},0,{start_ms + i * 250},"
                     f"{'True' if i % 3 else 'False'},True")
    return "\n".join(lines) + "\n"


def _write_import_input(path: Path, kind: str) -> None:
    if kind == "klines":
        content = _klines_csv(start_ms=_start_ms(path.name, 1_704_067_200_000))
    else:
        content = _trades_csv(start_ms=_start_ms(path.name, 1_704_153_600_000))
    if path.suffix == ".zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(path.with_suffix(".csv").name, content)
        path.write_bytes(buffer.getvalue())
    else:
        path.write_text(content, encoding="utf-8")


def _import_inputs(words: Sequence[str]) -> list[tuple[str, str]]:
    """(file, kind) of the input files a ``triotrade data import`` command names."""
    if list(words[1:3]) != ["data", "import"] or "--kind" not in words:
        return []
    kind = words[words.index("--kind") + 1]
    return [(w, kind) for w in words if re.search(r"\.(csv|zip)$", w)]


def _repo_files() -> set[Path]:
    caches = {".git", "__pycache__", ".mypy_cache", ".pytest_cache"}
    return {p for p in REPO.rglob("*") if not caches.intersection(p.relative_to(REPO).parts)}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary directory that sees the repository's files, plus the generated inputs; the
    commands run in it must leave the repository itself as they found it."""
    before = _repo_files()
    yield _make_workdir(tmp_path_factory.mktemp("readme"))
    written = sorted(str(p.relative_to(REPO)) for p in _repo_files() - before)
    assert written == [], f"README commands wrote into the repository: {written}"


def _make_workdir(work: Path) -> Path:
    from backtest.data import DatasetWriter
    from backtest.generate import BTC_USD, ETH_USD, generate_bars

    for entry in REPO.iterdir():
        if entry.name in COPIED:  # a config's own relative paths (e.g. [report].out) land in the copy
            shutil.copytree(entry, work / entry.name, ignore=shutil.ignore_patterns(*OUTPUT_NAMES))
        elif entry.name not in OUTPUT_NAMES and (not entry.name.startswith(".") or entry.name == ".ci"):
            (work / entry.name).symlink_to(entry)
    writer = DatasetWriter(work / "_small_bars", [BTC_USD, ETH_USD])
    writer.add_bars(BTC_USD, **generate_bars(BTC_USD, 600, seed=11), interval_ns=60 * 10**9)
    writer.add_bars(ETH_USD, **generate_bars(ETH_USD, 600, seed=12), interval_ns=60 * 10**9)
    (work / "_accounts.toml").write_text(ACCOUNTS, encoding="utf-8")
    for command in COMMANDS:
        for name, kind in _import_inputs(shlex.split(command)):
            if not (work / name).exists():
                _write_import_input(work / name, kind)
    return work


# ---------------------------------------------------------------------------------------------
# running one command
# ---------------------------------------------------------------------------------------------

PLACEHOLDER_WORDS = frozenset({"DIR", "PATH", "FILE", "PORT", "CONFIG", "S", "N", "MS", "SECONDS"})
"Words the README uses for a value the reader fills in."
PLACEHOLDERS = {
    "--data": "_small_bars",
    "--market-data": "_small_bars",
    "--accounts": "_accounts.toml",
    "--port": "0",
    "--out": "out/readme",
}


def argv_for(command: str) -> list[str]:
    """The command as this interpreter runs it, placeholders filled in."""
    words = shlex.split(command)
    for i, word in enumerate(words):
        if i and word in PLACEHOLDER_WORDS:
            option = words[i - 1]
            if option not in PLACEHOLDERS:
                raise AssertionError(f"placeholder {word} after {option!r} has no test value: {command}")
            words[i] = PLACEHOLDERS[option]
    if words[0] == "triotrade":
        if words[1:2] == ["demo"] and "--live-seconds" not in words:
            words += ["--live-seconds", DEMO_LIVE_SECONDS]
        if words[1:2] == ["testnet"] and "--port" not in words:
            words += ["--port", "0"]
        return [sys.executable, "-m", "engine.cli", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    raise AssertionError(f"not a command this test knows how to run (add it to SKIP with a reason?): {command}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONSTARTUP", None)
    return env


def _failure(command: str, code: int | None, out: bytes, err: bytes) -> str:
    return (
        f"README command failed (exit {code}): {command}\n--- stdout (tail) ---\n"
        f"{out.decode(errors='replace')[-3000:]}\n--- stderr (tail) ---\n{err.decode(errors='replace')[-3000:]}"
    )


async def _announced_port(stream: trio.abc.ReceiveStream) -> int:
    """The port of the first ``http://127.0.0.1:PORT`` the server prints."""
    pattern = re.compile(rb"(?:http|ws)://127\.0\.0\.1:(\d+)")
    seen = b""
    while (match := pattern.search(seen)) is None:
        chunk = await stream.receive_some()
        assert chunk, f"the server printed no 127.0.0.1 address: {seen.decode(errors='replace')}"
        seen += chunk
    return int(match.group(1))


async def _serve_briefly(argv: list[str], cwd: Path, command: str) -> None:
    """A serving command must print its address, accept a connection there, still be serving
    after SERVE_S, then stop on SIGINT."""
    env = _env() | {"PYTHONUNBUFFERED": "1"}
    log = cwd / "_serving.stderr"
    with log.open("wb") as stderr:  # a file, not a pipe: a chatty server never blocks on it
        process = await trio.lowlevel.open_process(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert process.stdout is not None
        with trio.fail_after(60):
            port = await _announced_port(process.stdout)
            connection = await trio.open_tcp_stream("127.0.0.1", port)
            await connection.aclose()
        await trio.sleep(SERVE_S)
        assert process.poll() is None, _failure(command, process.returncode, b"", log.read_bytes())
        process.send_signal(signal.SIGINT)
        with trio.fail_after(20):
            await process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            await process.wait()
        if process.stdout is not None:
            await process.stdout.aclose()


def _ids(commands: Sequence[str]) -> list[str]:
    return [re.sub(r"\s+", " ", c)[:90] for c in commands]


def _command_params() -> list[object]:
    params: list[object] = []
    for command, name in zip(COMMANDS, _ids(COMMANDS)):
        reason = skip_reason(command)
        marks = [pytest.mark.skip(reason=f"{reason}: {command}")] if reason else []
        params.append(pytest.param(command, id=name, marks=marks))
    return params


@pytest.mark.parametrize("command", _command_params())
async def test_readme_command_runs(command: str, workdir: Path) -> None:
    argv = argv_for(command)
    if shlex.split(command)[1:2] == ["testnet"]:
        await _serve_briefly(argv, workdir, command)
        return
    with trio.fail_after(COMMAND_TIMEOUT_S):
        result = await trio.run_process(argv, cwd=workdir, env=_env(), capture_stdout=True,
                                        capture_stderr=True, check=False)
    assert result.returncode == 0, _failure(command, result.returncode, result.stdout, result.stderr)
    assert b"Traceback (most recent call last)" not in result.stderr, _failure(
        command, result.returncode, result.stdout, result.stderr
    )


async def test_a_serving_command_runs_for_a_couple_of_seconds(workdir: Path) -> None:
    """The path a README ``triotrade testnet ...`` line takes (none is fenced today)."""
    command = "triotrade testnet dzengi --accounts FILE"
    with trio.fail_after(COMMAND_TIMEOUT_S):
        await _serve_briefly(argv_for(command), workdir, command)


def test_the_readme_has_commands_and_the_skip_list_is_current() -> None:
    assert len(COMMANDS) >= 5, "no shell commands found in README.md's fenced blocks"
    stale = [prefix for prefix in SKIP if not any(c.startswith(prefix) for c in COMMANDS)]
    assert stale == [], f"SKIP entries that match no README command any more: {stale}"


# ---------------------------------------------------------------------------------------------
# the synopsis: subcommands exist, options are real
# ---------------------------------------------------------------------------------------------


def synopsis_checks(line: str) -> list[tuple[list[str], list[str]]]:
    """(subcommand words, options the line names) for one synopsis line; ``a|b`` words expand."""
    words = line.split()[1:]
    path: list[list[str]] = [[]]
    for word in words:
        if word.startswith(("-", "[")) or not re.fullmatch(r"[a-z][a-z0-9|-]*", word):
            break
        path = [p + [alt] for p in path for alt in word.split("|")]
    options = sorted(set(re.findall(r"--[a-z][a-z0-9-]*", line)))
    return [(p, options) for p in path]


def _help_text(words: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from engine.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code in (0, None), f"`triotrade {' '.join(words)} --help` failed"
    return capsys.readouterr().out


@pytest.mark.parametrize("line", SYNOPSIS, ids=_ids(SYNOPSIS))
def test_synopsis_line_matches_the_cli(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    for words, options in synopsis_checks(line):
        text = _help_text(words, capsys)
        missing = [o for o in options if o not in text]
        assert missing == [], f"`triotrade {' '.join(words)} --help` does not know {missing} (README: {line})"


def test_readme_command_extraction() -> None:
    text = (
        "```bash\n"
        "triotrade backtest a.toml   # note\n"
        "triotrade data import --kind klines x \\\n    y.zip --out d\n"
        "python -m pip install -e . && triotrade demo\n"
        "```\n"
        "```toml\nname = 'x'\n```\n"
        "```\ntriotrade run CONFIG [--duration S]   # live\n```\n"
    )
    assert shell_commands(text) == [
        "triotrade backtest a.toml",
        "triotrade data import --kind klines x y.zip --out d",
        "python -m pip install -e .",
        "triotrade demo",
    ]
    assert synopsis_lines(text) == ["triotrade run CONFIG [--duration S]"]
    assert synopsis_checks("triotrade testnet dzengi|ekiden --accounts FILE [--fault-...]") == [
        (["testnet", "dzengi"], ["--accounts", "--fault-"]),
        (["testnet", "ekiden"], ["--accounts", "--fault-"]),
    ]
    assert argv_for("triotrade demo")[-2:] == ["--live-seconds", DEMO_LIVE_SECONDS]
    assert argv_for("triotrade backtest c.toml --data DIR")[-1] == "_small_bars"
    with pytest.raises(AssertionError, match="not a command"):
        argv_for("curl http://example.invalid")


def test_synopsis_check_sees_an_unknown_subcommand_or_option(capsys: pytest.CaptureFixture[str]) -> None:
    [(words, options)] = synopsis_checks("triotrade demo [--out DIR] [--no-such-flag]")
    text = _help_text(words, capsys)
    assert "--out" in text and "--no-such-flag" not in text
    with pytest.raises(AssertionError, match="no-such-command --help` failed"):
        _help_text(["no-such-command"], capsys)
