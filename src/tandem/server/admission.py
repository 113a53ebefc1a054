"""Who may take a connection slot, and at what cost, before and after authentication.

- ``SourceLimiter``: failed authentications per source address are a token bucket
  (``auth_failures_per_second``, bursts of ``auth_failure_burst``); a source whose
  bucket is empty is refused (``rate_limited``) before its token is even decoded, so
  a flood of forged tokens costs a dict lookup each, not a signature check.
- ``RejectedTokens``: a token that failed its signature check is remembered for a
  minute (by digest), so replaying it costs a hash, not a verification.
- ``UserConnections``: connections per user (and API key) on this node, across
  documents (``max_user_connections``). Per-document limits live in the hub.

All bounded in memory (LRU), all with injected clocks.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from tandem.protocol.errors import ProtocolError
from tandem.protocol.token_bucket import TokenBucket


class SourceLimiter:
    def __init__(
        self,
        failures_per_second: float,
        burst: int,
        *,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = failures_per_second
        self.burst = burst
        self.max_sources = max_sources
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, source: str) -> TokenBucket:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self._clock)
            self._buckets[source] = bucket
            if len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
        return bucket

    def check(self, source: str) -> None:
        """Raise ``rate_limited`` when ``source`` has used up its failures."""
        if self.rate <= 0:
            return
        bucket = self._buckets.get(source)
        if bucket is None:
            return
        bucket.take(0.0)  # refill
        wait = bucket.wait_time(1.0)
        if wait > 0:
            raise ProtocolError(
                "rate_limited",
                "too many failed authentications from this address; retry later",
                retry_after=max(1.0, wait),
            )

    def failed(self, source: str) -> None:
        if self.rate > 0:
            self._bucket(source).take(1.0)


class RejectedTokens:
    """Digests of tokens whose signature failed, for ``ttl`` seconds (LRU-bounded)."""

    def __init__(
        self, *, size: int = 4096, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._seen: OrderedDict[bytes, tuple[float, Exception]] = OrderedDict()

    @staticmethod
    def _digest(api_key: str, token: str) -> bytes:
        return hashlib.blake2b(
            f"{api_key}\x00{token}".encode("utf-8", "replace"), digest_size=16
        ).digest()

    def get(self, api_key: str, token: str) -> Exception | None:
        key = self._digest(api_key, token)
        entry = self._seen.get(key)
        if entry is None:
            return None
        if self._clock() - entry[0] > self.ttl:
            del self._seen[key]
            return None
        return entry[1]

    def add(self, api_key: str, token: str, error: Exception) -> None:
        self._seen[self._digest(api_key, token)] = (self._clock(), error)
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        self._seen.clear()


class UserConnections:
    """Open connections per (API key, user) on this node."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: Counter[tuple[str, str]] = Counter()

    def acquire(self, api_key: str, user_id: str) -> None:
        key = (api_key, user_id)
        if self.limit and self._counts[key] >= self.limit:
            raise ProtocolError(
                "too_many_connections",
                f"this user already has {self._counts[key]} connections (the limit)",
                retry_after=5.0,
            )
        self._counts[key] += 1

    def release(self, api_key: str, user_id: str) -> None:
        key = (api_key, user_id)
        self._counts[key] -= 1
        if self._counts[key] <= 0:
            del self._counts[key]
