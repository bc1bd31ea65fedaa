"""One credentials type for the engine and every venue; venue configs share one base."""

from __future__ import annotations

import importlib

import attrs
import pytest

from engine import ConfigError
from engine import Credentials
from venues._common import VenueConfig
from venues.dzengi.gateway import DzengiConfig
from venues.ekiden.gateway import EkidenConfig

SECRET = "s3cr3t-value-that-must-not-leak"


@pytest.mark.parametrize("module", ["venues._common", "venues.dzengi.signer", "venues.ekiden.signer"])
def test_every_venue_signs_with_the_engines_credentials_type(module: str) -> None:
    assert importlib.import_module(module).Credentials is Credentials


@pytest.mark.parametrize("config_class", [DzengiConfig, EkidenConfig])
def test_venue_configs_build_the_one_credentials_type(config_class: type[VenueConfig]) -> None:
    assert issubclass(config_class, VenueConfig)
    creds = config_class(api_key="AKIA1234567890", secret=SECRET).credentials()
    assert type(creds) is Credentials
    assert creds == Credentials("AKIA1234567890", SECRET)


@pytest.mark.parametrize("config_class", [DzengiConfig, EkidenConfig])
def test_credentials_from_named_environment_variables(config_class: type[VenueConfig],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CK_KEY", "AKIA1234567890")
    monkeypatch.setenv("CK_SECRET", SECRET)
    config = config_class(api_key_env="CK_KEY", secret_env="CK_SECRET")
    assert config.credentials() == Credentials("AKIA1234567890", SECRET)
    assert SECRET not in repr(config) and "AKIA1234567890" not in repr(config)


@pytest.mark.parametrize("config_class", [DzengiConfig, EkidenConfig])
def test_half_a_key_pair_is_a_config_error_naming_the_venue(config_class: type[VenueConfig]) -> None:
    assert config_class().credentials() is None
    with pytest.raises(ConfigError, match=f"{config_class.venue} needs both") as err:
        config_class(secret=SECRET).credentials()
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("config_class", [DzengiConfig, EkidenConfig])
def test_secret_fields_stay_out_of_the_repr_and_are_marked(config_class: type[VenueConfig]) -> None:
    fields = attrs.fields_dict(config_class)
    for name in ("api_key", "secret"):
        assert fields[name].repr is False and fields[name].metadata.get("secret") is True
    assert SECRET not in repr(config_class(api_key="k" * 12, secret=SECRET))


def test_validators_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="must start with ws:// or wss://"):
        EkidenConfig(ws_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="must be positive"):
        EkidenConfig(http_timeout_s=0)
    with pytest.raises(ValueError, match="must not be negative"):
        DzengiConfig(max_rate_wait_s=-1)
