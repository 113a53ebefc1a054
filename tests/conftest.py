"""Shared fixtures: a real server on a loopback port (real SQLite file) and real SDK clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tandem.client import DocumentClient
from tandem.event_loop import loop_factory
from tests.support.server import RunningServer, Tenant, serve_in_loop


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], Any]]:
    """Async tests, and the servers they start in their loop, run on the loop
    ``tandem serve`` runs on (``tandem.event_loop``: uvloop when installed);
    ``TANDEM_TEST_LOOP=asyncio`` runs them on asyncio's own."""
    choice = os.environ.get("TANDEM_TEST_LOOP", "auto")
    factory = loop_factory(choice)
    return {"uvloop": factory} if factory is not None else {"asyncio": asyncio.new_event_loop}


# PBKDF2 iterations for test sessions: the server's minimum, so tests stay fast.
ITERATIONS = 10_000
# A distinctive encryption key: test_no_plaintext asserts it never reaches storage.
KEY = "tk-5e1f0c-never-stored-9b7d"
KEY_HINT = "hint-v1"


def static_provider(key: str = KEY, hint: str = KEY_HINT) -> Callable[[dict], dict]:
    """An encryption provider with one key (same key for every hint)."""

    def provide(arg: dict[str, Any]) -> dict[str, str]:
        return {"key": key, "keyHint": hint}

    return provide


def new_client(
    server: RunningServer,
    user: str = "alice",
    doc_id: str = "doc",
    *,
    tenant: Tenant | None = None,
    role: str | None = None,
    document_claim: str | None = None,
    ttl: float = 600,
    encryption_provider: Callable[[dict], Any] | None = None,
    **kw: Any,
) -> DocumentClient:
    """A DocumentClient for ``user`` on ``doc_id`` with fast PBKDF2 and quick reconnects."""
    tenant = tenant or server.tenant

    def tokens(arg: dict[str, Any]) -> dict[str, str]:
        return {"token": tenant.token(user, role=role, document=document_claim, ttl=ttl)}

    kw.setdefault("iterations", ITERATIONS)
    kw.setdefault("max_backoff", 1.0)
    return DocumentClient(
        server.url,
        api_key=tenant.api_key,
        document_id=doc_id,
        token_provider=tokens,
        encryption_provider=encryption_provider or static_provider(),
        **kw,
    )


async def close_all(clients) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[RunningServer]:
    """A server with default settings on a fresh data directory."""
    async with serve_in_loop(tmp_path / "data") as srv:
        yield srv


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., DocumentClient]]:
    """``make_client(server, user, doc_id, **kw)``; every client made is closed at teardown.

    Request it after the server fixture so the clients close before the server stops.
    """
    made: list[DocumentClient] = []

    def make(
        server: RunningServer, user: str = "alice", doc_id: str = "doc", **kw: Any
    ) -> DocumentClient:
        client = new_client(server, user, doc_id, **kw)
        made.append(client)
        return client

    yield make
    with contextlib.suppress(Exception):
        await close_all(made)
