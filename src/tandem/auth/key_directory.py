"""Where the verifier gets public keys: the Store plus the API key's JWKS URL.

``keys_for(api_key)`` returns the API key's stored public JWKs followed by the
keys of its ``jwks_url`` (if set). URL key sets are cached for ``jwks_ttl``
seconds; ``refresh=True`` (the verifier asks for it when no key matches the
token) refetches, but at most once per ``refetch_interval`` seconds per URL.
Concurrent callers share one fetch. When a fetch fails the last good copy is
used if there is one, and a failed fetch is not retried before
``refetch_interval`` either, so a dead URL cannot slow every connection down.
If the URL has never been fetched successfully, the stored keys alone are
returned, or, when there are none, AuthError("jwks_unavailable").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tandem.auth.errors import AuthError
from tandem.auth.jwks_fetch import JwksFetchError, fetch_jwks
from tandem.storage.records import ApiKeyRecord

log = logging.getLogger("tandem.auth")


class KeySource(Protocol):
    async def keys_for(self, api_key: str, *, refresh: bool = False) -> list[dict[str, Any]]: ...


class KeyStore(Protocol):
    """The part of the Store a ``KeyDirectory`` reads."""

    async def get_api_key(self, key: str) -> ApiKeyRecord | None: ...

    async def list_public_keys(self, api_key: str) -> list[dict[str, Any]]: ...


class StaticKeySource:
    """An in-memory key source (tests, benchmarks, embedding): api_key -> JWKs."""

    def __init__(self, keys: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.keys: dict[str, list[dict[str, Any]]] = dict(keys or {})
        self.calls: list[tuple[str, bool]] = []

    async def keys_for(self, api_key: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        self.calls.append((api_key, refresh))
        if api_key not in self.keys:
            raise AuthError("jwks_unavailable", "unknown API key")
        return list(self.keys[api_key])


@dataclass(slots=True)
class _UrlEntry:
    keys: list[dict[str, Any]] | None = None
    fetched_at: float = -1e18  # last successful fetch
    attempted_at: float = -1e18  # last attempt, successful or not
    error: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyDirectory:
    """A key source over the Store (stored keys + cached JWKS URL keys)."""

    def __init__(
        self,
        store: KeyStore,
        *,
        jwks_ttl: float = 300,
        http_timeout: float = 5,
        max_jwks_bytes: int = 256 * 1024,
        refetch_interval: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.jwks_ttl = jwks_ttl
        self.http_timeout = http_timeout
        self.max_jwks_bytes = max_jwks_bytes
        self.refetch_interval = refetch_interval
        self._clock = clock
        self._urls: dict[str, _UrlEntry] = {}
        self.fetch_count = 0  # fetch attempts, successful or not (observability, tests)

    async def keys_for(self, api_key: str, *, refresh: bool = False) -> list[dict[str, Any]]:
        record = await self.store.get_api_key(api_key)
        if record is None:
            raise AuthError("jwks_unavailable", "unknown API key")
        stored = list(await self.store.list_public_keys(api_key))
        if not record.jwks_url:
            return stored
        try:
            fetched = await self._url_keys(record.jwks_url, refresh=refresh)
        except AuthError:
            if stored:
                return stored
            raise
        return [*stored, *fetched]

    async def _url_keys(self, url: str, *, refresh: bool) -> list[dict[str, Any]]:
        entry = self._urls.setdefault(url, _UrlEntry())
        if self._needs_fetch(entry, refresh):
            async with entry.lock:
                if self._needs_fetch(entry, refresh):  # unless a concurrent caller just did
                    await self._fetch(entry, url)
        if entry.keys is None:
            raise AuthError("jwks_unavailable", entry.error or f"JWK set at {url} not fetched")
        return list(entry.keys)

    def _needs_fetch(self, entry: _UrlEntry, refresh: bool) -> bool:
        now = self._clock()
        if now - entry.attempted_at < self.refetch_interval:
            return False  # rate limit for refreshes and after failures
        if entry.keys is None or refresh:
            return True
        return now - entry.fetched_at >= self.jwks_ttl

    async def _fetch(self, entry: _UrlEntry, url: str) -> None:
        entry.attempted_at = self._clock()
        self.fetch_count += 1
        try:
            result = await fetch_jwks(url, timeout=self.http_timeout, max_bytes=self.max_jwks_bytes)
        except JwksFetchError as exc:
            entry.error = str(exc)
            log.warning("JWK set fetch failed: %s", exc)
            return
        for problem in result.problems:
            log.warning("JWK set %s: %s", url, problem)
        entry.keys = result.keys
        entry.fetched_at = entry.attempted_at
        entry.error = None
