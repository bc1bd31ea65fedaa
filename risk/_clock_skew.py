"""Server clock offset estimation and the recvWindow / nonce-window guard.

Venues that sign a timestamp (``timestamp`` + ``recvWindow``, a ``Tonce``, a ms ``Nonce``) reject a
command that reaches them too late, or stamped ahead of their own clock. A gateway keeps one
:class:`ServerClock` per venue and feeds it samples: the local time a request left, the server's
time from the answer (a time endpoint, or a ``Server-Time`` / ``Date`` header) and the local time
the answer arrived. Each sample gives::

    offset = server_time - (local_send + rtt / 2)       rtt = local_recv - local_send

with an uncertainty of ``rtt / 2`` (plus half the server field's resolution: 1000 ms for an HTTP
``Date`` header). The estimate keeps the better half of the recent samples by uncertainty (a
sample that took long is discarded) and takes the median of their offsets (a stray server value
is discarded); their median absolute deviation adds to the uncertainty. Signers take their
timestamp from :meth:`ServerClock.server_now_ms`, and
:meth:`ServerClock.check_window` drops, before sending, a command that would arrive outside the
window, with ``DenyReason.STALE_TIMESTAMP``.

Local time is monotonic (``time.monotonic_ns`` anchored to the wall clock once), so a step of the
local wall clock does not move the estimate. Tests pass ``now_ns`` (e.g. from trio's clock).
"""

from __future__ import annotations

import email.utils
import math
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal

import attrs

from engine import Denial, DenyReason

__all__ = ["ClockSample", "ServerClock", "ClockEstimate"]

_NS_PER_MS = 1_000_000


@attrs.frozen(slots=True)
class ClockSample:
    """One observation of the server's clock."""

    offset_ms: float
    "Server time minus local time at the midpoint of the round trip."
    rtt_ms: float
    "Round-trip time of the request that carried the server time."
    uncertainty_ms: float
    "How far the true offset may be from ``offset_ms``: ``rtt/2 + resolution/2``."
    local_recv_ns: int
    "Local time the answer arrived (the estimator's clock)."


@attrs.frozen(slots=True)
class ClockEstimate:
    """The estimator's current view (see :meth:`ServerClock.estimate`)."""

    offset_ms: float
    "Add to local time to get server time."
    uncertainty_ms: float
    "Bound on the error of ``offset_ms`` from the samples used."
    one_way_ms: float
    "Estimated one-way delay to the venue (median RTT/2 of the samples used)."
    samples: int
    "Samples in the window."
    used: int
    "Samples the estimate was taken from (after outlier rejection)."


