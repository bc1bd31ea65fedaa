"""Config loading: TOML into frozen attrs classes, every type and every error message shape."""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs
import pytest

from engine._config import (
    InvalidConfig,
    NoParams,
    TomlConfig,
    dump_defaults,
    format_error,
    from_mapping,
    load_config,
    load_toml,
    params_class,
)
from engine import ConfigError
from engine import Rounding

# ----------------------------------------------------------------------------- classes under test


class Color(enum.Enum):
    RED = "red"
    DARK_BLUE = "dark-blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Scalars:
    text: str = "x"
    count: int = 0
    ratio: float = 0.0
    flag: bool = False
    price: Decimal = Decimal("0")
    where: Path = Path("data")
    color: Color = Color.RED
    level: Level = Level.LOW
    mode: Literal["live", "paper"] = "paper"
    maybe: int | None = None
    either: int | str = 0
    anything: Any = None
    when: dt.datetime | None = None
    day: dt.date | None = None


@attrs.frozen
class Containers:
    numbers: list[int] = attrs.Factory(list)
    pair: tuple[str, int] = ("a", 0)
    many: tuple[Decimal, ...] = ()
    limits: dict[str, Decimal] = attrs.Factory(dict)
    by_color: dict[Color, int] = attrs.Factory(dict)
    tags: frozenset[str] = frozenset()


@attrs.frozen
class StrategyConfig:
    name: str
    params: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen
class VenueConfig:
    api_key: str = attrs.field(repr=False, metadata={"secret": True, "toml": "api-key"})
    api_secret: str = attrs.field(default="", repr=False, metadata={"secret": True})
    recv_window_ms: int = 5000
    rounding: Rounding = Rounding.DOWN


@attrs.frozen
class RootConfig:
    venue: VenueConfig
    strategies: list[StrategyConfig] = attrs.Factory(list)
    http_timeout_s: float = 10.0


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")


def _upper(value: str) -> str:
    if not value.isascii():
        raise ValueError("symbols are ASCII")
    return value.upper()


@attrs.frozen
class Checked:
    qty: Decimal = attrs.field(validator=_positive)
    limit: int = attrs.field(default=1, validator=attrs.validators.gt(0))
    symbol: str = attrs.field(default="BTC", converter=_upper)
    token: str = attrs.field(default="default-token", repr=False, metadata={"secret": True},
                             validator=attrs.validators.min_len(12))


