"""Configuration: TOML files loaded into frozen attrs classes, strictly.

A config class is a frozen attrs class with type hints (modules use
``from __future__ import annotations``; hints are resolved with :func:`typing.get_type_hints`).
:func:`load_config` reads a file and builds an instance, driven by those hints::

    @attrs.frozen
    class VenueConfig:
        api_key: str = attrs.field(repr=False, metadata={"secret": True})
        recv_window_ms: int = 5000
        fee: Decimal = Decimal("0.001")

    config = load_config(VenueConfig, "configs/venue.toml")

Rules:

- TOML floats are read as :class:`~decimal.Decimal` (``fee = 0.001`` is exact); a ``float`` field
  converts them (finite values only: ``inf``, ``nan`` and integers past 1e308 are errors), a
  ``Decimal`` field keeps them.
- Every problem is reported at once, one per line, each naming the file, the dotted key path and
  what was expected: ``configs/sma.toml: strategies[0].params.fast: expected an integer, got 'ten'
  (str)``. Unknown keys are errors with a "did you mean" suggestion.
- Field metadata: ``{"toml": "other-name"}`` reads the field from another key; ``{"secret": True}``
  keeps the value (and anything under it) out of every message (shown as ``***``).
- attrs converters and validators still run; a converter receives the value already converted to
  the field's annotated type. Their ``ValueError``/``TypeError`` become errors on the field's key.
- A strategy's nested ``Params`` class (annotated fields with defaults, no decorator needed)
  becomes a frozen attrs class through :func:`params_class`.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``Decimal``, ``pathlib.Path``, enums
(by value or name, case-insensitive), ``Literal[...]``, ``X | None``, unions, ``list[X]``,
``tuple[X, ...]``, ``tuple[X, Y]``, ``set[X]``, ``frozenset[X]``, ``dict[K, X]``, nested attrs
classes, ``datetime``/``date``/``time`` (TOML values or ISO strings) and ``Any``.
"""

from __future__ import annotations

import collections.abc
import copy
import datetime as dt
import difflib
import enum
import json
import math
import os
import re
import tomllib
import types
import typing
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any, ClassVar, Literal, TypeVar, Union

import attrs

from ._errors import ConfigError
from ._money import to_decimal

__all__ = [
    "InvalidConfig",
    "NoParams",
    "TomlConfig",
    "dump_defaults",
    "format_error",
    "from_mapping",
    "load_config",
    "load_toml",
    "params_class",
]

T = TypeVar("T")

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_SHOWN = 40  # characters of a string value shown in a message


class InvalidConfig(ConfigError):
    """One or more values of a config are wrong; ``errors`` holds each problem separately.

    ``str()`` is every problem, one per line (``file: key.path: what was expected, got what``).
    Raised by :func:`from_mapping` and :func:`load_config`; a plain :class:`ConfigError` means the
    file itself could not be read or parsed.
    """

    def __init__(self, errors: collections.abc.Sequence[ConfigError], *, source: str) -> None:
        self.errors: tuple[ConfigError, ...] = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))
        self.path = source
        self.key = self.errors[0].key if len(self.errors) == 1 else None


def format_error(error: ConfigError) -> str:
    """Render a config error for a terminal: a clean message, one problem per line, no traceback.

    The CLI does ``except ConfigError as e: print(format_error(e), file=sys.stderr); return 2``.
    """
    problems = [str(e) for e in getattr(error, "errors", ())] or [str(error)]
    if len(problems) == 1:
        return f"config error: {problems[0]}"
    return f"config error: {len(problems)} problems\n" + "\n".join(f"  {p}" for p in problems)


