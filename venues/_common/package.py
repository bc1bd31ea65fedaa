"""A venue package's entry points: the uniform interface of :mod:`venues`, built from its parts.

A venue's ``__init__`` describes the venue, builds one :class:`VenuePackage` from its gateway, its
config class, its testnet module and the demo account, and exports what
:meth:`VenuePackage.interface` returns (``make_gateway``, ``add_testnet_arguments``,
``run_testnet``, ``open_local_testnet``, ``DEMO_SYMBOL``). The testnet module is imported on demand only: it pulls
in the simulator.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from types import ModuleType
from typing import Any, Generic, TypeVar

import attrs

from .config import VenueConfig

__all__ = ["VenuePackage"]

C = TypeVar("C", bound=VenueConfig)
G = TypeVar("G")


@attrs.frozen
class VenuePackage(Generic[C, G]):
    """The uniform venue interface of one venue package.

    ``testnet`` is the dotted name of the venue's testnet module (with ``add_testnet_arguments``,
    ``run_testnet`` and ``open_<venue>_testnet``); ``demo_balances`` fund the one account of
    :meth:`open_local_testnet`, and ``demo_options`` join the options table it yields.
    """

    venue: str
    config: type[C] = attrs.field(kw_only=True)
    gateway: Callable[[C], G] = attrs.field(kw_only=True)
    testnet: str = attrs.field(kw_only=True)
    demo_symbol: str = attrs.field(kw_only=True)
    "The instrument the demo trades on the venue's local testnet (the package's ``DEMO_SYMBOL``)."
    demo_balances: Mapping[str, Decimal] = attrs.field(kw_only=True)
    demo_options: Mapping[str, Any] = attrs.field(kw_only=True, factory=dict)

    def interface(self) -> tuple[Callable[..., G], Callable[[argparse.ArgumentParser], None],
                                 Callable[[argparse.Namespace], int],
                                 Callable[..., AbstractAsyncContextManager[dict[str, Any]]], str]:
        """``make_gateway, add_testnet_arguments, run_testnet, open_local_testnet, DEMO_SYMBOL``."""
        return self.make_gateway, self.add_testnet_arguments, self.run_testnet, self.open_local_testnet, self.demo_symbol

    def _testnet(self) -> ModuleType:
        return importlib.import_module(self.testnet)

    def make_gateway(self, options: Mapping[str, Any], credentials: Any, *, source: str = "<config>",
                     key: str = "options") -> G:
        """Build the gateway from a ``[venues.options]`` table and credentials (None: market data only).

        Unknown or invalid options raise :class:`~engine.ConfigError` naming ``source`` and ``key``
        (with a "did you mean" for a misspelt key). ``credentials`` has ``api_key`` and ``secret``;
        they override any set in the options.
        """
        data = dict(options)
        if credentials is not None:
            data["api_key"] = credentials.api_key
            data["secret"] = credentials.secret
        return self.gateway(self.config.from_mapping(data, source=source, key=key))

    def add_testnet_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The ``triotrade testnet <venue>`` options (accounts file, port, market, limits, faults)."""
        self._testnet().add_testnet_arguments(parser)

    def run_testnet(self, args: argparse.Namespace) -> int:
        """Serve the venue's local testnet until Ctrl-C; the exit status."""
        status: int = self._testnet().run_testnet(args)
        return status

    @asynccontextmanager
    async def open_local_testnet(self, api_key: str, secret: str, *, seed: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Serve a local testnet with one funded account for the duration of the block.

        Yields the ``[venues.options]`` table that points this venue's gateway at it (the account's
        credentials are passed to :meth:`make_gateway` separately, as in a real run).
        """
        from backtest.exchange import AccountConfig

        opener = getattr(self._testnet(), f"open_{self.venue}_testnet")
        account = AccountConfig(name="demo", api_key=api_key, secret=secret, balances=dict(self.demo_balances))
        async with opener([account], seed=seed) as testnet:
            yield {"base_url": testnet.url, "ws_url": testnet.ws_url, **self.demo_options}