@attrs.frozen
class Window:
    fast: int = 10
    slow: int = 30

    def __attrs_post_init__(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be below slow ({self.slow})")


@attrs.frozen
class Login:
    user: str
    password: str = attrs.field(repr=False, metadata={"secret": True})

    def __attrs_post_init__(self) -> None:
        if self.password == self.user:
            raise ValueError(f"password {self.password} equals the user name")


@attrs.frozen
class Empty:
    pass


@attrs.frozen
class Private:
    _hidden: int = 0


@attrs.frozen
class Unsupported:
    blob: bytes = b""


def load(cls: type, data: dict[str, Any], **kwargs: Any) -> Any:
    return from_mapping(cls, data, source="c.toml", **kwargs)


def problems(cls: type, data: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(InvalidConfig) as info:
        from_mapping(cls, data, source="c.toml", **kwargs)
    return str(info.value).splitlines()


def problem(cls: type, data: dict[str, Any], **kwargs: Any) -> str:
    found = problems(cls, data, **kwargs)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------------------------ reading


def test_toml_floats_are_exact_decimals(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("fee = 0.1\ntiny = 1e-8\nwhole = 3\nsum = [0.1, 0.2]\n")
    data = load_toml(path)
    assert data == {"fee": Decimal("0.1"), "tiny": Decimal("1e-8"), "whole": 3,
                    "sum": [Decimal("0.1"), Decimal("0.2")]}
    assert str(data["fee"]) == "0.1"
    assert sum(data["sum"]) == Decimal("0.3")


def test_toml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('a = 1\nb = "ok"\nc d = 3\n')
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert str(info.value) == (
        f"{path}: invalid TOML at line 3, column 3: Expected '=' after a key in a key/value pair"
    )
    assert info.value.path == str(path)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_toml_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.toml"
    path.write_text("a = 1\na = 2\n")
    with pytest.raises(ConfigError, match=r"dup\.toml: invalid TOML at line 2, column 6: "):
        load_toml(path)


def test_missing_file_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_toml(tmp_path / "nope.toml")
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: cannot read the file: No such file or directory"
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert str(info.value) == f"{path}: not valid UTF-8 text (byte 11)"


# ------------------------------------------------------------------------------------ scalars


def test_defaults_apply_when_keys_are_missing() -> None:
    assert load(Scalars, {}) == Scalars()


def test_str_int_float_bool_accept_their_own_type() -> None:
    got = load(Scalars, {"text": "hi", "count": -3, "ratio": Decimal("0.25"), "flag": True})
    assert (got.text, got.count, got.ratio, got.flag) == ("hi", -3, 0.25, True)
    assert type(got.ratio) is float
    assert load(Scalars, {"ratio": 2}).ratio == 2.0 and type(load(Scalars, {"ratio": 2}).ratio) is float


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": 5}, "c.toml: text: expected a string, got 5 (int)"),
        ({"count": "ten"}, "c.toml: count: expected an integer, got 'ten' (str)"),
        ({"count": True}, "c.toml: count: expected an integer, got true (bool)"),
        ({"count": Decimal("10.0")}, "c.toml: count: expected an integer, got 10.0 (float)"),
        ({"ratio": False}, "c.toml: ratio: expected a number, got false (bool)"),
        ({"ratio": "0.5"}, "c.toml: ratio: expected a number, got '0.5' (str)"),
        ({"flag": 1}, "c.toml: flag: expected true or false, got 1 (int)"),
        ({"flag": "true"}, "c.toml: flag: expected true or false, got 'true' (str)"),
        ({"text": [1, 2]}, "c.toml: text: expected a string, got an array of 2 items"),
        ({"count": {"a": 1}}, "c.toml: count: expected an integer, got a table"),
        ({"count": "x" * 60}, f"c.toml: count: expected an integer, got {'x' * 40 + '...'!r} (str)"),
    ],
)
def test_scalar_type_errors(data: dict[str, Any], message: str) -> None:
    assert problem(Scalars, data) == message


def test_decimal_from_str_int_and_decimal() -> None:
    assert load(Scalars, {"price": "0.1"}).price == Decimal("0.1")
    assert str(load(Scalars, {"price": " 0.10 "}).price) == "0.10"
    assert load(Scalars, {"price": 7}).price == Decimal(7)
    assert str(load(Scalars, {"price": Decimal("1e-8")}).price) == "1E-8"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "c.toml: price: expected a decimal number, got 'abc' (str)"),
        ("nan", "c.toml: price: expected a finite decimal number, got 'nan' (str)"),
        (Decimal("Infinity"), "c.toml: price: expected a finite decimal number, got Infinity (float)"),
        (0.1, "c.toml: price: expected a decimal number, got 0.1 (float)"),
        (True, "c.toml: price: expected a decimal number, got true (bool)"),
    ],
)
def test_decimal_errors(value: Any, message: str) -> None:
    assert problem(Scalars, {"price": value}) == message


def test_decimal_from_a_toml_file_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("price = 0.1\nratio = 0.1\n")
    got = load_config(Scalars, path)
    assert got.price == Decimal("0.1") and str(got.price) == "0.1"
    assert got.ratio == 0.1


def test_paths_resolve_against_base_dir(tmp_path: Path) -> None:
    assert load(Scalars, {"where": "rec/day1"}).where == Path("rec/day1")
    assert load(Scalars, {"where": "rec/day1"}, base_dir=tmp_path).where == tmp_path / "rec/day1"
    assert load(Scalars, {"where": "/abs/x"}, base_dir=tmp_path).where == Path("/abs/x")
    assert load(Scalars, {"where": "~/x"}).where == Path.home() / "x"
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    (config_dir / "c.toml").write_text('where = "../data/x.npy"\n')
    assert load_config(Scalars, config_dir / "c.toml").where == config_dir / "../data/x.npy"


def test_path_errors() -> None:
    assert problem(Scalars, {"where": ""}) == "c.toml: where: expected a non-empty path (string), got '' (str)"
    assert problem(Scalars, {"where": 3}) == "c.toml: where: expected a non-empty path (string), got 3 (int)"


