"""The ``[sweep]`` table of a backtest config: which parameters to vary, how, and how to rank runs.

.. code-block:: toml

    [sweep]
    method = "grid"                  # "grid" (every combination) or "random"
    samples = 50                     # random: how many parameter sets
    seed = 1                         # random: the sampler's seed (default: the config's seed)
    metric = "sharpe"                # any numeric figure of the report (see METRICS)
    direction = "maximize"           # default: minimize for drawdowns, fees, errors; else maximize
    constraints = ["max_drawdown_pct <= 20", "n_trades >= 10"]
    heatmap = ["fast", "slow"]       # two swept parameters (default: the first two)
    top = 5                          # equity curves drawn for the best runs
    out = "out/sma-sweep"            # folder for the results (relative to this file)

    [sweep.params]                   # "<strategy id>.<param>" (or just "<param>" with one strategy)
    fast = [60, 120, 240]            # a list of values
    slow = { min = 480, max = 1440, step = 240 }    # a range: grid by step, random uniform
    qty = { min = "0.1", max = "1.0", step = "0.1" }

    [sweep.split]                    # walk-forward / out-of-sample
    folds = 3                        # the period cut into 3 consecutive windows
    out_of_sample = 0.3              # the last 30 % of each window is held out
    anchored = false                 # true: every in-sample part starts at the period's start

Every problem is a :class:`engine.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import attrs

from engine import ConfigError, from_mapping, load_toml, params_class

from .config import BacktestConfig, backtest_config_from_mapping, resolve_strategies
from .report import Stats

__all__ = ["METRICS", "LOWER_IS_BETTER", "Param", "Constraint", "SweepSpec", "Trial", "load_sweep_config",
           "SweepConfigFile", "apply_values"]

_EXCLUDED: Final = frozenset({"seed", "start_ns", "end_ns", "max_drawdown_peak_ns", "max_drawdown_trough_ns",
                              "wall_time_s", "events_per_s"})
_NUMERIC_TYPES: Final = frozenset({"int", "float", "Decimal", "int | None", "float | None", "Decimal | None"})

METRICS: Final[tuple[str, ...]] = tuple(
    f.name for f in attrs.fields(Stats) if str(f.type) in _NUMERIC_TYPES and f.name not in _EXCLUDED
)
"Figures of a run's report that a sweep can rank by or constrain (wall-clock figures are left out)."

LOWER_IS_BETTER: Final = frozenset({"max_drawdown", "max_drawdown_pct", "fees", "n_denied", "n_rejected",
                                    "n_strategy_errors", "avg_trade_duration_ns"})
"Metrics ranked smallest first unless ``direction`` says otherwise."

MAX_GRID: Final = 100_000
_RANGE_KEYS: Final = frozenset({"min", "max", "step", "log"})

Value = int | Decimal | str | bool


@attrs.frozen
class SplitTable:
    """``[sweep.split]`` as written."""

    folds: int = 1
    out_of_sample: Decimal = Decimal(0)
    anchored: bool = False


@attrs.frozen
class SweepTable:
    """``[sweep]`` as written (checked for types and unknown keys by :func:`engine.from_mapping`)."""

    params: dict[str, Any]
    method: Literal["grid", "random"] = "grid"
    samples: int | None = None
    seed: int | None = None
    metric: str = "sharpe"
    direction: Literal["maximize", "minimize"] | None = None
    constraints: list[str] = attrs.Factory(list)
    top: int = 5
    heatmap: list[str] = attrs.Factory(list)
    out: Path | None = None
    split: SplitTable = attrs.Factory(SplitTable)


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@attrs.frozen
class Param:
    """One swept parameter: a list of values or a range."""

    name: str
    "As written in ``[sweep.params]`` (flattened: ``sma.fast``)."
    strategy: int
    "Index of the strategy in ``[[strategies]]``."
    field: str
    "The parameter's name in the strategy's ``Params``."
    values: tuple[Value, ...] | None = None
    low: int | Decimal | None = None
    high: int | Decimal | None = None
    step: int | Decimal | None = None
    log: bool = False

    @property
    def is_int(self) -> bool:
        return self.values is None and all(isinstance(v, int) for v in (self.low, self.high, self.step)
                                           if v is not None)

    @property
    def draw_step(self) -> int | Decimal:
        """The grid random draws land on: ``step``, else 1 for integers, else two decimal places finer
        than ``min`` and ``max`` are written with."""
        if self.step is not None:
            return self.step
        if self.is_int:
            return 1
        assert self.low is not None and self.high is not None
        return Decimal(1).scaleb(-(max(_places(Decimal(self.low)), _places(Decimal(self.high))) + 2))

    def grid(self) -> tuple[Value, ...]:
        """Every value of a list, or ``min, min + step, ...`` up to ``max`` (exact)."""
        if self.values is not None:
            return self.values
        assert self.low is not None and self.high is not None and self.step is not None
        count = int((Decimal(self.high) - Decimal(self.low)) // Decimal(self.step)) + 1
        return tuple(self.low + k * self.step for k in range(count))

    def draw(self, rng: random.Random) -> Value:
        """One random value: a list's values equally likely; a range uniform (or log-uniform) on its grid."""
        if self.values is not None:
            return self.values[rng.randrange(len(self.values))]
        assert self.low is not None and self.high is not None
        step = self.draw_step
        count = int((Decimal(self.high) - Decimal(self.low)) // Decimal(step)) + 1
        if self.log:
            u = rng.uniform(math.log(float(self.low)), math.log(float(self.high)))
            k = min(count - 1, max(0, round((math.exp(u) - float(self.low)) / float(step))))
        else:
            k = rng.randrange(count)
        return self.low + k * step


_OPS: Final = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
               ">": lambda a, b: a > b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_CONSTRAINT = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")


@attrs.frozen
class Constraint:
    """``metric op number``: a run that breaks it is listed but ranked after every run that keeps all."""

    metric: str
    op: str
    threshold: Decimal
    text: str

    def holds(self, value: Any) -> bool:
        """Exact for integer and decimal figures; a missing figure (``n/a``) never holds."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if isinstance(value, float):
            return bool(_OPS[self.op](value, float(self.threshold)))
        return bool(_OPS[self.op](Decimal(value), self.threshold))


@attrs.frozen
class Trial:
    """One parameter set of a sweep."""

    index: int
    values: tuple[Value, ...]
    "In the order of :attr:`SweepSpec.params`."


@attrs.frozen
class SweepSpec:
    """A resolved ``[sweep]`` table."""

    source: str
    params: tuple[Param, ...]
    method: str
    samples: int | None
    seed: int
    metric: str
    maximize: bool
    constraints: tuple[Constraint, ...]
    heatmap: tuple[str, str] | None
    top: int
    out: Path | None
    folds: int
    out_of_sample: Decimal
    anchored: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def split(self) -> bool:
        return self.out_of_sample > 0 or self.folds > 1

    def trials(self) -> list[Trial]:
        """Grid: every combination, the first parameter varying slowest. Random: ``samples`` distinct
        draws from a generator seeded with ``seed`` (fewer if the space has fewer points)."""
        if self.method == "grid":
            grids = [p.grid() for p in self.params]
            return [Trial(i, values) for i, values in enumerate(itertools.product(*grids))]
        assert self.samples is not None
        rng = random.Random(self.seed)
        seen: set[tuple[tuple[str, Value], ...]] = set()
        trials: list[Trial] = []
        attempts = 0
        while len(trials) < self.samples and attempts < self.samples * 50:
            attempts += 1
            values = tuple(p.draw(rng) for p in self.params)
            key = tuple(_typed_key(v) for v in values)
            if key in seen:
                continue
            seen.add(key)
            trials.append(Trial(len(trials), values))
        return trials


def _typed_key(value: Value) -> tuple[str, Value]:
    """Values that compare equal but differ in type (``1`` and ``True``) stay apart."""
    return (type(value).__name__, value)


@attrs.frozen
class SweepConfigFile:
    """A config with a ``[sweep]`` table: the backtest it varies, its raw table, and the sweep."""

    backtest: BacktestConfig
    table: dict[str, Any]
    "The config's TOML table without ``[sweep]`` (what each run starts from)."
    sweep: SweepSpec


def load_sweep_config(path: str | Path) -> SweepConfigFile:
    """Read a backtest config with a ``[sweep]`` table; raises :class:`ConfigError` naming file and key."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError("file not found", path=source)
    table = load_toml(path)
    raw_sweep = table.pop("sweep", None)
    backtest = backtest_config_from_mapping(table, path)
    if raw_sweep is None:
        raise ConfigError("no [sweep] table: add one naming the parameters to vary (see the README's "
                          "parameter sweeps section)", path=source, key="sweep")
    if not isinstance(raw_sweep, Mapping):
        raise ConfigError("must be a table", path=source, key="sweep")
    written = from_mapping(SweepTable, raw_sweep, source=source, key="sweep", base_dir=path.parent)
    specs = resolve_strategies(backtest)
    params = _params(written.params, backtest, specs, source)
    spec = _resolve(written, params, backtest, source)
    _check_values(spec, table, specs, source)
    return SweepConfigFile(backtest=backtest, table=table, sweep=spec)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and not (set(value) & {"min", "max"}):
            yield from _flatten(value, name)
        else:
            yield name, value


def _number(value: Any, source: str, key: str) -> int | Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ConfigError(f"expected a number, got {value!r}", path=source, key=key)
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            raise ConfigError(f"expected a number, got {value!r}", path=source, key=key) from None
        if not number.is_finite():
            raise ConfigError(f"expected a finite number, got {value!r}", path=source, key=key)
        return number
    return value


def _params(table: Mapping[str, Any], backtest: BacktestConfig, specs: Sequence[Any], source: str) -> tuple[Param, ...]:
    if not table:
        raise ConfigError("name at least one parameter to vary, e.g. fast = [10, 20, 40]", path=source,
                          key="sweep.params")
    ids = [s.id for s in specs]
    params: list[Param] = []
    for name, value in _flatten(table):
        key = f"sweep.params.{name}"
        parts = name.split(".")
        if len(parts) == 1 and len(ids) == 1:
            index, field = 0, parts[0]
        elif len(parts) == 2 and parts[0] in ids:
            index, field = ids.index(parts[0]), parts[1]
        else:
            how = ("<param> or <strategy id>.<param>" if len(ids) == 1 else "<strategy id>.<param>")
            raise ConfigError(f"cannot tell which strategy's parameter this is: write it as {how} "
                              f"(strategy ids: {', '.join(ids)})", path=source, key=key)
        known = [f.name for f in attrs.fields(params_class(specs[index].cls))]
        if field not in known:
            raise ConfigError(f"strategy {ids[index]!r} ({backtest.strategies[index].cls}) has no parameter "
                              f"{field!r}; its parameters: {', '.join(known)}", path=source, key=key)
        if any(p.strategy == index and p.field == field for p in params):
            raise ConfigError("this parameter is swept twice", path=source, key=key)
        params.append(_param(name, index, field, value, source, key))
    return tuple(params)


def _param(name: str, index: int, field: str, value: Any, source: str, key: str) -> Param:
    if isinstance(value, list):
        if not value:
            raise ConfigError("the list of values is empty", path=source, key=key)
        for item in value:
            if isinstance(item, (list, Mapping)) or item is None:
                raise ConfigError(f"values must be numbers, strings or booleans, got {item!r}", path=source, key=key)
        if len({_typed_key(v) for v in value}) != len(value):
            raise ConfigError("a value is listed twice", path=source, key=key)
        return Param(name, index, field, values=tuple(value))
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a list of values or a range {{ min = ..., max = ..., step = ... }}, "
                          f"got {value!r}", path=source, key=key)
    unknown = sorted(set(value) - _RANGE_KEYS)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in a range (expected min, max, step, log)", path=source,
                          key=f"{key}.{unknown[0]}")
    for needed in ("min", "max"):
        if needed not in value:
            raise ConfigError(f"a range needs {needed}", path=source, key=f"{key}.{needed}")
    low = _number(value["min"], source, f"{key}.min")
    high = _number(value["max"], source, f"{key}.max")
    step = _number(value["step"], source, f"{key}.step") if "step" in value else None
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"expected true or false, got {log!r}", path=source, key=f"{key}.log")
    if not low < high:
        raise ConfigError(f"min ({low}) must be below max ({high})", path=source, key=f"{key}.min")
    if step is not None and not step > 0:
        raise ConfigError(f"step must be positive, got {step}", path=source, key=f"{key}.step")
    if log and not low > 0:
        raise ConfigError("a log range needs min > 0", path=source, key=f"{key}.min")
    return Param(name, index, field, low=low, high=high, step=step, log=log)


