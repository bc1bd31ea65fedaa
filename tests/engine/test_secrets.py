import os
from pathlib import Path

import pytest

from engine import ConfigError
from engine._secrets import Credentials, load_credentials

SECRET = "s3cr3t-value-that-must-not-leak"


def test_repr_and_str_hide_the_secret() -> None:
    c = Credentials("AKIA1234567890", SECRET)
    assert SECRET not in repr(c) and SECRET not in str(c)
    assert "AKIA" in repr(c) and "1234567890" not in repr(c)


def test_key_file_must_be_private(tmp_path: Path) -> None:
    f = tmp_path / "k.toml"
    f.write_text(f'api_key = "k"\nsecret = "{SECRET}"\n')
    os.chmod(f, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as err:
        load_credentials(key_file=f)
    assert SECRET not in str(err.value)
    os.chmod(f, 0o600)
    assert load_credentials(key_file=f).secret == SECRET


def test_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TT_KEY", "k")
    with pytest.raises(ConfigError, match="TT_SECRET"):
        load_credentials(api_key_env="TT_KEY", secret_env="TT_SECRET")
    monkeypatch.setenv("TT_SECRET", SECRET)
    assert load_credentials(api_key_env="TT_KEY", secret_env="TT_SECRET").api_key == "k"


def test_malformed_key_file_does_not_echo_content(tmp_path: Path) -> None:
    f = tmp_path / "k.toml"
    f.write_text(f'api_key = "k"\nsecret = {SECRET}\n')
    os.chmod(f, 0o600)
    with pytest.raises(ConfigError) as err:
        load_credentials(key_file=f)
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("key", ["AKIA\r\nX-Injected: 1", "AKIA\n", "AK\x7fIA", "AKIA 1234", "ключ-1234"])
def test_api_key_with_control_characters_is_a_config_error(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("TT_KEY", key)
    monkeypatch.setenv("TT_SECRET", SECRET)
    with pytest.raises(ConfigError, match="api_key") as err:
        load_credentials(api_key_env="TT_KEY", secret_env="TT_SECRET")
    assert key not in str(err.value) and SECRET not in str(err.value)


def test_secret_with_a_newline_is_a_config_error_that_does_not_show_it() -> None:
    with pytest.raises(ConfigError, match="secret") as err:
        Credentials("AKIA1234567890", SECRET + "\r\n")
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("module", ["venues.dzengi.signer", "venues.ekiden.signer"])
def test_venue_credentials_mask_the_key_and_refuse_control_characters(module: str) -> None:
    import importlib

    venue_credentials = importlib.import_module(module).Credentials
    creds = venue_credentials("AKIA1234567890", SECRET)
    assert "AKIA" in repr(creds) and "1234567890" not in repr(creds) and SECRET not in repr(creds)
    for key, secret in (("AKIA\r\nX: 1", SECRET), ("AKIA1234567890", "s\ne"), ("", SECRET)):
        with pytest.raises(ConfigError) as err:
            venue_credentials(key, secret)
        assert SECRET not in str(err.value) and "X: 1" not in str(err.value)