class ServerClock:
    """Estimates a venue's clock offset from timestamped round trips and guards signing windows."""

    def __init__(
        self,
        *,
        now_ns: Callable[[], int] | None = None,
        max_samples: int = 16,
        max_sample_age_s: float = 600.0,
        max_rtt_ms: float = 5000.0,
        safety_margin_ms: float = 250.0,
        name: str = "",
    ) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        if max_sample_age_s <= 0 or max_rtt_ms <= 0 or safety_margin_ms < 0:
            raise ValueError("max_sample_age_s and max_rtt_ms must be positive, safety_margin_ms >= 0")
        if now_ns is None:
            anchor = time.time_ns() - time.monotonic_ns()
            self._now_ns: Callable[[], int] = lambda: time.monotonic_ns() + anchor
        else:
            self._now_ns = now_ns
        self.name = name
        self.max_sample_age_ns = int(max_sample_age_s * 1e9)
        self.max_rtt_ms = max_rtt_ms
        self.safety_margin_ms = safety_margin_ms
        "Added to the estimate's uncertainty by :meth:`check_window`."
        self._samples: deque[ClockSample] = deque(maxlen=max_samples)
        self._rejected = 0
        self._disagreeing = 0
        self._estimate = ClockEstimate(0.0, math.inf, 0.0, 0, 0)

    # -- local time --------------------------------------------------------------------------
    def local_ns(self) -> int:
        """The estimator's local clock, in ns since the epoch. Timestamp samples with this."""
        return self._now_ns()

    # -- samples -----------------------------------------------------------------------------
    def observe(
        self,
        local_send_ns: int,
        server_ms: int | float | Decimal | str,
        local_recv_ns: int,
        *,
        resolution_ms: float = 1.0,
    ) -> ClockSample | None:
        """Add one sample; returns it, or None if it was rejected (negative or excessive RTT).

        ``server_ms`` is the server's time in ms since the epoch as the answer stated it (a
        ``serverTime`` field, a ``Server-Time`` header); ``resolution_ms`` is that field's
        granularity (1 for ms, 1000 for whole seconds).
        """
        server = float(server_ms)
        rtt_ms = (local_recv_ns - local_send_ns) / _NS_PER_MS
        if rtt_ms < 0 or rtt_ms > self.max_rtt_ms or not math.isfinite(server):
            self._rejected += 1
            return None
        midpoint_ms = (local_send_ns + local_recv_ns) / 2 / _NS_PER_MS
        # a coarse field (an HTTP Date) truncates: the true time is on average half a step later
        half_step = resolution_ms / 2 if resolution_ms > 1 else 0.0
        sample = ClockSample(
            offset_ms=server + half_step - midpoint_ms,
            rtt_ms=rtt_ms,
            uncertainty_ms=rtt_ms / 2 + half_step,
            local_recv_ns=local_recv_ns,
        )
        self._add(sample)
        return sample

    def observe_date_header(self, local_send_ns: int, date: str, local_recv_ns: int) -> ClockSample | None:
        """Add a sample from an HTTP ``Date`` header (whole seconds). None if unparseable."""
        try:
            parsed = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            self._rejected += 1
            return None
        if parsed.tzinfo is None:
            self._rejected += 1
            return None
        return self.observe(local_send_ns, parsed.timestamp() * 1000, local_recv_ns, resolution_ms=1000)

    async def sync(
        self, fetch_server_ms: Callable[[], Awaitable[int | float | Decimal | str]], *, rounds: int = 5
    ) -> ClockEstimate:
        """Take ``rounds`` samples from a time endpoint (``fetch_server_ms`` returns the server ms)."""
        for _ in range(rounds):
            sent = self._now_ns()
            server_ms = await fetch_server_ms()
            self.observe(sent, server_ms, self._now_ns())
        return self._estimate

    def forget(self) -> None:
        """Drop every sample: the venue has just refused a timestamp, so what they said is suspect.

        The next :meth:`observe` calls build the estimate from new samples only (without this, old
        samples keep the median until three new ones in a row disagree with it).
        """
        self._samples.clear()
        self._disagreeing = 0
        self._recompute()

    def _add(self, sample: ClockSample) -> None:
        samples = self._samples
        est = self._estimate
        if est.used:
            # a local or venue clock step: three samples in a row far from the estimate restart it
            tolerance = max(4 * (est.uncertainty_ms + sample.uncertainty_ms), 500.0)
            if abs(sample.offset_ms - est.offset_ms) > tolerance:
                self._disagreeing += 1
                if self._disagreeing >= 3:
                    recent = list(samples)[-(self._disagreeing - 1):]
                    samples.clear()
                    samples.extend(recent)
                    self._disagreeing = 0
            else:
                self._disagreeing = 0
        samples.append(sample)
        oldest = sample.local_recv_ns - self.max_sample_age_ns
        while samples and samples[0].local_recv_ns < oldest:
            samples.popleft()
        self._recompute()

    def _recompute(self) -> None:
        samples = list(self._samples)
        if not samples:
            self._estimate = ClockEstimate(0.0, math.inf, 0.0, 0, 0)
            return
        best = sorted(samples, key=lambda s: s.uncertainty_ms)[: max(1, (len(samples) + 1) // 2)]
        offset = statistics.median(s.offset_ms for s in best)
        # disagreement among the samples widens the doubt; the median absolute deviation keeps a
        # single stray value from doing so
        spread = statistics.median(abs(s.offset_ms - offset) for s in best)
        uncertainty = min(s.uncertainty_ms for s in best) + spread
        one_way = statistics.median(s.rtt_ms for s in best) / 2
        self._estimate = ClockEstimate(offset, uncertainty, one_way, len(samples), len(best))

    # -- the estimate ------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        """True once at least one sample was accepted."""
        return self._estimate.used > 0

    @property
    def offset_ms(self) -> float:
        """Server time minus local time (0 until synced)."""
        return self._estimate.offset_ms

    @property
    def uncertainty_ms(self) -> float:
        """Error bound of :attr:`offset_ms` (infinite until synced)."""
        return self._estimate.uncertainty_ms

    def estimate(self) -> ClockEstimate:
        return self._estimate

    @property
    def rejected(self) -> int:
        """Samples rejected outright (negative or excessive RTT, unparseable header)."""
        return self._rejected

    def server_now_ms(self) -> int:
        """The venue's time now, in integer ms: what a signer puts in ``timestamp`` / nonce."""
        return int((self._now_ns() / _NS_PER_MS) + self._estimate.offset_ms)

    def check_window(
        self,
        timestamp_ms: int,
        recv_window_ms: float,
        expected_send_delay_ms: float | None = None,
        *,
        max_ahead_ms: float = 1000.0,
        require_sync: bool = True,
    ) -> Denial | None:
        """Would a command stamped ``timestamp_ms`` arrive inside the venue's window?

        The command is expected to reach the venue ``expected_send_delay_ms`` from now (default:
        the estimated one-way delay). It is admitted (None) if, even with the estimate off by its
        uncertainty plus the safety margin, it arrives no later than ``recv_window_ms`` after its
        timestamp and its timestamp is less than ``max_ahead_ms`` ahead of the server (the
        ``timestamp < serverTime + 1000`` rule; use the window for a symmetric ±nonce window).
        Otherwise a :class:`~engine.Denial` with ``STALE_TIMESTAMP`` says which side failed.
        """
        est = self._estimate
        if not est.used:
            if require_sync:
                return Denial(DenyReason.STALE_TIMESTAMP,
                              f"{self._label()}server clock not synchronised yet; not sending a signed command")
            margin = self.safety_margin_ms
        else:
            margin = est.uncertainty_ms + self.safety_margin_ms
        delay = est.one_way_ms if expected_send_delay_ms is None else expected_send_delay_ms
        arrival_ms = self._now_ns() / _NS_PER_MS + est.offset_ms + delay
        late_by = arrival_ms + margin - timestamp_ms - recv_window_ms
        if late_by > 0:
            return Denial(DenyReason.STALE_TIMESTAMP,
                          f"{self._label()}would arrive {arrival_ms - timestamp_ms:.0f} ms after its timestamp "
                          f"(window {recv_window_ms:g} ms, margin {margin:.0f} ms)")
        ahead = timestamp_ms - (arrival_ms - margin)
        if ahead >= max_ahead_ms:
            return Denial(DenyReason.STALE_TIMESTAMP,
                          f"{self._label()}timestamp would be {timestamp_ms - arrival_ms:.0f} ms ahead of the "
                          f"venue (allowed < {max_ahead_ms:g} ms, margin {margin:.0f} ms)")
        return None

    def _label(self) -> str:
        return f"{self.name}: " if self.name else ""

    def __repr__(self) -> str:
        est = self._estimate
        return (f"<ServerClock {self.name} offset={est.offset_ms:.1f}ms ±{est.uncertainty_ms:.1f} "
                f"samples={est.used}/{est.samples}>")