# --------------------------------------------------------------------------------------- reading


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file; floats become :class:`~decimal.Decimal` so ``0.1`` stays exactly ``0.1``.

    Raises :class:`ConfigError` naming the file (and the line and column of a syntax error).
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror or e}", path=source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"not valid UTF-8 text (byte {e.start})", path=source) from None
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        match = _TOML_POSITION.search(message)
        if match:
            line, column = match.groups()
            message = f"invalid TOML at line {line}, column {column}: {message[: match.start()]}"
        else:
            message = f"invalid TOML: {message}"
        raise ConfigError(message, path=source) from None


def load_config(cls: type[T], path: str | os.PathLike[str]) -> T:
    """Read the TOML file at ``path`` into an instance of the attrs class ``cls``.

    Relative paths in ``Path`` fields are resolved against the file's directory. Raises
    :class:`ConfigError` (:class:`InvalidConfig` for wrong values) naming file and keys.
    """
    data = load_toml(path)
    source = os.fspath(path)
    return from_mapping(cls, data, source=source, base_dir=Path(source).parent)


class TomlConfig:
    """Mixin giving an attrs config class its named constructors ``from_toml``/``from_mapping``."""

    __slots__ = ()

    @classmethod
    def from_toml(cls: type[T], path: str | os.PathLike[str]) -> T:
        """Load the class from a TOML file (see :func:`load_config`)."""
        return load_config(cls, path)

    @classmethod
    def from_mapping(
        cls: type[T],
        data: collections.abc.Mapping[str, Any],
        *,
        source: str = "<config>",
        key: str = "",
        base_dir: str | os.PathLike[str] | None = None,
    ) -> T:
        """Build the class from an already parsed table (see :func:`from_mapping`)."""
        return from_mapping(cls, data, source=source, key=key, base_dir=base_dir)


# --------------------------------------------------------------------------- class descriptions


@attrs.frozen
class _Field:
    attribute: attrs.Attribute  # type: ignore[type-arg]
    init_name: str  # keyword of __init__ (attrs strips a leading underscore)
    toml_key: str
    type: Any
    required: bool
    secret: bool


@attrs.frozen
class _ClassSpec:
    cls: type
    fields: tuple[_Field, ...]
    by_key: dict[str, _Field]


_SPECS: dict[type, _ClassSpec] = {}
_BUILDING: set[type] = set()