def test_enums_by_value_or_name_case_insensitive() -> None:
    assert load(Scalars, {"color": "red"}).color is Color.RED
    assert load(Scalars, {"color": "RED"}).color is Color.RED
    assert load(Scalars, {"color": "Dark-Blue"}).color is Color.DARK_BLUE
    assert load(Scalars, {"color": "dark_blue"}).color is Color.DARK_BLUE
    assert load(Scalars, {"level": 2}).level is Level.HIGH
    assert load(Scalars, {"level": "high"}).level is Level.HIGH
    assert load(Scalars, {"color": Color.RED}).color is Color.RED


def test_enum_errors_list_values_and_suggest() -> None:
    assert problem(Scalars, {"color": "redd"}) == (
        "c.toml: color: expected one of 'red', 'dark-blue', got 'redd' (str); did you mean 'red'?"
    )
    assert problem(Scalars, {"color": "green"}) == (
        "c.toml: color: expected one of 'red', 'dark-blue', got 'green' (str)"
    )
    assert problem(Scalars, {"level": 3}) == "c.toml: level: expected one of 1, 2, got 3 (int)"
    assert problem(Scalars, {"level": True}) == "c.toml: level: expected one of 1, 2, got true (bool)"


def test_literals_exact_then_case_insensitive() -> None:
    assert load(Scalars, {"mode": "live"}).mode == "live"
    assert load(Scalars, {"mode": "LIVE"}).mode == "live"
    assert problem(Scalars, {"mode": "liv"}) == (
        "c.toml: mode: expected one of 'live', 'paper', got 'liv' (str); did you mean 'live'?"
    )


def test_optional_and_union() -> None:
    assert load(Scalars, {"maybe": 4}).maybe == 4
    assert load(Scalars, {"maybe": None}).maybe is None
    assert problem(Scalars, {"maybe": "4"}) == "c.toml: maybe: expected an integer, got '4' (str)"
    assert load(Scalars, {"either": 4}).either == 4
    assert load(Scalars, {"either": "four"}).either == "four"
    assert problem(Scalars, {"either": Decimal("1.5")}) == (
        "c.toml: either: expected an integer or a string, got 1.5 (float)"
    )


@attrs.frozen
class Target:
    window: Window | str = "auto"
    sizes: list[int] | int = 1


def test_union_with_a_table_reports_the_tables_own_errors() -> None:
    assert load(Target, {"window": {"fast": 3}}).window == Window(fast=3)
    assert load(Target, {"window": "manual", "sizes": [1, 2]}) == Target("manual", [1, 2])
    assert problems(Target, {"window": {"fast": "x"}, "sizes": [1, "2"]}) == [
        "c.toml: window.fast: expected an integer, got 'x' (str)",
        "c.toml: sizes[1]: expected an integer, got '2' (str)",
    ]
    assert problem(Target, {"window": 5}) == "c.toml: window: expected a table or a string, got 5 (int)"


def test_any_passes_through() -> None:
    value = {"nested": [1, Decimal("2.5")]}
    assert load(Scalars, {"anything": value}).anything is value


