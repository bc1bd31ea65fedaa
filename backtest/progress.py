"""A progress bar for long backtests that costs nothing when nobody is watching.

:func:`progress` returns a tqdm bar on stderr when stderr is a terminal, and otherwise a no-op
object whose ``update`` is an empty method. The backtest loop calls ``update`` once per chunk of
events (tens of thousands), never once per event, so even the tqdm path stays off the hot path.

    with progress(len(events), desc="replay") as bar:
        for chunk in chunks:
            ...
            bar.update(len(chunk))
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Protocol

__all__ = ["Progress", "progress"]


class Progress(Protocol):
    """What :func:`progress` returns: counts work done, closes when the work ends."""

    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _NullProgress:
    """Does nothing, quickly."""

    __slots__ = ()

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NullProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


class _TqdmProgress:
    """A tqdm bar on stderr, counted in events."""

    __slots__ = ("_bar",)

    def __init__(self, total: int, desc: str) -> None:
        from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]  # only when a bar is shown

        self._bar = tqdm(
            total=total,
            desc=desc,
            unit="ev",
            unit_scale=True,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0.25,
            leave=True,
        )

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> _TqdmProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _stderr_is_tty() -> bool:
    stream = sys.stderr
    if stream is None:
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or the stream is closed
        return False


def progress(total: int, *, desc: str, enabled: bool | None = None) -> Progress:
    """A progress counter for ``total`` units of work.

    ``enabled=None`` shows a tqdm bar on stderr only when stderr is a terminal; ``True`` always
    shows one (on stderr); ``False`` never does. The disabled counter is a no-op with next to no
    overhead. Use it as a context manager or call ``close()``.
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    show = _stderr_is_tty() if enabled is None else enabled
    if not show:
        return _NullProgress()
    return _TqdmProgress(total, desc)