def _spec(cls: type) -> _ClassSpec:
    """Fields of an attrs class with resolved types, checked once and cached."""
    cached = _SPECS.get(cls)
    if cached is not None:
        return cached
    if not _is_attrs(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    attributes = [a for a in attrs.fields(cls) if a.init]
    hints: dict[str, Any] = {}
    if any(a.type is None or isinstance(a.type, str) for a in attributes):
        try:
            hints = typing.get_type_hints(cls)
        except Exception as e:
            raise TypeError(
                f"cannot resolve the type hints of {cls.__qualname__}: {e}; the names its "
                "annotations use must be importable from its module"
            ) from e
    fields = []
    for a in attributes:
        init_name = a.alias if getattr(a, "alias", None) else a.name.lstrip("_")
        tp = hints.get(a.name, Any) if a.type is None or isinstance(a.type, str) else a.type
        fields.append(
            _Field(
                attribute=a,
                init_name=init_name,
                toml_key=a.metadata.get("toml", init_name),
                type=tp,
                required=a.default is attrs.NOTHING,
                secret=bool(a.metadata.get("secret", False)),
            )
        )
    by_key = {f.toml_key: f for f in fields}
    if len(by_key) != len(fields):
        raise TypeError(f"{cls.__qualname__}: two fields read the same TOML key")
    spec = _ClassSpec(cls=cls, fields=tuple(fields), by_key=by_key)
    _BUILDING.add(cls)
    try:
        for f in fields:
            _check_type(f.type, f"{cls.__qualname__}.{f.attribute.name}")
    finally:
        _BUILDING.discard(cls)
    _SPECS[cls] = spec
    return spec


def _is_attrs(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp)


def _strip(tp: Any) -> Any:
    """Unwrap ``Annotated[X, ...]`` and ``NewType`` to the type that drives conversion."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):
            tp = tp.__supertype__
        else:
            return tp


_SCALARS: tuple[type, ...] = (str, int, float, bool, Decimal, dt.datetime, dt.date, dt.time)
_SEQUENCES = {list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set}
_MAPPINGS = {dict, collections.abc.Mapping}


def _check_type(tp: Any, where: str) -> None:
    """Raise TypeError if a field type cannot be loaded from TOML (a bug in the class, not input)."""
    tp = _strip(tp)
    if tp is Any or tp is object or tp in _SCALARS:
        return
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return
    if origin is Union or origin is types.UnionType or origin in _SEQUENCES or origin in _MAPPINGS:
        for arg in args:
            if arg is not Ellipsis and arg is not type(None):
                _check_type(arg, where)
        return
    if tp in _SEQUENCES or tp in _MAPPINGS:
        return
    if isinstance(tp, type):
        if issubclass(tp, PurePath) or issubclass(tp, enum.Enum):
            return
        if attrs.has(tp):
            if tp not in _BUILDING:
                _spec(tp)
            return
    raise TypeError(f"{where}: type {tp!r} cannot be loaded from a config file")


# ------------------------------------------------------------------------------- conversion


class _Invalid:
    """Marker returned by a conversion that reported its errors."""


_INVALID: Any = _Invalid()


@attrs.define
class _Context:
    source: str
    base_dir: Path | None
    errors: list[tuple[str, str]] = attrs.Factory(list)
    secrets: set[str] = attrs.Factory(set)

    def error(self, key: str, message: str) -> Any:
        self.errors.append((key, message))
        return _INVALID

    def fork(self) -> _Context:
        return _Context(self.source, self.base_dir, [], self.secrets)


def from_mapping(
    cls: type[T],
    data: collections.abc.Mapping[str, Any],
    *,
    source: str = "<config>",
    key: str = "",
    base_dir: str | os.PathLike[str] | None = None,
) -> T:
    """Build an instance of the attrs class ``cls`` from a parsed table, checking every value.

    ``source`` names the file in messages and ``key`` is the key path of ``data`` inside it
    (``"strategies[0].params"``). Relative ``Path`` values are joined to ``base_dir`` when given.
    Raises :class:`InvalidConfig` listing every problem found.
    """
    _spec(cls)
    ctx = _Context(source, Path(base_dir) if base_dir is not None else None)
    result = _build(cls, data, key, ctx, secret=False)
    if ctx.errors:
        raise InvalidConfig(
            [ConfigError(message, path=source, key=k or None) for k, message in ctx.errors],
            source=source,
        )
    return typing.cast(T, result)


def _scrub(message: str, secrets: set[str]) -> str:
    """Hide every secret value seen so far in a message written by a validator or check.

    The loader's own messages never show a secret (they print ``***``); this guards messages that
    class code wrote, which may quote any field.
    """
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def _join(path: str, name: str) -> str:
    if not _BARE_KEY.match(name):
        name = json.dumps(name)
    return f"{path}.{name}" if path else name


def _describe(value: Any, secret: bool = False) -> str:
    """How a message shows a value the user wrote: ``'ten' (str)``, ``0.5 (float)``, ``a table``."""
    if isinstance(value, collections.abc.Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if value is None:
        return "nothing (None)"
    kind = "float" if isinstance(value, Decimal) else type(value).__name__
    if secret:
        return f"*** ({kind})"
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str):
        shown = repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "...")
    elif isinstance(value, (dt.date, dt.time)):
        shown = value.isoformat()
    else:
        shown = str(value)
    return f"{shown} ({kind})"


def _options(values: collections.abc.Iterable[Any]) -> str:
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)


def _expected(tp: Any) -> str:
    """What a message says a type expects: ``an integer``, ``one of 'a', 'b'``, ``a table``."""
    tp = _strip(tp)
    simple = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Decimal: "a decimal number",
        dt.datetime: "a date-time",
        dt.date: "a date",
        dt.time: "a time",
    }
    if tp in simple:
        return simple[tp]
    if tp is Any or tp is object:
        return "any value"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return f"one of {_options(args)}"
    if origin is Union or origin is types.UnionType:
        names = list(dict.fromkeys(_expected(a) for a in args if a is not type(None)))
        return " or ".join(names)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"an array of {len(args)} items"
    if tp in _SEQUENCES or origin in _SEQUENCES:
        return "an array"
    if tp in _MAPPINGS or origin in _MAPPINGS or _is_attrs(tp):
        return "a table"
    if isinstance(tp, type) and issubclass(tp, PurePath):
        return "a path (string)"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {_options(_enum_labels(tp))}"
    return repr(tp)


def _enum_labels(tp: type[enum.Enum]) -> list[Any]:
    """What a user may write for an enum: its values, or its names if the values are not str/int."""
    members = list(tp)
    if all(isinstance(m.value, (str, int)) and not isinstance(m.value, bool) for m in members):
        return [m.value for m in members]
    return [m.name for m in members]


def _suggest(word: str, choices: collections.abc.Sequence[str]) -> str:
    match = difflib.get_close_matches(word.casefold(), [str(c).casefold() for c in choices], n=1)
    if not match:
        return ""
    original = next(c for c in choices if str(c).casefold() == match[0])
    return f"; did you mean {original!r}?"


def _convert(tp: Any, value: Any, key: str, ctx: _Context, secret: bool) -> Any:
    """Convert ``value`` to ``tp``; on failure record errors under ``key`` and return _INVALID."""
    tp = _strip(tp)
    if secret:
        _remember_secret(value, ctx)
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def wrong() -> Any:
        return ctx.error(key, f"expected {_expected(tp)}, got {_describe(value, secret)}")

    if origin is Literal:
        return _choose(list(args), list(args), value, key, ctx, secret, tp)
    if origin is Union or origin is types.UnionType:
        return _convert_union(args, value, key, ctx, secret)
    if origin in _SEQUENCES or tp in _SEQUENCES:
        return _convert_sequence(origin or tp, args, value, key, ctx, secret, wrong)
    if origin in _MAPPINGS or tp in _MAPPINGS:
        key_type, item_type = args if args else (Any, Any)
        if not isinstance(value, collections.abc.Mapping):
            return wrong()
        out: dict[Any, Any] = {}
        for k, v in value.items():
            child = _join(key, str(k))
            converted_key = _convert(key_type, k, child, ctx, secret=False)
            converted = _convert(item_type, v, child, ctx, secret)
            if converted_key is not _INVALID and converted is not _INVALID:
                out[converted_key] = converted
        return out if len(out) == len(value) else _INVALID
    if tp is bool:
        return value if isinstance(value, bool) else wrong()
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else wrong()
    if tp is float:
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer past 1e308
                number = math.inf
            if math.isfinite(number):
                return number
            return ctx.error(key, f"expected a finite number, got {_describe(value, secret)}")
        return wrong()
    if tp is str:
        return value if isinstance(value, str) else wrong()
    if tp is Decimal:
        if not isinstance(value, (str, int, Decimal)) or isinstance(value, bool):
            return wrong()
        try:
            return to_decimal(value)
        except (ValueError, TypeError):
            pass
        finite = "finite " if isinstance(value, Decimal) or _parses_as_decimal(value) else ""
        return ctx.error(key, f"expected a {finite}decimal number, got {_describe(value, secret)}")
    if tp in (dt.datetime, dt.date, dt.time):
        return _convert_temporal(tp, value, wrong)
    if isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, PurePath):
            value = str(value)
        if not isinstance(value, str) or not value:
            return ctx.error(key, f"expected a non-empty path (string), got {_describe(value, secret)}")
        path = Path(value).expanduser()
        if ctx.base_dir is not None and not path.is_absolute():
            path = ctx.base_dir / path
        return tp(path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _convert_enum(tp, value, key, ctx, secret)
    if _is_attrs(tp):
        return _build(tp, value, key, ctx, secret)
    raise TypeError(f"{key or '<root>'}: type {tp!r} cannot be loaded from a config file")


def _parses_as_decimal(value: Any) -> bool:
    try:
        Decimal(str(value).strip())
    except ArithmeticError:
        return False
    return True


def _remember_secret(value: Any, ctx: _Context) -> None:
    if isinstance(value, str) and value:
        ctx.secrets.add(value)


def _convert_union(args: tuple[Any, ...], value: Any, key: str, ctx: _Context, secret: bool) -> Any:
    if value is None and type(None) in args:
        return None
    arms = [a for a in args if a is not type(None)]
    if len(arms) == 1:
        return _convert(arms[0], value, key, ctx, secret)
    for arm in arms:
        trial = ctx.fork()
        converted = _convert(arm, value, key, trial, secret)
        if not trial.errors:
            return converted
    # A table (or array) that only one arm can take gets that arm's detailed errors.
    shaped = [a for a in arms if _takes_shape_of(a, value)]
    if len(shaped) == 1:
        return _convert(shaped[0], value, key, ctx, secret)
    names = " or ".join(dict.fromkeys(_expected(a) for a in arms))
    return ctx.error(key, f"expected {names}, got {_describe(value, secret)}")


def _takes_shape_of(tp: Any, value: Any) -> bool:
    tp = _strip(tp)
    origin = typing.get_origin(tp) or tp
    if isinstance(value, collections.abc.Mapping):
        return _is_attrs(tp) or origin in _MAPPINGS
    if isinstance(value, (list, tuple)):
        return origin in _SEQUENCES
    return False


def _convert_sequence(
    container: Any,
    args: tuple[Any, ...],
    value: Any,
    key: str,
    ctx: _Context,
    secret: bool,
    wrong: collections.abc.Callable[[], Any],
) -> Any:
    if not isinstance(value, (list, tuple)):
        return wrong()
    if container is tuple and args and args[-1] is not Ellipsis:
        if args == ((),):  # tuple[()]
            args = ()
        if len(value) != len(args):
            return wrong()
        item_types = list(args)
    else:
        item_types = [args[0] if args else Any] * len(value)
    items = [_convert(t, v, f"{key}[{i}]", ctx, secret) for i, (t, v) in enumerate(zip(item_types, value))]
    if any(item is _INVALID for item in items):
        return _INVALID
    if container in (list,):
        return items
    if container in (set, frozenset, collections.abc.Set):
        try:
            unique = frozenset(items) if container is not set else set(items)
        except TypeError:
            return ctx.error(key, "expected an array of distinct values, got values that cannot be compared")
        if len(unique) != len(items):
            return ctx.error(key, "expected an array of distinct values, got duplicates")
        return unique
    return tuple(items)


def _convert_temporal(tp: Any, value: Any, wrong: collections.abc.Callable[[], Any]) -> Any:
    if isinstance(value, str):
        try:
            return tp.fromisoformat(value)
        except ValueError:
            return wrong()
    if tp is dt.date and isinstance(value, dt.datetime):
        return wrong()
    return value if isinstance(value, tp) else wrong()


def _convert_enum(tp: type[enum.Enum], value: Any, key: str, ctx: _Context, secret: bool) -> Any:
    if isinstance(value, tp):
        return value
    labels = _enum_labels(tp)
    for member in tp:
        if isinstance(value, str):
            if member.name.casefold() == value.casefold() or (
                isinstance(member.value, str) and member.value.casefold() == value.casefold()
            ):
                return member
        elif isinstance(value, int) and not isinstance(value, bool) and not isinstance(member.value, bool):
            if type(member.value) is int and member.value == value:
                return member
    hint = _suggest(value, [str(x) for x in labels]) if isinstance(value, str) and not secret else ""
    return ctx.error(key, f"expected one of {_options(labels)}, got {_describe(value, secret)}{hint}")


def _choose(
    allowed: list[Any], labels: list[Any], value: Any, key: str, ctx: _Context, secret: bool, tp: Any
) -> Any:
    """A ``Literal``: exact match first, then a case-insensitive string match (canonical result)."""
    for option in allowed:
        if type(option) is type(value) and option == value:
            return option
    if isinstance(value, str):
        for option in allowed:
            if isinstance(option, str) and option.casefold() == value.casefold():
                return option
    hint = (
        _suggest(value, [o for o in allowed if isinstance(o, str)])
        if isinstance(value, str) and not secret
        else ""
    )
    return ctx.error(key, f"expected one of {_options(labels)}, got {_describe(value, secret)}{hint}")


def _unknown_key_message(name: str, spec: _ClassSpec) -> str:
    valid = list(spec.by_key)
    if not valid:
        return "unknown key (no keys are accepted here)"
    hint = _suggest(name, valid).replace("; did", ", did", 1)
    return f"unknown key{hint} (valid keys: {', '.join(valid)})"


def _build(cls: type, value: Any, key: str, ctx: _Context, secret: bool) -> Any:
    """Build an attrs instance from a table, reporting every bad, unknown and missing key."""
    if not isinstance(value, collections.abc.Mapping):
        return ctx.error(key, f"expected a table, got {_describe(value, secret)}")
    spec = _spec(cls)
    kwargs: dict[str, Any] = {}
    ok = True
    for name, item in value.items():
        name = str(name)
        child = _join(key, name)
        field = spec.by_key.get(name)
        if field is None:
            ctx.error(child, _unknown_key_message(name, spec))
            ok = False
            continue
        converted = _convert(field.type, item, child, ctx, secret or field.secret)
        if converted is _INVALID:
            ok = False
        else:
            kwargs[field.init_name] = converted
    for field in spec.fields:
        if field.required and field.toml_key not in value:
            ctx.error(_join(key, field.toml_key), f"missing required key (expected {_expected(field.type)})")
            ok = False
    if not ok:
        return _INVALID
    try:
        return cls(**kwargs)
    except (ValueError, TypeError, ConfigError) as e:
        failure: Exception = e
    # Outside the except block, so no exception context (which may hold a secret) is chained.
    _diagnose(spec, kwargs, key, ctx, secret, failure)
    return _INVALID


def _message_of(error: Exception) -> str:
    if error.args and isinstance(error.args[0], str):
        return error.args[0]  # attrs' own validators put (message, attribute, ...) in args
    return str(error) or type(error).__name__


def _diagnose(
    spec: _ClassSpec, kwargs: dict[str, Any], key: str, ctx: _Context, secret: bool, failure: Exception
) -> None:
    """Find which fields a failed construction tripped on by running converters/validators one by one.

    Runs only after ``cls(**kwargs)`` failed. Fields are set on a bare instance so validators that
    look at sibling fields still work; anything that cannot be checked alone is skipped, and if no
    single field is to blame the original error is reported on the table itself.
    """
    instance: Any = object.__new__(spec.cls)
    checked: list[tuple[_Field, Any]] = []
    blamed: dict[str, str] = {}  # toml key -> message, first problem of each field

    def blame(field: _Field, error: Exception) -> None:
        if secret or field.secret:
            message = "invalid value *** (details hidden: secret key)"
        else:
            message = _scrub(_message_of(error), ctx.secrets)
        blamed.setdefault(field.toml_key, message)

    for field in spec.fields:
        attribute = field.attribute
        if field.init_name in kwargs:
            value = kwargs[field.init_name]
        elif isinstance(attribute.default, attrs.Factory):  # type: ignore[arg-type]
            if attribute.default.takes_self:  # type: ignore[union-attr]
                continue
            value = attribute.default.factory()  # type: ignore[union-attr]
        else:
            value = attribute.default
        converter = attribute.converter
        if converter is not None:
            try:
                value = _run_converter(converter, value, instance, attribute)
            except (ValueError, TypeError, ConfigError) as e:
                blame(field, e)
                continue
            except Exception:
                continue
        try:
            object.__setattr__(instance, attribute.name, value)
        except Exception:
            continue
        checked.append((field, value))
    for field, value in checked:
        validator = field.attribute.validator
        if validator is None:
            continue
        try:
            validator(instance, field.attribute, value)
        except (ValueError, TypeError, ConfigError) as e:
            blame(field, e)
        except Exception:
            continue
    for field in spec.fields:  # reported in the class's field order
        if field.toml_key in blamed:
            ctx.error(_join(key, field.toml_key), blamed[field.toml_key])
    if not blamed:
        ctx.error(key, _scrub(_message_of(failure), ctx.secrets))


def _run_converter(converter: Any, value: Any, instance: Any, attribute: Any) -> Any:
    converter_class = getattr(attrs, "Converter", None)
    if converter_class is not None and isinstance(converter, converter_class):
        args = [value]
        if converter.takes_self:
            args.append(instance)
        if converter.takes_field:
            args.append(attribute)
        return converter.converter(*args)
    return converter(value)


# --------------------------------------------------------------------------- strategy parameters


@attrs.frozen
class NoParams:
    """Parameters of a strategy that declares no ``Params``: only an empty table is accepted."""


_PARAMS: dict[type, type] = {}


def _copier(value: Any) -> collections.abc.Callable[[], Any]:
    """A factory giving each instance its own copy of a mutable default."""
    return lambda: copy.copy(value)


def params_class(strategy_cls: type) -> type[Any]:
    """The frozen attrs class that validates ``strategy_cls``'s ``[strategies.params]`` table.

    The strategy's nested ``Params`` may be a plain class of annotated fields with defaults (it is
    turned into a frozen, keyword-only attrs subclass of itself, so its methods, including an
    ``__attrs_post_init__`` check, still apply) or already an attrs class (used as is). Without
    ``Params`` the result is :class:`NoParams`. Results are cached per ``Params`` class.
    """
    plain = getattr(strategy_cls, "Params", None)
    if plain is None:
        return NoParams
    if not isinstance(plain, type):
        raise TypeError(f"{strategy_cls.__qualname__}.Params must be a class, got {plain!r}")
    if attrs.has(plain):
        _spec(plain)
        return plain
    cached = _PARAMS.get(plain)
    if cached is not None:
        return cached
    try:
        hints = typing.get_type_hints(plain, localns=dict(vars(strategy_cls)))
    except Exception as e:
        raise TypeError(
            f"cannot resolve the type hints of {strategy_cls.__qualname__}.Params: {e}"
        ) from e
    these: dict[str, Any] = {}
    for name, tp in hints.items():
        if tp is ClassVar or typing.get_origin(tp) is ClassVar:
            continue
        default = getattr(plain, name, attrs.NOTHING)
        if isinstance(default, (list, dict, set)):
            default = attrs.Factory(_copier(default))
        these[name] = attrs.field(type=tp, default=default, kw_only=True)
    made = attrs.make_class(plain.__name__, these, bases=(plain,), frozen=True, slots=True)
    made.__qualname__ = plain.__qualname__
    made.__module__ = plain.__module__
    made.__doc__ = plain.__doc__
    _spec(made)
    _PARAMS[plain] = made
    return made


# ------------------------------------------------------------------------------------ defaults


def dump_defaults(cls: type) -> str:
    """A commented TOML skeleton of the attrs class ``cls``: defaults live, the rest commented.

    Keys with a default are written with it; required keys, secrets and keys without a TOML
    default (``None``) are commented out with a placeholder; each line says what the key expects.
    Arrays of tables are shown as one commented example. The result parses as TOML.
    """
    lines = [f"# {cls.__qualname__}"]
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith(f"{cls.__name__}("):
        lines.append(f"# {doc[0]}")
    _dump_table(cls, None, "", lines, commented=False)
    return "\n".join(lines).rstrip() + "\n"


def _dump_table(cls: type, instance: Any, path: str, lines: list[str], commented: bool) -> None:
    spec = _spec(cls)
    prefix = "# " if commented else ""
    later: list[tuple[_Field, Any]] = []  # sub-tables come after plain keys in TOML
    for field in spec.fields:
        tp = _strip(field.type)
        value = _default_of(field, instance)
        inner = _optional_inner(tp)
        if _is_attrs(inner) or _is_table_array(inner):
            later.append((field, value))
            continue
        note = _expected(tp)
        if field.secret:
            note = f"secret, {note}"
        shown = None if field.secret or value is None or value is attrs.NOTHING else _toml_value(value)
        if shown is None:
            note = f"required, {note}" if field.required else note
            lines.append(f"# {_key(field.toml_key)} = {_placeholder(tp)}  # {note}")
        else:
            lines.append(f"{prefix}{_key(field.toml_key)} = {shown}  # {note}")
    for field, value in later:
        inner = _optional_inner(_strip(field.type))
        sub = _join(path, field.toml_key)
        lines.append("")
        if _is_attrs(inner):
            sub_commented = commented or value is None  # an optional table left out by default
            lines.append(f"{'# ' if sub_commented else ''}[{sub}]")
            _dump_table(inner, value if _is_attrs(type(value)) else None, sub, lines, sub_commented)
        else:
            element = typing.get_args(inner)[0]
            lines.append(f"# [[{sub}]]  # an array of tables; one example entry")
            _dump_table(element, None, sub, lines, commented=True)


def _default_of(field: _Field, instance: Any) -> Any:
    if instance is not None:
        return getattr(instance, field.attribute.name)
    default = field.attribute.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return attrs.NOTHING if default.takes_self else default.factory()  # type: ignore[union-attr]
    return default


def _optional_inner(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return _strip(arms[0])
    return tp


def _is_table_array(tp: Any) -> bool:
    args = typing.get_args(tp)
    return (
        typing.get_origin(tp) in (list, tuple, collections.abc.Sequence)
        and len(args) >= 1
        and _is_attrs(_strip(args[0]))
    )


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _toml_value(value: Any) -> str | None:
    """A TOML literal for ``value``, or None if TOML cannot spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml_value(value.value)
    if isinstance(value, (int, Decimal)):
        text = str(value)
        return {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}.get(text, text)
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, PurePath):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_toml_value(v) for v in value]
        return None if None in items else "[" + ", ".join(typing.cast(list[str], items)) + "]"
    if isinstance(value, collections.abc.Mapping):
        pairs = [(str(k.value if isinstance(k, enum.Enum) else k), _toml_value(v)) for k, v in value.items()]
        if any(v is None for _, v in pairs):
            return None
        return "{" + ", ".join(f"{_key(k)} = {v}" for k, v in pairs) + "}" if pairs else "{}"
    return None


def _placeholder(tp: Any) -> str:
    tp = _optional_inner(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return _toml_value(typing.get_args(tp)[0]) or '""'
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _toml_value(_enum_labels(tp)[0]) or '""'
    simple = {
        int: "0",
        float: "0.0",
        bool: "false",
        Decimal: "0",
        dt.datetime: "1970-01-01T00:00:00Z",
        dt.date: "1970-01-01",
        dt.time: "00:00:00",
    }
    if tp in simple:
        return simple[tp]
    if tp in _SEQUENCES or origin in _SEQUENCES:
        return "[]"
    if tp in _MAPPINGS or origin in _MAPPINGS:
        return "{}"
    return '""'