def test_datetimes_from_toml_values_and_iso_strings(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("when = 2024-03-01T12:00:00Z\nday = 2024-03-01\n")
    got = load_config(Scalars, path)
    assert got.when == dt.datetime(2024, 3, 1, 12, tzinfo=dt.timezone.utc)
    assert got.day == dt.date(2024, 3, 1)
    assert load(Scalars, {"day": "2024-03-02"}).day == dt.date(2024, 3, 2)
    assert problem(Scalars, {"day": "march"}) == "c.toml: day: expected a date, got 'march' (str)"
    assert problem(Scalars, {"day": got.when}) == (
        "c.toml: day: expected a date, got 2024-03-01T12:00:00+00:00 (datetime)"
    )


# ---------------------------------------------------------------------------------- containers


def test_containers_convert_their_items() -> None:
    got = load(
        Containers,
        {
            "numbers": [1, 2],
            "pair": ["x", 3],
            "many": ["0.1", 2, Decimal("0.3")],
            "limits": {"BTC": "1.5", "odd key": 2},
            "by_color": {"red": 1, "DARK-BLUE": 2},
            "tags": ["a", "b"],
        },
    )
    assert got.numbers == [1, 2]
    assert got.pair == ("x", 3)
    assert got.many == (Decimal("0.1"), Decimal(2), Decimal("0.3")) and type(got.many) is tuple
    assert got.limits == {"BTC": Decimal("1.5"), "odd key": Decimal(2)}
    assert got.by_color == {Color.RED: 1, Color.DARK_BLUE: 2}
    assert got.tags == frozenset({"a", "b"})


def test_container_errors_name_the_item() -> None:
    assert problems(
        Containers,
        {
            "numbers": [1, "two", 3, False],
            "pair": ["x", 3, 4],
            "many": "0.1",
            "limits": {"BTC": "x", "odd key": "y"},
            "by_color": {"purple": 1},
            "tags": ["a", "a"],
        },
    ) == [
        "c.toml: numbers[1]: expected an integer, got 'two' (str)",
        "c.toml: numbers[3]: expected an integer, got false (bool)",
        "c.toml: pair: expected an array of 2 items, got an array of 3 items",
        "c.toml: many: expected an array, got '0.1' (str)",
        "c.toml: limits.BTC: expected a decimal number, got 'x' (str)",
        'c.toml: limits."odd key": expected a decimal number, got \'y\' (str)',
        "c.toml: by_color.purple: expected one of 'red', 'dark-blue', got 'purple' (str)",
        "c.toml: tags: expected an array of distinct values, got duplicates",
    ]
    assert problem(Containers, {"limits": [1]}) == "c.toml: limits: expected a table, got an array of 1 item"


# ------------------------------------------------------------------------- tables, keys, nesting


def test_nested_tables_and_lists_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
http_timeout_s = 2.5

[venue]
api-key = "k"
rounding = "half_even"

[[strategies]]
name = "sma"
[strategies.params]
fast = 5

[[strategies]]
name = "grid"
"""
    )
    got = load_config(RootConfig, path)
    assert got == RootConfig(
        venue=VenueConfig(api_key="k", rounding=Rounding.HALF_EVEN),
        strategies=[StrategyConfig("sma", {"fast": 5}), StrategyConfig("grid")],
        http_timeout_s=2.5,
    )


def test_errors_deep_in_lists_of_tables_carry_the_full_path(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[venue]
api-key = "k"
recv_window_ms = "5s"

[[strategies]]
name = "sma"

[[strategies]]
nmae = "grid"
"""
    )
    with pytest.raises(InvalidConfig) as info:
        load_config(RootConfig, path)
    assert str(info.value).splitlines() == [
        f"{path}: venue.recv_window_ms: expected an integer, got '5s' (str)",
        f"{path}: strategies[1].nmae: unknown key, did you mean 'name'? (valid keys: name, params)",
        f"{path}: strategies[1].name: missing required key (expected a string)",
    ]
    assert [e.key for e in info.value.errors] == [
        "venue.recv_window_ms", "strategies[1].nmae", "strategies[1].name",
    ]
    assert all(e.path == str(path) for e in info.value.errors)
    assert info.value.path == str(path) and info.value.key is None


def test_missing_required_table_and_wrong_shapes() -> None:
    assert problem(RootConfig, {}) == "c.toml: venue: missing required key (expected a table)"
    assert problem(RootConfig, {"venue": "x"}) == "c.toml: venue: expected a table, got 'x' (str)"
    assert problem(RootConfig, {"venue": {"api-key": "k"}, "strategies": {"name": "x"}}) == (
        "c.toml: strategies: expected an array, got a table"
    )


def test_root_that_is_not_a_table() -> None:
    with pytest.raises(InvalidConfig) as info:
        from_mapping(Scalars, [1, 2], source="c.toml")  # type: ignore[arg-type]
    assert str(info.value) == "c.toml: expected a table, got an array of 2 items"
    assert info.value.key is None


def test_unknown_keys_suggest_and_list_valid_keys() -> None:
    assert problem(Window, {"fsat": 1}) == (
        "c.toml: fsat: unknown key, did you mean 'fast'? (valid keys: fast, slow)"
    )
    assert problem(Window, {"zzz": 1}) == "c.toml: zzz: unknown key (valid keys: fast, slow)"
    assert problem(Window, {"FAST": 1}) == (
        "c.toml: FAST: unknown key, did you mean 'fast'? (valid keys: fast, slow)"
    )
    assert problem(Empty, {"a": 1}) == "c.toml: a: unknown key (no keys are accepted here)"


def test_key_prefix_starts_the_path() -> None:
    assert problem(Window, {"fast": "ten"}, key="strategies[0].params") == (
        "c.toml: strategies[0].params.fast: expected an integer, got 'ten' (str)"
    )


