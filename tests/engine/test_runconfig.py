"""The live run config: ``external_orders`` and ``stale_after_s`` are validated strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine._config import InvalidConfig
from engine._runconfig import load_live_config

_BASE = """
[[venues]]
venue = "somewhere"
{venue_extra}

[run]
{run_extra}
"""


def _load(tmp_path: Path, *, run_extra: str = "", venue_extra: str = "") -> object:
    path = tmp_path / "run.toml"
    path.write_text(_BASE.format(run_extra=run_extra, venue_extra=venue_extra))
    return load_live_config(path)


def test_external_orders_defaults_to_leave_and_may_be_set_per_venue(tmp_path: Path) -> None:
    config = _load(tmp_path)
    assert config.run.external_orders == "leave" and config.venues[0].external_orders is None  # type: ignore[attr-defined]
    config = _load(tmp_path, run_extra='external_orders = "cancel"\nstale_after_s = 12',
                   venue_extra='external_orders = "adopt"')
    assert config.run.external_orders == "cancel" and config.run.stale_after_s == 12  # type: ignore[attr-defined]
    assert config.venues[0].external_orders == "adopt"  # type: ignore[attr-defined]


def test_a_wrong_external_orders_value_or_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig) as info:
        _load(tmp_path, run_extra='external_orders = "adpot"', venue_extra='external_order = "leave"')
    text = str(info.value)
    assert "run.external_orders: expected one of 'adopt', 'cancel', 'leave', got 'adpot' (str); " \
           "did you mean 'adopt'?" in text
    assert "venues[0].external_order: unknown key, did you mean 'external_orders'?" in text
