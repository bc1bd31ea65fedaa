"""``triotrade sweep``: the table is the same on a 2-worker Dask LocalCluster as serially, config
errors name file and key, Ctrl-C keeps what finished, random search is seeded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from backtest.sweep import Collector, SweepBase, run_sweep, windows
from backtest.sweep_cli import run_sweep_config
from backtest.sweep_config import load_sweep_config
from engine import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def sweep_file(tmp_path: Path, sweep: str, params: str = "fast = [60, 240]\nslow = { min = 480, max = 960, step = 480 }",
               split: str = "[sweep.split]\nfolds = 2\nout_of_sample = 0.3") -> Path:
    text = (CONFIGS / "sma_sweep.toml").read_text()
    base = text[:text.index("[sweep]")]
    path = tmp_path / "sweep.toml"
    path.write_text(f"{base}[sweep]\n{sweep}\n\n[sweep.params]\n{params}\n\n{split}\n")
    return path


def test_a_two_worker_local_cluster_gives_the_serial_table(tmp_path: Path, capsys: Any) -> None:
    path = sweep_file(tmp_path, 'metric = "sharpe"\nconstraints = ["max_drawdown_pct <= 25"]')
    assert run_sweep_config(path, out=tmp_path / "serial", serial=True, show_progress=False) == 0
    assert run_sweep_config(path, out=tmp_path / "dask", workers=2, show_progress=False) == 0
    assert "Dask LocalCluster, 2 worker processes" in capsys.readouterr().err
    for name in ("runs.csv", "folds.csv"):
        assert (tmp_path / "serial" / name).read_text() == (tmp_path / "dask" / name).read_text()
    serial = pq.read_table(tmp_path / "serial" / "runs.parquet").to_pylist()
    assert serial == pq.read_table(tmp_path / "dask" / "runs.parquet").to_pylist()
    assert len(serial) == 4 and [r["rank"] for r in serial] == [1, 2, 3, 4]
    assert {(r["fast"], r["slow"]) for r in serial} == {(60, 480), (60, 960), (240, 480), (240, 960)}
    html = (tmp_path / "serial" / "sweep.html").read_text()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    best = json.loads((tmp_path / "serial" / "sweep.json").read_text())
    assert best and json.dumps(best)


def test_the_config_shipped_runs(tmp_path: Path) -> None:
    assert run_sweep_config(CONFIGS / "sma_sweep.toml", out=tmp_path, serial=True, show_progress=False) == 0
    assert len((tmp_path / "runs.csv").read_text().splitlines()) == 1 + 9


@pytest.mark.parametrize(("sweep", "params", "key"), [
    ('metric = "nope"', "fast = [60]", "sweep.metric"),
    ('constraints = ["max_drawdown_pct <<= 3"]', "fast = [60]", "sweep.constraints"),
    ('method = "random"', "fast = [60, 120]", "sweep.samples"),
    ('metric = "sharpe"', "nope = [1, 2]", "sweep.params"),
    ('metric = "sharpe"', 'qty = ["0.5", "-1"]', "sweep.params"),
])
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, sweep: str, params: str, key: str) -> None:
    path = sweep_file(tmp_path, sweep, params, split="")
    with pytest.raises(ConfigError) as caught:
        load_sweep_config(path)
    assert str(path) in str(caught.value) and key in str(caught.value)


def test_random_search_is_seeded(tmp_path: Path) -> None:
    params = "fast = { min = 20, max = 200 }\nslow = { min = 400, max = 2000, step = 100 }"
    one = load_sweep_config(sweep_file(tmp_path, 'method = "random"\nsamples = 6\nseed = 3', params, "")).sweep
    two = load_sweep_config(sweep_file(tmp_path, 'method = "random"\nsamples = 6\nseed = 3', params, "")).sweep
    other = load_sweep_config(sweep_file(tmp_path, 'method = "random"\nsamples = 6\nseed = 4', params, "")).sweep
    assert one.trials() == two.trials() != other.trials()
    assert len({t.values for t in one.trials()}) == 6
    assert all(20 <= t.values[0] <= 200 and t.values[1] % 100 == 0 for t in one.trials())


def test_ctrl_c_keeps_the_finished_trials(tmp_path: Path) -> None:
    loaded = load_sweep_config(sweep_file(tmp_path, 'metric = "sharpe"', split=""))
    spec = loaded.sweep
    from backtest.sweep import data_span, resolve_data_path, run_task

    data = resolve_data_path(loaded.backtest.data.path, tmp_path)
    wins = windows(spec, data_span(data, None, None))
    base = SweepBase(loaded.table, loaded.backtest.source, data, spec.params)

    class StopsAfterTwo:
        def run(self, base: SweepBase, tasks: Any) -> Any:
            for n, task in enumerate(tasks):
                if n == 2:
                    raise KeyboardInterrupt
                yield run_task(base, task)

    run = run_sweep(spec, base, wins, StopsAfterTwo())
    assert run.interrupted and run.collector.done == 2
    assert [row.trial.index for row in sorted(run.collector.rows(), key=lambda r: r.trial.index)] == [0, 1]
    assert isinstance(run.collector, Collector)