def test_toml_metadata_renames_the_key() -> None:
    assert load(VenueConfig, {"api-key": "k"}).api_key == "k"
    assert problems(VenueConfig, {"api_key": "k"}) == [
        "c.toml: api_key: unknown key, did you mean 'api-key'? "
        "(valid keys: api-key, api_secret, recv_window_ms, rounding)",
        "c.toml: api-key: missing required key (expected a string)",
    ]


def test_private_attribute_reads_its_init_name() -> None:
    assert load(Private, {"hidden": 3}) == Private(hidden=3)


def test_unsupported_field_type_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match=r"Unsupported\.blob: type <class 'bytes'> cannot be loaded"):
        load(Unsupported, {})
    with pytest.raises(TypeError, match="is not an attrs class"):
        from_mapping(dict, {})


# ------------------------------------------------------------------------------------ secrets


def test_secret_values_never_appear_in_messages() -> None:
    lines = problems(
        RootConfig,
        {"venue": {"api-key": 12345678, "api_secret": ["hunter2-secret"]}},
    )
    assert lines == [
        "c.toml: venue.api-key: expected a string, got *** (int)",
        "c.toml: venue.api_secret: expected a string, got an array of 1 item",
    ]
    assert not any("12345678" in line or "hunter2" in line for line in lines)


def test_secret_validator_message_is_withheld() -> None:
    line = problem(Checked, {"qty": 1, "token": "short-secret"[:8]})
    assert line == "c.toml: token: invalid value *** (details hidden: secret key)"
    assert "short-se" not in line


def test_secret_in_a_table_level_message_is_scrubbed() -> None:
    line = problem(Login, {"user": "pw-12345", "password": "pw-12345"})
    assert line == "c.toml: password *** equals the user name"


def test_secret_hidden_from_repr_and_format_error() -> None:
    config = load(VenueConfig, {"api-key": "AKIA-very-secret"})
    assert "AKIA" not in repr(config)
    with pytest.raises(InvalidConfig) as info:
        load(VenueConfig, {"api-key": 99, "rounding": "dwn"})
    assert "99" not in format_error(info.value)


# ------------------------------------------------------------------------ validators, converters


def test_validators_and_converters_run() -> None:
    assert load(Checked, {"qty": "0.5", "symbol": "eth", "token": "a-long-token-value"}) == Checked(
        qty=Decimal("0.5"), symbol="ETH", token="a-long-token-value"
    )


def test_validator_errors_are_reported_per_key_all_together() -> None:
    assert problems(Checked, {"qty": "-1", "limit": 0, "symbol": "éth"}) == [
        "c.toml: qty: must be positive, got -1",
        "c.toml: limit: 'limit' must be > 0: 0",
        "c.toml: symbol: symbols are ASCII",
    ]


def test_post_init_errors_are_reported_on_the_table() -> None:
    assert problem(Window, {"fast": 30}) == "c.toml: fast (30) must be below slow (30)"
    assert problem(Window, {"fast": 30}, key="strategies[2].params") == (
        "c.toml: strategies[2].params: fast (30) must be below slow (30)"
    )


@attrs.frozen
class TwoWindows:
    first: Window
    second: Window
    limit: int = attrs.field(default=1, validator=attrs.validators.gt(0))


def test_a_bad_table_does_not_stop_its_siblings_being_checked() -> None:
    # first fails its own check, second a type check; the outer class is then not built (so its
    # limit validator cannot run), but both inner problems are reported.
    assert problems(TwoWindows, {"first": {"fast": 50}, "second": {"slow": "x"}, "limit": 0}) == [
        "c.toml: first: fast (50) must be below slow (30)",
        "c.toml: second.slow: expected an integer, got 'x' (str)",
    ]
    assert problem(TwoWindows, {"first": {}, "second": {}, "limit": 0}) == "c.toml: limit: 'limit' must be > 0: 0"


def test_local_classes_with_string_hints_fail_loudly() -> None:
    class Helper:
        pass

    @attrs.frozen
    class Local:
        inner: Helper

    with pytest.raises(TypeError, match="cannot resolve the type hints of .*Local"):
        load(Local, {})


# ------------------------------------------------------------------------- multiple errors, CLI


def test_all_problems_reported_in_one_error() -> None:
    with pytest.raises(InvalidConfig) as info:
        load(Scalars, {"text": 1, "count": "x", "colour": "red", "flag": "no"})
    error = info.value
    assert isinstance(error, ConfigError)
    assert [e.key for e in error.errors] == ["text", "count", "colour", "flag"]
    assert str(error).count("\n") == 3
    assert str(error.errors[2]) == (
        "c.toml: colour: unknown key, did you mean 'color'? (valid keys: text, count, ratio, flag, "
        "price, where, color, level, mode, maybe, either, anything, when, day)"
    )


