"""API credentials: loaded from the environment or a private key file, never printed.

A key file is TOML (``api_key = "…"``, ``secret = "…"``) readable by its owner only (mode 0600 or
stricter); anything looser is refused, like ssh does. Credentials never live in a run config.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import attrs

from ._errors import ConfigError

__all__ = ["Credentials", "load_credentials"]


def _mask(value: str) -> str:
    return f"{value[:4]}…" if len(value) > 8 else "***"


@attrs.frozen(repr=False)
class Credentials:
    """An API key and its secret (or private key). ``repr`` shows only the key's first characters."""

    api_key: str
    secret: str = attrs.field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key={_mask(self.api_key)!r}, secret=***)"

    __str__ = __repr__


def load_credentials(*, api_key_env: str | None = None, secret_env: str | None = None,
                     key_file: str | Path | None = None, where: str = "credentials") -> Credentials:
    """From ``key_file`` (mode 0600) or from the two environment variables; clear errors, no values shown."""
    if key_file is not None:
        path = Path(key_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"key file {path} not found", key=where)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"key file {path} has permissions {mode:04o}; make it private: chmod 600 {path}",
                              key=where)
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"key file {path} is not valid TOML: {type(exc).__name__}", key=where) from None
        missing = [k for k in ("api_key", "secret") if not isinstance(data.get(k), str) or not data.get(k)]
        if missing:
            raise ConfigError(f"key file {path} needs string keys: {', '.join(missing)}", key=where)
        return Credentials(data["api_key"], data["secret"])
    if api_key_env and secret_env:
        missing = [name for name in (api_key_env, secret_env) if not os.environ.get(name)]
        if missing:
            raise ConfigError(f"environment variable(s) not set: {', '.join(missing)}", key=where)
        return Credentials(os.environ[api_key_env], os.environ[secret_env])
    raise ConfigError("give key_file, or both api_key_env and secret_env", key=where)
