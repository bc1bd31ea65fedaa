"""Property-based fuzz of the config loader: any TOML text or table gives a config or a ConfigError.

Three levels: raw bytes/text through ``load_toml``; mutated shipped tables through
``from_mapping`` for the live run config and both venues' configs; and a class with every
supported field type fed values TOML can hold (huge integers, ``inf``/``nan`` floats, dates).
Deterministic: ``derandomize=True`` and a bounded example count per test.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import ConfigError
from engine import from_mapping, load_toml
from engine._runconfig import LiveConfig
from venues.dzengi import DzengiConfig
from venues.ekiden import EkidenConfig

from .. import fuzzing

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FUZZ = settings(derandomize=True, max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

toml_atoms = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.sampled_from([0, -1, 2**63, -(2**63) - 1, 10**400]),
    st.decimals(allow_nan=True, allow_infinity=True), st.sampled_from([Decimal("1e400000"), Decimal("-1e-400000")]),
    st.text(max_size=10), st.sampled_from(["", "inf", "NaN", "1e999", "١٢", "BTC/USD", "dzengi", "trades", "~/x"]),
    st.datetimes(), st.dates(), st.times(),
)
EDGES = [10**400, -(10**400), 2**63, Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("1e400000"),
         Decimal("1e-400000"), "", "nan", "١٢", dt.datetime(1, 1, 1), dt.time(0, 0)]
toml_values = st.recursive(
    toml_atoms,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """``base`` with 1-3 values replaced by TOML values (or a key deleted)."""
    return fuzzing.mutated(base, toml_values, replace_whole=False)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Inner:
    size: Decimal = Decimal(1)
    "a nested table"


@attrs.frozen
class EveryType:
    name: str = "x"
    count: int = 1
    ratio: float = 0.5
    flag: bool = False
    amount: Decimal = Decimal("0.1")
    where: Path = Path("a")
    colour: Colour = Colour.RED
    mode: Literal["fast", "slow"] = "fast"
    maybe: int | None = None
    either: int | str = 0
    items: list[int] = attrs.Factory(list)
    pair: tuple[int, str] = (1, "a")
    many: tuple[Decimal, ...] = ()
    tags: frozenset[str] = frozenset()
    table: dict[str, Decimal] = attrs.Factory(dict)
    inner: Inner = attrs.Factory(Inner)
    when: dt.datetime | None = None
    day: dt.date | None = None
    anything: Any = None


EVERY = {"name": "n", "count": 2, "ratio": Decimal("0.25"), "flag": True, "amount": Decimal("1.5"), "where": "b",
         "colour": "blue", "mode": "slow", "maybe": 3, "either": "s", "items": [1, 2], "pair": [2, "b"],
         "many": [Decimal(1)], "tags": ["t"], "table": {"k": Decimal(2)}, "inner": {"size": Decimal(3)},
         "when": dt.datetime(2025, 1, 1), "day": dt.date(2025, 1, 2), "anything": [1]}
LIVE = load_toml(CONFIGS / "dzengi_local.toml")
DZENGI = {"base_url": "http://127.0.0.1:8080", "ws_url": "ws://127.0.0.1:8080/connect", "recv_window_ms": 5000,
          "api_key_env": "DZENGI_API_KEY", "secret_env": "DZENGI_SECRET"}
EKIDEN = {"base_url": "http://127.0.0.1:8081", "ws_url": "ws://127.0.0.1:8081/v1/stream",
          "api_key_env": "EKIDEN_API_KEY", "secret_env": "EKIDEN_SECRET"}
CLASSES: dict[str, tuple[type, dict[str, Any]]] = {
    "every_type": (EveryType, EVERY), "live": (LiveConfig, LIVE),
    "dzengi": (DzengiConfig, DZENGI), "ekiden": (EkidenConfig, EKIDEN),
}


def test_the_fuzz_starts_from_tables_that_load() -> None:
    for name, (cls, table) in CLASSES.items():
        assert isinstance(from_mapping(cls, copy.deepcopy(table), source=name), cls)


@pytest.mark.parametrize("name", sorted(CLASSES))
@FUZZ
@given(data=st.data())
def test_from_mapping_raises_only_config_error(name: str, data: st.DataObject) -> None:
    cls, table = CLASSES[name]
    value = data.draw(mutated(table) if data.draw(st.integers(0, 9)) else st.dictionaries(st.text(max_size=8),
                                                                                           toml_values, max_size=4))
    try:
        from_mapping(cls, value, source=name)
    except ConfigError as e:
        assert str(e)


@pytest.mark.parametrize("field", sorted(EVERY))
@settings(FUZZ, max_examples=40)
@given(value=st.one_of(st.sampled_from(EDGES), toml_values, st.lists(st.sampled_from(EDGES), max_size=2)))
def test_every_field_type_takes_any_toml_value(field: str, value: Any) -> None:
    try:
        config = from_mapping(EveryType, {field: value}, source="every")
    except ConfigError as e:
        assert str(e)
        return
    ratio = config.ratio
    assert ratio == ratio and abs(ratio) != float("inf")  # a float field holds a finite number


toml_lines = st.sampled_from([
    'name = "x"', "[run]", "[[venues]]", "x = inf", "x = nan", "x = 1e400000", "x = 99999999999999999999999",
    "x = 1979-05-27T07:32:00Z", "x = [1, [2, [3]]]", 'x = {a = 1}', "x = ", "[", 'x = "\\u0000"', "x = 0x7f",
    "a.b.c = 1", "x = '''", "= 1", "x = 1979-13-45",
])


@FUZZ
@given(text=st.lists(toml_lines | st.text(max_size=20), max_size=6).map("\n".join) | st.binary(max_size=40))
def test_load_toml_raises_only_config_error(tmp_path_factory: pytest.TempPathFactory, text: str | bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        table = load_toml(path)
    except ConfigError as e:
        assert str(e)
        return
    try:
        from_mapping(LiveConfig, table, source=str(path))
    except ConfigError as e:
        assert str(e)