def _resolve(written: SweepTable, params: tuple[Param, ...], backtest: BacktestConfig, source: str) -> SweepSpec:
    method = written.method
    if method == "grid":
        for p in params:
            if p.values is None and p.step is None:
                raise ConfigError("a grid needs a step for a range (or use method = \"random\")", path=source,
                                  key=f"sweep.params.{p.name}.step")
        size = math.prod(len(p.grid()) for p in params)
        if size > MAX_GRID:
            raise ConfigError(f"the grid has {size:,} combinations (more than {MAX_GRID:,}): narrow it or use "
                              "method = \"random\" with samples", path=source, key="sweep.params")
        if written.samples is not None:
            raise ConfigError("samples applies to method = \"random\"; a grid runs every "
                              "combination", path=source, key="sweep.samples")
    elif written.samples is None or written.samples < 1:
        raise ConfigError(f"method = \"{method}\" needs samples = N (N >= 1)", path=source, key="sweep.samples")
    for name, key in ((written.metric, "sweep.metric"),):
        _check_metric(name, source, key)
    constraints = []
    for i, text in enumerate(written.constraints):
        match = _CONSTRAINT.match(text)
        key = f"sweep.constraints[{i}]"
        if match is None:
            raise ConfigError(f"expected \"<metric> <op> <number>\" with op one of <=, <, >=, >, ==, !=, "
                              f"e.g. \"max_drawdown_pct <= 20\"; got {text!r}", path=source, key=key)
        _check_metric(match.group(1), source, key)
        constraints.append(Constraint(match.group(1), match.group(2), Decimal(match.group(3)), text.strip()))
    names = [p.name for p in params]
    heatmap: tuple[str, str] | None = None
    if written.heatmap:
        if len(written.heatmap) != 2 or len(set(written.heatmap)) != 2:
            raise ConfigError("name two different swept parameters", path=source, key="sweep.heatmap")
        for name in written.heatmap:
            if name not in names:
                raise ConfigError(f"{name!r} is not a swept parameter (swept: {', '.join(names)})", path=source,
                                  key="sweep.heatmap")
        heatmap = (written.heatmap[0], written.heatmap[1])
    elif len(names) >= 2:
        heatmap = (names[0], names[1])
    if written.top < 0:
        raise ConfigError(f"must be 0 or more, got {written.top}", path=source, key="sweep.top")
    split = written.split
    if split.folds < 1:
        raise ConfigError(f"must be 1 or more, got {split.folds}", path=source, key="sweep.split.folds")
    if not Decimal(0) <= split.out_of_sample < 1:
        raise ConfigError(f"a fraction of each window, 0 <= out_of_sample < 1, got {split.out_of_sample}",
                          path=source, key="sweep.split.out_of_sample")
    if split.folds > 1 and split.out_of_sample == 0:
        raise ConfigError("walk-forward folds need an out-of-sample part: set out_of_sample, e.g. 0.3",
                          path=source, key="sweep.split.out_of_sample")
    direction = written.direction or ("minimize" if written.metric in LOWER_IS_BETTER else "maximize")
    return SweepSpec(source=source, params=params, method=method, samples=written.samples,
                     seed=backtest.seed if written.seed is None else written.seed, metric=written.metric,
                     maximize=direction == "maximize", constraints=tuple(constraints), heatmap=heatmap,
                     top=written.top, out=written.out, folds=split.folds,
                     out_of_sample=split.out_of_sample, anchored=split.anchored)


