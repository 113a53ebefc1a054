"""Token buckets: cheap flood control with an injected clock (testable without sleeping)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` events per second on average, bursts of ``burst`` (injected clock)."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self, amount: float = 1.0) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= amount:
            self._tokens -= amount
            return True
        return False

    def wait_time(self, amount: float = 1.0) -> float:
        """Seconds until ``amount`` could be taken."""
        missing = amount - self._tokens
        return 0.0 if missing <= 0 or self.rate <= 0 else missing / self.rate
