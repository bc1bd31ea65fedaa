"""Load a strategy class named in a config: ``package.module:Class`` or ``path/to/file.py:Class``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from ._errors import ConfigError
from ._strategy import Strategy

__all__ = ["load_strategy_class"]


def load_strategy_class(spec: str, *, base_dir: Path | None = None, source: str = "<config>",
                        key: str = "class") -> type[Strategy]:
    """Import the strategy class ``spec``; every failure is a :class:`ConfigError` naming it.

    A path (containing ``/`` or ending in ``.py``) is resolved against ``base_dir`` (the config
    file's folder), then the current directory.
    """
    module_part, sep, class_name = spec.rpartition(":")
    if not sep or not module_part or not class_name:
        raise ConfigError(f"expected 'package.module:ClassName' or 'path/file.py:ClassName', got {spec!r}",
                          path=source, key=key)
    try:
        if module_part.endswith(".py") or "/" in module_part:
            module = _import_path(module_part, base_dir, source, key)
        else:
            module = importlib.import_module(module_part)
    except ConfigError:
        raise
    except SyntaxError as exc:
        raise ConfigError(f"syntax error in strategy code {exc.filename}:{exc.lineno}: {exc.msg}",
                          path=source, key=key) from None
    except ModuleNotFoundError as exc:
        raise ConfigError(f"cannot import {module_part!r}: {exc}", path=source, key=key) from None
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise ConfigError(f"importing {module_part!r} raised {type(exc).__name__}: {exc} "
                          f"(at {frame.filename}:{frame.lineno})", path=source, key=key) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy)
        hint = f"; strategies there: {', '.join(found)}" if found else ""
        raise ConfigError(f"{module_part!r} has no class {class_name!r}{hint}", path=source, key=key)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ConfigError(f"{spec!r} is not a subclass of engine.Strategy", path=source, key=key)
    return cls


def _import_path(path_str: str, base_dir: Path | None, source: str, key: str):  # type: ignore[no-untyped-def]
    candidates = [Path(path_str)]
    if base_dir is not None and not Path(path_str).is_absolute():
        candidates.insert(0, base_dir / path_str)
    for path in candidates:
        if path.is_file():
            break
    else:
        raise ConfigError(f"strategy file {path_str!r} not found", path=source, key=key)
    path = path.resolve()
    name = f"triotrade_user_{abs(hash(str(path)))}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
