"""The base of every venue's config class, and the validators they share.

A venue config is a frozen attrs class loaded by ``from_toml`` (:class:`engine._config.TomlConfig`:
unknown keys rejected with a "did you mean"). :class:`VenueConfig` adds what every venue has:
the credential fields (inline, never shown, or named environment variables) and
:meth:`VenueConfig.credentials`. A subclass sets ``venue`` and adds its own fields.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import attrs

from engine import ConfigError
from engine import TomlConfig

from .credentials import Credentials

__all__ = ["VenueConfig", "non_negative", "positive", "url"]

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def positive(instance: Any, attribute: "attrs.Attribute[Any]", value: float) -> None:
    """attrs validator: ``value > 0``."""
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")


def non_negative(instance: Any, attribute: "attrs.Attribute[Any]", value: float) -> None:
    """attrs validator: ``value >= 0``."""
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")


def url(*schemes: str) -> Validator:
    """attrs validator: the value is a URL with one of ``schemes`` (``url("http", "https")``)."""
    prefixes = tuple(f"{s}://" for s in schemes)

    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: str) -> None:
        if not value.startswith(prefixes):
            raise ValueError(f"must start with {' or '.join(prefixes)}, got {value!r}")
    return check


@attrs.frozen
class VenueConfig(TomlConfig):
    """Credential fields every venue config has; the key and the secret never appear in a repr.

    Credentials come from ``api_key``/``secret`` or, better, from the environment variables named
    by ``api_key_env``/``secret_env``. A subclass sets the class variable ``venue``.
    """

    venue: ClassVar[str] = "venue"
    "The venue's name, in error messages."

    api_key: str = attrs.field(default="", repr=False, metadata={"secret": True})
    secret: str = attrs.field(default="", repr=False, metadata={"secret": True})
    api_key_env: str = ""
    "Name of an environment variable holding the API key (used when ``api_key`` is empty)."
    secret_env: str = ""
    "Name of an environment variable holding the secret (used when ``secret`` is empty)."

    @classmethod
    def from_options(cls, options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                     key: str = "options") -> Self:
        """The config of a ``[venues.options]`` table; ``credentials`` (``api_key``/``secret``, or
        None) override any set in it. Errors are :class:`~engine.ConfigError` naming ``source`` and ``key``."""
        data = dict(options)
        if credentials is not None:
            data["api_key"] = credentials.api_key
            data["secret"] = credentials.secret
        return cls.from_mapping(data, source=source, key=key)

    def credentials(self) -> Credentials | None:
        """The API credentials, or None for a market-data-only connection."""
        key = self.api_key or (os.environ.get(self.api_key_env, "") if self.api_key_env else "")
        secret = self.secret or (os.environ.get(self.secret_env, "") if self.secret_env else "")
        if not key and not secret:
            return None
        if not key or not secret:
            raise ConfigError(f"{self.venue} needs both an API key and a secret (or neither, for market data only)")
        return Credentials(key, secret)
