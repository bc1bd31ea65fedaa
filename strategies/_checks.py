"""Parameter checks shared by the example strategies (run when a config's params are read)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["require_positive"]


def require_positive(params: Any, *names: str) -> None:
    """Raise ``ValueError`` naming the first of ``names`` whose value is not positive."""
    for name in names:
        value: Decimal = getattr(params, name)
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