def test_format_error_is_one_clean_message() -> None:
    with pytest.raises(InvalidConfig) as one:
        load(Window, {"fast": "x"})
    assert format_error(one.value) == "config error: c.toml: fast: expected an integer, got 'x' (str)"
    assert one.value.key == "fast" and one.value.path == "c.toml"
    with pytest.raises(InvalidConfig) as two:
        load(Window, {"fast": "x", "slow": "y"})
    assert format_error(two.value) == (
        "config error: 2 problems\n"
        "  c.toml: fast: expected an integer, got 'x' (str)\n"
        "  c.toml: slow: expected an integer, got 'y' (str)"
    )
    assert format_error(ConfigError("cannot read the file", path="a.toml")) == (
        "config error: a.toml: cannot read the file"
    )


def test_errors_carry_no_exception_context() -> None:
    with pytest.raises(InvalidConfig) as info:
        load(Checked, {"qty": "-1"})
    assert info.value.__context__ is None and info.value.__cause__ is None


# ------------------------------------------------------------------------ strategy parameters


class SmaCross:
    class Params:
        instrument: str
        fast: int = 10
        slow: int = 30
        qty: Decimal = Decimal("0.01")
        levels: list[Decimal] = []
        registry: ClassVar[dict[str, int]] = {}

        def __attrs_post_init__(self) -> None:
            if self.fast >= self.slow:
                raise ValueError("fast must be below slow")

        @property
        def spread(self) -> int:
            return self.slow - self.fast


class FasterSma(SmaCross):
    pass


class Plain:
    pass


class WithNone:
    Params: ClassVar[type | None] = None


class AttrsParams:
    @attrs.frozen
    class Params:
        window: int = attrs.field(default=5, validator=attrs.validators.gt(1))


class BadParams:
    class Params:
        x: Unknowable  # type: ignore[name-defined]  # noqa: F821


def test_params_class_is_frozen_attrs_with_defaults() -> None:
    cls = params_class(SmaCross)
    params = cls(instrument="dzengi:BTC/USD")
    assert attrs.has(type(params)) and type(params) is not SmaCross.Params
    assert (params.instrument, params.fast, params.slow, params.qty) == ("dzengi:BTC/USD", 10, 30, Decimal("0.01"))
    assert isinstance(params, SmaCross.Params)
    assert params.spread == 20
    assert repr(params).startswith("SmaCross.Params(instrument='dzengi:BTC/USD', fast=10")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        params.fast = 3
    assert [f.name for f in attrs.fields(cls)] == ["instrument", "fast", "slow", "qty", "levels"]


def test_params_class_is_cached_and_inherited() -> None:
    assert params_class(SmaCross) is params_class(SmaCross)
    assert params_class(FasterSma) is params_class(SmaCross)


def test_params_mutable_defaults_are_not_shared() -> None:
    cls = params_class(SmaCross)
    a, b = cls(instrument="x"), cls(instrument="y")
    a.levels.append(Decimal(1))
    assert b.levels == [] and SmaCross.Params.levels == []


def test_params_table_is_validated_with_the_same_rules(tmp_path: Path) -> None:
    path = tmp_path / "sma.toml"
    path.write_text('instrument = "dzengi:BTC/USD"\nfast = 5\nqty = 0.1\nlevels = [1.5, "2"]\n')
    got = from_mapping(params_class(SmaCross), load_toml(path), source=str(path), key="strategies[0].params")
    assert (got.fast, got.slow, got.qty, got.levels) == (5, 30, Decimal("0.1"), [Decimal("1.5"), Decimal(2)])
    assert problems(
        params_class(SmaCross),
        {"fast": "ten", "fsat": 3, "registry": {}},
        key="strategies[0].params",
    ) == [
        "c.toml: strategies[0].params.fast: expected an integer, got 'ten' (str)",
        "c.toml: strategies[0].params.fsat: unknown key, did you mean 'fast'? "
        "(valid keys: instrument, fast, slow, qty, levels)",
        "c.toml: strategies[0].params.registry: unknown key (valid keys: instrument, fast, slow, qty, levels)",
        "c.toml: strategies[0].params.instrument: missing required key (expected a string)",
    ]


