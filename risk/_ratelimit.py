"""Weighted token buckets keyed by a venue's metered scopes.

A venue publishes limits such as "REQUEST_WEIGHT 1200 per minute" and "ORDERS 10 per second and
864000 per day". A gateway turns them into :class:`RateLimitSpec` values and builds one
:class:`RateLimiter` per venue and account, shared by its market-data and trading requests. Before
each request it acquires the request's weights (``{"REQUEST_WEIGHT": 1, "ORDERS": 1}``); the
limiter admits it now, makes it wait (bounded), or refuses it with
:class:`~engine.RiskDenied` (``RATE_LIMITED``) before anything is sent.

Why the buckets are smaller than the published limit
----------------------------------------------------
A plain token bucket with capacity ``L`` refilled at ``L`` per interval admits up to ``2·L`` within
one interval (a full bucket spent at once, then the refill). Venues count per fixed or sliding
window, so that would earn a 429, and ignoring 429s earns a 418 ban. Each bucket here is sized so
that *any* window of the interval sees at most ``utilization · L`` (plus, at most once, the excess
of one request heavier than the burst)::

    capacity = burst_fraction · utilization · L          (what may go out at once)
    refill   = (1 - burst_fraction) · utilization · L / interval

Requests are served in arrival order: each acquire reserves its tokens immediately (a bucket may go
into debt) and sleeps until its admission time, so waiting is FIFO and the wait is known, and
bounded, before the request commits to it.

On a 429 the gateway calls :meth:`RateLimiter.on_rate_limited` with the venue's retry hint: every
bucket of the limiter is drained and paused until the hint expires; waiters that were already
scheduled recompute their turn after the pause instead of all firing at once. Time is
``trio.current_time()``, so behaviour is deterministic under trio's ``MockClock``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import trio

from engine import RiskDenied
from engine import DenyReason

__all__ = ["RateLimitSpec", "RateLimiter", "RateLimiterStatistics", "PreparedWeights"]

log = logging.getLogger("triotrade.risk")

_EPS = 1e-9


def _positive_int(instance: object, attribute: attrs.Attribute, value: int) -> None:  # type: ignore[type-arg]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _positive_number(instance: object, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


@attrs.frozen(slots=True)
class RateLimitSpec:
    """One metered limit a venue publishes: at most ``limit`` weight per ``interval_s`` seconds.

    A scope may have several specs (e.g. ``ORDERS`` per second and per day); a request's weight
    for the scope is taken from every one of them.
    """

    scope: str
    "The venue's name for what is metered, e.g. ``REQUEST_WEIGHT``, ``ORDERS``, ``private``."
    limit: int = attrs.field(validator=_positive_int)
    "Total weight allowed per interval."
    interval_s: float = attrs.field(converter=float, validator=_positive_number)
    "Length of the interval in seconds (60 for per-minute, 86400 for per-day)."


@attrs.frozen(slots=True)
class RateLimiterStatistics:
    """A snapshot of what a :class:`RateLimiter` did (for status lines and reports)."""

    admitted: int
    "Requests admitted (immediately or after waiting)."
    waited: int
    "Requests that had to wait before being admitted."
    total_wait_s: float
    "Sum of the waits."
    denied: int
    "Requests refused with ``RATE_LIMITED`` (over the wait bound, or ``try_acquire`` failures)."
    rate_limited: int
    "429s reported through :meth:`RateLimiter.on_rate_limited`."
    paused_until: float
    "trio time until which nothing is admitted (in the past when not paused)."
    tokens: Mapping[str, float]
    "Tokens left per ``scope/interval_s`` bucket (negative = reserved by waiters)."


class PreparedWeights:
    """A request's weights resolved to a limiter's buckets (see :meth:`RateLimiter.prepare`)."""

    __slots__ = ("weights", "version", "pairs")

    def __init__(self, weights: dict[str, int], version: int, pairs: list[tuple[_Bucket, int]]) -> None:
        self.weights = weights
        self.version = version
        self.pairs = pairs

    def items(self) -> Iterable[tuple[str, int]]:
        return self.weights.items()

    def __repr__(self) -> str:
        return f"PreparedWeights({self.weights!r})"


class _Bucket:
    __slots__ = ("spec", "capacity", "rate", "tokens", "updated")

    def __init__(self, spec: RateLimitSpec, burst_fraction: float, utilization: float, now: float) -> None:
        self.spec = spec
        usable = spec.limit * utilization
        self.capacity = usable * burst_fraction
        self.rate = usable * (1.0 - burst_fraction) / spec.interval_s
        self.tokens = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            tokens = self.tokens + self.rate * (now - self.updated)
            self.tokens = tokens if tokens < self.capacity else self.capacity
            self.updated = now

    def ready_at(self, now: float, weight: int) -> float:
        """Earliest time ``weight`` may go out (after ``refill(now)``)."""
        need = weight if weight < self.capacity else self.capacity
        start = self.updated if self.updated > now else now
        if self.tokens + _EPS >= need:
            return start
        return start + (need - self.tokens) / self.rate


class RateLimiter:
    """Token buckets for one venue and account, keyed by the venue's scopes.

    ``clock`` returns seconds and defaults to ``trio.current_time``. A backtest may pass the
    engine's simulated time and use only :meth:`try_acquire`; :meth:`acquire` sleeps on trio's
    clock and needs the default.
    """

    def __init__(
        self,
        specs: Iterable[RateLimitSpec] = (),
        *,
        burst_fraction: float = 0.1,
        utilization: float = 0.95,
        max_wait_s: float = 5.0,
        default_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        clock: Callable[[], float] | None = None,
        name: str = "",
    ) -> None:
        if not 0.0 < burst_fraction < 1.0:
            raise ValueError(f"burst_fraction must be between 0 and 1 (exclusive), got {burst_fraction!r}")
        if not 0.0 < utilization <= 1.0:
            raise ValueError(f"utilization must be in (0, 1], got {utilization!r}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s!r}")
        if not 0 < default_backoff_s <= max_backoff_s:
            raise ValueError("need 0 < default_backoff_s <= max_backoff_s")
        self.name = name
        self.burst_fraction = burst_fraction
        self.utilization = utilization
        self.max_wait_s = max_wait_s
        "Default bound of :meth:`acquire` (0 = deny instead of waiting)."
        self.default_backoff_s = default_backoff_s
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._scopes: dict[str, list[_Bucket]] = {}
        self._version = 0
        self._paused_until = -math.inf
        self._epoch = 0
        self._consecutive_429 = 0
        self._last_429 = -math.inf
        self._admitted = 0
        self._waited = 0
        self._total_wait = 0.0
        self._denied = 0
        self._rate_limited = 0
        for spec in specs:
            self.add_spec(spec)

    @classmethod
    def from_limits(cls, specs: Iterable[RateLimitSpec], **options: Any) -> RateLimiter:
        """A limiter for the limits a venue publishes (options as for the constructor)."""
        return cls(specs, **options)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else trio.current_time()

    # -- scopes ------------------------------------------------------------------------------
    def add_scope(self, scope: str, limit: int, interval_s: float) -> None:
        """Meter ``scope`` at ``limit`` weight per ``interval_s``; replaces a spec of the same interval."""
        self.add_spec(RateLimitSpec(scope, limit, interval_s))

    def add_spec(self, spec: RateLimitSpec) -> None:
        """Add (or replace, same scope and interval) one limit."""
        try:
            now = self._now()
        except RuntimeError:  # built outside trio.run: the bucket starts full at its first use
            now = -math.inf
        bucket = _Bucket(spec, self.burst_fraction, self.utilization, now)
        buckets = self._scopes.setdefault(spec.scope, [])
        self._version += 1
        for i, old in enumerate(buckets):
            if old.spec.interval_s == spec.interval_s:
                old.refill(bucket.updated)
                # keep what the old bucket had spent: never hand out a fresh burst on an update
                bucket.tokens = min(bucket.capacity, old.tokens)
                bucket.updated = max(old.updated, bucket.updated)
                buckets[i] = bucket
                return
        buckets.append(bucket)

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self._scopes)

    def specs(self) -> tuple[RateLimitSpec, ...]:
        return tuple(b.spec for buckets in self._scopes.values() for b in buckets)

    def prepare(self, weights: Mapping[str, int]) -> PreparedWeights:
        """Resolve ``weights`` to buckets once; pass the result wherever weights are accepted.

        Checks the scopes and weights now (raising like :meth:`acquire` would). A prepared value
        stays valid across :meth:`add_scope` calls: it is re-resolved when the scopes change.
        """
        return PreparedWeights(dict(weights), self._version, self._resolve(weights))

    def _buckets_for(self, weights: Mapping[str, int] | PreparedWeights) -> list[tuple[_Bucket, int]]:
        if isinstance(weights, PreparedWeights):
            if weights.version != self._version:
                weights.pairs = self._resolve(weights.weights)
                weights.version = self._version
            return weights.pairs
        return self._resolve(weights)

    def _resolve(self, weights: Mapping[str, int]) -> list[tuple[_Bucket, int]]:
        out: list[tuple[_Bucket, int]] = []
        for scope, weight in weights.items():
            buckets = self._scopes.get(scope)
            if buckets is None:
                known = ", ".join(self._scopes) or "none"
                raise KeyError(f"rate limiter {self.name!r} has no scope {scope!r} (known: {known})")
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ValueError(f"weight of {scope!r} must be a non-negative integer, got {weight!r}")
            if weight == 0:
                continue
            for bucket in buckets:
                if weight > bucket.spec.limit:
                    raise ValueError(f"weight {weight} of {scope!r} exceeds the venue's whole limit "
                                     f"{bucket.spec.limit} per {bucket.spec.interval_s:g} s")
                out.append((bucket, weight))
        return out

    def _admission_time(self, pairs: list[tuple[_Bucket, int]], now: float) -> float:
        ready = self._paused_until if self._paused_until > now else now
        for bucket, weight in pairs:
            bucket.refill(now)
            t = bucket.ready_at(now, weight)
            if t > ready:
                ready = t
        return ready

    # -- acquiring ---------------------------------------------------------------------------
    def wait_time(self, weights: Mapping[str, int] | PreparedWeights) -> float:
        """Seconds a request with ``weights`` would wait now (0 = admitted at once). Reserves nothing."""
        pairs = self._buckets_for(weights)
        now = self._now()
        return max(0.0, self._admission_time(pairs, now) - now)

    def try_acquire(self, weights: Mapping[str, int] | PreparedWeights) -> bool:
        """Take ``weights`` if they are available right now; never waits. False = over the limit."""
        pairs = self._buckets_for(weights)
        now = self._clock() if self._clock is not None else trio.current_time()
        if now < self._paused_until:
            self._denied += 1
            return False
        for bucket, weight in pairs:  # admitted now iff every bucket has the tokens now
            updated = bucket.updated
            if now > updated:
                tokens = bucket.tokens + bucket.rate * (now - updated)
                bucket.tokens = tokens if tokens < bucket.capacity else bucket.capacity
                bucket.updated = now
            elif updated > now:  # refilling starts after a pause
                self._denied += 1
                return False
            capacity = bucket.capacity
            if bucket.tokens + _EPS < (weight if weight < capacity else capacity):
                self._denied += 1
                return False
        for bucket, weight in pairs:
            bucket.tokens -= weight
        self._admitted += 1
        return True

    async def acquire(self, weights: Mapping[str, int] | PreparedWeights, *, max_wait_s: float | None = None) -> float:
        """Wait until ``weights`` may be sent and take them; returns the seconds waited.

        Raises :class:`~engine.RiskDenied` with ``RATE_LIMITED`` (having taken nothing) if the wait
        would exceed ``max_wait_s`` (default: the limiter's ``max_wait_s``; 0 = never wait). Always
        a trio checkpoint. If cancelled while waiting, the reserved tokens are given back.
        """
        bound = self.max_wait_s if max_wait_s is None else max_wait_s
        pairs = self._buckets_for(weights)
        start = self._now()
        deadline = start + bound
        while True:
            now = self._now()
            admit = self._admission_time(pairs, now)
            if admit > deadline + _EPS:
                self._denied += 1
                detail = (f"{self._describe(weights)} would wait {admit - start:.3f} s, more than the "
                          f"{bound:g} s allowed")
                log.info("denied: %s: %s", DenyReason.RATE_LIMITED.value, detail)
                await trio.lowlevel.checkpoint()
                raise RiskDenied(DenyReason.RATE_LIMITED, detail)
            for bucket, weight in pairs:
                bucket.tokens -= weight
            if admit <= now + _EPS:
                break
            epoch = self._epoch
            try:
                if self._clock is None:
                    await trio.sleep_until(admit)
                else:
                    await trio.sleep(admit - now)
            except BaseException:
                if self._epoch == epoch:  # a pause has already wiped every reservation
                    for bucket, weight in pairs:
                        bucket.tokens += weight
                raise
            if self._epoch == epoch and self._now() + _EPS >= self._paused_until:
                break
            # a 429 arrived while we slept: our reservation was wiped; queue again after the pause
        waited = self._now() - start
        self._admitted += 1
        if waited > 0:
            self._waited += 1
            self._total_wait += waited
        else:
            await trio.lowlevel.checkpoint()
        return waited

    def _describe(self, weights: Mapping[str, int] | PreparedWeights) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in weights.items())
        return f"{self.name} request ({parts})" if self.name else f"request ({parts})"

    # -- venue feedback ----------------------------------------------------------------------
    def on_rate_limited(self, retry_after_s: float | None = None) -> float:
        """The venue answered 429: drain every bucket and admit nothing for a while.

        The pause is the venue's ``retry_after_s`` when given, else ``default_backoff_s`` doubled
        for each further 429 within ``max_backoff_s`` of the previous one (capped at
        ``max_backoff_s``). Returns the pause applied, in seconds.
        """
        now = self._now()
        self._rate_limited += 1
        if now - self._last_429 <= self.max_backoff_s:
            self._consecutive_429 += 1
        else:
            self._consecutive_429 = 1
        self._last_429 = now
        if retry_after_s is not None and retry_after_s > 0:
            pause = float(retry_after_s)
        else:
            pause = min(self.max_backoff_s, self.default_backoff_s * 2 ** (self._consecutive_429 - 1))
        until = now + pause
        if until > self._paused_until:
            self._paused_until = until
        for buckets in self._scopes.values():
            for bucket in buckets:
                bucket.tokens = 0.0
                bucket.updated = self._paused_until
        self._epoch += 1
        log.warning("%s: rate limited by the venue (%d in a row); pausing %.3f s", self.name or "rate limiter",
                    self._consecutive_429, pause)
        return pause

    @property
    def paused(self) -> bool:
        return self._now() < self._paused_until

    def statistics(self) -> RateLimiterStatistics:
        now = self._now()
        tokens: dict[str, float] = {}
        for scope, buckets in self._scopes.items():
            for bucket in buckets:
                bucket.refill(now)
                tokens[f"{scope}/{bucket.spec.interval_s:g}s"] = bucket.tokens
        return RateLimiterStatistics(
            admitted=self._admitted,
            waited=self._waited,
            total_wait_s=self._total_wait,
            denied=self._denied,
            rate_limited=self._rate_limited,
            paused_until=self._paused_until,
            tokens=tokens,
        )

    def __repr__(self) -> str:
        specs = ", ".join(f"{s.scope} {s.limit}/{s.interval_s:g}s" for s in self.specs())
        return f"<RateLimiter {self.name or ''} [{specs}]>".replace("  ", " ")
