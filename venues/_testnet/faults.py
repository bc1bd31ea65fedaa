"""Fault injection for the local testnets: the ways a real venue misbehaves, on demand.

:class:`FaultSettings` says what to inject (frozen; all off by default). :class:`FaultInjector`
holds the running counters and the seeded random generator and answers the dialect's questions
("fail this one?"). Venue-agnostic: each venue's testnet dialect decides where a decision applies
(which response gets the latency, which request counts as an order, what a 5xx body looks like).
"""

from __future__ import annotations

import argparse
import enum
import random
from typing import Any

import attrs

__all__ = ["FaultSettings", "FaultInjector", "AnswerFault", "add_fault_arguments", "fault_settings_from_args"]


def _non_negative(instance: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


def _probability(instance: Any, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be within [0, 1], got {value}")


@attrs.frozen(slots=True)
class FaultSettings:
    """What to inject. Every field at its default means a well-behaved venue."""

    latency_ms: int = attrs.field(default=0, validator=_non_negative)
    "Added before every HTTP response and every WebSocket message the server sends."
    ws_drop_every_n_messages: int = attrs.field(default=0, validator=_non_negative)
    "Close each WebSocket abruptly after it was sent this many messages (0 = never)."
    ws_drop_after_s: float = attrs.field(default=0.0, validator=_non_negative)
    "Close each WebSocket abruptly this many seconds after it opened (0 = never)."
    error_5xx_after_order_probability: float = attrs.field(default=0.0, validator=_probability)
    "Chance that an accepted (and booked) order command is answered with a 5xx anyway."
    error_5xx_after_order_every: int = attrs.field(default=0, validator=_non_negative)
    "Answer every Nth accepted order command with a 5xx after executing it (0 = never)."
    timeout_after_order_every: int = attrs.field(default=0, validator=_non_negative)
    "Hold the answer to every Nth accepted order command (it is executed) for ``timeout_after_order_s``."
    timeout_after_order_probability: float = attrs.field(default=0.0, validator=_probability)
    "Chance that the answer to an accepted (and executed) order command is held back."
    timeout_after_order_s: float = attrs.field(default=30.0, validator=_non_negative)
    "How long a held answer waits before it is sent (longer than a client's timeout)."
    reset_after_order_every: int = attrs.field(default=0, validator=_non_negative)
    "Close the connection instead of answering every Nth accepted (and executed) order command."
    reset_after_order_probability: float = attrs.field(default=0.0, validator=_probability)
    "Chance that the connection is closed instead of answering an accepted (and executed) order."
    force_429_every: int = attrs.field(default=0, validator=_non_negative)
    "Answer every Nth request with 429 whatever the real weight used (0 = never)."
    force_429_probability: float = attrs.field(default=0.0, validator=_probability)
    "Chance that a request is answered 429 whatever the real weight used (seeded by ``seed``)."
    force_429_from_s: float = attrs.field(default=0.0, validator=_non_negative)
    "Start of a window (seconds since the testnet started) in which every request gets 429."
    force_429_until_s: float = attrs.field(default=0.0, validator=_non_negative)
    "End of that window; a window with ``until <= from`` is off."
    clock_offset_ms: int = 0
    """Server clock offset: shifts the venue's clock, so every timestamp it serves (server time,
    trades, bars, orders, fills) and its timestamp check."""
    seed: int = 0
    "Seed of the random generator behind probabilistic faults."

    @property
    def active(self) -> bool:
        """True if any fault is configured."""
        return self != FaultSettings(seed=self.seed)


class AnswerFault(enum.Enum):
    """What happens to the answer of an order command the venue accepted and executed."""

    ERROR_5XX = "5xx"
    "A 5xx error answer (the order stays booked)."
    RESET = "reset"
    "The connection is closed before the answer is complete."
    TIMEOUT = "timeout"
    "The answer is held back for ``timeout_after_order_s`` (past the client's timeout)."


class FaultInjector:
    """Running state of fault injection: counters and a seeded generator.

    Decisions are deterministic for a given seed and call sequence. Replace the settings with
    :meth:`configure` (counters restart).
    """

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.configure(settings or FaultSettings())

    def configure(self, settings: FaultSettings) -> None:
        """Use ``settings`` from now on and restart the counters."""
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._rng_429 = random.Random(f"429:{settings.seed}")
        self._requests = 0
        self._orders = 0
        self.injected: dict[str, int] = {"latency": 0, "ws_drop": 0, "5xx": 0, "429": 0, "reset": 0, "timeout": 0}
        "How many times each fault fired (for tests and the CLI's summary)."

    # -- latency and clock -------------------------------------------------------------------
    @property
    def latency_s(self) -> float:
        """The configured latency in seconds."""
        return self.settings.latency_ms / 1000.0

    @property
    def clock_offset_ms(self) -> int:
        """The configured clock offset in milliseconds."""
        return self.settings.clock_offset_ms

    def note_latency(self) -> None:
        """Count one delayed answer or message."""
        if self.settings.latency_ms:
            self.injected["latency"] += 1

    # -- 429 -----------------------------------------------------------------------------------
    def force_429(self, elapsed_s: float) -> bool:
        """Count one request; True if it must be answered 429 regardless of the real limits."""
        s = self.settings
        self._requests += 1
        hit = bool(s.force_429_every) and self._requests % s.force_429_every == 0
        if s.force_429_probability and self._rng_429.random() < s.force_429_probability:
            hit = True
        if s.force_429_until_s > s.force_429_from_s and s.force_429_from_s <= elapsed_s < s.force_429_until_s:
            hit = True
        if hit:
            self.injected["429"] += 1
        return hit

    # -- the answer to an accepted order ------------------------------------------------------
    def fail_after_order(self) -> bool:
        """Count one accepted order command; True if its answer must be a 5xx (it stays booked)."""
        return self.after_order() is AnswerFault.ERROR_5XX

    def after_order(self) -> AnswerFault | None:
        """Count one accepted (executed) order command; the fault its answer gets, if any.

        Each kind draws from the seeded generator only when its probability is set, so the
        5xx sequence of a seed is the same with or without the other kinds configured.
        A 5xx wins over a reset, a reset over a timeout.
        """
        s = self.settings
        self._orders += 1
        candidates = (
            (AnswerFault.ERROR_5XX, s.error_5xx_after_order_every, s.error_5xx_after_order_probability),
            (AnswerFault.RESET, s.reset_after_order_every, s.reset_after_order_probability),
            (AnswerFault.TIMEOUT, s.timeout_after_order_every, s.timeout_after_order_probability),
        )
        chosen: AnswerFault | None = None
        for fault, every, probability in candidates:
            hit = bool(every) and self._orders % every == 0
            if probability and self._rng.random() < probability:
                hit = True
            if hit and chosen is None:
                chosen = fault
        if chosen is not None:
            self.injected[chosen.value] += 1
        return chosen

    # -- WebSocket drops --------------------------------------------------------------------------
    def ws_drop_due(self, messages_sent: int, open_for_s: float) -> bool:
        """True if a socket that has sent ``messages_sent`` messages and is ``open_for_s`` old must drop."""
        s = self.settings
        hit = (bool(s.ws_drop_every_n_messages) and messages_sent >= s.ws_drop_every_n_messages) or (
            bool(s.ws_drop_after_s) and open_for_s >= s.ws_drop_after_s
        )
        if hit:
            self.injected["ws_drop"] += 1
        return hit


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--fault-*`` flags of :class:`FaultSettings` to a testnet command."""
    group = parser.add_argument_group("fault injection")
    group.add_argument("--fault-latency-ms", type=int, default=0, metavar="MS",
                       help="delay every response and WebSocket message by MS")
    group.add_argument("--fault-ws-drop-every", type=int, default=0, metavar="N",
                       help="drop each WebSocket after N messages")
    group.add_argument("--fault-ws-drop-after", type=float, default=0.0, metavar="S",
                       help="drop each WebSocket S seconds after it opened")
    group.add_argument("--fault-5xx-after-order-probability", type=float, default=0.0, metavar="P",
                       help="answer an accepted order with 5xx with probability P")
    group.add_argument("--fault-5xx-after-order-every", type=int, default=0, metavar="N",
                       help="answer every Nth accepted order with 5xx")
    group.add_argument("--fault-timeout-after-order-every", type=int, default=0, metavar="N",
                       help="execute every Nth order command but hold its answer back")
    group.add_argument("--fault-timeout-after-order-probability", type=float, default=0.0, metavar="P",
                       help="execute an order command but hold its answer back with probability P")
    group.add_argument("--fault-timeout-after-order-s", type=float, default=30.0, metavar="S",
                       help="how long a held answer waits (default 30)")
    group.add_argument("--fault-reset-after-order-every", type=int, default=0, metavar="N",
                       help="execute every Nth order command, then close the connection unanswered")
    group.add_argument("--fault-reset-after-order-probability", type=float, default=0.0, metavar="P",
                       help="execute an order command, then close the connection with probability P")
    group.add_argument("--fault-429-every", type=int, default=0, metavar="N",
                       help="answer every Nth request with 429")
    group.add_argument("--fault-429-probability", type=float, default=0.0, metavar="P",
                       help="answer a request with 429 with probability P (seeded by --seed)")
    group.add_argument("--fault-429-window", type=float, nargs=2, default=None, metavar=("FROM_S", "UNTIL_S"),
                       help="answer every request with 429 between these seconds since start")
    group.add_argument("--fault-clock-offset-ms", type=int, default=0, metavar="MS",
                       help="shift the server clock by MS")


def fault_settings_from_args(args: argparse.Namespace, seed: int = 0) -> FaultSettings:
    """Build :class:`FaultSettings` from the flags :func:`add_fault_arguments` added."""
    window = args.fault_429_window or (0.0, 0.0)
    return FaultSettings(
        latency_ms=args.fault_latency_ms,
        ws_drop_every_n_messages=args.fault_ws_drop_every,
        ws_drop_after_s=args.fault_ws_drop_after,
        error_5xx_after_order_probability=args.fault_5xx_after_order_probability,
        error_5xx_after_order_every=args.fault_5xx_after_order_every,
        timeout_after_order_every=args.fault_timeout_after_order_every,
        timeout_after_order_probability=args.fault_timeout_after_order_probability,
        timeout_after_order_s=args.fault_timeout_after_order_s,
        reset_after_order_every=args.fault_reset_after_order_every,
        reset_after_order_probability=args.fault_reset_after_order_probability,
        force_429_every=args.fault_429_every,
        force_429_probability=args.fault_429_probability,
        force_429_from_s=window[0],
        force_429_until_s=window[1],
        clock_offset_ms=args.fault_clock_offset_ms,
        seed=seed,
    )
