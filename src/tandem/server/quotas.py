"""Storage quotas and fairness between documents.

- ``ByteRate``: bytes per minute (a token bucket in bytes, bursts of a quarter
  minute's worth), per document and per API key.
- ``StoredBytes``: what an API key holds in storage, read now and then and counted
  up by this node's appends in between.
- ``check_write``: may this update be stored? (the rate quotas, the stored-size
  limits, and the bound on the log since the latest snapshot); the error says when
  to retry.
- ``ByteGate``: the bytes of one document's appends in flight at once are bounded, so
  a busy document cannot fill the database's write queue ahead of the others.

Pure logic with injected clocks, except the small awaits of ``ByteGate`` and the
store read of ``StoredBytes.refresh``.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tandem.protocol.errors import ProtocolError
from tandem.protocol.token_bucket import TokenBucket


class ByteRate:
    """``per_minute`` bytes per minute, bursts of a quarter of that (at least ``floor``)."""

    def __init__(
        self, per_minute: int, *, floor: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self._bucket = TokenBucket(per_minute / 60.0, max(per_minute / 4, floor), clock)

    def take(self, nbytes: int) -> float:
        """Take ``nbytes``; 0.0 if allowed, else the seconds to wait before retrying."""
        amount = min(float(nbytes), self._bucket.burst)
        if self._bucket.take(amount):
            return 0.0
        return max(0.1, self._bucket.wait_time(amount))


@dataclass
class StoredBytes:
    """Stored bytes per API key: read from storage at most every ``ttl`` seconds,
    counted up by appends in between (other nodes' appends show at the next read)."""

    ttl: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _bytes: dict[str, int] = field(default_factory=dict)
    _read_at: dict[str, float] = field(default_factory=dict)

    def known(self, api_key: str) -> int | None:
        if self.clock() - self._read_at.get(api_key, -1e18) > self.ttl:
            return None
        return self._bytes.get(api_key)

    def set(self, api_key: str, nbytes: int) -> None:
        self._bytes[api_key] = nbytes
        self._read_at[api_key] = self.clock()

    def add(self, api_key: str, nbytes: int) -> None:
        if api_key in self._bytes:
            self._bytes[api_key] += nbytes


@dataclass(frozen=True, slots=True)
class WriteLimits:
    max_document_bytes: int = 0  # 0: unlimited
    max_api_key_bytes: int = 0
    max_log_updates: int = 0


def check_write(
    nbytes: int,
    *,
    log_length: int,
    document_bytes: int,
    api_key_bytes: int | None,
    limits: WriteLimits,
    document_rate: ByteRate | None,
    api_key_rate: ByteRate | None,
) -> ProtocolError | None:
    """Whether an update of ``nbytes`` may be stored now; the error if not.

    Size limits are checked before the rates, so a refused write takes no quota."""
    if limits.max_log_updates and log_length >= limits.max_log_updates:
        return ProtocolError(
            "storage_quota_exceeded",
            f"the document has {log_length} updates since its last snapshot (the limit); "
            "writes resume when an editor uploads a snapshot",
            retry_after=10.0,
        )
    if limits.max_document_bytes and document_bytes + nbytes > limits.max_document_bytes:
        return ProtocolError(
            "storage_quota_exceeded",
            f"the document would hold more than {limits.max_document_bytes} bytes",
            retry_after=60.0,
        )
    if (
        limits.max_api_key_bytes
        and api_key_bytes is not None
        and api_key_bytes + nbytes > limits.max_api_key_bytes
    ):
        return ProtocolError(
            "storage_quota_exceeded",
            f"the API key's documents would hold more than {limits.max_api_key_bytes} bytes",
            retry_after=60.0,
        )
    for rate, what in ((document_rate, "document"), (api_key_rate, "API key")):
        if rate is not None:
            wait = rate.take(nbytes)
            if wait:
                return ProtocolError(
                    "quota_exceeded",
                    f"more than {rate.per_minute} bytes per minute for this {what}",
                    retry_after=wait,
                )
    return None


class ByteGate:
    """At most ``capacity`` bytes in flight; waiters are served first come, first served.
    A single request larger than the capacity passes alone."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def _fits(self, nbytes: int) -> bool:
        return self.in_flight == 0 or self.in_flight + nbytes <= self.capacity

    def try_acquire(self, nbytes: int) -> bool:
        """Take ``nbytes`` now if they fit and nobody waits (no loop turn); else False."""
        if not self._waiters and self._fits(nbytes):
            self.in_flight += nbytes
            return True
        return False

    async def acquire(self, nbytes: int) -> None:
        if self.try_acquire(nbytes):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (nbytes, future)
        self._waiters.append(entry)
        try:
            await future
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif future.done() and not future.cancelled():
                self.release(nbytes)  # granted while being cancelled: give it back
            raise

    def release(self, nbytes: int) -> None:
        self.in_flight -= nbytes
        while self._waiters and self._fits(self._waiters[0][0]):
            size, future = self._waiters.popleft()
            if future.done():
                continue
            self.in_flight += size
            future.set_result(None)
