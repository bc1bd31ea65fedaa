"""Load a strategy class named in a config: ``package.module:Class`` or ``path/to/file.py:Class``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from ._errors import ConfigError
from ._strategy import Strategy

__all__ = ["load_strategy_class"]


def load_strategy_class(spec: str, *, base_dir: Path | None = None, source: str = "<config>",
                        key: str = "class") -> type[Strategy]:
    """Import the strategy class ``spec``; every failure is a :class:`ConfigError` naming it.

    A path (containing ``/`` or ending in ``.py``) is resolved against ``base_dir`` (the config
    file's folder), then the current directory. A module name is imported from ``base_dir`` or the
    current directory if its top-level package or module is there (so a user's own ``strategies``
    package wins over the bundled one), else from the installed packages. "Not found" errors say
    where they looked.
    """
    module_part, sep, class_name = spec.rpartition(":")
    if not sep or not module_part or not class_name:
        raise ConfigError(f"expected 'package.module:ClassName' or 'path/file.py:ClassName', got {spec!r}",
                          path=source, key=key)
    try:
        if module_part.endswith(".py") or "/" in module_part:
            module = _import_path(module_part, base_dir, source, key)
        else:
            module = _import_module(module_part, base_dir)
    except ConfigError:
        raise
    except SyntaxError as exc:
        raise ConfigError(f"syntax error in strategy code {exc.filename}:{exc.lineno}: {exc.msg}",
                          path=source, key=key) from None
    except ModuleNotFoundError as exc:
        looked = ", ".join(str(d) for d in _user_dirs(base_dir))
        raise ConfigError(f"cannot import {module_part!r}: {exc} (looked in {looked} and the installed packages)",
                          path=source, key=key) from None
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


def _user_dirs(base_dir: Path | None) -> list[Path]:
    """Where a user's own strategy code is looked for, first match wins: the config's folder, the current directory."""
    dirs: list[Path] = []
    for folder in (base_dir, Path.cwd()):
        if folder is not None and folder.resolve() not in dirs:
            dirs.append(folder.resolve())
    return dirs


def _holds_module(folder: Path, module_part: str) -> bool:
    top = module_part.split(".")[0]
    return ((folder / top / "__init__.py").is_file() or (folder / f"{top}.py").is_file()
            or (folder / Path(*module_part.split("."))).with_suffix(".py").is_file())


def _import_module(module_part: str, base_dir: Path | None) -> ModuleType:
    """Import ``module_part``, from a user folder that holds it if there is one (see :func:`load_strategy_class`)."""
    folder = next((d for d in _user_dirs(base_dir) if _holds_module(d, module_part)), None)
    if folder is not None:
        _prefer_folder(folder, module_part.split(".")[0])
    return importlib.import_module(module_part)


def _prefer_folder(folder: Path, top: str) -> None:
    """Put ``folder`` first on ``sys.path`` and forget a ``top`` package imported from elsewhere."""
    entry = str(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    origin = getattr(loaded, "__file__", None) or next(iter(getattr(loaded, "__path__", [])), None)
    if origin is not None and Path(origin).resolve().is_relative_to(folder):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _import_path(path_str: str, base_dir: Path | None, source: str, key: str) -> ModuleType:
    candidates = [Path(path_str)]
    if base_dir is not None and not Path(path_str).is_absolute():
        candidates.insert(0, base_dir / path_str)
    for path in candidates:
        if path.is_file():
            break
    else:
        looked = ", ".join(str(c.resolve()) for c in candidates)
        raise ConfigError(f"strategy file {path_str!r} not found (looked for {looked})", path=source, key=key)
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