def _check_metric(name: str, source: str, key: str) -> None:
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; one of: {', '.join(METRICS)}", path=source, key=key)


def _range_probes(param: Param) -> tuple[Value, ...]:
    """A range's ends and the first step inside it: what random draws may give, checked up front."""
    assert param.low is not None and param.high is not None
    return (param.low, param.high, param.low + param.draw_step)


def _check_values(spec: SweepSpec, table: Mapping[str, Any], specs: Sequence[Any], source: str) -> None:
    """Every value a parameter can take must pass the strategy's own parameter checks."""
    strategies = table.get("strategies", [])
    candidates: Iterator[tuple[Param, Value]]
    if spec.method == "grid" or all(p.values is not None for p in spec.params):
        candidates = ((p, v) for p in spec.params for v in p.grid())
    else:  # a range: its ends and a step inside
        candidates = ((p, v) for p in spec.params
                      for v in (p.grid() if p.values is not None else _range_probes(p)))
    checked: set[tuple[str, tuple[str, Any]]] = set()
    for param, value in candidates:
        if (param.name, _typed_key(value)) in checked:
            continue
        checked.add((param.name, _typed_key(value)))
        mapping = dict(strategies[param.strategy].get("params", {}))
        mapping[param.field] = value
        try:
            from_mapping(params_class(specs[param.strategy].cls), mapping, source=source,
                         key=f"strategies[{param.strategy}].params")
        except ConfigError as exc:
            problems = [str(e) for e in getattr(exc, "errors", ())] or [str(exc)]
            raise ConfigError(f"the value {value!r} is refused by the strategy: {'; '.join(problems)}",
                              path=source, key=f"sweep.params.{param.name}") from None


def apply_values(table: Mapping[str, Any], params: Sequence[Param], values: Sequence[Value]) -> dict[str, Any]:
    """A copy of the config table with one trial's values in its strategies' params."""
    out = dict(table)
    strategies = [dict(s) for s in table.get("strategies", [])]
    for param, value in zip(params, values):
        entry = strategies[param.strategy]
        entry["params"] = {**entry.get("params", {}), param.field: value}
    out["strategies"] = strategies
    return out