def test_params_post_init_runs() -> None:
    assert problem(params_class(SmaCross), {"instrument": "x", "fast": 40}, key="p") == (
        "c.toml: p: fast must be below slow"
    )


def test_attrs_params_used_as_is() -> None:
    assert params_class(AttrsParams) is AttrsParams.Params
    assert problem(params_class(AttrsParams), {"window": 1}) == "c.toml: window: 'window' must be > 1: 1"


def test_strategy_without_params_accepts_only_an_empty_table() -> None:
    assert params_class(Plain) is NoParams
    assert params_class(WithNone) is NoParams
    assert load(params_class(Plain), {}) == NoParams()
    assert problem(params_class(Plain), {"fast": 1}, key="strategies[0].params") == (
        "c.toml: strategies[0].params.fast: unknown key (no keys are accepted here)"
    )


def test_params_with_unresolvable_hints_fail_loudly() -> None:
    with pytest.raises(TypeError, match=r"cannot resolve the type hints of BadParams\.Params"):
        params_class(BadParams)


# ------------------------------------------------------------------------------- mixin, defaults


@attrs.frozen
class PaperConfig(TomlConfig):
    """Paper trading settings."""

    starting_cash: Decimal = Decimal("10000.00")
    fee_rate: Decimal = Decimal("0.001")
    symbols: tuple[str, ...] = ("BTC/USD",)
    latency_ms: int = 25
    rounding: Rounding = Rounding.HALF_EVEN
    mode: Literal["paper", "live"] = "paper"
    note: str = 'say "hi"'
    data_dir: Path | None = None
    window: Window = Window()
    login: Login | None = None


def test_mixin_named_constructors(tmp_path: Path) -> None:
    path = tmp_path / "paper.toml"
    path.write_text("latency_ms = 5\n[window]\nslow = 50\n")
    assert PaperConfig.from_toml(path) == PaperConfig(latency_ms=5, window=Window(slow=50))
    assert PaperConfig.from_mapping({"fee_rate": "0"}).fee_rate == Decimal(0)
    with pytest.raises(InvalidConfig, match=r"^<config>: latency_ms: expected an integer"):
        PaperConfig.from_mapping({"latency_ms": "1"})


def test_dump_defaults_renders_a_commented_skeleton() -> None:
    assert dump_defaults(PaperConfig) == (
        "# PaperConfig\n"
        "# Paper trading settings.\n"
        "starting_cash = 10000.00  # a decimal number\n"
        "fee_rate = 0.001  # a decimal number\n"
        'symbols = ["BTC/USD"]  # an array\n'
        "latency_ms = 25  # an integer\n"
        "rounding = \"half_even\"  # one of 'down', 'up', 'floor', 'ceiling', 'half_up', 'half_even', 'reject'\n"
        "mode = \"paper\"  # one of 'paper', 'live'\n"
        'note = "say \\"hi\\""  # a string\n'
        '# data_dir = ""  # a path (string)\n'
        "\n"
        "[window]\n"
        "fast = 10  # an integer\n"
        "slow = 30  # an integer\n"
        "\n"
        "# [login]\n"
        '# user = ""  # required, a string\n'
        '# password = ""  # required, secret, a string\n'
    )


def test_dump_defaults_round_trips() -> None:
    text = dump_defaults(PaperConfig)
    assert from_mapping(PaperConfig, tomllib.loads(text, parse_float=Decimal)) == PaperConfig()


def test_dump_defaults_of_nested_required_tables_and_arrays() -> None:
    text = dump_defaults(RootConfig)
    assert text == (
        "# RootConfig\n"
        "http_timeout_s = 10.0  # a number\n"
        "\n"
        "[venue]\n"
        '# api-key = ""  # required, secret, a string\n'
        '# api_secret = ""  # secret, a string\n'
        "recv_window_ms = 5000  # an integer\n"
        "rounding = \"down\"  # one of 'down', 'up', 'floor', 'ceiling', 'half_up', 'half_even', 'reject'\n"
        "\n"
        "# [[strategies]]  # an array of tables; one example entry\n"
        '# name = ""  # required, a string\n'
        "# params = {}  # a table\n"
    )
    tomllib.loads(text)
    params_text = dump_defaults(params_class(SmaCross))
    assert params_text.splitlines()[:3] == [
        "# SmaCross.Params",
        '# instrument = ""  # required, a string',
        "fast = 10  # an integer",
    ]
    assert "levels = []  # an array" in params_text
