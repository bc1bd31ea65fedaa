"""API credentials: loaded from the environment or a private key file, never printed.

A key file is TOML (``api_key = "…"``, ``secret = "…"``) readable by its owner only (mode 0600 or
stricter); anything looser is refused, like ssh does. Credentials never live in a run config.

Wherever they come from, an API key must be printable ASCII without spaces (it is written into
a request head) and a secret must hold no control characters: a CR/LF pasted into an environment
variable is a :class:`~engine.ConfigError` (naming the field, never the value), not a header
injection. :func:`check_credential` and :func:`mask_key` serve the venues' own credential classes.
"""

from __future__ import annotations

import os
import stat
import tomllib
import unicodedata
from pathlib import Path

import attrs

from ._errors import ConfigError

__all__ = ["Credentials", "InvalidCredential", "load_credentials", "check_credential", "mask_key",
           "validate_api_key", "validate_secret"]


def mask_key(value: str) -> str:
    """An API key as logs and reprs may show it: its first 4 characters of 9 or more, else ``***``."""
    return f"{value[:4]}…" if len(value) > 8 else "***"


class InvalidCredential(ConfigError, ValueError):
    """A credential is empty or holds characters it may not: a :class:`ConfigError`, and a
    ``ValueError`` as attrs validators raise."""


def check_credential(name: str, value: object, *, header: bool) -> str:
    """``value`` if it is a usable credential, else :class:`InvalidCredential` naming ``name`` (not the value).

    Empty values and control characters (CR, LF, NUL, …) are refused; with ``header`` (a value
    written into a request head, like an API key) only printable ASCII without spaces is allowed.
    """
    if not isinstance(value, str) or not value:
        raise InvalidCredential(f"{name} must be a non-empty string", key=name)
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidCredential(f"{name} contains a control character (a stray newline?)", key=name)
    if header and not (value.isascii() and value.isprintable() and " " not in value):
        raise InvalidCredential(f"{name} must be printable ASCII without spaces", key=name)
    return value


def validate_api_key(instance: object, attribute: "attrs.Attribute[str]", value: str) -> None:
    """attrs validator: ``value`` is usable as an API key in a request head (:func:`check_credential`)."""
    check_credential(attribute.name, value, header=True)


def validate_secret(instance: object, attribute: "attrs.Attribute[str]", value: str) -> None:
    """attrs validator: ``value`` is a non-empty secret without control characters."""
    check_credential(attribute.name, value, header=False)


@attrs.frozen(repr=False)
class Credentials:
    """An API key and its secret (or private key). ``repr`` shows only the key's first characters.

    Raises :class:`ConfigError` for an empty value or one with control characters.
    """

    api_key: str = attrs.field(validator=validate_api_key)
    secret: str = attrs.field(repr=False, validator=validate_secret)

    def __repr__(self) -> str:
        return f"Credentials(api_key={mask_key(self.api_key)!r}, secret=***)"

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
